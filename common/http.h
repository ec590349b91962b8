/*
 * http.h — the HTTP/1.1 server layer every daemon uses: JSON in and out, limits, auth, routes.
 *
 * Built on libevent bufferevents rather than evhttp because evhttp answers oversized or
 * malformed requests with HTML pages of its own; here every error a client can cause is a
 * JSON body {"error":{"code","message","field"}}. The server reads the head, checks the
 * declared Content-Length against the limit before reading a byte of the body (413), rejects
 * chunked bodies (411), and hands complete requests to route handlers. Each route declares the
 * roles it admits (a bitmask; 0 = public); the server authenticates the bearer token through a
 * callback before the handler runs (401/403 otherwise).
 *
 * A handler may answer at once or later (after an asynchronous database write, say): the
 * request stays owned by the server until exactly one http_reply_* call. Reading of the next
 * pipelined request waits until then. If the client goes away first, the reply is dropped.
 * Single-threaded: call everything from the loop thread.
 */
#ifndef JIESU_HTTP_H
#define JIESU_HTTP_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>

#include "compat.h"
#include "metrics.h"

typedef struct http_server http_server_t;
typedef struct http_req http_req_t;

/* Who is asking, as authenticated from the bearer token. */
typedef struct {
    long long id;
    unsigned role;          /* exactly one AUTH_ROLE_* bit (auth.h) */
    long long unit_id;      /* 0 = none */
    char region_code[16];   /* "" = none */
    char credit_code[24];   /* enterprise principals only */
    char name[96];
} http_principal_t;

/* Returns 0 and fills out for a valid token, 1 for an unknown/revoked/expired token,
 * -1 when the store cannot be asked (503). */
typedef int (*http_authn_fn)(void *arg, const char *token, http_principal_t *out);
typedef void (*http_handler_fn)(http_req_t *req, void *arg);

typedef struct {
    size_t max_body;      /* bytes */
    int max_depth;        /* JSON nesting */
    size_t max_head;      /* request line + headers, bytes */
    int max_headers;
    int max_conns;
    int idle_timeout_s;
} http_limits_t;

http_server_t *http_server_new(struct event_base *base, const http_limits_t *limits,
                               metrics_t *metrics);
void http_server_free(http_server_t *s);

void http_server_set_authn(http_server_t *s, http_authn_fn fn, void *arg);

/* Comma-separated IPv4/IPv6 addresses or CIDR ranges of reverse proxies whose X-Forwarded-For
 * header is believed; "" = none (the default). -1 with err naming the bad entry. */
int http_server_set_trusted_proxies(http_server_t *s, const char *list, char *err,
                                    size_t errlen) JS_MUST_CHECK;
/* The same check without a server, for validating configuration before anything starts. */
int http_trusted_proxies_check(const char *list, char *err, size_t errlen) JS_MUST_CHECK;

/* Binds and listens; port 0 picks a free port (see http_server_port). */
int http_server_listen(http_server_t *s, const char *addr, int port, char *err,
                       size_t errlen) JS_MUST_CHECK;
int http_server_port(const http_server_t *s);

/* Stops accepting new connections (draining); open requests may still be answered. */
void http_server_stop_accepting(http_server_t *s);

/* Adds a route. pattern segments in braces match one path segment: "/v1/cases/{id}/sign".
 * roles: bitmask of AUTH_ROLE_* admitted; 0 = no authentication. Strings are copied. */
int http_server_route(http_server_t *s, const char *method, const char *pattern, unsigned roles,
                      http_handler_fn fn, void *arg) JS_MUST_CHECK;
/* The same for a route that takes bodies up to max_body bytes, above the server's limit (bulk
 * imports). Such a body is read only after the sender's token and role have been checked
 * against the route (401/403 before a byte of it is read); roles must not be 0. */
int http_server_route_body(http_server_t *s, const char *method, const char *pattern, unsigned roles,
                           size_t max_body, http_handler_fn fn, void *arg) JS_MUST_CHECK;

/* Request accessors; returned pointers are borrowed and live as long as the request. */
const char *http_req_method(const http_req_t *r);
const char *http_req_path(const http_req_t *r);
const char *http_req_query(const http_req_t *r, const char *name); /* decoded; NULL if absent */
const char *http_req_header(const http_req_t *r, const char *name);
const char *http_req_param(const http_req_t *r, size_t idx); /* idx-th {param} of the route */
const char *http_req_body(const http_req_t *r, size_t *len);
const char *http_req_id(const http_req_t *r);
const char *http_req_peer(const http_req_t *r); /* "ip:port" or "[ip6]:port" of the connection */
/* The client's address without port: the peer, or — when the peer is one of the trusted
 * proxies — the right-most X-Forwarded-For hop that is not a trusted proxy. Use it for
 * per-client throttles; never for authorisation. */
const char *http_req_client(http_req_t *r);
/* The key a per-client throttle counts: the client's IPv4 address, or its IPv6 /64 (what one
 * host or subscriber is given: counting single IPv6 addresses would give each 2^64 budgets). */
void http_req_client_key(http_req_t *r, char *out, size_t len);
const http_principal_t *http_req_principal(const http_req_t *r); /* NULL on public routes */

/* Parses the body as a JSON object with the server's limits (415 for a wrong content type,
 * 400 naming the position for bad JSON, duplicate keys or too deep nesting). On failure the
 * error reply has already been sent and NULL is returned. The object is new: caller decrefs. */
json_t *http_req_json(http_req_t *r);

/* Adds a response header for the coming reply (copied). */
void http_reply_header(http_req_t *r, const char *name, const char *value);

/* Each ends the request; exactly one must be called per request. */
void http_reply_json(http_req_t *r, int status, json_t *body /* stolen */);
void http_reply_raw(http_req_t *r, int status, const char *content_type, const char *body,
                    size_t len);
void http_reply_error(http_req_t *r, int status, const char *code, const char *field,
                      const char *fmt, ...) JS_PRINTF(5, 6);

/* Out of memory while answering: 503 `overloaded` with Retry-After: 1 (the same answer from
 * every service; the request changed nothing and can be sent again). */
void http_reply_oom(http_req_t *r);

/* Depth of nesting of a JSON text, ignoring brackets inside strings. */
int http_json_depth(const char *s, size_t len);

#endif
