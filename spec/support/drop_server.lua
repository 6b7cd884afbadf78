-- A server that reads each HTTP request completely and then closes the connection without answering:
-- the request reached the server, the response never came. Prints "port N", then "got METHOD PATH" per request.
local socket = require "socket"

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
  local len = 0
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    local n = h:lower():match("^content%-length:%s*(%d+)")
    if n then len = tonumber(n) end
  end
  if len > 0 then conn:receive(len) end
  io.write("got ", line or "?", "\n")
  io.stdout:flush()
  conn:close()
end
