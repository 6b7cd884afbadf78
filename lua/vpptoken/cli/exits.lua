--- The command line's exit codes, the one list: cli.lua picks a code from it (by an error's kind, or its code),
-- help.lua and the manual list it, spec/sources_spec.lua checks the README's table against it.
local M = {}

-- code, its constant, the error kinds (and error codes) that exit with it, and its line in the help.
M.LIST = {
  { code = 0, name = "OK", help = "success" },
  { code = 1, name = "FAILURE",
    help = "other failures: a sync that finished as failed, a delete not confirmed, an unexpected error" },
  { code = 2, name = "USAGE",
    help = "usage: unknown command or option, a bad value, a value the library refuses, an ambiguous id prefix" },
  { code = 3, name = "AUTH", kinds = { "auth" },
    help = "auth: no credentials configured, sign-in failed, or Graph answered 401/403" },
  { code = 4, name = "NOT_FOUND", kinds = { "not_found" },
    help = "not found: no token with that id (404) or id prefix" },
  { code = 5, name = "THROTTLED", kinds = { "throttled" }, help = "throttled: Graph answered 429 after the retries" },
  { code = 6, name = "SERVER", kinds = { "server", "protocol" },
    help = "server: Graph answered 5xx, or something that is not Graph's JSON" },
  { code = 7, name = "NETWORK", kinds = { "network", "timeout", "tls" }, codes = { "SyncTimeout" },
    help = "network: connection, DNS, TLS or timeout (also --wait running out of time)" },
  { code = 8, name = "VALIDATION", kinds = { "bad_request" },
    help = "validation: Graph refused the request (400 and other 4xx)" },
  { code = 9, name = "TOKEN_FILE", kinds = { "token_file" },
    help = "token file: the .vpptoken file is unreadable, malformed or expired" },
  { code = 10, name = "TENANTS_FAILED",
    help = "some tenants failed: with --tenants, the other tenants' results are printed" },
  { code = 11, name = "TENANTS_FILE", kinds = { "tenants_file" },
    help = "tenants file: unreadable, or a mistake in it (the message names the tenant and the field)" },
  { code = 12, name = "ATTENTION", help = "attention: expiring --exit-code found tokens that need attention" },
  { code = 130, name = "INTERRUPTED", kinds = { "cancelled" },
    help = "interrupted: Ctrl-C (SIGINT) ended the calls under way" },
}

-- M.OK, M.USAGE, ...: the codes by constant; BY_KIND and BY_CODE: an error's kind or code -> exit code.
M.BY_KIND, M.BY_CODE = {}, {}
for _, e in ipairs(M.LIST) do
  M[e.name] = e.code
  for _, kind in ipairs(e.kinds or {}) do M.BY_KIND[kind] = e.code end
  for _, code in ipairs(e.codes or {}) do M.BY_CODE[code] = e.code end
end

--- The exit code for a library error object: by its code where one has its own, else by its kind, else FAILURE.
function M.for_error(err)
  if type(err) ~= "table" then return M.FAILURE end
  return M.BY_CODE[err.code] or M.BY_KIND[err.kind] or M.FAILURE
end

return M
