-- Shared by the install specs: run a command, read the version, and use an installed tree (its vpptoken command
-- against its own vpptoken-sandbox, with no environment set up, directly and through a symlink).
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local vpptoken = require "vpptoken"

local M = {}
local q = helper.shell_quote

-- Runs a shell command; returns whether it succeeded and what it printed (stdout and stderr).
function M.run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("*a")
  local ok = p:close()
  return ok == true, out
end

-- VPP_VERSION from csrc/vpp.h, the version's one home.
function M.version()
  local f = assert(io.open("csrc/vpp.h", "r"))
  local v = f:read("*a"):match('#define VPP_VERSION "([^"]+)"')
  f:close()
  return assert(v, "no VPP_VERSION in csrc/vpp.h")
end

-- A fresh temporary directory.
function M.temp_dir()
  local ok, out = M.run("mktemp -d")
  assert(ok, out)
  return (out:gsub("%s+$", ""))
end

-- A copy of the checkout's working files that a build uses (so the checkout gets no build litter).
function M.copy_sources(dest)
  assert(M.run("mkdir -p " .. q(dest) .. " && cp -r CMakeLists.txt Makefile csrc lua sandbox bin rockspec man "
    .. "completion tools docs examples README.md config.ld " .. q(dest)))
end

-- Starts the sandbox program at sandbox_bin (an installed one), seeds one token with the checkout's library,
-- runs `vpptoken list` with each of the commands given (paths), with an empty environment but PATH and the two
-- variables that point it at the sandbox. Returns the outputs, in order, as { ok = ..., out = ... }.
function M.list_with(sandbox_bin, commands)
  local saved = helper.sandbox_bin
  helper.sandbox_bin = sandbox_bin
  local ok, sbx = pcall(helper.start_sandbox, { "--access-token", "install-spec" })
  helper.sandbox_bin = saved
  assert(ok, sbx)
  local results = {}
  local done, err = pcall(function()
    local client = vpptoken.new{ base_url = sbx.graph, access_token = "install-spec" }
    assert(client:create{ organizationName = "Contoso Ltd", appleId = "vpp@contoso.com",
      vppTokenAccountType = "business", countryOrRegion = "us", token = apple("install-spec-token"),
      automaticallyUpdateApps = true, expirationDateTime = "2031-01-01T00:00:00Z", state = "valid" })
    for _, cmd in ipairs(commands) do
      local r_ok, out = M.run("cd / && env -i PATH=/usr/bin:/bin VPPTOKEN_GRAPH_URL=" .. q(sbx.graph)
        .. " VPPTOKEN_ACCESS_TOKEN=install-spec " .. q(cmd) .. " list")
      results[#results + 1] = { ok = r_ok, out = out }
    end
  end)
  sbx:stop()
  assert(done, err)
  return results
end

-- The dynamic symbols a shared object defines (nm -D), without the toolchain's own (_init, _fini, ...).
function M.exported(so)
  local ok, out = M.run("nm -D --defined-only " .. q(so))
  assert(ok, out)
  local names = {}
  for name in out:gmatch("%x+ %a ([%w_]+)") do
    if not name:match("^_") then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

return M
