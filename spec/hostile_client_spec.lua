-- The client against a hostile Graph (spec/support/hostile_server.lua): whatever a server sends, every call ends
-- with a result or `nil, err`, within a bound, and never raises (issue 11).
local helper = require "helper"
local vpptoken = require "vpptoken"
local cjson = require "cjson.safe"

-- A hostile server running `script` (Lua source of function(req) -> answer). Returns a client for it and stop().
local function hostile(script, opts)
  local base, _, stop = helper.start_hostile(script)
  local o = { base_url = base .. "/v1.0", access_token = "t", max_retries = 0 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return vpptoken.new(o), stop, base
end

-- A page of the list whose body is `body_source` (a Lua expression of the body text, evaluated in the server).
local function page_script(body_source)
  return "local body = " .. body_source .. [==[
    return function(req)
      if req.method == "POST" and req.path:match("/syncLicenses$") then
        return { status = 200, headers = { ["Content-Type"] = "application/json" },
                 body = '{"id":"synced","lastSyncStatus":"inProgress"}' }
      end
      return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = body }
    end]==]
end

describe("paging against a hostile server", function()
  it("a nextLink that loops back to the same page ends the walk with InvalidNextLink", function()
    local client, stop = hostile([[
      return function(req)
        if req.n > 50 then return { close = true } end -- a client that loops forever meets a closed door
        return { json = { value = { { id = "a" } },
                          ["@odata.nextLink"] = req.base .. "/v1.0/deviceAppManagement/vppTokens" } }
      end]])
    local tokens, err = client:list()
    local seen = stop()
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("InvalidNextLink", err.code)
    assert.equal("protocol", err.kind)
    assert.is_true(#seen <= 2, #seen .. " requests")
    client:close()
  end)

  it("a nextLink cycle longer than one page ends the walk with InvalidNextLink", function()
    local client, stop = hostile([[
      return function(req)
        if req.n > 50 then return { close = true } end
        local page = tonumber(req.query:match("page=(%d+)") or "0")
        local nxt = (page + 1) % 3 -- page 2 links back to the first URL, which had no query
        return { json = { value = { { id = "p" .. page } }, ["@odata.nextLink"] = req.base
                          .. "/v1.0/deviceAppManagement/vppTokens" .. (nxt == 0 and "" or ("?page=" .. nxt)) } }
      end]])
    local n, last_err = 0, nil
    for tok, err in client:each() do
      if not tok then last_err = err break end
      n = n + 1
    end
    local seen = stop()
    assert.equal("InvalidNextLink", last_err and last_err.code)
    -- pages 0, 1 and 2 are read; page 2 links back to page 0, so the walk ends there (as for any bad nextLink,
    -- before the items of the page that carries it)
    assert.equal(2, n)
    assert.equal(3, #seen)
    client:close()
  end)

  it("an endless chain of distinct nextLinks ends after the page limit with TooManyPages", function()
    local client, stop = hostile([[
      return function(req)
        if req.n > 50 then return { close = true } end
        return { json = { value = { { id = "x" .. req.n } },
                          ["@odata.nextLink"] = req.base .. "/v1.0/deviceAppManagement/vppTokens?n=" .. req.n } }
      end]])
    local limits = require("vpptoken.request").LIMITS
    assert.equal(10000, limits.max_pages) -- the documented figure
    limits.max_pages = 5
    local ok, tokens, err = pcall(client.list, client)
    limits.max_pages = 10000
    local seen = stop()
    assert.is_true(ok, tostring(tokens))
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("TooManyPages", err and err.code)
    assert.equal(5, #seen)
    client:close()
  end)

  it("a nextLink with a space returns InvalidNextLink instead of raising", function()
    local client, stop = hostile([[
      return function(req)
        return { json = { value = { { id = "a" } },
                          ["@odata.nextLink"] = req.base .. "/v1.0/deviceAppManagement/vppTokens?x=a b" } }
      end]])
    local ok, tokens, err = pcall(client.list, client)
    stop()
    assert.is_true(ok, "raised: " .. tostring(tokens))
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("InvalidNextLink", err.code)
    client:close()
  end)
end)

describe("decoding what a hostile server sends", function()
  it("JSON nested deeper than the depth bound returns InvalidResponse instead of raising", function()
    local client, stop = hostile(page_script([['{"value":[{"id":"a","x":' .. string.rep("[", 100) .. "null"
      .. string.rep("]", 100) .. "}]}"]]))
    local ok, tokens, err = pcall(client.list, client)
    stop()
    assert.is_true(ok, "raised: " .. tostring(tokens))
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("InvalidResponse", err.code)
    assert.equal("protocol", err.kind)
    client:close()
  end)

  it("a body with more JSON values than the decoding budget is refused before it is decoded", function()
    local n = 1000001
    local client, stop = hostile(page_script('\'{"value":[\' .. string.rep("[],", ' .. (n - 1) .. ') .. "[]]}"'))
    local before = collectgarbage("count")
    local tokens, err = client:list()
    local grew = collectgarbage("count") - before
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("PageTooLarge", err.code) -- a page of a walk
    assert.equal("protocol", err.kind)
    assert.is_true(grew < 40 * 1024, string.format("Lua memory grew by %.0f KiB", grew)) -- the 3 MB body, not 1M tables
    local tok, gerr = client:get("a")
    stop()
    assert.is_nil(tok)
    assert.equal("InvalidResponse", gerr.code) -- any other answer
    client:close()
  end)

  it("core.json_check counts values outside strings and refuses depth over its bound", function()
    local core = require "vpptoken.core"
    -- 8 values: 2 objects, 1 array, 2 keys, 2 numbers, 1 string (its brackets and commas are text)
    assert.is_true(core.json_check('{"a":[1,2,{"b":"[[[[,,,"}]}', 8))
    assert.is_nil(core.json_check('{"a":[1,2,{"b":"[[[[,,,"}]}', 7))
    assert.is_true(core.json_check('["\\"[[[[[[\\\\", 1]', 3, 1)) -- brackets and escaped quotes inside a string
    assert.is_nil(core.json_check("[[1]]", nil, 1))
    assert.is_true(core.json_check("[[1]]", nil, 2))
    assert.is_true(core.json_check(string.rep("[", 64) .. string.rep("]", 64)))
    local ok, msg = core.json_check(string.rep("[", 65) .. string.rep("]", 65))
    assert.is_nil(ok)
    assert.matches("64", msg)
    assert.equal(64, core.JSON_MAX_DEPTH)
    assert.equal(1000000, core.JSON_MAX_VALUES)
  end)
end)

describe("access tokens with control characters", function()
  it("an access_token from the token endpoint with CR/LF returns an auth error instead of raising", function()
    local base, _, stop = helper.start_hostile([[
      return function(req)
        if req.path:match("/token$") then
          return { json = { access_token = "abc\r\nX-Injected: 1", expires_in = 3600, token_type = "Bearer" } }
        end
        return { json = { value = {} } }
      end]])
    local client = vpptoken.new{ base_url = base .. "/v1.0", authority_url = base, tenant_id = "tenant",
                                 client_id = "app", client_secret = "secret", max_retries = 0 }
    local ok, tokens, err = pcall(client.list, client)
    local seen = stop()
    assert.is_true(ok, "raised: " .. tostring(tokens))
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("auth", err.kind)
    assert.equal("InvalidTokenResponse", err.code)
    assert.equal(1, #seen) -- nothing went to Graph
    client:close()
  end)

  it("a token_provider returning a token with a line break returns an auth error instead of raising", function()
    local base, _, stop = helper.start_hostile("return function() return { json = { value = {} } } end")
    local client = vpptoken.new{ base_url = base .. "/v1.0", max_retries = 0,
                                 token_provider = function() return "abc\ndef" end }
    local ok, tokens, err = pcall(client.list, client)
    local seen = stop()
    assert.is_true(ok, "raised: " .. tostring(tokens))
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("auth", err.kind)
    assert.equal("InvalidAccessToken", err.code)
    assert.equal(0, #seen)
    client:close()
  end)

  it("an access_token option with CR/LF is misuse and raises at vpptoken.new", function()
    assert.has_error(function()
      vpptoken.new{ base_url = "http://127.0.0.1:9/v1.0", access_token = "abc\r\nX-Injected: 1" }
    end)
  end)
end)

describe("pages with items that are not tokens", function()
  it("a null item in value is an InvalidResponse naming its position, not a silent truncation", function()
    local client, stop = hostile(page_script([['{"value":[{"id":"a"},null,{"id":"c"}]}']]))
    local tokens, err = client:list()
    stop()
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("InvalidResponse", err.code)
    assert.equal("protocol", err.kind)
    assert.matches("item 2 ", err.message, 1, true)
    assert.matches("null", err.message, 1, true)
    client:close()
  end)

  it("a false item in value is an InvalidResponse, never nil, nil", function()
    local client, stop = hostile(page_script([['{"value":[{"id":"a"},false]}']]))
    local tokens, err = client:list()
    stop()
    assert.is_true(tokens == nil, "a result instead of an error")
    assert.equal("InvalidResponse", err and err.code)
    assert.matches("boolean", err.message, 1, true)
    client:close()
  end)

  it("number items make expiring and sync_all return InvalidResponse instead of crashing", function()
    local client, stop = hostile(page_script([['{"value":[{"id":"a","state":"valid"},1,2]}']]))
    local ok, out, err = pcall(client.expiring, client)
    assert.is_true(ok, "raised: " .. tostring(out))
    assert.is_true(out == nil, "a result instead of an error")
    assert.equal("InvalidResponse", err.code)
    ok, out, err = pcall(client.sync_all, client)
    stop()
    assert.is_true(ok, "raised: " .. tostring(out))
    assert.is_true(out == nil, "a result instead of an error")
    assert.equal("InvalidResponse", err.code)
    assert.matches("item 2 ", err.message, 1, true)
    client:close()
  end)

  it("a null inside an array property stays in its place: nothing after it is lost", function()
    local client, stop = hostile(page_script(
      [['{"value":[{"id":"a","roleScopeTagIds":["0",null,"2"],"appleId":null}]}']]))
    local tokens = assert(client:list())
    stop()
    local tags = tokens[1].roleScopeTagIds
    assert.equal(3, #tags)
    assert.equal(cjson.null, tags[2])
    assert.equal("2", tags[3])
    assert.is_nil(tokens[1].appleId) -- a null property still reads as absent
    client:close()
  end)
end)

describe("one bad record never stops the work for the others", function()
  it("sync_all syncs every good token and fails only the ones whose id cannot be used", function()
    local client, stop = hostile(page_script([[
      '{"value":[{"id":"good1","state":"valid"},{"id":"a/b","state":"valid"},'
        .. '{"id":"with space","state":"valid"},{"id":42,"state":"valid"},{"id":"' .. string.rep("x", 300)
        .. '","state":"valid"},{"state":"valid"},{"id":"good2","state":"valid"}]}']]))
    local ok, out, err = pcall(client.sync_all, client)
    local seen = stop()
    assert.is_true(ok, "raised: " .. tostring(out))
    assert.is_table(out, tostring(err))
    assert.equal(7, #out)
    local outcomes = {}
    for i, o in ipairs(out) do outcomes[i] = o.outcome end
    assert.same({ "started", "failed", "failed", "failed", "failed", "failed", "started" }, outcomes)
    for i = 2, 6 do
      assert.equal("InvalidId", out[i].error.code)
      assert.equal("protocol", out[i].error.kind)
      assert.is_string(out[i].reason)
    end
    local posts = 0
    for _, l in ipairs(seen) do if l:match("^POST ") then posts = posts + 1 end end
    assert.equal(2, posts)
    client:close()
  end)

  it("expiring, find and sync_all accept tokens whose fields have the wrong type", function()
    local client, stop = hostile(page_script([['{"value":[{"id":"a","state":{"x":1},"expirationDateTime":5,'
      .. '"appleId":7,"organizationName":[1],"lastSyncStatus":true},{"id":"b","state":"valid",'
      .. '"expirationDateTime":"2000-01-01T00:00:00Z"}]}']]))
    local ok, out = pcall(client.expiring, client)
    assert.is_true(ok, "raised: " .. tostring(out))
    assert.equal(2, #out)
    ok, out = pcall(client.find, client, { apple_id = "x@example.com" })
    assert.is_true(ok, "raised: " .. tostring(out))
    assert.same({}, out)
    ok, out = pcall(client.sync_all, client)
    assert.is_true(ok, "raised: " .. tostring(out))
    assert.equal("skipped", out[1].outcome)
    stop()
    client:close()
  end)
end)

describe("text a server puts in an error", function()
  it("tostring(err) shows control characters from the server's message as escapes", function()
    local client, stop = hostile([[return function(req)
      return { status = 400, headers = { ["Content-Type"] = "application/json" },
               body = '{"error":{"code":"BadRequest","message":"no\\u001b]0;pwned\\u0007 way\\u009b"}}' }
    end]])
    local ok, err = client:get("x")
    client:close()
    stop()
    assert.is_nil(ok)
    local text = tostring(err)
    assert.is_nil(text:find("[%z\1-\31\127]"), text)
    assert.matches("no\\x1b]0;pwned\\x07 way\\u009b", text)
    assert.equal("no\27]0;pwned\7 way\194\155", err.message) -- the field keeps what the server said
  end)
end)

describe("beta getLicensesForApp", function()
  it("an answer with an item that is not an object is an InvalidResponse", function()
    local client, stop = hostile([[return function(req)
      return { status = 200, headers = { ["Content-Type"] = "application/json" },
               body = '{"value":[{"vppTokenId":"a"},null,7]}' }
    end]], { base_url = nil })
    client:close()
    local c2 = vpptoken.new{ base_url = client.base_url:gsub("/v1%.0$", "/beta"), access_token = "t",
                             max_retries = 0 }
    local ok, err = c2:licenses_for_app("com.example.app")
    c2:close()
    stop()
    assert.is_nil(ok)
    assert.equal("InvalidResponse", err.code)
  end)
end)

describe("files the library reads", function()
  it("a client certificate file larger than the PEM cap is refused without reading it all", function()
    local core = require "vpptoken.core"
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.rep("A", core.MAX_PEM_BYTES + 1))
    f:close()
    local ok, msg = pcall(vpptoken.new, { base_url = "http://127.0.0.1:9/v1.0", tenant_id = "t", client_id = "c",
                                          client_certificate = path })
    os.remove(path)
    assert.is_false(ok)
    assert.matches("larger than " .. core.MAX_PEM_BYTES .. " bytes", msg, 1, true)
  end)
end)

describe("work that stays linear in what a server sends", function()
  local core = require "vpptoken.core"

  it("a Graph error message with 100,000 spaces becomes an error object at once (no backtracking)", function()
    local client, stop = hostile([[return function(req)
      return { status = 400, headers = { ["Content-Type"] = "application/json" },
               body = '{"error":{"code":"X","message":"a' .. (" "):rep(100000) .. 'b - Operation ID (for customer '
                 .. 'support): 00000000-0000-0000-0000-000000000001"}}' }
    end]])
    local t0 = core.monotonic()
    local ok, err = client:get("a")
    local took = core.monotonic() - t0
    client:close()
    stop()
    assert.is_nil(ok)
    assert.equal("X", err.code)
    assert.equal("00000000-0000-0000-0000-000000000001", err.operation_id)
    assert.is_true(took < 5, "took " .. took .. " s")
  end)

  it("a webhook's error body with 100,000 spaces is reported at once", function()
    local base, _, stop = helper.start_hostile([[return function(req)
      return { status = 400, headers = { ["Content-Type"] = "text/plain" }, body = "a" .. (" "):rep(100000) .. "b" }
    end]])
    local t0 = core.monotonic()
    local ok, err = vpptoken.post_json(base .. "/hook", { text = "hi" }, { max_retries = 0 })
    local took = core.monotonic() - t0
    stop()
    assert.is_nil(ok)
    assert.equal(400, err.status)
    assert.is_true(took < 5, "took " .. took .. " s")
  end)
end)

describe("nextLinks in forms libcurl reads", function()
  for _, form in ipairs{ "HTTP://127.0.0.1:%d", "hTtP://127.0.0.1:%d", "http:/127.0.0.1:%d" } do
    it(form:gsub("%%d", "PORT") .. " is followed or refused, never raised", function()
      local client, stop = hostile(string.format([[return function(req)
        if req.n == 1 then
          return { json = { value = { { id = "a" } }, ["@odata.nextLink"] = string.format(%q, req.port)
            .. "/v1.0/deviceAppManagement/vppTokens?page=2" } }
        end
        return { json = { value = { { id = "b" } } } }
      end]], form))
      local ok, list, err = pcall(client.list, client)
      client:close()
      stop()
      assert.is_true(ok, tostring(list))
      if list then assert.equal(2, #list) else assert.equal("InvalidNextLink", err.code) end
    end)
  end
end)

-- A tenant of PAGES pages of 1,000 tokens, about 17,000 JSON values a page: 64 pages hold more than 1,000,000
-- values together (the most one page may hold), in about 4 MB.
local MANY_PAGES = [==[
  local PAGES = 64
  local items = {}
  for i = 1, 1000 do
    items[i] = '{"id":"t' .. i .. '","appleId":"a' .. i .. '@example.com","a":[1,2,3,4,5,6,7,8,9,10]}'
  end
  local head = '{"value":[' .. table.concat(items, ",") .. ']'
  return function(req)
    local p = tonumber(req.query:match("p=(%d+)")) or 0
    local tail = p + 1 < PAGES and (',"@odata.nextLink":"' .. req.base .. '/v1.0/deviceAppManagement/vppTokens?p='
      .. (p + 1) .. '"}') or "}"
    return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = head .. tail }
  end]==]

describe("a streaming walk is bounded per page, not by the total it never holds", function()
  local request = require "vpptoken.request"

  it("each() walks a tenant whose pages together hold more JSON values than one page may", function()
    local client, stop = hostile(MANY_PAGES)
    local n, last_err = 0, nil
    for tok, err in client:each() do
      if not tok then last_err = err break end
      n = n + 1
    end
    client:close()
    local seen = stop()
    assert.is_nil(last_err and tostring(last_err))
    assert.equal(64000, n)
    assert.equal(64, #seen)
  end)

  it("expiring, find and sync_all walk such a tenant too", function()
    local client, stop = hostile(MANY_PAGES)
    local out, err = client:expiring()
    assert.is_nil(err and tostring(err))
    assert.equal(64000, #out)
    out, err = client:find{ apple_id = "a7@example.com" }
    assert.is_nil(err and tostring(err))
    assert.equal(64, #out)
    out, err = client:sync_all() -- no token has state "valid": every one is skipped, nothing is POSTed
    assert.is_nil(err and tostring(err))
    assert.equal(64000, #out)
    assert.equal("skipped", out[64000].outcome)
    client:close()
    local seen = stop()
    assert.equal(3 * 64, #seen)
  end)

  it("a page holding more JSON values than a page may ends the walk with PageTooLarge", function()
    local saved = request.LIMITS.max_page_values
    request.LIMITS.max_page_values = 10000
    local client, stop = hostile(MANY_PAGES)
    local n, last_err = 0, nil
    for tok, err in client:each() do
      if not tok then last_err = err break end
      n = n + 1
    end
    request.LIMITS.max_page_values = saved
    client:close()
    local seen = stop()
    assert.equal(0, n)
    assert.equal("PageTooLarge", last_err and last_err.code)
    assert.equal("protocol", last_err.kind)
    assert.equal(1, #seen)
  end)

  it("a page of more bytes than a page may ends the walk with PageTooLarge", function()
    local saved = request.LIMITS.max_page_bytes
    request.LIMITS.max_page_bytes = 20000
    local client, stop = hostile(MANY_PAGES)
    local tokens, err = client:list()
    request.LIMITS.max_page_bytes = saved
    client:close()
    local seen = stop()
    assert.is_nil(tokens)
    assert.equal("PageTooLarge", err and err.code)
    assert.equal(1, #seen)
  end)

  it("list(), which keeps every page, stops such a tenant with ListTooLarge", function()
    local client, stop = hostile(MANY_PAGES)
    local tokens, err = client:list()
    client:close()
    local seen = stop()
    assert.is_nil(tokens)
    assert.equal("ListTooLarge", err and err.code)
    assert.is_true(#seen <= 60, #seen .. " pages read")
  end)
end)

describe("what list() keeps is bounded", function()
  it("pages holding more JSON values together than list() may keep end it with ListTooLarge", function()
    local LIMITS = require("vpptoken.request").LIMITS
    local saved = LIMITS.max_list_values
    LIMITS.max_list_values = 1000
    local client, stop = hostile([[return function(req)
      local items = {}
      for i = 1, 100 do items[i] = { id = "t" .. req.n .. "-" .. i } end
      return { json = { value = items, ["@odata.nextLink"] = req.base .. "/v1.0/deviceAppManagement/vppTokens?p="
        .. req.n } }
    end]])
    local ok, list, err = pcall(client.list, client)
    LIMITS.max_list_values = saved
    client:close()
    local seen = stop()
    assert.is_true(ok, tostring(list))
    assert.is_nil(list)
    assert.equal("ListTooLarge", err.code)
    assert.is_true(#seen <= 6, #seen .. " pages read")
  end)
end)

describe("an error object printed", function()
  it("is one line with the control characters of its code and request id shown as escapes", function()
    local client, stop = hostile([[return function(req)
      return { status = 400, headers = { ["Content-Type"] = "application/json", ["request-id"] = "rid\27]0;HDR\7" },
               body = '{"error":{"code":"Bad\\nFAKE LINE\\u001b]0;pwned\\u0007","message":"m"}}' }
    end]])
    local ok, err = client:get("a")
    client:close()
    stop()
    assert.is_nil(ok)
    local text = tostring(err)
    assert.is_nil(text:find("[%z\1-\31\127]"), text)
    assert.matches("request-id rid\\x1b]0;HDR\\x07", text, 1, true)
  end)
end)

describe("files that never end or never start", function()
  local dir, fifo
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. helper.shell_quote(dir)))
    fifo = dir .. "/fifo"
    assert(os.execute("mkfifo " .. helper.shell_quote(fifo)))
  end)
  teardown(function() os.execute("rm -rf " .. helper.shell_quote(dir)) end)

  it("a FIFO nobody writes to is read as empty at once, not waited on forever", function()
    local core = require "vpptoken.core"
    local t0 = core.monotonic()
    local file, err = vpptoken.read_token_file(fifo)
    assert.is_nil(file)
    assert.equal("TokenFileEmpty", err.code)
    local ok, msg = pcall(vpptoken.new, { base_url = "http://127.0.0.1:9/v1.0", tenant_id = "t", client_id = "c",
                                          client_certificate = fifo })
    assert.is_false(ok)
    assert.is_string(msg)
    assert.is_true(core.monotonic() - t0 < 5)
  end)

  it("a pipe whose writer stalls ends at fileio's time limit", function()
    local fileio = require "vpptoken.fileio"
    local core = require "vpptoken.core"
    local saved = fileio.READ_TIMEOUT
    fileio.READ_TIMEOUT = 0.5
    -- this process holds the FIFO open for writing (r+ does not wait on Linux), writes a little, then stalls
    local writer = assert(io.open(fifo, "r+"))
    writer:write("abc")
    writer:flush()
    local t0 = core.monotonic()
    local text, msg, code = fileio.read(fifo, 1024, "token file")
    fileio.READ_TIMEOUT = saved
    writer:close()
    assert.is_nil(text)
    assert.equal("FileUnreadable", code)
    assert.matches("within the time allowed", msg, 1, true)
    assert.is_true(core.monotonic() - t0 < 2.5)
  end)
end)

describe("a walk's bytes and time, and an error's size", function()
  local request = require "vpptoken.request"
  local errors = require "vpptoken.error"

  local ENDLESS = [[
    local socket = require "socket"
    return function(req)
      if req.headers["x-slow"] then socket.sleep(0.2) end
      return { json = { value = { { id = "t" .. req.n, organizationName = ("O"):rep(4000) } },
        ["@odata.nextLink"] = req.base .. "/v1.0/deviceAppManagement/vppTokens?p=" .. req.n } }
    end]]

  it("pages holding more bytes together than list() may keep end it with ListTooLarge", function()
    local saved = request.LIMITS.max_list_bytes
    request.LIMITS.max_list_bytes = 20000
    local client, stop = hostile(ENDLESS)
    local ok, list, err = pcall(client.list, client)
    request.LIMITS.max_list_bytes = saved
    client:close()
    local seen = stop()
    assert.is_true(ok, tostring(list))
    assert.is_nil(list)
    assert.equal("ListTooLarge", err.code)
    assert.is_true(#seen <= 6, #seen .. " pages read")
  end)

  it("a walk that takes longer than its time budget ends with ListTimeout", function()
    local saved = request.LIMITS.max_walk_seconds
    request.LIMITS.max_walk_seconds = 0.5
    local slow = ENDLESS:gsub('req.headers%["x%-slow"%]', "true")
    local client, stop = hostile(slow)
    local t0 = os.time()
    local ok, list, err = pcall(client.list, client)
    request.LIMITS.max_walk_seconds = saved
    client:close()
    stop()
    assert.is_true(ok, tostring(list))
    assert.is_nil(list)
    assert.equal("timeout", err.kind)
    assert.equal("ListTimeout", err.code)
    assert.is_true(os.time() - t0 < 10)
  end)

  it("an error keeps at most MAX_TEXT bytes of a server's message, so printing it stays cheap", function()
    local body = '{"error":{"code":"X","message":"' .. ("\128"):rep(8 * 1024 * 1024) .. '"}}'
    local e = errors.from_response({ status = 500, headers = {}, body = body }, "GET", "https://graph.example/x")
    assert.is_true(#e.message < errors.MAX_TEXT + 64, #e.message .. " bytes kept")
    assert.matches("bytes more", e.message, 1, true)
    assert.is_true(#tostring(e) < 8 * errors.MAX_TEXT)
  end)
end)
