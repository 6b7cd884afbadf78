-- nginx from Debian on loopback, serving the static files of a directory: HTTP/1.1 on one port, HTTPS with HTTP/2
-- (a self-signed certificate for 127.0.0.1 made now) on another. For the benchmarks (bench/run.lua) and the HTTP/2
-- specs: the sandbox speaks HTTP/1.1 only.
--   local nginx = require "support.nginx"
--   local srv = nginx.start(dir)   -- serves dir .. "/www"; writes its configuration, logs and certificate in dir
--   srv.http_port, srv.https_port, srv.cert; srv:stop()
local socket = require "socket"
local helper = require "helper"

local M = {}
local q = helper.shell_quote

local function read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

local CONF = [[
@USER@
daemon off;
worker_processes 1;
pid @T@/nginx.pid;
error_log @T@/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path @T@/temp/body;
  proxy_temp_path @T@/temp/proxy;
  fastcgi_temp_path @T@/temp/fastcgi;
  uwsgi_temp_path @T@/temp/uwsgi;
  scgi_temp_path @T@/temp/scgi;
  http2_max_requests 1000000;
  server {
    listen 127.0.0.1:@HP@;
    root @T@/www;
  }
  server {
    listen 127.0.0.1:@SP@ ssl http2;
    ssl_certificate @T@/cert.pem;
    ssl_certificate_key @T@/key.pem;
    root @T@/www;
  }
}
]]

local Server = {}
Server.__index = Server

--- Starts nginx for dir (an existing private directory) and waits until it answers; raises when it cannot.
function M.start(dir)
  local self = setmetatable({ dir = dir, http_port = helper.free_port(),
                              https_port = helper.free_port() }, Server)
  self.cert = helper.make_cert(dir)
  os.execute("mkdir -p " .. q(dir .. "/logs") .. " " .. q(dir .. "/temp") .. " " .. q(dir .. "/www"))
  -- As root, nginx would switch its worker to "nobody", which cannot read a private directory: keep the user.
  local id = io.popen("id -u; id -un")
  local uid, uname = id:read("*l"), id:read("*l")
  id:close()
  local user = uid == "0" and ("user " .. uname .. ";") or ""
  local conf = CONF:gsub("@USER@", user):gsub("@T@", dir):gsub("@HP@", tostring(self.http_port))
    :gsub("@SP@", tostring(self.https_port))
  local f = assert(io.open(dir .. "/nginx.conf", "wb"))
  f:write(conf)
  f:close()
  self.pipe = assert(io.popen(string.format("(nginx -p %s -c %s -e %s >/dev/null 2>&1 & echo $!; wait)",
    q(dir), q(dir .. "/nginx.conf"), q(dir .. "/logs/error.log"))))
  self.pid = tonumber(self.pipe:read("*l"))
  for _ = 1, 100 do
    local c = socket.connect("127.0.0.1", self.http_port)
    if c then
      c:close()
      return self
    end
    socket.sleep(0.05)
  end
  self:stop()
  error("nginx did not start:\n" .. read(dir .. "/logs/error.log"))
end

--- Stops nginx (safe to call twice).
function Server:stop()
  if self.pid then
    os.execute("kill -TERM " .. self.pid .. " 2>/dev/null")
    self.pipe:close()
    self.pid = nil
  end
end

return M
