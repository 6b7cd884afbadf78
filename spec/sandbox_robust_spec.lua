-- vpptoken-sandbox as a local server must be robust (issue 14, items 7-10): bounded request log,
-- private files and redaction by decoded key, 400 (not 500) for hostile input, and a server that
-- stays reachable while other clients misbehave. Loopback only.
-- luacheck: std +busted
local helper = require "helper"
local support = require "sandbox_support"
local cjson = require "cjson.safe"

local http = helper.http
local COLL = support.COLL

local BODY_LIMIT = 64 * 1024
local BYTES_LIMIT = 8 * 1024 * 1024

describe("sandbox request log bounds", function()
  local sb = helper.sandbox_suite()

  it("keeps only the first 64 KiB of a body, marked truncated, unauthenticated requests included", function()
    local big = '{"organizationName":"' .. string.rep("x", 300 * 1024) .. '"}'
    local st = http("POST", sb.graph .. "/deviceAppManagement/vppTokens", big)
    assert.equal(401, st)
    local log = sb:requests()
    assert.equal(1, #log)
    assert.equal(BODY_LIMIT, #log[1].body)
    assert.equal(big:sub(1, BODY_LIMIT), log[1].body)
    assert.is_true(log[1].body_truncated)
    st = http("POST", sb.graph .. "/deviceAppManagement/vppTokens", '{"organizationName":"small"}')
    assert.equal(401, st)
    log = sb:requests()
    assert.equal('{"organizationName":"small"}', log[2].body)
    assert.is_nil(log[2].body_truncated)
  end)

  it("drops the oldest entries past its total byte limit", function()
    local body = string.rep("y", 100 * 1024)
    local n = math.ceil(BYTES_LIMIT / BODY_LIMIT) + 20
    for i = 1, n do
      local st = http("POST", sb.graph .. "/deviceAppManagement/vppTokens?n=" .. i, body)
      assert.equal(401, st)
    end
    local log = sb:requests()
    local total = 0
    for _, e in ipairs(log) do total = total + #e.body end
    assert.is_true(total <= BYTES_LIMIT, "log holds " .. total .. " body bytes")
    assert.is_true(#log < n, "nothing was dropped")
    assert.is_true(#log > n / 2, "too much was dropped: " .. #log)
    assert.equal("/v1.0" .. COLL .. "?n=" .. n, log[#log].path)
    assert.equal("/v1.0" .. COLL .. "?n=" .. (n - #log + 1), log[1].path)
  end)
end)
