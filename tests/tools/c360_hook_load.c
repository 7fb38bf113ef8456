/* c360_hook_load.c -- c360-hook-load: sends N distinct signed webhook
 * events to one URL (the tsrc test plugin's format), paced, over a few
 * keep-alive connections, and records which ones were answered 200. The
 * pipeline tests' invariant is "every event answered 200 is delivered", so
 * what matters is the exact set of 200s: each event is sent once, never
 * retried, and its id goes to --ok-file only on a 200.
 *
 *   c360-hook-load --url URL --secret S --count N [--prefix P] [--start I]
 *                  [--rate R] [--concurrency C] [--group G] [--route K]
 *                  [--action A] [--timeout-ms T] [--ok-file F]
 *   c360-hook-load --sign SECRET BODY
 *                  prints "sha256=<hex HMAC-SHA256 of BODY with SECRET>", the
 *                  x-tsrc-signature value, for tests that send one request
 *                  with curl (so no test needs openssl)
 *
 * Event i (I <= i < I+N) has the body
 *   {"id":"<P><i>","n":<i>,"sent_ms":<unix ms>,"group":"<G>"[,"route":"<K>"][,"action":"<A>"]}
 * signed as tsrc expects: header x-tsrc-signature: sha256=<hex HMAC-SHA256
 * of the raw body with S>. sent_ms lets the sink measure event-to-delivery
 * latency. --rate paces the starts (events per second, 0 = as fast as the
 * C connections go); a connection that fails (host down) is reopened for
 * the next event, so a load keeps going through a restart. Prints one JSON
 * line: {"sent":..,"ok":..,"status":{"<code>":n,...},"failed":..,
 *        "elapsed_ms":..,"p50_ms":..,"p99_ms":..,"max_ms":..}
 * (failed: no HTTP answer at all). Exit 0 when every event got an answer or
 * failed cleanly; 2 on usage errors. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#define MAX_CONC 256
#define MAX_COUNT 10000000L

typedef struct opts {
    const char *url, *secret, *prefix, *group, *route, *action, *ok_file;
    long count, start, concurrency, timeout_ms;
    double rate;
} opts;

typedef struct slot {
    struct evhttp_connection *conn;
    bool busy;
    long idx;
    int64_t t0_us;
} slot;

static opts g_o = {.prefix = "ev-", .group = "a", .count = 0, .concurrency = 8,
                   .timeout_ms = 5000};
static struct event_base *g_base;
static struct evhttp_uri *g_uri;
static const char *g_host;
static int g_port;
static char g_path[2048];
static slot g_slots[MAX_CONC];
static long g_next, g_done, g_ok, g_failed;
static long g_status[600];
static int64_t *g_lat_us;
static size_t g_nlat;
static FILE *g_okf;
static struct event *g_pace;
static int64_t g_start_us;
static volatile sig_atomic_t g_stop;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void usage(void)
{
    fputs("usage: c360-hook-load --url URL --secret S --count N [--prefix P] [--start I]\n"
          "         [--rate R] [--concurrency C] [--group G] [--route K] [--action A]\n"
          "         [--timeout-ms T] [--ok-file F]\n", stderr);
    exit(2);
}

static long num(const char *what, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "c360-hook-load: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static void maybe_finish(void);
static void send_next(slot *s);
static void signature(const char *secret, const void *body, size_t len, char out[72]);

static void on_reply(struct evhttp_request *req, void *arg)
{
    slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    s->busy = false;
    g_done++;
    if (code <= 0 || code >= 600) {
        g_failed++;
    } else {
        g_status[code]++;
        g_lat_us[g_nlat++] = now_us() - s->t0_us;
        if (code == 200) {
            g_ok++;
            if (g_okf) fprintf(g_okf, "%s%ld\n", g_o.prefix, s->idx);
        }
    }
    /* Without pacing, the connection goes straight on with the next event;
     * with pacing, the timer hands events to free connections. */
    if (g_o.rate <= 0) send_next(s);
    maybe_finish();
}

static void send_next(slot *s)
{
    if (g_stop || g_next >= g_o.start + g_o.count) return;
    long i = g_next++;
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "{\"id\":\"%s%ld\",\"n\":%ld,\"sent_ms\":%" PRId64 ",\"group\":\"%s\"",
                     g_o.prefix, i, i, wall_ms(), g_o.group);
    if (g_o.route) n += snprintf(body + n, sizeof body - (size_t)n, ",\"route\":\"%s\"", g_o.route);
    if (g_o.action) n += snprintf(body + n, sizeof body - (size_t)n, ",\"action\":\"%s\"", g_o.action);
    n += snprintf(body + n, sizeof body - (size_t)n, "}");
    char sig[72];
    signature(g_o.secret, body, (size_t)n, sig);

    if (!s->conn) {
        s->conn = evhttp_connection_base_new(g_base, NULL, g_host, (ev_uint16_t)g_port);
        if (!s->conn) abort();
        struct timeval tv = {g_o.timeout_ms / 1000, (g_o.timeout_ms % 1000) * 1000};
        evhttp_connection_set_timeout_tv(s->conn, &tv);
    }
    struct evhttp_request *req = evhttp_request_new(on_reply, s);
    if (!req) abort();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", g_host, g_port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "X-Tsrc-Signature", sig);
    evbuffer_add(evhttp_request_get_output_buffer(req), body, (size_t)n);
    s->busy = true;
    s->idx = i;
    s->t0_us = now_us();
    if (evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, g_path) != 0) {
        /* The request was freed by libevent: count it as failed. */
        s->busy = false;
        g_done++;
        g_failed++;
        maybe_finish();
    }
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    /* Catch up to where the schedule says we should be, one free
     * connection per event; events beyond the free connections wait. */
    double elapsed_s = (double)(now_us() - g_start_us) / 1e6;
    long due = g_o.start + (long)(elapsed_s * g_o.rate) + 1;
    for (int k = 0; k < g_o.concurrency && g_next < due; k++)
        if (!g_slots[k].busy) send_next(&g_slots[k]);
    maybe_finish();
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    g_stop = 1;
    maybe_finish();
}

static void maybe_finish(void)
{
    long sent = g_next - g_o.start;
    if (g_done < sent) return;
    if (!g_stop && g_next < g_o.start + g_o.count) return;
    event_base_loopexit(g_base, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void signature(const char *secret, const void *body, size_t len, char out[72])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, body, (unsigned long long)len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 65, mac, sizeof mac);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--sign") == 0) {
        if (sodium_init() < 0) return 1;
        char sig[72];
        signature(argv[2], argv[3], strlen(argv[3]), sig);
        printf("%s\n", sig);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--url") == 0) g_o.url = v;
        else if (strcmp(a, "--secret") == 0) g_o.secret = v;
        else if (strcmp(a, "--count") == 0) g_o.count = num("count", v, 1, MAX_COUNT);
        else if (strcmp(a, "--start") == 0) g_o.start = num("start", v, 0, MAX_COUNT * 100);
        else if (strcmp(a, "--prefix") == 0) g_o.prefix = v;
        else if (strcmp(a, "--group") == 0) g_o.group = v;
        else if (strcmp(a, "--route") == 0) g_o.route = v;
        else if (strcmp(a, "--action") == 0) g_o.action = v;
        else if (strcmp(a, "--ok-file") == 0) g_o.ok_file = v;
        else if (strcmp(a, "--rate") == 0) g_o.rate = (double)num("rate", v, 0, 1000000);
        else if (strcmp(a, "--concurrency") == 0) g_o.concurrency = num("concurrency", v, 1, MAX_CONC);
        else if (strcmp(a, "--timeout-ms") == 0) g_o.timeout_ms = num("timeout-ms", v, 100, 600000);
        else usage();
        i++;
    }
    if (!g_o.url || !g_o.secret || g_o.count <= 0) usage();
    /* Values go into JSON unescaped: keep them to characters that need no
     * escaping. */
    const char *const fields[] = {g_o.prefix, g_o.group, g_o.route, g_o.action};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        for (const char *p = fields[k]; p && *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
                fprintf(stderr, "c360-hook-load: prefix, group, route and action must not need JSON escapes\n");
                return 2;
            }
    if (sodium_init() < 0) return 1;
    g_uri = evhttp_uri_parse(g_o.url);
    if (!g_uri || !evhttp_uri_get_host(g_uri) || evhttp_uri_get_port(g_uri) <= 0) {
        fprintf(stderr, "c360-hook-load: --url must be http://HOST:PORT/path\n");
        return 2;
    }
    g_host = evhttp_uri_get_host(g_uri);
    g_port = evhttp_uri_get_port(g_uri);
    const char *p = evhttp_uri_get_path(g_uri), *q = evhttp_uri_get_query(g_uri);
    snprintf(g_path, sizeof g_path, "%s%s%s", p && *p ? p : "/", q ? "?" : "", q ? q : "");
    if (g_o.ok_file && !(g_okf = fopen(g_o.ok_file, "w"))) {
        perror(g_o.ok_file);
        return 1;
    }
    g_lat_us = calloc((size_t)g_o.count, sizeof *g_lat_us);
    if (!g_lat_us) abort();
    signal(SIGPIPE, SIG_IGN);
    g_base = event_base_new();
    struct event *sig_term = evsignal_new(g_base, SIGTERM, on_signal, NULL);
    struct event *sig_int = evsignal_new(g_base, SIGINT, on_signal, NULL);
    event_add(sig_term, NULL);
    event_add(sig_int, NULL);
    g_next = g_o.start;
    g_start_us = now_us();
    if (g_o.rate > 0) {
        g_pace = event_new(g_base, -1, EV_PERSIST, on_pace, NULL);
        struct timeval tv = {0, 2000};
        event_add(g_pace, &tv);
        on_pace(-1, 0, NULL);
    } else {
        for (int k = 0; k < g_o.concurrency; k++) send_next(&g_slots[k]);
    }
    event_base_dispatch(g_base);
    int64_t elapsed_ms = (now_us() - g_start_us) / 1000;

    qsort(g_lat_us, g_nlat, sizeof *g_lat_us, cmp_i64);
    size_t i50 = g_nlat ? (g_nlat * 50 + 99) / 100 - 1 : 0, i99 = g_nlat ? (g_nlat * 99 + 99) / 100 - 1 : 0;
    printf("{\"sent\":%ld,\"ok\":%ld,\"status\":{", g_next - g_o.start, g_ok);
    const char *sep = "";
    for (int c = 0; c < 600; c++)
        if (g_status[c]) { printf("%s\"%d\":%ld", sep, c, g_status[c]); sep = ","; }
    printf("},\"failed\":%ld,\"elapsed_ms\":%" PRId64 ",\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
           g_failed, elapsed_ms, g_nlat ? (double)g_lat_us[i50] / 1000 : 0.0,
           g_nlat ? (double)g_lat_us[i99] / 1000 : 0.0,
           g_nlat ? (double)g_lat_us[g_nlat - 1] / 1000 : 0.0);

    if (g_okf && fclose(g_okf) != 0) perror(g_o.ok_file);
    for (int k = 0; k < MAX_CONC; k++)
        if (g_slots[k].conn) evhttp_connection_free(g_slots[k].conn);
    if (g_pace) event_free(g_pace);
    event_free(sig_term);
    event_free(sig_int);
    event_base_free(g_base);
    evhttp_uri_free(g_uri);
    free(g_lat_us);
    return 0;
}
