-- The command line's status line: the module (vpptoken.cli.progress) on a clock and a screen of its own, then the
-- vpptoken command in real 80-column pseudo-terminals (tmux) against a slow sandbox and one that is down.
local helper = require "helper"
local cli = require "cli_support"
local progress = require "vpptoken.cli.progress"
local vpptoken = require "vpptoken"

-- What a terminal shows after `written`: the last line, after carriage returns and clear-to-end-of-line.
local function last_line(written)
  local line = ""
  for part in (written .. "\r"):gmatch("(.-)\r") do line = part:gsub("^\27%[K", "") end
  return line
end

describe("the status line", function()
  local now, written, line

  local function new(opts)
    opts = opts or {}
    now, written = 0, {}
    return progress.new{ enabled = opts.enabled ~= false, clock = function() return now end,
      write = function(s) written[#written + 1] = s end, width = function() return opts.width or 80 end }
  end

  local function shown() return last_line(table.concat(written)) end

  before_each(function() line = new() end)

  it("stays hidden for work shorter than a second", function()
    line:set("listing tokens: 1 pages, 10 tokens")
    now = 0.9
    line:tick()
    line:clear()
    assert.same({}, written)
  end)

  it("shows the work's counts once it has taken a second, and is erased by clear", function()
    line:set("synced 0/300, 0 failed")
    now = 1.2
    line:set("synced 120/300, 2 failed")
    assert.equal("synced 120/300, 2 failed (1 s)", shown())
    line:clear()
    assert.equal("", shown())
    assert.equal("\r\27[K", written[#written])
  end)

  it("is redrawn in place: every draw starts with a carriage return and clears to the end of the line", function()
    now = 2
    for i = 1, 5 do
      now = now + 1
      line:set("synced " .. i .. "/5, 0 failed")
    end
    assert.equal(5, #written)
    for _, w in ipairs(written) do assert.matches("^\r\27%[K[^\r\n]*$", w) end
  end)

  it("is never as wide as the terminal: a long text is cut with a mark", function()
    line = new{ width = 40 }
    now = 5
    line:set("waiting for license syncs: 120/300 done, checking " .. ("x"):rep(60))
    local text = shown()
    assert.equal(39, helper.utf8_len(text))
    assert.matches("%.%.%.$", text)
  end)

  it("shows a retry's wait at once, then the work again", function()
    line:set("listing tokens: 0 pages")
    line:retry{ attempt = 2, max_attempts = 4, delay = 2.4, kind = "network", code = "COULDNT_CONNECT" }
    assert.equal("waiting 3 s before attempt 2 of 4: cannot connect", shown())
    now = 3
    line:tick()
    assert.equal("listing tokens: 0 pages (3 s)", shown())
  end)

  it("names an HTTP status it waits after", function()
    assert.equal("waiting 1 s before attempt 3 of 4: throttled, HTTP 429",
      progress.retry_text{ attempt = 3, max_attempts = 4, delay = 1, status = 429 })
  end)

  it("does not count the time at a prompt", function()
    line:set("working")
    now = 0.5
    line:pause()
    now = 60 -- the user reads the question for a minute
    line:resume()
    now = 60.2
    line:tick()
    assert.same({}, written) -- 0.7 s of work: still hidden
    now = 61
    line:tick()
    assert.equal("working (1 s)", shown())
  end)

  it("writes nothing when not enabled (stderr not a terminal, or --quiet)", function()
    line = new{ enabled = false }
    now = 10
    line:set("synced 1/2, 0 failed")
    line:retry{ attempt = 2, max_attempts = 4, delay = 3, status = 503 }
    line:clear()
    assert.same({}, written)
  end)

  it("makes text from a server printable", function()
    now = 2
    line:set("deleting \27[2Jtoken")
    assert.not_matches("\27[2J", table.concat(written), 1, true)
  end)
end)

describe("vpptoken command on an 80-column terminal #subprocess", function()
  local ACCESS = cli.ACCESS
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "2" }
  local env, term

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS }
    term = cli.terminal(env)
  end)

  teardown(function()
    if term then term:kill() end
  end)

  local function create_tokens(n)
    local client = vpptoken.new{ access_token = ACCESS, base_url = sb.graph }
    local ids = {}
    for i = 1, n do
      ids[i] = assert(client:create{ token = helper.apple_token("t" .. i), appleId = "user" .. i .. "@contoso.com",
                                     organizationName = "Contoso" }).id
    end
    client:close()
    return ids
  end

  -- Lines of a screen that are not blank.
  local function lines(text)
    local out = {}
    for l in text:gmatch("[^\n]+") do
      if l:find("%S") then out[#out + 1] = l end
    end
    return out
  end

  -- Every line of the screen fits `width` columns, but an error message (which may wrap, as any long line).
  local function assert_fits(text, width)
    for _, l in ipairs(lines(text)) do
      if not l:match("^vpptoken: ") then
        assert.is_true(helper.utf8_len(l) <= width, "wider than the terminal (" .. helper.utf8_len(l) .. "): " .. l)
      end
    end
  end

  local function start(argv, extra_env, width)
    return term:start(argv, extra_env, { width = width or 80, height = 50 })
  end

  it("vpptoken.terminal reads the terminal's real width, and nil for what is not a terminal", function()
    local script = helper.temp_file([[
      local vpptoken = require "vpptoken"
      io.stderr:write("WIDTH=", tostring(vpptoken.terminal(2).columns), " PIPE=",
        tostring(vpptoken.terminal(1)), "\n")
    ]])
    local line = "env LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=" .. helper.shell_quote(helper.build_dir
      .. "/?.so;;") .. " " .. helper.shell_quote(helper.lua) .. " " .. helper.shell_quote(script) .. " | cat"
    local code, text = term:finished(term:start({}, nil, { width = 73, height = 10, command = line }))
    os.remove(script)
    assert.equal(0, code, text)
    assert.matches("WIDTH=73 PIPE=nil", text, 1, true)
    assert.is_nil(vpptoken.terminal(1000)) -- not an open file
  end)

  it("sync --all --wait shows real counts on one line, which is gone when the table is printed", function()
    create_tokens(24)
    -- Slow syncs (8 at once) and slow checks: seconds of work.
    sb:configure{ faults = { latency_ms = { POST = { 900, 1000 }, GET = { 300, 400 } } } }
    local s = start{ "sync", "--all", "--wait" }
    local during = term:wait_for(s, "started %d+/24 syncs, 0 failed %(%d+ s%)")
    assert_fits(during, 80)
    term:wait_for(s, "waiting for license syncs: %d+/24 done")
    local code, text = term:finished(s)
    assert.equal(0, code, text)
    assert.not_matches("started %d+/", text)
    assert.not_matches("waiting for", text, 1, true)
    assert_fits(text, 80)
    -- The table's header, 24 rows and the totals, then EXIT=: no status line left behind, none piled up.
    local shown = lines(text)
    assert.equal(27, #shown, text)
    assert.matches("^ID ", shown[1])
    assert.equal("24 syncs completed", shown[26])
    assert.matches("^EXIT=0$", shown[27])
  end)

  it("list shows its pages and tokens while it works", function()
    create_tokens(12)
    sb:configure{ faults = { latency_ms = { GET = { 1200, 1300 } } } }
    local s = start{ "list", "--top", "4" } -- three pages, each over a second
    local during = term:wait_for(s, "listing tokens: %d pages? read, %d+ tokens?")
    assert_fits(during, 80)
    local code, text = term:finished(s)
    assert.equal(0, code, text)
    assert.not_matches("listing tokens", text, 1, true)
    assert.equal(15, #lines(text), text) -- header, 12 rows, the count, EXIT=
  end)

  describe("with Graph unavailable", function()
    it("list says it waits to try again, then the error starts on a clean line", function()
      sb:fail_next(3, 503, { retry_after = "2" })
      local s = start{ "list", "--retries", "2" }
      local during = term:wait_for(s, "waiting 2 s before attempt 2 of 3: service unavailable")
      assert_fits(during, 80)
      local code, text = term:finished(s)
      assert.equal(6, code, text)
      assert.not_matches("waiting", text, 1, true)
      local shown = lines(text)
      assert.matches("^vpptoken: %[HTTP 503%]", shown[1])
      assert.matches("^EXIT=6$", shown[#shown])
    end)

    it("counts the wait before a retry down", function()
      sb:fail_next(1, 503, { retry_after = "4" })
      local s = start{ "list", "--retries", "1" }
      term:wait_for(s, "waiting 4 s before attempt 2 of 2: service unavailable")
      term:wait_for(s, "waiting 2 s before attempt 2 of 2: service unavailable")
      local code, text = term:finished(s)
      assert.equal(0, code, text)
      assert.not_matches("waiting", text, 1, true)
    end)

    it("the wait is cut to a narrow terminal's width, never wrapped", function()
      sb:fail_next(2, 503, { retry_after = "2" })
      local s = start({ "list", "--retries", "1" }, nil, 40)
      local during = term:wait_for(s, "waiting %d+ s before attempt 2 of")
      for _, l in ipairs(lines(during)) do
        assert.is_true(helper.utf8_len(l) <= 39, "wider than the terminal: " .. l)
      end
      local code, text = term:finished(s)
      assert.equal(6, code, text)
    end)
  end)

  it("delete: the prompt and the result start on clean lines, with no status line left", function()
    local id = create_tokens(1)[1]
    sb:configure{ faults = { latency_ms = { GET = { 2500, 2600 }, DELETE = { 2500, 2600 } } } }
    local s = start{ "delete", id }
    term:wait_for(s, "reading the token %(%d+ s%)")
    local prompt = term:wait_for(s, "%[y/N%]")
    assert.not_matches("reading the token", prompt, 1, true)
    assert.matches("^Delete VPP token " .. cli.literal(id), lines(prompt)[1])
    term:keys(s, "y Enter")
    term:wait_for(s, "deleting the token %(%d+ s%)")
    local code, text = term:finished(s)
    assert.equal(0, code, text)
    assert.not_matches("the token (", text, 1, true)
    local shown = lines(text)
    assert.equal("deleted " .. id, shown[#shown - 1])
  end)

  it("--quiet shows no status line at any time", function()
    create_tokens(8)
    sb:configure{ faults = { latency_ms = { POST = { 1500, 1600 } } } }
    local s = start{ "sync", "--all", "--quiet" }
    local samples = 0
    repeat -- the screen, read every 0.1 s until the command ends (over 1.5 s: POSTs are slow)
      local text = term:screen(s)
      samples = samples + 1
      assert.not_matches("started %d+/8 syncs", text)
      os.execute("sleep 0.1")
    until text:find("EXIT=%d")
    -- the screen was looked at while the syncs were under way, not only at the end (slow on a loaded machine)
    assert.is_true(samples >= 3, "the screen was read " .. samples .. " times")
    local code, text = term:finished(s)
    assert.equal(0, code, text)
    assert.equal(11, #lines(text), text) -- header, 8 rows, the totals, EXIT=
  end)

  it("nothing of it reaches stderr when stderr is a pipe", function()
    create_tokens(8)
    sb:configure{ faults = { latency_ms = { POST = { 1500, 1600 } } } }
    local code, out, err = cli.run({ "sync", "--all" }, { env = env })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("started", out, 1, true)
  end)
end)
