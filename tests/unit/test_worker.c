/* test_worker -- worker threads (worker.h) against a real redis-server and
 * the wtp test plugin (tests/plugins/pipeline/worker_tp.c), stepped by hand
 * so that every case is deterministic: the OK path (records routed to two
 * destinations, delivered, attempts logged, stats), RETRY with backoff then
 * success, ERROR to the dead letters with its error, max_attempts, the
 * fairness of the round robin (1000 items of one tenant do not delay the
 * 10 of another), paused / disabled / gone / unknown-plugin connections,
 * ticks (records, failure), instance_open failing, record_emit refusals,
 * connection_status, taking over a dead predecessor's entries (slot and
 * sweep, and another host's after claim_idle_ms), a slow batch handing
 * back what it has not started, event_prefetch (ABI 1.7: which events a
 * connection's plugin is shown ahead, in which order, and that its
 * refusals and failures change nothing). The per-destination
 * concurrency cap runs with real threads (test_worker_cap.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "call.h"
#include "check.h"
#include "conns.h"
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

static ch_workers *g_w;

static void add_event_k(const char *tenant, const char *conn, const char *k, const char *body,
                        char out[CH_QW_ID_MAX])
{
    pf_add_event(tenant, conn, k, "{\"x-a\":\"1\"}", body, out, CH_QW_ID_MAX);
}

static void add_event(const char *tenant, const char *conn, const char *body, char out[CH_QW_ID_MAX])
{
    add_event_k(tenant, conn, "wh", body, out);
}

/* No group yet counts as nothing pending. */
static int pending(const char *tenant, const char *stream)
{
    int n = pf_pending(tenant, stream);
    return n < 0 ? 0 : n;
}

static char *owner_of(const char *tenant, const char *id)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "(none)");
    redisReply *r = redisCommand(pf_raw, "XPENDING c360:{t:%s}:ev w %s %s 1", tenant, id, id);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        snprintf(buf, sizeof buf, "%s", r->element[0]->element[1]->str);
    if (r) freeReplyObject(r);
    return buf;
}

/* The last dead letter's field, or "(none)". */
static char *last_dlq(const char *tenant, const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "(none)");
    redisReply *r = redisCommand(pf_raw, "XREVRANGE c360:{t:%s}:dlq + - COUNT 1", tenant);
    const redisReply *v = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1
                              ? pf_entry_field(r->element[0], name) : NULL;
    if (v) snprintf(buf, sizeof buf, "%s", v->str);
    if (r) freeReplyObject(r);
    return buf;
}

static void put(const char *tenant, const char *id, const char *plugin, const char *cfg)
{
    pf_conn_put(tenant, id, plugin, cfg, 60, 1);
}

/* Turns the tenant until nothing more happens (or rounds run out). */
static void drain(ch_wthread *t, const char *tenant, int rounds)
{
    for (int i = 0; i < rounds; i++)
        if (ch_wthread_turn(t, tenant) == 0) break;
}

static void test_ok_path(ch_wthread *t)
{
    char id[CH_QW_ID_MAX];
    add_event("ta", "src", "ok 2 okp", id);
    CHECK(ch_wthread_turn(t, "ta") >= 1);
    char key[96];
    snprintf(key, sizeof key, "ev:%s", id);
    CHECK(pf_state_num("ta", "src", key) == 1);
    CHECK_STR(owner_of("ta", id), "(none)");
    /* Deliveries: the same turn's fetch already took them, or the next. */
    drain(t, "ta", 5);
    CHECK(pf_state_num("ta", "d1", "d:okp-0") == 1);
    CHECK(pf_state_num("ta", "d1", "d:okp-1") == 1);
    /* d2 fails the first attempt of each record: retried after backoff. */
    CHECK(pf_state_num("ta", "d2", "d:okp-0") == 0);
    CHECK(pf_int("ZCARD c360:{t:ta}:retry") == 2);
    fx_sleep_ms(120);
    drain(t, "ta", 5);
    CHECK(pf_state_num("ta", "d2", "d:okp-0") == 1);
    CHECK(pf_state_num("ta", "d2", "d:okp-1") == 1);
    CHECK(pending("ta", "ev") == 0 && pending("ta", "dl") == 0);
    CHECK(pf_stat_num("ta", "src", "events") == 1);
    CHECK(pf_stat_num("ta", "src", "records") == 2);
    CHECK(pf_stat_num("ta", "d1", "deliveries") == 2);
    CHECK(pf_stat_num("ta", "d2", "deliveries") == 2);
    CHECK(pf_stat_num("ta", "d2", "retries") == 2);
    CHECK(pf_stat_num("ta", "d2", "last_ok_ms") > 0);
    /* Every attempt logged: d2 has 2 failures and 2 successes. */
    CHECK(pf_int("XLEN c360:{t:ta}:dlog:d2") == 4);
    CHECK(pf_int("XLEN c360:{t:ta}:dlog:d1") == 2);
    CHECK(pf_int("ZCARD c360:{t:ta}:lease:d1") == 0);
    CHECK(pf_int("HLEN c360:{t:ta}:att") == 0);
}

static long long pf_state_of(const char *conn, const char *key)
{
    return pf_state_num("tp", conn, key);
}

/* ABI 1.7: a turn shows each connection's fresh webhook events, two or
 * more, to event_prefetch once, in turn order, before they run; replays,
 * a paused connection's events and a lone event are not shown; a failing
 * look ahead changes nothing; every event still runs once. */
static void test_prefetch(ch_wthread *t)
{
    put("tp", "pa", "wtp", "{\"prefetch\":true}");
    put("tp", "pb", "wtp", "{\"prefetch\":true}");
    put("tp", "pc", "wtp", "{}");
    put("tp", "pe", "wtp", "{\"prefetch\":true,\"prefetch_status\":2}");
    put("tp", "pp", "wtp", "{\"prefetch\":true}");
    CHECK(ch_conn_set_state("tp", "pp", "paused", "by operator", "system", NULL) == C360_OK);
    fx_sleep_ms(60); /* conn cache ttl */
    static const char *const conns[] = {"pa", "pb", "pa", "pc", "pa", "pb", "pp", "pe", "pp",
                                        "pe", "pc"};
    enum { N = sizeof conns / sizeof conns[0] };
    char ids[N][CH_QW_ID_MAX], rp[CH_QW_ID_MAX], key[96];
    for (size_t i = 0; i < N; i++) add_event("tp", conns[i], "ok 0", ids[i]);
    add_event_k("tp", "pa", "replay", "ok 0", rp);
    t->avg_item_ms = 0; /* a full share in one turn, whatever ran before */
    CHECK(ch_wthread_turn(t, "tp") == N + 1);
    CHECK(pf_state_of("pa", "pf_calls") == 1 && pf_state_of("pa", "pf_events") == 3);
    char want[3 * CH_QW_ID_MAX + 4];
    snprintf(want, sizeof want, "%s,%s,%s", ids[0], ids[2], ids[4]);
    CHECK_STR(pf_str("HGET c360:{t:tp}:state:pa:pf_last v"), want);
    CHECK(pf_state_of("pb", "pf_calls") == 1 && pf_state_of("pb", "pf_events") == 2);
    CHECK(pf_state_of("pe", "pf_calls") == 1 && pf_state_of("pe", "pf_events") == 2);
    CHECK(pf_state_of("pp", "pf_calls") == 0);
    snprintf(key, sizeof key, "pf:%s", rp);
    CHECK(pf_state_of("pa", key) == 0);
    /* The refusals were the ABI's, and nothing was staged. */
    CHECK(pf_state_of("pa", "pf_bad") == 0 && pf_state_of("pb", "pf_bad") == 0);
    CHECK(pf_int("HEXISTS c360:{t:tp}:state:pa:pf_staged v") == 0);
    /* Every runnable event ran once, the failed look ahead's too. */
    for (size_t i = 0; i < N; i++) {
        snprintf(key, sizeof key, "ev:%.80s", ids[i]);
        CHECK(pf_state_of(conns[i], key) == (strcmp(conns[i], "pp") == 0 ? 0 : 1));
    }
    snprintf(key, sizeof key, "ev:%s", rp);
    CHECK(pf_state_of("pa", key) == 1);
    CHECK(pf_stat_num("tp", "pe", "events") == 2);
    /* A lone event: no look ahead. */
    add_event("tp", "pa", "ok 0", rp);
    ch_wthread_turn(t, "tp");
    snprintf(key, sizeof key, "ev:%s", rp);
    CHECK(pf_state_of("pa", key) == 1 && pf_state_of("pa", "pf_calls") == 1);
    CHECK(ch_conn_set_state("tp", "pp", "active", "", "system", NULL) == C360_OK);
    fx_sleep_ms(300); /* the paused events' hold */
    drain(t, "tp", 5);
    snprintf(key, sizeof key, "ev:%s", ids[6]);
    CHECK(pf_state_of("pp", key) == 1);
    snprintf(key, sizeof key, "ev:%s", ids[8]);
    CHECK(pf_state_of("pp", key) == 1);
    CHECK(pending("tp", "ev") == 0);

    /* A retry is not shown again: with a new event, one left to show. */
    put("tp", "pr", "wtp", "{\"prefetch\":true}");
    fx_sleep_ms(60);
    char r1[CH_QW_ID_MAX], r2[CH_QW_ID_MAX], r3[CH_QW_ID_MAX];
    add_event("tp", "pr", "retry 1", r1);
    add_event("tp", "pr", "ok 0", r2);
    t->avg_item_ms = 0;
    ch_wthread_turn(t, "tp");
    CHECK(pf_state_of("pr", "pf_calls") == 1 && pf_state_of("pr", "pf_events") == 2);
    fx_sleep_ms(150); /* the retry's backoff (retry_base_ms 50) */
    add_event("tp", "pr", "ok 0", r3);
    t->avg_item_ms = 0;
    drain(t, "tp", 5);
    snprintf(key, sizeof key, "ev:%s", r1);
    CHECK(pf_state_of("pr", key) == 2);
    snprintf(key, sizeof key, "ev:%s", r3);
    CHECK(pf_state_of("pr", key) == 1);
    CHECK(pf_state_of("pr", "pf_calls") == 1);

    /* A slow look ahead gets half the turn's time before its hand-back
     * (claim_idle_ms 1000: 250 ms, so at most 125 ms) as its deadline, and
     * every event of the turn still runs in it. */
    put("tp", "pw", "wtp", "{\"prefetch\":true,\"prefetch_sleep_ms\":5000}");
    fx_sleep_ms(60);
    char w[4][CH_QW_ID_MAX];
    for (int i = 0; i < 4; i++) add_event("tp", "pw", "ok 0", w[i]);
    t->avg_item_ms = 0;
    /* The first item runs after it whatever the time (a turn always
     * moves); the others too unless the machine is very loaded. */
    CHECK(ch_wthread_turn(t, "tp") >= 1);
    long long left = pf_state_of("pw", "pf_left");
    CHECK(left > 0 && left <= 125);
    /* Its time was charged to the items (about 30 ms each): the next turn
     * is small, without a look ahead. */
    CHECK(t->avg_item_ms >= 5.0);
    drain(t, "tp", 8);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "ev:%.80s", w[i]);
        CHECK(pf_state_of("pw", key) == 1);
        CHECK_STR(owner_of("tp", w[i]), "(none)");
    }
    CHECK(pf_state_of("pw", "pf_calls") == 1);

    /* 65 events of one connection in one turn: a call of 64, and the
     * lone one left is not shown; all 65 run. */
    put("tp", "pm", "wtp", "{\"prefetch\":true}");
    fx_sleep_ms(60);
    enum { M = 65 };
    static char m[M][CH_QW_ID_MAX];
    for (int i = 0; i < M; i++) add_event("tp", "pm", "ok 0", m[i]);
    ch_worker_conf *conf = (ch_worker_conf *)t->conf;
    int share = conf->share;
    conf->share = M;
    t->avg_item_ms = 0;
    CHECK(ch_wthread_turn(t, "tp") >= 1);
    conf->share = share;
    CHECK(pf_state_of("pm", "pf_calls") == 1 && pf_state_of("pm", "pf_events") == 64);
    drain(t, "tp", 20);
    int ran = 0;
    for (int i = 0; i < M; i++) {
        snprintf(key, sizeof key, "ev:%.80s", m[i]);
        ran += pf_state_of("pm", key) == 1;
    }
    CHECK(ran == M);
}

/* A route's field mapping shapes what its destination receives; a route
 * without one gets the record as emitted. */
static void test_mapping(ch_wthread *t)
{
    put("ta", "msrc", "wtp", "{}");
    put("ta", "mdst", "wtp", "{}");
    put("ta", "mraw", "wtp", "{}");
    CHECK(ch_conn_route_put("ta", "msrc", "mdst",
                            "{\"lead.n\":{\"from\":\"/i\"},\"origin\":{\"const\":\"meta\"},"
                            "\"none\":{\"from\":\"/missing\"}}",
                            "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add("ta", "msrc", "mraw", "system", NULL) == C360_OK);
    char id[CH_QW_ID_MAX];
    add_event("ta", "msrc", "ok 1 map", id);
    drain(t, "ta", 6);
    const char *got = pf_str("HGET c360:{t:ta}:state:mdst:json:map-0 v");
    CHECK_STR(got, "{\"lead\":{\"n\":0},\"origin\":\"meta\"}");
    got = pf_str("HGET c360:{t:ta}:state:mraw:json:map-0 v");
    CHECK_STR(got, "{\"i\":0,\"src\":\"wtp\",\"id\":\"map-0\"}");

    /* The thread caches the mapping for conn_cache_ms (50 here): a change
     * reaches the deliveries once that has passed (deliver.c). */
    CHECK(ch_conn_route_put("ta", "msrc", "mdst", "{\"k\":{\"from\":\"/i\"}}", "system",
                            NULL) == C360_OK);
    fx_sleep_ms(80);
    add_event("ta", "msrc", "ok 1 map2", id);
    drain(t, "ta", 6);
    got = pf_str("HGET c360:{t:ta}:state:mdst:json:map2-0 v");
    CHECK_STR(got, "{\"k\":0}");
    /* And the mapping's removal the same way. */
    CHECK(ch_conn_route_put("ta", "msrc", "mdst", NULL, "system", NULL) == C360_OK);
    fx_sleep_ms(80);
    add_event("ta", "msrc", "ok 1 map3", id);
    drain(t, "ta", 6);
    got = pf_str("HGET c360:{t:ta}:state:mdst:json:map3-0 v");
    CHECK_STR(got, "{\"i\":0,\"src\":\"wtp\",\"id\":\"map3-0\"}");
}

static void test_retry_error_attempts(ch_wthread *t)
{
    char id[CH_QW_ID_MAX], key[96];
    add_event("ta", "src", "retry 2", id);
    snprintf(key, sizeof key, "ev:%s", id);
    ch_wthread_turn(t, "ta");
    CHECK(pf_state_num("ta", "src", key) == 1);
    CHECK_STR(owner_of("ta", id), "retry");
    CHECK_STR(pf_str("HGET c360:{t:ta}:att %s", id), "1");
    for (int i = 0; i < 40 && pf_state_num("ta", "src", key) < 3; i++) {
        fx_sleep_ms(30);
        ch_wthread_turn(t, "ta");
    }
    CHECK(pf_state_num("ta", "src", key) == 3); /* attempts 1, 2 retried; 3 OK */
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(pf_int("HEXISTS c360:{t:ta}:att %s", id) == 0);
    drain(t, "ta", 5); /* its record's deliveries */

    add_event("ta", "src", "error", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(last_dlq("ta", "why"), "error");
    CHECK_STR(last_dlq("ta", "err"), "permanent error: boom");
    CHECK_STR(last_dlq("ta", "orig"), id);
    CHECK_STR(last_dlq("ta", "b"), "error");
    CHECK_STR(owner_of("ta", id), "(none)");

    /* An unknown status counts as a permanent error. */
    add_event("ta", "src", "status 77", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(last_dlq("ta", "orig"), id);
    CHECK_STR(last_dlq("ta", "why"), "error");

    /* max_attempts 3: attempts 1 and 2 are retried, 3 is the last. */
    int saved = g_w->conf.max_attempts;
    g_w->conf.max_attempts = 3;
    add_event("ta", "src", "retry 100", id);
    snprintf(key, sizeof key, "ev:%s", id);
    for (int i = 0; i < 60 && strcmp(last_dlq("ta", "orig"), id) != 0; i++) {
        ch_wthread_turn(t, "ta");
        fx_sleep_ms(30);
    }
    CHECK_STR(last_dlq("ta", "orig"), id);
    CHECK_STR(last_dlq("ta", "why"), "attempts");
    CHECK(pf_state_num("ta", "src", key) == 3);
    CHECK_STR(owner_of("ta", id), "(none)");
    /* An item that arrives with more attempts than allowed (a replay of
     * something else's count) is not run at all. */
    freeReplyObject(pf_cmd("HSET c360:{t:ta}:att x 0"));
    redisReply *r = redisCommand(pf_raw, "XADD c360:{t:ta}:ev * k wh c src p wtp t 1 a 9 b ok");
    char over[CH_QW_ID_MAX];
    snprintf(over, sizeof over, "%s", r->str);
    freeReplyObject(r);
    snprintf(key, sizeof key, "ev:%s", over);
    ch_wthread_turn(t, "ta");
    CHECK(pf_state_num("ta", "src", key) == 0);
    CHECK_STR(last_dlq("ta", "orig"), over);
    CHECK_STR(last_dlq("ta", "why"), "attempts");
    g_w->conf.max_attempts = saved;
}

/* A busy tenant's turns read its new entries alone (ch_qw_fetch_new, no
 * script), but this thread still runs the due script for it at least
 * every CH_WDUE_EVERY_MS: a retry due meanwhile is not starved by the
 * load, and turns in between did skip the script. */
static void test_busy_due(ch_wthread *t)
{
    g_w->conf.due_every_ms = 250; /* the default; the other cases step with 0 */
    char id[CH_QW_ID_MAX], other[CH_QW_ID_MAX], key[96];
    drain(t, "ta", 10);
    add_event("ta", "src", "retry 1", id);
    snprintf(key, sizeof key, "ev:%s", id);
    ch_wthread_turn(t, "ta");
    CHECK(pf_state_num("ta", "src", key) == 1);
    CHECK_STR(owner_of("ta", id), "retry");
    int skipped = 0, turns = 0;
    for (int i = 0; i < 150 && pf_state_num("ta", "src", key) < 2; i++) {
        add_event("ta", "src", "ok 0", other); /* always something new */
        int64_t before = t->due_ms;
        ch_wthread_turn(t, "ta");
        turns++;
        if (t->due_ms == before && t->busy) skipped++;
        fx_sleep_ms(15);
    }
    CHECK(pf_state_num("ta", "src", key) == 2); /* retried while busy, then OK */
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(skipped > 0 && skipped < turns);
    drain(t, "ta", 10);
    /* Idle again: the next turn runs the script. */
    int64_t before = t->due_ms;
    fx_sleep_ms(5);
    ch_wthread_turn(t, "ta");
    CHECK(!t->busy && t->due_ms != before);

    /* Retries due at every turn (each item retried on its first attempts)
     * while new entries keep coming: once the script has seen them due, no
     * turn skips it -- new entries must not crowd due items out (a held
     * delivery would be held again behind them with no bound). Before
     * that, a due item waits at most due_every_ms on this thread: the
     * loop runs past it. */
    char r[4][CH_QW_ID_MAX];
    for (int i = 0; i < 4; i++) add_event("ta", "src", "retry 3", r[i]);
    ch_wthread_turn(t, "ta"); /* first attempts: all four to `retry` */
    int ran_script = 0, with_due = 0;
    int64_t until = ch_monotonic_ms() + 3 * g_w->conf.due_every_ms;
    for (int i = 0; i < 400 && ch_monotonic_ms() < until; i++) {
        add_event("ta", "src", "ok 0", other);
        pf_do("ZADD c360:{t:ta}:retry 0 %s 0 %s 0 %s 0 %s", r[0], r[1], r[2], r[3]);
        int64_t b0 = t->due_ms;
        int due_before = t->due_seen;
        fx_sleep_ms(2);
        ch_wthread_turn(t, "ta");
        if (due_before) {
            with_due++;
            if (t->due_ms != b0) ran_script++;
        }
    }
    CHECK(with_due > 0 && ran_script == with_due);
    drain(t, "ta", 20);
    g_w->conf.due_every_ms = 0;
}

static void test_fairness(ch_wthread *t)
{
    put("fa", "fsa", "wtp", "{}");
    put("fb", "fsb", "wtp", "{}");
    for (int i = 0; i < 1000; i++)
        redisAppendCommand(pf_raw, "XADD c360:{t:fa}:ev * k wh c fsa p wtp t 1 a 1 b %s", "ok 0");
    for (int i = 0; i < 1000; i++) {
        redisReply *r = NULL;
        redisGetReply(pf_raw, (void **)&r);
        if (r) freeReplyObject(r);
    }
    char id[CH_QW_ID_MAX];
    for (int i = 0; i < 10; i++) add_event("fb", "fsb", "ok 0", id);
    fx_sleep_ms(60); /* the tenant list cache sees fa and fb */
    ch_tsnap *s = ch_tenants_get(&g_w->tenants);
    size_t ntenants = s->n;
    CHECK(ch_tsnap_find(s, "fa") >= 0 && ch_tsnap_find(s, "fb") >= 0);
    ch_tsnap_release(s);
    t->visited = 0;
    t->pass_work = 0;
    /* Full shares: the turn size adapts to the callback times measured so
     * far, which depend on the machine's load, not on what this checks. */
    t->avg_item_ms = 0;
    int steps = 0;
    while (pf_stat_num("fb", "fsb", "events") < 10 && steps < (int)(2 * ntenants + 2)) {
        ch_wthread_step(t);
        steps++;
    }
    long long a_done = pf_stat_num("fa", "fsa", "events");
    char m[128];
    snprintf(m, sizeof m, "fairness: B done after %d steps over %zu tenants; A had %lld of 1000 done",
             steps, ntenants, a_done);
    printf("%s\n", m);
    CHECK(pf_stat_num("fb", "fsb", "events") == 10);
    CHECK(steps <= (int)ntenants + 1);            /* within the first round */
    CHECK(a_done <= 2 * g_w->conf.share);           /* A got at most its shares */
    /* A is not starved either: it finishes in rounds of `share`. */
    for (int i = 0; i < 200 && pf_stat_num("fa", "fsa", "events") < 1000; i++) ch_wthread_turn(t, "fa");
    CHECK(pf_stat_num("fa", "fsa", "events") == 1000);
    CHECK(pending("fa", "ev") == 0);
}

static void test_states(ch_wthread *t)
{
    char id[CH_QW_ID_MAX], key[96];
    /* Paused: held without an attempt, run once active again. */
    put("ta", "sp", "wtp", "{}");
    CHECK(ch_conn_set_state("ta", "sp", "paused", "by operator", "system", NULL) == C360_OK);
    add_event("ta", "sp", "ok 0", id);
    snprintf(key, sizeof key, "ev:%s", id);
    fx_sleep_ms(60); /* conn cache ttl */
    ch_wthread_turn(t, "ta");
    CHECK(pf_state_num("ta", "sp", key) == 0);
    CHECK_STR(owner_of("ta", id), "retry");
    CHECK(pf_int("HEXISTS c360:{t:ta}:att %s", id) == 0);
    CHECK(ch_conn_set_state("ta", "sp", "active", "", "system", NULL) == C360_OK);
    fx_sleep_ms(300); /* hold_ms 200 +- 25 % */
    ch_wthread_turn(t, "ta");
    CHECK(pf_state_num("ta", "sp", key) == 1);
    CHECK_STR(owner_of("ta", id), "(none)");

    /* Disabled: acknowledged, dropped, counted. */
    put("ta", "sd", "wtp", "{}");
    CHECK(ch_conn_set_state("ta", "sd", "disabled", "", "system", NULL) == C360_OK);
    add_event("ta", "sd", "ok 0", id);
    snprintf(key, sizeof key, "ev:%s", id);
    fx_sleep_ms(60);
    ch_wthread_turn(t, "ta");
    CHECK(pf_state_num("ta", "sd", key) == 0);
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(pf_stat_num("ta", "sd", "dropped") == 1);

    /* Gone: acknowledged, nothing recreated for it. */
    add_event("ta", "ghost", "ok 0", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(pf_int("EXISTS c360:{t:ta}:conn:ghost:stat") == 0);

    /* A plugin not loaded here: held, no attempt. */
    put("ta", "np", "nope", "{}");
    add_event("ta", "np", "ok 0", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "retry");
    CHECK(pf_int("HEXISTS c360:{t:ta}:att %s", id) == 0);

    /* instance_open refuses: the error is the dead letter's. */
    put("ta", "of", "wtp", "{\"open_fail\":true}");
    add_event("ta", "of", "ok 0", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(last_dlq("ta", "orig"), id);
    CHECK_CONTAINS(last_dlq("ta", "err"), "open refused by config");

    /* Malformed: no connection field. */
    freeReplyObject(pf_cmd("XADD c360:{t:ta}:ev * k wh p wtp b x"));
    ch_wthread_turn(t, "ta");
    CHECK_CONTAINS(last_dlq("ta", "err"), "malformed");

    /* record_emit refusals: the plugin checks each status itself. */
    add_event("ta", "src", "badrec", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(strcmp(last_dlq("ta", "orig"), id) != 0);
    drain(t, "ta", 5);
    fx_sleep_ms(120);
    drain(t, "ta", 5);
    char rk[96];
    snprintf(rk, sizeof rk, "d:%s-0", id);
    CHECK(pf_state_num("ta", "d1", rk) == 1);
}

static void test_status(ch_wthread *t)
{
    char id[CH_QW_ID_MAX];
    put("ta", "ra", "wtp", "{}");
    add_event("ta", "ra", "reauth", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(pf_str("HGET c360:{t:ta}:conn:ra state"), "needs_reauth");
    CHECK_STR(pf_str("HGET c360:{t:ta}:conn:ra cause"), "token dead");
    CHECK_STR(pf_str("HGET c360:{t:ta}:conn:ra:status state"), "needs_reauth");
    /* EAUTH is retried (one attempt counted) ... */
    CHECK_STR(owner_of("ta", id), "retry");
    CHECK_STR(pf_str("HGET c360:{t:ta}:att %s", id), "1");
    /* ... and while the connection needs re-authorisation it is held, not
     * tried: no more attempts burnt. */
    fx_sleep_ms(150);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "retry");
    CHECK_STR(pf_str("HGET c360:{t:ta}:att %s", id), "1");

    /* Reports: unchanged ones write nothing; operator states win. */
    CHECK(ch_worker_conn_status("ta", "ra", "wtp", C360_CONN_NEEDS_REAUTH, "token dead", NULL) == C360_OK);
    CHECK(ch_worker_conn_status("ta", "ra", "wtp", C360_CONN_ACTIVE, "reconnected", NULL) == C360_OK);
    CHECK_STR(pf_str("HGET c360:{t:ta}:conn:ra state"), "active");
    CHECK(ch_conn_set_state("ta", "ra", "paused", "", "system", NULL) == C360_OK);
    CHECK(ch_worker_conn_status("ta", "ra", "wtp", C360_CONN_FAILING, "provider 500s", NULL) == C360_OK);
    CHECK_STR(pf_str("HGET c360:{t:ta}:conn:ra state"), "paused");
    CHECK(ch_worker_conn_status("ta", "ra", "wtp", 9, "", NULL) == C360_EINVAL);
    CHECK(ch_worker_conn_status("ta", "zz", "wtp", C360_CONN_ACTIVE, "", NULL) == C360_ENOTFOUND);
    CHECK(ch_conn_set_state("ta", "ra", "active", "", "system", NULL) == C360_OK);
    /* Outside a worker callback the adapter refuses: no instance. */
    const c360_host_api *h = ch_host_api();
    CHECK(h->record_emit(NULL, "lead", "x", "{}", 2) == C360_EINVAL);
    c360_call call;
    ch_call_init(&call, "wtp", NULL, NULL, 0);
    CHECK(h->record_emit(&call, "lead", "x", "{}", 2) == C360_EUNSUPPORTED);
    CHECK(h->connection_status(&call, C360_CONN_ACTIVE, "") == C360_EINVAL);
    ch_call_done(&call);
}

static void test_ticks(ch_wthread *t)
{
    char id[CH_QW_ID_MAX];
    put("ta", "tk", "wtp", "{\"tick_records\":2}");
    CHECK(ch_conn_route_add("ta", "tk", "d1", "system", NULL) == C360_OK);
    add_event_k("ta", "tk", "tick", "", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(pf_state_num("ta", "tk", "ticks") == 1);
    CHECK(pf_stat_num("ta", "tk", "records") == 2);
    CHECK(pf_stat_num("ta", "tk", "events") == 0); /* a tick is not an event */
    CHECK(pf_stat_num("ta", "tk", "last_ok_ms") > 0);
    drain(t, "ta", 5);
    CHECK(pf_stat_num("ta", "d1", "deliveries") >= 2 + 2);

    /* A failing tick: acknowledged, no retry of its own, no dead letter,
     * its error kept; the scheduler reschedules it. */
    put("ta", "tf", "wtp", "{\"tick_status\":1}");
    long long dlq = pf_int("XLEN c360:{t:ta}:dlq");
    add_event_k("ta", "tf", "tick", "", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == dlq);
    CHECK_CONTAINS(pf_str("HGET c360:{t:ta}:conn:tf:stat last_err"), "tick failed on purpose");

    /* A paused connection's tick is dropped. */
    CHECK(ch_conn_set_state("ta", "tk", "paused", "", "system", NULL) == C360_OK);
    fx_sleep_ms(60);
    add_event_k("ta", "tk", "tick", "", id);
    ch_wthread_turn(t, "ta");
    CHECK_STR(owner_of("ta", id), "(none)");
    CHECK(pf_state_num("ta", "tk", "ticks") == 1);
}

/* Slow callbacks: a batch that took longer than claim_idle_ms/4 hands
 * back what it has not started (no attempt counted), and the claim-idle
 * floor covers a whole callback. */
static void test_handback(ch_wthread *t)
{
    put("tb", "hb", "wtp", "{}");
    char ids[4][CH_QW_ID_MAX], key[96];
    /* 150 ms each: the second item starts well inside 1000 / 4 (the fetch,
     * dedup, look ahead and first outcome have 100 ms on a loaded
     * machine), the third well after. */
    for (int i = 0; i < 4; i++) add_event("tb", "hb", "sleep 150", ids[i]);
    fx_sleep_ms(60); /* tenant list */
    t->avg_item_ms = 0; /* a full share: all four fetched, whatever ran before */
    int n = ch_wthread_turn(t, "tb");
    /* 2 x 150 ms > 1000 / 4: items 3 and 4 go back (and on a machine so
     * loaded that the first item alone took the budget, item 2 too). */
    CHECK(n == 2 || n == 1);
    for (int i = n > 0 ? n : 0; i < 4; i++) CHECK_STR(owner_of("tb", ids[i]), "retry");
    CHECK(pf_int("HLEN c360:{t:tb}:att") == 0);
    drain(t, "tb", 5);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "ev:%.47s", ids[i]);
        CHECK(pf_state_num("tb", "hb", key) == 1);
    }
    ch_worker_conf c;
    ch_worker_conf_defaults(&c);
    c.due_every_ms = 0; /* turns stepped by hand claim due retries at once */
    CHECK(ch_worker_hang_grace_ms(&c) == 6000);
    CHECK(ch_worker_claim_idle_ms(&c) == 15000 + 60000 + 6000 + 1000);
    c.claim_idle_ms = 600000;
    CHECK(ch_worker_claim_idle_ms(&c) == 600000);
    c.callback_timeout_ms = 2000;
    c.hang_grace_ms = 0;
    CHECK(ch_worker_hang_grace_ms(&c) == 1000);
}

/* A pid that surely is not running: a child that already exited. */
static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static void test_takeover(ch_workers *w)
{
    char host[65], dead[128], other[128], id[CH_QW_ID_MAX], key[96];
    ch_qw_host_id(host, sizeof host);
    long dp = dead_pid();
    /* 1. The slot's predecessor died holding entries of tenant tk1. */
    put("tk1", "c1", "wtp", "{}");
    ch_qw_consumer_name(dead, sizeof dead, host, dp, 1);
    char ids[3][CH_QW_ID_MAX];
    for (int i = 0; i < 3; i++) add_event("tk1", "c1", "ok 0", ids[i]);
    freeReplyObject(pf_cmd("XGROUP CREATE c360:{t:tk1}:ev w 0"));
    freeReplyObject(pf_cmd("XREADGROUP GROUP w %s COUNT 10 STREAMS c360:{t:tk1}:ev >", dead));
    CHECK_STR(owner_of("tk1", ids[0]), dead);
    ch_slot *sl = ch_slots_get(w->slots, 0, 1);
    ch_slot_claim(sl, dead, NULL);
    ch_slot_hold(sl, "tk1");
    ch_wthread *t1 = w->threads[1];
    ch_wthread_begin(t1);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "ev:%.47s", ids[i]);
        CHECK(pf_state_num("tk1", "c1", key) == 1);
        CHECK_STR(owner_of("tk1", ids[i]), "(none)");
    }
    ch_qconsumer cs[8];
    size_t n = 0;
    CHECK(ch_qw_consumers("tk1", CH_Q_EV, cs, 8, &n) == C360_OK);
    for (size_t i = 0; i < n; i++) CHECK(strcmp(cs[i].name, dead) != 0);
    ch_slot_view v;
    ch_slot_read(sl, &v);
    CHECK_STR(v.consumer, t1->consumer);
    CHECK(v.held_tenant[0] == '\0');

    /* 2. The sweep: a dead process of this host (claimed at once) and
     * another host (claimed once idle for claim_idle_ms). */
    put("tk2", "c2", "wtp", "{}");
    ch_qw_consumer_name(dead, sizeof dead, host, dp, 2);
    snprintf(other, sizeof other, "elsewhere-77-0");
    add_event("tk2", "c2", "ok 0", id);
    freeReplyObject(pf_cmd("XGROUP CREATE c360:{t:tk2}:ev w 0"));
    freeReplyObject(pf_cmd("XREADGROUP GROUP w %s COUNT 10 STREAMS c360:{t:tk2}:ev >", dead));
    char oid[CH_QW_ID_MAX];
    add_event("tk2", "c2", "ok 0", oid);
    freeReplyObject(pf_cmd("XREADGROUP GROUP w %s COUNT 10 STREAMS c360:{t:tk2}:ev >", other));
    fx_sleep_ms(60); /* tenant list */
    ch_wthread_turn(t1, "tk2");
    snprintf(key, sizeof key, "ev:%s", id);
    CHECK(pf_state_num("tk2", "c2", key) == 1);
    CHECK_STR(owner_of("tk2", oid), other);
    fx_sleep_ms((int)ch_worker_claim_idle_ms(&w->conf) + 100);
    ch_wthread_turn(t1, "tk2");
    snprintf(key, sizeof key, "ev:%s", oid);
    CHECK(pf_state_num("tk2", "c2", key) == 1);
    CHECK_STR(owner_of("tk2", oid), "(none)");
    CHECK(ch_qw_consumers("tk2", CH_Q_EV, cs, 8, &n) == C360_OK);
    for (size_t i = 0; i < n; i++) CHECK(strcmp(cs[i].name, dead) != 0 && strcmp(cs[i].name, other) != 0);
    ch_workers_stats st;
    ch_workers_get_stats(w, &st);
    CHECK(st.claimed >= 5);

    /* 3. One's own leftovers (an outcome that could not be written) run
     * again at the next sweep. */
    add_event("tk2", "c2", "ok 0", id);
    freeReplyObject(pf_cmd("XREADGROUP GROUP w %s COUNT 10 STREAMS c360:{t:tk2}:ev >", t1->consumer));
    fx_sleep_ms(w->conf.sweep_ms + 50);
    ch_wthread_turn(t1, "tk2");
    snprintf(key, sizeof key, "ev:%s", id);
    CHECK(pf_state_num("tk2", "c2", key) == 1);
    CHECK_STR(owner_of("tk2", id), "(none)");
}

int main(void)
{
    pf_raw_connect(fx_rconn_start(2000));
    ch_loader *ld = pf_load_plugin("worker_tp");
    ch_worker_conf c;
    ch_worker_conf_defaults(&c);
    c.due_every_ms = 0; /* turns stepped by hand claim due retries at once */
    c.loader = ld;
    c.threads = 2;
    c.retry_base_ms = 50;
    c.retry_cap_ms = 100;
    c.hold_ms = 200;
    c.cap_hold_ms = 50;
    c.callback_timeout_ms = 300;  /* wtp answers at once here */
    c.hang_grace_ms = 100;
    c.claim_idle_ms = 1000;
    c.sweep_ms = 200;
    c.conn_cache_ms = 50;
    c.tenants_refresh_ms = 50;
    ch_slots *slots = ch_slots_create(1, 2);
    ch_instances_opts io = {.recheck_ms = 100, .open_timeout_ms = 5000};
    ch_instances *set = ch_instances_new(ld, &io);
    g_w = ch_workers_new(&c, slots, 0, set);
    ch_wthread *t = g_w->threads[0];
    ch_wthread_begin(t);

    /* No tenant at all yet: a step is an idle wait, nothing else. */
    int64_t t0 = ch_monotonic_ms();
    ch_wthread_step(t);
    ch_workers_stats st0;
    ch_workers_get_stats(g_w, &st0);
    CHECK(st0.turns == 0 && st0.items == 0);
    CHECK(ch_monotonic_ms() - t0 >= 90); /* the BLPOP wait */

    put("ta", "src", "wtp", "{}");
    put("ta", "d1", "wtp", "{}");
    put("ta", "d2", "wtp", "{\"deliver_fail\":1}");
    CHECK(ch_conn_route_add("ta", "src", "d1", "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add("ta", "src", "d2", "system", NULL) == C360_OK);

    test_ok_path(t);
    test_prefetch(t);
    test_mapping(t);
    test_retry_error_attempts(t);
    test_busy_due(t);
    test_fairness(t);
    test_states(t);
    test_status(t);
    test_ticks(t);
    test_handback(t);
    test_takeover(g_w);

    ch_workers_free(g_w);
    ch_instances_free(set);
    ch_slots_destroy(slots);
    ch_loader_free(ld);
    redisFree(pf_raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
