/* Enum checks through the Lua API: any property name and value answer true, or false and a message; never a
   raise (but for an unknown enum name, which is misuse) and never a crash. Input: "name\0value". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_vpptoken_core(lua_State *L);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *nul = memchr(data, '\0', size);
  size_t nlen = nul ? (size_t)(nul - (const char *)data) : size;
  const char *value = nul ? nul + 1 : "";
  size_t vlen = nul ? size - nlen - 1 : 0;
  static const char *const names[] = {"state", "vppTokenAccountType", "lastSyncStatus"};
  lua_State *L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  luaL_requiref(L, "vpptoken.core", luaopen_vpptoken_core, 0);
  for (int beta = 0; beta <= 1; beta++) {
    for (int k = 0; k < 4; k++) {
      lua_getfield(L, -1, "check_enum");
      if (k < 3)
        lua_pushstring(L, names[k]);
      else
        lua_pushlstring(L, (const char *)data, nlen);
      lua_pushlstring(L, value, vlen);
      lua_pushboolean(L, beta);
      int rc = lua_pcall(L, 3, 2, 0);
      if (rc != LUA_OK) {
        if (k < 3) abort(); /* a known enum never raises */
        lua_pop(L, 1);
        continue;
      }
      if (!lua_isboolean(L, -2)) abort();
      if (!lua_toboolean(L, -2) && !lua_isstring(L, -1)) abort();
      lua_pop(L, 2);
    }
  }
  lua_close(L);
  return 0;
}
