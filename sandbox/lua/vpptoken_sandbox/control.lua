-- Control endpoints for tests and demos (no auth, not in the request log); each answers what it did, in JSON:
--   GET  /health             -> 200 {"status":"ok"}
--   POST /_sandbox/reset     -> 200 {"reset": true}: empty store, faults (IMDS ones too) and log; config reset
--   POST /_sandbox/faults    -> 200 {"queued": the rule as given, "pending": rules queued}: queue a fault rule
--                               (see add_fault)
--   POST /_sandbox/config    -> 200 {"config": the config now}: change page_size, sync_seconds, sync_response,
--                               honor_prefer, apple_token_files, faults (the profile), throttle (config.lua)
--   GET  /_sandbox/config    -> 200 the current config
--   GET  /_sandbox/requests  -> 200 {"value":[{method, path, headers, status, body}]}
--   any  /_sandbox/redirect?to=URL[&status=307] -> that redirect (for clients' redirect tests)
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local errors = require "vpptoken_sandbox.errors"
local fault_profile = require "vpptoken_sandbox.faults_profile"
local settings = require "vpptoken_sandbox.config"

local control = {}

local CONTENT_TYPE = "application/json;charset=utf-8"

local function answer(status, value, extra)
  local h = { ["Cache-Control"] = "no-cache" }
  for k, v in pairs(extra or {}) do h[k] = v end
  if value == nil then return status, h, "" end
  h["Content-Type"] = CONTENT_TYPE
  return status, h, json.encode(value)
end

local function fail(status, message, extra)
  return answer(status, { error = { code = errors.code_for(status), message = message } }, extra)
end

local function body_object(req)
  local body = req.body or ""
  if body:match("^%s*$") then return {} end
  local obj, err = json.decode(body)
  if type(obj) ~= "table" or not body:match("^%s*{") then
    error(errors.new(400, "BadRequest", "The body must be a JSON object" .. (err and (": " .. err) or ".")), 0)
  end
  return obj
end

local function reject(message)
  error(errors.new(400, "BadRequest", message), 0)
end

local function integer_in(v, name, min, max)
  local i = type(v) == "number" and math.tointeger(v)
  if not i or i < min or i > max then
    reject(string.format("'%s' must be an integer from %d to %d.", name, min, max))
  end
  return i
end

local function optional_string(obj, name)
  local v = obj[name]
  if v == nil then return nil end
  if type(v) ~= "string" then reject("'" .. name .. "' must be a string.") end
  return v
end

-- {"count":N,"status":S,"retry_after":"...","code":"...","message":"...","method":"GET","body":"..."}
-- "tenant": only for Graph calls whose access token's tid is that tenant (sandbox --apps with several tenants)
local FAULT_KEYS = { count = true, status = true, retry_after = true, code = true, message = true,
                     method = true, body = true, tenant = true }

local function add_fault(state, req)
  local obj = body_object(req)
  for k in pairs(obj) do
    if not FAULT_KEYS[k] and not fault_profile.RULE_KEYS[k] then
      reject("Unknown fault field '" .. tostring(k) .. "'.")
    end
  end
  local rule = {
    remaining = integer_in(obj.count == nil and 1 or obj.count, "count", 1, 1000000),
    -- kind (faults_profile.lua): status needs a status; the other kinds may have one
    status = (obj.kind == nil or obj.kind == "status") and integer_in(obj.status, "status", 400, 599) or nil,
    code = optional_string(obj, "code"),
    message = optional_string(obj, "message"),
    method = optional_string(obj, "method"),
    body = optional_string(obj, "body"),
    tenant = optional_string(obj, "tenant"),
  }
  if rule.tenant then rule.tenant = rule.tenant:lower() end
  local ra = obj.retry_after
  if type(ra) == "number" then
    ra = math.tointeger(ra) and tostring(math.tointeger(ra)) or tostring(ra)
  end
  if ra ~= nil and (type(ra) ~= "string" or ra:find("[\r\n]")) then
    reject("'retry_after' must be a string (the Retry-After header value) or a number.")
  end
  rule.retry_after = ra
  fault_profile.rule_extras(obj, rule, reject)
  if rule.method then rule.method = rule.method:upper() end
  local faults = state.faults
  faults[#faults + 1] = rule
  return answer(200, { queued = obj, pending = #faults })
end

local CONFIG_KEYS = { page_size = true, sync_seconds = true, sync_response = true, honor_prefer = true,
                      apple_token_files = true }

local function set_config(state, req)
  local obj = body_object(req)
  local new = util.copy(state.config)
  for k, v in pairs(obj) do
    if not CONFIG_KEYS[k] then -- faults, throttle (config.lua)
      if not settings.set(new, k, v, reject) then reject("Unknown config field '" .. tostring(k) .. "'.") end
    elseif k == "page_size" then
      new.page_size = integer_in(v, "page_size", 1, 1000000)
    elseif k == "sync_seconds" then
      if type(v) ~= "number" or v ~= v or v < 0 or v > 86400 * 365 then
        reject("'sync_seconds' must be a number of seconds >= 0.")
      end
      new.sync_seconds = v
    elseif k == "honor_prefer" or k == "apple_token_files" then
      if type(v) ~= "boolean" then reject("'" .. k .. "' must be a boolean.") end
      new[k] = v
    elseif v ~= "bare" and v ~= "wrapped" then
      reject("'sync_response' must be \"bare\" or \"wrapped\".")
    else
      new.sync_response = v
    end
  end
  local old = state.config
  state.config = new
  settings.changed(state, old)
  return answer(200, { config = new })
end

local REDIRECTS = { ["301"] = true, ["302"] = true, ["303"] = true, ["307"] = true, ["308"] = true }

local function redirect(_, req)
  local args = {}
  for k, v in (req.query or ""):gmatch("([^&=]+)=([^&]*)") do args[k] = util.url_decode(v) end
  local status = args.status or "307"
  if not args.to or not args.to:match("^https?://") or args.to:find("%c") then
    return fail(400, "'to' must be an absolute http(s) URL without control characters.")
  end
  if not REDIRECTS[status] then return fail(400, "'status' must be 301, 302, 303, 307 or 308.") end
  return answer(tonumber(status), nil, { Location = args.to })
end

local ANY = setmetatable({}, { __index = function() return redirect end })

local ROUTES = {
  ["/_sandbox/redirect"] = ANY,
  ["/health"] = { GET = function() return answer(200, { status = "ok" }) end },
  ["/_sandbox/reset"] = { POST = function(state) state.reset() return answer(200, { reset = true }) end },
  ["/_sandbox/faults"] = { POST = add_fault },
  ["/_sandbox/config"] = { POST = set_config, GET = function(state) return answer(200, state.config) end },
  ["/_sandbox/requests"] = { GET = function(state) return answer(200, state.log:export()) end },
}

function control.is_control(path)
  return path == "/health" or path == "/_sandbox" or path:sub(1, 10) == "/_sandbox/"
end

function control.handle(state, req)
  local path = req.path:gsub("/+$", "")
  local methods = ROUTES[path]
  if not methods then
    return fail(404, "No control endpoint at '" .. req.path .. "'.")
  end
  local fn = methods[req.method]
  if not fn then
    local allow = {}
    for m in pairs(methods) do allow[#allow + 1] = m end
    table.sort(allow)
    return fail(405, "Method " .. req.method .. " is not allowed here.", { Allow = table.concat(allow, ", ") })
  end
  local ok, status, headers, body = pcall(fn, state, req)
  if ok then return status, headers, body end
  if errors.is(status) then return fail(status.status, status.message) end
  error(status, 0)
end

return control
