/* The options of vpptoken-sandbox: one table of names (sbx_longopts), one setter that checks a value whether it
 * comes from the command line or from a --config file (sbx_set), one set of defaults (sandbox.h). The --config
 * file is read once, by the sandbox's Lua (vpptoken_sandbox.config); its plain members go through sbx_set before
 * the command line's options, so flags override the file, and its "faults" and "throttle" go to configure(). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "sandbox.h"

static void sbx_usage(FILE *out) {
  fprintf(out,
          "Usage: " SBX_NAME " [options]\n"
          "       " SBX_NAME " make-token --org NAME --apple-id ID --expires DATE [--out FILE]\n"
          "A local stand-in for Microsoft Graph's deviceAppManagement/vppTokens (/v1.0 and /beta).\n"
          "\n"
          "  --port N              TCP port, 0 = any free port (default %d)\n"
          "  --host H              address to bind, IPv4 or IPv6 literal (default " SBX_DEFAULT_HOST "); any\n"
          "                        other than loopback gets a warning on stderr: the control endpoints\n"
          "                        need no authentication (/_sandbox/token mints access tokens)\n"
          "  --access-token T      accept only 'Bearer T' (default: any non-empty bearer token)\n"
          "  --page-size N         items per list page, N >= 1 (default %ld)\n"
          "  --sync-seconds S      seconds a license sync stays inProgress, S >= 0 (default %g)\n"
          "  --sync-response MODE  syncLicenses answer: bare (the token) or wrapped ({\"value\":token})\n"
          "                        (default " SBX_DEFAULT_SYNC_RESPONSE ")\n"
          "  --verbose             log one line per request (method path status) to stderr\n"
          "  --lua-path P          where the Lua sources are: a directory, or a package.path template\n"
          "                        containing '?' (default: $VPPTOKEN_SANDBOX_LUA_PATH, else the sandbox's own)\n"
          "  --apps FILE           registered apps (JSON: {\"tenant\":T,\"apps\":[{\"client_id\",\"client_secret\",\n"
          "                        \"certificate\":PEM path (relative to FILE),\"permissions\":[...]}]}); serves\n"
          "                        POST /TENANT/oauth2/v2.0/token and makes Graph calls need its access tokens\n"
          "                        (apps without a ...ReadWrite.All permission get 403 on writes); with\n"
          "                        \"managed_identities\" and \"identity_header\", the managed-identity endpoints\n"
          "                        (GET /msi/token, GET /metadata/identity/oauth2/token); an app's \"federated\"\n"
          "                        issuers sign workload-identity assertions (docs/sandbox.md)\n"
          "  --token-lifetime S    seconds an issued access token is valid, S > 0 (default %g)\n"
          "  --tls-cert FILE       serve HTTPS with this PEM certificate (with --tls-key; needs\n"
          "  --tls-key FILE        libmicrohttpd with GnuTLS); the startup line then says https://\n"
          "                        (no HTTP/2: libmicrohttpd speaks HTTP/1.1 only)\n"
          "  --config FILE         JSON object with the options as members (\"page_size\": 5, \"verbose\": true;\n"
          "                        not lua_path; flags given here override it) plus \"faults\" (the fault\n"
          "                        profile: rate, seed, statuses, kinds, latency_ms, retry_after, intune,\n"
          "                        drip) and \"throttle\" (enabled, window_seconds, tenant_writes, app_writes,\n"
          "                        tenant_requests, app_requests), \"apple_token_files\": false (accept a token\n"
          "                        that is not an Apple token file) and \"honor_prefer\"; POST /_sandbox/config\n"
          "                        takes these too\n"
          "  --throttle            apply Intune's limits per 20 s: writes 200/tenant 100/app, all requests\n"
          "                        2000/tenant 1000/app; over them: 429 TooManyRequests + Retry-After\n"
          "  --data FILE           load the tokens from FILE at start, save them after every change\n"
          "                        (atomically: a new FILE.sandbox-save-XXXXXX, mode 0600, fsync, rename;\n"
          "                        a start removes such a file that a killed save left)\n"
          "  --journal FILE        append one JSON line per request (time, method, path, headers and body\n"
          "                        with secrets redacted, status, request-id, client-request-id, duration)\n"
          "  --connection-limit N  connections at once, 1..10000 (default %ld); past it new ones are refused\n"
          "  --connection-timeout S  close a connection idle (no byte received: trickling or silent\n"
          "                        clients too) for S seconds, 1..3600 (default %ld); injected delays\n"
          "                        and drips do not count\n"
          "  --request-timeout S   close a connection whose request (line, headers and body) has not all\n"
          "                        arrived S seconds after it opened or after the previous answer, 1..3600\n"
          "                        (default %ld): trickling one byte at a time does not keep it open\n"
          "  --seed-tokens N       start with N sample tokens, 0..%ld (mixed states, expiries over the past\n"
          "                        and next year, sync statuses, organizations; a reset brings them back)\n"
          "  --seed S              the seed of --seed-tokens, an integer >= 0 (default %ld): the same seed\n"
          "                        gives the same tokens, ids included, on the same UTC day\n"
          "  --help                show this text and exit\n"
          "  --version             print the version and exit\n"
          "\n"
          "On start it prints one line to stdout: '" SBX_NAME " listening on http://HOST:PORT'.\n"
          "Control endpoints (no auth): GET /health, POST /_sandbox/reset, POST /_sandbox/faults,\n"
          "POST|GET /_sandbox/config, GET /_sandbox/requests, POST /_sandbox/token (with --apps: an access\n"
          "token for {\"client_id\"}, optionally with \"aud\" and \"lifetime\"). SIGINT/SIGTERM/SIGHUP stop it\n"
          "(exit 0).\n"
          "make-token writes a sample Apple .vpptoken file (see '" SBX_NAME " make-token --help').\n",
          SBX_DEFAULT_PORT, SBX_DEFAULT_PAGE_SIZE, SBX_DEFAULT_SYNC_SECONDS, SBX_DEFAULT_TOKEN_LIFETIME,
          SBX_DEFAULT_CONNECTION_LIMIT, SBX_DEFAULT_CONNECTION_TIMEOUT, SBX_DEFAULT_REQUEST_TIMEOUT,
          SBX_MAX_SEED_TOKENS, SBX_DEFAULT_SEED);
}

static int sbx_parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int sbx_parse_seconds(const char *s, double *out) {
  char *end = NULL;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > 86400.0 * 365) return -1;
  *out = v;
  return 0;
}

enum {
  OPT_PORT = 256,
  OPT_HOST,
  OPT_TOKEN,
  OPT_PAGE,
  OPT_SYNC_S,
  OPT_SYNC_R,
  OPT_VERBOSE,
  OPT_LUA,
  OPT_HELP,
  OPT_APPS,
  OPT_LIFETIME,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_CONFIG,
  OPT_DATA,
  OPT_JOURNAL,
  OPT_THROTTLE,
  OPT_VERSION,
  OPT_CONN_LIMIT,
  OPT_CONN_TIMEOUT,
  OPT_REQ_TIMEOUT,
  OPT_SEED_TOKENS,
  OPT_SEED
};

static const struct option sbx_longopts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"host", required_argument, NULL, OPT_HOST},
    {"access-token", required_argument, NULL, OPT_TOKEN},
    {"page-size", required_argument, NULL, OPT_PAGE},
    {"sync-seconds", required_argument, NULL, OPT_SYNC_S},
    {"sync-response", required_argument, NULL, OPT_SYNC_R},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"lua-path", required_argument, NULL, OPT_LUA},
    {"help", no_argument, NULL, OPT_HELP},
    {"apps", required_argument, NULL, OPT_APPS},
    {"token-lifetime", required_argument, NULL, OPT_LIFETIME},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"data", required_argument, NULL, OPT_DATA},
    {"journal", required_argument, NULL, OPT_JOURNAL},
    {"throttle", no_argument, NULL, OPT_THROTTLE},
    {"version", no_argument, NULL, OPT_VERSION},
    {"connection-limit", required_argument, NULL, OPT_CONN_LIMIT},
    {"connection-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
    {"request-timeout", required_argument, NULL, OPT_REQ_TIMEOUT},
    {"seed-tokens", required_argument, NULL, OPT_SEED_TOKENS},
    {"seed", required_argument, NULL, OPT_SEED},
    {NULL, 0, NULL, 0},
};

/* Prints "vpptoken-sandbox: <where><message>" to stderr (where: "" or "--config FILE: "); is SBX_PARSE_ERROR. */
#define SBX_FAIL(where, ...) \
  (fprintf(stderr, SBX_NAME ": %s", (where)), fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), SBX_PARSE_ERROR)

/* Sets the option code to arg (NULL for a flag), after checking it; arg must outlive o. */
static enum sbx_parse_result sbx_set(struct sbx_options *o, int code, const char *arg, const char *where) {
  const char *value = arg != NULL ? arg : "";
  long v;

  switch (code) {
    case OPT_PORT:
      if (sbx_parse_long(value, 0, 65535, &v) != 0)
        return SBX_FAIL(where, "--port wants an integer 0..65535, got '%s'", value);
      o->port = (unsigned)v;
      break;
    case OPT_HOST:
      if (value[0] == '\0') return SBX_FAIL(where, "--host must not be empty");
      o->host = value;
      break;
    case OPT_TOKEN:
      if (value[0] == '\0') return SBX_FAIL(where, "--access-token must not be empty");
      o->access_token = value;
      break;
    case OPT_PAGE:
      if (sbx_parse_long(value, 1, 1000000, &v) != 0)
        return SBX_FAIL(where, "--page-size wants an integer 1..1000000, got '%s'", value);
      o->page_size = v;
      break;
    case OPT_SYNC_S:
      if (sbx_parse_seconds(value, &o->sync_seconds) != 0)
        return SBX_FAIL(where, "--sync-seconds wants a number of seconds >= 0, got '%s'", value);
      break;
    case OPT_SYNC_R:
      if (strcmp(value, "bare") != 0 && strcmp(value, "wrapped") != 0)
        return SBX_FAIL(where, "--sync-response wants 'bare' or 'wrapped', got '%s'", value);
      o->sync_response = value;
      break;
    case OPT_VERBOSE: o->verbose = 1; break;
    case OPT_LUA: o->lua_path = value; break;
    case OPT_APPS:
    case OPT_TLS_CERT:
    case OPT_TLS_KEY:
      if (value[0] == '\0')
        return SBX_FAIL(where, "--%s must not be empty",
                        code == OPT_APPS       ? "apps"
                        : code == OPT_TLS_CERT ? "tls-cert"
                                               : "tls-key");
      *(code == OPT_APPS ? &o->apps : code == OPT_TLS_CERT ? &o->tls_cert : &o->tls_key) = value;
      break;
    case OPT_LIFETIME:
      if (sbx_parse_seconds(value, &o->token_lifetime) != 0 || o->token_lifetime <= 0)
        return SBX_FAIL(where, "--token-lifetime wants a number of seconds > 0, got '%s'", value);
      break;
    case OPT_CONFIG:
      if (value[0] == '\0') return SBX_FAIL(where, "--config must not be empty");
      o->config = value;
      break;
    case OPT_DATA:
    case OPT_JOURNAL:
      if (value[0] == '\0') return SBX_FAIL(where, "--%s must not be empty", code == OPT_DATA ? "data" : "journal");
      *(code == OPT_DATA ? &o->data : &o->journal) = value;
      break;
    case OPT_THROTTLE: o->throttle = 1; break;
    case OPT_CONN_LIMIT:
      if (sbx_parse_long(value, 1, 10000, &o->connection_limit) != 0)
        return SBX_FAIL(where, "--connection-limit wants an integer 1..10000, got '%s'", value);
      break;
    case OPT_CONN_TIMEOUT:
      if (sbx_parse_long(value, 1, 3600, &o->connection_timeout) != 0)
        return SBX_FAIL(where, "--connection-timeout wants an integer 1..3600 (seconds), got '%s'", value);
      break;
    case OPT_REQ_TIMEOUT:
      if (sbx_parse_long(value, 1, 3600, &o->request_timeout) != 0)
        return SBX_FAIL(where, "--request-timeout wants an integer 1..3600 (seconds), got '%s'", value);
      break;
    case OPT_SEED_TOKENS:
      if (sbx_parse_long(value, 0, SBX_MAX_SEED_TOKENS, &o->seed_tokens) != 0)
        return SBX_FAIL(where, "--seed-tokens wants an integer 0..%ld, got '%s'", SBX_MAX_SEED_TOKENS, value);
      break;
    case OPT_SEED:
      if (sbx_parse_long(value, 0, LONG_MAX, &o->seed) != 0)
        return SBX_FAIL(where, "--seed wants an integer >= 0, got '%s'", value);
      break;
    case OPT_HELP: sbx_usage(stdout); return SBX_PARSE_EXIT_OK;
    case OPT_VERSION: printf(SBX_NAME " " SBX_VERSION "\n"); return SBX_PARSE_EXIT_OK;
    default: return SBX_FAIL(where, "unknown option (see --help)");
  }
  return SBX_PARSE_OK;
}

/* One option of the command line as getopt_long saw it: its code (':' a missing value, '?' unknown), its value
 * and the argument it came from (for messages). */
struct sbx_arg {
  int code;
  const char *value;
  const char *text;
};

/* The --config file's plain members, a list {name, value, ...} that vpptoken_sandbox.config made (value: a
 * string, or true for a flag) and keeps alive in L's registry, through sbx_set. */
static enum sbx_parse_result sbx_set_config(struct sbx_options *o, lua_State *L) {
  enum sbx_parse_result r = SBX_PARSE_OK;
  char where[320];
  lua_Integer i, n;
  int list;

  snprintf(where, sizeof where, "--config %.256s: ", o->config);
  if (sbx_lua_config_options(L, o->config) != 0) return SBX_PARSE_ERROR;
  list = lua_gettop(L);
  n = (lua_Integer)lua_rawlen(L, list);
  for (i = 1; i + 1 <= n && r == SBX_PARSE_OK; i += 2) {
    const struct option *opt;
    const char *name, *value;
    int flag;

    lua_rawgeti(L, list, i);
    lua_rawgeti(L, list, i + 1);
    name = lua_tostring(L, -2);
    flag = lua_type(L, -1) == LUA_TBOOLEAN;
    value = flag ? NULL : lua_tostring(L, -1);
    lua_pop(L, 2);
    if (name == NULL) name = "";
    for (opt = sbx_longopts; opt->name != NULL && strcmp(opt->name, name) != 0; opt++)
      ;
    if (opt->name == NULL)
      r = SBX_FAIL(where, "unknown option '--%s' (see --help)", name);
    else if (flag != (opt->has_arg == no_argument))
      r = SBX_FAIL(where, flag ? "option --%s needs a value" : "option --%s takes no value", name);
    else
      r = sbx_set(o, opt->val, value, where);
  }
  lua_settop(L, list - 1);
  return r;
}

enum sbx_parse_result sbx_parse_options(int argc, char **argv, struct sbx_options *o, lua_State **L) {
  struct sbx_arg *args = calloc((size_t)argc + 1, sizeof *args);
  enum sbx_parse_result r = SBX_PARSE_OK;
  int c, i, n = 0;

  memset(o, 0, sizeof *o);
  o->host = SBX_DEFAULT_HOST;
  o->port = SBX_DEFAULT_PORT;
  o->page_size = SBX_DEFAULT_PAGE_SIZE;
  o->sync_seconds = SBX_DEFAULT_SYNC_SECONDS;
  o->sync_response = SBX_DEFAULT_SYNC_RESPONSE;
  o->token_lifetime = SBX_DEFAULT_TOKEN_LIFETIME;
  o->connection_limit = SBX_DEFAULT_CONNECTION_LIMIT;
  o->connection_timeout = SBX_DEFAULT_CONNECTION_TIMEOUT;
  o->request_timeout = SBX_DEFAULT_REQUEST_TIMEOUT;
  o->seed = SBX_DEFAULT_SEED;
  *L = NULL;
  if (args == NULL) {
    fprintf(stderr, SBX_NAME ": out of memory\n");
    return SBX_PARSE_FAILED;
  }

  /* First the command line as it is, so that --lua-path and --config are known before anything takes effect. */
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":", sbx_longopts, NULL)) != -1) {
    args[n].code = c;
    args[n].value = optarg;
    args[n].text = argv[optind - 1];
    if (c == OPT_LUA)
      o->lua_path = optarg;
    else if (c == OPT_CONFIG)
      o->config = optarg;
    n++;
  }

  /* Then the --config file (read by the sandbox's Lua, in the state that will serve), then the flags. */
  if (o->config != NULL && o->config[0] != '\0') {
    *L = sbx_lua_new(o);
    if (*L == NULL)
      r = SBX_PARSE_FAILED;
    else
      r = sbx_set_config(o, *L);
  }
  for (i = 0; i < n && r == SBX_PARSE_OK; i++) {
    if (args[i].code == ':')
      r = SBX_FAIL("", "option %s needs a value", args[i].text);
    else if (args[i].code == '?')
      r = SBX_FAIL("", "unknown option '%s' (see --help)", args[i].text);
    else
      r = sbx_set(o, args[i].code, args[i].value, "");
  }
  free(args);
  if (r != SBX_PARSE_OK) return r;
  if ((o->tls_cert == NULL) != (o->tls_key == NULL)) return SBX_FAIL("", "--tls-cert and --tls-key go together");
  if (optind < argc) return SBX_FAIL("", "unexpected argument '%s' (see --help)", argv[optind]);
  return SBX_PARSE_OK;
}
