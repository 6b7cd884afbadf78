-- OData query options for vppTokens: $select, $top, $skip, $skiptoken, $filter (eq, and),
-- $count, $orderby (accepted and ignored, as Intune does). Anything else starting with '$' is a 400.
local util = require "vpptoken.sandbox.util"
local schema = require "vpptoken.sandbox.schema"
local errors = require "vpptoken.sandbox.errors"

local odata = {}

local bad = errors.bad_request

local KNOWN = { select = true, top = true, skip = true, skiptoken = true, filter = true, orderby = true,
                count = true, expand = true, search = true, format = true, apply = true, compute = true,
                levels = true, deltatoken = true, index = true, schemaversion = true }
local FOR_COLLECTION = { select = true, top = true, skip = true, skiptoken = true, filter = true,
                         orderby = true, count = true }
local FOR_ENTITY = { select = true, orderby = true }

-- Splits the raw query into { name = decoded value } for the '$' options; other parameters are
-- ignored as Graph does. Names are matched without regard to case.
local function split(raw)
  local opts, names = {}, {}
  for pair in (raw or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = util.url_decode(k)
    if k:sub(1, 1) == "$" then
      local name = k:sub(2):lower()
      if not KNOWN[name] then
        bad(string.format("Query option '%s' is not supported.", k))
      end
      if opts[name] ~= nil then
        bad(string.format("Query option '%s' was specified more than once, but it must be specified at most "
                          .. "once.", k))
      end
      opts[name] = util.url_decode(v)
      names[name] = k
    end
  end
  return opts, names
end

local function non_negative(name, v)
  local n = v:match("^%d+$") and math.tointeger(tonumber(v))
  if not n or n > 2147483647 then
    bad(string.format("Invalid value '%s' for %s query option found. The %s query option requires a "
                      .. "non-negative integer value.", v, name, name))
  end
  return n
end

local function parse_select(v, version)
  local list, seen = {}, {}
  for item in v:gmatch("[^,]+") do
    local name = util.trim(item)
    if name == "*" then return nil end
    if name ~= "" and not seen[name] then
      if not schema.property(version, name) then
        bad(string.format("Could not find a property named '%s' on type 'microsoft.graph.vppToken'.", name))
      end
      seen[name] = true
      list[#list + 1] = name
    end
  end
  if #list == 0 then return nil end
  return list
end

-- Parses "prop eq 'text'" / "prop eq true|false" clauses joined by "and".
local function parse_filter(text, version)
  local clauses, pos = {}, 1
  local function fail()
    bad(string.format("Invalid $filter: the sandbox supports only \"property eq 'value'\" and "
                      .. "\"property eq true|false\" joined by \"and\"; cannot handle '%s'.",
                      util.trim(text:sub(pos))))
  end
  while true do
    local s, prop, e = text:match("^%s*()([%a_][%w_]*)%s+eq%s+()", pos)
    if not s then fail() end
    local value, after
    if text:sub(e, e) == "'" then
      local i, buf = e + 1, {}
      while true do
        local c = text:sub(i, i)
        if c == "" then fail() end
        if c == "'" then
          if text:sub(i + 1, i + 1) == "'" then
            buf[#buf + 1] = "'"
            i = i + 2
          else
            break
          end
        else
          buf[#buf + 1] = c
          i = i + 1
        end
      end
      value, after = table.concat(buf), i + 1
    else
      local word, w_end = text:match("^(%a+)()", e)
      if word ~= "true" and word ~= "false" then fail() end
      value, after = word == "true", w_end
    end
    local def = schema.property(version, prop)
    if not def then
      bad(string.format("Invalid $filter: could not find a property named '%s' on type "
                        .. "'microsoft.graph.vppToken'.", prop))
    end
    local want_bool = def.kind == "boolean"
    if type(value) == "boolean" ~= want_bool or not (want_bool or def.kind == "string" or def.kind == "enum"
        or def.kind == "datetime") then
      bad(string.format("Invalid $filter: property '%s' cannot be compared with %s.", prop,
                        type(value) == "boolean" and tostring(value) or "a string"))
    end
    clauses[#clauses + 1] = { prop = prop, value = value }
    pos = after
    local rest = text:match("^%s*()", pos)
    if rest > #text then break end
    local nxt = text:match("^%s+and%s+()", pos)
    if not nxt then fail() end
    pos = nxt
  end
  return clauses
end

-- Skiptokens are opaque to clients: hex of "<last seq returned>:<items returned so far>".
function odata.encode_skiptoken(seq, count)
  return (string.format("vpp1:%d:%d", seq, count):gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

local function decode_skiptoken(v)
  local raw = v:match("^%x+$") and #v % 2 == 0
    and v:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  local seq, count = (raw or ""):match("^vpp1:(%d+):(%d+)$")
  if not seq then bad("The $skiptoken value '" .. v .. "' is not valid.") end
  return { seq = math.tointeger(tonumber(seq)), count = math.tointeger(tonumber(count)) }
end

-- Parses the options of a request on the collection (kind "collection") or on one token
-- ("entity"). Returns { select = list|nil, top, skip, skiptoken = {seq, count}, filter = clauses,
-- count = bool, raw = { name = decoded text } }.
function odata.parse(raw, version, kind)
  local opts, names = split(raw)
  local allowed = kind == "collection" and FOR_COLLECTION or FOR_ENTITY
  for name in pairs(opts) do
    if not allowed[name] then
      bad(string.format("Query option '%s' is not allowed on %s.", names[name],
                        kind == "collection" and "the vppTokens collection" or "a single vppToken"))
    end
  end
  local q = { raw = opts }
  if opts.select then q.select = parse_select(opts.select, version) end
  if opts.top then q.top = non_negative("$top", opts.top) end
  if opts.skip then q.skip = non_negative("$skip", opts.skip) end
  if opts.skiptoken then q.skiptoken = decode_skiptoken(opts.skiptoken) end
  if opts.filter and opts.filter:match("%S") then q.filter = parse_filter(opts.filter, version) end
  if opts.count then
    if opts.count ~= "true" and opts.count ~= "false" then
      bad("Invalid value '" .. opts.count .. "' for $count query option: expected true or false.")
    end
    q.count = opts.count == "true"
  end
  return q
end

function odata.matches(props, clauses)
  for _, c in ipairs(clauses or {}) do
    if props[c.prop] ~= c.value then return false end
  end
  return true
end

-- The query string of a nextLink: the original options (but $skip) plus the new skiptoken.
function odata.next_query(q, skiptoken)
  local parts = {}
  for _, name in ipairs({ "select", "filter", "orderby", "count", "top" }) do
    local v = q.raw[name]
    if v then parts[#parts + 1] = "$" .. name .. "=" .. util.url_encode(v) end
  end
  parts[#parts + 1] = "$skiptoken=" .. skiptoken
  return table.concat(parts, "&")
end

return odata
