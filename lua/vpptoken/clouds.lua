--- The national clouds: Graph and sign-in hosts for each (GRAPH-CONTRACT.md, "Hosts").
return {
  global = { graph = "https://graph.microsoft.com", login = "https://login.microsoftonline.com" },
  usgov = { graph = "https://graph.microsoft.us", login = "https://login.microsoftonline.us" },
  dod = { graph = "https://dod-graph.microsoft.us", login = "https://login.microsoftonline.us" },
  china = { graph = "https://microsoftgraph.chinacloudapi.cn", login = "https://login.partner.microsoftonline.cn" },
}
