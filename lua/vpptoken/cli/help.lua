--- The vpptoken command line: help texts. tools/manpage.lua renders the same text as man/vpptoken.1.
local args = require "vpptoken.cli.args"
local exits = require "vpptoken.cli.exits"
local ids = require "vpptoken.cli.ids"
local idcache = require "vpptoken.cli.idcache"
local vpptoken = require "vpptoken"

local M = {}

M.SUMMARY = "manage Apple VPP tokens in Microsoft Intune through Microsoft Graph"

-- Per command: what it does (one paragraph) and examples.
M.TEXT = {
  list = { "Lists every token, following Graph's pages. --state filters on the client (Intune may ignore a "
      .. "$filter); --filter, --select and --top go to Graph as OData options. The table fits the terminal (80 "
      .. "columns when not one): short ids (unique, accepted by every command), long values wrapped; --wide "
      .. "shows every column with whole ids. States that need attention are in colour on a terminal.",
    { "vpptoken list", "vpptoken list --state expired --output csv",
      "vpptoken list --filter \"organizationName eq 'Contoso'\" --select appleId,state" } },
  get = { "Shows one token, every property on its own line. Like every command that takes an ID, it takes the "
      .. "whole id or the short id a table shows: the start of the id, at least " .. ids.SHORT .. " hex digits, "
      .. "that only one token's id starts with (found by listing the tokens once; when several start with it, "
      .. "the error names them).",
    { "vpptoken get 5d2c6f0e", "vpptoken get 5d2c6f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f --output json" } },
  create = { "Adds a token to Intune from the .vpptoken file downloaded from Apple Business Manager or Apple School "
      .. "Manager. The token is read from the file, never from the command line; the organization defaults to the "
      .. "file's. --set takes any other property, typed as for update.",
    { "vpptoken create --file contoso.vpptoken --apple-id vpp@contoso.com --account-type business --country us",
      "vpptoken create --file school.vpptoken --apple-id it@school.edu --set automaticallyUpdateApps=true" } },
  update = { "Changes properties with --set NAME=VALUE (repeatable). Values are typed by the vppToken resource: "
      .. "booleans as true or false, dates as DateTimeOffset text (2027-05-01T00:00:00Z), lists comma-separated; "
      .. "a value Graph would refuse is a usage error with the library's message. To upload a new token file use "
      .. "renew.",
    { "vpptoken update 5d2c6f0e --set automaticallyUpdateApps=false",
      "vpptoken update 5d2c6f0e --set countryOrRegion=gb --set organizationName='Contoso UK'" } },
  delete = { "Removes a token from Intune (apps licensed through it lose their licenses). Asks for confirmation on a "
      .. "terminal; without a terminal on stdin it refuses unless --yes is given.",
    { "vpptoken delete 5d2c6f0e", "vpptoken delete 5d2c6f0e --yes" } },
  sync = { "Starts a license sync with Apple for the given tokens, or with --all for every valid token not already "
      .. "syncing. --wait waits until each sync has finished (checking every second) and fails when one failed.",
    { "vpptoken sync 5d2c6f0e --wait", "vpptoken sync --all --output json" } },
  expiring = { "Lists the tokens that need attention: expiring within --within DAYS (default 30), already expired, "
      .. "in a state other than valid, or without an expiration date; soonest first.",
    { "vpptoken expiring --within 14", "vpptoken expiring --within 30 --output csv > report.csv" } },
  renew = { "Uploads a new .vpptoken file into an existing token. Nothing is sent when the file cannot be read or "
      .. "has expired. Graph may show the old expiry until Intune has synced with Apple; renew says so.",
    { "vpptoken renew 5d2c6f0e --file contoso-2027.vpptoken" } },
  sandbox = { "Starts the local Graph sandbox (vpptoken-sandbox), found through $VPPTOKEN_SANDBOX, then PATH, then "
      .. "./build/. Arguments after 'sandbox' (or after '--') go to it; it listens on http://127.0.0.1:8787 by "
      .. "default. Point the other commands at it with VPPTOKEN_GRAPH_URL and any VPPTOKEN_ACCESS_TOKEN.",
    { "vpptoken sandbox --port 8787 --verbose", "vpptoken sandbox -- --help" } },
  version = { "Prints the version of the library and, on a second line, of libcurl and the libraries it uses.",
    { "vpptoken version" } },
  completion = { "Prints the completion script for bash, zsh or fish: the commands, their flags and the values of "
      .. "choice flags, generated from the same definition as the parser and this help, and the token ids for "
      .. "every command that takes an ID: those the last list printed for the same cloud, Graph URL, tenant and "
      .. "client (--tenant or $AZURE_TENANT_ID, ...), for " .. math.floor(idcache.MAX_AGE / 60)
      .. " minutes after it. list keeps them in $XDG_CACHE_HOME/vpptoken/ids.json (~/.cache without it; mode "
      .. "0600), each with its Apple ID and organization (never a token or secret); completion reads only that "
      .. "file and never goes to the network. make install puts all three where the shells look; to load one by hand:",
    { "source <(vpptoken completion bash)", "vpptoken completion zsh > ~/.zfunc/_vpptoken",
      "vpptoken completion fish > ~/.config/fish/completions/vpptoken.fish" } },
  help = { "Shows the help of vpptoken or of one command.", { "vpptoken help sync" } },
}

-- Signing in as a person (vpptoken.login).
M.TEXT.login = { "Signs you in with the device code flow: open the page it prints on stderr, enter the code, sign in "
    .. "as an account allowed to manage Intune. The refresh token is kept in $XDG_CACHE_HOME/vpptoken/logins.json "
    .. "(~/.cache without it; mode 0600); later commands use it when no other sign-in is configured. The app is "
    .. "--client-id (a public client with the delegated Graph permission DeviceManagementApps.ReadWrite.All), by "
    .. "default Microsoft Graph Command Line Tools (14d82eec-204b-4c2f-b7e8-296a70dab67e, as Connect-MgGraph); "
    .. "--tenant defaults to $AZURE_TENANT_ID, else your account's own (organizations).",
  { "vpptoken login", "vpptoken login --tenant contoso.onmicrosoft.com --client-id 1b2c..." } }
M.TEXT.logout = { "Removes the sign-in vpptoken login cached (for --tenant and --client-id, or the latest).",
  { "vpptoken logout" } }
M.TEXT.whoami = { "Shows the cached sign-in: account, tenant, app, scopes and when the last access token expires. "
    .. "It never shows a token; the account is read from the tokens' claims, for showing only.",
  { "vpptoken whoami", "vpptoken whoami --output json" } }

M.ENVIRONMENT = {
  { "VPPTOKEN_ACCESS_TOKEN", "a Graph access token (wins over the AZURE_* sign-in)" },
  { "AZURE_TENANT_ID, AZURE_CLIENT_ID", "the app registration to sign in with (client credentials)" },
  { "AZURE_CLIENT_SECRET", "its client secret (or --client-secret-file)" },
  { "AZURE_CLIENT_CERTIFICATE_PATH", "or a PEM file with its certificate and key (+ _PASSWORD if encrypted)" },
  { "AZURE_FEDERATED_TOKEN_FILE", "or workload identity: a JWT file (with AZURE_TENANT_ID, AZURE_CLIENT_ID)" },
  { "IDENTITY_ENDPOINT, IDENTITY_HEADER", "or a managed identity (App Service, Functions, Automation; set for you)" },
  { "VPPTOKEN_MANAGED_IDENTITY", "1: a VM's managed identity through IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST: "
      .. "its host)" },
  { "PATH", "else the signed-in Azure CLI user, when az is on PATH ('az login')" },
  { "VPPTOKEN_CLOUD", args.one_of(vpptoken.clouds()) .. " (--cloud)" },
  { "VPPTOKEN_GRAPH_URL", "Graph base URL (--graph-url), e.g. the sandbox's http://127.0.0.1:8787/v1.0" },
  { "VPPTOKEN_AUTHORITY_URL", "the sign-in host, if not the cloud's (or AZURE_AUTHORITY_HOST)" },
  { "VPPTOKEN_SANDBOX", "the vpptoken-sandbox program for 'vpptoken sandbox'" },
  { "XDG_CACHE_HOME", "where vpptoken login keeps its sign-in and list the ids completion offers (else ~/.cache)" },
  { "COLUMNS", "the width tables are fitted to (else the terminal's, else 80)" },
  { "NO_COLOR", "any non-empty value: no colour (as --no-color)" },
}

-- { code, line } for the help and the manual, from the one list.
M.EXIT_CODES = {}
for i, e in ipairs(exits.LIST) do M.EXIT_CODES[i] = { e.code, e.help } end

local function flag_usage(f)
  local s = "--" .. f.name
  if f.short then s = "-" .. f.short .. ", " .. s end
  if f.kind ~= "flag" then s = s .. " " .. f.arg end
  return s
end
M.flag_usage = flag_usage

local function wrap(text, width, indent)
  local lines, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line + #word + 1 > width and line ~= indent then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. (line == indent and "" or " ") .. word
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

-- The narrowest a description column gets before descriptions go under their names instead.
local MIN_TEXT = 28
-- The widest a name column gets (a longer name takes its own line).
local MAX_NAME = 34

--- Lines for { name, text } pairs in two columns fitted to `width`: the texts wrapped with a hanging indent, or,
-- when too narrow, under their names.
local function two_columns(pairs_, width, out)
  local nw = 0
  for _, p in ipairs(pairs_) do if #p[1] <= MAX_NAME then nw = math.max(nw, #p[1]) end end
  local left = 2 + nw + 2
  for _, p in ipairs(pairs_) do
    if width - left >= MIN_TEXT then
      local text = wrap(p[2], width, (" "):rep(left))
      if #p[1] > nw then
        out[#out + 1] = "  " .. p[1]
        out[#out + 1] = text
      else
        out[#out + 1] = "  " .. p[1] .. (" "):rep(nw - #p[1] + 2) .. text:sub(left + 1)
      end
    else
      out[#out + 1] = "  " .. p[1]
      out[#out + 1] = wrap(p[2], width, "      ")
    end
  end
end

local function flag_lines(flags, out, width)
  local list = {}
  for i, f in ipairs(flags) do list[i] = { flag_usage(f), f.help } end
  two_columns(list, width, out)
end

-- The width help is fitted to: the terminal's (or $COLUMNS), at most 100 (long lines are hard to read).
M.MAX_WIDTH = 100
local function help_width(width)
  return math.min(width or require("vpptoken.cli.output").terminal_width(1), M.MAX_WIDTH)
end

local function command_lines(out, width, names_only)
  local list = {}
  for i, c in ipairs(args.COMMANDS) do
    list[i] = { c.name .. (c.usage and not names_only and " " .. c.usage or ""), c.summary }
  end
  two_columns(list, width, out)
end

--- An example command in lines of at most `width`: broken at spaces outside quotes, continued with " \\".
local function example_lines(ex, width, out)
  local words, word, quote = {}, "", nil
  for ch in ex:gmatch(".") do
    if quote then
      if ch == quote then quote = nil end
      word = word .. ch
    elseif ch == "'" or ch == '"' then
      quote = ch
      word = word .. ch
    elseif ch == " " then
      if word ~= "" then words[#words + 1] = word end
      word = ""
    else
      word = word .. ch
    end
  end
  if word ~= "" then words[#words + 1] = word end
  local line = "  "
  for _, w in ipairs(words) do
    if line ~= "  " and line ~= "      " and #line + 1 + #w + 2 > width then
      out[#out + 1] = line .. " \\"
      line = "      "
    end
    line = line .. ((line == "  " or line == "      ") and "" or " ") .. w
  end
  out[#out + 1] = line
end

--- The short usage `vpptoken` alone prints: what to type and the commands.
function M.usage(width)
  width = help_width(width)
  local out = { "usage: vpptoken [OPTIONS] COMMAND [ARGS]", "", "commands:" }
  command_lines(out, width, true)
  out[#out + 1] = ""
  out[#out + 1] = wrap("'vpptoken --help' shows the options, the environment and the exit codes; "
    .. "'vpptoken COMMAND --help' a command's.", width, "")
  return table.concat(out, "\n") .. "\n"
end

--- Where this installation's man page is, found from where the command's own Lua is: a checkout's man/vpptoken.1,
-- `make install`'s PREFIX/share/man/man1/vpptoken.1, or a LuaRocks tree's rock directory
-- (TREE/lib/luarocks/rocks-5.x/vpptoken/VERSION/man/man1/vpptoken.1, where man does not look). Nil when none is.
function M.manual()
  local here = require("vpptoken.compat").searchpath("vpptoken.cli.help", package.path)
  if not here then return nil end
  local function exists(path)
    local f = io.open(path, "r")
    if f then f:close() end
    return f ~= nil and path or nil
  end
  local root = here:match("^(.*)/lua/vpptoken/cli/help%.lua$") -- a checkout
  if root and exists(root .. "/man/vpptoken.1") then return root .. "/man/vpptoken.1" end
  local tree, version = here:match("^(.*)/share/lua/(5%.%d)/vpptoken/cli/help%.lua$")
  if not tree then return nil end
  local installed = exists(tree .. "/share/man/man1/vpptoken.1")
  if installed then return installed, true end
  local p = io.popen("ls -d " .. "'" .. tree:gsub("'", "'\\''") .. "'/lib/luarocks/rocks-" .. version
    .. "/vpptoken/*/man/man1/vpptoken.1 2>/dev/null")
  local found = p and p:read("*l")
  if p then p:close() end
  return found and exists(found) or nil
end

-- "'man vpptoken' the manual" where man finds it, else the command that shows this installation's page.
local function manual_hint()
  local path, on_manpath = M.manual()
  if not path or on_manpath then return "'man vpptoken' the manual" end
  return "'man -l " .. path .. "' the manual"
end

--- The text of `vpptoken --help`, fitted to `width` (default: the terminal's).
function M.main(width)
  width = help_width(width)
  local out = { "usage: vpptoken [OPTIONS] COMMAND [ARGS]", "", wrap("vpptoken: " .. M.SUMMARY .. ".", width, ""), "",
                "commands:" }
  command_lines(out, width)
  out[#out + 1] = ""
  out[#out + 1] = "options (any command):"
  flag_lines(args.GLOBAL, out, width)
  out[#out + 1] = ""
  out[#out + 1] = "environment (credentials are never given as flags):"
  two_columns(M.ENVIRONMENT, width, out)
  out[#out + 1] = ""
  out[#out + 1] = "exit codes:"
  local codes, cw = {}, 0
  for _, e in ipairs(M.EXIT_CODES) do cw = math.max(cw, #tostring(e[1])) end
  for i, e in ipairs(M.EXIT_CODES) do codes[i] = { string.format("%" .. cw .. "d", e[1]), e[2] } end
  two_columns(codes, width, out)
  out[#out + 1] = ""
  out[#out + 1] = "examples:"
  for _, ex in ipairs{ "vpptoken list", "vpptoken expiring --within 30 --output json", "vpptoken sync --all --wait",
                       "vpptoken help renew" } do
    example_lines(ex, width, out)
  end
  out[#out + 1] = ""
  out[#out + 1] = wrap("'vpptoken COMMAND --help' shows a command's options; " .. manual_hint() .. ".", width, "")
  return table.concat(out, "\n") .. "\n"
end

--- The text of `vpptoken COMMAND --help`, fitted to `width` (default: the terminal's).
function M.command(c, width)
  width = help_width(width)
  local text = M.TEXT[c.name]
  local out = { wrap("usage: vpptoken " .. c.name .. (c.usage and (" " .. c.usage) or "")
      .. (#c.flags > 0 and " [OPTIONS]" or ""), width, "  "), "", wrap(text[1], width, "") }
  if #c.flags > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "options:"
    flag_lines(c.flags, out, width)
  end
  out[#out + 1] = ""
  out[#out + 1] = "examples:"
  for _, ex in ipairs(text[2]) do example_lines(ex, width, out) end
  out[#out + 1] = ""
  out[#out + 1] = wrap("Global options (--output, --verbose, --graph-url, ...): vpptoken --help.", width, "")
  return table.concat(out, "\n") .. "\n"
end

return M
