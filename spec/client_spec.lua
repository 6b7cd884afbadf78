-- The public Lua API against a real sandbox on loopback: operations, errors, retries, validation.
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local vpptoken = require "vpptoken"

local ACCESS = "spec-access-token-1234567890"

describe("vpptoken client", function()
  local sb = helper.sandbox_suite{ "--access-token", ACCESS, "--sync-seconds", "0.3" }
  local client

  local function new_client(extra)
    local opts = { base_url = sb.graph, access_token = ACCESS, retry_delay = 0.02, max_retries = 3 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return vpptoken.new(opts)
  end

  local function sample(overrides)
    local t = { organizationName = "Contoso", vppTokenAccountType = vpptoken.AccountType.business,
                appleId = "admin@contoso.com", token = apple("apple-vpp-secret-token"), automaticallyUpdateApps = true,
                countryOrRegion = "us", expirationDateTime = "2027-05-25T20:08:56-07:00" }
    for k, v in pairs(overrides or {}) do t[k] = v end
    return t
  end

  setup(function()
    client = new_client()
  end)

  teardown(function()
    if client then client:close() end
  end)

  describe("operations", function()
    it("create returns the token with the id and lastModifiedDateTime the server filled in", function()
      local t = assert(client:create(sample()))
      assert.is_string(t.id)
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", t.id)
      assert.is_string(t.lastModifiedDateTime)
      assert.equal("Contoso", t.organizationName)
      assert.equal("business", t.vppTokenAccountType)
      assert.equal(true, t.automaticallyUpdateApps)
      local log = sb:requests()
      assert.equal(1, #log)
      assert.equal("POST", log[1].method)
      assert.equal("/v1.0/deviceAppManagement/vppTokens", log[1].path)
      assert.equal("Bearer <redacted>", log[1].headers.authorization)
    end)

    it("get returns the same token by id", function()
      local t = assert(client:create(sample{ appleId = "get@contoso.com" }))
      local g = assert(client:get(t.id))
      assert.equal(t.id, g.id)
      assert.equal("get@contoso.com", g.appleId)
    end)

    it("get with select asks the server for those properties only", function()
      local t = assert(client:create(sample()))
      local g = assert(client:get(t.id, { select = { "appleId", "state" } }))
      assert.equal(t.id, g.id)
      assert.equal("admin@contoso.com", g.appleId)
      assert.is_nil(g.organizationName)
      assert.matches("%$select=appleId%%2Cstate", sb:requests()[2].path)
    end)

    it("list returns every token across several pages by following @odata.nextLink", function()
      sb:configure{ page_size = 2 }
      local made = {}
      for i = 1, 5 do made[assert(client:create(sample{ appleId = "u" .. i .. "@contoso.com" })).id] = true end
      local all = assert(client:list())
      assert.equal(5, #all)
      local seen = {}
      for _, t in ipairs(all) do
        assert.is_true(made[t.id])
        assert.is_nil(seen[t.id])
        seen[t.id] = true
      end
      local gets = 0
      for _, r in ipairs(sb:requests()) do if r.method == "GET" then gets = gets + 1 end end
      assert.equal(3, gets)
    end)

    it("each yields tokens one page at a time and fetches no page the loop does not reach", function()
      sb:configure{ page_size = 2 }
      for i = 1, 5 do assert(client:create(sample{ appleId = "e" .. i .. "@contoso.com" })) end
      local n = 0
      for tok in client:each() do
        assert.is_string(tok.id)
        n = n + 1
        if n == 2 then break end
      end
      local gets = 0
      for _, r in ipairs(sb:requests()) do if r.method == "GET" then gets = gets + 1 end end
      assert.equal(1, gets)
    end)

    it("list on an empty tenant is an empty array", function()
      assert.same({}, assert(client:list()))
    end)

    it("list passes filter, top and orderby through as OData options", function()
      assert(client:create(sample{ appleId = "a@contoso.com" }))
      assert(client:create(sample{ appleId = "b@contoso.com" }))
      local got = assert(client:list{ filter = "appleId eq 'b@contoso.com'" })
      assert.equal(1, #got)
      assert.equal("b@contoso.com", got[1].appleId)
      assert.matches("%$filter=appleId%%20eq%%20%%27b%%40contoso.com%%27", sb:requests()[3].path)
      -- $top is Graph's page size: list walks every page of one token
      local before = #sb:requests()
      local top = assert(client:list{ top = 1 })
      assert.equal(2, #top)
      local log = sb:requests()
      assert.equal(before + 2, #log)
      assert.matches("%$top=1", log[#log].path)
    end)

    it("update returns the updated token", function()
      local t = assert(client:create(sample()))
      local u = assert(client:update(t.id, { automaticallyUpdateApps = false, countryOrRegion = "gb" }))
      assert.equal(t.id, u.id)
      assert.equal(false, u.automaticallyUpdateApps)
      assert.equal("gb", u.countryOrRegion)
      local log = sb:requests()
      assert.equal("PATCH", log[2].method)
      assert.equal("return=representation", log[2].headers.prefer)
      assert.same({ automaticallyUpdateApps = false, countryOrRegion = "gb" }, require("cjson").decode(log[2].body))
    end)

    it("update fetches the token again when the server answers 204 No Content", function()
      sb:configure{ honor_prefer = false }
      local t = assert(client:create(sample()))
      local u = assert(client:update(t.id, { countryOrRegion = "fr" }))
      assert.equal("fr", u.countryOrRegion)
      local log = sb:requests()
      assert.equal(204, log[2].status)
      assert.equal("GET", log[3].method)
    end)

    it("update with fetch = false returns true on 204 without another request", function()
      sb:configure{ honor_prefer = false }
      local t = assert(client:create(sample()))
      assert.equal(true, client:update(t.id, { countryOrRegion = "fr" }, { fetch = false }))
      assert.equal(2, #sb:requests())
    end)

    it("sync_licenses starts a sync that completes later", function()
      local t = assert(client:create(sample()))
      local s = assert(client:sync_licenses(t.id))
      assert.equal(t.id, s.id)
      assert.equal("inProgress", s.lastSyncStatus)
      assert.equal("/v1.0/deviceAppManagement/vppTokens/" .. t.id .. "/syncLicenses", sb:requests()[2].path)
      local deadline = os.time() + 10
      local g
      repeat
        g = assert(client:get(t.id))
      until g.lastSyncStatus == "completed" or os.time() > deadline
      assert.equal("completed", g.lastSyncStatus)
      assert.is_string(g.lastSyncDateTime)
    end)

    it("sync_licenses unwraps the {\"value\": token} shape of the documented example", function()
      sb:configure{ sync_response = "wrapped" }
      local t = assert(client:create(sample()))
      local s = assert(client:sync_licenses(t.id))
      assert.equal(t.id, s.id)
      assert.equal("inProgress", s.lastSyncStatus)
    end)

    it("delete removes the token; getting it afterwards is a 404 error object", function()
      local t = assert(client:create(sample()))
      assert.equal(true, client:delete(t.id))
      local ok, err = client:get(t.id)
      assert.is_nil(ok)
      assert.equal(404, err.status)
      assert.equal("ResourceNotFound", err.code)
      assert.equal("not_found", err.kind)
    end)

    it("properties the server sends as null are absent from the token", function()
      local t = assert(client:create(sample{ expirationDateTime = nil }))
      assert.is_nil(t.lastSyncDateTime)
      for _, v in pairs(t) do assert.is_not.equal("userdata", type(v)) end
    end)
  end)

  describe("errors", function()
    it("a missing id is nil plus an error object whose tostring is one readable line", function()
      local ok, err = client:get("no-such-id")
      assert.is_nil(ok)
      assert.is_true(vpptoken.is_error(err))
      assert.equal(404, err.status)
      assert.equal("ResourceNotFound", err.code)
      assert.is_string(err.request_id)
      assert.is_string(err.client_request_id)
      assert.equal("GET", err.method)
      local line = tostring(err)
      assert.is_nil(line:find("\n"))
      assert.matches("%[HTTP 404%]%[ResourceNotFound%]", line)
      assert.matches("request%-id " .. err.request_id:gsub("%-", "%%-"), line)
    end)

    it("a rejected access token is a 401 auth error that does not show the token", function()
      local bad = new_client{ access_token = "wrong-token-abcdef" }
      local ok, err = bad:list()
      bad:close()
      assert.is_nil(ok)
      assert.equal(401, err.status)
      assert.equal("InvalidAuthenticationToken", err.code)
      assert.equal("auth", err.kind)
      assert.is_nil(tostring(err):find("wrong-token-abcdef", 1, true))
    end)

    it("a 400 from the server becomes a bad_request error with Graph's code and message", function()
      sb:fail_next(1, 400, { code = "BadRequest", message = "Property 'x' is invalid." })
      local ok, err = client:create(sample())
      assert.is_nil(ok)
      assert.equal(400, err.status)
      assert.equal("bad_request", err.kind)
      assert.equal("BadRequest", err.code)
      assert.equal("Property 'x' is invalid.", err.message)
    end)

    it("Intune's JSON-inside-message errors are unwrapped to their text and ids", function()
      local inner = '{"_version":3,"Message":"An internal server error has occurred - Operation ID (for customer '
        .. 'support): 0a1b2c3d-0000-0000-0000-000000000001 - Activity ID: 5e6f7a8b-0000-0000-0000-000000000002 - '
        .. 'Url: https://fef.example/x","CustomApiErrorPhrase":"","RetryAfter":null,"ErrorSourceService":"",'
        .. '"HttpHeaders":"{}"}'
      local body = require("cjson").encode{ error = { code = "InternalServerError", message = inner,
        innererror = { Date = "2025-02-13T10:17:05", ["request-id"] = "r-1", ["client-request-id"] = "c-1" } } }
      sb:fail_next(1, 500, { body = body })
      local ok, err = client:list()
      assert.is_nil(ok)
      assert.equal(500, err.status)
      assert.equal("server", err.kind)
      assert.equal("An internal server error has occurred", err.message)
      assert.equal("0a1b2c3d-0000-0000-0000-000000000001", err.operation_id)
      assert.equal("5e6f7a8b-0000-0000-0000-000000000002", err.activity_id)
      assert.equal("2025-02-13T10:17:05", err.date)
    end)

    it("a gateway 504 with an empty message still explains itself", function()
      sb:fail_next(1, 504, { method = "POST", message = "" })
      local ok, err = client:create(sample())
      assert.is_nil(ok)
      assert.equal(504, err.status)
      assert.equal("Gateway Timeout", err.message)
    end)

    it("a failing token_provider is an auth error, and nothing is sent", function()
      local prov = vpptoken.new{ base_url = sb.graph, token_provider = function() return nil, "vault is sealed" end }
      local ok, err = prov:list()
      prov:close()
      assert.is_nil(ok)
      assert.equal("auth", err.kind)
      assert.matches("vault is sealed", err.message)
      assert.equal(0, #sb:requests())
    end)
  end)

  describe("retries", function()
    local function get_log()
      local out = {}
      for _, r in ipairs(sb:requests()) do if r.method == "GET" then out[#out + 1] = r end end
      return out
    end

    it("a 429 is retried after Retry-After and then succeeds, with one client-request-id", function()
      sb:fail_next(2, 429, { retry_after = "0.1" })
      local t0 = os.clock()
      assert(client:list())
      assert.is_true(os.clock() - t0 < 5)
      local log = get_log()
      assert.equal(3, #log)
      assert.equal(429, log[1].status)
      assert.equal(200, log[3].status)
      assert.is_nil(log[1].headers["retry-attempt"])
      assert.equal("1", log[2].headers["retry-attempt"])
      assert.equal("2", log[3].headers["retry-attempt"])
      assert.is_string(log[1].headers["client-request-id"])
      assert.equal(log[1].headers["client-request-id"], log[3].headers["client-request-id"])
    end)

    it("Retry-After given as an HTTP-date is honoured", function()
      sb:fail_next(1, 429, { retry_after = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() - 5) })
      assert(client:list())
      assert.equal(2, #get_log())
    end)

    it("a 503 that persists is returned after the configured retries", function()
      local c = new_client{ max_retries = 2 }
      sb:fail_next(10, 503)
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal(503, err.status)
      assert.equal("server", err.kind)
      assert.equal(3, err.attempts)
      assert.equal(3, #get_log())
    end)

    it("a Retry-After longer than max_retry_time is not waited for: the 429 comes back at once", function()
      local c = new_client{ max_retry_time = 1 }
      sb:fail_next(1, 429, { retry_after = "30" })
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal(429, err.status)
      assert.equal("throttled", err.kind)
      assert.equal(30, err.retry_after)
      assert.equal(1, #get_log())
    end)

    it("a 504 on create is not sent again, so the token cannot be created twice", function()
      sb:fail_next(1, 504, { method = "POST" })
      local ok, err = client:create(sample())
      assert.is_nil(ok)
      assert.equal(504, err.status)
      assert.equal(1, #sb:requests())
    end)

    it("a 504 on get is retried", function()
      sb:fail_next(1, 504)
      assert(client:list())
      assert.equal(2, #get_log())
    end)

    it("a refused connection is retried, then reported as a network error", function()
      local c = vpptoken.new{ base_url = "http://127.0.0.1:1/v1.0", access_token = ACCESS, retry_delay = 0.01,
                              max_retries = 2 }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("network", err.kind)
      assert.equal("COULDNT_CONNECT", err.code)
      assert.equal(3, err.attempts)
      assert.is_nil(err.outcome_unknown)
      assert.matches("^vpptoken: %[network%]%[COULDNT_CONNECT%]", tostring(err))
    end)

    it("a refused connection to a loopback address (a forgotten sandbox) is given up after a second of waiting, "
      .. "not Graph's back-off", function()
      local gone = helper.start_sandbox{ "--access-token", ACCESS }
      local url = gone.graph
      gone:stop()
      local waited = 0
      local c = vpptoken.new{ base_url = url, access_token = ACCESS,
                              on_retry = function(info) waited = waited + info.delay end }
      local ok, err = c:list()
      c:close()
      assert.is_nil(ok)
      assert.equal("COULDNT_CONNECT", err.code)
      assert.is_true(err.attempts > 1, "a restarting server gets another try")
      -- the default policy (4 retries from 1 s, doubling) would wait about 15 s
      assert.is_true(waited <= 1.0 + 0.25, "waited " .. waited .. " s")
    end)
  end)

  describe("input validation, before any request", function()
    local function rejects(pattern, fn)
      local ok, msg = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, tostring(msg))
      assert.equal(0, #sb:requests())
    end

    it("rejects enum values in the wrong case and says which are allowed", function()
      rejects("did you mean 'business'%?.*allowed: business, education", function()
        client:create(sample{ vppTokenAccountType = "Business" })
      end)
      rejects("invalid state 'fresh' %(allowed: unknown, valid, expired, invalid, assignedToExternalMDM%)",
        function() client:update("x", { state = "fresh" }) end)
    end)

    it("rejects unknown properties, beta-only properties on v1.0 and server-set properties", function()
      rejects("unknown property 'organisationName'", function()
        client:create(sample{ organisationName = "typo" })
      end)
      rejects("only in the beta API", function() client:update("x", { displayName = "d" }) end)
      rejects("'id' is set by the server", function() client:create(sample{ id = "x" }) end)
      rejects("'lastModifiedDateTime' is set by the server", function()
        client:update("x", { lastModifiedDateTime = "2025-01-01T00:00:00Z" })
      end)
    end)

    it("rejects wrong property types and malformed dates", function()
      rejects("automaticallyUpdateApps must be a boolean", function()
        client:update("x", { automaticallyUpdateApps = "yes" })
      end)
      rejects("appleId must be a string", function() client:update("x", { appleId = 42 }) end)
      rejects("expirationDateTime: invalid DateTimeOffset", function()
        client:update("x", { expirationDateTime = "2025-02-30T00:00:00Z" })
      end)
      rejects("needs 'Z' or an offset", function()
        client:update("x", { expirationDateTime = "2025-02-13T00:00:00" })
      end)
    end)

    it("requires the Apple token on create and something to change on update", function()
      rejects("token is required", function() client:create(sample{ token = "" }) end)
      rejects("nothing to update", function() client:update("x", {}) end)
      rejects("fields must be a table", function() client:create("token") end)
    end)

    it("rejects ids that would change the URL", function()
      for _, bad in ipairs{ "a/b", "a?b", "a#b", "..", ".", "a\nb", "a b", "a\0b", "" } do
        rejects("id", function() client:get(bad) end)
      end
      rejects("id must be a string", function() client:delete(42) end)
      rejects("id must be a string", function() client:sync_licenses(nil) end)
    end)

    it("escapes ids it accepts, so a strange id is a 404 and not another resource", function()
      local ok, err = client:get("%2e%2e")
      assert.is_nil(ok)
      assert.equal(404, err.status)
      -- the server decodes the path once: it sees the id as sent, not as a path segment ".."
      assert.equal("/v1.0/deviceAppManagement/vppTokens/%2e%2e", sb:requests()[1].path)
    end)

    it("rejects unknown query options and unknown properties in select", function()
      rejects("unknown option 'expand'", function() client:list{ expand = "x" } end)
      rejects("select: unknown property 'colour'", function() client:list{ select = "colour" } end)
      rejects("top must be a positive integer", function() client:list{ top = 1.5 } end)
    end)

    it("dates given as seconds since the epoch are sent as UTC DateTimeOffset text", function()
      local t = assert(client:create(sample{ expirationDateTime = 1811300936 }))
      assert.equal(1811300936, (vpptoken.time.parse(t.expirationDateTime)))
    end)
  end)
end)
