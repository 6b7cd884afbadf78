-- Many tenants (vpptoken.tenants) facing a hostile tenants file, a hostile job and a hostile server: what a user
-- relies on is that one tenant's trouble stays that tenant's (the run goes on, every tenant gets a result), and
-- that the names the CLI shows are the names the file says.
local helper = require "helper"
local cjson = require "cjson"
local tenants = require "vpptoken.tenants"

-- A token endpoint and a Graph on one hostile server: tenant "throttled" is answered 429 with a Retry-After of
-- eleven days, every other tenant gets one token.
local SERVER = [=[
return function(req)
  local tenant = req.path:match("^/([^/]+)/oauth2/v2%.0/token$")
  if tenant then
    return { json = { access_token = "at-" .. tenant, token_type = "Bearer", expires_in = 3600 } }
  end
  if req.path:match("/vppTokens$") then
    if req.headers.authorization == "Bearer at-throttled" then
      return { status = 429, headers = { ["Retry-After"] = "999999", ["Content-Type"] = "application/json" },
               body = '{"error":{"code":"TooManyRequests","message":"slow down"}}' }
    end
    return { json = { value = { { id = "11111111-2222-3333-4444-555555555555", state = "valid" } } } }
  end
  return { status = 404, body = "" }
end
]=]

local function parse(list)
  return tenants.parse(cjson.encode{ tenants = list }, { getenv = function() return "secret" end })
end

local function tenant(name, base)
  return { name = name, tenant_id = name, client_id = "app", client_secret_env = "SECRET",
           base_url = base and (base .. "/v1.0") or nil }
end

describe("a tenants file with names that would not show as they are", function()
  it("refuses a name or tag with a C1 control, a direction control or bytes that are not UTF-8", function()
    for _, bad in ipairs{ "a\194\15531mb", "abc\226\128\174fed", "x\226\129\166y", "caf\233" } do
      local list, err = parse{ tenant(bad) }
      assert.is_nil(list, bad)
      assert.equal("name", err.field)
      assert.equal(1, err.index)
      list, err = parse{ (function() local t = tenant("ok") t.tags = { "eu", bad } return t end)() }
      assert.is_nil(list, bad)
      assert.equal("tags", err.field)
      assert.matches("tags[2]", err.message, 1, true)
    end
  end)

  it("keeps names in any script, and tells names apart by their bytes", function()
    local list = assert(parse{ tenant("Contoso"), tenant("contoso"), tenant("Zürich"), tenant("東京") })
    assert.same({ "Contoso", "contoso", "Zürich", "東京" },
      { list[1].name, list[2].name, list[3].name, list[4].name })
  end)
end)

describe("a run over many tenants with a hostile job or server", function()
  local base, stop
  setup(function()
    local _
    base, _, stop = helper.start_hostile(SERVER)
  end)
  teardown(function()
    if stop then stop() end
  end)

  local function run(names, job)
    local list = {}
    for i, n in ipairs(names) do list[i] = tenant(n, base) end
    return tenants.run(assert(parse(list)), job, { client = { authority_url = base } })
  end

  it("a job that raises a value that cannot be shown fails that tenant only", function()
    local unshowable = setmetatable({}, { __tostring = function() error("no words for it") end })
    local results = run({ "odd", "fine" }, function(client, t)
      if t.name == "odd" then error(unshowable) end
      return client:list()
    end)
    assert.equal(2, #results)
    assert.is_false(results[1].ok)
    assert.equal("job", results[1].error.kind)
    assert.matches("cannot be shown", results[1].error.message, 1, true)
    assert.is_true(results[2].ok, tostring(results[2].error))
    assert.equal(1, #results[2].value)
  end)

  it("a job that yields on its own fails that tenant only", function()
    local results = run({ "yields", "fine" }, function(client, t)
      if t.name == "yields" then coroutine.yield("hello") end
      return client:list()
    end)
    assert.is_false(results[1].ok)
    assert.equal("JobFailed", results[1].error.code)
    assert.is_true(results[2].ok, tostring(results[2].error))
  end)

  it("a Retry-After of eleven days ends that tenant's call at once with the 429, and the others go on", function()
    local results = run({ "throttled", "fine" }, function(client) return client:list() end)
    assert.is_false(results[1].ok)
    assert.equal(429, results[1].error.status)
    assert.is_true(results[2].ok, tostring(results[2].error))
  end)
end)
