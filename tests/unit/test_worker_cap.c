/* test_worker_cap -- worker threads running for real (ch_workers_start):
 * the per-destination concurrency cap holds across 4 threads (the wtp
 * destination measures how many of its deliveries were in flight at once,
 * through the state service, so the measurement itself crosses threads
 * like the cap does), every record is still delivered, an idle thread
 * picks up new work at once when woken through c360:{idx}:wake, and a stop
 * request ends the threads promptly. */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "check.h"
#include "conns.h"
#include "hostapi.h"
#include "instances.h"
#include "loader.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "worker.h"

static void put(const char *tenant, const char *id, const char *cfg)
{
    pf_conn_put(tenant, id, "wtp", cfg, 0, 0);
}

static void xadd(const char *tenant, const char *conn, const char *body)
{
    pf_add_event(tenant, conn, "wh", NULL, body, NULL, 0);
}

int main(void)
{
    pf_raw_connect(fx_rconn_start(2000));
    ch_loader *ld = pf_load_plugin("worker_tp");
    put("tc", "src", "{}");
    put("tc", "slow", "{\"deliver_sleep_ms\":150}");
    put("tc", "fast", "{}");
    CHECK(ch_conn_route_add("tc", "src", "slow", "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add("tc", "src", "fast", "system", NULL) == C360_OK);

    ch_worker_conf c;
    ch_worker_conf_defaults(&c);
    c.loader = ld;
    c.threads = 4;
    c.share = 4;
    c.delivery_concurrency = 2;
    c.cap_hold_ms = 40;
    c.retry_base_ms = 50;
    c.tenants_refresh_ms = 100;
    c.conn_cache_ms = 100;
    c.callback_timeout_ms = 5000;
    ch_slots *slots = ch_slots_create(1, 4);
    ch_instances *set = ch_instances_new(ld, NULL);
    ch_workers *w = ch_workers_new(&c, slots, 0, set);
    CHECK(ch_workers_start(w) == 0);
    CHECK(ch_workers_running(w) == 4);

    int64_t t0 = ch_monotonic_ms();
    xadd("tc", "src", "ok 12 cap");
    while (pf_state_num("tc", "slow", "delivered") < 12 && ch_monotonic_ms() - t0 < 20000) fx_sleep_ms(20);
    int64_t took = ch_monotonic_ms() - t0;
    long long maxconc = pf_state_num("tc", "slow", "maxconc");
    printf("cap: 12 deliveries of 150 ms with cap 2 over 4 threads took %lld ms; max in flight %lld\n",
           (long long)took, maxconc);
    CHECK(pf_state_num("tc", "slow", "delivered") == 12);
    CHECK(pf_state_num("tc", "fast", "delivered") == 12);
    for (int i = 0; i < 12; i++) {
        char k[32];
        snprintf(k, sizeof k, "d:cap-%d", i);
        CHECK(pf_state_num("tc", "slow", k) == 1);
    }
    CHECK(maxconc == 2);              /* reached, never passed */
    CHECK(took >= 6 * 150);           /* at most 2 at a time */
    CHECK(pf_stat_num("tc", "slow", "deliveries") == 12);

    /* Idle threads: a woken one takes new work at once (the BLPOP wait
     * would otherwise be up to idle_max_ms). Let every thread reach its
     * longest wait first. */
    fx_sleep_ms(2500);
    int64_t t1 = ch_monotonic_ms();
    xadd("tc", "fast", "ok 0");
    redisReply *r = redisCommand(pf_raw, "LPUSH c360:{idx}:wake tc");
    if (r) freeReplyObject(r);
    while (pf_stat_num("tc", "fast", "events") < 1 && ch_monotonic_ms() - t1 < 5000)
        fx_sleep_ms(2);
    int64_t woke = ch_monotonic_ms() - t1;
    printf("wake: an idle worker ran a new event %lld ms after the push\n", (long long)woke);
    CHECK(pf_stat_num("tc", "fast", "events") == 1);
    CHECK(woke < 500);

    int64_t t2 = ch_monotonic_ms();
    ch_workers_stop(w);
    CHECK(ch_workers_join(w, 5000) == 0);
    int64_t stop_ms = ch_monotonic_ms() - t2;
    printf("stop: threads ended %lld ms after the request\n", (long long)stop_ms);
    CHECK(stop_ms < 1500); /* the longest idle wait is 1 s */
    CHECK(ch_workers_running(w) == 0);
    ch_workers_stats st;
    ch_workers_get_stats(w, &st);
    CHECK(st.ok >= 25);
    CHECK(st.held >= 1); /* the cap made some deliveries wait */
    ch_workers_free(w);
    ch_instances_free(set);
    ch_slots_destroy(slots);
    ch_loader_free(ld);
    redisFree(pf_raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
