-- --data FILE: the store on disk. Loaded once at start, saved (atomically, through the C side's write_atomic: a new
-- FILE.sandbox-save-XXXXXX, mode 0600, fsync, rename) after every change, before the answer goes out, so an
-- acknowledged write is on disk. A save cut short by SIGKILL or a crash leaves that copy: the next start removes it
-- (and an older version's FILE.XXXXXX, when it is a store cut short).
local json = require "vpptoken_sandbox.json"
local store = require "vpptoken_sandbox.store"
local util = require "vpptoken_sandbox.util"

local persist = {}

local has_native, native = pcall(require, "vpptoken_sandbox.native")

local FORMAT = "vpptoken-sandbox-store/1"
-- How every store file begins (json.encode sorts the members: "format" comes first).
local HEAD = '{"format":"' .. FORMAT .. '"'

-- The store as the file's JSON text.
function persist.encode(s)
  local tokens = json.array()
  for e in s:each() do
    tokens[#tokens + 1] = { seq = e.seq, id = e.id, props = e.props, sync_done_at = e.sync_done_at }
  end
  return json.encode({ format = FORMAT, next_seq = s.next_seq, tokens = tokens }) .. "\n"
end

-- A store from the file's text; nil, message when it is not one.
function persist.decode(text)
  local t, err = json.decode(text)
  if type(t) ~= "table" or t.format ~= FORMAT or type(t.tokens) ~= "table" then
    return nil, "not a vpptoken-sandbox store" .. (err and (" (" .. err .. ")") or "")
  end
  local s, list = store.new(), {}
  for i, tok in ipairs(t.tokens) do
    if type(tok) ~= "table" or type(tok.id) ~= "string" or type(tok.props) ~= "table"
        or not math.tointeger(tok.seq) then
      return nil, "token " .. i .. " is malformed"
    end
    -- top-level tables in a token are arrays (roleScopeTagIds, tokenActionResults)
    for k, v in pairs(tok.props) do
      if type(v) == "table" then tok.props[k] = json.array(v) end
    end
    local id = tok.id:lower()
    local entry = { seq = math.tointeger(tok.seq), id = id, props = tok.props,
                    sync_done_at = type(tok.sync_done_at) == "number" and tok.sync_done_at or nil }
    list[i] = entry
  end
  -- the store's index is creation order
  table.sort(list, function(a, b) return a.seq < b.seq end)
  for i, entry in ipairs(list) do
    if s.by_id[entry.id] or (i > 1 and list[i - 1].seq == entry.seq) then
      return nil, "token " .. entry.id .. " repeats an id or a creation number"
    end
    s:append(entry)
  end
  s.next_seq = math.max(math.tointeger(t.next_seq) or 1, s.next_seq)
  return s
end

-- Loads path into a new store; a missing file is an empty store. Refuses (util.refuse) a bad file. First removes
-- the copies a save killed mid-write left, and returns their count second.
function persist.load(path)
  local removed = has_native and native.remove_stale_copies(path, HEAD) or 0
  local f = io.open(path, "rb")
  if not f then return store.new(), removed end
  local text = f:read("a")
  f:close()
  local s, err = persist.decode(text)
  if not s then util.refuse("--data " .. path .. ": " .. err) end
  return s, removed
end

-- Saves the store; returns true or nil, message.
function persist.save(path, s)
  if not has_native then return nil, "no native write_atomic" end
  return native.write_atomic(path, persist.encode(s))
end

return persist
