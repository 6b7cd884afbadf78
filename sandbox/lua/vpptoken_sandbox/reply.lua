-- Building responses: Graph's headers on every answer, JSON bodies, errors.
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local errors = require "vpptoken_sandbox.errors"

local reply = {}

reply.CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;"
  .. "IEEE754Compatible=false;charset=utf-8"

local DIAGNOSTIC = json.encode({ ServerInfo = { DataCenter = "Local Sandbox", Slice = "E", Ring = "0",
                                                ScaleUnit = "000", RoleInstance = "vpptoken-sandbox" } })

-- Per-request ids: a new request-id; client-request-id echoes the caller's, else equals request-id.
function reply.context(req)
  local id = util.guid()
  local crid = req.headers["client-request-id"]
  if crid == nil or crid == "" then crid = id end
  return { req = req, request_id = id, client_request_id = crid }
end

function reply.headers(ctx, extra)
  local h = {
    ["request-id"] = ctx.request_id,
    ["client-request-id"] = ctx.client_request_id,
    ["x-ms-ags-diagnostic"] = DIAGNOSTIC,
    ["Cache-Control"] = "no-cache",
    ["OData-Version"] = "4.0",
  }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

-- status, headers, body for a JSON value (or an already encoded string).
function reply.json(ctx, status, value, extra)
  local h = reply.headers(ctx, extra)
  h["Content-Type"] = reply.CONTENT_TYPE
  local body = type(value) == "string" and value or json.encode(value)
  return status, h, body
end

-- No body (204 and the like): no Content-Type.
function reply.empty(ctx, status, extra)
  return status, reply.headers(ctx, extra), ""
end

function reply.error(ctx, status, code, message, extra)
  return reply.json(ctx, status, errors.body(ctx, code or errors.code_for(status), message or ""), extra)
end

function reply.from_error(ctx, e)
  return reply.error(ctx, e.status, e.code, e.message, e.headers)
end

return reply
