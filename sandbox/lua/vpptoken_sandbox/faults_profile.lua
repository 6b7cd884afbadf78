-- Checking fault settings: the profile (config file "faults", POST /_sandbox/config {"faults":...})
-- and the extra fields of a queued rule (POST /_sandbox/faults). Every checker takes reject(message),
-- which raises a 400, and returns normalised values that are accepted again as input.
local json = require "vpptoken_sandbox.json"

local profile = {}

profile.KINDS = { status = true, reset = true, reset_after = true, truncate = true, malformed = true,
                  content_type = true, drip = true, delay = true }
profile.READ_STATUSES = { 429, 500, 502, 503, 504 }
profile.WRITE_STATUSES = { 429, 500, 502, 503, 504, 507 }
profile.WRITES = { POST = true, PUT = true, PATCH = true, DELETE = true }

local function number_in(v, name, min, max, reject)
  if type(v) ~= "number" or v ~= v or v < min or v > max then
    reject(string.format("'%s' must be a number from %g to %g.", name, min, max))
  end
  return v
end

local function integer_in(v, name, min, max, reject)
  local i = type(v) == "number" and math.tointeger(v)
  if not i or i < min or i > max then
    reject(string.format("'%s' must be an integer from %d to %d.", name, min, max))
  end
  return i
end

-- [min, max] in milliseconds.
local function range(v, name, reject)
  if type(v) ~= "table" or rawlen(v) ~= 2 then reject("'" .. name .. "' must be [min, max] in milliseconds.") end
  local lo = number_in(v[1], name .. "[0]", 0, 600000, reject)
  local hi = number_in(v[2], name .. "[1]", lo, 600000, reject)
  return json.array({ lo, hi })
end

-- A [min,max] or {"GET":[min,max], "*":[min,max], ...}: always returned in the object form.
local function by_method(v, name, item, reject)
  local out = {}
  if type(v) == "table" and json.is_array(v) then
    out["*"] = item(v, name, reject)
    return out
  end
  if type(v) ~= "table" then reject("'" .. name .. "' must be an array or an object keyed by method.") end
  for k, x in pairs(v) do
    if type(k) ~= "string" or not k:match("^[%a*]+$") then reject("'" .. name .. "' has a bad method key.") end
    out[k == "*" and "*" or k:upper()] = item(x, name .. "." .. k, reject)
  end
  return out
end

local function status_list(v, name, reject)
  if type(v) ~= "table" or not json.is_array(v) then reject("'" .. name .. "' must be an array of statuses.") end
  local out = json.array()
  for i = 1, rawlen(v) do out[i] = integer_in(v[i], name .. "[" .. (i - 1) .. "]", 400, 599, reject) end
  return out
end

local PROFILE_KEYS = { rate = true, seed = true, statuses = true, kinds = true, latency_ms = true,
                       retry_after = true, intune = true, drip = true, delay_ms = true, truncate_bytes = true,
                       content_type = true }

-- The fault profile; nil (json null) turns it off.
function profile.validate(v, reject)
  if v == nil or v == json.null then return nil end
  if type(v) ~= "table" or json.is_array(v) then reject("'faults' must be an object.") end
  for k in pairs(v) do
    if not PROFILE_KEYS[k] then reject("Unknown faults field '" .. tostring(k) .. "'.") end
  end
  local p = { rate = v.rate == nil and 0 or number_in(v.rate, "faults.rate", 0, 1, reject) }
  if v.seed ~= nil then p.seed = integer_in(v.seed, "faults.seed", math.mininteger, math.maxinteger, reject) end
  if v.statuses ~= nil then p.statuses = by_method(v.statuses, "faults.statuses", status_list, reject) end
  if v.latency_ms ~= nil then p.latency_ms = by_method(v.latency_ms, "faults.latency_ms", range, reject) end
  if v.delay_ms ~= nil then p.delay_ms = range(v.delay_ms, "faults.delay_ms", reject) end
  if v.kinds ~= nil then
    if type(v.kinds) ~= "table" or json.is_array(v.kinds) then
      reject("'faults.kinds' must be an object of weights, e.g. {\"status\":3,\"reset\":1}.")
    end
    p.kinds = {}
    for k, w in pairs(v.kinds) do
      if not profile.KINDS[k] then reject("Unknown fault kind '" .. tostring(k) .. "'.") end
      p.kinds[k] = number_in(w, "faults.kinds." .. k, 0, 1e6, reject)
    end
  end
  if v.retry_after ~= nil then
    local ra = number_in(v.retry_after, "faults.retry_after", 0, 86400, reject)
    p.retry_after = math.tointeger(ra) or ra
  end
  if v.intune ~= nil then
    if type(v.intune) ~= "boolean" then reject("'faults.intune' must be a boolean.") end
    p.intune = v.intune
  end
  if v.drip ~= nil then
    if type(v.drip) ~= "table" then reject("'faults.drip' must be {\"chunk\":N,\"interval_ms\":MS}.") end
    p.drip = { chunk = integer_in(v.drip.chunk or 16, "faults.drip.chunk", 1, 1048576, reject),
               interval_ms = number_in(v.drip.interval_ms or 100, "faults.drip.interval_ms", 0, 60000, reject) }
  end
  if v.truncate_bytes ~= nil then
    p.truncate_bytes = integer_in(v.truncate_bytes, "faults.truncate_bytes", 0, 1 << 22, reject)
  end
  if v.content_type ~= nil then
    if type(v.content_type) ~= "string" or v.content_type:find("[\r\n]") then
      reject("'faults.content_type' must be a header value.")
    end
    p.content_type = v.content_type
  end
  return p
end

-- The statuses a failure of method picks from.
function profile.statuses(p, method)
  local s = p.statuses
  local list = s and (s[method] or s["*"])
  if list and rawlen(list) > 0 then return list end
  return profile.WRITES[method] and profile.WRITE_STATUSES or profile.READ_STATUSES
end

-- Fields a queued rule may carry besides count/status/retry_after/code/message/method/body.
profile.RULE_KEYS = { kind = true, delay_ms = true, bytes = true, chunk = true, interval_ms = true,
                      content_type = true, intune = true }

-- Fills rule.kind and the fields of the kinds other than "status" from obj.
function profile.rule_extras(obj, rule, reject)
  local kind = obj.kind == nil and "status" or obj.kind
  if type(kind) ~= "string" or not profile.KINDS[kind] then
    reject("'kind' must be one of status, reset, reset_after, truncate, malformed, content_type, drip, delay.")
  end
  rule.kind = kind
  if kind ~= "status" and obj.status ~= nil then
    rule.status = integer_in(obj.status, "status", 100, 599, reject)
  end
  if obj.delay_ms ~= nil then rule.delay_ms = number_in(obj.delay_ms, "delay_ms", 0, 600000, reject) end
  if obj.bytes ~= nil then rule.bytes = integer_in(obj.bytes, "bytes", 0, 1 << 22, reject) end
  if obj.chunk ~= nil then rule.chunk = integer_in(obj.chunk, "chunk", 1, 1048576, reject) end
  if obj.interval_ms ~= nil then rule.interval_ms = number_in(obj.interval_ms, "interval_ms", 0, 60000, reject) end
  if obj.content_type ~= nil then
    if type(obj.content_type) ~= "string" or obj.content_type:find("[\r\n]") then
      reject("'content_type' must be a header value.")
    end
    rule.content_type = obj.content_type
  end
  if obj.intune ~= nil then
    if type(obj.intune) ~= "boolean" then reject("'intune' must be a boolean.") end
    rule.intune = obj.intune
  end
end

return profile
