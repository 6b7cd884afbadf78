-- What the sandbox specs share: Graph requests over LuaSocket (never the client library), Graph error
-- checks, and raw HTTP/1.1 on one connection. require "sandbox_support".
local helper = require "helper"
local socket = require "socket"
local cjson = require "cjson.safe"
local assert = require "luassert"

local support = {}

support.JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
  .. "charset=utf-8"
support.WWW_AUTHENTICATE = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
  .. 'authorize", client_id="00000003-0000-0000-c000-000000000000"'
support.GUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
support.COLL = "/deviceAppManagement/vppTokens"
-- Under valgrind everything is slower: time-based checks scale with this.
support.SLOW = helper.SLOW

-- A Graph request under /{version or "v1.0"} with a bearer token (unless headers.authorization is
-- false). Returns status, decoded body (or the raw text), headers.
function support.graph(sb, method, path, body, headers, version)
  headers = headers or {}
  if headers.authorization == nil then headers.authorization = "Bearer test-access-token" end
  if headers.authorization == false then headers.authorization = nil end
  return helper.http(method, sb.url .. "/" .. (version or "v1.0") .. path, body, headers)
end

-- Follows an absolute @odata.nextLink.
function support.follow(link)
  return helper.http("GET", link, nil, { authorization = "Bearer test-access-token" })
end

-- Creates a token (asserting 201); returns the body.
function support.create(sb, props, version)
  local st, body = support.graph(sb, "POST", support.COLL, props, nil, version)
  assert.equal(201, st, cjson.encode(body))
  return body
end

function support.ids_of(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t.id end
  return out
end

-- Asserts a Graph error response: status, error.code, a part of error.message, innerError.
function support.assert_graph_error(status, expected_status, body, code, message_part)
  assert.equal(expected_status, status, type(body) == "table" and cjson.encode(body) or tostring(body))
  assert.is_table(body.error)
  assert.equal(code, body.error.code)
  if message_part then
    assert.truthy(body.error.message:find(message_part, 1, true),
                  "message '" .. body.error.message .. "' lacks '" .. message_part .. "'")
  end
  local inner = body.error.innerError
  assert.is_table(inner)
  assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", inner.date)
  assert.matches(support.GUID, inner["request-id"])
  assert.is_string(inner["client-request-id"])
end

-- Asserts that a sandbox's stderr has no report from valgrind, the sanitizers or UBSan.
function support.assert_clean_log(log)
  assert.is_nil(helper.memory_report(log or ""), "memory report:\n" .. tostring(log))
end

-- Minimal HTTP/1.1 over one LuaSocket TCP connection (for keep-alive and raw requests).
function support.raw_connect(sb)
  local c = assert(socket.tcp())
  c:settimeout(30 * support.SLOW)
  assert(c:connect("127.0.0.1", sb.port))
  return c
end

function support.raw_send(c, method, path, headers, body)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
end

-- Reads one response: status, headers (lower-case names), body text.
function support.raw_receive(c)
  local status_line = assert(c:receive("*l"))
  local status = tonumber(status_line:match("^HTTP/1%.%d (%d%d%d)"))
  local headers = {}
  while true do
    local l = assert(c:receive("*l"))
    if l == "" then break end
    local k, v = l:match("^([^:]+):%s*(.*)$")
    headers[k:lower()] = v
  end
  local n = tonumber(headers["content-length"] or "0")
  local body = n > 0 and assert(c:receive(n)) or ""
  return status, headers, body
end

return support
