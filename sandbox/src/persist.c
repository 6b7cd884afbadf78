/* native.write_atomic(path, data): replaces a file so that a crash at any moment leaves either
 * the old or the new content: write a new PATH.sandbox-save-XXXXXX (mkstemp: created exclusively, mode 0600, so a
 * file or symlink planted there is never followed), fsync it, rename it over PATH, fsync the directory.
 * native.create_private(path): creates path (mode 0600) unless it exists; never through a symlink.
 * native.remove_stale_copies(path, head): removes the PATH.sandbox-save-XXXXXX a save killed mid-write (SIGKILL, a
 * crash, a power cut) left behind, each a copy of the store and its secrets; see sbx_remove_stale_copies. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "sandbox.h"

/* What write_atomic appends to the path for mkstemp. Versions before it used ".XXXXXX". */
#define SBX_SAVE_SUFFIX ".sandbox-save-XXXXXX"
#define SBX_OLD_SUFFIX ".XXXXXX"

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

/* The directory holding path ("." or "/" or a string pushed on L, which keeps it). */
static const char *sbx_dir_of(lua_State *L, const char *path) {
  const char *slash = strrchr(path, '/');

  if (slash == NULL) return ".";
  if (slash == path) return "/";
  return lua_pushlstring(L, path, (size_t)(slash - path));
}

/* fsync of the directory holding path, so the rename itself is durable. */
static void sbx_sync_dir(lua_State *L, const char *path) {
  int fd = open(sbx_dir_of(L, path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

static int sbx_write_atomic(lua_State *L) {
  size_t len, plen;
  const char *path = luaL_checklstring(L, 1, &plen);
  const char *data = luaL_checklstring(L, 2, &len);
  char *tmp = lua_newuserdatauv(L, plen + sizeof SBX_SAVE_SUFFIX, 0); /* owned by Lua: no cleanup path */
  int fd, err = 0;

  memcpy(tmp, path, plen);
  memcpy(tmp + plen, SBX_SAVE_SUFFIX, sizeof SBX_SAVE_SUFFIX);
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

/* Is name what mkstemp made of base + suffix (whose last 6 characters are the Xs: letters or digits there)? */
static int sbx_is_temp_name(const char *name, const char *base, size_t blen, const char *suffix) {
  size_t slen = strlen(suffix), i;

  if (strlen(name) != blen + slen || memcmp(name, base, blen) != 0 || memcmp(name + blen, suffix, slen - 6) != 0)
    return 0;
  for (i = blen + slen - 6; i < blen + slen; i++)
    if (!isalnum((unsigned char)name[i])) return 0;
  return 1;
}

/* Is the entry name in dirfd a copy of a store: a regular file (not followed if a symlink) owned by this user,
 * empty or starting with head or a part of it? With cut_short, only a copy that is not empty and does not end as a
 * whole store does ("}\n"): under the old name shape a whole store may be a user's backup (FILE.backup), and stays. */
static int sbx_is_stale_copy(int dirfd, const char *name, const char *head, size_t hlen, int cut_short) {
  char buf[128];
  struct stat st;
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), ok = 0;

  if (fd < 0) return 0;
  if (hlen > sizeof buf) hlen = sizeof buf;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
    size_t got = 0;

    while (got < hlen) {
      ssize_t r = read(fd, buf + got, hlen - got);

      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
    }
    ok = memcmp(buf, head, got) == 0;
    if (ok && cut_short && st.st_size == 0) ok = 0; /* holds no secret, and may be anyone's */
    if (ok && cut_short && st.st_size >= 2) {
      char tail[2];

      ok = pread(fd, tail, 2, st.st_size - 2) != 2 || tail[0] != '}' || tail[1] != '\n';
    }
  }
  close(fd);
  return ok;
}

/* native.remove_stale_copies(path, head): removes every file of path's directory named as write_atomic names its
 * copies (PATH.sandbox-save-XXXXXX) that is a copy of a store, and every PATH.XXXXXX (older versions' name) that is a
 * store cut short (sbx_is_stale_copy); returns how many it removed. A file of another shape, owner or content is
 * left alone. */
static int sbx_remove_stale_copies(lua_State *L) {
  size_t hlen;
  const char *path = luaL_checkstring(L, 1);
  const char *head = luaL_checklstring(L, 2, &hlen);
  const char *slash = strrchr(path, '/');
  const char *base = slash != NULL ? slash + 1 : path;
  size_t blen = strlen(base);
  lua_Integer removed = 0;
  /* a path ending in '/' names no file: nothing of it to remove */
  DIR *d = blen > 0 ? opendir(sbx_dir_of(L, path)) : NULL;

  if (d != NULL) {
    const struct dirent *e;

    while ((e = readdir(d)) != NULL) {
      int ours = sbx_is_temp_name(e->d_name, base, blen, SBX_SAVE_SUFFIX);
      int old = !ours && sbx_is_temp_name(e->d_name, base, blen, SBX_OLD_SUFFIX);

      if ((ours || old) && sbx_is_stale_copy(dirfd(d), e->d_name, head, hlen, old) &&
          unlinkat(dirfd(d), e->d_name, 0) == 0)
        removed++;
    }
    closedir(d);
  }
  lua_pushinteger(L, removed);
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
  lua_pushcfunction(L, sbx_remove_stale_copies);
  lua_setfield(L, -2, "remove_stale_copies");
}
