-- The sign-in judge: Microsoft's identity library for JavaScript (@azure/identity 4.9.1 with MSAL for Node, pinned
-- in spec/judge/package-lock.json, installed by `make judge-deps`) signs in against the sandbox over HTTPS, as its
-- users do: the authority host pointed at the sandbox, instance discovery off. spec/judge/identity.js gets a token
-- with each credential and lists vppTokens on the sandbox's Graph with it; each `it` asserts one credential on what
-- it reports. Where the library and the sandbox disagree, the sandbox is wrong until Microsoft's docs say otherwise.
-- The same sandbox then judges Microsoft's Python identity libraries as Debian packages them (python3-azure's
-- azure-identity, python3-msal: spec/judge/identity.py, run by /usr/bin/python3). Run this spec in a loopback-only
-- network namespace (`unshare -n`): the libraries are pointed at the sandbox, and must never reach further.
-- Missing node, node_modules or the Python packages fail this spec; VPPTOKEN_NO_NODE=1 (set by a user, never by CI)
-- skips it.
-- luacheck: std +busted
local helper = require "helper"
local support = require "sandbox_support"
local judge = require "judge_support"
local jwt = require "support.jwt"
local cjson = require "cjson.safe"

local TENANT = "5f0d6c1e-2b7a-4e39-9c84-0a1b2c3d4e16"
local SECRET_APP = "a1e2c3d4-0000-4000-8000-000000000001"
local CERT_APP = "a1e2c3d4-0000-4000-8000-000000000002"
local WORKLOAD_APP = "a1e2c3d4-0000-4000-8000-000000000003"
local PUBLIC_APP = "a1e2c3d4-0000-4000-8000-000000000004"
local SYSTEM_MI = "a1e2c3d4-0000-4000-8000-000000000005"
local USER_MI = "a1e2c3d4-0000-4000-8000-000000000006"
local ISSUER = "https://oidc.judge.example"
local SUBJECT = "system:serviceaccount:intune:vpptoken"
local UPN = "judge@contoso.example"
-- Graph's scope as Azure SDK users write it; the sandbox takes it for its own Graph.
local SCOPE = "https://graph.microsoft.com/.default"
-- Six sign-ins and one second of device code polling take a few seconds. The bounds are for a hung run, scaled under
-- valgrind: each check gives up after CHECK_SECONDS (and is reported), the whole run after RUN_SECONDS.
local CHECK_SECONDS = 40 * support.SLOW
local RUN_SECONDS = 7 * CHECK_SECONDS

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The token endpoint's path and the document MSAL reads before it.
local OPENID = "GET /" .. TENANT .. "/v2.0/.well-known/openid-configuration 200"
local TOKEN = "POST /" .. TENANT .. "/oauth2/v2.0/token 200"

describe("Microsoft's identity library (@azure/identity 4.9.1) as the sandbox's sign-in judge", function()
  if judge.skipped() then
    pending("VPPTOKEN_NO_NODE=1: the sign-in judge is skipped (CI runs it)")
    return
  end

  local dir, cert, key, report
  setup(function()
    dir = helper.temp_dir()
    cert, key = helper.make_cert(dir)
    local bundle = jwt.make_cert_bundle(dir, "app") -- app.crt registered, app.pem (certificate + key) for node
    local _, issuer_key = jwt.make_app_cert(dir, "issuer")
    -- the federated token a Kubernetes or GitHub issuer would have written, signed with the issuer's key
    write(dir .. "/federated.jwt", (jwt.assertion{ key = issuer_key, iss = ISSUER, sub = SUBJECT,
                                                 aud = "api://AzureADTokenExchange", exp = os.time() + 3600 }))
    write(dir .. "/apps.json", assert(cjson.encode{
      tenant = TENANT, identity_header = "judge-identity-header",
      managed_identities = { { client_id = SYSTEM_MI, system = true }, { client_id = USER_MI } },
      apps = {
        { client_id = SECRET_APP, client_secret = "judge-client-secret" },
        { client_id = CERT_APP, certificate = "app.crt" },
        { client_id = WORKLOAD_APP,
          federated = { { issuer = ISSUER, subject = SUBJECT, certificate = "issuer.crt" } } },
        { client_id = PUBLIC_APP, public = true },
      },
    }))
    write(dir .. "/judge.json", assert(cjson.encode{
      tenant = TENANT, scope = SCOPE, check_ms = CHECK_SECONDS * 1000,
      secret = { client_id = SECRET_APP, client_secret = "judge-client-secret" },
      certificate = { client_id = CERT_APP, pem = bundle },
      workload = { client_id = WORKLOAD_APP, token_file = dir .. "/federated.jwt" },
      managed = { identity_header = "judge-identity-header", user_client_id = USER_MI },
      device = { client_id = PUBLIC_APP, upn = UPN },
    }))
  end)

  local sb = helper.sandbox_suite(function()
    return { "--apps", dir .. "/apps.json", "--tls-cert", cert, "--tls-key", key }
  end, { reset = false })

  setup(function()
    -- the sandbox's URL joins the configuration once it listens
    local path = dir .. "/judge.json"
    local config = assert(cjson.decode(assert(io.open(path)):read("*a")))
    config.base = sb.url
    write(path, assert(cjson.encode(config)))
    report = judge.run("identity.js", { path }, { NODE_EXTRA_CA_CERTS = cert }, RUN_SECONDS, "@azure/identity")
  end)

  teardown(function() helper.remove_tree(dir) end)

  -- A token the library got and the sandbox's Graph took: for the sandbox's Graph, in the tenant, for client_id.
  local function assert_signed_in(name, client_id)
    local seen = judge.point(report, name)
    assert.is_nil(seen.error, judge.show(seen.error))
    assert.equal("Bearer", seen.token_type)
    assert.is_true(seen.expires_in_future)
    assert.equal(sb.url, seen.claims.aud)
    assert.equal(TENANT, seen.claims.tid)
    assert.equal(client_id, seen.claims.appid)
    assert.equal(200, seen.graph_status, "the sandbox's Graph refused the token")
    return seen
  end

  it("signs an app in with ClientSecretCredential, after MSAL read the OpenID configuration", function()
    local seen = assert_signed_in("client_secret", SECRET_APP)
    assert.same({ "DeviceManagementServiceConfig.ReadWrite.All" }, seen.claims.roles)
    assert.same({ OPENID, TOKEN }, seen.requests)
  end)

  it("signs an app in with ClientCertificateCredential: MSAL's client assertion passes the sandbox's checks", function()
    local seen = assert_signed_in("client_certificate", CERT_APP)
    assert.equal("app", seen.claims.idtyp)
    assert.same({ OPENID, TOKEN }, seen.requests)
  end)

  it("signs an app in with WorkloadIdentityCredential from a federated token file the app trusts", function()
    local seen = assert_signed_in("workload_identity", WORKLOAD_APP)
    assert.equal("app", seen.claims.idtyp)
    assert.same({ OPENID, TOKEN }, seen.requests)
  end)

  it("gives ManagedIdentityCredential App Service's token through IDENTITY_ENDPOINT and IDENTITY_HEADER", function()
    local seen = assert_signed_in("managed_app_service", SYSTEM_MI)
    assert.same({ "GET /msi/token 200" }, seen.requests)
  end)

  it("gives ManagedIdentityCredential a user-assigned identity's token from IMDS at AZURE_POD_IDENTITY_AUTHORITY_HOST",
    function()
      local seen = assert_signed_in("managed_imds", USER_MI)
      -- MSAL canonicalizes the IMDS URL it makes from the variable: the path ends in "/"
      assert.same({ "GET /metadata/identity/oauth2/token/ 200" }, seen.requests)
    end)

  it("signs a person in with DeviceCodeCredential: the prompt has the code, MSAL polls until it is approved", function()
    local seen = assert_signed_in("device_code", PUBLIC_APP)
    assert.is_nil(seen.approval_error, judge.show(seen.approval_error))
    assert.same({ { user_code_given = true, verification_uri = "https://microsoft.com/devicelogin",
                    message_has_code = true } }, seen.prompts)
    assert.equal("user", seen.claims.idtyp)
    assert.equal(UPN, seen.claims.upn)
    -- Graph's /.default stands for the permissions the app was granted
    assert.equal("DeviceManagementServiceConfig.ReadWrite.All", seen.claims.scp)
    assert.equal(1, #seen.codes)
    assert.equal("redeemed", seen.codes[1].status)
    assert.is_true(seen.codes[1].polls >= 2, "approved before MSAL polled: " .. judge.show(seen.codes))
    local polls = {}
    for i = 3, #seen.requests do polls[#polls + 1] = seen.requests[i] end
    assert.same({ OPENID, "POST /" .. TENANT .. "/oauth2/v2.0/devicecode 200" }, { seen.requests[1], seen.requests[2] })
    assert.equal(TOKEN, polls[#polls], "the last poll answered the token")
    assert.equal("POST /" .. TENANT .. "/oauth2/v2.0/token 400", polls[1], "the first poll: authorization_pending")
  end)

  describe("and Microsoft's Python identity libraries (Debian's python3-azure azure-identity, python3-msal)", function()
    local py
    setup(function()
      py = judge.run_python("identity.py", { dir .. "/judge.json" }, { REQUESTS_CA_BUNDLE = cert }, RUN_SECONDS,
        { "msal", "azure.identity" })
    end)

    -- A token the library got and the sandbox's Graph took (MSAL's dicts say token_type, azure-identity's not).
    local function assert_py_signed_in(seen, name, client_id)
      assert.is_nil(seen.threw, name .. " threw: " .. judge.show(seen.threw))
      assert.is_nil(seen.error, name .. ": " .. judge.show(seen.error))
      assert.is_true(seen.expires_in_future, name)
      assert.equal(sb.url, seen.claims.aud, name)
      assert.equal(TENANT, seen.claims.tid, name)
      assert.equal(client_id, seen.claims.appid, name)
      assert.equal(200, seen.graph_status, name .. ": the sandbox's Graph refused the token")
      return seen
    end

    local TOKEN_CC = TOKEN .. " client_credentials"

    it("signs an app in with a secret: MSAL's ConfidentialClientApplication and ClientSecretCredential", function()
      local seen = assert_py_signed_in(judge.point(py, "msal_secret"), "msal_secret", SECRET_APP)
      assert.equal("Bearer", seen.token_type)
      assert.same({ OPENID, TOKEN_CC }, seen.requests)
      seen = assert_py_signed_in(judge.point(py, "client_secret"), "client_secret", SECRET_APP)
      assert.same({ "DeviceManagementServiceConfig.ReadWrite.All" }, seen.claims.roles)
      assert.same({ OPENID, TOKEN_CC }, seen.requests)
    end)

    it("signs an app in with a certificate: MSAL's assertion (padded x5t) and CertificateCredential", function()
      local seen = assert_py_signed_in(judge.point(py, "msal_certificate"), "msal_certificate", CERT_APP)
      assert.equal("app", seen.claims.idtyp)
      assert.same({ OPENID, TOKEN_CC }, seen.requests)
      seen = assert_py_signed_in(judge.point(py, "client_certificate"), "client_certificate", CERT_APP)
      assert.same({ OPENID, TOKEN_CC }, seen.requests)
    end)

    it("gives ManagedIdentityCredential App Service's token (IDENTITY_ENDPOINT, IDENTITY_HEADER)", function()
      local seen = assert_py_signed_in(judge.point(py, "managed_app_service"), "managed_app_service", SYSTEM_MI)
      assert.same({ "GET /msi/token 200" }, seen.requests)
    end)

    it("gives ManagedIdentityCredential a user-assigned identity's token from IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST)",
      function()
        local seen = assert_py_signed_in(judge.point(py, "managed_imds"), "managed_imds", USER_MI)
        assert.same({ "GET /metadata/identity/oauth2/token 200" }, seen.requests)
      end)

    it("signs a person in with DeviceCodeCredential: the prompt gets the code, the library polls until approved",
      function()
        local seen = assert_py_signed_in(judge.point(py, "device_code"), "device_code", PUBLIC_APP)
        assert.same({ { verification_uri = "https://microsoft.com/devicelogin", user_code_given = true,
                        expires_in_future = true } }, seen.prompts)
        assert.equal("user", seen.claims.idtyp)
        assert.equal(UPN, seen.claims.upn)
        assert.same({ OPENID, "POST /" .. TENANT .. "/oauth2/v2.0/devicecode 200" },
          { seen.requests[1], seen.requests[2] })
        assert.equal(TOKEN .. " urn:ietf:params:oauth:grant-type:device_code", seen.requests[#seen.requests])
        assert.equal("POST /" .. TENANT .. "/oauth2/v2.0/token 400 urn:ietf:params:oauth:grant-type:device_code",
          seen.requests[3], "the first poll: authorization_pending")
      end)

    it("renews a person's token with MSAL's refresh token grant (acquire_token_silent, force_refresh)", function()
      local r = judge.point(py, "refresh")
      assert_py_signed_in(r.first, "refresh (device flow)", PUBLIC_APP)
      assert.is_true(r.has_refresh_token)
      assert.equal(1, r.accounts)
      assert_py_signed_in(r.renewed, "refresh (renewed)", PUBLIC_APP)
      assert.equal(UPN, r.renewed.claims.upn)
      assert.is_true(r.renewed_differs, "the renewed access token is the first one")
      assert.equal(TOKEN .. " refresh_token", r.requests[#r.requests])
    end)
  end)
end)
