/*
** px_transfer.c: transfers — the pool of easy handles, the libcurl
** callbacks, starting a request value, and the loop that drives them.
**
** Transfers are recycled through an idle list with their easy handles and
** buffers, so a steady stream of calls allocates nothing of its own after
** warm-up. Callbacks only set flags: no Lua error is ever raised from
** inside libcurl; the outcome is read afterwards (px_result.c).
*/
#include <string.h>
#include <strings.h>

#include "px.h"

#define PX_IDLE_MAX 64
#define PX_MAX_HEADER_BYTES (PX_MAX_HEADER_KB * 1024)
/* bodies from this size on would get libcurl's Expect: 100-continue
** (1 KiB in older libcurl, 1 MiB in Debian 12's 7.88): they ask for none */
#define PX_EXPECT_BYTES 1024

/* ---- libcurl callbacks: flags only, never Lua ---- */

static size_t px_on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
  px_transfer *t = ud;
  size_t n = size * nmemb;
  if (t->reply.len + n > t->client->max_reply) {
    t->too_large = 1;
    return 0;
  }
  /* one byte more: the decoder reads the reply in place, and like a Lua
  ** string's its text ends in a NUL */
  if (!px_buf_reserve(t->client, &t->reply, n + 1)) {
    t->out_of_memory = 1;
    return 0;
  }
  memcpy(t->reply.data + t->reply.len, ptr, n);
  t->reply.len += n;
  t->reply.data[t->reply.len] = '\0';
  return n;
}

/* The blank line that ends the headers of a final (non-1xx) status: a
** connection closed before it is a failure, whatever libcurl says. Headers
** count against a cap of their own: a flood is a reply too large. */
static size_t px_on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  px_transfer *t = ud;
  size_t n = size * nmemb;
  t->header_bytes += n;
  if (t->header_bytes > PX_MAX_HEADER_BYTES) {
    t->too_large = 2;
    return 0;
  }
  if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->headers_done = status >= 200;
  } else if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
    t->headers_done = 0; /* a new status line (after a 1xx) */
    t->length_headers = 0;
  } else if ((ptr[0] == 'C' || ptr[0] == 'c') && n > 15 && strncasecmp(ptr, "Content-Length:", 15) == 0) {
    t->length_headers++; /* two or more: px_result.c compares them */
  }
  return n;
}

/* Called each time the request is about to go out on a connection (after
** any proxy tunnel is up), so a resend libcurl makes on its own (a reused
** connection found dead) is counted as the extra try it is, and a request
** that never got this far cannot have reached the API. */
static int px_on_send(void *ud, char *remote_ip, char *local_ip, int remote_port, int local_port) {
  px_transfer *t = ud;
  (void)remote_ip, (void)local_ip, (void)remote_port, (void)local_port;
  t->sends++;
  return CURL_PREREQFUNC_OK;
}

/* Options every transfer shares, set once on the client's prototype. */
void px_transfer_configure(px_client *c, CURL *e) {
  (void)c;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, px_on_data);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, px_on_header);
  /* no progress callback: a cancelled transfer leaves the multi handle at
  ** once, and px_transfer_drive cancels them all when a grace is over
  ** (libcurl's progress meter cost 1,000-2,000 instructions a call) */
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, px_on_send);
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

static void px_detach(px_client *c, px_transfer *t) {
  if (t->in_multi) {
    curl_multi_remove_handle(c->multi, t->easy);
    t->in_multi = 0;
  }
}

/* Frees a transfer that is in no list. */
void px_transfer_destroy(px_client *c, px_transfer *t) {
  px_detach(c, t);
  if (t->easy != NULL)
    curl_easy_cleanup(t->easy);
  px_buf_free(c, &t->reply);
  px_buf_free(c, &t->request);
  px_realloc(c, t, sizeof *t, 0);
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
      px_transfer_destroy(c, t);
      return NULL;
    }
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_PREREQDATA, (void *)t);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
  }
  px_push(&c->active, t);
  return t;
}

/* Back to the idle list (its connection stays in the multi's cache). */
void px_transfer_release(px_client *c, px_transfer *t) {
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
    px_transfer_destroy(c, t);
  }
}

px_transfer *px_transfer_find(px_client *c, lua_Integer id) {
  px_transfer *t;
  for (t = c->active; t != NULL; t = t->next)
    if (t->id == id)
      return t;
  return NULL;
}

void px_transfer_cancel(px_client *c, px_transfer *t) {
  if (t->done)
    return;
  px_detach(c, t);
  t->cancelled = 1;
  t->result = CURLE_ABORTED_BY_CALLBACK;
  t->done = 1;
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

/* One round: move every transfer forward, waiting up to wait_ms for
** activity. After an interrupt, transfers in flight have the client's
** grace to finish; then they are cancelled. */
void px_transfer_drive(lua_State *L, px_client *c, int wait_ms) {
  int running = 0;
  CURLMcode mc = curl_multi_perform(c->multi, &running);
  if (px_is_interrupted()) {
    int left_ms = (int)(px_grace_left(c->grace) * 1000 + 1);
    if (left_ms < wait_ms)
      wait_ms = left_ms;
  }
  if (mc == CURLM_OK) {
    px_collect(c);
    if (running > 0 && wait_ms > 0 && !px_grace_over(c->grace)) {
      mc = curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
      if (mc == CURLM_OK)
        mc = curl_multi_perform(c->multi, &running);
      px_collect(c);
    }
  }
  if (px_grace_over(c->grace)) {
    px_transfer *t;
    for (t = c->active; t != NULL; t = t->next)
      px_transfer_cancel(c, t);
  }
  if (mc != CURLM_OK)
    luaL_error(L, "libcurl: %s", curl_multi_strerror(mc));
}

/* ---- starting a request value ---- */

static const char *px_optstring(lua_State *L, int t, const char *field) {
  const char *s;
  lua_getfield(L, t, field);
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "request: %s: string expected, got %s", field, luaL_typename(L, -1));
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* the string stays alive in the table */
  return s;
}

static CURLcode px_set_proxy(px_transfer *t, const char *proxy, const char *user, const char *pass) {
  CURLcode rc = CURLE_OK;
  if (proxy != NULL)
    rc = curl_easy_setopt(t->easy, CURLOPT_PROXY, proxy);
  /* the proxy asked for is the one used: no_proxy of the environment
  ** would send a check of a loopback target around it */
  if (rc == CURLE_OK && proxy != NULL)
    rc = curl_easy_setopt(t->easy, CURLOPT_NOPROXY, "");
  if (rc == CURLE_OK && user != NULL)
    rc = curl_easy_setopt(t->easy, CURLOPT_PROXYUSERNAME, user);
  if (rc == CURLE_OK && pass != NULL)
    rc = curl_easy_setopt(t->easy, CURLOPT_PROXYPASSWORD, pass);
  t->disposable = proxy != NULL || user != NULL || pass != NULL;
  return rc;
}

/*
** Starts the request value at index req (see px_request.c and the Lua
** side's proxyapi.request): its route's method, url and at_most_once, its
** parameters, `reply` ("json", "maybe_text" or "ignore") and per-transfer
** proxy settings. Everything that can raise happens before a transfer is
** taken, and a taken transfer is released before raising.
*/
px_transfer *px_transfer_start(lua_State *L, px_client *c, int req, lua_Integer owner) {
  static const char *const replies[] = {"json", "maybe_text", "ignore", NULL};
  const char *method, *url, *body = NULL, *proxy, *proxy_user, *proxy_pass;
  size_t body_len = 0;
  int post, at_most_once, reply_mode, top;
  px_transfer *t;
  CURLcode rc;
  px_out o;
  req = lua_absindex(L, req);
  luaL_checktype(L, req, LUA_TTABLE);
  top = lua_gettop(L);
  if (lua_getfield(L, req, "route") != LUA_TTABLE)
    luaL_error(L, "request: route table expected");
  method = px_optstring(L, top + 1, "method");
  url = px_optstring(L, top + 1, "url");
  if (method == NULL || url == NULL)
    luaL_error(L, "request: route.method and route.url expected");
  post = strcmp(method, "POST") == 0;
  if (!post && strcmp(method, "GET") != 0)
    luaL_error(L, "request: 'GET' or 'POST' expected, got '%s'", method);
  lua_getfield(L, top + 1, "at_most_once");
  at_most_once = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, req, "reply");
  reply_mode = luaL_checkoption(L, -1, "json", replies);
  lua_pop(L, 1);
  /* credentials go with a proxy of the request's own (api:check_proxies);
  ** API calls have none, and skip two lookups */
  proxy = px_optstring(L, req, "proxy");
  proxy_user = proxy != NULL ? px_optstring(L, req, "proxy_username") : NULL;
  proxy_pass = proxy != NULL ? px_optstring(L, req, "proxy_password") : NULL;
  px_out_init_buf(&o, L, c, &c->scratch); /* the body, or the URL with its query */
  if (post) {
    px_request_write(&o, req, 1, c->key_wire[1], c->key_wire_len[1], 0);
  } else {
    px_out_put(&o, url, strlen(url));
    px_out_put(&o, "?", 1);
    px_request_write(&o, req, 0, c->key_wire[0], c->key_wire_len[0], 0);
    if (o.data[o.len - 1] == '?')
      o.len--; /* no key and no parameters: the bare URL */
  }
  px_out_put(&o, "", 1); /* a C string for libcurl */
  t = px_acquire(c);
  if (t == NULL)
    luaL_error(L, "not enough memory");
  {
    px_buf written = c->scratch;
    written.len = o.len - 1;
    c->scratch = t->request;
    t->request = written;
  }
  t->reply.len = 0;
  if (post) {
    body = t->request.data;
    body_len = t->request.len;
  } else {
    url = t->request.data;
  }
  t->errbuf[0] = '\0';
  t->done = t->reported = t->too_large = t->out_of_memory = t->cancelled = t->sends = 0;
  t->headers_done = t->bad_length = t->length_headers = 0;
  t->header_bytes = 0;
  t->reply_mode = reply_mode;
  t->result = CURLE_OK;
  t->id = ++c->last_id;
  t->owner = owner;
  rc = curl_easy_setopt(t->easy, CURLOPT_URL, url);
  if (rc == CURLE_OK && (proxy != NULL || proxy_user != NULL || proxy_pass != NULL))
    rc = px_set_proxy(t, proxy, proxy_user, proxy_pass);
  if (rc == CURLE_OK && post) {
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER,
                     body_len < PX_EXPECT_BYTES ? c->post_headers : c->large_post_headers);
  } else if (rc == CURLE_OK) {
    curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, c->get_headers);
  }
  /* reads may bring large replies: they ask for compression; the replies
  ** to writes are a small envelope, and asking costs every transfer. Only
  ** gzip is offered: libcurl formats the list into every request, and
  ** gzip is what JSON APIs serve. */
  if (t->compressed != !post) {
    t->compressed = !post;
    curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, post ? NULL : "gzip");
  }
  curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  /* libcurl silently resends a request on a reused connection found dead
  ** before any reply; a fresh connection makes a send happen at most once */
  curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, (long)at_most_once);
  if (rc != CURLE_OK || curl_multi_add_handle(c->multi, t->easy) != CURLM_OK) {
    px_transfer_release(c, t);
    luaL_error(L, "libcurl: cannot start the transfer (%s)",
               rc != CURLE_OK ? curl_easy_strerror(rc) : "multi handle refused it");
  }
  t->in_multi = 1;
  lua_settop(L, top);
  return t;
}
