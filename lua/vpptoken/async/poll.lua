--- vpptoken.async's own loop (loop = "poll"): timers and watches kept here, descriptors waited on with poll(2)
-- (core.poll). run(until) returns when nothing is left to wait for, or when until() says so; on_interrupt (if given)
-- is called after a signal (SIGINT once core.catch_interrupt is on) broke a wait.
local core = require "vpptoken.core"

local M = {}

function M.new(opts)
  local timers, watches = {}, {}
  local d = {}
  function d.timer(seconds, fn)
    local h = { at = core.monotonic() + seconds, fn = fn }
    timers[h] = true
    return h
  end
  function d.cancel(h) timers[h] = nil end
  function d.watch(fd, fn)
    local h = { fd = fd, fn = fn }
    watches[h] = true
    return h
  end
  function d.unwatch(h) watches[h] = nil end
  function d.run(stop)
    while (next(timers) or next(watches)) and not (stop and stop()) do
      local fds, soonest = {}, nil
      for h in pairs(watches) do fds[#fds + 1] = h.fd end
      for h in pairs(timers) do
        if not soonest or h.at < soonest then soonest = h.at end
      end
      -- a signal that came just before poll() does not break it: with on_interrupt, no wait is longer than 0.2 s
      local left = soonest and math.max(0, soonest - core.monotonic()) or 60
      if opts.on_interrupt and core.interrupted() then opts.on_interrupt() end
      local ready = core.poll(fds, math.min(left, opts.on_interrupt and 0.2 or 60))
      if opts.on_interrupt and core.interrupted() then opts.on_interrupt() end
      for _, h in ipairs(M.sorted(watches)) do
        if watches[h] and ready[h.fd] then h.fn() end
      end
      local now = core.monotonic()
      for _, h in ipairs(M.sorted(timers)) do
        if timers[h] and h.at <= now then
          timers[h] = nil
          h.fn()
        end
      end
    end
  end
  return d
end

-- The handles of a set as a list (the set may change while they are called).
function M.sorted(set)
  local out = {}
  for h in pairs(set) do out[#out + 1] = h end
  return out
end

return M
