--- The national clouds: Graph and sign-in hosts for each (GRAPH-CONTRACT.md, "Hosts"). The one list of clouds:
-- options, messages, the command line's choices and help read it.
local LIST = {
  { name = "global", graph = "https://graph.microsoft.com", login = "https://login.microsoftonline.com" },
  { name = "usgov", graph = "https://graph.microsoft.us", login = "https://login.microsoftonline.us" },
  { name = "dod", graph = "https://dod-graph.microsoft.us", login = "https://login.microsoftonline.us" },
  { name = "china", graph = "https://microsoftgraph.chinacloudapi.cn",
    login = "https://login.partner.microsoftonline.cn" },
}

-- NAMES: the names in LIST's order (the default first); HOSTS: name -> { graph, login }.
local M = { NAMES = {}, HOSTS = {} }
for i, c in ipairs(LIST) do
  M.NAMES[i] = c.name
  M.HOSTS[c.name] = { graph = c.graph, login = c.login }
end
M.DEFAULT = M.NAMES[1]

return M
