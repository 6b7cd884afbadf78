-- The command line's manual and shell completion match its commands and flags.
local helper = require "helper"
local args = require "vpptoken.cli.args"
local cli = require "cli_support"

local function read(cmd)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("*a")
  p:close()
  return text
end

describe("vpptoken command documentation #subprocess", function()
  it("man/vpptoken.1 is what tools/manpage.lua makes from the help text", function()
    local made = read("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=" .. helper.shell_quote(helper.build_dir
      .. "/?.so;;") .. " " .. helper.lua .. " tools/manpage.lua")
    local f = assert(io.open("man/vpptoken.1", "r"))
    local committed = f:read("*a")
    f:close()
    assert.is_truthy(made:find(".SH EXIT STATUS", 1, true))
    assert.equal(made, committed, "man/vpptoken.1 is stale: run make man")
  end)

  it("the bash completion offers every command, and every flag after its command", function()
    local script = "source completion/vpptoken.bash; complete_words() { COMP_WORDS=(\"$@\"); "
      .. "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _vpptoken; echo \"${COMPREPLY[*]}\"; }; "
    local checks = { "complete_words vpptoken ''" }
    for _, c in ipairs(args.COMMANDS) do
      if #c.flags > 0 then checks[#checks + 1] = "complete_words vpptoken " .. c.name .. " --" end
    end
    checks[#checks + 1] = "complete_words vpptoken --"
    local out = read("bash -c " .. helper.shell_quote(script .. table.concat(checks, "; ")))
    local lines = {}
    for l in out:gmatch("[^\n]*") do lines[#lines + 1] = l end
    local n = 1
    for _, c in ipairs(args.COMMANDS) do
      assert.matches("%f[%w]" .. c.name .. "%f[^%w]", lines[1])
    end
    for _, c in ipairs(args.COMMANDS) do
      if #c.flags > 0 then
        n = n + 1
        for _, f in ipairs(c.flags) do
          local pattern = "%-%-" .. f.name:gsub("%-", "%%-") .. "%f[^%w%-]"
          assert.is_truthy(lines[n]:find(pattern), c.name .. " --" .. f.name .. " is not completed")
        end
      end
    end
    for _, f in ipairs(args.GLOBAL) do
      assert.matches("%-%-" .. f.name:gsub("%-", "%%-") .. "%f[^%w%-]", lines[n + 1])
    end
  end)
end)

describe("shell completion #subprocess", function()
  local q = helper.shell_quote
  local SHELLS = { "bash", "zsh", "fish" }

  -- Whether a shell is installed (the specs' Debian packages: DEBIAN_TEST_PACKAGES has zsh and fish).
  local function have(shell)
    return read("command -v " .. shell .. " >/dev/null 2>&1 && echo yes") == "yes\n"
  end

  -- Runs a shell command line; returns whether it succeeded and its output (stdout and stderr).
  local function run(line)
    local p = assert(io.popen("(" .. line .. ") 2>&1", "r"))
    local out = p:read("*a")
    local ok = p:close()
    return ok == true, out
  end

  for _, shell in ipairs(SHELLS) do
    it("completion/vpptoken." .. shell .. " is what 'vpptoken completion " .. shell .. "' prints", function()
      local code, out, err = cli.run{ "completion", shell }
      assert.equal(0, code, err)
      local f = assert(io.open("completion/vpptoken." .. shell, "r"))
      local committed = f:read("*a")
      f:close()
      assert.is_true(#out > 500)
      assert.equal(out, committed, "completion/vpptoken." .. shell .. " is stale: run make completion")
    end)
  end

  it("'vpptoken completion' takes only bash, zsh or fish", function()
    local code, out, err = cli.run{ "completion", "tcsh" }
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("completion needs bash, zsh or fish (got 'tcsh')", err, 1, true)
  end)

  it("bash accepts the script, and it completes a command and a flag through the function complete -p names",
    function()
    local ok, out = run("bash -n completion/vpptoken.bash")
    assert(ok, out)
    -- complete -p vpptoken -> "complete -F _vpptoken ... vpptoken": the function bash calls, as bash would call it
    local script = "source completion/vpptoken.bash; spec=$(complete -p vpptoken) || exit 1; fn=${spec#*-F }; "
      .. "fn=${fn%% *}; words() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); COMP_LINE=\"$*\"; "
      .. "COMP_POINT=${#COMP_LINE}; COMPREPLY=(); \"$fn\" vpptoken \"${COMP_WORDS[COMP_CWORD]}\" "
      .. "\"${COMP_WORDS[COMP_CWORD-1]}\"; echo \"${COMPREPLY[*]}\"; }; "
      .. "words vpptoken sy; words vpptoken sync --wa; words vpptoken -v create --account-type ''"
    ok, out = run("bash -c " .. q(script))
    assert(ok, out)
    assert.equal("sync\n--wait --wait-timeout\nbusiness education\n", out)
  end)

  it("zsh accepts the script, and its completion offers a command and a flag", function()
    assert(have("zsh"), "zsh is not installed: make test-deps installs it")
    local ok, out = run("zsh -n completion/vpptoken.zsh")
    assert(ok, out)
    local dir = os.tmpname()
    os.remove(dir)
    assert(run("mkdir " .. q(dir) .. " && cp completion/vpptoken.zsh " .. q(dir .. "/_vpptoken")))
    local function complete(words)
      local done, got = run("timeout 60 zsh -f spec/support/zsh_complete.zsh " .. q(dir) .. " " .. q(words))
      assert(done, got)
      return got
    end
    assert.equal("sync\n", complete("vpptoken sy"))
    assert.equal("--wait\n--wait-timeout\n", complete("vpptoken sync --wa"))
    assert.equal("table\nwide\njson\ncsv\n", complete("vpptoken --output "))
    run("rm -rf " .. q(dir))
  end)

  it("fish accepts the script, and its completion offers every command and every flag after its command",
    function()
    assert(have("fish"), "fish is not installed: make test-deps installs it")
    local ok, out = run("fish -n completion/vpptoken.fish")
    assert(ok, out)
    local function complete(words)
      local done, got = run("fish -N -c " .. q("source completion/vpptoken.fish; complete -C" .. q(words)))
      assert(done, got)
      local names = {}
      for name in got:gmatch("([^\t\n]+)[^\n]*\n") do names[name] = true end
      return names
    end
    assert.same({ sync = true }, complete("vpptoken sy"))
    assert.same({ ["--wait"] = true, ["--wait-timeout"] = true }, complete("vpptoken sync --wa"))
    local commands = complete("vpptoken ")
    for _, c in ipairs(args.COMMANDS) do
      assert.is_true(commands[c.name], c.name)
      local flags = complete("vpptoken " .. c.name .. " --")
      for _, f in ipairs(c.flags) do assert.is_true(flags["--" .. f.name], c.name .. " --" .. f.name) end
      for _, f in ipairs(args.GLOBAL) do assert.is_true(flags["--" .. f.name], c.name .. " --" .. f.name) end
    end
  end)
end)
