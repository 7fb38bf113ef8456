/* test_sched.c -- the distributed scheduler against a real redis-server:
 * spread, sync now, jitter, backoff, inactive states, coalescing, the
 * queued-tick guard and the lease. Exactly-once across processes is in
 * test_sched_race.c. Connections are written as docs/pipeline.md defines
 * the hash (the registry's own tests cover conns.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "call.h"
#include "check.h"
#include "connector_api.h"
#include "metrics.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "scheduler.h"

static long long ival(redisReply *r)
{
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING) v = strtoll(r->str, NULL, 10);
    if (r) freeReplyObject(r);
    return v;
}

static void mkconn(const char *t, const char *c, int interval_s, const char *state)
{
    freeReplyObject(ch_rconn_command("HSET c360:{t:%s}:conn:%s plugin tickp state %s interval_s %d ticks 1",
                                     t, c, state, interval_s));
    freeReplyObject(ch_rconn_command("SADD c360:{idx}:tenants %s", t));
    /* What conns.c does on create: ZADD NX, score now. */
    CHECK(ch_sched_add(t, c) == C360_OK);
}

static int64_t score(const char *t, const char *c)
{
    int64_t d = -1;
    if (ch_sched_due(t, c, &d) != C360_OK) return -1;
    return d;
}

static long long xlen(const char *t)
{
    return ival(ch_rconn_command("XLEN c360:{t:%s}:ev", t));
}

static int64_t redis_now(void)
{
    redisReply *r = ch_rconn_command("TIME");
    int64_t v = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        v = strtoll(r->element[0]->str, NULL, 10) * 1000 + strtoll(r->element[1]->str, NULL, 10) / 1000;
    if (r) freeReplyObject(r);
    return v;
}

static void set_score(const char *t, const char *c, int64_t s)
{
    freeReplyObject(ch_rconn_command("ZADD %s %lld %s/%s", CH_SCHED_DUE_KEY, (long long)s, t, c));
}

/* The field of the newest entry of T's ev stream. */
static char *last_field(const char *t, const char *field)
{
    redisReply *r = ch_rconn_command("XREVRANGE c360:{t:%s}:ev + - COUNT 1", t);
    const redisReply *v = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
                              ? pf_entry_field(r->element[0], field) : NULL;
    char *out = v ? strdup(v->str) : NULL;
    if (r) freeReplyObject(r);
    return out;
}

static void test_spread(void)
{
    /* 200 connections created at once (an import) must not all fire at
     * once: the first claim spreads them over one interval (10 s). */
    int64_t t0 = redis_now();
    char c[16];
    for (int i = 0; i < 200; i++) {
        snprintf(c, sizeof c, "s%d", i);
        mkconn("tS", c, 10, "active");
    }
    ch_sched_claim_stats st;
    CHECK(ch_sched_claim(&st) == C360_OK);
    CHECK(st.claimed == 200 && st.spread == 200 && st.enqueued == 0);
    CHECK(xlen("tS") == 0);
    int buckets[10] = {0};
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(c, sizeof c, "s%d", i);
        int64_t s = score("tS", c);
        if (s < lo) lo = s;
        if (s > hi) hi = s;
        int b = (int)((s - t0) / 1000);
        if (b >= 0 && b < 10) buckets[b]++;
    }
    CHECK(lo >= t0 && hi < t0 + 10000 + 1000);
    int min_bucket = 200;
    for (int b = 0; b < 10; b++) if (buckets[b] < min_bucket) min_bucket = buckets[b];
    /* Uniform over 10 buckets: 20 expected each; 5 is far below any
     * plausible draw (P < 1e-4 per bucket). */
    CHECK(min_bucket >= 5);
    printf("spread: 200 new connections over %" PRId64 " ms, smallest 1 s bucket %d\n", hi - lo,
           min_bucket);
    /* The spread happens once: claiming again right away spreads nothing
     * (a member whose offset already passed is simply due). */
    CHECK(ch_sched_claim(&st) == C360_OK && st.spread == 0 && st.claimed == st.enqueued);
    freeReplyObject(ch_rconn_command("DEL %s", CH_SCHED_DUE_KEY));
}

static void test_sync_now_and_fields(void)
{
    mkconn("tA", "c1", 60, "active");
    ch_sched_claim_stats st;
    CHECK(ch_sched_claim(&st) == C360_OK && st.spread == 1); /* first claim: spread */
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 0);
    CHECK(ch_sched_sync_now("tA", "c1") == C360_OK);
    CHECK(score("tA", "c1") == 0);
    CHECK(ch_sched_sync_now("tA", "nope") == C360_ENOTFOUND);
    CHECK(ch_sched_sync_now("t/A", "c1") == C360_EINVAL);
    uint64_t due0 = ch_metrics_get(CH_M_TICKS_DUE);
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 1 && st.enqueued == 1);
    CHECK(ch_metrics_get(CH_M_TICKS_DUE) == due0 + 1);
    CHECK(xlen("tA") == 1);
    char *k = last_field("tA", "k"), *c = last_field("tA", "c"), *p = last_field("tA", "p");
    char *a = last_field("tA", "a"), *rid = last_field("tA", "rid"), *t = last_field("tA", "t");
    CHECK_STR(k, "tick");
    CHECK_STR(c, "c1");
    CHECK_STR(p, "tickp");
    CHECK_STR(a, "1");
    CHECK(rid && strncmp(rid, "tick-", 5) == 0 && strlen(rid) == 21);
    CHECK(t && llabs(strtoll(t, NULL, 10) - ch_now_ms()) < 5000);
    free(k); free(c); free(p); free(a); free(rid); free(t);
    /* The group exists (created at 0) and a worker was woken. */
    redisReply *r = ch_rconn_command("XINFO GROUPS c360:{t:tA}:ev");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r) freeReplyObject(r);
    r = ch_rconn_command("LRANGE %s 0 -1", CH_SCHED_WAKE_KEY);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
          strcmp(r->element[0]->str, "tA") == 0);
    if (r) freeReplyObject(r);
    /* Claimed: the score is the lease, in the future. */
    int64_t now = redis_now();
    CHECK(score("tA", "c1") > now + 60000);

    /* "Sync now" while that tick still waits: no second tick now, but one
     * right after it finishes. */
    CHECK(ch_sched_sync_now("tA", "c1") == C360_OK);
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 1 && st.skipped == 1 && st.enqueued == 0);
    CHECK(xlen("tA") == 1);
    uint64_t run0 = ch_metrics_get(CH_M_TICKS_RUN);
    CHECK(ch_sched_tick_done("tA", "c1", C360_OK, 0) == C360_OK);
    CHECK(ch_metrics_get(CH_M_TICKS_RUN) == run0 + 1);
    CHECK(score("tA", "c1") <= redis_now());
    CHECK(ch_sched_claim(&st) == C360_OK && st.enqueued == 1);
    CHECK(xlen("tA") == 2);
    /* This one finishes normally: next due = now + 60 s + jitter <= 10 %. */
    now = redis_now();
    CHECK(ch_sched_tick_done("tA", "c1", C360_OK, 0) == C360_OK);
    int64_t s = score("tA", "c1");
    CHECK(s >= now + 60000 && s <= now + 66000 + 50);
    r = ch_rconn_command("HMGET c360:{t:tA}:conn:c1:stat last_tick_ms last_ok_ms tick_q tick_fails");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
          r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
          r->element[2]->type == REDIS_REPLY_NIL && r->element[3]->type == REDIS_REPLY_NIL);
    if (r) freeReplyObject(r);
}

static void test_jitter(void)
{
    /* 100 connections finishing a 100 s tick at the same moment must not
     * all come due at the same moment again. */
    char c[16];
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(c, sizeof c, "j%d", i);
        mkconn("tJ", c, 100, "active");
    }
    int64_t now = redis_now();
    for (int i = 0; i < 100; i++) {
        snprintf(c, sizeof c, "j%d", i);
        CHECK(ch_sched_tick_done("tJ", c, C360_OK, 0) == C360_OK);
        int64_t s = score("tJ", c);
        if (s < lo) lo = s;
        if (s > hi) hi = s;
    }
    CHECK(lo >= now + 100000 && hi <= now + 110000 + 1000);
    /* 100 uniform draws over 10 s: the range is almost surely > 5 s. */
    CHECK(hi - lo > 5000);
    printf("jitter: 100 ticks of 100 s rescheduled over a %" PRId64 " ms window\n", hi - lo);
}

static void test_backoff(void)
{
    mkconn("tB", "c1", 30, "active");
    /* 5 s doubling, capped at the interval (30 s); reset by success. */
    const int64_t want[] = {5000, 10000, 20000, 30000, 30000};
    for (int i = 0; i < 5; i++) {
        int64_t now = redis_now();
        CHECK(ch_sched_tick_done("tB", "c1", i % 2 ? C360_ERROR : C360_RETRY, 0) == C360_OK);
        int64_t d = score("tB", "c1") - now;
        CHECK(d >= want[i] && d <= want[i] + 100);
    }
    CHECK(ival(ch_rconn_command("HGET c360:{t:tB}:conn:c1:stat tick_fails")) == 5);
    /* The plugin's retry_after wins when longer. */
    int64_t now = redis_now();
    CHECK(ch_sched_tick_done("tB", "c1", C360_RETRY, 45000) == C360_OK);
    int64_t d = score("tB", "c1") - now;
    CHECK(d >= 45000 && d <= 45100);
    /* An unknown status is a failure too. */
    now = redis_now();
    CHECK(ch_sched_tick_done("tB", "c1", 999, 0) == C360_OK);
    CHECK(score("tB", "c1") - now >= 30000);
    /* Success resets the count and returns to the interval. */
    now = redis_now();
    CHECK(ch_sched_tick_done("tB", "c1", C360_OK, 0) == C360_OK);
    d = score("tB", "c1") - now;
    CHECK(d >= 30000 && d <= 33100);
    CHECK(ival(ch_rconn_command("HEXISTS c360:{t:tB}:conn:c1:stat tick_fails")) == 0);
    now = redis_now();
    CHECK(ch_sched_tick_done("tB", "c1", C360_ERROR, 0) == C360_OK);
    d = score("tB", "c1") - now;
    CHECK(d >= 5000 && d <= 5100);
}

static void test_inactive_states(void)
{
    static const char *const states[] = {"paused", "disabled", "needs_reauth"};
    ch_sched_claim_stats st;
    for (int i = 0; i < 3; i++) {
        char c[16];
        snprintf(c, sizeof c, "p%d", i);
        mkconn("tP", c, 10, states[i]);
        set_score("tP", c, 1);
    }
    mkconn("tP", "fail", 10, "failing");
    set_score("tP", "fail", 1);
    freeReplyObject(ch_rconn_command("HSET c360:{t:tP}:conn:fail:stat last_tick_ms 1"));
    CHECK(ch_sched_claim(&st) == C360_OK);
    CHECK(st.claimed == 4 && st.dropped == 3 && st.enqueued == 1);
    CHECK(score("tP", "p0") == -1 && score("tP", "p1") == -1 && score("tP", "p2") == -1);
    CHECK(xlen("tP") == 1); /* only the failing one ticked */
    /* Paused while its tick ran: tick_done must not bring it back. */
    freeReplyObject(ch_rconn_command("HSET c360:{t:tP}:conn:fail state paused"));
    CHECK(ch_sched_remove("tP", "fail") == C360_OK); /* what conns does */
    CHECK(ch_sched_tick_done("tP", "fail", C360_OK, 0) == C360_OK);
    CHECK(score("tP", "fail") == -1);
    /* Back to active: conns re-adds it, and it ticks again. */
    freeReplyObject(ch_rconn_command("HSET c360:{t:tP}:conn:fail state active"));
    CHECK(ch_sched_add("tP", "fail") == C360_OK);
    set_score("tP", "fail", 1);
    CHECK(ch_sched_claim(&st) == C360_OK && st.enqueued == 1);
    /* A connection that stopped ticking or is gone leaves the due set. */
    mkconn("tP", "nt", 10, "active");
    freeReplyObject(ch_rconn_command("HSET c360:{t:tP}:conn:nt ticks 0"));
    set_score("tP", "nt", 1);
    mkconn("tP", "gone", 10, "active");
    freeReplyObject(ch_rconn_command("DEL c360:{t:tP}:conn:gone"));
    set_score("tP", "gone", 1);
    freeReplyObject(ch_rconn_command("ZADD %s 1 garbage-no-slash", CH_SCHED_DUE_KEY));
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 3 && st.dropped == 3);
    CHECK(score("tP", "nt") == -1 && score("tP", "gone") == -1);
    CHECK(ival(ch_rconn_command("ZSCORE %s garbage-no-slash", CH_SCHED_DUE_KEY)) == -1);
    CHECK(ch_sched_tick_done("tP", "gone", C360_OK, 0) == C360_ENOTFOUND);
}

static void test_coalesce(void)
{
    /* Due 10 times over while nothing ran: one member, one tick. */
    mkconn("tC", "c1", 1, "active");
    freeReplyObject(ch_rconn_command("HSET c360:{t:tC}:conn:c1:stat last_tick_ms 1"));
    set_score("tC", "c1", redis_now() - 10000);
    ch_sched_claim_stats st;
    CHECK(ch_sched_claim(&st) == C360_OK && st.enqueued == 1);
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 0);
    CHECK(xlen("tC") == 1);
    int64_t now = redis_now();
    CHECK(ch_sched_tick_done("tC", "c1", C360_OK, 0) == C360_OK);
    int64_t s = score("tC", "c1");
    CHECK(s >= now + 1000 && s <= now + 1100 + 50); /* floor is 1 s here */
    CHECK(ch_sched_remove("tC", "c1") == C360_OK); /* keep later counts exact */
    CHECK(score("tC", "c1") == -1);
}

static void test_lease_and_queued_guard(void)
{
    /* A short lease: the claim of a tick that is still queued is retaken,
     * but no second tick is added while the first waits or runs. */
    ch_sched_settings ss = {.tick_floor_s = 1, .lease_ms = 300};
    ch_sched_configure(&ss);
    mkconn("tL", "c1", 1, "active");
    freeReplyObject(ch_rconn_command("HSET c360:{t:tL}:conn:c1:stat last_tick_ms 1"));
    set_score("tL", "c1", 1);
    ch_sched_claim_stats st;
    int64_t now = redis_now();
    CHECK(ch_sched_claim(&st) == C360_OK && st.enqueued == 1);
    int64_t lease = score("tL", "c1");
    CHECK(lease >= now + 300 && lease <= now + 400);
    fx_sleep_ms(350);
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 1 && st.skipped == 1);
    /* Read by a worker (pending): still guarded. */
    redisReply *r = ch_rconn_command("XREADGROUP GROUP w w1 COUNT 10 STREAMS c360:{t:tL}:ev >");
    CHECK(r && r->type == REDIS_REPLY_ARRAY);
    char id[64] = "";
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        snprintf(id, sizeof id, "%s", r->element[0]->element[1]->element[0]->element[0]->str);
    if (r) freeReplyObject(r);
    fx_sleep_ms(350);
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 1 && st.skipped == 1);
    CHECK(xlen("tL") == 1);
    /* The worker died after acknowledging but before tick_done (or the
     * tick was dead-lettered): the next claim after the lease enqueues a
     * fresh tick instead of waiting for ever. */
    freeReplyObject(ch_rconn_command("XACK c360:{t:tL}:ev w %s", id));
    fx_sleep_ms(350);
    CHECK(ch_sched_claim(&st) == C360_OK && st.enqueued == 1);
    CHECK(xlen("tL") == 2);
    ss.lease_ms = 0;
    ss.callback_timeout_ms = 100000;
    ch_sched_configure(&ss); /* default lease: 2 x callback timeout */
    set_score("tL", "c1", 1);
    freeReplyObject(ch_rconn_command("HDEL c360:{t:tL}:conn:c1:stat tick_q"));
    now = redis_now();
    CHECK(ch_sched_claim(&st) == C360_OK && st.enqueued == 1);
    lease = score("tL", "c1");
    CHECK(lease >= now + 200000 && lease <= now + 200100);
    ss.callback_timeout_ms = 0;
    ch_sched_configure(&ss);
}

static void test_anchor(void)
{
    /* OK ticks are anchored to their due time (stat tick_due, written by
     * the claim), not to when they finished: 50 ticks claimed 3 s late,
     * interval 100 s, jitter j in [0, 10 s]. Those with j >= their
     * lateness come due at due + 100 s + j (<= due + 110 s = t0 + 107 s);
     * the others at now + 100 s + j (j < ~3 s). None is ever closer than
     * one interval to when it finished. The old rule (now + interval +
     * jitter) would put ~30 % above t0 + 107 s. */
    char c[16];
    freeReplyObject(ch_rconn_command("DEL %s", CH_SCHED_DUE_KEY)); /* earlier tests' members */
    int64_t due = redis_now() - 3000;
    for (int i = 0; i < 50; i++) {
        snprintf(c, sizeof c, "a%d", i);
        mkconn("tN", c, 100, "active");
        freeReplyObject(ch_rconn_command("HSET c360:{t:tN}:conn:%s:stat last_tick_ms 1", c));
        set_score("tN", c, due);
    }
    /* One far behind (an outage of 2.5 intervals): catches up from now,
     * no burst. */
    mkconn("tN", "behind", 100, "active");
    freeReplyObject(ch_rconn_command("HSET c360:{t:tN}:conn:behind:stat last_tick_ms 1"));
    set_score("tN", "behind", due - 250000);
    ch_sched_claim_stats st;
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 51 && st.enqueued == 51);
    CHECK(ival(ch_rconn_command("HGET c360:{t:tN}:conn:a0:stat tick_due")) == due);
    int64_t t0 = redis_now();
    for (int i = 0; i < 50; i++) {
        snprintf(c, sizeof c, "a%d", i);
        CHECK(ch_sched_tick_done("tN", c, C360_OK, 0) == C360_OK);
    }
    CHECK(ch_sched_tick_done("tN", "behind", C360_OK, 0) == C360_OK);
    int64_t t1 = redis_now();
    int anchored = 0;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 50; i++) {
        snprintf(c, sizeof c, "a%d", i);
        int64_t s = score("tN", c);
        if (s < lo) lo = s;
        if (s > hi) hi = s;
        if (s > t1 + 104000) anchored++; /* only an anchored one gets there */
    }
    CHECK(lo >= t0 + 100000);
    CHECK(hi <= t0 + 107000);
    CHECK(anchored >= 3);
    int64_t s = score("tN", "behind");
    CHECK(s >= t0 + 100000 && s <= t1 + 110000 + 50);
    CHECK(ival(ch_rconn_command("HEXISTS c360:{t:tN}:conn:a0:stat tick_due")) == 0);
    printf("anchor: 50 ticks 3 s late, next due %" PRId64 "..%" PRId64
           " ms after done (%d above 104 s: anchored)\n", lo - t0, hi - t0, anchored);
    freeReplyObject(ch_rconn_command("DEL %s", CH_SCHED_DUE_KEY));
}

static void test_batch(void)
{
    /* One claim round of 300 members over 3 tenants (one with more than
     * a script chunk) plus inactive and malformed ones: every outcome is
     * still per member. */
    char c[16];
    for (int i = 0; i < 300; i++) {
        char t[8];
        snprintf(t, sizeof t, "tQ%d", i % 3 == 0 ? 0 : i % 3);
        snprintf(c, sizeof c, "q%d", i);
        mkconn(t, c, 60, i % 50 == 7 ? "paused" : "active");
        freeReplyObject(ch_rconn_command("HSET c360:{t:%s}:conn:%s:stat last_tick_ms 1", t, c));
        set_score(t, c, 1);
    }
    freeReplyObject(ch_rconn_command("ZADD %s 1 bad/x/y", CH_SCHED_DUE_KEY));
    ch_sched_claim_stats st;
    CHECK(ch_sched_claim(&st) == C360_OK);
    CHECK(st.claimed == 301 && st.enqueued == 294 && st.dropped == 7 && st.failed == 0);
    CHECK(xlen("tQ0") + xlen("tQ1") + xlen("tQ2") == 294);
    CHECK(ival(ch_rconn_command("ZCARD %s", CH_SCHED_DUE_KEY)) == 294);
    /* A second round right away: all still queued (no worker), nothing
     * doubled once their lease is over. */
    for (int i = 0; i < 300; i++) {
        char t[8];
        snprintf(t, sizeof t, "tQ%d", i % 3 == 0 ? 0 : i % 3);
        snprintf(c, sizeof c, "q%d", i);
        if (i % 50 != 7) set_score(t, c, 1);
    }
    CHECK(ch_sched_claim(&st) == C360_OK && st.claimed == 294 && st.skipped == 294);
    CHECK(xlen("tQ0") + xlen("tQ1") + xlen("tQ2") == 294);
    freeReplyObject(ch_rconn_command("DEL %s", CH_SCHED_DUE_KEY));
}

static void test_redis_down(void)
{
    fx_redis_kill();
    ch_sched_claim_stats st;
    CHECK(ch_sched_claim(&st) == C360_EIO);
    CHECK(ch_sched_tick_done("tA", "c1", C360_OK, 0) == C360_EIO);
    CHECK(ch_sched_sync_now("tA", "c1") == C360_EIO);
    CHECK(ch_metrics_get(CH_M_REDIS_ERRORS) >= 3);
    fx_redis_start();
    CHECK(ch_sched_claim(&st) == C360_OK);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    fx_rconn_start(2000);
    CHECK(ch_metrics_init(0) == 0);
    ch_sched_settings ss = {.tick_floor_s = 1, .lease_ms = 120000};
    ch_sched_configure(&ss);

    CHECK(ch_sched_add("bad/t", "c") == C360_EINVAL);
    CHECK(ch_sched_tick_done("t", "", C360_OK, 0) == C360_EINVAL);

    test_spread();
    test_sync_now_and_fields();
    test_jitter();
    test_backoff();
    test_inactive_states();
    test_coalesce();
    test_lease_and_queued_guard();
    test_anchor();
    test_batch();
    test_redis_down();

    ch_rconn_thread_close();
    ch_rconn_shutdown();
    ch_metrics_shutdown();
    CHECK_DONE();
}
