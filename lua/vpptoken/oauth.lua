--- What every credential shares on the wire of the Microsoft identity platform (vpptoken.auth, vpptoken.signin,
-- vpptoken.login): the form encoding of a token request, the error a failed sign-in returns, and whether an access
-- token can go into an Authorization header as it is. Small on purpose: a client with a static token loads this,
-- not the credentials of vpptoken.signin.
local core = require "vpptoken.core"
local errors = require "vpptoken.error"

local M = {}

--- An error of kind "auth" with `code`, `message` and the fields of `extra`.
function M.auth_error(code, message, extra)
  local e = { kind = "auth", code = code, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return errors.new(e)
end

--- application/x-www-form-urlencoded text of `t` (keys sorted, so the same form is the same text).
function M.form_encode(t)
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = core.escape(k) .. "=" .. core.escape(t[k]) end
  return table.concat(parts, "&")
end

--- Whether an access token can go into an Authorization header as it is: a non-empty string of one word, without a
-- control character. Never says what the token holds.
function M.usable_token(tok)
  return type(tok) == "string" and tok ~= "" and not tok:find("[%z\1-\32\127]")
end

return M
