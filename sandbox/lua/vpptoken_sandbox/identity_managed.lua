-- The sandbox's managed identities, federated credentials and OpenID configuration (--apps FILE):
-- * App Service / Functions / Automation / Container Apps: GET /msi/token?resource=...&api-version=2019-08-01
--   with X-IDENTITY-HEADER (the apps file's "identity_header"); client_id / object_id / mi_res_id pick a
--   user-assigned identity. Answers expires_on as a number.
-- * IMDS: GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=... with "Metadata: true";
--   client_id / object_id / msi_res_id. Answers expires_in and expires_on as strings, as IMDS does; its errors are
--   {"error","error_description"}. The path may also end in "/": MSAL for Node (in @azure/identity) canonicalizes
--   the URL it makes from AZURE_POD_IDENTITY_AUTHORITY_HOST, so it asks for /metadata/identity/oauth2/token/.
-- * POST /_sandbox/identity/fail {"count": N, "status": S}: the next N managed-identity requests answer S (IMDS's
--   410, 429 and 5xx), for the retry specs; GET answers {"count": the failures still to come}.
-- * GET /{tenant}/v2.0/.well-known/openid-configuration: the document Microsoft's identity libraries read first.
--
-- The apps file's members read here: "identity_header" (string), "managed_identities": [{"client_id",
-- "object_id"?, "resource_id"?, "system"? (true: the one answered when none is named), "permissions"?}], and per
-- app "federated": [{"issuer", "subject", "certificate" (PEM; its key signs the assertions), "audience"?}].
--
-- Choices where the real services leave room: a system-assigned identity is the one marked "system" (or the only
-- one); the resource may be the sandbox root or https://graph.microsoft.com (the token's aud is always the sandbox
-- root, which its Graph accepts).
local cjson = require "cjson.safe"
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local crypto = require "vpptoken_sandbox.crypto"

local managed = {}

local APP_SERVICE_PATH = "/msi/token"
local IMDS_PATHS = { ["/metadata/identity/oauth2/token"] = true, ["/metadata/identity/oauth2/token/"] = true }
local FAIL_PATH = "/_sandbox/identity/fail"
local OPENID = "^/([^/]+)/v2%.0/%.well%-known/openid%-configuration$"
local GRAPH_RESOURCES = { ["https://graph.microsoft.com"] = true, ["00000003-0000-0000-c000-000000000000"] = true }
local DEFAULT_AUDIENCE = "api://AzureADTokenExchange"

local function need_string(t, key, where)
  if type(t[key]) ~= "string" or t[key] == "" then
    util.refuse(where .. ": \"" .. key .. "\" must be a non-empty string")
  end
  return t[key]
end

-- Forgets the injected failures (POST /_sandbox/reset).
function managed.reset(id)
  id.mi_failures = { count = 0 }
end

-- Reads the members above from the decoded apps file into id (raises naming the file); roles_of(list, where)
-- turns a "permissions" list into roles. Adds each identity to id.apps, so its tokens pass Graph's check.
function managed.load(id, cfg, dir, path, roles_of)
  id.managed = {}
  managed.reset(id)
  if cfg.identity_header ~= nil then id.identity_header = need_string(cfg, "identity_header", "--apps " .. path) end
  for i, m in ipairs(type(cfg.managed_identities) == "table" and cfg.managed_identities or {}) do
    local where = string.format("--apps %s: managed_identities[%d]", path, i)
    if type(m) ~= "table" then util.refuse(where .. " is not an object") end
    local mi = { client_id = need_string(m, "client_id", where), object_id = m.object_id,
                 resource_id = m.resource_id, system = m.system == true, certificates = {},
                 roles = roles_of(m.permissions, where), managed = true }
    if id.apps[mi.client_id] then util.refuse(where .. ": client_id '" .. mi.client_id .. "' appears twice") end
    id.apps[mi.client_id] = mi
    id.managed[#id.managed + 1] = mi
  end
  for i, a in ipairs(cfg.apps) do
    local app = id.apps[a.client_id]
    for k, f in ipairs(type(a.federated) == "table" and a.federated or {}) do
      local where = string.format("--apps %s: apps[%d].federated[%d]", path, i, k)
      if type(f) ~= "table" then util.refuse(where .. " is not an object") end
      local cpath = need_string(f, "certificate", where)
      if cpath:sub(1, 1) ~= "/" then cpath = dir .. cpath end
      local pem, err = util.read_file(cpath)
      if not pem then util.refuse(where .. ": cannot read the certificate: " .. tostring(err)) end
      local cert, why = crypto.certificate(pem)
      if not cert then util.refuse(where .. ": " .. cpath .. ": " .. why) end
      app.federated = app.federated or {}
      app.federated[#app.federated + 1] = { issuer = need_string(f, "issuer", where),
        subject = need_string(f, "subject", where), audience = f.audience or DEFAULT_AUDIENCE, cert = cert }
    end
  end
end

-- Whether path is served here.
function managed.owns(path)
  return path == APP_SERVICE_PATH or IMDS_PATHS[path] or path == FAIL_PATH or path:match(OPENID) ~= nil
end

local function answer(status, value)
  return status, { ["Content-Type"] = "application/json; charset=utf-8", ["Cache-Control"] = "no-store" },
    type(value) == "string" and value or json.encode(value)
end

local function parse_query(q)
  local out = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = util.url_decode(k)
    if out[k] == nil then out[k] = util.url_decode(v) end
  end
  return out
end

-- The identity the query names (by the given parameter names), the system one, or nil.
local function find_identity(id, q, names)
  for _, mi in ipairs(id.managed) do
    if (q[names.client_id] and q[names.client_id] == mi.client_id)
      or (q[names.object_id] and q[names.object_id] == mi.object_id)
      or (q[names.resource_id] and q[names.resource_id] == mi.resource_id) then
      return mi
    end
  end
  if q[names.client_id] or q[names.object_id] or q[names.resource_id] then return nil end
  for _, mi in ipairs(id.managed) do
    if mi.system or #id.managed == 1 then return mi end
  end
  return nil
end

local function resource_ok(id, resource)
  if type(resource) ~= "string" then return false end
  resource = resource:gsub("/+$", "")
  return resource == id.url or GRAPH_RESOURCES[resource:lower()] == true
end

local function imds(id, req, issue)
  local function fail(status, err, text) return answer(status, { error = err, error_description = text }) end
  if req.method ~= "GET" then return fail(405, "invalid_request", "Only GET is allowed.") end
  if (req.headers["metadata"] or ""):lower() ~= "true" then
    return fail(400, "invalid_request", "Required metadata header not specified")
  end
  local q = parse_query(req.query)
  if not q["api-version"] then
    return fail(400, "invalid_request", "Required query variable 'api-version' is missing")
  end
  if not resource_ok(id, q.resource) then
    return fail(400, "invalid_resource", "AADSTS500011: The resource principal named " .. tostring(q.resource)
      .. " was not found in the tenant.")
  end
  local mi = find_identity(id, q, { client_id = "client_id", object_id = "object_id", resource_id = "msi_res_id" })
  if not mi then return fail(400, "invalid_request", "Identity not found") end
  local token, expires_in = issue(id, mi)
  local now = math.floor(util.now())
  return answer(200, { access_token = token, client_id = mi.client_id, expires_in = tostring(expires_in),
    expires_on = tostring(now + expires_in), ext_expires_in = tostring(expires_in), not_before = tostring(now),
    resource = q.resource, token_type = "Bearer" })
end

local function app_service(id, req, issue)
  local function fail(status, text) return answer(status, { statusCode = status, message = text }) end
  if req.method ~= "GET" then return fail(405, "Only GET is allowed.") end
  local header = req.headers["x-identity-header"]
  if not id.identity_header or not header or not crypto.equal(header, id.identity_header) then
    return fail(401, "The X-IDENTITY-HEADER header is missing or wrong.")
  end
  local q = parse_query(req.query)
  if q["api-version"] ~= "2019-08-01" then return fail(400, "api-version 2019-08-01 is required.") end
  if not resource_ok(id, q.resource) then
    return fail(400, "The resource " .. tostring(q.resource) .. " is unknown.")
  end
  local mi = find_identity(id, q, { client_id = "client_id", object_id = "object_id", resource_id = "mi_res_id" })
  if not mi then return fail(400, "No managed identity matches the request.") end
  local token, expires_in = issue(id, mi)
  return answer(200, { access_token = token, client_id = mi.client_id, expires_on = math.floor(util.now()) + expires_in,
    resource = q.resource, token_type = "Bearer" })
end

local function set_failures(id, req)
  if req.method == "GET" then return answer(200, { count = id.mi_failures.count }) end
  local obj = cjson.decode(req.body or "")
  local count = type(obj) == "table" and math.tointeger(obj.count)
  local status = type(obj) == "table" and math.tointeger(obj.status)
  if req.method ~= "POST" or not count or count < 0 or not status or status < 400 or status > 599 then
    return answer(400, { error = { code = "BadRequest", message = "POST {\"count\": N, \"status\": 400..599}" } })
  end
  id.mi_failures = { count = count, status = status }
  return answer(200, { count = count, status = status })
end

local function openid(id, tenant)
  local base = id.url .. "/" .. tenant
  return answer(200, {
    issuer = id.url .. "/" .. id.tenant .. "/v2.0",
    authorization_endpoint = base .. "/oauth2/v2.0/authorize",
    token_endpoint = base .. "/oauth2/v2.0/token",
    device_authorization_endpoint = base .. "/oauth2/v2.0/devicecode",
    jwks_uri = base .. "/discovery/v2.0/keys",
    token_endpoint_auth_methods_supported = json.array({ "client_secret_post", "private_key_jwt",
                                                         "client_secret_basic" }),
    response_types_supported = json.array({ "code", "id_token", "code id_token", "id_token token" }),
    scopes_supported = json.array({ "openid", "profile", "email", "offline_access" }),
    subject_types_supported = json.array({ "pairwise" }),
    id_token_signing_alg_values_supported = json.array({ "RS256" }),
    tenant_region_scope = json.null, cloud_instance_name = "microsoftonline.com",
  })
end

-- Handles a request for which managed.owns(path) is true. issue(id, identity) makes an access token.
function managed.handle(id, req, issue)
  if not id then
    return answer(400, { error = "invalid_request",
                         error_description = "The sandbox has no identities (start it with --apps FILE)." })
  end
  if req.path == FAIL_PATH then return set_failures(id, req) end
  local tenant = req.path:match(OPENID)
  if tenant then
    if tenant:lower() ~= id.tenant:lower() and tenant ~= "common" and tenant ~= "organizations" then
      return answer(400, { error = "invalid_tenant", error_description = "AADSTS90002: Tenant '" .. tenant
        .. "' not found." })
    end
    return openid(id, tenant)
  end
  local f = id.mi_failures
  if f.count > 0 then
    f.count = f.count - 1
    return answer(f.status, { error = "temporarily_unavailable", error_description = "Injected failure " .. f.status })
  end
  if IMDS_PATHS[req.path] then return imds(id, req, issue) end
  return app_service(id, req, issue)
end

-- For the token endpoint: the federated credential of app matching a parsed assertion, checked (signature,
-- subject, audience, times); nil when the assertion's issuer is none of the app's federated issuers. fail(status,
-- error, code, text) raises the identity platform's error.
function managed.check_federated(app, parsed, fail, now, skew)
  local c = parsed.claims
  local match
  for _, f in ipairs(app.federated or {}) do
    if c.iss == f.issuer then match = f end
  end
  if not match then return nil end
  if parsed.header.alg ~= "RS256" or not crypto.verify_rs256(match.cert.public_key, parsed.signing_input,
                                                               parsed.signature) then
    fail(401, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - The key used to "
      .. "sign the federated token is not the issuer's.]")
  end
  if c.sub ~= match.subject then
    fail(400, "invalid_request", 700213, "No matching federated identity record found for presented assertion "
      .. "subject '" .. tostring(c.sub) .. "'.")
  end
  local auds = type(c.aud) == "table" and c.aud or { c.aud }
  local aud_ok = false
  for _, a in ipairs(auds) do aud_ok = aud_ok or a == match.audience end
  if not aud_ok then
    fail(400, "invalid_request", 700212, "No matching federated identity record found for presented assertion "
      .. "audience.")
  end
  if type(c.exp) ~= "number" or now > c.exp + skew or (type(c.nbf) == "number" and now < c.nbf - skew) then
    fail(400, "invalid_client", 700024, "Client assertion is not within its valid time range.")
  end
  return match
end

return managed
