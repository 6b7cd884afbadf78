-- The sandbox's identity platform (--apps FILE): registered apps, the access tokens the sandbox
-- issues for them (HS256 JWTs signed with a key made at start-up), and the check that Graph calls
-- carry such a token with the right audience, lifetime and roles.
--
-- The apps file: {"tenant": "<guid or name>", "apps": [{"client_id": "...", "client_secret": "...",
-- "certificate": "cert.pem" (or a list; relative paths are read next to the apps file),
-- "permissions": ["DeviceManagementServiceConfig.ReadWrite.All"], "tenant": "<guid or name>"}]}. An app needs a
-- secret or a certificate (or "federated" credentials, or "public": true: a public client people sign in to with
-- the device code flow, identity_device.lua); without "permissions" it gets
-- DeviceManagementServiceConfig.ReadWrite.All. An app's "tenant" (default: the file's) is the tenant it is
-- registered in: several tenants, each with its own apps, for a run over many tenants. Graph keeps each tenant's
-- vppTokens apart (the tid of the access token; init.lua). Managed identities, federated credentials and the
-- OpenID configuration: identity_managed.lua.
--
-- Choices where the real services leave room:
-- * Access tokens have aud = the sandbox's root URL (the Graph root), iss = the v1 issuer of the
--   tenant, tid, appid and azp = the client id, roles = the app's permissions; no clock skew.
-- * A token that is not a JWT: 401 "CompactToken parsing failed with error code: 80049217"; a bad
--   signature or an app that is not registered: "Access token validation failure.".
-- * Reads need any DeviceManagement*.Read.All or .ReadWrite.All role; other methods need a
--   .ReadWrite.All one, else 403 Forbidden with Intune's JSON-inside-message text. POST /$batch
--   needs read access only: each of its sub-requests is checked by its own method.
local cjson = require "cjson.safe"
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local errors = require "vpptoken_sandbox.errors"
local crypto = require "vpptoken_sandbox.crypto"
local jwt = require "vpptoken_sandbox.jwt"
local token_endpoint = require "vpptoken_sandbox.identity_token"
local managed = require "vpptoken_sandbox.identity_managed"
local device = require "vpptoken_sandbox.identity_device"

local identity = {}

local DEFAULT_PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"
local WRITE_ROLES = {
  ["DeviceManagementServiceConfig.ReadWrite.All"] = true,
  ["DeviceManagementConfiguration.ReadWrite.All"] = true,
  ["DeviceManagementApps.ReadWrite.All"] = true,
}
local READ_ROLES = {
  ["DeviceManagementServiceConfig.Read.All"] = true,
  ["DeviceManagementConfiguration.Read.All"] = true,
  ["DeviceManagementApps.Read.All"] = true,
}
local READ_METHODS = { GET = true, HEAD = true }

local function load_certificate(dir, path, where)
  if type(path) ~= "string" or path == "" then
    util.refuse(where .. ": \"certificate\" must be a file name or a list of them")
  end
  if path:sub(1, 1) ~= "/" then path = dir .. path end
  local pem, err = util.read_file(path)
  if not pem then util.refuse(where .. ": cannot read the certificate: " .. tostring(err)) end
  local cert, why = crypto.certificate(pem)
  if not cert then util.refuse(where .. ": " .. path .. ": " .. why) end
  cert.path = path
  return cert
end

-- The roles of a "permissions" list (default: DEFAULT_PERMISSION); raises naming where.
local function roles_of(perms, where)
  local roles = json.array()
  if perms == nil then perms = { DEFAULT_PERMISSION } end
  if type(perms) ~= "table" then util.refuse(where .. ": \"permissions\" must be a list of strings") end
  for _, p in ipairs(perms) do
    if type(p) ~= "string" then util.refuse(where .. ": \"permissions\" must be a list of strings") end
    roles[#roles + 1] = p
  end
  return roles
end

local function load_app(dir, a, where)
  if type(a) ~= "table" then util.refuse(where .. " is not an object") end
  if type(a.client_id) ~= "string" or a.client_id == "" then
    util.refuse(where .. ": \"client_id\" must be a non-empty string")
  end
  if a.tenant ~= nil and (type(a.tenant) ~= "string" or a.tenant == "") then
    util.refuse(where .. ": \"tenant\" must be a non-empty string")
  end
  local app = { client_id = a.client_id, certificates = {}, roles = json.array(), tenant = a.tenant,
                public = a.public == true }
  if a.client_secret ~= nil then
    if type(a.client_secret) ~= "string" or a.client_secret == "" then
      util.refuse(where .. ": \"client_secret\" must be a non-empty string")
    end
    app.secret = a.client_secret
  end
  local certs = a.certificate
  if type(certs) == "string" then certs = { certs } end
  if certs ~= nil and type(certs) ~= "table" then
    util.refuse(where .. ": \"certificate\" must be a file name or a list of them")
  end
  for _, path in ipairs(certs or {}) do
    app.certificates[#app.certificates + 1] = load_certificate(dir, path, where)
  end
  if not app.secret and #app.certificates == 0 and a.federated == nil and not app.public then
    util.refuse(where .. ": an app needs \"client_secret\", \"certificate\", \"federated\" or \"public\": true")
  end
  app.roles = roles_of(a.permissions, where)
  return app
end

-- Reads the apps file. opts: { url = the sandbox root, lifetime = seconds }. Returns the identity
-- state; raises with a message naming the file on any mistake in it.
function identity.load(path, opts)
  local text, err = util.read_file(path)
  if not text then util.refuse("--apps: cannot read " .. tostring(err)) end
  local cfg, jerr = cjson.decode(text)
  if type(cfg) ~= "table" then util.refuse("--apps " .. path .. ": not a JSON object: " .. tostring(jerr)) end
  if type(cfg.tenant) ~= "string" or cfg.tenant == "" then
    util.refuse("--apps " .. path .. ": \"tenant\" must be a non-empty string")
  end
  if type(cfg.apps) ~= "table" then util.refuse("--apps " .. path .. ": \"apps\" must be a list") end
  local dir = path:match("^(.*/)") or ""
  local id = {
    tenant = cfg.tenant,
    url = assert(opts.url, "identity.load: url missing"),
    lifetime = assert(tonumber(opts.lifetime), "identity.load: lifetime missing"),
    key = crypto.random(32),
    apps = {},
    tenants = { [cfg.tenant:lower()] = cfg.tenant }, -- every tenant with an app, by its name in lower case
    used_assertions = {}, -- jti -> time after which it can be forgotten
  }
  for i, a in ipairs(cfg.apps) do
    local app = load_app(dir, a, string.format("--apps %s: apps[%d]", path, i))
    app.tenant = app.tenant or cfg.tenant
    id.tenants[app.tenant:lower()] = id.tenants[app.tenant:lower()] or app.tenant
    if id.apps[app.client_id] then
      util.refuse(string.format("--apps %s: client_id '%s' appears twice", path, app.client_id))
    end
    id.apps[app.client_id] = app
  end
  -- managed identities, federated credentials (identity_managed.lua)
  managed.load(id, cfg, dir, path, roles_of)
  return id
end

-- What a reset (POST /_sandbox/reset) clears of the identity platform: the injected managed-identity failures.
function identity.reset(id)
  managed.reset(id)
end

-- A signed access token for app. overrides (optional): aud, lifetime (seconds; may be negative).
-- Returns the token and its lifetime in whole seconds (expires_in).
function identity.issue(id, app, overrides)
  overrides = overrides or {}
  local now = util.now()
  local lifetime = overrides.lifetime or id.lifetime
  local iat = math.floor(now)
  local exp = math.ceil(now + lifetime)
  local tenant = app.tenant or id.tenant -- a managed identity lives in the apps file's own tenant
  local claims = {
    aud = overrides.aud or id.url,
    iss = "https://sts.windows.net/" .. tenant .. "/",
    iat = iat, nbf = math.min(iat, exp), exp = exp,
    tid = tenant, appid = app.client_id, azp = app.client_id, appidacr = "1",
    oid = util.guid(), sub = app.client_id, idtyp = "app", roles = app.roles, ver = "1.0",
    uti = jwt.b64url_encode(crypto.random(16)),
  }
  return jwt.sign_hs256(id.key, { kid = "vpptoken-sandbox" }, claims), math.max(math.floor(lifetime), 0)
end

local function unauthorized(message, extra)
  errors.raise(401, "InvalidAuthenticationToken", message, extra)
end

-- Intune's 403: the message is serialized JSON with the text and ids inside.
local function forbidden(ctx, needed)
  local text = string.format("Application is not authorized to perform this operation. Application must have one "
    .. "of the following scopes: %s - Operation ID (for customer support): %s - Activity ID: %s - Url: "
    .. "https://fef.sandbox.local/DeviceFE/StatelessDeviceFEService/deviceAppManagement/vppTokens",
    needed, util.guid(), ctx.client_request_id)
  local message = string.format('{"_version":3,"Message":%s,"CustomApiErrorPhrase":"","RetryAfter":null,'
    .. '"ErrorSourceService":"","HttpHeaders":"{}"}', json.encode(text))
  errors.raise(403, "Forbidden", message)
end

local function has_role(roles, set)
  if type(roles) ~= "table" then return false end
  for _, r in ipairs(roles) do
    if set[r] then return true end
  end
  return false
end

-- Checks the bearer token of a Graph request (already known to be non-empty). Raises a 401 with
-- the WWW-Authenticate header in extra, or a 403 when the app's roles do not allow the method.
-- Returns the token's tenant (its tid).
function identity.check_access(id, ctx, token, extra)
  local parsed = jwt.parse(token)
  if not parsed then unauthorized("CompactToken parsing failed with error code: 80049217", extra) end
  local claims = parsed.claims
  -- a person's (delegated) token: its scp are the permissions (identity_device.lua)
  if type(claims.scp) == "string" and claims.roles == nil then
    claims.roles = {}
    for s in claims.scp:gmatch("%S+") do claims.roles[#claims.roles + 1] = s end
  end
  if not jwt.verify_hs256(id.key, parsed) or type(claims.appid) ~= "string" or not id.apps[claims.appid] then
    unauthorized("Access token validation failure.", extra)
  end
  local now = util.now()
  if type(claims.exp) ~= "number" or type(claims.nbf) ~= "number" or now >= claims.exp or now < claims.nbf then
    unauthorized("Access token has expired or is not yet valid.", extra)
  end
  if claims.aud ~= id.url and claims.aud ~= id.url .. "/" then
    unauthorized("Access token validation failure. Invalid audience.", extra)
  end
  -- a $batch envelope needs read access; its sub-requests are checked one by one as they run
  if READ_METHODS[ctx.req.method] or ctx.req.path:match("/%$batch$") then
    if not has_role(claims.roles, READ_ROLES) and not has_role(claims.roles, WRITE_ROLES) then
      forbidden(ctx, "DeviceManagementServiceConfig.Read.All, DeviceManagementServiceConfig.ReadWrite.All")
    end
  elseif not has_role(claims.roles, WRITE_ROLES) then
    forbidden(ctx, "DeviceManagementServiceConfig.ReadWrite.All")
  end
  return claims.tid
end

local MINT_KEYS = { client_id = true, aud = true, lifetime = true }

-- POST /_sandbox/token {"client_id", "aud"?, "lifetime"?}: a token without the OAuth exchange (for
-- tests: other audiences, tokens that are already expired).
local function mint(id, req)
  local function answer(status, value)
    return status, { ["Content-Type"] = "application/json;charset=utf-8", ["Cache-Control"] = "no-store" },
      json.encode(value)
  end
  local function fail(status, message)
    return answer(status, { error = { code = errors.code_for(status), message = message } })
  end
  if req.method ~= "POST" then return fail(405, "Method " .. req.method .. " is not allowed here.") end
  if not id then return fail(400, "The sandbox has no registered apps (start it with --apps FILE).") end
  local obj = cjson.decode(req.body or "")
  if type(obj) ~= "table" then return fail(400, "The body must be a JSON object.") end
  for k in pairs(obj) do
    if not MINT_KEYS[k] then return fail(400, "Unknown field '" .. tostring(k) .. "'.") end
  end
  local app = type(obj.client_id) == "string" and id.apps[obj.client_id]
  if not app then return fail(400, "'client_id' must name a registered app.") end
  if obj.aud ~= nil and type(obj.aud) ~= "string" then return fail(400, "'aud' must be a string.") end
  -- 1e999 decodes as infinity: a token with no expiry to write (expires_in null) and none to check
  if obj.lifetime ~= nil and (type(obj.lifetime) ~= "number" or obj.lifetime ~= obj.lifetime
                              or math.abs(obj.lifetime) == math.huge) then
    return fail(400, "'lifetime' must be a finite number of seconds.")
  end
  local token, expires_in = identity.issue(id, app, { aud = obj.aud, lifetime = obj.lifetime })
  return answer(200, { access_token = token, expires_in = expires_in })
end

-- Whether path belongs to the identity platform (the token endpoint, or /_sandbox/token).
function identity.owns(path)
  return path == "/_sandbox/token" or token_endpoint.match(path) ~= nil or managed.owns(path) or device.owns(path)
end

-- Handles a request for which identity.owns(path) is true. id may be nil (no --apps).
function identity.handle(id, req)
  if req.path == "/_sandbox/token" then return mint(id, req) end
  if managed.owns(req.path) then return managed.handle(id, req, identity.issue) end
  if device.wants(req) then return device.handle(id, req) end
  return token_endpoint.handle(id, req, identity.issue)
end

return identity
