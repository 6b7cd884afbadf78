-- Signing in as a person on the sandbox's identity platform: the device authorization grant
-- (POST /{tenant}/oauth2/v2.0/devicecode, then the device_code grant on the token endpoint) and the
-- refresh_token grant, for apps registered with "public": true in the --apps file. The access tokens
-- are delegated ones (scp, upn, preferred_username, tid) that the sandbox's Graph accepts.
--
-- Control routes (no auth, not in the request log):
--   POST /_sandbox/devicecode/approve {"user_code": "...", "upn"?: "..."} -> 200 {"user_code", "status"} (404: none)
--   POST /_sandbox/devicecode/deny {"user_code": "..."}                   -> 200 {"user_code", "status"}
--   POST /_sandbox/devicecode/settings {"interval", "expires_in", "slow_down", "approve_after",
--        "deny_after", "upn"} -> 200 {"settings"}: for codes issued later. slow_down: the first N polls of a code
--        answer slow_down; approve_after / deny_after: the code is approved / declined at that poll
--        (0: never).
--   POST /_sandbox/devicecode/revoke -> 200 {"revoked": true}: every refresh token is refused from now on
--   GET  /_sandbox/devicecode -> 200 {"value": [{user_code, client_id, status, polls, poll_times,
--        interval}]}, and "settings"; poll_times are the sandbox's clock at each poll of the code.
--
-- Choices where the real service leaves room:
-- * The tenant in the path is the --apps tenant, "organizations" or "common"; tokens carry the
--   --apps tenant's id as tid.
-- * A poll that comes sooner than the code's interval after the previous one answers slow_down
--   (with 0.5 s of leeway), as RFC 8628 allows; slow_down adds 5 s to the code's interval.
-- * A refresh token is used once: each refresh answers a new one and the old one is refused
--   (invalid_grant), which the real service does not promise but clients must handle.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local crypto = require "vpptoken_sandbox.crypto"
local jwt = require "vpptoken_sandbox.jwt"
local errors = require "vpptoken_sandbox.errors"
local token = require "vpptoken_sandbox.identity_token"

local device = {}

local CODE_PATH = "^/([^/]+)/oauth2/v2%.0/devicecode/?$"
local CONTROL = "/_sandbox/devicecode"
-- The device_code grant's names: RFC 8628's, and the short one MSAL (Microsoft's own libraries) sends, which the
-- identity platform takes too.
local GRANT_DEVICE = { ["urn:ietf:params:oauth:grant-type:device_code"] = true, device_code = true }
local VERIFICATION_URI = "https://microsoft.com/devicelogin"
local ALIASES = { organizations = true, common = true }
local GRAPH_RESOURCES = { ["https://graph.microsoft.com"] = true, ["00000003-0000-0000-c000-000000000000"] = true }
local OIDC_SCOPES = { openid = true, profile = true, email = true, offline_access = true }
local MAX_CODES = 1000 -- codes kept at once (the oldest go)
local MAX_REFRESH = 10000 -- refresh tokens kept at once (the oldest go)
local MAX_POLL_TIMES = 100
local LEEWAY = 0.5
local DEFAULTS = { interval = 5, expires_in = 900, slow_down = 0, upn = "admin@sandbox.example" }
local SETTING_KEYS = { interval = true, expires_in = true, slow_down = true, approve_after = true,
                       deny_after = true, upn = true }

local function state(id)
  if not id.device then
    id.device = { codes = {}, by_user = {}, order = {}, refresh = {}, refresh_order = {},
                  settings = util.copy(DEFAULTS) }
  end
  return id.device
end

-- Whether the path is the device code endpoint or one of its control routes.
function device.owns(path)
  return path:match(CODE_PATH) ~= nil or path == CONTROL or path:match("^/_sandbox/devicecode/%a+$") ~= nil
end

-- Whether this request is for this module: owns(path), or the token endpoint with a grant it plays.
function device.wants(req)
  if device.owns(req.path) then return true end
  if not token.match(req.path) or req.method ~= "POST" then return false end
  local grant = token.parse_form(req.body).grant_type
  return GRANT_DEVICE[grant] or grant == "refresh_token"
end

local fail = token.fail

local function check_tenant(id, tenant)
  if not id or (tenant:lower() ~= id.tenant:lower() and not ALIASES[tenant:lower()]) then
    fail(400, "invalid_request", 90002, "Tenant '" .. tenant .. "' not found. Check to make sure you have the "
      .. "correct tenant ID and are signing into the correct cloud."
      .. (id and "" or " (The sandbox was started without --apps.)"))
  end
end

local function public_app(id, client_id)
  local app = id.apps[client_id]
  if not app then
    fail(400, "unauthorized_client", 700016, "Application with identifier '" .. client_id .. "' was not found in "
      .. "the directory '" .. id.tenant .. "'. This can happen if the application has not been installed by the "
      .. "administrator of the tenant or consented to by any user in the tenant.")
  end
  if not app.public then
    fail(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
      .. "'client_assertion' or 'client_secret'.")
  end
  return app
end

-- The Graph permissions named by a scope list ("https://graph.microsoft.com/X offline_access ..."). Graph's
-- "/.default" stands for the permissions the app was granted (its "permissions" in the apps file), as on the real
-- service, where it can be asked for in any flow: @azure/identity's DeviceCodeCredential asks for it.
local function graph_scopes(id, app, scope, tenant)
  local perms, seen, offline = {}, {}, false
  local function add(perm)
    if not seen[perm] then perms[#perms + 1], seen[perm] = perm, true end
  end
  for s in scope:gmatch("%S+") do
    if s == "offline_access" then offline = true end
    if not OIDC_SCOPES[s] then
      local resource, perm = s:match("^(.-)/?([^/]+)$")
      resource = (resource or ""):gsub("/+$", "")
      if resource ~= "" and resource ~= id.url and not GRAPH_RESOURCES[resource:lower()] then
        fail(400, "invalid_resource", 500011, "The resource principal named " .. resource .. " was not found in "
          .. "the tenant named " .. tenant .. ".")
      end
      if perm == ".default" then
        for _, granted in ipairs(app.roles) do add(granted) end
      else
        add(perm)
      end
    end
  end
  if #perms == 0 then
    fail(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid: it names "
      .. "no Graph permission.")
  end
  return table.concat(perms, " "), offline
end

local function random_code(n)
  local alphabet = "BCDFGHJKLMNPQRSTVWXZ23456789"
  local raw, out = crypto.random(n), {}
  for i = 1, n do
    local k = raw:byte(i) % #alphabet + 1
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

local function answer(req, members)
  return 200, token.headers(req, util.guid()), token.ordered_object(members)
end

local function forget_oldest(list, map, max, extra)
  while #list > max do
    local k = table.remove(list, 1)
    local v = map[k]
    map[k] = nil
    if extra and v then extra[v.user_code] = nil end
  end
end

local function issue_code(id, req, tenant)
  if req.method ~= "POST" then
    fail(400, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a " .. req.method
      .. " request.")
  end
  check_tenant(id, tenant)
  local form = token.parse_form(req.body)
  local client_id = token.required(form, "client_id")
  local app = public_app(id, client_id)
  local scp, offline = graph_scopes(id, app, token.required(form, "scope"), tenant)
  local st = state(id)
  local s = st.settings
  local now = util.now()
  local code = {
    device_code = jwt.b64url_encode(crypto.random(48)), user_code = random_code(9), client_id = app.client_id,
    scp = scp, offline = offline, status = "pending", polls = 0, poll_times = {}, interval = s.interval,
    issued = now, expires = now + s.expires_in, slow_down = s.slow_down, approve_after = s.approve_after,
    deny_after = s.deny_after, upn = s.upn,
  }
  st.codes[code.device_code] = code
  st.by_user[code.user_code] = code
  st.order[#st.order + 1] = code.device_code
  forget_oldest(st.order, st.codes, MAX_CODES, st.by_user)
  return answer(req, {
    { "user_code", code.user_code }, { "device_code", code.device_code },
    { "verification_uri", VERIFICATION_URI }, { "expires_in", s.expires_in }, { "interval", s.interval },
    { "message", "To sign in, use a web browser to open the page " .. VERIFICATION_URI .. " and enter the code "
      .. code.user_code .. " to authenticate." },
  })
end

-- A delegated access token, an ID token and a refresh token for a person signed in to app.
local function tokens(id, req, grant)
  local now = util.now()
  local iat, exp = math.floor(now), math.ceil(now + id.lifetime)
  local upn = grant.upn
  local oid = grant.oid
  local access = jwt.sign_hs256(id.key, { kid = "vpptoken-sandbox" }, {
    aud = id.url, iss = "https://sts.windows.net/" .. id.tenant .. "/", iat = iat, nbf = iat, exp = exp,
    tid = id.tenant, appid = grant.client_id, azp = grant.client_id, appidacr = "0", oid = oid, sub = oid,
    idtyp = "user", scp = grant.scp, upn = upn, unique_name = upn, name = grant.name, ver = "1.0",
    uti = jwt.b64url_encode(crypto.random(16)),
  })
  local id_token = jwt.sign_hs256(id.key, { kid = "vpptoken-sandbox" }, {
    aud = grant.client_id, iss = id.url .. "/" .. id.tenant .. "/v2.0", iat = iat, nbf = iat, exp = exp,
    tid = id.tenant, oid = oid, sub = oid, preferred_username = upn, name = grant.name, ver = "2.0",
  })
  local members = {
    { "token_type", "Bearer" }, { "scope", grant.scp }, { "expires_in", math.max(exp - iat, 0) },
    { "ext_expires_in", math.max(exp - iat, 0) }, { "access_token", access },
  }
  if grant.offline then
    local st = state(id)
    local rt = jwt.b64url_encode(crypto.random(64))
    st.refresh[rt] = { client_id = grant.client_id, scp = grant.scp, upn = upn, oid = oid, name = grant.name,
                       offline = true }
    st.refresh_order[#st.refresh_order + 1] = rt
    forget_oldest(st.refresh_order, st.refresh, MAX_REFRESH)
    members[#members + 1] = { "refresh_token", rt }
  end
  members[#members + 1] = { "id_token", id_token }
  return answer(req, members)
end

local function poll(id, req, form)
  local client_id = token.required(form, "client_id")
  public_app(id, client_id)
  local st = state(id)
  local code = st.codes[token.required(form, "device_code")]
  if not code or code.client_id ~= client_id then
    fail(400, "invalid_grant", 70000, "The provided value for the input parameter 'device_code' is not valid.")
  end
  local now = util.now()
  local previous = code.poll_times[#code.poll_times]
  code.polls = code.polls + 1
  if #code.poll_times < MAX_POLL_TIMES then code.poll_times[#code.poll_times + 1] = now end
  if code.status == "redeemed" then
    fail(400, "invalid_grant", 70000, "The provided value for the input parameter 'device_code' was already "
      .. "redeemed.")
  end
  if now >= code.expires then
    fail(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. "
      .. "This device code has expired.")
  end
  local approve, deny = code.approve_after or 0, code.deny_after or 0
  if code.status == "pending" and approve > 0 and code.polls >= approve then code.status = "approved" end
  if code.status == "pending" and deny > 0 and code.polls >= deny then code.status = "declined" end
  if code.polls <= code.slow_down or (previous and now - previous < code.interval - LEEWAY) then
    code.interval = code.interval + 5
    fail(400, "slow_down", 70016, "The client is polling too often: wait at least " .. code.interval
      .. " seconds between requests.")
  end
  if code.status == "declined" then
    fail(400, "authorization_declined", 70000, "The end user declined the authorization request.")
  end
  if code.status == "pending" then
    fail(400, "authorization_pending", 70016, "The provided request has not yet been authorized by the user. "
      .. "The user must input their code.")
  end
  code.status = "redeemed"
  return tokens(id, req, { client_id = code.client_id, scp = code.scp, offline = code.offline, upn = code.upn,
                           oid = util.guid(), name = code.upn:match("^[^@]*") })
end

local function refresh(id, req, form)
  local client_id = token.required(form, "client_id")
  public_app(id, client_id)
  local st = state(id)
  local rt = token.required(form, "refresh_token")
  local grant = st.refresh[rt]
  if not grant or grant.client_id ~= client_id then
    fail(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to "
      .. "inactivity, was revoked or was already used. Send a new interactive authorization request for this user "
      .. "and resource.")
  end
  st.refresh[rt] = nil -- used once
  return tokens(id, req, grant)
end

local function exchange(id, req)
  local tenant = req.path:match(CODE_PATH)
  if tenant then return issue_code(id, req, tenant) end
  tenant = token.match(req.path)
  check_tenant(id, tenant)
  local form = token.parse_form(req.body)
  if GRANT_DEVICE[form.grant_type] then return poll(id, req, form) end
  return refresh(id, req, form)
end

-- Control routes.
local function control_answer(status, value)
  local h = { ["Cache-Control"] = "no-cache" }
  if value == nil then return status, h, "" end
  h["Content-Type"] = "application/json;charset=utf-8"
  return status, h, json.encode(value)
end

local function control_fail(status, message)
  return control_answer(status, { error = { code = errors.code_for(status), message = message } })
end

local function body(req)
  local text = req.body or ""
  if text:match("^%s*$") then return {} end
  local obj = json.decode(text)
  if type(obj) ~= "table" or not text:match("^%s*{") then return nil end
  return obj
end

local function settings(st, obj)
  for k in pairs(obj) do
    if not SETTING_KEYS[k] then return "Unknown field '" .. tostring(k) .. "'." end
  end
  for _, k in ipairs{ "interval", "expires_in", "slow_down", "approve_after", "deny_after" } do
    local v = obj[k]
    if v ~= nil and (type(v) ~= "number" or v ~= math.floor(v) or v < 0 or v > 86400) then
      return "'" .. k .. "' must be an integer from 0 to 86400."
    end
  end
  if obj.upn ~= nil and (type(obj.upn) ~= "string" or obj.upn == "") then return "'upn' must be a string." end
  for k in pairs(SETTING_KEYS) do
    local v = obj[k]
    if v ~= nil then st.settings[k] = type(v) == "number" and math.tointeger(v) or v end
  end
  return nil
end

local function control(id, req)
  if not id then return control_fail(400, "The sandbox has no registered apps (start it with --apps FILE).") end
  local st = state(id)
  local action = req.path:match("^/_sandbox/devicecode/(%a+)$")
  if not action then
    if req.method ~= "GET" then return control_fail(405, "Method " .. req.method .. " is not allowed here.") end
    local list = json.array()
    for _, dc in ipairs(st.order) do
      local c = st.codes[dc]
      if c then
        list[#list + 1] = { user_code = c.user_code, client_id = c.client_id, status = c.status, polls = c.polls,
                            poll_times = json.array(c.poll_times), interval = c.interval }
      end
    end
    return control_answer(200, { value = list, settings = st.settings })
  end
  if req.method ~= "POST" then return control_fail(405, "Method " .. req.method .. " is not allowed here.") end
  local obj = body(req)
  if not obj then return control_fail(400, "The body must be a JSON object.") end
  if action == "settings" then
    local why = settings(st, obj)
    if why then return control_fail(400, why) end
    return control_answer(200, { settings = st.settings })
  elseif action == "revoke" then
    st.refresh, st.refresh_order = {}, {}
    return control_answer(200, { revoked = true })
  elseif action == "approve" or action == "deny" then
    local code = type(obj.user_code) == "string" and st.by_user[obj.user_code]
    if not code or code.status ~= "pending" then return control_fail(404, "No pending code with that user_code.") end
    if obj.upn ~= nil and (type(obj.upn) ~= "string" or obj.upn == "") then
      return control_fail(400, "'upn' must be a string.")
    end
    code.status = action == "approve" and "approved" or "declined"
    if obj.upn then code.upn = obj.upn end
    return control_answer(200, { user_code = code.user_code, status = code.status })
  end
  return control_fail(404, "Nothing at '" .. req.path .. "'.")
end

local function traceback(e)
  if type(e) == "table" then return e end
  return debug.traceback(tostring(e), 2)
end

-- Handles a request for which device.wants(req) is true. id: the identity state (nil without --apps).
function device.handle(id, req)
  if req.path == CONTROL or req.path:match("^/_sandbox/") then return control(id, req) end
  local ok, status, h, b = xpcall(exchange, traceback, id, req)
  if ok then return status, h, b end
  if type(status) == "table" and status.aad then return token.error_response(req, status) end
  error(status, 0)
end

return device
