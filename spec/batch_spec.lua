-- client:batch: operations grouped into JSON batches of 20, results in the caller's order, throttled
-- sub-requests sent again after their own Retry-After.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local vpptoken = require "vpptoken"

describe("batch", function()
  local sb = helper.sandbox_suite()
  local client

  setup(function()
    client = vpptoken.new{ base_url = sb.graph, access_token = "t", retry_delay = 0.01 }
  end)
  teardown(function() client:close() end)

  local function batch_posts()
    local n = 0
    for _, r in ipairs(sb:requests()) do if r.path == "/v1.0/$batch" then n = n + 1 end end
    return n
  end

  it("runs mixed operations in one request and returns their results in order", function()
    local a = assert(client:create{ token = apple("a"), appleId = "a@contoso.com" })
    local b = assert(client:create{ token = apple("b"), appleId = "b@contoso.com" })
    sb:reset()
    local results, errs = client:batch{
      { op = "create", fields = { token = apple("c"), appleId = "c@contoso.com" } },
      { op = "get", id = "no-such-id" },
      { op = "update", id = "no-such-id", fields = { countryOrRegion = "gb" } },
      { op = "sync_licenses", id = "no-such-id" },
      { op = "delete", id = "no-such-id" },
    }
    assert.equal("c@contoso.com", results[1].appleId)
    assert.is_string(results[1].id)
    for i = 2, 5 do
      assert.is_false(results[i])
      assert.equal(404, errs[i].status)
    end
    assert.equal(1, batch_posts())
    assert.is_string(a.id)
    assert.is_string(b.id)
  end)

  it("returns each operation's value as the single call would", function()
    local t = assert(client:create{ token = apple("x"), appleId = "x@contoso.com" })
    local results, errs = client:batch{
      { op = "get", id = t.id, select = "appleId" },
      { op = "update", id = t.id, fields = { countryOrRegion = "fr" } },
      { op = "sync_licenses", id = t.id },
    }
    assert.is_nil(errs[1])
    assert.equal("x@contoso.com", results[1].appleId)
    assert.is_nil(results[1].organizationName)
    assert.is_truthy(results[2])
    assert.equal("inProgress", results[3].lastSyncStatus)
    local after = assert(client:batch{ { op = "delete", id = t.id }, { op = "get", id = t.id } })
    assert.is_true(after[1])
  end)

  it("splits more than 20 operations into several batches", function()
    local ops = {}
    for i = 1, 45 do ops[i] = { op = "create", fields = { token = apple("t" .. i), appleId = i .. "@contoso.com" } } end
    local results, errs = client:batch(ops)
    assert.equal(3, batch_posts())
    for i = 1, 45 do
      assert.is_nil(errs[i])
      assert.equal(i .. "@contoso.com", results[i].appleId)
    end
    assert.equal(45, #assert(client:list()))
  end)

  it("sends throttled operations again after their Retry-After, and only those", function()
    local ops = {}
    for i = 1, 4 do ops[i] = { op = "create", fields = { token = apple("t" .. i) } } end
    sb:fail_next(2, 429, { retry_after = "0.1" })
    local results, errs = client:batch(ops)
    for i = 1, 4 do
      assert.is_nil(errs[i])
      assert.is_string(results[i].id)
    end
    assert.equal(2, batch_posts())
    assert.equal(4, #assert(client:list())) -- nothing created twice
  end)

  it("gives up on a throttled operation after max_retries and reports the 429", function()
    sb:fail_next(10, 429, { retry_after = "0.01" })
    local results, errs = client:batch({ { op = "get", id = "x" } }, { max_retries = 1 })
    assert.is_false(results[1])
    assert.equal(429, errs[1].status)
    assert.equal(2, batch_posts())
  end)

  it("tells how long Graph asked to wait in the error of a throttled operation, as a single call does", function()
    sb:fail_next(1, 429, { retry_after = "7" })
    local results, errs = client:batch({ { op = "get", id = "x" } }, { max_retries = 0 })
    assert.is_false(results[1])
    assert.equal(429, errs[1].status)
    assert.equal("throttled", errs[1].kind)
    assert.equal(7, errs[1].retry_after)
    local single = vpptoken.new{ access_token = "t", base_url = sb.graph, max_retries = 0 }
    sb:fail_next(1, 429, { retry_after = "7" })
    local _, err = single:get("x")
    single:close()
    assert.equal(errs[1].retry_after, err.retry_after)
  end)

  it("checks every operation before sending anything", function()
    assert.error_matches(function() client:batch{ { op = "get", id = "ok" }, { op = "fly" } } end,
      "operation 2: op must be one of")
    assert.error_matches(function() client:batch{ { op = "get", id = "a/b" } } end, "operation 1: id contains")
    assert.error_matches(function() client:batch{ { op = "create", fields = { state = "Valid" } } } end,
      "operation 1: invalid state 'Valid'")
    assert.error_matches(function() client:batch({}, { max_retries = 99 }) end, "max_retries")
    assert.equal(0, #sb:requests())
  end)
end)
