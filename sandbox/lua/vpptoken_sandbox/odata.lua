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
local crypto = require "vpptoken_sandbox.crypto"
local Store = require "vpptoken_sandbox.store"

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

-- Skiptokens are opaque to clients: hex of JSON {v = 3, e = the store's epoch (its tenant, and no store before a
-- reset), f = a digest of $filter, o = $orderby (canonical), k = the last token's raw $orderby values, s = its
-- creation number, n = tokens returned so far}, then hex of an HMAC-SHA256 of that (16 bytes, under a key made at
-- start), so an altered, cut or made-up skiptoken is refused rather than read. Paging resumes after (k, s) in the
-- sort order, so it is stable while tokens are added or removed.
local KEY = crypto.random(32)
local MAC_HEX = 32

local function mac(payload)
  return util.hex(crypto.hmac_sha256(KEY, payload):sub(1, MAC_HEX // 2))
end

local function filter_digest(q)
  return util.hex(crypto.sha256(q.filter and q.raw.filter or ""):sub(1, 8))
end

local function encode_skiptoken(q, store, entry, count)
  local raw = json.array()
  for i, key in ipairs(q.order.keys) do
    local v = entry.props[key.name]
    if v == nil then v = json.null end
    raw[i] = v
  end
  local payload = util.hex(json.encode({ v = 3, e = store.epoch, f = filter_digest(q), o = q.order.text, k = raw,
                                         s = entry.seq, n = count }))
  return payload .. mac(payload)
end

-- The cursor of q's $skiptoken on store: { values, seq, count }; a 400 for any skiptoken this sandbox did not
-- make for the same query on the same store.
local function decode_skiptoken(q, store)
  local text = q.raw.skiptoken
  local function invalid(why)
    local shown = #text > 200 and (text:sub(1, 200) .. "...") or text
    bad(string.format("The $skiptoken value '%s' is not valid%s.", shown, why or ""))
  end
  local payload, tag = text:sub(1, -MAC_HEX - 1), text:sub(-MAC_HEX)
  if #text <= MAC_HEX or not crypto.equal(mac(payload), tag) then invalid() end
  local raw = util.unhex(payload)
  local t = raw and json.decode(raw)
  if type(t) ~= "table" or t.v ~= 3 or type(t.o) ~= "string" or type(t.k) ~= "table" then invalid() end
  local seq = type(t.s) == "number" and math.tointeger(t.s)
  local count = type(t.n) == "number" and math.tointeger(t.n)
  if not seq or not count or seq < 0 or count < 0 then invalid() end
  if t.e ~= store.epoch then
    invalid(": it belongs to another tenant, or to the tokens before a reset")
  end
  if t.f ~= filter_digest(q) then invalid(": it belongs to a request with another $filter") end
  if t.o ~= q.order.text or #t.k ~= #q.order.keys then
    invalid(": it belongs to a request with another $orderby")
  end
  local values = {}
  for i, key in ipairs(q.order.keys) do values[i] = key.get({ [key.name] = t.k[i] }) end
  return { values = values, seq = seq, count = count }
end

-- Parses the options of a request on the collection (kind "collection") or on one token
-- ("entity"). Returns { select = list|nil, top, skip, filter = predicate(props)|nil, order = { keys, text },
-- count = bool, raw = { name = text } } (raw.skiptoken is read by odata.page, against the tenant's store).
function odata.parse(raw, version, kind)
  local opts, names = split(raw, version)
  local allowed = kind == "collection" and FOR_COLLECTION or FOR_ENTITY
  for name in pairs(opts) do
    if not allowed[name] then
      bad(string.format("Query option '%s' is not allowed on %s.", names[name],
                        kind == "collection" and "the vppTokens collection" or "a single vppToken"))
    end
  end
  local q = { raw = opts, order = NO_ORDER, version = version }
  if opts.select then q.select = parse_select(opts.select, version) end
  if opts.top then q.top = non_negative("$top", opts.top) end
  if opts.skip then q.skip = non_negative("$skip", opts.skip) end
  if opts.filter and opts.filter:match("%S") then
    q.filter = filter_eval.compile(filter.parse(opts.filter), version)
  end
  if opts.orderby and opts.orderby:match("%S") then q.order = parse_orderby(opts.orderby, version) end
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

-- The number of entries matching q's $filter: O(1) without one, a pass over the store with one (kept until the store
-- changes).
local function count_matching(q, store, now)
  if not q.filter then return store:count() end
  return store:memo(table.concat({ "count", q.version, q.raw.filter }, "\0"), now, function()
    local n, due = 0, nil
    for e in store:each() do
      due = Store.earlier(due, Store.refresh(e, now))
      if q.filter(e.props) then n = n + 1 end
    end
    return n, due
  end)
end

-- A page in creation order, read from the store's index: from the cursor's position (binary search), or the
-- $skip-th match, taking entries while the page has room; $filter is applied to each entry as it is reached.
-- Then looks ahead for one more match, for the nextLink. Costs O(log n + the entries looked at), whatever n.
local function index_page(q, store, limit, now)
  local entries = store.entries
  local i, skip = 1, 0
  if q.skiptoken then
    i = store:index_after(q.skiptoken.seq)
  elseif q.skip and not q.filter then
    i = store:index_of(q.skip + 1) -- compacts entries in place first
  elseif q.skip then
    skip = q.skip
  end
  local page, n = {}, #entries
  local function matches(e)
    if e.removed then return false end
    Store.refresh(e, now)
    return not q.filter or q.filter(e.props)
  end
  while i <= n and #page < limit do
    local e = entries[i]
    if matches(e) then
      if skip > 0 then skip = skip - 1 else page[#page + 1] = e end
    end
    i = i + 1
  end
  local more = false
  while i <= n and not more do
    more = matches(entries[i])
    i = i + 1
  end
  return page, more
end

-- The matches of q in the order of its $orderby, as rows { entry, values }: sorted once (O(n log n)) and kept until
-- the store changes, so the later pages of a walk cost O(log n + the page).
local function sorted_rows(q, store, now)
  local keys = q.order.keys
  local memo_key = table.concat({ "sort", q.version, q.order.text, q.filter and q.raw.filter or "" }, "\0")
  return store:memo(memo_key, now, function()
    local rows, due = {}, nil
    for e in store:each() do
      due = Store.earlier(due, Store.refresh(e, now))
      if not q.filter or q.filter(e.props) then
        local values = {}
        for i, key in ipairs(keys) do values[i] = key.get(e.props) end
        rows[#rows + 1] = { entry = e, values = values }
      end
    end
    table.sort(rows, function(x, y) return compare_rows(keys, x.values, x.entry.seq, y.values, y.entry.seq) < 0 end)
    return rows, due
  end)
end

-- A page in another order: from the sorted matches, the cursor found by binary search.
local function sorted_page(q, store, limit, now)
  local keys = q.order.keys
  local rows = sorted_rows(q, store, now)
  local start = 1
  local cursor = q.skiptoken
  if cursor then
    local lo, hi = 1, #rows + 1
    while lo < hi do
      local mid = (lo + hi) // 2
      local row = rows[mid]
      if compare_rows(keys, row.values, row.entry.seq, cursor.values, cursor.seq) > 0 then
        hi = mid
      else
        lo = mid + 1
      end
    end
    start = lo
  elseif q.skip then
    start = q.skip + 1
  end
  local page = {}
  for i = start, math.min(start + limit - 1, #rows) do page[#page + 1] = rows[i].entry end
  return page, start + #page <= #rows, #rows
end

-- One page of store's entries for query q, finished syncs refreshed at now: the entries to show, the count of
-- all entries matching $filter (nil unless $count=true) and the $skiptoken of the next page (nil on the last).
-- $top is the page size, as on Graph (server-driven paging follows while matches remain); without it, page_size.
function odata.page(q, store, page_size, now)
  if q.raw.skiptoken then q.skiptoken = decode_skiptoken(q, store) end
  local limit = q.top or page_size
  local page, more, total
  if #q.order.keys > 0 then
    page, more, total = sorted_page(q, store, limit, now)
  else
    page, more = index_page(q, store, limit, now)
  end
  if q.count and not total then total = count_matching(q, store, now) end
  local returned = q.skiptoken and q.skiptoken.count or 0
  local token = more and #page > 0 and encode_skiptoken(q, store, page[#page], returned + #page) or nil
  return page, q.count and total or nil, token
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
