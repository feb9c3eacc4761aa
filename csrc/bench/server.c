/*
** server.c: the benchmark's HTTP/1.1 server on 127.0.0.1.
**
** One thread, one epoll loop, non-blocking sockets: keep-alive, many
** connections at once, pipelined requests answered in order. Replies
** are canned (headers and body built once at start), so a request costs
** a parse and one send. An optional delay per request is kept in a FIFO
** timer list behind one timerfd (every request waits the same time, so
** arrival order is deadline order): a waiting connection blocks nobody.
**
**   server [-p PORT] [-d DELAY_MS] [-t TTL_S] LIST_JSON CITIES_JSON
**
** Prints PORT=n on stdout once listening, then serves until SIGTERM or
** SIGINT or the time to live (default 600 s) runs out; at exit it prints
** connections=N requests=N on stderr.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#define SV_MAX_EVENTS 256
#define SV_IN_START 16384
#define SV_IN_MAX (1024 * 1024) /* a request larger than this closes the connection */

enum { SV_READING, SV_DELAYED, SV_WRITING };

/* A canned reply: status line, headers and body in one buffer, once for
** keep-alive and once with "Connection: close". */
typedef struct sv_reply {
  char *text[2];
  size_t len[2];
} sv_reply;

typedef struct sv_conn {
  int fd;
  int state;
  uint32_t events; /* what epoll watches now */
  char *in;
  size_t in_len, in_cap;
  const char *out;
  size_t out_len, out_off;
  int close_after;
  struct timespec due;
  struct sv_conn *prev, *next; /* in the timer list while SV_DELAYED */
} sv_conn;

static int sv_epoll, sv_timer, sv_listen;
static sv_conn **sv_conns; /* by fd */
static size_t sv_nconns;
static sv_conn *sv_timer_head, *sv_timer_tail;
static long sv_delay_ms;
static unsigned long sv_requests, sv_connections;
static volatile sig_atomic_t sv_stop;

enum { SV_LIST, SV_CITIES, SV_OK, SV_NOT_FOUND, SV_BAD_METHOD, SV_NREPLIES };
static sv_reply sv_replies[SV_NREPLIES];

static void sv_die(const char *what) {
  perror(what);
  exit(1);
}

static void sv_on_signal(int sig) {
  (void)sig;
  sv_stop = 1;
}

static char *sv_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *data;
  long size;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
    sv_die(path);
  data = malloc((size_t)size + 1);
  if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size)
    sv_die(path);
  fclose(f);
  /* a trailing newline of the file is not part of the reply */
  while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
    size--;
  *len = (size_t)size;
  return data;
}

static void sv_make_reply(sv_reply *r, const char *status, const char *body, size_t body_len) {
  int k;
  for (k = 0; k < 2; k++) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", status,
                     body_len, k ? "Connection: close\r\n" : "");
    r->len[k] = (size_t)n + body_len;
    r->text[k] = malloc(r->len[k]);
    if (r->text[k] == NULL)
      sv_die("malloc");
    memcpy(r->text[k], head, (size_t)n);
    memcpy(r->text[k] + n, body, body_len);
  }
}

/* ---- connections ---- */

static void sv_watch(sv_conn *c, uint32_t events) {
  struct epoll_event ev;
  if (c->events == events)
    return;
  ev.events = events;
  ev.data.fd = c->fd;
  if (epoll_ctl(sv_epoll, EPOLL_CTL_MOD, c->fd, &ev) != 0)
    sv_die("epoll_ctl");
  c->events = events;
}

static void sv_timer_unlink(sv_conn *c) {
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    sv_timer_head = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  else
    sv_timer_tail = c->prev;
  c->prev = c->next = NULL;
}

static void sv_close(sv_conn *c) {
  if (c->state == SV_DELAYED)
    sv_timer_unlink(c);
  sv_conns[c->fd] = NULL;
  close(c->fd); /* also leaves the epoll set */
  free(c->in);
  free(c);
}

static void sv_accept(void) {
  for (;;) {
    struct epoll_event ev;
    sv_conn *c;
    int one = 1;
    int fd = accept4(sv_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      if (errno == EMFILE || errno == ENFILE || errno == ECONNABORTED)
        return;
      sv_die("accept4");
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((size_t)fd >= sv_nconns) {
      size_t n = sv_nconns ? sv_nconns : 256;
      sv_conn **more;
      while (n <= (size_t)fd)
        n *= 2;
      more = realloc(sv_conns, n * sizeof *more);
      if (more == NULL)
        sv_die("realloc");
      memset(more + sv_nconns, 0, (n - sv_nconns) * sizeof *more);
      sv_conns = more;
      sv_nconns = n;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->in = malloc(SV_IN_START)) == NULL)
      sv_die("malloc");
    c->fd = fd;
    c->in_cap = SV_IN_START;
    c->state = SV_READING;
    c->events = EPOLLIN;
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(sv_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)
      sv_die("epoll_ctl");
    sv_conns[fd] = c;
    sv_connections++;
  }
}

/* ---- the timer list ---- */

static void sv_timer_arm(void) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (sv_timer_head != NULL) {
    its.it_value = sv_timer_head->due;
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
      its.it_value.tv_nsec = 1;
  }
  if (timerfd_settime(sv_timer, TFD_TIMER_ABSTIME, &its, NULL) != 0)
    sv_die("timerfd_settime");
}

static void sv_delay(sv_conn *c) {
  clock_gettime(CLOCK_MONOTONIC, &c->due);
  c->due.tv_sec += sv_delay_ms / 1000;
  c->due.tv_nsec += (sv_delay_ms % 1000) * 1000000L;
  if (c->due.tv_nsec >= 1000000000L) {
    c->due.tv_sec++;
    c->due.tv_nsec -= 1000000000L;
  }
  c->state = SV_DELAYED;
  c->prev = sv_timer_tail;
  c->next = NULL;
  if (sv_timer_tail != NULL)
    sv_timer_tail->next = c;
  else
    sv_timer_head = c;
  sv_timer_tail = c;
  sv_watch(c, 0);
  if (sv_timer_head == c)
    sv_timer_arm();
}

/* ---- requests ---- */

static int sv_lower(int ch) {
  return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

/* Whether the header block [p, end) has a header `name` (lower case, with
** its colon) whose value starts with `value` (lower case); *at gets the
** value's start when found. */
static int sv_header(const char *p, const char *end, const char *name, const char *value, const char **at) {
  size_t nlen = strlen(name), vlen = strlen(value);
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
      eol = end;
    if ((size_t)(eol - p) > nlen) {
      size_t i;
      for (i = 0; i < nlen && sv_lower((unsigned char)p[i]) == name[i]; i++)
        ;
      if (i == nlen) {
        const char *v = p + nlen;
        while (v < eol && (*v == ' ' || *v == '\t'))
          v++;
        for (i = 0; i < vlen && v + i < eol && sv_lower((unsigned char)v[i]) == value[i]; i++)
          ;
        if (i == vlen) {
          if (at != NULL)
            *at = v;
          return 1;
        }
      }
    }
    p = eol + 1;
  }
  return 0;
}

/* Sends what is left of the current reply. Returns 1 when it is all
** out and the connection goes on, 0 when it waits for EPOLLOUT, -1 when
** the connection was closed (and freed). */
static int sv_flush(sv_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->state = SV_WRITING;
        sv_watch(c, EPOLLOUT);
        return 0;
      }
      sv_close(c);
      return -1;
    }
    c->out_off += (size_t)n;
  }
  sv_requests++;
  c->state = SV_READING;
  if (c->close_after) {
    shutdown(c->fd, SHUT_WR);
    sv_close(c);
    return -1;
  }
  sv_watch(c, EPOLLIN);
  return 1;
}

/* Answers the complete requests in the input buffer, in order, until one
** has to wait (delay or a full socket); may close the connection. */
static void sv_serve(sv_conn *c) {
  size_t pos = 0;
  while (c->state == SV_READING) {
    const char *req = c->in + pos, *end, *sp1, *sp2, *q, *cl;
    size_t avail = c->in_len - pos, head_len, body_len = 0, path_len, i;
    int route, get, post, http10;
    const sv_reply *r;
    for (i = 3; i < avail; i++)
      if (req[i] == '\n' && req[i - 1] == '\r' && req[i - 2] == '\n' && req[i - 3] == '\r')
        break;
    if (i >= avail)
      break; /* the head is not complete yet */
    head_len = i + 1;
    end = req + head_len;
    if (sv_header(req, end, "content-length:", "", &cl))
      body_len = strtoul(cl, NULL, 10);
    if (avail < head_len + body_len) {
      if (body_len > SV_IN_MAX) {
        sv_close(c);
        return;
      }
      break; /* the body is not complete yet */
    }
    sp1 = memchr(req, ' ', head_len);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (sp2 == NULL) {
      sv_close(c);
      return;
    }
    q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
    path_len = (size_t)((q ? q : sp2) - (sp1 + 1));
    get = sp1 - req == 3 && memcmp(req, "GET", 3) == 0;
    post = sp1 - req == 4 && memcmp(req, "POST", 4) == 0;
#define SV_IS(path) (path_len == sizeof(path) - 1 && memcmp(sp1 + 1, path, path_len) == 0)
    if (SV_IS("/openapi/whitelist-account/list"))
      route = get ? SV_LIST : SV_BAD_METHOD;
    else if (SV_IS("/openapi/ip/dynamic-citys"))
      route = get ? SV_CITIES : SV_BAD_METHOD;
    else if (SV_IS("/openapi/whitelist-account/change-limit") || SV_IS("/openapi/whitelist-account/enable"))
      route = post ? SV_OK : SV_BAD_METHOD;
    else
      route = SV_NOT_FOUND;
#undef SV_IS
    http10 = end - sp2 > 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    c->close_after = sv_header(req, end, "connection:", "close", NULL) ||
                     (http10 && !sv_header(req, end, "connection:", "keep-alive", NULL));
    r = &sv_replies[route];
    c->out = r->text[c->close_after];
    c->out_len = r->len[c->close_after];
    c->out_off = 0;
    pos += head_len + body_len;
    if (sv_delay_ms > 0)
      sv_delay(c);
    else if (sv_flush(c) < 0)
      return;
  }
  /* keep what is not answered yet at the start of the buffer */
  if (pos > 0) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
}

static void sv_readable(sv_conn *c) {
  ssize_t n;
  if (c->in_len == c->in_cap) {
    size_t cap = c->in_cap * 2;
    char *more;
    if (cap > SV_IN_MAX) {
      sv_close(c);
      return;
    }
    more = realloc(c->in, cap);
    if (more == NULL)
      sv_die("realloc");
    c->in = more;
    c->in_cap = cap;
  }
  n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    sv_close(c);
    return;
  }
  if (n > 0) {
    c->in_len += (size_t)n;
    sv_serve(c);
  }
}

static void sv_timer_fired(void) {
  uint64_t ticks;
  struct timespec now;
  if (read(sv_timer, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
    sv_die("read timerfd");
  clock_gettime(CLOCK_MONOTONIC, &now);
  while (sv_timer_head != NULL) {
    sv_conn *c = sv_timer_head;
    if (c->due.tv_sec > now.tv_sec || (c->due.tv_sec == now.tv_sec && c->due.tv_nsec > now.tv_nsec))
      break;
    sv_timer_unlink(c);
    c->state = SV_READING; /* the reply is due */
    if (sv_flush(c) > 0)
      sv_serve(c);
  }
  sv_timer_arm();
}

static void sv_usage(void) {
  fputs("usage: server [-p PORT] [-d DELAY_MS] [-t TTL_S] LIST_JSON CITIES_JSON\n", stderr);
  exit(2);
}

int main(int argc, char **argv) {
  static const char ok[] = "{\"code\":200,\"msg\":\"success\",\"data\":null}";
  static const char not_found[] = "{\"code\":404,\"msg\":\"not found\",\"data\":null}";
  static const char bad_method[] = "{\"code\":405,\"msg\":\"method not allowed\",\"data\":null}";
  struct sockaddr_in addr;
  socklen_t addr_len = sizeof addr;
  struct epoll_event ev, events[SV_MAX_EVENTS];
  struct sigaction sa;
  struct timespec start, now;
  long port = 0, ttl = 600;
  size_t list_len, cities_len;
  char *list, *cities;
  int opt, one = 1;
  while ((opt = getopt(argc, argv, "p:d:t:")) != -1) {
    char *end;
    long v;
    if (opt == '?' || optarg == NULL)
      sv_usage();
    v = strtol(optarg, &end, 10);
    if (*optarg == '\0' || *end != '\0' || v < 0)
      sv_usage();
    if (opt == 'p' && v <= 65535)
      port = v;
    else if (opt == 'd' && v <= 60000)
      sv_delay_ms = v;
    else if (opt == 't' && v > 0)
      ttl = v;
    else
      sv_usage();
  }
  if (argc - optind != 2)
    sv_usage();
  list = sv_read_file(argv[optind], &list_len);
  cities = sv_read_file(argv[optind + 1], &cities_len);
  sv_make_reply(&sv_replies[SV_LIST], "200 OK", list, list_len);
  sv_make_reply(&sv_replies[SV_CITIES], "200 OK", cities, cities_len);
  sv_make_reply(&sv_replies[SV_OK], "200 OK", ok, sizeof ok - 1);
  sv_make_reply(&sv_replies[SV_NOT_FOUND], "404 Not Found", not_found, sizeof not_found - 1);
  sv_make_reply(&sv_replies[SV_BAD_METHOD], "405 Method Not Allowed", bad_method, sizeof bad_method - 1);
  free(list);
  free(cities);

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sv_on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  sv_listen = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sv_listen < 0)
    sv_die("socket");
  setsockopt(sv_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)port);
  if (bind(sv_listen, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(sv_listen, 1024) != 0)
    sv_die("bind/listen");
  if (getsockname(sv_listen, (struct sockaddr *)&addr, &addr_len) != 0)
    sv_die("getsockname");
  sv_epoll = epoll_create1(EPOLL_CLOEXEC);
  sv_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (sv_epoll < 0 || sv_timer < 0)
    sv_die("epoll/timerfd");
  ev.events = EPOLLIN;
  ev.data.fd = sv_listen;
  if (epoll_ctl(sv_epoll, EPOLL_CTL_ADD, sv_listen, &ev) != 0)
    sv_die("epoll_ctl");
  ev.events = EPOLLIN;
  ev.data.fd = sv_timer;
  if (epoll_ctl(sv_epoll, EPOLL_CTL_ADD, sv_timer, &ev) != 0)
    sv_die("epoll_ctl");
  printf("PORT=%d\n", (int)ntohs(addr.sin_port));
  fflush(stdout);

  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!sv_stop) {
    int i, n = epoll_wait(sv_epoll, events, SV_MAX_EVENTS, 1000);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      sv_die("epoll_wait");
    }
    for (i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      uint32_t what = events[i].events;
      sv_conn *c;
      if (fd == sv_listen) {
        sv_accept();
        continue;
      }
      if (fd == sv_timer) {
        sv_timer_fired();
        continue;
      }
      c = (size_t)fd < sv_nconns ? sv_conns[fd] : NULL;
      if (c == NULL)
        continue; /* closed earlier in this round */
      if (what & (EPOLLERR | EPOLLHUP)) {
        sv_close(c);
      } else if ((what & EPOLLOUT) && c->state == SV_WRITING) {
        if (sv_flush(c) > 0)
          sv_serve(c);
      } else if ((what & EPOLLIN) && c->state == SV_READING) {
        sv_readable(c);
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= ttl)
      break;
  }
  fprintf(stderr, "server: connections=%lu requests=%lu\n", sv_connections, sv_requests);
  return 0;
}
