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

-- The last second an expDate can name (9999-12-31T23:59:59Z).
local MAX_TIME = 253402300799

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

-- Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS" plus a zone (-0700, -07:00 or Z), or nil.
local function parse_time(text)
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
  if t < 0 or t > MAX_TIME then return nil end
  return t
end

-- expDate as a UTC DateTimeOffset, or nil.
local function expiry(text)
  local t = parse_time(text)
  return t and os.date("!%Y-%m-%dT%H:%M:%SZ", t)
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

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Two base64 characters for each 12-bit value.
local PAIRS = {}
for v = 0, 4095 do
  PAIRS[v] = ALPHABET:sub((v >> 6) + 1, (v >> 6) + 1) .. ALPHABET:sub((v & 63) + 1, (v & 63) + 1)
end

-- Standard base64 with padding, as Apple writes its token files.
local function base64_encode(s)
  local whole = #s - #s % 3
  local out = s:sub(1, whole):gsub("...", function(three)
    local a, b, c = three:byte(1, 3)
    local n = (a << 16) | (b << 8) | c
    return PAIRS[n >> 12] .. PAIRS[n & 4095]
  end)
  local a, b = s:byte(whole + 1, whole + 2)
  if b then
    local n = (a << 16) | (b << 8)
    out = out .. PAIRS[n >> 12] .. PAIRS[n & 4095]:sub(1, 1) .. "="
  elseif a then
    out = out .. PAIRS[a << 4] .. "=="
  end
  return out
end

local DAY = 86400

-- Seconds since the epoch of an expiry as make takes it: a number (seconds since the epoch), "YYYY-MM-DD"
-- (midnight UTC), "YYYY-MM-DDTHH:MM:SS" with Z, -0700 or -07:00, or "+N" / "-N" days from now. nil otherwise.
function applefile.time_of(expires, now)
  if math.type(expires) == "integer" then return expires end
  if math.type(expires) == "float" then return math.floor(expires) end
  if type(expires) ~= "string" then return nil end
  local days = expires:match("^[+-]%d+$") or expires:match("^([+-]%d+)d$")
  if days and #days <= 8 then
    -- days from now may land before 1970 or after 9999, which no token file's expDate can say
    local t = math.floor(now or os.time()) + math.tointeger(tonumber(days)) * DAY
    if t < 0 or t > MAX_TIME then return nil end
    return t
  end
  if expires:match("^%d%d%d%d%-%d%d%-%d%d$") then return parse_time(expires .. "T00:00:00Z") end
  return parse_time(expires)
end

-- The content of a sample Apple VPP token file (what Apple Business/School Manager lets one download): base64 of
-- {"token", "expDate", "orgName"}, readable by applefile.read. f: { org = organization name, apple_id = the
-- Apple ID (kept inside the token, as Apple keeps the account in it), expires = see time_of, token = the inner
-- token text (optional: made from the other fields) }. Raises on a bad argument.
function applefile.make(f)
  if type(f) ~= "table" then error("make: expected a table of fields", 2) end
  if type(f.org) ~= "string" or f.org == "" then error("make: 'org' must be a non-empty string", 2) end
  if type(f.apple_id) ~= "string" or f.apple_id == "" then error("make: 'apple_id' must be a non-empty string", 2) end
  local t = applefile.time_of(f.expires)
  if not t or t < 0 or t > MAX_TIME then
    error("make: 'expires' must be a date (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, +DAYS or -DAYS), got "
          .. tostring(f.expires), 2)
  end
  local exp_date = os.date("!%Y-%m-%dT%H:%M:%S+0000", t)
  local inner = f.token
  if inner == nil then
    inner = base64_encode(json.encode({ sample = "vpptoken-sandbox", appleId = f.apple_id, orgName = f.org,
                                        expDate = exp_date }))
  elseif type(inner) ~= "string" or inner == "" then
    error("make: 'token' must be a non-empty string", 2)
  end
  -- Apple's member order: token, expDate, orgName
  return base64_encode('{"token":' .. json.encode(inner) .. ',"expDate":' .. json.encode(exp_date)
                       .. ',"orgName":' .. json.encode(f.org) .. "}")
end

local USAGE = [[
Usage: vpptoken-sandbox make-token --org NAME --apple-id ID --expires DATE [--out FILE]
Writes a sample Apple VPP token file (.vpptoken: base64 of {"token","expDate","orgName"}) that the sandbox, like
Intune, reads the organization and the expiry from. DATE: YYYY-MM-DD (midnight UTC), YYYY-MM-DDTHH:MM:SSZ (or
with -0700), or +DAYS / -DAYS from now. Without --out the content goes to stdout.
]]

local MAKE_OPTIONS = { ["--org"] = "org", ["--apple-id"] = "apple_id", ["--expires"] = "expires", ["--out"] = "out" }

-- `vpptoken-sandbox make-token ARGS...` (args: the words after make-token). Returns the exit status: 0, or 2 for
-- a usage error (said on stderr), 1 when FILE cannot be written.
function applefile.main(args)
  local f = {}
  local i = 1
  while i <= #args and i <= 64 do
    local a = args[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if name == "--help" or name == "-h" then
      io.stdout:write(USAGE)
      return 0
    end
    local key = MAKE_OPTIONS[name]
    if not key then
      io.stderr:write("vpptoken-sandbox make-token: unknown argument '", a, "'\n", USAGE)
      return 2
    end
    if value == nil then
      i = i + 1
      value = args[i]
    end
    if value == nil or value == "" then
      io.stderr:write("vpptoken-sandbox make-token: ", name, " needs a value\n")
      return 2
    end
    f[key] = value
    i = i + 1
  end
  if #args > 64 then
    io.stderr:write("vpptoken-sandbox make-token: too many arguments\n")
    return 2
  end
  for _, opt in ipairs({ "--org", "--apple-id", "--expires" }) do
    if not f[MAKE_OPTIONS[opt]] then
      io.stderr:write("vpptoken-sandbox make-token: ", opt, " is required\n", USAGE)
      return 2
    end
  end
  if not applefile.time_of(f.expires) then
    io.stderr:write("vpptoken-sandbox make-token: --expires wants YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, +DAYS or -DAYS,",
                    " got '", f.expires, "'\n")
    return 2
  end
  local content = applefile.make(f)
  if not f.out then
    io.stdout:write(content, "\n")
    return 0
  end
  local out, err = io.open(f.out, "wb")
  if not out then
    io.stderr:write("vpptoken-sandbox make-token: cannot write ", f.out, ": ", tostring(err), "\n")
    return 1
  end
  local ok, werr = out:write(content, "\n")
  local closed, cerr = out:close()
  if not ok or not closed then
    io.stderr:write("vpptoken-sandbox make-token: cannot write ", f.out, ": ", tostring(werr or cerr), "\n")
    return 1
  end
  return 0
end

return applefile
