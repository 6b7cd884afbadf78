--- Signing in as a person: the OAuth 2.0 device authorization grant (RFC 8628) of the Microsoft identity platform,
-- and the per-user cache of its refresh tokens that `vpptoken login` fills and later runs use.
--
-- local login = require "vpptoken.login"
-- login.device_code{ on_message = function(m) io.stderr:write(m.message, "\n") end }
-- local cred = login.cached_credential{}   -- later, in another process
-- local client = vpptoken.new{ token_provider = cred:token_provider() }
--
-- The cache is one JSON file, `$XDG_CACHE_HOME/vpptoken/logins.json` (`~/.cache/vpptoken/logins.json` without the
-- variable), mode 0600 in a 0700 directory, replaced atomically (a new file created exclusively, then renamed), and
-- refused when another user owns it or group or others may read it. It keeps, per (authority, tenant, client id),
-- the refresh token and what `whoami` shows (account, tenant, scopes, expiry), never an access token.
-- @module vpptoken
local auth = require "vpptoken.auth"
local core = require "vpptoken.core"
local waiting = require "vpptoken.wait"
local cjson = require "cjson.safe"
local Client = require "vpptoken.client"
local errors = require "vpptoken.error"
local fileio = require "vpptoken.fileio"
local json = require "vpptoken.json"
local options = require "vpptoken.options"
local request = require "vpptoken.request"
local safe_text = require "vpptoken.text"
local signin = require "vpptoken.signin"
local compat = require "vpptoken.compat"

local M = {}

--- Microsoft's public client "Microsoft Graph Command Line Tools" (the app Connect-MgGraph signs in with): the
-- default client id. It needs the delegated Graph permission PERMISSION, consented in the tenant.
M.DEFAULT_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
--- The tenant signed in to when none is given: any work or school account's own.
M.DEFAULT_TENANT = "organizations"
--- The delegated Graph permission the VPP token operations need.
M.PERMISSION = "DeviceManagementApps.ReadWrite.All"
-- Scopes asked for besides Graph's: a refresh token (offline_access) and the account's name (openid, profile).
M.EXTRA_SCOPES = { "offline_access", "openid", "profile" }

-- Bounds of the device code flow and of the cache.
M.LIMITS = {
  max_wait = 900,      -- seconds a sign-in waits for the person at most (the service's expires_in is 900)
  max_polls = 1000,    -- token requests of one sign-in at most
  min_interval = 1,    -- seconds between polls: the server's interval, kept within these
  max_interval = 60,
  default_interval = 5, -- when the server names none (RFC 8628, 3.2)
  slow_down = 5,       -- seconds added to the interval at each slow_down (RFC 8628, 3.5)
  cache_bytes = 256 * 1024, -- the cache file's size cap
  user_code_bytes = 64,     -- the longest user code shown (the service's are 9 characters)
  max_logins = 64,     -- entries the cache keeps (the oldest go)
}

local GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
local FORM = { ["Content-Type"] = "application/x-www-form-urlencoded", Accept = "application/json" }
local CACHE_NAME = "logins.json"
local AGAIN = "run 'vpptoken login' again"

-- The options each function takes besides vpptoken.new's "where" and transport options.
-- (true: any type, checked further on; else the type the options checker asks for).
local OWN = { tenant_id = true, client_id = true, cache_file = true, on_message = "function", on_request = "function" }
local WHERE = { "cloud", "api_version", "base_url", "authority_url" }
local KNOWN = {}
for k, v in pairs(OWN) do KNOWN[k] = v end
for _, k in ipairs(WHERE) do KNOWN[k] = true end
for _, k in ipairs(core.session_options) do KNOWN[k] = true end

local form_encode, auth_error, usable_token = auth.form_encode, auth.auth_error, auth.usable_token


--- The claims of a JWT's payload, read without checking its signature: for showing who signed in, never to trust.
-- Returns a table, or nil.
-- @function login.claims
M.claims = signin.claims

local function str(v)
  return type(v) == "string" and v ~= "" and v or nil
end

-- The latest time a cache entry may name (the end of year 9999): a date every formatter can show.
local MAX_EPOCH = 253402300799

-- A time read from the cache file: whole epoch seconds from 1970 to MAX_EPOCH, else nil (the file is not trusted
-- to hold a number os.date can take).
local function epoch(v)
  local n = tonumber(v)
  local t = n and compat.tointeger(math.floor(n))
  return t and t >= 0 and t <= MAX_EPOCH and t or nil
end

-- Where a sign-in happens, from vpptoken.new's options (one rule: vpptoken.new's own): a client that is never
-- signed in, whose session carries the requests, its authority and Graph's resource URI.
local function place(opts, fname, level)
  local copts = { access_token = "vpptoken-login-unused" }
  for _, k in ipairs(WHERE) do copts[k] = opts[k] end
  for _, k in ipairs(core.session_options) do copts[k] = opts[k] end
  copts.on_request = opts.on_request
  local ok, client = pcall(Client.new, copts)
  if not ok then
    local why = tostring(client):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^vpptoken%.new: ", "")
    error(fname .. ": " .. why, level or 3)
  end
  return client, client.authority_url, (client.scope:gsub("/%.default$", ""))
end

local function check_string(opts, key, fname, level)
  local v = opts[key]
  if v ~= nil and (type(v) ~= "string" or v == "" or v:find("[%z\1-\32\127]")) then
    error(fname .. ": " .. key .. " must be a non-empty string without spaces or control characters", level or 3)
  end
  return v
end

-- The scopes a sign-in asks for, for Graph's resource URI.
local function scopes_for(resource)
  local list = { resource .. "/" .. M.PERMISSION }
  for _, s in ipairs(M.EXTRA_SCOPES) do list[#list + 1] = s end
  return table.concat(list, " ")
end

--- The cache file's path: `cache_file` if given, else under $XDG_CACHE_HOME (or ~/.cache). Nil and a reason when
-- neither XDG_CACHE_HOME nor HOME is set. getenv: a function like os.getenv (the default) to read them with.
-- @function login.cache_path
function M.cache_path(cache_file, getenv)
  if cache_file then return cache_file end
  local dir, why = fileio.cache_dir(getenv)
  if not dir then return nil, why end
  return dir .. "/" .. CACHE_NAME
end

local function cache_error(message)
  return auth_error("LoginCacheError", message)
end

-- The cache's entries: a list, or nil, err. A missing file is an empty cache.
local function read_cache(path)
  local ok, why, code = fileio.check_private(path)
  if not ok then
    if code == "FileNotFound" then return {} end
    return nil, cache_error("the sign-in cache " .. safe_text.quoted(path, fileio.PATH_SHOWN_MAX)
      .. " is refused: " .. why)
  end
  local text, msg = fileio.read(path, M.LIMITS.cache_bytes, "sign-in cache")
  if not text then return nil, cache_error(msg) end
  local doc = json.decode(text)
  if type(doc) ~= "table" or type(doc.logins) ~= "table" then
    return nil, cache_error("the sign-in cache " .. safe_text.quoted(path, fileio.PATH_SHOWN_MAX)
      .. " is not a vpptoken sign-in cache: remove it and " .. AGAIN)
  end
  local list = {}
  for _, e in ipairs(doc.logins) do
    if type(e) == "table" and str(e.authority) and str(e.tenant) and str(e.client_id) and str(e.refresh_token) then
      list[#list + 1] = e
    end
    if #list >= M.LIMITS.max_logins then break end
  end
  return list
end

-- The cache's directory, made (0700) if missing, or checked (its owner alone may enter). true, or nil, err.
local function cache_dir(path)
  local ok, dir, why = fileio.private_dir_of(path)
  if not ok then
    return nil, cache_error("the sign-in cache directory " .. safe_text.quoted(dir, fileio.PATH_SHOWN_MAX)
      .. " is refused: " .. why)
  end
  return true
end

-- Whether a sign-in could be kept at `path` (its directory and the file as it is): checked before anyone is asked
-- to sign in, so no sign-in is thrown away. true, or nil, err.
local function cache_usable(path)
  local ok, err = cache_dir(path)
  if not ok then return nil, err end
  local list, rerr = read_cache(path)
  if not list then return nil, rerr end
  return true
end

-- Replaces the cache with `list`: a new 0600 file beside it, then a rename. true, or nil, err.
local function write_cache(path, list)
  local dir_ok, derr = cache_dir(path)
  if not dir_ok then return nil, derr end
  while #list > M.LIMITS.max_logins do table.remove(list, 1) end
  local function encode() return assert(cjson.encode({ version = 1, logins = setmetatable(list, cjson.array_mt) })) end
  -- a cache the next read would refuse (over cache_bytes) is never written: the oldest sign-ins go first, and
  -- one sign-in too large alone (a server's huge refresh token) is refused, the cache left as it was
  local text = encode()
  while #text > M.LIMITS.cache_bytes and #list > 1 do
    table.remove(list, 1)
    text = encode()
  end
  if #text > M.LIMITS.cache_bytes then
    return nil, cache_error(string.format("the sign-in is too large to keep (the cache holds %d bytes at most)",
      M.LIMITS.cache_bytes))
  end
  local ok, why = fileio.replace_private(path, text)
  if not ok then return nil, cache_error("cannot write the sign-in cache: " .. why) end
  return true
end

local function same_key(e, authority, tenant, client_id)
  return e.authority == authority and (client_id == nil or e.client_id == client_id)
    and (tenant == nil or e.tenant == tenant or e.tenant_id == tenant)
end

-- The newest entry matching (tenant or client_id nil: any), and its index.
local function find(list, authority, tenant, client_id)
  local best, at
  for i, e in ipairs(list) do
    if same_key(e, authority, tenant, client_id) and (not best or (tonumber(e.saved_at) or 0)
        >= (tonumber(best.saved_at) or 0)) then
      best, at = e, i
    end
  end
  return best, at
end

-- Stores (or replaces) the entry for its key.
local function save(path, entry)
  local list, err = read_cache(path)
  if not list then return nil, err end
  local out = {}
  for _, e in ipairs(list) do
    if not (e.authority == entry.authority and e.tenant == entry.tenant and e.client_id == entry.client_id) then
      out[#out + 1] = e
    end
  end
  out[#out + 1] = entry
  return write_cache(path, out)
end

-- One form POST over the client's session, reported to on_request (never its body). resp, or nil, err.
local function post(client, url, form)
  local resp, terr = client.session:request("POST", url, FORM, form_encode(form))
  if not resp then
    local err = errors.from_transport(terr)
    request.observe(client, "POST", url, nil, err)
    return nil, err
  end
  request.observe(client, "POST", url, resp)
  return resp
end

-- A token endpoint's 200 answer: the document, or nil, err.
local function token_answer(resp, url)
  local doc = json.decode(resp.body)
  if type(doc) ~= "table" or type(doc.access_token) ~= "string" or doc.access_token == ""
      or not usable_token(doc.access_token) then
    return nil, auth_error("InvalidTokenResponse", "the token endpoint answered without a usable access_token",
      { method = "POST", url = url, status = resp.status })
  end
  return doc
end

-- What the cache keeps from a token answer (no access token), merged over the previous entry.
local function entry_from(doc, prev, key)
  local id = M.claims(doc.id_token) or {}
  local at = M.claims(doc.access_token) or {}
  local lifetime = tonumber(doc.expires_in)
  if not lifetime or lifetime ~= lifetime then lifetime = 3599 end
  lifetime = math.max(0, math.min(lifetime, auth.MAX_LIFETIME))
  local now = os.time()
  local e = { authority = key.authority, tenant = key.tenant, client_id = key.client_id,
              refresh_token = str(doc.refresh_token) or prev.refresh_token, saved_at = now,
              access_expires_at = now + lifetime,
              scopes = str(doc.scope) or str(at.scp) or prev.scopes,
              tenant_id = str(id.tid) or str(at.tid) or prev.tenant_id,
              account = str(id.preferred_username) or str(at.upn) or str(at.unique_name) or prev.account,
              name = str(id.name) or str(at.name) or prev.name,
              signed_in_at = prev.signed_in_at or now }
  return e, lifetime
end

local function clamp_interval(v)
  v = compat.tointeger(tonumber(v)) or M.LIMITS.default_interval
  return math.max(M.LIMITS.min_interval, math.min(v, M.LIMITS.max_interval))
end

local DEVICE_OPTIONS = KNOWN

--- Signs a person in with the device code flow and keeps the refresh token in the cache.
-- opts: on_message (required: a function(m) given m.message, m.verification_uri, m.user_code, m.expires_in and
-- m.authority (the sign-in host asked), to show the person; m.message is vpptoken's own sentence naming the
-- checked verification_uri and the code, never the service's text), tenant_id (default DEFAULT_TENANT),
-- client_id (default DEFAULT_CLIENT_ID), cache_file, and vpptoken.new's cloud, base_url, authority_url,
-- on_request and transport options. Waits (polling at the server's interval, slower on slow_down) until the
-- person has approved or declined, the code expires, or LIMITS.max_wait. Returns what whoami returns, or nil, err:
-- an auth error with code DeviceCodeExpired, LoginDeclined, LoginCacheError or the identity platform's error code.
-- @function login.device_code
function M.device_code(opts)
  opts = options.check(opts, "vpptoken.login.device_code", DEVICE_OPTIONS)
  if type(opts.on_message) ~= "function" then
    error("vpptoken.login.device_code: on_message must be a function that shows the person the code", 2)
  end
  local tenant = check_string(opts, "tenant_id", "vpptoken.login.device_code") or M.DEFAULT_TENANT
  local client_id = check_string(opts, "client_id", "vpptoken.login.device_code") or M.DEFAULT_CLIENT_ID
  local path, perr = M.cache_path(opts.cache_file)
  if not path then return nil, cache_error(perr) end
  local client, authority, resource = place(opts, "vpptoken.login.device_code")
  local usable, uerr = cache_usable(path)
  if not usable then
    client:close()
    return nil, uerr
  end
  local base = authority .. "/" .. core.escape(tenant) .. "/oauth2/v2.0/"
  local scope = scopes_for(resource)
  local ok, result, err = pcall(function()
    local code_url, token_url = base .. "devicecode", base .. "token"
    local resp, rerr = post(client, code_url, { client_id = client_id, scope = scope })
    if not resp then return nil, rerr end
    if resp.status ~= 200 then
      local e = errors.from_response(resp, "POST", code_url)
      e.kind = "auth"
      return nil, e
    end
    local doc = json.decode(resp.body)
    if type(doc) ~= "table" or not str(doc.device_code) or not str(doc.user_code)
        or #doc.user_code > M.LIMITS.user_code_bytes or not str(doc.verification_uri) then
      return nil, auth_error("InvalidDeviceCodeResponse", "the device code endpoint answered without a usable "
        .. "device_code, user_code and verification_uri", { method = "POST", url = code_url, status = resp.status })
    end
    -- the page the person is sent to: https (plain http only to this machine, as every URL the library follows)
    local page, why = core.check_url(doc.verification_uri)
    if not page then
      return nil, auth_error("InvalidDeviceCodeResponse", "the device code endpoint named a sign-in page that is "
        .. "refused: " .. why, { method = "POST", url = code_url, status = resp.status })
    end
    local interval = clamp_interval(doc.interval)
    local expires_in = tonumber(doc.expires_in) or M.LIMITS.max_wait
    if expires_in ~= expires_in then expires_in = M.LIMITS.max_wait end
    local wait = math.max(0, math.min(expires_in, M.LIMITS.max_wait))
    local uri, user_code = safe_text.printable(doc.verification_uri), safe_text.printable(doc.user_code)
    -- in vpptoken's own words: the service's `message` could name a page other than the one checked above
    local message = string.format("To sign in, open %s and enter the code %s.", uri, user_code)
    opts.on_message({ message = message, verification_uri = uri, user_code = user_code, expires_in = wait,
                      authority = authority })
    local deadline = core.monotonic() + wait
    local form = { client_id = client_id, grant_type = GRANT_DEVICE, device_code = doc.device_code }
    for _ = 1, M.LIMITS.max_polls do
      -- the last poll may come up to one interval after expires_in: the server says whether the code expired
      if core.monotonic() > deadline then break end
      waiting.sleep(interval)
      local tresp, terr = post(client, token_url, form)
      if not tresp then return nil, terr end
      if tresp.status == 200 then
        local answer, aerr = token_answer(tresp, token_url)
        if not answer then return nil, aerr end
        if not str(answer.refresh_token) then
          return nil, auth_error("NoRefreshToken", "the sign-in gave no refresh token (was offline_access refused?)",
            { method = "POST", url = token_url })
        end
        local entry = entry_from(answer, {}, { authority = authority, tenant = tenant, client_id = client_id })
        local saved, serr = save(path, entry)
        if not saved then return nil, serr end
        return M.describe(entry)
      end
      local e = errors.from_response(tresp, "POST", token_url, { doc.device_code })
      e.kind = "auth"
      if e.code == "slow_down" then
        interval = math.min(interval + M.LIMITS.slow_down, M.LIMITS.max_interval)
      elseif e.code == "expired_token" then
        return nil, auth_error("DeviceCodeExpired", "the code expired before the sign-in was completed: " .. AGAIN,
          { method = "POST", url = token_url, status = tresp.status })
      elseif e.code == "access_denied" or e.code == "authorization_declined" then
        return nil, auth_error("LoginDeclined", "the sign-in was declined", { method = "POST", url = token_url,
          status = tresp.status })
      elseif e.code ~= "authorization_pending" then
        return nil, e
      end
    end
    return nil, auth_error("DeviceCodeExpired", string.format("nobody completed the sign-in within %d seconds: %s",
      math.floor(wait), AGAIN))
  end)
  client:close()
  if not ok then error(result, 0) end
  return result, err
end

--- What a cache entry says about a sign-in (never a token): { authority, tenant (as given to login), tenant_id
-- (the directory's id), client_id, account, name, scopes (a list), expires_at (the last access token's expiry,
-- epoch seconds), signed_in_at }.
-- @function login.describe
function M.describe(e)
  local scopes = {}
  for s in (str(e.scopes) or ""):gmatch("%S+") do scopes[#scopes + 1] = s end
  return { authority = e.authority, tenant = e.tenant, tenant_id = str(e.tenant_id), client_id = e.client_id,
           account = str(e.account), name = str(e.name), scopes = scopes, expires_at = epoch(e.access_expires_at),
           signed_in_at = epoch(e.signed_in_at) }
end

-- The cache entry for opts (tenant_id or client_id nil: the newest sign-in at the authority with any), with its
-- path and place.
local function lookup(opts, fname)
  local tenant = check_string(opts, "tenant_id", fname, 4) -- raised at the public function's caller
  local client_id = check_string(opts, "client_id", fname, 4)
  local path, perr = M.cache_path(opts.cache_file)
  if not path then return nil, cache_error(perr) end
  local client, authority, resource = place(opts, fname, 4)
  local list, err = read_cache(path)
  if not list then
    client:close()
    return nil, err
  end
  local entry = find(list, authority, tenant, client_id)
  return { entry = entry, path = path, client = client, authority = authority, resource = resource,
           tenant = tenant, client_id = client_id }
end

local function no_login(where)
  return auth_error("NotSignedIn", "no cached sign-in for " .. where .. ": run 'vpptoken login'")
end

local function where_text(l)
  return l.authority .. (l.tenant and (" tenant " .. l.tenant) or "") .. (l.client_id and (" client " .. l.client_id)
    or "")
end

--- The cached sign-in: whoami's table (see describe), or nil, err (NotSignedIn, LoginCacheError).
-- opts: tenant_id, client_id, cache_file and vpptoken.new's "where" options, as for device_code; without tenant_id
-- or client_id, the newest sign-in at the authority that matches the others.
-- @function login.whoami
function M.whoami(opts)
  opts = options.check(opts, "vpptoken.login.whoami", KNOWN)
  local l, err = lookup(opts, "vpptoken.login.whoami")
  if not l then return nil, err end
  l.client:close()
  if not l.entry then return nil, no_login(where_text(l)) end
  return M.describe(l.entry)
end

--- Removes the cached sign-in: true when one was removed, false when there was none; or nil, err.
-- @function login.logout
function M.logout(opts)
  opts = options.check(opts, "vpptoken.login.logout", KNOWN)
  local l, err = lookup(opts, "vpptoken.login.logout")
  if not l then return nil, err end
  l.client:close()
  if not l.entry then return false end
  local list, rerr = read_cache(l.path)
  if not list then return nil, rerr end
  local out = {}
  for _, e in ipairs(list) do
    if not (e.authority == l.entry.authority and e.tenant == l.entry.tenant and e.client_id == l.entry.client_id) then
      out[#out + 1] = e
    end
  end
  if #out == 0 then
    local ok, why = os.remove(l.path)
    if not ok then return nil, cache_error("cannot remove the sign-in cache: " .. tostring(why)) end
    return true
  end
  local ok, werr = write_cache(l.path, out)
  if not ok then return nil, werr end
  return true
end

local Credential = {}
Credential.__index = Credential
Credential.__name = "vpptoken.login.Credential"

function Credential:__tostring()
  return "vpptoken.login.Credential (" .. tostring(self.account or "-") .. ")"
end

-- token(session [, force [, report]]) -> access token | nil, err: the access token, fetched with the cached
-- refresh token when the last one is near expiry (or `force`); the rotated refresh token is stored. A refused
-- refresh (invalid_grant) is an auth error LoginExpired that says to sign in again.
function Credential:token(session, force, report)
  local now = os.time()
  if self.access and not force and now < self.refresh_at then return self.access end
  local list, lerr = read_cache(self.path)
  if not list then return nil, lerr end
  local entry = find(list, self.authority, self.key_tenant, self.client_id)
  if not entry then return nil, no_login(self.authority .. " tenant " .. self.key_tenant .. " client "
    .. self.client_id) end
  local url = self.authority .. "/" .. core.escape(entry.tenant) .. "/oauth2/v2.0/token"
  local form = { client_id = self.client_id, grant_type = "refresh_token", refresh_token = entry.refresh_token,
                 scope = self.scope }
  local resp, terr = session:request("POST", url, FORM, form_encode(form))
  if not resp then
    local err = errors.from_transport(terr)
    if report then report("POST", url, nil, err) end
    return nil, err
  end
  if resp.status ~= 200 then
    local err = errors.from_response(resp, "POST", url, { entry.refresh_token })
    err.kind = "auth"
    if report then report("POST", url, resp, err) end
    if err.code == "invalid_grant" then
      return nil, auth_error("LoginExpired", "the cached sign-in of " .. tostring(entry.account or "this account")
        .. " was refused (invalid_grant: expired, revoked or the password changed): " .. AGAIN,
        { method = "POST", url = url, status = resp.status, trace_id = err.trace_id,
          correlation_id = err.correlation_id })
    end
    return nil, err
  end
  if report then report("POST", url, resp) end
  local doc, derr = token_answer(resp, url)
  if not doc then return nil, derr end
  local fresh, lifetime = entry_from(doc, entry, entry)
  local saved, serr = save(self.path, fresh)
  if not saved then return nil, serr end
  self.access = doc.access_token
  self.refresh_at = now + lifetime - math.min(300, lifetime / 2)
  return self.access
end

-- Whether a new token can be had after Graph rejected one: always (with the refresh token).
function Credential.can_refresh()
  return true
end

-- A function for vpptoken.new's token_provider option: the access token, or nil and the error's message. Its
-- requests go over a session of their own, made with the options the credential was made with.
function Credential:token_provider()
  return function(force)
    local tok, err = self:token(self.client.session, force, function(method, url, resp, e)
      request.observe(self.client, method, url, resp, e)
    end)
    if tok then return tok end
    return nil, err.message
  end
end

--- The credential of a cached `vpptoken login`, for the sign-in chain: a Credential (with :token(session, force,
-- report), :can_refresh() and :token_provider()), or nil and an error saying why none applies (NotSignedIn,
-- LoginCacheError). opts as for whoami; without tenant_id or client_id, the newest sign-in at the authority that
-- matches the others.
-- @function login.cached_credential
function M.cached_credential(opts)
  opts = options.check(opts, "vpptoken.login.cached_credential", KNOWN)
  local l, err = lookup(opts, "vpptoken.login.cached_credential")
  if not l then return nil, err end
  if not l.entry then
    l.client:close()
    return nil, no_login(where_text(l))
  end
  return setmetatable({ path = l.path, authority = l.authority, key_tenant = l.entry.tenant,
                        client_id = l.entry.client_id, scope = scopes_for(l.resource), account = l.entry.account,
                        client = l.client, refresh_at = 0 }, Credential)
end

return M
