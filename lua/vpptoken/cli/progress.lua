--- The command line's status line: on a terminal, one line on stderr that says what slow work is doing
-- ("synced 120/300, 2 failed", "waiting 3 s before attempt 2 of 4: cannot connect"), redrawn in place (carriage
-- return, then clear to the end of the line), never as wide as the terminal (so it cannot wrap, and a carriage
-- return always reaches its start). It shows once the work has taken DELAY seconds (time at a prompt not counted)
-- and is erased before anything else is written: output, a message, a prompt. Disabled (stderr not a terminal,
-- --quiet), it writes nothing at all.
local vpptoken = require "vpptoken"
local safe = require "vpptoken.text"
local compat = require "vpptoken.compat"

local M = {}

-- Seconds of work before the line shows: quick commands never flash one.
M.DELAY = 1
-- Seconds between two redraws of the same line (a list yields thousands of tokens a second).
M.REDRAW = 0.1
-- The width when stderr reports none and COLUMNS is unset.
M.DEFAULT_WIDTH = 80
-- What ends a line cut to the width.
M.CUT = "..."

-- Why a call is tried again, in words, by the library's transport codes and HTTP statuses.
local REASONS = {
  COULDNT_CONNECT = "cannot connect", COULDNT_RESOLVE_HOST = "host not found", OPERATION_TIMEDOUT = "timed out",
  SEND_ERROR = "connection broken", RECV_ERROR = "connection broken", GOT_NOTHING = "no answer",
  PARTIAL_FILE = "answer cut short", HTTP2 = "HTTP/2 error", HTTP2_STREAM = "HTTP/2 error",
  SSL_CONNECT_ERROR = "TLS handshake failed",
}
local STATUSES = { [429] = "throttled", [503] = "service unavailable", [504] = "gateway timeout" }

--- The words for an on_retry info: why the call is tried again.
function M.retry_reason(info)
  if info.status then
    return (STATUSES[info.status] and (STATUSES[info.status] .. ", ") or "") .. "HTTP " .. tostring(info.status)
  end
  return REASONS[info.code] or tostring(info.code or info.kind or "failed")
end

--- The status line text for an on_retry info.
function M.retry_text(info)
  return string.format("waiting %d s before attempt %d of %d: %s", math.ceil(info.delay or 0), info.attempt or 0,
    info.max_attempts or 0, M.retry_reason(info))
end

--- The columns to fit the line into: stderr's terminal, else $COLUMNS, else DEFAULT_WIDTH.
function M.width()
  local term = vpptoken.terminal(2)
  local cols = term and term.columns or tonumber(os.getenv("COLUMNS") or "")
  if cols and cols >= 1 then return math.floor(cols) end
  return M.DEFAULT_WIDTH
end

--- text (made printable) in at most `max` characters, cut with CUT at the end when longer.
function M.fit(text, max)
  text = safe.printable(text)
  if max < 1 then return "" end
  local n = compat.utf8_len(text) or #text
  if n <= max then return text end
  if max <= #M.CUT then return M.CUT:sub(1, max) end
  return text:sub(1, (compat.utf8_offset(text, max - #M.CUT + 1) or (max - #M.CUT + 1)) - 1) .. M.CUT
end

-- The one line drawn now, if any: erased before other output by M.clear() from anywhere in the CLI.
local drawn_by

local Line = {}
Line.__index = Line

--- A status line. opts: enabled (boolean), write (function(text), default stderr), clock (default monotonic),
-- width (function() -> columns, default M.width).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({ enabled = opts.enabled and true or false, clock = opts.clock or vpptoken.monotonic,
    width = opts.width or M.width, text = nil, wait = nil, shown = false, paused_at = nil, paused = 0,
    last_draw = -math.huge }, Line)
  self.write = opts.write or function(s)
    io.stderr:write(s)
    io.stderr:flush()
  end
  self.start = self.clock()
  return self
end

--- Seconds of work so far, time at prompts left out.
function Line:elapsed()
  local now = self.paused_at or self.clock()
  return now - self.start - self.paused
end

function Line:draw(force)
  if not self.enabled or self.paused_at then return end
  local text = self.wait or self.text
  if not text then return end
  if not force and not self.shown and self:elapsed() < M.DELAY then return end
  local now = self.clock()
  if not force and now - self.last_draw < M.REDRAW then return end
  self.last_draw = now
  local line = self.wait and text or string.format("%s (%d s)", text, math.floor(self:elapsed()))
  -- One column short of the width: a line as wide as the terminal may leave the cursor on the next row.
  self.write("\r\27[K" .. M.fit(line, self:width() - 1))
  self.shown = true
  drawn_by = self
end

--- Sets what the work is doing now; redrawn when the line is due.
function Line:set(text)
  self.text, self.wait = text, nil
  self:draw(false)
end

--- Redraws the current text (the seconds go on); ends a retry's wait text. `waiting`: during a wait before a
-- retry, the seconds left of it, which the wait text counts down.
function Line:tick(waiting)
  if waiting and self.wait_info then
    local info = setmetatable({ delay = waiting }, { __index = self.wait_info })
    self.wait = M.retry_text(info)
    self:draw(self.shown)
    return
  end
  if self.wait then
    self.wait, self.wait_info = nil, nil
    self.last_draw = -math.huge
  end
  self:draw(false)
end

--- Shows a wait before a retry at once, when it or the work so far is long enough to notice.
function Line:retry(info)
  self.wait, self.wait_info = M.retry_text(info), info
  self:draw((info.delay or 0) >= M.DELAY or self:elapsed() >= M.DELAY)
end

--- Erases the line if it is on the screen (before any other output).
function Line:clear()
  if self.shown then
    self.write("\r\27[K")
    self.shown = false
    self.last_draw = -math.huge
  end
  if drawn_by == self then drawn_by = nil end
end

--- Erases the line and stops the clock (a prompt: the time the user takes is not the work's).
function Line:pause()
  self:clear()
  if not self.paused_at then self.paused_at = self.clock() end
end

--- Starts the clock again after pause.
function Line:resume()
  if self.paused_at then
    self.paused = self.paused + (self.clock() - self.paused_at)
    self.paused_at = nil
  end
end

--- Erases whichever status line is on the screen (output.message and output.write call this first).
function M.clear()
  if drawn_by then drawn_by:clear() end
end

return M
