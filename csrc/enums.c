/* The four vppToken enums, each written once: the lists below generate the Lua tables
   (vpptoken.AccountType, .State, .SyncStatus, .DeliveryProtocol), the member lists and the checks. */
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "vpp.h"

/* M(member, beta_only) */
#define VPP_ACCOUNT_TYPE(M) M(business, 0) M(education, 0)
#define VPP_STATE(M) \
  M(unknown, 0) M(valid, 0) M(expired, 0) M(invalid, 0) M(assignedToExternalMDM, 0) M(duplicateLocationId, 1)
#define VPP_SYNC_STATUS(M) M(none, 0) M(inProgress, 0) M(completed, 0) M(failed, 0)
/* appleDeviceDeliveryProtocol: the property is beta only, so is every member */
#define VPP_DELIVERY_PROTOCOL(M) \
  M(default, 1) M(mobileDeviceManagement, 1) M(declarativeDeviceManagement, 1) M(unknownFutureValue, 1)

/* X(Lua name, wire property, member list) */
#define VPP_ENUMS(X)                                    \
  X(AccountType, vppTokenAccountType, VPP_ACCOUNT_TYPE) \
  X(State, state, VPP_STATE)                            \
  X(SyncStatus, lastSyncStatus, VPP_SYNC_STATUS)        \
  X(DeliveryProtocol, appleDeviceAppDeliveryProtocolType, VPP_DELIVERY_PROTOCOL)

typedef struct {
  const char *name;
  int beta_only;
} vpp_member;

typedef struct {
  const char *lua_name, *property;
  const vpp_member *members;
  int count;
} vpp_enum;

#define VPP_MEMBER(n, b) {#n, b},
#define VPP_MEMBERS(lua, prop, list) static const vpp_member members_##lua[] = {list(VPP_MEMBER)};
VPP_ENUMS(VPP_MEMBERS)

#define VPP_ENUM_ENTRY(lua, prop, list) \
  {#lua, #prop, members_##lua, (int)(sizeof members_##lua / sizeof members_##lua[0])},
static const vpp_enum enums[] = {VPP_ENUMS(VPP_ENUM_ENTRY)};
#define N_ENUMS ((int)(sizeof enums / sizeof enums[0]))

static const vpp_enum *find_enum(const char *key) {
  for (int i = 0; i < N_ENUMS; i++)
    if (strcmp(enums[i].lua_name, key) == 0 || strcmp(enums[i].property, key) == 0) return &enums[i];
  return NULL;
}

static const vpp_enum *check_enum_arg(lua_State *L, int arg) {
  const char *key = luaL_checkstring(L, arg);
  const vpp_enum *e = find_enum(key);
  if (!e) luaL_argerror(L, arg, lua_pushfstring(L, "no enum named '%s'", key));
  return e;
}

/* Pushes "a, b, c" (the members valid for the API version). */
static void push_member_list(lua_State *L, const vpp_enum *e, int beta) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int first = 1;
  for (int i = 0; i < e->count; i++) {
    if (e->members[i].beta_only && !beta) continue;
    if (!first) luaL_addstring(&b, ", ");
    luaL_addstring(&b, e->members[i].name);
    first = 0;
  }
  luaL_pushresult(&b);
}

/* check_enum(enum_or_property, value [, beta]) -> true | false, message listing what is allowed */
static int l_check_enum(lua_State *L) {
  const vpp_enum *e = check_enum_arg(L, 1);
  int beta = lua_toboolean(L, 3);
  if (lua_type(L, 2) != LUA_TSTRING) {
    push_member_list(L, e, beta);
    lua_pushfstring(L, "%s must be a string, one of: %s (got %s)", e->property, lua_tostring(L, -1),
                    luaL_typename(L, 2));
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  const char *v = lua_tostring(L, 2);
  const char *hint = NULL;
  for (int i = 0; i < e->count; i++) {
    if (strcmp(v, e->members[i].name) == 0) {
      if (e->members[i].beta_only && !beta) {
        lua_pushboolean(L, 0);
        lua_pushfstring(L, "%s value '%s' exists only in the beta API (api_version = \"beta\")", e->property, v);
        return 2;
      }
      lua_pushboolean(L, 1);
      return 1;
    }
    if (strcasecmp(v, e->members[i].name) == 0) hint = e->members[i].name;
  }
  push_member_list(L, e, beta);
  if (hint)
    lua_pushfstring(L, "invalid %s '%s': values are case-sensitive, did you mean '%s'? (allowed: %s)", e->property, v,
                    hint, lua_tostring(L, -1));
  else
    lua_pushfstring(L, "invalid %s '%s' (allowed: %s)", e->property, v, lua_tostring(L, -1));
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

/* enum_members(enum_or_property [, beta]) -> { "member", ... } in the wire's order */
static int l_enum_members(lua_State *L) {
  const vpp_enum *e = check_enum_arg(L, 1);
  int beta = lua_toboolean(L, 2);
  lua_createtable(L, e->count, 0);
  int n = 0;
  for (int i = 0; i < e->count; i++) {
    if (e->members[i].beta_only && !beta) continue;
    lua_pushstring(L, e->members[i].name);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* enum_property(enum_or_property) -> wire property name, Lua enum name | nil */
static int l_enum_property(lua_State *L) {
  const vpp_enum *e = find_enum(luaL_checkstring(L, 1));
  if (!e) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushstring(L, e->property);
  lua_pushstring(L, e->lua_name);
  return 2;
}

/* Read-only enum table: reading a member that does not exist raises (catches typos), writing raises. */
static int l_enum_index(lua_State *L) {
  const vpp_enum *e = lua_touserdata(L, lua_upvalueindex(1));
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    for (int i = 0; i < e->count; i++)
      if (strcmp(k, e->members[i].name) == 0) {
        lua_pushstring(L, k);
        return 1;
      }
  }
  const char *key = luaL_tolstring(L, 2, NULL);
  push_member_list(L, e, 1);
  return luaL_error(L, "vpptoken.%s has no member '%s' (members: %s)", e->lua_name, key, lua_tostring(L, -1));
}

static int l_enum_newindex(lua_State *L) {
  const vpp_enum *e = lua_touserdata(L, lua_upvalueindex(1));
  return luaL_error(L, "vpptoken.%s is read-only", e->lua_name);
}

/* pairs(vpptoken.State) walks the members. */
static int l_enum_next(lua_State *L) {
  const vpp_enum *e = lua_touserdata(L, lua_upvalueindex(1));
  int i = 0;
  if (!lua_isnil(L, 2)) {
    const char *k = luaL_checkstring(L, 2);
    while (i < e->count && strcmp(k, e->members[i].name) != 0) i++;
    i++;
  }
  if (i >= e->count) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, e->members[i].name);
  lua_pushvalue(L, -1);
  return 2;
}

static int l_enum_pairs(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, l_enum_next, 1);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

static int l_enum_tostring(lua_State *L) {
  const vpp_enum *e = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushfstring(L, "vpptoken.%s", e->lua_name);
  return 1;
}

void vpp_open_enums(lua_State *L) {
  static const struct {
    const char *name;
    lua_CFunction fn;
  } mm[] = {{"__index", l_enum_index},
            {"__newindex", l_enum_newindex},
            {"__pairs", l_enum_pairs},
            {"__tostring", l_enum_tostring}};
  for (int i = 0; i < N_ENUMS; i++) {
    lua_newtable(L); /* the (empty) proxy */
#if LUA_VERSION_NUM < 502
    /* 5.1 and LuaJIT ignore __pairs: the members are the table's own keys */
    for (int m = 0; m < enums[i].count; m++) {
      lua_pushstring(L, enums[i].members[m].name);
      lua_pushvalue(L, -1);
      lua_rawset(L, -3);
    }
#endif
    lua_createtable(L, 0, 6); /* its metatable */
    for (size_t k = 0; k < sizeof mm / sizeof mm[0]; k++) {
      lua_pushlightuserdata(L, (void *)&enums[i]);
      lua_pushcclosure(L, mm[k].fn, 1);
      lua_setfield(L, -2, mm[k].name);
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, enums[i].lua_name);
  }
  lua_pushcfunction(L, l_check_enum);
  lua_setfield(L, -2, "check_enum");
  lua_pushcfunction(L, l_enum_members);
  lua_setfield(L, -2, "enum_members");
  lua_pushcfunction(L, l_enum_property);
  lua_setfield(L, -2, "enum_property");
}
