-- The documentation matches the code: the API reference LDoc builds from the doc comments (config.ld, `make doc`)
-- documents every public function and nothing that does not exist; the README or docs/ shows every public function.
local vpptoken = require "vpptoken"

local function read(cmd)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("*a")
  local ok = p:close()
  return text, ok
end

local ENUMS = { "AccountType", "State", "SyncStatus" }

local function public_functions()
  -- the functions that load on first use are public too: load them all
  for name in pairs(vpptoken._lazy) do assert(vpptoken[name], name) end
  for name in pairs(vpptoken.Client._lazy_methods) do assert(vpptoken.Client[name], name) end
  local names = {}
  for k, v in pairs(vpptoken) do
    if type(v) == "function" and not k:match("^_") then names[#names + 1] = "vpptoken." .. k end
  end
  for k, v in pairs(vpptoken.time) do
    if type(v) == "function" then names[#names + 1] = "vpptoken.time." .. k end
  end
  for k, v in pairs(vpptoken.Client) do
    if type(v) == "function" and not k:match("^_") and k ~= "new" then names[#names + 1] = "client:" .. k end
  end
  table.sort(names)
  return names
end

-- Whether a documented name is on the public API: a function (vpptoken.x, vpptoken.time.x, client:x) or an enum.
local function exists(name)
  local method = name:match("^client:(.+)$")
  if method then return type(vpptoken.Client[method]) == "function" and not method:match("^_") end
  local v = vpptoken
  for part in name:gsub("^vpptoken%.", ""):gmatch("[^.]+") do
    if type(v) ~= "table" or part:match("^_") then return false end
    v = v[part]
  end
  return type(v) == "function" or (type(v) == "table" and pcall(vpptoken.members, v))
end

describe("documentation", function()
  local out, ran = read("LUA_PATH='spec/?.lua;;' ldoc --filter support.ldoc_names.list . 2>&1")
  local documented, seen = {}, {}
  for name in out:gmatch("doc\t([^\n]+)") do
    if not seen[name] then documented[#documented + 1] = name end
    seen[name] = true
  end
  local readme = require("helper").docs_text()

  it("LDoc reads every doc comment of config.ld's files", function()
    assert(ran, out)
    assert.is_nil(out:match("%.lua:%d+: [^\n]*"), out) -- LDoc's complaints name a file and line
    assert.is_true(#documented > 20, out)
  end)

  it("the API reference has an entry for every public function and enum", function()
    for _, name in ipairs(public_functions()) do
      assert.is_true(seen[name] == true, name .. " is missing from the API reference")
    end
    for _, name in ipairs(ENUMS) do
      assert.is_true(seen["vpptoken." .. name] == true, "vpptoken." .. name .. " is missing from the API reference")
    end
  end)

  it("documents nothing that is not on the public API", function()
    for _, name in ipairs(documented) do
      assert.is_true(exists(name), name .. " is in the API reference but not on the public API")
    end
  end)

  it("make doc writes the HTML reference", function()
    local dir = os.tmpname()
    os.remove(dir)
    local text, ok = read("ldoc -q -d " .. dir .. " . 2>&1")
    assert(ok, text)
    local f = assert(io.open(dir .. "/index.html", "r"))
    local html = f:read("*a")
    f:close()
    os.execute("rm -rf '" .. dir .. "'")
    for _, name in ipairs{ "new", "from_env", "Client:list", "Client:sync_licenses", "time.parse" } do
      assert.matches(name, html, 1, true)
    end
  end)

  it("the README or a manual in docs/ shows every public function", function()
    for _, name in ipairs(public_functions()) do
      assert.is_truthy(readme:find(name, 1, true), name .. " is missing from the README")
    end
  end)
end)
