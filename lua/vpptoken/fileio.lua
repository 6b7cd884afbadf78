--- Reading the files the library and the command line are given (token files, certificates, secrets), each with a
-- size cap and a time limit: /dev/zero, a huge file, a FIFO nobody writes to or a stalled pipe never read without
-- bound (the C core's read_file does the reading; io.open would wait forever on such a FIFO).
local core = require "vpptoken.core"
local safe_text = require "vpptoken.text"

local M = {}

--- The caps, in bytes, one per kind of file (a certificate's is the C core's, core.MAX_PEM_BYTES).
M.LIMITS = {
  token_file = 1024 * 1024, -- an Apple .vpptoken file is about 1 KiB
  secret = 64 * 1024,       -- a client secret or an access token
}

--- Seconds a read may take: a pipe (`<(pass show app)`) whose writer stalls ends there.
M.READ_TIMEOUT = 10

-- A path longer than this is not shown in a message: it is more likely the file's content (a token, a secret)
-- passed where its path belongs than a path.
M.PATH_SHOWN_MAX = 256

--- Reads at most `max` bytes of the file at `path`. Returns its text, or nil, a message that names `what`, the path
-- (only up to PATH_SHOWN_MAX bytes: a secret passed as a path must not come back in a message) and the reason, and
-- a code: "FileNotFound" (no file by that name), "FileUnreadable" or "FileTooLarge", and the bare reason (for a
-- caller that names the file its own way).
function M.read(path, max, what)
  local text, msg, code, reason = M.read_with_mode(path, max, what)
  if text then return text end
  return nil, msg, code, reason
end

--- As read, but a file read returns its text and its permission bits (a number such as 384 for 0600), taken from
-- the file that was read: a caller that keeps secrets in it checks that only its owner may read it.
function M.read_with_mode(path, max, what)
  if type(path) ~= "string" or path == "" then
    return nil, what .. ": the path must be a non-empty string", "FileUnreadable"
  end
  local text, reason, code = core.read_file(path, max, M.READ_TIMEOUT)
  if text then return text, reason end
  local shown = safe_text.quoted(path, M.PATH_SHOWN_MAX)
  if code == "FileTooLarge" then
    return nil, string.format("the %s %s is larger than %d bytes", what, shown, max), code, reason
  end
  return nil, "cannot open the " .. what .. " " .. shown .. ": " .. reason, code, reason
end

--- Whether a file's permission bits (read_with_mode's) let its owner alone at it: no bit for group or others.
function M.owner_only(mode)
  return mode % 64 == 0 -- 0077: no bit of group or others
end

--- The code and the message of a file holding a secret that group or others may read (`what`: "the tenants file"),
-- one wording for every such file.
M.NOT_PRIVATE = "SecretNotPrivate"
function M.not_private(what)
  return what .. " may be read by group or others: chmod 600 it"
end

--- As read (at most LIMITS.secret bytes), for a file that holds a secret: one that group or others may read, by
-- the permission bits of the file that was read (fstat of the same descriptor), is refused with code NOT_PRIVATE.
function M.read_secret(path, what)
  local text, mode, code, reason = M.read_with_mode(path, M.LIMITS.secret, what)
  if not text then return nil, mode, code, reason end
  if not M.owner_only(mode) then
    return nil, M.not_private("the " .. what .. " " .. safe_text.quoted(path, M.PATH_SHOWN_MAX)), M.NOT_PRIVATE
  end
  return text
end

-- ---- Per-user cache files (vpptoken login's sign-ins, the command line's token ids) ----

--- The directory of vpptoken's per-user cache files: `$XDG_CACHE_HOME/vpptoken` (an absolute XDG_CACHE_HOME), else
-- `~/.cache/vpptoken`. Nil and a reason when neither XDG_CACHE_HOME nor HOME is set. getenv: a function like
-- os.getenv (the default) to read them with.
function M.cache_dir(getenv)
  getenv = getenv or os.getenv
  local base = getenv("XDG_CACHE_HOME")
  if not base or base == "" or base:sub(1, 1) ~= "/" then
    local home = getenv("HOME")
    if not home or home == "" then return nil, "neither XDG_CACHE_HOME nor HOME is set" end
    base = home .. "/.cache"
  end
  return base .. "/vpptoken"
end

--- The directory of the file at `path`, made (0700, and its parent if missing) or checked (its owner alone may
-- enter). true, or nil, the directory and why it is refused.
function M.private_dir_of(path)
  local dir = path:match("^(.*)/[^/]+$")
  if dir and dir ~= "" then
    local parent = dir:match("^(.*)/[^/]+$")
    if parent and parent ~= "" then core.private_dir(parent) end -- ~/.cache, if missing (0700)
    local ok, why = core.private_dir(dir)
    if not ok then return nil, dir, why end
  end
  return true
end

--- Whether the file at `path` may hold what only its owner may see: true; or nil, why, and "FileNotFound" (there is
-- none), "FileUnreadable" or "NotPrivate" (another user's, group or others may read it, or no regular file).
function M.check_private(path)
  return core.check_private(path)
end

--- Replaces the file at `path` with `text` as a whole: a new 0600 file beside it (created exclusively, never
-- through a symbolic link), then a rename, so a reader sees the old text or the new. Its directory is not made
-- (private_dir_of). true, or nil and why.
function M.replace_private(path, text)
  local tmp = path .. "." .. core.uuid() .. ".tmp"
  local ok, why = core.write_new_private(tmp, text)
  if not ok then return nil, why end
  local renamed, rerr = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, tostring(rerr)
  end
  return true
end

return M
