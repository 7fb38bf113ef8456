/* test_api_conns.c -- the connections resource (api_conns.c) and the
 * routes resource (api_routes.c) through the full dispatcher, and
 * ch_conn_disconnect (conn_ops.c) with a plugin whose disconnect callback
 * leaves a mark: against a real redis-server, with the conns_tp plugins
 * (tests/plugins/pipeline/conns_tp.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AT_ENV (&E)
#include "api_test_util.h"
#include "call.h"
#include "check.h"
#include "conn_ops.h"
#include "conns.h"
#include "conns_mapping.h"
#include "secrets.h"
#include "tenants.h"

static af_env E;
static char g_admin[CH_APIKEY_TEXT_MAX], g_viewer[CH_APIKEY_TEXT_MAX], g_other[CH_APIKEY_TEXT_MAX];
static char g_markdir[256];

/* 1 if some error detail has this path (and contains msg when given). */
static int has_detail(json_t *j, const char *path, const char *msg)
{
    json_t *d = json_object_get(json_object_get(j, "error"), "details");
    size_t i;
    json_t *v;
    json_array_foreach(d, i, v) {
        if (strcmp(at_str(v, "path"), path) == 0 && (!msg || strstr(at_str(v, "message"), msg)))
            return 1;
    }
    return 0;
}

static long long redis_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = ch_rconn_command(fmt, a, b);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

static int audit_has(const char *tenant, const char *needle1, const char *needle2)
{
    redisReply *r = ch_rconn_command("LRANGE c360:{t:%s}:audit:log 0 -1", tenant);
    int found = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (strstr(r->element[i]->str, needle1) && (!needle2 || strstr(r->element[i]->str, needle2)))
            found = 1;
    if (r) freeReplyObject(r);
    return found;
}

static void create_ok(const char *tenant, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/tenants/%s/connections", tenant);
    int st;
    json_t *j = af_req(&E, E.op_key, "POST", path, body, &st);
    if (st != 201) fprintf(stderr, "create %s: %d %s\n", body, st, j ? json_dumps(j, 0) : "");
    CHECK(st == 201);
    json_decref(j);
}

static void test_create(void)
{
    int st;
    json_t *j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
                    "{\"id\":\"c1\",\"plugin\":\"tconn\",\"name\":\"Caf\\u00e9 page\","
                    "\"config\":{\"region\":\"eu\",\"page_ids\":[\"12\"]}}",
                    &st);
    CHECK(st == 201);
    CHECK_STR(at_str(j, "id"), "c1");
    CHECK_STR(at_str(j, "tenant"), "t1");
    CHECK_STR(at_str(j, "plugin"), "tconn");
    CHECK_STR(at_str(j, "name"), "Caf\xc3\xa9 page");
    CHECK_STR(at_str(j, "state"), "active");
    CHECK_STR(at_str(j, "cause"), "");
    CHECK(at_int(j, "version") == 1);
    CHECK(at_int(j, "interval_s") == 0);
    CHECK(at_int(j, "created_ms") > 0 && at_int(j, "updated_ms") >= at_int(j, "created_ms"));
    CHECK_STR(at_str(json_object_get(j, "config"), "region"), "eu");
    CHECK_STR(at_str(j, "webhook_url"), "https://c360.test/hooks/tconn/c1");
    json_decref(j);
    ch_conn *c = NULL;
    CHECK(ch_conn_get("t1", "c1", &c) == C360_OK && c && c->ticks == 1);
    ch_conn_free(c);

    /* generated id */
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn\",\"name\":\"gen\",\"config\":{\"region\":\"eu\"},\"interval_s\":60}",
            &st);
    CHECK(st == 201);
    CHECK(at_str(j, "id") && strlen(at_str(j, "id")) == 16 &&
          strspn(at_str(j, "id"), "0123456789abcdef") == 16);
    CHECK(at_int(j, "interval_s") == 60);
    json_decref(j);

    /* refusals */
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"id\":\"validate\",\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"eu\"}}",
            &st);
    CHECK(st == 422 && has_detail(j, "/id", NULL));
    json_decref(j);
    WANT(g_admin, "POST", "/v1/tenants/t1/connections",
         "{\"id\":\"c1\",\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"eu\"}}", 409, "conflict");
    WANT(g_admin, "POST", "/v1/tenants/t1/connections",
         "{\"plugin\":\"nosuch\",\"name\":\"x\"}", 404, "plugin_not_found");
    WANT(g_admin, "POST", "/v1/tenants/t1/connections",
         "{\"plugin\":\"tconn_app\",\"name\":\"x\",\"config\":{\"region\":\"eu\"}}", 403, "plugin_not_enabled");
    WANT(E.op_key, "POST", "/v1/tenants/nope/connections",
         "{\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"eu\"}}", 404, "tenant_not_found");
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn\",\"name\":\"\",\"config\":{\"region\":\"eu\"},\"interval_s\":90000}",
            &st);
    CHECK(st == 422 && has_detail(j, "/name", NULL) && has_detail(j, "/interval_s", NULL));
    json_decref(j);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn\",\"name\":\"x\",\"bogus\":1}", &st);
    CHECK(st == 422 && has_detail(j, "/bogus", NULL));
    json_decref(j);
    WANT(g_admin, "POST", "/v1/tenants/t1/connections", "{\"plugin\":", 400, NULL);
    WANT(g_viewer, "POST", "/v1/tenants/t1/connections",
         "{\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"eu\"}}", 403, NULL);
    WANT(g_other, "POST", "/v1/tenants/t1/connections",
         "{\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"eu\"}}", 403, NULL);
}

static void test_config_errors(void)
{
    int st;
    /* the schema's errors, field by field under /config */
    json_t *j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
                    "{\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"mars\","
                    "\"page_ids\":[\"1\",\"x2\"],\"extra\":true}}",
                    &st);
    CHECK(st == 422);
    CHECK_STR(at_code(j), "invalid_config");
    CHECK(has_detail(j, "/config/region", NULL));
    CHECK(has_detail(j, "/config/page_ids/1", "pattern"));
    CHECK(has_detail(j, "/config/extra", NULL));
    json_decref(j);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn\",\"name\":\"x\"}", &st); /* config {} lacks region */
    CHECK(st == 422 && has_detail(j, "/config/region", "required"));
    json_decref(j);
    /* the plugin's own validate_config */
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"eu\",\"page_ids\":[]}}",
            &st);
    CHECK(st == 422 && has_detail(j, "/config/page_ids", "at least one page"));
    json_decref(j);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn\",\"name\":\"x\",\"config\":{\"region\":\"us\"}}", &st);
    CHECK(st == 422 && has_detail(j, "/config/page_ids", "region us"));
    json_decref(j);
    /* a schema the validator cannot apply: refused, naming the schema */
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections",
            "{\"plugin\":\"tconn_bad\",\"name\":\"x\",\"config\":{\"x\":\"a\"}}", &st);
    CHECK(st == 422);
    CHECK_STR(at_code(j), "invalid_config");
    CHECK(has_detail(j, "/config", "tconn_bad"));
    json_decref(j);

    /* dry run: nothing stored */
    char **ids;
    size_t n0, n1;
    CHECK(ch_conn_list("t1", &ids, &n0) == C360_OK);
    ch_conn_ids_free(ids, n0);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections/validate",
            "{\"plugin\":\"tconn\",\"config\":{\"region\":\"eu\"}}", &st);
    CHECK(st == 200 && json_is_true(json_object_get(j, "valid")));
    json_decref(j);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections/validate",
            "{\"plugin\":\"tconn\",\"config\":{\"region\":\"eu\",\"page_ids\":[]}}", &st);
    CHECK(st == 422 && has_detail(j, "/config/page_ids", NULL));
    json_decref(j);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections/validate",
            "{\"plugin\":\"tconn\",\"config\":{\"region\":1},\"name\":\"x\"}", &st);
    CHECK(st == 422 && has_detail(j, "/name", NULL));
    json_decref(j);
    CHECK(ch_conn_list("t1", &ids, &n1) == C360_OK);
    ch_conn_ids_free(ids, n1);
    CHECK(n0 == n1);
}

static void test_limits(void)
{
    int st;
    uint32_t cap = 1;
    CHECK(ch_tenant_plugin_set("t2", "tconn", 1, &cap, NULL) == C360_OK);
    create_ok("t2", "{\"id\":\"t2a\",\"plugin\":\"tconn\",\"name\":\"a\",\"config\":{\"region\":\"eu\"}}");
    json_t *j = af_req(&E, E.op_key, "POST", "/v1/tenants/t2/connections",
                    "{\"plugin\":\"tconn\",\"name\":\"b\",\"config\":{\"region\":\"eu\"}}", &st);
    CHECK(st == 409);
    CHECK_STR(at_code(j), "limit_reached");
    json_decref(j);
    /* the tenant's own cap, over every plugin */
    CHECK(ch_tenant_plugin_set("t2", "tconn_dst", 1, NULL, NULL) == C360_OK);
    redisReply *r = ch_rconn_command("HSET c360:{t:t2}:tenant limits {\"max_connections\":1}");
    if (r) freeReplyObject(r);
    WANT(E.op_key, "POST", "/v1/tenants/t2/connections",
         "{\"plugin\":\"tconn_dst\",\"name\":\"d\"}", 409, "limit_reached");
    r = ch_rconn_command("HSET c360:{t:t2}:tenant limits {}");
    if (r) freeReplyObject(r);
    create_ok("t2", "{\"id\":\"t2d\",\"plugin\":\"tconn_dst\",\"name\":\"d\"}");
}

static void test_read(void)
{
    int st;
    json_t *j = GET(g_viewer, "/v1/tenants/t1/connections/c1", &st);
    CHECK(st == 200);
    CHECK_STR(at_str(j, "id"), "c1");
    json_decref(j);
    /* another tenant's connection is not found through this tenant */
    WANT(E.op_key, "GET", "/v1/tenants/t1/connections/t2a", NULL, 404, NULL);
    WANT(g_other, "GET", "/v1/tenants/t1/connections/c1", NULL, 403, NULL);
    /* paging */
    j = GET(g_viewer, "/v1/tenants/t1/connections?limit=1", &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "items")) == 1);
    const char *next = at_str(j, "next_cursor");
    CHECK(next != NULL);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/t1/connections?limit=10&cursor=%s", next ? next : "");
    json_t *k = GET(g_viewer, path, &st);
    CHECK(st == 200 && json_array_size(json_object_get(k, "items")) >= 1);
    CHECK(json_is_null(json_object_get(k, "next_cursor")));
    json_decref(k);
    json_decref(j);
    WANT(g_viewer, "GET", "/v1/tenants/t1/connections?limit=0", NULL, 400, NULL);
    /* webhook URLs */
    CHECK(ch_tenant_plugin_set("t1", "tconn_app", 1, NULL, NULL) == C360_OK);
    CHECK(ch_tenant_plugin_set("t1", "tconn_dst", 1, NULL, NULL) == C360_OK);
    create_ok("t1", "{\"id\":\"app1\",\"plugin\":\"tconn_app\",\"name\":\"a\",\"config\":{\"region\":\"eu\"}}");
    create_ok("t1", "{\"id\":\"dst1\",\"plugin\":\"tconn_dst\",\"name\":\"d\",\"config\":{}}");
    j = GET(g_viewer, "/v1/tenants/t1/connections/app1", &st);
    CHECK_STR(at_str(j, "webhook_url"), "https://c360.test/hooks/tconn_app");
    json_decref(j);
    j = GET(g_viewer, "/v1/tenants/t1/connections/dst1", &st);
    CHECK(json_is_null(json_object_get(j, "webhook_url")));
    json_decref(j);
}

static void test_patch(void)
{
    int st;
    json_t *j = af_req_full(&E, g_admin, "PATCH", "/v1/tenants/t1/connections/c1",
                            "{\"name\":\"renamed\"}", NULL, "\"7\"", &st);
    CHECK(st == 409);
    CHECK_STR(at_code(j), "version_conflict");
    json_decref(j);
    j = af_req_full(&E, g_admin, "PATCH", "/v1/tenants/t1/connections/c1",
                    "{\"name\":\"renamed\"}", NULL, "\"1\"", &st);
    CHECK(st == 200 && at_int(j, "version") == 2);
    CHECK_STR(at_str(j, "name"), "renamed");
    CHECK_STR(at_str(json_object_get(j, "config"), "region"), "eu"); /* kept */
    json_decref(j);
    j = af_req(&E, g_admin, "PATCH", "/v1/tenants/t1/connections/c1",
            "{\"config\":{\"region\":\"us\",\"page_ids\":[\"5\"]},\"interval_s\":120,\"version\":2}",
            &st);
    CHECK(st == 200 && at_int(j, "version") == 3 && at_int(j, "interval_s") == 120);
    CHECK_STR(at_str(j, "name"), "renamed");
    json_decref(j);
    j = af_req(&E, g_admin, "PATCH", "/v1/tenants/t1/connections/c1",
            "{\"config\":{\"region\":\"us\"},\"version\":3}", &st);
    CHECK(st == 422 && has_detail(j, "/config/page_ids", NULL));
    json_decref(j);
    WANT(g_admin, "PATCH", "/v1/tenants/t1/connections/c1",
         "{\"version\":1,\"name\":\"z\"}", 409, NULL);
    j = af_req(&E, g_admin, "PATCH", "/v1/tenants/t1/connections/c1", "{\"plugin\":\"tconn_dst\"}", &st);
    CHECK(st == 422); /* the plugin never changes: unknown field */
    json_decref(j);
    WANT(g_admin, "PATCH", "/v1/tenants/t1/connections/nosuch", "{\"name\":\"z\"}", 404, NULL);
    CHECK(audit_has("t1", "connection.update", "c1"));
}

static void test_state(void)
{
    int st;
    json_t *j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections/c1/sync", NULL, &st);
    CHECK(st == 202);
    json_decref(j);
    CHECK(audit_has("t1", "connection.sync", NULL));
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections/c1/pause", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(at_str(j, "state"), "paused");
    json_decref(j);
    CHECK(redis_int("ZSCORE %s %s", "c360:{sched}:due", "t1/c1") == -1); /* nil: unscheduled */
    WANT(g_admin, "POST", "/v1/tenants/t1/connections/c1/pause", NULL, 200, NULL);
    WANT(g_admin, "POST", "/v1/tenants/t1/connections/c1/sync", NULL, 409, NULL);
    j = af_req(&E, g_admin, "POST", "/v1/tenants/t1/connections/c1/resume", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(at_str(j, "state"), "active");
    json_decref(j);
    WANT(g_admin, "POST", "/v1/tenants/t1/connections/c1/resume", NULL, 200, NULL);
    CHECK(ch_conn_set_state("t1", "c1", "failing", "boom", "system", NULL) == C360_OK);
    WANT(g_admin, "POST", "/v1/tenants/t1/connections/c1/resume", NULL, 409, "invalid_state");
    CHECK(ch_conn_set_state("t1", "c1", "active", "", "system", NULL) == C360_OK);
    WANT(g_admin, "POST", "/v1/tenants/t1/connections/dst1/sync", NULL, 409, "cannot_sync");
    WANT(g_viewer, "POST", "/v1/tenants/t1/connections/c1/pause", NULL, 403, NULL);
    CHECK(audit_has("t1", "connection.state", "paused"));
}

static void test_routes(void)
{
    int st;
    json_t *j = af_req(&E, g_admin, "PUT", "/v1/tenants/t1/connections/c1/routes/dst1",
                    "{\"mapping\":{\"email\":{\"from\":\"/contact/email\"},"
                    "\"meta.source\":{\"const\":\"tconn\"}}}",
                    &st);
    CHECK(st == 200);
    CHECK_STR(at_str(j, "destination"), "dst1");
    CHECK(json_is_object(json_object_get(j, "mapping")));
    json_decref(j);
    j = GET(g_viewer, "/v1/tenants/t1/connections/c1/routes", &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "items")) == 1);
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    CHECK_STR(at_str(it, "destination"), "dst1");
    CHECK_STR(at_str(json_object_get(json_object_get(it, "mapping"), "email"), "from"), "/contact/email");
    json_decref(j);
    /* again without a mapping: the mapping goes */
    j = af_req(&E, g_admin, "PUT", "/v1/tenants/t1/connections/c1/routes/dst1", NULL, &st);
    CHECK(st == 200 && json_is_null(json_object_get(j, "mapping")));
    json_decref(j);
    /* refusals */
    j = af_req(&E, g_admin, "PUT", "/v1/tenants/t1/connections/dst1/routes/c1", "{}", &st);
    CHECK(st == 422);
    CHECK_STR(at_code(j), "invalid_route"); /* dst1 is no source */
    json_decref(j);
    j = af_req(&E, g_admin, "PUT", "/v1/tenants/t1/connections/c1/routes/app1", "{}", &st);
    CHECK(st == 422); /* app1 is no destination */
    json_decref(j);
    j = af_req(&E, g_admin, "PUT", "/v1/tenants/t1/connections/c1/routes/t2d", "{}", &st);
    CHECK(st == 404); /* another tenant's */
    json_decref(j);
    j = af_req(&E, g_admin, "PUT", "/v1/tenants/t1/connections/c1/routes/dst1",
            "{\"mapping\":{\"a\":{\"from\":\"no-slash\"},\"b\":{\"const\":1,\"from\":\"/x\"},"
            "\"c\":{\"const\":1},\"c.d\":{\"const\":2},\"\":{\"const\":1}}}",
            &st);
    CHECK(st == 422);
    CHECK(has_detail(j, "/mapping/a/from", NULL));
    CHECK(has_detail(j, "/mapping/b", NULL));
    CHECK(has_detail(j, "/mapping/c", "parent"));
    json_decref(j);
    WANT(g_viewer, "PUT", "/v1/tenants/t1/connections/c1/routes/dst1", "{}", 403, NULL);
    CHECK(audit_has("t1", "connection.route.add", "dst1"));
    /* the route goes with DELETE */
    WANT(g_admin, "DELETE", "/v1/tenants/t1/connections/c1/routes/dst1", NULL, 204, NULL);
    WANT(g_admin, "DELETE", "/v1/tenants/t1/connections/c1/routes/dst1", NULL, 404, NULL);
    CHECK(audit_has("t1", "connection.route.remove", "dst1"));
    /* a route (with a mapping) whose destination is deleted disappears */
    WANT(g_admin, "PUT", "/v1/tenants/t1/connections/c1/routes/dst1",
         "{\"mapping\":{\"x\":{\"from\":\"\"}}}", 200, NULL);
}

/* conns_mapping.h: what a mapping makes of a record. */
static void test_mapping_apply(void)
{
    json_t *m = json_loads("{\"email\":{\"from\":\"/contact/email\"},"
                           "\"meta.source\":{\"const\":\"tconn\"},\"meta.n\":{\"const\":2},"
                           "\"first\":{\"from\":\"/tags/0\"},\"odd\":{\"from\":\"/a~1b\"},"
                           "\"missing\":{\"from\":\"/nope\"},\"all\":{\"from\":\"\"}}",
                           0, NULL);
    json_t *rec = json_loads("{\"contact\":{\"email\":\"a@b.example\"},\"tags\":[\"x\",\"y\"],"
                             "\"a/b\":1}", 0, NULL);
    json_t *out = ch_mapping_apply(m, rec);
    CHECK(out != NULL);
    CHECK_STR(at_str(out, "email"), "a@b.example");
    CHECK_STR(at_str(json_object_get(out, "meta"), "source"), "tconn");
    CHECK(at_int(json_object_get(out, "meta"), "n") == 2);
    CHECK_STR(at_str(out, "first"), "x");
    CHECK(at_int(out, "odd") == 1);
    CHECK(json_object_get(out, "missing") == NULL);
    CHECK(json_equal(json_object_get(out, "all"), rec));
    json_decref(out);
    json_t *arr = json_loads("[1]", 0, NULL);
    CHECK(ch_mapping_apply(m, arr) == NULL); /* records are objects */
    json_decref(arr);
    json_t *bad = json_loads("{\"a\":{\"from\":\"x\"}}", 0, NULL);
    CHECK(ch_mapping_apply(bad, rec) == NULL);
    json_decref(bad);
    json_decref(m);
    json_decref(rec);
}

static int mark_says(const char *tenant, const char *conn, const char *want)
{
    char path[512], buf[32] = "";
    snprintf(path, sizeof path, "%s/%s.%s", g_markdir, tenant, conn);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strcmp(buf, want) == 0;
}

static void xadd_event(const char *tenant, const char *conn, char *id_out, size_t cap)
{
    redisReply *r = ch_rconn_command("XADD c360:{t:%s}:ev * k wh c %s p tconn t 1 a 1 b {}",
                                     tenant, conn);
    snprintf(id_out, cap, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r) freeReplyObject(r);
}

static long long stream_count_of(const char *tenant, const char *conn)
{
    redisReply *r = ch_rconn_command("XRANGE c360:{t:%s}:ev - +", tenant);
    long long n = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            if (strcmp(f->element[k]->str, "c") == 0 && strcmp(f->element[k + 1]->str, conn) == 0)
                n++;
    }
    if (r) freeReplyObject(r);
    return n;
}

static void test_disconnect(void)
{
    int st;
    create_ok("t1", "{\"id\":\"gone1\",\"plugin\":\"tconn\",\"name\":\"g\",\"config\":{\"region\":\"eu\"}}");
    CHECK(ch_conn_route_put("t1", "gone1", "dst1", "{\"x\":{\"const\":1}}", "system", NULL) ==
          C360_OK);
    char err[128];
    CHECK(ch_secret_put("t1", "gone1", "api_key", "s3cr3t", 6, err, sizeof err) == C360_OK);
    /* pending events: one read by a consumer (pending), one unread; and one
     * of another connection that must stay */
    char e1[64], e2[64], e3[64];
    xadd_event("t1", "gone1", e1, sizeof e1);
    redisReply *r = ch_rconn_command("XGROUP CREATE c360:{t:t1}:ev w 0");
    if (r) freeReplyObject(r);
    r = ch_rconn_command("XREADGROUP GROUP w tester COUNT 10 STREAMS c360:{t:t1}:ev >");
    if (r) freeReplyObject(r);
    xadd_event("t1", "gone1", e2, sizeof e2);
    xadd_event("t1", "c1", e3, sizeof e3);
    r = ch_rconn_command("ZADD c360:{t:t1}:retry 1 %s", e1);
    if (r) freeReplyObject(r);
    CHECK(stream_count_of("t1", "gone1") == 2);

    json_t *j = af_req(&E, g_viewer, "DELETE", "/v1/tenants/t1/connections/gone1", NULL, &st);
    CHECK(st == 403);
    json_decref(j);
    j = af_req(&E, g_admin, "DELETE", "/v1/tenants/t1/connections/gone1", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(at_str(j, "outcome"), "ok");
    json_decref(j);
    CHECK(mark_says("t1", "gone1", "ok"));
    ch_conn *c = NULL;
    CHECK(ch_conn_get("t1", "gone1", &c) == C360_ENOTFOUND);
    CHECK(stream_count_of("t1", "gone1") == 0);
    CHECK(stream_count_of("t1", "c1") == 1);
    r = ch_rconn_command("XPENDING c360:{t:t1}:ev w");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 0);
    if (r) freeReplyObject(r);
    CHECK(redis_int("ZCARD %s%s", "c360:{t:t1}:retry", "") == 0);
    uint8_t *v = NULL;
    size_t vl;
    CHECK(ch_secret_get("t1", "gone1", "api_key", &v, &vl, err, sizeof err) == C360_ENOTFOUND);
    char *m = NULL;
    CHECK(ch_conn_route_mapping("t1", "gone1", "dst1", &m) == C360_OK && m == NULL);
    int64_t exp = 0;
    CHECK(ch_conn_gone_get("gone1", &exp) == C360_OK && exp > ch_now_ms());
    CHECK(audit_has("t1", "connection.disconnect", "\"ok\""));
    WANT(g_admin, "GET", "/v1/tenants/t1/connections/gone1", NULL, 404, NULL);
    WANT(g_admin, "DELETE", "/v1/tenants/t1/connections/gone1", NULL, 404, NULL);

    /* a failing disconnect callback does not keep the data */
    create_ok("t1", "{\"id\":\"gone2\",\"plugin\":\"tconn\",\"name\":\"g\","
                    "\"config\":{\"region\":\"eu\",\"fail_disconnect\":true}}");
    j = af_req(&E, g_admin, "DELETE", "/v1/tenants/t1/connections/gone2", NULL, &st);
    CHECK(st == 200);
    CHECK_CONTAINS(at_str(j, "outcome"), "revoke failed");
    CHECK_CONTAINS(at_str(j, "outcome"), "i/o error");
    json_decref(j);
    CHECK(mark_says("t1", "gone2", "failed"));
    CHECK(ch_conn_get("t1", "gone2", &c) == C360_ENOTFOUND);
    CHECK(audit_has("t1", "connection.disconnect", "revoke failed"));

    /* the destination of a route: the route of its source goes */
    WANT(g_admin, "DELETE", "/v1/tenants/t1/connections/dst1", NULL, 200, NULL);
    char **dsts;
    size_t n;
    CHECK(ch_conn_route_list("t1", "c1", &dsts, &n) == C360_OK && n == 0);
    ch_conn_ids_free(dsts, n);
    CHECK(ch_conn_route_mapping("t1", "c1", "dst1", &m) == C360_OK && m == NULL);

    /* the id can be used again: the tombstone goes */
    create_ok("t1", "{\"id\":\"gone1\",\"plugin\":\"tconn\",\"name\":\"again\",\"config\":{\"region\":\"eu\"}}");
    CHECK(ch_conn_gone_get("gone1", &exp) == C360_OK && exp == 0);

    /* straight through the C function (tenant deletion's way) */
    CHECK(ch_conn_disconnect(E.admin, "t1", "nosuch", "system", NULL, NULL, 0) == C360_ENOTFOUND);
    char outcome[256];
    CHECK(ch_conn_disconnect(E.admin, "t1", "gone1", "system", "rid1", outcome, sizeof outcome) ==
          C360_OK);
    CHECK_STR(outcome, "ok");
}

int main(void)
{
    snprintf(g_markdir, sizeof g_markdir, "/tmp/c360-tconn-%d", (int)getpid());
    mkdir(g_markdir, 0700);
    setenv("TCONN_MARK_DIR", g_markdir, 1);
    static const char *const plugins[] = {"tconn", "tconn_app", "tconn_dst", "tconn_bad", NULL};
    af_start(&E, plugins);
    af_tenant(&E, "t1");
    af_tenant(&E, "t2");
    CHECK(ch_tenant_plugin_set("t1", "tconn", 1, NULL, NULL) == C360_OK);
    CHECK(ch_tenant_plugin_set("t1", "tconn_bad", 1, NULL, NULL) == C360_OK);
    af_key(&E, CH_ROLE_TENANT_ADMIN, "t1", g_admin);
    af_key(&E, CH_ROLE_TENANT_VIEWER, "t1", g_viewer);
    af_key(&E, CH_ROLE_TENANT_ADMIN, "t2", g_other);

    test_create();
    test_config_errors();
    test_limits();
    test_read();
    test_patch();
    test_state();
    test_routes();
    test_mapping_apply();
    test_disconnect();

    af_stop(&E);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_markdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_markdir);
    CHECK_DONE();
}
