--- Decoding JSON that a server sent, within bounds: the C core scans the text first (core.json_check: at most
-- core.JSON_MAX_VALUES values, keys included, nested at most core.JSON_MAX_DEPTH deep), so a small body can never
-- decode into an unbounded number of Lua tables; then lua-cjson decodes it, with its own depth limit set to the
-- same bound. Never raises for what the text holds. Not a public API: used by the client, auth, error, batch and
-- notify modules.
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
-- it holds; or nil, a message and, when the budget refused it, what passed it ("values", "depth", "unbalanced").
-- `max_values` lowers the budget (a page walk passes what is left of its own).
function M.decode(text, max_values)
  if type(text) ~= "string" then return nil, "expected JSON text, got " .. type(text) end
  local ok, msg, over = core.json_check(text, max_values and math.min(max_values, M.MAX_VALUES) or M.MAX_VALUES)
  if not ok then return nil, msg, over end
  local doc, err = decoder.decode(text)
  if doc == nil then return nil, err end
  return doc, nil, msg
end

return M
