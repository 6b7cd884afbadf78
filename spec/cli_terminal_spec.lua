-- The vpptoken command on a terminal (through tmux): tables fitted to the width, progress on stderr, the delete
-- confirmation prompt. Each tmux server has its own socket and is killed afterwards.
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"

local q = helper.shell_quote
local ACCESS = cli.ACCESS

local function sleep(s)
  os.execute("sleep " .. s)
end

describe("vpptoken command on a terminal", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "1.5" }
  local env, socket

  local function tmux(args)
    local p = assert(io.popen("tmux -L " .. socket .. " -f /dev/null " .. args .. " 2>&1"))
    local out = p:read("a")
    p:close()
    return out
  end

  -- Starts `vpptoken argv` in a new 100x30 tmux session (stdin, stdout, stderr the terminal); the shell prints
  -- EXIT=<code> when it ends. Returns the session name.
  local sessions = 0
  local function start(argv, extra_env)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra_env or {}) do e[k] = v end
    sessions = sessions + 1
    local name = "s" .. sessions
    local line = cli.command(argv, e) .. "; echo EXIT=$?; sleep 600"
    tmux("new-session -d -x 100 -y 30 -s " .. name .. " " .. q("cd " .. q(os.getenv("PWD") or ".") .. " && "
      .. line))
    return name
  end

  local function screen(name)
    return tmux("capture-pane -p -J -t " .. name)
  end

  -- Waits (generously: memory checkers are slow) until the pane shows `pattern`; returns the pane's text.
  local function wait_for(name, pattern, seconds)
    local text
    for _ = 1, (seconds or 120) * 10 do
      text = screen(name)
      if text:find(pattern) then return text end
      sleep(0.1)
    end
    error("timed out waiting for " .. pattern .. " in:\n" .. tostring(text))
  end

  local function finished(name)
    local text = wait_for(name, "EXIT=%d+")
    assert(not helper.memory_report(text), text)
    tmux("kill-session -t " .. name)
    return tonumber(text:match("EXIT=(%d+)")), text
  end

  local function create(apple_id, org)
    local code, out, err = cli.run({ "create", "--file", cli.token_file(), "--apple-id", apple_id, "--organization",
                                      org or "Contoso", "-o", "json" }, { env = env })
    assert.equal(0, code, err)
    return cjson.decode(out).id
  end

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS }
    socket = "vpptoken-cli-" .. os.tmpname():match("([%w_]+)$")
  end)

  teardown(function()
    if socket then os.execute("tmux -L " .. socket .. " kill-server >/dev/null 2>&1") end
  end)

  describe("tables", function()
    local long_id

    before_each(function()
      long_id = create("a-very-long-apple-id-for-the-volume-purchase-program@contoso-international.com",
        "Contoso International Holdings, Education and Government Division")
    end)

    it("fit the terminal's width (tput cols) and keep the id whole", function()
      local code, text = finished(start{ "list" })
      assert.equal(0, code, text)
      local rows = 0
      for l in text:gmatch("[^\n]+") do
        assert.is_true(#l <= 100, "wider than the terminal: " .. l)
        -- (a slow machine may also show the progress summary, on stderr: not a table row)
        if not l:match("^EXIT=") and not l:match("requests in %d+ s%)$") then rows = rows + 1 end
      end
      assert.equal(2, rows, text)
      assert.matches(long_id, text, 1, true)
      assert.matches("  a%-very%-lo[%w%-]*~  ", text)
    end)

    it("fit $COLUMNS when it is set", function()
      local code, text = finished(start({ "list" }, { COLUMNS = "72" }))
      assert.equal(0, code, text)
      for l in text:gmatch("[^\n]+") do assert.is_true(#l <= 72, "wider than COLUMNS: " .. l) end
      assert.matches(long_id, text, 1, true)
    end)

    it("are not cut when stdout is a pipe", function()
      local code, out = cli.run({ "list" }, { env = env })
      assert.equal(0, code)
      assert.matches("Contoso International Holdings, Education and Government Division", out, 1, true)
    end)
  end)

  describe("progress", function()
    it("work over a second shows progress on stderr and leaves a summary line", function()
      create("p1@contoso.com")
      create("p2@contoso.com")
      local code, text = finished(start{ "sync", "--all", "--wait" })
      assert.equal(0, code, text)
      assert.matches("2 started, 0 skipped, 0 failed %(%d+ requests in %d+ s%)", text)
      assert.matches("completed", text)
    end)

    it("--quiet shows none", function()
      create("p3@contoso.com")
      local code, text = finished(start{ "sync", "--all", "--wait", "--quiet" })
      assert.equal(0, code, text)
      assert.not_matches("requests in", text, 1, true)
    end)
  end)

  describe("delete", function()
    it("asks on a terminal; anything but y keeps the token", function()
      local id = create("keep@contoso.com")
      local s = start{ "delete", id }
      local prompt = wait_for(s, "%[y/N%]")
      assert.matches("Delete VPP token " .. cli.literal(id) .. " %(keep@contoso.com, Contoso%)%?", prompt)
      tmux("send-keys -t " .. s .. " n Enter")
      local code, text = finished(s)
      assert.equal(1, code, text)
      assert.matches("vpptoken: not deleted", text, 1, true)
      assert.equal(0, (cli.run({ "get", id }, { env = env })))
    end)

    it("deletes after y", function()
      local id = create("bye@contoso.com")
      local s = start{ "delete", id }
      wait_for(s, "%[y/N%]")
      tmux("send-keys -t " .. s .. " y Enter")
      local code, text = finished(s)
      assert.equal(0, code, text)
      assert.matches("deleted " .. id, text, 1, true)
      assert.equal(4, (cli.run({ "get", id }, { env = env })))
    end)
  end)
end)
