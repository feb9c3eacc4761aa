/*
** Declarations shared by the files of the pxlua host (not the core).
*/
#ifndef PXLUA_H
#define PXLUA_H

#include <lua.h>

/* pxlua.c: require finds the modules built into the host first; a call
** with the message handler and Ctrl-C handling; a message on stderr */
void pxlua_preload(lua_State *L);
int pxlua_docall(lua_State *L, int narg, int nres);
void pxlua_message(const char *msg);

/* pxlua.c: in the prompt, Ctrl-C ends the statement at once */
void pxlua_prompt_mode(int on);

/* pxlua_repl.c: the interactive prompt */
void pxlua_repl(lua_State *L);

/* pxlua_fake.c: the fake API in a child process, for --fake */
int pxlua_start_fake(lua_State *L);
void pxlua_stop_fake(void);

#endif
