-- A misbehaving HTTP server for transport specs. Prints "port N", then "got METHOD PATH VERSION auth=yes|no" for
-- every request it reads completely. Modes (first argument):
--   drop             read the request, then close without answering (the response is lost)
--   redirect URL     answer 307 with Location: URL .. path
--   loop             answer 302 to itself, forever
--   ok               answer 200 (body "1", as a Teams webhook does); also prints "header content-type: VALUE" and
--                    "body TEXT" (the request body, line breaks as \n) after each "got" line
--   status N         like ok, but answer status N with a plain-text body
--   gzip FILE        answer 200 with FILE's bytes as a gzip-encoded JSON body (Content-Encoding: gzip)
--   headers          answer 200 with a JSON body and a header sent twice under different cases (X-Trace: a, x-trace: b)
local socket = require "socket"

local mode, target = arg[1] or "drop", arg[2]
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
io.write("port ", port, "\n")
io.stdout:flush()
server:settimeout(30)
while true do
  local conn = server:accept()
  if not conn then break end
  conn:settimeout(5)
  local line = conn:receive("*l")
  local len, auth, ctype = 0, "no", nil
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    local lower = h:lower()
    local n = lower:match("^content%-length:%s*(%d+)")
    if n then len = tonumber(n) end
    if lower:match("^authorization:") then auth = "yes" end
    if lower:match("^content%-type:") then ctype = h:match("^[^:]+:%s*(.-)%s*$") end
  end
  local body = len > 0 and conn:receive(len) or ""
  io.write("got ", line or "?", " auth=", auth, "\n")
  if mode == "ok" or mode == "status" then
    io.write("header content-type: ", ctype or "", "\n", "body ", (body or ""):gsub("\n", "\\n"), "\n")
  end
  io.stdout:flush()
  local path = line and line:match("^%S+ (%S+)") or "/"
  if mode == "redirect" then
    conn:send("HTTP/1.1 307 Temporary Redirect\r\nLocation: " .. target .. path
      .. "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  elseif mode == "loop" then
    conn:send("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:" .. port .. path
      .. "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  elseif mode == "gzip" then
    local f = assert(io.open(target, "rb"))
    local gz = f:read("*a")
    f:close()
    conn:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: "
      .. #gz .. "\r\nConnection: close\r\n\r\n" .. gz)
  elseif mode == "headers" then
    conn:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Trace: a\r\nRequest-Id: r-1\r\n"
      .. "x-trace:  b \r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
  elseif mode == "ok" or mode == "status" then
    local status = mode == "ok" and "200 OK" or (tostring(target) .. " Failed")
    local answer = mode == "ok" and "1" or "webhook refused the card"
    conn:send("HTTP/1.1 " .. status .. "\r\nContent-Type: text/plain\r\nContent-Length: " .. #answer
      .. "\r\nConnection: close\r\n\r\n" .. answer)
  end
  conn:close()
end
