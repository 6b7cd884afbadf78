--- The vpptoken command line: main(args) -> exit code. A thin shell over the public Lua API (never vpptoken.core):
-- cli/args.lua parses, cli/commands.lua runs the commands, cli/output.lua prints, cli/help.lua explains.
local vpptoken = require "vpptoken"
local args = require "vpptoken.cli.args"
local commands = require "vpptoken.cli.commands"
local help = require "vpptoken.cli.help"
local output = require "vpptoken.cli.output"

local M = {}

local EXIT_USAGE, EXIT_AUTH, EXIT_TOKEN_FILE = 2, 3, 9
-- Error kind -> exit code (the table in `vpptoken --help` and the README).
local EXIT_BY_KIND = { auth = 3, not_found = 4, throttled = 5, server = 6, protocol = 6, network = 7, timeout = 7,
                       tls = 7, bad_request = 8, token_file = 9 }

local UsageError = {}

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

--- Calls a library function; a raise (bad input the library refuses) becomes a usage error with its message.
function Context.call(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then Context.usage(raised_text(res[2])) end
  return table.unpack(res, 2, res.n)
end

--- The exit code for a library error object.
function Context.exit_code(_, err)
  if type(err) == "table" and err.code == "SyncTimeout" then return 7 end
  return EXIT_BY_KIND[type(err) == "table" and err.kind or ""] or 1
end

--- Prints the error (one line) and returns its exit code; or `code` and `message` without an error object.
function Context:fail(err, code, message)
  if err then
    io.stderr:write(tostring(err):match("^vpptoken: ") and "" or "vpptoken: ", tostring(err), "\n")
    return self:exit_code(err)
  end
  io.stderr:write("vpptoken: ", message, "\n")
  return code
end

--- The width to fit tables to: the terminal's when stdout is one, otherwise no limit (a pipe gets whole values).
function Context:table_width()
  if self.stdout_tty then return output.terminal_width() end
  local cols = tonumber(os.getenv("COLUMNS") or "")
  return cols and cols >= 20 and math.floor(cols) or nil
end

function Context:progress_done(summary)
  self.progress:finish(summary)
end

local function verbose_line(info)
  io.stderr:write(string.format("vpptoken: %s %s -> %s (%d attempt%s, %.3f s%s%s%s)%s\n", info.method, info.url,
    tostring(info.status or "-"), info.attempts or 1, (info.attempts or 1) == 1 and "" or "s", info.elapsed or 0,
    info.waited and info.waited > 0 and string.format(", waited %.3f s", info.waited) or "",
    info.request_id and (", request-id " .. info.request_id) or "",
    info.client_request_id and (", client-request-id " .. info.client_request_id) or "",
    info.error and (" " .. info.error) or ""))
end

--- The client, made on first use from the environment (vpptoken.from_env) and the global flags.
function Context:client()
  if self.the_client then return self.the_client end
  local o = self.opts
  local copts = { cloud = o.cloud, tenant_id = o.tenant, client_id = o.client_id, timeout = o.timeout,
                  max_retries = o.retries }
  local base = o.graph_url or os.getenv("VPPTOKEN_GRAPH_URL")
  if o.beta then
    copts.api_version = "beta"
    if base and base ~= "" then base = base:gsub("/v1%.0/*$", "/beta") end
  end
  if o.graph_url or (o.beta and base and base ~= "") then copts.base_url = base end
  if o.client_secret_file then
    local f = io.open(o.client_secret_file, "rb")
    if not f then self.usage("cannot read --client-secret-file " .. o.client_secret_file) end
    copts.client_secret = (f:read("a") or ""):match("^%s*(.-)%s*$")
    f:close()
    if copts.client_secret == "" then self.usage("--client-secret-file " .. o.client_secret_file .. " is empty") end
  end
  copts.on_request = function(info)
    if o.verbose then verbose_line(info) end
    self.progress:tick(self.progress_label or "working")
  end
  local ok, client = pcall(vpptoken.from_env, copts)
  if not ok then
    local msg = raised_text(client)
    if msg:match("^set VPPTOKEN_ACCESS_TOKEN") then
      error(setmetatable({ message = "no credentials: " .. msg,
                           code = EXIT_AUTH }, UsageError), 0)
    end
    self.usage(msg)
  end
  self.the_client = client
  return client
end

local function usage_hint(command)
  return command and ("see 'vpptoken " .. command.name .. " --help'") or "see 'vpptoken --help'"
end

--- Runs the command line (args as in the global `arg`); returns the exit code.
function M.main(argv)
  local list = {}
  for i = 1, #(argv or {}) do list[i] = argv[i] end
  local parsed, msg, command = args.parse(list)
  if not parsed then
    io.stderr:write("vpptoken: ", msg, " (", usage_hint(command), ")\n")
    return EXIT_USAGE
  end
  command = parsed.command
  if not command then
    if parsed.opts.help then
      io.write(help.main())
      return 0
    end
    io.stderr:write(help.main())
    return EXIT_USAGE
  end
  if parsed.opts.help then
    io.write(help.command(command))
    return 0
  end
  if command.name == "help" then
    local topic = parsed.positional[1]
    if topic and not args.BY_NAME[topic] then
      io.stderr:write("vpptoken: unknown command '", topic, "' (", usage_hint(), ")\n")
      return EXIT_USAGE
    end
    io.write(topic and help.command(args.BY_NAME[topic]) or help.main())
    return 0
  end
  if parsed.opts.verbose and parsed.opts.quiet then
    io.stderr:write("vpptoken: --verbose and --quiet do not go together (", usage_hint(command), ")\n")
    return EXIT_USAGE
  end
  local ctx = setmetatable({ opts = parsed.opts, positional = parsed.positional, command = command,
                             format = parsed.opts.output or "table", stdout_tty = output.isatty(1) }, Context)
  ctx.progress = output.progress(not parsed.opts.quiet and output.isatty(2))
  local ok, code = pcall(commands[command.name], ctx)
  if ctx.the_client then ctx.the_client:close() end
  if ok then return code end
  if getmetatable(code) == UsageError then
    if code.code then
      io.stderr:write("vpptoken: ", code.message, "\n")
      return code.code
    end
    io.stderr:write("vpptoken: ", code.message, " (", usage_hint(command), ")\n")
    return EXIT_USAGE
  end
  io.stderr:write("vpptoken: internal error: ", tostring(code), "\n")
  return 1
end

M.EXIT_TOKEN_FILE = EXIT_TOKEN_FILE

return M
