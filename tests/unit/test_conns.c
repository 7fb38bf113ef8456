/* test_conns -- the connection registry (conns.h) against a real
 * redis-server: create/update with versions and every index, the global id
 * claim, states and schedule membership, routes, routing keys replaced
 * (with other tenants sharing a key), change notifications, audit entries,
 * and a purge that leaves no key, index entry or member of the connection
 * behind (checked with SCAN over the whole keyspace). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "call.h"
#include "check.h"
#include "connstatus.h"
#include "conns.h"
#include "keyring.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "secrets.h"
#include "state.h"

static ch_conn_spec spec(const char *t, const char *c, const char *plugin, const char *cfg,
                         int ticks)
{
    ch_conn_spec s = {.tenant = t, .id = c, .plugin = plugin, .config = cfg,
                      .config_len = cfg ? strlen(cfg) : 0, .interval_s = 60, .ticks = ticks};
    return s;
}

/* Reads the next pub/sub message on sub (subscribed to the channel) within
 * 2 s into out; 0 when none came. */
static int next_message(redisContext *sub, char *out, size_t cap)
{
    redisReply *r = NULL;
    if (redisGetReply(sub, (void **)&r) != REDIS_OK || !r) return 0;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
             r->element[2]->type == REDIS_REPLY_STRING;
    if (ok) snprintf(out, cap, "%s", r->element[2]->str);
    freeReplyObject(r);
    return ok;
}

static int audit_has(const char *tenant, const char *action, const char *target)
{
    json_t *entries = NULL;
    uint64_t next = 0;
    ch_audit_query q = {.action = action, .limit = 1000};
    if (ch_audit_list(tenant, &q, &entries, &next) != C360_OK) return 0;
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *t = json_string_value(json_object_get(e, "target"));
        const char *a = json_string_value(json_object_get(e, "actor"));
        if (t && strcmp(t, target) == 0 && a && strcmp(a, "admin:test") == 0) found = 1;
    }
    json_decref(entries);
    return found;
}

static void test_put_get(redisContext *sub)
{
    char msg[256];
    uint64_t ver = 0;
    int created = -1;
    ch_conn_spec s = spec("t1", "c1", "tsrc", "{\"a\":1}", 1);
    int64_t t0 = ch_now_ms();
    CHECK(ch_conn_put(&s, "admin:test", "req1", &ver, &created) == C360_OK);
    CHECK(ver == 1);
    CHECK(created == 1);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(msg, "t1/c1");

    ch_conn *c = NULL;
    CHECK(ch_conn_get("t1", "c1", &c) == C360_OK);
    if (c) {
        CHECK_STR(c->tenant, "t1");
        CHECK_STR(c->id, "c1");
        CHECK_STR(c->plugin, "tsrc");
        CHECK_STR(c->state, "active");
        CHECK_STR(c->config, "{\"a\":1}");
        CHECK(c->config_len == 7);
        CHECK(c->interval_s == 60);
        CHECK(c->ticks == 1);
        CHECK(c->version == 1);
        CHECK(c->created_ms >= t0 && c->updated_ms >= c->created_ms);
        ch_conn_free(c);
    }
    CHECK_STR(pf_str("HGET c360:{idx}:conn c1"), "t1");
    CHECK(pf_int("SISMEMBER c360:{t:t1}:conns c1") == 1);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants t1") == 1);
    long long due = atoll(pf_str("ZSCORE c360:{sched}:due t1/c1"));
    CHECK(due >= t0 && due <= ch_now_ms());
    char tenant[CH_ID_MAX + 1];
    CHECK(ch_conn_tenant_of("c1", tenant) == C360_OK);
    CHECK_STR(tenant, "t1");
    CHECK(ch_conn_tenant_of("nope", tenant) == C360_ENOTFOUND);
    CHECK(ch_conn_get("t1", "nope", &c) == C360_ENOTFOUND);
    CHECK(ch_conn_get("t2", "c1", &c) == C360_ENOTFOUND);

    /* Update: new version, the scheduler's score stays, state unchanged. */
    freeReplyObject(pf_cmd("ZADD c360:{sched}:due 12345 t1/c1"));
    s.config = "{\"a\":2}";
    CHECK(ch_conn_put(&s, "admin:test", NULL, &ver, &created) == C360_OK);
    CHECK(ver == 2 && created == 0);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(pf_str("ZSCORE c360:{sched}:due t1/c1"), "12345");
    CHECK(ch_conn_get("t1", "c1", &c) == C360_OK);
    if (c) {
        CHECK_STR(c->config, "{\"a\":2}");
        CHECK(c->version == 2);
        ch_conn_free(c);
    }

    /* The id is global: another tenant cannot take it; the plugin of a
     * connection never changes. */
    ch_conn_spec other = spec("t2", "c1", "tsrc", NULL, 0);
    CHECK(ch_conn_put(&other, "admin:test", NULL, NULL, NULL) == C360_ECONFLICT);
    ch_conn_spec swap = spec("t1", "c1", "tdst", NULL, 0);
    CHECK(ch_conn_put(&swap, "admin:test", NULL, NULL, NULL) == C360_ECONFLICT);
    CHECK_STR(pf_str("HGET c360:{idx}:conn c1"), "t1");

    /* Bad input changes nothing. */
    ch_conn_spec bad = spec("t 1", "c9", "tsrc", NULL, 0);
    CHECK(ch_conn_put(&bad, "admin:test", NULL, NULL, NULL) == C360_EINVAL);
    bad = spec("t1", "c9", "Bad-Plugin", NULL, 0);
    CHECK(ch_conn_put(&bad, "admin:test", NULL, NULL, NULL) == C360_EINVAL);
    bad = spec("t1", "c9", "tsrc", NULL, 0);
    bad.state = "sleeping";
    CHECK(ch_conn_put(&bad, "admin:test", NULL, NULL, NULL) == C360_EINVAL);
    bad.state = NULL;
    CHECK(ch_conn_put(&bad, "bad@actor", NULL, NULL, NULL) == C360_EINVAL);
    CHECK(pf_int("EXISTS c360:{t:t1}:conn:c9") == 0);
    CHECK(pf_int("HEXISTS c360:{idx}:conn c9") == 0);

    /* A connection of a plugin that does not tick is never scheduled. */
    ch_conn_spec d = spec("t1", "d1", "tdst", NULL, 0);
    CHECK(ch_conn_put(&d, "admin:test", NULL, &ver, NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due t1/d1"), "(nil)") == 0);
    CHECK(ch_conn_get("t1", "d1", &c) == C360_OK);
    if (c) {
        CHECK_STR(c->config, "{}");
        ch_conn_free(c);
    }

    char **ids = NULL;
    size_t n = 0;
    CHECK(ch_conn_list("t1", &ids, &n) == C360_OK);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR(ids[0], "c1");
        CHECK_STR(ids[1], "d1");
    }
    ch_conn_ids_free(ids, n);
    CHECK(ch_conn_list("empty", &ids, &n) == C360_OK && n == 0);
    ch_conn_ids_free(ids, n);

    CHECK(audit_has("t1", "connection.create", "c1"));
    CHECK(audit_has("t1", "connection.update", "c1"));
}

static void test_states(redisContext *sub)
{
    char msg[256];
    ch_connstatus cs;
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_PAUSED, "by operator", "admin:test",
                            NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(msg, "t1/c1");
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due t1/c1"), "(nil)") == 0);
    CHECK(ch_connstatus_get("t1", "c1", &cs) == C360_OK);
    CHECK_STR(cs.state, "paused");
    CHECK_STR(cs.cause, "by operator");
    ch_conn *c = NULL;
    CHECK(ch_conn_get("t1", "c1", &c) == C360_OK);
    if (c) {
        CHECK_STR(c->state, "paused");
        CHECK_STR(c->cause, "by operator");
        CHECK(c->version == 2); /* a state is not a new config */
        ch_conn_free(c);
    }
    /* Back to active: scheduled again at once. */
    int64_t t0 = ch_now_ms();
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_ACTIVE, NULL, "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(atoll(pf_str("ZSCORE c360:{sched}:due t1/c1")) >= t0);
    /* failing keeps the schedule (with backoff); needs_reauth and disabled
     * stop it. */
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_FAILING, "timeouts", "admin:test", NULL) ==
          C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due t1/c1"), "(nil)") != 0);
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_NEEDS_REAUTH, "token revoked",
                            "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due t1/c1"), "(nil)") == 0);
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_DISABLED, "", "admin:test", NULL) ==
          C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_connstatus_get("t1", "c1", &cs) == C360_OK);
    CHECK_STR(cs.state, "disabled");
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_ACTIVE, "", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_conn_set_state("t1", "zz", CH_CONN_STATE_ACTIVE, "", "admin:test", NULL) ==
          C360_ENOTFOUND);
    CHECK(ch_conn_set_state("t1", "c1", "asleep", "", "admin:test", NULL) == C360_EINVAL);
    CHECK(audit_has("t1", "connection.state", "needs_reauth"));
    /* Closing (a disconnect's first step) is for good: nothing re-enables
     * the connection afterwards, a second close is fine. */
    CHECK(ch_conn_close("t1", "c1", "disconnecting", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_ACTIVE, "", "admin:test", NULL) ==
          C360_ECONFLICT);
    CHECK(ch_conn_set_state("t1", "c1", CH_CONN_STATE_NEEDS_REAUTH, "x", "admin:test", NULL) ==
          C360_ECONFLICT);
    CHECK(ch_conn_close("t1", "c1", "again", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_connstatus_get("t1", "c1", &cs) == C360_OK);
    CHECK_STR(cs.state, "disabled");
    CHECK(audit_has("t1", "connection.close", "disabled"));
}

static void test_routes(redisContext *sub)
{
    char msg[256];
    CHECK(ch_conn_route_add("t1", "c1", "d1", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_conn_route_add("t1", "c1", "d1", "admin:test", NULL) == C360_OK); /* again */
    CHECK(ch_conn_route_add("t1", "c1", "nope", "admin:test", NULL) == C360_ENOTFOUND);
    CHECK(ch_conn_route_add("t1", "c1", "c1", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    char **d = NULL;
    size_t n = 0;
    CHECK(ch_conn_route_list("t1", "c1", &d, &n) == C360_OK);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR(d[0], "c1");
        CHECK_STR(d[1], "d1");
    }
    ch_conn_ids_free(d, n);
    CHECK(ch_conn_route_remove("t1", "c1", "c1", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_conn_route_remove("t1", "c1", "c1", "admin:test", NULL) == C360_OK);
    CHECK(ch_conn_route_list("t1", "c1", &d, &n) == C360_OK && n == 1);
    ch_conn_ids_free(d, n);
    CHECK(audit_has("t1", "connection.route.add", "d1"));
    CHECK(audit_has("t1", "connection.route.remove", "c1"));
}

static void test_route_keys(redisContext *sub)
{
    char msg[256];
    ch_conn_spec s2 = spec("t2", "e1", "tsrc", NULL, 0);
    CHECK(ch_conn_put(&s2, "admin:test", NULL, NULL, NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));

    const char *k1[] = {"page:1", "page:2", "page:1"};
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", k1, 3) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(msg, "t1/c1");
    const char *k2[] = {"page:2", "page:3"};
    CHECK(ch_conn_route_keys_set("t2", "e1", "tsrc", k2, 2) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(pf_str("HGET c360:{idx}:rk:tsrc page:1"), "[\"t1\\/c1\"]");
    json_t *j = json_loads(pf_str("HGET c360:{idx}:rk:tsrc page:2"), 0, NULL);
    CHECK(json_array_size(j) == 2);
    json_decref(j);

    /* Same set again: no change, no notification (instance_open calls it
     * on every open). */
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", k1, 2) == C360_OK);
    redisReply *r = pf_cmd("PUBLISH c360:conn-changed marker");
    freeReplyObject(r);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(msg, "marker");

    /* Replace: page:1 goes, page:2 keeps only t2's, page:3 gains t1's. */
    const char *k3[] = {"page:3"};
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", k3, 1) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(pf_int("HEXISTS c360:{idx}:rk:tsrc page:1") == 0);
    CHECK_STR(pf_str("HGET c360:{idx}:rk:tsrc page:2"), "[\"t2\\/e1\"]");
    j = json_loads(pf_str("HGET c360:{idx}:rk:tsrc page:3"), 0, NULL);
    CHECK(json_array_size(j) == 2);
    json_decref(j);
    char **keys = NULL;
    size_t n = 0;
    CHECK(ch_conn_route_keys_get("t1", "c1", &keys, &n) == C360_OK);
    CHECK(n == 1 && strcmp(keys[0], "page:3") == 0);
    ch_conn_ids_free(keys, n);

    /* Bounds, and no index entries for a connection that does not exist. */
    const char *bad[] = {"has space"};
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", bad, 1) == C360_EINVAL);
    const char *many[CH_CONN_ROUTE_KEYS_MAX + 1];
    for (size_t i = 0; i <= CH_CONN_ROUTE_KEYS_MAX; i++) many[i] = "k";
    CHECK(ch_conn_route_keys_set("t1", "c1", "tsrc", many, CH_CONN_ROUTE_KEYS_MAX + 1) ==
          C360_EINVAL);
    const char *ghost[] = {"page:ghost"};
    CHECK(ch_conn_route_keys_set("t1", "ghost", "tsrc", ghost, 1) == C360_ENOTFOUND);
    CHECK(pf_int("HEXISTS c360:{idx}:rk:tsrc page:ghost") == 0);
    CHECK(pf_int("EXISTS c360:{t:t1}:conn:ghost:rk") == 0);
}

/* Every key of the keyspace whose name mentions the connection. */
static size_t keys_mentioning(const char *needle)
{
    size_t found = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = pf_cmd("SCAN %s COUNT 1000", cursor);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            if (strstr(r->element[1]->element[i]->str, needle)) {
                fprintf(stderr, "left behind: %s\n", r->element[1]->element[i]->str);
                found++;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return found;
}

static void test_purge(redisContext *sub)
{
    char msg[256];
    /* Give c1 something of everything. */
    CHECK(ch_state_set("t1", "c1", "cursor", "42", 2, 0, NULL) == C360_OK);
    char err[256];
    CHECK(ch_secret_put("t1", "c1", "api_key", "s3cret", 6, err, sizeof err) == C360_OK);
    CHECK(ch_connstatus_set("t1", "c1", "failing", "x") == C360_OK);
    freeReplyObject(pf_cmd("HSET c360:{t:t1}:conn:c1:stat events 3 dup 1"));
    freeReplyObject(pf_cmd("SET c360:{t:t1}:dd:c1:lead-1 1 EX 600"));
    freeReplyObject(pf_cmd("SET c360:{t:t1}:dd:c1:lead-2 1 EX 600"));
    freeReplyObject(pf_cmd("SET c360:{t:t1}:dd:c10:lead-1 1 EX 600")); /* another conn */
    freeReplyObject(pf_cmd("XADD c360:{t:t1}:dlog:c1 * t 1 st ok"));
    CHECK(ch_conn_route_add("t1", "d1", "c1", "admin:test", NULL) == C360_OK); /* as dest */
    CHECK(next_message(sub, msg, sizeof msg));

    CHECK(ch_conn_purge("t1", "c1", "admin:test", "req-purge") == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK_STR(msg, "t1/c1");
    CHECK(keys_mentioning(":c1:") == 0);
    CHECK(pf_int("EXISTS c360:{t:t1}:conn:c1") == 0);
    CHECK(pf_int("EXISTS c360:{t:t1}:routes:c1") == 0);
    CHECK(pf_int("EXISTS c360:{t:t1}:dd:c10:lead-1") == 1);
    CHECK(pf_int("HEXISTS c360:{idx}:conn c1") == 0);
    CHECK(pf_int("SISMEMBER c360:{t:t1}:conns c1") == 0);
    CHECK(pf_int("SISMEMBER c360:{t:t1}:routes:d1 c1") == 0);
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due t1/c1"), "(nil)") == 0);
    CHECK_STR(pf_str("HGET c360:{idx}:rk:tsrc page:3"), "[\"t2\\/e1\"]");
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants t1") == 1); /* d1 is left */
    ch_conn *c = NULL;
    CHECK(ch_conn_get("t1", "c1", &c) == C360_ENOTFOUND);
    ch_connstatus cs;
    CHECK(ch_connstatus_get("t1", "c1", &cs) == C360_ENOTFOUND);
    CHECK(audit_has("t1", "connection.delete", "c1"));
    /* Idempotent, and another tenant cannot purge what it does not own. */
    CHECK(ch_conn_purge("t1", "c1", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(ch_conn_purge("t1", "e1", "admin:test", NULL) == C360_ENOTFOUND);
    CHECK(pf_int("HEXISTS c360:{idx}:conn e1") == 1);

    /* The last connection of a tenant takes the tenant off the round
     * robin; the id is free for anyone afterwards. */
    CHECK(ch_conn_purge("t1", "d1", "admin:test", NULL) == C360_OK);
    CHECK(next_message(sub, msg, sizeof msg));
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants t1") == 0);
    CHECK(keys_mentioning("c360:{t:t1}:conn") == 0);
    ch_conn_spec again = spec("t2", "c1", "tsrc", NULL, 0);
    CHECK(ch_conn_put(&again, "admin:test", NULL, NULL, NULL) == C360_OK);
}

int main(void)
{
    int port = fx_rconn_start(2000);
    pf_raw_connect(port);
    redisContext *sub = redisConnect("127.0.0.1", port);
    if (!sub || sub->err) {
        fprintf(stderr, "cannot connect to the fixture\n");
        return 1;
    }
    struct timeval tv = {2, 0};
    redisSetTimeout(sub, tv);
    redisReply *r = redisCommand(sub, "SUBSCRIBE c360:conn-changed");
    CHECK(r && r->type == REDIS_REPLY_ARRAY);
    if (r) freeReplyObject(r);

    const char *ring_text = "kA:a0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    ch_keyring *kr = NULL;
    char err[256];
    if (ch_keyring_parse(ring_text, strlen(ring_text), 0, "test", &kr, err, sizeof err) != CH_OK) {
        fprintf(stderr, "keyring: %s\n", err);
        return 1;
    }
    ch_secrets_init(kr);

    test_put_get(sub);
    test_states(sub);
    test_routes(sub);
    test_route_keys(sub);
    test_purge(sub);

    ch_secrets_init(NULL);
    ch_keyring_free(kr);
    redisFree(sub);
    redisFree(pf_raw);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    CHECK_DONE();
}
