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

--- An expDate `days` days from now (by the clock the specs and the sandbox share), in Apple's form with a -0700
-- offset, and the same moment as Graph shows it (UTC): a fixture dated from now does not expire as the calendar
-- moves on. Also returns the moment in seconds since the epoch.
function M.expires_in(days)
  local t = os.time() + days * 86400
  return os.date("!%Y-%m-%dT%H:%M:%S-0700", t - 7 * 3600), os.date("!%Y-%m-%dT%H:%M:%SZ", t), t
end

-- The default expDate, 400 days after the module was loaded (one value for the run of a spec file, so that content
-- made twice is the same text), as Apple writes it, as Graph shows it, in seconds.
M.DEFAULT_EXP_DATE, M.DEFAULT_GRAPH_DATE, M.DEFAULT_EXPIRES = M.expires_in(400)

function M.apple_file(fields)
  local doc = { token = M.SECRET, expDate = M.DEFAULT_EXP_DATE, orgName = "Contoso" }
  for k, v in pairs(fields or {}) do doc[k] = v end
  for k, v in pairs(doc) do if v == false then doc[k] = nil end end
  return M.b64(cjson.encode(doc))
end

return M
