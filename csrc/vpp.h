/* vpptoken.core: internal declarations shared by the C files of the module (prefix vpp_). */
#ifndef VPP_H
#define VPP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "compat.h" /* lua.h, lauxlib.h and the 5.4 calls on every Lua */
#include <curl/curl.h>

#define VPP_SESSION_TYPE "vpptoken.Session"
#define VPP_VERSION "0.1.0"
#define VPP_MAX_CONCURRENCY 64 /* calls in flight in one request_many: core.MAX_CONCURRENCY */

/* ---- growable byte buffer (buf.c) ---- */
typedef struct {
  char *data;
  size_t len, cap;
  size_t limit; /* 0 = no limit; appending past it fails */
} vpp_buf;

int vpp_buf_append(vpp_buf *b, const void *p, size_t n); /* 0 ok, -1 out of memory or over limit */
void vpp_buf_reset(vpp_buf *b);                          /* keeps the allocation */
void vpp_buf_free(vpp_buf *b);

/* ---- DateTimeOffset (vtime.c) ---- */
typedef struct {
  int64_t seconds; /* since 1970-01-01T00:00:00Z */
  int32_t ticks;   /* 100 ns units, 0..9999999 */
  int offset_min;  /* zone offset of the text, minutes east of UTC */
  int has_zone;    /* 0 when the text had no zone (read as UTC) */
} vpp_time;

/* Parses YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|±hh:mm|±hhmm]. Returns NULL on success, else a static message. */
const char *vpp_time_parse(const char *s, size_t len, vpp_time *out);
/* Writes the time at the given zone offset with `digits` fraction digits (0..7; -1 = as many as needed).
   Returns the length written (buffer of at least 40 bytes), or -1 when out of range. */
int vpp_time_format(const vpp_time *t, int digits, char *out, size_t outsz);

/* ---- retry policy (retry.c) ---- */
typedef struct vpp_rng vpp_rng;
typedef struct {
  int max_retries;        /* retries after the first attempt (0..10) */
  double base_delay;      /* seconds; backoff base when no Retry-After */
  double max_total_delay; /* seconds; stop when the sum of waits would pass it */
} vpp_retry_policy;

/* Retry-After: delta-seconds (integer or fractional) or an HTTP-date. Returns seconds >= 0, or -1. */
double vpp_retry_after_parse(const char *v, time_t now);
/* Backoff without Retry-After for retry number `retry` (1-based); `unit` in [0,1) is the jitter draw. */
double vpp_backoff_delay(const vpp_retry_policy *p, int retry, double unit);
/* Whether repeating `method` cannot duplicate work on the server. */
int vpp_method_idempotent(const char *method);
/* Whether an HTTP status is worth retrying for this method (429, 503 always; 504 when idempotent). */
int vpp_status_retryable(long status, const char *method);
/* The wait before retry number `retry` (1-based): the server's Retry-After (seconds, or < 0 for none) or a
   jittered backoff; -1 when the policy says stop (too many retries, or the total wait would pass its cap). */
double vpp_retry_wait(const vpp_retry_policy *p, int retry, double retry_after, double waited, vpp_rng *rng);

/* ---- random numbers (rand.c): per-session xoshiro state seeded from the OS ---- */
struct vpp_rng {
  uint64_t s[4];
};
void vpp_rng_seed(vpp_rng *r);
uint64_t vpp_rng_next(vpp_rng *r);
double vpp_rng_unit(vpp_rng *r);          /* [0,1) */
void vpp_uuid4(vpp_rng *r, char out[37]); /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */

/* ---- request header sets (request_headers.c) ---- */
typedef struct {
  struct curl_slist *list; /* owned; "Name: value" lines, checked */
  const char *crid;        /* the client-request-id value inside list, or NULL */
} vpp_headers;

/* The header set at idx: a core.headers userdata as it is, a table checked (raising with `where`) and replaced
   on the stack by a new set, NULL for none or nil. Valid while the value at idx stays on the stack. */
vpp_headers *vpp_to_headers(lua_State *L, const char *where, int idx);

/* ---- response headers (response_headers.c) ---- */
/* Looks up a response header (case-insensitive) in a raw header block; copies its trimmed value into out. */
int vpp_find_header(const vpp_buf *h, const char *name, char *out, size_t outsz);
/* Pushes a raw header block as { lowercased-name = value } (repeated headers joined with ", "). */
void vpp_push_headers(lua_State *L, const char *p, size_t len);
/* Pushes a vpptoken.ResponseHeaders userdata holding a copy of the block (read by name, or with pairs). */
void vpp_push_response_headers(lua_State *L, const vpp_buf *h);

/* ---- the URL policy (url.c) ---- */
#define VPP_URL_MAX 8192 /* longest URL fetched, in bytes */
typedef struct {
  char origin[300]; /* "scheme://host[:port]", host in lower case */
  char host[256];
  int https, loopback;
  CURLU *cu; /* the handle the URL was parsed into (vpp_url_check_into), which libcurl can be given; else NULL */
} vpp_url;
/* Whether url may be fetched: http(s), no credentials in it, plain http only to a loopback host. 0 and `out`
   filled, or -1 with the reason in why (out->host is filled when the URL parsed). */
int vpp_url_check(const char *url, vpp_url *out, char *why, size_t whysz);
/* The same, plus plain http to exactly VPP_IMDS_HOST's token path (a virtual machine's managed identity). */
#define VPP_IMDS_HOST "169.254.169.254"
#define VPP_IMDS_PATH "/metadata/identity/oauth2/token"
int vpp_url_check_imds(const char *url, vpp_url *out, char *why, size_t whysz);
/* Either check (imds: the second), parsed into `into` (emptied first), which holds the URL when it passes
   (out->cu = into): libcurl, given it (CURLOPT_CURLU), does not parse the URL a second time. */
int vpp_url_check_into(const char *url, int imds, CURLU *into, vpp_url *out, char *why, size_t whysz);

/* ---- one HTTP call with its retries (transfer.c) ---- */
#define VPP_MAX_REDIRECTS 5
/* A refused connection to a loopback host (a local server that is not running, e.g. a forgotten sandbox) is tried
   again after at most VPP_LOOPBACK_REFUSED_DELAY seconds, for at most VPP_LOOPBACK_REFUSED_WAIT seconds in all: a
   server restarting gets a moment, a missing one is reported at once instead of after Graph's back-off. */
#define VPP_LOOPBACK_REFUSED_DELAY 0.25
#define VPP_LOOPBACK_REFUSED_WAIT 1.0
typedef struct {
  CURL *curl;            /* owned */
  vpp_buf body, headers; /* the current attempt's response, reused across calls */
  /* The attempt's own request headers, put in front of the caller's set without allocating: client-request-id,
     Retry-Attempt and Expect (for a body). curl only reads the list. */
  struct curl_slist own[3];
  /* The URL of the call as the check parsed it (vpp_check_request into it), which libcurl reads instead of parsing
     the URL again; owned. cu_set: whether the handle is set to it (CURLOPT_CURLU) now. */
  CURLU *cu;
  int cu_set, cu_url; /* cu_url: t->cu holds the URL of the call in progress */
  char crid_line[96], attempt_line[32], expect_line[8];
  const vpp_headers *hs; /* the caller's set for the call in progress, or NULL */
  int has_body;
  int set_https, set_plain_get; /* what the handle is set to now (-1 unknown): set only on a change */
  int imds;                     /* the call is session:request's "imds" mode (set before vpp_transfer_begin) */
  int multiplex; /* a pool transfer of a session with HTTP/2: over HTTPS, wait to share the first connection */
  /* A request that must not be repeated (POST) is sent at most once per attempt: libcurl re-sends a request, on a
     new connection, when a reused one dies before any answer; the pre-request callback stops that second send. */
  int guard_resend, awaiting_answer, resend_refused;
  int too_large;         /* the body passed its limit */
  int interrupted;       /* SIGINT (caught: core.catch_interrupt) ended the call: 1 in an attempt, 2 in a wait */
  int headers_too_large; /* the response headers passed theirs */
  /* Redirects are followed here, not by libcurl: only for GET and HEAD, to URLs the policy allows, never from https
     to http; once a hop leaves the first origin, the caller's headers (Authorization) stay behind. */
  char origin[300];
  int https, hops, crossed, hop_pending;
  int loopback;                    /* the URL the caller gave names a loopback host */
  long timeout_ms, set_timeout_ms; /* per attempt, redirect hops included; what the handle is set to now */
  double attempt_start;
  const char *fail_code, *fail_kind; /* a failure decided here, not by libcurl (a refused redirect) */
  char fail_msg[640];
  char errbuf[CURL_ERROR_SIZE];
  /* the logical call in progress; strings belong to the Lua caller, alive during the call */
  const char *method, *url;
  char crid[72];
  int own_crid; /* the client-request-id was generated here, not given by the caller */
  int attempt;
  long retry_status; /* why the next attempt is made: the HTTP status, or 0 and retry_rc, a transport failure */
  CURLcode retry_rc;
  double start, waited, next_at, retry_after;
  long connects;
  int index; /* request_many: 1-based position of the request; reactor: the call's id; 0 = slot free */
  /* session:request's hook, told about once a second while an attempt is under way: the state, the hook's stack
     index, the session's "hook running" flag; hook_L NULL without one. */
  lua_State *hook_L;
  int hook;
  int *hook_busy;
  double last_tick;
  int running;
} vpp_transfer;

/* Prepares a transfer around an easy handle (taken over) with the session's size limit and timeout. */
void vpp_transfer_init(vpp_transfer *t, CURL *curl, size_t max_body, long timeout_ms);
void vpp_transfer_free(vpp_transfer *t);
/* Checks method and URL (url_len bytes: a NUL inside is refused) against the URL policy; raises with `where`.
   The URL as checked goes to *out (for vpp_transfer_begin: one parse per call). */
void vpp_check_request(lua_State *L, const char *where, const char *method, const char *url, size_t url_len,
                       vpp_url *out, CURLU *into);
/* The same for session:request's "imds" mode: a GET, and the IMDS token URL allowed over plain http. */
void vpp_check_request_imds(lua_State *L, const char *where, const char *method, const char *url, size_t url_len,
                            vpp_url *out, CURLU *into);
/* Starts a logical call: request id (the set's client-request-id, else a new one), method and body options on the
   easy handle. checked: the URL as vpp_check_request read it, or NULL to read it here. hs (may be NULL) must stay
   alive until vpp_transfer_push_result. */
void vpp_transfer_begin(vpp_transfer *t, vpp_rng *rng, const char *method, const char *url, const vpp_url *checked,
                        const vpp_headers *hs, const char *body, size_t blen);
/* Readies the next attempt: request headers and empty response buffers. */
void vpp_transfer_attempt(vpp_transfer *t);
/* After an attempt ended with rc: the delay before the next attempt, or -1 when the call is over. */
double vpp_transfer_outcome(vpp_transfer *t, CURLcode rc, const vpp_retry_policy *p, vpp_rng *rng);
/* Whether the call ended in failure (a transport error, or one decided here such as a refused redirect). */
int vpp_transfer_failed(const vpp_transfer *t, CURLcode rc);
/* Pushes the call's result: the response table, or (vpp_transfer_failed) the transport error table. Ends the call:
   the handle no longer refers to the caller's header set, and a large response buffer is released. */
void vpp_transfer_push_result(lua_State *L, vpp_transfer *t, CURLcode rc);
double vpp_now(void);
void vpp_sleep_seconds(double d);

typedef struct vpp_reactor vpp_reactor; /* reactor.c: calls driven from outside (vpptoken.async) */

/* The Session userdata. */
typedef struct {
  vpp_transfer main; /* main.curl == NULL once closed */
  vpp_retry_policy retry;
  vpp_rng rng;
  CURLSH *share;       /* DNS cache, TLS sessions and connections, shared by main and the pool */
  CURLM *multi;        /* request_many, made on first use */
  vpp_transfer **pool; /* request_many's transfers, each allocated on its own */
  int pool_n;
  size_t max_body;
  long timeout_ms;
  int http2;   /* the http2 option: HTTP/2 over TLS allowed */
  int in_hook; /* a caller's hook (request's on_retry, request_many's on_event) is running: no use of the session */
  vpp_reactor *reactor; /* start/step/cancel's calls, made on first use */
} vpp_session;

vpp_session *vpp_check_session(lua_State *L, int idx); /* raises on a closed session */
int vpp_l_request_many(lua_State *L);
/* reactor.c: session:start, step, cancel, pollfd, events, timeout, pending; the reactor's cleanup */
int vpp_l_start(lua_State *L);
int vpp_l_step(lua_State *L);
int vpp_l_cancel(lua_State *L);
int vpp_l_pollfd(lua_State *L);
int vpp_l_events(lua_State *L);
int vpp_l_timeout(lua_State *L);
int vpp_l_pending(lua_State *L);
void vpp_reactor_free(lua_State *L, vpp_session *s);
/* Calls the hook function at stack index `hook` (0: none) with the table on top of the stack, which it pops; the
   hook's own errors are dropped (it only observes). The session refuses every use while the hook runs. */
void vpp_session_hook(lua_State *L, vpp_session *s, int hook);
/* Pushes the table a retry hook gets: method, url, attempt (the one to come), max_attempts, delay, and status (an
   HTTP answer) or kind and code (a transport failure). */
void vpp_push_retry_event(lua_State *L, const vpp_transfer *t, const vpp_retry_policy *p, double delay);
/* Points the transfer's progress callback at the hook at stack index `hook` of L (0: none) for one call. */
void vpp_transfer_set_hook(vpp_transfer *t, lua_State *L, int hook, int *busy);
/* Waits `delay` seconds before a retry; the hook set by vpp_transfer_set_hook hears { event = "tick", waiting } about
   once a second meanwhile. */
void vpp_transfer_wait(vpp_transfer *t, double delay);

/* ---- percent-encoding for path segments (escape.c) ---- */
/* Percent-encodes everything but RFC 3986 unreserved characters. out must hold 3*len+1 bytes. */
size_t vpp_escape_segment(const char *s, size_t len, char *out);
/* An RFC 3986 unreserved byte (A-Z a-z 0-9 - . _ ~): the bytes vpp_escape_segment keeps as they are. */
static inline int vpp_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* ---- bounds on decoding JSON from a server (json.c; nulls.c shares the depth) ---- */
#define VPP_JSON_MAX_DEPTH 64       /* nesting of containers; also strip_nulls' bound */
#define VPP_JSON_MAX_VALUES 1000000 /* values, keys included; a 999-token Graph page has about 31,000 */
enum { VPP_JSON_OK, VPP_JSON_TOO_MANY, VPP_JSON_TOO_DEEP, VPP_JSON_UNBALANCED };
/* Scans JSON text once, outside strings: counts values (containers, strings, keys, numbers, literals) and
   container depth. VPP_JSON_OK, or the first bound broken (VPP_JSON_UNBALANCED: a ']' or '}' with no opener). */
int vpp_json_scan(const char *s, size_t len, size_t max_values, int max_depth, size_t *counted);

/* ---- Lua bindings, one per file ---- */
void vpp_open_session(lua_State *L);         /* registers the Session metatable; pushes nothing */
void vpp_push_session_options(lua_State *L); /* pushes the session options' names, in order */
void vpp_push_session_limits(lua_State *L);  /* pushes name -> { kind, min, max, default } of each option */
int vpp_l_session_new(lua_State *L);
void vpp_open_enums(lua_State *L);   /* sets enum tables and functions into the table on top */
void vpp_open_time(lua_State *L);    /* sets time_parse/time_format into the table on top */
void vpp_open_sleep(lua_State *L);   /* sets sleep/monotonic/retry_after into the table on top */
void vpp_open_crypto(lua_State *L);  /* sets base64url/rs256_sign/x509_thumbprint into the table on top */
void vpp_open_nulls(lua_State *L);   /* sets strip_nulls and has_null into the table on top */
void vpp_open_json(lua_State *L);    /* sets json_check, JSON_MAX_VALUES, JSON_MAX_DEPTH into the table on top */
void vpp_open_page(lua_State *L);    /* sets page_items into the table on top */
void vpp_open_headers(lua_State *L); /* sets headers (request header sets) into the table on top */
void vpp_open_url(lua_State *L);     /* sets check_url into the table on top */
void vpp_open_fs(lua_State *L);      /* sets file_kind into the table on top */
void vpp_open_spawn(lua_State *L);   /* sets run (a program, no shell, a timeout) and executable */
void vpp_open_term(lua_State *L);    /* sets terminal into the table on top */
/* sets catch_interrupt/interrupted into the table on top */
void vpp_open_interrupt(lua_State *L);
/* interrupt.c: whether SIGINT is caught (core.catch_interrupt), and whether one came and is not yet read */
int vpp_interrupt_catching(void);
int vpp_interrupt_pending(void);
void vpp_open_digest(lua_State *L); /* sets fnv1a32/fnv1a64 into the table on top */
void vpp_open_utf8(lua_State *L);   /* sets utf8_len into the table on top */

/* ---- base64url without padding (crypto.c); out must hold 4*ceil(len/3)+1 bytes ---- */
size_t vpp_base64url(const unsigned char *in, size_t len, char *out);

#endif
