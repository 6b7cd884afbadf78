-- The beta API: its properties and actions, and a clear error when they are used on v1.0.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local vpptoken = require "vpptoken"

describe("beta", function()
  local sb = helper.sandbox_suite()
  local beta, v1

  setup(function()
    beta = vpptoken.new{ base_url = sb.beta, access_token = "t", retry_delay = 0.01 }
    v1 = vpptoken.new{ base_url = sb.graph, access_token = "t", retry_delay = 0.01 }
  end)
  teardown(function()
    beta:close()
    v1:close()
  end)

  it("a beta base_url makes a beta client", function()
    assert.equal("beta", beta.api_version)
    assert.is_true(beta.beta)
    assert.is_false(v1.beta)
  end)

  it("accepts the beta properties and the duplicateLocationId state", function()
    local t = assert(beta:create{ token = apple("x"), displayName = "Main token", dataSharingConsentGranted = true,
                                  roleScopeTagIds = { "0" }, state = vpptoken.State.duplicateLocationId })
    assert.equal("Main token", t.displayName)
    assert.equal("duplicateLocationId", t.state)
    assert.matches("^/beta/", sb:requests()[1].path)
  end)

  it("sends appleDeviceAppDeliveryProtocolType on beta (vpptoken.DeliveryProtocol), refuses it on v1.0", function()
    local mdm = vpptoken.DeliveryProtocol.mobileDeviceManagement
    local t = assert(beta:create{ token = apple("x"), appleDeviceAppDeliveryProtocolType = mdm })
    assert.equal("mobileDeviceManagement", t.appleDeviceAppDeliveryProtocolType)
    assert.has_error(function() v1:create{ token = apple("x"), appleDeviceAppDeliveryProtocolType = "default" } end,
      "property 'appleDeviceAppDeliveryProtocolType' exists only in the beta API (api_version = \"beta\")")
    local ok, err = pcall(beta.update, beta, t.id, { appleDeviceAppDeliveryProtocolType = "declarative" })
    assert.is_false(ok)
    assert.matches("declarativeDeviceManagement", tostring(err))
    assert.same({ "default", "mobileDeviceManagement", "declarativeDeviceManagement", "unknownFutureValue" },
      vpptoken.members("appleDeviceAppDeliveryProtocolType", true))
  end)

  it("revoke_licenses posts notifyManagedDevices and returns true", function()
    local t = assert(beta:create{ token = apple("x") })
    assert.is_true(beta:revoke_licenses(t.id, { notify_managed_devices = true }))
    local log = sb:requests()
    assert.equal("/beta/deviceAppManagement/vppTokens/" .. t.id .. "/revokeLicenses", log[2].path)
    assert.same({ notifyManagedDevices = true }, require("cjson").decode(log[2].body))
  end)

  it("sync_license_counts posts the collection action", function()
    assert.is_true(beta:sync_license_counts())
    assert.equal("/beta/deviceAppManagement/vppTokens/syncLicenseCounts", sb:requests()[1].path)
  end)

  it("licenses_for_app returns the per-token counts for a bundle id, quoting it as OData wants", function()
    assert(beta:create{ token = apple("x"), appleId = "a@contoso.com" })
    local counts = assert(beta:licenses_for_app("com.example.o'app"))
    assert.is_table(counts)
    assert.equal("/beta/deviceAppManagement/vppTokens/getLicensesForApp(bundleId='com.example.o''app')",
      sb:requests()[2].path)
  end)

  it("beta operations on a v1.0 client raise and send nothing", function()
    assert.error_matches(function() v1:revoke_licenses("x") end, "only in the beta API")
    assert.error_matches(function() v1:sync_license_counts() end, "only in the beta API")
    assert.error_matches(function() v1:licenses_for_app("com.example") end, "only in the beta API")
    assert.error_matches(function() beta:licenses_for_app("") end, "bundle_id")
    assert.equal(0, #sb:requests())
  end)
end)
