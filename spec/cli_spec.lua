-- The vpptoken command as a user runs it: every command as a subprocess against a sandbox on loopback, the
-- output formats, redaction, exit codes and error lines. (Terminal behaviour: cli_terminal_spec.lua.)
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"
local files = require "support.tokenfiles"

local ACCESS, SECRET = cli.ACCESS, cli.SECRET
local lit = cli.literal
local FILE_CONTENT = cli.token_content()

describe("vpptoken command #subprocess", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "0.5" }
  local env

  local function run(argv, opts)
    opts = opts or {}
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(opts.env or {}) do e[k] = v end
    opts.env = e
    return cli.run(argv, opts)
  end

  -- Creates a token through the command; returns its id.
  local function create(apple_id, extra, file_fields)
    local argv = { "create", "--file", cli.token_file(file_fields), "--apple-id", apple_id, "--account-type",
                   "business", "--country", "us", "--output", "json" }
    for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
    local code, out, err = run(argv)
    assert.equal(0, code, err)
    return cjson.decode(out).id
  end

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS }
  end)

  describe("help", function()
    it("--help lists every command, the exit codes and examples, and exits 0", function()
      local code, out = run{ "--help" }
      assert.equal(0, code)
      for _, c in ipairs{ "list", "get", "create", "update", "delete", "sync", "expiring", "renew", "sandbox",
                          "version" } do
        assert.matches("\n  " .. c .. " ", out, 1, true)
      end
      assert.matches("exit codes:", out, 1, true)
      assert.matches("    4  not found", out, 1, true)
      assert.matches("examples:", out, 1, true)
    end)

    it("COMMAND --help shows the command's options and examples", function()
      local code, out = run{ "sync", "--help" }
      assert.equal(0, code)
      assert.matches("usage: vpptoken sync ID... | --all", out, 1, true)
      assert.matches("--wait", out, 1, true)
      assert.matches("examples:\n  vpptoken sync", out, 1, true)
      local hcode, hout = run{ "help", "renew" }
      assert.equal(0, hcode)
      assert.matches("usage: vpptoken renew ID [OPTIONS]", hout, 1, true)
    end)

    it("no command prints a short usage and the command list on stderr, within 80x24, and exits 2", function()
      local code, out, err = run({}, { env = { COLUMNS = "80" } })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^usage: vpptoken", err)
      assert.matches("\n  sync +start a license sync", err)
      assert.not_matches("exit codes:", err, 1, true)
      local n = 0
      for l in err:gmatch("[^\n]+") do
        n = n + 1
        assert.is_true(#l <= 80, l)
      end
      assert.is_true(n <= 24, err)
    end)

    it("--help and every command's --help fit the terminal's width, the exit codes aligned", function()
      local args = require "vpptoken.cli.args"
      for _, width in ipairs{ 80, 60 } do
        local texts = { (select(2, run({ "--help" }, { env = { COLUMNS = tostring(width) } }))) }
        for _, c in ipairs(args.COMMANDS) do
          local code, out = run({ c.name, "--help" }, { env = { COLUMNS = tostring(width) } })
          assert.equal(0, code, c.name)
          texts[#texts + 1] = out
        end
        for _, text in ipairs(texts) do
          for l in text:gmatch("[^\n]+") do assert.is_true(#l <= width, width .. ": " .. l) end
        end
        assert.matches("\n    4  not found", texts[1])
        assert.matches("\n   11  tenants file", texts[1])
        assert.matches("\n  130  interrupted", texts[1])
      end
    end)

    it("version and --version print the library's version, then libcurl's for bug reports", function()
      for _, argv in ipairs{ { "version" }, { "--version" } } do
        local code, out = run(argv)
        assert.equal(0, code)
        assert.matches("^vpptoken %d+%.%d+%.%d+\nlibcurl/%d+%.%d+", out)
      end
    end)
  end)

  describe("usage errors exit 2 with one line naming the mistake", function()
    local cases = {
      { { "frobnicate" }, "unknown command 'frobnicate'" },
      { { "list", "--bogus" }, "unknown option '--bogus'" },
      { { "list", "--top" }, "option '--top' needs a value" },
      { { "list", "--top", "zero" }, "--top needs a whole number" },
      { { "list", "--output", "xml" }, "--output must be one of table, wide, json, csv" },
      { { "list", "--wide", "-o", "json" }, "--wide is --output wide: not with --output json" },
      { { "list", "--state", "happy" }, "--state must be one of unknown, valid" },
      { { "list", "--select", "nope" }, "select: unknown property 'nope'" },
      { { "list", "--select", "appleid" }, "unknown property 'appleid': did you mean 'appleId'?" },
      { { "update", "some-id", "--set", "AUTOMATICALLYUPDATEAPPS=true" }, "did you mean 'automaticallyUpdateApps'?" },
      { { "get" }, "get needs ID" },
      { { "get", "a/b" }, "id contains a character that cannot be in an id" },
      { { "get", "x", "y" }, "unexpected argument 'y'" },
      { { "get", "5d2c" }, "'5d2c' is too short to name a token: give at least 8 characters of its id" },
      { { "--filter", "x", "list" }, "option '--filter' belongs after a command" },
      { { "list", "--verbose", "--quiet" }, "--verbose and --quiet do not go together" },
      { { "create", "--apple-id", "a@b.c" }, "create needs --file PATH" },
      { { "update", "some-id" }, "update needs at least one --set" },
      { { "update", "some-id", "--set", "novalue" }, "--set needs NAME=VALUE" },
      { { "update", "some-id", "--set", "token=abc" }, "token cannot be set with --set" },
      { { "sync" }, "sync needs token ids or --all" },
      { { "renew", "some-id" }, "renew needs --file PATH" },
      { { "list", "--graph-url", "http://example.com/v1.0" }, "plain http:// is allowed only to a loopback" },
    }
    for _, c in ipairs(cases) do
      it(table.concat(c[1], " "), function()
        local code, out, err = run(c[1])
        assert.equal(2, code, err)
        assert.equal("", out)
        assert.matches(c[2], err, 1, true)
        assert.matches("^vpptoken: [^\n]*\n$", err)
      end)
    end
    it("sends nothing to Graph for any of them", function()
      for _, c in ipairs(cases) do run(c[1]) end
      assert.same({}, sb:requests())
    end)
  end)

  describe("credentials", function()
    it("without VPPTOKEN_ACCESS_TOKEN or AZURE_* exits 3 saying what to set in at most three lines of 80, "
      .. "VPPTOKEN_GRAPH_URL for the sandbox; --verbose says why each way was not used", function()
      local code, out, err = run({ "list" }, { env = { VPPTOKEN_ACCESS_TOKEN = false, COLUMNS = "80" } })
      assert.equal(3, code)
      assert.equal("", out)
      assert.matches("^vpptoken: no credentials: set VPPTOKEN_ACCESS_TOKEN", err)
      local n = 0
      for l in err:gmatch("[^\n]+") do
        n = n + 1
        assert.is_true(#l <= 80, l)
      end
      assert.is_true(n <= 3, err)
      local flat = err:gsub("%s+", " ")
      assert.matches("VPPTOKEN_GRAPH_URL for the sandbox", flat, 1, true)
      assert.matches("AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET", flat, 1, true)
      assert.equal(1, select(2, flat:gsub("vpptoken login", "")), "the advice is given once")
      assert.not_matches("Tried:", flat, 1, true)
      local vcode, _, verr = run({ "list", "--verbose" }, { env = { VPPTOKEN_ACCESS_TOKEN = false } })
      assert.equal(3, vcode)
      local vflat = verr:gsub("%s+", " ")
      assert.matches("Tried: environment: neither VPPTOKEN_ACCESS_TOKEN", vflat, 1, true)
      assert.matches("workload identity: AZURE_FEDERATED_TOKEN_FILE is not set", vflat, 1, true)
    end)

    it("a sign-in missing a variable exits 3 naming it, and the variable probably meant", function()
      local code, out, err = run({ "list" }, { env = { VPPTOKEN_ACCESS_TOKEN = false, AZURE_TENANT = "contoso",
                                                       AZURE_CLIENT_ID = "abc", AZURE_CLIENT_SECRET = "s" } })
      err = err:gsub("%s+", " ")
      assert.equal(3, code)
      assert.equal("", out)
      assert.matches("AZURE_TENANT_ID is not set", err, 1, true)
      assert.matches("AZURE_TENANT is set: did you mean AZURE_TENANT_ID?", err, 1, true)
      assert.not_matches("tenant_id", err, 1, true)
      local code2, _, err2 = run({ "list" }, { env = { VPPTOKEN_ACCESS_TOKEN = false, AZURE_TENANT_ID = "t",
                                                       AZURE_CLIENT_ID = "abc", AZURE_CLIENT_SECRE = "s" } })
      code, err = code2, err2:gsub("%s+", " ")
      assert.equal(3, code)
      assert.matches("nor AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set", err, 1, true)
      assert.matches("AZURE_CLIENT_SECRE is set: did you mean AZURE_CLIENT_SECRET?", err, 1, true)
    end)

    it("a bad value in the environment names its variable, never the Lua option", function()
      for _, c in ipairs{
        { { VPPTOKEN_GRAPH_URL = "ftp://graph.example" }, "VPPTOKEN_GRAPH_URL must look like", "base_url" },
        { { VPPTOKEN_CLOUD = "usgv" }, "unknown VPPTOKEN_CLOUD 'usgv' (did you mean 'usgov'?", "cloud '" },
        { { VPPTOKEN_AUTHORITY_URL = "login" }, "VPPTOKEN_AUTHORITY_URL must look like", "authority_url" },
        { { VPPTOKEN_ACCESS_TOKEN = "a b" }, "VPPTOKEN_ACCESS_TOKEN must not contain a space", "access_token" },
        { { VPPTOKEN_ACCESS_TOKEN = false, AZURE_TENANT_ID = "t", AZURE_CLIENT_ID = "c",
            AZURE_CLIENT_CERTIFICATE_PATH = "/nonexistent/cert.pem" }, "AZURE_CLIENT_CERTIFICATE_PATH: cannot open",
          "client_certificate" },
      } do
        local vars = { VPPTOKEN_ACCESS_TOKEN = "t" }
        for k, v in pairs(c[1]) do vars[k] = v end
        local code, out, err = run({ "list" }, { env = vars })
        assert.equal(2, code, err)
        assert.equal("", out)
        assert.matches(c[2], err, 1, true)
        assert.not_matches(c[3], err, 1, true)
      end
    end)

    it("a token Graph rejects exits 3 with the Graph code and request id", function()
      local code, _, err = run({ "list" }, { env = { VPPTOKEN_ACCESS_TOKEN = "not-the-token" } })
      assert.equal(3, code)
      assert.matches("^vpptoken: %[HTTP 401%]%[InvalidAuthenticationToken%][^\n]*request%-id %x+", err)
      assert.not_matches("not%-the%-token", err)
    end)

    it("an unreadable --client-secret-file is a usage error", function()
      local code, _, err = run({ "list", "--tenant", "t", "--client-id", "c", "--client-secret-file",
                                 "/nonexistent/secret" }, { env = { VPPTOKEN_ACCESS_TOKEN = false } })
      assert.equal(2, code)
      assert.matches("cannot open the client secret file given to --client-secret-file: No such file or directory",
        err, 1, true)
    end)
  end)

  describe("list and get", function()
    it("list prints a table with every token, short ids and the expiry as a local date with days left", function()
      local one = create("first@contoso.com")
      create("two@contoso.com", { "--set", "expirationDateTime=2001-02-03T04:05:06Z" })
      local code, out, err = run{ "list" }
      assert.equal(0, code, err)
      assert.equal("", err)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.equal(4, #lines)
      assert.equal("2 tokens, 1 needs attention", lines[4]) -- two's expiry is past
      -- piped: 80 columns, so the expiry is in its compact form (the long one, "(400 days left)", is too wide)
      assert.matches("^ID%s+APPLE ID%s+ORGANIZATION%s+STATE%s+SYNC%s+EXPIRES %(DAYS LEFT%)$", lines[1])
      assert.matches("\n" .. lit(one:sub(1, 8)) .. "%s+first@contoso%.com%s", out)
      assert.not_matches(one, out, 1, true)
      local expiry = lit(files.DEFAULT_GRAPH_DATE:sub(1, 10))
      assert.matches(expiry .. " %(400 d%)", out)
      assert.matches("2001%-02%-03 %(expired%)", out)
      local _, wide = run{ "list", "--wide" }
      assert.matches("\n" .. lit(one) .. "%s+first@contoso%.com%s", wide)
      assert.matches(expiry .. " %(400 days left%)", wide)
      assert.matches("^ID%s+APPLE ID%s+ORGANIZATION%s+TYPE%s+STATE%s+SYNC%s+LAST SYNC%s+EXPIRES%s+COUNTRY", wide)
      assert.equal(wide, select(2, run{ "list", "-o", "wide" }))
    end)

    it("--output json is one document with sorted keys and the token redacted", function()
      create("json@contoso.com")
      local code, out = run{ "list", "--output", "json" }
      assert.equal(0, code)
      local doc = cjson.decode(out)
      assert.equal(1, #doc)
      assert.equal("json@contoso.com", doc[1].appleId)
      assert.equal("<redacted>", doc[1].token)
      assert.equal(true, doc[1].automaticallyUpdateApps == false or doc[1].automaticallyUpdateApps == true)
      local keys = {}
      for k in out:gmatch('\n    "([^"]+)":') do keys[#keys + 1] = k end
      local sorted = { (table.unpack or unpack)(keys) } -- luacheck: ignore 113
      table.sort(sorted)
      assert.same(sorted, keys)
      assert.not_matches(SECRET, out, 1, true)
    end)

    it("an empty list is [] in JSON and a header alone in CSV", function()
      local _, out = run{ "list", "-o", "json" }
      assert.equal("[]\n", out)
      local _, csv = run{ "list", "-o", "csv" }
      assert.equal(1, #cli.parse_csv(csv))
    end)

    it("--output csv quotes commas and quotes (RFC 4180) and redacts the token", function()
      create('odd,"name"@contoso.com', { "--organization", "Contoso, Inc." })
      local code, out = run{ "list", "--output", "csv" }
      assert.equal(0, code)
      assert.matches('"odd,""name""@contoso.com"', out, 1, true)
      local rows = cli.parse_csv(out)
      assert.equal(2, #rows)
      local col = {}
      for i, name in ipairs(rows[1]) do col[name] = i end
      assert.equal('odd,"name"@contoso.com', rows[2][col.appleId])
      assert.equal("Contoso, Inc.", rows[2][col.organizationName])
      assert.equal("<redacted>", rows[2][col.token])
      assert.matches("\r\n$", out)
    end)

    it("--show-secrets prints the token value in every format; without it, no command shows it", function()
      local id = create("secret@contoso.com")
      for _, fmt in ipairs{ "table", "json", "csv" } do
        for _, argv in ipairs{ { "get", id }, { "list" }, { "sync", id } } do
          local _, hidden = run{ (table.unpack or unpack)(argv), "--output", fmt } -- luacheck: ignore 113
          assert.not_matches(FILE_CONTENT, hidden, 1, true)
        end
        local _, shown = run{ "get", id, "--output", fmt, "--show-secrets" }
        assert.matches(FILE_CONTENT, shown, 1, true)
        if fmt ~= "table" then -- the list table has no token column
          local _, listed = run{ "list", "--output", fmt, "--show-secrets" }
          assert.matches(FILE_CONTENT, listed, 1, true)
        end
      end
    end)

    it("--state keeps only tokens in that state; --select and --filter go to Graph", function()
      local keep = create("keep@contoso.com")
      local other = create("other@contoso.com")
      assert.equal(0, (run{ "update", other, "--set", "state=expired" }))
      local _, out = run{ "list", "--state", "expired", "-o", "json" }
      local doc = cjson.decode(out)
      assert.equal(1, #doc)
      assert.equal(other, doc[1].id)
      sb:reset()
      run{ "list", "--select", "appleId", "--filter", "appleId eq 'keep@contoso.com'", "--top", "5" }
      local path = sb:requests()[1].path
      assert.matches("%$select=appleId", path)
      assert.matches("%$filter=appleId%%20eq%%20%%27keep%%40contoso.com%%27", path)
      assert.matches("%$top=5", path)
      assert.is_string(keep)
    end)

    it("--max N shows at most N tokens and stops reading pages once it has them; --top only sizes the pages",
      function()
      for i = 1, 5 do create("max" .. i .. "@contoso.com") end
      local _, all = run{ "list", "-o", "json" }
      local total = #cjson.decode(all)
      assert.is_true(total >= 5)
      local seen = #sb:requests()
      local code, out = run{ "list", "--max", "3", "--top", "2", "-o", "json" }
      assert.equal(0, code)
      assert.equal(3, #cjson.decode(out))
      assert.equal(2, #sb:requests() - seen, "two pages of two hold the three tokens")
      local _, paged = run{ "list", "--top", "2", "-o", "json" }
      assert.equal(total, #cjson.decode(paged))
      assert.equal(2, (run{ "list", "--max", "0" }))
    end)

    it("get shows every property of one token, id first", function()
      local id = create("get@contoso.com")
      local code, out = run{ "get", id }
      assert.equal(0, code)
      assert.matches("^id%s+" .. lit(id) .. "\n", out)
      assert.matches("\nappleId%s+get@contoso.com\n", out)
      assert.matches("\ntoken%s+<redacted>\n", out)
    end)

    it("a token that does not exist exits 4 with one line: Graph code and request id", function()
      local code, out, err = run{ "get", "no-such-token" }
      assert.equal(4, code)
      assert.equal("", out)
      assert.matches("^vpptoken: %[HTTP 404%]%[ResourceNotFound%] [^\n]*request%-id %x[%x%-]+%)\n$", err)
    end)
  end)

  describe("exit codes by error class", function()
    it("a server error exits 6", function()
      sb:fail_next(1, 500)
      local code, _, err = run{ "list" }
      assert.equal(6, code)
      assert.matches("%[HTTP 500%]", err)
    end)

    it("throttling that outlasts the retries exits 5", function()
      sb:fail_next(3, 429, { retry_after = "0" })
      local code, _, err = run{ "list", "--retries", "2" }
      assert.equal(5, code)
      assert.matches("%[HTTP 429%]%[TooManyRequests%][^\n]*3 attempts", err)
    end)

    it("a request Graph refuses as invalid exits 8", function()
      local code, _, err = run{ "list", "--filter", "nope eq 1" }
      assert.equal(8, code)
      assert.matches("%[HTTP 400%]%[BadRequest%]", err)
    end)

    it("a connection that fails exits 7", function()
      local code, _, err = run{ "list", "--retries", "0", "--graph-url", "http://127.0.0.1:1/v1.0" }
      assert.equal(7, code)
      assert.matches("^vpptoken: %[network%]", err)
    end)
  end)

  describe("--verbose", function()
    it("adds one line per HTTP call with status, attempts, time and request ids; never the access token",
      function()
      sb:fail_next(1, 503, { retry_after = "0" })
      local code, _, err = run{ "list", "--verbose" }
      assert.equal(0, code, err)
      assert.matches("vpptoken: GET " .. sb.graph .. "/deviceAppManagement/vppTokens %-> 200 %(2 attempts, "
        .. "[%d%.]+ s[^\n]*, request%-id %x[%x%-]+, client%-request%-id %x[%x%-]+%)", err)
      assert.not_matches(ACCESS, err, 1, true)
      local _, _, quiet = run{ "list" }
      assert.equal("", quiet)
    end)

    it("--beta talks to the beta API of the same Graph", function()
      local code, _, err = run{ "list", "--beta", "--verbose" }
      assert.equal(0, code, err)
      assert.matches("GET " .. sb.beta .. "/deviceAppManagement/vppTokens", err, 1, true)
    end)
  end)

  describe("create and update", function()
    it("create takes the token and organization from Apple's file and sends the typed fields", function()
      local code, out, err = run{ "create", "--file", cli.token_file{ orgName = "Fabrikam" }, "--apple-id",
                                  "new@fabrikam.com", "--set", "automaticallyUpdateApps=true", "-o", "json" }
      assert.equal(0, code, err)
      local doc = cjson.decode(out)
      assert.equal("Fabrikam", doc.organizationName)
      assert.equal(true, doc.automaticallyUpdateApps)
      assert.equal("<redacted>", doc.token)
      local post = sb:requests()[1]
      assert.equal("POST", post.method)
      local body = cjson.decode(post.body)
      assert.equal(true, body.automaticallyUpdateApps)
      assert.equal("Fabrikam", body.organizationName)
      assert.equal((files.DEFAULT_EXP_DATE:gsub("%-0700$", "-07:00")), body.expirationDateTime)
    end)

    it("an expired or broken token file exits 9 and sends nothing", function()
      local code, _, err = run{ "create", "--file", cli.token_file{ expDate = "2001-01-01T00:00:00Z" },
                                "--apple-id", "a@b.c" }
      assert.equal(9, code)
      assert.matches("expired", err)
      local bcode, _, berr = run{ "create", "--file", helper.temp_file("not base64! " .. SECRET) }
      assert.equal(9, bcode)
      assert.matches("TokenFileNotBase64", berr, 1, true)
      assert.not_matches(SECRET, berr, 1, true)
      assert.same({}, sb:requests())
    end)

    it("update --set types values by the schema: booleans, dates, enums", function()
      local id = create("upd@contoso.com")
      local seen = #sb:requests()
      local code, out, err = run{ "update", id, "--set", "automaticallyUpdateApps=no", "--set",
                                  "expirationDateTime=2030-01-02T03:04:05Z", "--set", "countryOrRegion=gb", "-o",
                                  "json" }
      assert.equal(0, code, err)
      local doc = cjson.decode(out)
      assert.equal(false, doc.automaticallyUpdateApps)
      assert.equal("gb", doc.countryOrRegion)
      local patch = sb:requests()[seen + 1]
      assert.equal("PATCH", patch.method)
      local body = cjson.decode(patch.body)
      assert.equal(false, body.automaticallyUpdateApps)
      assert.equal("2030-01-02T03:04:05Z", body.expirationDateTime)
    end)

    it("bad --set values are usage errors with the library's message, and nothing is sent", function()
      local id = create("bad@contoso.com")
      local seen = #sb:requests()
      local cases = {
        { "automaticallyUpdateApps=maybe", "automaticallyUpdateApps must be true or false" },
        { "expirationDateTime=2030-01-02", "expirationDateTime: invalid DateTimeOffset" },
        { "vppTokenAccountType=Business", "vppTokenAccountType" },
        { "lastModifiedDateTime=2030-01-02T00:00:00Z", "is set by the server" },
        { "bogus=1", "unknown property 'bogus'" },
      }
      for _, c in ipairs(cases) do
        local code, _, err = run{ "update", id, "--set", c[1] }
        assert.equal(2, code, c[1])
        assert.matches(c[2], err, 1, true)
      end
      assert.equal(seen, #sb:requests())
    end)
  end)

  describe("delete", function()
    it("refuses without --yes when stdin is not a terminal, and deletes nothing", function()
      local id = create("del@contoso.com")
      local code, _, err = run{ "delete", id }
      assert.equal(2, code)
      assert.matches("stdin is not a terminal: add %-%-yes", err)
      assert.equal(0, (run{ "get", id }))
    end)

    it("--yes deletes; a second delete exits 4", function()
      local id = create("gone@contoso.com")
      local code, out = run{ "delete", id, "--yes" }
      assert.equal(0, code)
      assert.equal("deleted " .. id .. "\n", out)
      assert.equal(4, (run{ "get", id }))
      assert.equal(4, (run{ "delete", id, "-y" }))
      local qcode, qout = run{ "delete", create("quiet@contoso.com"), "-y", "-q" }
      assert.equal(0, qcode)
      assert.equal("", qout)
    end)
  end)

  describe("sync", function()
    it("sync ID --wait starts the sync and waits until it completed", function()
      local id = create("sync@contoso.com")
      local code, out, err = run{ "sync", id, "--wait", "-o", "json" }
      assert.equal(0, code, err)
      local doc = cjson.decode(out)
      assert.equal("started", doc[1].outcome)
      assert.equal("completed", doc[1].lastSyncStatus)
      assert.equal("", err) -- no progress when stderr is not a terminal
    end)

    it("sync --all starts every valid token and skips the others", function()
      local a = create("a@contoso.com")
      local b = create("b@contoso.com")
      run{ "update", b, "--set", "state=expired" }
      local code, out = run{ "sync", "--all", "-o", "csv" }
      assert.equal(0, code)
      local rows = cli.parse_csv(out)
      assert.same({ "id", "appleId", "outcome", "lastSyncStatus", "reason" }, rows[1])
      local by_id = {}
      for i = 2, #rows do by_id[rows[i][1]] = rows[i] end
      assert.equal("started", by_id[a][3])
      assert.equal("skipped", by_id[b][3])
      assert.equal("state is expired", by_id[b][5])
    end)

    it("a failure among several ids is reported, the others still start, and the exit code is its class",
      function()
      local id = create("many@contoso.com")
      local code, out, err = run{ "sync", id, "missing-id" }
      assert.equal(4, code)
      assert.matches(lit(id:sub(1, 8)) .. "%s+many@contoso.com%s+started", out)
      assert.matches("missing%-id%s+failed%s+ResourceNotFound", out)
      assert.matches("^vpptoken: %[HTTP 404%]", err)
      assert.matches("\n1 sync started, 1 failed\n$", out)
    end)

    it("ends its table with the totals: started and skipped, or with --wait, completed", function()
      local a = create("totals-a@contoso.com")
      local b = create("totals-b@contoso.com")
      run{ "update", b, "--set", "state=expired" }
      local code, out = run{ "sync", "--all" }
      assert.equal(0, code)
      local table_rows = out:match("^(.*\n)[^\n]+\n$")
      local started = select(2, table_rows:gsub("%sstarted%s", ""))
      local skipped = select(2, table_rows:gsub("%sskipped%s", ""))
      assert.is_true(started >= 1 and skipped >= 1, out)
      assert.matches(string.format("\n%d syncs? started, %d skipped\n$", started, skipped), out)
      local wcode, wout = run{ "sync", a, "--wait" }
      assert.equal(0, wcode)
      assert.matches("\n1 sync completed\n$", wout)
    end)
  end)

  describe("expiring and renew", function()
    it("expiring --exit-code exits 12 when a token needs attention and 0 when none does, for cron jobs", function()
      sb:reset()
      create("fine@contoso.com", { "--set", "expirationDateTime=" .. os.date("!%Y-%m-%dT%H:%M:%SZ",
        os.time() + 400 * 86400) })
      local code, out = run{ "expiring", "--within", "30", "--exit-code" }
      assert.equal(0, code, out)
      assert.equal(0, (run{ "expiring", "--within", "30" }))
      create("soon@contoso.com", { "--set", "expirationDateTime=" .. os.date("!%Y-%m-%dT%H:%M:%SZ",
        os.time() + 3 * 86400) })
      local code2, out2 = run{ "expiring", "--within", "30", "--exit-code" }
      assert.equal(12, code2, out2)
      assert.matches("soon@contoso.com", out2, 1, true)
      assert.equal(12, (run{ "expiring", "--within", "30", "--exit-code", "-o", "json" }))
      assert.equal(0, (run{ "expiring", "--within", "30" }), "without the flag, attention is no failure")
    end)

    it("expiring --within lists the tokens expiring in that many days, soonest first", function()
      local soon = create("soon@contoso.com")
      create("later@contoso.com")
      local date = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 5 * 86400 + 3600)
      assert.equal(0, (run{ "update", soon, "--set", "expirationDateTime=" .. date }))
      local code, out = run{ "expiring", "--within", "10", "-o", "json" }
      assert.equal(0, code)
      local doc = cjson.decode(out)
      assert.equal(1, #doc)
      assert.equal(soon, doc[1].token.id)
      assert.equal(6, doc[1].days_left)
      assert.equal("expires in 6 days", doc[1].reason)
      assert.equal("<redacted>", doc[1].token.token)
      local _, table_out = run{ "expiring", "--within", "10" }
      assert.matches("soon@contoso.com%s+Contoso%s+valid%s+%d+%-%d+%-%d+%s+expires in 6 days", table_out)
      local _, wide = run{ "expiring", "--within", "10", "--wide" }
      assert.matches(lit(soon) .. "%s+soon@contoso.com%s+Contoso%s+valid%s+%d+%-%d+%-%d+ %(6 days left%)%s+"
        .. "expires in 6 days", wide)
    end)

    it("renew uploads the new file and says when Graph still shows the old expiry", function()
      local id = create("renew@contoso.com", { "--set", "expirationDateTime=2027-01-01T00:00:00Z" })
      local seen = #sb:requests()
      local exp_date, _, at = files.expires_in(1000)
      local code, out, err = run{ "renew", id, "--file", cli.token_file{ expDate = exp_date } }
      assert.equal(0, code, err)
      assert.matches("^renewed " .. lit(id) .. "\n  the new file expires " .. lit(os.date("%Y-%m-%d", at))
        .. " %(1000 days left%) %(was "
        .. "2027%-01%-01", out)
      for l in out:gmatch("[^\n]+") do assert.is_true(#l <= 80, l) end
      assert.matches("\nnote: Graph still shows the expiry 2027%-01%-01T00:00:00Z", out)
      local patch = sb:requests()[seen + 2]
      assert.equal("PATCH", patch.method)
      assert.not_matches(SECRET, out, 1, true)
    end)

    it("renew with a missing or expired file exits 9 and sends no PATCH", function()
      local id = create("stale@contoso.com")
      local seen = #sb:requests()
      local code, _, err = run{ "renew", id, "--file", "/nonexistent/new.vpptoken" }
      assert.equal(9, code)
      assert.matches("TokenFileUnreadable", err, 1, true)
      local ecode, _, eerr = run{ "renew", id, "--file", cli.token_file{ expDate = "2002-01-01T00:00:00Z" } }
      assert.equal(9, ecode)
      assert.matches("TokenFileExpired", eerr, 1, true)
      assert.equal(seen, #sb:requests())
    end)
  end)

  describe("sandbox", function()
    local dir

    local function fake(path, word)
      os.execute("mkdir -p " .. helper.shell_quote(path:match("^(.*)/")))
      local f = assert(io.open(path, "w"))
      f:write("#!/bin/sh\necho " .. word .. " \"$@\"\nexit 3\n")
      f:close()
      os.execute("chmod +x " .. helper.shell_quote(path))
    end

    setup(function()
      dir = os.tmpname()
      os.remove(dir)
      fake(dir .. "/env/sb", "from-env")
      fake(dir .. "/path/vpptoken-sandbox", "from-path")
      fake(dir .. "/cwd/build/vpptoken-sandbox", "from-build")
    end)

    teardown(function() os.execute("rm -rf " .. helper.shell_quote(dir)) end)

    local function sandbox(vars, ...)
      vars.PATH = vars.PATH or "/usr/bin:/bin"
      return cli.run({ "sandbox", ... }, { env = vars, cwd = dir .. "/cwd" })
    end

    it("runs $VPPTOKEN_SANDBOX first, with the arguments, and returns its exit code", function()
      local code, out = sandbox({ VPPTOKEN_SANDBOX = dir .. "/env/sb", PATH = dir .. "/path:/usr/bin:/bin" },
        "--port", "0")
      assert.equal(3, code)
      assert.equal("from-env --port 0\n", out)
    end)

    it("then the one on PATH, then ./build/", function()
      local _, out = sandbox({ PATH = dir .. "/path:/usr/bin:/bin" }, "--", "--help")
      assert.equal("from-path --help\n", out)
      local _, bout = sandbox({}, "--verbose")
      assert.equal("from-build --verbose\n", bout)
    end)

    it("says how to get it when there is none", function()
      local code, _, err = sandbox({ VPPTOKEN_SANDBOX = dir .. "/nothing" })
      assert.equal(1, code)
      assert.matches("VPPTOKEN_SANDBOX is [^\n]*not an executable file", err)
    end)

    it("starts the real sandbox, which answers its --help", function()
      local code, out = cli.run({ "sandbox", "--", "--help" }, { env = { VPPTOKEN_SANDBOX = helper.sandbox_bin } })
      assert.equal(0, code)
      assert.matches("^Usage: vpptoken%-sandbox", out)
    end)
  end)
end)

describe("the command line's parser (lua-argparse, built from args.GLOBAL and args.COMMANDS)", function()
  local args = require "vpptoken.cli.args"

  local function parse(argv)
    local parsed, msg = args.parse(argv)
    if not parsed then return nil, msg end
    return { command = parsed.command and parsed.command.name, positional = parsed.positional, opts = parsed.opts }
  end

  it("takes global flags before or after the command, as --name value, --name=value or -x value", function()
    local want = parse{ "-o", "json", "--retries", "2", "list", "--top", "5" }
    assert.same({ command = "list", positional = {}, opts = { output = "json", retries = 2, top = 5 } }, want)
    assert.same(want, parse{ "list", "--output=json", "--top=5", "--retries", "2" })
    assert.same(want, parse{ "list", "--top", "5", "-o", "json", "--retries=2" })
  end)

  it("gives a value that starts with '-' to the flag, which checks it", function()
    local parsed, msg = parse{ "list", "--top", "-1" }
    assert.is_nil(parsed)
    assert.equal("--top needs a whole number >= 1 (got '-1')", msg)
    assert.same({ "x=-1" }, parse{ "update", "a", "--set", "x=-1" }.opts.set)
  end)

  it("ends the flags at --, and repeats a list flag", function()
    assert.same({ "-weird", "--also" }, parse{ "sync", "--", "-weird", "--also" }.positional)
    assert.same({ "a=1", "b=2" }, parse{ "update", "id", "--set", "a=1", "--set=b=2" }.opts.set)
  end)

  it("passes what follows 'sandbox' to the sandbox, but for --help before a --", function()
    assert.same({ "--port", "1", "--verbose" }, parse{ "sandbox", "--port", "1", "--verbose" }.positional)
    assert.is_nil(parse{ "sandbox", "--port", "1" }.opts.help)
    assert.same({ "--help" }, parse{ "sandbox", "--", "--help" }.positional)
    assert.is_nil(parse{ "sandbox", "--", "--help" }.opts.help)
    assert.is_true(parse{ "sandbox", "--port", "1", "-h" }.opts.help)
  end)

  it("checks each kind: choice (with the closest), count range, whole number, decimal number, non-empty", function()
    for _, c in ipairs{
      { { "list", "--output", "JSON" },
        "--output must be one of table, wide, json, csv (got 'JSON'; did you mean 'json'?)" },
      { { "list", "--retries", "11" }, "--retries needs a whole number from 0 to 10 (got '11')" },
      { { "list", "--top", "1.5" }, "--top needs a whole number >= 1 (got '1.5')" },
      { { "list", "--timeout", "1e3" }, "--timeout needs a number >= 0 (got '1e3')" },
      { { "list", "--filter=" }, "--filter needs a non-empty value" },
      { { "list", "--top" }, "option '--top' needs a value (N)" },
      { { "--file", "x", "create" }, "option '--file' belongs after a command (e.g. 'vpptoken create --file')" },
      { { "list", "--outptu", "json" }, "unknown option '--outptu' (did you mean '--output'?)" },
      { { "lsit" }, "unknown command 'lsit' (did you mean 'list'?)" },
      { { "get", "a", "b" }, "unexpected argument 'b'" },
      { { "renew" }, "renew needs ID" },
    } do
      local parsed, msg = parse(c[1])
      assert.is_nil(parsed, table.concat(c[1], " "))
      assert.equal(c[2], msg)
    end
    assert.equal(0.5, parse{ "list", "--timeout", ".5" }.opts.timeout)
    assert.equal(2.5, parse{ "list", "--timeout=2.5" }.opts.timeout)
  end)

  it("asks for no argument count with --help, and prints nothing itself", function()
    assert.same({ command = "get", positional = {}, opts = { help = true } }, parse{ "get", "--help" })
    assert.same({ command = nil, positional = {}, opts = {} }, parse{})
  end)
end)

describe("vpptoken command with short ids #subprocess", function()
  -- Two ids that share their first 15 characters, a third alike in 8, and another.
  local A = "abcdef01-2345-4000-8000-000000000001"
  local B = "abcdef01-2345-4111-8000-000000000002"
  local C = "abcdef01-9999-4000-8000-000000000003"
  local D = "5d2c6f0e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
  local data = cli.store_file{ { id = A, appleId = "a@contoso.com" }, { id = B, appleId = "b@contoso.com" },
                               { id = C, appleId = "c@contoso.com" }, { id = D, appleId = "d@contoso.com" } }
  local sb = helper.sandbox_suite({ "--access-token", ACCESS, "--data", data }, { reset = false })
  local env

  local function run(argv)
    return cli.run(argv, { env = env })
  end

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS }
  end)

  teardown(function() os.remove(data) end)

  it("tables show the fewest characters (at least 8) that tell the ids apart", function()
    local code, out, err = run{ "list" }
    assert.equal(0, code, err)
    assert.matches("\nabcdef01%-2345%-40%s+a@contoso", out)
    assert.matches("\nabcdef01%-2345%-41%s+b@contoso", out)
    assert.matches("\nabcdef01%-9%s+c@contoso", out)
    assert.matches("\n5d2c6f0e%s+d@contoso", out)
  end)

  it("every command that takes an ID takes a prefix that names one token", function()
    local code, out, err = run{ "get", "5d2c6f0e", "-o", "json" }
    assert.equal(0, code, err)
    assert.equal(D, cjson.decode(out).id)
    code, out, err = run{ "get", "ABCDEF01-9", "-o", "json" }
    assert.equal(0, code, err)
    assert.equal(C, cjson.decode(out).id)
    code, out, err = run{ "update", "5d2c6f0e1", "--set", "countryOrRegion=gb", "-o", "json" }
    assert.equal(0, code, err)
    assert.equal(D, cjson.decode(out).id)
    code, out, err = run{ "sync", "5d2c6f0e", "abcdef01-9", "-o", "json" }
    assert.equal(0, code, err)
    local doc = cjson.decode(out)
    assert.same({ D, C }, { doc[1].id, doc[2].id })
    code, out, err = run{ "renew", "5d2c6f0e", "--file", cli.token_file(), "-o", "json" }
    assert.equal(0, code, err)
    assert.equal(D, cjson.decode(out).token.id)
    code, out, err = run{ "delete", "5d2c6f0e", "--yes" }
    assert.equal(0, code, err)
    assert.equal("deleted " .. D .. "\n", out)
  end)

  it("a prefix several ids start with is a usage error naming their short ids, and picks none", function()
    local seen = #sb:requests()
    for _, argv in ipairs{ { "get", "abcdef01" }, { "delete", "abcdef01-2345", "--yes" },
                           { "sync", "abcdef01", "--wait" } } do
      local code, out, err = run(argv)
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("tokens have ids starting with 'abcdef01", err, 1, true)
      assert.matches("abcdef01-2345-40, abcdef01-2345-41", err, 1, true)
      assert.matches("see 'vpptoken " .. argv[1] .. " --help'", err, 1, true)
    end
    local requests = sb:requests()
    assert.is_true(#requests > seen)
    for i = seen + 1, #requests do assert.equal("GET", requests[i].method) end
    local code, _, err = run{ "get", "abcdef01" }
    assert.equal(2, code)
    assert.equal("vpptoken: 3 tokens have ids starting with 'abcdef01': abcdef01-2345-40, abcdef01-2345-41, "
      .. "abcdef01-9; give more characters (see 'vpptoken get --help')\n", err)
  end)

  it("a prefix no id starts with is 'no token' (exit 4); a whole GUID goes to Graph as it is", function()
    local code, out, err = run{ "get", "0123abcd" }
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal("vpptoken: no token whose id starts with '0123abcd'\n", err)
    local seen = #sb:requests()
    code, out, err = run{ "sync", "abcdef01-9", "0123abcd" } -- nothing starts when one ID names no token
    assert.equal(4, code, err)
    local requests = sb:requests()
    for i = seen + 1, #requests do assert.equal("GET", requests[i].method) end
    assert.equal("", out)
    code, out, err = run{ "get", "01234567-89ab-4cde-8f01-23456789abcd" }
    assert.equal(4, code)
    assert.equal("", out)
    assert.matches("%[HTTP 404%]", err)
  end)
end)
