/* terminal(fd) -> nil when fd is not a terminal, else { columns = n, rows = n } (each nil when the terminal does
   not say: a size of 0, or no TIOCGWINSZ). For fitting a table to the screen; one ioctl, no child process. */
#include <limits.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <lauxlib.h>

#include "vpp.h"

static int l_terminal(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 1, "file descriptor must be an integer >= 0");
  if (!isatty((int)fd)) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 2);
  struct winsize ws = {0};
  if (ioctl((int)fd, TIOCGWINSZ, &ws) == 0) {
    if (ws.ws_col > 0) {
      lua_pushinteger(L, ws.ws_col);
      lua_setfield(L, -2, "columns");
    }
    if (ws.ws_row > 0) {
      lua_pushinteger(L, ws.ws_row);
      lua_setfield(L, -2, "rows");
    }
  }
  return 1;
}

void vpp_open_term(lua_State *L) {
  lua_pushcfunction(L, l_terminal);
  lua_setfield(L, -2, "terminal");
}
