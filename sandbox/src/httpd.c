/* libmicrohttpd glue: one context per request (created in the URI log callback, freed in the
 * completion callback), body accumulation with a size cap, then one call into Lua. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

struct sbx_conn {
  char *uri; /* raw request target, with the query */
  char *body;
  size_t len, cap;
  int started;
  int too_large;
  struct MHD_Response *held; /* answer held back by an injected delay (fault.c, timer.c) */
  unsigned held_status;
};

static void *sbx_on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  struct sbx_conn *cx = calloc(1, sizeof *cx);

  (void)cls;
  (void)conn;
  if (cx == NULL) return NULL;
  cx->uri = strdup(uri != NULL ? uri : "");
  if (cx->uri == NULL) {
    free(cx);
    return NULL;
  }
  return cx;
}

static void sbx_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe) {
  struct sbx_server *srv = cls;
  struct sbx_conn *cx = *con_cls;

  (void)toe;
  sbx_deadlines_answered(srv->deadlines, conn); /* the next request on this connection: a new deadline */
  if (cx == NULL) return;
  if (cx->held != NULL) MHD_destroy_response(cx->held);
  free(cx->body);
  free(cx->uri);
  free(cx);
  *con_cls = NULL;
}

/* Does the raw path (uri up to '?') hold an encoded NUL, which libmicrohttpd's decoding ends the path at? */
static int sbx_path_has_nul(const char *uri) {
  const char *p;

  for (p = uri; *p != '\0' && *p != '?'; p++)
    if (p[0] == '%' && p[1] == '0' && p[2] == '0') return 1;
  return 0;
}

/* Declared Content-Length larger than the cap? */
static int sbx_declared_too_large(struct MHD_Connection *conn) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  unsigned long long n;
  char *end = NULL;

  if (cl == NULL) return 0;
  errno = 0;
  n = strtoull(cl, &end, 10);
  return errno == 0 && end != cl && n > SBX_BODY_LIMIT;
}

/* Appends upload data; returns -1 when out of memory. Past the cap it only sets too_large. */
static int sbx_append(struct sbx_conn *cx, const char *data, size_t size) {
  size_t want;

  if (cx->too_large) return 0;
  if (size > SBX_BODY_LIMIT - cx->len) {
    cx->too_large = 1;
    free(cx->body);
    cx->body = NULL;
    cx->len = cx->cap = 0;
    return 0;
  }
  want = cx->len + size;
  if (want > cx->cap) {
    size_t cap = cx->cap != 0 ? cx->cap : 1024;
    char *p;

    while (cap < want) cap *= 2;
    if (cap > SBX_BODY_LIMIT) cap = SBX_BODY_LIMIT;
    p = realloc(cx->body, cap);
    if (p == NULL) return -1;
    cx->body = p;
    cx->cap = cap;
  }
  memcpy(cx->body + cx->len, data, size);
  cx->len = want;
  return 0;
}

static enum MHD_Result sbx_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
  struct sbx_server *srv = cls;
  struct sbx_conn *cx = *con_cls;
  struct MHD_Response *resp;
  struct sbx_request rq;
  struct sbx_fault fault;
  const char *q;
  unsigned status = 0;
  enum MHD_Result ret;

  (void)version;
  if (cx == NULL) return MHD_NO; /* out of memory when the request started: drop the connection */
  if (cx->held != NULL) {        /* resumed after an injected delay */
    ret = MHD_queue_response(conn, cx->held_status, cx->held);
    MHD_destroy_response(cx->held);
    cx->held = NULL;
    return ret;
  }
  if (!cx->started) {
    cx->started = 1;
    if (!sbx_declared_too_large(conn)) return MHD_YES; /* wait for the body (or the final call) */
    cx->too_large = 1;                                 /* answer 413 now, without reading the body */
  } else if (*upload_data_size > 0) {
    if (sbx_append(cx, upload_data, *upload_data_size) != 0) {
      fprintf(stderr, SBX_NAME ": out of memory reading a request body\n");
      return MHD_NO;
    }
    *upload_data_size = 0;
    return MHD_YES;
  }

  sbx_deadlines_arrived(srv->deadlines, conn); /* all in: no deadline while it is answered */
  q = strchr(cx->uri, '?');
  memset(&rq, 0, sizeof rq);
  rq.conn = conn;
  rq.method = method;
  rq.path = url;
  rq.query = q != NULL ? q + 1 : "";
  rq.body = cx->too_large ? NULL : cx->body;
  rq.body_len = cx->too_large ? 0 : cx->len;
  rq.body_too_large = cx->too_large;
  rq.path_has_nul = sbx_path_has_nul(cx->uri);
  rq.fault = &fault;
  rq.timers = srv->timers;
  resp = sbx_lua_handle(srv->L, &rq, &status);
  if (resp == NULL) {
    fprintf(stderr, SBX_NAME ": out of memory building a response\n");
    return MHD_NO;
  }
  if (cx->too_large) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (fault.action == SBX_ACT_RESET) { /* hang up without an answer */
    MHD_destroy_response(resp);
    sbx_fault_reset(conn);
    if (srv->verbose) fprintf(stderr, "%s %s reset\n", method, cx->uri);
    return MHD_NO;
  }
  if (fault.delay > 0 && sbx_timers_add(srv->timers, conn, fault.delay) == 0) {
    cx->held = resp; /* the connection is suspended now; the timer resumes it */
    cx->held_status = status;
    return MHD_YES;
  }
  ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  if (srv->verbose) fprintf(stderr, "%s %s %u\n", method, cx->uri, status);
  return ret;
}

struct MHD_Daemon *sbx_httpd_start(struct sbx_server *srv, int fd, int ipv6) {
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
  struct MHD_OptionItem tls[] = {
      /* HTTPS when srv->tls holds a certificate (tls.c) */
      {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls.cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls.key},
      {MHD_OPTION_END, 0, NULL},
  };

  flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
  if (ipv6) flags |= MHD_USE_IPv6;
  if (srv->tls.cert != NULL)
    flags |= MHD_USE_TLS;
  else
    tls[0].option = MHD_OPTION_END;
  return MHD_start_daemon(flags, 0, NULL, NULL, sbx_on_request, srv, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                          MHD_OPTION_CONNECTION_LIMIT, srv->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
                          srv->connection_timeout, MHD_OPTION_URI_LOG_CALLBACK, sbx_on_uri, (void *)srv,
                          MHD_OPTION_NOTIFY_COMPLETED, sbx_on_completed, (void *)srv, MHD_OPTION_NOTIFY_CONNECTION,
                          sbx_deadlines_notify, (void *)srv->deadlines, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}
