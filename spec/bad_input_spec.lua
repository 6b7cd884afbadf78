-- Issue #7, bad input: hostile input to every public function and to the command line's flags. Misuse raises with a
-- message; run-time trouble is nil + err; either way nothing reaches the server.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local cli = require "cli_support"
local vpptoken = require "vpptoken"

local ACCESS = "bad-input-access-token-3"
local HUGE = string.rep("A", 1024 * 1024)
local BAD_UTF8 = "\xff\xfe\xc3\x28"

-- Runs f; while it fails, the case is reported pending with the defect's description; once it passes, it fails
-- so that the entry is taken out.
local function known_defect(description, f)
  local ok, why = pcall(f)
  assert(not ok, "this case passes now: it is no longer a known defect")
  pending("defect: " .. description .. " (" .. tostring(why):gsub("\n.*", "") .. ")")
end

describe("hostile input", function()
  local sb = helper.sandbox_suite({ "--access-token", ACCESS }, { reset = false })
  local c

  setup(function()
    c = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.01, max_retries = 0 }
  end)

  teardown(function()
    if c then c:close() end
  end)

  -- Runs f; it must raise a string message or return nil/false + a vpptoken error; nothing may be sent.
  local function refused(name, f)
    sb:reset()
    local ok, r, err = pcall(f)
    if ok then
      assert(not r, name .. ": accepted (" .. tostring(r) .. ")")
      assert(vpptoken.is_error(err) or type(err) == "string", name .. ": no error object or message")
    else
      assert.is_string(tostring(r))
      assert(tostring(r) ~= "", name .. ": raised without a message")
    end
    local log = sb:requests()
    assert(#log == 0, name .. ": " .. #log .. " request(s) reached the server: " .. tostring(log[1] and log[1].path))
    return ok and err or r
  end

  local BAD_IDS = {
    { "nil", nil }, { "a number", 42 }, { "a table", {} }, { "an empty string", "" }, { "1 MB", HUGE },
    { "../", "../../admin" }, { "a slash", "a/b" }, { "?", "id?$select=token" }, { "#", "id#frag" },
    { "a backslash", "a\\b" }, { "an embedded NUL", "abc\0def" }, { "CR/LF", "abc\r\nX-Injected: 1" },
    { "white space", "a b" }, { "a tab", "a\tb" },
  }
  -- ids that are legal text but not ones Graph could have made: percent-encoded, so they may be sent; they must
  -- stay one path segment
  local ENCODED_IDS = { { "%2e%2e", "%2e%2e" }, { "a confusable slash (U+2215)", "a\226\136\149b" },
                        { "a fullwidth dot pair", "\239\188\142\239\188\142" }, { "invalid UTF-8", BAD_UTF8 } }

  describe("ids", function()
    local ID_METHODS = {
      get = function(id) return c:get(id) end,
      update = function(id) return c:update(id, { automaticallyUpdateApps = false }) end,
      delete = function(id) return c:delete(id) end,
      sync_licenses = function(id) return c:sync_licenses(id) end,
      wait_for_sync = function(id) return c:wait_for_sync(id, { timeout = 0.1, interval = 0.05 }) end,
      renew = function(id) return c:renew(id, "not a token file") end,
      get_many = function(id) return c:get_many({ id }) end,
    }
    for mname, call in pairs(ID_METHODS) do
      for _, case in ipairs(BAD_IDS) do
        it(mname .. " refuses an id that is " .. case[1] .. " before sending anything", function()
          if mname == "get_many" and case[2] == nil then
            return   -- { nil } is an empty list of ids
          elseif mname == "get_many" then
            -- a bad entry in the list: the whole call is misuse, or that entry fails; nothing is sent
            sb:reset()
            local ok, tokens, errs = pcall(call, case[2])
            if ok then
              assert.is_false(tokens[1])
              assert.is_true(vpptoken.is_error(errs[1]))
            else
              -- misuse raises a message saying what is wrong
              assert.is_string(tokens)
              assert.not_equal("", tokens)
            end
            assert.equal(0, #sb:requests())
          else
            refused(mname, function() return call(case[2]) end)
          end
        end)
      end
    end

    for _, case in ipairs(ENCODED_IDS) do
      it("get sends an id with " .. case[1] .. " percent-encoded, as one path segment", function()
        sb:reset()
        -- legal text: no raise; the sandbox has no such token, so the answer is Graph's 404 for that one segment
        local ok, r, err = pcall(c.get, c, case[2])
        assert(ok, "raised: " .. tostring(r))
        assert.is_nil(r)
        assert.is_true(vpptoken.is_error(err))
        assert.equal("not_found", err.kind)
        local log = sb:requests()
        assert.equal(1, #log)
        assert.matches("^/v1%.0/deviceAppManagement/vppTokens/[^/?#]+$", log[1].path)
        assert.not_matches("/%.%./", log[1].path)
      end)
    end
  end)

  describe("fields", function()
    local CASES = {
      { "create with nil", function() return c:create(nil) end },
      { "create with a string", function() return c:create("token") end },
      { "create without token", function() return c:create{ appleId = "a@b.c" } end },
      { "an unknown property", function() return c:create{ token = apple(), evil = 1 } end },
      { "a server-set id", function() return c:create{ token = apple(), id = "x" } end },
      { "an enum in the wrong case",
        function() return c:create{ token = apple(), vppTokenAccountType = "Business" } end },
      { "an enum in upper case", function() return c:create{ token = apple(), vppTokenAccountType = "EDUCATION" } end },
      { "a boolean as text", function() return c:create{ token = apple(), automaticallyUpdateApps = "true" } end },
      { "a date without a zone",
        function() return c:create{ token = apple(), expirationDateTime = "2027-01-01T00:00:00" } end },
      { "a date out of range (month 13)",
        function() return c:create{ token = apple(), expirationDateTime = "2027-13-01T00:00:00Z" } end },
      { "a date out of range (Feb 30)",
        function() return c:create{ token = apple(), expirationDateTime = "2027-02-30T00:00:00Z" } end },
      { "a date out of range (year 10000)",
        function() return c:create{ token = apple(), expirationDateTime = "10000-01-01T00:00:00Z" } end },
      { "a date as NaN", function() return c:create{ token = apple(), expirationDateTime = 0 / 0 } end },
      { "a date as huge seconds", function() return c:create{ token = apple(), expirationDateTime = 1e300 } end },
      { "update with no fields table", function() return c:update("abc", nil) end },
      { "update with a wrong-case enum", function() return c:update("abc", { state = "Valid" }) end },
      { "list with an unknown query option", function() return c:list{ evil = "1" } end },
      { "list selecting an unknown property", function() return c:list{ select = { "token2" } } end },
      { "list with top as text", function() return c:list{ top = "5" } end },
      { "list with a negative top", function() return c:list{ top = -1 } end },
      { "find with a wrong-case state", function() return c:find{ state = "EXPIRED" } end },
      { "expiring with a negative within_days", function() return c:expiring{ within_days = -1 } end },
      { "expiring with a NaN within_days", function() return c:expiring{ within_days = 0 / 0 } end },
      { "batch with an unknown op", function() return c:batch{ { op = "drop", id = "a" } } end },
      { "batch with a bad id", function() return c:batch{ { op = "get", id = "../x" } } end },
      { "get_many with a negative concurrency", function() return c:get_many({ "a" }, { concurrency = -1 }) end },
      { "a misspelt enum member", function() return vpptoken.State.Valid end },
    }
    for _, case in ipairs(CASES) do
      it(case[1] .. " is refused before anything is sent", function() refused(case[1], case[2]) end)
    end

    it("a CR/LF or NUL in a field value is sent only inside the JSON body, never as a header", function()
      sb:reset()
      local ok = pcall(c.create, c, { token = "t\r\nX-Injected: yes\0", appleId = "a\r\nb@c.d" })
      for _, req in ipairs(sb:requests()) do
        for k in pairs(req.headers) do assert.not_equal("x-injected", k:lower()) end
      end
      if ok then assert.is_true(#sb:requests() <= 1) end
    end)
  end)

  describe("vpptoken.new options", function()
    local OPTS = {
      { "not a table", "https://x" }, { "an unknown option", { base_url = sb, evil = true } },
      { "timeout as text", { timeout = "10" } },
      { "a negative timeout", { timeout = -1 } },
      { "a NaN timeout", { timeout = 0 / 0 } }, { "max_retries 11", { max_retries = 11 } },
      { "max_retries 1.5", { max_retries = 1.5 } }, { "cloud in the wrong case", { cloud = "Global" } },
      { "an unknown cloud", { cloud = "mars" } }, { "api_version in the wrong case", { api_version = "Beta" } },
      { "plain http to a remote host", { base_url = "http://graph.example.com/v1.0" } },
      { "a base_url with CR/LF", { base_url = "http://127.0.0.1:1/v1.0\r\nX-Injected: 1" } },
      { "a base_url with NUL", { base_url = "http://127.0.0.1:1/v1.0\0evil" } },
      { "a 1 MB user_agent with CR/LF", { user_agent = HUGE .. "\r\nX-Injected: 1" } },
      { "a user_agent with NUL", { user_agent = "ua\0evil" } },
      { "on_request not a function", { on_request = "print" } },
      { "client_secret as a number", { tenant_id = "t", client_id = "c", client_secret = 5, access_token = false } },
      { "an access_token with CR/LF", { access_token = "tok\r\nX-Injected: 1" } },
    }
    for _, case in ipairs(OPTS) do
      local function check()
        local opts = case[2]
        if type(opts) == "table" then
          local o = { base_url = sb.graph, access_token = ACCESS }
          for k, v in pairs(opts) do if v == false then o[k] = nil else o[k] = v end end
          opts = o
        end
        sb:reset()
        local ok, client = pcall(vpptoken.new, opts)
        if ok then
          -- accepted at construction: then the first call must raise or fail, and send nothing
          local called, r, err = pcall(client.list, client)
          client:close()
          assert.is_nil(called and r or nil, case[1] .. " was accepted and used")
          if called then assert.is_true(vpptoken.is_error(err)) else assert.is_string(r) end
          assert.equal(0, #sb:requests(), case[1] .. ": a request reached the server")
        else
          assert.is_string(client)
        end
      end
      it("raises on " .. case[1], function()
        if case.defect then return known_defect(case.defect, check) end
        check()
      end)
    end
  end)

  describe("vpptoken.time, days_left, read_token_file, post_json", function()
    local TIMES = { "", HUGE, "2027-01-01", "2027-13-01T00:00:00Z", "2027-01-32T00:00:00Z",
                    "2027-01-01T25:00:00Z", "2027-01-01T00:00:00+25:00", "2027-01-01T00:00:00Z\0junk",
                    "2027-01-01T00:00:00z ", BAD_UTF8, "\239\188\146027-01-01T00:00:00Z" }
    for i, text in ipairs(TIMES) do
      it("time.parse refuses malformed text #" .. i .. " with nil and a message", function()
        local ok, v, msg = pcall(vpptoken.time.parse, text)
        assert.is_true(ok, tostring(v))
        assert.is_nil(v)
        assert.is_string(msg)
      end)
    end

    it("time.parse raises on a wrong type", function()
      for _, v in ipairs{ 5, true, {} } do
        local ok, r = pcall(vpptoken.time.parse, v)
        assert(not ok or r == nil)
      end
      assert.has_error(function() vpptoken.time.parse(nil) end)
    end)

    it("time.format raises on NaN, infinity, text and bad offsets or digits", function()
      for _, args in ipairs{ { 0 / 0 }, { math.huge }, { -math.huge }, { "now" }, { nil }, { 0, 24 * 60 + 1 },
                             { 0, 0, 99 }, { 1e300 } } do
        local ok, r = pcall(vpptoken.time.format, (table.unpack or unpack)(args, 1, 3)) -- luacheck: ignore 113
        assert(not ok, "time.format accepted " .. tostring(args[1]) .. " -> " .. tostring(r))
      end
    end)

    it("time.format raises on a negative number of digits", function()
      assert.has_error(function() vpptoken.time.format(0, 0, -1) end)
    end)

    it("days_left refuses what is not a token and tolerates a bad date with nil + message", function()
      assert.has_error(function() vpptoken.days_left(nil) end)
      assert.has_error(function() vpptoken.days_left("x") end)
      assert.has_error(function() vpptoken.days_left({}, "now") end)
      local v, msg = vpptoken.days_left{ expirationDateTime = "2027-13-45" }
      assert.is_nil(v)
      assert.is_string(msg)
      assert.is_nil(vpptoken.days_left{ expirationDateTime = nil })
      local ok, r = pcall(vpptoken.days_left, { expirationDateTime = BAD_UTF8 })
      assert(not ok or r == nil)
    end)

    it("read_token_file answers nil + a token_file error for hostile paths and contents", function()
      local dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. helper.shell_quote(dir))
      local big = helper.temp_file(string.rep("QUFB", 300 * 1024))   -- 1.2 MB of base64
      local nul = helper.temp_file("eyJ0b2tlbiI6\0IngifQ==")
      for _, path in ipairs{ "/nonexistent/x.vpptoken", dir, big, nul, helper.temp_file(BAD_UTF8),
                             helper.temp_file(""), "../../../../etc/shadow" } do
        local ok, r, err = pcall(vpptoken.read_token_file, path)
        assert.is_true(ok, tostring(r))
        assert.is_nil(r)
        assert.equal("token_file", err.kind)
        assert.not_matches("\n", tostring(err))
      end
      assert.has_error(function() vpptoken.read_token_file(nil) end)
      assert.has_error(function() vpptoken.read_token_file(42) end)
      os.remove(big)
      os.remove(nul)
      os.execute("rm -rf " .. helper.shell_quote(dir))
    end)

    it("read_token_file refuses a path with an embedded NUL instead of opening the part before it", function()
      local dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. helper.shell_quote(dir))
      local real = dir .. "/a.vpptoken"
      local f = assert(io.open(real, "wb"))
      f:write(cli.token_content())
      f:close()
      local ok, r = pcall(vpptoken.read_token_file, real .. "\0.txt")
      assert(not ok or r == nil, "the file before the NUL was read")
      os.execute("rm -rf " .. helper.shell_quote(dir))
    end)

    it("post_json refuses bad URLs, documents and options before connecting", function()
      local CASES = {
        { nil, {} }, { 5, {} }, { "ftp://127.0.0.1/x", {} }, { "http://example.com/hook", {} },
        { "http://127.0.0.1:1/x\r\nX-Injected: 1", {} }, { "http://127.0.0.1:1/x\0y", {} },
        { sb.url .. "/hook", function() end }, { sb.url .. "/hook", "{not json" },
        { sb.url .. "/hook", {}, { evil = 1 } }, { sb.url .. "/hook", {}, { timeout = -1 } },
        { sb.url .. "/hook", {}, { headers = { ["X-A"] = "1\r\nX-Injected: 1" } } },
      }
      for i, case in ipairs(CASES) do
        sb:reset()
        local ok, r, err = pcall(vpptoken.post_json, case[1], case[2], case[3])
        if ok then
          assert(not r, "post_json case " .. i .. " was accepted")
          assert.is_true(vpptoken.is_error(err))
        end
        assert.equal(0, #sb:requests(), "post_json case " .. i .. " reached the sandbox")
      end
    end)
  end)

  describe("the command line", function()
    local function run(argv)
      return cli.run(argv, { env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS } })
    end
    local ARGVS = {
      { "get", "../../admin" }, { "get", "id?x=1" }, { "get", "id#f" }, { "get", "a/b" }, { "get", "a\r\nb" },
      { "get", string.rep("x", 100000) }, { "list", "--top", "-1" }, { "list", "--top", "many" },
      { "list", "--state", "Expired" }, { "list", "--output", "JSON" }, { "list", "--select", "token2" },
      { "list", "--timeout", "-5" }, { "list", "--retries", "99" }, { "list", "--cloud", "Global" },
      { "expiring", "--within", "-3" }, { "expiring", "--within", "NaN" },
      { "update", "abc", "--set", "state=Valid" },
      { "update", "abc", "--set", "expirationDateTime=2027-13-01T00:00:00Z" },
      { "update", "abc", "--set", "noequals" }, { "update", "abc", "--set", "evil=1" },
      { "create", "--file", "/nonexistent", "--apple-id", "a@b.c" },
      { "create", "--file", "/dev/null", "--account-type", "Business" },
      { "list", "--graph-url", "http://example.com/v1.0" }, { "delete", "../x", "--yes" }, { "sync", "a?b" },
      { "--no-such-flag" }, { "frobnicate" },
    }
    for _, argv in ipairs(ARGVS) do
      local label = table.concat(argv, " "):sub(1, 60):gsub("[\r\n]", "?")
      it("exits with a usage or input error and sends nothing: vpptoken " .. label, function()
        sb:reset()
        local code, out, err = run(argv)
        assert.is_true(code == 2 or code == 9, "exit " .. tostring(code) .. ": " .. err)
        assert.equal("", out)
        assert.is_true(#err > 0 and #err < 2000, "stderr: " .. #err .. " bytes")
        assert.equal(0, #sb:requests())
      end)
    end
  end)
end)

describe("misspelt options", function()
  local c
  setup(function() c = vpptoken.new{ base_url = "http://127.0.0.1:9/v1.0", access_token = "t", max_retries = 0 } end)
  teardown(function() c:close() end)

  -- Every public function that takes an options table: a misspelt key raises before anything is sent, naming the
  -- option it probably meant.
  local CASES = {
    { "sync_all", function() return c:sync_all{ concurency = 4 } end, "concurrency" },
    { "get_many", function() return c:get_many({ "a" }, { concurency = 2 }) end, "concurrency" },
    { "update", function() return c:update("a", { automaticallyUpdateApps = true }, { fecth = false }) end, "fetch" },
    { "batch", function() return c:batch({}, { max_retires = 1 }) end, "max_retries" },
    { "expiring", function() return c:expiring{ within_day = 3 } end, "within_days" },
    { "wait_for_sync", function() return c:wait_for_sync("a", { intervall = 1 }) end, "interval" },
  }
  for _, case in ipairs(CASES) do
    it(case[1] .. " raises on a misspelt option and says which one was meant", function()
      local ok, msg = pcall(case[2])
      assert.is_false(ok)
      assert.matches("did you mean '" .. case[3] .. "'", msg, 1, true)
    end)
  end

  it("update's fetch must be a boolean", function()
    assert.error_matches(function() c:update("a", { automaticallyUpdateApps = true }, { fetch = 0 }) end,
      "fetch must be a boolean")
  end)
end)
