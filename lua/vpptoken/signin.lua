--- The credentials that hold no secret of their own: a managed identity (App Service, Functions, Azure Automation,
-- Container Apps through IDENTITY_ENDPOINT; a virtual machine through IMDS), workload identity federation (a JWT
-- file another system rotates), and the token of the signed-in Azure CLI user. vpptoken.auth builds them from
-- vpptoken.new's options (managed_identity, federated_token_file, azure_cli) and caches what they fetch.
-- Each `fetch(self, session, report)` returns { token, expires_at } or nil, err.
local core = require "vpptoken.core"
local waiting = require "vpptoken.wait"
local errors = require "vpptoken.error"
local fileio = require "vpptoken.fileio"
local json = require "vpptoken.json"
local oauth = require "vpptoken.oauth"
local options = require "vpptoken.options"
local safe_text = require "vpptoken.text"

local M = {}

--- The IMDS host of every Azure virtual machine; AZURE_POD_IDENTITY_AUTHORITY_HOST replaces it.
M.IMDS_HOST = "http://169.254.169.254"
local IMDS_PATH = "/metadata/identity/oauth2/token"
local IMDS_API = "2018-02-01"
local APP_SERVICE_API = "2019-08-01"
--- The limits of the Azure CLI run: seconds (az can be slow to start) and bytes of each of its outputs.
M.AZ_TIMEOUT = 60
M.AZ_MAX_OUTPUT = 1024 * 1024

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

local auth_error, query = oauth.auth_error, oauth.form_encode
M.auth_error, M.form_encode = auth_error, query

-- The time a token expires: expires_on (epoch seconds, a number or its text), else expires_in from now; nil when
-- neither is a number.
local function expiry(doc, now)
  local on = tonumber(doc.expires_on)
  if on and on == on then return on end
  local within = tonumber(doc.expires_in)
  if within and within == within then return now + within end
  return nil
end

local usable_token = oauth.usable_token
M.usable_token = usable_token

-- An answer's access token and expiry, or nil, err.
local function read_answer(doc, now, what, extra)
  if type(doc) ~= "table" or not usable_token(doc.access_token) then
    return nil, auth_error("InvalidTokenResponse", what .. " answered without a usable access_token", extra)
  end
  return { token = doc.access_token, expires_at = expiry(doc, now) or now + 3599 }
end

--- The claims of a JWT's payload, read without checking its signature (never to trust: to show who signed in, or
-- to refuse a token for another tenant than expected). Returns a table, or nil.
function M.claims(jwt)
  if type(jwt) ~= "string" or #jwt > 64 * 1024 then return nil end
  local payload = jwt:match("^[%w%-_]+%.([%w%-_]+)%.[%w%-_]*$")
  local text = payload and core.base64_decode(payload) -- base64url too, in C on every Lua
  local doc = text and json.decode(text)
  return type(doc) == "table" and doc or nil
end

-- ---- managed identity ----

local MI_OPTIONS = { client_id = true, object_id = true, resource_id = true, endpoint = true, header = true,
                     imds_host = true, tenant_id = true }

--- Reads `managed_identity = true | { client_id | object_id | resource_id, endpoint, header, imds_host,
-- tenant_id }`: where the identity is asked (endpoint + header: App Service's IDENTITY_ENDPOINT/IDENTITY_HEADER;
-- otherwise IMDS at imds_host, default AZURE_POD_IDENTITY_AUTHORITY_HOST or 169.254.169.254); tenant_id: the
-- tenant its tokens must be for (a token whose tid is another is refused, WrongTenant). Raises on misuse.
function M.managed_identity(value, resource, getenv)
  getenv = getenv or os.getenv
  if value ~= true and type(value) ~= "table" then
    error("vpptoken.new: managed_identity must be true or a table { client_id | object_id | resource_id }", 4)
  end
  local o = value == true and {} or options.check(value, "vpptoken.new: managed_identity", MI_OPTIONS, 4)
  for k in pairs(o) do
    if type(o[k]) ~= "string" or o[k] == "" then
      error("vpptoken.new: managed_identity." .. k .. " must be a non-empty string", 4)
    end
  end
  local chosen = (o.client_id and 1 or 0) + (o.object_id and 1 or 0) + (o.resource_id and 1 or 0)
  if chosen > 1 then error("vpptoken.new: managed_identity takes one of client_id, object_id, resource_id", 4) end
  local function env(name)
    local v = getenv(name)
    return v ~= "" and v or nil
  end
  local self = { kind = "managed_identity", resource = resource, select = o, tenant_id = o.tenant_id }
  self.endpoint = o.endpoint or (o.imds_host == nil and env("IDENTITY_ENDPOINT")) or nil
  if self.endpoint then
    self.header = o.header or env("IDENTITY_HEADER")
    if type(self.header) ~= "string" or self.header == "" then
      error("vpptoken.new: managed_identity: IDENTITY_ENDPOINT needs IDENTITY_HEADER", 4)
    end
    if self.header:find("[%z\r\n]") then -- it could not be sent; never shown (it is a secret)
      error("vpptoken.new: managed_identity: the identity header (IDENTITY_HEADER) contains CR, LF or NUL", 4)
    end
    self.url = self.endpoint
  else
    local host = (o.imds_host or env("AZURE_POD_IDENTITY_AUTHORITY_HOST") or M.IMDS_HOST):gsub("/+$", "")
    self.url, self.imds = host .. IMDS_PATH, host == M.IMDS_HOST
  end
  local origin, why = core.check_url(self.url)
  if not origin and not self.imds then
    error("vpptoken.new: managed_identity: the endpoint " .. self.url .. " is refused: " .. why, 4)
  end
  -- the header is part of the key, as a secret is: a wrong header never gets the token a right one fetched; so is
  -- the tenant expected: a token checked for one tenant is never handed to a client expecting another
  self.cache_key = table.concat({ "managed_identity", self.url, o.client_id or "", o.object_id or "",
                                  o.resource_id or "", resource, self.header or "", o.tenant_id or "" }, "\n")
  self.fetch = M.fetch_managed_identity
  return self
end

-- IMDS answers these while it starts or is busy: worth another try (Azure's IMDS guidance).
local function imds_retryable(status)
  return status == 410 or status == 429 or status >= 500
end

--- Fetches a token from the managed-identity endpoint. IMDS answers of 410, 429 and 5xx are tried again with the
-- session's backoff, as often as its retry policy allows (max_retries, max_retry_time): at most max_retries + 1
-- attempts in all, the session's own retries of 429 and 503 counted.
function M.fetch_managed_identity(self, session, report)
  local o = self.select
  local q, headers = { resource = self.resource }, { Accept = "application/json" }
  if self.endpoint then
    q["api-version"] = APP_SERVICE_API
    q.client_id, q.object_id, q.mi_res_id = o.client_id, o.object_id, o.resource_id
    headers["X-IDENTITY-HEADER"] = self.header
  else
    q["api-version"] = IMDS_API
    q.client_id, q.object_id, q.msi_res_id = o.client_id, o.object_id, o.resource_id
    headers.Metadata = "true"
  end
  local url = self.url .. (self.url:find("?", 1, true) and "&" or "?") .. query(q)
  local mode = self.imds and "imds" or nil
  local resp, terr
  local attempts, waited = 0, 0
  for _ = 1, 64 do -- the session's retry policy ends it well before: retry_wait counts every attempt made
    resp, terr = session:request("GET", url, headers, nil, mode)
    if not resp or self.endpoint or not imds_retryable(resp.status) then break end
    attempts, waited = attempts + resp.attempts, waited + (resp.waited or 0)
    local delay = session:retry_wait(attempts, resp.headers["retry-after"], waited)
    if not delay then break end
    waiting.sleep(delay)
    waited = waited + delay
  end
  if not resp then
    local err = errors.from_transport(terr)
    err.kind = "auth"
    if report then report("GET", url, nil, err) end
    return nil, err
  end
  if resp.status ~= 200 then
    local err = errors.from_response(resp, "GET", url, { self.header })
    err.kind = "auth"
    if report then report("GET", url, resp, err) end
    return nil, err
  end
  if report then report("GET", url, resp) end
  local where = { method = "GET", url = url, status = resp.status }
  local got, err = read_answer(json.decode(resp.body), os.time(), "the managed identity endpoint", where)
  if got and self.tenant_id then
    local tid = (M.claims(got.token) or {}).tid
    if type(tid) ~= "string" or tid:lower() ~= self.tenant_id:lower() then
      return nil, auth_error("WrongTenant", "the managed identity's token is for tenant "
        .. (type(tid) == "string" and safe_text.quoted(tid, 64) or "(none named)") .. ", not "
        .. safe_text.quoted(self.tenant_id, 64) .. " (give the tenant's id as tenant_id)",
        { method = "GET", url = url })
    end
  end
  return got, err
end

-- ---- workload identity federation ----

--- The client-credentials form with the federated token file's JWT as the client assertion (read again for every
-- request: the file is rotated by whoever writes it), or nil, err.
function M.federated_form(self)
  local text, msg = fileio.read(self.federated_token_file, fileio.LIMITS.secret, "federated token file")
  if not text then return nil, auth_error("FederatedTokenFileError", msg) end
  text = safe_text.trim(text)
  if text == "" or text:find("[%z\1-\32\127]") then
    return nil, auth_error("FederatedTokenFileError", "the federated token file holds no token (one JWT expected)")
  end
  return { client_assertion_type = ASSERTION_TYPE, client_assertion = text }
end

-- ---- Azure CLI ----

local CLI_OPTIONS = { command = true, timeout = true, otherwise = true, tried_before = true, tried_after = true }

--- Reads `azure_cli = true | { command = "az", timeout = seconds }`. Raises on misuse. The sign-in chain (an az
-- found on PATH, not configured) adds: otherwise = { name, credential } (the next way, with :token(session, force,
-- report)), used when az is missing or not signed in; tried_before and tried_after, why the ways before and after
-- it did not apply (for the error when no way gives a token).
function M.azure_cli(value, resource, tenant_id)
  if value ~= true and type(value) ~= "table" then
    error("vpptoken.new: azure_cli must be true or a table { command, timeout }", 4)
  end
  local o = value == true and {} or options.check(value, "vpptoken.new: azure_cli", CLI_OPTIONS, 4)
  local command = o.command or "az"
  if type(command) ~= "string" or command == "" then
    error("vpptoken.new: azure_cli.command must be a non-empty string", 4)
  end
  local timeout = o.timeout or M.AZ_TIMEOUT
  if type(timeout) ~= "number" or not (timeout > 0 and timeout <= 3600) then
    error("vpptoken.new: azure_cli.timeout must be a number of seconds from 0 to 3600", 4)
  end
  if command:find("%z") or (tenant_id and tenant_id:find("%z")) then
    error("vpptoken.new: azure_cli.command and tenant_id must not contain a NUL byte", 4)
  end
  local argv = { command, "account", "get-access-token", "--resource", resource, "--output", "json" }
  if tenant_id then -- one word: a tenant id starting with "-" is never read by az as an option
    argv[#argv + 1] = "--tenant=" .. tenant_id
  end
  local other = o.otherwise
  if other ~= nil and (type(other) ~= "table" or type(other.name) ~= "string" or type(other.credential) ~= "table"
      or type(other.credential.token) ~= "function") then
    error("vpptoken.new: azure_cli.otherwise must be { name, credential } (the sign-in chain's)", 4)
  end
  for _, k in ipairs{ "tried_before", "tried_after" } do
    if o[k] ~= nil and type(o[k]) ~= "string" then error("vpptoken.new: azure_cli." .. k .. " must be a string", 4) end
  end
  return { kind = "azure_cli", argv = argv, timeout = timeout, fetch = M.fetch_azure_cli,
           cache_key = table.concat(argv, "\n"), otherwise = other, tried_before = o.tried_before,
           tried_after = o.tried_after }
end

-- The first line of az's stderr worth showing (its "ERROR: ..." line), without control characters, capped.
local function first_error_line(text)
  local line = text:match("ERROR:[^\n]*") or text:match("[^\n]*%S[^\n]*") or ""
  line = line:gsub("[%z\1-\31\127]", " ")
  if #line > 300 then line = line:sub(1, 300) .. "..." end
  return line
end

-- az's expiresOn: local time "2026-01-31 12:00:00.000000" (older versions), or expires_on epoch seconds (newer).
local function az_expiry(doc)
  local on = tonumber(doc.expires_on)
  if on and on == on then return on end
  if type(doc.expiresOn) ~= "string" then return nil end
  local y, mo, d, h, mi, s = doc.expiresOn:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  -- local time, as az writes it; os.time raises for a time mktime cannot give (the epoch's last second is -1)
  local ok, t = pcall(os.time, { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
                                 min = tonumber(mi), sec = tonumber(s) })
  return ok and t or nil
end

--- Runs `az account get-access-token` (no shell; killed at the timeout) and reads its JSON.
function M.fetch_azure_cli(self)
  local r, why, code = core.run(self.argv, self.timeout, M.AZ_MAX_OUTPUT)
  if not r then
    if code == "NotFound" then
      return nil, auth_error("AzureCliNotFound", "the Azure CLI (" .. self.argv[1] .. ") was not found: " .. why)
    end
    return nil, auth_error(code == "TimedOut" and "AzureCliTimeout" or "AzureCliFailed",
      "the Azure CLI (" .. self.argv[1] .. " account get-access-token) failed: " .. why)
  end
  if r.status == 127 then -- what a shell, and posix_spawn where it cannot report it, give for a failed exec
    return nil, auth_error("AzureCliNotFound", "the Azure CLI (" .. self.argv[1] .. ") could not be run (exit "
      .. "status 127): " .. first_error_line(r.stderr))
  end
  local said = first_error_line(r.stderr)
  if r.status == nil then -- killed by a signal: no answer, and no reason to think it is not signed in
    return nil, auth_error("AzureCliFailed", "the Azure CLI (" .. self.argv[1] .. " account get-access-token) was "
      .. "killed by signal " .. tostring(r.signal) .. (said ~= "" and (" after saying: " .. said) or ""))
  end
  if r.status ~= 0 then
    return nil, auth_error("AzureCliNotSignedIn", "the Azure CLI gave no token (exit status " .. tostring(r.status)
      .. ")" .. (said ~= "" and (": " .. said) or "") .. "; run `az login` (for a service principal or managed "
      .. "identity, see its --service-principal and --identity options)")
  end
  local doc = json.decode(r.stdout)
  if type(doc) ~= "table" or not usable_token(doc.accessToken) then
    return nil, auth_error("InvalidTokenResponse", "the Azure CLI answered without a usable accessToken")
  end
  return { token = doc.accessToken, expires_at = az_expiry(doc) or os.time() + 300 }
end

return M
