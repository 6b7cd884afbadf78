-- LuaRocks configuration for Debian 12: the Lua modules installed from Debian's packages (apt-get install
-- lua-cjson lua-lpeg lua-argparse lua-busted, as `make deps` does) count as the rocks vpptoken depends on, because LuaRocks
-- does not see modules it did not install itself. Use it for one command:
--   LUAROCKS_CONFIG=rockspec/debian-12.lua luarocks --lua-version 5.4 make --tree TREE rockspec/vpptoken-scm-1.rockspec
-- (LuaRocks still reads /etc/luarocks/config-5.4.lua; this file stands in for ~/.luarocks/config-5.4.lua.)
rocks_provided = {
  ["lua-cjson"] = "2.1.0-1", -- lua-cjson 2.1.0+dfsg
  argparse = "0.7.1-1",      -- lua-argparse 0.7.1 (the command line's parser)
  lpeg = "1.0.2-1",          -- lua-lpeg 1.0.2
  busted = "2.1.1-1",        -- lua-busted 2.1.1 (for `luarocks test`)
  luasocket = "3.1.0-1",     -- lua-socket 3.1.0 (the specs' test servers)
  luv = "1.44.2-1",          -- lua-luv 1.44.2 (vpptoken.async's specs)
  cqueues = "20200726.54-0", -- lua-cqueues 20200726 (vpptoken.async's specs)
}
