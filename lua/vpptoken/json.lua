--- Decoding JSON that a server sent, within bounds: at most core.JSON_MAX_VALUES values, keys included (text too
-- long for its length to bound them is scanned first by the C core, core.json_check), nested at most
-- core.JSON_MAX_DEPTH deep (lua-cjson's own depth limit, set to the same bound), so a small body can never decode
-- into an unbounded number of Lua tables. Never raises for what the text holds. Not a public API: used by the
-- client, auth, error, batch and notify modules.
local cjson = require "cjson.safe"
local core = require "vpptoken.core"

local M = {}

M.MAX_VALUES = core.JSON_MAX_VALUES
M.MAX_DEPTH = core.JSON_MAX_DEPTH
M.null = cjson.null

-- A decoder of our own, so the depth setting does not change the caller's cjson.
local decoder = cjson.new()
decoder.decode_max_depth(M.MAX_DEPTH)

--- Decodes server text: the value (which may be any JSON type, `null` as json.null), nil, and the number of values
-- it holds when they were counted; or nil, a message and, when a bound refused it, which ("values", "depth",
-- "unbalanced"). `max_values` lowers the bound on values; `count` asks for the count.
-- A JSON value takes a byte at least and is parted from the next by one (a comma, a colon, a bracket): text of n
-- bytes decodes to at most (n + 1) // 2 values. Text that short for its bound is not scanned (an ordinary page:
-- one pass, lua-cjson's); its depth is lua-cjson's own bound, and when the decoder refuses it the scan says why.
function M.decode(text, max_values, count)
  if type(text) ~= "string" then return nil, "expected JSON text, got " .. type(text) end
  local max = max_values and math.min(max_values, M.MAX_VALUES) or M.MAX_VALUES
  local values
  if count or #text > 2 * max then -- (n + 1) / 2 rounded down exceeds max: no // on Lua 5.1 and 5.2
    local ok, msg, over = core.json_check(text, max)
    if not ok then return nil, msg, over end
    values = msg
  end
  local doc, err = decoder.decode(text)
  if doc == nil then
    if values == nil then
      local ok, msg, over = core.json_check(text, max)
      if not ok then return nil, msg, over end
    end
    return nil, err
  end
  return doc, nil, values
end

return M
