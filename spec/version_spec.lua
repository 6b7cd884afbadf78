-- One version: VPP_VERSION in csrc/vpp.h; the module, the command, the sandbox and the rockspecs agree with it.
local helper = require "helper"
local support = require "install_support"
local vpptoken = require "vpptoken"

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

describe("version", function()
  local v = support.version()

  it("is the module's _VERSION, `vpptoken version`'s first line and `vpptoken-sandbox --version`", function()
    assert.equal("vpptoken " .. v, vpptoken._VERSION)
    local ok, out = support.run(helper.shell_quote(helper.lua) .. " bin/vpptoken version")
    assert(ok, out)
    assert.equal("vpptoken " .. v, out:match("^[^\n]*"))
    ok, out = support.run(helper.shell_quote(helper.sandbox_bin) .. " --version")
    assert(ok, out)
    assert.equal("vpptoken-sandbox " .. v .. "\n", out)
  end)

  it("names the release rockspec, which is the scm rockspec with that version and the release archive", function()
    local release = read("rockspec/vpptoken-" .. v .. "-1.rockspec")
    local scm = read("rockspec/vpptoken-scm-1.rockspec")
    assert.matches('\nversion = "' .. v:gsub("%p", "%%%0") .. '%-1"\n', release)
    assert.matches("/vpptoken%-" .. v:gsub("%p", "%%%0") .. '%.tar%.gz"', release)
    assert.matches('dir = "vpptoken%-' .. v:gsub("%p", "%%%0") .. '"', release)
    -- everything but version and source is the same
    local function rest(text) return (text:gsub('\nversion = "[^"]*"', ""):gsub("\nsource = %b{}", "")) end
    assert.equal(rest(scm), rest(release))
  end)

  it("has a CHANGELOG entry", function()
    assert.matches("\n## " .. v:gsub("%p", "%%%0") .. " ", read("CHANGELOG.md"))
  end)
end)
