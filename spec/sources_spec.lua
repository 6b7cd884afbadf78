-- One source for each fact (DESIGN.md): where a list must be kept by hand (the lazy-load tables) or the README must
-- say a fact, it is checked here against its source.
local vpptoken = require "vpptoken"

local function lazy_modules()
  local by_module = {}
  local function add(lazy, prefix)
    for name, module in pairs(lazy) do
      by_module[module] = by_module[module] or {}
      by_module[module][name] = prefix .. name
    end
  end
  add(vpptoken._lazy, "vpptoken.")
  add(vpptoken.Client._lazy_methods, "client:")
  return by_module
end

describe("the lazy-load tables", function()
  it("name every function of the modules they load, and only those", function()
    local by_module = lazy_modules()
    assert.is_true(next(by_module) ~= nil)
    for module, names in pairs(by_module) do
      local exports = require(module)
      for name, shown in pairs(names) do
        assert.is_true(type(exports[name]) == "function", shown .. " is in a lazy table, but " .. module
          .. " has no function " .. name)
      end
      for name, v in pairs(exports) do
        if type(v) == "function" then
          assert.is_truthy(names[name], module .. "." .. name .. " is missing from vpptoken._lazy or "
            .. "vpptoken.Client._lazy_methods: a fresh interpreter would not find it")
        end
      end
    end
  end)
end)
