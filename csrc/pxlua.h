/*
** Declarations shared by the files of the pxlua host (not the core).
*/
#ifndef PXLUA_H
#define PXLUA_H

#include <stdio.h>

#include <lua.h>

/* the exit status of a bad command line or configuration */
#define PXLUA_EXIT_USAGE 2

/* pxlua.c: require finds the modules built into the host first; a call
** with the message handler and Ctrl-C handling; a message on stderr */
void pxlua_preload(lua_State *L);
int pxlua_docall(lua_State *L, int narg, int nres);
void pxlua_message(const char *msg);

/* pxlua.c: in the prompt, Ctrl-C ends the statement at once */
void pxlua_prompt_mode(int on);

/* pxlua_args.c: the command line: the options up to the script, checked
** (the program's name from argv[0], for messages); the help; the usage
** error's message, which returns PXLUA_EXIT_USAGE; the options that take
** an operand (pxlua.c skips them when it runs -e and -l) */
typedef struct pxlua_options {
  int interactive, version, help, exec, dry_run, fake, no_journal, traceback;
  const char *base_url, *app_key_file, *timeout, *profile, *config;
  int script;         /* index of the script in argv; argc when there is none */
  const char *bad;    /* what was wrong with the command line */
  const char *badarg; /* the argument it was about */
} pxlua_options;
int pxlua_parse_args(char **argv, int argc, pxlua_options *o);
void pxlua_usage(FILE *out);
int pxlua_usage_error(const pxlua_options *o);
int pxlua_takes_operand(const char *opt);
const char *pxlua_progname(void);

/* pxlua_repl.c: the interactive prompt */
void pxlua_repl(lua_State *L);

/* pxlua_fake.c: the fake API in a child process, for --fake */
int pxlua_start_fake(lua_State *L);
void pxlua_stop_fake(void);

#endif
