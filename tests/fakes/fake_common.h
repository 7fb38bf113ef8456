/* fake_common.h -- what every fake provider server shares: bind to
 * 127.0.0.1 (never another address), announce the port on stdout as
 * "port N" so a test can use port 0, stop cleanly on SIGTERM/SIGINT, and
 * read request bodies and query parameters with bounds. Header-only so each
 * fake stays one .c file. */
#ifndef C360_FAKE_COMMON_H
#define C360_FAKE_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>

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

#endif
