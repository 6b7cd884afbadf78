/* Response header parsing: any raw header block gives a table of string values without CR or LF, and a lookup
   that stays inside its buffer and agrees with the table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "vpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int push(lua_State *L) {
  vpp_push_headers(L, lua_touserdata(L, 1));
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vpp_buf b = {0};
  if (vpp_buf_append(&b, data, size) != 0) return 0;
  char small[8], big[256];
  int found = vpp_find_header(&b, "retry-after", small, sizeof small);
  if (found && strlen(small) >= sizeof small) abort();
  found = vpp_find_header(&b, "retry-after", big, sizeof big);
  lua_State *L = luaL_newstate();
  if (!L) abort();
  lua_pushcfunction(L, push);
  lua_pushlightuserdata(L, &b);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      size_t len;
      const char *v = lua_tolstring(L, -1, &len);
      if (!v || memchr(v, '\n', len) || (len && v[len - 1] == '\r')) abort();
      lua_pop(L, 1);
    }
    lua_getfield(L, -1, "retry-after");
    /* the lookup finds the first of repeated headers; the table joins them, so compare the start */
    if (found && lua_isstring(L, -1) && strncmp(lua_tostring(L, -1), big, strlen(big)) != 0 && strlen(big) < 255)
      abort();
  }
  lua_close(L);
  vpp_buf_free(&b);
  return 0;
}
