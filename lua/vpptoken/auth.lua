--- Access tokens for Graph: a static token, a caller's function, or the client-credentials flow of the Microsoft
-- identity platform with a client secret or a certificate (JWT client assertion signed RS256 in the C core).
-- Fetched tokens are cached per (authority, tenant, client, scope) in this Lua state and refreshed before expiry.
local cjson = require "cjson.safe"
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local fileio = require "vpptoken.fileio"
local json = require "vpptoken.json"

local M = {}

-- (authority, tenant, client, scope) -> { token, expires_at, refresh_at }
local cache = {}

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local ASSERTION_LIFETIME = 600

local function form_encode(t)
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = core.escape(k) .. "=" .. core.escape(t[k]) end
  return table.concat(parts, "&")
end

local function read_file(path, what)
  return fileio.read(path, core.MAX_PEM_BYTES, what)
end

-- Whether an access token can go into an Authorization header as it is: no control character, no space (a
-- bearer token is one word). Never says what the token holds.
local function usable_token(tok)
  return not tok:find("[%z\1-\32\127]")
end

-- The longest lifetime a token endpoint's expires_in is taken at (a day): a cached token is always re-fetched.
local MAX_LIFETIME = 86400
-- The signed JWT that proves the app holds the certificate's key.
local function client_assertion(self, token_url)
  local now = os.time()
  local header = assert(cjson.encode{ alg = "RS256", typ = "JWT", x5t = self.x5t })
  local claims = assert(cjson.encode{ aud = token_url, iss = self.client_id, sub = self.client_id, jti = core.uuid(),
                                      nbf = now, iat = now, exp = now + ASSERTION_LIFETIME })
  local input = core.base64url(header) .. "." .. core.base64url(claims)
  local sig, err = core.rs256_sign(input, self.key_pem, self.passphrase)
  if not sig then return nil, err end
  return input .. "." .. core.base64url(sig)
end

local function auth_error(code, message, extra)
  local e = { kind = "auth", code = code, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return errors.new(e)
end

-- For the other credentials (vpptoken.login): the same form encoding, errors, token check and lifetime cap.
M.form_encode, M.auth_error, M.usable_token, M.MAX_LIFETIME = form_encode, auth_error, usable_token, MAX_LIFETIME

-- One request to the token endpoint; returns the cache entry or nil, err. `report(method, url, resp, err)` hears
-- of the call (never of its body).
local function fetch(self, session, report)
  local url = self.token_url
  local form = { client_id = self.client_id, scope = self.scope, grant_type = "client_credentials" }
  if self.client_secret then
    form.client_secret = self.client_secret
  else
    local assertion, msg = client_assertion(self, url)
    if not assertion then return nil, auth_error("CertificateError", msg, { method = "POST", url = url }) end
    form.client_assertion_type = ASSERTION_TYPE
    form.client_assertion = assertion
  end
  local resp, terr = session:request("POST", url, { ["Content-Type"] = "application/x-www-form-urlencoded",
                                                    Accept = "application/json" }, form_encode(form))
  if not resp then
    local err = errors.from_transport(terr)
    if report then report("POST", url, nil, err) end
    return nil, err
  end
  if resp.status ~= 200 then
    local err = errors.from_response(resp, "POST", url)
    err.kind = "auth"
    if report then report("POST", url, resp, err) end
    return nil, err
  end
  if report then report("POST", url, resp) end
  local doc = json.decode(resp.body)
  if type(doc) ~= "table" or type(doc.access_token) ~= "string" or doc.access_token == "" then
    return nil, auth_error("InvalidTokenResponse", "the token endpoint answered without an access_token",
      { method = "POST", url = url, status = resp.status })
  end
  if not usable_token(doc.access_token) then
    return nil, auth_error("InvalidTokenResponse",
      "the token endpoint answered with an access_token that holds a space or a control character",
      { method = "POST", url = url, status = resp.status })
  end
  local lifetime = tonumber(doc.expires_in)
  if not lifetime or lifetime ~= lifetime then lifetime = 3599 end
  lifetime = math.max(0, math.min(lifetime, MAX_LIFETIME))
  local now = os.time()
  -- Refresh 5 minutes before expiry, or halfway through a short lifetime.
  return { token = doc.access_token, expires_at = now + lifetime,
           refresh_at = now + lifetime - math.min(300, lifetime / 2) }
end

local Credential = {}
Credential.__index = Credential
Credential.__name = "vpptoken.Credential"

function Credential:__tostring()
  return string.format("vpptoken.Credential (%s, client %s)", self.kind, self.client_id or "-")
end

--- token(session [, force [, report]]) -> access token | nil, err. `force` skips the cache (after a 401);
-- `report(method, url, resp, err)` hears of a call to the token endpoint.
function Credential:token(session, force, report)
  if self.kind == "static" then return self.static end
  if self.kind == "function" then
    local ok, tok, msg = pcall(self.fn, force and true or false)
    if ok and type(tok) == "string" and tok ~= "" then
      if usable_token(tok) then return tok end
      return nil, auth_error("InvalidAccessToken",
        "token_provider returned an access token that holds a space or a control character")
    end
    if ok then
      msg = tok == nil and msg or ("token_provider returned a " .. type(tok) .. ", not an access token")
    else
      msg = tok
    end
    return nil, auth_error("TokenProviderFailed", "token_provider failed: " .. tostring(msg or "no access token"))
  end
  local entry = cache[self.cache_key]
  if entry and not force and os.time() < entry.refresh_at then return entry.token end
  local fresh, err = fetch(self, session, report)
  if not fresh then
    -- A token that is still valid is better than none while the identity platform has trouble.
    if entry and not force and os.time() < entry.expires_at - 30 then return entry.token end
    return nil, err
  end
  cache[self.cache_key] = fresh
  return fresh.token
end

--- Whether a new token can be had after Graph rejected one.
function Credential:can_refresh()
  return self.kind ~= "static"
end

local function need_string(opts, key, why)
  local v = opts[key]
  if type(v) ~= "string" or v == "" then error("vpptoken.new: " .. key .. " must be a non-empty string" .. why, 4) end
  return v
end

--- Builds the credential from vpptoken.new's options. `login` is the authority's base URL, `scope` the Graph scope.
-- Raises on misuse.
function M.credential(opts, login, scope)
  if opts.access_token ~= nil then
    local tok = need_string(opts, "access_token", "")
    if not usable_token(tok) then
      error("vpptoken.new: access_token must not contain a space or a control character (CR, LF, ...)", 3)
    end
    return setmetatable({ kind = "static", static = tok }, Credential)
  end
  if opts.token_provider ~= nil then
    if type(opts.token_provider) ~= "function" then
      error("vpptoken.new: token_provider must be a function returning an access token", 3)
    end
    return setmetatable({ kind = "function", fn = opts.token_provider }, Credential)
  end
  if opts.client_id == nil then
    error("vpptoken.new: give access_token, token_provider, or tenant_id + client_id with client_secret or "
      .. "client_certificate", 3)
  end
  local self = setmetatable({ client_id = need_string(opts, "client_id", ""),
                              tenant_id = need_string(opts, "tenant_id", " (with client_id)") }, Credential)
  self.token_url = login .. "/" .. core.escape(self.tenant_id) .. "/oauth2/v2.0/token"
  self.scope = scope
  if opts.client_secret ~= nil then
    self.kind = "client_secret"
    self.client_secret = need_string(opts, "client_secret", "")
  elseif opts.client_certificate ~= nil then
    self.kind = "certificate"
    local path = need_string(opts, "client_certificate", " (path of a PEM file with the certificate and its key)")
    local pem, err = read_file(path, "client certificate")
    if not pem then error("vpptoken.new: " .. err, 3) end
    local thumb, terr = core.x509_thumbprint(pem)
    if not thumb then error("vpptoken.new: client_certificate " .. path .. ": " .. terr, 3) end
    self.x5t = core.base64url(thumb)
    self.key_pem = pem
    if opts.client_certificate_key ~= nil then
      self.key_pem, err = read_file(need_string(opts, "client_certificate_key", ""), "certificate key")
      if not self.key_pem then error("vpptoken.new: " .. err, 3) end
    end
    self.passphrase = opts.client_certificate_password
    local _, kerr = core.rs256_sign("probe", self.key_pem, self.passphrase)
    if kerr then error("vpptoken.new: client_certificate " .. path .. ": " .. kerr, 3) end
  else
    error("vpptoken.new: client_id needs client_secret or client_certificate", 3)
  end
  -- The proof is part of the key: a client given a wrong secret (or another certificate) for the same app never
  -- gets the token another client fetched with the right one.
  self.cache_key = table.concat({ login, self.tenant_id, self.client_id, scope, self.client_secret or self.x5t }, "\n")
  return self
end

--- Empties the token cache (every credential fetches anew).
function M.clear_cache()
  for k in pairs(cache) do cache[k] = nil end
end

return M
