-- What a script can see of the calls vpptoken makes: the on_request hook and VPPTOKEN_DEBUG=1, never a secret.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local vpptoken = require "vpptoken"

local ACCESS = "access-token-that-must-not-show-1234"
local VPP_FILE = apple("apple-secret-token")

describe("observability", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS }

  it("on_request hears of every call with method, URL, status, attempts, time and request ids", function()
    local seen = {}
    local c = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.01,
                            on_request = function(info) seen[#seen + 1] = info end }
    sb:fail_next(1, 503)
    local t = assert(c:create{ token = VPP_FILE })
    assert.is_nil(c:get("missing"))
    c:close()
    assert.equal(2, #seen)
    assert.equal("POST", seen[1].method)
    assert.equal(sb.graph .. "/deviceAppManagement/vppTokens", seen[1].url)
    assert.equal(201, seen[1].status)
    assert.equal(2, seen[1].attempts)
    assert.is_true(seen[1].elapsed >= 0)
    assert.is_string(seen[1].request_id)
    assert.is_string(seen[1].client_request_id)
    assert.is_nil(seen[1].error)
    assert.equal(404, seen[2].status)
    assert.equal("not_found:ResourceNotFound", seen[2].error)
    for _, info in ipairs(seen) do
      for _, v in pairs(info) do
        assert.is_nil(tostring(v):find(ACCESS, 1, true))
        assert.is_nil(tostring(v):find(VPP_FILE, 1, true))
      end
    end
    assert.is_string(t.id)
  end)

  it("an on_request hook that raises does not break the call", function()
    local c = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, on_request = function() error("boom") end }
    assert(c:list())
    c:close()
  end)

  it("on_retry hears of each wait before a call is tried again: which attempt, how long, and why", function()
    local seen = {}
    local c = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.01, max_retries = 3,
                            on_retry = function(info) seen[#seen + 1] = info end }
    sb:fail_next(2, 503)
    assert(c:list())
    c:close()
    assert.equal(2, #seen)
    for i, info in ipairs(seen) do
      assert.equal("GET", info.method)
      assert.equal(sb.graph .. "/deviceAppManagement/vppTokens", info.url)
      assert.equal(i + 1, info.attempt)
      assert.equal(4, info.max_attempts)
      assert.equal(503, info.status)
      assert.is_true(info.delay >= 0)
    end
  end)

  it("on_retry names a transport failure by its code, in concurrent calls too", function()
    local gone = helper.start_sandbox{ "--access-token", ACCESS }
    local url = gone.graph
    gone:stop()
    local seen = {}
    local c = vpptoken.new{ base_url = url, access_token = ACCESS, retry_delay = 0.01, max_retries = 1,
                            on_retry = function(info) seen[#seen + 1] = info end }
    assert.is_nil(c:get("a"))
    local tokens = c:get_many({ "a", "b" }, { concurrency = 2 })
    c:close()
    assert.same({ false, false }, tokens)
    assert.equal(3, #seen)
    for _, info in ipairs(seen) do
      assert.equal("network", info.kind)
      assert.equal("COULDNT_CONNECT", info.code)
      assert.equal(2, info.attempt)
      assert.is_nil(info.status)
    end
  end)

  it("on_tick hears of a slow call while it is under way; a hook cannot use the client from inside it", function()
    local ticks, inner = {}, nil
    local c
    c = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, on_tick = function(info)
      ticks[#ticks + 1] = info
      local ok, err = pcall(c.list, c)
      inner = inner or { ok, err }
    end }
    sb:configure{ faults = { latency_ms = { GET = { 2500, 2600 } } } }
    assert(c:list())
    c:close()
    assert.is_true(#ticks >= 1)
    assert.equal("GET", ticks[1].method)
    assert.is_true(ticks[1].elapsed >= 0.9)
    assert.is_false(inner[1])
    assert.matches("from its own hook", tostring(inner[2]), 1, true)
  end)

  it("sync_all's on_progress counts the syncs as they end, and the failed ones", function()
    local c = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, max_retries = 0 }
    for i = 1, 5 do assert(c:create{ token = apple("t" .. i) }) end
    sb:fail_next(2, 500, { method = "POST" })
    local calls = {}
    local outcomes = assert(c:sync_all{ concurrency = 1, on_progress = function(done, total, failed)
      calls[#calls + 1] = { done, total, failed }
    end })
    c:close()
    assert.equal(5, #outcomes)
    assert.same({ { 1, 5, 1 }, { 2, 5, 2 }, { 3, 5, 2 }, { 4, 5, 2 }, { 5, 5, 2 } }, calls)
  end)

  it("VPPTOKEN_DEBUG=1 prints one line per call on stderr, without the access token", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      local vpptoken = require "vpptoken"
      local c = vpptoken.new{ base_url = %q, access_token = %q }
      assert(c:create{ token = %q })
      c:list()
      c:close()
    ]], sb.graph, ACCESS, VPP_FILE))
    f:close()
    local errfile = os.tmpname()
    local build = helper.build_dir
    local cmd = "VPPTOKEN_DEBUG=1 LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='" .. build .. "/?.so;;' "
      .. helper.lua .. " " .. helper.shell_quote(script) .. " 2>" .. helper.shell_quote(errfile)
    assert.is_true(helper.execute(cmd))
    local text = assert(io.open(errfile)):read("*a")
    os.remove(script)
    os.remove(errfile)
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(2, #lines)
    assert.matches("^vpptoken: POST " .. sb.graph:gsub("%p", "%%%0") .. "/deviceAppManagement/vppTokens %-> 201 %(1 "
      .. "attempt%(s%), [%d.]+ s, request%-id [%x-]+, client%-request%-id [%x-]+%)$", lines[1])
    assert.matches("^vpptoken: GET .* %-> 200 ", lines[2])
    assert.is_nil(text:find(ACCESS, 1, true))
    assert.is_nil(text:find(VPP_FILE, 1, true))
  end)
end)
