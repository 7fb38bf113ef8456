/* test_tenants.c -- the tenant registry module (tenants.c) and the index
 * step of tenant_purge.c, below the API (test_api_tenants.c drives the
 * routes through the dispatcher): concurrent creates of one id (exactly one
 * wins), concurrent unconditional updates (none lost), conditional updates,
 * limits merging and checking, the `deleting` mark refusing writes, the
 * registry repaired by a create, plugin settings, and the shared-index
 * sweep leaving a tenant whose id is a prefix of another's alone. */
#include <pthread.h>

#include "admin_fixture.h"
#include "check.h"
#include "conns.h"
#include "pipeline_fixture.h"
#include "tenant_purge.h"
#include "tenants.h"

#define THREADS 8
#define ROUNDS 20

static void *create_racer(void *arg)
{
    int32_t *st = arg;
    *st = ch_tenant_create("race", "Race", NULL, 0, NULL);
    ch_rconn_thread_close();
    return NULL;
}

static void *update_racer(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < ROUNDS; i++) {
        ch_tenant_patch p = {.name = "bumped"};
        if (ch_tenant_update("upd", &p, 0, NULL, NULL) == C360_OK) (*ok)++;
    }
    ch_rconn_thread_close();
    return NULL;
}

static void test_create_get(void)
{
    json_t *lim = json_pack("{s:i}", "max_connections", 4);
    ch_tenant *t;
    CHECK(ch_tenant_create("t1", "One", lim, 30, &t) == C360_OK);
    CHECK(t && t->version == 1 && t->retention_days == 30 && t->created_ms > 0);
    CHECK(t && json_integer_value(json_object_get(t->limits, "max_connections")) == 4);
    ch_tenant_free(t);
    CHECK(ch_tenant_get("t1", &t) == C360_OK);
    CHECK_STR(t->name, "One");
    json_t *j = ch_tenant_to_json(t);
    CHECK(json_object_size(j) == 7);
    CHECK_STR(json_string_value(json_object_get(j, "id")), "t1");
    json_decref(j);
    ch_tenant_free(t);
    CHECK(ch_tenant_exists("t1") == 1);
    CHECK(ch_tenant_exists("t2") == 0);
    CHECK(ch_tenant_state("t1") == CH_TENANT_LIVE);
    CHECK(ch_tenant_get("t2", &t) == C360_ENOTFOUND && t == NULL);
    CHECK(ch_tenant_get("t{1}", &t) == C360_ENOTFOUND);
    CHECK(ch_tenant_create("t1", "Again", NULL, 0, NULL) == C360_ECONFLICT);
    CHECK(ch_tenant_create("t 2", "x", NULL, 0, NULL) == C360_EINVAL);
    CHECK(ch_tenant_create("t2", "", NULL, 0, NULL) == C360_EINVAL);
    CHECK(ch_tenant_create("t2", "a\tb", NULL, 0, NULL) == C360_EINVAL);
    CHECK(ch_tenant_create("t2", "x", NULL, 3651, NULL) == C360_EINVAL);
    CHECK(ch_tenant_exists("t2") == 0);
    json_decref(lim);

    /* one winner among concurrent creates */
    pthread_t th[THREADS];
    int32_t st[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, create_racer, &st[i]);
    int won = 0, lost = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        won += st[i] == C360_OK;
        lost += st[i] == C360_ECONFLICT;
    }
    CHECK(won == 1 && lost == THREADS - 1);

    /* sorted list */
    CHECK(ch_tenant_create("a0", "A", NULL, 0, NULL) == C360_OK);
    char **ids;
    size_t n;
    CHECK(ch_tenant_list(&ids, &n) == C360_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR(ids[0], "a0");
        CHECK_STR(ids[1], "race");
        CHECK_STR(ids[2], "t1");
    }
    ch_conn_ids_free(ids, n);

    /* a crash between the hash and the registry: the next create repairs */
    CHECK(pf_int("SREM c360:{idx}:tenant-registry a0") == 1);
    CHECK(ch_tenant_create("a0", "A", NULL, 0, NULL) == C360_ECONFLICT);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenant-registry a0") == 1);
}

static void test_update(void)
{
    json_t *lim = json_pack("{s:i}", "max_connections", 2);
    CHECK(ch_tenant_create("upd", "U", lim, 0, NULL) == C360_OK);
    json_decref(lim);
    /* none of the concurrent unconditional updates is lost */
    pthread_t th[THREADS];
    int ok[THREADS] = {0};
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, update_racer, &ok[i]);
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += ok[i];
    }
    CHECK(total == THREADS * ROUNDS);
    ch_tenant *t;
    CHECK(ch_tenant_get("upd", &t) == C360_OK);
    CHECK(t->version == 1 + THREADS * ROUNDS);
    uint64_t v = t->version;
    ch_tenant_free(t);

    /* conditional */
    uint64_t cur = 0;
    ch_tenant_patch p = {.set_retention = 1, .retention_days = 9};
    CHECK(ch_tenant_update("upd", &p, v - 1, &cur, &t) == C360_ECONFLICT && cur == v && !t);
    CHECK(ch_tenant_update("upd", &p, v, &cur, &t) == C360_OK && cur == v + 1);
    CHECK(t && t->retention_days == 9 && t->version == v + 1);
    ch_tenant_free(t);

    /* limits merge: null removes, others kept */
    json_t *patch = json_pack("{s:n, s:i}", "max_connections", "other", 5);
    ch_tenant_patch pl = {.limits = patch};
    CHECK(ch_tenant_update("upd", &pl, 0, NULL, &t) == C360_OK);
    CHECK(t && !json_object_get(t->limits, "max_connections"));
    CHECK(t && json_integer_value(json_object_get(t->limits, "other")) == 5);
    CHECK(t && t->retention_days == 9);
    ch_tenant_free(t);
    json_decref(patch);

    ch_tenant_patch bad = {.name = ""};
    CHECK(ch_tenant_update("upd", &bad, 0, NULL, NULL) == C360_EINVAL);
    ch_tenant_patch badr = {.set_retention = 1, .retention_days = 4000};
    CHECK(ch_tenant_update("upd", &badr, 0, NULL, NULL) == C360_EINVAL);
    CHECK(ch_tenant_update("nope", &p, 0, NULL, NULL) == C360_ENOTFOUND);
    CHECK(ch_tenant_update("nope", &p, 3, NULL, NULL) == C360_ENOTFOUND);
}

static void test_limits_check(void)
{
    json_t *d = json_array();
    json_t *l = json_loads("{\"max_connections\":3}", 0, NULL);
    CHECK(ch_tenant_limits_check(l, 0, d) == 0);
    json_decref(l);
    l = json_loads("{\"max_connections\":null,\"x/y\":1,\"max_connections_\":2}", 0, NULL);
    CHECK(ch_tenant_limits_check(l, 0, d) == 3);
    json_decref(d);
    d = json_array();
    CHECK(ch_tenant_limits_check(l, 1, d) == 2);
    char *s = json_dumps(d, JSON_COMPACT);
    CHECK_CONTAINS(s, "/limits/x~1y");
    free(s);
    json_decref(l);
    json_decref(d);
    d = json_array();
    l = json_loads("{\"max_connections\":1000000001}", 0, NULL);
    CHECK(ch_tenant_limits_check(l, 0, d) == 1);
    json_decref(l);
    l = json_loads("{\"max_connections\":true}", 0, NULL);
    CHECK(ch_tenant_limits_check(l, 0, d) == 1);
    json_decref(l);
    json_decref(d);
}

static void test_plugins_and_mark(void)
{
    CHECK(ch_tenant_create("pl", "P", NULL, 0, NULL) == C360_OK);
    int en;
    uint32_t max;
    CHECK(ch_tenant_plugin("pl", "tsrc", &en, &max) == C360_OK && en == 0 && max == 0);
    uint32_t three = 3;
    json_t *e;
    CHECK(ch_tenant_plugin_set("pl", "tsrc", 1, &three, &e) == C360_OK);
    CHECK(json_is_true(json_object_get(e, "enabled")));
    CHECK(json_integer_value(json_object_get(e, "updated_ms")) > 0);
    json_decref(e);
    CHECK(ch_tenant_plugin("pl", "tsrc", &en, &max) == C360_OK && en == 1 && max == 3);
    CHECK(ch_tenant_plugin_set("pl", "tsrc", 0, NULL, NULL) == C360_OK);
    CHECK(ch_tenant_plugin("pl", "tsrc", &en, &max) == C360_OK && en == 0 && max == 0);
    CHECK(ch_tenant_plugin_set("pl", "tsrc", 1, NULL, NULL) == C360_OK); /* cap kept */
    CHECK(ch_tenant_plugin("pl", "tsrc", &en, &max) == C360_OK && en == 1 && max == 3);
    json_t *all;
    CHECK(ch_tenant_plugins("pl", &all) == C360_OK && json_object_size(all) == 1);
    json_decref(all);
    /* a corrupt entry reads as disabled, and is left out of the list */
    pf_do("HSET c360:{t:pl}:plugins tdst not-json");
    CHECK(ch_tenant_plugin("pl", "tdst", &en, &max) == C360_OK && en == 0);
    CHECK(ch_tenant_plugins("pl", &all) == C360_OK && json_object_size(all) == 1);
    json_decref(all);
    CHECK(ch_tenant_plugin_set("nope", "tsrc", 1, NULL, NULL) == C360_ENOTFOUND);
    CHECK(pf_int("EXISTS c360:{t:nope}:plugins") == 0);

    /* marked: gone for readers, writes refused */
    CHECK(ch_tenant_mark_deleting("pl") == C360_OK);
    CHECK(ch_tenant_exists("pl") == 0);
    CHECK(ch_tenant_state("pl") == CH_TENANT_DELETING);
    ch_tenant *t;
    CHECK(ch_tenant_get("pl", &t) == C360_ENOTFOUND);
    ch_tenant_patch p = {.name = "late"};
    CHECK(ch_tenant_update("pl", &p, 0, NULL, NULL) == C360_ENOTFOUND);
    CHECK(ch_tenant_plugin_set("pl", "tsrc", 0, &three, NULL) == C360_ENOTFOUND);
    CHECK(ch_tenant_create("pl", "P", NULL, 0, NULL) == C360_ECONFLICT);
    CHECK(ch_tenant_mark_deleting("nope") == C360_ENOTFOUND);
    CHECK(ch_tenant_forget("pl") == C360_OK);
    CHECK(ch_tenant_state("pl") == CH_TENANT_ABSENT);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenant-registry pl") == 0);
}

/* Tenant "ab" must not take "abc"'s entries with it. */
static void test_purge_indexes(void)
{
    pf_do("SADD c360:{idx}:tenants ab abc");
    pf_do("RPUSH c360:{idx}:wake ab abc ab");
    pf_do("HSET c360:{idx}:conn c-ab1 ab c-ab2 ab c-abc1 abc");
    pf_do("ZADD c360:{sched}:due 1 ab/c-ab1 2 abc/c-abc1 3 ab/ghost");
    pf_do("HSET c360:{idx}:rk:tsrc k1 [\"ab/c-ab1\",\"abc/c-abc1\"] k2 [\"ab/c-ab2\"] k3 "
          "[\"abc/c-abc1\"]");
    pf_do("HSET c360:{idx}:rk:other k1 [\"ab/c-ab1\"]");
    pf_do("SADD c360:{idx}:notify-tenants ab abc");
    pf_do("ZADD c360:{idx}:notify-due 1 ab 2 abc");
    /* many fields: batches of script calls */
    for (int i = 0; i < 60; i++) {
        pf_do("HSET c360:{idx}:conn bulk%d ab", i);
        pf_do("HSET c360:{idx}:rk:tsrc bulk%d [\"ab/bulk%d\"]", i, i);
    }
    size_t removed = 0;
    CHECK(ch_tenant_purge_indexes("ab", &removed) == C360_OK);
    /* tenants 1, wake 2, notify 2, conn 2 + 60, due 2, rk:tsrc 2 + 60, rk:other 1 */
    CHECK(removed == 1 + 2 + 2 + 62 + 2 + 62 + 1);
    CHECK(pf_int("SCARD c360:{idx}:notify-tenants") == 1);
    CHECK(pf_int("ZCARD c360:{idx}:notify-due") == 1);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants abc") == 1);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants ab") == 0);
    CHECK(pf_int("LLEN c360:{idx}:wake") == 1);
    CHECK(pf_int("HLEN c360:{idx}:conn") == 1);
    CHECK_STR(pf_str("HGET c360:{idx}:conn c-abc1"), "abc");
    CHECK(pf_int("ZCARD c360:{sched}:due") == 1);
    CHECK(pf_int("HLEN c360:{idx}:rk:tsrc") == 2);
    CHECK_STR(pf_str("HGET c360:{idx}:rk:tsrc k1"), "[\"abc\\/c-abc1\"]");
    CHECK(pf_int("EXISTS c360:{idx}:rk:other") == 0);
    /* again: nothing left to do */
    CHECK(ch_tenant_purge_indexes("ab", &removed) == C360_OK && removed == 0);
    CHECK(ch_tenant_purge_indexes("a{b", &removed) == C360_EINVAL);
}

int main(void)
{
    af_env env;
    af_start(&env, NULL);
    pf_raw_connect(env.redis_port);
    test_create_get();
    test_update();
    test_limits_check();
    test_plugins_and_mark();
    test_purge_indexes();
    redisFree(pf_raw);
    af_stop(&env);
    CHECK_DONE();
}
