--- What a vppToken may contain, and the checks on what a caller sends (strict on input).
-- Every check returns true or nil plus a message; the public functions raise with that message.
local core = require "vpptoken.core"
local safe_text = require "vpptoken.text"
local options = require "vpptoken.options"
local compat = require "vpptoken.compat"

local M = {}

-- Property -> kind. "readonly" ones are filled by the server and may not be sent.
local V1 = {
  id = "readonly", organizationName = "string", vppTokenAccountType = "enum", appleId = "string",
  expirationDateTime = "datetime", lastSyncDateTime = "datetime", token = "string",
  lastModifiedDateTime = "readonly", state = "enum", lastSyncStatus = "enum", automaticallyUpdateApps = "boolean",
  countryOrRegion = "string",
}
local BETA = {
  displayName = "string", locationName = "string", dataSharingConsentGranted = "boolean",
  claimTokenManagementFromExternalMdm = "boolean", roleScopeTagIds = "strings", lastAppCount = "readonly",
  tokenActionResults = "readonly", appleDeviceAppDeliveryProtocolType = "enum",
}
local ODATA_TYPE = "#microsoft.graph.vppToken"

local function sorted_keys(...)
  local out = {}
  for _, t in ipairs{ ... } do
    for k in pairs(t) do out[#out + 1] = k end
  end
  table.sort(out)
  return out
end
local NAMES_V1 = table.concat(sorted_keys(V1), ", ")
local NAMES_BETA = table.concat(sorted_keys(V1, BETA), ", ")

--- The kind of a property for the API version, or nil.
function M.property_kind(name, beta)
  return V1[name] or (beta and BETA[name]) or nil
end

local function unknown_property(name, beta)
  if not beta and BETA[name] then
    return string.format("property '%s' exists only in the beta API (api_version = \"beta\")", name)
  end
  -- quoted: a long name is not shown (a secret pasted where a name belongs must not come back in a message)
  if type(name) == "string" then -- the name in another case: property names are case-sensitive
    local lower = name:lower()
    for _, t in ipairs{ V1, beta and BETA or {} } do
      for k in pairs(t) do
        if k:lower() == lower then
          return string.format("unknown property %s: did you mean '%s'? (names are case-sensitive)",
            safe_text.quoted(name), k)
        end
      end
    end
  end
  return string.format("unknown property %s (known: %s)", safe_text.quoted(name), beta and NAMES_BETA or NAMES_V1)
end

local function check_value(name, kind, v, beta)
  if kind == "string" then
    if type(v) ~= "string" then return nil, string.format("%s must be a string (got %s)", name, type(v)) end
    if #v > 1048576 then return nil, name .. " is longer than 1 MiB" end
  elseif kind == "boolean" then
    if type(v) ~= "boolean" then return nil, string.format("%s must be a boolean (got %s)", name, type(v)) end
  elseif kind == "enum" then
    return core.check_enum(name, v, beta)
  elseif kind == "datetime" then
    if compat.math_type(v) then return true end -- seconds since the epoch: sent as UTC text
    if type(v) ~= "string" then
      return nil, string.format("%s must be a DateTimeOffset string or seconds since the epoch (got %s)", name,
        type(v))
    end
    local t, msg, has_zone = core.time_parse(v)
    if not t then return nil, name .. ": " .. msg end
    if not has_zone then return nil, name .. ": a DateTimeOffset needs 'Z' or an offset like +01:00" end
  elseif kind == "strings" then
    if type(v) ~= "table" then return nil, name .. " must be a list of strings" end
    for i, s in ipairs(v) do
      if type(s) ~= "string" then return nil, string.format("%s[%d] must be a string", name, i) end
    end
  end
  return true
end

--- Checks the fields of a create (mode "create") or update ("update") and returns the table to send
-- (dates given as numbers become text), or nil and a message.
function M.check_fields(fields, mode, beta)
  if type(fields) ~= "table" then return nil, "fields must be a table (got " .. type(fields) .. ")" end
  local out, n = {}, 0
  for k, v in pairs(fields) do
    if type(k) ~= "string" then return nil, "property names must be strings (got " .. type(k) .. ")" end
    if k == "@odata.type" then
      if v ~= ODATA_TYPE then return nil, "@odata.type must be '" .. ODATA_TYPE .. "'" end
    else
      local kind = M.property_kind(k, beta)
      if not kind then return nil, unknown_property(k, beta) end
      if kind == "readonly" then return nil, string.format("property '%s' is set by the server, not sent", k) end
      local ok, msg = check_value(k, kind, v, beta)
      if not ok then return nil, msg end
      if kind == "datetime" and compat.math_type(v) then v = core.time_format(v) end
      n = n + 1
    end
    out[k] = v
  end
  if mode == "create" and (type(out.token) ~= "string" or out.token == "") then
    return nil, "token is required: the content of the token file from Apple Business or School Manager"
  end
  if mode == "update" and n == 0 then return nil, "nothing to update: fields is empty" end
  return out
end

--- Checks a token id; returns it percent-encoded for the URL path, or nil and a message.
function M.check_id(id)
  if type(id) ~= "string" then return nil, "id must be a string (got " .. type(id) .. ")" end
  if id == "" then return nil, "id must not be empty" end
  if #id > 256 then return nil, "id is longer than 256 characters" end
  if id == "." or id == ".." then return nil, "id must not be '.' or '..'" end
  local escaped, bad = core.escape_id(id) -- in C: it runs on every call that names a token
  if not escaped then
    return nil, string.format("id contains a character that cannot be in an id (%q at position %d)",
      id:sub(bad, bad), bad)
  end
  return escaped
end

local QUERY = { select = "names", orderby = "list", filter = "string", top = "count", count = "boolean" }
local QUERY_NAMES = {} -- the names alone, for the options checker (which checks the kinds below itself)
for k in pairs(QUERY) do QUERY_NAMES[k] = true end

--- Builds "?$select=...&..." from query options (select, filter, top, orderby, count), or nil and a message.
function M.query_string(opts, beta)
  if opts == nil then return "" end
  local problem = options.problem(opts, nil, QUERY_NAMES)
  if problem then return nil, problem end
  local parts = {}
  local keys = {}
  for k in pairs(opts) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v, kind = opts[k], QUERY[k]
    local text
    if kind == "names" or kind == "list" then
      if type(v) == "string" then v = { v } end
      if type(v) ~= "table" or #v == 0 then return nil, k .. " must be a string or a list of strings" end
      for i, s in ipairs(v) do
        if type(s) ~= "string" then return nil, string.format("%s[%d] must be a string", k, i) end
        if kind == "names" then
          for name in s:gmatch("[^,%s]+") do
            if not M.property_kind(name, beta) then return nil, "select: " .. unknown_property(name, beta) end
          end
        end
      end
      text = table.concat(v, ",")
    elseif kind == "string" then
      if type(v) ~= "string" or v == "" then return nil, k .. " must be a non-empty string" end
      text = v
    elseif kind == "count" then
      if compat.math_type(v) ~= "integer" or v < 1 then return nil, k .. " must be a positive integer" end
      text = tostring(v)
    elseif kind == "boolean" then
      if type(v) ~= "boolean" then return nil, k .. " must be a boolean" end
      text = tostring(v)
    end
    if #text > 4096 then return nil, k .. " is longer than 4096 characters" end
    parts[#parts + 1] = "$" .. k .. "=" .. core.escape(text)
  end
  return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end

return M
