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
local compat = require "vpptoken.compat"

local M = {
  _VERSION = "vpptoken " .. core._VERSION,
  Client = Client,
  Error = errors.Error,
  is_error = errors.is,
}

-- The enums of the C core (csrc/enums.c), by name; ENUM_NAME finds the name of a table (for vpptoken.members).
local ENUM_NAME = {}
for _, name in ipairs{ "AccountType", "State", "SyncStatus", "DeliveryProtocol" } do
  M[name] = core[name]
  ENUM_NAME[core[name]] = name
end

--- Creates a client; raises on a bad option. Sign-in, one of: access_token; token_provider (a function(force)
-- returning an access token, or nil and a reason); tenant_id + client_id + client_secret; tenant_id + client_id +
-- client_certificate (PEM path with the certificate and its key; client_certificate_key, client_certificate_password
-- if separate or encrypted); tenant_id + client_id + federated_token_file (workload identity: a JWT file, read at
-- every token request); managed_identity (true, or { client_id | object_id | resource_id, tenant_id (its tokens'
-- tid, checked) }); azure_cli (true, or { command, timeout }: the signed-in az user's token; tenant_id passed
-- as --tenant=). Where: cloud (a name from
-- vpptoken.clouds(), default the first: "global"), api_version ("v1.0", "beta"), base_url (overrides both),
-- authority_url (the sign-in host). Transport: timeout,
-- connect_timeout, cafile, capath, proxy, user_agent, insecure, http2, max_retries, retry_delay, max_retry_time,
-- max_response_size (ranges and defaults: vpptoken.transport_option). on_request: a function(info) told of every
-- call (method, url, status, attempts, elapsed, waited, request_id, client_request_id, error). on_retry: a
-- function(info) told before the client waits to try a Graph call again (method, url, attempt: the one to come,
-- max_attempts, delay in seconds, and status for an HTTP answer or kind and code for a transport failure). on_tick:
-- a function(info) told about once a second while a Graph call is under way (method, url, elapsed seconds, and
-- during a wait before a retry `waiting`, the seconds of it left). These two must not use the client, and what they
-- raise is ignored.
-- @function new
-- @param opts the options above
M.new = Client.new -- itself, not a function calling it: the raise names the caller's line on every Lua (5.1 counts
-- a tail call as a level)

-- The environment variables from_env reads itself, each with the option of vpptoken.new it sets: the one mapping
-- (messages about a value from the environment name its variable through it). The first rows are where to sign in
-- and which Graph; the rest fill in a way of signing in the caller's options name. The sign-in chain
-- (vpptoken.chain) reads the variables of each way when the caller names none.
M.ENV = {
  { "VPPTOKEN_CLOUD", "cloud" },
  { "VPPTOKEN_GRAPH_URL", "base_url" },
  { "VPPTOKEN_AUTHORITY_URL", "authority_url" },
  { "VPPTOKEN_ACCESS_TOKEN", "access_token" },
  { "AZURE_TENANT_ID", "tenant_id" },
  { "AZURE_CLIENT_ID", "client_id" },
  { "AZURE_CLIENT_SECRET", "client_secret" },
  { "AZURE_CLIENT_CERTIFICATE_PATH", "client_certificate" },
  { "AZURE_CLIENT_CERTIFICATE_PASSWORD", "client_certificate_password" },
  { "AZURE_FEDERATED_TOKEN_FILE", "federated_token_file" },
}
local WHERE = { cloud = true, base_url = true, authority_url = true }
local KNOWN_OPTIONS = Client.KNOWN_OPTIONS
local VAR_OF = {} -- option -> its variable
for _, e in ipairs(M.ENV) do VAR_OF[e[2]] = e[1] end
-- The sign-in chain (vpptoken.chain), loaded by from_env's first call: vpptoken.new does not need it.
local chain
local KNOWN_VARS -- every variable from_env or the chain reads (never suggested as a misspelling)
local function load_chain()
  if not chain then
    chain = require "vpptoken.chain"
    KNOWN_VARS = {}
    for _, e in ipairs(M.ENV) do KNOWN_VARS[e[1]] = true end
    for _, v in ipairs(chain.VARIABLES) do KNOWN_VARS[v] = true end
  end
  return chain
end

-- What a way of signing in the caller names needs besides (options; a list inside is "one of").
local NEEDS = {
  client_secret = { "tenant_id", "client_id" },
  client_certificate = { "tenant_id", "client_id" },
  federated_token_file = { "tenant_id", "client_id" },
}

-- getenv as a function, and the names of the variables it knows (for "did you mean"): a table's keys, else the
-- process environment's names when it is os.getenv.
local function environment(getenv, fname)
  if getenv == nil or getenv == os.getenv then return os.getenv, core.env_names() end
  if type(getenv) == "table" then
    local names = {}
    for k in pairs(getenv) do if type(k) == "string" then names[#names + 1] = k end end
    return function(name) return getenv[name] end, names
  end
  if type(getenv) ~= "function" then error(fname .. ": getenv must be a function or a table", 3) end
  return getenv, {}
end

-- "AZURE_TENANT is set: did you mean AZURE_TENANT_ID?" when a variable no one reads, set, is close to `var` (a
-- misspelling, or a suffix such as _ID left off or added); else nil.
local function did_you_mean(var, names, getenv)
  load_chain()
  local set = {}
  for _, n in ipairs(names) do
    if n ~= var and not KNOWN_VARS[n] and getenv(n) ~= nil then set[n] = true end
  end
  local near = options.suggest(var, set)
  if not near then
    for n in pairs(set) do
      if #n >= 8 and (var:sub(1, #n) == n or n:sub(1, #var) == var) and (not near or n < near) then near = n end
    end
  end
  return near and string.format("%s is set: did you mean %s?", near, var)
end

-- The hints for the sign-in variables that are not set but probably meant: "; "-joined text for a message, and
-- the list.
local function hints(getenv, names)
  local out = {}
  for _, var in ipairs(load_chain().SIGN_IN_VARIABLES) do
    local v = getenv(var)
    if v == nil or v == "" then out[#out + 1] = did_you_mean(var, names, getenv) end
  end
  return #out > 0 and ("; " .. table.concat(out, "; ")) or "", out
end

-- Whether the caller's options say how to sign in themselves.
local function caller_chose(opts)
  for _, k in ipairs(load_chain().CREDENTIAL_OPTIONS) do
    if opts[k] ~= nil then return true end
  end
  return false
end

-- Where the environment says to go: cloud, base_url and authority_url (VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL,
-- VPPTOKEN_AUTHORITY_URL or else AZURE_AUTHORITY_HOST) as options, and option -> the variable it came from.
local function where_env(get)
  local found, from = {}, {}
  for _, e in ipairs(M.ENV) do
    local v = WHERE[e[2]] and get(e[1])
    if v and v ~= "" then found[e[2]], from[e[2]] = v, e[1] end
  end
  local host = get("AZURE_AUTHORITY_HOST")
  if not found.authority_url and host and host ~= "" then
    found.authority_url, from.authority_url = host, "AZURE_AUTHORITY_HOST"
  end
  return found, from
end

--- For the command line's --tenants (every tenant goes where the environment says, as from_env's client does):
-- where_env over getenv (a function like os.getenv or a table, as for from_env).
-- @local
function M._where_env(getenv)
  return where_env((environment(getenv, "vpptoken._where_env")))
end

local NO_CREDENTIALS = "set VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
  .. "(or AZURE_CLIENT_CERTIFICATE_PATH), or sign in another way (docs/signin.md); tried: "

-- The options from_env gives vpptoken.new (opts win) and the option -> variable names of the ones that came from
-- the environment; or nil and the message naming what to set (and a variable set that was probably meant).
local function env_options(opts, getenv, fname)
  options.check(opts, fname, KNOWN_OPTIONS, 3)
  opts = opts or {}
  local get, names = environment(getenv, fname)
  local merged, from = where_env(get)
  local function take(var, key)
    local v = get(var)
    if v ~= nil and v ~= "" then merged[key], from[key] = v, var end
  end
  if caller_chose(opts) then
    for _, e in ipairs(M.ENV) do
      if not WHERE[e[2]] then take(e[1], e[2]) end
    end
    for k, v in pairs(opts) do merged[k], from[k] = v, nil end
    if opts.access_token or (merged.access_token and not (opts.client_secret or opts.client_certificate
        or opts.federated_token_file)) then
      for _, k in ipairs{ "tenant_id", "client_id", "client_secret", "client_certificate", "federated_token_file" } do
        if opts[k] == nil then merged[k], from[k] = nil, nil end
      end
    elseif merged.client_secret and merged.client_certificate and not opts.client_certificate then
      merged.client_certificate, from.client_certificate = nil, nil -- as Azure's EnvironmentCredential
    end
    for way, needs in pairs(NEEDS) do
      if merged[way] ~= nil then
        local missing = {}
        for _, k in ipairs(needs) do
          if merged[k] == nil then missing[#missing + 1] = VAR_OF[k] .. " is not set" end
        end
        if #missing > 0 then
          return nil, table.concat(missing, "; ") .. " (needed with " .. (from[way] or way) .. ")" .. hints(get, names)
        end
      end
    end
    if not caller_chose(merged) then
      local text, list = hints(get, names)
      return nil, NO_CREDENTIALS .. "the options" .. text, { tried = "the options", hints = list }
    end
    return merged, from
  end
  local found, why = load_chain().resolve(opts, get)
  if not found then
    local text, list = hints(get, names)
    return nil, NO_CREDENTIALS .. why .. text, { tried = why, hints = list }
  end
  for k, v in pairs(found) do merged[k], from[k] = v, VAR_OF[k] end
  for k, v in pairs(opts) do merged[k], from[k] = v, nil end
  return merged, from, why
end

--- Whether vpptoken.from_env(opts, getenv) finds a way to sign in: true and the way's name ("environment",
-- "workload identity", "managed identity", "Azure CLI", "vpptoken login"; "options" when opts name it); or false
-- and a message naming the variables to set, why each way did not apply, and a variable set that was probably
-- meant (the message from_env raises with), then those parts apart when no way applies: { tried = why each way
-- did not apply, hints = { "AZURE_TENANT is set: did you mean AZURE_TENANT_ID?", ... } }. Checks only that a
-- sign-in is complete, not that it works.
-- @param[opt] opts options that win over the environment, as for from_env
-- @param[opt] getenv a function(name) like os.getenv (the default), or a table from name to value
function M.credentials_in_env(opts, getenv)
  local merged, why, way = env_options(opts, getenv, "vpptoken.credentials_in_env")
  if not merged then return false, why, way end -- way: the parts of the message, when no way applied
  return true, way or "options"
end

--- Creates a client configured from the environment. It signs in with the first of these that applies (the
-- sign-in chain, docs/signin.md): the environment (VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID +
-- AZURE_CLIENT_ID + AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, a PEM file with the certificate and its
-- key, AZURE_CLIENT_CERTIFICATE_PASSWORD if the key is encrypted); workload identity (AZURE_FEDERATED_TOKEN_FILE +
-- AZURE_TENANT_ID + AZURE_CLIENT_ID); a managed identity (IDENTITY_ENDPOINT + IDENTITY_HEADER, or a VM's IMDS when
-- VPPTOKEN_MANAGED_IDENTITY=1 or AZURE_POD_IDENTITY_AUTHORITY_HOST is set; AZURE_CLIENT_ID picks a user-assigned
-- identity); the Azure CLI (az on PATH); the sign-in `vpptoken login` cached. Also VPPTOKEN_CLOUD,
-- VPPTOKEN_GRAPH_URL, VPPTOKEN_AUTHORITY_URL (or AZURE_AUTHORITY_HOST); vpptoken.ENV lists the variables read
-- here with their options. Options in `opts` win over the environment; opts that name a way to sign in
-- (client_secret, ...) skip the chain. Raises when none applies, with the variables to set, why each way did not
-- apply and a variable set that was probably meant (vpptoken.credentials_in_env tells without raising); and on a
-- bad value, naming its variable.
-- @param[opt] opts options that win over the environment
-- @param[opt] getenv a function(name) like os.getenv (the default), or a table from name to value
function M.from_env(opts, getenv)
  local merged, from = env_options(opts, getenv, "vpptoken.from_env")
  if not merged then error("vpptoken.from_env: " .. from, 2) end
  return Client.new(merged, from, "vpptoken.from_env")
end

--- Runs fn(...) with Ctrl-C (SIGINT) caught and returns what it returns: a blocking call under way then ends at
-- once with nil and an error of kind "cancelled" (code "Interrupted"; outcome_unknown for a write that may have gone
-- out), a wait (a retry's back-off, wait_for_sync) ends early, and the calls after it fail the same way. The
-- handler there was before is back when fn returns or raises. Calls nest.
function M.interruptible(fn, ...)
  if type(fn) ~= "function" then error("vpptoken.interruptible: fn must be a function", 2) end
  core.catch_interrupt(true)
  local r = compat.pack(pcall(fn, ...))
  core.catch_interrupt(false)
  if not r[1] then error(r[2], 0) end
  return compat.unpack(r, 2, r.n)
end

-- from_env's options and where each came from, or nil and a message (vpptoken.async's rt:from_env). fname starts
-- messages.
function M._env_options(opts, getenv, fname)
  return env_options(opts, getenv, fname)
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

--- The four enums, each a table from member name to member name (`vpptoken.State.valid == "valid"`) that
-- refuses unknown names: AccountType (vppTokenAccountType), State (vppTokenState), SyncStatus
-- (vppTokenSyncStatus), DeliveryProtocol (appleDeviceDeliveryProtocol, of the beta property
-- appleDeviceAppDeliveryProtocolType). vpptoken.members lists an enum's members in wire order.
-- @table enums
-- @field AccountType business, education
-- @field State unknown, valid, expired, invalid, assignedToExternalMDM (beta adds duplicateLocationId)
-- @field SyncStatus none, inProgress, completed, failed
-- @field DeliveryProtocol default, mobileDeviceManagement, declarativeDeviceManagement, unknownFutureValue (beta)

--- The members of an enum (vpptoken.State, or its name "State"; also a property name such as "state") in wire
-- order; beta adds beta-only members.
function M.members(enum, beta)
  return core.enum_members(ENUM_NAME[enum] or enum, beta)
end

--- The names of the national clouds, the default ("global") first: what the `cloud` option takes.
function M.clouds()
  return { compat.unpack(clouds.NAMES) }
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

--- Whether file descriptor `fd` (0 stdin, 1 stdout, 2 stderr) is a terminal, and its size: nil when it is not
-- one, else { columns = n, rows = n } (each nil when the terminal does not tell). For fitting a report to the
-- screen: `local term = vpptoken.terminal(1); local width = term and term.columns or 80`.
-- @param fd a file descriptor (an integer >= 0)
function M.terminal(fd)
  return core.terminal(fd)
end

--- assert for every Lua: returns all its arguments when the first is true, else raises the second (an error object
-- as it is; "assertion failed!" when there is none). Lua 5.1 and 5.2's own assert raise "bad argument #2 to
-- 'assert'" instead of an error object, so `vpptoken.assert(client:get(id))` is the portable form of the README's
-- `assert(client:get(id))`.
function M.assert(v, ...)
  if v then return v, ... end
  local err = ...
  if err == nil then err = "assertion failed!" end
  error(err, 0)
end

-- Functions of other modules, loaded on first use (see Client._lazy_methods): days_left and read_token_file
-- (vpptoken.automation), post_json (webhook notifications, vpptoken.notify).
M._lazy = { days_left = "vpptoken.automation", read_token_file = "vpptoken.automation",
            post_json = "vpptoken.notify" }
-- Modules of the public API, loaded on first use as vpptoken.NAME: tenants (vpptoken.tenants), login (signing in
-- as a person, vpptoken.login).
M._modules = { tenants = "vpptoken.tenants", login = "vpptoken.login" }
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
