--- Notifications from automation: a JSON document POSTed to a webhook (Microsoft Teams, Slack, a ticket system)
-- over the C core's session, with the library's transport rules (https only, except plain http to loopback; TLS
-- verification always on; retries of 429 and 503 honouring Retry-After).
-- @module vpptoken
local cjson = require "cjson.safe"
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local safe_text = require "vpptoken.text"
local options = require "vpptoken.options"

local M = {}

-- The transport options of the C core, less those a webhook must not change (TLS stays verified, HTTP/2 and the
-- size cap as they are), plus headers.
local OPTIONS = { headers = true }
for _, k in ipairs(core.session_options) do OPTIONS[k] = true end
OPTIONS.insecure, OPTIONS.http2, OPTIONS.max_response_size = nil, nil, nil

--- POSTs `doc` as JSON to `url` (a webhook) and returns true, the HTTP status; or nil and an error object (any
-- answer outside 200..299, or a transport failure; `err.url` shows only the scheme and host, because a webhook
-- URL's path and query are its secret). `doc` is a table (encoded with lua-cjson) or a string of JSON text.
-- Only https:// URLs, except plain http:// to a loopback address (127.0.0.0/8, localhost, [::1]); TLS
-- certificates are always verified. opts: timeout (seconds, default 30), connect_timeout, cafile, capath, proxy,
-- user_agent, max_retries (default 2: only 429 and 503 are retried for a POST), retry_delay (default 1),
-- max_retry_time (default 30), headers (extra request headers). Raises on a bad URL, document or option.
function M.post_json(url, doc, opts)
  if type(url) ~= "string" then error("post_json: url must be a string (got " .. type(url) .. ")", 2) end
  local origin, why = core.check_url(url) -- the library's one URL policy
  if not origin then error("post_json: url must be an https:// URL (" .. why .. ")", 2) end
  local body
  if type(doc) == "table" then
    local msg
    body, msg = cjson.encode(doc)
    if not body then error("post_json: the document cannot be encoded as JSON: " .. tostring(msg), 2) end
  elseif type(doc) == "string" then
    body = doc
  else
    error("post_json: doc must be a table or a string of JSON text (got " .. type(doc) .. ")", 2)
  end
  opts = options.check(opts, "post_json", OPTIONS, 2)
  local sopts = { timeout = 30, max_retries = 2, retry_delay = 1, max_retry_time = 30 }
  for k, v in pairs(opts) do
    if k ~= "headers" then sopts[k] = v end
  end
  local headers = { ["Content-Type"] = "application/json; charset=utf-8", Accept = "*/*" }
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then error("post_json: headers must be a table", 2) end
    for k, v in pairs(opts.headers) do headers[k] = v end
  end
  if sopts.user_agent == nil then sopts.user_agent = "vpptoken/" .. core._VERSION end
  local ok, session = pcall(core.session, sopts)
  if not ok then error("post_json: " .. tostring(session), 2) end
  local safe_url = origin .. "/..."
  local rok, resp, terr = pcall(session.request, session, "POST", url, headers, body)
  session:close()
  if not rok then error("post_json: " .. tostring(resp), 2) end
  if not resp then
    terr.url = safe_url
    return nil, errors.from_transport(terr)
  end
  if resp.status < 200 or resp.status > 299 then
    local err = errors.from_response(resp, "POST", safe_url)
    local text = type(resp.body) == "string" and safe_text.trim(resp.body) or ""
    if err.message and not text:match("^[{%[]") and text ~= "" then
      err.message = err.message .. ": " .. text:sub(1, 200):gsub("[%c]+", " ")
    end
    return nil, err
  end
  return true, resp.status
end

return M
