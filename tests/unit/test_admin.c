/* test_admin.c -- the admin API's dispatcher and API keys: routing (404,
 * 405 with Allow, literal segments over parameters, bad ids), the error
 * shape, authentication (missing, malformed, unknown, revoked keys), the
 * slow-down of failed authentications per address, the per-key budget,
 * roles and the tenant scope, the first operator key, /v1/me and
 * /v1/plugins, and the request helpers (bodies, If-Match, paging). */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_fixture.h"
#include "check.h"

static const char *code_of(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static void test_routing(af_env *e)
{
    int st;
    json_t *j = af_req(e, e->op_key, "GET", "/v1/nope", NULL, &st);
    CHECK(st == 404);
    CHECK_STR(code_of(j), "not_found");
    CHECK(json_is_string(json_object_get(json_object_get(j, "error"), "request_id")));
    json_decref(j);
    j = af_req(e, e->op_key, "DELETE", "/v1/me", NULL, &st);
    CHECK(st == 405);
    CHECK_STR(code_of(j), "method_not_allowed");
    json_decref(j);
    j = af_req(e, e->op_key, "GET", "/v1/plugins/bad%2Fname", NULL, &st);
    CHECK(st == 400);
    CHECK_STR(code_of(j), "bad_id");
    json_decref(j);
    j = af_req(e, e->op_key, "GET", "/v1/plugins/has.dot", NULL, &st);
    CHECK(st == 400);
    json_decref(j);
    j = af_req(e, e->op_key, "GET", "/v1/plugins/tsrc", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "tsrc");
    json_decref(j);
    j = af_req(e, e->op_key, "GET", "/v1/plugins/none_such", NULL, &st);
    CHECK(st == 404);
    json_decref(j);
}

static void test_auth(af_env *e)
{
    int st;
    json_t *j = af_req(e, NULL, "GET", "/v1/me", NULL, &st);
    CHECK(st == 401);
    CHECK_STR(code_of(j), "unauthenticated");
    json_decref(j);
    j = af_req(e, "c360k_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET",
               "/v1/me", NULL, &st);
    CHECK(st == 401);
    CHECK_STR(code_of(j), "invalid_key");
    json_decref(j);
    /* The right id with a wrong secret. */
    char k[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_OPERATOR, "", k);
    char bad[CH_APIKEY_TEXT_MAX];
    snprintf(bad, sizeof bad, "%s", k);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
    j = af_req(e, bad, "GET", "/v1/me", NULL, &st);
    CHECK(st == 401);
    json_decref(j);
    j = af_req(e, k, "GET", "/v1/me", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(j, "role")), "operator");
    CHECK(json_is_null(json_object_get(j, "tenant")));
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "key_id")));
    json_decref(j);
    /* Last-used is recorded; the stored record never holds the key text. */
    ch_apikey_info info;
    CHECK(ch_apikey_get(id, &info) == C360_OK);
    CHECK(info.last_used_ms > 0);
    redisReply *r = ch_rconn_command("HGETALL c360:{auth}:key:%s", id);
    for (size_t i = 0; r && i < r->elements; i++)
        CHECK(strstr(k + 23, r->element[i]->str) == NULL || r->element[i]->len < 8);
    if (r) freeReplyObject(r);
    /* Revoked: refused. */
    CHECK(ch_apikey_revoke(id) == C360_OK);
    j = af_req(e, k, "GET", "/v1/me", NULL, &st);
    CHECK(st == 401);
    json_decref(j);
    CHECK(ch_apikey_revoke("ffffffffffffffff") == C360_ENOTFOUND);
}

static void test_auth_throttle(void)
{
    af_env e;
    ch_admin_settings s;
    ch_admin_settings_default(&s);
    s.auth_fail_per_min = 3;
    s.key_rate_per_s = 2;
    s.key_burst = 2;
    af_start_with(&e, NULL, &s);
    int st, got429 = 0;
    for (int i = 0; i < 6; i++) {
        json_t *j = af_req(&e, "c360k_nope", "GET", "/v1/me", NULL, &st);
        if (st == 429) {
            got429++;
            CHECK_STR(code_of(j), "auth_throttled");
        }
        json_decref(j);
    }
    CHECK(got429 >= 2);
    /* A good key still passes from a blocked address (behind a proxy all
     * clients share one), while bad ones keep getting 429... */
    json_t *j = af_req(&e, e.op_key, "GET", "/v1/me", NULL, &st);
    CHECK(st == 200);
    json_decref(j);
    j = af_req(&e, "c360k_nope", "GET", "/v1/me", NULL, &st);
    CHECK(st == 429);
    json_decref(j);
    /* ...and the block is audited in the system chain. */
    redisReply *r = ch_rconn_command("LRANGE c360:{t:_system}:audit:log 0 -1");
    int seen = 0;
    for (size_t i = 0; r && i < r->elements; i++)
        if (strstr(r->element[i]->str, "auth.throttled")) seen = 1;
    if (r) freeReplyObject(r);
    CHECK(seen);
    /* Per-key budget: 2/s with a burst of 2. */
    r = ch_rconn_command("DEL c360:{auth}:block:127.0.0.1");
    if (r) freeReplyObject(r);
    int ok = 0, limited = 0;
    for (int i = 0; i < 6; i++) {
        j = af_req(&e, e.op_key, "GET", "/v1/me", NULL, &st);
        if (st == 200) ok++;
        if (st == 429) {
            limited++;
            CHECK_STR(code_of(j), "rate_limited");
        }
        json_decref(j);
    }
    CHECK(ok >= 1 && ok <= 3); /* the good key above took one */
    CHECK(limited >= 3);
    af_stop(&e);
}

static void test_bootstrap(void)
{
    af_env e;
    af_start(&e, NULL);
    /* The fixture made an operator key: nothing to do. */
    char path[] = "/tmp/c360-opkey-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    int created = -1;
    CHECK(ch_apikey_bootstrap(path, &created) == C360_OK);
    CHECK(created == 0);
    CHECK(access(path, F_OK) != 0);
    /* With every operator key revoked, a new one is made and written. */
    json_t *items = NULL;
    CHECK(ch_apikey_list("", &items) == C360_OK);
    size_t i;
    json_t *k;
    json_array_foreach(items, i, k) ch_apikey_revoke(json_string_value(json_object_get(k, "id")));
    json_decref(items);
    redisReply *r = ch_rconn_command("DEL c360:{auth}:bootstrap");
    if (r) freeReplyObject(r);
    CHECK(ch_apikey_bootstrap(path, &created) == C360_OK);
    CHECK(created == 1);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    char text[CH_APIKEY_TEXT_MAX] = "";
    FILE *f = fopen(path, "r");
    CHECK(f && fgets(text, sizeof text, f));
    if (f) fclose(f);
    text[strcspn(text, "\n")] = '\0';
    int st;
    json_t *j = af_req(&e, text, "GET", "/v1/me", NULL, &st);
    CHECK(st == 200);
    json_decref(j);
    unlink(path);
    af_stop(&e);
}

static void test_roles(af_env *e)
{
    char v[CH_APIKEY_TEXT_MAX], a[CH_APIKEY_TEXT_MAX];
    af_tenant(e, "ta");
    af_key(e, CH_ROLE_TENANT_VIEWER, "ta", v);
    af_key(e, CH_ROLE_TENANT_ADMIN, "ta", a);
    int st;
    json_t *j = af_req(e, v, "GET", "/v1/me", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(j, "tenant")), "ta");
    CHECK_STR(json_string_value(json_object_get(j, "role")), "tenant_viewer");
    json_decref(j);
    /* Tenants do not see plugin file paths or refusals. */
    j = af_req(e, v, "GET", "/v1/plugins", NULL, &st);
    CHECK(st == 200);
    json_t *p0 = json_array_get(json_object_get(j, "plugins"), 0);
    CHECK(p0 && !json_object_get(p0, "file"));
    CHECK(!json_object_get(j, "refused"));
    json_decref(j);
    j = af_req(e, e->op_key, "GET", "/v1/plugins", NULL, &st);
    p0 = json_array_get(json_object_get(j, "plugins"), 0);
    CHECK(p0 && json_object_get(p0, "file"));
    json_decref(j);
    /* OpenAPI is public. */
    j = af_req(e, NULL, "GET", "/v1/openapi.json", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(j, "openapi")), "3.0.3");
    json_decref(j);
}

/* The helpers, through a throw-away context. */
static void test_helpers(void)
{
    ch_actx x;
    memset(&x, 0, sizeof x);
    x.request_id = "r1";
    x.query = "limit=5&cursor=a%20b&flag&x=%zz";
    char buf[64];
    CHECK(ch_aquery(&x, "cursor", buf, sizeof buf) == 1);
    CHECK_STR(buf, "a b");
    CHECK(ch_aquery(&x, "flag", buf, sizeof buf) == 1);
    CHECK_STR(buf, "");
    CHECK(ch_aquery(&x, "x", buf, sizeof buf) == -1);
    CHECK(ch_aquery(&x, "missing", buf, sizeof buf) == 0);
    ch_apage pg;
    CHECK(ch_apage_parse(&x, 10, 100, &pg) == 0);
    CHECK(pg.limit == 5);
    x.query = "limit=0";
    CHECK(ch_apage_parse(&x, 10, 100, &pg) == -1);
    CHECK(x.status == 400);
    ch_actx_clear(&x);

    static const ch_afield f[] = {{"name", CH_AF_STRING, 1, 5}, {"n", CH_AF_INT, 0, 0}, {NULL}};
    x.content_type = "application/json; charset=utf-8";
    x.body = (const uint8_t *)"{\"name\":\"abc\",\"n\":2}";
    x.body_len = strlen((const char *)x.body);
    json_t *o = ch_abody(&x, f);
    CHECK(o != NULL);
    json_decref(o);
    x.body = (const uint8_t *)"{\"name\":\"abcdefg\",\"n\":\"2\",\"zz\":1}";
    x.body_len = strlen((const char *)x.body);
    CHECK(ch_abody(&x, f) == NULL);
    CHECK(x.status == 422);
    CHECK(json_array_size(json_object_get(json_object_get(x.resp, "error"), "details")) == 3);
    ch_actx_clear(&x);
    x.body = (const uint8_t *)"{\"name\":";
    x.body_len = strlen((const char *)x.body);
    CHECK(ch_abody(&x, f) == NULL);
    CHECK(x.status == 400);
    ch_actx_clear(&x);
    x.body = (const uint8_t *)"{\"n\":1}";
    x.body_len = strlen((const char *)x.body);
    CHECK(ch_abody(&x, f) == NULL);
    CHECK(x.status == 422); /* name required */
    ch_actx_clear(&x);
    x.content_type = "text/plain";
    CHECK(ch_abody(&x, f) == NULL);
    CHECK(x.status == 415);
    ch_actx_clear(&x);

    uint64_t v = 0;
    x.if_match = "\"7\"";
    CHECK(ch_aexpected_version(&x, NULL, &v) == 1 && v == 7);
    x.if_match = "W/\"8\"";
    CHECK(ch_aexpected_version(&x, NULL, &v) == 1 && v == 8);
    x.if_match = "7";
    CHECK(ch_aexpected_version(&x, NULL, &v) == -1);
    CHECK(x.status == 400);
    ch_actx_clear(&x);
    x.if_match = NULL;
    json_t *b = json_pack("{s:i}", "version", 3);
    CHECK(ch_aexpected_version(&x, b, &v) == 1 && v == 3);
    json_decref(b);
    CHECK(ch_aexpected_version(&x, NULL, &v) == 0);

    char *ids[] = {"a", "b", "c", "d", "e"};
    ch_apage p2 = {.limit = 2};
    json_t *page;
    char next[80];
    ch_apage_ids(ids, 5, &p2, &page, next, sizeof next);
    CHECK(json_array_size(page) == 2);
    CHECK_STR(next, "b");
    json_decref(page);
    snprintf(p2.cursor, sizeof p2.cursor, "%s", next);
    p2.limit = 10;
    ch_apage_ids(ids, 5, &p2, &page, next, sizeof next);
    CHECK(json_array_size(page) == 3);
    CHECK_STR(next, "");
    json_decref(page);
}

int main(void)
{
    test_helpers();
    af_env e;
    static const char *const plugins[] = {"tsrc", "tdst", NULL};
    af_start(&e, plugins);
    test_routing(&e);
    test_auth(&e);
    test_roles(&e);
    af_stop(&e);
    test_auth_throttle();
    test_bootstrap();
    CHECK_DONE();
}
