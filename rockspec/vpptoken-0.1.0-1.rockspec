rockspec_format = "3.0"
package = "vpptoken"
version = "0.1.0-1"
source = {
  -- The archive `make dist` writes (dist/vpptoken-0.1.0.tar.gz); the .src.rock carries it, so `luarocks
  -- install vpptoken-0.1.0-1.src.rock` needs no download. Publish it at this address.
  url = "https://github.com/vpptoken/vpptoken/releases/download/v0.1.0/vpptoken-0.1.0.tar.gz",
  dir = "vpptoken-0.1.0",
}
description = {
  summary = "Manage Apple VPP tokens in Microsoft Intune through Microsoft Graph",
  detailed = [[
A Lua library (Lua 5.1 to 5.4 and LuaJIT) with a C core over libcurl: list, get, create, update, delete and
syncLicenses for /deviceAppManagement/vppTokens, with Graph's retry policy, paging, enums and DateTimeOffset
handling; the vpptoken command; and vpptoken-sandbox, a local stand-in for Graph to test automation against.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5", -- 5.1, 5.2, 5.3, 5.4 and LuaJIT (README: Lua versions)
  "lua-cjson >= 2.1",
  "argparse >= 0.7", -- the command line's parser and shell completions
  "lpeg >= 1.0", -- the sandbox's $filter parser
}
-- CURL_DIR=..., OPENSSL_DIR=..., MHD_DIR=... (or *_INCDIR / *_LIBDIR) on the luarocks command line point the
-- build at libraries outside the compiler's default paths. (No header check for libcurl: Debian keeps curl/curl.h
-- under the multiarch include directory, where LuaRocks 3.8 does not look but the compiler does.)
external_dependencies = {
  CURL = { library = "curl" },
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
  MHD = { header = "microhttpd.h", library = "microhttpd" },
}
build = {
  -- CMakeLists.txt builds vpptoken.core from every csrc/*.c (hidden visibility: only luaopen_* is exported) and
  -- the sandbox program from sandbox/src/*.c, and installs them with the Lua modules, the command and the
  -- sandbox's own Lua (sandbox/lua/, into SANDBOX_LUADIR, off the module path).
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    VPPTOKEN_DEV_PROGRAMS = "OFF",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
    -- These stay in the rock's directory, $(luarocks show --rock-dir vpptoken): LuaRocks 3.8 deploys only
    -- lua/, lib/, bin/ and conf/ into the tree.
    MANDIR = "$(PREFIX)/man",
    DOCDIR = "$(PREFIX)/doc", -- the manuals and examples/, beside README.md there: `luarocks doc vpptoken`
    COMPLETIONDIR = "$(PREFIX)/completion",
    ZSH_COMPLETIONDIR = "$(PREFIX)/completion",
    FISH_COMPLETIONDIR = "$(PREFIX)/completion",
    SANDBOX_LUADIR = "$(PREFIX)/sandbox",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    OPENSSL_INCDIR = "$(OPENSSL_INCDIR)",
    OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
    MHD_INCDIR = "$(MHD_INCDIR)",
    MHD_LIBDIR = "$(MHD_LIBDIR)",
  },
}
test_dependencies = {
  "busted",
  "luasocket", -- spec/helper.lua's test servers
  "luv", "cqueues", -- spec/async_spec.lua: vpptoken.async in both loops
}
-- `luarocks test` runs every busted spec (.busted) through `make spec`, which builds build/ (the C module and
-- the sandbox the specs start) first. Not `type = "busted"`: LuaRocks 3.8's busted runner insists on busted
-- being a rock in a tree (it ignores rocks_provided), so it cannot use Debian's lua-busted offline.
test = {
  type = "command",
  command = "make spec",
}
