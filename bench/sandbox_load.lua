-- Load test for vpptoken-sandbox (not part of `make test`; run `make bench-sandbox`).
-- Holds CONNS keep-alive connections (LuaSocket, one socket.select loop) and keeps one request in
-- flight on each for SECONDS, with latency injected by the sandbox (LATENCY_MS = "min,max",
-- default 30,70: 50 ms +- 20). One request in WRITE_EVERY is a PATCH. Prints requests sent,
-- answered and failed, throughput and latency percentiles; exits 1 if any request failed (the
-- sandbox was told to fail none).
--   VPPTOKEN_BUILD_DIR=build lua5.4 bench/sandbox_load.lua [CONNS] [SECONDS]
local socket = require "socket"

local build = os.getenv("VPPTOKEN_BUILD_DIR") or "build"
local CONNS = tonumber(arg[1]) or 200
local SECONDS = tonumber(arg[2]) or 10
local lat_lo, lat_hi = (os.getenv("LATENCY_MS") or "30,70"):match("^(%d+),(%d+)$")
local WRITE_EVERY = 20

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- the sandbox, with the latency profile in a config file
local cfg = os.tmpname()
local f = assert(io.open(cfg, "w"))
f:write(string.format('{"faults":{"latency_ms":[%d,%d],"seed":1}}', lat_lo or 30, lat_hi or 70))
f:close()
local pidfile = os.tmpname()
local proc = assert(io.popen(string.format("(%s --port 0 --config %s & echo $! >%s; wait)",
  sh_quote(build .. "/vpptoken-sandbox"), sh_quote(cfg), sh_quote(pidfile))))
local url = assert((proc:read("l") or ""):match("listening on (http%S+)"), "sandbox did not start")
local port = tonumber(url:match(":(%d+)$"))
local pf = assert(io.open(pidfile))
local pid = pf:read("n")
pf:close()
os.remove(pidfile)

local COLL = "/v1.0/deviceAppManagement/vppTokens"
local AUTH = "Authorization: Bearer bench\r\n"

-- one token to read and patch
local function once(req)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(10)
  assert(c:send(req))
  local head = {}
  repeat local l = assert(c:receive("*l")) head[#head + 1] = l until l == ""
  local n = tonumber(table.concat(head, "\n"):match("[Cc]ontent%-[Ll]ength: (%d+)"))
  local body = assert(c:receive(n))
  c:close()
  return head[1], body
end
-- a sample Apple token file (base64: nothing to escape in JSON)
local maker = assert(io.popen(sh_quote(build .. "/vpptoken-sandbox")
  .. " make-token --org bench --apple-id bench@contoso.com --expires +365"))
local token_file = assert(maker:read("l"), "make-token wrote nothing")
maker:close()
local created = '{"organizationName":"bench","token":"' .. token_file .. '"}'
local _, body = once("POST " .. COLL .. " HTTP/1.1\r\nHost: x\r\n" .. AUTH .. "Content-Type: application/json\r\n"
  .. "Content-Length: " .. #created .. "\r\nConnection: close\r\n\r\n" .. created)
local id = assert(body:match('"id":"([^"]+)"'))
local GET = "GET " .. COLL .. "/" .. id .. " HTTP/1.1\r\nHost: x\r\n" .. AUTH .. "\r\n"
local patch_body = '{"countryOrRegion":"us"}'
local PATCH = "PATCH " .. COLL .. "/" .. id .. " HTTP/1.1\r\nHost: x\r\n" .. AUTH
  .. "Content-Type: application/json\r\nContent-Length: " .. #patch_body .. "\r\n\r\n" .. patch_body

local sent, answered, failed, latencies = 0, 0, 0, {}
local conns, by_sock = {}, {}

local function send_next(cn)
  sent = sent + 1
  cn.started = socket.gettime()
  cn.buf = ""
  local req = sent % WRITE_EVERY == 0 and PATCH or GET
  local ok, err = cn.sock:send(req)
  if not ok then error("send failed: " .. tostring(err)) end
end

for i = 1, CONNS do
  local s = assert(socket.tcp())
  assert(s:connect("127.0.0.1", port))
  s:settimeout(0)
  conns[i] = { sock = s, buf = "" }
  by_sock[s] = conns[i]
end

-- A complete response at the front of buf: status, rest; nil while incomplete.
local function parse(buf)
  local head_end = buf:find("\r\n\r\n", 1, true)
  if not head_end then return nil end
  local head = buf:sub(1, head_end - 1)
  local n = tonumber(head:match("[Cc]ontent%-[Ll]ength: (%d+)") or "0")
  if #buf < head_end + 3 + n then return nil end
  return tonumber(head:match("^HTTP/1%.1 (%d+)")), buf:sub(head_end + 4 + n)
end

local t0 = socket.gettime()
local stop_at = t0 + SECONDS
for _, cn in ipairs(conns) do send_next(cn) end
local open = {}
for i, cn in ipairs(conns) do open[i] = cn.sock end
local busy = #conns
while busy > 0 do
  local readable = socket.select(open, nil, 1)
  for _, s in ipairs(readable) do
    local cn = by_sock[s]
    local data, err, partial = s:receive(65536)
    cn.buf = cn.buf .. (data or partial or "")
    local status, rest = parse(cn.buf)
    if status then
      latencies[#latencies + 1] = socket.gettime() - cn.started
      if status == 200 or status == 204 then answered = answered + 1 else failed = failed + 1 end
      cn.buf = rest
      if socket.gettime() < stop_at then send_next(cn) else cn.done = true end
    elseif err == "closed" then
      failed = failed + 1
      cn.done = true
    end
    if cn.done then
      for i, o in ipairs(open) do if o == s then table.remove(open, i) break end end
      s:close()
      busy = busy - 1
    end
  end
end
local elapsed = socket.gettime() - t0

os.execute("kill -TERM " .. pid)
proc:close()
os.remove(cfg)

table.sort(latencies)
local function pct(p) return latencies[math.max(1, math.ceil(#latencies * p))] * 1000 end
print(string.format("connections %d, %.1f s, latency injected %s-%s ms", CONNS, elapsed, lat_lo or 30, lat_hi or 70))
print(string.format("sent %d, answered %d, failed %d, lost %d", sent, answered, failed, sent - answered - failed))
print(string.format("throughput %.0f requests/s", answered / elapsed))
print(string.format("latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f", pct(0.5), pct(0.9), pct(0.99), pct(1)))
os.exit(failed == 0 and sent == answered and 0 or 1)
