/*
** proxyapi.core: private declarations shared by the C files of the core.
**
**   px_core.c       the module: clock, sleep, the interrupt flag
**   px_client.c     the proxyapi.Client userdata and its internal functions
**   px_transfer.c   transfers: the pool, libcurl callbacks, the drive loop
**   px_result.c     a finished transfer as one Lua result table
**   px_request.c    a request value as a query string or a JSON body
**   px_json.c       reply decoding (a private cjson) and the JSON writer
**   px_normalise.c  decoded replies made the way users expect them
**   px_scan.c       which members of a large reply need that (px_scan.h)
**   px_scrub.c      the app_key removed from any text, in every spelling
**   px_os.c         private files and folders, stat, fsync, user and host
**   px_spawn.c      a command run without a shell (watch's notify)
*/
#ifndef PX_H
#define PX_H

#include <stddef.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

/* The options the core sets need these libcurl versions: CURLOPT_PREREQFUNCTION
** 7.80, curl_easy_header 7.84, CURLOPT_PROTOCOLS_STR 7.85. */
#if LIBCURL_VERSION_NUM < 0x075500
#error "proxyapi needs libcurl 7.85.0 or newer (CURLOPT_PROTOCOLS_STR, curl_easy_header)"
#endif

#define PX_CLIENT_TYPE "proxyapi.Client"

/* The error a stop hook raises, as lua.c's does: the decoder lets it through. */
#define PX_INTERRUPTED "interrupted!"

/*
** The upvalue of every core function that reads JSON: the decode function
** of a private cjson instance, so that a user's cjson settings never
** change what the core reads.
*/
#define PX_UV_DECODE lua_upvalueindex(1)
#define PX_NUPVALUES 1

/* all the headers of one reply, at most (libcurl's own cap is 300 KB) */
#define PX_MAX_HEADER_KB 64

/* buffers larger than this are freed when their transfer is released */
#define PX_KEEP_BYTES (256 * 1024)

/* How a reply body is handed back (the `reply` field of a request). */
enum { PX_REPLY_JSON, PX_REPLY_MAYBE_TEXT, PX_REPLY_IGNORE };

typedef struct px_buf {
  char *data;
  size_t len, cap;
} px_buf;

struct px_client;

typedef struct px_transfer {
  CURL *easy;
  struct px_client *client;
  struct px_transfer *prev, *next; /* in the client's active or idle list */
  lua_Integer id, owner;           /* owner: the loop that collects it (0: a blocking call) */
  px_buf reply, request;
  CURLcode result;
  int reply_mode;
  int in_multi, done, reported, out_of_memory, cancelled;
  int too_large;      /* 1: the body, 2: the headers went over their cap */
  int bad_length;     /* Content-Length headers that disagree */
  int length_headers; /* Content-Length lines of the final reply so far */
  size_t header_bytes;
  int headers_done; /* the blank line after the final status's headers arrived */
  int disposable;   /* has options of its own (a proxy): never pooled */
  int sends;        /* requests libcurl started, its own silent resends included */
  int compressed;   /* the handle asks for compressed replies (reads do) */
  char errbuf[CURL_ERROR_SIZE];
} px_transfer;

typedef struct px_client {
  CURLM *multi;
  CURL *prototype; /* holds the shared options; transfers duplicate it */
  struct curl_slist *get_headers, *proxy_headers, *post_headers, *large_post_headers;
  px_transfer *active, *idle;
  int nidle;
  lua_Integer last_id;
  size_t max_reply;
  long timeout_ms;
  double grace; /* seconds transfers in flight may go on after an interrupt */
  char *key;    /* the app_key, added to every request; NULL for a client without one */
  size_t key_len;
  /* the key as each request form writes it, encoded once: [0] percent-
  ** encoded for a query, [1] a JSON string for a body */
  char *key_wire[2];
  size_t key_wire_len[2];
  /* where the next request's text is written: it becomes that transfer's
  ** request buffer, and the transfer's old one becomes this (no Lua
  ** string holds a request, nor the key in it) */
  px_buf scratch;
  /* an empty reply buffer, given to the next transfer that finishes when
  ** its own is taken to be decoded in place */
  px_buf spare_reply;
  lua_Alloc alloc;
  void *alloc_ud;
  int closed;
} px_client;

/* px_core.c: the interrupt, set from a signal handler and read by
** transfers in flight, which may finish within a grace */
void px_set_interrupted(int sig);
int px_is_interrupted(void);
int px_interrupt_signal(void);
int px_grace_over(double grace);
double px_grace_left(double grace);
void px_note_grace(double grace);
double px_longest_grace(void);
double px_now(void);
void px_register(lua_State *L, const luaL_Reg *funcs, int uv);

/* px_client.c */
void *px_realloc(px_client *c, void *p, size_t osize, size_t nsize);
int px_buf_reserve(px_client *c, px_buf *b, size_t extra);
void px_buf_free(px_client *c, px_buf *b);
void px_client_open(lua_State *L, int uv);

/* px_transfer.c */
px_transfer *px_transfer_start(lua_State *L, px_client *c, int req, lua_Integer owner);
void px_transfer_drive(lua_State *L, px_client *c, int wait_ms);
void px_transfer_cancel(px_client *c, px_transfer *t);
void px_transfer_release(px_client *c, px_transfer *t);
void px_transfer_destroy(px_client *c, px_transfer *t);
px_transfer *px_transfer_find(px_client *c, lua_Integer id);
void px_transfer_configure(px_client *c, CURL *prototype);

/* px_result.c */
int px_result_push(lua_State *L, px_client *c, px_transfer *t);

/*
** Text that grows in a userdata at a fixed stack slot, so that writers may
** push and pop values of their own between additions (a luaL_Buffer may
** not be used that way) and an error frees it; or, for the wire, in a
** buffer of the client's (px_out_init_buf), which an error leaves to it.
*/
typedef struct px_out {
  lua_State *L;
  char *data;
  size_t len, cap;
  int slot;
  px_client *client; /* with buf: where the text grows instead */
  px_buf *buf;
} px_out;

/* px_request.c */
void px_request_write(px_out *o, int req, int post, const char *key_wire, size_t key_wire_len, int mask);
int px_is_unreserved(unsigned char ch);
void px_percent_encode(px_out *o, const char *s, size_t len);
void px_request_open(lua_State *L, int uv);

/* px_json.c */
void px_out_init(px_out *o, lua_State *L);
void px_out_init_buf(px_out *o, lua_State *L, px_client *c, px_buf *buf);
void px_out_put(px_out *o, const char *s, size_t n);
void px_out_push(px_out *o);
int px_json_decode(lua_State *L, int idx);
/* Decodes text it reads in place; raises nothing: 1 with the value on
** top, 0 with a message, -1 with an error to raise (memory, interrupt).
** Needs 3 free stack slots (the function, its decoder, the text). */
int px_json_decode_text(lua_State *L, const char *data, size_t len);
void px_json_put_value(px_out *o, int idx, int depth);
void px_json_put_string(px_out *o, const char *s, size_t n);
int px_format_number(lua_State *L, int idx, char *out, size_t size);
void px_json_private(lua_State *L);
void px_json_open(lua_State *L, int uv);

/* px_normalise.c */
const char *px_normalise(lua_State *L, int idx, const char *text, size_t len);

/* px_os.c: files made private, stat, fsync, who and where we are */
void px_os_open(lua_State *L);

/* px_spawn.c: a command run without a shell, with a timeout */
void px_spawn_open(lua_State *L);

/* px_scrub.c */
void px_scrub_push(lua_State *L, const char *text, size_t len, const char *key, size_t key_len);
void px_scrub_open(lua_State *L);

int luaopen_proxyapi_core(lua_State *L);

#endif
