-- The vpptoken-sandbox process: startup and options, signals, --verbose, IPv6, failures of the Lua
-- module, a taken port, and many connections at once. Processes are started with helper.spawn_sandbox
-- when the exit status or the signal matters, else with helper.start_sandbox.
-- luacheck: std +busted
local helper = require "helper"
local socket = require "socket"
local apple = helper.apple_token -- a sample Apple token file
local support = require "sandbox_support"
local cjson = require "cjson.safe"

local http = helper.http
local graph, COLL = support.graph, support.COLL
local assert_clean_log = support.assert_clean_log
local raw_connect, raw_send, raw_receive = support.raw_connect, support.raw_send, support.raw_receive

-- The sandbox on a free port with these extra arguments (helper.spawn_sandbox: never raises).
local function launch(args)
  local all = { "--port", "0" }
  for _, a in ipairs(args or {}) do all[#all + 1] = a end
  return helper.spawn_sandbox(all)
end

-- Runs fn(proc) against a sandbox started with args and always stops it (with signal, default TERM);
-- returns exit status, stderr text and the rest of stdout, or raises fn's error.
local function with_process(args, fn, signal)
  local proc = launch(args)
  local ok, err = pcall(fn, proc)
  local code, log, rest = proc:finish(signal)
  if not ok then error(err, 0) end
  return code, log, rest
end

describe("vpptoken-sandbox process", function()
  local sb = helper.sandbox_suite()

  describe("startup", function()
    it("prints the listening line with the real port when started with --port 0", function()
      assert.matches("^http://127%.0%.0%.1:%d+$", sb.url)
      assert.is_true(sb.port > 0)
      local st, body = http("GET", sb.url .. "/health")
      assert.equal(200, st)
      assert.same({ status = "ok" }, body)
    end)

    it("lists every option with --help and exits 0", function()
      local p = assert(io.popen(helper.shell_quote(helper.sandbox_bin) .. " --help", "r"))
      local text = p:read("*a")
      local ok, _, code = p:close()
      assert.is_true(ok)
      assert.equal(0, code)
      for _, opt in ipairs({ "--port", "--host", "--access-token", "--page-size", "--sync-seconds",
                             "--sync-response", "--verbose", "--lua-path", "--help" }) do
        assert.truthy(text:find(opt, 1, true), opt .. " missing from --help")
      end
    end)

    it("rejects an unknown option or a bad value with exit status 2", function()
      for _, args in ipairs({ "--bogus", "--port 70000", "--sync-response both", "--page-size 0" }) do
        local p = assert(io.popen(helper.shell_quote(helper.sandbox_bin) .. " " .. args .. " 2>&1", "r"))
        local text = p:read("*a")
        local _, _, code = p:close()
        assert.equal(2, code, args)
        assert.truthy(text:find("vpptoken-sandbox:", 1, true))
      end
    end)
  end)

  describe("a bind beyond loopback", function()
    -- Runs the sandbox for a moment inside a loopback-only network namespace (nothing outside can reach it);
    -- returns what it wrote to stdout and stderr.
    local function run_isolated(host)
      local cmd = string.format("unshare -n sh -c 'ip link set lo up; exec timeout -s TERM 1 %s --host %s "
        .. "--port 0' 2>&1", helper.sandbox_bin, host)
      local p = assert(io.popen(cmd, "r"))
      local text = p:read("*a")
      p:close()
      return text
    end

    it("warns on stderr that the control routes need no authentication (0.0.0.0, ::)", function()
      for _, host in ipairs({ "0.0.0.0", "::" }) do
        local text = run_isolated(host)
        assert.truthy(text:find("listening on", 1, true), text)
        assert.matches("vpptoken%-sandbox: warning: [^\n]*not a loopback address", text)
        assert.truthy(text:find("/_sandbox/token", 1, true), text)
      end
    end)

    it("says nothing of the kind on 127.0.0.1 or ::1", function()
      for _, host in ipairs({ "127.0.0.1", "::1" }) do
        local text = run_isolated(host)
        assert.truthy(text:find("listening on", 1, true), text)
        assert.is_nil(text:find("warning", 1, true), text)
      end
    end)
  end)

  describe("connections", function()
    it("answers 50 concurrent keep-alive connections with interleaved requests", function()
      local conns = {}
      for i = 1, 50 do conns[i] = raw_connect(sb) end
      for round = 1, 3 do
        for i, c in ipairs(conns) do
          raw_send(c, "GET", "/v1.0" .. COLL .. "?$top=" .. i, { Authorization = "Bearer x",
                                                                 ["client-request-id"] = "c" .. i .. "-" .. round })
        end
        for i, c in ipairs(conns) do
          local st, h, text = raw_receive(c)
          assert.equal(200, st)
          assert.equal("c" .. i .. "-" .. round, h["client-request-id"])
          assert.is_table(cjson.decode(text).value)
        end
      end
      for _, c in ipairs(conns) do c:close() end
      assert.equal(150, #sb:requests())
    end)

    it("survives clients that hang up in the middle of a request", function()
      for _ = 1, 10 do
        local c = raw_connect(sb)
        assert(c:send("POST /v1.0" .. COLL .. " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"tok"))
        c:close()
      end
      local c = raw_connect(sb)
      assert(c:send("GET /health HTTP/1.1\r\nHost: x"))
      c:close()
      assert.equal(200, (http("GET", sb.url .. "/health")))
    end)
  end)
end)

describe("vpptoken-sandbox shutdown", function()
  for _, signal in ipairs({ "TERM", "INT" }) do
    it("exits 0 on SIG" .. signal .. " with nothing else on stdout", function()
      local code, log, rest = with_process(nil, function(proc)
        assert.matches("^vpptoken%-sandbox listening on http://127%.0%.0%.1:%d+$", proc.first)
        assert.equal(201, (graph(proc, "POST", COLL, { token = apple() })))
      end, signal)
      assert.equal(0, code, log)
      assert.equal("exit=0\n", rest)
      assert_clean_log(log)
    end)
  end
end)

-- A stand-in vpptoken_sandbox module in a temporary directory, loaded with --lua-path.
local function stub_module(source)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. helper.shell_quote(dir .. "/vpptoken_sandbox")))
  local f = assert(io.open(dir .. "/vpptoken_sandbox/init.lua", "w"))
  f:write(source)
  f:close()
  return dir
end

local function remove_dir(dir)
  os.execute("rm -rf " .. helper.shell_quote(dir))
end

describe("vpptoken-sandbox process", function()
  it("logs one line per request to stderr with --verbose", function()
    local code, log = with_process({ "--verbose" }, function(proc)
      assert.equal(200, (http("GET", proc.url .. "/health")))
      assert.equal(401, (http("GET", proc.url .. "/v1.0" .. COLL)))
    end)
    assert.equal(0, code, log)
    assert.truthy(log:find("GET /health 200", 1, true), log)
    assert.truthy(log:find("GET /v1.0/deviceAppManagement/vppTokens 401", 1, true), log)
    assert_clean_log(log)
  end)

  it("listens on IPv6 ::1 and prints the URL in brackets", function()
    -- Whether this machine has an IPv6 loopback is asked of the kernel, not of the sandbox: where LuaSocket can
    -- listen on ::1, the sandbox must too.
    local probe = assert(socket.tcp6())
    local bound, why = probe:bind("::1", 0)
    probe:close()
    if not bound then
      local msg = "NOT TESTED: this machine has no IPv6 loopback (::1: " .. tostring(why) .. "), so the sandbox's "
        .. "IPv6 listening is unchecked here"
      io.stderr:write("\n*** ", msg, " ***\n")
      pending(msg)
      return
    end
    local proc = launch({ "--host", "::1" })
    assert(proc.url, "the sandbox did not listen on ::1 where this machine has it: " .. select(2, proc:finish("TERM")))
    assert.matches("^http://%[::1%]:%d+$", proc.url)
    local code, log = proc:finish("TERM")
    assert.equal(0, code, log)
  end)

  it("answers a Graph-shaped 500 and keeps serving when the Lua handler raises or returns garbage", function()
    local dir = stub_module([[
      local n = 0
      return {
        configure = function() end,
        handle = function(req)
          n = n + 1
          if req.path == "/raise" then error("boom " .. n) end
          if req.path == "/garbage" then return "not a status", 42, {} end
          if req.path == "/header" then return 200, { ["X-Bad"] = "a\r\nb" }, "" end
          return 200, { ["Content-Type"] = "text/plain" }, req.method .. " " .. req.path .. "?" .. req.query
        end,
      }
    ]])
    local ok, code, log = pcall(with_process, { "--lua-path", dir }, function(proc)
      for _, path in ipairs({ "/raise", "/garbage", "/header", "/raise" }) do
        local st, body = http("GET", proc.url .. path)
        assert.equal(500, st, path)
        assert.equal("InternalServerError", body.error.code)
        assert.is_string(body.error.innerError.date)
      end
      local st, body = http("GET", proc.url .. "/fine?a=1&$b=%20")
      assert.equal(200, st)
      assert.equal("GET /fine?a=1&$b=%20", body)
    end)
    remove_dir(dir)
    assert(ok, code)
    assert.equal(0, code, log)
    assert.truthy(log:find("boom 1", 1, true), log)
    assert_clean_log(log)
  end)

  it("exits 1 with a message on stderr when the Lua module cannot be loaded", function()
    local dir = stub_module("return 42\n")
    local proc = launch({ "--lua-path", dir })
    local code, log = proc:finish("TERM")
    remove_dir(dir)
    assert.is_nil(proc.url)
    assert.equal(1, code)
    assert.truthy(log:find("did not return a table", 1, true), log)
    assert_clean_log(log)
  end)

  it("exits 1 when the port is already taken", function()
    local first = launch()
    local second = launch({ "--port", assert(first.url):match(":(%d+)$") })
    local code, log = second:finish("TERM")
    local code1, log1 = first:finish("TERM")
    assert.equal(1, code)
    assert.truthy(log:find("cannot listen", 1, true), log)
    assert.equal(0, code1, log1)
  end)
end)
