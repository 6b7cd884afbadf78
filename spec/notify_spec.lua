-- vpptoken.post_json: a JSON document POSTed to a webhook, against a server on loopback (spec/support/fake_server.lua).
local helper = require "helper"
local cjson = require "cjson"
local socket = require "socket"
local vpptoken = require "vpptoken"

local function raises(pattern, fn)
  local ok, msg = pcall(fn)
  assert.is_false(ok)
  assert.matches(pattern, tostring(msg))
end

local function body_of(all)
  for _, l in ipairs(all) do
    local b = l:match("^body (.*)$")
    if b then return b end
  end
end

describe("vpptoken.post_json", function()
  it("refuses plain http:// to anything but a loopback address, and URLs that are not http(s)", function()
    local doc = { text = "hello" }
    raises("plain http:// is allowed only to a loopback address", function()
      vpptoken.post_json("http://example.com/hook", doc)
    end)
    raises("plain http:// is allowed only to a loopback address", function()
      vpptoken.post_json("http://10.0.0.1:8080/hook", doc)
    end)
    raises("plain http:// is allowed only to a loopback address", function()
      vpptoken.post_json("http://127.0.0.1.example.com/hook", doc)
    end)
    raises("the scheme must be http or https", function() vpptoken.post_json("ftp://example.com/hook", doc) end)
    raises("space or control character", function() vpptoken.post_json("https://exa mple.com/", doc) end)
    raises("a user name or password in the URL", function() vpptoken.post_json("https://host@evil/", doc) end)
    raises("a user name or password in the URL", function()
      vpptoken.post_json("http://127.0.0.1@evil.example/", doc)
    end)
    raises("url must be a string", function() vpptoken.post_json(nil, doc) end)
  end)

  it("raises on a document that is not a table or a string, and on an unknown option", function()
    raises("doc must be a table or a string", function() vpptoken.post_json("https://example.com/", 42) end)
    raises("unknown option 'insecure'", function()
      vpptoken.post_json("https://example.com/", {}, { insecure = true })
    end)
  end)

  it("POSTs the document as JSON with Content-Type application/json and returns true, 200", function()
    local port, stop = helper.start_fake_server("ok")
    local doc = { title = "Token expiring", facts = { { name = "Apple ID", value = "vpp@contoso.com" } }, n = 3 }
    local ok, status = vpptoken.post_json("http://127.0.0.1:" .. port .. "/webhook/abc?sig=x", doc)
    local seen, all = stop()
    assert.is_true(ok)
    assert.equal(200, status)
    assert.same({ "POST /webhook/abc?sig=x HTTP/1.1 auth=no" }, seen)
    assert.equal("header content-type: application/json; charset=utf-8", all[2])
    assert.same(doc, cjson.decode(body_of(all)))
  end)

  it("sends a string document as it is", function()
    local port, stop = helper.start_fake_server("ok")
    assert(vpptoken.post_json("http://localhost:" .. port .. "/h", '{"text":"as is"}'))
    local _, all = stop()
    assert.equal('{"text":"as is"}', body_of(all))
  end)

  it("returns nil and an error object for an answer that is not 2xx, without the URL's path or query", function()
    local port, stop = helper.start_fake_server("status", "500")
    local ok, err = vpptoken.post_json("http://127.0.0.1:" .. port .. "/secret-path?sig=secret-sig", { a = 1 })
    local seen = stop()
    assert.is_nil(ok)
    assert.is_true(vpptoken.is_error(err))
    assert.equal(500, err.status)
    assert.equal("server", err.kind)
    assert.equal("POST", err.method)
    assert.equal("http://127.0.0.1:" .. port .. "/...", err.url)
    assert.matches("webhook refused the card", err.message, 1, true)
    assert.is_nil(tostring(err):find("secret", 1, true))
    assert.equal(1, #seen) -- a 500 to a POST is not repeated

    port, stop = helper.start_fake_server("status", "404")
    ok, err = vpptoken.post_json("http://127.0.0.1:" .. port .. "/gone", { a = 1 })
    stop()
    assert.is_nil(ok)
    assert.equal(404, err.status)
    assert.equal("not_found", err.kind)
  end)

  it("returns nil and a network error when nothing listens", function()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    local ok, err = vpptoken.post_json("http://127.0.0.1:" .. port .. "/hook?sig=secret", { a = 1 },
      { max_retries = 0 })
    assert.is_nil(ok)
    assert.equal("network", err.kind)
    assert.equal("http://127.0.0.1:" .. port .. "/...", err.url)
    assert.is_nil(tostring(err):find("secret", 1, true))
  end)
end)
