-- Writes man/vpptoken.1 (roff) from the command line's own help text (lua/vpptoken/cli/help.lua, cli/args.lua).
-- Usage: LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 tools/manpage.lua > man/vpptoken.1
-- Loads the library: the help names what it owns (clouds, account types, the retries' range, defaults).
local args = require "vpptoken.cli.args"
local help = require "vpptoken.cli.help"

local function esc(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("^([.'])", "\\&%1"))
end

local out = {}
local function w(s) out[#out + 1] = s end

local function flags(list)
  for _, f in ipairs(list) do
    w(".TP")
    w("\\fB" .. esc(help.flag_usage(f)) .. "\\fR")
    w(esc(f.help))
  end
end

w('.TH VPPTOKEN 1 "" "vpptoken" "User Commands"')
w(".SH NAME")
w("vpptoken \\- " .. esc(help.SUMMARY))
w(".SH SYNOPSIS")
w(".B vpptoken")
w("[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]")
w(".SH DESCRIPTION")
w("A command line over the vpptoken Lua library. It reads credentials from the environment (never from a flag "
  .. "that would leave a secret in the shell history). Tables are fitted to the terminal (80 columns when not "
  .. "one), with short ids that every command takes; \\fB\\-\\-output json\\fR and \\fB\\-\\-output csv\\fR "
  .. "are for programs. Token values are shown as <redacted> unless "
  .. "\\fB\\-\\-show\\-secrets\\fR is given. When stderr is a terminal, work that takes over a second shows "
  .. "one status line there (counts so far, or the wait before a retry), erased before any other output or "
  .. "question; never with \\fB\\-\\-quiet\\fR or when stderr is not a terminal.")
w(".SH COMMANDS")
for _, c in ipairs(args.COMMANDS) do
  w(".SS " .. esc("vpptoken " .. c.name .. (c.usage and (" " .. c.usage) or "")))
  w(esc(help.TEXT[c.name][1]))
  if #c.flags > 0 then flags(c.flags) end
  w(".PP")
  w("Examples:")
  w(".PP")
  w(".nf")
  w(".RS")
  for _, ex in ipairs(help.TEXT[c.name][2]) do w(esc(ex)) end
  w(".RE")
  w(".fi")
end
w(".SH OPTIONS")
w("These go before or after the command.")
flags(args.GLOBAL)
w(".SH ENVIRONMENT")
for _, e in ipairs(help.ENVIRONMENT) do
  w(".TP")
  w("\\fB" .. esc(e[1]) .. "\\fR")
  w(esc(e[2]))
end
w(".SH EXIT STATUS")
for _, e in ipairs(help.EXIT_CODES) do
  w(".TP")
  w("\\fB" .. e[1] .. "\\fR")
  w(esc(e[2]))
end
w(".SH SEE ALSO")
w("The vpptoken README (the Lua API), \\fBvpptoken\\-sandbox \\-\\-help\\fR.")
io.write(table.concat(out, "\n"), "\n")
