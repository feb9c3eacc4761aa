/*
** px_client.c: the proxyapi.Client userdata.
**
** A client owns one libcurl multi handle, so every transfer it makes,
** blocking or not, shares one connection and DNS cache (keep-alive across
** calls), and it holds the app_key, which only the wire writer and the
** scrubber read: the Lua side never keeps it.
**
** The object users hold has only the public methods (the Lua side adds
** them to core.Client). What the Lua side drives it with lives apart, in
** core.transfer: perform (submit and wait: the blocking path), submit /
** poll / result (non-blocking, for the loops that run coroutines), cancel,
** pending, isopen and scrub.
*/
#include <string.h>

#include "px.h"

#define PX_SLICE_MS 100

/* Memory for transfers and buffers comes from the Lua allocator, so an
** allocation-failure test of the state covers the core too. */
void *px_realloc(px_client *c, void *p, size_t osize, size_t nsize) {
  return c->alloc(c->alloc_ud, p, osize, nsize);
}

int px_buf_reserve(px_client *c, px_buf *b, size_t extra) {
  size_t need = b->len + extra, cap = b->cap ? b->cap : 4096;
  char *p;
  if (need < b->len)
    return 0;
  if (need <= b->cap)
    return 1;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2)
      return 0;
    cap *= 2;
  }
  p = px_realloc(c, b->data, b->cap, cap);
  if (p == NULL)
    return 0;
  b->data = p;
  b->cap = cap;
  return 1;
}

void px_buf_free(px_client *c, px_buf *b) {
  if (b->data != NULL)
    px_realloc(c, b->data, b->cap, 0);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Seconds to libcurl's milliseconds, clamped so that a huge timeout
** cannot overflow a long. */
static long px_millis(lua_Number seconds) {
  if (!(seconds >= 0.001)) /* 0 ms would mean "no timeout" to libcurl */
    return 1;
  if (seconds > 2147483.0)
    return 2147483647L;
  return (long)(seconds * 1000 + 0.5);
}

static px_client *px_check(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  if (c->closed)
    luaL_error(L, "attempt to use a closed proxyapi client");
  return c;
}

/* ---- core.transfer ---- */

/* perform(client, req): the result of one request, waiting for it. */
static int px_perform(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t = px_transfer_start(L, c, 2, 0);
  while (!t->done)
    px_transfer_drive(L, c, PX_SLICE_MS);
  return px_result_push(L, c, t);
}

/* submit(client, req, owner): starts a request for the loop `owner`
** (a positive integer); returns its id. */
static int px_submit(lua_State *L) {
  px_client *c = px_check(L);
  lua_Integer owner = luaL_checkinteger(L, 3);
  px_transfer *t;
  luaL_argcheck(L, owner > 0, 3, "positive owner expected");
  t = px_transfer_start(L, c, 2, owner);
  lua_pushinteger(L, t->id);
  return 1;
}

/* poll(client, owner, wait): drives every transfer for up to `wait`
** seconds; returns the ids of owner's transfers that finished and were not
** reported yet. Other owners' transfers move on too, but stay theirs. */
static int px_poll(lua_State *L) {
  px_client *c = px_check(L);
  lua_Integer owner = luaL_checkinteger(L, 2);
  lua_Number wait = luaL_optnumber(L, 3, 0);
  int n = 0, wait_ms = wait > 0 ? (int)(wait * 1000 + 0.5) : 0;
  px_transfer *t;
  for (t = c->active; t != NULL; t = t->next)
    if (t->owner == owner && t->done && !t->reported)
      wait_ms = 0;
  if (c->active != NULL)
    px_transfer_drive(L, c, wait_ms);
  lua_settop(L, 1);
  for (t = c->active; t != NULL; t = t->next) {
    if (t->owner == owner && t->done && !t->reported) {
      luaL_checkstack(L, 1, "too many finished transfers");
      lua_pushinteger(L, t->id);
      t->reported = 1;
      n++;
    }
  }
  return n;
}

static int px_result(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t = px_transfer_find(c, luaL_checkinteger(L, 2));
  luaL_argcheck(L, t != NULL && t->done, 2, "no finished transfer with this id");
  lua_settop(L, 1);
  return px_result_push(L, c, t);
}

/* cancel(client, id): ends a transfer; released without a result. */
static int px_cancel(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  px_transfer *t = c->closed ? NULL : px_transfer_find(c, luaL_checkinteger(L, 2));
  if (t != NULL) {
    px_transfer_cancel(c, t);
    px_transfer_release(c, t);
  }
  lua_pushboolean(L, t != NULL);
  return 1;
}

static int px_pending(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  px_transfer *t;
  lua_Integer n = 0;
  for (t = c->active; t != NULL; t = t->next)
    n++;
  lua_pushinteger(L, n);
  return 1;
}

static int px_isopen(lua_State *L) {
  px_client *c = luaL_testudata(L, 1, PX_CLIENT_TYPE);
  lua_pushboolean(L, c != NULL && !c->closed);
  return 1;
}

/* scrub(client, text): text without the client's key, in any spelling. */
static int px_scrub(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  px_scrub_push(L, text, len, c->key, c->key != NULL ? c->key_len : 0);
  return 1;
}

/* ---- the userdata ---- */

static void px_forget_key(px_client *c) {
  int i;
  if (c->key != NULL) {
    memset(c->key, 0, c->key_len);
    px_realloc(c, c->key, c->key_len + 1, 0);
    c->key = NULL;
  }
  for (i = 0; i < 2; i++)
    if (c->key_wire[i] != NULL) {
      memset(c->key_wire[i], 0, c->key_wire_len[i]);
      px_realloc(c, c->key_wire[i], c->key_wire_len[i] + 1, 0);
      c->key_wire[i] = NULL;
    }
}

/* The one close: serves close, __gc and __close, and a half-made client. */
static int px_close(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  c->closed = 1;
  while (c->active != NULL) {
    px_transfer *t = c->active;
    c->active = t->next;
    px_transfer_destroy(c, t);
  }
  while (c->idle != NULL) {
    px_transfer *t = c->idle;
    c->idle = t->next;
    px_transfer_destroy(c, t);
  }
  c->nidle = 0;
  if (c->multi != NULL)
    curl_multi_cleanup(c->multi);
  if (c->prototype != NULL)
    curl_easy_cleanup(c->prototype);
  curl_slist_free_all(c->get_headers);
  curl_slist_free_all(c->proxy_headers);
  curl_slist_free_all(c->post_headers);
  curl_slist_free_all(c->large_post_headers);
  c->multi = NULL;
  c->prototype = NULL;
  c->get_headers = c->proxy_headers = c->post_headers = c->large_post_headers = NULL;
  if (c->scratch.data != NULL)
    memset(c->scratch.data, 0, c->scratch.cap); /* it held a request and its key */
  px_buf_free(c, &c->scratch);
  px_buf_free(c, &c->spare_reply);
  px_forget_key(c);
  return 0;
}

static int px_tostring(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  if (c->closed)
    lua_pushliteral(L, "proxyapi.Client (closed)");
  else
    lua_pushfstring(L, "proxyapi.Client (%p)", (void *)c);
  return 1;
}

static void px_setopt_string(lua_State *L, CURL *e, CURLoption opt, const char *v) {
  if (curl_easy_setopt(e, opt, v) != CURLE_OK)
    luaL_error(L, "libcurl refused an option (not enough memory?)");
}

/* Appends to a list the client owns; on failure the list is untouched
** and still the client's, so __gc frees it. */
static void px_header(lua_State *L, struct curl_slist **list, const char *h) {
  struct curl_slist *more = curl_slist_append(*list, h);
  if (more == NULL)
    luaL_error(L, "not enough memory");
  *list = more;
}

/* The header lists of the requests. Every line costs libcurl a formatted
** copy per request, so GETs add only the User-Agent (libcurl's own
** "Accept: any" is fine: the API answers JSON whatever is asked) and small
** bodies their type too; large bodies drop the 100-continue round trip
** libcurl would add. The User-Agent goes in the lists rather than through
** CURLOPT_USERAGENT, which libcurl formats anew for every request (1,700
** instructions); the proxy list carries it to a tunnel's CONNECT. */
static void px_headers(lua_State *L, px_client *c, int opts) {
  const char *ua, *line;
  lua_getfield(L, opts, "user_agent");
  ua = luaL_optstring(L, -1, "proxyapi");
  if (strpbrk(ua, "\r\n") != NULL)
    luaL_error(L, "user_agent: one line expected");
  line = lua_pushfstring(L, "User-Agent: %s", ua);
  px_header(L, &c->get_headers, line);
  px_header(L, &c->proxy_headers, line);
  px_header(L, &c->post_headers, "Content-Type: application/json");
  px_header(L, &c->post_headers, line);
  px_header(L, &c->large_post_headers, "Content-Type: application/json");
  px_header(L, &c->large_post_headers, "Expect:");
  px_header(L, &c->large_post_headers, line);
  lua_pop(L, 2);
  curl_easy_setopt(c->prototype, CURLOPT_PROXYHEADER, c->proxy_headers);
}

/* Options every transfer shares, from the options table at opts. */
static void px_configure(lua_State *L, px_client *c, int opts) {
  CURL *e = c->prototype;
  lua_getfield(L, opts, "connect_timeout");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, px_millis(luaL_optnumber(L, -1, 10)));
  lua_getfield(L, opts, "timeout");
  c->timeout_ms = px_millis(luaL_optnumber(L, -1, 30));
  lua_getfield(L, opts, "grace");
  c->grace = luaL_optnumber(L, -1, 2);
  px_note_grace(c->grace);
  lua_getfield(L, opts, "max_response_bytes");
  c->max_reply = (size_t)luaL_optinteger(L, -1, 64 * 1024 * 1024);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_reply);
  lua_getfield(L, opts, "proxy");
  if (lua_type(L, -1) == LUA_TSTRING) {
    px_setopt_string(L, e, CURLOPT_PROXY, lua_tostring(L, -1));
    px_setopt_string(L, e, CURLOPT_NOPROXY, ""); /* the one given, whatever no_proxy says */
  } else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
    px_setopt_string(L, e, CURLOPT_PROXY, ""); /* none, not even from the environment */
  lua_getfield(L, opts, "ca_file");
  if (lua_type(L, -1) == LUA_TSTRING)
    px_setopt_string(L, e, CURLOPT_CAINFO, lua_tostring(L, -1));
  lua_getfield(L, opts, "insecure");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, lua_toboolean(L, -1) ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, lua_toboolean(L, -1) ? 0L : 2L);
  lua_pop(L, 7);
  px_setopt_string(L, e, CURLOPT_PROTOCOLS_STR, "http,https");
  px_transfer_configure(c, e);
}

/* c->key_wire[json]: the key encoded once, as every request writes it.
** The scratch buffer is wiped before the collector gets it. */
static void px_encode_key(lua_State *L, px_client *c, int json) {
  px_out o;
  px_out_init(&o, L);
  if (json)
    px_json_put_string(&o, c->key, c->key_len);
  else
    px_percent_encode(&o, c->key, c->key_len);
  c->key_wire[json] = px_realloc(c, NULL, 0, o.len + 1);
  if (c->key_wire[json] != NULL && o.len > 0) {
    memcpy(c->key_wire[json], o.data, o.len);
    memset(o.data, 0, o.len);
  }
  c->key_wire_len[json] = o.len;
  lua_pop(L, 1);
  if (c->key_wire[json] == NULL)
    luaL_error(L, "not enough memory");
}

/* The app_key, copied into memory the client owns. */
static void px_take_key(lua_State *L, px_client *c, int opts) {
  size_t len;
  const char *key;
  lua_getfield(L, opts, "app_key");
  key = lua_tolstring(L, -1, &len);
  if (key != NULL) {
    c->key = px_realloc(c, NULL, 0, len + 1);
    if (c->key == NULL)
      luaL_error(L, "not enough memory");
    memcpy(c->key, key, len + 1);
    c->key_len = len;
    px_encode_key(L, c, 0);
    px_encode_key(L, c, 1);
  }
  lua_pop(L, 1);
}

/* core.new_client(options): options are checked by the Lua side. */
static int px_new_client(lua_State *L) {
  px_client *c;
  luaL_checktype(L, 1, LUA_TTABLE);
  c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->closed = 1; /* unusable until fully made; __gc frees any part made */
  luaL_setmetatable(L, PX_CLIENT_TYPE);
  c->alloc = lua_getallocf(L, &c->alloc_ud);
  c->multi = curl_multi_init();
  c->prototype = curl_easy_init();
  if (c->multi == NULL || c->prototype == NULL)
    luaL_error(L, "libcurl: cannot make a handle");
  px_headers(L, c, 1);
  px_configure(L, c, 1);
  px_take_key(L, c, 1);
  c->closed = 0;
  return 1;
}

static const luaL_Reg px_transfer_funcs[] = {
    {"perform", px_perform},
    {"submit",  px_submit },
    {"poll",    px_poll   },
    {"result",  px_result },
    {"cancel",  px_cancel },
    {"pending", px_pending},
    {"isopen",  px_isopen },
    {"scrub",   px_scrub  },
    {NULL,      NULL      },
};

static const luaL_Reg px_client_meta[] = {
    {"__gc",       px_close   },
    {"__close",    px_close   },
    {"__tostring", px_tostring},
    {"__index",    NULL       },
    {NULL,         NULL       },
};

/*
** Makes the metatable, and adds to the module table on top: new_client,
** Client (the methods table, holding close, which the Lua side extends
** with the public methods) and transfer (the internal functions).
*/
void px_client_open(lua_State *L, int uv) {
  luaL_newmetatable(L, PX_CLIENT_TYPE);
  luaL_setfuncs(L, px_client_meta, 0);
  lua_createtable(L, 0, 24);
  lua_pushcfunction(L, px_close);
  lua_setfield(L, -2, "close");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_setfield(L, -3, "Client");
  lua_pop(L, 1);
  lua_pushcfunction(L, px_new_client);
  lua_setfield(L, -2, "new_client");
  lua_newtable(L);
  px_register(L, px_transfer_funcs, uv);
  lua_setfield(L, -2, "transfer");
}
