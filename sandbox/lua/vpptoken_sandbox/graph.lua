-- Graph routes under /v1.0 and /beta: deviceAppManagement/vppTokens and its actions.
-- Handlers return status, headers, body via reply.*, or raise errors.* values.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local schema = require "vpptoken_sandbox.schema"
local errors = require "vpptoken_sandbox.errors"
local reply = require "vpptoken_sandbox.reply"
local validate = require "vpptoken_sandbox.validate"
local odata = require "vpptoken_sandbox.odata"
local Store = require "vpptoken_sandbox.store"
local batch = require "vpptoken_sandbox.batch"
local applefile = require "vpptoken_sandbox.applefile"

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
  local entry = ctx.store:get(id)
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
  local page, total, skiptoken = odata.page(q, ctx.store, ctx.state.config.page_size, util.now())
  local value = json.array()
  for i, e in ipairs(page) do value[i] = represent(ctx, e, q.select) end
  local body = { ["@odata.context"] = metadata(ctx, context_fragment(q.select)), value = value }
  if q.count then body["@odata.count"] = total end
  if skiptoken then
    body["@odata.nextLink"] = ctx.state.url .. "/" .. ctx.version .. "/" .. COLLECTION .. "?"
      .. odata.next_query(q, skiptoken)
  end
  return reply.json(ctx, 200, body)
end

local function get(ctx, entry)
  local q = odata.parse(ctx.req.query, ctx.version, "entity")
  local body = represent(ctx, entry, q.select)
  body["@odata.context"] = metadata(ctx, context_fragment(q.select, true))
  return reply.json(ctx, 200, body)
end
-- Intune reads expirationDateTime and organizationName from the Apple token file uploaded as
-- "token". A create takes them from the file unless the body sets them; after a PATCH (a renewal)
-- they lag, as on Intune, until the next sync completes (store.refresh). With apple_token_files (the
-- default; POST /_sandbox/config can turn it off for tests that send placeholders), content that is
-- not a token file is a 400 BadRequest, on create and on PATCH, as on Intune.
local function read_token_file(ctx, props, mode)
  if props.token == nil then return end
  local file, why = applefile.read(props.token)
  if file then
    if mode == "create" then
      if props.expirationDateTime == nil then props.expirationDateTime = file.expirationDateTime end
      if props.organizationName == nil then props.organizationName = file.organizationName end
    end
  elseif ctx.state.config.apple_token_files then
    errors.bad_request("The property 'token' is not the content of an Apple VPP token file: " .. why .. ".")
  end
end

local function create(ctx)
  local obj = validate.json_object(ctx.req)
  local props = validate.token(obj, ctx.version, "create")
  read_token_file(ctx, props, "create")
  local licenses = validate.licenses(obj)
  local full = schema.defaults()
  for k, v in pairs(props) do full[k] = v end
  full.lastModifiedDateTime = util.datetime(util.now())
  local entry = ctx.store:add(full)
  entry.licenses = licenses
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
  local obj = validate.json_object(ctx.req)
  local props = validate.token(obj, ctx.version, "update")
  read_token_file(ctx, props, "update")
  local licenses = validate.licenses(obj)
  Store.refresh(entry, util.now())
  for k, v in pairs(props) do entry.props[k] = v end
  if licenses then
    entry.licenses = entry.licenses or {}
    for bundle, counts in pairs(licenses) do entry.licenses[bundle] = counts end
  end
  if props.lastSyncStatus ~= nil then entry.sync_done_at = nil end
  entry.props.lastModifiedDateTime = util.datetime(util.now())
  ctx.store:touch()
  if ctx.state.config.honor_prefer and wants_representation(ctx.req) then
    local body = represent(ctx, entry)
    body["@odata.context"] = metadata(ctx, context_fragment(nil, true))
    return reply.json(ctx, 200, body, { ["Preference-Applied"] = "return=representation" })
  end
  return reply.empty(ctx, 204)
end

local function delete(ctx, entry)
  ctx.store:remove(entry.id)
  return reply.empty(ctx, 204)
end

local function sync_licenses(ctx, entry)
  validate.no_parameters(ctx.req, "syncLicenses")
  Store.refresh(entry, util.now())
  entry.props.lastSyncStatus = "inProgress"
  entry.sync_done_at = util.now() + ctx.state.config.sync_seconds
  ctx.store:touch()
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

-- beta: POST .../{id}/revokeLicenses {"notifyManagedDevices": bool} -> 204. The token's used
-- licenses go back to the pool and tokenActionResults records the action.
local function revoke_licenses(ctx, entry)
  validate.parameters(ctx.req, "revokeLicenses", { notifyManagedDevices = "boolean" })
  local now = util.datetime(util.now())
  Store.revoke_licenses(entry)
  local results = json.array()
  for i, r in ipairs(entry.props.tokenActionResults or {}) do results[i] = r end
  results[#results + 1] = { actionName = "RevokeLicenses", actionState = "done", startDateTime = now,
                            lastUpdatedDateTime = now }
  entry.props.tokenActionResults = results
  entry.props.lastModifiedDateTime = now
  ctx.store:touch()
  return reply.empty(ctx, 204)
end

-- The bundleId of "getLicensesForApp(bundleId='x')" (quotes doubled inside), or a 400.
local function bundle_parameter(args)
  local quoted = args:match("^%s*bundleId%s*=%s*'(.*)'%s*$")
  if not quoted or quoted:gsub("''", ""):find("'", 1, true) then
    errors.bad_request("getLicensesForApp needs one parameter, bundleId='<app bundle id>'; got '" .. args .. "'.")
  end
  local bundle = quoted:gsub("''", "'")
  if bundle == "" then errors.bad_request("The parameter 'bundleId' of getLicensesForApp must not be empty.") end
  return bundle
end

-- beta: GET .../getLicensesForApp(bundleId='x') -> one row per token with its licenses for the app.
local function licenses_for_app(ctx, args)
  local bundle = bundle_parameter(args)
  local rows = json.array()
  for e in ctx.store:each() do
    local l = Store.licenses(e, bundle)
    rows[#rows + 1] = { vppTokenId = e.id, appleId = e.props.appleId, organizationName = e.props.organizationName,
                        availableLicenseCount = l.available, usedLicenseCount = l.used }
  end
  local context = metadata(ctx, "Collection(microsoft.graph.vppTokenLicenseSummary)")
  return reply.json(ctx, 200, { ["@odata.context"] = context, value = rows })
end

local function segment_not_found(seg, ctx)
  local beta_only = ctx and ctx.version ~= "beta" and schema.BETA_NOTE or ""
  errors.bad_request(string.format("Resource not found for the segment '%s'.%s", seg, beta_only))
end

-- The beta-only actions, by lower-case name without "microsoft.graph.".
local BETA_ITEM_ACTIONS = { revokelicenses = true }
local BETA_COLLECTION_ACTIONS = { synclicensecounts = true, getlicensesforapp = true }

-- A path segment's action name: lower case, without "microsoft.graph." and "(...)".
local function action_name(seg)
  return (seg:lower():gsub("^microsoft%.graph%.", ""):gsub("%(.*$", ""))
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
  if BETA_ITEM_ACTIONS[action_name(action)] then
    if ctx.version ~= "beta" then segment_not_found(action, ctx) end
    if m ~= "POST" then not_allowed(ctx, "POST") end
    return revoke_licenses(ctx, find(ctx, id))
  end
  segment_not_found(action)
end

local function route_collection_action(ctx, seg)
  local a = action_name(seg)
  if ctx.version ~= "beta" then segment_not_found(seg, ctx) end
  if a == "synclicensecounts" then
    if ctx.req.method ~= "POST" then not_allowed(ctx, "POST") end
    validate.no_parameters(ctx.req, "syncLicenseCounts")
    return reply.empty(ctx, 204)
  end
  local args = seg:match("^[^(]*%((.*)%)$")
  if not args then segment_not_found(seg) end
  if ctx.req.method ~= "GET" then not_allowed(ctx, "GET") end
  return licenses_for_app(ctx, args)
end

-- Routes one authenticated Graph request. ctx: { req, state, version, request_id, ... };
-- rest: the path after /{version}.
function graph.route(ctx, rest)
  local segs = {}
  for s in rest:gmatch("[^/]+") do segs[#segs + 1] = s end
  if #segs == 0 then
    errors.bad_request("Invalid request: the URL names no resource after /" .. ctx.version .. ".")
  end
  if #segs == 1 and segs[1] == "$batch" then return batch.handle(ctx) end
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
  if #segs == 3 and BETA_COLLECTION_ACTIONS[action_name(segs[3])] then
    return route_collection_action(ctx, segs[3])
  end
  return route_item(ctx, segs[3], segs[4], segs[5])
end

return graph
