/* native.write_atomic(path, data): replaces a file so that a crash at any moment leaves either
 * the old or the new content: write a new PATH.XXXXXX (mkstemp: created exclusively, mode 0600, so a
 * file or symlink planted there is never followed), fsync it, rename it over PATH, fsync the directory.
 * native.create_private(path): creates path (mode 0600) unless it exists; never through a symlink. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
  size_t len, plen;
  const char *path = luaL_checklstring(L, 1, &plen);
  const char *data = luaL_checklstring(L, 2, &len);
  char *tmp = lua_newuserdatauv(L, plen + sizeof ".XXXXXX", 0); /* owned by Lua: no cleanup path */
  int fd, err = 0;

  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".XXXXXX", sizeof ".XXXXXX");
  fd = mkstemp(tmp);
  if (fd < 0) {
    err = errno;
  } else {
    (void)fchmod(fd, 0600);
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

static int sbx_create_private(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

  if (fd < 0 && errno != EEXIST) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  if (fd >= 0) close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

void sbx_native_extend(lua_State *L) {
  lua_pushcfunction(L, sbx_write_atomic);
  lua_setfield(L, -2, "write_atomic");
  lua_pushcfunction(L, sbx_create_private);
  lua_setfield(L, -2, "create_private");
}
