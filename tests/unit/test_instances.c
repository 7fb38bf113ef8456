/* test_instances -- opened plugin instances (instances.h) with the
 * ingress_tp plugin and a real redis-server: open on demand, sharing,
 * one open for many concurrent acquirers, version swap (a new config
 * version opens a new instance while the old one stays usable until its
 * last user releases it, and is closed then), instance_route_keys from
 * instance_open reaching the routing-key index, a purged connection, a
 * failing open, peek at an exact version, the idle sweep, and closing at
 * free. */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "conns.h"
#include "instances.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"

static ch_instances *g_set;

static void put(const char *t, const char *c, const char *cfg)
{
    ch_conn_spec s = {.tenant = t, .id = c, .plugin = "ingress_tp", .config = cfg,
                      .config_len = strlen(cfg)};
    CHECK(ch_conn_put(&s, "system", NULL, NULL, NULL) == C360_OK);
}

static const char *tag(ch_inst *i) { return ((itp_inst *)ch_inst_data(i))->config_tag; }

typedef struct racer {
    ch_inst *got;
    int32_t st;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    r->st = ch_instance_acquire(g_set, "t1", "c2", &r->got, NULL, 0);
    ch_rconn_thread_close();
    return NULL;
}

int main(void)
{
    pf_raw_connect(fx_rconn_start(2000));
    ch_loader *ld = pf_load_plugins();
    ch_instances_opts o = {.recheck_ms = 100};
    g_set = ch_instances_new(ld, &o);
    ch_instances_stats st;

    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v1\",\"route_keys\":[\"page:1\",\"page:2\"]}");
    ch_inst *a = NULL;
    char err[256];
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &a, err, sizeof err) == C360_OK);
    CHECK(a != NULL);
    if (!a) CHECK_DONE();
    CHECK_STR(tag(a), "v1");
    CHECK(ch_inst_version(a) == 1);
    CHECK_STR(ch_inst_conn(a)->tenant, "t1");
    CHECK_STR(ch_inst_instance(a)->connection, "c1");
    CHECK_STR(ch_plugin_name(ch_inst_plugin(a)), "ingress_tp");
    /* instance_open registered its routing keys through the host table. */
    redisReply *r = pf_cmd("HGET c360:{idx}:rk:ingress_tp page:2");
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, "t1") && strstr(r->str, "c1"));
    freeReplyObject(r);

    ch_inst *a2 = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &a2, NULL, 0) == C360_OK);
    CHECK(a2 == a);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == 1 && st.open == 1);
    ch_instance_release(a2);

    /* Eight threads at once on a new connection: one instance_open. */
    put("t1", "c2", "{\"token\":\"b\",\"tag\":\"x\"}");
    racer rc[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, race, &rc[i]);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        CHECK(rc[i].st == C360_OK);
        CHECK(rc[i].got == rc[0].got);
        ch_instance_release(rc[i].got);
    }
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == 2);

    /* Peek: only at the exact version, and never blocking. */
    ch_inst *p = ch_instance_peek(g_set, "t1", "c1", 1);
    CHECK(p == a);
    ch_instance_release(p);
    CHECK(ch_instance_peek(g_set, "t1", "c1", 2) == NULL);
    CHECK(ch_instance_peek(g_set, "t2", "c1", 1) == NULL);
    CHECK(ch_instance_peek(g_set, "t1", "zz", 1) == NULL);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.peek_miss == 3);

    /* Version swap while `a` is in use: the next acquire (after the
     * recheck period) gets a new instance; `a` stays valid and is closed
     * when released. */
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v2\",\"route_keys\":[\"page:3\"]}");
    fx_sleep_ms(150);
    ch_inst *b = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &b, NULL, 0) == C360_OK);
    CHECK(b && b != a);
    if (b) {
        CHECK_STR(tag(b), "v2");
        CHECK(ch_inst_version(b) == 2);
    }
    CHECK_STR(tag(a), "v1"); /* still readable: not closed under its user */
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 0 && st.open == 3);
    ch_instance_release(a);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 1 && st.open == 2);
    ch_instance_release(b);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 1); /* the table keeps the current one */
    r = pf_cmd("HEXISTS c360:{idx}:rk:ingress_tp page:1");
    CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    freeReplyObject(r);

    /* Invalidate retires at once (no recheck wait). */
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v3\"}");
    ch_instances_invalidate(g_set, "c1");
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 2);
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &b, NULL, 0) == C360_OK);
    if (b) {
        CHECK_STR(tag(b), "v3");
        ch_instance_release(b);
    }

    /* A purged connection: its instance goes, acquire says not found. */
    CHECK(ch_conn_purge("t1", "c2", "system", NULL) == C360_OK);
    fx_sleep_ms(150);
    ch_inst *g = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c2", &g, err, sizeof err) == C360_ENOTFOUND);
    CHECK(g == NULL);
    CHECK(ch_instance_acquire(g_set, "t1", "never", &g, err, sizeof err) == C360_ENOTFOUND);
    CHECK_CONTAINS(err, "not found");

    /* The idle sweep: an instance somebody holds stays however old; an
     * idle one stays while Redis has its connection as it was opened, and
     * goes once it changed, was disabled, or was idle past the maximum;
     * the next acquire opens it again. */
    ch_inst *h = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    ch_instances_get_stats(g_set, &st);
    uint64_t closed0 = st.closed, opened0 = st.opened;
    CHECK(ch_instances_sweep(g_set, 60000, 3600000) == 0); /* nothing idle */
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 20) == 0);          /* c1 is held */
    if (h) {
        CHECK_STR(tag(h), "v3");
        ch_instance_release(h);
    }
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 0);     /* idle, unchanged */
    CHECK(ch_instances_sweep(g_set, 20, 20) == 1);          /* idle past the max */
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == closed0 + 1 && st.open == 0);
    CHECK(ch_instances_sweep(g_set, 0, 0) == 0);
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == opened0 + 1 && st.open == 1);
    if (h) {
        CHECK_STR(tag(h), "v3");
        /* Acquiring counts as use: not idle right after. */
        ch_instance_release(h);
        CHECK(ch_instances_sweep(g_set, 1000, 1000) == 0);
    }
    /* Changed in Redis (a new version) while idle: closed at the check. */
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v4\"}");
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 1);
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    if (h) {
        CHECK_STR(tag(h), "v4");
        ch_instance_release(h);
    }
    /* Disabled while idle: closed at the check too. */
    CHECK(ch_conn_close("t1", "c1", "test", "system", NULL) == C360_OK);
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 1);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.open == 0);
    /* The next acquire opens the connection as Redis has it now. */
    opened0 = st.opened;
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v5\"}");
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == opened0 + 1);
    if (h) {
        CHECK_STR(tag(h), "v5");
        ch_instance_release(h);
    }
    CHECK(ch_instances_sweep(g_set, 0, 0) == 1); /* (c1 is still disabled) */

    /* Redis is asked about an idle instance at most once per check time:
     * a change right after a check is found at the next one. */
    /* (A check time of 300 ms: the second sweep must come within it even
     * on a slow, instrumented run.) */
    put("t1", "c4", "{\"token\":\"d\",\"tag\":\"w1\"}");
    CHECK(ch_instance_acquire(g_set, "t1", "c4", &h, NULL, 0) == C360_OK);
    ch_instance_release(h);
    fx_sleep_ms(350);
    CHECK(ch_instances_sweep(g_set, 300, 3600000) == 0); /* asked: as opened */
    put("t1", "c4", "{\"token\":\"d\",\"tag\":\"w2\"}");
    CHECK(ch_instances_sweep(g_set, 300, 3600000) == 0); /* not asked again yet */
    fx_sleep_ms(350);
    CHECK(ch_instances_sweep(g_set, 300, 3600000) == 1); /* asked: changed */
    /* A connection purged while idle: closed at the check. */
    put("t1", "c5", "{\"token\":\"e\",\"tag\":\"p1\"}");
    CHECK(ch_instance_acquire(g_set, "t1", "c5", &h, NULL, 0) == C360_OK);
    ch_instance_release(h);
    CHECK(ch_conn_purge("t1", "c5", "system", NULL) == C360_OK);
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 1);

    /* A failing instance_open: its status and error text come back. */
    put("t1", "c3", "{\"open_fail\":true}");
    CHECK(ch_instance_acquire(g_set, "t1", "c3", &g, err, sizeof err) == C360_RETRY);
    CHECK_CONTAINS(err, "open_fail");
    ch_instances_get_stats(g_set, &st);
    CHECK(st.open_failed == 1);
    CHECK(ch_instance_acquire(g_set, "t1", "c3", &g, NULL, 0) == C360_RETRY);

    ch_instances_get_stats(g_set, &st);
    uint64_t opened = st.opened;
    ch_instances_free(g_set);
    /* Every instance opened was closed exactly once: the plugin frees its
     * data in instance_close, so ASan/valgrind would see a leak or a double
     * close. */
    CHECK(opened == 9);
    ch_loader_free(ld);
    redisFree(pf_raw);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    CHECK_DONE();
}
