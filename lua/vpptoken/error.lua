--- Error objects: what every run-time failure of vpptoken returns as the second value of `nil, err`.
-- Fields: kind, status, code, message, request_id, client_request_id, date, retry_after, method, url,
-- attempts, outcome_unknown (a write that may have reached the server), operation_id, activity_id.
local core = require "vpptoken.core"
local json = require "vpptoken.json"

local safe_text = require "vpptoken.text"
local compat = require "vpptoken.compat"

local M = {}

local Error = { __name = "vpptoken.Error" }
Error.__index = Error
M.Error = Error

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [412] = "Precondition Failed", [413] = "Payload Too Large",
  [424] = "Failed Dependency", [429] = "Too Many Requests", [500] = "Internal Server Error",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout", [507] = "Insufficient Storage",
}

--- Bytes of a server's text (a message, a code, a request id) an error keeps: a 64 MiB message must not become a
-- 64 MiB error, kept per failed token by sync_all and escaped again by every tostring.
M.MAX_TEXT = 4096

-- At most M.MAX_TEXT bytes of a text, with a mark when it was cut.
local function capped(s)
  if type(s) ~= "string" or #s <= M.MAX_TEXT then return s end
  return s:sub(1, M.MAX_TEXT) .. string.format("... (%d bytes more)", #s - M.MAX_TEXT)
end

-- A message on one line, with the control characters a server may have put in it shown as escapes (an error is
-- printed to logs and terminals).
local function one_line(s)
  return safe_text.printable((tostring(capped(s)):gsub("[\r\n]+", " ")))
end

-- Every field is shown through one_line: code, request id and message may all come from a server. M.text is the
-- same without the "vpptoken: " in front (for a line that already says where it comes from).
local function error_text(e)
  local head
  if compat.math_type(e.status) == "integer" then
    head = string.format("[HTTP %d][%s]", e.status, one_line(e.code or "?"))
  else
    head = string.format("[%s][%s]", one_line(e.kind or "error"), one_line(e.code or "?"))
  end
  local where = {}
  if e.method and e.url then where[#where + 1] = one_line(e.method .. " " .. e.url) end
  if e.request_id then where[#where + 1] = "request-id " .. one_line(e.request_id) end
  if compat.math_type(e.attempts) == "integer" and e.attempts > 1 then where[#where + 1] = e.attempts .. " attempts" end
  if e.outcome_unknown then where[#where + 1] = "outcome unknown: the request may have reached the server" end
  local tail = #where > 0 and (" (" .. table.concat(where, "; ") .. ")") or ""
  return head .. " " .. one_line(e.message or "") .. tail
end

function Error.__tostring(e)
  return "vpptoken: " .. error_text(e)
end

--- An error object's one-line text without the "vpptoken: " that tostring puts in front.
function M.text(e)
  return error_text(e)
end

--- Makes an error object from a table of fields.
function M.new(fields)
  return setmetatable(fields, Error)
end

--- Whether `v` is a vpptoken error object.
function M.is(v)
  return getmetatable(v) == Error
end

local function kind_of_status(status)
  if status == 401 or status == 403 then return "auth" end
  if status == 404 then return "not_found" end
  if status == 429 then return "throttled" end
  if status >= 500 then return "server" end
  if status >= 400 then return "bad_request" end
  return "http"
end

-- Intune puts a JSON document inside `message` ({"_version":3,"Message":"text - Operation ID ...: guid - ..."}),
-- which a gateway may wrap once more. Returns the readable text and the ids found in it.
local function unwrap_message(msg)
  local info = {}
  for _ = 1, 3 do
    if type(msg) ~= "string" or not msg:match("^%s*{") then break end
    local inner = json.decode(msg)
    if type(inner) ~= "table" then break end
    local text = inner.Message or inner.message
    if type(text) ~= "string" then break end
    msg = text
  end
  if type(msg) ~= "string" then return nil, info end
  info.operation_id = msg:match("Operation ID %(for customer support%): ([%x%-]+)")
  info.activity_id = msg:match("Activity ID: ([%x%-]+)")
  -- "text - Operation ID ...": found with a pattern that starts at a literal, in linear time ("^(.-)%s+%-%s+..."
  -- backtracks over every run of spaces, hours for a server's megabyte of them)
  local at = msg:find("%-%s+Operation ID")
  local short = at and safe_text.trim(msg:sub(1, at - 1)) or msg
  return short, info
end

-- Reads a Graph error body ({"error":{code,message,innerError}}) or an identity platform error
-- ({"error":"invalid_client","error_description":...}); tolerant of every variant in the contract.
local function parse_body(body)
  local doc = type(body) == "string" and body ~= "" and json.decode(body) or nil
  if type(doc) ~= "table" then return {} end
  local e = doc.error
  if type(e) == "string" then
    return { code = e, message = type(doc.error_description) == "string" and doc.error_description or nil,
             trace_id = doc.trace_id, correlation_id = doc.correlation_id }
  end
  if type(e) ~= "table" then return {} end
  local out = { code = type(e.code) == "string" and e.code or nil }
  out.message, out.info = unwrap_message(e.message)
  local inner = e.innerError or e.innererror or e.InnerError
  if type(inner) == "table" then
    local date = inner.date or inner.Date
    out.date = type(date) == "string" and date or nil
    local rid, crid = inner["request-id"], inner["client-request-id"]
    out.request_id = type(rid) == "string" and rid or nil
    out.client_request_id = type(crid) == "string" and crid or nil
  end
  return out
end

-- Bytes of a secret's start looked for in a server's text: what follows a match, for the secret's length, is
-- replaced (linear in the text, whatever the secret's length).
local MARK = 32

-- A server's text with every secret in it as "<redacted>": only the part an error keeps (MAX_TEXT bytes, and a
-- secret that starts within them) is looked at and kept.
local function redact(s, secrets)
  if type(s) ~= "string" then return s end
  local head, out, from = s:sub(1, M.MAX_TEXT + MARK), {}, 1
  while true do
    local at, len, whole
    for _, secret in ipairs(secrets) do
      if type(secret) == "string" and secret ~= "" then
        local i = head:find(secret:sub(1, MARK), from, true)
        -- at one place, the secret whose whole text is there wins (forms of one secret share its first bytes:
        -- "...+x" and "...%2Bx"), else the longest
        local full = i and head:sub(i, i + #secret - 1) == secret
        if i and (not at or i < at or (i == at and ((full and not whole) or (full == whole and #secret > len)))) then
          at, len, whole = i, #secret, full
        end
      end
    end
    if not at then break end
    out[#out + 1] = head:sub(from, at - 1) .. "<redacted>"
    from = at + len
  end
  out[#out + 1] = head:sub(from)
  out[#out + 1] = s:sub(math.max(from, #head + 1)) -- beyond what an error shows: kept for capped's count
  return table.concat(out)
end

-- The fields of an error a server wrote (in its body or headers): every one is shown somewhere (tostring, JSON
-- output, the on_request hook), so every one is redacted.
local SERVER_TEXT = { "code", "message", "request_id", "client_request_id", "date", "trace_id", "correlation_id",
                      "operation_id", "activity_id" }

-- The shortest secret looked for: a shorter value (a test's access token "t") would be found in any text by chance
-- and cut it to pieces, while showing it tells nothing (every real secret, token and code is far longer).
local MIN_SECRET = 8

-- Each secret as a server may echo it: as sent, percent-encoded (upper- and lower-case hex: a form body, a URL) and
-- form-encoded (a space as "+").
local function echo_forms(secrets)
  local out, seen = {}, {}
  local function add(v)
    if not seen[v] then seen[v], out[#out + 1] = true, v end
  end
  for _, secret in pairs(secrets) do -- pairs: a list may have holes ({ client_secret, client_assertion }, one nil)
    if type(secret) == "string" and #secret >= MIN_SECRET then
      local escaped = core.escape(secret)
      add(secret)
      add(escaped)
      add((escaped:gsub("%%%x%x", string.lower)))
      add((escaped:gsub("%%20", "+")))
      add((secret:gsub(" ", "+")))
    end
  end
  return out
end

--- An error from an HTTP response with status >= 400 (resp as returned by Session:request). `secrets`: an optional
-- list of what the request carried that must never be shown (an identity header, a client secret, an assertion, a
-- refresh token, a device code, the access token): a server that echoes one, as sent or form-encoded, in any field
-- of its error (body or headers) has it replaced by "<redacted>".
function M.from_response(resp, method, url, secrets)
  local p = parse_body(resp.body)
  local h = resp.headers or {}
  local info = p.info or {}
  local message = p.message
  if not message or message == "" then message = REASONS[resp.status] or ("HTTP status " .. resp.status) end
  local e = {
    kind = kind_of_status(resp.status), status = resp.status,
    code = p.code or (REASONS[resp.status] or "HTTP"):gsub(" ", ""),
    message = message, request_id = h["request-id"] or p.request_id,
    client_request_id = h["client-request-id"] or p.client_request_id or resp.client_request_id,
    date = p.date or h["date"], retry_after = resp.retry_after, method = method, url = url,
    attempts = resp.attempts, operation_id = info.operation_id, activity_id = info.activity_id,
    trace_id = p.trace_id, correlation_id = p.correlation_id,
  }
  local forms = secrets and next(secrets) ~= nil and echo_forms(secrets)
  for _, k in ipairs(SERVER_TEXT) do
    if forms then e[k] = redact(e[k], forms) end
    e[k] = capped(e[k])
  end
  return M.new(e)
end

--- The error of a call that a task's cancel ended (vpptoken.async): kind "cancelled", code "Cancelled", with
-- outcome_unknown when the request was a write that may already have reached the server.
function M.cancelled(method, url, outcome_unknown, message)
  return M.new{ kind = "cancelled", code = "Cancelled", method = method, url = url,
    outcome_unknown = outcome_unknown or nil, message = message or "the call was cancelled" }
end

--- An error from a transport failure (the table Session:request returns with nil).
function M.from_transport(t)
  return M.new{
    kind = t.kind, code = t.code, message = t.message, method = t.method, url = t.url, attempts = t.attempts,
    client_request_id = t.client_request_id, outcome_unknown = t.outcome_unknown or nil,
  }
end

return M
