--- vpptoken.async's driver for cqueues (lua-cqueues): each timer and each watch a coroutine of the controller,
-- waiting in cqueues.poll with a condition that cancel/unwatch signal.
local M = {}

--- The driver over opts.controller (a cqueues controller).
function M.new(opts)
  local cqueues = require "cqueues"
  local condition = require "cqueues.condition"
  local cq = opts.controller
  if cq == nil then error("vpptoken.async.new: loop \"cqueues\" needs controller (a cqueues controller)", 4) end
  return {
    timer = function(seconds, fn)
      local h = { cond = condition.new() }
      cq:wrap(function()
        if h.stopped then return end -- cancelled before it first ran: a signal then would be lost
        cqueues.poll(h.cond, seconds)
        if not h.stopped then fn() end
      end)
      return h
    end,
    cancel = function(h)
      h.stopped = true
      h.cond:signal()
    end,
    watch = function(fd, fn)
      local h = { cond = condition.new() }
      local pollable = { pollfd = function() return fd end, events = function() return "r" end }
      cq:wrap(function()
        while not h.stopped do
          cqueues.poll(pollable, h.cond)
          if not h.stopped then fn() end
        end
      end)
      return h
    end,
    unwatch = function(h)
      h.stopped = true
      h.cond:signal()
    end,
    run = function() return assert(cq:loop()) end,
  }
end

return M
