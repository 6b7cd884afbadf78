-- --journal FILE: one JSON line per request (everything but GET /health and /_sandbox/*), appended
-- and flushed as the answer is made: time, method, path (with the query), headers and body with
-- secrets redacted, status, request-id, client-request-id, duration_ms and the injected fault.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local reqlog = require "vpptoken_sandbox.reqlog"

local has_native, native = pcall(require, "vpptoken_sandbox.native")

local journal = {}

journal.SECRET_KEYS = { "token", "client_secret", "client_assertion", "access_token", "refresh_token", "device_code",
                        "password" }
local SECRET = {}
for _, k in ipairs(journal.SECRET_KEYS) do SECRET[k] = true end

local Journal = { __name = "vpptoken_sandbox.Journal" }
Journal.__index = Journal

-- Opens path for appending (created readable by its owner only); raises when it cannot.
function journal.open(path)
  local created, cerr = true, nil
  if has_native then created, cerr = native.create_private(path) end
  if not created then util.refuse("--journal " .. tostring(cerr)) end
  local f, err = io.open(path, "ab")
  if not f then util.refuse("--journal " .. tostring(err)) end
  return setmetatable({ file = f, path = path }, Journal)
end

-- Body text with the value of every secret member (JSON) or field (form encoding) replaced; names
-- are compared decoded (JSON escapes, percent-encoding) and without case.
function journal.redact_body(s)
  s = reqlog.redact_body(s, journal.SECRET_KEYS)
  return (s:gsub("([^&?]*)=([^&]*)", function(k, v)
    local name = util.url_decode(k):lower()
    if SECRET[name] and v ~= "<redacted>" then return k .. "=<redacted>" end
  end))
end

-- Writes the line for one answered request. started: util.now() when it came in; delivery: the
-- 4th value of the handler (nil, or { kind, delay, action }).
function Journal:write(req, ctx, status, delivery, started)
  local d = delivery or {}
  local entry = {
    time = util.datetime(started),
    method = req.method,
    path = req.path .. ((req.query or "") ~= "" and ("?" .. req.query) or ""),
    headers = reqlog.redact_headers(req.headers),
    body = journal.redact_body(req.body or ""),
    status = status,
    ["request-id"] = ctx.request_id,
    ["client-request-id"] = ctx.client_request_id,
    duration_ms = math.floor(((util.now() - started) + (d.delay or 0)) * 1000 * 1000 + 0.5) / 1000,
    fault = d.kind or json.null,
  }
  if d.action == "reset" then entry.status = json.null end
  self.file:write(json.encode(entry), "\n")
  self.file:flush()
end

function Journal:close()
  if self.file then self.file:close() end
  self.file = nil
end

return journal
