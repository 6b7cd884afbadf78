-- Fills a local sandbox with a few VPP tokens for the demo (refuses anything but a loopback URL).
-- VPPTOKEN_GRAPH_URL=http://127.0.0.1:PORT/v1.0 VPPTOKEN_ACCESS_TOKEN=... lua5.4 examples/seed_demo.lua
local vpptoken = require "vpptoken"

local url = os.getenv("VPPTOKEN_GRAPH_URL") or ""
if not url:match("^http://127%.") and not url:match("^http://localhost") and not url:match("^http://%[::1%]") then
  io.stderr:write("seed_demo: VPPTOKEN_GRAPH_URL must be a local sandbox (http://127.0.0.1:PORT/v1.0)\n")
  os.exit(2)
end
local client = vpptoken.new{ base_url = url, access_token = os.getenv("VPPTOKEN_ACCESS_TOKEN") }

local DAY = 86400
local now = os.time()
local tokens = {
  { org = "Contoso Ltd", apple = "vpp@contoso.com", kind = vpptoken.AccountType.business, days = 200 },
  { org = "Contoso Schools", apple = "vpp@schools.contoso.com", kind = vpptoken.AccountType.education, days = 21 },
  { org = "Fabrikam", apple = "apps@fabrikam.com", kind = vpptoken.AccountType.business, days = 3 },
  { org = "Northwind", apple = "it@northwind.com", kind = vpptoken.AccountType.business, days = -10,
    state = vpptoken.State.expired },
}
for _, t in ipairs(tokens) do
  local created = assert(client:create{
    organizationName = t.org, appleId = t.apple, vppTokenAccountType = t.kind, countryOrRegion = "us",
    token = "demo-apple-token-" .. t.apple, automaticallyUpdateApps = true,
    expirationDateTime = now + t.days * DAY, state = t.state or vpptoken.State.valid,
  })
  print(string.format("created %s  %-24s %s", created.id, t.apple, created.state))
end
client:close()
