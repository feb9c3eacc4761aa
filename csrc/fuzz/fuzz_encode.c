/*
** fuzz_encode: libFuzzer target for the request side of proxyapi.core:
** the query writer (core.request_text on a request value, px_request.c)
** and core.json_encode.
**
** The input is a little program for a stack machine that builds Lua
** values: strings of arbitrary bytes (NUL, invalid UTF-8, up to 64 KiB by
** doubling), integers (any 64 bits, mininteger, maxinteger, ...), floats
** (any 64 bits: NaN payloads, inf, -0.0, denormals, huge), booleans, nil,
** tables (appends, any key, negative and sparse indices, nesting past
** cjson's depth limit, cycles) and values of the wrong type (functions,
** userdata, threads, light userdata). Every scalar made also goes into a
** "flat" list. It can also make the collector run on nearly every
** allocation while the calls below run.
**
** Then, each under lua_pcall (an error must be a clean Lua error; a crash
** or a sanitizer report is a finding):
**   - the query writer on the flat list and on every table made, read as
**     {name, value, ...} (a request value with those fields in that order;
**     lists whose names are not distinct strings, or that hold nil, are
**     skipped): it must fail exactly when a value is not a string, boolean
**     or finite number, naming that parameter; on success the text must hold only
**     unreserved characters, %XX, and '=' and '&' alternating between the
**     items, and every item must read back: strings byte for byte,
**     integers (and whole floats in range) as canonical decimal integers,
**     other floats as a decimal that reads back to the same double;
**   - the query writer on a non-table must raise;
**   - core.json_encode on every value made; when it succeeds, the text
**     must decode with core.json_decode, and scalars must come back equal.
**
** Both issues these checks found are fixed and kept as regression cases
** (spec/fuzz/regressions): encode_query wrote a float's exponent with a
** literal '+', and bodies kept lua-cjson 2.1's 14 significant digits.
*/
#include <errno.h>
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

#define MAX_ITEMS 48   /* values on the machine's stack */
#define MAX_FLAT 256   /* items of the flat list */
#define MAX_STEPS 4096 /* instructions run per input */
#ifndef MAX_STR
#define MAX_STR 8192 /* longest string made by doubling: the query buffer grows past LUAL_BUFFERSIZE */
#endif
#define MEM_CHECK_EVERY 256
#ifndef AGGRESSIVE_GC
#define AGGRESSIVE_GC 1, 1000, 1 /* pause, step multiplier, log2 step size */
#endif
#define MEM_SLACK_KB 2048

static lua_State *FL;
static int decode_ref = LUA_NOREF, encode_ref = LUA_NOREF, query_ref = LUA_NOREF;
static unsigned long runs = 0;
static int baseline_kb = 0;
static const uint8_t *cur_data;
static size_t cur_size;

static void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\nfuzz_encode: INVARIANT VIOLATED: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(input of %zu bytes; replay the crash file to see it again)\n", cur_size);
  abort();
}

/* ---- the program ---- */

typedef struct {
  const uint8_t *p;
  size_t n, i;
} Reader;

static int more(const Reader *r) {
  return r->i < r->n;
}

static unsigned byte(Reader *r) {
  return r->i < r->n ? r->p[r->i++] : 0u;
}

static uint64_t u64(Reader *r) {
  uint64_t v = 0;
  int k;
  for (k = 0; k < 8; k++)
    v |= (uint64_t)byte(r) << (8 * k);
  return v;
}

static const lua_Integer int_specials[] = {
    0,
    1,
    -1,
    2,
    9,
    100,
    102400,
    255,
    256,
    -255,
    2147483647,
    -2147483647 - 1,
    4294967296,
    9007199254740992, /* 2^53 */
    9007199254740993, /* 2^53 + 1 */
    -9007199254740993,
    99999999999999,  /* 14 digits */
    100000000000000, /* 15 digits */
    123456789012345,
    1234567890123456789,
    LUA_MAXINTEGER,
    LUA_MININTEGER,
    LUA_MAXINTEGER - 1,
    LUA_MININTEGER + 1,
};

static double flt_special(unsigned k) {
  switch (k % 28) {
  case 0:
    return NAN;
  case 1:
    return -NAN;
  case 2:
    return HUGE_VAL;
  case 3:
    return -HUGE_VAL;
  case 4:
    return -0.0;
  case 5:
    return 0.0;
  case 6:
    return 0.5;
  case 7:
    return 1.5;
  case 8:
    return 9.0;
  case 9:
    return 9007199254740992.0; /* 2^53 */
  case 10:
    return 9223372036854775808.0; /* 2^63 */
  case 11:
    return -9223372036854775808.0; /* -2^63: has an integer */
  case 12:
    return 18446744073709551616.0; /* 2^64 */
  case 13:
    return 1e17;
  case 14:
    return 1e300;
  case 15:
    return 1.7976931348623157e308; /* DBL_MAX */
  case 16:
    return 2.2250738585072014e-308; /* DBL_MIN */
  case 17:
    return 4.9406564584124654e-324; /* smallest denormal */
  case 18:
    return 0.1;
  case 19:
    return 1e-5;
  case 20:
    return 123456.789;
  case 21:
    return 0.1 + 0.2;
  case 22:
    return -1e300;
  case 23:
    return 1e15 + 0.5;
  case 24:
    return 1.0 / 3.0;
  case 25:
    return 102400.0;
  case 26:
    return 9223372036854774784.0; /* largest double below 2^63 */
  default:
    return 1e21;
  }
}

static int cfunc_dummy(lua_State *L) {
  (void)L;
  return 0;
}

static int light_target;

enum {
  OP_STR,
  OP_INT,
  OP_INT_SPECIAL,
  OP_FLT,
  OP_FLT_SPECIAL,
  OP_BOOL,
  OP_NIL,
  OP_TABLE,
  OP_APPEND,
  OP_SET,
  OP_SETI,
  OP_WRONG,
  OP_DUP,
  OP_REPEAT,
  OP_GC,
  OP_POP,
  OP_NEST,
  OP_CYCLE,
  OP_TO_FLAT,
  OP_COUNT
};

#define FLAT 1 /* stack index of the flat list; the machine's stack starts at 2 */

static int items(lua_State *L) {
  return lua_gettop(L) - FLAT;
}

/* Appends a copy of the value on top to the flat list. */
static void to_flat(lua_State *L) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, FLAT);
  if (n >= MAX_FLAT)
    return;
  lua_pushvalue(L, -1);
  lua_rawseti(L, FLAT, n + 1);
}

static int pushes(unsigned op) {
  return op <= OP_TABLE || op == OP_WRONG || op == OP_DUP;
}

/* Runs the program in r; needs MAX_ITEMS + 4 free stack slots. */
static void run_program(lua_State *L, Reader *r) {
  int steps = 0;
  while (more(r) && steps++ < MAX_STEPS) {
    unsigned op = byte(r) % OP_COUNT;
    int top = lua_gettop(L), n = items(L);
    if (n >= MAX_ITEMS && pushes(op))
      op = OP_POP;
    switch (op) {
    case OP_STR: {
      size_t len = byte(r), left = r->n - r->i;
      if (len > left)
        len = left;
      lua_pushlstring(L, (const char *)r->p + r->i, len);
      r->i += len;
      to_flat(L);
      break;
    }
    case OP_INT:
      lua_pushinteger(L, (lua_Integer)u64(r));
      to_flat(L);
      break;
    case OP_INT_SPECIAL:
      lua_pushinteger(L, int_specials[byte(r) % (sizeof int_specials / sizeof int_specials[0])]);
      to_flat(L);
      break;
    case OP_FLT: {
      uint64_t bits = u64(r);
      double x;
      memcpy(&x, &bits, sizeof x);
      lua_pushnumber(L, (lua_Number)x);
      to_flat(L);
      break;
    }
    case OP_FLT_SPECIAL:
      lua_pushnumber(L, (lua_Number)flt_special(byte(r)));
      to_flat(L);
      break;
    case OP_BOOL:
      lua_pushboolean(L, (int)(byte(r) & 1));
      to_flat(L);
      break;
    case OP_NIL:
      lua_pushnil(L);
      break;
    case OP_TABLE: {
      unsigned b = byte(r);
      lua_createtable(L, (int)(b & 15), (int)(b >> 4));
      break;
    }
    case OP_APPEND: /* t, v -> t with t[#t + 1] = v */
      if (n >= 2 && lua_type(L, top - 1) == LUA_TTABLE)
        lua_rawseti(L, top - 1, (lua_Integer)lua_rawlen(L, top - 1) + 1);
      break;
    case OP_SET: /* t, k, v -> t with t[k] = v */
      if (n >= 3 && lua_type(L, top - 2) == LUA_TTABLE) {
        int bad_key =
            lua_isnil(L, top - 1) || (lua_type(L, top - 1) == LUA_TNUMBER && !lua_isinteger(L, top - 1) &&
                                      isnan(lua_tonumber(L, top - 1)));
        if (bad_key)
          lua_pop(L, 2);
        else
          lua_rawset(L, top - 2);
      }
      break;
    case OP_SETI: /* t, v -> t with t[i] = v, i from -128 to 127 */
      if (n >= 2 && lua_type(L, top - 1) == LUA_TTABLE)
        lua_rawseti(L, top - 1, (lua_Integer)(signed char)byte(r));
      else
        (void)byte(r);
      break;
    case OP_WRONG:
      switch (byte(r) % 5) {
      case 0:
        lua_pushcfunction(L, cfunc_dummy);
        break;
      case 1:
        lua_newuserdatauv(L, 16, 0);
        break;
      case 2:
        lua_newthread(L);
        break;
      case 3:
        lua_pushlightuserdata(L, NULL);
        break; /* cjson.null */
      default:
        lua_pushlightuserdata(L, &light_target);
        break;
      }
      break;
    case OP_DUP:
      if (n > 0) {
        unsigned k = byte(r) % (unsigned)n;
        lua_pushvalue(L, FLAT + 1 + (int)k);
      }
      break;
    case OP_REPEAT:
      if (n > 0 && lua_type(L, top) == LUA_TSTRING && lua_rawlen(L, top) * 2 <= MAX_STR) {
        lua_pushvalue(L, top);
        lua_concat(L, 2);
        to_flat(L);
      }
      break;
    case OP_GC: {
      /* the collector stepping on nearly every allocation is slow: one
      ** GC instruction in four turns it on, for the rest of the input */
      unsigned b = byte(r) & 3;
      if (b == 1)
        lua_gc(L, LUA_GCINC, AGGRESSIVE_GC);
      else if (b == 2)
        lua_gc(L, LUA_GCGEN, 1, 100);
      else
        lua_gc(L, LUA_GCCOLLECT);
      break;
    }
    case OP_POP:
      if (n > 0)
        lua_pop(L, 1);
      break;
    case OP_NEST: /* v -> {{...{v}...}}, 4 to 1024 levels (cjson stops at 1000) */
      if (n > 0) {
        int k, levels = 4 * (int)(byte(r) + 1);
        for (k = 0; k < levels; k++) {
          lua_createtable(L, 1, 0);
          lua_insert(L, -2);
          lua_rawseti(L, -2, 1);
        }
      }
      break;
    case OP_CYCLE: /* t -> t with t[i] = t */
      if (n > 0 && lua_type(L, top) == LUA_TTABLE) {
        lua_pushvalue(L, top);
        lua_rawseti(L, top, (lua_Integer)(byte(r) % 3 + 1));
      }
      break;
    case OP_TO_FLAT: /* any value, of any type, into the flat list */
      if (n > 0)
        to_flat(L);
      break;
    default:
      break;
    }
  }
}

/* ---- checks ---- */

static int whole_in_range(lua_Number x, lua_Integer *out) {
  return x == floor(x) && lua_numbertointeger(x, out);
}

/* 0 when encode_query must succeed on the table at t, else the position
** of the first item it must refuse. */
static lua_Integer query_refuses_at(lua_State *L, int t) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, t);
  for (i = 1; i <= n; i++) {
    int ok, ty = lua_rawgeti(L, t, i);
    if (ty == LUA_TNUMBER)
      ok = lua_isinteger(L, -1) || isfinite(lua_tonumber(L, -1));
    else
      ok = ty == LUA_TSTRING || ty == LUA_TBOOLEAN;
    lua_pop(L, 1);
    if (!ok)
      return i;
  }
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int unreserved(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

/* The number at idx, read back from its query text s (NUL-terminated). */
static void check_number_text(lua_State *L, int idx, const char *s, lua_Integer item) {
  lua_Integer i;
  int is_int = lua_isinteger(L, idx);
  lua_Number x = lua_tonumber(L, idx);
  if (is_int || whole_in_range(x, &i)) {
    char want[32];
    if (is_int)
      i = lua_tointeger(L, idx);
    snprintf(want, sizeof want, LUA_INTEGER_FMT, (LUAI_UACINT)i);
    if (strcmp(s, want) != 0)
      fail("query item #%lld: the integer %s written as '%s'", (long long)item, want, s);
  } else {
    char *end;
    double y;
    errno = 0;
    y = strtod(s, &end);
    if (*s == '\0' || *end != '\0')
      fail("query item #%lld: the float %.17g written as '%s', not a number", (long long)item, (double)x, s);
    if (memcmp(&y, &x, sizeof y) != 0 && !(y == 0 && x == 0))
      fail("query item #%lld: the float %.17g written as '%s', which reads back as %.17g", (long long)item,
           (double)x, s, y);
  }
}

/* Checks the query text o against the items of the table at t. */
static void check_query(lua_State *L, int t, const char *o, size_t m) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, t);
  size_t pos = 0;
  char *tok = malloc(m + 1);
  if (tok == NULL)
    fail("out of memory");
  for (i = 1; i <= n; i++) {
    size_t dl = 0;
    int ty;
    if (i > 1) {
      char sep = (i & 1) ? '&' : '=';
      if (pos >= m || o[pos] != sep)
        fail("query: '%c' expected before item #%lld at offset %zu", sep, (long long)i, pos);
      pos++;
    }
    ty = lua_rawgeti(L, t, i);
    while (pos < m && o[pos] != '&' && o[pos] != '=') {
      unsigned char c = (unsigned char)o[pos];
      if (unreserved(c)) {
        tok[dl++] = (char)c;
        pos++;
      } else if (c == '%') {
        int hi = pos + 2 < m ? hexval((unsigned char)o[pos + 1]) : -1;
        int lo = pos + 2 < m ? hexval((unsigned char)o[pos + 2]) : -1;
        if (hi < 0 || lo < 0)
          fail("query: '%%' not followed by two upper-case hex digits at offset %zu", pos);
        tok[dl++] = (char)(hi * 16 + lo);
        pos += 3;
      } else {
        fail("query: character 0x%02x ('%c') in item #%lld at offset %zu is not unreserved, %%XX, "
             "'=' or '&'",
             c, c >= 0x20 && c < 0x7f ? c : '?', (long long)i, pos);
      }
    }
    tok[dl] = '\0';
    switch (ty) {
    case LUA_TSTRING: {
      size_t slen;
      const char *s = lua_tolstring(L, -1, &slen);
      if (slen != dl || memcmp(s, tok, dl) != 0)
        fail("query item #%lld: a string of %zu bytes reads back as %zu other bytes", (long long)i, slen, dl);
      break;
    }
    case LUA_TBOOLEAN:
      if (strcmp(tok, lua_toboolean(L, -1) ? "true" : "false") != 0)
        fail("query item #%lld: a boolean written as '%s'", (long long)i, tok);
      break;
    case LUA_TNUMBER:
      check_number_text(L, lua_gettop(L), tok, i);
      break;
    default:
      fail("query item #%lld of type %s was accepted", (long long)i, lua_typename(L, ty));
    }
    lua_pop(L, 1);
  }
  free(tok);
  if (pos != m)
    fail("query: %zu bytes after the last item", m - pos);
}

static void check_encode_query(lua_State *L, int idx) {
  int status;
  lua_Integer bad = lua_type(L, idx) == LUA_TTABLE ? query_refuses_at(L, idx) : -1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, query_ref);
  lua_pushvalue(L, idx);
  status = lua_pcall(L, 1, 1, 0);
  if (status == LUA_OK && lua_type(L, -1) == LUA_TBOOLEAN) { /* not a request value's form */
    lua_pop(L, 1);
    return;
  }
  if (bad == 0) {
    size_t m;
    const char *o;
    if (status != LUA_OK)
      fail("encode_query refused a valid list: %s", lua_tostring(L, -1));
    if (lua_type(L, -1) != LUA_TSTRING)
      fail("encode_query returned a %s", luaL_typename(L, -1));
    o = lua_tolstring(L, -1, &m);
    check_query(L, idx, o, m);
  } else {
    if (status == LUA_OK)
      fail("encode_query accepted a %s (item #%lld is invalid)", luaL_typename(L, idx), (long long)bad);
    if (status != LUA_ERRRUN || lua_type(L, -1) != LUA_TSTRING)
      fail("encode_query failed with status %d and a %s", status, luaL_typename(L, -1));
    if (bad > 0 && strstr(lua_tostring(L, -1), "query parameter '") == NULL)
      fail("the query writer's error does not name the parameter of item #%lld: %s", (long long)bad,
           lua_tostring(L, -1));
  }
  lua_pop(L, 1);
}

/* A scalar at a and what json_decode(json_encode(it)) gave at b. */
static void check_scalar_back(lua_State *L, int a, int b) {
  int ta = lua_type(L, a), tb = lua_type(L, b);
  if (ta == LUA_TLIGHTUSERDATA && lua_touserdata(L, a) == NULL) {
    if (tb != LUA_TNIL)
      fail("json_encode(cjson.null) decoded as a %s", lua_typename(L, tb));
    return;
  }
  if (ta != tb)
    fail("json round trip changed a %s into a %s", lua_typename(L, ta), lua_typename(L, tb));
  if (ta == LUA_TNUMBER) {
    /* the text is exact, but lua-cjson 2.1 reads every number through a
    ** double: an integer beyond 2^53 comes back as the nearest double */
    lua_Integer want_i = 0;
    lua_Number x = lua_tonumber(L, a);
    int want_int = whole_in_range(x, &want_i);
    if (want_int ? lua_isinteger(L, b) && lua_tointeger(L, b) == want_i
                 : !lua_isinteger(L, b) && lua_tonumber(L, b) == x)
      return;
    if (lua_isinteger(L, a) && lua_isinteger(L, b))
      fail("json round trip changed the integer %lld into %lld", (long long)lua_tointeger(L, a),
           (long long)lua_tointeger(L, b));
    fail("json round trip changed the %s %.17g into the %s %.17g", lua_isinteger(L, a) ? "integer" : "float",
         (double)lua_tonumber(L, a), lua_isinteger(L, b) ? "integer" : "float", (double)lua_tonumber(L, b));
  } else if (!lua_rawequal(L, a, b)) {
    fail("json round trip changed a %s", lua_typename(L, ta));
  }
}

static void check_json_encode(lua_State *L, int idx) {
  int status, top = lua_gettop(L), ty = lua_type(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, encode_ref);
  lua_pushvalue(L, idx);
  status = lua_pcall(L, 1, 1, 0);
  if (status != LUA_OK) {
    if (status != LUA_ERRRUN || lua_type(L, -1) != LUA_TSTRING)
      fail("json_encode failed with status %d and a %s", status, luaL_typename(L, -1));
    lua_settop(L, top);
    return;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    fail("json_encode returned a %s", luaL_typename(L, -1));
  lua_rawgeti(L, LUA_REGISTRYINDEX, decode_ref);
  lua_pushvalue(L, -2);
  status = lua_pcall(L, 1, LUA_MULTRET, 0);
  if (status != LUA_OK)
    fail("json_decode raised on json_encode's output: %s", lua_tostring(L, -1));
  if (lua_gettop(L) != top + 2)
    fail("json_decode refused json_encode's output: %s (text: %.200s)", lua_tostring(L, -1),
         lua_tostring(L, top + 1));
  if (ty == LUA_TSTRING || ty == LUA_TNUMBER || ty == LUA_TBOOLEAN || ty == LUA_TNIL ||
      ty == LUA_TLIGHTUSERDATA)
    check_scalar_back(L, idx, top + 2);
  lua_settop(L, top);
}

static int run_one(lua_State *L) {
  Reader r;
  int i, top;
  r.p = cur_data;
  r.n = cur_size;
  r.i = 0;
  lua_settop(L, 0);
  if (!lua_checkstack(L, MAX_ITEMS + 8))
    fail("no Lua stack for the program");
  lua_newtable(L); /* FLAT */
  run_program(L, &r);
  top = lua_gettop(L);
  if (!lua_checkstack(L, 16))
    fail("no Lua stack left");
  for (i = FLAT; i <= top; i++) {
    int j, seen = 0;
    for (j = FLAT; j < i && !seen; j++) /* a value made once and copied: checked once */
      seen = lua_rawequal(L, i, j) && (lua_type(L, i) == LUA_TTABLE || lua_type(L, i) == LUA_TSTRING);
    if (seen)
      continue;
    check_encode_query(L, i);
    check_json_encode(L, i);
  }
  return 0;
}

#ifndef GC_EVERY
#define GC_EVERY 1
#endif

static void reset_gc(lua_State *L) {
  lua_gc(L, LUA_GCINC, 200, 100, 13); /* Lua 5.4's defaults */
#if GC_EVERY > 1
  if (runs % GC_EVERY == 0)
#endif
    lua_gc(L, LUA_GCCOLLECT);
}

static void setup(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL)
    fail("cannot create a Lua state");
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
    fail("require 'proxyapi.core': %s", lua_tostring(L, -1));
  lua_getfield(L, -1, "json_decode");
  decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "json_encode");
  encode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  /* {name, value, ...} as the request value the client would make */
  if (luaL_loadstring(L,
                      "local request_text = ...\n"
                      "return function(flat)\n"
                      "  if type(flat) ~= 'table' then return request_text(flat, 'GET') end\n"
                      "  local n, req = rawlen(flat), { fields = {}, order = {} }\n"
                      "  if n % 2 == 1 then return false end\n"
                      "  for i = 1, n, 2 do\n"
                      "    local k, v = rawget(flat, i), rawget(flat, i + 1)\n"
                      "    if type(k) ~= 'string' or req.fields[k] ~= nil or v == nil then return false end\n"
                      "    req.order[#req.order + 1], req.fields[k] = k, v\n"
                      "  end\n"
                      "  return request_text(req, 'GET')\n"
                      "end\n") != LUA_OK)
    fail("query adapter: %s", lua_tostring(L, -1));
  lua_getfield(L, -2, "request_text");
  lua_call(L, 1, 1);
  query_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  reset_gc(L);
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
  cur_data = data;
  cur_size = size;
  lua_settop(L, 0);
  lua_pushcfunction(L, run_one);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK)
    fail("Lua error outside the calls under test: %s", lua_tostring(L, -1));
  lua_settop(L, 0);
  /* a full collection after every input: its mallocs are freed by its end,
  ** so libFuzzer's per-input leak check can name an input that leaks */
  runs++;
  reset_gc(L);
  if (runs % MEM_CHECK_EVERY == 0) {
    int kb = lua_gc(L, LUA_GCCOUNT);
    if (kb > baseline_kb + MEM_SLACK_KB)
      fail("Lua heap grew from %d KB to %d KB after a full collection", baseline_kb, kb);
  }
  cur_data = NULL;
  return 0;
}
