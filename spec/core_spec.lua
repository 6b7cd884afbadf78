-- vpptoken.core and the module's offline surface: enums, dates, options, the Session userdata.
local helper = require "helper"
local vpptoken = require "vpptoken"
local core = require "vpptoken.core"

describe("enums", function()
  it("are tables of the wire's case-sensitive strings", function()
    assert.equal("business", vpptoken.AccountType.business)
    assert.equal("education", vpptoken.AccountType.education)
    assert.equal("assignedToExternalMDM", vpptoken.State.assignedToExternalMDM)
    assert.equal("inProgress", vpptoken.SyncStatus.inProgress)
  end)

  it("raise on a member that does not exist, so a typo cannot pass silently", function()
    assert.error_matches(function() return vpptoken.State.vaild end, "vpptoken.State has no member 'vaild'")
  end)

  it("are read-only", function()
    assert.error_matches(function() vpptoken.State.fresh = "fresh" end, "vpptoken.State is read%-only")
  end)

  it("can be walked with pairs, in wire order through members()", function()
    local seen = {}
    for k, v in pairs(vpptoken.SyncStatus) do
      assert.equal(k, v)
      seen[#seen + 1] = k
    end
    table.sort(seen)
    assert.same({ "completed", "failed", "inProgress", "none" }, seen)
    assert.same({ "unknown", "valid", "expired", "invalid", "assignedToExternalMDM" }, vpptoken.members("State"))
    assert.same({ "unknown", "valid", "expired", "invalid", "assignedToExternalMDM", "duplicateLocationId" },
      vpptoken.members("State", true))
    assert.same({ "business", "education" }, vpptoken.members(vpptoken.AccountType))
    assert.same(vpptoken.members("lastSyncStatus"), vpptoken.members(vpptoken.SyncStatus))
  end)

  it("check values by property name, with the beta-only member allowed only on beta", function()
    assert.is_true(core.check_enum("lastSyncStatus", "failed"))
    local ok, msg = core.check_enum("state", "duplicateLocationId")
    assert.is_false(ok)
    assert.matches("only in the beta API", msg)
    assert.is_true(core.check_enum("state", "duplicateLocationId", true))
  end)
end)

describe("token ids in URLs", function()
  local schema = require "vpptoken.schema"

  it("are percent-encoded, every byte but the unreserved ones", function()
    assert.equal("a%C3%A9b-_.~%3A%40%25", assert(schema.check_id("a\195\169b-_.~:@%")))
    assert.equal("00000001-4b1d-4c0e-9a7e-000000001eef", schema.check_id("00000001-4b1d-4c0e-9a7e-000000001eef"))
  end)

  it("are refused with the position of a byte no id may hold: controls, space, / \\ ? #", function()
    for _, bad in ipairs{ "\0", "\1", "\31", "\127", " ", "\t", "\n", "/", "\\", "?", "#" } do
      local escaped, msg = schema.check_id("ab" .. bad .. "c")
      assert.is_nil(escaped)
      assert.matches("cannot be in an id %(.* at position 3%)", msg)
    end
    assert.matches("must not be empty", select(2, schema.check_id("")))
    assert.matches("must not be '.' or '..'", select(2, schema.check_id("..")))
    assert.matches("longer than 256", select(2, schema.check_id(string.rep("a", 257))))
    assert.matches("must be a string", select(2, schema.check_id(7)))
  end)
end)

describe("strip_nulls", function()
  local cjson = require "cjson.safe"

  it("removes JSON nulls at every depth and keeps everything else", function()
    local doc = cjson.decode('{"a":null,"b":1,"c":{"d":null,"e":[1,{"f":null,"g":false}]},"h":""}')
    assert.equal(doc, core.strip_nulls(doc, cjson.null))
    assert.same({ b = 1, c = { e = { 1, { g = false } } }, h = "" }, doc)
  end)

  it("refuses tables nested past 64 levels instead of overflowing the C stack", function()
    local deep = {}
    local t = deep
    for _ = 1, 100 do
      t.x = {}
      t = t.x
    end
    assert.error_matches(function() core.strip_nulls(deep, cjson.null) end, "nested deeper than 64")
  end)
end)

describe("has_null", function()
  it("finds the bytes null up to the first zero byte, and nothing where they are not", function()
    assert.is_true(core.has_null('{"a":null}'))
    assert.is_true(core.has_null("null"))
    assert.is_true(core.has_null('{"a":"nulnull"}'))
    assert.is_false(core.has_null('{"a":"nul","c":"n u l l","d":"NULL"}'))
    assert.is_false(core.has_null(""))
    assert.is_false(core.has_null("nul"))
  end)

  it("misses no null lua-cjson decodes: it reads no further than a zero byte either", function()
    local cjson = require "cjson.safe"
    for _, text in ipairs{ '{"a":1}\0{"b":null}', '{"a":1}\0null', '{"a":"x\0","b":null}' } do
      assert.is_false(core.has_null(text))
      local doc = cjson.decode(text)
      if doc ~= nil then
        for _, v in pairs(doc) do assert.are_not.equal(cjson.null, v) end
      end
    end
  end)
end)

describe("vpptoken.json.decode", function()
  local json = require "vpptoken.json"

  it("bounds the values of text too short to be scanned by its length, and counts them when asked", function()
    local doc, msg, values = json.decode("[1,2,3]", 4)
    assert.same({ 1, 2, 3 }, doc)
    assert.is_nil(msg)
    assert.is_nil(values) -- 7 bytes hold at most 4 values: no scan
    assert.equal(4, select(3, json.decode("[1,2,3]", 4, true)))
    doc, msg, values = json.decode("[1,2,3]", 3)
    assert.is_nil(doc)
    assert.matches("more than 3 values", msg)
    assert.equal("values", values)
  end)

  it("says which bound the decoder's refusal broke: depth", function()
    local doc, msg, over = json.decode(string.rep("[", 65) .. string.rep("]", 65))
    assert.is_nil(doc)
    assert.matches("64", msg)
    assert.equal("depth", over)
  end)
end)

describe("vpptoken.time", function()
  it("parses Graph's DateTimeOffset with 7 fraction digits and a zone offset", function()
    local t, offset = vpptoken.time.parse("2016-12-31T23:57:57.2481234-08:00")
    assert.equal(-480, offset)
    assert.is_true(math.abs(t - 1483257477.2481234) < 1e-6)
  end)

  it("formats seconds as UTC text, or at an offset, and round-trips the fraction", function()
    assert.equal("1970-01-01T00:00:00Z", vpptoken.time.format(0))
    assert.equal("2016-12-31T23:57:57.2481234-08:00",
      vpptoken.time.format(vpptoken.time.parse("2016-12-31T23:57:57.2481234-08:00"), -480))
    assert.equal("2025-02-13T10:17:05.500Z", vpptoken.time.format(1739441825.5, 0, 3))
  end)

  it("returns nil and a reason for text that is not a date", function()
    local t, msg = vpptoken.time.parse("2025-02-30T00:00:00Z")
    assert.is_nil(t)
    assert.matches("date out of range", msg)
  end)

  it("raises on arguments out of range", function()
    assert.error_matches(function() vpptoken.time.format(1e300) end, "out of range")
    assert.error_matches(function() vpptoken.time.format(0, 24 * 60) end, "offset")
  end)
end)

describe("vpptoken.new", function()
  it("requires a way to get an access token", function()
    assert.error_matches(function() vpptoken.new{} end,
      "give access_token, token_provider, managed_identity, azure_cli, or tenant_id %+ client_id with "
      .. "client_secret, client_certificate or federated_token_file")
  end)

  it("points each cloud at its Graph host, v1.0 by default and beta on request", function()
    local want = {
      global = "https://graph.microsoft.com/v1.0", usgov = "https://graph.microsoft.us/v1.0",
      dod = "https://dod-graph.microsoft.us/v1.0", china = "https://microsoftgraph.chinacloudapi.cn/v1.0",
    }
    for cloud, url in pairs(want) do
      local c = vpptoken.new{ access_token = "t", cloud = cloud }
      assert.equal(url, c.base_url)
      c:close()
    end
    local b = vpptoken.new{ access_token = "t", api_version = "beta" }
    assert.equal("https://graph.microsoft.com/beta", b.base_url)
    assert.is_true(b.beta)
    b:close()
  end)

  it("rejects unknown clouds, versions and options", function()
    assert.error_matches(function() vpptoken.new{ access_token = "t", cloud = "mars" } end, "unknown cloud 'mars'")
    assert.error_matches(function() vpptoken.new{ access_token = "t", api_version = "v2" } end, "api_version")
    assert.error_matches(function() vpptoken.new{ access_token = "t", timeot = 5 } end, "unknown option 'timeot'")
    assert.error_matches(function() vpptoken.new{ access_token = "t", timeout = -1 } end, "timeout")
  end)

  it("allows plain http only to loopback addresses", function()
    for _, url in ipairs{ "http://127.0.0.1:8787/v1.0", "http://localhost:1/v1.0", "http://[::1]:80/beta" } do
      vpptoken.new{ access_token = "t", base_url = url }:close()
    end
    assert.error_matches(function()
      vpptoken.new{ access_token = "t", base_url = "http://graph.microsoft.com/v1.0" }
    end, "only to a loopback address")
    assert.error_matches(function()
      vpptoken.new{ access_token = "t", base_url = "ftp://x/v1.0" }
    end, "base_url must look like")
  end)

  it("never shows the access token in tostring", function()
    local c = vpptoken.new{ access_token = "very-secret-access-token" }
    assert.is_nil(tostring(c):find("very-secret", 1, true))
    for _, v in pairs(c) do assert.is_nil(tostring(v):find("very-secret", 1, true)) end
    c:close()
  end)
end)

describe("vpptoken.core Session", function()
  local sb = helper.sandbox_suite(nil, { reset = false })

  it("reuses one keep-alive connection across requests", function()
    local s = core.session()
    local r1 = assert(s:request("GET", sb.url .. "/health"))
    local r2 = assert(s:request("GET", sb.url .. "/health"))
    assert.equal(200, r1.status)
    assert.equal(1, r1.connects)
    assert.equal(0, r2.connects)
    s:close()
  end)

  it("returns status, lower-cased headers and body, and the client-request-id it sent", function()
    local s = core.session()
    local r = assert(s:request("GET", sb.graph .. "/deviceAppManagement/vppTokens", { Authorization = "Bearer x" }))
    assert.equal(200, r.status)
    assert.matches("^application/json", r.headers["content-type"])
    assert.equal(r.client_request_id, r.headers["client-request-id"])
    assert.matches('"value"', r.body)
    s:close()
  end)

  it("keeps a caller's client-request-id", function()
    local s = core.session()
    local r = assert(s:request("GET", sb.graph .. "/deviceAppManagement/vppTokens",
      { Authorization = "Bearer x", ["client-request-id"] = "my-id-1" }))
    assert.equal("my-id-1", r.client_request_id)
    assert.equal("my-id-1", r.headers["client-request-id"])
    s:close()
  end)

  it("sends a header set built once (core.headers) on every request, with a new client-request-id per call", function()
    local s = core.session()
    local hs = core.headers{ Authorization = "Bearer secret-xyz", ["X-Set"] = "1" }
    assert.equal("vpptoken.Headers", tostring(hs)) -- never the values: they hold the access token
    sb:reset()
    local r1 = assert(s:request("GET", sb.graph .. "/deviceAppManagement/vppTokens", hs))
    local r2 = assert(s:request("GET", sb.graph .. "/deviceAppManagement/vppTokens", hs))
    assert.equal(200, r2.status)
    local log = sb:requests()
    assert.equal(2, #log)
    assert.equal("1", log[1].headers["x-set"])
    assert.equal("1", log[2].headers["x-set"])
    assert.equal(r1.client_request_id, log[1].headers["client-request-id"])
    assert.equal(r2.client_request_id, log[2].headers["client-request-id"])
    assert.not_equal(r1.client_request_id, r2.client_request_id)
    local fixed = core.headers{ Authorization = "Bearer x", ["client-request-id"] = "set-id-7" }
    assert.equal("set-id-7", assert(s:request("GET", sb.url .. "/health", fixed)).client_request_id)
    s:close()
  end)

  it("does not keep a header set past the call: one collected right after leaves the session working", function()
    local s = core.session()
    for i = 1, 3 do
      assert(s:request("GET", sb.url .. "/health", core.headers{ ["X-Round"] = tostring(i) }))
      collectgarbage()
      collectgarbage()
      local r = assert(s:request("GET", sb.url .. "/health"))
      assert.equal(200, r.status)
    end
    local many = s:request_many({ { method = "GET", url = sb.url .. "/health", headers = core.headers{ A = "1" } },
                                  { method = "GET", url = sb.url .. "/health", headers = { B = "2" } },
                                  { method = "GET", url = sb.url .. "/health" } }, { concurrency = 2 })
    collectgarbage()
    collectgarbage()
    for i = 1, 3 do assert.equal(200, many[i].status) end
    assert.equal(200, assert(s:request("GET", sb.url .. "/health")).status)
    s:close()
  end)

  it("refuses a header set that would inject other headers, as it refuses a table", function()
    assert.error_matches(function() core.headers{ ["X-A"] = "a\r\nX-B: b" } end, "CR, LF or NUL")
    assert.error_matches(function() core.headers{ ["Bad Name"] = "v" } end, "invalid header name")
    assert.error_matches(function() core.headers{ [1] = "v" } end, "string names to string values")
    assert.error_matches(function() core.headers("Authorization: x") end, "table expected")
    local s = core.session()
    assert.error_matches(function() s:request("GET", sb.url .. "/health", "Accept: */*") end,
      "headers must be a table")
    s:close()
  end)

  it("gives response headers by name in any case, repeated fields joined, and walks them with pairs", function()
    local port, stop = helper.start_fake_server("headers")
    local s = core.session()
    local r = assert(s:request("GET", "http://127.0.0.1:" .. port .. "/x"))
    stop()
    s:close()
    assert.equal("a, b", r.headers["x-trace"])
    assert.equal("a, b", r.headers["X-Trace"])
    assert.equal("r-1", r.headers["request-id"])
    assert.is_nil(r.headers["retry-after"])
    assert.is_nil(r.headers[1])
    local all = {}
    for k, v in pairs(r.headers) do all[k] = v end
    assert.same({ ["content-type"] = "application/json", ["x-trace"] = "a, b", ["request-id"] = "r-1",
                  ["content-length"] = "2", connection = "close" }, all)
  end)

  it("refuses headers that would inject other headers", function()
    local s = core.session()
    assert.error_matches(function()
      s:request("GET", sb.url .. "/health", { ["X-A"] = "a\r\nX-B: b" })
    end, "CR, LF or NUL")
    assert.error_matches(function() s:request("GET", sb.url .. "/health", { ["Bad Name"] = "v" }) end,
      "invalid header name")
    assert.error_matches(function() s:request("get", sb.url) end, "upper%-case")
    assert.error_matches(function() s:request("GET", "file:///etc/passwd") end, "http:// or https://")
    s:close()
  end)

  it("is closed by close(), after which it raises, says so, and can be closed again", function()
    local s = core.session()
    s:close()
    s:close()
    assert.matches("%(closed%)", tostring(s))
    assert.error_matches(function() s:request("GET", sb.url .. "/health") end,
      "attempt to use a closed vpptoken.Session")
  end)

  -- #lua54: to-be-closed variables are Lua 5.4 syntax (the chunk is compiled here so the file loads everywhere).
  it("closes at the end of a to-be-closed scope #lua54", function()
    local kept = assert(load([[
      local core = ...
      do
        local s <close> = core.session()
        return s
      end]]))(core)
    assert.matches("%(closed%)", tostring(kept))
  end)

  it("rejects unknown and out-of-range options", function()
    assert.error_matches(function() core.session{ retries = 1 } end, "unknown session option 'retries'")
    assert.error_matches(function() core.session{ max_retries = 11 } end, "max_retries")
    assert.error_matches(function() core.session{ max_retries = 1.5 } end, "whole number")
    assert.error_matches(function() core.session{ cafile = 1 } end, "cafile")
  end)

  it("names each option's real range in its message: a count is not 'seconds', a size is whole bytes", function()
    assert.error_matches(function() core.session{ max_retries = 11 } end,
      "bad option 'max_retries' %(a whole number from 0 to 10 expected, got 11%)")
    assert.error_matches(function() core.session{ max_response_size = 0.5 } end,
      "bad option 'max_response_size' %(a whole number of bytes from 1024 to 1073741824 expected, got 0.5%)")
    assert.error_matches(function() core.session{ timeout = "10" } end,
      "bad option 'timeout' %(a number of seconds from 0.001 to 86400 expected, got string%)")
  end)

  it("lists its options once, for the Lua layer and the docs", function()
    assert.same({ "timeout", "connect_timeout", "cafile", "capath", "proxy", "user_agent", "insecure", "http2",
                  "max_retries", "retry_delay", "max_retry_time", "max_response_size" }, core.session_options)
  end)
end)

describe("require \"vpptoken\"", function()
  it("compiles only what new{} needs; the other operations load on first use and then work", function()
    local script = [[
      local v = require "vpptoken"
      local before = {}
      for _, m in ipairs{ "vpptoken.many", "vpptoken.batch", "vpptoken.automation", "vpptoken.notify" } do
        before[#before + 1] = tostring(package.loaded[m] ~= nil)
      end
      local c = v.new{ access_token = "x", base_url = "http://127.0.0.1:9/v1.0" }
      print(table.concat(before, ","), type(c.sync_all), type(c.batch), type(c.renew), type(v.days_left),
        type(v.post_json), package.loaded["vpptoken.many"] ~= nil, v.days_left({ expirationDateTime =
        "2026-01-11T00:00:00Z" }, v.time.parse("2026-01-01T00:00:00Z")))
    ]]
    local file = helper.temp_file(script)
    local cmd = string.format("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=%s %s %s 2>&1",
      helper.shell_quote(helper.build_dir .. "/?.so;;"), helper.lua, helper.shell_quote(file))
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    os.remove(file)
    assert.equal("false,false,false,false\tfunction\tfunction\tfunction\tfunction\tfunction\ttrue\t10\n", out)
  end)
end)
