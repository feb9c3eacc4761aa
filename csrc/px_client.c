/*
** px_client.c: the proxyapi.Client userdata.
**
** A client owns one libcurl multi handle, so every transfer it makes,
** blocking or not, shares one connection and DNS cache (keep-alive
** across calls). Transfers are recycled through an idle list with their
** easy handles and buffers, so a steady stream of calls allocates
** nothing of its own after warm-up.
**
** Lua drives it in two ways: _perform (submit and wait, the blocking
** path) and _submit / _poll / _result (non-blocking, for coroutines
** driven by one loop). No Lua error is ever raised from inside libcurl:
** callbacks only set flags and the outcome is pushed afterwards.
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "px.h"

#define PX_IDLE_MAX 64
/* idle transfers keep reply buffers up to this size, larger ones are freed */
#define PX_KEEP_BYTES (256 * 1024)
#define PX_SLICE_MS 100

/* flags of _submit / _perform */
#define PX_AT_MOST_ONCE 1 /* never resend: use a connection of its own */
#define PX_RAW 2          /* hand the body back undecoded */

typedef struct px_buf {
  char *data;
  size_t len, cap;
} px_buf;

struct px_client;

typedef struct px_transfer {
  CURL *easy;
  struct px_client *client;
  struct px_transfer *prev, *next; /* in the client's active or idle list */
  lua_Integer id;
  px_buf reply, request;
  CURLcode result;
  int in_multi, done, reported, raw, too_large, out_of_memory, cancelled;
  int disposable; /* has options of its own (a proxy): never pooled */
  int sends;      /* requests libcurl started, its own silent resends included */
  char errbuf[CURL_ERROR_SIZE];
} px_transfer;

typedef struct px_client {
  CURLM *multi;
  CURL *prototype; /* holds the shared options; transfers duplicate it */
  struct curl_slist *get_headers, *post_headers;
  px_transfer *active, *idle;
  int nidle;
  lua_Integer last_id;
  size_t max_reply;
  lua_Alloc alloc;
  void *alloc_ud;
  int closed;
} px_client;

/* Memory for transfers and buffers comes from the Lua allocator, so an
** allocation-failure test of the state covers the core too. */
static void *px_realloc(px_client *c, void *p, size_t osize, size_t nsize) {
  return c->alloc(c->alloc_ud, p, osize, nsize);
}

static int px_buf_reserve(px_client *c, px_buf *b, size_t extra) {
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

static void px_buf_free(px_client *c, px_buf *b) {
  if (b->data != NULL)
    px_realloc(c, b->data, b->cap, 0);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ---- libcurl callbacks: flags only, never Lua ---- */

static size_t px_on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
  px_transfer *t = ud;
  size_t n = size * nmemb;
  if (t->reply.len + n > t->client->max_reply) {
    t->too_large = 1;
    return 0;
  }
  if (!px_buf_reserve(t->client, &t->reply, n)) {
    t->out_of_memory = 1;
    return 0;
  }
  memcpy(t->reply.data + t->reply.len, ptr, n);
  t->reply.len += n;
  return n;
}

static int px_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow) {
  px_transfer *t = ud;
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  return t->cancelled || px_is_interrupted();
}

/* Called each time the request is about to go out on a connection, so a
** resend libcurl makes on its own (a reused connection found dead) is
** counted as the extra try it is. */
static int px_on_send(void *ud, char *remote_ip, char *local_ip, int remote_port, int local_port) {
  px_transfer *t = ud;
  (void)remote_ip, (void)local_ip, (void)remote_port, (void)local_port;
  t->sends++;
  return CURL_PREREQFUNC_OK;
}

/* ---- lists ---- */

static void px_unlink(px_transfer **head, px_transfer *t) {
  if (t->prev != NULL)
    t->prev->next = t->next;
  else
    *head = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

static void px_push(px_transfer **head, px_transfer *t) {
  t->prev = NULL;
  t->next = *head;
  if (*head != NULL)
    (*head)->prev = t;
  *head = t;
}

static void px_destroy(px_client *c, px_transfer *t) {
  if (t->easy != NULL)
    curl_easy_cleanup(t->easy);
  px_buf_free(c, &t->reply);
  px_buf_free(c, &t->request);
  px_realloc(c, t, sizeof *t, 0);
}

static void px_detach(px_client *c, px_transfer *t) {
  if (t->in_multi) {
    curl_multi_remove_handle(c->multi, t->easy);
    t->in_multi = 0;
  }
}

/* Takes an idle transfer, or makes one from the prototype handle. */
static px_transfer *px_acquire(px_client *c) {
  px_transfer *t = c->idle;
  if (t != NULL) {
    px_unlink(&c->idle, t);
    c->nidle--;
  } else {
    t = px_realloc(c, NULL, 0, sizeof *t);
    if (t == NULL)
      return NULL;
    memset(t, 0, sizeof *t);
    t->client = c;
    t->easy = curl_easy_duphandle(c->prototype);
    if (t->easy == NULL) {
      px_destroy(c, t);
      return NULL;
    }
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_XFERINFODATA, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_PREREQDATA, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
  }
  px_push(&c->active, t);
  return t;
}

/* Back to the idle list (its connection stays in the multi's cache). */
static void px_release(px_client *c, px_transfer *t) {
  px_detach(c, t);
  px_unlink(&c->active, t);
  if (t->reply.cap > PX_KEEP_BYTES)
    px_buf_free(c, &t->reply);
  if (t->request.cap > PX_KEEP_BYTES)
    px_buf_free(c, &t->request);
  if (c->nidle < PX_IDLE_MAX && !c->closed && !t->disposable) {
    px_push(&c->idle, t);
    c->nidle++;
  } else {
    px_destroy(c, t);
  }
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

static px_transfer *px_find(px_client *c, lua_Integer id) {
  px_transfer *t;
  for (t = c->active; t != NULL; t = t->next)
    if (t->id == id)
      return t;
  return NULL;
}

/* ---- driving the multi handle ---- */

static void px_collect(px_client *c) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
    px_transfer *t = NULL;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    if (t != NULL) {
      t->result = msg->data.result;
      t->done = 1;
    }
  }
}

static void px_cancel(px_client *c, px_transfer *t) {
  if (t->done)
    return;
  px_detach(c, t);
  t->cancelled = 1;
  t->result = CURLE_ABORTED_BY_CALLBACK;
  t->done = 1;
}

/* One round: move every transfer forward, waiting up to wait_ms for
** activity. Ctrl-C (the interrupt flag) cancels everything in flight. */
static void px_drive(lua_State *L, px_client *c, int wait_ms) {
  int running = 0;
  CURLMcode mc = curl_multi_perform(c->multi, &running);
  if (mc == CURLM_OK) {
    px_collect(c);
    if (running > 0 && wait_ms > 0 && !px_is_interrupted()) {
      mc = curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
      if (mc == CURLM_OK)
        mc = curl_multi_perform(c->multi, &running);
      px_collect(c);
    }
  }
  if (px_is_interrupted()) {
    px_transfer *t;
    for (t = c->active; t != NULL; t = t->next)
      px_cancel(c, t);
  }
  if (mc != CURLM_OK)
    luaL_error(L, "libcurl: %s", curl_multi_strerror(mc));
}

/* ---- starting a transfer ---- */

/* Per-transfer proxy settings from the options table at index 8:
** proxy ("scheme://host:port"), proxy_username, proxy_password. */
static CURLcode px_set_proxy(lua_State *L, px_transfer *t) {
  static const struct {
    const char *field;
    CURLoption option;
  } fields[] = {
      {"proxy",          CURLOPT_PROXY        },
      {"proxy_username", CURLOPT_PROXYUSERNAME},
      {"proxy_password", CURLOPT_PROXYPASSWORD},
  };
  CURLcode rc = CURLE_OK;
  size_t i;
  for (i = 0; i < sizeof fields / sizeof fields[0] && rc == CURLE_OK; i++) {
    const char *value;
    lua_getfield(L, 8, fields[i].field);
    value = lua_tostring(L, -1);
    if (value != NULL) {
      t->disposable = 1;
      rc = curl_easy_setopt(t->easy, fields[i].option, value);
    }
    lua_pop(L, 1);
  }
  return rc;
}

/*
** Arguments from index 2: method, url, query (flat array or nil),
** body (table, string or nil), timeout (seconds), flags, and an
** optional table of per-transfer options (see px_set_proxy).
** Everything that can raise happens before a transfer is taken, and a
** taken transfer is released before raising.
*/
static px_transfer *px_start(lua_State *L, px_client *c) {
  const char *method = luaL_checkstring(L, 2);
  int post = strcmp(method, "POST") == 0;
  lua_Number timeout = luaL_checknumber(L, 6);
  int flags = (int)luaL_optinteger(L, 7, 0);
  const char *url, *body = "";
  size_t body_len = 0;
  px_transfer *t;
  CURLcode rc = CURLE_OK;
  if (!post && strcmp(method, "GET") != 0)
    luaL_argerror(L, 2, "'GET' or 'POST' expected");
  luaL_checkstring(L, 3);
  luaL_argcheck(L, timeout > 0, 6, "positive timeout expected");
  if (!lua_isnoneornil(L, 8)) {
    luaL_checktype(L, 8, LUA_TTABLE);
    lua_getfield(L, 8, "proxy");
    lua_getfield(L, 8, "proxy_username");
    lua_getfield(L, 8, "proxy_password");
    luaL_argcheck(L, lua_isnoneornil(L, -3) || lua_type(L, -3) == LUA_TSTRING, 8, "proxy: string expected");
    luaL_argcheck(L, lua_isnoneornil(L, -2) || lua_type(L, -2) == LUA_TSTRING, 8,
                  "proxy_username: string expected");
    luaL_argcheck(L, lua_isnoneornil(L, -1) || lua_type(L, -1) == LUA_TSTRING, 8,
                  "proxy_password: string expected");
  }
  lua_settop(L, 8);
  if (lua_istable(L, 4)) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushvalue(L, 3);
    luaL_addvalue(&b);
    luaL_addchar(&b, '?');
    px_query_append(L, &b, 4);
    luaL_pushresult(&b);
  } else {
    lua_pushvalue(L, 3);
  }
  url = lua_tostring(L, 9);
  if (post) {
    if (lua_istable(L, 5))
      px_json_encode(L, 5);
    else
      lua_pushvalue(L, 5);
    body = lua_tolstring(L, 10, &body_len);
    luaL_argcheck(L, body != NULL, 5, "request body (table or string) expected");
  }
  t = px_acquire(c);
  if (t == NULL)
    luaL_error(L, "not enough memory");
  t->request.len = t->reply.len = 0;
  if (!px_buf_reserve(c, &t->request, body_len + 1)) {
    px_release(c, t);
    luaL_error(L, "not enough memory");
  }
  memcpy(t->request.data, body, body_len);
  t->request.data[body_len] = '\0';
  t->request.len = body_len;
  t->errbuf[0] = '\0';
  t->done = t->reported = t->too_large = t->out_of_memory = t->cancelled = t->sends = 0;
  t->raw = (flags & PX_RAW) != 0;
  t->result = CURLE_OK;
  t->id = ++c->last_id;
  rc = curl_easy_setopt(t->easy, CURLOPT_URL, url);
  if (rc == CURLE_OK && lua_istable(L, 8))
    rc = px_set_proxy(L, t);
  if (rc == CURLE_OK && post) {
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->request.data);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, c->post_headers);
  } else if (rc == CURLE_OK) {
    curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, c->get_headers);
  }
  curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, px_millis(timeout));
  /* libcurl silently resends a request on a reused connection found dead
  ** before any reply; a fresh connection makes a send happen at most once */
  curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, (long)((flags & PX_AT_MOST_ONCE) != 0));
  if (rc != CURLE_OK || curl_multi_add_handle(c->multi, t->easy) != CURLM_OK) {
    px_release(c, t);
    luaL_error(L, "libcurl: cannot start the transfer (%s)",
               rc != CURLE_OK ? curl_easy_strerror(rc) : "multi handle refused it");
  }
  t->in_multi = 1;
  return t;
}

/* ---- results ---- */

/* Seconds the server asked to wait (Retry-After: seconds or an HTTP
** date), or -1. */
static double px_retry_after(CURL *easy) {
  struct curl_header *h = NULL;
  const char *v;
  char *end;
  double secs;
  if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
    return -1;
  v = h->value;
  while (isspace((unsigned char)*v))
    v++;
  secs = strtod(v, &end);
  if (end != v && isdigit((unsigned char)*v)) {
    while (isspace((unsigned char)*end))
      end++;
    return *end == '\0' ? secs : -1;
  } else {
    time_t when = curl_getdate(v, NULL);
    if (when == (time_t)-1)
      return -1;
    secs = difftime(when, time(NULL));
    return secs < 0 ? 0 : secs;
  }
}

/* The kind of a failed transfer, as the Lua side names it. */
static const char *px_failure(const px_transfer *t) {
  if (t->cancelled)
    return "cancelled";
  if (t->too_large)
    return "protocol";
  switch (t->result) {
  case CURLE_OK:
    return NULL;
  case CURLE_OPERATION_TIMEDOUT:
    return "timeout";
  case CURLE_ABORTED_BY_CALLBACK:
    return "cancelled";
  case CURLE_FILESIZE_EXCEEDED:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_TOO_MANY_REDIRECTS:
    return "protocol";
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    return "tls";
  default:
    return "network";
  }
}

/*
** Pushes the outcome of a finished transfer and releases it:
**   status, payload, failure, message, elapsed, retry_after, reached, sends
** status: the HTTP status or nil; payload: the decoded reply (or the raw
** text with PX_RAW); failure: nil or "network", "timeout", "protocol",
** "tls", "cancelled", or "json" when a complete reply did not decode
** (which only matters for a 2xx status); reached: whether the request
** may have got to the server (anything was sent); sends: how many times
** it went out (more than 1 when libcurl resent it by itself).
*/
static int px_push_result(lua_State *L, px_client *c, px_transfer *t) {
  long status = 0, sent = 0;
  double elapsed = 0, retry_after = -1;
  int sends = t->sends, raw = t->raw;
  const char *failure = px_failure(t);
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &elapsed);
  curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &sent);
  if (status >= 300)
    retry_after = px_retry_after(t->easy);
  if (t->out_of_memory) {
    px_release(c, t);
    luaL_error(L, "not enough memory");
  }
  lua_settop(L, 1);
  luaL_checkstack(L, 9, NULL);
  if (status > 0) /* 2: status */
    lua_pushinteger(L, status);
  else
    lua_pushnil(L);
  if (failure == NULL) { /* 3: payload, 4: message */
    /* the reply is copied once, into the string the decoder reads */
    lua_pushlstring(L, t->reply.data ? t->reply.data : "", t->reply.len);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED)
      lua_pushfstring(L, "reply larger than %I bytes", (lua_Integer)c->max_reply);
    else
      lua_pushstring(L, t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result));
  }
  px_release(c, t);
  if (failure == NULL && !raw) {
    if (lua_rawlen(L, 3) == 0) {
      failure = "json";
      lua_pushliteral(L, "empty reply");
      lua_replace(L, 4);
      lua_pushnil(L);
    } else if (!px_json_decode(L, 3)) {
      failure = "json";
      lua_replace(L, 4); /* the decoder's message */
      lua_pushnil(L);
    }
    lua_replace(L, 3); /* the decoded value (or nil) for the text */
  }
  if (failure != NULL) /* 4: failure, before the message */
    lua_pushstring(L, failure);
  else
    lua_pushnil(L);
  lua_insert(L, 4);
  lua_pushnumber(L, elapsed);
  if (retry_after >= 0)
    lua_pushnumber(L, retry_after);
  else
    lua_pushnil(L);
  lua_pushboolean(L, sent > 0);
  lua_pushinteger(L, sends);
  return 8;
}

/* ---- methods ---- */

static int px_client_perform(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t = px_start(L, c);
  while (!t->done)
    px_drive(L, c, PX_SLICE_MS);
  return px_push_result(L, c, t);
}

static int px_client_submit(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t = px_start(L, c);
  lua_pushinteger(L, t->id);
  return 1;
}

/* Drives transfers for up to `wait` seconds; returns the ids of those
** that finished and were not reported yet. */
static int px_client_poll(lua_State *L) {
  px_client *c = px_check(L);
  lua_Number wait = luaL_optnumber(L, 2, 0);
  int n = 0, wait_ms = wait > 0 ? (int)(wait * 1000 + 0.5) : 0;
  px_transfer *t;
  for (t = c->active; t != NULL; t = t->next)
    if (t->done && !t->reported)
      wait_ms = 0;
  if (c->active != NULL)
    px_drive(L, c, wait_ms);
  lua_settop(L, 1);
  for (t = c->active; t != NULL; t = t->next) {
    if (t->done && !t->reported) {
      luaL_checkstack(L, 1, "too many finished transfers");
      lua_pushinteger(L, t->id);
      t->reported = 1;
      n++;
    }
  }
  return n;
}

static int px_client_result(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t = px_find(c, luaL_checkinteger(L, 2));
  luaL_argcheck(L, t != NULL && t->done, 2, "no finished transfer with this id");
  return px_push_result(L, c, t);
}

static int px_client_cancel(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t = px_find(c, luaL_checkinteger(L, 2));
  if (t != NULL)
    px_cancel(c, t);
  lua_pushboolean(L, t != NULL);
  return 1;
}

static int px_client_pending(lua_State *L) {
  px_client *c = px_check(L);
  px_transfer *t;
  lua_Integer n = 0;
  for (t = c->active; t != NULL; t = t->next)
    n++;
  lua_pushinteger(L, n);
  return 1;
}

/* The one close: serves close, __gc and __close, and a half-made client. */
static int px_client_close(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  c->closed = 1;
  while (c->active != NULL) {
    px_transfer *t = c->active;
    px_detach(c, t);
    px_unlink(&c->active, t);
    px_destroy(c, t);
  }
  while (c->idle != NULL) {
    px_transfer *t = c->idle;
    px_unlink(&c->idle, t);
    px_destroy(c, t);
  }
  c->nidle = 0;
  if (c->multi != NULL)
    curl_multi_cleanup(c->multi);
  if (c->prototype != NULL)
    curl_easy_cleanup(c->prototype);
  curl_slist_free_all(c->get_headers);
  curl_slist_free_all(c->post_headers);
  c->multi = NULL;
  c->prototype = NULL;
  c->get_headers = c->post_headers = NULL;
  return 0;
}

static int px_client_isopen(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  lua_pushboolean(L, !c->closed);
  return 1;
}

static int px_client_tostring(lua_State *L) {
  px_client *c = luaL_checkudata(L, 1, PX_CLIENT_TYPE);
  if (c->closed)
    lua_pushliteral(L, "proxyapi.Client (closed)");
  else
    lua_pushfstring(L, "proxyapi.Client (%p)", (void *)c);
  return 1;
}

/* ---- construction ---- */

static void px_setopt_string(lua_State *L, px_client *c, CURLoption opt, const char *v) {
  if (curl_easy_setopt(c->prototype, opt, v) != CURLE_OK)
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

/* Options every transfer shares, set once on the prototype handle. */
static void px_configure(lua_State *L, px_client *c, int opts) {
  CURL *e = c->prototype;
  lua_Number connect_timeout;
  lua_getfield(L, opts, "user_agent");
  px_setopt_string(L, c, CURLOPT_USERAGENT, luaL_optstring(L, -1, "proxyapi"));
  lua_getfield(L, opts, "connect_timeout");
  connect_timeout = luaL_optnumber(L, -1, 10);
  lua_getfield(L, opts, "max_response_bytes");
  c->max_reply = (size_t)luaL_optinteger(L, -1, 64 * 1024 * 1024);
  lua_getfield(L, opts, "proxy");
  if (lua_type(L, -1) == LUA_TSTRING)
    px_setopt_string(L, c, CURLOPT_PROXY, lua_tostring(L, -1));
  else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
    px_setopt_string(L, c, CURLOPT_PROXY, ""); /* none, not even from the environment */
  lua_getfield(L, opts, "ca_file");
  if (lua_type(L, -1) == LUA_TSTRING)
    px_setopt_string(L, c, CURLOPT_CAINFO, lua_tostring(L, -1));
  lua_getfield(L, opts, "insecure");
  if (lua_toboolean(L, -1)) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  }
  lua_pop(L, 6);
  px_setopt_string(L, c, CURLOPT_PROTOCOLS_STR, "http,https");
  px_setopt_string(L, c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, px_millis(connect_timeout));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_reply);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, px_on_data);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, px_on_progress);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, px_on_send);
}

/* core.new_client(options): options are checked by the Lua side. */
static int px_client_new(lua_State *L) {
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
  /* no 100-continue round trip before JSON bodies */
  px_header(L, &c->get_headers, "Accept: application/json");
  px_header(L, &c->post_headers, "Accept: application/json");
  px_header(L, &c->post_headers, "Content-Type: application/json");
  px_header(L, &c->post_headers, "Expect:");
  px_configure(L, c, 1);
  c->closed = 0;
  return 1;
}

static const luaL_Reg px_client_methods[] = {
    {"_perform", px_client_perform},
    {"_submit",  px_client_submit },
    {"_poll",    px_client_poll   },
    {"_result",  px_client_result },
    {"_cancel",  px_client_cancel },
    {"_pending", px_client_pending},
    {"_isopen",  px_client_isopen },
    {"close",    px_client_close  },
    {NULL,       NULL             },
};

static const luaL_Reg px_client_meta[] = {
    {"__gc",       px_client_close   },
    {"__close",    px_client_close   },
    {"__tostring", px_client_tostring},
    {"__index",    NULL              },
    {NULL,         NULL              },
};

static const luaL_Reg px_client_funcs[] = {
    {"new_client", px_client_new},
    {NULL,         NULL         },
};

/*
** Makes the metatable and adds new_client and Client (the methods
** table, which the Lua side extends with the endpoint methods) to the
** module table on top.
*/
void px_client_open(lua_State *L, int uv) {
  luaL_newmetatable(L, PX_CLIENT_TYPE);
  luaL_setfuncs(L, px_client_meta, 0);
  lua_newtable(L);
  px_register(L, px_client_methods, uv);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_setfield(L, -3, "Client");
  lua_pop(L, 1);
  luaL_setfuncs(L, px_client_funcs, 0);
}
