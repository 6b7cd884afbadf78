-- The sandbox's settings beyond the command line: the --config file (read once, here), the fault profile and
-- throttling (from --config FILE, --throttle, POST /_sandbox/config), and the files behind --data and --journal.
-- The C side checks the file's plain options with the same code as the command line's.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local reply = require "vpptoken_sandbox.reply"
local throttle = require "vpptoken_sandbox.throttle"
local profile = require "vpptoken_sandbox.faults_profile"
local rng = require "vpptoken_sandbox.faults_rng"
local persist = require "vpptoken_sandbox.persist"
local journal = require "vpptoken_sandbox.journal"

local config = {}

-- Members of a --config file that only the command line may give.
local NOT_IN_FILE = { config = true, help = true, version = true, lua_path = true }
-- Members of a --config file that are settings of POST /_sandbox/config, not command-line options (apply).
local SETTINGS = { apple_token_files = true, honor_prefer = true }

-- Reads a --config file: a JSON object. Returns the document (its "faults", "throttle", "apple_token_files" and
-- "honor_prefer" go to apply) and its
-- plain members, in name order, as a list { "option-name", value, ... } for the C side's option parser (value: a
-- string, or true for a flag; false and null members are left out). Raises with a message naming the file.
function config.read_file(path)
  local text, err = util.read_file(path)
  if not text then error("--config: " .. tostring(err), 0) end
  local t, derr = json.decode(text)
  if type(t) ~= "table" or not text:match("^%s*{") then
    error("--config " .. path .. ": not a JSON object" .. (derr and (" (" .. derr .. ")") or ""), 0)
  end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local options = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if NOT_IN_FILE[k] then error("--config " .. path .. ': "' .. k .. '" is not allowed here', 0) end
    local name = k:gsub("_", "-")
    if SETTINGS[k] then
      if type(v) ~= "boolean" then error("--config " .. path .. ': "' .. k .. '" must be true or false', 0) end
    elseif v == true or type(v) == "string" then
      options[#options + 1], options[#options + 2] = name, v
    elseif type(v) == "number" then
      options[#options + 1] = name
      options[#options + 1] = math.type(v) == "float" and string.format("%.17g", v) or tostring(v)
    elseif v ~= false and v ~= json.null and type(v) ~= "table" then
      error("--config " .. path .. ': "' .. k .. '" has a value of the wrong type', 0)
    end
  end
  return t, options
end

-- Called by configure(opts) after the first reset. opts: config? (the file's path) and config_document (what
-- read_file returned), throttle (flag), data?, journal?
function config.apply(state, opts)
  local document = opts.config_document or {}
  local faults_section, throttle_section = document.faults, document.throttle
  local function reject(message) util.refuse("--config " .. tostring(opts.config) .. ": " .. message) end
  local d = state.defaults
  d.faults = profile.validate(faults_section, reject)
  d.throttle = throttle_section ~= nil and throttle.settings(throttle_section, nil, reject)
    or util.copy(throttle.DEFAULTS)
  if opts.throttle then d.throttle.enabled = true end
  for k in pairs(SETTINGS) do
    if document[k] ~= nil then d[k] = document[k] end
  end
  state.config = util.copy(d)
  if opts.data then
    local removed
    state.store, removed = persist.load(opts.data)
    if removed > 0 then
      io.stderr:write("vpptoken-sandbox: removed ", removed, removed == 1 and " copy" or " copies", " of --data ",
                      opts.data, " left by an interrupted save\n")
    end
    if state.store:count() == 0 then state.seed_store() end -- --seed-tokens fills an empty file only
    state.data_path = opts.data
    local saved, err = persist.save(opts.data, state.store)
    if not saved then util.refuse("--data " .. tostring(err)) end
  end
  if opts.journal then state.journal = journal.open(opts.journal) end
  config.on_reset(state)
end

-- After a reset (and at start): fresh generator and throttle windows; the emptied store is saved.
function config.on_reset(state)
  state.fault_rng = rng.new(state.config.faults and state.config.faults.seed)
  state.throttle = throttle.new()
  if state.data_path then
    local ok, err = persist.save(state.data_path, state.store)
    if not ok then io.stderr:write("vpptoken-sandbox: cannot save the store: ", tostring(err), "\n") end
  end
end

-- POST /_sandbox/config members handled here; returns true when key was one of them. new is the
-- config being built; reject raises a 400.
function config.set(new, key, value, reject)
  if key == "faults" then
    new.faults = profile.validate(value, reject)
    return true
  elseif key == "throttle" then
    new.throttle = value == json.null and util.copy(throttle.DEFAULTS) or throttle.settings(value, new.throttle, reject)
    return true
  end
  return false
end

-- After POST /_sandbox/config: a new profile restarts the generator from its seed. Throttle
-- windows carry on under new limits (a reset clears them).
function config.changed(state, old)
  if state.config.faults ~= old.faults then
    state.fault_rng = rng.new(state.config.faults and state.config.faults.seed)
  end
end

-- After a Graph request: a write is saved before it is answered; a failed save turns the answer
-- into a 507, so no write is acknowledged that is not on disk.
function config.after_request(ctx, status, headers, body, delivery)
  local state = ctx.state
  if state.data_path and profile.WRITES[ctx.req.method] then
    local ok, err = persist.save(state.data_path, state.store)
    if not ok then
      io.stderr:write("vpptoken-sandbox: cannot save the store: ", tostring(err), "\n")
      status, headers, body = reply.error(ctx, 507, "InsufficientStorage", "The sandbox could not save its store.")
    end
  end
  return status, headers, body, delivery
end

-- Journal line for an answered request (no-op without --journal).
function config.record(state, req, ctx, status, delivery, started)
  if state.journal then state.journal:write(req, ctx, status, delivery, started) end
end

return config
