-- vpptoken-sandbox over HTTPS (--tls-cert/--tls-key): the vpptoken core refuses its self-signed
-- certificate by default and accepts it when told to trust it (cafile); the token endpoint is served
-- over HTTPS too. (HTTP/2 is out of reach: libmicrohttpd speaks HTTP/1.1 only.)
-- luacheck: std +busted
local helper = require "helper"
local core = require "vpptoken.core"
local cjson = require "cjson.safe"

local TENANT = "contoso.onmicrosoft.com"

local function mkdtemp()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("*l")
  p:close()
  return d
end

describe("vpptoken-sandbox --tls-cert/--tls-key", function()
  local dir, cert, key

  setup(function()
    dir = mkdtemp()
    cert, key = helper.make_cert(dir)
    local f = assert(io.open(dir .. "/apps.json", "w"))
    f:write((assert(cjson.encode({ tenant = TENANT, apps = { { client_id = "app", client_secret = "s" } } }))))
    f:close()
  end)

  local sb = helper.sandbox_suite(function()
    return { "--tls-cert", cert, "--tls-key", key, "--apps", dir .. "/apps.json" }
  end, { reset = false })

  teardown(function()
    if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  it("announces an https:// URL", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", sb.url)
  end)

  -- connect_timeout covers the TLS handshake: a sandbox under valgrind on a loaded machine can take over the
  -- default 10 s for its first one
  it("is refused by the core when its certificate is not trusted", function()
    local s = core.session{ max_retries = 0, connect_timeout = 60 }
    local res, err = s:request("GET", sb.url .. "/health")
    s:close()
    assert.is_nil(res)
    assert.equal("tls", err.kind)
    assert.equal("PEER_FAILED_VERIFICATION", err.code)
  end)

  it("is accepted by the core with cafile = its certificate", function()
    local s = core.session{ cafile = cert, max_retries = 0, connect_timeout = 60 }
    local res, err = s:request("GET", sb.url .. "/health")
    s:close()
    assert.is_table(res, err and tostring(err.message))
    assert.equal(200, res.status)
    assert.same({ status = "ok" }, cjson.decode(res.body))
  end)

  it("sends Strict-Transport-Security on every HTTPS answer, as Graph does", function()
    local s = core.session{ cafile = cert, max_retries = 0, connect_timeout = 60 }
    local answers = {
      assert(s:request("GET", sb.url .. "/health")),
      assert(s:request("GET", sb.url .. "/v1.0/deviceAppManagement/vppTokens")), -- 401: no token
      assert(s:request("GET", sb.url .. "/nowhere")),
      assert(s:request("POST", sb.url .. "/" .. TENANT .. "/oauth2/v2.0/token",
        { ["Content-Type"] = "application/x-www-form-urlencoded" }, "grant_type=client_credentials")),
    }
    s:close()
    assert.equal(401, answers[2].status)
    for _, res in ipairs(answers) do
      assert.equal("max-age=31536000", res.headers["strict-transport-security"], res.status .. " " .. res.body)
    end
  end)

  it("serves the token endpoint and Graph over HTTPS", function()
    local s = core.session{ cafile = cert, max_retries = 0, connect_timeout = 60 }
    local form = "grant_type=client_credentials&client_id=app&client_secret=s&scope="
      .. sb.url:gsub("[:/]", function(c) return string.format("%%%02X", c:byte()) end) .. "%2F.default"
    local res, err = s:request("POST", sb.url .. "/" .. TENANT .. "/oauth2/v2.0/token",
      { ["Content-Type"] = "application/x-www-form-urlencoded" }, form)
    assert.is_table(res, err and tostring(err.message))
    assert.equal(200, res.status, res.body)
    local tok = assert(cjson.decode(res.body)).access_token
    local g = assert(s:request("GET", sb.url .. "/v1.0/deviceAppManagement/vppTokens",
      { Authorization = "Bearer " .. tok }))
    s:close()
    assert.equal(200, g.status, g.body)
  end)
end)

describe("vpptoken-sandbox TLS options", function()
  it("sends no Strict-Transport-Security over plain HTTP", function()
    local plain = helper.start_sandbox({})
    local ok, err = pcall(function()
      local st, _, h = helper.http("GET", plain.url .. "/health")
      assert.equal(200, st)
      assert.is_nil(h["strict-transport-security"])
    end)
    plain:stop()
    assert(ok, err)
  end)

  it("wants --tls-cert and --tls-key together", function()
    local cmd = helper.shell_quote(helper.sandbox_bin) .. " --port 0 --tls-cert x.pem 2>&1; echo exit=$?"
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("--tls-cert and --tls-key go together", 1, true), out)
    assert.truthy(out:find("exit=2", 1, true), out)
  end)

  it("refuses to start when the certificate file cannot be read", function()
    local ok, err = pcall(helper.start_sandbox, { "--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                                                  "/nonexistent/key.pem" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("/nonexistent/cert.pem", 1, true), tostring(err))
  end)
end)
