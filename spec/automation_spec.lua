-- The automation helpers against a sandbox on loopback: days_left, expiring, wait_for_sync, renew, find
-- (read_token_file: tokenfile_spec.lua).
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local cjson = require "cjson"
local vpptoken = require "vpptoken"

local ACCESS = "spec-access-token-automation"
local DAY = 86400
local NOW = 1800000000 -- 2027-01-15T08:00:00Z: a fixed "now" for the date arithmetic
local files = require "support.tokenfiles"
local SECRET, apple_file = files.SECRET, files.apple_file

describe("automation helpers", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS }
  local client, dir, nfiles = nil, nil, 0

  local function write(content)
    nfiles = nfiles + 1
    local path = dir .. "/t" .. nfiles .. ".vpptoken"
    local f = assert(io.open(path, "wb"))
    f:write(content)
    f:close()
    return path
  end

  local function make(fields)
    local t = { organizationName = "Contoso", vppTokenAccountType = "business", appleId = "admin@contoso.com",
                token = apple("old-token-content"), state = "valid" }
    for k, v in pairs(fields or {}) do t[k] = v end
    for k, v in pairs(t) do if v == false then t[k] = nil end end
    if t.expirationDateTime == cjson.null then -- a token Graph shows without a date: the library sends no null
      local st, body = helper.http("POST", sb.graph .. "/deviceAppManagement/vppTokens", t,
                                   { authorization = "Bearer " .. ACCESS })
      assert(st == 201, cjson.encode(body))
      return body
    end
    return assert(client:create(t))
  end

  local function requests(method)
    local n = 0
    for _, r in ipairs(sb:requests()) do if r.method == method then n = n + 1 end end
    return n
  end

  local function raises(pattern, fn)
    local ok, msg = pcall(fn)
    assert.is_false(ok)
    assert.matches(pattern, tostring(msg))
  end

  setup(function()
    client = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.02 }
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helper.shell_quote(dir)))
  end)

  teardown(function()
    if client then client:close() end
    if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)


  describe("vpptoken.days_left", function()
    local function at(seconds) return { expirationDateTime = vpptoken.time.format(seconds) } end

    it("rounds a part of a day up for a future expiry", function()
      assert.equal(3, vpptoken.days_left(at(NOW + 2.1 * DAY), NOW))
      assert.equal(2, vpptoken.days_left(at(NOW + 2 * DAY), NOW))
      assert.equal(1, vpptoken.days_left(at(NOW + 1), NOW))
      assert.equal("1", tostring(vpptoken.days_left(at(NOW + 1), NOW))) -- a whole number: not 1.0 on Lua 5.3+
    end)

    it("is 0 from the moment of expiry until a day later, then negative whole days", function()
      assert.equal(0, vpptoken.days_left(at(NOW), NOW))
      assert.equal(0, vpptoken.days_left(at(NOW - 0.5 * DAY), NOW))
      assert.equal(-1, vpptoken.days_left(at(NOW - DAY), NOW))
      assert.equal(-1, vpptoken.days_left(at(NOW - 1.5 * DAY), NOW))
      assert.equal(-2, vpptoken.days_left(at(NOW - 2 * DAY), NOW))
    end)

    it("reads Graph's text with a zone offset and tokens far in the future", function()
      -- 09:00 at +01:00 is 08:00 UTC: exactly two days after NOW (read as UTC it would be 2 days and 1 hour)
      assert.equal(2, vpptoken.days_left({ expirationDateTime = "2027-01-17T09:00:00+01:00" }, NOW))
      assert.equal(3, vpptoken.days_left({ expirationDateTime = "2027-01-17T08:00:00.5Z" }, NOW))
      assert.equal(2932897, vpptoken.days_left({ expirationDateTime = "9999-12-31T23:59:59Z" }, 0))
    end)

    it("defaults now to the current time", function()
      assert.equal(11, vpptoken.days_left(at(os.time() + 10 * DAY + 600)))
    end)

    it("is nil for a token without an expiry date, and nil plus a message for an unreadable one", function()
      local v, msg = vpptoken.days_left({ id = "x" }, NOW)
      assert.is_nil(v)
      assert.is_nil(msg)
      v, msg = vpptoken.days_left({ expirationDateTime = "next Tuesday" }, NOW)
      assert.is_nil(v)
      assert.matches("expirationDateTime: invalid DateTimeOffset", msg)
    end)

    it("works on a token as Graph returns it", function()
      local t = make{ expirationDateTime = NOW + 45 * DAY }
      assert.equal(45, vpptoken.days_left(t, NOW))
    end)

    it("raises on a token that is not a table or a now that is not a number", function()
      raises("days_left: token must be a table", function() vpptoken.days_left("2027-01-01T00:00:00Z") end)
      raises("days_left: now must be seconds", function() vpptoken.days_left({}, "today") end)
    end)
  end)

  describe("client:expiring", function()
    local function by_apple(list)
      local out = {}
      for i, e in ipairs(list) do out[i] = e.token.appleId end
      return out
    end

    local function seed()
      make{ appleId = "far", expirationDateTime = NOW + 400 * DAY }
      make{ appleId = "soon", expirationDateTime = NOW + 2.5 * DAY }
      make{ appleId = "boundary", expirationDateTime = NOW + 30 * DAY }
      make{ appleId = "past-boundary", expirationDateTime = NOW + 30 * DAY + 1 }
      make{ appleId = "expired", state = "expired", expirationDateTime = NOW - 2 * DAY }
      make{ appleId = "invalid", state = "invalid", expirationDateTime = NOW + 300 * DAY }
      make{ appleId = "external", state = "assignedToExternalMDM", expirationDateTime = NOW + 200 * DAY }
      make{ appleId = "unknown", state = "unknown", expirationDateTime = NOW + 100 * DAY }
      make{ appleId = "nodate", expirationDateTime = cjson.null }
      make{ appleId = "lapsed", expirationDateTime = NOW - 0.25 * DAY }
    end

    it("lists tokens expiring within the days, any state but valid, and missing dates, soonest first", function()
      seed()
      local list = assert(client:expiring{ within_days = 30, now = NOW })
      assert.same({ "expired", "lapsed", "soon", "boundary", "unknown", "external", "invalid", "nodate" },
        by_apple(list))
      local why = {}
      for _, e in ipairs(list) do why[e.token.appleId] = e end
      assert.equal("state is expired; expired 2 days ago", why.expired.reason)
      assert.same({ "state is expired", "expired 2 days ago" }, why.expired.reasons)
      assert.equal(-2, why.expired.days_left)
      assert.equal("expired less than a day ago", why.lapsed.reason)
      assert.equal("expires in 3 days", why.soon.reason)
      assert.equal(3, why.soon.days_left)
      assert.equal("expires in 30 days", why.boundary.reason)
      assert.equal("state is invalid", why.invalid.reason)
      assert.equal(300, why.invalid.days_left)
      assert.equal("state is assignedToExternalMDM", why.external.reason)
      assert.equal("state is unknown", why.unknown.reason)
      assert.equal("no expiration date", why.nodate.reason)
      assert.is_nil(why.nodate.days_left)
      assert.is_string(why.soon.token.id)
    end)

    it("within_days = 0 keeps only what has expired or is not valid; the default is 30 days", function()
      seed()
      assert.same({ "expired", "lapsed", "unknown", "external", "invalid", "nodate" },
        by_apple(assert(client:expiring{ within_days = 0, now = NOW })))
      assert.same(by_apple(assert(client:expiring{ within_days = 30, now = NOW })),
        by_apple(assert(client:expiring{ now = NOW })))
      assert.equal(9, #assert(client:expiring{ within_days = 365, now = NOW }))
    end)

    it("is an empty array when every token is valid and far from expiry", function()
      make{ expirationDateTime = NOW + 90 * DAY }
      assert.same({}, assert(client:expiring{ within_days = 30, now = NOW }))
    end)

    it("flags a state this library does not know (beta's duplicateLocationId)", function()
      local beta = vpptoken.new{ base_url = sb.beta, access_token = ACCESS }
      assert(beta:create{ appleId = "dup", token = apple(), state = "duplicateLocationId",
                          expirationDateTime = NOW + 200 * DAY })
      local list = assert(beta:expiring{ now = NOW })
      beta:close()
      assert.equal(1, #list)
      assert.equal("state is duplicateLocationId", list[1].reason)
    end)

    it("returns nil, err when Graph fails", function()
      sb:fail_next(1, 403)
      local list, err = client:expiring{ now = NOW }
      assert.is_nil(list)
      assert.equal(403, err.status)
      assert.is_true(vpptoken.is_error(err))
    end)

    it("raises on a bad within_days or option, before any request", function()
      raises("within_days must be a number of days >= 0", function() client:expiring{ within_days = -1 } end)
      raises("within_days must be a number", function() client:expiring{ within_days = "30" } end)
      raises("within_days must be a number", function() client:expiring{ within_days = 0 / 0 } end)
      raises("within_days must be a number", function() client:expiring{ within_days = math.huge } end)
      raises("unknown option 'days'", function() client:expiring{ days = 30 } end)
      raises("options must be a table", function() client:expiring(30) end)
      assert.equal(0, #sb:requests())
    end)
  end)

  describe("client:wait_for_sync", function()
    it("polls until the sync completes and returns the token, sleeping between polls", function()
      sb:configure{ sync_seconds = 0.6 }
      local t = make()
      assert.equal("inProgress", assert(client:sync_licenses(t.id)).lastSyncStatus)
      local tok = assert(client:wait_for_sync(t.id, { timeout = 30, interval = 0.1 }))
      assert.equal(t.id, tok.id)
      assert.equal("completed", tok.lastSyncStatus)
      local gets = requests("GET")
      assert.is_true(gets >= 2, "polled " .. gets .. " times")
      assert.is_true(gets <= 40, "busy polling: " .. gets .. " requests")
    end)

    it("returns at once with one request when no sync is running", function()
      local t = make()
      local tok = assert(client:wait_for_sync(t.id))
      assert.equal("none", tok.lastSyncStatus)
      assert.equal(1, requests("GET"))
    end)

    it("returns a failed sync as the token: the caller checks lastSyncStatus", function()
      local t = make{ lastSyncStatus = "failed" }
      assert.equal("failed", assert(client:wait_for_sync(t.id, { timeout = 1 })).lastSyncStatus)
    end)

    it("gives up after the timeout with a SyncTimeout error, polling at the interval", function()
      sb:configure{ sync_seconds = 60 }
      local t = make()
      assert(client:sync_licenses(t.id))
      local started = os.time()
      local tok, err = client:wait_for_sync(t.id, { timeout = 0.5, interval = 0.2 })
      assert.is_nil(tok)
      assert.is_true(vpptoken.is_error(err))
      assert.equal("timeout", err.kind)
      assert.equal("SyncTimeout", err.code)
      assert.matches("still in progress after 0%.5 seconds", tostring(err))
      assert.is_true(os.time() - started < 20)
      local gets = requests("GET")
      -- at the interval: more than once, and never a busy loop (each poll may be slow on a loaded machine)
      assert.is_true(gets >= 2 and gets <= 6, "polled " .. gets .. " times")
      assert.equal(gets, err.polls)
    end)

    it("returns Graph's error, such as a 404 for a token that does not exist", function()
      local tok, err = client:wait_for_sync("no-such-token", { timeout = 1 })
      assert.is_nil(tok)
      assert.equal(404, err.status)
    end)

    it("raises on a bad id or option", function()
      raises("wait_for_sync: id must be a string", function() client:wait_for_sync(nil) end)
      raises("timeout must be a number of seconds >= 0", function() client:wait_for_sync("x", { timeout = -1 }) end)
      raises("interval must be a number of seconds > 0", function() client:wait_for_sync("x", { interval = 0 }) end)
      raises("unknown option 'every'", function() client:wait_for_sync("x", { every = 1 }) end)
      assert.equal(0, #sb:requests())
    end)
  end)

  describe("client:renew", function()
    local function patched_token()
      for _, r in ipairs(sb:requests()) do
        if r.method == "PATCH" then return cjson.decode(r.body) end
      end
    end

    it("uploads the file's content as token and reports the file's expiry while Graph's lags", function()
      local t = make{ expirationDateTime = "2030-01-01T00:00:00Z" }
      local exp_date, _, at = files.expires_in(400)
      local content = apple_file{ expDate = exp_date }
      local updated, info = client:renew(t.id, write(content))
      assert.is_table(updated, tostring(info))
      assert.equal(t.id, updated.id)
      assert.same({ token = "<redacted>" }, patched_token()) -- the request log hides the secret
      assert.equal(content, updated.token)
      assert.equal(content, assert(client:get(t.id)).token)
      assert.equal(at, info.expires)
      assert.equal((exp_date:gsub("%-0700$", "-07:00")), info.expiration)
      assert.equal("2030-01-01T00:00:00Z", info.previous_expiration)
      assert.equal(vpptoken.time.parse("2030-01-01T00:00:00Z"), info.previous_expires)
      assert.equal("2030-01-01T00:00:00Z", info.graph_expiration)
      assert.is_true(info.lagging)
      assert.matches("Graph still shows the expiry 2030%-01%-01T00:00:00Z", info.note)
      assert.equal("Contoso", info.organization)
    end)

    it("accepts the file's content as a string", function()
      local t = make{ expirationDateTime = "2030-01-01T00:00:00Z" }
      local exp_date, _, at = files.expires_in(500)
      local content = apple_file{ expDate = exp_date }
      local updated, info = client:renew(t.id, content)
      assert.is_table(updated, tostring(info))
      assert.same({ token = "<redacted>" }, patched_token())
      assert.equal(content, updated.token)
      assert.equal(at, info.expires)
    end)

    it("says Graph is up to date when it already shows the file's expiry", function()
      local exp_date, graph_date = files.expires_in(400)
      local t = make{ expirationDateTime = graph_date }
      local _, info = client:renew(t.id, apple_file{ expDate = exp_date })
      assert.is_false(info.lagging)
      assert.is_nil(info.note)
      assert.equal(graph_date, info.graph_expiration)
    end)

    it("works when Graph answers the PATCH with 204 No Content", function()
      sb:configure{ honor_prefer = false }
      local t = make{ expirationDateTime = "2030-01-01T00:00:00Z" }
      local updated, info = client:renew(t.id, apple_file())
      assert.is_table(updated, tostring(info))
      assert.equal(t.id, updated.id)
      assert.is_true(info.lagging)
      assert.equal("2030-01-01T00:00:00Z", info.graph_expiration)
      assert.matches("Graph still shows the expiry 2030%-01%-01T00:00:00Z", info.note)
      local log = sb:requests()
      assert.equal("PATCH", log[#log - 1].method)
      assert.equal(204, log[#log - 1].status)
      assert.equal("GET", log[#log].method)
    end)

    it("sends nothing when the file has expired or cannot be read", function()
      local t = make()
      sb:reset()
      local ok, err = client:renew(t.id, write(apple_file{ expDate = "2001-01-01T00:00:00Z" }))
      assert.is_nil(ok)
      assert.equal("TokenFileExpired", err.code)
      assert.matches("expired on 2001%-01%-01T00:00:00Z", tostring(err))
      ok, err = client:renew(t.id, write(""))
      assert.is_nil(ok)
      assert.equal("TokenFileEmpty", err.code)
      assert.equal(0, #sb:requests())
    end)

    it("treats a string that is no file as content, and never echoes it in the error", function()
      local typo = "/no/such/dir/" .. SECRET .. ".vpptoken"
      local ok, err = client:renew("any-id", typo)
      assert.is_nil(ok)
      assert.equal("TokenFileNotBase64", err.code)
      assert.matches("not the path of an existing file", tostring(err), 1, true)
      assert.is_nil(tostring(err):find(SECRET, 1, true))
      assert.equal(0, #sb:requests())
    end)

    it("returns Graph's 404 for an unknown id without uploading anything", function()
      local ok, err = client:renew("no-such-token", apple_file())
      assert.is_nil(ok)
      assert.equal(404, err.status)
      assert.equal(0, requests("PATCH"))
    end)

    it("raises on a bad id or a source that is not a string", function()
      raises("renew: id must be a string", function() client:renew(1, apple_file()) end)
      raises("renew: expected the path of a .vpptoken file or its content", function() client:renew("x", nil) end)
      raises("renew: expected the path", function() client:renew("x", "") end)
    end)
  end)

  describe("client:find", function()
    local function apple_ids(list)
      local out = {}
      for i, t in ipairs(list) do out[i] = t.appleId end
      table.sort(out)
      return out
    end

    before_each(function()
      make{ appleId = "a@contoso.com", organizationName = "Contoso" }
      make{ appleId = "B@Fabrikam.com", organizationName = "Fabrikam", state = "expired" }
      make{ appleId = "c@contoso.com", organizationName = "Contoso", state = "invalid" }
      make{ appleId = "d@contoso.com", organizationName = "contoso" }
    end)

    it("finds by apple_id without regard to case", function()
      assert.same({ "B@Fabrikam.com" }, apple_ids(assert(client:find{ apple_id = "b@fabrikam.com" })))
      assert.same({ "a@contoso.com" }, apple_ids(assert(client:find{ apple_id = "A@CONTOSO.COM" })))
    end)

    it("finds by organization (exact) and sends it as $filter too", function()
      assert.same({ "a@contoso.com", "c@contoso.com" }, apple_ids(assert(client:find{ organization = "Contoso" })))
      local path = sb:requests()[5].path
      assert.matches("%$filter=organizationName%%20eq%%20%%27Contoso%%27", path)
    end)

    it("finds by state", function()
      assert.same({ "B@Fabrikam.com" }, apple_ids(assert(client:find{ state = vpptoken.State.expired })))
      assert.same({ "a@contoso.com", "d@contoso.com" }, apple_ids(assert(client:find{ state = "valid" })))
    end)

    it("needs every given field to match, and finds nothing when none does", function()
      assert.same({ "c@contoso.com" },
        apple_ids(assert(client:find{ organization = "Contoso", state = "invalid", apple_id = "C@contoso.com" })))
      assert.same({}, assert(client:find{ organization = "Fabrikam", state = "valid" }))
      assert.same({}, assert(client:find{ apple_id = "nobody@contoso.com" }))
    end)

    it("lists again without $filter when Graph rejects the filter", function()
      sb:fail_next(1, 400, { method = "GET" })
      assert.same({ "c@contoso.com" }, apple_ids(assert(client:find{ state = "invalid" })))
      assert.equal(2, requests("GET"))
    end)

    it("returns nil, err when listing fails", function()
      sb:fail_next(1, 403)
      local ok, err = client:find{ apple_id = "a@contoso.com" }
      assert.is_nil(ok)
      assert.equal(403, err.status)
    end)

    it("raises on an unknown field, a bad state, a non-string value or no field", function()
      raises("unknown field 'appleId'", function() client:find{ appleId = "a" } end)
      raises("did you mean 'valid'", function() client:find{ state = "Valid" } end)
      raises("apple_id must be a non%-empty string", function() client:find{ apple_id = 1 } end)
      raises("give at least one of", function() client:find{} end)
      raises("expected a table", function() client:find("a@contoso.com") end)
    end)
  end)
end)
