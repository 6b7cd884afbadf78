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

local function readme()
  return require("helper").docs_text() -- README.md and the manuals in docs/
end

-- The rows of the README table that follows `heading` (a line that starts the section or the table's header):
-- { cells... } per row, the header and the |---| line left out.
local function table_rows(text, heading)
  local at = assert(text:find(heading, 1, true), heading .. " is not in the README")
  local rows, started = {}, false
  for line in text:sub(at):gmatch("([^\n]*)\n") do
    if line:match("^|") then
      started = true
      local cells = {}
      for cell in line:sub(2):gmatch("%s*(.-)%s*|") do cells[#cells + 1] = cell end
      if not line:match("^|%-%-%-") then rows[#rows + 1] = cells end
    elseif started then
      break
    end
  end
  table.remove(rows, 1) -- the header
  return rows
end

local function backticked(cell)
  local out = {}
  for name in cell:gmatch("`([^`]+)`") do out[#out + 1] = name end
  return out
end

local function set_of(list)
  local out = {}
  for _, v in ipairs(list) do out[v] = true end
  return out
end

local core = require "vpptoken.core"

describe("the README's Configuration table", function()
  local rows = table_rows(readme(), "## Configuration")
  local by_option = {}
  for _, r in ipairs(rows) do
    for _, name in ipairs(backticked(r[1])) do by_option[name] = r end
  end

  it("names exactly the options of vpptoken.new: the Lua layer's and the C core's session options", function()
    local named = {}
    for name in pairs(by_option) do named[#named + 1] = name end
    table.sort(named)
    local options = { table.unpack(vpptoken.Client.OPTIONS) }
    table.sort(options)
    assert.same(options, named)
    local session = set_of(core.session_options)
    for _, name in ipairs(core.session_options) do assert.is_truthy(set_of(options)[name], name) end
    assert.is_true(#options > #core.session_options and next(session) ~= nil)
  end)

  it("and vpptoken.new's doc comment names each of them", function()
    local f = assert(io.open("lua/vpptoken/init.lua", "r"))
    local src = f:read("*a")
    f:close()
    local doc = assert(src:match("\n(%-%-%- Creates a client;.-)\n[^\n]-M%.new"))
    for _, name in ipairs(vpptoken.Client.OPTIONS) do
      assert.is_truthy(doc:find("%f[%w_]" .. name .. "%f[^%w_]"), name .. " is not in vpptoken.new's doc comment")
    end
  end)

  -- A size as the README writes it: "64 MiB", "1 GiB".
  local function size(n)
    for _, u in ipairs{ { 2 ^ 30, "GiB" }, { 2 ^ 20, "MiB" }, { 2 ^ 10, "KiB" } } do
      if n >= u[1] and n % u[1] == 0 then return string.format("%d %s", math.floor(n / u[1]), u[2]) end
    end
    return tostring(n)
  end
  local function shown(name)
    local o = core.session_limits[name]
    if o.kind == "bytes" then return size(o.default) end
    return string.format(type(o.default) == "boolean" and "`%s`" or "%g", tostring(o.default))
  end

  it("gives each transport option the C core's default, in the order it names them", function()
    local checked = 0
    for _, r in ipairs(rows) do
      local names, defaults = backticked(r[1]), {}
      if core.session_limits[names[1]] and core.session_limits[names[1]].default ~= nil then
        for _, name in ipairs(names) do defaults[#defaults + 1] = shown(name) end
        assert.equal(table.concat(defaults, ", "), r[2], table.concat(names, ", "))
        checked = checked + #names
      end
    end
    assert.equal(8, checked) -- timeouts (2), retries (3), http2, insecure, max_response_size
  end)

  it("gives the C core's ranges of the retries, the timeouts and the response size", function()
    local lim = core.session_limits
    assert.is_truthy(by_option.max_retries[3]:find(string.format("(%d..%d)", lim.max_retries.min,
      lim.max_retries.max), 1, true), by_option.max_retries[3])
    assert.equal(lim.timeout.min, lim.connect_timeout.min)
    assert.is_truthy(by_option.timeout[3]:find(string.format("from %g (", lim.timeout.min), 1, true))
    assert.is_truthy(by_option.timeout[3]:find(string.format("to %g / %g", lim.timeout.max, lim.connect_timeout.max),
      1, true), by_option.timeout[3])
    assert.is_truthy(by_option.max_response_size[3]:find(string.format("from %d to %s", lim.max_response_size.min,
      size(lim.max_response_size.max)), 1, true), by_option.max_response_size[3])
  end)

  it("lists the clouds of vpptoken.clouds(), in its order, with their Graph hosts; the first is the default", function()
    local r = by_option.cloud
    assert.same(vpptoken.clouds(), backticked(r[3]))
    assert.equal('`"' .. vpptoken.clouds()[1] .. '"`', r[2])
    local text = readme()
    for _, name in ipairs(vpptoken.clouds()) do
      local hosts = require("vpptoken.clouds").HOSTS[name]
      local host = hosts.graph:gsub("^https://", "")
      assert.is_truthy(r[3]:find("`" .. name .. "` (" .. host, 1, true) or r[3]:find(host .. ")", 1, true), host)
      assert.is_truthy(text:find(hosts.login:gsub("^https://", ""), 1, true), hosts.login) -- "Signing in"
    end
    local others = { table.unpack(vpptoken.clouds(), 2) }
    local first, rest = text:match("export VPPTOKEN_CLOUD=(%w+)%s+# ([^\n]-)\n")
    assert.equal(vpptoken.clouds()[1], first)
    assert.equal(table.concat(others, ", ", 1, #others - 1) .. " or " .. others[#others], rest)
  end)
end)

describe("the exit codes", function()
  local exits = require "vpptoken.cli.exits"

  it("in the README are the list of cli/exits.lua, each row starting with its name in the help", function()
    local rows = table_rows(readme(), "| exit code | meaning |")
    assert.equal(#exits.LIST, #rows)
    for i, e in ipairs(exits.LIST) do
      assert.equal(tostring(e.code), rows[i][1])
      local label = e.help:match("^([^:]+):") or e.help
      assert.equal(label, rows[i][2]:sub(1, #label), "exit " .. e.code)
    end
  end)

  it("follow an error's kind, or its code where it has its own", function()
    assert.equal(exits.AUTH, exits.for_error{ kind = "auth" })
    assert.equal(exits.NETWORK, exits.for_error{ kind = "timeout", code = "SyncTimeout" })
    assert.equal(exits.NETWORK, exits.for_error{ kind = "other", code = "SyncTimeout" })
    assert.equal(exits.FAILURE, exits.for_error{ kind = "something new" })
    assert.equal(exits.FAILURE, exits.for_error("text"))
    -- the help wraps long lines: compare the words
    local help = require("vpptoken.cli.help").main(80):gsub("%s+", " ")
    for _, e in ipairs(exits.LIST) do
      assert.is_truthy(help:find(" " .. e.code .. " " .. e.help:gsub("%s+", " "), 1, true), e.help)
    end
  end)
end)

describe("the limits the C core owns", function()
  local client
  before_each(function() client = vpptoken.new{ access_token = "x", base_url = "http://127.0.0.1:9/v1.0" } end)
  after_each(function() client:close() end)

  it("concurrency: get_many and sync_all take up to core.MAX_CONCURRENCY and say so beyond it", function()
    assert.is_true(math.type(core.MAX_CONCURRENCY) == "integer" and core.MAX_CONCURRENCY > 1)
    local tokens = client:get_many({}, { concurrency = core.MAX_CONCURRENCY })
    assert.same({}, tokens)
    local ok, err = pcall(client.get_many, client, {}, { concurrency = core.MAX_CONCURRENCY + 1 })
    assert.is_false(ok)
    assert.matches("from 1 to " .. core.MAX_CONCURRENCY .. "$", tostring(err))
    local session = core.session{}
    ok, err = pcall(session.request_many, session, {}, { concurrency = core.MAX_CONCURRENCY + 1 })
    session:close()
    assert.is_false(ok)
    assert.matches("1%.%." .. core.MAX_CONCURRENCY, tostring(err))
  end)

  it("retries: batch and the command line's --retries take the session's range", function()
    local r = vpptoken.transport_option("max_retries")
    assert.same(core.session_limits.max_retries, r)
    assert.equal("count", r.kind)
    local ok, err = pcall(client.batch, client, {}, { max_retries = r.max + 1 })
    assert.is_false(ok)
    assert.matches(string.format("from %d to %d$", r.min, r.max), tostring(err))
    assert.same({}, (client:batch({}, { max_retries = r.max })))
    local args = require "vpptoken.cli.args"
    local parsed, msg = args.parse{ "list", "--retries", tostring(r.max + 1) }
    assert.is_nil(parsed)
    assert.matches(string.format("from %d to %d", r.min, r.max), msg)
    parsed = assert(args.parse{ "list", "--retries", tostring(r.max) })
    assert.equal(r.max, parsed.opts.retries)
  end)
end)

describe("the command line", function()
  it("never requires vpptoken.core: it is a thin shell over the public API (DESIGN.md)", function()
    local files = { "lua/vpptoken/cli.lua" }
    local p = assert(io.popen("ls lua/vpptoken/cli/*.lua"))
    for path in p:lines() do files[#files + 1] = path end
    p:close()
    assert.is_true(#files > 4)
    for _, path in ipairs(files) do
      local f = assert(io.open(path, "r"))
      local src = f:read("*a")
      f:close()
      assert.is_nil(src:find("require%s*%(?%s*[\"']vpptoken%.core[\"']"), path .. " requires vpptoken.core")
    end
  end)
end)

describe("what the command line offers", function()
  local args = require "vpptoken.cli.args"
  local function flag(list, name)
    for _, f in ipairs(list) do if f.name == name then return f end end
  end

  it("--cloud and --account-type take the library's clouds and account types, and completion offers them", function()
    local cloud, account = flag(args.GLOBAL, "cloud"), flag(args.BY_NAME.create.flags, "account-type")
    assert.same(vpptoken.clouds(), cloud.choices)
    assert.same(vpptoken.members(vpptoken.AccountType), account.choices)
    local helper = require "helper"
    for f, want in pairs{ [cloud] = cloud.choices, [account] = account.choices } do
      local script = "source completion/vpptoken.bash; COMP_WORDS=(vpptoken create --" .. f.name
        .. " ''); COMP_CWORD=3; COMPREPLY=(); _vpptoken; echo \"${COMPREPLY[*]}\""
      local p = assert(io.popen("bash -c " .. helper.shell_quote(script)))
      local out = p:read("*a"):gsub("%s+$", "")
      p:close()
      assert.equal(table.concat(want, " "), out, "completion of --" .. f.name)
    end
  end)

  it("--set types a value by the library's property kinds", function()
    local commands = require "vpptoken.cli.commands"
    local ctx = { usage = function(msg) error(msg, 0) end }
    local fields = commands.typed_fields(ctx, { "automaticallyUpdateApps=false", "roleScopeTagIds=a, b",
      "organizationName=true" })
    assert.same({ automaticallyUpdateApps = false, roleScopeTagIds = { "a", "b" }, organizationName = "true" }, fields)
    assert.equal("boolean", vpptoken.property_kind("claimTokenManagementFromExternalMdm", true))
    assert.is_nil(vpptoken.property_kind("claimTokenManagementFromExternalMdm"))
  end)
end)

describe("sign-in from the environment", function()
  local function env(t) return function(name) return t[name] end end

  it("credentials_in_env says whether from_env finds a sign-in, and from_env raises with its message", function()
    local ok, msg = vpptoken.credentials_in_env(nil, env{})
    assert.is_false(ok)
    assert.matches("^set VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID", msg)
    local rok, err = pcall(vpptoken.from_env, nil, env{})
    assert.is_false(rok)
    assert.equal("vpptoken.from_env: " .. msg, tostring(err):gsub("^[^\n]-%.lua:%d+: ", ""))
    assert.is_true(vpptoken.credentials_in_env(nil, env{ VPPTOKEN_ACCESS_TOKEN = "t" }))
    assert.is_true(vpptoken.credentials_in_env({ client_id = "c", tenant_id = "t", client_secret = "s" }, env{}))
    assert.is_false((vpptoken.credentials_in_env(nil, env{ VPPTOKEN_ACCESS_TOKEN = "" })))
  end)

  it("from_env names the variable missing, and a variable set that was probably meant", function()
    local e = { AZURE_TENANT = "contoso", AZURE_CLIENT_ID = "abc", AZURE_CLIENT_SECRET = "s" }
    local ok, msg = vpptoken.credentials_in_env(nil, e)
    assert.is_false(ok)
    assert.matches("tried: environment: AZURE_CLIENT_SECRET is set, but AZURE_TENANT_ID is not set;", msg, 1, true)
    assert.matches("; AZURE_TENANT is set: did you mean AZURE_TENANT_ID%?$", msg)
    local rok, err = pcall(vpptoken.from_env, nil, e)
    assert.is_false(rok)
    assert.equal("vpptoken.from_env: " .. msg, tostring(err):gsub("^[^\n]-%.lua:%d+: ", ""))
    -- the same through a getenv function (no names to compare with: no hint)
    ok, msg = vpptoken.credentials_in_env(nil, env(e))
    assert.is_false(ok)
    assert.matches("environment: AZURE_CLIENT_SECRET is set, but AZURE_TENANT_ID is not set;", msg, 1, true)
    assert.not_matches("did you mean", msg, 1, true)
    -- a way of signing in given in opts: what it still needs, by variable, and the option named as the option
    ok, msg = vpptoken.credentials_in_env({ client_secret = "s" }, env{})
    assert.is_false(ok)
    assert.equal("AZURE_TENANT_ID is not set; AZURE_CLIENT_ID is not set (needed with client_secret)", msg)
  end)

  it("from_env names the variable of a bad value, never the Lua option; options given keep their names", function()
    for var, value in pairs{ VPPTOKEN_GRAPH_URL = "ftp://x", VPPTOKEN_CLOUD = "mars", VPPTOKEN_AUTHORITY_URL = "x",
                             VPPTOKEN_ACCESS_TOKEN = "two words" } do
      local e = { VPPTOKEN_ACCESS_TOKEN = "t", [var] = value }
      local ok, err = pcall(vpptoken.from_env, nil, e)
      assert.is_false(ok)
      assert.matches("vpptoken.from_env: [^\n]*" .. var, tostring(err))
      local option
      for _, row in ipairs(vpptoken.ENV) do if row[1] == var then option = row[2] end end
      assert.not_matches(option, tostring(err), 1, true)
    end
    local ok, err = pcall(vpptoken.from_env, { cloud = "mars" }, { VPPTOKEN_ACCESS_TOKEN = "t" })
    assert.is_false(ok)
    assert.matches("unknown cloud 'mars'", tostring(err), 1, true)
  end)

  it("vpptoken.ENV maps every variable to an option of vpptoken.new", function()
    local known = {}
    for _, k in ipairs(vpptoken.Client.OPTIONS) do known[k] = true end
    for _, row in ipairs(vpptoken.ENV) do
      assert.matches("^[A-Z][A-Z0-9_]+$", row[1])
      assert.is_true(known[row[2]], row[2])
    end
  end)

  it("members() takes an enum table or its name alike", function()
    for _, name in ipairs{ "AccountType", "State", "SyncStatus" } do
      assert.same(vpptoken.members(name), vpptoken.members(vpptoken[name]))
      assert.same(vpptoken.members(name, true), vpptoken.members(vpptoken[name], true))
    end
  end)
end)
