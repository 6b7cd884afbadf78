-- Intune's request limits over sliding windows: writes (POST/PUT/PATCH/DELETE) per tenant and per
-- app, any request per tenant and per app. Over a limit: 429 with Retry-After = the seconds until
-- the window frees a slot; an app that comes back before its Retry-After has passed is refused
-- again (and that refusal is not counted): only its writes when it hit a write limit.
--
-- The app is the caller: the JWT claim appid (or azp) when the bearer token is a JWT (the payload
-- is decoded, not verified), else an FNV-1a hash of the token. The tenant is the JWT claim tid, else
-- "default". Tokens are never kept.
local cjson = require "cjson.safe"

local throttle = {}

-- Intune's published limits, per 20 s.
throttle.DEFAULTS = { enabled = false, window_seconds = 20, tenant_writes = 200, app_writes = 100,
                      tenant_requests = 2000, app_requests = 1000 }

throttle.WRITES = { POST = true, PUT = true, PATCH = true, DELETE = true }

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local B64_VALUE = {}
for i = 1, #B64 do B64_VALUE[B64:byte(i)] = i - 1 end
B64_VALUE[("+"):byte()] = 62
B64_VALUE[("/"):byte()] = 63

-- base64url (or base64) text to bytes; nil on a bad character.
function throttle.base64url_decode(s)
  s = s:gsub("=+$", "")
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64_VALUE[s:byte(i)]
    if not v then return nil end
    acc = (acc << 6) | v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((acc >> bits) & 0xff)
    end
  end
  return table.concat(out)
end

-- 64-bit FNV-1a of s, as 16 hex digits.
function throttle.hash(s)
  local h = 0xcbf29ce484222325
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 0x100000001b3
  end
  return string.format("%016x", h)
end

-- The JWT payload's claims, or nil when token is not a JWT.
function throttle.jwt_claims(token)
  local payload = token:match("^[%w_%-]+%.([%w_%-]+)%.[%w_%-]*$")
  local text = payload and throttle.base64url_decode(payload)
  local claims = text and cjson.decode(text)
  return type(claims) == "table" and claims or nil
end

-- { app = "...", tenant = "..." } for the request headers.
function throttle.identity(headers)
  local token = (headers["authorization"] or ""):match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)")
  if not token then return { app = "anonymous", tenant = "default" } end
  local claims = throttle.jwt_claims(token)
  local app = claims and (claims.appid or claims.azp)
  local tenant = claims and claims.tid
  return {
    app = type(app) == "string" and ("app:" .. app) or ("token:" .. throttle.hash(token)),
    tenant = type(tenant) == "string" and tenant or "default",
  }
end

-- Per-run state: windows[key] = queue of request times; blocked[app .. ":writes"|":all"] = time
-- its Retry-After ends.
function throttle.new()
  return { windows = {}, blocked = {} }
end

local function window(t, key)
  local w = t.windows[key]
  if not w then
    w = { head = 1, tail = 0, times = {} }
    t.windows[key] = w
  end
  return w
end

local function prune(w, cutoff)
  while w.head <= w.tail and w.times[w.head] <= cutoff do
    w.times[w.head] = nil
    w.head = w.head + 1
  end
end

-- Checks and counts one request. cfg: the throttle settings; id: throttle.identity(); now: seconds.
-- Returns nil when admitted, else seconds until the caller may retry and which limit it hit.
function throttle.check(t, cfg, id, is_write, now)
  for _, scope in ipairs(is_write and { ":all", ":writes" } or { ":all" }) do
    local blocked = t.blocked[id.app .. scope]
    if blocked then
      if now < blocked then return blocked - now, "retried before Retry-After" end
      t.blocked[id.app .. scope] = nil
    end
  end
  local span = cfg.window_seconds
  local limits = {
    { "tenant-requests:" .. id.tenant, cfg.tenant_requests, "requests per tenant" },
    { "app-requests:" .. id.tenant .. ":" .. id.app, cfg.app_requests, "requests per app" },
  }
  if is_write then
    limits[3] = { "tenant-writes:" .. id.tenant, cfg.tenant_writes, "writes per tenant", true }
    limits[4] = { "app-writes:" .. id.tenant .. ":" .. id.app, cfg.app_writes, "writes per app", true }
  end
  local wait, which, writes_only = nil, nil, true
  for _, l in ipairs(limits) do
    local w = window(t, l[1])
    prune(w, now - span)
    local n = w.tail - w.head + 1
    if n >= l[2] then
      -- the window has room again when the (n - limit + 1)-th oldest request leaves it
      local free_at = w.times[w.head + n - l[2]] + span
      if not wait or free_at - now > wait then wait, which = free_at - now, l[3] end
      writes_only = writes_only and l[4] == true
    end
  end
  if wait then
    t.blocked[id.app .. (writes_only and ":writes" or ":all")] = now + wait
    return wait, which
  end
  for _, l in ipairs(limits) do
    local w = t.windows[l[1]]
    w.tail = w.tail + 1
    w.times[w.tail] = now
  end
  return nil
end

local SETTINGS = { window_seconds = true, tenant_writes = true, app_writes = true, tenant_requests = true,
                   app_requests = true }

-- Validates a "throttle" section (config file or POST /_sandbox/config) over base; returns the new
-- settings. A section without "enabled" turns throttling on. reject(message) raises.
function throttle.settings(section, base, reject)
  if type(section) ~= "table" then reject("'throttle' must be an object.") end
  local out = {}
  for k, v in pairs(base or throttle.DEFAULTS) do out[k] = v end
  out.enabled = true
  for k, v in pairs(section) do
    if k == "enabled" then
      if type(v) ~= "boolean" then reject("'throttle.enabled' must be a boolean.") end
      out.enabled = v
    elseif SETTINGS[k] then
      if type(v) ~= "number" or v ~= v or v <= 0 or v > 1e9 then
        reject("'throttle." .. k .. "' must be a number > 0.")
      end
      if k ~= "window_seconds" and not math.tointeger(v) then
        reject("'throttle." .. k .. "' must be an integer.")
      end
      out[k] = k == "window_seconds" and v or math.tointeger(v)
    else
      reject("Unknown throttle field '" .. tostring(k) .. "'.")
    end
  end
  return out
end

return throttle
