/* test_api_dsr -- data-subject requests (host/admin/dsr*.c, api_dsr.c).
 *
 * The matching rules on their own (e-mail case and boundaries, phone
 * digits, JSON keys and integers, URL-encoded text), then requests through
 * the full dispatcher against data made by the real pipeline: webhooks
 * stored the way ingress stores them, run by the real work loop (worker_tp,
 * stepped by hand) into records, deliveries to a failing and a working
 * destination, dead letters and delivery logs; plus a sync-log entry, a
 * connection's last error and a plugin state value written the way their
 * writers write them. Export finds each place, erase removes exactly what
 * matched (a pending work item too) and leaves the rest, the audit holds
 * counts and a hash reference but never the address, a small scan budget
 * truncates and the cursor resumes, and bad input, roles and other tenants
 * are refused. */
#include <stdlib.h>
#include <string.h>

#define AT_ENV (&E)
#include "api_test_util.h"
#include "check.h"
#include "conns.h"
#include "dsr.h"
#include "pipeline_fixture.h"
#include "queue_work.h"

static af_env E;
static at_workers g_aw;
static char k_admin[CH_APIKEY_TEXT_MAX], k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

static ch_dsr_subject subj(const char *email, const char *phone)
{
    ch_dsr_subject s;
    const char *f;
    char why[128];
    if (ch_dsr_subject_parse(email, phone, &s, &f, why, sizeof why) != 0) {
        fprintf(stderr, "subject: %s\n", why);
        memset(&s, 0, sizeof s);
    }
    return s;
}

static int mv(const ch_dsr_subject *s, const char *v) { return ch_dsr_match_value(s, v, strlen(v)); }

static void test_match(void)
{
    ch_dsr_subject e = subj("Ann@Example.org", NULL), p = subj(NULL, "+1 (555) 010-0000");
    CHECK_STR(e.email, "ann@example.org");
    CHECK_STR(p.phone, "15550100000");
    CHECK(mv(&e, "ann@example.org"));
    CHECK(mv(&e, "Contact: \"Ann\" <ANN@EXAMPLE.ORG>, thanks"));
    CHECK(mv(&e, "mail ann@example.org."));
    CHECK(!mv(&e, "joann@example.org"));
    CHECK(!mv(&e, "ann@example.org.uk"));
    CHECK(!mv(&e, "ann@example.organic"));
    CHECK(!mv(&e, "x.ann@example.org"));
    CHECK(mv(&e, "email=ann%40example.org&x=1"));
    CHECK(mv(&e, "{\"a\":{\"b\":[1,\"Ann@example.org\"]}}"));
    CHECK(mv(&e, "{\"ann@example.org\":true}"));
    CHECK(!mv(&e, "{\"a\":\"bob@example.org\"}"));
    CHECK(mv(&p, "15550100000"));
    CHECK(mv(&p, "+1-555-010-0000"));
    CHECK(mv(&p, "call +1 (555) 010-0000 today"));
    CHECK(mv(&p, "From=%2B15550100000&Body=hi"));
    CHECK(mv(&p, "{\"phone\":15550100000}"));
    CHECK(mv(&p, "{\"phone\":\"tel:+1.555.010.0000\"}"));
    CHECK(!mv(&p, "5550100000"));
    CHECK(!mv(&p, "115550100000"));
    CHECK(!mv(&p, "155501000001"));
    CHECK(!mv(&p, "{\"n\":155501000001}"));
    CHECK(mv(&p, "ids 2024 1 555 010 0000"));
    /* binary bytes around it */
    static const char bin[] = {'\xff', '\x00', 'a', 'n', 'n', '@', 'e', 'x', 'a', 'm', 'p', 'l',
                               'e', '.', 'o', 'r', 'g', '\x01'};
    CHECK(ch_dsr_match_value(&e, bin, sizeof bin));

    ch_dsr_subject s;
    const char *f;
    char why[128];
    CHECK(ch_dsr_subject_parse(NULL, NULL, &s, &f, why, sizeof why) == -1);
    CHECK(ch_dsr_subject_parse("no-at-sign", NULL, &s, &f, why, sizeof why) == -1);
    CHECK_STR(f, "email");
    CHECK(ch_dsr_subject_parse("a@b", "12ab", &s, &f, why, sizeof why) == -1);
    CHECK_STR(f, "phone");
    CHECK(ch_dsr_subject_parse(NULL, "12345", &s, &f, why, sizeof why) == -1);
    char ra[40], rb[40];
    ch_dsr_subject a = subj("ANN@example.org", NULL), b = subj("ann@example.org", NULL);
    ch_dsr_subject_ref(&a, ra, sizeof ra);
    ch_dsr_subject_ref(&b, rb, sizeof rb);
    CHECK_STR(ra, rb);
    CHECK(strncmp(ra, "subject:", 8) == 0 && strlen(ra) == 24);
}

/* ---- data through the real pipeline ----------------------------------------------- */

static void seed(void)
{
    pf_conn_put("ta", "src", "wtp", "{}", 60, 0);
    pf_conn_put("ta", "d1", "wtp", "{\"deliver_error\":true}", 60, 0);
    pf_conn_put("ta", "d2", "wtp", "{}", 60, 0);
    pf_conn_put("tb", "other", "wtp", "{}", 60, 0);
    CHECK(ch_conn_route_add("ta", "src", "d1", "system", NULL) == C360_OK);
    CHECK(ch_conn_route_add("ta", "src", "d2", "system", NULL) == C360_OK);
    /* Webhooks as ingress stores them; the work loop runs them: records
     * to d1 (which rejects: dead letter + log) and d2 (delivered + log). */
    pf_add_event("ta", "src", "wh", "{\"x-from\":\"someone\"}", "ok 1 <ANN@Example.org>", NULL, 0);
    pf_add_event("ta", "src", "wh", NULL, "ok 1 tel:+1(555)010-0000", NULL, 0);
    pf_add_event("ta", "src", "wh", NULL, "ok 1 bob@other.org,", NULL, 0);
    pf_add_event("ta", "src", "wh", NULL, "error x joann@example.org", NULL, 0);
    pf_add_event("ta", "src", "wh", NULL, "error x ann@example.org", NULL, 0);
    /* Another tenant holds the same person: never touched from ta. */
    pf_add_event("tb", "other", "wh", NULL, "ok 1 <ann@example.org>", NULL, 0);
    at_drain(&g_aw, "ta");
    at_drain(&g_aw, "ta");
    at_drain(&g_aw, "tb");
    CHECK(pf_pending("ta", "ev") == 0 && pf_pending("ta", "dl") == 0);
    /* What the other writers write: a sync-log entry (worker_exec.c), a
     * connection's last error (the outcome script), a plugin's state
     * value (state.c). */
    pf_do("XADD c360:{t:ta}:synclog:src * kind event status error error %s records 0 "
          "duration_ms 3 request_id r1 entry 1-1 attempt 1",
          "customer=ann@example.org:not-found");
    pf_do("XADD c360:{t:ta}:synclog:src * kind event status ok error %s records 1 "
          "duration_ms 3 request_id r2 entry 1-2 attempt 1", "-");
    pf_do("HSET c360:{t:ta}:conn:d2:stat last_err %s last_err_ms 5", "bounce for ANN@example.org");
    pf_do("HSET c360:{t:ta}:state:src:contact:42 v %s ver 3",
          "{\"email\":\"ann@example.org\",\"crm\":\"C-1\"}");
    pf_do("HSET c360:{t:ta}:state:src:contact:43 v %s ver 4", "{\"email\":\"bob@other.org\"}");
}

static long long count_of(json_t *rep, const char *cat)
{
    return (long long)json_integer_value(json_object_get(json_object_get(rep, "counts"), cat));
}

static json_t *list_of(json_t *rep, const char *which, const char *cat)
{
    return json_object_get(json_object_get(rep, which), cat);
}

static json_t *req(const char *key, const char *path, const char *body, int *st)
{
    return af_req(&E, key, "POST", path, body, st);
}

static void test_export(void)
{
    int st;
    json_t *r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{\"email\":\"ANN@example.ORG\"}",
                    &st);
    CHECK(st == 200);
    CHECK(count_of(r, "records") == 2);       /* the record of event 1, to d1 and d2 */
    CHECK(count_of(r, "raw_events") == 2);    /* events 1 and 5 */
    CHECK(count_of(r, "dead_letters") == 2);  /* d1's delivery of it, event 5 */
    CHECK(count_of(r, "delivery_log") == 2);  /* d1's and d2's attempt */
    CHECK(count_of(r, "sync_log") == 1);
    if (count_of(r, "sync_log") != 1) {
        char *d = json_dumps(list_of(r, "found", "sync_log"), JSON_INDENT(1));
        fprintf(stderr, "%s\n", d);
        free(d);
    }
    CHECK(count_of(r, "errors") == 1);
    /* contact:42, and what d2's plugin kept of the record it was given
     * (worker_tp stores "json:<record id>") */
    CHECK(count_of(r, "state") == 2);
    CHECK(json_is_false(json_object_get(r, "truncated")));
    CHECK(json_is_null(json_object_get(r, "next_cursor")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "subject"), "email")),
              "ann@example.org");
    CHECK(json_array_size(json_object_get(r, "searched")) == 7);
    /* Content: the record JSON embedded, the raw body as text. */
    json_t *rec = json_array_get(list_of(r, "found", "records"), 0);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(rec, "fields"), "r"), "id")),
              "<ANN@Example.org>-0");
    CHECK(json_string_value(json_object_get(rec, "connection")) != NULL);
    json_t *raw = json_array_get(list_of(r, "found", "raw_events"), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(raw, "fields"), "b")),
              "ok 1 <ANN@Example.org>");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(raw, "fields"), "h"), "x-from")),
              "someone");
    json_t *states = list_of(r, "found", "state"), *state = NULL;
    for (size_t i = 0; i < json_array_size(states); i++) {
        const char *key = json_string_value(json_object_get(json_array_get(states, i), "key"));
        if (key && strcmp(key, "contact:42") == 0) state = json_array_get(states, i);
    }
    CHECK(state != NULL);
    CHECK_STR(json_string_value(json_object_get(state, "connection")), "src");
    CHECK_STR(json_string_value(json_object_get(json_object_get(state, "value"), "crm")), "C-1");
    json_t *err = json_array_get(list_of(r, "found", "errors"), 0);
    CHECK_STR(json_string_value(json_object_get(err, "connection")), "d2");
    json_decref(r);

    /* By phone, digits only. */
    r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{\"phone\":\"+1 (555) 010-0000\"}", &st);
    CHECK(st == 200);
    CHECK(count_of(r, "records") == 2);
    CHECK(count_of(r, "raw_events") == 1);
    CHECK(count_of(r, "dead_letters") == 1);
    CHECK(count_of(r, "delivery_log") == 2);
    CHECK(count_of(r, "state") == 1); /* d2's copy of the record */
    json_decref(r);

    /* Both: either matches. */
    r = req(k_admin, "/v1/tenants/ta/data-subject/export",
            "{\"phone\":\"15550100000\",\"email\":\"ann@example.org\"}", &st);
    CHECK(st == 200 && count_of(r, "raw_events") == 3);
    json_decref(r);

    /* Audit: counts and a reference, never the address. */
    redisReply *a = pf_cmd("LRANGE c360:{t:ta}:audit:log 0 -1");
    int seen = 0, leak = 0;
    for (size_t i = 0; i < a->elements; i++) {
        const char *s = a->element[i]->str;
        if (strstr(s, "dsr.export") && strstr(s, "subject:") && strstr(s, "records=2")) seen++;
        if (strstr(s, "example.org") || strstr(s, "0100000")) leak++;
    }
    freeReplyObject(a);
    CHECK(seen >= 1);
    CHECK(leak == 0);
}

static void test_truncated(void)
{
    ch_dsr_subject s = subj("ann@example.org", NULL);
    json_t *full = NULL;
    ch_dsr_opts o = {0};
    CHECK(ch_dsr_run("ta", &s, &o, &full) == C360_OK);
    long long total = 0, got = 0;
    static const char *const cats[] = {"records", "raw_events", "dead_letters", "delivery_log",
                                       "sync_log", "errors", "state"};
    for (int i = 0; i < 7; i++) total += count_of(full, cats[i]);
    long long scanned_full = (long long)json_integer_value(json_object_get(full, "scanned"));
    json_decref(full);
    redisReply *k = pf_cmd("KEYS c360:{t:ta}:state:*");
    long long nstate = (long long)k->elements;
    freeReplyObject(k);
    /* A budget of 3 items per call: many calls, the same findings. */
    char cur[CH_DSR_CURSOR_MAX] = "";
    int calls = 0;
    long long scanned = 0;
    for (; calls < 500; calls++) {
        json_t *r = NULL;
        ch_dsr_opts small = {.scan_max = 3, .cursor = cur};
        CHECK(ch_dsr_run("ta", &s, &small, &r) == C360_OK);
        if (!r) break;
        for (int i = 0; i < 7; i++) got += count_of(r, cats[i]);
        scanned += (long long)json_integer_value(json_object_get(r, "scanned"));
        /* 3, or up to one page more in the state step (its SCAN page) */
        CHECK((long long)json_integer_value(json_object_get(r, "scanned")) <= 3 + nstate);
        json_t *nc = json_object_get(r, "next_cursor");
        int more = json_is_true(json_object_get(r, "truncated"));
        CHECK(more == json_is_string(nc));
        if (more) snprintf(cur, sizeof cur, "%s", json_string_value(nc));
        json_decref(r);
        if (!more) break;
    }
    CHECK(calls > 3);
    CHECK(got == total);
    /* The state step's SCAN may repeat keys at a page boundary; streams never. */
    CHECK(scanned >= scanned_full);
    /* Bad cursors are refused. */
    json_t *r = NULL;
    ch_dsr_opts bad = {.cursor = "9.x.1-1"};
    CHECK(ch_dsr_run("ta", &s, &bad, &r) == C360_EINVAL);
    bad.cursor = "2.-.1-1"; /* a per-connection step needs a connection */
    CHECK(ch_dsr_run("ta", &s, &bad, &r) == C360_EINVAL);
    bad.cursor = "0.-.abc";
    CHECK(ch_dsr_run("ta", &s, &bad, &r) == C360_EINVAL);
    /* Items capped per place, bytes capped overall. */
    ch_dsr_opts capped = {.items_max = 1, .bytes_max = 10};
    CHECK(ch_dsr_run("ta", &s, &capped, &r) == C360_OK);
    CHECK(json_array_size(list_of(r, "found", "records")) == 1);
    CHECK(count_of(r, "records") == 2);
    CHECK(json_is_true(json_object_get(r, "list_truncated")));
    CHECK(json_is_true(json_object_get(json_array_get(list_of(r, "found", "records"), 0),
                                       "content_omitted")));
    json_decref(r);
}

static void test_erase(void)
{
    long long ev0 = pf_int("XLEN c360:{t:ta}:ev"), dl0 = pf_int("XLEN c360:{t:ta}:dl");
    long long sl0 = pf_int("XLEN c360:{t:ta}:synclog:src");
    long long dlq0 = pf_int("XLEN c360:{t:ta}:dlq");
    long long tb0 = pf_int("XLEN c360:{t:tb}:ev");
    /* A webhook still pending in the group (fetched, not finished). */
    pf_add_event("ta", "src", "wh", NULL, "ok 1 ann@example.org", NULL, 0);
    ch_qbatch b;
    CHECK(ch_qw_fetch("ta", "other-host-1-0", 4, &b) == C360_OK && b.n == 1);
    ch_qbatch_free(&b);
    CHECK(pf_pending("ta", "ev") == 1);

    int st;
    json_t *r = req(k_admin, "/v1/tenants/ta/data-subject/erase", "{\"email\":\"ann@example.org\"}",
                    &st);
    CHECK(st == 200);
    CHECK(count_of(r, "raw_events") == 3);
    CHECK(count_of(r, "records") == 2);
    CHECK(count_of(r, "dead_letters") == 2);
    CHECK(count_of(r, "delivery_log") == 2);
    CHECK(count_of(r, "sync_log") == 1);
    CHECK(count_of(r, "errors") == 1);
    CHECK(count_of(r, "state") == 2);
    json_t *removed = list_of(r, "removed", "raw_events");
    CHECK(json_array_size(removed) == 3);
    /* The erase report names what went, not its content. */
    CHECK(json_object_get(json_array_get(removed, 0), "fields") == NULL);
    json_decref(r);

    CHECK(pf_int("XLEN c360:{t:ta}:ev") == ev0 + 1 - 3);
    CHECK(pf_int("XLEN c360:{t:ta}:dl") == dl0 - 2);
    CHECK(pf_int("XLEN c360:{t:ta}:dlq") == dlq0 - 2);
    CHECK(pf_pending("ta", "ev") == 0);
    CHECK(pf_int("XLEN c360:{t:ta}:synclog:src") == sl0 - 1);
    CHECK(strcmp(pf_str("HGET c360:{t:ta}:conn:d2:stat last_err"), "(nil)") == 0);
    CHECK(pf_int("EXISTS c360:{t:ta}:state:src:contact:42") == 0);
    CHECK(pf_int("EXISTS c360:{t:ta}:state:src:contact:43") == 1);
    CHECK(pf_int("XLEN c360:{t:tb}:ev") == tb0);

    /* Nothing is left; the phone's data is untouched. */
    r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{\"email\":\"ann@example.org\"}", &st);
    CHECK(st == 200);
    static const char *const cats[] = {"records", "raw_events", "dead_letters", "delivery_log",
                                       "sync_log", "errors", "state"};
    long long left = 0;
    for (int i = 0; i < 7; i++) left += count_of(r, cats[i]);
    CHECK(left == 0);
    json_decref(r);
    r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{\"phone\":\"15550100000\"}", &st);
    CHECK(count_of(r, "raw_events") == 1 && count_of(r, "records") == 2);
    json_decref(r);
    /* Bob and joann are still there. */
    r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{\"email\":\"joann@example.org\"}", &st);
    CHECK(count_of(r, "raw_events") == 1);
    json_decref(r);
    /* tb's copy is still there. */
    r = req(k_other, "/v1/tenants/tb/data-subject/export", "{\"email\":\"ann@example.org\"}", &st);
    CHECK(st == 200 && count_of(r, "raw_events") == 1);
    json_decref(r);

    redisReply *a = pf_cmd("LRANGE c360:{t:ta}:audit:log 0 -1");
    int erased = 0;
    for (size_t i = 0; i < a->elements; i++)
        if (strstr(a->element[i]->str, "dsr.erase")) {
            erased++;
            CHECK_CONTAINS(a->element[i]->str, "raw_events=3");
            CHECK(!strstr(a->element[i]->str, "example"));
        }
    CHECK(erased == 1);
    freeReplyObject(a);
}

static void test_refusals(void)
{
    int st;
    json_t *r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{}", &st);
    CHECK(st == 422);
    json_decref(r);
    r = req(k_admin, "/v1/tenants/ta/data-subject/export", "{\"email\":\"nope\"}", &st);
    CHECK(st == 422 && at_detail_path(r, 0) && strcmp(at_detail_path(r, 0), "/email") == 0);
    json_decref(r);
    r = req(k_admin, "/v1/tenants/ta/data-subject/erase", "{\"phone\":\"call me\"}", &st);
    CHECK(st == 422 && at_detail_path(r, 0) && strcmp(at_detail_path(r, 0), "/phone") == 0);
    json_decref(r);
    WANT(k_admin, "POST", "/v1/tenants/ta/data-subject/export",
         "{\"email\":\"a@b.c\",\"name\":\"x\"}", 422, NULL);
    WANT(k_admin, "POST", "/v1/tenants/ta/data-subject/export", "{\"email\":5}", 422, NULL);
    WANT(k_admin, "POST", "/v1/tenants/ta/data-subject/export", "{\"email\":", 400, NULL);
    r = req(k_admin, "/v1/tenants/ta/data-subject/export",
            "{\"email\":\"a@b.c\",\"cursor\":\"garbage\"}", &st);
    CHECK(st == 422 && at_detail_path(r, 0) && strcmp(at_detail_path(r, 0), "/cursor") == 0);
    json_decref(r);
    WANT(k_view, "POST", "/v1/tenants/ta/data-subject/export", "{\"email\":\"a@b.c\"}", 403, NULL);
    r = req(k_other, "/v1/tenants/ta/data-subject/erase", "{\"email\":\"a@b.c\"}", &st);
    CHECK(st == 403 && at_code(r) && strcmp(at_code(r), "forbidden_tenant") == 0);
    json_decref(r);
    WANT(E.op_key, "POST", "/v1/tenants/nosuch/data-subject/export",
         "{\"email\":\"a@b.c\"}", 404, NULL);
    char big[400];
    memset(big, 'a', sizeof big);
    snprintf(big, sizeof big, "{\"email\":\"%0300d@x.org\"}", 0);
    WANT(k_admin, "POST", "/v1/tenants/ta/data-subject/export", big, 422, NULL);
}

int main(void)
{
    test_match();

    static const char *const plugins[] = {"worker_tp", NULL};
    af_start(&E, plugins);
    pf_raw_connect(E.redis_port);
    at_two_tenants(&E, k_admin, k_view, k_other);
    at_workers_start(&g_aw, &E, 2, 50);
    seed();

    test_export();
    test_truncated();
    test_erase();
    test_refusals();

    at_workers_stop(&g_aw);
    redisFree(pf_raw);
    af_stop(&E);
    CHECK_DONE();
}
