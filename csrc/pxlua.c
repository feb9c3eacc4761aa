/*
** pxlua: a Lua 5.4 host for proxy automation scripts, with proxyapi and
** cjson built in. It behaves like lua(1) where the two overlap (arg,
** ..., -e, -l, -i, -, --); see the README and `pxlua -h` for the rest.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "px.h"
#include "px_embed.h"
#include "pxlua.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

static lua_State *globalL = NULL;
static int show_traceback = 0; /* --traceback: also for proxyapi's error objects */
static int prompt_mode = 0;    /* the prompt: Ctrl-C ends one statement at once */
static int error_status = 1;   /* the exit status of the last error reported */

/* ---- messages ---- */

void pxlua_message(const char *msg) {
  fprintf(stderr, "%s: %s\n", pxlua_progname(), msg);
  fflush(stderr);
}

static int px_report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    pxlua_message(msg != NULL ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status;
}

/* ---- interrupts: stop new requests, let transfers finish, then stop ----
** The first SIGINT or SIGTERM only sets the core's flag: no request
** starts, transfers in flight have their grace, and the script can mark
** its rows. A script still running 5 s after the grace is stopped by a
** hook, as lua.c stops one at once; a second signal ends the process. */

#define PX_STOP_AFTER_GRACE 5

static void px_stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  /* the hook stays: a script that catches the error is stopped again */
  luaL_error(L, "%s", PX_INTERRUPTED);
}

static void px_stop_lua(int sig) {
  int flags = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  (void)sig;
  lua_sethook(globalL, px_stop_hook, flags, 1);
}

/* Installs a handler with sigaction, as lua.c does. */
static void px_setsignal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void px_on_signal(int sig) {
  px_setsignal(SIGINT, SIG_DFL); /* a second signal ends at once */
  px_setsignal(SIGTERM, SIG_DFL);
  px_set_interrupted(sig);
  if (prompt_mode)
    px_stop_lua(sig);
  else
    alarm((unsigned)(px_longest_grace() + PX_STOP_AFTER_GRACE + 0.999));
}

static void px_catch_signals(int on) {
  px_setsignal(SIGINT, on ? px_on_signal : SIG_DFL);
  px_setsignal(SIGTERM, on ? px_on_signal : SIG_DFL);
  px_setsignal(SIGALRM, on ? px_stop_lua : SIG_DFL);
}

void pxlua_prompt_mode(int on) {
  prompt_mode = on;
}

/* The exit status of an error object: proxyapi.exit_code's. */
static int px_status_of(lua_State *L, int idx) {
  int status = 1;
  idx = lua_absindex(L, idx);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "proxyapi.errors");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "exit_code");
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isinteger(L, -1))
      status = (int)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return status;
}

static int px_is_proxyapi_error(lua_State *L, int idx) {
  int yes = luaL_getmetafield(L, idx, "__name") == LUA_TSTRING &&
            strcmp(lua_tostring(L, -1), "proxyapi.Error") == 0;
  if (yes || lua_gettop(L) > idx)
    lua_settop(L, idx);
  return yes;
}

/* An uncaught proxyapi error prints its one line and sets the exit status
** its kind says (no traceback unless --traceback); anything else is a bug
** in the script: message and traceback, status 1. The stop after an
** interrupt is no bug. */
static int px_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  int ours = msg == NULL && px_is_proxyapi_error(L, 1);
  error_status = ours ? px_status_of(L, 1) : 1;
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if ((ours && !show_traceback) || px_is_interrupted())
    return 1;
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int pxlua_docall(lua_State *L, int narg, int nres) {
  int status, base = lua_gettop(L) - narg;
  lua_pushcfunction(L, px_msghandler);
  lua_insert(L, base);
  globalL = L;
  px_catch_signals(1);
  status = lua_pcall(L, narg, nres, base);
  px_catch_signals(0);
  alarm(0);
  lua_sethook(L, NULL, 0, 0); /* a stop hook ends with the call it stopped */
  lua_remove(L, base);
  return status;
}

/* ---- the embedded modules ---- */

static int px_load_embedded(lua_State *L) {
  const px_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, (const char *)m->chunk, m->size, m->name, "b") != LUA_OK)
    return lua_error(L);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

/* require finds the built-in modules first, whatever LUA_PATH says. */
void pxlua_preload(lua_State *L) {
  const px_module *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = px_modules; m->name != NULL; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, px_load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pushcfunction(L, luaopen_proxyapi_core);
  lua_setfield(L, -2, "proxyapi.core");
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, luaopen_cjson_safe);
  lua_setfield(L, -2, "cjson.safe");
  lua_pop(L, 1);
}

/* ---- running the command line: arg, -e, -l, the script, LUA_INIT ---- */

/* arg: the script at 0, its arguments after, the host and options before. */
static void px_argtable(lua_State *L, char **argv, int argc, int script) {
  int i, narg = argc - (script + 1);
  if (script == argc)
    script = 0; /* no script: the options count from 1 */
  lua_createtable(L, narg > 0 ? narg : 0, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int px_dostring(lua_State *L, const char *code, const char *name) {
  int status = luaL_loadbuffer(L, code, strlen(code), name);
  if (status == LUA_OK)
    status = pxlua_docall(L, 0, 0);
  return px_report(L, status);
}

/* -l NAME or -l G=NAME */
static int px_dolibrary(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *mod = eq ? eq + 1 : spec;
  int status;
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  status = pxlua_docall(L, 1, 1);
  if (status == LUA_OK) {
    if (eq != NULL)
      lua_pushlstring(L, spec, (size_t)(eq - spec));
    else
      lua_pushstring(L, mod);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return px_report(L, status);
}

static int px_runargs(lua_State *L, char **argv, int script) {
  int i;
  for (i = 1; i < script; i++) {
    const char *a = argv[i];
    if (pxlua_takes_operand(a)) {
      i++;
    } else if (a[0] == '-' && (a[1] == 'e' || a[1] == 'l')) {
      const char *operand = a[2] != '\0' ? a + 2 : argv[++i];
      int status = a[1] == 'e' ? px_dostring(L, operand, "=(command line)") : px_dolibrary(L, operand);
      if (status != LUA_OK)
        return 0;
    }
  }
  return 1;
}

static int px_handle_script(lua_State *L, char **argv, int argc, int script) {
  const char *fname = argv[script];
  int status, n = argc - script - 1;
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0)
    fname = NULL; /* standard input */
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int i;
    luaL_checkstack(L, n + 1, "too many arguments to the script");
    for (i = 1; i <= n; i++)
      lua_pushstring(L, argv[script + i]);
    status = pxlua_docall(L, n, LUA_MULTRET);
  }
  return px_report(L, status);
}

/* LUA_INIT_5_4 or LUA_INIT, as lua(1) runs them */
static int px_luainit(lua_State *L) {
  const char *name = "=LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR;
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL)
    return LUA_OK;
  if (init[0] == '@') {
    int status = luaL_loadfile(L, init + 1);
    if (status == LUA_OK)
      status = pxlua_docall(L, 0, 0);
    return px_report(L, status);
  }
  return px_dostring(L, init, name);
}

/* ---- main ---- */

static void px_print_version(lua_State *L) {
  const char *version = "?";
  lua_getglobal(L, "require");
  lua_pushliteral(L, "proxyapi.version");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1))
    version = lua_tostring(L, -1);
  printf("pxlua %s (proxyapi %s, %s, libcurl %s)\n", version, version, LUA_RELEASE,
         curl_version_info(CURLVERSION_NOW)->version);
  fflush(stdout);
  lua_pop(L, 1);
}

/* Pushes function `name` of proxyapi.pxlua, the Lua side of the host. */
static void px_host_function(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "proxyapi.pxlua");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
}

/* The configuration of the global `api` (flags win over the environment),
** made by proxyapi.pxlua.setup; a bad setting (a key file others can read)
** is a configuration error: status 2. */
static int px_setup_host(lua_State *L, const pxlua_options *o) {
  px_host_function(L, "setup");
  lua_createtable(L, 0, 8);
  if (o->fake) {
    pxlua_start_fake(L);
    lua_setfield(L, -3, "app_key");
    lua_setfield(L, -2, "base_url");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "fake");
  }
  if (o->base_url != NULL) {
    lua_pushstring(L, o->base_url);
    lua_setfield(L, -2, "base_url");
  }
  if (o->app_key_file != NULL) {
    lua_pushstring(L, o->app_key_file);
    lua_setfield(L, -2, "app_key_file");
  }
  if (o->timeout != NULL) {
    lua_pushnumber(L, strtod(o->timeout, NULL));
    lua_setfield(L, -2, "timeout");
  }
  if (o->profile != NULL) {
    lua_pushstring(L, o->profile);
    lua_setfield(L, -2, "profile");
  }
  if (o->config != NULL) {
    lua_pushstring(L, o->config);
    lua_setfield(L, -2, "config");
  }
  lua_pushboolean(L, o->dry_run);
  lua_setfield(L, -2, "dry_run");
  lua_pushboolean(L, o->no_journal);
  lua_setfield(L, -2, "no_journal");
  lua_pushboolean(L, isatty(STDERR_FILENO));
  lua_setfield(L, -2, "tty");
  return pxlua_docall(L, 1, 0);
}

/* The end: proxyapi.pxlua.finish ends the journal's run, and after an
** interrupt prints the summary line and says the status (130 or 143). */
static int px_finish(lua_State *L, int code) {
  px_host_function(L, "finish");
  lua_pushinteger(L, code);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    px_report(L, LUA_ERRRUN);
    return code;
  }
  if (lua_isinteger(L, -1))
    code = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return code;
}

static int px_exit(lua_State *L, int code) {
  lua_pushinteger(L, code);
  return 1;
}

/* -e, -l, the script, the prompt; returns the exit status. */
static int px_run(lua_State *L, const pxlua_options *o, char **argv, int argc) {
  if (px_luainit(L) != LUA_OK || !px_runargs(L, argv, o->script))
    return error_status;
  if (o->script < argc && px_handle_script(L, argv, argc, o->script) != LUA_OK)
    return error_status;
  if (o->interactive) {
    pxlua_repl(L);
  } else if (o->script == argc && !o->exec && !o->version) {
    if (isatty(STDIN_FILENO)) {
      px_print_version(L);
      pxlua_repl(L);
    } else {
      int status = luaL_loadfile(L, NULL); /* the script is standard input */
      if (status == LUA_OK)
        status = pxlua_docall(L, 0, 0);
      if (px_report(L, status) != LUA_OK)
        return error_status;
    }
  }
  return EXIT_SUCCESS;
}

/* Runs in protected mode; leaves the exit status on the stack. */
static int px_main(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  pxlua_options o;
  if (!pxlua_parse_args(argv, argc, &o))
    return px_exit(L, pxlua_usage_error(&o));
  show_traceback = o.traceback;
  if (o.help) {
    pxlua_usage(stdout);
    return px_exit(L, 0);
  }
  luaL_checkversion(L);
  luaL_openlibs(L);
  pxlua_preload(L);
  px_argtable(L, argv, argc, o.script);
  lua_gc(L, LUA_GCRESTART);
  /* incremental, unlike lua.c: reply trees live about one call, which a
  ** generational collector promotes and then frees late */
  lua_gc(L, LUA_GCINC, 0, 0, 0);
  if (o.version)
    px_print_version(L);
  if (px_report(L, px_setup_host(L, &o)) != LUA_OK)
    return px_exit(L, PXLUA_EXIT_USAGE);
  return px_exit(L, px_finish(L, px_run(L, &o, argv, argc)));
}

/* Scripts fetch large replies and drop them: the collector then frees a
** whole tree at once, and glibc would give the memory back to the kernel
** only to fault it in again for the next reply. Keep up to 8 MB of free
** heap, and serve blocks up to 4 MB from it. */
static void px_tune_malloc(void) {
#ifdef __GLIBC__
  mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
  mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
#endif
}

int main(int argc, char **argv) {
  int status, code;
  lua_State *L;
  px_tune_malloc();
  L = luaL_newstate();
  if (L == NULL) {
    pxlua_message("cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);
  lua_pushcfunction(L, px_main);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  code = status == LUA_OK ? (int)lua_tointeger(L, -1) : (px_report(L, status), EXIT_FAILURE);
  lua_close(L);
  pxlua_stop_fake();
  if (px_is_interrupted() && code < 128)
    code = 128 + px_interrupt_signal();
  return code;
}
