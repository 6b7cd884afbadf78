-- Test support: client assertions (RS256 JWTs) made the way a real client makes them, with the
-- openssl command line (never with the sandbox's own code, so the checks are not circular).
local cjson = require "cjson.safe"

local jwt = {}

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  local ok = p:close()
  assert(ok, "command failed: " .. cmd)
  return out
end

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- base64url without padding.
function jwt.b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local keep = 2 + (b and 1 or 0) + (c and 1 or 0)
    for k = 0, keep - 1 do
      local v = math.floor(n / 2 ^ (18 - 6 * k)) % 64
      out[#out + 1] = ALPHABET:sub(v + 1, v + 1)
    end
  end
  return (table.concat(out):gsub("%+", "-"):gsub("/", "_"))
end

function jwt.b64url_decode(s)
  s = s:gsub("-", "+"):gsub("_", "/")
  local bits = {}
  for ch in s:gmatch(".") do
    local i = ALPHABET:find(ch, 1, true)
    assert(i, "not base64url")
    bits[#bits + 1] = i - 1
  end
  local out = {}
  for i = 1, #bits, 4 do
    local n, count = 0, 0
    for k = i, math.min(i + 3, #bits) do
      n = n * 64 + bits[k]
      count = count + 1
    end
    n = n * 2 ^ (6 * (4 - count))
    out[#out + 1] = string.char(math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256):sub(1, count - 1)
  end
  return table.concat(out)
end

-- The claims of a compact JWT (no verification).
function jwt.claims(token)
  local payload = assert(token:match("^[^.]+%.([^.]+)%.[^.]*$"), "not a compact JWT")
  return assert(cjson.decode(jwt.b64url_decode(payload)))
end

-- base64url SHA-1 thumbprint of the DER form of a PEM certificate (the x5t header); digest = "sha256" for
-- x5t#S256; padded: with base64's '=' padding, as MSAL for Python writes it.
function jwt.x5t(cert_path, digest, padded)
  local raw = run("openssl x509 -in " .. q(cert_path) .. " -outform DER | openssl dgst -" .. (digest or "sha1")
    .. " -binary")
  local text = jwt.b64url(raw)
  return padded and text .. string.rep("=", (4 - #text % 4) % 4) or text
end

-- Makes a self-signed RSA certificate and key (for a client app) in dir; returns their paths.
function jwt.make_app_cert(dir, name)
  local cert, key = dir .. "/" .. name .. ".crt", dir .. "/" .. name .. ".key"
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" .. name .. " -keyout " .. q(key)
    .. " -out " .. q(cert) .. " 2>/dev/null")
  return cert, key
end

-- Makes an app certificate in dir and one PEM file holding it and its key (what AZURE_CLIENT_CERTIFICATE_PATH
-- names); returns the bundle's path, then the certificate's and the key's.
function jwt.make_cert_bundle(dir, name)
  local cert, key = jwt.make_app_cert(dir, name)
  local parts = {}
  for i, path in ipairs{ cert, key } do
    local f = assert(io.open(path))
    parts[i] = f:read("*a")
    f:close()
  end
  local bundle = dir .. "/" .. name .. ".pem"
  local out = assert(io.open(bundle, "w"))
  out:write(parts[1], parts[2])
  out:close()
  return bundle, cert, key
end

local counter = 0

-- A client assertion. o: { key = PEM path (signs), cert = PEM path (x5t; default: none), client_id,
-- aud, jti (default: a fresh one), nbf, exp (default now-10 .. now+600), iss, sub (default client_id),
-- alg = "RS256", padded = true (thumbprints with '=' padding), s256 = true (also x5t#S256) }.
function jwt.assertion(o)
  local now = os.time()
  counter = counter + 1
  local header = { alg = o.alg or "RS256", typ = "JWT" }
  if o.cert then header.x5t = jwt.x5t(o.cert, "sha1", o.padded) end
  if o.cert and o.s256 then header["x5t#S256"] = jwt.x5t(o.cert, "sha256", o.padded) end
  local claims = {
    aud = o.aud, iss = o.iss or o.client_id, sub = o.sub or o.client_id,
    jti = o.jti or string.format("jti-%d-%d-%d", now, counter, math.random(1, 1073741824)),
    nbf = o.nbf or (now - 10), exp = o.exp or (now + 600),
  }
  local input = jwt.b64url(assert(cjson.encode(header))) .. "." .. jwt.b64url(assert(cjson.encode(claims)))
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(input)
  f:close()
  local sig = run("openssl dgst -sha256 -sign " .. q(o.key) .. " -binary " .. q(tmp))
  os.remove(tmp)
  return input .. "." .. jwt.b64url(sig), claims
end

return jwt
