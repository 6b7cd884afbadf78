--- Helpers for the jobs users script: days left, expiring tokens, waiting for a license sync, renewal from
-- Apple's token file, finding tokens. expiring, wait_for_sync, renew and find are methods of vpptoken.Client,
-- days_left and read_token_file functions of vpptoken (both found here on first use).
-- @module vpptoken
local core = require "vpptoken.core"
local waiting = require "vpptoken.wait"
local errors = require "vpptoken.error"
local schema = require "vpptoken.schema"
local tokenfile = require "vpptoken.tokenfile"
local options = require "vpptoken.options"

local M = {}

local DAY = 86400

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

local function check_now(now, fname)
  if now == nil then return os.time() end
  if not finite(now) then
    error(fname .. ": now must be seconds since the epoch (got " .. type(now) .. ")", 3)
  end
  return now
end

local function check_id(id, fname)
  local ok, msg = schema.check_id(id)
  if not ok then error(fname .. ": " .. msg, 3) end
  return ok
end

-- The token's expiry in seconds; nil when it has none; nil and a message when Graph's text does not parse.
local function expiry_of(tok)
  local text = tok.expirationDateTime
  if text == nil then return nil end
  if type(text) ~= "string" then return nil, "expirationDateTime is not text (got " .. type(text) .. ")" end
  local t, msg = core.time_parse(text)
  if not t then return nil, "expirationDateTime: " .. msg end
  return t
end

--- Whole days until tok.expirationDateTime: math.ceil((expiry - now) / 86400). Positive: the token is still
-- valid and any part of a day counts as a day (2.1 days -> 3, exactly 2 days -> 2). 0: it expires right now or
-- expired less than 24 h ago. -n: it expired at least n and less than n + 1 days ago. So `days_left(t) <= 0`
-- means expired. nil when the token has no expiry date; nil and a message when the date does not parse.
-- now: seconds since the epoch (default os.time()). Raises when tok is not a table or now not a number.
function M.days_left(tok, now)
  if type(tok) ~= "table" then error("days_left: token must be a table (got " .. type(tok) .. ")", 2) end
  now = check_now(now, "days_left")
  local exp, msg = expiry_of(tok)
  if not exp then return nil, msg end
  return math.ceil((exp - now) / DAY)
end

--- Reads Apple's .vpptoken file: { token = the file's text (what Intune wants uploaded, surrounding white space
-- removed), expires = seconds, expiration = DateTimeOffset text, organization = orgName, expired = boolean,
-- path = path }, or nil and an error object with kind "token_file". Raises when path is not a string.
function M.read_token_file(path)
  if type(path) ~= "string" or path == "" then
    error("read_token_file: path must be a non-empty string (got " .. type(path) .. ")", 2)
  end
  local file, err = tokenfile.read(path, os.time())
  if file then file.path = path end
  return file, err
end

-- Why a token needs attention, or nil when it does not.
local function assess(tok, now, within)
  local reasons = {}
  if tok.state ~= "valid" then
    reasons[#reasons + 1] = tok.state == nil and "no state reported" or ("state is " .. tostring(tok.state))
  end
  local exp, msg = expiry_of(tok)
  local days
  if exp then
    days = math.ceil((exp - now) / DAY)
    if exp - now <= within * DAY then
      if exp <= now then
        reasons[#reasons + 1] = days == 0 and "expired less than a day ago"
          or string.format("expired %d day%s ago", -days, days == -1 and "" or "s")
      else
        reasons[#reasons + 1] = string.format("expires in %d day%s", days, days == 1 and "" or "s")
      end
    end
  else
    reasons[#reasons + 1] = msg and "unreadable expiration date" or "no expiration date"
  end
  if #reasons == 0 then return nil end
  return { token = tok, days_left = days, expires = exp, reasons = reasons, reason = table.concat(reasons, "; ") }
end

local function soonest_first(a, b)
  if a.expires ~= b.expires then
    if a.expires == nil then return false end
    if b.expires == nil then return true end
    return a.expires < b.expires
  end
  return tostring(a.token.id) < tostring(b.token.id)
end

--- A client from vpptoken.new: its methods.
-- @type Client

-- This module's methods of vpptoken.Client are functions of the module too (Client._lazy_methods finds them here).
local Client = M

--- The tokens that need attention: those expiring within `within_days` (default 30; the expiry is at or before
-- now + within_days * 86400, so already-expired ones are included), those whose state is not "valid", and those
-- with no (or an unreadable) expiration date. An array of { token, days_left, expires, reason, reasons },
-- soonest expiry first, tokens without a date last; or nil, err. opts: within_days (number >= 0), now.
function Client:expiring(opts)
  opts = options.check(opts, "expiring", { within_days = true, now = true })
  local within = opts.within_days
  if within == nil then within = 30 end
  if not finite(within) or within < 0 then
    error("expiring: within_days must be a number of days >= 0 (got " .. tostring(within) .. ")", 2)
  end
  local now = check_now(opts.now, "expiring")
  local out = {}
  local ok, err = self:_visit(nil, function(tok) out[#out + 1] = assess(tok, now, within) end)
  if not ok then return nil, err end
  table.sort(out, soonest_first)
  return out
end

--- Polls get(id) until lastSyncStatus is not "inProgress" and returns that token (lastSyncStatus "completed",
-- "failed", "none" or absent: check it). opts: timeout (seconds, default 60), interval (seconds between polls,
-- default 2); both may be fractional. The first poll is immediate and the last is at the deadline; a request
-- already under way is not cut short. On timeout: nil and an error with kind "timeout", code "SyncTimeout".
function Client:wait_for_sync(id, opts)
  check_id(id, "wait_for_sync")
  opts = options.check(opts, "wait_for_sync", { timeout = true, interval = true })
  local timeout = opts.timeout == nil and 60 or opts.timeout
  local interval = opts.interval == nil and 2 or opts.interval
  if not finite(timeout) or timeout < 0 then
    error("wait_for_sync: timeout must be a number of seconds >= 0 (got " .. tostring(timeout) .. ")", 2)
  end
  if not finite(interval) or interval <= 0 or interval > DAY then
    error("wait_for_sync: interval must be a number of seconds > 0 and <= 86400 (got " .. tostring(interval) .. ")",
      2)
  end
  local deadline = core.monotonic() + timeout
  local polls = 0
  while true do
    local tok, err = self:get(id)
    polls = polls + 1
    if not tok then return nil, err end
    if tok.lastSyncStatus ~= "inProgress" then return tok end
    local left = deadline - core.monotonic()
    if left <= 0 then
      return nil, errors.new{ kind = "timeout", code = "SyncTimeout", id = id, polls = polls,
        message = string.format("the license sync of token %s was still in progress after %g seconds (%d checks)",
          id, timeout, polls) }
    end
    waiting.sleep(math.min(interval, left))
  end
end

-- A path of an existing file is read; any other string must be the content of a token file.
local function load_source(source, now)
  if not source:find("\0", 1, true) then
    local file, err, code = tokenfile.read(source, now) -- never waits on a FIFO, never reads without bound
    if file then file.path = source end
    if code ~= "FileNotFound" then return file, err end
  end
  -- Never echo the string: it may be the secret itself, pasted with a typo.
  return tokenfile.parse(source, "the text (not the path of an existing file)", nil, now)
end

--- Renews a token: uploads a new Apple token file's content into `token` (PATCH), then reports the expiry.
-- source: the path of a .vpptoken file (when a file exists at that path) or the file's content itself.
-- Nothing is sent when the file cannot be read or has already expired (code "TokenFileExpired").
-- Returns the updated token and { expires, expiration (from the file), organization, previous_expires,
-- previous_expiration (Graph's before), graph_expiration (Graph's after), lagging, note }. Graph's
-- expirationDateTime may lag behind a renewal: then `lagging` is true and `expires` still comes from the file.
function Client:renew(id, source)
  check_id(id, "renew")
  if type(source) ~= "string" or source == "" then
    error("renew: expected the path of a .vpptoken file or its content (a non-empty string, got "
      .. type(source) .. ")", 2)
  end
  local file, ferr = load_source(source, os.time())
  if not file then return nil, ferr end
  if file.expired then
    return nil, errors.new{ kind = "token_file", code = "TokenFileExpired", path = file.path,
      message = "the token file " .. (file.path and (file.path .. " ") or "") .. "expired on " .. file.expiration
        .. ": download a new one from Apple Business Manager or Apple School Manager" }
  end
  local before, gerr = self:get(id, { select = { "id", "expirationDateTime" } })
  if not before then return nil, gerr end
  local updated, uerr = self:update(id, { token = file.token })
  if not updated then return nil, uerr end
  local graph_exp = expiry_of(updated)
  local lagging = not (graph_exp and math.abs(graph_exp - file.expires) < 1)
  return updated, {
    expires = file.expires, expiration = file.expiration, organization = file.organization,
    previous_expires = (expiry_of(before)), previous_expiration = before.expirationDateTime,
    graph_expiration = updated.expirationDateTime, lagging = lagging,
    note = lagging and ("Graph still shows the expiry " .. tostring(updated.expirationDateTime or "(none)")
      .. "; the new file expires on " .. file.expiration .. ", which Graph shows after Intune syncs with Apple")
      or nil,
  }
end

local FIND_FIELDS = { apple_id = "appleId", organization = "organizationName", state = "state" }

local function matches(tok, fields)
  if fields.apple_id and (type(tok.appleId) ~= "string" or tok.appleId:lower() ~= fields.apple_id:lower()) then
    return false
  end
  if fields.organization and tok.organizationName ~= fields.organization then return false end
  if fields.state and tok.state ~= fields.state then return false end
  return true
end

--- The tokens matching every given field: apple_id (case-insensitive), organization (exact organizationName),
-- state (a State member). An array (maybe empty), or nil, err. Filters on the client, since Intune may ignore
-- $filter silently; with `state` or `organization` alone it also sends $filter, and lists again without it
-- when Graph rejects it with a 400. Raises on an unknown field, a non-string value or no field at all.
function Client:find(fields)
  if type(fields) ~= "table" then
    error("find: expected a table with apple_id, organization and/or state (got " .. type(fields) .. ")", 2)
  end
  local n, only = 0, nil
  for k, v in pairs(fields) do
    if not FIND_FIELDS[k] then
      local hint = type(k) == "string" and options.suggest(k, FIND_FIELDS)
      error("find: unknown field '" .. tostring(k) .. "' (" .. (hint and ("did you mean '" .. hint .. "'? ") or "")
        .. "known: apple_id, organization, state)", 2)
    end
    if type(v) ~= "string" or v == "" then error("find: " .. k .. " must be a non-empty string", 2) end
    n, only = n + 1, k
  end
  if n == 0 then error("find: give at least one of apple_id, organization, state", 2) end
  if fields.state ~= nil then
    local ok, msg = core.check_enum("state", fields.state, self.beta)
    if not ok then error("find: " .. msg, 2) end
  end
  local out = {}
  local function visit(tok)
    if matches(tok, fields) then out[#out + 1] = tok end
  end
  local ok, err
  if n == 1 and only ~= "apple_id" then
    local value = fields[only]:gsub("'", "''")
    ok, err = self:_visit({ filter = FIND_FIELDS[only] .. " eq '" .. value .. "'" }, visit)
    if not ok and err.status == 400 then
      out = {}
      ok, err = self:_visit(nil, visit)
    end
  else
    ok, err = self:_visit(nil, visit)
  end
  if not ok then return nil, err end
  return out
end

return M
