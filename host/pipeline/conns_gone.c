/* conns_gone.c -- tombstones of disconnected connections (conns.h).
 *
 * One sorted set, c360:{idx}:gone: member = connection id, score = the
 * mark's expiry in Unix ms. A set rather than a key per connection with a
 * TTL so that every host's cache can read all marks without a SCAN of the
 * keyspace; expired members are dropped by each new mark (the set holds
 * at most the ids disconnected within the last 30 days). */
#include <stdio.h>
#include <stdlib.h>

#include "call.h"
#include "conns.h"
#include "conns_int.h"
#include "keys.h"
#include "rconn.h"

int32_t ch_conn_gone_mark(const char *id)
{
    if (!ch_id_valid(id)) return C360_EINVAL;
    long long now = (long long)ch_now_ms();
    redisReply *r = ch_rconn_command("ZADD %s %lld %s", CH_CONN_GONE_KEY,
                                     now + (long long)CH_CONN_GONE_TTL_MS, id);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("gone-mark", r);
    if (r) freeReplyObject(r);
    if (st != C360_OK) return st;
    r = ch_rconn_command("ZREMRANGEBYSCORE %s -inf %lld", CH_CONN_GONE_KEY, now);
    if (!r || r->type != REDIS_REPLY_INTEGER) (void)ch_conns_io("gone-trim", r); /* next time */
    if (r) freeReplyObject(r);
    return C360_OK;
}

int32_t ch_conn_gone_clear(const char *id)
{
    if (!ch_id_valid(id)) return C360_EINVAL;
    redisReply *r = ch_rconn_command("ZREM %s %s", CH_CONN_GONE_KEY, id);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("gone-clear", r);
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
