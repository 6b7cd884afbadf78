/* Waiting without busy-looping, for the polling helpers (wait_for_sync) and $batch: sleep(seconds), monotonic(),
   poll(fds, seconds) (vpptoken.async's own loop), and retry_after(text), how long a Retry-After says to wait. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include <lauxlib.h>

#include "vpp.h"

#define MAX_SLEEP_SECONDS 86400.0

/* sleep(seconds): suspends the calling thread; seconds may be fractional (0 returns at once).
   Raises on a negative, non-finite or over-a-day value. Resumes after a signal interrupts it. */
static int l_sleep(lua_State *L) {
  lua_Number d = luaL_checknumber(L, 1);
  luaL_argcheck(L, isfinite(d) && d >= 0 && d <= MAX_SLEEP_SECONDS, 1, "seconds must be a number from 0 to 86400");
  vpp_sleep_seconds(d);
  return 0;
}

/* monotonic() -> seconds (float) on a clock that never jumps; only differences mean anything. */
static int l_monotonic(lua_State *L) {
  lua_pushnumber(L, vpp_now());
  return 1;
}

/* retry_after(text) -> seconds | nil: a Retry-After value (delay-seconds or an HTTP-date) as the transfers read it,
   for the answers the transport does not see itself ($batch sub-responses). */
static int l_retry_after(lua_State *L) {
  const char *v = luaL_optstring(L, 1, NULL);
  double d = vpp_retry_after_parse(v, time(NULL));
  if (d < 0) return 0;
  lua_pushnumber(L, d);
  return 1;
}

#define MAX_POLL_FDS 1024

/* poll(fds, seconds) -> { [fd] = true, ... }: waits until one of the descriptors (an array of integers) is readable
   or the seconds pass (a signal ends the wait early: the table is then empty). vpptoken.async's own loop. */
static int l_poll(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Number d = luaL_checknumber(L, 2);
  luaL_argcheck(L, isfinite(d) && d >= 0 && d <= MAX_SLEEP_SECONDS, 2, "seconds must be a number from 0 to 86400");
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  luaL_argcheck(L, n <= MAX_POLL_FDS, 1, "at most 1024 descriptors");
  struct pollfd fds[MAX_POLL_FDS];
  for (lua_Integer i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (int)(i + 1));
    int isnum;
    lua_Integer fd = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    luaL_argcheck(L, isnum && fd >= 0 && fd <= 0x7fffffff, 1, "descriptors must be whole numbers >= 0");
    fds[i].fd = (int)fd;
    fds[i].events = POLLIN;
    fds[i].revents = 0;
  }
  int ms = (int)ceil(d * 1000);
  int got = poll(fds, (nfds_t)n, ms);
  lua_newtable(L);
  for (lua_Integer i = 0; got > 0 && i < n; i++) {
    if (fds[i].revents) {
      lua_pushboolean(L, 1);
      lua_rawseti(L, -2, fds[i].fd);
    }
  }
  return 1;
}

void vpp_open_sleep(lua_State *L) {
  lua_pushcfunction(L, l_retry_after);
  lua_setfield(L, -2, "retry_after");
  lua_pushcfunction(L, l_poll);
  lua_setfield(L, -2, "poll");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_monotonic);
  lua_setfield(L, -2, "monotonic");
}
