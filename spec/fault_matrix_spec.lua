-- Issue #7, fault matrix: every operation against every fault the sandbox can inject. Whatever happens, the call
-- returns a result or a vpptoken error object (never raises, never hangs past its timeout), and a create or a
-- licence sync that may have reached the server is never sent twice.
local helper = require "helper"
local TOKEN_FILE = helper.apple_token("matrix-apple-token-value")
local vpptoken = require "vpptoken"
local core = require "vpptoken.core"

local ACCESS = "fault-matrix-access-token-7"
-- Under valgrind everything is several times slower: the client's timeout and every bound scale with it.
local SLOW = helper.sandbox_wrapper and 5 or 1
local TIMEOUT = 1 * SLOW          -- the client's per-attempt timeout (seconds)
local MAX_RESPONSE = 16384        -- the client's max_response_size

local function sample(apple)
  return { organizationName = "Contoso", vppTokenAccountType = vpptoken.AccountType.business,
           appleId = apple or "matrix@contoso.com", token = TOKEN_FILE, automaticallyUpdateApps = true,
           countryOrRegion = "us", expirationDateTime = "2027-05-25T20:08:56-07:00" }
end

-- The faults: name, the rule queued with POST /_sandbox/faults (without count: 1), and whether the server did
-- the work although the answer is lost or unusable (so a POST must not be repeated).
local FAULTS = {
  { name = "429 with Retry-After", rule = { status = 429, retry_after = "0.2" } },
  { name = "429 without Retry-After", rule = { status = 429 } },
  { name = "500", rule = { status = 500 } },
  { name = "502", rule = { status = 502 } },
  { name = "503", rule = { status = 503, retry_after = "0.1" } },
  { name = "504", rule = { status = 504 } },
  { name = "507", rule = { status = 507 } },
  { name = "500 in Intune's JSON-inside-message", rule = { status = 500, intune = true } },
  { name = "reset before processing", rule = { kind = "reset" } },
  { name = "reset_after (processed, answer lost)", rule = { kind = "reset_after" }, processed = true },
  { name = "a timeout (answer later than the client's timeout)",
    rule = { kind = "delay", delay_ms = math.floor(TIMEOUT * 2500) }, processed = true },
  { name = "a truncated body", rule = { kind = "truncate" }, processed = true },
  { name = "a body truncated to 1 byte", rule = { kind = "truncate", bytes = 1 }, processed = true },
  { name = "a malformed body", rule = { kind = "malformed" } },
  { name = "a slow drip", rule = { kind = "drip", chunk = 96, interval_ms = 5 }, processed = true },
  { name = "a wrong content type", rule = { kind = "content_type", content_type = "text/html; charset=utf-8" },
    processed = true },
  { name = "a huge body (over max_response_size)",
    rule = { status = 503, retry_after = "0.1", body = '{"error":{"code":"Huge","message":"'
      .. string.rep("x", MAX_RESPONSE * 4) .. '"}}' } },
}

-- The operations: prepare(sb, setup_client) -> state; call(client, state) -> result, err; posts: the Graph path
-- (a Lua pattern) of the POST that must not be repeated when the fault may have let it through.
local OPS = {
  { name = "list", call = function(c) return c:list() end,
    prepare = function(_, s) assert(s:create(sample("l1@contoso.com"))) end },
  { name = "get", call = function(c, st) return c:get(st.id) end,
    prepare = function(_, s) return { id = assert(s:create(sample())).id } end },
  { name = "create", call = function(c) return c:create(sample("created@contoso.com")) end, creates = true,
    posts = "/deviceAppManagement/vppTokens$" },
  { name = "update", call = function(c, st) return c:update(st.id, { automaticallyUpdateApps = false }) end,
    prepare = function(_, s) return { id = assert(s:create(sample())).id } end },
  { name = "delete", call = function(c, st) return c:delete(st.id) end,
    prepare = function(_, s) return { id = assert(s:create(sample())).id } end },
  { name = "sync_licenses", call = function(c, st) return c:sync_licenses(st.id) end,
    prepare = function(_, s) return { id = assert(s:create(sample())).id } end, posts = "/syncLicenses$" },
  -- the same two POSTs on a client that has already made a call, so the request goes out on a reused keep-alive
  -- connection (the case a long-running program is always in)
  { name = "create on a reused connection", warm = true, creates = true, posts = "/deviceAppManagement/vppTokens$",
    call = function(c) return c:create(sample("created@contoso.com")) end },
  { name = "sync_licenses on a reused connection", warm = true, posts = "/syncLicenses$",
    call = function(c, st) return c:sync_licenses(st.id) end,
    prepare = function(_, s) return { id = assert(s:create(sample())).id } end },
  { name = "get_many", multi = true,
    call = function(c, st) return c:get_many(st.ids, { concurrency = 2 }) end,
    prepare = function(_, s)
      return { ids = { assert(s:create(sample("m1@contoso.com"))).id, assert(s:create(sample("m2@contoso.com"))).id } }
    end },
  { name = "batch", multi = true,
    call = function(c, st) return c:batch{ { op = "get", id = st.id }, { op = "delete", id = st.id2 } } end,
    prepare = function(_, s)
      return { id = assert(s:create(sample("b1@contoso.com"))).id, id2 = assert(s:create(sample("b2@contoso.com"))).id }
    end },
}

-- Known defects: "operation|fault" -> description. A listed case must still fail (it is reported pending);
-- once it passes, the spec says to take it out. None are open.
local KNOWN_DEFECTS = {}

-- Checks one error object: a vpptoken error with a kind and a one-line tostring.
local function check_error(err, where)
  assert(vpptoken.is_error(err), where .. ": not a vpptoken error object: " .. tostring(err))
  assert(type(err.kind) == "string" and err.kind ~= "", where .. ": error without a kind")
  local text = tostring(err)
  assert(type(text) == "string" and text ~= "", where .. ": empty tostring")
  assert(not text:find("[\r\n]"), where .. ": tostring is not one line: " .. text)
  assert(not text:find(ACCESS, 1, true), where .. ": tostring shows the access token")
end

describe("fault matrix", function()
  local sb = helper.sandbox_suite({ "--access-token", ACCESS, "--sync-seconds", "0.2" }, { reset = false })
  local setup_client

  setup(function()
    setup_client = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.01 }
  end)

  teardown(function()
    if setup_client then setup_client:close() end
  end)

  for _, op in ipairs(OPS) do
    for _, fault in ipairs(FAULTS) do
      local title = op.name .. " survives " .. fault.name
      if op.creates and fault.processed then
        title = title .. ": one token at most, outcome unknown when it failed"
      elseif op.posts then
        title = title .. ": the POST is never repeated once it may have been done"
      else
        title = title .. ": a result or an error object, in time"
      end
      local defect = KNOWN_DEFECTS[op.name .. "|" .. fault.name]
      local function case()
        sb:reset()
        local state = op.prepare and op.prepare(sb, setup_client) or {}
        local client = vpptoken.new{ base_url = sb.graph, access_token = ACCESS, retry_delay = 0.02, max_retries = 3,
                                     timeout = TIMEOUT, max_retry_time = 10 * SLOW, max_response_size = MAX_RESPONSE }
        if op.warm then client:get(state.id or "warm-up-missing") end  -- found or 404: the connection stays open
        local before = #sb:requests()
        local rule = { count = 1 }
        for k, v in pairs(fault.rule) do rule[k] = v end
        sb:fail_next(1, rule.status, rule)
        local t0 = core.monotonic()
        local ok, res, err = pcall(op.call, client, state)
        local elapsed = core.monotonic() - t0
        client:close()
        assert(ok, "the call raised: " .. tostring(res))
        -- at most one full timeout plus a few retries and the drip: far below this bound
        assert(elapsed < TIMEOUT * 6 + 5 * SLOW, string.format("took %.1f s", elapsed))
        if op.multi then
          -- tokens/results, errs: one entry per input, each a value or false with an error object
          assert.is_table(res)
          for i = 1, #(state.ids or { 1, 2 }) do
            if not res[i] then check_error(err and err[i], op.name .. "[" .. i .. "]") end
          end
        elseif res == nil or res == false then
          check_error(err, title)
        end
        local log = sb:requests()
        if op.posts then
          local posts = 0
          for i = before + 1, #log do
            if log[i].method == "POST" and log[i].path:match(op.posts) then posts = posts + 1 end
          end
          local status = fault.rule.status
          if status == 429 or status == 503 then
            assert.is_true(posts >= 1 and posts <= 4, "POSTs: " .. posts)   -- not done: may be sent again
          else
            assert.equal(1, posts, "POSTs sent for one call")
          end
        end
        if op.creates then
          local all = assert(setup_client:list())
          assert.is_true(#all <= 1, "tokens in the store after one create: " .. #all)
          if res then
            assert.equal(1, #all)
            assert.equal(res.id, all[1].id)
          elseif #all == 1 then
            -- the token exists but the caller was told it failed: only acceptable when it is told the outcome
            -- is unknown, so that it does not create it again
            assert.is_true(err.outcome_unknown == true,
              "created on the server, but the error does not say outcome_unknown: " .. tostring(err))
          end
          if fault.rule.kind == "reset_after" then
            assert.is_nil(res)
            assert.is_true(err.outcome_unknown)
            assert.equal(1, #all)
          end
        end
      end
      it(title, function()
        if not defect then return case() end
        local ok, why = pcall(case)
        assert(not ok, "this case passes now: take it out of KNOWN_DEFECTS")
        pending(defect .. "(" .. tostring(why):gsub("\n.*", "") .. ")")
      end)
    end
  end
end)
