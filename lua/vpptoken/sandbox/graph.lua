-- Graph routes under /v1.0 and /beta: deviceAppManagement/vppTokens and its actions.
-- Handlers return status, headers, body via reply.*, or raise errors.* values.
local json = require "vpptoken.sandbox.json"
local util = require "vpptoken.sandbox.util"
local schema = require "vpptoken.sandbox.schema"
local errors = require "vpptoken.sandbox.errors"
local reply = require "vpptoken.sandbox.reply"
local validate = require "vpptoken.sandbox.validate"
local odata = require "vpptoken.sandbox.odata"
local Store = require "vpptoken.sandbox.store"

local graph = {}

local COLLECTION = "deviceAppManagement/vppTokens"

local function metadata(ctx, fragment)
  return ctx.state.url .. "/" .. ctx.version .. "/$metadata#" .. fragment
end

local function context_fragment(select, entity)
  local f = COLLECTION
  if select then f = f .. "(" .. table.concat(select, ",") .. ")" end
  if entity then f = f .. "/$entity" end
  return f
end

-- The token as the version shows it (refreshing a finished sync first), limited to select.
local function represent(ctx, entry, select)
  Store.refresh(entry, util.now())
  local out = { ["@odata.type"] = schema.TYPE, id = entry.id }
  if select then
    for _, name in ipairs(select) do
      local v = entry.props[name]
      if v == nil then v = json.null end
      out[name] = v
    end
  else
    for _, p in ipairs(schema.properties(ctx.version)) do
      local v = entry.props[p.name]
      if v == nil then v = json.null end
      out[p.name] = v
    end
  end
  return out
end

local function find(ctx, id)
  local entry = ctx.state.store:get(id)
  if not entry then
    errors.raise(404, "ResourceNotFound", string.format("The vppToken with id '%s' was not found.", id))
  end
  return entry
end

local function not_allowed(ctx, allow)
  errors.raise(405, "BadRequest", string.format("The HTTP method '%s' is not allowed on this resource. "
                                                .. "Allowed: %s.", ctx.req.method, allow), { Allow = allow })
end

local function list(ctx)
  local q = odata.parse(ctx.req.query, ctx.version, "collection")
  local store = ctx.state.store
  local from = q.skiptoken and q.skiptoken.seq or 0
  local returned = q.skiptoken and q.skiptoken.count or 0
  local now = util.now()
  local matched = {}
  for _, e in ipairs(store:after(from)) do
    Store.refresh(e, now)
    if odata.matches(e.props, q.filter) then matched[#matched + 1] = e end
  end
  if q.skip and not q.skiptoken then
    for _ = 1, math.min(q.skip, #matched) do table.remove(matched, 1) end
  end
  local limit = ctx.state.config.page_size
  if q.top then limit = math.min(limit, math.max(q.top - returned, 0)) end
  local value = json.array()
  for i = 1, math.min(limit, #matched) do value[i] = represent(ctx, matched[i], q.select) end
  local body = { ["@odata.context"] = metadata(ctx, context_fragment(q.select)), value = value }
  if q.count then
    local total = 0
    for _, e in ipairs(store:after(0)) do
      if odata.matches(e.props, q.filter) then total = total + 1 end
    end
    body["@odata.count"] = total
  end
  local more = #matched > #value and (not q.top or returned + #value < q.top)
  if more and #value > 0 then
    local last = matched[#value]
    local token = odata.encode_skiptoken(last.seq, returned + #value)
    body["@odata.nextLink"] = ctx.state.url .. "/" .. ctx.version .. "/" .. COLLECTION .. "?"
      .. odata.next_query(q, token)
  end
  return reply.json(ctx, 200, body)
end

local function get(ctx, entry)
  local q = odata.parse(ctx.req.query, ctx.version, "entity")
  local body = represent(ctx, entry, q.select)
  body["@odata.context"] = metadata(ctx, context_fragment(q.select, true))
  return reply.json(ctx, 200, body)
end

local function create(ctx)
  local props = validate.token(validate.json_object(ctx.req), ctx.version, "create")
  local full = schema.defaults()
  for k, v in pairs(props) do full[k] = v end
  full.lastModifiedDateTime = util.datetime(util.now())
  local entry = ctx.state.store:add(full)
  local body = represent(ctx, entry)
  body["@odata.context"] = metadata(ctx, context_fragment(nil, true))
  return reply.json(ctx, 201, body, { Location = ctx.state.url .. "/" .. ctx.version .. "/" .. COLLECTION
                                       .. "/" .. entry.id })
end

local function wants_representation(req)
  local prefer = req.headers["prefer"] or ""
  return prefer:lower():find("return%s*=%s*representation") ~= nil
end

local function update(ctx, entry)
  local props = validate.token(validate.json_object(ctx.req), ctx.version, "update")
  Store.refresh(entry, util.now())
  for k, v in pairs(props) do entry.props[k] = v end
  if props.lastSyncStatus ~= nil then entry.sync_done_at = nil end
  entry.props.lastModifiedDateTime = util.datetime(util.now())
  if ctx.state.config.honor_prefer and wants_representation(ctx.req) then
    local body = represent(ctx, entry)
    body["@odata.context"] = metadata(ctx, context_fragment(nil, true))
    return reply.json(ctx, 200, body, { ["Preference-Applied"] = "return=representation" })
  end
  return reply.empty(ctx, 204)
end

local function delete(ctx, entry)
  ctx.state.store:remove(entry.id)
  return reply.empty(ctx, 204)
end

local function sync_licenses(ctx, entry)
  validate.no_parameters(ctx.req, "syncLicenses")
  Store.refresh(entry, util.now())
  entry.props.lastSyncStatus = "inProgress"
  entry.sync_done_at = util.now() + ctx.state.config.sync_seconds
  -- The answer shows the sync as just started, whatever sync_seconds is.
  local out = { ["@odata.type"] = schema.TYPE, id = entry.id }
  for _, p in ipairs(schema.properties(ctx.version)) do
    local v = entry.props[p.name]
    if v == nil then v = json.null end
    out[p.name] = v
  end
  local context = metadata(ctx, "microsoft.graph.vppToken")
  if ctx.state.config.sync_response == "wrapped" then
    return reply.json(ctx, 200, { ["@odata.context"] = context, value = out })
  end
  out["@odata.context"] = context
  return reply.json(ctx, 200, out)
end

-- beta: POST .../{id}/revokeLicenses {"notifyManagedDevices": bool} -> 204
local function revoke_licenses(ctx, entry)
  validate.parameters(ctx.req, "revokeLicenses", { notifyManagedDevices = "boolean" })
  entry.props.lastModifiedDateTime = util.datetime(util.now())
  return reply.empty(ctx, 204)
end

-- beta: GET .../getLicensesForApp(bundleId='x') -> one row per token (the sandbox has no licenses).
local function licenses_for_app(ctx)
  local rows = json.array()
  for _, e in ipairs(ctx.state.store:after(0)) do
    rows[#rows + 1] = { vppTokenId = e.id, appleId = e.props.appleId, organizationName = e.props.organizationName,
                        availableLicenseCount = 0, usedLicenseCount = 0 }
  end
  local context = metadata(ctx, "Collection(microsoft.graph.vppTokenLicenseSummary)")
  return reply.json(ctx, 200, { ["@odata.context"] = context, value = rows })
end

local function segment_not_found(seg)
  errors.bad_request(string.format("Resource not found for the segment '%s'.", seg))
end

local function route_item(ctx, id, action, extra)
  local m = ctx.req.method
  if extra then segment_not_found(extra) end
  if action == nil then
    if m == "GET" then return get(ctx, find(ctx, id)) end
    if m == "PATCH" then return update(ctx, find(ctx, id)) end
    if m == "DELETE" then return delete(ctx, find(ctx, id)) end
    not_allowed(ctx, "GET, PATCH, DELETE")
  end
  local a = action:lower()
  if a == "synclicenses" or a == "microsoft.graph.synclicenses" then
    if m ~= "POST" then not_allowed(ctx, "POST") end
    return sync_licenses(ctx, find(ctx, id))
  end
  if ctx.version == "beta" and (a == "revokelicenses" or a == "microsoft.graph.revokelicenses") then
    if m ~= "POST" then not_allowed(ctx, "POST") end
    return revoke_licenses(ctx, find(ctx, id))
  end
  segment_not_found(action)
end

local function route_beta_collection_action(ctx, seg)
  local a = seg:lower():gsub("^microsoft%.graph%.", "")
  if a == "synclicensecounts" then
    if ctx.req.method ~= "POST" then not_allowed(ctx, "POST") end
    validate.no_parameters(ctx.req, "syncLicenseCounts")
    return reply.empty(ctx, 204)
  end
  if a:match("^getlicensesforapp%(bundleid=.*%)$") then
    if ctx.req.method ~= "GET" then not_allowed(ctx, "GET") end
    return licenses_for_app(ctx)
  end
  return nil
end

-- Routes one authenticated Graph request. ctx: { req, state, version, request_id, ... };
-- rest: the path after /{version}.
function graph.route(ctx, rest)
  local segs = {}
  for s in rest:gmatch("[^/]+") do segs[#segs + 1] = s end
  if #segs == 0 then
    errors.bad_request("Invalid request: the URL names no resource after /" .. ctx.version .. ".")
  end
  if segs[1]:lower() ~= "deviceappmanagement" then segment_not_found(segs[1]) end
  if #segs == 1 then
    errors.raise(501, "NotImplemented", "The sandbox implements only deviceAppManagement/vppTokens.")
  end
  local coll, key = segs[2]:match("^([^(]+)%('([^']*)'%)$")
  if (coll or segs[2]):lower() ~= "vpptokens" then segment_not_found(segs[2]) end
  if key then
    return route_item(ctx, key, segs[3], segs[4])
  end
  if #segs == 2 then
    if ctx.req.method == "GET" then return list(ctx) end
    if ctx.req.method == "POST" then return create(ctx) end
    not_allowed(ctx, "GET, POST")
  end
  if ctx.version == "beta" and #segs == 3 then
    local s, h, b = route_beta_collection_action(ctx, segs[3])
    if s then return s, h, b end
  end
  return route_item(ctx, segs[3], segs[4], segs[5])
end

return graph
