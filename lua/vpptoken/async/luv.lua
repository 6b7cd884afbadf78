--- vpptoken.async's driver for luv (lua-luv; Neovim's vim.uv): a uv timer per timer, a uv poll per watch.
local M = {}

--- The driver over opts.uv (default require "luv"): its default loop.
function M.new(opts)
  local uv = opts.uv or require "luv"
  local function close(h)
    if not h:is_closing() then h:close() end
  end
  return {
    timer = function(seconds, fn)
      local t = uv.new_timer()
      t:start(math.max(0, math.ceil(seconds * 1000)), 0, function()
        close(t)
        fn()
      end)
      return t
    end,
    cancel = close,
    watch = function(fd, fn)
      local p = uv.new_poll(fd)
      p:start("r", function() fn() end)
      return p
    end,
    unwatch = close,
    run = function() return uv.run() end,
  }
end

return M
