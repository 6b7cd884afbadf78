/* vpptoken-sandbox: entry point. Binds the listening socket itself (so the real port is known
 * before any request can arrive and before Lua is configured), starts libmicrohttpd on it, prints
 * the one startup line, then waits for SIGINT/SIGTERM/SIGHUP with sigwait: no signal handler and no
 * global state at all. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lua.h>

#include "sandbox.h"

/* Binds and listens on host:port; returns the socket, its real port in *bound and whether it is
 * IPv6 in *ipv6; -1 (after printing why) on failure. */
static int sbx_listen(const char *host, unsigned port, unsigned *bound, int *ipv6) {
  struct addrinfo hints, *res = NULL, *ai;
  char portstr[16];
  int rc, fd = -1, saved = 0;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(portstr, sizeof portstr, "%u", port);
  rc = getaddrinfo(host, portstr, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, SBX_NAME ": cannot resolve host '%s': %s\n", host, gai_strerror(rc));
    return -1;
  }
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int one = 1;

    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
      *ipv6 = ai->ai_family == AF_INET6;
      *bound = ntohs(*ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
      break;
    }
    saved = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0)
    fprintf(stderr, SBX_NAME ": cannot listen on %s port %u: %s\n", host, port,
            saved != 0 ? strerror(saved) : "no usable address");
  return fd;
}

/* Is the listening socket fd bound to a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? An
 * unspecified address (0.0.0.0, ::) is not: it takes connections from every interface. */
static int sbx_is_loopback(int fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return 0;
  if (ss.ss_family == AF_INET) return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return 0;
}

/* Frees what srv holds and closes fd (unless -1); returns 1, the exit status of a failed start. */
static int sbx_close(struct sbx_server *srv, int fd) {
  if (fd >= 0) close(fd);
  sbx_timers_free(srv->timers);
  sbx_deadlines_free(srv->deadlines);
  if (srv->L != NULL) lua_close(srv->L);
  sbx_tls_free(&srv->tls);
  return 1;
}

int main(int argc, char **argv) {
  struct sbx_options o;
  struct sbx_server srv = {0};
  struct MHD_Daemon *daemon;
  sigset_t stopset;
  char url[320];
  unsigned port = 0;
  int fd, ipv6 = 0, loopback, sig = 0, n;

  if (argc > 1 && strcmp(argv[1], "make-token") == 0) return sbx_lua_make_token(argc - 1, argv + 1);
  switch (sbx_parse_options(argc, argv, &o, &srv.L)) {
    case SBX_PARSE_OK: break;
    case SBX_PARSE_EXIT_OK: sbx_close(&srv, -1); return 0;
    case SBX_PARSE_ERROR: sbx_close(&srv, -1); return 2;
    case SBX_PARSE_FAILED: sbx_close(&srv, -1); return 1;
  }
  if (srv.L == NULL && (srv.L = sbx_lua_new(&o)) == NULL) return 1;

  /* Block the stop signals before any thread exists, so every thread inherits the mask and
   * only sigwait below receives them. */
  sigemptyset(&stopset);
  sigaddset(&stopset, SIGINT);
  sigaddset(&stopset, SIGTERM);
  sigaddset(&stopset, SIGHUP); /* a closed terminal too: a save under way finishes first */
  if (pthread_sigmask(SIG_BLOCK, &stopset, NULL) != 0) {
    fprintf(stderr, SBX_NAME ": cannot block signals\n");
    return sbx_close(&srv, -1);
  }
  signal(SIGPIPE, SIG_IGN);

  fd = sbx_listen(o.host, o.port, &port, &ipv6);
  if (fd < 0) return sbx_close(&srv, -1);
  loopback = sbx_is_loopback(fd);
  n = snprintf(url, sizeof url, strchr(o.host, ':') != NULL ? "%s://[%s]:%u" : "%s://%s:%u",
               o.tls_cert != NULL ? "https" : "http", o.host, port);
  if (n < 0 || (size_t)n >= sizeof url) {
    fprintf(stderr, SBX_NAME ": host name too long\n");
    return sbx_close(&srv, fd);
  }

  srv.verbose = o.verbose;
  srv.connection_limit = (unsigned)o.connection_limit;
  srv.connection_timeout = (unsigned)o.connection_timeout;
  n = sbx_lua_open(srv.L, &o, url);
  if (n != 0) {
    sbx_close(&srv, fd);
    return n == -2 ? 2 : 1; /* a refused file: exit 2, as for a bad option */
  }
  srv.timers = sbx_timers_start();                        /* NULL: injected delays and drips are skipped */
  srv.deadlines = sbx_deadlines_start(o.request_timeout); /* NULL: only the idle timeout */
  daemon = sbx_tls_load(&o, &srv.tls) == 0 ? sbx_httpd_start(&srv, fd, ipv6) : NULL;
  if (daemon == NULL) {
    fprintf(stderr, SBX_NAME ": cannot start the HTTP server\n");
    return sbx_close(&srv, fd);
  }

  if (!loopback)
    fprintf(stderr,
            SBX_NAME ": warning: %s is not a loopback address: anyone who can reach it can use the control "
                     "routes, which need no authentication (/_sandbox/reset, /_sandbox/config, /_sandbox/requests, "
                     "and /_sandbox/token, which mints access tokens)\n",
            o.host);
  printf(SBX_NAME " listening on %s\n", url);
  fflush(stdout);

  while (sigwait(&stopset, &sig) != 0)
    ;
  if (o.verbose) fprintf(stderr, SBX_NAME ": stopping on signal %d\n", sig);

  sbx_timers_stop(srv.timers); /* resumes suspended connections: MHD must not stop with any */
  MHD_stop_daemon(daemon);     /* joins the server thread and closes the listening socket */
  sbx_close(&srv, -1);
  return 0;
}
