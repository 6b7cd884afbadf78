-- Nightly job: sync every valid VPP token's licenses, then report expiry; works against real Graph or the sandbox.
--   AZURE_TENANT_ID=.. AZURE_CLIENT_ID=.. AZURE_CLIENT_SECRET=.. [VPPTOKEN_CLOUD=usgov] \
--     lua5.4 examples/expiry_report.lua       (or VPPTOKEN_ACCESS_TOKEN=...; VPPTOKEN_GRAPH_URL=... for the sandbox)
-- Exit status, as the vpptoken command's: 0 done, 12 (with --strict) tokens need attention, 2 usage or configuration
-- error, 3 no or failed sign-in, 4 to 8 Graph failed, by the error's kind.
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the script exits as the command would.
local exits = require "vpptoken.cli.exits"

local NAME = "expiry_report"
local USAGE = [[
usage: expiry_report.lua [--within DAYS] [--no-sync] [--strict]

Starts a license sync for every valid VPP token and waits for them (up to a minute), then prints every token with
its expiry, soonest first, marking those that need attention.

  --within DAYS   tokens expiring within DAYS days need attention (default 30)
  --no-sync       report only, start no sync
  --strict        exit 12 when any token needs attention (for cron jobs and monitors)
  -h, --help      this text

Sign-in from the environment: VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH), or workload identity, a managed identity or az (docs/signin.md);
VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL.
Exit status (as vpptoken's): 0 done, 12 with --strict tokens need attention, 2 usage error, 3 no or failed
sign-in, 4 to 8 Graph failed.
]]

local function usage_error(msg)
  io.stderr:write(NAME, ": ", msg, "\n", "Try 'lua5.4 examples/", NAME, ".lua --help'.\n")
  os.exit(exits.USAGE)
end

local within, do_sync, strict = 30, true, false
local i = 1
while arg[i] do
  if arg[i] == "-h" or arg[i] == "--help" then
    io.stdout:write(USAGE)
    os.exit(exits.OK)
  elseif arg[i] == "--within" then
    within = tonumber(arg[i + 1] or "")
    if not within or within < 0 or within ~= within then usage_error("--within needs a number of days >= 0") end
    i = i + 1
  elseif arg[i] == "--no-sync" then
    do_sync = false
  elseif arg[i] == "--strict" then
    strict = true
  else
    usage_error("unknown option '" .. arg[i] .. "'")
  end
  i = i + 1
end

-- The client from the environment, as the vpptoken command makes it: no sign-in configured exits 3, a bad value
-- in the environment 2.
local signed_in, why = vpptoken.credentials_in_env()
if not signed_in then
  io.stderr:write(NAME, ": no credentials: ", why, "\n")
  os.exit(exits.AUTH)
end
local made, client = pcall(vpptoken.from_env) -- the sign-in chain: docs/signin.md
if not made then
  io.stderr:write(NAME, ": ", (tostring(client):gsub("^[^:]*:%d+: ", "")), "\n")
  os.exit(exits.USAGE)
end

-- A Graph failure: the error, then the vpptoken command's exit code for it.
local function fail(what, err)
  io.stderr:write(NAME, ": ", what, ": ", tostring(err), "\n")
  client:close()
  os.exit(exits.for_error(err))
end

local tokens, lerr = client:list()
if not tokens then fail("cannot list the VPP tokens", lerr) end
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
  tokens, lerr = client:list()
  if not tokens then fail("cannot list the VPP tokens", lerr) end
end

local now = os.time()
local function days_left(t)
  local exp = t.expirationDateTime and vpptoken.time.parse(t.expirationDateTime)
  return exp and math.ceil((exp - now) / 86400) or nil
end
table.sort(tokens, function(a, b) return (days_left(a) or math.huge) < (days_left(b) or math.huge) end)

-- The report fits the terminal: COLUMNS, else the terminal's width (vpptoken.terminal), else 80. When the natural
-- table is wider, LAST SYNC goes, then the widest of ORGANIZATION and APPLE ID is cut, ending in "…".
local term = vpptoken.terminal(1)
local width = math.tointeger(tonumber(os.getenv("COLUMNS") or "")) or (term and term.columns) or 80
local cols = { { "APPLE ID" }, { "ORGANIZATION" }, { "STATE" }, { "EXPIRES" }, { "DAYS", right = true },
               { "LAST SYNC", optional = true }, { "NOTE" } }
local rows, warnings = {}, 0
for _, t in ipairs(tokens) do
  local d = days_left(t)
  local note = ""
  if t.state ~= vpptoken.State.valid then
    note = "not valid"
  elseif d and d < 0 then
    note = "expired"
  elseif d and d <= within then
    note = "renew soon"
  end
  if note ~= "" then warnings = warnings + 1 end
  rows[#rows + 1] = { t.appleId or "", t.organizationName or "", t.state or "?",
                      (t.expirationDateTime or "-"):sub(1, 10), d and tostring(d) or "-", t.lastSyncStatus or "-",
                      note }
end
local function len(s) return utf8.len(s) or #s end
local function cut(s, w)
  if len(s) <= w then return s end
  return s:sub(1, (utf8.offset(s, w) or w) - 1) .. "…"
end
for k, c in ipairs(cols) do
  c.w = len(c[1])
  for _, r in ipairs(rows) do c.w = math.max(c.w, len(r[k])) end
end
local function total()
  local n = 0
  for _, c in ipairs(cols) do if not c.dropped then n = n + c.w + 2 end end
  return n - 2
end
if total() > width then cols[6].dropped = true end
while total() > width and math.max(cols[1].w, cols[2].w) > 12 do
  local c = cols[1].w >= cols[2].w and cols[1] or cols[2]
  c.w = c.w - 1
end
local function line(values)
  local parts = {}
  for k, c in ipairs(cols) do
    if not c.dropped then
      local v = cut(values[k], c.w)
      local pad = (" "):rep(c.w - len(v))
      parts[#parts + 1] = c.right and (pad .. v) or (v .. pad)
    end
  end
  return (table.concat(parts, "  "):gsub("%s+$", ""))
end
local header = {}
for k, c in ipairs(cols) do header[k] = c[1] end
print(line(header))
for _, r in ipairs(rows) do print(line(r)) end
print(string.format("%d token(s), %d need attention (renew soon: expires within %d days)", #tokens, warnings,
  within))
client:close()
os.exit((strict and warnings > 0) and exits.ATTENTION or exits.OK)
