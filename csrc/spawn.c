/* run(argv, timeout, max_output) -> { status = exit code | nil, signal = number | nil, stdout, stderr }
   | nil, reason, "NotFound" | "TimedOut" | "TooLarge" | "Failed"
   Runs a program (found on PATH, as execvp does) with exactly these arguments: never through a shell, stdin from
   /dev/null, in a process group of its own. It ends at `timeout` seconds: then the whole group is killed (SIGKILL)
   and reaped. Each of stdout and stderr is read up to max_output bytes; more also kills the group. One owner for
   every resource: the two buffers and the pipes are released on the one way out. Also executable(path). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "vpp.h"

extern char **environ;

#define MAX_ARGS 64

enum { RUN_OK, RUN_TIMEOUT, RUN_TOO_LARGE, RUN_ERROR };

/* Reads what is in fd now into b (one read; a pipe is read again at the next turn). 1 when fd is done (end of
   file or an error), 0 to go on, RUN_TOO_LARGE or RUN_ERROR (negated) to stop. */
static int read_some(int fd, vpp_buf *b, size_t max) {
  char chunk[8192];
  ssize_t got = read(fd, chunk, sizeof chunk);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (got <= 0) return 1;
  if (b->len + (size_t)got > max) return -RUN_TOO_LARGE;
  if (vpp_buf_append(b, chunk, (size_t)got) != 0) return -RUN_ERROR;
  return 0;
}

/* Reads both pipes until the child has exited and they are empty (or closed), the deadline passes or one passes
   max bytes. A program that exits while something it started still holds the pipes (a background helper) ends
   the reading too: what the pipes hold then is read without waiting. *reaped is set when the child was reaped. */
static int drain(pid_t pid, int fds[2], vpp_buf out[2], size_t max, double deadline, int *status, int *reaped) {
  for (;;) {
    struct pollfd p[2];
    int n = 0, which[2];
    for (int i = 0; i < 2; i++)
      if (fds[i] >= 0) p[n] = (struct pollfd){fds[i], POLLIN, 0}, which[n++] = i;
    if (n == 0 && *reaped) return RUN_OK;
    double left = deadline - vpp_now();
    if (left <= 0) return RUN_TIMEOUT;
    int wait_ms = *reaped ? 0 : left < 0.05 ? (int)(left * 1000) + 1 : 50;
    int r = n ? poll(p, (nfds_t)n, wait_ms) : (vpp_sleep_seconds(wait_ms / 1000.0), 0);
    if (r < 0 && errno != EINTR) return RUN_ERROR;
    for (int k = 0; r > 0 && k < n; k++) {
      if (!p[k].revents) continue;
      int i = which[k], done = read_some(fds[i], &out[i], max);
      if (done < 0) return -done;
      if (done) close(fds[i]), fds[i] = -1;
    }
    if (*reaped && r == 0) return RUN_OK; /* exited, and nothing more is waiting in the pipes */
    if (!*reaped) {
      pid_t w = waitpid(pid, status, WNOHANG);
      if (w == pid || (w < 0 && errno == ECHILD)) *reaped = 1;
      if (w < 0 && errno == ECHILD) *status = -1; /* someone else reaped it (SIGCHLD ignored): status unknown */
    }
  }
}

static int l_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Number timeout = luaL_checknumber(L, 2);
  lua_Integer max = luaL_checkinteger(L, 3);
  luaL_argcheck(L, timeout > 0 && timeout <= 3600, 2, "from 0 to 3600 seconds expected");
  luaL_argcheck(L, max > 0 && max <= (lua_Integer)16 * 1024 * 1024, 3, "from 1 byte to 16 MiB expected");
  lua_Integer argc = luaL_len(L, 1);
  if (argc < 1 || argc > MAX_ARGS) return luaL_argerror(L, 1, "a list of 1 to 64 strings expected");
  char *argv[MAX_ARGS + 1];
  for (lua_Integer i = 1; i <= argc; i++) {
    lua_rawgeti(L, 1, i);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (!s || strlen(s) != len) return luaL_argerror(L, 1, "each argument must be a string without NUL bytes");
    argv[i - 1] = (char *)s; /* the strings stay alive in the argument table */
    lua_pop(L, 1);
  }
  argv[argc] = NULL;

  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  vpp_buf out[2] = {{0}, {0}};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int have_fa = 0, have_attr = 0, status = 0, result = RUN_ERROR, err = 0;
  pid_t pid = -1;
  /* our read ends never block (the reading waits in poll); the child's write ends are ordinary */
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      fcntl(out_pipe[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(err_pipe[0], F_SETFL, O_NONBLOCK) != 0) {
    err = errno;
    goto done;
  }
  have_fa = posix_spawn_file_actions_init(&fa) == 0;
  have_attr = have_fa && posix_spawnattr_init(&attr) == 0;
  if (!have_attr || posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2) != 0 ||
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP) != 0 || posix_spawnattr_setpgroup(&attr, 0) != 0) {
    err = ENOMEM;
    goto done;
  }
  /* a path is checked here: where posix_spawn cannot report a failed exec (under valgrind), the child exits 127 */
  if (strchr(argv[0], '/') && access(argv[0], X_OK) != 0) {
    err = errno;
    goto done;
  }
  err = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
  if (err != 0) {
    pid = -1;
    goto done;
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_pipe[1] = err_pipe[1] = -1;
  int fds[2] = {out_pipe[0], err_pipe[0]}, reaped = 0;
  result = drain(pid, fds, out, (size_t)max, vpp_now() + timeout, &status, &reaped);
  out_pipe[0] = fds[0];
  err_pipe[0] = fds[1];
  if (reaped) pid = -1; /* never signal a process group whose leader is gone: its id may be another's now */
done:
  if (pid > 0) { /* still running: the whole group goes, then the child is reaped */
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  for (int i = 0; i < 2; i++) {
    if (out_pipe[i] >= 0) close(out_pipe[i]);
    if (err_pipe[i] >= 0) close(err_pipe[i]);
  }
  if (have_attr) posix_spawnattr_destroy(&attr);
  if (have_fa) posix_spawn_file_actions_destroy(&fa);
  if (err != 0 || result != RUN_OK) {
    vpp_buf_free(&out[0]);
    vpp_buf_free(&out[1]);
    luaL_pushfail(L);
    if (err == ENOENT || err == EACCES || err == ENOTDIR) {
      lua_pushstring(L, strerror(err));
      lua_pushliteral(L, "NotFound");
    } else if (err != 0) {
      lua_pushstring(L, strerror(err));
      lua_pushliteral(L, "Failed");
    } else if (result == RUN_TIMEOUT) {
      lua_pushfstring(L, "it did not finish within %f seconds and was stopped", timeout);
      lua_pushliteral(L, "TimedOut");
    } else if (result == RUN_TOO_LARGE) {
      lua_pushfstring(L, "it wrote more than %s bytes and was stopped", VPP_INT(max));
      lua_pushliteral(L, "TooLarge");
    } else {
      lua_pushstring(L, "reading its output failed");
      lua_pushliteral(L, "Failed");
    }
    return 3;
  }
  lua_createtable(L, 0, 4);
  if (WIFEXITED(status)) {
    lua_pushinteger(L, WEXITSTATUS(status));
    lua_setfield(L, -2, "status");
  } else if (WIFSIGNALED(status)) {
    lua_pushinteger(L, WTERMSIG(status));
    lua_setfield(L, -2, "signal");
  }
  lua_pushlstring(L, out[0].data ? out[0].data : "", out[0].len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, out[1].data ? out[1].data : "", out[1].len);
  lua_setfield(L, -2, "stderr");
  vpp_buf_free(&out[0]);
  vpp_buf_free(&out[1]);
  return 1;
}

/* executable(path) -> whether path is a regular file this process may execute (never opens it: a FIFO is no
   program, and opening one would wait). */
static int l_executable(lua_State *L) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  struct stat st;
  lua_pushboolean(L, strlen(path) == len && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0);
  return 1;
}

void vpp_open_spawn(lua_State *L) {
  lua_pushcfunction(L, l_run);
  lua_setfield(L, -2, "run");
  lua_pushcfunction(L, l_executable);
  lua_setfield(L, -2, "executable");
}
