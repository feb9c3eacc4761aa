/*
** fuzz_decode: libFuzzer target for the reply path of proxyapi.core.
**
** Each input is handed as a Lua string to core.json_decode (called
** through the Lua API, so the private cjson upvalues are the real ones).
** A clean refusal (nil and a message) is fine. On success the result
** must hold the normalisation invariants:
**   - every number is an integer, or a finite float that is not whole or
**     has no integer representation (1e300);
**   - no light userdata (cjson.null) anywhere;
**   - only string keys (objects) or exactly the keys 1..n (dense arrays:
**     # equals the number of keys);
** An input shorter than PAD_TO is decoded a second time with spaces up to
** PAD_TO bytes after it: the same JSON value, but normalised by the scan
** of the text (px_normalise.c does that from PX_SCAN_FROM bytes) instead
** of the plain walk of the tree; both must give the same outcome and an
** equal value. So must a third decode with many spaces after every { and
** [ (outside strings) as well: with every container long, the scan lists
** entries rather than having short containers walked whole. Then core.json_encode must encode the value and a
*second
** decode must give an equal structure (same types, same values): the
** core writes numbers exactly (lua-cjson 2.1's encoder, which kept 14
** digits, no longer writes bodies; spec/fuzz/regressions keeps the cases).
**
** One lua_State for the whole run; the stack is reset for every input and
** a full collection ends every GC_EVERY inputs (default 1), so that the
** mallocs of an input are freed by its end and libFuzzer's per-input leak
** check (-detect_leaks=1, its default) can name the input that leaked;
** every MEM_CHECK_EVERY inputs Lua's heap must be back near its size after
** loading (a reference kept by mistake in the registry would grow it).
*/
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "px.h"

int luaopen_cjson(lua_State *L);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef GC_EVERY
#define GC_EVERY 1
#endif
#define MEM_CHECK_EVERY 256
#define MEM_SLACK_KB 2048   /* Lua heap growth over the baseline that counts as a leak */
#define MAX_WALK_DEPTH 1100 /* deeper than cjson's own limit (1000) */
#ifndef PAD_TO
#define PAD_TO 4096 /* PX_SCAN_FROM in px_normalise.c: replies this long are scanned */
#endif
#define SPREAD_BY 260         /* more than PX_SMALL in px_scan.c */
#define SPREAD_MAX (1u << 20) /* longest spread text */

static lua_State *FL;
static int decode_ref = LUA_NOREF, encode_ref = LUA_NOREF;
static unsigned long runs = 0;
static int baseline_kb = 0;
static struct {
  const uint8_t *data; /* the input being run, for fail() */
  size_t size;
} cur;

/* The first 200 bytes of the input, escaped. */
static void dump_input(const uint8_t *data, size_t size) {
  const uint8_t *p, *end = data + (size > 200 ? 200 : size);
  fprintf(stderr, "fuzz_decode: input (%zu bytes): ", size);
  for (p = data; p < end; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '\\')
      fputc(*p, stderr);
    else
      fprintf(stderr, "\\x%02x", *p);
  }
  fputs(size > 200 ? "...\n" : "\n", stderr);
}

static void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\nfuzz_decode: INVARIANT VIOLATED: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (cur.data != NULL)
    dump_input(cur.data, cur.size);
  abort();
}

/* Before any input: setting up failed. */
static void die(const char *msg) {
  fprintf(stderr, "fuzz_decode: cannot load proxyapi.core: %s\n", msg);
  abort();
}

/* ---- invariants of a decoded value ---- */

static int is_whole_in_range(lua_Number x, lua_Integer *out) {
  return x == floor(x) && lua_numbertointeger(x, out);
}

static void check_value(lua_State *L, int idx, int depth, const char *where);

static void check_table(lua_State *L, int t, int depth) {
  lua_Integer count = 0, ints = 0, strs = 0, max = 0, len;
  if (depth > MAX_WALK_DEPTH)
    fail("decoded value nested deeper than %d", MAX_WALK_DEPTH);
  if (!lua_checkstack(L, 8))
    fail("no Lua stack left at depth %d", depth);
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    count++;
    if (lua_type(L, -2) == LUA_TSTRING) {
      strs++;
    } else if (lua_isinteger(L, -2)) {
      lua_Integer k = lua_tointeger(L, -2);
      ints++;
      if (k < 1)
        fail("array key %lld < 1 at depth %d", (long long)k, depth);
      if (k > max)
        max = k;
    } else {
      fail("table key of type %s at depth %d", luaL_typename(L, -2), depth);
    }
    check_value(L, lua_gettop(L), depth + 1, ints ? "array item" : "field");
    lua_pop(L, 1);
  }
  len = (lua_Integer)lua_rawlen(L, t);
  if (ints > 0 && strs > 0)
    fail("table mixes %lld integer keys and %lld string keys at depth %d", (long long)ints, (long long)strs,
         depth);
  lua_rawgeti(L, t, 1);
  if (!lua_isnil(L, -1) || ints > 0) {
    /* an array: exactly the keys 1..n, and # says n */
    if (len != count || max != count)
      fail("array not dense at depth %d: # = %lld, keys = %lld, largest key = %lld", depth, (long long)len,
           (long long)count, (long long)max);
  }
  lua_pop(L, 1);
}

static void check_value(lua_State *L, int idx, int depth, const char *where) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    if (depth > 0)
      fail("nil %s at depth %d", where, depth);
    break;
  case LUA_TBOOLEAN:
  case LUA_TSTRING:
    break;
  case LUA_TNUMBER:
    if (!lua_isinteger(L, idx)) {
      lua_Number x = lua_tonumber(L, idx);
      lua_Integer i;
      if (!isfinite(x))
        fail("non-finite float %g (%s, depth %d)", (double)x, where, depth);
      if (is_whole_in_range(x, &i))
        fail("whole float %.17g kept as a float (%s, depth %d)", (double)x, where, depth);
    }
    break;
  case LUA_TTABLE:
    check_table(L, idx, depth);
    break;
  case LUA_TLIGHTUSERDATA:
    fail("light userdata (cjson.null?) as %s at depth %d", where, depth);
    break;
  default:
    fail("value of type %s as %s at depth %d", luaL_typename(L, idx), where, depth);
  }
}

/* ---- equality of two decoded values ---- */

/* exact: 0 for the round trip, else the variant of the text (PADDED, SPREAD) */
static const char *what(int exact) {
  return exact == 2   ? "spaces after every { and [ (the scan's entries in px_scan.c)"
         : exact == 1 ? "padding the text with spaces (the scan of px_scan.c)"
                      : "json_encode -> json_decode";
}

/* Fails unless the values at a and b are equal. */
static void compare(lua_State *L, int a, int b, int depth, int exact) {
  int ta = lua_type(L, a), tb = lua_type(L, b);
  if (ta != tb)
    fail("%s changed a %s into a %s at depth %d", what(exact), lua_typename(L, ta), lua_typename(L, tb),
         depth);
  switch (ta) {
  case LUA_TNUMBER: {
    int ia = lua_isinteger(L, a), ib = lua_isinteger(L, b);
    if (ia == ib && lua_rawequal(L, a, b))
      return;
    fail("%s changed the %s %.17g into the %s %.17g at depth %d", what(exact), ia ? "integer" : "float",
         (double)lua_tonumber(L, a), ib ? "integer" : "float", (double)lua_tonumber(L, b), depth);
    break;
  }
  case LUA_TTABLE: {
    lua_Integer na = 0, nb = 0;
    if (!lua_checkstack(L, 8))
      fail("no Lua stack left at depth %d", depth);
    lua_pushnil(L);
    while (lua_next(L, a) != 0) {
      na++;
      lua_pushvalue(L, -2);
      lua_rawget(L, b);
      if (lua_isnil(L, -1)) {
        lua_pushvalue(L, -3);
        fail("%s lost the key %s at depth %d", what(exact), luaL_tolstring(L, -1, NULL), depth);
      }
      compare(L, lua_gettop(L) - 1, lua_gettop(L), depth + 1, exact);
      lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, b) != 0) {
      nb++;
      lua_pop(L, 1);
    }
    if (na != nb)
      fail("%s changed a table of %lld keys into one of %lld keys at depth %d", what(exact), (long long)na,
           (long long)nb, depth);
    break;
  }
  default:
    if (!lua_rawequal(L, a, b))
      fail("%s changed a %s value at depth %d", what(exact), lua_typename(L, ta), depth);
  }
}

/* ---- one input ---- */

static const char *const refusals[] = {
    "invalid JSON in reply (",
    "number out of range in reply",
    "reply nested too deeply",
};

/* A refusal: nil and a known message at first, first + 1. */
static void check_refusal(lua_State *L, int first, int nres) {
  size_t i;
  const char *msg;
  if (nres != 2 || !lua_isnil(L, first) || lua_type(L, first + 1) != LUA_TSTRING)
    fail("a refusal must be nil and a message (got %d results)", nres);
  msg = lua_tostring(L, first + 1);
  for (i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
    if (strncmp(msg, refusals[i], strlen(refusals[i])) == 0)
      return;
  fail("unexpected refusal message: %s", msg);
}

/* [-0, +0] Decodes stack[1]; returns the number of results left on the
** stack (1 on success). */
static int decode_at(lua_State *L, int text) {
  int top = lua_gettop(L), status;
  lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
  lua_pushvalue(L, text);
  status = lua_pcall(L, 1, LUA_MULTRET, 0);
  if (status != LUA_OK)
    fail("json_decode raised instead of returning nil and a message: %s", lua_tostring(L, -1));
  return lua_gettop(L) - top;
}

enum { PADDED = 1, SPREAD = 2 };

/* The input, in one of two variants that are the same JSON value:
**   PADDED: with spaces after it, up to PAD_TO bytes: a reply that long
**     is normalised by the scan of its text (px_normalise.c,
**     PX_SCAN_FROM) rather than by the plain walk of the tree;
**   SPREAD: also with SPREAD_BY spaces after every { and [ outside the
**     strings: every container is then too long to be walked whole for
**     being short (PX_SMALL), so the scan's entries are used.
** Pushes the text (0 when SPREAD would make it over SPREAD_MAX bytes) and
** the decode's results; returns their number. */
static int decode_variant(lua_State *L, int variant) {
  luaL_Buffer b;
  size_t i, k, opens = 0;
  int text, in_string = 0;
  for (i = 0; variant == SPREAD && i < cur.size; i++)
    opens += cur.data[i] == '{' || cur.data[i] == '[';
  if (cur.size + opens * SPREAD_BY > SPREAD_MAX) {
    lua_pushnil(L);
    return 0;
  }
  luaL_buffinit(L, &b);
  for (i = 0; i < cur.size; i++) {
    uint8_t c = cur.data[i];
    luaL_addchar(&b, (char)c);
    if (in_string && c == '\\' && i + 1 < cur.size)
      luaL_addchar(&b, (char)cur.data[++i]);
    else if (c == '"')
      in_string = !in_string;
    else if (variant == SPREAD && !in_string && (c == '{' || c == '['))
      for (k = 0; k < SPREAD_BY; k++)
        luaL_addchar(&b, ' ');
  }
  for (i = luaL_bufflen(&b); i < PAD_TO; i++)
    luaL_addchar(&b, ' ');
  luaL_pushresult(&b);
  text = lua_gettop(L);
  return decode_at(L, text);
}

/* A variant of the text must give the outcome the input gave (n results
** from stack index 2). */
static void check_variant(lua_State *L, int n, int variant) {
  int top = lua_gettop(L), nv = decode_variant(L, variant); /* top + 1: the text, top + 2...: results */
  if (lua_isnil(L, top + 1)) {
    lua_settop(L, top);
    return;
  }
  if ((nv == 1) != (n == 1))
    fail("%s changed the outcome: %s without, %s with", what(variant),
         n == 1 ? "a value" : lua_tostring(L, 3), nv == 1 ? "a value" : lua_tostring(L, top + 3));
  if (n == 1) {
    check_value(L, top + 2, 0, "value");
    compare(L, 2, top + 2, 0, variant);
  } else {
    check_refusal(L, top + 2, nv);
  }
  lua_settop(L, top);
}

static int run_one(lua_State *L) {
  int n, status;
  lua_settop(L, 0);
  lua_pushlstring(L, (const char *)cur.data, cur.size); /* 1: the input */
  n = decode_at(L, 1);                                  /* 2: the value, or nil and 3: a message */
  if (n == 1)
    check_value(L, 2, 0, "value");
  else
    check_refusal(L, 2, n);
  if (cur.size < PAD_TO)
    check_variant(L, n, PADDED);
  check_variant(L, n, SPREAD);
  if (n != 1)
    return 0;
  lua_settop(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, encode_ref);
  lua_pushvalue(L, 2);
  status = lua_pcall(L, 1, 1, 0);
  if (status != LUA_OK)
    fail("json_encode refused a decoded reply: %s", lua_tostring(L, -1));
  if (lua_type(L, 3) != LUA_TSTRING) /* 3: the JSON text */
    fail("json_encode returned a %s", luaL_typename(L, 3));
  n = decode_at(L, 3);
  if (n != 1) {
    fail("decoding json_encode's output failed: %s (text: %.200s)", lua_tostring(L, -1), lua_tostring(L, 3));
  }
  check_value(L, 4, 0, "value");
  compare(L, 2, 4, 0, 0);
  return 0;
}

static void setup(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL)
    die("cannot create a Lua state");
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, luaopen_proxyapi_core);
  lua_setfield(L, -2, "proxyapi.core");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "proxyapi.core");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    die(lua_tostring(L, -1));
  lua_getfield(L, -1, "json_decode");
  decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "json_encode");
  encode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  baseline_kb = lua_gc(L, LUA_GCCOUNT);
  FL = L;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  setup();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L;
  if (FL == NULL)
    setup();
  L = FL;
  cur.data = data;
  cur.size = size;
  lua_settop(L, 0);
  lua_pushcfunction(L, run_one);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK)
    fail("Lua error outside the calls under test: %s", lua_tostring(L, -1));
  lua_settop(L, 0);
  runs++;
#if GC_EVERY > 1
  if (runs % GC_EVERY == 0 || runs % MEM_CHECK_EVERY == 0)
#endif
    lua_gc(L, LUA_GCCOLLECT);
  if (runs % MEM_CHECK_EVERY == 0) {
    int kb = lua_gc(L, LUA_GCCOUNT);
    if (kb > baseline_kb + MEM_SLACK_KB)
      fail("Lua heap grew from %d KB to %d KB after a full collection", baseline_kb, kb);
  }
  cur.data = NULL;
  return 0;
}
