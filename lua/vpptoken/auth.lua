--- Access tokens for Graph: a static token, a caller's function, the client-credentials flow of the Microsoft
-- identity platform with a client secret, a certificate (JWT client assertion signed RS256 in the C core) or a
-- federated token file (workload identity), a managed identity, or the Azure CLI (vpptoken.signin).
-- Fetched tokens are cached per credential (authority, tenant, client, scope, proof) in this Lua state and
-- refreshed before expiry.
local cjson = require "cjson.safe"
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local fileio = require "vpptoken.fileio"
local json = require "vpptoken.json"
local oauth = require "vpptoken.oauth"
local waiting = require "vpptoken.wait"

-- The credentials of vpptoken.signin, loaded when one is made: a client with a static token never needs them.
local function signin() return require "vpptoken.signin" end

local M = {}

-- (authority, tenant, client, scope) -> { token, expires_at, refresh_at }
local cache = {}
local in_flight = {} -- the same key -> a vpptoken.wait event while a fetch is under way

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local ASSERTION_LIFETIME = 600

local form_encode = oauth.form_encode

local function read_file(path, what)
  return fileio.read(path, core.MAX_PEM_BYTES, what)
end

local usable_token = oauth.usable_token

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

local auth_error = oauth.auth_error

-- For the other credentials (vpptoken.login): the same form encoding, errors, token check and lifetime cap.
M.form_encode, M.auth_error, M.usable_token, M.MAX_LIFETIME = form_encode, auth_error, usable_token, MAX_LIFETIME

-- One request to the token endpoint; returns the cache entry or nil, err. `report(method, url, resp, err)` hears
-- of the call (never of its body).
local function fetch(self, session, report)
  local url = self.token_url
  local form = { client_id = self.client_id, scope = self.scope, grant_type = "client_credentials" }
  if self.client_secret then
    form.client_secret = self.client_secret
  elseif self.federated_token_file then
    local fed, ferr = signin().federated_form(self)
    if not fed then return nil, ferr end
    for k, v in pairs(fed) do form[k] = v end
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
    local err = errors.from_response(resp, "POST", url, { form.client_secret, form.client_assertion })
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
  return { token = doc.access_token, expires_at = os.time() + lifetime }
end

-- A fetched entry's lifetime kept within [0, MAX_LIFETIME] from now, and the time to refresh it: 5 minutes
-- before expiry, or halfway through a short lifetime.
local function schedule(entry)
  local now = os.time()
  local lifetime = math.max(0, math.min(entry.expires_at - now, MAX_LIFETIME))
  entry.expires_at = now + lifetime
  entry.refresh_at = now + lifetime - math.min(300, lifetime / 2)
  return entry
end

local Credential = {}
Credential.__index = Credential
Credential.__name = "vpptoken.Credential"

function Credential:__tostring()
  return string.format("vpptoken.Credential (%s, client %s)", self.kind, self.client_id or "-")
end

-- The failures of an az found on PATH that mean it cannot give a token at all (not there, not signed in): the
-- sign-in chain's next way is tried, as DefaultAzureCredential does.
local STEP_ASIDE = { AzureCliNotFound = true, AzureCliNotSignedIn = true }

-- An az from the chain gave no token (az_err): the next way's token (kept as the way from then on), or an error
-- whose message names every way and why (its code: the last way's).
function Credential:step_aside(az_err, session, force, report)
  local err, says = az_err, { "Azure CLI: " .. tostring(az_err.message) }
  if self.otherwise then
    local tok, oerr = self.otherwise.credential:token(session, force, report)
    if tok then
      self.stepped_aside = true
      return tok
    end
    err = oerr
    says[#says + 1] = self.otherwise.name .. ": " .. tostring(oerr.message)
  end
  says[#says + 1] = self.tried_after
  if self.tried_before then table.insert(says, 1, self.tried_before) end
  local e = {}
  for k, v in pairs(err) do e[k] = v end
  e.message = "no way to sign in gave a token: " .. table.concat(says, "; ")
  return nil, errors.new(e)
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
  if self.stepped_aside then return self.otherwise.credential:token(session, force, report) end
  -- Tasks of vpptoken.async that need the token while another fetches it wait for that fetch (one request).
  local flight = in_flight[self.cache_key]
  if flight then waiting.wait(flight) end
  local entry = cache[self.cache_key]
  if entry and not force and os.time() < entry.refresh_at then return entry.token end
  flight = waiting.event()
  in_flight[self.cache_key] = flight
  local ok, fresh, err = pcall(self.fetch or fetch, self, session, report)
  if ok and fresh then
    fresh = schedule(fresh)
    cache[self.cache_key] = fresh -- before the waiting tasks wake
  end
  in_flight[self.cache_key] = nil
  waiting.signal(flight)
  if not ok then error(fresh, 0) end
  if not fresh and STEP_ASIDE[err.code] and (self.otherwise or self.tried_before or self.tried_after) then
    return self:step_aside(err, session, force, report)
  end
  if not fresh then
    -- A token that is still valid is better than none while the identity platform has trouble.
    if entry and not force and os.time() < entry.expires_at - 30 then return entry.token end
    return nil, err
  end
  return fresh.token
end

--- Whether a new token can be had after Graph rejected one.
function Credential:can_refresh()
  return self.kind ~= "static"
end

local function need_string(opts, key, why, say)
  local v = opts[key]
  if type(v) ~= "string" or v == "" then
    error(say.fname .. ": " .. say(key) .. " must be a non-empty string" .. why, 4)
  end
  return v
end

--- Builds the credential from vpptoken.new's options. `login` is the authority's base URL, `scope` the Graph scope;
-- `say(option)` names an option in a message (the environment variable it came from, for from_env), `say.fname`
-- starts the message. Raises on misuse.
function M.credential(opts, login, scope, say)
  local fname = say.fname
  if opts.access_token ~= nil then
    local tok = need_string(opts, "access_token", "", say)
    if not usable_token(tok) then
      error(fname .. ": " .. say("access_token") .. " must not contain a space or a control character (CR, LF, ...)",
        3)
    end
    return setmetatable({ kind = "static", static = tok }, Credential)
  end
  if opts.token_provider ~= nil then
    if type(opts.token_provider) ~= "function" then
      error(fname .. ": token_provider must be a function returning an access token", 3)
    end
    return setmetatable({ kind = "function", fn = opts.token_provider }, Credential)
  end
  local resource = scope:gsub("/%.default$", "")
  if opts.managed_identity ~= nil then
    return setmetatable(signin().managed_identity(opts.managed_identity, resource), Credential)
  end
  if opts.azure_cli ~= nil then
    local tenant = opts.tenant_id ~= nil and need_string(opts, "tenant_id", " (with azure_cli)", say) or nil
    return setmetatable(signin().azure_cli(opts.azure_cli, resource, tenant), Credential)
  end
  if opts.client_id == nil then
    error(fname .. ": give access_token, token_provider, managed_identity, azure_cli, or tenant_id + client_id with "
      .. "client_secret, client_certificate or federated_token_file", 3)
  end
  local self = setmetatable({ client_id = need_string(opts, "client_id", "", say),
                              tenant_id = need_string(opts, "tenant_id", " (with " .. say("client_id") .. ")", say) },
                            Credential)
  self.token_url = login .. "/" .. core.escape(self.tenant_id) .. "/oauth2/v2.0/token"
  self.scope = scope
  if opts.client_secret ~= nil then
    self.kind = "client_secret"
    self.client_secret = need_string(opts, "client_secret", "", say)
  elseif opts.federated_token_file ~= nil then
    self.kind = "workload_identity"
    self.federated_token_file = need_string(opts, "federated_token_file", " (path of the federated token file)", say)
  elseif opts.client_certificate ~= nil then
    self.kind = "certificate"
    local cert = say("client_certificate")
    local path = need_string(opts, "client_certificate", " (path of a PEM file with the certificate and its key)", say)
    local pem, err = read_file(path, "client certificate")
    if not pem then error(fname .. ": " .. cert .. ": " .. err, 3) end
    local thumb, terr = core.x509_thumbprint(pem)
    if not thumb then error(fname .. ": " .. cert .. " " .. path .. ": " .. terr, 3) end
    self.x5t = core.base64url(thumb)
    self.key_pem = pem
    if opts.client_certificate_key ~= nil then
      self.key_pem, err = read_file(need_string(opts, "client_certificate_key", "", say), "certificate key")
      if not self.key_pem then error(fname .. ": " .. say("client_certificate_key") .. ": " .. err, 3) end
    end
    self.passphrase = opts.client_certificate_password
    local _, kerr = core.rs256_sign("probe", self.key_pem, self.passphrase)
    if kerr then error(fname .. ": " .. cert .. " " .. path .. ": " .. kerr, 3) end
  else
    error(fname .. ": " .. say("client_id") .. " needs " .. say("client_secret") .. ", " .. say("client_certificate")
      .. " or " .. say("federated_token_file"), 3)
  end
  -- The proof is part of the key: a client given a wrong secret (or another certificate) for the same app never
  -- gets the token another client fetched with the right one.
  self.cache_key = table.concat({ login, self.tenant_id, self.client_id, scope,
                                  self.client_secret or self.x5t or ("file " .. self.federated_token_file) }, "\n")
  return self
end

--- Empties the token cache (every credential fetches anew).
function M.clear_cache()
  for k in pairs(cache) do cache[k] = nil end
end

return M
