/* vpptoken.Session: a libcurl easy handle that keeps connections alive, the retry policy around it, and a pool
   of handles for concurrent requests (multi.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "vpp.h"

vpp_session *vpp_check_session(lua_State *L, int idx) {
  vpp_session *s = luaL_checkudata(L, idx, VPP_SESSION_TYPE);
  if (!s->main.curl) luaL_error(L, "attempt to use a closed %s", VPP_SESSION_TYPE);
  return s;
}

static void session_release(vpp_session *s) {
  for (int i = 0; i < s->pool_n; i++) {
    if (s->multi && s->pool[i]->curl) curl_multi_remove_handle(s->multi, s->pool[i]->curl);
    vpp_transfer_free(s->pool[i]);
    free(s->pool[i]);
  }
  free(s->pool);
  s->pool = NULL;
  s->pool_n = 0;
  if (s->multi) curl_multi_cleanup(s->multi);
  s->multi = NULL;
  vpp_transfer_free(&s->main);
  if (s->share) curl_share_cleanup(s->share); /* last: no handle uses it any more */
  s->share = NULL;
}

/* session:request(method, url [, headers [, body]]); headers: a table or a core.headers set
   -> { status, headers, body, attempts, waited, elapsed, retry_after, client_request_id, http_version, connects }
   | nil, { kind, code, message, attempts, client_request_id, method, url, outcome_unknown }
   Retries 429/503 (and 504 for idempotent methods) honouring Retry-After, and transport failures that
   cannot duplicate work, within the session's retry policy. */
static int l_request(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  const char *method = luaL_checkstring(L, 2);
  const char *url = luaL_checkstring(L, 3);
  vpp_check_request(L, "request: ", method, url);
  const vpp_headers *hs = vpp_to_headers(L, "request: ", 4); /* stays at index 4 for the call */
  size_t blen = 0;
  const char *body = lua_isnoneornil(L, 5) ? NULL : luaL_checklstring(L, 5, &blen);
  vpp_transfer *t = &s->main;
  vpp_transfer_begin(t, &s->rng, method, url, hs, body, blen);
  CURLcode rc;
  for (;;) {
    vpp_transfer_attempt(t);
    rc = curl_easy_perform(t->curl);
    double delay = vpp_transfer_outcome(t, rc, &s->retry, &s->rng);
    if (delay < 0) break;
    vpp_sleep_seconds(delay);
  }
  if (rc != CURLE_OK) lua_pushnil(L);
  vpp_transfer_push_result(L, t, rc);
  return rc != CURLE_OK ? 2 : 1;
}

static int l_close(lua_State *L) {
  vpp_session *s = luaL_checkudata(L, 1, VPP_SESSION_TYPE);
  session_release(s);
  return 0;
}

static int l_tostring(lua_State *L) {
  vpp_session *s = luaL_checkudata(L, 1, VPP_SESSION_TYPE);
  if (s->main.curl)
    lua_pushfstring(L, "%s (%p)", VPP_SESSION_TYPE, (void *)s);
  else
    lua_pushfstring(L, "%s (closed)", VPP_SESSION_TYPE);
  return 1;
}

/* ---- construction ---- */

static double opt_seconds(lua_State *L, const char *key, double def, double max) {
  double v = def;
  int t = lua_getfield(L, 1, key);
  if (t != LUA_TNIL) {
    int isnum = t == LUA_TNUMBER; /* a number, not text that looks like one */
    v = isnum ? (double)lua_tonumber(L, -1) : -1;
    if (!isnum || !(v >= 0) || v > max)
      luaL_error(L, "bad option '%s' (a number of seconds from 0 to %f expected)", key, max);
  }
  lua_pop(L, 1);
  return v;
}

static const char *opt_string(lua_State *L, const char *key) {
  const char *v = NULL;
  int t = lua_getfield(L, 1, key);
  if (t == LUA_TSTRING) {
    size_t len;
    v = lua_tolstring(L, -1, &len); /* stays referenced by the options table */
    if (strlen(v) != len) luaL_error(L, "bad option '%s' (contains a NUL byte)", key);
  } else if (t != LUA_TNIL)
    luaL_error(L, "bad option '%s' (string expected, got %s)", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, const char *key, int def) {
  int v = def, t = lua_getfield(L, 1, key);
  if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "bad option '%s' (boolean expected, got %s)", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static const char *const session_options[] = {"timeout", "connect_timeout", "cafile", "capath", "proxy",
                                              "user_agent", "insecure", "http2", "max_retries", "retry_delay",
                                              "max_retry_time", "max_response_size", NULL};

/* core.session{ timeout=100, connect_timeout=10, cafile=, capath=, proxy=, user_agent=, insecure=false, http2=true,
                 max_retries=3, retry_delay=3, max_retry_time=180, max_response_size=64 MiB } -> Session */
int vpp_l_session_new(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int known = 0;
    for (int i = 0; k && session_options[i]; i++) known |= strcmp(k, session_options[i]) == 0;
    if (!known) return luaL_error(L, "unknown session option '%s'", k ? k : luaL_typename(L, -2));
    lua_pop(L, 1);
  }
  double timeout = opt_seconds(L, "timeout", 100, 86400);
  double connect_timeout = opt_seconds(L, "connect_timeout", 10, 3600);
  double max_retries = opt_seconds(L, "max_retries", 3, 10);
  luaL_argcheck(L, max_retries == floor(max_retries), 1, "max_retries must be a whole number from 0 to 10");
  double retry_delay = opt_seconds(L, "retry_delay", 3, 3600);
  double max_retry_time = opt_seconds(L, "max_retry_time", 180, 86400);
  double max_size = opt_seconds(L, "max_response_size", 64.0 * 1024 * 1024, 1024.0 * 1024 * 1024);
  const char *cafile = opt_string(L, "cafile");
  const char *capath = opt_string(L, "capath");
  const char *proxy = opt_string(L, "proxy");
  const char *ua = opt_string(L, "user_agent");
  int insecure = opt_bool(L, "insecure", 0);
  int http2 = opt_bool(L, "http2", 1);

  /* Zeroed userdata with its metatable first: a failure below leaves nothing for __gc to double-free. */
  vpp_session *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, VPP_SESSION_TYPE);
  CURL *c = curl_easy_init();
  if (!c) return luaL_error(L, "cannot create a libcurl handle");
  /* One share for the session's handles: request_many's transfers reuse the connection a single request opened
     (a list before a sync_all) and resume its TLS session instead of a full handshake. Used from one thread. */
  s->share = curl_share_init();
  if (!s->share) {
    curl_easy_cleanup(c);
    return luaL_error(L, "cannot create a libcurl share handle");
  }
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_easy_setopt(c, CURLOPT_SHARE, s->share);
  s->max_body = (size_t)max_size;
  s->http2 = http2;
  vpp_transfer_init(&s->main, c, s->max_body);
  s->retry.max_retries = (int)max_retries;
  s->retry.base_delay = retry_delay;
  s->retry.max_total_delay = max_retry_time;
  vpp_rng_seed(&s->rng);

  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Redirects: at most 5; libcurl drops a custom Authorization header when the host, port or scheme changes;
     the protocols allowed for the redirect are set per request so https never falls back to http. */
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)(CURL_REDIR_POST_301 | CURL_REDIR_POST_302));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  /* gzip, as Graph's own SDKs ask: the list of every encoding this libcurl decodes costs it 3.5k more
     instructions per request to format (callgrind), for encodings Graph is not asked for by anyone. */
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_USERAGENT, ua ? ua : "vpptoken/" VPP_VERSION);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L);
  if (cafile) curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
  if (capath) curl_easy_setopt(c, CURLOPT_CAPATH, capath);
  if (proxy) curl_easy_setopt(c, CURLOPT_PROXY, proxy);
  return 1;
}

void vpp_open_session(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"request", l_request}, {"request_many", vpp_l_request_many}, {"close", l_close}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, VPP_SESSION_TYPE);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
