-- Issue #16: signing in without a secret of one's own: a managed identity (App Service's endpoint and a VM's IMDS),
-- workload identity federation (a rotated token file), the Azure CLI (a fake az on PATH), and the chain
-- vpptoken.from_env tries; each through the Lua API, from_env and the command line, against the sandbox.
local helper = require "helper"
local jwt = require "support.jwt"
local cli = require "cli_support"
local cjson = require "cjson.safe"
local vpptoken = require "vpptoken"
local auth = require "vpptoken.auth"
local core = require "vpptoken.core"

local TENANT = "2f6b9c1d-16aa-4e0b-9f3e-signin000016"
local HEADER = "Identity-H3ader-never-shown-4471"
local ISSUER = "https://oidc.example.test/cluster-1"
local SUBJECT = "system:serviceaccount:intune:vpp-renewer"
local SLOW = helper.SLOW

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("signing in without a secret", function()
  local dir, apps_file, issuer_key, other_key, fed_file, az_path

  setup(function()
    dir = helper.temp_dir()
    local _, key = jwt.make_app_cert(dir, "issuer")
    issuer_key = key
    local _, okey = jwt.make_app_cert(dir, "other")
    other_key = okey
    apps_file = dir .. "/apps.json"
    write(apps_file, assert(cjson.encode{
      tenant = TENANT, identity_header = HEADER,
      managed_identities = {
        { client_id = "mi-system", system = true },
        { client_id = "mi-user", object_id = "oid-user", resource_id = "/subscriptions/s/rg/mi-user" },
        { client_id = "mi-reader", permissions = { "DeviceManagementServiceConfig.Read.All" } },
      },
      apps = {
        { client_id = "wl-app", federated = { { issuer = ISSUER, subject = SUBJECT, certificate = "issuer.crt" } } },
      },
    }))
    fed_file = dir .. "/federated-token"
    os.execute("mkdir -p " .. helper.shell_quote(dir .. "/bin"))
    az_path = dir .. "/bin/az"
    local d = helper.shell_quote(dir)
    -- A fake Azure CLI: writes its arguments, then does what $DIR/az_mode says.
    write(az_path, table.concat({
      "#!/bin/sh",
      "printf '%s\\n' \"$@\" > " .. d .. "/az_args",
      "case \"$(cat " .. d .. "/az_mode)\" in",
      "  ok) cat " .. d .. "/az_out ;;",
      "  signedout) echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1 ;;",
      "  hang) sleep 600 & echo $! > " .. d .. "/az_pid; wait ;;",
      "  killed) kill -9 $$ ;;",
      "  background) (sleep 20) & cat " .. d .. "/az_out ;;",
      "esac", "" }, "\n"))
    os.execute("chmod +x " .. helper.shell_quote(az_path))
  end)

  teardown(function()
    helper.remove_tree(dir)
  end)

  local sb = helper.sandbox_suite(function() return { "--apps", apps_file } end)

  -- calls reported through on_request
  local calls
  local function record(info) calls[#calls + 1] = info end
  local function calls_to(pattern)
    local n = 0
    for _, c in ipairs(calls) do if c.url:match(pattern) then n = n + 1 end end
    return n
  end

  before_each(function()
    auth.clear_cache()
    calls = {}
  end)

  local function federated_token(o)
    o = o or {}
    return (jwt.assertion{ key = o.key or issuer_key, iss = o.iss or ISSUER, sub = o.sub or SUBJECT,
                           aud = "api://AzureADTokenExchange", client_id = "wl-app" })
  end

  local function minted(client_id)
    local status, body = helper.http("POST", sb.url .. "/_sandbox/token", { client_id = client_id })
    assert.equal(200, status)
    return body.access_token
  end

  local function set_az(mode, out)
    write(dir .. "/az_mode", mode .. "\n")
    if out then write(dir .. "/az_out", out) end
  end

  local function failures_left()
    local status, body = helper.http("GET", sb.url .. "/_sandbox/identity/fail")
    assert.equal(200, status)
    return body.count
  end

  local function fail_identity(count, status)
    assert.equal(200, (helper.http("POST", sb.url .. "/_sandbox/identity/fail", { count = count, status = status })))
  end

  local function getenv_of(t) return function(k) return t[k] end end

  describe("managed identity", function()
    it("App Service's endpoint gives a token Graph accepts, once for many calls", function()
      local c = vpptoken.new{ base_url = sb.graph, on_request = record,
                              managed_identity = { endpoint = sb.url .. "/msi/token", header = HEADER } }
      assert(c:create{ token = helper.apple_token() })
      assert(c:list())
      c:close()
      assert.equal(1, calls_to("/msi/token%?"))
      assert.matches("api%-version=2019%-08%-01", calls[1].url)
      assert.matches("resource=" .. core.escape(sb.url), calls[1].url, 1, true)
    end)

    it("a user-assigned identity is picked by client_id, object_id or resource_id", function()
      for _, pick in ipairs{ { client_id = "mi-user" }, { object_id = "oid-user" },
                             { resource_id = "/subscriptions/s/rg/mi-user" } } do
        auth.clear_cache()
        pick.endpoint, pick.header = sb.url .. "/msi/token", HEADER
        local c = vpptoken.new{ base_url = sb.graph, managed_identity = pick }
        assert(c:list())
        c:close()
      end
      -- the reader identity's token is refused a write: the identity asked for is the one used
      local r = vpptoken.new{ base_url = sb.graph,
                              managed_identity = { client_id = "mi-reader", endpoint = sb.url .. "/msi/token",
                                                   header = HEADER } }
      assert(r:list())
      local ok, err = r:create{ token = helper.apple_token() }
      r:close()
      assert.is_nil(ok)
      assert.equal(403, err.status)
    end)

    it("a wrong identity header is an auth error that does not show the header", function()
      -- even after a client with the right header got a token
      local good = vpptoken.new{ base_url = sb.graph,
                                 managed_identity = { endpoint = sb.url .. "/msi/token", header = HEADER } }
      assert(good:list())
      good:close()
      local c = vpptoken.new{ base_url = sb.graph,
                              managed_identity = { endpoint = sb.url .. "/msi/token", header = "wrong-" .. HEADER } }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.is_nil(tostring(err):find(HEADER, 1, true))
    end)

    it("IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST's host) gives a token; its expires_on is text", function()
      local c = vpptoken.new{ base_url = sb.graph, on_request = record, managed_identity = { imds_host = sb.url } }
      assert(c:list())
      assert(c:list())
      c:close()
      assert.equal(1, calls_to("/metadata/identity/oauth2/token%?"))
      assert.matches("api%-version=2018%-02%-01", calls[1].url)
      -- the answers' expires_on: a string from IMDS, a number from App Service, both read
      local _, imds = helper.http("GET", sb.url .. "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
        .. core.escape(sb.url), nil, { Metadata = "true" })
      assert.equal("string", type(imds.expires_on))
      local _, app = helper.http("GET", sb.url .. "/msi/token?api-version=2019-08-01&resource=" .. core.escape(sb.url),
        nil, { ["X-IDENTITY-HEADER"] = HEADER })
      assert.equal("number", type(app.expires_on))
    end)

    it("IMDS answers of 410, 429 and 500 are tried again, and no more than max_retries times", function()
      for _, status in ipairs{ 410, 429, 500 } do
        auth.clear_cache()
        fail_identity(2, status)
        local c = vpptoken.new{ base_url = sb.graph, managed_identity = { imds_host = sb.url }, max_retries = 3,
                                retry_delay = 0.01 }
        assert(c:list())
        c:close()
        assert.equal(0, failures_left())
        auth.clear_cache()
        fail_identity(100, status)
        local d = vpptoken.new{ base_url = sb.graph, managed_identity = { imds_host = sb.url }, max_retries = 2,
                                retry_delay = 0.01 }
        local ok, err = d:list()
        d:close()
        assert.is_nil(ok)
        assert.equal("auth", err.kind)
        assert.equal(status, err.status)
        assert.equal(100 - 3, failures_left(), "attempts for " .. status)
      end
      fail_identity(0, 500)
    end)

    it("an IMDS error's description is the error's message", function()
      local c = vpptoken.new{ base_url = sb.graph, managed_identity = { imds_host = sb.url, client_id = "nobody" } }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal(400, err.status)
      assert.equal("invalid_request", err.code)
      assert.equal("Identity not found", err.message)
    end)

    it("plain http goes to 169.254.169.254 for the IMDS token request only, never to Graph there", function()
      assert.error_matches(function()
        vpptoken.new{ base_url = "http://169.254.169.254/v1.0", access_token = "t" }
      end, "only to a loopback address")
      assert.is_nil((core.check_url("http://169.254.169.254/metadata/identity/oauth2/token")))
      local s = core.session{}
      assert.error_matches(function()
        s:request("GET", "http://169.254.169.254/v1.0/deviceAppManagement/vppTokens", nil, nil, "imds")
      end, "only to a loopback address")
      assert.error_matches(function()
        s:request("GET", "http://169.254.169.254:8080/metadata/identity/oauth2/token", nil, nil, "imds")
      end, "only to a loopback address")
      assert.error_matches(function()
        s:request("POST", "http://169.254.169.254/metadata/identity/oauth2/token", nil, nil, "imds")
      end, "imds mode is for a GET")
      s:close()
      assert.error_matches(function()
        vpptoken.new{ base_url = sb.graph, managed_identity = { imds_host = "http://10.1.2.3" } }
      end, "only to a loopback address")
    end)

    it("managed_identity's options are checked", function()
      assert.error_matches(function() vpptoken.new{ managed_identity = { clientid = "x" } } end,
        "did you mean 'client_id'")
      assert.error_matches(function() vpptoken.new{ managed_identity = { client_id = "a", object_id = "b" } } end,
        "one of client_id, object_id, resource_id")
      assert.error_matches(function() vpptoken.new{ managed_identity = "yes" } end, "must be true or a table")
      assert.error_matches(function() vpptoken.new{ managed_identity = { endpoint = 8080 } } end,
        "managed_identity.endpoint must be a non%-empty string")
    end)
  end)

  describe("workload identity", function()
    it("the token file's JWT is the client assertion, and a rotated file is read again", function()
      write(fed_file, federated_token() .. "\n")
      local c = vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "wl-app",
                              federated_token_file = fed_file, on_request = record }
      assert(c:create{ token = helper.apple_token() })
      assert.equal(1, calls_to("/oauth2/v2%.0/token$"))
      -- rotated to a token of another subject: the next sign-in reads it (and is refused for it)
      write(fed_file, federated_token{ sub = "system:serviceaccount:other:sa" })
      auth.clear_cache()
      local ok, err = c:list()
      assert.is_nil(ok)
      assert.equal("auth", err.kind)
      assert.matches("700213", err.message)
      -- and a token signed with another key is refused too
      write(fed_file, federated_token{ key = other_key })
      ok, err = c:list()
      assert.is_nil(ok)
      assert.matches("signature", err.message)
      write(fed_file, federated_token())
      assert(c:list())
      c:close()
    end)

    it("a missing token file is an auth error naming the file", function()
      local c = vpptoken.new{ base_url = sb.graph, tenant_id = TENANT, client_id = "wl-app",
                              federated_token_file = dir .. "/no-such-file" }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("FederatedTokenFileError", err.code)
      assert.matches("no-such-file", err.message, 1, true)
    end)
  end)

  describe("Azure CLI", function()
    it("the signed-in user's token is used; az is run without a shell with the Graph resource", function()
      local tomorrow = os.date("%Y-%m-%d %H:%M:%S.000000", os.time() + 86400) -- az writes local time
      set_az("ok", assert(cjson.encode{ accessToken = minted("wl-app"), expiresOn = tomorrow, tokenType = "Bearer",
                                        tenant = TENANT }))
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path }, tenant_id = TENANT }
      assert(c:list())
      c:close()
      local f = assert(io.open(dir .. "/az_args"))
      local args = f:read("*a")
      f:close()
      assert.equal(table.concat({ "account", "get-access-token", "--resource", sb.url, "--output", "json",
                                  "--tenant=" .. TENANT, "" }, "\n"), args)
    end)

    it("a tenant id that starts with '-' reaches az as the tenant, never as an option", function()
      set_az("ok", assert(cjson.encode{ accessToken = minted("wl-app"), expires_on = os.time() + 3600 }))
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path }, tenant_id = "--help" }
      assert(c:list())
      c:close()
      local f = assert(io.open(dir .. "/az_args"))
      local args = f:read("*a")
      f:close()
      assert.equal("\n--tenant=--help\n", args:sub(-#"\n--tenant=--help\n"))
    end)

    it("an az killed by a signal is an auth error saying so", function()
      set_az("killed")
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path } }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("auth", err.kind)
      assert.equal("AzureCliFailed", err.code)
      assert.matches("killed by signal 9", err.message, 1, true)
      assert.is_nil(err.message:find(": ;", 1, true), err.message)
      assert.is_nil(err.message:find("signal 9)", 1, true), err.message)
    end)

    it("expires_on (epoch seconds) is read as well as expiresOn", function()
      set_az("ok", assert(cjson.encode{ accessToken = minted("wl-app"), expires_on = os.time() + 3600 }))
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path } }
      assert(c:list())
      c:close()
    end)

    it("not signed in is a clear auth error with az's own message", function()
      set_az("signedout")
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path } }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("auth", err.kind)
      assert.equal("AzureCliNotSignedIn", err.code)
      assert.matches("Please run 'az login'", err.message, 1, true)
      assert.matches("exit status 1", err.message, 1, true)
    end)

    it("an az that hangs is stopped at the timeout, with what it started", function()
      set_az("hang")
      os.remove(dir .. "/az_pid")
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path, timeout = 2 * SLOW } }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("AzureCliTimeout", err.code)
      local f = assert(io.open(dir .. "/az_pid"))
      local pid = assert(f:read("*n"))
      f:close()
      -- the sleep az started was in its process group: killed too (gone, or a zombie its new parent has not
      -- reaped yet)
      -- (SIGKILL takes effect when the process is next scheduled: look again for a while)
      local function state()
        local stat = io.open("/proc/" .. pid .. "/stat")
        if not stat then return "gone" end
        local st = stat:read("*a"):match("^%d+ %b() (%a)")
        stat:close()
        return st or "gone"
      end
      for _ = 1, 200 do
        if state() == "Z" or state() == "gone" then break end
        core.sleep(0.05)
      end
      assert.is_truthy(state() == "Z" or state() == "gone", "the sleep az started is still " .. state())
    end)

    it("an az that leaves a helper running with its output open is read when az itself exits", function()
      set_az("background", assert(cjson.encode{ accessToken = minted("wl-app"), expires_on = os.time() + 3600 }))
      -- the helper outlives the timeout: waiting for the output to close would be AzureCliTimeout
      local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = az_path, timeout = 10 } }
      assert(c:list())
      c:close()
    end)

    it("no az at the path given is an auth error saying so", function()
      for _, command in ipairs{ dir .. "/no-az", "no-such-az-program-16" } do
        local c = vpptoken.new{ base_url = sb.graph, azure_cli = { command = command } }
        local ok, err = c:list()
        c:close()
        assert.is_nil(ok)
        assert.equal("AzureCliNotFound", err.code, command)
      end
    end)
  end)

  describe("the chain of from_env", function()
    it("takes each way from its variables", function()
      write(fed_file, federated_token())
      set_az("ok", assert(cjson.encode{ accessToken = minted("mi-system"), expires_on = os.time() + 3600 }))
      local cases = {
        { "managed identity", { IDENTITY_ENDPOINT = sb.url .. "/msi/token", IDENTITY_HEADER = HEADER } },
        { "managed identity", { AZURE_POD_IDENTITY_AUTHORITY_HOST = sb.url } },
        { "managed identity", { AZURE_POD_IDENTITY_AUTHORITY_HOST = sb.url, AZURE_CLIENT_ID = "mi-user" } },
        { "workload identity", { AZURE_FEDERATED_TOKEN_FILE = fed_file, AZURE_CLIENT_ID = "wl-app",
                                 AZURE_TENANT_ID = TENANT } },
        { "Azure CLI", { PATH = dir .. "/bin" } },
      }
      for _, case in ipairs(cases) do
        auth.clear_cache()
        local env = case[2]
        env.VPPTOKEN_GRAPH_URL = sb.graph
        local ok, name = vpptoken.credentials_in_env(nil, getenv_of(env))
        assert.is_true(ok)
        assert.equal(case[1], name)
        local c = vpptoken.from_env(nil, getenv_of(env))
        assert(c:list())
        c:close()
      end
    end)

    it("tries the ways in the documented order", function()
      local all = { AZURE_CLIENT_SECRET = "s", AZURE_CLIENT_ID = "c", AZURE_TENANT_ID = "t",
                    AZURE_FEDERATED_TOKEN_FILE = "/f", IDENTITY_ENDPOINT = "http://127.0.0.1:1/msi",
                    IDENTITY_HEADER = "h", PATH = dir .. "/bin" }
      local order = { { "AZURE_CLIENT_SECRET", "environment" }, { "AZURE_FEDERATED_TOKEN_FILE", "workload identity" },
                      { "IDENTITY_ENDPOINT", "managed identity" }, { "PATH", "Azure CLI" } }
      for _, step in ipairs(order) do
        local _, name = vpptoken.credentials_in_env(nil, getenv_of(all))
        assert.equal(step[2], name)
        all[step[1]] = nil
      end
      assert.is_false((vpptoken.credentials_in_env(nil, getenv_of(all))))
    end)

    it("when nothing applies, one message says why for each way, naming variables", function()
      local ok, msg = vpptoken.credentials_in_env(nil, getenv_of{ AZURE_FEDERATED_TOKEN_FILE = "/f", PATH = "/none" })
      assert.is_false(ok)
      for _, part in ipairs{ "set VPPTOKEN_ACCESS_TOKEN", "environment: neither VPPTOKEN_ACCESS_TOKEN",
                             "workload identity: AZURE_FEDERATED_TOKEN_FILE is set, but AZURE_TENANT_ID",
                             "managed identity: IDENTITY_ENDPOINT is not set", "VPPTOKEN_MANAGED_IDENTITY=1",
                             "Azure CLI: no az program on PATH" } do
        assert.matches(part, msg, 1, true)
      end
      assert.is_nil(msg:find("\n"))
      assert.error_matches(function()
        vpptoken.from_env(nil, getenv_of{ AZURE_FEDERATED_TOKEN_FILE = "/f" })
      end, "workload identity: AZURE_FEDERATED_TOKEN_FILE is set", 1, true)
    end)
  end)

  describe("the command line", function()
    local function run_list(env)
      env.VPPTOKEN_GRAPH_URL = sb.graph
      local code, out, err = cli.run({ "list", "--verbose" }, { env = env })
      assert.equal(0, code, err)
      assert.is_nil((out .. err):find(HEADER, 1, true))
      assert.is_nil((out .. err):find("eyJ[%w_%-]+%.eyJ"))
      return out, err
    end

    it("signs in with a managed identity, workload identity or az from the environment", function()
      run_list{ IDENTITY_ENDPOINT = sb.url .. "/msi/token", IDENTITY_HEADER = HEADER }
      run_list{ AZURE_POD_IDENTITY_AUTHORITY_HOST = sb.url }
      write(fed_file, federated_token())
      run_list{ AZURE_FEDERATED_TOKEN_FILE = fed_file, AZURE_CLIENT_ID = "wl-app", AZURE_TENANT_ID = TENANT }
      set_az("ok", assert(cjson.encode{ accessToken = minted("wl-app"), expires_on = os.time() + 3600 }))
      run_list{ PATH = dir .. "/bin:" .. os.getenv("PATH") }
    end)

    it("with nothing to sign in with, says why for each way with --verbose", function()
      local code, _, err = cli.run({ "list", "--verbose" }, { env = { VPPTOKEN_GRAPH_URL = sb.graph,
                                                                      PATH = "/usr/bin:/bin" } })
      assert.equal(3, code)
      err = err:gsub("%s+", " ")
      assert.matches("workload identity: AZURE_FEDERATED_TOKEN_FILE is not set", err, 1, true)
      assert.matches("Azure CLI: no az program on PATH", err, 1, true)
    end)
  end)
end)
