/*
** px_result.c: a finished transfer as one Lua table, read by name:
**
**   status       the HTTP status, when a reply came
**   kind, msg    a failure: "network", "timeout", "protocol" or "cancelled"
**   data         the decoded reply (JSON; cjson null becomes nil)
**   text         the body of a text reply (reply = "maybe_text")
**   bad_json     why a complete reply did not decode (only a 2xx status
**                makes that a failure: an error page need not be JSON)
**   elapsed      seconds; retry_after: seconds the server asked to wait
**   reached      whether the request may have got to the server
**   sends        how many times it went out (libcurl's own resends included)
*/
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "px.h"

/* Retry-After longer than this is as good as "never" */
#define PX_RETRY_AFTER_MAX 1e9

static int px_is_http_date(const char *v) {
  static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  size_t i;
  for (i = 0; i < sizeof days / sizeof days[0]; i++)
    if (strncmp(v, days[i], 3) == 0)
      return 1;
  return 0;
}

/* Seconds the server asked to wait, or -1. HTTP defines two forms only:
** delta-seconds (digits) and an HTTP-date (which starts with a day name);
** hex, exponents, signs and fractions are not waits. */
static double px_retry_after(CURL *easy) {
  struct curl_header *h = NULL;
  const char *v, *p;
  double secs = 0;
  if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
    return -1;
  v = h->value;
  while (*v == ' ' || *v == '\t')
    v++;
  if (isdigit((unsigned char)*v)) {
    for (p = v; isdigit((unsigned char)*p); p++)
      if (secs < PX_RETRY_AFTER_MAX)
        secs = secs * 10 + (*p - '0');
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p != '\0')
      return -1;
    return secs < PX_RETRY_AFTER_MAX ? secs : PX_RETRY_AFTER_MAX;
  }
  if (px_is_http_date(v)) {
    time_t when = curl_getdate(v, NULL);
    if (when == (time_t)-1)
      return -1;
    secs = difftime(when, time(NULL));
    if (secs > PX_RETRY_AFTER_MAX)
      secs = PX_RETRY_AFTER_MAX;
    return secs < 0 ? 0 : secs;
  }
  return -1;
}

/* Two Content-Length headers that disagree: which body is the reply? */
static int px_lengths_disagree(CURL *easy) {
  struct curl_header *h = NULL;
  size_t i, amount;
  char first[32];
  if (curl_easy_header(easy, "Content-Length", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h->amount < 2)
    return 0;
  amount = h->amount;
  snprintf(first, sizeof first, "%s", h->value);
  for (i = 1; i < amount; i++)
    if (curl_easy_header(easy, "Content-Length", i, CURLH_HEADER, -1, &h) == CURLHE_OK &&
        strcmp(h->value, first) != 0)
      return 1;
  return 0;
}

/* libcurl reports a header line over its limit (100 KB) as out of memory */
static int px_headers_too_large(const px_transfer *t) {
  return t->too_large == 2 || (t->result == CURLE_OUT_OF_MEMORY && !t->headers_done);
}

/* The kind of a failed transfer, or NULL. */
static const char *px_failure(px_transfer *t) {
  if (t->cancelled)
    return "cancelled";
  if (t->too_large || px_headers_too_large(t))
    return "protocol";
  switch (t->result) {
  case CURLE_OK:
    /* a connection closed in the middle of the headers */
    if (!t->headers_done)
      return "network";
    if (t->length_headers > 1 && px_lengths_disagree(t->easy)) {
      t->bad_length = 1;
      return "protocol";
    }
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
  default: /* TLS failures too: the peer could not be reached as asked */
    return "network";
  }
}

/* Whether the process is out of file descriptors: libcurl reports a
** socket() that failed so as "Couldn't connect to server". */
static int px_out_of_fds(int *err) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  *err = errno;
  return errno == EMFILE || errno == ENFILE;
}

static void px_push_failure_msg(lua_State *L, px_client *c, px_transfer *t) {
  long os_errno = 0;
  int err = 0;
  if (px_headers_too_large(t)) {
    lua_pushfstring(L, "reply headers larger than libcurl takes (a line over 100 KB, or %d KB in all)",
                    PX_MAX_HEADER_KB);
    return;
  }
  if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED) {
    lua_pushfstring(L, "reply larger than %I bytes", (lua_Integer)c->max_reply);
    return;
  }
  if (t->bad_length) {
    lua_pushliteral(L, "the reply has Content-Length headers that disagree");
    return;
  }
  if (t->result == CURLE_OK) {
    lua_pushliteral(L, "the connection closed before the end of the reply's headers");
    return;
  }
  curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
  err = (int)os_errno;
  if (os_errno == EMFILE || os_errno == ENFILE ||
      (t->result == CURLE_COULDNT_CONNECT && px_out_of_fds(&err))) {
    lua_pushfstring(L, "out of file descriptors (%s): cannot open a connection", strerror(err));
    return;
  }
  lua_pushstring(L, t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result));
}

static void px_setnumber(lua_State *L, const char *field, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, field);
}

/* Whether a reply that may be text is text: anything but an object. */
static int px_is_text(const px_buf *reply) {
  const char *p = reply->data, *end;
  if (reply->len == 0) /* and maybe no buffer: no pointer arithmetic on NULL */
    return 1;
  end = p + reply->len;
  while (p < end && isspace((unsigned char)*p))
    p++;
  return p == end || *p != '{';
}

/* Decodes a reply taken from its transfer into the result table on top,
** then keeps its buffer for the next transfer that finishes (or frees
** it): the reply is read where it is, never copied into a Lua string.
** Nothing here raises while the buffer is this frame's alone. */
static void px_decode_into(lua_State *L, px_client *c, px_buf *reply) {
  int r = px_json_decode_text(L, reply->data, reply->len);
  if (c->spare_reply.data == NULL && !c->closed && reply->cap <= PX_KEEP_BYTES) {
    reply->len = 0;
    c->spare_reply = *reply;
  } else {
    px_buf_free(c, reply);
  }
  if (r < 0)
    lua_error(L);
  lua_setfield(L, -2, r ? "data" : "bad_json");
}

/* Pushes the result table of a finished transfer and releases it. */
int px_result_push(lua_State *L, px_client *c, px_transfer *t) {
  long status = 0;
  double elapsed = 0, retry_after = -1;
  int mode = t->reply_mode;
  const char *failure = px_failure(t);
  px_buf reply = {NULL, 0, 0};
  if (t->out_of_memory) {
    px_transfer_release(c, t);
    luaL_error(L, "not enough memory");
  }
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &elapsed);
  if (status >= 300)
    retry_after = px_retry_after(t->easy);
  luaL_checkstack(L, 4, NULL); /* the table and a decode's 3 */
  lua_createtable(L, 0, 8);
  if (status > 0) {
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
  }
  px_setnumber(L, "elapsed", elapsed);
  if (retry_after >= 0)
    px_setnumber(L, "retry_after", retry_after);
  lua_pushboolean(L, t->sends > 0);
  lua_setfield(L, -2, "reached");
  lua_pushinteger(L, t->sends);
  lua_setfield(L, -2, "sends");
  if (failure != NULL) {
    lua_pushstring(L, failure);
    lua_setfield(L, -2, "kind");
    px_push_failure_msg(L, c, t);
    lua_setfield(L, -2, "msg");
  } else if (mode == PX_REPLY_IGNORE) {
    /* nothing to hand back */
  } else if (mode == PX_REPLY_MAYBE_TEXT && px_is_text(&t->reply)) {
    lua_pushlstring(L, t->reply.len > 0 ? t->reply.data : "", t->reply.len);
    lua_setfield(L, -2, "text");
  } else if (t->reply.len == 0) {
    lua_pushliteral(L, "empty reply");
    lua_setfield(L, -2, "bad_json");
  } else { /* the transfer gets the spare buffer in exchange */
    reply = t->reply;
    t->reply = c->spare_reply;
    c->spare_reply = (px_buf){NULL, 0, 0};
  }
  px_transfer_release(c, t);
  if (reply.data != NULL)
    px_decode_into(L, c, &reply);
  return 1;
}
