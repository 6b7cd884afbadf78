-- The documentation matches the code: every public function is in the generated API reference and the README.
local vpptoken = require "vpptoken"

local function read(cmd)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("a")
  p:close()
  return text
end

local function public_functions()
  -- the functions that load on first use are public too: load them all
  for name in pairs(vpptoken._lazy) do assert(vpptoken[name], name) end
  for name in pairs(vpptoken.Client._lazy_methods) do assert(vpptoken.Client[name], name) end
  local names = {}
  for k, v in pairs(vpptoken) do
    if type(v) == "function" and k ~= "is_error" and not k:match("^_") then names[#names + 1] = "vpptoken." .. k end
  end
  for k, v in pairs(vpptoken.Client) do
    if type(v) == "function" and not k:match("^_") and k ~= "new" then names[#names + 1] = "client:" .. k end
  end
  table.sort(names)
  return names
end

describe("documentation", function()
  local api = read("lua5.4 tools/apidoc.lua lua/vpptoken/init.lua lua/vpptoken/client.lua lua/vpptoken/many.lua "
    .. "lua/vpptoken/batch.lua lua/vpptoken/automation.lua lua/vpptoken/tokenfile.lua lua/vpptoken/error.lua "
    .. "lua/vpptoken/auth.lua lua/vpptoken/notify.lua")
  local readme = assert(io.open("README.md")):read("a")

  it("the generated API reference has an entry for every public function", function()
    for _, name in ipairs(public_functions()) do
      assert.is_truthy(api:find("### `" .. name .. "(", 1, true), name .. " is missing from the API reference")
    end
  end)

  it("the README shows every public function", function()
    for _, name in ipairs(public_functions()) do
      assert.is_truthy(readme:find(name, 1, true), name .. " is missing from the README")
    end
  end)
end)
