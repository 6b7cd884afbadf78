-- Clock, ids, dates and URL coding for the sandbox.
local util = {}

-- vpptoken_sandbox.native exists when running inside the C program (clock_gettime); plain Lua
-- falls back to os.time().
local has_native, native = pcall(require, "vpptoken_sandbox.native")

-- Raises the refusal of something the sandbox was started with (a bad --data, --apps or --journal file, a bad
-- --config section): the C side prints "vpptoken-sandbox: MESSAGE" as one line and exits 2, as for a bad option.
-- Any other error while starting is a bug and keeps its traceback.
function util.refuse(message)
  error({ refused = true, message = message }, 0)
end

function util.now()
  if has_native then return native.now() end
  return os.time() + 0.0
end

function util.guid()
  local r = math.random
  return string.format("%08x-%04x-4%03x-%04x-%012x", r(0, 0xffffffff), r(0, 0xffff), r(0, 0xfff),
                       r(0, 0x3fff) | 0x8000, r(0, 0xffffffffffff))
end

-- Lower-case hex of a byte string, and back (nil for anything but an even number of hex digits).
function util.hex(raw)
  return (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

function util.unhex(s)
  if not s:match("^%x*$") or #s % 2 ~= 0 then return nil end
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

-- DateTimeOffset in UTC with seven fraction digits: 2025-02-13T10:17:05.1234567Z
function util.datetime(t)
  local sec = math.floor(t)
  local frac = math.floor((t - sec) * 1e7 + 0.5)
  if frac >= 10000000 then sec, frac = sec + 1, 0 end
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%07dZ", frac)
end

-- The innerError date: UTC without zone or fraction, like 2025-02-13T10:17:05
function util.error_date(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t))
end

function util.url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Percent-encodes a query value; keeps characters OData readers expect to see as they are.
function util.url_encode(s)
  return (s:gsub("[^%w%-%._~$,'()*!:@/]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- s without white space at either end, in time linear in #s (gsub("%s+$") and "(.-)%s*$" go back over every run
-- of spaces inside s: quadratic on a header of a million spaces).
function util.trim(s)
  local first = s:find("%S")
  if not first then return "" end
  local last = #s
  while s:find("^%s", last) do last = last - 1 end
  return s:sub(first, last)
end

function util.copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The most read of a file the person starting the sandbox names (--config, --apps and the certificates they name).
util.MAX_FILE_BYTES = 16 * 1024 * 1024

-- A whole file's text, or nil and the reason (it cannot be opened, or it is over util.MAX_FILE_BYTES).
function util.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read(util.MAX_FILE_BYTES + 1) or ""
  f:close()
  if #text > util.MAX_FILE_BYTES then
    return nil, path .. ": over " .. (util.MAX_FILE_BYTES // (1024 * 1024)) .. " MiB"
  end
  return text
end

return util
