-- Issue #7 soak: N mixed operations (default 10,000) against a sandbox injecting faults at a rate (default 20 %)
-- with throttling on. Every operation is accounted for; the store must match what was acknowledged; the Lua
-- process's RSS is printed every 1,000 operations. Exit 1 when an operation is unaccounted for or the store is
-- inconsistent. Usage: lua5.4 bench/soak.lua [N [RATE]]   (VPPTOKEN_BUILD_DIR picks the build; `make soak`)
package.path = "spec/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("VPPTOKEN_BUILD_DIR") or "build") .. "/?.so;" .. package.cpath
local helper = require "helper"
local vpptoken = require "vpptoken"

local soak = {}

local function rss_kb()
  local f = io.open("/proc/self/status", "r")
  if not f then return 0 end
  local kb = tonumber(f:read("a"):match("VmRSS:%s*(%d+)")) or 0
  f:close()
  return kb
end

-- Runs n operations; returns a report table (see the end). opts: rate, seed, quiet.
function soak.run(n, opts)
  opts = opts or {}
  local out = opts.quiet and function() end or print
  local sb = helper.start_sandbox{ "--access-token", "soak", "--sync-seconds", "0.05" }
  sb:configure{ throttle = { enabled = true },
                faults = { rate = opts.rate or 0.2, seed = opts.seed or 7, retry_after = 0.05,
                           kinds = { status = 4, reset = 1, reset_after = 1, truncate = 1, malformed = 1,
                                     content_type = 1, drip = 1, delay = 1 },
                           drip = { chunk = 256, interval_ms = 1 }, delay_ms = { 10, 50 } } }
  local c = vpptoken.new{ base_url = sb.graph, access_token = "soak", retry_delay = 0.01, max_retries = 3,
                          timeout = 10, max_retry_time = 5 }
  local live, acked_deleted, unknown_creates = {}, {}, 0
  local ids = {}
  local stats = { ok = {}, failed = {}, why = {} }
  local rss = {}
  local lost = 0
  math.randomseed(opts.seed or 7)
  for i = 1, n do
    local r = math.random()
    local op, res, err
    if r < 0.25 or #ids == 0 then
      op = "create"
      res, err = c:create{ token = helper.apple_token("soak-" .. i), appleId = "soak" .. i .. "@contoso.com",
                           organizationName = "Soak" }
      if res then live[res.id] = true; ids[#ids + 1] = res.id
      elseif err and err.outcome_unknown then unknown_creates = unknown_creates + 1 end
    else
      local id = ids[math.random(#ids)]
      if r < 0.45 then op = "get"; res, err = c:get(id)
      elseif r < 0.6 then op = "list"; res, err = c:list{ top = 50 }
      elseif r < 0.75 then op = "update"; res, err = c:update(id, { automaticallyUpdateApps = (i % 2 == 0) })
      elseif r < 0.87 then op = "sync_licenses"; res, err = c:sync_licenses(id)
      else
        op = "delete"
        res, err = c:delete(id)
        -- a 404 counts as gone too: a DELETE whose answer was lost is repeated and then answers 404
        if res or (err and err.kind == "not_found") then live[id] = nil; acked_deleted[id] = true end
      end
      -- a token the caller was told is gone answers 404 afterwards: still accounted for, as a failure
    end
    if res then
      stats.ok[op] = (stats.ok[op] or 0) + 1
    elseif vpptoken.is_error(err) and err.kind then
      stats.failed[op] = (stats.failed[op] or 0) + 1
      local key = err.kind .. ":" .. tostring(err.code)
      stats.why[key] = (stats.why[key] or 0) + 1
    else
      lost = lost + 1
    end
    if i % 1000 == 0 then
      collectgarbage()
      rss[#rss + 1] = rss_kb()
      out(string.format("%6d ops  VmRSS %d kB", i, rss[#rss]))
    end
  end
  -- the store against what was acknowledged (faults off for this)
  sb:configure{ faults = require("cjson").null, throttle = { enabled = false } }
  c:close()
  local checker = vpptoken.new{ base_url = sb.graph, access_token = "soak", retry_delay = 0.01 }
  local stored = {}
  local all = assert(checker:list())
  for _, t in ipairs(all) do stored[t.id] = true end
  checker:close()
  local missing, resurrected, extra = 0, 0, 0
  for id in pairs(live) do if not stored[id] then missing = missing + 1 end end
  for id in pairs(acked_deleted) do if stored[id] then resurrected = resurrected + 1 end end
  for id in pairs(stored) do if not live[id] and not acked_deleted[id] then extra = extra + 1 end end
  sb:stop()
  return { n = n, stats = stats, lost = lost, missing = missing, resurrected = resurrected, extra = extra,
           unknown_creates = unknown_creates, rss = rss, stored = #all }
end

function soak.print(rep)
  print(string.format("%-14s %8s %8s", "operation", "ok", "failed"))
  local ops = { "create", "get", "list", "update", "sync_licenses", "delete" }
  local tok, tfail = 0, 0
  for _, op in ipairs(ops) do
    print(string.format("%-14s %8d %8d", op, rep.stats.ok[op] or 0, rep.stats.failed[op] or 0))
    tok, tfail = tok + (rep.stats.ok[op] or 0), tfail + (rep.stats.failed[op] or 0)
  end
  print(string.format("%-14s %8d %8d   (of %d; unaccounted: %d)", "total", tok, tfail, rep.n, rep.lost))
  local why = {}
  for k, v in pairs(rep.stats.why) do why[#why + 1] = string.format("  %-40s %d", k, v) end
  table.sort(why)
  print("failures by kind:code:\n" .. table.concat(why, "\n"))
  print(string.format("store: %d tokens; acknowledged but missing %d; deleted but present %d; unacknowledged "
    .. "extra %d (creates with outcome unknown: %d)", rep.stored, rep.missing, rep.resurrected, rep.extra,
    rep.unknown_creates))
  print("VmRSS kB every 1,000 ops: " .. table.concat(rep.rss, " "))
end

function soak.ok(rep)
  return rep.lost == 0 and rep.missing == 0 and rep.resurrected == 0 and rep.extra <= rep.unknown_creates
end

if arg and arg[0] and arg[0]:match("soak%.lua$") then
  local rep = soak.run(tonumber(arg[1]) or 10000, { rate = tonumber(arg[2]) or 0.2 })
  soak.print(rep)
  os.exit(soak.ok(rep) and 0 or 1)
end

return soak
