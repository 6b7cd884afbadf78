/* The session's reactor: calls driven from outside, never blocking (vpptoken.async). A second multi handle beside
   request_many's, with libcurl's socket and timer callbacks feeding one epoll descriptor and one deadline, sharing
   the session's CURLSH. The host watches pollfd() for reading and wakes after timeout() seconds (cqueues' pollable
   protocol: a session can go straight to cqueues.poll), then calls step(), which never waits: ready descriptors and
   a due deadline go to curl_multi_socket_action, due retries start, and the calls that ended come back as
   { id, result } with result as request_many gives it. Retries, redirects and the non-repeatable-POST rule are
   transfer.c's, as for session:request. cancel(id) ends a call at any moment and frees what it held. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "vpp.h"

#ifdef __linux__
#include <sys/epoll.h>
#else
#error "the reactor needs epoll (Linux); kqueue is not written yet"
#endif

#define MAX_IDLE 8      /* transfers kept for the next calls once theirs ended */
#define MAX_READY 64    /* descriptors taken from epoll per round of step() */
#define MAX_ROUNDS 8    /* rounds of one step(): it ends even when libcurl keeps asking for more */
#define MAX_CALLS 10000 /* calls under way on one session */

enum { CALL_WAITING, CALL_RUNNING };

typedef struct vpp_call {
  vpp_transfer t; /* first: libcurl's CURLOPT_PRIVATE points at t, which is the call */
  int state;
  struct vpp_call *next;
} vpp_call;

struct vpp_reactor {
  CURLM *multi;
  int epfd;
  double deadline; /* libcurl's timer, on vpp_now()'s clock; < 0 for none */
  vpp_call *live;  /* calls under way */
  vpp_call *idle;  /* transfers ready for reuse */
  int n_live, n_idle;
  int plans; /* registry reference: a table id -> what call id needs (strings, header set) */
  int next_id;
};

/* ---- libcurl's callbacks ---- */

/* Keeps the epoll set to what libcurl wants watched: a change of a watched descriptor, else an addition. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)e;
  (void)socketp;
  const vpp_reactor *r = userp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL); /* fails harmlessly when the kernel dropped it on close */
    return 0;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static int on_timer(CURLM *m, long ms, void *userp) {
  (void)m;
  vpp_reactor *r = userp;
  r->deadline = ms < 0 ? -1 : vpp_now() + (double)ms / 1000.0;
  return 0;
}

/* ---- the reactor's life ---- */

static vpp_reactor *reactor_of(lua_State *L, vpp_session *s) {
  if (s->reactor) return s->reactor;
  vpp_reactor *r = calloc(1, sizeof *r);
  if (!r) {
    luaL_error(L, "out of memory");
    return NULL;
  }
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  r->multi = r->epfd >= 0 ? curl_multi_init() : NULL;
  if (!r->multi) {
    if (r->epfd >= 0) close(r->epfd);
    free(r);
    luaL_error(L, "cannot create the session's reactor (epoll, libcurl multi handle)");
    return NULL;
  }
  r->deadline = -1;
  r->next_id = 1;
  curl_multi_setopt(r->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)VPP_MAX_CONCURRENCY);
  curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
  curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
  lua_newtable(L);
  r->plans = luaL_ref(L, LUA_REGISTRYINDEX);
  s->reactor = r;
  return r;
}

static void call_free(vpp_call *c) {
  vpp_transfer_free(&c->t);
  free(c);
}

void vpp_reactor_free(lua_State *L, vpp_session *s) {
  vpp_reactor *r = s->reactor;
  if (!r) return;
  s->reactor = NULL;
  for (vpp_call *c = r->live, *n; c; c = n) {
    n = c->next;
    if (c->state == CALL_RUNNING) curl_multi_remove_handle(r->multi, c->t.curl);
    call_free(c);
  }
  for (vpp_call *c = r->idle, *n; c; c = n) {
    n = c->next;
    call_free(c);
  }
  curl_multi_cleanup(r->multi);
  close(r->epfd);
  luaL_unref(L, LUA_REGISTRYINDEX, r->plans);
  free(r);
}

/* A transfer for a new call: an idle one, or a copy of the main handle's options. */
static vpp_call *call_new(lua_State *L, vpp_session *s, vpp_reactor *r) {
  vpp_call *c = r->idle;
  if (c) {
    r->idle = c->next;
    r->n_idle--;
    return c;
  }
  c = malloc(sizeof *c);
  if (!c) {
    luaL_error(L, "out of memory");
    return NULL;
  }
  CURL *h = curl_easy_duphandle(s->main.curl);
  if (!h) {
    free(c);
    luaL_error(L, "cannot create a libcurl handle");
    return NULL;
  }
  curl_easy_setopt(h, CURLOPT_SHARE, s->share); /* a duplicate does not inherit the share */
  vpp_transfer_init(&c->t, h, s->max_body, s->timeout_ms);
  c->t.multiplex = s->http2;
  return c;
}

/* Ends call c (already out of the live list and the multi handle): forgets its plan, keeps or frees its transfer. */
static void call_release(lua_State *L, vpp_reactor *r, vpp_call *c) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->plans);
  lua_pushnil(L);
  lua_rawseti(L, -2, c->t.index);
  lua_pop(L, 1);
  curl_easy_setopt(c->t.curl, CURLOPT_HTTPHEADER, NULL); /* the plan's header set may be collected now */
  c->t.hs = NULL;
  c->t.index = 0;
  if (r->n_idle < MAX_IDLE) {
    vpp_buf_free(&c->t.body); /* an idle transfer holds no answer */
    vpp_buf_free(&c->t.headers);
    c->next = r->idle;
    r->idle = c;
    r->n_idle++;
  } else {
    call_free(c);
  }
}

static void unlink_call(vpp_reactor *r, vpp_call *c) {
  for (vpp_call **p = &r->live; *p; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      r->n_live--;
      return;
    }
  }
}

static void start_attempt(vpp_reactor *r, vpp_call *c) {
  vpp_transfer_attempt(&c->t);
  c->state = CALL_RUNNING;
  curl_multi_add_handle(r->multi, c->t.curl); /* libcurl's timer callback asks for a step at once */
}

/* ---- the methods ---- */

/* session:start(method, url [, headers [, body [, mode]]]) -> id
   Starts a call, checked as session:request checks it, and returns at once; its result comes from step(). */
int vpp_l_start(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  const char *method = luaL_checkstring(L, 2);
  size_t url_len;
  const char *url = luaL_checklstring(L, 3, &url_len);
  static const char *const modes[] = {"default", "imds", NULL};
  int imds = luaL_checkoption(L, 6, "default", modes) == 1;
  if (imds && !lua_isnoneornil(L, 5)) luaL_argerror(L, 5, "the imds mode sends no body");
  vpp_url checked = {0};
  (imds ? vpp_check_request_imds : vpp_check_request)(L, "start: ", method, url, url_len, &checked, NULL);
  lua_settop(L, 5);
  const vpp_headers *hs = vpp_to_headers(L, "start: ", 4); /* a table becomes a set, at index 4 */
  size_t blen = 0;
  const char *body = lua_isnoneornil(L, 5) ? NULL : luaL_checklstring(L, 5, &blen);
  vpp_reactor *r = reactor_of(L, s);
  if (r->n_live >= MAX_CALLS) return luaL_error(L, "start: more than %d calls under way", MAX_CALLS);
  int id = r->next_id;
  r->next_id = r->next_id >= 0x7fffffff ? 1 : r->next_id + 1;
  /* The plan keeps what libcurl reads during the call (it copies neither the body nor the header list). */
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->plans);
  lua_createtable(L, 4, 0);
  for (int i = 2; i <= 5; i++) {
    lua_pushvalue(L, i);
    lua_rawseti(L, -2, i - 1);
  }
  lua_rawseti(L, -2, id);
  lua_pop(L, 1);
  vpp_call *c = call_new(L, s, r);
  c->t.imds = imds;
  vpp_transfer_begin(&c->t, &s->rng, method, url, &checked, hs, body, blen);
  c->t.index = id;
  c->next = r->live;
  r->live = c;
  r->n_live++;
  start_attempt(r, c);
  lua_pushinteger(L, id);
  return 1;
}

/* Moves the calls whose attempt ended: a retry (or a redirect hop) waits for its time, and a retry goes into the
   table at index `retries` as { id, event } (vpp_push_retry_event's); a call that is over goes into the table at
   index `done` as { id, result }. */
static void collect(lua_State *L, vpp_session *s, vpp_reactor *r, int done, int *got, int retries, int *waits) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(r->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    vpp_transfer *t = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    CURLcode rc = msg->data.result;
    vpp_call *c = (vpp_call *)t;
    curl_multi_remove_handle(r->multi, t->curl);
    c->state = CALL_WAITING;
    double delay = vpp_transfer_outcome(t, rc, &s->retry, &s->rng);
    if (delay >= 0) {
      t->next_at = vpp_now() + delay;
      if (t->hops == 0) { /* a retry, not a redirect hop */
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, t->index);
        lua_rawseti(L, -2, 1);
        vpp_push_retry_event(L, t, &s->retry, delay);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, retries, ++*waits);
      }
      continue;
    }
    unlink_call(r, c);
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, t->index);
    lua_rawseti(L, -2, 1);
    vpp_transfer_push_result(L, t, rc);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, done, ++*got);
    call_release(L, r, c);
  }
}

/* session:step() -> { { id, result }, ... }, { { id, retry event }, ... }: never waits. The first table holds the
   calls that ended, the second the retries decided (each with the table an on_retry hook gets). */
int vpp_l_step(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  vpp_reactor *r = s->reactor;
  lua_settop(L, 1);
  lua_newtable(L); /* 2: the calls that ended */
  lua_newtable(L); /* 3: the retries */
  if (!r) return 2;
  int got = 0, waits = 0;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    struct epoll_event evs[MAX_READY];
    int running = 0, more = 0;
    int n = epoll_wait(r->epfd, evs, MAX_READY, 0);
    for (int i = 0; i < n; i++) {
      int mask = 0;
      if (evs[i].events & (EPOLLIN | EPOLLHUP)) mask |= CURL_CSELECT_IN;
      if (evs[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
      if (evs[i].events & EPOLLERR) mask |= CURL_CSELECT_ERR;
      curl_multi_socket_action(r->multi, evs[i].data.fd, mask, &running);
    }
    if (r->deadline >= 0 && r->deadline <= vpp_now()) {
      r->deadline = -1;
      curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    collect(L, s, r, 2, &got, 3, &waits);
    double now = vpp_now();
    for (vpp_call *c = r->live; c; c = c->next) {
      if (c->state == CALL_WAITING && c->t.next_at <= now) {
        start_attempt(r, c);
        more = 1;
      }
    }
    if (!more && n < MAX_READY && !(r->deadline >= 0 && r->deadline <= vpp_now())) break;
  }
  return 2;
}

/* session:cancel(id) -> found, may_have_been_sent
   Ends the call at once: its handle leaves the multi handle and what it held is freed; step() never returns it.
   may_have_been_sent: a request that must not be repeated (POST) was on its way or sent, so it may have been
   carried out. */
int vpp_l_cancel(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  vpp_reactor *r = s->reactor;
  vpp_call *c = r ? r->live : NULL;
  while (c && c->t.index != id) c = c->next;
  if (!c) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int sent = 0;
  if (c->state == CALL_RUNNING) {
    long size = 0;
    curl_easy_getinfo(c->t.curl, CURLINFO_REQUEST_SIZE, &size);
    sent = c->t.guard_resend && (c->t.awaiting_answer || size > 0);
    curl_multi_remove_handle(r->multi, c->t.curl);
  }
  unlink_call(r, c);
  call_release(L, r, c);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, sent);
  return 2;
}

/* session:pollfd() -> the descriptor to watch for reading (the reactor's epoll descriptor) */
int vpp_l_pollfd(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  lua_pushinteger(L, reactor_of(L, s)->epfd);
  return 1;
}

/* session:events() -> "r" */
int vpp_l_events(lua_State *L) {
  vpp_check_session(L, 1);
  lua_pushliteral(L, "r");
  return 1;
}

/* session:timeout() -> seconds until step() has work without a ready descriptor (0: now), or nil for none */
int vpp_l_timeout(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  vpp_reactor *r = s->reactor;
  if (!r || r->n_live == 0) return 0;
  double at = r->deadline;
  for (vpp_call *c = r->live; c; c = c->next)
    if (c->state == CALL_WAITING && (at < 0 || c->t.next_at < at)) at = c->t.next_at;
  if (at < 0) return 0;
  double d = at - vpp_now();
  lua_pushnumber(L, d > 0 ? d : 0);
  return 1;
}

/* session:pending() -> the number of calls under way (started, not yet returned by step() or cancelled) */
int vpp_l_pending(lua_State *L) {
  vpp_session *s = vpp_check_session(L, 1);
  lua_pushinteger(L, s->reactor ? s->reactor->n_live : 0);
  return 1;
}
