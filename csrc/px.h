/*
** proxyapi.core: private declarations shared by the C files of the core.
*/
#ifndef PX_H
#define PX_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#define PX_CLIENT_TYPE "proxyapi.Client"

/*
** The upvalue of every core function that reads JSON: the decode function
** of a private cjson instance, so that a user's cjson settings never
** change what the core reads. Bodies are written by px_json_encode.
*/
#define PX_UV_DECODE lua_upvalueindex(1)
#define PX_NUPVALUES 1

/* px_json.c */
int px_json_decode(lua_State *L, int idx);
int px_json_encode(lua_State *L, int idx);
void px_query_append(lua_State *L, luaL_Buffer *b, int idx);
void px_register(lua_State *L, const luaL_Reg *funcs, int uv);
void px_json_private(lua_State *L);
void px_json_open(lua_State *L, int uv);

/* px_normalise.c */
const char *px_normalise(lua_State *L, int idx, const char *text, size_t len);

/* px_client.c */
void px_client_open(lua_State *L, int uv);

/* px_os.c: files made private, stat, fsync, who and where we are */
void px_os_open(lua_State *L);

/* px_core.c: set from a signal handler, read by transfers in flight */
void px_set_interrupted(int on);
int px_is_interrupted(void);
double px_now(void);

int luaopen_proxyapi_core(lua_State *L);

#endif
