-- The sandbox's request log (reqlog.lua), behind GET /_sandbox/requests: the newest requests, oldest first, within
-- its limits of entries and bytes, kept in a ring so a request costs the same however full the log is (issue #21;
-- `make bench-sandbox` shows the cost). The limits are the module's; here they are lowered to reach them quickly.
-- luacheck: std +busted
local helper = require "helper"

local reqlog = helper.sandbox_module("vpptoken_sandbox.reqlog")

local function request(i, body)
  return { method = "GET", path = "/v1.0/x", query = "n=" .. i, headers = { ["x-n"] = tostring(i) },
           body = body or "" }
end

local function paths(log)
  local out = {}
  for i, e in ipairs(log:export().value) do out[i] = e.path end
  return out
end

local function expected(from, to)
  local out = {}
  for i = from, to do out[#out + 1] = "/v1.0/x?n=" .. i end
  return out
end

describe("sandbox request log", function()
  local limit, bytes = reqlog.LIMIT, reqlog.BYTES_LIMIT
  after_each(function() reqlog.LIMIT, reqlog.BYTES_LIMIT = limit, bytes end)

  it("shows the newest LIMIT requests oldest first, with their status, however many came before", function()
    reqlog.LIMIT = 5
    local log = reqlog.new()
    for i = 1, 3 do log:record(request(i)).status = 200 + i end
    assert.same(expected(1, 3), paths(log))
    for i = 4, 23 do log:record(request(i)).status = 200 + i end
    assert.same(expected(19, 23), paths(log))
    local value = log:export().value
    for k, e in ipairs(value) do
      assert.equal(218 + k, e.status)
      assert.equal(tostring(18 + k), e.headers["x-n"])
    end
    -- an entry whose status is set after later requests were recorded (a $batch) keeps it
    local held = log:record(request(24))
    log:record(request(25)).status = 200
    held.status = 207
    assert.equal(207, log:export().value[4].status)
  end)

  it("drops the oldest while it holds more than BYTES_LIMIT bytes, but always keeps the newest", function()
    reqlog.LIMIT, reqlog.BYTES_LIMIT = 100, 1000
    local log = reqlog.new()
    for i = 1, 10 do log:record(request(i, string.rep("b", 300))) end
    local shown = paths(log)
    assert.same(expected(11 - #shown, 10), shown)
    assert.is_true(#shown >= 2 and #shown <= 3, #shown .. " entries")
    log:record(request(11, string.rep("c", 5000)))
    assert.same(expected(11, 11), paths(log))
    log:record(request(12)) -- the big one alone is over the limit: it goes once a newer one came
    assert.same(expected(12, 12), paths(log))
  end)

  it("is empty after a clear and fills again in order", function()
    reqlog.LIMIT = 4
    local log = reqlog.new()
    for i = 1, 9 do log:record(request(i)) end
    log:clear()
    assert.same({}, paths(log))
    for i = 10, 15 do log:record(request(i)) end
    assert.same(expected(12, 15), paths(log))
  end)
end)
