-- The LuaRocks install: the README's command, as printed, gives a tree from which vpptoken loads, whose
-- vpptoken command works with no environment set up (and through a symlink), and whose vpptoken-sandbox runs.
local helper = require "helper"
local support = require "install_support"

local q, run = helper.shell_quote, support.run

-- The README's LuaRocks command (the line that installs into TREE).
local function readme_command()
  local f = assert(io.open("README.md", "r"))
  local text = f:read("*a")
  f:close()
  local cmd = text:match("\n(LUAROCKS_CONFIG=%S+ luarocks [^\n]-%-%-tree TREE [^\n]+)\n")
  return assert(cmd, "README.md has no `LUAROCKS_CONFIG=... luarocks ... --tree TREE ...` line")
end

describe("rockspec #build", function()
  local work, tree, installed, install_log, rock_dir

  setup(function()
    work = support.temp_dir()
    tree = work .. "/tree"
    support.copy_sources(work .. "/src")
    local cmd = readme_command():gsub("TREE", (q(tree):gsub("%%", "%%%%")))
    installed, install_log = run("cd " .. q(work .. "/src") .. " && env -u LUAROCKS_CONFIG " .. cmd)
    if installed then
      local ok, out = run("luarocks --lua-version 5.4 show --rock-dir --tree " .. q(tree) .. " vpptoken")
      rock_dir = ok and out:match("^%s*(.-)%s*$")
    end
  end)

  teardown(function()
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  it("the README's command installs a tree from which require 'vpptoken' works with its C core", function()
    assert(installed, install_log)
    local script = "package.path = " .. string.format("%q", tree .. "/share/lua/5.4/?.lua;" .. tree
      .. "/share/lua/5.4/?/init.lua;") .. " .. package.path; package.cpath = "
      .. string.format("%q", tree .. "/lib/lua/5.4/?.so;") .. " .. package.cpath; "
      .. "local v = require 'vpptoken'; local c = v.new{ access_token = 't' }; "
      .. "print(package.searchpath('vpptoken.core', package.cpath), v.State.valid, c.base_url, v._VERSION)"
    local ran, printed = run("cd / && lua5.4 -e " .. q(script))
    assert(ran, printed)
    assert.matches("^" .. (tree .. "/lib/lua/5.4/vpptoken/core.so"):gsub("%p", "%%%0"), printed)
    assert.matches("valid\thttps://graph.microsoft.com/v1.0\tvpptoken " .. support.version(), printed, 1, true)
  end)

  it("the installed vpptoken lists against the installed vpptoken-sandbox, with no environment, also through a "
    .. "symlink", function()
    assert(installed, install_log)
    local link = work .. "/elsewhere/vpptoken"
    assert(run("mkdir -p " .. q(work .. "/elsewhere") .. " && ln -s " .. q(tree .. "/bin/vpptoken") .. " " .. q(link)))
    local results = support.list_with(tree .. "/bin/vpptoken-sandbox", { tree .. "/bin/vpptoken", link })
    for _, r in ipairs(results) do
      assert(r.ok, r.out)
      assert.matches("vpp@contoso.com", r.out, 1, true)
    end
  end)

  it("the installed commands print the version of csrc/vpp.h", function()
    assert(installed, install_log)
    local ok, out = run("cd / && env -i PATH=/usr/bin:/bin " .. q(tree .. "/bin/vpptoken") .. " version")
    assert(ok, out)
    assert.matches("^vpptoken " .. support.version():gsub("%p", "%%%0") .. "\n", out)
    ok, out = run(q(tree .. "/bin/vpptoken-sandbox") .. " --version")
    assert(ok, out)
    assert.equal("vpptoken-sandbox " .. support.version() .. "\n", out)
  end)

  it("luarocks doc lists the LDoc API reference, the manuals and the examples with the README", function()
    assert(installed, install_log)
    local ok, out = run("luarocks --lua-version 5.4 doc --list --tree " .. q(tree) .. " vpptoken")
    assert(ok, out)
    for _, name in ipairs{ "README.md", "api.md", "signin.md", "sandbox.md", "cli.md", "examples/nightly_sync.lua",
                           "index.html", "ldoc.css" } do
      assert.matches(name, out, 1, true)
    end
  end)

  it("luarocks doc opens the API reference LDoc built from the doc comments (index.html, the Client's methods)",
    function()
    assert(installed, install_log)
    -- LuaRocks opens the file it picked with xdg-open: this one prints the file's name instead
    local bin = work .. "/browser"
    assert(run("mkdir -p " .. q(bin)))
    local script = assert(io.open(bin .. "/xdg-open", "w"))
    script:write('#!/bin/sh\necho "browser: $1"\n')
    script:close()
    assert(run("chmod +x " .. q(bin .. "/xdg-open")))
    local ok, out = run("PATH=" .. q(bin) .. ":$PATH luarocks --lua-version 5.4 doc --tree " .. q(tree) .. " vpptoken")
    assert(ok, out)
    assert.matches("browser: " .. rock_dir .. "/doc/index.html\n", out, 1, true)
    local f = assert(io.open(rock_dir .. "/doc/index.html", "r"))
    local html = f:read("*a")
    f:close()
    assert.matches("vpptoken API reference", html, 1, true)
    for _, name in ipairs{ "vpptoken.new", "Client:list", "Client:sync_licenses" } do
      assert.matches(name, html, 1, true)
    end
  end)

  it("builds without a LuaRocks warning (no variable the rockspec names is left unmatched)", function()
    assert(installed, install_log)
    assert.not_matches("Warning", install_log, 1, true)
  end)

  it("the installed command's --help names a man command that shows its page (LuaRocks puts none where man looks)",
    function()
    assert(installed, install_log)
    local ok, out = run("cd / && env -i PATH=/usr/bin:/bin " .. q(tree .. "/bin/vpptoken") .. " --help")
    assert(ok, out)
    local page = out:gsub("%s+", " "):match("'man %-l ([^']+)' the manual") -- the help wraps at 100 columns
    assert.truthy(page, out)
    assert.equal(rock_dir .. "/man/man1/vpptoken.1", page)
    local shown
    -- man-db's pipeline runs as another user, which libfaketime (make test-clock) cannot follow: without it
    ok, shown = run("env -u LD_PRELOAD MANWIDTH=80 man -l " .. q(page) .. " 2>&1 | head -5")
    assert(ok, shown)
    assert.matches("vpptoken", shown, 1, true)
  end)

  it("the sandbox's Lua stays in the rock's directory, out of the user's module path", function()
    assert(installed, install_log)
    assert.is_nil(io.open(tree .. "/share/lua/5.4/vpptoken_sandbox/init.lua", "r"))
    local f = io.open(rock_dir .. "/sandbox/vpptoken_sandbox/init.lua", "r")
    assert.is_not_nil(f, "the sandbox's Lua is missing from " .. rock_dir)
    f:close()
  end)

  it("the C module exports only luaopen_vpptoken_core", function()
    assert(installed, install_log)
    assert.same({ "luaopen_vpptoken_core" }, support.exported(tree .. "/lib/lua/5.4/vpptoken/core.so"))
  end)

  it("copies the man page and the bash, zsh and fish completions into the rock's directory", function()
    assert(installed, install_log)
    for _, name in ipairs{ "/man/man1/vpptoken.1", "/completion/vpptoken", "/completion/_vpptoken",
                           "/completion/vpptoken.fish" } do
      local f = io.open(rock_dir .. name, "r")
      assert.is_not_nil(f, rock_dir .. name .. " is missing")
      f:close()
    end
  end)

  it("CURL_DIR and OPENSSL_DIR point LuaRocks at the libraries (a directory without them fails the install)", function()
    assert(installed, install_log)
    for _, var in ipairs{ "CURL", "OPENSSL" } do
      local ok, out = run("cd " .. q(work .. "/src") .. " && LUAROCKS_CONFIG=rockspec/debian-12.lua luarocks "
        .. "--lua-version 5.4 make --tree " .. q(work .. "/tree2") .. " rockspec/vpptoken-scm-1.rockspec " .. var
        .. "_DIR=" .. q(work .. "/nowhere"))
      assert.is_false(ok, out)
      assert.matches("for " .. var, out, 1, true)
      assert.matches(work .. "/nowhere", out, 1, true)
    end
  end)
end)
