/* Delivery faults the Lua handler asks for: a connection reset, a truncated body, a body sent
 * in small chunks with pauses (the connection is suspended between chunks, so the one server
 * thread keeps serving everyone else). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <lauxlib.h>

#include "sandbox.h"

static double sbx_mono(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double sbx_field_number(lua_State *L, int idx, const char *name, double min, double max) {
  double v = 0;

  if (lua_getfield(L, idx, name) == LUA_TNUMBER) v = (double)lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(v >= min)) /* also NaN */
    v = min;
  return v > max ? max : v;
}

void sbx_fault_read(lua_State *L, int idx, struct sbx_fault *f) {
  const char *action;

  memset(f, 0, sizeof *f);
  f->truncate_at = SIZE_MAX;
  if (!lua_istable(L, idx)) return;
  idx = lua_absindex(L, idx);
  f->delay = sbx_field_number(L, idx, "delay", 0, 3600);
  lua_getfield(L, idx, "action");
  action = lua_tostring(L, -1);
  if (action != NULL && strcmp(action, "reset") == 0)
    f->action = SBX_ACT_RESET;
  else if (action != NULL && strcmp(action, "truncate") == 0)
    f->action = SBX_ACT_TRUNCATE;
  else if (action != NULL && strcmp(action, "drip") == 0)
    f->action = SBX_ACT_DRIP;
  lua_pop(L, 1);
  if (f->action == SBX_ACT_TRUNCATE)
    f->truncate_at = (size_t)sbx_field_number(L, idx, "truncate_at", 0, (double)SBX_BODY_LIMIT);
  if (f->action == SBX_ACT_DRIP) {
    f->chunk = (size_t)sbx_field_number(L, idx, "chunk", 1, (double)SBX_BODY_LIMIT);
    f->interval = sbx_field_number(L, idx, "interval", 0, 60);
  }
}

/* Body source for truncated and dripped responses; freed by libmicrohttpd with the response. */
struct sbx_drip {
  struct MHD_Connection *conn;
  struct sbx_timers *timers;
  size_t len, limit, chunk;
  double interval, next_due;
  char data[];
};

static ssize_t sbx_drip_read(void *cls, uint64_t pos, char *buf, size_t max) {
  struct sbx_drip *d = cls;
  size_t n;

  if (pos >= d->limit) return MHD_CONTENT_READER_END_WITH_ERROR; /* closes the connection mid-body */
  if (d->chunk != 0) {
    double now = sbx_mono();

    if (now < d->next_due && sbx_timers_add(d->timers, d->conn, d->next_due - now) == 0)
      return 0; /* suspended: called again once the timer resumes the connection */
    d->next_due = now + d->interval;
  }
  n = d->limit - (size_t)pos;
  if (d->chunk != 0 && n > d->chunk) n = d->chunk;
  if (n > max) n = max;
  memcpy(buf, d->data + pos, n);
  return (ssize_t)n;
}

struct MHD_Response *sbx_fault_response(const char *body, size_t len, const struct sbx_fault *f,
                                        struct MHD_Connection *conn, struct sbx_timers *timers) {
  struct sbx_drip *d;
  struct MHD_Response *resp;

  if (f == NULL || (f->action != SBX_ACT_TRUNCATE && f->action != SBX_ACT_DRIP))
    return MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  d = malloc(sizeof *d + len + 1);
  if (d == NULL) return NULL;
  d->conn = conn;
  d->timers = timers;
  d->len = len;
  d->limit = f->truncate_at < len ? f->truncate_at : len;
  d->chunk = f->action == SBX_ACT_DRIP ? f->chunk : 0;
  d->interval = f->interval;
  d->next_due = 0; /* the first chunk goes out at once */
  memcpy(d->data, body, len);
  resp = MHD_create_response_from_callback(len, 4096, sbx_drip_read, d, free);
  if (resp == NULL) free(d);
  return resp;
}

void sbx_fault_reset(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct linger lg = {1, 0};

  /* SO_LINGER 0: close() sends RST, so the client sees "connection reset by peer" */
  if (ci != NULL) (void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}
