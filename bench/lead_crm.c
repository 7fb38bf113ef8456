/* lead_crm.c -- c360-bench-lead-crm: a customer's CRM endpoint for the
 * lead pipeline benchmark (bench/run_lead_e2e.sh). tests/fakes/fake_crm
 * keeps every request (headers, body, parsed JSON) for the tests to look
 * at; here each request costs one signature check and one scan of the body,
 * and what is kept per lead is its first delivery time and a count, in a
 * hash table, so the endpoint is never what limits the pipeline.
 *
 *   c360-bench-lead-crm [--port N] [--secret whsec_...]
 *
 * prints "port N" once listening.
 *
 *   POST <any path>   a crm_generic delivery: one record or a batch (an
 *                     array, or {"records":[..]}). With --secret the
 *                     Standard Webhooks signature (webhook-id, -timestamp,
 *                     -signature) is checked over the raw body: 401 when no
 *                     v1 signature matches (counted, nothing recorded).
 *                     Every "meta:lead:<digits>" record id in the body is a
 *                     lead delivered now (CLOCK_REALTIME ms, the clock
 *                     c360d stamps events with). 200 {"ok":true}.
 *   GET /stats        {"requests","records","distinct","duplicates",
 *                     "sig_bad","first_ms","last_ms"}: last_ms is the time
 *                     of the last first delivery of a lead
 *   GET /dump         one line per lead: "<lead id> <first delivery ms>
 *                     <deliveries>" */
#include <inttypes.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "bench_common.h"

#define KEY_MAX 64
#define SIG_HEADER_MAX 4096

typedef struct slot {
    uint64_t id; /* 0: empty (lead ids are never 0) */
    int64_t first_ms;
    uint32_t count;
} slot;

static slot *g_tab;
static size_t g_cap, g_used;
static unsigned char g_key[KEY_MAX];
static size_t g_key_len;
static int g_verify;
static struct evbuffer *g_out;
static uint64_t g_requests, g_records, g_dups, g_sig_bad;
static int64_t g_first_ms, g_last_ms;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static size_t hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static slot *lookup(slot *tab, size_t cap, uint64_t id)
{
    size_t i = hash(id) & (cap - 1);
    while (tab[i].id != 0 && tab[i].id != id) i = (i + 1) & (cap - 1);
    return &tab[i];
}

static void grow(void)
{
    size_t cap = g_cap ? g_cap * 2 : 1u << 16;
    slot *tab = calloc(cap, sizeof *tab);
    if (!tab) abort();
    for (size_t i = 0; i < g_cap; i++)
        if (g_tab[i].id) *lookup(tab, cap, g_tab[i].id) = g_tab[i];
    free(g_tab);
    g_tab = tab;
    g_cap = cap;
}

static void delivered(uint64_t id, int64_t at)
{
    if (2 * (g_used + 1) > g_cap) grow();
    slot *s = lookup(g_tab, g_cap, id);
    g_records++;
    if (s->id == id) {
        s->count++;
        g_dups++;
        return;
    }
    s->id = id;
    s->first_ms = at;
    s->count = 1;
    g_used++;
    if (!g_first_ms) g_first_ms = at;
    g_last_ms = at;
}

/* Standard Webhooks v1: base64(HMAC-SHA256(key, id "." ts "." body)). */
static int signature_ok(struct evkeyvalq *h, const unsigned char *body, size_t len)
{
    const char *id = evhttp_find_header(h, "webhook-id");
    const char *ts = evhttp_find_header(h, "webhook-timestamp");
    const char *sig = evhttp_find_header(h, "webhook-signature");
    if (!id || !ts || !sig || strlen(sig) > SIG_HEADER_MAX) return 0;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, g_key, g_key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    char want[sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(want, sizeof want, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    size_t wl = strlen(want);
    for (const char *p = sig; *p;) {
        size_t n = strcspn(p, " ");
        if (n == 3 + wl && strncmp(p, "v1,", 3) == 0 && sodium_memcmp(p + 3, want, wl) == 0)
            return 1;
        p += n;
        while (*p == ' ') p++;
    }
    return 0;
}

static void reply(struct evhttp_request *req, int code, const char *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(g_out, body, strlen(body));
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", g_out);
}

static void dump(struct evhttp_request *req)
{
    for (size_t i = 0; i < g_cap; i++)
        if (g_tab[i].id)
            evbuffer_add_printf(g_out, "%" PRIu64 " %" PRId64 " %" PRIu32 "\n", g_tab[i].id,
                                g_tab[i].first_ms, g_tab[i].count);
    evhttp_send_reply(req, 200, "OK", g_out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *uri = evhttp_request_get_uri(req);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
        if (strcmp(uri, "/dump") == 0) {
            dump(req);
            return;
        }
        char b[512];
        snprintf(b, sizeof b,
                 "{\"requests\":%" PRIu64 ",\"records\":%" PRIu64 ",\"distinct\":%zu,"
                 "\"duplicates\":%" PRIu64 ",\"sig_bad\":%" PRIu64 ",\"first_ms\":%" PRId64
                 ",\"last_ms\":%" PRId64 "}", g_requests, g_records, g_used, g_dups, g_sig_bad,
                 g_first_ms, g_last_ms);
        reply(req, 200, b);
        return;
    }
    int64_t at = now_ms();
    g_requests++;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    /* One more byte for the terminating NUL the scan below relies on. */
    evbuffer_add(in, "", 1);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    if (g_verify && !signature_ok(evhttp_request_get_input_headers(req), (const unsigned char *)body, len)) {
        g_sig_bad++;
        reply(req, 401, "{\"error\":\"bad signature\"}");
        return;
    }
    static const char tag[] = "\"meta:lead:";
    for (const char *p = body; (p = strstr(p, tag)) != NULL;) {
        p += sizeof tag - 1;
        char *end;
        uint64_t id = strtoull(p, &end, 10);
        if (end != p && *end == '"' && id != 0) delivered(id, at);
        p = end;
    }
    reply(req, 200, "{\"ok\":true}");
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (strcmp(a, "--port") == 0) port = bench_port_arg(v);
        else if (strcmp(a, "--secret") == 0) {
            if (sodium_init() < 0) return 1;
            if (strncmp(v, "whsec_", 6) != 0 ||
                sodium_base642bin(g_key, sizeof g_key, v + 6, strlen(v + 6), NULL, &g_key_len, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0 || g_key_len == 0)
                goto usage;
            g_verify = 1;
        } else goto usage;
        i++;
    }
    signal(SIGPIPE, SIG_IGN);
    grow();
    bench_base = event_base_new();
    g_out = evbuffer_new();
    struct evhttp *http = evhttp_new(bench_base);
    evhttp_set_max_body_size(http, 16 * 1024 * 1024);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_gencb(http, on_request, NULL);
    bench_listen(http, port);
    event_base_dispatch(bench_base);
    evhttp_free(http);
    evbuffer_free(g_out);
    free(g_tab);
    bench_close();
    event_base_free(bench_base);
    return 0;
usage:
    fprintf(stderr, "usage: c360-bench-lead-crm [--port N] [--secret whsec_<base64>]\n");
    return 2;
}
