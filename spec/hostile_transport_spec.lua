-- The transport against a hostile server: redirects that would carry a secret away, limits that must hold, options
-- that would mean "forever", memory that must not stay behind. Each server here is a loopback script
-- (spec/support/hostile_server.lua); 127.0.0.2 plays "another host".
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local vpptoken = require "vpptoken"
local core = require "vpptoken.core"

-- A server that records what it is sent and answers 200 with an empty token list.
local RECORDER = [[return function(req) return { json = { value = {} } } end]]

-- A server that answers every request with a redirect (status) to `target` .. the request's target.
local function redirector(status, target)
  return string.format([[return function(req)
    return { status = %d, headers = { Location = %q .. req.target }, body = "" }
  end]], status, target)
end

local function token_fields()
  return { organizationName = "Contoso", vppTokenAccountType = "business", appleId = "a@contoso.com",
           token = apple("SECRET-VPP-TOKEN-CONTENT"), automaticallyUpdateApps = true,
           countryOrRegion = "us" }
end

describe("a request with a body is never sent to a redirect target", function()
  local other, other_stop
  before_each(function()
    local _
    other, _, other_stop = helper.start_hostile(RECORDER, "127.0.0.2")
  end)

  it("the client secret does not follow a 307 from the token endpoint to another host", function()
    local base, _, stop = helper.start_hostile(redirector(307, other .. "/steal?secret-query=1"))
    local c = vpptoken.new{ base_url = base .. "/v1.0", tenant_id = "contoso", client_id = "app",
                            client_secret = "CLIENT-SECRET-VALUE", max_retries = 0 }
    local ok, err = c:list()
    c:close()
    local seen_here, seen_there = stop(), other_stop()
    assert.is_nil(ok)
    assert.equal("REDIRECT_REFUSED", err.code)
    assert.matches("127.0.0.2", err.message, 1, true)
    assert.not_matches("secret-query", tostring(err), 1, true)
    assert.equal(1, #seen_here)
    assert.matches("^POST /contoso/oauth2/v2.0/token", seen_here[1])
    assert.same({}, seen_there)
  end)

  for _, case in ipairs{
    { "create", 302, function(c) return c:create(token_fields()) end },
    { "create", 307, function(c) return c:create(token_fields()) end },
    { "create", 308, function(c) return c:create(token_fields()) end },
    { "update", 307, function(c)
      return c:update("tok-1", { token = apple("SECRET-VPP-TOKEN-CONTENT") })
    end },
    { "sync_licenses", 307, function(c) return c:sync_licenses("tok-1") end },
    { "delete", 307, function(c) return c:delete("tok-1") end },
  } do
    local op, status, run = case[1], case[2], case[3]
    it(op .. " answered " .. status .. " is not sent again, to another host or the same one", function()
      local base, _, stop = helper.start_hostile(redirector(status, other))
      local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0 }
      local ok, err = run(c)
      c:close()
      local seen_here, seen_there = stop(), other_stop()
      assert.is_nil(ok)
      assert.equal("REDIRECT_REFUSED", err.code)
      assert.equal("protocol", err.kind)
      assert.equal(1, #seen_here)
      assert.same({}, seen_there)
    end)
  end
end)

describe("a GET follows redirects only where the URL policy allows", function()
  it("plain http from a loopback base_url never goes to a host that is not loopback (0.0.0.0 reaches this machine)",
    function()
      local target, target_port, target_stop = helper.start_hostile(RECORDER)
      assert(target)
      local base, _, stop = helper.start_hostile(redirector(302, "http://0.0.0.0:" .. target_port))
      local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0 }
      local ok, err = c:list()
      c:close()
      stop()
      local seen = target_stop()
      assert.is_nil(ok)
      assert.equal("REDIRECT_REFUSED", err.code)
      assert.matches("only to a loopback address", err.message)
      assert.same({}, seen)
    end)

  it("a redirect to another loopback host is followed without the access token", function()
    local other, _, other_stop = helper.start_hostile(RECORDER, "127.0.0.2")
    local base, _, stop = helper.start_hostile(redirector(302, other))
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0 }
    local list = assert(c:list())
    c:close()
    stop()
    local seen = other_stop()
    assert.same({}, list)
    assert.same({ "GET /v1.0/deviceAppManagement/vppTokens auth=no body=" }, seen)
  end)

  it("a redirect back to the first host after another does not bring the access token back", function()
    local other, _, other_stop = helper.start_hostile([[return function(req)
      return { status = 302, headers = { Location = req.query:match("back=(.*)") .. "/again" } }
    end]], "127.0.0.2")
    local first, _, first_stop = helper.start_hostile(string.format([[return function(req)
      if req.n == 1 then return { status = 302, headers = { Location = %q .. "/hop?back=" .. req.base } } end
      return { json = { value = {} } }
    end]], other))
    local c = vpptoken.new{ base_url = first .. "/v1.0", access_token = "t", max_retries = 0 }
    assert(c:list())
    c:close()
    local seen_first, seen_other = first_stop(), other_stop()
    assert.equal(2, #seen_first)
    assert.matches("auth=yes", seen_first[1])
    assert.matches("^GET /again auth=no", seen_first[2])
    assert.matches("auth=no", seen_other[1])
  end)
end)

describe("the URL each attempt goes to", function()
  it("a retry after a redirect starts again at the caller's URL, and the next call goes to its own", function()
    local base, _, stop = helper.start_hostile([[return function(req)
      if req.n == 1 then return { status = 302, headers = { Location = req.base .. "/moved" }, body = "" } end
      if req.n == 2 then return { status = 503, headers = { ["Retry-After"] = "0" }, body = "" } end
      return { json = { id = req.target:match("([^/]+)$") } }
    end]])
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 1, retry_delay = 0 }
    local first = assert(c:get("tok-1"))
    local second = assert(c:get("tok-2"))
    c:close()
    local seen = stop()
    assert.equal("tok-1", first.id)
    assert.equal("tok-2", second.id)
    assert.equal(4, #seen)
    assert.matches("^GET /v1.0/deviceAppManagement/vppTokens/tok%-1 ", seen[1])
    assert.matches("^GET /moved ", seen[2])
    assert.matches("^GET /v1.0/deviceAppManagement/vppTokens/tok%-1 ", seen[3])
    assert.matches("^GET /v1.0/deviceAppManagement/vppTokens/tok%-2 ", seen[4])
  end)

  it("concurrent calls after a single one go to their own URLs, not to the single call's", function()
    local base, _, stop = helper.start_hostile([[return function(req) return { json = { path = req.path } } end]])
    local s = core.session{ max_retries = 0 }
    assert(s:request("GET", base .. "/single"))
    local results = s:request_many({ { method = "GET", url = base .. "/many/1" },
                                     { method = "GET", url = base .. "/many/2" } }, { concurrency = 2 })
    s:close()
    stop()
    local cjson = require "cjson"
    assert.equal("/many/1", cjson.decode(results[1].body).path)
    assert.equal("/many/2", cjson.decode(results[2].body).path)
  end)
end)

describe("limits that must hold", function()
  it("a timeout below 1 ms is refused, not taken as 'no timeout'", function()
    for _, v in ipairs{ 0, 0.0004, -1 } do
      assert.error_matches(function() vpptoken.new{ access_token = "t", timeout = v } end, "bad option 'timeout'")
      assert.error_matches(function() vpptoken.new{ access_token = "t", connect_timeout = v } end,
        "bad option 'connect_timeout'")
    end
    assert.error_matches(function() core.session{ timeout = 0 } end, "from 0.001 to 86400")
  end)

  it("a timeout of 1 ms ends a call to a server that never answers", function()
    local base, _, stop = helper.start_hostile([[return function(req) return { drip = "HTTP/1.1 200 OK\r\n",
      every = 0.5 } end]])
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0, timeout = 0.001 }
    local t0 = core.monotonic()
    local ok, err = c:list()
    c:close()
    stop()
    assert.is_nil(ok)
    assert.equal("timeout", err.kind)
    assert.is_true(core.monotonic() - t0 < 5)
  end)

  it("max_response_size of 0 or a fraction is refused, not taken as 'no limit'", function()
    for _, v in ipairs{ 0, 0.5, 1023, 2 ^ 31 } do
      assert.error_matches(function() vpptoken.new{ access_token = "t", max_response_size = v } end,
        "bad option 'max_response_size'")
    end
  end)

  it("a gzip bomb stops at max_response_size, counted after decoding", function()
    local file = os.tmpname()
    assert(os.execute("head -c 8388608 /dev/zero | gzip -c > " .. file))
    local port, stop = helper.start_fake_server("gzip", file)
    local s = core.session{ max_response_size = 1024 * 1024, max_retries = 0 }
    local r, err = s:request("GET", "http://127.0.0.1:" .. port .. "/bomb")
    s:close()
    stop()
    os.remove(file)
    assert.is_nil(r)
    assert.equal("RESPONSE_TOO_LARGE", err.code)
  end)

  -- What the client waits before its retry, told by on_retry: Retry-After when it is delay-seconds, else the backoff
  -- (retry_delay 0.2: between 0.1 and 0.2 s with its jitter).
  local function wait_after(retry_after)
    local base, _, stop = helper.start_hostile(string.format([[return function(req)
      if req.n == 1 then return { status = 429, headers = { ["Retry-After"] = %q }, body = "" } end
      return { json = { value = {} } }
    end]], retry_after))
    local delays = {}
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", retry_delay = 0.2, max_retry_time = 30,
                            on_retry = function(info) delays[#delays + 1] = info.delay end }
    local list, err = c:list()
    c:close()
    stop()
    assert.is_nil(err)
    assert.same({}, list)
    assert.equal(1, #delays)
    return delays[1]
  end

  it("Retry-After with delay-seconds sets the wait before the retry", function()
    assert.near(0.05, wait_after("0.05"), 1e-9)
  end)

  for _, v in ipairs{ "0x10", "5abc", "1e1", "3 s", "+2" } do
    it("Retry-After " .. string.format("%q", v) .. " is not delay-seconds: it is ignored and the backoff applies",
      function()
        local d = wait_after(v)
        assert(d >= 0.1 and d <= 0.2, "waited " .. d .. " s, not the backoff")
      end)
  end

  it("a response header line of 1 MB is an error that says the headers are too large", function()
    local base, _, stop = helper.start_hostile([[return function(req)
      return { raw = "HTTP/1.1 200 OK\r\nX-Big: " .. string.rep("a", 1024 * 1024) .. "\r\nContent-Length: 2\r\n\r\n{}" }
    end]])
    local s = core.session{ max_retries = 0 }
    local r, err = s:request("GET", base .. "/x")
    s:close()
    stop()
    assert.is_nil(r)
    assert.equal("HEADERS_TOO_LARGE", err.code)
    assert.equal("protocol", err.kind)
    assert.matches("headers are larger than", err.message)
  end)
end)

describe("$batch retries use the client's retry policy", function()
  -- retry_after: the Lua expression the server evaluates, when the request comes, for the Retry-After header (nil:
  -- no header), so that a date is counted from the request, not from before the server started
  local function throttling_batch(retry_after)
    return string.format([[
      local cjson = require "cjson"
      return function(req)
        local doc = cjson.decode(req.body)
        local out = {}
        for _, r in ipairs(doc.requests) do
          if req.n == 1 then
            out[#out + 1] = { id = r.id, status = 429, headers = { ["Retry-After"] = %s },
                              body = { error = { code = "TooManyRequests", message = "slow down" } } }
          else
            out[#out + 1] = { id = r.id, status = 200, body = { id = "tok-" .. r.id } }
          end
        end
        return { json = { responses = out } }
      end]], retry_after or "nil")
  end

  it("a Retry-After past max_retry_time is not waited: the operation fails at once with its 429", function()
    local base, _, stop = helper.start_hostile(throttling_batch('"10"'))
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retry_time = 1 }
    local t0 = core.monotonic()
    local results, errs = c:batch{ { op = "get", id = "a" } }
    c:close()
    local seen = stop()
    assert.is_true(core.monotonic() - t0 < 5) -- waited, it would take 10 s
    assert.is_false(results[1])
    assert.equal(429, errs[1].status)
    assert.equal(1, #seen)
  end)

  it("an HTTP-date Retry-After is waited until that date", function()
    -- three seconds after the request, to the second: a wait of more than 2 s and at most 3 s
    local base, _, stop = helper.start_hostile(throttling_batch('os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3)'))
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t" }
    local t0 = core.monotonic()
    local results = c:batch{ { op = "get", id = "a" } }
    c:close()
    stop()
    local took = core.monotonic() - t0
    assert.equal("tok-1", results[1].id)
    assert.is_true(took >= 1.9 and took < 10, "waited " .. took .. " s")
  end)

  it("without Retry-After the wait is the client's backoff from retry_delay, capped by max_retry_time", function()
    -- retry_delay 30 s: the first backoff (15..30 s) would pass max_retry_time (10 s), so the policy says stop at
    -- once; a fixed wait of its own would have retried after a second.
    local base, _, stop = helper.start_hostile(throttling_batch(nil))
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", retry_delay = 30, max_retry_time = 10 }
    local results, errs = c:batch{ { op = "get", id = "a" } }
    c:close()
    local seen = stop()
    assert.is_false(results[1])
    assert.equal(429, errs[1].status)
    assert.equal(1, #seen)
  end)

  it("a misspelt option raises", function()
    local c = vpptoken.new{ base_url = "http://127.0.0.1:9/v1.0", access_token = "t" }
    assert.error_matches(function() c:batch({}, { max_retires = 1 }) end, "unknown option 'max_retires'")
    c:close()
  end)
end)

describe("request_many keeps every string it hands libcurl alive for the transfer", function()
  it("request fields that come from __index (made anew on each read, collected at once) arrive intact", function()
    local base, _, stop = helper.start_hostile([[return function(req) return { status = 200, body = "ok" } end]])
    local s = core.session{ max_retries = 0 }
    local reqs = {}
    for i = 1, 6 do
      reqs[i] = setmetatable({}, { __index = function(_, k)
        collectgarbage() -- whatever is not anchored is freed now
        if k == "method" then return "POST" end
        if k == "url" then return base .. "/item/" .. i end
        if k == "body" then return string.rep(string.char(64 + i), 70000) end
        return nil
      end })
    end
    local results = s:request_many(reqs, { concurrency = 3 })
    s:close()
    local seen = stop()
    for i = 1, 6 do assert.equal(200, results[i].status) end
    table.sort(seen)
    for i = 1, 6 do
      local body = seen[i]:match("body=(.*)$")
      assert.equal(70000, #body)
      assert.equal(string.rep(body:sub(1, 1), 70000), body)
    end
  end)
end)

describe("memory after concurrent calls", function()
  local function rss_kib()
    local f = io.open("/proc/self/status")
    local kib = f and tonumber(f:read("*a"):match("VmRSS:%s*(%d+)"))
    if f then f:close() end
    return kib
  end

  it("get_many does not keep a large response buffer per slot after the call", function()
    if helper.build_dir ~= "build" or os.getenv("VPPTOKEN_SLOW") then
      pending("resident memory is measured only in the plain build (ASan and valgrind keep freed memory)")
      return
    end
    local base, _, stop = helper.start_hostile([[return function(req)
      return { json = { id = "x", pad = string.rep("p", 8 * 1024 * 1024) } }
    end]])
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0 }
    local ids = {}
    for i = 1, 8 do ids[i] = "id-" .. i end
    collectgarbage()
    local before = rss_kib()
    local toks = c:get_many(ids, { concurrency = 8 })
    assert.equal("x", toks[8].id)
    toks = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    local after = rss_kib()
    stop()
    c:close()
    -- 8 slots x 8 MiB would stay resident (about 64 MiB, more with the buffer doubling) without the release.
    assert.is_true(after - before < 24 * 1024, string.format("RSS grew by %d KiB", after - before))
  end)
end)

describe("the URL policy (core.check_url) reads a loopback host strictly", function()
  it("refuses names that only look like loopback addresses, which DNS would resolve elsewhere", function()
    for _, url in ipairs{ "http://127.-0.0.1:8080/v1.0", "http://127.0.-0.-00:1/", "http://127.0.0.1.nip.io/",
                          "http://localhost.evil.example/", "http://[::2]/", "http://0.0.0.0:1/",
                          "http://127.0.0.1@evil.example/", "http://10.0.0.1/", "http://localhost./",
                          "http://127.0.0.1./", "http://127.0.0.1:65536/" } do
      local origin, why = core.check_url(url)
      assert.is_nil(origin, url)
      assert.is_string(why)
    end
  end)

  it("allows the loopback forms that are the same machine", function()
    for url, origin in pairs{ ["http://127.0.0.1:8080/v1.0"] = "http://127.0.0.1:8080",
                              ["http://127.1/"] = "http://127.0.0.1", ["http://LOCALHOST:1/"] = "http://localhost:1",
                              ["http://[::1]:5/"] = "http://[::1]:5",
                              ["http://[::ffff:127.0.0.1]/"] = "http://[::ffff:127.0.0.1]",
                              ["https://graph.microsoft.com/v1.0"] = "https://graph.microsoft.com",
                              ["https://Graph.Microsoft.com:443/v1.0"] = "https://graph.microsoft.com",
                              ["http://127.0.0.1:0065535/"] = "http://127.0.0.1:65535" } do
      local got, https_or_why = core.check_url(url)
      assert.equal(origin, got, url .. ": " .. tostring(https_or_why))
    end
  end)

  it("refuses a NUL inside a URL instead of cutting it there", function()
    local s = core.session{ max_retries = 0 }
    assert.error_matches(function() s:request("GET", "http://127.0.0.1:9/a\0b") end, "NUL byte")
    s:close()
    assert.is_nil(core.check_url("http://127.0.0.1:9/a\0b"))
  end)
end)

describe("plain http to loopback never goes through a proxy", function()
  it("neither the proxy option nor http_proxy sees a loopback request (it would see Authorization in clear)",
    function()
      local proxy, _, proxy_stop = helper.start_hostile(RECORDER, "127.0.0.2")
      local base, _, stop = helper.start_hostile(RECORDER)
      local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0, proxy = proxy }
      assert(c:list())
      c:close()
      local script = helper.temp_file(string.format([[
        package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
        package.cpath = %q .. "/?.so;" .. package.cpath
        local c = require("vpptoken").new{ base_url = %q, access_token = "t", max_retries = 0 }
        assert(c:list())
      ]], helper.build_dir, base .. "/v1.0"))
      assert(os.execute("http_proxy=" .. proxy .. " HTTP_PROXY=" .. proxy .. " " .. helper.lua .. " " .. script))
      os.remove(script)
      local seen_proxy, seen = proxy_stop(), stop()
      assert.same({}, seen_proxy)
      assert.equal(2, #seen)
    end)
end)

describe("redirects under the attempt's timeout", function()
  it("every hop shares the attempt's timeout: slow hops do not get a full timeout each", function()
    local base, _, stop = helper.start_hostile([[
      local socket = require "socket"
      return function(req)
        socket.sleep(1)
        return { status = 302, headers = { Location = req.base .. "/hop" .. req.n } }
      end]])
    local s = core.session{ timeout = 2.5, max_retries = 0 }
    local t0 = core.monotonic()
    local r, err = s:request("GET", base .. "/start")
    s:close()
    stop()
    assert.is_nil(r)
    assert.equal("OPERATION_TIMEDOUT", err.code)
    -- a full timeout per hop would follow hops of 1 s until the redirect limit
    assert.is_true(core.monotonic() - t0 < 4)
  end)

  it("only 301, 302, 303, 307 and 308 are redirects: a 304 or 300 with a Location is an answer", function()
    local other, _, other_stop = helper.start_hostile(RECORDER, "127.0.0.2")
    for _, status in ipairs{ 300, 304 } do
      local base, _, stop = helper.start_hostile(redirector(status, other))
      local s = core.session{ max_retries = 0 }
      local r = assert(s:request("GET", base .. "/x"))
      s:close()
      stop()
      assert.equal(status, r.status)
    end
    assert.same({}, other_stop())
  end)
end)

describe("$batch answers of the wrong shape", function()
  it("a sub-response whose headers are an array is that operation's error or result, never a raise", function()
    local base, _, stop = helper.start_hostile([[return function(req)
      return { json = { responses = {
        { id = "1", status = 404, headers = { "a", "b" }, body = { error = { code = "ResourceNotFound" } } },
        { id = "2", status = 204, headers = { 1, 2 } } } } }
    end]])
    local c = vpptoken.new{ base_url = base .. "/v1.0", access_token = "t", max_retries = 0 }
    local results, errs = c:batch{ { op = "get", id = "a" }, { op = "delete", id = "b" } }
    c:close()
    stop()
    assert.is_false(results[1])
    assert.equal(404, errs[1].status)
    assert.is_true(results[2])
  end)
end)
