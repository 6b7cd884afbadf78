--- vpptoken inside an event loop: clients whose calls suspend a task instead of blocking the thread, and tasks
-- that can be cancelled at any moment.
--
--    local async = require "vpptoken.async"
--    local rt = async.new{ loop = "luv" }    -- or "cqueues" (with controller = cq), or a driver table
--    local client = rt:client{ base_url = ..., access_token = ... }   -- the options of vpptoken.new
--    local task = rt:spawn(function() return client:list() end)
--    require("luv").run()                    -- the host's loop; it ends when no task has work left
--    print(task:result())
--
-- A driver is a table of four functions (docs/event-loops.md shows one): `timer(seconds, fn) -> handle`
-- (call fn once, later), `cancel(handle)`, `watch(fd, fn) -> handle` (call fn whenever fd is readable, until
-- unwatched), `unwatch(handle)`; and optionally `run()`, which rt:run() calls. Each client's session is one
-- descriptor and one deadline (core session:pollfd, :timeout, :step). Needs Lua 5.2 or later (or LuaJIT): PUC Lua
-- 5.1 cannot yield across pcall or a C call.
-- @module vpptoken.async
local Client = require "vpptoken.client"
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local options = require "vpptoken.options"
local waiting = require "vpptoken.wait"

local M = {}

local NOT_IN_TASK = "vpptoken.async: a call on an async client must be made inside a task (rt:spawn)"
local DRIVER_FUNCTIONS = { "timer", "cancel", "watch", "unwatch" }
local LOOPS = { luv = "vpptoken.async.luv", cqueues = "vpptoken.async.cqueues", poll = "vpptoken.async.poll" }

local YIELD = setmetatable({}, { __name = "vpptoken.async.wait" }) -- what a task yields with, and only it
local CANCELLED = setmetatable({}, { __name = "vpptoken.async.cancelled" }) -- resumes a task that was cancelled
local WOKE = setmetatable({}, { __name = "vpptoken.async.woke" }) -- resumes a task whose sleep is over

local Runtime = { __name = "vpptoken.async.Runtime" }
Runtime.__index = Runtime
local Task = { __name = "vpptoken.async.Task" }
Task.__index = Task
local Session = {} -- a client's session in a runtime: calls go to the session's reactor
Session.__index = Session

local compat = require "vpptoken.compat"
local pack, unpack = compat.pack, compat.unpack

--- A runtime over a loop: `loop` = "luv" (`uv`: the luv module to use, default require "luv"; Neovim: vim.uv),
-- "cqueues" (`controller`: the cqueues controller), "poll" (vpptoken's own loop: rt:run() blocks until every task
-- is done), or a driver table.
function M.new(opts)
  opts = options.check(opts, "vpptoken.async.new", { loop = true, controller = true, uv = true,
                                                      on_interrupt = true }, 2)
  if not compat.yield_across_pcall then
    error("vpptoken.async.new: needs Lua 5.2 or later, or LuaJIT: PUC Lua 5.1 cannot yield across pcall or a C "
      .. "call (docs/lua-versions.md)", 2)
  end
  local loop, driver = opts.loop, nil
  if type(loop) == "table" then
    driver = loop
  elseif LOOPS[loop] then
    driver = require(LOOPS[loop]).new(opts)
  else
    error("vpptoken.async.new: loop must be \"luv\", \"cqueues\", \"poll\" or a driver table (got "
      .. tostring(loop) .. ")", 2)
  end
  for _, f in ipairs(DRIVER_FUNCTIONS) do
    if type(driver[f]) ~= "function" then error("vpptoken.async.new: the driver has no function " .. f, 2) end
  end
  return setmetatable({ driver = driver, tasks = 0 }, Runtime)
end

--- Runs the loop until nothing is left to do (the driver's run; luv's uv.run, cqueues' controller:loop).
function Runtime:run(...)
  if type(self.driver.run) ~= "function" then error("rt:run: this driver has no run function", 2) end
  return self.driver.run(...)
end

-- ---- the sessions' calls ----

-- Watches entry's descriptor while it has calls under way, and sets its timer to the session's next deadline.
function Runtime:_arm(entry)
  local d, real = self.driver, entry.real
  if entry.closed or real:pending() == 0 then
    if entry.watch then d.unwatch(entry.watch); entry.watch = nil end
    if entry.timer then d.cancel(entry.timer); entry.timer = nil end
    return
  end
  if not entry.watch then entry.watch = d.watch(real:pollfd(), function() self:_service(entry) end) end
  -- A timer set for an earlier time stays (waking early costs one step, which sets the next); only an earlier
  -- deadline replaces it.
  local left = real:timeout()
  local at = left and core.monotonic() + left
  if entry.timer and at and at < entry.at - 0.001 then
    d.cancel(entry.timer)
    entry.timer = nil
  end
  if at and not entry.timer then
    entry.at = at
    entry.timer = d.timer(left, function()
      entry.timer = nil
      self:_service(entry)
    end)
  end
end

local resume

-- What the loop calls when entry's descriptor is ready or its deadline came: the ended calls resume their tasks.
function Runtime:_service(entry)
  if entry.closed then return end
  local ended, retries = entry.real:step()
  for _, retry in ipairs(retries) do -- the on_retry hook of the call's client (request.lua's wait hook)
    local hook = entry.hooks[retry[1]]
    if hook then pcall(hook, retry[2]) end
  end
  for _, done in ipairs(ended) do
    local id = done[1]
    local task = entry.owner[id]
    entry.owner[id], entry.hooks[id] = nil, nil
    if task then
      task.pending[entry][id] = nil
      resume(task, id, done[2])
    end
  end
  self:_arm(entry)
end

local function in_task(self)
  local task = waiting.task()
  if not task or task.rt ~= self.rt then error(NOT_IN_TASK, 0) end
  return task
end

local function suspend()
  return coroutine.yield(YIELD)
end

-- Starts one call for task; returns its id. on_event: told of each retry, as session:request's hook is.
function Session:_start(task, method, url, headers, body, mode, on_event)
  local id = self.real:start(method, url, headers, body, mode)
  self.owner[id], self.hooks[id] = task, on_event
  task.pending[self] = task.pending[self] or {}
  task.pending[self][id] = true
  self.rt:_arm(self)
  return id
end

function Session:request(method, url, headers, body, mode, on_event)
  local task = in_task(self)
  if task.cancelled then return nil, errors.cancelled(method, url) end
  local id = self:_start(task, method, url, headers, body, mode, on_event)
  local got, r = suspend()
  if got == CANCELLED then return nil, errors.cancelled(method, url, r[id]) end
  if got ~= id then error("vpptoken.async: a task was resumed with another call's answer") end
  if r.kind then return nil, r end
  return r
end

function Session:request_many(reqs, o)
  local task = in_task(self)
  o = o or {}
  local n, conc, on_event = #reqs, o.concurrency or 8, o.on_event
  local results, inflight, nxt, left, running = {}, {}, 1, n, 0
  local function start_next()
    while nxt <= n and running < conc and not task.cancelled do
      local q, i = reqs[nxt], nxt
      local hook = on_event and function(ev)
        ev.index = i
        on_event(ev)
      end
      inflight[self:_start(task, q.method, q.url, q.headers, q.body, nil, hook)] = i
      nxt, running = nxt + 1, running + 1
    end
  end
  start_next()
  while left > 0 do
    if task.cancelled then break end
    local got, r = suspend()
    if got == CANCELLED then
      for id, i in pairs(inflight) do
        results[i] = errors.cancelled(reqs[i].method, reqs[i].url, r[id])
      end
      break
    end
    local i = inflight[got]
    inflight[got] = nil
    results[i] = r
    left, running = left - 1, running - 1
    if on_event then on_event{ event = "done", index = i, result = r } end
    start_next()
  end
  for i = 1, n do
    if not results[i] then results[i] = errors.cancelled(reqs[i].method, reqs[i].url) end
  end
  return results
end

function Session:retry_wait(...)
  return self.real:retry_wait(...)
end

-- Closing a client ends its calls under way: their tasks see them cancelled.
function Session:close()
  if self.closed then return end
  self.closed = true
  self.rt:_arm(self)
  local owners = self.owner
  self.owner, self.hooks = {}, {}
  self.real:close()
  for id, task in pairs(owners) do
    task.pending[self][id] = nil
    resume(task, id, errors.cancelled(nil, nil, nil, "the client was closed while the call was under way"))
  end
end

local function bind(rt, client)
  client.session = setmetatable({ rt = rt, real = client.session, owner = {}, hooks = {} }, Session)
  return client
end

--- A client (the options of vpptoken.new) whose calls run inside this runtime's tasks; a call made outside a task
-- raises.
function Runtime:client(opts)
  local ok, client = pcall(Client.new, opts, nil, "rt:client")
  if not ok then error(client, 2) end
  return bind(self, client)
end

--- The client vpptoken.from_env would make (the sign-in chain and the environment), in this runtime.
function Runtime:from_env(opts, getenv)
  local merged, from = require("vpptoken")._env_options(opts, getenv, "rt:from_env")
  if not merged then error("rt:from_env: " .. from, 2) end
  local ok, client = pcall(Client.new, merged, from, "rt:from_env")
  if not ok then error(client, 2) end
  return bind(self, client)
end

-- ---- tasks ----

local function finish(task, ...)
  if task.finished then return end
  task.finished = true
  task.values = pack(...)
  task.rt.tasks = task.rt.tasks - 1
  if task.on_done then task.on_done(task) end
end

-- Resumes task's coroutine with what it waits for; records what it returned or raised once it ends.
function resume(task, ...)
  if coroutine.status(task.co) ~= "suspended" then return end
  local r = pack(coroutine.resume(task.co, ...))
  if not r[1] then
    local shown_ok, text = pcall(tostring, r[2])
    if not shown_ok then text = "a " .. type(r[2]) .. " that cannot be shown" end
    return finish(task, nil, errors.new{ kind = "job", code = "JobFailed", raised = r[2],
      message = "the task raised an error: " .. text, traceback = debug.traceback(task.co) })
  end
  if coroutine.status(task.co) == "dead" then return finish(task, unpack(r, 2, r.n)) end
  if r[2] ~= YIELD then
    return finish(task, nil, errors.new{ kind = "job", code = "JobFailed",
      message = "the task yielded outside of a vpptoken call (only vpptoken calls may suspend a task)" })
  end
end

--- Runs fn(...) in a new task at once, until its first call suspends it; returns the task.
function Runtime:spawn(fn, ...)
  if type(fn) ~= "function" then error("rt:spawn: fn must be a function", 2) end
  local task = setmetatable({ rt = self, pending = {} }, Task)
  task.co = coroutine.create(fn)
  waiting.bind(task.co, task)
  self.tasks = self.tasks + 1
  resume(task, ...)
  return task
end

-- Sleeps inside the task (vpptoken.wait.sleep): a timer of the loop; returns at once when the task is cancelled.
function Task:_sleep(seconds)
  if self.cancelled then return end
  self.sleeping = self.rt.driver.timer(seconds, function()
    self.sleeping = nil
    resume(self, WOKE)
  end)
  suspend()
end

-- Waits for a vpptoken.wait event inside the task; returns at once when the task is cancelled.
function Task:_park(ev)
  if self.cancelled then return end
  ev.waiters[#ev.waiters + 1] = self
  self.parked = ev
  suspend()
  self.parked = nil
end

function Task:_unpark(ev)
  if self.parked == ev and not self.finished then resume(self, WOKE) end
end

--- Cancels the task: the call it waits for returns nil and an error of kind "cancelled" (with outcome_unknown
-- when a write may already have been sent), and later calls fail the same way at once, without a request.
-- task:result() gives nil and that error. Returns false when the task had already finished.
function Task:cancel()
  if self.finished then return false end
  self.cancelled = true
  finish(self, nil, errors.cancelled(nil, nil, nil, "the task was cancelled"))
  local sent = {}
  for entry, ids in pairs(self.pending) do
    for id in pairs(ids) do
      local _, may_have_been_sent = entry.real:cancel(id)
      sent[id] = may_have_been_sent
      entry.owner[id], entry.hooks[id] = nil, nil
    end
    self.pending[entry] = nil
    self.rt:_arm(entry)
  end
  if self.sleeping then
    self.rt.driver.cancel(self.sleeping)
    self.sleeping = nil
  end
  resume(self, CANCELLED, sent) -- the task runs on until it ends; its calls fail at once
  return true
end

--- Whether the task has ended: returned, raised, or cancelled.
function Task:done()
  return self.finished == true
end

--- What the task's function returned; nil and an error object (kind "job") when it raised, nil and an error of
-- kind "cancelled" when it was cancelled. Raises when the task has not ended.
function Task:result()
  if not self.finished then error("task:result: the task has not ended (see task:done())", 2) end
  return unpack(self.values, 1, self.values.n)
end

return M
