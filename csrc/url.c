/* The one place that decides whether a URL may be fetched: http or https only, no user name or password in it,
   plain http only to a loopback host (127.0.0.0/8, localhost, [::1]). Parsed by libcurl's own URL parser, so the
   host checked is the host libcurl connects to. Used for the caller's URLs, redirect targets and (through
   core.check_url) every URL a server hands the library. One exception, asked for by name and for one request only
   (vpp_url_check_imds, session:request's "imds" mode): the managed-identity token URL of a virtual machine's
   Instance Metadata Service, http://169.254.169.254/metadata/identity/oauth2/token, which has no https. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "vpp.h"

/* A loopback host, read strictly: "localhost", or a numeric address in 127.0.0.0/8 or ::1 (IPv4-mapped 127/8
   too), no trailing dot. inet_pton takes digits only: "127.-0.0.1" is a name DNS would resolve, not an
   address. (libcurl's parser has already turned 0x7f.1, 127.1 and the like into dotted decimal.) */
static int loopback_host(const char *h) {
  char name[256];
  size_t n = strlen(h);
  if (n == 0 || n >= sizeof name) return 0;
  memcpy(name, h, n + 1);
  if (strcasecmp(name, "localhost") == 0) return 1; /* not "localhost.": libcurl hands that name to the resolver */
  unsigned char a[16];
  if (inet_pton(AF_INET, name, a) == 1) return a[0] == 127;
  if (n < 2 || name[0] != '[' || name[n - 1] != ']') return 0;
  name[n - 1] = '\0';
  if (inet_pton(AF_INET6, name + 1, a) != 1) return 0;
  static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

static const char *url_part(CURLU *u, CURLUPart what, char **out) {
  *out = NULL;
  /* no port when it is the scheme's default: https://h:443 and https://h are one origin */
  return curl_url_get(u, what, out, CURLU_NO_DEFAULT_PORT) == CURLUE_OK ? *out : NULL;
}

/* The IMDS token URL exactly: host 169.254.169.254 on the default port, that one path. */
static int imds_url(CURLU *u, const char *host) {
  char *port = NULL, *path = NULL;
  int ok = strcmp(host, VPP_IMDS_HOST) == 0 && !url_part(u, CURLUPART_PORT, &port) &&
           url_part(u, CURLUPART_PATH, &path) && strcmp(path, VPP_IMDS_PATH) == 0;
  curl_free(port);
  curl_free(path);
  return ok;
}

/* into: a handle to parse into (emptied first) and leave holding the URL, or NULL for one of its own. */
static int url_check(const char *url, int imds, vpp_url *out, char *why, size_t whysz, CURLU *into) {
  memset(out, 0, sizeof *out);
  CURLU *u = into;
  if (u)
    curl_url_set(u, CURLUPART_URL, NULL, 0); /* empties it: a URL is never read relative to the last one */
  else
    u = curl_url();
  if (!u) {
    snprintf(why, whysz, "out of memory");
    return -1;
  }
  int ok = -1;
  char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *password = NULL;
  if (strlen(url) >= VPP_URL_MAX) {
    snprintf(why, whysz, "the URL is longer than %d bytes", VPP_URL_MAX - 1);
  } else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || !url_part(u, CURLUPART_SCHEME, &scheme)) {
    snprintf(why, whysz, "not an absolute http(s) URL");
  } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    snprintf(why, whysz, "the scheme must be http or https (a URL starts with http:// or https://)");
  } else if (!url_part(u, CURLUPART_HOST, &host)) {
    snprintf(why, whysz, "the URL has no host");
  } else if (url_part(u, CURLUPART_USER, &user) || url_part(u, CURLUPART_PASSWORD, &password)) {
    snprintf(why, whysz, "a user name or password in the URL is not allowed");
  } else if (strlen(host) >= sizeof out->host) {
    snprintf(why, whysz, "the host name is too long");
  } else if (url_part(u, CURLUPART_PORT, &port) && strlen(port) > 5) { /* libcurl refuses one over 65535 first */
    snprintf(why, whysz, "the port is not a number under 65536");
  } else {
    out->https = strcmp(scheme, "https") == 0;
    out->loopback = loopback_host(host);
    size_t hl = strlen(host); /* < sizeof out->host, checked above */
    memcpy(out->host, host, hl + 1);
    for (char *p = out->host; *p; p++)
      if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    /* "scheme://host[:port]" without snprintf (1 k instructions a call): the scheme is http or https, the host
       under 256 bytes and the port at most 5 digits (libcurl refuses a larger one), so it fits in out->origin */
    size_t sl = strlen(scheme), pl = port ? strlen(port) : 0;
    char *o = out->origin;
    memcpy(o, scheme, sl);
    memcpy(o + sl, "://", 3);
    memcpy(o + sl + 3, out->host, hl);
    o += sl + 3 + hl;
    if (port) {
      *o++ = ':';
      memcpy(o, port, pl);
      o += pl;
    }
    *o = '\0';
    if (!out->https && !out->loopback && !(imds && imds_url(u, out->host)))
      snprintf(why, whysz,
               "plain http:// is allowed only to a loopback address (127.0.0.0/8, localhost, [::1]); "
               "use https://");
    else
      ok = 0;
  }
  if (ok == 0 && into) out->cu = into;
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(user);
  curl_free(password);
  if (!into) curl_url_cleanup(u);
  return ok;
}

int vpp_url_check(const char *url, vpp_url *out, char *why, size_t whysz) {
  return url_check(url, 0, out, why, whysz, NULL);
}

int vpp_url_check_into(const char *url, int imds, CURLU *into, vpp_url *out, char *why, size_t whysz) {
  return url_check(url, imds, out, why, whysz, into);
}

int vpp_url_check_imds(const char *url, vpp_url *out, char *why, size_t whysz) {
  return url_check(url, 1, out, why, whysz, NULL);
}

/* check_url(url) -> origin ("scheme://host[:port]", host in lower case), https (boolean), loopback (boolean)
   | nil, why. Never raises on a string: the URL may come from a server. */
static int l_check_url(lua_State *L) {
  size_t len;
  const char *url = luaL_checklstring(L, 1, &len);
  vpp_url u;
  char why[160];
  int bad = strlen(url) != len ? (snprintf(why, sizeof why, "the URL contains a NUL byte"), 1) : 0;
  for (size_t i = 0; !bad && i < len; i++)
    if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
      bad = (snprintf(why, sizeof why,
                      "the URL contains a space "
                      "or control character"),
             1);
  if (bad || vpp_url_check(url, &u, why, sizeof why) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushstring(L, u.origin);
  lua_pushboolean(L, u.https);
  lua_pushboolean(L, u.loopback);
  return 3;
}

void vpp_open_url(lua_State *L) {
  lua_pushcfunction(L, l_check_url);
  lua_setfield(L, -2, "check_url");
}
