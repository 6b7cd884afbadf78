/* One HTTP call on one easy handle: request headers, response buffers, the retry decision, the result table. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "vpp.h"

#define MAX_HEADER_BYTES ((size_t)256 * 1024)
/* A response buffer larger than this is freed after its call; up to it, it is kept for the next (a page of a list,
   up to about 1 MiB for 999 tokens, so a walk grows it once, not page after page). */
#define KEEP_BUFFER_BYTES ((size_t)1024 * 1024)

double vpp_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vpp_sleep_seconds(double d) {
  if (!(d > 0)) return;
  struct timespec ts;
  ts.tv_sec = (time_t)d;
  ts.tv_nsec = (long)((d - floor(d)) * 1e9);
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    if (vpp_interrupt_pending()) break; /* Ctrl-C, caught: the wait ends */
  }
}

/* ---- libcurl callbacks ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  vpp_transfer *t = ud;
  size_t len = size * n;
  if (vpp_buf_append(&t->body, p, len) != 0) {
    t->too_large = 1;
    return 0;
  }
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  vpp_transfer *t = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (after 100, 3xx) */
    vpp_buf_reset(&t->headers);
    t->awaiting_answer = 0;
  }
  if (vpp_buf_append(&t->headers, p, len) != 0) {
    t->headers_too_large = 1;
    return 0;
  }
  return len;
}

/* Called before each request goes out on a connection (new or reused), redirects included. A second send with no
   answer to the first in between is libcurl's silent re-send after a reused connection died: for a request that
   must not be repeated, that could be a second token or a second sync, so it is stopped here and the call ends with
   an unknown outcome. (CURLOPT_FORBID_RETRY_ON_REUSE does the same from libcurl 8.16.) */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port) {
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  vpp_transfer *t = ud;
  if (t->guard_resend && t->awaiting_answer) {
    t->resend_refused = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  t->awaiting_answer = 1;
  return CURL_PREREQFUNC_OK;
}

/* Calls the hook (index 1) with { event = "tick", method, url, elapsed [, waiting] } for the transfer (index 2);
   waiting (index 3, when a number): the seconds left of a wait before a retry. Run under lua_pcall, so that nothing
   raised, out of memory included, crosses libcurl. */
static int tick_call(lua_State *L) {
  const vpp_transfer *t = lua_touserdata(L, 2);
  int waiting = lua_type(L, 3) == LUA_TNUMBER;
  lua_Number left = waiting ? lua_tonumber(L, 3) : 0;
  lua_settop(L, 1);
  lua_createtable(L, 0, 5);
  if (waiting) {
    lua_pushnumber(L, left);
    lua_setfield(L, -2, "waiting");
  }
  lua_pushliteral(L, "tick");
  lua_setfield(L, -2, "event");
  lua_pushstring(L, t->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, t->url);
  lua_setfield(L, -2, "url");
  lua_pushnumber(L, vpp_now() - t->start);
  lua_setfield(L, -2, "elapsed");
  lua_call(L, 1, 0);
  return 0;
}

/* libcurl's progress callback: ends the transfer after a caught SIGINT; else at most once a second, the hook of the
   call under way (which never stops it). */
static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  vpp_transfer *t = data;
  if (vpp_interrupt_pending()) {
    t->interrupted = 1;
    return 1;
  }
  lua_State *L = t->hook_L;
  if (!L || *t->hook_busy) return 0;
  double now = vpp_now();
  if (now - t->last_tick < 1.0) return 0;
  t->last_tick = now;
  if (!lua_checkstack(L, 4)) return 0;
  lua_pushcfunction(L, tick_call);
  lua_pushvalue(L, t->hook);
  lua_pushlightuserdata(L, t);
  *t->hook_busy = 1;
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
  *t->hook_busy = 0;
  return 0;
}

/* Waits `delay` seconds before a retry, in steps of at most a second; after each step with time left, the hook (if
   any, and not already running) hears { event = "tick", ..., waiting = seconds left }, so a status line can count
   the wait down. Ends early on a caught Ctrl-C. */
void vpp_transfer_wait(vpp_transfer *t, double delay) {
  double until = vpp_now() + delay;
  for (;;) {
    double left = until - vpp_now();
    if (left <= 0 || vpp_interrupt_pending()) return;
    vpp_sleep_seconds(left > 1.0 ? 1.0 : left);
    left = until - vpp_now();
    lua_State *L = t->hook_L;
    if (left <= 0 || !L || *t->hook_busy || vpp_interrupt_pending() || !lua_checkstack(L, 5)) continue;
    lua_pushcfunction(L, tick_call);
    lua_pushvalue(L, t->hook);
    lua_pushlightuserdata(L, t);
    lua_pushnumber(L, left);
    *t->hook_busy = 1;
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) lua_pop(L, 1);
    *t->hook_busy = 0;
  }
}

void vpp_transfer_set_hook(vpp_transfer *t, lua_State *L, int hook, int *busy) {
  t->hook_L = hook ? L : NULL;
  t->hook = hook;
  t->hook_busy = busy;
  t->last_tick = vpp_now();
  curl_easy_setopt(t->curl, CURLOPT_NOPROGRESS, hook || vpp_interrupt_catching() ? 0L : 1L);
}

void vpp_transfer_init(vpp_transfer *t, CURL *curl, size_t max_body, long timeout_ms) {
  memset(t, 0, sizeof *t);
  t->curl = curl;
  t->timeout_ms = timeout_ms;
  t->set_timeout_ms = -1;
  t->body.limit = max_body;
  t->headers.limit = MAX_HEADER_BYTES;
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(curl, CURLOPT_PREREQDATA, t);
  curl_easy_setopt(curl, CURLOPT_PRIVATE, t);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 1L);
  t->cu = curl_url(); /* NULL (out of memory): libcurl parses the URL itself */
  t->set_https = t->set_plain_get = -1;
}

void vpp_transfer_free(vpp_transfer *t) {
  if (t->curl) curl_easy_cleanup(t->curl);
  t->curl = NULL;
  curl_url_cleanup(t->cu); /* after the handle that may point at it */
  t->cu = NULL;
  vpp_buf_free(&t->body);
  vpp_buf_free(&t->headers);
}

static void check_request(lua_State *L, const char *where, const char *method, const char *url, size_t url_len,
                          int imds, vpp_url *u, CURLU *into) {
  if (strlen(url) != url_len) luaL_error(L, "%sURL contains a NUL byte", where);
  if (!*method) luaL_error(L, "%smethod must not be empty", where);
  for (const char *m = method; *m; m++)
    if (*m < 'A' || *m > 'Z') luaL_error(L, "%smethod must be an upper-case HTTP method", where);
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) luaL_error(L, "%sURL contains a space or control character", where);
  char why[160];
  if (vpp_url_check_into(url, imds, into, u, why, sizeof why) != 0) luaL_error(L, "%sURL refused: %s", where, why);
}

void vpp_check_request(lua_State *L, const char *where, const char *method, const char *url, size_t url_len,
                       vpp_url *out, CURLU *into) {
  check_request(L, where, method, url, url_len, 0, out, into);
}

void vpp_check_request_imds(lua_State *L, const char *where, const char *method, const char *url, size_t url_len,
                            vpp_url *out, CURLU *into) {
  if (strcmp(method, "GET") != 0) luaL_error(L, "%sthe imds mode is for a GET", where);
  check_request(L, where, method, url, url_len, 1, out, into);
}

/* Points the handle at url: as the check parsed it into t->cu (parsed), else as text for libcurl to parse. */
static void set_url(vpp_transfer *t, const char *url, int parsed) {
  curl_easy_setopt(t->curl, CURLOPT_URL, url); /* libcurl copies it; the handle, when set, comes first */
  if (parsed || t->cu_set) curl_easy_setopt(t->curl, CURLOPT_CURLU, parsed ? t->cu : NULL);
  t->cu_set = parsed;
}

/* Options that follow the URL's scheme. Plain http goes only to loopback (url.c), so never through a proxy: a proxy
   (given, or from http_proxy) is another host, which would see the request, Authorization included, in clear text.
   Concurrent calls over HTTPS wait for the first connection to say (ALPN) whether it multiplexes: with HTTP/2 they
   all share it, instead of a TLS handshake each; over plain HTTP (1.1) waiting would only serialise. */
static void set_scheme(vpp_transfer *t, int https) {
  if (https == t->set_https) return;
  curl_easy_setopt(t->curl, CURLOPT_NOPROXY, https ? NULL : "*");
  curl_easy_setopt(t->curl, CURLOPT_PIPEWAIT, (long)(https && t->multiplex));
  t->set_https = https;
}

void vpp_transfer_begin(vpp_transfer *t, vpp_rng *rng, const char *method, const char *url, const vpp_url *checked,
                        const vpp_headers *hs, const char *body, size_t blen) {
  CURL *c = t->curl;
  t->method = method;
  t->url = url;
  t->hs = hs;
  const char *crid = hs ? hs->crid : NULL;
  t->own_crid = crid == NULL;
  if (crid)
    snprintf(t->crid, sizeof t->crid, "%s", crid);
  else
    vpp_uuid4(rng, t->crid);
  t->attempt = 0;
  t->waited = 0;
  t->connects = 0;
  t->retry_after = -1;
  t->start = vpp_now();
  t->fail_code = NULL;
  t->interrupted = 0;
  t->hops = t->crossed = t->hop_pending = 0;
  /* The caller checked the URL (vpp_check_request); the origin is what later hops are compared with. */
  vpp_url u;
  if (checked) {
    u = *checked;
  } else {
    char why[160];
    int refused = t->imds ? vpp_url_check_imds(url, &u, why, sizeof why) : vpp_url_check(url, &u, why, sizeof why);
    if (refused != 0) u.origin[0] = '\0';
  }
  t->cu_url = u.cu != NULL && u.cu == t->cu;
  set_url(t, url, t->cu_url);
  memcpy(t->origin, u.origin, sizeof t->origin);
  t->https = u.https;
  t->loopback = u.origin[0] != '\0' && u.loopback; /* a refused URL has no origin */
  set_scheme(t, u.https);
  t->guard_resend = !vpp_method_idempotent(method);
  int plain_get = strcmp(method, "GET") == 0 && !body;
  if (!(plain_get && t->set_plain_get == 1)) { /* the handle is not already set for a plain GET */
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);  /* resets POST/NOBODY state left by the previous call */
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
  }
  t->set_plain_get = plain_get;
  t->has_body = 0;
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (body || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    t->has_body = 1;
    if (strcmp(method, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
}

/* Puts node in front of list (a node of the transfer's own, pointing at its own line). */
static struct curl_slist *push_own(struct curl_slist *node, char *line, struct curl_slist *list) {
  node->data = line;
  node->next = list;
  return node;
}

void vpp_transfer_attempt(vpp_transfer *t) {
  /* A redirect hop is part of the attempt that met it, and of its timeout: the hop gets what is left of it. */
  long timeout_ms = t->timeout_ms;
  if (t->hop_pending) {
    timeout_ms -= (long)((vpp_now() - t->attempt_start) * 1000);
    if (timeout_ms < 1) timeout_ms = 1; /* 0 would mean no timeout */
  } else {
    t->attempt++;
    t->attempt_start = vpp_now();
  }
  if (timeout_ms != t->set_timeout_ms) curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  t->set_timeout_ms = timeout_ms;
  t->hop_pending = 0;
  struct curl_slist *list = t->hs && !t->crossed ? t->hs->list : NULL;
  if (t->has_body) {
    memcpy(t->expect_line, "Expect:", sizeof "Expect:"); /* no 100-continue round trip */
    list = push_own(&t->own[2], t->expect_line, list);
  }
  if (t->attempt > 1) {
    snprintf(t->attempt_line, sizeof t->attempt_line, "Retry-Attempt: %d", t->attempt - 1);
    list = push_own(&t->own[1], t->attempt_line, list);
  }
  if (t->own_crid) {
    static const char name[] = "client-request-id: ";
    size_t n = strlen(t->crid); /* the id is ours (36 characters): it fits */
    memcpy(t->crid_line, name, sizeof name - 1);
    memcpy(t->crid_line + sizeof name - 1, t->crid, n + 1);
    list = push_own(&t->own[0], t->crid_line, list);
  }
  curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, list);
  vpp_buf_reset(&t->body);
  vpp_buf_reset(&t->headers);
  t->too_large = t->headers_too_large = 0;
  t->awaiting_answer = 0;
  t->resend_refused = 0;
  t->errbuf[0] = '\0';
}

/* The libcurl codes the library names, once: code, the error kind users see, and whether trying again may pass
   (a transport failure is retried only when also the request was not sent or cannot duplicate work). Any other code
   is CURL_ERROR, kind network, not retried. */
#define VPP_CURL_CODES(X)                \
  X(COULDNT_RESOLVE_PROXY, "network", 0) \
  X(COULDNT_RESOLVE_HOST, "network", 1)  \
  X(COULDNT_CONNECT, "network", 1)       \
  X(OPERATION_TIMEDOUT, "timeout", 1)    \
  X(SEND_ERROR, "network", 1)            \
  X(RECV_ERROR, "network", 1)            \
  X(GOT_NOTHING, "network", 1)           \
  X(PARTIAL_FILE, "network", 1)          \
  X(HTTP2, "network", 1)                 \
  X(HTTP2_STREAM, "network", 1)          \
  X(SSL_CONNECT_ERROR, "tls", 1)         \
  X(PEER_FAILED_VERIFICATION, "tls", 0)  \
  X(SSL_CACERT_BADFILE, "tls", 0)        \
  X(SSL_CERTPROBLEM, "tls", 0)           \
  X(SSL_CIPHER, "tls", 0)                \
  X(SSL_ENGINE_NOTFOUND, "tls", 0)       \
  X(WRITE_ERROR, "network", 0)           \
  X(URL_MALFORMAT, "network", 0)         \
  X(UNSUPPORTED_PROTOCOL, "network", 0)  \
  X(BAD_CONTENT_ENCODING, "protocol", 0) \
  X(TOO_MANY_REDIRECTS, "protocol", 0)   \
  X(WEIRD_SERVER_REPLY, "protocol", 0)

static const struct curl_code {
  const char *name, *kind;
  CURLcode rc;
  int transient;
} curl_codes[] = {
#define X(code, kind, transient) {#code, kind, CURLE_##code, transient},
    VPP_CURL_CODES(X)
#undef X
};

static const struct curl_code *curl_code_of(CURLcode rc) {
  for (size_t i = 0; i < sizeof curl_codes / sizeof curl_codes[0]; i++)
    if (curl_codes[i].rc == rc) return &curl_codes[i];
  return NULL;
}

static int transient(CURLcode rc) {
  const struct curl_code *c = curl_code_of(rc);
  return c && c->transient;
}

static const char *curl_code_name(CURLcode rc) {
  const struct curl_code *c = curl_code_of(rc);
  return c ? c->name : "CURL_ERROR";
}

static const char *curl_code_kind(CURLcode rc, int too_large) {
  const struct curl_code *c = curl_code_of(rc);
  return too_large ? "protocol" : c ? c->kind : "network";
}

/* Ends the call with a failure decided here. */
static double fail(vpp_transfer *t, const char *kind, const char *code) {
  t->fail_kind = kind;
  t->fail_code = code;
  return -1;
}

/* A 3xx answer with a Location: the delay (0) before following it, or -1 when the call ends (refused or too many
   hops; the reason is in fail_msg). */
static double redirect(vpp_transfer *t, long status, const char *target) {
  vpp_url u;
  char why[160];
  int allowed = vpp_url_check(target, &u, why, sizeof why) == 0;
  const char *host = u.host[0] ? u.host : "an unreadable Location";
  int get = strcmp(t->method, "GET") == 0 || strcmp(t->method, "HEAD") == 0;
  if (!get) {
    snprintf(t->fail_msg, sizeof t->fail_msg,
             "the server answered %ld, a redirect to %s; a %s request is never sent "
             "to a redirect target, so it was not sent again (Graph does not redirect writes)",
             status, host, t->method);
    return fail(t, "protocol", "REDIRECT_REFUSED");
  }
  if (t->hops >= VPP_MAX_REDIRECTS) {
    snprintf(t->fail_msg, sizeof t->fail_msg, "more than %d redirects (the last to %s)", VPP_MAX_REDIRECTS, host);
    return fail(t, "protocol", "TOO_MANY_REDIRECTS");
  }
  if (allowed && t->https && !u.https) allowed = 0, snprintf(why, sizeof why, "https never goes down to plain http");
  if (!allowed) {
    snprintf(t->fail_msg, sizeof t->fail_msg, "the server answered %ld, a redirect to %s, which was not followed: %s",
             status, host, why);
    return fail(t, "protocol", "REDIRECT_REFUSED");
  }
  if (strcmp(u.origin, t->origin) != 0) t->crossed = 1;
  set_url(t, target, 0); /* t->cu keeps the caller's URL, for the next attempt */
  set_scheme(t, u.https);
  t->hops++;
  t->hop_pending = 1;
  return 0;
}

double vpp_transfer_outcome(vpp_transfer *t, CURLcode rc, const vpp_retry_policy *p, vpp_rng *rng) {
  long nc = 0;
  curl_easy_getinfo(t->curl, CURLINFO_NUM_CONNECTS, &nc);
  t->connects += nc;
  double retry_after = -1;
  if (rc != CURLE_OK) {
    long sent = 0;
    curl_easy_getinfo(t->curl, CURLINFO_REQUEST_SIZE, &sent);
    int repeatable =
        transient(rc) && !t->too_large && !t->headers_too_large && (sent == 0 || vpp_method_idempotent(t->method));
    if (!repeatable) return -1;
    t->retry_status = 0;
    t->retry_rc = rc;
  } else {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    char *target = NULL;
    int redirect_status = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (redirect_status && curl_easy_getinfo(t->curl, CURLINFO_REDIRECT_URL, &target) == CURLE_OK && target)
      return redirect(t, status, target);
    char ra[128];
    t->retry_after = -1;
    if (vpp_find_header(&t->headers, "retry-after", ra, sizeof ra))
      t->retry_after = vpp_retry_after_parse(ra, time(NULL));
    if (!vpp_status_retryable(status, t->method)) return -1;
    retry_after = t->retry_after;
    t->retry_status = status;
  }
  double delay = vpp_retry_wait(p, t->attempt, retry_after, t->waited, rng);
  if (delay < 0) return -1;
  if (rc == CURLE_COULDNT_CONNECT && t->loopback) {
    if (t->waited >= VPP_LOOPBACK_REFUSED_WAIT) return -1;
    if (delay > VPP_LOOPBACK_REFUSED_DELAY) delay = VPP_LOOPBACK_REFUSED_DELAY;
  }
  t->waited += delay;
  if (t->hops > 0) { /* the next attempt starts again at the URL the caller gave */
    set_url(t, t->url, t->cu_url);
    set_scheme(t, t->https);
    t->hops = t->crossed = 0;
  }
  return delay;
}

int vpp_transfer_failed(const vpp_transfer *t, CURLcode rc) { return rc != CURLE_OK || t->fail_code != NULL; }

static void set_field_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_field_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_field_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void push_table(lua_State *L, vpp_transfer *t, CURLcode rc);

void vpp_push_retry_event(lua_State *L, const vpp_transfer *t, const vpp_retry_policy *p, double delay) {
  lua_createtable(L, 0, 8);
  set_field_str(L, "event", "retry");
  set_field_str(L, "method", t->method);
  set_field_str(L, "url", t->url);
  set_field_int(L, "attempt", t->attempt + 1);
  set_field_int(L, "max_attempts", p->max_retries + 1);
  set_field_num(L, "delay", delay);
  if (t->retry_status) {
    set_field_int(L, "status", t->retry_status);
  } else {
    set_field_str(L, "kind", curl_code_kind(t->retry_rc, 0));
    set_field_str(L, "code", curl_code_name(t->retry_rc));
  }
}

/* The fields every failure table has: which call, how many attempts, how long. */
static void set_call_fields(lua_State *L, const vpp_transfer *t) {
  set_field_int(L, "attempts", t->attempt);
  set_field_num(L, "elapsed", vpp_now() - t->start);
  set_field_str(L, "client_request_id", t->crid);
  set_field_str(L, "method", t->method);
  set_field_str(L, "url", t->url);
}

void vpp_transfer_push_result(lua_State *L, vpp_transfer *t, CURLcode rc) {
  curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, NULL); /* the caller's set may be collected after the call */
  t->hs = NULL;
  /* Nor does the handle keep pointing at t->cu between calls: curl_easy_duphandle (a pool's handles are copies of
     the session's) copies that pointer, and a copy would fetch the session's last URL instead of its own. */
  if (t->cu_set) curl_easy_setopt(t->curl, CURLOPT_CURLU, NULL);
  t->cu_set = 0;
  push_table(L, t, rc);
  /* A buffer that grew for one large answer is not kept for the life of the session (one per request_many slot). */
  if (t->body.cap > KEEP_BUFFER_BYTES) vpp_buf_free(&t->body);
  if (t->headers.cap > KEEP_BUFFER_BYTES) vpp_buf_free(&t->headers);
}

static void push_table(lua_State *L, vpp_transfer *t, CURLcode rc) {
  if (t->fail_code) {
    lua_createtable(L, 0, 10);
    set_field_str(L, "kind", t->fail_kind);
    set_field_str(L, "code", t->fail_code);
    set_field_str(L, "message", t->fail_msg);
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    set_field_int(L, "status", status);
    set_call_fields(L, t);
    return;
  }
  if (rc != CURLE_OK && t->interrupted) {
    long sent = 0;
    curl_easy_getinfo(t->curl, CURLINFO_REQUEST_SIZE, &sent);
    lua_createtable(L, 0, 10);
    set_field_str(L, "kind", "cancelled");
    set_field_str(L, "code", "Interrupted");
    set_field_str(L, "message", "interrupted (SIGINT): the call was ended");
    set_call_fields(L, t);
    /* 2: between attempts, after an answer that said the work was not done (429, 503) */
    lua_pushboolean(L, t->interrupted == 1 && sent > 0 && !vpp_method_idempotent(t->method));
    lua_setfield(L, -2, "outcome_unknown");
    return;
  }
  if (rc != CURLE_OK) {
    long sent = 0;
    curl_easy_getinfo(t->curl, CURLINFO_REQUEST_SIZE, &sent);
    lua_createtable(L, 0, 10);
    /* libcurl refuses a header line over its own limit (CURL_MAX_HTTP_HEADER, 100 KiB) as out of memory. */
    int big_headers = t->headers_too_large || (rc == CURLE_OUT_OF_MEMORY && t->body.len == 0);
    set_field_str(L, "kind", curl_code_kind(rc, t->too_large || big_headers));
    const char *code = t->too_large        ? "RESPONSE_TOO_LARGE"
                       : big_headers       ? "HEADERS_TOO_LARGE"
                       : t->resend_refused ? "GOT_NOTHING"
                                           : curl_code_name(rc);
    set_field_str(L, "code", code);
    if (t->too_large)
      lua_pushfstring(L, "response body larger than max_response_size (%s bytes)", VPP_INT(t->body.limit));
    else if (t->headers_too_large)
      lua_pushfstring(L, "the response headers are larger than %d KiB", (int)(MAX_HEADER_BYTES / 1024));
    else if (big_headers)
      lua_pushliteral(L, "the response headers are larger than libcurl accepts (a header line over 100 KiB), or "
                         "memory ran out");
    else if (t->resend_refused)
      lua_pushliteral(L, "the connection closed without an answer after the request was sent; it was not sent again "
                         "(it may have been carried out)");
    else if (rc == CURLE_SSL_CACERT_BADFILE) /* a slim container without a CA bundle meets this first */
      lua_pushfstring(L,
                      "%s: no CA certificates to verify the server with; install the system's CA bundle (Debian: "
                      "ca-certificates) or give cafile",
                      t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    else
      lua_pushstring(L, t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    lua_setfield(L, -2, "message");
    set_field_int(L, "curl_code", rc);
    set_call_fields(L, t);
    lua_pushboolean(L, t->resend_refused || (sent > 0 && !vpp_method_idempotent(t->method)));
    lua_setfield(L, -2, "outcome_unknown");
    return;
  }
  long status = 0, httpv = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->curl, CURLINFO_HTTP_VERSION, &httpv);
  lua_createtable(L, 0, 10);
  set_field_int(L, "status", status);
  vpp_push_response_headers(L, &t->headers);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
  lua_setfield(L, -2, "body");
  set_field_int(L, "attempts", t->attempt);
  set_field_num(L, "waited", t->waited);
  set_field_num(L, "elapsed", vpp_now() - t->start);
  if (t->retry_after >= 0) set_field_num(L, "retry_after", t->retry_after);
  set_field_str(L, "client_request_id", t->crid);
  set_field_str(L, "http_version",
                httpv == CURL_HTTP_VERSION_2_0   ? "2"
                : httpv == CURL_HTTP_VERSION_1_0 ? "1.0"
                                                 : "1.1");
  set_field_int(L, "connects", t->connects);
}
