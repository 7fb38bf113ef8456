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

#define AT_ENV (&E)
#include "api_test_util.h"
#include "check.h"
#include "pipeline_fixture.h"
#include "sched_int.h"

static af_env E;
static at_workers g_aw;
static char k_admin[CH_APIKEY_TEXT_MAX], k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

/* The newest audit entry of tenant ta with this action, or NULL (new ref). */
static json_t *last_audit(const char *action)
{
    json_t *a = at_audit_entries("ta", action, 1);
    if (!a) return NULL;
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
        at_drain(&g_aw, "ta");
    }
    pf_add_event("ta", "src", "wh", NULL, "retry 10", id, sizeof id);
    for (int i = 0; i < 40 && pf_int("XLEN c360:{t:ta}:dlq") < 5; i++) {
        fx_sleep_ms(25);
        at_drain(&g_aw, "ta");
    }
    pf_add_event("ta", "src", "wh", NULL, "ok 1 rec", id, sizeof id);
    at_drain(&g_aw, "ta");
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == 6);
    /* Another tenant's dead letter, never to be seen from ta. */
    pf_add_event("tb", "other", "wh", NULL, "error", id, sizeof id);
    at_drain(&g_aw, "tb");
    CHECK(pf_int("XLEN c360:{t:tb}:dlq") == 1);
}

static void test_list(void)
{
    int st;
    json_t *p = GET(k_view, "/v1/tenants/ta/dead-letters", &st);
    CHECK(st == 200);
    CHECK(at_nitems(p) == 6);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    /* Newest first: the delivery. */
    CHECK_STR(at_istr(p, 0, "kind"), "delivery");
    CHECK_STR(at_istr(p, 0, "connection"), "d1");
    CHECK_STR(at_istr(p, 0, "cause"), "error");
    CHECK_CONTAINS(at_istr(p, 0, "error"), "rejected");
    CHECK_STR(json_string_value(json_object_get(json_object_get(at_item(p, 0), "fields"), "ri")), "rec-0");
    CHECK_STR(at_istr(p, 1, "kind"), "event");
    CHECK_STR(at_istr(p, 1, "cause"), "attempts");
    CHECK_STR(at_istr(p, 2, "cause"), "error");
    CHECK_STR(at_istr(p, 2, "connection"), "src");
    CHECK_CONTAINS(at_istr(p, 2, "error"), "boom");
    CHECK(json_integer_value(json_object_get(at_item(p, 2), "body_bytes")) == 5);
    CHECK(json_object_get(json_object_get(at_item(p, 2), "fields"), "b") == NULL);
    CHECK(json_integer_value(json_object_get(at_item(p, 0), "at_ms")) >=
          json_integer_value(json_object_get(at_item(p, 5), "at_ms")));
    /* Time window from the items themselves: [oldest, newest] minus the newest. */
    long long newest = json_integer_value(json_object_get(at_item(p, 0), "at_ms"));
    long long oldest = json_integer_value(json_object_get(at_item(p, 5), "at_ms"));
    json_decref(p);

    CHECK(COUNT(k_view, "/v1/tenants/ta/dead-letters?connection=d1") == 1);
    CHECK(COUNT(k_view, "/v1/tenants/ta/dead-letters?kind=event") == 5);
    CHECK(COUNT(k_view, "/v1/tenants/ta/dead-letters?cause=attempts") == 1);
    CHECK(COUNT(k_view, "/v1/tenants/ta/dead-letters?connection=src&cause=error") == 4);
    CHECK(COUNT(k_view, "/v1/tenants/ta/dead-letters?connection=other") == 0); /* tb's connection: nothing of it in ta */
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?since_ms=%lld&until_ms=%lld", oldest,
             newest + 1);
    CHECK(COUNT(k_view, path) == 6);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?until_ms=%lld", oldest);
    CHECK(COUNT(k_view, path) == 0);

    /* Bad queries and ranges. */
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?since_ms=%lld&until_ms=%lld", newest,
             oldest);
    p = GET(k_view, path, &st);
    CHECK(st == 422);
    CHECK_STR(at_code(p), "validation");
    CHECK_STR(at_detail_path(p, 0), "/until_ms");
    json_decref(p);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?since_ms=5&until_ms=5", NULL) == 422);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?since_ms=abc", NULL) == 400);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?since_ms=-1", NULL) == 400);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?kind=bogus", NULL) == 400);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?cause=bogus", NULL) == 400);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?connection=a%20b", NULL) == 400);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?limit=0", NULL) == 400);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?limit=201", NULL) == 400);
    WANT(k_view, "GET", "/v1/tenants/ta/dead-letters?cursor=zzz", NULL, 400, "bad_cursor");
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters?cursor=1-2-3", NULL) == 400);

    /* Another tenant's key: the dispatcher's 403. */
    WANT(k_other, "GET", "/v1/tenants/ta/dead-letters", NULL, 403, "forbidden_tenant");
    CHECK(COUNT(k_other, "/v1/tenants/tb/dead-letters") == 1);
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
        json_t *p = GET(k_view, path, &st);
        CHECK(st == 200);
        CHECK(at_nitems(p) <= 2);
        for (size_t i = 0; i < at_nitems(p); i++) json_array_append(seen, json_object_get(at_item(p, i), "id"));
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
    json_t *p = GET(k_view, "/v1/tenants/ta/dead-letters?kind=event&limit=3", &st);
    CHECK(st == 200 && at_nitems(p) == 3);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters?kind=event&limit=3&cursor=%s",
             json_string_value(json_object_get(p, "next_cursor")));
    json_decref(p);
    p = GET(k_view, path, &st);
    CHECK(st == 200 && at_nitems(p) == 2);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);
    json_decref(seen);
}

static void test_one(void)
{
    int st;
    json_t *p = GET(k_view, "/v1/tenants/ta/dead-letters?cause=attempts", &st);
    char id[64];
    snprintf(id, sizeof id, "%s", at_istr(p, 0, "id"));
    json_decref(p);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s", id);
    json_t *d = GET(k_view, path, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(d, "id")), id);
    CHECK_STR(json_string_value(json_object_get(d, "cause")), "attempts");
    CHECK_STR(json_string_value(json_object_get(json_object_get(d, "fields"), "p")), "wtp");
    json_decref(d);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters/1-0", NULL) == 404);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters/notanid", NULL) == 404);
    CHECK(STATUS(k_view, "GET", "/v1/tenants/ta/dead-letters/bad.id", NULL) == 400);
    /* tb cannot see it, even through its own tenant's path. */
    CHECK(STATUS(k_other, "GET", path, NULL) == 403);
    snprintf(path, sizeof path, "/v1/tenants/tb/dead-letters/%s", id);
    CHECK(STATUS(k_other, "GET", path, NULL) == 404);

    /* Replay one: a viewer may not. */
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s/replay", id);
    WANT(k_view, "POST", path, NULL, 403, "forbidden");
    long long ev_before = pf_int("XLEN c360:{t:ta}:ev");
    p = af_req(&E, k_admin, "POST", path, NULL, &st);
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
    CHECK(STATUS(k_view, "GET", path, NULL) == 404);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s/replay", id);
    WANT(k_admin, "POST", path, NULL, 404, "not_found");
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
        at_drain(&g_aw, "ta");
        fx_sleep_ms(25);
    }
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == runs_key + 1);

    /* Discard one. */
    p = GET(k_view, "/v1/tenants/ta/dead-letters?connection=d1", &st);
    snprintf(id, sizeof id, "%s", at_istr(p, 0, "id"));
    json_decref(p);
    snprintf(path, sizeof path, "/v1/tenants/ta/dead-letters/%s", id);
    CHECK(STATUS(k_view, "DELETE", path, NULL) == 403);
    p = af_req(&E, k_admin, "DELETE", path, NULL, &st);
    CHECK(st == 204 && p == NULL);
    json_decref(p);
    CHECK(STATUS(k_admin, "DELETE", path, NULL) == 404);
    CHECK(STATUS(k_view, "GET", path, NULL) == 404);
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
    json_t *p = GET(k_view, "/v1/tenants/ta/dead-letters", &st);
    CHECK(at_nitems(p) == 5);
    long long newest = json_integer_value(json_object_get(at_item(p, 0), "at_ms"));
    json_decref(p);

    /* Validation. */
    WANT(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"bogus\":1}", 422, "validation");
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay",
                    "{\"since_ms\":10,\"until_ms\":5}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"since_ms\":-1}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"limit\":0}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"limit\":1001}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"kind\":\"x\"}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/discard", "{\"cause\":\"x\"}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/discard",
                    "{\"connection\":\"a b\"}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"since_ms\":\"1\"}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", NULL) == 400);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "[1]") == 400);
    CHECK(STATUS(k_view, "POST", "/v1/tenants/ta/dead-letters/replay", "{}") == 403);
    CHECK(STATUS(k_other, "POST", "/v1/tenants/ta/dead-letters/discard", "{}") == 403);

    /* Nothing matches: zero, no more. */
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/dead-letters/replay", "{\"until_ms\":1}", &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 0);
    CHECK(json_is_false(json_object_get(p, "more")));
    json_decref(p);

    /* The cap: 2 at a time, more while some remain. */
    long long ev_before = pf_int("XLEN c360:{t:ta}:ev");
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/dead-letters/replay",
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
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/dead-letters/discard", body, &st);
    CHECK(st == 200);
    CHECK(json_integer_value(json_object_get(p, "discarded")) == 2);
    CHECK(json_is_false(json_object_get(p, "more")));
    json_decref(p);
    a = last_audit("dlq.discard");
    CHECK(a && strstr(json_string_value(json_object_get(a, "outcome")), "discarded=2") != NULL);
    json_decref(a);
    /* Left: the attempts one. Discard everything; tb's stays. */
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/dead-letters/discard", "{}", &st);
    CHECK(st == 200);
    CHECK(json_integer_value(json_object_get(p, "discarded")) == 1);
    json_decref(p);
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == 0);
    CHECK(pf_int("XLEN c360:{t:tb}:dlq") == 1);
    a = last_audit("dlq.discard");
    CHECK(a && strcmp(json_string_value(json_object_get(a, "target")), "filter: all") == 0);
    json_decref(a);
    /* The two replayed ones run (and fail) again. */
    for (int i = 0; i < 20 && pf_int("XLEN c360:{t:ta}:dlq") < 2; i++) at_drain(&g_aw, "ta");
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
    at_drain(&g_aw, "ta");
    fx_sleep_ms(2);
    long long t1 = (long long)ch_now_ms() + 1;
    int before = count_replays("ta", NULL);
    char body[256];

    /* Validation. */
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t1, t0);
    json_t *p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 422);
    CHECK_STR(at_detail_path(p, 0), "/until_ms");
    json_decref(p);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0, t0);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0 - 40LL * 86400000, t1);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422); /* > 31 days */
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", "{\"until_ms\":5}") == 422);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", "{\"since_ms\":5}") == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"cursor\":\"x\"}", t0, t1);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"limit\":0}", t0, t1);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", body) == 422);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"other\"}", t0, t1);
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 404); /* tb's connection is not ta's */
    CHECK_STR(at_code(p), "not_found");
    json_decref(p);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"nope\"}", t0, t1);
    CHECK(STATUS(k_admin, "POST", "/v1/tenants/ta/replay", body) == 404);
    snprintf(body, sizeof body, "{\"since_ms\":%lld,\"until_ms\":%lld}", t0, t1);
    CHECK(STATUS(k_view, "POST", "/v1/tenants/ta/replay", body) == 403);
    CHECK(STATUS(k_other, "POST", "/v1/tenants/ta/replay", body) == 403);
    CHECK(count_replays("ta", NULL) == before);

    /* One connection's, one at a time with the cursor. */
    snprintf(body, sizeof body,
             "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"src\",\"limit\":2}", t0, t1);
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 2);
    CHECK(json_is_true(json_object_get(p, "more")));
    const char *cur = json_string_value(json_object_get(p, "next_cursor"));
    CHECK(cur != NULL);
    snprintf(body, sizeof body,
             "{\"since_ms\":%lld,\"until_ms\":%lld,\"connection\":\"src\",\"limit\":2,\"cursor\":\"%s\"}",
             t0, t1, cur ? cur : "");
    json_decref(p);
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
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
    p = af_req(&E, k_admin, "POST", "/v1/tenants/ta/replay", body, &st);
    CHECK(st == 202);
    CHECK(json_integer_value(json_object_get(p, "replayed")) == 4);
    json_decref(p);
    CHECK(count_replays("ta", NULL) == before + 7);
    at_drain(&g_aw, "ta");
    CHECK(pf_pending("ta", "ev") == 0);
}

int main(void)
{
    static const char *const plugins[] = {"worker_tp", NULL};
    af_start(&E, plugins);
    pf_raw_connect(E.redis_port);
    at_two_tenants(&E, k_admin, k_view, k_other);
    pf_conn_put("ta", "src", "wtp", "{}", 60, 0);
    pf_conn_put("ta", "src2", "wtp", "{}", 60, 0);
    pf_conn_put("ta", "d1", "wtp", "{\"deliver_error\":true}", 60, 0);
    pf_conn_put("tb", "other", "wtp", "{}", 60, 0);
    CHECK(ch_conn_route_add("ta", "src", "d1", "system", NULL) == C360_OK);
    at_workers_start(&g_aw, &E, 2, 20);

    make_dead_letters();
    test_list();
    test_paging();
    test_one();
    test_bulk();
    test_raw();

    at_workers_stop(&g_aw);
    redisFree(pf_raw);
    af_stop(&E);
    CHECK_DONE();
}
