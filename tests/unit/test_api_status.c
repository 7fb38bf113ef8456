/* test_api_status -- a connection's status, sync log and delivery attempts
 * through the admin API's full dispatcher (host/admin/api_status.c), with
 * everything produced by the real work loop (worker_tp, stepped by hand as
 * in test_worker): events that succeed, retry and die, ticks that succeed
 * and fail, deliveries retried and refused. Checks the status fields
 * (times, counters, state and its cause, OAuth metadata without any
 * token), the sync log the workers write (worker_exec.c) and the delivery
 * log, with filters, paging across pages, bad cursors (400), bad ranges
 * (422), and connections of another tenant (404) or another tenant's key
 * (403). */
#include <stdlib.h>
#include <string.h>

#include "admin_fixture.h"
#include "check.h"
#include "connstatus.h"
#include "pipeline_fixture.h"
#include "slots.h"
#include "worker.h"
#include "worker_int.h"

static af_env E;
static ch_workers *g_w;
static ch_slots *g_slots;
static ch_wthread *g_t;
static char k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

static const char *code_of(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static json_t *req(const char *key, const char *path, int *st)
{
    return af_req(&E, key, "GET", path, NULL, st);
}

static int status_of(const char *key, const char *path)
{
    int st;
    json_decref(req(key, path, &st));
    return st;
}

static size_t nitems(json_t *page) { return json_array_size(json_object_get(page, "items")); }
static json_t *item(json_t *page, size_t i) { return json_array_get(json_object_get(page, "items"), i); }
static const char *istr(json_t *page, size_t i, const char *k)
{
    return json_string_value(json_object_get(item(page, i), k));
}
static long long iint(json_t *page, size_t i, const char *k)
{
    return json_integer_value(json_object_get(item(page, i), k));
}

static void drain(const char *tenant)
{
    for (int i = 0; i < 20; i++)
        if (ch_wthread_turn(g_t, tenant) == 0) break;
}

/* Turns until nothing is pending or waiting for a retry. */
static void settle(const char *tenant)
{
    for (int i = 0; i < 100; i++) {
        drain(tenant);
        if (pf_int("ZCARD c360:{t:%s}:retry", tenant) == 0 && pf_pending(tenant, "ev") <= 0 &&
            pf_pending(tenant, "dl") <= 0)
            return;
        fx_sleep_ms(20);
    }
}

static void workers_start(void)
{
    ch_worker_conf c;
    ch_worker_conf_defaults(&c);
    c.loader = E.loader;
    c.threads = 1;
    c.retry_base_ms = 20;
    c.retry_cap_ms = 40;
    c.hold_ms = 200;
    c.callback_timeout_ms = 2000;
    c.hang_grace_ms = 200;
    c.claim_idle_ms = 5000;
    c.sweep_ms = 1000;
    c.conn_cache_ms = 50;
    c.tenants_refresh_ms = 50;
    g_slots = ch_slots_create(1, 1);
    g_w = ch_workers_new(&c, g_slots, 0, E.instances);
    g_t = g_w->threads[0];
    ch_wthread_begin(g_t);
}

/* src: "ok 2 a" (2 records), "error" (dead letter), "retry 1" (a retry,
 * then OK with 1 record), a tick (2 records); tk: a failing tick. Every
 * record goes to d1 (first attempt RETRY, then OK) and d2 (ERROR). */
static void run_pipeline(void)
{
    char id[CH_QW_ID_MAX];
    pf_add_event("ta", "src", "wh", NULL, "ok 2 a", id, sizeof id);
    settle("ta");
    pf_add_event("ta", "src", "wh", NULL, "error", id, sizeof id);
    settle("ta");
    pf_add_event("ta", "src", "wh", NULL, "retry 1", id, sizeof id);
    settle("ta");
    pf_add_event("ta", "src", "tick", NULL, "", id, sizeof id);
    settle("ta");
    pf_add_event("ta", "tk", "tick", NULL, "", id, sizeof id);
    settle("ta");
    pf_add_event("tb", "other", "wh", NULL, "ok 0", id, sizeof id);
    settle("tb");
}

static void test_status(void)
{
    int st;
    json_t *s = req(k_view, "/v1/tenants/ta/connections/src/status", &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(s, "connection")), "src");
    CHECK_STR(json_string_value(json_object_get(s, "plugin")), "wtp");
    CHECK_STR(json_string_value(json_object_get(s, "state")), "active");
    CHECK(json_integer_value(json_object_get(s, "last_tick_ms")) > 0);
    CHECK(json_integer_value(json_object_get(s, "last_success_ms")) > 0);
    CHECK(json_integer_value(json_object_get(s, "last_error_ms")) > 0);
    CHECK_CONTAINS(json_string_value(json_object_get(s, "last_error")), "retry later");
    CHECK(json_is_null(json_object_get(s, "token")));
    json_t *c = json_object_get(s, "counts");
    CHECK(json_integer_value(json_object_get(c, "events")) == 2);
    CHECK(json_integer_value(json_object_get(c, "records")) == 5);
    CHECK(json_integer_value(json_object_get(c, "retries")) == 1);
    CHECK(json_integer_value(json_object_get(c, "dead_letters")) == 1);
    CHECK(json_integer_value(json_object_get(c, "failed")) == 2);
    CHECK(json_integer_value(json_object_get(c, "delivered")) == 0);
    json_decref(s);

    s = req(k_view, "/v1/tenants/ta/connections/d1/status", &st);
    CHECK(st == 200);
    c = json_object_get(s, "counts");
    CHECK(json_integer_value(json_object_get(c, "delivered")) == 5);
    CHECK(json_integer_value(json_object_get(c, "retries")) == 5);
    CHECK(json_integer_value(json_object_get(c, "dead_letters")) == 0);
    CHECK(json_is_null(json_object_get(s, "last_tick_ms")));
    json_decref(s);
    s = req(k_view, "/v1/tenants/ta/connections/d2/status", &st);
    c = json_object_get(s, "counts");
    CHECK(json_integer_value(json_object_get(c, "dead_letters")) == 5);
    CHECK(json_is_null(json_object_get(s, "last_success_ms")));
    CHECK_CONTAINS(json_string_value(json_object_get(s, "last_error")), "rejected");
    json_decref(s);
    s = req(k_view, "/v1/tenants/ta/connections/tk/status", &st);
    CHECK(json_integer_value(json_object_get(s, "last_tick_ms")) > 0);
    CHECK(json_is_null(json_object_get(s, "last_success_ms")));
    CHECK(json_integer_value(json_object_get(s, "last_error_ms")) > 0);
    json_decref(s);

    /* OAuth metadata: expiry and the dead mark, never the token or its id. */
    pf_do("HSET c360:{t:ta}:oauth:src:default version 3 sid 0123456789abcdef0123456789abcdef "
          "expires_at_ms 123456 obtained_at_ms 100000 refresh_expires_at_ms 999999 dead 1 "
          "dead_cause invalid_grant");
    s = req(k_view, "/v1/tenants/ta/connections/src/status", &st);
    json_t *t = json_object_get(s, "token");
    CHECK(json_is_object(t));
    CHECK_STR(json_string_value(json_object_get(t, "name")), "default");
    CHECK(json_integer_value(json_object_get(t, "expires_ms")) == 123456);
    CHECK(json_integer_value(json_object_get(t, "refresh_expires_ms")) == 999999);
    CHECK(json_is_true(json_object_get(t, "needs_reauth")));
    CHECK_STR(json_string_value(json_object_get(t, "reauth_cause")), "invalid_grant");
    char *dump = json_dumps(s, 0);
    CHECK(dump && !strstr(dump, "0123456789abcdef") && !strstr(dump, "sid"));
    free(dump);
    json_decref(s);

    /* State, cause and since from the connstatus record. */
    CHECK(ch_conn_set_state("ta", "src", "paused", "maintenance window", "system", NULL) == C360_OK);
    s = req(k_view, "/v1/tenants/ta/connections/src/status", &st);
    CHECK_STR(json_string_value(json_object_get(s, "state")), "paused");
    CHECK_STR(json_string_value(json_object_get(s, "cause")), "maintenance window");
    CHECK(json_integer_value(json_object_get(s, "since_ms")) > 0);
    json_decref(s);
    CHECK(ch_conn_set_state("ta", "src", "active", "", "system", NULL) == C360_OK);
    /* A dead grant recorded only in connstatus shows. */
    CHECK(ch_connstatus_set("ta", "d1", "needs_reauth", "token dead") == C360_OK);
    s = req(k_view, "/v1/tenants/ta/connections/d1/status", &st);
    CHECK_STR(json_string_value(json_object_get(s, "state")), "needs_reauth");
    CHECK_STR(json_string_value(json_object_get(s, "cause")), "token dead");
    json_decref(s);

    /* Not this tenant's, or not there. */
    s = req(k_view, "/v1/tenants/ta/connections/other/status", &st);
    CHECK(st == 404);
    CHECK_STR(code_of(s), "not_found");
    json_decref(s);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/nope/status") == 404);
    CHECK(status_of(k_other, "/v1/tenants/ta/connections/src/status") == 403);
    CHECK(status_of(k_other, "/v1/tenants/tb/connections/other/status") == 200);
    CHECK(status_of(k_other, "/v1/tenants/tb/connections/src/status") == 404);
    CHECK(status_of(NULL, "/v1/tenants/ta/connections/src/status") == 401);
}

static void test_sync_log(void)
{
    int st;
    json_t *p = req(k_view, "/v1/tenants/ta/connections/src/sync-log", &st);
    CHECK(st == 200);
    CHECK(nitems(p) == 5);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    /* Newest first: the tick, then "retry 1" OK, its retry, the dead
     * letter, the first OK. */
    CHECK_STR(istr(p, 0, "kind"), "tick");
    CHECK_STR(istr(p, 0, "status"), "ok");
    CHECK(iint(p, 0, "records") == 2);
    CHECK_STR(istr(p, 1, "kind"), "event");
    CHECK_STR(istr(p, 1, "status"), "ok");
    CHECK(iint(p, 1, "records") == 1);
    CHECK(iint(p, 1, "attempt") == 2);
    CHECK_STR(istr(p, 2, "status"), "retry");
    CHECK(iint(p, 2, "attempt") == 1);
    CHECK_CONTAINS(istr(p, 2, "error"), "retry later");
    CHECK_STR(istr(p, 1, "entry"), istr(p, 2, "entry"));
    CHECK_STR(istr(p, 3, "status"), "dead_letter");
    CHECK_STR(istr(p, 3, "error"), "permanent error: boom");
    CHECK_STR(istr(p, 4, "status"), "ok");
    CHECK(iint(p, 4, "records") == 2);
    CHECK(json_is_null(json_object_get(item(p, 4), "error")));
    CHECK(json_is_integer(json_object_get(item(p, 4), "duration_ms")));
    CHECK(iint(p, 0, "at_ms") >= iint(p, 4, "at_ms"));
    long long newest = iint(p, 0, "at_ms"), oldest = iint(p, 4, "at_ms");
    json_decref(p);

    p = req(k_view, "/v1/tenants/ta/connections/tk/sync-log", &st);
    CHECK(st == 200 && nitems(p) == 1);
    CHECK_STR(istr(p, 0, "kind"), "tick");
    CHECK_STR(istr(p, 0, "status"), "error");
    CHECK_CONTAINS(istr(p, 0, "error"), "permanent error");
    json_decref(p);

    /* Filters. */
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?status=ok", &st);
    CHECK(st == 200 && nitems(p) == 3);
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?status=retry,dead_letter", &st);
    CHECK(st == 200 && nitems(p) == 2);
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?kind=tick", &st);
    CHECK(st == 200 && nitems(p) == 1);
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?kind=event&status=ok", &st);
    CHECK(st == 200 && nitems(p) == 2);
    json_decref(p);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?since_ms=%lld&until_ms=%lld",
             oldest, newest + 1);
    p = req(k_view, path, &st);
    CHECK(st == 200 && nitems(p) == 5);
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?since_ms=%lld", newest);
    p = req(k_view, path, &st);
    CHECK(st == 200 && nitems(p) >= 1 && nitems(p) < 5);
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?until_ms=%lld", oldest);
    p = req(k_view, path, &st);
    CHECK(st == 200 && nitems(p) == 0);
    json_decref(p);

    /* Errors. */
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?status=bogus", &st);
    CHECK(st == 400);
    CHECK_STR(code_of(p), "bad_query");
    json_decref(p);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/src/sync-log?status=") == 400);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/src/sync-log?status=ok,") == 200);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/src/sync-log?kind=webhook") == 400);
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?since_ms=20&until_ms=10", &st);
    CHECK(st == 422);
    CHECK_STR(code_of(p), "validation");
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?cursor=nope", &st);
    CHECK(st == 400);
    CHECK_STR(code_of(p), "bad_cursor");
    json_decref(p);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/src/sync-log?limit=500") == 400);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/other/sync-log") == 404);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/nope/sync-log") == 404);
    CHECK(status_of(k_other, "/v1/tenants/ta/connections/src/sync-log") == 403);
    p = req(k_other, "/v1/tenants/tb/connections/other/sync-log", &st);
    CHECK(st == 200 && nitems(p) == 1);
    json_decref(p);

    /* Paging: 2 + 2 + 1, each entry once, in order. */
    char cursor[64] = "", prev[64] = "";
    int pages = 0;
    size_t total = 0;
    do {
        if (cursor[0]) snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?limit=2&cursor=%s", cursor);
        else snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?limit=2");
        p = req(k_view, path, &st);
        CHECK(st == 200);
        for (size_t i = 0; i < nitems(p); i++) {
            const char *id = istr(p, i, "id");
            CHECK(!prev[0] || strcmp(id, prev) != 0);
            snprintf(prev, sizeof prev, "%s", id);
            total++;
        }
        const char *nc = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(p);
        pages++;
    } while (cursor[0] && pages < 10);
    CHECK(total == 5);
    CHECK(pages == 3);
    /* A filtered page with a cursor. */
    p = req(k_view, "/v1/tenants/ta/connections/src/sync-log?status=ok&limit=1", &st);
    CHECK(nitems(p) == 1);
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?status=ok&limit=5&cursor=%s",
             json_string_value(json_object_get(p, "next_cursor")));
    json_decref(p);
    p = req(k_view, path, &st);
    CHECK(st == 200 && nitems(p) == 2);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);
}

static void test_deliveries(void)
{
    int st;
    json_t *p = req(k_view, "/v1/tenants/ta/connections/d1/deliveries", &st);
    CHECK(st == 200);
    CHECK(nitems(p) == 10);
    CHECK_STR(istr(p, 0, "status"), "ok");
    CHECK_STR(istr(p, 0, "code"), "ok");
    CHECK(istr(p, 0, "record_id") != NULL);
    CHECK(json_is_null(json_object_get(item(p, 0), "error")));
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/d1/deliveries?status=retry", &st);
    CHECK(st == 200 && nitems(p) == 5);
    CHECK_STR(istr(p, 0, "code"), "retry");
    CHECK_CONTAINS(istr(p, 0, "error"), "retry later");
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/d1/deliveries?status=error", &st);
    CHECK(st == 200 && nitems(p) == 0);
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/d2/deliveries?status=error", &st);
    CHECK(st == 200 && nitems(p) == 5);
    CHECK_STR(istr(p, 0, "code"), "error");
    CHECK_CONTAINS(istr(p, 0, "error"), "rejected");
    json_decref(p);
    p = req(k_view, "/v1/tenants/ta/connections/d2/deliveries?status=ok,retry", &st);
    CHECK(st == 200 && nitems(p) == 0);
    json_decref(p);
    /* A source has no deliveries. */
    p = req(k_view, "/v1/tenants/ta/connections/src/deliveries", &st);
    CHECK(st == 200 && nitems(p) == 0 && json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);

    /* Paging across pages of 4: 4 + 4 + 2. */
    char path[256], cursor[64] = "";
    int pages = 0;
    size_t total = 0;
    json_t *ids = json_object();
    do {
        if (cursor[0]) snprintf(path, sizeof path, "/v1/tenants/ta/connections/d1/deliveries?limit=4&cursor=%s", cursor);
        else snprintf(path, sizeof path, "/v1/tenants/ta/connections/d1/deliveries?limit=4");
        p = req(k_view, path, &st);
        CHECK(st == 200);
        for (size_t i = 0; i < nitems(p); i++) json_object_set_new(ids, istr(p, i, "id"), json_true());
        total += nitems(p);
        const char *nc = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(p);
        pages++;
    } while (cursor[0] && pages < 10);
    CHECK(total == 10 && json_object_size(ids) == 10);
    CHECK(pages == 3);
    json_decref(ids);

    CHECK(status_of(k_view, "/v1/tenants/ta/connections/d1/deliveries?status=dead") == 400);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/d1/deliveries?cursor=1-") == 400);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/d1/deliveries?since_ms=5&until_ms=5") == 422);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/d1/deliveries?until_ms=x") == 400);
    CHECK(status_of(k_view, "/v1/tenants/ta/connections/other/deliveries") == 404);
    CHECK(status_of(k_other, "/v1/tenants/ta/connections/d1/deliveries") == 403);
}

/* The log stays capped: MAXLEN ~ 1000. */
static void test_cap(void)
{
    char id[CH_QW_ID_MAX];
    for (int i = 0; i < 1300; i++) pf_add_event("ta", "src2", "wh", NULL, "ok 0", id, sizeof id);
    for (int i = 0; i < 1000; i++)
        if (ch_wthread_turn(g_t, "ta") == 0) break;
    long long n = pf_int("XLEN c360:{t:ta}:synclog:src2");
    CHECK(n >= 1000 && n < 1300);
    int st;
    json_t *p = req(k_view, "/v1/tenants/ta/connections/src2/sync-log?limit=200", &st);
    CHECK(st == 200 && nitems(p) == 200);
    CHECK(json_is_string(json_object_get(p, "next_cursor")));
    json_decref(p);
}

int main(void)
{
    static const char *const plugins[] = {"worker_tp", NULL};
    af_start(&E, plugins);
    pf_raw_connect(E.redis_port);
    af_tenant(&E, "ta");
    af_tenant(&E, "tb");
    af_key(&E, CH_ROLE_TENANT_VIEWER, "ta", k_view);
    af_key(&E, CH_ROLE_TENANT_VIEWER, "tb", k_other);
    pf_conn_put("ta", "src", "wtp", "{\"tick_records\":2}", 60, 1);
    pf_conn_put("ta", "src2", "wtp", "{}", 60, 0);
    pf_conn_put("ta", "tk", "wtp", "{\"tick_status\":2}", 60, 1);
    pf_conn_put("ta", "d1", "wtp", "{\"deliver_fail\":1}", 60, 0);
    pf_conn_put("ta", "d2", "wtp", "{\"deliver_error\":true}", 60, 0);
    pf_conn_put("tb", "other", "wtp", "{}", 60, 0);
    CHECK(ch_conn_route_add("ta", "src", "d1", "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add("ta", "src", "d2", "system", NULL) == C360_OK);
    workers_start();

    run_pipeline();
    test_status();
    test_sync_log();
    test_deliveries();
    test_cap();

    ch_workers_free(g_w);
    ch_slots_destroy(g_slots);
    redisFree(pf_raw);
    af_stop(&E);
    CHECK_DONE();
}
