-- The vppToken resource as the sandbox serves it: properties per API version, in wire order.
local json = require "vpptoken_sandbox.json"

local schema = {}

schema.TYPE = "#microsoft.graph.vppToken"

schema.ENUMS = {
  vppTokenAccountType = { "business", "education" },
  vppTokenState = { "unknown", "valid", "expired", "invalid", "assignedToExternalMDM" },
  vppTokenStateBeta = { "unknown", "valid", "expired", "invalid", "assignedToExternalMDM",
                        "duplicateLocationId" },
  vppTokenSyncStatus = { "none", "inProgress", "completed", "failed" },
  appleDeviceDeliveryProtocol = { "default", "mobileDeviceManagement", "declarativeDeviceManagement",
                                  "unknownFutureValue" },
}

-- kind: string | boolean | datetime | enum | int32 | strings | actions
-- server: filled by the server, ignored in request bodies.
local V1 = {
  { name = "id", kind = "string", server = true },
  { name = "organizationName", kind = "string" },
  { name = "vppTokenAccountType", kind = "enum", enum = "vppTokenAccountType" },
  { name = "appleId", kind = "string" },
  { name = "expirationDateTime", kind = "datetime" },
  { name = "lastSyncDateTime", kind = "datetime" },
  { name = "token", kind = "string" },
  { name = "lastModifiedDateTime", kind = "datetime", server = true },
  { name = "state", kind = "enum", enum = "vppTokenState" },
  { name = "lastSyncStatus", kind = "enum", enum = "vppTokenSyncStatus" },
  { name = "automaticallyUpdateApps", kind = "boolean" },
  { name = "countryOrRegion", kind = "string" },
}

local BETA_ONLY = {
  { name = "displayName", kind = "string" },
  { name = "locationName", kind = "string" },
  { name = "dataSharingConsentGranted", kind = "boolean" },
  { name = "claimTokenManagementFromExternalMdm", kind = "boolean" },
  { name = "roleScopeTagIds", kind = "strings" },
  { name = "lastAppCount", kind = "int32" },
  { name = "tokenActionResults", kind = "actions" },
  { name = "appleDeviceAppDeliveryProtocolType", kind = "enum", enum = "appleDeviceDeliveryProtocol" },
}

local function index(list)
  local by_name = {}
  for _, p in ipairs(list) do by_name[p.name] = p end
  return by_name
end

local BETA = {}
for _, p in ipairs(V1) do
  BETA[#BETA + 1] = p.name == "state" and { name = "state", kind = "enum", enum = "vppTokenStateBeta" } or p
end
for _, p in ipairs(BETA_ONLY) do BETA[#BETA + 1] = p end

schema.PROPERTIES = { ["v1.0"] = V1, beta = BETA }
schema.BY_NAME = { ["v1.0"] = index(V1), beta = index(BETA) }
schema.BETA_ONLY = index(BETA_ONLY)

local order = {}
for i, p in ipairs(BETA) do order[i] = p.name end
json.rank_keys(order)
json.rank_keys({ "actionName", "actionState", "startDateTime", "lastUpdatedDateTime" })

function schema.properties(version)
  return schema.PROPERTIES[version]
end

function schema.property(version, name)
  return schema.BY_NAME[version][name]
end

schema.BETA_NOTE = " It exists only in the beta API."

-- BETA_NOTE when name is a beta-only property asked for on v1.0, else "".
function schema.beta_hint(version, name)
  return (version ~= "beta" and schema.BETA_ONLY[name]) and schema.BETA_NOTE or ""
end

function schema.enum_values(def)
  return schema.ENUMS[def.enum]
end

-- Values a new token gets for properties the request did not send.
function schema.defaults()
  return {
    organizationName = json.null, vppTokenAccountType = "business", appleId = json.null,
    expirationDateTime = json.null, lastSyncDateTime = json.null, state = "valid",
    lastSyncStatus = "none", automaticallyUpdateApps = false, countryOrRegion = json.null,
    displayName = json.null, locationName = json.null, dataSharingConsentGranted = false,
    claimTokenManagementFromExternalMdm = false, roleScopeTagIds = json.array({ "0" }),
    lastAppCount = 0, tokenActionResults = json.array(), appleDeviceAppDeliveryProtocolType = "default",
  }
end

return schema
