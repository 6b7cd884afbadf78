-- Fault injection for Graph requests, in this order: a queued rule (POST /_sandbox/faults) if one
-- matches the method; else throttling (when on); else the fault profile (a failure rate with a
-- seeded generator, latency ranges). handle() returns status, headers, body and, when the delivery
-- itself is to misbehave, a 4th value for the C side:
--   { kind = rule kind, delay = seconds held back, action = "reset"|"truncate"|"drip",
--     truncate_at = bytes, chunk = bytes, interval = seconds }
-- Kinds: status (a Graph error; default), reset (hang up, the request is not processed),
-- reset_after (processed, then hang up), truncate (Content-Length promises more than is sent),
-- malformed (200 with broken JSON, not processed), content_type (processed, wrong Content-Type),
-- drip (processed, body in small chunks with pauses), delay (processed, answered late).
local json = require "vpptoken_sandbox.json"
local util = require "vpptoken_sandbox.util"
local errors = require "vpptoken_sandbox.errors"
local reply = require "vpptoken_sandbox.reply"
local throttle = require "vpptoken_sandbox.throttle"
local profile = require "vpptoken_sandbox.faults_profile"

local faults = {}

local INTUNE_URL = "https://fef.msua06.manage.microsoft.com/AppLifecycle_2505/StatelessAppMetadataFEService/"
  .. "deviceAppManagement/vppTokens?api-version=2024-05-01"

-- Intune's serialized-JSON error message around text.
function faults.intune_message(ctx, text)
  local m = string.format("%s - Operation ID (for customer support): %s - Activity ID: %s - Url: %s",
                          text ~= "" and text or "An internal server error occurred.", util.guid(),
                          ctx.request_id, INTUNE_URL)
  return '{"_version":3,"Message":' .. json.encode(m) .. ',"CustomApiErrorPhrase":"","RetryAfter":null,'
    .. '"ErrorSourceService":"","HttpHeaders":"{}"}'
end

-- The first queued rule matching method (and the tenant of the bearer token, for a rule with a tenant), used up
-- by one.
local function take_rule(state, method, headers)
  local tenant
  for i, rule in ipairs(state.faults) do
    if rule.tenant and not tenant then tenant = throttle.identity(headers).tenant:lower() end
    if (rule.method == nil or rule.method == method) and (rule.tenant == nil or rule.tenant == tenant) then
      rule.remaining = rule.remaining - 1
      if rule.remaining <= 0 then table.remove(state.faults, i) end
      return rule
    end
  end
  return nil
end

local function error_reply(ctx, rule)
  local extra = rule.retry_after and { ["Retry-After"] = rule.retry_after } or nil
  if rule.body then return reply.json(ctx, rule.status, rule.body, extra) end
  local message = rule.message or errors.DEFAULT_MESSAGES[rule.status]
    or ("The sandbox injected a " .. rule.status .. " fault.")
  if rule.intune and rule.status ~= 504 then message = faults.intune_message(ctx, message) end
  return reply.error(ctx, rule.status, rule.code or errors.code_for(rule.status), message, extra)
end

local function throttled(ctx, wait, which, cfg)
  local after = math.max(1, math.ceil(wait - 1e-6))
  return reply.error(ctx, 429, "TooManyRequests", string.format(
    "Too many requests (limit: %s in %g seconds). Retry after %d seconds.", which, cfg.window_seconds, after),
    { ["Retry-After"] = tostring(after) })
end

local function weighted_kind(rng, kinds)
  local total = 0
  for _, k in ipairs(faults.KIND_ORDER) do total = total + (kinds[k] or 0) end
  if total <= 0 then return "status" end
  local x = rng:float() * total
  for _, k in ipairs(faults.KIND_ORDER) do
    x = x - (kinds[k] or 0)
    if x < 0 then return k end
  end
  return "status"
end
faults.KIND_ORDER = { "status", "reset", "reset_after", "truncate", "malformed", "content_type", "drip", "delay" }

-- A rule drawn from the profile for this request, or nil; and the latency in seconds.
local function from_profile(state, p, method)
  local rng = state.fault_rng
  local rule
  if p.rate > 0 and rng:float() < p.rate then
    local kind = p.kinds and weighted_kind(rng, p.kinds) or "status"
    local list = profile.statuses(p, method)
    local status = list[rng:int(1, rawlen(list))]
    rule = { kind = kind, intune = p.intune, content_type = p.content_type, bytes = p.truncate_bytes }
    if kind == "status" then
      rule.status = status
      if (status == 429 or status == 503) then rule.retry_after = tostring(p.retry_after or 2) end
    elseif kind == "drip" then
      rule.chunk = p.drip and p.drip.chunk
      rule.interval_ms = p.drip and p.drip.interval_ms
    elseif kind == "delay" then
      local r = p.delay_ms or { 1000, 3000 }
      rule.delay_ms = r[1] + rng:float() * (r[2] - r[1])
    end
  end
  local lat = p.latency_ms and (p.latency_ms[method] or p.latency_ms["*"])
  local delay = lat and (lat[1] + rng:float() * (lat[2] - lat[1])) / 1000 or 0
  return rule, delay
end

local MALFORMED = '{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#deviceAppManagement/vppTokens",'
  .. '"value":[{"@odata.type":"#microsoft.graph.vppToken","id":"'

local function apply(ctx, rule, run, delay)
  local d = { delay = delay }
  if not rule then
    local status, headers, body = run()
    return status, headers, body, delay > 0 and d or nil
  end
  local kind = rule.kind or "status"
  d.kind = kind
  local status, headers, body
  if kind == "status" then
    status, headers, body = error_reply(ctx, rule)
  elseif kind == "reset" then
    status, headers, body = reply.empty(ctx, 500)
    d.action = "reset"
  elseif kind == "malformed" then
    status, headers, body = reply.json(ctx, rule.status or 200, MALFORMED)
  else
    status, headers, body = run()
    if kind == "reset_after" or (kind == "truncate" and #body == 0) then
      d.action = "reset"
    elseif kind == "truncate" then
      d.action = "truncate"
      d.truncate_at = math.min(rule.bytes or (#body // 2), #body - 1)
    elseif kind == "content_type" then
      headers["Content-Type"] = rule.content_type or "text/html; charset=utf-8"
    elseif kind == "drip" then
      d.action = "drip"
      d.chunk = rule.chunk or 16
      d.interval = (rule.interval_ms or 100) / 1000
    elseif kind == "delay" then
      d.delay = d.delay + (rule.delay_ms or 1000) / 1000
    end
  end
  return status, headers, body, d
end

-- ctx.state holds faults (the queue), config.faults (the profile), config.throttle, fault_rng and
-- throttle (window state). run() answers the request normally (status, headers, body).
function faults.handle(ctx, run)
  local state, method = ctx.state, ctx.req.method
  local rule = take_rule(state, method, ctx.req.headers)
  local delay = 0
  if not rule then
    local t = state.config.throttle
    if t and t.enabled then
      local wait, which = throttle.check(state.throttle, t, throttle.identity(ctx.req.headers),
                                         throttle.WRITES[method], util.now())
      if wait then
        local status, headers, body = throttled(ctx, wait, which, t)
        return status, headers, body, { kind = "throttled", delay = 0 }
      end
    end
    local p = state.config.faults
    if p then rule, delay = from_profile(state, p, method) end
  end
  return apply(ctx, rule, run, delay)
end

return faults
