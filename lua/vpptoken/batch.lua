--- JSON batching: many operations in one `POST /$batch` (at most 20 each), in the caller's order.
-- @module vpptoken

--- A client from vpptoken.new: its methods.
-- @type Client
local cjson = require "cjson.safe"
local core = require "vpptoken.core"
local waiting = require "vpptoken.wait"
local errors = require "vpptoken.error"
local request = require "vpptoken.request"
local schema = require "vpptoken.schema"
local options = require "vpptoken.options"
local compat = require "vpptoken.compat"

-- The methods this module adds to vpptoken.Client (through Client._lazy_methods).
local Client = {}

local call_json, strip_nulls, encode, COLLECTION = request.call_json, request.strip_nulls, request.encode,
  request.COLLECTION

-- Retries of throttled sub-requests: as many as the session's max_retries allows at most (the C core's range).
local MAX_RETRIES = core.session_limits.max_retries

local BATCH_LIMIT = 20
local BATCH_OPS = { get = true, create = true, update = true, delete = true, sync_licenses = true }

-- A batch operation as a JSON-batch sub-request (URL relative to the version root), checked like the single call.
local function batch_request(self, op, i)
  if type(op) ~= "table" or not BATCH_OPS[op.op] then
    error(string.format("operation %d: op must be one of create, delete, get, sync_licenses, update", i), 3)
  end
  local function path(suffix)
    local escaped, msg = schema.check_id(op.id)
    if not escaped then error(string.format("operation %d: %s", i, msg), 4) end
    return COLLECTION .. "/" .. escaped .. (suffix or "")
  end
  local function fields(mode)
    local body, msg = schema.check_fields(op.fields, mode, self.beta)
    if not body then error(string.format("operation %d: %s", i, msg), 4) end
    return body
  end
  if op.op == "get" then
    local q, msg = schema.query_string(op.select and { select = op.select } or nil, self.beta)
    if not q then error(string.format("operation %d: %s", i, msg), 3) end
    return { method = "GET", url = path() .. q }
  elseif op.op == "create" then
    return { method = "POST", url = COLLECTION, body = fields("create"),
             headers = { ["Content-Type"] = "application/json" } }
  elseif op.op == "update" then
    return { method = "PATCH", url = path(), body = fields("update"),
             headers = { ["Content-Type"] = "application/json", Prefer = "return=representation" } }
  elseif op.op == "delete" then
    return { method = "DELETE", url = path() }
  end
  return { method = "POST", url = path("/syncLicenses") }
end

-- One sub-response as the value the single call returns, or nil, err.
local function batch_value(self, op, sub, url)
  local headers = {}
  for k, v in pairs(type(sub.headers) == "table" and sub.headers or {}) do
    if type(k) == "string" and (type(v) == "string" or type(v) == "number") then headers[k:lower()] = tostring(v) end
  end
  local body = sub.body
  local status = compat.tointeger(sub.status) or 0
  if status >= 400 or status == 0 then
    local text = type(body) == "table" and cjson.encode(body) or (type(body) == "string" and body or "")
    return nil, request.error_of(self, { status = status, headers = headers, body = text }, "POST", url)
  end
  if op.op == "delete" or (op.op == "update" and type(body) ~= "table") then return true end
  if type(body) ~= "table" then
    return nil, errors.new{ kind = "protocol", code = "InvalidResponse", status = status, method = "POST", url = url,
                            message = "the batch answer for operation " .. tostring(sub.id) .. " has no body" }
  end
  strip_nulls(body)
  if op.op == "sync_licenses" then return request.synced_token(body) end
  return body
end

-- The Retry-After of a batch sub-response, as text (its headers are a JSON object: any case, any type).
local function retry_after(sub)
  if type(sub.headers) ~= "table" then return nil end
  for k, v in pairs(sub.headers) do
    if type(k) == "string" and k:lower() == "retry-after" and (type(v) == "string" or type(v) == "number") then
      return tostring(v)
    end
  end
  return nil
end

--- Runs operations in JSON batches of up to 20 per `POST /$batch`. ops: array of { op = "get" | "create" |
-- "update" | "delete" | "sync_licenses", id =, fields =, select = }. Sub-requests answered 429 or 503 are sent
-- again (in a later batch) under the client's retry policy (max_retries, retry_delay, max_retry_time; the
-- sub-response's Retry-After, in seconds or as an HTTP date); opts.max_retries may lower the number of retries.
-- Returns `results, errs` in the order of ops: results[i] is what the single call returns (an update answered
-- 204 gives true) or false, errs[i] the error object.
function Client:batch(ops, opts)
  if type(ops) ~= "table" then error("ops must be an array of operations", 2) end
  options.check(opts, "batch", { max_retries = true }, 2)
  local max_retries = (opts and opts.max_retries) or MAX_RETRIES.max
  if compat.math_type(max_retries) ~= "integer" or max_retries < MAX_RETRIES.min or max_retries > MAX_RETRIES.max then
    error(string.format("max_retries must be a whole number from %d to %d", MAX_RETRIES.min, MAX_RETRIES.max), 2)
  end
  local reqs = {}
  for i, op in ipairs(ops) do reqs[i] = batch_request(self, op, i) end
  local url = self.base_url .. "/$batch"
  local results, errs = {}, {}
  local queue = {}
  for i = 1, #ops do queue[i] = i end
  local round, waited = 0, 0
  while #queue > 0 do
    local again, wait = {}, 0
    for first = 1, #queue, BATCH_LIMIT do
      local chunk, by_id = {}, {}
      for k = first, math.min(first + BATCH_LIMIT - 1, #queue) do
        local i = queue[k]
        local r = reqs[i]
        chunk[#chunk + 1] = { id = tostring(i), method = r.method, url = r.url, headers = r.headers, body = r.body }
        by_id[tostring(i)] = i
      end
      local doc, err = call_json(self, "POST", url, encode{ requests = chunk })
      if doc and type(doc.responses) ~= "table" then
        doc, err = nil, errors.new{ kind = "protocol", code = "InvalidResponse", method = "POST", url = url,
                                    message = "the $batch answer has no 'responses' array" }
      end
      if not doc then
        for _, sub in ipairs(chunk) do
          local i = by_id[sub.id]
          results[i], errs[i] = false, err
        end
      else
        for _, sub in ipairs(doc.responses) do
          local i = type(sub) == "table" and by_id[tostring(sub.id)]
          if i then
            by_id[tostring(sub.id)] = nil
            local status = compat.tointeger(sub.status)
            local delay = (status == 429 or status == 503) and round < max_retries
              and self.session:retry_wait(round + 1, retry_after(sub), waited)
            if delay then
              again[#again + 1] = i
              wait = math.max(wait, delay)
            else
              local value, e = batch_value(self, ops[i], sub, url)
              if e then e.retry_after = core.retry_after(retry_after(sub)) end -- as a single call's error
              results[i], errs[i] = value or false, e
            end
          end
        end
        for id, i in pairs(by_id) do -- operations the answer left out
          results[i], errs[i] = false, errors.new{ kind = "protocol", code = "MissingBatchResponse", method = "POST",
            url = url, message = "the $batch answer has nothing for operation " .. id }
        end
      end
    end
    table.sort(again)
    queue = again
    round = round + 1
    if #queue > 0 then
      waited = waited + wait
      waiting.sleep(wait)
    end
  end
  return results, errs
end

return Client
