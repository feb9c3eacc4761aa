/*
** px_core.c: the module proxyapi.core — libcurl transfers, JSON
** marshalling, a monotonic clock, an interruptible sleep and the
** interrupt flag that Ctrl-C sets in the host. Internal: the public
** interface is the Lua module proxyapi.
*/
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "px.h"

/* The signal that interrupted the process (0: none) and when, from the
** monotonic clock (clock_gettime is async-signal-safe). */
static volatile sig_atomic_t px_interrupted = 0;
static volatile double px_interrupted_at = 0;
/* the longest grace any client was given: the host stops a script that
** runs on past it */
static double px_grace_max = 0;

double px_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Async-signal-safe: the host calls it from its signal handler, with the
** signal's number (0 clears the flag). */
void px_set_interrupted(int sig) {
  if (sig != 0 && px_interrupted == 0)
    px_interrupted_at = px_now();
  px_interrupted = sig;
}

int px_is_interrupted(void) {
  return px_interrupted != 0;
}

int px_interrupt_signal(void) {
  return (int)px_interrupted;
}

/* Whether transfers in flight after an interrupt have used up `grace`. */
int px_grace_over(double grace) {
  return px_interrupted != 0 && px_now() - px_interrupted_at >= grace;
}

/* Seconds left of `grace` after an interrupt (0 when over or none). */
double px_grace_left(double grace) {
  double left = px_interrupted != 0 ? grace - (px_now() - px_interrupted_at) : 0;
  return left > 0 ? left : 0;
}

void px_note_grace(double grace) {
  if (grace > px_grace_max)
    px_grace_max = grace;
}

double px_longest_grace(void) {
  return px_grace_max;
}

/* Registers funcs into the table on top, with the marshalling upvalue
** (the private decode function, at uv). */
void px_register(lua_State *L, const luaL_Reg *funcs, int uv) {
  lua_pushvalue(L, uv);
  luaL_setfuncs(L, funcs, PX_NUPVALUES);
}

static int px_core_now(lua_State *L) {
  lua_pushnumber(L, px_now());
  return 1;
}

/* Sleeps in short slices so that Ctrl-C ends the wait at once; returns
** false when interrupted. */
static int px_core_sleep(lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  double deadline = px_now() + (seconds > 0 ? seconds : 0);
  while (!px_interrupted) {
    double left = deadline - px_now();
    struct timespec ts;
    if (left <= 0)
      break;
    if (left > 0.05)
      left = 0.05;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(left * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !px_interrupted)
      ;
  }
  lua_pushboolean(L, !px_interrupted);
  return 1;
}

/* interrupted(): true and the signal's number after an interrupt */
static int px_core_interrupted(lua_State *L) {
  lua_pushboolean(L, px_interrupted);
  if (!px_interrupted)
    return 1;
  lua_pushinteger(L, px_interrupted);
  return 2;
}

/* set_interrupted(sig or false): as a signal handler would (for specs and
** hosts without signals) */
static int px_core_set_interrupted(lua_State *L) {
  px_set_interrupted(lua_isinteger(L, 1) ? (int)lua_tointeger(L, 1) : lua_toboolean(L, 1) ? SIGINT : 0);
  return 0;
}

static int px_core_curl_version(lua_State *L) {
  lua_pushstring(L, curl_version());
  return 1;
}

/* is_alnum(s): whether s is non-empty ASCII letters and digits (names and
** passwords). A Lua pattern with a class costs three times this call, and
** the rule runs on every account of every call; no locale is consulted. */
static int px_core_is_alnum(lua_State *L) {
  size_t len, i;
  const char *s = luaL_checklstring(L, 1, &len);
  int ok = len > 0;
  for (i = 0; ok && i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    ok = (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
  }
  lua_pushboolean(L, ok);
  return 1;
}

static const luaL_Reg px_core_funcs[] = {
    {"is_alnum",        px_core_is_alnum       },
    {"now",             px_core_now            },
    {"sleep",           px_core_sleep          },
    {"interrupted",     px_core_interrupted    },
    {"set_interrupted", px_core_set_interrupted},
    {"curl_version",    px_core_curl_version   },
    {NULL,              NULL                   },
};

int luaopen_proxyapi_core(lua_State *L) {
  static int curl_ready = 0;
  int uv;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "libcurl: global initialisation failed");
    curl_ready = 1;
  }
  px_json_private(L); /* decode: the upvalue of the marshalling functions */
  uv = lua_gettop(L);
  luaL_newlib(L, px_core_funcs);
  px_json_open(L, uv);
  px_request_open(L, uv);
  px_scrub_open(L);
  px_client_open(L, uv);
  px_os_open(L);
  px_spawn_open(L);
  return 1;
}
