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

return M
