-- Many tenants in one run (vpptoken.tenants): the tenants file is checked whole before any request, with errors
-- naming the tenant and the field; a job runs over every tenant concurrently against one sandbox that keeps each
-- tenant's tokens apart (--apps with one app per tenant), and one tenant's throttling, slowness or wrong secret
-- touches that tenant only.
local helper = require "helper"
local cli = require "cli_support"
local cjson = require "cjson.safe"
local tenants = require "vpptoken.tenants"
local vpptoken = require "vpptoken"

local function env(vars)
  return function(name) return vars[name] end
end

local function file_of(doc)
  return type(doc) == "string" and doc or assert(cjson.encode(doc))
end

-- The error of parsing a file with these tenants (a list of tenant objects).
local function parse_error(list, vars)
  local ok, err = tenants.parse(file_of{ tenants = list }, { getenv = env(vars or {}) })
  assert.is_nil(ok)
  return err
end

local function tenant(fields)
  local t = { name = "contoso", tenant_id = "contoso.onmicrosoft.com", client_id = "app-1",
              client_secret_env = "CONTOSO_SECRET" }
  for k, v in pairs(fields or {}) do t[k] = v end
  return t
end

local GOOD_ENV = { CONTOSO_SECRET = "s1", FABRIKAM_SECRET = "s2" }
-- Under valgrind the sandbox is slower: the slow tenant's delay grows with it.
local SLOWER = require("sandbox_support").SLOW

describe("a tenants file", function()
  it("gives the tenants in the file's order, with their sign-in and tags, and keeps secrets out of them", function()
    local list = assert(tenants.parse(file_of{ tenants = {
      tenant{ tags = { "eu", "gold" } },
      tenant{ name = "fabrikam", tenant_id = "f-guid", client_id = "app-2", client_secret_env = "FABRIKAM_SECRET",
              cloud = "usgov" },
    } }, { getenv = env(GOOD_ENV) }))
    assert.equal(2, #list)
    assert.equal("contoso", list[1].name)
    assert.same({ "eu", "gold" }, list[1].tags)
    assert.equal("client_secret_env", list[1].signin)
    assert.equal("fabrikam", list[2].name)
    assert.equal("usgov", list[2].cloud)
    assert.same({}, list[2].tags)
    for _, t in ipairs(list) do
      for _, v in pairs(t) do assert.is_not.equal("s1", v) assert.is_not.equal("s2", v) end
    end
  end)

  it("names the tenant and the field of each mistake", function()
    local err = parse_error({ tenant(), tenant{ name = "fabrikam", client_secret_env = "FABRIKAM_SECRET" },
                              tenant{ name = "northwind", client_secret_env = "NW_SECRET" } },
                            { CONTOSO_SECRET = "s", FABRIKAM_SECRET = "s" })
    assert.equal('tenants[3] "northwind": client_secret_env: NW_SECRET is not set', err.message)
    assert.equal("tenants_file", err.kind)
    assert.equal(3, err.index)
    assert.equal("northwind", err.tenant)
    assert.equal("client_secret_env", err.field)
    local cases = {
      { tenant{ name = "" }, "name" },
      { tenant{ name = "a\nb" }, "name" },
      { tenant{ tenant_id = cjson.null }, "tenant_id" },
      { tenant{ tenant_id = "has space" }, "tenant_id" },
      { tenant{ client_id = 7 }, "client_id" },
      { tenant{ client_id = cjson.null }, "client_id" },
      { tenant{ client_secret_env = cjson.null }, "sign-in" },
      { tenant{ client_certificate = "/nonexistent/cert.pem" }, "client_certificate" },
      { tenant{ client_secret_env = cjson.null, client_certificate = "/nonexistent/cert.pem" }, "client_certificate" },
      { tenant{ client_secret_env = cjson.null, client_secret_file = "/nonexistent/secret" }, "client_secret_file" },
      { tenant{ client_secret_env = cjson.null, managed_identity = "yes" }, "managed_identity" },
      { tenant{ cloud = "mars" }, "cloud" },
      { tenant{ base_url = "ftp://example.com" }, "base_url" },
      { tenant{ tags = "eu" }, "tags" },
      { tenant{ tags = { "eu", 3 } }, "tags" },
      { tenant{ clientid = "x" }, "clientid" },
    }
    for _, c in ipairs(cases) do
      local e = parse_error({ c[1] }, GOOD_ENV)
      assert.equal(c[2], e.field, e.message)
      assert.matches('^tenants%[1%][^:]*: ' .. c[2]:gsub("%-", "%%-") .. ": ", e.message)
    end
    assert.matches("did you mean client_id", parse_error({ tenant{ clientid = "x" } }, GOOD_ENV).message)
  end)

  it("refuses a second tenant with the same name, naming the first", function()
    local err = parse_error({ tenant(), tenant{ tenant_id = "other" } }, GOOD_ENV)
    assert.equal("DuplicateTenant", err.code)
    assert.equal('tenants[2] "contoso": name: also the name of tenants[1]', err.message)
  end)

  it("refuses a file that is not an object with a tenants array, or has too many tenants", function()
    assert.equal("InvalidTenantsFile", select(2, tenants.parse("[]")).code)
    assert.equal("InvalidTenantsFile", select(2, tenants.parse('{"tenants": {"a": 1}}')).code)
    local many = {}
    for i = 1, tenants.LIMITS.max_tenants + 1 do many[i] = 0 end
    assert.equal("TooManyTenants", select(2, tenants.parse(file_of{ tenants = many })).code)
  end)

  it("reads a file saved with a UTF-8 byte order mark (PowerShell 5.1, older Notepad)", function()
    local text = "\239\187\191" .. file_of{ tenants = { tenant() } }
    local list = assert(tenants.parse(text, { getenv = env(GOOD_ENV) }))
    assert.equal("contoso", list[1].name)
    local path = helper.temp_file(text)
    local loaded, err = tenants.load(path, { getenv = env(GOOD_ENV) })
    os.remove(path)
    assert.is_table(loaded, tostring(err))
    assert.equal("contoso", loaded[1].name)
    -- only at the start, and only once
    assert.is_nil(tenants.parse("\239\187\191\239\187\191" .. file_of{ tenants = {} }))
  end)

  it("reads a secret from a file, trimmed", function()
    local path = helper.temp_file("  file-secret\n")
    local list = assert(tenants.parse(file_of{ tenants = {
      tenant{ client_secret_env = cjson.null, client_secret_file = path } } }))
    os.remove(path)
    assert.equal("client_secret_file", list[1].signin)
  end)

  it("takes a secret in clear only from a file that its owner alone may read", function()
    local path = helper.temp_file(file_of{ tenants = { tenant{ client_secret_env = cjson.null,
                                                                client_secret = "in-clear" } } })
    finally(function() os.remove(path) end)
    assert(os.execute("chmod 644 " .. helper.shell_quote(path)))
    local list, err = tenants.load(path)
    assert.is_nil(list)
    assert.equal("client_secret", err.field)
    assert.matches("chmod 600", err.message)
    assert(os.execute("chmod 600 " .. helper.shell_quote(path)))
    list = assert(tenants.load(path))
    assert.equal("client_secret", list[1].signin)
  end)

  it("refuses a client_secret_file that group or others may read, as it refuses a secret in clear", function()
    local secret = helper.temp_file("file-secret\n")
    local path = helper.temp_file(file_of{ tenants = { tenant{ client_secret_env = cjson.null,
                                                                client_secret = "in-clear" } } })
    finally(function() os.remove(path) os.remove(secret) end)
    assert(os.execute("chmod 644 " .. helper.shell_quote(path) .. " " .. helper.shell_quote(secret)))
    local _, clear = tenants.load(path)
    local _, file = tenants.parse(file_of{ tenants = { tenant{ client_secret_env = cjson.null,
                                                                 client_secret_file = secret } } })
    assert.equal("client_secret_file", file.field)
    assert.equal("SecretNotPrivate", file.code)
    assert.equal(clear.code, file.code)
    for _, e in ipairs{ clear, file } do
      assert.matches("may be read by group or others: chmod 600 it", e.message, 1, true)
    end
    assert(os.execute("chmod 600 " .. helper.shell_quote(secret)))
    assert(tenants.parse(file_of{ tenants = { tenant{ client_secret_env = cjson.null,
                                                      client_secret_file = secret } } }))
  end)

  it("says which file cannot be read", function()
    local list, err = tenants.load("/nonexistent/tenants.json")
    assert.is_nil(list)
    assert.equal("TenantsFileUnreadable", err.code)
    assert.matches("/nonexistent/tenants.json", err.message, 1, true)
  end)
end)

describe("a job over many tenants", function()
  local N = 50
  local THROTTLED, SLOW, WRONG = 7, 13, 21
  local dir = os.tmpname()
  local function name(i) return string.format("t%02d", i) end

  local sb = helper.sandbox_suite(function()
    local apps = {}
    for i = 1, N do
      apps[i] = { client_id = "app-" .. name(i), client_secret = "secret-" .. name(i), tenant = name(i) }
    end
    local text = cjson.encode{ tenant = "home", apps = apps, identity_header = "mi-header",
                               managed_identities = { { client_id = "mi-system", system = true },
                                                      { client_id = "mi-user" } } }
    local f = io.open(dir, "w")
    f:write(text)
    f:close()
    return { "--apps", dir }
  end)
  teardown(function() os.remove(dir) end)

  -- The tenants file for this sandbox; the WRONG tenant's variable holds another tenant's secret.
  local function load_list()
    local list, vars = {}, {}
    for i = 1, N do
      list[i] = { name = name(i), tenant_id = name(i), client_id = "app-" .. name(i),
                  client_secret_env = "SECRET_" .. i, base_url = sb.graph, tags = { i % 2 == 0 and "even" or "odd" } }
      vars["SECRET_" .. i] = "secret-" .. name(i == WRONG and 1 or i)
    end
    return assert(tenants.parse(file_of{ tenants = list }, { getenv = env(vars) }))
  end

  local function token_fields(owner, k)
    return { organizationName = owner, vppTokenAccountType = "business", appleId = k .. "@" .. owner .. ".example",
             token = helper.apple_token("apple-vpp-token-" .. owner .. "-" .. k), countryOrRegion = "us",
             expirationDateTime = "2027-05-25T20:08:56Z" }
  end

  it("gives every tenant its own tokens and result, in the file's order, whatever one tenant suffers", function()
    local list = load_list()
    -- two tokens per tenant, made by the tenant's own app
    local made = tenants.run(list, function(client, t)
      for k = 1, 2 do
        local tok, err = client:create(token_fields(t.name, k))
        if not tok then return nil, err end
      end
      return true
    end, { concurrency = 16, client = { retry_delay = 0.01 } })
    for i, r in ipairs(made) do
      assert.equal(name(i), r.name)
      assert.equal(i ~= WRONG, r.ok, tostring(r.error))
    end

    -- the THROTTLED tenant's calls answer 429 three times, the SLOW one's are held back
    sb:fail_next(3, 429, { tenant = name(THROTTLED), retry_after = "1" })
    sb:fail_next(1000, nil, { tenant = name(SLOW), kind = "delay", delay_ms = 1500 * SLOWER })
    local seen, attempts = {}, {}
    -- the other tenants' lists answered while the SLOW tenant's list was under way
    local slow_started, slow_listed, passed_it = false, false, 0
    local results = tenants.run(list, function(client, t)
      slow_started = slow_started or t.name == name(SLOW)
      local tokens, err = client:list()
      if not tokens then return nil, err end
      local orgs = {}
      for _, tok in ipairs(tokens) do orgs[#orgs + 1] = tok.organizationName end
      return { tenant = t.name, orgs = orgs }
    end, { concurrency = 8, client = { retry_delay = 0.01 }, on_request = function(info)
      seen[info.tenant] = (seen[info.tenant] or 0) + 1
      local listed = info.url:match("/vppTokens$")
      if listed then attempts[info.tenant] = info.attempts end
      if info.tenant == name(SLOW) then
        slow_listed = slow_listed or listed ~= nil
      elseif listed and slow_started and not slow_listed then
        passed_it = passed_it + 1
      end
    end })

    assert.equal(N, #results)
    for i, r in ipairs(results) do
      assert.equal(name(i), r.name)
      assert.equal(i, r.index)
      if i == WRONG then
        assert.is_false(r.ok)
        assert.equal("auth", r.error.kind)
        assert.equal("invalid_client", r.error.code)
      else
        assert.is_true(r.ok, tostring(r.error))
        assert.same({ name(i), name(i) }, r.value.orgs) -- its own two tokens, no other tenant's
      end
      assert.is_true(seen[name(i)] >= 1)
    end
    assert.equal(4, attempts[name(THROTTLED)])
    -- a slow tenant holds only its own call: the others' calls went on (8 at once, 36 tenants after it); on PUC
    -- Lua 5.1, which cannot yield across pcall, the tenants' calls go one at a time (README: Lua versions)
    if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
      assert.equal(0, passed_it)
    else
      assert.is_true(passed_it >= 20, passed_it .. " lists answered while the slow tenant's was under way")
    end
    for i = 1, N do
      if i ~= THROTTLED and i ~= WRONG then assert.equal(1, attempts[name(i)], name(i)) end
    end
  end)

  it("signs an app in only in its own tenant (sandbox)", function()
    local function token_status(tenant_name, app)
      local status, body = helper.http("POST", sb.url .. "/" .. tenant_name .. "/oauth2/v2.0/token",
        "grant_type=client_credentials&client_id=app-" .. app .. "&client_secret=secret-" .. app
        .. "&scope=" .. sb.url .. "/.default", { ["content-type"] = "application/x-www-form-urlencoded" })
      return status, body
    end
    assert.equal(200, (token_status(name(2), name(2))))
    local status, body = token_status(name(2), name(1))
    assert.equal(400, status)
    assert.equal("unauthorized_client", body.error)
    assert.equal(400, (token_status("nowhere", name(1))))
  end)

  it("reports a job that raises as that tenant's error", function()
    local list = load_list()
    local results = tenants.run({ list[1], list[2] }, function(_, t)
      if t.name == name(1) then error("boom") end
      return t.name
    end)
    assert.is_false(results[1].ok)
    assert.equal("job", results[1].error.kind)
    assert.matches("boom", results[1].error.message)
    assert.is_true(results[2].ok)
    assert.equal(name(2), results[2].value)
  end)

  it("refuses a bad option or a list that did not come from tenants.load", function()
    local list = load_list()
    assert.has_error(function() tenants.run(list, function() end, { concurency = 2 }) end)
    assert.has_error(function() tenants.run(list, function() end, { concurrency = 0 }) end)
    assert.has_error(function() tenants.run({ { name = "x" } }, function() end) end)
  end)
  describe("on the command line (--tenants FILE)", function()
    local M = 5 -- tenants t01..t05; t03's variable holds a wrong secret
    local path, vars

    before_each(function()
      local list = {}
      vars = {}
      for i = 1, M do
        list[i] = { name = name(i), tenant_id = name(i), client_id = "app-" .. name(i),
                    client_secret_env = "SECRET_" .. i, base_url = sb.graph, tags = { i % 2 == 0 and "even" or "odd" } }
        vars["SECRET_" .. i] = "secret-" .. name(i == 3 and 1 or i)
      end
      path = helper.temp_file(file_of{ tenants = list })
      local seeded = tenants.run(assert(tenants.load(path, { getenv = env(vars) })), function(client, t)
        return client:create(token_fields(t.name, 1))
      end)
      assert.equal(M, #seeded)
    end)
    after_each(function() os.remove(path) end)

    local function run_cli(...)
      return cli.run({ ... }, { env = vars })
    end

    it("lists every tenant's tokens with its name, says which tenants failed, and exits 10", function()
      local code, out, err = run_cli("list", "--tenants", path, "-o", "json")
      assert.equal(10, code, err)
      local doc = assert(cjson.decode(out))
      assert.equal(M, #doc.tenants)
      for i, t in ipairs(doc.tenants) do
        assert.equal(name(i), t.tenant)
        assert.equal(i ~= 3, t.ok)
      end
      assert.equal("invalid_client", doc.tenants[3].error.code)
      assert.equal(M - 1, #doc.items)
      for _, item in ipairs(doc.items) do assert.equal(item.tenant, item.organizationName) end
      assert.matches("5 tenants: 4 ok, 1 failed; 4 tokens", err, 1, true)
      assert.matches("vpptoken: tenant t03: [HTTP 401][invalid_client]", err, 1, true) -- "vpptoken:" said once
      code, out = run_cli("list", "--tenants", path)
      assert.equal(10, code)
      assert.matches("^TENANT", out)
    end)

    it("picks tenants by name or tag with --only, and refuses a name no tenant has", function()
      local code, out, err = run_cli("expiring", "--within", "3650", "--tenants", path, "--only", "even",
                                     "--only", "t05", "-o", "csv")
      assert.equal(0, code, err)
      local rows = cli.parse_csv(out)
      assert.equal("tenant", rows[1][1])
      local names = {}
      for r = 2, #rows do names[#names + 1] = rows[r][1] end
      table.sort(names)
      assert.same({ "t02", "t04", "t05" }, names)
      local code2, _, err2 = run_cli("list", "--tenants", path, "--only", "t99")
      assert.equal(2, code2)
      assert.matches("t99", err2, 1, true)
      code = run_cli("list", "--only", "t01")
      assert.equal(2, code)
    end)

    it("splits the tenants into stable shards that cover each tenant once", function()
      local seen = {}
      for k = 1, 3 do
        for _ = 1, 2 do -- the same slice every time
          local _, out = run_cli("list", "--tenants", path, "--shard", k .. "/3", "-o", "json")
          local doc = assert(cjson.decode(out))
          local mine = {}
          for _, t in ipairs(doc.tenants) do mine[#mine + 1] = t.tenant end
          seen[k] = seen[k] or mine
          assert.same(seen[k], mine)
        end
      end
      local all = {}
      for k = 1, 3 do for _, n in ipairs(seen[k]) do all[#all + 1] = n end end
      table.sort(all)
      assert.same({ "t01", "t02", "t03", "t04", "t05" }, all)
      assert.equal(2, (run_cli("list", "--tenants", path, "--shard", "4/3")))
    end)

    it("starts a sync in every tenant with sync --all", function()
      local code, out = run_cli("sync", "--all", "--tenants", path, "-o", "json")
      assert.equal(10, code)
      local doc = assert(cjson.decode(out))
      assert.equal(M - 1, #doc.items)
      for _, item in ipairs(doc.items) do assert.equal("started", item.outcome) end
      assert.equal(2, (run_cli("sync", "--tenants", path)))
    end)

    -- A tenants file with no base_url: where its tenants go is the command line's --graph-url or the environment.
    local function file_without_base_url()
      local list = {}
      for i = 1, M do
        list[i] = { name = name(i), tenant_id = name(i), client_id = "app-" .. name(i),
                    client_secret_env = "SECRET_" .. i }
      end
      return helper.temp_file(file_of{ tenants = list })
    end

    -- The URL of every call the --verbose lines of a --tenants run name.
    local function called_urls(err)
      local urls = {}
      for url in err:gmatch("%[t%d%d%] %u+ (%S+) %->") do urls[#urls + 1] = url end
      return urls
    end

    it("sends every tenant's sign-in and Graph calls where --graph-url or VPPTOKEN_GRAPH_URL says", function()
      local bare = file_without_base_url()
      for _, how in ipairs{ "flag", "variable" } do
        sb:reset()
        local env_of = {}
        for k, v in pairs(vars) do env_of[k] = v end
        local argv = { "list", "--tenants", bare, "-o", "json", "-v" }
        if how == "flag" then
          table.insert(argv, 1, "--graph-url=" .. sb.graph)
        else
          env_of.VPPTOKEN_GRAPH_URL = sb.graph
        end
        local code, out, err = cli.run(argv, { env = env_of })
        assert.equal(10, code, err)
        local doc = assert(cjson.decode(out))
        for i, t in ipairs(doc.tenants) do assert.equal(i ~= 3, t.ok, how .. " " .. t.tenant) end
        local urls = called_urls(err)
        assert.is_true(#urls >= 2 * M, err) -- a token request and a list per tenant at least
        for _, url in ipairs(urls) do assert.equal(sb.url, url:sub(1, #sb.url), how .. ": " .. url) end
        local lists = 0
        for _, r in ipairs(sb:requests()) do
          if r.method == "GET" then lists = lists + 1 end
        end
        assert.equal(M - 1, lists, how)
      end
      os.remove(bare)
    end)

    it("asks VPPTOKEN_AUTHORITY_URL, not the cloud's sign-in host, for every tenant's token", function()
      sb:reset()
      local bare = file_without_base_url()
      local port, stop = helper.start_fake_server("status", "400")
      local env_of = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_AUTHORITY_URL = "http://127.0.0.1:" .. port }
      for k, v in pairs(vars) do env_of[k] = v end
      local code, _, err = cli.run({ "list", "--tenants", bare, "-o", "json", "-v" }, { env = env_of })
      local seen = stop()
      os.remove(bare)
      assert.equal(10, code, err)
      local asked = {}
      for _, line in ipairs(seen) do asked[#asked + 1] = line:match("^POST (/t%d%d/oauth2/v2%.0/token) ") end
      table.sort(asked)
      local want = {}
      for i = 1, M do want[i] = "/" .. name(i) .. "/oauth2/v2.0/token" end
      assert.same(want, asked)
      local authority = "http://127.0.0.1:" .. port
      for _, url in ipairs(called_urls(err)) do -- the sign-ins, and the Graph calls they failed (never sent)
        assert.is_true(url:sub(1, #authority) == authority or url:sub(1, #sb.url) == sb.url, url)
      end
      assert.same({}, sb:requests()) -- no tenant got as far as Graph
    end)

    it("signs managed-identity tenants in as their client_id's identity, refusing a token for another tenant",
      function()
      -- the sandbox's managed identities live in its apps file's tenant, "home"
      local mi = helper.temp_file(file_of{ tenants = {
        { name = "home-user", tenant_id = "home", client_id = "mi-user", managed_identity = true },
        { name = "home-system", tenant_id = "HOME", managed_identity = true },
        { name = "elsewhere", tenant_id = name(1), managed_identity = true },
      } })
      local code, out, err = cli.run({ "list", "--tenants", mi, "-o", "json", "-v" }, { env = {
        IDENTITY_ENDPOINT = sb.url .. "/msi/token", IDENTITY_HEADER = "mi-header", VPPTOKEN_GRAPH_URL = sb.graph } })
      os.remove(mi)
      assert.equal(10, code, err)
      local doc = assert(cjson.decode(out))
      assert.is_true(doc.tenants[1].ok, err)
      assert.is_true(doc.tenants[2].ok, err)
      assert.is_false(doc.tenants[3].ok)
      assert.equal("WrongTenant", doc.tenants[3].error.code)
      assert.matches("[home-user] GET " .. sb.url .. "/msi/token?", err, 1, true)
      assert.matches("%[home%-user%] GET [^\n]*client_id=mi%-user", err)
      assert.is_nil(err:find("%[home%-system%] GET [^\n]*client_id="), err)
      assert.matches('tenant elsewhere: [auth][WrongTenant]', err, 1, true)
    end)

    it("never hands a managed identity's token, fetched for its own tenant, to a client expecting another",
      function()
      local function mi_client(tenant_id)
        return vpptoken.new{ base_url = sb.graph, max_retries = 0, managed_identity = {
          endpoint = sb.url .. "/msi/token", header = "mi-header", tenant_id = tenant_id } }
      end
      local home, other = mi_client("home"), mi_client(name(1))
      local ok, err = home:list()
      assert.is_table(ok, tostring(err))
      local none, werr = other:list() -- the same identity and endpoint: its token is in the cache already
      home:close()
      other:close()
      assert.is_nil(none)
      assert.equal("WrongTenant", werr.code)
    end)

    it("refuses a bad --graph-url or VPPTOKEN_GRAPH_URL with --tenants before any request", function()
      sb:reset()
      local code, _, err = run_cli("list", "--tenants", path, "--graph-url", "ftp://example.com")
      assert.equal(2, code, err)
      local env_of = { VPPTOKEN_AUTHORITY_URL = "not a url" }
      for k, v in pairs(vars) do env_of[k] = v end
      code, _, err = cli.run({ "list", "--tenants", path }, { env = env_of })
      assert.equal(2, code, err)
      assert.matches("VPPTOKEN_AUTHORITY_URL", err, 1, true)
      assert.same({}, sb:requests())
    end)

    it("refuses --tenant, --client-id and --client-secret-file with --tenants (each tenant has its own)", function()
      sb:reset()
      for _, flag in ipairs{ "--tenant", "--client-id", "--client-secret-file" } do
        local code, _, err = run_cli("list", "--tenants", path, flag, "x")
        assert.equal(2, code, flag .. ": " .. err)
        assert.matches(flag, err, 1, true)
      end
      assert.same({}, sb:requests())
    end)

    it("waits for every tenant's syncs with sync --all --wait, the tenants side by side", function()
      local clock = require("vpptoken.core").monotonic
      local t0 = clock()
      local code, out, err = run_cli("sync", "--all", "--wait", "--tenants", path, "-o", "json")
      local took = clock() - t0
      assert.equal(10, code, err) -- t03 cannot sign in
      local doc = assert(cjson.decode(out))
      assert.equal(M - 1, #doc.items)
      for _, item in ipairs(doc.items) do
        assert.equal("started", item.outcome)
        assert.equal("completed", item.lastSyncStatus)
      end
      -- one tenant after another would take at least 4 x 2 s (the sandbox's sync time); PUC Lua 5.1 runs them so
      -- (it cannot yield across pcall: docs/lua-versions.md)
      if require("vpptoken.compat").yield_across_pcall then assert.is_true(took < 7.5, "took " .. took .. " s") end
    end)

    it("ends the calls under way on Ctrl-C and exits 130 without a message per tenant", function()
      sb:configure{ faults = { latency_ms = { GET = { 5000, 5000 } } } }
      local line = cli.command({ "list", "--tenants", path }, vars)
      local code, ms, err = cli.interrupt(line, sb, { "GET", "/vppTokens" }, 0.2)
      assert.equal(130, code, err)
      assert.is_true(ms < 1500, "ended " .. ms .. " ms after the signal")
      assert.not_matches("tenant t0", err)
    end)

    it("exits 11 naming the tenant and the field of a mistake in the file", function()
      local bad = helper.temp_file(file_of{ tenants = { { name = "x", tenant_id = "x", client_id = "a",
                                                        client_secret_env = "NOT_SET_ANYWHERE" } } })
      local code, _, err = run_cli("list", "--tenants", bad)
      os.remove(bad)
      assert.equal(11, code)
      assert.matches('tenants[1] "x": client_secret_env: NOT_SET_ANYWHERE is not set', err, 1, true)
    end)
  end)
end)

describe("--shard K/N", function()
  local shards = require "vpptoken.cli.tenants" -- the slice of a name that `--shard` keeps (CLI spec above)

  -- Three kinds of tenant names a tenants file holds: numbered, domains, GUIDs (a fixed generator: the same
  -- names in every run).
  local function names(kind, count)
    local out, x = {}, 12345
    for i = 1, count do
      if kind == "numbered" then
        out[i] = string.format("tenant-%04d", i)
      elseif kind == "domain" then
        out[i] = "school" .. i .. ".onmicrosoft.com"
      else
        local parts = {}
        for p = 1, 5 do
          x = (x * 1103515245 + 12345) % 2147483648
          parts[p] = string.format("%08x", x):sub(1, ({ 8, 4, 4, 4, 8 })[p])
        end
        out[i] = table.concat(parts, "-") .. "abcd"
      end
    end
    return out
  end

  for _, kind in ipairs{ "numbered", "domain", "guid" } do
    it("spreads 4000 " .. kind .. " tenant names evenly over N slices (within 20 % of the mean)", function()
      local list = names(kind, 4000)
      for _, n in ipairs{ 2, 3, 4, 5, 8, 16 } do
        local count = {}
        for _, name in ipairs(list) do
          local k = shards.shard_of(name, n)
          assert(k == math.floor(k) and k >= 1 and k <= n, name .. ": slice " .. tostring(k) .. " of " .. n)
          count[k] = (count[k] or 0) + 1
        end
        local mean = #list / n
        for k = 1, n do
          local c = count[k] or 0
          assert(c >= 0.8 * mean and c <= 1.2 * mean,
            string.format("%s names, %d slices: slice %d holds %d, the mean is %.0f", kind, n, k, c, mean))
        end
      end
    end)
  end
end)
