-- The log of Graph requests that GET /_sandbox/requests shows. Secrets never enter it: the
-- Authorization value becomes "<scheme> <redacted>", every "token" value in a body "<redacted>".
local json = require "vpptoken_sandbox.json"

local reqlog = {}

reqlog.LIMIT = 10000 -- oldest entries are dropped past this many
reqlog.BODY_LIMIT = 64 * 1024 -- a logged body keeps its first BODY_LIMIT bytes (then body_truncated = true)
reqlog.BYTES_LIMIT = 8 * 1024 * 1024 -- oldest entries are dropped while the log holds more bytes than this

local Log = { __name = "vpptoken_sandbox.RequestLog" }
Log.__index = Log

-- The entries are a ring of LIMIT slots (LIMIT as it was when the log was made or cleared): the k-th request
-- recorded sits in slot (k - 1) % LIMIT + 1, and first..last are the numbers of the oldest and newest kept. A
-- request costs O(1) (amortized, when the byte limit drops several), however full the log is.
function reqlog.new()
  local log = setmetatable({}, Log)
  log:clear()
  return log
end

function Log:slot(k)
  return (k - 1) % self.capacity + 1
end

local function skip_ws(s, i)
  return s:match("^[ \t\r\n]*()", i)
end

-- End (exclusive) of the JSON string starting at the quote at i, or nil.
local function string_end(s, i)
  local j = i + 1
  while true do
    local k = s:find('[\\"]', j)
    if not k then return nil end
    if s:sub(k, k) == '"' then return k + 1 end
    j = k + 2
  end
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
local KEY_MAX = 512 -- raw bytes of a member name worth decoding (the secret names are short)

-- The text of a JSON string's raw content (between its quotes), escapes decoded; nil when malformed.
local function decode_string(raw)
  if not raw:find("\\", 1, true) then return raw end
  local out, i = {}, 1
  while i <= #raw do
    local k = raw:find("\\", i, true)
    if not k then
      out[#out + 1] = raw:sub(i)
      break
    end
    out[#out + 1] = raw:sub(i, k - 1)
    local c = raw:sub(k + 1, k + 1)
    if c == "u" then
      local hex = raw:match("^%x%x%x%x", k + 2)
      if not hex then return nil end
      out[#out + 1] = utf8.char(tonumber(hex, 16))
      i = k + 6
    elseif ESCAPES[c] then
      out[#out + 1] = ESCAPES[c]
      i = k + 2
    else
      return nil
    end
  end
  return table.concat(out)
end

-- Replaces the value of every member whose decoded name is "token" (or, with keys, one of keys: a
-- name or a list of names; compared without case) with "<redacted>", keeping the rest of the text as
-- it was (works on invalid JSON too; the values of non-string members are replaced as well).
function reqlog.redact_body(s, keys)
  local wanted = {}
  if type(keys) == "table" then
    for _, k in ipairs(keys) do wanted[k:lower()] = true end
  else
    wanted[(keys or "token"):lower()] = true
  end
  local out, pos, scan = {}, 1, 1
  while true do
    local q = s:find('"', scan, true)
    if not q then break end
    local qend = string_end(s, q)
    if not qend then break end
    scan = qend
    local colon = skip_ws(s, qend)
    local name = s:sub(colon, colon) == ":" and qend - q - 2 <= KEY_MAX and decode_string(s:sub(q + 1, qend - 2))
    if name and wanted[name:lower()] then
      local vstart = skip_ws(s, colon + 1)
      local vend
      if s:sub(vstart, vstart) == '"' then
        vend = string_end(s, vstart) or (#s + 1)
      else
        vend = s:match("^[^,}%]]*()", vstart)
        while vend > vstart and s:sub(vend - 1, vend - 1):match("%s") do vend = vend - 1 end
      end
      out[#out + 1] = s:sub(pos, vstart - 1)
      out[#out + 1] = vend > vstart and '"<redacted>"' or ""
      pos, scan = vend, vend
    end
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

-- Headers that are a secret themselves (App Service's managed-identity header).
local SECRET_HEADERS = { ["x-identity-header"] = true }

function reqlog.redact_headers(headers)
  local out = {}
  for k, v in pairs(headers) do
    if SECRET_HEADERS[k] then
      out[k] = "<redacted>"
    elseif k == "authorization" then
      local scheme = v:match("^%s*(%S+)%s+%S")
      out[k] = scheme and (scheme .. " <redacted>") or "<redacted>"
    else
      out[k] = v
    end
  end
  return out
end

-- The bytes an entry holds, as the log counts them against BYTES_LIMIT.
local function size_of(entry)
  local n = #entry.method + #entry.path + #entry.body
  for k, v in pairs(entry.headers) do n = n + #k + #v end
  return n
end

-- Records a request (before it is handled); returns the entry, whose status the caller sets.
-- A $batch sub-request carries req.batch, the request-id of its $batch request. The body is redacted
-- whole, then cut to BODY_LIMIT bytes; the oldest entries go past LIMIT entries or BYTES_LIMIT bytes.
function Log:record(req)
  local body = reqlog.redact_body(req.body or "")
  local truncated = nil
  if #body > reqlog.BODY_LIMIT then
    body, truncated = body:sub(1, reqlog.BODY_LIMIT), true
  end
  local entry = {
    batch = req.batch,
    method = req.method,
    path = req.path .. (req.query ~= "" and ("?" .. req.query) or ""),
    headers = reqlog.redact_headers(req.headers),
    body = body,
    body_truncated = truncated,
  }
  entry.size = size_of(entry)
  local slots = self.slots
  if self.last - self.first + 1 == self.capacity then self:drop_oldest() end
  self.last = self.last + 1
  slots[self:slot(self.last)] = entry
  self.bytes = self.bytes + entry.size
  while self.last > self.first and self.bytes > reqlog.BYTES_LIMIT do self:drop_oldest() end
  return entry
end

function Log:drop_oldest()
  local at = self:slot(self.first)
  self.bytes = self.bytes - self.slots[at].size
  self.slots[at] = nil
  self.first = self.first + 1
end

function Log:clear()
  self.slots, self.capacity, self.first, self.last, self.bytes = {}, reqlog.LIMIT, 1, 0, 0
end

-- The JSON value of GET /_sandbox/requests.
function Log:export()
  local value = json.array()
  for k = self.first, self.last do
    local e = self.slots[self:slot(k)]
    value[#value + 1] = { method = e.method, path = e.path, headers = e.headers, status = e.status or json.null,
                          body = e.body, body_truncated = e.body_truncated, batch = e.batch }
  end
  return { value = value }
end

return reqlog
