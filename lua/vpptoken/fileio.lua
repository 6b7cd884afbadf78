--- Reading the files the library and the command line are given (token files, certificates, secrets), each with a
-- size cap: a path to /dev/zero, a pipe or a huge file never reads without bound.
local safe_text = require "vpptoken.text"

local M = {}

--- The caps, in bytes, one per kind of file (a certificate's is the C core's, core.MAX_PEM_BYTES).
M.LIMITS = {
  token_file = 1024 * 1024,     -- an Apple .vpptoken file is about 1 KiB
  secret = 64 * 1024,           -- a client secret or an access token
}

--- Reads at most `max` bytes of the file at `path`. Returns its text, or nil, a message that names `what` and the
-- reason but never the path (a secret passed where a path belongs must not come back in a message), and a code:
-- "FileUnreadable" or "FileTooLarge".
function M.read(path, max, what)
  if type(path) ~= "string" or path == "" then
    return nil, what .. ": the path must be a non-empty string", "FileUnreadable"
  end
  if path:find("\0", 1, true) then -- io.open would stop at the NUL and open another file
    return nil, what .. ": the path contains a NUL byte", "FileUnreadable"
  end
  local f, msg = io.open(path, "rb")
  -- io.open's message is "PATH: reason": keep the reason, and show the path only through `quoted`
  local function reason(m) m = tostring(m) return m:sub(1, #path + 2) == path .. ": " and m:sub(#path + 3) or m end
  local shown = safe_text.quoted(path, M.PATH_SHOWN_MAX)
  if not f then return nil, "cannot open the " .. what .. " " .. shown .. ": " .. reason(msg), "FileUnreadable" end
  local text, rmsg = f:read(max + 1)
  f:close()
  if text == nil and rmsg then
    return nil, "cannot read the " .. what .. " " .. shown .. ": " .. reason(rmsg), "FileUnreadable"
  end
  text = text or ""
  if #text > max then
    return nil, string.format("the %s %s is larger than %d bytes", what, shown, max), "FileTooLarge"
  end
  return text
end

return M
