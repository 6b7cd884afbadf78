--- vpptoken: manage Apple VPP tokens in Microsoft Intune through Microsoft Graph.
-- local vpptoken = require "vpptoken"
-- local client = vpptoken.new{ access_token = os.getenv("GRAPH_TOKEN") }
-- @module vpptoken
local core = require "vpptoken.core"
local Client = require "vpptoken.client"
local clouds = require "vpptoken.clouds"
local errors = require "vpptoken.error"
local schema = require "vpptoken.schema"
local options = require "vpptoken.options"

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

-- The environment variables from_env reads, each with the option of vpptoken.new it sets: the one mapping (messages
-- about a value from the environment name its variable through it). A new way to sign in adds its rows here and its
-- variables to SIGN_INS.
M.ENV = {
  { "VPPTOKEN_ACCESS_TOKEN", "access_token" },
  { "AZURE_TENANT_ID", "tenant_id" },
  { "AZURE_CLIENT_ID", "client_id" },
  { "AZURE_CLIENT_SECRET", "client_secret" },
  { "AZURE_CLIENT_CERTIFICATE_PATH", "client_certificate" },
  { "AZURE_CLIENT_CERTIFICATE_PASSWORD", "client_certificate_password" },
  { "VPPTOKEN_CLOUD", "cloud" },
  { "VPPTOKEN_GRAPH_URL", "base_url" },
  { "VPPTOKEN_AUTHORITY_URL", "authority_url" },
}
local KNOWN_OPTIONS = Client.KNOWN_OPTIONS
local VAR_OF = {} -- option -> its variable
local VAR_OF_NAME = {} -- variable -> its option
for _, e in ipairs(M.ENV) do VAR_OF[e[2]], VAR_OF_NAME[e[1]] = e[1], e[2] end

-- The ways to sign in from_env knows, in the order it picks them: the option that selects one (`by`), what it
-- also needs (`needs`: options; a list inside is "one of"), and the options it makes from_env drop.
local SIGN_INS = {
  { by = "access_token", drops = { "tenant_id", "client_id", "client_secret", "client_certificate" } },
  { by = "token_provider" },
  { by = "client_secret", needs = { "tenant_id", "client_id" }, drops = { "client_certificate" } },
  { by = "client_certificate", needs = { "tenant_id", "client_id" } },
  -- tenant_id or client_id alone: a client-credentials sign-in without its proof.
  { by = "client_id", needs = { "tenant_id", { "client_secret", "client_certificate" } } },
  { by = "tenant_id", needs = { "client_id", { "client_secret", "client_certificate" } } },
}

-- The options from the environment (opts win), as from_env merges them, and the option -> variable names of the
-- ones that came from the environment.
local function env_options(opts, getenv, fname)
  options.check(opts, fname, KNOWN_OPTIONS, 3)
  local merged, from = {}, {}
  for _, e in ipairs(M.ENV) do
    local v = getenv(e[1])
    if v ~= nil and v ~= "" then merged[e[2]], from[e[2]] = v, e[1] end
  end
  for _, way in ipairs(SIGN_INS) do
    if merged[way.by] then
      for _, k in ipairs(way.drops or {}) do merged[k], from[k] = nil, nil end
      break
    end
  end
  for k, v in pairs(opts or {}) do merged[k], from[k] = v, nil end
  return merged, from
end

-- getenv as a function, and the names of the variables it knows (for "did you mean"): a table's keys, else the
-- process environment's names when it is os.getenv.
local function environment(getenv)
  if getenv == nil or getenv == os.getenv then return os.getenv, core.env_names() end
  if type(getenv) == "table" then
    local names = {}
    for k in pairs(getenv) do if type(k) == "string" then names[#names + 1] = k end end
    return function(name) return getenv[name] end, names
  end
  if type(getenv) ~= "function" then error("vpptoken.from_env: getenv must be a function or a table", 3) end
  return getenv, {}
end

-- "AZURE_TENANT is set: did you mean AZURE_TENANT_ID?" when a variable from_env does not read, set, is close to
-- `var` (a misspelling, or a suffix such as _ID left off or added); else nil.
local function did_you_mean(var, names, getenv)
  local set = {}
  for _, n in ipairs(names) do
    if n ~= var and not VAR_OF_NAME[n] and getenv(n) ~= nil then set[n] = true end
  end
  local near = options.suggest(var, set)
  if not near then
    for n in pairs(set) do
      if #n >= 8 and (var:sub(1, #n) == n or n:sub(1, #var) == var) and (not near or n < near) then near = n end
    end
  end
  return near and string.format("%s is set: did you mean %s?", near, var)
end

local NO_CREDENTIALS = "set VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
  .. "(or AZURE_CLIENT_CERTIFICATE_PATH)"

-- Whether the merged options name a complete sign-in: true; or false and the message (the variables missing, and
-- the ones probably meant). `from`: option -> the variable it came from.
local function check_sign_in(merged, from, names, getenv)
  local missing, hints, way = {}, {}, nil
  for _, w in ipairs(SIGN_INS) do
    if merged[w.by] ~= nil then way = w break end
  end
  local wanted = way and way.needs or { { "access_token", "tenant_id", "client_id", "client_secret",
                                          "client_certificate" } }
  for _, need in ipairs(wanted) do
    local any = type(need) == "table" and need or { need }
    local found = false
    for _, k in ipairs(any) do if merged[k] ~= nil then found = true end end
    if not found then
      local vars = {}
      for i, k in ipairs(any) do
        vars[i] = VAR_OF[k] or k
        hints[#hints + 1] = did_you_mean(vars[i], names, getenv)
      end
      missing[#missing + 1] = #vars == 1 and (vars[1] .. " is not set")
        or ("neither " .. table.concat(vars, " nor ") .. " is set")
    end
  end
  if #missing == 0 then return true end
  local hint = #hints > 0 and ("; " .. table.concat(hints, "; ")) or ""
  if not way then return false, NO_CREDENTIALS .. hint end
  return false, string.format("%s (needed with %s)%s", table.concat(missing, "; "), from[way.by] or way.by, hint)
end

--- Whether vpptoken.from_env(opts, getenv) finds a complete way to sign in: true; or false and a message naming
-- the variables to set, and a variable set that was probably meant (the message from_env raises with). Checks only
-- that a sign-in is complete, not that it works.
-- @param[opt] opts options that win over the environment, as for from_env
-- @param[opt] getenv a function(name) like os.getenv (the default), or a table from name to value
function M.credentials_in_env(opts, getenv)
  local get, names = environment(getenv)
  local merged, from = env_options(opts, get, "vpptoken.credentials_in_env")
  return check_sign_in(merged, from, names, get)
end

--- Creates a client configured from the environment, with the names Azure's identity libraries use:
-- VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH
-- (a PEM file with the certificate and its key; AZURE_CLIENT_CERTIFICATE_PASSWORD if the key is encrypted);
-- VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL, VPPTOKEN_AUTHORITY_URL (vpptoken.ENV lists them with their options). Options
-- in `opts` win over the environment. Raises when no complete sign-in is set, naming the variables to set
-- (vpptoken.credentials_in_env tells without raising), and on a bad value, naming its variable.
-- @param[opt] opts options that win over the environment
-- @param[opt] getenv a function(name) like os.getenv (the default), or a table from name to value
function M.from_env(opts, getenv)
  local get, names = environment(getenv)
  local merged, from = env_options(opts, get, "vpptoken.from_env")
  local ok, why = check_sign_in(merged, from, names, get)
  if not ok then error("vpptoken.from_env: " .. why, 2) end
  return Client.new(merged, from, "vpptoken.from_env")
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
-- Modules of the public API, loaded on first use as vpptoken.NAME: tenants (vpptoken.tenants).
M._modules = { tenants = "vpptoken.tenants" }
setmetatable(M, { __index = function(t, k)
  local module = M._lazy[k]
  if not module then
    if not M._modules[k] then return nil end
    local v = require(M._modules[k])
    rawset(t, k, v)
    return v
  end
  local v = require(module)[k]
  rawset(t, k, v)
  return v
end })

return M
