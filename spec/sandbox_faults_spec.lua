-- vpptoken-sandbox: throttling and injected faults, as a plain client (LuaSocket) sees them.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local socket = require "socket"
local cjson = require "cjson.safe"

local http = helper.http
local COLL = "/v1.0/deviceAppManagement/vppTokens"
-- Under valgrind everything is slower: time-based checks scale with this.
local SLOW = helper.SLOW

local function graph(sb, method, path, body, token, extra)
  local headers = { authorization = "Bearer " .. (token or "test-access-token") }
  for k, v in pairs(extra or {}) do headers[k] = v end
  return http(method, sb.url .. path, body, headers)
end

local function create(sb, token)
  return graph(sb, "POST", COLL, { organizationName = "Contoso", appleId = "a@contoso.com",
                                   token = apple("c2VjcmV0") }, token)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local k = #s - i + 1 >= 3 and 4 or (#s - i + 1) + 1
    for j = 1, k do
      local v = math.floor(n / 2 ^ (18 - 6 * (j - 1))) % 64
      out[#out + 1] = B64:sub(v + 1, v + 1)
    end
  end
  return table.concat(out)
end

-- An unsigned JWT (the sandbox decodes the payload without verifying it).
local function jwt(claims, sig)
  return b64url('{"alg":"RS256","typ":"JWT"}') .. "." .. b64url(cjson.encode(claims)) .. "." .. (sig or "sig")
end

local function assert_error(status, expected, body, code)
  assert.equal(expected, status, type(body) == "table" and cjson.encode(body) or tostring(body))
  assert.is_table(body.error)
  assert.equal(code, body.error.code)
  assert.is_table(body.error.innerError)
  assert.is_string(body.error.innerError["request-id"])
end

describe("sandbox throttling", function()
  local sb = helper.sandbox_suite({ "--throttle" })

  it("is on with --throttle, at Intune's limits, and off by default", function()
    local st, cfg = sb:control("GET", "config")
    assert.equal(200, st)
    assert.same({ enabled = true, window_seconds = 20, tenant_writes = 200, app_writes = 100,
                  tenant_requests = 2000, app_requests = 1000 }, cfg.throttle)
    local plain = helper.start_sandbox()
    local _, pcfg = plain:control("GET", "config")
    plain:stop()
    assert.is_false(pcfg.throttle.enabled)
  end)

  it("answers 429 TooManyRequests with Retry-After past the per-app write limit, per app", function()
    sb:configure({ throttle = { app_writes = 3, window_seconds = 4 * SLOW } })
    for _ = 1, 3 do assert.equal(201, (create(sb, "token-a"))) end
    local st, body, headers = graph(sb, "POST", COLL, { organizationName = "x" }, "token-a",
                                    { ["client-request-id"] = "11111111-2222-3333-4444-555555555555" })
    assert_error(st, 429, body, "TooManyRequests")
    assert.equal("11111111-2222-3333-4444-555555555555", headers["client-request-id"])
    local after = tonumber(headers["retry-after"])
    assert.truthy(after and after >= 1 and after <= 4 * SLOW, tostring(headers["retry-after"]))
    -- reads are under the (much higher) request limit
    assert.equal(200, (graph(sb, "GET", COLL, nil, "token-a")))
    -- another app has its own write budget
    assert.equal(201, (create(sb, "token-b")))
  end)

  it("answers a second 429 to an app that retries before Retry-After, and admits it after", function()
    sb:configure({ throttle = { app_writes = 2, window_seconds = 3 * SLOW } })
    assert.equal(201, (create(sb, "token-a")))
    assert.equal(201, (create(sb, "token-a")))
    local st, _, h = create(sb, "token-a")
    assert.equal(429, st)
    local wait = tonumber(h["retry-after"])
    local st2, body2, h2 = create(sb, "token-a")
    assert_error(st2, 429, body2, "TooManyRequests")
    assert.truthy(tonumber(h2["retry-after"]) <= wait)
    sb:configure({ throttle = { app_writes = 100, window_seconds = 3 * SLOW } })
    assert.equal(429, (create(sb, "token-a")), "refused until Retry-After even with room in the window")
    sb:configure({ throttle = { app_writes = 2, window_seconds = 3 * SLOW } })
    socket.sleep(wait + 0.3)
    assert.equal(201, (create(sb, "token-a")))
  end)

  it("counts JWT callers by their appid claim and the tenant across apps", function()
    sb:configure({ throttle = { app_writes = 2, tenant_writes = 3, window_seconds = 20 } })
    local a1 = jwt({ appid = "app-1", tid = "tenant-1" }, "one")
    local a1b = jwt({ appid = "app-1", tid = "tenant-1" }, "another-signature")
    local a2 = jwt({ azp = "app-2", tid = "tenant-1" })
    local other_tenant = jwt({ appid = "app-3", tid = "tenant-2" })
    assert.equal(201, (create(sb, a1)))
    assert.equal(201, (create(sb, a1b)))
    assert.equal(429, (create(sb, a1)), "a new token of the same app shares its budget")
    assert.equal(201, (create(sb, a2)))
    assert.equal(429, (create(sb, jwt({ appid = "app-4", tid = "tenant-1" }))), "tenant limit")
    assert.equal(201, (create(sb, other_tenant)))
  end)

  it("never keeps or logs the bearer token", function()
    sb:configure({ throttle = { app_writes = 1 } })
    create(sb, "super-secret-bearer")
    create(sb, "super-secret-bearer")
    local _, cfg = sb:control("GET", "config")
    assert.is_nil(cjson.encode(cfg):find("super-secret-bearer", 1, true))
  end)
end)

describe("sandbox faults", function()
  local sb = helper.sandbox_suite()

  local function raw(method, path, body, token)
    local headers = { Authorization = "Bearer " .. (token or "t") }
    if body then headers["Content-Type"] = "application/json" end
    return helper.raw_exchange(sb.port, method, path, headers, body, 30 * SLOW)
  end

  local function count_tokens()
    local st, body = graph(sb, "GET", COLL)
    assert.equal(200, st)
    return #body.value
  end

  it("keeps the queued status rules working (count, method, retry_after, code, message)", function()
    sb:fail_next(2, 503, { method = "GET", retry_after = "2", code = "CancelledOnServiceTimeout", message = "m" })
    assert.equal(201, (create(sb)))
    for _ = 1, 2 do
      local st, body, h = graph(sb, "GET", COLL)
      assert_error(st, 503, body, "CancelledOnServiceTimeout")
      assert.equal("m", body.error.message)
      assert.equal("2", h["retry-after"])
    end
    assert.equal(200, (graph(sb, "GET", COLL)))
  end)

  it("reset: the connection closes with no answer and the request is not processed", function()
    sb:fail_next(1, nil, { kind = "reset" })
    local r = raw("POST", COLL, cjson.encode({ organizationName = "x", token = apple() }))
    assert.is_nil(r.status)
    assert.equal("", r.raw)
    assert.equal(0, count_tokens())
  end)

  it("reset_after: the write happens but its answer is lost", function()
    sb:fail_next(1, nil, { kind = "reset_after" })
    local r = raw("POST", COLL, cjson.encode({ organizationName = "lost answer", token = apple() }))
    assert.is_nil(r.status)
    local _, body = graph(sb, "GET", COLL)
    assert.equal(1, #body.value)
    assert.equal("lost answer", body.value[1].organizationName)
  end)

  it("truncate: Content-Length promises more than arrives, then the connection closes", function()
    sb:fail_next(1, nil, { kind = "truncate", bytes = 20 })
    local r = raw("GET", COLL)
    assert.equal(200, r.status)
    assert.truthy(tonumber(r.headers["content-length"]) > 20)
    assert.equal(20, #r.body)
    assert.is_nil(cjson.decode(r.body))
  end)

  it("malformed: 200 with a JSON body that does not parse", function()
    sb:fail_next(1, nil, { kind = "malformed" })
    local r = raw("GET", COLL)
    assert.equal(200, r.status)
    assert.matches("^application/json", r.headers["content-type"])
    assert.equal(tonumber(r.headers["content-length"]), #r.body)
    assert.is_nil(cjson.decode(r.body))
  end)

  it("content_type: the answer comes with a wrong Content-Type", function()
    sb:fail_next(1, nil, { kind = "content_type", content_type = "text/html" })
    local r = raw("GET", COLL)
    assert.equal(200, r.status)
    assert.equal("text/html", r.headers["content-type"])
  end)

  it("drip: the whole body arrives, slowly, in small chunks", function()
    assert.equal(201, (create(sb)))
    sb:fail_next(1, nil, { kind = "drip", chunk = 64, interval_ms = 100 })
    local r = raw("GET", COLL)
    assert.equal(200, r.status)
    local n = tonumber(r.headers["content-length"])
    assert.equal(n, #r.body)
    assert.is_table(cjson.decode(r.body))
    local pauses = math.ceil(n / 64) - 1
    assert.truthy(r.elapsed >= pauses * 0.1 * 0.9, string.format("%d bytes in %.2f s", n, r.elapsed))
  end)

  it("delay: a delayed answer does not hold up another connection", function()
    sb:fail_next(1, nil, { kind = "delay", delay_ms = 4000, method = "POST" })
    local c = assert(socket.connect("127.0.0.1", sb.port))
    c:settimeout(30 * SLOW)
    local body = cjson.encode({ organizationName = "late", token = apple() })
    local t0 = socket.gettime()
    assert(c:send("POST " .. COLL .. " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nConnection: close\r\n"
      .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body))
    socket.sleep(0.2)
    local t1 = socket.gettime()
    assert.equal(200, (graph(sb, "GET", COLL)))
    local quick = socket.gettime() - t1
    local answer = c:receive("*a")
    local late = socket.gettime() - t0
    c:close()
    assert.matches("^HTTP/1%.1 201", answer)
    assert.truthy(late >= 3.95, "delayed answer came after " .. late)
    -- held up behind the delayed answer, it would take the 3.8 s left of the delay
    assert.truthy(quick < 3.0, "concurrent request took " .. quick)
  end)

  it("intune: the message holds Intune's serialized JSON; 504 has an empty message", function()
    sb:fail_next(1, 500, { intune = true })
    local st, body = graph(sb, "GET", COLL)
    assert_error(st, 500, body, "InternalServerError")
    local inner = cjson.decode(body.error.message)
    assert.equal(3, inner._version)
    assert.matches("Operation ID %(for customer support%): %x+%-.* %- Activity ID: %x+%-.* %- Url: https://",
                   inner.Message)
    sb:fail_next(1, 504)
    local st2, body2 = graph(sb, "GET", COLL)
    assert_error(st2, 504, body2, "UnknownError")
    assert.equal("", body2.error.message)
  end)

  it("rejects an unknown kind with 400", function()
    assert.equal(400, (sb:control("POST", "faults", { kind = "explode" })))
    assert.equal(400, (sb:control("POST", "faults", { count = 1 })), "a status rule still needs a status")
  end)

  it("profile: rate 1 fails every Graph request with a status from the method's set", function()
    sb:configure({ faults = { rate = 1, statuses = { GET = { 502 }, POST = { 507 } }, retry_after = 7 } })
    local st1, body1 = graph(sb, "GET", COLL)
    assert_error(st1, 502, body1, "BadGateway")
    local st, body = create(sb)
    assert_error(st, 507, body, "InsufficientStorage")
    assert.equal(200, (sb:control("GET", "config")), "control endpoints are never faulted")
    sb:configure({ faults = { rate = 1, statuses = { 429 }, retry_after = 7 } })
    local st3, _, h3 = graph(sb, "GET", COLL)
    assert.equal(429, st3)
    assert.equal("7", h3["retry-after"])
    sb:configure({ faults = cjson.null })
    assert.equal(200, (graph(sb, "GET", COLL)))
  end)

  it("profile: the same seed gives the same faults (and a reset starts the sequence again)", function()
    local function run(s)
      local seq = {}
      for i = 1, 30 do seq[i] = (graph(s, "GET", COLL)) end
      return table.concat(seq, " ")
    end
    local profile = { faults = { rate = 0.5, seed = 1234 } }
    sb:configure(profile)
    local first = run(sb)
    assert.matches("200", first)
    assert.matches("5%d%d", first)
    local cfg = helper.temp_file(cjson.encode(profile))
    local other = helper.start_sandbox({ "--config", cfg })
    local ok, second = pcall(run, other)
    other:stop()
    os.remove(cfg)
    assert.is_true(ok, second)
    assert.equal(first, second)
    sb:configure({ faults = { rate = 0.5, seed = 99 } })
    assert.are_not.equal(first, run(sb))
    sb:configure(profile)
    assert.equal(first, run(sb))
  end)

  it("profile: latency_ms delays answers without serializing concurrent requests", function()
    sb:configure({ faults = { latency_ms = { GET = { 2000, 2100 } } } })
    local t0 = socket.gettime()
    assert.equal(201, (create(sb)), "POST has no latency")
    assert.truthy(socket.gettime() - t0 < 1.9, "the POST got the GETs' latency")
    local conns = {}
    t0 = socket.gettime()
    for i = 1, 4 do
      local c = assert(socket.connect("127.0.0.1", sb.port))
      c:settimeout(30 * SLOW)
      assert(c:send("GET " .. COLL .. " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n"))
      conns[i] = c
    end
    for _, c in ipairs(conns) do
      assert.matches("^HTTP/1%.1 200", c:receive("*a"))
      c:close()
    end
    local elapsed = socket.gettime() - t0
    assert.truthy(elapsed >= 1.99, "too fast: " .. elapsed)
    -- one after another they would take 8 s
    assert.truthy(elapsed < 4.5, "4 requests of 2-2.1 s took " .. elapsed .. " s: serialized?")
  end)
end)
