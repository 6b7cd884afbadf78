-- Issue #7, secrets: no VPP token value, client secret, access token or client assertion ever appears on any output
-- channel: error objects and tostring, the on_request hook, VPPTOKEN_DEBUG=1 stderr, the command line's output in
-- every format and with --verbose, the sandbox's request log and its --journal file.
local helper = require "helper"
local cjson = require "cjson.safe"
local jwt = require "support.jwt"
local cli = require "cli_support"
local files = require "support.tokenfiles"
local vpptoken = require "vpptoken"
local auth = require "vpptoken.auth"

local TENANT = "6d1f0c57-3a9e-4f52-8c71-secrets00007"
local IDENTITY_HEADER = "Mi-Header-S3cret-never-shown-2281"
local ISSUER = "https://oidc.example.test/secrets"
local SUBJECT = "system:serviceaccount:secrets:spec"
local CLIENT_SECRET = "Cl1ent-S3cret-QwErTy-never-shown-7731"
local VPP_INNER = "VPP-T0KEN-VaLuE-never-shown-9X4k"
-- Apple token files (the sandbox refuses anything else, as Intune does): the whole file is the secret sent.
local VPP_VALUE = helper.apple_token(VPP_INNER)
local VPP_RENEWED = helper.apple_token(VPP_INNER .. "-renewed")
local FILE_CONTENT = cli.token_content()      -- what the command line uploads as `token`
local FILE_SECRET = cli.SECRET                -- inside that file

-- Every access token the library holds now (the token cache), so the checks look for the real values too.
local function cached_access_tokens()
  local out = {}
  local i = 1
  while true do
    local name, value = debug.getupvalue(auth.clear_cache, i)
    if not name then break end
    if name == "cache" then
      for _, e in pairs(value) do if type(e) == "table" and e.token then out[#out + 1] = e.token end end
    end
    i = i + 1
  end
  return out
end

-- Everything in v (tables recursively, keys too) as text.
local function dump(v, seen, out)
  seen, out = seen or {}, out or {}
  if type(v) == "table" then
    if seen[v] then return out end
    seen[v] = true
    if getmetatable(v) and getmetatable(v).__tostring then out[#out + 1] = tostring(v) end
    for k, x in pairs(v) do
      dump(k, seen, out)
      dump(x, seen, out)
    end
  elseif v ~= nil then
    out[#out + 1] = tostring(v)
  end
  return out
end

local function text_of(v) return table.concat(dump(v), "\n") end

-- Asserts that text holds none of the secrets and no JWT (access tokens and client assertions are JWTs).
local function assert_clean(text, channel, extra)
  local secrets = { CLIENT_SECRET, VPP_VALUE, VPP_RENEWED, VPP_INNER, FILE_CONTENT, FILE_SECRET }
  for _, s in ipairs(extra or {}) do secrets[#secrets + 1] = s end
  for _, s in ipairs(cached_access_tokens()) do secrets[#secrets + 1] = s end
  for _, s in ipairs(secrets) do
    assert(not text:find(s, 1, true), channel .. " shows a secret (" .. s:sub(1, 12) .. "...)")
  end
  assert(not text:find("eyJ[%w_%-]+%.eyJ[%w_%-]+"), channel .. " shows a JWT")
  return text
end

describe("secrets never leak", function()
  local dir, apps_file, cert_bundle, journal, sb, issuer_key, fed_file, az_path

  setup(function()
    local p = assert(io.popen("mktemp -d"))
    dir = p:read("*l")
    p:close()
    cert_bundle = jwt.make_cert_bundle(dir, "app")
    apps_file = dir .. "/apps.json"
    local f = assert(io.open(apps_file, "w"))
    local _, key = jwt.make_app_cert(dir, "issuer")
    issuer_key = key
    local apps = (assert(cjson.encode{ tenant = TENANT, identity_header = IDENTITY_HEADER,
      managed_identities = { { client_id = "mi-app", system = true } }, apps = {
      { client_id = "rw-app", client_secret = CLIENT_SECRET, certificate = "app.crt",
        permissions = { "DeviceManagementServiceConfig.ReadWrite.All" } },
      { client_id = "wl-app", federated = { { issuer = ISSUER, subject = SUBJECT, certificate = "issuer.crt" } } },
      { client_id = require("vpptoken.login").DEFAULT_CLIENT_ID, public = true },
    } }))
    f:write(apps)
    f:close()
    journal = dir .. "/journal.jsonl"
    fed_file = dir .. "/federated-token"
    az_path = dir .. "/bin/az"
    os.execute("mkdir -p " .. helper.shell_quote(dir .. "/bin"))
    -- a fake Azure CLI that prints the access token in $DIR/az_out
    local az = assert(io.open(az_path, "w"))
    az:write("#!/bin/sh\ncat " .. helper.shell_quote(dir .. "/az_out") .. "\n")
    az:close()
    os.execute("chmod +x " .. helper.shell_quote(az_path))
  end)

  -- A workload identity's token file, freshly signed; returns the assertion (a secret to look for).
  local function write_federated_token()
    local assertion = jwt.assertion{ key = issuer_key, iss = ISSUER, sub = SUBJECT, client_id = "wl-app",
                                     aud = "api://AzureADTokenExchange" }
    local f = assert(io.open(fed_file, "w"))
    f:write(assertion)
    f:close()
    return assertion
  end

  -- The fake az's answer: a token minted by the sandbox; returns it (a secret to look for).
  local function write_az_token()
    local status, body = helper.http("POST", sb.url .. "/_sandbox/token", { client_id = "rw-app" })
    assert.equal(200, status)
    local f = assert(io.open(dir .. "/az_out", "w"))
    f:write((assert(cjson.encode{ accessToken = body.access_token, expires_on = os.time() + 3600 })))
    f:close()
    return body.access_token
  end

  teardown(function()
    if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  sb = helper.sandbox_suite(function()
    return { "--apps", apps_file, "--journal", journal, "--sync-seconds", "0.2" }
  end)

  before_each(function() auth.clear_cache() end)

  -- Runs a workload through a client, with every outcome that can carry text: results, errors (not found, a
  -- server error, a lost create answer, a bad request from Graph, a failed sign-in) and the hook's reports.
  local function workload(make)
    local seen, calls = {}, {}
    local c = make(function(info) calls[#calls + 1] = info end)
    local t = assert(c:create{ token = VPP_VALUE, appleId = "secret@contoso.com", organizationName = "Contoso" })
    assert(c:list())
    assert(c:update(t.id, { token = VPP_RENEWED }))
    assert(c:sync_licenses(t.id))
    seen[#seen + 1] = { c:get("no-such-id") }
    sb:fail_next(1, 500, { method = "PATCH" })
    seen[#seen + 1] = { c:update(t.id, { token = VPP_VALUE }) }
    sb:fail_next(1, nil, { kind = "reset_after", method = "POST" })
    seen[#seen + 1] = { c:create{ token = VPP_VALUE } }
    sb:fail_next(1, 400, { method = "POST", message = "bad" })
    seen[#seen + 1] = { c:create{ token = VPP_VALUE } }
    seen[#seen + 1] = { c:get_many({ t.id, "missing-id" }) }
    seen[#seen + 1] = { c:batch{ { op = "create", fields = { token = VPP_VALUE } }, { op = "get", id = "nope" } } }
    assert(c:delete(t.id))
    c:close()
    -- only the error objects (and what they hold): the results are the caller's data, and the sandbox, unlike
    -- Graph, returns the token it was given
    local errs = {}
    local function collect(v)
      if vpptoken.is_error(v) then
        errs[#errs + 1] = v
        errs[#errs + 1] = tostring(v)
      elseif type(v) == "table" and not v.id then
        for _, x in pairs(v) do collect(x) end
      end
    end
    for i = 1, #seen do collect(seen[i]) end
    assert.is_true(#errs >= 10, "errors collected: " .. #errs)
    return errs, calls
  end

  it("a client secret sign-in: errors, tostring and the on_request hook show no secret", function()
    local results, calls = workload(function(hook)
      return vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app", client_secret = CLIENT_SECRET,
                           retry_delay = 0.01, on_request = hook }
    end)
    assert.is_true(#cached_access_tokens() >= 1)  -- the check below looks for a real access token
    assert.is_true(#calls >= 10)
    assert_clean(text_of(calls), "on_request")
    assert_clean(text_of(results), "results and errors")
  end)

  it("a certificate sign-in: errors, tostring and the hook show no assertion or access token", function()
    local results, calls = workload(function(hook)
      return vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app",
                           client_certificate = cert_bundle, retry_delay = 0.01, on_request = hook }
    end)
    assert_clean(text_of(calls), "on_request")
    assert_clean(text_of(results), "results and errors")
  end)

  it("a managed identity, workload identity or az sign-in: errors and the hook show no header, assertion or token",
    function()
      local assertion = write_federated_token()
      local az_token = write_az_token()
      local makers = {
        function(hook)
          return vpptoken.new{ base_url = sb.graph, retry_delay = 0.01, on_request = hook,
                               managed_identity = { endpoint = sb.url .. "/msi/token", header = IDENTITY_HEADER } }
        end,
        function(hook)
          return vpptoken.new{ base_url = sb.graph, retry_delay = 0.01, on_request = hook,
                               managed_identity = { imds_host = sb.url } }
        end,
        function(hook)
          return vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "wl-app", retry_delay = 0.01,
                               federated_token_file = fed_file, on_request = hook }
        end,
        function(hook)
          return vpptoken.new{ base_url = sb.graph, retry_delay = 0.01, on_request = hook,
                               azure_cli = { command = az_path } }
        end,
      }
      for i, make in ipairs(makers) do
        auth.clear_cache()
        local results, calls = workload(make)
        assert.is_true(#cached_access_tokens() >= 1)
        local extra = { IDENTITY_HEADER, assertion, az_token }
        assert_clean(text_of(calls), "on_request, way " .. i, extra)
        assert_clean(text_of(results), "results and errors, way " .. i, extra)
      end
      -- refused: a wrong identity header is not echoed
      local wrong = "Wr0ng-Mi-Header-never-shown-8812"
      local c = vpptoken.new{ base_url = sb.graph, managed_identity = { endpoint = sb.url .. "/msi/token",
                                                                        header = wrong } }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert_clean(text_of{ err, tostring(err) }, "managed identity error", { wrong, IDENTITY_HEADER })
      -- the request log and the journal hold no identity header
      local f = assert(io.open(journal, "rb"))
      local text = f:read("*a")
      f:close()
      assert.matches("/msi/token", text, 1, true)
      assert_clean(text:gsub("\\/", "/"), "journal", { IDENTITY_HEADER, wrong, assertion })
    end)

  it("a refused sign-in (wrong secret) is an auth error that does not echo the secret", function()
    local wrong = "Wr0ng-Secret-zzz-never-shown-5521"
    local calls = {}
    local c = vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app", client_secret = wrong,
                            retry_delay = 0.01, on_request = function(i) calls[#calls + 1] = i end }
    local ok, err = c:list()
    c:close()
    assert.is_nil(ok)
    assert.equal("auth", err.kind)
    assert_clean(text_of{ err, tostring(err), calls }, "auth error", { wrong })
    assert_clean(tostring(c), "tostring(client)", { wrong })
  end)

  it("the sandbox's request log and its --journal file redact every secret", function()
    workload(function(hook)
      return vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app", client_secret = CLIENT_SECRET,
                           retry_delay = 0.01, on_request = hook }
    end)
    local tokens = cached_access_tokens()
    auth.clear_cache()
    workload(function(hook)
      return vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "rw-app",
                           client_certificate = cert_bundle, retry_delay = 0.01, on_request = hook }
    end)
    local log = sb:requests()
    assert.is_true(#log >= 10)
    assert_clean(assert(cjson.encode(log)):gsub("\\/", "/"), "request log", tokens)
    local f = assert(io.open(journal, "rb"))
    local text = f:read("*a")
    f:close()
    assert.matches("oauth2/v2.0/token", text, 1, true)        -- sign-in requests are journalled too
    assert.matches('"POST"', text, 1, true)
    assert_clean(text:gsub("\\/", "/"), "journal", tokens)
  end)

  describe("the command line", function()
    local secret_file

    local function env(extra)
      local e = { VPPTOKEN_GRAPH_URL = sb.graph, AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = "rw-app",
                  AZURE_CLIENT_SECRET = CLIENT_SECRET }
      for k, v in pairs(extra or {}) do e[k] = v end
      return e
    end

    local function run(argv, extra)
      local code, out, err = cli.run(argv, { env = env(extra) })
      return code, out, err
    end

    setup(function() secret_file = helper.temp_file(CLIENT_SECRET .. "\n") end)
    teardown(function() os.remove(secret_file) end)

    it("shows no secret in any format, with --verbose, VPPTOKEN_DEBUG=1 or on errors", function()
      local texts = {}
      local function keep(code, out, err) texts[#texts + 1] = out .. "\n" .. err return code, out, err end
      local code, out, err = keep(run({ "create", "--file", cli.token_file(), "--apple-id", "cli@contoso.com",
                                        "--account-type", "business", "--country", "us", "--output", "json",
                                        "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
      assert.equal(0, code, err)
      local id = assert(cjson.decode(out)).id
      assert.matches("POST", err, 1, true)          -- --verbose / VPPTOKEN_DEBUG report the calls on stderr
      for _, fmt in ipairs{ "table", "json", "csv" } do
        keep(run({ "list", "--output", fmt, "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
        code = keep(run({ "get", id, "--output", fmt, "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
        assert.equal(0, code)
      end
      keep(run({ "update", id, "--set", "automaticallyUpdateApps=false", "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
      keep(run({ "renew", id, "--file", cli.token_file{ expDate = (files.expires_in(500)) }, "--verbose" },
               { VPPTOKEN_DEBUG = "1" }))
      keep(run({ "sync", id, "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
      code = keep(run({ "get", "no-such-id", "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
      assert.equal(4, code)
      sb:fail_next(1, 500, { method = "GET" })
      code = keep(run({ "get", id, "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
      assert.equal(6, code)
      -- two rules: on a reused connection libcurl sends a lost POST once more (see fault_matrix_spec.lua)
      sb:fail_next(2, nil, { kind = "reset_after", method = "POST" })
      keep(run({ "create", "--file", cli.token_file(), "--apple-id", "lost@contoso.com", "--verbose" },
               { VPPTOKEN_DEBUG = "1" }))
      -- the secret read from --client-secret-file, and a sign-in refused with a wrong secret
      keep(run({ "list", "--client-secret-file", secret_file, "--output", "json", "--verbose" },
               { AZURE_CLIENT_SECRET = false, VPPTOKEN_DEBUG = "1" }))
      code = keep(run({ "list", "--verbose" },
                      { AZURE_CLIENT_SECRET = CLIENT_SECRET .. "-wrong", VPPTOKEN_DEBUG = "1" }))
      assert.equal(3, code)
      keep(run({ "delete", id, "--yes", "--verbose" }, { VPPTOKEN_DEBUG = "1" }))
      assert.equal(16, #texts)
      for i, t in ipairs(texts) do assert_clean(t, "command line run " .. i) end
      -- the journal saw those runs' sign-ins and uploads, redacted
      local f = assert(io.open(journal, "rb"))
      local j = f:read("*a")
      f:close()
      assert_clean(j:gsub("\\/", "/"), "journal after the command line")
    end)

    it("signing in with a managed identity, workload identity or az shows no header, assertion or token", function()
      local assertion = write_federated_token()
      local az_token = write_az_token()
      local no_secret = { AZURE_CLIENT_SECRET = false, AZURE_CLIENT_ID = false, AZURE_TENANT_ID = false,
                          VPPTOKEN_DEBUG = "1" }
      local ways = {
        { IDENTITY_ENDPOINT = sb.url .. "/msi/token", IDENTITY_HEADER = IDENTITY_HEADER },
        { AZURE_POD_IDENTITY_AUTHORITY_HOST = sb.url },
        { AZURE_FEDERATED_TOKEN_FILE = fed_file, AZURE_CLIENT_ID = "wl-app", AZURE_TENANT_ID = TENANT },
        { PATH = dir .. "/bin:" .. os.getenv("PATH") },
        { IDENTITY_ENDPOINT = sb.url .. "/msi/token", IDENTITY_HEADER = IDENTITY_HEADER .. "-wrong" },
      }
      for i, way in ipairs(ways) do
        local e = {}
        for k, v in pairs(no_secret) do e[k] = v end
        for k, v in pairs(way) do e[k] = v end
        local code, out, err = run({ "list", "--output", "json", "--verbose" }, e)
        assert.equal(i == #ways and 3 or 0, code, err)
        assert_clean(out .. "\n" .. err, "command line, way " .. i, { IDENTITY_HEADER, assertion, az_token })
      end
    end)

    it("--show-secrets is the only way to see a token value, and it shows no credential", function()
      local code, out, err = run{ "create", "--file", cli.token_file(), "--apple-id", "show@contoso.com",
                                  "--account-type", "business", "--country", "us", "--output", "json" }
      assert.equal(0, code, err)
      local id = assert(cjson.decode(out)).id
      code, out = run{ "get", id, "--output", "json", "--show-secrets" }
      assert.equal(0, code)
      -- the sandbox never returns the token (Graph does not), so even --show-secrets has nothing to show; the
      -- credential is never printed
      assert(not out:find(CLIENT_SECRET, 1, true))
      assert(not out:find("eyJ[%w_%-]+%.eyJ"))
    end)
  end)

  -- Issue #16, device code: no refresh token, access token or ID token on any channel of a sign-in as a person.
  it("a device code sign-in (vpptoken login, whoami, list from the cache, logout) shows no token", function()
    local login = require "vpptoken.login"
    local xdg = dir .. "/xdg"
    local cache = xdg .. "/vpptoken/logins.json"
    assert.equal(200, (sb:control("POST", "devicecode/settings", { interval = 1, approve_after = 1, deny_after = 0,
                                                                   slow_down = 0 })))
    local env = { XDG_CACHE_HOME = xdg, VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_DEBUG = "1" }
    local texts = {}
    local function keep(code, out, err)
      texts[#texts + 1] = out .. "\n" .. err
      return code
    end
    assert.equal(0, keep(cli.run({ "login", "--verbose" }, { env = env })))
    local f = assert(io.open(cache, "rb"))
    local rt = assert(cjson.decode((f:read("*a")))).logins[1].refresh_token
    f:close()
    assert.equal(0, keep(cli.run({ "whoami" }, { env = env })))
    assert.equal(0, keep(cli.run({ "whoami", "--output", "json" }, { env = env })))
    assert.equal(0, keep(cli.run({ "list", "--verbose" }, { env = env })))
    local rotated = assert(io.open(cache, "rb"))
    local rt2 = assert(cjson.decode((rotated:read("*a")))).logins[1].refresh_token
    rotated:close()
    -- the library's own objects and errors: a credential, a refused refresh, the hook's reports
    local calls = {}
    local cred = assert(login.cached_credential{ base_url = sb.graph, cache_file = cache })
    texts[#texts + 1] = tostring(cred)
    local c = vpptoken.new{ base_url = sb.graph, token_provider = cred:token_provider(),
                            on_request = function(info) calls[#calls + 1] = info end }
    assert(c:list())
    assert.equal(200, (sb:control("POST", "devicecode/revoke")))
    local tok, err = cred:token(c.session, true)
    assert.is_nil(tok)
    texts[#texts + 1] = text_of(err) .. tostring(err)
    local _, lerr = c:list()
    texts[#texts + 1] = text_of(lerr) .. tostring(lerr) .. text_of(calls)
    c:close()
    assert.equal(3, keep(cli.run({ "list", "--verbose" }, { env = env })))
    assert.equal(0, keep(cli.run({ "logout" }, { env = env })))
    for i, t in ipairs(texts) do assert_clean(t, "device code run " .. i, { rt, rt2 }) end
    local j = assert(io.open(journal, "rb"))
    local jtext = j:read("*a")
    j:close()
    assert_clean(jtext:gsub("\\/", "/"), "journal after the device code sign-in", { rt, rt2 })
    assert.matches("device_code=<redacted>", jtext, 1, true)
  end)
end)
