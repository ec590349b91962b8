/*
 * test_http.c — the HTTP server as a client sees it, over real sockets.
 *
 * The server runs unmodified on its own event_base in a second thread, on 127.0.0.1 with a
 * port the kernel picks; the test thread talks to it through plain blocking sockets and
 * writes requests byte for byte, so malformed, oversized, pipelined and half-sent requests
 * can be produced at will. The two threads share nothing but sockets, a pipe that stops
 * the loop and a few atomic counters, which keeps the server single-threaded as http.h
 * requires. Every error reply is checked to be the JSON body {"error":{code,message,field}}.
 *
 * SIGPIPE is ignored, as daemon.c does in every daemon: a reply to a client that has gone
 * away then fails with EPIPE instead of killing the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "compat.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#define GOOD_TOKEN "good-token-for-tests-0001"

/* ---- the server under test ------------------------------------------------------------- */

typedef struct {
    struct event_base *base;
    http_server_t *srv;
    metrics_t *metrics;
    struct event *stop_ev;
    int stop_fds[2];
    pthread_t thread;
    int port;
} server_t;

static atomic_int async_started, async_done, authn_calls, handler_calls;

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *loop_thread(void *arg)
{
    server_t *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

static int fake_authn(void *arg, const char *token, http_principal_t *out)
{
    (void)arg;
    atomic_fetch_add(&authn_calls, 1);
    if (strcmp(token, "down") == 0) return -1;
    if (strcmp(token, GOOD_TOKEN) != 0) return 1;
    memset(out, 0, sizeof *out);
    out->id = 42;
    out->role = AUTH_ROLE_UNIT;
    out->unit_id = 7;
    snprintf(out->region_code, sizeof out->region_code, "450102");
    snprintf(out->name, sizeof out->name, "兴宁区住建局");
    return 0;
}

/* Handlers run on the loop thread, where a cmocka assertion cannot unwind: they abort. */
static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "loop thread: %s\n", what);
        abort();
    }
}

/* GET /echo: what the server made of the request */
static void h_echo(http_req_t *r, void *arg)
{
    (void)arg;
    atomic_fetch_add(&handler_calls, 1);
    json_t *q = json_object();
    static const char *const names[] = {"tag", "name", "plus", "empty", "flag", "bad", "missing",
                                        "k"};
    for (size_t i = 0; i < JS_ARRAY_LEN(names); i++) {
        const char *v = http_req_query(r, names[i]);
        json_object_set_new(q, names[i], v ? json_string(v) : json_null());
    }
    const char *xt = http_req_header(r, "x-test");
    size_t blen = 0;
    http_req_body(r, &blen);
    char key[64];
    http_req_client_key(r, key, sizeof key);
    http_reply_header(r, "X-Echo", "yes");
    http_reply_json(r, 200,
                    json_pack("{s:s,s:s,s:s,s:o,s:o,s:I,s:b,s:s,s:s,s:s}", "method", http_req_method(r),
                              "path", http_req_path(r), "id", http_req_id(r), "q", q, "x_test",
                              xt ? json_string(xt) : json_null(), "body_len", (json_int_t)blen,
                              "has_principal", http_req_principal(r) != NULL, "peer",
                              http_req_peer(r), "client", http_req_client(r), "client_key", key));
}

/* POST /json: the parsed body back */
static void h_json(http_req_t *r, void *arg)
{
    (void)arg;
    atomic_fetch_add(&handler_calls, 1);
    json_t *j = http_req_json(r);
    if (j == NULL) return; /* the error reply has been sent */
    http_reply_json(r, 200, json_pack("{s:o}", "got", j));
}

/* GET /items/{id}/sub/{sub} */
static void h_item(http_req_t *r, void *arg)
{
    (void)arg;
    const char *p2 = http_req_param(r, 2);
    http_reply_json(r, 200,
                    json_pack("{s:s,s:s,s:b}", "id", http_req_param(r, 0), "sub",
                              http_req_param(r, 1), "third", p2 != NULL));
}

/* GET /private (unit, centre) and /admin (operator): who is asking */
static void h_private(http_req_t *r, void *arg)
{
    (void)arg;
    const http_principal_t *p = http_req_principal(r);
    must(p != NULL, "protected route without a principal");
    http_reply_json(r, 200,
                    json_pack("{s:I,s:I,s:s,s:s}", "id", (json_int_t)p->id, "unit_id",
                              (json_int_t)p->unit_id, "region", p->region_code, "name", p->name));
}

/* GET /big?mb=N: a reply of N MiB, larger than the socket buffers */
static void h_big(http_req_t *r, void *arg)
{
    (void)arg;
    const char *mb = http_req_query(r, "mb");
    size_t n = (size_t)(mb ? strtol(mb, NULL, 10) : 1) << 20;
    char *b = malloc(n);
    must(b != NULL, "malloc");
    memset(b, 'b', n);
    http_reply_raw(r, 200, "text/plain", b, n);
    free(b);
}

/* GET /async?ms=N&tag=T: replies from a timer N ms later */
struct pending {
    http_req_t *req;
    struct event *ev;
};

static void async_fire(evutil_socket_t fd, short what, void *arg)
{
    struct pending *p = arg;
    (void)fd;
    (void)what;
    const char *tag = http_req_query(p->req, "tag");
    http_reply_json(p->req, 200, json_pack("{s:b,s:s}", "async", 1, "tag", tag ? tag : ""));
    event_free(p->ev);
    free(p);
    atomic_fetch_add(&async_done, 1);
}

static void h_async(http_req_t *r, void *arg)
{
    server_t *s = arg;
    const char *ms = http_req_query(r, "ms");
    long v = ms ? strtol(ms, NULL, 10) : 50;
    struct pending *p = calloc(1, sizeof *p);
    must(p != NULL, "calloc");
    p->req = r;
    p->ev = evtimer_new(s->base, async_fire, p);
    must(p->ev != NULL, "evtimer_new");
    struct timeval tv = {v / 1000, (v % 1000) * 1000};
    atomic_fetch_add(&async_started, 1);
    must(evtimer_add(p->ev, &tv) == 0, "evtimer_add");
}

static const http_limits_t default_limits = {
    .max_body = 1024, .max_depth = 4, .max_head = 2048, .max_headers = 16, .max_conns = 64,
    .idle_timeout_s = 10};

static server_t *server_start(const http_limits_t *lim)
{
    server_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->base = event_base_new();
    s->metrics = metrics_new();
    s->srv = http_server_new(s->base, lim, s->metrics);
    assert_non_null(s->srv);
    http_server_set_authn(s->srv, fake_authn, NULL);
    assert_int_equal(http_server_route(s->srv, "GET", "/echo", 0, h_echo, s), 0);
    assert_int_equal(http_server_route(s->srv, "POST", "/json", 0, h_json, s), 0);
    assert_int_equal(http_server_route(s->srv, "GET", "/items/{id}/sub/{sub}", 0, h_item, s), 0);
    assert_int_equal(http_server_route(s->srv, "PUT", "/items/{id}/sub/{sub}", 0, h_item, s), 0);
    assert_int_equal(http_server_route(s->srv, "GET", "/private", AUTH_ROLE_UNIT | AUTH_ROLE_CENTRE,
                                       h_private, s),
                     0);
    assert_int_equal(
        http_server_route(s->srv, "GET", "/admin", AUTH_ROLE_OPERATOR, h_private, s), 0);
    assert_int_equal(http_server_route(s->srv, "GET", "/async", 0, h_async, s), 0);
    assert_int_equal(http_server_route(s->srv, "GET", "/big", 0, h_big, s), 0);
    /* bulk routes: bodies up to 4096 bytes (the server's limit is 1024), for known callers */
    assert_int_equal(http_server_route_body(s->srv, "POST", "/import", AUTH_ROLE_UNIT, 4096, h_json, s), 0);
    assert_int_equal(http_server_route_body(s->srv, "POST", "/import-ops", AUTH_ROLE_OPERATOR, 4096, h_json, s), 0);
    assert_int_equal(http_server_route_body(s->srv, "POST", "/open", 0, 4096, h_json, s), -1);
    char err[256];
    assert_int_equal(http_server_listen(s->srv, "127.0.0.1", 0, err, sizeof err), 0);
    s->port = http_server_port(s->srv);
    assert_true(s->port > 0);
    assert_int_equal(pipe(s->stop_fds), 0);
    s->stop_ev = event_new(s->base, s->stop_fds[0], EV_READ, stop_cb, s->base);
    assert_int_equal(event_add(s->stop_ev, NULL), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, loop_thread, s), 0);
    return s;
}

/* Waits (up to 5 s) until every asynchronous reply has been sent. */
static void wait_async_idle(void)
{
    for (int i = 0; i < 500 && atomic_load(&async_done) != atomic_load(&async_started); i++)
        usleep(10000);
    assert_int_equal(atomic_load(&async_done), atomic_load(&async_started));
}

/* Stops the loop; the server stays allocated (for its metrics) until server_free. */
static void server_stop(server_t *s)
{
    wait_async_idle();
    assert_int_equal(write(s->stop_fds[1], "x", 1), 1);
    assert_int_equal(pthread_join(s->thread, NULL), 0);
}

static void server_free(server_t *s)
{
    http_server_free(s->srv);
    event_free(s->stop_ev);
    close(s->stop_fds[0]);
    close(s->stop_fds[1]);
    event_base_free(s->base);
    metrics_free(s->metrics);
    free(s);
}

/* ---- a blocking client ----------------------------------------------------------------- */

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len;
} client_t;

typedef struct {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
    json_t *json; /* the body parsed, NULL if it is not JSON */
} resp_t;

static client_t *client_open(int port)
{
    client_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    return c;
}

static void client_close(client_t *c)
{
    if (c == NULL) return;
    close(c->fd);
    free(c);
}

static void client_send(client_t *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) fail_msg("send: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

static void client_sends(client_t *c, const char *s) { client_send(c, s, strlen(s)); }

/* One recv into the buffer: >0 bytes, 0 at EOF, -1 on error or timeout (errno set). */
static ssize_t client_fill(client_t *c)
{
    if (c->len == sizeof c->buf) return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n > 0) c->len += (size_t)n;
    return n;
}

static const char *resp_header(const resp_t *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            size_t vl = strcspn(v, "\r");
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

static void resp_free(resp_t *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* Reads one response; 0, or -1 if the connection ended (or timed out) first. */
static int client_read(client_t *c, resp_t *r)
{
    memset(r, 0, sizeof *r);
    char *end;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        if (client_fill(c) <= 0) return -1;
    size_t hl = (size_t)(end - c->buf);
    assert_true(hl < sizeof r->head);
    memcpy(r->head, c->buf, hl);
    r->head[hl] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1) fail_msg("status line: %s", r->head);
    char v[64];
    if (resp_header(r, "Content-Length", v, sizeof v) == NULL) fail_msg("no length: %s", r->head);
    size_t cl = strtoul(v, NULL, 10);
    while (c->len < hl + 4 + cl)
        if (client_fill(c) <= 0) fail_msg("body cut short: %zu of %zu", c->len - hl - 4, cl);
    r->body = malloc(cl + 1);
    memcpy(r->body, c->buf + hl + 4, cl);
    r->body[cl] = '\0';
    r->body_len = cl;
    memmove(c->buf, c->buf + hl + 4 + cl, c->len - hl - 4 - cl);
    c->len -= hl + 4 + cl;
    r->json = json_loadb(r->body, cl, 0, NULL);
    return 0;
}

/* True when the server has closed the connection (EOF or reset) and sent nothing more. */
static int client_closed(client_t *c)
{
    if (c->len) return 0;
    ssize_t n = client_fill(c);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* One request on a fresh connection. */
static void request(int port, const char *raw, resp_t *r)
{
    client_t *c = client_open(port);
    client_sends(c, raw);
    if (client_read(c, r) != 0) fail_msg("no response to: %.200s", raw);
    client_close(c);
}

/* The response is an error of this status whose body is {"error":{code,message,field}}. */
static void assert_error_body(const resp_t *r, int status, const char *code, const char *field)
{
    if (r->status != status) fail_msg("status %d, wanted %d: %s", r->status, status, r->body);
    char ct[128];
    assert_non_null(resp_header(r, "Content-Type", ct, sizeof ct));
    assert_true(strncmp(ct, "application/json", 16) == 0);
    if (!json_is_object(r->json)) fail_msg("body is not a JSON object: %s", r->body);
    assert_int_equal(json_object_size(r->json), 1);
    json_t *e = json_object_get(r->json, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 3);
    assert_true(json_is_string(json_object_get(e, "code")));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_true(json_string_length(json_object_get(e, "message")) > 0);
    json_t *f = json_object_get(e, "field");
    assert_true(json_is_string(f) || json_is_null(f));
    if (code && strcmp(json_string_value(json_object_get(e, "code")), code) != 0)
        fail_msg("code %s, wanted %s", json_string_value(json_object_get(e, "code")), code);
    if (field == NULL) assert_true(json_is_null(f));
    else assert_string_equal(json_string_value(f), field);
}

/* ...and, being an answer to a request, carries its id. */
static void assert_error(const resp_t *r, int status, const char *code, const char *field)
{
    assert_error_body(r, status, code, field);
    char rid[64];
    assert_non_null(resp_header(r, "X-Request-Id", rid, sizeof rid));
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL) fail_msg("no string '%s' in reply", key);
    return s;
}

/* A POST /json with this content type and body. */
static void post_json(int port, const char *ctype, const char *body, resp_t *r)
{
    char *req = NULL;
    int n = asprintf(&req,
                     "POST /json HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Length: %zu\r\n\r\n%s",
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     strlen(body), body);
    assert_true(n > 0);
    request(port, req, r);
    free(req);
}

/* ---- group fixture ------------------------------------------------------------------------ */

static server_t *S;

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    log_init("test-http", LOG_ERROR);
    S = server_start(&default_limits);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    server_stop(S);
    server_free(S);
    S = NULL;
    libevent_global_shutdown();
    return 0;
}

/* ---- tests: routing ----------------------------------------------------------------------- */

static void test_get_echo(void **state)
{
    (void)state;
    resp_t r;
    request(S->port, "GET /echo?tag=one HTTP/1.1\r\nHost: t\r\nX-Test: hello\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    char v[128];
    assert_non_null(resp_header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json; charset=utf-8");
    assert_non_null(resp_header(&r, "X-Echo", v, sizeof v));
    assert_string_equal(v, "yes");
    assert_non_null(resp_header(&r, "Cache-Control", v, sizeof v));
    assert_string_equal(v, "no-store");
    assert_string_equal(jstr(r.json, "method"), "GET");
    assert_string_equal(jstr(r.json, "path"), "/echo");
    assert_string_equal(jstr(r.json, "x_test"), "hello");
    assert_string_equal(jstr(json_object_get(r.json, "q"), "tag"), "one");
    assert_true(json_is_false(json_object_get(r.json, "has_principal")));
    assert_true(strncmp(jstr(r.json, "peer"), "127.0.0.1:", 10) == 0);
    assert_int_equal(r.body_len, strlen(r.body));
    resp_free(&r);
}

/* The client behind reverse proxies: X-Forwarded-For is believed only from a trusted peer,
 * and read right to left up to the first hop that is not one of ours. */
static const char *client_for(const char *xff, char *out, size_t len)
{
    char req[512];
    snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nHost: t\r\n%s%s%s\r\n", xff ? "X-Forwarded-For: " : "",
             xff ? xff : "", xff ? "\r\n" : "");
    resp_t r;
    request(S->port, req, &r);
    assert_int_equal(r.status, 200);
    snprintf(out, len, "%s", jstr(r.json, "client"));
    resp_free(&r);
    return out;
}

static void test_client_behind_proxies(void **state)
{
    (void)state;
    char c[64], err[256];
    /* no proxy configured: the header is the client's own words and ignored */
    assert_string_equal(client_for(NULL, c, sizeof c), "127.0.0.1");
    assert_string_equal(client_for("203.0.113.9", c, sizeof c), "127.0.0.1");
    /* the peer (127.0.0.1) is a trusted proxy, and so is 10.0.0.0/8 */
    assert_int_equal(http_server_set_trusted_proxies(S->srv, " 10.0.0.0/8 , 127.0.0.1,::1", err, sizeof err), 0);
    assert_string_equal(client_for(NULL, c, sizeof c), "127.0.0.1");
    assert_string_equal(client_for("203.0.113.9", c, sizeof c), "203.0.113.9");
    assert_string_equal(client_for("203.0.113.9, 10.1.2.3", c, sizeof c), "203.0.113.9");
    /* a client cannot hide behind a forged left-most hop */
    assert_string_equal(client_for("1.1.1.1, 198.51.100.7, 10.9.9.9", c, sizeof c), "198.51.100.7");
    /* every hop ours: the left-most is the client */
    assert_string_equal(client_for("10.0.0.5, 10.0.0.6", c, sizeof c), "10.0.0.5");
    /* garbage ends the walk; what was found right of it stands */
    assert_string_equal(client_for("junk", c, sizeof c), "127.0.0.1");
    assert_string_equal(client_for("junk, 2001:db8::1", c, sizeof c), "2001:db8::1");
    /* a proxy that adds its own line: the client's forged line comes first and is not believed */
    {
        resp_t r;
        request(S->port, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\n"
                         "X-Forwarded-For: 203.0.113.50\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(jstr(r.json, "client"), "203.0.113.50");
        resp_free(&r);
        request(S->port, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\n"
                         "X-Forwarded-For: 10.0.0.7\r\n\r\n", &r);
        assert_string_equal(jstr(r.json, "client"), "6.6.6.6"); /* ours on the last line: read on */
        resp_free(&r);
    }
    /* the throttles' key: an IPv4 address as it is, an IPv6 client by its /64 */
    {
        resp_t r;
        request(S->port, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 2001:db8:1:2:3:4:5:6\r\n\r\n", &r);
        assert_string_equal(jstr(r.json, "client"), "2001:db8:1:2:3:4:5:6");
        assert_string_equal(jstr(r.json, "client_key"), "2001:db8:1:2::/64");
        resp_free(&r);
        request(S->port, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n", &r);
        assert_string_equal(jstr(r.json, "client_key"), "203.0.113.9");
        resp_free(&r);
    }
    /* bad lists are refused, naming the entry, and leave the old list in force */
    assert_int_equal(http_server_set_trusted_proxies(S->srv, "10.0.0.0/8,abc", err, sizeof err), -1);
    assert_non_null(strstr(err, "'abc'"));
    assert_int_equal(http_trusted_proxies_check("::1/129", err, sizeof err), -1);
    assert_int_equal(http_trusted_proxies_check("10.0.0.0/33", err, sizeof err), -1);
    assert_int_equal(http_trusted_proxies_check("10.0.0.0/", err, sizeof err), -1);
    assert_int_equal(http_trusted_proxies_check("", err, sizeof err), 0);
    assert_int_equal(http_trusted_proxies_check("192.168.0.0/16,fd00::/8", err, sizeof err), 0);
    assert_string_equal(client_for("203.0.113.9", c, sizeof c), "203.0.113.9");
    /* the peer outside the list: the header is ignored again */
    assert_int_equal(http_server_set_trusted_proxies(S->srv, "10.0.0.0/8", err, sizeof err), 0);
    assert_string_equal(client_for("203.0.113.9", c, sizeof c), "127.0.0.1");
    assert_int_equal(http_server_set_trusted_proxies(S->srv, "", err, sizeof err), 0);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int status;
        const char *code;
    } cases[] = {
        {"GET /nope HTTP/1.1\r\n\r\n", 404, "not_found"},
        {"GET / HTTP/1.1\r\n\r\n", 404, "not_found"},
        {"GET /echo/more HTTP/1.1\r\n\r\n", 404, "not_found"},
        {"GET /ech HTTP/1.1\r\n\r\n", 404, "not_found"},
        {"GET /items/1 HTTP/1.1\r\n\r\n", 404, "not_found"},
        {"GET /items/1/sub/2/3 HTTP/1.1\r\n\r\n", 404, "not_found"},
        {"POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, "method_not_allowed"},
        {"DELETE /items/1/sub/2 HTTP/1.1\r\n\r\n", 405, "method_not_allowed"},
        {"GET /json HTTP/1.1\r\n\r\n", 405, "method_not_allowed"},
        {"HEAD /echo HTTP/1.1\r\n\r\n", 405, "method_not_allowed"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        resp_t r;
        request(S->port, cases[i].req, &r);
        assert_error(&r, cases[i].status, cases[i].code, NULL);
        resp_free(&r);
    }
    /* 405 says which methods the path has (RFC 9110 §15.5.6) */
    resp_t r;
    request(S->port, "DELETE /items/1/sub/2 HTTP/1.1\r\n\r\n", &r);
    char allow[64];
    assert_non_null(resp_header(&r, "Allow", allow, sizeof allow));
    assert_string_equal(allow, "GET, PUT");
    resp_free(&r);
}

static void test_path_params(void **state)
{
    (void)state;
    static const struct {
        const char *req, *id, *sub;
    } cases[] = {
        {"GET /items/42/sub/x HTTP/1.1\r\n\r\n", "42", "x"},
        {"GET /items/a%20b/sub/%E5%BC%A0 HTTP/1.1\r\n\r\n", "a b", "张"},
        {"GET /items/a+b/sub/y?x=1 HTTP/1.1\r\n\r\n", "a+b", "y"}, /* '+' is not a space in paths */
        {"GET //items//7/sub/8/ HTTP/1.1\r\n\r\n", "7", "8"},
        {"PUT /items/9/sub/10 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "9", "10"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        resp_t r;
        request(S->port, cases[i].req, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(jstr(r.json, "id"), cases[i].id);
        assert_string_equal(jstr(r.json, "sub"), cases[i].sub);
        assert_true(json_is_false(json_object_get(r.json, "third")));
        resp_free(&r);
    }
}

static void test_query_decoding(void **state)
{
    (void)state;
    resp_t r;
    request(S->port,
            "GET /echo?name=%E5%BC%A0+%E4%B8%89&plus=a%2Bb+c&empty=&flag&bad=%zz&k=1&k=2 "
            "HTTP/1.1\r\n\r\n",
            &r);
    assert_int_equal(r.status, 200);
    json_t *q = json_object_get(r.json, "q");
    assert_string_equal(jstr(q, "name"), "张 三");
    assert_string_equal(jstr(q, "plus"), "a+b c");
    assert_string_equal(jstr(q, "empty"), "");
    assert_string_equal(jstr(q, "flag"), "");
    assert_string_equal(jstr(q, "k"), "1"); /* the first of a repeated name */
    assert_true(json_is_null(json_object_get(q, "bad")));
    assert_true(json_is_null(json_object_get(q, "missing")));
    assert_true(json_is_null(json_object_get(q, "tag")));
    resp_free(&r);
    /* a NUL byte cannot hide in a value */
    request(S->port, "GET /echo?tag=a%00b HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(json_object_get(r.json, "q"), "tag")));
    resp_free(&r);
}

/* ---- tests: request syntax and limits ----------------------------------------------------- */

static void test_malformed_requests(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        const char *field;
    } cases[] = {
        {"GARBAGE\r\n\r\n", NULL},
        {"GET /\r\n\r\n", NULL},
        {"GET / HTTP/2.0\r\n\r\n", NULL},
        {"GET / HTTP/1.1x\r\n\r\n", NULL},
        {"GET / FTP/1.1\r\n\r\n", NULL},
        {"get /echo HTTP/1.1\r\n\r\n", NULL},
        {" /echo HTTP/1.1\r\n\r\n", NULL},
        {"GET echo HTTP/1.1\r\n\r\n", NULL},
        {"GET http://x/echo HTTP/1.1\r\n\r\n", NULL},
        {"GET /echo%zz HTTP/1.1\r\n\r\n", NULL},
        {"GET /echo%0 HTTP/1.1\r\n\r\n", NULL},
        {"GET /ec%00ho HTTP/1.1\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\r\nNoColonHere\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\r\n: no name\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\r\nBad Name: x\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\r\nHost: a\r\n folded: x\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "Content-Length"},
        {"GET /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
        {"GET /echo HTTP/1.1\r\nContent-Length: +1\r\n\r\n", "Content-Length"},
        {"GET /echo HTTP/1.1\r\nContent-Length: \r\n\r\n", "Content-Length"},
        {"GET /echo HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", "Content-Length"},
        {"GET /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         "Content-Length"},
        /* control characters: NUL, bare LF and bare CR hiding a header, DEL in a path */
        {"GET /echo HTTP/1.1\r\nX-A: a\nContent-Length: 5\r\n\r\nhello", NULL},
        {"GET /echo HTTP/1.1\r\nX-A: a\rContent-Length: 5\r\n\r\nhello", NULL},
        {"GET /echo\x7f HTTP/1.1\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\r\nX-A: \x01\r\n\r\n", NULL},
        {"GET /echo HTTP/1.1\nHost: a\r\n\r\n", NULL},
        /* two lengths are a request-smuggling classic (RFC 9112 §6.3) */
        {"POST /json HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
         "Content-Length"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        client_t *c = client_open(S->port);
        client_sends(c, cases[i].req);
        resp_t r;
        if (client_read(c, &r) != 0) fail_msg("no answer to case %zu", i);
        if (r.status != 400) fail_msg("case %zu: status %d: %s", i, r.status, r.body);
        assert_error(&r, 400, "bad_request", cases[i].field);
        char v[32];
        assert_non_null(resp_header(&r, "Connection", v, sizeof v));
        assert_string_equal(v, "close");
        if (!client_closed(c)) fail_msg("case %zu: connection left open", i);
        resp_free(&r);
        client_close(c);
    }
}

static void test_nul_in_head(void **state)
{
    (void)state;
    /* a NUL would end the C string early and hide the Content-Length after it */
    static const char req[] = "GET /echo HTTP/1.1\r\nX-A: a\0\r\nContent-Length: 5\r\n\r\nhello";
    client_t *c = client_open(S->port);
    client_send(c, req, sizeof req - 1);
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    assert_error(&r, 400, "bad_request", NULL);
    assert_true(client_closed(c));
    resp_free(&r);
    client_close(c);
    /* a tab inside a header value is fine */
    request(S->port, "GET /echo HTTP/1.1\r\nX-Test: a\tb\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "x_test"), "a\tb");
    resp_free(&r);
}

static void test_head_too_large(void **state)
{
    (void)state;
    char big[4096];
    /* a head that never ends, one that ends too late, and too many headers */
    client_t *c = client_open(S->port);
    client_sends(c, "GET /echo HTTP/1.1\r\nX-Pad: ");
    memset(big, 'a', sizeof big);
    client_send(c, big, sizeof big); /* no CRLFCRLF in sight */
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    assert_error(&r, 431, "header_too_large", NULL);
    assert_true(client_closed(c));
    resp_free(&r);
    client_close(c);

    char *req = NULL;
    assert_true(asprintf(&req, "GET /echo HTTP/1.1\r\nX-Pad: %.*s\r\n\r\n", 2100, big) > 0);
    request(S->port, req, &r);
    free(req);
    assert_error(&r, 431, "header_too_large", NULL);
    resp_free(&r);

    char hdrs[1024] = "GET /echo HTTP/1.1\r\n";
    for (int i = 0; i < 17; i++)
        snprintf(hdrs + strlen(hdrs), sizeof hdrs - strlen(hdrs), "X-H%d: %d\r\n", i, i);
    strcat(hdrs, "\r\n");
    request(S->port, hdrs, &r);
    assert_error(&r, 431, "header_too_large", NULL);
    resp_free(&r);

    /* exactly at the limits is fine: 16 headers */
    char ok[1024] = "GET /echo HTTP/1.1\r\n";
    for (int i = 0; i < 16; i++)
        snprintf(ok + strlen(ok), sizeof ok - strlen(ok), "X-H%d: %d\r\n", i, i);
    strcat(ok, "\r\n");
    request(S->port, ok, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_body_too_large_answered_before_body(void **state)
{
    (void)state;
    /* The head declares 5000 bytes; the server must answer 413 at once, without waiting for
     * a body the client has not sent (it would wait 5 s for it otherwise). */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    client_t *c = client_open(S->port);
    client_sends(c, "POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: 5000\r\n\r\n");
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    assert_error(&r, 413, "body_too_large", NULL);
    assert_non_null(strstr(jstr(json_object_get(r.json, "error"), "message"), "1024"));
    assert_true(client_closed(c));
    resp_free(&r);
    client_close(c);
    /* 1024 is allowed, 1025 is not */
    char body[1100];
    memset(body, ' ', sizeof body);
    body[0] = '{';
    body[1023] = '}';
    body[1024] = '\0';
    post_json(S->port, "application/json", body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    body[1023] = ' ';
    body[1024] = '}';
    body[1025] = '\0';
    post_json(S->port, "application/json", body, &r);
    assert_error(&r, 413, "body_too_large", NULL);
    resp_free(&r);
}

static void test_body_too_large_sent_whole(void **state)
{
    (void)state;
    /* An ordinary client writes head and body before it reads. The 413 must reach it even
     * though the server never reads that body: closing a socket with unread input resets
     * the connection, and a reset can destroy the answer before the client reads it. */
    size_t n = 256 * 1024;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'x', n);
    for (int round = 0; round < 5; round++) {
        client_t *c = client_open(S->port);
        char head[128];
        snprintf(head, sizeof head,
                 "POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 n);
        client_sends(c, head);
        /* the write may fail part-way once the server has given up on the request */
        for (size_t off = 0; off < n;) {
            ssize_t w = send(c->fd, body + off, n - off, MSG_NOSIGNAL);
            if (w <= 0) break;
            off += (size_t)w;
        }
        resp_t r;
        if (client_read(c, &r) != 0)
            fail_msg("round %d: no 413, the connection ended: %s", round, strerror(errno));
        assert_error(&r, 413, "body_too_large", NULL);
        resp_free(&r);
        client_close(c);
    }
    free(body);
}

/* A head asking to send len bytes to path with this Authorization (NULL: none). */
static void large_post(client_t *c, const char *path, const char *auth, size_t len)
{
    char head[256];
    snprintf(head, sizeof head,
             "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n%s%s%s"
             "Content-Length: %zu\r\n\r\n",
             path, auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "", len);
    client_sends(c, head);
}

static void test_route_body_limit(void **state)
{
    (void)state;
    char body[3001];
    memset(body, ' ', sizeof body);
    body[0] = '{';
    body[2999] = '}';
    body[3000] = '\0';
    /* a caller the route admits may send more than the server's limit, up to the route's */
    int before = atomic_load(&handler_calls);
    client_t *c = client_open(S->port);
    large_post(c, "/import", "Bearer " GOOD_TOKEN, 3000);
    client_sends(c, body);
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(json_is_object(json_object_get(r.json, "got")));
    resp_free(&r);
    /* the connection stays usable afterwards */
    large_post(c, "/import", "Bearer " GOOD_TOKEN, 2);
    client_sends(c, "{}");
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    client_close(c);
    assert_int_equal(atomic_load(&handler_calls), before + 2);

    /* whoever is not admitted is answered from the head alone, before a byte of the body, and
     * the connection closes: no token, a bad token, a role the route does not admit */
    static const struct {
        const char *path, *auth;
        int status;
        const char *code;
    } refused[] = {
        {"/import", NULL, 401, "unauthenticated"},
        {"/import", "Bearer nope", 401, "invalid_token"},
        {"/import", "Bearer down", 503, "auth_unavailable"},
        {"/import-ops", "Bearer " GOOD_TOKEN, 403, "forbidden"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(refused); i++) {
        c = client_open(S->port);
        large_post(c, refused[i].path, refused[i].auth, 3000);
        if (client_read(c, &r) != 0) fail_msg("case %zu: no answer before the body", i);
        assert_error(&r, refused[i].status, refused[i].code, refused[i].status == 401 ? "Authorization" : NULL);
        assert_true(client_closed(c));
        resp_free(&r);
        client_close(c);
    }
    assert_int_equal(atomic_load(&handler_calls), before + 2);

    /* above the route's own limit, 413 naming it; other routes keep the server's, and a path
     * with no route at all is not given the larger limit */
    static const struct {
        const char *path;
        size_t len;
        const char *limit;
    } too_large[] = {{"/import", 5000, "4096"}, {"/json", 3000, "1024"}, {"/import/x", 3000, "1024"}};
    for (size_t i = 0; i < JS_ARRAY_LEN(too_large); i++) {
        c = client_open(S->port);
        large_post(c, too_large[i].path, "Bearer " GOOD_TOKEN, too_large[i].len);
        assert_int_equal(client_read(c, &r), 0);
        assert_error(&r, 413, "body_too_large", NULL);
        assert_non_null(strstr(jstr(json_object_get(r.json, "error"), "message"), too_large[i].limit));
        resp_free(&r);
        client_close(c);
    }
    assert_int_equal(atomic_load(&handler_calls), before + 2);
}

static void test_chunked_refused(void **state)
{
    (void)state;
    resp_t r;
    request(S->port,
            "POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            &r);
    assert_error(&r, 411, "length_required", "Transfer-Encoding");
    resp_free(&r);
}

/* ---- tests: JSON bodies ------------------------------------------------------------------- */

static void test_json_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *ctype, *body;
        int status;
        const char *code;
        const char *in_message;
    } cases[] = {
        {"application/json", "{\"a\":1}", 200, NULL, NULL},
        {"application/json; charset=utf-8", "{\"a\":1}", 200, NULL, NULL},
        {"Application/JSON", "{\"a\":1}", 200, NULL, NULL},
        {"application/json;charset=UTF-8", "{\"a\":1}", 200, NULL, NULL},
        {NULL, "{\"a\":1}", 415, "unsupported_media_type", NULL},
        {"text/plain", "{\"a\":1}", 415, "unsupported_media_type", NULL},
        {"application/jsonp", "{\"a\":1}", 415, "unsupported_media_type", NULL},
        {"application/json-patch+json", "{\"a\":1}", 415, "unsupported_media_type", NULL},
        {"application/json", "", 400, "empty_body", NULL},
        {"application/json", "{", 400, "malformed_json", "line 1"},
        {"application/json", "{\"a\":}", 400, "malformed_json", "column"},
        {"application/json", "{\"a\":1} trailing", 400, "malformed_json", NULL},
        {"application/json", "42", 400, "malformed_json", NULL},
        {"application/json", "{\"a\":1,\"a\":2}", 400, "malformed_json", "duplicate"},
        {"application/json", "{\"a\":{\"b\":1,\"b\":1}}", 400, "malformed_json", "duplicate"},
        {"application/json", "[1,2]", 400, "not_an_object", NULL},
        {"application/json", "[]", 400, "not_an_object", NULL},
        {"application/json", "{\"s\":\"\\u0000\"}", 400, "malformed_json", NULL},
        {"application/json", "{\"s\":\"\xC0\x80\"}", 400, "malformed_json", NULL},
        /* depth: 4 allowed, 5 refused (max_depth = 4) */
        {"application/json", "{\"a\":{\"b\":{\"c\":[1]}}}", 200, NULL, NULL},
        {"application/json", "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", 400, "too_deep", "5"},
        {"application/json", "{\"a\":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}", 400, "too_deep", NULL},
        /* brackets inside strings are not nesting */
        {"application/json", "{\"a\":\"[[[[[[{{{{{{\",\"b\":{\"c\":\"\\\"]]]]\"}}", 200, NULL,
         NULL},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        resp_t r;
        post_json(S->port, cases[i].ctype, cases[i].body, &r);
        if (r.status != cases[i].status)
            fail_msg("case %zu (%s): status %d: %s", i, cases[i].body, r.status, r.body);
        if (cases[i].status == 200) {
            json_t *want = json_loads(cases[i].body, 0, NULL);
            assert_true(json_equal(json_object_get(r.json, "got"), want));
            json_decref(want);
        } else {
            assert_error(&r, cases[i].status, cases[i].code, NULL);
            const char *m = jstr(json_object_get(r.json, "error"), "message");
            if (cases[i].in_message && strstr(m, cases[i].in_message) == NULL)
                fail_msg("case %zu: message '%s' lacks '%s'", i, m, cases[i].in_message);
        }
        resp_free(&r);
    }
}

static void test_json_unicode_round_trip(void **state)
{
    (void)state;
    resp_t r;
    const char *body = "{\"诉求人\":\"欧阳娜娜\",\"电话\":\"13812345678\",\"n\":[1,2.5,null,true]}";
    post_json(S->port, "application/json", body, &r);
    assert_int_equal(r.status, 200);
    json_t *want = json_loads(body, 0, NULL);
    assert_true(json_equal(json_object_get(r.json, "got"), want));
    json_decref(want);
    resp_free(&r);
}

static void test_json_depth_function(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int depth;
    } cases[] = {
        {"", 0},
        {"42", 0},
        {"\"[{\"", 0},
        {"{}", 1},
        {"[]", 1},
        {"{\"a\":[1,{\"b\":2}]}", 3},
        {"[[],[[]],[]]", 3},
        {"{\"a\":\"[[[[\"}", 1},
        {"{\"a\":\"\\\"[[[[\"}", 1},         /* escaped quote does not end the string */
        {"{\"a\":\"\\\\\",\"b\":[[1]]}", 3}, /* escaped backslash does */
        {"{\"a\\\"{\":{\"b\":1}}", 2},        /* escaped quote in a key */
        {"[\"]\",[\"[\"]]", 2},
        {"{\"k\":\"}}}}\",\"v\":{\"w\":{}}}", 3},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        int d = http_json_depth(cases[i].s, strlen(cases[i].s));
        if (d != cases[i].depth)
            fail_msg("'%s': depth %d, wanted %d", cases[i].s, d, cases[i].depth);
    }
    /* the length is respected: nothing past it is looked at */
    assert_int_equal(http_json_depth("[[[[", 2), 2);
    /* a trailing backslash at the very end does not read past the buffer */
    assert_int_equal(http_json_depth("[\"\\", 3), 1);
}

/* ---- tests: authentication ---------------------------------------------------------------- */

static void test_auth(void **state)
{
    (void)state;
    static const struct {
        const char *path, *authz;
        int status;
        const char *code, *field, *www;
    } cases[] = {
        {"/private", NULL, 401, "unauthenticated", "Authorization", "Bearer"},
        {"/private", "Basic dXNlcjpwdw==", 401, "unauthenticated", "Authorization", "Bearer"},
        {"/private", "Bearer ", 401, "unauthenticated", "Authorization", "Bearer"},
        {"/private", "Bearer", 401, "unauthenticated", "Authorization", "Bearer"},
        {"/private", "Bearer wrong-token-xxxxxxxxxxxxxxxx", 401, "invalid_token", "Authorization",
         "Bearer error=\"invalid_token\""},
        {"/private", "Bearer down", 503, "auth_unavailable", NULL, NULL},
        {"/admin", "Bearer " GOOD_TOKEN, 403, "forbidden", NULL, NULL},
        {"/admin", NULL, 401, "unauthenticated", "Authorization", "Bearer"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n%s%s%s\r\n", cases[i].path,
                 cases[i].authz ? "Authorization: " : "", cases[i].authz ? cases[i].authz : "",
                 cases[i].authz ? "\r\n" : "");
        resp_t r;
        request(S->port, req, &r);
        if (r.status != cases[i].status) fail_msg("case %zu: status %d", i, r.status);
        assert_error(&r, cases[i].status, cases[i].code, cases[i].field);
        char www[128];
        if (cases[i].www) {
            assert_non_null(resp_header(&r, "WWW-Authenticate", www, sizeof www));
            assert_string_equal(www, cases[i].www);
        } else {
            assert_null(resp_header(&r, "WWW-Authenticate", www, sizeof www));
        }
        /* the token never comes back */
        assert_null(strstr(r.head, GOOD_TOKEN));
        assert_null(strstr(r.body, GOOD_TOKEN));
        resp_free(&r);
    }
    /* a good token on a route that admits units; the scheme is case-insensitive */
    static const char *const schemes[] = {"Bearer ", "bearer ", "BEARER "};
    for (size_t i = 0; i < JS_ARRAY_LEN(schemes); i++) {
        char req[256];
        snprintf(req, sizeof req, "GET /private HTTP/1.1\r\nAuthorization: %s%s\r\n\r\n",
                 schemes[i], GOOD_TOKEN);
        resp_t r;
        request(S->port, req, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "id")), 42);
        assert_int_equal(json_integer_value(json_object_get(r.json, "unit_id")), 7);
        assert_string_equal(jstr(r.json, "name"), "兴宁区住建局");
        resp_free(&r);
    }
    /* public routes never ask the authenticator, whatever the client sends */
    int before = atomic_load(&authn_calls);
    resp_t r;
    request(S->port, "GET /echo HTTP/1.1\r\nAuthorization: Bearer down\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "has_principal")));
    resp_free(&r);
    assert_int_equal(atomic_load(&authn_calls), before);
}

/* ---- tests: connections ------------------------------------------------------------------- */

static void test_keep_alive(void **state)
{
    (void)state;
    client_t *c = client_open(S->port);
    for (int i = 0; i < 3; i++) {
        char req[128];
        snprintf(req, sizeof req, "GET /echo?tag=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        client_sends(c, req);
        resp_t r;
        assert_int_equal(client_read(c, &r), 0);
        assert_int_equal(r.status, 200);
        char v[32], tag[16];
        snprintf(tag, sizeof tag, "%d", i);
        assert_string_equal(jstr(json_object_get(r.json, "q"), "tag"), tag);
        assert_non_null(resp_header(&r, "Connection", v, sizeof v));
        assert_string_equal(v, "keep-alive");
        resp_free(&r);
    }
    /* a POST with a body, then a GET, on the same connection */
    client_sends(c, "POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: 8\r\n\r\n{\"a\":12}");
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    client_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* an error that leaves the request stream intact keeps the connection too */
    client_sends(c, "GET /nope HTTP/1.1\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    client_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    client_close(c);
}

static void expect_tags(client_t *c, const char *const *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        resp_t r;
        if (client_read(c, &r) != 0) fail_msg("answer %zu missing", i);
        assert_int_equal(r.status, 200);
        json_t *q = json_object_get(r.json, "q");
        const char *tag = q ? jstr(q, "tag") : jstr(r.json, "tag");
        if (strcmp(tag, tags[i]) != 0) fail_msg("answer %zu is '%s', wanted '%s'", i, tag, tags[i]);
        resp_free(&r);
    }
}

static void test_pipelining(void **state)
{
    (void)state;
    client_t *c = client_open(S->port);
    client_sends(c, "GET /echo?tag=a HTTP/1.1\r\n\r\nGET /echo?tag=b HTTP/1.1\r\n\r\n");
    expect_tags(c, (const char *const[]){"a", "b"}, 2);
    /* an asynchronous request first: later ones wait for it, and answers keep their order */
    client_sends(c, "GET /async?ms=150&tag=slow HTTP/1.1\r\n\r\n"
                    "GET /echo?tag=fast HTTP/1.1\r\n\r\n"
                    "GET /async?ms=10&tag=quick HTTP/1.1\r\n\r\n"
                    "GET /echo?tag=last HTTP/1.1\r\n\r\n");
    expect_tags(c, (const char *const[]){"slow", "fast", "quick", "last"}, 4);
    /* the same, written in pieces that split requests anywhere */
    const char *all = "GET /async?ms=30&tag=p1 HTTP/1.1\r\n\r\n"
                      "POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: 12\r\n\r\n{\"tag\":\"p2\"}"
                      "GET /echo?tag=p3 HTTP/1.1\r\n\r\n";
    for (size_t off = 0, step = 7; off < strlen(all); off += step) {
        size_t n = strlen(all) - off < step ? strlen(all) - off : step;
        client_send(c, all + off, n);
        usleep(2000);
    }
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(jstr(r.json, "tag"), "p1");
    resp_free(&r);
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(jstr(json_object_get(r.json, "got"), "tag"), "p2");
    resp_free(&r);
    assert_int_equal(client_read(c, &r), 0);
    assert_string_equal(jstr(json_object_get(r.json, "q"), "tag"), "p3");
    resp_free(&r);
    client_close(c);
}

static void test_connection_close(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int closes;
    } cases[] = {
        {"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n", 1},
        {"GET /echo HTTP/1.1\r\nConnection: Close\r\n\r\n", 1},
        {"GET /echo HTTP/1.0\r\n\r\n", 1},
        {"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0},
        {"GET /echo HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 0},
        {"GET /async?ms=20&tag=x HTTP/1.1\r\nConnection: close\r\n\r\n", 1},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        client_t *c = client_open(S->port);
        client_sends(c, cases[i].req);
        resp_t r;
        assert_int_equal(client_read(c, &r), 0);
        assert_int_equal(r.status, 200);
        char v[32];
        assert_non_null(resp_header(&r, "Connection", v, sizeof v));
        assert_string_equal(v, cases[i].closes ? "close" : "keep-alive");
        resp_free(&r);
        if (cases[i].closes) {
            if (!client_closed(c)) fail_msg("case %zu: still open", i);
        } else {
            client_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
            assert_int_equal(client_read(c, &r), 0);
            assert_int_equal(r.status, 200);
            resp_free(&r);
        }
        client_close(c);
    }
    /* a request pipelined behind "Connection: close" is not answered */
    client_t *c = client_open(S->port);
    client_sends(c, "GET /echo?tag=1 HTTP/1.1\r\nConnection: close\r\n\r\n"
                    "GET /echo?tag=2 HTTP/1.1\r\n\r\n");
    expect_tags(c, (const char *const[]){"1"}, 1);
    assert_true(client_closed(c));
    client_close(c);
}

static void test_request_id(void **state)
{
    (void)state;
    static const struct {
        const char *sent;
        int echoed;
    } cases[] = {
        {"abc-123_XYZ", 1},
        {"0123456789012345678901234567890123456789"/* 40: too long */, 0},
        {"012345678901234567890123456789012345678", 1}, /* 39 fits */
        {"bad id", 0},
        {"quote\"d", 0},
        {"中文", 0},
        {"", 0},
        {NULL, 0},
    };
    char seen[JS_ARRAY_LEN(cases)][64];
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        char req[256];
        snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\n%s%s%s\r\n",
                 cases[i].sent ? "X-Request-Id: " : "", cases[i].sent ? cases[i].sent : "",
                 cases[i].sent ? "\r\n" : "");
        resp_t r;
        request(S->port, req, &r);
        assert_int_equal(r.status, 200);
        char v[64];
        assert_non_null(resp_header(&r, "X-Request-Id", v, sizeof v));
        assert_string_equal(v, jstr(r.json, "id")); /* the handler sees the same id */
        if (cases[i].echoed) {
            assert_string_equal(v, cases[i].sent);
        } else {
            assert_true(v[0] != '\0');
            if (cases[i].sent) assert_string_not_equal(v, cases[i].sent);
            for (const char *p = v; *p; p++)
                assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-');
        }
        snprintf(seen[i], sizeof seen[i], "%s", v);
        for (size_t k = 0; k < i; k++) assert_string_not_equal(seen[k], seen[i]);
        resp_free(&r);
    }
    /* error replies carry it as well */
    resp_t r;
    request(S->port, "GET /nope HTTP/1.1\r\nX-Request-Id: trace-404\r\n\r\n", &r);
    char v[64];
    assert_non_null(resp_header(&r, "X-Request-Id", v, sizeof v));
    assert_string_equal(v, "trace-404");
    resp_free(&r);
}

static void test_client_gone_during_async(void **state)
{
    (void)state;
    int done = atomic_load(&async_done);
    /* closed politely, reset, and gone with more requests pipelined behind */
    for (int mode = 0; mode < 3; mode++) {
        client_t *c = client_open(S->port);
        if (mode == 2)
            client_sends(c, "GET /async?ms=100 HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
        else
            client_sends(c, "GET /async?ms=100 HTTP/1.1\r\n\r\n");
        usleep(20000); /* the handler has the request now */
        if (mode == 1) {
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        client_close(c);
    }
    /* the timers fire and reply into the void */
    for (int i = 0; i < 300 && atomic_load(&async_done) < done + 3; i++) usleep(10000);
    assert_int_equal(atomic_load(&async_done), done + 3);
    usleep(50000);
    /* and the server is fine */
    resp_t r;
    request(S->port, "GET /echo HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_client_gone_with_reply_in_flight(void **state)
{
    (void)state;
    /* A big answer is still being written when the client resets the connection; the next
     * pipelined request is with its asynchronous handler by then. The server drops the
     * connection at once and the handler's later reply goes nowhere. */
    int done = atomic_load(&async_done), started = atomic_load(&async_started);
    client_t *c = client_open(S->port);
    client_sends(c, "GET /big?mb=32 HTTP/1.1\r\n\r\nGET /async?ms=300 HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 200 && atomic_load(&async_started) == started; i++) usleep(10000);
    assert_int_equal(atomic_load(&async_started), started + 1);
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    client_close(c);
    for (int i = 0; i < 300 && atomic_load(&async_done) == done; i++) usleep(10000);
    assert_int_equal(atomic_load(&async_done), done + 1);
    resp_t r;
    request(S->port, "GET /echo HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_half_close(void **state)
{
    (void)state;
    /* `printf 'GET ...' | nc -N`: the client shuts down its sending side after the request
     * and waits for the answer. */
    static const char *const reqs[] = {
        "GET /echo?tag=h HTTP/1.1\r\n\r\n",
        "GET /async?ms=30&tag=h HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(reqs); i++) {
        client_t *c = client_open(S->port);
        client_sends(c, reqs[i]);
        shutdown(c->fd, SHUT_WR);
        resp_t r;
        if (client_read(c, &r) != 0) fail_msg("request %zu: no answer after half-close", i);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        assert_true(client_closed(c));
        client_close(c);
    }
}

static void test_slow_client(void **state)
{
    (void)state;
    const char *req = "POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: 16\r\n\r\n{\"slow\":\"yes!\"}\n";
    client_t *c = client_open(S->port);
    for (const char *p = req; *p; p++) {
        client_send(c, p, 1);
        usleep(500);
    }
    resp_t r;
    assert_int_equal(client_read(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(json_object_get(r.json, "got"), "slow"), "yes!");
    resp_free(&r);
    client_close(c);
}

static void test_connection_limit_and_metrics(void **state)
{
    (void)state;
    http_limits_t lim = default_limits;
    lim.max_conns = 1;
    server_t *s = server_start(&lim);
    client_t *a = client_open(s->port);
    client_sends(a, "GET /echo HTTP/1.1\r\n\r\n"); /* a is surely accepted */
    resp_t r;
    assert_int_equal(client_read(a, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    client_t *b = client_open(s->port);
    if (client_read(b, &r) != 0) fail_msg("the refused connection got no complete answer");
    assert_error_body(&r, 503, "overloaded", NULL); /* no request was read: no request id */
    assert_true(client_closed(b));
    resp_free(&r);
    client_close(b);
    /* the first connection still works */
    client_sends(a, "GET /nope HTTP/1.1\r\n\r\n");
    assert_int_equal(client_read(a, &r), 0);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    client_close(a);
    server_stop(s);
    char *txt = metrics_render(s->metrics);
    assert_non_null(strstr(txt, "jiesu_http_requests_total{code=\"2xx\"} 1\n"));
    assert_non_null(strstr(txt, "jiesu_http_requests_total{code=\"4xx\"} 1\n"));
    assert_non_null(strstr(txt, "jiesu_http_rejected_connections_total 1\n"));
    assert_non_null(strstr(txt, "jiesu_http_request_seconds_count 2\n"));
    free(txt);
    server_free(s);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    http_limits_t lim = default_limits;
    lim.idle_timeout_s = 1;
    server_t *s = server_start(&lim);
    client_t *c = client_open(s->port);
    client_sends(c, "GET /ec"); /* and then nothing */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(client_closed(c));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec <= 3);
    client_close(c);
    server_stop(s);
    server_free(s);
}

static void test_listen_and_route_errors(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    http_server_t *srv = http_server_new(base, &default_limits, NULL);
    char err[256];
    assert_int_equal(http_server_listen(srv, "not-an-ip", 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "not-an-ip"));
    /* the port the group's server holds is taken */
    assert_int_equal(http_server_listen(srv, "127.0.0.1", S->port, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot listen"));
    /* a pattern deeper than the router holds is refused, and nothing leaks */
    char deep[128] = "";
    for (int i = 0; i < 17; i++) strcat(deep, "/s");
    assert_int_equal(http_server_route(srv, "GET", deep, 0, h_echo, NULL), -1);
    assert_int_equal(http_server_route(srv, "GET", deep + 2, 0, h_echo, NULL), 0);
    http_server_free(srv);
    http_server_free(NULL);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_echo),
        cmocka_unit_test(test_client_behind_proxies),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_path_params),
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_malformed_requests),
        cmocka_unit_test(test_nul_in_head),
        cmocka_unit_test(test_head_too_large),
        cmocka_unit_test(test_body_too_large_answered_before_body),
        cmocka_unit_test(test_body_too_large_sent_whole),
        cmocka_unit_test(test_route_body_limit),
        cmocka_unit_test(test_chunked_refused),
        cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_json_unicode_round_trip),
        cmocka_unit_test(test_json_depth_function),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_client_gone_during_async),
        cmocka_unit_test(test_client_gone_with_reply_in_flight),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_slow_client),
        cmocka_unit_test(test_connection_limit_and_metrics),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_listen_and_route_errors),
    };
    return cmocka_run_group_tests_name("http", tests, group_setup, group_teardown);
}
