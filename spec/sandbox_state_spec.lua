-- vpptoken-sandbox: state that is not lost (--data), the request journal (--journal) and the
-- configuration file (--config), driven with LuaSocket and curl only.
-- luacheck: std +busted
local helper = require "helper"
local socket = require "socket"
local cjson = require "cjson.safe"

local http = helper.http
local COLL = "/v1.0/deviceAppManagement/vppTokens"
local SLOW = helper.SLOW

local function graph(sb, method, path, body, extra)
  local headers = { authorization = "Bearer test-access-token" }
  for k, v in pairs(extra or {}) do headers[k] = v end
  return http(method, sb.url .. path, body, headers)
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function temp_dir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

-- Kills a sandbox with SIGKILL and collects what is left of it (no exit-status check).
local function kill9(sb)
  os.execute("kill -KILL " .. sb.pid .. " 2>/dev/null")
  sb.pipe:read("*a")
  sb.pipe:close()
  sb.pipe = nil
  os.remove(sb.logfile)
end

describe("sandbox --data", function()
  local dir
  before_each(function() dir = temp_dir() end)
  after_each(function() os.execute("rm -rf " .. helper.shell_quote(dir)) end)

  it("keeps tokens, changes and deletions across a restart", function()
    local data = dir .. "/store.json"
    local sb = helper.start_sandbox({ "--data", data })
    local _, a = graph(sb, "POST", COLL, { organizationName = "A", token = helper.apple_token({ org = "A" }) })
    local _, b = graph(sb, "POST", COLL, { organizationName = "B", token = helper.apple_token({ org = "B" }) })
    assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. a.id, { organizationName = "A2" })))
    assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. b.id)))
    sb:stop()
    sb = helper.start_sandbox({ "--data", data })
    local st, list = graph(sb, "GET", COLL)
    local _, c = graph(sb, "POST", COLL, { organizationName = "C", token = helper.apple_token({ org = "C" }) })
    sb:stop()
    assert.equal(200, st)
    assert.equal(1, #list.value)
    assert.equal(a.id, list.value[1].id)
    assert.equal("A2", list.value[1].organizationName)
    assert.equal(a.lastModifiedDateTime ~= nil, true)
    assert.are_not.equal(a.id, c.id)
    local saved = assert(cjson.decode(read(data)))
    assert.equal(2, #saved.tokens)
    assert.is_nil(read(data .. ".tmp"), "no temporary file is left behind")
  end)

  it("a reset empties the saved store", function()
    local data = dir .. "/store.json"
    local sb = helper.start_sandbox({ "--data", data })
    graph(sb, "POST", COLL, { organizationName = "A", token = helper.apple_token({ org = "A" }) })
    sb:reset()
    sb:stop()
    assert.equal(0, #cjson.decode(read(data)).tokens)
  end)

  it("refuses a file that is not a store in one line naming it, exit 2, as for a bad option", function()
    local cases = { { "{not json", "not a vpptoken-sandbox store" },
                    { '{"format":"vpptoken-sandbox-store/1","tokens":[7]}', "token 1 is malformed" } }
    for _, c in ipairs(cases) do
      local data = dir .. "/bad.json"
      local f = io.open(data, "w")
      f:write(c[1])
      f:close()
      local proc = helper.spawn_sandbox({ "--port", "0", "--data", data })
      local code, log = proc:finish("TERM")
      assert.equal(2, code, log)
      assert.equal("vpptoken-sandbox: --data " .. data .. ": " .. c[2], (log:gsub("%s*%(.*$", ""):gsub("\n$", "")))
      assert.is_nil(log:find("traceback", 1, true), log)
      assert.equal(c[1], read(data), "the bad file is left as it was")
    end
  end)

  it("refuses a bad --apps file or an unwritable --journal the same way (one line, exit 2)", function()
    local apps = dir .. "/apps.json"
    local f = io.open(apps, "w")
    f:write('{"tenant":"t","apps":[{"client_id":""}]}')
    f:close()
    for _, args in ipairs({ { "--apps", apps }, { "--journal", dir .. "/missing/journal" } }) do
      local proc = helper.spawn_sandbox({ "--port", "0", args[1], args[2] })
      local code, log = proc:finish("TERM")
      assert.equal(2, code, log)
      assert.equal("vpptoken-sandbox: " .. args[1], log:sub(1, #args[1] + 18))
      assert.matches("^[^\n]*\n$", log)
    end
  end)

  it("a save killed mid-write leaves no copy of the store (every token's secret) once it starts again", function()
    local data = dir .. "/store.json"
    local q = helper.shell_quote
    -- Not temporary copies, though their names have the shape older versions used (FILE + 6 letters): they must
    -- survive, the second though it is a whole store (a user's `cp tokens.json tokens.json.backup`).
    local f = io.open(data .. ".backup", "w")
    f:write("mine")
    f:close()
    f = io.open(data .. ".before", "w")
    f:write('{"format":"vpptoken-sandbox-store/1","next_seq":1,"tokens":[]}\n')
    f:close()
    -- What an older version's killed save left: a store cut short, under the old name shape. It goes.
    f = io.open(data .. ".Ab3dE9", "w")
    f:write('{"format":"vpptoken-sandbox-store/1","next_seq":9,"tokens":[{"id":"x","props":{"token":"SECR')
    f:close()
    -- A store big enough that writing it takes a while; the loop kills the sandbox (SIGKILL: nothing can clean up)
    -- the moment the temporary copy of its first save appears. Bounded: 3 tries of at most 60 s each.
    local script = [[
      for try in 1 2 3; do
        rm -f DATA
        SANDBOX --port 0 --data DATA --seed-tokens 8000 >/dev/null 2>&1 &
        pid=$!; i=0; stop=$(( $(date +%s) + 60 ))
        while [ $i -lt 1000 ] || { i=0; [ "$(date +%s)" -lt $stop ]; }; do
          for t in DATA.sandbox-save-??????; do
            if [ -e "$t" ]; then
              kill -KILL $pid; wait $pid 2>/dev/null; stat -c %a "$t"; exit 0
            fi
          done
          i=$((i + 1))
        done
        kill -KILL $pid; wait $pid 2>/dev/null
      done
      echo missed]]
    script = script:gsub("SANDBOX", q(helper.sandbox_bin)):gsub("DATA", q(data))
    local p = assert(io.popen(script, "r"))
    local out = p:read("*a")
    p:close()
    assert.equal("600\n", out, "never caught a save mid-write (or its copy is readable by others)")
    local sb = helper.start_sandbox({ "--data", data })
    local st = graph(sb, "GET", COLL)
    sb:stop()
    assert.equal(200, st)
    local ls = io.popen("ls -A " .. q(dir))
    local left = ls:read("*a")
    ls:close()
    assert.equal("store.json\nstore.json.backup\nstore.json.before\n", left)
    assert.equal("mine", read(data .. ".backup"))
  end)

  it("after kill -9 during a burst of writes: the file parses and holds every acknowledged write", function()
    local data = dir .. "/store.json"
    local sb = helper.start_sandbox({ "--data", data })
    -- the kill comes from outside, at a moment the loop below does not choose
    os.execute(string.format("(sleep %g; kill -KILL %d) >/dev/null 2>&1 &", 0.8 * SLOW, sb.pid))
    local acked, attempts = {}, 0
    local deadline = socket.gettime() + 20 * SLOW
    while socket.gettime() < deadline do
      attempts = attempts + 1
      local ok, st, body = pcall(graph, sb, "POST", COLL, { organizationName = "burst " .. attempts,
                                                             token = helper.apple_token() })
      if not ok or st ~= 201 then break end
      acked[#acked + 1] = body.id
    end
    kill9(sb)
    assert.truthy(#acked > 5, "only " .. #acked .. " writes before the kill")
    local saved = assert(cjson.decode(read(data)), "the store file does not parse")
    local have = {}
    for _, t in ipairs(saved.tokens) do have[t.id] = true end
    for _, id in ipairs(acked) do assert.is_true(have[id], "acknowledged write " .. id .. " is missing") end
    assert.truthy(#saved.tokens <= #acked + 1)
    -- and it starts again from that file
    local again = helper.start_sandbox({ "--data", data })
    local st, list = graph(again, "GET", COLL .. "?$count=true&$top=1")
    again:stop()
    assert.equal(200, st)
    assert.equal(#saved.tokens, list["@odata.count"])
  end)
end)

describe("sandbox --journal", function()
  it("records each request with secrets redacted, ids, status and duration", function()
    local journal = os.tmpname()
    local sb = helper.start_sandbox({ "--journal", journal })
    local vpp_file = helper.apple_token({ token = "VERY-SECRET-VPP" })
    local st, created, h = graph(sb, "POST", COLL .. "?x=1", { organizationName = "J", token = vpp_file },
                                 { ["client-request-id"] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" })
    assert.equal(201, st)
    http("POST", sb.url .. "/v1.0/deviceAppManagement/vppTokens", "client_id=x&client_secret=FORM-SECRET"
         .. "&client_assertion=ASSERTION-SECRET&scope=s", { authorization = "Bearer SECRET-BEARER",
         ["content-type"] = "application/x-www-form-urlencoded" })
    sb:fail_next(1, nil, { kind = "reset_after" })
    helper.raw_exchange(sb.port, "DELETE", COLL .. "/" .. created.id, { Authorization = "Bearer t" })
    sb:requests() -- control endpoints are not journaled
    sb:stop()
    local text = read(journal)
    os.remove(journal)
    for _, secret in ipairs({ vpp_file, "FORM-SECRET", "ASSERTION-SECRET", "SECRET-BEARER",
                              "test-access-token" }) do
      assert.is_nil(text:find(secret, 1, true), secret .. " is in the journal")
    end
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = assert(cjson.decode(l), l) end
    assert.equal(3, #lines)
    local first = lines[1]
    assert.equal("POST", first.method)
    assert.equal(COLL .. "?x=1", first.path)
    assert.equal(201, first.status)
    assert.equal("Bearer <redacted>", first.headers.authorization)
    assert.equal(h["request-id"], first["request-id"])
    assert.equal("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", first["client-request-id"])
    assert.matches('"token":"<redacted>"', first.body)
    assert.matches('"organizationName":"J"', first.body)
    assert.is_number(first.duration_ms)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", first.time)
    assert.matches("client_secret=<redacted>&client_assertion=<redacted>", lines[2].body)
    assert.equal(400, lines[2].status)
    assert.equal("DELETE", lines[3].method)
    assert.equal("reset_after", lines[3].fault)
    assert.equal(cjson.null, lines[3].status, "no status went out")
  end)
end)

describe("sandbox --config", function()
  it("takes options, faults and throttle from the file; flags override it", function()
    local cfg = helper.temp_file(cjson.encode({
      page_size = 2, sync_response = "wrapped", verbose = false,
      throttle = { app_writes = 5, window_seconds = 10 },
      faults = { rate = 0, seed = 3, latency_ms = { 0, 1 } },
    }))
    local sb = helper.start_sandbox({ "--config", cfg, "--page-size", "3" })
    local st, c = sb:control("GET", "config")
    for i = 1, 4 do graph(sb, "POST", COLL, { organizationName = "o" .. i, token = helper.apple_token() }) end
    local _, page = graph(sb, "GET", COLL)
    sb:reset()
    local _, after_reset = sb:control("GET", "config")
    sb:stop()
    os.remove(cfg)
    assert.equal(200, st)
    assert.equal(3, c.page_size)
    assert.equal("wrapped", c.sync_response)
    assert.same({ enabled = true, window_seconds = 10, tenant_writes = 200, app_writes = 5,
                  tenant_requests = 2000, app_requests = 1000 }, c.throttle)
    assert.equal(3, c.faults.seed)
    assert.equal(3, #page.value)
    assert.same(c, after_reset)
  end)

  it("fails to start, saying why, on a bad file or a bad value in it", function()
    local cases = { "{oops", '{"port":"x"}', '{"unknown_option":1}', '{"faults":{"rate":2}}' }
    for _, text in ipairs(cases) do
      local cfg = helper.temp_file(text)
      local ok, err = pcall(helper.start_sandbox, { "--config", cfg })
      os.remove(cfg)
      assert.is_false(ok, text)
      assert.matches("sandbox did not start", tostring(err))
    end
  end)

  it("--help documents every option", function()
    local p = io.popen(helper.shell_quote(helper.sandbox_bin) .. " --help")
    local text = p:read("*a")
    p:close()
    for _, opt in ipairs({ "--config", "--data", "--journal", "--throttle", "--port", "--host", "--verbose" }) do
      assert.truthy(text:find(opt, 1, true), opt .. " missing from --help")
    end
  end)
end)

-- Intune reads expirationDateTime and organizationName from the uploaded Apple token file (base64 of JSON with
-- token, expDate, orgName): on create, on a renewal's PATCH and on sync.
describe("sandbox Apple token files", function()
  local files = require "support.tokenfiles"
  local sb = helper.sandbox_suite()

  it("derives expirationDateTime and organizationName on create, and after a renewal once a sync completed", function()
    local file = files.apple_file({ expDate = "2027-05-25T20:08:56-0700", orgName = "Contoso" })
    local st, t = graph(sb, "POST", COLL, { token = file, appleId = "vpp@contoso.com" })
    assert.equal(201, st, cjson.encode(t))
    assert.equal("2027-05-26T03:08:56Z", t.expirationDateTime)
    assert.equal("Contoso", t.organizationName)
    assert.equal(file, t.token)
    sb:configure({ sync_seconds = 0 })
    local renewed = files.apple_file({ expDate = "2028-06-01T09:00:00+0200", orgName = "Contoso Ltd" })
    st = graph(sb, "PATCH", COLL .. "/" .. t.id, { token = renewed })
    assert.equal(204, st)
    local got
    st, got = graph(sb, "GET", COLL .. "/" .. t.id)
    assert.equal(200, st)
    assert.equal(renewed, got.token)
    assert.equal("2027-05-26T03:08:56Z", got.expirationDateTime) -- lags until Intune syncs with Apple
    st = graph(sb, "POST", COLL .. "/" .. t.id .. "/syncLicenses")
    assert.equal(200, st)
    st, got = graph(sb, "GET", COLL .. "/" .. t.id)
    assert.equal(200, st)
    assert.equal("completed", got.lastSyncStatus)
    assert.equal("2028-06-01T07:00:00Z", got.expirationDateTime)
    assert.equal("Contoso Ltd", got.organizationName)
  end)

  it("answers 400 BadRequest, as Intune does, to a token that is not an Apple token file", function()
    local cases = { "t", "not base64 at all!", files.b64("[1,2]"), files.apple_file({ expDate = false }),
                    files.apple_file({ expDate = "next May" }), files.apple_file({ orgName = "" }) }
    for _, token in ipairs(cases) do
      local st, body = graph(sb, "POST", COLL, { token = token })
      assert.equal(400, st, token)
      assert.equal("BadRequest", body.error.code)
      assert.matches("not the content of an Apple VPP token file", body.error.message, 1, true)
    end
    local st, t = graph(sb, "POST", COLL, { token = files.apple_file() })
    assert.equal(201, st)
    local body
    st, body = graph(sb, "PATCH", COLL .. "/" .. t.id, { token = "renewed-but-not-a-file" })
    assert.equal(400, st)
    assert.equal("BadRequest", body.error.code)
    assert.equal(files.apple_file(), select(2, graph(sb, "GET", COLL .. "/" .. t.id)).token)
  end)

  it("takes placeholders again after POST /_sandbox/config {\"apple_token_files\": false}", function()
    sb:configure({ apple_token_files = false })
    local st, t = graph(sb, "POST", COLL, { token = "placeholder" })
    assert.equal(201, st)
    assert.equal("placeholder", t.token)
    assert.equal(cjson.null, t.expirationDateTime)
    assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. t.id, { token = "another" })))
    sb:reset()
    assert.equal(400, (graph(sb, "POST", COLL, { token = "placeholder" })))
  end)

  it("takes placeholders from the start with \"apple_token_files\": false in --config, after a reset too", function()
    local cfg = helper.temp_file('{"apple_token_files": false}')
    local own = helper.start_sandbox({ "--config", cfg })
    local st = graph(own, "POST", COLL, { token = "placeholder" })
    own:reset()
    local st2 = graph(own, "POST", COLL, { token = "placeholder" })
    own:stop()
    os.remove(cfg)
    assert.equal(201, st)
    assert.equal(201, st2)
    local bad = helper.temp_file('{"apple_token_files": "no"}')
    local ok, err = pcall(helper.start_sandbox, { "--config", bad })
    os.remove(bad)
    assert.is_false(ok)
    assert.matches('"apple_token_files" must be true or false', tostring(err), 1, true)
  end)
end)

describe("vpptoken-sandbox make-token", function()
  local sb = helper.sandbox_suite()
  local function make(args)
    local line = { helper.sandbox_wrapper or "", helper.shell_quote(helper.sandbox_bin), "make-token" }
    for _, a in ipairs(args) do line[#line + 1] = helper.shell_quote(a) end
    local errfile = os.tmpname()
    local p = io.popen(table.concat(line, " ") .. " 2>" .. errfile)
    local out = p:read("*a")
    local _, _, code = p:close()
    local err = read(errfile)
    os.remove(errfile)
    return code, out, err
  end

  it("writes a sample token file the sandbox reads the organization and expiry from", function()
    local path = os.tmpname()
    local code, out, err = make({ "--org", "Fabrikam", "--apple-id", "vpp@fabrikam.com", "--expires",
                                  "2031-02-03T04:05:06Z", "--out", path })
    assert.equal(0, code, err)
    assert.equal("", out)
    local content = read(path):gsub("\n$", "")
    os.remove(path)
    assert.equal(helper.apple_token({ org = "Fabrikam", apple_id = "vpp@fabrikam.com",
                                      expires = "2031-02-03T04:05:06Z" }), content, "one maker for both")
    local st, t = graph(sb, "POST", COLL, { token = content, appleId = "vpp@fabrikam.com" })
    assert.equal(201, st, cjson.encode(t))
    assert.equal("Fabrikam", t.organizationName)
    assert.equal("2031-02-03T04:05:06Z", t.expirationDateTime)
    -- the library reads it too, as the CLI's create --file does
    local vpptoken = require "vpptoken"
    local file = assert(vpptoken.read_token_file(helper.temp_file(content)))
    assert.equal("Fabrikam", file.organization)
  end)

  it("prints to stdout without --out; takes YYYY-MM-DD and days from now", function()
    local code, out = make({ "--org", "Contoso", "--apple-id", "a@contoso.com", "--expires", "2030-01-02" })
    assert.equal(0, code)
    local st, t = graph(sb, "POST", COLL, { token = out:gsub("\n$", "") })
    assert.equal(201, st)
    assert.equal("2030-01-02T00:00:00Z", t.expirationDateTime)
    local before = os.date("!%Y-%m-%d", os.time() - 3 * 86400) -- (and after: the run may cross midnight)
    code, out = make({ "--org", "Contoso", "--apple-id", "a@contoso.com", "--expires", "-3" })
    local after = os.date("!%Y-%m-%d", os.time() - 3 * 86400)
    assert.equal(0, code)
    st, t = graph(sb, "POST", COLL, { token = out:gsub("\n$", "") })
    assert.equal(201, st)
    local day = t.expirationDateTime:sub(1, 10)
    assert.is_true(day == before or day == after, t.expirationDateTime)
  end)

  it("exits 2 with a reason on a missing or bad argument", function()
    local cases = {
      { { "--org", "X", "--apple-id", "a" }, "--expires is required" },
      { { "--org", "X", "--apple-id", "a", "--expires", "soon" }, "--expires wants" },
      { { "--org", "X", "--apple-id", "a", "--expires", "2030-02-30" }, "--expires wants" },
      { { "--bogus" }, "unknown argument '--bogus'" },
      { { "--org" }, "--org needs a value" },
    }
    for _, c in ipairs(cases) do
      local code, out, err = make(c[1])
      assert.equal(2, code, table.concat(c[1], " "))
      assert.equal("", out)
      assert.matches(c[2], err, 1, true)
    end
  end)
end)

-- --seed-tokens N [--seed S]: a tenant to try things on, the same for the same seed.
describe("sandbox --seed-tokens", function()
  local vpptoken = require "vpptoken"
  local schema = require "vpptoken.schema"

  -- Every token of a sandbox started with args, as the list shows them (all pages), and the sandbox's stderr.
  local function seeded(args)
    local sb = helper.start_sandbox(args)
    local client = vpptoken.new{ base_url = sb.graph, access_token = "seed-spec" }
    local list, err = client:list()
    local after_reset
    sb:reset()
    after_reset = client:list()
    client:close()
    sb:stop()
    assert(list, tostring(err))
    return list, after_reset
  end

  -- The lists of two starts with the same seed (dated from the UTC day: started again if a day began between).
  local function two_starts(args_a, args_b)
    for _ = 1, 2 do
      local day = os.date("!%Y-%m-%d")
      local a = seeded(args_a)
      local b = seeded(args_b)
      if os.date("!%Y-%m-%d") == day then return a, b end
    end
    error("the UTC day changed twice")
  end

  it("gives identical tokens, ids included, to two starts with the same seed, and others to another seed", function()
    local a, b = two_starts({ "--seed-tokens", "60", "--seed", "42" }, { "--seed-tokens", "60", "--seed", "42" })
    assert.equal(60, #a)
    assert.same(a, b)
    local c = seeded({ "--seed-tokens", "60", "--seed", "43" })
    assert.equal(60, #c)
    local ids_a, ids_c = {}, {}
    for i = 1, 60 do ids_a[i], ids_c[i] = a[i].id, c[i].id end
    assert.are_not.same(ids_a, ids_c)
  end)

  -- seeded(args), with the sandbox's wall clock started at `at` (seconds since the epoch) by libfaketime (monotonic
  -- time real), under any VPPTOKEN_SANDBOX_WRAPPER. Through env, which execs: the faketime command forks, and
  -- stopping it would leave the sandbox running. Without FAKETIME_SHARED (set when the specs themselves run under
  -- faketime, as in make test-clock): with it, "@" times count from when that outer clock started.
  local function seeded_at(args, at)
    assert(os.execute("command -v faketime >/dev/null"), "faketime is needed (Debian package faketime)")
    local saved = helper.sandbox_wrapper
    -- under ASan (make check-asan) the preloaded libfaketime comes before ASan's runtime, which ASan allows when told
    local asan = os.getenv("ASAN_OPTIONS")
    asan = asan and ("ASAN_OPTIONS=" .. helper.shell_quote(asan .. ":verify_asan_link_order=0") .. " ") or ""
    helper.sandbox_wrapper = "env -u FAKETIME_SHARED TZ=UTC " .. asan
      .. "LD_PRELOAD='/usr/$LIB/faketime/libfaketime.so.1' "
      .. "FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME=" .. helper.shell_quote(os.date("!@%Y-%m-%d %H:%M:%S", at))
      .. (saved and (" " .. saved) or "")
    local ok, list, after_reset = pcall(seeded, args)
    helper.sandbox_wrapper = saved
    assert(ok, list)
    return list, after_reset
  end

  it("gives the same tokens all day long, a token expired exactly when the library says it is", function()
    -- 01:00 and 23:00 UTC of the specs' day: an hour either side for the time a start takes
    local day = os.time() // 86400 * 86400
    local early_at, late_at = day + 3600, day + 86400 - 3600
    local args = { "--seed-tokens", "1500", "--seed", "11" }
    local early = seeded_at(args, early_at)
    local late = seeded_at(args, late_at)
    assert.equal(1500, #late)
    assert.same(early, late, "the same seed gives the same tokens at 01:00 and at 23:00 UTC")
    local expired = 0
    for _, t in ipairs(late) do
      for _, at in ipairs({ early_at, late_at }) do
        assert.equal(vpptoken.days_left(t, at) <= 0, t.state == "expired", t.expirationDateTime .. " " .. t.state)
      end
      if t.state == "expired" then expired = expired + 1 end
    end
    assert.truthy(expired >= 300, expired .. " expired")
  end)

  it("makes a realistic mix that the library reads: states, expiries past and coming, syncs, organizations",
     function()
    local list, after_reset = seeded({ "--seed-tokens", "200", "--seed", "7" })
    assert.equal(200, #list)
    assert.same(list, after_reset, "a reset brings the seeded tokens back")
    local now = os.time()
    local states, syncs, orgs, apple_ids, past, coming, ids = {}, {}, {}, {}, 0, 0, {}
    for _, t in ipairs(list) do
      -- every writable property passes the library's checks of what it sends
      local fields = {}
      for k, v in pairs(t) do
        if schema.property_kind(k) and schema.property_kind(k) ~= "readonly" and v ~= cjson.null then fields[k] = v end
      end
      assert(schema.check_fields(fields, "update", false))
      assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", t.id)
      assert.is_nil(ids[t.id], "ids are unique")
      ids[t.id] = true
      -- the token is an Apple token file that agrees with the token's organization and expiry
      local file = assert(vpptoken.read_token_file(helper.temp_file(t.token)))
      assert.equal(t.organizationName, file.organization)
      local expires = assert(vpptoken.time.parse(t.expirationDateTime))
      assert.equal(expires, file.expires)
      -- expired exactly when the library says so
      assert.equal(vpptoken.days_left(t, now) <= 0, t.state == "expired", t.expirationDateTime .. " " .. t.state)
      if expires <= now then past = past + 1 else coming = coming + 1 end
      assert.truthy(expires > now - 366 * 86400 and expires < now + 366 * 86400, t.expirationDateTime)
      assert.are_not.equal("inProgress", t.lastSyncStatus)
      local no_sync_date = t.lastSyncDateTime == nil or t.lastSyncDateTime == cjson.null
      assert.equal(t.lastSyncStatus == "none", no_sync_date, cjson.encode(t))
      states[t.state], syncs[t.lastSyncStatus] = true, true
      orgs[t.organizationName], apple_ids[t.appleId] = true, true
    end
    for _, s in ipairs({ "valid", "expired", "invalid", "assignedToExternalMDM" }) do
      assert.is_true(states[s], "no " .. s .. " token")
    end
    for _, s in ipairs({ "none", "completed", "failed" }) do assert.is_true(syncs[s], "no " .. s .. " sync") end
    local norgs, napple = 0, 0
    for _ in pairs(orgs) do norgs = norgs + 1 end
    for _ in pairs(apple_ids) do napple = napple + 1 end
    assert.truthy(norgs >= 5, norgs .. " organizations")
    assert.truthy(napple >= 10, napple .. " Apple IDs")
    assert.truthy(past >= 20 and coming >= 100, past .. " past, " .. coming .. " coming")
  end)

  it("refuses more than 100000 tokens, or a count or seed that is not a number, saying why", function()
    for _, args in ipairs({ { "--seed-tokens", "100001" }, { "--seed-tokens", "-1" }, { "--seed-tokens", "many" },
                            { "--seed-tokens", "5", "--seed", "x" } }) do
      local p = helper.spawn_sandbox(args)
      local code, log = p:finish()
      assert.equal(2, code, table.concat(args, " "))
      assert.matches(args[#args - 1] .. " wants an integer", log, 1, true)
    end
    local p = helper.spawn_sandbox({ "--seed-tokens", "100001" })
    local _, log = p:finish()
    assert.matches("0..100000", log, 1, true)
  end)

  it("fills an empty --data file only", function()
    local data = os.tmpname()
    os.remove(data)
    local sb = helper.start_sandbox({ "--data", data, "--seed-tokens", "3" })
    local _, list = graph(sb, "GET", COLL)
    assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. list.value[1].id)))
    sb:stop()
    sb = helper.start_sandbox({ "--data", data, "--seed-tokens", "3" })
    local _, again = graph(sb, "GET", COLL)
    sb:stop()
    os.remove(data)
    assert.equal(3, #list.value)
    assert.equal(2, #again.value)
  end)
end)

-- The README's sandbox section is the manual: its one-liners run, and it names every option --help has.
describe("the README's sandbox section", function()
  local readme = helper.docs_text()
  local section = assert(readme:match("\n## The sandbox\n(.-)\n## "), "no sandbox section")

  -- The words of a command line (double quotes group words; nothing else is shell syntax here).
  local function words(line)
    local out, rest = {}, line
    while rest ~= "" do
      rest = rest:gsub("^%s+", "")
      if rest == "" then break end
      local quoted, after = rest:match('^"([^"]*)"(.*)$')
      if quoted then
        out[#out + 1], rest = quoted, after
      else
        local word
        word, rest = rest:match("^(%S+)(.*)$")
        out[#out + 1] = word
      end
    end
    return out
  end

  it("has vpptoken-sandbox one-liners that run as written (on a free port, files in a temporary directory)",
     function()
    local dir = temp_dir()
    local ran = 0
    for block in section:gmatch("```sh\n(.-)```") do
      for line in block:gmatch("[^\n]+") do
        local cmd = line:gsub("%s+#.*$", ""):gsub("%s+&&.*$", "")
        if cmd:match("^vpptoken%-sandbox ") then
          local args = words(cmd)
          table.remove(args, 1)
          for i, a in ipairs(args) do
            if args[i - 1] == "--port" then args[i] = "0" end
            if args[i - 1] == "--out" or args[i - 1] == "--data" or args[i - 1] == "--journal" then
              args[i] = dir .. "/" .. a
            end
          end
          if args[1] == "make-token" then
            local line_args = {}
            for i, a in ipairs(args) do line_args[i] = helper.shell_quote(a) end
            local ok = os.execute((helper.sandbox_wrapper or "") .. " " .. helper.shell_quote(helper.sandbox_bin) .. " "
                                  .. table.concat(line_args, " "))
            assert.is_true(ok, line)
            assert.truthy(read(args[#args]), line .. " wrote nothing")
          else
            table.insert(args, 1, "127.0.0.1")
            table.insert(args, 1, "--host")
            local sb = helper.start_sandbox(args)
            assert.equal(200, (http("GET", sb.url .. "/health")))
            sb:stop()
          end
          ran = ran + 1
        end
      end
    end
    os.execute("rm -rf " .. helper.shell_quote(dir))
    assert.truthy(ran >= 6, ran .. " one-liners")
  end)

  it("names every option of --help, and --help has every option its commands use", function()
    local p = io.popen(helper.shell_quote(helper.sandbox_bin) .. " --help")
    local help = p:read("*a")
    p:close()
    for opt in help:gmatch("\n%s+(%-%-[%w-]+)") do
      assert.truthy(section:find("`" .. opt, 1, true) or section:find(" " .. opt .. " ", 1, true),
                    opt .. " is not in the README's sandbox section")
    end
    p = io.popen(helper.shell_quote(helper.sandbox_bin) .. " make-token --help")
    help = help .. p:read("*a")
    p:close()
    local used = 0
    for line in section:gmatch("[^\n]+") do
      if line:match("^vpptoken%-sandbox ") then
        for opt in line:gmatch("%s(%-%-[%w-]+)") do
          assert.truthy(help:find(opt .. " ", 1, true), opt .. " is in the README but not in --help")
          used = used + 1
        end
      end
    end
    assert.truthy(used >= 10, used .. " options")
  end)
end)
