-- Apple's VPP token file as Intune reads it: base64 text (standard or URL-safe alphabet, white space
-- anywhere, padding optional) of a JSON object with "token", "expDate" (2027-05-25T20:08:56-0700)
-- and "orgName". Intune takes expirationDateTime and organizationName from it. Written from the
-- wire contract; it shares no code with the client library.
local json = require "vpptoken_sandbox.json"
local validate = require "vpptoken_sandbox.validate"

local applefile = {}

local B64 = {}
do
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  for i = 1, #chars do B64[chars:byte(i)] = i - 1 end
  B64[("+"):byte()], B64[("/"):byte()] = 62, 63
  B64[("-"):byte()], B64[("_"):byte()] = 62, 63
end

local function base64_decode(text)
  local s = text:gsub("%s+", ""):gsub("=+$", "")
  if s == "" or #s % 4 == 1 then return nil end
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64[s:byte(i)]
    if not v then return nil end
    acc, bits = (acc << 6) | v, bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((acc >> bits) & 0xff)
      acc = acc & ((1 << bits) - 1)
    end
  end
  return table.concat(out)
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- expDate (zone as -0700, -07:00 or Z) as a UTC DateTimeOffset, or nil.
local function expiry(text)
  if type(text) ~= "string" then return nil end
  local date, zone = text:match("^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)(.*)$")
  if not date then return nil end
  local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
  if zone ~= "Z" and not sign then return nil end
  local offset = "Z"
  if sign then offset = sign .. zh .. ":" .. zm end
  if not validate.is_datetime(date .. offset) then return nil end
  local y, mo, d, h, mi, se = date:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)$")
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(se)
  if sign then
    local shift = tonumber(zh) * 3600 + tonumber(zm) * 60
    t = sign == "+" and t - shift or t + shift
  end
  if t < 0 or t > 253402300799 then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- { expirationDateTime, organizationName } from a token file's content, or nil and why it is not one.
function applefile.read(content)
  if type(content) ~= "string" then return nil, "it is not a string" end
  local raw = base64_decode(content)
  if not raw then return nil, "it is not base64 text" end
  local doc = raw:match("^%s*{") and json.decode(raw)
  if type(doc) ~= "table" then return nil, "it does not encode a JSON object" end
  for _, field in ipairs({ "token", "expDate", "orgName" }) do
    if type(doc[field]) ~= "string" or doc[field] == "" then
      return nil, "it has no '" .. field .. "' (a non-empty string)"
    end
  end
  local expires = expiry(doc.expDate)
  if not expires then return nil, "its 'expDate' is not a date" end
  return { expirationDateTime = expires, organizationName = doc.orgName }
end

return applefile
