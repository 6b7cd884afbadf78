--- Many tenants in one run: a tenants file, checked whole before any request, and a job run over every tenant
-- concurrently, each tenant with its own client, sign-in and throttling.
--
--    local tenants = require "vpptoken.tenants"
--    local list = assert(tenants.load("tenants.json"))
--    local results = tenants.run(list, function(client) return client:expiring{ within_days = 30 } end)
--    for _, r in ipairs(results) do print(r.name, r.ok and #r.value or tostring(r.error)) end
--
-- The file: `{"tenants": [{"name": "contoso", "tenant_id": "...", "client_id": "...",
-- "client_secret_env": "CONTOSO_SECRET", "tags": ["eu"]}, ...]}`.
-- @module vpptoken
local core = require "vpptoken.core"
local async = require "vpptoken.async"
local Client = require "vpptoken.client"
local clouds = require "vpptoken.clouds"
local errors = require "vpptoken.error"
local fileio = require "vpptoken.fileio"
local json = require "vpptoken.json"
local options = require "vpptoken.options"
local safe_text = require "vpptoken.text"
local compat = require "vpptoken.compat"

local M = {}

-- Bounds of a tenants file: tenants in it, its bytes, a name's bytes, tags per tenant and a tag's bytes.
M.LIMITS = { max_tenants = 10000, max_bytes = 16 * 1024 * 1024, max_name = 128, max_tags = 64, max_tag = 128 }

-- Tenants a run works on at once unless told (opts.concurrency), and the most it takes (the C core's limit on
-- calls in flight).
M.DEFAULT_CONCURRENCY = 8
M.MAX_CONCURRENCY = core.MAX_CONCURRENCY

-- The ways a tenant signs in, one per tenant: the file's field -> the vpptoken.new option it becomes. The sign-ins
-- vpptoken.new does not know (yet) are refused when the file is read, not when the run starts.
M.SIGNIN = {
  client_secret_env = "client_secret", client_secret_file = "client_secret", client_secret = "client_secret",
  client_certificate = "client_certificate", federated_token_file = "federated_token_file",
  managed_identity = "managed_identity",
}
local SIGNIN_ORDER = { "client_secret_env", "client_secret_file", "client_secret", "client_certificate",
                       "federated_token_file", "managed_identity" }
local OTHER_FIELDS = { name = true, tenant_id = true, client_id = true, cloud = true, base_url = true, tags = true }
local KNOWN_FIELDS = {}
for k in pairs(OTHER_FIELDS) do KNOWN_FIELDS[k] = true end
for k in pairs(M.SIGNIN) do KNOWN_FIELDS[k] = true end

local NEW_OPTIONS = {}
for _, k in ipairs(Client.OPTIONS) do NEW_OPTIONS[k] = true end

-- The vpptoken.new options of each tenant record, kept here (not in the record) so no dump of a list shows a secret.
local signins = setmetatable({}, { __mode = "k" })

-- The UTF-8 byte order mark some Windows editors write first (PowerShell 5.1's Out-File -Encoding utf8): not JSON
-- (RFC 8259 section 8.1), and skipped once at the start of a tenants file.
local UTF8_BOM = "\239\187\191"

local function file_error(message, code, fields)
  local e = { kind = "tenants_file", code = code or "InvalidTenantsFile", message = message }
  for k, v in pairs(fields or {}) do e[k] = v end
  return errors.new(e)
end

-- A tenant's name (or a path) from the file, fit for a message: "contoso".
local function shown(s)
  return '"' .. safe_text.printable(s:sub(1, 64)) .. (#s > 64 and "..." or "") .. '"'
end

local function plain_string(v, max)
  return type(v) == "string" and v ~= "" and #v <= max and not v:find("[%c]")
end

-- A name or tag, shown in the TENANT column, messages and the summary: plain and printable as it is (no C1 or
-- direction control, valid UTF-8), so what the user reads is what the file says.
local function shown_string(v, max)
  return plain_string(v, max) and safe_text.printable(v) == v
end

-- Checks one tenant (the i-th, a decoded JSON value); returns its record and its vpptoken.new options, or nil and
-- the field at fault, why, and a code other than InvalidTenantsFile (SecretNotPrivate) if any. ctx: { getenv, private
-- (the file is readable by its owner only) }.
local function check_tenant(t, ctx)
  if type(t) ~= "table" or rawget(t, 1) ~= nil then return nil, "tenant", "is not an object" end
  local given = t
  t = {} -- a JSON null is a field left out
  for k, v in pairs(given) do
    if v ~= json.null then t[k] = v end
  end
  for k in pairs(t) do
    if type(k) ~= "string" or not KNOWN_FIELDS[k] then
      local hint = type(k) == "string" and options.suggest(k, KNOWN_FIELDS)
      return nil, tostring(k), "unknown field" .. (hint and (" (did you mean " .. hint .. "?)") or "")
    end
  end
  if not shown_string(t.name, M.LIMITS.max_name) then
    return nil, "name", "must be a string of 1 to " .. M.LIMITS.max_name .. " bytes of UTF-8 text without control "
      .. "characters"
  end
  if not plain_string(t.tenant_id, 256) or t.tenant_id:find("%s") then
    return nil, "tenant_id", "must be a non-empty string without spaces (a GUID or a domain name)"
  end
  local signin
  for _, k in ipairs(SIGNIN_ORDER) do
    if t[k] ~= nil then
      if signin then return nil, k, "a tenant has one sign-in, and this one also has " .. signin end
      signin = k
    end
  end
  if not signin then
    return nil, "sign-in", "give one of " .. table.concat(SIGNIN_ORDER, ", ")
  end
  local opts = { tenant_id = t.tenant_id }
  if not NEW_OPTIONS[M.SIGNIN[signin]] then
    return nil, signin, "this version of vpptoken cannot sign in this way"
  end
  if t.client_id ~= nil and not plain_string(t.client_id, 256) then
    return nil, "client_id", "must be a non-empty string"
  end
  if t.client_id == nil and signin ~= "managed_identity" then
    return nil, "client_id", "is needed to sign in with " .. signin
  end
  opts.client_id = t.client_id
  local v, option = t[signin], M.SIGNIN[signin]
  if signin == "managed_identity" then
    if v ~= true then return nil, signin, "must be true (or left out)" end
    -- client_id picks a user-assigned identity; a token for another tenant than tenant_id is this tenant's failure
    opts[option] = { client_id = t.client_id, tenant_id = t.tenant_id }
  elseif not plain_string(v, 4096) then
    return nil, signin, "must be a non-empty string"
  elseif signin == "client_secret_env" then
    local secret = ctx.getenv(v)
    if secret == nil or secret == "" then return nil, signin, v .. " is not set" end
    opts[option] = secret
  elseif signin == "client_secret_file" then
    local text, msg, code = fileio.read_secret(v, "client secret file")
    if not text then return nil, signin, msg, code == fileio.NOT_PRIVATE and code or nil end
    text = safe_text.trim(text)
    if text == "" then return nil, signin, "the file " .. shown(v) .. " is empty" end
    opts[option] = text
  elseif signin == "client_secret" then
    if not ctx.private then
      return nil, signin, "a secret in clear is refused: " .. fileio.not_private("the tenants file")
        .. " (or use client_secret_env or client_secret_file)", fileio.NOT_PRIVATE
    end
    opts[option] = v
  elseif signin == "client_certificate" then
    local pem, msg = fileio.read(v, core.MAX_PEM_BYTES, "client certificate")
    if not pem then return nil, signin, msg end
    opts[option] = v
  else
    opts[option] = v
  end
  if t.cloud ~= nil then
    if type(t.cloud) ~= "string" or not clouds.HOSTS[t.cloud] then
      return nil, "cloud", "must be one of " .. table.concat(clouds.NAMES, ", ")
    end
    opts.cloud = t.cloud
  end
  if t.base_url ~= nil then
    if type(t.base_url) ~= "string" then return nil, "base_url", "must be a string (an http(s) URL)" end
    local origin, why = core.check_url(t.base_url)
    if not origin then return nil, "base_url", "must be an http(s) URL (" .. tostring(why) .. ")" end
    opts.base_url = t.base_url
  end
  local tags = {}
  if t.tags ~= nil then
    if type(t.tags) ~= "table" or (next(t.tags) ~= nil and rawget(t.tags, 1) == nil) or #t.tags > M.LIMITS.max_tags then
      return nil, "tags", "must be an array of at most " .. M.LIMITS.max_tags .. " strings"
    end
    for i, tag in ipairs(t.tags) do
      if not shown_string(tag, M.LIMITS.max_tag) then
        return nil, "tags", string.format("tags[%d] must be a string of 1 to %d bytes of UTF-8 text without control "
          .. "characters", i, M.LIMITS.max_tag)
      end
      tags[i] = tag
    end
  end
  local record = { name = t.name, tenant_id = t.tenant_id, client_id = t.client_id, signin = signin,
                   cloud = t.cloud, base_url = t.base_url, tags = tags }
  return record, opts
end

--- Checks the text of a tenants file; returns the list of tenants (an array of records: name, tenant_id,
-- client_id, signin (the field that says how it signs in), cloud, base_url, tags, in the file's order), or nil and
-- an error object (kind "tenants_file", code InvalidTenantsFile; `index`, `tenant` and `field` say where) whose
-- message names the tenant and the field: `tenants[3] "fabrikam": client_secret_env: FABRIKAM_SECRET is not set`.
-- Secrets are read (from the environment or files) here, so a run starts only with every tenant able to sign in.
-- @function tenants.parse
-- @param text the file's JSON text
-- @param[opt] opts getenv (a function like os.getenv, the default), private (true when the text came from a file
-- that only its owner may read: only then may a tenant hold `client_secret` in clear), where (a name for messages)
function M.parse(text, opts)
  opts = options.check(opts, "tenants.parse", { getenv = true, private = true, where = true }, 2)
  local where = opts.where and (opts.where .. ": ") or ""
  if type(text) == "string" and text:sub(1, 3) == UTF8_BOM then text = text:sub(4) end
  local doc, msg = json.decode(text)
  if type(doc) ~= "table" or type(text) ~= "string" or not text:match("^%s*{") then
    local bom = type(text) == "string" and text:sub(1, 3) == UTF8_BOM and " (after a second byte order mark)" or ""
    return nil, file_error(where .. "not a JSON object" .. bom .. (msg and (" (" .. msg .. ")") or ""))
  end
  local list = doc.tenants
  if type(list) ~= "table" or (next(list) ~= nil and rawget(list, 1) == nil) then
    return nil, file_error(where .. "\"tenants\" must be an array of tenant objects")
  end
  local n = #list
  if n > M.LIMITS.max_tenants then
    return nil, file_error(string.format("%sthe file has %d tenants, more than %d", where, n, M.LIMITS.max_tenants),
      "TooManyTenants")
  end
  local ctx = { getenv = opts.getenv or os.getenv, private = opts.private == true }
  local out, seen = {}, {}
  for i = 1, n do
    local t = list[i]
    local record, sopts, why, code = check_tenant(t, ctx)
    local name = type(t) == "table" and shown_string(t.name, M.LIMITS.max_name) and t.name or nil
    local head = string.format("%stenants[%d]%s", where, i, name and (" " .. shown(name)) or "")
    if not record then
      return nil, file_error(head .. ": " .. sopts .. ": " .. why, code, { index = i, tenant = name, field = sopts })
    end
    if seen[name] then
      return nil, file_error(string.format("%s: name: also the name of tenants[%d]", head, seen[name]),
        "DuplicateTenant", { index = i, tenant = name, field = "name" })
    end
    seen[name] = i
    record.index = i
    signins[record] = sopts
    out[i] = record
  end
  return out
end

--- Reads and checks a tenants file (at most LIMITS.max_bytes): as tenants.parse, with `private` from the file's
-- own permission bits (no bit for the group or others). nil and an error object when it cannot be read.
-- @function tenants.load
-- @param path the file
-- @param[opt] opts getenv (like os.getenv, the default)
function M.load(path, opts)
  opts = options.check(opts, "tenants.load", { getenv = true }, 2)
  local text, mode_or_msg, code = fileio.read_with_mode(path, M.LIMITS.max_bytes, "tenants file")
  if not text then return nil, file_error(mode_or_msg, "TenantsFileUnreadable", { file_code = code }) end
  return M.parse(text, { getenv = opts.getenv, private = fileio.owner_only(mode_or_msg),
                         where = safe_text.quoted(path, fileio.PATH_SHOWN_MAX) })
end

-- ---- the run ----

local RUN_OPTIONS = { concurrency = true, on_request = true, client = true, interrupt = true }

-- The options of vpptoken.new a run may give every tenant (transport and where); sign-in comes from the file. A
-- tenant's own cloud and base_url win over the run's; the run's base_url wins over a tenant's cloud (a run pointed
-- at a sandbox sends no tenant anywhere else); the run's authority_url applies to every tenant.
local SHARED_OPTIONS = { api_version = true, authority_url = true, base_url = true, cloud = true }
for _, k in ipairs(core.session_options) do SHARED_OPTIONS[k] = true end

--- Runs `job(client, tenant)` for every tenant of a list from tenants.load or tenants.parse, several tenants at
-- once, and returns one result per tenant in the list's order: { name, index, ok = true, value } with what the job
-- returned, or { name, index, ok = false, error } with the error object it returned (`nil, err`), the error its
-- client could not be made with, or the error it raised (kind "job"). A tenant's failure never stops the others.
-- Each tenant has its own client (its own sign-in, token, connections and retry policy), and each job runs as a
-- vpptoken.async task on vpptoken's own loop: its calls, retry waits and wait_for_sync suspend that job alone, so
-- a slow or throttled tenant holds up only itself.
-- @function tenants.run
-- @param list from tenants.load or tenants.parse (or a part of it)
-- @param job a function(client, tenant) returning a value, or nil and an error object
-- @param[opt] opts concurrency (tenants at work at once, default 8, at most MAX_CONCURRENCY), on_request (a
-- function(info) told of every call as vpptoken.new's is, with info.tenant the tenant's name), client (vpptoken.new
-- options for every tenant: transport options, api_version, authority_url, and cloud and base_url for the tenants
-- without their own base_url), interrupt (true: Ctrl-C (SIGINT) during the run cancels every job under way, whose
-- tenants fail with kind "cancelled", and the results get `interrupted = true`; tenants not started yet are left
-- out)
-- The options of vpptoken.new for tenant t: the run's shared ones, its sign-in, its own place; on_request (the
-- run's hook, if any) hears of its calls with info.tenant.
local function client_options(t, shared_opts, hook)
  local copts = {}
  for k, v in pairs(shared_opts) do copts[k] = v end
  for k, v in pairs(signins[t]) do copts[k] = v end
  if t.base_url then copts.base_url = t.base_url end
  if t.cloud then copts.cloud = t.cloud end
  if hook then
    copts.on_request = function(info)
      info.tenant = t.name
      return hook(info)
    end
  end
  return copts
end

-- The result of a tenant whose client cannot be made (`why`: what vpptoken.new raised).
local function invalid_tenant(t, why)
  return { name = t.name, index = t.index, ok = false, error = errors.new{ kind = "tenants_file",
    code = "InvalidTenant", message = string.format("tenants[%d] %s: %s", t.index, shown(t.name),
      tostring(why):gsub("^[^:]*:%d+: ", "")) } }
end

-- What the job sees of a tenant: a copy (its tags too), so a job cannot change the list.
local function view_of(t)
  local view = {}
  for k, v in pairs(t) do view[k] = v end
  view.tags = { compat.unpack(t.tags) }
  return view
end

-- The run on PUC Lua 5.1, which cannot yield across pcall (so no task can wait inside a call): the tenants one
-- after another, each job on a blocking client. The same results; Ctrl-C (opts.interrupt) ends the call under way
-- and leaves the tenants not started yet out.
local function run_in_turn(list, job, opts, shared_opts)
  local results = {}
  if opts.interrupt then core.catch_interrupt(true) end
  local ok, err = pcall(function()
    for _, t in ipairs(list) do
      if opts.interrupt and core.interrupted() then
        results.interrupted = true
        break
      end
      local made, client = pcall(Client.new, client_options(t, shared_opts, opts.on_request))
      if not made then
        results[#results + 1] = invalid_tenant(t, client)
      else
        local r = compat.pack(pcall(job, client, view_of(t)))
        local value, jerr = r[2], r[3]
        if not r[1] then
          local shown_ok, text = pcall(tostring, r[2])
          if not shown_ok then text = "a " .. type(r[2]) .. " that cannot be shown" end
          value, jerr = nil, errors.new{ kind = "job", code = "JobFailed", raised = r[2],
            message = "the job raised an error: " .. text }
        end
        local res = { name = t.name, index = t.index, ok = value ~= nil or jerr == nil }
        if res.ok then res.value = value else res.error = jerr end
        results[#results + 1] = res
        pcall(client.close, client)
        if opts.interrupt and type(jerr) == "table" and jerr.kind == "cancelled" then results.interrupted = true end
      end
      if results.interrupted then break end
    end
  end)
  if opts.interrupt then core.catch_interrupt(false) end
  if not ok then error(err, 0) end
  return results
end

function M.run(list, job, opts)
  if type(list) ~= "table" then error("tenants.run: list must be a list from tenants.load", 2) end
  for i, t in ipairs(list) do
    if not signins[t] then error("tenants.run: list[" .. i .. "] is not a tenant from tenants.load", 2) end
  end
  if type(job) ~= "function" then error("tenants.run: job must be a function(client, tenant)", 2) end
  opts = options.check(opts, "tenants.run", RUN_OPTIONS, 2)
  local conc = opts.concurrency or M.DEFAULT_CONCURRENCY
  if compat.math_type(conc) ~= "integer" or conc < 1 or conc > M.MAX_CONCURRENCY then
    error("tenants.run: concurrency must be a whole number from 1 to " .. M.MAX_CONCURRENCY, 2)
  end
  if opts.on_request ~= nil and type(opts.on_request) ~= "function" then
    error("tenants.run: on_request must be a function", 2)
  end
  local shared_opts = options.check(opts.client, "tenants.run: client", SHARED_OPTIONS, 2)
  local ok_session, why = pcall(core.session, (function()
    local sopts = {}
    for _, k in ipairs(core.session_options) do sopts[k] = shared_opts[k] end
    return sopts
  end)())
  if not ok_session then error("tenants.run: client: " .. tostring(why), 2) end
  why:close()

  if not compat.yield_across_pcall then return run_in_turn(list, job, opts, shared_opts) end

  local results, next_tenant, hook = {}, 1, opts.on_request
  local live, ended = {}, {} -- task -> { slot, tenant, client }; tasks that ended, to be recorded by the loop
  local interrupted = false
  local rt = async.new{ loop = "poll", on_interrupt = opts.interrupt and function()
    interrupted = true
    for task in pairs(live) do task:cancel() end
  end or nil }

  local function record(task)
    local w = live[task]
    live[task] = nil
    local t = w.tenant
    local value, err = task:result()
    local r = { name = t.name, index = t.index, ok = value ~= nil or err == nil }
    if r.ok then r.value = value else r.error = err end
    results[w.slot] = r
    pcall(w.client.close, w.client)
  end

  local function start(slot, t)
    local ok, client = pcall(rt.client, rt, client_options(t, shared_opts, hook))
    if not ok then
      results[slot] = invalid_tenant(t, client)
      return
    end
    local view = view_of(t)
    local task = rt:spawn(function() return job(client, view) end)
    live[task] = { slot = slot, tenant = t, client = client }
    if task:done() then ended[#ended + 1] = task else task.on_done = function() ended[#ended + 1] = task end end
  end

  -- Called by the loop between its waits: records the jobs that ended, starts the next tenants; true when all done.
  local function refill()
    while #ended > 0 do record(table.remove(ended, 1)) end
    if interrupted then return next(live) == nil end
    local alive = 0
    for _ in pairs(live) do alive = alive + 1 end
    while alive < conc and next_tenant <= #list do
      start(next_tenant, list[next_tenant])
      next_tenant = next_tenant + 1
      while #ended > 0 do record(table.remove(ended, 1)) end
      alive = 0
      for _ in pairs(live) do alive = alive + 1 end
    end
    return alive == 0 and next_tenant > #list
  end

  if opts.interrupt then core.catch_interrupt(true) end
  local ok, err = pcall(function()
    while not refill() do rt:run(refill) end
  end)
  if opts.interrupt then core.catch_interrupt(false) end
  if not ok then error(err, 0) end
  if interrupted then
    local kept = {}
    for i = 1, #list do if results[i] then kept[#kept + 1] = results[i] end end
    results = kept
    results.interrupted = true
  end
  return results
end

--- The slice (1 to n) a tenant's name falls in when the tenants are split n ways (the command's `--shard K/N`): a
-- 32-bit FNV-1a hash of the name, computed in C, so the slice never depends on the file's order, the other tenants
-- or the Lua version of the host.
-- @function tenants.shard_of
-- @param name a tenant's name
-- @param n the number of slices, a whole number from 1
function M.shard_of(name, n)
  if type(name) ~= "string" then error("tenants.shard_of: name must be a string", 2) end
  if compat.math_type(n) ~= "integer" or n < 1 then error("tenants.shard_of: n must be a whole number >= 1", 2) end
  return core.fnv1a32(name) % n + 1
end

return M
