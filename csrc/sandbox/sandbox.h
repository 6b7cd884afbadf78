/* vpptoken-sandbox: a local stand-in for Microsoft Graph's vppTokens endpoint.
 * libmicrohttpd serves HTTP on one internal thread; every request goes to the Lua module
 * vpptoken.sandbox (one lua_State, touched only from that thread). */
#ifndef VPP_SANDBOX_H
#define VPP_SANDBOX_H

#include <stddef.h>

#include <lua.h>
#include <microhttpd.h>

#define SBX_NAME "vpptoken-sandbox"
#define SBX_DEFAULT_PORT 8787
#define SBX_DEFAULT_HOST "127.0.0.1"
#define SBX_DEFAULT_PAGE_SIZE 100L
#define SBX_DEFAULT_SYNC_SECONDS 2.0
#define SBX_BODY_LIMIT ((size_t)4 * 1024 * 1024)
#define SBX_CONNECTION_LIMIT 512u
#define SBX_CONNECTION_TIMEOUT 30u

/* Command-line options; strings point into argv. */
struct sbx_options {
  const char *host;
  unsigned port;
  const char *access_token; /* NULL: any non-empty bearer token */
  long page_size;
  double sync_seconds;
  const char *sync_response; /* "bare" or "wrapped" */
  int verbose;
  const char *lua_path; /* NULL: $VPPTOKEN_SANDBOX_LUA_PATH, else VPP_SANDBOX_LUA_DIR */
};

enum sbx_parse_result { SBX_PARSE_OK, SBX_PARSE_EXIT_OK, SBX_PARSE_ERROR };

/* Fills *o from argv. Prints --help to stdout, errors to stderr. */
enum sbx_parse_result sbx_parse_options(int argc, char **argv, struct sbx_options *o);

/* One request as the HTTP layer hands it over. */
struct sbx_request {
  struct MHD_Connection *conn;
  const char *method;
  const char *path;  /* percent-decoded by libmicrohttpd, no query */
  const char *query; /* raw, without '?', may be "" */
  const char *body;
  size_t body_len;
  int body_too_large;
};

/* Creates the Lua state, loads vpptoken.sandbox and calls configure(opts) with the options and the
 * server's base URL. Returns NULL (after printing why to stderr) on failure. */
lua_State *sbx_lua_open(const struct sbx_options *o, const char *base_url);

/* Calls handle(req) and builds the response; never fails short of running out of memory (then
 * NULL). *status receives the HTTP status. */
struct MHD_Response *sbx_lua_handle(lua_State *L, const struct sbx_request *rq, unsigned *status);

/* State shared by the MHD callbacks (passed as their closure, no globals). */
struct sbx_server {
  lua_State *L;
  int verbose;
};

/* Starts libmicrohttpd on the bound, listening socket fd (which it then owns). */
struct MHD_Daemon *sbx_httpd_start(struct sbx_server *srv, int fd, int ipv6);

#endif
