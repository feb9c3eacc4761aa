/*
** pxlua_repl.c: the interactive prompt of pxlua (-i, or no script on a
** terminal), as lua.c's: a line is shown as `return line` when that
** compiles, statements may span lines, results are printed.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "px.h"
#include "pxlua.h"

#ifdef PX_USE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#define PX_MAX_INPUT 512

#ifdef PX_USE_READLINE
static char *px_readline(const char *prompt) {
  char *line = readline(prompt);
  if (line != NULL && line[0] != '\0')
    add_history(line);
  return line;
}
static void px_freeline(char *line) {
  free(line);
}
#else
static char *px_readline(const char *prompt) {
  static char buffer[PX_MAX_INPUT];
  fputs(prompt, stdout);
  fflush(stdout);
  return fgets(buffer, sizeof buffer, stdin);
}
static void px_freeline(char *line) {
  (void)line;
}
#endif

/* A chunk that fails only because it ends early wants more lines. */
static int px_incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    const char *eof = "<eof>";
    size_t eoflen = strlen(eof);
    if (len >= eoflen && strcmp(msg + len - eoflen, eof) == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

/* Reads a statement (or an expression, shown as `return expr`), which
** may span lines; leaves a compiled chunk or an error on the stack. */
static int px_read_chunk(lua_State *L) {
  luaL_Buffer b;
  char *line = px_readline("> ");
  int status;
  size_t len;
  const char *code;
  if (line == NULL)
    return -1;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, line);
  px_freeline(line);
  luaL_pushresult(&b);
  code = lua_tolstring(L, -1, &len);
  if (len > 0 && code[len - 1] == '\n')
    len--;
  lua_pushfstring(L, "return %s;", code);
  status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
  if (status == LUA_OK) {
    lua_remove(L, -2); /* the "return" text */
    lua_remove(L, -2); /* the line */
    return status;
  }
  lua_pop(L, 2);
  for (;;) {
    code = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, code, len, "=stdin");
    if (!px_incomplete(L, status))
      break;
    line = px_readline(">> ");
    if (line == NULL) {
      lua_pushliteral(L, "incomplete statement at end of input");
      status = LUA_ERRSYNTAX;
      break;
    }
    lua_pushliteral(L, "\n");
    lua_pushstring(L, line);
    px_freeline(line);
    lua_concat(L, 3);
  }
  lua_remove(L, -2); /* the text */
  return status;
}

static void px_print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
      pxlua_message(lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
  }
}

void pxlua_repl(lua_State *L) {
  int status;
  lua_settop(L, 0); /* each statement's results are what the stack holds */
  pxlua_prompt_mode(1);
  while ((status = px_read_chunk(L)) != -1) {
    if (status == LUA_OK)
      status = pxlua_docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) {
      px_print_results(L);
    } else {
      const char *msg = lua_tostring(L, -1);
      fprintf(stderr, "%s\n", msg != NULL ? msg : "(error object is not a string)");
      lua_pop(L, 1);
    }
    lua_settop(L, 0);
    px_set_interrupted(0); /* a Ctrl-C ends one statement, not the session */
    lua_sethook(L, NULL, 0, 0);
  }
  pxlua_prompt_mode(0);
  lua_settop(L, 0);
  fputc('\n', stdout);
  fflush(stdout);
}
