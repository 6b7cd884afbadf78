/* FNV-1a digests computed in C, so that every Lua (5.1's doubles, 5.3's integers) gives the same answer: the
   --shard slice of a tenant (32 bits) and the set of pages a walk has read (64 bits). */
#include <stdint.h>

#include "vpp.h"

/* fnv1a32(s) -> 0..2^32-1 */
static int l_fnv1a32(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 16777619u;
  lua_pushinteger(L, (lua_Integer)h);
  return 1;
}

/* fnv1a64(s) -> the 64 bits as an integer (on 5.1, 5.2 and LuaJIT a number that keeps 53 of them) */
static int l_fnv1a64(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  uint64_t h = 14695981039346656037u;
  for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 1099511628211u;
  lua_pushinteger(L, (lua_Integer)(int64_t)h);
  return 1;
}

void vpp_open_digest(lua_State *L) {
  static const luaL_Reg f[] = {{"fnv1a32", l_fnv1a32}, {"fnv1a64", l_fnv1a64}, {NULL, NULL}};
  luaL_setfuncs(L, f, 0);
}
