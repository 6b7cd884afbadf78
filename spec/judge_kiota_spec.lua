-- The judge: Microsoft's typed Graph SDK for JavaScript (Kiota: @microsoft/msgraph-sdk 1.0.0-preview.90 for v1.0,
-- @microsoft/msgraph-beta-sdk 1.0.0-preview.81 for beta, on @microsoft/msgraph-sdk-core 1.0.0-preview.17; pinned
-- in spec/judge/package-lock.json, installed by `make judge-deps`) against the sandbox over HTTPS: its models,
-- serializers, ODataError mapping, GraphRequestAdapter with the default middleware (RetryHandler), PageIterator and
-- BatchRequestContent. spec/judge/kiota.mjs reports what the SDK saw; each `it` asserts one contract point on it.
-- Where the SDK and the sandbox disagree, the sandbox is wrong until Microsoft's docs say otherwise.
-- Missing node or node_modules fail this spec; VPPTOKEN_NO_NODE=1 (set by a user, never by CI) skips it.
-- luacheck: std +busted
local helper = require "helper"
local support = require "sandbox_support"
local judge = require "judge_support"

local TOKEN = "judge-access-token"
-- About 40 requests and one 1 s Retry-After; this bound is for a hung run, scaled under valgrind.
local RUN_SECONDS = 120 * support.SLOW

local show, point = judge.show, judge.point

describe("Microsoft's typed Graph SDK (Kiota: @microsoft/msgraph-sdk, msgraph-beta-sdk) as a judge", function()
  if judge.skipped() then
    pending("VPPTOKEN_NO_NODE=1: the Kiota judge is skipped (CI runs it)")
    return
  end

  local dir, cert, key, report
  setup(function()
    dir = helper.temp_dir()
    cert, key = helper.make_cert(dir)
  end)

  local sb = helper.sandbox_suite(function()
    return { "--tls-cert", cert, "--tls-key", key }
  end, { reset = false })

  setup(function()
    -- the tokens it creates carry a sample Apple token file: the sandbox refuses anything else, as Intune does
    report = judge.run("kiota.mjs", { sb.url, TOKEN }, { NODE_EXTRA_CA_CERTS = cert,
      JUDGE_APPLE_TOKEN = helper.apple_token() }, RUN_SECONDS, "@microsoft/msgraph-sdk")
  end)

  teardown(function() helper.remove_tree(dir) end)

  it("creates, gets, lists, updates, syncs and deletes through the v1.0 models, typed as the SDK reads them", function()
    local crud = point(report, "crud")
    assert.matches(support.GUID, crud.create.id)
    assert.same({ id = crud.create.id, organizationName = "Judge 1", state = "valid", lastSyncStatus = "none",
                  vppTokenAccountType = "business", expirationDateTime = crud.create.expirationDateTime,
                  odataType = "#microsoft.graph.vppToken", automaticallyUpdateApps = false }, crud.create)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", crud.create.expirationDateTime)
    assert.same({ id = crud.create.id, appleId = "judge1@contoso.com" }, crud.get)
    assert.same({ ids = { crud.create.id }, nextLink = require("cjson").null }, crud.list)
    assert.equal("undefined", crud.update.returned, "PATCH answers 204 with no body")
    assert.is_true(crud.after_update.automaticallyUpdateApps)
    assert.same({ ok = true, id = crud.create.id, lastSyncStatus = "inProgress" }, crud.sync)
    assert.is_true(crud.delete.ok, show(crud.delete))
    assert.equal(404, crud.get_after_delete.statusCode, show(crud.get_after_delete))
    assert.equal("ResourceNotFound", crud.get_after_delete.code)
  end)

  it("pages with $top and the SDK's PageIterator: 5 tokens, 2 a page, all collected once", function()
    local p = point(report, "paging")
    assert.equal(2, p.first_page)
    assert.equal(sb.url .. "/v1.0/deviceAppManagement/vppTokens?", p.next_link:sub(1, #sb.url + 36))
    assert.same({ 5, 5, true, "Complete" }, { p.collected, p.distinct, p.all_created, p.state })
  end)

  it("honours $select, $filter, $orderby and $count as the SDK's query parameters send them", function()
    local q = point(report, "query")
    assert.equal(2, q.count)
    assert.same({ "Judge 3", "Judge 1" }, q.names)
    assert.same({ "undefined", "undefined" }, q.appleIds, "$select left appleId out")
  end)

  it("round-trips beta's appleDeviceAppDeliveryProtocolType through the beta models; v1.0 refuses it", function()
    local b = point(report, "beta")
    assert.equal("declarativeDeviceManagement", b.created)
    assert.equal("declarativeDeviceManagement", b.read)
    assert.equal("default", b.default_value)
    assert.equal("Beta judge", b.displayName)
    assert.same({ "0", "7" }, b.roleScopeTagIds)
    assert.equal(400, b.v1.statusCode, show(b.v1))
    assert.equal("BadRequest", b.v1.code)
    assert.truthy(b.v1.message:find("appleDeviceAppDeliveryProtocolType", 1, true), b.v1.message)
  end)

  it("answers errors the SDK maps to ODataError with code, message and innerError's request-id", function()
    local e = point(report, "errors")
    assert.equal(400, e.bad_body.statusCode, show(e.bad_body))
    assert.equal("BadRequest", e.bad_body.code)
    assert.truthy(e.bad_body.message:find("'state'", 1, true), e.bad_body.message)
    assert.matches(support.GUID, e.bad_body.requestId)
    assert.equal(404, e.missing.statusCode, show(e.missing))
    assert.equal("ResourceNotFound", e.missing.code)
  end)

  it("answers the SDK's $batch: its write step without Content-Type 400 and not run, its read step 200", function()
    local b = point(report, "batch")
    -- msgraph-sdk-core 1.0.0-preview.17 leaves each step's headers out: the create goes without Content-Type
    assert.same({ "undefined", "undefined" }, { b.sent[1].headers, b.sent[2].headers })
    assert.equal(400, b.create_status, show(b))
    assert.equal(0, b.tokens_after, "the refused create step ran")
    assert.equal(200, b.list_status)
  end)

  it("is retried by the SDK's RetryHandler after a 429 with Retry-After, which it waits out", function()
    local r = point(report, "retry")
    assert.is_true(r.ok, show(r.error))
    assert.same({ 429, 200 }, r.statuses)
    assert.same({ require("cjson").null, "1" }, r.retry_attempt)
    -- A lower bound only: the SDK waited at least about the 1 s it was told before it retried.
    assert.truthy(r.waited_ms >= 900, "retried after " .. r.waited_ms .. " ms")
  end)
end)
