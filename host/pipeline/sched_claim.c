/* sched_claim.c -- one claim round of the scheduler (see scheduler.h): take due
 * members, enqueue their ticks in the tenants' streams, wake workers. */
#include "scheduler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "call.h"
#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "sched_int.h"
#include "sched_lua.h"

/* Atomic: of all hosts running this at once, exactly one gets each due
 * member, because the member's new score (the lease) is past `now` for
 * everyone after us. Replies {lease, now, {member, old score, ...}}. */
static ch_script claim_script = CH_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))\n"
    "local lease = now + tonumber(ARGV[2])\n"
    "for i = 1, #m, 2 do redis.call('ZADD', KEYS[1], lease, m[i]) end\n"
    "return {lease, now, m}\n");

/* In the tenant's slot: decide and enqueue one tick. ARGV: conn, rid, t,
 * sync (1 = the member was set to 0 by "sync now"), floor_s, default_s,
 * rand (millionths in [0, 1e6)). Replies {outcome} or {outcome, value}:
 *   ok <entry id>       enqueued
 *   queued <entry id>   its previous tick still waits or runs
 *   spread <offset ms>  never ticked: first due at claim time + offset
 *   gone, inactive, notick   to be dropped from the due set */
static ch_script enqueue_script = CH_SCRIPT(
    CH_LUA_ENSURE_GROUP CH_LUA_ID_LT CH_LUA_GROUP_FIELD
    /* Is entry `id` of stream `key` still waiting or running? It is if it
     * exists and is pending, or was never read (after the group's last
     * delivered id). Acked, dead-lettered or trimmed: no. */
    "local function queued(key, id)\n"
    "  local e = redis.pcall('XRANGE', key, id, id)\n"
    "  if type(e) ~= 'table' or e.err or #e == 0 then return false end\n"
    "  local p = redis.pcall('XPENDING', key, 'w', id, id, 1)\n"
    "  if type(p) == 'table' and not p.err and #p > 0 then return true end\n"
    "  local last = group_field(key, 'last-delivered-id')\n"
    "  if not last then return true end\n"
    "  return id_lt(last, id)\n"
    "end\n"
    "local c = redis.call('HMGET', KEYS[1], 'plugin', 'state', 'interval_s', 'ticks')\n"
    "if not c[1] then return {'gone'} end\n"
    "local st = c[2] or 'active'\n"
    "if st ~= 'active' and st ~= 'failing' then return {'inactive'} end\n"
    "if c[4] ~= '1' then return {'notick'} end\n"
    "local q = redis.call('HGET', KEYS[2], 'tick_q')\n"
    "if q and queued(KEYS[3], q) then\n"
    "  if ARGV[4] == '1' then redis.call('HSET', KEYS[2], 'tick_again', '1') end\n"
    "  return {'queued', q}\n"
    "end\n"
    /* The first claim of a connection that never ticked spreads it over
     * one interval (once: spread_ms marks it), so that an import of many
     * connections does not fire them all at once. "Sync now" skips it. */
    "if ARGV[4] ~= '1' and redis.call('HEXISTS', KEYS[2], 'last_tick_ms') == 0 and\n"
    "   redis.call('HSETNX', KEYS[2], 'spread_ms', ARGV[3]) == 1 then\n"
    "  local iv = tonumber(c[3] or '') or 0\n"
    "  if iv <= 0 then iv = tonumber(ARGV[6]) end\n"
    "  if iv < tonumber(ARGV[5]) then iv = tonumber(ARGV[5]) end\n"
    "  return {'spread', math.floor(iv * 1000 * tonumber(ARGV[7]) / 1000000)}\n"
    "end\n"
    "ensure_group(KEYS[3])\n"
    "local id = redis.call('XADD', KEYS[3], '*', 'k', 'tick', 'c', ARGV[1], 'p', c[1],\n"
    "                      't', ARGV[3], 'a', '1', 'rid', ARGV[2])\n"
    "redis.call('HSET', KEYS[2], 'tick_q', id)\n"
    "return {'ok', id}\n");

/* Only while the member still holds our lease (ARGV[2]): removes it
 * (ARGV[3] absent) or moves it to score ARGV[3]. If conns re-added it
 * meanwhile (the connection became active again), it stays as it is. */
static ch_script settle_script = CH_SCRIPT(
    "local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if s and tonumber(s) == tonumber(ARGV[2]) then\n"
    "  if ARGV[3] then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "  else redis.call('ZREM', KEYS[1], ARGV[1]) end\n"
    "  return 1\n"
    "end\n"
    "return 0\n");

typedef enum { ENQ_OK, ENQ_QUEUED, ENQ_SPREAD, ENQ_DROP, ENQ_FAIL } enq_outcome;

static enq_outcome enqueue(const char *tenant, const char *conn, int sync, long long *spread_ms)
{
    unsigned char raw[8];
    char rid[32], t[24], floor[16], dflt[16], rnd[16];
    randombytes_buf(raw, sizeof raw);
    snprintf(rid, sizeof rid, "tick-");
    for (size_t i = 0; i < sizeof raw; i++) snprintf(rid + 5 + 2 * i, 3, "%02x", raw[i]);
    snprintf(t, sizeof t, "%" PRId64, ch_now_ms());
    snprintf(floor, sizeof floor, "%d", ch_sched_floor_s());
    snprintf(dflt, sizeof dflt, "%d", ch_sched_default_s());
    snprintf(rnd, sizeof rnd, "%" PRIu32, randombytes_uniform(1000000));
    char *kconn = ch_key_tenant(tenant, "conn:%s", conn);
    char *kstat = ch_key_tenant(tenant, "conn:%s:stat", conn);
    char *kev = ch_key_tenant(tenant, "ev");
    const char *argv[] = {kconn, kstat, kev, conn, rid, t, sync ? "1" : "0", floor, dflt, rnd};
    redisReply *r = ch_rconn_eval(&enqueue_script, 3, 10, argv, NULL);
    free(kconn);
    free(kstat);
    free(kev);
    enq_outcome out = ENQ_FAIL;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        const char *o = r->element[0]->str;
        if (strcmp(o, "ok") == 0) out = ENQ_OK;
        else if (strcmp(o, "queued") == 0) out = ENQ_QUEUED;
        else if (strcmp(o, "spread") == 0 && r->elements == 2 &&
                 r->element[1]->type == REDIS_REPLY_INTEGER) {
            *spread_ms = r->element[1]->integer;
            out = ENQ_SPREAD;
        }
        else if (strcmp(o, "gone") == 0 || strcmp(o, "inactive") == 0 || strcmp(o, "notick") == 0)
            out = ENQ_DROP;
    }
    if (out == ENQ_FAIL) ch_sched_io_error("enqueue", r);
    if (r) freeReplyObject(r);
    return out;
}

/* Removes the member (to_score NULL) or moves it, if it holds our lease. */
static int settle(const char *member, const char *lease, const char *to_score)
{
    const char *argv[] = {CH_SCHED_DUE_KEY, member, lease, to_score};
    redisReply *r = ch_rconn_eval(&settle_script, 1, to_score ? 4 : 3, argv, NULL);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (!ok) ch_sched_io_error("settle", r);
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

/* One LPUSH of every tenant that got work, then the cap: idle workers
 * block on this list (BLPOP) and pick the tenant up at once. */
void ch_sched_wake(const char **tenants, size_t n)
{
    if (!n) return;
    const char **argv = calloc(n + 2, sizeof *argv);
    if (!argv) abort();
    argv[0] = "LPUSH";
    argv[1] = CH_SCHED_WAKE_KEY;
    for (size_t i = 0; i < n; i++) argv[i + 2] = tenants[i];
    redisReply *r = ch_rconn_argv((int)(n + 2), argv, NULL);
    free(argv);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        /* Not fatal: workers also poll the tenants' streams. */
        ch_sched_io_error("wake", r);
        if (r) freeReplyObject(r);
        return;
    }
    freeReplyObject(r);
    r = ch_rconn_command("LTRIM %s 0 %d", CH_SCHED_WAKE_KEY, CH_SCHED_WAKE_MAX - 1);
    if (!r || r->type != REDIS_REPLY_STATUS) ch_sched_io_error("wake trim", r);
    if (r) freeReplyObject(r);
}

int32_t ch_sched_claim(ch_sched_claim_stats *stats)
{
    ch_sched_claim_stats st = {0};
    char batch[16], lease_ms[16];
    snprintf(batch, sizeof batch, "%d", CH_SCHED_BATCH);
    snprintf(lease_ms, sizeof lease_ms, "%d", ch_sched_lease_ms());
    const char *argv[] = {CH_SCHED_DUE_KEY, batch, lease_ms};
    redisReply *r = ch_rconn_eval(&claim_script, 1, 3, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_ARRAY || r->element[2]->elements % 2 != 0) {
        int32_t rc = ch_sched_io_error("claim", r);
        if (r) freeReplyObject(r);
        if (stats) *stats = st;
        return rc;
    }
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", r->element[0]->integer);
    long long now = r->element[1]->integer; /* the Redis clock at the claim */
    redisReply *m = r->element[2];
    const char *woken[CH_SCHED_BATCH];
    size_t nwoken = 0;
    for (size_t i = 0; i + 1 < m->elements; i += 2) {
        redisReply *mem = m->element[i], *score = m->element[i + 1];
        if (mem->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING) {
            st.failed++;
            continue;
        }
        st.claimed++;
        char tenant[CH_ID_MAX + 1], conn[CH_ID_MAX + 1];
        const char *slash = memchr(mem->str, '/', mem->len);
        size_t tl = slash ? (size_t)(slash - mem->str) : 0;
        size_t cl = slash ? mem->len - tl - 1 : 0;
        if (!slash || tl > CH_ID_MAX || cl > CH_ID_MAX) tl = cl = 0;
        memcpy(tenant, mem->str, tl);
        tenant[tl] = '\0';
        if (slash) memcpy(conn, slash + 1, cl);
        conn[cl] = '\0';
        if (!ch_id_valid(tenant) || !ch_id_valid(conn)) {
            /* Not ours to interpret: a member nobody can tick would be
             * claimed for ever. */
            ch_log(CH_LOG_WARN, "scheduler: malformed due member removed", NULL);
            if (settle(mem->str, lease, NULL) == 0) st.dropped++;
            else st.failed++;
            continue;
        }
        long long spread = 0;
        switch (enqueue(tenant, conn, strcmp(score->str, "0") == 0, &spread)) {
        case ENQ_OK: {
            st.enqueued++;
            /* Wake with the tenant only: cut the member at the slash in
             * place (the reply is ours and freed after the wake). */
            mem->str[tl] = '\0';
            size_t k = 0;
            while (k < nwoken && strcmp(woken[k], mem->str) != 0) k++;
            if (k == nwoken) woken[nwoken++] = mem->str;
            break;
        }
        case ENQ_QUEUED: st.skipped++; break;
        case ENQ_SPREAD: {
            char to[24];
            snprintf(to, sizeof to, "%lld", now + spread);
            if (settle(mem->str, lease, to) == 0) st.spread++;
            else st.failed++;
            break;
        }
        case ENQ_DROP:
            if (settle(mem->str, lease, NULL) == 0) st.dropped++;
            else st.failed++;
            break;
        case ENQ_FAIL: st.failed++; break;
        }
    }
    ch_sched_wake(woken, nwoken);
    freeReplyObject(r);
    ch_metrics_inc(CH_M_TICKS_DUE, st.enqueued);
    if (stats) *stats = st;
    return C360_OK;
}
