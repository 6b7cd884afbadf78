-- prometheus_exporter.lua: writes the VPP tokens' expiry, state and last sync as a Prometheus text file for
-- node_exporter's textfile collector (--collector.textfile.directory), atomically: FILE.tmp, then renamed.
--
--   VPPTOKEN_ACCESS_TOKEN=... lua5.4 examples/prometheus_exporter.lua --output /var/lib/node_exporter/vpp.prom
--   cron: */15 * * * *  AZURE_TENANT_ID=.. AZURE_CLIENT_ID=.. AZURE_CLIENT_SECRET=.. \
--                        lua5.4 /opt/vpptoken/examples/prometheus_exporter.lua --output /var/lib/node_exporter/vpp.prom
--   (LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' from a checkout; VPPTOKEN_GRAPH_URL for the
--   sandbox)
--
-- Alert on expiry with e.g. `vpptoken_days_left < 30 or vpptoken_state{state="valid"} == 0`, and on staleness
-- with `vpptoken_scrape_success == 0`.
--
-- When Graph cannot be asked, the file keeps the previous run's series (last known expiry, state and sync, still
-- true enough to alert on; `vpptoken_last_success_timestamp_seconds` tells their age) and says
-- `vpptoken_scrape_success 0`; without a previous file it holds only that. Exit status, as the vpptoken command's:
-- 0 written, 1 the file could not be written, 2 usage or configuration error, 3 no or failed sign-in, 4 to 8 Graph
-- failed, by the error's kind (the file still written as above).
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the scripts exit as the command would.
local exits = require "vpptoken.cli.exits"

local NAME = "prometheus_exporter"
local USAGE = [[
usage: prometheus_exporter.lua --output FILE

Writes the VPP tokens as Prometheus gauges to FILE (atomically: FILE.tmp, then renamed), labelled with id,
apple_id and organization:
  vpptoken_expiry_timestamp_seconds, vpptoken_days_left, vpptoken_state{state=...} (1 for the current state,
  0 for the others), vpptoken_last_sync_timestamp_seconds, and vpptoken_scrape_success (1|0),
  vpptoken_last_success_timestamp_seconds.
When Graph fails, the previous file's series are kept and vpptoken_scrape_success is 0.

  -o, --output FILE   the .prom file to write (required)
  -h, --help          this text

Sign-in from the environment: VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH), or workload identity, a managed identity or az (docs/signin.md);
VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL.
Exit status (as vpptoken's): 0 written, 1 write failed, 2 usage error, 3 no or failed sign-in, 4 to 8 Graph
failed.
]]

local METRICS = {
  { "vpptoken_expiry_timestamp_seconds", "When the VPP token expires (expirationDateTime), seconds since the epoch." },
  { "vpptoken_days_left", "Whole days until the VPP token expires, rounded up; 0 or less once expired." },
  { "vpptoken_state", "The VPP token's state: 1 for the current one, 0 for the others." },
  { "vpptoken_last_sync_timestamp_seconds", "The last license sync with Apple (lastSyncDateTime), seconds since the "
    .. "epoch." },
}
local SUCCESS = { "vpptoken_scrape_success", "Whether the last run read the tokens from Graph (1) or failed (0)." }
local LAST_SUCCESS = { "vpptoken_last_success_timestamp_seconds", "When a run last read the tokens from Graph." }

local function usage_error(msg)
  io.stderr:write(NAME, ": ", msg, "\n", "Try 'lua5.4 examples/", NAME, ".lua --help'.\n")
  os.exit(exits.USAGE)
end

local function parse_args(args)
  local opts = {}
  local i = 1
  while args[i] do
    local a = args[i]
    if a == "-h" or a == "--help" then
      io.stdout:write(USAGE)
      os.exit(0)
    elseif a == "-o" or a == "--output" then
      opts.output = args[i + 1]
      if opts.output == nil or opts.output == "" then usage_error(a .. " needs a file name") end
      i = i + 1
    else
      usage_error("unknown argument '" .. a .. "'")
    end
    i = i + 1
  end
  if not opts.output then usage_error("--output FILE is required") end
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

-- A label value in the exposition format: backslash, double quote and line feed escaped.
local function label_value(v)
  return (tostring(v):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function labels(pairs_list)
  local out = {}
  for _, p in ipairs(pairs_list) do out[#out + 1] = p[1] .. '="' .. label_value(p[2]) .. '"' end
  return "{" .. table.concat(out, ",") .. "}"
end

local function number(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  return string.format("%.17g", v)
end

local function header(out, m)
  out[#out + 1] = "# HELP " .. m[1] .. " " .. m[2]
  out[#out + 1] = "# TYPE " .. m[1] .. " gauge"
end

-- The token series, grouped per metric (the format wants each metric's samples together).
local function token_lines(tokens)
  local states = vpptoken.members("State")
  local series = { {}, {}, {}, {} }
  for _, t in ipairs(tokens) do
    local base = { { "id", t.id or "" }, { "apple_id", t.appleId or "" }, { "organization", t.organizationName or "" } }
    local lbl = labels(base)
    local exp = t.expirationDateTime and vpptoken.time.parse(t.expirationDateTime)
    if exp then
      series[1][#series[1] + 1] = METRICS[1][1] .. lbl .. " " .. number(exp)
      series[2][#series[2] + 1] = METRICS[2][1] .. lbl .. " " .. number(vpptoken.days_left(t))
    end
    local known = false
    for _, s in ipairs(states) do
      known = known or s == t.state
      local l = { base[1], base[2], base[3], { "state", s } }
      series[3][#series[3] + 1] = METRICS[3][1] .. labels(l) .. " " .. (s == t.state and "1" or "0")
    end
    if t.state and not known then -- a state Graph added later
      local l = { base[1], base[2], base[3], { "state", t.state } }
      series[3][#series[3] + 1] = METRICS[3][1] .. labels(l) .. " 1"
    end
    local synced = t.lastSyncDateTime and vpptoken.time.parse(t.lastSyncDateTime)
    if synced then series[4][#series[4] + 1] = METRICS[4][1] .. lbl .. " " .. number(synced) end
  end
  local out = {}
  for i, m in ipairs(METRICS) do
    header(out, m)
    for _, l in ipairs(series[i]) do out[#out + 1] = l end
  end
  return out
end

-- The previous file's lines for every metric but vpptoken_scrape_success (kept after a failed run).
local function previous_lines(path)
  local f = io.open(path, "r")
  if not f then return {} end
  local out = {}
  for l in f:lines() do
    local name = l:match("^# [HT][EY][LP][PE] ([%w_:]+) ") or l:match("^([%w_:]+)[{ ]")
    if name and name:match("^vpptoken_") and name ~= SUCCESS[1] then out[#out + 1] = l end
  end
  f:close()
  return out
end

local function write_atomically(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not (ok and closed) then
    os.remove(tmp)
    return nil, werr or cerr
  end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, rerr
  end
  return true
end

local function main(args)
  local opts = parse_args(args)
  local client = connect()
  local tokens, err = client:list{ select = { "id", "appleId", "organizationName", "state", "expirationDateTime",
                                             "lastSyncDateTime" } }
  client:close()
  local out, status
  if tokens then
    out = token_lines(tokens)
    header(out, LAST_SUCCESS)
    out[#out + 1] = LAST_SUCCESS[1] .. " " .. number(os.time())
    status = exits.OK
  else
    io.stderr:write(NAME, ": cannot list the VPP tokens (writing vpptoken_scrape_success 0, keeping the previous "
      .. "series): ", tostring(err), "\n")
    out = previous_lines(opts.output)
    status = exits.for_error(err)
  end
  header(out, SUCCESS)
  out[#out + 1] = SUCCESS[1] .. " " .. (tokens and "1" or "0")
  local ok, werr = write_atomically(opts.output, table.concat(out, "\n") .. "\n")
  if not ok then
    io.stderr:write(NAME, ": cannot write ", opts.output, ": ", tostring(werr), "\n")
    return exits.FAILURE
  end
  return status
end

os.exit(main(arg), true)
