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
#include "util.h"

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

/* In the tenant's slot: decide and enqueue the ticks of up to
 * CH_SCHED_ENQ_CHUNK members of one tenant at once (one round trip for
 * them all). KEYS: the tenant's ev stream, then per member its conn and
 * stat hashes. ARGV: t, floor_s, default_s, then per member 5: conn, rid,
 * sync (1 = the member was set to 0 by "sync now"), rand (millionths in
 * [0, 1e6)), due (the member's score when claimed). Replies one
 * {outcome} or {outcome, value} per member, in order:
 *   ok <entry id>       enqueued (stat tick_q = the id, tick_due = due)
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
    "local grouped = false\n"
    "local function one(kc, ks, conn, rid, sync, rnd, due)\n"
    "  local c = redis.call('HMGET', kc, 'plugin', 'state', 'interval_s', 'ticks')\n"
    "  if not c[1] then return {'gone'} end\n"
    "  local st = c[2] or 'active'\n"
    "  if st ~= 'active' and st ~= 'failing' then return {'inactive'} end\n"
    "  if c[4] ~= '1' then return {'notick'} end\n"
    "  local s = redis.call('HMGET', ks, 'tick_q', 'last_tick_ms')\n"
    "  local q = s[1]\n"
    "  if q and queued(KEYS[1], q) then\n"
    "    if sync == '1' then redis.call('HSET', ks, 'tick_again', '1') end\n"
    "    return {'queued', q}\n"
    "  end\n"
    /* The first claim of a connection that never ticked spreads it over
     * one interval (once: spread_ms marks it), so that an import of many
     * connections does not fire them all at once. "Sync now" skips it. */
    "  if sync ~= '1' and not s[2] and redis.call('HSETNX', ks, 'spread_ms', ARGV[1]) == 1 then\n"
    "    local iv = tonumber(c[3] or '') or 0\n"
    "    if iv <= 0 then iv = tonumber(ARGV[3]) end\n"
    "    if iv < tonumber(ARGV[2]) then iv = tonumber(ARGV[2]) end\n"
    "    return {'spread', math.floor(iv * 1000 * tonumber(rnd) / 1000000)}\n"
    "  end\n"
    "  if not grouped then ensure_group(KEYS[1]); grouped = true end\n"
    "  local id = redis.call('XADD', KEYS[1], '*', 'k', 'tick', 'c', conn, 'p', c[1],\n"
    "                        't', ARGV[1], 'a', '1', 'rid', rid)\n"
    /* tick_due: tick_done anchors the next due time to this one. */
    "  redis.call('HSET', ks, 'tick_q', id, 'tick_due', due)\n"
    "  return {'ok', id}\n"
    "end\n"
    "local out = {}\n"
    "for i = 1, (#KEYS - 1) / 2 do\n"
    "  local a = 3 + (i - 1) * 5\n"
    "  out[i] = one(KEYS[2 * i], KEYS[2 * i + 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],\n"
    "               ARGV[a + 4], ARGV[a + 5])\n"
    "end\n"
    "return out\n");

/* Only for the members that still hold our lease (ARGV[1]): removes
 * (ARGV[2k+1] = "") or moves each to score ARGV[2k+1]; ARGV[2k] is the
 * member. One that conns re-added meanwhile (the connection became active
 * again) stays as it is. Replies how many were settled. */
static ch_script settle_script = CH_SCRIPT(
    "local n = 0\n"
    "for i = 2, #ARGV - 1, 2 do\n"
    "  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])\n"
    "  if s and tonumber(s) == tonumber(ARGV[1]) then\n"
    "    if ARGV[i + 1] ~= '' then redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])\n"
    "    else redis.call('ZREM', KEYS[1], ARGV[i]) end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n");

#define CH_SCHED_ENQ_CHUNK 64 /* members per enqueue script: bounds how long
                                 one script holds Redis */

typedef enum { ENQ_OK, ENQ_QUEUED, ENQ_SPREAD, ENQ_DROP, ENQ_FAIL } enq_outcome;

/* One claimed member on its way through the round. */
typedef struct claimed {
    redisReply *mem;          /* "T/c" (from the claim reply) */
    const char *score;        /* its score when claimed: the due time */
    char tenant[CH_ID_MAX + 1], conn[CH_ID_MAX + 1];
    char rid[32], rnd[16];
    char *kconn, *kstat;
    int valid;
    enq_outcome out;
    long long spread_ms;
    char to[24];              /* settle: new score, "" = remove */
} claimed;

static enq_outcome parse_outcome(redisReply *r, long long *spread_ms)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return ENQ_FAIL;
    const char *o = r->element[0]->str;
    if (strcmp(o, "ok") == 0) return ENQ_OK;
    if (strcmp(o, "queued") == 0) return ENQ_QUEUED;
    if (strcmp(o, "spread") == 0 && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER) {
        *spread_ms = r->element[1]->integer;
        return ENQ_SPREAD;
    }
    if (strcmp(o, "gone") == 0 || strcmp(o, "inactive") == 0 || strcmp(o, "notick") == 0)
        return ENQ_DROP;
    return ENQ_FAIL;
}

/* Enqueues the valid members of cs (n <= CH_SCHED_BATCH, as the claim
 * reply is checked to be): grouped by tenant into chunks, one script call
 * per chunk, all calls pipelined (one round trip). Sets each member's out
 * (ENQ_FAIL where Redis failed). The per-member and per-chunk arrays are
 * fixed, bounded by CH_SCHED_BATCH (a chunk holds at least one member). */
static void enqueue_all(claimed *cs, size_t n)
{
    if (n > CH_SCHED_BATCH) abort(); /* the caller's checked bound, broken */
    char t[24], floor[16], dflt[16];
    snprintf(t, sizeof t, "%" PRId64, ch_now_ms());
    snprintf(floor, sizeof floor, "%d", ch_sched_floor_s());
    snprintf(dflt, sizeof dflt, "%d", ch_sched_default_s());
    /* Member indexes grouped by tenant (in claim order), then cut into
     * chunks: a new one at each tenant change or every
     * CH_SCHED_ENQ_CHUNK members. */
    size_t order[CH_SCHED_BATCH] = {0}, start[CH_SCHED_BATCH + 1] = {0};
    unsigned char taken[CH_SCHED_BATCH] = {0};
    size_t no = 0, nchunks = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cs[i].valid || taken[i]) continue;
        for (size_t j = i; j < n; j++) {
            if (!cs[j].valid || taken[j] || strcmp(cs[j].tenant, cs[i].tenant) != 0) continue;
            taken[j] = 1;
            order[no++] = j;
        }
    }
    for (size_t o = 0; o < no; o++) {
        if (o == 0 || o - start[nchunks - 1] == CH_SCHED_ENQ_CHUNK ||
            strcmp(cs[order[o]].tenant, cs[order[o - 1]].tenant) != 0)
            start[nchunks++] = o;
    }
    start[nchunks] = no;
    ch_rconn_cmd cmds[CH_SCHED_BATCH];
    int nkeys[CH_SCHED_BATCH];
    redisReply *replies[CH_SCHED_BATCH] = {0};
    char *kev[CH_SCHED_BATCH];
    for (size_t c = 0; c < nchunks; c++) {
        size_t k = start[c + 1] - start[c];
        size_t argc = 1 + 2 * k + 3 + 5 * k;
        const char **argv = ch_calloc(argc, sizeof *argv);
        const claimed *first = &cs[order[start[c]]];
        kev[c] = ch_key_tenant(first->tenant, "ev");
        argv[0] = kev[c];
        size_t a = 1 + 2 * k;
        argv[a++] = t;
        argv[a++] = floor;
        argv[a++] = dflt;
        for (size_t m = 0; m < k; m++) {
            claimed *x = &cs[order[start[c] + m]];
            argv[1 + 2 * m] = x->kconn;
            argv[2 + 2 * m] = x->kstat;
            argv[a++] = x->conn;
            argv[a++] = x->rid;
            argv[a++] = strcmp(x->score, "0") == 0 ? "1" : "0";
            argv[a++] = x->rnd;
            argv[a++] = x->score;
        }
        cmds[c] = (ch_rconn_cmd){(int)argc, argv, NULL};
        nkeys[c] = (int)(1 + 2 * k);
    }
    ch_rconn_eval_pipeline(&enqueue_script, nchunks, nkeys, cmds, replies);
    for (size_t c = 0; c < nchunks; c++) {
        size_t k = start[c + 1] - start[c];
        redisReply *r = replies[c];
        int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == k;
        if (!ok) ch_sched_io_error("enqueue", r);
        for (size_t m = 0; m < k; m++) {
            claimed *x = &cs[order[start[c] + m]];
            x->out = ok ? parse_outcome(r->element[m], &x->spread_ms) : ENQ_FAIL;
            if (ok && x->out == ENQ_FAIL) ch_sched_io_error("enqueue", r->element[m]);
        }
        if (r) freeReplyObject(r);
        free((void *)cmds[c].argv);
        free(kev[c]);
    }
}

/* Removes (to "") or moves the members of cs (n <= CH_SCHED_BATCH: they
 * come from one claim) that hold our lease, in one script call; 0, or -1
 * if Redis failed. */
static int settle(claimed **cs, size_t n, const char *lease)
{
    if (!n) return 0;
    if (n > CH_SCHED_BATCH) abort(); /* the caller's bound, broken */
    const char *argv[2 + 2 * CH_SCHED_BATCH];
    argv[0] = CH_SCHED_DUE_KEY;
    argv[1] = lease;
    for (size_t i = 0; i < n; i++) {
        argv[2 + 2 * i] = cs[i]->mem->str;
        argv[3 + 2 * i] = cs[i]->to;
    }
    redisReply *r = ch_rconn_eval(&settle_script, 1, (int)(2 + 2 * n), argv, NULL);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (!ok) ch_sched_io_error("settle", r);
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

/* One LPUSH of every tenant that got work, then the cap, pipelined: idle
 * workers block on this list (BLPOP) and pick the tenant up at once. */
void ch_sched_wake(const char **tenants, size_t n)
{
    if (!n) return;
    const char **argv = ch_calloc(n + 2, sizeof *argv);
    argv[0] = "LPUSH";
    argv[1] = CH_SCHED_WAKE_KEY;
    for (size_t i = 0; i < n; i++) argv[i + 2] = tenants[i];
    char stop[16];
    snprintf(stop, sizeof stop, "%d", CH_SCHED_WAKE_MAX - 1);
    const char *trim[] = {"LTRIM", CH_SCHED_WAKE_KEY, "0", stop};
    ch_rconn_cmd cmds[2] = {{(int)(n + 2), argv, NULL}, {4, trim, NULL}};
    redisReply *r[2] = {NULL, NULL};
    ch_rconn_pipeline(2, cmds, r);
    free(argv);
    /* Not fatal: workers also poll the tenants' streams. */
    if (!r[0] || r[0]->type != REDIS_REPLY_INTEGER) ch_sched_io_error("wake", r[0]);
    else if (!r[1] || r[1]->type != REDIS_REPLY_STATUS) ch_sched_io_error("wake trim", r[1]);
    for (int i = 0; i < 2; i++)
        if (r[i]) freeReplyObject(r[i]);
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
        r->element[2]->type != REDIS_REPLY_ARRAY || r->element[2]->elements % 2 != 0 ||
        r->element[2]->elements / 2 > CH_SCHED_BATCH) {
        int32_t rc = ch_sched_io_error("claim", r);
        if (r) freeReplyObject(r);
        if (stats) *stats = st;
        return rc;
    }
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", r->element[0]->integer);
    long long now = r->element[1]->integer; /* the Redis clock at the claim */
    redisReply *m = r->element[2];
    size_t n = m->elements / 2;
    claimed *cs = ch_calloc(n, sizeof *cs); /* n is checked <= CH_SCHED_BATCH above */
    claimed *to_settle[CH_SCHED_BATCH];
    size_t nsettle = 0;
    for (size_t i = 0; i < n; i++) {
        claimed *x = &cs[i];
        redisReply *mem = m->element[2 * i], *score = m->element[2 * i + 1];
        x->out = ENQ_FAIL;
        if (mem->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING) {
            st.failed++;
            continue;
        }
        st.claimed++;
        x->mem = mem;
        x->score = score->str;
        const char *slash = memchr(mem->str, '/', mem->len);
        size_t tl = slash ? (size_t)(slash - mem->str) : 0;
        size_t cl = slash ? mem->len - tl - 1 : 0;
        if (!slash || tl > CH_ID_MAX || cl > CH_ID_MAX) tl = cl = 0;
        memcpy(x->tenant, mem->str, tl);
        x->tenant[tl] = '\0';
        if (slash) memcpy(x->conn, slash + 1, cl);
        x->conn[cl] = '\0';
        if (!ch_id_valid(x->tenant) || !ch_id_valid(x->conn)) {
            /* Not ours to interpret: a member nobody can tick would be
             * claimed for ever. */
            ch_log(CH_LOG_WARN, "scheduler: malformed due member removed", NULL);
            x->out = ENQ_DROP;
            to_settle[nsettle++] = x;
            continue;
        }
        x->valid = 1;
        unsigned char raw[8];
        randombytes_buf(raw, sizeof raw);
        snprintf(x->rid, sizeof x->rid, "tick-");
        for (size_t k = 0; k < sizeof raw; k++) snprintf(x->rid + 5 + 2 * k, 3, "%02x", raw[k]);
        snprintf(x->rnd, sizeof x->rnd, "%" PRIu32, randombytes_uniform(1000000));
        x->kconn = ch_key_tenant(x->tenant, "conn:%s", x->conn);
        x->kstat = ch_key_tenant(x->tenant, "conn:%s:stat", x->conn);
    }
    enqueue_all(cs, n);
    const char *woken[CH_SCHED_BATCH];
    size_t nwoken = 0;
    for (size_t i = 0; i < n; i++) {
        claimed *x = &cs[i];
        if (!x->valid) continue;
        switch (x->out) {
        case ENQ_OK: {
            st.enqueued++;
            size_t k = 0;
            while (k < nwoken && strcmp(woken[k], x->tenant) != 0) k++;
            if (k == nwoken) woken[nwoken++] = x->tenant;
            break;
        }
        case ENQ_QUEUED: st.skipped++; break;
        case ENQ_SPREAD:
            snprintf(x->to, sizeof x->to, "%lld", now + x->spread_ms);
            to_settle[nsettle++] = x;
            break;
        case ENQ_DROP: to_settle[nsettle++] = x; break;
        case ENQ_FAIL: st.failed++; break;
        }
    }
    int settled = settle(to_settle, nsettle, lease) == 0;
    for (size_t i = 0; i < nsettle; i++) {
        if (!settled) st.failed++;
        else if (to_settle[i]->to[0]) st.spread++;
        else st.dropped++;
    }
    ch_sched_wake(woken, nwoken);
    for (size_t i = 0; i < n; i++) {
        free(cs[i].kconn);
        free(cs[i].kstat);
    }
    free(cs);
    freeReplyObject(r);
    ch_metrics_inc(CH_M_TICKS_DUE, st.enqueued);
    if (stats) *stats = st;
    return C360_OK;
}
