/* vpptoken.core: the Lua 5.4 C API calls the core uses, on Lua 5.1, 5.2, 5.3 and LuaJIT 2.1 (vpp.h includes it).
   Only what the core calls is here; each shim is static inline and keeps 5.4's meaning:
   - user values of a full userdata: below 5.4 the userdata's environment (5.1, LuaJIT) or its one user value
     (5.2, 5.3) is a table of its own holding them, never the globals table 5.1 gives a new userdata;
   - the lua_get* family returns the type of what it pushed (5.3+);
   - luaL_checkinteger and luaL_optinteger raise on a number with no integer representation (5.3+; 5.1 and 5.2
     would truncate 1.5 to 1). */
#ifndef VPP_COMPAT_H
#define VPP_COMPAT_H

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>

/* lua_pushfstring's %I is 5.3+: write "%s" and pass VPP_INT(n), the integer's decimal text (valid in the
   enclosing block). */
typedef struct {
  char s[24];
} vpp_intbuf;
static inline const char *vpp_int_text(vpp_intbuf *b, lua_Integer n) {
  snprintf(b->s, sizeof b->s, "%lld", (long long)n);
  return b->s;
}
#define VPP_INT(n) vpp_int_text(&(vpp_intbuf){{0}}, (lua_Integer)(n))

#ifndef LUA_OK
#define LUA_OK 0
#endif

#if LUA_VERSION_NUM < 504
#define luaL_pushfail(L) lua_pushnil(L)
#endif

#if LUA_VERSION_NUM < 502
static inline int vpp_compat_absindex(lua_State *L, int i) {
  return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}
#define lua_absindex vpp_compat_absindex

static inline lua_Integer vpp_compat_len(lua_State *L, int i) { return (lua_Integer)lua_objlen(L, i); }
#define luaL_len vpp_compat_len
#define lua_rawlen(L, i) lua_objlen(L, i)

static inline const char *vpp_compat_tolstring(lua_State *L, int i, size_t *len) {
  if (luaL_callmeta(L, i, "__tostring")) {
    if (!lua_isstring(L, -1)) luaL_error(L, "'__tostring' must return a string");
  } else {
    switch (lua_type(L, i)) {
      case LUA_TNUMBER:
      case LUA_TSTRING: lua_pushvalue(L, i); break;
      case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, i) ? "true" : "false"); break;
      case LUA_TNIL: lua_pushliteral(L, "nil"); break;
      default: lua_pushfstring(L, "%s: %p", luaL_typename(L, i), lua_topointer(L, i)); break;
    }
  }
  return lua_tolstring(L, -1, len);
}
#define luaL_tolstring vpp_compat_tolstring

/* A buffer of sz bytes: here a userdata on the stack, replaced by the string at luaL_pushresultsize. */
static inline char *vpp_compat_buffinitsize(lua_State *L, luaL_Buffer *b, size_t sz) {
  luaL_buffinit(L, b);
  return lua_newuserdata(L, sz ? sz : 1);
}
#define luaL_buffinitsize vpp_compat_buffinitsize

static inline void vpp_compat_pushresultsize(luaL_Buffer *b, size_t n) {
  lua_pushlstring(b->L, lua_touserdata(b->L, -1), n);
  lua_remove(b->L, -2);
}
#define luaL_pushresultsize vpp_compat_pushresultsize

#ifndef luaL_newlib /* LuaJIT 2.1 has luaL_setfuncs and luaL_newlib; PUC 5.1 has neither */
static inline void vpp_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name; l++) {
    for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs vpp_compat_setfuncs
#define luaL_newlib(L, l) (lua_createtable(L, 0, (int)(sizeof(l) / sizeof((l)[0]) - 1)), luaL_setfuncs(L, l, 0))

static inline void *vpp_compat_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (!p || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}
#define luaL_testudata vpp_compat_testudata

static inline void vpp_compat_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#define luaL_setmetatable vpp_compat_setmetatable

static inline lua_Integer vpp_compat_tointegerx(lua_State *L, int i, int *isnum) {
  *isnum = lua_isnumber(L, i);
  return *isnum ? lua_tointeger(L, i) : 0;
}
#define lua_tointegerx vpp_compat_tointegerx
#endif /* luaL_newlib */
#endif /* < 5.2 */

#if LUA_VERSION_NUM < 503
static inline int vpp_compat_getfield(lua_State *L, int i, const char *k) {
  lua_getfield(L, i, k);
  return lua_type(L, -1);
}
#define lua_getfield vpp_compat_getfield

static inline int vpp_compat_rawget(lua_State *L, int i) {
  lua_rawget(L, i);
  return lua_type(L, -1);
}
#define lua_rawget vpp_compat_rawget

static inline int vpp_compat_geti(lua_State *L, int i, lua_Integer n) {
  i = lua_absindex(L, i);
  lua_pushinteger(L, n);
  lua_gettable(L, i);
  return lua_type(L, -1);
}
#define lua_geti vpp_compat_geti

static inline void vpp_compat_seti(lua_State *L, int i, lua_Integer n) {
  i = lua_absindex(L, i);
  lua_pushinteger(L, n);
  lua_insert(L, -2);
  lua_settable(L, i);
}
#define lua_seti vpp_compat_seti

/* 2^63 as a double: the first value past lua_Integer's range */
#define VPP_COMPAT_2P63 9223372036854775808.0
static inline lua_Integer vpp_compat_checkinteger(lua_State *L, int i) {
  lua_Number d = luaL_checknumber(L, i);
  if (!(d >= -VPP_COMPAT_2P63 && d < VPP_COMPAT_2P63) || (lua_Number)(lua_Integer)d != d)
    luaL_argerror(L, i, "number has no integer representation");
  return (lua_Integer)d;
}
#define luaL_checkinteger vpp_compat_checkinteger
#define luaL_optinteger(L, i, d) (lua_isnoneornil(L, (i)) ? (lua_Integer)(d) : vpp_compat_checkinteger(L, (i)))
#endif /* < 5.3 */

#if LUA_VERSION_NUM < 504
/* The n user values live in a table that is the userdata's environment (5.1) or its one user value (5.2, 5.3). */
#if LUA_VERSION_NUM < 502
#define VPP_COMPAT_GETUV lua_getfenv
#define VPP_COMPAT_SETUV lua_setfenv
#else
#define VPP_COMPAT_GETUV lua_getuservalue
#define VPP_COMPAT_SETUV lua_setuservalue
#endif
static inline void *vpp_compat_newuserdatauv(lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdata(L, size);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
    VPP_COMPAT_SETUV(L, -2);
  }
  return p;
}
#define lua_newuserdatauv vpp_compat_newuserdatauv

static inline int vpp_compat_getiuservalue(lua_State *L, int i, int n) {
  VPP_COMPAT_GETUV(L, i);
  if (lua_type(L, -1) != LUA_TTABLE) { /* a userdata made with no user values */
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return lua_type(L, -1);
}
#define lua_getiuservalue vpp_compat_getiuservalue

static inline int vpp_compat_setiuservalue(lua_State *L, int i, int n) {
  i = lua_absindex(L, i);
  VPP_COMPAT_GETUV(L, i);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 2);
    return 0;
  }
  lua_insert(L, -2);
  lua_rawseti(L, -2, n);
  lua_pop(L, 1);
  return 1;
}
#define lua_setiuservalue vpp_compat_setiuservalue
#endif /* < 5.4 */

#endif
