--- The few calls of Lua 5.3/5.4 the library uses, on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT alike. Private: it reads the
-- interpreter's functions and never sets a global. Where an interpreter has no integer subtype (5.1, 5.2, LuaJIT)
-- a whole number counts as an integer. Pure Lua but for utf8_len (the C core's strict check when it can be
-- loaded, else Lua 5.4's utf8.len, which is the same check: tools/manpage.lua runs on 5.4 without the core).
local M = {}

local floor, huge = math.floor, math.huge

M.unpack = table.unpack or unpack -- luacheck: ignore 113 (Lua 5.1's global unpack)

--- package.searchpath (5.2+): the first file of `path`'s templates that opens for module `name`, or nil.
function M.searchpath(name, path)
  if package.searchpath then return package.searchpath(name, path) end
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate, "r")
    if f then
      f:close()
      return candidate
    end
  end
  return nil
end

--- table.pack: the arguments in a table with their count in n.
M.pack = table.pack or function(...) return { n = select("#", ...), ... } end

--- math.type: "integer", "float" or nil (not a number). Below 5.3 a whole number in range is "integer".
M.math_type = math.type or function(v)
  if type(v) ~= "number" then return nil end
  if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then return "integer" end
  return "float"
end

--- math.tointeger as Lua 5.4 has it: v (or the number a string v converts to) as an integer when it is a whole
-- number in range, else nil.
function M.tointeger(v)
  if type(v) == "string" then v = tonumber(v) end
  if type(v) ~= "number" then return nil end
  if math.tointeger then return math.tointeger(v) end
  if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 and v ~= huge then return v end
  return nil
end

--- table.move(a1, f, e, t [, a2]).
M.move = table.move or function(a1, f, e, t, a2)
  a2 = a2 or a1
  for i = 0, e - f do a2[t + i] = a1[f + i] end
  return a2
end

--- os.execute(command) with Lua 5.2's results on every Lua: true | nil, "exit" | "signal", code. (5.1 and LuaJIT
-- return the wait status as a number.)
function M.execute(command)
  local ok, how, code = os.execute(command)
  if type(ok) ~= "number" then return ok, how, code end
  if ok % 256 == 0 then
    code = math.floor(ok / 256) % 256
    if code == 0 then return true, "exit", 0 end
    return nil, "exit", code
  end
  return nil, "signal", ok % 128
end

--- Whether a coroutine can yield from inside pcall and C calls: Lua 5.2+ and LuaJIT can, PUC Lua 5.1 cannot (there
-- the library's coroutine-driven runs fall back to blocking calls).
M.yield_across_pcall = (function()
  local co = coroutine.create(function() pcall(coroutine.yield) end)
  coroutine.resume(co)
  return coroutine.status(co) == "suspended"
end)()

local core_ok, core = pcall(require, "vpptoken.core")
--- utf8.len(s [, i]) of Lua 5.4 (strict: no overlong forms, no surrogates, nothing above U+10FFFF): the count, or
-- nil and the position of the first byte that does not start a valid sequence.
M.utf8_len = core_ok and core.utf8_len or utf8 and utf8.len or function()
  error("vpptoken: checking UTF-8 needs the C core (vpptoken.core) below Lua 5.3", 2)
end

--- The byte position where the n-th character (n >= 1) of valid UTF-8 text s starts (#s + 1 just past its end),
-- or nil when s has fewer characters.
function M.utf8_offset(s, n)
  local seen = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 128 or b >= 192 then
      seen = seen + 1
      if seen == n then return i end
    end
  end
  if seen + 1 == n then return #s + 1 end
  return nil
end

--- An iterator over the characters (as strings) of valid UTF-8 text s.
function M.utf8_chars(s) return s:gmatch("[^\128-\191][\128-\191]*") end

--- The code point of one character of valid UTF-8 text.
function M.utf8_codepoint(c)
  local b1, b2, b3, b4 = c:byte(1, 4)
  if b1 < 128 then return b1 end
  if b1 < 224 then return (b1 - 192) * 64 + (b2 - 128) end
  if b1 < 240 then return ((b1 - 224) * 64 + (b2 - 128)) * 64 + (b3 - 128) end
  return (((b1 - 240) * 64 + (b2 - 128)) * 64 + (b3 - 128)) * 64 + (b4 - 128)
end

return M
