--- vpptoken: manage Apple VPP tokens in Microsoft Intune through Microsoft Graph.
-- local vpptoken = require "vpptoken"
-- local client = vpptoken.new{ access_token = os.getenv("GRAPH_TOKEN") }
-- @module vpptoken
local core = require "vpptoken.core"
local Client = require "vpptoken.client"
local clouds = require "vpptoken.clouds"
local errors = require "vpptoken.error"
local schema = require "vpptoken.schema"

local M = {
  _VERSION = "vpptoken " .. core._VERSION,
  Client = Client,
  Error = errors.Error,
  is_error = errors.is,
}

-- The enums of the C core (csrc/enums.c), by name; ENUM_NAME finds the name of a table (for vpptoken.members).
local ENUM_NAME = {}
for _, name in ipairs{ "AccountType", "State", "SyncStatus" } do
  M[name] = core[name]
  ENUM_NAME[core[name]] = name
end

--- Creates a client; raises on a bad option. Sign-in, one of: access_token; token_provider (a function(force)
-- returning an access token, or nil and a reason); tenant_id + client_id + client_secret; tenant_id + client_id +
-- client_certificate (PEM path with the certificate and its key; client_certificate_key, client_certificate_password
-- if separate or encrypted). Where: cloud (a name from vpptoken.clouds(), default the first: "global"),
-- api_version ("v1.0", "beta"), base_url (overrides both), authority_url (the sign-in host). Transport: timeout,
-- connect_timeout, cafile, capath, proxy, user_agent, insecure, http2, max_retries, retry_delay, max_retry_time,
-- max_response_size (ranges and defaults: vpptoken.transport_option). on_request: a function(info) told of every
-- call (method, url, status, attempts, elapsed, waited, request_id, client_request_id, error).
function M.new(opts)
  return Client.new(opts)
end

local ENV = {
  access_token = "VPPTOKEN_ACCESS_TOKEN", tenant_id = "AZURE_TENANT_ID", client_id = "AZURE_CLIENT_ID",
  client_secret = "AZURE_CLIENT_SECRET", client_certificate = "AZURE_CLIENT_CERTIFICATE_PATH",
  client_certificate_password = "AZURE_CLIENT_CERTIFICATE_PASSWORD", cloud = "VPPTOKEN_CLOUD",
  base_url = "VPPTOKEN_GRAPH_URL", authority_url = "VPPTOKEN_AUTHORITY_URL",
}

-- The options from the environment (opts win), as from_env merges them.
local function env_options(opts, getenv)
  getenv = getenv or os.getenv
  local merged = {}
  for key, var in pairs(ENV) do
    local v = getenv(var)
    if v ~= nil and v ~= "" then merged[key] = v end
  end
  if merged.access_token then
    merged.tenant_id, merged.client_id, merged.client_secret, merged.client_certificate = nil, nil, nil, nil
  elseif merged.client_secret and merged.client_certificate then
    merged.client_certificate = nil -- as Azure's EnvironmentCredential: the secret wins
  end
  for k, v in pairs(opts or {}) do merged[k] = v end
  return merged
end

local NO_CREDENTIALS = "set VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
  .. "(or AZURE_CLIENT_CERTIFICATE_PATH)"

--- Whether vpptoken.from_env(opts, getenv) finds a way to sign in: true; or false and a message naming the
-- variables to set (the message from_env raises with). Checks only that a sign-in is named, not that it works.
-- @param[opt] opts options that win over the environment, as for from_env
-- @param[opt] getenv a function(name) like os.getenv (the default)
function M.credentials_in_env(opts, getenv)
  local merged = env_options(opts, getenv)
  if merged.access_token == nil and merged.token_provider == nil and merged.client_id == nil then
    return false, NO_CREDENTIALS
  end
  return true
end

--- Creates a client configured from the environment, with the names Azure's identity libraries use:
-- VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH
-- (a PEM file with the certificate and its key; AZURE_CLIENT_CERTIFICATE_PASSWORD if the key is encrypted);
-- VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL, VPPTOKEN_AUTHORITY_URL. Options in `opts` win over the environment.
-- Raises with the names of the variables to set when nothing says how to sign in (vpptoken.credentials_in_env
-- tells without raising).
function M.from_env(opts, getenv)
  if not M.credentials_in_env(opts, getenv) then error("vpptoken.from_env: " .. NO_CREDENTIALS, 2) end
  return Client.new(env_options(opts, getenv))
end

--- libcurl's version text, with the TLS, compression and HTTP/2 libraries it uses (for bug reports).
function M.curl_version()
  return core.curl_version()
end

-- DateTimeOffset text <-> seconds since the epoch: vpptoken.time.parse and vpptoken.time.format.
M.time = {
  -- parse(text) -> seconds (UTC, with fraction), offset_minutes | nil, message
  parse = function(text)
    local t, off = core.time_parse(text)
    if not t then return nil, off end
    return t, off
  end,
  -- format(seconds [, offset_minutes [, digits]]) -> "2026-01-31T12:00:00Z"
  format = core.time_format,
}

--- Parses DateTimeOffset text: seconds since the epoch (UTC, with the fraction) and the text's zone offset in
-- minutes, or nil and a message.
-- @function time.parse
-- @param text like "2026-01-31T12:00:00.5+01:00"

--- Formats seconds since the epoch as DateTimeOffset text, like "2026-01-31T12:00:00Z".
-- @function time.format
-- @param seconds since the epoch
-- @param[opt] offset_minutes the zone offset to write (default 0: "Z")
-- @param[opt] digits of the fraction of a second

--- Whether a value is a vpptoken error object (what the second value of `nil, err` is).
-- @function is_error
-- @param v any value

--- The three enums, each a table from member name to member name (`vpptoken.State.valid == "valid"`) that
-- refuses unknown names: AccountType (vppTokenAccountType), State (vppTokenState), SyncStatus
-- (vppTokenSyncStatus). vpptoken.members lists an enum's members in wire order.
-- @table enums
-- @field AccountType business, education
-- @field State unknown, valid, expired, invalid, assignedToExternalMDM (beta adds duplicateLocationId)
-- @field SyncStatus none, inProgress, completed, failed

--- The members of an enum (vpptoken.State, or its name "State"; also a property name such as "state") in wire
-- order; beta adds beta-only members.
function M.members(enum, beta)
  return core.enum_members(ENUM_NAME[enum] or enum, beta)
end

--- The names of the national clouds, the default ("global") first: what the `cloud` option takes.
function M.clouds()
  return { table.unpack(clouds.NAMES) }
end

--- What vpptoken.new accepts for a transport option (one of the C core's session options, such as "max_retries"):
-- { kind = "seconds" | "count" | "bytes" | "string" | "boolean", min, max (numbers), default }, a fresh table;
-- nil for a name that is no transport option.
-- @param name like "timeout" or "max_retries"
function M.transport_option(name)
  local o = core.session_limits[name]
  if not o then return nil end
  return { kind = o.kind, min = o.min, max = o.max, default = o.default }
end

--- The kind of a vppToken property as the library checks it: "string", "boolean", "enum", "datetime", "strings"
-- (a list of strings) or "readonly" (filled by the server); nil for no such property (beta: with the beta API's).
-- @param name a property's wire name, like "automaticallyUpdateApps"
-- @param[opt] beta include the beta-only properties
function M.property_kind(name, beta)
  return schema.property_kind(name, beta)
end

--- Seconds on a clock that never jumps (CLOCK_MONOTONIC): only differences mean anything. For timing a
-- script's work the way the library times its own deadlines.
function M.monotonic()
  return core.monotonic()
end

-- Functions of other modules, loaded on first use (see Client._lazy_methods): days_left and read_token_file
-- (vpptoken.automation), post_json (webhook notifications, vpptoken.notify).
M._lazy = { days_left = "vpptoken.automation", read_token_file = "vpptoken.automation",
            post_json = "vpptoken.notify" }
-- Modules of the API reached as fields, loaded on first use: vpptoken.login (signing in as a person).
M._modules = { login = "vpptoken.login" }
setmetatable(M, { __index = function(t, k)
  if M._modules[k] then
    local m = require(M._modules[k])
    rawset(t, k, m)
    return m
  end
  local module = M._lazy[k]
  if not module then return nil end
  local v = require(module)[k]
  rawset(t, k, v)
  return v
end })

return M
