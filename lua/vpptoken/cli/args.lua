--- The vpptoken command line: the commands and their flags (M.GLOBAL, M.COMMANDS: the one definition), and the
-- parser and the shell completions lua-argparse builds from them. Flags may come before or after the command, as
-- `--name value` or `--name=value`; `--` ends the flags.
local argparse = require "argparse"
local options = require "vpptoken.options"
local quoted = require("vpptoken.text").quoted
local vpptoken = require "vpptoken"
local compat = require "vpptoken.compat"

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
local OTHER_CLOUDS = { compat.unpack(CLOUDS, 2) }

--- The days `expiring` looks ahead by default; tables show an expiry this close in colour.
M.EXPIRING_DAYS = 30

-- Flags every command takes. kind: flag (no value), string, number, int, count (from `min` to `max`), choice (with
-- `choices`), path, list (repeatable). `values`: what completion offers for a flag that is no choice.
M.GLOBAL = {
  { name = "cloud", kind = "choice", choices = CLOUDS, arg = "CLOUD",
    help = "national cloud: " .. M.one_of{ CLOUDS[1] .. " (default)", compat.unpack(OTHER_CLOUDS) } },
  { name = "beta", kind = "flag", help = "use Graph's beta API (beta properties and actions)" },
  { name = "graph-url", kind = "string", arg = "URL",
    help = "Graph base URL, e.g. http://127.0.0.1:8787/v1.0 (default: $VPPTOKEN_GRAPH_URL or the cloud's; with "
      .. "--tenants, of every tenant without its own base_url)" },
  { name = "tenant", kind = "string", arg = "TENANT", help = "Entra tenant id or domain (default: $AZURE_TENANT_ID)" },
  { name = "client-id", kind = "string", arg = "ID", help = "app (client) id (default: $AZURE_CLIENT_ID)" },
  { name = "client-secret-file", kind = "path", arg = "PATH",
    help = "read the client secret from this file (default: $AZURE_CLIENT_SECRET)" },
  { name = "timeout", kind = "number", arg = "SECONDS",
    help = "seconds per HTTP attempt (default " .. TIMEOUT.default .. ")" },
  { name = "retries", kind = "count", min = RETRIES.min, max = RETRIES.max, arg = "N",
    help = string.format("retries after a failed attempt, %d to %d (default %d)", RETRIES.min, RETRIES.max,
      RETRIES.default) },
  { name = "output", short = "o", kind = "choice", choices = { "table", "wide", "json", "csv" }, arg = "FORMAT",
    help = "table (default: fits the terminal), wide (every column, whole ids), json (sorted keys) or csv" },
  { name = "wide", kind = "flag", help = "the same as --output wide" },
  { name = "no-color", kind = "flag", help = "no colour in tables (also when $NO_COLOR is set; never when piped)" },
  { name = "show-secrets", kind = "flag", help = "print token values instead of <redacted>" },
  { name = "verbose", short = "v", kind = "flag", help = "print every HTTP call (method, URL, status, attempts, "
    .. "time, request ids) and retry wait to stderr" },
  { name = "quiet", short = "q", kind = "flag", help = "print no status line (on a terminal) or confirmations, only "
    .. "results and errors" },
  { name = "help", short = "h", kind = "flag", help = "show help (vpptoken COMMAND --help for a command)" },
  { name = "version", kind = "flag", help = "print the version (as vpptoken version)" },
}

-- The commands in the order help lists them. args: what follows the command (min and max positional count).
M.COMMANDS = {
  { name = "list", summary = "list the VPP tokens", min = 0, max = 0, flags = {
      { name = "filter", kind = "string", arg = "ODATA", help = "an OData $filter, e.g. \"state eq 'valid'\"" },
      { name = "select", kind = "string", arg = "NAMES", help = "properties to show, comma-separated" },
      { name = "top", kind = "int", arg = "N", help = "N tokens per page (OData $top); every page is read" },
      { name = "max", kind = "int", arg = "N", help = "show at most N tokens (stops reading pages once it has them)" },
      { name = "state", kind = "string", arg = "STATE", help = "only tokens in this state (valid, expired, ...)",
        values = vpptoken.members(vpptoken.State) },
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
      { name = "within", kind = "number", arg = "DAYS",
        help = "expiring within DAYS days (default " .. M.EXPIRING_DAYS .. ")" },
      { name = "exit-code", kind = "flag",
        help = "exit 12 when any token needs attention, 0 when none does (for cron jobs and monitors)" },
  } },
  { name = "renew", usage = "ID", summary = "upload a new .vpptoken file into a token", min = 1, max = 1, flags = {
      { name = "file", kind = "path", arg = "PATH", help = "the new .vpptoken file (required)" },
  } },
  { name = "sandbox", usage = "[-- SANDBOX OPTIONS]", summary = "start the local Graph sandbox", min = 0,
    max = math.huge, passthrough = true, flags = {} },
  { name = "version", summary = "print the version", min = 0, max = 0, flags = {} },
  { name = "completion", usage = "SHELL", summary = "print the shell completion script (bash, zsh or fish)",
    min = 1, max = 1, choices = { "bash", "zsh", "fish" }, flags = {} },
  { name = "help", usage = "[COMMAND]", summary = "show help", min = 0, max = 1, topics = true, flags = {} },
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
    local n = compat.tointeger(decimal(value))
    if not n or n < f.min or n > f.max then
      return nil, string.format("--%s needs a whole number from %d to %d (got %s)", f.name, f.min, f.max,
        quoted(value))
    end
    return n
  elseif f.kind == "int" then
    local n = compat.tointeger(decimal(value))
    if not n or n < 1 then return nil, "--" .. f.name .. " needs a whole number >= 1 (got " .. quoted(value) .. ")" end
    return n
  elseif f.kind == "number" then
    local n = decimal(value)
    if not n or n ~= n or n < 0 or n == math.huge then
      return nil, "--" .. f.name .. " needs a number >= 0 (got " .. quoted(value) .. ")"
    end
    return n
  elseif f.kind == "choice" then
    local set = {}
    for _, c in ipairs(f.choices) do
      if c == value then return value end
      set[c] = true
    end
    local hint = options.suggest(value, set)
    return nil, string.format("--%s must be one of %s (got %s%s)", f.name, table.concat(f.choices, ", "),
      quoted(value), hint and ("; did you mean " .. quoted(hint) .. "?") or "")
  elseif (f.kind == "string" or f.kind == "path") and value == "" then
    return nil, "--" .. f.name .. " needs a non-empty value"
  end
  return value
end

local function key(name)
  return (name:gsub("%-", "_"))
end

-- A help text for a completion script, which shows the text up to its first ". ": "e.g. x" -> "for example x".
local function short_text(text)
  return (text:gsub("e%.g%.%s", "for example "))
end

-- One flag of the definition as an argparse option of `parser`. `complete`: the parser is for the shell
-- completions, so a choice flag lists its choices (the parser that parses checks them in convert, whose message
-- names the flag and the closest choice).
local function add_flag(parser, f, complete)
  local names = (f.short and ("-" .. f.short .. " ") or "") .. "--" .. f.name
  local o
  if f.kind == "flag" then
    o = parser:flag(names)
  else
    o = parser:option(names):argname(f.arg):convert(function(value) return convert(f, value) end)
    if f.kind == "list" then o:count("*") end
    if complete and (f.choices or f.values) then o:choices(f.choices or f.values) end
  end
  return o:description(complete and short_text(f.help) or f.help):target(key(f.name))
end

--- The argparse parser built from M.GLOBAL and M.COMMANDS. `complete`: for the shell completions (choices listed,
-- positional arguments as many as a command takes) rather than for parsing. Help is vpptoken's own (cli/help.lua):
-- argparse prints nothing and never exits.
function M.parser(complete)
  local p = argparse("vpptoken", "Manage Apple VPP tokens in Microsoft Intune through Microsoft Graph.")
    :add_help(false):require_command(false):command_target("command")
  for _, f in ipairs(M.GLOBAL) do add_flag(p, f, complete) end
  for _, c in ipairs(M.COMMANDS) do
    local cmd = p:command(c.name):summary(c.summary):description(short_text(c.summary)):add_help(false)
      :target("command " .. c.name)
    if c.passthrough then cmd:handle_options(false) end
    for _, f in ipairs(c.flags) do add_flag(cmd, f, complete) end
    if not complete then
      cmd:argument("arguments"):args("*")
    elseif c.max > 0 then
      local a = cmd:argument((c.usage or ""):match("^%[?(%u+)") or "ARG")
        :args(c.max == math.huge and "*" or (c.min .. "-" .. c.max))
      if c.choices then a:choices(c.choices) end
      if c.topics then -- help: the commands
        local names = {}
        for i, other in ipairs(M.COMMANDS) do names[i] = other.name end
        a:choices(names)
      end
    end
  end
  return p
end

-- " (did you mean '--output'?)" when `name` is close to the name of an entry of `lists` (lists of definitions),
-- written with `prefix`; else "".
local function hint(name, lists, prefix)
  if not name then return "" end
  local known = {}
  for _, list in ipairs(lists) do
    for _, x in ipairs(list) do known[x.name] = true end
  end
  local near = options.suggest(name, known)
  return near and (" (did you mean " .. quoted(prefix .. near) .. "?)") or ""
end

-- What argparse cannot be told, done before it runs: a flag that takes a value is joined with the next argument
-- ("--name=value": so a value may start with "-", as in --top -1, and reaches the flag's own check); a flag given
-- no value, or a command's flag before the command, is refused with the command line's own message. Returns the
-- arguments for argparse and the command named (or nil), or nil, a message and the command.
local function prepare(argv)
  local out, command, word = {}, nil, false
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" or (command and command.passthrough) then
      compat.move(argv, i, #argv, #out + 1, out)
      break
    end
    local long, eq = a:match("^%-%-([^=]+)(=?)")
    local short = not long and a:match("^%-(%w)$")
    local f = (long or short) and (find_flag(M.GLOBAL, long, short) or (command and find_flag(command.flags, long,
      short)))
    if (long or short) and not f then
      local shown = long and ("--" .. long) or a
      for _, c in ipairs(command and {} or M.COMMANDS) do
        if find_flag(c.flags, long, short) then -- a known option: its name is safe to show
          return nil, "option '" .. shown .. "' belongs after a command (e.g. 'vpptoken " .. c.name .. " " .. shown
            .. "')"
        end
      end
      return nil, "unknown option " .. quoted(shown) .. hint(long, { M.GLOBAL, command and command.flags or {} }, "--"),
        command
    end
    if f and f.kind ~= "flag" and (eq or "") == "" then
      if argv[i + 1] == nil then return nil, "option '--" .. f.name .. "' needs a value (" .. f.arg .. ")", command end
      out[#out + 1] = "--" .. f.name .. "=" .. argv[i + 1]
      i = i + 1
    else
      if not (long or short) and not word and not a:match("^%-.") then
        word, command = true, M.BY_NAME[a]
        if not command then return nil, "unknown command " .. quoted(a) .. hint(a, { M.COMMANDS }, "") end
      end
      out[#out + 1] = a
    end
    i = i + 1
  end
  return out, command
end

local PARSER -- built on first use

--- Parses the arguments. Returns { command = spec, positional = {...}, opts = { flag_name = value } }, or
-- nil, message, command spec (if known) on a usage error.
function M.parse(argv)
  local list, msg_or_command, command = prepare(argv)
  if not list then return nil, msg_or_command, command end
  command = msg_or_command
  PARSER = PARSER or M.parser(false)
  local ok, result = PARSER:pparse(list)
  if not ok then return nil, (result:gsub("%s*\n%s*", " ")), command end
  command = result.command and M.BY_NAME[result.command]
  local opts, positional = {}, result.arguments or {}
  for _, f in ipairs(M.GLOBAL) do opts[key(f.name)] = result[key(f.name)] end
  for _, f in ipairs(command and command.flags or {}) do
    local v = result[key(f.name)]
    if f.kind == "list" and v and #v == 0 then v = nil end
    opts[key(f.name)] = v
  end
  if command and command.passthrough then
    -- `vpptoken sandbox ARGS`: its arguments go to the sandbox as they are, but for --help (or -h) before a "--";
    -- a leading "--" is only the separator.
    for _, a in ipairs(positional) do
      if a == "--" then break end
      if a == "--help" or a == "-h" then opts.help = true end
    end
    if positional[1] == "--" then table.remove(positional, 1) end
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

--- The completion script for a shell ("bash", "zsh" or "fish") as argparse generates it from the same definition
-- (cli/completion.lua adds the token ids), or nil for another shell.
function M.completion(shell)
  local p = M.parser(true)
  local get = ({ bash = p.get_bash_complete, zsh = p.get_zsh_complete, fish = p.get_fish_complete })[shell]
  return get and get(p)
end

-- ---- --tenants FILE: list, expiring and sync over every tenant of a tenants file (cli/tenants.lua) ----
M.TENANT_FLAGS = {
  { name = "tenants", kind = "path", arg = "FILE",
    help = "run over every tenant of this tenants file (JSON; see docs/tenants.md)" },
  { name = "only", kind = "list", arg = "NAME|TAG", help = "with --tenants: only the tenants of this name or tag "
    .. "(repeatable)" },
  { name = "shard", kind = "string", arg = "K/N", help = "with --tenants: only the K-th of N stable slices of the "
    .. "tenants (N jobs with K = 1..N cover each tenant once)" },
}
for _, command in ipairs{ "list", "expiring", "sync" } do
  local flags = M.BY_NAME[command].flags
  for _, f in ipairs(M.TENANT_FLAGS) do flags[#flags + 1] = f end
end

return M
