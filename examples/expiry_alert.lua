-- expiry_alert.lua: a monitoring check. Exits 0 with one line ("all N tokens fine ...") when every VPP token is
-- valid and expires later than N days from now; otherwise prints the tokens that need attention and exits 12,
-- optionally POSTing a Microsoft Teams card about them to a webhook (never with a VPP token or any secret in it).
--
--   VPPTOKEN_ACCESS_TOKEN=... lua5.4 examples/expiry_alert.lua --within 30
--   AZURE_TENANT_ID=.. AZURE_CLIENT_ID=.. AZURE_CLIENT_SECRET=.. \
--     VPPTOKEN_ALERT_WEBHOOK=https://contoso.webhook.office.com/... lua5.4 examples/expiry_alert.lua
--   (LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' from a checkout; VPPTOKEN_GRAPH_URL for the
--   sandbox)
--
-- Exit status, as the vpptoken command's: 0 all fine, 12 tokens need attention, 2 usage or configuration error,
-- 3 no or failed sign-in, 4 to 8 Graph could not be asked (by the error's kind), 1 the webhook did not take the card.
local vpptoken = require "vpptoken"
-- The vpptoken command's exit codes (vpptoken --help): the scripts exit as the command would.
local exits = require "vpptoken.cli.exits"

local NAME = "expiry_alert"
local USAGE = [[
usage: expiry_alert.lua [--within DAYS] [--webhook URL] [--card adaptive|messagecard]

Checks every Apple VPP token in Intune: exit 0 and "all N tokens fine" when each one is valid and expires later
than DAYS days from now; otherwise lists those that need attention and exits 12.

  --within DAYS   warn about tokens expiring within DAYS days (default 30)
  --webhook URL   also POST a card about them to this webhook (https; default $VPPTOKEN_ALERT_WEBHOOK, which
                  keeps the URL, a secret, off the command line); also sent when Graph cannot be asked
  --card KIND     adaptive (default: an Adaptive Card in a message, for Teams Workflows webhooks) or
                  messagecard (a MessageCard, for Office 365 connector webhooks)
  -h, --help      this text

Sign-in from the environment: VPPTOKEN_ACCESS_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET
(or AZURE_CLIENT_CERTIFICATE_PATH), or workload identity, a managed identity or az (docs/signin.md);
VPPTOKEN_CLOUD, VPPTOKEN_GRAPH_URL.
Exit status (as vpptoken's): 0 all fine, 12 tokens need attention, 2 usage error, 3 no or failed sign-in,
4 to 8 Graph failed, 1 the webhook failed.
]]

local function usage_error(msg)
  io.stderr:write(NAME, ": ", msg, "\n", "Try 'lua5.4 examples/", NAME, ".lua --help'.\n")
  os.exit(exits.USAGE)
end

local function parse_args(args)
  local opts = { within = 30, webhook = os.getenv("VPPTOKEN_ALERT_WEBHOOK"), card = "adaptive" }
  if opts.webhook == "" then opts.webhook = nil end
  local i = 1
  while args[i] do
    local a = args[i]
    local function value()
      local v = args[i + 1]
      if v == nil then usage_error(a .. " needs a value") end
      i = i + 1
      return v
    end
    if a == "-h" or a == "--help" then
      io.stdout:write(USAGE)
      os.exit(0)
    elseif a == "--within" then
      local v = value()
      opts.within = tonumber(v)
      if not opts.within or opts.within < 0 or opts.within ~= opts.within then
        usage_error("--within needs a number of days >= 0 (got '" .. v .. "')")
      end
    elseif a == "--webhook" then
      opts.webhook = value()
    elseif a == "--card" then
      opts.card = value()
      if opts.card ~= "adaptive" and opts.card ~= "messagecard" then
        usage_error("--card must be adaptive or messagecard (got '" .. opts.card .. "')")
      end
    else
      usage_error("unknown argument '" .. a .. "'")
    end
    i = i + 1
  end
  local w = opts.webhook
  if w and not (w:match("^https://%w") or w:match("^http://127%.") or w:match("^http://localhost[:/]")
      or w:match("^http://%[::1%]")) then
    usage_error("the webhook must be an https:// URL (plain http:// only to a loopback address)")
  end
  return opts
end

-- The client from the environment, as the vpptoken command makes it: no sign-in configured exits 3, a bad value
-- in the environment 2.
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

-- What the card says about a token: only these fields (never `token`, the secret).
local function facts(e)
  local t = e.token
  return {
    { "Organization", t.organizationName or "(none)" },
    { "Apple ID", t.appleId or "(none)" },
    { "Token id", t.id or "?" },
    { "State", t.state or "(none)" },
    { "Expires", t.expirationDateTime or "(no date)" },
    { "Days left", e.days_left and tostring(e.days_left) or "-" },
    { "Why", e.reason },
  }
end

local function adaptive_card(title, text, entries)
  local body = {
    { type = "TextBlock", text = title, weight = "Bolder", size = "Medium", wrap = true, color = "Attention" },
    { type = "TextBlock", text = text, wrap = true },
  }
  for _, e in ipairs(entries) do
    local fs = {}
    for _, f in ipairs(facts(e)) do fs[#fs + 1] = { title = f[1], value = f[2] } end
    body[#body + 1] = { type = "FactSet", facts = fs, separator = true, spacing = "Medium" }
  end
  return { type = "message", attachments = { {
    contentType = "application/vnd.microsoft.card.adaptive",
    content = { ["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json", type = "AdaptiveCard",
                version = "1.4", body = body, msteams = { width = "Full" } },
  } } }
end

local function message_card(title, text, entries)
  local sections = {}
  for _, e in ipairs(entries) do
    local fs = {}
    for _, f in ipairs(facts(e)) do fs[#fs + 1] = { name = f[1], value = f[2] } end
    sections[#sections + 1] = { activityTitle = (e.token.organizationName or "?") .. " (" .. (e.token.appleId or "?")
      .. ")", facts = fs }
  end
  if #sections == 0 then sections[1] = { text = text } end
  return { ["@type"] = "MessageCard", ["@context"] = "https://schema.org/extensions", summary = title,
           themeColor = "D70000", title = title, text = text, sections = sections }
end

local function notify(opts, title, text, entries)
  if not opts.webhook then return true end
  local card = (opts.card == "messagecard" and message_card or adaptive_card)(title, text, entries)
  local ok, sent, err = pcall(vpptoken.post_json, opts.webhook, card)
  if not ok then -- a bad URL raises (plain http to a non-loopback host, a malformed URL)
    io.stderr:write(NAME, ": --webhook: ", (tostring(sent):gsub("^[^:]*:%d+: ", "")), "\n")
    return false
  end
  if not sent then
    io.stderr:write(NAME, ": the webhook did not take the card: ", tostring(err), "\n")
    return false
  end
  return true
end

local function main(args)
  local opts = parse_args(args)
  local client = connect()
  local entries, err = client:expiring{ within_days = opts.within }
  local total
  if entries and #entries == 0 then
    local all
    all, err = client:list{ select = { "id" } }
    total = all and #all
  end
  client:close()
  if err then
    io.stderr:write(NAME, ": cannot list the VPP tokens: ", tostring(err), "\n")
    local delivered = notify(opts, "VPP token check failed", "The expiry check could not list the tokens: "
      .. tostring(err), {})
    return delivered and exits.for_error(err) or exits.FAILURE
  end
  if #entries == 0 then
    print(string.format("all %d tokens fine: none is invalid or expires within %g days", total, opts.within))
    return exits.OK
  end
  local title = string.format("%d Apple VPP token%s need%s attention", #entries, #entries == 1 and "" or "s",
    #entries == 1 and "s" or "")
  local text = string.format("Not valid, without an expiry date, or expiring within %g days. Renew them with a "
    .. "new token file from Apple Business Manager or Apple School Manager.", opts.within)
  print(title .. " (within " .. opts.within .. " days):")
  for _, e in ipairs(entries) do
    local t = e.token
    print(string.format("  %s <%s> id %s, expires %s: %s", t.organizationName or "?", t.appleId or "?",
      t.id or "?", t.expirationDateTime or "(no date)", e.reason))
  end
  if not notify(opts, title, text, entries) then return exits.FAILURE end
  return exits.ATTENTION
end

os.exit(main(arg), true)
