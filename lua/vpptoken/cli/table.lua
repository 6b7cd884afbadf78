--- The vpptoken command line: tables for people, fitted to a width. What an admin reads keeps its room and no word
-- is broken: when the natural table is too wide, columns switch to their compact form, long enum values to their
-- short form (named in a legend under the table), optional columns go (lowest `optional` first), long values wrap
-- at word boundaries (spaces, and after '@', '.' and '-') into at most FIT_LINES lines, then into more, and only as
-- a last resort is a value cut, ending in "…". Colour (an SGR code around a cell's text) is added
-- after the layout: it takes no room.
local safe = require "vpptoken.text"
local compat = require "vpptoken.compat"

local M = {}

M.ELLIPSIS = "…"
-- A wrapped value takes at most this many lines; what is left is cut (a server's 100,000-character name stays a
-- few lines).
M.MAX_LINES = 4
-- The lines a wrapped value takes before any value takes more.
M.FIT_LINES = 2
M.GAP = 2

M.COLOURS = { red = "\27[31m", yellow = "\27[33m" }
local RESET = "\27[0m"

-- A string as a list of characters (UTF-8 sequences; bytes when it is not valid UTF-8), at most `limit` of them.
local function chars(s, limit)
  local out = {}
  if compat.utf8_len(s) then
    for c in compat.utf8_chars(s) do
      if #out >= limit then break end
      out[#out + 1] = c
    end
  else
    for i = 1, math.min(#s, limit) do out[i] = s:sub(i, i) end
  end
  return out
end

local function width(s)
  return compat.utf8_len(s) or #s
end
M.width = width

--- s in at most w columns: as it is, or cut to w - 1 characters and "…".
function M.cut(s, w)
  if width(s) <= w then return s end
  if w <= 0 then return "" end
  return table.concat(chars(s, w - 1)) .. M.ELLIPSIS
end

-- Where a word may break, after the character: "apps2@" / "woodgrovebank.com", "woodgrovebank." / "com".
local BREAK_AFTER = { ["@"] = true, ["."] = true, ["-"] = true }
local PIECE = "[^@%.%-]*[@%.%-]?"

--- s as lines of at most w columns (at most max_lines of them, the last ending in "…" when text is left). Lines end
-- at spaces, else after a break character; a piece longer than w (no break fits) is the only thing split anywhere.
function M.wrap(s, w, max_lines)
  max_lines = max_lines or M.MAX_LINES
  if width(s) <= w then return { s } end
  if w <= 1 then return { M.cut(s, w) } end
  local limit = (w + 1) * max_lines + 1
  local cs = chars(s, limit)
  local more = width(s) > #cs
  local lines, i, n = {}, 1, #cs
  while i <= n and #lines < max_lines do
    if n - i + 1 <= w then
      lines[#lines + 1] = table.concat(cs, "", i, n)
      i = n + 1
      break
    end
    local stop, after
    for j = i + w, i + 1, -1 do -- the last space that ends a line of at most w (the space is dropped)
      if cs[j] == " " then stop, after = j - 1, j + 1 break end
    end
    if not stop then -- else after the last '@' (an address breaks between its user and its domain), else after
      for j = i + w - 1, i, -1 do -- the last break character
        if cs[j] == "@" then stop, after = j, j + 1 break end
      end
    end
    if not stop then
      for j = i + w - 1, i, -1 do
        if BREAK_AFTER[cs[j]] then stop, after = j, j + 1 break end
      end
    end
    if not stop then stop, after = i + w - 1, i + w end
    lines[#lines + 1] = safe.rtrim(table.concat(cs, "", i, stop))
    i = after
    while cs[i] == " " do i = i + 1 end
  end
  if i <= n or more then
    local last = lines[#lines]
    if width(last) >= w then last = table.concat(chars(last, w - 1)) end
    lines[#lines] = last .. M.ELLIPSIS
  end
  return lines
end

-- The longest piece of s that wrapping keeps on one line (between break opportunities), in columns.
local function longest_word(s)
  local best = 0
  for word in s:gmatch("[^ ]+") do
    for piece in word:gmatch(PIECE) do best = math.max(best, width(piece)) end
  end
  return best
end
M.longest_word = longest_word

-- The least width, from `lo` (at least the longest piece) up to `hi` (the natural width), at which every value in
-- `texts` wraps into at most `lines` lines without breaking a word. Binary search: wider never takes more lines.
local function width_for_lines(texts, lo, hi, lines)
  local function ok(w)
    for _, s in ipairs(texts) do
      if width(s) > w and #M.wrap(s, w, lines + 1) > lines then return false end
    end
    return true
  end
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if ok(mid) then hi = mid else lo = mid + 1 end
  end
  return hi
end

--- The lines of a table (a string ending in "\n"). rows: tables of values (strings; shown through
-- vpptoken.text.printable). cols: a list of { key, title, min = columns it may shrink to, wrap = true (may wrap at
-- word boundaries), optional = n (may be dropped, lowest n first), short = key of a compact form and short_title
-- its title, abbrev = { [word] = short form } (long words of the values shown short, with a legend under the table),
-- keep = true (cut only as the very last resort), colour = function(row) -> "red" | "yellow" | nil }.
-- opts: width (nil: no limit, nothing wraps or is cut), colour (add the colours).
function M.render(rows, cols, opts)
  opts = opts or {}
  local max_width = opts.width
  local shown = {}
  for i, r in ipairs(rows) do
    shown[i] = {}
    for _, c in ipairs(cols) do
      for _, k in ipairs{ c.key, c.short } do
        if r[k] ~= nil then shown[i][k] = safe.printable(tostring(r[k])) end
      end
    end
  end
  -- the columns as laid out: { key, title, col, abbrev } (the compact form switches key and title)
  local layout = {}
  for i, c in ipairs(cols) do layout[i] = { key = c.key, title = safe.printable(c.title), col = c } end
  local function text_of(l, r)
    local v = r[l.key] or ""
    return l.abbrev and (v:gsub("%w+", l.abbrev)) or v
  end
  local function natural(l)
    local n = width(l.title)
    for _, r in ipairs(shown) do n = math.max(n, width(text_of(l, r))) end
    return n
  end
  local function total(ws)
    local t = M.GAP * (#layout - 1)
    for i = 1, #layout do t = t + ws[i] end
    return t
  end
  local function naturals()
    local ws = {}
    for i, l in ipairs(layout) do ws[i] = natural(l) end
    return ws
  end
  local w = naturals()
  local floors
  -- per column, the width it may shrink to at each level: 1 wrapping whole words into FIT_LINES lines, 2 wrapping
  -- whole words into up to MAX_LINES lines, 3 cutting, 4 cutting the kept ones
  local function compute_floors()
    floors = {}
    for i, l in ipairs(layout) do
      local c = l.col
      local min = math.min(w[i], c.min or 8)
      if c.wrap then
        local texts = { l.title }
        for _, r in ipairs(shown) do texts[#texts + 1] = text_of(l, r) end
        local word = 0
        for _, s in ipairs(texts) do word = math.max(word, longest_word(s)) end
        word = math.min(w[i], math.max(min, word))
        floors[i] = { width_for_lines(texts, word, w[i], M.FIT_LINES),
                      width_for_lines(texts, word, w[i], M.MAX_LINES), min, min }
      else
        floors[i] = { w[i], w[i], c.keep and w[i] or min, min }
      end
    end
  end
  if max_width then
    for _, l in ipairs(layout) do -- compact forms, in column order, while too wide
      if total(w) <= max_width then break end
      if l.col.short then
        l.key, l.title = l.col.short, safe.printable(l.col.short_title or l.col.title)
        w = naturals()
      end
    end
    for _, l in ipairs(layout) do -- then long enum values take their short forms
      if total(w) <= max_width then break end
      if l.col.abbrev then
        l.abbrev = l.col.abbrev
        w = naturals()
      end
    end
    while total(w) > max_width do -- then optional columns, lowest first
      local drop
      for i, l in ipairs(layout) do
        if l.col.optional and (not drop or l.col.optional < layout[drop].col.optional) then drop = i end
      end
      if not drop then break end
      table.remove(layout, drop)
      w = naturals()
    end
    compute_floors()
    -- wrapping columns give room in their `give` order (FIT_LINES first, then more lines); then the others are cut,
    -- widest first; the kept ones last
    local order = {}
    for i, l in ipairs(layout) do if l.col.wrap then order[#order + 1] = i end end
    table.sort(order, function(x, y)
      local gx, gy = layout[x].col.give or math.huge, layout[y].col.give or math.huge
      if gx ~= gy then return gx < gy end
      return x < y
    end)
    -- every row within FIT_LINES when the wrapping columns can make it so; else each gives what it can in turn
    local fit = M.GAP * (#layout - 1)
    for i = 1, #layout do fit = fit + floors[i][1] end
    for level = fit <= max_width and 1 or 2, 2 do
      for _, i in ipairs(order) do
        local excess = total(w) - max_width
        if excess <= 0 then break end
        w[i] = w[i] - math.min(excess, math.max(0, w[i] - floors[i][level]))
      end
    end
    for level = 3, 4 do
      local excess = total(w) - max_width
      while excess > 0 do
        local best
        for i = 1, #layout do
          if w[i] > floors[i][level] and (not best or w[i] > w[best]) then best = i end
        end
        if not best then break end
        w[best] = w[best] - 1
        excess = excess - 1
      end
    end
  end
  local function cell_lines(l, i, text)
    if not max_width or width(text) <= w[i] then return { text } end
    if l.col.wrap then return M.wrap(text, w[i]) end
    return { M.cut(text, w[i]) }
  end
  local out = {}
  local function emit(cells, colours)
    local height = 1
    for _, c in ipairs(cells) do height = math.max(height, #c) end
    for h = 1, height do
      local parts = {}
      for i = 1, #layout do
        local s = cells[i][h] or ""
        local pad = i < #layout and (" "):rep(math.max(0, w[i] - width(s))) or ""
        if colours and colours[i] and s ~= "" then s = colours[i] .. s .. RESET end
        parts[i] = s .. pad
      end
      out[#out + 1] = safe.rtrim(table.concat(parts, (" "):rep(M.GAP)))
    end
  end
  local header = {}
  for i, l in ipairs(layout) do header[i] = cell_lines(l, i, l.title) end
  emit(header)
  local used, seen = {}, {} -- the values shown in their short forms, for the legend
  for ri, r in ipairs(shown) do
    local cells, colours = {}, nil
    for i, l in ipairs(layout) do
      if l.abbrev then
        for word in (r[l.key] or ""):gmatch("%w+") do
          if l.abbrev[word] and not seen[word] then
            seen[word] = true
            used[#used + 1] = word
          end
        end
      end
      cells[i] = cell_lines(l, i, text_of(l, r))
      local name = opts.colour and l.col.colour and l.col.colour(rows[ri])
      if name then
        colours = colours or {}
        colours[i] = M.COLOURS[name]
      end
    end
    emit(cells, colours)
  end
  if #used > 0 then
    local legend = {}
    for _, l in ipairs(layout) do
      for _, v in ipairs(used) do
        if l.abbrev and l.abbrev[v] and seen[v] then
          legend[#legend + 1] = l.abbrev[v] .. " = " .. v
          seen[v] = nil
        end
      end
    end
    local line = table.concat(legend, ", ")
    for _, piece in ipairs(M.wrap(line, max_width or width(line), M.MAX_LINES)) do out[#out + 1] = piece end
  end
  return table.concat(out, "\n") .. "\n"
end

return M
