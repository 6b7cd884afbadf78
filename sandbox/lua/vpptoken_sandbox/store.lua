-- In-memory vppTokens in creation order. Each entry: { seq = creation number, id = GUID,
-- props = { property = value }, sync_done_at = time a running license sync completes,
-- licenses = { bundleId = { available, used } } set by a client, licenses_revoked = bool }.
local util = require "vpptoken_sandbox.util"
local applefile = require "vpptoken_sandbox.applefile"

local store = {}

local Store = { __name = "vpptoken_sandbox.Store" }
Store.__index = Store

function store.new()
  return setmetatable({ entries = {}, by_id = {}, next_seq = 1 }, Store)
end

-- Adds a token with the given properties (and id, a new GUID when nil); returns its entry.
function Store:add(props, id)
  if id == nil then
    id = util.guid()
    while self.by_id[id] do id = util.guid() end
  end
  props.id = id
  local entry = { seq = self.next_seq, id = id, props = props }
  self.next_seq = self.next_seq + 1
  self.entries[#self.entries + 1] = entry
  self.by_id[id] = entry
  return entry
end

-- Ids compare without regard to case, as GUIDs do.
function Store:get(id)
  return self.by_id[id:lower()]
end

function Store:remove(id)
  local entry = self:get(id)
  if not entry then return false end
  self.by_id[entry.id] = nil
  for i, e in ipairs(self.entries) do
    if e == entry then
      table.remove(self.entries, i)
      break
    end
  end
  return true
end

-- Entries created after the one numbered seq (0: all), oldest first. Stable when entries are
-- added or removed meanwhile, including the entry seq itself.
function Store:after(seq)
  local out = {}
  for _, e in ipairs(self.entries) do
    if e.seq > seq then out[#out + 1] = e end
  end
  return out
end

function Store:count()
  return #self.entries
end

-- Completes a license sync whose time has come (evaluated lazily on every read).
function store.refresh(entry, now)
  local done = entry.sync_done_at
  if done and entry.props.lastSyncStatus == "inProgress" and now >= done then
    entry.props.lastSyncStatus = "completed"
    entry.props.lastSyncDateTime = util.datetime(done)
    entry.sync_done_at = nil
    -- a sync reads the expiry and organization from the (maybe renewed) Apple token file again
    local file = applefile.read(entry.props.token)
    if file then
      entry.props.expirationDateTime = file.expirationDateTime
      entry.props.organizationName = file.organizationName
    end
  end
end

-- FNV-1a, 32 bits: the seed of the made-up license counts.
local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

-- The Apple licenses the token holds for app bundleId: { available, used }. Counts a client set
-- (the "@sandbox.licenses" annotation) are kept as given; other apps get made-up but stable
-- counts (10 to 100 licenses, derived from the bundle id and the token's creation number), all
-- returned to the pool once the token's licenses were revoked.
function store.licenses(entry, bundle)
  local set = entry.licenses and entry.licenses[bundle]
  if set then return { available = set.available, used = set.used } end
  local h = fnv1a(bundle .. "#" .. entry.seq)
  local total = 10 + h % 91
  local used = (h // 91) % (total + 1)
  if entry.licenses_revoked then used = 0 end
  return { available = total - used, used = used }
end

-- Revokes every license of the token: used licenses go back to the available pool.
function store.revoke_licenses(entry)
  for _, l in pairs(entry.licenses or {}) do
    l.available, l.used = l.available + l.used, 0
  end
  entry.licenses_revoked = true
end

return store
