/* --config FILE: the JSON file's plain members become command-line arguments that are parsed
 * before the real ones (so flags override the file): "page_size": 5 -> --page-size 5,
 * "verbose": true -> --verbose. Members whose value is an object or array (faults, throttle) are
 * read by the Lua side (vpptoken_sandbox.config). The file is decoded by lua-cjson in a short-lived
 * Lua state; the strings are copied into the options' own text buffer. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox.h"

static const char sbx_config_chunk[] =
  "local path = ...\n"
  "local cjson = require 'cjson.safe'\n"
  "local f, err = io.open(path, 'rb')\n"
  "if not f then error(err, 0) end\n"
  "local text = f:read('a')\n"
  "f:close()\n"
  "local t, derr = cjson.decode(text)\n"
  "if type(t) ~= 'table' or not text:match('^%s*{') then\n"
  "  error(path .. ': not a JSON object' .. (derr and (' (' .. derr .. ')') or ''), 0)\n"
  "end\n"
  "local keys = {}\n"
  "for k in pairs(t) do keys[#keys + 1] = k end\n"
  "table.sort(keys)\n"
  "local args = {}\n"
  "for _, k in ipairs(keys) do\n"
  "  local v = t[k]\n"
  "  if k == 'config' or k == 'help' then error(path .. ': \"' .. k .. '\" is not allowed here', 0) end\n"
  "  local name = '--' .. k:gsub('_', '-')\n"
  "  if v == true then args[#args + 1] = name\n"
  "  elseif type(v) == 'string' or type(v) == 'number' then\n"
  "    args[#args + 1] = name\n"
  "    args[#args + 1] = math.type(v) == 'float' and string.format('%.17g', v) or tostring(v)\n"
  "  elseif v ~= false and v ~= cjson.null and type(v) ~= 'table' then\n"
  "    error(path .. ': \"' .. k .. '\" has a value of the wrong type', 0)\n"
  "  end\n"
  "end\n"
  "return args\n";

/* Protected: decode the file, copy the arguments into o. */
static int sbx_config_run(lua_State *L)
{
  struct sbx_options *o = lua_touserdata(L, 1);
  size_t used = 0;
  lua_Integer i, n;

  luaL_openlibs(L);
  if (luaL_loadbufferx(L, sbx_config_chunk, sizeof sbx_config_chunk - 1, "=config", "t") != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, o->config);
  lua_call(L, 1, 1);
  n = luaL_len(L, -1);
  if (n + 1 > SBX_CONFIG_MAX_ARGS)
    return luaL_error(L, "%s: too many options", o->config);
  o->config_argv[0] = o->config_text;
  memcpy(o->config_text, "config", 7);
  used = 7;
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *s;

    lua_geti(L, -1, i);
    s = lua_tolstring(L, -1, &len);
    if (s == NULL || len + 1 > SBX_CONFIG_MAX_TEXT - used)
      return luaL_error(L, "%s: the options are too long", o->config);
    memcpy(o->config_text + used, s, len + 1);
    o->config_argv[i] = o->config_text + used;
    used += len + 1;
    lua_pop(L, 1);
  }
  o->config_argc = (int)n + 1;
  return 0;
}

int sbx_config_load(struct sbx_options *o)
{
  lua_State *L = luaL_newstate();
  int rc = 0;

  o->config_argc = 0;
  if (L == NULL) {
    fprintf(stderr, SBX_NAME ": cannot create a Lua state (out of memory)\n");
    return -1;
  }
  lua_pushcfunction(L, sbx_config_run);
  lua_pushlightuserdata(L, o);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);

    fprintf(stderr, SBX_NAME ": --config: %s\n", msg != NULL ? msg : "(no message)");
    o->config_argc = 0;
    rc = -1;
  }
  lua_close(L);
  return rc;
}
