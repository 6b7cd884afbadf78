/* Ctrl-C for work that must end cleanly (the CLI): catch_interrupt(on) puts a SIGINT handler in place (or, as many
   offs as ons later, the one before back), which only notes the signal: a wait in poll() or sleep() ends, and a
   blocking call under way ends at its next progress callback (transfer.c) with kind "cancelled". interrupted() says
   whether one came since the last ask. */
#include <signal.h>
#include <string.h>

#include <lauxlib.h>

#include "vpp.h"

static volatile sig_atomic_t got_interrupt;
static struct sigaction before;
static int catching; /* how many catch_interrupt(true) are in force */

int vpp_interrupt_catching(void) { return catching > 0; }

int vpp_interrupt_pending(void) { return catching > 0 && got_interrupt; }

static void on_interrupt(int sig) {
  (void)sig;
  got_interrupt = 1;
}

/* catch_interrupt(on): on = true catches SIGINT (no SA_RESTART: a wait ends at once); false undoes one true, and
   the last restores the handler there was. */
static int l_catch_interrupt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  int on = lua_toboolean(L, 1);
  if (on && catching > 0) {
    catching++;
  } else if (on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    got_interrupt = 0;
    if (sigaction(SIGINT, &sa, &before) != 0) return luaL_error(L, "catch_interrupt: cannot set a SIGINT handler");
    catching = 1;
  } else if (catching > 1) {
    catching--;
  } else if (catching == 1) {
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
