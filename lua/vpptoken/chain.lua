--- The sign-in chain of vpptoken.from_env: the ways to sign in found in the environment, tried in this order; the
-- first that applies is used. Each entry: { name, applies = function(env) -> credential options | nil, reason }
-- where env(name) reads a variable (empty counts as unset) and env.opts are the caller's options (they win). A
-- reason names the variables a user would set. Adding a way to sign in is adding one entry.
local core = require "vpptoken.core"
local compat = require "vpptoken.compat"

local M = {}

-- The most PATH entries looked at for the Azure CLI.
local MAX_PATH_ENTRIES = 256

-- The options that say how to sign in: a caller who gives one has chosen, and the chain is not asked.
M.CREDENTIAL_OPTIONS = { "access_token", "token_provider", "client_secret", "client_certificate",
                         "federated_token_file", "managed_identity", "azure_cli" }

--- The first executable file named `name` in the directories of PATH (from env), or nil.
function M.find_program(name, path)
  if type(path) ~= "string" then return nil end
  local n = 0
  for dir in path:gmatch("[^:]+") do
    n = n + 1
    if n > MAX_PATH_ENTRIES then break end
    local candidate = dir .. "/" .. name
    if core.executable(candidate) then return candidate end
  end
  return nil
end

-- The variables a way of signing in is named by (from_env suggests one of them for a variable set by mistake), and
-- every variable the chain reads.
M.SIGN_IN_VARIABLES = { "VPPTOKEN_ACCESS_TOKEN", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                        "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
                        "IDENTITY_HEADER" }
M.VARIABLES = { "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "VPPTOKEN_MANAGED_IDENTITY",
                "AZURE_AUTHORITY_HOST", "PATH", "XDG_CACHE_HOME", compat.unpack(M.SIGN_IN_VARIABLES) }

-- "AZURE_TENANT_ID is not set" or "AZURE_TENANT_ID and AZURE_CLIENT_ID are not set" for the ones of `vars` unset.
local function unset(env, vars)
  local missing = {}
  for _, v in ipairs(vars) do
    if not env(v) then missing[#missing + 1] = v end
  end
  return table.concat(missing, " and ") .. (#missing == 1 and " is not set" or " are not set")
end

-- The credential of vpptoken login's cached sign-in for this cloud and tenant, or nil and why there is none.
local function cached_login(env, opts)
  local login = require "vpptoken.login"
  local path, why = login.cache_path(nil, env)
  if not path then return nil, why end
  local ok, cred, err = pcall(login.cached_credential, {
    cache_file = path, tenant_id = env("AZURE_TENANT_ID"),
    cloud = opts.cloud or env("VPPTOKEN_CLOUD"), base_url = opts.base_url or env("VPPTOKEN_GRAPH_URL"),
    authority_url = opts.authority_url or env("VPPTOKEN_AUTHORITY_URL") or env("AZURE_AUTHORITY_HOST") })
  if not ok then return nil, "the cached sign-in cannot be used: " .. tostring(cred) end
  if not cred then return nil, err.message end
  return cred
end

M.ENTRIES = {
  { name = "environment",
    applies = function(env)
      if env("VPPTOKEN_ACCESS_TOKEN") then return { access_token = env("VPPTOKEN_ACCESS_TOKEN") } end
      local secret, cert = env("AZURE_CLIENT_SECRET"), env("AZURE_CLIENT_CERTIFICATE_PATH")
      if not (secret or cert) then
        return nil, "neither VPPTOKEN_ACCESS_TOKEN nor AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set"
      end
      if not (env("AZURE_TENANT_ID") and env("AZURE_CLIENT_ID")) then
        return nil, (secret and "AZURE_CLIENT_SECRET" or "AZURE_CLIENT_CERTIFICATE_PATH") .. " is set, but "
          .. unset(env, { "AZURE_TENANT_ID", "AZURE_CLIENT_ID" })
      end
      -- as Azure's EnvironmentCredential: the secret wins over the certificate
      return { tenant_id = env("AZURE_TENANT_ID"), client_id = env("AZURE_CLIENT_ID"), client_secret = secret,
               client_certificate = not secret and cert or nil,
               client_certificate_password = not secret and env("AZURE_CLIENT_CERTIFICATE_PASSWORD") or nil }
    end },
  { name = "workload identity",
    applies = function(env)
      local file = env("AZURE_FEDERATED_TOKEN_FILE")
      if not file then return nil, "AZURE_FEDERATED_TOKEN_FILE is not set" end
      if not (env("AZURE_TENANT_ID") and env("AZURE_CLIENT_ID")) then
        return nil, "AZURE_FEDERATED_TOKEN_FILE is set, but " .. unset(env, { "AZURE_TENANT_ID", "AZURE_CLIENT_ID" })
      end
      return { tenant_id = env("AZURE_TENANT_ID"), client_id = env("AZURE_CLIENT_ID"), federated_token_file = file }
    end },
  { name = "managed identity",
    applies = function(env)
      local endpoint, imds_host = env("IDENTITY_ENDPOINT"), env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
      local mi = { client_id = env("AZURE_CLIENT_ID") } -- a user-assigned identity, as DefaultAzureCredential
      if endpoint then
        if not env("IDENTITY_HEADER") then return nil, "IDENTITY_ENDPOINT is set, but IDENTITY_HEADER is not" end
        mi.endpoint, mi.header = endpoint, env("IDENTITY_HEADER")
      elseif imds_host or env("VPPTOKEN_MANAGED_IDENTITY") == "1" then
        mi.imds_host = imds_host or require("vpptoken.signin").IMDS_HOST
      else
        return nil, "IDENTITY_ENDPOINT is not set, and the VM's IMDS is asked only with VPPTOKEN_MANAGED_IDENTITY=1 "
          .. "(or AZURE_POD_IDENTITY_AUTHORITY_HOST)"
      end
      return { managed_identity = mi }
    end },
  { name = "Azure CLI",
    -- found on PATH, not configured: when it gives no token (not signed in), it steps aside for vpptoken login's
    -- cached sign-in, the way after it (vpptoken.auth)
    applies = function(env, opts)
      local az = M.find_program("az", env("PATH"))
      if not az then return nil, "no az program on PATH" end
      local cred, why = cached_login(env, opts)
      return { azure_cli = { command = az, otherwise = cred and { name = "vpptoken login", credential = cred },
                             tried_after = not cred and ("vpptoken login: " .. why) or nil },
               tenant_id = env("AZURE_TENANT_ID") }
    end },
  { name = "vpptoken login",
    applies = function(env, opts)
      local cred, why = cached_login(env, opts)
      if not cred then return nil, why end
      return { token_provider = cred:token_provider() }
    end },
}

--- The credential options from the first entry that applies: options, entry name; or nil and one message with
-- the reason of each entry. getenv(name) reads a variable; the caller's opts give tenant_id/client_id over
-- AZURE_TENANT_ID/AZURE_CLIENT_ID.
function M.resolve(opts, getenv)
  opts = opts or {}
  local over = { AZURE_TENANT_ID = opts.tenant_id, AZURE_CLIENT_ID = opts.client_id }
  local function env(name)
    local v = over[name]
    if v == nil then v = getenv(name) end
    if v == nil or v == "" then return nil end
    return v
  end
  local reasons = {}
  for _, entry in ipairs(M.ENTRIES) do
    local found, why = entry.applies(env, opts)
    if found then
      -- an ambient way that gives no token names, in its error, why the ways before it did not apply
      if type(found.azure_cli) == "table" and #reasons > 0 then
        found.azure_cli.tried_before = table.concat(reasons, "; ")
      end
      return found, entry.name
    end
    reasons[#reasons + 1] = entry.name .. ": " .. why
  end
  return nil, table.concat(reasons, "; ")
end

return M
