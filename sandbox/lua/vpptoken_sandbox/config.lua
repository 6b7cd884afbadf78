-- The sandbox's settings beyond the command line: the fault profile and throttling (from --config
-- FILE, --throttle, POST /_sandbox/config), and the files behind --data and --journal. The plain
-- options in a --config file are read by the C side (they become command-line arguments).
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local reply = require "vpptoken_sandbox.reply"
local throttle = require "vpptoken_sandbox.throttle"
local profile = require "vpptoken_sandbox.faults_profile"
local rng = require "vpptoken_sandbox.faults_rng"
local persist = require "vpptoken_sandbox.persist"
local journal = require "vpptoken_sandbox.journal"

local config = {}

-- The "faults" and "throttle" members of a --config file.
function config.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then error("--config: " .. tostring(err), 0) end
  local text = f:read("a")
  f:close()
  local t, derr = json.decode(text)
  if type(t) ~= "table" then error("--config " .. path .. ": not a JSON object (" .. tostring(derr) .. ")", 0) end
  return t.faults, t.throttle
end

-- Called by configure(opts) after the first reset. opts: config?, throttle (flag), data?, journal?
function config.apply(state, opts)
  local faults_section, throttle_section
  if opts.config then faults_section, throttle_section = config.read_file(opts.config) end
  local function reject(message) error("--config " .. tostring(opts.config) .. ": " .. message, 0) end
  local d = state.defaults
  d.faults = profile.validate(faults_section, reject)
  d.throttle = throttle_section ~= nil and throttle.settings(throttle_section, nil, reject)
    or util.copy(throttle.DEFAULTS)
  if opts.throttle then d.throttle.enabled = true end
  state.config = util.copy(d)
  if opts.data then
    state.store = persist.load(opts.data)
    state.data_path = opts.data
    assert(persist.save(opts.data, state.store))
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
