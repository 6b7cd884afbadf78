-- vpptoken-sandbox as the managed-identity endpoints (App Service's and a VM's IMDS), the token endpoint for
-- federated (workload identity) assertions, and the OpenID configuration document. Driven with LuaSocket; the
-- federated tokens are signed with the openssl command line (spec/support/jwt.lua).
local helper = require "helper"
local jwt = require "support.jwt"
local cjson = require "cjson.safe"

local http = helper.http

local TENANT = "7a0c2e55-1b4d-4f3a-8e6d-managed00016"
local HEADER = "sandbox-identity-header-1234"
local ISSUER = "https://token.actions.githubusercontent.com"
local SUBJECT = "repo:contoso/intune:ref:refs/heads/main"
local COLL = "/v1.0/deviceAppManagement/vppTokens"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function form(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = k .. "=" .. escape(tostring(v)) end
  table.sort(parts)
  return table.concat(parts, "&")
end

describe("vpptoken-sandbox managed identities and workload identity", function()
  local dir, apps_file, issuer_key, other_key

  setup(function()
    dir = helper.temp_dir()
    local _, key = jwt.make_app_cert(dir, "issuer")
    issuer_key = key
    local _, okey = jwt.make_app_cert(dir, "other")
    other_key = okey
    apps_file = dir .. "/apps.json"
    write(apps_file, assert(cjson.encode{
      tenant = TENANT, identity_header = HEADER,
      managed_identities = { { client_id = "mi-a", system = true }, { client_id = "mi-b", object_id = "oid-b" } },
      apps = { { client_id = "gh-app", federated = { { issuer = ISSUER, subject = SUBJECT,
                                                       certificate = "issuer.crt" } } } },
    }))
  end)

  teardown(function()
    helper.remove_tree(dir)
  end)

  local sb = helper.sandbox_suite(function() return { "--apps", apps_file } end, { reset = false })

  local function imds(query, headers)
    return http("GET", sb.url .. "/metadata/identity/oauth2/token?" .. query, nil,
                headers or { Metadata = "true" })
  end

  local function app_service(query, header)
    return http("GET", sb.url .. "/msi/token?" .. query, nil, { ["X-IDENTITY-HEADER"] = header or HEADER })
  end

  local function resource() return "resource=" .. escape(sb.url) end

  local function graph_accepts(token)
    return (http("GET", sb.url .. COLL, nil, { authorization = "Bearer " .. token })) == 200
  end

  local function federated(o)
    o = o or {}
    return (jwt.assertion{ key = o.key or issuer_key, iss = o.iss or ISSUER, sub = o.sub or SUBJECT,
                           aud = o.aud or "api://AzureADTokenExchange", client_id = "gh-app", exp = o.exp,
                           nbf = o.nbf })
  end

  local function exchange(assertion)
    return http("POST", sb.url .. "/" .. TENANT .. "/oauth2/v2.0/token", form{
      client_id = "gh-app", grant_type = "client_credentials", scope = "https://graph.microsoft.com/.default",
      client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion = assertion }, { ["content-type"] = "application/x-www-form-urlencoded" })
  end

  describe("IMDS", function()
    it("issues the system identity's token, expires_in and expires_on as text, for Graph", function()
      local st, body = imds("api-version=2018-02-01&" .. resource())
      assert.equal(200, st)
      assert.equal("Bearer", body.token_type)
      assert.equal("mi-a", body.client_id)
      assert.equal("string", type(body.expires_on))
      assert.equal("string", type(body.expires_in))
      assert.is_true(tonumber(body.expires_on) > os.time())
      assert.is_true(graph_accepts(body.access_token))
      assert.equal("mi-a", jwt.claims(body.access_token).appid)
    end)

    it("picks a user-assigned identity by client_id or object_id", function()
      local _, a = imds("api-version=2018-02-01&client_id=mi-b&" .. resource())
      assert.equal("mi-b", jwt.claims(a.access_token).appid)
      local _, b = imds("api-version=2018-02-01&object_id=oid-b&resource=https%3A%2F%2Fgraph.microsoft.com")
      assert.equal("mi-b", jwt.claims(b.access_token).appid)
    end)

    it("answers at the path with a trailing slash too, which MSAL for Node asks for", function()
      local st, body = http("GET", sb.url .. "/metadata/identity/oauth2/token/?api-version=2018-02-01&"
        .. resource(), nil, { Metadata = "true" })
      assert.equal(200, st)
      assert.equal("mi-a", jwt.claims(body.access_token).appid)
    end)

    it("answers its own error shapes: no Metadata header, no api-version, an unknown identity", function()
      local st, body = imds("api-version=2018-02-01&" .. resource(), {})
      assert.equal(400, st)
      assert.same({ error = "invalid_request", error_description = "Required metadata header not specified" }, body)
      st, body = imds(resource())
      assert.equal(400, st)
      assert.equal("invalid_request", body.error)
      st, body = imds("api-version=2018-02-01&client_id=nobody&" .. resource())
      assert.equal(400, st)
      assert.same({ error = "invalid_request", error_description = "Identity not found" }, body)
      st, body = imds("api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net")
      assert.equal(400, st)
      assert.equal("invalid_resource", body.error)
    end)

    it("answers the injected failures first, then tokens again", function()
      assert.equal(200, (http("POST", sb.url .. "/_sandbox/identity/fail", { count = 2, status = 410 })))
      assert.equal(410, (imds("api-version=2018-02-01&" .. resource())))
      local _, left = http("GET", sb.url .. "/_sandbox/identity/fail")
      assert.equal(1, left.count)
      assert.equal(410, (imds("api-version=2018-02-01&" .. resource())))
      assert.equal(200, (imds("api-version=2018-02-01&" .. resource())))
      assert.equal(400, (http("POST", sb.url .. "/_sandbox/identity/fail", { count = 1, status = 200 })))
    end)

    it("forgets injected failures on a reset, so one spec's failure is not the next spec's", function()
      assert.equal(200, (http("POST", sb.url .. "/_sandbox/identity/fail", { count = 3, status = 503 })))
      sb:reset()
      local _, left = http("GET", sb.url .. "/_sandbox/identity/fail")
      assert.equal(0, left.count)
      assert.equal(200, (imds("api-version=2018-02-01&" .. resource())))
    end)
  end)

  describe("App Service's endpoint", function()
    it("needs X-IDENTITY-HEADER and api-version 2019-08-01; answers expires_on as a number", function()
      local st, body = app_service("api-version=2019-08-01&" .. resource())
      assert.equal(200, st)
      assert.equal("number", type(body.expires_on))
      assert.is_true(graph_accepts(body.access_token))
      st = app_service("api-version=2019-08-01&" .. resource(), "wrong")
      assert.equal(401, st)
      st = app_service("api-version=2017-09-01&" .. resource())
      assert.equal(400, st)
      local _, b = app_service("api-version=2019-08-01&client_id=mi-b&" .. resource())
      assert.equal("mi-b", jwt.claims(b.access_token).appid)
    end)
  end)

  describe("federated credentials", function()
    it("exchange the issuer's token for an access token, as often as it is valid", function()
      local assertion = federated()
      for _ = 1, 2 do
        local st, body = exchange(assertion)
        assert.equal(200, st, cjson.encode(body))
        assert.is_true(graph_accepts(body.access_token))
      end
    end)

    it("refuse another subject (700213), audience (700212), key (700027), an expired token (700024)", function()
      local cases = {
        { federated{ sub = "repo:evil/repo:ref:refs/heads/main" }, 700213 },
        { federated{ aud = "api://Other" }, 700212 },
        { federated{ key = other_key }, 700027 },
        { federated{ exp = os.time() - 3600, nbf = os.time() - 7200 }, 700024 },
      }
      for _, case in ipairs(cases) do
        local st, body = exchange(case[1])
        assert.is_true(st == 400 or st == 401, tostring(st))
        assert.same({ case[2] }, body.error_codes)
      end
      -- an issuer that is not configured: the assertion is taken as a certificate one, and no certificate matches
      local _, body = exchange(federated{ iss = "https://elsewhere.example" })
      assert.same({ 700027 }, body.error_codes)
    end)
  end)

  it("serves the OpenID configuration of the tenant", function()
    local st, body = http("GET", sb.url .. "/" .. TENANT .. "/v2.0/.well-known/openid-configuration")
    assert.equal(200, st)
    assert.equal(sb.url .. "/" .. TENANT .. "/oauth2/v2.0/token", body.token_endpoint)
    assert.equal(sb.url .. "/" .. TENANT .. "/oauth2/v2.0/devicecode", body.device_authorization_endpoint)
    assert.equal(sb.url .. "/" .. TENANT .. "/v2.0", body.issuer)
    st = http("GET", sb.url .. "/other-tenant/v2.0/.well-known/openid-configuration")
    assert.equal(400, st)
  end)

  it("refuses to start with a federated credential it cannot use", function()
    local bad = dir .. "/bad.json"
    write(bad, assert(cjson.encode{ tenant = "t", apps = { { client_id = "x",
      federated = { { issuer = ISSUER, subject = SUBJECT, certificate = "missing.crt" } } } } }))
    local ok, err = pcall(helper.start_sandbox, { "--apps", bad })
    assert.is_false(ok)
    assert.matches("federated%[1%]: cannot read the certificate", tostring(err))
  end)
end)
