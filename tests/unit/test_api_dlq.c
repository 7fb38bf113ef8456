/* test_api_dlq -- the dead-letter and raw-replay resources of the admin API
 * (host/admin/api_dlq.c) through the full dispatcher (admin_fixture.h),
 * with dead letters made by the real work loop (worker_tp, stepped by
 * hand as in test_worker): list with every filter, paging across pages,
 * bad cursors (400), bad ranges (422), get, replay one (202 with the new
 * queue id, the item really back in its stream and run again), discard
 * one, replay and discard by filter with caps and "more", raw replay by
 * time range with its cursor, the roles, another tenant (403 from the
 * dispatcher; its connection a 404 from the handler), and the audit
 * entries with counts, actor and request id. */
#include <stdlib.h>
#include <string.h>

#include "admin_fixture.h"
#include "audit.h"
#include "check.h"
#include "pipeline_fixture.h"
#include "sched_int.h"
#include "slots.h"
#include "worker.h"
#include "worker_int.h"

static af_env E;
static ch_workers *g_w;
static ch_slots *g_slots;
static ch_wthread *g_t;
static char k_admin[CH_APIKEY_TEXT_MAX], k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

static const char *code_of(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static json_t *req(const char *key, const char *method, const char *path, const char *body, int *st)
{
    return af_req(&E, key, method, path, body, st);
}

/* The status of a request whose answer is not looked at. */
static int status_of(const char *key, const char *method, const char *path, const char *body)
{
    int st;
    json_decref(req(key, method, path, body, &st));
    return st;
}

static void drain(const char *tenant)
{
    for (int i = 0; i < 20; i++)
        if (ch_wthread_turn(g_t, tenant) == 0) break;
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
    c.max_attempts = 2;
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

static size_t nitems(json_t *page) { return json_array_size(json_object_get(page, "items")); }
static json_t *item(json_t *page, size_t i) { return json_array_get(json_object_get(page, "items"), i); }
static const char *istr(json_t *page, size_t i, const char *k)
{
    return json_string_value(json_object_get(item(page, i), k));
}

/* The newest audit entry of tenant ta with this action, or NULL (new ref). */
static json_t *last_audit(const char *action)
{
    ch_audit_query q = {.action = action, .limit = 1};
    json_t *a = NULL;
    uint64_t next;
    if (ch_audit_list("ta", &q, &a, &next) != C360_OK) return NULL;
    json_t *e = json_incref(json_array_get(a, 0));
    json_decref(a);
    return e;
}

/* Dead letters of every kind and cause, made by the work loop: 4 events
 * that fail (error), 1 that fails every attempt (attempts: max_attempts
 * is 2), and the delivery of a record to d1, whose deliver answers ERROR. */
static void make_dead_letters(void)
{
    char id[CH_QW_ID_MAX];
    for (int i = 0; i < 4; i++) {
        pf_add_event("ta", "src", "wh", NULL, "error", id, sizeof id);
        drain("ta");
    }
    pf_add_event("ta", "src", "wh", NULL, "retry 10", id, sizeof id);
    for (int i = 0; i < 40 && pf_int("XLEN c360:{t:ta}:dlq") < 5; i++) {
        fx_sleep_ms(25);
        drain("ta");
    }
    pf_add_event("ta", "src", "wh", NULL, "ok 1 rec", id, sizeof id);
    drain("ta");
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == 6);
    /* Another tenant's dead letter, never to be seen from ta. */
    pf_add_event("tb", "other", "wh", NULL, "error", id, sizeof id);
    drain("tb");
    CHECK(pf_int("XLEN c360:{t:tb}:dlq") == 1);
}

static void test_list(void)
{
    int st;
    json_t *p = req(k_view, "GET", "/v1/tenants/ta/dead-letters", NULL, &st);
    CHECK(st == 200);
    CHECK(nitems(p) == 6);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    /* Newest first: the delivery. */
    CHECK_STR(istr(p, 0, "kind"), "delivery");
    CHECK_STR(istr(p, 0, "connection"), "d1");
    CHECK_STR(istr(p, 0, "cause"), "error");
    CHECK_CONTAINS(istr(p, 0, "error"), "rejected");
    CHECK_STR(json_string_value(json_object_get(json_object_get(item(p, 0), "fields"), "ri")), "rec-0");
    CHECK_STR(istr(p, 1, "kind"), "event");
    CHECK_STR(istr(p, 1, "cause"), "attempts");
    CHECK_STR(istr(p, 2, "cause"), "error");
    CHECK_STR(istr(p, 2, "connection"), "src");
    CHECK_CONTAINS(istr(p, 2, "error"), "boom");
    CHECK(json_integer_value(json_object_get(item(p, 2), "body_bytes")) == 5);
    CHECK(json_object_get(json_object_get(item(p, 2), "fields"), "b") == NULL);
    CHECK(json_integer_value(json_object_get(item(p, 0), "at_ms")) >=
          json_integer_value(json_object_get(item(p, 5), "at_ms")));
    /* Time window from the items themselves: [oldest, newest] minus the newest. */
    long long newest = json_integer_value(json_object_get(item(p, 0), "at_ms"));
    long long oldest = json_integer_value(json_object_get(item(p, 5), "at_ms"));
    json_decref(p);

    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?connection=d1", NULL, &st);
    CHECK(st == 200 && nitems(p) == 1);
    json_decref(p);
    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?kind=event", NULL, &st);
    CHECK(st == 200 && nitems(p) == 5);
    json_decref(p);
    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?cause=attempts", NULL, &st);
    CHECK(st == 200 && nitems(p) == 1);
    json_decref(p);
    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?connection=src&cause=error", NULL, &st);
    CHECK(st == 200 && nitems(p) == 4);
    json_decref(p);
    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?connection=other", NULL, &st);
    CHECK(st == 200 && nitems(p) == 0); /* tb's connection: nothing of it in ta */
    json_decref(p);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?since_ms=%lld&until_ms=%lld", oldest,
             newest + 1);
    p = req(k_view, "GET", path, NULL, &st);
    CHECK(st == 200 && nitems(p) == 6);
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?until_ms=%lld", oldest);
    p = req(k_view, "GET", path, NULL, &st);
    CHECK(st == 200 && nitems(p) == 0);
    json_decref(p);

    /* Bad queries and ranges. */
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?since_ms=%lld&until_ms=%lld", newest,
             oldest);
    p = req(k_view, "GET", path, NULL, &st);
    CHECK(st == 422);
    CHECK_STR(code_of(p), "validation");
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(json_object_get(p, "error"), "details"), 0), "path")),
              "/until_ms");
    json_decref(p);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?since_ms=5&until_ms=5", NULL) == 422);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?since_ms=abc", NULL) == 400);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?since_ms=-1", NULL) == 400);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?kind=bogus", NULL) == 400);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?cause=bogus", NULL) == 400);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?connection=a%20b", NULL) == 400);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?limit=0", NULL) == 400);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?limit=201", NULL) == 400);
    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?cursor=zzz", NULL, &st);
    CHECK(st == 400);
    CHECK_STR(code_of(p), "bad_cursor");
    json_decref(p);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters?cursor=1-2-3", NULL) == 400);

    /* Another tenant's key: the dispatcher's 403. */
    p = req(k_other, "GET", "/v1/tenants/ta/dead-letters", NULL, &st);
    CHECK(st == 403);
    CHECK_STR(code_of(p), "forbidden_tenant");
    json_decref(p);
    p = req(k_other, "GET", "/v1/tenants/tb/dead-letters", NULL, &st);
    CHECK(st == 200 && nitems(p) == 1);
    json_decref(p);
}

static void test_paging(void)
{
    int st;
    char path[256], cursor[64] = "";
    json_t *seen = json_array();
    int pages = 0;
    do {
        if (cursor[0]) snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?limit=2&cursor=%s", cursor);
        else snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?limit=2");
        json_t *p = req(k_view, "GET", path, NULL, &st);
        CHECK(st == 200);
        CHECK(nitems(p) <= 2);
        for (size_t i = 0; i < nitems(p); i++) json_array_append(seen, json_object_get(item(p, i), "id"));
        const char *nc = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(p);
        pages++;
    } while (cursor[0] && pages < 10);
    CHECK(pages >= 3 && pages <= 4);
    CHECK(json_array_size(seen) == 6);
    /* Each once, newest first. */
    for (size_t i = 1; i < json_array_size(seen); i++) {
        const char *a = json_string_value(json_array_get(seen, i - 1));
        const char *b = json_string_value(json_array_get(seen, i));
        CHECK(strcmp(a, b) != 0);
        CHECK(ch_stream_id_ms(a) >= ch_stream_id_ms(b));
    }
    /* A filtered walk pages too. */
    json_t *p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?kind=event&limit=3", NULL, &st);
    CHECK(st == 200 && nitems(p) == 3);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?kind=event&limit=3&cursor=%s",
             json_string_value(json_object_get(p, "next_cursor")));
    json_decref(p);
    p = req(k_view, "GET", path, NULL, &st);
    CHECK(st == 200 && nitems(p) == 2);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);
    json_decref(seen);
}

static void test_one(void)
{
    int st;
    json_t *p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?cause=attempts", NULL, &st);
    char id[64];
    snprintf(id, sizeof id, "%s", istr(p, 0, "id"));
    json_decref(p);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s", id);
    json_t *d = req(k_view, "GET", path, NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(d, "id")), id);
    CHECK_STR(json_string_value(json_object_get(d, "cause")), "attempts");
    CHECK_STR(json_string_value(json_object_get(json_object_get(d, "fields"), "p")), "wtp");
    json_decref(d);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters/1-0", NULL) == 404);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters/notanid", NULL) == 404);
    CHECK(status_of(k_view, "GET", "/v1/tenants/ta/dead-letters/bad.id", NULL) == 400);
    /* tb cannot see it, even through its own tenant's path. */
    CHECK(status_of(k_other, "GET", path, NULL) == 403);
    snprintf(path, sizeof path, "/v1/tenants/tb/dead-letters/%s", id);
    CHECK(status_of(k_other, "GET", path, NULL) == 404);

    /* Replay one: a viewer may not. */
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s/replay", id);
    p = req(k_view, "POST", path, NULL, &st);
    CHECK(st == 403);
    CHECK_STR(code_of(p), "forbidden");
    json_decref(p);
    long long ev_before = pf_int("XLEN c360:{t:ta}:ev");
    p = req(k_admin, "POST", path, NULL, &st);
    CHECK(st == 202);
    CHECK_STR(json_string_value(json_object_get(p, "kind")), "event");
    const char *qid = json_string_value(json_object_get(p, "queue_id"));
    CHECK(qid && ch_stream_id_valid(qid));
    CHECK(pf_int("XLEN c360:{t:ta}:ev") == ev_before + 1);
    /* The new entry is the item, with a = 1 and its original fields. */
    redisReply *r = pf_cmd("XRANGE c360:{t:ta}:ev %s %s", qid ? qid : "0-1", qid ? qid : "0-1");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r->elements == 1) {
        CHECK_STR(pf_entry_field(r->element[0], "a")->str, "1");
        CHECK_STR(pf_entry_field(r->element[0], "b")->str, "retry 10");
        CHECK(pf_entry_field(r->element[0], "why") == NULL);
    }
    freeReplyObject(r);
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s", id);
    CHECK(status_of(k_view, "GET", path, NULL) == 404);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s/replay", id);
    p = req(k_admin, "POST", path, NULL, &st);
    CHECK(st == 404);
    CHECK_STR(code_of(p), "not_found");
    json_decref(p);
    json_t *a = last_audit("dlq.replay");
    CHECK(a != NULL);
    char target[80];
    snprintf(target, sizeof target, "dlq:%s", id);
    CHECK_STR(json_string_value(json_object_get(a, "target")), target);
    CHECK_STR(json_string_value(json_object_get(a, "connection")), "src");
    CHECK_CONTAINS(json_string_value(json_object_get(a, "outcome")), "ok replayed=1");
    CHECK(strncmp(json_string_value(json_object_get(a, "actor")), "apikey:", 7) == 0);
    CHECK(strncmp(json_string_value(json_object_get(a, "request_id")), "afreq", 5) == 0);
    json_decref(a);
    /* The workers run it again ("retry 10": it fails its attempts anew). */
    long long runs_key = pf_int("XLEN c360:{t:ta}:dlq");
    for (int i = 0; i < 40 && pf_int("XLEN c360:{t:ta}:dlq") == runs_key; i++) {
        drain("ta");
        fx_sleep_ms(25);
    }
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == runs_key + 1);

    /* Discard one. */
    p = req(k_view, "GET", "/v1/tenants/ta/dead-letters?connection=d1", NULL, &st);
    snprintf(id, sizeof id, "%s", istr(p, 0, "id"));
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s", id);
    CHECK(status_of(k_view, "DELETE", path, NULL) == 403);
    p = req(k_admin, "DELETE", path, NULL, &st);
    CHECK(st == 204 && p == NULL);
    json_decref(p);
    CHECK(status_of(k_admin, "DELETE", path, NULL) == 404);
    CHECK(status_of(k_view, "GET", path, NULL) == 404);
    a = last_audit("dlq.discard");
    snprintf(target, sizeof target, "dlq:%s", id);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "target")), target) == 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "connection")), "d1") == 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "outcome")), "ok discarded=1") == 0);
    json_decref(a);
}

static void test_bulk(void)
{
    int st;
    /* Now: 4 error events of src + the replayed one's new dead letter. */
    json_t *p = req(k_view, "GET", "/v1/tenants/ta/dead-letters", NULL, &st);
    CHECK(nitems(p) == 5);
    long long newest = json_integer_value(json_object_get(item(p, 0), "at_ms"));
    json_decref(p);

    /* Validation. */
    p = req(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"bogus\":1}", &st);
    CHECK(st == 422);
    CHECK_STR(code_of(p), "validation");
    json_decref(p);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay",
                    "{\"since_ms\":10,\"until_ms\":5}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"since_ms\":-1}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"limit\":0}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"limit\":1001}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"kind\":\"x\"}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/discard", "{\"cause\":\"x\"}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/discard",
                    "{\"connection\":\"a b\"}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"since_ms\":\"1\"}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", NULL) == 400);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "[1]") == 400);
    CHECK(status_of(k_view, "POST", "/v1/tenants/ta/dead-letters/replay", "{}") == 403);
    CHECK(status_of(k_other, "POST", "/v1/tenants/ta/dead-letters/discard", "{}") == 403);

    /* Nothing matches: zero, no more. */
    p = req(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"until_ms\":1}", &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 0);
    CHECK(json_is_false(json_object_get(p, "more")));
    json_decref(p);

    /* The cap: 2 at a time, more while some remain. */
    long long ev_before = pf_int("XLEN c360:{t:ta}:ev");
    p = req(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay",
            "{\"connection\":\"src\",\"cause\":\"error\",\"limit\":2}", &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 2);
    CHECK(json_is_true(json_object_get(p, "more")));
    json_decref(p);
    CHECK(pf_int("XLEN c360:{t:ta}:ev") == ev_before + 2);
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == 3);
    json_t *a = last_audit("dlq.replay");
    CHECK(a && strcmp(json_string_value(json_object_get(a, "target")),
                      "filter: conn=src cause=error") == 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "outcome")), "ok replayed=2 more=1") == 0);
    json_decref(a);

    /* Discard by filter: the remaining error ones of src, in one call. */
    char body[128];
    snprintf(body, sizeof body, "{\"kind\":\"event\",\"cause\":\"error\",\"until_ms\":%lld}", newest + 1);
    p = req(k_admin, "POST", "/v1/tenants/ta/dead-letters/discard", body, &st);
    CHECK(st == 200);
    CHECK(json_integer_value(json_object_get(p, "discarded")) == 2);
    CHECK(json_is_false(json_object_get(p, "more")));
    json_decref(p);
    a = last_audit("dlq.discard");
    CHECK(a && strstr(json_string_value(json_object_get(a, "outcome")), "discarded=2") != NULL);
    json_decref(a);
    /* Left: the attempts one. Discard everything; tb's stays. */
    p = req(k_admin, "POST", "/v1/tenants/ta/dead-letters/discard", "{}", &st);
    CHECK(st == 200);
    CHECK(json_integer_value(json_object_get(p, "discarded")) == 1);
    json_decref(p);
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == 0);
    CHECK(pf_int("XLEN c360:{t:tb}:dlq") == 1);
    a = last_audit("dlq.discard");
    CHECK(a && strcmp(json_string_value(json_object_get(a, "target")), "filter: all") == 0);
    json_decref(a);
    /* The two replayed ones run (and fail) again. */
    for (int i = 0; i < 20 && pf_int("XLEN c360:{t:ta}:dlq") < 2; i++) drain("ta");
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == 2);
}

static int count_replays(const char *tenant, const char *conn)
{
    redisReply *r = pf_cmd("XRANGE c360:{t:%s}:ev - +", tenant);
    int n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *k = pf_entry_field(r->element[i], "k");
        const redisReply *c = pf_entry_field(r->element[i], "c");
        if (k && strcmp(k->str, "replay") == 0 && (!conn || (c && strcmp(c->str, conn) == 0))) n++;
    }
    freeReplyObject(r);
    return n;
}

static void test_raw(void)
{
    int st;
    long long t0 = (long long)ch_now_ms();
    fx_sleep_ms(2);
    char id[CH_QW_ID_MAX];
    for (int i = 0; i < 3; i++) pf_add_event("ta", "src", "wh", NULL, "ok 0", id, sizeof id);
    pf_add_event("ta", "src2", "wh", NULL, "ok 0", id, sizeof id);
    drain("ta");
    fx_sleep_ms(2);
    long long t1 = (long long)ch_now_ms() + 1;
    int before = count_replays("ta", NULL);
    char body[256];

    /* Validation. */
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t1, t0);
    json_t *p = req(k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 422);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(json_object_get(p, "error"), "details"), 0), "path")),
              "/until_ms");
    json_decref(p);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0, t0);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0 - 40LL * 86400000, t1);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422); /* > 31 days */
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", "{\"until_ms\":5}") == 422);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", "{\"since_ms\":5}") == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"cursor\":\"x\"}", t0, t1);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"limit\":0}", t0, t1);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"other\"}", t0, t1);
    p = req(k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 404); /* tb's connection is not ta's */
    CHECK_STR(code_of(p), "not_found");
    json_decref(p);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"nope\"}", t0, t1);
    CHECK(status_of(k_admin, "POST", "/v1/tenants/ta/replay", body) == 404);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0, t1);
    CHECK(status_of(k_view, "POST", "/v1/tenants/ta/replay", body) == 403);
    CHECK(status_of(k_other, "POST", "/v1/tenants/ta/replay", body) == 403);
    CHECK(count_replays("ta", NULL) == before);

    /* One connection's, one at a time with the cursor. */
    snprintf(body, sizeof body,
             "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"src\",\"limit\":2}", t0, t1);
    p = req(k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 2);
    CHECK(json_is_true(json_object_get(p, "more")));
    const char *cur = json_string_value(json_object_get(p, "next_cursor"));
    CHECK(cur != NULL);
    snprintf(body, sizeof body,
             "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"src\",\"limit\":2,\"cursor\":\"%s\"}",
             t0, t1, cur ? cur : "");
    json_decref(p);
    p = req(k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 1);
    CHECK(json_is_false(json_object_get(p, "more")));
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);
    CHECK(count_replays("ta", "src") == 3);
    CHECK(count_replays("ta", "src2") == 0);
    json_t *a = last_audit("replay.raw");
    char target[96];
    snprintf(target, sizeof target, "ev:%lld-%lld", t0, t1);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "target")), target) == 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "connection")), "src") == 0);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "outcome")), "ok replayed=1 more=0") == 0);
    json_decref(a);

    /* Every connection of the tenant; the replays themselves never again. */
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0, t1 + 1000);
    p = req(k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 4);
    json_decref(p);
    CHECK(count_replays("ta", NULL) == before + 7);
    drain("ta");
    CHECK(pf_pending("ta", "ev") == 0);
}

int main(void)
{
    static const char *const plugins[] = {"worker_tp", NULL};
    af_start(&E, plugins);
    pf_raw_connect(E.redis_port);
    af_tenant(&E, "ta");
    af_tenant(&E, "tb");
    af_key(&E, CH_ROLE_TENANT_ADMIN, "ta", k_admin);
    af_key(&E, CH_ROLE_TENANT_VIEWER, "ta", k_view);
    af_key(&E, CH_ROLE_TENANT_ADMIN, "tb", k_other);
    pf_conn_put("ta", "src", "wtp", "{}", 60, 0);
    pf_conn_put("ta", "src2", "wtp", "{}", 60, 0);
    pf_conn_put("ta", "d1", "wtp", "{\"deliver_error\":true}", 60, 0);
    pf_conn_put("tb", "other", "wtp", "{}", 60, 0);
    CHECK(ch_conn_route_add("ta", "src", "d1", "system", NULL) == C360_OK);
    workers_start();

    make_dead_letters();
    test_list();
    test_paging();
    test_one();
    test_bulk();
    test_raw();

    ch_workers_free(g_w);
    ch_slots_destroy(g_slots);
    redisFree(pf_raw);
    af_stop(&E);
    CHECK_DONE();
}
