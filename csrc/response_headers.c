/* Response headers: the raw header block libcurl hands over, read in place. A response carries them as a
   vpptoken.ResponseHeaders userdata (one copy of the block, no table built): headers["request-id"] looks a name up
   case-insensitively (repeated headers joined with ", "), pairs() gives { lowercased-name = value }. */
#include <string.h>

#include <lauxlib.h>

#include "vpp.h"

#define RESPONSE_HEADERS_TYPE "vpptoken.ResponseHeaders"

#if LUA_VERSION_NUM >= 502 /* the block a response's headers userdata holds (below 5.2 they are a table) */
typedef struct {
  size_t len;
  char data[];
} raw_block;
#endif

/* The next "Name: value" line of the block from *pos: name and trimmed value spans; 0 at the end. Skips status
   lines and lines without a name. */
static int next_field(const char *p, size_t len, size_t *pos, const char **name, size_t *nlen, const char **value,
                      size_t *vlen) {
  while (*pos < len) {
    const char *line = p + *pos;
    const char *eol = memchr(line, '\n', len - *pos);
    size_t llen = eol ? (size_t)(eol - line) : len - *pos;
    *pos += llen + 1;
    const char *colon = memchr(line, ':', llen);
    if (!colon || colon == line || (llen >= 5 && memcmp(line, "HTTP/", 5) == 0)) continue;
    const char *v = colon + 1, *end = line + llen;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
    *name = line;
    *nlen = (size_t)(colon - line);
    *value = v;
    *vlen = (size_t)(end - v);
    return 1;
  }
  return 0;
}

static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c; }

/* Whether two names of n bytes are the same, ignoring ASCII case (a NUL is a byte like any other). */
static int same_name(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

int vpp_find_header(const vpp_buf *h, const char *name, char *out, size_t outsz) {
  size_t want = strlen(name), pos = 0, nl, vl;
  const char *n, *v;
  while (next_field(h->data, h->len, &pos, &n, &nl, &v, &vl)) {
    if (nl != want || !same_name(n, name, nl)) continue;
    if (vl >= outsz) vl = outsz - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 1;
  }
  return 0;
}

#if LUA_VERSION_NUM >= 502 /* the lazy headers below */
/* Pushes the value of `name` (length want) in the block, repeated fields joined with ", "; nil when absent. */
static void push_value(lua_State *L, const char *p, size_t len, const char *name, size_t want) {
  size_t pos = 0, nl, vl;
  const char *n, *v;
  int found = 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (next_field(p, len, &pos, &n, &nl, &v, &vl)) {
    if (nl != want || !same_name(n, name, nl)) continue;
    if (found++) luaL_addstring(&b, ", ");
    luaL_addlstring(&b, v, vl);
  }
  luaL_pushresult(&b);
  if (!found) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}
#endif

void vpp_push_headers(lua_State *L, const char *p, size_t len) {
  lua_newtable(L);
  size_t pos = 0, nl, vl;
  const char *n, *v;
  while (next_field(p, len, &pos, &n, &nl, &v, &vl)) {
    unsigned char name[128];
    if (nl >= sizeof name) continue;
    for (size_t k = 0; k < nl; k++) name[k] = lower((unsigned char)n[k]);
    lua_pushlstring(L, (const char *)name, nl);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) { /* repeated: join */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, v, vl);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, v, vl);
    }
    lua_rawset(L, -3);
  }
}

#if LUA_VERSION_NUM < 502
/* Lua 5.1 and LuaJIT: pairs() ignores __pairs, so a response's headers are the plain table of lower-cased names
   vpp_push_headers builds, whose __index finds a name given in any case. */
static int rh_index(lua_State *L) {
  size_t nl;
  const char *name = lua_tolstring(L, 2, &nl);
  unsigned char low[128];
  if (!name || lua_type(L, 2) != LUA_TSTRING || nl >= sizeof low) return 0;
  for (size_t k = 0; k < nl; k++) low[k] = lower((unsigned char)name[k]);
  lua_pushlstring(L, (const char *)low, nl);
  lua_rawget(L, 1);
  return 1;
}

static int rh_tostring(lua_State *L) {
  lua_pushliteral(L, RESPONSE_HEADERS_TYPE);
  return 1;
}

void vpp_push_response_headers(lua_State *L, const vpp_buf *h) {
  vpp_push_headers(L, h->data, h->len);
  if (luaL_newmetatable(L, RESPONSE_HEADERS_TYPE)) {
    static const luaL_Reg meta[] = {{"__index", rh_index}, {"__tostring", rh_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
  }
  lua_setmetatable(L, -2);
}
#else
static int rh_index(lua_State *L) {
  raw_block *b = luaL_checkudata(L, 1, RESPONSE_HEADERS_TYPE);
  size_t nl;
  const char *name = lua_tolstring(L, 2, &nl);
  if (!name || lua_type(L, 2) != LUA_TSTRING) return 0;
  push_value(L, b->data, b->len, name, nl);
  return 1;
}

static int rh_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int rh_pairs(lua_State *L) {
  raw_block *b = luaL_checkudata(L, 1, RESPONSE_HEADERS_TYPE);
  lua_pushcfunction(L, rh_next);
  vpp_push_headers(L, b->data, b->len);
  lua_pushnil(L);
  return 3;
}

static int rh_tostring(lua_State *L) {
  luaL_checkudata(L, 1, RESPONSE_HEADERS_TYPE);
  lua_pushliteral(L, RESPONSE_HEADERS_TYPE);
  return 1;
}

void vpp_push_response_headers(lua_State *L, const vpp_buf *h) {
  raw_block *b = lua_newuserdatauv(L, sizeof *b + h->len, 0);
  b->len = h->len;
  if (h->len) memcpy(b->data, h->data, h->len);
  if (luaL_newmetatable(L, RESPONSE_HEADERS_TYPE)) {
    static const luaL_Reg meta[] = {
        {"__index", rh_index}, {"__pairs", rh_pairs}, {"__tostring", rh_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
  }
  lua_setmetatable(L, -2);
}
#endif
