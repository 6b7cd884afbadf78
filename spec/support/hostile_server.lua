-- A scriptable hostile HTTP server for specs: each spec chooses the misbehaviour (loops, redirects, drips, bombs,
-- malformed items) as a Lua script. Run as `lua5.4 spec/support/hostile_server.lua SCRIPT [HOST]`; it listens on
-- HOST (default 127.0.0.1) on a free port and prints "port N", then for every request it reads completely one line
-- "got METHOD TARGET auth=yes|no body=<the body, line breaks as \n>".
--
-- SCRIPT is a Lua file returning function(req) -> answer, called once per request. req = { method, target (path
-- and query as sent), path, query, headers (lower-case names), body, n (1-based count of requests so far), port,
-- host, base ("http://HOST:PORT") }. An answer is a table:
--   { status = 200, headers = { Name = value, ... }, body = "..." }   -- Content-Length and Connection: close added
--   { json = table }                                                   -- status 200, the table as JSON (cjson)
--   { raw = "bytes" }                                                  -- sent as they are, nothing added
--   { drip = "bytes", every = seconds }                                -- one byte at a time
--   { stream = function(send) ... end }                                -- send(bytes) as often as it likes
--   { close = true }                                                   -- close without an answer
-- Every answer ends its connection. The server stops after 60 s without a connection, or when killed.
local socket = require "socket"
local cjson = require "cjson"

local script, host = assert(arg[1], "usage: hostile_server.lua SCRIPT [HOST]"), arg[2] or "127.0.0.1"
local handle = assert(dofile(script))
local server = assert(socket.bind(host, 0))
local _, port = server:getsockname()
io.write("port ", port, "\n")
io.stdout:flush()
server:settimeout(60)

local base = "http://" .. (host:find(":") and ("[" .. host .. "]") or host) .. ":" .. port

local function send_all(conn, bytes)
  local i = 1
  while i <= #bytes do
    local last, err, partial = conn:send(bytes, i)
    if not last then
      if err == "closed" then return false end
      last = partial
    end
    i = last + 1
  end
  return true
end

local function answer(conn, a)
  if a.close then return end
  if a.raw then return send_all(conn, a.raw) end
  if a.drip then
    for k = 1, #a.drip do
      if not send_all(conn, a.drip:sub(k, k)) then return end
      socket.sleep(a.every or 0.1)
    end
    return
  end
  if a.stream then return a.stream(function(bytes) return send_all(conn, bytes) end) end
  local status, headers, body = a.status or 200, a.headers or {}, a.body or ""
  if a.json ~= nil then
    body = cjson.encode(a.json)
    headers["Content-Type"] = headers["Content-Type"] or "application/json"
  end
  local lines = { "HTTP/1.1 " .. status .. " X" }
  for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
  lines[#lines + 1] = "Content-Length: " .. #body
  lines[#lines + 1] = "Connection: close"
  send_all(conn, table.concat(lines, "\r\n") .. "\r\n\r\n" .. body)
end

local n = 0
while true do
  local conn = server:accept()
  if not conn then break end
  conn:settimeout(10)
  local line = conn:receive("*l")
  local headers = {}
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local len = tonumber(headers["content-length"] or "0") or 0
  local body = len > 0 and conn:receive(len) or ""
  if line then
    n = n + 1
    local method, target = line:match("^(%S+) (%S+)")
    local path, query = (target or ""):match("^([^?]*)%??(.*)$")
    io.write("got ", method or "?", " ", target or "?", " auth=", headers.authorization and "yes" or "no",
      " body=", (body or ""):gsub("\n", "\\n"), "\n")
    io.stdout:flush()
    local req = { method = method, target = target, path = path, query = query, headers = headers, body = body or "",
                  n = n, port = port, host = host, base = base }
    local ok, a = pcall(handle, req)
    if not ok then
      io.write("script error: ", tostring(a), "\n")
      io.stdout:flush()
      a = { status = 500, body = "script error" }
    end
    answer(conn, a or { close = true })
  end
  conn:close()
end
