-- The command line's manual and shell completion match its commands and flags.
local helper = require "helper"
local args = require "vpptoken.cli.args"

local function read(cmd)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("a")
  p:close()
  return text
end

describe("vpptoken command documentation", function()
  it("man/vpptoken.1 is what tools/manpage.lua makes from the help text", function()
    local made = read("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=" .. helper.shell_quote(helper.build_dir
      .. "/?.so;;") .. " " .. helper.lua .. " tools/manpage.lua")
    local f = assert(io.open("man/vpptoken.1", "r"))
    local committed = f:read("a")
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
