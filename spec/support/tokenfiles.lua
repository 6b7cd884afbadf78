-- Test support: Apple VPP token files (base64 of a JSON object), built without the decoder under test.
local cjson = require "cjson"

local M = {}

M.SECRET = "S3CRET-apple-vpp-token-Zq9"

-- Standard base64, written here so the tests do not depend on the decoder under test.
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function M.b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local quad = {}
    for k = 1, 4 do
      local v = math.floor(n / 2 ^ (6 * (4 - k))) % 64
      quad[k] = ALPHABET:sub(v + 1, v + 1)
    end
    if not b then quad[3] = "=" end
    if not c then quad[4] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  return table.concat(out)
end

function M.apple_file(fields)
  local doc = { token = M.SECRET, expDate = "2099-05-25T20:08:56-0700", orgName = "Contoso" }
  for k, v in pairs(fields or {}) do doc[k] = v end
  for k, v in pairs(doc) do if v == false then doc[k] = nil end end
  return M.b64(cjson.encode(doc))
end

return M
