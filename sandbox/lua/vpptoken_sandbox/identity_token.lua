-- The token endpoint of the sandbox's identity platform: POST /{tenant}/oauth2/v2.0/token with the
-- client-credentials grant (client secret, or a client assertion signed RS256 with the app's
-- certificate key). Answers and errors have the Microsoft identity platform's shapes and AADSTS codes.
--
-- Choices where the real service leaves room:
-- * Assertions may be addressed (aud) to this endpoint's URL on the sandbox or to the real
--   login.microsoftonline.com token URL of the tenant (v2 or v1); scope may be the sandbox root,
--   https://graph.microsoft.com or Graph's app id, each + "/.default".
-- * Assertion times allow 300 s of clock skew, as the real service does; a jti is remembered
--   until its assertion expires and a second use is refused (AADSTS50013).
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local crypto = require "vpptoken_sandbox.crypto"
local jwt = require "vpptoken_sandbox.jwt"
local managed = require "vpptoken_sandbox.identity_managed"

local token = {}

local PATH = "^/([^/]+)/oauth2/v2%.0/token/?$"
local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
local SKEW = 300
local DOCS = " Review the documentation at "
  .. "https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
local GRAPH_RESOURCES = { ["https://graph.microsoft.com"] = true, ["00000003-0000-0000-c000-000000000000"] = true }

-- The tenant named by a token-endpoint path, or nil.
function token.match(path)
  return path:match(PATH)
end

local function parse_form(body)
  local form = {}
  for pair in (body or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = util.url_decode(k)
    if form[k] == nil then form[k] = util.url_decode(v) end
  end
  return form
end

local function timestamp(t)
  return os.date("!%Y-%m-%d %H:%M:%SZ", math.floor(t))
end

local function headers(req, trace)
  local h = { ["Content-Type"] = "application/json; charset=utf-8", ["Cache-Control"] = "no-store, no-cache",
              Pragma = "no-cache", ["x-ms-request-id"] = trace }
  local crid = req.headers["client-request-id"]
  if crid and crid ~= "" then h["client-request-id"] = crid end
  return h
end

-- An identity-platform error: {"error","error_description","error_codes","timestamp","trace_id",
-- "correlation_id","error_uri"}. Raised as a table the handler turns into the response.
local function fail(status, err, code, text)
  error({ aad = true, status = status, error = err, code = code, text = text }, 0)
end

-- A JSON object with its members in the given order ({name, value} pairs), as the service sends them.
local function ordered_object(members)
  local out = {}
  for i, m in ipairs(members) do out[i] = json.encode(m[1]) .. ":" .. json.encode(m[2]) end
  return "{" .. table.concat(out, ",") .. "}"
end

local function error_response(req, e)
  local trace = util.guid()
  local crid = req.headers["client-request-id"]
  local correlation = (crid and crid ~= "") and crid or util.guid()
  local ts = timestamp(util.now())
  local body = ordered_object({
    { "error", e.error },
    { "error_description", string.format("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
      e.code, e.text, trace, correlation, ts) },
    { "error_codes", json.array({ e.code }) },
    { "timestamp", ts }, { "trace_id", trace }, { "correlation_id", correlation },
    { "error_uri", "https://login.microsoftonline.com/error?code=" .. e.code },
  })
  return e.status, headers(req, trace), body
end

local function required(form, name)
  local v = form[name]
  if v == nil or v == "" then
    fail(400, "invalid_request", 900144, "The request body must contain the following parameter: '" .. name .. "'.")
  end
  return v
end

local function check_scope(id, scope, tenant)
  local resource = scope:match("^(%S+)/%.default$")
  if not resource then
    fail(400, "invalid_scope", 1002012, "The provided value for scope " .. scope .. " is not valid. Client credential "
      .. "flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
  end
  resource = resource:gsub("/+$", "")
  if resource ~= id.url and not GRAPH_RESOURCES[resource:lower()] then
    fail(400, "invalid_resource", 500011, "The resource principal named " .. resource .. " was not found in the "
      .. "tenant named " .. tenant .. ". This can happen if the application has not been installed by the "
      .. "administrator of the tenant or consented to by any user in the tenant. You might have sent your "
      .. "authentication request to the wrong tenant.")
  end
end

local function hex(raw)
  return util.hex(raw):upper()
end

-- The app's certificate named by the assertion header's thumbprints (x5t: SHA-1, x5t#S256: SHA-256), compared as
-- bytes: base64url with or without '=' padding (MSAL for Python pads, Entra ID accepts both).
local function find_certificate(app, header)
  local x5t = type(header.x5t) == "string" and jwt.b64url_decode(header.x5t) or nil
  local x5t256 = type(header["x5t#S256"]) == "string" and jwt.b64url_decode(header["x5t#S256"]) or nil
  for _, cert in ipairs(app.certificates) do
    if (x5t and x5t == cert.sha1) or (x5t256 and x5t256 == cert.sha256) then return cert end
  end
  local used = x5t
  fail(401, "invalid_client", 700027, string.format("The certificate with identifier used to sign the client "
    .. "assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by "
    .. "client: '%s', configured keys for app Id '%s' are listed on the app registration.]",
    used and hex(used) or "", app.client_id))
end

local function audience_ok(id, aud, tenant)
  if type(aud) ~= "string" then return false end
  aud = aud:lower()
  for _, t in ipairs({ tenant:lower(), id.tenant:lower() }) do
    if aud == (id.url .. "/" .. t .. "/oauth2/v2.0/token"):lower()
      or aud == "https://login.microsoftonline.com/" .. t .. "/oauth2/v2.0/token"
      or aud == "https://login.microsoftonline.com/" .. t .. "/oauth2/token" then
      return true
    end
  end
  return false
end

local function forget_old_assertions(id, now)
  for jti, until_t in pairs(id.used_assertions) do
    if until_t < now then id.used_assertions[jti] = nil end
  end
end

local function check_assertion(id, app, form, tenant)
  local atype = required(form, "client_assertion_type")
  if atype ~= ASSERTION_TYPE then
    fail(401, "invalid_client", 70002, "Error validating credentials. The client_assertion_type '" .. atype
      .. "' is not supported; use " .. ASSERTION_TYPE .. ".")
  end
  local parsed, why = jwt.parse(form.client_assertion)
  if not parsed then fail(400, "invalid_request", 50027, "JWT token is invalid or malformed: " .. why .. ".") end
  if parsed.header.alg ~= "RS256" then
    fail(400, "invalid_request", 50027, "JWT token is invalid or malformed: the algorithm '"
      .. tostring(parsed.header.alg) .. "' is not supported; sign with RS256.")
  end
  -- workload identity: a token of a federated issuer (reusable while valid, as the real service allows)
  if managed.check_federated(app, parsed, fail, util.now(), SKEW) then return end
  local cert = find_certificate(app, parsed.header)
  if not crypto.verify_rs256(cert.public_key, parsed.signing_input, parsed.signature) then
    fail(401, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - The provided "
      .. "signature value did not match the expected signature value., Thumbprint of key used by client: '"
      .. hex(cert.sha1) .. "']")
  end
  local c = parsed.claims
  if c.iss ~= app.client_id or c.sub ~= app.client_id then
    fail(401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' "
      .. "parameter." .. DOCS)
  end
  if not audience_ok(id, c.aud, tenant) then
    fail(401, "invalid_client", 700023, "Client assertion audience claim does not match Realm issuer." .. DOCS)
  end
  if type(c.exp) ~= "number" or (c.nbf ~= nil and type(c.nbf) ~= "number") then
    fail(400, "invalid_request", 50027, "JWT token is invalid or malformed: 'exp' (and 'nbf', when present) "
      .. "must be numbers.")
  end
  local now = util.now()
  if now > c.exp + SKEW or (c.nbf and now < c.nbf - SKEW) then
    fail(401, "invalid_client", 700024, string.format("Client assertion is not within its valid time range. "
      .. "Current time: %s, assertion valid from %s, expiry time of assertion %s.%s", util.datetime(now),
      c.nbf and util.datetime(c.nbf) or "(not set)", util.datetime(c.exp), DOCS))
  end
  if type(c.jti) ~= "string" or c.jti == "" then
    fail(400, "invalid_request", 50027, "JWT token is invalid or malformed: the 'jti' claim is missing.")
  end
  forget_old_assertions(id, now)
  local key = app.client_id .. "\0" .. c.jti
  if id.used_assertions[key] then
    fail(401, "invalid_client", 50013, "Assertion failed signature validation or was replayed: the client "
      .. "assertion with jti '" .. c.jti .. "' has already been used. Make a new assertion (new jti) per request.")
  end
  id.used_assertions[key] = c.exp + SKEW
end

local function exchange(id, req, tenant, issue)
  if req.method ~= "POST" then
    fail(400, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a " .. req.method
      .. " request.")
  end
  if not id or not id.tenants[tenant:lower()] then
    fail(400, "invalid_request", 90002, "Tenant '" .. tenant .. "' not found. Check to make sure you have the "
      .. "correct tenant ID and are signing into the correct cloud."
      .. (id and "" or " (The sandbox was started without --apps.)"))
  end
  local form = parse_form(req.body)
  local grant = required(form, "grant_type")
  if grant ~= "client_credentials" then
    fail(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '" .. grant .. "'.")
  end
  local client_id = required(form, "client_id")
  check_scope(id, required(form, "scope"), tenant)
  local app = id.apps[client_id]
  if not app or app.tenant:lower() ~= tenant:lower() then
    fail(400, "unauthorized_client", 700016, "Application with identifier '" .. client_id .. "' was not found in "
      .. "the directory '" .. tenant .. "'. This can happen if the application has not been installed by the "
      .. "administrator of the tenant or consented to by any user in the tenant. You may have sent your "
      .. "authentication request to the wrong tenant.")
  end
  if form.client_assertion ~= nil and form.client_assertion ~= "" then
    check_assertion(id, app, form, tenant)
  elseif form.client_secret ~= nil and form.client_secret ~= "" then
    if not app.secret or not crypto.equal(form.client_secret, app.secret) then
      fail(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the "
        .. "request is the client secret value, not the client secret ID, for a secret added to app '"
        .. client_id .. "'.")
    end
  else
    fail(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
      .. "'client_assertion' or 'client_secret'.")
  end
  local access_token, expires_in = issue(id, app)
  return 200, headers(req, util.guid()), ordered_object({
    { "token_type", "Bearer" }, { "expires_in", expires_in }, { "ext_expires_in", expires_in },
    { "access_token", access_token },
  })
end

-- For the other grants of the same endpoint (identity_device.lua): the form parser, the errors and the answers.
token.parse_form, token.fail, token.required, token.error_response = parse_form, fail, required, error_response
token.headers, token.ordered_object = headers, ordered_object

local function traceback(e)
  if type(e) == "table" then return e end
  return debug.traceback(tostring(e), 2)
end

-- Handles a token-endpoint request. id: the identity state (nil without --apps); issue(id, app)
-- returns an access token and its lifetime in seconds.
function token.handle(id, req, issue)
  local ok, status, h, body = xpcall(exchange, traceback, id, req, token.match(req.path), issue)
  if ok then return status, h, body end
  if type(status) == "table" and status.aad then return error_response(req, status) end
  error(status, 0)
end

return token
