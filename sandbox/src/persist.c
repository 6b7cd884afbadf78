/* native.write_atomic(path, data): replaces a file so that a crash at any moment leaves either
 * the old or the new content: write PATH.tmp, fsync it, rename it over PATH, fsync the directory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "sandbox.h"

static int sbx_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);

    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static void sbx_sync_dir(lua_State *L, const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dir;
  int fd;

  if (slash == NULL)
    dir = ".";
  else if (slash == path)
    dir = "/";
  else
    dir = lua_pushlstring(L, path, (size_t)(slash - path));
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

static int sbx_write_atomic(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  const char *tmp = lua_pushfstring(L, "%s.tmp", path);
  int fd, err = 0;

  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = errno;
  } else {
    if (sbx_write_all(fd, data, len) != 0 || fsync(fd) != 0) err = errno;
    if (close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && rename(tmp, path) != 0) err = errno;
    if (err != 0) (void)unlink(tmp);
  }
  if (err != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    return 2;
  }
  sbx_sync_dir(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

void sbx_native_extend(lua_State *L) {
  lua_pushcfunction(L, sbx_write_atomic);
  lua_setfield(L, -2, "write_atomic");
}
