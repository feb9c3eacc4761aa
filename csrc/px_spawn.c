/*
** px_spawn.c: run a command without a shell, for watch's notify rules.
**
** core.spawn(argv, env [, opts]) starts argv[1] (an absolute path, never
** searched in PATH) with exactly the environment given, its own process
** group, default signal handling and no signal blocked, standard input
** from /dev/null and standard output on the caller's standard error (or
** both outputs appended to opts.output). It waits at most opts.timeout
** seconds (default 30): then the group gets SIGTERM and, half a second
** later, SIGKILL. After an interrupt the wait ends with the longest grace
** a client was given. No descriptor but the standard three is inherited.
** Returns "exit", status | "signal", number |
** "timeout" | "cancelled"; nil and a message when it cannot start.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "px.h"

#define PX_SPAWN_MAX_ARGS 256
#define PX_SPAWN_MAX_ENV 1024
#define PX_SPAWN_SLICE 0.01 /* seconds between looks at the child */
#define PX_SPAWN_KILL_WAIT 0.5

/* Checks a string argument without NUL bytes; returns it. */
static const char *px_plain_string(lua_State *L, int idx, int arg, const char *what) {
  size_t len;
  const char *s;
  /* the type first: lua_tolstring would turn a number key into a string */
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "bad argument #%d to 'spawn' (%s: a string expected)", arg, what);
  s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len)
    luaL_error(L, "bad argument #%d to 'spawn' (%s: a string without NUL expected)", arg, what);
  return s;
}

/* argv at index 1 -> a NULL-terminated array in a userdata (pushed); the
** strings stay alive in the argument table. */
static char **px_argv(lua_State *L) {
  lua_Integer i, n;
  char **argv;
  if (!lua_istable(L, 1))
    luaL_error(L, "bad argument #1 to 'spawn' (table expected, got %s)", luaL_typename(L, 1));
  n = (lua_Integer)lua_rawlen(L, 1);
  if (n < 1 || n > PX_SPAWN_MAX_ARGS)
    luaL_error(L, "bad argument #1 to 'spawn' (a list of 1 to %d strings expected)", PX_SPAWN_MAX_ARGS);
  argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    argv[i - 1] = (char *)px_plain_string(L, -1, 1, "argv item");
    lua_pop(L, 1); /* a string in the table: still referenced there */
  }
  argv[n] = NULL;
  if (argv[0][0] != '/')
    luaL_error(L, "bad argument #1 to 'spawn' (argv[1] must be an absolute path)");
  return argv;
}

/* env at index 2 (name -> value) -> "NAME=VALUE" strings kept in a new
** table and a NULL-terminated array in a userdata (both pushed). */
static char **px_envp(lua_State *L) {
  size_t n = 0, i = 0;
  char **envp;
  int strings;
  if (!lua_istable(L, 2))
    luaL_error(L, "bad argument #2 to 'spawn' (table expected, got %s)", luaL_typename(L, 2));
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    lua_pop(L, 1);
    n++;
  }
  if (n > PX_SPAWN_MAX_ENV)
    luaL_error(L, "bad argument #2 to 'spawn' (more than %d environment variables)", PX_SPAWN_MAX_ENV);
  lua_createtable(L, (int)n, 0);
  strings = lua_gettop(L);
  envp = lua_newuserdatauv(L, sizeof(char *) * (n + 1), 0);
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    const char *name = px_plain_string(L, -2, 2, "environment name");
    const char *value = px_plain_string(L, -1, 2, "environment value");
    if (name[0] == '\0' || strchr(name, '=') != NULL)
      luaL_error(L, "bad argument #2 to 'spawn' (environment name '%s': no '=' and not empty)", name);
    lua_pushfstring(L, "%s=%s", name, value);
    envp[i] = (char *)lua_tostring(L, -1);
    lua_rawseti(L, strings, (lua_Integer)++i);
    lua_pop(L, 1);
  }
  envp[i] = NULL;
  return envp;
}

/* Marks every descriptor above 2 close-on-exec, so that the command
** inherits only its three standard ones (not the API's connections, the
** journal or a listening socket). Harmless to this process, which never
** execs itself. */
static void px_cloexec_all(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d != NULL) {
    struct dirent *e;
    int self = dirfd(d);
    while ((e = readdir(d)) != NULL) {
      int fd = atoi(e->d_name);
      int flags;
      if (fd > 2 && fd != self && (flags = fcntl(fd, F_GETFD)) >= 0)
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    closedir(d);
  } else { /* no /proc: every possible descriptor, up to a bound */
    long max = sysconf(_SC_OPEN_MAX);
    int fd;
    if (max < 0 || max > 65536)
      max = 65536;
    for (fd = 3; fd < (int)max; fd++) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0)
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
}

static void px_pause(double seconds) {
  struct timespec ts;
  ts.tv_sec = 0;
  ts.tv_nsec = (long)(seconds * 1e9);
  nanosleep(&ts, NULL);
}

/* Waits for pid until deadline: 1 with its status when it ended, 0 when
** it still runs, -1 when it cannot be waited for (errno set). */
static int px_wait_until(pid_t pid, double deadline, int *status, int stop_on_interrupt) {
  for (;;) {
    pid_t got = waitpid(pid, status, WNOHANG);
    if (got == pid)
      return 1;
    if (got < 0 && errno != EINTR)
      return -1; /* e.g. SIGCHLD ignored: the status is lost, never guessed */
    if (px_now() >= deadline)
      return 0;
    if (stop_on_interrupt && px_grace_over(px_longest_grace()))
      return 0;
    px_pause(PX_SPAWN_SLICE);
  }
}

/* Ends the child's group: SIGTERM, then SIGKILL; reaps the child. */
static void px_end_group(pid_t pid) {
  int status;
  kill(-pid, SIGTERM);
  if (px_wait_until(pid, px_now() + PX_SPAWN_KILL_WAIT, &status, 0) != 0)
    return;
  kill(-pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
}

/* The file actions: stdin from /dev/null; stdout (and stderr) to output,
** or stdout onto our stderr. */
static int px_actions(posix_spawn_file_actions_t *fa, const char *output) {
  int rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0 && output != NULL) {
    rc = posix_spawn_file_actions_addopen(fa, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (rc == 0)
      rc = posix_spawn_file_actions_adddup2(fa, 1, 2);
  } else if (rc == 0) {
    rc = posix_spawn_file_actions_adddup2(fa, 2, 1);
  }
  return rc;
}

static int px_attributes(posix_spawnattr_t *attr) {
  static const int defaults[] = {SIGINT,  SIGTERM, SIGQUIT, SIGHUP, SIGPIPE,
                                 SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2};
  sigset_t none, dflt;
  size_t i;
  int rc;
  sigemptyset(&none);
  sigemptyset(&dflt);
  for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    sigaddset(&dflt, defaults[i]);
  rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0)
    rc = posix_spawnattr_setpgroup(attr, 0);
  if (rc == 0)
    rc = posix_spawnattr_setsigmask(attr, &none);
  if (rc == 0)
    rc = posix_spawnattr_setsigdefault(attr, &dflt);
  return rc;
}

static int px_spawn(lua_State *L) {
  char **argv, **envp;
  double timeout = 30;
  const char *output = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  pid_t pid;
  int rc, ended, status = 0;
  lua_settop(L, 3);
  argv = px_argv(L);
  envp = px_envp(L);
  if (!lua_isnil(L, 3)) {
    if (!lua_istable(L, 3))
      luaL_error(L, "bad argument #3 to 'spawn' (table expected, got %s)", luaL_typename(L, 3));
    lua_getfield(L, 3, "timeout");
    timeout = luaL_optnumber(L, -1, 30);
    if (!(timeout > 0))
      luaL_error(L, "bad argument #3 to 'spawn' (timeout: seconds > 0 expected)");
    lua_getfield(L, 3, "output");
    if (!lua_isnil(L, -1))
      output = px_plain_string(L, -1, 3, "output");
    /* both stay on the stack: output's string lives while we run */
  }
  if (posix_spawn_file_actions_init(&fa) != 0)
    return luaL_error(L, "not enough memory");
  if (posix_spawnattr_init(&attr) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return luaL_error(L, "not enough memory");
  }
  rc = px_actions(&fa, output);
  if (rc == 0)
    rc = px_attributes(&attr);
  if (rc == 0) {
    px_cloexec_all();
    rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", argv[0], strerror(rc));
    return 2;
  }
  ended = px_wait_until(pid, px_now() + timeout, &status, 1);
  if (ended < 0) {
    int en = errno;
    kill(-pid, SIGKILL);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: waitpid: %s", argv[0], strerror(en));
    return 2;
  }
  if (ended == 0) {
    px_end_group(pid);
    lua_pushstring(L, px_is_interrupted() ? "cancelled" : "timeout");
    return 1;
  }
  if (WIFSIGNALED(status)) {
    lua_pushliteral(L, "signal");
    lua_pushinteger(L, WTERMSIG(status));
  } else {
    lua_pushliteral(L, "exit");
    lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 0);
  }
  return 2;
}

static const luaL_Reg px_spawn_funcs[] = {
    {"spawn", px_spawn},
    {NULL,    NULL    },
};

/* Adds spawn to the module table on top of the stack. */
void px_spawn_open(lua_State *L) {
  luaL_setfuncs(L, px_spawn_funcs, 0);
}
