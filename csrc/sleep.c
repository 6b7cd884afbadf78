/* Waiting without busy-looping, for the polling helpers (wait_for_sync) and $batch: sleep(seconds), monotonic(),
   and retry_after(text), how long a Retry-After says to wait. */
#include <math.h>
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

void vpp_open_sleep(lua_State *L) {
  lua_pushcfunction(L, l_retry_after);
  lua_setfield(L, -2, "retry_after");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_monotonic);
  lua_setfield(L, -2, "monotonic");
}
