/*
** px_normalise.c: decoded replies made the way users expect them.
**
** lua-cjson 2.1 reads every number as a float and keeps JSON nulls as a
** sentinel; users expect whole numbers as integers, nulls as absent
** fields and dense arrays. Walking the whole decoded tree to find them
** costs up to a fifth of the decoding (a 200 KB city list holds numbers
** in one place), so the JSON text is read first: a scan that skips
** strings with memchr lists the members that hold a number, a null, or a
** container with such members below it, and only those are visited in
** the tree. An object with an escaped key is walked whole instead.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "px.h"

#define PX_MAX_DEPTH 1000
/* smaller replies are walked whole: reading the text first pays off on
** large trees only */
#define PX_SCAN_FROM 4096

/* ---- the whole walk: the fallback, and for escaped keys ---- */

static const char *px_normalise_value(lua_State *L, int idx, int depth, int *changed);

static int px_is_null(lua_State *L, int idx) {
  /* cjson.null is a light userdata holding NULL */
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* Replaces a whole float at idx by an integer; refuses NaN and infinity. */
static const char *px_normalise_number(lua_State *L, int idx, int *changed) {
  lua_Number x;
  lua_Integer i;
  if (lua_isinteger(L, idx))
    return NULL;
  x = lua_tonumber(L, idx);
  if (isnan(x) || isinf(x))
    return "number out of range in reply";
  if (x == floor(x) && lua_numbertointeger(x, &i)) {
    lua_pushinteger(L, i);
    lua_replace(L, idx);
    *changed = 1;
  }
  return NULL;
}

/* Drops the nulls of the array at t (items 1..n), keeping it dense. */
static void px_compact(lua_State *L, int t, lua_Integer n) {
  lua_Integer i, j = 1;
  for (i = 1; i <= n; i++) {
    if (lua_rawgeti(L, t, i) == LUA_TLIGHTUSERDATA && px_is_null(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (i != j)
      lua_rawseti(L, t, j);
    else
      lua_pop(L, 1);
    j++;
  }
  for (; j <= n; j++) {
    lua_pushnil(L);
    lua_rawseti(L, t, j);
  }
}

/* A JSON array (integer keys 1..n). */
static const char *px_normalise_array(lua_State *L, int t, lua_Integer n, int depth) {
  lua_Integer i;
  int nulls = 0;
  for (i = 1; i <= n; i++) {
    int changed = 0;
    const char *err;
    lua_rawgeti(L, t, i);
    if (px_is_null(L, -1)) {
      nulls = 1;
      lua_pop(L, 1);
      continue;
    }
    err = px_normalise_value(L, lua_gettop(L), depth + 1, &changed);
    if (err != NULL) {
      lua_pop(L, 1);
      return err;
    }
    if (changed)
      lua_rawseti(L, t, i);
    else
      lua_pop(L, 1);
  }
  if (nulls)
    px_compact(L, t, n);
  return NULL;
}

/* A JSON object: null fields become absent. Assigning to (or clearing)
** an existing field during lua_next is allowed. */
static const char *px_normalise_object(lua_State *L, int t, int depth) {
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    int changed = 0;
    const char *err;
    if (px_is_null(L, -1)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, t);
      continue;
    }
    err = px_normalise_value(L, lua_gettop(L), depth + 1, &changed);
    if (err != NULL) {
      lua_pop(L, 2);
      return err;
    }
    if (changed) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, t);
    } else {
      lua_pop(L, 1);
    }
  }
  return NULL;
}

static const char *px_normalise_value(lua_State *L, int idx, int depth, int *changed) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    return px_normalise_number(L, idx, changed);
  case LUA_TTABLE: {
    lua_Integer n;
    if (depth > PX_MAX_DEPTH || !lua_checkstack(L, 6))
      return "reply nested too deeply";
    n = (lua_Integer)lua_rawlen(L, idx);
    return n > 0 ? px_normalise_array(L, idx, n, depth) : px_normalise_object(L, idx, depth);
  }
  default:
    return NULL;
  }
}

/* ---- reading the text: where the tree needs work ---- */

enum { PX_NONE, PX_NUMBER, PX_NULL, PX_OBJECT, PX_ARRAY, PX_WHOLE };

/* A member that needs work. Entries are in post-order: a container's
** entry follows the `size` entries of its subtree, so a member is only
** recorded once its value has turned out to need work. */
typedef struct px_fix {
  const char *key; /* an object's member: its key in the text; NULL for an array item */
  size_t keylen;
  lua_Integer index; /* an array item: its position in the JSON array */
  int kind;
  int size;
  int nulls; /* an array that holds nulls, to compact */
} px_fix;

typedef struct px_scan {
  lua_State *L;
  px_fix *fix; /* in a userdata at `slot`, so an error frees it */
  int n, cap, slot;
} px_scan;

/* A container open during the scan. */
typedef struct px_level {
  int is_array, expect_key, first;
  lua_Integer index; /* arrays: the position of the current item */
  const char *key;   /* objects: the current member's key */
  size_t keylen;
  int key_escaped;
  int members, leaves, containers, escapes, nulls;
} px_level;

/* Nonzero when one of the 8 bytes of x is b (the classic SWAR test). */
static uint64_t px_has_byte(uint64_t x, unsigned char b) {
  uint64_t y = x ^ (0x0101010101010101ULL * b);
  return (y - 0x0101010101010101ULL) & ~y & 0x8080808080808080ULL;
}

/* p after an opening quote; returns the position after the closing one,
** and whether the string has an escape. Eight bytes at a time up to the
** next quote or backslash: the lowest flagged byte is always a true one. */
static const char *px_skip_string(const char *p, const char *end, int *escaped) {
  *escaped = 0;
  for (;;) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
      uint64_t word, found;
      memcpy(&word, p, sizeof word);
      found = px_has_byte(word, '"') | px_has_byte(word, '\\');
      if (found != 0) {
        p += __builtin_ctzll(found) / 8;
        break;
      }
      p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
      p++;
    if (p >= end)
      return end;
    if (*p == '"')
      return p + 1;
    *escaped = 1;
    p += 2;
  }
}

/* Records a member whose value needs work, after its subtree. */
static void px_record(px_scan *s, const px_level *at, int kind, int before, int nulls) {
  px_fix *f;
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 32;
    px_fix *grown = lua_newuserdatauv(s->L, (size_t)cap * sizeof *grown, 0);
    if (s->n > 0)
      memcpy(grown, s->fix, (size_t)s->n * sizeof *grown);
    lua_replace(s->L, s->slot); /* the old one goes to the collector */
    s->fix = grown;
    s->cap = cap;
  }
  f = &s->fix[s->n];
  f->key = at->is_array ? NULL : at->key;
  f->keylen = at->keylen;
  f->index = at->index;
  f->kind = kind;
  f->size = s->n - before;
  f->nulls = nulls;
  s->n++;
}

/* A value of kind `kind` ended inside `at` (its subtree's entries start
** at `before`). */
static void px_value(px_scan *s, px_level *at, int kind, int before, int nulls) {
  if (at->is_array) {
    if (kind == PX_NULL) /* only the compaction needs to know */
      at->nulls = 1;
    else if (kind != PX_NONE)
      px_record(s, at, kind, before, nulls);
    return;
  }
  at->members++;
  if (kind == PX_NONE)
    return;
  at->escapes |= at->key_escaped;
  if (kind == PX_NUMBER || kind == PX_NULL)
    at->leaves++;
  else
    at->containers++;
  px_record(s, at, kind, before, nulls);
}

/* The kind of the container `at` that just closed. An object is walked
** whole when the text's keys are not the table's (escapes), or when most
** members need work anyway: lua_next is cheaper then than a lookup per key. */
static int px_close(px_scan *s, const px_level *at) {
  if (at->is_array)
    return s->n > at->first || at->nulls ? PX_ARRAY : PX_NONE;
  if (at->escapes || (at->containers == 0 && at->leaves > 0 && at->leaves * 2 >= at->members)) {
    s->n = at->first;
    return PX_WHOLE;
  }
  return s->n > at->first ? PX_OBJECT : PX_NONE;
}

/*
** Reads the text of a valid JSON document (cjson has parsed it) in one
** loop over an explicit stack of open containers. Returns the root's
** kind (and whether the root array holds nulls), or -1 for text it does
** not understand.
*/
static int px_scan_text(px_scan *s, const char *p, const char *end, int *root_nulls) {
  px_level levels[PX_MAX_DEPTH + 2];
  px_level *at = &levels[0]; /* the root: a pseudo-array of one item */
  int root = PX_NONE;
  memset(at, 0, sizeof *at);
  at->is_array = 1;
  while (p < end) {
    int kind = PX_NONE, escaped;
    const char *start = p;
    switch (*p) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case ':':
      p++;
      continue;
    case ',':
      at->expect_key = !at->is_array;
      p++;
      continue;
    case '"':
      p = px_skip_string(p + 1, end, &escaped);
      if (at->expect_key) {
        at->key = start + 1;
        at->keylen = (size_t)(p - 1 - at->key);
        at->key_escaped = escaped;
        at->expect_key = 0;
        continue;
      }
      break;
    case '{':
    case '[':
      if (at - levels > PX_MAX_DEPTH)
        return -1;
      at->index += at->is_array;
      at++;
      memset(at, 0, sizeof *at);
      at->is_array = *p == '[';
      at->expect_key = !at->is_array;
      at->first = s->n;
      p++;
      continue;
    case '}':
    case ']': {
      int closed, first = at->first, nulls = at->nulls;
      if (at == levels || at->is_array != (*p == ']'))
        return -1;
      closed = px_close(s, at);
      at--;
      p++;
      if (at == levels) {
        *root_nulls = nulls;
        root = closed;
      } else {
        px_value(s, at, closed, first, nulls);
      }
      continue;
    }
    case 't':
      p += 4;
      break;
    case 'f':
      p += 5;
      break;
    case 'n':
      kind = PX_NULL;
      p += 4;
      break;
    default:
      kind = PX_NUMBER;
      while (p < end &&
             ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E'))
        p++;
      if (p == start)
        return -1;
    }
    /* a scalar value ended */
    if (at == levels)
      root = kind;
    else {
      at->index += at->is_array;
      px_value(s, at, kind, s->n, 0);
    }
  }
  return at == levels ? root : -1;
}

/* ---- doing the work the text asked for ---- */

/* Applies the entries fix[0 .. count) to the table at t, last first: in
** post-order, an entry's subtree lies just before it. Each entry checks
** the value it finds, so duplicate keys (the last one wins) are safe. */
static const char *px_apply(lua_State *L, int t, const px_fix *fix, int count, int is_array, int nulls,
                            int depth) {
  int i = count - 1;
  if (depth > PX_MAX_DEPTH || !lua_checkstack(L, 6))
    return "reply nested too deeply";
  while (i >= 0) {
    const px_fix *f = &fix[i];
    const char *err = NULL;
    int changed = 0;
    if (is_array) {
      lua_rawgeti(L, t, f->index);
    } else {
      lua_pushlstring(L, f->key, f->keylen);
      lua_pushvalue(L, -1);
      lua_rawget(L, t);
    }
    switch (f->kind) {
    case PX_NUMBER:
      err = lua_type(L, -1) == LUA_TNUMBER ? px_normalise_number(L, lua_gettop(L), &changed) : NULL;
      break;
    case PX_NULL:
      if (px_is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        changed = 1;
      }
      break;
    case PX_OBJECT:
    case PX_ARRAY:
      if (lua_type(L, -1) == LUA_TTABLE)
        err = px_apply(L, lua_gettop(L), f - f->size, f->size, f->kind == PX_ARRAY, f->nulls, depth + 1);
      break;
    default: /* PX_WHOLE */
      err = px_normalise_value(L, lua_gettop(L), depth + 1, &changed);
    }
    if (err != NULL) {
      lua_pop(L, is_array ? 1 : 2);
      return err;
    }
    if (!changed)
      lua_pop(L, is_array ? 1 : 2);
    else if (is_array)
      lua_rawseti(L, t, f->index);
    else
      lua_rawset(L, t);
    i -= 1 + f->size;
  }
  if (is_array && nulls)
    px_compact(L, t, (lua_Integer)lua_rawlen(L, t));
  return NULL;
}

/*
** Normalises the decoded value at idx, read from `text`: in place for a
** table, replaced for a number. Returns an error message or NULL.
*/
const char *px_normalise(lua_State *L, int idx, const char *text, size_t len) {
  px_scan s;
  int kind, nulls = 0, changed = 0;
  const char *err;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE || len < PX_SCAN_FROM)
    return px_normalise_value(L, idx, 0, &changed);
  memset(&s, 0, sizeof s);
  s.L = L;
  lua_pushnil(L); /* the slot of the entries' userdata */
  s.slot = lua_gettop(L);
  kind = px_scan_text(&s, text, text + len, &nulls);
  if (kind < 0 || kind == PX_WHOLE) /* -1: never expected, but then walk it all */
    err = px_normalise_value(L, idx, 0, &changed);
  else if (kind == PX_OBJECT || kind == PX_ARRAY)
    err = px_apply(L, idx, s.fix, s.n, kind == PX_ARRAY, nulls, 0);
  else
    err = NULL;
  lua_remove(L, s.slot);
  return err;
}
