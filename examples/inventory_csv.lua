-- inventory_csv.lua: every VPP token in the tenant as CSV (RFC 4180: comma-separated, CRLF line ends, fields with
-- a comma, a double quote or a line break in double quotes, quotes doubled), one header row. Never the token
-- itself (the secret): only the columns below. Text that a spreadsheet would run as a formula (starting with =, +,
-- -, @, tab or CR) gets a leading '.
--
--   VPPTOKEN_ACCESS_TOKEN=... lua5.4 examples/inventory_csv.lua > vpp-tokens.csv
--   AZURE_TENANT_ID=.. AZURE_CLIENT_ID=.. AZURE_CLIENT_SECRET=.. lua5.4 examples/inventory_csv.lua --output t.csv
--   (LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' from a checkout; VPPTOKEN_GRAPH_URL for the
--   sandbox)
--
-- Exit status, as the vpptoken command's: 0 written, 1 the file could not be written, 2 usage or configuration
-- error, 3 no or failed sign-in, 4 to 8 Graph failed, by the error's kind (with --output, FILE is then left as it
-- was).
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the scripts exit as the command would.
local exits = require "vpptoken.cli.exits"

local NAME = "inventory_csv"
local USAGE = [[
usage: inventory_csv.lua [--output FILE]

Writes every VPP token as CSV (RFC 4180) to standard output, or to FILE (replaced only once the whole list has
been read). Columns: id, organizationName, appleId, vppTokenAccountType, state, lastSyncStatus, lastSyncDateTime,
expirationDateTime, days_left, countryOrRegion, automaticallyUpdateApps. Empty fields for missing values.

  -o, --output FILE   write to FILE instead of standard output
  -h, --help          this text

Sign-in from the environment: VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH), or workload identity, a managed identity or az (docs/signin.md);
VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL.
Exit status (as vpptoken's): 0 written, 1 write failed, 2 usage error, 3 no or failed sign-in, 4 to 8 Graph
failed.
]]

local COLUMNS = { "id", "organizationName", "appleId", "vppTokenAccountType", "state", "lastSyncStatus",
                  "lastSyncDateTime", "expirationDateTime", "days_left", "countryOrRegion",
                  "automaticallyUpdateApps" }

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

-- One RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF (or starts/ends with a space). A text
-- value starting with =, +, -, @, tab or CR gets a leading ' so that a spreadsheet shows it instead of running it
-- as a formula (OWASP's advice on CSV injection); numbers, such as a negative days_left, stay as they are.
local function field(v)
  if v == nil then return "" end
  local s = tostring(v)
  if type(v) == "string" and s:find("^[=+%-@\t\r]") then s = "'" .. s end
  if s:find('[,"\r\n]') or s:match("^%s") or s:match("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

local function row(values)
  local out = {}
  for i = 1, #COLUMNS do out[i] = field(values[i]) end
  return table.concat(out, ",") .. "\r\n"
end

local function main(args)
  local opts = parse_args(args)
  local client = connect()
  local tokens, err = client:list()
  client:close()
  if not tokens then
    io.stderr:write(NAME, ": cannot list the VPP tokens: ", tostring(err), "\n")
    return exits.for_error(err)
  end
  local lines = { row(COLUMNS) }
  for _, t in ipairs(tokens) do
    local values = {}
    for i, col in ipairs(COLUMNS) do
      if col == "days_left" then
        values[i] = vpptoken.days_left(t)
      else
        values[i] = t[col] -- only the named columns: never t.token
      end
    end
    lines[#lines + 1] = row(values)
  end
  local text = table.concat(lines)
  if not opts.output then
    io.stdout:write(text)
    return 0
  end
  local tmp = opts.output .. ".tmp"
  local f, ferr = io.open(tmp, "wb")
  local ok, werr = f ~= nil, ferr
  if f then
    ok, werr = f:write(text)
    local closed, cerr = f:close()
    ok, werr = ok and closed, werr or cerr
  end
  if ok then ok, werr = os.rename(tmp, opts.output) end
  if not ok then
    os.remove(tmp)
    io.stderr:write(NAME, ": cannot write ", opts.output, ": ", tostring(werr), "\n")
    return 1
  end
  io.stderr:write(string.format("%s: %d token(s) written to %s\n", NAME, #tokens, opts.output))
  return 0
end

os.exit(main(arg), true)
