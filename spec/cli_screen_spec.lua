-- What an admin sees at 80 columns: the default tables of a tenant with 50 varied tokens (the sandbox's
-- reproducible --seed-tokens mix) break no word, give each token at most two lines and end with a count.
local helper = require "helper"
local cjson = require "cjson"
local cli = require "cli_support"
local tbl = require "vpptoken.cli.table"

local ACCESS = cli.ACCESS

local function lines(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

describe("the admin's screen at 80 columns #subprocess", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--seed-tokens", "50", "--seed", "7" }
  local env

  local function run(argv)
    return cli.run(argv, { env = env })
  end

  setup(function()
    env = { VPPTOKEN_GRAPH_URL = sb.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS, COLUMNS = "80" }
  end)

  -- The table's rows: for each token (a line starting with its short id), its lines up to the next token's.
  local function rows_of(out, count)
    local rows, current = {}, nil
    local ls = lines(out)
    for i = 2, #ls do
      local l = ls[i]
      if l:match("^%x%x%x%x%x%x%x%x+  ") then
        current = { l }
        rows[#rows + 1] = current
      elseif l:match("^ ") and current then
        current[#current + 1] = l
      else
        current = nil
      end
    end
    assert.equal(count, #rows, out)
    return rows
  end

  -- A cell's text over its lines (the columns start where the header's titles do).
  local function column_text(row, header, title, next_title)
    local from = assert(header:find(title, 1, true), title)
    local to = next_title and header:find(next_title, 1, true) - 1 or nil
    local parts = {}
    for _, l in ipairs(row) do
      local piece = l:sub(from, to):gsub("^%s+", ""):gsub("%s+$", "")
      if piece ~= "" then parts[#parts + 1] = piece end
    end
    -- a line that ends in a break character continues the same word
    return (table.concat(parts, " "):gsub("([@%.%-]) ", "%1"))
  end

  it("list breaks no word, gives a token at most two lines and ends with the count of those needing attention",
    function()
      local code, json = run{ "list", "--output", "json" }
      assert.equal(0, code)
      local tokens = cjson.decode(json)
      assert.equal(50, #tokens)
      local code2, out, err = run{ "list" }
      assert.equal(0, code2, err)
      for _, l in ipairs(lines(out)) do assert.is_true(tbl.width(l) <= 80, l) end
      local header = lines(out)[1]
      assert.matches("^ID%s+APPLE ID%s+ORGANIZATION%s+STATE%s+EXPIRES", header)
      local rows = rows_of(out, 50)
      local by_apple = {}
      for _, t in ipairs(tokens) do
        by_apple[t.appleId] = by_apple[t.appleId] or {}
        by_apple[t.appleId][t.organizationName] = true
      end
      for _, r in ipairs(rows) do
        assert.is_true(#r <= 2, table.concat(r, "\n"))
        local apple = column_text(r, header, "APPLE ID", "ORGANIZATION")
        local org = column_text(r, header, "ORGANIZATION", "STATE")
        assert.truthy(by_apple[apple], "a whole Apple ID: " .. apple)
        assert.truthy(by_apple[apple][org], "a whole organization name: " .. org)
      end
      assert.not_matches("…", out, 1, true)
      -- the count: states other than valid, expiries within 30 days or past, failed syncs
      local attention = 0
      for _, t in ipairs(tokens) do
        local days = require("vpptoken").days_left(t)
        if t.state ~= "valid" or days <= 30 or t.lastSyncStatus == "failed" then attention = attention + 1 end
      end
      assert.is_true(attention > 0 and attention < 50)
      local all = lines(out)
      assert.equal(string.format("50 tokens, %d need attention", attention), all[#all])
    end)

  it("a long state takes its short form, named in a legend under the table", function()
    local code, out = run{ "list", "--state", "assignedToExternalMDM" }
    assert.equal(0, code)
    local all = lines(out)
    assert.is_true(#all > 3, out)
    assert.matches("  extMDM  ", all[2])
    assert.equal("extMDM = assignedToExternalMDM", all[#all - 1])
    assert.matches("^%d+ tokens?, %d+ needs? attention$", all[#all])
  end)

  it("expiring fits 80 columns, two lines a token at most", function()
    local code, out, err = run{ "expiring", "--within", "120" }
    assert.equal(0, code, err)
    for _, l in ipairs(lines(out)) do assert.is_true(tbl.width(l) <= 80, l) end
    local all = lines(out)
    local n = tonumber(all[#all]:match("^(%d+) tokens? need"))
    assert.truthy(n, all[#all])
    for _, r in ipairs(rows_of(out, n)) do assert.is_true(#r <= 2, table.concat(r, "\n")) end
  end)
end)
