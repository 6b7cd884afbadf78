-- The vpptoken command under hostile conditions (issue 11): a server that sends terminal escapes, formulas,
-- invalid UTF-8, huge property names or broken links, and a user who pastes a secret where a path belongs. What
-- users rely on: no message shows a secret, every file read is capped, text output cannot drive the terminal,
-- CSV cannot run as a spreadsheet formula, JSON is valid UTF-8, and only misuse exits 2.
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"

local lit = cli.literal
local FILE_CONTENT = cli.token_content()
local CLIENT_SECRET = "Qx8Q~client-secret-not-a-path-4Rt9zYw1vB2nM3kL5jH6"

-- Token objects the hostile Graph serves. ESC ] 0 ; retitles the terminal, ESC [ 2K erases a line, \xC2\x9B is
-- the C1 CSI (U+009B) in UTF-8, a lone \x9B is CSI for an 8-bit terminal (and invalid UTF-8).
local SERVER = [=[
local cjson = require "cjson"
local evil = { id = "evil", appleId = "\27[31mred@contoso.com", state = "valid",
  organizationName = "\27]0;pwned\7Contoso\27[2K\r\194\155hidden\127\155end",
  expirationDateTime = "2099-01-01T00:00:00Z" }
local formulas = { id = "formula", organizationName = "=HYPERLINK(\"http://x\",\"y\")", appleId = "+1@contoso.com",
  countryOrRegion = "-2", lastSyncStatus = "@SUM(A1)", vppTokenAccountType = "\tbusiness", state = "\rvalid",
  expirationDateTime = "2001-01-01T00:00:00Z" }
local long = { id = "long", [("k"):rep(120)] = "value of a long key", state = "valid" }
local bad_utf8 = { id = "badutf8", organizationName = "Caf\233 \255\254 ok \237\160\128 end", state = "valid" }
return function(req)
  local id = req.path:match("/deviceAppManagement/vppTokens/([^/]+)$")
  if req.path:match("/deviceAppManagement/vppTokens$") and req.headers["x-long"] then
    return { json = { value = { { id = "long-org", organizationName = ("O"):rep(100000), state = "valid" } } } }
  elseif req.path:match("/deviceAppManagement/vppTokens$") then
    return { json = { value = { evil, formulas, long, bad_utf8 } } }
  elseif id == "evil" then return { json = evil }
  elseif id == "formula" then return { json = formulas }
  elseif id == "long" then return { json = long }
  elseif id == "badutf8" then return { json = bad_utf8 }
  elseif id == "big" then
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = '{"id":"big","usedLicenseCount":1e300,"ratio":123456789.123456789,"state":"valid"}' }
  elseif id == "wide" then -- a 300-character name and 2,000 short ones
    local t = { id = "wide", [("n"):rep(300)] = "v" }
    for i = 1, 2000 do t["k" .. i] = i end
    return { json = t }
  elseif id == "nullarr" then
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = '{"id":"nullarr","roleScopeTagIds":["a",null,"b"],"state":"valid"}' }
  elseif id == "bidi" then return { json = { id = "bidi", organizationName = "abc\226\128\174fed\226\129\166x" } }
  elseif id == "error" then
    return { status = 400, headers = { ["Content-Type"] = "application/json" },
             body = cjson.encode{ error = { code = "BadRequest", message = "no\27]0;pwned\7 \27[2Kway\194\155" } } }
  end
  return { status = 404, headers = { ["Content-Type"] = "application/json" },
           body = '{"error":{"code":"ResourceNotFound","message":"no such token"}}' }
end
]=]

-- Raw control characters a terminal would act on: C0 (but line feed), DEL, C1 as UTF-8, and any byte that is not
-- part of valid UTF-8 (a lone 0x80-0x9F is C1 to an 8-bit terminal).
local function assert_inert(text)
  assert.is_nil(text:find("[%z\1-\9\11-\31\127]"), "a raw C0 or DEL character in: " .. text)
  assert.is_nil(text:find("\194[\128-\159]"), "a raw C1 character in: " .. text)
  assert.truthy(helper.utf8_len(text), "invalid UTF-8 in: " .. text)
end

describe("vpptoken command facing hostile servers and pasted secrets #subprocess", function()
  local base, stop

  local function run(argv, opts)
    opts = opts or {}
    local e = { VPPTOKEN_GRAPH_URL = base .. "/v1.0", VPPTOKEN_ACCESS_TOKEN = "t" }
    for k, v in pairs(opts.env or {}) do e[k] = v end
    opts.env = e
    return cli.run(argv, opts)
  end

  setup(function()
    local _
    base, _, stop = helper.start_hostile(SERVER)
  end)

  teardown(function()
    if stop then stop() end
  end)

  describe("no message shows a secret the user passed in the wrong place", function()
    it("create and renew --file given the token file's content: an error that never shows the content", function()
      for _, argv in ipairs{ { "create", "--file", FILE_CONTENT }, { "renew", "evil", "--file", FILE_CONTENT },
                             { "create", "--file=" .. FILE_CONTENT } } do
        local code, out, err = run(argv)
        assert.equal(9, code, err)
        assert.equal("", out)
        assert.matches("--file", err, 1, true)
        assert.not_matches(lit(FILE_CONTENT), err)
        assert.not_matches(lit(FILE_CONTENT:sub(1, 24)), err)
      end
    end)

    it("--client-secret-file given the secret itself: a usage error that never shows the secret", function()
      local code, out, err = run({ "list", "--tenant", "t", "--client-id", "c", "--client-secret-file",
                                   CLIENT_SECRET }, { env = { VPPTOKEN_ACCESS_TOKEN = false } })
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("cannot open the client secret file given to --client-secret-file", err, 1, true)
      assert.not_matches(lit(CLIENT_SECRET), err)
      assert.not_matches(lit(CLIENT_SECRET:sub(1, 12)), err)
    end)

    it("a secret pasted as an argument, a --set value or an option is never echoed in the usage message", function()
      for _, argv in ipairs{ { "create", FILE_CONTENT }, { FILE_CONTENT }, { "update", "x", "--set", FILE_CONTENT },
                             { "update", "x", "--set", "token:" .. CLIENT_SECRET },
                             { "update", "x", "--set", "automaticallyUpdateApps=" .. CLIENT_SECRET },
                             { "list", "--timeout", CLIENT_SECRET }, { "list", "--output", CLIENT_SECRET },
                             { "list", "--" .. CLIENT_SECRET },
                             { "update", "x", "--set", "token=" .. CLIENT_SECRET } } do
        local code, out, err = run(argv)
        assert.equal(2, code, err)
        assert.equal("", out)
        assert.not_matches(lit(CLIENT_SECRET:sub(1, 12)), err)
        assert.not_matches(lit(FILE_CONTENT:sub(1, 24)), err)
      end
    end)
  end)

  describe("every file the command reads has a size cap", function()
    it("--client-secret-file that group or others may read is refused, as a tenants file's secret in clear is",
      function()
      local path = helper.temp_file("S3cret-readable-by-all-5521\n")
      assert(os.execute("chmod 644 " .. helper.shell_quote(path)))
      local code, out, err = run{ "list", "--tenant", "t", "--client-id", "c", "--client-secret-file", path }
      os.remove(path)
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("the client secret file given to --client-secret-file may be read by group or others: "
        .. "chmod 600 it", err, 1, true)
      assert.is_nil(err:find("S3cret", 1, true))
    end)

    it("--client-secret-file /dev/zero ends at once with a size error, not an endless read", function()
      local line = cli.command({ "list", "--tenant", "t", "--client-id", "c", "--client-secret-file", "/dev/zero" },
        { VPPTOKEN_GRAPH_URL = base .. "/v1.0" })
      -- Bounded so that the unfixed command fails this test instead of the machine: 20 s, 1 GB (not under ASan,
      -- whose shadow memory needs more address space than that).
      local limit = os.getenv("ASAN_OPTIONS") and "" or "ulimit -v 1000000; "
      local p = assert(io.popen("(" .. limit .. "timeout 20 " .. line .. ") </dev/null 2>&1 >/dev/null; "
        .. "echo \"exit=$?\""))
      local all = p:read("*a")
      p:close()
      local code = tonumber(all:match("exit=(%d+)%s*$"))
      assert.equal(2, code, all)
      assert.matches("the client secret file given to --client-secret-file is larger than 65536 bytes", all, 1, true)
    end)

    it("--client-secret-file from a pipe (process substitution) still works; a FIFO nobody writes to is empty",
      function()
        -- --retries 0: the answer (it tried to sign in) is the same after the first refused connection
        local line = cli.command({ "list", "--retries", "0", "--tenant", "t", "--client-id", "c",
                                   "--client-secret-file", "PIPE" },
          { VPPTOKEN_GRAPH_URL = "http://127.0.0.1:9/v1.0" }):gsub("'?PIPE'?", "<(printf x)")
        local p = assert(io.popen("bash -c " .. helper.shell_quote(line) .. " 2>&1 </dev/null; echo \"exit=$?\""))
        local all = p:read("*a")
        p:close()
        -- it got as far as signing in (nothing listens on port 9): the secret was read from the pipe
        assert.matches("exit=7", all, 1, true)
        local fifo = os.tmpname()
        os.remove(fifo)
        assert(os.execute("mkfifo -m 600 " .. fifo))
        local code, out, err = run{ "list", "--tenant", "t", "--client-id", "c", "--client-secret-file", fifo }
        os.remove(fifo)
        assert.equal(2, code, err)
        assert.equal("", out)
        assert.matches("is empty", err, 1, true)
      end)

    it("a --file larger than a token file can be is refused before it is read whole", function()
      local path = helper.temp_file(("A"):rep(2 * 1024 * 1024))
      local code, out, err = run{ "renew", "evil", "--file", path }
      os.remove(path)
      assert.equal(9, code, err)
      assert.equal("", out)
      assert.matches("the token file '" .. path .. "' (--file) is larger than 1048576 bytes", err, 1, true)
    end)
  end)

  describe("text output cannot drive the terminal", function()
    it("get prints a token whose property name is 100 characters or more", function()
      local code, out, err = run{ "get", "long" }
      assert.equal(0, code, err)
      assert.matches(("k"):rep(120) .. "  value of a long key\n", out, 1, true)
    end)

    it("table and key/value output show control characters from the server as visible escapes", function()
      local code, out, err = run{ "get", "evil" }
      assert.equal(0, code, err)
      assert_inert(out)
      assert.matches("\norganizationName    \\x1b]0;pwned\\x07Contoso\\x1b[2K\\x0d\\u009bhidden\\x7f\\x9bend", out, 1,
        true)
      code, out, err = run({ "list" }, { env = { COLUMNS = "400" } })
      assert.equal(0, code, err)
      assert_inert(out)
      assert.matches("\\x1b[31mred@contoso.com", out, 1, true)
    end)

    it("get's output grows with what the server sent, not with its longest name times its number of names",
      function()
        local code, out, err = run{ "get", "wide" }
        assert.equal(0, code, err)
        assert.is_true(#out < 60000, #out .. " bytes for 2,001 properties")
        assert.matches(("n"):rep(300) .. "  v\n", out, 1, true)
      end)

    it("a table with a 100,000-character cell is written at once: a few wrapped lines, whole with --wide", function()
      local script = helper.temp_file(SERVER:gsub('req.headers%["x%-long"%]', "true"))
      local long_base, _, long_stop = helper.start_hostile(assert(io.open(script)):read("*a"))
      os.remove(script)
      local t0 = os.time()
      local env = { VPPTOKEN_GRAPH_URL = long_base .. "/v1.0", VPPTOKEN_ACCESS_TOKEN = "t" }
      local code, out, err = cli.run({ "list" }, { env = env })
      local wcode, wide, werr = cli.run({ "list", "--wide" }, { env = env })
      long_stop()
      assert.equal(0, code, err)
      assert.is_true(#out < 2000, #out .. " bytes")
      assert.matches("O…\n", out, 1, true)
      for l in out:gmatch("[^\n]+") do assert.is_true(helper.utf8_len(l) <= 80, l) end
      assert.equal(0, wcode, werr)
      assert.matches(("O"):rep(100000), wide, 1, true)
      assert.is_true(os.time() - t0 < 10)
    end)

    it("a null inside an array shows as an empty element, in its place", function()
      local code, out, err = run{ "get", "nullarr" }
      assert.equal(0, code, err)
      assert.matches("roleScopeTagIds%s+a, , b\n", out)
      code, out, err = run{ "get", "nullarr", "-o", "csv" }
      assert.equal(0, code, err)
      assert.matches("a;;b", out, 1, true)
    end)

    it("direction controls (U+202E, U+2066) that would reorder the line are shown as escapes", function()
      local code, out, err = run{ "get", "bidi" }
      assert.equal(0, code, err)
      assert.matches("abc\\u202efed\\u2066x", out, 1, true)
    end)

    it("a Graph error message with control characters is printed inert on stderr", function()
      local code, out, err = run{ "get", "error" }
      assert.equal(8, code, err)
      assert.equal("", out)
      assert_inert(err)
      assert.matches("no\\x1b]0;pwned\\x07 \\x1b[2Kway\\u009b", err, 1, true)
    end)
  end)

  describe("CSV cannot run as a spreadsheet formula", function()
    local function by_id(text)
      local rows = cli.parse_csv(text)
      local out = {}
      for i = 2, #rows do
        local r = {}
        for c, name in ipairs(rows[1]) do r[name] = rows[i][c] end
        out[r.id] = r
      end
      return out
    end

    it("a text cell starting with =, +, -, @, tab or CR gets a leading quote (list and get)", function()
      local code, out, err = run{ "list", "-o", "csv" }
      assert.equal(0, code, err)
      local list = by_id(out)
      code, out, err = run{ "get", "formula", "-o", "csv" }
      assert.equal(0, code, err)
      local got = by_id(out)
      for _, t in ipairs{ list.formula, got.formula } do
        assert.equal("'=HYPERLINK(\"http://x\",\"y\")", t.organizationName)
        assert.equal("'+1@contoso.com", t.appleId)
        assert.equal("'-2", t.countryOrRegion)
        assert.equal("'@SUM(A1)", t.lastSyncStatus)
        assert.equal("'\tbusiness", t.vppTokenAccountType)
        assert.equal("'\rvalid", t.state)
      end
      assert.equal("evil", list.evil.id)
    end)

    it("control characters other than tab, CR and LF are shown as escapes: a CSV file is also read on a terminal",
      function()
        local code, out, err = run{ "list", "-o", "csv" }
        assert.equal(0, code, err)
        local t = by_id(out)
        assert.equal("\\x1b]0;pwned\\x07Contoso\\x1b[2K\r\\u009bhidden\\x7f\\x9bend", t.evil.organizationName)
        assert.equal("\\x1b[31mred@contoso.com", t.evil.appleId)
        assert.is_nil(out:find("\27", 1, true))
      end)

    it("numbers stay numbers: a negative days_left is not quoted", function()
      local code, out, err = run{ "expiring", "-o", "csv" }
      assert.equal(0, code, err)
      local t = by_id(out)
      assert.matches("^%-%d+$", t.formula.days_left)
      assert.equal("'=HYPERLINK(\"http://x\",\"y\")", t.formula.organizationName)
    end)

    it("examples/inventory_csv.lua quotes formula cells the same way", function()
      local parts = { "env", "-u", "AZURE_CLIENT_SECRET", "VPPTOKEN_GRAPH_URL=" .. helper.shell_quote(base .. "/v1.0"),
                      "VPPTOKEN_ACCESS_TOKEN=t", "LUA_PATH='lua/?.lua;lua/?/init.lua;;'",
                      "LUA_CPATH=" .. helper.shell_quote(helper.build_dir .. "/?.so;;"), helper.shell_quote(helper.lua),
                      "examples/inventory_csv.lua" }
      local p = assert(io.popen(table.concat(parts, " ") .. " 2>/dev/null"))
      local out = p:read("*a")
      p:close()
      local t = by_id(out)
      assert.equal("'=HYPERLINK(\"http://x\",\"y\")", t.formula.organizationName)
      assert.equal("'+1@contoso.com", t.formula.appleId)
      assert.equal("'-2", t.formula.countryOrRegion)
      assert.equal("'\rvalid", t.formula.state)
      assert.matches("^%-%d+$", t.formula.days_left)
    end)
  end)

  describe("JSON output", function()
    it("-o json is valid UTF-8 JSON: invalid sequences from the server become U+FFFD", function()
      for _, argv in ipairs{ { "get", "badutf8", "-o", "json" }, { "list", "-o", "json" } } do
        local code, out, err = run(argv)
        assert.equal(0, code, err)
        assert.truthy(helper.utf8_len(out), "invalid UTF-8 in the JSON output")
        local doc = assert(cjson.decode(out))
        local tok = doc.id and doc or doc[4]
        local fffd = "\239\191\189" -- U+FFFD
        assert.equal("Caf" .. fffd .. " " .. fffd:rep(2) .. " ok " .. fffd:rep(3) .. " end", tok.organizationName)
      end
    end)

    it("-o json writes every number the server sent, 1e300 and 17 significant digits included", function()
      local code, out, err = run{ "get", "big", "-o", "json" }
      assert.equal(0, code, err)
      local doc = assert(cjson.decode(out))
      assert.equal(1e300, doc.usedLicenseCount)
      assert.equal(123456789.123456789, doc.ratio)
    end)

    it("-o json keeps control characters escaped", function()
      local code, out, err = run{ "get", "evil", "-o", "json" }
      assert.equal(0, code, err)
      assert_inert(out)
      local doc = assert(cjson.decode(out))
      assert.equal("\27]0;pwned\7Contoso\27[2K\r\194\155hidden\127\239\191\189end", doc.organizationName)
    end)
  end)

  describe("exit codes", function()
    it("--timeout 0 (no timeout at all in libcurl) is a usage error that names --timeout", function()
      local code, out, err = run{ "list", "--timeout", "0" }
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("^vpptoken: %-%-timeout 0 is refused: [^\n]*timeout", err)
    end)

    it("a number flag takes decimal digits only: --timeout 0x10 is not 16 seconds", function()
      for _, v in ipairs{ "0x10", "1e3", " 5" } do
        local code, out, err = run{ "list", "--timeout", v }
        assert.equal(2, code, err)
        assert.equal("", out)
        assert.matches("--timeout needs a number", err, 1, true)
      end
    end)

    it("a failure the server's data causes in the library is a run-time failure, never a usage error", function()
      local lbase, _, lstop = helper.start_hostile[[
        return function(req)
          return { json = { value = { { id = "a", state = "valid" } },
                            ["@odata.nextLink"] = req.base .. "/v1.0/deviceAppManagement/vppTokens?x y" } }
        end]]
      local ok, e = pcall(function()
        for _, argv in ipairs{ { "expiring" }, { "list" } } do
          local code, out, err = cli.run(argv, { env = { VPPTOKEN_GRAPH_URL = lbase .. "/v1.0",
                                                         VPPTOKEN_ACCESS_TOKEN = "t" } })
          assert.not_equal(2, code, err)
          assert.not_equal(0, code, err)
          assert.equal("", out)
          assert.not_matches("see 'vpptoken", err, 1, true)
        end
      end)
      lstop()
      assert(ok, e)
    end)

    it("a bad argument the library refuses before any request is still a usage error", function()
      local code, out, err = run{ "get", ("x"):rep(300) }
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("see 'vpptoken get --help'", err, 1, true)
    end)
  end)
end)

describe("vpptoken short ids facing a server that lists odd ids #subprocess", function()
  local SERVER_IDS = [=[
local GUID, OTHER = "deadbeef-0000-0000-0000-000000000001", "deadbeef-1111-0000-0000-000000000002"
return function(req)
  if req.path:match("/vppTokens$") then
    local v = { { id = GUID, organizationName = "Contoso", state = "valid" },
                { id = GUID, organizationName = "Contoso", state = "valid" },
                { id = GUID:upper(), organizationName = "Contoso", state = "valid" },
                { id = OTHER, organizationName = "Fabrikam", state = "valid" },
                { id = 12345, state = "valid" }, { id = true, state = "valid" }, { state = "valid" } }
    if req.path:match("^/long/") then -- twelve long ids that are no GUIDs, all starting with cafef00d
      for i = 1, 12 do v[#v + 1] = { id = "cafef00d" .. ("x"):rep(20000) .. i, state = "valid" } end
    end
    return { json = { value = v } }
  end
  local id = req.path:match("/vppTokens/([^/]+)$")
  if id and id:lower() == GUID then return { json = { id = GUID, organizationName = "Contoso", state = "valid" } } end
  return { status = 404, headers = { ["Content-Type"] = "application/json" },
           body = '{"error":{"code":"ResourceNotFound","message":"no such token"}}' }
end
]=]
  local base, stop
  setup(function()
    local _
    base, _, stop = helper.start_hostile(SERVER_IDS)
  end)
  teardown(function()
    if stop then stop() end
  end)

  local function run(argv, env)
    local e = { VPPTOKEN_GRAPH_URL = base .. "/v1.0", VPPTOKEN_ACCESS_TOKEN = "t" }
    for k, v in pairs(env or {}) do e[k] = v end
    return cli.run(argv, { env = e })
  end

  it("the short id a table shows names its token even when the server lists it twice or in capitals", function()
    local code, out, err = run{ "list" }
    assert.equal(0, code, err)
    local short = out:match("\n(deadbeef%-0%x*)%s")
    assert.truthy(short, out)
    code, out, err = run{ "get", short }
    assert.equal(0, code, err)
    assert.matches("Contoso", out, 1, true)
    code, out, err = run{ "get", "DEADBEEF-0" }
    assert.equal(0, code, err)
    assert.matches("Contoso", out, 1, true)
    -- two tokens do start with deadbeef: that is ambiguous, each named once
    code, out, err = run{ "get", "deadbeef" }
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.matches("2 tokens have ids starting with 'deadbeef'", err, 1, true)
  end)

  it("an ambiguous prefix names long ids that are no GUIDs by their length, not whole", function()
    local code, out, err = run({ "get", "cafef00d" }, { VPPTOKEN_GRAPH_URL = base .. "/long/v1.0" })
    assert.is_true(#err < 2000, #err .. " bytes of message")
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.matches("12 tokens have ids starting with 'cafef00d'", err, 1, true)
    assert.matches("and 2 more", err, 1, true)
  end)
end)
