/* http.c -- see http.h. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "call.h"
#include "http_tls.h"
#include "log.h"
#include "util.h"

typedef struct route {
    char *method;
    char *path;       /* for prefix routes: without the trailing '*' */
    size_t path_len;
    int prefix;
    ch_route_fn fn;
    void *arg;
} route;

/* One accepted connection, as the listener keeps track of it. libevent
 * 2.1's evhttp has only an idle timeout (reset by every byte), so a client
 * that sends a header a byte at a time holds a connection for ever, and it
 * has no connection limit, so enough of them exhaust the descriptors (and
 * then evconnlistener spins on EMFILE). Each connection therefore gets a
 * deadline by which its next request must have arrived whole (headers and
 * body: http.request_timeout_s, counted from the accept or from the
 * previous answer), and the listener stops accepting at
 * http.max_connections. evhttp has no hook when it creates a connection,
 * only the bufferevent factory (bevcb): the connection is found from its
 * bufferevent, whose callback argument is evhttp's connection once
 * evhttp has set it up ("attached", on the next loop turn or at the first
 * dispatch, whichever comes first). A reference on the bufferevent keeps
 * it readable for that check until the connection is attached. */
typedef struct hconn {
    ch_http *h;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* NULL until attached */
    struct event *timer;             /* attach (0 s), then the request deadline */
    ch_req *deferred;                /* a deferred request waiting on it */
    int doomed;                      /* TLS could not be set up: close it */
    struct hconn *prev, *next;       /* all connections */
    struct hconn *hnext;             /* bucket chain, by bufferevent */
} hconn;

#define HCONN_BUCKETS 4096u

struct ch_http {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    int port;
    route *routes;
    size_t nroutes;
    ch_tls *tls;
    struct timeval request_timeout;
    const struct timeval *request_tv; /* libevent's common-timeout form */
    size_t max_conns;
    size_t nconns;
    hconn *conns;
    hconn *bucket[HCONN_BUCKETS];
    uint64_t at_once;                /* answers flush_now wrote whole */
    int paused;                      /* at max_conns: not accepting */
    int backoff;                     /* accept() failed: paused a moment */
    struct event *resume_ev;         /* ends the accept-error backoff */
    int64_t last_limit_log_ms;
    int64_t last_accept_log_ms;
};

struct ch_req {
    struct evhttp_request *ev;   /* NULL once the client has gone */
    hconn *conn;                 /* NULL once the connection has gone */
    char id[65];
    const char *method;
    char path[256];              /* routes are short; longer paths get 414 */
    int64_t start_ms;
    int deferred;                /* heap copy: freed by the reply */
};

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

/* A caller's X-Request-Id is kept when it is short and plain, so a trace can
 * cross systems; anything else is replaced. */
static int acceptable_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64) return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return n > 0;
}

static void finish(ch_req *r)
{
    if (!r->deferred) return;
    if (r->conn && r->conn->deferred == r) r->conn->deferred = NULL;
    /* The analyzer forgets that dispatch zeroed its stack request once r.id
     * is passed out; deferred is set only on ch_req_defer's heap copy. */
    free(r); // NOLINT(clang-analyzer-unix.Malloc)
}

/* --- connections: deadline, limit ------------------------------------------------ */

static size_t bucket_of(const struct bufferevent *bev)
{
    uintptr_t v = (uintptr_t)bev >> 4;
    return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 52) & (HCONN_BUCKETS - 1);
}

static hconn *conn_find(ch_http *h, const struct bufferevent *bev)
{
    for (hconn *c = h->bucket[bucket_of(bev)]; c; c = c->hnext)
        if (c->bev == bev) return c;
    return NULL;
}

static void listener_set(ch_http *h)
{
    if (!h->bound) return;
    struct evconnlistener *lev = evhttp_bound_socket_get_listener(h->bound);
    if (!lev) return;
    if (h->paused || h->backoff) evconnlistener_disable(lev);
    else evconnlistener_enable(lev);
}

static void conn_free(hconn *c)
{
    ch_http *h = c->h;
    hconn **pp = &h->bucket[bucket_of(c->bev)];
    while (*pp && *pp != c) pp = &(*pp)->hnext;
    if (*pp) *pp = c->hnext;
    if (c->prev) c->prev->next = c->next;
    else h->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->deferred) {
        c->deferred->ev = NULL; /* libevent frees the request with its connection */
        c->deferred->conn = NULL;
    }
    event_free(c->timer);
    if (!c->evcon) bufferevent_decref(c->bev); /* not attached: our reference */
    h->nconns--;
    if (h->paused && h->nconns < h->max_conns) {
        h->paused = 0;
        listener_set(h);
    }
    free(c);
}

/* evhttp frees the connection (client gone, error, timeout, our deadline). */
static void on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    conn_free(arg);
}

static void arm_deadline(hconn *c)
{
    evtimer_add(c->timer, c->h->request_tv);
}

static void attach(hconn *c, struct evhttp_connection *evcon)
{
    c->evcon = evcon;
    evhttp_connection_set_closecb(evcon, on_conn_closed, c);
    bufferevent_decref(c->bev); /* evhttp's connection owns it now */
    arm_deadline(c);
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hconn *c = arg;
    if (!c->evcon) {
        bufferevent_data_cb rcb = NULL;
        void *cbarg = NULL;
        bufferevent_getcb(c->bev, &rcb, NULL, NULL, &cbarg);
        if (!rcb || !cbarg) { /* evhttp dropped it before we looked */
            conn_free(c);
            return;
        }
        attach(c, cbarg);
        if (!c->doomed) return;
    } else if (ch_log_get_level() <= CH_LOG_DEBUG) {
        char *addr = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(c->evcon, &addr, &port);
        ch_log(CH_LOG_DEBUG, "http: no whole request within request_timeout_s, connection closed",
               "peer", addr ? addr : "", NULL);
    }
    evhttp_connection_free(c->evcon); /* calls on_conn_closed */
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    ch_http *h = arg;
    struct bufferevent *bev = NULL;
    int doomed = 0;
    if (h->tls) {
        bev = ch_tls_bev(h->tls, base);
        doomed = bev == NULL; /* never plain HTTP on the TLS port: closed at once */
    }
    if (!bev) bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) return NULL;
    hconn *c = ch_calloc(1, sizeof *c);
    c->h = h;
    c->bev = bev;
    c->doomed = doomed;
    c->timer = evtimer_new(base, on_conn_timer, c);
    if (!c->timer) abort();
    bufferevent_incref(bev);
    size_t b = bucket_of(bev);
    c->hnext = h->bucket[b];
    h->bucket[b] = c;
    c->next = h->conns;
    if (h->conns) h->conns->prev = c;
    h->conns = c;
    static const struct timeval now = {0, 0};
    evtimer_add(c->timer, &now);
    if (++h->nconns >= h->max_conns && !h->paused) {
        h->paused = 1;
        listener_set(h);
        int64_t t = ch_monotonic_ms();
        if (t - h->last_limit_log_ms >= 10000) {
            h->last_limit_log_ms = t;
            char n[24];
            snprintf(n, sizeof n, "%zu", h->max_conns);
            ch_log(CH_LOG_WARN, "http: connection limit reached, not accepting until one closes",
                   "max_connections", n, NULL);
        }
    }
    return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ch_http *h = arg;
    h->backoff = 0;
    listener_set(h);
}

/* accept() failed for another reason than "try again": out of descriptors
 * (EMFILE, ENFILE) or memory. The listening socket stays readable, so
 * without a pause the loop would spin on it. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)lev;
    ch_http *h = arg;
    int e = errno;
    h->backoff = 1;
    listener_set(h);
    static const struct timeval pause = {0, 250000};
    evtimer_add(h->resume_ev, &pause);
    int64_t t = ch_monotonic_ms();
    if (t - h->last_accept_log_ms >= 10000) {
        h->last_accept_log_ms = t;
        char n[24];
        snprintf(n, sizeof n, "%zu", h->nconns);
        ch_log(CH_LOG_WARN, "http: accept failed, pausing the listener", "error", strerror(e),
               "connections", n, NULL);
    }
}

static void respond_typed(ch_req *r, int status, const char *reason, const char *ctype,
                          const void *body, size_t len);

static void respond(ch_req *r, int status, const char *reason, const char *body,
                    size_t len)
{
    respond_typed(r, status, reason, "application/json", body, len);
}

/* The reply is written whole (evhttp calls this only then, while the
 * connection lives): the connection's next request has its own deadline
 * from now. Arming it before the write would count a slow reader's time
 * against the next request and cut a large answer short; a reader that
 * stops reading is evhttp's write timeout's (http.timeout_s). */
static void on_reply_sent(struct evhttp_request *req, void *arg)
{
    (void)req;
    hconn *c = arg;
    if (c->evcon) arm_deadline(c);
}

/* The Date header of an answer sent now (RFC 9110's IMF-fixdate). evhttp
 * would format one for every answer (gmtime and a printf); the text of the
 * current second is kept instead, per thread (each server runs on its
 * loop's thread). Day and month names are fixed, not the locale's. */
static const char *date_now(void)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static _Thread_local time_t at = -1;
    static _Thread_local char text[40];
    time_t now = time(NULL);
    if (now != at) {
        struct tm tm;
        if (!gmtime_r(&now, &tm)) return NULL;
        snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        at = now;
    }
    return text;
}

/* Inside evhttp's request callback on this thread, whichever server's:
 * an answer then waits for evhttp's own write (see flush_now). */
static _Thread_local int tl_dispatching;

/* An answer sent from outside evhttp's callbacks (a deferred request,
 * answered when Redis acknowledged its event) is written at once, and
 * evhttp told so, instead of on the next loop turn. evhttp enables the
 * connection's write event for the answer and, once the socket has taken
 * it all, disables it and enables reading again: with libevent's epoll
 * changelist both land in one turn here and cancel out, one epoll_ctl per
 * request fewer (three to two), and no wake-up for writability. The answer
 * is the same bytes through the same bufferevent; what the socket does not
 * take now, the bufferevent writes as before. Never inside evhttp's own
 * callback: evhttp's write callback may free the connection, and the
 * stack above us would still use it; never for TLS, whose bytes are not
 * the buffer's. */
static void flush_now(ch_http *h, struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || evbuffer_get_length(out) == 0) return;
    /* -1: EAGAIN, an error the bufferevent will meet itself, or a libevent
     * that keeps this buffer's drain locked to the bufferevent (2.1.12
     * unlocks it when evhttp attaches the socket; a later one may not, and
     * this is then a no-op: ch_http_answers_at_once stays 0). */
    if (evbuffer_write(out, fd) < 0) return;
    if (evbuffer_get_length(out) != 0) return; /* the rest on writability */
    h->at_once++;
    /* The write callback (evhttp's: the answer is sent, the connection
     * reads its next request or closes) runs now; it may free bev. */
    bufferevent_trigger(bev, EV_WRITE, 0);
}

uint64_t ch_http_answers_at_once(const ch_http *h) { return h->at_once; }

static void respond_typed(ch_req *r, int status, const char *reason, const char *ctype,
                          const void *body, size_t len)
{
    if (!r->ev) { finish(r); return; }
    ch_http *h = r->conn ? r->conn->h : NULL;
    struct bufferevent *now = h && r->conn->evcon && !tl_dispatching && !h->tls ? r->conn->bev : NULL;
    if (r->conn && r->conn->evcon) evhttp_request_set_on_complete_cb(r->ev, on_reply_sent, r->conn);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(out, "Content-Type", ctype);
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Request-Id", r->id);
    const char *date = date_now();
    if (date) evhttp_add_header(out, "Date", date); /* else evhttp writes its own */
    /* Straight into the request's own buffer: no buffer of ours to make,
     * move and free for every answer. */
    evbuffer_add(evhttp_request_get_output_buffer(r->ev), body, len);
    evhttp_send_reply(r->ev, status, reason, NULL);
    if (ch_log_get_level() <= CH_LOG_DEBUG) {
        char st[8], ms[24];
        snprintf(st, sizeof st, "%d", status);
        snprintf(ms, sizeof ms, "%lld", (long long)(ch_monotonic_ms() - r->start_ms));
        ch_log(CH_LOG_DEBUG, "http request", "req", r->id, "method", r->method,
               "path", r->path, "status", st, "ms", ms, NULL);
    }
    finish(r); /* before the flush: the connection may go with it */
    if (now) flush_now(h, now);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    }
    return status < 400 ? "OK" : "Error";
}

void ch_req_json(ch_req *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode response\"}}";
        respond(r, 500, "Internal Server Error", fallback, sizeof fallback - 1);
        return;
    }
    respond(r, status, reason_phrase(status), text, strlen(text));
    free(text);
}

void ch_req_error(ch_req *r, int status, const char *code, const char *message)
{
    ch_req_json(r, status, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code,
                                     "message", message, "request_id", r->id));
}

const char *ch_req_id(const ch_req *r) { return r->id; }
const char *ch_req_method(const ch_req *r) { return r->method; }
const char *ch_req_path(const ch_req *r) { return r->path; }

const char *ch_req_query(const ch_req *r)
{
    if (!r->ev) return "";
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    return q ? q : "";
}

const char *ch_req_header(const ch_req *r, const char *name)
{
    if (!r->ev) return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

void ch_req_headers_foreach(const ch_req *r, int (*fn)(const char *, const char *, void *),
                            void *arg)
{
    if (!r->ev) return;
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next)
        if (fn(kv->key, kv->value, arg)) return;
}

const uint8_t *ch_req_body(ch_req *r, size_t *len)
{
    static const uint8_t empty[1] = {0};
    *len = 0;
    if (!r->ev) return empty;
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t n = evbuffer_get_length(in);
    if (n == 0) return empty;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)n);
    *len = n;
    return p ? p : empty;
}

int64_t ch_req_received_ms(const ch_req *r) { return ch_monotonic_ms() - r->start_ms; }

ch_req *ch_req_defer(ch_req *r)
{
    ch_req *d = ch_malloc(sizeof *d);
    *d = *r;
    d->deferred = 1;
    r->ev = NULL; /* the stack copy can no longer answer */
    r->conn = NULL;
    if (d->conn) d->conn->deferred = d;
    return d;
}

int ch_req_gone(const ch_req *r) { return r->ev == NULL; }

void ch_req_drop(ch_req *r)
{
    if (r) finish(r);
}

const char *ch_req_peer(const ch_req *r)
{
    if (!r->ev) return "";
    struct evhttp_connection *c = evhttp_request_get_connection(r->ev);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (c) evhttp_connection_get_peer(c, &addr, &port);
    return addr ? addr : "";
}

void ch_req_add_header(ch_req *r, const char *name, const char *value)
{
    if (r->ev) evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

void ch_req_reply(ch_req *r, int status, const char *content_type, const void *body, size_t len)
{
    respond_typed(r, status, reason_phrase(status), content_type ? content_type : "text/plain",
                  body, len);
}

/* pass 0: exact routes; pass 1: prefix routes. */
static int route_matches(const route *rt, const char *path, int pass)
{
    if (pass == 0) return !rt->prefix && strcmp(rt->path, path) == 0;
    return rt->prefix && strncmp(rt->path, path, rt->path_len) == 0 && path[rt->path_len];
}

static void dispatch_request(ch_http *h, struct evhttp_request *ev);

/* evhttp's request callback: its stack holds the connection until we
 * return (see flush_now). */
static void dispatch(struct evhttp_request *ev, void *arg)
{
    tl_dispatching++;
    dispatch_request(arg, ev);
    tl_dispatching--;
}

static void dispatch_request(ch_http *h, struct evhttp_request *ev)
{
    ch_req r;
    memset(&r, 0, sizeof r);
    r.ev = ev;
    r.start_ms = ch_monotonic_ms();
    r.method = method_name(evhttp_request_get_command(ev));
    /* The request is whole: no deadline while a handler has it. */
    struct evhttp_connection *evc = evhttp_request_get_connection(ev);
    hconn *c = evc ? conn_find(h, evhttp_connection_get_bufferevent(evc)) : NULL;
    if (c) {
        if (!c->evcon) attach(c, evc);
        evtimer_del(c->timer);
        r.conn = c;
    }
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(ev), "X-Request-Id");
    if (given && acceptable_id(given)) snprintf(r.id, sizeof r.id, "%s", given);
    else ch_request_id(r.id);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path) path = "/";
    if (strlen(path) >= sizeof r.path) {
        snprintf(r.path, sizeof r.path, "(too long)");
        ch_req_error(&r, 414, "uri_too_long", "request path is too long");
        return;
    }
    snprintf(r.path, sizeof r.path, "%s", path);
    if (c && c->doomed) {
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
        ch_req_error(&r, 503, "busy", "cannot serve this connection");
        return;
    }

    /* Exact routes first; prefix routes only if no exact path matched. */
    int path_known = 0;
    for (int pass = 0; pass < 2 && !path_known; pass++) {
        for (size_t i = 0; i < h->nroutes; i++) {
            if (!route_matches(&h->routes[i], r.path, pass)) continue;
            path_known = 1;
            if (strcmp(h->routes[i].method, r.method) == 0 ||
                (strcmp(r.method, "HEAD") == 0 && strcmp(h->routes[i].method, "GET") == 0)) {
                h->routes[i].fn(&r, h->routes[i].arg);
                return;
            }
        }
    }
    if (path_known) {
        char allow[128] = "";
        int exact = 0;
        for (size_t i = 0; i < h->nroutes; i++) exact |= route_matches(&h->routes[i], r.path, 0);
        for (size_t i = 0; i < h->nroutes; i++) {
            if (!route_matches(&h->routes[i], r.path, exact ? 0 : 1)) continue;
            if (*allow) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
            strncat(allow, h->routes[i].method, sizeof allow - strlen(allow) - 1);
            if (strcmp(h->routes[i].method, "GET") == 0)
                strncat(allow, ", HEAD", sizeof allow - strlen(allow) - 1);
        }
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Allow", allow);
        ch_req_error(&r, 405, "method_not_allowed", "method not allowed on this path");
        return;
    }
    ch_req_error(&r, 404, "not_found", "no such route");
}

/* The connection limit must stay below the descriptor limit, or accept()
 * fails with EMFILE first: it is lowered to leave room for Redis, workers'
 * pipes and files. The limit is read, not raised: that is process-wide, the
 * program's to decide (c360d raises the soft limit to the hard one before
 * it creates its listener, daemon.c). */
static size_t fit_max_conns(size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want;
    if (rl.rlim_cur == RLIM_INFINITY) return want;
    size_t room = rl.rlim_cur > 512 ? (size_t)rl.rlim_cur - 256 : (size_t)rl.rlim_cur / 2;
    if (room < 16) room = 16;
    if (want > room) {
        char a[24], b[24];
        snprintf(a, sizeof a, "%zu", want);
        snprintf(b, sizeof b, "%zu", room);
        ch_log(CH_LOG_WARN, "http: max_connections lowered to fit the open-file limit",
               "configured", a, "effective", b, NULL);
        return room;
    }
    return want;
}

ch_http *ch_http_new(struct event_base *base, const ch_http_limits *lim)
{
    ch_http *h = ch_calloc(1, sizeof *h);
    h->base = base;
    h->http = evhttp_new(base);
    if (!h->http) abort();
    evhttp_set_max_body_size(h->http, (ev_ssize_t)lim->max_body);
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)lim->max_headers);
    /* An idle or stalled connection is closed after this (reset by every
     * byte: the request deadline below bounds a trickle). */
    evhttp_set_timeout(h->http, lim->timeout_s);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(h->http, dispatch, h);
    int rt = lim->request_timeout_s > 0 ? lim->request_timeout_s : CH_HTTP_REQUEST_TIMEOUT_S;
    h->request_timeout.tv_sec = rt;
    /* Thousands of connections share this duration: O(1) timer inserts. */
    h->request_tv = event_base_init_common_timeout(base, &h->request_timeout);
    if (!h->request_tv) h->request_tv = &h->request_timeout;
    h->max_conns = fit_max_conns(lim->max_connections > 0 ? lim->max_connections
                                                          : CH_HTTP_MAX_CONNECTIONS);
    h->resume_ev = evtimer_new(base, on_resume, h);
    if (!h->resume_ev) abort();
    evhttp_set_bevcb(h->http, make_bev, h);
    return h;
}

ch_err ch_http_listen(ch_http *h, const char *host, int port, char *err, size_t errcap)
{
    h->bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (!h->bound) {
        snprintf(err, errcap, "cannot listen on %s:%d (in use, or not a local address)", host, port);
        return CH_EIO;
    }
    struct evconnlistener *lev = evhttp_bound_socket_get_listener(h->bound);
    if (lev) evconnlistener_set_error_cb(lev, on_accept_error);
    listener_set(h);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(h->bound);
    /* evhttp listens with a backlog of 128: a burst of webhooks beyond it
     * has its SYNs dropped and retried a second later. Calling listen()
     * again raises it (capped by net.core.somaxconn). */
    listen(fd, 2048);
    /* Accepted sockets inherit TCP_NODELAY from the listener (Linux).
     * Without it, a response over one bufferevent write (16 KiB: a metrics
     * scrape, a long listing) ends in a short segment that Nagle holds
     * until the client's delayed ACK, 40 ms later. */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        ch_log(CH_LOG_WARN, "http: TCP_NODELAY not set on the listener; large responses may wait 40 ms",
               "error", strerror(errno), NULL);
    /* Zeroed: the analyzer does not see getsockname() fill it (glibc's
     * transparent-union sockaddr argument). */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl = sizeof ss;
    h->port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return CH_OK;
}

int ch_http_port(const ch_http *h) { return h->port; }

void ch_http_route(ch_http *h, const char *method, const char *path,
                   ch_route_fn fn, void *arg)
{
    h->routes = ch_realloc(h->routes, (h->nroutes + 1) * sizeof *h->routes);
    route *r = &h->routes[h->nroutes++];
    r->method = ch_strdup(method);
    size_t n = strlen(path);
    r->prefix = n >= 2 && path[n - 1] == '*' && path[n - 2] == '/';
    r->path = r->prefix ? ch_strndup(path, n - 1) : ch_strdup(path);
    r->path_len = strlen(r->path);
    r->fn = fn;
    r->arg = arg;
}

void ch_http_stop_accepting(ch_http *h)
{
    /* Without bound, listener_set leaves the listener alone for good. */
    if (h->bound) {
        evhttp_del_accept_socket(h->http, h->bound);
        h->bound = NULL;
    }
}

void ch_http_free(ch_http *h)
{
    if (!h) return;
    h->bound = NULL; /* evhttp_free frees it */
    evhttp_free(h->http); /* frees the attached connections (on_conn_closed) */
    for (hconn *c = h->conns, *next; c; c = next) { /* the ones not attached yet */
        next = c->next;
        conn_free(c);
    }
    event_free(h->resume_ev);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].path);
    }
    free(h->routes);
    ch_tls_free(h->tls);
    free(h);
}

ch_err ch_http_use_tls(ch_http *h, const char *cert_file, const char *key_file, char *err,
                       size_t errcap)
{
    ch_tls *t = ch_tls_new(cert_file, key_file, err, errcap);
    if (!t) return CH_ECONFIG;
    ch_tls_free(h->tls);
    h->tls = t; /* make_bev wraps every connection accepted from now on */
    return CH_OK;
}
