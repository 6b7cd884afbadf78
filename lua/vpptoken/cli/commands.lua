--- The vpptoken command line: one function per command, over the public vpptoken API only.
-- Each takes the context (ctx.opts, ctx.positional, ctx:client(), ctx:emit_*) and returns an exit code; a usage
-- mistake raises ctx.usage(message), a run-time failure returns ctx:fail(err).
local vpptoken = require "vpptoken"
local args = require "vpptoken.cli.args"
local errors = require "vpptoken.error"
local exits = require "vpptoken.cli.exits"
local output = require "vpptoken.cli.output"
local safe_text = require "vpptoken.text"
local ids = require "vpptoken.cli.ids"
local idcache = require "vpptoken.cli.idcache"
local tbl = require "vpptoken.cli.table"
local compat = require "vpptoken.compat"

local M = {}

-- Colours for what needs attention: a state other than valid, an expiry within args.EXPIRING_DAYS or past, a
-- failed sync (rows carry the raw values as state_raw, days_left, sync_raw, outcome).
local BAD_STATES = { expired = true, invalid = true }
local function state_colour(r)
  if r.state_raw == nil or r.state_raw == "valid" then return nil end
  return BAD_STATES[r.state_raw] and "red" or "yellow"
end
local function expiry_colour(r)
  if r.days_left == nil then return nil end
  if r.days_left <= 0 then return "red" end
  return r.days_left <= args.EXPIRING_DAYS and "yellow" or nil
end
local function sync_colour(r)
  return (r.sync_raw == "failed" or r.outcome == "failed") and "red" or nil
end

-- The columns of a token in tables and CSV, in order (CSV and --select keep the wire names). At the terminal's
-- width the organization wraps first, then the Apple ID; the sync status goes when even the compact expiry
-- ("2027-06-18 (200 d)") leaves no room. --output wide shows WIDE_COLUMNS with whole ids.
local ID_COLUMN = { key = "id", title = "ID", keep = true, min = ids.SHORT }
local APPLE_ID = { key = "appleId", title = "APPLE ID", min = 12, wrap = true, give = 3 }
local ORGANIZATION = { key = "organizationName", title = "ORGANIZATION", min = 8, wrap = true, give = 1 }
-- The long states take a short form (named in a legend under the table) before anything else gives way.
local STATE = { key = "state", title = "STATE", min = 7, colour = state_colour,
                abbrev = { assignedToExternalMDM = "extMDM", duplicateLocationId = "dupLoc" } }
local EXPIRES = { key = "expirationDateTime", title = "EXPIRES", short = "expires_short",
                  short_title = "EXPIRES (DAYS LEFT)", min = 10, colour = expiry_colour }
-- `expiring`'s reason says the state when it is not valid ("state is expired"): the STATE column is the first to
-- go when the table is too wide.
local EXPIRING_TABLE = {
  ID_COLUMN, APPLE_ID, ORGANIZATION, setmetatable({ optional = 1 }, { __index = STATE }),
  { key = "expirationDateTime", title = "EXPIRES", short = "expires_short", min = 10, colour = expiry_colour },
  { key = "reason", title = "REASON", min = 12, wrap = true, give = 2, abbrev = STATE.abbrev },
}
local TABLE_COLUMNS = {
  ID_COLUMN, APPLE_ID, ORGANIZATION, STATE,
  { key = "lastSyncStatus", title = "SYNC", min = 4, optional = 1, colour = sync_colour },
  EXPIRES,
}
local CSV_COLUMNS = { "id", "appleId", "organizationName", "vppTokenAccountType", "state", "lastSyncStatus",
                      "lastSyncDateTime", "expirationDateTime", "countryOrRegion", "automaticallyUpdateApps",
                      "lastModifiedDateTime", "token" }
local WIDE_TITLES = { id = "ID", appleId = "APPLE ID", organizationName = "ORGANIZATION",
                      vppTokenAccountType = "TYPE", state = "STATE", lastSyncStatus = "SYNC",
                      lastSyncDateTime = "LAST SYNC", expirationDateTime = "EXPIRES", countryOrRegion = "COUNTRY",
                      automaticallyUpdateApps = "AUTO UPDATE", lastModifiedDateTime = "MODIFIED" }
local WIDE_COLOURS = { state = state_colour, lastSyncStatus = sync_colour, expirationDateTime = expiry_colour }
local WIDE_COLUMNS = {}
for _, k in ipairs(CSV_COLUMNS) do
  if WIDE_TITLES[k] then
    WIDE_COLUMNS[#WIDE_COLUMNS + 1] = { key = k, title = WIDE_TITLES[k], colour = WIDE_COLOURS[k] }
  end
end

local EXPIRING_WIDE = { ID_COLUMN, APPLE_ID, ORGANIZATION, STATE, EXPIRES,
                        { key = "reason", title = "REASON" } }

--- A token's row for a table: its fields as display text, the id short (unless wide: short_ids nil) and the raw
-- values the colours go by.
local function token_row(ctx, tok, short_ids)
  local r = output.display(tok, ctx.opts.show_secrets)
  if short_ids and type(tok.id) == "string" then r.id = short_ids[tok.id] or r.id end
  r.expires_short = output.date(tok.expirationDateTime, "short")
  r.state_raw, r.sync_raw = tok.state, tok.lastSyncStatus
  if type(tok.expirationDateTime) == "string" then
    r.days_left = vpptoken.days_left{ expirationDateTime = tok.expirationDateTime }
  end
  return r
end

--- The short ids of the tokens (nil for --output wide: whole ids); `others`: more ids a prefix could name.
local function short_ids_of(ctx, tokens, others)
  if ctx.format == "wide" then return nil end
  local list = {}
  for _, t in ipairs(tokens) do if type(t.id) == "string" then list[#list + 1] = t.id end end
  return ids.shorten(list, others)
end

--- True when a token's row shows something that needs attention (a colour: a state other than valid, an expiry
-- within args.EXPIRING_DAYS or past, a failed sync).
local function needs_attention(r)
  return (state_colour(r) or expiry_colour(r) or sync_colour(r)) ~= nil
end

--- "50 tokens, 12 need attention" for a table of token rows.
local function token_count(rows)
  local attention = 0
  for _, r in ipairs(rows) do if needs_attention(r) then attention = attention + 1 end end
  local text = output.count(#rows, "token")
  if attention > 0 then
    text = text .. string.format(", %d %s attention", attention, attention == 1 and "needs" or "need")
  end
  return text
end
M.token_count = token_count

--- Writes a table of rows fitted to the width (none for --output wide), in colour when ctx.colour; `footer`: a
-- line under it.
local function emit_table(ctx, rows, cols, footer)
  output.write(tbl.render(rows, cols, { width = ctx:table_width(), colour = ctx.colour }))
  if footer then output.write(footer .. "\n") end
end

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
  if not names then return ctx.format == "wide" and WIDE_COLUMNS or TABLE_COLUMNS, CSV_COLUMNS end
  local tcols, ccols = { ID_COLUMN }, { "id" }
  for _, n in ipairs(names) do
    if n ~= "id" then
      tcols[#tcols + 1] = { key = n, title = n, min = 6, wrap = true, give = 1 }
      ccols[#ccols + 1] = n
    end
  end
  return tcols, ccols
end

--- Prints tokens as the chosen format; `all`: every token listed (the short ids are unique among them).
local function emit_tokens(ctx, tokens, tcols, ccols, all)
  local fmt = ctx.format
  if fmt == "json" then
    output.write(output.json(output.redact(tokens, ctx.opts.show_secrets)))
  elseif fmt == "csv" then
    output.write(output.csv(output.redact(tokens, ctx.opts.show_secrets), ccols or CSV_COLUMNS))
  else
    local others = {}
    for _, t in ipairs(all or {}) do if type(t.id) == "string" then others[#others + 1] = t.id end end
    local short = short_ids_of(ctx, tokens, others)
    local rows = {}
    for i, t in ipairs(tokens) do rows[i] = token_row(ctx, t, short) end
    emit_table(ctx, rows, tcols or TABLE_COLUMNS, token_count(rows))
  end
end

--- The whole id for an ID argument: a GUID or anything that is not a prefix as it is; a prefix (ids.SHORT or more
-- hex characters) names the one token whose id starts with it, found by listing the ids once. Nil and the exit
-- code after the message when no token or several start with it.
local function resolve_id(ctx, text)
  if ids.too_short(text) then
    ctx.usage(string.format("%s is too short to name a token: give at least %d characters of its id, as the "
      .. "tables show", output.quoted(text), ids.SHORT))
  end
  if not ids.is_prefix(text) then return text end
  if not ctx.known_ids then
    local client = ctx:client()
    ctx:status("finding the token")
    local known = {}
    for t, err in ctx:call(client.each, client, { select = { "id" } }) do
      if not t then return nil, ctx:fail(err) end
      if type(t.id) == "string" then known[#known + 1] = t.id end
    end
    ctx.known_ids = known
  end
  local found = ids.matching(text, ctx.known_ids)
  if #found == 1 then return found[1] end
  if #found == 0 then
    return nil, ctx:fail(nil, exits.NOT_FOUND, "no token whose id starts with " .. output.quoted(text))
  end
  table.sort(found)
  local short = ids.shorten(found, ctx.known_ids)
  local names = {}
  for i = 1, math.min(#found, ids.CANDIDATES_SHOWN) do -- an id that is no GUID is shown whole: unless it is long
    local name = short[found[i]]
    names[i] = #name > output.ECHO_MAX and output.quoted(name) or name
  end
  if #found > ids.CANDIDATES_SHOWN then names[#names + 1] = "and " .. (#found - ids.CANDIDATES_SHOWN) .. " more" end
  ctx.usage(string.format("%d tokens have ids starting with %s: %s; give more characters", #found,
    output.quoted(text), table.concat(names, ", ")))
end

local function emit_token(ctx, tok)
  if ctx.format == "json" then
    output.write(output.json(setmetatable(output.redact(tok, ctx.opts.show_secrets), output.OBJECT)))
  elseif ctx.format == "csv" then
    local cols = { "id" }
    local keys = {}
    for k in pairs(tok) do if k ~= "id" and not k:match("^@") then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do cols[#cols + 1] = k end
    output.write(output.csv({ output.redact(tok, ctx.opts.show_secrets) }, cols))
  else
    output.write(output.record(tok, ctx.opts.show_secrets))
  end
end

-- Counts the pages of a list as they arrive (each GET is one) and shows text(pages) in the status line, until
-- ctx.on_call is reset; returns a function giving the count.
local function count_pages(ctx, text)
  local pages = 0
  ctx:status(text(0))
  ctx.on_call = function(info)
    if info.method == "GET" then
      pages = pages + 1
      ctx:status(text(pages))
    end
  end
  return function() return pages end
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
  local tokens, all, seen = {}, {}, 0
  local function text(n) return string.format("listing tokens: %s read, %s", output.count(n, "page"),
    output.count(seen, "token")) end
  local pages = count_pages(ctx, text)
  local iter = ctx:call(client.each, client, next(query) and query or nil)
  for tok, err in iter do
    if not tok then return ctx:fail(err) end
    all[#all + 1] = tok
    seen = seen + 1
    ctx:status(text(pages()))
    if not state or tok.state == state then tokens[#tokens + 1] = tok end
    if ctx.opts.max and #tokens >= ctx.opts.max then break end
  end
  local tcols, ccols = columns_for(ctx)
  emit_tokens(ctx, tokens, tcols, ccols, all)
  -- the ids listed, for shell completion (cli/idcache.lua); a cache that cannot be written fails no listing
  local kept, why = idcache.save(idcache.place(ctx.opts), tokens, os.time())
  if not kept and ctx.opts.verbose then output.message("token ids not kept for shell completion: ", why) end
  return exits.OK
end

function M.get(ctx)
  local names = select_list(ctx)
  local id, code = resolve_id(ctx, ctx.positional[1])
  if not id then return code end
  local client = ctx:client()
  local tok, err = ctx:call(client.get, client, id, names and { select = names } or nil)
  if not tok then return ctx:fail(err) end
  emit_token(ctx, tok)
  return exits.OK
end

-- vpptoken.fileio's codes as the library's token-file codes.
local TOKEN_FILE_CODES = require("vpptoken.tokenfile").READ_CODES

-- Checks that --file names a readable token file within the size cap (messages name the flag, never its value,
-- which may be the token itself, pasted in place of a path); nil and the exit code after the message if not.
local function check_token_file(ctx)
  local text, why, code = ctx:read_flag_file("file", "token_file", "token file", true)
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
  local id, code = resolve_id(ctx, ctx.positional[1])
  if not id then return code end
  local client = ctx:client()
  local tok, err = ctx:call(client.update, client, id, fields)
  if not tok then return ctx:fail(err) end
  if tok == true then tok = { id = id } end
  emit_token(ctx, tok)
  return exits.OK
end

function M.delete(ctx)
  if not ctx.opts.yes and not output.isatty(0) then
    ctx.usage("delete asks for confirmation and stdin is not a terminal: add --yes to delete without asking")
  end
  local id, code = resolve_id(ctx, ctx.positional[1])
  if not id then return code end
  local client = ctx:client()
  if not ctx.opts.yes then
    local tok, err = ctx:call(client.get, client, id)
    if not tok then return ctx:fail(err) end
    local width = output.terminal_width(2)
    local answer = (ctx:ask(output.fit(string.format("Delete VPP token %s?\n  %s, %s", id,
      tostring(tok.appleId or "no Apple ID"), tostring(tok.organizationName or "no organization")), width)
      .. "\n" .. output.fit("Apps licensed through it lose their licenses. Delete? [y/N]", width) .. " ") or ""):lower()
    if answer ~= "y" and answer ~= "yes" then
      output.message("not deleted")
      return exits.FAILURE
    end
  end
  ctx:status("deleting the token")
  local ok, err = ctx:call(client.delete, client, id)
  if not ok then return ctx:fail(err) end
  if ctx.format == "json" then
    output.write(output.json(setmetatable({ id = id, deleted = true }, output.OBJECT)))
  elseif ctx.format == "csv" then
    output.write(output.csv({ { id = id, deleted = "true" } }, { "id", "deleted" }))
  elseif not ctx.opts.quiet then
    output.write("deleted ", output.printable(id), "\n")
  end
  return exits.OK
end

--- The totals line under sync's table: "3 syncs started, 1 failed, 2 skipped"; with --wait, the finished ones
-- ("2 syncs completed, 1 failed").
function M.sync_totals(rows, waited)
  local n = { started = 0, failed = 0, skipped = 0, completed = 0 }
  for _, r in ipairs(rows) do
    local key = r.outcome
    if waited and key == "started" and r.lastSyncStatus == "completed" then key = "completed" end
    if n[key] then n[key] = n[key] + 1 end
  end
  local parts
  if waited then
    parts = { output.count(n.completed, "sync") .. " completed" }
    if n.started > 0 then parts[2] = n.started .. " still running" end
  else
    parts = { output.count(n.started, "sync") .. " started" }
  end
  if n.failed > 0 then parts[#parts + 1] = n.failed .. " failed" end
  if n.skipped > 0 then parts[#parts + 1] = n.skipped .. " skipped" end
  return table.concat(parts, ", ")
end

local SYNC_TABLE = {
  ID_COLUMN, APPLE_ID,
  { key = "outcome", title = "OUTCOME", min = 7, colour = sync_colour },
  { key = "lastSyncStatus", title = "SYNC", min = 4, colour = sync_colour },
  { key = "reason", title = "REASON", min = 12, wrap = true, give = 1 },
}

-- Waits for every started sync of one client's outcomes, at most `timeout` seconds in all (default 300); each gets
-- lastSyncStatus (and "failed" when Apple's sync failed). on_status(done, total), if given, before each wait.
local function wait_outcomes(client, outcomes, timeout, on_status)
  local deadline = os.time() + (timeout or 300)
  local total, done = 0, 0
  for _, o in ipairs(outcomes) do total = total + (o.outcome == "started" and 1 or 0) end
  for _, o in ipairs(outcomes) do
    if o.outcome == "started" then
      if on_status then on_status(done, total) end
      local left = math.max(0, deadline - os.time())
      local tok, err = client:wait_for_sync(o.id, { timeout = left, interval = 1 })
      if tok then
        o.lastSyncStatus = tok.lastSyncStatus
        if tok.lastSyncStatus == "failed" then o.outcome, o.reason = "failed", "Apple's license sync failed" end
      else
        o.outcome, o.error, o.reason = "failed", err, tostring(err)
      end
      done = done + 1
    end
  end
end

local function wait_all(ctx, outcomes)
  wait_outcomes(ctx:client(), outcomes, ctx.opts.wait_timeout, function(done, total)
    ctx:status(string.format("waiting for license syncs: %d/%d done", done, total))
  end)
end

function M.sync(ctx)
  local given, all = ctx.positional, ctx.opts.all
  if all and #given > 0 then ctx.usage("give token ids or --all, not both") end
  if not all and #given == 0 then ctx.usage("sync needs token ids or --all") end
  -- every ID is resolved before any sync starts: a prefix that names no token, or several, starts none
  local whole = {}
  for i, text in ipairs(given) do
    local id, code = resolve_id(ctx, text)
    if not id then return code end
    whole[i] = id
  end
  local client = ctx:client()
  local outcomes
  local function synced(n, total, failed)
    ctx:status(string.format("started %d/%d syncs, %d failed", n - failed, total, failed))
  end
  if all then
    count_pages(ctx, function(n) return "listing tokens: " .. output.count(n, "page") .. " read" end)
    local list, err = client:sync_all{ on_progress = function(n, total, failed)
      ctx.on_call = nil
      synced(n, total, failed)
    end }
    ctx.on_call = nil
    if not list then return ctx:fail(err) end
    outcomes = list
  else
    outcomes = {}
    local failed = 0
    synced(0, #whole, 0)
    for i, id in ipairs(whole) do
      local tok, err = ctx:call(client.sync_licenses, client, id)
      if tok then
        outcomes[i] = { id = id, appleId = tok.appleId, outcome = "started", token = tok }
      else
        outcomes[i] = { id = id, outcome = "failed", error = err, reason = tostring(err) }
        failed = failed + 1
      end
      synced(i, #whole, failed)
    end
  end
  for _, o in ipairs(outcomes) do
    if o.token then o.lastSyncStatus = o.token.lastSyncStatus end
  end
  if ctx.opts.wait then wait_all(ctx, outcomes) end
  local first_error, any_failed
  for _, o in ipairs(outcomes) do
    if o.outcome == "failed" then
      any_failed = true
      first_error = first_error or o.error
    end
  end
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
    output.write(output.json(rows))
  elseif ctx.format == "csv" then
    output.write(output.csv(rows, { "id", "appleId", "outcome", "lastSyncStatus", "reason" }))
  else
    local short = short_ids_of(ctx, outcomes, ctx.known_ids)
    local shown = {}
    for i, r in ipairs(rows) do
      shown[i] = setmetatable({ id = short and type(r.id) == "string" and short[r.id] or r.id,
                                sync_raw = r.lastSyncStatus }, { __index = r })
    end
    emit_table(ctx, shown, SYNC_TABLE, M.sync_totals(rows, ctx.opts.wait))
  end
  if first_error then return ctx:exit_code(first_error) end
  return any_failed and 1 or 0
end

function M.expiring(ctx)
  local client = ctx:client()
  count_pages(ctx, function(n) return "listing tokens: " .. output.count(n, "page") .. " read" end)
  local entries, err = ctx:call(client.expiring, client, { within_days = ctx.opts.within or args.EXPIRING_DAYS })
  if not entries then return ctx:fail(err) end
  local done = (ctx.opts.exit_code and #entries > 0) and exits.ATTENTION or exits.OK
  if ctx.format == "json" then
    local docs = {}
    for i, e in ipairs(entries) do
      docs[i] = { token = output.redact(e.token, ctx.opts.show_secrets), days_left = e.days_left,
                  reason = e.reason, reasons = e.reasons }
    end
    output.write(output.json(docs))
    return done
  end
  local rows = {}
  for i, e in ipairs(entries) do
    local t = e.token
    rows[i] = { id = t.id, appleId = t.appleId, organizationName = t.organizationName, state = t.state,
                expirationDateTime = t.expirationDateTime, days_left = e.days_left, reason = e.reason }
  end
  if ctx.format == "csv" then
    output.write(output.csv(rows, { "id", "appleId", "organizationName", "state", "expirationDateTime", "days_left",
                                "reason" }))
    return done
  end
  local tokens = {}
  for i, e in ipairs(entries) do tokens[i] = e.token end
  local short = short_ids_of(ctx, tokens)
  for i, e in ipairs(entries) do
    local r = token_row(ctx, e.token, short)
    r.reason = e.reason
    -- the reason says the days: the compact expiry is the date alone
    r.expires_short = r.expirationDateTime ~= nil and r.expirationDateTime:match("^%d+%-%d+%-%d+") or nil
    rows[i] = r
  end
  emit_table(ctx, rows, ctx.format == "wide" and EXPIRING_WIDE or EXPIRING_TABLE,
    string.format("%s %s attention", output.count(#rows, "token"), #rows == 1 and "needs" or "need"))
  return done
end

function M.renew(ctx)
  if not ctx.opts.file then ctx.usage("renew needs --file PATH (the new .vpptoken file from Apple)") end
  -- A path that is not a file is reported as such (the library would read the text as the file's content).
  local path, code = check_token_file(ctx)
  if not path then return code end
  local client = ctx:client()
  local id, rcode = resolve_id(ctx, ctx.positional[1])
  if not id then return rcode end
  local tok, info = ctx:call(client.renew, client, id, path)
  if not tok then return ctx:fail(info) end
  local doc = output.redact(tok, ctx.opts.show_secrets)
  if ctx.format == "json" then
    output.write(output.json(setmetatable({ token = doc, expiration = info.expiration, lagging = info.lagging,
      previous_expiration = info.previous_expiration, graph_expiration = info.graph_expiration, note = info.note },
      output.OBJECT)))
    return exits.OK
  end
  if ctx.format == "csv" then
    output.write(output.csv({ { id = tok.id, expiration = info.expiration,
      previous_expiration = info.previous_expiration, graph_expiration = info.graph_expiration,
      lagging = tostring(info.lagging) } },
      { "id", "expiration", "previous_expiration", "graph_expiration", "lagging" }))
    return exits.OK
  end
  local previous = output.date(info.previous_expiration, true)
  output.write(output.fit(string.format("renewed %s\n  the new file expires %s (was %s)", tostring(tok.id),
    output.date(info.expiration, true), previous ~= "" and previous or "unknown"), ctx:table_width() or math.huge),
    "\n")
  if info.note and not ctx.opts.quiet then
    output.write(output.fit("note: " .. info.note, ctx:table_width() or math.huge), "\n")
  end
  return exits.OK
end

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function executable(path)
  return path ~= nil and path ~= "" and compat.execute("test -f " .. quote(path) .. " -a -x " .. quote(path)) == true
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
  local ok, how, code = compat.execute(table.concat(line, " "))
  if ok then return 0 end
  if how == "signal" then return 128 + code end
  return code or 1
end

function M.completion(ctx)
  local shell = ctx.positional[1]
  local script = require("vpptoken.cli.completion").script(shell)
  if not script then
    ctx.usage("completion needs " .. args.one_of(args.BY_NAME.completion.choices) .. " (got " .. output.quoted(shell)
      .. ")")
  end
  output.write(script)
  return exits.OK
end

function M.version()
  output.write(vpptoken._VERSION, "\n", vpptoken.curl_version(), "\n")
  return exits.OK
end

-- ---- --tenants FILE: list, expiring and sync over every tenant (cli/tenants.lua), with these tables ----
-- The same columns, rows, short ids and table writer as one tenant's commands, with a TENANT column in front.
M.TABLES = { table = TABLE_COLUMNS, csv = CSV_COLUMNS, sync = SYNC_TABLE, expiring = EXPIRING_TABLE,
             row = token_row, short_ids = short_ids_of, emit = emit_table, wait_syncs = wait_outcomes }
for _, name in ipairs{ "list", "expiring", "sync" } do
  local one_tenant = M[name]
  M[name] = function(ctx)
    if ctx.opts.tenants == nil then
      for _, flag in ipairs{ "only", "shard" } do
        if ctx.opts[flag] ~= nil then ctx.usage("--" .. flag .. " goes with --tenants FILE") end
      end
      return one_tenant(ctx)
    end
    return require("vpptoken.cli.tenants")[name](ctx, M.TABLES)
  end
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

-- "14:55": minutes and seconds left.
local function mm_ss(seconds)
  seconds = math.max(0, math.floor(seconds))
  return string.format("%d:%02d", math.floor(seconds / 60), seconds % 60)
end

--- The lines of `vpptoken login`'s instructions: the library's (the checked page and the code), and against a
-- sandbox (an authority on a loopback address) how to approve the code there.
function M.login_instructions(m, authority)
  local text = m.message
  local origin = type(authority) == "string" and authority:match("^http://([^/]+)")
  local host = origin and (origin:match("^%[(.-)%]") or origin:match("^[^:]+"))
  if host and (host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$")) then
    text = text .. "\nThis is a sandbox: approve the code with\n  curl -X POST -d '{\"user_code\":\""
      .. m.user_code .. "\"}' http://" .. origin .. "/_sandbox/devicecode/approve"
  end
  return text
end

function M.login(ctx)
  local lopts = login_options(ctx)
  local deadline
  local function waiting()
    if deadline then
      ctx:status("waiting for you to sign in (the code expires in " .. mm_ss(deadline - vpptoken.monotonic()) .. ")")
    end
  end
  lopts.on_message = function(m)
    -- The person's instructions go to stderr (stdout stays for results), even with --quiet.
    ctx.progress:clear()
    io.stderr:write(output.printable(M.login_instructions(m, m.authority), "\n"), "\n")
    io.stderr:flush()
    deadline = vpptoken.monotonic() + (tonumber(m.expires_in) or 0)
    waiting()
  end
  local observe = lopts.on_request
  lopts.on_request = function(info) -- every poll counts the time left down
    observe(info)
    waiting()
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
    output.write(output.json(doc))
  elseif ctx.format == "csv" then
    output.write(output.csv({ row }, keys))
  else
    for _, k in ipairs(keys) do
      if row[k] and row[k] ~= "" then output.write(output.printable(string.format("%-12s %s", k, row[k])), "\n") end
    end
  end
  return exits.OK
end

return M
