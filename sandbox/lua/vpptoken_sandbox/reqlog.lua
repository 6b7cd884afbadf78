-- The log of Graph requests that GET /_sandbox/requests shows. Secrets never enter it: the
-- Authorization value becomes "<scheme> <redacted>", every "token" value in a body "<redacted>".
local json = require "vpptoken_sandbox.json"

local reqlog = {}

reqlog.LIMIT = 10000 -- oldest entries are dropped past this many
reqlog.BODY_LIMIT = 64 * 1024 -- a logged body keeps its first BODY_LIMIT bytes (then body_truncated = true)
reqlog.BYTES_LIMIT = 8 * 1024 * 1024 -- oldest entries are dropped while the log holds more bytes than this

local Log = { __name = "vpptoken_sandbox.RequestLog" }
Log.__index = Log

function reqlog.new()
  return setmetatable({ entries = {}, bytes = 0 }, Log)
end

local function skip_ws(s, i)
  return s:match("^[ \t\r\n]*()", i)
end

-- End (exclusive) of the JSON string starting at the quote at i, or nil.
local function string_end(s, i)
  local j = i + 1
  while j <= #s do
    local c = s:sub(j, j)
    if c == "\\" then
      j = j + 2
    elseif c == '"' then
      return j + 1
    else
      j = j + 1
    end
  end
  return nil
end

-- Replaces the value of every "token" member with "<redacted>", keeping the rest of the text as
-- it was (works on invalid JSON too; the values of non-string tokens are replaced as well).
-- key: the member name to redact instead of "token".
function reqlog.redact_body(s, key)
  local out, pos = {}, 1
  local quoted = '"' .. (key or "token") .. '"'
  while true do
    local k1, k2 = s:find(quoted, pos, true)
    if not k1 then break end
    local colon = skip_ws(s, k2 + 1)
    if s:sub(colon, colon) ~= ":" then
      out[#out + 1] = s:sub(pos, k2)
      pos = k2 + 1
    else
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
      pos = vend
    end
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

function reqlog.redact_headers(headers)
  local out = {}
  for k, v in pairs(headers) do
    if k == "authorization" then
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
  local entries = self.entries
  entries[#entries + 1] = entry
  self.bytes = self.bytes + entry.size
  local drop = 0
  while #entries - drop > 1 and (#entries - drop > reqlog.LIMIT or self.bytes > reqlog.BYTES_LIMIT) do
    drop = drop + 1
    self.bytes = self.bytes - entries[drop].size
  end
  if drop > 0 then
    local n = #entries
    table.move(entries, drop + 1, n, 1)
    for i = n - drop + 1, n do entries[i] = nil end
  end
  return entry
end

function Log:clear()
  self.entries = {}
  self.bytes = 0
end

-- The JSON value of GET /_sandbox/requests.
function Log:export()
  local value = json.array()
  for i, e in ipairs(self.entries) do
    value[i] = { method = e.method, path = e.path, headers = e.headers, status = e.status or json.null,
                 body = e.body, body_truncated = e.body_truncated, batch = e.batch }
  end
  return { value = value }
end

return reqlog
