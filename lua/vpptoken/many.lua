--- Many operations at once over the C core's request_many (curl's multi interface): get_many and sync_all.
-- @module vpptoken

--- A client from vpptoken.new: its methods.
-- @type Client
local Client = require "vpptoken.client"
local errors = require "vpptoken.error"
local schema = require "vpptoken.schema"

local I = Client._internal
local credentials, reporter, observe, graph_headers = I.credentials, I.reporter, I.observe, I.graph_headers
local decode, item_url, query = I.decode, I.item_url, I.query

-- Converts one raw core result (response or transport error table) into resp or nil, err, and reports it.
local function settle(self, method, url, r)
  if r.kind then
    local err = errors.from_transport(r)
    observe(self, method, url, nil, err)
    return nil, err
  end
  if r.status >= 400 then
    local err = errors.from_response(r, method, url)
    observe(self, method, url, r, err)
    return nil, err
  end
  observe(self, method, url, r)
  return r
end

-- Many calls at once (items: { method, url, body? }); returns out[i] = { resp } or { nil, err }, in order.
-- One access token for all; calls whose token was rejected are sent again once with a new one.
local function call_many(self, items, concurrency)
  local out = {}
  local function run(indices, force)
    local tok, terr = credentials[self]:token(self.session, force, reporter(self))
    if not tok then
      for _, i in ipairs(indices) do out[i] = { nil, terr } end
      return
    end
    local reqs = {}
    for k, i in ipairs(indices) do
      local it = items[i]
      reqs[k] = { method = it.method, url = it.url, body = it.body, headers = graph_headers(self, tok, it.body ~= nil) }
    end
    local results = self.session:request_many(reqs, { concurrency = concurrency })
    local again = {}
    for k, i in ipairs(indices) do
      local r = results[k]
      if not force and r.status == 401 and credentials[self]:can_refresh()
          and errors.from_response(r, items[i].method, items[i].url).code == "InvalidAuthenticationToken" then
        again[#again + 1] = i
      else
        out[i] = { settle(self, items[i].method, items[i].url, r) }
      end
    end
    if #again > 0 then run(again, true) end
  end
  local all = {}
  for i = 1, #items do all[i] = i end
  if #all > 0 then run(all, false) end
  return out
end

local function check_concurrency(c)
  if c == nil then return 8 end
  if math.type(c) ~= "integer" or c < 1 or c > 64 then error("concurrency must be a whole number from 1 to 64", 3) end
  return c
end

--- Gets many tokens at once (opts.concurrency, default 8; opts.select). Returns `tokens, errs`: tokens[i] is the
-- token for ids[i] or false, errs[i] the error object where it failed.
function Client:get_many(ids, opts)
  if type(ids) ~= "table" then error("ids must be an array of token ids", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("options must be a table", 2) end
  opts = opts or {}
  local conc = check_concurrency(opts.concurrency)
  local q = query(self, opts.select and { select = opts.select } or nil)
  local items = {}
  for i, id in ipairs(ids) do items[i] = { method = "GET", url = item_url(self, id) .. q } end
  local tokens, errs = {}, {}
  for i, r in ipairs(call_many(self, items, conc)) do
    local doc, err = r[1], r[2]
    if doc then doc, err = decode(doc, "GET", items[i].url) end
    tokens[i], errs[i] = doc or false, err
  end
  return tokens, errs
end

--- Starts a license sync for every token at once. opts: only_valid (default true: skip tokens whose state is not
-- valid), skip_in_progress (default true), concurrency (default 8). Returns an array, one entry per token:
-- { id, appleId, outcome = "started" | "skipped" | "failed", reason?, token?, error? }, or nil, err when the
-- tokens cannot be listed.
function Client:sync_all(opts)
  if opts ~= nil and type(opts) ~= "table" then error("options must be a table", 2) end
  opts = opts or {}
  local conc = check_concurrency(opts.concurrency)
  local only_valid = opts.only_valid ~= false
  local skip_running = opts.skip_in_progress ~= false
  local tokens, err = self:list()
  if not tokens then return nil, err end
  local outcomes, items, where = {}, {}, {}
  for i, t in ipairs(tokens) do
    local o = { id = t.id, appleId = t.appleId }
    outcomes[i] = o
    if only_valid and t.state ~= "valid" then
      o.outcome, o.reason = "skipped", "state is " .. tostring(t.state)
    elseif skip_running and t.lastSyncStatus == "inProgress" then
      o.outcome, o.reason = "skipped", "a sync is already in progress"
    else
      -- The id comes from the server: one that cannot be put in a URL fails this token only.
      local escaped, why = schema.check_id(t.id)
      if escaped then
        items[#items + 1] = { method = "POST", url = self.collection_url .. "/" .. escaped .. "/syncLicenses" }
        where[#items] = i
      else
        o.outcome, o.error = "failed", errors.new{ kind = "protocol", code = "InvalidId", method = "POST",
          message = "the token's id from the list cannot be used in a URL: " .. why }
        o.reason = tostring(o.error)
      end
    end
  end
  for k, r in ipairs(call_many(self, items, conc)) do
    local o = outcomes[where[k]]
    local doc, e = r[1], r[2]
    if doc then doc, e = decode(doc, "POST", items[k].url) end
    if doc then
      o.outcome, o.token = "started", (doc.id == nil and type(doc.value) == "table") and doc.value or doc
    else
      o.outcome, o.error, o.reason = "failed", e, tostring(e)
    end
  end
  return outcomes
end

return Client
