/* vpptoken.core: the C half of vpptoken (HTTP over libcurl with retries, enums, DateTimeOffset). */
#include <curl/curl.h>
#include <lauxlib.h>
#include <string.h>

#include "vpp.h"

/* escape(text) -> text with every byte but RFC 3986 unreserved characters percent-encoded */
static int l_escape(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= 4096, 1, "text longer than 4096 bytes");
  char out[4096 * 3 + 1];
  size_t n = vpp_escape_segment(s, len, out);
  lua_pushlstring(L, out, n);
  return 1;
}

/* escape_id(id) -> the id percent-encoded for a URL path | nil, position of the first byte no id may hold (a
   control character, space, '/', '\\', '?' or '#'). Length and '.'/'..' are checked by the caller. */
static int l_escape_id(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= 4096, 1, "text longer than 4096 bytes");
  int plain = 1; /* nothing to escape (a GUID): the id itself is the answer, no new string */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == 127 || c == '/' || c == '\\' || c == '?' || c == '#') {
      lua_pushnil(L);
      lua_pushinteger(L, (lua_Integer)i + 1);
      return 2;
    }
    if (plain && !vpp_unreserved(c)) plain = 0;
  }
  if (plain) {
    lua_settop(L, 1);
    return 1;
  }
  char out[4096 * 3 + 1];
  lua_pushlstring(L, out, vpp_escape_segment(s, len, out));
  return 1;
}

/* curl_version() -> libcurl's version text with its TLS and compression libraries. A function, not a field: it
   asks each of those libraries, which costs 2.4 M instructions (callgrind): too much to pay at every start-up. */
static int l_curl_version(lua_State *L) {
  lua_pushstring(L, curl_version());
  return 1;
}

/* uuid() -> a random (version 4) UUID, as Graph's request ids */
static int l_uuid(lua_State *L) {
  vpp_rng r;
  vpp_rng_seed(&r);
  char out[37];
  vpp_uuid4(&r, out);
  lua_pushstring(L, out);
  return 1;
}

/* The most names env_names lists: an environment is the caller's, a loop over it has a bound. */
#define MAX_ENV_NAMES 4096
#define MAX_ENV_NAME 256

/* env_names() -> the names of the process's environment variables (never their values), at most MAX_ENV_NAMES of
   at most MAX_ENV_NAME bytes each: what from_env compares a missing variable's name with ("did you mean"). */
static int l_env_names(lua_State *L) {
  extern char **environ;
  lua_newtable(L);
  lua_Integer n = 0;
  for (char **e = environ; e && *e && n < MAX_ENV_NAMES; e++) {
    const char *eq = strchr(*e, '=');
    size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
    if (len == 0 || len > MAX_ENV_NAME) continue;
    lua_pushlstring(L, *e, len);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

__attribute__((visibility("default"))) int luaopen_vpptoken_core(lua_State *L);

int luaopen_vpptoken_core(lua_State *L) {
  /* libcurl's one global: thread-safe to call more than once since 7.84; never cleaned up. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return luaL_error(L, "libcurl initialisation failed");
  vpp_open_session(L);
  static const luaL_Reg funcs[] = {{"session", vpp_l_session_new},
                                   {"escape", l_escape},
                                   {"escape_id", l_escape_id},
                                   {"uuid", l_uuid},
                                   {"curl_version", l_curl_version},
                                   {"env_names", l_env_names},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  vpp_open_enums(L);
  vpp_open_time(L);
  vpp_open_sleep(L);
  vpp_open_crypto(L);
  vpp_open_nulls(L);
  vpp_open_json(L);
  vpp_open_page(L);
  vpp_open_headers(L);
  vpp_open_url(L);
  vpp_open_fs(L);
  vpp_open_spawn(L);
  vpp_open_term(L);
  vpp_open_interrupt(L);
  vpp_open_digest(L);
  vpp_open_utf8(L);
  vpp_push_session_options(L);
  lua_setfield(L, -2, "session_options");
  vpp_push_session_limits(L);
  lua_setfield(L, -2, "session_limits");
  lua_pushinteger(L, VPP_MAX_CONCURRENCY);
  lua_setfield(L, -2, "MAX_CONCURRENCY");
  lua_pushliteral(L, VPP_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
