rockspec_format = "3.0"
package = "vpptoken"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built from a checkout with `luarocks make`
}
description = {
  summary = "Manage Apple VPP tokens in Microsoft Intune through Microsoft Graph",
  detailed = [[
A Lua 5.4 library with a C core over libcurl: list, get, create, update, delete and syncLicenses for
/deviceAppManagement/vppTokens, with Graph's retry policy, paging, enums and DateTimeOffset handling.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson >= 2.1",
}
build = {
  type = "builtin",
  -- The Lua modules: builtin copies the whole lua/ directory (vpptoken/*.lua, vpptoken/sandbox/*.lua).
  modules = {
    ["vpptoken.core"] = {
      sources = { "csrc/buf.c", "csrc/core.c", "csrc/crypto.c", "csrc/enums.c", "csrc/escape.c", "csrc/json.c",
                  "csrc/multi.c", "csrc/nulls.c", "csrc/rand.c", "csrc/request_headers.c", "csrc/response_headers.c",
                  "csrc/retry.c", "csrc/session.c", "csrc/sleep.c", "csrc/transfer.c", "csrc/url.c",
                  "csrc/vtime.c" },
      incdirs = { "csrc" }, -- libcurl's headers and library from the compiler's default paths (libcurl4-*-dev)
      libraries = { "curl", "crypto", "m" },
      defines = { "_GNU_SOURCE" },
    },
  },
  install = {
    bin = { vpptoken = "bin/vpptoken" },
  },
  -- LuaRocks 3.8's build.install has only lua/lib/conf/bin: the man page and the bash completion are copied
  -- into the rock's directory, $(luarocks show --rock-dir vpptoken)/man/vpptoken.1 and .../completion/.
  copy_directories = { "man", "completion" },
}
