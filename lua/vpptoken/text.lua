--- Text that is safe to show in a message or on a terminal. Runs without the C core too (tools/manpage.lua loads
-- the CLI parser, which uses it, without the core: vpptoken.compat then checks UTF-8 with Lua 5.4's utf8.len).
local compat = require "vpptoken.compat"

local M = {}

--- s as valid UTF-8: every byte that does not start a valid sequence (utf8.len's strict check: no overlong forms,
-- no surrogates, nothing above U+10FFFF) goes through bad(byte), the rest is kept as it is.
function M.valid_utf8(s, bad)
  local out, from = {}, 1
  while true do
    local ok, at = compat.utf8_len(s, from)
    if ok then break end
    out[#out + 1] = s:sub(from, at - 1)
    out[#out + 1] = bad(s:byte(at))
    from = at + 1
  end
  if from == 1 then return s end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

local function hex_byte(b) return string.format("\\x%02x", b) end

--- s with every C1 control character (U+0080-U+009F, C2 80-9F in UTF-8) as a \u0080-style escape.
function M.escape_c1(s)
  return (s:gsub("\194([\128-\159])", function(second) return string.format("\\u%04x", second:byte()) end))
end

-- Unicode's explicit direction controls (U+202A-U+202E, U+2066-U+2069): they reorder what a terminal shows
-- ("Trojan Source"), so text from a server shows them as escapes too.
local BIDI = "\226\128[\170-\174]"
local ISOLATES = "\226\129[\166-\169]"

local function escape_bidi(s)
  return (s:gsub(BIDI, function(c) return string.format("\\u%04x", compat.utf8_codepoint(c)) end)
           :gsub(ISOLATES, function(c) return string.format("\\u%04x", compat.utf8_codepoint(c)) end))
end

--- Text safe to print on a terminal: every control character (C0, DEL, and C1 U+0080-U+009F) is shown as an
-- escape (\x1b, \u009b), and so are every byte that is not valid UTF-8 (a lone 0x9b is CSI to an 8-bit terminal)
-- and the direction controls. `keep`: a Lua pattern of control characters to leave as they are (CSV keeps tab, CR
-- and LF, which its quoting carries).
function M.printable(s, keep)
  s = M.valid_utf8(tostring(s), hex_byte):gsub("[%z\1-\31\127]", function(c)
    if keep and c:find(keep) then return c end
    return hex_byte(c:byte())
  end)
  return escape_bidi(M.escape_c1(s))
end

--- s without white space at either end, in time linear in #s (the pattern "^%s*(.-)%s*$" backtracks over every
-- run of spaces inside, which a server's megabyte of spaces turns into hours).
function M.trim(s)
  local first = s:find("%S")
  if not first then return "" end
  return M.rtrim(s):sub(first)
end

--- s without white space at its end, in linear time.
function M.rtrim(s)
  local last = #s
  while last > 0 and s:find("^%s", last) do last = last - 1 end
  return s:sub(1, last)
end

-- A value longer than this is never echoed in a message: that is what a secret pasted in the wrong place looks like
-- (a token file, a client secret, an access token); a mistyped word or number is shorter.
M.ECHO_MAX = 32

--- A value the user gave, for a message: 'value' (printable) when short (at most `max` bytes, default ECHO_MAX),
-- otherwise only its length.
function M.quoted(v, max)
  v = tostring(v)
  if #v > (max or M.ECHO_MAX) then return string.format("(a value of %d characters, not shown)", #v) end
  return "'" .. M.printable(v) .. "'"
end

return M
