--- The vpptoken command line (first version: version, list, get). Uses only the public Lua API.
local vpptoken = require "vpptoken"

local M = {}

local USAGE = [[
usage: vpptoken COMMAND [ARGS]

commands:
  list        list every VPP token (id, Apple ID, state, expiry)
  get ID      show one token
  version     print the version

environment:
  VPPTOKEN_ACCESS_TOKEN  a Graph access token (required for list and get)
  VPPTOKEN_GRAPH_URL     Graph base URL, e.g. http://127.0.0.1:8787/v1.0 for the sandbox
  VPPTOKEN_CLOUD         global (default), usgov, dod or china
]]

local EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

local function client_from_env()
  local token = os.getenv("VPPTOKEN_ACCESS_TOKEN")
  if not token or token == "" then return nil, "VPPTOKEN_ACCESS_TOKEN is not set" end
  local ok, c = pcall(vpptoken.new, { access_token = token, base_url = os.getenv("VPPTOKEN_GRAPH_URL"),
                                      cloud = os.getenv("VPPTOKEN_CLOUD") })
  if not ok then return nil, tostring(c):gsub("^.-vpptoken%.new: ", "") end
  return c
end

local function show(tok)
  local keys = {}
  for k in pairs(tok) do if k ~= "token" and not k:match("^@") then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do io.write(string.format("%-24s %s\n", k, tostring(tok[k]))) end
end

--- Runs the command line; returns the exit code.
function M.main(args)
  local cmd = args[1]
  if cmd == nil or cmd == "--help" or cmd == "-h" or cmd == "help" then
    io.write(USAGE)
    return cmd == nil and EXIT_USAGE or EXIT_OK
  end
  if cmd == "version" then
    io.write(vpptoken._VERSION, "\n")
    return EXIT_OK
  end
  if cmd ~= "list" and cmd ~= "get" then
    io.stderr:write("vpptoken: unknown command '", cmd, "'\n", USAGE)
    return EXIT_USAGE
  end
  if cmd == "get" and not args[2] then
    io.stderr:write("vpptoken: get needs a token id\n")
    return EXIT_USAGE
  end
  local client, why = client_from_env()
  if not client then
    io.stderr:write("vpptoken: ", why, "\n")
    return EXIT_USAGE
  end
  if cmd == "get" then
    local ok, tok, err = pcall(client.get, client, args[2])
    if not ok then
      io.stderr:write("vpptoken: ", tostring(tok), "\n")
      return EXIT_USAGE
    end
    if not tok then
      io.stderr:write(tostring(err), "\n")
      return EXIT_FAIL
    end
    show(tok)
    return EXIT_OK
  end
  io.write(string.format("%-36s  %-28s  %-10s  %s\n", "ID", "APPLE ID", "STATE", "EXPIRES"))
  for tok, err in client:each() do
    if not tok then
      io.stderr:write(tostring(err), "\n")
      return EXIT_FAIL
    end
    io.write(string.format("%-36s  %-28s  %-10s  %s\n", tok.id, tok.appleId or "", tok.state or "",
      tok.expirationDateTime or ""))
  end
  return EXIT_OK
end

return M
