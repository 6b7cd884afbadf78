-- Signing in against hostile answers: a managed-identity endpoint, a fake Azure CLI, a device code endpoint and a
-- sign-in cache file that send the worst values they can. Every call ends with a result or `nil, err` within a
-- bound, never raises, and no secret goes to another host or into a message.
local helper = require "helper"
local cli = require "cli_support"
local cjson = require "cjson.safe"
local vpptoken = require "vpptoken"
local auth = require "vpptoken.auth"
local login = require "vpptoken.login"
local socket = require "socket"
-- room for a memory checker in a bound on time
local SLOW = helper.SLOW

local HEADER = "Identity-H3ader-hostile-9911"
local DEVICE_CODE = "device-code-hostile-5521"

local function write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " " .. helper.shell_quote(path)) end
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- A Graph that answers every list with no tokens: a call that got a token succeeds.
local GRAPH = [[
  return function(req)
    return { json = { value = {} } }
  end]]

describe("signing in against hostile answers", function()
  local dir

  setup(function() dir = helper.temp_dir() end)
  teardown(function() helper.remove_tree(dir) end)
  before_each(function() auth.clear_cache() end)

  describe("a managed identity endpoint", function()
    it("that redirects to another host never sends IDENTITY_HEADER there", function()
      -- the other host writes down the identity header it was sent (none expected)
      local seen_file = dir .. "/other-saw"
      local other, _, stop_other = helper.start_hostile(string.format([[
        return function(req)
          local f = io.open(%q, "a")
          f:write(req.path, " ", tostring(req.headers["x-identity-header"]), "\n")
          f:close()
          return { json = { access_token = "from-another-host", expires_in = 3600 } }
        end]], seen_file), "127.0.0.2")
      local mi, _, stop_mi = helper.start_hostile(string.format([[
        return function(req)
          if req.path == "/msi/token" then return { status = 302, headers = { Location = %q } } end
          return { json = { value = {} } }
        end]], other .. "/steal"))
      local c = vpptoken.new{ base_url = mi .. "/v1.0", max_retries = 0,
                              managed_identity = { endpoint = mi .. "/msi/token", header = HEADER } }
      c:list()
      c:close()
      stop_other()
      stop_mi()
      local saw = read(seen_file)
      assert.equal("/steal nil\n", saw) -- the redirect was followed (a GET), without the header
    end)

    it("an answer whose token has a space, or no token, is InvalidTokenResponse; expiry values never raise",
      function()
      local answers = {
        { access_token = "two words", expires_in = 3600 },
        { access_token = "tok\r\nX-Injected: 1", expires_in = 3600 },
        { expires_in = 3600 },
        { access_token = { "not", "a", "string" } },
      }
      for i, a in ipairs(answers) do
        auth.clear_cache()
        local base, _, stop = helper.start_hostile(string.format([[
          local a = require("cjson").decode(%q)
          return function(req)
            if req.path == "/msi/token" then return { json = a } end
            return { json = { value = {} } }
          end]], cjson.encode(a)))
        local c = vpptoken.new{ base_url = base .. "/v1.0", max_retries = 0,
                                managed_identity = { endpoint = base .. "/msi/token", header = HEADER } }
        local ok, err = c:list()
        c:close()
        stop()
        assert.is_nil(ok, "answer " .. i)
        assert.equal("InvalidTokenResponse", err.code, "answer " .. i)
        assert.is_nil(tostring(err):find(HEADER, 1, true))
      end
      for _, expiry in ipairs{ '"expires_on":1e400', '"expires_on":-1e400', '"expires_on":"NaN"',
                                '"expires_on":"99999999999999999999999"', '"expires_in":-5', '"expires_on":{}' } do
        auth.clear_cache()
        local base, _, stop = helper.start_hostile(string.format([[
          return function(req)
            if req.path == "/msi/token" then
              return { status = 200, headers = { ["Content-Type"] = "application/json" },
                       body = '{"access_token":"mi-token",' .. %q .. '}' }
            end
            return { json = { value = {} } }
          end]], expiry))
        local c = vpptoken.new{ base_url = base .. "/v1.0", max_retries = 0,
                                managed_identity = { endpoint = base .. "/msi/token", header = HEADER } }
        local ok, a = pcall(c.list, c)
        c:close()
        stop()
        assert.is_true(ok, expiry .. ": " .. tostring(a))
        assert.is_table(a, expiry)
      end
    end)
  end)

  describe("the environment and the caller", function()
    it("an IDENTITY_HEADER with a line break is a usage error naming it (never shown), not an internal error",
      function()
      local code, out, errs = cli.run({ "list" }, { env = {
        IDENTITY_ENDPOINT = "http://127.0.0.1:9/msi/token", IDENTITY_HEADER = HEADER .. "\nX-Injected: 1",
        VPPTOKEN_GRAPH_URL = "http://127.0.0.1:9/v1.0" } })
      assert.equal(2, code, errs)
      assert.matches("IDENTITY_HEADER", errs, 1, true)
      assert.is_nil(errs:find("internal error", 1, true), errs)
      assert.is_nil((out .. errs):find(HEADER, 1, true))
    end)

    it("vpptoken.new refuses a managed identity header with CR, LF or NUL, and an az command or tenant with NUL",
      function()
      for _, header in ipairs{ HEADER .. "\r\nX: y", HEADER .. "\n", HEADER .. "\0" } do
        local ok, err = pcall(vpptoken.new, { base_url = "http://127.0.0.1:9/v1.0", managed_identity = {
                                                endpoint = "http://127.0.0.1:9/msi", header = header } })
        assert.is_false(ok)
        assert.matches("CR, LF or NUL", tostring(err), 1, true)
        assert.is_nil(tostring(err):find(HEADER, 1, true))
      end
      for _, o in ipairs{ { azure_cli = { command = "a\0z" } }, { azure_cli = true, tenant_id = "t\0x" } } do
        o.base_url = "http://127.0.0.1:9/v1.0"
        assert.error_matches(function() vpptoken.new(o) end, "must not contain a NUL byte", 1, true)
      end
    end)
  end)

  describe("an identity endpoint that echoes what it was sent in its error", function()
    -- answers every request with a 400 whose description repeats the identity header and the body
    local ECHO = [[
      return function(req)
        local said = "header " .. tostring(req.headers["x-identity-header"]) .. " body " .. tostring(req.body)
        if req.path:match("/devicecode$") then
          return { json = { device_code = "device-code-echoed-5521", user_code = "ABCD", interval = 1,
                            expires_in = 5, verification_uri = "https://microsoft.com/devicelogin" } }
        end
        return { status = 400, json = { error = "invalid_request", error_description = said,
                                        error_codes = { 9002313 }, trace_id = said, correlation_id = said } }
      end]]

    local function shown(err, calls)
      return tostring(err) .. assert(cjson.encode(err)) .. assert(cjson.encode(calls or {}))
    end

    it("never shows a managed identity header, a client secret or a device code in the error or to on_request",
      function()
      local base, _, stop = helper.start_hostile(ECHO)
      local calls = {}
      local function hook(info) calls[#calls + 1] = info end
      local secret = "Client-S3cret-echoed-7734"
      local assertion = "federated-assertion-echoed-8812"
      local fed = dir .. "/echo-federated-token"
      write(fed, assertion, "600")
      local cases = {
        { { tenant_id = "t", client_id = "c", federated_token_file = fed }, assertion }, -- no client secret sent
        { { managed_identity = { endpoint = base .. "/msi/token", header = HEADER } }, HEADER },
        { { tenant_id = "t", client_id = "c", client_secret = secret }, secret },
        { { tenant_id = "t", client_id = "c", client_secret = string.rep(secret, 8) }, secret },
      }
      for i, case in ipairs(cases) do
        local o = case[1]
        o.base_url, o.authority_url, o.max_retries, o.on_request = base .. "/v1.0", base, 0, hook
        local c = vpptoken.new(o)
        local ok, err = c:list()
        c:close()
        assert.is_nil(ok, "case " .. i)
        assert.matches("<redacted>", err.message, 1, true) -- the echo came, without the secret
        assert.is_nil(shown(err, calls):find(case[2], 1, true), "case " .. i)
      end
      local r, err = login.device_code{ authority_url = base, cache_file = dir .. "/echo/logins.json",
                                        max_retries = 0, on_message = function() end, on_request = hook }
      stop()
      assert.is_nil(r)
      assert.equal("invalid_request", err.code)
      assert.is_nil(shown(err, calls):find("device-code-echoed", 1, true))
    end)

    it("never shows a secret it echoes form-encoded, in its error code or in any field shown", function()
      -- client secrets with the characters form encoding changes: + / = and a space, early or late
      for _, secret in ipairs{ "Sp3cial+Secret/with=signs and-spaces-8842",
                               "Sp3cialSecretWithSignsAndSpacesLater+/= 8842" } do
      local base, _, stop = helper.start_hostile([[
        return function(req)
          local sent = req.body:match("client_secret=([^&]*)") or "?"
          local lower = sent:gsub("%%%x%x", string.lower)
          local plus = sent:gsub("%%20", "+")
          local all = sent .. " " .. lower .. " " .. plus
          return { status = 401, headers = { ["request-id"] = plus, ["client-request-id"] = lower,
                                             ["Content-Type"] = "application/json" },
                   body = require("cjson").encode{ error = "bad_" .. sent, error_description = all,
                                                   trace_id = lower, correlation_id = plus } }
        end]])
      local calls = {}
      local c = vpptoken.new{ tenant_id = "t", client_id = "c", client_secret = secret, base_url = base .. "/v1.0",
                              authority_url = base, max_retries = 0,
                              on_request = function(info) calls[#calls + 1] = info end }
      local ok, err = c:list()
      c:close()
      local seen = stop()
      assert.is_nil(ok)
      assert.is_true(#seen >= 1)
      assert.matches("<redacted>", err.message, 1, true) -- the echoes came, without the secret
      local text = shown(err, calls)
      for _, form in ipairs{ "Sp3cial", "Secret%2Fwith", "Secret%2fwith", "with%3Dsigns", "signs+and", "%2B", "%2b",
                             "8842", "Later" } do
        assert.is_nil(text:find(form, 1, true), form .. " in " .. text)
      end
      end
    end)

    it("never shows the access token a Graph error message echoes", function()
      local at = "access-token-echoed-by-graph-4417"
      local base, _, stop = helper.start_hostile([[
        return function(req)
          local said = tostring(req.headers.authorization)
          return { status = 400, headers = { ["request-id"] = said, ["Content-Type"] = "application/json" },
                   body = require("cjson").encode{ error = { code = "BadRequest", message = "bad header " .. said,
                     innerError = { ["request-id"] = said, date = said } } } }
        end]])
      for _, o in ipairs{ { access_token = at }, { token_provider = function() return at end } } do
        local calls = {}
        o.base_url, o.max_retries = base .. "/v1.0", 0
        o.on_request = function(info) calls[#calls + 1] = info end
        local c = vpptoken.new(o)
        local ok, err = c:list()
        local results, errs = c:batch{ { op = "get", id = "x" } }
        c:close()
        assert.is_nil(ok)
        assert.equal("BadRequest", err.code)
        assert.matches("bad header Bearer <redacted>", err.message, 1, true)
        assert.is_false(results[1])
        assert.is_nil(shown(err, calls):find(at, 1, true))
        assert.is_nil(shown(errs[1]):find(at, 1, true))
      end
      stop()
    end)

    it("never shows a cached refresh token that the token endpoint echoes", function()
      local base, _, stop = helper.start_hostile(ECHO)
      local rt = "refresh-token-echoed-6612"
      local cache = dir .. "/echo-rt/logins.json"
      os.execute("mkdir -p -m 700 " .. helper.shell_quote(dir .. "/echo-rt"))
      write(cache, assert(cjson.encode{ version = 1, logins = { { authority = base, tenant = "organizations",
        client_id = login.DEFAULT_CLIENT_ID, refresh_token = rt, saved_at = os.time() } } }), "600")
      local cred = assert(login.cached_credential{ cache_file = cache, authority_url = base })
      local calls = {}
      local c = vpptoken.new{ base_url = base .. "/v1.0", token_provider = cred:token_provider(), max_retries = 0,
                              on_request = function(info) calls[#calls + 1] = info end }
      local ok, err = c:list()
      local tok, terr = cred:token(c.session, true)
      c:close()
      stop()
      assert.is_nil(ok)
      assert.is_nil(tok)
      assert.matches("<redacted>", terr.message, 1, true)
      assert.is_nil((shown(err, calls) .. shown(terr)):find(rt, 1, true))
    end)
  end)

  describe("a VM's IMDS (at a loopback host)", function()
    it("answering 410, 429 or 5xx forever, with any Retry-After, is asked at most max_retries + 1 times", function()
      for _, case in ipairs{ { 410, "0" }, { 429, "999999" }, { 503, "-5" }, { 500, "garbage" },
                             { 503, "Wed, 21 Oct 2099 07:28:00 GMT" } } do
        local base, _, stop = helper.start_hostile(string.format([[
          return function(req)
            if req.path:match("/metadata/identity/oauth2/token$") then
              return { status = %d, headers = { ["Retry-After"] = %q }, body = "busy" }
            end
            return { json = { value = {} } }
          end]], case[1], case[2]))
        local c = vpptoken.new{ base_url = base .. "/v1.0", max_retries = 2, retry_delay = 0.01,
                                max_retry_time = 5, managed_identity = { imds_host = base } }
        local ok, err = c:list()
        c:close()
        local seen = stop()
        local what = case[1] .. " Retry-After: " .. case[2]
        assert.is_nil(ok, what)
        assert.equal("auth", err.kind, what)
        assert.is_true(#seen >= 1 and #seen <= 3, what .. ": " .. #seen .. " requests")
      end
    end)
  end)

  describe("workload identity", function()
    local ASSERTION = "eyJhbGciOiJSUzI1NiJ9.hostile-assertion-3317.c2ln"

    it("a token endpoint that redirects the assertion to another host is refused; the assertion never goes there",
      function()
      local other, _, stop_other = helper.start_hostile([[
        return function(req) return { json = { access_token = "from-another-host", expires_in = 3600 } } end]],
        "127.0.0.2")
      local authority, _, stop_auth = helper.start_hostile(string.format([[
        return function(req)
          if req.path:match("/token$") then return { status = 307, headers = { Location = %q } } end
          return { json = { value = {} } }
        end]], other .. "/steal"))
      local file = dir .. "/federated"
      write(file, ASSERTION .. "\n")
      local c = vpptoken.new{ base_url = authority .. "/v1.0", authority_url = authority, tenant_id = "t",
                              client_id = "c", federated_token_file = file, max_retries = 0 }
      local ok, err = c:list()
      c:close()
      local other_seen = stop_other()
      stop_auth()
      assert.is_nil(ok)
      assert.equal("REDIRECT_REFUSED", err.code)
      assert.same({}, other_seen)
      assert.is_nil(tostring(err):find("hostile-assertion", 1, true))
    end)

    it("a token file that is a FIFO nobody writes, /dev/zero, huge or not one word is FederatedTokenFileError",
      function()
      local fifo, huge, words, zero = dir .. "/fifo", dir .. "/huge", dir .. "/words", dir .. "/zero"
      os.execute("mkfifo " .. helper.shell_quote(fifo))
      os.execute("ln -s /dev/zero " .. helper.shell_quote(zero))
      write(huge, string.rep("a", 200 * 1024))
      write(words, "two words\n")
      for _, file in ipairs{ fifo, zero, huge, words, dir .. "/missing" } do
        local c = vpptoken.new{ base_url = "http://127.0.0.1:9/v1.0", authority_url = "http://127.0.0.1:9",
                                tenant_id = "t", client_id = "c", federated_token_file = file, max_retries = 0 }
        local ok, err = c:list()
        c:close()
        assert.is_nil(ok, file)
        assert.equal("FederatedTokenFileError", err.code, file)
      end
    end)
  end)

  describe("a fake Azure CLI", function()
    local function fake_az(name, body)
      local az = dir .. "/" .. name
      write(az, "#!/bin/sh\n" .. body .. "\n", "700")
      return az
    end

    local function run_az(az, timeout)
      local base, _, stop = helper.start_hostile(GRAPH)
      local c = vpptoken.new{ base_url = base .. "/v1.0", max_retries = 0,
                              azure_cli = { command = az, timeout = timeout } }
      local ok, a, b = pcall(c.list, c)
      c:close()
      stop()
      assert.is_true(ok, tostring(a))
      return a, b
    end

    it("whose expiresOn is the local time of the epoch's last second gives a token, not an error raised", function()
      -- os.time gives -1 for that time, which it cannot tell from its failure: it raised
      write(dir .. "/az-epoch.out", assert(cjson.encode{ accessToken = "az-token-1",
                                                         expiresOn = os.date("%Y-%m-%d %H:%M:%S", -1) }))
      local list = run_az(fake_az("az-epoch", "cat " .. helper.shell_quote(dir .. "/az-epoch.out")))
      assert.is_table(list)
    end)

    it("whose expiry is huge, negative, NaN or not a number still gives a token", function()
      for i, expiry in ipairs{ '"expires_on":1e400', '"expires_on":-1e400', '"expires_on":NaN',
                               '"expiresOn":"9999-99-99 99:99:99"', '"expiresOn":"0000-00-00 00:00:00"',
                               '"expiresOn":[]' } do
        local out = '{"accessToken":"az-t",' .. expiry .. '}'
        write(dir .. "/az-exp.out", out)
        local list, err = run_az(fake_az("az-exp" .. i, "cat " .. helper.shell_quote(dir .. "/az-exp.out")))
        assert.is_table(list, out .. ": " .. tostring(err))
        auth.clear_cache()
      end
    end)

    it("that prints no JSON, an error with exit status 0, or floods its output ends with an auth error", function()
      local cases = {
        { "printf 'not json {'", "InvalidTokenResponse" },
        { "echo 'ERROR: something went wrong' >&2; exit 0", "InvalidTokenResponse" },
        { "printf '{\"accessToken\":\"has space\"}'", "InvalidTokenResponse" },
        { "head -c 3000000 /dev/zero", "AzureCliFailed" },
        { "head -c 3000000 /dev/zero >&2; exit 1", "AzureCliFailed" },
      }
      for i, case in ipairs(cases) do
        local list, err = run_az(fake_az("az-bad" .. i, case[1]), 30)
        assert.is_nil(list, case[1])
        assert.equal(case[2], err.code, case[1])
        assert.equal("auth", err.kind)
      end
    end)

    it("that never exits while a child it forked holds the output open is stopped at the timeout", function()
      local list, err = run_az(fake_az("az-hang", "(sleep 300) & (sleep 300) & sleep 300"), 1)
      assert.is_nil(list)
      assert.equal("AzureCliTimeout", err.code)
    end)
  end)

  describe("the sign-in cache", function()
    local function cache_with(xdg, text)
      os.execute("mkdir -p -m 700 " .. helper.shell_quote(xdg .. "/vpptoken"))
      write(xdg .. "/vpptoken/logins.json", text, "600")
    end

    it("whoami shows an entry whose times and names are of the wrong type, without failing", function()
      local xdg = dir .. "/xdg"
      cache_with(xdg, '{"version":1,"logins":[{"authority":"https://login.microsoftonline.com",'
        .. '"tenant":"organizations","client_id":"' .. login.DEFAULT_CLIENT_ID .. '","refresh_token":"rt-1",'
        .. '"access_expires_at":1e300,"signed_in_at":-1e300,"account":{"x":1},"name":[1,2],"scopes":{}}]}')
      for _, fmt in ipairs{ "table", "json", "csv" } do
        local code, out, errs = cli.run({ "whoami", "--output", fmt }, { env = { XDG_CACHE_HOME = xdg } })
        assert.equal(0, code, errs)
        assert.is_nil(out:find("table: ", 1, true), out)
        assert.is_nil(out:find("rt-1", 1, true))
      end
      local info = assert(login.whoami{ cache_file = xdg .. "/vpptoken/logins.json" })
      assert.is_nil(info.expires_at)
      assert.is_nil(info.signed_in_at)
      assert.is_nil(info.account)
      assert.same({}, info.scopes)
    end)

    it("a symbolic link, a directory, a huge file or invalid JSON at the cache's path is LoginCacheError", function()
      local target = dir .. "/elsewhere.json"
      write(target, '{"version":1,"logins":[]}', "600")
      local cases = {
        function(p) os.execute("ln -s " .. helper.shell_quote(target) .. " " .. helper.shell_quote(p)) end,
        function(p) os.execute("mkdir -m 700 " .. helper.shell_quote(p)) end,
        function(p) write(p, '{"logins":[' .. string.rep('{},', 200000) .. '{}]}', "600") end,
        function(p) write(p, "{not json", "600") end,
        function(p) write(p, '{"logins":"no"}', "600") end,
      }
      for i, make in ipairs(cases) do
        local cdir = dir .. "/cache" .. i
        os.execute("mkdir -m 700 " .. helper.shell_quote(cdir))
        local path = cdir .. "/logins.json"
        make(path)
        local ok, err = login.whoami{ cache_file = path }
        assert.is_nil(ok, "case " .. i)
        assert.equal("LoginCacheError", err.code, "case " .. i)
        assert.equal(nil, (login.cached_credential{ cache_file = path }), "case " .. i)
      end
    end)
  end)

  describe("a device code endpoint", function()
    local function device_server(first, poll)
      return helper.start_hostile(string.format([[
        local first, poll = require("cjson").decode(%q), require("cjson").decode(%q)
        return function(req)
          if req.path:match("/devicecode$") then return { json = first } end
          return poll
        end]], cjson.encode(first), cjson.encode(poll)))
    end

    it("that sends the person to a plain-http page of another host is refused before anything is shown",
      function()
      local base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = "ABCD", interval = 1,
                                            expires_in = 5, verification_uri = "http://phish.example/devicelogin" },
                                          { status = 400, json = { error = "expired_token" } })
      local shown
      local r, err = login.device_code{ authority_url = base, cache_file = dir .. "/dc/logins.json",
                                        on_message = function(m) shown = m end, max_retries = 0 }
      local seen = stop()
      assert.is_nil(r)
      assert.equal("InvalidDeviceCodeResponse", err.code)
      assert.is_nil(shown)
      assert.equal(1, #seen) -- no token request with the device code
      assert.is_nil(tostring(err):find(DEVICE_CODE, 1, true))
    end)

    it("never shows its device code, refresh or access token, nor the terminal controls of its message",
      function()
      local rt, at = "refresh-token-hostile-7781", "access-token-hostile-7782"
      local base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = "ABCD-EFGH", interval = 1,
                                            expires_in = 30, verification_uri = "https://microsoft.com/devicelogin",
                                            message = "Open the page\27]52;c;ZXZpbA==\7 and \27[2Jtype ABCD-EFGH" },
                                          { json = { access_token = at, refresh_token = rt, expires_in = 3600,
                                                     token_type = "Bearer", scope = "x" } })
      local xdg = dir .. "/xdg-dc"
      local env = { XDG_CACHE_HOME = xdg, VPPTOKEN_AUTHORITY_URL = base, VPPTOKEN_DEBUG = "1" }
      local texts = {}
      for _, argv in ipairs{ { "login", "--verbose" }, { "whoami", "--verbose" }, { "whoami", "--output", "json" } } do
        local code, out, errs = cli.run(argv, { env = env })
        assert.equal(0, code, errs)
        texts[#texts + 1] = out .. "\n" .. errs
      end
      local calls = {}
      auth.clear_cache()
      assert(login.device_code{ authority_url = base, cache_file = xdg .. "/lua/logins.json", max_retries = 0,
                                on_message = function(m) texts[#texts + 1] = m.message end,
                                on_request = function(info) calls[#calls + 1] = info end })
      stop()
      texts[#texts + 1] = assert(cjson.encode(calls))
      assert.is_true(#calls >= 2)
      for i, t in ipairs(texts) do
        for _, secret in ipairs{ DEVICE_CODE, rt, at } do
          assert.is_nil(t:find(secret, 1, true), "text " .. i .. " shows " .. secret)
        end
        assert.is_nil(t:find("\27", 1, true), "text " .. i .. " holds an escape character")
        assert.is_nil(t:find("\7", 1, true), "text " .. i .. " holds a bell")
      end
      assert.matches("enter the code ABCD-EFGH", texts[1], 1, true) -- the person is shown the code
      assert.matches(rt, read(xdg .. "/vpptoken/logins.json"), 1, true) -- kept where it belongs
    end)

    it("whose message names another page shows the person only the checked page and the code, in its own words",
      function()
      local base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = "ABCD", interval = 1,
                                            expires_in = 1, verification_uri = "https://microsoft.com/devicelogin",
                                            message = "To sign in, open http://rnicrosoft.example/devicelogin and "
                                              .. "enter the code ABCD." },
                                          { status = 400, json = { error = "expired_token" } })
      local shown
      local r, err = login.device_code{ authority_url = base, cache_file = dir .. "/dc/logins.json",
                                        on_message = function(m) shown = m end, max_retries = 0 }
      assert.is_nil(r)
      assert.equal("DeviceCodeExpired", err.code)
      assert.equal("To sign in, open https://microsoft.com/devicelogin and enter the code ABCD.", shown.message)
      assert.equal("https://microsoft.com/devicelogin", shown.verification_uri)
      local code, _, errs = cli.run({ "login" }, { env = { XDG_CACHE_HOME = dir .. "/xdg-phish",
                                                           VPPTOKEN_AUTHORITY_URL = base } })
      stop()
      assert.equal(3, code, errs)
      assert.matches("https://microsoft.com/devicelogin", errs, 1, true)
      assert.matches("ABCD", errs, 1, true)
      assert.is_nil(errs:find("rnicrosoft", 1, true), errs)
    end)

    it("whose refresh token is larger than the cache may hold leaves the cache usable", function()
      local cache, first = dir .. "/big-rt/logins.json", nil
      for _, size in ipairs{ 100, 300 * 1024 } do
        local base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = "ABCD", interval = 1,
                                              expires_in = 30, verification_uri = "https://microsoft.com/devicelogin" },
                                            { json = { access_token = "at-1", refresh_token = string.rep("r", size),
                                                       expires_in = 3600 } })
        local r, err = login.device_code{ authority_url = base, cache_file = cache, max_retries = 0,
                                          tenant_id = "tenant-" .. size, on_message = function() end }
        stop()
        first = first or base
        if size > 1000 then
          assert.is_nil(r)
          assert.equal("LoginCacheError", err.code)
        else
          assert(r, err)
        end
      end
      -- the first sign-in is still there
      local info, err = login.whoami{ cache_file = cache, authority_url = first, tenant_id = "tenant-100" }
      assert.is_table(info, tostring(err))
      assert.equal("tenant-100", info.tenant)
    end)

    it("whose message is megabytes long shows the person a message of its own; a huge user code is refused",
      function()
      local base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = "ABCD", interval = 1,
                                            expires_in = 1, verification_uri = "https://microsoft.com/devicelogin",
                                            message = string.rep("Open this page. ", 128 * 1024) },
                                          { status = 400, json = { error = "expired_token" } })
      local shown
      local r, err = login.device_code{ authority_url = base, cache_file = dir .. "/dc/logins.json",
                                        on_message = function(m) shown = m end, max_retries = 0 }
      stop()
      assert.is_nil(r)
      assert.equal("DeviceCodeExpired", err.code)
      assert.equal("To sign in, open https://microsoft.com/devicelogin and enter the code ABCD.", shown.message)
      base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = string.rep("A", 1024 * 1024),
                                      interval = 1, expires_in = 1, verification_uri = "https://microsoft.com/x" },
                                    { status = 400, json = { error = "expired_token" } })
      shown = nil
      r, err = login.device_code{ authority_url = base, cache_file = dir .. "/dc/logins.json",
                                  on_message = function(m) shown = m end, max_retries = 0 }
      stop()
      assert.is_nil(r)
      assert.equal("InvalidDeviceCodeResponse", err.code)
      assert.is_nil(shown)
    end)

    it("whose interval is 0, negative or not a number, answering slow_down forever, ends by its expires_in",
      function()
      -- A default interval of 1 s instead of RFC 8628's 5 (an interval that is not a number gets the default), so
      -- that each case takes about a second: what is checked is that none is taken literally or waits forever.
      local saved = login.LIMITS.default_interval
      login.LIMITS.default_interval = 1
      finally(function() login.LIMITS.default_interval = saved end)
      for _, interval in ipairs{ 0, -5, "soon", 1e300 } do
        local base, _, stop = device_server({ device_code = DEVICE_CODE, user_code = "ABCD", interval = interval,
                                              expires_in = 1, verification_uri = "https://microsoft.com/devicelogin" },
                                            { status = 400, json = { error = "slow_down" } })
        local t0 = socket.gettime()
        local r, err = login.device_code{ authority_url = base, cache_file = dir .. "/dc/logins.json",
                                          on_message = function() end, max_retries = 0 }
        local took = socket.gettime() - t0
        local seen = stop()
        assert.is_nil(r)
        assert.equal("DeviceCodeExpired", err.code)
        assert.is_true(#seen <= 3, #seen .. " requests") -- the code, and a poll a second at most within 1 s
        -- expires_in, then at most the one interval (1 s) of a last poll, with room for a loaded machine (slow_down
        -- would add 5 s)
        assert.is_true(took < 4 + SLOW, string.format("interval %s: ended after %.1f s", tostring(interval), took))
        assert.is_nil(tostring(err):find(DEVICE_CODE, 1, true))
      end
    end)
  end)
end)
