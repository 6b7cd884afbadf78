-- POST /v1.0/$batch and /beta/$batch: JSON batching as Graph does it.
--
-- {"requests":[{"id","method","url","headers"?,"body"?,"dependsOn"?}]} -> 200
-- {"responses":[{"id","status","headers","body"?}]}. Each sub-request becomes a request of its own
-- (path /{version}{url}, the $batch request's Authorization) and goes through the sandbox's one
-- request path, sandbox.handle: request log (marked "batch": the $batch request-id), fault rules,
-- auth, routing, validation. So a fault rule hits sub-requests one by one, each with its own
-- Retry-After; the $batch request itself takes no fault.
--
-- Choices where Graph leaves room:
-- * A malformed batch is a 400 for the whole batch: no "requests" array, 0 or more than 20
--   requests, a missing or repeated id (ids compare without regard to case, as on Graph: "a" and
--   "A" are a duplicate; dependsOn matches them the same way), an unknown method, an absolute url,
--   headers that are not strings, dependsOn naming an unknown id or making a cycle.
-- * Sub-requests run one at a time, dependencies first, otherwise in the order given. A request
--   whose dependency did not succeed (status not 2xx) does not run and answers 424
--   FailedDependency.
-- * A sub-request with a body needs a Content-Type header, as on Graph: without one it does not
--   run and answers 400 "Write request with id '1' does not contain a Content-Type header." (the
--   others run; one depending on it answers 424). A JSON body is sent encoded, a string body as
--   it is.
-- * Responses come in the reverse of the order given, so clients cannot depend on it.
local json = require "vpptoken_sandbox.json"
local errors = require "vpptoken_sandbox.errors"
local reply = require "vpptoken_sandbox.reply"
local validate = require "vpptoken_sandbox.validate"

local batch = {}

batch.LIMIT = 20

local METHODS = { GET = true, POST = true, PATCH = true, PUT = true, DELETE = true }

local function bad(message)
  errors.bad_request("Invalid batch payload: " .. message)
end

-- Percent-decoding of a URL path ('+' stays '+').
local function decode_path(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function check_headers(h, id)
  if h == nil then return {} end
  if type(h) ~= "table" or json.is_array(h) then bad("'headers' of request '" .. id .. "' must be an object.") end
  local out = {}
  for k, v in pairs(h) do
    if type(v) ~= "string" or k:find("[\r\n]") or v:find("[\r\n]") then
      bad("header '" .. tostring(k) .. "' of request '" .. id .. "' must be a one-line string.")
    end
    out[k:lower()] = v
  end
  return out
end

-- The checked requests: { id, method, path, query, headers, body, depends = { ids } }.
local function parse(obj)
  local list = obj.requests
  if type(list) ~= "table" or (next(list) ~= nil and not json.is_array(list)) then
    bad("the body needs a 'requests' array.")
  end
  if #list == 0 then bad("'requests' is empty.") end
  if #list > batch.LIMIT then
    bad(string.format("the batch has %d requests; at most %d are allowed.", #list, batch.LIMIT))
  end
  local out, by_id = {}, {}
  for i, r in ipairs(list) do
    if type(r) ~= "table" or json.is_array(r) then bad("request " .. i .. " is not an object.") end
    local id = r.id
    if type(id) ~= "string" or id == "" then bad("request " .. i .. " needs an 'id' (a non-empty string).") end
    local key = id:lower()
    if by_id[key] then bad("the id '" .. id .. "' is used more than once; ids must be unique.") end
    local method = type(r.method) == "string" and r.method:upper()
    if not METHODS[method] then
      bad("request '" .. id .. "' has no valid 'method' (GET, POST, PATCH, PUT or DELETE).")
    end
    local url = r.url
    if type(url) ~= "string" or url == "" or url:match("^%a[%w+.-]*://") then
      bad("request '" .. id .. "' needs a relative 'url', e.g. /deviceAppManagement/vppTokens.")
    end
    local path, query = url:match("^([^?]*)%??(.*)$")
    if path:sub(1, 1) ~= "/" then path = "/" .. path end
    local headers = check_headers(r.headers, id)
    local body = r.body
    if type(body) == "table" then
      body = json.encode(body)
    elseif body ~= nil and type(body) ~= "string" then
      bad("the 'body' of request '" .. id .. "' must be a JSON object or a string.")
    end
    if body == "" then body = nil end
    local depends = r.dependsOn or {}
    if type(depends) ~= "table" or (next(depends) ~= nil and not json.is_array(depends)) then
      bad("'dependsOn' of request '" .. id .. "' must be an array of ids.")
    end
    local req = { id = id, key = key, method = method, path = decode_path(path), query = query,
                  headers = headers, body = body or "", depends = depends,
                  untyped = body ~= nil and headers["content-type"] == nil }
    out[i], by_id[key] = req, req
  end
  for _, r in ipairs(out) do
    for _, d in ipairs(r.depends) do
      if type(d) ~= "string" or not by_id[d:lower()] then
        bad("request '" .. r.id .. "' depends on '" .. tostring(d) .. "', which is not in the batch.")
      end
    end
  end
  return out, by_id
end

-- Dependencies first, otherwise in the given order. Raises on a cycle.
local function run_order(list, by_id)
  local order, mark = {}, {}
  local function visit(r)
    if mark[r] == "done" then return end
    if mark[r] == "visiting" then bad("'dependsOn' makes a cycle through request '" .. r.id .. "'.") end
    mark[r] = "visiting"
    for _, d in ipairs(r.depends) do visit(by_id[d:lower()]) end
    mark[r] = "done"
    order[#order + 1] = r
  end
  for _, r in ipairs(list) do visit(r) end
  return order
end

-- A sub-response body as JSON: embedded as it is when it is JSON, else as a string.
local function response_body(text)
  if text == "" then return nil end
  if json.decode(text) ~= nil then return json.raw(text) end
  return text
end

-- An error answer for sub-request r that did not run.
local function refused(r, status, code, message)
  local sub = reply.context({ headers = r.headers })
  local _, headers, body = reply.error(sub, status, code, message)
  return status, headers, body
end

local function failed_dependency(r, dep, status)
  return refused(r, 424, "FailedDependency", string.format(
    "The request was not run: it depends on request '%s', which answered %d.", dep, status))
end

-- Handles POST /{version}/$batch. ctx.state.handle is the sandbox's request handler.
function batch.handle(ctx)
  if ctx.req.batch then errors.bad_request("A $batch request cannot be part of another $batch request.") end
  if ctx.req.method ~= "POST" then
    errors.raise(405, "BadRequest", "The HTTP method '" .. ctx.req.method .. "' is not allowed on $batch. "
                 .. "Allowed: POST.", { Allow = "POST" })
  end
  local list, by_id = parse(validate.json_object(ctx.req))
  local status_of, responses = {}, {}
  for _, r in ipairs(run_order(list, by_id)) do
    local status, headers, body
    for _, d in ipairs(r.depends) do
      local s = status_of[d:lower()]
      if s < 200 or s > 299 then
        status, headers, body = failed_dependency(r, d, s)
        break
      end
    end
    if not status and r.untyped then
      status, headers, body = refused(r, 400, "BadRequest", string.format(
        "Write request with id '%s' does not contain a Content-Type header.", r.id))
    end
    if not status then
      r.headers.authorization = ctx.req.headers.authorization
      status, headers, body = ctx.state.handle({ method = r.method, path = "/" .. ctx.version .. r.path,
                                                 query = r.query, headers = r.headers, body = r.body,
                                                 batch = ctx.request_id })
    end
    status_of[r.key] = status
    responses[r] = { id = r.id, status = status, headers = headers, body = response_body(body) }
  end
  local out = json.array()
  for i = #list, 1, -1 do out[#out + 1] = responses[list[i]] end
  return reply.json(ctx, 200, { responses = out })
end

return batch
