/* vpptoken.Session: one libcurl easy handle (kept-alive connections) and the retry policy around it. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "vpp.h"

#define MAX_HEADER_BYTES ((size_t)256 * 1024)

typedef struct {
  CURL *curl;                      /* NULL once closed */
  struct curl_slist *req_headers;  /* the current attempt's request headers */
  vpp_buf body, headers;           /* the current attempt's response, reused across calls */
  int too_large;                   /* the body passed its limit */
  vpp_retry_policy retry;
  vpp_rng rng;
  char errbuf[CURL_ERROR_SIZE];
} vpp_session;

/* ---- libcurl callbacks ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  vpp_session *s = ud;
  size_t len = size * n;
  if (vpp_buf_append(&s->body, p, len) != 0) {
    s->too_large = 1;
    return 0;
  }
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  vpp_session *s = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) vpp_buf_reset(&s->headers); /* a new response (after 100, 3xx) */
  return vpp_buf_append(&s->headers, p, len) == 0 ? len : 0;
}

/* ---- helpers ---- */

static vpp_session *check_open(lua_State *L) {
  vpp_session *s = luaL_checkudata(L, 1, VPP_SESSION_TYPE);
  if (!s->curl) luaL_error(L, "attempt to use a closed %s", VPP_SESSION_TYPE);
  return s;
}

static void session_release(vpp_session *s) {
  if (s->curl) curl_easy_cleanup(s->curl);
  s->curl = NULL;
  curl_slist_free_all(s->req_headers);
  s->req_headers = NULL;
  vpp_buf_free(&s->body);
  vpp_buf_free(&s->headers);
}

static double now_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double d) {
  if (!(d > 0)) return;
  struct timespec ts;
  ts.tv_sec = (time_t)d;
  ts.tv_nsec = (long)((d - floor(d)) * 1e9);
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/* Looks up a response header (case-insensitive) in the raw header block; copies its value into out. */
static int find_header(const vpp_buf *h, const char *name, char *out, size_t outsz) {
  size_t nlen = strlen(name), i = 0;
  while (i < h->len) {
    const char *line = h->data + i;
    const char *eol = memchr(line, '\n', h->len - i);
    size_t llen = eol ? (size_t)(eol - line) : h->len - i;
    i += llen + 1;
    if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1;
      const char *end = line + llen;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
      size_t vlen = (size_t)(end - v);
      if (vlen >= outsz) vlen = outsz - 1;
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return 1;
    }
  }
  return 0;
}

/* Pushes the response headers as { lowercased-name = value } (repeated headers joined with ", "). */
static void push_headers(lua_State *L, const vpp_buf *h) {
  lua_newtable(L);
  size_t i = 0;
  while (i < h->len) {
    const char *line = h->data + i;
    const char *eol = memchr(line, '\n', h->len - i);
    size_t llen = eol ? (size_t)(eol - line) : h->len - i;
    i += llen + 1;
    const char *colon = memchr(line, ':', llen);
    if (!colon || colon == line || memcmp(line, "HTTP/", 5) == 0) continue;
    char name[128];
    size_t nlen = (size_t)(colon - line);
    if (nlen >= sizeof name) continue;
    for (size_t k = 0; k < nlen; k++) {
      char c = line[k];
      if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      name[k] = c;
    }
    const char *v = colon + 1, *end = line + llen;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) { /* repeated: join */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, v, (size_t)(end - v));
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, v, (size_t)(end - v));
    }
    lua_rawset(L, -3);
  }
}

static int valid_token_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

/* Checks the request's arguments; raises on misuse (nothing allocated yet). Returns the caller's
   client-request-id or NULL. */
static const char *check_request_args(lua_State *L, const char *method, int hidx) {
  for (const char *m = method; *m; m++)
    luaL_argcheck(L, *m >= 'A' && *m <= 'Z', 2, "method must be an upper-case HTTP method");
  luaL_argcheck(L, *method, 2, "method must not be empty");
  size_t ulen;
  const char *url = luaL_checklstring(L, 3, &ulen);
  luaL_argcheck(L, strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0, 3,
                "URL must start with http:// or https://");
  for (size_t i = 0; i < ulen; i++)
    luaL_argcheck(L, (unsigned char)url[i] > 0x20 && url[i] != 0x7f, 3, "URL contains a space or control character");
  const char *crid = NULL;
  if (lua_isnoneornil(L, hidx)) return NULL;
  luaL_checktype(L, hidx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, hidx)) {
    luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING, hidx,
                  "headers must map string names to string values");
    size_t nl, vl;
    const char *n = lua_tolstring(L, -2, &nl);
    const char *v = lua_tolstring(L, -1, &vl);
    luaL_argcheck(L, nl > 0 && nl < 128, hidx, "header name must be 1..127 characters");
    for (size_t i = 0; i < nl; i++)
      if (!valid_token_char((unsigned char)n[i])) luaL_argerror(L, hidx, lua_pushfstring(L, "invalid header name '%s'", n));
    for (size_t i = 0; i < vl; i++)
      if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
        luaL_argerror(L, hidx, lua_pushfstring(L, "header '%s' contains CR, LF or NUL", n));
    if (strcasecmp(n, "client-request-id") == 0) crid = v; /* the string stays referenced by the table */
    lua_pop(L, 1);
  }
  return crid;
}

static int add_header(lua_State *L, vpp_session *s, const char *line) {
  struct curl_slist *n = curl_slist_append(s->req_headers, line);
  if (!n) return luaL_error(L, "out of memory");
  s->req_headers = n;
  return 0;
}

/* Rebuilds the request header list (owned by the session) for one attempt. */
static void build_headers(lua_State *L, vpp_session *s, int hidx, const char *crid, int attempt, int own_crid) {
  curl_slist_free_all(s->req_headers);
  s->req_headers = NULL;
  if (!lua_isnoneornil(L, hidx)) {
    lua_pushnil(L);
    while (lua_next(L, hidx)) {
      const char *line = lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
      add_header(L, s, line);
      lua_pop(L, 2);
    }
  }
  char line[96];
  if (own_crid) {
    snprintf(line, sizeof line, "client-request-id: %s", crid);
    add_header(L, s, line);
  }
  if (attempt > 1) {
    snprintf(line, sizeof line, "Retry-Attempt: %d", attempt - 1);
    add_header(L, s, line);
  }
  add_header(L, s, "Expect:"); /* no 100-continue round trip */
}

/* Transport failures that may pass if the request is tried again. */
static int transient(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_SSL_CONNECT_ERROR:
      return 1;
    default:
      return 0;
  }
}

static const char *curl_code_name(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY: return "COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_RESOLVE_HOST: return "COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_CONNECT: return "COULDNT_CONNECT";
    case CURLE_OPERATION_TIMEDOUT: return "OPERATION_TIMEDOUT";
    case CURLE_SEND_ERROR: return "SEND_ERROR";
    case CURLE_RECV_ERROR: return "RECV_ERROR";
    case CURLE_GOT_NOTHING: return "GOT_NOTHING";
    case CURLE_PARTIAL_FILE: return "PARTIAL_FILE";
    case CURLE_HTTP2: return "HTTP2";
    case CURLE_HTTP2_STREAM: return "HTTP2_STREAM";
    case CURLE_SSL_CONNECT_ERROR: return "SSL_CONNECT_ERROR";
    case CURLE_PEER_FAILED_VERIFICATION: return "PEER_FAILED_VERIFICATION";
    case CURLE_SSL_CACERT_BADFILE: return "SSL_CACERT_BADFILE";
    case CURLE_SSL_CERTPROBLEM: return "SSL_CERTPROBLEM";
    case CURLE_WRITE_ERROR: return "WRITE_ERROR";
    case CURLE_URL_MALFORMAT: return "URL_MALFORMAT";
    case CURLE_UNSUPPORTED_PROTOCOL: return "UNSUPPORTED_PROTOCOL";
    case CURLE_BAD_CONTENT_ENCODING: return "BAD_CONTENT_ENCODING";
    case CURLE_TOO_MANY_REDIRECTS: return "TOO_MANY_REDIRECTS";
    default: return "CURL_ERROR";
  }
}

static const char *curl_code_kind(CURLcode rc, int too_large) {
  if (too_large) return "protocol";
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER: case CURLE_SSL_ENGINE_NOTFOUND:
      return "tls";
    case CURLE_BAD_CONTENT_ENCODING: return "protocol";
    default: return "network";
  }
}

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

/* session:request(method, url [, headers [, body]])
   -> { status, headers, body, attempts, waited, elapsed, client_request_id, http_version, connects }
   | nil, { kind, code, message, attempts, client_request_id, method, url, outcome_unknown }
   Retries 429/503 (and 504 for idempotent methods) honouring Retry-After, and transport failures that
   cannot duplicate work, within the session's retry policy. */
static int l_request(lua_State *L) {
  vpp_session *s = check_open(L);
  const char *method = luaL_checkstring(L, 2);
  const char *crid_in = check_request_args(L, method, 4);
  const char *url = lua_tostring(L, 3);
  size_t blen = 0;
  const char *body = lua_isnoneornil(L, 5) ? NULL : luaL_checklstring(L, 5, &blen);
  char crid_buf[37];
  const char *crid = crid_in;
  if (!crid) {
    vpp_uuid4(&s->rng, crid_buf);
    crid = crid_buf;
  }

  CURL *c = s->curl;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, strncmp(url, "https:", 6) == 0 ? "https" : "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L); /* resets POST/NOBODY state left by the previous call */
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (body || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    if (strcmp(method, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }

  double start = now_monotonic(), waited = 0;
  long connects = 0;
  int attempt = 0;
  for (;;) {
    attempt++;
    build_headers(L, s, 4, crid, attempt, crid_in == NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->req_headers);
    vpp_buf_reset(&s->body);
    vpp_buf_reset(&s->headers);
    s->too_large = 0;
    s->errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    long nc = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
    connects += nc;
    if (rc != CURLE_OK) {
      long sent = 0;
      curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
      int repeatable = transient(rc) && !s->too_large && (sent == 0 || vpp_method_idempotent(method));
      if (repeatable && attempt <= s->retry.max_retries) {
        double delay = vpp_backoff_delay(&s->retry, attempt, vpp_rng_unit(&s->rng));
        if (waited + delay <= s->retry.max_total_delay) {
          sleep_seconds(delay);
          waited += delay;
          continue;
        }
      }
      lua_pushnil(L);
      lua_createtable(L, 0, 10);
      set_field_str(L, "kind", curl_code_kind(rc, s->too_large));
      set_field_str(L, "code", s->too_large ? "RESPONSE_TOO_LARGE" : curl_code_name(rc));
      if (s->too_large)
        lua_pushfstring(L, "response body larger than max_response_size (%d bytes)", (int)s->body.limit);
      else
        lua_pushstring(L, s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
      lua_setfield(L, -2, "message");
      set_field_int(L, "curl_code", rc);
      set_field_int(L, "attempts", attempt);
      set_field_num(L, "elapsed", now_monotonic() - start);
      set_field_str(L, "client_request_id", crid);
      set_field_str(L, "method", method);
      set_field_str(L, "url", url);
      lua_pushboolean(L, sent > 0 && !vpp_method_idempotent(method));
      lua_setfield(L, -2, "outcome_unknown");
      return 2;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    double retry_after = -1;
    char ra[128];
    if (find_header(&s->headers, "retry-after", ra, sizeof ra)) retry_after = vpp_retry_after_parse(ra, time(NULL));
    if (vpp_status_retryable(status, method) && attempt <= s->retry.max_retries) {
      double delay = retry_after >= 0 ? retry_after : vpp_backoff_delay(&s->retry, attempt, vpp_rng_unit(&s->rng));
      if (waited + delay <= s->retry.max_total_delay) {
        sleep_seconds(delay);
        waited += delay;
        continue;
      }
    }
    long httpv = 0;
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &httpv);
    lua_createtable(L, 0, 10);
    set_field_int(L, "status", status);
    push_headers(L, &s->headers);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, s->body.data ? s->body.data : "", s->body.len);
    lua_setfield(L, -2, "body");
    set_field_int(L, "attempts", attempt);
    set_field_num(L, "waited", waited);
    set_field_num(L, "elapsed", now_monotonic() - start);
    if (retry_after >= 0) set_field_num(L, "retry_after", retry_after);
    set_field_str(L, "client_request_id", crid);
    set_field_str(L, "http_version", httpv == CURL_HTTP_VERSION_2_0 ? "2" : httpv == CURL_HTTP_VERSION_1_0 ? "1.0" : "1.1");
    set_field_int(L, "connects", connects);
    return 1;
  }
}

static int l_close(lua_State *L) {
  vpp_session *s = luaL_checkudata(L, 1, VPP_SESSION_TYPE);
  session_release(s);
  return 0;
}

static int l_tostring(lua_State *L) {
  vpp_session *s = luaL_checkudata(L, 1, VPP_SESSION_TYPE);
  if (s->curl)
    lua_pushfstring(L, "%s (%p)", VPP_SESSION_TYPE, (void *)s);
  else
    lua_pushfstring(L, "%s (closed)", VPP_SESSION_TYPE);
  return 1;
}

/* ---- construction ---- */

static double opt_seconds(lua_State *L, const char *key, double def, double max) {
  double v = def;
  if (lua_getfield(L, 1, key) != LUA_TNIL) {
    int isnum;
    v = (double)lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(v >= 0) || v > max)
      luaL_error(L, "bad option '%s' (a number of seconds from 0 to %f expected)", key, max);
  }
  lua_pop(L, 1);
  return v;
}

static const char *opt_string(lua_State *L, const char *key) {
  const char *v = NULL;
  int t = lua_getfield(L, 1, key);
  if (t == LUA_TSTRING)
    v = lua_tostring(L, -1); /* stays referenced by the options table */
  else if (t != LUA_TNIL)
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
  s->curl = curl_easy_init();
  if (!s->curl) return luaL_error(L, "cannot create a libcurl handle");
  s->body.limit = (size_t)max_size;
  s->headers.limit = MAX_HEADER_BYTES;
  s->retry.max_retries = (int)max_retries;
  s->retry.base_delay = retry_delay;
  s->retry.max_total_delay = max_retry_time;
  vpp_rng_seed(&s->rng);

  CURL *c = s->curl;
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Redirects: at most 5; libcurl drops a custom Authorization header when the host, port or scheme changes;
     the protocols allowed for the redirect are set per request so https never falls back to http. */
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)(CURL_REDIR_POST_301 | CURL_REDIR_POST_302));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding this libcurl can decode */
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
  static const luaL_Reg methods[] = {{"request", l_request}, {"close", l_close}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, VPP_SESSION_TYPE);
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
