/*
** torture: allocation-failure testing of proxyapi, as curl's test suite
** does it. A scenario file returns { setup = f, run = g }; setup runs
** once with allocations never failing (loading the modules), then for
** N = 1, 2, ... a forked child runs run() with the Nth allocation made
** after setup failing, closes its Lua state and exits. Every child must
** end in success or a clean Lua error: a crash, a sanitizer report or a
** leak (under ASan) fails the whole test. The loop ends when run()
** completes without reaching N allocations. First Lua's allocations
** (lua_newstate with a counting lua_Alloc), then libcurl's
** (curl_global_init_mem).
**
** usage: torture SCENARIO.lua [lua|curl|both]   (from the checkout)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "px.h"

int luaopen_cjson(lua_State *L);

#define EXIT_REACHED 0  /* the Nth allocation failed and was handled */
#define EXIT_FINISHED 3 /* run() ended before its Nth allocation */
#define EXIT_BROKEN 4   /* something went wrong outside the scenario */

enum { TARGET_LUA, TARGET_CURL };

static int target = TARGET_LUA;
static int armed = 0;
static long count = 0, fail_at = 0;

/* Counts allocations that may fail (Lua never lets a shrink fail). */
static int should_fail(void) {
  if (!armed)
    return 0;
  return ++count == fail_at;
}

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (target == TARGET_LUA && (ptr == NULL || nsize > osize) && should_fail())
    return NULL;
  return realloc(ptr, nsize);
}

static void *curl_malloc(size_t size) {
  return target == TARGET_CURL && should_fail() ? NULL : malloc(size);
}

static void *curl_realloc(void *ptr, size_t size) {
  return target == TARGET_CURL && should_fail() ? NULL : realloc(ptr, size);
}

static char *curl_strdup(const char *s) {
  return target == TARGET_CURL && should_fail() ? NULL : strdup(s);
}

static void *curl_calloc(size_t n, size_t size) {
  return target == TARGET_CURL && should_fail() ? NULL : calloc(n, size);
}

static lua_State *new_state(const char *scenario) {
  lua_State *L = lua_newstate(lua_alloc, NULL);
  if (L == NULL)
    return NULL;
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_proxyapi_core);
  lua_setfield(L, -2, "proxyapi.core");
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pop(L, 1);
  if (luaL_dostring(L, "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path") != LUA_OK ||
      luaL_dofile(L, scenario) != LUA_OK || !lua_istable(L, -1)) {
    fprintf(stderr, "torture: %s: %s\n", scenario, lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  lua_getfield(L, -1, "setup");
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "torture: setup: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  lua_setfield(L, -2, "context");
  return L; /* the scenario table stays on the stack */
}

/* In the child: run the scenario with the Nth allocation failing. */
static int child(lua_State *L, long n) {
  int status, reached;
  count = 0;
  fail_at = n;
  armed = 1;
  lua_getfield(L, -1, "run");
  lua_getfield(L, -2, "context");
  status = lua_pcall(L, 1, 0, 0);
  reached = count >= n;
  if (status != LUA_OK && !reached) {
    /* an error with no allocation failing: the scenario itself is wrong */
    fprintf(stderr, "torture: run failed without a failed allocation: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return EXIT_BROKEN;
  }
  lua_close(L); /* every userdata is collected: half-made ones too */
  armed = 0;
  return reached ? EXIT_REACHED : EXIT_FINISHED;
}

static int torture(lua_State *L, const char *name) {
  long n, stride = getenv("TORTURE_STRIDE") ? atol(getenv("TORTURE_STRIDE")) : 1;
  long limit = getenv("TORTURE_LIMIT") ? atol(getenv("TORTURE_LIMIT")) : -1;
  if (stride < 1)
    stride = 1;
  for (n = 1; limit < 0 || n <= limit; n += stride) {
    int wstatus;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
      perror("torture: fork");
      return 0;
    }
    if (pid == 0)
      exit(child(L, n));
    if (waitpid(pid, &wstatus, 0) != pid) {
      perror("torture: waitpid");
      return 0;
    }
    if (WIFSIGNALED(wstatus)) {
      fprintf(stderr, "torture: %s allocation #%ld: killed by signal %d\n", name, n, WTERMSIG(wstatus));
      return 0;
    }
    if (WEXITSTATUS(wstatus) == EXIT_FINISHED) {
      printf("torture: %s: failed allocations 1..%ld (every %ld), each handled cleanly\n", name, n - 1,
             stride);
      return 1;
    }
    if (WEXITSTATUS(wstatus) != EXIT_REACHED) {
      fprintf(stderr, "torture: %s allocation #%ld: exit status %d\n", name, n, WEXITSTATUS(wstatus));
      return 0;
    }
  }
  printf("torture: %s: stopped at the limit, %ld\n", name, limit);
  return 1;
}

int main(int argc, char **argv) {
  const char *which = argc > 2 ? argv[2] : "both";
  lua_State *L;
  int ok = 1;
  if (argc < 2) {
    fprintf(stderr, "usage: torture SCENARIO.lua [lua|curl|both]\n");
    return 2;
  }
  if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_malloc, free, curl_realloc, curl_strdup, curl_calloc) !=
      CURLE_OK) {
    fprintf(stderr, "torture: curl_global_init_mem failed\n");
    return 1;
  }
  L = new_state(argv[1]);
  if (L == NULL)
    return 1;
  if (strcmp(which, "curl") != 0) {
    target = TARGET_LUA;
    ok = torture(L, "Lua") && ok;
  }
  if (ok && strcmp(which, "lua") != 0) {
    target = TARGET_CURL;
    ok = torture(L, "libcurl") && ok;
  }
  lua_close(L);
  curl_global_cleanup();
  return ok ? 0 : 1;
}
