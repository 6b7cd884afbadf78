-- --seed-tokens N [--seed S]: sample tokens to start with, as a tenant with a few organizations might have them.
-- Everything comes from one seeded generator (faults_rng) and the start of the current UTC day, so the same seed
-- gives the same tokens, ids, dates and states included, all day long. Expiries spread over the past year (a
-- quarter) and the next, never on the current day: a token is "expired" exactly when its expiry is past by the
-- library's rule (vpptoken.days_left <= 0: expiry <= now) at any time of the day, the others mostly "valid", some
-- "invalid" or "assignedToExternalMDM".
-- No seeded sync is "inProgress" (it would complete while a test looks). Each token's content is a sample Apple
-- token file (applefile.make) that agrees with its organization and expiry.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local schema = require "vpptoken_sandbox.schema"
local rng = require "vpptoken_sandbox.faults_rng"
local applefile = require "vpptoken_sandbox.applefile"

local seed = {}

local DAY = 86400

local ORGS = {
  { "Contoso Ltd", "contoso.com" }, { "Fabrikam, Inc.", "fabrikam.com" }, { "Northwind Traders", "northwind.com" },
  { "Woodgrove Bank", "woodgrovebank.com" }, { "Adventure Works Schools", "adventure-works.edu" },
  { "Tailspin Toys", "tailspintoys.com" }, { "Litware", "litware.com" }, { "Proseware", "proseware.com" },
}
local COUNTRIES = { "us", "gb", "de", "fr", "jp", "au", "ca", "nl" }

-- Picks from { {value, weight}, ... } with the generator.
local function weighted(g, choices)
  local total = 0
  for _, c in ipairs(choices) do total = total + c[2] end
  local r = g:int(1, total)
  for _, c in ipairs(choices) do
    r = r - c[2]
    if r <= 0 then return c[1] end
  end
  return choices[#choices][1]
end

local function guid(g)
  local a, b = g:next(), g:next()
  return string.format("%08x-%04x-4%03x-%04x-%012x", (a >> 32) & 0xffffffff, (a >> 16) & 0xffff, a & 0xfff,
                       ((b >> 48) & 0x3fff) | 0x8000, b & 0xffffffffffff)
end

-- Adds n sample tokens to store (a store.lua Store), made from seed s, dated around now's UTC day.
function seed.fill(store, n, s, now)
  local g = rng.new(s)
  local today = math.floor(now / DAY) * DAY
  for i = 1, n do
    local org = ORGS[g:int(1, #ORGS)]
    local apple_id = (g:int(0, 1) == 0 and "vpp" or "apps") .. g:int(1, 3) .. "@" .. org[2]
    -- a quarter expired within the past year, the others expiring within the next; none today, so that the state
    -- does not depend on the hour (today <= now < today + DAY)
    local days = g:int(1, 4) == 1 and -g:int(1, 365) or g:int(1, 365)
    local expires = today + days * DAY + g:int(0, DAY - 1)
    local state = expires <= now and "expired" or weighted(g, { { "valid", 16 }, { "invalid", 2 },
                                                                { "assignedToExternalMDM", 2 } })
    local sync = weighted(g, { { "completed", 6 }, { "none", 2 }, { "failed", 2 } })
    local props = schema.defaults()
    props.organizationName = org[1]
    props.appleId = apple_id
    props.vppTokenAccountType = org[2]:match("%.edu$") and "education" or "business"
    props.expirationDateTime = util.datetime(expires)
    props.state = state
    props.lastSyncStatus = sync
    props.lastSyncDateTime = sync ~= "none" and util.datetime(today - g:int(0, 30 * DAY)) or json.null
    props.automaticallyUpdateApps = g:int(0, 1) == 1
    props.countryOrRegion = COUNTRIES[g:int(1, #COUNTRIES)]
    props.displayName = string.format("%s token %d", org[1], i)
    props.locationName = org[1]
    props.lastAppCount = g:int(0, 250)
    props.token = applefile.make({ org = org[1], apple_id = apple_id, expires = expires })
    props.lastModifiedDateTime = util.datetime(today - g:int(0, 90 * DAY))
    local id = guid(g)
    for _ = 1, 16 do -- a repeat among 2^122 values: never in practice, bounded all the same
      if not store:get(id) then break end
      id = guid(g)
    end
    assert(not store:get(id), "seed: no free id")
    store:add(props, id)
  end
end

return seed
