-- vpptoken-sandbox as the Microsoft identity platform (--apps): the client-credentials token
-- endpoint with secrets and certificate assertions, and Graph calls that need its access tokens.
-- Driven with LuaSocket; assertions are signed with the openssl command line (spec/support/jwt.lua).
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local jwt = require "support.jwt"
local cjson = require "cjson.safe"

local http = helper.http

local TENANT = "8e3f1f4c-8c6b-4a6e-9d59-2b1f0c3a7d21"
local WWW_AUTHENTICATE = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
  .. 'authorize", client_id="00000003-0000-0000-c000-000000000000"'
local GUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local COLL = "/v1.0/deviceAppManagement/vppTokens"
local RW = "DeviceManagementServiceConfig.ReadWrite.All"
local RO = "DeviceManagementServiceConfig.Read.All"
-- Under valgrind everything is slower: time-based checks scale with this.
local SLOW = helper.SLOW

local function form_encode(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
    end)
  end
  table.sort(parts)
  return table.concat(parts, "&")
end

local function mkdtemp()
  local p = assert(io.popen("mktemp -d"))
  local dir = p:read("*l")
  p:close()
  return dir
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Fixtures shared by the file: a temp dir with two app certificates and an apps file.
local dir, app_cert, app_key, other_cert, other_key, apps_file

local function setup_files()
  dir = mkdtemp()
  app_cert, app_key = jwt.make_app_cert(dir, "app")
  other_cert, other_key = jwt.make_app_cert(dir, "other")
  apps_file = dir .. "/apps.json"
  write(apps_file, assert(cjson.encode({
    tenant = TENANT,
    apps = {
      { client_id = "rw-app", client_secret = "rw-secret", certificate = "app.crt", permissions = { RW } },
      { client_id = "ro-app", client_secret = "ro-secret", permissions = { RO } },
    },
  })))
end

local function remove_files()
  if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  dir = nil
end

local function token_url(sb, tenant)
  return sb.url .. "/" .. (tenant or TENANT) .. "/oauth2/v2.0/token"
end

-- POST to the token endpoint; fields are form-encoded. Returns status, decoded body, headers.
local function token_request(sb, fields, tenant)
  return http("POST", token_url(sb, tenant), form_encode(fields),
              { ["content-type"] = "application/x-www-form-urlencoded" })
end

local function secret_fields(sb, client_id, secret)
  return { client_id = client_id, client_secret = secret, grant_type = "client_credentials",
           scope = sb.url .. "/.default" }
end

local function assertion_fields(sb, assertion)
  return { client_id = "rw-app", grant_type = "client_credentials", scope = sb.url .. "/.default",
           client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
           client_assertion = assertion }
end

local function access_token(sb, client_id, secret)
  local st, body = token_request(sb, secret_fields(sb, client_id, secret))
  assert.equal(200, st, cjson.encode(body))
  return body.access_token
end

local function graph(sb, method, path, token, body)
  return http(method, sb.url .. path, body, { authorization = token and ("Bearer " .. token) or nil })
end

-- The identity platform's error shape, with the AADSTS code in the description and error_codes.
local function assert_aad_error(status, body, want_status, want_error, code)
  assert.equal(want_status, status, type(body) == "table" and cjson.encode(body) or tostring(body))
  assert.equal(want_error, body.error)
  assert.same({ code }, body.error_codes)
  assert.matches("^AADSTS" .. code .. ": ", body.error_description)
  assert.matches(GUID, body.trace_id)
  assert.matches(GUID, body.correlation_id)
  assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%dZ$", body.timestamp)
  assert.truthy(body.error_description:find("\r\nTrace ID: " .. body.trace_id .. "\r\nCorrelation ID: "
    .. body.correlation_id .. "\r\nTimestamp: " .. body.timestamp, 1, true), body.error_description)
end

local function assert_graph_401(status, body, headers, message)
  assert.equal(401, status, cjson.encode(body))
  assert.equal("InvalidAuthenticationToken", body.error.code)
  assert.equal(message, body.error.message)
  assert.equal(WWW_AUTHENTICATE, headers["www-authenticate"])
end

describe("vpptoken-sandbox --apps", function()
  setup(setup_files)
  local sb = helper.sandbox_suite(function() return { "--apps", apps_file } end, { reset = false })
  teardown(remove_files)

  describe("token endpoint with a client secret", function()
    it("issues a bearer token for the Graph root that Graph then accepts", function()
      local st, body, headers = token_request(sb, secret_fields(sb, "rw-app", "rw-secret"))
      assert.equal(200, st, cjson.encode(body))
      assert.matches("^application/json", headers["content-type"])
      assert.equal("Bearer", body.token_type)
      assert.equal(3599, body.expires_in)
      assert.equal(3599, body.ext_expires_in)
      local claims = jwt.claims(body.access_token)
      assert.equal(sb.url, claims.aud)
      assert.equal(TENANT, claims.tid)
      assert.equal("rw-app", claims.appid)
      assert.equal("rw-app", claims.azp)
      assert.same({ RW }, claims.roles)
      assert.near(os.time() + 3599, claims.exp, 5)
      local gst = graph(sb, "GET", COLL, body.access_token)
      assert.equal(200, gst)
    end)

    it("accepts the real Graph scope so scripts written for Graph work unchanged", function()
      local fields = secret_fields(sb, "rw-app", "rw-secret")
      fields.scope = "https://graph.microsoft.com/.default"
      local st, body = token_request(sb, fields)
      assert.equal(200, st, cjson.encode(body))
      assert.equal(200, (graph(sb, "GET", COLL, body.access_token)))
    end)

    it("refuses a wrong secret with AADSTS7000215", function()
      local st, body = token_request(sb, secret_fields(sb, "rw-app", "not-the-secret"))
      assert_aad_error(st, body, 401, "invalid_client", 7000215)
    end)

    it("refuses an unknown app with AADSTS700016", function()
      local st, body = token_request(sb, secret_fields(sb, "nobody", "x"))
      assert_aad_error(st, body, 400, "unauthorized_client", 700016)
    end)

    it("refuses another grant type with AADSTS70003", function()
      local fields = secret_fields(sb, "rw-app", "rw-secret")
      fields.grant_type = "password"
      local st, body = token_request(sb, fields)
      assert_aad_error(st, body, 400, "unsupported_grant_type", 70003)
    end)

    it("refuses a scope without /.default with AADSTS1002012", function()
      local fields = secret_fields(sb, "rw-app", "rw-secret")
      fields.scope = "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All"
      local st, body = token_request(sb, fields)
      assert_aad_error(st, body, 400, "invalid_scope", 1002012)
    end)

    it("names a missing parameter with AADSTS900144", function()
      local fields = secret_fields(sb, "rw-app", "rw-secret")
      fields.client_id = nil
      local st, body = token_request(sb, fields)
      assert_aad_error(st, body, 400, "invalid_request", 900144)
      assert.truthy(body.error_description:find("'client_id'", 1, true))
    end)

    it("refuses a request with neither secret nor assertion with AADSTS7000218", function()
      local fields = secret_fields(sb, "rw-app", "rw-secret")
      fields.client_secret = nil
      local st, body = token_request(sb, fields)
      assert_aad_error(st, body, 401, "invalid_client", 7000218)
    end)

    it("refuses a tenant other than the configured one with AADSTS90002", function()
      local st, body = token_request(sb, secret_fields(sb, "rw-app", "rw-secret"), "another-tenant")
      assert_aad_error(st, body, 400, "invalid_request", 90002)
      assert.truthy(body.error_description:find("another-tenant", 1, true))
    end)

    it("echoes client-request-id as the correlation id", function()
      local st, body = http("POST", token_url(sb), form_encode(secret_fields(sb, "rw-app", "wrong")),
        { ["content-type"] = "application/x-www-form-urlencoded",
          ["client-request-id"] = "11111111-2222-4333-8444-555555555555" })
      assert.equal(401, st)
      assert.equal("11111111-2222-4333-8444-555555555555", body.correlation_id)
    end)
  end)

  describe("token endpoint with a certificate assertion", function()
    local function assertion(o)
      o.client_id = o.client_id or "rw-app"
      o.aud = o.aud or token_url(sb)
      o.key = o.key or app_key
      o.cert = o.cert or app_cert
      return (jwt.assertion(o))
    end

    it("issues a token for an assertion signed with the app's certificate key", function()
      local st, body = token_request(sb, assertion_fields(sb, assertion({})))
      assert.equal(200, st, cjson.encode(body))
      assert.equal("Bearer", body.token_type)
      assert.equal("rw-app", jwt.claims(body.access_token).appid)
      assert.equal(200, (graph(sb, "GET", COLL, body.access_token)))
    end)

    it("accepts the thumbprints as MSAL for Python writes them: base64url with '=' padding", function()
      local st, body = token_request(sb, assertion_fields(sb, assertion({ padded = true })))
      assert.equal(200, st, cjson.encode(body))
      st, body = token_request(sb, assertion_fields(sb, assertion({ padded = true, s256 = true })))
      assert.equal(200, st, cjson.encode(body))
    end)

    it("accepts an assertion addressed to the real login.microsoftonline.com token URL", function()
      local a = assertion({ aud = "https://login.microsoftonline.com/" .. TENANT .. "/oauth2/v2.0/token" })
      local st, body = token_request(sb, assertion_fields(sb, a))
      assert.equal(200, st, cjson.encode(body))
    end)

    it("refuses an assertion signed with another key (AADSTS700027)", function()
      local st, body = token_request(sb, assertion_fields(sb, assertion({ key = other_key })))
      assert_aad_error(st, body, 401, "invalid_client", 700027)
      assert.truthy(body.error_description:find("signature", 1, true))
    end)

    it("refuses a certificate that is not registered for the app (AADSTS700027)", function()
      local st, body = token_request(sb, assertion_fields(sb, assertion({ key = other_key, cert = other_cert })))
      assert_aad_error(st, body, 401, "invalid_client", 700027)
      assert.truthy(body.error_description:find("not registered", 1, true))
    end)

    it("refuses an expired assertion (AADSTS700024)", function()
      local now = os.time()
      local st, body = token_request(sb, assertion_fields(sb, assertion({ nbf = now - 7200, exp = now - 3600 })))
      assert_aad_error(st, body, 401, "invalid_client", 700024)
    end)

    it("refuses an assertion for another audience (AADSTS700023)", function()
      local a = assertion({ aud = "https://login.microsoftonline.com/another-tenant/oauth2/v2.0/token" })
      local st, body = token_request(sb, assertion_fields(sb, a))
      assert_aad_error(st, body, 401, "invalid_client", 700023)
    end)

    it("refuses an assertion whose iss/sub is another app (AADSTS700021)", function()
      local st, body = token_request(sb, assertion_fields(sb, assertion({ iss = "ro-app", sub = "ro-app" })))
      assert_aad_error(st, body, 401, "invalid_client", 700021)
    end)

    it("refuses a replayed assertion (same jti)", function()
      local a = assertion({ jti = "replay-" .. os.time() .. "-" .. math.random(1, 1073741824) })
      local st = token_request(sb, assertion_fields(sb, a))
      assert.equal(200, st)
      local st2, body2 = token_request(sb, assertion_fields(sb, a))
      assert_aad_error(st2, body2, 401, "invalid_client", 50013)
      assert.truthy(body2.error_description:find("already been used", 1, true))
    end)

    it("refuses an assertion that is not a JWT (AADSTS50027)", function()
      local st, body = token_request(sb, assertion_fields(sb, "not-a-jwt"))
      assert_aad_error(st, body, 400, "invalid_request", 50027)
    end)
  end)

  describe("Graph calls", function()
    it("need a token: none is 401 'Access token is empty.' with Graph's WWW-Authenticate", function()
      local st, body, headers = graph(sb, "GET", COLL, nil)
      assert_graph_401(st, body, headers, "Access token is empty.")
    end)

    it("refuse a bearer value that is not a JWT", function()
      local st, body, headers = graph(sb, "GET", COLL, "just-some-token")
      assert_graph_401(st, body, headers, "CompactToken parsing failed with error code: 80049217")
    end)

    it("refuse a token whose claims were changed after signing", function()
      local tok = access_token(sb, "ro-app", "ro-secret")
      local h, _, s = tok:match("^([^.]+)%.([^.]+)%.([^.]+)$")
      local claims = jwt.claims(tok)
      claims.roles = { RW }
      local forged = h .. "." .. jwt.b64url(assert(cjson.encode(claims))) .. "." .. s
      local st, body, headers = graph(sb, "POST", COLL, forged, { token = apple() })
      assert_graph_401(st, body, headers, "Access token validation failure.")
    end)

    it("refuse a token for another audience", function()
      local st, minted = http("POST", sb.url .. "/_sandbox/token",
        { client_id = "rw-app", aud = "https://management.azure.com" })
      assert.equal(200, st, cjson.encode(minted))
      local gst, body, headers = graph(sb, "GET", COLL, minted.access_token)
      assert_graph_401(gst, body, headers, "Access token validation failure. Invalid audience.")
    end)

    it("refuse an expired token", function()
      local st, minted = http("POST", sb.url .. "/_sandbox/token", { client_id = "rw-app", lifetime = -60 })
      assert.equal(200, st, cjson.encode(minted))
      local gst, body, headers = graph(sb, "GET", COLL, minted.access_token)
      assert_graph_401(gst, body, headers, "Access token has expired or is not yet valid.")
    end)

    it("let a read-only app read but answer 403 Forbidden to its writes and actions", function()
      local rw = access_token(sb, "rw-app", "rw-secret")
      local st, created = graph(sb, "POST", COLL, rw, { token = apple("vpp-token-text"), appleId = "a@example.com" })
      assert.equal(201, st, cjson.encode(created))
      local ro = access_token(sb, "ro-app", "ro-secret")
      local gst, got = graph(sb, "GET", COLL .. "/" .. created.id, ro)
      assert.equal(200, gst)
      assert.equal(created.id, got.id)
      assert.equal(200, (graph(sb, "GET", COLL, ro)))
      local writes = {
        { "POST", COLL, { token = apple("other") } },
        { "PATCH", COLL .. "/" .. created.id, { appleId = "b@example.com" } },
        { "DELETE", COLL .. "/" .. created.id },
        { "POST", COLL .. "/" .. created.id .. "/syncLicenses" },
      }
      for _, w in ipairs(writes) do
        local wst, body = graph(sb, w[1], w[2], ro, w[3])
        assert.equal(403, wst, w[1] .. " " .. w[2] .. ": " .. cjson.encode(body))
        assert.equal("Forbidden", body.error.code)
        assert.truthy(body.error.message:find(RW, 1, true))
      end
      local _, after = graph(sb, "GET", COLL .. "/" .. created.id, ro)
      assert.equal("a@example.com", after.appleId)
      assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. created.id, rw)))
    end)

    it("check each $batch sub-request of a read-only app by its own method", function()
      local ro = access_token(sb, "ro-app", "ro-secret")
      local st, body = graph(sb, "POST", "/v1.0/$batch", ro, { requests = {
        { id = "read", method = "GET", url = "/deviceAppManagement/vppTokens" },
        { id = "write", method = "POST", url = "/deviceAppManagement/vppTokens", body = { token = apple("x") },
          headers = { ["Content-Type"] = "application/json" } },
      } })
      assert.equal(200, st, cjson.encode(body))
      local by_id = {}
      for _, r in ipairs(body.responses) do by_id[r.id] = r end
      assert.equal(200, by_id.read.status)
      assert.equal(403, by_id.write.status, cjson.encode(by_id.write))
    end)
  end)
end)

describe("vpptoken-sandbox --token-lifetime", function()
  setup(setup_files)
  local sb = helper.sandbox_suite(function() return { "--apps", apps_file, "--token-lifetime", tostring(2 * SLOW) } end,
                                  { reset = false })
  teardown(remove_files)

  it("makes issued tokens expire: Graph then answers 401 with the expiry message", function()
    local st, body = token_request(sb, secret_fields(sb, "rw-app", "rw-secret"))
    assert.equal(200, st, cjson.encode(body))
    assert.equal(2 * SLOW, body.expires_in)
    assert.equal(200, (graph(sb, "GET", COLL, body.access_token)))
    os.execute("sleep " .. (2 * SLOW + 1.5))
    local gst, gbody, headers = graph(sb, "GET", COLL, body.access_token)
    assert_graph_401(gst, gbody, headers, "Access token has expired or is not yet valid.")
  end)
end)

describe("vpptoken-sandbox command line for identity", function()
  it("--help documents --apps, --token-lifetime, --tls-cert and --tls-key", function()
    local p = assert(io.popen(helper.shell_quote(helper.sandbox_bin) .. " --help"))
    local text = p:read("*a")
    p:close()
    for _, opt in ipairs({ "--apps FILE", "--token-lifetime S", "--tls-cert FILE", "--tls-key FILE" }) do
      assert.truthy(text:find(opt, 1, true), "--help lacks " .. opt)
    end
  end)

  it("refuses to start with an apps file it cannot use, and says why", function()
    local d = mkdtemp()
    local bad = d .. "/apps.json"
    write(bad, '{"tenant":"t","apps":[{"client_id":"x"}]}')
    local ok, err = pcall(helper.start_sandbox, { "--apps", bad })
    os.execute("rm -rf " .. helper.shell_quote(d))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("client_secret", 1, true), tostring(err))
  end)

  it("without --apps keeps accepting any bearer token", function()
    local sb = helper.start_sandbox()
    local st = http("GET", sb.url .. COLL, nil, { authorization = "Bearer anything" })
    sb:stop()
    assert.equal(200, st)
  end)
end)
