-- The README's first ten minutes, as printed: its quick start's shell commands (with the sandbox's port this spec
-- started) and then its first Lua block run against a sandbox, in an empty directory, and do what it says.
local helper = require "helper"

local q = helper.shell_quote

describe("the README's quick start #subprocess", function()
  local sb = helper.sandbox_suite{}
  local dir

  local function quick_start()
    local f = assert(io.open("README.md"))
    local text = f:read("*a")
    f:close()
    return assert(text:match("\n## Quick start[^\n]*\n(.-)\n## "), "no quick start section")
  end

  setup(function() dir = helper.temp_dir() end)
  teardown(function() helper.remove_tree(dir) end)

  it("runs as printed: the shell commands, then the first Lua block with the environment they set", function()
    local section = quick_start()
    local blocks = {}
    for lang, body in section:gmatch("```(%w+)\n(.-)```") do blocks[#blocks + 1] = { lang, body } end
    assert.equal("sh", blocks[2][1])
    assert.equal("lua", blocks[3][1])
    local root = os.getenv("PWD") or "."
    local build = helper.build_dir:match("^/") and helper.build_dir or (root .. "/" .. helper.build_dir)
    -- the commands as a person runs them, but against this spec's sandbox; vpptoken and vpptoken-sandbox from
    -- this checkout
    local shell = blocks[2][2]:gsub("http://127%.0%.0%.1:8787/v1%.0", sb.graph)
    assert.matches("export VPPTOKEN_GRAPH_URL=" .. sb.graph:gsub("%p", "%%%0") .. " VPPTOKEN_ACCESS_TOKEN=dev", shell)
    local lua_path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"
    local env = "export PATH=" .. q(root .. "/bin:" .. build .. ":" .. os.getenv("PATH")) .. " LUA_PATH=" .. q(lua_path)
      .. " LUA_CPATH=" .. q(build .. "/?.so;;") .. " XDG_CACHE_HOME=" .. q(dir .. "/cache") .. "\n"
    local script = dir .. "/quick-start.sh"
    local f = assert(io.open(script, "w"))
    local interp = helper.lua -- the instrumented lua_host of make check-memory is a path in the checkout
    if interp:match("/") and not interp:match("^/") then interp = root .. "/" .. interp end
    f:write("set -e\n", env, shell, "\n", q(interp), " ", q(dir .. "/first.lua"), "\n")
    f:close()
    f = assert(io.open(dir .. "/first.lua", "w"))
    f:write(blocks[3][2])
    f:close()
    local p = assert(io.popen("cd " .. q(dir) .. " && sh " .. q(script) .. " 2>&1; echo \"exit=$?\""))
    local out = p:read("*a")
    p:close()
    assert.equal("exit=0", out:match("exit=%d+"), out)
    -- vpptoken list showed the token the create made; the Lua created one more, walked both and met the 404
    assert.matches("vpp@contoso.com", out, 1, true)
    assert.matches("it@contoso.com%s+valid%s+%d+%s+days left", out)
    assert.matches("nil%s+not_found%s+404%s+ResourceNotFound", out)
    local status, doc = helper.http("GET", sb.graph .. "/deviceAppManagement/vppTokens", nil,
      { authorization = "Bearer dev" })
    assert.equal(200, status)
    local apple_ids = {}
    for i, t in ipairs(doc.value) do apple_ids[i] = t.appleId end
    table.sort(apple_ids)
    assert.same({ "it@contoso.com", "vpp@contoso.com" }, apple_ids)
  end)

  it("the sample apps file lets vpptoken login sign a person in against the sandbox, approved as it prints", function()
    local section = quick_start()
    local apps = assert(section:match("```json\n(.-)```"), "no apps.json in the quick start")
    local file = dir .. "/apps.json"
    local f = assert(io.open(file, "w"))
    f:write(apps)
    f:close()
    local sb2 = helper.start_sandbox{ "--apps", file }
    local code, err, approved = require("cli_support").login_approving({ VPPTOKEN_GRAPH_URL = sb2.graph,
      XDG_CACHE_HOME = dir .. "/login-cache" })
    sb2:stop()
    assert.is_true(approved, "the printed approve command did not run: " .. err)
    assert.equal(0, code, err)
    assert.matches("signed in as", err, 1, true)
  end)
end)
