/* admin.c -- the admin API's dispatcher: routing, authentication, role and
 * tenant scope (the one place isolation is enforced), per-key budgets, and
 * the hand-off between the event loop and the admin threads. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "admin.h"
#include "admin_int.h"
#include "apikeys.h"
#include "audit.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "tenants.h"
#include "rconn.h"
#include "util.h"

void ch_admin_settings_default(ch_admin_settings *s)
{
    memset(s, 0, sizeof *s);
    s->threads = 4;
    s->queue_max = 256;
    s->public_url = "http://127.0.0.1:8360";
    s->callback_timeout_ms = 30000;
    s->key_rate_per_s = 50;
    s->key_burst = 100;
    s->auth_fail_per_min = 10;
}

ch_admin *ch_admin_new(const ch_admin_settings *s, const struct ch_loader *ld,
                       struct ch_instances *inst)
{
    ch_admin *a = ch_calloc(1, sizeof *a);
    a->set = *s;
    if (a->set.threads == 0) a->set.threads = 1;
    if (a->set.threads > CH_ADMIN_THREADS_MAX) a->set.threads = CH_ADMIN_THREADS_MAX;
    if (a->set.queue_max == 0) a->set.queue_max = 256;
    if (a->set.key_burst == 0) a->set.key_burst = a->set.key_rate_per_s;
    if (a->set.auth_fail_per_min == 0) a->set.auth_fail_per_min = 10;
    const char *pu = s->public_url ? s->public_url : "";
    size_t n = strlen(pu);
    while (n > 0 && pu[n - 1] == '/') n--;
    a->public_url = ch_strndup(pu, n);
    a->set.public_url = a->public_url;
    a->operator_key_file = s->operator_key_file ? ch_strdup(s->operator_key_file) : NULL;
    a->set.operator_key_file = a->operator_key_file;
    a->loader = ld;
    a->instances = inst;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    return a;
}

const struct ch_loader *ch_admin_loader(const ch_admin *a) { return a->loader; }
struct ch_instances *ch_admin_instances(const ch_admin *a) { return a->instances; }
const char *ch_admin_public_url(const ch_admin *a) { return a->public_url; }
int64_t ch_admin_callback_timeout_ms(const ch_admin *a) { return a->set.callback_timeout_ms; }

/* ---- routing ---------------------------------------------------------- */

#define SEGS_MAX 12

static size_t split(char *p, char **seg)
{
    size_t n = 0;
    while (*p == '/') p++;
    while (*p && n < SEGS_MAX) {
        seg[n++] = p;
        char *s = strchr(p, '/');
        if (!s) break;
        *s = '\0';
        p = s + 1;
    }
    if (*p && strchr(p, '/')) return SEGS_MAX + 1; /* too deep */
    return n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* In-place percent-decoding of one path segment; -1 on a bad escape or a
 * decoded NUL or '/'. */
static int seg_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%') {
            int h = hexval((unsigned char)r[1]), l = h < 0 ? -1 : hexval((unsigned char)r[2]);
            if (h < 0 || l < 0) return -1;
            int c = h * 16 + l;
            if (c == 0 || c == '/') return -1;
            *w++ = (char)c;
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

/* Number of literal segments if route pattern matches the path segments,
 * else -1. */
static int pattern_match(const char *pattern, char **seg, size_t n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pattern);
    char *ps[SEGS_MAX];
    size_t pn = split(buf, ps);
    if (pn != n) return -1;
    int lit = 0;
    for (size_t i = 0; i < n; i++) {
        if (ps[i][0] == '{') continue;
        if (strcmp(ps[i], seg[i]) != 0) return -1;
        lit++;
    }
    return lit;
}

static const ch_aroute *find_route(const char *method, char **seg, size_t n, char *allow,
                                   size_t allowcap)
{
    const ch_aroute *best = NULL;
    int best_lit = -1;
    allow[0] = '\0';
    /* The best literal score over all methods decides which path this is:
     * GET /connections/validate is the {conn} path, not validate's. */
    int path_lit = -1;
    for (size_t t = 0; ch_api_tables[t]; t++)
        for (const ch_aroute *r = ch_api_tables[t]; r->method; r++) {
            int lit = pattern_match(r->pattern, seg, n);
            if (lit > path_lit) path_lit = lit;
        }
    if (path_lit < 0) return NULL;
    for (size_t t = 0; ch_api_tables[t]; t++)
        for (const ch_aroute *r = ch_api_tables[t]; r->method; r++) {
            int lit = pattern_match(r->pattern, seg, n);
            if (lit < 0) continue;
            if (strcmp(r->method, method) == 0 && lit > best_lit) {
                best = r;
                best_lit = lit;
            }
            if (lit == path_lit && !strstr(allow, r->method)) {
                if (*allow) strncat(allow, ", ", allowcap - strlen(allow) - 1);
                strncat(allow, r->method, allowcap - strlen(allow) - 1);
                if (strcmp(r->method, "GET") == 0)
                    strncat(allow, ", HEAD", allowcap - strlen(allow) - 1);
            }
        }
    return best;
}

static int bind_params(ch_actx *x, const ch_aroute *r, char **seg, size_t n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", r->pattern);
    char *ps[SEGS_MAX];
    size_t pn = split(buf, ps);
    for (size_t i = 0; i < pn && i < n; i++) {
        if (ps[i][0] != '{') continue;
        size_t l = strlen(ps[i]);
        if (l < 3 || x->nparams >= CH_APARAMS_MAX) continue;
        char *name = ch_strndup(ps[i] + 1, l - 2);
        char *val = ch_strdup(seg[i]);
        x->pname[x->nparams] = name;
        x->pval[x->nparams] = val;
        x->nparams++;
        int ok = seg_decode(val) == 0 &&
                 (strcmp(name, "name") == 0 ? ch_name_valid(val) : ch_id_valid(val));
        if (!ok) {
            ch_aerr(x, 400, "bad_id", "path parameter {%s} is not a valid %s", name,
                    strcmp(name, "name") == 0 ? "name (1..200 printable ASCII)"
                                              : "id (1..64 of A-Z a-z 0-9 _ -)");
            return -1;
        }
        if (strcmp(name, "tenant") == 0) x->tenant = val;
    }
    return 0;
}

/* ---- authentication and scope ----------------------------------------- */

static const char *bearer(const char *auth)
{
    if (!auth) return NULL;
    if (strncasecmp(auth, "Bearer ", 7) != 0) return NULL;
    auth += 7;
    while (*auth == ' ') auth++;
    return *auth ? auth : NULL;
}

static void ip_bucket(const ch_actx *x, char *out, size_t cap)
{
    /* Bucket names are printable ASCII; IPv6 colons are fine. */
    snprintf(out, cap, "authfail:%s", x->remote_ip && *x->remote_ip ? x->remote_ip : "unknown");
}

static char *block_key(const ch_actx *x)
{
    return ch_asprintf("c360:{auth}:block:%s",
                      x->remote_ip && *x->remote_ip ? x->remote_ip : "unknown");
}

/* 1 if the address is blocked (answered 429), 0 if not. */
static int auth_blocked(ch_actx *x)
{
    char *k = block_key(x);
    redisReply *rep = ch_rconn_command("PTTL %s", k);
    free(k);
    long long ttl = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -2;
    if (rep) freeReplyObject(rep);
    if (ttl <= 0) return 0;
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", (ttl + 999) / 1000);
    ch_aheader(x, "Retry-After", ra);
    ch_aerr(x, 429, "auth_throttled",
            "too many failed authentications from this address; retry later");
    return 1;
}

static void auth_failed(ch_actx *x)
{
    char bucket[128];
    ip_bucket(x, bucket, sizeof bucket);
    c360_rl_limit lim = {sizeof lim, x->admin->set.auth_fail_per_min, 60000,
                         x->admin->set.auth_fail_per_min};
    uint32_t wait = 0;
    int32_t st = ch_ratelimit_take("_admin", NULL, NULL, C360_RL_APP, bucket, &lim, 1, &wait);
    if (st == C360_RETRY) {
        /* Over the budget: block the address until the budget refills, and
         * leave a trace. Only the first failure past the limit is audited. */
        char *k = block_key(x);
        redisReply *rep = ch_rconn_command("SET %s 1 PX %u NX", k, wait < 1000 ? 1000u : wait);
        int fresh = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep) freeReplyObject(rep);
        free(k);
        if (fresh) {
            ch_log(CH_LOG_WARN, "admin API: failed authentications over the limit; address blocked",
                   "ip", x->remote_ip ? x->remote_ip : "", "req", x->request_id, NULL);
            ch_audit_entry e = {.tenant = "_system", .actor = "public", .action = "auth.throttled",
                                .target = x->remote_ip && *x->remote_ip ? x->remote_ip : "unknown",
                                .outcome = "blocked", .request_id = x->request_id};
            ch_audit_append(&e, NULL);
        }
    }
}

/* A valid key always passes, even from a blocked address: behind a proxy
 * every client shares one address, and a stranger's bad guesses must not
 * lock operators out (a 256-bit key is not guessed anyway). Failures from
 * a blocked address get 429 with Retry-After instead of 401: the address is
 * told to slow down, and the block is audited once. */
static int authenticate(ch_actx *x, const char *authorization)
{
    const char *key = bearer(authorization);
    int32_t st = key ? ch_apikey_verify(key, &x->who) : C360_EAUTH;
    if (st == C360_OK) return 0;
    if (st != C360_EAUTH) {
        ch_aerr(x, 503, "unavailable", "cannot check the API key now (store unavailable)");
        return -1;
    }
    if (authorization) auth_failed(x);
    if (auth_blocked(x)) return -1;
    if (!key) {
        ch_aheader(x, "WWW-Authenticate", "Bearer");
        ch_aerr(x, 401, "unauthenticated",
                "an API key is required (Authorization: Bearer c360k_...)");
        return -1;
    }
    ch_aheader(x, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    ch_aerr(x, 401, "invalid_key", "the API key is unknown, malformed or revoked");
    return -1;
    if (st != C360_OK) {
        ch_aerr(x, 503, "unavailable", "cannot check the API key now (store unavailable)");
        return -1;
    }
    return 0;
}

static int authorise(ch_actx *x, const ch_aroute *r)
{
    if (x->who.role < r->role) {
        ch_aerr(x, 403, "forbidden", "this needs the %s role; the key has %s",
                ch_role_name(r->role), ch_role_name(x->who.role));
        return -1;
    }
    if (x->who.role == CH_ROLE_OPERATOR) return 0;
    /* Non-operator keys reach only their own tenant's paths. A route
     * without {tenant} that is not an operator's is about the caller
     * itself (/v1/me, /v1/plugins). */
    if (x->tenant && strcmp(x->tenant, x->who.tenant) != 0) {
        ch_aerr(x, 403, "forbidden_tenant", "the key belongs to another tenant");
        return -1;
    }
    return 0;
}

static int charge(ch_actx *x)
{
    uint32_t rate = x->admin->set.key_rate_per_s;
    if (rate == 0) return 0;
    char bucket[CH_ID_MAX + 8];
    snprintf(bucket, sizeof bucket, "key:%s", x->who.key_id);
    c360_rl_limit lim = {sizeof lim, rate, 1000, x->admin->set.key_burst};
    uint32_t wait = 0;
    int32_t st = ch_ratelimit_take("_admin", NULL, NULL, C360_RL_APP, bucket, &lim, 1, &wait);
    if (st == C360_RETRY) {
        char ra[32];
        snprintf(ra, sizeof ra, "%u", (wait + 999) / 1000);
        ch_aheader(x, "Retry-After", ra);
        ch_aerr(x, 429, "rate_limited", "this key is over its request budget (%u/s)", rate);
        return -1;
    }
    /* A rate-limit store failure does not lock operators out. */
    return 0;
}

void ch_admin_dispatch(ch_admin *a, ch_actx *x, const char *authorization)
{
    x->admin = a;
    if (!x->query) x->query = "";
    if (!x->request_id) x->request_id = "";
    char path[256];
    if (strlen(x->path) >= sizeof path) {
        ch_aerr(x, 414, "uri_too_long", "the path is too long");
        return;
    }
    snprintf(path, sizeof path, "%s", x->path);
    char *seg[SEGS_MAX];
    size_t n = split(path, seg);
    char allow[128];
    const ch_aroute *r = n <= SEGS_MAX ? find_route(x->method, seg, n, allow, sizeof allow) : NULL;
    if (!r) {
        if (n <= SEGS_MAX && allow[0]) {
            ch_aheader(x, "Allow", allow);
            ch_aerr(x, 405, "method_not_allowed", "method not allowed on this path");
        } else {
            ch_aerr(x, 404, "not_found", "no such route");
        }
        return;
    }
    if (bind_params(x, r, seg, n) != 0) return;
    if (!(r->flags & CH_AR_PUBLIC)) {
        if (authenticate(x, authorization) != 0) return;
        if (authorise(x, r) != 0) return;
        if (charge(x) != 0) return;
        /* Every tenant path names an existing tenant: handlers need not
         * check, and nothing is ever written under a tenant that is not
         * registered (or was deleted). */
        if (x->tenant && !(r->flags & CH_AR_ANY_TENANT)) {
            int ex = ch_tenant_exists(x->tenant);
            if (ex < 0) {
                ch_aheader(x, "Retry-After", "1");
                ch_aerr(x, 503, "unavailable", "the store is unavailable");
                return;
            }
            if (ex == 0) {
                ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant);
                return;
            }
        }
    }
    r->fn(x);
    if (x->status == 0) {
        ch_log(CH_LOG_ERROR, "admin handler returned without an answer", "route", r->pattern,
               "method", r->method, "req", x->request_id, NULL);
        ch_aerr(x, 500, "internal", "internal error");
    }
}

void ch_actx_clear(ch_actx *x)
{
    for (size_t i = 0; i < x->nparams; i++) {
        free((char *)x->pname[i]);
        free((char *)x->pval[i]);
    }
    x->nparams = 0;
    x->tenant = NULL;
    if (x->resp) json_decref(x->resp);
    x->resp = NULL;
    free(x->raw);
    x->raw = NULL;
    for (size_t i = 0; i < x->nheaders; i++) {
        free(x->hname[i]);
        free(x->hval[i]);
    }
    x->nheaders = 0;
    x->status = 0;
}

void ch_admin_routes_foreach(void (*fn)(const ch_aroute *r, void *arg), void *arg)
{
    for (size_t t = 0; ch_api_tables[t]; t++)
        for (const ch_aroute *r = ch_api_tables[t]; r->method; r++) fn(r, arg);
}
