-- The ready-made scripts in examples/, each run as a subprocess (with the interpreter running the specs, so under
-- `make check-memory` they run instrumented too) against a sandbox on loopback, with tokens seeded through the
-- library: exit codes, what they print, the files they write, the webhook they call.
local helper = require "helper"
local cjson = require "cjson"
local vpptoken = require "vpptoken"
local files = require "support.tokenfiles"

local ACCESS = "spec-access-token-examples-7731"
local DAY = 86400
local seeded = 5 -- the requests seed() makes: a script that stops before calling Graph adds none
local q = helper.shell_quote

-- Variables a developer's shell may hold that would change what the scripts do.
local CLEARED = { "VPPTOKEN_ACCESS_TOKEN", "VPPTOKEN_GRAPH_URL", "VPPTOKEN_CLOUD", "VPPTOKEN_AUTHORITY_URL",
                  "VPPTOKEN_DEBUG", "VPPTOKEN_ALERT_WEBHOOK", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
                  "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                  "COLUMNS" }

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- A string as a Lua pattern matching itself.
local function lit(s)
  return (s:gsub("%p", "%%%0"))
end

local function lines_of(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

-- Runs examples/NAME.lua with args; env: extra variables (false: leave unset). Returns exit code, stdout, stderr.
-- Fails the test when the child's stderr holds a sanitizer or valgrind report.
local function run(name, args, env)
  local vars = { VPPTOKEN_GRAPH_URL = env and env.graph, VPPTOKEN_ACCESS_TOKEN = ACCESS,
                 LUA_PATH = "lua/?.lua;lua/?/init.lua;;", LUA_CPATH = helper.build_dir .. "/?.so;;" }
  for k, v in pairs(env or {}) do if k ~= "graph" then vars[k] = v end end
  local parts = { "env" }
  for _, k in ipairs(CLEARED) do parts[#parts + 1] = "-u " .. k end
  for k, v in pairs(vars) do
    if v then parts[#parts + 1] = k .. "=" .. q(v) end
  end
  parts[#parts + 1] = q(helper.lua)
  parts[#parts + 1] = q("examples/" .. name .. ".lua")
  for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
  local errfile = os.tmpname()
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>" .. q(errfile) .. "; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local err = read_file(errfile) or ""
  os.remove(errfile)
  local code = tonumber(out:match("exit=(%d+)\n$"))
  out = out:gsub("exit=%d+\n$", "")
  local report = helper.memory_report(err)
  assert(not report, "memory report from examples/" .. name .. ".lua: " .. tostring(report) .. "\n" .. err)
  return code, out, err
end

-- RFC 4180 reader: rows of fields; quoted fields may hold commas, CR, LF and doubled quotes.
local function parse_csv(text)
  local rows, row, i, n = {}, {}, 1, #text
  while i <= n do
    local value
    if text:sub(i, i) == '"' then
      local buf = {}
      i = i + 1
      while true do
        local j = assert(text:find('"', i, true), "unterminated quoted field")
        buf[#buf + 1] = text:sub(i, j - 1)
        if text:sub(j + 1, j + 1) == '"' then
          buf[#buf + 1] = '"'
          i = j + 2
        else
          i = j + 1
          break
        end
      end
      value = table.concat(buf)
    else
      local j = text:find("[,\r\n]", i) or (n + 1)
      value = text:sub(i, j - 1)
      assert(not value:find('"', 1, true), "a quote in an unquoted field: " .. value)
      i = j
    end
    row[#row + 1] = value
    local c = text:sub(i, i)
    if c == "," then
      i = i + 1
    elseif c == "\r" then
      assert(text:sub(i + 1, i + 1) == "\n", "CR without LF")
      rows[#rows + 1], row, i = row, {}, i + 2
    else
      error("every record must end with CRLF (at byte " .. i .. ")")
    end
  end
  return rows
end

-- The Prometheus text exposition format, strictly: returns { families = { name = { help, type, samples =
-- { { labels = {}, value = number } } } }, order = { names } }; raises on a malformed line, a HELP/TYPE after
-- its samples or twice, a family split in two.
local function parse_prom(text)
  assert(text:sub(-1) == "\n", "the file must end with a line feed")
  local fam, order, current = {}, {}, nil
  local function family(name)
    if not fam[name] then
      fam[name] = { samples = {} }
      order[#order + 1] = name
    end
    return fam[name]
  end
  for _, l in ipairs(lines_of(text)) do
    local kind, name, rest = l:match("^# (%u+) ([%a_:][%w_:]*) (.*)$")
    if kind then
      local f = family(name)
      assert(#f.samples == 0, kind .. " after samples of " .. name)
      assert(kind == "HELP" or kind == "TYPE", "unknown comment: " .. l)
      assert(f[kind:lower()] == nil, kind .. " twice for " .. name)
      f[kind:lower()] = rest
      assert(kind ~= "TYPE" or rest == "gauge", "TYPE must be gauge: " .. l)
      current = name
    else
      local mname, labels, value = l:match("^([%a_:][%w_:]*)(%b{}) (%S+)$")
      if not mname then
        mname, value = l:match("^([%a_:][%w_:]*) (%S+)$")
        labels = "{}"
      end
      assert(mname, "not a sample line: [" .. l .. "]")
      assert(mname == current or #family(mname).samples == 0, "the samples of " .. mname .. " are split")
      current = mname
      local parsed, body, i = {}, labels:sub(2, -2), 1
      while i <= #body do
        local lname, after = body:match("^([%a_][%w_]*)=\"()", i)
        assert(lname, "bad label at " .. i .. " in " .. labels)
        local buf, j = {}, after
        while true do
          local c = body:sub(j, j)
          assert(c ~= "" and c ~= "\n", "unterminated label value in " .. labels)
          if c == "\\" then
            local e = body:sub(j + 1, j + 1)
            local map = { ["\\"] = "\\", ['"'] = '"', n = "\n" }
            assert(map[e], "bad escape \\" .. e .. " in " .. labels)
            buf[#buf + 1] = map[e]
            j = j + 2
          elseif c == '"' then
            break
          else
            buf[#buf + 1] = c
            j = j + 1
          end
        end
        parsed[lname] = table.concat(buf)
        i = j + 1
        if body:sub(i, i) == "," then i = i + 1 end
      end
      local v = tonumber(value)
      assert(v, "bad value: " .. l)
      local f = family(mname)
      f.samples[#f.samples + 1] = { labels = parsed, value = v }
    end
  end
  for _, name in ipairs(order) do
    assert(fam[name].help and fam[name].type, name .. " needs HELP and TYPE")
  end
  return { families = fam, order = order }
end

describe("examples/ #subprocess", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "0.2" }
  local client, dir, ids, nfiles = nil, nil, nil, 0
  local now = os.time()

  -- Sample Apple token files, each with its own secret inside.
  local function secret(i) return helper.apple_token("APPLE-VPP-SECRET-" .. i) end

  -- Five tokens: expired, invalid, expiring in 3 days, far in the future, without a date.
  local function seed()
    ids = {}
    local specs = {
      expired = { organizationName = "Northwind", appleId = "it@northwind.com", state = "expired",
                  expirationDateTime = now - 10 * DAY },
      invalid = { organizationName = "Woodgrove", appleId = "vpp@woodgrove.com", state = "invalid",
                  expirationDateTime = now + 200 * DAY },
      soon = { organizationName = "Fabrikam", appleId = "apps@fabrikam.com", state = "valid",
               expirationDateTime = now + 3 * DAY - 3600, lastSyncDateTime = "2026-01-02T03:04:05Z" },
      far = { organizationName = "Contoso", appleId = "vpp@contoso.com", state = "valid",
              expirationDateTime = now + 400 * DAY, automaticallyUpdateApps = false },
      nodate = { organizationName = "Tailspin", appleId = "vpp@tailspin.com", state = "valid",
                 expirationDateTime = cjson.null },
    }
    local n = 0
    for _, key in ipairs{ "expired", "invalid", "soon", "far", "nodate" } do
      n = n + 1
      local fields = { vppTokenAccountType = "business", countryOrRegion = "us", token = secret(n),
                       automaticallyUpdateApps = true }
      for k, v in pairs(specs[key]) do fields[k] = v end
      if fields.expirationDateTime == cjson.null then -- a token Graph shows without a date: the library sends no null
        local st, body = helper.http("POST", sb.graph .. "/deviceAppManagement/vppTokens", fields,
                                     { authorization = "Bearer " .. ACCESS })
        assert(st == 201, cjson.encode(body))
        ids[key] = body.id
      else
        ids[key] = assert(client:create(fields)).id
      end
    end
  end

  local function no_secrets(text)
    for i = 1, 6 do assert.is_nil(text:find(secret(i), 1, true), "a VPP token was printed") end
    assert.is_nil(text:find(ACCESS, 1, true), "the access token was printed")
    assert.is_nil(text:find(files.SECRET, 1, true), "the token file's secret was printed")
  end

  local function write(content)
    nfiles = nfiles + 1
    local path = dir .. "/f" .. nfiles
    local f = assert(io.open(path, "wb"))
    f:write(content)
    f:close()
    return path
  end

  setup(function()
    client = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.02 }
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir)))
  end)

  teardown(function()
    if client then client:close() end
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  before_each(function() seed() end)

  -- Every script: --help, a usage error, missing credentials, a Graph failure.
  for _, case in ipairs{
    { "expiry_alert", {}, 6 }, { "nightly_sync", {}, 6 }, { "inventory_csv", {}, 6 },
    { "prometheus_exporter", { "--output", "OUT" }, 6 }, { "renew", { "ID", "FILE" }, 6 },
    { "expiry_report", { "--no-sync" }, 6 },
    { "async_luv", {}, 6 }, { "async_cqueues", {}, 6 },
  } do
    local name, args, graph_fail = case[1], case[2], case[3]
    local function args_for()
      local out = {}
      for i, a in ipairs(args) do
        out[i] = a == "OUT" and (dir .. "/common.prom") or a == "ID" and ids.far
          or a == "FILE" and write(files.apple_file()) or a
      end
      return out
    end

    describe(name .. ".lua", function()
      it("prints its usage with --help and exits 0", function()
        local code, out = run(name, { "--help" }, { graph = sb.graph })
        assert.equal(0, code)
        assert.matches("^usage: " .. name .. "%.lua", out)
        assert.matches("VPPTOKEN_ACCESS_TOKEN", out)
      end)

      it("exits 2 with a clear message on an unknown option, before calling Graph", function()
        local code, out, err = run(name, { "--no-such-option" }, { graph = sb.graph })
        assert.equal(2, code)
        assert.equal("", out)
        assert.matches(name .. ": unknown [%a ]+ '%-%-no%-such%-option'", err)
        assert.matches("--help", err, 1, true)
        assert.equal(seeded, #sb:requests())
      end)

      it("exits 3, as the vpptoken command, naming the variables to set when no credentials are configured",
        function()
        local code, _, err = run(name, args_for(), { graph = sb.graph, VPPTOKEN_ACCESS_TOKEN = false })
        assert.equal(3, code)
        assert.matches(name .. ": no credentials: set VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID", err, 1, true)
        assert.is_nil(err:find("traceback", 1, true))
      end)

      it("exits " .. graph_fail .. " with Graph's error when Graph fails", function()
        sb:fail_next(1, 500)
        local code, _, err = run(name, args_for(), { graph = sb.graph })
        assert.equal(graph_fail, code)
        assert.matches("[HTTP 500]", err, 1, true)
        assert.is_nil(err:find("traceback", 1, true))
        no_secrets(err)
      end)
    end)
  end

  describe("expiry_alert.lua", function()
    it("exits 12 (the vpptoken command's attention code) listing the expired, invalid, soon-expiring and "
      .. "undated tokens, not the others", function()
      local code, out, err = run("expiry_alert", { "--within", "30" }, { graph = sb.graph })
      assert.equal(12, code, err)
      assert.matches("^4 Apple VPP tokens need attention %(within 30 days%):\n", out)
      local lines = lines_of(out)
      assert.equal(5, #lines)
      assert.matches("Northwind <it@northwind.com> id " .. lit(ids.expired)
        .. ".*state is expired; expired 10 days ago", lines[2])
      assert.matches("Fabrikam <apps@fabrikam.com> id " .. lit(ids.soon) .. ".*expires in 3 days", lines[3])
      assert.matches("Woodgrove <vpp@woodgrove.com>.*state is invalid", lines[4])
      assert.matches("Tailspin <vpp@tailspin.com>.*no expiration date", lines[5])
      assert.is_nil(out:find("Contoso", 1, true))
      no_secrets(out .. err)
    end)

    it("--within sets the window: a token 3 days from expiry is fine with --within 2", function()
      local code, out = run("expiry_alert", { "--within", "2" }, { graph = sb.graph })
      assert.equal(12, code)
      assert.matches("^3 Apple VPP tokens need attention", out)
      assert.is_nil(out:find("Fabrikam", 1, true))
    end)

    it("exits 0 with one line when every token is valid and far from expiry", function()
      sb:reset()
      for i = 1, 2 do
        assert(client:create{ token = secret(i), state = "valid", appleId = i .. "@contoso.com",
                              expirationDateTime = now + 90 * DAY })
      end
      local code, out = run("expiry_alert", { "--within", "30" }, { graph = sb.graph })
      assert.equal(0, code)
      assert.equal("all 2 tokens fine: none is invalid or expires within 30 days\n", out)
    end)

    it("rejects a bad --within, a missing value and a plain-http webhook to another host with exit 2", function()
      for _, args in ipairs{ { "--within", "soon" }, { "--within", "-1" }, { "--within" },
                             { "--webhook", "http://example.com/hook" }, { "--card", "html" } } do
        local code, _, err = run("expiry_alert", args, { graph = sb.graph })
        assert.equal(2, code, table.concat(args, " "))
        assert.matches("^expiry_alert: ", err)
      end
      assert.equal(seeded, #sb:requests())
    end)

    it("--webhook POSTs an Adaptive Card about the tokens needing attention, with no secret in it", function()
      local port, stop = helper.start_fake_server("ok")
      local url = "http://127.0.0.1:" .. port .. "/webhookb2/hook-secret-path?sig=abc"
      local code, out, err = run("expiry_alert", { "--webhook", url }, { graph = sb.graph })
      local seen, all = stop()
      assert.equal(12, code, err)
      assert.matches("^4 Apple VPP tokens", out)
      assert.same({ "POST /webhookb2/hook-secret-path?sig=abc HTTP/1.1 auth=no" }, seen)
      assert.equal("header content-type: application/json; charset=utf-8", all[2])
      local body = assert(all[3]:match("^body (.*)$"))
      no_secrets(body)
      local doc = assert(cjson.decode(body))
      assert.equal("message", doc.type)
      local att = doc.attachments[1]
      assert.equal("application/vnd.microsoft.card.adaptive", att.contentType)
      assert.equal("AdaptiveCard", att.content.type)
      assert.matches("^4 Apple VPP tokens need attention", att.content.body[1].text)
      local sets, apple_ids = 0, {}
      for _, block in ipairs(att.content.body) do
        if block.type == "FactSet" then
          sets = sets + 1
          for _, f in ipairs(block.facts) do
            if f.title == "Apple ID" then apple_ids[#apple_ids + 1] = f.value end
            assert.is_not.equal("token", f.title:lower())
          end
        end
      end
      assert.equal(4, sets)
      assert.same({ "it@northwind.com", "apps@fabrikam.com", "vpp@woodgrove.com", "vpp@tailspin.com" }, apple_ids)
    end)

    it("takes the webhook from VPPTOKEN_ALERT_WEBHOOK and sends a MessageCard with --card messagecard", function()
      local port, stop = helper.start_fake_server("ok")
      local code = run("expiry_alert", { "--card", "messagecard" },
        { graph = sb.graph, VPPTOKEN_ALERT_WEBHOOK = "http://127.0.0.1:" .. port .. "/hook" })
      local seen, all = stop()
      assert.equal(12, code)
      assert.equal(1, #seen)
      local doc = assert(cjson.decode(all[3]:match("^body (.*)$")))
      assert.equal("MessageCard", doc["@type"])
      assert.equal("https://schema.org/extensions", doc["@context"])
      assert.equal(4, #doc.sections)
      assert.equal("Northwind (it@northwind.com)", doc.sections[1].activityTitle)
    end)

    it("sends nothing to the webhook when every token is fine", function()
      sb:reset()
      assert(client:create{ token = secret(1), state = "valid", expirationDateTime = now + 90 * DAY })
      local port, stop = helper.start_fake_server("ok")
      local code = run("expiry_alert", { "--webhook", "http://127.0.0.1:" .. port .. "/hook" }, { graph = sb.graph })
      local seen = stop()
      assert.equal(0, code)
      assert.same({}, seen)
    end)

    it("exits 1 when the webhook refuses the card, without printing the webhook's path", function()
      local port, stop = helper.start_fake_server("status", "500")
      local code, _, err = run("expiry_alert", { "--webhook", "http://127.0.0.1:" .. port .. "/hook-secret-path" },
        { graph = sb.graph })
      local seen = stop()
      assert.equal(1, code)
      assert.equal(1, #seen) -- a 500 to a POST is not sent again
      assert.matches("the webhook did not take the card: vpptoken: [HTTP 500]", err, 1, true)
      assert.matches("webhook refused the card", err, 1, true)
      assert.is_nil(err:find("hook-secret-path", 1, true))
    end)

    it("tells the webhook when Graph cannot be asked, and exits as the vpptoken command for the error (6 for a "
      .. "500)", function()
      local port, stop = helper.start_fake_server("ok")
      sb:fail_next(1, 500)
      local code = run("expiry_alert", { "--webhook", "http://127.0.0.1:" .. port .. "/hook" }, { graph = sb.graph })
      local _, all = stop()
      assert.equal(6, code)
      local doc = assert(cjson.decode(all[3]:match("^body (.*)$")))
      assert.equal("VPP token check failed", doc.attachments[1].content.body[1].text)
      no_secrets(all[3])
    end)
  end)

  describe("nightly_sync.lua", function()
    local function syncs()
      local n = 0
      for _, r in ipairs(sb:requests()) do
        if r.method == "POST" and r.path:match("/syncLicenses$") then n = n + 1 end
      end
      return n
    end

    it("starts a sync for each valid token, skips the others with the reason and exits 0", function()
      local code, out, err = run("nightly_sync", {}, { graph = sb.graph })
      assert.equal(0, code, err)
      assert.equal(3, syncs())
      assert.matches("\nskipped +" .. lit(ids.expired) .. " it@northwind.com: state is expired\n", "\n" .. out)
      assert.matches("\nskipped +" .. lit(ids.invalid) .. " vpp@woodgrove.com: state is invalid\n", "\n" .. out)
      for _, k in ipairs{ "soon", "far", "nodate" } do
        assert.matches("\nstarted +" .. lit(ids[k]) .. " [^\n]*: sync started\n", "\n" .. out)
      end
      assert.matches("\n5 token%(s%): 3 started, 2 skipped, 0 failed\n$", out)
      no_secrets(out)
    end)

    it("--wait waits until each started sync has completed", function()
      local code, out, err = run("nightly_sync", { "--wait", "--interval", "0.05", "--timeout", "30" },
        { graph = sb.graph })
      assert.equal(0, code, err)
      assert.matches("started +" .. lit(ids.far) .. " vpp@contoso.com: completed\n", out)
      assert.matches("; 3 completed, 0 not completed\n$", out)
      assert.equal("completed", assert(client:get(ids.far)).lastSyncStatus)
    end)

    it("exits 1 and shows the error of a sync that failed to start", function()
      sb:fail_next(1, 500, { method = "POST" })
      local code, out = run("nightly_sync", { "--concurrency", "1" }, { graph = sb.graph })
      assert.equal(1, code)
      local failed = 0
      for l in out:gmatch("[^\n]+") do
        if l:match("^failed ") then
          failed = failed + 1
          assert.matches("vpptoken: [HTTP 500]", l, 1, true)
        end
      end
      assert.equal(1, failed)
      assert.matches("\n5 token%(s%): 2 started, 2 skipped, 1 failed\n$", out)
    end)

    it("exits 1 when a sync is still running at the --wait deadline", function()
      sb:configure{ sync_seconds = 60 }
      local code, out = run("nightly_sync", { "--wait", "--timeout", "0" }, { graph = sb.graph })
      assert.equal(1, code)
      assert.matches("SyncTimeout", out, 1, true)
      assert.matches("; 0 completed, 3 not completed\n$", out)
    end)

    it("rejects a bad --concurrency or --timeout with exit 2", function()
      for _, args in ipairs{ { "--concurrency", "0" }, { "--concurrency", "1.5" }, { "--timeout", "x" },
                             { "--interval" } } do
        local code, _, err = run("nightly_sync", args, { graph = sb.graph })
        assert.equal(2, code, table.concat(args, " "))
        assert.matches("^nightly_sync: ", err)
      end
      assert.equal(seeded, #sb:requests())
    end)
  end)

  for _, name in ipairs{ "async_luv", "async_cqueues" } do
    describe(name .. ".lua", function()
      local function syncs()
        local n = 0
        for _, r in ipairs(sb:requests()) do
          if r.method == "POST" and r.path:match("/syncLicenses$") then n = n + 1 end
        end
        return n
      end

      it("starts a sync for each valid token, side by side, while the host's loop keeps ticking", function()
        sb:configure{ faults = { latency_ms = { POST = { 300, 300 } } } }
        local code, out, err = run(name, {}, { graph = sb.graph })
        assert.equal(0, code, err)
        assert.equal(3, syncs())
        for _, k in ipairs{ "soon", "far", "nodate" } do
          assert.matches("\nstarted " .. lit(ids[k]) .. " ", "\n" .. out)
        end
        local ticks = tonumber(err:match("ticked (%d+) times"))
        assert.is_true(ticks >= 2, err) -- the 300 ms syncs ran together, and the host's timer ran meanwhile
        no_secrets(out .. err)
      end)

      it("cancels the syncs still under way at --timeout and exits 1", function()
        sb:configure{ faults = { latency_ms = { POST = { 5000, 5000 } } } }
        local t0 = require("vpptoken.core").monotonic()
        local code, out = run(name, { "--timeout", "0.5" }, { graph = sb.graph })
        assert.equal(1, code)
        -- not cancelled, the syncs would end after their 5 s
        assert.is_true(require("vpptoken.core").monotonic() - t0 < 4.5, "the cancelled syncs ended at once")
        local _, n = out:gsub("failed  [^\n]*%[cancelled%]%[Cancelled%]", "")
        assert.equal(3, n, out)
      end)
    end)
  end

  describe("renew.lua", function()
    local function patches()
      local n = 0
      for _, r in ipairs(sb:requests()) do if r.method == "PATCH" then n = n + 1 end end
      return n
    end

    it("uploads the file, prints the old and new expiry and the note while Graph lags", function()
      assert(client:update(ids.far, { expirationDateTime = "2030-01-01T00:00:00Z" }))
      local exp_date = files.expires_in(400)
      local content = files.apple_file{ expDate = exp_date }
      local code, out, err = run("renew", { ids.far, write(content) }, { graph = sb.graph })
      assert.equal(0, code, err)
      local lines = lines_of(out)
      assert.equal("renewed token " .. ids.far .. " (Contoso, vpp@contoso.com)", lines[1])
      assert.equal("old expiry: 2030-01-01T00:00:00Z", lines[2])
      assert.equal("new expiry: " .. exp_date:gsub("%-0700$", "-07:00") .. " (from the token file)", lines[3])
      assert.matches("^note: Graph still shows the expiry 2030%-01%-01T00:00:00Z", lines[4])
      assert.equal(content, assert(client:get(ids.far)).token)
      no_secrets(out .. err)
      assert.is_nil((out .. err):find(content, 1, true))
    end)

    it("says Graph shows the new expiry when it already does", function()
      local exp_date, graph_date = files.expires_in(400)
      assert(client:update(ids.far, { expirationDateTime = graph_date }))
      local code, out = run("renew", { ids.far, write(files.apple_file{ expDate = exp_date }) }, { graph = sb.graph })
      assert.equal(0, code)
      assert.equal("Graph shows the new expiry: " .. graph_date, out:match("([^\n]*)\n$"))
    end)

    it("refuses an expired file and sends nothing", function()
      local path = write(files.apple_file{ expDate = "2001-01-01T00:00:00Z" })
      local code, out, err = run("renew", { ids.far, path }, { graph = sb.graph })
      assert.equal(9, code)
      assert.equal("", out)
      assert.matches("renew: token " .. ids.far .. " was not renewed: vpptoken: [token_file][TokenFileExpired] the "
        .. "token file " .. path .. " expired on 2001-01-01T00:00:00Z", err, 1, true)
      assert.equal(0, patches())
      assert.equal(secret(4), assert(client:get(ids.far)).token)
    end)

    it("reports a missing or broken file as such, and an unknown token id, with the vpptoken command's exit codes "
      .. "(9, 4)", function()
      local code, _, err = run("renew", { ids.far, dir .. "/missing.vpptoken" }, { graph = sb.graph })
      assert.equal(9, code)
      assert.matches("TokenFileUnreadable", err, 1, true)
      code, _, err = run("renew", { ids.far, write("not base64 at all!") }, { graph = sb.graph })
      assert.equal(9, code)
      assert.matches("TokenFileNotBase64", err, 1, true)
      assert.equal(0, patches())
      code, _, err = run("renew", { "no-such-token", write(files.apple_file()) }, { graph = sb.graph })
      assert.equal(4, code)
      assert.matches("renew: token no-such-token was not renewed: vpptoken: [HTTP 404]", err, 1, true)
      no_secrets(err)
    end)

    it("exits 2 without a token id and a path, or with a malformed id", function()
      for _, args in ipairs{ {}, { ids.far }, { "a", "b", "c" } } do
        local code, _, err = run("renew", args, { graph = sb.graph })
        assert.equal(2, code)
        assert.matches("renew: expected a token id and the path of a .vpptoken file", err, 1, true)
      end
      local code, _, err = run("renew", { "bad/id", write(files.apple_file()) }, { graph = sb.graph })
      assert.equal(2, code)
      assert.matches("^renew: renew: ", err)
      assert.equal(seeded, #sb:requests())
    end)
  end)

  describe("expiry_report.lua", function()
    it("fits 80 columns when not on a terminal: LAST SYNC goes, every value an admin reads stays whole", function()
      local code, out, err = run("expiry_report", { "--no-sync", "--within", "30" }, { graph = sb.graph })
      assert.equal(0, code, err)
      no_secrets(out)
      local lines = lines_of(out)
      for _, l in ipairs(lines) do assert.is_true(helper.utf8_len(l) <= 80, "wider than 80: " .. l) end
      assert.matches("^APPLE ID%s+ORGANIZATION%s+STATE%s+EXPIRES%s+DAYS%s+NOTE$", lines[1])
      assert.matches("\nit@northwind%.com%s+Northwind%s+expired%s+%d+%-%d+%-%d+%s+%-10%s+not valid\n", out)
      assert.matches("\napps@fabrikam%.com%s+Fabrikam%s+valid%s+%d+%-%d+%-%d+%s+3%s+renew soon\n", out)
      assert.matches("\n5 token%(s%), 3 need attention %(renew soon: expires within 30 days%)\n$", out)
    end)

    it("shows LAST SYNC when COLUMNS leaves room, and cuts with … only when even that is too narrow", function()
      local code, out, err = run("expiry_report", { "--no-sync" }, { graph = sb.graph, COLUMNS = "120" })
      assert.equal(0, code, err)
      assert.matches("^APPLE ID%s+ORGANIZATION%s+STATE%s+EXPIRES%s+DAYS%s+LAST SYNC%s+NOTE\n", out)
      code, out, err = run("expiry_report", { "--no-sync" }, { graph = sb.graph, COLUMNS = "66" })
      assert.equal(0, code, err)
      assert.matches("…", out, 1, true)
      for _, l in ipairs(lines_of(out)) do
        if not l:match("^%d+ token") then assert.is_true(helper.utf8_len(l) <= 66, "wider than 66: " .. l) end
      end
    end)
  end)

  describe("inventory_csv.lua", function()
    local COLUMNS = { "id", "organizationName", "appleId", "vppTokenAccountType", "state", "lastSyncStatus",
                      "lastSyncDateTime", "expirationDateTime", "days_left", "countryOrRegion",
                      "automaticallyUpdateApps" }

    local function by_id(rows)
      local out = {}
      for i = 2, #rows do
        local r = {}
        for c, name in ipairs(COLUMNS) do r[name] = rows[i][c] end
        assert.equal(#COLUMNS, #rows[i])
        out[r.id] = r
      end
      return out
    end

    it("prints every token as RFC 4180 CSV with the documented columns, never the token", function()
      local code, out, err = run("inventory_csv", {}, { graph = sb.graph })
      assert.equal(0, code, err)
      no_secrets(out)
      local rows = parse_csv(out)
      assert.same(COLUMNS, rows[1])
      assert.equal(6, #rows)
      local t = by_id(rows)
      local soon = t[ids.soon]
      assert.equal("Fabrikam", soon.organizationName)
      assert.equal("apps@fabrikam.com", soon.appleId)
      assert.equal("business", soon.vppTokenAccountType)
      assert.equal("valid", soon.state)
      assert.equal("2026-01-02T03:04:05Z", soon.lastSyncDateTime)
      assert.equal(assert(client:get(ids.soon)).expirationDateTime, soon.expirationDateTime)
      assert.equal("3", soon.days_left)
      assert.equal("us", soon.countryOrRegion)
      assert.equal("true", soon.automaticallyUpdateApps)
      assert.equal("-10", t[ids.expired].days_left)
      assert.equal("expired", t[ids.expired].state)
      assert.equal("", t[ids.nodate].days_left)
      assert.equal("", t[ids.nodate].expirationDateTime)
      assert.equal("false", t[ids.far].automaticallyUpdateApps)
    end)

    it("quotes commas, double quotes and line breaks so the values read back unchanged", function()
      local org = 'Contoso, "East"\r\nCampus'
      local id = assert(client:create{ token = secret(6), organizationName = org, appleId = " padded@contoso.com" }).id
      local id2 = assert(client:create{ token = secret(6), organizationName = "First line\nsecond line" }).id
      local code, out = run("inventory_csv", {}, { graph = sb.graph })
      assert.equal(0, code)
      assert.matches('"Contoso, ""East""\r\nCampus"', out, 1, true)
      local t = by_id(parse_csv(out))
      assert.equal(org, t[id].organizationName)
      assert.equal(" padded@contoso.com", t[id].appleId)
      assert.equal("First line\nsecond line", t[id2].organizationName)
    end)

    it("--output writes the file (and nothing to stdout); a Graph failure leaves the old file alone", function()
      local path = dir .. "/inventory.csv"
      local code, out, err = run("inventory_csv", { "--output", path }, { graph = sb.graph })
      assert.equal(0, code, err)
      assert.equal("", out)
      assert.matches("5 token%(s%) written to", err)
      local first = read_file(path)
      assert.equal(6, #parse_csv(first))
      sb:fail_next(1, 500)
      code = run("inventory_csv", { "--output", path }, { graph = sb.graph })
      assert.equal(6, code)
      assert.equal(first, read_file(path))
      assert.is_nil(read_file(path .. ".tmp"))
    end)

    it("exits 1 when the output cannot be written", function()
      local code, _, err = run("inventory_csv", { "--output", dir .. "/no/such/dir/x.csv" }, { graph = sb.graph })
      assert.equal(1, code)
      assert.matches("inventory_csv: cannot write ", err, 1, true)
    end)
  end)

  describe("prometheus_exporter.lua", function()
    local function inode(path)
      local p = assert(io.popen("stat -c %i " .. q(path)))
      local n = p:read("*n")
      p:close()
      return n
    end

    local function series(prom, name, id)
      local out = {}
      for _, s in ipairs(prom.families[name] and prom.families[name].samples or {}) do
        if s.labels.id == id then out[#out + 1] = s end
      end
      return out
    end

    it("writes HELP, TYPE and one gauge per token and metric in the exposition format", function()
      local path = dir .. "/vpp.prom"
      local code, out, err = run("prometheus_exporter", { "--output", path }, { graph = sb.graph })
      assert.equal(0, code, err)
      assert.equal("", out)
      local text = assert(read_file(path))
      no_secrets(text)
      local prom = parse_prom(text)
      assert.same({ "vpptoken_expiry_timestamp_seconds", "vpptoken_days_left", "vpptoken_state",
                    "vpptoken_last_sync_timestamp_seconds", "vpptoken_last_success_timestamp_seconds",
                    "vpptoken_scrape_success" }, prom.order)
      local soon = assert(client:get(ids.soon))
      local exp = series(prom, "vpptoken_expiry_timestamp_seconds", ids.soon)
      assert.equal(1, #exp)
      assert.same({ id = ids.soon, apple_id = "apps@fabrikam.com", organization = "Fabrikam" }, exp[1].labels)
      assert.equal(math.floor(vpptoken.time.parse(soon.expirationDateTime)), math.floor(exp[1].value))
      assert.equal(3, series(prom, "vpptoken_days_left", ids.soon)[1].value)
      assert.equal(-10, series(prom, "vpptoken_days_left", ids.expired)[1].value)
      assert.equal(0, #series(prom, "vpptoken_days_left", ids.nodate)) -- no date: no series, rather than a guess
      assert.equal(vpptoken.time.parse("2026-01-02T03:04:05Z"),
        series(prom, "vpptoken_last_sync_timestamp_seconds", ids.soon)[1].value)
      assert.equal(0, #series(prom, "vpptoken_last_sync_timestamp_seconds", ids.far))
      for key, state in pairs{ expired = "expired", invalid = "invalid", soon = "valid", far = "valid" } do
        local st = series(prom, "vpptoken_state", ids[key])
        assert.equal(#vpptoken.members("State"), #st)
        for _, s in ipairs(st) do
          assert.equal(s.labels.state == state and 1 or 0, s.value, key .. " " .. s.labels.state)
        end
      end
      assert.equal(1, prom.families.vpptoken_scrape_success.samples[1].value)
      assert.is_true(math.abs(prom.families.vpptoken_last_success_timestamp_seconds.samples[1].value - os.time()) < 120)
      assert.is_nil(read_file(path .. ".tmp"))
    end)

    it("escapes backslash, double quote and line feed in label values", function()
      local org = 'Back\\slash "quoted"\nline'
      local id = assert(client:create{ token = secret(6), organizationName = org, expirationDateTime = now + DAY }).id
      local path = dir .. "/escape.prom"
      assert.equal(0, (run("prometheus_exporter", { "--output", path }, { graph = sb.graph })))
      local text = read_file(path)
      assert.matches('organization="Back\\\\slash \\"quoted\\"\\nline"', text, 1, true)
      local prom = parse_prom(text)
      assert.equal(org, series(prom, "vpptoken_days_left", id)[1].labels.organization)
    end)

    it("replaces the file by renaming a new one over it, never by rewriting it in place", function()
      local path = dir .. "/rename.prom"
      assert.equal(0, (run("prometheus_exporter", { "--output", path }, { graph = sb.graph })))
      local before = inode(path)
      assert.equal(0, (run("prometheus_exporter", { "--output", path }, { graph = sb.graph })))
      assert.is_not.equal(before, inode(path))
    end)

    it("after a failed scrape keeps the previous series and says vpptoken_scrape_success 0", function()
      local path = dir .. "/fail.prom"
      assert.equal(0, (run("prometheus_exporter", { "--output", path }, { graph = sb.graph })))
      local before = lines_of(read_file(path))
      sb:fail_next(1, 500)
      local code, _, err = run("prometheus_exporter", { "--output", path }, { graph = sb.graph })
      assert.equal(6, code)
      assert.matches("vpptoken_scrape_success 0", err, 1, true)
      local text = read_file(path)
      local prom = parse_prom(text)
      assert.equal(0, prom.families.vpptoken_scrape_success.samples[1].value)
      local after = lines_of(text)
      local function without_success(ls)
        local out = {}
        for _, l in ipairs(ls) do if not l:find("vpptoken_scrape_success", 1, true) then out[#out + 1] = l end end
        return out
      end
      assert.same(without_success(before), without_success(after))
      assert.equal(3, #after - #without_success(after))
      -- and the next good run is complete again
      assert.equal(0, (run("prometheus_exporter", { "--output", path }, { graph = sb.graph })))
      assert.equal(1, parse_prom(read_file(path)).families.vpptoken_scrape_success.samples[1].value)
    end)

    it("without a previous file, a failed scrape writes only vpptoken_scrape_success 0", function()
      local path = dir .. "/first.prom"
      sb:fail_next(1, 500)
      assert.equal(6, (run("prometheus_exporter", { "--output", path }, { graph = sb.graph })))
      local prom = parse_prom(read_file(path))
      assert.same({ "vpptoken_scrape_success" }, prom.order)
      assert.equal(0, prom.families.vpptoken_scrape_success.samples[1].value)
    end)

    it("exits 2 without --output", function()
      local code, _, err = run("prometheus_exporter", {}, { graph = sb.graph })
      assert.equal(2, code)
      assert.matches("--output FILE is required", err, 1, true)
    end)
  end)
end)
