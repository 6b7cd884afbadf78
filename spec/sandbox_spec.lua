-- vpptoken-sandbox as Graph: response shape, CRUD, syncLicenses, routing, auth, fault rules and the
-- request log, driven with LuaSocket only (never the client library). The process itself (options,
-- signals, connections) is in sandbox_process_spec.lua, OData in sandbox_odata_spec.lua, the beta API in
-- sandbox_beta_spec.lua, $batch in sandbox_batch_spec.lua.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local support = require "sandbox_support"
local socket = require "socket"
local cjson = require "cjson.safe"

local http = helper.http
local graph, create = support.graph, support.create
local assert_graph_error = support.assert_graph_error
local COLL, GUID, JSON_TYPE, SLOW = support.COLL, support.GUID, support.JSON_TYPE, support.SLOW
local WWW_AUTHENTICATE = support.WWW_AUTHENTICATE
local raw_connect, raw_send, raw_receive = support.raw_connect, support.raw_send, support.raw_receive

describe("vpptoken-sandbox", function()
  local sb = helper.sandbox_suite()

  describe("responses", function()
    it("carry request-id, echo client-request-id and use Graph's JSON content type", function()
      local st, _, h = graph(sb, "GET", COLL, nil, { ["client-request-id"] = "my-client-id-1" })
      assert.equal(200, st)
      assert.matches(GUID, h["request-id"])
      assert.equal("my-client-id-1", h["client-request-id"])
      assert.equal(JSON_TYPE, h["content-type"])
      assert.is_string(h["date"])
      assert.matches("GMT$", h["date"])
      assert.is_table(cjson.decode(h["x-ms-ags-diagnostic"]))
    end)

    it("set client-request-id equal to request-id when the request has none", function()
      local _, _, h = graph(sb, "GET", COLL)
      assert.matches(GUID, h["request-id"])
      assert.equal(h["request-id"], h["client-request-id"])
    end)
  end)

  describe("list", function()
    it("returns the collection envelope with @odata.context and the tokens", function()
      local a = create(sb, { token = apple("t-a"), appleId = "a@example.com" })
      local st, body = graph(sb, "GET", COLL)
      assert.equal(200, st)
      assert.equal(sb.url .. "/v1.0/$metadata#deviceAppManagement/vppTokens", body["@odata.context"])
      assert.equal(1, #body.value)
      assert.equal(a.id, body.value[1].id)
      assert.equal("#microsoft.graph.vppToken", body.value[1]["@odata.type"])
      assert.is_nil(body["@odata.nextLink"])
    end)

    it("returns an empty JSON array (not an object) for an empty store", function()
      local c = raw_connect(sb)
      raw_send(c, "GET", "/v1.0" .. COLL, { Authorization = "Bearer x" })
      local st, h, text = raw_receive(c)
      c:close()
      assert.equal(200, st)
      assert.equal(JSON_TYPE, h["content-type"])
      assert.truthy(text:find('"value":[]', 1, true), text)
    end)

  end)

  describe("get", function()
    it("returns one token with the $entity context and honours $select", function()
      local a = create(sb, { token = apple("tok"), appleId = "a@example.com" })
      local st, body = graph(sb, "GET", COLL .. "/" .. a.id)
      assert.equal(200, st)
      assert.equal(sb.url .. "/v1.0/$metadata#deviceAppManagement/vppTokens/$entity", body["@odata.context"])
      assert.equal("#microsoft.graph.vppToken", body["@odata.type"])
      assert.equal("a@example.com", body.appleId)
      st, body = graph(sb, "GET", COLL .. "/" .. a.id .. "?$select=appleId")
      assert.equal(200, st)
      assert.is_nil(body.token)
      assert.equal("a@example.com", body.appleId)
    end)

    it("answers 404 ResourceNotFound for an unknown id", function()
      local st, body = graph(sb, "GET", COLL .. "/00000000-0000-0000-0000-000000000000")
      assert_graph_error(st, 404, body, "ResourceNotFound")
    end)
  end)

  describe("create", function()
    it("answers 201 with server-filled id, lastModifiedDateTime and defaults", function()
      local st, body, h = graph(sb, "POST", COLL, { token = apple("secret-vpp"),
                                                    expirationDateTime = "2027-05-26T03:08:56Z",
                                                    state = "expired", vppTokenAccountType = "education" })
      assert.equal(201, st)
      assert.equal(JSON_TYPE, h["content-type"])
      assert.matches(GUID, body.id)
      assert.equal("#microsoft.graph.vppToken", body["@odata.type"])
      assert.equal(sb.url .. "/v1.0/$metadata#deviceAppManagement/vppTokens/$entity", body["@odata.context"])
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$", body.lastModifiedDateTime)
      assert.equal("2027-05-26T03:08:56Z", body.expirationDateTime)
      assert.equal("expired", body.state)
      assert.equal("education", body.vppTokenAccountType)
      assert.equal("none", body.lastSyncStatus)
      assert.equal(cjson.null, body.lastSyncDateTime)
      assert.is_false(body.automaticallyUpdateApps)
    end)

    it("accepts DateTimeOffset with fraction and zone offset", function()
      local body = create(sb, { token = apple(), expirationDateTime = "2016-12-31T23:57:57.2481234-08:00" })
      assert.equal("2016-12-31T23:57:57.2481234-08:00", body.expirationDateTime)
    end)

    local bad_bodies = {
      { "an unknown property", { token = apple(), colour = "blue" }, "colour" },
      { "a number for a string", { token = apple(), appleId = 5 }, "appleId" },
      { "a string for a boolean", { token = apple(), automaticallyUpdateApps = "yes" }, "automaticallyUpdateApps" },
      { "an enum value in the wrong case", { token = apple(), vppTokenAccountType = "Business" },
        "vppTokenAccountType" },
      { "an unknown enum value", { token = apple(), lastSyncStatus = "done" }, "lastSyncStatus" },
      { "an impossible date", { token = apple(), expirationDateTime = "2025-02-30T00:00:00Z" }, "expirationDateTime" },
      { "a date without zone", { token = apple(), expirationDateTime = "2025-01-01T00:00:00" }, "expirationDateTime" },
      { "a date with 8 fraction digits", { token = apple(), lastSyncDateTime = "2025-01-01T00:00:00.12345678Z" },
        "lastSyncDateTime" },
      { "a missing token", { appleId = "a@example.com" }, "token" },
      { "an empty token", { token = "" }, "token" },
      { "a wrong @odata.type", { token = apple(), ["@odata.type"] = "#microsoft.graph.user" }, "@odata.type" },
      { "a beta property on v1.0", { token = apple(), displayName = "x" }, "displayName" },
      { "a beta-only state on v1.0", { token = apple(), state = "duplicateLocationId" }, "state" },
    }
    for _, case in ipairs(bad_bodies) do
      it("rejects " .. case[1] .. " with 400 naming the field", function()
        local st, body = graph(sb, "POST", COLL, case[2])
        assert_graph_error(st, 400, body, "BadRequest", case[3])
      end)
    end

    it("rejects invalid JSON, a non-object body and a missing JSON content type with 400", function()
      local st, body = graph(sb, "POST", COLL, '{"token": "t",')
      assert_graph_error(st, 400, body, "BadRequest", "JSON")
      st, body = graph(sb, "POST", COLL, '["token"]')
      assert_graph_error(st, 400, body, "BadRequest", "object")
      st, body = graph(sb, "POST", COLL, cjson.encode({ token = apple() }), { ["content-type"] = "text/plain" })
      assert_graph_error(st, 400, body, "BadRequest", "Content-Type")
      assert.same({}, select(2, graph(sb, "GET", COLL)).value)
    end)

    it("refuses what Graph's OData reader refuses: a member twice, invalid UTF-8, a NUL in a string (400)", function()
      local token = cjson.encode(apple())
      local bodies = {
        { '{"appleId":"a@example.com","token":' .. token .. ',"appleId":"b@example.com"}', "appleId" },
        { '{"token":' .. token .. ',"appleId":"a@example.com","app\\u006ceId":"b@example.com"}', "appleId" },
        { '{"token":' .. token .. ',"organizationName":"Cafe\xE9"}', "UTF-8" },
        { '{"token":' .. token .. ',"organizationName":"\xED\xA0\x80"}', "UTF-8" },
        { '{"token":' .. token .. ',"organizationName":"a\\u0000b"}', "NUL" },
        { '{"token":' .. token .. ',"roleScopeTagIds":["0","0\\u0000"]}', "NUL", "beta" },
      }
      for _, b in ipairs(bodies) do
        local st, body = graph(sb, "POST", COLL, b[1], nil, b[3])
        assert_graph_error(st, 400, body, "BadRequest", b[2])
      end
      -- the same object nested twice is not a member twice; a key and a value may be the same text
      local st, created = graph(sb, "POST", COLL, '{"token":' .. token .. ',"displayName":"token",'
        .. '"roleScopeTagIds":["0","1"],"organizationName":"Caf\xC3\xA9 \\u00e9"}', nil, "beta")
      assert.equal(201, st)
      assert.equal("Caf\xC3\xA9 \xC3\xA9", created.organizationName)
      local _, list = graph(sb, "GET", COLL)
      assert.same({ created.id }, { list.value[1].id, list.value[2] })
    end)

    it("accepts beta properties on /beta and returns them there only", function()
      local body = create(sb, { token = apple(), displayName = "Main", state = "duplicateLocationId",
                                roleScopeTagIds = { "0", "7" } }, "beta")
      assert.equal("Main", body.displayName)
      assert.same({ "0", "7" }, body.roleScopeTagIds)
      assert.equal(sb.url .. "/beta/$metadata#deviceAppManagement/vppTokens/$entity", body["@odata.context"])
      local st, v1 = graph(sb, "GET", COLL .. "/" .. body.id)
      assert.equal(200, st)
      assert.is_nil(v1.displayName)
    end)

    it("answers 413 to a body over the size limit", function()
      local c = raw_connect(sb)
      raw_send(c, "POST", "/v1.0" .. COLL, { Authorization = "Bearer x", ["Content-Type"] = "application/json",
                                             ["Content-Length"] = tostring(5 * 1024 * 1024) })
      local st, _, text = raw_receive(c)
      c:close()
      assert.equal(413, st)
      assert.equal("RequestEntityTooLarge", cjson.decode(text).error.code)
    end)
  end)

  describe("update", function()
    it("answers 204 without a body, and 200 with the token for Prefer: return=representation", function()
      local a = create(sb, { token = apple(), appleId = "old@example.com" })
      local st, body, h = graph(sb, "PATCH", COLL .. "/" .. a.id, { appleId = "new@example.com" })
      assert.equal(204, st)
      assert.equal("", body)
      assert.is_nil(h["content-type"])
      assert.matches(GUID, h["request-id"])
      st, body = graph(sb, "PATCH", COLL .. "/" .. a.id, { countryOrRegion = "us" },
                       { prefer = "return=representation" })
      assert.equal(200, st)
      assert.equal("new@example.com", body.appleId)
      assert.equal("us", body.countryOrRegion)
      assert.is_true(body.lastModifiedDateTime >= a.lastModifiedDateTime)
    end)

    it("validates like create but needs no field, and 404s an unknown id", function()
      local a = create(sb, { token = apple() })
      local st, body = graph(sb, "PATCH", COLL .. "/" .. a.id, { state = "Expired" })
      assert_graph_error(st, 400, body, "BadRequest", "state")
      st, body = graph(sb, "PATCH", COLL .. "/" .. a.id, { token = "" })
      assert_graph_error(st, 400, body, "BadRequest", "token")
      assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. a.id, {})))
      st, body = graph(sb, "PATCH", COLL .. "/11111111-1111-1111-1111-111111111111", { appleId = "x" })
      assert_graph_error(st, 404, body, "ResourceNotFound")
    end)
  end)

  describe("delete", function()
    it("answers 204, then 404 for the same id", function()
      local a = create(sb, { token = apple() })
      local st, body, h = graph(sb, "DELETE", COLL .. "/" .. a.id)
      assert.equal(204, st)
      assert.equal("", body)
      assert.is_nil(h["content-type"])
      st, body = graph(sb, "DELETE", COLL .. "/" .. a.id)
      assert_graph_error(st, 404, body, "ResourceNotFound")
    end)
  end)

  describe("syncLicenses", function()
    it("reads inProgress, then completed with lastSyncDateTime after sync_seconds", function()
      sb:configure({ sync_seconds = 1.0 * SLOW })
      local a = create(sb, { token = apple() })
      local st, body = graph(sb, "POST", COLL .. "/" .. a.id .. "/syncLicenses")
      assert.equal(200, st)
      assert.equal(a.id, body.id)
      assert.equal("inProgress", body.lastSyncStatus)
      local _, now = graph(sb, "GET", COLL .. "/" .. a.id)
      assert.equal("inProgress", now.lastSyncStatus)
      socket.sleep(1.3 * SLOW)
      local _, later = graph(sb, "GET", COLL .. "/" .. a.id)
      assert.equal("completed", later.lastSyncStatus)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", later.lastSyncDateTime)
    end)

    it("answers the bare token by default and {value = token} when wrapped", function()
      local a = create(sb, { token = apple() })
      local st, bare = graph(sb, "POST", COLL .. "/" .. a.id .. "/syncLicenses", "{}")
      assert.equal(200, st)
      assert.equal(a.id, bare.id)
      assert.equal("#microsoft.graph.vppToken", bare["@odata.type"])
      sb:configure({ sync_response = "wrapped" })
      local st2, wrapped = graph(sb, "POST", COLL .. "/" .. a.id .. "/microsoft.graph.syncLicenses")
      assert.equal(200, st2)
      assert.is_string(wrapped["@odata.context"])
      assert.equal(a.id, wrapped.value.id)
      assert.equal("inProgress", wrapped.value.lastSyncStatus)
    end)

    it("answers 404 for an unknown id", function()
      local st, body = graph(sb, "POST", COLL .. "/22222222-2222-2222-2222-222222222222/syncLicenses")
      assert_graph_error(st, 404, body, "ResourceNotFound")
    end)
  end)

  describe("routing", function()
    it("answers 405 with Allow for a wrong method on a known path", function()
      local st, body, h = graph(sb, "PUT", COLL, { token = apple() })
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("GET, POST", h["allow"])
      local a = create(sb, { token = apple() })
      st, body, h = graph(sb, "GET", COLL .. "/" .. a.id .. "/syncLicenses")
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("POST", h["allow"])
      st, body, h = graph(sb, "POST", COLL .. "/" .. a.id, { token = apple() })
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("GET, PATCH, DELETE", h["allow"])
    end)

    it("answers 400 'Resource not found for the segment' for an unknown segment", function()
      local st, body = graph(sb, "GET", "/deviceAppManagement/vppTokenz")
      assert_graph_error(st, 400, body, "BadRequest", "Resource not found for the segment 'vppTokenz'")
      local a = create(sb, { token = apple() })
      st, body = graph(sb, "POST", COLL .. "/" .. a.id .. "/revokeLicenses")
      assert_graph_error(st, 400, body, "BadRequest", "revokeLicenses")
    end)


    it("answers 404 outside /v1.0, /beta and the control endpoints", function()
      local st, body = http("GET", sb.url .. "/v2.0" .. COLL)
      assert_graph_error(st, 404, body, "ResourceNotFound")
    end)
  end)

  describe("authentication", function()
    it("answers 401 InvalidAuthenticationToken with WWW-Authenticate when the token is missing", function()
      local st, body, h = graph(sb, "GET", COLL, nil, { authorization = false })
      assert_graph_error(st, 401, body, "InvalidAuthenticationToken", "Access token is empty.")
      assert.equal(WWW_AUTHENTICATE, h["www-authenticate"])
      st, body = graph(sb, "GET", COLL, nil, { authorization = "Bearer " })
      assert_graph_error(st, 401, body, "InvalidAuthenticationToken", "Access token is empty.")
      st = graph(sb, "GET", COLL, nil, { authorization = "Basic dXNlcjpwYXNz" })
      assert.equal(401, st)
    end)

    it("accepts only the configured token when started with --access-token", function()
      local strict = helper.start_sandbox({ "--access-token", "the-right-one" })
      local ok, err = pcall(function()
        local st, body, h = graph(strict, "GET", COLL, nil, { authorization = "Bearer the-wrong-one" })
        assert_graph_error(st, 401, body, "InvalidAuthenticationToken", "Access token validation failure")
        assert.equal(WWW_AUTHENTICATE, h["www-authenticate"])
        assert.equal(200, (graph(strict, "GET", COLL, nil, { authorization = "Bearer the-right-one" })))
      end)
      strict:stop()
      assert(ok, err)
    end)
  end)

  describe("control routes", function()
    it("answer what they did in a short JSON document, not an empty 204, so curl shows something", function()
      local st, body = http("POST", sb.url .. "/_sandbox/faults", { count = 2, status = 429, retry_after = "1" })
      assert.equal(200, st)
      assert.same({ count = 2, status = 429, retry_after = "1" }, body.queued)
      assert.equal(1, body.pending)
      st, body = http("POST", sb.url .. "/_sandbox/config", { page_size = 7 })
      assert.equal(200, st)
      assert.equal(7, body.config.page_size)
      st, body = http("POST", sb.url .. "/_sandbox/reset")
      assert.equal(200, st)
      assert.same({ reset = true }, body)
      assert.equal(200, (graph(sb, "GET", COLL))) -- the reset also dropped the queued faults
    end)
  end)

  describe("fault injection", function()
    it("answers the next N requests with the status, code and Retry-After, then recovers", function()
      sb:fail_next(2, 429, { retry_after = "3" })
      for _ = 1, 2 do
        local st, body, h = graph(sb, "GET", COLL)
        assert_graph_error(st, 429, body, "TooManyRequests")
        assert.equal("3", h["retry-after"])
        assert.matches(GUID, h["request-id"])
      end
      assert.equal(200, (graph(sb, "GET", COLL)))
    end)

    it("applies before authentication and is recorded in the request log", function()
      sb:fail_next(1, 503)
      local st, body = graph(sb, "GET", COLL, nil, { authorization = false })
      assert_graph_error(st, 503, body, "ServiceUnavailable")
      local log = sb:requests()
      assert.equal(1, #log)
      assert.equal(503, log[1].status)
    end)

    it("matches only the given method, FIFO across rules", function()
      sb:fail_next(1, 500, { method = "POST" })
      sb:fail_next(1, 502)
      local st, body = graph(sb, "GET", COLL)
      assert_graph_error(st, 502, body, "BadGateway")
      assert.equal(200, (graph(sb, "GET", COLL)))
      st, body = graph(sb, "POST", COLL, { token = apple() })
      assert_graph_error(st, 500, body, "InternalServerError")
      assert.equal(201, (graph(sb, "POST", COLL, { token = apple() })))
    end)

    it("sends a raw body instead of the Graph error when asked, and an empty 504 message by default", function()
      local intune = '{"error":{"code":"ServiceUnavailable","message":"{\\"_version\\":3,\\"Message\\":\\"busy\\"}"}}'
      sb:fail_next(1, 503, { body = intune, retry_after = "2.128" })
      local st, body, h = graph(sb, "GET", COLL)
      assert.equal(503, st)
      assert.equal("2.128", h["retry-after"])
      assert.same(cjson.decode(intune), body)
      sb:fail_next(1, 504)
      st, body = graph(sb, "GET", COLL)
      assert_graph_error(st, 504, body, "UnknownError")
      assert.equal("", body.error.message)
    end)

    it("rejects a malformed rule with 400", function()
      local st = sb:control("POST", "faults", { count = 1, status = "soon" })
      assert.equal(400, st)
      st = sb:control("POST", "config", { page_size = 0 })
      assert.equal(400, st)
      st = sb:control("POST", "config", { sync_response = "nested" })
      assert.equal(400, st)
    end)
  end)

  describe("request log", function()
    it("records Graph requests oldest first with secrets redacted, and not control requests", function()
      local vpp_file = apple("super-secret-vpp-token")
      create(sb, { token = vpp_file, appleId = "a@example.com" })
      graph(sb, "GET", COLL .. "?$top=1", nil, { authorization = "Bearer very-secret-access-token" })
      local log = sb:requests()
      assert.equal(2, #log)
      assert.equal("POST", log[1].method)
      assert.equal("/v1.0" .. COLL, log[1].path)
      assert.equal(201, log[1].status)
      assert.equal("Bearer <redacted>", log[1].headers.authorization)
      assert.falsy(log[1].body:find(vpp_file, 1, true))
      local sent = cjson.decode(log[1].body)
      assert.equal("<redacted>", sent.token)
      assert.equal("a@example.com", sent.appleId)
      assert.equal("/v1.0" .. COLL .. "?$top=1", log[2].path)
      assert.equal(200, log[2].status)
      assert.equal("Bearer <redacted>", log[2].headers.authorization)
      local raw = cjson.encode(log)
      assert.falsy(raw:find("very-secret-access-token", 1, true))
      assert.falsy(raw:find(vpp_file, 1, true))
    end)

    it("is emptied by reset together with the store", function()
      create(sb, { token = apple() })
      sb:reset()
      assert.same({}, sb:requests())
      assert.same({}, select(2, graph(sb, "GET", COLL)).value)
    end)
  end)
end)
