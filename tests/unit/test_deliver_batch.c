/* test_deliver_batch -- batched deliveries and C360_EGONE (ABI 1.4) against
 * a real redis-server, with worker threads stepped by hand (as in
 * test_worker.c) and the test destinations btp / btp13
 * (tests/plugins/pipeline/batch_tp.c, a status per record chosen by its
 * id) next to wtp (worker_tp.c, no deliver_batch):
 *
 *   - N ready records of one destination go in one deliver_batch call, each
 *     with its own outcome: ok, retry (backoff, then ok on its own), the
 *     call's Retry-After, error -> dead letter, no status set -> dead
 *     letter, C360_ENOMEM -> all retried; a delivery log entry each; the
 *     group cap (delivery_batch_max); one concurrency lease per call;
 *   - the route's field mapping is applied per record (two sources, one
 *     mapped, one not, in the same call; a record the mapping cannot shape
 *     fails alone);
 *   - C360_EGONE from deliver_batch and from deliver: dead letter why=gone,
 *     the route stopped (removed, audited, marked), the destination failing
 *     with its cause (and connstatus), the other route untouched; what is
 *     still queued for the stopped route is dead-lettered unsent; a later
 *     410 of a route stopped before changes no state; adding the route back
 *     clears the mark;
 *   - a destination without deliver_batch (wtp, and btp13 whose 1.3
 *     descriptor ends before it) gets one deliver per record; batching off
 *     (delivery_batch_max 1) too; a tenant whose destinations do not batch
 *     fetches no more deliveries per turn than before;
 *   - what a dead worker left runs one item at a time;
 *   - a slow destination (turns of one call) still gets batches;
 *   - the loader (struct_size vs minor 4) and the config key;
 *   - c360-plugin-check runs deliver_batch and judges each record's status
 *     (when the tool is built);
 *   - C360_THROTTLED (ABI 1.5) from deliver_batch and from deliver: the
 *     record held without an attempt (no att, no retries, no delivery log
 *     entry, no dead letter, the lease back) for the call's Retry-After or
 *     the floor, then delivered with its attempt still 1; one first queued
 *     more than the bound ago counts as a retry; from other callbacks it is
 *     a retry (ch_status_normalise). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "call.h"
#include "check.h"
#include "config.h"
#include "conns.h"
#include "connstatus.h"
#include "hostapi.h"
#include "instances.h"
#include "loader.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "slots.h"
#include "worker.h"
#include "worker_int.h"
#include "worker_status.h"

#define T "tb"

static ch_workers *g_w;
static ch_loader *g_ld;

static void put(const char *id, const char *plugin, const char *cfg)
{
    pf_conn_put(T, id, plugin, cfg, 60, 0);
}

/* A delivery item as a source's outcome writes it. */
static void add_dl(const char *dst, const char *src, const char *ri, const char *json)
{
    long long now = (long long)ch_now_ms();
    freeReplyObject(pf_cmd("XADD c360:{t:%s}:dl * d %s s %s sp wtp rt lead ri %s r %s a 1 t %lld et %lld",
                           T, dst, src, ri, json, now, now));
}

/* The same, first queued `age_ms` ago. */
static void add_dl_aged(const char *dst, const char *src, const char *ri, long long age_ms)
{
    long long t = (long long)ch_now_ms() - age_ms;
    freeReplyObject(pf_cmd("XADD c360:{t:%s}:dl * d %s s %s sp wtp rt lead ri %s r {} a 1 t %lld et %lld",
                           T, dst, src, ri, t, t));
}

static long long st_num(const char *conn, const char *key) { return pf_state_num(T, conn, key); }

/* The next turn fetches a full share (no slow items seen). */
static void fresh(ch_wthread *t) { t->avg_item_ms = 0; }

static void drain(ch_wthread *t, int rounds)
{
    for (int i = 0; i < rounds; i++)
        if (ch_wthread_turn(t, T) == 0) break;
}

/* The newest dead letter whose record id is ri: field name, or "(none)". */
static char *dlq_of(const char *ri, const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "(none)");
    redisReply *r = pf_cmd("XREVRANGE c360:{t:%s}:dlq + - COUNT 200", T);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *v = pf_entry_field(r->element[i], "ri");
        if (v && strcmp(v->str, ri) == 0) {
            const redisReply *f = pf_entry_field(r->element[i], name);
            if (f) snprintf(buf, sizeof buf, "%s", f->str);
            break;
        }
    }
    freeReplyObject(r);
    return buf;
}

/* The retry member of the newest delivery item with record id ri. */
static int retry_has(const char *ri, long long *due)
{
    redisReply *r = pf_cmd("XREVRANGE c360:{t:%s}:dl + - COUNT 500", T);
    int found = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && !found; i++) {
        const redisReply *v = pf_entry_field(r->element[i], "ri");
        if (!v || strcmp(v->str, ri) != 0) continue;
        redisReply *z = pf_cmd("ZSCORE c360:{t:%s}:retry dl:%s", T, r->element[i]->element[0]->str);
        if (z->type == REDIS_REPLY_STRING) {
            found = 1;
            if (due) *due = atoll(z->str);
        }
        freeReplyObject(z);
        break;
    }
    freeReplyObject(r);
    return found;
}

static long long redis_now_ms(void)
{
    redisReply *r = pf_cmd("TIME");
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

/* --- the batch and its per-record outcomes -------------------------------- */

static void test_statuses(ch_wthread *t)
{
    put("s1", "wtp", "{}");
    put("b1", "btp", "{}");
    CHECK(ch_conn_route_add(T, "s1", "b1", "system", NULL) == C360_OK);
    add_dl("b1", "s1", "ok-1", "{\"i\":1}");
    add_dl("b1", "s1", "ok-2", "{\"i\":2}");
    add_dl("b1", "s1", "rt1-3", "{\"i\":3}");
    add_dl("b1", "s1", "err-4", "{\"i\":4}");
    add_dl("b1", "s1", "unset-5", "{\"i\":5}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 5);
    CHECK(st_num("b1", "batches") == 1);
    CHECK(st_num("b1", "maxn") == 5);
    CHECK(st_num("b1", "singles") == 0);
    CHECK(st_num("b1", "d:ok-1") == 1 && st_num("b1", "d:ok-2") == 1);
    CHECK(st_num("b1", "att:ok-1") == 1);
    /* Each record its own outcome. */
    CHECK(retry_has("rt1-3", NULL));
    CHECK_STR(dlq_of("err-4", "why"), "error");
    CHECK_STR(dlq_of("err-4", "err"), "permanent error: rejected");
    CHECK_STR(dlq_of("unset-5", "why"), "error");
    CHECK_STR(dlq_of("unset-5", "err"), "permanent error: deliver_batch set no status for this record");
    CHECK_STR(dlq_of("ok-1", "why"), "(none)");
    CHECK(pf_int("XLEN c360:{t:%s}:dlog:b1", T) == 5);
    CHECK(pf_int("ZCARD c360:{t:%s}:lease:b1", T) == 0);
    CHECK(pf_stat_num(T, "b1", "deliveries") == 2);
    CHECK(pf_stat_num(T, "b1", "retries") == 1);
    CHECK(pf_stat_num(T, "b1", "dlq") == 2);
    /* The retry comes back alone: one record, so deliver. */
    fx_sleep_ms(120);
    drain(t, 4);
    CHECK(st_num("b1", "d:rt1-3") == 1);
    CHECK(st_num("b1", "att:rt1-3") == 2);
    CHECK(st_num("b1", "singles") == 1);
    CHECK(st_num("b1", "batches") == 1);
    CHECK(pf_stat_num(T, "b1", "deliveries") == 3);
    CHECK(pf_pending(T, "dl") == 0);
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);

    /* Retry-After of the call holds for every retried record of it. */
    put("b2", "btp", "{\"retry_after_ms\":5000}");
    add_dl("b2", "s1", "rt1-ra1", "{}");
    add_dl("b2", "s1", "rt1-ra2", "{}");
    add_dl("b2", "s1", "ok-ra3", "{}");
    long long now = redis_now_ms();
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 3);
    CHECK(st_num("b2", "batches") == 1);
    long long due1 = 0, due2 = 0;
    CHECK(retry_has("rt1-ra1", &due1) && retry_has("rt1-ra2", &due2));
    CHECK(due1 - now >= 4900 && due2 - now >= 4900);
    CHECK(st_num("b2", "d:ok-ra3") == 1);

    /* C360_ENOMEM from the call: every record again. */
    put("b3", "btp", "{\"oom\":true}");
    add_dl("b3", "s1", "ok-oom1", "{}");
    add_dl("b3", "s1", "ok-oom2", "{}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 2);
    CHECK(retry_has("ok-oom1", NULL) && retry_has("ok-oom2", NULL));
    CHECK(pf_stat_num(T, "b3", "retries") == 2);
    /* Out of the way of the next tests. */
    freeReplyObject(pf_cmd("ZREMRANGEBYSCORE c360:{t:%s}:retry -inf +inf", T));
    freeReplyObject(pf_cmd("XGROUP DESTROY c360:{t:%s}:dl w", T));
    freeReplyObject(pf_cmd("DEL c360:{t:%s}:dl c360:{t:%s}:att", T, T));
}

/* --- C360_THROTTLED (ABI 1.5) ---------------------------------------------- */

static void test_throttle_parts(void)
{
    CHECK(ch_status_normalise(C360_THROTTLED) == C360_RETRY);
    CHECK(ch_status_normalise_deliver(C360_THROTTLED) == C360_THROTTLED);
    CHECK(ch_status_normalise_deliver(C360_STATUS__COUNT) == C360_ERROR);
    CHECK(ch_status_normalise_deliver(-1) == C360_ERROR);
    CHECK(ch_status_normalise(C360_EGONE) == C360_EGONE);
    for (int i = 0; i < 50; i++) {
        int64_t d = ch_wdel_throttle_delay(0, 0);
        CHECK(d >= CH_WDEL_THROTTLE_FLOOR_MS && d <= CH_WDEL_THROTTLE_FLOOR_MS * 3 / 2);
        d = ch_wdel_throttle_delay(2000, 1000);
        CHECK(d >= 2000 && d <= 3000);
        d = ch_wdel_throttle_delay(UINT32_MAX, 0);
        CHECK(d >= CH_WDEL_THROTTLE_DELAY_MAX_MS && d <= CH_WDEL_THROTTLE_DELAY_MAX_MS * 3 / 2);
        /* A record that has waited 100 s is held at least 10 s; the growth
         * stops at GROW_MAX however long it waited. */
        d = ch_wdel_throttle_delay(0, 100000);
        CHECK(d >= 10000 && d <= 15000);
        d = ch_wdel_throttle_delay(0, 20LL * 3600 * 1000);
        CHECK(d >= CH_WDEL_THROTTLE_GROW_MAX_MS && d <= CH_WDEL_THROTTLE_GROW_MAX_MS * 3 / 2);
    }
    ch_qitem it = {.t = 1000000};
    CHECK(!ch_wdel_throttle_expired(&it, 1000000 + CH_WDEL_THROTTLE_MAX_AGE_MS - 1));
    CHECK(ch_wdel_throttle_expired(&it, 1000000 + CH_WDEL_THROTTLE_MAX_AGE_MS));
    it.t = 0;
    CHECK(ch_wdel_throttle_expired(&it, 1000000));
}

static void test_throttle(ch_wthread *t)
{
    put("s1", "wtp", "{}");
    put("b19", "btp", "{\"retry_after_ms\":300}");
    CHECK(ch_conn_route_add(T, "s1", "b19", "system", NULL) == C360_OK);
    freeReplyObject(pf_cmd("DEL c360:{t:%s}:dlog:b19 c360:{t:%s}:conn:b19:stat", T, T));
    long long dlq0 = pf_int("XLEN c360:{t:%s}:dlq", T);
    add_dl("b19", "s1", "th2-a", "{}");
    add_dl("b19", "s1", "th2-b", "{}");
    add_dl("b19", "s1", "ok-c", "{}");
    long long now = redis_now_ms();
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 3);
    CHECK(st_num("b19", "batches") == 1);
    CHECK(st_num("b19", "d:ok-c") == 1);
    long long due_a = 0, due_b = 0;
    CHECK(retry_has("th2-a", &due_a) && retry_has("th2-b", &due_b));
    /* The call's Retry-After, jittered upwards only. */
    CHECK(due_a - now >= 300 && due_a - now <= 450 + 100);
    CHECK(due_b - now >= 300 && due_b - now <= 450 + 100);
    /* Held, not attempted: no attempt counted, no retry or failure in the
     * stats, no delivery log entry (only ok-c's), the lease back. */
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);
    CHECK(pf_stat_num(T, "b19", "retries") == 0);
    CHECK(pf_stat_num(T, "b19", "dlq") == 0);
    CHECK(pf_int("XLEN c360:{t:%s}:dlog:b19", T) == 1);
    CHECK(pf_int("ZCARD c360:{t:%s}:lease:b19", T) == 0);
    /* Back together after the hold: put off once more, then delivered,
     * their attempt still the first. */
    for (int round = 0; round < 40 && (st_num("b19", "d:th2-a") < 1 || st_num("b19", "d:th2-b") < 1);
         round++) {
        fx_sleep_ms(100);
        fresh(t);
        drain(t, 4);
    }
    CHECK(st_num("b19", "d:th2-a") == 1 && st_num("b19", "d:th2-b") == 1);
    CHECK(st_num("b19", "seen:th2-a") == 3 && st_num("b19", "att:th2-a") == 1);
    CHECK(st_num("b19", "att:th2-b") == 1);
    /* (Back in one batch or alone: their holds are jittered apart.) */
    CHECK(pf_stat_num(T, "b19", "retries") == 0);
    CHECK(pf_stat_num(T, "b19", "deliveries") == 3);
    CHECK(pf_int("XLEN c360:{t:%s}:dlq", T) == dlq0);
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);
    CHECK(pf_pending(T, "dl") == 0);

    /* From deliver (one record), no Retry-After: the floor. */
    put("b20", "btp", "{}");
    CHECK(ch_conn_route_add(T, "s1", "b20", "system", NULL) == C360_OK);
    add_dl("b20", "s1", "th1-s", "{}");
    now = redis_now_ms();
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 1);
    CHECK(st_num("b20", "singles") == 1);
    long long due = 0;
    CHECK(retry_has("th1-s", &due));
    CHECK(due - now >= CH_WDEL_THROTTLE_FLOOR_MS && due - now <= CH_WDEL_THROTTLE_FLOOR_MS * 3 / 2 + 100);
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);
    CHECK(pf_stat_num(T, "b20", "retries") == 0);
    for (int round = 0; round < 30 && st_num("b20", "d:th1-s") < 1; round++) {
        fx_sleep_ms(100);
        fresh(t);
        drain(t, 4);
    }
    CHECK(st_num("b20", "d:th1-s") == 1 && st_num("b20", "att:th1-s") == 1);
    CHECK(pf_stat_num(T, "b20", "retries") == 0);

    /* Put off too long: a record first queued past the bound counts its
     * deferral as an attempt (a retry, logged), so nothing waits forever. */
    add_dl_aged("b20", "s1", "th9-old", CH_WDEL_THROTTLE_MAX_AGE_MS + 60000);
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 1);
    CHECK(retry_has("th9-old", NULL));
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 1);
    CHECK(pf_stat_num(T, "b20", "retries") == 1);
    CHECK(pf_int("XLEN c360:{t:%s}:dlog:b20", T) == 2);
    /* Out of the way of the next tests. */
    freeReplyObject(pf_cmd("ZREMRANGEBYSCORE c360:{t:%s}:retry -inf +inf", T));
    freeReplyObject(pf_cmd("XGROUP DESTROY c360:{t:%s}:dl w", T));
    freeReplyObject(pf_cmd("DEL c360:{t:%s}:dl c360:{t:%s}:att", T, T));
}

/* delivery_batch_max caps a call; the rest goes in the next. */
static void test_group_cap(ch_wthread *t)
{
    int saved = g_w->conf.delivery_batch_max;
    g_w->conf.delivery_batch_max = 3;
    put("b4", "btp", "{}");
    char id[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "ok-c%d", i);
        add_dl("b4", "s1", id, "{}");
    }
    drain(t, 4);
    CHECK(st_num("b4", "batches") == 2);
    CHECK(st_num("b4", "singles") == 1);
    CHECK(st_num("b4", "maxn") == 3);
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "d:ok-c%d", i);
        CHECK(st_num("b4", id) == 1);
    }
    g_w->conf.delivery_batch_max = saved;
}

/* Calls of one Redis command so far (INFO commandstats), counting those
 * made inside scripts. */
static long long cmd_calls(const char *cmd)
{
    redisReply *r = pf_cmd("INFO commandstats");
    char want[64];
    snprintf(want, sizeof want, "cmdstat_%s:calls=", cmd);
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, want) : NULL;
    long long n = p ? atoll(p + strlen(want)) : 0;
    freeReplyObject(r);
    return n;
}

/* The accepted records of one call are written in one script
 * (deliver_ok.c): one HINCRBY of the destination's deliveries for the
 * batch instead of one per record, with every per-record effect kept. */
static void test_ok_one_script(ch_wthread *t)
{
    put("b30", "btp", "{}");
    char id[16];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "ok-o%d", i);
        add_dl("b30", "s1", id, "{}");
    }
    fresh(t);
    long long before = cmd_calls("hincrby");
    CHECK(ch_wthread_turn(t, T) == 6);
    CHECK(cmd_calls("hincrby") - before == 1);
    CHECK(st_num("b30", "batches") == 1 && st_num("b30", "maxn") == 6);
    CHECK(pf_stat_num(T, "b30", "deliveries") == 6);
    CHECK(pf_int("XLEN c360:{t:%s}:dlog:b30", T) == 6);
    CHECK(pf_int("ZCARD c360:{t:%s}:lease:b30", T) == 0);
    CHECK(pf_pending(T, "dl") == 0);
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);
    CHECK(pf_int("HEXISTS c360:{t:%s}:conn:b30:stat last_ok_ms", T) == 1);
}

static uint64_t capwaits(void)
{
    ch_workers_stats s;
    ch_workers_get_stats(g_w, &s);
    return s.capwaits;
}

/* Another host's delivery that gives its place back after a while; or,
 * with spoil, a lease key that turns into a string then, so that every
 * lease script on it fails (WRONGTYPE) as a Redis gone wrong would. */
typedef struct {
    const char *key;
    int after_ms;
    int spoil;
} releaser;

static void *release_later(void *arg)
{
    const releaser *r = arg;
    redisContext *c = redisConnect("127.0.0.1", pf_raw->tcp.port);
    fx_sleep_ms(r->after_ms);
    if (c && !c->err) {
        redisReply *x = r->spoil ? redisCommand(c, "SET %s spoilt", r->key)
                                 : redisCommand(c, "ZREM %s other:2-1", r->key);
        if (x) freeReplyObject(x);
    }
    if (c) redisFree(c);
    return NULL;
}

/* Acknowledges by hand what a test left pending on the tenant's delivery
 * stream (its reclaim, after claim_idle_ms, is test_worker's). */
static void ack_pending_dl(void)
{
    redisReply *r = pf_cmd("XPENDING c360:{t:%s}:dl w - + 100", T);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1) continue;
        freeReplyObject(pf_cmd("XACK c360:{t:%s}:dl w %s", T, e->element[0]->str));
    }
    if (r) freeReplyObject(r);
}

/* Over the cap, the thread asks again for cap_wait_ms before it holds:
 * a place given back meanwhile is taken and the batch goes at once. */
static void test_cap_wait(ch_wthread *t)
{
    int saved = g_w->conf.delivery_concurrency;
    g_w->conf.delivery_concurrency = 1;
    g_w->conf.cap_wait_ms = 1000;
    put("b40", "btp", "{}");
    char key[64];
    snprintf(key, sizeof key, "c360:{t:%s}:lease:b40", T);
    freeReplyObject(pf_cmd("ZADD %s %lld other:2-1", key, redis_now_ms() + 60000));
    add_dl("b40", "s1", "ok-w1", "{}");
    add_dl("b40", "s1", "ok-w2", "{}");
    uint64_t w0 = capwaits();
    releaser rel = {key, 30, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, release_later, &rel) == 0);
    fresh(t);
    int64_t t0 = ch_monotonic_ms();
    CHECK(ch_wthread_turn(t, T) == 2);
    int64_t took = ch_monotonic_ms() - t0;
    pthread_join(th, NULL);
    printf("cap wait: the place given back after 30 ms was taken after %lld ms\n", (long long)took);
    CHECK(took >= 25);
    CHECK(capwaits() == w0 + 1);
    CHECK(st_num("b40", "batches") == 1 && st_num("b40", "maxn") == 2);
    CHECK(st_num("b40", "d:ok-w1") == 1 && st_num("b40", "d:ok-w2") == 1);
    CHECK(!retry_has("ok-w1", NULL) && !retry_has("ok-w2", NULL));
    CHECK(pf_int("ZCARD %s", key) == 0);
    CHECK(pf_pending(T, "dl") == 0);

    /* 0: held at once, no wait counted. */
    g_w->conf.cap_wait_ms = 0;
    freeReplyObject(pf_cmd("ZADD %s %lld other:2-1", key, redis_now_ms() + 60000));
    add_dl("b40", "s1", "ok-w3", "{}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 1);
    CHECK(retry_has("ok-w3", NULL));
    CHECK(capwaits() == w0 + 1);
    CHECK(st_num("b40", "d:ok-w3") == 0);
    freeReplyObject(pf_cmd("DEL %s", key));
    fx_sleep_ms(80);
    drain(t, 4);
    CHECK(st_num("b40", "d:ok-w3") == 1);

    /* Redis failing in the middle of the wait ends it at once: the batch
     * stays pending as it came (not sent, not held, no attempt), for a
     * claim later -- the path of a lease Redis refuses outright. */
    g_w->conf.cap_wait_ms = 1000;
    freeReplyObject(pf_cmd("ZADD %s %lld other:2-1", key, redis_now_ms() + 60000));
    add_dl("b40", "s1", "ok-w4", "{}");
    add_dl("b40", "s1", "ok-w5", "{}");
    releaser spoil = {key, 30, 1};
    CHECK(pthread_create(&th, NULL, release_later, &spoil) == 0);
    fresh(t);
    t0 = ch_monotonic_ms();
    CHECK(ch_wthread_turn(t, T) == 2);
    took = ch_monotonic_ms() - t0;
    pthread_join(th, NULL);
    printf("cap wait: Redis failing after 30 ms ended the wait after %lld ms\n", (long long)took);
    CHECK(took >= 25 && took < 900);
    CHECK(capwaits() == w0 + 1);
    CHECK(st_num("b40", "d:ok-w4") == 0 && st_num("b40", "d:ok-w5") == 0);
    CHECK(!retry_has("ok-w4", NULL) && !retry_has("ok-w5", NULL));
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);
    CHECK(pf_pending(T, "dl") == 2);
    ack_pending_dl();
    CHECK(pf_pending(T, "dl") == 0);
    freeReplyObject(pf_cmd("DEL %s", key));
    g_w->conf.cap_wait_ms = 50;
    g_w->conf.delivery_concurrency = saved;
}

/* One place under the concurrency cap per call, whatever its size. */
static void test_lease(ch_wthread *t)
{
    int saved = g_w->conf.delivery_concurrency;
    g_w->conf.delivery_concurrency = 1;
    put("b5", "btp", "{}");
    /* Someone else holds the only place: the batch waits, unattempted,
     * after asking again for cap_wait_ms (50). */
    freeReplyObject(pf_cmd("ZADD c360:{t:%s}:lease:b5 %lld other:1-1", T, redis_now_ms() + 60000));
    add_dl("b5", "s1", "ok-l1", "{}");
    add_dl("b5", "s1", "ok-l2", "{}");
    add_dl("b5", "s1", "ok-l3", "{}");
    fresh(t);
    uint64_t w0 = capwaits();
    int64_t t0 = ch_monotonic_ms();
    CHECK(ch_wthread_turn(t, T) == 3);
    CHECK(ch_monotonic_ms() - t0 >= 50);
    CHECK(capwaits() == w0);
    CHECK(st_num("b5", "batches") == 0 && st_num("b5", "singles") == 0);
    CHECK(retry_has("ok-l1", NULL) && retry_has("ok-l3", NULL));
    CHECK(pf_int("HLEN c360:{t:%s}:att", T) == 0);
    CHECK(pf_int("XLEN c360:{t:%s}:dlog:b5", T) == 0);
    /* Freed: the three go in one call under one lease (cap 1). */
    freeReplyObject(pf_cmd("DEL c360:{t:%s}:lease:b5", T));
    fx_sleep_ms(80);
    drain(t, 4);
    CHECK(st_num("b5", "batches") == 1);
    CHECK(st_num("b5", "maxn") == 3);
    CHECK(st_num("b5", "maxconc") == 1);
    CHECK(st_num("b5", "d:ok-l1") == 1 && st_num("b5", "d:ok-l2") == 1 && st_num("b5", "d:ok-l3") == 1);
    CHECK(pf_int("ZCARD c360:{t:%s}:lease:b5", T) == 0);
    g_w->conf.delivery_concurrency = saved;
}

/* The route's mapping, per record, in the same call. */
static void test_mapping(ch_wthread *t)
{
    put("s2", "wtp", "{}");
    put("b6", "btp", "{}");
    CHECK(ch_conn_route_put(T, "s1", "b6", "{\"n\":{\"from\":\"/i\"},\"k\":{\"const\":\"m\"}}", "system",
                            NULL) == C360_OK);
    CHECK(ch_conn_route_add(T, "s2", "b6", "system", NULL) == C360_OK);
    add_dl("b6", "s1", "ok-m1", "{\"i\":1,\"x\":true}");
    add_dl("b6", "s2", "ok-m2", "{\"i\":2}");
    add_dl("b6", "s1", "ok-m3", "{\"i\":3}");
    add_dl("b6", "s1", "ok-m4", "[4]"); /* not an object: the mapping cannot shape it */
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 4);
    CHECK(st_num("b6", "batches") == 1);
    CHECK(st_num("b6", "maxn") == 3);
    CHECK_STR(pf_str("HGET c360:{t:%s}:state:b6:json:ok-m1 v", T), "{\"n\":1,\"k\":\"m\"}");
    CHECK_STR(pf_str("HGET c360:{t:%s}:state:b6:json:ok-m2 v", T), "{\"i\":2}");
    CHECK_STR(pf_str("HGET c360:{t:%s}:state:b6:json:ok-m3 v", T), "{\"n\":3,\"k\":\"m\"}");
    CHECK(st_num("b6", "seen:ok-m4") == 0);
    CHECK_STR(dlq_of("ok-m4", "why"), "error");
    CHECK_STR(dlq_of("ok-m4", "err"),
              "permanent error: the route's field mapping cannot be applied to this record");
    /* Ids stay: the record id is the idempotency key. */
    CHECK(st_num("b6", "d:ok-m1") == 1);
}

/* --- 410 Gone ------------------------------------------------------------ */

static int audit_has(const char *conn, const char *action, const char *target, const char *actor)
{
    ch_audit_query q = {.action = action, .limit = 100};
    json_t *arr = NULL;
    uint64_t next = 0;
    if (ch_audit_list(T, &q, &arr, &next) != C360_OK) return 0;
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "connection")), conn) == 0 &&
            strcmp(json_string_value(json_object_get(e, "target")), target) == 0 &&
            strcmp(json_string_value(json_object_get(e, "actor")), actor) == 0)
            found = 1;
    }
    json_decref(arr);
    return found;
}

static void test_gone(ch_wthread *t)
{
    put("s3", "wtp", "{}");
    put("s4", "wtp", "{}");
    put("g1", "btp", "{}");
    CHECK(ch_conn_route_put(T, "s3", "g1", "{\"n\":{\"from\":\"/i\"}}", "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add(T, "s4", "g1", "system", NULL) == C360_OK);
    add_dl("g1", "s3", "gone-1", "{\"i\":1}");
    add_dl("g1", "s4", "ok-2", "{\"i\":2}");
    add_dl("g1", "s3", "gone-3", "{\"i\":3}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 3);
    CHECK(st_num("g1", "batches") == 1 && st_num("g1", "maxn") == 3);
    /* Dead letters why=gone, not retried. */
    CHECK_STR(dlq_of("gone-1", "why"), "gone");
    CHECK_STR(dlq_of("gone-1", "err"), "gone: 410 Gone");
    CHECK_STR(dlq_of("gone-3", "why"), "gone");
    CHECK(!retry_has("gone-1", NULL));
    CHECK(st_num("g1", "d:ok-2") == 1);
    /* The route s3 -> g1 is stopped (once), s4 -> g1 is not. */
    CHECK(pf_int("SISMEMBER c360:{t:%s}:routes:s3 g1", T) == 0);
    CHECK(pf_int("SISMEMBER c360:{t:%s}:routes:s4 g1", T) == 1);
    CHECK(pf_int("SISMEMBER c360:{t:%s}:rgone:g1 s3", T) == 1);
    CHECK(pf_int("PTTL c360:{t:%s}:rgone:g1", T) > 0);
    CHECK(audit_has("s3", "connection.route.remove", "g1", "system"));
    /* The destination is failing with the cause, for the admin API too. */
    ch_conn *c = NULL;
    CHECK(ch_conn_get(T, "g1", &c) == C360_OK);
    CHECK_STR(c->state, "failing");
    CHECK_STR(c->cause, "the endpoint answered 410 Gone; the route from s3 was stopped");
    ch_conn_free(c);
    ch_connstatus cs;
    CHECK(ch_connstatus_get(T, "g1", &cs) == C360_OK);
    CHECK_STR(cs.state, "failing");
    CHECK_STR(cs.cause, "the endpoint answered 410 Gone; the route from s3 was stopped");
    CHECK(audit_has("g1", "connection.state", "failing", "system"));
    /* The stopped route keeps its mapping for when it is added back. */
    CHECK(pf_int("HEXISTS c360:{t:%s}:rmap:s3 g1", T) == 1);
    /* The plugin's own "active" (a success on another route, or another
     * process's instance) does not hide the stopped route. */
    CHECK(ch_worker_conn_status(T, "g1", "btp", C360_CONN_ACTIVE, "", NULL) == C360_OK);
    CHECK(ch_conn_get(T, "g1", &c) == C360_OK);
    CHECK_STR(c->state, "failing");
    ch_conn_free(c);

    /* Still queued for the stopped route: dead-lettered unsent. The other
     * route's record goes on (alone: deliver). */
    add_dl("g1", "s3", "ok-4", "{\"i\":4}");
    add_dl("g1", "s4", "ok-5", "{\"i\":5}");
    fx_sleep_ms(60); /* past the connection cache */
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 2);
    CHECK(st_num("g1", "seen:ok-4") == 0);
    CHECK_STR(dlq_of("ok-4", "why"), "gone");
    CHECK(st_num("g1", "d:ok-5") == 1);
    CHECK(st_num("g1", "singles") == 1);

    /* The destination active again (say the customer resumed it) but the
     * route still stopped: the record is sent, the 410 dead-letters it,
     * and nothing more changes -- the customer was told already. */
    CHECK(ch_conn_set_state(T, "g1", "active", "", "system", NULL) == C360_OK);
    fx_sleep_ms(60);
    add_dl("g1", "s3", "gone-6", "{\"i\":6}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 1);
    CHECK(st_num("g1", "seen:gone-6") == 1);
    CHECK_STR(dlq_of("gone-6", "why"), "gone");
    CHECK(ch_conn_get(T, "g1", &c) == C360_OK);
    CHECK_STR(c->state, "active");
    ch_conn_free(c);

    /* Adding the route back clears the mark (and restores the mapping). */
    CHECK(ch_conn_route_add(T, "s3", "g1", "system", NULL) == C360_OK);
    CHECK(pf_int("SISMEMBER c360:{t:%s}:rgone:g1 s3", T) == 0);
    char *m = NULL;
    CHECK(ch_conn_route_mapping(T, "s3", "g1", &m) == C360_OK && m);
    free(m);

    /* deliver (no batch): btp13, whose deliver_batch is never read. */
    put("s5", "wtp", "{}");
    put("g2", "btp13", "{}");
    CHECK(ch_conn_route_add(T, "s5", "g2", "system", NULL) == C360_OK);
    add_dl("g2", "s5", "gone-7", "{}");
    add_dl("g2", "s5", "ok-8", "{}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 2);
    CHECK(st_num("g2", "batches") == 0);
    /* gone-7 went alone; ok-8, behind it, found its route stopped. */
    CHECK(st_num("g2", "singles") == 1);
    CHECK_STR(dlq_of("gone-7", "why"), "gone");
    CHECK_STR(dlq_of("ok-8", "why"), "gone");
    CHECK(pf_int("SISMEMBER c360:{t:%s}:routes:s5 g2", T) == 0);
    CHECK(ch_conn_get(T, "g2", &c) == C360_OK);
    CHECK_STR(c->state, "failing");
    CHECK_STR(c->cause, "the endpoint answered 410 Gone; the route from s5 was stopped");
    ch_conn_free(c);
    CHECK(audit_has("s5", "connection.route.remove", "g2", "system"));

    /* Several routes stopped by one call: one cause naming them. */
    put("s6", "wtp", "{}");
    put("g3", "btp", "{}");
    CHECK(ch_conn_route_add(T, "s5", "g3", "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add(T, "s6", "g3", "system", NULL) == C360_OK);
    add_dl("g3", "s5", "gone-9", "{}");
    add_dl("g3", "s6", "gone-10", "{}");
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 2);
    CHECK(ch_conn_get(T, "g3", &c) == C360_OK);
    CHECK_STR(c->cause, "the endpoint answered 410 Gone; the routes from s5, s6 were stopped");
    ch_conn_free(c);

    /* A paused destination stays paused (an operator's state wins): a 410
     * of a call that ran just before the pause stops the route only. */
    put("g4", "btp", "{}");
    CHECK(ch_conn_route_add(T, "s6", "g4", "system", NULL) == C360_OK);
    CHECK(ch_conn_set_state(T, "g4", "paused", "maintenance", "system", NULL) == C360_OK);
    const char *srcs[] = {"s6", "s6", NULL};
    ch_wdel_gone(t, T, "g4", srcs, 3);
    CHECK(pf_int("SISMEMBER c360:{t:%s}:routes:s6 g4", T) == 0);
    CHECK(ch_conn_get(T, "g4", &c) == C360_OK);
    CHECK_STR(c->state, "paused");
    CHECK_STR(c->cause, "maintenance");
    ch_conn_free(c);
    /* No source at all (an item without `s`): only the state. */
    put("g5", "btp", "{}");
    ch_wdel_gone(t, T, "g5", NULL, 0);
    CHECK(ch_conn_get(T, "g5", &c) == C360_OK);
    CHECK_STR(c->state, "failing");
    CHECK_STR(c->cause, "the endpoint answered 410 Gone");
    ch_conn_free(c);
}

/* --- unchanged paths -------------------------------------------------------- */

static void test_no_batch(ch_wthread *t)
{
    put("w1", "wtp", "{}");
    char id[16];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "ok-w%d", i);
        add_dl("w1", "s1", id, "{}");
    }
    fresh(t);
    CHECK(ch_wthread_turn(t, T) == 4);
    CHECK(st_num("w1", "delivered") == 4);
    CHECK(pf_int("XLEN c360:{t:%s}:dlog:w1", T) == 4);
    /* A tenant whose deliveries never batch keeps its usual share. */
    put("w2", "wtp", "{}");
    pf_conn_put("tw", "tws", "wtp", "{}", 60, 0);
    pf_conn_put("tw", "twd", "wtp", "{}", 60, 0);
    for (int i = 0; i < 40; i++)
        freeReplyObject(pf_cmd("XADD c360:{t:tw}:dl * d twd s tws sp wtp rt lead ri r%d r {} a 1 t 1", i));
    int saved = g_w->conf.share;
    g_w->conf.share = 4;
    fresh(t);
    CHECK(ch_wthread_turn(t, "tw") == 4);
    fresh(t);
    CHECK(ch_wthread_turn(t, "tw") == 4);
    g_w->conf.share = saved;
    for (int i = 0; i < 60 && ch_wthread_turn(t, "tw") > 0; i++) {}
    CHECK(pf_state_num("tw", "twd", "delivered") == 40);

    /* Batching off: a btp destination gets deliver, one at a time. */
    ch_worker_conf c = g_w->conf;
    c.delivery_batch_max = 1;
    ch_workers *w1 = ch_workers_new(&c, g_w->slots, 0, g_w->set);
    ch_wthread *t1 = w1->threads[1];
    CHECK(t1->batching == 0);
    CHECK(t->batching == 1);
    put("b7", "btp", "{}");
    add_dl("b7", "s1", "ok-o1", "{}");
    add_dl("b7", "s1", "ok-o2", "{}");
    /* This thread steps t1 now: t1's staged-state barrier, as
     * ch_wthread_begin would arm it on a thread of its own; t's again after. */
    ch_wexec_barrier_arm(t1);
    CHECK(ch_wthread_turn(t1, T) == 2);
    CHECK(st_num("b7", "singles") == 2 && st_num("b7", "batches") == 0);
    ch_wexec_barrier_arm(t);
    ch_workers_free(w1);
}

/* What a dead worker left pending runs one item at a time (a crash then
 * names its record), even for a batching destination. */
static void test_takeover_single(ch_wthread *t)
{
    put("b9", "btp", "{}");
    add_dl("b9", "s1", "ok-t1", "{}");
    add_dl("b9", "s1", "ok-t2", "{}");
    add_dl("b9", "s1", "ok-t3", "{}");
    freeReplyObject(pf_cmd("XREADGROUP GROUP w deadhost-1-0 COUNT 10 STREAMS c360:{t:%s}:dl >", T));
    ch_slot_view prev;
    memset(&prev, 0, sizeof prev);
    snprintf(prev.consumer, sizeof prev.consumer, "deadhost-1-0");
    snprintf(prev.held_tenant, sizeof prev.held_tenant, "%s", T);
    ch_wthread_take_over(t, &prev);
    CHECK(st_num("b9", "singles") == 3);
    CHECK(st_num("b9", "batches") == 0);
    CHECK(st_num("b9", "d:ok-t3") == 1);
}

/* Slow calls make turns of one call each; a batching destination still
 * gets its records in batches (the turn fetches more of them). */
static void test_slow(ch_wthread *t)
{
    put("b8", "btp", "{\"sleep_ms\":30}");
    char id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "ok-s%d", i);
        add_dl("b8", "s1", id, "{}");
    }
    t->avg_item_ms = 40; /* turns of one call */
    int turns = 0;
    while (turns < 40 && ch_wthread_turn(t, T) > 0) turns++;
    long long done = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "d:ok-s%d", i);
        done += st_num("b8", id);
    }
    char m[128];
    snprintf(m, sizeof m, "slow batching destination: 40 records in %d turns, %lld calls, max %lld",
             turns, st_num("b8", "batches") + st_num("b8", "singles"), st_num("b8", "maxn"));
    printf("%s\n", m);
    CHECK(done == 40);
    CHECK(turns <= 12);
    CHECK(st_num("b8", "maxn") >= 10);
}

/* --- loader and config -------------------------------------------------------- */

static void test_loader(void)
{
    const ch_plugin *b = ch_loader_find(g_ld, "btp");
    const ch_plugin *b13 = ch_loader_find(g_ld, "btp13");
    const ch_plugin *w = ch_loader_find(g_ld, "wtp");
    CHECK(b && ch_plugin_ops_get(b)->deliver_batch);
    CHECK(b13 && !ch_plugin_ops_get(b13)->deliver_batch);
    CHECK(b13 && ch_plugin_desc(b13)->deliver_batch != NULL); /* there, past its end */
    CHECK(w && !ch_plugin_ops_get(w)->deliver_batch);
    json_t *j = ch_plugin_to_json(b);
    CHECK(json_is_true(json_object_get(j, "deliver_batch")));
    json_decref(j);
    j = ch_plugin_to_json(b13);
    CHECK(json_is_false(json_object_get(j, "deliver_batch")));
    json_decref(j);

    /* Minor 4 claimed: the descriptor must cover deliver_batch. */
    c360_plugin_desc d = *ch_plugin_desc(b);
    d.abi_minor = 4; /* btp is built with SDK 1.5 (nothing new in the descriptor) */
    char why[512];
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_NONE);
    d.struct_size = (uint32_t)offsetof(c360_plugin_desc, deliver_batch);
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_STRUCT_SIZE);
    CHECK(strstr(why, "ABI 1.4") != NULL);
    d.abi_minor = 3;
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_NONE);
}

/* Each document refused, its error naming path. */
static void refused(const char *const *docs, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(docs[i], 0, NULL);
        ch_config *cfg = NULL;
        char err[256] = "";
        CHECK(ch_config_load(NULL, o, "/tmp", &cfg, err, sizeof err) != CH_OK);
        CHECK(strstr(err, path) != NULL);
        json_decref(o);
    }
}

static void test_config(void)
{
    const char *bad[] = {"{\"pipeline\":{\"delivery_batch_max\":0}}",
                         "{\"pipeline\":{\"delivery_batch_max\":501}}",
                         "{\"pipeline\":{\"delivery_batch_max\":\"20\"}}"};
    refused(bad, sizeof bad / sizeof *bad, "/pipeline/delivery_batch_max");
    const char *bad_wait[] = {"{\"pipeline\":{\"delivery_cap_wait_ms\":-1}}",
                              "{\"pipeline\":{\"delivery_cap_wait_ms\":1001}}",
                              "{\"pipeline\":{\"delivery_cap_wait_ms\":\"50\"}}"};
    refused(bad_wait, sizeof bad_wait / sizeof *bad_wait, "/pipeline/delivery_cap_wait_ms");
    ch_config *cfg = NULL;
    char err[256] = "";
    CHECK(ch_config_load(NULL, NULL, "/tmp", &cfg, err, sizeof err) == CH_OK);
    if (cfg) {
        CHECK(cfg->delivery_batch_max == 20);
        ch_worker_conf c;
        ch_worker_conf_from_config(&c, cfg, NULL);
        CHECK(c.delivery_batch_max == 20);
        CHECK(cfg->delivery_cap_wait_ms == 50 && c.cap_wait_ms == 50);
        ch_config_free(cfg);
    }
    json_t *o = json_loads("{\"pipeline\":{\"delivery_batch_max\":1}}", 0, NULL);
    cfg = NULL;
    CHECK(ch_config_load(NULL, o, "/tmp", &cfg, err, sizeof err) == CH_OK);
    if (cfg) CHECK(cfg->delivery_batch_max == 1);
    ch_config_free(cfg);
    json_decref(o);
    o = json_loads("{\"pipeline\":{\"delivery_cap_wait_ms\":0}}", 0, NULL);
    cfg = NULL;
    CHECK(ch_config_load(NULL, o, "/tmp", &cfg, err, sizeof err) == CH_OK);
    if (cfg) {
        ch_worker_conf c;
        ch_worker_conf_from_config(&c, cfg, NULL);
        CHECK(c.cap_wait_ms == 0);
    }
    ch_config_free(cfg);
    json_decref(o);
}

/* Runs c360-plugin-check on a plugin of the build; its output in out. The
 * exit status, or -1 when the tool is not built. */
static int plugin_check(const char *so, const char *config, char *out, size_t cap)
{
    const char *bd = getenv("C360_BUILD_DIR");
    char tool[1024], cmd[4096];
    snprintf(tool, sizeof tool, "%s/tools/plugin_check/c360-plugin-check", bd ? bd : ".");
    if (access(tool, X_OK) != 0) return -1;
    snprintf(cmd, sizeof cmd, "%s --config '%s' %s/tests/pipeline-plugins/%s 2>/dev/null", tool, config,
             bd ? bd : ".", so);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_plugin_check(void)
{
    static char out[1 << 16];
    int rc = plugin_check("batch_tp.so", "{}", out, sizeof out);
    if (rc < 0) {
        printf("c360-plugin-check not built: skipped\n");
        return;
    }
    CHECK(rc == 0);
    CHECK_CONTAINS(out, "deliver_batch: yes (ABI 1.4)");
    CHECK_CONTAINS(out, "record 2 rec_plugin_check_4: ok -> delivered");
    CHECK_CONTAINS(out, "result: ok");
    rc = plugin_check("batch_tp.so", "{\"force\":\"gone\"}", out, sizeof out);
    CHECK(rc == 0);
    CHECK_CONTAINS(out, "-> gone (13)");
    CHECK_CONTAINS(out, "info: deliver_batch: 3 of 3 records gone: a dead letter (why gone)");
    rc = plugin_check("batch_tp.so", "{\"force\":\"unset\"}", out, sizeof out);
    CHECK(rc == 1);
    CHECK_CONTAINS(out, "problem: deliver_batch: left the status of record 0 (rec_plugin_check_2) unset");
    rc = plugin_check("batch_tp13.so", "{}", out, sizeof out);
    CHECK(rc == 0);
    CHECK_CONTAINS(out, "abi: 1.3");
    CHECK_CONTAINS(out, "deliver_batch: no");
    CHECK(strstr(out, "\ndeliver_batch:\n") == NULL); /* never called */
}

int main(void)
{
    test_plugin_check();
    test_config();
    pf_raw_connect(fx_rconn_start(2000));
    g_ld = pf_load_plugin("worker_tp");
    pf_load_into(g_ld, "batch_tp");
    pf_load_into(g_ld, "batch_tp13");
    test_loader();
    ch_worker_conf c;
    ch_worker_conf_defaults(&c);
    c.due_every_ms = 0; /* turns stepped by hand claim due retries at once */
    c.loader = g_ld;
    c.threads = 2;
    c.retry_base_ms = 50;
    c.retry_cap_ms = 100;
    c.hold_ms = 200;
    c.cap_hold_ms = 50;
    c.callback_timeout_ms = 2000;
    c.hang_grace_ms = 100;
    c.claim_idle_ms = 60000;
    c.sweep_ms = 600000;
    c.conn_cache_ms = 50;
    c.tenants_refresh_ms = 50;
    ch_slots *slots = ch_slots_create(1, 2);
    ch_instances_opts io = {.recheck_ms = 100, .open_timeout_ms = 5000};
    ch_instances *set = ch_instances_new(g_ld, &io);
    g_w = ch_workers_new(&c, slots, 0, set);
    ch_wthread *t = g_w->threads[0];
    ch_wthread_begin(t);

    test_throttle_parts();
    test_statuses(t);
    test_throttle(t);
    test_group_cap(t);
    test_ok_one_script(t);
    test_lease(t);
    test_cap_wait(t);
    test_mapping(t);
    test_gone(t);
    test_no_batch(t);
    test_takeover_single(t);
    test_slow(t);

    ch_workers_free(g_w);
    ch_instances_free(set);
    ch_slots_destroy(slots);
    ch_loader_free(g_ld);
    redisFree(pf_raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
