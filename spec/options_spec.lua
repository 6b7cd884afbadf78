-- Misuse raises everywhere: every public function and method that takes an options table, found by walking the
-- module tables (so a new one cannot be forgotten), raises on a misspelt key with a "did you mean" hint, and on a
-- value of the wrong type. Nothing is sent: the client points at a port nothing listens on.
local vpptoken = require "vpptoken"

local GRAPH = "http://127.0.0.1:9/v1.0"
local FIELDS = { automaticallyUpdateApps = true }

-- Every public function: "vpptoken.NAME", "vpptoken.time.NAME" and "Client:NAME" (the lazy ones included).
local function public_functions()
  local names = {}
  local function add(prefix, t)
    for k, v in pairs(t) do
      if type(k) == "string" and type(v) == "function" and not k:match("^_") then names[prefix .. k] = true end
    end
  end
  add("vpptoken.", vpptoken)
  for k in pairs(vpptoken._lazy) do names["vpptoken." .. k] = true end
  add("vpptoken.time.", vpptoken.time)
  add("Client:", vpptoken.Client)
  for k in pairs(vpptoken.Client._lazy_methods) do names["Client:" .. k] = true end
  for k in pairs(vpptoken._modules) do add("vpptoken." .. k .. ".", vpptoken[k]) end
  names["Client:new"] = nil -- vpptoken.new
  return names
end

-- The ones that take an options table (or a table of named fields): how to call one with `opts`, a real option
-- (misspelt by the walk), and an option of a checked type with a value of another type.
local TAKES_OPTIONS = {
  ["vpptoken.new"] = { function(_, o) return (vpptoken.new(o)) end, "access_token", { on_request = 1 } },
  ["vpptoken.from_env"] = { function(_, o) return (vpptoken.from_env(o, {})) end, "access_token",
    { token_provider = "t" } },
  ["vpptoken.credentials_in_env"] = { function(_, o) return (vpptoken.credentials_in_env(o, {})) end,
    "client_id" },
  ["vpptoken.post_json"] = { function(_, o) return (vpptoken.post_json("https://hooks.example/x", {}, o)) end,
    "timeout", { headers = "X: y" } },
  ["Client:each"] = { function(c, o) return (c:each(o)) end, "filter", { top = "ten" } },
  ["Client:list"] = { function(c, o) return (c:list(o)) end, "select", { count = "yes" } },
  ["Client:get"] = { function(c, o) return (c:get("a", o)) end, "select", { select = 3 } },
  ["Client:update"] = { function(c, o) return (c:update("a", FIELDS, o)) end, "fetch", { fetch = 0 } },
  ["Client:get_many"] = { function(c, o) return (c:get_many({ "a" }, o)) end, "concurrency", { concurrency = "2" } },
  ["Client:sync_all"] = { function(c, o) return (c:sync_all(o)) end, "concurrency", { only_valid = "no" } },
  ["Client:batch"] = { function(c, o) return (c:batch({}, o)) end, "max_retries", { max_retries = "1" } },
  ["Client:expiring"] = { function(c, o) return (c:expiring(o)) end, "within_days", { within_days = "3" } },
  ["Client:wait_for_sync"] = { function(c, o) return (c:wait_for_sync("a", o)) end, "interval", { interval = "1" } },
  ["Client:revoke_licenses"] = { function(_, o, beta) return (beta:revoke_licenses("a", o)) end,
    "notify_managed_devices", { notify_managed_devices = 1 } },
  ["vpptoken.tenants.parse"] = { function(_, o) return (vpptoken.tenants.parse('{"tenants": []}', o)) end,
    "getenv" },
  ["vpptoken.tenants.load"] = { function(_, o) return (vpptoken.tenants.load("/nonexistent", o)) end, "getenv" },
  ["vpptoken.tenants.run"] = { function(_, o) return (vpptoken.tenants.run({}, function() end, o)) end,
    "concurrency", { concurrency = "2" } },
  ["vpptoken.login.device_code"] = { function(_, o) return (vpptoken.login.device_code(o)) end, "tenant_id",
    { on_message = "print" } },
  ["vpptoken.login.whoami"] = { function(_, o) return (vpptoken.login.whoami(o)) end, "cache_file",
    { on_request = 1 } },
  ["vpptoken.login.logout"] = { function(_, o) return (vpptoken.login.logout(o)) end, "cache_file" },
  ["vpptoken.login.cached_credential"] = { function(_, o) return (vpptoken.login.cached_credential(o)) end,
    "client_id" },
  ["Client:find"] = { function(c, o) return (c:find(o)) end, "organization", { state = 1 } },
}

-- The ones that take none (an id, a file, a name...).
local NO_OPTIONS = {
  "vpptoken.curl_version", "vpptoken.members", "vpptoken.clouds", "vpptoken.transport_option",
  "vpptoken.property_kind", "vpptoken.monotonic", "vpptoken.terminal", "vpptoken.is_error", "vpptoken.interruptible",
  "vpptoken.assert", "vpptoken.tenants.shard_of",
  "vpptoken.days_left", "vpptoken.login.claims", "vpptoken.login.cache_path", "vpptoken.login.describe",
  "vpptoken.read_token_file", "vpptoken.time.parse", "vpptoken.time.format", "Client:close", "Client:create",
  "Client:delete", "Client:sync_licenses", "Client:renew", "Client:sync_license_counts", "Client:licenses_for_app",
}

-- "concurrency" -> "concurrnecy": two letters swapped near the end (one edit away).
local function misspelt(name)
  local i = #name - 2
  return name:sub(1, i - 1) .. name:sub(i + 1, i + 1) .. name:sub(i, i) .. name:sub(i + 2)
end

describe("every options table of the public API", function()
  local c, beta

  setup(function()
    c = vpptoken.new{ access_token = "t", base_url = GRAPH, max_retries = 0 }
    beta = vpptoken.new{ access_token = "t", base_url = "http://127.0.0.1:9/beta", max_retries = 0 }
  end)

  teardown(function()
    c:close()
    beta:close()
  end)

  it("is known to this spec: each public function is listed as taking options or not", function()
    local listed = {}
    for name in pairs(TAKES_OPTIONS) do listed[name] = true end
    for _, name in ipairs(NO_OPTIONS) do listed[name] = true end
    local found = public_functions()
    for name in pairs(found) do assert(listed[name], name .. " is new: list it in TAKES_OPTIONS or NO_OPTIONS") end
    for name in pairs(listed) do assert(found[name], name .. " is listed but is no public function") end
  end)

  local names = {}
  for name in pairs(TAKES_OPTIONS) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local case = TAKES_OPTIONS[name]
    it(name .. " raises on a misspelt key, saying which one was meant", function()
      local wrong = misspelt(case[2])
      assert.are_not.equal(case[2], wrong)
      local ok, msg = pcall(case[1], c, { [wrong] = 1 }, beta)
      assert.is_false(ok)
      assert.matches("'" .. wrong .. "'", tostring(msg), 1, true)
      assert.matches("did you mean '" .. case[2] .. "'", tostring(msg), 1, true)
      -- the raise points at the caller's line (this file), not inside the library
      assert.matches("options_spec.lua:%d+:", tostring(msg))
    end)
    if case[3] then
      it(name .. " raises on a value of the wrong type", function()
        local ok, msg = pcall(case[1], c, case[3], beta)
        assert.is_false(ok)
        assert.matches(next(case[3]), tostring(msg), 1, true)
      end)
    end
    it(name .. " raises on options that are not a table", function()
      assert.is_false((pcall(case[1], c, "fast", beta)))
    end)
  end
end)
