--- The vpptoken command line: the token ids shell completion offers. A `list` that succeeds keeps the ids it
-- listed, each with a short label (appleId and organization), in `$XDG_CACHE_HOME/vpptoken/ids.json`
-- (fileio.cache_dir: 0600 in a 0700 directory, replaced atomically), under the place it listed (cloud, Graph URL,
-- tenant, client id, --beta), so one tenant's ids are never offered for another. Never a token, secret or
-- access token. `vpptoken __complete-ids [--labels] [FLAGS]`, which the completion scripts run, prints the ids
-- kept for the place the flags and the environment name, one a line, when they are at most MAX_AGE old; it never
-- touches the network, and prints nothing (exit 0) when there is no cache or it is unreadable, not private, or
-- not what this module writes.
local vpptoken = require "vpptoken"
local cjson = require "cjson.safe"
local fileio = require "vpptoken.fileio"
local json = require "vpptoken.json"
local safe_text = require "vpptoken.text"

local M = {}

--- The hidden command the completion scripts run.
M.COMMAND = "__complete-ids"
--- Seconds a listing's ids are offered after it: later, they may name tokens since deleted.
M.MAX_AGE = 3600
-- Bounds of the cache: ids kept per place, places kept (the newest), a label's bytes, an id's, the file's size.
M.LIMITS = { ids = 1000, places = 8, label_bytes = 60, id_bytes = 64, file_bytes = 1024 * 1024 }

local FILE_NAME = "ids.json"
local VERSION = 1

--- The cache file's path, or nil and why (neither XDG_CACHE_HOME nor HOME set).
function M.path(getenv)
  local dir, why = fileio.cache_dir(getenv)
  if not dir then return nil, why end
  return dir .. "/" .. FILE_NAME
end

--- Whether text is shaped like a token id (what completion may offer): letters, digits and dashes, at most
-- LIMITS.id_bytes (Graph's ids are GUIDs). Anything else, a shell could take for more than a word.
function M.id_shaped(text)
  return type(text) == "string" and #text <= M.LIMITS.id_bytes and text:match("^%w[%w%-]*$") ~= nil
end

--- The global flags `place` reads (and the completion scripts pass on from the line).
M.PLACE_FLAGS = { "cloud", "graph-url", "tenant", "client-id", "beta" }

--- The place a command works on, from its global flags (opts, as args.parse gives them) over the environment:
-- the cloud, the Graph URL, the tenant, the client id and --beta, one line each.
function M.place(opts, getenv)
  getenv = getenv or os.getenv
  local where = vpptoken._where_env(getenv)
  local function pick(flag, var)
    local v = flag
    if v == nil or v == "" then v = getenv(var) end
    return (v ~= nil and v ~= "") and v or ""
  end
  return table.concat({ opts.cloud or where.cloud or "", opts.graph_url or where.base_url or "",
                        pick(opts.tenant, "AZURE_TENANT_ID"), pick(opts.client_id, "AZURE_CLIENT_ID"),
                        opts.beta and "beta" or "" }, "\n")
end

-- A token's label: "appleId (organization)", printable, at most LIMITS.label_bytes (cut at a character's start).
local function label_of(tok)
  local apple = type(tok.appleId) == "string" and tok.appleId or ""
  local org = type(tok.organizationName) == "string" and tok.organizationName or ""
  local text = apple ~= "" and org ~= "" and (apple .. " (" .. org .. ")") or (apple .. org)
  text = safe_text.printable(text)
  if #text > M.LIMITS.label_bytes then
    local cut = M.LIMITS.label_bytes
    while cut > 0 and text:byte(cut + 1) and text:byte(cut + 1) >= 0x80 and text:byte(cut + 1) < 0xC0 do
      cut = cut - 1
    end
    text = text:sub(1, cut)
  end
  return text
end

-- The places of a decoded cache, as written (each checked when read by `ids_for`), or {}.
local function places_of(doc)
  if type(doc) ~= "table" or doc.version ~= VERSION or type(doc.places) ~= "table" then return {} end
  local out = {}
  for _, p in ipairs(doc.places) do
    if #out >= M.LIMITS.places then break end
    if type(p) == "table" and type(p.place) == "string" and type(p.saved_at) == "number"
        and type(p.ids) == "table" then
      out[#out + 1] = p
    end
  end
  return out
end

-- The decoded places of the cache file at path: {} for none, an unreadable, foreign or group-readable file, or
-- anything else than this module writes. Never raises.
local function read_places(path)
  if not fileio.check_private(path) then return {} end
  local text = fileio.read(path, M.LIMITS.file_bytes, "token id cache")
  if not text then return {} end
  return places_of((json.decode(text))) -- (never raises: nil for text that is not JSON)
end

--- Keeps the ids of `tokens` (a list of token tables, as listed) for `place` at time `now` (os.time()): they
-- replace what the place had; the other places stay, the newest LIMITS.places of them. true, or nil and why
-- (the directory or file refused, no HOME): a caller listing tokens goes on regardless.
function M.save(place, tokens, now, getenv)
  local path, why = M.path(getenv)
  if not path then return nil, why end
  local ok, dir, dwhy = fileio.private_dir_of(path)
  if not ok then return nil, tostring(dir) .. ": " .. tostring(dwhy) end
  local ids, seen = {}, {}
  for _, tok in ipairs(tokens) do
    if #ids >= M.LIMITS.ids then break end
    if type(tok) == "table" and M.id_shaped(tok.id) and not seen[tok.id] then
      seen[tok.id] = true
      ids[#ids + 1] = setmetatable({ tok.id, label_of(tok) }, cjson.array_mt)
    end
  end
  local places = { { place = place, saved_at = now, ids = setmetatable(ids, cjson.array_mt) } }
  for _, p in ipairs(read_places(path)) do
    if #places >= M.LIMITS.places then break end
    if p.place ~= place then places[#places + 1] = p end
  end
  local text = cjson.encode{ version = VERSION, places = setmetatable(places, cjson.array_mt) }
  if not text then return nil, "cannot encode the token id cache" end
  local written, werr = fileio.replace_private(path, text)
  if not written then return nil, werr end
  return true
end

--- The ids kept for `place`, as { { id, label }, ... } in listed order: none when the listing is older than
-- MAX_AGE at `now` (or dated after it), or when the cache is missing or not to be trusted. Never raises.
function M.ids_for(place, now, getenv)
  local path = M.path(getenv)
  if not path then return {} end
  for _, p in ipairs(read_places(path)) do
    if p.place == place then
      local age = now - p.saved_at
      if age < 0 or age > M.MAX_AGE then return {} end
      local out = {}
      for _, e in ipairs(p.ids) do
        if #out >= M.LIMITS.ids then break end
        if type(e) == "table" and M.id_shaped(e[1]) then
          local label = type(e[2]) == "string" and #e[2] <= M.LIMITS.label_bytes
            and safe_text.printable(e[2]) or ""
          out[#out + 1] = { e[1], label }
        end
      end
      return out
    end
  end
  return {}
end

--- What `vpptoken __complete-ids` prints: the ids, one a line, with `labels` each followed by a tab and its label.
function M.lines(list, labels)
  local out = {}
  for i, e in ipairs(list) do
    out[i] = (labels and e[2] ~= "") and (e[1] .. "\t" .. e[2]) or e[1]
  end
  return #out > 0 and (table.concat(out, "\n") .. "\n") or ""
end

return M
