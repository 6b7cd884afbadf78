-- The sandbox's own checks of request bodies, written from the wire contract (it shares no code
-- with the client library). Every failure raises a 400 BadRequest naming the property.
local json = require "vpptoken_sandbox.json"
local schema = require "vpptoken_sandbox.schema"
local errors = require "vpptoken_sandbox.errors"

local validate = {}

local bad = errors.bad_request

local function is_leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- YYYY-MM-DDTHH:MM:SS(.1-7 digits)?(Z|+hh:mm|-hh:mm)
function validate.is_datetime(s)
  if type(s) ~= "string" then return false end
  local y, mo, d, h, mi, se, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return false end
  y, mo, d, h, mi, se = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(se)
  if mo < 1 or mo > 12 or d < 1 or h > 23 or mi > 59 or se > 59 then return false end
  local dim = (mo == 2 and is_leap(y)) and 29 or DAYS[mo]
  if d > dim then return false end
  local frac, zone = rest:match("^%.(%d+)(.*)$")
  if frac then
    if #frac > 7 then return false end
  else
    zone = rest
  end
  if zone == "Z" then return true end
  local zh, zm = zone:match("^[+-](%d%d):(%d%d)$")
  return zh ~= nil and tonumber(zh) <= 14 and tonumber(zm) <= 59
end

local function type_name(v)
  if v == json.null then return "null" end
  local t = type(v)
  if t == "table" then return json.is_array(v) and "an array" or "an object" end
  if t == "number" then return "a number" end
  if t == "boolean" then return "a boolean" end
  if t == "string" then return "a string" end
  return t
end

local function expect(cond, name, what, v)
  if not cond then
    bad(string.format("Invalid value for property '%s': expected %s, got %s.", name, what, type_name(v)))
  end
end

local function check_list(v, name, item_ok, what)
  expect(type(v) == "table" and (json.is_array(v) or next(v) == nil), name, what, v)
  local out = json.array()
  for i = 1, rawlen(v) do
    expect(item_ok(v[i]), name .. "[" .. (i - 1) .. "]", (what:gsub("^an array of ", "")), v[i])
    out[i] = v[i]
  end
  return out
end

local function check_action(a)
  if type(a) ~= "table" or json.is_array(a) then return false end
  for k, x in pairs(a) do
    if k == "actionName" or k == "actionState" then
      if type(x) ~= "string" and x ~= json.null then return false end
    elseif k == "startDateTime" or k == "lastUpdatedDateTime" then
      if x ~= json.null and not validate.is_datetime(x) then return false end
    elseif k ~= "@odata.type" then
      return false
    end
  end
  return true
end

-- Checks one property value against its definition; returns the value to store.
local function check_value(def, v, version)
  local name = def.name
  if def.kind == "string" then
    expect(type(v) == "string" or v == json.null, name, "a string (Edm.String) or null", v)
  elseif def.kind == "boolean" then
    expect(type(v) == "boolean", name, "true or false (Edm.Boolean)", v)
  elseif def.kind == "datetime" then
    if v ~= json.null and not validate.is_datetime(v) then
      bad(string.format("Invalid value %s for property '%s': expected an Edm.DateTimeOffset like "
                        .. "2025-01-31T23:59:59Z or 2016-12-31T23:57:57.2481234-08:00, or null.",
                        type(v) == "string" and ("'" .. v .. "'") or type_name(v), name))
    end
  elseif def.kind == "enum" then
    local allowed = schema.enum_values(def)
    local ok = false
    for _, a in ipairs(allowed) do
      if v == a then ok = true break end
    end
    if not ok then
      bad(string.format("Invalid value %s for property '%s' (microsoft.graph.%s) on %s; allowed values "
                        .. "(case-sensitive): %s.",
                        type(v) == "string" and ("'" .. v .. "'") or type_name(v), name,
                        (def.enum:gsub("Beta$", "")), version, table.concat(allowed, ", ")))
    end
  elseif def.kind == "int32" then
    local i = type(v) == "number" and math.tointeger(v)
    expect(i and i >= -2147483648 and i <= 2147483647, name, "an integer (Edm.Int32)", v)
    return i
  elseif def.kind == "strings" then
    return check_list(v, name, function(x) return type(x) == "string" end, "an array of strings")
  elseif def.kind == "actions" then
    return check_list(v, name, check_action, "an array of vppTokenActionResult objects")
  end
  return v
end

-- Checks the request's Content-Type and parses its body as one JSON object.
function validate.json_object(req)
  local ct = req.headers["content-type"]
  local media = ct and ct:match("^%s*([^;%s]+)")
  if not media or media:lower() ~= "application/json" then
    bad("The request needs the header 'Content-Type: application/json'"
        .. (ct and (", got '" .. ct .. "'.") or "; it is missing."))
  end
  local body = req.body or ""
  local obj, err = json.decode_request(body)
  if obj == nil then
    bad("Unable to read JSON request payload: " .. tostring(err or "empty body")
        .. ". Please ensure the payload is valid JSON.")
  end
  if type(obj) ~= "table" or not body:match("^%s*{") then
    bad("The request body must be a JSON object, got " .. type_name(obj) .. ".")
  end
  return obj
end

-- Checks a vppToken body for create (mode "create") or update ("update") on version
-- ("v1.0" or "beta"). Returns the properties to store. id and lastModifiedDateTime are ignored
-- (the server owns them); other instance annotations ("@...") are ignored as OData does.
function validate.token(obj, version, mode)
  local out = {}
  for k, v in pairs(obj) do
    if type(k) ~= "string" then bad("The request body must be a JSON object.") end
    if k == "@odata.type" then
      if v ~= schema.TYPE then
        bad(string.format("Invalid '@odata.type' %s: expected '%s'.",
                          type(v) == "string" and ("'" .. v .. "'") or type_name(v), schema.TYPE))
      end
    elseif k:sub(1, 1) ~= "@" then
      local def = schema.property(version, k)
      if not def then
        bad(string.format("The property '%s' does not exist on type 'microsoft.graph.vppToken'. Make sure to "
                          .. "only use property names that are defined by the type.%s", k,
                          schema.beta_hint(version, k)))
      end
      if not def.server then out[k] = check_value(def, v, version) end
    end
  end
  if mode == "create" or out.token ~= nil then
    if type(out.token) ~= "string" or out.token == "" then
      bad("The property 'token' is required and must be a non-empty string.")
    end
  end
  return out
end

-- The sandbox's own instance annotation "@sandbox.licenses" in a create or update body, which
-- sets a token's license counts per app: { "<bundleId>": { "available": n, "used": n } }.
-- Returns { bundleId = { available, used } }, or nil when the body has none.
function validate.licenses(obj)
  local v = obj["@sandbox.licenses"]
  if v == nil then return nil end
  local name = "@sandbox.licenses"
  expect(type(v) == "table" and not json.is_array(v), name, "an object of bundle ids", v)
  local out = {}
  for bundle, counts in pairs(v) do
    local at = name .. "['" .. tostring(bundle) .. "']"
    expect(type(counts) == "table" and not json.is_array(counts), at, "an object {available, used}", counts)
    local row = {}
    for k, n in pairs(counts) do
      if k ~= "available" and k ~= "used" then bad("Unknown member '" .. tostring(k) .. "' in " .. at .. ".") end
      local i = type(n) == "number" and math.tointeger(n)
      expect(i and i >= 0 and i <= 2147483647, at .. "." .. k, "a non-negative integer", n)
      row[k] = i
    end
    out[bundle] = { available = row.available or 0, used = row.used or 0 }
  end
  return out
end

-- An action body (syncLicenses): empty or a JSON object with no parameters.
function validate.no_parameters(req, action)
  local body = req.body or ""
  if body:match("^%s*$") then return end
  local obj, err = json.decode_request(body)
  if obj == nil then bad("Unable to read JSON request payload: " .. tostring(err) .. ".") end
  if type(obj) ~= "table" or json.is_array(obj) and rawlen(obj) > 0 or not body:match("^%s*{") then
    bad("The request body of '" .. action .. "' must be empty or an empty JSON object.")
  end
  for k in pairs(obj) do
    bad(string.format("The parameter '%s' in the request payload is not a valid parameter for the "
                      .. "operation '%s'.", tostring(k), action))
  end
end

-- An action body with the given parameters: params = { name = "boolean" | "string" }.
function validate.parameters(req, action, params)
  local body = req.body or ""
  if body:match("^%s*$") then return {} end
  local obj = validate.json_object(req)
  for k, v in pairs(obj) do
    local kind = params[k]
    if not kind then
      bad(string.format("The parameter '%s' in the request payload is not a valid parameter for the "
                        .. "operation '%s'.", tostring(k), action))
    end
    if type(v) ~= kind then
      bad(string.format("Invalid value for parameter '%s': expected a %s.", k, kind))
    end
  end
  return obj
end

return validate
