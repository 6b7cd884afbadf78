-- vpptoken.async: clients inside a host's event loop (luv, cqueues, a driver of one's own), every call a task that
-- suspends instead of blocking, and cancellable.
local helper = require "helper"
local apple = helper.apple_token
local vpptoken = require "vpptoken"
local async = require "vpptoken.async"
local core = require "vpptoken.core"

if not require("vpptoken.compat").yield_across_pcall then
  describe("vpptoken.async on PUC Lua 5.1", function()
    it("refuses to start, saying what it needs: 5.1 cannot yield across pcall or a C call", function()
      local ok, err = pcall(async.new, { loop = "poll" })
      assert.is_false(ok)
      assert.matches("needs Lua 5.2 or later, or LuaJIT", tostring(err), 1, true)
    end)
  end)
  return
end

local uv = require "luv"
local cqueues = require "cqueues"

-- Under valgrind (make check-valgrind sets VPPTOKEN_SLOW) every bound on time is this many times looser.
local SLOW = os.getenv("VPPTOKEN_SLOW") and 20 or 1

-- The sockets and event descriptors (epoll, eventfd) this process holds open: what a leaked connection, reactor or
-- libcurl multi handle would leave (not the pipes and files that the counting itself opens).
local function open_fds()
  local f = assert(io.open("/proc/self/stat"))
  local pid = assert(f:read("*n"))
  f:close()
  local n, list = 0, {}
  local p = assert(io.popen("ls -l /proc/" .. pid .. "/fd"))
  for l in p:lines() do
    local what = l:match("%d+ %-> (.*)$")
    if what and (what:match("^socket:") or what:match("^anon_inode:")) then
      n = n + 1
      list[#list + 1] = l:match("%d+ %-> .*$")
    end
  end
  p:close()
  return n, table.concat(list, "\n")
end

describe("vpptoken.async", function()
  local sb = helper.sandbox_suite{}

  local function seed(n)
    local c = vpptoken.new{ base_url = sb.graph, access_token = "t" }
    for i = 1, n do
      assert(c:create{ token = apple("async-" .. i), appleId = "a" .. i .. "@contoso.com", state = "valid" })
    end
    c:close()
  end

  -- Runs n concurrent list() calls on rt's client while a 10 ms repeating timer runs (started with start_ticker,
  -- which returns a function giving the worst lag seen); `run` runs the loop. Returns the tasks and the lag.
  local function concurrent_lists(rt, n, start_ticker, run)
    local client = rt:client{ base_url = sb.graph, access_token = "t" }
    local tasks = {}
    for i = 1, n do tasks[i] = rt:spawn(function() return client:list() end) end
    local worst = start_ticker(function()
      for _, t in ipairs(tasks) do if not t:done() then return false end end
      return true
    end)
    local t0 = core.monotonic()
    run()
    local wall = core.monotonic() - t0
    client:close()
    return tasks, worst(), wall
  end

  describe("in a luv loop", function()
    local function luv_ticker(finished)
      local worst, last = 0, core.monotonic()
      local timer = uv.new_timer()
      uv.update_time() -- the timer counts from now, not from the loop's last look at the clock
      timer:start(10, 10, function()
        local now = core.monotonic()
        worst = math.max(worst, now - last - 0.010)
        last = now
        if finished() then timer:stop(); timer:close() end
      end)
      return function() return worst end
    end

    it("runs 100 concurrent list() calls against a slow Graph while the loop's timers keep running", function()
      seed(3)
      sb:configure{ faults = { latency_ms = { GET = { 50, 50 } } } }
      local rt = async.new{ loop = "luv" }
      local tasks, lag, wall = concurrent_lists(rt, 100, luv_ticker, function() uv.run() end)
      for i, t in ipairs(tasks) do
        assert.is_true(t:done(), "task " .. i)
        local list, err = t:result()
        assert.is_nil(err)
        assert.equal(3, #list, "task " .. i)
      end
      -- blocking calls would hold the loop for 100 x 50 ms; a shared 2-core machine adds its own noise
      assert.is_true(lag < 1.0 * SLOW, "timer lag " .. lag)
      assert.is_true(wall < 4 * SLOW, "wall " .. wall)
    end)

    it("ends a task cancelled 100 ms into a 2 s call at once, with kind cancelled", function()
      sb:configure{ faults = { latency_ms = { GET = { 2000, 2000 } } } }
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local got = {}
      local task = rt:spawn(function()
        got.value, got.err = client:list()
        got.at = core.monotonic()
        return got.value, got.err
      end)
      local cancelled_at
      local timer = uv.new_timer()
      uv.update_time() -- the timer counts from now, not from the loop's last look at the clock
      timer:start(100, 0, function()
        timer:close()
        cancelled_at = core.monotonic()
        task:cancel()
      end)
      local t0 = core.monotonic()
      uv.run()
      assert.is_true(task:done())
      assert.is_nil(got.value)
      assert.equal("cancelled", got.err.kind)
      assert.is_true(got.at - cancelled_at < 0.05 * SLOW, "ended " .. (got.at - cancelled_at) .. " s after the cancel")
      assert.is_true(core.monotonic() - t0 < 1 * SLOW, "the loop ended without waiting for the answer")
      local v, err = task:result()
      assert.is_nil(v)
      assert.equal("cancelled", err.kind)
      -- later calls of the task fail at once, without a request
      client:close()
    end)

    it("reports a cancelled POST that may have been sent with outcome_unknown", function()
      seed(1)
      local c = vpptoken.new{ base_url = sb.graph, access_token = "t" }
      local id = assert(c:list())[1].id
      c:close()
      sb:configure{ faults = { latency_ms = { POST = { 3000, 3000 } } } }
      local before = #sb:requests()
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local got = {}
      local task = rt:spawn(function()
        got.value, got.err = client:sync_licenses(id)
        got.after = { client:list() }
      end)
      local timer = uv.new_timer()
      uv.update_time() -- the timer counts from now, not from the loop's last look at the clock
      timer:start(1000, 0, function() timer:close(); task:cancel() end) -- the POST is out by then
      uv.run()
      assert.equal("cancelled", got.err.kind)
      assert.is_true(got.err.outcome_unknown)
      assert.is_nil(got.after[1])
      assert.equal("cancelled", got.after[2].kind)
      local log = sb:requests()
      for i = before + 1, #log do assert.not_equal("GET", log[i].method, "the list after the cancel was sent") end
      client:close()
    end)

    it("sends nothing more when a task is cancelled during a 429 back-off", function()
      seed(1)
      sb:fail_next(1, 429, { retry_after = "1" })
      local before = #sb:requests()
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local got = {}
      local task = rt:spawn(function() got.value, got.err = client:list() end)
      local cancel = uv.new_timer()
      uv.update_time() -- the timer counts from now, not from the loop's last look at the clock
      cancel:start(300, 0, function() cancel:close(); task:cancel() end)
      local hold = uv.new_timer() -- keeps the loop going past the Retry-After
      hold:start(1400, 0, function() hold:close() end)
      uv.run()
      assert.equal("cancelled", got.err.kind)
      assert.is_falsy(got.err.outcome_unknown)
      assert.equal(before + 1, #sb:requests(), "only the throttled attempt went out")
      client:close()
    end)

    it("retries a throttled call after its Retry-After on a timer, telling the client's on_retry", function()
      seed(1)
      sb:fail_next(1, 429, { retry_after = "0.3" })
      local rt = async.new{ loop = "luv" }
      local seen = {}
      local client = rt:client{ base_url = sb.graph, access_token = "t", on_retry = function(info)
        seen[#seen + 1] = info
      end }
      local task = rt:spawn(function() return client:list() end)
      local ticks, timer = 0, uv.new_timer()
      uv.update_time() -- the timer counts from now, not from the loop's last look at the clock
      timer:start(10, 10, function()
        ticks = ticks + 1
        if task:done() then timer:stop(); timer:close() end
      end)
      uv.run()
      local list, err = task:result()
      assert.is_nil(err)
      assert.equal(1, #list)
      assert.equal(1, #seen)
      assert.equal(429, seen[1].status)
      assert.equal(2, seen[1].attempt)
      -- a back-off that blocked the loop would leave the 10 ms timer a tick or none; under load ticks come late
      assert.is_true(ticks >= 5, "the loop ran during the back-off (" .. ticks .. " ticks)")
      client:close()
    end)

    it("leaves no descriptor open after many cancellations at random points", function()
      seed(2)
      sb:configure{ faults = { latency_ms = { GET = { 0, 30 } } } }
      collectgarbage()
      collectgarbage()
      local before, before_list = open_fds()
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local ended, cut, answered = 0, 0, 0
      math.randomseed(7)
      local N = SLOW > 1 and 200 or 1000 -- the lead runs it under ASan too
      for i = 1, N do
        local task = rt:spawn(function() return client:list() end)
        local timer = uv.new_timer()
        uv.update_time() -- the timer counts from now, not from when the loop last looked at the clock
        -- most are cancelled within 150 ms; one in ten late enough to be answered first, however slow the build
        local late = i % 10 == 0 and 3000 * SLOW or 0
        timer:start(math.random(0, 150) + late, 0, function()
          timer:close()
          if task:cancel() then cut = cut + 1 else answered = answered + 1 end
          ended = ended + 1
        end)
      end
      uv.run()
      assert.equal(N, ended)
      -- random points: some calls were cut short, some had been answered
      assert.is_true(cut > N / 10 and answered > 0, cut .. " cancelled, " .. answered .. " answered")
      client:close()
      collectgarbage()
      local after, after_list = open_fds()
      assert.equal(before, after, before_list .. "\n---\n" .. after_list)
    end)

    it("waits for a sync with the loop's timers, not by sleeping", function()
      seed(1)
      local c = vpptoken.new{ base_url = sb.graph, access_token = "t" }
      local id = assert(c:list())[1].id
      c:close()
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local task = rt:spawn(function()
        assert(client:sync_licenses(id))
        return client:wait_for_sync(id, { interval = 1, timeout = 10 })
      end)
      local worst, last, timer = 0, core.monotonic(), uv.new_timer()
      uv.update_time() -- the timer counts from now, not from the loop's last look at the clock
      timer:start(10, 10, function()
        local now = core.monotonic()
        worst = math.max(worst, now - last - 0.010)
        last = now
        if task:done() then timer:stop(); timer:close() end
      end)
      uv.run()
      local tok, err = task:result()
      assert.is_nil(err)
      assert.equal(id, tok.id)
      -- a poll that slept in the loop would hold it a whole interval (1 s)
      assert.is_true(worst < 0.6 * SLOW, "timer lag " .. worst)
    end)

    it("runs sync_all's and get_many's calls side by side inside a task", function()
      seed(4)
      sb:configure{ faults = { latency_ms = { POST = { 1000, 1000 }, GET = { 0, 0 } } } }
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local started_at
      local task = rt:spawn(function()
        local list = assert(client:list())
        local ids = {}
        for i, tok in ipairs(list) do ids[i] = tok.id end
        local got = assert(client:get_many(ids))
        started_at = core.monotonic()
        local synced = assert(client:sync_all{ concurrency = 4 })
        return got, synced, core.monotonic() - started_at
      end)
      uv.run()
      local got, synced, took = task:result()
      assert.equal(4, #got)
      assert.equal(4, #synced)
      for _, o in ipairs(synced) do assert.equal("started", o.outcome, o.reason) end
      assert.is_true(took < 3.0 * SLOW, "four 1 s syncs took " .. took .. " s (one after another: 4 s)")
      client:close()
    end)

    it("raises when an async client is called outside a task", function()
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      assert.has_error(function() client:list() end,
        "vpptoken.async: a call on an async client must be made inside a task (rt:spawn)")
      client:close()
    end)

    it("gives what the task's function raised as an error of kind job", function()
      local rt = async.new{ loop = "luv" }
      local task = rt:spawn(function() error("boom") end)
      uv.run()
      assert.is_true(task:done())
      local v, err = task:result()
      assert.is_nil(v)
      assert.equal("job", err.kind)
      assert.matches("boom", err.message)
    end)
  end)

  describe("in a cqueues controller", function()
    it("runs 100 concurrent list() calls against a slow Graph while other coroutines keep running", function()
      seed(3)
      sb:configure{ faults = { latency_ms = { GET = { 50, 50 } } } }
      local cq = cqueues.new()
      local rt = async.new{ loop = "cqueues", controller = cq }
      local tasks, lag, wall = concurrent_lists(rt, 100, function(finished)
        local worst = 0
        cq:wrap(function()
          local last = cqueues.monotime()
          repeat
            cqueues.sleep(0.010)
            local now = cqueues.monotime()
            worst = math.max(worst, now - last - 0.010)
            last = now
          until finished()
        end)
        return function() return worst end
      end, function() assert(cq:loop()) end)
      for i, t in ipairs(tasks) do
        local list, err = t:result()
        assert.is_nil(err)
        assert.equal(3, #list, "task " .. i)
      end
      assert.is_true(lag < 1.0 * SLOW, "timer lag " .. lag)
      assert.is_true(wall < 4 * SLOW, "wall " .. wall)
    end)

    it("ends a task cancelled 100 ms into a 2 s call at once, with kind cancelled", function()
      sb:configure{ faults = { latency_ms = { GET = { 2000, 2000 } } } }
      local cq = cqueues.new()
      local rt = async.new{ loop = "cqueues", controller = cq }
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local got = {}
      local task = rt:spawn(function()
        got.value, got.err = client:list()
        got.at = core.monotonic()
      end)
      local cancelled_at
      cq:wrap(function()
        cqueues.sleep(0.1)
        cancelled_at = core.monotonic()
        task:cancel()
      end)
      local t0 = core.monotonic()
      assert(cq:loop())
      assert.equal("cancelled", got.err.kind)
      assert.is_true(got.at - cancelled_at < 0.05 * SLOW)
      assert.is_true(core.monotonic() - t0 < 1 * SLOW)
      client:close()
    end)
  end)

  describe("signing in", function()
    it("fetches one access token for many tasks that start at once", function()
      local apps = helper.temp_file(require("cjson").encode{ tenant = "home",
        apps = { { client_id = "app-one", client_secret = "secret-one", tenant = "home" } } })
      local own = helper.start_sandbox{ "--apps", apps }
      finally(function()
        own:stop()
        os.remove(apps)
      end)
      local calls = 0
      local rt = async.new{ loop = "luv" }
      local client = rt:client{ base_url = own.graph, tenant_id = "home", client_id = "app-one",
        client_secret = "secret-one", on_request = function(info)
          if info.url:match("/token$") then calls = calls + 1 end
        end }
      local tasks = {}
      for i = 1, 20 do tasks[i] = rt:spawn(function() return client:list() end) end
      uv.run()
      for _, t in ipairs(tasks) do
        local list, err = t:result()
        assert.is_nil(err)
        assert.equal(0, #list)
      end
      assert.equal(1, calls)
      client:close()
    end)
  end)

  describe("with a driver of one's own", function()
    it("runs tasks on the README's example driver, a loop over poll(2)", function()
      seed(2)
      local readme = helper.docs_text()
      local at = assert(readme:find("this one is a whole loop", 1, true))
      local code = assert(readme:match("```lua\n(.-)```", at))
      local make = assert(load(code .. "\nreturn driver, rt", "=README driver"))
      local driver, rt = make()
      local client = rt:client{ base_url = sb.graph, access_token = "t" }
      local tasks = {}
      for i = 1, 5 do tasks[i] = rt:spawn(function() return client:list() end) end
      rt:run()
      for _, task in ipairs(tasks) do
        local list, err = task:result()
        assert.is_nil(err)
        assert.equal(2, #list)
      end
      assert.is_function(driver.run)
      client:close()
    end)
  end)
end)
