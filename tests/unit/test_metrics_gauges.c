/* test_metrics_gauges.c -- the queue gauges the maintenance thread samples
 * for /metrics (depth, pending, lag, dead letters), and the thread itself:
 * it claims due ticks, publishes gauges, runs retention passes, and stops
 * promptly. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "call.h"
#include "check.h"
#include "config.h"
#include "connector_api.h"
#include "maint.h"
#include "metrics.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "scheduler.h"

static long long xlen(const char *key)
{
    redisReply *r = ch_rconn_command("XLEN %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

static void test_sample(void)
{
    int64_t now = ch_now_ms();
    freeReplyObject(ch_rconn_command("SADD c360:{idx}:tenants gA gB bad:tenant"));
    /* gA/ev: 5 entries, the oldest 5 s old; 2 read and pending, 3 unread. */
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "%lld-%d", (long long)(now - 5000 + i), 0);
        redisReply *r = ch_rconn_command("XADD c360:{t:gA}:ev %s k wh c c1", id);
        CHECK(r && r->type == REDIS_REPLY_STRING);
        if (r) freeReplyObject(r);
    }
    freeReplyObject(ch_rconn_command("XGROUP CREATE c360:{t:gA}:ev w 0"));
    freeReplyObject(ch_rconn_command("XREADGROUP GROUP w w1 COUNT 2 STREAMS c360:{t:gA}:ev >"));
    freeReplyObject(ch_rconn_command("XADD c360:{t:gA}:dlq * kind ev why error"));
    freeReplyObject(ch_rconn_command("XADD c360:{t:gA}:dlq * kind ev why error"));
    /* gB/ev: all acknowledged (raw store only): depth 0. gB/dl: 3 entries
     * nobody has read yet (no group): depth 3. */
    freeReplyObject(ch_rconn_command("XADD c360:{t:gB}:ev 1-0 k wh"));
    freeReplyObject(ch_rconn_command("XGROUP CREATE c360:{t:gB}:ev w $"));
    for (int i = 0; i < 3; i++) freeReplyObject(ch_rconn_command("XADD c360:{t:gB}:dl * d x"));

    ch_metrics_gauges g;
    CHECK(ch_maint_sample(&g) == C360_OK);
    CHECK(g.tenants == 2); /* the malformed member is skipped */
    CHECK(g.ev_depth == 5 && g.ev_pending == 2);
    CHECK(g.ev_lag_ms >= 5000 && g.ev_lag_ms < 5000 + 2000);
    CHECK(g.dl_depth == 3 && g.dl_pending == 0);
    CHECK(g.dl_lag_ms >= 0 && g.dl_lag_ms < 2000);
    CHECK(g.dlq_len == 2);
    CHECK(llabs(g.sampled_at_ms - ch_now_ms()) < 2000);

    /* A tombstone among the unread entries: Redis can no longer tell the
     * group's lag; the count by hand must agree. */
    char id[32];
    snprintf(id, sizeof id, "%lld-0", (long long)(now - 5000 + 4));
    freeReplyObject(ch_rconn_command("XDEL c360:{t:gA}:ev %s", id));
    CHECK(ch_maint_sample(&g) == C360_OK);
    CHECK(g.ev_depth == 4 && g.ev_pending == 2);
    /* All done: no depth, no lag. */
    freeReplyObject(ch_rconn_command("XREADGROUP GROUP w w1 COUNT 10 STREAMS c360:{t:gA}:ev >"));
    redisReply *r = ch_rconn_command("XRANGE c360:{t:gA}:ev - +");
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        freeReplyObject(ch_rconn_command("XACK c360:{t:gA}:ev w %s", r->element[i]->element[0]->str));
    if (r) freeReplyObject(r);
    CHECK(ch_maint_sample(&g) == C360_OK);
    CHECK(g.ev_depth == 0 && g.ev_pending == 0 && g.ev_lag_ms == 0);
    CHECK(xlen("c360:{t:gA}:ev") == 4); /* acknowledged entries stay: raw store */
}

static void test_thread(void)
{
    /* A due connection that ticked before (no spread): the thread's claim
     * enqueues its tick. */
    freeReplyObject(ch_rconn_command(
        "HSET c360:{t:gA}:conn:c1 plugin tickp state active interval_s 60 ticks 1"));
    freeReplyObject(ch_rconn_command("HSET c360:{t:gA}:conn:c1:stat last_tick_ms 1"));
    freeReplyObject(ch_rconn_command("ZADD %s 1 gA/c1", CH_SCHED_DUE_KEY));
    /* Old raw events of gB, read and acknowledged: the retention pass
     * removes them. */
    for (int i = 2; i <= 101; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d-0", i);
        freeReplyObject(ch_rconn_command("XADD c360:{t:gB}:ev %s k wh", id));
    }
    freeReplyObject(ch_rconn_command("XGROUP SETID c360:{t:gB}:ev w $"));
    long long ev0 = xlen("c360:{t:gA}:ev");
    ch_metrics_gauges before;
    ch_metrics_get_gauges(&before);

    ch_maint_settings s = {.claim_period_ms = 50, .sample_period_ms = 200, .trim_period_ms = 60000,
                           .trim_first_ms = 100, .retention_days = 1};
    CHECK(ch_maint_start_with(&s) == CH_OK);
    CHECK(ch_maint_start_with(&s) == CH_OK); /* already running: no-op */
    int64_t t0 = ch_monotonic_ms();
    int ticked = 0, sampled = 0, trimmed = 0;
    while (ch_monotonic_ms() - t0 < 5000 && !(ticked && sampled && trimmed)) {
        fx_sleep_ms(50);
        ticked = xlen("c360:{t:gA}:ev") == ev0 + 1;
        ch_metrics_gauges g;
        ch_metrics_get_gauges(&g);
        sampled = g.sampled_at_ms > before.sampled_at_ms && g.ev_depth == 1;
        trimmed = xlen("c360:{t:gB}:ev") < 50;
    }
    CHECK(ticked);
    CHECK(sampled);
    CHECK(trimmed);
    printf("maint thread: tick claimed, gauges sampled, raw events trimmed within %lld ms\n",
           (long long)(ch_monotonic_ms() - t0));
    int64_t t1 = ch_monotonic_ms();
    ch_maint_stop();
    int64_t stop_ms = ch_monotonic_ms() - t1;
    CHECK(stop_ms < 500);
    printf("maint stop took %lld ms\n", (long long)stop_ms);
    ch_maint_stop(); /* twice: fine */

    /* The config path: scheduler settings applied, then a prompt stop. */
    ch_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.tick_floor_s = 1;
    cfg.callback_timeout_ms = 60000;
    cfg.retention_days = 7;
    CHECK(ch_maint_start(&cfg) == CH_OK);
    fx_sleep_ms(150);
    t1 = ch_monotonic_ms();
    ch_maint_stop();
    CHECK(ch_monotonic_ms() - t1 < 500);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    fx_rconn_start(2000);
    CHECK(ch_metrics_init(0) == 0);

    test_sample();
    test_thread();

    /* Sampling with Redis down fails cleanly. */
    fx_redis_kill();
    ch_metrics_gauges g;
    CHECK(ch_maint_sample(&g) == C360_EIO);

    ch_rconn_thread_close();
    ch_rconn_shutdown();
    ch_metrics_shutdown();
    CHECK_DONE();
}
