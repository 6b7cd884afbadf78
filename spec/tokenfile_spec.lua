-- vpptoken.read_token_file: Apple's .vpptoken files, good and broken (no server needed).
local helper = require "helper"
local cjson = require "cjson"
local vpptoken = require "vpptoken"
local files = require "support.tokenfiles"

local SECRET, b64, apple_file = files.SECRET, files.b64, files.apple_file

describe("vpptoken.read_token_file", function()
  local dir, nfiles = nil, 0

  local function write(content)
    nfiles = nfiles + 1
    local path = dir .. "/t" .. nfiles .. ".vpptoken"
    local f = assert(io.open(path, "wb"))
    f:write(content)
    f:close()
    return path
  end

  local function raises(pattern, fn)
    local ok, msg = pcall(fn)
    assert.is_false(ok)
    assert.matches(pattern, tostring(msg))
  end

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helper.shell_quote(dir)))
  end)

  teardown(function()
    if dir then os.execute("rm -rf " .. helper.shell_quote(dir)) end
  end)

  it("reads Apple's file: the whole text to upload, the expiry and the organization", function()
    local content = apple_file{ expDate = "2027-05-25T20:08:56-0700", orgName = "Contoso Schools" }
    local path = write(content .. "\n")
    local f = assert(vpptoken.read_token_file(path))
    assert.equal(content, f.token)
    assert.equal(1811300936, f.expires)
    assert.equal("2027-05-25T20:08:56-07:00", f.expiration)
    assert.equal("Contoso Schools", f.organization)
    assert.equal(path, f.path)
  end)

  it("marks a file that expires in a year expired = false, whatever today's date", function()
    local exp_date, _, at = files.expires_in(365)
    local f = assert(vpptoken.read_token_file(write(apple_file{ expDate = exp_date })))
    assert.equal(at, f.expires)
    assert.is_false(f.expired)
  end)

  it("tolerates line breaks, the URL-safe alphabet and missing padding", function()
    local content = b64(cjson.encode{ token = "a>b?c~", expDate = "2099-01-01T00:00:00Z", orgName = "Org??" })
    assert.matches("[+/]", content) -- the sample exercises both alphabets
    local urlsafe = content:gsub("%+", "-"):gsub("/", "_"):gsub("=+$", "")
    local wrapped = urlsafe:gsub("(" .. ("."):rep(16) .. ")", "%1\r\n")
    local f = assert(vpptoken.read_token_file(write(wrapped)))
    assert.equal("Org??", f.organization)
    assert.equal(wrapped:match("^%s*(.-)%s*$"), f.token)
  end)

  it("marks an expired file expired = true rather than failing", function()
    local f = assert(vpptoken.read_token_file(write(apple_file{ expDate = "2001-01-01T00:00:00-0800" })))
    assert.is_true(f.expired)
    assert.equal("2001-01-01T00:00:00-08:00", f.expiration)
  end)

  local broken = {
    { "a missing file", nil, "TokenFileUnreadable", "cannot open the token file" },
    { "an empty file", "", "TokenFileEmpty", "is empty" },
    { "a file of white space", " \n\t\n", "TokenFileEmpty", "is empty" },
    { "text that is not base64", "this is not base64!" .. SECRET, "TokenFileNotBase64", "not base64 text" },
    { "base64 of something that is not JSON", b64("token=" .. SECRET), "TokenFileNotJson", "not a JSON object" },
    { "base64 of JSON that is not an object", b64('["' .. SECRET .. '"]'), "TokenFileNotJson", "not a JSON object" },
    { "JSON without expDate and orgName", apple_file{ expDate = false, orgName = false }, "TokenFileMissingField",
      "has no expDate, orgName" },
    { "an empty token", apple_file{ token = "" }, "TokenFileMissingField", "has no token" },
    { "an unparseable expDate", apple_file{ expDate = "25/05/2027" }, "TokenFileBadDate", "expDate is not a date" },
  }
  for _, case in ipairs(broken) do
    it("rejects " .. case[1] .. " with a clear error that does not contain the token", function()
      local path = case[2] and write(case[2]) or (dir .. "/missing.vpptoken")
      local f, err = vpptoken.read_token_file(path)
      assert.is_nil(f)
      assert.is_true(vpptoken.is_error(err))
      assert.equal("token_file", err.kind)
      assert.equal(case[3], err.code)
      assert.equal(path, err.path)
      local line = tostring(err)
      assert.matches(case[4], line, 1, true)
      assert.matches(path, line, 1, true)
      assert.is_nil(line:find(SECRET, 1, true))
      assert.is_nil(line:find("S3CRET", 1, true))
    end)
  end

  it("names the missing fields in err.fields and rejects a directory", function()
    local _, err = vpptoken.read_token_file(write(apple_file{ token = false, orgName = false }))
    assert.same({ "token", "orgName" }, err.fields)
    local _, derr = vpptoken.read_token_file(dir)
    assert.equal("TokenFileUnreadable", derr.code)
  end)

  it("raises when the path is not a string", function()
    raises("read_token_file: path must be a non%-empty string", function() vpptoken.read_token_file(42) end)
    raises("read_token_file: path must be a non%-empty string", function() vpptoken.read_token_file("") end)
  end)
end)
