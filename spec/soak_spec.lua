-- Issue #7, the short soak: 500 mixed operations with 20 % injected faults and throttling on (bench/soak.lua runs
-- 10,000 with `make soak`): every operation accounted for, the store consistent with what was acknowledged.
package.path = "bench/?.lua;" .. package.path
local soak = require "soak"

describe("soak (500 operations, 20 % faults, throttling on)", function()
  local rep

  setup(function() rep = soak.run(500, { rate = 0.2, seed = 11, quiet = true }) end)

  it("accounts for every operation: a result or an error object naming why", function()
    assert.equal(0, rep.lost, "operations neither succeeded nor failed with an error object")
    local total = 0
    for _, v in pairs(rep.stats.ok) do total = total + v end
    for _, v in pairs(rep.stats.failed) do total = total + v end
    assert.equal(500, total)
  end)

  it("leaves the store consistent with the acknowledged creates and deletes", function()
    assert.is_true(rep.stored > 0, "no create was acknowledged: nothing to check")
    assert.equal(0, rep.missing, "acknowledged creates missing from the store")
    assert.equal(0, rep.resurrected, "acknowledged deletes still in the store")
    assert.is_true(rep.extra <= rep.unknown_creates, "unacknowledged tokens beyond the outcome-unknown creates")
  end)
end)
