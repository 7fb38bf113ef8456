/* notify_send.c -- delivering notifications: the signed POST, the outbox
 * walk with retries, the attempt log, the test send (see notify.h). The
 * thread that drives it is notify_thread.c. */
#include "notify_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "call.h"
#include "connector_api.h"
#include "crypto.h"
#include "httpc.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "secrets.h"
#include "util.h"

#define ERR_EXCERPT 200
#define RESPONSE_MAX (64 * 1024)

void ch_notify_settings_default(ch_notify_settings *s)
{
    memset(s, 0, sizeof *s);
    s->period_ms = 1000;
    s->watch_period_ms = 30000;
    s->expiry_period_ms = 3600000;
    s->expiry_warn_ms = 7LL * 86400000LL;
    s->retry_base_ms = 5000;
    s->max_attempts = 6;
    s->timeout_ms = 10000;
    s->lease_ms = 300000;
    s->tenants_per_claim = 20;
    s->sends_per_tenant = 10;
}

const redisReply *ch_notify_field(const redisReply *fields, const char *name)
{
    if (!fields || fields->type != REDIS_REPLY_ARRAY) return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && k->len == nl && memcmp(k->str, name, nl) == 0)
            return v->type == REDIS_REPLY_STRING ? v : NULL;
    }
    return NULL;
}

static const char *fstr(const redisReply *fields, const char *name)
{
    const redisReply *v = ch_notify_field(fields, name);
    return v ? v->str : "";
}

/* ---- signing and posting ------------------------------------------------------ */

void ch_notify_sign(const uint8_t *key, size_t key_len, const char *id, long long ts,
                    const char *body, size_t body_len, char *out, size_t cap)
{
    char head[128];
    int hn = snprintf(head, sizeof head, "%s.%lld.", id, ts);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)head, (unsigned long long)hn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)body_len);
    uint8_t mac[32];
    crypto_auth_hmacsha256_final(&st, mac);
    char *b64 = ch_base64_encode(mac, sizeof mac, C360_B64_STANDARD);
    snprintf(out, cap, "v1,%s", b64);
    free(b64);
    sodium_memzero(&st, sizeof st);
}

int32_t ch_notify_key_load(const char *tenant, uint8_t **key, size_t *len)
{
    *key = NULL;
    *len = 0;
    uint8_t *v = NULL;
    size_t vl = 0;
    char err[200] = "";
    int32_t st = ch_secret_get(tenant, CH_NOTIFY_SECRET_CONN, CH_NOTIFY_SECRET_NAME, &v, &vl, err,
                               sizeof err);
    if (st != C360_OK) return st;
    size_t pl = strlen(CH_NOTIFY_SECRET_PREFIX);
    if (vl <= pl || memcmp(v, CH_NOTIFY_SECRET_PREFIX, pl) != 0) {
        ch_secret_value_free(v);
        return C360_EIO;
    }
    uint8_t *bin = NULL;
    size_t bl = 0;
    st = ch_base64_decode((const char *)v + pl, vl - pl, C360_B64_STANDARD, &bin, &bl);
    ch_secret_value_free(v);
    if (st != C360_OK || bl == 0) {
        free(bin);
        return C360_EIO;
    }
    *key = bin;
    *len = bl;
    return C360_OK;
}

void ch_notify_key_free(uint8_t *key, size_t len)
{
    if (!key) return;
    sodium_memzero(key, len);
    free(key);
}

int ch_notify_post(const char *url, const uint8_t *key, size_t key_len, const char *nid,
                   const char *body, size_t body_len, uint32_t timeout_ms, int *code,
                   int64_t *took_ms, char *err, size_t errcap)
{
    *code = 0;
    *took_ms = 0;
    err[0] = '\0';
    long long ts = (long long)time(NULL);
    char tsb[24], sig[96];
    snprintf(tsb, sizeof tsb, "%lld", ts);
    ch_notify_sign(key, key_len, nid, ts, body, body_len, sig, sizeof sig);
    const c360_header hdr[] = {
        {"content-type", "application/json"},
        {"user-agent", "c360-notify/1"},
        {"webhook-id", nid},
        {"webhook-timestamp", tsb},
        {"webhook-signature", sig},
    };
    c360_http_request req = {
        .struct_size = sizeof req,
        .header_count = sizeof hdr / sizeof hdr[0],
        .method = "POST",
        .url = url,
        .headers = hdr,
        .body = (const uint8_t *)body,
        .body_len = body_len,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms < 10000 ? timeout_ms : 10000,
        .max_response_bytes = RESPONSE_MAX,
        /* The URL is the customer's: the SSRF policy applies, no proxy,
         * no redirects (a redirect would re-post the signed body to a
         * place the customer did not register). */
        .flags = C360_HTTP_CUSTOMER_URL,
    };
    c360_http_response *resp = NULL;
    char e[256] = "";
    int64_t t0 = ch_monotonic_ms();
    int32_t st = ch_httpc_request(&req, &resp, e, sizeof e);
    *took_ms = ch_monotonic_ms() - t0;
    int ok = 0;
    if (st == C360_OK && resp) {
        *code = resp->status;
        ok = resp->status >= 200 && resp->status < 300;
        if (!ok) snprintf(err, errcap, "HTTP %d", (int)resp->status);
    } else {
        snprintf(err, errcap, "%s: %s", c360_strstatus(st), e);
    }
    ch_http_response_free(resp);
    if (strlen(err) > ERR_EXCERPT) err[ERR_EXCERPT] = '\0';
    return ok;
}

char *ch_notify_body(const char *nid, const char *type, const char *tenant, const char *conn,
                     const char *state, const char *cause, int64_t time_ms, const char *data_json)
{
    json_t *data = data_json && *data_json ? json_loads(data_json, 0, NULL) : NULL;
    if (!json_is_object(data)) {
        json_decref(data);
        data = json_object();
    }
#define OPT(s) ((s) && *(s) ? json_string(s) : json_null())
    json_t *b = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:o}", "id", nid, "type", type, "tenant",
                          tenant, "connection", OPT(conn), "state", OPT(state), "cause",
                          OPT(cause), "time_ms", (json_int_t)time_ms, "data", data);
#undef OPT
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return s ? s : ch_strdup("{}");
}

void ch_notify_log_add(const char *tenant, const char *nid, const char *type, const char *conn,
                       int code, long long attempts, const char *outcome, int64_t took_ms,
                       const char *err)
{
    char *k = ch_key_tenant(tenant, "notify:log");
    char cb[16], ab[24], tb[24], mb[24], mx[16];
    snprintf(cb, sizeof cb, "%d", code);
    snprintf(ab, sizeof ab, "%lld", attempts);
    snprintf(tb, sizeof tb, "%lld", (long long)ch_now_ms());
    snprintf(mb, sizeof mb, "%lld", (long long)took_ms);
    snprintf(mx, sizeof mx, "%d", CH_NOTIFY_LOG_MAX);
    const char *argv[] = {"XADD", k, "MAXLEN", "~", mx, "*", "nid", nid, "type", type,
                          "c", conn ? conn : "", "code", cb, "att", ab, "out", outcome,
                          "t", tb, "ms", mb, "err", err ? err : ""};
    redisReply *r = ch_rconn_argv((int)(sizeof argv / sizeof argv[0]), argv, NULL);
    if (!r || r->type != REDIS_REPLY_STRING)
        ch_log(CH_LOG_WARN, "notify: log write failed", "tenant", tenant, NULL);
    if (r) freeReplyObject(r);
    free(k);
}

/* ---- the outbox --------------------------------------------------------------- */

/* KEYS: due. ARGV: lease ms, max. Claims due tenants: their score moves to
 * now + lease, so no other host takes them meanwhile. Replies {score,
 * tenants...}. */
static ch_script s_claim = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "local until_ms = now_ms() + tonumber(ARGV[1])\n"
    "local ts = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local out = {tostring(until_ms)}\n"
    "for _, t in ipairs(ts) do\n"
    "  redis.call('ZADD', KEYS[1], until_ms, t)\n"
    "  out[#out + 1] = t\n"
    "end\n"
    "return out\n");

/* KEYS: due. ARGV: tenant, claimed score, next due (-1 none). Gives a
 * claim back: the next due time, unless an emitter lowered the score
 * meanwhile (then the earlier time stays). */
static ch_script s_release = CH_SCRIPT(
    "local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "local nxt = tonumber(ARGV[3])\n"
    "if not cur then\n"
    "  if nxt >= 0 then redis.call('ZADD', KEYS[1], nxt, ARGV[1]) end\n"
    "  return 0\n"
    "end\n"
    "cur = tonumber(cur)\n"
    "if cur == tonumber(ARGV[2]) then\n"
    "  if nxt < 0 then redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "  else redis.call('ZADD', KEYS[1], nxt, ARGV[1]) end\n"
    "elseif nxt >= 0 and nxt < cur then\n"
    "  redis.call('ZADD', KEYS[1], nxt, ARGV[1])\n"
    "end\n"
    "return 1\n");

/* KEYS: q, cur, retry, att. ARGV: max, in-flight lease ms. Takes what is
 * due: retries first, then new entries after the cursor. Each taken entry
 * is re-scored at now + lease before it is sent: a sender that dies
 * mid-send leaves it due again later (at least once). Replies
 * {{id, attempts, fields}...}. */
static ch_script s_take = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "local now, max, lease = now_ms(), tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, max)) do\n"
    "  local e = redis.call('XRANGE', KEYS[1], id, id)\n"
    "  if #e == 1 then\n"
    "    redis.call('ZADD', KEYS[3], now + lease, id)\n"
    "    out[#out + 1] = {id, redis.call('HGET', KEYS[4], id) or '0', e[1][2]}\n"
    "  else\n"
    /* trimmed from the outbox (capped): nothing left to send */
    "    redis.call('ZREM', KEYS[3], id)\n"
    "    redis.call('HDEL', KEYS[4], id)\n"
    "  end\n"
    "end\n"
    "if #out < max then\n"
    "  local last = redis.call('HGET', KEYS[2], 'last') or '0-0'\n"
    "  local new = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', max - #out)\n"
    "  for _, e in ipairs(new) do\n"
    "    redis.call('ZADD', KEYS[3], now + lease, e[1])\n"
    "    out[#out + 1] = {e[1], '0', e[2]}\n"
    "    last = e[1]\n"
    "  end\n"
    "  if #new > 0 then redis.call('HSET', KEYS[2], 'last', last) end\n"
    "end\n"
    "return out\n");

/* KEYS: retry, att. ARGV: id, mode (done | retry), delay ms, attempts. */
static ch_script s_outcome = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "if ARGV[2] == 'retry' then\n"
    "  redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[3]), ARGV[1])\n"
    "  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])\n"
    "else\n"
    "  redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "  redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "end\n"
    "return 1\n");

/* KEYS: retry, q, cur. When the tenant next needs the sender: now when the
 * outbox has unread entries, else the earliest retry, else -1. */
static ch_script s_next = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "local last = redis.call('HGET', KEYS[3], 'last') or '0-0'\n"
    "if #redis.call('XRANGE', KEYS[2], '(' .. last, '+', 'COUNT', 1) > 0 then return now_ms() end\n"
    "local f = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "if f[2] then return math.floor(tonumber(f[2])) end\n"
    "return -1\n");

/* Units of retry_base_ms between attempt n and n + 1. */
static const int backoff_units[] = {1, 6, 24, 120, 360};

typedef struct tkeys {
    char *q, *cur, *retry, *att;
} tkeys;

static void tkeys_init(tkeys *k, const char *tenant)
{
    k->q = ch_key_tenant(tenant, "notify:q");
    k->cur = ch_key_tenant(tenant, "notify:cur");
    k->retry = ch_key_tenant(tenant, "notify:retry");
    k->att = ch_key_tenant(tenant, "notify:att");
}

static void tkeys_free(tkeys *k)
{
    free(k->q);
    free(k->cur);
    free(k->retry);
    free(k->att);
}

static void redis_warn(const char *what, const char *tenant, const redisReply *r)
{
    ch_log(CH_LOG_WARN, "notify: redis step failed", "op", what, "tenant", tenant, "error",
           r && r->type == REDIS_REPLY_ERROR ? r->str : r ? "unexpected reply" : ch_rconn_error(),
           NULL);
}

/* Sends one taken entry and records the outcome. */
static void send_one(const ch_notify_settings *s, const char *tenant, const tkeys *k,
                     const char *url, const uint8_t *key, size_t key_len, const char *id,
                     long long att_before, const redisReply *fields)
{
    const char *nid = fstr(fields, "nid"), *type = fstr(fields, "type"), *c = fstr(fields, "c");
    char *body = ch_notify_body(nid, type, tenant, c, fstr(fields, "state"), fstr(fields, "cause"),
                                strtoll(fstr(fields, "t"), NULL, 10), fstr(fields, "data"));
    int code;
    int64_t took;
    char err[ERR_EXCERPT + 64];
    int ok = ch_notify_post(url, key, key_len, nid, body, strlen(body), s->timeout_ms, &code, &took,
                            err, sizeof err);
    free(body);
    long long att = att_before + 1;
    int max = s->max_attempts < 1 ? 1 : s->max_attempts > 6 ? 6 : s->max_attempts;
    const char *mode = "done", *outcome = ok ? "delivered" : "failed";
    long long delay = 0;
    if (!ok && att < max) {
        mode = "retry";
        outcome = "retrying";
        delay = (long long)backoff_units[att - 1] * s->retry_base_ms;
    }
    char ds[24], as[24];
    snprintf(ds, sizeof ds, "%lld", delay);
    snprintf(as, sizeof as, "%lld", att);
    const char *argv[] = {k->retry, k->att, id, mode, ds, as};
    redisReply *r = ch_rconn_eval(&s_outcome, 2, 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER) redis_warn("outcome", tenant, r);
    if (r) freeReplyObject(r);
    ch_notify_log_add(tenant, nid, type, c, code, att, outcome, took, err);
    if (!ok && att >= max)
        ch_log(CH_LOG_INFO, "notify: notification given up", "tenant", tenant, "id", nid, "error",
               err, NULL);
}

/* Everything the endpoint of a tenant without one left behind. */
static void forget_tenant(const char *tenant, const tkeys *k)
{
    redisReply *r = ch_rconn_command("DEL %s %s %s %s", k->q, k->cur, k->retry, k->att);
    if (r) freeReplyObject(r);
    r = ch_rconn_command("SREM %s %s", CH_NOTIFY_TENANTS, tenant);
    if (r) freeReplyObject(r);
}

/* One claimed tenant: returns when it next needs the sender (Redis ms, -1
 * none); *sent += attempts made. */
static long long send_tenant(const ch_notify_settings *s, const char *tenant, size_t *sent)
{
    long long later = -2; /* "now + a minute", decided by the caller */
    ch_notify_config cfg;
    int32_t st = ch_notify_get(tenant, &cfg);
    tkeys k;
    tkeys_init(&k, tenant);
    if (st == C360_ENOTFOUND) {
        forget_tenant(tenant, &k);
        tkeys_free(&k);
        return -1;
    }
    if (st != C360_OK) {
        tkeys_free(&k);
        return later;
    }
    uint8_t *key = NULL;
    size_t key_len = 0;
    st = ch_notify_key_load(tenant, &key, &key_len);
    if (st != C360_OK) {
        ch_log(CH_LOG_WARN, "notify: signing secret unavailable; not sending", "tenant", tenant,
               "status", c360_strstatus(st), NULL);
        tkeys_free(&k);
        return later;
    }
    char mx[16], lease[24];
    snprintf(mx, sizeof mx, "%d", s->sends_per_tenant > 0 ? s->sends_per_tenant : 10);
    snprintf(lease, sizeof lease, "%d", s->lease_ms > 0 ? s->lease_ms : 300000);
    const char *argv[] = {k.q, k.cur, k.retry, k.att, mx, lease};
    redisReply *r = ch_rconn_eval(&s_take, 4, 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        redis_warn("take", tenant, r);
        if (r) freeReplyObject(r);
        ch_notify_key_free(key, key_len);
        tkeys_free(&k);
        return later;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_STRING)
            continue;
        send_one(s, tenant, &k, cfg.url, key, key_len, e->element[0]->str,
                 strtoll(e->element[1]->str, NULL, 10), e->element[2]);
        (*sent)++;
    }
    freeReplyObject(r);
    ch_notify_key_free(key, key_len);

    const char *a2[] = {k.retry, k.q, k.cur};
    r = ch_rconn_eval(&s_next, 3, 3, a2, NULL);
    long long next = later;
    if (r && r->type == REDIS_REPLY_INTEGER) next = r->integer;
    else redis_warn("next", tenant, r);
    if (r) freeReplyObject(r);
    tkeys_free(&k);
    return next;
}

int32_t ch_notify_send_due(const ch_notify_settings *s, size_t *sent)
{
    ch_notify_settings d;
    if (!s) {
        ch_notify_settings_default(&d);
        s = &d;
    }
    size_t n = 0;
    if (sent) *sent = 0;
    char lease[24], mx[16];
    snprintf(lease, sizeof lease, "%d", s->lease_ms > 0 ? s->lease_ms : 300000);
    snprintf(mx, sizeof mx, "%d", s->tenants_per_claim > 0 ? s->tenants_per_claim : 20);
    const char *argv[] = {CH_NOTIFY_DUE, lease, mx};
    redisReply *r = ch_rconn_eval(&s_claim, 1, 3, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        redis_warn("claim", "", r);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    const char *claimed = r->element[0]->str;
    for (size_t i = 1; i < r->elements; i++) {
        const redisReply *t = r->element[i];
        if (t->type != REDIS_REPLY_STRING || !ch_id_valid(t->str)) continue;
        long long next = send_tenant(s, t->str, &n);
        char nb[24];
        if (next == -2) {
            /* Redis or the secret failed: look again in a minute rather
             * than at the lease's end. */
            redisReply *tr = ch_rconn_command("TIME");
            long long now = tr && tr->type == REDIS_REPLY_ARRAY && tr->elements == 2
                                ? strtoll(tr->element[0]->str, NULL, 10) * 1000
                                : 0;
            if (tr) freeReplyObject(tr);
            if (!now) continue; /* the lease expires by itself */
            next = now + 60000;
        }
        snprintf(nb, sizeof nb, "%lld", next);
        const char *a2[] = {CH_NOTIFY_DUE, t->str, claimed, nb};
        redisReply *rr = ch_rconn_eval(&s_release, 1, 4, a2, NULL);
        if (!rr || rr->type != REDIS_REPLY_INTEGER) redis_warn("release", t->str, rr);
        if (rr) freeReplyObject(rr);
    }
    freeReplyObject(r);
    if (sent) *sent = n;
    return C360_OK;
}

/* ---- test send and the log ------------------------------------------------------ */

int32_t ch_notify_test(const char *tenant, uint32_t timeout_ms, json_t **result)
{
    *result = NULL;
    ch_notify_config cfg;
    int32_t st = ch_notify_get(tenant, &cfg);
    if (st != C360_OK) return st;
    uint8_t *key = NULL;
    size_t key_len = 0;
    st = ch_notify_key_load(tenant, &key, &key_len);
    if (st != C360_OK) return st == C360_ENOTFOUND ? C360_EIO : st;
    char nid[CH_NOTIFY_ID_MAX];
    ch_notify_new_id(nid);
    char *body = ch_notify_body(nid, CH_NOTIFY_TEST_TYPE, tenant, NULL, NULL,
                                "a test notification, sent on request", ch_now_ms(), NULL);
    int code;
    int64_t took;
    char err[ERR_EXCERPT + 64];
    int ok = ch_notify_post(cfg.url, key, key_len, nid, body, strlen(body),
                            timeout_ms ? timeout_ms : 10000, &code, &took, err, sizeof err);
    free(body);
    ch_notify_key_free(key, key_len);
    const char *outcome = ok ? "delivered" : "failed";
    ch_notify_log_add(tenant, nid, CH_NOTIFY_TEST_TYPE, NULL, code, 1, outcome, took, err);
    *result = json_pack("{s:s,s:s,s:o,s:s,s:I}", "id", nid, "event", CH_NOTIFY_TEST_TYPE,
                        "status_code", code ? json_integer(code) : json_null(), "outcome", outcome,
                        "duration_ms", (json_int_t)took);
    if (!ok) json_object_set_new(*result, "error", json_string(err));
    return C360_OK;
}

/* "<ms>-<seq>", both decimal. */
static int id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 41) return 0;
    const char *dash = strchr(s, '-');
    if (!dash || dash == s || !dash[1]) return 0;
    for (const char *p = s; *p; p++)
        if (p != dash && (*p < '0' || *p > '9')) return 0;
    return 1;
}

static json_t *log_item(const redisReply *f)
{
    long long code = strtoll(fstr(f, "code"), NULL, 10);
    const char *c = fstr(f, "c"), *err = fstr(f, "err");
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:I,s:s,s:I,s:I}", "id", fstr(f, "nid"), "event",
                          fstr(f, "type"), "connection", *c ? json_string(c) : json_null(),
                          "status_code", code ? json_integer(code) : json_null(), "attempts",
                          (json_int_t)strtoll(fstr(f, "att"), NULL, 10), "outcome", fstr(f, "out"),
                          "time_ms", (json_int_t)strtoll(fstr(f, "t"), NULL, 10), "duration_ms",
                          (json_int_t)strtoll(fstr(f, "ms"), NULL, 10));
    if (o && *err) json_object_set_new(o, "error", json_string(err));
    return o;
}

int32_t ch_notify_log_list(const char *tenant, const char *cursor, uint32_t limit, json_t **items,
                           char *next)
{
    *items = NULL;
    char hi[48] = "+";
    if (cursor && *cursor) {
        if (!id_valid(cursor)) return C360_EINVAL;
        snprintf(hi, sizeof hi, "(%s", cursor); /* before next is cleared: may be one buffer */
    }
    next[0] = '\0';
    if (!ch_id_valid(tenant) || limit < 1 || limit > CH_NOTIFY_LOG_PAGE_MAX) return C360_EINVAL;
    char *k = ch_key_tenant(tenant, "notify:log");
    redisReply *r = ch_rconn_command("XREVRANGE %s %s - COUNT %u", k, hi, limit + 1);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        redis_warn("log", tenant, r);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    json_t *arr = json_array();
    size_t n = r->elements > limit ? limit : r->elements;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        json_t *it = log_item(e->element[1]);
        if (it) json_array_append_new(arr, it);
        if (i + 1 == n && r->elements > limit)
            snprintf(next, CH_NOTIFY_ID_MAX + 8, "%s", e->element[0]->str);
    }
    freeReplyObject(r);
    *items = arr;
    return C360_OK;
}
