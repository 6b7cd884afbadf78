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
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    ["vpptoken.core"] = {
      sources = { "csrc/buf.c", "csrc/core.c", "csrc/enums.c", "csrc/escape.c", "csrc/rand.c", "csrc/retry.c",
                  "csrc/session.c", "csrc/vtime.c" },
      incdirs = { "csrc", "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl", "m" },
      defines = { "_GNU_SOURCE" },
    },
    ["vpptoken"] = "lua/vpptoken/init.lua",
    ["vpptoken.client"] = "lua/vpptoken/client.lua",
    ["vpptoken.cli"] = "lua/vpptoken/cli.lua",
    ["vpptoken.clouds"] = "lua/vpptoken/clouds.lua",
    ["vpptoken.error"] = "lua/vpptoken/error.lua",
    ["vpptoken.schema"] = "lua/vpptoken/schema.lua",
  },
  install = {
    bin = { vpptoken = "bin/vpptoken" },
  },
}
