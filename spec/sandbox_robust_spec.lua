-- vpptoken-sandbox as a local server must be robust (issue 14, items 7-10): bounded request log,
-- private files and redaction by decoded key, 400 (not 500) for hostile input, and a server that
-- stays reachable while other clients misbehave. Loopback only.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local support = require "sandbox_support"
local cjson = require "cjson.safe"

local http = helper.http
local COLL = support.COLL

local BODY_LIMIT = 64 * 1024
local BYTES_LIMIT = 8 * 1024 * 1024

describe("sandbox request log bounds", function()
  local sb = helper.sandbox_suite()

  it("keeps only the first 64 KiB of a body, marked truncated, unauthenticated requests included", function()
    local big = '{"organizationName":"' .. string.rep("x", 300 * 1024) .. '"}'
    local st = http("POST", sb.graph .. "/deviceAppManagement/vppTokens", big)
    assert.equal(401, st)
    local log = sb:requests()
    assert.equal(1, #log)
    assert.equal(BODY_LIMIT, #log[1].body)
    assert.equal(big:sub(1, BODY_LIMIT), log[1].body)
    assert.is_true(log[1].body_truncated)
    st = http("POST", sb.graph .. "/deviceAppManagement/vppTokens", '{"organizationName":"small"}')
    assert.equal(401, st)
    log = sb:requests()
    assert.equal('{"organizationName":"small"}', log[2].body)
    assert.is_nil(log[2].body_truncated)
  end)

  it("drops the oldest entries past its total byte limit", function()
    local body = string.rep("y", 100 * 1024)
    local n = math.ceil(BYTES_LIMIT / BODY_LIMIT) + 20
    for i = 1, n do
      local st = http("POST", sb.graph .. "/deviceAppManagement/vppTokens?n=" .. i, body)
      assert.equal(401, st)
    end
    local log = sb:requests()
    local total = 0
    for _, e in ipairs(log) do total = total + #e.body end
    assert.is_true(total <= BYTES_LIMIT, "log holds " .. total .. " body bytes")
    assert.is_true(#log < n, "nothing was dropped")
    assert.is_true(#log > n / 2, "too much was dropped: " .. #log)
    assert.equal("/v1.0" .. COLL .. "?n=" .. n, log[#log].path)
    assert.equal("/v1.0" .. COLL .. "?n=" .. (n - #log + 1), log[1].path)
  end)
end)

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

local function mode_of(path)
  local p = assert(io.popen("stat -c %a " .. helper.shell_quote(path)))
  local m = p:read("*l")
  p:close()
  return m
end

describe("sandbox files and redaction", function()
  it("creates the --journal file readable by its owner only", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. helper.shell_quote(dir)))
    local journal = dir .. "/requests.jsonl"
    local sb = helper.start_sandbox({ "--journal", journal })
    local st = support.graph(sb, "POST", COLL, { organizationName = "J", token = apple("dG9rZW4tYw==") })
    sb:stop()
    assert.equal(201, st)
    local mode = mode_of(journal)
    os.remove(journal)
    os.remove(dir)
    assert.equal("600", mode)
  end)

  it("redacts a token sent under an escaped key, in the journal and in /_sandbox/requests", function()
    local journal = os.tmpname()
    local sb = helper.start_sandbox({ "--journal", journal })
    local body = '{"organizationName":"E","tok\\u0065n":"ESCAPED-SECRET-1","\\u0074oken" : "ESCAPED-SECRET-2"}'
    local st = http("POST", sb.graph .. COLL, body, { authorization = "Bearer t" })
    assert.is_number(st)
    local log = sb:requests()
    sb:stop()
    local text = read(journal)
    os.remove(journal)
    assert.equal(1, #log)
    for _, secret in ipairs({ "ESCAPED-SECRET-1", "ESCAPED-SECRET-2" }) do
      assert.is_nil(log[1].body:find(secret, 1, true), secret .. " is in /_sandbox/requests")
      assert.is_nil(text:find(secret, 1, true), secret .. " is in the journal")
    end
    assert.matches('"organizationName":"E"', log[1].body)
    local line = assert(cjson.decode(text:match("[^\n]+")))
    assert.matches('"tok\\u0065n":"<redacted>"', line.body, 1, true)
  end)

  it("--data does not follow a symlink planted at FILE.tmp", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. helper.shell_quote(dir)))
    local data, victim = dir .. "/tokens.json", dir .. "/victim"
    local f = assert(io.open(victim, "wb"))
    f:write("precious")
    f:close()
    assert(os.execute("ln -s " .. helper.shell_quote(victim) .. " " .. helper.shell_quote(data .. ".tmp")))
    local sb = helper.start_sandbox({ "--data", data })
    local st = support.graph(sb, "POST", COLL, { organizationName = "Kept", token = apple("dG9rZW4tYw==") })
    sb:stop()
    local saved, mode, kept = read(data), mode_of(data), read(victim)
    assert(os.execute("rm -rf " .. helper.shell_quote(dir)))
    assert.equal(201, st)
    assert.equal("precious", kept)
    assert.truthy(saved and saved:find("Kept", 1, true), "the store was not saved")
    assert.equal("600", mode)
  end)
end)

describe("sandbox hostile input", function()
  local sb = helper.sandbox_suite()

  it("answers 400 to a $batch sub-request body nested over 64 levels", function()
    local nested = string.rep("[", 70) .. string.rep("]", 70)
    local body = '{"requests":[{"id":"1","method":"POST","url":"/deviceAppManagement/vppTokens",'
      .. '"headers":{"content-type":"application/json"},"body":{"a":' .. nested .. '}}]}'
    local st, answer = support.graph(sb, "POST", "/$batch", body)
    assert.equal(400, st)
    assert.equal("BadRequest", answer.error.code)
  end)

  it("answers 400 to /_sandbox/redirect?to= with CR or LF", function()
    for _, to in ipairs({ "http://x/%0d%0aSet-Cookie:a=b", "http://x/%0a", "http://x/%0d" }) do
      local r = helper.raw_exchange(sb.port, "GET", "/_sandbox/redirect?to=" .. to, {})
      assert.equal(400, r.status, to)
      assert.is_nil(r.headers["set-cookie"])
    end
  end)

  it("reads a bearer token between long runs of spaces (trimmed in linear time) and refuses a wrong one", function()
    local own = helper.start_sandbox({ "--access-token", "right-token" })
    local spaces = string.rep(" ", 12000)
    local ok = helper.raw_exchange(own.port, "GET", "/v1.0" .. COLL, { Authorization = "Bearer" .. spaces
                                   .. "right-token" .. spaces })
    local inside = helper.raw_exchange(own.port, "GET", "/v1.0" .. COLL, { Authorization = "Bearer right-token"
                                       .. spaces .. "x" .. spaces })
    own:stop()
    assert.equal(200, ok.status, ok.raw:sub(1, 300))
    assert.equal(401, inside.status, inside.raw:sub(1, 300))
  end)

  it("answers 400 to a path with an encoded NUL instead of listing the collection", function()
    for _, path in ipairs({ COLL .. "/%00", COLL .. "%00", COLL .. "/%00/syncLicenses" }) do
      local r = helper.raw_exchange(sb.port, "GET", "/v1.0" .. path, { Authorization = "Bearer t" })
      assert.equal(400, r.status, path)
      assert.is_nil(r.body:find('"value"', 1, true), path)
    end
  end)
end)

describe("sandbox connection bounds", function()
  local socket = require "socket"

  -- Seconds until GET /health answers 200 on a fresh connection, trying for at most limit seconds (nil: never).
  local function health_within(sb, limit)
    local t0 = socket.gettime()
    while socket.gettime() - t0 < limit do
      local c = socket.tcp()
      c:settimeout(1)
      if c:connect("127.0.0.1", sb.port) then
        c:send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        local line = c:receive("*l")
        c:close()
        if line and line:match("^HTTP/1%.1 200") then return socket.gettime() - t0 end
      else
        c:close()
      end
      socket.sleep(0.1)
    end
    return nil
  end

  it("keeps /health reachable while idle and half-sent connections fill --connection-limit", function()
    local sb = helper.start_sandbox({ "--connection-limit", "20", "--connection-timeout", "2" })
    local held = {}
    for i = 1, 50 do
      local c = socket.tcp()
      c:settimeout(1)
      if c:connect("127.0.0.1", sb.port) then
        if i % 2 == 0 then c:send("GET /hea") end -- a request line that never ends
        held[#held + 1] = c
      else
        c:close()
      end
    end
    local elapsed = health_within(sb, 10)
    for _, c in ipairs(held) do c:close() end
    local again = health_within(sb, 2)
    sb:stop()
    assert.is_true(#held >= 20, "only " .. #held .. " connections were opened")
    assert.is_number(elapsed, "/health did not answer within 10 s")
    assert.is_true(elapsed < 8, "/health took " .. tostring(elapsed) .. " s")
    assert.is_number(again)
  end)

  it("cuts connections trickling a request byte by byte after --request-timeout, so /health answers", function()
    -- Slowloris: every held connection sends one more byte of a request line that never ends, well inside the idle
    -- timeout, for 6 s. Only a deadline on the whole request frees them.
    local sb = helper.start_sandbox({ "--connection-limit", "20", "--connection-timeout", "30",
                                      "--request-timeout", "1" })
    local held = {}
    for _ = 1, 30 do
      local c = socket.tcp()
      c:settimeout(1)
      if c:connect("127.0.0.1", sb.port) and c:send("G") then held[#held + 1] = c else c:close() end
    end
    local t0, answered = socket.gettime(), nil
    while socket.gettime() - t0 < 6 do
      socket.sleep(0.25)
      for _, c in ipairs(held) do c:send("E") end
      if not answered and health_within(sb, 0.01) then answered = socket.gettime() - t0 end
    end
    -- every trickling connection was closed by the sandbox (at the latest by the end of the 6 s)
    local cut = 0
    for _, c in ipairs(held) do
      c:settimeout(0.5)
      local _, err = c:receive("*a")
      if err == "closed" then cut = cut + 1 end
      c:close()
    end
    -- a well-behaved client on a keep-alive connection is not cut while it is quick
    local c = socket.tcp()
    c:settimeout(2)
    assert(c:connect("127.0.0.1", sb.port))
    local statuses = {}
    for i = 1, 3 do
      c:send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
      statuses[i] = c:receive("*l")
      repeat local line = c:receive("*l") until not line or line == ""
      c:receive(15) -- {"status":"ok"}
      socket.sleep(0.3)
    end
    c:close()
    sb:stop()
    assert.is_true(#held >= 20, "only " .. #held .. " connections were opened")
    assert.is_number(answered, "/health did not answer while 20 connections trickled for 6 s")
    assert.is_true(answered < 4, "/health took " .. tostring(answered) .. " s")
    assert.equal(#held, cut)
    assert.same({ "HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK" }, statuses)
  end)

  it("answers a request that arrived whole while the sandbox was busy past --request-timeout", function()
    -- A's write saves a large --data store (seconds); B's whole request waits unread meanwhile: the sandbox is late,
    -- not B, so B is answered.
    if helper.sandbox_wrapper then
      -- valgrind runs one thread at a time, so the sandbox's deadline thread and its server thread no longer keep
      -- time with each other: seconds of valgrind's scheduling, not the sandbox, decide this case there
      pending("NOT TESTED under valgrind (VPPTOKEN_SANDBOX_WRAPPER): the plain and ASan passes test it")
      return
    end
    local dir = helper.temp_dir()
    local sb = helper.start_sandbox({ "--data", dir .. "/s.json", "--seed-tokens", "12000", "--request-timeout", "1" })
    local body = '{"token":' .. require("cjson").encode(helper.apple_token()) .. '}'
    local a, b = socket.tcp(), socket.tcp()
    a:settimeout(60)
    b:settimeout(60)
    assert(a:connect("127.0.0.1", sb.port))
    assert(b:connect("127.0.0.1", sb.port))
    local t0 = socket.gettime()
    a:send("POST /v1.0/deviceAppManagement/vppTokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
      .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body)
    socket.sleep(0.05)
    b:send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    local a_line, b_line = a:receive("*l"), b:receive("*l")
    local busy = socket.gettime() - t0
    a:close()
    b:close()
    sb:stop()
    helper.remove_tree(dir)
    assert.equal("HTTP/1.1 201 Created", a_line)
    assert.equal("HTTP/1.1 200 OK", b_line, string.format("cut after the sandbox was busy %.2f s", busy))
  end)

  it("rejects a --connection-limit, --connection-timeout or --request-timeout out of range", function()
    for _, args in ipairs({ "--connection-limit 0", "--connection-timeout 0", "--connection-timeout x",
                            "--request-timeout 0", "--request-timeout 3601" }) do
      local p = assert(io.popen(helper.shell_quote(helper.sandbox_bin) .. " " .. args .. " 2>&1", "r"))
      local text = p:read("*a")
      local _, _, code = p:close()
      assert.equal(2, code, args)
      assert.matches("%-%-[a-z]+%-", text)
    end
  end)
end)

describe("vpptoken-sandbox make-token with odd input", function()
  -- Runs make-token (through the valgrind wrapper when set); returns its exit code, stdout and stderr.
  local function make(args)
    local line = { helper.sandbox_wrapper or "", helper.shell_quote(helper.sandbox_bin), "make-token" }
    for _, a in ipairs(args) do line[#line + 1] = helper.shell_quote(a) end
    local errfile = os.tmpname()
    local p = assert(io.popen(table.concat(line, " ") .. " 2>" .. errfile))
    local out = p:read("*a")
    local _, _, code = p:close()
    local f = assert(io.open(errfile))
    local err = f:read("*a")
    f:close()
    os.remove(errfile)
    return code, out, err
  end

  it("refuses days from now that land before 1970 or after 9999 as a usage error, without a traceback", function()
    for _, days in ipairs({ "+2932896", "+99999999", "-800000", "-99999999d" }) do
      local code, out, err = make({ "--org", "Contoso", "--apple-id", "a@contoso.com", "--expires", days })
      assert.equal(2, code, days .. ": " .. err)
      assert.equal("", out)
      assert.matches("--expires wants", err, 1, true)
      assert.is_nil(err:find("traceback", 1, true), err)
    end
    -- the edges that a token file can still say
    local code, out = make({ "--org", "Contoso", "--apple-id", "a@contoso.com", "--expires", "+2900000" })
    assert.equal(0, code)
    assert.truthy(out:match("^[%w+/=]+\n$"))
  end)

  it("keeps control characters and a long organization name inside the file it writes", function()
    local org = "Contoso\27[31m\n" .. ("O"):rep(20000)
    local code, out, err = make({ "--org", org, "--apple-id", "a@contoso.com", "--expires", "2030-01-02" })
    assert.equal(0, code, err)
    local file = assert(require("vpptoken").read_token_file(helper.temp_file(out)))
    assert.equal(org, file.organization)
  end)
end)

describe("vpptoken-sandbox /_sandbox/token with odd lifetimes", function()
  local path = os.tmpname()
  local sb = helper.sandbox_suite(function()
    local f = assert(io.open(path, "w"))
    f:write('{"tenant":"home","apps":[{"client_id":"app","client_secret":"s",'
      .. '"roles":["DeviceManagementServiceConfig.ReadWrite.All"]}]}')
    f:close()
    return { "--apps", path }
  end)
  teardown(function() os.remove(path) end)

  it("refuses a lifetime of infinity (JSON 1e999) with a 400 instead of a token that never says when it ends",
    function()
      for _, body in ipairs{ '{"client_id":"app","lifetime":1e999}', '{"client_id":"app","lifetime":-1e999}' } do
        local st, b = http("POST", sb.url .. "/_sandbox/token", body, { ["content-type"] = "application/json" })
        assert.equal(400, st, body)
        assert.matches("lifetime", b.error.message, 1, true)
      end
      local st, b = http("POST", sb.url .. "/_sandbox/token", '{"client_id":"app","lifetime":60}',
        { ["content-type"] = "application/json" })
      assert.equal(200, st)
      assert.equal(60, b.expires_in)
    end)
end)
