-- Test support for the command-line specs: runs bin/vpptoken as a subprocess with the interpreter running the
-- specs (so it is instrumented under `make check-memory`), and writes Apple token files.
local helper = require "helper"
local files = require "support.tokenfiles"

local M = {}

local q = helper.shell_quote

M.ACCESS = "cli-spec-access-token-5150"
M.SECRET = files.SECRET

-- Variables a child never inherits from the caller (credentials, sandbox, width), unless given in env.
local SCRUB = { "VPPTOKEN_ACCESS_TOKEN", "VPPTOKEN_GRAPH_URL", "VPPTOKEN_CLOUD", "VPPTOKEN_AUTHORITY_URL",
                "VPPTOKEN_DEBUG", "VPPTOKEN_SANDBOX", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "COLUMNS" }

--- The environment assignments and the command line (a shell string) that run bin/vpptoken with argv.
-- env: name -> value (false: leave unset). The repository root is the working directory unless opts.cwd.
function M.command(argv, env, cwd)
  local here = os.getenv("PWD") or "."
  local root = cwd and here or "."
  local build = helper.build_dir
  if cwd and not build:match("^/") then build = here .. "/" .. build end
  -- XDG_CACHE_HOME: no sign-in of `vpptoken login` from the caller's cache (a directory that does not exist)
  local vars = { LUA_PATH = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;", LUA_CPATH = build .. "/?.so;;",
                 TZ = "UTC", XDG_CACHE_HOME = "/nonexistent/vpptoken-spec-cache" }
  for k, v in pairs(env or {}) do vars[k] = v end
  local parts = { "env" }
  for _, k in ipairs(SCRUB) do parts[#parts + 1] = "-u " .. k end
  local names = {}
  for k in pairs(vars) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    if vars[k] then parts[#parts + 1] = k .. "=" .. q(vars[k]) end
  end
  local interp = helper.lua
  if cwd and not interp:match("^/") and interp:match("/") then interp = here .. "/" .. interp end
  parts[#parts + 1] = q(interp)
  parts[#parts + 1] = q(root .. "/bin/vpptoken")
  for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
  return table.concat(parts, " ")
end

--- Runs bin/vpptoken; returns exit code, stdout, stderr. opts: env (see command), stdin (text; default
-- /dev/null), cwd. Asserts that stderr holds no memory-checker report.
function M.run(argv, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local input = "/dev/null"
  if opts.stdin then input = helper.temp_file(opts.stdin) end
  local line = M.command(argv, opts.env, opts.cwd)
  if opts.cwd then line = "cd " .. q(opts.cwd) .. " && " .. line end
  local p = assert(io.popen("(" .. line .. ") <" .. q(input) .. " >" .. q(out) .. " 2>" .. q(err) .. "; echo $?"))
  local code = tonumber(p:read("a"):match("(%d+)%s*$"))
  p:close()
  local function slurp(name)
    local f = assert(io.open(name, "rb"))
    local s = f:read("a")
    f:close()
    os.remove(name)
    return s
  end
  local stdout, stderr = slurp(out), slurp(err)
  if opts.stdin then os.remove(input) end
  local report = helper.memory_report(stderr)
  assert(not report, "memory report from the vpptoken command: " .. tostring(report) .. "\n" .. stderr)
  return code, stdout, stderr
end

--- Writes an Apple .vpptoken file (fields override token, expDate, orgName); returns its path.
function M.token_file(fields)
  return helper.temp_file(files.apple_file(fields))
end

--- The content of that file: what Intune stores as the token, the secret to look for in output.
M.token_content = files.apple_file

--- A Lua pattern matching s literally.
function M.literal(s)
  return (s:gsub("%p", "%%%0"))
end

--- Splits RFC 4180 CSV text into rows of fields.
function M.parse_csv(text)
  local rows, row, field, i, n = {}, {}, {}, 1, #text
  local quoted = false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' and text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then quoted = false
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(field); field = {}
    elseif c == "\r" and text:sub(i + 1, i + 1) == "\n" then
      row[#row + 1] = table.concat(field); field = {}
      rows[#rows + 1] = row; row = {}
      i = i + 1
    else field[#field + 1] = c end
    i = i + 1
  end
  if #field > 0 or #row > 0 then row[#row + 1] = table.concat(field); rows[#rows + 1] = row end
  return rows
end

return M
