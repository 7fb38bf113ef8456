/* test_sched_race.c -- exactly-once ticks with several hosts racing on one
 * due set: 3 processes x 2 threads each run the scheduler's claim and a
 * minimal worker (read the tenant streams, run the "tick", acknowledge,
 * ch_sched_tick_done) for 8 s over 100 connections ticking every second.
 *
 * Exactly once means: every tick enqueued was run, once (ticks run ==
 * ticks due, counted in the shared metrics region across the processes);
 * no connection ever ticked twice within its interval (a double claim
 * would show as two enqueues less than 1 s apart); and none starved. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "call.h"
#include "check.h"
#include "connector_api.h"
#include "metrics.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "scheduler.h"

#define PROCS 3
#define THREADS 2
#define TENANTS 5
#define CONNS 100          /* 20 per tenant */
#define INTERVAL_MS 1000
#define CLAIM_MS 8000      /* claims run this long */
#define DRAIN_MS 2500      /* then workers finish what was enqueued */
#define LOG_KEY "test:ticklog"

static int64_t g_start;

/* One worker pass over every tenant stream: returns items handled. */
static int work(const char *consumer)
{
    int n = 0;
    for (int t = 0; t < TENANTS; t++) {
        char tenant[8];
        snprintf(tenant, sizeof tenant, "t%d", t);
        redisReply *r = ch_rconn_command("XREADGROUP GROUP w %s COUNT 20 STREAMS c360:{t:%s}:ev >",
                                         consumer, tenant);
        /* NOGROUP until the first tick of that tenant created it. */
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
            if (r) freeReplyObject(r);
            continue;
        }
        redisReply *es = r->element[0]->element[1];
        for (size_t i = 0; i < es->elements; i++) {
            redisReply *e = es->element[i];
            const redisReply *k = pf_entry_field(e, "k"), *c = pf_entry_field(e, "c"),
                             *tm = pf_entry_field(e, "t");
            if (!k || strcmp(k->str, "tick") != 0 || !c || !tm) continue;
            freeReplyObject(ch_rconn_command("RPUSH %s %s/%s/%s", LOG_KEY, tenant, c->str, tm->str));
            freeReplyObject(ch_rconn_command("XACK c360:{t:%s}:ev w %s", tenant, e->element[0]->str));
            if (ch_sched_tick_done(tenant, c->str, C360_OK, 0) == C360_OK) n++;
        }
        freeReplyObject(r);
    }
    return n;
}

static void *racer(void *arg)
{
    char consumer[64];
    snprintf(consumer, sizeof consumer, "h%d-%d", getpid(), (int)(intptr_t)arg);
    while (ch_monotonic_ms() - g_start < CLAIM_MS) {
        ch_sched_claim(NULL);
        work(consumer);
        fx_sleep_ms(5 + (int)randombytes_uniform(20));
    }
    while (ch_monotonic_ms() - g_start < CLAIM_MS + DRAIN_MS) {
        work(consumer);
        fx_sleep_ms(20);
    }
    ch_rconn_thread_close();
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    fx_rconn_start(5000);
    CHECK(ch_metrics_init(0) == 0);
    ch_sched_settings ss = {.tick_floor_s = 1, .lease_ms = 5000};
    ch_sched_configure(&ss);

    for (int i = 0; i < CONNS; i++) {
        char t[8], c[8];
        snprintf(t, sizeof t, "t%d", i % TENANTS);
        snprintf(c, sizeof c, "c%d", i);
        freeReplyObject(ch_rconn_command(
            "HSET c360:{t:%s}:conn:%s plugin tickp state active interval_s 1 ticks 1", t, c));
        CHECK(ch_sched_add(t, c) == C360_OK);
    }
    /* Forked children must not share this thread's Redis socket. */
    ch_rconn_thread_close();

    g_start = ch_monotonic_ms();
    pid_t kids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        kids[p] = fork();
        if (kids[p] == 0) {
            pthread_t th[THREADS];
            for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i);
            for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        CHECK(waitpid(kids[p], &st, 0) == kids[p] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    uint64_t due = ch_metrics_get(CH_M_TICKS_DUE), run = ch_metrics_get(CH_M_TICKS_RUN);
    long long stream_total = 0, pending_total = 0;
    for (int t = 0; t < TENANTS; t++) {
        redisReply *r = ch_rconn_command("XLEN c360:{t:t%d}:ev", t);
        if (r && r->type == REDIS_REPLY_INTEGER) stream_total += r->integer;
        if (r) freeReplyObject(r);
        r = ch_rconn_command("XPENDING c360:{t:t%d}:ev w", t);
        if (r && r->type == REDIS_REPLY_ARRAY && r->element[0]->type == REDIS_REPLY_INTEGER)
            pending_total += r->element[0]->integer;
        if (r) freeReplyObject(r);
    }
    CHECK(due > 0);
    CHECK(run == due);                       /* every enqueued tick ran once */
    CHECK(stream_total == (long long)due);   /* one stream entry per claim */
    CHECK(pending_total == 0);

    /* Per connection: enqueue times at least one interval apart, and every
     * connection ticked regularly. */
    redisReply *log = ch_rconn_command("LRANGE %s 0 -1", LOG_KEY);
    CHECK(log && log->type == REDIS_REPLY_ARRAY && log->elements == run);
    static long long times[CONNS][64];
    int counts[CONNS] = {0};
    for (size_t i = 0; log && i < log->elements; i++) {
        int ci;
        long long tm;
        char tn[8];
        if (sscanf(log->element[i]->str, "%7[^/]/c%d/%lld", tn, &ci, &tm) == 3 && ci >= 0 &&
            ci < CONNS && counts[ci] < 64)
            times[ci][counts[ci]++] = tm;
    }
    if (log) freeReplyObject(log);
    long long min_gap = INT64_MAX;
    int min_count = 1 << 30, max_count = 0;
    for (int c = 0; c < CONNS; c++) {
        qsort(times[c], (size_t)counts[c], sizeof times[c][0], cmp_ll);
        for (int k = 1; k < counts[c]; k++)
            if (times[c][k] - times[c][k - 1] < min_gap) min_gap = times[c][k] - times[c][k - 1];
        if (counts[c] < min_count) min_count = counts[c];
        if (counts[c] > max_count) max_count = counts[c];
    }
    CHECK(min_gap >= INTERVAL_MS);
    /* 8 s of claims, first tick within the 1 s spread, then one per
     * 1..1.1 s plus claim latency: 5 is a safe floor, 9 the ceiling. */
    CHECK(min_count >= 5);
    CHECK(max_count <= CLAIM_MS / INTERVAL_MS + 1);
    printf("race: %d processes x %d threads, %d connections, 1 s interval, %d s: ticks due %" PRIu64
           ", run %" PRIu64 ", stream entries %lld, pending %lld; per connection %d..%d ticks, "
           "smallest gap %lld ms\n",
           PROCS, THREADS, CONNS, CLAIM_MS / 1000, due, run, stream_total, pending_total, min_count,
           max_count, min_gap);

    ch_rconn_thread_close();
    ch_rconn_shutdown();
    ch_metrics_shutdown();
    CHECK_DONE();
}
