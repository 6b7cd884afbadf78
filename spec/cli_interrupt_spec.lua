-- Ctrl-C on the command line: SIGINT to a vpptoken process whose call is under way (or waiting to retry) ends it at
-- once with exit 130, one line on stderr and no traceback.
local helper = require "helper"
local cli = require "cli_support"

describe("vpptoken command interrupted", function()
  local sb = helper.sandbox_suite{ "--access-token", cli.ACCESS }

  -- Runs the command in the background and sends it SIGINT once the sandbox has seen a request of the form
  -- `awaited` (a method and a path pattern: the call under way, so the command is past its start and its handler
  -- in place) and `settle` seconds more; returns the exit code, the milliseconds from the signal to the exit, and
  -- stderr.
  local function interrupt(argv, awaited, settle)
    local errf, go = os.tmpname(), os.tmpname()
    os.remove(go)
    local line = cli.command(argv, { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = cli.ACCESS })
    local q = helper.shell_quote
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

  it("ends a call under way and exits 130", function()
    sb:configure{ faults = { latency_ms = { GET = { 5000, 5000 } } } }
    local code, ms, err = interrupt({ "list" }, { "GET", "/vppTokens" }, 0.2)
    assert.equal(130, code, err)
    assert.is_true(ms < 1500, "ended " .. ms .. " ms after the signal")
    assert.matches("interrupted", err)
    assert.is_nil(err:find("traceback", 1, true))
  end)

  it("ends the concurrent calls of sync --all and exits 130", function()
    local client = require("vpptoken").new{ base_url = sb.graph, access_token = cli.ACCESS }
    for i = 1, 3 do assert(client:create{ token = helper.apple_token("interrupt-" .. i) }) end
    client:close()
    sb:configure{ faults = { latency_ms = { POST = { 5000, 5000 } } } }
    local code, ms, err = interrupt({ "sync", "--all" }, { "POST", "/syncLicenses$" }, 0.2)
    assert.equal(130, code, err)
    assert.is_true(ms < 1500, "ended " .. ms .. " ms after the signal")
  end)

  it("ends a wait before a retry and exits 130, sending nothing more", function()
    sb:fail_next(1, 429, { retry_after = "5" })
    local code, ms, err = interrupt({ "list" }, { "GET", "/vppTokens" }, 0.3)
    assert.equal(130, code, err)
    assert.is_true(ms < 1500, "ended " .. ms .. " ms after the signal")
    assert.equal(1, #sb:requests())
  end)
end)
