-- The LuaRocks install: `luarocks make` of the rockspec gives a tree from which vpptoken loads.
local helper = require "helper"

local q = helper.shell_quote

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

describe("rockspec", function()
  local work, tree, installed, install_log

  setup(function()
    work = os.tmpname()
    os.remove(work)
    tree = work .. "/tree"
    -- Build from a copy, so the checkout gets no build litter.
    assert(run("mkdir -p " .. q(work .. "/src") .. " && cp -r csrc lua bin rockspec man completion "
      .. q(work .. "/src")))
    installed, install_log = run("cd " .. q(work .. "/src") .. " && luarocks --lua-version 5.4 make "
      .. "--deps-mode=none rockspec/vpptoken-scm-1.rockspec --tree " .. q(tree))
  end)

  teardown(function()
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  it("luarocks make installs a tree from which require 'vpptoken' works with its C core", function()
    assert(installed, install_log)
    local script = "package.path = " .. string.format("%q", tree .. "/share/lua/5.4/?.lua;" .. tree
      .. "/share/lua/5.4/?/init.lua;") .. " .. package.path; package.cpath = "
      .. string.format("%q", tree .. "/lib/lua/5.4/?.so;") .. " .. package.cpath; "
      .. "local v = require 'vpptoken'; local c = v.new{ access_token = 't' }; "
      .. "print(package.searchpath('vpptoken.core', package.cpath), v.State.valid, c.base_url)"
    local ran, printed = run("cd / && lua5.4 -e " .. q(script))
    assert(ran, printed)
    assert.matches("^" .. (tree .. "/lib/lua/5.4/vpptoken/core.so"):gsub("%p", "%%%0"), printed)
    assert.matches("valid\thttps://graph.microsoft.com/v1.0", printed, 1, true)
  end)

  it("installs the vpptoken command", function()
    assert(installed, install_log)
    local f = io.open(tree .. "/bin/vpptoken", "r")
    assert.is_not_nil(f)
    f:close()
    local ok, out = run("eval \"$(luarocks --lua-version 5.4 path --tree " .. q(tree) .. ")\" && cd / && "
      .. q(tree .. "/bin/vpptoken") .. " version")
    assert(ok, out)
    assert.matches("vpptoken 0%.1%.0", out)
  end)

  it("copies the man page and the bash completion into the rock's directory", function()
    assert(installed, install_log)
    local ok, dir = run("luarocks --lua-version 5.4 show --rock-dir --tree " .. q(tree) .. " vpptoken")
    assert(ok, dir)
    dir = dir:match("^%s*(.-)%s*$")
    for _, name in ipairs{ "/man/vpptoken.1", "/completion/vpptoken.bash" } do
      local f = io.open(dir .. name, "r")
      assert.is_not_nil(f, dir .. name .. " is missing")
      f:close()
    end
  end)
end)
