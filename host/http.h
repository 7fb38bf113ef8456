/* http.h -- the HTTP listener (libevent evhttp): routing, request ids,
 * JSON responses, limits. Handlers run on the event loop and must not
 * block. Every response a route or the router produces carries X-Request-Id
 * and errors have the shape
 * {"error":{"code":"...","message":"...","request_id":"..."}}.
 * Known limit: requests that libevent itself refuses before routing
 * (body over the limit: 413, oversized headers or malformed HTTP: 400,
 * unknown method: 501) get libevent's own short HTML reply; libevent 2.1
 * has no hook to replace it. */
#ifndef CH_HTTP_H
#define CH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "err.h"

typedef struct ch_http ch_http;
typedef struct ch_req ch_req;
struct evhttp_request;

typedef void (*ch_route_fn)(ch_req *req, void *arg);

/* Defaults of the two fields below when 0. */
#define CH_HTTP_REQUEST_TIMEOUT_S 30
#define CH_HTTP_MAX_CONNECTIONS 4096

typedef struct ch_http_limits {
    size_t max_body;
    size_t max_headers;
    int timeout_s;             /* idle/stalled read or write (evhttp's own) */
    int request_timeout_s;     /* a whole request (headers and body) must arrive
                                  within this from the accept or the previous
                                  answer, or the connection is closed (slow
                                  clients, slow-loris); 0: the default */
    size_t max_connections;    /* open connections; at the limit the listener
                                  stops accepting until one closes (lowered to
                                  fit RLIMIT_NOFILE); 0: the default */
} ch_http_limits;

ch_http *ch_http_new(struct event_base *base, const ch_http_limits *lim);
/* Serves HTTPS from now on (call before ch_http_listen): cert_file is a
 * PEM certificate chain, key_file its PEM private key. CH_ECONFIG with the
 * reason in err if they cannot be loaded or do not match. */
ch_err ch_http_use_tls(ch_http *h, const char *cert_file, const char *key_file, char *err,
                       size_t errcap);
/* Binds host:port (port 0 = any free port). */
ch_err ch_http_listen(ch_http *h, const char *host, int port, char *err,
                      size_t errcap);
/* The port actually bound (useful with port 0). */
int ch_http_port(const ch_http *h);
/* Route for method ("GET", "POST", ...) and path: an exact path, or a
 * prefix when the path ends in a slash and a star (so "/hooks/" + "*"
 * matches "/hooks/a/b"; the handler parses the rest from ch_req_path).
 * Exact routes win. */
void ch_http_route(ch_http *h, const char *method, const char *path,
                   ch_route_fn fn, void *arg);
/* How many answers were written at once, from outside evhttp's callbacks
 * (http.c, flush_now), since ch_http_new. 0 on a libevent that keeps the
 * bufferevent's output locked to its own writes (2.1.12 does not, for the
 * connections evhttp attaches a socket to): the answers then go out on
 * the next loop turn, as evhttp sends them. */
uint64_t ch_http_answers_at_once(const ch_http *h);
/* Stops accepting new connections (shutdown); open ones finish. */
void ch_http_stop_accepting(ch_http *h);
void ch_http_free(ch_http *h);

const char *ch_req_id(const ch_req *r);
const char *ch_req_method(const ch_req *r);
/* The decoded-free path as received, without the query string. */
const char *ch_req_path(const ch_req *r);
/* The raw query string ("" if none). */
const char *ch_req_query(const ch_req *r);
/* A request header (case-insensitive name), or NULL. */
const char *ch_req_header(const ch_req *r, const char *name);
/* Calls fn for every request header, in order; stops when fn returns
 * non-zero. */
void ch_req_headers_foreach(const ch_req *r,
                            int (*fn)(const char *name, const char *value,
                                      void *arg),
                            void *arg);
/* The body, contiguous (bounded by http.max_body_bytes); valid until the
 * response is sent. */
const uint8_t *ch_req_body(ch_req *r, size_t *len);
/* Milliseconds since the request was dispatched to its handler. */
int64_t ch_req_received_ms(const ch_req *r);

/* For handlers that answer later (after an asynchronous Redis write): moves
 * the request to the heap and returns it; the stack one must not be used
 * again. Answer it with any ch_req_* reply function, which frees it. If the
 * client goes away first, the reply is dropped silently and only the
 * memory is freed (ch_req_gone() tells). */
ch_req *ch_req_defer(ch_req *r);
int ch_req_gone(const ch_req *r);
/* Frees a deferred request without answering (shutdown with work still
 * queued: the connection is closed with the listener). */
void ch_req_drop(ch_req *r);
/* The client's address as text ("" if unknown). Valid while r is. */
const char *ch_req_peer(const ch_req *r);
/* Extra response header (before replying). */
void ch_req_add_header(ch_req *r, const char *name, const char *value);
/* Sends an arbitrary body with a content type (handshake replies). */
void ch_req_reply(ch_req *r, int status, const char *content_type,
                  const void *body, size_t len);
/* Sends body (reference stolen) as JSON with status. */
void ch_req_json(ch_req *r, int status, json_t *body);
/* Sends {"error":{"code":code,"message":message}}. */
void ch_req_error(ch_req *r, int status, const char *code, const char *message);

#endif
