-- The two API versions of the sandbox: beta's properties, its duplicateLocationId state and its actions
-- revokeLicenses, syncLicenseCounts and getLicensesForApp (with per-token license counts), and v1.0
-- refusing all of them with 400. LuaSocket only.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local support = require "sandbox_support"
local cjson = require "cjson.safe"

local graph, create = support.graph, support.create
local assert_graph_error = support.assert_graph_error
local COLL = support.COLL

local BETA_ONLY = { "displayName", "locationName", "dataSharingConsentGranted", "claimTokenManagementFromExternalMdm",
                    "roleScopeTagIds", "lastAppCount", "tokenActionResults", "appleDeviceAppDeliveryProtocolType" }

local function licenses(sb, bundle)
  local st, body = graph(sb, "GET", COLL .. "/getLicensesForApp(bundleId='" .. bundle .. "')", nil, nil, "beta")
  assert.equal(200, st, body.error and body.error.message)
  local by_id = {}
  for _, row in ipairs(body.value) do by_id[row.vppTokenId] = row end
  return by_id, body
end

describe("vpptoken-sandbox API versions", function()
  local sb = helper.sandbox_suite()

  it("shows the beta properties with their defaults on /beta only", function()
    local t = create(sb, { token = apple(), appleId = "a@example.com" })
    local _, beta = graph(sb, "GET", COLL .. "/" .. t.id, nil, nil, "beta")
    local _, v1 = graph(sb, "GET", COLL .. "/" .. t.id)
    for _, name in ipairs(BETA_ONLY) do
      assert.is_not_nil(beta[name], name)
      assert.is_nil(v1[name], name)
    end
    assert.same({ "0" }, beta.roleScopeTagIds)
    assert.same({}, beta.tokenActionResults)
    assert.equal(0, beta.lastAppCount)
    assert.is_false(beta.dataSharingConsentGranted)
    assert.equal("default", beta.appleDeviceAppDeliveryProtocolType)
  end)

  it("takes appleDeviceAppDeliveryProtocolType (Microsoft's beta model) on beta only, with its members", function()
    local t = create(sb, { token = apple(), appleDeviceAppDeliveryProtocolType = "declarativeDeviceManagement" },
                     "beta")
    assert.equal("declarativeDeviceManagement", t.appleDeviceAppDeliveryProtocolType)
    local st, body = graph(sb, "PATCH", COLL .. "/" .. t.id, { appleDeviceAppDeliveryProtocolType = "default" },
                           nil, "beta")
    assert.equal(204, st, body and body.error and body.error.message)
    local _, got = graph(sb, "GET", COLL .. "/" .. t.id, nil, nil, "beta")
    assert.equal("default", got.appleDeviceAppDeliveryProtocolType)
    st, body = graph(sb, "PATCH", COLL .. "/" .. t.id, { appleDeviceAppDeliveryProtocolType = "mdm" }, nil, "beta")
    assert_graph_error(st, 400, body, "BadRequest", "mobileDeviceManagement")
    st, body = graph(sb, "POST", COLL, { token = apple(), appleDeviceAppDeliveryProtocolType = "default" })
    assert_graph_error(st, 400, body, "BadRequest", "It exists only in the beta API")
    st, body = graph(sb, "GET", COLL .. "?$select=appleDeviceAppDeliveryProtocolType", nil, nil, "beta")
    assert.equal(200, st)
    assert.equal("default", body.value[1].appleDeviceAppDeliveryProtocolType)
  end)

  it("accepts state duplicateLocationId and the beta properties on beta, and v1.0 refuses them", function()
    local t = create(sb, { token = apple(), state = "duplicateLocationId", locationName = "HQ", lastAppCount = 3,
                           claimTokenManagementFromExternalMdm = true }, "beta")
    assert.equal("duplicateLocationId", t.state)
    assert.equal("HQ", t.locationName)
    assert.equal(3, t.lastAppCount)
    local st, body = graph(sb, "PATCH", COLL .. "/" .. t.id, { locationName = "x" })
    assert_graph_error(st, 400, body, "BadRequest", "It exists only in the beta API")
    st, body = graph(sb, "PATCH", COLL .. "/" .. t.id, { state = "duplicateLocationId" })
    assert_graph_error(st, 400, body, "BadRequest", "state")
    st, body = graph(sb, "PATCH", COLL .. "/" .. t.id, { lastAppCount = 1.5 }, nil, "beta")
    assert_graph_error(st, 400, body, "BadRequest", "lastAppCount")
  end)

  describe("revokeLicenses", function()
    it("answers 204, returns the used licenses to the pool and records a tokenActionResults entry", function()
      local t = create(sb, { token = apple() }, "beta")
      local before = licenses(sb, "com.example.app")[t.id]
      assert.is_true(before.usedLicenseCount + before.availableLicenseCount >= 10)
      local st, body = graph(sb, "POST", COLL .. "/" .. t.id .. "/revokeLicenses", { notifyManagedDevices = true },
                             nil, "beta")
      assert.equal(204, st)
      assert.equal("", body)
      local after = licenses(sb, "com.example.app")[t.id]
      assert.equal(0, after.usedLicenseCount)
      assert.equal(before.usedLicenseCount + before.availableLicenseCount, after.availableLicenseCount)
      local _, got = graph(sb, "GET", COLL .. "/" .. t.id, nil, nil, "beta")
      assert.equal(1, #got.tokenActionResults)
      local r = got.tokenActionResults[1]
      assert.equal("RevokeLicenses", r.actionName)
      assert.equal("done", r.actionState)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z$", r.startDateTime)
      assert.equal(r.startDateTime, r.lastUpdatedDateTime)
      assert.is_true(got.lastModifiedDateTime >= t.lastModifiedDateTime)
      assert.equal(204, (graph(sb, "POST", COLL .. "/" .. t.id .. "/microsoft.graph.revokeLicenses", nil, nil,
                               "beta")))
      _, got = graph(sb, "GET", COLL .. "/" .. t.id, nil, nil, "beta")
      assert.equal(2, #got.tokenActionResults)
    end)

    it("checks its parameter, the id and the method", function()
      local t = create(sb, { token = apple() }, "beta")
      local path = COLL .. "/" .. t.id .. "/revokeLicenses"
      local st, body = graph(sb, "POST", path, { notify = true }, nil, "beta")
      assert_graph_error(st, 400, body, "BadRequest", "notify")
      st, body = graph(sb, "POST", path, { notifyManagedDevices = "yes" }, nil, "beta")
      assert_graph_error(st, 400, body, "BadRequest", "notifyManagedDevices")
      st, body = graph(sb, "POST", COLL .. "/33333333-3333-3333-3333-333333333333/revokeLicenses", {}, nil, "beta")
      assert_graph_error(st, 404, body, "ResourceNotFound")
      local h
      st, body, h = graph(sb, "GET", path, nil, nil, "beta")
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("POST", h["allow"])
    end)
  end)

  describe("getLicensesForApp and syncLicenseCounts", function()
    it("gives every token made-up but stable counts, and exactly the counts a client set", function()
      local a = create(sb, { token = apple("a"), appleId = "a@example.com", organizationName = "A" }, "beta")
      local b = create(sb, { token = apple("b"), appleId = "b@example.com",
                             ["@sandbox.licenses"] = { ["com.example.app"] = { available = 7, used = 3 } } }, "beta")
      local rows, body = licenses(sb, "com.example.app")
      assert.matches("/beta/%$metadata#Collection%(microsoft%.graph%.vppTokenLicenseSummary%)$", body["@odata.context"])
      assert.equal(2, #body.value)
      local ra = rows[a.id]
      assert.equal("a@example.com", ra.appleId)
      assert.equal("A", ra.organizationName)
      local total = ra.availableLicenseCount + ra.usedLicenseCount
      assert.is_true(total >= 10 and total <= 100, tostring(total))
      assert.same(ra, licenses(sb, "com.example.app")[a.id])
      assert.same({ vppTokenId = b.id, appleId = "b@example.com", organizationName = "Contoso Ltd", -- from the file
                    availableLicenseCount = 7, usedLicenseCount = 3 }, rows[b.id])
      -- a PATCH sets counts too (here on another app, in a bundle id with a quote)
      assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. a.id,
                               { ["@sandbox.licenses"] = { ["com.o'brien.app"] = { available = 0, used = 12 } } },
                               nil, "beta")))
      local quoted = licenses(sb, "com.o''brien.app")[a.id]
      assert.equal(12, quoted.usedLicenseCount)
      assert.equal(0, quoted.availableLicenseCount)
    end)

    it("rejects a missing or malformed bundleId, bad counts and wrong methods", function()
      create(sb, { token = apple() }, "beta")
      local st, body = graph(sb, "GET", COLL .. "/getLicensesForApp()", nil, nil, "beta")
      assert_graph_error(st, 400, body, "BadRequest", "bundleId")
      st, body = graph(sb, "GET", COLL .. "/getLicensesForApp(bundleId='')", nil, nil, "beta")
      assert_graph_error(st, 400, body, "BadRequest", "bundleId")
      st, body = graph(sb, "GET", COLL .. "/getLicensesForApp(bundleId='a'b')", nil, nil, "beta")
      assert_graph_error(st, 400, body, "BadRequest", "bundleId")
      st, body = graph(sb, "POST", COLL .. "/getLicensesForApp(bundleId='x')", nil, nil, "beta")
      assert_graph_error(st, 405, body, "BadRequest")
      st, body = graph(sb, "POST", COLL, { token = apple(), ["@sandbox.licenses"] = { x = { used = -1 } } }, nil,
                       "beta")
      assert_graph_error(st, 400, body, "BadRequest", "@sandbox.licenses")
    end)

    it("answers syncLicenseCounts with 204, and 405 to GET", function()
      local st, body = graph(sb, "POST", COLL .. "/syncLicenseCounts", nil, nil, "beta")
      assert.equal(204, st)
      assert.equal("", body)
      assert.equal(204, (graph(sb, "POST", COLL .. "/microsoft.graph.syncLicenseCounts", {}, nil, "beta")))
      st, body = graph(sb, "GET", COLL .. "/syncLicenseCounts", nil, nil, "beta")
      assert_graph_error(st, 405, body, "BadRequest")
    end)
  end)

  it("takes query options without the $ prefix on beta, as Graph's beta does, and v1.0 ignores them", function()
    local ids = {}
    for i = 1, 3 do
      ids[i] = create(sb, { token = apple(), organizationName = "org" .. i, displayName = "d" .. i }, "beta").id
    end
    local st, body = graph(sb, "GET", COLL .. "?top=2&select=organizationName,displayName"
                                      .. "&orderby=organizationName%20desc&filter=organizationName%20ne%20'org9'",
                           nil, nil, "beta")
    assert.equal(200, st, cjson.encode(body))
    assert.same({ ids[3], ids[2] }, support.ids_of(body.value))
    assert.is_nil(body.value[1].token)
    assert.equal("d3", body.value[1].displayName)
    assert.truthy(body["@odata.nextLink"]:find("$top=2", 1, true))
    local st2, rest = support.follow(body["@odata.nextLink"])
    assert.equal(200, st2)
    assert.same({ ids[1] }, support.ids_of(rest.value))
    st, body = graph(sb, "GET", COLL .. "/" .. ids[1] .. "?select=appleId", nil, nil, "beta")
    assert.equal(200, st)
    assert.is_nil(body.organizationName)
    st, body = graph(sb, "GET", COLL .. "?top=1&$top=2", nil, nil, "beta")
    assert_graph_error(st, 400, body, "BadRequest", "more than once")
    st, body = graph(sb, "GET", COLL .. "?top=1&select=organizationName")
    assert.equal(200, st)
    assert.equal(3, #body.value)
    assert.equal(apple(), body.value[1].token)
  end)

  it("answers 400 on v1.0 for every beta action, as Graph does", function()
    local t = create(sb, { token = apple() })
    local cases = {
      { "POST", COLL .. "/" .. t.id .. "/revokeLicenses", { notifyManagedDevices = true }, "revokeLicenses" },
      { "POST", COLL .. "/syncLicenseCounts", nil, "syncLicenseCounts" },
      { "GET", COLL .. "/getLicensesForApp(bundleId='com.example.app')", nil, "getLicensesForApp" },
    }
    for _, case in ipairs(cases) do
      local st, body = graph(sb, case[1], case[2], case[3])
      assert_graph_error(st, 400, body, "BadRequest", "Resource not found for the segment '" .. case[4])
      assert.truthy(body.error.message:find("only in the beta API", 1, true))
    end
  end)
end)
