-- Many tenants (issue #17), not part of `make test`: a license sync of every valid token of 200 tenants x 5 tokens
-- (vpptoken.tenants.run, each tenant its own app in one sandbox, 50 ms on every Graph call) against the ideal, the
-- larger of two bounds: the calls in flight (every call takes the latency; at most `concurrency` at once; a tenant's
-- list comes before its syncs) and Intune's throttling (writes per app per tenant per window). Prints the time, the
-- ideal and their ratio; then how evenly --shard K/N splits the tenants (largest slice / mean).
--   VPPTOKEN_BUILD_DIR=build lua5.4 bench/tenants.lua [TENANTS [TOKENS [LATENCY_MS [CONCURRENCY]]]]
package.path = "spec/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("VPPTOKEN_BUILD_DIR") or "build") .. "/?.so;" .. package.cpath
local helper = require "helper"
local cjson = require "cjson"
local vpptoken = require "vpptoken"
local cli_tenants = require "vpptoken.cli.tenants"

local TENANTS = tonumber(arg[1]) or 200
local TOKENS = tonumber(arg[2]) or 5
local LATENCY = (tonumber(arg[3]) or 50) / 1000
local CONCURRENCY = tonumber(arg[4]) or vpptoken.tenants.MAX_CONCURRENCY
-- Intune's write limit per app per tenant (the sandbox's throttle defaults): window seconds and writes in it.
local WINDOW, APP_WRITES = 20, 100

local function name(i) return string.format("tenant%04d", i) end

local apps_path = os.tmpname()
local apps = {}
for i = 1, TENANTS do
  apps[i] = { client_id = "app-" .. name(i), client_secret = "secret-" .. name(i), tenant = name(i) }
end
local f = assert(io.open(apps_path, "w"))
f:write(cjson.encode{ tenant = "home", apps = apps })
f:close()

local sb = helper.start_sandbox{ "--apps", apps_path, "--sync-seconds", "3600" }
local list, vars = {}, {}
for i = 1, TENANTS do
  list[i] = { name = name(i), tenant_id = name(i), client_id = "app-" .. name(i), client_secret_env = "S" .. i,
              base_url = sb.graph }
  vars["S" .. i] = "secret-" .. name(i)
end
local tenants = assert(vpptoken.tenants.parse(cjson.encode{ tenants = list }, { getenv = function(v)
  return vars[v]
end }))

-- seed, without latency
local seeded = vpptoken.tenants.run(tenants, function(client, t)
  for k = 1, TOKENS do
    local tok, err = client:create{ organizationName = t.name, appleId = k .. "@" .. t.name .. ".example",
                                    token = helper.apple_token("t-" .. t.name .. "-" .. k),
                                    vppTokenAccountType = "business" }
    if not tok then return nil, err end
  end
  return true
end, { concurrency = CONCURRENCY })
for _, r in ipairs(seeded) do assert(r.ok, tostring(r.error)) end

sb:configure{ faults = { latency_ms = { LATENCY * 1000, LATENCY * 1000 } } }
local calls = 0
local started = vpptoken.monotonic()
local results = vpptoken.tenants.run(tenants, function(client)
  return client:sync_all{ concurrency = TOKENS }
end, { concurrency = CONCURRENCY, on_request = function() calls = calls + 1 end })
local took = vpptoken.monotonic() - started
local synced = 0
for _, r in ipairs(results) do
  assert(r.ok, tostring(r.error))
  for _, o in ipairs(r.value) do
    if o.outcome == "started" then synced = synced + 1 end
  end
end
sb:stop()
os.remove(apps_path)

-- Graph calls: one list and TOKENS syncs per tenant (token-endpoint calls take no latency in the sandbox).
local graph_calls = TENANTS * (1 + TOKENS)
local in_flight_bound = math.max(2 * LATENCY, math.ceil(graph_calls / CONCURRENCY) * LATENCY)
local throttle_bound = math.max(0, math.ceil(TOKENS / APP_WRITES) - 1) * WINDOW
local ideal = math.max(in_flight_bound, throttle_bound)
print(string.format("%d tenants x %d tokens, %d ms per Graph call, concurrency %d: %d syncs started, %d calls",
  TENANTS, TOKENS, math.floor(LATENCY * 1000 + 0.5), CONCURRENCY, synced, calls))
print(string.format("took %.2f s; ideal %.2f s (in flight %.2f s, throttling %.2f s); ratio %.2f", took, ideal,
  in_flight_bound, throttle_bound, took / ideal))

for _, n in ipairs{ 2, 4, 8, 16 } do
  local sizes = {}
  for k = 1, n do sizes[k] = 0 end
  for _, t in ipairs(tenants) do
    local k = cli_tenants.shard_of(t.name, n)
    sizes[k] = sizes[k] + 1
  end
  local largest = math.max(table.unpack(sizes))
  print(string.format("--shard K/%d: slices of %s tenants; largest / mean %.2f", n, table.concat(sizes, ", "),
    largest / (TENANTS / n)))
end
