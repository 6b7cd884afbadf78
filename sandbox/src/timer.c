/* Timers that resume suspended libmicrohttpd connections: injected latency and slow-drip bodies.
 * The MHD thread suspends a connection and adds a deadline; one timer thread sleeps until the
 * earliest deadline and resumes the connection (MHD_resume_connection is safe from any thread when
 * the daemon has MHD_USE_ITC). The timer thread never touches Lua. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sandbox.h"

struct sbx_timer {
  struct MHD_Connection *conn;
  struct timespec due;
};

struct sbx_timers {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  pthread_t thread;
  struct sbx_timer *items;
  size_t n, cap;
  int stopping;
};

static int sbx_ts_before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Resumes every connection due at now; called with the mutex held. */
static void sbx_timers_fire(struct sbx_timers *t, const struct timespec *now) {
  size_t i = 0;

  while (i < t->n) {
    if (!sbx_ts_before(now, &t->items[i].due)) {
      MHD_resume_connection(t->items[i].conn);
      t->items[i] = t->items[t->n - 1];
      t->n--;
    } else {
      i++;
    }
  }
}

static void *sbx_timers_main(void *arg) {
  struct sbx_timers *t = arg;

  pthread_mutex_lock(&t->mu);
  while (!t->stopping) {
    struct timespec now, next;
    size_t i;

    clock_gettime(CLOCK_MONOTONIC, &now);
    sbx_timers_fire(t, &now);
    if (t->n == 0) {
      pthread_cond_wait(&t->cv, &t->mu);
      continue;
    }
    next = t->items[0].due;
    for (i = 1; i < t->n; i++)
      if (sbx_ts_before(&t->items[i].due, &next)) next = t->items[i].due;
    (void)pthread_cond_timedwait(&t->cv, &t->mu, &next);
  }
  while (t->n > 0) /* stopping: resume everyone */
    MHD_resume_connection(t->items[--t->n].conn);
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

struct sbx_timers *sbx_timers_start(void) {
  struct sbx_timers *t = calloc(1, sizeof *t);
  pthread_condattr_t ca;
  int ok;

  if (t == NULL) return NULL;
  if (pthread_mutex_init(&t->mu, NULL) != 0) {
    free(t);
    return NULL;
  }
  ok = pthread_condattr_init(&ca) == 0;
  if (ok) {
    ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&t->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (!ok) {
    pthread_mutex_destroy(&t->mu);
    free(t);
    return NULL;
  }
  if (pthread_create(&t->thread, NULL, sbx_timers_main, t) != 0) {
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return NULL;
  }
  return t;
}

int sbx_timers_add(struct sbx_timers *t, struct MHD_Connection *conn, double seconds) {
  struct timespec due;
  long long ns;
  int rc = 0;

  if (t == NULL) return -1;
  if (seconds < 0) seconds = 0;
  if (seconds > 3600) seconds = 3600;
  clock_gettime(CLOCK_MONOTONIC, &due);
  ns = (long long)due.tv_nsec + (long long)(seconds * 1e9);
  due.tv_sec += (time_t)(ns / 1000000000LL);
  due.tv_nsec = (long)(ns % 1000000000LL);

  pthread_mutex_lock(&t->mu);
  if (t->stopping) {
    rc = -1;
  } else {
    if (t->n == t->cap) {
      size_t cap = t->cap != 0 ? t->cap * 2 : 64;
      struct sbx_timer *p = realloc(t->items, cap * sizeof *p);

      if (p == NULL)
        rc = -1;
      else {
        t->items = p;
        t->cap = cap;
      }
    }
    if (rc == 0) {
      /* suspended under the lock, so the timer thread cannot resume it first */
      MHD_suspend_connection(conn);
      t->items[t->n].conn = conn;
      t->items[t->n].due = due;
      t->n++;
      pthread_cond_signal(&t->cv);
    }
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

void sbx_timers_stop(struct sbx_timers *t) {
  if (t == NULL) return;
  pthread_mutex_lock(&t->mu);
  if (t->stopping) {
    pthread_mutex_unlock(&t->mu);
    return;
  }
  t->stopping = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  pthread_join(t->thread, NULL);
}

void sbx_timers_free(struct sbx_timers *t) {
  if (t == NULL) return;
  sbx_timers_stop(t);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
  free(t->items);
  free(t);
}
