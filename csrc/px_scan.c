/*
** px_scan.c: where a decoded reply needs work, read from its JSON text.
**
** lua-cjson keeps JSON nulls as a sentinel (and, outside the private
** build, reads every number as a float); walking the whole decoded tree
** to find them costs up to a fifth of the decoding, so the text is read
** first: a scan that skips strings with memchr lists the members that
** hold a number, a null, or a container with such members below it, and
** px_normalise.c visits only those.
**
** The list must stay small next to the tree, whatever the reply: an
** array's own numbers and nulls are not listed (its items are walked
** instead), nor are an object's past the first few; a container that is
** short, has an escaped key, or mostly needs work anyway is walked whole,
** and nothing inside it is listed (once a long one is seen to be such,
** its entries are dropped at once). Past 1/PX_FIX_SHARE of the text's
** size the list is dropped and the whole tree walked. Entries past the
** first few live in a buffer realloc'ed with Lua's allocator, freed as
** soon as the work is done.
*/
#include <lauxlib.h>
#include <string.h>

#include "px_scan.h"

/* a container this short (in bytes of text) is walked whole when it needs work */
#define PX_SMALL 256
/* a container walked whole after this many members, if most need work */
#define PX_EARLY 64
/* an object's numbers and nulls listed one by one, at most; then all of its members are visited */
#define PX_LEAF_FIXES 16
/* the entries take at most 1/PX_FIX_SHARE of the text's size */
#define PX_FIX_SHARE 8

#define PX_FIXES_TYPE "proxyapi.fixes"

/* A container open during the scan. */
struct px_level {
  uint8_t is_array, expect_key, key_escaped, escapes, flags;
  int first;                             /* the entries recorded before it opened */
  uint32_t index, key, keylen;           /* the current item's position, the current member's key */
  size_t start;                          /* its offset in the text */
  size_t idle;                           /* bytes of its members that are containers needing no work */
  int members, leaves, wholes, targeted; /* all of them; numbers and nulls; walked whole; with entries */
};

static px_fix *px_fixes_realloc(lua_State *L, px_fixes *b, size_t cap) {
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);
  px_fix *fix = alloc(ud, b->fix, b->cap * sizeof *fix, cap * sizeof *fix);
  if (fix != NULL || cap == 0) {
    b->fix = fix;
    b->cap = cap;
  }
  return fix;
}

/* __gc of the box */
static int px_fixes_close(lua_State *L) {
  px_fixes_realloc(L, luaL_checkudata(L, 1, PX_FIXES_TYPE), 0);
  return 0;
}

/* Room for one more entry; 0 when `limit` (or the memory) is reached. */
static int px_grow(px_scan *s) {
  lua_State *L = s->L;
  px_fixes *b = s->box;
  px_fix *grown;
  int cap = s->cap > s->limit / 2 ? s->limit : s->cap * 2;
  if (cap <= s->cap)
    return 0;
  if (b == NULL) { /* made empty first: a memory error leaves nothing half-made */
    b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, PX_FIXES_TYPE)) {
      lua_pushcfunction(L, px_fixes_close);
      lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_replace(L, s->slot);
    s->box = b;
  }
  grown = px_fixes_realloc(L, b, (size_t)cap);
  if (grown == NULL)
    return 0;
  if (s->fix == s->local)
    memcpy(grown, s->local, (size_t)s->n * sizeof *grown);
  s->fix = grown;
  s->cap = cap;
  return 1;
}

/* Records a member whose value needs work, after its subtree. */
static void px_record(px_scan *s, px_level *at, int kind, int before, int flags) {
  px_fix *f;
  at->escapes |= at->key_escaped && !at->is_array;
  if (s->n == s->cap && !px_grow(s)) {
    s->full = 1;
    return;
  }
  f = &s->fix[s->n];
  f->at = at->is_array ? at->index : at->key;
  f->keylen = at->keylen;
  f->kind = (uint8_t)kind;
  f->flags = (uint8_t)flags;
  f->size = s->n - before;
  s->n++;
}

/* Whether walking the container whole costs about what its entries
** would: no member needs a visit of its own subtree, and most need work. */
static int px_mostly_work(const px_level *at) {
  return at->targeted == 0 && at->idle <= PX_SMALL && (at->leaves + at->wholes) * 2 >= at->members;
}

/* A value of kind `kind` ended inside `at` (its subtree's entries start
** at `before`; `span`: a container's length in the text). */
static void px_value(px_scan *s, px_level *at, int kind, int before, int flags, size_t span) {
  if (s->quiet != NULL)
    return;
  at->members++;
  if (kind == PX_NONE) {
    at->idle += span;
    return;
  }
  if (kind == PX_NUMBER || kind == PX_NULL) {
    /* rawgeti over an array's items costs less than an entry each */
    if (++at->leaves > PX_LEAF_FIXES || at->is_array)
      at->flags |= PX_F_LEAVES;
    else
      px_record(s, at, kind, before, flags);
  } else {
    *(kind == PX_WHOLE ? &at->wholes : &at->targeted) += 1;
    px_record(s, at, kind, before, flags);
  }
  if (at->members >= PX_EARLY && px_mostly_work(at)) { /* it will be walked whole */
    s->n = at->first;
    s->quiet = at;
  }
}

/* The kind of the container `at` that just closed (`span` bytes long). It
** is walked whole when the text's keys are not the table's (escapes), when
** it is short, or when most of it needs work. */
static int px_close(px_scan *s, const px_level *at, size_t span) {
  if (s->quiet != NULL) {
    if (s->quiet != at)
      return PX_NONE;
    s->quiet = NULL;
    return PX_WHOLE;
  }
  if (s->n == at->first && at->flags == 0)
    return PX_NONE;
  if (at->escapes || span <= PX_SMALL || px_mostly_work(at)) {
    s->n = at->first;
    return PX_WHOLE;
  }
  return at->is_array ? PX_ARRAY : PX_OBJECT;
}

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

/* One loop over an explicit stack of open containers (see px_scan.h). */
int px_scan_text(px_scan *s, const char *p, const char *end, int *root_flags) {
  px_level levels[PX_MAX_DEPTH + 2];
  px_level *at = &levels[0]; /* the root: a pseudo-array of one item */
  int root = PX_NONE;
  memset(at, 0, sizeof *at);
  at->is_array = 1;
  while (p < end && !s->full) {
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
        at->key = (uint32_t)(start + 1 - s->text);
        at->keylen = (uint32_t)(p - 1 - (start + 1));
        at->key_escaped = (uint8_t)escaped;
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
      at->start = (size_t)(p - s->text);
      p++;
      continue;
    case '}':
    case ']': {
      int closed, first = at->first, flags = at->flags;
      size_t span = (size_t)(p + 1 - s->text) - at->start;
      if (at == levels || at->is_array != (*p == ']'))
        return -1;
      closed = px_close(s, at, span);
      at--;
      p++;
      if (at == levels) {
        *root_flags = flags;
        root = closed;
      } else {
        px_value(s, at, closed, first, flags, closed == PX_NONE ? span : 0);
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
      px_value(s, at, kind, s->n, 0, 0);
    }
  }
  return at == levels && !s->full ? root : -1;
}

void px_scan_begin(px_scan *s, lua_State *L, const char *text, size_t len) {
  size_t limit = len / PX_FIX_SHARE / sizeof(px_fix);
  memset(s, 0, offsetof(px_scan, local));
  s->L = L;
  s->text = text;
  s->fix = s->local;
  s->cap = PX_LOCAL_FIXES;
  s->limit = limit < PX_LOCAL_FIXES ? PX_LOCAL_FIXES : (int)limit; /* len <= UINT32_MAX: it fits */
  lua_pushnil(L);                                                  /* the slot of the entries' box */
  s->slot = lua_gettop(L);
}

void px_scan_end(px_scan *s) {
  if (s->box != NULL)
    px_fixes_realloc(s->L, s->box, 0);
  lua_remove(s->L, s->slot);
}
