/* The benchmarks' floor: the least a Lua program can do to GET a Graph URL over libcurl.
   require "floor" -> { get = function(url [, cafile]) -> body | nil, message }
   One easy handle per module instance (per lua_State), reused so connections stay alive; it lives in a userdata
   held as the upvalue of `get` and is freed by that userdata's __gc. No global mutable state.
   Every request carries the headers vpptoken sends to Graph (a bearer token, Accept: application/json), so both
   do the same work on the wire. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#define FLOOR_STATE "bench.floor.state"

typedef struct {
  CURL *curl;
  struct curl_slist *headers;
  char *buf;
  size_t len, cap;
} floor_state;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  floor_state *s = ud;
  size_t len = size * n;
  if (s->len + len > s->cap) {
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < s->len + len) cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb) return 0;
    s->buf = nb;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, len);
  s->len += len;
  return len;
}

static int l_get(lua_State *L) {
  floor_state *s = lua_touserdata(L, lua_upvalueindex(1));
  const char *url = luaL_checkstring(L, 1);
  const char *cafile = luaL_optstring(L, 2, NULL);
  if (cafile) curl_easy_setopt(s->curl, CURLOPT_CAINFO, cafile);
  curl_easy_setopt(s->curl, CURLOPT_URL, url);
  s->len = 0;
  CURLcode rc = curl_easy_perform(s->curl);
  if (rc != CURLE_OK) {
    lua_pushnil(L);
    lua_pushstring(L, curl_easy_strerror(rc));
    return 2;
  }
  lua_pushlstring(L, s->buf ? s->buf : "", s->len);
  return 1;
}

static int l_gc(lua_State *L) {
  floor_state *s = luaL_checkudata(L, 1, FLOOR_STATE);
  if (s->curl) curl_easy_cleanup(s->curl);
  curl_slist_free_all(s->headers);
  free(s->buf);
  s->curl = NULL;
  s->headers = NULL;
  s->buf = NULL;
  return 0;
}

int luaopen_floor(lua_State *L);

int luaopen_floor(lua_State *L) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  floor_state *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  if (luaL_newmetatable(L, FLOOR_STATE)) {
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  s->curl = curl_easy_init();
  if (!s->curl) return luaL_error(L, "floor: cannot create a libcurl handle");
  struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer bench");
  if (h) s->headers = h;
  h = curl_slist_append(s->headers, "Accept: application/json");
  if (h) s->headers = h;
  curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
  curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(s->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_get, 1);
  lua_setfield(L, -2, "get");
  return 1;
}
