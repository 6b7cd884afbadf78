/* Ctrl-C for a run that must end cleanly (the CLI over many tenants): catch_interrupt(on) puts a SIGINT handler in
   place (or the one before back), which only notes the signal and breaks a wait in poll(); interrupted() says
   whether one came since the last ask. */
#include <signal.h>
#include <string.h>

#include <lauxlib.h>

#include "vpp.h"

static volatile sig_atomic_t got_interrupt;
static struct sigaction before;
static int catching;

static void on_interrupt(int sig) {
  (void)sig;
  got_interrupt = 1;
}

/* catch_interrupt(on): on = true catches SIGINT (no SA_RESTART: a wait ends at once); false restores the handler
   there was. */
static int l_catch_interrupt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  int on = lua_toboolean(L, 1);
  if (on && !catching) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    got_interrupt = 0;
    if (sigaction(SIGINT, &sa, &before) != 0) return luaL_error(L, "catch_interrupt: cannot set a SIGINT handler");
    catching = 1;
  } else if (!on && catching) {
    sigaction(SIGINT, &before, NULL);
    catching = 0;
  }
  return 0;
}

/* interrupted() -> whether SIGINT came since the last call (while caught) */
static int l_interrupted(lua_State *L) {
  lua_pushboolean(L, got_interrupt != 0);
  got_interrupt = 0;
  return 1;
}

void vpp_open_interrupt(lua_State *L) {
  lua_pushcfunction(L, l_catch_interrupt);
  lua_setfield(L, -2, "catch_interrupt");
  lua_pushcfunction(L, l_interrupted);
  lua_setfield(L, -2, "interrupted");
}
