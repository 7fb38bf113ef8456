/* notify.c -- the endpoint's configuration and emission (see notify.h);
 * sending is in notify_send.c, the watches in notify_watch.c. */
#include "notify_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "call.h"
#include "connector_api.h"
#include "crypto.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "secrets.h"
#include "util.h"

static const char *const ev_names[CH_NEV_COUNT] = {
    "connection.needs_reauth", "connection.failing", "connection.recovered",
    "dead_letters.growing", "refresh_token.expiring",
};

const char *ch_notify_event_name(unsigned bit)
{
    for (int i = 0; i < CH_NEV_COUNT; i++)
        if (bit == (1u << i)) return ev_names[i];
    return NULL;
}

unsigned ch_notify_event_bit(const char *name)
{
    if (!name) return 0;
    for (int i = 0; i < CH_NEV_COUNT; i++)
        if (strcmp(name, ev_names[i]) == 0) return 1u << i;
    return 0;
}

void ch_notify_events_text(unsigned events, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < CH_NEV_COUNT; i++) {
        if (!(events & (1u << i))) continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", ev_names[i]);
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
}

unsigned ch_notify_events_from_text(const char *text)
{
    unsigned ev = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        ev |= ch_notify_event_bit(t);
    return ev;
}

int ch_notify_url_valid(const char *url, char *why, size_t whycap)
{
    if (!url || !*url) {
        ch_seterr(why, whycap, "is empty");
        return 0;
    }
    size_t n = strlen(url);
    if (n > CH_NOTIFY_URL_MAX) {
        ch_seterr(why, whycap, "is longer than %d bytes", CH_NOTIFY_URL_MAX);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) {
            ch_seterr(why, whycap, "holds a space, control or non-ASCII character");
            return 0;
        }
    }
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0) rest = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0) rest = url + 7;
    else {
        ch_seterr(why, whycap, "must start with http:// or https://");
        return 0;
    }
    size_t auth = strcspn(rest, "/?#");
    if (auth == 0) {
        ch_seterr(why, whycap, "has no host");
        return 0;
    }
    if (memchr(rest, '@', auth)) {
        ch_seterr(why, whycap, "must not hold user info (credentials)");
        return 0;
    }
    /* host[:port]: the host part must not be empty, the port numeric. */
    const char *end = rest + auth;
    const char *colon = NULL;
    if (rest[0] == '[') {
        const char *rb = memchr(rest, ']', auth);
        if (!rb || rb == rest + 1) {
            ch_seterr(why, whycap, "has a malformed IPv6 host");
            return 0;
        }
        if (rb + 1 < end) {
            if (rb[1] != ':') {
                ch_seterr(why, whycap, "has a malformed host");
                return 0;
            }
            colon = rb + 1;
        }
    } else {
        colon = memchr(rest, ':', auth);
        if (colon == rest) {
            ch_seterr(why, whycap, "has no host");
            return 0;
        }
    }
    if (colon) {
        size_t pl = (size_t)(end - colon - 1);
        if (pl == 0 || pl > 5) {
            ch_seterr(why, whycap, "has a bad port");
            return 0;
        }
        long port = 0;
        for (const char *p = colon + 1; p < end; p++) {
            if (!isdigit((unsigned char)*p)) {
                ch_seterr(why, whycap, "has a bad port");
                return 0;
            }
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535) {
            ch_seterr(why, whycap, "has a bad port");
            return 0;
        }
    }
    return 1;
}

static char *cfg_key(const char *tenant) { return ch_key_tenant(tenant, "notify"); }

static int64_t to_i64(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

int32_t ch_notify_get(const char *tenant, ch_notify_config *out)
{
    memset(out, 0, sizeof *out);
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    char *k = cfg_key(tenant);
    redisReply *r = ch_rconn_command("HMGET %s url events version created_ms updated_ms", k);
    free(k);
    if (!r) return C360_EIO;
    int32_t st = C360_EIO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
        redisReply **e = r->element;
        if (e[0]->type != REDIS_REPLY_STRING) {
            st = C360_ENOTFOUND;
        } else {
            snprintf(out->url, sizeof out->url, "%s", e[0]->str);
            out->events = ch_notify_events_from_text(e[1]->type == REDIS_REPLY_STRING ? e[1]->str : "");
            out->version = (uint64_t)to_i64(e[2]);
            out->created_ms = to_i64(e[3]);
            out->updated_ms = to_i64(e[4]);
            st = C360_OK;
        }
    }
    freeReplyObject(r);
    return st;
}

json_t *ch_notify_config_json(const ch_notify_config *c)
{
    json_t *ev = json_array();
    for (int i = 0; i < CH_NEV_COUNT; i++)
        if (c->events & (1u << i)) json_array_append_new(ev, json_string(ev_names[i]));
    return json_pack("{s:s,s:o,s:I,s:I,s:I}", "url", c->url, "events", ev, "version",
                     (json_int_t)c->version, "created_ms", (json_int_t)c->created_ms,
                     "updated_ms", (json_int_t)c->updated_ms);
}

/* KEYS: config. ARGV: expected version ("0" = any), url, events, now,
 * claim_stale_ms. Replies {1, version, created_ms, claim} or {0, version}.
 * claim = 1 tells this caller to create the signing secret: none is stored
 * and no other PUT is creating it (or that one stalled for claim_stale_ms),
 * so two first PUTs racing never both hand out a secret. */
static ch_script s_put = CH_SCRIPT(
    "local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')\n"
    "if ARGV[1] ~= '0' and tonumber(ARGV[1]) ~= v then return {0, v} end\n"
    "local now = tonumber(ARGV[4])\n"
    "local created = redis.call('HGET', KEYS[1], 'created_ms')\n"
    "if not created then created = ARGV[4]; redis.call('HSET', KEYS[1], 'created_ms', created) end\n"
    "redis.call('HSET', KEYS[1], 'url', ARGV[2], 'events', ARGV[3], 'updated_ms', ARGV[4],\n"
    "           'version', v + 1)\n"
    "local claim = 0\n"
    "if redis.call('HGET', KEYS[1], 'has_secret') ~= '1' then\n"
    "  local c = tonumber(redis.call('HGET', KEYS[1], 'sec_claim') or '0')\n"
    "  if now - c > tonumber(ARGV[5]) then\n"
    "    redis.call('HSET', KEYS[1], 'sec_claim', ARGV[4])\n"
    "    claim = 1\n"
    "  end\n"
    "end\n"
    "return {1, v + 1, tonumber(created), claim}\n");

/* KEYS: config. ARGV: claim time, ok (1/0). Settles a secret claim made by
 * s_put, if it is still this caller's. */
static ch_script s_claim_done = CH_SCRIPT(
    "if redis.call('HGET', KEYS[1], 'sec_claim') ~= ARGV[1] then return 0 end\n"
    "redis.call('HDEL', KEYS[1], 'sec_claim')\n"
    "if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'has_secret', '1')\n"
    "end\n"
    "return 1\n");

#define CLAIM_STALE_MS 30000

static int32_t make_secret(const char *tenant, char *secret)
{
    uint8_t raw[32];
    ch_random_bytes(raw, sizeof raw);
    char *b64 = ch_base64_encode(raw, sizeof raw, C360_B64_STANDARD);
    sodium_memzero(raw, sizeof raw);
    snprintf(secret, CH_NOTIFY_SECRET_MAX, "%s%s", CH_NOTIFY_SECRET_PREFIX, b64);
    sodium_memzero(b64, strlen(b64));
    free(b64);
    char err[200] = "";
    int32_t st = ch_secret_put(tenant, CH_NOTIFY_SECRET_CONN, CH_NOTIFY_SECRET_NAME, secret,
                               strlen(secret), err, sizeof err);
    if (st != C360_OK) {
        sodium_memzero(secret, CH_NOTIFY_SECRET_MAX);
        secret[0] = '\0';
        ch_log(CH_LOG_WARN, "notify: signing secret not stored", "tenant", tenant, "error", err,
               NULL);
    }
    return st;
}

int32_t ch_notify_put(const char *tenant, const char *url, unsigned events, uint64_t expected,
                      uint64_t *current, ch_notify_config *out, char *secret)
{
    if (secret) secret[0] = '\0';
    if (current) *current = 0;
    if (!ch_id_valid(tenant) || !ch_notify_url_valid(url, NULL, 0) || !(events & CH_NEV_ALL) ||
        (events & ~CH_NEV_ALL) || !secret)
        return C360_EINVAL;
    char evs[256], exp[24], now[24], stale[24];
    ch_notify_events_text(events, evs, sizeof evs);
    snprintf(exp, sizeof exp, "%llu", (unsigned long long)expected);
    int64_t now_ms = ch_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(stale, sizeof stale, "%d", CLAIM_STALE_MS);
    char *k = cfg_key(tenant);
    const char *argv[] = {k, exp, url, evs, now, stale};
    redisReply *r = ch_rconn_eval(&s_put, 1, 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        ch_log(CH_LOG_WARN, "notify: config write failed", "tenant", tenant, "error",
               r && r->type == REDIS_REPLY_ERROR ? r->str : ch_rconn_error(), NULL);
        if (r) freeReplyObject(r);
        free(k);
        return C360_EIO;
    }
    if (r->element[0]->integer == 0) {
        if (current) *current = (uint64_t)r->element[1]->integer;
        freeReplyObject(r);
        free(k);
        return C360_ECONFLICT;
    }
    uint64_t ver = (uint64_t)r->element[1]->integer;
    int64_t created = r->element[2]->integer;
    int claim = r->element[3]->integer == 1;
    freeReplyObject(r);

    int32_t st = C360_OK;
    if (claim) {
        st = make_secret(tenant, secret);
        const char *a2[] = {k, now, st == C360_OK ? "1" : "0"};
        redisReply *r2 = ch_rconn_eval(&s_claim_done, 1, 3, a2, NULL);
        if (!r2 || r2->type != REDIS_REPLY_INTEGER) st = C360_EIO;
        if (r2) freeReplyObject(r2);
        if (st != C360_OK && secret[0]) {
            sodium_memzero(secret, CH_NOTIFY_SECRET_MAX);
            secret[0] = '\0';
        }
    }
    free(k);
    if (st != C360_OK) return C360_EIO;

    /* The sender's indexes; a failure here only delays the dead-letter and
     * refresh watches until the next PUT (the outbox marks itself due). */
    redisReply *r3 = ch_rconn_command("SADD %s %s", CH_NOTIFY_TENANTS, tenant);
    if (!r3 || r3->type != REDIS_REPLY_INTEGER)
        ch_log(CH_LOG_WARN, "notify: tenant index not updated", "tenant", tenant, NULL);
    if (r3) freeReplyObject(r3);

    if (out) {
        memset(out, 0, sizeof *out);
        snprintf(out->url, sizeof out->url, "%s", url);
        out->events = events;
        out->version = ver;
        out->created_ms = created;
        out->updated_ms = now_ms;
    }
    return C360_OK;
}

int32_t ch_notify_delete(const char *tenant)
{
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    char *k = cfg_key(tenant);
    char *q = ch_key_tenant(tenant, "notify:q"), *cur = ch_key_tenant(tenant, "notify:cur");
    char *retry = ch_key_tenant(tenant, "notify:retry"), *att = ch_key_tenant(tenant, "notify:att");
    char *dlc = ch_key_tenant(tenant, "notify:dlc");
    /* The config first: from then on nothing is queued or sent. */
    redisReply *r = ch_rconn_command("DEL %s", k);
    int32_t st = C360_EIO;
    if (r && r->type == REDIS_REPLY_INTEGER) st = r->integer == 1 ? C360_OK : C360_ENOTFOUND;
    if (r) freeReplyObject(r);
    if (st == C360_OK) {
        char err[200] = "";
        if (ch_secret_delete(tenant, CH_NOTIFY_SECRET_CONN, CH_NOTIFY_SECRET_NAME, err,
                             sizeof err) != C360_OK)
            st = C360_EIO;
        r = ch_rconn_command("DEL %s %s %s %s %s", q, cur, retry, att, dlc);
        if (!r || r->type != REDIS_REPLY_INTEGER) st = C360_EIO;
        if (r) freeReplyObject(r);
        r = ch_rconn_command("SREM %s %s", CH_NOTIFY_TENANTS, tenant);
        if (r) freeReplyObject(r);
        r = ch_rconn_command("ZREM %s %s", CH_NOTIFY_DUE, tenant);
        if (r) freeReplyObject(r);
    }
    free(k); free(q); free(cur); free(retry); free(att); free(dlc);
    return st;
}

/* ---- emission --------------------------------------------------------------- */

void ch_notify_new_id(char out[CH_NOTIFY_ID_MAX])
{
    uint8_t raw[16];
    ch_random_bytes(raw, sizeof raw);
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    snprintf(out, CH_NOTIFY_ID_MAX, "ntf_%s", hex);
}

/* KEYS: config, outbox. ARGV: event, nid, conn, state, cause, t, data,
 * maxlen. Queues only when the endpoint is subscribed to the event. */
static ch_script s_emit = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "if not has_event(redis.call('HGET', KEYS[1], 'events'), ARGV[1]) then return 0 end\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'nid', ARGV[2], 'type', ARGV[1],\n"
    "           'c', ARGV[3], 'state', ARGV[4], 'cause', ARGV[5], 't', ARGV[6], 'data', ARGV[7])\n"
    "return 1\n");

/* KEYS: due. ARGV: tenant. Due now by the Redis clock (the sender's
 * claims use it too); LT keeps an earlier due time. */
static ch_script s_due = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "return redis.call('ZADD', KEYS[1], 'LT', now_ms(), ARGV[1])\n");

void ch_notify_mark_due(const char *tenant)
{
    const char *argv[] = {CH_NOTIFY_DUE, tenant};
    redisReply *r = ch_rconn_eval(&s_due, 1, 2, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        ch_log(CH_LOG_WARN, "notify: cannot mark the outbox due", "tenant", tenant, "error",
               r && r->type == REDIS_REPLY_ERROR ? r->str : ch_rconn_error(), NULL);
    if (r) freeReplyObject(r);
}

int ch_notify_emit(const char *tenant, unsigned event, const char *conn, const char *state,
                   const char *cause, json_t *data)
{
    const char *name = ch_notify_event_name(event);
    if (!ch_id_valid(tenant) || !name || (conn && *conn && !ch_id_valid(conn))) {
        json_decref(data);
        return -1;
    }
    char *dj = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    char nid[CH_NOTIFY_ID_MAX], t[24], mx[16], cz[CH_NOTIFY_CAUSE_MAX];
    ch_notify_new_id(nid);
    snprintf(t, sizeof t, "%lld", (long long)ch_now_ms());
    snprintf(mx, sizeof mx, "%d", CH_NOTIFY_OUTBOX_MAX);
    snprintf(cz, sizeof cz, "%s", cause ? cause : "");
    for (char *p = cz; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    char *k = cfg_key(tenant), *q = ch_key_tenant(tenant, "notify:q");
    const char *argv[] = {k, q, name, nid, conn ? conn : "", state ? state : "", cz, t,
                          dj ? dj : "{}", mx};
    redisReply *r = ch_rconn_eval(&s_emit, 2, 10, argv, NULL);
    free(k);
    free(q);
    free(dj);
    int res = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) res = (int)r->integer;
    else
        ch_log(CH_LOG_WARN, "notify: emission failed", "tenant", tenant, "event", name, "error",
               r && r->type == REDIS_REPLY_ERROR ? r->str : ch_rconn_error(), NULL);
    if (r) freeReplyObject(r);
    if (res == 1) ch_notify_mark_due(tenant);
    return res;
}

void ch_notify_conn_state(const char *tenant, const char *conn, const char *prev,
                          const char *state, const char *cause)
{
    if (!state) return;
    const char *was = prev && *prev ? prev : "active";
    if (strcmp(was, state) == 0) return;
    unsigned ev = 0;
    if (strcmp(state, "needs_reauth") == 0) ev = CH_NEV_NEEDS_REAUTH;
    else if (strcmp(state, "failing") == 0) ev = CH_NEV_FAILING;
    else if (strcmp(state, "active") == 0 &&
             (strcmp(was, "failing") == 0 || strcmp(was, "needs_reauth") == 0))
        ev = CH_NEV_RECOVERED;
    if (!ev) return;
    ch_notify_emit(tenant, ev, conn, state, cause, json_pack("{s:s}", "previous_state", was));
}
