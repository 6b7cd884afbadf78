/* Request header sets: the caller's headers checked once and kept as a ready curl_slist (core.headers{...}), so a
   client that sends the same headers on every call builds them once per access token, not once per request.
   session:request and request_many also take a plain table, turned into a set for that call. */
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "vpp.h"

#define HEADERS_TYPE "vpptoken.Headers"

static int valid_token_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

static int headers_gc(lua_State *L) {
  vpp_headers *h = luaL_checkudata(L, 1, HEADERS_TYPE);
  curl_slist_free_all(h->list);
  h->list = NULL;
  h->crid = NULL;
  return 0;
}

static int headers_tostring(lua_State *L) {
  luaL_checkudata(L, 1, HEADERS_TYPE);
  lua_pushliteral(L, HEADERS_TYPE); /* never the values: they hold the access token */
  return 1;
}

/* Builds a set from the table at idx and pushes it. Raises (with `where`) on a name that is not an HTTP token or
   a value with CR, LF or NUL. */
static vpp_headers *build(lua_State *L, const char *where, int idx) {
  idx = lua_absindex(L, idx);
  vpp_headers *h = lua_newuserdatauv(L, sizeof *h, 0);
  memset(h, 0, sizeof *h);
  if (luaL_newmetatable(L, HEADERS_TYPE)) {
    lua_pushcfunction(L, headers_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, headers_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2); /* from here a failure below leaves the partial list to __gc */
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%sheaders must map string names to string values", where);
    size_t nl, vl;
    const char *n = lua_tolstring(L, -2, &nl);
    const char *v = lua_tolstring(L, -1, &vl);
    if (nl == 0 || nl >= 128) luaL_error(L, "%sheader name must be 1..127 characters", where);
    for (size_t i = 0; i < nl; i++)
      if (!valid_token_char((unsigned char)n[i])) luaL_error(L, "%sinvalid header name '%s'", where, n);
    for (size_t i = 0; i < vl; i++)
      if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') luaL_error(L, "%sheader '%s' contains CR, LF or NUL", where, n);
    const char *line = lua_pushfstring(L, "%s: %s", n, v);
    struct curl_slist *head = curl_slist_append(h->list, line);
    if (!head) {
      luaL_error(L, "out of memory"); /* does not return */
      return h;
    }
    h->list = head;
    struct curl_slist *last = head; /* the node just appended */
    while (last->next) last = last->next;
    if (strcasecmp(n, "client-request-id") == 0) h->crid = last->data + nl + 2; /* the value, inside the list */
    lua_pop(L, 2);
  }
  return h;
}

vpp_headers *vpp_to_headers(lua_State *L, const char *where, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_isnoneornil(L, idx)) return NULL;
  vpp_headers *h = luaL_testudata(L, idx, HEADERS_TYPE);
  if (h) return h;
  if (!lua_istable(L, idx)) luaL_error(L, "%sheaders must be a table", where);
  h = build(L, where, idx);
  lua_replace(L, idx);
  return h;
}

/* core.headers{ [name] = value, ... } -> a header set for session:request and request_many */
static int l_headers(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  build(L, "headers: ", 1);
  return 1;
}

void vpp_open_headers(lua_State *L) {
  lua_pushcfunction(L, l_headers);
  lua_setfield(L, -2, "headers");
}
