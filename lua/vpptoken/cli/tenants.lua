--- The command line over many tenants: `list`, `expiring` and `sync --all` with `--tenants FILE` (and `--only`,
-- `--shard K/N`) run over every tenant of the file with vpptoken.tenants.run: a TENANT column in tables, a `tenant`
-- field in CSV and JSON, a summary line on stderr, exit TENANTS_FAILED when some tenants failed.
local vpptoken = require "vpptoken"
local errors = require "vpptoken.error"
local exits = require "vpptoken.cli.exits"
local output = require "vpptoken.cli.output"
local compat = require "vpptoken.compat"
local progress = require "vpptoken.cli.progress"

local M = {}

-- The most slices --shard takes (a tenants file holds at most vpptoken.tenants.LIMITS.max_tenants tenants).
local MAX_SHARDS = vpptoken.tenants.LIMITS.max_tenants

--- The slice (1..n) of a tenant name under --shard K/N.
function M.shard_of(name, n)
  return vpptoken.tenants.shard_of(name, n)
end

-- The tenants the flags pick, in the file's order; raises a usage error (or returns nil, err for the file).
local function pick(ctx)
  local o = ctx.opts
  local k, n
  if o.shard then
    k, n = o.shard:match("^(%d+)/(%d+)$")
    k, n = compat.tointeger(tonumber(k)), compat.tointeger(tonumber(n))
    if not k or not n or n < 1 or n > MAX_SHARDS or k < 1 or k > n then
      ctx.usage("--shard needs K/N with 1 <= K <= N <= " .. MAX_SHARDS .. " (got " .. output.quoted(o.shard) .. ")")
    end
  end
  local list, err = vpptoken.tenants.load(o.tenants)
  if not list then return nil, err end
  local wanted
  if o.only then
    wanted = {}
    for _, v in ipairs(o.only) do wanted[v] = false end
  end
  local out = {}
  for _, t in ipairs(list) do
    local keep = true
    if wanted then
      keep = false
      for _, v in ipairs{ t.name, compat.unpack(t.tags) } do
        if wanted[v] ~= nil then
          wanted[v], keep = true, true
        end
      end
    end
    if keep and n and M.shard_of(t.name, n) ~= k then keep = false end
    if keep then out[#out + 1] = t end
  end
  for _, v in ipairs(o.only or {}) do
    if wanted[v] == false then ctx.usage("--only " .. output.quoted(v) .. " is no tenant's name or tag") end
  end
  return out
end

-- Runs job over the picked tenants; returns the results, or nil and the exit code after printing the file's error.
local function run(ctx, label, job)
  local client = ctx:tenants_where()
  local list, err = pick(ctx)
  if not list then return nil, ctx:fail(err) end
  local o = ctx.opts
  client.timeout, client.max_retries = o.timeout, o.retries
  local done = 0
  local function status() ctx:status(string.format("%s: %d/%d tenants done", label, done, #list)) end
  status()
  local function counted(...)
    local result = compat.pack(pcall(job, ...))
    done = done + 1
    status()
    if not result[1] then error(result[2], 0) end
    return compat.unpack(result, 2, result.n)
  end
  local results = vpptoken.tenants.run(list, counted, { client = client, interrupt = true, on_request = function(info)
    if o.verbose then
      output.message(string.format("[%s] %s %s -> %s (%d attempt%s%s)", info.tenant, info.method, info.url,
        tostring(info.status or "-"), info.attempts or 1, (info.attempts or 1) == 1 and "" or "s",
        info.error and (", " .. info.error) or ""))
    end
  end })
  if results.interrupted then -- Ctrl-C: the calls under way were ended; the status line goes, nothing else is shown
    progress.clear()
    return nil, exits.INTERRUPTED
  end
  return results
end

-- Prints each failed tenant's error, the summary line, and returns the exit code.
local function finish(ctx, results, attention, what)
  local failed = 0
  for _, r in ipairs(results) do
    if not r.ok then
      failed = failed + 1
      output.message("tenant ", r.name, ": ", errors.is(r.error) and errors.text(r.error) or tostring(r.error))
    end
  end
  if not ctx.opts.quiet then
    output.message(string.format("%s: %d ok, %d failed; %d %s", output.count(#results, "tenant"),
      #results - failed, failed, attention, what))
  end
  return failed > 0 and exits.TENANTS_FAILED or nil
end

-- The JSON document of a run: { tenants = [{ tenant, ok, error? }], items = [...] } (shards merge with
-- jq -s '{tenants: map(.tenants[]), items: map(.items[])}').
local function json_doc(results, items)
  local tenants = {}
  for i, r in ipairs(results) do
    tenants[i] = { tenant = r.name, ok = r.ok }
    if r.error then
      tenants[i].error = { kind = r.error.kind, code = r.error.code, status = r.error.status,
                           message = r.error.message, request_id = r.error.request_id }
    end
  end
  return output.json{ tenants = tenants, items = items }
end

local TENANT_COLUMN = { key = "tenant", title = "TENANT", min = 6, wrap = true, give = 5 }

local function with_tenant(cols)
  local out = { TENANT_COLUMN }
  for i, c in ipairs(cols) do out[i + 1] = c end
  return out
end

local function csv_cols(cols)
  return { "tenant", compat.unpack(cols) }
end

function M.list(ctx, columns)
  local o = ctx.opts
  local query = { filter = o.filter, top = o.top }
  if o.select then ctx.usage("--select does not go with --tenants") end
  local results, code = run(ctx, "listing tokens", function(client)
    local kept = {}
    for t, err in client:each(next(query) and query or nil) do
      if not t then return nil, err end
      if not o.state or t.state == o.state then kept[#kept + 1] = t end
    end
    return kept
  end)
  if not results then return code end
  local items = {}
  for _, r in ipairs(results) do
    for _, t in ipairs(r.ok and r.value or {}) do
      local row = output.redact(t, o.show_secrets)
      row.tenant = r.name
      items[#items + 1] = row
    end
  end
  if ctx.format == "json" then
    output.write(json_doc(results, items))
  elseif ctx.format == "csv" then
    output.write(output.csv(items, csv_cols(columns.csv)))
  else
    local short = columns.short_ids(ctx, items)
    local rows = {}
    for i, t in ipairs(items) do
      rows[i] = columns.row(ctx, t, short)
      rows[i].tenant = t.tenant
    end
    columns.emit(ctx, rows, with_tenant(columns.table))
  end
  return finish(ctx, results, #items, "tokens") or exits.OK
end

function M.expiring(ctx, columns)
  local o = ctx.opts
  local results, code = run(ctx, "listing tokens", function(client)
    return client:expiring{ within_days = o.within or 30 }
  end)
  if not results then return code end
  local items = {}
  for _, r in ipairs(results) do
    for _, e in ipairs(r.ok and r.value or {}) do
      local t = e.token
      items[#items + 1] = { tenant = r.name, id = t.id, appleId = t.appleId, organizationName = t.organizationName,
                            state = t.state, expirationDateTime = t.expirationDateTime, days_left = e.days_left,
                            reason = e.reason }
    end
  end
  if ctx.format == "json" then
    output.write(json_doc(results, items))
  elseif ctx.format == "csv" then
    output.write(output.csv(items, { "tenant", "id", "appleId", "organizationName", "state", "expirationDateTime",
                                 "days_left", "reason" }))
  else
    local short = columns.short_ids(ctx, items)
    local rows = {}
    for i, e in ipairs(items) do
      rows[i] = columns.row(ctx, e, short)
      rows[i].tenant, rows[i].reason = e.tenant, e.reason
    end
    columns.emit(ctx, rows, with_tenant(columns.expiring))
  end
  return finish(ctx, results, #items, "tokens need attention")
    or ((o.exit_code and #items > 0) and exits.ATTENTION or exits.OK)
end

function M.sync(ctx, columns)
  local o = ctx.opts
  if #ctx.positional > 0 or not o.all then ctx.usage("with --tenants, sync takes --all (no token ids)") end
  local results, code = run(ctx, o.wait and "syncing licenses" or "starting license syncs", function(client)
    local outcomes, err = client:sync_all{}
    if outcomes and o.wait then columns.wait_syncs(client, outcomes, o.wait_timeout) end
    return outcomes, err
  end)
  if not results then return code end
  local items, failed_tokens = {}, 0
  for _, r in ipairs(results) do
    for _, s in ipairs(r.ok and r.value or {}) do
      local row = { tenant = r.name, id = s.id, appleId = s.appleId, outcome = s.outcome, reason = s.reason,
                    lastSyncStatus = s.lastSyncStatus or s.token and s.token.lastSyncStatus }
      if s.error then
        failed_tokens = failed_tokens + 1
        row.error = { kind = s.error.kind, code = s.error.code, status = s.error.status,
                      request_id = s.error.request_id }
      end
      items[#items + 1] = row
    end
  end
  if ctx.format == "json" then
    output.write(json_doc(results, items))
  elseif ctx.format == "csv" then
    output.write(output.csv(items, { "tenant", "id", "appleId", "outcome", "lastSyncStatus", "reason" }))
  else
    local short = columns.short_ids(ctx, items)
    local rows = {}
    for i, t in ipairs(items) do
      rows[i] = { tenant = t.tenant, id = short and short[t.id] or t.id, appleId = t.appleId, outcome = t.outcome,
                  lastSyncStatus = t.lastSyncStatus, reason = t.reason }
    end
    columns.emit(ctx, rows, with_tenant(columns.sync))
  end
  return finish(ctx, results, failed_tokens, "token syncs failed") or (failed_tokens > 0 and exits.FAILURE)
    or exits.OK
end

return M
