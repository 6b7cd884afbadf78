-- Issue #16, part 4: signing in as a person with the device code flow (vpptoken.login, `vpptoken login`), the
-- per-user cache of refresh tokens, and later runs that sign in from it, against the sandbox's identity platform.
local helper = require "helper"
local cli = require "cli_support"
local cjson = require "cjson.safe"
local vpptoken = require "vpptoken"
local login = require "vpptoken.login"

local TENANT = "3c1d9a5e-52b4-4b8e-9f0a-device000016"
local PUBLIC = login.DEFAULT_CLIENT_ID
local OWN_PUBLIC = "5a7e0c11-own-public-client"
local UPN = "intune.admin@contoso.example"
local SLOW = helper.SLOW

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function mode_of(path)
  return sh("stat -c %a " .. helper.shell_quote(path))
end

describe("signing in as a person (device code)", function()
  local dir, apps_file, sb, n = nil, nil, nil, 0
  local cache_dir, cache_file

  setup(function()
    dir = sh("mktemp -d")
    apps_file = dir .. "/apps.json"
    local f = assert(io.open(apps_file, "w"))
    f:write((assert(cjson.encode({ tenant = TENANT, apps = {
      { client_id = PUBLIC, public = true },
      { client_id = OWN_PUBLIC, public = true, permissions = { "DeviceManagementApps.ReadWrite.All" } },
      { client_id = "confidential-app", client_secret = "confidential-secret" },
    } }))))
    f:close()
    sb = helper.start_sandbox({ "--apps", apps_file })
  end)

  teardown(function()
    if sb then sb:stop() end
    if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  -- The sandbox's device code settings for the next codes (interval 1 s; nothing approved by itself).
  local function settings(s)
    local body = { interval = 1, expires_in = 900, slow_down = 0, approve_after = 0, deny_after = 0, upn = UPN }
    for k, v in pairs(s or {}) do body[k] = v end
    local st = sb:control("POST", "devicecode/settings", body)
    assert.equal(200, st)
  end

  local function codes()
    local st, body = sb:control("GET", "devicecode")
    assert.equal(200, st)
    return body.value
  end

  local function code_of(user_code)
    for _, c in ipairs(codes()) do if c.user_code == user_code then return c end end
  end

  before_each(function()
    sb:reset()
    settings()
    n = n + 1
    cache_dir = dir .. "/cache" .. n
    cache_file = cache_dir .. "/vpptoken/logins.json"
  end)

  local function opts(extra)
    local o = { base_url = sb.graph, cache_file = cache_file, timeout = 30 * SLOW }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  -- Signs in, doing `act` ("approve", "deny" or nothing) with the user code the person is shown.
  local function sign_in(act, extra)
    local shown
    local o = opts(extra)
    o.on_message = function(m)
      shown = m
      if act then
        local st = sb:control("POST", "devicecode/" .. act, { user_code = m.user_code })
        assert.equal(200, st)
      end
    end
    local info, err = login.device_code(o)
    return info, err, shown
  end

  local function cached()
    return cjson.decode((assert(read(cache_file))))
  end

  it("approved in the browser: the sign-in is cached and a later client lists tokens with it", function()
    local info, err, shown = sign_in("approve")
    assert.is_nil(err)
    assert.equal(UPN, info.account)
    assert.equal(TENANT, info.tenant_id)
    assert.matches("https://microsoft.com/devicelogin", shown.message, 1, true)
    assert.matches(shown.user_code, shown.message, 1, true)
    assert.equal("https://microsoft.com/devicelogin", shown.verification_uri)
    -- another run: nothing but the cache
    local cred = assert(login.cached_credential{ base_url = sb.graph, cache_file = cache_file })
    local client = vpptoken.new{ base_url = sb.graph, token_provider = cred:token_provider() }
    local list, lerr = client:list()
    assert.is_nil(lerr)
    assert.same({}, list)
    local log = sb:requests()
    assert.equal("Bearer <redacted>", log[#log].headers.authorization)
    client:close()
  end)

  it("vpptoken.from_env signs in with the cached sign-in when the environment names no other way", function()
    assert(sign_in("approve"))
    local env = { XDG_CACHE_HOME = cache_dir, VPPTOKEN_GRAPH_URL = sb.graph }
    local ok, way = vpptoken.credentials_in_env(nil, env)
    assert.is_true(ok, way)
    assert.equal("vpptoken login", way)
    local client = vpptoken.from_env(nil, env)
    local list, lerr = client:list()
    assert.is_nil(lerr)
    assert.same({}, list)
    client:close()
    -- nothing cached there: the chain's message says so, with the other ways' reasons
    local none, why = vpptoken.credentials_in_env(nil, { XDG_CACHE_HOME = dir .. "/empty",
                                                        VPPTOKEN_GRAPH_URL = sb.graph })
    assert.is_false(none)
    assert.matches("vpptoken login: no cached sign-in for ", why, 1, true)
    assert.matches("managed identity: ", why, 1, true)
  end)

  it("an az on PATH that is not signed in steps aside for vpptoken login's cached sign-in", function()
    -- a fake Azure CLI that is installed but signed out, as `az account get-access-token` is then
    local bin = dir .. "/az-signed-out"
    assert(os.execute("mkdir -p " .. helper.shell_quote(bin)))
    local f = assert(io.open(bin .. "/az", "w"))
    f:write("#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n")
    f:close()
    assert(os.execute("chmod +x " .. helper.shell_quote(bin .. "/az")))
    local path = bin .. ":/usr/bin:/bin"
    -- nobody signed in anywhere: the error names every way and why
    local code, _, err = cli.run({ "list" }, { env = { XDG_CACHE_HOME = cache_dir, VPPTOKEN_GRAPH_URL = sb.graph,
                                                     PATH = path } })
    assert.equal(3, code, err)
    assert.matches("Please run 'az login'", err, 1, true)
    assert.matches("vpptoken login: no cached sign-in", err, 1, true)
    assert.matches("managed identity: ", err, 1, true)
    -- signed in with vpptoken login: it is used, az having said it has no token
    assert(sign_in("approve"))
    local env = { XDG_CACHE_HOME = cache_dir, VPPTOKEN_GRAPH_URL = sb.graph, PATH = path }
    code, _, err = cli.run({ "list", "-o", "json" }, { env = env })
    assert.equal(0, code, err)
    local client = vpptoken.from_env(nil, env)
    local list, lerr = client:list()
    client:close()
    assert.is_nil(lerr)
    assert.same({}, list)
  end)

  it("keeps polling while the code is pending, at the server's interval", function()
    settings{ approve_after = 3 }
    local info, err, shown = sign_in(nil)
    assert.is_nil(err)
    assert.equal(UPN, info.account)
    local c = code_of(shown.user_code)
    assert.equal(3, c.polls)
    assert.equal("redeemed", c.status)
  end)

  it("slows down by 5 seconds when the server answers slow_down", function()
    settings{ slow_down = 1, approve_after = 2 }
    local info, err, shown = sign_in(nil)
    assert.is_nil(err)
    assert.equal(UPN, info.account)
    local c = code_of(shown.user_code)
    assert.equal(2, c.polls) -- a second slow_down would have meant a third poll
    -- the sandbox's clock at each poll: 1 s before the slow_down, 1 + 5 s after it
    assert.is_true(c.poll_times[2] - c.poll_times[1] >= 5.5, "polled again after "
      .. (c.poll_times[2] - c.poll_times[1]) .. " s")
  end)

  it("ends with DeviceCodeExpired when nobody signs in before the code expires", function()
    settings{ expires_in = 2 }
    local info, err = sign_in(nil)
    assert.is_nil(info)
    assert.equal("auth", err.kind)
    assert.equal("DeviceCodeExpired", err.code)
    assert.matches("run 'vpptoken login' again", err.message, 1, true)
    assert.is_nil(read(cache_file))
  end)

  it("ends with LoginDeclined when the person declines, and caches nothing", function()
    local info, err = sign_in("deny")
    assert.is_nil(info)
    assert.equal("LoginDeclined", err.code)
    assert.equal(400, err.status)
    assert.is_nil(read(cache_file))
  end)

  it("reports the identity platform's error for an app that is not a public client", function()
    local info, err = sign_in(nil, { client_id = "confidential-app" })
    assert.is_nil(info)
    assert.equal("auth", err.kind)
    assert.equal("invalid_client", err.code)
  end)

  it("keeps the cache 0600 in a 0700 directory, replaced atomically (no temporary file left)", function()
    assert(sign_in("approve"))
    assert.equal("600", mode_of(cache_file))
    assert.equal("700", mode_of(cache_dir .. "/vpptoken"))
    assert(sign_in("approve", { client_id = OWN_PUBLIC }))
    assert.equal("logins.json", sh("ls -A " .. helper.shell_quote(cache_dir .. "/vpptoken")))
    assert.equal("600", mode_of(cache_file))
    local doc = cached()
    assert.equal(2, #doc.logins)
    for _, e in ipairs(doc.logins) do assert.is_nil(e.access_token) end
  end)

  it("refuses a cache that group or others may read, saying how to fix it", function()
    assert(sign_in("approve"))
    assert(os.execute("chmod 644 " .. helper.shell_quote(cache_file)))
    local cred, err = login.cached_credential{ base_url = sb.graph, cache_file = cache_file }
    assert.is_nil(cred)
    assert.equal("LoginCacheError", err.code)
    assert.matches("chmod 600", err.message, 1, true)
    local info, werr = login.whoami{ base_url = sb.graph, cache_file = cache_file }
    assert.is_nil(info)
    assert.equal("LoginCacheError", werr.code)
  end)

  it("refuses a cache directory group or others may enter", function()
    assert(os.execute("mkdir -p " .. helper.shell_quote(cache_dir .. "/vpptoken") .. " && chmod 755 "
      .. helper.shell_quote(cache_dir .. "/vpptoken")))
    local info, err = sign_in("approve")
    assert.is_nil(info)
    assert.equal("LoginCacheError", err.code)
    assert.matches("chmod 700", err.message, 1, true)
  end)

  it("checks the cache before asking anyone to sign in, so no sign-in is thrown away", function()
    local function refused_before_asking(setup, fix)
      assert(os.execute(setup))
      local sent = {}
      local info, err, shown = sign_in("approve", { on_request = function(i) sent[#sent + 1] = i.url end })
      assert.is_nil(info)
      assert.equal("LoginCacheError", err.code)
      assert.matches(fix, err.message, 1, true)
      assert.is_nil(shown) -- nobody was asked to sign in
      assert.same({}, sent) -- nor any device code asked for
    end
    local q = helper.shell_quote
    refused_before_asking("mkdir -p " .. q(cache_dir .. "/vpptoken") .. " && chmod 755 " .. q(cache_dir .. "/vpptoken"),
      "chmod 700")
    refused_before_asking("chmod 700 " .. q(cache_dir .. "/vpptoken") .. " && echo '{}' > " .. q(cache_file)
      .. " && chmod 644 " .. q(cache_file), "chmod 600")
    -- the command line too: no code shown
    local code, _, errs = cli.run({ "login" }, { env = { XDG_CACHE_HOME = cache_dir, VPPTOKEN_GRAPH_URL = sb.graph } })
    assert.equal(3, code, errs)
    assert.matches("chmod 600", errs, 1, true)
    assert.is_nil(errs:find("enter the code", 1, true), errs)
  end)

  it("without a tenant or client id, later runs use the newest sign-in (your own public client too)", function()
    assert(sign_in("approve"))
    assert(sign_in("approve", { client_id = OWN_PUBLIC, tenant_id = TENANT }))
    local info = assert(login.whoami{ base_url = sb.graph, cache_file = cache_file })
    assert.equal(OWN_PUBLIC, info.client_id)
    assert.equal(TENANT, info.tenant)
    local cred = assert(login.cached_credential{ base_url = sb.graph, cache_file = cache_file })
    local client = vpptoken.new{ base_url = sb.graph, token_provider = cred:token_provider() }
    assert(client:list())
    client:close()
    info = assert(login.whoami{ base_url = sb.graph, cache_file = cache_file, client_id = PUBLIC })
    assert.equal("organizations", info.tenant)
    assert.is_nil(login.whoami{ base_url = sb.graph, cache_file = cache_file, tenant_id = "other-tenant" })
  end)

  it("logout removes the sign-in; a second logout finds none", function()
    assert(sign_in("approve"))
    assert.is_true(login.logout{ base_url = sb.graph, cache_file = cache_file })
    assert.is_nil(read(cache_file))
    assert.is_false(login.logout{ base_url = sb.graph, cache_file = cache_file })
    local cred, err = login.cached_credential{ base_url = sb.graph, cache_file = cache_file }
    assert.is_nil(cred)
    assert.equal("NotSignedIn", err.code)
  end)

  it("whoami shows the account, tenant, scopes and expiry from the cache", function()
    assert(sign_in("approve"))
    local info = assert(login.whoami{ base_url = sb.graph, cache_file = cache_file })
    assert.equal(UPN, info.account)
    assert.equal(TENANT, info.tenant_id)
    assert.equal(PUBLIC, info.client_id)
    assert.same({ "DeviceManagementApps.ReadWrite.All" }, info.scopes)
    assert.is_true(info.expires_at > os.time())
  end)

  it("a refresh rotates the cached refresh token (the old one is refused)", function()
    assert(sign_in("approve"))
    local before = cached().logins[1].refresh_token
    local cred = assert(login.cached_credential{ base_url = sb.graph, cache_file = cache_file })
    local client = vpptoken.new{ base_url = sb.graph, token_provider = cred:token_provider() }
    assert(client:list())
    client:close()
    local after = cached().logins[1].refresh_token
    assert.is_string(after)
    assert.not_equal(before, after)
    local st, body = helper.http("POST", sb.url .. "/organizations/oauth2/v2.0/token",
      "grant_type=refresh_token&client_id=" .. PUBLIC .. "&refresh_token=" .. before,
      { ["content-type"] = "application/x-www-form-urlencoded" })
    assert.equal(400, st)
    assert.equal("invalid_grant", body.error)
  end)

  it("a refused refresh (invalid_grant) says to run vpptoken login again", function()
    assert(sign_in("approve"))
    assert.equal(200, (sb:control("POST", "devicecode/revoke")))
    local cred = assert(login.cached_credential{ base_url = sb.graph, cache_file = cache_file })
    local client = vpptoken.new{ base_url = sb.graph, token_provider = cred:token_provider() }
    local tok, err = cred:token(client.session)
    assert.is_nil(tok)
    assert.equal("auth", err.kind)
    assert.equal("LoginExpired", err.code)
    assert.matches("run 'vpptoken login' again", err.message, 1, true)
    local list, lerr = client:list()
    assert.is_nil(list)
    assert.equal("auth", lerr.kind)
    assert.matches("run 'vpptoken login' again", tostring(lerr), 1, true)
    client:close()
  end)

  it("refuses misspelt options and a missing on_message", function()
    assert.has_error(function() login.device_code{ on_mesage = print } end)
    assert.has_error(function() login.device_code{ base_url = sb.graph } end)
    assert.has_error(function() login.whoami{ tenant_id = "" } end)
  end)

  describe("on the command line", function()
    local function env(extra)
      local e = { XDG_CACHE_HOME = cache_dir, VPPTOKEN_GRAPH_URL = sb.graph }
      for k, v in pairs(extra or {}) do e[k] = v end
      return e
    end

    it("login prints the code on stderr; later commands need nothing else; logout forgets it", function()
      settings{ approve_after = 2 }
      local code, out, err = cli.run({ "login" }, { env = env() })
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.matches("https://microsoft.com/devicelogin", err, 1, true)
      assert.matches("signed in as " .. UPN, err, 1, true)
      -- against a sandbox, it says how to approve the code there
      local user_code = err:match("enter the code ([%w%-]+)")
      assert.truthy(user_code, err)
      assert.matches("This is a sandbox: approve the code with\n  curl -X POST -d '{\"user_code\":\"" .. user_code
        .. "\"}' " .. sb.url .. "/_sandbox/devicecode/approve", err, 1, true)
      assert.equal("600", mode_of(cache_file))
      code, out, err = cli.run({ "list", "--output", "json" }, { env = env() })
      assert.equal(0, code, err)
      assert.same({}, cjson.decode(out))
      code, out, err = cli.run({ "logout" }, { env = env() })
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.is_nil(read(cache_file))
      code, out, err = cli.run({ "list" }, { env = env() })
      assert.equal(3, code)
      assert.equal("", out)
      assert.matches("run 'vpptoken login'", err, 1, true)
    end)

    it("against a sandbox, the approve command login prints is what a person runs to sign in", function()
      settings{ approve_after = 0 } -- nothing approves the code but the person
      local code, err, approved = cli.login_approving(env())
      assert.is_true(approved, "the printed approve command did not run: " .. err)
      assert.equal(0, code, err)
      assert.matches("signed in as " .. UPN, err, 1, true)
    end)

    it("whoami prints the account and never a token", function()
      settings{ approve_after = 1 }
      assert.equal(0, (cli.run({ "login", "--quiet" }, { env = env() })))
      local rt = cached().logins[1].refresh_token
      local code, out, err = cli.run({ "whoami" }, { env = env() })
      assert.equal(0, code, err)
      assert.matches(UPN, out, 1, true)
      assert.matches(TENANT, out, 1, true)
      assert.matches("DeviceManagementApps.ReadWrite.All", out, 1, true)
      for _, text in ipairs{ out, err } do
        assert.is_nil(text:find(rt, 1, true))
        assert.is_nil(text:find("eyJ[%w_%-]+%.eyJ"))
      end
      code, out = cli.run({ "whoami", "--output", "json" }, { env = env() })
      assert.equal(0, code)
      assert.equal(UPN, cjson.decode(out).account)
    end)

    it("a declined sign-in exits 3; a cache others may read is refused with exit 3", function()
      settings{ deny_after = 1 }
      local code, _, err = cli.run({ "login" }, { env = env() })
      assert.equal(3, code)
      assert.matches("declined", err, 1, true)
      settings{ approve_after = 1 }
      assert.equal(0, (cli.run({ "login" }, { env = env() })))
      assert(os.execute("chmod 644 " .. helper.shell_quote(cache_file)))
      code, _, err = cli.run({ "list" }, { env = env() })
      assert.equal(3, code)
      assert.matches("chmod 600", err, 1, true)
    end)

    it("whoami without a sign-in exits 3 and says to log in", function()
      local code, _, err = cli.run({ "whoami" }, { env = env() })
      assert.equal(3, code)
      assert.matches("vpptoken login", err, 1, true)
    end)
  end)
end)
