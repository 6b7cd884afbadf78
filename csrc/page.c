/* page_items(value, null) -> n | nil, i, what: whether `value`, the `value` of a list page as lua-cjson decoded it,
   is an array of n token objects. lua-cjson decodes a JSON array to the keys 1..n only and an object to string keys
   only, so a non-empty object has length 0 and a key, and an item with an element 1 is an array ([] and {} decode
   alike: an empty array passes as an empty object). When it is not: i = 0 and what = "missing" (no table) or
   "object"; or the first item i that is not an object and what it is: "null" (`null`, lua-cjson's null), "boolean",
   "number", "string", "array". Done in C because it runs on every item of every page. */
#include <lauxlib.h>

#include "vpp.h"

static int not_items(lua_State *L, lua_Integer i, const char *what) {
  lua_pushnil(L);
  lua_pushinteger(L, i);
  lua_pushstring(L, what);
  return 3;
}

static int l_page_items(lua_State *L) {
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  if (lua_type(L, 1) != LUA_TTABLE) return not_items(L, 0, "missing");
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  if (n == 0) {
    lua_pushnil(L);
    if (lua_next(L, 1)) return not_items(L, 0, "object");
  }
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, (int)i); /* below 5.3 it returns nothing: the type is read after */
    int t = lua_type(L, -1);
    if (t != LUA_TTABLE) return not_items(L, i, lua_rawequal(L, -1, 2) ? "null" : lua_typename(L, t));
    lua_rawgeti(L, -1, 1);
    if (lua_type(L, -1) != LUA_TNIL) return not_items(L, i, "array");
    lua_settop(L, 2);
  }
  lua_pushinteger(L, n);
  return 1;
}

void vpp_open_page(lua_State *L) {
  lua_pushcfunction(L, l_page_items);
  lua_setfield(L, -2, "page_items");
}
