-- vpptoken's overhead over the network (issue #6), run by `make bench` (not by `make test`).
-- Starts on loopback: nginx serving static Graph-shaped JSON (HTTP/1.1, and HTTPS + HTTP/2 with a self-signed
-- certificate made now) from a temporary directory, and vpptoken-sandbox (POST latency fault for the sync
-- workload). Every measurement is a fresh process (bench/worker.lua); wall and CPU time are medians of RUNS runs
-- (ratios: medians of the ratios within each run),
-- peak RSS is VmHWM. Compared with: the floor (bench/floor.c: one reused libcurl handle + cjson.decode) and
-- LuaSocket's http.request (LuaSec for https) + lua-cjson. Prints a Markdown table and PASS/FAIL per target;
-- exits 1 if a target failed.
--   VPPTOKEN_BUILD_DIR=build RUNS=7 lua5.4 bench/run.lua
-- BENCH_QUICK=1 (make bench-quick, run by CI: RUNS=1): every workload runs once and a workload that fails exits 2,
-- but a target missed is reported (MISS), not a failure: on a shared machine one run's ratio is no test.
package.path = "spec/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
local helper = require "helper"
local cjson = require "cjson"

local build = helper.build_dir
local RUNS = tonumber(os.getenv("RUNS")) or 7
local QUICK = os.getenv("BENCH_QUICK") == "1"
local q = helper.shell_quote
local LUA = "lua5.4"

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end

local tmp = (sh("mktemp -d /tmp/vpptoken-bench.XXXXXX")):gsub("%s+$", "")
assert(tmp:match("^/tmp/vpptoken%-bench"), "mktemp failed")

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- ---- static Graph-shaped JSON ----
local function token(i)
  return {
    ["@odata.type"] = "#microsoft.graph.vppToken",
    id = string.format("%08x-4b1d-4c0e-9a7e-%012x", i, i * 7919),
    organizationName = "Contoso Schools " .. i, vppTokenAccountType = "education",
    appleId = string.format("vpp%05d@contoso.example", i), expirationDateTime = "2027-05-01T00:00:00Z",
    lastSyncDateTime = "2026-10-30T08:15:00Z", token = string.rep("QmVuY2htYXJrVG9rZW4", 12),
    lastModifiedDateTime = "2026-10-01T12:00:00Z", state = "valid", tokenActionResults = {},
    lastSyncStatus = "completed", automaticallyUpdateApps = true, countryOrRegion = "us",
    dataSharingConsent = false, displayName = "Contoso " .. i, locationName = "Building " .. (i % 17),
    claimTokenOwnership = false, roleScopeTagIds = { "0" },
  }
end
local function encode(v) return (cjson.encode(v):gsub("\\/", "/")) end

-- nginx picks its ports before the files are written: the nextLinks name the origin.
local nginx = require("support.nginx").start(tmp)
local http_port, https_port = nginx.http_port, nginx.https_port
local function write_pages(root, prefix, pages, per_page, origin)
  os.execute("mkdir -p " .. q(root .. prefix .. "/v1.0/deviceAppManagement") .. " " .. q(root .. prefix .. "/p"))
  for p = 1, pages do
    local value = {}
    for k = 1, per_page do value[k] = token((p - 1) * per_page + k) end
    local doc = { ["@odata.context"] = origin .. prefix .. "/v1.0/$metadata#deviceAppManagement/vppTokens",
                  value = value }
    local text = encode(doc)
    if p < pages then
      text = text:sub(1, -2) .. ',"@odata.nextLink":"' .. origin .. prefix .. "/p/" .. (p + 1) .. '"}'
    end
    write(p == 1 and (root .. prefix .. "/v1.0/deviceAppManagement/vppTokens") or (root .. prefix .. "/p/" .. p),
      text)
  end
end
-- The https server serves the same tree; nextLinks name the origin, so each origin gets its own copy.
local ID = token(1).id
for _, o in ipairs{ { "/h", "http://127.0.0.1:" .. http_port }, { "/s", "https://127.0.0.1:" .. https_port } } do
  local root = tmp .. "/www"
  os.execute("mkdir -p " .. q(root .. o[1] .. "/a/v1.0/deviceAppManagement/vppTokens"))
  local one = token(1)
  one["@odata.context"] = o[2] .. o[1] .. "/a/v1.0/$metadata#deviceAppManagement/vppTokens/$entity"
  write(root .. o[1] .. "/a/v1.0/deviceAppManagement/vppTokens/" .. ID, encode(one))
  write_pages(root, o[1] .. "/b", 10, 100, o[2])
  if o[1] == "/h" then write_pages(root, o[1] .. "/d", 1000, 100, o[2]) end
end

local sandbox

local cert = nginx.cert

local function cleanup()
  nginx:stop()
  if sandbox then
    pcall(sandbox.stop, sandbox)
    sandbox = nil
  end
  if tmp:match("^/tmp/vpptoken%-bench%.") then os.execute("rm -rf " .. q(tmp)) end
end

local function main()
  -- ---- the sandbox: 200 tokens, sync answered at once, POST latency 50 ms ----
  sandbox = helper.start_sandbox()
  local auth = { authorization = "Bearer bench" }
  for i = 1, 200 do
    local st = helper.http("POST", sandbox.graph .. "/deviceAppManagement/vppTokens",
      { organizationName = "bench " .. i, token = helper.apple_token() }, auth)
    assert(st == 201, "sandbox create failed: " .. tostring(st))
  end
  sandbox:configure{ sync_seconds = 0, faults = { latency_ms = { POST = { 50, 50 } } } }

  local H = "http://127.0.0.1:" .. http_port .. "/"
  local S = "https://127.0.0.1:" .. https_port .. "/"

  local function measure(impl, work, base, warg, n, ca)
    local cmd = string.format("VPPTOKEN_BUILD_DIR=%s %s bench/worker.lua %s %s %s %s %s %s", q(build), LUA, impl,
      work, q(base), q(warg or "-"), tostring(n or 1), q(ca or ""))
    local out, ok = sh(cmd .. " 2>&1")
    local w, c, h, k = out:match("wall=(%S+) cpu=(%S+) hwm_kb=(%d+) count=(%d+)")
    assert(ok and w, "worker failed: " .. cmd .. "\n" .. out)
    return { wall = tonumber(w), cpu = tonumber(c), hwm = tonumber(h), count = tonumber(k) }
  end
  local function median(xs)
    table.sort(xs)
    local m = #xs // 2
    return #xs % 2 == 1 and xs[m + 1] or (xs[m] + xs[m + 1]) / 2
  end
  -- Median of RUNS fresh processes, the implementations interleaved run by run. The ratios to another
  -- implementation are the medians of the ratios within each run (the two processes ran back to back), which
  -- the load of a shared machine moves far less than it moves either time alone.
  local function bench(impls, work, base, warg, n, ca, expect, nruns)
    local runs = {}
    for _, impl in ipairs(impls) do runs[impl] = { wall = {}, cpu = {}, hwm = {} } end
    for _ = 1, nruns or RUNS do
      for _, impl in ipairs(impls) do
        local r = measure(impl, work, base, warg, n, ca)
        assert(not expect or r.count == expect, impl .. " " .. work .. ": counted " .. r.count .. ", expected "
          .. tostring(expect))
        local t = runs[impl]
        t.wall[#t.wall + 1], t.cpu[#t.cpu + 1], t.hwm[#t.hwm + 1] = r.wall, r.cpu, r.hwm
      end
    end
    local out = {}
    for impl, t in pairs(runs) do
      out[impl] = { wall = median(t.wall), cpu = median(t.cpu), hwm = median(t.hwm), over = {} }
    end
    local v = runs.vpptoken
    for impl, t in pairs(runs) do
      if impl ~= "vpptoken" then
        local w, c = {}, {}
        for i = 1, #t.wall do w[i], c[i] = v.wall[i] / t.wall[i], v.cpu[i] / t.cpu[i] end
        out.vpptoken.over[impl] = { wall = median(w), cpu = median(c) }
      end
    end
    return out
  end

  local rows, checks = {}, {}
  local function ms(x) return string.format("%.1f", x * 1000) end
  local function ratio(x) return x and string.format("%.2f×", x) or "–" end
  local function row(name, r, unit_n)
    local v, f, l = r.vpptoken, r.floor, r.luasocket
    local of, ol = v.over.floor or {}, v.over.luasocket or {}
    rows[#rows + 1] = string.format("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f |", name, ms(v.wall),
      f and ms(f.wall) or "–", l and ms(l.wall) or "–", ratio(of.wall), ratio(ol.wall), ratio(of.cpu), ratio(ol.cpu),
      v.hwm / 1024)
    io.stderr:write(rows[#rows], unit_n and string.format("  (%.1f µs/request)", v.wall / unit_n * 1e6) or "", "\n")
  end
  local function check(name, ok, detail)
    checks[#checks + 1] = string.format("%s  %s: %s", ok and "PASS" or QUICK and "MISS" or "FAIL", name, detail)
  end
  local ALL = { "vpptoken", "floor", "luasocket" }
  -- LuaSec opens a TLS connection per request (~50 ms each here): left out of the https rows to bound the run.
  local TLS = { "vpptoken", "floor" }

  io.stderr:write(string.format("%d runs per figure; times are medians, ratios the medians of the ratios within a "
    .. "run\n", RUNS))
  -- (a) 2,000 sequential gets
  local a = bench(ALL, "get", H .. "h/a/v1.0", ID, 2000, nil, 2000)
  row("(a) 2,000 gets, HTTP/1.1 (nginx)", a, 2000)
  check("(a) wall ≤ 1.15× floor", a.vpptoken.over.floor.wall <= 1.15,
    string.format("%.2f× (medians %s vs %s ms)", a.vpptoken.over.floor.wall, ms(a.vpptoken.wall), ms(a.floor.wall)))
  local as = bench(TLS, "get", S .. "s/a/v1.0", ID, 2000, cert, 2000)
  row("(a) 2,000 gets, HTTPS + HTTP/2", as, 2000)
  check("(a) https wall ≤ 1.15× floor", as.vpptoken.over.floor.wall <= 1.15,
    string.format("%.2f×", as.vpptoken.over.floor.wall))

  -- (b) 10 pages × 100 tokens, 50 walks
  local b = bench(ALL, "walk", H .. "h/b/v1.0", "-", 50, nil, 50000)
  row("(b) 50 walks of 10 pages × 100, HTTP/1.1", b, 500)
  check("(b) wall ≤ 1.15× floor", b.vpptoken.over.floor.wall <= 1.15,
    string.format("%.2f× (medians %s vs %s ms)", b.vpptoken.over.floor.wall, ms(b.vpptoken.wall), ms(b.floor.wall)))
  local bs = bench(TLS, "walk", S .. "s/b/v1.0", "-", 50, cert, 50000)
  row("(b) 50 walks, HTTPS + HTTP/2", bs, 500)
  check("(b) https wall ≤ 1.15× floor", bs.vpptoken.over.floor.wall <= 1.15,
    string.format("%.2f×", bs.vpptoken.over.floor.wall))

  -- (c) sync 200 tokens with 50 ms POST latency
  for _, conc in ipairs{ 1, 8, 32 } do
    local c = bench(conc == 1 and { "vpptoken", "luasocket" } or { "vpptoken" }, "sync", sandbox.graph,
      tostring(conc), 1, nil, 200, conc == 1 and math.min(RUNS, 3) or nil)
    row(string.format("(c) sync_all 200, 50 ms latency, concurrency %d (sandbox)", conc), c)
    local ideal = math.ceil(200 / conc) * 0.05
    local ok = c.vpptoken.wall <= 1.3 * ideal
    if conc == 32 then
      check("(c) concurrency 32 ≤ 1.3× ideal", ok, string.format("%s ms, ideal %s ms: %.2f×", ms(c.vpptoken.wall),
        ms(ideal), c.vpptoken.wall / ideal))
    else
      checks[#checks + 1] = string.format("info  (c) concurrency %d: %s ms, ideal %s ms: %.2f×", conc,
        ms(c.vpptoken.wall), ms(ideal), c.vpptoken.wall / ideal)
    end
  end

  -- (d) 100,000 tokens with each(): 1,000 pages of 100
  local d = bench(ALL, "walk", H .. "h/d/v1.0", "-", 1, nil, 100000)
  row("(d) each() over 100,000 tokens (1,000 pages)", d, 1000)
  local diff = (d.vpptoken.hwm - b.vpptoken.hwm) / 1024
  check("(d) peak RSS within 2 MB of (b)", math.abs(diff) <= 2,
    string.format("%.1f MB vs %.1f MB (%+.1f MB)", d.vpptoken.hwm / 1024, b.vpptoken.hwm / 1024, diff))

  -- (e) start-up
  local e = bench(ALL, "startup", H .. "h/a/v1.0", "-", 1)
  row("(e) require + new{} (start-up)", e)
  -- against the floor's start-up in the same run (loading libcurl and its TLS library is most of both): an absolute
  -- figure would measure the machine, not vpptoken
  check("(e) start-up ≤ 1.5× floor", e.vpptoken.wall <= 1.5 * e.floor.wall,
    string.format("%s ms, floor %s ms: %.2f×", ms(e.vpptoken.wall), ms(e.floor.wall), e.vpptoken.wall / e.floor.wall))

  -- callgrind: instructions per request for (a), (N=220 minus N=20) / 200, so start-up cancels out
  local function ir(impl, n)
    local out_file = tmp .. "/callgrind." .. impl .. "." .. n
    local cmd = string.format("VPPTOKEN_BUILD_DIR=%s valgrind --tool=callgrind --callgrind-out-file=%s %s "
      .. "bench/worker.lua %s get %s %s %d 2>&1", q(build), q(out_file), LUA, impl, q(H .. "h/a/v1.0"), ID, n)
    local out = sh(cmd)
    local total = tonumber((out:match("Collected : (%d+)")))
    assert(total, "callgrind failed:\n" .. out)
    return total, out_file
  end
  local per = {}
  for _, impl in ipairs(ALL) do
    local hi, file = ir(impl, 220)
    local lo = ir(impl, 20)
    per[impl] = (hi - lo) / 200
    if impl == "vpptoken" and os.getenv("BENCH_PROFILE") then
      os.execute("callgrind_annotate --inclusive=no " .. q(file) .. " 2>/dev/null | head -45 >&2")
    end
  end
  local ir_line = string.format("| (a) instructions per get (callgrind) | %.0f | %.0f | %.0f | %.2f× | %.2f× | | | |",
    per.vpptoken, per.floor, per.luasocket, per.vpptoken / per.floor, per.vpptoken / per.luasocket)
  rows[#rows + 1] = ir_line
  check("(a) instructions per request ≤ 1.5× floor", per.vpptoken <= 1.5 * per.floor,
    string.format("%.2f× (%.0f vs %.0f)", per.vpptoken / per.floor, per.vpptoken, per.floor))
  -- (b) per request: one page of 100 tokens
  local function ir_walk(impl, n)
    local cmd = string.format("VPPTOKEN_BUILD_DIR=%s valgrind --tool=callgrind --callgrind-out-file=/dev/null %s "
      .. "bench/worker.lua %s walk %s - %d 2>&1", q(build), LUA, impl, q(H .. "h/b/v1.0"), n)
    return assert(tonumber((sh(cmd):match("Collected : (%d+)"))), "callgrind failed")
  end
  local pw = {}
  for _, impl in ipairs{ "vpptoken", "floor" } do pw[impl] = (ir_walk(impl, 6) - ir_walk(impl, 1)) / 50 end
  rows[#rows + 1] = string.format("| (b) instructions per page of 100 (callgrind) | %.0f | %.0f | | %.2f× | | | | |",
    pw.vpptoken, pw.floor, pw.vpptoken / pw.floor)
  check("(b) instructions per request ≤ 1.5× floor", pw.vpptoken <= 1.5 * pw.floor,
    string.format("%.2f× (%.0f vs %.0f)", pw.vpptoken / pw.floor, pw.vpptoken, pw.floor))

  -- (e) start-up instructions: the whole process (interpreter, require, new{}), one run each
  local su = {}
  for _, impl in ipairs(ALL) do
    local cmd = string.format("VPPTOKEN_BUILD_DIR=%s valgrind --tool=callgrind --callgrind-out-file=/dev/null %s "
      .. "bench/worker.lua %s startup %s - 1 2>&1", q(build), LUA, impl, q(H .. "h/a/v1.0"))
    su[impl] = assert(tonumber((sh(cmd):match("Collected : (%d+)"))), "callgrind failed")
  end
  rows[#rows + 1] = string.format("| (e) start-up instructions, whole process (callgrind) | %.1f M | %.1f M | %.1f M "
    .. "| %.2f× | %.2f× | | | |", su.vpptoken / 1e6, su.floor / 1e6, su.luasocket / 1e6, su.vpptoken / su.floor,
    su.vpptoken / su.luasocket)
  checks[#checks + 1] = string.format("info  (e) start-up instructions: %.2f× the floor's (%.1f M vs %.1f M)",
    su.vpptoken / su.floor, su.vpptoken / 1e6, su.floor / 1e6)

  -- ---- (f) vpptoken.async in a luv loop against the blocking client, on the same workloads (issue 23) ----
  local async_rows = {}
  local function async_row(name, r)
    local av, v = r.async, r.vpptoken
    local over = v.over.async -- per run: blocking ÷ async
    async_rows[#async_rows + 1] = string.format("| %s | %s | %s | %.2f× | %.2f× | %.1f |", name, ms(av.wall),
      ms(v.wall), 1 / over.wall, 1 / over.cpu, av.hwm / 1024)
    io.stderr:write(async_rows[#async_rows], "\n")
  end
  async_row("(f) 2,000 gets one after another, HTTP/1.1 (nginx)",
    bench({ "vpptoken", "async" }, "get", H .. "h/a/v1.0", ID, 2000, nil, 2000))
  async_row("(f) sync 200 tokens, 50 ms latency, 32 at a time (sandbox)",
    bench({ "vpptoken", "async" }, "sync", sandbox.graph, "32", 1, nil, 200))

  print("| workload | vpptoken ms | floor ms | LuaSocket ms | wall ÷ floor | wall ÷ LuaSocket | CPU ÷ floor "
    .. "| CPU ÷ LuaSocket | vpptoken peak RSS MB |")
  print("|---|---|---|---|---|---|---|---|---|")
  for _, r in ipairs(rows) do print(r) end
  print()
  print("| workload (f) | async ms | blocking ms | wall ÷ blocking | CPU ÷ blocking | async peak RSS MB |")
  print("|---|---|---|---|---|---|")
  for _, r in ipairs(async_rows) do print(r) end
  print()
  for _, c in ipairs(checks) do print(c) end
  if QUICK then
    print("quick mode (BENCH_QUICK=1, RUNS=" .. RUNS .. "): every workload ran; a MISS is not a failure")
  end
  for _, c in ipairs(checks) do
    if c:match("^FAIL") then return false end
  end
  return true
end

local ok, res = pcall(main)
cleanup()
if not ok then
  io.stderr:write("bench failed: ", tostring(res), "\n")
  os.exit(2)
end
os.exit(res and 0 or 1)
