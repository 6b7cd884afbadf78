/* read_file(path, max_bytes, timeout) -> text, mode | nil, reason, "FileNotFound" | "FileUnreadable" | "FileTooLarge"
   mode: the permission bits (st_mode & 07777) of the file that was read, from the fstat of the same descriptor (a
   caller refusing a secret in a file that others may read asks the file it read, not a name that may have moved).
   Reads at most max_bytes of a file the library or the command line was given, within `timeout` seconds. Lua's
   io.open would wait forever on a FIFO nobody writes to, and read /dev/zero without end: here the open never waits
   (O_NONBLOCK), a pipe with no writer reads as empty, and a writer that stalls ends the read at the timeout. A
   process substitution (`--client-secret-file <(pass show app)`) still works. The reason never names the path. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lauxlib.h>

#include "vpp.h"

static int fail(lua_State *L, const char *reason, const char *code) {
  luaL_pushfail(L);
  lua_pushstring(L, reason);
  lua_pushstring(L, code);
  return 3;
}

/* Reads into b until end of file, max+1 bytes, or the deadline; 0, or an errno value (ETIMEDOUT at the deadline).
   A read comes first: on a pipe with no writer it returns end of file at once (poll alone would wait). */
static int read_all(int fd, vpp_buf *b, size_t max, double deadline) {
  char chunk[16384];
  while (b->len <= max) {
    size_t want = max + 1 - b->len < sizeof chunk ? max + 1 - b->len : sizeof chunk;
    ssize_t n = read(fd, chunk, want);
    if (n > 0) {
      if (vpp_buf_append(b, chunk, (size_t)n) != 0) return ENOMEM;
      continue;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return errno;
    struct pollfd p = {fd, POLLIN, 0};
    double left = deadline - vpp_now();
    if (left <= 0) return ETIMEDOUT;
    int r = poll(&p, 1, (int)(left * 1000) + 1);
    if (r < 0 && errno != EINTR) return errno;
    if (r == 0) return ETIMEDOUT;
  }
  return 0;
}

static int l_read_file(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  lua_Integer max = luaL_checkinteger(L, 2);
  lua_Number timeout = luaL_checknumber(L, 3);
  luaL_argcheck(L, max >= 0 && max <= (lua_Integer)64 * 1024 * 1024, 2, "from 0 to 64 MiB expected");
  luaL_argcheck(L, timeout > 0 && timeout <= 3600, 3, "from 0 to 3600 seconds expected");
  if (strlen(path) != len) return fail(L, "the path contains a NUL byte", "FileUnreadable");
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno; /* no file by that name: the caller may take the text for something else than a path */
    return fail(L, strerror(e), e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG ? "FileNotFound" : "FileUnreadable");
  }
  struct stat st;
  int e = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (e != 0) {
    close(fd);
    return fail(L, strerror(e), "FileUnreadable");
  }
  vpp_buf b = {0};
  int err = read_all(fd, &b, (size_t)max, vpp_now() + timeout);
  close(fd);
  if (err == 0 && b.len <= (size_t)max) {
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    vpp_buf_free(&b);
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    return 2;
  }
  vpp_buf_free(&b);
  if (err == 0) return fail(L, lua_pushfstring(L, "larger than %s bytes", VPP_INT(max)), "FileTooLarge");
  if (err == ETIMEDOUT) return fail(L, "nothing more came to read within the time allowed", "FileUnreadable");
  return fail(L, strerror(err), "FileUnreadable");
}

/* The failure for a file or directory that group or others may use: the reason names its mode, in octal. */
static int not_private(lua_State *L, const char *what, mode_t mode, const char *fix) {
  char reason[160];
  snprintf(reason, sizeof reason, "%s (mode %04o; %s)", what, (unsigned)(mode & 07777), fix);
  return fail(L, reason, "NotPrivate");
}

/* private_dir(path) -> true | nil, reason
   Makes the directory (mode 0700) if it is missing, then requires it to be a directory, not a symbolic link,
   owned by the effective user and closed to group and others: where a per-user cache may keep a secret. */
static int l_private_dir(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  if (strlen(path) != len) return fail(L, "the path contains a NUL byte", "FileUnreadable");
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return fail(L, strerror(errno), "FileUnreadable");
  struct stat st;
  if (lstat(path, &st) != 0) return fail(L, strerror(errno), "FileUnreadable");
  if (!S_ISDIR(st.st_mode)) return fail(L, "it is not a directory (or it is a symbolic link)", "NotPrivate");
  if (st.st_uid != geteuid()) return fail(L, "it is owned by another user", "NotPrivate");
  if ((st.st_mode & 077) != 0) return not_private(L, "group or others may use it", st.st_mode, "chmod 700 it");
  lua_pushboolean(L, 1);
  return 1;
}

/* check_private(path) -> true | nil, reason, "FileNotFound" | "FileUnreadable" | "NotPrivate"
   Whether the file is a regular file (not a symbolic link) owned by the effective user that no group or other
   user may read or write. */
static int l_check_private(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  if (strlen(path) != len) return fail(L, "the path contains a NUL byte", "FileUnreadable");
  struct stat st;
  if (lstat(path, &st) != 0) {
    int e = errno;
    return fail(L, strerror(e), e == ENOENT || e == ENOTDIR ? "FileNotFound" : "FileUnreadable");
  }
  if (!S_ISREG(st.st_mode)) return fail(L, "it is not a regular file (or it is a symbolic link)", "NotPrivate");
  if (st.st_uid != geteuid()) return fail(L, "it is owned by another user", "NotPrivate");
  if ((st.st_mode & 077) != 0)
    return not_private(L, "group or others may read or change it", st.st_mode, "chmod 600 it");
  lua_pushboolean(L, 1);
  return 1;
}

/* write_new_private(path, text) -> true | nil, reason
   Creates the file, which must not exist (O_EXCL; a symbolic link in its place is refused: O_NOFOLLOW), with mode
   0600, writes all of text and syncs it. On failure the file is removed. For a temporary file that is then renamed
   over the real one, so a reader sees the old content or the new, never part of it. */
static int l_write_new_private(lua_State *L) {
  size_t len, n;
  const char *path = luaL_checklstring(L, 1, &len);
  const char *text = luaL_checklstring(L, 2, &n);
  if (strlen(path) != len) return fail(L, "the path contains a NUL byte", "FileUnreadable");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(L, strerror(errno), "FileUnreadable");
  int e = 0;
  size_t done = 0;
  while (done < n && e == 0) {
    ssize_t w = write(fd, text + done, n - done);
    if (w > 0)
      done += (size_t)w;
    else if (w < 0 && errno != EINTR)
      e = errno;
  }
  if (e == 0 && fsync(fd) != 0) e = errno;
  if (close(fd) != 0 && e == 0) e = errno;
  if (e != 0) {
    unlink(path);
    return fail(L, strerror(e), "FileUnreadable");
  }
  lua_pushboolean(L, 1);
  return 1;
}

void vpp_open_fs(lua_State *L) {
  lua_pushcfunction(L, l_private_dir);
  lua_setfield(L, -2, "private_dir");
  lua_pushcfunction(L, l_check_private);
  lua_setfield(L, -2, "check_private");
  lua_pushcfunction(L, l_write_new_private);
  lua_setfield(L, -2, "write_new_private");
  lua_pushcfunction(L, l_read_file);
  lua_setfield(L, -2, "read_file");
}
