-- In-memory vppTokens of one tenant, indexed by creation number. Each entry: { seq = creation number, id = GUID,
-- props = { property = value }, sync_done_at = time a running license sync completes,
-- licenses = { bundleId = { available, used } } set by a client, licenses_revoked = bool }.
--
-- entries holds them in creation order (the order of the list route and the index of its cursor): an add
-- appends, a remove marks the entry removed and leaves it in place until removed ones are half the array, when
-- one pass drops them (so a remove is O(1) amortized), and a cursor's creation number is found by binary search.
-- A page of the list route then costs O(log n + the entries it looks at), whatever the store's size.
-- What a query derives from every entry (the sorted matches of an $orderby, the count of a $filter) is kept as a
-- memo until the store changes (version: an add, a remove, a touch after a write) or a running license sync is due.
local util = require "vpptoken_sandbox.util"
local applefile = require "vpptoken_sandbox.applefile"
local crypto = require "vpptoken_sandbox.crypto"

local store = {}

local Store = { __name = "vpptoken_sandbox.Store" }
Store.__index = Store

-- epoch: names this store among all the sandbox has made (a tenant's, the one before a reset), so a cursor
-- made on one is not taken by another.
function store.new()
  return setmetatable({ entries = {}, by_id = {}, next_seq = 1, removed = 0, epoch = util.hex(crypto.random(8)),
                        version = 0, memos = {}, memo_count = 0 }, Store)
end

-- Marks the store changed: a write to an entry's properties, licenses or sync.
function Store:touch()
  self.version = self.version + 1
end

local MEMOS = 4 -- memos kept at once (past it, all are dropped)

-- The value build() derives from every entry, kept for key until the store changes or until due, the time the
-- earliest license sync still running completes (build returns value, due or nil).
function Store:memo(key, now, build)
  local m = self.memos[key]
  if m and m.version == self.version and (m.due == nil or now < m.due) then return m.value end
  local value, due = build()
  if not m then
    self.memo_count = self.memo_count + 1
    if self.memo_count > MEMOS then self.memos, self.memo_count = {}, 1 end
  end
  self.memos[key] = { version = self.version, due = due, value = value }
  return value
end

local COMPACT_MIN = 64 -- removed entries below this many stay in place whatever the size

-- Drops the removed entries from the array (one pass).
function Store:compact()
  if self.removed == 0 then return end
  local entries, n = self.entries, 0
  for i = 1, #entries do
    local e = entries[i]
    entries[i] = nil
    if not e.removed then
      n = n + 1
      entries[n] = e
    end
  end
  self.removed = 0
end

-- Appends entry (seq greater than every other's), as a load from --data does; returns it.
function Store:append(entry)
  self:touch()
  self.entries[#self.entries + 1] = entry
  self.by_id[entry.id] = entry
  if entry.seq >= self.next_seq then self.next_seq = entry.seq + 1 end
  return entry
end

-- Adds a token with the given properties (and id, a new GUID when nil); returns its entry.
function Store:add(props, id)
  if id == nil then
    id = util.guid()
    while self.by_id[id] do id = util.guid() end
  end
  props.id = id
  return self:append({ seq = self.next_seq, id = id, props = props })
end

-- Ids compare without regard to case, as GUIDs do.
function Store:get(id)
  return self.by_id[id:lower()]
end

function Store:remove(id)
  local entry = self:get(id)
  if not entry then return false end
  self:touch()
  self.by_id[entry.id] = nil
  entry.removed = true
  self.removed = self.removed + 1
  if self.removed >= COMPACT_MIN and self.removed * 2 >= #self.entries then self:compact() end
  return true
end

-- The position in entries of the first entry created after the one numbered seq (0: the first), removed or
-- not; #entries + 1 when there is none. Stable when entries are added or removed meanwhile, including the
-- entry seq itself.
function Store:index_after(seq)
  local entries = self.entries
  local lo, hi = 1, #entries + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if entries[mid].seq > seq then hi = mid else lo = mid + 1 end
  end
  return lo
end

-- The position in entries of the k-th entry (1-based) that is not removed; #entries + 1 past the last.
-- O(1) unless entries were removed since the last compaction (then one compaction).
function Store:index_of(k)
  self:compact()
  return math.min(k, #self.entries + 1)
end

-- Iterates over the entries that are not removed, oldest first.
function Store:each()
  local entries, i = self.entries, 0
  return function()
    repeat
      i = i + 1
      local e = entries[i]
      if e == nil or not e.removed then return e end
    until false
  end
end

function Store:count()
  return #self.entries - self.removed
end

-- Completes a license sync whose time has come (evaluated lazily on every read). Returns the time a sync that is
-- still running completes, or nil.
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
  if entry.sync_done_at and entry.props.lastSyncStatus == "inProgress" then return entry.sync_done_at end
  return nil
end

-- The earlier of two times, either of which may be nil.
function store.earlier(a, b)
  if a == nil or (b ~= nil and b < a) then return b end
  return a
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
