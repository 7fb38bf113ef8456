/* min_ingress.c -- c360-bench-min-ingress: the smallest webhook ingress
 * that is both verified and durable, as the baseline c360d's ingress is
 * measured against (issue 4, Benchmark). Built from the same libraries as
 * c360d, on one event loop:
 *
 *   evhttp request -> HMAC-SHA256 over the raw body with c360d's own
 *   prepared key (crypto.h: the SHA extensions where the CPU has them,
 *   else libsodium -- so the ratio is the host's work, not a hash), compared
 *   in constant time with x-tsrc-signature: sha256=<hex> (tsrc's scheme;
 *   --header X-Hub-Signature-256 checks Meta's, which has the same form)
 *   -> async XADD <stream> * b <body> t <ms> (hiredis on the same loop)
 *   -> 200 only after Redis acknowledged the entry.
 *
 * Bad signature: 401, nothing stored. Redis unreachable or an error
 * reply: 503 (never 200). Nothing else: no routing, no dedup, no
 * headers kept, no request ids -- so the difference to c360d is what the
 * host's own work costs.
 *
 *   c360-bench-min-ingress --secret S [--port N] [--redis HOST:PORT]
 *                          [--stream KEY] [--header NAME]
 * prints "port N" once listening (and connected to Redis). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "crypto.h"

#include "bench_common.h"

#define SIG_PREFIX "sha256="

static const char *g_secret;
static struct c360_hmac_key *g_key; /* g_secret's, prepared once (as c360d's meta plugin) */
static const char *g_stream = "bench:ev";
static const char *g_header = "X-Tsrc-Signature";
static char g_redis_host[256] = "127.0.0.1";
static int g_redis_port = 6379;
static redisAsyncContext *g_redis; /* NULL while disconnected */
static struct event *g_reconnect;
static struct evbuffer *g_out;

/* A request waiting for Redis. The client may leave first: then libevent
 * frees the request with its connection and the close callback clears
 * req, so the Redis reply only frees this. */
typedef struct pending {
    struct evhttp_request *req;
} pending;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *body)
{
    evbuffer_add(g_out, body, strlen(body));
    evhttp_send_reply(req, code, reason, g_out);
}

static void on_conn_close(struct evhttp_connection *c, void *arg)
{
    (void)c;
    pending *p = arg;
    p->req = NULL;
}

static void on_xadd(redisAsyncContext *ac, void *r, void *arg)
{
    (void)ac;
    redisReply *rep = r;
    pending *p = arg;
    if (p->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
        /* A stream id is a string reply; anything else (an error reply,
         * or NULL when the connection dropped) was not stored. */
        if (rep && rep->type == REDIS_REPLY_STRING)
            reply(p->req, 200, "OK", "ok");
        else
            reply(p->req, 503, "Service Unavailable", "store unavailable");
    }
    free(p);
}

static bool signature_ok(struct evhttp_request *req, const unsigned char *body, size_t len)
{
    const char *sig = evhttp_find_header(evhttp_request_get_input_headers(req), g_header);
    unsigned char given[crypto_auth_hmacsha256_BYTES], want[crypto_auth_hmacsha256_BYTES];
    size_t glen = 0;
    if (!sig || strncmp(sig, SIG_PREFIX, strlen(SIG_PREFIX)) != 0) return false;
    const char *hex = sig + strlen(SIG_PREFIX);
    if (strlen(hex) != 2 * sizeof given ||
        sodium_hex2bin(given, sizeof given, hex, strlen(hex), NULL, &glen, NULL) != 0 ||
        glen != sizeof given)
        return false;
    ch_hmac_sha256_keyed(g_key, body, len, want);
    return sodium_memcmp(given, want, sizeof want) == 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply(req, 405, "Method Not Allowed", "POST only");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const unsigned char *body = len ? evbuffer_pullup(in, (ev_ssize_t)len) : (const unsigned char *)"";
    if (!signature_ok(req, body, len)) {
        reply(req, 401, "Unauthorized", "bad signature");
        return;
    }
    if (!g_redis) {
        reply(req, 503, "Service Unavailable", "store unavailable");
        return;
    }
    char t[24];
    int tl = snprintf(t, sizeof t, "%" PRId64, now_ms());
    const char *argv[] = {"XADD", g_stream, "*", "b", (const char *)body, "t", t};
    const size_t lens[] = {4, strlen(g_stream), 1, 1, len, 1, (size_t)tl};
    pending *p = malloc(sizeof *p);
    if (!p) abort();
    p->req = req;
    if (redisAsyncCommandArgv(g_redis, on_xadd, p, 7, argv, lens) != REDIS_OK) {
        free(p);
        reply(req, 503, "Service Unavailable", "store unavailable");
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, p);
}

static void connect_redis(void);

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    connect_redis();
}

static void schedule_reconnect(void)
{
    struct timeval tv = {0, 200 * 1000};
    evtimer_add(g_reconnect, &tv);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        fprintf(stderr, "min_ingress: redis connect: %s\n", ac->errstr);
        g_redis = NULL; /* hiredis frees the context */
        schedule_reconnect();
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    if (status != REDIS_OK) fprintf(stderr, "min_ingress: redis lost\n");
    g_redis = NULL;
    schedule_reconnect();
}

static void connect_redis(void)
{
    redisAsyncContext *ac = redisAsyncConnect(g_redis_host, g_redis_port);
    if (!ac || ac->err) {
        fprintf(stderr, "min_ingress: redis: %s\n", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }
    redisLibeventAttach(ac, bench_base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    g_redis = ac;
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (strcmp(a, "--port") == 0) port = bench_port_arg(v);
        else if (strcmp(a, "--secret") == 0) g_secret = v;
        else if (strcmp(a, "--stream") == 0) g_stream = v;
        else if (strcmp(a, "--header") == 0) g_header = v;
        else if (strcmp(a, "--redis") == 0) {
            const char *colon = strrchr(v, ':');
            if (!colon || (size_t)(colon - v) >= sizeof g_redis_host) goto usage;
            memcpy(g_redis_host, v, (size_t)(colon - v));
            g_redis_host[colon - v] = '\0';
            g_redis_port = bench_port_arg(colon + 1);
        } else goto usage;
        i++;
    }
    if (!g_secret) goto usage;
    if (sodium_init() < 0) return 1;
    g_key = ch_hmac_key_new(g_secret, strlen(g_secret));
    if (!g_key) return 1;
    signal(SIGPIPE, SIG_IGN);
    bench_base = event_base_new();
    g_out = evbuffer_new();
    g_reconnect = evtimer_new(bench_base, on_reconnect, NULL);
    connect_redis();
    struct evhttp *http = evhttp_new(bench_base);
    evhttp_set_max_body_size(http, 1024 * 1024);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, NULL);
    bench_listen(http, port);
    event_base_dispatch(bench_base);
    evhttp_free(http);
    if (g_redis) redisAsyncFree(g_redis); /* replies owed get NULL: freed */
    event_free(g_reconnect);
    evbuffer_free(g_out);
    ch_hmac_key_free(g_key);
    bench_close();
    event_base_free(bench_base);
    return 0;
usage:
    fprintf(stderr, "usage: c360-bench-min-ingress --secret S [--port N] [--redis HOST:PORT] [--stream KEY] [--header NAME]\n");
    return 2;
}
