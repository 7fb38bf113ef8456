/* sched.c -- the due set and its re-scoring (see scheduler.h); the claim round
 * is in sched_claim.c. Every script that computes a time reads the Redis
 * server clock, so several hosts with skewed clocks share one timeline. */
#include "scheduler.h"

#include <inttypes.h>
#include <stdatomic.h>
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
#include "util.h"

static _Atomic int g_floor_s = 10;
static _Atomic int g_lease_ms = 120000;
static _Atomic int g_default_s = 300;

void ch_sched_configure(const ch_sched_settings *s)
{
    int floor = s->tick_floor_s >= 1 ? s->tick_floor_s : 1;
    int lease = s->lease_ms;
    if (lease <= 0) {
        /* Longer than any tick may run (its callback deadline, twice, for
         * the queueing before it), so a claim is retaken only when its host
         * died before enqueueing. */
        lease = s->callback_timeout_ms > 0 ? 2 * s->callback_timeout_ms : 0;
        if (lease < 120000) lease = 120000;
    }
    atomic_store(&g_floor_s, floor);
    atomic_store(&g_lease_ms, lease);
    atomic_store(&g_default_s, s->default_interval_s > 0 ? s->default_interval_s : 300);
}

int ch_sched_floor_s(void) { return atomic_load(&g_floor_s); }
int ch_sched_lease_ms(void) { return atomic_load(&g_lease_ms); }
int ch_sched_default_s(void) { return atomic_load(&g_default_s); }

int ch_sched_member(const char *tenant, const char *conn, char *out, size_t cap)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) return -1;
    int n = snprintf(out, cap, "%s/%s", tenant, conn);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int32_t ch_sched_io_error(const char *what, redisReply *r)
{
    if (!r) {
        ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        /* The claim runs every 100 ms: during an outage, one line per 10 s
         * says it all (c360_redis_errors_total counts every failure). */
        static _Atomic int64_t last_ms;
        int64_t now = ch_monotonic_ms(), prev = atomic_load(&last_ms);
        if ((prev == 0 || now - prev >= 10000) && atomic_compare_exchange_strong(&last_ms, &prev, now))
            ch_log(CH_LOG_WARN, "scheduler: redis unavailable", "op", what, "error",
                   ch_rconn_error(), NULL);
    } else if (r->type == REDIS_REPLY_ERROR) {
        ch_log(CH_LOG_ERROR, "scheduler: redis error", "op", what, "error", r->str, NULL);
    } else {
        ch_log(CH_LOG_ERROR, "scheduler: unexpected redis reply", "op", what, NULL);
    }
    return C360_EIO;
}

int32_t ch_sched_add(const char *tenant, const char *conn)
{
    char member[2 * CH_ID_MAX + 2];
    if (ch_sched_member(tenant, conn, member, sizeof member) != 0) return C360_EINVAL;
    redisReply *r = ch_rconn_command("ZADD %s NX %lld %s", CH_SCHED_DUE_KEY,
                                     (long long)ch_now_ms(), member);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        int32_t st = ch_sched_io_error("add", r);
        if (r) freeReplyObject(r);
        return st;
    }
    freeReplyObject(r);
    return C360_OK;
}

int32_t ch_sched_remove(const char *tenant, const char *conn)
{
    char member[2 * CH_ID_MAX + 2];
    if (ch_sched_member(tenant, conn, member, sizeof member) != 0) return C360_EINVAL;
    redisReply *r = ch_rconn_command("ZREM %s %s", CH_SCHED_DUE_KEY, member);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        int32_t st = ch_sched_io_error("remove", r);
        if (r) freeReplyObject(r);
        return st;
    }
    freeReplyObject(r);
    return C360_OK;
}

/* Sets a score only if the member is still there: a member that conns
 * removed (pause, delete) must not come back through us. */
static ch_script rescore_script = CH_SCRIPT(
    "if redis.call('ZSCORE', KEYS[1], ARGV[1]) then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n");

static int32_t rescore(const char *member, int64_t score)
{
    char sc[24];
    snprintf(sc, sizeof sc, "%" PRId64, score);
    const char *argv[] = {CH_SCHED_DUE_KEY, member, sc};
    redisReply *r = ch_rconn_eval(&rescore_script, 1, 3, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        int32_t st = ch_sched_io_error("rescore", r);
        if (r) freeReplyObject(r);
        return st;
    }
    int32_t st = r->integer == 1 ? C360_OK : C360_ENOTFOUND;
    freeReplyObject(r);
    return st;
}

int32_t ch_sched_sync_now(const char *tenant, const char *conn)
{
    char member[2 * CH_ID_MAX + 2];
    if (ch_sched_member(tenant, conn, member, sizeof member) != 0) return C360_EINVAL;
    /* Score 0 also marks the claim as a "sync now" (see sched_claim.c): a
     * tick still queued then runs once more right after it finishes. */
    return rescore(member, 0);
}

int32_t ch_sched_due(const char *tenant, const char *conn, int64_t *due_ms)
{
    char member[2 * CH_ID_MAX + 2];
    if (ch_sched_member(tenant, conn, member, sizeof member) != 0) return C360_EINVAL;
    redisReply *r = ch_rconn_command("ZSCORE %s %s", CH_SCHED_DUE_KEY, member);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        int32_t st = ch_sched_io_error("due", r);
        if (r) freeReplyObject(r);
        return st;
    }
    int32_t st = C360_ENOTFOUND;
    long long v;
    if (r->type == REDIS_REPLY_STRING) {
        /* Scores are integers we wrote; anything else is corruption. */
        if (ch_parse_ll(r->str, 0, INT64_MAX, &v) == 0) {
            if (due_ms) *due_ms = v;
            st = C360_OK;
        } else {
            st = C360_EIO;
        }
    }
    freeReplyObject(r);
    return st;
}

/* The next due time of a finished tick, in the tenant's slot (the
 * connection's interval and the failure count live there). Replies
 * {due, fails}, or {-1} when the connection is gone or does not tick.
 *
 * OK is anchored to the due time of the tick (stat tick_due, written by
 * the claim): due + interval + jitter, so that lateness does not carry
 * into the next period (a backlog would otherwise recur every period,
 * bunched at the rate the host drained it). That is taken only if it is
 * at least now + interval: two runs of a connection are never closer than
 * one interval (now is after the run started). Otherwise -- the tick ran
 * later than its jitter, or more than one interval behind after an outage
 * -- it is now + interval + jitter, as without an anchor: no burst of
 * catch-up ticks. */
static ch_script done_script = CH_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local c = redis.call('HMGET', KEYS[1], 'plugin', 'interval_s', 'ticks')\n"
    "local s = redis.call('HMGET', KEYS[2], 'tick_due', 'tick_again')\n"
    "redis.call('HDEL', KEYS[2], 'tick_q', 'tick_due')\n"
    "if not c[1] or c[3] ~= '1' then return {-1} end\n"
    "local iv = tonumber(c[2] or '') or 0\n"
    "if iv <= 0 then iv = tonumber(ARGV[6]) end\n"
    "local floor = tonumber(ARGV[2])\n"
    "if iv < floor then iv = floor end\n"
    "local ivms = iv * 1000\n"
    "redis.call('HSET', KEYS[2], 'last_tick_ms', now)\n"
    "local again = s[2]\n"
    "if again then redis.call('HDEL', KEYS[2], 'tick_again') end\n"
    "local due, fails\n"
    "if ARGV[1] == '1' then\n"
    "  redis.call('HSET', KEYS[2], 'last_ok_ms', now)\n"
    "  redis.call('HDEL', KEYS[2], 'tick_fails')\n"
    "  fails = 0\n"
    /* jitter: ARGV[3] is a random count of millionths in [0, 100000]:
     * up to 10 % of the interval. */
    "  local j = math.floor(ivms * tonumber(ARGV[3]) / 1000000)\n"
    "  due = now + ivms + j\n"
    "  local prev = tonumber(s[1] or '')\n"
    "  if prev and prev > 0 and prev + j >= now then due = prev + ivms + j end\n"
    "else\n"
    "  fails = redis.call('HINCRBY', KEYS[2], 'tick_fails', 1)\n"
    "  local e = fails - 1\n"
    "  if e > 30 then e = 30 end\n"
    "  local d = tonumber(ARGV[5]) * (2 ^ e)\n"
    "  if d > ivms then d = ivms end\n"
    "  local ra = tonumber(ARGV[4])\n"
    "  if d < ra then d = ra end\n"
    "  due = now + d\n"
    "end\n"
    /* A "sync now" arrived while this tick was queued or running. */
    "if again then due = now end\n"
    "return {due, fails}\n");

int32_t ch_sched_tick_done(const char *tenant, const char *conn, int32_t status,
                           uint32_t retry_after_ms)
{
    char member[2 * CH_ID_MAX + 2];
    if (ch_sched_member(tenant, conn, member, sizeof member) != 0) return C360_EINVAL;
    ch_metrics_inc(CH_M_TICKS_RUN, 1);
    char *kconn = ch_key_tenant(tenant, "conn:%s", conn);
    char *kstat = ch_key_tenant(tenant, "conn:%s:stat", conn);
    char floor[16], jit[16], ra[16], base[16];
    snprintf(floor, sizeof floor, "%d", ch_sched_floor_s());
    snprintf(jit, sizeof jit, "%" PRIu32, randombytes_uniform(100001));
    snprintf(ra, sizeof ra, "%" PRIu32, retry_after_ms);
    snprintf(base, sizeof base, "%d", CH_SCHED_BACKOFF_BASE_MS);
    char dflt[16];
    snprintf(dflt, sizeof dflt, "%d", ch_sched_default_s());
    const char *argv[] = {kconn, kstat, status == C360_OK ? "1" : "0", floor, jit, ra, base, dflt};
    redisReply *r = ch_rconn_eval(&done_script, 2, 8, argv, NULL);
    free(kconn);
    free(kstat);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        /* The member keeps its lease score: retaken after the lease. */
        int32_t st = ch_sched_io_error("tick_done", r);
        if (r) freeReplyObject(r);
        return st;
    }
    long long due = r->element[0]->integer;
    freeReplyObject(r);
    if (due < 0) {
        int32_t st = ch_sched_remove(tenant, conn);
        return st == C360_OK ? C360_ENOTFOUND : st;
    }
    /* Absent from the due set: conns took it out while the tick ran
     * (paused, disabled); it stays out, and the tick is still done. */
    int32_t st = rescore(member, due);
    return st == C360_ENOTFOUND ? C360_OK : st;
}

int ch_stream_id_valid(const char *s)
{
    size_t i = 0, a = 0, b = 0;
    while (s[i] >= '0' && s[i] <= '9') { i++; a++; }
    if (s[i++] != '-') return 0;
    while (s[i] >= '0' && s[i] <= '9') { i++; b++; }
    return s[i] == '\0' && a >= 1 && a <= 20 && b >= 1 && b <= 20;
}

int64_t ch_stream_id_ms(const char *s)
{
    int64_t v = 0;
    /* Redis ids are < 2^64; ms of real ids are far below 2^63. Saturate
     * rather than overflow on a forged 20-digit one. */
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10) return INT64_MAX;
        v = v * 10 + (*s - '0');
    }
    return v;
}
