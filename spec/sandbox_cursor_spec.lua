-- The sandbox's paging cursor (issue #21): a walk of a tenant's vppTokens page by page, following nextLinks,
-- sees each token that existed throughout the walk exactly once while others are created and deleted between
-- pages, with or without $filter and $orderby; a skiptoken that was altered, cut, forged, or made for another
-- query, tenant or store is a Graph-shaped 400. LuaSocket only.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token
local cjson = require "cjson.safe"
local support = require "sandbox_support"

local graph, create, follow = support.graph, support.create, support.follow
local assert_graph_error = support.assert_graph_error
local COLL = support.COLL

local function get(sb, q)
  return graph(sb, "GET", COLL .. "?" .. q:gsub(" ", "%%20"):gsub("'", "%%27"))
end

local function delete(sb, id)
  assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. id)))
end

-- Walks every page of query q (nil: none); calls between(page_number, seen) after each page but the last.
-- Returns the ids in the order seen, and how many times each was seen.
local function walk(sb, q, between)
  local st, page = get(sb, q or "")
  assert.equal(200, st, cjson.encode(page))
  local order, times, pages = {}, {}, 0
  while true do
    pages = pages + 1
    for _, v in ipairs(page.value) do
      order[#order + 1] = v.id
      times[v.id] = (times[v.id] or 0) + 1
    end
    local link = page["@odata.nextLink"]
    if not link then break end
    if between then between(pages, times) end
    st, page = follow(link)
    assert.equal(200, st, cjson.encode(page))
    assert.is_true(pages < 200, "the walk does not end")
  end
  return order, times, pages
end

local function skiptoken_of(link)
  return assert(link:match("%$skiptoken=([^&]+)"), "no $skiptoken in " .. link)
end

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

describe("vpptoken-sandbox paging cursor", function()
  local sb = helper.sandbox_suite()

  it("walks every token that existed throughout exactly once while tokens are created and deleted mid-walk",
     function()
    sb:configure({ page_size = 3 })
    local ids, alive = {}, {}
    for i = 1, 30 do
      ids[i] = create(sb, { token = apple("tok" .. i), organizationName = "org" .. i }).id
      alive[ids[i]] = true
    end
    local deleted, made = {}, {}
    local order, times = walk(sb, nil, function(page, seen)
      -- delete one token already seen and one not yet seen, and make two new ones
      for _, id in ipairs(ids) do
        if alive[id] and seen[id] then
          delete(sb, id)
          alive[id], deleted[id] = nil, true
          break
        end
      end
      for i = #ids, 1, -1 do
        local id = ids[i]
        if alive[id] and not seen[id] then
          delete(sb, id)
          alive[id], deleted[id] = nil, "unseen"
          break
        end
      end
      for k = 1, 2 do made[#made + 1] = create(sb, { token = apple("new" .. page .. "-" .. k) }).id end
    end)
    for id, n in pairs(times) do assert.equal(1, n, id .. " seen " .. n .. " times") end
    for _, id in ipairs(ids) do
      if alive[id] then assert.equal(1, times[id], "a token present throughout was lost: " .. id) end
      if deleted[id] == "unseen" then assert.is_nil(times[id], "a token deleted before its page was shown") end
    end
    -- creation order: the tokens seen keep the order they were made in
    local rank = {}
    for i, id in ipairs(ids) do rank[id] = i end
    for i, id in ipairs(made) do rank[id] = #ids + i end
    for i = 2, #order do assert.is_true(rank[order[i - 1]] < rank[order[i]], "out of creation order") end
    -- tokens made during the walk come after the cursor, so the walk shows them too
    for _, id in ipairs(made) do assert.equal(1, times[id]) end
  end)

  it("fills each page of a $filter walk with matching tokens, in creation order, while tokens come and go",
     function()
    sb:configure({ page_size = 4 })
    local valid = {}
    for i = 1, 40 do
      local state = i % 3 == 0 and "valid" or "invalid"
      local id = create(sb, { token = apple("tok" .. i), state = state }).id
      if state == "valid" then valid[#valid + 1] = id end
    end
    local sizes = {}
    local st, first = get(sb, "$filter=state eq 'valid'&$count=true")
    assert.equal(200, st)
    assert.equal(#valid, first["@odata.count"])
    local late
    local order, times, pages = walk(sb, "$filter=state eq 'valid'", function(page)
      sizes[#sizes + 1] = page
      if page == 1 then
        delete(sb, valid[2]) -- seen: makes no difference
        delete(sb, valid[#valid]) -- not yet seen: never shown
        create(sb, { token = apple("late-invalid"), state = "invalid" })
        late = create(sb, { token = apple("late-valid"), state = "valid" }).id
      end
    end)
    local expected = {}
    for i = 1, #valid - 1 do expected[#expected + 1] = valid[i] end
    expected[#expected + 1] = late
    assert.same(expected, order)
    for id, n in pairs(times) do assert.equal(1, n, id) end
    -- every page but the last is full: the filter is applied while the page is filled
    assert.equal(math.ceil(#expected / 4), pages)
  end)

  it("walks a $filter with $orderby on another property in that order, each token once, across changes",
     function()
    sb:configure({ page_size = 2 })
    local id = {}
    for _, name in ipairs({ "m", "c", "x", "a", "q", "f", "z", "b" }) do
      id[name] = create(sb, { token = apple(), organizationName = name, state = "valid" }).id
      create(sb, { token = apple(), organizationName = name, state = "invalid" })
    end
    local order = walk(sb, "$filter=state eq 'valid'&$orderby=organizationName desc", function(page)
      if page == 1 then -- seen z, x: delete x (seen) and c (not yet); add y (before the cursor) and d
        delete(sb, id.x)
        delete(sb, id.c)
        id.y = create(sb, { token = apple(), organizationName = "y", state = "valid" }).id
        id.d = create(sb, { token = apple(), organizationName = "d", state = "valid" }).id
      end
    end)
    assert.same({ id.z, id.x, id.q, id.m, id.f, id.d, id.b, id.a }, order)
  end)

  it("shows an $orderby walk a PATCH made between pages, as a fresh sort would", function()
    sb:configure({ page_size = 2 })
    local id = {}
    for _, name in ipairs({ "a", "b", "c", "d", "e", "f" }) do
      id[name] = create(sb, { token = apple(), organizationName = name }).id
    end
    local order = walk(sb, "$orderby=organizationName", function(page)
      if page == 1 then -- seen a, b: d moves to the end, f before the cursor (not shown again)
        assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. id.d, { organizationName = "zz" })))
        assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. id.f, { organizationName = "0" })))
      end
    end)
    assert.same({ id.a, id.b, id.c, id.e, id.d }, order)
    local st, body = get(sb, "$orderby=organizationName&$count=true&$top=1")
    assert.equal(200, st)
    assert.equal(6, body["@odata.count"])
    assert.same({ id.f }, support.ids_of(body.value))
  end)

  it("re-sorts an $orderby walk when a license sync completes between pages", function()
    sb:configure({ page_size = 2, sync_seconds = 0.3 * support.SLOW })
    local id = {}
    for _, name in ipairs({ "a", "b", "c", "d", "x" }) do id[name] = create(sb, { token = apple() }).id end
    for _, name in ipairs({ "c", "d" }) do
      assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. id[name], { lastSyncStatus = "completed" })))
    end
    assert.equal(200, (graph(sb, "POST", COLL .. "/" .. id.x .. "/syncLicenses")))
    -- none: a, b; inProgress: x; completed: c, d. Once x's sync is over it sorts after c and d.
    local order = walk(sb, "$orderby=lastSyncStatus", function(page)
      if page == 1 then require("socket").sleep(0.5 * support.SLOW) end
    end)
    assert.same({ id.a, id.b, id.c, id.d, id.x }, order)
  end)

  it("keeps $skip, $top and $count on an index walk as before: $skip counts matching tokens", function()
    local t = {}
    for i = 1, 12 do t[i] = create(sb, { token = apple(), state = i % 2 == 0 and "valid" or "invalid" }).id end
    delete(sb, t[4]) -- a hole before the $skip offset
    local st, body = get(sb, "$filter=state eq 'valid'&$skip=2&$top=2&$count=true")
    assert.equal(200, st)
    assert.equal(5, body["@odata.count"])
    assert.same({ t[8], t[10] }, support.ids_of(body.value))
    local rest = walk(sb, "$skip=9")
    assert.same({ t[11], t[12] }, rest)
    st, body = get(sb, "$skip=50")
    assert.equal(200, st)
    assert.same({}, body.value)
    assert.is_nil(body["@odata.nextLink"])
    -- the count follows changes
    delete(sb, t[6])
    assert.equal(204, (graph(sb, "PATCH", COLL .. "/" .. t[1], { state = "valid" })))
    st, body = get(sb, "$filter=state eq 'valid'&$count=true&$top=0")
    assert.equal(200, st)
    assert.equal(5, body["@odata.count"])
    create(sb, { token = apple(), state = "valid" })
    st, body = get(sb, "$filter=state eq 'valid'&$count=true&$top=0")
    assert.equal(200, st)
    assert.equal(6, body["@odata.count"])
  end)

  it("answers an altered, cut, forged or foreign $skiptoken with a Graph 400, never a 500", function()
    sb:configure({ page_size = 2 })
    for i = 1, 6 do create(sb, { token = apple(), organizationName = "org" .. i, state = "valid" }) end
    local _, page = get(sb, "$filter=state eq 'valid'")
    local token = skiptoken_of(page["@odata.nextLink"])
    local bad = {
      "garbage", "00", "zz", token:sub(1, #token - 2), token:sub(1, #token // 2), token .. "00",
      token:sub(3), string.rep("ab", 1500),
      -- decodable forms of a cursor, made up by a client
      hex('{"v":2,"o":"","k":[],"s":1,"n":0}'), hex('{"v":2,"o":"organizationName asc","k":[{}],"s":1,"n":0}'),
      hex('{"v":2,"o":"","k":[],"s":1e300,"n":0}'), hex("[]"), hex('"x"'), hex("null"),
    }
    -- every single-digit change of a real token
    for i = 1, #token, math.max(1, #token // 40) do
      local c = token:sub(i, i)
      bad[#bad + 1] = token:sub(1, i - 1) .. (c == "0" and "1" or "0") .. token:sub(i + 1)
    end
    for _, b in ipairs(bad) do
      local st, err = get(sb, "$filter=state eq 'valid'&$skiptoken=" .. b)
      assert_graph_error(st, 400, err, "BadRequest", "$skiptoken")
    end
    -- the real one still works
    local st = get(sb, "$filter=state eq 'valid'&$skiptoken=" .. token)
    assert.equal(200, st)
  end)

  it("refuses a skiptoken made for another $filter, and one from before a reset", function()
    sb:configure({ page_size = 2 })
    for i = 1, 6 do create(sb, { token = apple(), organizationName = "org" .. i, state = "valid" }) end
    local _, page = get(sb, "$filter=state eq 'valid'")
    local token = skiptoken_of(page["@odata.nextLink"])
    local st, err = get(sb, "$filter=state eq 'invalid'&$skiptoken=" .. token)
    assert_graph_error(st, 400, err, "BadRequest", "another $filter")
    st, err = get(sb, "$skiptoken=" .. token)
    assert_graph_error(st, 400, err, "BadRequest", "another $filter")
    sb:reset()
    for i = 1, 6 do create(sb, { token = apple(), organizationName = "org" .. i, state = "valid" }) end
    st, err = get(sb, "$filter=state eq 'valid'&$skiptoken=" .. token)
    assert_graph_error(st, 400, err, "BadRequest", "$skiptoken")
  end)
end)

describe("vpptoken-sandbox paging cursor across tenants", function()
  local apps_file = os.tmpname()
  local sb = helper.sandbox_suite(function()
    local rw = { "DeviceManagementServiceConfig.ReadWrite.All" }
    local f = assert(io.open(apps_file, "w"))
    f:write(cjson.encode({ tenant = "home", apps = {
      { client_id = "app-a", client_secret = "secret-a", tenant = "tenant-a", permissions = rw },
      { client_id = "app-b", client_secret = "secret-b", tenant = "tenant-b", permissions = rw },
    } }))
    f:close()
    return { "--apps", apps_file }
  end)
  teardown(function() os.remove(apps_file) end)

  local function bearer(client_id)
    local st, body = sb:control("POST", "token", { client_id = client_id })
    assert.equal(200, st, cjson.encode(body))
    return "Bearer " .. body.access_token
  end
  local function as(auth) return { authorization = auth } end -- a fresh table: a request adds to its headers

  it("refuses one tenant's skiptoken in another tenant's walk", function()
    sb:configure({ page_size = 2 })
    local a, b = bearer("app-a"), bearer("app-b")
    for _, h in ipairs({ a, b }) do
      for i = 1, 5 do
        local st = graph(sb, "POST", COLL, { token = apple(), organizationName = "org" .. i }, as(h))
        assert.equal(201, st)
      end
    end
    local st, page = graph(sb, "GET", COLL, nil, as(a))
    assert.equal(200, st)
    local token = skiptoken_of(page["@odata.nextLink"])
    local err
    st, err = graph(sb, "GET", COLL .. "?$skiptoken=" .. token, nil, as(b))
    assert_graph_error(st, 400, err, "BadRequest", "$skiptoken")
    st, page = graph(sb, "GET", COLL .. "?$skiptoken=" .. token, nil, as(a))
    assert.equal(200, st)
    assert.equal(2, #page.value)
  end)
end)
