/* The terminal: core.terminal_width(fd) for the command line (tables and the progress line fit the screen). */
#include <sys/ioctl.h>
#include <unistd.h>

#include <lauxlib.h>

#include "vpp.h"

/* terminal_width(fd) -> columns | nil: the width of the terminal on file descriptor fd (0 stdin, 1 stdout,
   2 stderr), or nil when fd is not a terminal or reports no width. */
static int l_terminal_width(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= 1024, 1, "fd must be a file descriptor number from 0 to 1024");
  struct winsize ws;
  if (!isatty((int)fd) || ioctl((int)fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushinteger(L, ws.ws_col);
  return 1;
}

void vpp_open_term(lua_State *L) {
  lua_pushcfunction(L, l_terminal_width);
  lua_setfield(L, -2, "terminal_width");
}
