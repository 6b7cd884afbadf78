-- The judge: Microsoft's own JavaScript Graph client (@microsoft/microsoft-graph-client 3.0.7, pinned in
-- spec/judge/package-lock.json, installed by `make judge-deps`) against the sandbox over HTTPS, used as its users
-- use it (Client.init with an authProvider and customHosts, its RetryHandler, PageIterator, BatchRequestContent and
-- BatchResponseContent). spec/judge/graph_client.js reports what the client saw; each `it` asserts one contract
-- point on it. Where the client and the sandbox disagree, the sandbox is wrong until Microsoft's docs say otherwise.
-- Missing node or node_modules fail this spec; VPPTOKEN_NO_NODE=1 (set by a user, never by CI) skips it.
-- luacheck: std +busted
local helper = require "helper"
local support = require "sandbox_support"
local judge = require "judge_support"
local cjson = require "cjson.safe"

local TOKEN = "judge-access-token"
-- The whole run is about 40 requests and one 2 s Retry-After; this bound is for a hung run, scaled under valgrind.
local RUN_SECONDS = 120 * support.SLOW

-- Runs the judge against base_url (an https:// URL whose certificate is cert). Returns the decoded report.
local function run_judge(base_url, cert)
  -- the tokens it creates carry a sample Apple token file: the sandbox refuses anything else, as Intune does
  return judge.run("graph_client.js", { base_url, TOKEN },
    { NODE_EXTRA_CA_CERTS = cert, JUDGE_APPLE_TOKEN = helper.apple_token() }, RUN_SECONDS,
    "@microsoft/microsoft-graph-client")
end

local show, point = judge.show, judge.point

local function assert_sub_error(sub, status, message)
  assert.equal(status, sub.status, show(sub))
  assert.equal("BadRequest", sub.body.error.code, show(sub))
  assert.equal(message, sub.body.error.message)
end

-- Whether version (a list of 3 numbers) satisfies an npm `engines` range of the forms the lock holds: alternatives
-- joined by ||, each a list of comparators (>=, >, <=, <, =, ^, ~, or a bare version). Raises on any other form.
local function satisfies(version, range)
  local function cmp(a, b)
    for i = 1, 3 do
      if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
    end
    return 0
  end
  local function admits(comparator)
    local op, text = comparator:match("^([<>=^~]*)(%d[%d.]*)$")
    assert(op, "unknown engines comparator '" .. comparator .. "' in '" .. range .. "'")
    local parts = {}
    for n in text:gmatch("%d+") do parts[#parts + 1] = tonumber(n) end
    local want = { parts[1], parts[2] or 0, parts[3] or 0 }
    local c = cmp(version, want)
    if op == ">=" then return c >= 0 elseif op == ">" then return c > 0 elseif op == "<=" then return c <= 0
    elseif op == "<" then return c < 0 elseif op == "^" then return c >= 0 and version[1] == want[1]
    elseif op == "~" then return c >= 0 and version[1] == want[1] and version[2] == want[2] end
    return c == 0 or (not parts[2] and version[1] == want[1])
  end
  for alternative in (range .. "||"):gmatch("(.-)||") do
    local all = true
    for comparator in alternative:gsub("([<>=^~]+)%s+", "%1"):gmatch("%S+") do
      all = all and admits(comparator)
    end
    if all then return true end
  end
  return false
end

describe("spec/judge/package-lock.json", function()
  local lock = assert(cjson.decode(assert(io.open(judge.DIR .. "/package-lock.json")):read("*a")))

  it("pins the judges exactly: Graph client 3.0.7, @azure/identity 4.9.1, the typed SDKs (Kiota)", function()
    local pins = { ["@azure/identity"] = "4.9.1", ["@microsoft/microsoft-graph-client"] = "3.0.7",
                   ["@microsoft/msgraph-sdk"] = "1.0.0-preview.90",
                   ["@microsoft/msgraph-beta-sdk"] = "1.0.0-preview.81",
                   ["@microsoft/msgraph-sdk-core"] = "1.0.0-preview.17",
                   ["@microsoft/kiota-abstractions"] = "1.0.0-preview.109" }
    assert.same(pins, lock.packages[""].dependencies)
    for name, version in pairs(pins) do
      assert.equal(version, lock.packages["node_modules/" .. name].version, name)
      assert.matches("^sha512%-", lock.packages["node_modules/" .. name].integrity, name)
    end
  end)

  it("installs with Debian 12's npm 9 and runs on its Node.js 18 (18.19.0): no package wants a newer one", function()
    assert.is_true(lock.lockfileVersion <= 3)
    local too_new = {}
    for name, pkg in pairs(lock.packages) do
      local range = type(pkg.engines) == "table" and pkg.engines.node
      if range and not satisfies({ 18, 19, 0 }, range) then too_new[#too_new + 1] = name .. " " .. range end
    end
    table.sort(too_new)
    assert.same({}, too_new)
    assert.is_false(satisfies({ 18, 19, 0 }, ">=20.0.0"), "the check itself refuses a range past 18")
    assert.is_true(satisfies({ 18, 19, 0 }, "^12.20.0 || ^14.13.1 || >=16.0.0"))
  end)
end)

describe("Microsoft's Graph client (@microsoft/microsoft-graph-client 3.0.7) as the sandbox's judge", function()
  if judge.skipped() then
    pending("VPPTOKEN_NO_NODE=1: the Graph client judge is skipped (CI runs it)")
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
    report = run_judge(sb.url, cert)
  end)

  teardown(function() helper.remove_tree(dir) end)

  it("runs on the Node.js it found, with @azure/identity loading for the sign-in judges", function()
    assert.matches("^%d+%.%d+%.%d+$", report.node)
    assert.is_true(report.identity_loads)
  end)

  it("lists, gets, creates, updates, syncs and deletes through the client, with Graph's shapes", function()
    local crud = point(report, "crud")
    local entity = sb.url .. "/v1.0/$metadata#deviceAppManagement/vppTokens/$entity"
    assert.matches(support.GUID, crud.create.id)
    assert.equal(entity, crud.create.context)
    assert.equal("Judge 1", crud.create.organizationName)
    assert.same({ id = crud.create.id, context = entity }, crud.get)
    assert.same({ context = sb.url .. "/v1.0/$metadata#deviceAppManagement/vppTokens", ids = { crud.create.id } },
      crud.list)
    assert.equal("undefined", crud.update.returned, "PATCH answers 204 with no body")
    assert.same({ context = entity, countryOrRegion = "gb", automaticallyUpdateApps = true },
      crud.update_representation)
    assert.is_true(crud.sync.ok, show(crud.sync))
    assert.equal(crud.create.id, crud.sync.id)
    assert.equal(sb.url .. "/v1.0/$metadata#", crud.sync.context:sub(1, #sb.url + 16))
    assert.equal("inProgress", crud.sync.lastSyncStatus)
    assert.is_true(crud.delete.ok, show(crud.delete))
    assert.equal(404, crud.get_after_delete.statusCode, show(crud.get_after_delete))
    assert.equal("ResourceNotFound", crud.get_after_delete.code)
  end)

  it("takes $top as a page size: .top(2) over 5 tokens gives a nextLink and PageIterator collects all 5", function()
    local top = point(report, "top")
    assert.equal(5, top.created)
    assert.equal(2, top.first_page)
    assert.is_string(top.next_link, "no @odata.nextLink after a $top page")
    assert.equal(sb.url .. "/v1.0/deviceAppManagement/vppTokens?", top.next_link:sub(1, #sb.url + 36))
    assert.equal(5, top.collected)
    assert.equal(5, top.distinct)
    assert.is_true(top.all_created)
  end)

  it("answers a $batch write without Content-Type 400 and does not run it; with the header it runs", function()
    local b = point(report, "batch_content_type")
    assert_sub_error(b.without, 400, "Write request with id '1' does not contain a Content-Type header.")
    assert.equal(0, b.tokens_after_without)
    assert.equal(201, b.with.status, show(b.with))
    assert.equal("Judge 2", b.with.body.organizationName)
    assert.equal(1, b.tokens_after_with)
  end)

  it("answers a $batch step URL that keeps its version segment 400, as Graph does", function()
    local b = point(report, "batch_version_segment")
    assert.equal("/v1.0/deviceAppManagement/vppTokens", b.url)
    assert_sub_error(b, 400, "Resource not found for the segment 'v1.0'.")
  end)

  it("compares $batch ids without regard to case: \"a\" and \"A\" are a 400 for the batch", function()
    local b = point(report, "batch_ids")
    assert.equal(400, b.duplicate.statusCode, show(b.duplicate))
    assert.equal("BadRequest", b.duplicate.code)
    assert.same({ a = 200, b = 200 }, b.distinct)
  end)

  it("honours query options without '$' on /beta and ignores them on /v1.0", function()
    local b = point(report, "beta_no_dollar")
    assert.equal(2, b.count)
    assert.is_string(b.next_link, "top=2 is a page size on /beta too")
    assert.same({ "@odata.type,id,organizationName", "@odata.type,id,organizationName" }, b.keys)
    assert.equal(sb.url .. "/beta/$metadata#deviceAppManagement/vppTokens(organizationName)", b.context)
    assert.equal(3, b.v1_count)
  end)

  it("sends Strict-Transport-Security on HTTPS answers, errors included", function()
    local h = point(report, "hsts")
    assert.equal(200, h.ok_status)
    assert.equal("max-age=31536000", h.ok_hsts)
    assert.equal(404, h.error_status)
    assert.equal("max-age=31536000", h.error_hsts)
  end)

  it("is retried by the client's RetryHandler after a 429 with Retry-After, which it waits out", function()
    local r = point(report, "retry")
    assert.is_true(r.ok, show(r.error))
    assert.same({ { status = 429, retry_after = "2" }, { status = 200, retry_after = cjson.null } }, r.answers)
    assert.same({ 429, 200 }, r.statuses)
    assert.same({ cjson.null, "1" }, r.retry_attempt)
    -- A lower bound only: the client waited at least about the 2 s it was told before it retried.
    assert.truthy(r.waited_ms >= 1900, "retried after " .. r.waited_ms .. " ms")
  end)
end)
