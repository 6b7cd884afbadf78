-- JSON Web Tokens for the sandbox's identity platform: base64url, parsing a compact JWT, and
-- signing/verifying HS256 (the sandbox's own access tokens). RS256 client assertions are verified
-- with vpptoken_sandbox.crypto (OpenSSL) by the caller.
local cjson = require "cjson.safe"
local json = require "vpptoken_sandbox.json"
local crypto = require "vpptoken_sandbox.crypto"

local jwt = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local DECODE = {}
for i = 1, #ALPHABET do DECODE[ALPHABET:byte(i)] = i - 1 end

-- base64url without padding (RFC 7515).
function jwt.b64url_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for k = 1, chars do
      local v = (n >> (18 - 6 * (k - 1))) & 63
      out[#out + 1] = ALPHABET:sub(v + 1, v + 1)
    end
  end
  return table.concat(out)
end

-- Decodes base64url (padding tolerated); nil for anything else.
function jwt.b64url_decode(s)
  s = s:gsub("=+$", "")
  if #s % 4 == 1 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local n, count = 0, 0
    for k = i, math.min(i + 3, #s) do
      local v = DECODE[s:byte(k)]
      if not v then return nil end
      n = (n << 6) | v
      count = count + 1
    end
    n = n << (6 * (4 - count))
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, count - 1)
  end
  return table.concat(out)
end

local function decode_object(part)
  local text = jwt.b64url_decode(part)
  if not text then return nil end
  local obj = cjson.decode(text)
  if type(obj) ~= "table" or not text:match("^%s*{") then return nil end
  return obj
end

-- Splits a compact JWT. Returns { header, claims, signing_input, signature (raw) }, or nil, reason.
function jwt.parse(token)
  if type(token) ~= "string" then return nil, "not a string" end
  local h, c, s = token:match("^([%w%-_]+)%.([%w%-_]+)%.([%w%-_]*)$")
  if not h then return nil, "not three base64url parts separated by dots" end
  local header, claims = decode_object(h), decode_object(c)
  if not header then return nil, "the header is not a base64url JSON object" end
  if not claims then return nil, "the payload is not a base64url JSON object" end
  local signature = jwt.b64url_decode(s)
  if not signature then return nil, "the signature is not base64url" end
  return { header = header, claims = claims, signing_input = h .. "." .. c, signature = signature }
end

-- A compact HS256 JWT with the given header fields and claims.
function jwt.sign_hs256(key, header, claims)
  local head = { typ = "JWT", alg = "HS256" }
  for k, v in pairs(header or {}) do head[k] = v end
  local input = jwt.b64url_encode(json.encode(head)) .. "." .. jwt.b64url_encode(json.encode(claims))
  return input .. "." .. jwt.b64url_encode(crypto.hmac_sha256(key, input))
end

-- Whether a parsed token carries a valid HS256 signature made with key.
function jwt.verify_hs256(key, parsed)
  if parsed.header.alg ~= "HS256" then return false end
  return crypto.equal(crypto.hmac_sha256(key, parsed.signing_input), parsed.signature)
end

return jwt
