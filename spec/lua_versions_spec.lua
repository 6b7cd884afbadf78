-- What must come out the same on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT (`make test-lua-all` runs this on each):
-- the --shard slices, the UTF-8 check, base64 decoding and the C core's integer arguments.
local vpptoken = require "vpptoken"
local core = require "vpptoken.core"
local text = require "vpptoken.text"
local tokenfile = require "vpptoken.tokenfile"

describe("vpptoken.tenants.shard_of (--shard K/N)", function()
  -- Golden values of the 32-bit FNV-1a slice: mixed hosts running slices of one tenants file must agree.
  it("puts a tenant in the same slice on every Lua", function()
    assert.equal(3, vpptoken.tenants.shard_of("", 7))
    assert.equal(2, vpptoken.tenants.shard_of("contoso", 7))
    assert.equal(7, vpptoken.tenants.shard_of("fabrikam", 7))
    assert.equal(1, vpptoken.tenants.shard_of("tenant-042", 7))
    assert.equal(5, vpptoken.tenants.shard_of("\195\156nic\195\182de", 7))
    assert.equal(633, vpptoken.tenants.shard_of("contoso", 1000))
    assert.equal(631, vpptoken.tenants.shard_of("fabrikam", 1000))
    assert.equal(175, vpptoken.tenants.shard_of("\195\156nic\195\182de", 1000))
    assert.equal(662, vpptoken.tenants.shard_of(string.rep("x", 1000), 1000))
    assert.equal(2, require("vpptoken.cli.tenants").shard_of("contoso", 7)) -- the command's
  end)

  it("raises on a name that is no string or a count that is no whole number >= 1", function()
    assert.error_matches(function() vpptoken.tenants.shard_of(7, 2) end, "name must be a string")
    assert.error_matches(function() vpptoken.tenants.shard_of("a", 0) end, "whole number >= 1")
    assert.error_matches(function() vpptoken.tenants.shard_of("a", 1.5) end, "whole number >= 1")
  end)
end)

describe("text from a server", function()
  it("keeps valid UTF-8 and shows what is not valid UTF-8 as byte escapes, alike on every Lua", function()
    assert.equal("caf\195\169 \240\159\152\128", text.printable("caf\195\169 \240\159\152\128"))
    assert.equal("\\xed\\xa0\\x80", text.printable("\237\160\128")) -- a surrogate (U+D800)
    assert.equal("\\xc0\\xaf", text.printable("\192\175")) -- an overlong '/'
    assert.equal("\\xf4\\x90\\x80\\x80", text.printable("\244\144\128\128")) -- above U+10FFFF
    assert.equal("a\\xffb", text.printable("a\255b"))
    assert.equal("\\u202e", text.printable("\226\128\174")) -- a direction control
  end)
end)

describe("base64 from a token file", function()
  it("decodes both alphabets and names the position of a bad character", function()
    assert.equal("\251\255\190", tokenfile.base64_decode("+/++"))
    assert.equal("\251\255\190", tokenfile.base64_decode("-_--"))
    assert.equal("any carnal pleas", tokenfile.base64_decode("YW55IGNhcm5hbCBwbGVhcw=="))
    assert.equal("any carnal pleasu", tokenfile.base64_decode("YW55IGNhcm5hbCBwbGVhc3U"))
    local bytes, msg = tokenfile.base64_decode("YW5*IGNh")
    assert.is_nil(bytes)
    assert.matches("at position 4", msg)
  end)
end)

describe("the C core's whole-number arguments", function()
  it("refuse a number with a fraction on every Lua, instead of cutting it", function()
    assert.error_matches(function() core.terminal(1.5) end, "number has no integer representation")
    assert.error_matches(function() core.session{ max_response_size = 4096.5 } end,
      "a whole number of bytes from 1024 to 1073741824 expected, got 4096.5")
  end)
end)

describe("the enums", function()
  it("walk with pairs() on every Lua", function()
    local n = 0
    for k, v in pairs(vpptoken.AccountType) do
      assert.equal(k, v)
      n = n + 1
    end
    assert.equal(2, n)
  end)
end)

describe("vpptoken.assert", function()
  it("raises a failed call's error object itself on every Lua (5.1 and 5.2's assert cannot)", function()
    local server = assert(require("socket").bind("127.0.0.1", 0)) -- a port nothing listens on once closed
    local _, port = server:getsockname()
    server:close()
    local client = vpptoken.new{ access_token = "t", base_url = "http://127.0.0.1:" .. port .. "/v1.0",
                                 max_retries = 0 }
    local token, err = client:get("abc")
    assert.is_nil(token)
    local ok, raised = pcall(vpptoken.assert, client:get("abc"))
    assert.is_false(ok)
    assert.is_table(raised)
    assert.equal("network", raised.kind)
    assert.equal(err.code, raised.code)
  end)

  it("passes every value through when the first is true", function()
    local a, b, c = vpptoken.assert(1, "two", 3)
    assert.same({ 1, "two", 3 }, { a, b, c })
    local ok, raised = pcall(vpptoken.assert, false)
    assert.is_false(ok)
    assert.equal("assertion failed!", raised)
  end)
end)
