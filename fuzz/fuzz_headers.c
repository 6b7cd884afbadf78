/* Response header parsing: any raw header block gives a table of string values without CR or LF, a lookup that
   stays inside its buffer and agrees with the table, and a ResponseHeaders userdata that answers every name as
   the table does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "vpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int push(lua_State *L) {
  const vpp_buf *b = lua_touserdata(L, 1);
  vpp_push_headers(L, b->data, b->len);
  vpp_push_response_headers(L, b);
  return 2;
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
  if (lua_pcall(L, 1, 2, 0) == LUA_OK) {
    int tbl = lua_gettop(L) - 1, ud = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, tbl)) {
      size_t len, ulen;
      const char *v = lua_tolstring(L, -1, &len);
      if (!v || memchr(v, '\n', len) || (len && v[len - 1] == '\r')) abort();
      lua_pushvalue(L, -2);
      if (lua_gettable(L, ud) != LUA_TSTRING) abort(); /* every name the table has, the userdata answers... */
      const char *u = lua_tolstring(L, -1, &ulen);
      if (ulen != len || memcmp(u, v, len) != 0) abort(); /* ...with the same value */
      lua_pop(L, 2);
    }
    lua_getfield(L, tbl, "retry-after");
    /* the lookup finds the first of repeated headers; the table joins them, so compare the start */
    if (found && lua_isstring(L, -1) && strncmp(lua_tostring(L, -1), big, strlen(big)) != 0 && strlen(big) < 255)
      abort();
  }
  lua_close(L);
  vpp_buf_free(&b);
  return 0;
}
