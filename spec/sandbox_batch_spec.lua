-- POST /v1.0/$batch and /beta/$batch: each sub-request takes the sandbox's one request path (routing,
-- validation, auth, fault rules, request log), dependsOn gives 424 after a failure, the batch itself is
-- checked (at most 20 requests, unique ids), and responses come in another order. LuaSocket only.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local support = require "sandbox_support"
local cjson = require "cjson.safe"

local http = helper.http
local graph, create = support.graph, support.create
local assert_graph_error = support.assert_graph_error
local COLL, GUID = support.COLL, support.GUID
-- What Microsoft's batch content sends with a JSON body: Graph refuses a body without it.
local JSON = { ["Content-Type"] = "application/json" }

-- POSTs {"requests": requests} to /{version}/$batch; returns status, body, headers, and the responses by id.
local function batch(sb, requests, version, headers)
  local st, body, h = graph(sb, "POST", "/$batch", { requests = requests }, headers, version)
  local by_id = {}
  if st == 200 then
    for _, r in ipairs(body.responses) do by_id[r.id] = r end
  end
  return st, body, h, by_id
end

describe("vpptoken-sandbox $batch", function()
  local sb = helper.sandbox_suite()

  it("runs GET, POST, PATCH and DELETE sub-requests and embeds their answers", function()
    local t = create(sb, { token = apple(), appleId = "old@example.com" })
    local gone = create(sb, { token = apple() })
    local st, body, h, r = batch(sb, {
      { id = "get", method = "GET", url = COLL .. "/" .. t.id .. "?$select=appleId" },
      { id = "create", method = "POST", url = COLL, body = { token = apple("new"), appleId = "new@example.com" },
        headers = { ["Content-Type"] = "application/json" } },
      { id = "patch", method = "PATCH", url = COLL .. "/" .. t.id, body = { countryOrRegion = "gb" }, headers = JSON },
      { id = "delete", method = "delete", url = COLL:sub(2) .. "/" .. gone.id },
      { id = "empty", method = "GET", url = COLL .. "?$filter=appleId%20eq%20'nobody'" },
    })
    assert.equal(200, st)
    assert.matches(GUID, h["request-id"])
    assert.equal(5, #body.responses)
    assert.equal(200, r.get.status)
    assert.same({ "@odata.context", "@odata.type", "appleId", "id" }, (function()
      local keys = {}
      for k in pairs(r.get.body) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end)())
    assert.equal(201, r.create.status)
    assert.equal("new@example.com", r.create.body.appleId)
    assert.matches(GUID, r.create.body.id)
    assert.equal(sb.graph .. COLL .. "/" .. r.create.body.id, r.create.headers.Location)
    assert.equal(204, r.patch.status)
    assert.is_nil(r.patch.body)
    assert.equal(204, r.delete.status)
    assert.same({}, r.empty.body.value)
    assert.equal("gb", select(2, graph(sb, "GET", COLL .. "/" .. t.id)).countryOrRegion)
    assert.equal(404, (graph(sb, "GET", COLL .. "/" .. gone.id)))
  end)

  it("answers in another order than asked, and keeps empty arrays arrays", function()
    local requests = {}
    for i = 1, 4 do requests[i] = { id = tostring(i), method = "GET", url = COLL } end
    local st, raw = helper.http("POST", sb.graph .. "/$batch", { requests = requests },
                                { authorization = "Bearer x" })
    assert.equal(200, st)
    local order = {}
    for i, resp in ipairs(raw.responses) do order[i] = resp.id end
    assert.are_not.same({ "1", "2", "3", "4" }, order)
    table.sort(order)
    assert.same({ "1", "2", "3", "4" }, order)
    local _, text = http("POST", sb.graph .. "/$batch", '{"requests":[{"id":"1","method":"GET","url":"' .. COLL
                         .. '"}]}', { authorization = "Bearer x", ["content-type"] = "application/json" })
    assert.is_table(text)
    assert.same({}, text.responses[1].body.value)
    assert.equal(0, #text.responses[1].body.value)
  end)

  it("validates each sub-request like a request of its own, on the batch's API version", function()
    local t = create(sb, { token = apple() })
    local _, _, _, r = batch(sb, {
      { id = "unknown", method = "GET", url = COLL .. "/44444444-4444-4444-4444-444444444444" },
      { id = "badbody", method = "POST", url = COLL, body = { token = apple(), colour = "blue" }, headers = JSON },
      { id = "beta-prop", method = "PATCH", url = COLL .. "/" .. t.id, body = { displayName = "x" },
        headers = JSON },
      { id = "badfilter", method = "GET", url = COLL .. "?$filter=state%20eq" },
      { id = "method", method = "PUT", url = COLL },
      { id = "nested", method = "POST", url = "/$batch", body = { requests = {} }, headers = JSON },
      { id = "text", method = "POST", url = COLL, body = "{not json",
        headers = { ["content-type"] = "application/json" } },
    })
    assert_graph_error(r.unknown.status, 404, r.unknown.body, "ResourceNotFound")
    assert_graph_error(r.badbody.status, 400, r.badbody.body, "BadRequest", "colour")
    assert_graph_error(r["beta-prop"].status, 400, r["beta-prop"].body, "BadRequest", "only in the beta API")
    assert_graph_error(r.badfilter.status, 400, r.badfilter.body, "BadRequest", "Syntax error at position 8")
    assert_graph_error(r.method.status, 405, r.method.body, "BadRequest")
    assert.equal("GET, POST", r.method.headers.Allow)
    assert_graph_error(r.nested.status, 400, r.nested.body, "BadRequest", "$batch")
    assert_graph_error(r.text.status, 400, r.text.body, "BadRequest", "JSON")
    local _, _, _, beta = batch(sb, { { id = "1", method = "PATCH", url = COLL .. "/" .. t.id,
                                        body = { displayName = "x" }, headers = JSON } }, "beta")
    assert.equal(204, beta["1"].status)
  end)

  it("runs dependencies first and answers 424 when one failed, down the chain", function()
    local _, _, _, r = batch(sb, {
      { id = "c", method = "GET", url = COLL, dependsOn = { "b" } },
      { id = "b", method = "POST", url = COLL, body = { token = apple() }, headers = JSON, dependsOn = { "a" } },
      { id = "a", method = "GET", url = COLL .. "/55555555-5555-5555-5555-555555555555" },
      { id = "ok", method = "POST", url = COLL, body = { token = apple() }, headers = JSON },
      { id = "after-ok", method = "GET", url = COLL, dependsOn = { "ok" } },
    })
    assert.equal(404, r.a.status)
    assert_graph_error(r.b.status, 424, r.b.body, "FailedDependency", "'a'")
    assert_graph_error(r.c.status, 424, r.c.body, "FailedDependency", "'b'")
    assert.equal(201, r.ok.status)
    assert.equal(200, r["after-ok"].status)
    assert.equal(1, #r["after-ok"].body.value) -- "ok" ran before it, "b" never ran
    local log = sb:requests()
    assert.equal(4, #log) -- the $batch request, a, ok, after-ok
  end)

  it("answers 400 to a sub-request with a body and no Content-Type, and runs the others", function()
    local t = create(sb, { token = apple(), countryOrRegion = "us" })
    local st, _, _, r = batch(sb, {
      { id = "1", method = "POST", url = COLL, body = { token = apple("no-type") } },
      { id = "patch", method = "PATCH", url = COLL .. "/" .. t.id, body = "{\"countryOrRegion\":\"gb\"}" },
      { id = "typed", method = "POST", url = COLL, body = { token = apple("typed") }, headers = JSON },
      { id = "after", method = "GET", url = COLL, dependsOn = { "1" } },
    })
    assert.equal(200, st)
    assert_graph_error(r["1"].status, 400, r["1"].body, "BadRequest",
                       "Write request with id '1' does not contain a Content-Type header.")
    assert_graph_error(r.patch.status, 400, r.patch.body, "BadRequest",
                       "Write request with id 'patch' does not contain a Content-Type header.")
    assert.equal(201, r.typed.status)
    assert_graph_error(r.after.status, 424, r.after.body, "FailedDependency", "'1'")
    local _, list = graph(sb, "GET", COLL)
    assert.equal(2, #list.value)
    assert.equal("us", select(2, graph(sb, "GET", COLL .. "/" .. t.id)).countryOrRegion)
  end)

  it("compares request ids without regard to case: 'a' and 'A' are a duplicate, answered 400", function()
    local st, body = batch(sb, {
      { id = "a", method = "POST", url = COLL, body = { token = apple("lower") }, headers = JSON },
      { id = "A", method = "POST", url = COLL, body = { token = apple("upper") }, headers = JSON },
    })
    assert_graph_error(st, 400, body, "BadRequest", "'A'")
    assert.equal(0, #select(2, graph(sb, "GET", COLL)).value)
    local _, _, _, r = batch(sb, {
      { id = "First", method = "POST", url = COLL, body = { token = apple() }, headers = JSON },
      { id = "second", method = "GET", url = COLL, dependsOn = { "FIRST" } },
    })
    assert.equal(201, r.First.status)
    assert.equal(200, r.second.status)
    assert.equal(1, #r.second.body.value)
  end)

  it("answers 400 to a malformed batch as a whole", function()
    local many = {}
    for i = 1, 21 do many[i] = { id = tostring(i), method = "GET", url = COLL } end
    local cases = {
      { many, "at most 20" },
      { { { id = "1", method = "GET", url = COLL }, { id = "1", method = "GET", url = COLL } }, "unique" },
      { { { id = "1", method = "GET", url = COLL, dependsOn = { "2" } } }, "'2'" },
      { { { id = "1", method = "GET", url = COLL, dependsOn = { "2" } },
          { id = "2", method = "GET", url = COLL, dependsOn = { "1" } } }, "cycle" },
      { { { id = "1", method = "GET" } }, "url" },
      { { { id = "1", method = "GET", url = "https://graph.microsoft.com/v1.0" .. COLL } }, "relative" },
      { { { id = "1", method = "FETCH", url = COLL } }, "method" },
      { { { method = "GET", url = COLL } }, "id" },
      { { { id = "1", method = "GET", url = COLL, headers = { ["x-n"] = 5 } } }, "x-n" },
      { {}, "empty" },
    }
    for _, case in ipairs(cases) do
      local st, body = batch(sb, case[1])
      assert_graph_error(st, 400, body, "BadRequest", case[2])
    end
    local st, body = graph(sb, "POST", "/$batch", { value = {} })
    assert_graph_error(st, 400, body, "BadRequest", "requests")
    local h
    st, body, h = graph(sb, "GET", "/$batch")
    assert_graph_error(st, 405, body, "BadRequest")
    assert.equal("POST", h["allow"])
    assert.equal(0, #select(2, graph(sb, "GET", COLL)).value)
  end)

  it("needs the caller's token once, for the batch and every sub-request", function()
    local strict = helper.start_sandbox({ "--access-token", "right" })
    local ok, err = pcall(function()
      local st, body = batch(strict, { { id = "1", method = "GET", url = COLL } }, nil, { authorization = false })
      assert_graph_error(st, 401, body, "InvalidAuthenticationToken")
      local _, _, _, r = batch(strict, { { id = "1", method = "GET", url = COLL,
                                           headers = { authorization = "Bearer wrong" } } }, nil,
                               { authorization = "Bearer right" })
      assert.equal(200, r["1"].status)
    end)
    strict:stop()
    assert(ok, err)
  end)

  it("lets a fault rule hit single sub-requests, each with its own Retry-After, and not the batch", function()
    sb:fail_next(1, 429, { retry_after = "7" })
    sb:fail_next(1, 503, { method = "POST", retry_after = "2" })
    local st, _, _, r = batch(sb, {
      { id = "1", method = "GET", url = COLL },
      { id = "2", method = "GET", url = COLL },
      { id = "3", method = "POST", url = COLL, body = { token = apple() }, headers = JSON },
      { id = "4", method = "POST", url = COLL, body = { token = apple() }, headers = JSON },
    })
    assert.equal(200, st)
    assert_graph_error(r["1"].status, 429, r["1"].body, "TooManyRequests")
    assert.equal("7", r["1"].headers["Retry-After"])
    assert.equal(200, r["2"].status)
    assert.is_nil(r["2"].headers["Retry-After"])
    assert_graph_error(r["3"].status, 503, r["3"].body, "ServiceUnavailable")
    assert.equal("2", r["3"].headers["Retry-After"])
    assert.equal(201, r["4"].status)
  end)

  it("puts sub-requests in the request log, marked with the batch's request-id and redacted", function()
    local vpp_file = apple("very-secret-vpp-token")
    local _, _, h, r = batch(sb, {
      { id = "1", method = "POST", url = COLL, body = { token = vpp_file },
        headers = { ["client-request-id"] = "sub-1", ["Content-Type"] = "application/json" } },
      { id = "2", method = "GET", url = COLL .. "?$top=1" },
    }, nil, { ["client-request-id"] = "outer-1" })
    assert.equal("outer-1", h["client-request-id"])
    assert.equal("sub-1", r["1"].headers["client-request-id"])
    assert.matches(GUID, r["2"].headers["request-id"])
    local log = sb:requests()
    assert.equal(3, #log)
    assert.equal("/v1.0/$batch", log[1].path)
    assert.is_nil(log[1].batch)
    assert.equal(200, log[1].status)
    assert.equal(h["request-id"], log[2].batch)
    assert.equal("POST", log[2].method)
    assert.equal("/v1.0" .. COLL, log[2].path)
    assert.equal(201, log[2].status)
    assert.equal("Bearer <redacted>", log[2].headers.authorization)
    assert.equal(h["request-id"], log[3].batch)
    assert.equal("/v1.0" .. COLL .. "?$top=1", log[3].path)
    assert.falsy(cjson.encode(log):find(vpp_file, 1, true))
  end)
end)
