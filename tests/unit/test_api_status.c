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

#define AT_ENV (&E)
#include "api_test_util.h"
#include "check.h"
#include "connstatus.h"
#include "pipeline_fixture.h"

static af_env E;
static at_workers g_aw;
static char k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

/* Turns until nothing is pending or waiting for a retry. */
static void settle(const char *tenant)
{
    for (int i = 0; i < 100; i++) {
        at_drain(&g_aw, tenant);
        if (pf_int("ZCARD c360:{t:%s}:retry", tenant) == 0 && pf_pending(tenant, "ev") <= 0 &&
            pf_pending(tenant, "dl") <= 0)
            return;
        fx_sleep_ms(20);
    }
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
    json_t *s = GET(k_view, "/v1/tenants/ta/connections/src/status", &st);
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

    s = GET(k_view, "/v1/tenants/ta/connections/d1/status", &st);
    CHECK(st == 200);
    c = json_object_get(s, "counts");
    CHECK(json_integer_value(json_object_get(c, "delivered")) == 5);
    CHECK(json_integer_value(json_object_get(c, "retries")) == 5);
    CHECK(json_integer_value(json_object_get(c, "dead_letters")) == 0);
    CHECK(json_is_null(json_object_get(s, "last_tick_ms")));
    json_decref(s);
    s = GET(k_view, "/v1/tenants/ta/connections/d2/status", &st);
    c = json_object_get(s, "counts");
    CHECK(json_integer_value(json_object_get(c, "dead_letters")) == 5);
    CHECK(json_is_null(json_object_get(s, "last_success_ms")));
    CHECK_CONTAINS(json_string_value(json_object_get(s, "last_error")), "rejected");
    json_decref(s);
    s = GET(k_view, "/v1/tenants/ta/connections/tk/status", &st);
    CHECK(json_integer_value(json_object_get(s, "last_tick_ms")) > 0);
    CHECK(json_is_null(json_object_get(s, "last_success_ms")));
    CHECK(json_integer_value(json_object_get(s, "last_error_ms")) > 0);
    json_decref(s);

    /* OAuth metadata: expiry and the dead mark, never the token or its id. */
    pf_do("HSET c360:{t:ta}:oauth:src:default version 3 sid 0123456789abcdef0123456789abcdef "
          "expires_at_ms 123456 obtained_at_ms 100000 refresh_expires_at_ms 999999 dead 1 "
          "dead_cause invalid_grant");
    s = GET(k_view, "/v1/tenants/ta/connections/src/status", &st);
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
    s = GET(k_view, "/v1/tenants/ta/connections/src/status", &st);
    CHECK_STR(json_string_value(json_object_get(s, "state")), "paused");
    CHECK_STR(json_string_value(json_object_get(s, "cause")), "maintenance window");
    CHECK(json_integer_value(json_object_get(s, "since_ms")) > 0);
    json_decref(s);
    CHECK(ch_conn_set_state("ta", "src", "active", "", "system", NULL) == C360_OK);
    /* A dead grant recorded only in connstatus shows. */
    CHECK(ch_connstatus_set("ta", "d1", "needs_reauth", "token dead") == C360_OK);
    s = GET(k_view, "/v1/tenants/ta/connections/d1/status", &st);
    CHECK_STR(json_string_value(json_object_get(s, "state")), "needs_reauth");
    CHECK_STR(json_string_value(json_object_get(s, "cause")), "token dead");
    json_decref(s);

    /* Not this tenant's, or not there. */
    WANT(k_view, "GET", "/v1/tenants/ta/connections/other/status", NULL, 404, "not_found");
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/nope/status") == 404);
    CHECK(GET_STATUS(k_other, "/v1/tenants/ta/connections/src/status") == 403);
    CHECK(GET_STATUS(k_other, "/v1/tenants/tb/connections/other/status") == 200);
    CHECK(GET_STATUS(k_other, "/v1/tenants/tb/connections/src/status") == 404);
    CHECK(GET_STATUS(NULL, "/v1/tenants/ta/connections/src/status") == 401);
}

static void test_sync_log(void)
{
    int st;
    json_t *p = GET(k_view, "/v1/tenants/ta/connections/src/sync-log", &st);
    CHECK(st == 200);
    CHECK(at_nitems(p) == 5);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    /* Newest first: the tick, then "retry 1" OK, its retry, the dead
     * letter, the first OK. */
    CHECK_STR(at_istr(p, 0, "kind"), "tick");
    CHECK_STR(at_istr(p, 0, "status"), "ok");
    CHECK(at_iint(p, 0, "records") == 2);
    CHECK_STR(at_istr(p, 1, "kind"), "event");
    CHECK_STR(at_istr(p, 1, "status"), "ok");
    CHECK(at_iint(p, 1, "records") == 1);
    CHECK(at_iint(p, 1, "attempt") == 2);
    CHECK_STR(at_istr(p, 2, "status"), "retry");
    CHECK(at_iint(p, 2, "attempt") == 1);
    CHECK_CONTAINS(at_istr(p, 2, "error"), "retry later");
    CHECK_STR(at_istr(p, 1, "entry"), at_istr(p, 2, "entry"));
    CHECK_STR(at_istr(p, 3, "status"), "dead_letter");
    CHECK_STR(at_istr(p, 3, "error"), "permanent error: boom");
    CHECK_STR(at_istr(p, 4, "status"), "ok");
    CHECK(at_iint(p, 4, "records") == 2);
    CHECK(json_is_null(json_object_get(at_item(p, 4), "error")));
    CHECK(json_is_integer(json_object_get(at_item(p, 4), "duration_ms")));
    CHECK(at_iint(p, 0, "at_ms") >= at_iint(p, 4, "at_ms"));
    long long newest = at_iint(p, 0, "at_ms"), oldest = at_iint(p, 4, "at_ms");
    json_decref(p);

    p = GET(k_view, "/v1/tenants/ta/connections/tk/sync-log", &st);
    CHECK(st == 200 && at_nitems(p) == 1);
    CHECK_STR(at_istr(p, 0, "kind"), "tick");
    CHECK_STR(at_istr(p, 0, "status"), "error");
    CHECK_CONTAINS(at_istr(p, 0, "error"), "permanent error");
    json_decref(p);

    /* Filters. */
    CHECK(COUNT(k_view, "/v1/tenants/ta/connections/src/sync-log?status=ok") == 3);
    CHECK(COUNT(k_view, "/v1/tenants/ta/connections/src/sync-log?status=retry,dead_letter") == 2);
    CHECK(COUNT(k_view, "/v1/tenants/ta/connections/src/sync-log?kind=tick") == 1);
    CHECK(COUNT(k_view, "/v1/tenants/ta/connections/src/sync-log?kind=event&status=ok") == 2);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?since_ms=%lld&until_ms=%lld",
             oldest, newest + 1);
    CHECK(COUNT(k_view, path) == 5);
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?since_ms=%lld", newest);
    p = GET(k_view, path, &st);
    CHECK(st == 200 && at_nitems(p) >= 1 && at_nitems(p) < 5);
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?until_ms=%lld", oldest);
    CHECK(COUNT(k_view, path) == 0);

    /* Errors. */
    WANT(k_view, "GET", "/v1/tenants/ta/connections/src/sync-log?status=bogus",
         NULL, 400, "bad_query");
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/src/sync-log?status=") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/src/sync-log?status=ok,") == 200);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/src/sync-log?kind=webhook") == 400);
    WANT(k_view, "GET", "/v1/tenants/ta/connections/src/sync-log?since_ms=20&until_ms=10",
         NULL, 422, "validation");
    WANT(k_view, "GET", "/v1/tenants/ta/connections/src/sync-log?cursor=nope",
         NULL, 400, "bad_cursor");
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/src/sync-log?limit=500") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/other/sync-log") == 404);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/nope/sync-log") == 404);
    CHECK(GET_STATUS(k_other, "/v1/tenants/ta/connections/src/sync-log") == 403);
    CHECK(COUNT(k_other, "/v1/tenants/tb/connections/other/sync-log") == 1);

    /* Paging: 2 + 2 + 1, each entry once, in order. */
    char cursor[64] = "", prev[64] = "";
    int pages = 0;
    size_t total = 0;
    do {
        if (cursor[0]) snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?limit=2&cursor=%s", cursor);
        else snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?limit=2");
        p = GET(k_view, path, &st);
        CHECK(st == 200);
        for (size_t i = 0; i < at_nitems(p); i++) {
            const char *id = at_istr(p, i, "id");
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
    p = GET(k_view, "/v1/tenants/ta/connections/src/sync-log?status=ok&limit=1", &st);
    CHECK(at_nitems(p) == 1);
    snprintf(path, sizeof path, "/v1/tenants/ta/connections/src/sync-log?status=ok&limit=5&cursor=%s",
             json_string_value(json_object_get(p, "next_cursor")));
    json_decref(p);
    p = GET(k_view, path, &st);
    CHECK(st == 200 && at_nitems(p) == 2);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);
}

static void test_deliveries(void)
{
    int st;
    json_t *p = GET(k_view, "/v1/tenants/ta/connections/d1/deliveries", &st);
    CHECK(st == 200);
    CHECK(at_nitems(p) == 10);
    CHECK_STR(at_istr(p, 0, "status"), "ok");
    CHECK_STR(at_istr(p, 0, "code"), "ok");
    CHECK(at_istr(p, 0, "record_id") != NULL);
    CHECK(json_is_null(json_object_get(at_item(p, 0), "error")));
    json_decref(p);
    p = GET(k_view, "/v1/tenants/ta/connections/d1/deliveries?status=retry", &st);
    CHECK(st == 200 && at_nitems(p) == 5);
    CHECK_STR(at_istr(p, 0, "code"), "retry");
    CHECK_CONTAINS(at_istr(p, 0, "error"), "retry later");
    json_decref(p);
    CHECK(COUNT(k_view, "/v1/tenants/ta/connections/d1/deliveries?status=error") == 0);
    p = GET(k_view, "/v1/tenants/ta/connections/d2/deliveries?status=error", &st);
    CHECK(st == 200 && at_nitems(p) == 5);
    CHECK_STR(at_istr(p, 0, "code"), "error");
    CHECK_CONTAINS(at_istr(p, 0, "error"), "rejected");
    json_decref(p);
    CHECK(COUNT(k_view, "/v1/tenants/ta/connections/d2/deliveries?status=ok,retry") == 0);
    /* A source has no deliveries. */
    p = GET(k_view, "/v1/tenants/ta/connections/src/deliveries", &st);
    CHECK(st == 200 && at_nitems(p) == 0 && json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);

    /* Paging across pages of 4: 4 + 4 + 2. */
    char path[256], cursor[64] = "";
    int pages = 0;
    size_t total = 0;
    json_t *ids = json_object();
    do {
        if (cursor[0]) snprintf(path, sizeof path, "/v1/tenants/ta/connections/d1/deliveries?limit=4&cursor=%s", cursor);
        else snprintf(path, sizeof path, "/v1/tenants/ta/connections/d1/deliveries?limit=4");
        p = GET(k_view, path, &st);
        CHECK(st == 200);
        for (size_t i = 0; i < at_nitems(p); i++) json_object_set_new(ids, at_istr(p, i, "id"), json_true());
        total += at_nitems(p);
        const char *nc = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(p);
        pages++;
    } while (cursor[0] && pages < 10);
    CHECK(total == 10 && json_object_size(ids) == 10);
    CHECK(pages == 3);
    json_decref(ids);

    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/d1/deliveries?status=dead") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/d1/deliveries?cursor=1-") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/d1/deliveries?since_ms=5&until_ms=5") == 422);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/d1/deliveries?until_ms=x") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/connections/other/deliveries") == 404);
    CHECK(GET_STATUS(k_other, "/v1/tenants/ta/connections/d1/deliveries") == 403);
}

/* The log stays capped: MAXLEN ~ 1000. */
static void test_cap(void)
{
    char id[CH_QW_ID_MAX];
    for (int i = 0; i < 1300; i++) pf_add_event("ta", "src2", "wh", NULL, "ok 0", id, sizeof id);
    for (int i = 0; i < 1000; i++)
        if (ch_wthread_turn(g_aw.t, "ta") == 0) break;
    long long n = pf_int("XLEN c360:{t:ta}:synclog:src2");
    CHECK(n >= 1000 && n < 1300);
    int st;
    json_t *p = GET(k_view, "/v1/tenants/ta/connections/src2/sync-log?limit=200", &st);
    CHECK(st == 200 && at_nitems(p) == 200);
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
    at_workers_start(&g_aw, &E, 0, 20);

    run_pipeline();
    test_status();
    test_sync_log();
    test_deliveries();
    test_cap();

    at_workers_stop(&g_aw);
    redisFree(pf_raw);
    af_stop(&E);
    CHECK_DONE();
}
