-- HTTP/2 over TLS, against nginx (the sandbox speaks HTTP/1.1 only): what Graph itself answers with.
local helper = require "helper"
local nginx = require "support.nginx"
local vpptoken = require "vpptoken"
local core = require "vpptoken.core"

describe("HTTP/2 over TLS (nginx)", function()
  local dir, srv, base
  local ids = {}

  setup(function()
    local p = io.popen("mktemp -d /tmp/vpptoken-h2.XXXXXX")
    dir = p:read("*l")
    p:close()
    srv = nginx.start(dir)
    base = "https://127.0.0.1:" .. srv.https_port .. "/v1.0"
    local coll = dir .. "/www/v1.0/deviceAppManagement/vppTokens"
    os.execute("mkdir -p " .. helper.shell_quote(coll))
    for i = 1, 8 do
      ids[i] = string.format("0000000%d-4b1d-4c0e-9a7e-00000000000%d", i, i)
      local f = assert(io.open(coll .. "/" .. ids[i], "wb"))
      f:write('{"id":"', ids[i], '","organizationName":"Org ', i, '","state":"valid","displayName":null}')
      f:close()
    end
  end)

  teardown(function()
    if srv then srv:stop() end
    if dir and dir:match("^/tmp/vpptoken%-h2%.") then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  it("carries concurrent calls as streams of one connection", function()
    local s = core.session{ cafile = srv.cert }
    local reqs = {}
    for i = 1, 8 do
      reqs[i] = { method = "GET", url = base .. "/deviceAppManagement/vppTokens/" .. ids[i],
                  headers = { Authorization = "Bearer t" } }
    end
    for round = 1, 2 do
      local out = s:request_many(reqs, { concurrency = 8 })
      local connects = 0
      for i = 1, 8 do
        assert.equal(200, out[i].status)
        assert.equal("2", out[i].http_version)
        connects = connects + out[i].connects
      end
      -- one TLS handshake for the first batch (HTTP/1.1 would need 8), none for the next
      assert.equal(round == 1 and 1 or 0, connects)
    end
    s:close()
  end)

  it("carries the concurrent calls on the connection a single call opened before them", function()
    local s = core.session{ cafile = srv.cert }
    local first = assert(s:request("GET", base .. "/deviceAppManagement/vppTokens/" .. ids[1]))
    assert.equal(1, first.connects)
    local reqs = {}
    for i = 1, 8 do reqs[i] = { method = "GET", url = base .. "/deviceAppManagement/vppTokens/" .. ids[i] } end
    local connects = 0
    for i, r in ipairs(s:request_many(reqs, { concurrency = 8 })) do
      assert.equal(ids[i], r.body:match('"id":"([^"]+)"'))
      connects = connects + r.connects
    end
    assert.equal(0, connects) -- no second TLS handshake
    s:close()
  end)

  it("serves the client's get, get_many and response headers as over HTTP/1.1", function()
    local c = vpptoken.new{ base_url = base, access_token = "t", cafile = srv.cert }
    local tok = assert(c:get(ids[3]))
    assert.equal("Org 3", tok.organizationName)
    assert.is_nil(tok.displayName) -- JSON null reads as absent
    local toks, errs = c:get_many(ids, { concurrency = 4 })
    for i = 1, 8 do
      assert.is_nil(errs[i])
      assert.equal(ids[i], toks[i].id)
    end
    c:close()
    local r = assert(core.session{ cafile = srv.cert }:request("GET", base .. "/deviceAppManagement/vppTokens/"
      .. ids[1]))
    assert.equal("2", r.http_version)
    assert.matches("^application/json", r.headers["Content-Type"]) -- HTTP/2 sends lower-case names
  end)
end)
