-- Test support for the command-line specs: runs bin/vpptoken as a subprocess with the interpreter running the
-- specs (so it is instrumented under `make check-memory`), and writes Apple token files.
local helper = require "helper"
local files = require "support.tokenfiles"

local M = {}

local q = helper.shell_quote

M.ACCESS = "cli-spec-access-token-5150"
M.SECRET = files.SECRET

-- Variables a child never inherits from the caller (credentials, sandbox, width), unless given in env.
-- (every variable vpptoken.from_env or its sign-in chain reads: vpptoken.ENV, vpptoken.chain.VARIABLES but PATH).
local SCRUB = { "VPPTOKEN_DEBUG", "VPPTOKEN_SANDBOX", "COLUMNS" }
for _, e in ipairs(require("vpptoken").ENV) do SCRUB[#SCRUB + 1] = e[1] end
for _, v in ipairs(require("vpptoken.chain").VARIABLES) do
  if v ~= "PATH" then SCRUB[#SCRUB + 1] = v end
end

--- The environment assignments and the command line (a shell string) that run bin/vpptoken with argv.
-- env: name -> value (false: leave unset). The repository root is the working directory unless opts.cwd.
function M.command(argv, env, cwd)
  local here = os.getenv("PWD") or "."
  local root = cwd and here or "."
  local build = helper.build_dir
  if cwd and not build:match("^/") then build = here .. "/" .. build end
  -- XDG_CACHE_HOME: no sign-in of `vpptoken login` from the caller's cache (a directory that does not exist)
  local vars = { LUA_PATH = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;", LUA_CPATH = build .. "/?.so;;",
                 TZ = "UTC", XDG_CACHE_HOME = "/nonexistent/vpptoken-spec-cache" }
  for k, v in pairs(env or {}) do vars[k] = v end
  local parts = { "env" }
  for _, k in ipairs(SCRUB) do parts[#parts + 1] = "-u " .. k end
  local names = {}
  for k in pairs(vars) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    if vars[k] then parts[#parts + 1] = k .. "=" .. q(vars[k]) end
  end
  local interp = helper.lua
  if cwd and not interp:match("^/") and interp:match("/") then interp = here .. "/" .. interp end
  parts[#parts + 1] = q(interp)
  parts[#parts + 1] = q(root .. "/bin/vpptoken")
  for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
  return table.concat(parts, " ")
end

--- Runs bin/vpptoken; returns exit code, stdout, stderr. opts: env (see command), stdin (text; default
-- /dev/null), cwd. Asserts that stderr holds no memory-checker report.
function M.run(argv, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local input = "/dev/null"
  if opts.stdin then input = helper.temp_file(opts.stdin) end
  local line = M.command(argv, opts.env, opts.cwd)
  if opts.cwd then line = "cd " .. q(opts.cwd) .. " && " .. line end
  local p = assert(io.popen("(" .. line .. ") <" .. q(input) .. " >" .. q(out) .. " 2>" .. q(err) .. "; echo $?"))
  local code = tonumber(p:read("*a"):match("(%d+)%s*$"))
  p:close()
  local function slurp(name)
    local f = assert(io.open(name, "rb"))
    local s = f:read("*a")
    f:close()
    os.remove(name)
    return s
  end
  local stdout, stderr = slurp(out), slurp(err)
  if opts.stdin then os.remove(input) end
  local report = helper.memory_report(stderr)
  assert(not report, "memory report from the vpptoken command: " .. tostring(report) .. "\n" .. stderr)
  return code, stdout, stderr
end

--- Runs `vpptoken login` with env (see command) and, once it prints the command that approves its code at a
-- sandbox, runs that command as the person would. Returns the login's exit code, its stderr, and whether the
-- printed command was found and succeeded (nil when none was printed within 10 s).
function M.login_approving(env)
  local errfile = os.tmpname()
  local p = assert(io.popen(M.command({ "login" }, env) .. " 2>" .. q(errfile) .. "; echo \"exit=$?\""))
  local approved
  for _ = 1, 100 do -- up to 10 s for the instructions
    local f = io.open(errfile)
    local text = f and f:read("*a") or ""
    if f then f:close() end
    local command = text:match("\n  (curl %-X POST [^\n]+)")
    if command then
      approved = (require("vpptoken.compat").execute(command .. " >/dev/null 2>&1")) == true
      break
    end
    os.execute("sleep 0.1")
  end
  if approved == nil then os.execute("pkill -f " .. q(errfile) .. " 2>/dev/null") end
  local rest = p:read("*a")
  p:close()
  local f = assert(io.open(errfile))
  local err = f:read("*a")
  f:close()
  os.remove(errfile)
  return tonumber(rest:match("exit=(%d+)")), err, approved
end

--- Runs a shell command line in the background and sends it SIGINT once the sandbox `sb` has seen a request of
-- the form `awaited` (a method and a path pattern: the call under way, so the command is past its start and its
-- handler in place) and `settle` seconds more. Returns the exit code, the milliseconds from the signal to the exit,
-- and stderr.
function M.interrupt(line, sb, awaited, settle)
  local errf, go = os.tmpname(), os.tmpname()
  os.remove(go)
  local p = assert(io.popen("(" .. line .. ") </dev/null >/dev/null 2>" .. q(errf)
    .. " & pid=$!; n=0; while [ ! -e " .. q(go) .. " ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done; "
    .. "start=$(date +%s%N); kill -INT $pid; wait $pid; code=$?; "
    .. "echo $code $(( ($(date +%s%N) - start) / 1000000 ))"))
  local deadline = os.time() + 30
  local seen
  repeat
    for _, r in ipairs(sb:requests()) do
      if r.method == awaited[1] and r.path:find(awaited[2]) then seen = true end
    end
    if not seen then os.execute("sleep 0.05") end
  until seen or os.time() > deadline
  if settle > 0 then os.execute("sleep " .. settle) end
  assert(io.open(go, "w")):close()
  local code, ms = p:read("*a"):match("(%d+) (%d+)")
  p:close()
  os.remove(go)
  local f = assert(io.open(errf))
  local err = f:read("*a")
  f:close()
  os.remove(errf)
  return tonumber(code), tonumber(ms), err
end

--- Writes an Apple .vpptoken file (fields override token, expDate, orgName); returns its path.
function M.token_file(fields)
  return helper.temp_file(files.apple_file(fields))
end

--- The content of that file: what Intune stores as the token, the secret to look for in output.
M.token_content = files.apple_file

--- A sandbox store file (for `vpptoken-sandbox --data FILE`) holding these tokens: each a table of properties with
-- at least id; the rest default to a valid business token. Returns its path.
function M.store_file(tokens)
  local cjson = require "cjson"
  local list = {}
  for i, t in ipairs(tokens) do
    local props = { organizationName = "Contoso", vppTokenAccountType = "business", appleId = "vpp@contoso.com",
                    expirationDateTime = files.DEFAULT_GRAPH_DATE, token = "seeded-token-" .. i,
                    lastModifiedDateTime = "2026-01-01T00:00:00Z", state = "valid", lastSyncStatus = "none",
                    automaticallyUpdateApps = false, dataSharingConsentGranted = false,
                    claimTokenManagementFromExternalMdm = false, roleScopeTagIds = { "0" }, lastAppCount = 0 }
    for k, v in pairs(t) do props[k] = v end
    list[i] = { seq = i, id = props.id, props = props }
  end
  return helper.temp_file(cjson.encode{ format = "vpptoken-sandbox-store/1", next_seq = #tokens + 1,
                                        tokens = list })
end

-- The CLI on a terminal -------------------------------------------------------------------------------------

local Terminal = {}
Terminal.__index = Terminal

--- A tmux server of its own (killed by :kill()) to run the command in real pseudo-terminals and read the screen.
-- env: the variables every command gets (see M.command). opts.history: every capture includes the pane's history
-- (the lines scrolled off the top), not only the screen.
function M.terminal(env, opts)
  return setmetatable({ env = env or {}, socket = "vpptoken-cli-" .. os.tmpname():match("([%w_]+)$"),
                        sessions = 0, history = opts and opts.history }, Terminal)
end

function Terminal:tmux(args)
  local p = assert(io.popen("tmux -L " .. self.socket .. " -f /dev/null " .. args .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  return out
end

--- Starts `vpptoken argv` in a new tmux session (stdin, stdout, stderr the terminal) of opts.width x opts.height
-- (default 100 x 30), with extra_env added (or opts.command, a shell command line, instead); the shell prints
-- EXIT=<code> when it ends. Returns the session name.
function Terminal:start(argv, extra_env, opts)
  opts = opts or {}
  local e = {}
  for k, v in pairs(self.env) do e[k] = v end
  for k, v in pairs(extra_env or {}) do e[k] = v end
  if self.sessions == 0 then
    -- A session that lasts as long as the server: tmux exits with its last session, and a new session started
    -- while it exits fails ("no server running").
    self:tmux("new-session -d -s keep 'sleep 3600'")
  end
  self.sessions = self.sessions + 1
  local name = "s" .. self.sessions
  local line = (opts.command or M.command(argv, e)) .. "; echo EXIT=$?; sleep 600"
  self:tmux(string.format("new-session -d -x %d -y %d -s %s %s", opts.width or 100, opts.height or 30, name,
    q("cd " .. q(os.getenv("PWD") or ".") .. " && " .. line)))
  return name
end

--- The session's screen as text, one line per screen row; a line the terminal wrapped is joined back (-J), so a
-- line longer than the width shows as such. escapes: with its colours (-e).
function Terminal:screen(name, escapes)
  return self:tmux("capture-pane -p -J " .. (self.history and "-S - " or "") .. (escapes and "-e " or "") .. "-t "
    .. name)
end

--- Types keys into the session (tmux send-keys arguments, e.g. "y Enter").
function Terminal:keys(name, keys)
  self:tmux("send-keys -t " .. name .. " " .. keys)
end

--- Waits (generously: memory checkers are slow) until the screen shows `pattern`; returns the screen.
function Terminal:wait_for(name, pattern, seconds)
  local text
  for _ = 1, (seconds or 120) * 10 do
    text = self:screen(name)
    if text:find(pattern) then return text end
    os.execute("sleep 0.1")
  end
  error("timed out waiting for " .. pattern .. " in:\n" .. tostring(text))
end

--- Waits until the command ended; returns its exit code and the screen (asserting no memory-checker report; with
-- escapes, the screen with its colours), and ends the session.
function Terminal:finished(name, escapes)
  local text = self:wait_for(name, "EXIT=%d+")
  assert(not helper.memory_report(text), text)
  if escapes then text = self:screen(name, true) end
  self:tmux("kill-session -t " .. name)
  return tonumber(text:match("EXIT=(%d+)")), text
end

--- Ends the tmux server and every session in it.
function Terminal:kill()
  os.execute("tmux -L " .. self.socket .. " kill-server >/dev/null 2>&1")
end

--- A Lua pattern matching s literally.
function M.literal(s)
  return (s:gsub("%p", "%%%0"))
end

--- Splits RFC 4180 CSV text into rows of fields.
function M.parse_csv(text)
  local rows, row, field, i, n = {}, {}, {}, 1, #text
  local quoted = false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' and text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then quoted = false
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(field); field = {}
    elseif c == "\r" and text:sub(i + 1, i + 1) == "\n" then
      row[#row + 1] = table.concat(field); field = {}
      rows[#rows + 1] = row; row = {}
      i = i + 1
    else field[#field + 1] = c end
    i = i + 1
  end
  if #field > 0 or #row > 0 then row[#row + 1] = table.concat(field); rows[#rows + 1] = row end
  return rows
end

return M
