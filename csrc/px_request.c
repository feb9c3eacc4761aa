/*
** px_request.c: a request value on the wire.
**
** The Lua side describes every request by one value: its parameters as
** named `fields`, their wire order in `order`, and the names of the secret
** ones in `secret`. This file writes that value as a query string (GET) or
** a JSON object body (POST), with the app_key first; the same writer, told
** to mask, gives the text the dry-run line and the journal show, with the
** key and every secret as *** (a secret marked "pairs" keeps the user of
** each user:pass). So what is shown is what is sent.
*/
#include <string.h>

#include "px.h"

static const char px_hex[] = "0123456789ABCDEF";

/* RFC 3986's unreserved characters: the only bytes the query keeps as they
** are. The scrubber (px_scrub.c) decodes with the same rule. */
int px_is_unreserved(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
         ch == '_' || ch == '.' || ch == '~';
}

void px_percent_encode(px_out *o, const char *s, size_t len) {
  size_t i, run = 0;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[3];
    if (px_is_unreserved(ch))
      continue;
    px_out_put(o, s + run, i - run);
    run = i + 1;
    esc[0] = '%';
    esc[1] = px_hex[ch >> 4];
    esc[2] = px_hex[ch & 15];
    px_out_put(o, esc, 3);
  }
  px_out_put(o, s + run, len - run);
}

/* One query value: strings and numbers percent-encoded ("1e+20" too: a raw
** '+' reads as a space), booleans as true/false. */
static void px_query_value(px_out *o, int idx, const char *name) {
  lua_State *L = o->L;
  char num[64];
  int len;
  size_t slen;
  const char *s;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    s = lua_tolstring(L, idx, &slen);
    px_percent_encode(o, s, slen);
    break;
  case LUA_TNUMBER:
    len = px_format_number(L, idx, num, sizeof num);
    if (len < 0)
      luaL_error(L, "query parameter '%s' is not a finite number", name);
    px_percent_encode(o, num, (size_t)len);
    break;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      px_out_put(o, "true", 4);
    else
      px_out_put(o, "false", 5);
    break;
  default:
    luaL_error(L, "query parameter '%s': string, number or boolean expected, got %s", name,
               luaL_typename(L, idx));
  }
}

static void px_put_name(px_out *o, int post, int first, const char *name, size_t len) {
  if (post) {
    if (!first)
      px_out_put(o, ",", 1);
    px_json_put_string(o, name, len);
    px_out_put(o, ":", 1);
  } else {
    if (!first)
      px_out_put(o, "&", 1);
    px_percent_encode(o, name, len);
    px_out_put(o, "=", 1);
  }
}

static void px_put_mask(px_out *o, int post) {
  if (post)
    px_out_put(o, "\"***\"", 5);
  else
    px_out_put(o, "***", 3);
}

/* A secret marked "pairs": "u1:p1,u2:p2" shown as "u1:***,u2:***", so the
** accounts stay readable and the passwords do not. */
static void px_put_masked_pairs(px_out *o, int post, int idx) {
  lua_State *L = o->L;
  size_t len, i = 0;
  const char *s = lua_tolstring(L, idx, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (i < len) {
    size_t start = i;
    while (i < len && s[i] != ':' && s[i] != ',')
      i++;
    luaL_addlstring(&b, s + start, i - start);
    if (i < len && s[i] == ':') {
      luaL_addstring(&b, ":***");
      while (i < len && s[i] != ',')
        i++;
    }
    if (i < len) {
      luaL_addchar(&b, ',');
      i++;
    }
  }
  luaL_pushresult(&b);
  s = lua_tolstring(L, -1, &len);
  if (post)
    px_json_put_string(o, s, len);
  else
    px_percent_encode(o, s, len);
  lua_pop(L, 1);
}

/*
** Writes the parameters of the request value at req. key_wire: the
** app_key to put first, already in the form's encoding (percent-encoded,
** or a JSON string; NULL: none); mask: the display form, with the key
** (always written then) and the fields named in req.secret as ***.
*/
void px_request_write(px_out *o, int req, int post, const char *key_wire, size_t key_wire_len, int mask) {
  lua_State *L = o->L;
  lua_Integer i, n;
  int first = 1, fields, order, secret;
  luaL_checkstack(L, 6, NULL);
  lua_getfield(L, req, "fields");
  fields = lua_gettop(L);
  lua_getfield(L, req, "order");
  order = lua_gettop(L);
  lua_getfield(L, req, "secret");
  secret = lua_gettop(L);
  if (post)
    px_out_put(o, "{", 1);
  if (key_wire != NULL || mask) {
    px_put_name(o, post, 1, "app_key", 7);
    if (mask)
      px_put_mask(o, post);
    else
      px_out_put(o, key_wire, key_wire_len);
    first = 0;
  }
  n = lua_istable(L, order) ? (lua_Integer)lua_rawlen(L, order) : 0;
  if (n > 0 && !lua_istable(L, fields))
    luaL_error(L, "request: fields table expected");
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *name;
    int masked = 0; /* 1: the whole value, 2: the passwords of pairs */
    lua_rawgeti(L, order, i);
    name = lua_tolstring(L, -1, &len);
    if (name == NULL)
      luaL_error(L, "request: order item #%d is not a name", (int)i);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, fields) == LUA_TNIL) { /* absent: not sent at all */
      lua_pop(L, 2);
      continue;
    }
    px_put_name(o, post, first, name, len);
    first = 0;
    if (mask && lua_istable(L, secret)) {
      lua_pushvalue(L, -2);
      if (lua_rawget(L, secret) != LUA_TNIL)
        masked = lua_type(L, -1) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING ? 2 : 1;
      lua_pop(L, 1);
    }
    if (masked == 2)
      px_put_masked_pairs(o, post, lua_gettop(L));
    else if (masked)
      px_put_mask(o, post);
    else if (post)
      px_json_put_value(o, lua_gettop(L), 1);
    else
      px_query_value(o, lua_gettop(L), name);
    lua_pop(L, 2);
  }
  if (post)
    px_out_put(o, "}", 1);
  lua_pop(L, 3);
}

/* core.request_text(req, method, mask): the text of a request's parameters
** without the key (mask false: as the wire has them; for specs and the
** fuzzer), or as shown (mask true: key and secrets as ***). */
static int px_request_text(lua_State *L) {
  px_out o;
  const char *method = luaL_checkstring(L, 2);
  int mask = lua_toboolean(L, 3);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 3);
  px_out_init(&o, L);
  px_request_write(&o, 1, strcmp(method, "POST") == 0, NULL, 0, mask);
  px_out_push(&o);
  return 1;
}

/* core.percent_encode(s): s as the query writes it (proxy URLs' userinfo
** uses the same rule). */
static int px_percent_encode_fn(lua_State *L) {
  px_out o;
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  px_out_init(&o, L);
  px_percent_encode(&o, s, len);
  px_out_push(&o);
  return 1;
}

static const luaL_Reg px_request_funcs[] = {
    {"request_text",   px_request_text     },
    {"percent_encode", px_percent_encode_fn},
    {NULL,             NULL                },
};

void px_request_open(lua_State *L, int uv) {
  px_register(L, px_request_funcs, uv);
}
