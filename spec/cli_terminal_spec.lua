-- The vpptoken command on a terminal (through tmux, cli_support's terminal): tables fitted to the width, the delete
-- confirmation prompt. (The status line: cli_progress_spec.lua.) Each tmux server has its own socket and is killed
-- afterwards.
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"

local ACCESS = cli.ACCESS

describe("vpptoken command on a terminal", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "1.5" }
  local env, term

  local function start(argv, extra_env) return term:start(argv, extra_env) end
  local function wait_for(name, pattern) return term:wait_for(name, pattern) end
  local function finished(name) return term:finished(name) end
  local function tmux(args) return term:tmux(args) end

  local function create(apple_id, org)
    local code, out, err = cli.run({ "create", "--file", cli.token_file(), "--apple-id", apple_id, "--organization",
                                      org or "Contoso", "-o", "json" }, { env = env })
    assert.equal(0, code, err)
    return cjson.decode(out).id
  end

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS }
    term = cli.terminal(env)
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

    it("fit the terminal's width (tput cols) and keep the id whole", function()
      local code, text = finished(start{ "list" })
      assert.equal(0, code, text)
      local rows = 0
      for l in text:gmatch("[^\n]+") do
        assert.is_true(#l <= 100, "wider than the terminal: " .. l)
        if not l:match("^EXIT=") then rows = rows + 1 end
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
