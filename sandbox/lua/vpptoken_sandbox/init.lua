-- vpptoken_sandbox: the request handler of vpptoken-sandbox (a local stand-in for Microsoft
-- Graph's deviceAppManagement/vppTokens). The C program calls configure(opts) once, then
-- handle(req) for every request.
--
-- Choices where Graph leaves room (the wire contract is shared/GRAPH-CONTRACT.md):
-- * A new token defaults to state "valid" (the sandbox does not ask Apple), vppTokenAccountType
--   "business", lastSyncStatus "none", automaticallyUpdateApps false, other properties null.
-- * "id" and "lastModifiedDateTime" in a request body are ignored (the server owns them); other
--   "@..." annotations are ignored as OData does; "@odata.type" must be "#microsoft.graph.vppToken".
-- * A wrong method is 405 with code "BadRequest" and an Allow header. An unknown segment under
--   /v1.0 or /beta is 400 "Resource not found for the segment '...'"; any other path (outside
--   /v1.0, /beta, /health, /_sandbox/) is 404 ResourceNotFound, without auth, log or faults.
-- * Order for a Graph request: request log, then fault rules, throttling and the fault profile
--   (faults.lua), then auth, then routing; with --data the store is saved before the answer.
-- * Skiptokens (odata.lua) encode the $orderby values and creation number of the last token
--   returned and the count returned so far, so paging is stable when tokens are added or deleted
--   between pages; they are signed (HMAC) and bound to the tenant's store, $filter and $orderby, so
--   any other is a 400. A page in creation order is read from the store's index (store.lua) in time
--   proportional to the page; $orderby on a property sorts the matches, and $count with $filter
--   counts them, once until the tokens change (Store:memo). $top is the page size (Graph's paging:
--   a nextLink follows while tokens remain), page_size applies without it. The nextLink repeats
--   $select, $filter, $orderby, $count and $top.
-- * A syncLicenses answer always shows "inProgress"; reads after sync_seconds show "completed"
--   with lastSyncDateTime = the completion time.
-- * Over HTTPS (--tls-cert/--tls-key) every answer carries Strict-Transport-Security, as Graph's do.
local util = require "vpptoken_sandbox.util"
local errors = require "vpptoken_sandbox.errors"
local reply = require "vpptoken_sandbox.reply"
local store = require "vpptoken_sandbox.store"
local reqlog = require "vpptoken_sandbox.reqlog"
local graph = require "vpptoken_sandbox.graph"
local control = require "vpptoken_sandbox.control"
local faults = require "vpptoken_sandbox.faults"
local settings = require "vpptoken_sandbox.config"
local identity = require "vpptoken_sandbox.identity"
local seed = require "vpptoken_sandbox.seed"

local has_native, native = pcall(require, "vpptoken_sandbox.native")

-- The version is the program's (SBX_VERSION, from VPP_VERSION in csrc/vpp.h).
local sandbox = { _VERSION = "vpptoken_sandbox " .. (has_native and native.version or "unknown") }

local WWW_AUTHENTICATE = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
  .. 'authorize", client_id="00000003-0000-0000-c000-000000000000"'

-- url, access_token, defaults and config are set by configure().
local state = {
  store = store.new(),
  faults = {},
  log = reqlog.new(),
}

-- --seed-tokens: the sample tokens a start and a reset begin with (seed.lua).
function state.seed_store()
  if state.seed_tokens and state.seed_tokens > 0 then
    seed.fill(state.store, state.seed_tokens, state.seed, util.now())
  end
end

function state.reset()
  state.store = store.new()
  state.tenant_stores = {}
  state.seed_store()
  state.faults = {}
  state.log:clear()
  state.config = util.copy(state.defaults)
  if state.identity then identity.reset(state.identity) end
  settings.on_reset(state)
end

-- opts (from the C side, which owns the options' defaults): { url = "http://HOST:PORT", host, access_token?,
-- page_size, sync_seconds, sync_response = "bare"|"wrapped", verbose, token_lifetime, apps?, throttle, config?,
-- config_document?, data?, journal?, seed_tokens, seed }
function sandbox.configure(opts)
  state.seed_tokens, state.seed = math.tointeger(opts.seed_tokens) or 0, math.tointeger(opts.seed) or 1
  state.url = assert(opts.url, "configure: url missing")
  state.https = state.url:sub(1, 8) == "https://"
  state.access_token = opts.access_token
  state.verbose = opts.verbose and true or false
  -- --apps: the token endpoint, and Graph calls need its tokens (identity.lua)
  state.identity = opts.apps and identity.load(opts.apps, { url = state.url, lifetime = opts.token_lifetime })
  state.defaults = {
    page_size = assert(math.tointeger(opts.page_size), "configure: page_size missing"),
    sync_seconds = assert(tonumber(opts.sync_seconds), "configure: sync_seconds missing"),
    sync_response = assert(opts.sync_response, "configure: sync_response missing"),
    -- false: PATCH always answers 204, as real Intune does whatever Prefer says
    honor_prefer = true,
    -- true: a token that is not an Apple token file is a 400, as on Intune; false lets placeholders through
    apple_token_files = true,
  }
  state.reset()
  -- faults, throttle (--config, --throttle), --data, --journal
  settings.apply(state, opts)
end

-- Checks the request's bearer token; returns the tenant whose vppTokens it reaches (nil: the default one).
local function check_auth(ctx)
  local value = ctx.req.headers["authorization"]
  local scheme, rest = (value or ""):match("^%s*(%S+)(.*)$")
  local token = rest and util.trim(rest)
  local extra = { ["WWW-Authenticate"] = WWW_AUTHENTICATE }
  if not scheme or scheme:lower() ~= "bearer" or token == "" then
    errors.raise(401, "InvalidAuthenticationToken", "Access token is empty.", extra)
  end
  if state.identity then return identity.check_access(state.identity, ctx, token, extra) end
  if state.access_token and token ~= state.access_token then
    errors.raise(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.", extra)
  end
end

local VERSIONS = { ["v1.0"] = true, beta = true }

local function traceback(e)
  if type(e) == "table" then return e end
  return debug.traceback(tostring(e), 2)
end

-- The vppTokens of a tenant: the store of the command line (and --data) for the default tenant (tokens the
-- identity platform did not issue, and the apps file's own "tenant"), a store of its own for every other tenant of
-- the apps file, made on first use and emptied by a reset. Tenant names compare without regard to case.
function state.partition(tid)
  if tid == nil or not state.identity or tid:lower() == state.identity.tenant:lower() then return state.store end
  local key = tid:lower()
  local s = state.tenant_stores[key]
  if not s then
    s = store.new()
    state.tenant_stores[key] = s
  end
  return s
end

local function authorized_route(ctx, version, rest)
  ctx.store = state.partition(check_auth(ctx))
  ctx.version = version
  return graph.route(ctx, rest)
end

local function handle_graph(ctx, version, rest)
  -- A $batch request takes no fault itself: its sub-requests come through here one by one.
  local function run()
    local ok, status, headers, body = xpcall(authorized_route, traceback, ctx, version, rest)
    if ok then return status, headers, body end
    if errors.is(status) then return reply.from_error(ctx, status) end
    error(status, 0)
  end
  if rest == "/$batch" then return run() end
  -- queued fault rules, throttling, the fault profile (faults.lua)
  return faults.handle(ctx, run)
end

local function dispatch(req, ctx)
  if req.path_has_nul then -- Graph's front end refuses such a URL before any routing
    return reply.error(ctx, 400, "BadRequest", "Invalid URL: the path holds an encoded NUL character (%00).")
  end
  if req.body_too_large then
    return reply.error(ctx, 413, "RequestEntityTooLarge", "The request body is larger than the sandbox's limit.")
  end
  if identity.owns(req.path) then return identity.handle(state.identity, req) end
  if control.is_control(req.path) then return control.handle(state, req) end
  local version, rest = req.path:match("^/([^/]+)(.*)$")
  if not version or not VERSIONS[version] then
    return reply.error(ctx, 404, "ResourceNotFound", "Nothing at '" .. req.path .. "': the sandbox serves /v1.0, "
                       .. "/beta, /health and /_sandbox/.")
  end
  ctx.state = state
  local entry = state.log:record(req)
  ctx.log_entry = entry
  local status, headers, body, delivery = settings.after_request(ctx, handle_graph(ctx, version, rest))
  entry.status = status
  return status, headers, body, delivery
end

-- req: { method, path (decoded, no query), query (raw), headers = { lowercase = value }, body,
-- body_too_large?, path_has_nul? }. Returns status, headers, body and, when a fault is injected, what the C side
-- must do with the delivery (see faults.lua) or nil. Never raises for a bug in a route: that is a
-- Graph-shaped 500 (and a message on stderr).
local function handle(req)
  local ctx = reply.context(req)
  local started = util.now()
  local ok, status, headers, body, delivery = xpcall(dispatch, traceback, req, ctx)
  if ok then
    if not control.is_control(req.path) then settings.record(state, req, ctx, status, delivery, started) end
    return status, headers, body, delivery
  end
  io.stderr:write("vpptoken-sandbox: internal error in ", req.method, " ", req.path, ": ", tostring(status), "\n")
  if ctx.log_entry then ctx.log_entry.status = 500 end
  local first = tostring(status):match("^[^\n]*")
  return reply.error(ctx, 500, "InternalServerError", "Sandbox internal error: " .. first)
end

-- Graph sends this header on every HTTPS answer (not inside $batch sub-responses).
local HSTS = "max-age=31536000"

function sandbox.handle(req)
  local status, headers, body, delivery = handle(req)
  if state.https and not req.batch then
    headers = headers or {}
    headers["Strict-Transport-Security"] = HSTS
  end
  return status, headers, body, delivery
end

-- $batch sub-requests take the same path as every other request (see batch.lua).
state.handle = sandbox.handle

return sandbox
