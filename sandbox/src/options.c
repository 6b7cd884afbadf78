/* Command-line parsing for vpptoken-sandbox. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

#ifndef SBX_VERSION /* set by CMakeLists.txt from VPP_VERSION in csrc/vpp.h */
#define SBX_VERSION "unknown"
#endif

static void sbx_usage(FILE *out)
{
  fprintf(out,
          "Usage: " SBX_NAME " [options]\n"
          "A local stand-in for Microsoft Graph's deviceAppManagement/vppTokens (/v1.0 and /beta).\n"
          "\n"
          "  --port N              TCP port, 0 = any free port (default %d)\n"
          "  --host H              address to bind, IPv4 or IPv6 literal (default " SBX_DEFAULT_HOST ")\n"
          "  --access-token T      accept only 'Bearer T' (default: any non-empty bearer token)\n"
          "  --page-size N         items per list page, N >= 1 (default %ld)\n"
          "  --sync-seconds S      seconds a license sync stays inProgress, S >= 0 (default %g)\n"
          "  --sync-response MODE  syncLicenses answer: bare (the token) or wrapped ({\"value\":token})\n"
          "                        (default bare)\n"
          "  --verbose             log one line per request (method path status) to stderr\n"
          "  --lua-path P          where the Lua sources are: a directory, or a package.path template\n"
          "                        containing '?' (default: $VPPTOKEN_SANDBOX_LUA_PATH, else the sandbox's own)\n"
          "  --apps FILE           registered apps (JSON: {\"tenant\":T,\"apps\":[{\"client_id\",\"client_secret\",\n"
          "                        \"certificate\":PEM path (relative to FILE),\"permissions\":[...]}]}); serves\n"
          "                        POST /TENANT/oauth2/v2.0/token and makes Graph calls need its access tokens\n"
          "                        (apps without a ...ReadWrite.All permission get 403 on writes)\n"
          "  --token-lifetime S    seconds an issued access token is valid, S > 0 (default %g)\n"
          "  --tls-cert FILE       serve HTTPS with this PEM certificate (with --tls-key; needs\n"
          "  --tls-key FILE        libmicrohttpd with GnuTLS); the startup line then says https://\n"
          "                        (no HTTP/2: libmicrohttpd speaks HTTP/1.1 only)\n"
          "  --config FILE         JSON object with any option above as a member (\"page_size\": 5,\n"
          "                        \"verbose\": true; flags given here override it) plus \"faults\" (the fault\n"
          "                        profile: rate, seed, statuses, kinds, latency_ms, retry_after, intune,\n"
          "                        drip) and \"throttle\" (enabled, window_seconds, tenant_writes, app_writes,\n"
          "                        tenant_requests, app_requests); POST /_sandbox/config takes both too\n"
          "  --throttle            apply Intune's limits per 20 s: writes 200/tenant 100/app, all requests\n"
          "                        2000/tenant 1000/app; over them: 429 TooManyRequests + Retry-After\n"
          "  --data FILE           load the tokens from FILE at start, save them after every change\n"
          "                        (atomically: FILE.tmp, fsync, rename)\n"
          "  --journal FILE        append one JSON line per request (time, method, path, headers and body\n"
          "                        with secrets redacted, status, request-id, client-request-id, duration)\n"
          "  --help                show this text and exit\n"
          "  --version             print the version and exit\n"
          "\n"
          "On start it prints one line to stdout: '" SBX_NAME " listening on http://HOST:PORT'.\n"
          "Control endpoints (no auth): GET /health, POST /_sandbox/reset, POST /_sandbox/faults,\n"
          "POST|GET /_sandbox/config, GET /_sandbox/requests, POST /_sandbox/token (with --apps: an access\n"
          "token for {\"client_id\"}, optionally with \"aud\" and \"lifetime\"). SIGINT/SIGTERM stop it (exit 0).\n",
          SBX_DEFAULT_PORT, SBX_DEFAULT_PAGE_SIZE, SBX_DEFAULT_SYNC_SECONDS, SBX_DEFAULT_TOKEN_LIFETIME);
}

static int sbx_parse_long(const char *s, long min, long max, long *out)
{
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int sbx_parse_seconds(const char *s, double *out)
{
  char *end = NULL;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > 86400.0 * 365)
    return -1;
  *out = v;
  return 0;
}

/* One pass of getopt over argv (the --config file's arguments, then the real ones). */
static enum sbx_parse_result sbx_parse_pass(int argc, char **argv, struct sbx_options *o)
{
  enum { OPT_CONFIG = 512, OPT_DATA, OPT_JOURNAL, OPT_THROTTLE, OPT_VERSION };
  enum { OPT_PORT = 256, OPT_HOST, OPT_TOKEN, OPT_PAGE, OPT_SYNC_S, OPT_SYNC_R, OPT_VERBOSE, OPT_LUA, OPT_HELP,
         OPT_APPS, OPT_LIFETIME, OPT_TLS_CERT, OPT_TLS_KEY };
  static const struct option longopts[] = {
    { "port", required_argument, NULL, OPT_PORT },
    { "host", required_argument, NULL, OPT_HOST },
    { "access-token", required_argument, NULL, OPT_TOKEN },
    { "page-size", required_argument, NULL, OPT_PAGE },
    { "sync-seconds", required_argument, NULL, OPT_SYNC_S },
    { "sync-response", required_argument, NULL, OPT_SYNC_R },
    { "verbose", no_argument, NULL, OPT_VERBOSE },
    { "lua-path", required_argument, NULL, OPT_LUA },
    { "help", no_argument, NULL, OPT_HELP },
    { "apps", required_argument, NULL, OPT_APPS },
    { "token-lifetime", required_argument, NULL, OPT_LIFETIME },
    { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
    { "tls-key", required_argument, NULL, OPT_TLS_KEY },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "data", required_argument, NULL, OPT_DATA },
    { "journal", required_argument, NULL, OPT_JOURNAL },
    { "throttle", no_argument, NULL, OPT_THROTTLE },
    { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
  };
  int c;
  long v;

  opterr = 0;
  optind = 0; /* 0: glibc starts afresh (this runs twice) */
  while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_PORT:
      if (sbx_parse_long(optarg, 0, 65535, &v) != 0) {
        fprintf(stderr, SBX_NAME ": --port wants an integer 0..65535, got '%s'\n", optarg);
        return SBX_PARSE_ERROR;
      }
      o->port = (unsigned)v;
      break;
    case OPT_HOST:
      if (optarg[0] == '\0') {
        fprintf(stderr, SBX_NAME ": --host must not be empty\n");
        return SBX_PARSE_ERROR;
      }
      o->host = optarg;
      break;
    case OPT_TOKEN:
      if (optarg[0] == '\0') {
        fprintf(stderr, SBX_NAME ": --access-token must not be empty\n");
        return SBX_PARSE_ERROR;
      }
      o->access_token = optarg;
      break;
    case OPT_PAGE:
      if (sbx_parse_long(optarg, 1, 1000000, &v) != 0) {
        fprintf(stderr, SBX_NAME ": --page-size wants an integer 1..1000000, got '%s'\n", optarg);
        return SBX_PARSE_ERROR;
      }
      o->page_size = v;
      break;
    case OPT_SYNC_S:
      if (sbx_parse_seconds(optarg, &o->sync_seconds) != 0) {
        fprintf(stderr, SBX_NAME ": --sync-seconds wants a number of seconds >= 0, got '%s'\n", optarg);
        return SBX_PARSE_ERROR;
      }
      break;
    case OPT_SYNC_R:
      if (strcmp(optarg, "bare") != 0 && strcmp(optarg, "wrapped") != 0) {
        fprintf(stderr, SBX_NAME ": --sync-response wants 'bare' or 'wrapped', got '%s'\n", optarg);
        return SBX_PARSE_ERROR;
      }
      o->sync_response = optarg;
      break;
    case OPT_VERBOSE:
      o->verbose = 1;
      break;
    case OPT_LUA:
      o->lua_path = optarg;
      break;
    case OPT_APPS:
    case OPT_TLS_CERT:
    case OPT_TLS_KEY:
      if (optarg[0] == '\0') {
        fprintf(stderr, SBX_NAME ": --%s must not be empty\n",
                c == OPT_APPS ? "apps" : c == OPT_TLS_CERT ? "tls-cert" : "tls-key");
        return SBX_PARSE_ERROR;
      }
      *(c == OPT_APPS ? &o->apps : c == OPT_TLS_CERT ? &o->tls_cert : &o->tls_key) = optarg;
      break;
    case OPT_LIFETIME:
      if (sbx_parse_seconds(optarg, &o->token_lifetime) != 0 || o->token_lifetime <= 0) {
        fprintf(stderr, SBX_NAME ": --token-lifetime wants a number of seconds > 0, got '%s'\n", optarg);
        return SBX_PARSE_ERROR;
      }
      break;
    case OPT_CONFIG:
      break; /* read before this pass (sbx_parse_options) */
    case OPT_DATA:
    case OPT_JOURNAL:
      if (optarg[0] == '\0') {
        fprintf(stderr, SBX_NAME ": --%s must not be empty\n", c == OPT_DATA ? "data" : "journal");
        return SBX_PARSE_ERROR;
      }
      *(c == OPT_DATA ? &o->data : &o->journal) = optarg;
      break;
    case OPT_THROTTLE:
      o->throttle = 1;
      break;
    case OPT_HELP:
      sbx_usage(stdout);
      return SBX_PARSE_EXIT_OK;
    case OPT_VERSION:
      printf(SBX_NAME " " SBX_VERSION "\n");
      return SBX_PARSE_EXIT_OK;
    case ':':
      fprintf(stderr, SBX_NAME ": option %s needs a value\n", argv[optind - 1]);
      return SBX_PARSE_ERROR;
    default:
      fprintf(stderr, SBX_NAME ": unknown option '%s' (see --help)\n", argv[optind - 1]);
      return SBX_PARSE_ERROR;
    }
  }
  if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
    fprintf(stderr, SBX_NAME ": --tls-cert and --tls-key go together\n");
    return SBX_PARSE_ERROR;
  }
  if (optind < argc) {
    fprintf(stderr, SBX_NAME ": unexpected argument '%s' (see --help)\n", argv[optind]);
    return SBX_PARSE_ERROR;
  }
  return SBX_PARSE_OK;
}

/* Where argv names a --config file (NULL: nowhere); the last one counts. */
static const char *sbx_find_config(int argc, char **argv)
{
  const char *path = NULL;
  int i;

  for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      path = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0)
      path = argv[i] + 9;
  }
  return path;
}

enum sbx_parse_result sbx_parse_options(int argc, char **argv, struct sbx_options *o)
{
  memset(o, 0, sizeof *o);
  o->host = SBX_DEFAULT_HOST;
  o->port = SBX_DEFAULT_PORT;
  o->page_size = SBX_DEFAULT_PAGE_SIZE;
  o->sync_seconds = SBX_DEFAULT_SYNC_SECONDS;
  o->sync_response = "bare";
  o->token_lifetime = SBX_DEFAULT_TOKEN_LIFETIME;

  o->config = sbx_find_config(argc, argv);
  if (o->config != NULL) {
    enum sbx_parse_result r;

    if (o->config[0] == '\0' || sbx_config_load(o) != 0)
      return SBX_PARSE_ERROR;
    r = sbx_parse_pass(o->config_argc, o->config_argv, o);
    if (r != SBX_PARSE_OK)
      return r;
  }
  return sbx_parse_pass(argc, argv, o);
}
