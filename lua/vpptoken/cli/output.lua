--- The vpptoken command line: what it prints. Tables for people (laid out by cli/table.lua), JSON with sorted keys
-- and RFC 4180 CSV for programs, secrets redacted unless asked for.
local vpptoken = require "vpptoken"
local progress = require "vpptoken.cli.progress"
local safe = require "vpptoken.text"
local tbl = require "vpptoken.cli.table"
local width = tbl.width

local M = {}

M.REDACTED = "<redacted>"
-- `get`'s name column is as wide as its longest name up to this; a longer name (from a server) is not padded to.
M.RECORD_NAME_MAX = 40
M.printable, M.quoted, M.ECHO_MAX = safe.printable, safe.quoted, safe.ECHO_MAX
-- An array element as text: JSON's null (lua-cjson's null, kept in its place inside arrays) is empty.
local NULL = require("cjson.safe").null
local compat = require "vpptoken.compat"
local function element_text(x)
  if x == NULL then return "" end
  return type(x) == "table" and "{...}" or tostring(x)
end

--- Set as the metatable of a table that is a JSON object even when empty.
M.OBJECT = {}

--- Whether file descriptor fd (0 stdin, 1 stdout, 2 stderr) is a terminal.
function M.isatty(fd)
  return vpptoken.terminal(fd) ~= nil
end

--- The width to fit text for file descriptor fd (default 1, stdout) into: $COLUMNS when set, else the terminal's
-- own width when fd is a terminal, else 80.
function M.terminal_width(fd)
  local cols = tonumber(os.getenv("COLUMNS") or "")
  if cols and cols >= 20 and cols < math.huge then return math.floor(cols) end
  local term = vpptoken.terminal(fd or 1)
  if term and term.columns and term.columns >= 20 then return term.columns end
  return 80
end

--- A deep copy of v where every string under a key named "token" is "<redacted>" (unless show is true).
function M.redact(v, show)
  if show or type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    if k == "token" and type(x) == "string" then out[k] = M.REDACTED else out[k] = M.redact(x) end
  end
  return out
end

-- JSON ---------------------------------------------------------------------------------------------------------

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
                  ["\t"] = "\\t" }

local function replacement() return "\239\191\189" end

-- A JSON string: valid UTF-8 (invalid sequences become U+FFFD), control characters (C0, DEL, C1) escaped.
local function json_string(s)
  s = safe.valid_utf8(s, replacement):gsub('[%c"\\]',
    function(c) return ESCAPES[c] or string.format("\\u%04x", c:byte()) end)
  return '"' .. safe.escape_c1(s) .. '"'
end

local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if compat.math_type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #t, n
end

local function encode(v, indent, out)
  local ty = type(v)
  if ty == "string" then
    out[#out + 1] = json_string(v)
  elseif ty == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif compat.math_type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    else -- the shortest text that reads back as the same number (1e300 too, which has no integer form)
      local text
      for digits = 14, 17 do
        text = string.format("%." .. digits .. "g", v)
        if tonumber(text) == v then break end
      end
      out[#out + 1] = text
    end
  elseif ty == "boolean" then
    out[#out + 1] = tostring(v)
  elseif ty == "table" then
    local inner = indent .. "  "
    local arr, n = is_array(v)
    if n == 0 then
      out[#out + 1] = getmetatable(v) == M.OBJECT and "{}" or "[]"
      return
    end
    if arr then
      out[#out + 1] = "[\n"
      for i = 1, #v do
        out[#out + 1] = inner
        encode(v[i], inner, out)
        out[#out + 1] = i < #v and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{\n"
      for i, k in ipairs(keys) do
        out[#out + 1] = inner .. json_string(k) .. ": "
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        encode(x, inner, out)
        out[#out + 1] = i < #keys and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "}"
    end
  else
    out[#out + 1] = "null"
  end
end

--- One JSON document, keys sorted, two-space indent, ending with a newline.
function M.json(v)
  local out = {}
  encode(v, "", out)
  out[#out + 1] = "\n"
  return table.concat(out)
end

-- CSV ----------------------------------------------------------------------------------------------------------

-- What a spreadsheet runs as a formula when a cell starts with it (OWASP, CSV injection).
local FORMULA_START = "^[=+%-@\t\r]"

local function csv_field(v)
  if v == nil then return "" end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = element_text(x) end
    v = table.concat(parts, ";")
  end
  local s = tostring(v)
  -- A text cell that a spreadsheet would run gets a leading ' (numbers, such as a negative days_left, stay as
  -- they are: their text cannot hold a formula). Control characters other than tab, CR and LF (which quoting
  -- keeps) are shown as escapes: a CSV file is also read on a terminal.
  if type(v) == "string" then
    s = safe.printable(s, "[\t\r\n]")
    if s:find(FORMULA_START) then s = "'" .. s end
  end
  if s:find('[",\r\n]') or s:match("^%s") or s:match("%s$") then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- RFC 4180 CSV: a header line of `columns`, then one line per row (fields quoted when needed), CRLF endings.
-- A text field starting with =, +, -, @, tab or CR gets a leading ' so that a spreadsheet shows it as text.
function M.csv(rows, columns)
  local lines = { {} }
  for i, c in ipairs(columns) do lines[1][i] = csv_field(c) end
  for r, row in ipairs(rows) do
    local line = {}
    for i, c in ipairs(columns) do line[i] = csv_field(row[c]) end
    lines[r + 1] = line
  end
  local out = {}
  for i, l in ipairs(lines) do out[i] = table.concat(l, ",") end
  return table.concat(out, "\r\n") .. "\r\n"
end

--- "2027-05-26 (412 days left)": a DateTimeOffset as a local date, with the days left for expiry dates
-- (with_days true; "short": "2027-05-26 (412 d)"), else with the time.
function M.date(text, with_days)
  if type(text) ~= "string" then return "" end
  local t = vpptoken.time.parse(text)
  if not t then return text end
  local s = os.date("%Y-%m-%d", math.floor(t))
  if not with_days then return os.date("%Y-%m-%d %H:%M", math.floor(t)) end
  local days = vpptoken.days_left{ expirationDateTime = text }
  if days == nil then return s end
  if with_days == "short" then return days > 0 and string.format("%s (%d d)", s, days) or (s .. " (expired)") end
  if days > 0 then return string.format("%s (%d day%s left)", s, days, days == 1 and "" or "s") end
  return string.format("%s (expired)", s)
end

M.DATE_FIELDS = { expirationDateTime = "expiry", lastSyncDateTime = "date", lastModifiedDateTime = "date" }

--- A token's fields as display text (dates local, lists joined, the token redacted unless show_secrets).
function M.display(tok, show_secrets)
  local out = {}
  for k, v in pairs(tok) do
    if k == "token" and type(v) == "string" and not show_secrets then
      out[k] = M.REDACTED
    elseif M.DATE_FIELDS[k] then
      out[k] = M.date(v, M.DATE_FIELDS[k] == "expiry")
    elseif type(v) == "table" then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = element_text(x) end
      out[k] = table.concat(parts, ", ")
    else
      out[k] = tostring(v)
    end
  end
  return out
end

--- "name   value" lines for one token, names sorted (id first).
function M.record(tok, show_secrets)
  local d = M.display(tok, show_secrets)
  local keys = {}
  for k in pairs(d) do if k ~= "id" and not k:match("^@") then keys[#keys + 1] = k end end
  table.sort(keys)
  if d.id then table.insert(keys, 1, "id") end
  local names, wmax = {}, 0
  for i, k in ipairs(keys) do
    names[i] = M.printable(k)
    -- a name longer than RECORD_NAME_MAX is not padded to: the padding of every line would grow with it
    if width(names[i]) <= M.RECORD_NAME_MAX then wmax = math.max(wmax, width(names[i])) end
  end
  local out = {}
  for i, k in ipairs(keys) do
    out[i] = names[i] .. (" "):rep(math.max(wmax - width(names[i]), 0) + 2) .. M.printable(d[k])
  end
  return table.concat(out, "\n") .. "\n"
end

-- The most lines fit() makes of one line of text (a server's megabyte stays a screen).
M.FIT_MAX_LINES = 20

--- text (printable) fitted to `columns` (default: the terminal's width for fd 1): each of its lines wrapped at
-- word boundaries as the tables wrap, continuation lines indented by `indent` spaces (default 2).
function M.fit(text, columns, indent)
  columns = columns or M.terminal_width(1)
  local pad = (" "):rep(indent or 2)
  local out = {}
  for line in (M.printable(text, "\n") .. "\n"):gmatch("([^\n]*)\n") do
    for i, piece in ipairs(tbl.wrap(line, math.max(columns - #pad, 10), M.FIT_MAX_LINES)) do
      out[#out + 1] = i > 1 and pad .. piece or piece
    end
  end
  return table.concat(out, "\n")
end

--- "1 token", "50 tokens": a count and a noun (a regular plural).
function M.count(n, noun)
  return string.format("%d %s%s", n, noun, n == 1 and "" or "s")
end

--- Writes to stdout (as io.write), after erasing the status line (cli/progress.lua) if one is on the screen.
function M.write(...)
  progress.clear()
  return io.write(...)
end

--- Writes one message line to stderr: "vpptoken: " and the parts (each through tostring), made printable, so a
-- server's text in an error cannot drive the terminal.
function M.message(...)
  local parts = compat.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  local line = table.concat(parts, "", 1, parts.n)
  progress.clear()
  io.stderr:write(line:match("^vpptoken: ") and "" or "vpptoken: ", M.printable(line), "\n")
end

return M
