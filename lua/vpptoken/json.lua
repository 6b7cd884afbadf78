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

--- Decodes server text: the value (which may be any JSON type, `null` as json.null), or nil and a message.
function M.decode(text)
  if type(text) ~= "string" then return nil, "expected JSON text, got " .. type(text) end
  local ok, msg = core.json_check(text)
  if not ok then return nil, msg end
  return decoder.decode(text)
end

return M
