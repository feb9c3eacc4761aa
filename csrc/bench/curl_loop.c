/*
** curl_loop.c: the floor. N calls on reused libcurl easy handles (so
** keep-alive connections), each body into a reused buffer; with --decode
** each body also goes through lua-cjson's decode in a lua_State (Lua and
** cjson linked statically, as pxlua has them), called from C, the result
** dropped.
**
**   curl_loop [--decode] [--post BODY] [--concurrency K] [--warmup N]
**             [--seconds S] URL N
**   curl_loop --decode-file FILE [--warmup N] [--seconds S] N
**
** Sequential (no --concurrency): one easy handle, curl_easy_perform.
** --concurrency K: K easy handles in one multi handle, K transfers in
** flight, a finished handle starts the next call. --post sends BODY as
** application/json. --decode-file: no network, cjson.decode of the file's
** text N times (what decoding alone costs).
**
** Runs N calls (after the warm-up), or fewer when S seconds (default 30)
** are up first, and prints calls=N seconds=S cpu=S bytes=B for the timed
** part only (cpu: the process's CPU time, user and system).
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

#define CL_MAX_CONCURRENCY 64

typedef struct cl_buf {
  char *data;
  size_t len, cap;
} cl_buf;

/* What every transfer shares. */
typedef struct cl_setup {
  const char *url, *post;
  struct curl_slist *headers;
  lua_State *L; /* with cjson.decode at stack index 1, or NULL: no decoding */
} cl_setup;

typedef struct cl_handle {
  CURL *easy;
  cl_buf body;
  char errbuf[CURL_ERROR_SIZE];
} cl_handle;

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
  fputs("usage: curl_loop [--decode] [--post BODY] [--concurrency K] [--warmup N] [--seconds S] URL N\n"
        "       curl_loop --decode-file FILE [--warmup N] [--seconds S] N\n",
        stderr);
  exit(2);
}

/* cjson.decode(text); exits on failure (the floor must not measure errors). */
static void cl_decode(lua_State *L, const char *text, size_t len) {
  lua_pushvalue(L, 1);
  lua_pushlstring(L, text, len);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    fprintf(stderr, "curl_loop: decode failed: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  lua_pop(L, 1);
}

static lua_State *cl_new_decoder(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL)
    exit(1);
  luaL_openlibs(L);
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  lua_getfield(L, -1, "decode");
  lua_replace(L, 1); /* stack: decode */
  lua_settop(L, 1);
  return L;
}

static void cl_handle_init(cl_handle *h, const cl_setup *s) {
  h->easy = curl_easy_init();
  if (h->easy == NULL)
    exit(1);
  h->errbuf[0] = '\0';
  curl_easy_setopt(h->easy, CURLOPT_URL, s->url);
  curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, cl_on_data);
  curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, (void *)&h->body);
  curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h->easy, CURLOPT_TCP_NODELAY, 1L);
  if (s->post != NULL) {
    curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, s->post);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, s->headers);
  }
}

/* A finished transfer: exits on any failure, else decodes the body. */
static void cl_finish(cl_handle *h, CURLcode rc, const cl_setup *s) {
  long status = 0;
  curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status != 200) {
    const char *why = rc == CURLE_OK ? "bad status" : h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    fprintf(stderr, "curl_loop: %s (HTTP %ld)\n", why, status);
    exit(1);
  }
  if (s->L != NULL)
    cl_decode(s->L, h->body.data, h->body.len);
}

static void cl_get(cl_handle *h, const cl_setup *s) {
  h->body.len = 0;
  cl_finish(h, curl_easy_perform(h->easy), s);
}

/* Runs `calls` transfers, k at a time, until the deadline (if any);
** returns how many finished. */
static long cl_run_multi(CURLM *multi, cl_handle *hs, int k, long calls, const cl_setup *s, double deadline) {
  long started = 0, done = 0;
  int i, running = 0;
  for (i = 0; i < k && started < calls; i++, started++) {
    hs[i].body.len = 0;
    curl_multi_add_handle(multi, hs[i].easy);
  }
  while (done < started) {
    CURLMsg *msg;
    int left;
    if (curl_multi_perform(multi, &running) != CURLM_OK)
      exit(1);
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
      cl_handle *h = NULL;
      if (msg->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
      curl_multi_remove_handle(multi, h->easy);
      cl_finish(h, msg->data.result, s);
      done++;
      if (started < calls && (deadline <= 0 || cl_now() < deadline)) {
        h->body.len = 0;
        curl_multi_add_handle(multi, h->easy);
        started++;
      }
    }
    if (done < started && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
      exit(1);
  }
  return done;
}

/* Sequential: `warmup` untimed calls, then `calls` or until max_seconds
** are up; returns how many timed calls ran, and when they started. */
static long cl_run_easy(cl_handle *h, const cl_setup *s, long warmup, long calls, double max_seconds,
                        double *start, clock_t *cpu_start) {
  long i;
  for (i = 0; i < warmup; i++)
    cl_get(h, s);
  *start = cl_now();
  *cpu_start = clock();
  for (i = 0; i < calls; i++) {
    cl_get(h, s);
    if ((i & 15) == 15 && cl_now() - *start >= max_seconds)
      return i + 1;
  }
  return calls;
}

static char *cl_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *data;
  long size;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    perror(path);
    exit(1);
  }
  data = malloc((size_t)size + 1);
  if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
    perror(path);
    exit(1);
  }
  fclose(f);
  *len = (size_t)size;
  return data;
}

static void cl_report(long calls, double start, clock_t cpu_start, size_t bytes) {
  printf("calls=%ld seconds=%.6f cpu=%.6f bytes=%zu\n", calls, cl_now() - start,
         (double)(clock() - cpu_start) / CLOCKS_PER_SEC, bytes);
}

/* --decode-file: cjson.decode of one text, over and over. */
static int cl_decode_file(const char *path, long calls, long warmup, double max_seconds) {
  size_t len;
  char *text = cl_read_file(path, &len);
  lua_State *L = cl_new_decoder();
  long i;
  double start;
  clock_t cpu_start;
  for (i = 0; i < warmup; i++)
    cl_decode(L, text, len);
  start = cl_now();
  cpu_start = clock();
  for (i = 0; i < calls; i++) {
    cl_decode(L, text, len);
    if (cl_now() - start >= max_seconds) {
      i++;
      break;
    }
  }
  cl_report(i, start, cpu_start, len);
  lua_close(L);
  free(text);
  return 0;
}

int main(int argc, char **argv) {
  const char *url, *decode_file = NULL, *pos[2];
  int npos = 0;
  long calls, warmup = 5, done;
  double max_seconds = 30, start;
  clock_t cpu_start;
  int decode = 0, k, concurrency = 0;
  cl_setup s = {NULL, NULL, NULL, NULL};
  cl_handle hs[CL_MAX_CONCURRENCY];
  for (k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--decode") == 0)
      decode = 1;
    else if (strcmp(argv[k], "--decode-file") == 0 && k + 1 < argc)
      decode_file = argv[++k];
    else if (strcmp(argv[k], "--post") == 0 && k + 1 < argc)
      s.post = argv[++k];
    else if (strcmp(argv[k], "--concurrency") == 0 && k + 1 < argc)
      concurrency = atoi(argv[++k]);
    else if (strcmp(argv[k], "--warmup") == 0 && k + 1 < argc)
      warmup = atol(argv[++k]);
    else if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
      max_seconds = atof(argv[++k]);
    else if (npos < 2)
      pos[npos++] = argv[k];
    else
      cl_usage();
  }
  /* positional: URL N, or only N with --decode-file */
  if (npos != (decode_file != NULL ? 1 : 2))
    cl_usage();
  url = decode_file != NULL ? NULL : pos[0];
  calls = atol(pos[npos - 1]);
  if (warmup < 0 || !(max_seconds > 0) || calls <= 0 || concurrency < 0 || concurrency > CL_MAX_CONCURRENCY)
    cl_usage();
  if (decode_file != NULL)
    return cl_decode_file(decode_file, calls, warmup, max_seconds);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 1;
  s.url = url;
  if (decode)
    s.L = cl_new_decoder();
  if (s.post != NULL)
    s.headers = curl_slist_append(NULL, "Content-Type: application/json");
  memset(hs, 0, sizeof hs);
  for (k = 0; k < (concurrency ? concurrency : 1); k++) {
    cl_handle_init(&hs[k], &s);
    curl_easy_setopt(hs[k].easy, CURLOPT_PRIVATE, (void *)&hs[k]);
  }
  if (concurrency == 0) {
    done = cl_run_easy(&hs[0], &s, warmup, calls, max_seconds, &start, &cpu_start);
  } else {
    CURLM *multi = curl_multi_init();
    if (multi == NULL)
      return 1;
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)concurrency);
    cl_run_multi(multi, hs, concurrency, concurrency, &s, 0); /* opens the connections */
    start = cl_now();
    cpu_start = clock();
    done = cl_run_multi(multi, hs, concurrency, calls, &s, start + max_seconds);
    curl_multi_cleanup(multi);
  }
  cl_report(done, start, cpu_start, hs[0].body.len);
  for (k = 0; k < (concurrency ? concurrency : 1); k++) {
    curl_easy_cleanup(hs[k].easy);
    free(hs[k].body.data);
  }
  curl_slist_free_all(s.headers);
  curl_global_cleanup();
  if (s.L != NULL)
    lua_close(s.L);
  return 0;
}
