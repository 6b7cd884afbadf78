-- The sandbox's cost per page of a walk, against the size of the tenant (issue #21, item 4; run by
-- `make bench-sandbox`, not by `make test`: it prints figures and asserts no timing).
-- For each size N (SIZES, default 1000,10000,100000) starts vpptoken-sandbox --seed-tokens N and walks
-- every page of the collection (100 a page) on one keep-alive LuaSocket connection, following the
-- nextLinks: plain, with a $filter, with $count=true and with $orderby (sorted on the first page, then kept while
-- the store does not change); a small store is walked again until MIN_PAGES (200)
-- pages were read. Prints wall and sandbox CPU time per page (the CPU time from /proc/PID/stat: what the sandbox
-- spent, whatever else the machine runs) and the ratio of the largest size to the smallest (flat: near 1).
-- Then the request log: the sandbox's CPU time per request for 2,000 requests while the log fills and for 2,000
-- once it is past its 10,000-entry limit. MAX_PAGES caps a walk (to time a slow sandbox); a capped walk
-- is marked as such. Every walk checks that it saw each token once.
--   VPPTOKEN_BUILD_DIR=build lua5.4 bench/sandbox_pages.lua
local socket = require "socket"
local cjson = require "cjson"

local build = os.getenv("VPPTOKEN_BUILD_DIR") or "build"
local MAX_PAGES = tonumber(os.getenv("MAX_PAGES"))
local MIN_PAGES = tonumber(os.getenv("MIN_PAGES")) or 200
local SIZES = {}
for n in (os.getenv("SIZES") or "1000,10000,100000"):gmatch("%d+") do SIZES[#SIZES + 1] = tonumber(n) end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Starts the sandbox with n seeded tokens; returns { port, stop }.
local function start(n)
  local pidfile = os.tmpname()
  local proc = assert(io.popen(string.format("(%s --port 0 --seed-tokens %d & echo $! >%s; wait)",
    sh_quote(build .. "/vpptoken-sandbox"), n, sh_quote(pidfile))))
  local url = assert((proc:read("l") or ""):match("listening on (http%S+)"), "sandbox did not start")
  local f = assert(io.open(pidfile))
  local pid = f:read("n")
  f:close()
  os.remove(pidfile)
  return {
    pid = math.tointeger(pid),
    origin = url,
    port = tonumber(url:match(":(%d+)$")),
    stop = function()
      os.execute("kill " .. math.tointeger(pid))
      proc:close()
    end,
  }
end

-- Seconds of CPU time (user + system) process pid has used.
local TICKS = tonumber(io.popen("getconf CLK_TCK"):read("l")) or 100
local function cpu(pid)
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local stat = f:read("a")
  f:close()
  local fields = {}
  for x in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / TICKS -- utime, stime (fields 14, 15 of stat)
end

-- One keep-alive connection: get(path) returns status, body.
local function connect(port)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(120)
  local conn = {}
  function conn.get(path)
    assert(c:send("GET " .. path .. " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer bench\r\n\r\n"))
    local status = tonumber(assert(c:receive("*l")):match("^HTTP/1%.1 (%d+)"))
    local len
    while true do
      local l = assert(c:receive("*l"))
      if l == "" then break end
      len = len or tonumber(l:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)"))
    end
    assert(len, "no Content-Length")
    return status, assert(c:receive(len))
  end
  function conn.close() c:close() end
  return conn
end

local COLL = "/v1.0/deviceAppManagement/vppTokens"

-- Walks the pages of query; returns pages, tokens, seconds, sandbox CPU seconds, capped.
local function walk(sb, query)
  local conn = connect(sb.port)
  local seen, tokens, pages = {}, 0, 0
  local path = COLL .. (query and ("?" .. query) or "")
  local t0, c0 = socket.gettime(), cpu(sb.pid)
  local capped = false
  while path do
    local status, body = conn.get(path)
    assert(status == 200, "status " .. status .. ": " .. body)
    local doc = cjson.decode(body)
    pages = pages + 1
    for _, v in ipairs(doc.value) do
      assert(not seen[v.id], "token seen twice: " .. v.id)
      seen[v.id] = true
      tokens = tokens + 1
    end
    local link = doc["@odata.nextLink"]
    path = link and link:sub(#sb.origin + 1)
    if path and MAX_PAGES and pages >= MAX_PAGES then
      path, capped = nil, true
    end
  end
  local secs, cpu_secs = socket.gettime() - t0, cpu(sb.pid) - c0
  conn.close()
  return pages, tokens, secs, cpu_secs, capped
end

local WALKS = {
  { name = "plain" },
  { name = "$filter=state eq 'valid'", query = "$filter=state%20eq%20%27valid%27" },
  { name = "$count=true", query = "$count=true" },
  { name = "$orderby=organizationName", query = "$orderby=organizationName" },
}

print(string.format("vpptoken-sandbox: ms per page of 100 (one keep-alive connection; wall time is noisy on a "
  .. "shared machine, the sandbox's CPU time less so)%s", MAX_PAGES and string.format(", walks capped at %d pages",
  MAX_PAGES) or ""))
print("| walk | tokens | pages | wall ms/page | sandbox CPU ms/page |")
print("|---|---:|---:|---:|---:|")
local per_page = {}
for _, n in ipairs(SIZES) do
  local t0 = socket.gettime()
  local sb = start(n)
  local seeded = socket.gettime() - t0
  for _, w in ipairs(WALKS) do
    local pages, secs, cpu_secs, capped = 0, 0, 0
    repeat
      local p, tokens, s, c, cap = walk(sb, w.query)
      if not cap and not w.query then assert(tokens == n, string.format("walked %d of %d tokens", tokens, n)) end
      pages, secs, cpu_secs, capped = pages + p, secs + s, cpu_secs + c, cap
    until capped or pages >= MIN_PAGES
    local ms, cpu_ms = secs * 1000 / pages, cpu_secs * 1000 / pages
    per_page[w.name] = per_page[w.name] or {}
    per_page[w.name][n] = { ms, cpu_ms }
    print(string.format("| %s | %d | %d%s | %.2f | %.2f |", w.name, n, pages, capped and " (capped)" or "", ms,
                        cpu_ms))
  end
  sb.stop()
  io.stderr:write(string.format("(%d tokens seeded and served in %.1f s)\n", n, seeded))
end
local lo, hi = SIZES[1], SIZES[#SIZES]
for _, w in ipairs(WALKS) do
  local a, b = per_page[w.name][lo], per_page[w.name][hi]
  print(string.format("ratio %d/%d, %s: wall %.2f×, sandbox CPU %.2f×", hi, lo, w.name, b[1] / a[1], b[2] / a[2]))
end

-- The request log: the same GET while the log fills and once it is past its limit.
local sb = start(10)
local conn = connect(sb.port)
local _, body = conn.get(COLL .. "?$top=1")
local one = COLL .. "/" .. cjson.decode(body).value[1].id
local function requests(k)
  local c0 = cpu(sb.pid)
  for _ = 1, k do assert(conn.get(one) == 200) end
  return (cpu(sb.pid) - c0) * 1000 / k
end
local early = requests(2000) -- requests 2-2001
requests(6000)
local full = requests(2000) -- 8002-10001: the log fills up to its limit
requests(2000)
local past = requests(4000) -- 12002-16001: every request drops the oldest entry
conn.close()
sb.stop()
print(string.format("request log: sandbox CPU ms/request %.3f for requests 2-2001, %.3f for 8002-10001 (filling), "
  .. "%.3f for 12002-16001 (past its 10,000-entry limit): past/filling %.2f×", early, full, past, past / full))
