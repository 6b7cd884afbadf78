-- OData query options for vppTokens: $select, $filter and $orderby (grammars in filter.lua,
-- semantics in filter_eval.lua), $top (the page size, as on Graph), $skip, $count, and
-- server-driven paging with $skiptoken.
-- Any other option starting with '$' is a 400, as is an unknown property anywhere.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local schema = require "vpptoken_sandbox.schema"
local errors = require "vpptoken_sandbox.errors"
local filter = require "vpptoken_sandbox.filter"
local filter_eval = require "vpptoken_sandbox.filter_eval"

local odata = {}

local bad = errors.bad_request

local KNOWN = { select = true, top = true, skip = true, skiptoken = true, filter = true, orderby = true,
                count = true, expand = true, search = true, format = true, apply = true, compute = true,
                levels = true, deltatoken = true, index = true, schemaversion = true }
local FOR_COLLECTION = { select = true, top = true, skip = true, skiptoken = true, filter = true,
                         orderby = true, count = true }
local FOR_ENTITY = { select = true, orderby = true }

-- Splits the raw query into { name = decoded value } for the '$' options; other parameters are
-- ignored as Graph does. Names are matched without regard to case. On beta, as on Graph's beta, a
-- known option may come without its '$' (top=2, select=...); "top" and "$top" together are a repeat.
local function split(raw, version)
  local opts, names = {}, {}
  for pair in (raw or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = util.url_decode(k)
    local dollar = k:sub(1, 1) == "$"
    if dollar or (version == "beta" and KNOWN[k:lower()]) then
      local name = (dollar and k:sub(2) or k):lower()
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
        bad(string.format("Could not find a property named '%s' on type 'microsoft.graph.vppToken' (in "
                          .. "'$select').%s", name, schema.beta_hint(version, name)))
      end
      seen[name] = true
      list[#list + 1] = name
    end
  end
  if #list == 0 then return nil end
  return list
end

-- $orderby: { keys = { { name, desc, get } }, text = canonical form, e.g. "appleId desc,id asc" }.
local function parse_orderby(text, version)
  local keys, seen, canon = {}, {}, {}
  for i, item in ipairs(filter.orderby(text)) do
    if seen[item.name] then
      bad(string.format("Duplicate property named '%s' is not supported in '$orderby'.", item.name))
    end
    seen[item.name] = true
    local key = filter_eval.sort_key(version, item.name)
    key.desc = item.desc
    keys[i] = key
    canon[i] = item.name .. (item.desc and " desc" or " asc")
  end
  return { keys = keys, text = table.concat(canon, ",") }
end

local NO_ORDER = { keys = {}, text = "" }

local function hex_encode(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function hex_decode(s)
  if not s:match("^%x+$") or #s % 2 ~= 0 then return nil end
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

-- Skiptokens are opaque to clients: hex of JSON {v = 2, o = $orderby (canonical), k = the last
-- token's raw $orderby values, s = its creation number, n = tokens returned so far}. Paging
-- resumes after (k, s) in the sort order, so it is stable while tokens are added or removed.
local function encode_skiptoken(order, entry, count)
  local raw = json.array()
  for i, key in ipairs(order.keys) do
    local v = entry.props[key.name]
    if v == nil then v = json.null end
    raw[i] = v
  end
  return hex_encode(json.encode({ v = 2, o = order.text, k = raw, s = entry.seq, n = count }))
end

local function decode_skiptoken(text, order)
  local function invalid(why)
    bad(string.format("The $skiptoken value '%s' is not valid%s.", text, why or ""))
  end
  local raw = hex_decode(text)
  local t = raw and json.decode(raw)
  if type(t) ~= "table" or t.v ~= 2 or type(t.o) ~= "string" or type(t.k) ~= "table" then invalid() end
  local seq = type(t.s) == "number" and math.tointeger(t.s)
  local count = type(t.n) == "number" and math.tointeger(t.n)
  if not seq or not count or seq < 0 or count < 0 then invalid() end
  if t.o ~= order.text or #t.k ~= #order.keys then
    invalid(": it belongs to a request with another $orderby")
  end
  local values = {}
  for i, key in ipairs(order.keys) do values[i] = key.get({ [key.name] = t.k[i] }) end
  return { values = values, seq = seq, count = count }
end

-- Parses the options of a request on the collection (kind "collection") or on one token
-- ("entity"). Returns { select = list|nil, top, skip, skiptoken = { values, seq, count },
-- filter = predicate(props)|nil, order = { keys, text }, count = bool, raw = { name = text } }.
function odata.parse(raw, version, kind)
  local opts, names = split(raw, version)
  local allowed = kind == "collection" and FOR_COLLECTION or FOR_ENTITY
  for name in pairs(opts) do
    if not allowed[name] then
      bad(string.format("Query option '%s' is not allowed on %s.", names[name],
                        kind == "collection" and "the vppTokens collection" or "a single vppToken"))
    end
  end
  local q = { raw = opts, order = NO_ORDER }
  if opts.select then q.select = parse_select(opts.select, version) end
  if opts.top then q.top = non_negative("$top", opts.top) end
  if opts.skip then q.skip = non_negative("$skip", opts.skip) end
  if opts.filter and opts.filter:match("%S") then
    q.filter = filter_eval.compile(filter.parse(opts.filter), version)
  end
  if opts.orderby and opts.orderby:match("%S") then q.order = parse_orderby(opts.orderby, version) end
  if opts.skiptoken then q.skiptoken = decode_skiptoken(opts.skiptoken, q.order) end
  if opts.count then
    if opts.count ~= "true" and opts.count ~= "false" then
      bad("Invalid value '" .. opts.count .. "' for $count query option: expected true or false.")
    end
    q.count = opts.count == "true"
  end
  return q
end

-- -1, 0, 1: how two rows { entry, values } (or a row and a decoded skiptoken) sort under keys;
-- the creation number breaks ties, so the order is total.
local function compare_rows(keys, xv, xseq, yv, yseq)
  for i, key in ipairs(keys) do
    local c = filter_eval.compare(xv[i], yv[i])
    if c ~= 0 then return key.desc and -c or c end
  end
  if xseq == yseq then return 0 end
  return xseq < yseq and -1 or 1
end

-- One page of entries (store entries, oldest first) for query q: the entries to show, the count
-- of all entries matching $filter, and the $skiptoken of the next page (nil on the last one).
function odata.page(q, entries, page_size)
  local keys = q.order.keys
  local rows = {}
  for _, e in ipairs(entries) do
    if not q.filter or q.filter(e.props) then
      local values = {}
      for i, key in ipairs(keys) do values[i] = key.get(e.props) end
      rows[#rows + 1] = { entry = e, values = values }
    end
  end
  if #keys > 0 then
    table.sort(rows, function(x, y) return compare_rows(keys, x.values, x.entry.seq, y.values, y.entry.seq) < 0 end)
  end
  local start, returned = 1, 0
  local cursor = q.skiptoken
  if cursor then
    returned = cursor.count
    start = #rows + 1
    for i, row in ipairs(rows) do
      if compare_rows(keys, row.values, row.entry.seq, cursor.values, cursor.seq) > 0 then
        start = i
        break
      end
    end
  elseif q.skip then
    start = q.skip + 1
  end
  -- $top is the page size, as on Graph (server-driven paging follows while rows remain); without it,
  -- the configured page_size.
  local limit = q.top or page_size
  local page = {}
  for i = start, math.min(start + limit - 1, #rows) do page[#page + 1] = rows[i].entry end
  local more = start + #page <= #rows
  local token = more and #page > 0 and encode_skiptoken(q.order, page[#page], returned + #page) or nil
  return page, #rows, token
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
