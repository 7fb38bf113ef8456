/* fake_common.h -- what every fake provider server shares: bind to
 * 127.0.0.1 (never another address), announce the port on stdout as
 * "port N" so a test can use port 0, stop cleanly on SIGTERM/SIGINT, read
 * request bodies and query parameters with bounds, and answer later (the
 * slow modes). Header-only so each fake stays one .c file. */
#ifndef C360_FAKE_COMMON_H
#define C360_FAKE_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define FAKE_BODY_MAX (1024 * 1024)

static struct event_base *fake_base;
static struct event *fake_sigs[2];

static void fake_on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    event_base_loopbreak(fake_base);
}

/* Parses "--port N" (0 = any free port). Returns the port or exits. */
static int fake_parse_port(const char *s)
{
    char *end;
    long p = strtol(s, &end, 10);
    if (*end || p < 0 || p > 65535) { fprintf(stderr, "bad port %s\n", s); exit(2); }
    return (int)p;
}

static long fake_parse_long(const char *what, const char *s, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max) { fprintf(stderr, "bad %s %s\n", what, s); exit(2); }
    return v;
}

/* Binds the server to 127.0.0.1:port, prints "port N", installs the signal
 * handlers. Exits on failure. */
static void fake_listen(struct evhttp *http, int port)
{
    /* Dies with the test that started it, even if the test is killed. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
    if (!bs) { fprintf(stderr, "cannot bind 127.0.0.1:%d\n", port); exit(1); }
    /* As c360d's listener (host/http.c): answers over 16 KiB are not held
     * 40 ms by Nagle against the client's delayed ACK. */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len) != 0) {
        perror("getsockname");
        exit(1);
    }
    printf("port %d\n", ntohs(sin.sin_port));
    fflush(stdout);
    fake_sigs[0] = evsignal_new(fake_base, SIGTERM, fake_on_signal, NULL);
    fake_sigs[1] = evsignal_new(fake_base, SIGINT, fake_on_signal, NULL);
    event_add(fake_sigs[0], NULL);
    event_add(fake_sigs[1], NULL);
}

/* After the loop: frees what fake_listen made. */
static void fake_close(void)
{
    for (int i = 0; i < 2; i++)
        if (fake_sigs[i]) event_free(fake_sigs[i]);
}

/* The request body as a NUL-terminated string (at most FAKE_BODY_MAX
 * bytes; longer bodies are cut). free() it. */
static char *fake_body(struct evhttp_request *req, size_t *len_out)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n > FAKE_BODY_MAX) n = FAKE_BODY_MAX;
    char *b = malloc(n + 1);
    if (!b) abort();
    evbuffer_copyout(in, b, n);
    b[n] = '\0';
    if (len_out) *len_out = n;
    return b;
}

/* Looks up a query parameter of the request URI (decoded). Returns a
 * malloc'd copy or NULL. */
static char *fake_query_param(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    if (!q) return NULL;
    struct evkeyvalq kv;
    if (evhttp_parse_query_str(q, &kv) != 0) return NULL;
    const char *v = evhttp_find_header(&kv, name);
    char *out = v ? strdup(v) : NULL;
    evhttp_clear_headers(&kv);
    return out;
}

static void fake_reply(struct evhttp_request *req, int code, const char *ctype, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, code, code < 400 ? "OK" : "Error", out);
    evbuffer_free(out);
}

/* Serves until SIGTERM/SIGINT: an evhttp on a new fake_base, allowing
 * `methods` (EVHTTP_REQ_* bits) and bodies up to FAKE_BODY_MAX, every
 * request to cb, bound and announced by fake_listen; all freed after. */
static void fake_serve(int port, ev_uint16_t methods,
                       void (*cb)(struct evhttp_request *, void *))
{
    signal(SIGPIPE, SIG_IGN);
    fake_base = event_base_new();
    struct evhttp *http = evhttp_new(fake_base);
    evhttp_set_allowed_methods(http, methods);
    evhttp_set_max_body_size(http, FAKE_BODY_MAX);
    evhttp_set_gencb(http, cb, NULL);
    fake_listen(http, port);
    event_base_dispatch(fake_base);
    evhttp_free(http);
    fake_close();
    event_base_free(fake_base);
}

/* A reply owed later. The connection may close first (the client timed
 * out): libevent then frees the request, and the close callback drops the
 * reply with its timer. */
typedef struct fake_later {
    struct evhttp_request *req;
    struct event *timer;
    void (*send)(struct evhttp_request *req, void *arg);
    void (*release)(void *arg);
    void *arg;
} fake_later;

static void fake_later_free(fake_later *l)
{
    event_free(l->timer);
    if (l->release) l->release(l->arg);
    free(l);
}

static void fake_later_on_close(struct evhttp_connection *c, void *arg)
{
    (void)c;
    fake_later_free(arg);
}

static void fake_later_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    fake_later *l = arg;
    evhttp_connection_set_closecb(evhttp_request_get_connection(l->req), NULL, NULL);
    l->send(l->req, l->arg);
    fake_later_free(l);
}

/* Answers req after delay_ms with send(req, arg), the server serving
 * others meanwhile; release(arg) (may be NULL) runs afterwards, or alone
 * when the client leaves first. */
static void fake_reply_later(struct evhttp_request *req, long delay_ms,
                             void (*send)(struct evhttp_request *, void *),
                             void (*release)(void *), void *arg)
{
    fake_later *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->req = req;
    l->send = send;
    l->release = release;
    l->arg = arg;
    l->timer = evtimer_new(fake_base, fake_later_on_timer, l);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), fake_later_on_close, l);
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(l->timer, &tv);
}

#endif
