/*
** px_normalise.c: decoded replies made the way users expect them.
**
** lua-cjson keeps JSON nulls as a sentinel (and, outside the private
** build, reads every number as a float); users expect whole numbers as
** integers, nulls as absent fields and dense arrays. Small replies are
** walked whole; in large ones only the members the scan of the text
** lists (px_scan.c) are visited.
*/
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "px.h"
#include "px_scan.h"

/* smaller replies are walked whole: reading the text first pays off on
** large trees only */
#define PX_SCAN_FROM 4096

/* ---- the walk: of the whole tree (deep), or of a table's own members ---- */

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

/* A JSON array (integer keys 1..n), its tables too when deep: nulls are
** dropped, keeping it dense. */
static const char *px_normalise_array(lua_State *L, int t, lua_Integer n, int depth, int deep) {
  lua_Integer i, j = 1;
  for (i = 1; i <= n; i++) {
    int changed = 0;
    const char *err;
    lua_rawgeti(L, t, i);
    if (px_is_null(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    err = deep || !lua_istable(L, -1) ? px_normalise_value(L, lua_gettop(L), depth + 1, &changed) : NULL;
    if (err != NULL) {
      lua_pop(L, 1);
      return err;
    }
    if (changed || i != j)
      lua_rawseti(L, t, j);
    else
      lua_pop(L, 1);
    j++;
  }
  for (; j <= n; j++) {
    lua_pushnil(L);
    lua_rawseti(L, t, j);
  }
  return NULL;
}

/* A JSON object: null fields become absent; its tables too when deep.
** Assigning to (or clearing) an existing field during lua_next is allowed. */
static const char *px_normalise_object(lua_State *L, int t, int depth, int deep) {
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    int changed = 0;
    const char *err =
        deep || !lua_istable(L, -1) ? px_normalise_value(L, lua_gettop(L), depth + 1, &changed) : NULL;
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

/* The value at idx; a null (never an array's item here) becomes nil. */
static const char *px_normalise_value(lua_State *L, int idx, int depth, int *changed) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    return px_normalise_number(L, idx, changed);
  case LUA_TLIGHTUSERDATA:
    if (px_is_null(L, idx)) {
      lua_pushnil(L);
      lua_replace(L, idx);
      *changed = 1;
    }
    return NULL;
  case LUA_TTABLE: {
    lua_Integer n;
    if (depth > PX_MAX_DEPTH || !lua_checkstack(L, 6))
      return "reply nested too deeply";
    n = (lua_Integer)lua_rawlen(L, idx);
    return n > 0 ? px_normalise_array(L, idx, n, depth, 1) : px_normalise_object(L, idx, depth, 1);
  }
  default:
    return NULL;
  }
}

/* ---- doing the work the text asked for ---- */

/* Applies the entries fix[0 .. count) to the table at t, last first: in
** post-order, an entry's subtree lies just before it. Each entry checks
** the value it finds, so duplicate keys (the last one wins) are safe. */
static const char *px_apply(lua_State *L, int t, const px_fix *fix, int count, int is_array, int flags,
                            const char *text, int depth) {
  int i = count - 1;
  const char *err = NULL;
  if (depth > PX_MAX_DEPTH || !lua_checkstack(L, 6))
    return "reply nested too deeply";
  while (i >= 0 && err == NULL) {
    const px_fix *f = &fix[i];
    int changed = 0;
    if (is_array) {
      lua_rawgeti(L, t, f->at);
    } else {
      lua_pushlstring(L, text + f->at, f->keylen);
      lua_pushvalue(L, -1);
      lua_rawget(L, t);
    }
    if (f->kind != PX_OBJECT && f->kind != PX_ARRAY) /* a number, a null, or walked whole */
      err = px_normalise_value(L, lua_gettop(L), depth + 1, &changed);
    else if (lua_type(L, -1) == LUA_TTABLE)
      err = px_apply(L, lua_gettop(L), f - f->size, f->size, f->kind == PX_ARRAY, f->flags, text, depth + 1);
    if (err != NULL || !changed)
      lua_pop(L, is_array ? 1 : 2);
    else if (is_array)
      lua_rawseti(L, t, f->at);
    else
      lua_rawset(L, t);
    i -= 1 + f->size;
  }
  if (err != NULL || !(flags & PX_F_LEAVES))
    return err;
  return is_array ? px_normalise_array(L, t, (lua_Integer)lua_rawlen(L, t), depth, 0)
                  : px_normalise_object(L, t, depth, 0);
}

/*
** Normalises the decoded value at idx, read from `text`: in place for a
** table, replaced for a number. Returns an error message or NULL.
*/
const char *px_normalise(lua_State *L, int idx, const char *text, size_t len) {
  px_scan s;
  int kind, flags = 0, changed = 0;
  const char *err;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE || len < PX_SCAN_FROM || len > UINT32_MAX)
    return px_normalise_value(L, idx, 0, &changed);
  px_scan_begin(&s, L, text, len);
  kind = px_scan_text(&s, text, text + len, &flags);
  if (kind < 0 || kind == PX_WHOLE) /* -1: never expected, or too many entries: walk it all */
    err = px_normalise_value(L, idx, 0, &changed);
  else if (kind == PX_OBJECT || kind == PX_ARRAY)
    err = px_apply(L, idx, s.fix, s.n, kind == PX_ARRAY, flags, text, 0);
  else
    err = NULL;
  px_scan_end(&s);
  return err;
}
