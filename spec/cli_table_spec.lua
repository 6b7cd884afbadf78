-- The command line's table layout (vpptoken.cli.table), driven directly: what fits a width, what wraps, what is
-- cut and where the colours go.
local helper = require "helper"
local tbl = require "vpptoken.cli.table"
local vpptoken = require "vpptoken"

local function lines(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local COLS = {
  { key = "id", title = "ID", keep = true, min = 8 },
  { key = "apple", title = "APPLE ID", wrap = true, min = 12, give = 2 },
  { key = "org", title = "ORGANIZATION", wrap = true, min = 8, give = 1 },
  { key = "state", title = "STATE", min = 7, colour = function(r) return r.state ~= "valid" and "red" or nil end },
  { key = "sync", title = "SYNC", optional = 1 },
  { key = "exp", title = "EXPIRES", short = "exp_short", short_title = "EXPIRES (DAYS LEFT)", min = 10 },
}

local function row(i, org)
  return { id = string.format("%08x", i), apple = "vpp" .. i .. "@northwindtraders.com", org = org or "Contoso Ltd",
           state = i % 2 == 0 and "expired" or "valid", sync = "completed",
           exp = "2027-06-18 (200 days left)", exp_short = "2027-06-18 (200 d)" }
end

describe("a table for people", function()
  it("is as wide as its values when they fit, and never cuts", function()
    local out = lines(tbl.render({ row(1) }, COLS, { width = 200 }))
    assert.equal(2, #out)
    assert.matches("^ID%s+APPLE ID%s+ORGANIZATION%s+STATE%s+SYNC%s+EXPIRES$", out[1])
    assert.matches("2027%-06%-18 %(200 days left%)$", out[2])
  end)

  it("at 80 columns takes the compact expiry, drops the optional column, keeps the Apple ID whole", function()
    local out = lines(tbl.render({ row(1), row(2, "Contoso Holdings") }, COLS, { width = 80 }))
    for _, l in ipairs(out) do assert.is_true(helper.utf8_len(l) <= 80, l) end
    assert.matches("^ID%s+APPLE ID%s+ORGANIZATION%s+STATE%s+EXPIRES %(DAYS LEFT%)$", out[1])
    assert.matches("  vpp1@northwindtraders%.com  ", out[2])
    assert.matches("2027%-06%-18 %(200 d%)$", out[2])
    assert.not_matches("…", table.concat(out, "\n"), 1, true)
  end)

  it("keeps every row within two lines where it can, breaking an Apple ID after '@' before an organization "
    .. "takes a third line", function()
    local out = lines(tbl.render({ row(1), row(2, "Contoso International Holdings") }, COLS, { width = 84 }))
    assert.equal(5, #out) -- the header and two rows of two lines
    for _, l in ipairs(out) do assert.is_true(helper.utf8_len(l) <= 84, l) end
    assert.matches("  vpp1@  ", out[2])
    assert.matches("^%s+northwindtraders%.com$", out[3])
    assert.not_matches("…", table.concat(out, "\n"), 1, true)
  end)

  it("breaks no word: values wrap only at spaces and after '@', '.' or '-'", function()
    local cols = { { key = "id", title = "ID", keep = true, min = 8 },
                   { key = "org", title = "ORGANIZATION", wrap = true, min = 8 } }
    local value = "Northwind contoso.woodgrovebank.com"
    local text = tbl.render({ { id = "00000001", org = value } }, cols, { width = 24 })
    local pieces = {}
    for _, l in ipairs(lines(text)) do
      assert.is_true(helper.utf8_len(l) <= 24, l)
      pieces[#pieces + 1] = (l:sub(11):gsub("%s+$", ""))
    end
    table.remove(pieces, 1)
    for _, p in ipairs(pieces) do
      -- every line ends at the end of the value, before a space or after a break character
      assert.truthy(p:match("[@%.%-]$") or (value .. " "):find(p .. " ", 1, true), p)
    end
    assert.equal(value, (table.concat(pieces, " "):gsub("([@%.%-]) ", "%1")))
  end)

  it("shows a long enum value in its short form, with a legend under the table, before anything wraps", function()
    local cols = { { key = "id", title = "ID", keep = true, min = 8 },
                   { key = "org", title = "ORGANIZATION", wrap = true, min = 8 },
                   { key = "state", title = "STATE", min = 7, abbrev = { assignedToExternalMDM = "extMDM" } } }
    local rows = { { id = "00000001", org = "Woodgrove Bank", state = "assignedToExternalMDM" },
                   { id = "00000002", org = "Contoso", state = "valid" } }
    local out = lines(tbl.render(rows, cols, { width = 36 }))
    assert.same({ "ID        ORGANIZATION    STATE", "00000001  Woodgrove Bank  extMDM",
                  "00000002  Contoso         valid", "extMDM = assignedToExternalMDM" }, out)
    -- with room, the value is shown whole and no legend is needed
    out = lines(tbl.render(rows, cols, { width = 80 }))
    assert.equal(3, #out)
    assert.matches("assignedToExternalMDM$", out[2])
  end)

  it("wraps a long organization at spaces before anything is cut", function()
    local text = tbl.render({ row(3, "Contoso International Holdings, Education and Government") }, COLS,
      { width = 80 })
    assert.not_matches("…", text, 1, true)
    local joined = {}
    for _, l in ipairs(lines(text)) do
      assert.is_true(helper.utf8_len(l) <= 80, l)
      joined[#joined + 1] = l
    end
    assert.is_true(#joined > 2)
    local all = table.concat(joined, "\n") .. "\n"
    for _, words in ipairs{ "Contoso", "International", "Holdings,", "Education", "Government" } do
      assert.matches("%s" .. words .. "%f[%s]", all)
    end
  end)

  it("bounds a huge value to a few lines ending in …", function()
    local huge = ("O"):rep(100000)
    local out = lines(tbl.render({ row(4, huge) }, COLS, { width = 80 }))
    assert.is_true(#out <= 1 + tbl.MAX_LINES)
    assert.matches("O…$", table.concat(out, "\n"):match("[^\n]*O…[^\n]*"))
    for _, l in ipairs(out) do assert.is_true(helper.utf8_len(l) <= 80, l) end
  end)

  it("colours only the cells asked for, without changing the layout", function()
    local rows = { row(1), row(2) }
    local plain = tbl.render(rows, COLS, { width = 80 })
    local coloured = tbl.render(rows, COLS, { width = 80, colour = true })
    assert.equal(plain, (coloured:gsub("\27%[%d+m", "")))
    assert.matches("\27[31mexpired\27[0m", coloured, 1, true)
    assert.not_matches("\27[31mvalid", coloured, 1, true)
  end)

  it("with no width, shows every column and whole values", function()
    local text = tbl.render({ row(5, ("x"):rep(300)) }, COLS)
    assert.matches(("x"):rep(300), text, 1, true)
    assert.matches("SYNC", text, 1, true)
  end)
end)

describe("vpptoken.terminal", function()
  it("is nil for a descriptor that is no terminal, and refuses one that is no descriptor", function()
    assert.is_nil(vpptoken.terminal(1000))
    assert.has_error(function() vpptoken.terminal(-1) end)
    assert.has_error(function() vpptoken.terminal({}) end)
  end)
end)
