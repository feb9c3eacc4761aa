/*
** px_json.c: JSON between the wire and Lua values.
**
** Replies are decoded by a private lua-cjson instance and then normalised
** in place (px_normalise.c); request bodies and values are written here.
**
** With PX_PRIVATE_CJSON (the Makefile's builds), that instance is a copy of
** lua-cjson linked into the core whose calls to lua_pushnumber and
** lua_pushlightuserdata are redirected here (objcopy --redefine-sym): whole
** numbers are pushed as integers as they are read, and the decoder notes
** whether it met a null or a number out of range. A reply without nulls
** then needs no normalising at all (no walk, no scan), which is most of
** the cost of small replies and all of the memory of number-heavy ones.
** Without it (the rockspec's build), the system's cjson is required and
** every reply is normalised as before.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"

/*
** Decodes text[0, len) with the private cjson instance (an upvalue of the
** running function) and normalises the result. The private copy reads the
** text where it is (its luaL_checklstring is redirected here), so a reply
** is decoded from the transfer's buffer without becoming a Lua string.
*/
#ifdef PX_PRIVATE_CJSON
enum { PX_SAW_NULL = 1, PX_SAW_NONFINITE = 2 };
static _Thread_local int px_decode_saw = 0;

int px_luaopen_cjson(lua_State *L);
void px_cjson_pushnumber(lua_State *L, lua_Number n);
void px_cjson_pushnull(lua_State *L, void *p);
const char *px_cjson_checklstring(lua_State *L, int arg, size_t *len);

/* The copy reads stderr (its strbuf's last-resort messages) without the
** indirection a shared object needs: it reads this one, in the core. */
__attribute__((visibility("hidden"))) FILE *px_cjson_stderr;

/* cjson's lua_pushnumber: whole numbers in range become integers. */
void px_cjson_pushnumber(lua_State *L, lua_Number n) {
  lua_Integer i;
  if (n == floor(n) && lua_numbertointeger(n, &i)) {
    lua_pushinteger(L, i);
    return;
  }
  if (!isfinite(n))
    px_decode_saw |= PX_SAW_NONFINITE;
  lua_pushnumber(L, n);
}

/* cjson's lua_pushlightuserdata: only cjson.null (NULL) is pushed so. */
void px_cjson_pushnull(lua_State *L, void *p) {
  px_decode_saw |= PX_SAW_NULL;
  lua_pushlightuserdata(L, p);
}
#endif

/* The text a decode reads, passed to cjson as a light userdata. */
typedef struct px_text {
  const char *data;
  size_t len;
} px_text;

#ifdef PX_PRIVATE_CJSON
/* the text of the decode in progress (saved and restored around each, so
** a decode started from a debug hook inside another one reads its own) */
static _Thread_local const px_text *px_decoding = NULL;

/* cjson's luaL_checklstring (its decode's only use): the light userdata
** of the decode in progress stands for its text; nothing else does. */
const char *px_cjson_checklstring(lua_State *L, int arg, size_t *len) {
  if (px_decoding != NULL && lua_type(L, arg) == LUA_TLIGHTUSERDATA &&
      lua_touserdata(L, arg) == (void *)px_decoding) {
    *len = px_decoding->len;
    return px_decoding->data;
  }
  return luaL_checklstring(L, arg, len);
}
#endif

/* lua.c's Ctrl-C handler (and pxlua's stop hook) stop a script by a hook
** that raises PX_INTERRUPTED (removing itself first): when it fires inside
** the decoder, the decoder's pcall must not turn it into a bad reply. No
** error of cjson's reads like that. */
static int px_json_stopped(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  return msg != NULL && strcmp(msg, PX_INTERRUPTED) == 0;
}

/* (decode, text) -> value | nil, message. Errors that are not the
** text's fault (memory, an interrupt) propagate. */
static int px_decode_run(lua_State *L) {
  const px_text *text = lua_touserdata(L, 2);
  const char *err;
  int status;
  lua_pushvalue(L, 1);
#ifdef PX_PRIVATE_CJSON
  lua_pushvalue(L, 2);
  px_decode_saw = 0;
#else
  lua_pushlstring(L, text->data, text->len);
#endif
  status = lua_pcall(L, 1, 1, 0);
  if (status == LUA_ERRMEM || (status != LUA_OK && px_json_stopped(L)))
    return lua_error(L);
  if (status != LUA_OK) {
    lua_pushfstring(L, "invalid JSON in reply (%s)", lua_tostring(L, -1));
    goto bad;
  }
  if (lua_type(L, -1) == LUA_TLIGHTUSERDATA) { /* a JSON null */
    lua_pushnil(L);
    return 1;
  }
#ifdef PX_PRIVATE_CJSON
  if (px_decode_saw & PX_SAW_NONFINITE) {
    lua_pushliteral(L, "number out of range in reply");
    goto bad;
  }
  if (!(px_decode_saw & PX_SAW_NULL))
    return 1; /* every number is already what it should be */
#endif
  err = px_normalise(L, -1, text->data, text->len);
  if (err == NULL)
    return 1;
  lua_pushstring(L, err);
bad:
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

int px_json_decode_text(lua_State *L, const char *data, size_t len) {
  px_text text = {data, len};
  int status;
#ifdef PX_PRIVATE_CJSON
  const px_text *outer = px_decoding;
  px_decoding = &text;
#endif
  lua_pushcfunction(L, px_decode_run);
  lua_pushvalue(L, PX_UV_DECODE);
  lua_pushlightuserdata(L, &text);
  status = lua_pcall(L, 2, 2, 0);
#ifdef PX_PRIVATE_CJSON
  px_decoding = outer;
#endif
  if (status != LUA_OK)
    return -1;
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  lua_remove(L, -2);
  return 0;
}

int px_json_decode(lua_State *L, int idx) {
  size_t len;
  const char *data = lua_tolstring(L, idx, &len); /* it stays at idx */
  int r;
  luaL_checkstack(L, 3, NULL);
  r = px_json_decode_text(L, data, len);
  if (r < 0)
    lua_error(L);
  return r;
}

/* The value core.json_empty_array: written as [] (an empty table is {}). */
static const char px_empty_array = 0;

/* ---- request bodies ----
** Written here rather than by lua-cjson 2.1, whose encoder keeps 14
** significant digits (123456789012345 would go out as 1.2345678901234e+14)
** and cannot be told otherwise: integers exactly, floats as the shortest
** text that reads back as the same double.
*/

void px_out_init(px_out *o, lua_State *L) {
  memset(o, 0, sizeof *o);
  o->L = L;
  lua_pushnil(L);
  o->slot = lua_gettop(L);
}

void px_out_init_buf(px_out *o, lua_State *L, px_client *c, px_buf *buf) {
  memset(o, 0, sizeof *o);
  o->L = L;
  o->client = c;
  o->buf = buf;
  o->data = buf->data;
  o->cap = buf->cap;
}

void px_out_put(px_out *o, const char *s, size_t n) {
  if (n == 0) /* nothing to copy, and o->data may still be NULL */
    return;
  if (o->cap - o->len < n && o->buf != NULL) {
    o->buf->len = o->len;
    if (!px_buf_reserve(o->client, o->buf, n))
      luaL_error(o->L, "not enough memory");
    o->data = o->buf->data;
    o->cap = o->buf->cap;
  } else if (o->cap - o->len < n) {
    size_t cap = o->cap ? o->cap : 256;
    char *grown;
    while (cap - o->len < n) {
      if (cap > ((size_t)-1) / 2)
        luaL_error(o->L, "JSON body too large");
      cap *= 2;
    }
    grown = lua_newuserdatauv(o->L, cap, 0);
    if (o->len > 0)
      memcpy(grown, o->data, o->len);
    lua_replace(o->L, o->slot); /* the old one goes to the collector */
    o->data = grown;
    o->cap = cap;
  }
  memcpy(o->data + o->len, s, n);
  o->len += n;
}

/* Replaces the slot by the text (the slot must be on top). */
void px_out_push(px_out *o) {
  lua_pushlstring(o->L, o->data ? o->data : "", o->len);
  lua_replace(o->L, o->slot);
}

void px_json_put_string(px_out *o, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  px_out_put(o, "\"", 1);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6];
    size_t elen = 2;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    px_out_put(o, s + run, i - run);
    run = i + 1;
    esc[0] = '\\';
    switch (c) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      elen = 6;
    }
    px_out_put(o, esc, elen);
  }
  px_out_put(o, s + run, n - run);
  px_out_put(o, "\"", 1);
}

/* A table: an array when its keys are exactly 1..n (n > 0), else an
** object with string keys; {} for an empty one, as lua-cjson writes it. */
static void px_put_table(px_out *o, int t, int depth) {
  lua_State *L = o->L;
  lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0, i;
  int array = n > 0;
  if (depth >= 1000 || !lua_checkstack(L, 4)) /* lua-cjson reads 1000 levels */
    luaL_error(L, "cannot encode a table nested this deeply (or a cycle) in JSON");
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) != LUA_TSTRING && !(array && lua_isinteger(L, -1)))
      luaL_error(L, "cannot encode a table with %s keys in JSON (strings, or an array 1..n)",
                 luaL_typename(L, -1));
  }
  if (array && count != n)
    luaL_error(L, "cannot encode a table with both array items and other keys in JSON");
  if (array) {
    px_out_put(o, "[", 1);
    for (i = 1; i <= n; i++) {
      if (i > 1)
        px_out_put(o, ",", 1);
      lua_rawgeti(L, t, i);
      px_json_put_value(o, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    px_out_put(o, "]", 1);
    return;
  }
  px_out_put(o, "{", 1);
  count = 0;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    size_t klen;
    const char *key = lua_tolstring(L, -2, &klen);
    if (count++ > 0)
      px_out_put(o, ",", 1);
    px_json_put_string(o, key, klen);
    px_out_put(o, ":", 1);
    px_json_put_value(o, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  px_out_put(o, "}", 1);
}

void px_json_put_value(px_out *o, int idx, int depth) {
  lua_State *L = o->L;
  char num[64];
  int n;
  size_t len;
  const char *s;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    s = lua_tolstring(L, idx, &len);
    px_json_put_string(o, s, len);
    break;
  case LUA_TNUMBER:
    n = px_format_number(L, idx, num, sizeof num);
    if (n < 0)
      luaL_error(L, "cannot encode NaN or infinity in JSON");
    px_out_put(o, num, (size_t)n);
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      px_out_put(o, "true", 4);
    else
      px_out_put(o, "false", 5);
    break;
  case LUA_TTABLE:
    if (lua_getmetatable(L, idx)) /* read raw, a proxy would go out as {} */
      luaL_error(L, "cannot encode a table with a metatable in JSON");
    px_put_table(o, idx, depth);
    break;
  case LUA_TNIL:
    px_out_put(o, "null", 4);
    break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) { /* cjson.null */
      px_out_put(o, "null", 4);
      break;
    }
    if (lua_touserdata(L, idx) == (void *)&px_empty_array) {
      px_out_put(o, "[]", 2);
      break;
    }
    /* fall through */
  default:
    luaL_error(L, "cannot encode a %s in JSON", luaL_typename(L, idx));
  }
}

/* The shortest text (15 to 17 digits) that reads back as the same double:
** 2.5e-07, not 2.4999999999999999e-07. */
static int px_format_float(double x, char *out, size_t size) {
  int precision, n = 0;
  for (precision = 15; precision <= 17; precision++) {
    n = snprintf(out, size, "%.*g", precision, x);
    if (strtod(out, NULL) == x)
      break;
  }
  return n;
}

/* Formats the number at idx as the wire wants it: whole numbers as
** integers (9, never 9.0). */
int px_format_number(lua_State *L, int idx, char *out, size_t size) {
  lua_Integer i;
  lua_Number x;
  if (lua_isinteger(L, idx))
    return snprintf(out, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
  x = lua_tonumber(L, idx);
  if (!isfinite(x))
    return -1;
  if (x == floor(x) && lua_numbertointeger(x, &i))
    return snprintf(out, size, LUA_INTEGER_FMT, (LUAI_UACINT)i);
  return px_format_float((double)x, out, size);
}

static int px_decode_fn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TSTRING);
  if (px_json_decode(L, 1))
    return 1;
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}

/* Pushes the JSON text of a value; raises if it cannot be encoded. */
static int px_encode_fn(lua_State *L) {
  px_out o;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  px_out_init(&o, L);
  px_json_put_value(&o, 1, 0);
  px_out_push(&o);
  return 1;
}

static const luaL_Reg px_json_funcs[] = {
    {"json_decode", px_decode_fn},
    {"json_encode", px_encode_fn},
    {NULL,          NULL        },
};

/* Pushes the decode function of a private cjson instance, configured
** once: a user's cjson settings never change what the core reads. */
void px_json_private(lua_State *L) {
#ifdef PX_PRIVATE_CJSON
  px_cjson_stderr = stderr;
  lua_pushnil(L); /* in place of the module table below */
  lua_pushcfunction(L, px_luaopen_cjson);
  lua_call(L, 0, 1); /* a fresh instance, registered nowhere */
#else
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_call(L, 0, 1);
#endif
  lua_getfield(L, -1, "decode_invalid_numbers");
  lua_pushboolean(L, 0);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  lua_remove(L, -2);
}

/* Adds the marshalling functions to the module table on top. */
void px_json_open(lua_State *L, int uv) {
  px_register(L, px_json_funcs, uv);
  lua_pushlightuserdata(L, (void *)&px_empty_array);
  lua_setfield(L, -2, "json_empty_array");
}
