-- vpptoken.sandbox: the request handler of vpptoken-sandbox (a local stand-in for Microsoft
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
-- * Order for a Graph request: request log, then fault rules, then auth, then routing.
-- * Skiptokens (odata.lua) encode the $orderby values and creation number of the last token
--   returned and the count returned so far, so paging is stable when tokens are added or deleted
--   between pages and $top counts across pages. The nextLink repeats $select, $filter, $orderby,
--   $count and $top.
-- * A syncLicenses answer always shows "inProgress"; reads after sync_seconds show "completed"
--   with lastSyncDateTime = the completion time.
local util = require "vpptoken.sandbox.util"
local errors = require "vpptoken.sandbox.errors"
local reply = require "vpptoken.sandbox.reply"
local store = require "vpptoken.sandbox.store"
local reqlog = require "vpptoken.sandbox.reqlog"
local graph = require "vpptoken.sandbox.graph"
local control = require "vpptoken.sandbox.control"

local sandbox = { _VERSION = "vpptoken.sandbox 0.1.0" }

local WWW_AUTHENTICATE = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
  .. 'authorize", client_id="00000003-0000-0000-c000-000000000000"'

local state = {
  url = "http://127.0.0.1:8787",
  access_token = nil,
  defaults = { page_size = 100, sync_seconds = 2.0, sync_response = "bare", honor_prefer = true },
  store = store.new(),
  faults = {},
  log = reqlog.new(),
}
state.config = util.copy(state.defaults)

function state.reset()
  state.store = store.new()
  state.faults = {}
  state.log:clear()
  state.config = util.copy(state.defaults)
end

-- opts: { url = "http://HOST:PORT", host, access_token?, page_size, sync_seconds,
-- sync_response = "bare"|"wrapped", verbose }
function sandbox.configure(opts)
  state.url = assert(opts.url, "configure: url missing")
  state.access_token = opts.access_token
  state.verbose = opts.verbose and true or false
  state.defaults = {
    page_size = math.tointeger(opts.page_size) or 100,
    sync_seconds = tonumber(opts.sync_seconds) or 2.0,
    sync_response = opts.sync_response == "wrapped" and "wrapped" or "bare",
    -- false: PATCH always answers 204, as real Intune does whatever Prefer says
    honor_prefer = true,
  }
  state.reset()
end

-- The first queued fault rule matching the request's method, used up by one.
local function take_fault(method)
  for i, rule in ipairs(state.faults) do
    if rule.method == nil or rule.method == method then
      rule.remaining = rule.remaining - 1
      if rule.remaining <= 0 then table.remove(state.faults, i) end
      return rule
    end
  end
  return nil
end

local function fault_reply(ctx, rule)
  local extra = rule.retry_after and { ["Retry-After"] = rule.retry_after } or nil
  if rule.body then return reply.json(ctx, rule.status, rule.body, extra) end
  local message = rule.message or errors.DEFAULT_MESSAGES[rule.status]
    or ("The sandbox injected a " .. rule.status .. " fault.")
  return reply.error(ctx, rule.status, rule.code or errors.code_for(rule.status), message, extra)
end

local function check_auth(ctx)
  local value = ctx.req.headers["authorization"]
  local scheme, token = (value or ""):match("^%s*(%S+)%s*(.-)%s*$")
  local extra = { ["WWW-Authenticate"] = WWW_AUTHENTICATE }
  if not scheme or scheme:lower() ~= "bearer" or token == "" then
    errors.raise(401, "InvalidAuthenticationToken", "Access token is empty.", extra)
  end
  if state.access_token and token ~= state.access_token then
    errors.raise(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.", extra)
  end
end

local VERSIONS = { ["v1.0"] = true, beta = true }

local function traceback(e)
  if type(e) == "table" then return e end
  return debug.traceback(tostring(e), 2)
end

local function authorized_route(ctx, version, rest)
  check_auth(ctx)
  ctx.version = version
  return graph.route(ctx, rest)
end

local function handle_graph(ctx, version, rest)
  -- A $batch request takes no fault itself: its sub-requests come through here one by one.
  local rule = rest ~= "/$batch" and take_fault(ctx.req.method)
  if rule then return fault_reply(ctx, rule) end
  local ok, status, headers, body = xpcall(authorized_route, traceback, ctx, version, rest)
  if ok then return status, headers, body end
  if errors.is(status) then return reply.from_error(ctx, status) end
  error(status, 0)
end

local function dispatch(req, ctx)
  if req.body_too_large then
    return reply.error(ctx, 413, "RequestEntityTooLarge", "The request body is larger than the sandbox's limit.")
  end
  if control.is_control(req.path) then return control.handle(state, req) end
  local version, rest = req.path:match("^/([^/]+)(.*)$")
  if not version or not VERSIONS[version] then
    return reply.error(ctx, 404, "ResourceNotFound", "Nothing at '" .. req.path .. "': the sandbox serves /v1.0, "
                       .. "/beta, /health and /_sandbox/.")
  end
  ctx.state = state
  local entry = state.log:record(req)
  ctx.log_entry = entry
  local status, headers, body = handle_graph(ctx, version, rest)
  entry.status = status
  return status, headers, body
end

-- req: { method, path (decoded, no query), query (raw), headers = { lowercase = value }, body,
-- body_too_large? }. Returns status, headers, body. Never raises for a bug in a route: that is a
-- Graph-shaped 500 (and a message on stderr).
function sandbox.handle(req)
  local ctx = reply.context(req)
  local ok, status, headers, body = xpcall(dispatch, traceback, req, ctx)
  if ok then return status, headers, body end
  io.stderr:write("vpptoken-sandbox: internal error in ", req.method, " ", req.path, ": ", tostring(status), "\n")
  if ctx.log_entry then ctx.log_entry.status = 500 end
  local first = tostring(status):match("^[^\n]*")
  return reply.error(ctx, 500, "InternalServerError", "Sandbox internal error: " .. first)
end

-- $batch sub-requests take the same path as every other request (see batch.lua).
state.handle = sandbox.handle

return sandbox
