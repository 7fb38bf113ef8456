/* fz_host.c -- see fz_host.h. */
#include "fz_host.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hostapi.h"
#include "log.h"
#include "ratelimit.h"
#include "svc.h"
#include "usage.h"

int fz_bypass_sig;

/* ---- key/value (state and secrets) --------------------------------------- */

typedef struct kv {
    struct kv *next;
    char *key;
    uint8_t *val;
    size_t len;
    uint64_t version;
    int secret;
    int preset; /* a secret the target set, not one the plugin stored */
    int sent;   /* it went out in a request (URL, header or body) */
} kv;

static kv *g_kv;
static size_t g_records;
/* The input's provider answers (scripted HTTP, below). */
static const uint8_t *g_script;
static size_t g_script_len, g_script_off, g_http_calls;

static kv *kv_find(const char *key, int secret)
{
    for (kv *e = g_kv; e; e = e->next)
        if (e->secret == secret && strcmp(e->key, key) == 0) return e;
    return NULL;
}

static kv *kv_put(const char *key, int secret, const void *val, size_t len)
{
    kv *e = kv_find(key, secret);
    if (!e) {
        e = calloc(1, sizeof *e);
        e->key = strdup(key);
        e->secret = secret;
        e->next = g_kv;
        g_kv = e;
    }
    free(e->val);
    e->val = malloc(len + 1);
    if (len) memcpy(e->val, val, len);
    e->val[len] = '\0';
    e->len = len;
    e->version++;
    return e;
}

static void kv_del(const char *key, int secret)
{
    for (kv **p = &g_kv; *p; p = &(*p)->next) {
        if ((*p)->secret == secret && strcmp((*p)->key, key) == 0) {
            kv *e = *p;
            *p = e->next;
            free(e->key);
            free(e->val);
            free(e);
            return;
        }
    }
}

static uint8_t *dup0(const uint8_t *v, size_t len)
{
    uint8_t *o = malloc(len + 1);
    if (len) memcpy(o, v, len);
    o[len] = '\0';
    return o;
}

static int32_t st_get(c360_call *c, const char *key, uint8_t **value, size_t *len, uint64_t *ver)
{
    (void)c;
    kv *e = kv_find(key, 0);
    if (!e) return C360_ENOTFOUND;
    *value = dup0(e->val, e->len);
    if (len) *len = e->len;
    if (ver) *ver = e->version;
    return C360_OK;
}

static int32_t st_set(c360_call *c, const char *key, const void *v, size_t len, uint32_t ttl,
                      uint64_t *nv)
{
    (void)c;
    (void)ttl;
    kv *e = kv_put(key, 0, v, len);
    if (nv) *nv = e->version;
    return C360_OK;
}

static int32_t st_cas(c360_call *c, const char *key, const void *v, size_t len, uint64_t expected,
                      uint32_t ttl, uint64_t *nv)
{
    (void)c;
    (void)ttl;
    kv *e = kv_find(key, 0);
    if ((e ? e->version : 0) != expected) return C360_ECONFLICT;
    e = kv_put(key, 0, v, len);
    if (nv) *nv = e->version;
    return C360_OK;
}

static int32_t st_delete(c360_call *c, const char *key)
{
    (void)c;
    kv_del(key, 0);
    return C360_OK;
}

static int32_t st_incr(c360_call *c, const char *key, int64_t delta, int64_t *result)
{
    (void)c;
    kv *e = kv_find(key, 0);
    long long cur = 0;
    if (e) {
        char *end;
        cur = strtoll((const char *)e->val, &end, 10);
        if (*end || e->len == 0) return C360_EINVAL;
    }
    cur += delta;
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", cur);
    kv_put(key, 0, b, (size_t)n);
    if (result) *result = cur;
    return C360_OK;
}

static int32_t sec_get(c360_call *c, const char *name, uint8_t **value, size_t *len)
{
    (void)c;
    kv *e = kv_find(name, 1);
    if (!e) return C360_ENOTFOUND;
    *value = dup0(e->val, e->len);
    if (len) *len = e->len;
    return C360_OK;
}

static int32_t sec_put(c360_call *c, const char *name, const void *v, size_t len)
{
    (void)c;
    /* Stored by the plugin, maybe from a provider answer: its value may
     * be any word, so no longer one the text oracle looks for. */
    kv_put(name, 1, v, len)->preset = 0;
    return C360_OK;
}

static int32_t sec_delete(c360_call *c, const char *name)
{
    (void)c;
    kv_del(name, 1);
    return C360_OK;
}

static void sec_free(void *p) { free(p); }

void fz_secret_set(const char *name, const char *value)
{
    kv_put(name, 1, value, strlen(value))->preset = 1;
}

void fz_state_set(const char *key, const char *value)
{
    kv_put(key, 0, value, strlen(value));
}

/* ---- the rate limiter: the input's answers ------------------------------------ */

/* The input's limiter section (fz_rl_split), one byte per take, in order. */
static const uint8_t *g_rl;
static size_t g_rl_len, g_rl_off;

/* Every answer below is one ch_ratelimit_take can give (ratelimit.h):
 *   b & 3 == 0  C360_OK, *wait_ms 0;
 *   b & 3 == 1  C360_RETRY, a short wait: 1 + ((b >> 2) & 1) ms, or 30 ms
 *               when (b >> 2) & 15 is 15 -- what plugins sleep through (a
 *               GCRA refill, a slowdown);
 *   b & 3 == 2  C360_RETRY, a long wait: rl_long[(b >> 2) & 7] ms -- over
 *               the 1.5 s the plugins sleep at most, up to a day;
 *   b & 3 == 3  C360_EIO (Redis unreachable).
 * Any wait from 1 ms to a day is possible for any bucket: the remainder
 * of a provider's pause (capped at CH_USAGE_MAX_PAUSE_MS). Plugins sleep
 * short waits for real (crm_generic up to 10000 times), and a sleep costs
 * executions, so they are small: 1 and 2 ms (under every plugin's
 * threshold), and rarely 30 ms, over crm_generic's own pace at its spec's
 * CRM_RPS_DEFAULT (20 ms and a quarter) yet under its 100 ms for
 * throttled sleeps (its throttled-slept and deferred paths; the other
 * plugins only sleep it). FZ_RL_MAX answers bound an input's sleeping
 * (2 s at worst, inside scripts/fuzz's -timeout=10). */
#define FZ_RL_MAX 64
static const uint32_t rl_long[8] = {1501, 2000, 5000, 30000, 60000, 900000, 3600000,
                                    CH_USAGE_MAX_PAUSE_MS};

size_t fz_rl_split(const uint8_t *data, size_t len)
{
    const uint8_t *m = memmem(data, len, FZ_RL_MARK, sizeof FZ_RL_MARK - 1);
    if (!m) return len;
    g_rl = m + sizeof FZ_RL_MARK - 1;
    g_rl_len = len - (size_t)(g_rl - data);
    g_rl_off = 0;
    return (size_t)(m - data);
}

/* The host's refusal of a take, report or feed outside a connection or of
 * a bad scope or bucket name (hostapi.c, ch_ratelimit_key): a bucket named
 * after input (an id) may be refused, the plugin's to handle. */
static int32_t rl_bucket(c360_call *c, int32_t scope, const char *b)
{
    ch_scope s;
    int32_t st = ch_svc_scope(c, &s);
    if (st != C360_OK) return st;
    char *key = ch_ratelimit_key(s.plugin, s.tenant, s.connection, scope, b);
    if (!key) return C360_EINVAL;
    free(key);
    return C360_OK;
}

static int32_t rl_take(c360_call *c, int32_t scope, const char *b, const c360_rl_limit *l,
                       uint32_t cost, uint32_t *wait)
{
    if (wait) *wait = 0;
    int32_t st = rl_bucket(c, scope, b);
    if (st != C360_OK) return st;
    if (!l || l->struct_size < sizeof *l) return C360_EINVAL;
    /* A limit or cost ch_ratelimit_take refuses every time (C360_EINVAL):
     * each of the plugin's takes of it fails, so its work never runs --
     * a bug, not an input it meets (budgets are the plugin's own). */
    uint32_t burst = l->burst ? l->burst : l->limit;
    if (l->limit == 0 || l->period_ms == 0 || l->period_ms > CH_RL_MAX_PERIOD_MS || cost == 0 ||
        cost > burst || (uint64_t)burst * l->period_ms > (uint64_t)l->limit * CH_RL_MAX_PERIOD_MS) {
        fprintf(stderr, "fz_host: a take of %s the host always refuses: cost %u, %u per %u ms, "
                        "burst %u\n", b, cost, l->limit, l->period_ms, l->burst);
        abort();
    }
    /* Past the section's end or FZ_RL_MAX, or no section (every input
     * before it existed): granted, as the stub always did. */
    if (g_rl_off >= g_rl_len || g_rl_off >= FZ_RL_MAX) return C360_OK;
    uint8_t d = g_rl[g_rl_off++];
    switch (d & 3) {
    case 0: return C360_OK;
    case 1:
        if (wait) *wait = ((d >> 2) & 15u) == 15 ? 30 : 1 + ((d >> 2) & 1u);
        return C360_RETRY;
    case 2:
        if (wait) *wait = rl_long[(d >> 2) & 7u];
        return C360_RETRY;
    default: return C360_EIO;
    }
}

/* Reports and fed responses answer C360_OK (what a reachable Redis
 * answers) after the host's argument checks; they take no byte of the
 * section: plugins ignore their outcome, and a byte each would shift the
 * takes' answers whenever a plugin's reports change. */
static int32_t rl_report(c360_call *c, int32_t scope, const char *b, uint32_t pct, uint32_t ms)
{
    (void)pct, (void)ms;
    return rl_bucket(c, scope, b);
}

static int32_t rl_feed(c360_call *c, int32_t scope, const char *b, const c360_http_response *r)
{
    int32_t st = rl_bucket(c, scope, b);
    if (st != C360_OK) return st;
    if (!r) return C360_EINVAL;
    /* Read what the host reads: its usage headers. */
    ch_usage u;
    (void)ch_usage_parse(r, FZ_NOW_MS, &u);
    return C360_OK;
}

/* ---- services that always succeed ------------------------------------------ */

static int32_t audit(c360_call *c, const char *a, const char *t, const char *o)
{
    (void)c, (void)a, (void)t, (void)o;
    return C360_OK;
}

static int32_t oauth_token(c360_call *c, const c360_oauth_params *p, char **token,
                           int64_t *exp)
{
    (void)c, (void)p;
    *token = strdup("fuzz-access-token");
    if (exp) *exp = FZ_NOW_MS + 3600000;
    return C360_OK;
}

static int32_t oauth_exchange(c360_call *c, const c360_oauth_params *p)
{
    (void)c, (void)p;
    return C360_OK;
}

static int32_t oauth_rejected(c360_call *c, const char *n, const char *r)
{
    (void)c, (void)n, (void)r;
    return C360_ERROR;
}

static int32_t route_keys(c360_call *c, const char *const *keys, uint32_t count)
{
    (void)c;
    for (uint32_t i = 0; i < count; i++) (void)strlen(keys[i]);
    return C360_OK;
}

static int printable_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
    return 1;
}

/* The oracle on records: the SDK promises destinations a JSON object
 * with a printable type and id. A plugin that emits anything else has a
 * bug the host would only refuse later. */
static int32_t record_emit(c360_call *c, const char *type, const char *id, const char *json,
                           size_t len)
{
    (void)c;
    if (!type || !id || !printable_id(type) || !printable_id(id)) {
        fprintf(stderr, "fz_host: record with a bad type or id\n");
        abort();
    }
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o || !json_is_object(o)) {
        fprintf(stderr, "fz_host: record %s is not a JSON object: %s\n", id, je.text);
        abort();
    }
    json_decref(o);
    g_records++;
    return C360_OK;
}

/* ABI 1.6: applied at once, as if every call returned C360_OK (a target
 * runs one callback per input and keeps no records to commit with); the
 * argument checks are the host's, so a plugin's fallback on a refusal is
 * reached too. */
static int32_t st_set_on_commit(c360_call *c, const char *key, const void *v, size_t len,
                                uint32_t ttl)
{
    if (!key || !printable_id(key) || (!v && len)) return C360_EINVAL;
    if (!v) return st_delete(c, key);
    return st_set(c, key, v, len, ttl, NULL);
}

static int32_t conn_status(c360_call *c, int32_t state, const char *cause)
{
    (void)c, (void)state;
    if (cause) (void)strlen(cause);
    return C360_OK;
}

static int64_t fixed_now(void) { return FZ_NOW_MS; }

/* The oracle on text: the SDK promises operators no secret in a call's
 * error or a log line (whatever its level). A preset secret of 8 bytes or
 * more (shorter ones could be ordinary words) found in one is a leak --
 * e.g. a token Meta echoed in an error message that the plugin did not
 * cut out -- unless the provider's answers hold it verbatim and it was
 * never sent: a provider cannot know it (an app secret goes out only as
 * an HMAC), so that is the fuzzer's invention, not a plugin's leak.
 * "Sent" counts within one callback (fz_host_call_begin): the plugin cuts
 * what its call sent and every token the connection holds, not a token it
 * sent in an earlier call and has since dropped (after a code 190). */
static char *check_text(const char *what, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    for (kv *e = g_kv; e; e = e->next) {
        if (!e->secret || !e->preset || e->len < 8) continue;
        if (!e->sent && g_script && memmem(g_script, g_script_len, e->val, e->len)) continue;
        if (memmem(s, (size_t)n, e->val, e->len) != NULL) {
            fprintf(stderr, "fz_host: the secret %s in a %s: %s\n", e->key, what, s);
            abort();
        }
    }
    return s;
}

static void (*real_call_error)(c360_call *, const char *, ...);
static void (*real_log)(c360_call *, int32_t, const char *, ...);

/* Checked, then handed to the host's own as formatted. */
static void call_error(c360_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = check_text("call error", fmt, ap);
    va_end(ap);
    real_call_error(c, "%s", s ? s : "");
    free(s);
}

static void log_line(c360_call *c, int32_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = check_text("log line", fmt, ap);
    va_end(ap);
    real_log(c, level, "%s", s ? s : "");
    free(s);
}

static int (*real_ct_equal)(const void *, const void *, size_t);

static int ct_equal(const void *a, const void *b, size_t len)
{
    int r = real_ct_equal(a, b, len);
    return fz_bypass_sig ? 1 : r;
}

/* ---- scripted HTTP ------------------------------------------------------------ */


void fz_http_script(const uint8_t *data, size_t len)
{
    g_script = data;
    g_script_len = len;
    g_script_off = 0;
}

size_t fz_http_calls(void) { return g_http_calls; }

typedef struct fz_resp {
    c360_http_response r;
    c360_header h[16];
    char *buf;
} fz_resp;

static const uint8_t *memmem_u(const uint8_t *h, size_t hl, const char *n)
{
    return memmem(h, hl, n, strlen(n));
}

static int32_t http(c360_call *c, const c360_http_request *req, c360_http_response **out)
{
    (void)c;
    g_http_calls++;
    /* Read the request as the host would, and note the secrets it
     * carries (the text oracle: those are the plugin's to cut). */
    for (kv *e = g_kv; e; e = e->next) {
        if (!e->secret || !e->preset || e->sent || e->len == 0) continue;
        e->sent = (req->url && strstr(req->url, (const char *)e->val)) ||
                  (req->body && memmem(req->body, req->body_len, e->val, e->len));
        for (uint32_t i = 0; i < req->header_count && !e->sent; i++)
            e->sent = strstr(req->headers[i].value, (const char *)e->val) != NULL;
    }
    if (req->url) (void)strlen(req->url);
    for (uint32_t i = 0; i < req->header_count; i++)
        (void)strlen(req->headers[i].name), (void)strlen(req->headers[i].value);
    fz_resp *f = calloc(1, sizeof *f);
    f->r.struct_size = sizeof f->r;
    if (g_script_off >= g_script_len || g_http_calls > 64) {
        f->r.status = 503;
        f->buf = strdup("");
        f->r.body = (const uint8_t *)f->buf;
        *out = &f->r;
        return C360_OK;
    }
    const uint8_t *p = g_script + g_script_off;
    size_t left = g_script_len - g_script_off;
    const uint8_t *sep = memmem_u(p, left, "\n@@@\n");
    size_t n = sep ? (size_t)(sep - p) : left;
    g_script_off += sep ? n + 5 : n;
    f->buf = malloc(n + 1);
    memcpy(f->buf, p, n);
    f->buf[n] = '\0';
    char *s = f->buf;
    char *nl = memchr(s, '\n', n);
    f->r.status = atoi(s);
    if (!nl) {
        f->r.body = (const uint8_t *)(f->buf + n);
        f->r.body_len = 0;
        *out = &f->r;
        return C360_OK;
    }
    char *q = nl + 1, *end = f->buf + n;
    while (q < end && *q != '\n') {
        char *e = memchr(q, '\n', (size_t)(end - q));
        if (!e) e = end;
        *e = '\0';
        char *colon = strchr(q, ':');
        if (colon && f->r.header_count < 16) {
            *colon = '\0';
            for (char *k = q; *k; k++)
                if (*k >= 'A' && *k <= 'Z') *k = (char)(*k - 'A' + 'a');
            char *v = colon + 1;
            while (*v == ' ') v++;
            f->h[f->r.header_count].name = q;
            f->h[f->r.header_count].value = v;
            f->r.header_count++;
        }
        q = e < end ? e + 1 : end;
    }
    if (q < end) q++; /* the blank line */
    f->r.headers = f->h;
    /* The body is NUL-terminated, as the host promises. */
    f->r.body = (const uint8_t *)q;
    f->r.body_len = (size_t)(end - q);
    *out = &f->r;
    return C360_OK;
}

static void http_free(c360_http_response *r)
{
    if (!r) return;
    fz_resp *f = (fz_resp *)r;
    free(f->buf);
    free(f);
}

/* ---- the table ---------------------------------------------------------------- */

static c360_host_api g_api;

const c360_host_api *fz_host(void)
{
    if (g_api.struct_size) return &g_api;
    /* Quiet: plugins log a lot on refused input. */
    ch_log_set_level(CH_LOG_ERROR);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ch_log_set_fd(null);
    g_api = *ch_host_api();
    g_api.now_ms = fixed_now;
    g_api.state_get = st_get;
    g_api.state_set = st_set;
    g_api.state_cas = st_cas;
    g_api.state_delete = st_delete;
    g_api.state_incr = st_incr;
    g_api.secret_get = sec_get;
    g_api.secret_put = sec_put;
    g_api.secret_delete = sec_delete;
    g_api.secret_free = sec_free;
    g_api.ratelimit_take = rl_take;
    g_api.ratelimit_report = rl_report;
    g_api.ratelimit_feed_response = rl_feed;
    g_api.audit = audit;
    g_api.http = http;
    g_api.http_free = http_free;
    g_api.oauth_token = oauth_token;
    g_api.oauth_exchange = oauth_exchange;
    g_api.oauth_token_rejected = oauth_rejected;
    g_api.instance_route_keys = route_keys;
    g_api.record_emit = record_emit;
    g_api.connection_status = conn_status;
    g_api.state_set_on_commit = st_set_on_commit;
    real_ct_equal = g_api.ct_equal;
    g_api.ct_equal = ct_equal;
    real_call_error = g_api.call_error;
    g_api.call_error = call_error;
    real_log = g_api.log;
    g_api.log = log_line;
    return &g_api;
}

void fz_host_call_begin(void)
{
    for (kv *e = g_kv; e; e = e->next) e->sent = 0;
}

void fz_host_reset(void)
{
    while (g_kv) {
        kv *e = g_kv;
        g_kv = e->next;
        free(e->key);
        free(e->val);
        free(e);
    }
    g_script = NULL;
    g_script_len = g_script_off = 0;
    g_http_calls = 0;
    g_rl = NULL;
    g_rl_len = g_rl_off = 0;
    g_records = 0;
    fz_bypass_sig = 0;
}

size_t fz_records(void) { return g_records; }

/* ---- webhook requests ------------------------------------------------------------ */

void fz_request_parse(const uint8_t *data, size_t len, fz_request *out)
{
    memset(out, 0, sizeof *out);
    out->buf = malloc(len + 1);
    if (len) memcpy(out->buf, data, len);
    out->buf[len] = '\0';
    char *p = out->buf, *end = out->buf + len;
    char *nl = memchr(p, '\n', len);
    out->query = p;
    if (!nl) {
        out->body = (const uint8_t *)end;
        return;
    }
    *nl = '\0';
    p = nl + 1;
    while (p < end && *p != '\n') {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        *e = '\0';
        char *colon = strchr(p, ':');
        if (colon && out->nheaders < 32) {
            *colon = '\0';
            for (char *k = p; *k; k++)
                if (*k >= 'A' && *k <= 'Z') *k = (char)(*k - 'A' + 'a');
            char *v = colon + 1;
            while (*v == ' ') v++;
            out->headers[out->nheaders].name = p;
            out->headers[out->nheaders].value = v;
            out->nheaders++;
        }
        p = e < end ? e + 1 : end;
    }
    if (p < end) p++;
    out->body = (const uint8_t *)p;
    out->body_len = (size_t)(end - p);
}

void fz_request_free(fz_request *r) { free(r->buf); }
