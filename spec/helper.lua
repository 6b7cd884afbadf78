-- Test support: starts vpptoken-sandbox on a free loopback port and talks to its control endpoints
-- with LuaSocket (never with the vpptoken client, so sandbox checks are not circular).
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"

local helper = {}

helper.build_dir = os.getenv("VPPTOKEN_BUILD_DIR") or "build"
-- The interpreter running the specs (lua5.4, or the instrumented lua_host of `make check-memory`): child Lua
-- processes that load vpptoken.core must use it too. It runs a script file; it takes no -e.
helper.lua = (arg and arg[-1]) or "lua5.4"
-- utf8.len for the specs on every Lua (5.1, 5.2 and LuaJIT have no utf8 library): the C core's strict count.
-- Loaded on first use: the benchmarks load this file without the C core on their path.
function helper.utf8_len(s)
  return require("vpptoken.core").utf8_len(s)
end
-- os.execute with Lua 5.2's results (true | nil, "exit" | "signal", code) on every Lua.
helper.execute = require("vpptoken.compat").execute
helper.sandbox_bin = helper.build_dir .. "/vpptoken-sandbox"
-- VPPTOKEN_SANDBOX_WRAPPER (e.g. "valgrind -q --error-exitcode=99") runs the sandbox under a tool.
helper.sandbox_wrapper = os.getenv("VPPTOKEN_SANDBOX_WRAPPER")
-- How many times longer a bound on elapsed time is when the sandbox runs under such a tool (valgrind is slow).
helper.SLOW = helper.sandbox_wrapper and 4 or 1

local Sandbox = {}
Sandbox.__index = Sandbox

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
helper.shell_quote = shell_quote

local Process = {}
Process.__index = Process

-- Runs a shell command line in the background, its stderr appended to logfile (nil: inherited). Returns the pipe
-- of its stdout and its pid. The pid is known before the program prints anything: the shell that reports it (on
-- the pipe's first line, read here) then execs the program, so the pid is the program's. The pipe's last line is
-- "exit=N", the program's exit status.
function helper.spawn(line, logfile)
  local sh = string.format('(sh -c %s%s & { wait $!; } 2>/dev/null; echo "exit=$?")',
    shell_quote("echo pid=$$; exec " .. line), logfile and (" 2>>" .. shell_quote(logfile)) or "")
  local out = assert(io.popen(sh, "r"))
  local first = out:read("*l")
  local pid = tonumber(first and first:match("^pid=(%d+)$"))
  assert(pid, "could not start " .. line .. ": " .. tostring(first))
  return out, pid
end

-- Runs the sandbox program with exactly these arguments (under VPPTOKEN_SANDBOX_WRAPPER when set) and
-- waits for its first line on stdout. Returns a Process: .first (that line), .url (the listening URL,
-- or nil), .exited (its exit status when it stopped before listening), .pid; :finish([signal]) stops it.
-- Never raises for what the sandbox does.
function helper.spawn_sandbox(args)
  local logfile = os.tmpname()
  local quoted = { shell_quote(helper.sandbox_bin) }
  for _, a in ipairs(args or {}) do quoted[#quoted + 1] = shell_quote(a) end
  local line = table.concat(quoted, " ")
  if helper.sandbox_wrapper then line = helper.sandbox_wrapper .. " " .. line end
  -- The sandbox prints one line "vpptoken-sandbox listening on URL" on stdout when it is ready; when it
  -- cannot start, the first line is the shell's "exit=N".
  local out, pid = helper.spawn(line, logfile)
  local first = out:read("*l")
  return setmetatable({ first = first, url = first and first:match("listening on (http%S+)"),
                        exited = first and tonumber(first:match("^exit=(%d+)$")), pid = pid, pipe = out,
                        logfile = logfile }, Process)
end

-- p: a Process or Sandbox still running. Sends signal (unless it exited already), waits; returns its exit
-- status, what it wrote to stderr and the rest of its stdout (also kept as p.exit_code, p.log, p.rest).
local function wait_for(p, signal)
  if p.pid and not p.exited then os.execute("kill -" .. signal .. " " .. p.pid .. " 2>/dev/null") end
  local rest = p.pipe:read("*a")
  p.pipe:close()
  p.pipe = nil
  local f = io.open(p.logfile, "r")
  p.log = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(p.logfile)
  p.exit_code = p.exited or tonumber(rest:match("exit=(%d+)"))
  p.rest = rest
  return p.exit_code, p.log, rest
end

-- Stops the process with signal (default "TERM"); returns exit status, stderr and the rest of stdout.
-- Raises nothing; calling it again returns the same.
function Process:finish(signal)
  if not self.pipe then return self.exit_code, self.log, self.rest end
  return wait_for(self, signal or "TERM")
end

-- Starts a sandbox into self (a new table when nil). args: list of extra command-line arguments.
local function start(args, self)
  local cmd = { "--port", "0", "--host", "127.0.0.1" }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = a end
  local proc = helper.spawn_sandbox(cmd)
  local url = proc.url
  if not url then
    local _, log = proc:finish()
    error("sandbox did not start: " .. tostring(proc.first) .. "\n" .. log)
  end
  self = self or {}
  self.url, self.graph, self.beta = url, url .. "/v1.0", url .. "/beta"
  self.port, self.pid, self.pipe, self.logfile = tonumber(url:match(":(%d+)$")), proc.pid, proc.pipe, proc.logfile
  return setmetatable(self, Sandbox)
end

-- Starts a sandbox. args: list of extra command-line arguments. Returns a Sandbox with .url (the
-- server root, e.g. http://127.0.0.1:PORT), .graph (root .. "/v1.0"), .port and :stop().
function helper.start_sandbox(args)
  return start(args)
end

-- The sandbox of a describe block, for the specs that share one: registers the block's setup (starts it with
-- args, a list or a function that returns one, called then), teardown (stops it, so an exit other than 0 or a
-- memory report fails the block) and, unless opts.reset is false, before_each (resets it). Returns the Sandbox,
-- which has its .url, .graph and the rest once the setup has run. Register the block's own setup after it.
function helper.sandbox_suite(args, opts)
  local busted = require "busted" -- the running busted's API: setup, teardown, before_each
  local setup, teardown, before_each = busted.setup, busted.teardown, busted.before_each
  local sb = setmetatable({}, Sandbox)
  setup(function() start(type(args) == "function" and args() or args, sb) end)
  teardown(function() sb:stop() end)
  if not (opts and opts.reset == false) then before_each(function() sb:reset() end) end
  return sb
end

-- Whether a process's stderr holds a report from valgrind, AddressSanitizer/LeakSanitizer or UBSan.
-- The whole line around a plain word, found in linear time (a pattern starting "[^\n]*" tries every start of a
-- long line again: minutes for a 200 KB message).
local function line_with(log, word)
  local at = log:find(word, 1, true)
  if not at then return nil end
  local from = at
  while from > 1 and log:byte(from - 1) ~= 10 do from = from - 1 end
  return log:match("[^\n]*", from)
end

function helper.memory_report(log)
  return log:match("==%d+== [^\n]*") or line_with(log, "Sanitizer") or line_with(log, "runtime error:")
end

-- Stops the sandbox with SIGTERM and waits for it. Returns its exit code and what it wrote to stderr;
-- raises when it did not exit 0 or its stderr has a memory-checker report, so every spec that starts a
-- sandbox also checks it under `make check-memory`.
function Sandbox:stop()
  if not self.pipe then return self.exit_code, self.log end
  wait_for(self, "TERM")
  local report = helper.memory_report(self.log)
  if report or self.exit_code ~= 0 then
    error(string.format("sandbox exited %s%s\n%s", tostring(self.exit_code),
      report and (" with a memory report: " .. report) or "", self.log), 2)
  end
  return self.exit_code, self.log
end

-- Plain HTTP to the sandbox (LuaSocket). Returns status, decoded body (or raw string), headers.
function helper.http(method, url, body, headers)
  local chunks = {}
  headers = headers or {}
  local src
  if body ~= nil then
    if type(body) ~= "string" then body = assert(cjson.encode(body)) end
    headers["content-type"] = headers["content-type"] or "application/json"
    headers["content-length"] = tostring(#body)
    src = ltn12.source.string(body)
  end
  local _, status, rheaders = http.request{
    method = method, url = url, headers = headers, source = src, sink = ltn12.sink.table(chunks),
  }
  local raw = table.concat(chunks)
  local decoded = (raw ~= "" and cjson.decode(raw)) or nil
  return status, decoded == nil and raw or decoded, rheaders or {}
end

function Sandbox:control(method, path, body)
  return helper.http(method, self.url .. "/_sandbox/" .. path, body)
end

-- Resets the store, the faults, the config and the request log.
function Sandbox:reset()
  local status = self:control("POST", "reset")
  assert(status == 200, "sandbox reset failed: " .. tostring(status))
end

-- The next `count` Graph requests (optionally only `method`) answer `status` with a Graph error.
function Sandbox:fail_next(count, status, opts)
  local body = { count = count, status = status }
  for k, v in pairs(opts or {}) do body[k] = v end
  local st = self:control("POST", "faults", body)
  assert(st == 200, "sandbox faults failed: " .. tostring(st))
end

function Sandbox:configure(cfg)
  local st = self:control("POST", "config", cfg)
  assert(st == 200, "sandbox config failed: " .. tostring(st))
end

-- The Graph requests the sandbox has seen since the last reset, oldest first.
function Sandbox:requests()
  local st, body = self:control("GET", "requests")
  assert(st == 200, "sandbox requests failed: " .. tostring(st))
  return body.value
end

-- Starts a server script (lua5.4 SCRIPT ARGS...) that prints "port N" first. Returns its pid, the port and a function
-- that stops it and returns the lines it printed that start with "got " (without that prefix) and every line.
local function start_server_process(script, args)
  local cmd = "lua5.4 " .. script
  for _, a in ipairs(args) do cmd = cmd .. " " .. shell_quote(a) end
  local p, pid = helper.spawn(cmd)
  local port = tonumber((p:read("*l") or ""):match("^port (%d+)"))
  assert(port, script .. " did not start")
  return pid, port, function()
    os.execute("kill " .. pid .. " 2>/dev/null")
    local seen, all = {}, {}
    for l in p:lines() do
      if not l:match("^exit=%d+$") then
        seen[#seen + 1] = l:match("^got (.*)")
        all[#all + 1] = l
      end
    end
    p:close()
    return seen, all
  end
end

-- Starts spec/support/fake_server.lua in a mode (drop, redirect URL, loop, ok, status N). Returns its port, a
-- function that stops it and returns the request lines it saw ("METHOD PATH VERSION auth=yes|no") and every line
-- it printed, and its pid.
function helper.start_fake_server(mode, target)
  local pid, port, stop = start_server_process("spec/support/fake_server.lua", { mode, target })
  return port, stop, pid
end

-- Starts spec/support/hostile_server.lua with a script: Lua source returning function(req) -> answer (see that
-- file). host: the loopback address to listen on (default 127.0.0.1; 127.0.0.2 serves as "another host").
-- Returns its base URL ("http://HOST:PORT"), its port, and a function that stops it and returns the requests it saw
-- ("METHOD TARGET auth=yes|no body=...") and every line it printed.
function helper.start_hostile(script_source, host)
  local script, log = helper.temp_file(script_source), os.tmpname()
  local _, port, stop = start_server_process("spec/support/hostile_server.lua", { script, host or "127.0.0.1", log })
  return "http://" .. (host or "127.0.0.1") .. ":" .. port, port, function()
    stop()
    local seen, all = {}, {}
    for l in io.lines(log) do
      seen[#seen + 1] = l:match("^got (.*)")
      all[#all + 1] = l
    end
    os.remove(script)
    os.remove(log)
    return seen, all
  end
end

-- A TCP port on 127.0.0.1 that was free a moment ago.
function helper.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- Makes a self-signed certificate for 127.0.0.1 in dir; returns cert and key paths.
function helper.make_cert(dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local ok = helper.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1 -keyout " .. shell_quote(key) .. " -out " .. shell_quote(cert)
    .. " >/dev/null 2>&1")
  assert(ok, "openssl could not make a certificate")
  return cert, key
end

-- One request on a fresh TCP connection (Connection: close), read until the server closes it, so
-- what a plain client sees of a broken answer (no answer, a short body) is visible. Returns
-- { status, headers = {lowercase = value}, body, raw, err, elapsed } (status nil: no answer).
function helper.raw_exchange(port, method, path, headers, body, timeout)
  local c = assert(socket.tcp())
  c:settimeout(timeout or 30)
  local t0 = socket.gettime()
  assert(c:connect("127.0.0.1", port))
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1", "Connection: close" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
  local data, err, partial = c:receive("*a")
  c:close()
  local raw = data or partial or ""
  local out = { raw = raw, err = err, elapsed = socket.gettime() - t0, headers = {} }
  local head, rest = raw:match("^(.-)\r\n\r\n(.*)$")
  if not head then return out end
  out.status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
  for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do out.headers[k:lower()] = v end
  out.body = rest
  return out
end

-- Makes a new private temporary directory (mktemp -d); returns its path. Remove it with helper.remove_tree.
function helper.temp_dir()
  local p = assert(io.popen("mktemp -d"))
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "mktemp -d failed")
  return dir
end

-- Removes a directory made by helper.temp_dir and everything in it (nil: nothing).
function helper.remove_tree(dir)
  if dir then os.execute("rm -rf " .. shell_quote(dir)) end
end

-- A module of the sandbox's Lua (sandbox/lua, or $VPPTOKEN_SANDBOX_LUA_PATH as the sandbox reads it), for the
-- specs of a sandbox data structure that has no route of its own to drive it.
function helper.sandbox_module(name)
  local dir = os.getenv("VPPTOKEN_SANDBOX_LUA_PATH") or "sandbox/lua"
  local path = dir:find("?", 1, true) and dir or (dir .. "/?.lua")
  if not package.path:find(path, 1, true) then package.path = package.path .. ";" .. path end
  return require(name)
end

-- The content of a sample Apple VPP token file, made by the code behind `vpptoken-sandbox make-token`
-- (vpptoken_sandbox.applefile.make). f: { org = organization (default "Contoso Ltd"), apple_id (default
-- "vpp@contoso.com"), expires = a date as make-token takes it or seconds since the epoch (default
-- helper.TOKEN_EXPIRES: 400 days after the specs started), token = the secret inside (optional) }, or a string: that
-- secret. The sandbox's Lua is Lua 5.4: specs running on another Lua have lua5.4 run it.
helper.TOKEN_EXPIRES = os.time() + 400 * 86400
function helper.apple_token(f)
  if type(f) == "string" then f = { token = f } end
  f = f or {}
  local fields = { org = f.org or "Contoso Ltd", apple_id = f.apple_id or "vpp@contoso.com",
                   expires = f.expires or helper.TOKEN_EXPIRES, token = f.token }
  if _VERSION ~= "Lua 5.4" then
    local code = { "local f = {}" }
    for k, v in pairs(fields) do
      code[#code + 1] = string.format("f.%s = %s", k, type(v) == "number" and string.format("%.17g", v)
        or string.format("%q", v))
    end
    code[#code + 1] = "io.write(require('vpptoken_sandbox.applefile').make(f))"
    local dir = os.getenv("VPPTOKEN_SANDBOX_LUA_PATH") or "sandbox/lua"
    local path = dir:find("?", 1, true) and dir or (dir .. "/?.lua")
    local p = assert(io.popen("LUA_PATH=" .. shell_quote(path .. ";;") .. " lua5.4 -e "
      .. shell_quote(table.concat(code, "\n"))))
    local out = p:read("*a")
    p:close()
    return out
  end
  helper.applefile = helper.applefile or helper.sandbox_module("vpptoken_sandbox.applefile")
  return helper.applefile.make(fields)
end

-- The documentation as one text: README.md, then docs/*.md in name order (a manual's section may move between
-- them without a spec noticing).
function helper.docs_text()
  local parts = {}
  local p = assert(io.popen("ls docs/*.md 2>/dev/null"))
  local names = { "README.md" }
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  for _, name in ipairs(names) do
    local f = assert(io.open(name, "r"))
    parts[#parts + 1] = f:read("*a")
    f:close()
  end
  return table.concat(parts, "\n")
end

-- Writes text to a new temporary file; returns its name.
function helper.temp_file(text)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb"))
  f:write(text or "")
  f:close()
  return name
end

return helper
