--- Many operations at once over the C core's request_many (curl's multi interface): get_many and sync_all.
-- @module vpptoken

--- A client from vpptoken.new: its methods.
-- @type Client
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local request = require "vpptoken.request"
local schema = require "vpptoken.schema"
local options = require "vpptoken.options"
local compat = require "vpptoken.compat"

-- The methods this module adds to vpptoken.Client (through Client._lazy_methods).
local Client = {}

local call_many, decode, item_url, query = request.call_many, request.decode, request.item_url, request.query

local DEFAULT_CONCURRENCY = 8
local MAX_CONCURRENCY = core.MAX_CONCURRENCY -- the C core's limit for request_many

local function check_concurrency(c)
  if c == nil then return DEFAULT_CONCURRENCY end
  if compat.math_type(c) ~= "integer" or c < 1 or c > MAX_CONCURRENCY then
    error("concurrency must be a whole number from 1 to " .. MAX_CONCURRENCY, 3)
  end
  return c
end

--- Gets many tokens at once (opts.concurrency, default 8; opts.select). Returns `tokens, errs`: tokens[i] is the
-- token for ids[i] or false, errs[i] the error object where it failed.
function Client:get_many(ids, opts)
  if type(ids) ~= "table" then error("ids must be an array of token ids", 2) end
  opts = options.check(opts, "get_many", { concurrency = true, select = true }, 2)
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
-- valid), skip_in_progress (default true), concurrency (default 8), on_progress (a function(done, total, failed)
-- called as each sync request ends: how many of the `total` to start have ended, how many of them failed; what it
-- raises is ignored). Returns an array, one entry per token:
-- { id, appleId, outcome = "started" | "skipped" | "failed", reason?, token?, error? }, or nil, err when the
-- tokens cannot be listed.
function Client:sync_all(opts)
  opts = options.check(opts, "sync_all", { concurrency = true, only_valid = "boolean",
    skip_in_progress = "boolean", on_progress = "function" }, 2)
  local conc = check_concurrency(opts.concurrency)
  local on_progress = opts.on_progress
  if on_progress ~= nil and type(on_progress) ~= "function" then
    error("sync_all: on_progress must be a function", 2)
  end
  local only_valid = opts.only_valid ~= false
  local skip_running = opts.skip_in_progress ~= false
  local outcomes, items, where = {}, {}, {}
  local walked, err = self:_visit(nil, function(t)
    local i = #outcomes + 1
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
  end)
  if not walked then return nil, err end
  local on_each
  if on_progress then
    local ended, failed, seen = 0, 0, {}
    on_each = function(k, ok)
      if not seen[k] then ended = ended + 1 end
      if seen[k] == false then failed = failed - 1 end -- sent again with a new access token
      seen[k] = ok
      if not ok then failed = failed + 1 end
      on_progress(ended, #items, failed)
    end
  end
  for k, r in ipairs(call_many(self, items, conc, on_each)) do
    local o = outcomes[where[k]]
    local doc, e = r[1], r[2]
    if doc then doc, e = decode(doc, "POST", items[k].url) end
    if doc then
      o.outcome, o.token = "started", request.synced_token(doc)
    else
      o.outcome, o.error, o.reason = "failed", e, tostring(e)
    end
  end
  return outcomes
end

return Client
