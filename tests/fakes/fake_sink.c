/* fake_sink -- a delivery destination for the pipeline tests: the customer
 * system that the tdst test plugin POSTs records to.
 *
 *   fake_sink [--port N] [--slow-ms T]
 *                                 N = 0 (default): a free port; T: the
 *                                 delay of mode slow (default 2000)
 *
 * prints "port N" once listening. Endpoints:
 *   POST <any other path>   a delivery: kept in memory by its
 *                           Idempotency-Key header (first body, receive
 *                           time, counts); answered by the current mode
 *   POST /control?mode=M[&count=N][&ms=T][&retry_after=S]
 *                           M = ok | 500 | 429 | 400 | slow. With count,
 *                           the next N deliveries get M, then ok again;
 *                           without, M holds until changed. slow answers
 *                           200 after T ms (default 2000); 429 sends
 *                           Retry-After: S (default 1)
 *   POST /reset             forgets every delivery, back to mode ok
 *   GET  /stats[?prefix=P][&keys=0]
 *                           {"requests":..,"ok":..,"distinct":..,"no_key":..,
 *                            "dups":..,"mode":"..","keys":{"k":n,...},
 *                            "latency_ms":{"count":..,"p50":..,"p90":..,
 *                            "p99":..,"max":..}}
 *                           over the keys starting with P. keys maps each
 *                           key to its count of 2xx answers; "distinct"
 *                           counts keys answered 2xx at least once; "dups"
 *                           the 2xx answers beyond the first per key.
 *                           latency: for bodies holding a number "sent_ms"
 *                           (Unix ms, set by the event's sender), receive
 *                           time of the first 2xx delivery minus sent_ms --
 *                           the event-to-delivery latency of the pipeline
 *   GET  /records[?prefix=P]
 *                           [{"key":..,"n":..,"first_ms":..,"body":..}...]
 *                           (body parsed when it is JSON, else a string;
 *                           first 4 KiB)
 * "Delivered" means a 2xx was sent: a delivery answered with an error, or
 * whose client left before a slow answer, counts only in "requests". */
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include <jansson.h>

#include "fake_common.h"

#define SINK_BODY_KEEP 4096

typedef struct entry {
    char *key;
    long received;  /* POSTs with this key */
    long ok;        /* 2xx answers */
    int64_t first_ok_ms;
    int64_t latency_ms; /* -1: body had no sent_ms */
    char *body;     /* first body received, cut at SINK_BODY_KEEP */
    struct entry *next;
} entry;

static entry **g_tab;
static size_t g_cap = 1024, g_count;
static long g_requests, g_no_key;

enum mode { M_OK, M_500, M_429, M_400, M_SLOW };
static const char *const mode_names[] = {"ok", "500", "429", "400", "slow"};
static enum mode g_mode = M_OK;
static long g_mode_left = -1; /* -1: until changed */
static long g_slow_ms = 2000, g_retry_after_s = 1;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void tab_grow(void)
{
    size_t ncap = g_cap * 2;
    entry **n = calloc(ncap, sizeof *n);
    if (!n) abort();
    for (size_t i = 0; i < g_cap; i++) {
        for (entry *e = g_tab[i], *nx; e; e = nx) {
            nx = e->next;
            size_t b = hash(e->key) & (ncap - 1);
            e->next = n[b];
            n[b] = e;
        }
    }
    free(g_tab);
    g_tab = n;
    g_cap = ncap;
}

static entry *tab_get(const char *key)
{
    size_t b = hash(key) & (g_cap - 1);
    for (entry *e = g_tab[b]; e; e = e->next)
        if (strcmp(e->key, key) == 0) return e;
    if (g_count + 1 > g_cap * 3 / 4) {
        tab_grow();
        b = hash(key) & (g_cap - 1);
    }
    entry *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->key = strdup(key);
    if (!e->key) abort();
    e->latency_ms = -1;
    e->next = g_tab[b];
    g_tab[b] = e;
    g_count++;
    return e;
}

static void tab_clear(void)
{
    for (size_t i = 0; i < g_cap; i++) {
        for (entry *e = g_tab[i], *nx; e; e = nx) {
            nx = e->next;
            free(e->key);
            free(e->body);
            free(e);
        }
        g_tab[i] = NULL;
    }
    g_count = 0;
    g_requests = g_no_key = 0;
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

/* A number only if the whole text is one: the sink must not die of a
 * test's typo. */
static bool parse_num(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* The delivery answered 2xx now: counted, with its latency the first time. */
static void mark_ok(const char *key)
{
    if (!key) return;
    entry *e = tab_get(key);
    if (e->ok++ == 0) {
        e->first_ok_ms = now_ms();
        if (e->body) {
            json_t *j = json_loads(e->body, 0, NULL);
            json_t *sent = json_object_get(j, "sent_ms");
            if (json_is_integer(sent)) e->latency_ms = e->first_ok_ms - json_integer_value(sent);
            json_decref(j);
        }
    }
}

/* The slow answer: counted when it is sent; arg is the key (or NULL). */
static void slow_ok(struct evhttp_request *req, void *arg)
{
    mark_ok(arg);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void on_delivery(struct evhttp_request *req)
{
    g_requests++;
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    if (!key) g_no_key++;
    if (key) {
        entry *e = tab_get(key);
        e->received++;
        if (!e->body) {
            size_t n;
            e->body = fake_body(req, &n);
            if (n > SINK_BODY_KEEP) e->body[SINK_BODY_KEEP] = '\0';
        }
    }
    enum mode m = g_mode;
    if (g_mode_left > 0 && --g_mode_left == 0) {
        g_mode = M_OK;
        g_mode_left = -1;
    }
    switch (m) {
    case M_500:
        fake_reply(req, 500, "application/json", "{\"error\":\"sink told to fail\"}");
        return;
    case M_400:
        fake_reply(req, 400, "application/json", "{\"error\":\"sink told to refuse\"}");
        return;
    case M_429: {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", g_retry_after_s);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        fake_reply(req, 429, "application/json", "{\"error\":\"slow down\"}");
        return;
    }
    case M_SLOW:
        fake_reply_later(req, g_slow_ms, slow_ok, free, key ? strdup(key) : NULL);
        return;
    case M_OK:
        break;
    }
    mark_ok(key);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void on_control(struct evhttp_request *req)
{
    char *m = fake_query_param(req, "mode"), *count = fake_query_param(req, "count");
    char *ms = fake_query_param(req, "ms"), *ra = fake_query_param(req, "retry_after");
    int found = -1;
    for (int i = 0; m && i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
        if (strcmp(m, mode_names[i]) == 0) found = i;
    long c = -1, slow = g_slow_ms, after = g_retry_after_s;
    bool ok = found >= 0 && (!count || parse_num(count, 1, 1000000000, &c)) &&
              (!ms || parse_num(ms, 0, 600000, &slow)) && (!ra || parse_num(ra, 0, 3600, &after));
    free(m); free(count); free(ms); free(ra);
    if (!ok) {
        fake_reply(req, 400, "application/json", "{\"error\":\"bad control\"}");
        return;
    }
    g_mode = (enum mode)found;
    g_mode_left = c;
    g_slow_ms = slow;
    g_retry_after_s = after;
    send_json(req, 200, json_pack("{s:s,s:I}", "mode", mode_names[g_mode], "count", (json_int_t)c));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static json_int_t pct(const int64_t *v, size_t n, int p)
{
    if (n == 0) return 0;
    size_t i = (n * (size_t)p + 99) / 100; /* nearest rank */
    return (json_int_t)v[i ? i - 1 : 0];
}

static void on_stats(struct evhttp_request *req)
{
    char *prefix = fake_query_param(req, "prefix"), *keys = fake_query_param(req, "keys");
    size_t plen = prefix ? strlen(prefix) : 0;
    bool with_keys = !keys || strcmp(keys, "0") != 0;
    json_t *km = json_object();
    long distinct = 0, oks = 0, dups = 0, received = 0;
    int64_t *lat = malloc((g_count + 1) * sizeof *lat);
    size_t nlat = 0;
    if (!lat) abort();
    for (size_t i = 0; i < g_cap; i++) {
        for (entry *e = g_tab[i]; e; e = e->next) {
            if (plen && strncmp(e->key, prefix, plen) != 0) continue;
            received += e->received;
            if (e->ok == 0) continue;
            distinct++;
            oks += e->ok;
            dups += e->ok - 1;
            if (e->latency_ms >= 0) lat[nlat++] = e->latency_ms;
            if (with_keys) json_object_set_new(km, e->key, json_integer(e->ok));
        }
    }
    qsort(lat, nlat, sizeof *lat, cmp_i64);
    json_t *l = json_pack("{s:I,s:I,s:I,s:I,s:I}", "count", (json_int_t)nlat, "p50", pct(lat, nlat, 50),
                          "p90", pct(lat, nlat, 90), "p99", pct(lat, nlat, 99), "max",
                          nlat ? (json_int_t)lat[nlat - 1] : 0);
    free(lat);
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:o}", "requests", (json_int_t)g_requests,
                          "received", (json_int_t)received, "ok", (json_int_t)oks,
                          "distinct", (json_int_t)distinct, "dups", (json_int_t)dups,
                          "no_key", (json_int_t)g_no_key, "mode", mode_names[g_mode],
                          "latency_ms", l);
    if (with_keys) json_object_set_new(j, "keys", km);
    else json_decref(km);
    free(prefix);
    free(keys);
    send_json(req, 200, j);
}

static void on_records(struct evhttp_request *req)
{
    char *prefix = fake_query_param(req, "prefix");
    size_t plen = prefix ? strlen(prefix) : 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < g_cap; i++) {
        for (entry *e = g_tab[i]; e; e = e->next) {
            if (plen && strncmp(e->key, prefix, plen) != 0) continue;
            json_t *b = e->body ? json_loads(e->body, 0, NULL) : NULL;
            if (!b) b = e->body ? json_string(e->body) : json_null();
            if (!b) b = json_null(); /* not UTF-8 */
            json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:I,s:o}", "key", e->key,
                                                 "n", (json_int_t)e->ok, "received",
                                                 (json_int_t)e->received, "first_ms",
                                                 (json_int_t)e->first_ok_ms, "body", b));
        }
    }
    free(prefix);
    send_json(req, 200, arr);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET && strcmp(path, "/stats") == 0) on_stats(req);
    else if (cmd == EVHTTP_REQ_GET && strcmp(path, "/records") == 0) on_records(req);
    else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/control") == 0) on_control(req);
    else if (cmd == EVHTTP_REQ_POST && strcmp(path, "/reset") == 0) {
        tab_clear();
        g_mode = M_OK;
        g_mode_left = -1;
        fake_reply(req, 200, "application/json", "{\"ok\":true}");
    } else if (cmd == EVHTTP_REQ_POST) on_delivery(req);
    else fake_reply(req, 405, "application/json", "{\"error\":\"method\"}");
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = fake_parse_port(argv[++i]);
        else if (strcmp(argv[i], "--slow-ms") == 0 && i + 1 < argc)
            g_slow_ms = fake_parse_long("--slow-ms", argv[++i], 0, 600000);
        else { fprintf(stderr, "usage: fake_sink [--port N] [--slow-ms T]\n"); return 2; }
    }
    g_tab = calloc(g_cap, sizeof *g_tab);
    if (!g_tab) abort();
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_request);
    tab_clear();
    free(g_tab);
    return 0;
}
