/* test_api_audit -- the audit resources of the admin API
 * (host/admin/api_audit.c) through the full dispatcher: a tenant's log
 * with every filter, paging across pages by seq cursor, bad cursors (400),
 * bad ranges (422), bad filter values (400); verify on an intact chain and
 * on a tampered one; the operator-only "_system" chain; roles and another
 * tenant (403). Entries are written by the audit service itself
 * (ch_audit_append) and by admin requests (ch_aaudit). */
#include <stdlib.h>
#include <string.h>

#define AT_ENV (&E)
#include "api_test_util.h"
#include "check.h"

static af_env E;
static char k_admin[CH_APIKEY_TEXT_MAX], k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

static void append(const char *tenant, int64_t ts, const char *actor, const char *action,
                   const char *target)
{
    ch_audit_entry e = {.ts_ms = ts, .tenant = tenant, .actor = actor, .connection = "c1",
                        .action = action, .target = target, .outcome = "ok", .request_id = "r1"};
    CHECK(ch_audit_append(&e, NULL) == C360_OK);
}

/* 12 entries of ta at ts 1000, 2000, ... 12000: actors alternate, actions
 * in threes. */
static void seed(void)
{
    for (int i = 1; i <= 12; i++) {
        char target[16];
        snprintf(target, sizeof target, "t%d", i);
        append("ta", i * 1000, i % 2 ? "apikey:odd" : "apikey:even",
               i % 3 == 0 ? "connection.delete" : "connection.create", target);
    }
    append("tb", 5000, "apikey:odd", "connection.create", "tb1");
    append("_system", 7000, "system", "plugin.load", "wtp");
}

static void test_list(void)
{
    int st;
    json_t *p = GET(k_view, "/v1/tenants/ta/audit", &st);
    CHECK(st == 200);
    CHECK(at_nitems(p) == 12);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_t *first = at_item(p, 0);
    CHECK(json_integer_value(json_object_get(first, "seq")) == 12);
    CHECK(json_integer_value(json_object_get(first, "ts_ms")) == 12000);
    CHECK(json_object_get(first, "ts") == NULL);
    CHECK_STR(json_string_value(json_object_get(first, "target")), "t12");
    CHECK_STR(json_string_value(json_object_get(first, "tenant")), "ta");
    CHECK_STR(json_string_value(json_object_get(first, "connection")), "c1");
    CHECK_STR(json_string_value(json_object_get(first, "request_id")), "r1");
    CHECK(json_string_length(json_object_get(first, "hash")) == 64);
    CHECK(json_string_length(json_object_get(first, "prev_hash")) == 64);
    CHECK(json_integer_value(json_object_get(at_item(p, 11), "seq")) == 1);
    json_decref(p);

    CHECK(COUNT(k_view, "/v1/tenants/ta/audit?actor=apikey:odd") == 6);
    CHECK(COUNT(k_view, "/v1/tenants/ta/audit?action=connection.delete") == 4);
    p = GET(k_view, "/v1/tenants/ta/audit?action=connection.delete&actor=apikey%3Aeven", &st);
    CHECK(st == 200 && at_nitems(p) == 2); /* 6 and 12 */
    CHECK(json_integer_value(json_object_get(at_item(p, 0), "seq")) == 12);
    CHECK(json_integer_value(json_object_get(at_item(p, 1), "seq")) == 6);
    json_decref(p);
    p = GET(k_view, "/v1/tenants/ta/audit?since_ms=3000&until_ms=6000", &st);
    CHECK(st == 200 && at_nitems(p) == 3); /* 3, 4, 5 */
    CHECK(json_integer_value(json_object_get(at_item(p, 0), "ts_ms")) == 5000);
    CHECK(json_integer_value(json_object_get(at_item(p, 2), "ts_ms")) == 3000);
    json_decref(p);
    CHECK(COUNT(k_view, "/v1/tenants/ta/audit?actor=nobody") == 0);

    /* Bad values. */
    WANT(k_view, "GET", "/v1/tenants/ta/audit?since_ms=6000&until_ms=3000",
         NULL, 422, "validation");
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?since_ms=x") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?actor=a%40b") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?action=") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?action=a%0Ab") == 400);
    WANT(k_view, "GET", "/v1/tenants/ta/audit?cursor=abc", NULL, 400, "bad_cursor");
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?cursor=0") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?cursor=-3") == 400);
    CHECK(GET_STATUS(k_view, "/v1/tenants/ta/audit?limit=0") == 400);

    /* Isolation: tb's key, tb's own log. */
    WANT(k_other, "GET", "/v1/tenants/ta/audit", NULL, 403, "forbidden_tenant");
    p = GET(k_other, "/v1/tenants/tb/audit", &st);
    CHECK(st == 200 && at_nitems(p) == 1);
    CHECK_STR(json_string_value(json_object_get(at_item(p, 0), "target")), "tb1");
    json_decref(p);
    /* The operator reads any tenant's. */
    CHECK(GET_STATUS(E.op_key, "/v1/tenants/ta/audit") == 200);
}

static void test_paging(void)
{
    int st;
    char path[256], cursor[32] = "";
    long long expect = 12;
    int pages = 0;
    do {
        if (cursor[0]) snprintf(path, sizeof path, "/v1/tenants/ta/audit?limit=5&cursor=%s", cursor);
        else snprintf(path, sizeof path, "/v1/tenants/ta/audit?limit=5");
        json_t *p = GET(k_view, path, &st);
        CHECK(st == 200);
        for (size_t i = 0; i < at_nitems(p); i++)
            CHECK(json_integer_value(json_object_get(at_item(p, i), "seq")) == expect--);
        const char *nc = json_string_value(json_object_get(p, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", nc ? nc : "");
        json_decref(p);
        pages++;
    } while (cursor[0] && pages < 10);
    CHECK(expect == 0);
    CHECK(pages == 3);
    /* Filtered pages. */
    json_t *p = GET(k_view, "/v1/tenants/ta/audit?actor=apikey:even&limit=4", &st);
    CHECK(st == 200 && at_nitems(p) == 4);
    const char *nc = json_string_value(json_object_get(p, "next_cursor"));
    CHECK(nc && strcmp(nc, "6") == 0);
    snprintf(path, sizeof path, "/v1/tenants/ta/audit?actor=apikey:even&limit=4&cursor=%s", nc ? nc : "");
    json_decref(p);
    p = GET(k_view, path, &st);
    CHECK(st == 200 && at_nitems(p) == 2); /* 4 and 2 */
    CHECK(json_integer_value(json_object_get(at_item(p, 1), "seq")) == 2);
    json_decref(p);
    /* A cursor past the oldest: an empty page. */
    p = GET(k_view, "/v1/tenants/ta/audit?cursor=1", &st);
    CHECK(st == 200 && at_nitems(p) == 0 && json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);
}

static void test_verify(void)
{
    int st;
    json_t *v = GET(k_view, "/v1/tenants/ta/audit/verify", &st);
    CHECK(st == 200);
    CHECK(json_is_true(json_object_get(v, "intact")));
    CHECK_STR(json_string_value(json_object_get(v, "chain")), "ta");
    CHECK(json_integer_value(json_object_get(v, "checked")) == 12);
    CHECK(json_integer_value(json_object_get(v, "first_seq")) == 1);
    CHECK(json_integer_value(json_object_get(v, "last_seq")) == 12);
    CHECK(json_is_null(json_object_get(v, "bad_seq")));
    CHECK(json_is_null(json_object_get(v, "problem")));
    json_decref(v);
    CHECK(GET_STATUS(k_other, "/v1/tenants/ta/audit/verify") == 403);

    /* Tamper with entry 7: its content changes, its hash does not. */
    redisReply *r = ch_rconn_command("LINDEX c360:{t:ta}:audit:log 6");
    CHECK(r && r->type == REDIS_REPLY_STRING);
    char *text = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : strdup("");
    if (r) freeReplyObject(r);
    char *at = strstr(text, "\"target\":\"t7\"");
    CHECK(at != NULL);
    if (at) at[11] = '9';
    r = ch_rconn_command("LSET c360:{t:ta}:audit:log 6 %s", text);
    if (r) freeReplyObject(r);
    free(text);
    v = GET(k_view, "/v1/tenants/ta/audit/verify", &st);
    CHECK(st == 200);
    CHECK(json_is_false(json_object_get(v, "intact")));
    CHECK(json_integer_value(json_object_get(v, "bad_seq")) == 7);
    CHECK_CONTAINS(json_string_value(json_object_get(v, "problem")), "seq 7");
    json_decref(v);
    /* tb's chain is its own. */
    v = GET(k_other, "/v1/tenants/tb/audit/verify", &st);
    CHECK(st == 200 && json_is_true(json_object_get(v, "intact")));
    json_decref(v);
}

static void test_system(void)
{
    int st;
    json_t *p = GET(E.op_key, "/v1/audit", &st);
    CHECK(st == 200);
    /* The seeded plugin.load and whatever the admin API audited there. */
    int found = 0;
    for (size_t i = 0; i < at_nitems(p); i++) {
        CHECK_STR(json_string_value(json_object_get(at_item(p, i), "tenant")), "_system");
        if (strcmp(json_string_value(json_object_get(at_item(p, i), "action")), "plugin.load") == 0) found = 1;
    }
    CHECK(found);
    json_decref(p);
    CHECK(COUNT(E.op_key, "/v1/audit?action=plugin.load&since_ms=6000&until_ms=8000") == 1);
    CHECK(GET_STATUS(E.op_key, "/v1/audit?cursor=x") == 400);
    CHECK(GET_STATUS(E.op_key, "/v1/audit?since_ms=9&until_ms=1") == 422);
    json_t *v = GET(E.op_key, "/v1/audit/verify", &st);
    CHECK(st == 200);
    CHECK(json_is_true(json_object_get(v, "intact")));
    CHECK_STR(json_string_value(json_object_get(v, "chain")), "_system");
    json_decref(v);
    /* Operators only. */
    WANT(k_admin, "GET", "/v1/audit", NULL, 403, "forbidden");
    CHECK(GET_STATUS(k_view, "/v1/audit/verify") == 403);
    CHECK(GET_STATUS(NULL, "/v1/audit") == 401);
}

int main(void)
{
    af_start(&E, NULL);
    af_tenant(&E, "ta");
    af_tenant(&E, "tb");
    af_key(&E, CH_ROLE_TENANT_ADMIN, "ta", k_admin);
    af_key(&E, CH_ROLE_TENANT_VIEWER, "ta", k_view);
    af_key(&E, CH_ROLE_TENANT_VIEWER, "tb", k_other);
    seed();
    test_list();
    test_paging();
    test_verify();
    test_system();
    af_stop(&E);
    CHECK_DONE();
}
