--- vpptoken: manage Apple VPP tokens in Microsoft Intune through Microsoft Graph.
-- local vpptoken = require "vpptoken"
-- local client = vpptoken.new{ access_token = os.getenv("GRAPH_TOKEN") }
local core = require "vpptoken.core"
local Client = require "vpptoken.client"
local errors = require "vpptoken.error"

local M = {
  _VERSION = "vpptoken " .. core._VERSION,
  AccountType = core.AccountType,
  State = core.State,
  SyncStatus = core.SyncStatus,
  Client = Client,
  Error = errors.Error,
  is_error = errors.is,
}

--- Creates a client. Options: access_token | token_provider (required), cloud ("global", "usgov", "dod",
-- "china"), api_version ("v1.0", "beta"), base_url (overrides cloud and version), timeout, connect_timeout,
-- cafile, capath, proxy, user_agent, insecure, http2, max_retries, retry_delay, max_retry_time,
-- max_response_size. Raises on a bad option.
function M.new(opts)
  return Client.new(opts)
end

--- DateTimeOffset text <-> seconds since the epoch.
M.time = {
  --- parse(text) -> seconds (UTC, with fraction), offset_minutes | nil, message
  parse = function(text)
    local t, off = core.time_parse(text)
    if not t then return nil, off end
    return t, off
  end,
  --- format(seconds [, offset_minutes [, digits]]) -> "2026-01-31T12:00:00Z"
  format = core.time_format,
}

--- The members of an enum (AccountType, State, SyncStatus) in wire order; beta adds beta-only members.
function M.members(enum, beta)
  return core.enum_members(enum, beta)
end

-- Automation helpers; loading them also adds client:expiring, :wait_for_sync, :renew and :find.
local automation = require "vpptoken.automation"
M.days_left = automation.days_left
M.read_token_file = automation.read_token_file

return M
