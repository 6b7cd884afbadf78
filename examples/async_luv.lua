-- vpptoken inside a luv event loop (an embedder's host: Neovim's vim.uv, a luv agent): the loop never stops for
-- Graph. Lists the tokens, then starts a license sync for every valid token, each in a task of its own, while the
-- host's own timer keeps ticking; --timeout S cancels what is still under way after S seconds.
--   VPPTOKEN_ACCESS_TOKEN=... VPPTOKEN_GRAPH_URL=... lua5.4 examples/async_luv.lua [--timeout SECONDS]
--   (or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET: the sign-in chain of docs/signin.md)
-- Exit, as the vpptoken command's: 0 every sync started, 1 one failed or was cancelled, 2 usage, 3 no or failed
-- sign-in, 4 to 8 the tokens could not be listed (by the error's kind).
local uv = require "luv"
local async = require "vpptoken.async"
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the script exits as the command would.
local exits = require "vpptoken.cli.exits"

local USAGE = [[usage: async_luv.lua [--timeout SECONDS]
  starts a license sync for every valid VPP token, concurrently, inside a luv loop
  credentials: VPPTOKEN_ACCESS_TOKEN (and VPPTOKEN_GRAPH_URL), or AZURE_TENANT_ID, AZURE_CLIENT_ID, ...
]]
local timeout = 60
local i = 1
while arg[i] do
  if arg[i] == "--help" then
    io.write(USAGE)
    os.exit(exits.OK)
  elseif arg[i] == "--timeout" and tonumber(arg[i + 1]) then
    timeout = tonumber(arg[i + 1])
    i = i + 1
  else
    io.stderr:write("async_luv: unknown option '", arg[i], "' (see --help)\n")
    os.exit(exits.USAGE)
  end
  i = i + 1
end

local rt = async.new{ loop = "luv" }
local signed_in, why = vpptoken.credentials_in_env()
if not signed_in then
  io.stderr:write("async_luv: no credentials: ", why, "\n")
  os.exit(exits.AUTH)
end
local ok, client = pcall(rt.from_env, rt)
if not ok then
  io.stderr:write("async_luv: ", (tostring(client):gsub("^[^:]*:%d+: ", "")), "\n")
  os.exit(exits.USAGE)
end

local tasks, list_error, failed = {}, nil, 0
local function all_done()
  for _, t in ipairs(tasks) do if not t:done() then return false end end
  return true
end

-- the first task lists; each valid token's sync is a task of its own, printing its line as it ends
tasks[1] = rt:spawn(function()
  local tokens, err = client:list()
  if not tokens then
    list_error = err
    return
  end
  for _, tok in ipairs(tokens) do
    if tok.state == "valid" then
      tasks[#tasks + 1] = rt:spawn(function()
        local synced, serr = client:sync_licenses(tok.id)
        if synced then
          print(string.format("started %s %s", tok.id, tostring(tok.appleId)))
        else
          failed = failed + 1
          print(string.format("failed  %s %s", tok.id, tostring(serr)))
        end
      end)
    end
  end
end)

-- the host's own work goes on meanwhile: a 100 ms timer; and a deadline that cancels what is left
local ticks = 0
local ticker, deadline = uv.new_timer(), uv.new_timer()
ticker:start(100, 100, function()
  ticks = ticks + 1
  if all_done() then
    ticker:close()
    deadline:close()
  end
end)
deadline:start(math.floor(timeout * 1000), 0, function()
  for _, t in ipairs(tasks) do t:cancel() end
end)

uv.run()
client:close()
io.stderr:write(string.format("the host's timer ticked %d times meanwhile\n", ticks))
if list_error then
  io.stderr:write("async_luv: ", tostring(list_error), "\n")
  os.exit(exits.for_error(list_error))
end
os.exit(failed > 0 and exits.FAILURE or exits.OK)
