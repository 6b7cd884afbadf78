-- renew.lua: renews a VPP token in Intune from the new .vpptoken file Apple Business Manager or Apple School
-- Manager gave you (client:renew), then prints the old and the new expiry. Refuses a file that has expired.
-- Intune may keep showing the old expiry until it next syncs with Apple; the script says so.
--
--   VPPTOKEN_ACCESS_TOKEN=... lua5.4 examples/renew.lua 7f3c...-token-id ~/Downloads/sToken_for_Contoso.vpptoken
--   (LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' from a checkout; VPPTOKEN_GRAPH_URL for the
--   sandbox; AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET to sign in as an app)
--
-- Exit status, as the vpptoken command's: 0 renewed, 9 the token file is unreadable, malformed or expired, 2 usage
-- or configuration error, 3 no or failed sign-in, 4 no such token, 5 to 8 Graph refused or failed.
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the scripts exit as the command would.
local exits = require "vpptoken.cli.exits"

local NAME = "renew"
local USAGE = [[
usage: renew.lua TOKEN_ID PATH

Uploads Apple's token file PATH (a .vpptoken file) into the Intune VPP token TOKEN_ID and prints the old and
the new expiry. Nothing is sent when the file cannot be read or has already expired. The token's content is
never printed.

  -h, --help   this text

Sign-in from the environment: VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH), or workload identity, a managed identity or az (docs/signin.md);
VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL.
Exit status (as vpptoken's): 0 renewed, 9 token file unreadable, malformed or expired, 2 usage error, 3 no or
failed sign-in, 4 no such token, 5 to 8 Graph failed.
]]

local function usage_error(msg)
  io.stderr:write(NAME, ": ", msg, "\n", "Try 'lua5.4 examples/", NAME, ".lua --help'.\n")
  os.exit(exits.USAGE)
end

local function parse_args(args)
  local positional = {}
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then
      io.stdout:write(USAGE)
      os.exit(0)
    elseif a:match("^%-%-?%a") then
      usage_error("unknown option '" .. a .. "'")
    else
      positional[#positional + 1] = a
    end
  end
  if #positional ~= 2 then usage_error("expected a token id and the path of a .vpptoken file") end
  return positional[1], positional[2]
end

local function connect()
  local signed_in, why = vpptoken.credentials_in_env()
  if not signed_in then
    io.stderr:write(NAME, ": no credentials: ", why, "\n")
    os.exit(exits.AUTH)
  end
  local ok, client = pcall(vpptoken.from_env)
  if not ok then
    io.stderr:write(NAME, ": ", (tostring(client):gsub("^[^:]*:%d+: ", "")), "\n")
    os.exit(exits.USAGE)
  end
  return client
end

local function main(args)
  local id, path = parse_args(args)
  -- The file first, so a wrong path is reported as such (client:renew would take any other string for the
  -- file's content); client:renew refuses an expired one (TokenFileExpired) before anything is sent.
  local file, ferr = vpptoken.read_token_file(path)
  if not file then
    io.stderr:write(NAME, ": ", tostring(ferr), "\n")
    return exits.for_error(ferr)
  end
  local client = connect()
  local ok, tok, info = pcall(client.renew, client, id, path)
  client:close()
  if not ok then usage_error((tostring(tok):gsub("^[^:]*:%d+: ", ""))) end -- a malformed id raises
  if not tok then
    io.stderr:write(NAME, ": token ", id, " was not renewed: ", tostring(info), "\n")
    return exits.for_error(info)
  end
  print(string.format("renewed token %s (%s, %s)", tok.id or id, tok.organizationName or info.organization or "?",
    tok.appleId or "?"))
  print("old expiry: " .. (info.previous_expiration or "(none)"))
  print("new expiry: " .. info.expiration .. " (from the token file)")
  if info.lagging then
    print("note: " .. info.note)
  else
    print("Graph shows the new expiry: " .. tostring(info.graph_expiration))
  end
  return exits.OK
end

os.exit(main(arg), true)
