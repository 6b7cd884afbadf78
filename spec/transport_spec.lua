-- What the core does on the wire: TLS verification, transport failures, what it advertises.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local socket = require "socket"
local vpptoken = require "vpptoken"
local core = require "vpptoken.core"

local free_port = helper.free_port

describe("TLS", function()
  local dir, cert, server, port

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. helper.shell_quote(dir))
    local key
    cert, key = helper.make_cert(dir)
    port = free_port()
    server = assert(io.popen("exec openssl s_server -quiet -www -accept 127.0.0.1:" .. port .. " -cert "
      .. helper.shell_quote(cert) .. " -key " .. helper.shell_quote(key) .. " >/dev/null 2>&1 & echo $!"))
    server = { pid = server:read("*n"), pipe = server }
    for _ = 1, 100 do
      local c = socket.connect("127.0.0.1", port)
      if c then c:close() break end
      socket.sleep(0.05)
    end
  end)

  teardown(function()
    if server then
      os.execute("kill " .. server.pid .. " 2>/dev/null")
      server.pipe:close()
    end
    if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  it("refuses a server whose certificate no trusted CA signed", function()
    local s = core.session{ max_retries = 0 }
    local r, err = s:request("GET", "https://127.0.0.1:" .. port .. "/")
    s:close()
    assert.is_nil(r)
    assert.equal("tls", err.kind)
    assert.equal("PEER_FAILED_VERIFICATION", err.code)
  end)

  it("accepts that server when its certificate is given as cafile", function()
    local s = core.session{ max_retries = 0, cafile = cert }
    local r = assert(s:request("GET", "https://127.0.0.1:" .. port .. "/"))
    s:close()
    assert.equal(200, r.status)
  end)

  it("without CA certificates to verify with, the error says what to install or set, not only a code", function()
    local s = core.session{ max_retries = 0, cafile = dir .. "/no-such-bundle.pem" }
    local r, err = s:request("GET", "https://127.0.0.1:" .. port .. "/")
    s:close()
    assert.is_nil(r)
    assert.equal("tls", err.kind)
    assert.equal("SSL_CACERT_BADFILE", err.code)
    assert.matches("install the system's CA bundle (Debian: ca-certificates) or give cafile", err.message, 1, true)
  end)

  it("a client with insecure = true says so on stderr; one without says nothing", function()
    local function stderr_of(opts)
      local script, errfile = os.tmpname(), os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write("require('vpptoken').new{ access_token = 't'" .. opts .. " }:close()\n")
      f:close()
      assert.is_true(helper.execute("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='" .. helper.build_dir
        .. "/?.so;;' " .. helper.lua .. " " .. helper.shell_quote(script) .. " 2>" .. helper.shell_quote(errfile)))
      local text = assert(io.open(errfile)):read("*a")
      os.remove(script)
      os.remove(errfile)
      return text
    end
    assert.matches("TLS certificate verification is OFF", stderr_of(", insecure = true"))
    assert.equal("", stderr_of(""))
  end)

  it("skips verification only with insecure = true", function()
    local s = core.session{ max_retries = 0, insecure = true }
    local r = assert(s:request("GET", "https://127.0.0.1:" .. port .. "/"))
    s:close()
    assert.equal(200, r.status)
  end)
end)

describe("a connection lost after the request was sent", function()
  it("is not sent again for a create, and the error says the outcome is unknown", function()
    local port, stop = helper.start_fake_server("drop")
    local c = vpptoken.new{ base_url = "http://127.0.0.1:" .. port .. "/v1.0", access_token = "t",
                            retry_delay = 0.01 }
    local ok, err = c:create{ token = apple("apple-secret") }
    c:close()
    local seen = stop()
    assert.is_nil(ok)
    assert.equal("network", err.kind)
    assert.equal("GOT_NOTHING", err.code)
    assert.is_true(err.outcome_unknown)
    assert.equal(1, err.attempts)
    assert.matches("outcome unknown", tostring(err))
    assert.same({ "POST /v1.0/deviceAppManagement/vppTokens HTTP/1.1 auth=yes" }, seen)
  end)

  it("is retried for a get, which cannot duplicate anything", function()
    local port, stop = helper.start_fake_server("drop")
    local c = vpptoken.new{ base_url = "http://127.0.0.1:" .. port .. "/v1.0", access_token = "t",
                            retry_delay = 0.01, max_retries = 2 }
    local ok, err = c:get("abc")
    c:close()
    local seen = stop()
    assert.is_nil(ok)
    assert.equal(3, err.attempts)
    assert.is_nil(err.outcome_unknown)
    assert.equal(3, #seen)
  end)
end)

describe("redirects", function()
  local sb = helper.sandbox_suite()

  it("are followed, and Authorization is not sent to another host", function()
    -- 127.0.0.1 redirects to localhost: another host name, so the access token must stay behind.
    local port, stop = helper.start_fake_server("redirect", "http://localhost:" .. sb.port)
    local c = vpptoken.new{ base_url = "http://127.0.0.1:" .. port .. "/v1.0", access_token = "t", max_retries = 0 }
    local ok, err = c:list()
    c:close()
    local seen = stop()
    assert.same({ "GET /v1.0/deviceAppManagement/vppTokens HTTP/1.1 auth=yes" }, seen)
    local log = sb:requests()
    assert.equal(1, #log)
    assert.is_nil(log[1].headers.authorization)
    assert.is_nil(ok)
    assert.equal(401, err.status)
  end)

  it("stop after 5 hops", function()
    local port, stop = helper.start_fake_server("loop")
    local s = core.session{ max_retries = 0 }
    local r, err = s:request("GET", "http://127.0.0.1:" .. port .. "/x")
    s:close()
    local seen = stop()
    assert.is_nil(r)
    assert.equal("TOO_MANY_REDIRECTS", err.code)
    assert.equal(6, #seen)
  end)
end)

describe("redirects from https", function()
  local dir, cert, tls, plain

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. helper.shell_quote(dir))
    local key
    cert, key = helper.make_cert(dir)
    tls = helper.start_sandbox{ "--tls-cert", cert, "--tls-key", key }
    plain = helper.start_sandbox()
  end)

  teardown(function()
    if tls then tls:stop() end
    if plain then plain:stop() end
    os.execute("rm -rf " .. helper.shell_quote(dir))
  end)

  local function via(target)
    return tls.url .. "/_sandbox/redirect?to=" .. core.escape(target)
  end

  it("are followed to another https URL", function()
    local s = core.session{ cafile = cert, max_retries = 0 }
    local r = assert(s:request("GET", via(tls.url .. "/health")))
    s:close()
    assert.equal(200, r.status)
    assert.matches('"ok"', r.body)
  end)

  it("never go down to plain http", function()
    local s = core.session{ cafile = cert, max_retries = 0 }
    local r, err = s:request("GET", via(plain.url .. "/health"))
    s:close()
    assert.is_nil(r)
    assert.equal("REDIRECT_REFUSED", err.code)
    assert.matches("https never goes down to plain http", err.message)
  end)
end)

describe("request headers", function()
  local sb = helper.sandbox_suite(nil, { reset = false })

  it("a gzip-compressed answer reaches the caller decoded", function()
    local file = os.tmpname()
    assert(os.execute("printf '%s' '{\"id\":\"gz-1\",\"organizationName\":\"Zipped\"}' | gzip -c > " .. file))
    local port, stop = helper.start_fake_server("gzip", file)
    local c = vpptoken.new{ base_url = "http://127.0.0.1:" .. port .. "/v1.0", access_token = "t", max_retries = 0 }
    local tok, err = c:get("gz-1")
    c:close()
    stop()
    os.remove(file)
    assert.is_nil(err)
    assert.equal("Zipped", tok.organizationName)
  end)

  it("advertise compressed responses and name vpptoken as the user agent", function()
    local c = vpptoken.new{ base_url = sb.graph, access_token = "t" }
    assert(c:list())
    c:close()
    local h = sb:requests()[1].headers
    assert.matches("gzip", h["accept-encoding"])
    assert.matches("^vpptoken/", h["user-agent"])
    assert.equal("application/json", h["accept"])
  end)
end)
