/* session:request_many: many calls at once over libcurl's multi interface (HTTP/2 multiplexing where the server
   offers it), at most `concurrency` in flight, each with the full retry policy of session:request. (Calls started
   and answered one by one, driven from outside: reactor.c.) */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "vpp.h"

#define MAX_REQUESTS 1000000 /* per call: the results table is built whole */

/* Grows the pool to n transfers, each a copy of the main handle's options (timeouts, TLS, proxy...). */
static void ensure_pool(lua_State *L, vpp_session *s, int n) {
  if (!s->multi) {
    s->multi = curl_multi_init();
    if (!s->multi) {
      luaL_error(L, "cannot create a libcurl multi handle");
      return;
    }
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  }
  curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
  if (s->pool_n >= n) return;
  /* An array of pointers: libcurl holds each slot's address (callback data), so slots never move. */
  vpp_transfer **p = realloc(s->pool, (size_t)n * sizeof(vpp_transfer *));
  if (!p) {
    luaL_error(L, "out of memory"); /* does not return */
    return;
  }
  s->pool = p;
  while (s->pool_n < n) {
    vpp_transfer *t = malloc(sizeof *t);
    if (!t) {
      luaL_error(L, "out of memory");
      return;
    }
    CURL *c = curl_easy_duphandle(s->main.curl);
    if (!c) {
      free(t);
      luaL_error(L, "cannot create a libcurl handle");
      return;
    }
    curl_easy_setopt(c, CURLOPT_SHARE, s->share);        /* a duplicate does not inherit the share */
    vpp_transfer_init(t, c, s->max_body, s->timeout_ms); /* points the callbacks at this slot */
    t->multiplex = s->http2;
    s->pool[s->pool_n++] = t;
  }
}

/* Pushes requests[i][key] (any value; __index is honoured, so the value may exist nowhere else). */
static int req_field(lua_State *L, int reqs, int i, const char *key) {
  lua_geti(L, reqs, i);
  int t = lua_getfield(L, -1, key);
  lua_remove(L, -2);
  return t;
}

/* The plan of request i, as check_all keeps it: { method, url, body or false, header set or false }. */
enum { P_METHOD = 1, P_URL, P_BODY, P_HEADERS };

/* Validates every request before anything is sent and copies what each needs into plan[i]: the strings handed to
   libcurl (it does not copy a POST body) stay referenced by the plan, whatever the requests table does. */
static void check_all(lua_State *L, int reqs, int plan, int n) {
  for (int i = 1; i <= n; i++) {
    if (lua_geti(L, reqs, i) != LUA_TTABLE) luaL_error(L, "request_many: requests[%d] must be a table", i);
    lua_pop(L, 1);
    int top = lua_gettop(L);
    const char *where = lua_pushfstring(L, "request_many: requests[%d]: ", i);
    lua_createtable(L, 4, 0); /* top + 2: the plan entry */
    if (req_field(L, reqs, i, "method") != LUA_TSTRING || req_field(L, reqs, i, "url") != LUA_TSTRING)
      luaL_error(L, "%smethod and url must be strings", where);
    size_t url_len;
    const char *url = lua_tolstring(L, -1, &url_len);
    vpp_url checked; /* read again when the call begins (vpp_transfer_begin): plans keep no more than strings */
    vpp_check_request(L, where, lua_tostring(L, -2), url, url_len, &checked, NULL);
    lua_rawseti(L, top + 2, P_URL);
    lua_rawseti(L, top + 2, P_METHOD);
    int bt = req_field(L, reqs, i, "body");
    if (bt != LUA_TNIL && bt != LUA_TSTRING) luaL_error(L, "%sbody must be a string", where);
    if (bt == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushboolean(L, 0);
    }
    lua_rawseti(L, top + 2, P_BODY);
    req_field(L, reqs, i, "headers");
    if (!vpp_to_headers(L, where, -1)) {
      lua_pop(L, 1);
      lua_pushboolean(L, 0);
    }
    lua_rawseti(L, top + 2, P_HEADERS);
    lua_rawseti(L, plan, i);
    lua_settop(L, top);
  }
}

/* Begins transfer t with the plan entry at index `entry` (see check_all). The strings and the header set stay
   referenced by the plan, which the caller keeps alive until the call ends. */
/* Frees every slot of the pool: its transfer leaves the multi handle. */
static void free_slots(vpp_session *s) {
  for (int k = 0; k < s->pool_n; k++) {
    curl_multi_remove_handle(s->multi, s->pool[k]->curl);
    s->pool[k]->index = 0;
    s->pool[k]->running = 0;
  }
}

static void begin_planned(lua_State *L, vpp_session *s, vpp_transfer *t, int entry) {
  size_t blen = 0;
  int top = lua_gettop(L);
  lua_rawgeti(L, entry, P_METHOD);
  lua_rawgeti(L, entry, P_URL);
  lua_rawgeti(L, entry, P_BODY);
  lua_rawgeti(L, entry, P_HEADERS);
  const char *body = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &blen) : NULL;
  const vpp_headers *hs = lua_touserdata(L, -1); /* NULL for false: the request has none */
  vpp_transfer_begin(t, &s->rng, lua_tostring(L, top + 1), lua_tostring(L, top + 2), NULL, hs, body, blen);
  /* with Ctrl-C caught (core.catch_interrupt), the progress callback ends the call after one */
  curl_easy_setopt(t->curl, CURLOPT_NOPROGRESS, vpp_interrupt_catching() ? 0L : 1L);
  lua_settop(L, top);
}

static void start_attempt(vpp_session *s, vpp_transfer *t) {
  vpp_transfer_attempt(t);
  curl_multi_add_handle(s->multi, t->curl);
  t->running = 1;
}

/* Starts the next attempt of a call that waits for one (a new call, a retry) when its time has come; returns the
   earlier of wake and the time it waits for. */
static double start_due(vpp_session *s, vpp_transfer *t, double now, double wake) {
  if (t->index == 0 || t->running) return wake;
  if (t->next_at <= now) {
    start_attempt(s, t);
    return wake;
  }
  return t->next_at < wake ? t->next_at : wake;
}

/* The next transfer whose call has ended, its result code in *rc; NULL when no more have. One whose attempt ended
   with a retry (or a redirect hop) to come is left to start again at its next_at, and *wake moves to it; a retry
   is told to the hook at stack index `hook` of L first (0: none) with the request's index. */
static vpp_transfer *next_finished(lua_State *L, int hook, vpp_session *s, CURLcode *rc, double *wake) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(s->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    vpp_transfer *t = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    *rc = msg->data.result;
    curl_multi_remove_handle(s->multi, t->curl);
    t->running = 0;
    double delay = vpp_transfer_outcome(t, *rc, &s->retry, &s->rng);
    if (delay < 0) return t;
    if (hook && t->hops == 0) { /* a retry, not a redirect hop */
      vpp_push_retry_event(L, t, &s->retry, delay);
      lua_pushinteger(L, t->index);
      lua_setfield(L, -2, "index");
      vpp_session_hook(L, s, hook);
    }
    t->next_at = vpp_now() + delay;
    if (t->next_at < *wake) *wake = t->next_at;
  }
  return NULL;
}

/* session:request_many(requests [, { concurrency = 8, on_event = fn }]) -> results
   requests: array of { method, url, headers? (a table or a core.headers set), body? }. results[i] is the response
   table that session:request would return, or its transport error table (which has `kind`). What each request
   holds is copied into a plan first: a requests table whose fields come from __index is safe. on_event(event) is
   called before each wait for a retry (the table of vpp_push_retry_event, with index) and as each request ends
   ({ event = "done", index, result }). */
int vpp_l_request_many(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer len = luaL_len(L, 2);
  luaL_argcheck(L, len >= 0 && len <= MAX_REQUESTS, 2, "at most 1000000 requests");
  int n = (int)len;
  lua_Integer conc = 8;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_getfield(L, 3, "concurrency") != LUA_TNIL) {
      int isnum;
      conc = lua_tointegerx(L, -1, &isnum);
      if (!(isnum && conc >= 1 && conc <= VPP_MAX_CONCURRENCY))
        return luaL_argerror(L, 3, lua_pushfstring(L, "concurrency must be a whole number 1..%d", VPP_MAX_CONCURRENCY));
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  int hook = 0; /* index 3: the on_event function, or nil */
  if (lua_istable(L, 3) && lua_getfield(L, 3, "on_event") != LUA_TNIL) {
    luaL_argcheck(L, lua_isfunction(L, -1), 3, "on_event must be a function");
    hook = 3;
  } else if (lua_istable(L, 3)) {
    lua_pop(L, 1);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
  }
  lua_replace(L, 3);
  lua_createtable(L, n, 0); /* index 4: the plan (strings and header sets), alive until the end of the call */
  check_all(L, 2, 4, n);
  if (conc > n) conc = n > 0 ? n : 1;
  ensure_pool(L, s, (int)conc);
  free_slots(s); /* a call cut short by an error may have left handles behind */
  lua_createtable(L, n, 0);
  int results = lua_gettop(L);
  int next = 1, done = 0;
  while (done < n) {
    double now = vpp_now(), wake = now + 1.0;
    for (int k = 0; k < conc; k++) {
      vpp_transfer *t = s->pool[k];
      if (t->index == 0 && next <= n) {
        lua_rawgeti(L, 4, next); /* the plan (index 4) keeps what the call needs */
        begin_planned(L, s, t, lua_gettop(L));
        lua_settop(L, results);
        t->index = next++;
        t->next_at = now;
      }
      wake = start_due(s, t, now, wake);
    }
    int running = 0;
    curl_multi_perform(s->multi, &running);
    int freed = 0;
    vpp_transfer *t;
    CURLcode rc;
    while ((t = next_finished(L, hook, s, &rc, &wake))) {
      vpp_transfer_push_result(L, t, rc);
      if (hook) {
        lua_createtable(L, 0, 3);
        lua_pushliteral(L, "done");
        lua_setfield(L, -2, "event");
        lua_pushinteger(L, t->index);
        lua_setfield(L, -2, "index");
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "result");
        vpp_session_hook(L, s, hook);
      }
      lua_seti(L, results, t->index);
      t->index = 0;
      done++;
      freed = 1;
    }
    if (done >= n) break;
    if (freed && next <= n) continue; /* start the next requests in the freed slots now, not after a poll */
    double wait = wake - vpp_now();
    int ms = wait <= 0 ? 0 : wait > 1.0 ? 1000 : (int)(wait * 1000) + 1;
    if (running > 0)
      curl_multi_poll(s->multi, NULL, 0, ms, NULL);
    else if (ms > 0 && next > n)
      vpp_sleep_seconds(ms / 1000.0);
  }
  return 1;
}
