/*
** pxlua_repl.c: the interactive prompt of pxlua (-i, or no script on a
** terminal), as lua.c's: a line is run as `return line` when that
** compiles, statements may span lines (`>>`), results are printed.
** Beyond lua.c: results are shown as proxyapi.repl_show writes them, Tab
** completes names, the history is kept in a file of its owner's, and
** Ctrl-C at the prompt drops the statement being typed. The decisions
** are Lua's (proxyapi.repl: what to complete, where the history goes,
** which lines stay out of it); this file holds readline.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "px.h"
#include "pxlua.h"

#ifdef PX_USE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#define PX_MAX_INPUT 512

/* what reading a line gave (apart from the LUA_* statuses) */
#define PX_LINE 1
#define PX_EOF (-1)
#define PX_CANCEL (-2)

/* The session proxyapi.repl.start made (registry reference), and the
** state readline's callbacks reach it through. */
static lua_State *px_L = NULL;
static int px_session = LUA_NOREF;

/* Pushes the session's field `name` (nil without a session). */
static int px_session_field(lua_State *L, const char *name) {
  if (px_session == LUA_NOREF) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, px_session);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

#ifdef PX_USE_READLINE

/* In protected mode: session.remember(line), as a boolean. */
static int px_remember_lua(lua_State *L) {
  const char *line = lua_touserdata(L, 1);
  if (px_session_field(L, "remember") != LUA_TFUNCTION)
    return 0;
  lua_pushstring(L, line);
  lua_call(L, 1, 1);
  return 1;
}

static volatile sig_atomic_t px_prompt_sigint = 0;
static char *px_history = NULL; /* the history file, or NULL for none */
static int px_history_size = 1000;
static int px_history_added = 0; /* lines to append at the end */

/* ---- completion ---- */

static int px_match_table = 0; /* stack index of the candidates */
static int px_match_next = 0;

/* In protected mode: session.complete(line before the cursor). */
static int px_complete_lua(lua_State *L) {
  const char *line = lua_touserdata(L, 1);
  if (px_session_field(L, "complete") != LUA_TFUNCTION)
    return 0;
  lua_pushstring(L, line);
  lua_call(L, 1, 1);
  luaL_checktype(L, -1, LUA_TTABLE);
  return 1;
}

/* rl_completion_matches' generator: the candidates in turn, malloc'd. */
static char *px_next_match(const char *text, int state) {
  size_t len;
  const char *s;
  char *copy = NULL;
  (void)text;
  if (state == 0)
    px_match_next = 0;
  if (lua_rawgeti(px_L, px_match_table, ++px_match_next) == LUA_TSTRING) {
    s = lua_tolstring(px_L, -1, &len);
    copy = malloc(len + 1);
    if (copy != NULL)
      memcpy(copy, s, len + 1);
  }
  lua_pop(px_L, 1);
  return copy;
}

/* Lua is never left by an error inside readline: everything runs under
** lua_pcall, and a failure only means no candidates. */
static char **px_complete(const char *text, int start, int end) {
  lua_State *L = px_L;
  char **matches = NULL;
  char *line;
  (void)start;
  rl_attempted_completion_over = 1; /* never file names */
  rl_completion_suppress_append = 1;
  if (L == NULL || px_session == LUA_NOREF || !lua_checkstack(L, 8))
    return NULL;
  line = strndup(rl_line_buffer, (size_t)end);
  if (line == NULL)
    return NULL;
  lua_pushcfunction(L, px_complete_lua);
  lua_pushlightuserdata(L, line);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) > 0) {
    px_match_table = lua_gettop(L);
    matches = rl_completion_matches(text, px_next_match);
  }
  lua_pop(L, 1);
  free(line);
  return matches;
}

/* A word is what Lua completes: letters, digits, _ . and : (any other
** byte, UTF-8 ones too, ends it). */
static char px_word_breaks[256];

static void px_setup_readline(void) {
  int c, n = 0;
  for (c = 1; c < 256; c++) {
    int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '.' || c == ':';
    if (!word)
      px_word_breaks[n++] = (char)c;
  }
  px_word_breaks[n] = '\0';
  rl_readline_name = "pxlua";
  rl_catch_signals = 0; /* SIGINT is px_on_sigint's while reading */
  rl_completer_word_break_characters = px_word_breaks;
  rl_attempted_completion_function = px_complete;
  rl_sort_completion_matches = 0; /* Lua sorted them */
}

/* ---- history ---- */

static void px_history_open(lua_State *L) {
  if (px_session_field(L, "history_size") == LUA_TNUMBER)
    px_history_size = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (px_session_field(L, "warning") == LUA_TSTRING)
    pxlua_message(lua_tostring(L, -1));
  lua_pop(L, 1);
  using_history();
  stifle_history(px_history_size);
  if (px_session_field(L, "history") == LUA_TSTRING) {
    px_history = strdup(lua_tostring(L, -1));
    if (px_history != NULL)
      read_history(px_history); /* a new file is empty */
  }
  lua_pop(L, 1);
}

static void px_history_close(void) {
  if (px_history == NULL)
    return;
  if (px_history_added > 0) {
    int n = px_history_added < history_length ? px_history_added : history_length;
    if (append_history(n, px_history) == 0)
      history_truncate_file(px_history, px_history_size);
  }
  free(px_history);
  px_history = NULL;
  px_history_added = 0;
}

/* A line goes into the history unless it repeats the last one or
** session.remember says no (it holds the key); without a session, no
** line does. */
static void px_remember(lua_State *L, const char *line) {
  HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
  if (line[0] == '\0' || (last != NULL && strcmp(last->line, line) == 0))
    return;
  lua_pushcfunction(L, px_remember_lua);
  lua_pushlightuserdata(L, (void *)line);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1)) {
    add_history(line);
    px_history_added++;
  }
  lua_pop(L, 1);
}

/* ---- reading a line: readline's callback interface, so that Ctrl-C
** (a flag here; readline's own signal handling is off) can end the
** wait for input and drop what was typed ---- */

static char *px_line = NULL;
static int px_line_done = 0;

static void px_on_line(char *line) {
  px_line = line;
  px_line_done = 1;
  rl_callback_handler_remove();
}

static void px_on_sigint(int sig) {
  (void)sig;
  px_prompt_sigint = 1;
}

static int px_readline(lua_State *L, const char *prompt, char **line) {
  struct sigaction sa, old_sa;
  sigset_t block, old_mask;
  int fd = fileno(rl_instream != NULL ? rl_instream : stdin), result = PX_EOF;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = px_on_sigint; /* no SA_RESTART: pselect returns */
  sigemptyset(&sa.sa_mask);
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  /* SIGINT waits while readline works and arrives in pselect: no race */
  sigprocmask(SIG_BLOCK, &block, &old_mask);
  sigaction(SIGINT, &sa, &old_sa);
  px_prompt_sigint = 0;
  px_line = NULL;
  px_line_done = 0;
  rl_callback_handler_install(prompt, px_on_line);
  while (!px_line_done) {
    fd_set in;
    FD_ZERO(&in);
    FD_SET(fd, &in);
    if (pselect(fd + 1, &in, NULL, NULL, NULL, &old_mask) > 0) {
      rl_callback_read_char();
    } else if (errno == EINTR && px_prompt_sigint) {
      rl_free_line_state();
      rl_callback_sigcleanup();
      rl_cleanup_after_signal();
      rl_callback_handler_remove();
      fputc('\n', stdout);
      fflush(stdout);
      result = PX_CANCEL;
      break;
    } else if (errno != EINTR) {
      rl_callback_handler_remove();
      break;
    }
  }
  sigaction(SIGINT, &old_sa, NULL);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  if (px_line_done && px_line != NULL) {
    px_remember(L, px_line);
    *line = px_line;
    result = PX_LINE;
  }
  return result;
}

static void px_freeline(char *line) {
  free(line);
}

#else /* no readline: lines from stdin, no completion, no history */

static int px_readline(lua_State *L, const char *prompt, char **line) {
  static char buffer[PX_MAX_INPUT];
  (void)L;
  fputs(prompt, stdout);
  fflush(stdout);
  *line = fgets(buffer, sizeof buffer, stdin);
  return *line != NULL ? PX_LINE : PX_EOF;
}

static void px_freeline(char *line) {
  (void)line;
}

#endif

/* ---- statements ---- */

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

/* Reads a statement (or an expression, run as `return expr`), which may
** span lines; leaves a compiled chunk or an error on the stack, or
** returns PX_EOF or PX_CANCEL with nothing pushed. */
static int px_read_chunk(lua_State *L) {
  char *line;
  int status, got = px_readline(L, "> ", &line);
  size_t len;
  const char *code;
  if (got != PX_LINE)
    return got;
  lua_pushstring(L, line);
  px_freeline(line);
  code = lua_tolstring(L, -1, &len);
  if (len > 0 && code[len - 1] == '\n') { /* fgets keeps it */
    lua_pushlstring(L, code, len - 1);
    lua_remove(L, -2);
  }
  lua_pushfstring(L, "return %s;", lua_tostring(L, -1));
  status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
  if (status == LUA_OK) {
    lua_remove(L, -2); /* the "return" text */
    lua_remove(L, -2); /* the line */
    return LUA_OK;
  }
  lua_pop(L, 2);
  for (;;) {
    code = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, code, len, "=stdin");
    if (!px_incomplete(L, status))
      break;
    got = px_readline(L, ">> ", &line);
    if (got == PX_CANCEL) {
      lua_pop(L, 1); /* Ctrl-C drops the whole statement */
      return PX_CANCEL;
    } else if (got == PX_EOF) {
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

/* The results on the stack, through session.print (or print without a
** session), under Ctrl-C handling like any call. */
static void px_print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0)
    return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  if (px_session_field(L, "print") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_getglobal(L, "print");
  }
  lua_insert(L, 1);
  if (pxlua_docall(L, n, 0) != LUA_OK)
    pxlua_message(lua_pushfstring(L, "error printing the results (%s)", lua_tostring(L, -1)));
}

/* proxyapi.repl.start(_G, {tty =}) makes the session; without it (an
** error loading it) the prompt still works, with print and no history. */
static void px_open_session(lua_State *L) {
  int status;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "proxyapi.repl");
  status = pxlua_docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "start");
    lua_remove(L, -2);
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, isatty(STDIN_FILENO));
    lua_setfield(L, -2, "tty");
    status = pxlua_docall(L, 2, 1);
  }
  if (status != LUA_OK) {
    pxlua_message(lua_pushfstring(L, "the prompt runs without proxyapi.repl: %s", lua_tostring(L, -1)));
    lua_settop(L, 0);
    return;
  }
  px_session = luaL_ref(L, LUA_REGISTRYINDEX);
  px_L = L;
#ifdef PX_USE_READLINE
  px_history_open(L);
#endif
}

static void px_close_session(lua_State *L) {
#ifdef PX_USE_READLINE
  px_history_close();
#endif
  luaL_unref(L, LUA_REGISTRYINDEX, px_session);
  px_session = LUA_NOREF;
  px_L = NULL;
}

void pxlua_repl(lua_State *L) {
  int status;
  lua_settop(L, 0); /* each statement's results are what the stack holds */
#ifdef PX_USE_READLINE
  px_setup_readline();
#endif
  px_open_session(L);
  pxlua_prompt_mode(1);
  while ((status = px_read_chunk(L)) != PX_EOF) {
    if (status == PX_CANCEL)
      continue;
    if (status == LUA_OK)
      status = pxlua_docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) {
      px_print_results(L);
    } else {
      const char *msg = lua_tostring(L, -1);
      fprintf(stderr, "%s\n", msg != NULL ? msg : "(error object is not a string)");
      fflush(stderr);
    }
    lua_settop(L, 0);
    px_set_interrupted(0); /* a Ctrl-C ends one statement, not the session */
    lua_sethook(L, NULL, 0, 0);
  }
  pxlua_prompt_mode(0);
  px_close_session(L);
  lua_settop(L, 0);
  fputc('\n', stdout);
  fflush(stdout);
}
