/* test_worker_cap -- worker threads running for real (ch_workers_start):
 * the per-destination concurrency cap holds across 4 threads (the wtp
 * destination measures how many of its deliveries were in flight at once,
 * through the state service, so the measurement itself crosses threads
 * like the cap does), every record is still delivered, an idle thread
 * picks up new work at once when woken through c360:{idx}:wake, and a stop
 * request ends the threads promptly. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "check.h"
#include "conns.h"
#include "hostapi.h"
#include "instances.h"
#include "loader.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "worker.h"

static redisContext *g_raw;

static char *raw_str(const char *fmt, ...)
{
    static char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g_raw, fmt, ap);
    va_end(ap);
    snprintf(buf, sizeof buf, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
    if (r) freeReplyObject(r);
    return buf;
}

static long long state_num(const char *tenant, const char *conn, const char *key)
{
    const char *v = raw_str("HGET c360:{t:%s}:state:%s:%s v", tenant, conn, key);
    return v[0] == '(' ? 0 : atoll(v);
}

static void put(const char *tenant, const char *id, const char *cfg)
{
    ch_conn_spec s = {.tenant = tenant, .id = id, .plugin = "wtp", .config = cfg,
                      .config_len = strlen(cfg)};
    if (ch_conn_put(&s, "system", NULL, NULL, NULL) != C360_OK) exit(1);
}

static void xadd(const char *tenant, const char *conn, const char *body)
{
    redisReply *r = redisCommand(g_raw, "XADD c360:{t:%s}:ev * k wh c %s p wtp t %lld a 1 b %s",
                                 tenant, conn, (long long)ch_now_ms(), body);
    if (r) freeReplyObject(r);
}

int main(void)
{
    const char *bd = getenv("C360_BUILD_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/pipeline-plugins/worker_tp.so", bd ? bd : ".");
    int port = fx_redis_start();
    ch_redis_url u = {.port = port};
    snprintf(u.host, sizeof u.host, "127.0.0.1");
    ch_rconn_configure(&u, NULL, NULL, 2000);
    g_raw = redisConnect("127.0.0.1", port);
    if (!g_raw || g_raw->err) return 1;
    ch_loader *ld = ch_loader_new(ch_host_api());
    if (ch_loader_load_file(ld, path) != CH_OK) {
        fprintf(stderr, "cannot load %s\n", path);
        ch_loader_free(ld);
        return 1;
    }
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
    while (state_num("tc", "slow", "delivered") < 12 && ch_monotonic_ms() - t0 < 20000) fx_sleep_ms(20);
    int64_t took = ch_monotonic_ms() - t0;
    long long maxconc = state_num("tc", "slow", "maxconc");
    printf("cap: 12 deliveries of 150 ms with cap 2 over 4 threads took %lld ms; max in flight %lld\n",
           (long long)took, maxconc);
    CHECK(state_num("tc", "slow", "delivered") == 12);
    CHECK(state_num("tc", "fast", "delivered") == 12);
    for (int i = 0; i < 12; i++) {
        char k[32];
        snprintf(k, sizeof k, "d:cap-%d", i);
        CHECK(state_num("tc", "slow", k) == 1);
    }
    CHECK(maxconc == 2);              /* reached, never passed */
    CHECK(took >= 6 * 150);           /* at most 2 at a time */
    CHECK(atoll(raw_str("HGET c360:{t:tc}:conn:slow:stat deliveries")) == 12);

    /* Idle threads: a woken one takes new work at once (the BLPOP wait
     * would otherwise be up to idle_max_ms). Let every thread reach its
     * longest wait first. */
    fx_sleep_ms(2500);
    int64_t t1 = ch_monotonic_ms();
    xadd("tc", "fast", "ok 0");
    redisReply *r = redisCommand(g_raw, "LPUSH c360:{idx}:wake tc");
    if (r) freeReplyObject(r);
    while (atoll(raw_str("HGET c360:{t:tc}:conn:fast:stat events")) < 1 && ch_monotonic_ms() - t1 < 5000)
        fx_sleep_ms(2);
    int64_t woke = ch_monotonic_ms() - t1;
    printf("wake: an idle worker ran a new event %lld ms after the push\n", (long long)woke);
    CHECK(atoll(raw_str("HGET c360:{t:tc}:conn:fast:stat events")) == 1);
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
    redisFree(g_raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
