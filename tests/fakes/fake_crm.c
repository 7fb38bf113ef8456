/* fake_crm -- a customer's HTTP endpoint for the crm_generic tests: it
 * records every request, checks Standard Webhooks signatures
 * (../shared/reference/providers.md) when it knows the secret, and fails
 * on demand.
 *
 *   fake_crm [--port N] [--secret whsec_...] [--secret whsec_...]
 *            [--slow-ms T] [--journal FILE]
 *
 * prints "port N" once listening (N = 0: a free port). Up to two secrets:
 * the current one and the next (rotation). With --journal, every answer
 * to a delivery is also appended to FILE as a line "<webhook-id> <status>"
 * ("-" without the header) when it is sent, so a test that kills and
 * restarts the CRM (the same port, the same journal) still knows what
 * was delivered before. Endpoints:
 *
 *   POST|PUT <any other path>
 *        a delivery: recorded (method, path, lower-cased headers, body up
 *        to 64 KiB, the answer given) and answered by the current mode.
 *        With secrets, the webhook-signature header is checked: each
 *        space-separated "v1,<base64>" against each secret over
 *        "<webhook-id>.<webhook-timestamp>.<body>", and the timestamp
 *        within 5 minutes of now. A request is "sig":"ok" when every
 *        secret matches one of its signatures, "partial" when only some
 *        do, "bad" when none does (or the timestamp is off), "none"
 *        without the headers; "unchecked" when started without secrets.
 *        "bad" and "none" are answered 401 (as a receiver would),
 *        whatever the mode.
 *   GET|POST /control?mode=M[&count=N][&ms=T][&retry_after=S]
 *        M = ok | 500 | 503 | 429 | 400 | 401 | 410 | 301 | slow. With count,
 *        the next N deliveries get M, then ok again; without, M holds
 *        until changed. slow answers 200 after T ms (default --slow-ms,
 *        2000); 500 and 503 send Retry-After: S when retry_after is given
 *        (429 without it: 1)
 *   POST /reset
 *        forgets every request, back to mode ok
 *   GET  /stats
 *        {"requests":..,"ok":..,"sig_ok":..,"sig_partial":..,"sig_bad":..,
 *         "unsigned":..,"mode":"..","distinct":..,"dups":..,
 *         "ids":{"<webhook-id>":<2xx answers>,...}}
 *   GET  /received[?since=K][&id=ID]
 *        [{"n":K,"at_ms":..,"method":..,"path":..,"query":..,
 *          "headers":{..},"body":<JSON, or a string>,"status":..,
 *          "sig":"ok|partial|bad|none|unchecked","sig_count":..,
 *          "sig_valid":[per secret: true/false],"records":..},...]
 *        the requests numbered K and later (from 1), or those whose
 *        webhook-id is ID. "status" is what was (or will be, for slow)
 *        answered; "records" counts the records of the body: the items of
 *        a JSON array or of {"records":[...]}, 1 for another object.
 */
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fake_common.h"

#define CRM_KEEP_BODY (64 * 1024)
#define CRM_MAX_REQS 100000
#define CRM_SKEW_S 300

typedef struct rq {
    long n;
    int64_t at_ms;
    char *method, *path, *query, *id;
    json_t *headers;
    char *body;
    size_t body_len;
    int status;
    const char *sig;
    int sig_count;
    bool sig_valid[2];
} rq;

static rq *g_reqs;
static size_t g_nreqs, g_cap;
static long g_seq;

enum mode { M_OK, M_500, M_429, M_400, M_401, M_410, M_301, M_SLOW, M_503 };
static const char *const mode_names[] = {"ok",  "500", "429",  "400", "401",
                                         "410", "301", "slow", "503"};
static enum mode g_mode = M_OK;
static long g_mode_left = -1; /* -1: until changed */
static long g_slow_ms = 2000, g_retry_after = -1;

static uint8_t g_key[2][128];
static size_t g_key_len[2];
static int g_nkeys;
static int g_journal = -1;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

static bool parse_num(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static void add_secret(const char *s)
{
    if (g_nkeys >= 2 || strncmp(s, "whsec_", 6) != 0 ||
        sodium_base642bin(g_key[g_nkeys], sizeof g_key[0], s + 6, strlen(s + 6), NULL,
                          &g_key_len[g_nkeys], NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        fprintf(stderr, "bad --secret (whsec_<base64>, at most two)\n");
        exit(2);
    }
    g_nkeys++;
}

/* The Standard Webhooks check of a receiver, for each known secret. */
static void verify(rq *r, const char *id, const char *ts, const char *sig)
{
    if (!id || !ts || !sig) {
        r->sig = g_nkeys ? "none" : "unchecked";
        return;
    }
    long t;
    bool fresh = parse_num(ts, 0, 1L << 40, &t) && labs((long)(now_ms() / 1000) - t) <= CRM_SKEW_S;
    /* The signatures of the header. */
    char given[8][64];
    int ng = 0;
    for (const char *p = sig; *p && ng < 8;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len > 3 && len < sizeof given[0] && strncmp(p, "v1,", 3) == 0) {
            memcpy(given[ng], p + 3, len - 3);
            given[ng][len - 3] = '\0';
            ng++;
        }
        p += len;
    }
    r->sig_count = ng;
    int matched = 0;
    for (int k = 0; k < g_nkeys; k++) {
        crypto_auth_hmacsha256_state st;
        uint8_t mac[32];
        char want[64];
        crypto_auth_hmacsha256_init(&st, g_key[k], g_key_len[k]);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)id, strlen(id));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, strlen(ts));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)r->body, r->body_len);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_bin2base64(want, sizeof want, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
        for (int g = 0; g < ng; g++)
            if (strlen(given[g]) == strlen(want) && sodium_memcmp(given[g], want, strlen(want)) == 0)
                r->sig_valid[k] = true;
        matched += r->sig_valid[k];
    }
    if (!g_nkeys) r->sig = "unchecked";
    else if (!fresh || matched == 0) r->sig = "bad";
    else if (matched < g_nkeys) r->sig = "partial";
    else r->sig = "ok";
}

/* One journal line per answer: a single write() to an O_APPEND file. */
static void journal(const char *id, int status)
{
    if (g_journal < 0) return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s %d\n", id ? id : "-", status);
    if (n > 0 && (size_t)n < sizeof line && write(g_journal, line, (size_t)n) != n)
        fprintf(stderr, "fake_crm: journal write failed\n");
}

static void slow_ok(struct evhttp_request *req, void *arg)
{
    journal(arg, 200);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

/* A delivery's answer: journalled, then sent. */
static void answer(struct evhttp_request *req, const rq *r, const char *ctype, const char *body)
{
    journal(r->id, r->status);
    fake_reply(req, r->status, ctype, body);
}

static rq *new_req(void)
{
    if (g_nreqs == g_cap) {
        size_t ncap = g_cap ? g_cap * 2 : 256;
        rq *n = realloc(g_reqs, ncap * sizeof *n);
        if (!n) abort();
        g_reqs = n;
        g_cap = ncap;
    }
    rq *r = &g_reqs[g_nreqs++];
    memset(r, 0, sizeof *r);
    r->n = ++g_seq;
    r->at_ms = now_ms();
    return r;
}

static char *dup_or_empty(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

static void on_delivery(struct evhttp_request *req, const char *method, const char *path)
{
    if (g_nreqs >= CRM_MAX_REQS) {
        fake_reply(req, 507, "application/json", "{\"error\":\"fake_crm is full\"}");
        return;
    }
    rq *r = new_req();
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    r->method = dup_or_empty(method);
    r->path = dup_or_empty(path);
    r->query = dup_or_empty(u ? evhttp_uri_get_query(u) : NULL);
    r->headers = json_object();
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        char name[128];
        size_t i = 0;
        for (; kv->key[i] && i + 1 < sizeof name; i++)
            name[i] = (char)(kv->key[i] >= 'A' && kv->key[i] <= 'Z' ? kv->key[i] + 32 : kv->key[i]);
        name[i] = '\0';
        json_t *v = json_string(kv->value);
        if (v) json_object_set_new(r->headers, name, v);
    }
    size_t n = 0;
    r->body = fake_body(req, &n);
    r->body_len = n;
    const char *id = evhttp_find_header(in, "webhook-id");
    r->id = id ? dup_or_empty(id) : NULL;
    verify(r, id, evhttp_find_header(in, "webhook-timestamp"),
           evhttp_find_header(in, "webhook-signature"));

    if (strcmp(r->sig, "bad") == 0 || strcmp(r->sig, "none") == 0) {
        r->status = 401;
        answer(req, r, "application/json", "{\"error\":\"bad signature\"}");
        return;
    }
    enum mode m = g_mode;
    if (g_mode_left > 0 && --g_mode_left == 0) {
        g_mode = M_OK;
        g_mode_left = -1;
    }
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    char ra[24];
    switch (m) {
    case M_500:
    case M_503:
        if (g_retry_after >= 0) {
            snprintf(ra, sizeof ra, "%ld", g_retry_after);
            evhttp_add_header(oh, "Retry-After", ra);
        }
        r->status = m == M_500 ? 500 : 503;
        if (m == M_500)
            answer(req, r, "application/json", "{\"error\":\"crm told to fail\"}");
        else
            answer(req, r, "text/html", "<html><body><h1>503 Service Unavailable</h1></body></html>");
        return;
    case M_429:
        snprintf(ra, sizeof ra, "%ld", g_retry_after >= 0 ? g_retry_after : 1);
        evhttp_add_header(oh, "Retry-After", ra);
        r->status = 429;
        answer(req, r, "application/json", "{\"error\":\"slow down\"}");
        return;
    case M_400:
        r->status = 400;
        answer(req, r, "application/json", "{\"error\":\"invalid field\",\"field\":\"email\"}");
        return;
    case M_401:
        r->status = 401;
        answer(req, r, "application/json", "{\"error\":\"who are you?\"}");
        return;
    case M_410:
        r->status = 410;
        answer(req, r, "application/json", "{\"error\":\"this endpoint was removed\"}");
        return;
    case M_301:
        r->status = 301;
        evhttp_add_header(oh, "Location", "http://127.0.0.1:1/elsewhere");
        answer(req, r, "text/plain", "moved");
        return;
    case M_SLOW:
        r->status = 200;
        fake_reply_later(req, g_slow_ms, slow_ok, free, dup_or_empty(r->id ? r->id : "-"));
        return;
    case M_OK:
        break;
    }
    r->status = 200;
    answer(req, r, "application/json", "{\"ok\":true}");
}

static void on_control(struct evhttp_request *req)
{
    char *m = fake_query_param(req, "mode"), *count = fake_query_param(req, "count");
    char *ms = fake_query_param(req, "ms"), *ra = fake_query_param(req, "retry_after");
    int found = -1;
    for (int i = 0; m && i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
        if (strcmp(m, mode_names[i]) == 0) found = i;
    long c = -1, slow = g_slow_ms, after = -1;
    bool ok = found >= 0 && (!count || parse_num(count, 1, 1000000000, &c)) &&
              (!ms || parse_num(ms, 0, 600000, &slow)) && (!ra || parse_num(ra, 0, 86400, &after));
    free(m); free(count); free(ms); free(ra);
    if (!ok) {
        fake_reply(req, 400, "application/json", "{\"error\":\"bad control\"}");
        return;
    }
    g_mode = (enum mode)found;
    g_mode_left = c;
    g_slow_ms = slow;
    g_retry_after = after;
    send_json(req, 200, json_pack("{s:s,s:I}", "mode", mode_names[g_mode], "count", (json_int_t)c));
}

static void clear(void)
{
    for (size_t i = 0; i < g_nreqs; i++) {
        rq *r = &g_reqs[i];
        free(r->method); free(r->path); free(r->query); free(r->id); free(r->body);
        json_decref(r->headers);
    }
    g_nreqs = 0;
}

static void on_stats(struct evhttp_request *req)
{
    long ok = 0, sig_ok = 0, sig_partial = 0, sig_bad = 0, unsig = 0, distinct = 0, dups = 0;
    json_t *ids = json_object();
    for (size_t i = 0; i < g_nreqs; i++) {
        rq *r = &g_reqs[i];
        if (strcmp(r->sig, "ok") == 0) sig_ok++;
        else if (strcmp(r->sig, "partial") == 0) sig_partial++;
        else if (strcmp(r->sig, "bad") == 0) sig_bad++;
        else unsig++;
        if (r->status < 200 || r->status > 299) continue;
        ok++;
        if (!r->id) continue;
        json_t *v = json_object_get(ids, r->id);
        json_int_t k = v ? json_integer_value(v) : 0;
        if (k == 0) distinct++;
        else dups++;
        json_object_set_new(ids, r->id, json_integer(k + 1));
    }
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:I,s:o}",
                          "requests", (json_int_t)g_nreqs, "ok", (json_int_t)ok,
                          "sig_ok", (json_int_t)sig_ok, "sig_partial", (json_int_t)sig_partial,
                          "sig_bad", (json_int_t)sig_bad, "unsigned", (json_int_t)unsig,
                          "mode", mode_names[g_mode], "distinct", (json_int_t)distinct,
                          "dups", (json_int_t)dups, "ids", ids);
    send_json(req, 200, j);
}

static void on_received(struct evhttp_request *req)
{
    char *since = fake_query_param(req, "since"), *id = fake_query_param(req, "id");
    long from = 1;
    if (since && !parse_num(since, 0, 1L << 40, &from)) {
        free(since); free(id);
        fake_reply(req, 400, "application/json", "{\"error\":\"bad since\"}");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < g_nreqs; i++) {
        rq *r = &g_reqs[i];
        if (r->n < from) continue;
        if (id && (!r->id || strcmp(r->id, id) != 0)) continue;
        size_t keep = r->body_len < CRM_KEEP_BODY ? r->body_len : CRM_KEEP_BODY;
        json_t *b = json_loadb(r->body, keep, 0, NULL);
        if (!b) b = json_stringn(r->body, keep);
        if (!b) b = json_null(); /* not UTF-8 */
        json_t *valid = json_array();
        for (int k = 0; k < g_nkeys; k++) json_array_append_new(valid, json_boolean(r->sig_valid[k]));
        json_t *wrapped = json_object_get(b, "records");
        size_t nrec = json_is_array(b) ? json_array_size(b)
                      : json_is_array(wrapped) ? json_array_size(wrapped)
                      : json_is_object(b) ? 1 : 0;
        json_array_append_new(arr, json_pack("{s:I,s:I,s:s,s:s,s:s,s:O,s:o,s:i,s:s,s:i,s:o,s:I}",
                                             "n", (json_int_t)r->n, "at_ms", (json_int_t)r->at_ms,
                                             "method", r->method, "path", r->path,
                                             "query", r->query, "headers", r->headers,
                                             "body", b, "status", r->status, "sig", r->sig,
                                             "sig_count", r->sig_count, "sig_valid", valid,
                                             "records", (json_int_t)nrec));
    }
    free(since);
    free(id);
    send_json(req, 200, arr);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;
    if (get && strcmp(path, "/stats") == 0) on_stats(req);
    else if (get && strcmp(path, "/received") == 0) on_received(req);
    else if ((get || post) && strcmp(path, "/control") == 0) on_control(req);
    else if (post && strcmp(path, "/reset") == 0) {
        clear();
        g_mode = M_OK;
        g_mode_left = -1;
        fake_reply(req, 200, "application/json", "{\"ok\":true}");
    } else if (post) on_delivery(req, "POST", path);
    else if (cmd == EVHTTP_REQ_PUT) on_delivery(req, "PUT", path);
    else fake_reply(req, 405, "application/json", "{\"error\":\"method\"}");
}

int main(int argc, char **argv)
{
    int port = 0;
    if (sodium_init() < 0) return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = fake_parse_port(argv[++i]);
        else if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc) add_secret(argv[++i]);
        else if (strcmp(argv[i], "--slow-ms") == 0 && i + 1 < argc)
            g_slow_ms = fake_parse_long("--slow-ms", argv[++i], 0, 600000);
        else if (strcmp(argv[i], "--journal") == 0 && i + 1 < argc) {
            g_journal = open(argv[++i], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (g_journal < 0) { perror("fake_crm: --journal"); return 2; }
        }
        else {
            fprintf(stderr, "usage: fake_crm [--port N] [--secret whsec_...]... [--slow-ms T] [--journal FILE]\n");
            return 2;
        }
    }
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT, on_request);
    clear();
    free(g_reqs);
    sodium_memzero(g_key, sizeof g_key);
    if (g_journal >= 0) close(g_journal);
    return 0;
}
