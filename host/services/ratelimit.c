/* ratelimit.c -- see ratelimit.h; the algorithm is in docs/ratelimits.md.
 *
 * GCRA in microseconds: each unit costs `interval` = period / limit of
 * "time"; the bucket's TAT is when it would be empty of debt. A take of
 * cost c is allowed iff max(TAT, now) + c*step - now <= tau, where tau =
 * burst*interval is how much debt may be outstanding. Microseconds as
 * integers keep a 1.7e15 TAT exact in a Lua double (< 2^53); milliseconds
 * would lose sub-millisecond intervals (10 000 units per second). */
#include "ratelimit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "usage.h"

/* KEYS[1] bucket hash; ARGV[1] interval us (decimal), ARGV[2] burst units,
 * ARGV[3] cost units. Returns {1, 0} (taken) or {0, wait us}. A pause in
 * force answers before anything is spent; a slowdown in force stretches
 * each unit's step by 100/rate, and tau is at least one take's step so a
 * take of cost <= burst can always pass eventually. */
static ch_script take_script = CH_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local interval = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local cost = tonumber(ARGV[3])\n"
    "local h = redis.call('HMGET', KEYS[1], 'tat', 'pause', 'rate', 'rate_until')\n"
    "local pause = tonumber(h[2]) or 0\n"
    "if pause > now then return {0, pause - now} end\n"
    "local tat = tonumber(h[1]) or 0\n"
    "local rate = tonumber(h[3]) or 100\n"
    "local rate_until = tonumber(h[4]) or 0\n"
    "local step = interval\n"
    "if rate_until > now and rate >= 1 and rate < 100 then step = interval * 100 / rate end\n"
    "local tau = burst * interval\n"
    "if cost * step > tau then tau = cost * step end\n"
    "local base = tat\n"
    "if base < now then base = now end\n"
    "local new_tat = base + cost * step\n"
    "local over = new_tat - tau - now\n"
    "if over > 0 then return {0, math.ceil(over)} end\n"
    "redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat))\n"
    "local keep = new_tat\n"
    "if pause > keep then keep = pause end\n"
    "if rate_until > keep then keep = rate_until end\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil((keep - now) / 1000))\n"
    "return {1, 0}\n");

/* KEYS[1] bucket hash; ARGV[1] rate percent (1..100; 100 = no slowdown),
 * ARGV[2] slowdown hold us, ARGV[3] pause us (0 = none). The key then lives
 * until the latest of TAT, pause end and slowdown end. */
static ch_script report_script = CH_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local rate = tonumber(ARGV[1])\n"
    "local hold = tonumber(ARGV[2])\n"
    "local pause_for = tonumber(ARGV[3])\n"
    "local h = redis.call('HMGET', KEYS[1], 'tat', 'pause')\n"
    "local tat = tonumber(h[1]) or 0\n"
    "local pause = tonumber(h[2]) or 0\n"
    "if pause_for > 0 and now + pause_for > pause then\n"
    "  pause = now + pause_for\n"
    "  redis.call('HSET', KEYS[1], 'pause', string.format('%.0f', pause))\n"
    "end\n"
    "local rate_until = 0\n"
    "if rate < 100 and hold > 0 then\n"
    "  rate_until = now + hold\n"
    "  redis.call('HSET', KEYS[1], 'rate', string.format('%d', rate),\n"
    "             'rate_until', string.format('%.0f', rate_until))\n"
    "else\n"
    "  redis.call('HDEL', KEYS[1], 'rate', 'rate_until')\n"
    "end\n"
    "local keep = math.max(tat, pause, rate_until)\n"
    "if keep > now then\n"
    "  redis.call('PEXPIRE', KEYS[1], math.ceil((keep - now) / 1000))\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 1\n");

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ch_rl_settings g_settings = {
    .slowdown_pct = 90,
    .floor_pct = 10,
    .pause_pct = 95,
    .default_pause_ms = 60000,
    .slowdown_hold_ms = 60000,
};

void ch_ratelimit_defaults(ch_rl_settings *out)
{
    *out = (ch_rl_settings){
        .slowdown_pct = 90,
        .floor_pct = 10,
        .pause_pct = 95,
        .default_pause_ms = 60000,
        .slowdown_hold_ms = 60000,
    };
}

int32_t ch_ratelimit_configure(const ch_rl_settings *s)
{
    if (!s || s->slowdown_pct < 1 || s->slowdown_pct > 100 || s->floor_pct < 1 ||
        s->floor_pct > 100 || s->pause_pct < 1 || s->pause_pct > CH_USAGE_MAX_PCT ||
        s->default_pause_ms < 1 || s->default_pause_ms > CH_RL_MAX_PERIOD_MS ||
        s->slowdown_hold_ms > CH_RL_MAX_PERIOD_MS)
        return C360_EINVAL;
    pthread_mutex_lock(&g_lock);
    g_settings = *s;
    pthread_mutex_unlock(&g_lock);
    return C360_OK;
}

void ch_ratelimit_settings_get(ch_rl_settings *out)
{
    pthread_mutex_lock(&g_lock);
    *out = g_settings;
    pthread_mutex_unlock(&g_lock);
}

char *ch_ratelimit_key(const char *plugin, const char *tenant, const char *conn,
                       int32_t scope, const char *bucket)
{
    if (!ch_id_valid(plugin) || !ch_name_valid(bucket)) return NULL;
    switch (scope) {
    case C360_RL_APP:
        return ch_key_plugin(plugin, "rl:%s", bucket);
    case C360_RL_TENANT:
        if (!ch_id_valid(tenant)) return NULL;
        return ch_key_tenant(tenant, "rl:t:%s:%s", plugin, bucket);
    case C360_RL_CONNECTION:
        if (!ch_id_valid(tenant) || !ch_id_valid(conn)) return NULL;
        return ch_key_tenant(tenant, "rl:c:%s:%s:%s", plugin, conn, bucket);
    default:
        return NULL;
    }
}

static int32_t io_error(const char *op, const char *detail)
{
    ch_log(CH_LOG_WARN, "ratelimit: redis unavailable", "op", op, "error", detail, NULL);
    return C360_EIO;
}

int32_t ch_ratelimit_take(const char *plugin, const char *tenant, const char *conn,
                          int32_t scope, const char *bucket, const c360_rl_limit *lim,
                          uint32_t cost, uint32_t *wait_ms)
{
    if (wait_ms) *wait_ms = 0;
    /* Every field of the 1.1 struct is needed: a shorter one is refused
     * rather than read past its end. */
    if (!lim || lim->struct_size < sizeof(c360_rl_limit)) return C360_EINVAL;
    uint32_t burst = lim->burst ? lim->burst : lim->limit;
    if (lim->limit == 0 || lim->period_ms == 0 || lim->period_ms > CH_RL_MAX_PERIOD_MS ||
        cost == 0 || cost > burst)
        return C360_EINVAL;
    /* A full burst must refill within a day: it bounds every TAT, wait and
     * PEXPIRE the script computes (a PEXPIRE overflow would fail the script
     * after its HSET, and Redis does not roll scripts back). */
    if ((uint64_t)burst * lim->period_ms > (uint64_t)lim->limit * CH_RL_MAX_PERIOD_MS) return C360_EINVAL;
    char *key = ch_ratelimit_key(plugin, tenant, conn, scope, bucket);
    if (!key) return C360_EINVAL;

    char interval[48], burst_s[16], cost_s[16];
    snprintf(interval, sizeof interval, "%.6f", (double)lim->period_ms * 1000.0 / (double)lim->limit);
    snprintf(burst_s, sizeof burst_s, "%" PRIu32, burst);
    snprintf(cost_s, sizeof cost_s, "%" PRIu32, cost);
    const char *argv[4] = {key, interval, burst_s, cost_s};
    redisReply *r = ch_rconn_eval(&take_script, 1, 4, argv, NULL);
    free(key);
    if (!r) return io_error("take", ch_rconn_error());
    int32_t st = C360_EIO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->integer >= 0) {
        if (r->element[0]->integer == 1) {
            st = C360_OK;
        } else {
            long long us = r->element[1]->integer;
            long long ms = (us + 999) / 1000;
            if (ms < 1) ms = 1;
            if (ms > UINT32_MAX) ms = UINT32_MAX;
            if (wait_ms) *wait_ms = (uint32_t)ms;
            st = C360_RETRY;
        }
    } else {
        io_error("take", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return st;
}

/* The share of the budget (percent) to allow at a given usage: 100 below
 * slowdown_pct, then linearly down to floor_pct at 100 % usage. Rounded
 * down: when in doubt, slower. */
static unsigned rate_for(const ch_rl_settings *s, uint32_t usage)
{
    if (usage < s->slowdown_pct) return 100;
    if (usage >= 100 || s->slowdown_pct >= 100) return s->floor_pct;
    unsigned drop = (unsigned)(usage - s->slowdown_pct) * (100 - s->floor_pct) / (100 - s->slowdown_pct);
    unsigned rate = 100 - drop;
    return rate < s->floor_pct ? s->floor_pct : rate;
}

int32_t ch_ratelimit_report(const char *plugin, const char *tenant, const char *conn,
                            int32_t scope, const char *bucket, uint32_t usage_pct,
                            uint32_t pause_ms)
{
    char *key = ch_ratelimit_key(plugin, tenant, conn, scope, bucket);
    if (!key) return C360_EINVAL;
    ch_rl_settings s;
    ch_ratelimit_settings_get(&s);
    uint32_t pause = pause_ms ? pause_ms : (usage_pct >= s.pause_pct ? s.default_pause_ms : 0);
    if (pause > CH_USAGE_MAX_PAUSE_MS) pause = CH_USAGE_MAX_PAUSE_MS;
    unsigned rate = rate_for(&s, usage_pct);

    char rate_s[8], hold_s[24], pause_s[24];
    snprintf(rate_s, sizeof rate_s, "%u", rate);
    snprintf(hold_s, sizeof hold_s, "%" PRIu64, (uint64_t)s.slowdown_hold_ms * 1000);
    snprintf(pause_s, sizeof pause_s, "%" PRIu64, (uint64_t)pause * 1000);
    const char *argv[4] = {key, rate_s, hold_s, pause_s};
    redisReply *r = ch_rconn_eval(&report_script, 1, 4, argv, NULL);
    if (!r) {
        free(key);
        return io_error("report", ch_rconn_error());
    }
    int32_t st = C360_EIO;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) st = C360_OK;
    else io_error("report", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    if (st == C360_OK && (pause || rate < 100)) {
        char u[16], p[16], rt[8];
        snprintf(u, sizeof u, "%" PRIu32, usage_pct);
        snprintf(p, sizeof p, "%" PRIu32, pause);
        snprintf(rt, sizeof rt, "%u", rate);
        /* A pause is worth an operator's attention; a slowdown comes with
         * every response near the limit, so only at debug. The key holds
         * ids and the plugin's bucket name only. */
        ch_log(pause ? CH_LOG_INFO : CH_LOG_DEBUG, "ratelimit: provider usage high", "bucket", key, "usage_pct", u,
               "pause_ms", p, "rate_pct", rt, NULL);
    }
    free(key);
    return st;
}

int32_t ch_ratelimit_feed_response(const char *plugin, const char *tenant, const char *conn,
                                   int32_t scope, const char *bucket,
                                   const c360_http_response *resp)
{
    char *key = ch_ratelimit_key(plugin, tenant, conn, scope, bucket);
    if (!key || !resp) {
        free(key);
        return C360_EINVAL;
    }
    free(key);
    ch_usage u;
    if (!ch_usage_parse(resp, ch_now_ms(), &u)) return C360_OK;
    return ch_ratelimit_report(plugin, tenant, conn, scope, bucket, u.usage_pct, u.pause_ms);
}
