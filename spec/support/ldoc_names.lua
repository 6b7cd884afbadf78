-- An LDoc filter (ldoc --filter support.ldoc_names.list .): prints one line per documented name of the API
-- reference, "doc<TAB>vpptoken.new" or "doc<TAB>client:list", and the fields of documented tables
-- ("doc<TAB>vpptoken.State"). Runs under the Lua that LDoc runs on.
local M = {}

function M.list(modules)
  for _, m in ipairs(modules) do
    for _, item in ipairs(m.items) do
      local name = item.name
      if item.type == "function" then
        local method = name:match("^Client:(.+)$")
        print("doc\t" .. (method and ("client:" .. method) or (m.name .. "." .. name)))
      elseif item.type == "table" then
        for _, field in ipairs(item.params or {}) do print("doc\t" .. m.name .. "." .. field) end
      end
    end
  end
end

return M
