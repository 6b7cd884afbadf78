--- The library's one wait (retry back-offs it makes itself, wait_for_sync, $batch, device-code polling, managed
-- identity): outside a vpptoken.async task it blocks the thread; inside one it suspends the task on a timer of the
-- host's loop, and returns at once once the task is cancelled.
local core = require "vpptoken.core"

local M = {}

local tasks = setmetatable({}, { __mode = "k" }) -- coroutine -> the vpptoken.async task it runs

--- Makes coroutine co the one of task (vpptoken.async), whose :_sleep(seconds) waits inside it.
function M.bind(co, task)
  tasks[co] = task
end

--- The task the running coroutine is, or nil.
function M.task()
  local co = coroutine.running()
  return co and tasks[co] or nil
end

--- Waits `seconds` (>= 0, fractional allowed).
function M.sleep(seconds)
  local task = M.task()
  if task then return task:_sleep(seconds) end
  core.sleep(seconds)
end

--- An event tasks can wait for (a token fetch under way, which other tasks of the same client wait on).
function M.event()
  return { waiters = {} }
end

--- Inside a task: suspends it until the event is signalled (or the task is cancelled). Outside one: returns at once
-- (a blocking caller never finds work of another caller under way).
function M.wait(ev)
  local task = M.task()
  if task then task:_park(ev) end
end

--- Wakes every task waiting for the event.
function M.signal(ev)
  local waiters = ev.waiters
  ev.waiters = {}
  for _, task in ipairs(waiters) do task:_unpark(ev) end
end

return M
