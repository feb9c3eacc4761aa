/*
** curl_loop.c: the floor. N sequential GETs on ONE reused libcurl easy
** handle (so one keep-alive connection), each body into one reused
** buffer; with --decode each body also goes through lua-cjson's decode
** in a lua_State (Lua and cjson linked statically, as pxlua has them),
** called from C, the result dropped.
**
**   curl_loop [--decode] [--warmup N] [--seconds S] URL N
**
** Runs N calls (after the warm-up), or fewer when S seconds (default 30)
** are up first, and prints calls=N seconds=S cpu=S for the timed loop
** only (cpu: the process's CPU time, user and system).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_cjson(lua_State *L); /* from liblua5.4-cjson.a */

typedef struct cl_buf {
  char *data;
  size_t len, cap;
} cl_buf;

static size_t cl_on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
  cl_buf *b = ud;
  size_t n = size * nmemb;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    char *p;
    while (cap < b->len + n)
      cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
      return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  return n;
}

static double cl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cl_usage(void) {
  fputs("usage: curl_loop [--decode] [--warmup N] [--seconds S] URL N\n", stderr);
  exit(2);
}

/* One GET; exits on any failure (the floor must not measure errors). */
static void cl_get(CURL *easy, cl_buf *body, char *errbuf) {
  long status = 0;
  CURLcode rc;
  body->len = 0;
  rc = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status != 200) {
    fprintf(stderr, "curl_loop: %s (HTTP %ld)\n", rc != CURLE_OK ? errbuf : "bad status", status);
    exit(1);
  }
}

/* cjson.decode(body) with the decode function at stack index 1. */
static void cl_decode(lua_State *L, const cl_buf *body) {
  lua_pushvalue(L, 1);
  lua_pushlstring(L, body->data, body->len);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    fprintf(stderr, "curl_loop: decode failed: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  lua_pop(L, 1);
}

int main(int argc, char **argv) {
  const char *url = NULL;
  long calls = -1, warmup = 5, i;
  double max_seconds = 30, start, elapsed;
  clock_t cpu_start;
  int decode = 0, k;
  char errbuf[CURL_ERROR_SIZE] = "";
  cl_buf body = {NULL, 0, 0};
  lua_State *L = NULL;
  CURL *easy;
  for (k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--decode") == 0)
      decode = 1;
    else if (strcmp(argv[k], "--warmup") == 0 && k + 1 < argc)
      warmup = atol(argv[++k]);
    else if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
      max_seconds = atof(argv[++k]);
    else if (url == NULL)
      url = argv[k];
    else if (calls < 0)
      calls = atol(argv[k]);
    else
      cl_usage();
  }
  if (url == NULL || calls <= 0 || warmup < 0 || !(max_seconds > 0))
    cl_usage();
  if (decode) {
    L = luaL_newstate();
    if (L == NULL)
      return 1;
    luaL_openlibs(L);
    luaL_requiref(L, "cjson", luaopen_cjson, 0);
    lua_getfield(L, -1, "decode");
    lua_replace(L, 1); /* stack: decode */
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (easy = curl_easy_init()) == NULL)
    return 1;
  curl_easy_setopt(easy, CURLOPT_URL, url);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, cl_on_data);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, (void *)&body);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  for (i = 0; i < warmup; i++) {
    cl_get(easy, &body, errbuf);
    if (decode)
      cl_decode(L, &body);
  }
  start = cl_now();
  cpu_start = clock();
  for (i = 0; i < calls; i++) {
    cl_get(easy, &body, errbuf);
    if (decode)
      cl_decode(L, &body);
    if ((i & 15) == 15 && cl_now() - start >= max_seconds) {
      i++;
      break;
    }
  }
  elapsed = cl_now() - start;
  printf("calls=%ld seconds=%.6f cpu=%.6f bytes=%zu\n", i, elapsed,
         (double)(clock() - cpu_start) / CLOCKS_PER_SEC, body.len);
  curl_easy_cleanup(easy);
  curl_global_cleanup();
  if (L != NULL)
    lua_close(L);
  free(body.data);
  return 0;
}
