/*
 * http.c — a small HTTP/1.1 server on libevent bufferevents. See http.h for the contract.
 *
 * A connection reads one request at a time: the head (bounded by max_head), then exactly
 * Content-Length bytes of body (bounded by max_body, checked before reading). While a request
 * is with its handler, reading stops; the reply re-arms it, which gives pipelined requests
 * their answers in order. Every error this file produces is a JSON body.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

#define HTTP_MAX_SEGS 16
#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_OUT_HDRS 8

typedef struct http_route {
    char *method;
    char *segs[HTTP_MAX_SEGS];
    size_t nsegs;
    unsigned roles;
    size_t max_body; /* 0 = the server's limit */
    http_handler_fn fn;
    void *arg;
    struct http_route *next;
} http_route_t;

typedef struct http_conn http_conn_t;

/* An address or CIDR range: family AF_INET/AF_INET6, the leading `bits` of addr compared. */
typedef struct {
    int family;
    unsigned char addr[16];
    int bits;
} http_net_t;

struct http_req {
    http_server_t *srv;
    http_conn_t *conn; /* NULL once the client has gone */
    char *head;        /* the request head, parsed in place */
    const char *method, *target;
    char *path;        /* decoded copy */
    char *query;       /* raw query string (inside head) or NULL */
    int minor;
    const char *hname[64], *hval[64];
    int nhdr;
    char *body;
    size_t body_len;
    char *params[HTTP_MAX_PARAMS];
    size_t nparams;
    char *qkeys[32], *qvals[32];
    int nq, qparsed;
    char *out_name[HTTP_MAX_OUT_HDRS], *out_val[HTTP_MAX_OUT_HDRS];
    int nout;
    char id[40];
    http_principal_t principal;
    int has_principal;
    char client[64];   /* computed by http_req_client */
    int keepalive;
    struct timespec t0;
};

struct http_conn {
    http_server_t *srv;
    struct bufferevent *bev;
    char peer[64];
    http_req_t *req;       /* being read or with its handler */
    size_t body_need;      /* >0 while reading a body */
    int handling;          /* req is with its handler */
    int closing;
    int linger;            /* closed after an error: drain the unread request first */
    size_t lingered;       /* bytes discarded while lingering */           /* close once the output is flushed */
    int processing;        /* inside conn_process: replies must not recurse */
    http_conn_t *prev, *next;
};

struct http_server {
    struct event_base *base;
    struct evconnlistener *listener;
    http_limits_t lim;
    http_route_t *routes, *routes_tail;
    http_authn_fn authn;
    void *authn_arg;
    http_conn_t *conns;
    int nconns;
    int port;
    unsigned long long next_id;
    metric_t *m_req[6], *m_lat, *m_rejected_conns;
    http_net_t *proxies; /* trusted reverse proxies (X-Forwarded-For) */
    size_t nproxies;
};

static void conn_process(http_conn_t *c);
static void conn_fail(http_conn_t *c, int status, const char *code, const char *field, const char *msg);
static void conn_free(http_conn_t *c);

/* ---- small helpers ----------------------------------------------------------------------- */

static const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes n bytes of s into a new string; '+' as space when plus. NULL if malformed
 * or if it would decode to a NUL byte. */
static char *pct_decode(const char *s, size_t n, int plus)
{
    char *out = malloc(n + 1);
    if (out == NULL) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n) goto bad;
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) goto bad;
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (plus && s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

int http_json_depth(const char *s, size_t len)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) max = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

/* ---- server ------------------------------------------------------------------------------ */

http_server_t *http_server_new(struct event_base *base, const http_limits_t *limits,
                               metrics_t *metrics)
{
    http_server_t *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->base = base;
    s->lim = *limits;
    if (s->lim.max_head == 0) s->lim.max_head = 16384;
    if (s->lim.max_headers == 0) s->lim.max_headers = 64;
    if (s->lim.max_headers > 64) s->lim.max_headers = 64;
    if (s->lim.max_conns == 0) s->lim.max_conns = 1024;
    if (s->lim.idle_timeout_s == 0) s->lim.idle_timeout_s = 60;
    if (s->lim.max_depth == 0) s->lim.max_depth = 16;
    if (metrics) {
        static const char *classes[] = {"code=\"1xx\"", "code=\"2xx\"", "code=\"3xx\"",
                                        "code=\"4xx\"", "code=\"5xx\"", "code=\"other\""};
        for (int i = 0; i < 6; i++)
            s->m_req[i] = metrics_counter(metrics, "jiesu_http_requests_total", classes[i],
                                          "HTTP requests answered, by status class");
        static const double b[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
        s->m_lat = metrics_histogram(metrics, "jiesu_http_request_seconds", NULL,
                                     "HTTP request latency, seconds", b, JS_ARRAY_LEN(b));
        s->m_rejected_conns = metrics_counter(metrics, "jiesu_http_rejected_connections_total",
                                              NULL, "connections refused over http_max_conns");
    }
    return s;
}

void http_server_set_authn(http_server_t *s, http_authn_fn fn, void *arg)
{
    s->authn = fn;
    s->authn_arg = arg;
}

void http_server_stop_accepting(http_server_t *s)
{
    if (s && s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
}

void http_server_free(http_server_t *s)
{
    if (s == NULL) return;
    http_server_stop_accepting(s);
    while (s->conns) conn_free(s->conns);
    for (http_route_t *r = s->routes, *n; r; r = n) {
        n = r->next;
        free(r->method);
        for (size_t i = 0; i < r->nsegs; i++) free(r->segs[i]);
        free(r);
    }
    free(s->proxies);
    free(s);
}

int http_server_port(const http_server_t *s) { return s->port; }

int http_server_route(http_server_t *s, const char *method, const char *pattern, unsigned roles,
                      http_handler_fn fn, void *arg)
{
    return http_server_route_body(s, method, pattern, roles, 0, fn, arg);
}

int http_server_route_body(http_server_t *s, const char *method, const char *pattern, unsigned roles,
                           size_t max_body, http_handler_fn fn, void *arg)
{
    if (max_body > 0 && roles == 0) return -1; /* a larger body only for someone known */
    http_route_t *r = calloc(1, sizeof *r);
    if (r == NULL) return -1;
    r->method = strdup(method);
    r->roles = roles;
    r->max_body = max_body;
    r->fn = fn;
    r->arg = arg;
    const char *p = pattern;
    while (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (r->nsegs == HTTP_MAX_SEGS) goto fail;
        r->segs[r->nsegs] = strndup(p, n);
        if (r->segs[r->nsegs++] == NULL) goto fail;
        p += n;
        while (*p == '/') p++;
    }
    if (r->method == NULL) goto fail;
    if (s->routes_tail) s->routes_tail->next = r;
    else s->routes = r;
    s->routes_tail = r;
    return 0;
fail:
    free(r->method);
    for (size_t i = 0; i < r->nsegs; i++) free(r->segs[i]);
    free(r);
    return -1;
}

/* ---- requests ---------------------------------------------------------------------------- */

static void req_free(http_req_t *r)
{
    if (r == NULL) return;
    free(r->head);
    free(r->path);
    free(r->body);
    for (size_t i = 0; i < r->nparams; i++) free(r->params[i]);
    for (int i = 0; i < r->nq; i++) {
        free(r->qkeys[i]);
        free(r->qvals[i]);
    }
    for (int i = 0; i < r->nout; i++) {
        free(r->out_name[i]);
        free(r->out_val[i]);
    }
    free(r);
}

const char *http_req_method(const http_req_t *r) { return r->method ? r->method : ""; }
const char *http_req_path(const http_req_t *r) { return r->path ? r->path : ""; }
const char *http_req_id(const http_req_t *r) { return r->id; }
const char *http_req_peer(const http_req_t *r) { return r->conn ? r->conn->peer : ""; }

/* Parses "1.2.3.4", "::1", "10.0.0.0/8" or "fd00::/8" (surrounding blanks ignored). */
static int net_parse(const char *s, size_t len, http_net_t *out)
{
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    char buf[64];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end || errno || bits < 0) return -1;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = bits < 0 ? 32 : (int)bits;
        return bits > 32 ? -1 : 0;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = bits < 0 ? 128 : (int)bits;
        return bits > 128 ? -1 : 0;
    }
    return -1;
}

static bool net_contains(const http_net_t *n, const http_net_t *a)
{
    if (n->family != a->family) return false;
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->addr, a->addr, (size_t)full) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (a->addr[full] & mask);
}

static bool http_trusted(const http_server_t *s, const http_net_t *a)
{
    for (size_t i = 0; i < s->nproxies; i++)
        if (net_contains(&s->proxies[i], a)) return true;
    return false;
}

static int proxies_parse(const char *list, http_net_t **out, size_t *nout, char *err, size_t errlen)
{
    size_t n = 0, cap = 0;
    http_net_t *v = NULL;
    for (const char *p = list ? list : ""; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        http_net_t net;
        if (net_parse(p, len, &net) != 0) {
            snprintf(err, errlen, "trusted_proxies: '%.*s' is not an IP address or CIDR range",
                     (int)(len > 64 ? 64 : len), p);
            free(v);
            return -1;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            http_net_t *nv = realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                snprintf(err, errlen, "trusted_proxies: out of memory");
                free(v);
                return -1;
            }
            v = nv;
        }
        v[n++] = net;
        p = e ? e + 1 : p + len;
    }
    *out = v;
    *nout = n;
    return 0;
}

int http_trusted_proxies_check(const char *list, char *err, size_t errlen)
{
    http_net_t *v;
    size_t n;
    if (proxies_parse(list, &v, &n, err, errlen) != 0) return -1;
    free(v);
    return 0;
}

int http_server_set_trusted_proxies(http_server_t *s, const char *list, char *err, size_t errlen)
{
    http_net_t *v;
    size_t n;
    if (proxies_parse(list, &v, &n, err, errlen) != 0) return -1;
    free(s->proxies);
    s->proxies = v;
    s->nproxies = n;
    return 0;
}

void http_req_client_key(http_req_t *r, char *out, size_t len)
{
    const char *c = http_req_client(r);
    unsigned char a[16];
    if (strchr(c, ':') == NULL || inet_pton(AF_INET6, c, a) != 1) {
        snprintf(out, len, "%s", c);
        return;
    }
    memset(a + 8, 0, 8);
    char p[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, p, sizeof p);
    snprintf(out, len, "%s/64", p);
}

/* Walks one X-Forwarded-For value right to left. Returns 1 when the client was found (an
 * untrusted hop, or garbage ending the walk), 0 when every hop was a trusted proxy. */
static int xff_walk(const http_server_t *srv, const char *xff, char *client, size_t len)
{
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') start--;
        http_net_t hop;
        if (net_parse(xff + start, end - start, &hop) != 0) return 1;
        const char *h = xff + start;
        size_t hl = end - start;
        while (hl && isspace((unsigned char)*h)) h++, hl--;
        while (hl && isspace((unsigned char)h[hl - 1])) hl--;
        snprintf(client, len, "%.*s", (int)hl, h);
        if (!http_trusted(srv, &hop)) return 1;
        end = start > 0 ? start - 1 : 0;
    }
    return 0;
}

const char *http_req_client(http_req_t *r)
{
    if (r->client[0]) return r->client;
    const char *peer = http_req_peer(r);
    /* the peer without its port: "1.2.3.4:5" → "1.2.3.4", "[::1]:5" → "::1" */
    char ip[64];
    if (peer[0] == '[') {
        const char *end = strchr(peer, ']');
        snprintf(ip, sizeof ip, "%.*s", end ? (int)(end - peer - 1) : 0, peer + 1);
    } else {
        const char *colon = strrchr(peer, ':');
        snprintf(ip, sizeof ip, "%.*s", colon ? (int)(colon - peer) : (int)strlen(peer), peer);
    }
    /* an IPv4 client on a dual-stack listener: ::ffff:a.b.c.d is a.b.c.d */
    if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL) memmove(ip, ip + 7, strlen(ip + 7) + 1);
    snprintf(r->client, sizeof r->client, "%s", ip);
    http_net_t a;
    if (r->srv->nproxies == 0 || net_parse(ip, strlen(ip), &a) != 0 || !http_trusted(r->srv, &a)) return r->client;
    /* right to left across every X-Forwarded-For line, the last line first (a proxy may add
     * its own line rather than append to the client's): the first hop that is not one of our
     * proxies is the client; a hop that is not an address ends the walk (whatever lies left of
     * it was written by the client) */
    for (int i = r->nhdr - 1; i >= 0; i--)
        if (strcasecmp(r->hname[i], "X-Forwarded-For") == 0 && xff_walk(r->srv, r->hval[i], r->client, sizeof r->client))
            break;
    return r->client;
}

const http_principal_t *http_req_principal(const http_req_t *r)
{
    return r->has_principal ? &r->principal : NULL;
}

const char *http_req_param(const http_req_t *r, size_t idx)
{
    return idx < r->nparams ? r->params[idx] : NULL;
}

const char *http_req_body(const http_req_t *r, size_t *len)
{
    if (len) *len = r->body_len;
    return r->body ? r->body : "";
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hname[i], name) == 0) return r->hval[i];
    return NULL;
}

const char *http_req_query(const http_req_t *r, const char *name)
{
    http_req_t *m = (http_req_t *)r; /* lazily parsed cache */
    if (!m->qparsed) {
        m->qparsed = 1;
        const char *q = m->query;
        while (q && *q && m->nq < 32) {
            const char *amp = strchr(q, '&');
            size_t n = amp ? (size_t)(amp - q) : strlen(q);
            const char *eq = memchr(q, '=', n);
            size_t kl = eq ? (size_t)(eq - q) : n;
            char *k = pct_decode(q, kl, 1);
            char *v = eq ? pct_decode(eq + 1, n - kl - 1, 1) : strdup("");
            if (k && v) {
                m->qkeys[m->nq] = k;
                m->qvals[m->nq++] = v;
            } else {
                free(k);
                free(v);
            }
            q = amp ? amp + 1 : NULL;
        }
    }
    for (int i = 0; i < m->nq; i++)
        if (strcmp(m->qkeys[i], name) == 0) return m->qvals[i];
    return NULL;
}

void http_reply_header(http_req_t *r, const char *name, const char *value)
{
    if (r->nout == HTTP_MAX_OUT_HDRS) return;
    r->out_name[r->nout] = strdup(name);
    r->out_val[r->nout] = strdup(value);
    if (r->out_name[r->nout] && r->out_val[r->nout]) r->nout++;
    else {
        free(r->out_name[r->nout]);
        free(r->out_val[r->nout]);
    }
}

/* Lingering close: a client still sending a body we refused (413, 411, 400…) would get a TCP
 * reset instead of our answer if we closed with its data unread. So after an error reply we
 * stop writing (FIN), then read and discard for a short while — until the client closes, 2 s
 * pass, or 16 MiB were thrown away — and only then close. */
static void conn_linger_read_cb(struct bufferevent *bev, void *arg)
{
    http_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    c->lingered += n;
    evbuffer_drain(in, n);
    if (c->lingered > 16u * 1024 * 1024) conn_free(c);
}

static void conn_linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    http_conn_t *c = arg;
    if (!c->closing || evbuffer_get_length(bufferevent_get_output(c->bev)) != 0) return;
    if (!c->linger) {
        conn_free(c);
        return;
    }
    shutdown(bufferevent_getfd(bev), SHUT_WR);
    struct timeval tv = {2, 0};
    bufferevent_set_timeouts(bev, &tv, NULL);
    bufferevent_setcb(bev, conn_linger_read_cb, NULL, conn_linger_event_cb, c);
    bufferevent_enable(bev, EV_READ);
    conn_linger_read_cb(bev, c);
}

void http_reply_raw(http_req_t *r, int status, const char *content_type, const char *body,
                    size_t len)
{
    http_server_t *s = r->srv;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - r->t0.tv_sec) + (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e9;
    int cls = status / 100;
    metric_inc(s->m_req[(cls >= 1 && cls <= 5) ? cls - 1 : 5]);
    metric_observe(s->m_lat, secs);
    if (status >= 500 || (status >= 400 && log_enabled(LOG_DEBUG)))
        LOGI("http request", LF_STR("req", r->id), LF_STR("method", http_req_method(r)),
             LF_STR("path", http_req_path(r)), LF_INT("status", status),
             LF_DBL("ms", secs * 1000));

    http_conn_t *c = r->conn;
    if (c == NULL) { /* the client went away while the handler worked */
        req_free(r);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "X-Request-Id: %s\r\nCache-Control: no-store\r\n",
                        status, http_reason(status), content_type, len, r->id);
    for (int i = 0; i < r->nout; i++)
        evbuffer_add_printf(out, "%s: %s\r\n", r->out_name[i], r->out_val[i]);
    if (!r->keepalive) c->closing = 1;
    evbuffer_add_printf(out, "Connection: %s\r\n\r\n", c->closing ? "close" : "keep-alive");
    evbuffer_add(out, body, len);
    c->req = NULL;
    c->handling = 0;
    req_free(r);
    if (c->closing) {
        bufferevent_disable(c->bev, EV_READ);
        return; /* conn_write_cb frees it once flushed */
    }
    bufferevent_enable(c->bev, EV_READ);
    if (!c->processing) conn_process(c); /* an asynchronous reply: look for pipelined work */
}

void http_reply_json(http_req_t *r, int status, json_t *body)
{
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (txt == NULL) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode reply\",\"field\":null}}";
        http_reply_raw(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    http_reply_raw(r, status, "application/json; charset=utf-8", txt, strlen(txt));
    free(txt);
}

void http_reply_oom(http_req_t *r)
{
    http_reply_header(r, "Retry-After", "1");
    http_reply_error(r, 503, "overloaded", NULL, "out of memory");
}

void http_reply_error(http_req_t *r, int status, const char *code, const char *field,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{s:{s:s,s:s,s:s?}}", "error", "code", code, "message", msg, "field",
                          field);
    http_reply_json(r, status, e);
}

json_t *http_req_json(http_req_t *r)
{
    const char *ct = http_req_header(r, "Content-Type");
    /* the media type itself, then nothing or parameters: not "application/jsonp" */
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ' && ct[16] != '\t')) {
        http_reply_error(r, 415, "unsupported_media_type", NULL,
                         "request body must be application/json");
        return NULL;
    }
    if (r->body_len == 0) {
        http_reply_error(r, 400, "empty_body", NULL, "request body is empty; a JSON object is expected");
        return NULL;
    }
    int depth = http_json_depth(r->body, r->body_len);
    if (depth > r->srv->lim.max_depth) {
        http_reply_error(r, 400, "too_deep", NULL, "JSON nesting depth %d exceeds the limit of %d",
                         depth, r->srv->lim.max_depth);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        http_reply_error(r, 400, "malformed_json", NULL, "invalid JSON at line %d column %d: %s",
                         je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_reply_error(r, 400, "not_an_object", NULL, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- routing and dispatch ---------------------------------------------------------------- */

static int route_match(const http_route_t *rt, http_req_t *r)
{
    const char *p = r->path;
    size_t seg = 0;
    char *caps[HTTP_MAX_PARAMS];
    size_t ncaps = 0;
    while (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (seg >= rt->nsegs) goto nomatch;
        const char *pat = rt->segs[seg];
        if (pat[0] == '{') {
            if (ncaps == HTTP_MAX_PARAMS) goto nomatch;
            caps[ncaps] = strndup(p, n);
            if (caps[ncaps] == NULL) goto nomatch;
            ncaps++;
        } else if (strlen(pat) != n || strncmp(pat, p, n) != 0) {
            goto nomatch;
        }
        seg++;
        p += n;
        while (*p == '/') p++;
    }
    if (seg != rt->nsegs) goto nomatch;
    for (size_t i = 0; i < ncaps; i++) r->params[i] = caps[i];
    r->nparams = ncaps;
    return 1;
nomatch:
    for (size_t i = 0; i < ncaps; i++) free(caps[i]);
    return 0;
}

/* The route of r's method and path (its {params} captured into r), or NULL; allow collects
 * the methods the path has when another method matched it (path_known). */
static http_route_t *route_find(http_req_t *r, char *allow, size_t allowlen, int *path_known)
{
    *path_known = 0;
    if (allowlen) allow[0] = '\0';
    for (http_route_t *rt = r->srv->routes; rt; rt = rt->next) {
        if (!route_match(rt, r)) continue;
        if (strcmp(rt->method, r->method) == 0) return rt;
        *path_known = 1;
        size_t al = strlen(allow);
        snprintf(allow + al, allowlen - al, "%s%s", al ? ", " : "", rt->method);
        for (size_t i = 0; i < r->nparams; i++) free(r->params[i]);
        r->nparams = 0;
    }
    return NULL;
}

/* Who is asking, and may they use rt? 0 yes (r->principal set); -1 when the error reply
 * (401, 403 or 503) has been sent. */
static int req_authorize(http_req_t *r, const http_route_t *rt)
{
    http_server_t *s = r->srv;
    if (rt->roles == 0) return 0;
    const char *auth = http_req_header(r, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
        http_reply_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "unauthenticated", "Authorization", "a bearer token is required");
        return -1;
    }
    int rc = s->authn ? s->authn(s->authn_arg, auth + 7, &r->principal) : -1;
    if (rc < 0) {
        http_reply_error(r, 503, "auth_unavailable", NULL, "cannot check credentials right now; retry later");
        return -1;
    }
    if (rc > 0) {
        http_reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_reply_error(r, 401, "invalid_token", "Authorization", "the token is unknown, revoked or expired");
        return -1;
    }
    r->has_principal = 1;
    if ((rt->roles & r->principal.role) == 0) {
        http_reply_error(r, 403, "forbidden", NULL, "your role may not use this endpoint");
        return -1;
    }
    return 0;
}

static void req_dispatch(http_req_t *r)
{
    char allow[128]; /* a 405 must say which methods the path has (RFC 9110 15.5.6) */
    int path_known;
    http_route_t *hit = route_find(r, allow, sizeof allow, &path_known);
    if (hit == NULL) {
        if (path_known) {
            http_reply_header(r, "Allow", allow);
            http_reply_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
                             r->method, r->path);
        } else
            http_reply_error(r, 404, "not_found", NULL, "no such endpoint: %s", r->path);
        return;
    }
    if (req_authorize(r, hit) != 0) return;
    hit->fn(r, hit->arg);
}

/* A body above the server's limit is read only for a route that admits it, and only once its
 * sender is known to be allowed there: a stranger cannot make the server hold a large body.
 * 0 to read it; -1 when the connection has been failed (413, or the 401/403/503 of the check). */
static int conn_admit_large(http_conn_t *c, unsigned long long len)
{
    http_server_t *s = c->srv;
    http_req_t *r = c->req;
    char allow[8];
    int path_known;
    http_route_t *rt = route_find(r, allow, sizeof allow, &path_known);
    for (size_t i = 0; i < r->nparams; i++) free(r->params[i]); /* captured again on dispatch */
    r->nparams = 0;
    size_t limit = rt && rt->max_body > s->lim.max_body ? rt->max_body : s->lim.max_body;
    if (len > limit) {
        char m[128];
        snprintf(m, sizeof m, "request body of %llu bytes exceeds the limit of %zu", len, limit);
        conn_fail(c, 413, "body_too_large", NULL, m);
        return -1;
    }
    /* as conn_fail does, should the check answer: the connection closes after the reply */
    int keepalive = r->keepalive;
    r->keepalive = 0;
    c->handling = 1;
    c->linger = 1;
    if (req_authorize(r, rt) != 0) return -1;
    r->keepalive = keepalive;
    c->handling = 0;
    c->linger = 0;
    return 0;
}

/* Parses the head in r->head (len bytes and a NUL, without the final CRLFCRLF). 0 or an HTTP
 * status describing what is wrong; msg says it. */
static int req_parse_head(http_req_t *r, size_t len, const char **msg, const char **field)
{
    /* A NUL, a bare CR or LF or another control character is where parsers disagree on where
     * a line ends (a proxy in front may see a header this parser would not: request
     * smuggling). Only CRLF ends a line; HTAB is the one control allowed inside one. */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)r->head[i];
        if (ch == '\r' && i + 1 < len && r->head[i + 1] == '\n') i++;
        else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            *msg = "control character in request head";
            return 400;
        }
    }
    char *line_end = strstr(r->head, "\r\n");
    if (line_end) *line_end = '\0';
    char *sp1 = strchr(r->head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == r->head) { /* an empty method would reach routing as "" */
        *msg = "malformed request line";
        return 400;
    }
    *sp1 = *sp2 = '\0';
    r->method = r->head;
    r->target = sp1 + 1;
    const char *ver = sp2 + 1;
    if (strncmp(ver, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)ver[7]) || ver[8]) {
        *msg = "unsupported HTTP version";
        return 400;
    }
    r->minor = ver[7] - '0';
    for (const char *m = r->method; *m; m++)
        if (!isupper((unsigned char)*m)) {
            *msg = "malformed method";
            return 400;
        }
    if (r->target[0] != '/') {
        *msg = "request target must be an absolute path";
        return 400;
    }
    char *q = strchr(r->target, '?');
    size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
    if (q) r->query = q + 1;
    r->path = pct_decode(r->target, plen, 0);
    if (r->path == NULL) {
        *msg = "malformed percent-encoding in path";
        return 400;
    }
    char *p = line_end ? line_end + 2 : NULL;
    while (p && *p) {
        char *e = strstr(p, "\r\n");
        if (e) *e = '\0';
        char *colon = strchr(p, ':');
        if (colon == NULL || colon == p) {
            *msg = "malformed header line";
            return 400;
        }
        for (char *k = p; k < colon; k++)
            if (isspace((unsigned char)*k) || !isprint((unsigned char)*k)) {
                *msg = "malformed header name";
                return 400;
            }
        if (r->nhdr == r->srv->lim.max_headers) {
            *msg = "too many headers";
            return 431;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = '\0';
        r->hname[r->nhdr] = p;
        r->hval[r->nhdr++] = v;
        p = e ? e + 2 : NULL;
    }
    const char *conn = http_req_header(r, "Connection");
    r->keepalive = r->minor >= 1 ? !(conn && strcasecmp(conn, "close") == 0)
                                 : (conn && strcasecmp(conn, "keep-alive") == 0);
    const char *rid = http_req_header(r, "X-Request-Id");
    int rid_ok = rid && *rid && strlen(rid) < sizeof r->id;
    for (const char *k = rid; rid_ok && *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '-' && *k != '_') rid_ok = 0;
    if (rid_ok) snprintf(r->id, sizeof r->id, "%s", rid);
    (void)field;
    return 0;
}

static http_req_t *req_new(http_conn_t *c)
{
    http_req_t *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->srv = c->srv;
    r->conn = c;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    snprintf(r->id, sizeof r->id, "%llx-%llx", (unsigned long long)r->t0.tv_sec,
             ++c->srv->next_id);
    return r;
}

/* Fails the connection with an error reply; the connection closes after it is written. */
static void conn_fail(http_conn_t *c, int status, const char *code, const char *field,
                      const char *msg)
{
    if (c->req == NULL) c->req = req_new(c);
    if (c->req == NULL) {
        /* Out of memory, so no reply. conn_process, our caller, still uses c after this
         * returns: the connection is dropped from the loop (conn_event_cb), not freed here. */
        c->closing = 1;
        bufferevent_disable(c->bev, EV_READ);
        bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS);
        return;
    }
    c->req->keepalive = 0;
    c->handling = 1;
    c->linger = 1;
    http_reply_error(c->req, status, code, field, "%s", msg);
}

static void conn_process(http_conn_t *c)
{
    http_server_t *s = c->srv;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->processing = 1;
    while (!c->handling && !c->closing) {
        if (c->req == NULL) {
            struct evbuffer_ptr pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            size_t avail = evbuffer_get_length(in);
            if (pos.pos < 0) {
                if (avail > s->lim.max_head)
                    conn_fail(c, 431, "header_too_large", NULL,
                              "request head exceeds the size limit");
                break;
            }
            size_t head_len = (size_t)pos.pos;
            if (head_len > s->lim.max_head) {
                conn_fail(c, 431, "header_too_large", NULL, "request head exceeds the size limit");
                break;
            }
            http_req_t *r = req_new(c);
            if (r == NULL || (r->head = malloc(head_len + 1)) == NULL) {
                req_free(r);
                conn_fail(c, 503, "overloaded", NULL, "out of memory");
                break;
            }
            c->req = r;
            evbuffer_remove(in, r->head, head_len);
            evbuffer_drain(in, 4);
            r->head[head_len] = '\0';
            const char *msg = NULL, *field = NULL;
            int st = req_parse_head(r, head_len, &msg, &field);
            if (st != 0) {
                conn_fail(c, st, st == 431 ? "header_too_large" : "bad_request", field, msg);
                break;
            }
            if (http_req_header(r, "Transfer-Encoding") != NULL) {
                conn_fail(c, 411, "length_required", "Transfer-Encoding",
                          "chunked bodies are not accepted; send Content-Length");
                break;
            }
            const char *cl = http_req_header(r, "Content-Length");
            int ncl = 0;
            for (int i = 0; i < r->nhdr; i++) ncl += strcasecmp(r->hname[i], "Content-Length") == 0;
            if (ncl > 1) { /* which one frames the body is how requests get smuggled */
                conn_fail(c, 400, "bad_request", "Content-Length", "more than one Content-Length");
                break;
            }
            size_t need = 0;
            if (cl) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(cl, &end, 10);
                if (*cl == '\0' || *end != '\0' || errno || !isdigit((unsigned char)*cl)) {
                    conn_fail(c, 400, "bad_request", "Content-Length", "malformed Content-Length");
                    break;
                }
                if (v > s->lim.max_body && conn_admit_large(c, v) != 0) break;
                need = (size_t)v;
            }
            r->body = malloc(need + 1);
            if (r->body == NULL) {
                conn_fail(c, 503, "overloaded", NULL, "out of memory");
                break;
            }
            r->body[0] = '\0';
            c->body_need = need;
        }
        if (evbuffer_get_length(in) < c->body_need) break; /* wait for more body */
        http_req_t *r = c->req;
        if (c->body_need) evbuffer_remove(in, r->body, c->body_need);
        r->body_len = c->body_need;
        r->body[r->body_len] = '\0';
        c->body_need = 0;
        c->handling = 1;
        bufferevent_disable(c->bev, EV_READ);
        req_dispatch(r); /* may reply at once (clears handling) or later */
    }
    c->processing = 0;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    http_conn_t *c = arg;
    (void)bev;
    if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        /* A client may shut down its sending side and wait for the answer (nc -N, a
         * pipe): the reply still being computed or written must reach it first. It is
         * freed once that reply is written (conn_write_cb). */
        c->closing = 1;
        bufferevent_disable(c->bev, EV_READ);
        if (c->handling || evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) conn_free(c);
}

static void conn_free(http_conn_t *c)
{
    http_server_t *s = c->srv;
    if (c->req) {
        if (c->handling) c->req->conn = NULL; /* the handler still holds it; reply frees it */
        else req_free(c->req);
        c->req = NULL;
    }
    bufferevent_free(c->bev);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    free(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int slen,
                      void *arg)
{
    http_server_t *s = arg;
    (void)l;
    (void)slen;
    if (s->nconns >= s->lim.max_conns) {
        static const char body[] =
            "{\"error\":{\"code\":\"overloaded\",\"message\":\"too many connections\",\"field\":null}}";
        char busy[256]; /* the length is computed: a wrong one leaves the client waiting */
        int n = snprintf(busy, sizeof busy,
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                         sizeof body - 1, body);
        ssize_t w = send(fd, busy, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        evutil_closesocket(fd);
        metric_inc(s->m_rejected_conns);
        return;
    }
    http_conn_t *c = calloc(1, sizeof *c);
    struct bufferevent *bev =
        c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (bev == NULL) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->bev = bev;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)sa;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)sa;
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, ntohs(in6->sin6_port));
    }
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    struct timeval tv = {s->lim.idle_timeout_s, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int http_server_listen(http_server_t *s, const char *addr, int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        sl = sizeof *in;
    } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sl = sizeof *in6;
    } else {
        snprintf(err, errlen, "http_addr '%s' is not an IP address", addr);
        return -1;
    }
    s->listener = evconnlistener_new_bind(s->base, accept_cb, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
                                          (struct sockaddr *)&ss, (int)sl);
    if (s->listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(errno));
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&bound, &bl) == 0)
        s->port = ntohs(bound.ss_family == AF_INET
                            ? ((struct sockaddr_in *)(void *)&bound)->sin_port
                            : ((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
    return 0;
}
