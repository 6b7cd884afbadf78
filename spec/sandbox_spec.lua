-- vpptoken-sandbox: the local Graph stand-in, driven with LuaSocket only (never the client library).
-- luacheck: std +busted
local helper = require "helper"
local socket = require "socket"
local cjson = require "cjson.safe"

local http = helper.http

local JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
  .. "charset=utf-8"
local WWW_AUTHENTICATE = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
  .. 'authorize", client_id="00000003-0000-0000-c000-000000000000"'
local GUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local COLL = "/deviceAppManagement/vppTokens"
-- Under valgrind everything is slower: time-based checks scale with this.
local SLOW = helper.sandbox_wrapper and 4 or 1

-- Stops a sandbox started by helper.start_sandbox and returns what it wrote to stderr (where
-- AddressSanitizer, LeakSanitizer, UBSan and valgrind report; stop() raises on such a report).
local function finish(sb)
  if not sb then return "" end
  local _, log = sb:stop()
  return log or ""
end

local function assert_clean_exit_log(log)
  assert.is_nil(log:match("==%d+==[^\n]*"), "valgrind reported:\n" .. log)
  assert.is_nil(log:match("[^\n]*Sanitizer[^\n]*"), "sanitizer reported:\n" .. log)
  assert.is_nil(log:match("[^\n]*runtime error:[^\n]*"), "UBSan reported:\n" .. log)
end

-- Starts the sandbox with our own shell wrapper, so the exit status is known.
local function launch(args)
  local pidfile, logfile = os.tmpname(), os.tmpname()
  local cmd = { helper.shell_quote(helper.sandbox_bin), "--port", "0" }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = helper.shell_quote(a) end
  local line = table.concat(cmd, " ")
  if helper.sandbox_wrapper then line = helper.sandbox_wrapper .. " " .. line end
  local sh = string.format('(%s 2>%s & echo $! >%s; wait $!; echo "exit=$?")', line,
                           helper.shell_quote(logfile), helper.shell_quote(pidfile))
  local pipe = assert(io.popen(sh, "r"))
  local first = pipe:read("l")
  local pf = assert(io.open(pidfile, "r"))
  local pid = pf:read("n")
  pf:close()
  os.remove(pidfile)
  -- when it could not start, the first line is already our "exit=N"
  return { pipe = pipe, pid = pid, first = first, logfile = logfile,
           url = first and first:match("listening on (http%S+)"),
           exited = first and tonumber(first:match("^exit=(%d+)$")) }
end

-- Sends the signal (unless the sandbox has already exited), waits, returns exit status, stderr
-- text and the rest of stdout.
local function terminate(proc, signal)
  if not proc.exited then os.execute("kill -" .. signal .. " " .. proc.pid .. " 2>/dev/null") end
  local rest = proc.pipe:read("a")
  proc.pipe:close()
  local f = io.open(proc.logfile, "r")
  local log = f and f:read("a") or ""
  if f then f:close() end
  os.remove(proc.logfile)
  return proc.exited or tonumber(rest:match("exit=(%d+)")), log, rest
end

-- Runs fn(proc) against a launched sandbox and always stops it; returns exit status, stderr text
-- and the rest of stdout, or raises fn's error.
local function with_process(args, fn, signal)
  local proc = launch(args)
  local ok, err = pcall(fn, proc)
  local code, log, rest = terminate(proc, signal or "TERM")
  if not ok then error(err, 0) end
  return code, log, rest
end

-- A Graph request with a bearer token (unless headers.authorization is false).
local function graph(sb, method, path, body, headers, version)
  headers = headers or {}
  if headers.authorization == nil then headers.authorization = "Bearer test-access-token" end
  if headers.authorization == false then headers.authorization = nil end
  return http(method, sb.url .. "/" .. (version or "v1.0") .. path, body, headers)
end

local function create(sb, props, version)
  local st, body = graph(sb, "POST", COLL, props, nil, version)
  assert.equal(201, st, cjson.encode(body))
  return body
end

local function ids_of(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t.id end
  return out
end

local function assert_graph_error(status, expected_status, body, code, message_part)
  assert.equal(expected_status, status, type(body) == "table" and cjson.encode(body) or tostring(body))
  assert.is_table(body.error)
  assert.equal(code, body.error.code)
  if message_part then
    assert.truthy(body.error.message:find(message_part, 1, true),
                  "message '" .. body.error.message .. "' lacks '" .. message_part .. "'")
  end
  local inner = body.error.innerError
  assert.is_table(inner)
  assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", inner.date)
  assert.matches(GUID, inner["request-id"])
  assert.is_string(inner["client-request-id"])
end

-- Minimal HTTP/1.1 over one LuaSocket TCP connection (for keep-alive and raw requests).
local function raw_connect(sb)
  local c = assert(socket.tcp())
  c:settimeout(30 * SLOW)
  assert(c:connect("127.0.0.1", sb.port))
  return c
end

local function raw_send(c, method, path, headers, body)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
end

local function raw_receive(c)
  local status_line = assert(c:receive("*l"))
  local status = tonumber(status_line:match("^HTTP/1%.%d (%d%d%d)"))
  local headers = {}
  while true do
    local l = assert(c:receive("*l"))
    if l == "" then break end
    local k, v = l:match("^([^:]+):%s*(.*)$")
    headers[k:lower()] = v
  end
  local n = tonumber(headers["content-length"] or "0")
  local body = n > 0 and assert(c:receive(n)) or ""
  return status, headers, body
end

describe("vpptoken-sandbox", function()
  local sb

  setup(function()
    sb = helper.start_sandbox()
  end)

  teardown(function()
    assert_clean_exit_log(finish(sb))
  end)

  before_each(function()
    sb:reset()
  end)

  describe("startup", function()
    it("prints the listening line with the real port when started with --port 0", function()
      assert.matches("^http://127%.0%.0%.1:%d+$", sb.url)
      assert.is_true(sb.port > 0)
      local st, body = http("GET", sb.url .. "/health")
      assert.equal(200, st)
      assert.same({ status = "ok" }, body)
    end)

    it("lists every option with --help and exits 0", function()
      local p = assert(io.popen(helper.shell_quote(helper.sandbox_bin) .. " --help", "r"))
      local text = p:read("a")
      local ok, _, code = p:close()
      assert.is_true(ok)
      assert.equal(0, code)
      for _, opt in ipairs({ "--port", "--host", "--access-token", "--page-size", "--sync-seconds",
                             "--sync-response", "--verbose", "--lua-path", "--help" }) do
        assert.truthy(text:find(opt, 1, true), opt .. " missing from --help")
      end
    end)

    it("rejects an unknown option or a bad value with exit status 2", function()
      for _, args in ipairs({ "--bogus", "--port 70000", "--sync-response both", "--page-size 0" }) do
        local p = assert(io.popen(helper.shell_quote(helper.sandbox_bin) .. " " .. args .. " 2>&1", "r"))
        local text = p:read("a")
        local _, _, code = p:close()
        assert.equal(2, code, args)
        assert.truthy(text:find("vpptoken-sandbox:", 1, true))
      end
    end)
  end)

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
      local a = create(sb, { token = "t-a", appleId = "a@example.com" })
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

    it("pages with page_size 2 and resumes after a deletion without skipping or repeating", function()
      sb:configure({ page_size = 2 })
      local t = {}
      for i = 1, 5 do t[i] = create(sb, { token = "tok" .. i, organizationName = "org" .. i }).id end
      local st, page = graph(sb, "GET", COLL)
      assert.equal(200, st)
      assert.same({ t[1], t[2] }, ids_of(page.value))
      local next_link = page["@odata.nextLink"]
      assert.matches("^" .. sb.url:gsub("%p", "%%%0") .. "/v1%.0/deviceAppManagement/vppTokens%?.*%$skiptoken=",
                     next_link)
      -- between pages: delete the last token already seen and one not yet seen; add a new one
      assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. t[2])))
      assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. t[4])))
      local t6 = create(sb, { token = "tok6" }).id
      local seen = ids_of(page.value)
      local pages = 1
      while next_link do
        st, page = http("GET", next_link, nil, { authorization = "Bearer x" })
        assert.equal(200, st)
        for _, v in ipairs(page.value) do seen[#seen + 1] = v.id end
        next_link = page["@odata.nextLink"]
        pages = pages + 1
        assert.is_true(pages < 10)
      end
      assert.same({ t[1], t[2], t[3], t[5], t6 }, seen)
    end)

    it("caps the total across pages with $top and keeps $select in the nextLink", function()
      sb:configure({ page_size = 2 })
      for i = 1, 5 do create(sb, { token = "tok" .. i, organizationName = "org" .. i }) end
      local st, page = graph(sb, "GET", COLL .. "?$top=3&$select=organizationName")
      assert.equal(200, st)
      assert.equal(2, #page.value)
      assert.truthy(page["@odata.nextLink"]:find("$select=organizationName", 1, true))
      assert.truthy(page["@odata.nextLink"]:find("$top=3", 1, true))
      local st2, page2 = http("GET", page["@odata.nextLink"], nil, { authorization = "Bearer x" })
      assert.equal(200, st2)
      assert.equal(1, #page2.value)
      assert.is_nil(page2["@odata.nextLink"])
      assert.equal("org3", page2.value[1].organizationName)
      assert.is_nil(page2.value[1].token)
    end)

    it("returns only the $select properties plus id and @odata.type", function()
      create(sb, { token = "tok", organizationName = "Org", appleId = "x@example.com" })
      local st, body = graph(sb, "GET", COLL .. "?$select=organizationName,state")
      assert.equal(200, st)
      local item = body.value[1]
      local keys = {}
      for k in pairs(item) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ "@odata.type", "id", "organizationName", "state" }, keys)
      assert.equal(sb.url .. "/v1.0/$metadata#deviceAppManagement/vppTokens(organizationName,state)",
                   body["@odata.context"])
    end)

    it("rejects an unknown property in $select with 400", function()
      local st, body = graph(sb, "GET", COLL .. "?$select=organizationName,colour")
      assert_graph_error(st, 400, body, "BadRequest", "colour")
    end)

    it("filters with eq on strings and booleans, joined by and", function()
      local a = create(sb, { token = "1", organizationName = "Contoso", automaticallyUpdateApps = true })
      create(sb, { token = "2", organizationName = "Fabrikam", automaticallyUpdateApps = true })
      create(sb, { token = "3", organizationName = "Contoso", automaticallyUpdateApps = false })
      local st, body = graph(sb, "GET", COLL .. "?$filter=organizationName%20eq%20'Contoso'%20and%20"
                                  .. "automaticallyUpdateApps%20eq%20true")
      assert.equal(200, st)
      assert.same({ a.id }, ids_of(body.value))
      st, body = graph(sb, "GET", COLL .. "?$filter=state%20eq%20'valid'&$count=true")
      assert.equal(200, st)
      assert.equal(3, #body.value)
      assert.equal(3, body["@odata.count"])
    end)

    it("rejects an unsupported $filter with 400 naming the expression", function()
      local st, body = graph(sb, "GET", COLL .. "?$filter=substringof('C',organizationName)")
      assert_graph_error(st, 400, body, "BadRequest", "substringof('C',organizationName)")
      st, body = graph(sb, "GET", COLL .. "?$filter=nope%20eq%20'x'")
      assert_graph_error(st, 400, body, "BadRequest", "nope")
    end)

    it("ignores $orderby and rejects an unknown $option", function()
      assert.equal(200, (graph(sb, "GET", COLL .. "?$orderby=organizationName%20desc")))
      local st, body = graph(sb, "GET", COLL .. "?$frobnicate=1")
      assert_graph_error(st, 400, body, "BadRequest", "$frobnicate")
      st, body = graph(sb, "GET", COLL .. "?$top=-1")
      assert_graph_error(st, 400, body, "BadRequest", "$top")
      st, body = graph(sb, "GET", COLL .. "?$skiptoken=garbage")
      assert_graph_error(st, 400, body, "BadRequest", "$skiptoken")
    end)
  end)

  describe("get", function()
    it("returns one token with the $entity context and honours $select", function()
      local a = create(sb, { token = "tok", appleId = "a@example.com" })
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
      local st, body, h = graph(sb, "POST", COLL, { token = "secret-vpp", expirationDateTime = "2027-05-26T03:08:56Z",
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
      local body = create(sb, { token = "t", expirationDateTime = "2016-12-31T23:57:57.2481234-08:00" })
      assert.equal("2016-12-31T23:57:57.2481234-08:00", body.expirationDateTime)
    end)

    local bad_bodies = {
      { "an unknown property", { token = "t", colour = "blue" }, "colour" },
      { "a number for a string", { token = "t", appleId = 5 }, "appleId" },
      { "a string for a boolean", { token = "t", automaticallyUpdateApps = "yes" }, "automaticallyUpdateApps" },
      { "an enum value in the wrong case", { token = "t", vppTokenAccountType = "Business" }, "vppTokenAccountType" },
      { "an unknown enum value", { token = "t", lastSyncStatus = "done" }, "lastSyncStatus" },
      { "an impossible date", { token = "t", expirationDateTime = "2025-02-30T00:00:00Z" }, "expirationDateTime" },
      { "a date without zone", { token = "t", expirationDateTime = "2025-01-01T00:00:00" }, "expirationDateTime" },
      { "a date with 8 fraction digits", { token = "t", lastSyncDateTime = "2025-01-01T00:00:00.12345678Z" },
        "lastSyncDateTime" },
      { "a missing token", { appleId = "a@example.com" }, "token" },
      { "an empty token", { token = "" }, "token" },
      { "a wrong @odata.type", { token = "t", ["@odata.type"] = "#microsoft.graph.user" }, "@odata.type" },
      { "a beta property on v1.0", { token = "t", displayName = "x" }, "displayName" },
      { "a beta-only state on v1.0", { token = "t", state = "duplicateLocationId" }, "state" },
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
      st, body = graph(sb, "POST", COLL, '{"token":"t"}', { ["content-type"] = "text/plain" })
      assert_graph_error(st, 400, body, "BadRequest", "Content-Type")
      assert.same({}, select(2, graph(sb, "GET", COLL)).value)
    end)

    it("accepts beta properties on /beta and returns them there only", function()
      local body = create(sb, { token = "t", displayName = "Main", state = "duplicateLocationId",
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
      local a = create(sb, { token = "t", appleId = "old@example.com" })
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
      local a = create(sb, { token = "t" })
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
      local a = create(sb, { token = "t" })
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
      local a = create(sb, { token = "t" })
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
      local a = create(sb, { token = "t" })
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
      local st, body, h = graph(sb, "PUT", COLL, { token = "t" })
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("GET, POST", h["allow"])
      local a = create(sb, { token = "t" })
      st, body, h = graph(sb, "GET", COLL .. "/" .. a.id .. "/syncLicenses")
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("POST", h["allow"])
      st, body, h = graph(sb, "POST", COLL .. "/" .. a.id, { token = "t" })
      assert_graph_error(st, 405, body, "BadRequest")
      assert.equal("GET, PATCH, DELETE", h["allow"])
    end)

    it("answers 400 'Resource not found for the segment' for an unknown segment", function()
      local st, body = graph(sb, "GET", "/deviceAppManagement/vppTokenz")
      assert_graph_error(st, 400, body, "BadRequest", "Resource not found for the segment 'vppTokenz'")
      local a = create(sb, { token = "t" })
      st, body = graph(sb, "POST", COLL .. "/" .. a.id .. "/revokeLicenses")
      assert_graph_error(st, 400, body, "BadRequest", "revokeLicenses")
    end)

    it("serves the beta actions revokeLicenses, syncLicenseCounts and getLicensesForApp on /beta", function()
      local a = create(sb, { token = "t", appleId = "a@example.com" }, "beta")
      assert.equal(204, (graph(sb, "POST", COLL .. "/" .. a.id .. "/revokeLicenses", { notifyManagedDevices = true },
                               nil, "beta")))
      assert.equal(204, (graph(sb, "POST", COLL .. "/syncLicenseCounts", nil, nil, "beta")))
      local st, body = graph(sb, "GET", COLL .. "/getLicensesForApp(bundleId='com.example.app')", nil, nil, "beta")
      assert.equal(200, st)
      assert.equal(a.id, body.value[1].vppTokenId)
      st, body = graph(sb, "POST", COLL .. "/" .. a.id .. "/revokeLicenses", { notify = true }, nil, "beta")
      assert_graph_error(st, 400, body, "BadRequest", "notify")
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
      assert_clean_exit_log(finish(strict))
      assert(ok, err)
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
      st, body = graph(sb, "POST", COLL, { token = "t" })
      assert_graph_error(st, 500, body, "InternalServerError")
      assert.equal(201, (graph(sb, "POST", COLL, { token = "t" })))
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
      create(sb, { token = "super-secret-vpp-token", appleId = "a@example.com" })
      graph(sb, "GET", COLL .. "?$top=1", nil, { authorization = "Bearer very-secret-access-token" })
      local log = sb:requests()
      assert.equal(2, #log)
      assert.equal("POST", log[1].method)
      assert.equal("/v1.0" .. COLL, log[1].path)
      assert.equal(201, log[1].status)
      assert.equal("Bearer <redacted>", log[1].headers.authorization)
      assert.falsy(log[1].body:find("super-secret-vpp-token", 1, true))
      local sent = cjson.decode(log[1].body)
      assert.equal("<redacted>", sent.token)
      assert.equal("a@example.com", sent.appleId)
      assert.equal("/v1.0" .. COLL .. "?$top=1", log[2].path)
      assert.equal(200, log[2].status)
      assert.equal("Bearer <redacted>", log[2].headers.authorization)
      local raw = cjson.encode(log)
      assert.falsy(raw:find("very-secret-access-token", 1, true))
      assert.falsy(raw:find("super-secret-vpp-token", 1, true))
    end)

    it("is emptied by reset together with the store", function()
      create(sb, { token = "t" })
      sb:reset()
      assert.same({}, sb:requests())
      assert.same({}, select(2, graph(sb, "GET", COLL)).value)
    end)
  end)

  describe("connections", function()
    it("answers 50 concurrent keep-alive connections with interleaved requests", function()
      local conns = {}
      for i = 1, 50 do conns[i] = raw_connect(sb) end
      for round = 1, 3 do
        for i, c in ipairs(conns) do
          raw_send(c, "GET", "/v1.0" .. COLL .. "?$top=" .. i, { Authorization = "Bearer x",
                                                                 ["client-request-id"] = "c" .. i .. "-" .. round })
        end
        for i, c in ipairs(conns) do
          local st, h, text = raw_receive(c)
          assert.equal(200, st)
          assert.equal("c" .. i .. "-" .. round, h["client-request-id"])
          assert.is_table(cjson.decode(text).value)
        end
      end
      for _, c in ipairs(conns) do c:close() end
      assert.equal(150, #sb:requests())
    end)

    it("survives clients that hang up in the middle of a request", function()
      for _ = 1, 10 do
        local c = raw_connect(sb)
        assert(c:send("POST /v1.0" .. COLL .. " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"tok"))
        c:close()
      end
      local c = raw_connect(sb)
      assert(c:send("GET /health HTTP/1.1\r\nHost: x"))
      c:close()
      assert.equal(200, (http("GET", sb.url .. "/health")))
    end)
  end)
end)

describe("vpptoken-sandbox shutdown", function()
  for _, signal in ipairs({ "TERM", "INT" }) do
    it("exits 0 on SIG" .. signal .. " with nothing else on stdout", function()
      local code, log, rest = with_process(nil, function(proc)
        assert.matches("^vpptoken%-sandbox listening on http://127%.0%.0%.1:%d+$", proc.first)
        assert.equal(201, (graph(proc, "POST", COLL, { token = "t" })))
      end, signal)
      assert.equal(0, code, log)
      assert.equal("exit=0\n", rest)
      assert_clean_exit_log(log)
    end)
  end
end)

-- A stand-in vpptoken.sandbox module in a temporary directory, loaded with --lua-path.
local function stub_module(source)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. helper.shell_quote(dir .. "/vpptoken/sandbox")))
  local f = assert(io.open(dir .. "/vpptoken/sandbox/init.lua", "w"))
  f:write(source)
  f:close()
  return dir
end

local function remove_dir(dir)
  os.execute("rm -rf " .. helper.shell_quote(dir))
end

describe("vpptoken-sandbox process", function()
  it("logs one line per request to stderr with --verbose", function()
    local code, log = with_process({ "--verbose" }, function(proc)
      assert.equal(200, (http("GET", proc.url .. "/health")))
      assert.equal(401, (http("GET", proc.url .. "/v1.0" .. COLL)))
    end)
    assert.equal(0, code, log)
    assert.truthy(log:find("GET /health 200", 1, true), log)
    assert.truthy(log:find("GET /v1.0/deviceAppManagement/vppTokens 401", 1, true), log)
    assert_clean_exit_log(log)
  end)

  it("listens on IPv6 ::1 and prints the URL in brackets", function()
    local proc = launch({ "--host", "::1" })
    if not proc.url then
      local _, log = terminate(proc, "TERM")
      pending("no IPv6 loopback here: " .. log)
      return
    end
    assert.matches("^http://%[::1%]:%d+$", proc.url)
    local code, log = terminate(proc, "TERM")
    assert.equal(0, code, log)
  end)

  it("answers a Graph-shaped 500 and keeps serving when the Lua handler raises or returns garbage", function()
    local dir = stub_module([[
      local n = 0
      return {
        configure = function() end,
        handle = function(req)
          n = n + 1
          if req.path == "/raise" then error("boom " .. n) end
          if req.path == "/garbage" then return "not a status", 42, {} end
          if req.path == "/header" then return 200, { ["X-Bad"] = "a\r\nb" }, "" end
          return 200, { ["Content-Type"] = "text/plain" }, req.method .. " " .. req.path .. "?" .. req.query
        end,
      }
    ]])
    local ok, code, log = pcall(with_process, { "--lua-path", dir }, function(proc)
      for _, path in ipairs({ "/raise", "/garbage", "/header", "/raise" }) do
        local st, body = http("GET", proc.url .. path)
        assert.equal(500, st, path)
        assert.equal("InternalServerError", body.error.code)
        assert.is_string(body.error.innerError.date)
      end
      local st, body = http("GET", proc.url .. "/fine?a=1&$b=%20")
      assert.equal(200, st)
      assert.equal("GET /fine?a=1&$b=%20", body)
    end)
    remove_dir(dir)
    assert(ok, code)
    assert.equal(0, code, log)
    assert.truthy(log:find("boom 1", 1, true), log)
    assert_clean_exit_log(log)
  end)

  it("exits 1 with a message on stderr when the Lua module cannot be loaded", function()
    local dir = stub_module("return 42\n")
    local proc = launch({ "--lua-path", dir })
    local code, log = terminate(proc, "TERM")
    remove_dir(dir)
    assert.is_nil(proc.url)
    assert.equal(1, code)
    assert.truthy(log:find("did not return a table", 1, true), log)
    assert_clean_exit_log(log)
  end)

  it("exits 1 when the port is already taken", function()
    local first = launch()
    local second = launch({ "--port", assert(first.url):match(":(%d+)$") })
    local code, log = terminate(second, "TERM")
    local code1, log1 = terminate(first, "TERM")
    assert.equal(1, code)
    assert.truthy(log:find("cannot listen", 1, true), log)
    assert.equal(0, code1, log1)
  end)
end)
