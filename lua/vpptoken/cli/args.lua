--- The vpptoken command line: the commands, their flags and the parser. Flags may come before or after the
-- command, as `--name value` or `--name=value`; `--` ends the flags.
local quoted = require("vpptoken.text").quoted
local vpptoken = require "vpptoken"

local M = {}

--- "a, b or c": a list for help texts and messages.
function M.one_of(list)
  if #list < 2 then return list[1] or "" end
  return table.concat(list, ", ", 1, #list - 1) .. " or " .. list[#list]
end

-- What the library owns and the flags offer: the clouds, the account types, the retries' range and the defaults.
local CLOUDS = vpptoken.clouds()
local ACCOUNT_TYPES = vpptoken.members(vpptoken.AccountType)
local RETRIES = vpptoken.transport_option("max_retries")
local TIMEOUT = vpptoken.transport_option("timeout")
local OTHER_CLOUDS = { table.unpack(CLOUDS, 2) }

-- Flags every command takes. kind: flag (no value), string, number, int, count (from `min` to `max`), choice (with
-- `choices`), path.
M.GLOBAL = {
  { name = "cloud", kind = "choice", choices = CLOUDS, arg = "CLOUD",
    help = "national cloud: " .. M.one_of{ CLOUDS[1] .. " (default)", table.unpack(OTHER_CLOUDS) } },
  { name = "beta", kind = "flag", help = "use Graph's beta API (beta properties and actions)" },
  { name = "graph-url", kind = "string", arg = "URL",
    help = "Graph base URL, e.g. http://127.0.0.1:8787/v1.0 (default: $VPPTOKEN_GRAPH_URL or the cloud's)" },
  { name = "tenant", kind = "string", arg = "TENANT", help = "Entra tenant id or domain (default: $AZURE_TENANT_ID)" },
  { name = "client-id", kind = "string", arg = "ID", help = "app (client) id (default: $AZURE_CLIENT_ID)" },
  { name = "client-secret-file", kind = "path", arg = "PATH",
    help = "read the client secret from this file (default: $AZURE_CLIENT_SECRET)" },
  { name = "timeout", kind = "number", arg = "SECONDS",
    help = "seconds per HTTP attempt (default " .. TIMEOUT.default .. ")" },
  { name = "retries", kind = "count", min = RETRIES.min, max = RETRIES.max, arg = "N",
    help = string.format("retries after a failed attempt, %d to %d (default %d)", RETRIES.min, RETRIES.max,
      RETRIES.default) },
  { name = "output", short = "o", kind = "choice", choices = { "table", "json", "csv" }, arg = "FORMAT",
    help = "table (default), json (one document, sorted keys) or csv (RFC 4180)" },
  { name = "show-secrets", kind = "flag", help = "print token values instead of <redacted>" },
  { name = "verbose", short = "v", kind = "flag", help = "print every HTTP call to stderr (method, URL, status, "
    .. "attempts, time, request ids)" },
  { name = "quiet", short = "q", kind = "flag", help = "print no progress or confirmations, only results and errors" },
  { name = "help", short = "h", kind = "flag", help = "show help (vpptoken COMMAND --help for a command)" },
}

-- The commands in the order help lists them. args: what follows the command (min and max positional count).
M.COMMANDS = {
  { name = "list", summary = "list the VPP tokens", min = 0, max = 0, flags = {
      { name = "filter", kind = "string", arg = "ODATA", help = "an OData $filter, e.g. \"state eq 'valid'\"" },
      { name = "select", kind = "string", arg = "NAMES", help = "properties to show, comma-separated" },
      { name = "top", kind = "int", arg = "N", help = "N tokens per page (OData $top); every page is read" },
      { name = "state", kind = "string", arg = "STATE", help = "only tokens in this state (valid, expired, ...)" },
  } },
  { name = "get", usage = "ID", summary = "show one token", min = 1, max = 1, flags = {
      { name = "select", kind = "string", arg = "NAMES", help = "properties to show, comma-separated" },
  } },
  { name = "create", summary = "add a token from Apple's .vpptoken file", min = 0, max = 0, flags = {
      { name = "file", kind = "path", arg = "PATH", help = "the .vpptoken file from Apple Business/School Manager "
        .. "(required)" },
      { name = "apple-id", kind = "string", arg = "EMAIL", help = "the Apple ID (managed account) of the token" },
      { name = "organization", kind = "string", arg = "NAME", help = "organizationName (default: the file's)" },
      { name = "account-type", kind = "choice", choices = ACCOUNT_TYPES, arg = "TYPE",
        help = "vppTokenAccountType: " .. M.one_of(ACCOUNT_TYPES) },
      { name = "country", kind = "string", arg = "CODE", help = "countryOrRegion, e.g. us" },
      { name = "set", kind = "list", arg = "NAME=VALUE", help = "any other property (repeatable)" },
  } },
  { name = "update", usage = "ID", summary = "change properties of a token", min = 1, max = 1, flags = {
      { name = "set", kind = "list", arg = "NAME=VALUE", help = "a property to change (repeatable; at least one)" },
  } },
  { name = "delete", usage = "ID", summary = "remove a token from Intune", min = 1, max = 1, flags = {
      { name = "yes", short = "y", kind = "flag", help = "do not ask for confirmation (needed without a terminal)" },
  } },
  { name = "sync", usage = "ID... | --all", summary = "start a license sync with Apple", min = 0, max = math.huge,
    flags = {
      { name = "all", kind = "flag", help = "every valid token not already syncing" },
      { name = "wait", kind = "flag", help = "wait until each sync has finished" },
      { name = "wait-timeout", kind = "number", arg = "SECONDS", help = "give up waiting after this (default 300)" },
  } },
  { name = "expiring", summary = "tokens expiring soon, expired or not valid", min = 0, max = 0, flags = {
      { name = "within", kind = "number", arg = "DAYS", help = "expiring within DAYS days (default 30)" },
  } },
  { name = "renew", usage = "ID", summary = "upload a new .vpptoken file into a token", min = 1, max = 1, flags = {
      { name = "file", kind = "path", arg = "PATH", help = "the new .vpptoken file (required)" },
  } },
  { name = "sandbox", usage = "[-- SANDBOX OPTIONS]", summary = "start the local Graph sandbox", min = 0,
    max = math.huge, passthrough = true, flags = {} },
  { name = "version", summary = "print the version", min = 0, max = 0, flags = {} },
  { name = "help", usage = "[COMMAND]", summary = "show help", min = 0, max = 1, flags = {} },
}

-- Signing in as a person (vpptoken.login): login, logout, whoami, listed before `sandbox`. --tenant and --client-id
-- are the global flags (login's default client: vpptoken.login.DEFAULT_CLIENT_ID).
do
  local at = #M.COMMANDS + 1
  for i, c in ipairs(M.COMMANDS) do
    if c.name == "sandbox" then at = i break end
  end
  for i, c in ipairs{
    { name = "login", summary = "sign in as yourself (device code); later commands use it", min = 0, max = 0,
      flags = {} },
    { name = "logout", summary = "forget the sign-in of vpptoken login", min = 0, max = 0, flags = {} },
    { name = "whoami", summary = "show who vpptoken login signed in (never the token)", min = 0, max = 0,
      flags = {} },
  } do
    table.insert(M.COMMANDS, at + i - 1, c)
  end
end

M.BY_NAME = {}
for _, c in ipairs(M.COMMANDS) do M.BY_NAME[c.name] = c end

local function find_flag(list, name, short)
  for _, f in ipairs(list) do
    if (name and f.name == name) or (short and f.short == short) then return f end
  end
end

-- A number as people write it on a command line: decimal digits with an optional fraction (Lua's tonumber would
-- also take 0x10, 1e3 and surrounding spaces).
local function decimal(value)
  if not value:match("^%d+%.?%d*$") and not value:match("^%.%d+$") then return nil end
  return tonumber(value)
end

local function convert(f, value)
  if f.kind == "count" then
    local n = math.tointeger(decimal(value))
    if not n or n < f.min or n > f.max then
      return nil, string.format("--%s needs a whole number from %d to %d (got %s)", f.name, f.min, f.max,
        quoted(value))
    end
    return n
  elseif f.kind == "int" then
    local n = math.tointeger(decimal(value))
    if not n or n < 1 then return nil, "--" .. f.name .. " needs a whole number >= 1 (got " .. quoted(value) .. ")" end
    return n
  elseif f.kind == "number" then
    local n = decimal(value)
    if not n or n ~= n or n < 0 or n == math.huge then
      return nil, "--" .. f.name .. " needs a number >= 0 (got " .. quoted(value) .. ")"
    end
    return n
  elseif f.kind == "choice" then
    for _, c in ipairs(f.choices) do if c == value then return value end end
    return nil, string.format("--%s must be one of %s (got %s)", f.name, table.concat(f.choices, ", "), quoted(value))
  elseif (f.kind == "string" or f.kind == "path") and value == "" then
    return nil, "--" .. f.name .. " needs a non-empty value"
  end
  return value
end

local function key(name)
  return (name:gsub("%-", "_"))
end

--- Parses the arguments. Returns { command = spec, positional = {...}, opts = { flag_name = value } }, or
-- nil, message, command spec (if known) on a usage error.
function M.parse(argv)
  local opts, positional, command = {}, {}, nil
  local i, n = 1, #argv
  local rest = false
  while i <= n do
    local a = argv[i]
    if rest or (command and command.passthrough and a ~= "--help" and a ~= "-h") then
      if a == "--" and not rest and command and command.passthrough and #positional == 0 then
        rest = true
      else
        positional[#positional + 1] = a
      end
    elseif a == "--" then
      rest = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      local name, value, short = a:match("^%-%-([^=]+)=(.*)$")
      if not name then name = a:match("^%-%-(.+)$") end
      if not name then short = a:match("^%-(%w)$") end
      local f = find_flag(M.GLOBAL, name, short) or (command and find_flag(command.flags, name, short))
      if not f then
        local shown = name and ("--" .. name) or a
        if not command then
          for _, c in ipairs(M.COMMANDS) do
            if find_flag(c.flags, name, short) then -- a known option: its name is safe to show
              return nil, "option '" .. shown .. "' belongs after a command (e.g. 'vpptoken " .. c.name .. " "
                .. shown .. "')"
            end
          end
        end
        return nil, "unknown option " .. quoted(shown), command
      end
      if f.kind == "flag" then
        if value then return nil, "option '--" .. f.name .. "' takes no value", command end
        opts[key(f.name)] = true
      else
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, "option '--" .. f.name .. "' needs a value (" .. f.arg .. ")", command end
        end
        local v, msg = convert(f, value)
        if v == nil then return nil, msg, command end
        if f.kind == "list" then
          opts[key(f.name)] = opts[key(f.name)] or {}
          table.insert(opts[key(f.name)], v)
        else
          opts[key(f.name)] = v
        end
      end
    elseif not command then
      command = M.BY_NAME[a]
      if not command then return nil, "unknown command " .. quoted(a) end
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  local parsed = { command = command, positional = positional, opts = opts }
  if opts.help or not command then return parsed end
  if #positional < command.min then
    return nil, command.name .. " needs " .. (command.usage or "an argument"), command
  end
  if #positional > command.max then
    return nil, "unexpected argument " .. quoted(positional[command.max + 1]), command
  end
  return parsed
end

return M
