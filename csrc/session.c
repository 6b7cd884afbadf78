/* vpptoken.Session: a libcurl easy handle that keeps connections alive, the retry policy around it, and a pool
   of handles for concurrent requests (multi.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "vpp.h"

vpp_session *vpp_check_session(lua_State *L, int idx) {
  vpp_session *s = luaL_checkudata(L, idx, VPP_SESSION_TYPE);
  if (!s->main.curl) luaL_error(L, "attempt to use a closed %s", VPP_SESSION_TYPE);
  if (s->in_hook) luaL_error(L, "attempt to use a %s from its own hook", VPP_SESSION_TYPE);
  return s;
}

void vpp_session_hook(lua_State *L, vpp_session *s, int hook) {
  if (!hook) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, hook);
  lua_insert(L, -2);
  s->in_hook = 1;
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
  s->in_hook = 0;
}

static void session_release(lua_State *L, vpp_session *s) {
  vpp_reactor_free(L, s);
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

/* session:request(method, url [, headers [, body [, mode [, on_event]]]]); headers: a table or a core.headers set;
   mode "imds" (a GET without body only) also allows the IMDS token URL over plain http (url.c), for this one call;
   on_event: a function called before each wait for a retry with the table of vpp_push_retry_event, and about once
   a second while an attempt is under way with { event = "tick", method, url, elapsed }
   -> { status, headers, body, attempts, waited, elapsed, retry_after, client_request_id, http_version, connects }
   | nil, { kind, code, message, attempts, client_request_id, method, url, outcome_unknown }
   Retries 429/503 (and 504 for idempotent methods) honouring Retry-After, and transport failures that
   cannot duplicate work, within the session's retry policy. */
static int l_request(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  const char *method = luaL_checkstring(L, 2);
  size_t url_len;
  const char *url = luaL_checklstring(L, 3, &url_len);
  static const char *const modes[] = {"default", "imds", NULL};
  int imds = luaL_checkoption(L, 6, "default", modes) == 1;
  if (imds && !lua_isnoneornil(L, 5)) luaL_argerror(L, 5, "the imds mode sends no body");
  vpp_url checked = {0};
  (imds ? vpp_check_request_imds : vpp_check_request)(L, "request: ", method, url, url_len, &checked, s->main.cu);
  const vpp_headers *hs = vpp_to_headers(L, "request: ", 4); /* stays at index 4 for the call */
  size_t blen = 0;
  const char *body = lua_isnoneornil(L, 5) ? NULL : luaL_checklstring(L, 5, &blen);
  int hook = 0;
  if (!lua_isnoneornil(L, 7)) {
    luaL_checktype(L, 7, LUA_TFUNCTION);
    hook = 7;
  }
  vpp_transfer *t = &s->main;
  t->imds = imds;
  vpp_transfer_begin(t, &s->rng, method, url, &checked, hs, body, blen);
  vpp_transfer_set_hook(t, L, hook, &s->in_hook);
  CURLcode rc;
  for (;;) {
    vpp_transfer_attempt(t);
    rc = curl_easy_perform(t->curl);
    double delay = vpp_transfer_outcome(t, rc, &s->retry, &s->rng);
    if (delay < 0) break;
    if (hook && t->hops == 0) { /* a retry, not a redirect hop */
      vpp_push_retry_event(L, t, &s->retry, delay);
      vpp_session_hook(L, s, hook);
    }
    vpp_transfer_wait(t, delay);   /* the hook hears the wait counted down */
    if (vpp_interrupt_pending()) { /* Ctrl-C (caught) during the wait: the call ends without another attempt */
      t->interrupted = 2;
      rc = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
  }
  vpp_transfer_set_hook(t, L, 0, &s->in_hook);
  int failed = vpp_transfer_failed(t, rc);
  if (failed) lua_pushnil(L);
  vpp_transfer_push_result(L, t, rc);
  return failed ? 2 : 1;
}

/* session:retry_wait(retry [, retry_after [, waited]]) -> seconds | nil
   The session's retry policy for a retry the caller makes itself (a throttled $batch sub-request): retry is the
   1-based retry number, retry_after the server's Retry-After text (if any), waited the seconds already waited.
   nil when the policy says stop (max_retries, max_retry_time). */
static int l_retry_wait(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  lua_Integer retry = luaL_checkinteger(L, 2);
  luaL_argcheck(L, retry >= 1, 2, "retry must be a whole number >= 1");
  const char *ra = luaL_optstring(L, 3, NULL);
  double waited = luaL_optnumber(L, 4, 0);
  luaL_argcheck(L, waited >= 0, 4, "waited must be a number of seconds >= 0");
  int n = retry > 1000 ? 1000 : (int)retry;
  double d = vpp_retry_wait(&s->retry, n, vpp_retry_after_parse(ra, time(NULL)), waited, &s->rng);
  if (d < 0) return 0;
  lua_pushnumber(L, d);
  return 1;
}

static int l_close(lua_State *L) {
  vpp_session *s = luaL_checkudata(L, 1, VPP_SESSION_TYPE);
  if (s->in_hook) return luaL_error(L, "attempt to close a %s from its own hook", VPP_SESSION_TYPE);
  session_release(L, s);
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

/* Every session option, once: its name, kind, range and default. Docs and the Lua layer read the names from
   core.session_options. */
enum opt_kind { OPT_SECONDS, OPT_COUNT, OPT_BYTES, OPT_STRING, OPT_BOOL };
enum opt_id {
  O_TIMEOUT,
  O_CONNECT_TIMEOUT,
  O_CAFILE,
  O_CAPATH,
  O_PROXY,
  O_USER_AGENT,
  O_INSECURE,
  O_HTTP2,
  O_MAX_RETRIES,
  O_RETRY_DELAY,
  O_MAX_RETRY_TIME,
  O_MAX_RESPONSE_SIZE,
  O_COUNT
};
static const struct {
  const char *name;
  enum opt_kind kind;
  double min, max, def;
} options[O_COUNT] = {
    [O_TIMEOUT] = {"timeout", OPT_SECONDS, 0.001, 86400, 100},
    [O_CONNECT_TIMEOUT] = {"connect_timeout", OPT_SECONDS, 0.001, 3600, 10},
    [O_CAFILE] = {"cafile", OPT_STRING, 0, 0, 0},
    [O_CAPATH] = {"capath", OPT_STRING, 0, 0, 0},
    [O_PROXY] = {"proxy", OPT_STRING, 0, 0, 0},
    [O_USER_AGENT] = {"user_agent", OPT_STRING, 0, 0, 0},
    [O_INSECURE] = {"insecure", OPT_BOOL, 0, 1, 0},
    [O_HTTP2] = {"http2", OPT_BOOL, 0, 1, 1},
    [O_MAX_RETRIES] = {"max_retries", OPT_COUNT, 0, 10, 3},
    [O_RETRY_DELAY] = {"retry_delay", OPT_SECONDS, 0, 3600, 3},
    [O_MAX_RETRY_TIME] = {"max_retry_time", OPT_SECONDS, 0, 86400, 180},
    [O_MAX_RESPONSE_SIZE] = {"max_response_size", OPT_BYTES, 1024, 1024.0 * 1024 * 1024, 64.0 * 1024 * 1024},
};

typedef struct {
  double num[O_COUNT];
  const char *str[O_COUNT]; /* raw fields of the options table, which stays on the stack: anchored */
} opt_values;

static void opt_bad(lua_State *L, int i, const char *got) {
  switch (options[i].kind) {
    case OPT_SECONDS: {
      char range[64];
      snprintf(range, sizeof range, "from %g to %g", options[i].min, options[i].max);
      luaL_error(L, "bad option '%s' (a number of seconds %s expected, got %s)", options[i].name, range, got);
      break;
    }
    case OPT_COUNT:
      luaL_error(L, "bad option '%s' (a whole number from %d to %d expected, got %s)", options[i].name,
                 (int)options[i].min, (int)options[i].max, got);
      break;
    case OPT_BYTES:
      luaL_error(L, "bad option '%s' (a whole number of bytes from %s to %s expected, got %s)", options[i].name,
                 VPP_INT(options[i].min), VPP_INT(options[i].max), got);
      break;
    case OPT_STRING: luaL_error(L, "bad option '%s' (string expected, got %s)", options[i].name, got); break;
    case OPT_BOOL: luaL_error(L, "bad option '%s' (boolean expected, got %s)", options[i].name, got); break;
  }
}

/* Reads the options table at index 1 (raw fields only: a metatable cannot make a value vanish mid-call). */
static void read_options(lua_State *L, opt_values *v) {
  for (int i = 0; i < O_COUNT; i++) {
    v->num[i] = options[i].def;
    v->str[i] = NULL;
  }
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int i = 0;
    while (k && i < O_COUNT && strcmp(k, options[i].name) != 0) i++;
    if (!k || i == O_COUNT) {
      luaL_error(L, "unknown session option '%s'", k ? k : luaL_typename(L, -2));
      return; /* not reached */
    }
    int t = lua_type(L, -1);
    if (options[i].kind == OPT_STRING) {
      size_t len;
      if (t != LUA_TSTRING) opt_bad(L, i, luaL_typename(L, -1));
      v->str[i] = lua_tolstring(L, -1, &len);
      if (strlen(v->str[i]) != len) luaL_error(L, "bad option '%s' (contains a NUL byte)", options[i].name);
    } else if (options[i].kind == OPT_BOOL) {
      if (t != LUA_TBOOLEAN) opt_bad(L, i, luaL_typename(L, -1));
      v->num[i] = lua_toboolean(L, -1);
    } else {
      if (t != LUA_TNUMBER) opt_bad(L, i, luaL_typename(L, -1)); /* a number, not text that looks like one */
      double d = (double)lua_tonumber(L, -1);
      int whole = options[i].kind != OPT_SECONDS;
      if (!(d >= options[i].min && d <= options[i].max) || (whole && d != floor(d)))
        opt_bad(L, i, luaL_tolstring(L, -1, NULL));
      v->num[i] = d;
    }
    lua_pop(L, 1);
  }
}

/* core.session{ timeout=100, connect_timeout=10, cafile=, capath=, proxy=, user_agent=, insecure=false, http2=true,
                 max_retries=3, retry_delay=3, max_retry_time=180, max_response_size=64 MiB } -> Session
   Raises on an unknown option or a value out of its range (a timeout is never 0: libcurl would wait forever). */
int vpp_l_session_new(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  opt_values o;
  read_options(L, &o);
  double timeout = o.num[O_TIMEOUT], connect_timeout = o.num[O_CONNECT_TIMEOUT];
  const char *cafile = o.str[O_CAFILE], *capath = o.str[O_CAPATH], *proxy = o.str[O_PROXY];
  const char *ua = o.str[O_USER_AGENT];
  int insecure = (int)o.num[O_INSECURE], http2 = (int)o.num[O_HTTP2];

  /* Zeroed userdata with its metatable first: a failure below leaves nothing for __gc to double-free. */
  vpp_session *s = lua_newuserdata(L, sizeof *s);
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
  s->max_body = (size_t)o.num[O_MAX_RESPONSE_SIZE];
  s->timeout_ms = (long)ceil(timeout * 1000); /* >= 1: 0 would mean no timeout */
  s->http2 = http2;
  vpp_transfer_init(&s->main, c, s->max_body, s->timeout_ms);
  s->retry.max_retries = (int)o.num[O_MAX_RETRIES];
  s->retry.base_delay = o.num[O_RETRY_DELAY];
  s->retry.max_total_delay = o.num[O_MAX_RETRY_TIME];
  vpp_rng_seed(&s->rng);

  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Redirects are followed by transfer.c, under the URL policy, never by libcurl (FOLLOWLOCATION stays off). */
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  /* gzip, as Graph's own SDKs ask: the list of every encoding this libcurl decodes costs it 3.5k more
     instructions per request to format (callgrind), for encodings Graph is not asked for by anyone. */
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(connect_timeout * 1000));
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
  static const luaL_Reg methods[] = {{"request", l_request},       {"request_many", vpp_l_request_many},
                                     {"retry_wait", l_retry_wait}, {"start", vpp_l_start},
                                     {"step", vpp_l_step},         {"cancel", vpp_l_cancel},
                                     {"pollfd", vpp_l_pollfd},     {"events", vpp_l_events},
                                     {"timeout", vpp_l_timeout},   {"pending", vpp_l_pending},
                                     {"close", l_close},           {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, VPP_SESSION_TYPE);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void vpp_push_session_options(lua_State *L) {
  lua_createtable(L, O_COUNT, 0);
  for (int i = 0; i < O_COUNT; i++) {
    lua_pushstring(L, options[i].name);
    lua_rawseti(L, -2, i + 1);
  }
}

/* core.session_limits: name -> { kind = "seconds" | "count" | "bytes" | "string" | "boolean", min, max, default }
   (min, max for numbers; default where the option has one), from the same table the parser reads. */
void vpp_push_session_limits(lua_State *L) {
  static const char *const kinds[] = {"seconds", "count", "bytes", "string", "boolean"};
  lua_createtable(L, 0, O_COUNT);
  for (int i = 0; i < O_COUNT; i++) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kinds[options[i].kind]);
    lua_setfield(L, -2, "kind");
    if (options[i].kind == OPT_BOOL) {
      lua_pushboolean(L, options[i].def != 0);
      lua_setfield(L, -2, "default");
    } else if (options[i].kind != OPT_STRING) {
      const double v[3] = {options[i].min, options[i].max, options[i].def};
      const char *const f[3] = {"min", "max", "default"};
      for (int j = 0; j < 3; j++) {
        if (v[j] == floor(v[j]))
          lua_pushinteger(L, (lua_Integer)v[j]); /* 100, not 100.0, in messages */
        else
          lua_pushnumber(L, v[j]);
        lua_setfield(L, -2, f[j]);
      }
    }
    lua_setfield(L, -2, options[i].name);
  }
}
