-- The install routes besides `luarocks make`: `make install PREFIX=...` puts everything where lua5.4, PATH,
-- man and bash-completion look; `make dist` writes the source archive and a .src.rock that installs offline.
local helper = require "helper"
local support = require "install_support"

local q, run = helper.shell_quote, support.run

describe("make install #build", function()
  local work, prefix, installed, log

  setup(function()
    work = support.temp_dir()
    prefix = work .. "/prefix"
    support.copy_sources(work .. "/src")
    installed, log = run("make -C " .. q(work .. "/src") .. " install PREFIX=" .. q(prefix))
  end)

  teardown(function()
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  it("puts the modules where lua5.4 looks under the prefix", function()
    assert(installed, log)
    -- lua5.4's own search paths, with its prefix /usr/local replaced by ours
    local ok, paths = run("lua5.4 -e 'print(package.path) print(package.cpath)'")
    assert(ok, paths)
    local lpath, cpath = paths:match("^(.-)\n(.-)\n$")
    lpath, cpath = lpath:gsub("/usr/local/", prefix .. "/"), cpath:gsub("/usr/local/", prefix .. "/")
    local printed
    ok, printed = run("cd / && env -i LUA_PATH=" .. q(lpath) .. " LUA_CPATH=" .. q(cpath) .. " lua5.4 -e "
      .. q("local v = require 'vpptoken' print(package.searchpath('vpptoken.core', package.cpath), v._VERSION)"))
    assert(ok, printed)
    assert.equal(prefix .. "/lib/lua/5.4/vpptoken/core.so\tvpptoken " .. support.version() .. "\n", printed)
    assert.same({ "luaopen_vpptoken_core" }, support.exported(prefix .. "/lib/lua/5.4/vpptoken/core.so"))
  end)

  it("the installed vpptoken lists against the installed vpptoken-sandbox, also through a symlink", function()
    assert(installed, log)
    assert(run("ln -s " .. q(prefix .. "/bin/vpptoken") .. " " .. q(work .. "/vpptoken-link")))
    local results = support.list_with(prefix .. "/bin/vpptoken-sandbox",
      { prefix .. "/bin/vpptoken", work .. "/vpptoken-link" })
    for _, r in ipairs(results) do
      assert(r.ok, r.out)
      assert.matches("vpp@contoso.com", r.out, 1, true)
    end
  end)

  it("man finds the installed page through PATH", function()
    assert(installed, log)
    local ok, where = run("env -i PATH=" .. q(prefix .. "/bin:/usr/bin:/bin") .. " man -w vpptoken")
    assert(ok, where)
    assert.equal(prefix .. "/share/man/man1/vpptoken.1\n", where)
    local page
    ok, page = run("env -i PATH=" .. q(prefix .. "/bin:/usr/bin:/bin") .. " MANWIDTH=100 man -P cat vpptoken")
    assert(ok, page)
    assert.matches("manage Apple VPP tokens in Microsoft Intune", page, 1, true)
  end)

  it("installs the bash completion where bash-completion looks for the command's", function()
    assert(installed, log)
    local file = prefix .. "/share/bash-completion/completions/vpptoken"
    local ok, out = run("bash -c " .. q("source " .. q(file) .. " && complete -p vpptoken"))
    assert(ok, out)
    assert.matches("complete .* vpptoken", out)
  end)

  it("installs the zsh and fish completions where those shells look for them", function()
    assert(installed, log)
    for _, file in ipairs{ prefix .. "/share/zsh/site-functions/_vpptoken",
                           prefix .. "/share/fish/vendor_completions.d/vpptoken.fish" } do
      local f = io.open(file, "r")
      assert.is_not_nil(f, file .. " is missing")
      local text = f:read("*a")
      f:close()
      assert.matches("vpptoken", text, 1, true)
    end
  end)

  it("installs the LDoc API reference beside the manuals and the examples", function()
    assert(installed, log)
    local docdir = prefix .. "/share/doc/vpptoken"
    local f = assert(io.open(docdir .. "/index.html", "r"))
    local html = f:read("*a")
    f:close()
    assert.matches("vpptoken API reference", html, 1, true)
    assert.matches("Client:list", html, 1, true)
    for _, name in ipairs{ "/ldoc.css", "/api.md", "/cli.md", "/examples/nightly_sync.lua" } do
      f = io.open(docdir .. name, "r")
      assert.is_not_nil(f, docdir .. name .. " is missing")
      f:close()
    end
  end)

  it("without LDoc the install still succeeds, says so in one line and installs the Markdown manuals", function()
    assert(installed, log)
    local build, other = work .. "/src/build-install", work .. "/prefix-noldoc"
    local ok, out = run("cmake -S " .. q(work .. "/src") .. " -B " .. q(build) .. " -DLDOC_PROGRAM="
      .. q(work .. "/nowhere/ldoc") .. " && cmake --build " .. q(build) .. " && cmake --install " .. q(build)
      .. " --prefix " .. q(other))
    assert(ok, out)
    local said = 0
    for _ in out:gmatch("[^\n]*LDoc not found[^\n]*") do said = said + 1 end
    assert.equal(1, said, out)
    local docdir = other .. "/share/doc/vpptoken"
    assert.is_nil(io.open(docdir .. "/index.html", "r"))
    for _, name in ipairs{ "/api.md", "/cli.md", "/examples/nightly_sync.lua" } do
      local f = io.open(docdir .. name, "r")
      assert.is_not_nil(f, docdir .. name .. " is missing")
      f:close()
    end
  end)
end)

describe("make dist #build", function()
  local work, made, log

  setup(function()
    work = support.temp_dir()
    made, log = run("make dist DIST=" .. q(work .. "/dist"))
  end)

  teardown(function()
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  it("writes the source archive and a .src.rock that luarocks installs offline", function()
    assert(made, log)
    local v = support.version()
    local ok, listing = run("tar tzf " .. q(work .. "/dist/vpptoken-" .. v .. ".tar.gz"))
    assert(ok, listing)
    for _, name in ipairs{ "LICENSE", "CHANGELOG.md", "CMakeLists.txt", "csrc/vpp.h", "bin/vpptoken",
                           "rockspec/vpptoken-" .. v .. "-1.rockspec" } do
      assert.matches("\nvpptoken%-" .. v:gsub("%p", "%%%0") .. "/" .. name:gsub("%p", "%%%0") .. "\n",
        "\n" .. listing)
    end
    local tree = work .. "/tree"
    local out
    ok, out = run("cd " .. q(work) .. " && LUAROCKS_CONFIG=" .. q(os.getenv("PWD") .. "/rockspec/debian-12.lua")
      .. " luarocks --lua-version 5.4 install --tree " .. q(tree) .. " "
      .. q(work .. "/dist/vpptoken-" .. v .. "-1.src.rock"))
    assert(ok, out)
    ok, out = run("cd / && env -i PATH=/usr/bin:/bin " .. q(tree .. "/bin/vpptoken") .. " version")
    assert(ok, out)
    assert.matches("^vpptoken " .. v:gsub("%p", "%%%0") .. "\n", out)
  end)
end)
