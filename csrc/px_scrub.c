/*
** px_scrub.c: the app_key removed from text a server or libcurl wrote.
**
** A server that echoes the request may spell the key in many ways: raw,
** lower- or upper-cased, percent-encoded byte by byte in either hex case
** (or only some bytes, or encoded twice), JSON-escaped (\u0041, \/), as
** HTML character references (&#65;, &#x41;). So
** the text is not searched for a few fixed spellings: at each position the
** key is matched unit by unit, where a unit is one byte of the text or one
** escape that decodes to a byte, compared without case. Every match
** becomes ***.
*/
#include <ctype.h>
#include <string.h>

#include "px.h"

static int px_hexval(unsigned char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch = (unsigned char)tolower(ch);
  return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* The value of n hex digits at p (within end), or -1. */
static long px_hexrun(const char *p, const char *end, int n) {
  long v = 0;
  int i;
  if (end - p < n)
    return -1;
  for (i = 0; i < n; i++) {
    int d = px_hexval((unsigned char)p[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* An HTML character reference: &#83; or &#x53; (an HTML error page that
** echoes the request). Returns its length, or 0. */
static int px_html_ref(const char *p, const char *end, long *v) {
  const char *q = p + 2;
  int hex = q < end && (*q == 'x' || *q == 'X'), digits = 0;
  *v = 0;
  q += hex;
  for (; q < end && digits < 7; q++, digits++) {
    int d = hex ? px_hexval((unsigned char)*q) : (*q >= '0' && *q <= '9' ? *q - '0' : -1);
    if (d < 0)
      break;
    *v = *v * (hex ? 16 : 10) + d;
  }
  if (digits == 0 || q >= end || *q != ';')
    return 0;
  return (int)(q + 1 - p);
}

/* Decodes one unit at p: sets *byte and returns the position after it. */
static const char *px_unit(const char *p, const char *end, int *byte) {
  long v;
  int n;
  if (*p == '%') {
    if ((v = px_hexrun(p + 1, end, 2)) == 0x25 && (v = px_hexrun(p + 3, end, 2)) >= 0) {
      *byte = (int)v; /* encoded twice: %2541 */
      return p + 5;
    }
    if ((v = px_hexrun(p + 1, end, 2)) >= 0) {
      *byte = (int)v;
      return p + 3;
    }
  } else if (*p == '&' && end - p >= 4 && p[1] == '#' && (n = px_html_ref(p, end, &v)) > 0 && v < 0x80) {
    *byte = (int)v;
    return p + n;
  } else if (*p == '\\' && end - p >= 2) {
    if (p[1] == 'u' && (v = px_hexrun(p + 2, end, 4)) >= 0 && v < 0x80) {
      *byte = (int)v;
      return p + 6;
    }
    if (p[1] == '/' || p[1] == '\\' || p[1] == '"') {
      *byte = (unsigned char)p[1];
      return p + 2;
    }
  }
  *byte = (unsigned char)*p;
  return p + 1;
}

/* The end of a spelling of the key starting at p, or NULL. */
static const char *px_match(const char *p, const char *end, const char *key, size_t key_len) {
  size_t j;
  for (j = 0; j < key_len; j++) {
    int byte;
    if (p >= end)
      return NULL;
    p = px_unit(p, end, &byte);
    if (tolower(byte) != tolower((unsigned char)key[j]))
      return NULL;
  }
  return p;
}

/* Pushes text with every spelling of the key replaced by ***. */
void px_scrub_push(lua_State *L, const char *text, size_t len, const char *key, size_t key_len) {
  const char *p = text, *end = text + len, *run = text;
  luaL_Buffer b;
  int first = key_len > 0 ? tolower((unsigned char)key[0]) : 0;
  if (key_len == 0) {
    lua_pushlstring(L, text, len);
    return;
  }
  luaL_buffinit(L, &b);
  while (p < end) {
    const char *after;
    unsigned char ch = (unsigned char)*p;
    if (ch != '%' && ch != '\\' && ch != '&' && tolower(ch) != first) {
      p++;
      continue;
    }
    after = px_match(p, end, key, key_len);
    if (after == NULL) {
      p++;
      continue;
    }
    luaL_addlstring(&b, run, (size_t)(p - run));
    luaL_addstring(&b, "***");
    p = run = after;
  }
  luaL_addlstring(&b, run, (size_t)(end - run));
  luaL_pushresult(&b);
}

/* core.scrub_key(key, text): text without key, for specs and the fuzzer;
** clients scrub with the key they hold (px_client.c). */
static int px_scrub_fn(lua_State *L) {
  size_t klen, len;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *text = luaL_checklstring(L, 2, &len);
  px_scrub_push(L, text, len, key, klen);
  return 1;
}

void px_scrub_open(lua_State *L) {
  lua_pushcfunction(L, px_scrub_fn);
  lua_setfield(L, -2, "scrub_key");
}
