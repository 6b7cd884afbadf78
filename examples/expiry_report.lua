-- Nightly job: sync every valid VPP token's licenses, then report expiry; works against real Graph or the sandbox.
--   AZURE_TENANT_ID=.. AZURE_CLIENT_ID=.. AZURE_CLIENT_SECRET=.. [VPPTOKEN_CLOUD=usgov] \
--     lua5.4 examples/expiry_report.lua       (or VPPTOKEN_ACCESS_TOKEN=...; VPPTOKEN_GRAPH_URL=... for the sandbox)
--   options: --within DAYS (default 30: warn about tokens expiring sooner), --no-sync, --strict (exit 3 on a warning)
local vpptoken = require "vpptoken"

local within, do_sync, strict = 30, true, false
local i = 1
while arg[i] do
  if arg[i] == "--within" then
    within = tonumber(arg[i + 1]) or error("--within needs a number of days")
    i = i + 1
  elseif arg[i] == "--no-sync" then
    do_sync = false
  elseif arg[i] == "--strict" then
    strict = true
  else
    io.stderr:write("expiry_report: unknown option ", arg[i], "\n")
    os.exit(2)
  end
  i = i + 1
end

local client = vpptoken.from_env() -- the sign-in chain: README, "Signing in"

local tokens = assert(client:list())
io.stderr:write(string.format("%d VPP token(s) in the tenant\n", #tokens))

if do_sync then
  local started = {}
  for _, t in ipairs(tokens) do
    if t.state == vpptoken.State.valid and t.lastSyncStatus ~= vpptoken.SyncStatus.inProgress then
      local s, err = client:sync_licenses(t.id)
      if s then started[#started + 1] = t.id else io.stderr:write("sync failed: ", tostring(err), "\n") end
    end
  end
  io.stderr:write(string.format("license sync started for %d valid token(s); waiting", #started))
  local deadline = os.time() + 60
  local pending = #started
  while pending > 0 and os.time() < deadline do
    pending = 0
    for _, id in ipairs(started) do
      local t = client:get(id, { select = { "lastSyncStatus" } })
      if t and t.lastSyncStatus == vpptoken.SyncStatus.inProgress then pending = pending + 1 end
    end
    if pending > 0 then
      io.stderr:write(".")
      os.execute("sleep 0.5")
    end
  end
  io.stderr:write(pending == 0 and " done\n" or (" " .. pending .. " still in progress\n"))
  tokens = assert(client:list())
end

local now = os.time()
local function days_left(t)
  local exp = t.expirationDateTime and vpptoken.time.parse(t.expirationDateTime)
  return exp and math.ceil((exp - now) / 86400) or nil
end
table.sort(tokens, function(a, b) return (days_left(a) or math.huge) < (days_left(b) or math.huge) end)

print(string.format("%-20s %-26s %-9s %-11s %5s  %-10s %s", "ORGANIZATION", "APPLE ID", "STATE", "EXPIRES",
  "DAYS", "LAST SYNC", "NOTE"))
local warnings = 0
for _, t in ipairs(tokens) do
  local d = days_left(t)
  local note = ""
  if t.state ~= vpptoken.State.valid then
    note = "NOT VALID: renew or replace"
  elseif d and d < 0 then
    note = "EXPIRED"
  elseif d and d <= within then
    note = string.format("expires within %d days: renew", within)
  end
  if note ~= "" then warnings = warnings + 1 end
  print(string.format("%-20s %-26s %-9s %-11s %5s  %-10s %s", (t.organizationName or ""):sub(1, 20),
    (t.appleId or ""):sub(1, 26), t.state or "?", (t.expirationDateTime or "-"):sub(1, 10), d or "-",
    t.lastSyncStatus or "-", note))
end
print(string.format("%d token(s), %d need attention", #tokens, warnings))
client:close()
os.exit((strict and warnings > 0) and 3 or 0)
