/* --request-timeout: a deadline on each request's arrival, which libmicrohttpd 0.9.75 does not have (its
 * connection timeout counts idle time, so a client sending one byte every few seconds keeps a connection, and with
 * enough of them every connection slot, forever: slowloris).
 *
 * Every connection is watched from the moment it opens (MHD_OPTION_NOTIFY_CONNECTION) and again from the end of
 * each answer (MHD_OPTION_NOTIFY_COMPLETED) until its request has fully arrived (the last call of the access
 * handler). One thread, which never touches libmicrohttpd or Lua, wakes when the earliest watch is due and shuts
 * the late connection's socket down (shutdown(2): the descriptor stays open and libmicrohttpd's), so that
 * libmicrohttpd reads end-of-file and closes it as it closes any connection the client left. A watch leaves the
 * list, under the same mutex, when libmicrohttpd reports the connection closed, which it does before it closes
 * the descriptor: the thread never shuts down a descriptor that has been reused.
 *
 * A deadline is the client's to meet, not the sandbox's: when one passes while bytes the client sent wait unread
 * in the socket (the one server thread was busy elsewhere, as under valgrind), the connection gets another period
 * instead. A trickling client has nothing waiting: the server reads each byte as it comes. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "sandbox.h"

struct sbx_watch {
  struct sbx_watch *prev, *next;
  int fd;
  int armed; /* waiting for a request to arrive by due */
  struct timespec due;
};

struct sbx_deadlines {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  pthread_t thread;
  struct sbx_watch *head;
  long seconds;
  int stopping;
};

static int sbx_before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Has the client sent bytes that the server has not read yet? */
static int sbx_unread(int fd) {
  int n = 0;

  return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void *sbx_deadlines_main(void *arg) {
  struct sbx_deadlines *d = arg;

  pthread_mutex_lock(&d->mu);
  while (!d->stopping) {
    struct timespec now, next = {0, 0};
    struct sbx_watch *w;
    int any = 0;

    clock_gettime(CLOCK_MONOTONIC, &now);
    for (w = d->head; w != NULL; w = w->next) {
      if (!w->armed) continue;
      if (!sbx_before(&now, &w->due)) {
        if (!sbx_unread(w->fd)) {
          w->armed = 0;
          (void)shutdown(w->fd, SHUT_RDWR);
          continue;
        }
        w->due = now; /* late on the sandbox's side: another period */
        w->due.tv_sec += (time_t)d->seconds;
      }
      if (!any || sbx_before(&w->due, &next)) {
        next = w->due;
        any = 1;
      }
    }
    if (any)
      (void)pthread_cond_timedwait(&d->cv, &d->mu, &next);
    else
      pthread_cond_wait(&d->cv, &d->mu);
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

struct sbx_deadlines *sbx_deadlines_start(long seconds) {
  struct sbx_deadlines *d = calloc(1, sizeof *d);
  pthread_condattr_t ca;
  int ok;

  if (d == NULL) return NULL;
  d->seconds = seconds;
  if (pthread_mutex_init(&d->mu, NULL) != 0) {
    free(d);
    return NULL;
  }
  ok = pthread_condattr_init(&ca) == 0;
  if (ok) {
    ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&d->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (ok && pthread_create(&d->thread, NULL, sbx_deadlines_main, d) != 0) {
    pthread_cond_destroy(&d->cv);
    ok = 0;
  }
  if (!ok) {
    pthread_mutex_destroy(&d->mu);
    free(d);
    return NULL;
  }
  return d;
}

/* (Re)arms w: its next request must have arrived d->seconds from now. Called with the mutex held. */
static void sbx_arm(struct sbx_deadlines *d, struct sbx_watch *w) {
  clock_gettime(CLOCK_MONOTONIC, &w->due);
  w->due.tv_sec += (time_t)d->seconds;
  w->armed = 1;
  pthread_cond_signal(&d->cv);
}

void sbx_deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  struct sbx_deadlines *d = cls;
  struct sbx_watch *w = *socket_context;

  if (d == NULL) return;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    /* out of memory: this connection has no deadline, only the idle timeout */
    if (info == NULL || (w = calloc(1, sizeof *w)) == NULL) return;
    w->fd = info->connect_fd;
    pthread_mutex_lock(&d->mu);
    w->next = d->head;
    if (d->head != NULL) d->head->prev = w;
    d->head = w;
    sbx_arm(d, w);
    pthread_mutex_unlock(&d->mu);
    *socket_context = w;
  } else if (w != NULL) { /* MHD_CONNECTION_NOTIFY_CLOSED: before libmicrohttpd closes the descriptor */
    pthread_mutex_lock(&d->mu);
    if (w->prev != NULL)
      w->prev->next = w->next;
    else
      d->head = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    pthread_mutex_unlock(&d->mu);
    free(w);
    *socket_context = NULL;
  }
}

/* The watch of conn (its socket context), or NULL. */
static struct sbx_watch *sbx_watch_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

  return info != NULL ? info->socket_context : NULL;
}

void sbx_deadlines_arrived(struct sbx_deadlines *d, struct MHD_Connection *conn) {
  struct sbx_watch *w = d != NULL ? sbx_watch_of(conn) : NULL;

  if (w == NULL) return;
  pthread_mutex_lock(&d->mu);
  w->armed = 0;
  pthread_mutex_unlock(&d->mu);
}

void sbx_deadlines_answered(struct sbx_deadlines *d, struct MHD_Connection *conn) {
  struct sbx_watch *w = d != NULL ? sbx_watch_of(conn) : NULL;

  if (w == NULL) return;
  pthread_mutex_lock(&d->mu);
  sbx_arm(d, w);
  pthread_mutex_unlock(&d->mu);
}

void sbx_deadlines_free(struct sbx_deadlines *d) {
  struct sbx_watch *w;

  if (d == NULL) return;
  pthread_mutex_lock(&d->mu);
  d->stopping = 1;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  while ((w = d->head) != NULL) { /* none left once the daemon has stopped; freed all the same */
    d->head = w->next;
    free(w);
  }
  pthread_cond_destroy(&d->cv);
  pthread_mutex_destroy(&d->mu);
  free(d);
}
