--- The vpptoken command line: main(args) -> exit code. A thin shell over the public Lua API (never vpptoken.core):
-- cli/args.lua parses, cli/commands.lua runs the commands, cli/output.lua prints, cli/help.lua explains.
local vpptoken = require "vpptoken"
local fileio = require "vpptoken.fileio"
local args = require "vpptoken.cli.args"
local commands = require "vpptoken.cli.commands"
local exits = require "vpptoken.cli.exits"
local help = require "vpptoken.cli.help"
local idcache = require "vpptoken.cli.idcache"
local output = require "vpptoken.cli.output"
local progress = require "vpptoken.cli.progress"
local chain = require "vpptoken.chain"
local safe_text = require "vpptoken.text"
local compat = require "vpptoken.compat"

local M = {}

local EXIT_USAGE, EXIT_AUTH = exits.USAGE, exits.AUTH

-- The status line's first text for a command (cli/progress.lua); commands with counts set their own.
local STATUS = { get = "reading the token", create = "creating the token", update = "updating the token",
                 delete = "reading the token", renew = "renewing the token" }

local UsageError = {}
-- A failure raised out of a command with its own exit code and no usage hint: { message, code }.
local Failure = {}

-- A library raise as a one-line message, without the "file.lua:12: " position.
local function raised_text(e)
  return (tostring(e):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^vpptoken%.[%w_]+: ", ""):gsub("[\r\n]+", " "))
end

local Context = {}
Context.__index = Context

--- Raises a usage error (exit 2) with the message.
function Context.usage(msg)
  error(setmetatable({ message = msg }, UsageError), 0)
end

--- Raises a run-time failure: the message, then exit with `code`. `lines`: the message has lines of its own (each
-- fitted to the terminal's width) instead of being one line.
function Context.failure(msg, code, lines)
  error(setmetatable({ message = msg, code = code, lines = lines }, Failure), 0)
end

--- Calls a library function. A raise before any request went out is input the library refuses: a usage error with
-- its message. A raise after a request is the library failing on what a server sent: a run-time failure (exit 1),
-- never a usage error.
function Context:call(fn, ...)
  local before = self.requests
  local res = compat.pack(pcall(fn, ...))
  if res[1] then return compat.unpack(res, 2, res.n) end
  if self.requests == before then self.usage(raised_text(res[2])) end
  self.failure("unexpected error after the server answered: " .. raised_text(res[2]), 1)
end

-- The longest --file value a message shows: paths are shorter, an Apple token's content (pasted by mistake) longer.
local SHOWN_PATH_MAX = 96

--- Reads the file named by the flag --`flag` (fileio.LIMITS[limit] bytes at most); `what` names it ("token file").
-- Returns its text, or nil, a message that names the flag, and fileio's code (FileNotFound, FileUnreadable,
-- FileTooLarge; for the "secret" limit also fileio.NOT_PRIVATE: a secret's file that group or others may read is
-- refused). The message names the path only with `show_path` (a token file), and only up to SHOWN_PATH_MAX bytes
-- (a token file's content pasted where its path belongs is longer); never for a secret's file, whose flag may be
-- given the secret itself, pasted where the path belongs.
function Context:read_flag_file(flag, limit, what, show_path)
  local path = self.opts[(flag:gsub("%-", "_"))]
  local given = what .. (show_path and (" " .. output.quoted(path, SHOWN_PATH_MAX) .. " (--" .. flag .. ")")
    or (" given to --" .. flag))
  local text, mode, code, why = fileio.read_with_mode(path, fileio.LIMITS[limit], what)
  if text and limit == "secret" and not fileio.owner_only(mode) then
    return nil, fileio.not_private("the " .. given), fileio.NOT_PRIVATE
  end
  if text then return text end
  if code == "FileTooLarge" then
    return nil, string.format("the %s is larger than %d bytes", given, fileio.LIMITS[limit]), code
  end
  return nil, "cannot open the " .. given .. (why and (": " .. why) or ""), code
end

--- The exit code for a library error object.
function Context.exit_code(_, err)
  return exits.for_error(err)
end

--- Prints the error (one line) and returns its exit code; or `code` and `message` without an error object.
function Context:fail(err, code, message)
  if err then
    output.message(err)
    if type(err) == "table" and err.kind == "auth" and (err.status == 401 or err.status == 403)
        and self.credential then
      output.message("the credentials Graph refused: ", self.credential)
    end
    return self:exit_code(err)
  end
  output.message(message)
  return code
end

--- The width to fit tables to: $COLUMNS, else the terminal's when stdout is one, else 80; none for --output wide
-- (every column, whole values).
function Context:table_width()
  if self.format == "wide" then return nil end
  return output.terminal_width(1)
end

--- Sets the status line's text (shown on a terminal once the work takes a second; see cli/progress.lua).
function Context:status(text)
  self.progress:set(text)
end

--- Asks the user on the terminal (stderr) and returns the line typed (nil at end of input). The status line is
-- erased first and the time spent answering is not counted as the work's.
function Context:ask(question)
  self.progress:pause()
  io.stderr:write(output.printable(question, "\n"))
  io.stderr:flush()
  local answer = io.read("*l")
  self.progress:resume()
  return answer
end

local function verbose_line(info)
  output.message(string.format("%s %s -> %s (%d attempt%s, %.3f s%s%s%s)%s", info.method, info.url,
    tostring(info.status or "-"), info.attempts or 1, (info.attempts or 1) == 1 and "" or "s", info.elapsed or 0,
    info.waited and info.waited > 0 and string.format(", waited %.3f s", info.waited) or "",
    info.request_id and (", request-id " .. info.request_id) or "",
    info.client_request_id and (", client-request-id " .. info.client_request_id) or "",
    info.error and (" " .. info.error) or ""))
end

--- The on_request hook of every request the command makes: counts it, prints it with --verbose, tells ctx.on_call,
-- redraws the status line.
function Context:observer()
  local o = self.opts
  self.requests = self.requests or 0
  return function(info)
    self.requests = self.requests + 1
    if o.verbose then verbose_line(info) end
    if self.on_call then self.on_call(info) end
    self.progress:tick()
  end
end

-- A Graph base URL for --beta: its /v1.0 becomes /beta.
local function with_version(base, beta)
  if beta and base then return (base:gsub("/v1%.0/*$", "/beta")) end
  return base
end

-- The flags that name the one tenant a command works on: each tenant of --tenants signs in as its entry says.
local ONE_TENANT_FLAGS = { "tenant", "client-id", "client-secret-file" }

--- Where every tenant of --tenants goes that does not say so itself: vpptoken.tenants.run's client options cloud,
-- base_url, authority_url and api_version, from the flags (--cloud, --graph-url, --beta) over the environment
-- (VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL, VPPTOKEN_AUTHORITY_URL or AZURE_AUTHORITY_HOST), as for one tenant. Each
-- is checked here: a bad value is a usage error naming its flag or variable. The flags of one tenant's sign-in
-- are refused.
function Context:tenants_where()
  local o = self.opts
  for _, flag in ipairs(ONE_TENANT_FLAGS) do
    if o[(flag:gsub("%-", "_"))] ~= nil then
      self.usage("--" .. flag .. " does not go with --tenants (each tenant signs in as the tenants file says)")
    end
  end
  local where, from = vpptoken._where_env(os.getenv)
  if o.cloud then where.cloud, from.cloud = o.cloud, "--cloud" end
  if o.graph_url then where.base_url, from.base_url = o.graph_url, "--graph-url" end
  where.base_url = with_version(where.base_url, o.beta)
  for _, k in ipairs{ "cloud", "base_url", "authority_url" } do
    if where[k] ~= nil then
      local ok, probe = pcall(vpptoken.new, { access_token = "unused", [k] = where[k] })
      if not ok then self.usage(from[k] .. ": " .. raised_text(probe)) end
      probe:close()
    end
  end
  where.api_version = o.beta and "beta" or nil
  return where
end

-- The words for the way a client signs in (vpptoken.credentials_in_env's way, and the flags and variables that
-- chose it), for an auth failure: "the token in VPPTOKEN_ACCESS_TOKEN".
local function credential_source(o, way)
  local function set(name)
    local v = os.getenv(name)
    return v ~= nil and v ~= ""
  end
  if way == "environment" or way == "options" then
    if set("VPPTOKEN_ACCESS_TOKEN") then return "the token in VPPTOKEN_ACCESS_TOKEN" end
    local app = "the app " .. (o.client_id and "--client-id" or "AZURE_CLIENT_ID") .. " of tenant "
      .. (o.tenant and "--tenant" or "AZURE_TENANT_ID")
    if o.client_secret_file then return app .. " with the secret in --client-secret-file" end
    if set("AZURE_CLIENT_SECRET") then return app .. " with AZURE_CLIENT_SECRET" end
    if set("AZURE_CLIENT_CERTIFICATE_PATH") then return app .. " with the certificate AZURE_CLIENT_CERTIFICATE_PATH" end
    return "the sign-in options"
  end
  local words = { ["workload identity"] = "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
                  ["managed identity"] = "the managed identity of this machine or service",
                  ["Azure CLI"] = "the Azure CLI's signed-in account (az)",
                  ["vpptoken login"] = "the sign-in of 'vpptoken login'" }
  return words[way] or way
end

-- What to set, in at most three lines of 80 columns.
local NO_CREDENTIALS = "no credentials: set VPPTOKEN_ACCESS_TOKEN (with VPPTOKEN_GRAPH_URL for the sandbox), or "
  .. "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run 'vpptoken login'"

--- Fails (exit 3) saying what to set when no way to sign in applies: a few lines when nothing is configured; why
-- each way was not used with --verbose, when a sign-in variable is set (a sign-in half configured), or when the
-- library names a variable set that was probably meant. `why`: the library's message; `parts`: its parts
-- (vpptoken.credentials_in_env), nil when the options themselves are incomplete.
function Context:no_credentials(why, parts)
  if not parts then self.failure("no credentials: " .. why, EXIT_AUTH) end
  local configured = #parts.hints > 0
  for _, v in ipairs(chain.SIGN_IN_VARIABLES) do
    local value = os.getenv(v)
    if value and value ~= "" then configured = true end
  end
  local text = NO_CREDENTIALS
  if configured or self.opts.verbose then
    text = text .. ".\nTried: " .. parts.tried .. "."
    for _, h in ipairs(parts.hints) do text = text .. "\n" .. h end
  else
    text = text .. " (--verbose: why each way was not used)."
  end
  self.failure(text, EXIT_AUTH, true)
end

--- The client, made on first use from the environment (vpptoken.from_env) and the global flags.
function Context:client()
  if self.the_client then return self.the_client end
  local o = self.opts
  local copts = { cloud = o.cloud, tenant_id = o.tenant, client_id = o.client_id, timeout = o.timeout,
                  max_retries = o.retries }
  local base = o.graph_url or os.getenv("VPPTOKEN_GRAPH_URL")
  if o.beta then copts.api_version = "beta" end
  if base == "" then base = nil end
  if o.graph_url or (o.beta and base) then copts.base_url = with_version(base, o.beta) end
  if o.client_secret_file then
    local text, why = self:read_flag_file("client-secret-file", "secret", "client secret file")
    if not text then self.usage(why) end
    copts.client_secret = safe_text.trim(text)
    if copts.client_secret == "" then self.usage("the client secret file given to --client-secret-file is empty") end
  end
  -- The library decides which timeouts it takes (one rule); a refusal names the flag.
  if o.timeout ~= nil then
    local ok, probe = pcall(vpptoken.new, { access_token = "unused", timeout = o.timeout })
    if not ok then self.usage("--timeout " .. tostring(o.timeout) .. " is refused: " .. raised_text(probe)) end
    probe:close()
  end
  copts.on_request = self:observer()
  copts.on_retry = function(info)
    if o.verbose then
      output.message(string.format("%s %s: %s", info.method, info.url, progress.retry_text(info)))
    end
    self.progress:retry(info)
  end
  copts.on_tick = function(info) self.progress:tick(info.waiting) end
  local signed_in, why, parts = vpptoken.credentials_in_env(copts)
  -- vpptoken login's cached sign-in (issue #16, device code): used when the environment names no other sign-in.
  if not signed_in then
    local cred, lerr = commands.cached_login(self)
    if cred then
      copts.token_provider, signed_in = cred:token_provider(), true
      self.credential = "the sign-in of 'vpptoken login'"
    elseif lerr.code ~= "NotSignedIn" then
      self.failure(tostring(lerr), EXIT_AUTH)
    end
  end
  if not signed_in then self:no_credentials(why, parts) end
  self.credential = self.credential or credential_source(o, why)
  local ok, client = pcall(vpptoken.from_env, copts)
  if not ok then self.usage(raised_text(client)) end
  self.the_client = client
  return client
end

local function usage_hint(command)
  return command and ("see 'vpptoken " .. command.name .. " --help'") or "see 'vpptoken --help'"
end

-- `vpptoken __complete-ids [--labels] [FLAGS]` (the completion scripts' hidden command, cli/idcache.lua): the ids
-- the last listing for the place the flags name kept, one a line (with --labels, a tab and its label after each).
-- Exit 0 and nothing else whatever goes wrong: a completion never prints an error or junk.
local function complete_ids(list)
  local labels = list[1] == "--labels"
  if labels then table.remove(list, 1) end
  local ok, text = pcall(function()
    local parsed = args.parse(list)
    if not parsed or parsed.command then return "" end
    return idcache.lines(idcache.ids_for(idcache.place(parsed.opts), os.time()), labels)
  end)
  if ok then io.write(text) end
  return exits.OK
end

--- Runs the command line (args as in the global `arg`); returns the exit code.
function M.main(argv)
  local list = {}
  for i = 1, #(argv or {}) do list[i] = argv[i] end
  if list[1] == idcache.COMMAND then
    table.remove(list, 1)
    return complete_ids(list)
  end
  local parsed, msg, command = args.parse(list)
  if not parsed then
    output.message(msg, " (", usage_hint(command), ")")
    return EXIT_USAGE
  end
  command = parsed.command
  if not command then
    if parsed.opts.help then
      io.write(help.main())
      return exits.OK
    end
    if parsed.opts.version then return commands.version() end
    io.stderr:write(help.usage(output.terminal_width(2)))
    return EXIT_USAGE
  end
  if parsed.opts.help then
    io.write(help.command(command))
    return exits.OK
  end
  if command.name == "help" then
    local topic = parsed.positional[1]
    if topic and not args.BY_NAME[topic] then
      output.message("unknown command ", output.quoted(topic), " (", usage_hint(), ")")
      return EXIT_USAGE
    end
    io.write(topic and help.command(args.BY_NAME[topic]) or help.main())
    return exits.OK
  end
  if parsed.opts.verbose and parsed.opts.quiet then
    output.message("--verbose and --quiet do not go together (", usage_hint(command), ")")
    return EXIT_USAGE
  end
  local format = parsed.opts.output or "table"
  if parsed.opts.wide then
    if format ~= "table" and format ~= "wide" then
      output.message("--wide is --output wide: not with --output ", format, " (", usage_hint(command), ")")
      return EXIT_USAGE
    end
    format = "wide"
  end
  local stdout_tty = output.isatty(1)
  -- colour only in tables on a terminal, and not with --no-color or $NO_COLOR (any non-empty value: no-color.org)
  local colour = stdout_tty and (format == "table" or format == "wide") and not parsed.opts.no_color
    and (os.getenv("NO_COLOR") or "") == ""
  local ctx = setmetatable({ opts = parsed.opts, positional = parsed.positional, command = command,
                             format = format, stdout_tty = stdout_tty, colour = colour }, Context)
  ctx.progress = progress.new{ enabled = not parsed.opts.quiet and output.isatty(2) }
  ctx.progress:set(STATUS[command.name] or "working")
  -- Ctrl-C ends the call under way (kind "cancelled": exit 130 below, the status line erased first)
  local ok, code = pcall(vpptoken.interruptible, commands[command.name], ctx)
  ctx.progress:clear()
  if ctx.the_client then ctx.the_client:close() end
  if ok then return code end
  if getmetatable(code) == Failure then
    if code.lines then
      progress.clear()
      io.stderr:write(output.fit("vpptoken: " .. code.message, output.terminal_width(2)), "\n")
    else
      output.message(code.message)
    end
    return code.code
  end
  if getmetatable(code) == UsageError then
    output.message(code.message, " (", usage_hint(command), ")")
    return EXIT_USAGE
  end
  output.message("internal error: ", code)
  return exits.FAILURE
end

return M
