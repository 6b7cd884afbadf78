/* Waiting without busy-looping, for the polling helpers (wait_for_sync) and $batch: sleep(seconds), monotonic(). */
#include <math.h>

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

void vpp_open_sleep(lua_State *L) {
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_monotonic);
  lua_setfield(L, -2, "monotonic");
}
