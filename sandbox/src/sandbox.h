/* vpptoken-sandbox: a local stand-in for Microsoft Graph's vppTokens endpoint.
 * libmicrohttpd serves HTTP on one internal thread; every request goes to the Lua module
 * vpptoken_sandbox (one lua_State, touched only from that thread). The options' defaults are the SBX_DEFAULT_*
 * below, and nowhere else. */
#ifndef VPP_SANDBOX_H
#define VPP_SANDBOX_H

#include <stddef.h>

#include <lua.h>
#include <microhttpd.h>

#define SBX_NAME "vpptoken-sandbox"
#ifndef SBX_VERSION /* set by CMakeLists.txt from VPP_VERSION in csrc/vpp.h */
#define SBX_VERSION "unknown"
#endif
#define SBX_DEFAULT_PORT 8787
#define SBX_DEFAULT_HOST "127.0.0.1"
#define SBX_DEFAULT_PAGE_SIZE 100L
#define SBX_DEFAULT_SYNC_SECONDS 2.0
#define SBX_DEFAULT_SYNC_RESPONSE "bare"
#define SBX_BODY_LIMIT ((size_t)4 * 1024 * 1024)
#define SBX_DEFAULT_CONNECTION_LIMIT 512L  /* connections at once; past it new ones are refused */
#define SBX_DEFAULT_CONNECTION_TIMEOUT 30L /* seconds a connection may stay idle (no byte in) */
#define SBX_DEFAULT_REQUEST_TIMEOUT 10L    /* seconds for a whole request to arrive, trickled or not */
#define SBX_DEFAULT_TOKEN_LIFETIME 3599.0
#define SBX_MAX_SEED_TOKENS 100000L /* --seed-tokens at most */
#define SBX_DEFAULT_SEED 1L

/* The options; strings point into argv, or into the --config file's values kept in the Lua state. */
struct sbx_options {
  const char *host;
  unsigned port;
  const char *access_token; /* NULL: any non-empty bearer token */
  long page_size;
  double sync_seconds;
  const char *sync_response; /* "bare" or "wrapped" */
  int verbose;
  const char *lua_path;  /* NULL: $VPPTOKEN_SANDBOX_LUA_PATH, else VPP_SANDBOX_LUA_DIR */
  const char *apps;      /* --apps FILE: registered apps; NULL: any bearer token (or access_token) */
  double token_lifetime; /* seconds an issued access token is valid */
  const char *tls_cert;  /* --tls-cert/--tls-key: serve HTTPS; both or neither */
  const char *tls_key;
  const char *config;      /* --config FILE: JSON with any of these options plus faults/throttle */
  const char *data;        /* --data FILE: the store, loaded at start and saved after every change */
  const char *journal;     /* --journal FILE: one JSON line per request */
  int throttle;            /* --throttle: Intune's request limits on */
  long connection_limit;   /* --connection-limit N */
  long connection_timeout; /* --connection-timeout S: idle seconds before a connection is closed */
  long request_timeout;    /* --request-timeout S: seconds for a request (line, headers, body) to arrive */
  long seed_tokens;        /* --seed-tokens N: sample tokens to start with */
  long seed;               /* --seed S: their generator's seed */
};

/* OK: serve; EXIT_OK: --help or --version was printed (exit 0); ERROR: a bad option (exit 2); FAILED: out of
 * memory (exit 1). */
enum sbx_parse_result { SBX_PARSE_OK, SBX_PARSE_EXIT_OK, SBX_PARSE_ERROR, SBX_PARSE_FAILED };

/* Fills *o from the defaults, the --config file and argv, in that order (options.c). Prints --help to stdout,
 * errors to stderr. With --config, *L receives the Lua state that read it (sbx_lua_new), else NULL; the caller
 * closes it. */
enum sbx_parse_result sbx_parse_options(int argc, char **argv, struct sbx_options *o, lua_State **L);

/* One request as the HTTP layer hands it over. */
struct sbx_request {
  struct MHD_Connection *conn;
  const char *method;
  const char *path;  /* percent-decoded by libmicrohttpd, no query */
  const char *query; /* raw, without '?', may be "" */
  const char *body;
  size_t body_len;
  int body_too_large;
  int path_has_nul;          /* the raw path holds %00 (path, a C string, ends there) */
  struct sbx_fault *fault;   /* receives what the handler asks of the delivery (NULL: ignored) */
  struct sbx_timers *timers; /* resumes suspended connections (drip) */
};

/* Creates the Lua state: standard libraries, package.path from o->lua_path ($VPPTOKEN_SANDBOX_LUA_PATH, else
 * VPP_SANDBOX_LUA_DIR) and the native modules. Returns NULL (after printing why to stderr) on failure. */
lua_State *sbx_lua_new(const struct sbx_options *o);

/* `vpptoken-sandbox make-token ARGS...` (argv[0] is "make-token"): writes a sample Apple token file
 * (vpptoken_sandbox.applefile.main). Returns the exit status. */
int sbx_lua_make_token(int argc, char **argv);

/* Reads the --config file at path with vpptoken_sandbox.config.read_file, once: keeps the document for configure() and
 * pushes its plain members as a list {name, value, ...} (value: a string, or true for a flag). Returns 0, or -1
 * after printing why (nothing pushed). */
int sbx_lua_config_options(lua_State *L, const char *path);

/* Loads vpptoken_sandbox and calls configure(opts) with the options, the --config document and the server's base
 * URL. Returns 0; -2 when configure refused a file it was given (a bad --data, --apps, --journal: exit 2), -1 on
 * any other failure; both after printing why to stderr. */
int sbx_lua_open(lua_State *L, const struct sbx_options *o, const char *base_url);

/* Calls handle(req) and builds the response; never fails short of running out of memory (then
 * NULL). *status receives the HTTP status. */
struct MHD_Response *sbx_lua_handle(lua_State *L, const struct sbx_request *rq, unsigned *status);

/* PEM text of the HTTPS certificate and key (both NULL: plain HTTP); kept until the daemon stops. */
struct sbx_tls {
  char *cert;
  char *key;
};

/* Reads o->tls_cert/o->tls_key into *tls (both NULL without --tls-cert). Returns 0, or -1 after
 * printing why (unreadable file, libmicrohttpd without TLS). */
int sbx_tls_load(const struct sbx_options *o, struct sbx_tls *tls);
void sbx_tls_free(struct sbx_tls *tls);

/* luaopen-style opener of vpptoken_sandbox.crypto (OpenSSL libcrypto; crypto.c). */
int sbx_open_crypto(lua_State *L);

/* State shared by the MHD callbacks (passed as their closure, no globals). */
struct sbx_server {
  lua_State *L;
  int verbose;
  struct sbx_tls tls;
  struct sbx_timers *timers;
  unsigned connection_limit, connection_timeout; /* from the options */
  struct sbx_deadlines *deadlines;               /* --request-timeout (deadline.c); NULL: none */
};

/* Starts libmicrohttpd on the bound, listening socket fd (which it then owns). */
struct MHD_Daemon *sbx_httpd_start(struct sbx_server *srv, int fd, int ipv6);

/* Timers that resume suspended connections (timer.c). start: NULL when out of resources. add (from
 * an MHD callback): suspends conn, resumes it after seconds; -1 (conn untouched) when stopping or out
 * of memory. stop: resumes
 * every waiting connection and refuses new timers (call before MHD_stop_daemon); free: after it. */
struct sbx_timers;
struct sbx_timers *sbx_timers_start(void);
int sbx_timers_add(struct sbx_timers *t, struct MHD_Connection *conn, double seconds);
void sbx_timers_stop(struct sbx_timers *t);
void sbx_timers_free(struct sbx_timers *t);

/* --request-timeout (deadline.c): a connection whose request has not fully arrived within seconds of its opening,
 * or of the previous answer, is shut down. start: NULL when out of resources (then no deadline). notify: the
 * MHD_OPTION_NOTIFY_CONNECTION callback (cls: the deadlines). arrived: conn's request is all in (the access
 * handler's last call); answered: its answer is done (the completion callback). free: after MHD_stop_daemon. */
struct sbx_deadlines;
struct sbx_deadlines *sbx_deadlines_start(long seconds);
void sbx_deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);
void sbx_deadlines_arrived(struct sbx_deadlines *d, struct MHD_Connection *conn);
void sbx_deadlines_answered(struct sbx_deadlines *d, struct MHD_Connection *conn);
void sbx_deadlines_free(struct sbx_deadlines *d);

/* What the Lua handler asks of the delivery (fault.c): its optional 4th result
 * {delay = s, action = "reset"|"truncate"|"drip", truncate_at = n, chunk = n, interval = s}. */
enum sbx_action { SBX_ACT_NONE, SBX_ACT_RESET, SBX_ACT_TRUNCATE, SBX_ACT_DRIP };
struct sbx_fault {
  double delay; /* seconds the response is held back (the connection is suspended) */
  enum sbx_action action;
  size_t truncate_at; /* TRUNCATE: body bytes sent before the connection is closed */
  size_t chunk;       /* DRIP: bytes per write */
  double interval;    /* DRIP: seconds between writes */
};
void sbx_fault_read(lua_State *L, int idx, struct sbx_fault *f);
/* The response for body: from a buffer, or from a callback for truncate/drip. NULL: out of memory. */
struct MHD_Response *sbx_fault_response(const char *body, size_t len, const struct sbx_fault *f,
                                        struct MHD_Connection *conn, struct sbx_timers *timers);
/* Makes the coming close of conn a TCP reset. */
void sbx_fault_reset(struct MHD_Connection *conn);

/* Adds write_atomic, create_private and remove_stale_copies to the native table on top of the stack (persist.c). */
void sbx_native_extend(lua_State *L);

#endif
