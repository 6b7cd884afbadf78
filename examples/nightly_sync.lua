-- nightly_sync.lua: starts a license sync for every valid VPP token at once (client:sync_all), optionally waits
-- for the syncs to finish, prints what happened to each token and exits 1 when any sync failed.
--
--   VPPTOKEN_ACCESS_TOKEN=... lua5.4 examples/nightly_sync.lua --wait --timeout 600
--   cron: 15 2 * * *  cd /opt/vpptoken && AZURE_TENANT_ID=.. AZURE_CLIENT_ID=.. AZURE_CLIENT_SECRET=.. \
--                       lua5.4 examples/nightly_sync.lua --wait
--   (LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' from a checkout; VPPTOKEN_GRAPH_URL for the
--   sandbox)
--
-- Exit status, as the vpptoken command's: 0 every sync started (and, with --wait, completed), 1 a sync failed to
-- start, ended "failed" or was still running at the deadline, 2 usage or configuration error, 3 no or failed
-- sign-in, 4 to 8 the tokens could not be listed (by the error's kind).
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the scripts exit as the command would.
local exits = require "vpptoken.cli.exits"

local NAME = "nightly_sync"
local USAGE = [[
usage: nightly_sync.lua [--wait] [--timeout SECONDS] [--interval SECONDS] [--concurrency N]

Starts a license sync for every valid VPP token (tokens that are not valid, or already syncing, are skipped),
prints one line per token (started / skipped with the reason / failed with the error) and a summary.

  --wait              wait until every started sync has finished (lastSyncStatus no longer inProgress)
  --timeout SECONDS   how long --wait waits in all (default 300)
  --interval SECONDS  between checks while waiting (default 5)
  --concurrency N     syncs started at once (default 8, 1..64)
  -h, --help          this text

Sign-in from the environment: VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH), or workload identity, a managed identity or az (docs/signin.md);
VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL.
Exit status (as vpptoken's): 0 all started (and completed with --wait), 1 any failed, 2 usage error, 3 no or
failed sign-in, 4 to 8 the list failed.
]]

local function usage_error(msg)
  io.stderr:write(NAME, ": ", msg, "\n", "Try 'lua5.4 examples/", NAME, ".lua --help'.\n")
  os.exit(exits.USAGE)
end

local function parse_args(args)
  local opts = { wait = false, timeout = 300, interval = 5, concurrency = 8 }
  local i = 1
  while args[i] do
    local a = args[i]
    local function number(min, max, whole)
      local v = args[i + 1]
      local n = tonumber(v)
      if n == nil or n ~= n or n < min or n > max or (whole and math.type(n) ~= "integer") then
        usage_error(string.format("%s needs a %s from %g to %g (got '%s')", a, whole and "whole number" or "number",
          min, max, tostring(v)))
      end
      i = i + 1
      return n
    end
    if a == "-h" or a == "--help" then
      io.stdout:write(USAGE)
      os.exit(0)
    elseif a == "--wait" then
      opts.wait = true
    elseif a == "--timeout" then
      opts.timeout = number(0, 86400)
    elseif a == "--interval" then
      opts.interval = number(0.01, 3600)
    elseif a == "--concurrency" then
      opts.concurrency = number(1, 64, true)
    else
      usage_error("unknown argument '" .. a .. "'")
    end
    i = i + 1
  end
  return opts
end

local function connect()
  local signed_in, why = vpptoken.credentials_in_env()
  if not signed_in then
    io.stderr:write(NAME, ": no credentials: ", why, "\n")
    os.exit(exits.AUTH)
  end
  local ok, client = pcall(vpptoken.from_env)
  if not ok then
    io.stderr:write(NAME, ": ", (tostring(client):gsub("^[^:]*:%d+: ", "")), "\n")
    os.exit(exits.USAGE)
  end
  return client
end

-- With --wait: polls each started token until its sync is over, within one shared deadline. Sets o.finished
-- ("completed", "failed", ...), or o.wait_error.
local function wait_all(client, outcomes, opts)
  local deadline = os.time() + opts.timeout
  for _, o in ipairs(outcomes) do
    if o.outcome == "started" then
      local left = math.max(0, deadline - os.time())
      local tok, err = client:wait_for_sync(o.id, { timeout = left, interval = opts.interval })
      if tok then o.finished = tok.lastSyncStatus or "none" else o.wait_error = err end
    end
  end
end

local function main(args)
  local opts = parse_args(args)
  local client = connect()
  local outcomes, err = client:sync_all{ concurrency = opts.concurrency }
  if not outcomes then
    client:close()
    io.stderr:write(NAME, ": cannot list the VPP tokens: ", tostring(err), "\n")
    return exits.for_error(err)
  end
  if opts.wait then wait_all(client, outcomes, opts) end
  client:close()
  local counts = { started = 0, skipped = 0, failed = 0, completed = 0, unfinished = 0 }
  for _, o in ipairs(outcomes) do
    local detail
    if o.outcome == "started" then
      if o.finished == "completed" then
        detail, counts.completed = "completed", counts.completed + 1
      elseif o.finished then
        detail, counts.unfinished = "sync ended with lastSyncStatus " .. o.finished, counts.unfinished + 1
      elseif o.wait_error then
        detail, counts.unfinished = tostring(o.wait_error), counts.unfinished + 1
      else
        detail = "sync started"
      end
    else
      detail = o.reason or ""
    end
    counts[o.outcome] = (counts[o.outcome] or 0) + 1
    print(string.format("%-8s %s %s: %s", o.outcome, tostring(o.id), o.appleId or "?", detail))
  end
  local summary = string.format("%d token(s): %d started, %d skipped, %d failed", #outcomes, counts.started,
    counts.skipped, counts.failed)
  if opts.wait then
    summary = summary .. string.format("; %d completed, %d not completed", counts.completed, counts.unfinished)
  end
  print(summary)
  return (counts.failed > 0 or counts.unfinished > 0) and exits.FAILURE or exits.OK
end

os.exit(main(arg), true)
