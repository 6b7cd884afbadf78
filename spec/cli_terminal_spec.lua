-- The vpptoken command on a terminal (through tmux): tables fitted to the width, the delete confirmation prompt
-- (the status line on stderr: cli_progress_spec.lua). Each tmux server has its own socket and is killed afterwards.
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"
local vpptoken = require "vpptoken"

local ACCESS = cli.ACCESS

describe("vpptoken command on a terminal #subprocess", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "1.5" }
  local env, term

  -- `vpptoken argv` in a new tmux session (100x30, or size "WxH"); returns the session name (cli_support.lua).
  local function start(argv, extra_env, size)
    local x, y = (size or "100x30"):match("^(%d+)x(%d+)$")
    return term:start(argv, extra_env, { width = tonumber(x), height = tonumber(y) })
  end
  local function wait_for(name, pattern) return term:wait_for(name, pattern) end
  local function finished(name, escapes) return term:finished(name, escapes) end

  local function create(apple_id, org)
    local code, out, err = cli.run({ "create", "--file", cli.token_file(), "--apple-id", apple_id, "--organization",
                                      org or "Contoso", "-o", "json" }, { env = env })
    assert.equal(0, code, err)
    return cjson.decode(out).id
  end

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS }
    -- history too: an 80x50 table scrolls off the top
    term = cli.terminal(env, { history = true })
  end)

  teardown(function()
    if term then term:kill() end
  end)

  describe("tables", function()
    local long_id

    before_each(function()
      long_id = create("a-very-long-apple-id-for-the-volume-purchase-program@contoso-international.com",
        "Contoso International Holdings, Education and Government Division")
    end)

    it("fit the terminal's own width (asked of the terminal) with a short id, long values wrapped", function()
      local code, text = finished(start{ "list" })
      assert.equal(0, code, text)
      for l in text:gmatch("[^\n]+") do assert.is_true(helper.utf8_len(l) <= 100, "wider than the terminal: " .. l) end
      assert.matches("\n" .. long_id:sub(1, 8) .. "  a%-very%-long%-apple%-id%-for%-the%-", text)
      assert.not_matches(long_id, text, 1, true)
      assert.matches("  Contoso International  ", text, 1, true)
      assert.matches("\n[^\n]*%s%sHoldings, Education\n", text)
    end)

    it("fit $COLUMNS when it is set", function()
      local code, text = finished(start({ "list" }, { COLUMNS = "72" }))
      assert.equal(0, code, text)
      for l in text:gmatch("[^\n]+") do assert.is_true(helper.utf8_len(l) <= 72, "wider than COLUMNS: " .. l) end
      assert.matches(long_id:sub(1, 8), text, 1, true)
    end)

    it("fit 80 columns when stdout is a pipe; --wide shows whole ids and values", function()
      local code, out = cli.run({ "list" }, { env = env })
      assert.equal(0, code)
      for l in out:gmatch("[^\n]+") do assert.is_true(helper.utf8_len(l) <= 80, "wider than 80: " .. l) end
      local wcode, wide = cli.run({ "list", "--wide" }, { env = env })
      assert.equal(0, wcode)
      assert.matches("Contoso International Holdings, Education and Government Division", wide, 1, true)
      assert.matches(long_id, wide, 1, true)
    end)
  end)

  describe("a tenant with 300 tokens, at 80 columns", function()
    local DAY = 86400
    local ORGS = { { "Contoso Ltd", "contoso.com" }, { "Northwind Traders", "northwind.com" },
                   { "Fabrikam Schools", "fabrikam.edu" }, { "Woodgrove Bank", "woodgrove.com" } }
    local tokens = {}
    math.randomseed(1515)
    for i = 1, 300 do
      local org = ORGS[i % #ORGS + 1]
      local id = ("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx"):gsub("x", function()
        return string.format("%x", math.random(0, 15))
      end)
      local t = { id = id, organizationName = org[1], appleId = string.format("vpp%03d@%s", i, org[2]),
                  state = i % 13 == 0 and "expired" or (i % 29 == 0 and "invalid" or "valid"),
                  lastSyncStatus = i % 11 == 0 and "failed" or "completed",
                  expirationDateTime = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + ((i * 37) % 420 - 30) * DAY
                                                 + math.floor(DAY / 2)) }
      tokens[i] = t
    end
    local data = cli.store_file(tokens)
    local big = helper.sandbox_suite({ "--access-token", ACCESS, "--data", data }, { reset = false })
    local big_env

    setup(function() big_env = { VPPTOKEN_GRAPH_URL = big.graph } end)
    teardown(function() os.remove(data) end)

    -- The table rows of a screen: { short id = line } (a row starts with its short id; wrapped lines do not), the
    -- number of rows, and { short id = { the lines the row wrapped onto } }.
    local function rows_of(text)
      local rows, n, more, last = {}, 0, {}, nil
      for l in text:gmatch("[^\n]+") do
        assert.is_true(helper.utf8_len(l) <= 80, "wider than 80 columns: " .. l)
        local short = l:match("^(%x%x%x%x%x%x%x%x[%x%-]*)  ")
        if short then
          assert.is_nil(rows[short], "two rows show the id " .. short)
          rows[short], n, more[short], last = l, n + 1, {}, short
        elseif last and l:match("^ ") then
          table.insert(more[last], l)
        end
      end
      return rows, n, more
    end

    -- The token whose id the short id starts (exactly one).
    local function token_of(short)
      local found
      for _, t in ipairs(tokens) do
        if t.id:sub(1, #short) == short then
          assert.is_nil(found, short .. " starts two ids")
          found = t
        end
      end
      return assert(found, short .. " starts no id")
    end

    -- "2027-06-18 (200 d" (the compact and the long form both start so) or "2026-11-20 (expired)".
    local function expiry_text(t)
      local days = vpptoken.days_left(t)
      return t.expirationDateTime:sub(1, 10) .. (days > 0 and (" (" .. days .. " d") or " (expired)")
    end

    it("list: every row within 80 columns with a unique short id, the Apple ID, state and expiry uncut", function()
      local code, text = finished(start({ "list" }, big_env, "80x50"))
      assert.equal(0, code, text)
      local rows, n = rows_of(text)
      assert.equal(300, n, text)
      for short, line in pairs(rows) do
        assert.is_true(#short >= 8)
        local t = token_of(short)
        assert.matches("  " .. cli.literal(t.appleId) .. "  ", line, 1, false)
        assert.matches("  " .. t.state .. "  ", line, 1, true)
        assert.matches(expiry_text(t), line, 1, true)
      end
    end)

    it("the short ids a table shows work in get", function()
      local _, text = finished(start({ "list" }, big_env, "80x50"))
      local rows = rows_of(text)
      local checked = 0
      for short in pairs(rows) do
        local code, out, err = cli.run({ "get", short, "-o", "json" }, { env = { VPPTOKEN_GRAPH_URL = big.graph,
                                                                                  VPPTOKEN_ACCESS_TOKEN = ACCESS } })
        assert.equal(0, code, err)
        assert.equal(token_of(short).id, cjson.decode(out).id)
        checked = checked + 1
        if checked == 5 then break end
      end
      assert.equal(5, checked)
    end)

    it("expiring: the Apple ID, expiry and reason uncut on each row, within 80 columns", function()
      local code, text = finished(start({ "expiring", "--within", "60" }, big_env, "80x50"))
      assert.equal(0, code, text)
      local rows, n, more = rows_of(text)
      assert.is_true(n > 20, text)
      local header = assert(text:match("^(ID [^\n]*)") or text:match("\n(ID [^\n]*)"))
      local at = assert(header:find("REASON", 1, true))
      for short, line in pairs(rows) do
        local t = token_of(short)
        assert.matches("  " .. cli.literal(t.appleId) .. "  ", line)
        assert.matches("  " .. t.expirationDateTime:sub(1, 10) .. "  ", line, 1, true)
        local days = vpptoken.days_left(t)
        local reason = days > 0 and string.format("expires in %d day%s", days, days == 1 and "" or "s")
          or string.format("expired %d day%s ago", -days, days == -1 and "" or "s")
        if days == 0 then reason = "expired less than a day ago" end
        -- the state, when not valid, is the reason's first part ("state is expired; ..."), on a line of its own
        if t.state ~= "valid" then reason = "state is " .. t.state .. (days <= 60 and "; " .. reason or "") end
        -- the reason column, its wrapped lines joined
        local parts = { line:sub(at) }
        for _, l in ipairs(more[short]) do parts[#parts + 1] = l:sub(at) end
        local shown = table.concat(parts, " "):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
        assert.equal(reason, shown, line)
      end
    end)

    it("--wide shows the whole ids", function()
      local code, text = finished(start({ "list", "--wide" }, big_env, "80x50"))
      assert.equal(0, code, text)
      for _, t in ipairs{ tokens[1], tokens[150], tokens[300] } do assert.matches(t.id, text, 1, true) end
    end)

    it("colour on a terminal for what needs attention; none with NO_COLOR, --no-color or a pipe", function()
      local code, text = finished(start({ "list" }, big_env, "80x50"), true)
      assert.equal(0, code, text)
      assert.matches("\27%[31mexpired", text)
      assert.matches("\27%[33m%d+%-%d+%-%d+ %(%d+ d%)", text) -- expiring within 30 days
      local _, wide = finished(start({ "list", "--wide" }, big_env, "80x50"), true)
      assert.matches("\27%[31mfailed", wide) -- the sync status (a column of the wide table)
      for _, case in ipairs{ { { "list" }, { NO_COLOR = "1" } }, { { "list", "--no-color" } },
                             { { "expiring", "--no-color" } } } do
        local e = { NO_COLOR = false }
        for k, v in pairs(big_env) do e[k] = v end
        for k, v in pairs(case[2] or {}) do e[k] = v end
        local c, plain = finished(start(case[1], e, "80x50"), true)
        assert.equal(0, c, plain)
        assert.not_matches("\27%[3[13]m", plain)
        assert.matches("expired", plain, 1, true)
      end
      local c, piped = cli.run({ "list" }, { env = { VPPTOKEN_GRAPH_URL = big.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS,
                                                     COLUMNS = "80" } })
      assert.equal(0, c)
      assert.not_matches("\27", piped, 1, true)
    end)
  end)

  describe("delete", function()
    it("asks on a terminal; anything but y keeps the token", function()
      local id = create("keep@contoso.com")
      local s = start{ "delete", id }
      local prompt = wait_for(s, "%[y/N%]")
      assert.matches("Delete VPP token " .. cli.literal(id) .. "%?\n  keep@contoso%.com, Contoso\n", prompt, 1)
      for l in prompt:gmatch("[^\n]+") do assert.is_true(#l <= 80, l) end
      term:keys(s, "n Enter")
      local code, text = finished(s)
      assert.equal(1, code, text)
      assert.matches("vpptoken: not deleted", text, 1, true)
      assert.equal(0, (cli.run({ "get", id }, { env = env })))
    end)

    it("deletes after y", function()
      local id = create("bye@contoso.com")
      local s = start{ "delete", id }
      wait_for(s, "%[y/N%]")
      term:keys(s, "y Enter")
      local code, text = finished(s)
      assert.equal(0, code, text)
      assert.matches("deleted " .. id, text, 1, true)
      assert.equal(4, (cli.run({ "get", id }, { env = env })))
    end)
  end)
end)
