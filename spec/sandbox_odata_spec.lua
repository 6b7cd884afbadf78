-- OData on the sandbox's vppTokens collection: $select, $filter (the LPeg grammar of filter.lua and the
-- typed evaluation of filter_eval.lua), $orderby, $top, $skip, $count and server-driven paging with
-- stable skiptokens. LuaSocket only.
-- luacheck: std +busted
local helper = require "helper"
local apple = helper.apple_token -- a sample Apple token file
local cjson = require "cjson.safe"
local support = require "sandbox_support"

local graph, create, ids_of, follow = support.graph, support.create, support.ids_of, support.follow
local assert_graph_error = support.assert_graph_error
local COLL = support.COLL

-- GET the collection with a query (spaces become %20) on version; returns status, body.
local function query(sb, q, version)
  return graph(sb, "GET", COLL .. "?" .. q:gsub(" ", "%%20"):gsub("'", "%%27"), nil, nil, version)
end

-- The ids a query returns (asserting 200 and a single page).
local function ids(sb, q, version)
  local st, body = query(sb, q, version)
  assert.equal(200, st, type(body) == "table" and body.error and body.error.message or nil)
  assert.is_nil(body["@odata.nextLink"])
  return ids_of(body.value)
end

-- Every page of a query, following nextLinks; calls between(page_number) after each page but the last.
local function all_pages(sb, q, between)
  local st, page = query(sb, q)
  assert.equal(200, st)
  local seen, n = ids_of(page.value), 1
  while page["@odata.nextLink"] do
    if between then between(n) end
    st, page = follow(page["@odata.nextLink"])
    assert.equal(200, st)
    for _, v in ipairs(page.value) do seen[#seen + 1] = v.id end
    n = n + 1
    assert.is_true(n < 50)
  end
  return seen, n
end

describe("vpptoken-sandbox OData", function()
  local sb = helper.sandbox_suite()

  describe("paging and $select", function()
    it("pages with page_size 2 and resumes after a deletion without skipping or repeating", function()
      sb:configure({ page_size = 2 })
      local t = {}
      for i = 1, 5 do t[i] = create(sb, { token = apple("tok" .. i), organizationName = "org" .. i }).id end
      local st, page = graph(sb, "GET", COLL)
      assert.equal(200, st)
      assert.same({ t[1], t[2] }, ids_of(page.value))
      local next_link = page["@odata.nextLink"]
      assert.matches("^" .. sb.url:gsub("%p", "%%%0") .. "/v1%.0/deviceAppManagement/vppTokens%?.*%$skiptoken=",
                     next_link)
      -- between pages: delete the last token already seen and one not yet seen; add a new one
      assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. t[2])))
      assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. t[4])))
      local t6 = create(sb, { token = apple("tok6") }).id
      local seen = ids_of(page.value)
      local pages = 1
      while next_link do
        st, page = follow(next_link)
        assert.equal(200, st)
        for _, v in ipairs(page.value) do seen[#seen + 1] = v.id end
        next_link = page["@odata.nextLink"]
        pages = pages + 1
        assert.is_true(pages < 10)
      end
      assert.same({ t[1], t[2], t[3], t[5], t6 }, seen)
    end)

    it("takes $top as the page size and follows with a nextLink while items remain, as Graph does", function()
      local t = {}
      for i = 1, 7 do t[i] = create(sb, { token = apple("tok" .. i), organizationName = "org" .. i }).id end
      local st, page = graph(sb, "GET", COLL .. "?$top=5")
      assert.equal(200, st)
      assert.same({ t[1], t[2], t[3], t[4], t[5] }, ids_of(page.value))
      assert.is_string(page["@odata.nextLink"])
      assert.truthy(page["@odata.nextLink"]:find("$top=5", 1, true))
      local st2, page2 = follow(page["@odata.nextLink"])
      assert.equal(200, st2)
      assert.same({ t[6], t[7] }, ids_of(page2.value))
      assert.is_nil(page2["@odata.nextLink"])
    end)

    it("lets $top set a page size above page_size and keeps $select and $top in the nextLink", function()
      sb:configure({ page_size = 2 })
      for i = 1, 5 do create(sb, { token = apple("tok" .. i), organizationName = "org" .. i }) end
      local st, page = graph(sb, "GET", COLL .. "?$top=3&$select=organizationName")
      assert.equal(200, st)
      assert.equal(3, #page.value)
      assert.truthy(page["@odata.nextLink"]:find("$select=organizationName", 1, true))
      assert.truthy(page["@odata.nextLink"]:find("$top=3", 1, true))
      local st2, page2 = follow(page["@odata.nextLink"])
      assert.equal(200, st2)
      assert.equal(2, #page2.value)
      assert.is_nil(page2["@odata.nextLink"])
      assert.equal("org5", page2.value[2].organizationName)
      assert.is_nil(page2.value[2].token)
    end)

    it("returns only the $select properties plus id and @odata.type", function()
      create(sb, { token = apple("tok"), organizationName = "Org", appleId = "x@example.com" })
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
      local a = create(sb, { token = apple("1"), organizationName = "Contoso", automaticallyUpdateApps = true })
      create(sb, { token = apple("2"), organizationName = "Fabrikam", automaticallyUpdateApps = true })
      create(sb, { token = apple("3"), organizationName = "Contoso", automaticallyUpdateApps = false })
      local st, body = graph(sb, "GET", COLL .. "?$filter=organizationName%20eq%20'Contoso'%20and%20"
                                  .. "automaticallyUpdateApps%20eq%20true")
      assert.equal(200, st)
      assert.same({ a.id }, ids_of(body.value))
      st, body = graph(sb, "GET", COLL .. "?$filter=state%20eq%20'valid'&$count=true")
      assert.equal(200, st)
      assert.equal(3, #body.value)
      assert.equal(3, body["@odata.count"])
    end)
  end)

  describe("$filter", function()
    local a, b, c -- three tokens with different strings, enums, booleans and dates

    before_each(function()
      a = create(sb, { token = apple("1"), organizationName = "Contoso", appleId = "a@contoso.com", state = "valid",
                       automaticallyUpdateApps = true, expirationDateTime = "2025-01-01T01:30:00+02:00" }).id
      b = create(sb, { token = apple("2"), organizationName = "Fabrikam", appleId = "b@fabrikam.com", state = "expired",
                       automaticallyUpdateApps = false, expirationDateTime = "2024-12-31T23:45:00Z" }).id
      c = create(sb, { token = apple("3"), organizationName = "O'Brien", appleId = "c@contoso.com", state = "unknown",
                       automaticallyUpdateApps = true, expirationDateTime = cjson.null }).id
    end)

    it("compares strings with eq, ne, lt, le, gt, ge (ordinal) and reads '' inside a literal", function()
      assert.same({ a }, ids(sb, "$filter=organizationName eq 'Contoso'"))
      assert.same({ b, c }, ids(sb, "$filter=organizationName ne 'Contoso'"))
      assert.same({ a }, ids(sb, "$filter=organizationName lt 'Fabrikam'"))
      assert.same({ a, b }, ids(sb, "$filter=organizationName le 'Fabrikam'"))
      assert.same({ c }, ids(sb, "$filter=organizationName gt 'Fabrikam'"))
      assert.same({ b, c }, ids(sb, "$filter=organizationName ge 'Fabrikam'"))
      assert.same({ c }, ids(sb, "$filter=organizationName eq 'O''Brien'"))
      assert.same({}, ids(sb, "$filter=organizationName eq 'contoso'"))
    end)

    it("has startswith, endswith, contains and in", function()
      assert.same({ a }, ids(sb, "$filter=startswith(organizationName,'Con')"))
      assert.same({ a, c }, ids(sb, "$filter=endswith(appleId, '@contoso.com')"))
      assert.same({ b }, ids(sb, "$filter=contains(appleId,'fabrik')"))
      assert.same({ b, c }, ids(sb, "$filter=not startswith(organizationName,'Con')"))
      assert.same({ a, c }, ids(sb, "$filter=organizationName in ('Contoso', 'O''Brien', 'Nobody')"))
    end)

    it("compares enums by member, in either literal form, and orders them as the enum does", function()
      assert.same({ b }, ids(sb, "$filter=state eq 'expired'"))
      assert.same({ b }, ids(sb, "$filter=state eq microsoft.graph.vppTokenState'expired'"))
      assert.same({ a, c }, ids(sb, "$filter=state lt 'expired'")) -- unknown, valid, expired, ...
      assert.same({ b }, ids(sb, "$filter=state ge 'expired'"))
      local st, body = query(sb, "$filter=state eq 'Expired'")
      assert_graph_error(st, 400, body, "BadRequest", "'Expired' is not a valid enumeration type constant")
      st, body = query(sb, "$filter=state eq microsoft.graph.vppTokenSyncStatus'none'")
      assert_graph_error(st, 400, body, "BadRequest", "vppTokenSyncStatus")
    end)

    it("compares booleans, takes a Boolean property alone and negates with not", function()
      assert.same({ a, c }, ids(sb, "$filter=automaticallyUpdateApps eq true"))
      assert.same({ b }, ids(sb, "$filter=automaticallyUpdateApps ne true"))
      assert.same({ a, c }, ids(sb, "$filter=automaticallyUpdateApps"))
      assert.same({ b }, ids(sb, "$filter=not automaticallyUpdateApps"))
      assert.same({ b }, ids(sb, "$filter=automaticallyUpdateApps lt true")) -- false before true
    end)

    it("compares DateTimeOffsets as instants, not as text", function()
      -- a expires 2024-12-31T23:30:00Z (written +02:00), b at 23:45Z: as text, a's "2025..." sorts last
      assert.same({ a }, ids(sb, "$filter=expirationDateTime lt 2024-12-31T23:40:00Z"))
      assert.same({ a }, ids(sb, "$filter=expirationDateTime eq 2024-12-31T23:30:00Z"))
      assert.same({ a }, ids(sb, "$filter=expirationDateTime eq 2024-12-31T18:30:00.0000000-05:00"))
      assert.same({ b }, ids(sb, "$filter=expirationDateTime gt 2024-12-31T23:30:00.0000001Z"))
      assert.same({ a, b }, ids(sb, "$filter=expirationDateTime ge 2024-12-31T23:30Z"))
      assert.same({ a }, ids(sb, "$filter=expirationDateTime le '2024-12-31T23:30:00Z'")) -- quoted: lenient
      -- a '+' sent unencoded arrives as a space
      local st, body = graph(sb, "GET", COLL .. "?$filter=expirationDateTime%20eq%202025-01-01T01:30:00+02:00")
      assert.equal(200, st)
      assert.same({ a }, ids_of(body.value))
    end)

    it("matches null with eq null and ne null; lt null matches nothing", function()
      assert.same({ c }, ids(sb, "$filter=expirationDateTime eq null"))
      assert.same({ a, b }, ids(sb, "$filter=expirationDateTime ne null"))
      assert.same({}, ids(sb, "$filter=expirationDateTime lt null"))
      assert.same({ a, b, c }, ids(sb, "$filter=lastSyncDateTime eq null"))
    end)

    it("joins with and, or, not and parentheses, and binds and tighter than or", function()
      assert.same({ a, c }, ids(sb, "$filter=state eq 'valid' or state eq 'unknown' and automaticallyUpdateApps"))
      assert.same({ a, c }, ids(sb, "$filter=(state eq 'valid' or state eq 'unknown') and automaticallyUpdateApps"))
      assert.same({ b, c }, ids(sb, "$filter=state eq 'unknown' and automaticallyUpdateApps or state eq 'expired'"))
      assert.same({ c }, ids(sb, "$filter=state eq 'unknown' and (automaticallyUpdateApps or state eq 'expired')"))
      assert.same({ b }, ids(sb, "$filter=not (state eq 'valid' or state eq 'unknown')"))
      assert.same({ a, b, c }, ids(sb, "$filter=true or false"))
      assert.same({}, ids(sb, "$filter=((false))"))
    end)

    it("answers 400 with the position of a syntax error", function()
      local cases = {
        { "organizationName eq", "Syntax error at position 19 in '$filter'" },
        { "organizationName eq 'x' and", "Syntax error at position 27 in '$filter'" },
        { "organizationName eq 'x", "Syntax error at position 20 in '$filter'" },
        { "(state eq 'valid'", "Syntax error at position 17 in '$filter'" },
        { "state eq 'valid' state", "Syntax error at position 17 in '$filter'" },
        { "substringof('C',organizationName)", "substringof('C',organizationName)" },
        { "state == 'valid'", "Syntax error at position 6 in '$filter'" },
        { string.rep("(", 500) .. "true" .. string.rep(")", 500), "nested too deeply" },
      }
      for _, case in ipairs(cases) do
        local st, body = query(sb, "$filter=" .. case[1])
        assert_graph_error(st, 400, body, "BadRequest", case[2])
      end
    end)

    it("answers 400 for an unknown property, a beta property on v1.0, wrong types and collections", function()
      local cases = {
        { "colour eq 'x'", "Could not find a property named 'colour'" },
        { "displayName eq 'x'", "It exists only in the beta API" },
        { "automaticallyUpdateApps eq 'yes'", "incompatible types" },
        { "organizationName eq true", "incompatible types" },
        { "expirationDateTime gt 2025-02-30T00:00:00Z", "not a valid Edm.DateTimeOffset" },
        { "state eq 'duplicateLocationId'", "not a valid enumeration type constant" },
        { "organizationName", "must be a Boolean" },
        { "startswith(state,'v')", "Edm.String" },
      }
      for _, case in ipairs(cases) do
        local st, body = query(sb, "$filter=" .. case[1])
        assert_graph_error(st, 400, body, "BadRequest", case[2])
      end
      local st, body = query(sb, "$filter=roleScopeTagIds eq '0'", "beta")
      assert_graph_error(st, 400, body, "BadRequest", "collection")
      assert.same({}, ids(sb, "$filter=state eq 'duplicateLocationId' or displayName eq 'x'", "beta"))
    end)
  end)

  describe("$orderby", function()
    it("sorts by several keys, asc and desc, nulls first, enums by member and dates as instants", function()
      local t1 = create(sb, { token = apple("1"), organizationName = "B", state = "valid",
                              expirationDateTime = "2025-01-01T01:30:00+02:00" }).id
      local t2 = create(sb, { token = apple("2"), organizationName = "A", state = "expired",
                              expirationDateTime = "2024-12-31T23:45:00Z" }).id
      local t3 = create(sb, { token = apple("3"), organizationName = "B", state = "unknown",
                              expirationDateTime = cjson.null }).id
      local t4 = create(sb, { token = apple("4"), state = "valid", expirationDateTime = "2030-01-01T00:00:00Z",
                              organizationName = cjson.null }).id
      assert.same({ t4, t2, t1, t3 }, ids(sb, "$orderby=organizationName"))
      assert.same({ t1, t3, t2, t4 }, ids(sb, "$orderby=organizationName desc"))
      assert.same({ t3, t1, t2, t4 }, ids(sb, "$orderby=organizationName desc,state asc"))
      assert.same({ t3, t1, t4, t2 }, ids(sb, "$orderby=state, organizationName desc"))
      assert.same({ t3, t1, t2, t4 }, ids(sb, "$orderby=expirationDateTime"))
      assert.same({ t4, t2, t1, t3 }, ids(sb, "$orderby=expirationDateTime desc"))
      assert.same({ t3, t1 }, ids(sb, "$orderby=state&$filter=organizationName eq 'B'"))
    end)

    it("answers 400 for an unknown or repeated property, a collection and bad syntax", function()
      local cases = {
        { "$orderby=colour", "Could not find a property named 'colour'" },
        { "$orderby=state desc, state", "Duplicate property named 'state'" },
        { "$orderby=state sideways", "Syntax error at position 6 in '$orderby'" },
        { "$orderby=state,", "Syntax error at position 6 in '$orderby'" },
        { "$orderby=displayName", "It exists only in the beta API" },
      }
      for _, case in ipairs(cases) do
        local st, body = query(sb, case[1])
        assert_graph_error(st, 400, body, "BadRequest", case[2])
      end
      local st, body = query(sb, "$orderby=roleScopeTagIds", "beta")
      assert_graph_error(st, 400, body, "BadRequest", "collection")
    end)
  end)

  describe("$top, $skip and $count", function()
    it("skips, pages by $top and counts every match on the first page", function()
      sb:configure({ page_size = 2 })
      local t = {}
      for i = 1, 7 do t[i] = create(sb, { token = apple(), organizationName = "org" .. i,
                                          automaticallyUpdateApps = i % 2 == 1 }).id end
      local st, body = query(sb, "$filter=automaticallyUpdateApps&$count=true&$skip=1&$top=2")
      assert.equal(200, st)
      assert.equal(4, body["@odata.count"])
      assert.same({ t[3], t[5] }, ids_of(body.value))
      local st2, rest = follow(body["@odata.nextLink"])
      assert.equal(200, st2)
      assert.same({ t[7] }, ids_of(rest.value))
      assert.is_nil(rest["@odata.nextLink"])
      st, body = query(sb, "$count=true&$top=0")
      assert.equal(200, st)
      assert.equal(7, body["@odata.count"])
      assert.same({}, body.value)
      st, body = query(sb, "$count=maybe")
      assert_graph_error(st, 400, body, "BadRequest", "$count")
      st, body = query(sb, "$skip=x")
      assert_graph_error(st, 400, body, "BadRequest", "$skip")
    end)

    it("rejects an unknown $option, a negative $top, a repeated option and a garbage $skiptoken", function()
      local st, body = query(sb, "$frobnicate=1")
      assert_graph_error(st, 400, body, "BadRequest", "$frobnicate")
      st, body = query(sb, "$top=-1")
      assert_graph_error(st, 400, body, "BadRequest", "$top")
      st, body = query(sb, "$top=1&$top=2")
      assert_graph_error(st, 400, body, "BadRequest", "more than once")
      st, body = query(sb, "$skiptoken=garbage")
      assert_graph_error(st, 400, body, "BadRequest", "$skiptoken")
    end)
  end)

  describe("server-driven paging", function()
    it("carries the options in an absolute nextLink with an opaque $skiptoken", function()
      sb:configure({ page_size = 2 })
      for i = 1, 5 do create(sb, { token = apple(), organizationName = "org" .. i }) end
      local st, body = query(sb, "$filter=startswith(organizationName,'org')&$orderby=organizationName desc"
                                 .. "&$count=true&$select=organizationName")
      assert.equal(200, st)
      assert.equal(5, body["@odata.count"])
      local link = body["@odata.nextLink"]
      assert.equal(sb.url .. "/v1.0" .. COLL .. "?", link:sub(1, #sb.url + #COLL + 6))
      for _, part in ipairs({ "$filter=", "$orderby=", "$count=true", "$select=organizationName", "$skiptoken=" }) do
        assert.truthy(link:find(part, 1, true), part .. " missing from " .. link)
      end
      assert.falsy(link:match("%$skiptoken=[^&]*org"), "the skiptoken shows its content: " .. link)
      local names = {}
      for _, v in ipairs(body.value) do names[#names + 1] = v.organizationName end
      st, body = follow(link)
      assert.equal(200, st)
      for _, v in ipairs(body.value) do names[#names + 1] = v.organizationName end
      assert.same({ "org5", "org4", "org3", "org2" }, names)
    end)

    it("with $orderby, resumes after the last key: nothing skipped or repeated when tokens come and go", function()
      sb:configure({ page_size = 2 })
      local id = {}
      for _, name in ipairs({ "d", "b", "f", "a", "e", "c" }) do
        id[name] = create(sb, { token = apple(), organizationName = name }).id
      end
      local seen = all_pages(sb, "$orderby=organizationName desc", function(page)
        if page == 1 then -- seen f, e: delete e (seen) and b (not yet); add ee (before the cursor) and bb
          assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. id.e)))
          assert.equal(204, (graph(sb, "DELETE", COLL .. "/" .. id.b)))
          id.ee = create(sb, { token = apple(), organizationName = "ee" }).id
          id.bb = create(sb, { token = apple(), organizationName = "bb" }).id
        end
      end)
      assert.same({ id.f, id.e, id.d, id.c, id.bb, id.a }, seen)
    end)

    it("keeps ties in creation order across pages of $top", function()
      local t = {}
      for i = 1, 6 do t[i] = create(sb, { token = apple(), state = i % 2 == 0 and "valid" or "expired" }).id end
      local seen, pages = all_pages(sb, "$orderby=state&$top=2")
      assert.same({ t[2], t[4], t[6], t[1], t[3], t[5] }, seen)
      assert.equal(3, pages)
    end)

    it("refuses a skiptoken from a request with another $orderby", function()
      sb:configure({ page_size = 1 })
      for _ = 1, 2 do create(sb, { token = apple() }) end
      local _, body = query(sb, "$orderby=appleId")
      local token = body["@odata.nextLink"]:match("%$skiptoken=([^&]+)")
      local st, err = query(sb, "$orderby=state&$skiptoken=" .. token)
      assert_graph_error(st, 400, err, "BadRequest", "another $orderby")
    end)
  end)
end)
