/*
** pxlua_fake.c: `pxlua --fake` runs the fake of the provider's API
** (proxyapi.fake, built into the host) in a child process for the length
** of the script, and points the global `api` at it.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <lauxlib.h>
#include <lualib.h>

#include "pxlua.h"

static pid_t fake_pid = 0;

void pxlua_stop_fake(void) {
  if (fake_pid > 0) {
    kill(fake_pid, SIGTERM);
    waitpid(fake_pid, NULL, 0);
    fake_pid = 0;
  }
}

static const char px_fake_main[] = "local fake = require 'proxyapi.fake'\n"
                                   "local server = assert(fake.new { host = '127.0.0.1', port = 0 })\n"
                                   "io.stdout:write('PROXYAPI_BASE_URL=', server.base_url, '\\n',\n"
                                   "                'PROXYAPI_APP_KEY=', server.app_key, '\\n')\n"
                                   "io.stdout:flush()\n"
                                   "server:run()\n";

/* In the child: serve the fake API until the parent stops it (or dies:
** on Linux the kernel tells it; elsewhere the fake's pipe and the parent's
** exit handler do). */
static void px_run_fake(int out, pid_t parent) {
  lua_State *F;
  signal(SIGINT, SIG_IGN); /* the parent ends it, after the script */
  signal(SIGTERM, SIG_DFL);
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  if (getppid() != parent)
    _exit(1);
  if (dup2(out, STDOUT_FILENO) < 0)
    _exit(1);
  close(out);
  F = luaL_newstate();
  if (F == NULL)
    _exit(1);
  luaL_openlibs(F);
  pxlua_preload(F);
  if (luaL_dostring(F, px_fake_main) != LUA_OK) {
    fprintf(stderr, "pxlua: fake API: %s\n", lua_tostring(F, -1));
    _exit(1);
  }
  _exit(0);
}

static int px_read_setting(FILE *in, const char *name, char *out, size_t size) {
  size_t n = strlen(name);
  if (fgets(out, (int)size, in) == NULL || strncmp(out, name, n) != 0 || out[n] != '=')
    return 0;
  memmove(out, out + n + 1, strlen(out + n + 1) + 1);
  out[strcspn(out, "\r\n")] = '\0';
  return 1;
}

/* Starts the fake API in a child process; pushes its base URL and key. */
int pxlua_start_fake(lua_State *L) {
  char url[256], key[256];
  int fds[2], ok;
  pid_t parent = getpid(), pid;
  FILE *in;
  if (pipe(fds) != 0)
    return luaL_error(L, "cannot start the fake API: %s", strerror(errno));
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    return luaL_error(L, "cannot start the fake API: %s", strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    px_run_fake(fds[1], parent);
  }
  close(fds[1]);
  fake_pid = pid;
  atexit(pxlua_stop_fake);
  in = fdopen(fds[0], "r");
  if (in == NULL) {
    close(fds[0]);
    return luaL_error(L, "cannot start the fake API: %s", strerror(errno));
  }
  ok = px_read_setting(in, "PROXYAPI_BASE_URL", url, sizeof url) &&
       px_read_setting(in, "PROXYAPI_APP_KEY", key, sizeof key);
  fclose(in);
  if (!ok) {
    pxlua_stop_fake();
    return luaL_error(L, "the fake API did not start (is lua-socket installed?)");
  }
  lua_pushstring(L, url);
  lua_pushstring(L, key);
  memset(key, 0, sizeof key);
  return 2;
}
