-- Ctrl-C on the command line: SIGINT to a vpptoken process whose call is under way (or waiting to retry) ends it at
-- once with exit 130, one line on stderr and no traceback.
local helper = require "helper"
local cli = require "cli_support"

describe("vpptoken command interrupted", function()
  local sb = helper.sandbox_suite{ "--access-token", cli.ACCESS }

  local function interrupt(argv, awaited, settle)
    local line = cli.command(argv, { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = cli.ACCESS })
    return cli.interrupt(line, sb, awaited, settle)
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
