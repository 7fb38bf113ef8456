/* test_conncache -- the event loop's connection cache (conncache.h)
 * against a real redis-server: the first full load, refresh of single
 * connections on the c360:conn-changed channel (well before the periodic
 * reload), routing-key lookups following replacements, removal on purge,
 * the listener, an explicit refresh of a change made without a
 * notification, and recovery after Redis restarts (resubscribe + reload). */
#include <string.h>

#include "check.h"
#include "conncache.h"
#include "conns.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"

static ch_conncache *g_cc;
static int g_changes, g_reloads;

static void on_change(const char *t, const char *c, void *arg)
{
    (void)t;
    (void)c;
    (void)arg;
    __atomic_fetch_add(&g_changes, 1, __ATOMIC_SEQ_CST);
}

static void on_reload(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&g_reloads, 1, __ATOMIC_SEQ_CST);
}

static int loaded(void *arg) { (void)arg; return ch_conncache_loaded(g_cc); }

static int has(void *id)
{
    ch_cc_entry e;
    return ch_conncache_get(g_cc, id, &e);
}

static int lacks(void *id) { return !has(id); }

static int state_is_disabled(void *id)
{
    ch_cc_entry e;
    return ch_conncache_get(g_cc, id, &e) && strcmp(e.state, "disabled") == 0;
}

static int route_count_is(void *arg)
{
    const char **a = arg; /* {key, "n"} */
    ch_cc_target t[4];
    return ch_conncache_route(g_cc, "tsrc", a[0], t, 4) == (size_t)atoi(a[1]);
}

static void put(const char *t, const char *c, int ticks)
{
    ch_conn_spec s = {.tenant = t, .id = c, .plugin = "tsrc", .ticks = ticks};
    CHECK(ch_conn_put(&s, "system", NULL, NULL, NULL) == C360_OK);
}

int main(void)
{
    pf_raw_connect(fx_rconn_start(2000));
    ch_redis_url u = fx_redis_url();
    struct event_base *base = event_base_new();

    put("t1", "c1", 1);
    const char *k1[] = {"page:1", "page:2"};
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", k1, 2) == C360_OK);

    /* reload_s 60: anything seen within the test came by the channel. */
    g_cc = ch_conncache_new(base, &u, NULL, NULL, 60);
    ch_conncache_set_listener(g_cc, on_change, on_reload, NULL);
    ch_cc_entry e;
    CHECK(!ch_conncache_get(g_cc, "c1", &e));
    CHECK(!ch_conncache_loaded(g_cc));
    CHECK(ch_conncache_start(g_cc) == 0);
    CHECK(pf_pump_until(base, loaded, NULL, 5000));
    CHECK(ch_conncache_get(g_cc, "c1", &e));
    CHECK_STR(e.tenant, "t1");
    CHECK_STR(e.plugin, "tsrc");
    CHECK_STR(e.state, "active");
    CHECK(e.version == 1 && e.ticks == 1);
    ch_cc_target t[4];
    CHECK(ch_conncache_route(g_cc, "tsrc", "page:1", t, 4) == 1);
    CHECK_STR(t[0].tenant, "t1");
    CHECK_STR(t[0].id, "c1");
    CHECK(ch_conncache_route(g_cc, "tdst", "page:1", t, 4) == 0); /* per plugin */
    CHECK(ch_conncache_route(g_cc, "tsrc", "page:9", t, 4) == 0);
    /* The listener runs on the loop after the load became visible: let the
     * loop turn before counting. */
    for (int i = 0; i < 400 && __atomic_load_n(&g_reloads, __ATOMIC_SEQ_CST) < 1; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        fx_sleep_ms(5);
    }
    CHECK(__atomic_load_n(&g_reloads, __ATOMIC_SEQ_CST) >= 1);

    /* Wait for the subscription, then changes arrive by notification. */
    ch_conncache_stats st;
    for (int i = 0; i < 500; i++) {
        ch_conncache_get_stats(g_cc, &st);
        if (st.subscribed) break;
        event_base_loop(base, EVLOOP_NONBLOCK);
        fx_sleep_ms(5);
    }
    CHECK(st.subscribed >= 1);
    int64_t t0 = ch_monotonic_ms();
    put("t2", "c2", 0);
    CHECK(pf_pump_until(base, has, "c2", 3000));
    CHECK(ch_monotonic_ms() - t0 < 3000);
    CHECK(ch_conncache_get(g_cc, "c2", &e) && strcmp(e.tenant, "t2") == 0 && e.ticks == 0);
    CHECK(__atomic_load_n(&g_changes, __ATOMIC_SEQ_CST) >= 1);

    CHECK(ch_conn_set_state("t1", "c1", "disabled", "test", "system", NULL) == C360_OK);
    CHECK(pf_pump_until(base, state_is_disabled, "c1", 3000));

    /* Routing keys: a shared key, then a replacement. */
    const char *k2[] = {"page:2"};
    CHECK(ch_conn_route_keys_set("t2", "c2", "tsrc", k2, 1) == C360_OK);
    const char *a2[] = {"page:2", "2"};
    CHECK(pf_pump_until(base, route_count_is, a2, 3000));
    const char *k3[] = {"page:3"};
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", k3, 1) == C360_OK);
    const char *a1[] = {"page:1", "0"}, *a2b[] = {"page:2", "1"}, *a3[] = {"page:3", "1"};
    CHECK(pf_pump_until(base, route_count_is, a3, 3000));
    CHECK(route_count_is(a1) && route_count_is(a2b));

    /* Purge: gone from lookups and from the routing index. */
    CHECK(ch_conn_purge("t2", "c2", "system", NULL) == C360_OK);
    CHECK(pf_pump_until(base, lacks, "c2", 3000));
    const char *a2c[] = {"page:2", "0"};
    CHECK(route_count_is(a2c));

    /* A change made behind the registry's back is seen after an explicit
     * refresh (or the next full load), not before. */
    freeReplyObject(pf_cmd("HSET c360:{t:t1}:conn:c1 state paused"));
    fx_sleep_ms(50);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CHECK(state_is_disabled("c1"));
    ch_conncache_refresh(g_cc, "t1", "c1");
    for (int i = 0; i < 300 && state_is_disabled("c1"); i++) fx_sleep_ms(10);
    CHECK(ch_conncache_get(g_cc, "c1", &e) && strcmp(e.state, "paused") == 0);

    /* A stray message on the channel is ignored. */
    freeReplyObject(pf_cmd("PUBLISH c360:conn-changed %s", "garbage-without-slash"));
    freeReplyObject(pf_cmd("PUBLISH c360:conn-changed %s", "t1/bad id"));

    /* Redis restarts empty: the cache resubscribes, reloads (dropping what
     * is gone) and follows new changes again. */
    ch_conncache_get_stats(g_cc, &st);
    uint64_t subs = st.subscribed;
    fx_redis_kill();
    for (int i = 0; i < 50; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        fx_sleep_ms(5);
    }
    fx_redis_start();
    CHECK(pf_pump_until(base, lacks, "c1", 8000));
    put("t3", "c3", 0);
    CHECK(pf_pump_until(base, has, "c3", 8000));
    ch_conncache_get_stats(g_cc, &st);
    CHECK(st.subscribed > subs);
    CHECK(st.full_loads >= 2);
    CHECK(st.connections == 1);

    ch_conncache_free(g_cc);
    event_base_free(base);
    redisFree(pf_raw);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    CHECK_DONE();
}
