-- What the judge specs share (spec/judge_*_spec.lua): running one of Microsoft's JavaScript libraries, pinned in
-- spec/judge/package-lock.json and installed by `make judge-deps`, as a node script under spec/judge/ that prints one
-- JSON report, or one of its Python libraries as Debian packages them (python3-azure, python3-msal: `make test-deps`)
-- as a script run by Debian's /usr/bin/python3; and reading that report. Missing node, node_modules or the Python
-- packages fail a judge spec; VPPTOKEN_NO_NODE=1 (set by a user, never by CI) skips it. require "judge_support".
local helper = require "helper"
local cjson = require "cjson.safe"
local assert = require "luassert"

local judge = {}

judge.DIR = "spec/judge"

local function shell_ok(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true or ok == 0
end

-- Whether the judges are skipped on purpose (VPPTOKEN_NO_NODE=1).
function judge.skipped()
  return os.getenv("VPPTOKEN_NO_NODE") == "1"
end

-- Runs `PROGRAM spec/judge/SCRIPT ARGS...` with the environment variables in env added, for at most seconds;
-- returns the decoded report or raises with the program's stderr.
local function run(program, script, args, env, seconds)
  local names = {}
  for k in pairs(env) do names[#names + 1] = k end
  table.sort(names)
  local assigns = {}
  for i, k in ipairs(names) do assigns[i] = k .. "=" .. helper.shell_quote(env[k]) end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = helper.shell_quote(a) end
  local errfile = os.tmpname()
  local cmd = string.format("%s timeout -k 5 %d %s %s %s 2>%s; echo \"exit=$?\"", table.concat(assigns, " "),
    seconds, program, helper.shell_quote(judge.DIR .. "/" .. script), table.concat(quoted, " "),
    helper.shell_quote(errfile))
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  p:close()
  local f = io.open(errfile, "r")
  local err = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(errfile)
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  assert(code == 0, "the judge exited " .. tostring(code) .. ":\n" .. err .. out)
  local report = cjson.decode(out:match("^(.-)\nexit=") or "")
  assert(type(report) == "table", "the judge printed no report:\n" .. out .. err)
  return report
end

-- Runs `node spec/judge/SCRIPT ARGS...` with the environment variables in env (name -> value) added, for at most
-- seconds. Returns the decoded report; raises with node's stderr when node is missing, package (a directory under
-- node_modules) is not installed, or the run failed.
function judge.run(script, args, env, seconds, package)
  assert(shell_ok("command -v node"), "node is not on PATH: `make judge-deps` (or `make test`) installs it;"
    .. " VPPTOKEN_NO_NODE=1 skips this spec")
  assert(shell_ok("test -d " .. helper.shell_quote(judge.DIR .. "/node_modules/" .. package)),
    judge.DIR .. "/node_modules is missing: run `make judge-deps`")
  return run("node", script, args, env, seconds)
end

-- Debian's Python, for which python3-azure and python3-msal are installed (a python3 earlier on PATH, such as
-- pyenv's, does not see them).
judge.PYTHON = "/usr/bin/python3"

-- Runs `/usr/bin/python3 spec/judge/SCRIPT ARGS...` like judge.run; raises when one of modules (Python module
-- names) does not import.
function judge.run_python(script, args, env, seconds, modules)
  for _, m in ipairs(modules) do
    assert(shell_ok(judge.PYTHON .. " -c " .. helper.shell_quote("import " .. m)), judge.PYTHON .. " cannot import "
      .. m .. ": `make test-deps` installs Debian's python3-azure and python3-msal")
  end
  if os.getenv("FAKETIME") then
    -- Under make test-clock: libfaketime with monotonic time real breaks Python 3.11's time.sleep (an absolute
    -- clock_nanosleep on CLOCK_MONOTONIC answers EINVAL), so Python's monotonic clock takes the same shift
    local with = { FAKETIME_DONT_FAKE_MONOTONIC = "0", DONT_FAKE_MONOTONIC = "0" }
    for k, v in pairs(env or {}) do with[k] = v end
    env = with
  end
  return run(judge.PYTHON, script, args, env, seconds)
end

-- A value of a report, readable in a failure message.
function judge.show(v)
  return type(v) == "table" and cjson.encode(v) or tostring(v)
end

-- The report's entry for one check. A check that threw inside the judge reports { threw = ... }: fail with it
-- rather than on a missing field.
function judge.point(report, name)
  local seen = report[name]
  assert.is_table(seen, "the judge has no report for " .. name)
  assert.is_nil(seen.threw, name .. " threw in the library: " .. judge.show(seen.threw))
  return seen
end

return judge
