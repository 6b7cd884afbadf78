std = "lua54"
max_line_length = 120
files["spec/"] = { std = "+busted" }
exclude_files = { "build*/", ".luarocks/", "lua_modules/" }
-- The library and the command run on Lua 5.1 to 5.4 and LuaJIT: only what every one of them has (the 5.3/5.4 calls
-- go through lua/vpptoken/compat.lua).
files["lua/"] = { std = "min" }
files["bin/vpptoken"] = { std = "min" }
files["lua/vpptoken/compat.lua"] = { std = "max" }
