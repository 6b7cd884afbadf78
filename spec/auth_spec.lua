-- Signing in: client secret and certificate against the sandbox's identity endpoint, token caching and refresh,
-- recovery from a rejected token, national clouds, configuration from the environment.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local jwt = require "support.jwt"
local cjson = require "cjson.safe"
local vpptoken = require "vpptoken"
local auth = require "vpptoken.auth"

local TENANT = "0b5e4a8e-7f3c-4f7e-9a57-0d3c2e1b9a11"
local SECRET = "s3cr3t-Value-that-must-never-show"
local SLOW = helper.SLOW

describe("sign-in", function()
  local dir, apps_file, cert_bundle, sb

  -- Calls reported through on_request (the sandbox's log keeps Graph calls only).
  local calls = {}
  local function record(info) calls[#calls + 1] = info end
  local function token_requests()
    local n = 0
    for _, c in ipairs(calls) do if c.url:match("/oauth2/v2%.0/token$") then n = n + 1 end end
    return n
  end

  local function start(extra)
    local args = { "--apps", apps_file }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    return helper.start_sandbox(args)
  end

  local function secret_client(opts)
    local o = { base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app", client_secret = SECRET,
                retry_delay = 0.01, on_request = record }
    for k, v in pairs(opts or {}) do o[k] = v end
    return vpptoken.new(o)
  end

  setup(function()
    local p = assert(io.popen("mktemp -d"))
    dir = p:read("*l")
    p:close()
    cert_bundle = jwt.make_cert_bundle(dir, "app") -- app.crt is registered in the apps file
    apps_file = dir .. "/apps.json"
    local f = assert(io.open(apps_file, "w"))
    local apps = {
      tenant = TENANT,
      apps = {
        { client_id = "rw-app", client_secret = SECRET, certificate = "app.crt",
          permissions = { "DeviceManagementServiceConfig.ReadWrite.All" } },
        { client_id = "ro-app", client_secret = "ro-secret",
          permissions = { "DeviceManagementServiceConfig.Read.All" } },
      },
    }
    local text, why = cjson.encode(apps)
    f:write(text or error(why))
    f:close()
    sb = start()
  end)

  teardown(function()
    if sb then sb:stop() end
    os.execute("rm -rf " .. helper.shell_quote(dir))
  end)

  before_each(function()
    sb:reset()
    auth.clear_cache()
    calls = {}
  end)

  it("a client secret gets a token once and uses it for every call", function()
    local c = secret_client()
    assert(c:create{ token = apple("apple") })
    assert(c:list())
    assert(c:list())
    c:close()
    assert.equal(1, token_requests())
    assert.equal("POST", calls[1].method)
    assert.equal(sb.url .. "/" .. TENANT .. "/oauth2/v2.0/token", calls[1].url)
    assert.equal(200, calls[1].status)
    assert.equal(4, #calls)
    for _, call in ipairs(calls) do
      for _, v in pairs(call) do assert.is_nil(tostring(v):find(SECRET, 1, true)) end
    end
  end)

  it("the token cache is shared by clients of the same app, tenant and scope", function()
    local a, b = secret_client(), secret_client()
    assert(a:list())
    assert(b:list())
    a:close()
    b:close()
    assert.equal(1, token_requests())
  end)

  it("a client with a wrong secret never gets the token another client of the same app fetched", function()
    local good = secret_client()
    assert(good:list())
    good:close()
    local bad = secret_client{ client_secret = "not-the-secret" }
    local ok, err = bad:list()
    bad:close()
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert.equal(2, token_requests())
  end)

  it("a certificate signs a client assertion the identity platform accepts", function()
    local c = vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app",
                            client_certificate = cert_bundle, on_request = record }
    assert(c:create{ token = apple("apple") })
    c:close()
    assert.equal(1, token_requests())
  end)

  it("a wrong secret is an auth error with the AADSTS code, and the secret is not in it", function()
    local c = secret_client{ client_secret = "wrong-" .. SECRET }
    local ok, err = c:list()
    c:close()
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.equal("invalid_client", err.code)
    assert.matches("AADSTS7000215", err.message)
    assert.is_nil(tostring(err):find(SECRET, 1, true))
    assert.equal(0, #sb:requests()) -- no Graph call without a token
  end)

  it("a read-only app can read but gets 403 on writes", function()
    local c = secret_client{ client_id = "ro-app", client_secret = "ro-secret" }
    assert(c:list())
    local ok, err = c:create{ token = apple("apple") }
    c:close()
    assert.is_nil(ok)
    assert.equal(403, err.status)
    assert.equal("auth", err.kind)
  end)

  it("a certificate that is not the app's is refused at construction or by the identity platform", function()
    local other = jwt.make_cert_bundle(dir, "other")
    local c = vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app", client_certificate = other }
    local ok, err = c:list()
    c:close()
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert.equal("invalid_client", err.code)
    assert.error_matches(function()
      vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "x", client_certificate = apps_file }
    end, "cannot read a certificate")
  end)

  it("a token is fetched again before it expires", function()
    -- refreshed after half of an 8 s lifetime (os.time() counts whole seconds: the half may be 3 s)
    local short = start{ "--token-lifetime", tostring(8 * SLOW) }
    local c = vpptoken.new{ base_url = short.graph, tenant_id = TENANT, client_id = "rw-app", client_secret = SECRET,
                            on_request = record }
    assert(c:list())
    assert(c:list())
    assert.equal(1, token_requests())
    os.execute("sleep " .. (4.5 * SLOW))
    assert(c:list())
    c:close()
    short:stop()
    assert.equal(2, token_requests())
  end)

  it("a token the server no longer accepts is replaced once, and the call succeeds", function()
    local c = secret_client()
    assert(c:list())
    -- A new sandbox on the same port signs with a new key: the cached token is now rejected with a 401.
    local port = sb.port
    sb:stop()
    sb = start{ "--port", tostring(port) }
    assert(c:list())
    c:close()
    local log = sb:requests()
    assert.equal(2, #log)
    assert.equal(401, log[1].status)
    assert.equal(200, log[2].status)
    assert.equal(2, token_requests())
  end)

  it("a token_provider is asked again with force = true after a 401", function()
    local plain = helper.start_sandbox{ "--access-token", "good" }
    local asked = {}
    local c = vpptoken.new{ base_url = plain.graph, token_provider = function(force)
      asked[#asked + 1] = force
      return force and "good" or "stale"
    end }
    assert(c:list())
    c:close()
    plain:stop()
    assert.same({ false, true }, asked)
  end)

  it("a static access token is not retried after a 401", function()
    local plain = helper.start_sandbox{ "--access-token", "good" }
    local c = vpptoken.new{ base_url = plain.graph, access_token = "bad" }
    local ok, err = c:list()
    c:close()
    local n = #plain:requests()
    plain:stop()
    assert.is_nil(ok)
    assert.equal(401, err.status)
    assert.equal(1, n)
  end)
end)

describe("clouds and configuration", function()
  it("each cloud signs in at its own login host for its own Graph scope", function()
    local want = {
      global = { "https://login.microsoftonline.com", "https://graph.microsoft.com/.default" },
      usgov = { "https://login.microsoftonline.us", "https://graph.microsoft.us/.default" },
      dod = { "https://login.microsoftonline.us", "https://dod-graph.microsoft.us/.default" },
      china = { "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn/.default" },
    }
    for cloud, w in pairs(want) do
      local c = vpptoken.new{ cloud = cloud, tenant_id = "t", client_id = "c", client_secret = "s" }
      assert.equal(w[1], c.authority_url)
      assert.equal(w[2], c.scope)
      c:close()
    end
  end)

  it("the sandbox is its own authority; authority_url overrides and must be https off loopback", function()
    local c = vpptoken.new{ base_url = "http://127.0.0.1:9/v1.0", tenant_id = "t", client_id = "c",
                            client_secret = "s" }
    assert.equal("http://127.0.0.1:9", c.authority_url)
    assert.equal("http://127.0.0.1:9/.default", c.scope)
    c:close()
    assert.error_matches(function()
      vpptoken.new{ authority_url = "http://login.example.com", tenant_id = "t", client_id = "c", client_secret = "s" }
    end, "only to a loopback address")
  end)

  it("from_env reads the variables Azure's identity libraries use", function()
    local env = { AZURE_TENANT_ID = "t1", AZURE_CLIENT_ID = "c1", AZURE_CLIENT_SECRET = "s1", VPPTOKEN_CLOUD = "usgov" }
    local c = vpptoken.from_env(nil, function(k) return env[k] end)
    assert.equal("https://graph.microsoft.us/v1.0", c.base_url)
    assert.equal("https://login.microsoftonline.us", c.authority_url)
    assert.is_nil(tostring(c):find("s1", 1, true))
    c:close()
    local d = vpptoken.from_env({ api_version = "beta" }, function(k)
      return ({ VPPTOKEN_ACCESS_TOKEN = "tok", VPPTOKEN_GRAPH_URL = "http://127.0.0.1:9/beta" })[k]
    end)
    assert.equal("http://127.0.0.1:9/beta", d.base_url)
    d:close()
    assert.error_matches(function() vpptoken.from_env(nil, function() return nil end) end,
      "set VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID")
  end)

  it("needs a tenant with a client id, and a secret or a certificate", function()
    assert.error_matches(function() vpptoken.new{ client_id = "c", client_secret = "s" } end, "tenant_id")
    assert.error_matches(function() vpptoken.new{ tenant_id = "t", client_id = "c" } end,
      "client_secret, client_certificate or federated_token_file")
    assert.error_matches(function()
      vpptoken.new{ tenant_id = "t", client_id = "c", client_certificate = "/nonexistent.pem" }
    end, "cannot open the client certificate")
  end)
end)

describe("the token cache", function()
  before_each(function() auth.clear_cache() end)

  it("never gives one app's access token for one tenant to a client of the same app in another tenant", function()
    -- An identity platform that issues "token-for-<tenant>" at /<tenant>/oauth2/v2.0/token; its Graph (under
    -- /<tenant>/v1.0) answers a token object whose organizationName is the access token the request carried.
    local base, _, stop = helper.start_hostile([[return function(req)
      local tenant = req.path:match("^/([^/]+)/oauth2/v2%.0/token$")
      if tenant then
        return { json = { token_type = "Bearer", expires_in = 3600, access_token = "token-for-" .. tenant } }
      end
      return { json = { id = "t1", organizationName = req.headers.authorization or "" } }
    end]])
    local seen = {}
    for _, tenant in ipairs{ "tenant-a", "tenant-b", "tenant-a" } do
      local c = vpptoken.new{ base_url = base .. "/" .. tenant .. "/v1.0", authority_url = base, tenant_id = tenant,
                              client_id = "one-multi-tenant-app", client_secret = "its-one-secret", max_retries = 0 }
      local tok, err = c:get("t1")
      c:close()
      assert(tok, tostring(err))
      seen[#seen + 1] = tok.organizationName
    end
    local requests = stop()
    assert.same({ "Bearer token-for-tenant-a", "Bearer token-for-tenant-b", "Bearer token-for-tenant-a" }, seen)
    local token_requests = 0
    for _, r in ipairs(requests) do
      if r:match("^POST /[^/]+/oauth2/v2%.0/token ") then token_requests = token_requests + 1 end
    end
    assert.equal(2, token_requests, "one sign-in per tenant, the second client of tenant-a taking the cached token")
  end)
end)
