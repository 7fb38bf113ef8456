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

#include <event2/event.h>
#include <jansson.h>

#include "err.h"

typedef struct ch_http ch_http;
typedef struct ch_req ch_req;
struct evhttp_request;

typedef void (*ch_route_fn)(ch_req *req, void *arg);

typedef struct ch_http_limits {
    size_t max_body;
    size_t max_headers;
    int timeout_s;
} ch_http_limits;

ch_http *ch_http_new(struct event_base *base, const ch_http_limits *lim);
/* Binds host:port (port 0 = any free port). */
ch_err ch_http_listen(ch_http *h, const char *host, int port, char *err,
                      size_t errcap);
/* The port actually bound (useful with port 0). */
int ch_http_port(const ch_http *h);
/* Exact-path route; method "GET", "POST", ... */
void ch_http_route(ch_http *h, const char *method, const char *path,
                   ch_route_fn fn, void *arg);
/* Stops accepting new connections (shutdown); open ones finish. */
void ch_http_stop_accepting(ch_http *h);
void ch_http_free(ch_http *h);

const char *ch_req_id(const ch_req *r);
const char *ch_req_method(const ch_req *r);
const char *ch_req_path(const ch_req *r);
/* Sends body (reference stolen) as JSON with status. */
void ch_req_json(ch_req *r, int status, json_t *body);
/* Sends {"error":{"code":code,"message":message}}. */
void ch_req_error(ch_req *r, int status, const char *code, const char *message);

#endif
