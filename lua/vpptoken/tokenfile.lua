--- Apple's VPP token file (`*.vpptoken` from Apple Business or School Manager): base64 text of a JSON object
-- with `token`, `expDate` (like 2027-05-25T20:08:56-0700) and `orgName`. Intune wants the whole file content
-- uploaded as the vppToken's `token`. Nothing here ever puts the file's content into an error message.
local cjson = require "cjson.safe"
local core = require "vpptoken.core"
local errors = require "vpptoken.error"
local fileio = require "vpptoken.fileio"
local safe_text = require "vpptoken.text"
local compat = require "vpptoken.compat"

local M = {}

--- Decodes base64 (standard or URL-safe alphabet; white space and line breaks anywhere; padding optional).
-- Returns the bytes, or nil and a message that names a position but never the text.
function M.base64_decode(text)
  local s = text:gsub("%s+", "")
  local last = #s -- the body and its '=' padding, found without backtracking
  while last > 0 and s:byte(last) == 61 do last = last - 1 end
  local body, pad = s:sub(1, last), s:sub(last + 1)
  if #pad > 2 then return nil, "too much '=' padding at the end" end
  if #body % 4 == 1 then return nil, "the length is not that of base64 text" end
  if pad ~= "" and (#body + #pad) % 4 ~= 0 then return nil, "wrong '=' padding at the end" end
  local bytes, at = core.base64_decode(body) -- either alphabet, in C (no bit operators below Lua 5.3)
  if not bytes then
    return nil, string.format("a character that is not in the base64 alphabet at position %d", at)
  end
  return bytes
end

local function fail(code, message, path)
  return nil, errors.new{ kind = "token_file", code = code, message = message, path = path }
end

--- Reads the content of a token file (text) into { token, expires, expiration, organization, expired },
-- or nil and an error object (kind "token_file"). `what` names the source in messages; `now` decides `expired`.
function M.parse(text, what, path, now)
  local content = safe_text.trim(text)
  if content == "" then
    return fail("TokenFileEmpty", what .. " is empty: expected the base64 text of an Apple VPP token file", path)
  end
  local raw, why = M.base64_decode(content)
  if not raw then
    return fail("TokenFileNotBase64", what .. " is not base64 text (" .. why .. ")", path)
  end
  local doc = cjson.decode(raw)
  if type(doc) ~= "table" or not raw:match("^%s*{") then
    return fail("TokenFileNotJson", what .. " is base64, but what it encodes is not a JSON object", path)
  end
  local missing = {}
  for _, field in ipairs{ "token", "expDate", "orgName" } do
    local v = doc[field]
    if type(v) ~= "string" or v == "" then missing[#missing + 1] = field end
  end
  if #missing > 0 then
    local e = select(2, fail("TokenFileMissingField", string.format("%s has no %s (a non-empty string)", what,
      table.concat(missing, ", ")), path))
    e.fields = missing
    return nil, e
  end
  local expires, offset = core.time_parse(doc.expDate)
  if not expires then
    -- expDate is a date, not a secret; core's message quotes at most 64 characters of it.
    return fail("TokenFileBadDate", what .. ": expDate is not a date: " .. offset, path)
  end
  return {
    token = content,
    expires = compat.tointeger(expires) or expires,
    expiration = core.time_format(expires, offset),
    organization = doc.orgName,
    expired = expires <= now,
  }
end

-- fileio's codes -> this module's
M.READ_CODES = { FileNotFound = "TokenFileUnreadable", FileUnreadable = "TokenFileUnreadable",
                 FileTooLarge = "TokenFileTooLarge" }

--- Reads a token file from disk (at most fileio.LIMITS.token_file bytes): see vpptoken.read_token_file. On failure
-- also returns fileio's code as a third value ("FileNotFound": no file has that name).
function M.read(path, now)
  local text, msg, code = fileio.read(path, fileio.LIMITS.token_file, "token file")
  if not text then
    if code == "FileTooLarge" then msg = msg .. ": not an Apple VPP token file" end
    local _, err = fail(M.READ_CODES[code], msg, type(path) == "string" and (path:gsub("%z.*", "")) or nil)
    return nil, err, code
  end
  return M.parse(text, "the token file " .. path, path, now)
end

return M
