/* conns_gone.c -- tombstones of disconnected connections (conns.h).
 *
 * One sorted set, c360:{idx}:gone: member = connection id, score = the
 * mark's expiry in Unix ms. A set rather than a key per connection with a
 * TTL so that every host's cache can read all marks without a SCAN of the
 * keyspace; expired members are dropped by each new mark (the set holds
 * at most the ids disconnected within the mark's lifetime). Beside it,
 * c360:{idx}:gone-owner names the tenant that owned each id (as a hash
 * tag, not the id): while the mark lives, no other tenant may create a
 * connection with that id, so a provider still sending to the old webhook
 * URL can never feed another tenant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "conns.h"
#include "conns_int.h"
#include "crypto.h"
#include "keys.h"
#include "rconn.h"

/* The owner of a mark, without the tenant id in clear: the first 16 bytes
 * of SHA-256("c360-gone:" tenant), hex. Enough to tell tenants apart; the
 * {idx} keys then hold no tenant id that a scan for it would find. */
static void owner_tag(const char *tenant, char out[33])
{
    char buf[CH_ID_MAX + 16];
    snprintf(buf, sizeof buf, "c360-gone:%s", tenant);
    uint8_t h[32];
    ch_sha256(buf, strlen(buf), h);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[32] = '\0';
}

/* KEYS: gone zset, owner hash. ARGV: id, expiry, now, owner tag. Drops up
 * to 1000 expired marks with their owners, then marks id. */
static ch_script s_mark = CH_SCRIPT(
    "local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, 1000)\n"
    "if #old > 0 then\n"
    "  redis.call('ZREM', KEYS[1], unpack(old))\n"
    "  redis.call('HDEL', KEYS[2], unpack(old))\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])\n"
    "return 1\n");

int32_t ch_conn_gone_mark(const char *tenant, const char *id)
{
    if (!ch_id_valid(id) || !ch_id_valid(tenant)) return C360_EINVAL;
    long long now = (long long)ch_now_ms();
    char exp[24], nows[24], tag[33];
    snprintf(exp, sizeof exp, "%lld", now + (long long)CH_CONN_GONE_TTL_MS);
    snprintf(nows, sizeof nows, "%lld", now);
    owner_tag(tenant, tag);
    const char *argv[] = {CH_CONN_GONE_KEY, CH_CONN_GONE_OWNER_KEY, id, exp, nows, tag};
    redisReply *r = ch_rconn_eval(&s_mark, 2, 6, argv, NULL);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("gone-mark", r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_gone_clear(const char *id)
{
    if (!ch_id_valid(id)) return C360_EINVAL;
    redisReply *r = ch_rconn_command("ZREM %s %s", CH_CONN_GONE_KEY, id);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("gone-clear", r);
    if (r) freeReplyObject(r);
    if (st != C360_OK) return st;
    r = ch_rconn_command("HDEL %s %s", CH_CONN_GONE_OWNER_KEY, id);
    st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("gone-clear-owner", r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_gone_other_owner(const char *tenant, const char *id, int *other)
{
    *other = 0;
    int64_t exp = 0;
    int32_t st = ch_conn_gone_get(id, &exp);
    if (st != C360_OK || exp == 0) return st;
    redisReply *r = ch_rconn_command("HGET %s %s", CH_CONN_GONE_OWNER_KEY, id);
    char tag[33];
    owner_tag(tenant, tag);
    if (r && r->type == REDIS_REPLY_STRING) *other = strcmp(r->str, tag) != 0;
    else if (r && r->type == REDIS_REPLY_NIL) *other = 0; /* a mark from before owners */
    else st = ch_conns_io("gone-owner", r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_gone_get(const char *id, int64_t *expires_ms)
{
    *expires_ms = 0;
    if (!ch_id_valid(id)) return C360_EINVAL;
    redisReply *r = ch_rconn_command("ZSCORE %s %s", CH_CONN_GONE_KEY, id);
    int32_t st = C360_OK;
    if (r && r->type == REDIS_REPLY_STRING) {
        double v = strtod(r->str, NULL);
        if (v > (double)ch_now_ms()) *expires_ms = (int64_t)v;
    } else if (!r || r->type != REDIS_REPLY_NIL) {
        st = ch_conns_io("gone-get", r);
    }
    if (r) freeReplyObject(r);
    return st;
}
