--- The vpptoken command line: one function per command, over the public vpptoken API only.
-- Each takes the context (ctx.opts, ctx.positional, ctx:client(), ctx:emit_*) and returns an exit code; a usage
-- mistake raises ctx.usage(message), a run-time failure returns ctx:fail(err).
local vpptoken = require "vpptoken"
local errors = require "vpptoken.error"
local exits = require "vpptoken.cli.exits"
local output = require "vpptoken.cli.output"
local safe_text = require "vpptoken.text"

local M = {}

-- The columns of a token in tables and CSV, in order (CSV and --select keep the wire names).
local TABLE_COLUMNS = {
  { key = "id", title = "ID", keep = 2, min = 8 },
  { key = "appleId", title = "APPLE ID", min = 10 },
  { key = "organizationName", title = "ORGANIZATION", min = 8, optional = 2 },
  { key = "state", title = "STATE", min = 5 },
  { key = "lastSyncStatus", title = "SYNC", min = 4, optional = 1 },
  { key = "expirationDateTime", title = "EXPIRES", keep = 1, min = 10 },
}
local CSV_COLUMNS = { "id", "appleId", "organizationName", "vppTokenAccountType", "state", "lastSyncStatus",
                      "lastSyncDateTime", "expirationDateTime", "countryOrRegion", "automaticallyUpdateApps",
                      "lastModifiedDateTime", "token" }

-- How --set values are typed: by the property's kind in the library's schema (vpptoken.property_kind, beta
-- properties included; the library refuses a beta property on a v1.0 client).
local TRUE = { ["true"] = true, yes = true, ["1"] = true, on = true }
local FALSE = { ["false"] = true, no = true, ["0"] = true, off = true }

--- Turns --set NAME=VALUE texts into fields typed by the vppToken schema (raises a usage error).
function M.typed_fields(ctx, sets, fields)
  fields = fields or {}
  for _, s in ipairs(sets or {}) do
    local name, value = s:match("^([%w@%.]+)=(.*)$")
    -- Never echo the text: it may be the value alone, a secret.
    if not name then ctx.usage("--set needs NAME=VALUE (a property name, '=', then the value)") end
    if #name > output.ECHO_MAX then -- no property is named so; the text may be a secret ending in '=' padding
      ctx.usage("--set needs NAME=VALUE: the text before '=' is no property name (" .. output.quoted(name) .. ")")
    end
    if name == "token" then
      ctx.usage("token cannot be set with --set (it would stay in the shell history): use create --file or renew")
    end
    local kind = vpptoken.property_kind(name, true)
    if kind == "boolean" then
      local v = value:lower()
      if TRUE[v] then value = true
      elseif FALSE[v] then value = false
      else ctx.usage(name .. " must be true or false (got " .. output.quoted(value) .. ")") end
    elseif kind == "strings" then
      local list = {}
      for item in value:gmatch("[^,]+") do list[#list + 1] = safe_text.trim(item) end
      value = list
    end
    fields[name] = value
  end
  return fields
end

local function select_list(ctx)
  if not ctx.opts.select then return nil end
  local names = {}
  for n in ctx.opts.select:gmatch("[^,%s]+") do names[#names + 1] = n end
  if #names == 0 then ctx.usage("--select needs property names") end
  return names
end

local function columns_for(ctx)
  local names = select_list(ctx)
  if not names then return TABLE_COLUMNS, CSV_COLUMNS end
  local tcols, ccols = { { key = "id", title = "ID", keep = 2, min = 8 } }, { "id" }
  for _, n in ipairs(names) do
    if n ~= "id" then
      tcols[#tcols + 1] = { key = n, title = n, min = 6 }
      ccols[#ccols + 1] = n
    end
  end
  return tcols, ccols
end

--- Prints tokens as the chosen format.
local function emit_tokens(ctx, tokens, tcols, ccols)
  local fmt = ctx.format
  if fmt == "json" then
    io.write(output.json(output.redact(tokens, ctx.opts.show_secrets)))
  elseif fmt == "csv" then
    io.write(output.csv(output.redact(tokens, ctx.opts.show_secrets), ccols or CSV_COLUMNS))
  else
    local rows = {}
    for i, t in ipairs(tokens) do rows[i] = output.display(t, ctx.opts.show_secrets) end
    io.write(output.table(rows, tcols or TABLE_COLUMNS, ctx:table_width()))
  end
end

local function emit_token(ctx, tok)
  if ctx.format == "json" then
    io.write(output.json(setmetatable(output.redact(tok, ctx.opts.show_secrets), output.OBJECT)))
  elseif ctx.format == "csv" then
    local cols = { "id" }
    local keys = {}
    for k in pairs(tok) do if k ~= "id" and not k:match("^@") then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do cols[#cols + 1] = k end
    io.write(output.csv({ output.redact(tok, ctx.opts.show_secrets) }, cols))
  else
    io.write(output.record(tok, ctx.opts.show_secrets))
  end
end

function M.list(ctx)
  local query = {}
  query.select = select_list(ctx)
  query.filter, query.top = ctx.opts.filter, ctx.opts.top
  local state = ctx.opts.state
  if state then
    local members = vpptoken.members("State", ctx.opts.beta)
    local known = false
    for _, m in ipairs(members) do known = known or m == state end
    if not known then
      ctx.usage("--state must be one of " .. table.concat(members, ", ") .. " (got " .. output.quoted(state) .. ")")
    end
    if query.select then table.insert(query.select, "state") end
  end
  local client = ctx:client()
  local tokens = {}
  local iter = ctx:call(client.each, client, next(query) and query or nil)
  ctx.progress_label = "listing tokens"
  for tok, err in iter do
    if not tok then return ctx:fail(err) end
    if not state or tok.state == state then tokens[#tokens + 1] = tok end
  end
  ctx:progress_done("listed " .. #tokens .. " tokens")
  local tcols, ccols = columns_for(ctx)
  emit_tokens(ctx, tokens, tcols, ccols)
  return exits.OK
end

function M.get(ctx)
  local client = ctx:client()
  local names = select_list(ctx)
  local tok, err = ctx:call(client.get, client, ctx.positional[1], names and { select = names } or nil)
  if not tok then return ctx:fail(err) end
  emit_token(ctx, tok)
  return exits.OK
end

-- vpptoken.fileio's codes as the library's token-file codes.
local TOKEN_FILE_CODES = require("vpptoken.tokenfile").READ_CODES

-- Checks that --file names a readable token file within the size cap (messages name the flag, never its value,
-- which may be the token itself, pasted in place of a path); nil and the exit code after the message if not.
local function check_token_file(ctx)
  local text, why, code = ctx:read_flag_file("file", "token_file", "token file")
  if not text then
    return nil, ctx:fail(errors.new{ kind = "token_file", code = TOKEN_FILE_CODES[code], message = why })
  end
  return ctx.opts.file
end

local function read_file(ctx)
  local path, code = check_token_file(ctx)
  if not path then return nil, code end
  local file, err = vpptoken.read_token_file(path)
  if not file then return nil, ctx:fail(err) end
  return file
end

function M.create(ctx)
  local o = ctx.opts
  if not o.file then ctx.usage("create needs --file PATH (the .vpptoken file from Apple)") end
  local fields = M.typed_fields(ctx, o.set)
  local file, code = read_file(ctx)
  if not file then return code end
  if file.expired then
    return ctx:fail(nil, exits.TOKEN_FILE, "the token file expired on " .. tostring(file.expiration)
      .. ": download a new one from Apple Business Manager or Apple School Manager")
  end
  fields.token = file.token
  fields.organizationName = o.organization or fields.organizationName or file.organization
  fields.appleId = o.apple_id or fields.appleId
  fields.vppTokenAccountType = o.account_type or fields.vppTokenAccountType
  fields.countryOrRegion = o.country or fields.countryOrRegion
  if fields.expirationDateTime == nil then fields.expirationDateTime = file.expiration end
  local client = ctx:client()
  local tok, err = ctx:call(client.create, client, fields)
  if not tok then return ctx:fail(err) end
  emit_token(ctx, tok)
  return exits.OK
end

function M.update(ctx)
  if not ctx.opts.set then ctx.usage("update needs at least one --set NAME=VALUE") end
  local fields = M.typed_fields(ctx, ctx.opts.set)
  local client = ctx:client()
  local tok, err = ctx:call(client.update, client, ctx.positional[1], fields)
  if not tok then return ctx:fail(err) end
  if tok == true then tok = { id = ctx.positional[1] } end
  emit_token(ctx, tok)
  return exits.OK
end

function M.delete(ctx)
  local id = ctx.positional[1]
  local client = ctx:client()
  if not ctx.opts.yes then
    if not output.isatty(0) then
      ctx.usage("delete asks for confirmation and stdin is not a terminal: add --yes to delete without asking")
    end
    local tok, err = ctx:call(client.get, client, id)
    if not tok then return ctx:fail(err) end
    io.stderr:write(output.printable(string.format("Delete VPP token %s (%s, %s)? Apps licensed through it lose "
      .. "their licenses. [y/N] ", id, tostring(tok.appleId or "no Apple ID"),
      tostring(tok.organizationName or "no organization"))))
    io.stderr:flush()
    local answer = (io.read("l") or ""):lower()
    if answer ~= "y" and answer ~= "yes" then
      output.message("not deleted")
      return exits.FAILURE
    end
  end
  local ok, err = ctx:call(client.delete, client, id)
  if not ok then return ctx:fail(err) end
  if ctx.format == "json" then
    io.write(output.json(setmetatable({ id = id, deleted = true }, output.OBJECT)))
  elseif ctx.format == "csv" then
    io.write(output.csv({ { id = id, deleted = "true" } }, { "id", "deleted" }))
  elseif not ctx.opts.quiet then
    io.write("deleted ", output.printable(id), "\n")
  end
  return exits.OK
end

local SYNC_TABLE = {
  { key = "id", title = "ID", keep = 2, min = 8 }, { key = "appleId", title = "APPLE ID", min = 10 },
  { key = "outcome", title = "OUTCOME", min = 7 }, { key = "lastSyncStatus", title = "SYNC", min = 4 },
  { key = "reason", title = "REASON", min = 6, optional = 1 },
}

-- Waits for every started sync; outcomes get lastSyncStatus (and "failed" when Apple's sync failed).
local function wait_all(ctx, outcomes)
  local client = ctx:client()
  local timeout = ctx.opts.wait_timeout or 300
  local deadline = os.time() + timeout
  for _, o in ipairs(outcomes) do
    if o.outcome == "started" then
      ctx.progress_label = "waiting for the license sync of " .. o.id
      local left = math.max(0, deadline - os.time())
      local tok, err = client:wait_for_sync(o.id, { timeout = left, interval = 1 })
      if tok then
        o.lastSyncStatus = tok.lastSyncStatus
        if tok.lastSyncStatus == "failed" then o.outcome, o.reason = "failed", "Apple's license sync failed" end
      else
        o.outcome, o.error, o.reason = "failed", err, tostring(err)
      end
    end
  end
end

function M.sync(ctx)
  local ids, all = ctx.positional, ctx.opts.all
  if all and #ids > 0 then ctx.usage("give token ids or --all, not both") end
  if not all and #ids == 0 then ctx.usage("sync needs token ids or --all") end
  local client = ctx:client()
  local outcomes
  if all then
    ctx.progress_label = "starting license syncs"
    local list, err = client:sync_all{}
    if not list then return ctx:fail(err) end
    outcomes = list
  else
    outcomes = {}
    ctx.progress_label = "starting license syncs"
    for i, id in ipairs(ids) do
      local tok, err = ctx:call(client.sync_licenses, client, id)
      if tok then
        outcomes[i] = { id = id, appleId = tok.appleId, outcome = "started", token = tok }
      else
        outcomes[i] = { id = id, outcome = "failed", error = err, reason = tostring(err) }
      end
    end
  end
  for _, o in ipairs(outcomes) do
    if o.token then o.lastSyncStatus = o.token.lastSyncStatus end
  end
  if ctx.opts.wait then wait_all(ctx, outcomes) end
  local counts = { started = 0, skipped = 0, failed = 0 }
  local first_error, any_failed
  for _, o in ipairs(outcomes) do
    counts[o.outcome] = (counts[o.outcome] or 0) + 1
    if o.outcome == "failed" then
      any_failed = true
      first_error = first_error or o.error
    end
  end
  ctx:progress_done(string.format("%d started, %d skipped, %d failed", counts.started, counts.skipped,
    counts.failed))
  local rows = {}
  for i, o in ipairs(outcomes) do
    local reason = o.reason
    if o.error then
      output.message(o.error)
      reason = tostring(o.error.code or o.error.kind) .. ": " .. tostring(o.error.message)
    end
    rows[i] = { id = o.id, appleId = o.appleId, outcome = o.outcome, reason = reason,
                lastSyncStatus = o.lastSyncStatus }
    if o.error then rows[i].error = { kind = o.error.kind, code = o.error.code, status = o.error.status,
                                      request_id = o.error.request_id } end
  end
  if ctx.format == "json" then
    io.write(output.json(rows))
  elseif ctx.format == "csv" then
    io.write(output.csv(rows, { "id", "appleId", "outcome", "lastSyncStatus", "reason" }))
  else
    io.write(output.table(rows, SYNC_TABLE, ctx:table_width()))
  end
  if first_error then return ctx:exit_code(first_error) end
  return any_failed and 1 or 0
end

function M.expiring(ctx)
  local client = ctx:client()
  ctx.progress_label = "listing tokens"
  local entries, err = ctx:call(client.expiring, client, { within_days = ctx.opts.within or 30 })
  if not entries then return ctx:fail(err) end
  ctx:progress_done("checked the tokens")
  if ctx.format == "json" then
    local docs = {}
    for i, e in ipairs(entries) do
      docs[i] = { token = output.redact(e.token, ctx.opts.show_secrets), days_left = e.days_left,
                  reason = e.reason, reasons = e.reasons }
    end
    io.write(output.json(docs))
    return exits.OK
  end
  local rows = {}
  for i, e in ipairs(entries) do
    local t = e.token
    rows[i] = { id = t.id, appleId = t.appleId, organizationName = t.organizationName, state = t.state,
                expirationDateTime = t.expirationDateTime, days_left = e.days_left, reason = e.reason }
  end
  if ctx.format == "csv" then
    io.write(output.csv(rows, { "id", "appleId", "organizationName", "state", "expirationDateTime", "days_left",
                                "reason" }))
    return exits.OK
  end
  for _, r in ipairs(rows) do r.expirationDateTime = output.date(r.expirationDateTime, true) end
  io.write(output.table(rows, {
    { key = "id", title = "ID", keep = 2, min = 8 }, { key = "appleId", title = "APPLE ID", min = 10 },
    { key = "state", title = "STATE", min = 5 }, { key = "expirationDateTime", title = "EXPIRES", keep = 1, min = 10 },
    { key = "reason", title = "REASON", min = 10 },
  }, ctx:table_width()))
  return exits.OK
end

function M.renew(ctx)
  if not ctx.opts.file then ctx.usage("renew needs --file PATH (the new .vpptoken file from Apple)") end
  -- A path that is not a file is reported as such (the library would read the text as the file's content).
  local path, code = check_token_file(ctx)
  if not path then return code end
  local client = ctx:client()
  local tok, info = ctx:call(client.renew, client, ctx.positional[1], path)
  if not tok then return ctx:fail(info) end
  local doc = output.redact(tok, ctx.opts.show_secrets)
  if ctx.format == "json" then
    io.write(output.json(setmetatable({ token = doc, expiration = info.expiration, lagging = info.lagging,
      previous_expiration = info.previous_expiration, graph_expiration = info.graph_expiration, note = info.note },
      output.OBJECT)))
    return exits.OK
  end
  if ctx.format == "csv" then
    io.write(output.csv({ { id = tok.id, expiration = info.expiration, previous_expiration = info.previous_expiration,
      graph_expiration = info.graph_expiration, lagging = tostring(info.lagging) } },
      { "id", "expiration", "previous_expiration", "graph_expiration", "lagging" }))
    return exits.OK
  end
  io.write(output.printable(string.format("renewed %s: the new file expires %s (was %s)", tostring(tok.id),
    output.date(info.expiration, true), output.date(info.previous_expiration, true) ~= ""
      and output.date(info.previous_expiration, true) or "unknown")), "\n")
  if info.note and not ctx.opts.quiet then io.write("note: ", output.printable(info.note), "\n") end
  return exits.OK
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function executable(path)
  return path ~= nil and path ~= "" and os.execute("test -f " .. quote(path) .. " -a -x " .. quote(path)) == true
end

--- Where `vpptoken sandbox` finds the program: $VPPTOKEN_SANDBOX, then PATH, then ./build/. Nil and a message.
function M.find_sandbox()
  local env = os.getenv("VPPTOKEN_SANDBOX")
  if env and env ~= "" then
    if executable(env) then return env end
    return nil, "VPPTOKEN_SANDBOX is " .. env .. ", which is not an executable file"
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local p = dir .. "/vpptoken-sandbox"
    if executable(p) then return p end
  end
  if executable("./build/vpptoken-sandbox") then return "./build/vpptoken-sandbox" end
  return nil, "vpptoken-sandbox not found: set VPPTOKEN_SANDBOX, put it on PATH, or build it (make build: "
    .. "./build/vpptoken-sandbox)"
end

function M.sandbox(ctx)
  local prog, why = M.find_sandbox()
  if not prog then return ctx:fail(nil, exits.FAILURE, why) end
  local line = { "exec", quote(prog) }
  for _, a in ipairs(ctx.positional) do line[#line + 1] = quote(a) end
  if not ctx.opts.quiet and #ctx.positional == 0 then
    output.message("starting ", prog, " (then: export VPPTOKEN_GRAPH_URL=http://127.0.0.1:8787/v1.0 ",
      "VPPTOKEN_ACCESS_TOKEN=any)")
  end
  io.stdout:flush()
  local ok, how, code = os.execute(table.concat(line, " "))
  if ok then return 0 end
  if how == "signal" then return 128 + code end
  return code or 1
end

function M.version()
  io.write(vpptoken._VERSION, "\n", vpptoken.curl_version(), "\n")
  return exits.OK
end

-- Signing in as a person: login, logout, whoami (vpptoken.login) and the cached sign-in the other commands use
-- when the environment names no other (cli.lua's Context:client).
local login = require "vpptoken.login"

-- vpptoken.login's options from the global flags and the environment (the same names Context:client reads).
local function login_options(ctx)
  local o = ctx.opts
  local function env(name)
    local v = os.getenv(name)
    if v ~= nil and v ~= "" then return v end
  end
  return { cloud = o.cloud or env("VPPTOKEN_CLOUD"), base_url = o.graph_url or env("VPPTOKEN_GRAPH_URL"),
           authority_url = env("VPPTOKEN_AUTHORITY_URL"), tenant_id = o.tenant or env("AZURE_TENANT_ID"),
           client_id = o.client_id, timeout = o.timeout, max_retries = o.retries, on_request = ctx:observer() }
end

--- The credential of a cached `vpptoken login` for Context:client: a vpptoken.login Credential, or nil and an error
-- (code NotSignedIn when there is none).
function M.cached_login(ctx)
  return ctx:call(login.cached_credential, login_options(ctx))
end

local function when(t)
  if not t then return "" end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

function M.login(ctx)
  local lopts = login_options(ctx)
  lopts.on_message = function(m)
    -- The person's instructions go to stderr (stdout stays for results), even with --quiet.
    io.stderr:write(output.printable(m.message), "\n")
    io.stderr:flush()
  end
  local info, err = ctx:call(login.device_code, lopts)
  if not info then return ctx:fail(err) end
  if not ctx.opts.quiet then
    output.message("signed in as ", tostring(info.account or "?"), " (tenant ", tostring(info.tenant_id or "?"), ")")
  end
  return exits.OK
end

function M.logout(ctx)
  local removed, err = ctx:call(login.logout, login_options(ctx))
  if removed == nil then return ctx:fail(err) end
  if not ctx.opts.quiet then output.message(removed and "signed out" or "no cached sign-in to remove") end
  return exits.OK
end

function M.whoami(ctx)
  local info, err = ctx:call(login.whoami, login_options(ctx))
  if not info then return ctx:fail(err) end
  local row = { account = info.account, name = info.name, tenant = info.tenant_id, tenant_given = info.tenant,
                client_id = info.client_id, authority = info.authority, scopes = table.concat(info.scopes, " "),
                expires = when(info.expires_at), signed_in = when(info.signed_in_at) }
  local keys = { "account", "name", "tenant", "tenant_given", "client_id", "authority", "scopes", "expires",
                 "signed_in" }
  if ctx.format == "json" then
    local doc = setmetatable({}, output.OBJECT)
    for _, k in ipairs(keys) do doc[k] = row[k] end
    doc.scopes = setmetatable(info.scopes, nil)
    io.write(output.json(doc))
  elseif ctx.format == "csv" then
    io.write(output.csv({ row }, keys))
  else
    for _, k in ipairs(keys) do
      if row[k] and row[k] ~= "" then io.write(output.printable(string.format("%-12s %s", k, row[k])), "\n") end
    end
  end
  return exits.OK
end

return M
