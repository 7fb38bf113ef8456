/* test_retention.c -- per-tenant retention (maint_retention.c): a tenant's
 * retention_days removes exactly what is older from its event and
 * delivery streams (never an entry a group still needs), dead letters,
 * delivery and sync logs, and notification log and outbox; tenants
 * without one, or being deleted, are left alone; a large backlog goes in
 * bounded steps; the registry pass and the maintenance thread run it; the
 * trim pass honours the tenant's own setting. Real redis-server. */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "check.h"
#include "connector_api.h"
#include "maint.h"
#include "maint_retention.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"

#define DAY 86400000LL

static long long g_now;

static void tenant(const char *t, int days, int deleting)
{
    pf_do("HSET c360:{t:%s}:tenant name %s limits {} retention_days %d version 1 created_ms 1 "
          "updated_ms 1",
          t, t, days);
    if (deleting) pf_do("HSET c360:{t:%s}:tenant deleting 1", t);
    pf_do("SADD c360:{idx}:tenant-registry %s", t);
    pf_do("SADD c360:{t:%s}:conns c1", t);
}

/* n entries of `key` at time ms (ids ms-0, ms-1, ...). */
static void add_at(const char *key, long long ms, int n)
{
    for (int i = 0; i < n; i++) pf_do("XADD %s %lld-%d f v%d", key, ms, i, i);
}

/* Old entries (5 days ago) and new ones (now) in every retained stream. */
static void fill(const char *t)
{
    static const char *const keys[] = {"ev", "dl", "dlq", "dlog:c1", "synclog:c1", "notify:log",
                                       "notify:q"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char k[128];
        snprintf(k, sizeof k, "c360:{t:%s}:%s", t, keys[i]);
        add_at(k, g_now - 5 * DAY, 3);
        add_at(k, g_now - 5 * DAY + 1, 2);
        add_at(k, g_now, 2);
    }
    /* The work streams have a group that has read and acknowledged all. */
    pf_do("XGROUP CREATE c360:{t:%s}:ev w $", t);
    pf_do("XGROUP CREATE c360:{t:%s}:dl w $", t);
}

static long long len(const char *t, const char *k) { return pf_int("XLEN c360:{t:%s}:%s", t, k); }

static void test_sweep(void)
{
    tenant("tr", 2, 0);
    tenant("tk", 0, 0);
    tenant("tx", 2, 1);
    fill("tr");
    fill("tk");
    fill("tx");
    CHECK(ch_retention_days("tr") == 2);
    CHECK(ch_retention_days("tk") == 0);
    CHECK(ch_retention_days("tx") == 0);   /* being deleted */
    CHECK(ch_retention_days("nobody") == 0);
    CHECK(ch_retention_cutoff("tr", g_now, 123) == g_now - 2 * DAY);
    CHECK(ch_retention_cutoff("tk", g_now, 123) == 123);

    uint64_t removed = 0;
    int more = 1;
    CHECK(ch_retention_sweep_tenant("tr", g_now - 2 * DAY, 0, &removed, &more) == C360_OK);
    CHECK(removed == 7 * 5);
    CHECK(more == 0);
    static const char *const keys[] = {"ev", "dl", "dlq", "dlog:c1", "synclog:c1", "notify:log",
                                       "notify:q"};
    for (size_t i = 0; i < 7; i++) CHECK(len("tr", keys[i]) == 2);
    /* Exactly: the oldest kept is the first new one. */
    redisReply *r = pf_cmd("XRANGE c360:{t:tr}:dlq - + COUNT 1");
    char want[32];
    snprintf(want, sizeof want, "%lld-0", g_now);
    CHECK(r->elements == 1 && strcmp(r->element[0]->element[0]->str, want) == 0);
    freeReplyObject(r);
    /* Again: nothing left to do. */
    CHECK(ch_retention_sweep_tenant("tr", g_now - 2 * DAY, 0, &removed, &more) == C360_OK);
    CHECK(removed == 0 && more == 0);
    CHECK(ch_retention_sweep_tenant("t:bad", g_now, 0, &removed, &more) == C360_EINVAL);
}

static void test_pending_kept(void)
{
    tenant("tp", 1, 0);
    add_at("c360:{t:tp}:ev", g_now - 5 * DAY, 4);
    add_at("c360:{t:tp}:ev", g_now, 1);
    /* A consumer read two old entries and finished one: the other one is
     * pending, the two after it unread. */
    pf_do("XGROUP CREATE c360:{t:tp}:ev w 0");
    pf_do("XREADGROUP GROUP w c COUNT 2 STREAMS c360:{t:tp}:ev >");
    char id0[32], id1[32];
    snprintf(id0, sizeof id0, "%lld-0", g_now - 5 * DAY);
    snprintf(id1, sizeof id1, "%lld-1", g_now - 5 * DAY);
    pf_do("XACK c360:{t:tp}:ev w %s", id0);
    uint64_t removed = 0;
    CHECK(ch_retention_sweep_tenant("tp", g_now - DAY, 0, &removed, NULL) == C360_OK);
    CHECK(removed == 1);
    CHECK(len("tp", "ev") == 4);
    redisReply *r = pf_cmd("XRANGE c360:{t:tp}:ev - + COUNT 1");
    CHECK(r->elements == 1 && strcmp(r->element[0]->element[0]->str, id1) == 0);
    freeReplyObject(r);
    /* A stream no group reads yet is left alone entirely. */
    add_at("c360:{t:tp}:dl", g_now - 5 * DAY, 3);
    CHECK(ch_retention_sweep_tenant("tp", g_now - DAY, 0, &removed, NULL) == C360_OK);
    CHECK(len("tp", "dl") == 3);
}

static void test_budget(void)
{
    tenant("tb", 1, 0);
    /* 4500 old dead letters, a budget of 2000 per pass: bounded steps. */
    redisReply *r;
    for (int i = 0; i < 4500; i++) {
        redisAppendCommand(pf_raw, "XADD c360:{t:tb}:dlq %lld-%d f v", g_now - 5 * DAY, i);
    }
    for (int i = 0; i < 4500; i++) {
        if (redisGetReply(pf_raw, (void **)&r) == REDIS_OK) freeReplyObject(r);
    }
    add_at("c360:{t:tb}:dlq", g_now, 3);
    uint64_t removed = 0, total = 0;
    int more = 0, passes = 0;
    do {
        CHECK(ch_retention_sweep_tenant("tb", g_now - DAY, 2000, &removed, &more) == C360_OK);
        CHECK(removed <= 2000);
        total += removed;
        passes++;
    } while (more && passes < 10);
    CHECK(passes >= 3);
    CHECK(total == 4500);
    CHECK(len("tb", "dlq") == 3);
}

static void test_pass_and_thread(void)
{
    tenant("tq", 3, 0);
    tenant("tn", 0, 0);
    add_at("c360:{t:tq}:dlq", g_now - 5 * DAY, 2);
    add_at("c360:{t:tq}:dlq", g_now, 1);
    add_at("c360:{t:tn}:dlq", g_now - 5 * DAY, 2);
    ch_retention_pass p;
    ch_retention_pass_start(&p);
    for (int i = 0; i < 100 && p.active; i++) ch_retention_pass_page(&p, g_now);
    CHECK(!p.active);
    CHECK(p.swept >= 1);
    CHECK(len("tq", "dlq") == 1);
    CHECK(len("tn", "dlq") == 2);

    /* The maintenance thread runs it with its trim pass. */
    add_at("c360:{t:tq}:notify:log", ch_now_ms() - 5 * DAY, 2);
    add_at("c360:{t:tq}:notify:log", ch_now_ms(), 1);
    ch_maint_settings s = {.claim_period_ms = 0, .sample_period_ms = 0, .trim_period_ms = 60000,
                           .trim_first_ms = 10, .retention_days = 7};
    CHECK(ch_maint_start_with(&s) == CH_OK);
    for (int i = 0; i < 200 && len("tq", "notify:log") != 1; i++) fx_sleep_ms(10);
    ch_maint_stop();
    CHECK(len("tq", "notify:log") == 1);
}

/* The default trim honours a tenant's own, longer, retention. */
static void test_trim_honours_tenant(void)
{
    tenant("tl", 30, 0);
    pf_do("SADD c360:{idx}:tenants tl");
    long long now = (long long)ch_now_ms();
    for (int i = 0; i < 300; i++) pf_do("XADD c360:{t:tl}:ev %lld-%d f v", now - 10 * DAY, i);
    add_at("c360:{t:tl}:ev", now, 1);
    pf_do("XGROUP CREATE c360:{t:tl}:ev w $");
    ch_maint_settings s = {.claim_period_ms = 0, .sample_period_ms = 0, .trim_period_ms = 60000,
                           .trim_first_ms = 10, .retention_days = 7};
    CHECK(ch_maint_start_with(&s) == CH_OK);
    fx_sleep_ms(300);
    ch_maint_stop();
    /* 7 days would have removed the 10-day-old entries; 30 keeps them. */
    CHECK(len("tl", "ev") == 301);
}

int main(void)
{
    int port = fx_rconn_start(2000);
    pf_raw_connect(port);
    g_now = (long long)ch_now_ms();
    test_sweep();
    test_pending_kept();
    test_budget();
    test_pass_and_thread();
    test_trim_honours_tenant();
    redisFree(pf_raw);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    CHECK_DONE();
}
