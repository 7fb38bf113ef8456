/* test_api_tenants.c -- /v1/tenants and /v1/tenants/{tenant}/plugins through
 * the full dispatcher (af_req): create, list (paged, sorted), get, PATCH
 * with optimistic concurrency, delete; the per-tenant plugin settings;
 * every route with malformed JSON, wrong types, unknown fields, huge
 * bodies and bad ids; audit entries in the tenant's and the "_system"
 * chains. And the deletion proof: a tenant populated through the real
 * services (connections, routes, routing keys, secrets, state, status,
 * rate budgets, events, deliveries, dead letters, dedup keys, API keys,
 * plugin settings) plus stale index entries is deleted, then a SCAN of the
 * whole Redis finds nothing of it -- no key name and no value -- except
 * its own audit chain and the "_system" chain's deletion record, while
 * another tenant's keys and index entries are exactly as they were. */
#include <inttypes.h>

#include "api_test_util.h"
#include "check.h"
#include "conns.h"
#include "connstatus.h"
#include "pipeline_fixture.h"
#include "ratelimit.h"
#include "secrets.h"
#include "state.h"
#include "tenant_purge.h"
#include "tenants.h"

/* Whether the tenant's chain ("" = "_system") holds action on target. */
static int audited(const char *tenant, const char *action, const char *target)
{
    json_t *entries = at_audit_entries(tenant[0] ? tenant : "_system", action, 1000);
    if (!entries) return 0;
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(entries, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "target")), target) == 0) found = 1;
    }
    json_decref(entries);
    return found;
}

static void test_create_get_list(af_env *e)
{
    json_t *j = REQ(e->op_key, "POST", "/v1/tenants",
                    "{\"id\":\"acme\",\"name\":\"Acme Corp\",\"limits\":{\"max_connections\":5},"
                    "\"retention_days\":30}",
                    201);
    CHECK_STR(json_string_value(json_object_get(j, "id")), "acme");
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Acme Corp");
    CHECK(at_int(json_object_get(j, "limits"), "max_connections") == 5);
    CHECK(at_int(j, "retention_days") == 30);
    CHECK(at_int(j, "version") == 1);
    CHECK(at_int(j, "created_ms") > 1600000000000LL);
    CHECK(at_int(j, "updated_ms") == at_int(j, "created_ms"));
    CHECK(json_object_size(j) == 7);
    json_decref(j);
    CHECK(audited("acme", "tenant.create", "acme"));
    CHECK(audited("", "tenant.create", "acme"));

    /* defaults */
    j = REQ(e->op_key, "POST", "/v1/tenants", "{\"id\":\"beta\",\"name\":\"Beta\"}", 201);
    CHECK(json_object_size(json_object_get(j, "limits")) == 0);
    CHECK(at_int(j, "retention_days") == 0);
    json_decref(j);

    /* duplicate */
    WANT(e->op_key, "POST", "/v1/tenants", "{\"id\":\"acme\",\"name\":\"Other\"}", 409, "exists");
    j = REQ(e->op_key, "GET", "/v1/tenants/acme", NULL, 200);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "Acme Corp"); /* untouched */
    json_decref(j);

    /* validation, one field at a time */
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"bad id\",\"name\":\"x\"}", "/id");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"_system\",\"name\":\"x\"}", "/id");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"\",\"name\":\"x\"}", "/id");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"\"}", "/name");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"a\\nb\"}", "/name");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\"}", "/name");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"name\":\"x\"}", "/id");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":{\"max_users\":3}}",
             "/limits/max_users");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":{\"a/b~c\":3}}",
             "/limits/a~1b~0c");
    WANT_422(e->op_key, "POST", "/v1/tenants",
             "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":{\"max_connections\":-1}}",
             "/limits/max_connections");
    WANT_422(e->op_key, "POST", "/v1/tenants",
             "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":{\"max_connections\":\"3\"}}",
             "/limits/max_connections");
    WANT_422(e->op_key, "POST", "/v1/tenants",
             "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":{\"max_connections\":null}}",
             "/limits/max_connections");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"retention_days\":3651}",
             "/retention_days");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"retention_days\":-1}",
             "/retention_days");
    /* wrong types, unknown fields */
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":7,\"name\":\"x\"}", "/id");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":[]}", "/limits");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"retention_days\":1.5}",
             "/retention_days");
    WANT_422(e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\",\"owner\":\"me\"}", "/owner");
    /* malformed */
    json_t *m = REQ(e->op_key, "POST", "/v1/tenants", "{\"id\":", 400);
    CHECK_STR(at_code(m), "malformed_json");
    json_decref(m);
    m = REQ(e->op_key, "POST", "/v1/tenants", "[1,2]", 400);
    json_decref(m);
    int st;
    m = af_req_full(e, e->op_key, "POST", "/v1/tenants", "{\"id\":\"ok1\",\"name\":\"x\"}",
                    "text/plain", NULL, &st);
    CHECK(st == 415);
    json_decref(m);
    /* huge: a bounded answer that does not echo the value */
    size_t big = 1 << 20;
    char *body = malloc(big + 64);
    int n = snprintf(body, big + 64, "{\"id\":\"ok1\",\"name\":\"");
    memset(body + n, 'N', big);
    strcpy(body + n + big, "\"}");
    m = REQ(e->op_key, "POST", "/v1/tenants", body, 422);
    CHECK_STR(at_detail_path(m, 0), "/name");
    char *txt = json_dumps(m, JSON_COMPACT);
    CHECK(strlen(txt) < 1000);
    free(txt);
    json_decref(m);
    memset(body, 0, big + 64);
    n = snprintf(body, big + 64, "{\"id\":\"ok1\",\"name\":\"x\",\"limits\":{\"");
    memset(body + n, 'k', big);
    strcpy(body + n + big, "\":1}}");
    m = REQ(e->op_key, "POST", "/v1/tenants", body, 422);
    txt = json_dumps(m, JSON_COMPACT);
    CHECK(strlen(txt) < 1000);
    free(txt);
    json_decref(m);
    free(body);
    DO(e->op_key, "GET", "/v1/tenants/ok1", NULL, 404); /* none of those created it */

    /* get */
    DO(e->op_key, "GET", "/v1/tenants/nope", NULL, 404);
    DO(e->op_key, "GET", "/v1/tenants/bad%20id", NULL, 400);
    char tv[CH_APIKEY_TEXT_MAX], ta[CH_APIKEY_TEXT_MAX], other[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_TENANT_VIEWER, "acme", tv);
    af_key(e, CH_ROLE_TENANT_ADMIN, "acme", ta);
    af_key(e, CH_ROLE_TENANT_ADMIN, "beta", other);
    j = REQ(tv, "GET", "/v1/tenants/acme", NULL, 200);
    CHECK_STR(json_string_value(json_object_get(j, "id")), "acme");
    json_decref(j);
    WANT(other, "GET", "/v1/tenants/acme", NULL, 403, "forbidden_tenant");
    /* operator-only routes */
    DO(ta, "GET", "/v1/tenants", NULL, 403);
    DO(ta, "POST", "/v1/tenants", "{\"id\":\"x1\",\"name\":\"x\"}", 403);
    DO(ta, "PATCH", "/v1/tenants/acme", "{\"name\":\"x\"}", 403);
    DO(ta, "DELETE", "/v1/tenants/acme", NULL, 403);
    DO(NULL, "GET", "/v1/tenants", NULL, 401);

    /* list: sorted, paged */
    const char *more[] = {"delta", "charlie", "echo"};
    for (size_t i = 0; i < 3; i++) {
        char b[128];
        snprintf(b, sizeof b, "{\"id\":\"%s\",\"name\":\"%s\"}", more[i], more[i]);
        DO(e->op_key, "POST", "/v1/tenants", b, 201);
    }
    const char *want[] = {"acme", "beta", "charlie", "delta", "echo"};
    char target[128] = "/v1/tenants?limit=2";
    size_t seen = 0;
    for (int page = 0; page < 5; page++) {
        j = REQ(e->op_key, "GET", target, NULL, 200);
        json_t *items = json_object_get(j, "items");
        CHECK(json_array_size(items) <= 2);
        size_t i;
        json_t *v;
        json_array_foreach(items, i, v) {
            CHECK(seen < 5);
            if (seen < 5) CHECK_STR(json_string_value(json_object_get(v, "id")), want[seen]);
            CHECK(json_is_object(json_object_get(v, "limits")));
            seen++;
        }
        json_t *nc = json_object_get(j, "next_cursor");
        if (json_is_null(nc)) {
            json_decref(j);
            break;
        }
        snprintf(target, sizeof target, "/v1/tenants?limit=2&cursor=%s", json_string_value(nc));
        json_decref(j);
    }
    CHECK(seen == 5);
    DO(e->op_key, "GET", "/v1/tenants?limit=0", NULL, 400);
    DO(e->op_key, "GET", "/v1/tenants?limit=abc", NULL, 400);
    j = REQ(e->op_key, "GET", "/v1/tenants", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 5);
    CHECK(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
}

static void test_update(af_env *e)
{
    DO(e->op_key, "POST", "/v1/tenants",
       "{\"id\":\"upd\",\"name\":\"U\",\"limits\":{\"max_connections\":2}}", 201);
    /* unconditional */
    json_t *j = REQ(e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"U2\"}", 200);
    CHECK(at_int(j, "version") == 2);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "U2");
    CHECK(at_int(json_object_get(j, "limits"), "max_connections") == 2); /* kept */
    CHECK(at_int(j, "updated_ms") >= at_int(j, "created_ms"));
    json_decref(j);
    CHECK(audited("upd", "tenant.update", "upd"));
    CHECK(audited("", "tenant.update", "upd"));
    /* body version: right, then stale */
    j = REQ(e->op_key, "PATCH", "/v1/tenants/upd", "{\"retention_days\":7,\"version\":2}", 200);
    CHECK(at_int(j, "version") == 3);
    CHECK(at_int(j, "retention_days") == 7);
    json_decref(j);
    WANT(e->op_key, "PATCH", "/v1/tenants/upd",
         "{\"name\":\"late\",\"version\":2}", 409, "version_conflict");
    /* If-Match */
    int st;
    j = af_req_full(e, e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"late\"}", NULL,
                    "\"2\"", &st);
    CHECK(st == 409);
    CHECK_STR(at_code(j), "version_conflict");
    json_decref(j);
    j = af_req_full(e, e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"U4\"}", NULL, "\"3\"",
                    &st);
    CHECK(st == 200);
    CHECK(at_int(j, "version") == 4);
    json_decref(j);
    j = af_req_full(e, e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"U5\"}", NULL,
                    "W/\"4\"", &st);
    CHECK(st == 200);
    json_decref(j);
    j = af_req_full(e, e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"x\"}", NULL, "four",
                    &st);
    CHECK(st == 400);
    json_decref(j);
    /* limits merge: set, then remove with null */
    j = REQ(e->op_key, "PATCH", "/v1/tenants/upd", "{\"limits\":{\"max_connections\":9}}", 200);
    CHECK(at_int(json_object_get(j, "limits"), "max_connections") == 9);
    json_decref(j);
    j = REQ(e->op_key, "PATCH", "/v1/tenants/upd", "{\"limits\":{\"max_connections\":null}}",
            200);
    CHECK(json_object_size(json_object_get(j, "limits")) == 0);
    CHECK(at_int(j, "version") == 7);
    json_decref(j);
    j = REQ(e->op_key, "GET", "/v1/tenants/upd", NULL, 200);
    CHECK(at_int(j, "version") == 7);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "U5");
    json_decref(j);
    /* validation */
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{}", "");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"version\":7}", "");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"id\":\"other\"}", "/id");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":5}", "/name");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"\"}", "/name");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"limits\":{\"burst\":1}}", "/limits/burst");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"retention_days\":99999}", "/retention_days");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"x\",\"version\":0}", "/version");
    WANT_422(e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":\"x\",\"version\":\"7\"}", "/version");
    DO(e->op_key, "PATCH", "/v1/tenants/upd", "{\"name\":", 400);
    DO(e->op_key, "PATCH", "/v1/tenants/nope", "{\"name\":\"x\"}", 404);
    DO(e->op_key, "PATCH", "/v1/tenants/b%7Bad", "{\"name\":\"x\"}", 400);
    j = REQ(e->op_key, "GET", "/v1/tenants/upd", NULL, 200);
    CHECK(at_int(j, "version") == 7); /* none of those changed it */
    json_decref(j);
}

static json_t *find_plugin(json_t *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(list, "items"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "plugin")), name) == 0) return v;
    }
    return NULL;
}

static void test_plugins(af_env *e)
{
    DO(e->op_key, "POST", "/v1/tenants", "{\"id\":\"plg\",\"name\":\"P\"}", 201);
    char tv[CH_APIKEY_TEXT_MAX], ta[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_TENANT_VIEWER, "plg", tv);
    af_key(e, CH_ROLE_TENANT_ADMIN, "plg", ta);
    json_t *j = REQ(tv, "GET", "/v1/tenants/plg/plugins", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 2); /* tsrc, tdst: loaded ones */
    json_t *p = find_plugin(j, "tsrc");
    CHECK(p && json_is_false(json_object_get(p, "enabled")));
    CHECK(p && json_is_null(json_object_get(p, "updated_ms")));
    CHECK(p && at_int(p, "max_connections") == 0);
    CHECK(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);

    j = REQ(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc",
            "{\"enabled\":true,\"max_connections\":3}", 200);
    CHECK_STR(json_string_value(json_object_get(j, "plugin")), "tsrc");
    CHECK(json_is_true(json_object_get(j, "enabled")));
    CHECK(at_int(j, "max_connections") == 3);
    CHECK(at_int(j, "updated_ms") > 0);
    json_decref(j);
    int en;
    uint32_t max;
    CHECK(ch_tenant_plugin("plg", "tsrc", &en, &max) == C360_OK && en == 1 && max == 3);
    CHECK(ch_tenant_plugin("plg", "tdst", &en, &max) == C360_OK && en == 0);
    CHECK(audited("plg", "tenant.plugin.enable", "tsrc"));
    j = REQ(ta, "GET", "/v1/tenants/plg/plugins", NULL, 200);
    p = find_plugin(j, "tsrc");
    CHECK(p && json_is_true(json_object_get(p, "enabled")) && at_int(p, "max_connections") == 3);
    json_decref(j);
    /* PUT replaces: no cap given = none */
    j = REQ(e->op_key, "PUT", "/v1/tenants/plg/plugins/tdst", "{\"enabled\":true}", 200);
    CHECK(at_int(j, "max_connections") == 0);
    json_decref(j);
    /* DELETE disables and keeps the cap */
    j = REQ(e->op_key, "DELETE", "/v1/tenants/plg/plugins/tsrc", NULL, 200);
    CHECK(json_is_false(json_object_get(j, "enabled")));
    CHECK(at_int(j, "max_connections") == 3);
    json_decref(j);
    CHECK(ch_tenant_plugin("plg", "tsrc", &en, &max) == C360_OK && en == 0 && max == 0);
    CHECK(audited("plg", "tenant.plugin.disable", "tsrc"));
    DO(e->op_key, "DELETE", "/v1/tenants/plg/plugins/tsrc", NULL, 200); /* idempotent */

    /* not found */
    DO(e->op_key, "PUT", "/v1/tenants/plg/plugins/none_such", "{\"enabled\":true}", 404);
    DO(e->op_key, "DELETE", "/v1/tenants/plg/plugins/none_such", NULL, 404);
    DO(e->op_key, "PUT", "/v1/tenants/nope/plugins/tsrc", "{\"enabled\":true}", 404);
    DO(e->op_key, "GET", "/v1/tenants/nope/plugins", NULL, 404);
    DO(e->op_key, "DELETE", "/v1/tenants/nope/plugins/tsrc", NULL, 404);
    CHECK(pf_int("EXISTS c360:{t:nope}:plugins") == 0);
    /* bad ids */
    DO(e->op_key, "PUT", "/v1/tenants/plg/plugins/ts.rc", "{\"enabled\":true}", 400);
    DO(e->op_key, "GET", "/v1/tenants/p%2Flg/plugins", NULL, 400);
    /* roles */
    DO(ta, "PUT", "/v1/tenants/plg/plugins/tsrc", "{\"enabled\":true}", 403);
    DO(ta, "DELETE", "/v1/tenants/plg/plugins/tsrc", NULL, 403);
    /* bodies */
    WANT_422(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc", "{}", "/enabled");
    WANT_422(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc", "{\"enabled\":\"yes\"}", "/enabled");
    WANT_422(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc", "{\"enabled\":true,\"max_connections\":-2}",
             "/max_connections");
    WANT_422(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc",
             "{\"enabled\":true,\"max_connections\":1e3}", "/max_connections");
    WANT_422(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc", "{\"enabled\":true,\"extra\":1}", "/extra");
    DO(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc", "{\"enabled\":tru", 400);
    DO(e->op_key, "PUT", "/v1/tenants/plg/plugins/tsrc", "true", 400);
    CHECK(ch_tenant_plugin("plg", "tsrc", &en, &max) == C360_OK && en == 0);
}

/* ---- deletion ------------------------------------------------------------ */

/* Everything a key holds, as one text (names and values). */
static void dump_key(const char *key, char **buf, size_t *len)
{
    redisReply *t = ch_rconn_command("TYPE %s", key);
    const char *type = t && t->type == REDIS_REPLY_STATUS ? t->str : "none";
    redisReply *r = NULL;
    if (strcmp(type, "string") == 0) r = ch_rconn_command("GET %s", key);
    else if (strcmp(type, "hash") == 0) r = ch_rconn_command("HGETALL %s", key);
    else if (strcmp(type, "set") == 0) r = ch_rconn_command("SMEMBERS %s", key);
    else if (strcmp(type, "zset") == 0) r = ch_rconn_command("ZRANGE %s 0 -1", key);
    else if (strcmp(type, "list") == 0) r = ch_rconn_command("LRANGE %s 0 -1", key);
    else if (strcmp(type, "stream") == 0) r = ch_rconn_command("XRANGE %s - +", key);
    if (t) freeReplyObject(t);
    /* flatten (two levels are enough for streams: id, [field, value...]) */
    const redisReply *stack[4096];
    size_t sp = 0;
    if (r) stack[sp++] = r;
    while (sp) {
        const redisReply *x = stack[--sp];
        if (x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_STATUS) {
            *buf = realloc(*buf, *len + x->len + 2);
            memcpy(*buf + *len, x->str, x->len);
            *len += x->len;
            (*buf)[(*len)++] = '\n';
            (*buf)[*len] = '\0';
        } else if (x->type == REDIS_REPLY_ARRAY) {
            for (size_t i = x->elements; i > 0 && sp < 4096; i--) stack[sp++] = x->element[i - 1];
        }
    }
    if (r) freeReplyObject(r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every key of the whole Redis, sorted. */
static char **all_keys(size_t *n)
{
    char **v = NULL;
    *n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = ch_rconn_command("SCAN %s COUNT 1000", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r) freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            v = realloc(v, (*n + 1) * sizeof *v);
            v[(*n)++] = strdup(r->element[1]->element[i]->str);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_keys(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Names and contents of every key whose name contains `word`. */
static char *snapshot(const char *word)
{
    size_t n, len = 0;
    char **keys = all_keys(&n);
    char *buf = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(keys[i], word)) continue;
        size_t kl = strlen(keys[i]);
        buf = realloc(buf, len + kl + 3);
        memcpy(buf + len, "#", 1);
        memcpy(buf + len + 1, keys[i], kl);
        len += kl + 1;
        buf[len++] = '\n';
        buf[len] = '\0';
        dump_key(keys[i], &buf, &len);
    }
    free_keys(keys, n);
    return buf;
}

static void populate(af_env *e, const char *t, const char *c1, const char *c2, const char *c3)
{
    char b[256];
    snprintf(b, sizeof b,
             "{\"id\":\"%s\",\"name\":\"Tenant %s\",\"limits\":{\"max_connections\":10},"
             "\"retention_days\":14}",
             t, t);
    DO(e->op_key, "POST", "/v1/tenants", b, 201);
    snprintf(b, sizeof b, "/v1/tenants/%s/plugins/tsrc", t);
    DO(e->op_key, "PUT", b, "{\"enabled\":true,\"max_connections\":5}", 200);
    snprintf(b, sizeof b, "/v1/tenants/%s/plugins/tdst", t);
    DO(e->op_key, "PUT", b, "{\"enabled\":true}", 200);
    /* keys: one made directly, one through the API */
    char admin[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_TENANT_ADMIN, t, admin);
    snprintf(b, sizeof b, "/v1/tenants/%s/keys", t);
    DO(admin, "POST", b, "{\"name\":\"reader\",\"role\":\"tenant_viewer\"}", 201);
    /* a notification endpoint (its signing secret, outbox and indexes) */
    snprintf(b, sizeof b, "/v1/tenants/%s/notifications", t);
    DO(admin, "PUT", b, "{\"url\":\"https://hooks.example.com/c360\"}", 200);
    /* connections, routes, routing keys (one shared with the other tenant) */
    pf_conn_put(t, c1, "tsrc", "{\"token\":\"abc\"}", 60, 1);
    pf_conn_put(t, c2, "tdst", "{}", 0, 0);
    if (c3) pf_conn_put(t, c3, "tsrc", "{}", 30, 1);
    CHECK(ch_conn_route_add(t, c1, c2, "system", NULL) == C360_OK);
    const char *rk[] = {"shared-page", c1};
    CHECK(ch_conn_route_keys_set(t, c1, "tsrc", rk, 2) == C360_OK);
    /* secrets, state, status, rate budgets */
    CHECK(ch_secret_put(t, c1, "api_token", "s3cret-value", 12, NULL, 0) == C360_OK);
    CHECK(ch_secret_put(t, c2, "signing", "k", 1, NULL, 0) == C360_OK);
    CHECK(ch_state_set(t, c1, "cursor", "42", 2, 0, NULL) == C360_OK);
    int64_t v;
    CHECK(ch_state_incr(t, c2, "count", 3, &v) == C360_OK);
    CHECK(ch_connstatus_set(t, c1, "failing", "provider said no") == C360_OK);
    c360_rl_limit lim = {sizeof lim, 10, 3600000, 0}; /* keys live minutes */
    CHECK(ch_ratelimit_take("tsrc", t, NULL, C360_RL_TENANT, "calls", &lim, 1, NULL) == C360_OK);
    CHECK(ch_ratelimit_take("tsrc", t, c1, C360_RL_CONNECTION, "calls", &lim, 1, NULL) == C360_OK);
    /* events, deliveries, delivery log, dead letters, dedup, retries */
    char id[64];
    pf_add_event(t, c1, "wh", "{\"x-a\":\"1\"}", "{\"n\":1}", id, sizeof id);
    CHECK(id[0]);
    pf_add_event(t, c1, "tick", NULL, "{}", NULL, 0);
    pf_do("XGROUP CREATE c360:{t:%s}:ev w 0", t);
    pf_do("XREADGROUP GROUP w c1 COUNT 1 STREAMS c360:{t:%s}:ev >", t);
    pf_do("XADD c360:{t:%s}:dl * d %s s %s sp tsrc rt lead ri r1 r {} a 1 t 1 et 1", t, c2, c1);
    pf_do("XADD c360:{t:%s}:dlog:%s * t 1 ri r1 st 500 ms 3 err boom", t, c2);
    pf_do("XADD c360:{t:%s}:dlq * kind ev why attempts err boom k wh c %s p tsrc t 1 a 9 b {}", t,
          c1);
    pf_do("SET c360:{t:%s}:dd:%s:evt-1 %s EX 600", t, c1, id);
    pf_do("HSET c360:{t:%s}:att %s 2", t, id);
    pf_do("ZADD c360:{t:%s}:retry 99 %s", t, id);
    pf_do("HINCRBY c360:{t:%s}:conn:%s:stat ticks 4", t, c1);
    pf_do("SET c360:{t:%s}:oauth-state:nonce1 {} PX 60000", t);
    /* the workers' wake-up list */
    pf_do("LPUSH c360:{idx}:wake %s", t);
}

static void test_delete(af_env *e)
{
    populate(e, "keeper3", "kc1", "kc2", NULL);
    populate(e, "doomed7", "dzconnA1", "dzconnB2", "dzconnC3");
    /* leftovers of purges that crashed half-way: the tenant's entries in the
     * shared indexes without their connections */
    pf_do("HSET c360:{idx}:conn ghost1 doomed7");
    pf_do("ZADD c360:{sched}:due 5 doomed7/ghost1");
    pf_do("HSET c360:{idx}:rk:tsrc stale-key [\"doomed7/ghost1\",\"keeper3/kc1\"]");
    pf_do("HSET c360:{idx}:rk:gone_plugin k1 [\"doomed7/ghost2\"]");
    pf_do("LPUSH c360:{idx}:wake doomed7");
    char dkey[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_TENANT_VIEWER, "doomed7", dkey);
    DO(dkey, "GET", "/v1/tenants/doomed7", NULL, 200);

    /* what must survive */
    char *keeper_before = snapshot("keeper3");
    CHECK(strstr(keeper_before, "kc1"));
    CHECK_STR(pf_str("HGET c360:{idx}:conn kc1"), "keeper3");
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due keeper3/kc1"), "(nil)") != 0);
    size_t nbefore;
    char **before = all_keys(&nbefore);
    CHECK(pf_int("SISMEMBER c360:{idx}:notify-tenants doomed7") == 1);
    CHECK(strcmp(pf_str("ZSCORE c360:{idx}:notify-due doomed7"), "(nil)") != 0);
    size_t doomed_keys = 0;
    for (size_t i = 0; i < nbefore; i++) doomed_keys += strstr(before[i], "doomed7") != NULL;
    CHECK(doomed_keys > 25);
    free_keys(before, nbefore);

    json_t *j = REQ(e->op_key, "DELETE", "/v1/tenants/doomed7", NULL, 200);
    CHECK_STR(json_string_value(json_object_get(j, "tenant")), "doomed7");
    CHECK(at_int(j, "connections_deleted") == 3);
    CHECK(at_int(j, "api_keys_deleted") == 3);
    CHECK(at_int(j, "keys_deleted") > 5);
    CHECK(json_object_size(j) == 4);
    json_decref(j);

    /* The whole Redis: no key named after the tenant but its audit chain,
     * and no value that mentions it but the audit chains. */
    size_t n;
    char **keys = all_keys(&n);
    size_t chain = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], "c360:{t:doomed7}:audit:", 23) == 0) {
            chain++;
            continue;
        }
        if (strncmp(keys[i], "c360:{t:_system}:audit:", 23) == 0) continue;
        if (strstr(keys[i], "doomed7")) fprintf(stderr, "left behind: key %s\n", keys[i]);
        CHECK(!strstr(keys[i], "doomed7"));
        char *buf = calloc(1, 1);
        size_t len = 0;
        dump_key(keys[i], &buf, &len);
        if (strstr(buf, "doomed7") || strstr(buf, "ghost") ||
            (strstr(buf, "dzconn") && strcmp(keys[i], CH_CONN_GONE_KEY) != 0 &&
             strcmp(keys[i], CH_CONN_GONE_OWNER_KEY) != 0))
            fprintf(stderr, "left behind: in %s: %.300s\n", keys[i], buf);
        CHECK(!strstr(buf, "doomed7"));
        /* nothing of its connections either -- but the tombstones
         * (c360:{idx}:gone and its owner tags): their webhook URLs answer
         * 410 for a while, and no other tenant may take the ids */
        if (strcmp(keys[i], CH_CONN_GONE_KEY) != 0 && strcmp(keys[i], CH_CONN_GONE_OWNER_KEY) != 0) {
            CHECK(!strstr(buf, "dzconn"));
        }
        CHECK(!strstr(buf, "ghost"));
        free(buf);
    }
    CHECK(chain >= 2); /* log and head */
    free_keys(keys, n);

    /* the other tenant: every key and value as it was */
    char *keeper_after = snapshot("keeper3");
    CHECK(strcmp(keeper_after, keeper_before) == 0);
    if (strcmp(keeper_after, keeper_before) != 0) {
        FILE *f = fopen("keeper_before.txt", "w");
        fputs(keeper_before, f);
        fclose(f);
        f = fopen("keeper_after.txt", "w");
        fputs(keeper_after, f);
        fclose(f);
    }
    free(keeper_before);
    free(keeper_after);
    CHECK_STR(pf_str("HGET c360:{idx}:conn kc1"), "keeper3");
    CHECK(strcmp(pf_str("ZSCORE c360:{sched}:due keeper3/kc1"), "(nil)") != 0);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants keeper3") == 1);
    CHECK(pf_int("SISMEMBER c360:{idx}:notify-tenants keeper3") == 1);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenant-registry keeper3") == 1);
    CHECK(pf_int("LPOS c360:{idx}:wake keeper3") >= 0);
    CHECK_CONTAINS(pf_str("HGET c360:{idx}:rk:tsrc shared-page"), "keeper3");
    CHECK_CONTAINS(pf_str("HGET c360:{idx}:rk:tsrc stale-key"), "keeper3");
    CHECK(pf_int("EXISTS c360:{idx}:rk:gone_plugin") == 0);
    uint8_t *val;
    size_t vlen;
    CHECK(ch_secret_get("keeper3", "kc1", "api_token", &val, &vlen, NULL, 0) == C360_OK);
    ch_secret_value_free(val);
    DO(e->op_key, "GET", "/v1/tenants/keeper3", NULL, 200);

    /* gone for the API, its keys dead, its deletion on record */
    DO(e->op_key, "GET", "/v1/tenants/doomed7", NULL, 404);
    DO(e->op_key, "DELETE", "/v1/tenants/doomed7", NULL, 404);
    DO(dkey, "GET", "/v1/tenants/doomed7", NULL, 401);
    j = REQ(e->op_key, "GET", "/v1/tenants", NULL, 200);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "items"), i, v)
        CHECK(strcmp(json_string_value(json_object_get(v, "id")), "doomed7") != 0);
    json_decref(j);
    CHECK(audited("", "tenant.delete", "doomed7"));
    CHECK(audited("doomed7", "tenant.delete", "doomed7"));
    CHECK(audited("doomed7", "connection.disconnect", "dzconnA1"));
    ch_audit_verify_result vr;
    CHECK(ch_audit_verify("doomed7", &vr) == C360_OK && vr.intact);
    CHECK(ch_audit_verify("_system", &vr) == C360_OK && vr.intact);
    /* the deletion entry holds ids and counts, nothing else */
    ch_audit_query q = {.action = "tenant.delete", .limit = 10};
    json_t *entries;
    uint64_t next;
    CHECK(ch_audit_list("_system", &q, &entries, &next) == C360_OK);
    const char *outcome = json_string_value(json_object_get(json_array_get(entries, 0), "outcome"));
    CHECK(outcome && strncmp(outcome, "ok connections=3 keys=", 22) == 0);
    CHECK(outcome && strstr(outcome, "api_keys=3"));
    json_decref(entries);

    /* the id can be used again, from scratch */
    j = REQ(e->op_key, "POST", "/v1/tenants", "{\"id\":\"doomed7\",\"name\":\"again\"}", 201);
    CHECK(at_int(j, "version") == 1);
    json_decref(j);
    j = REQ(e->op_key, "GET", "/v1/tenants/doomed7/plugins", NULL, 200);
    json_t *p = find_plugin(j, "tsrc");
    CHECK(p && json_is_false(json_object_get(p, "enabled")));
    json_decref(j);
    j = REQ(e->op_key, "GET", "/v1/tenants/doomed7/keys", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 0);
    json_decref(j);
    /* the new tenant's keys read only its own audit entries; operators
     * still read the whole chain, the old tenant's included */
    char nkey[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_TENANT_VIEWER, "doomed7", nkey);
    j = REQ(nkey, "GET", "/v1/tenants/doomed7/audit?limit=200", NULL, 200);
    json_array_foreach(json_object_get(j, "items"), i, v) {
        const char *act = json_string_value(json_object_get(v, "action"));
        CHECK(act && strcmp(act, "tenant.delete") != 0 && strcmp(act, "connection.disconnect") != 0);
    }
    CHECK(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    j = REQ(e->op_key, "GET", "/v1/tenants/doomed7/audit?action=tenant.delete", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 1);
    json_decref(j);
    DO(e->op_key, "DELETE", "/v1/tenants/doomed7", NULL, 200);
}

/* A purge cut short leaves the tenant marked: invisible, not re-creatable,
 * refusing writes, and a DELETE finishes it. */
static void test_delete_resumes(af_env *e)
{
    DO(e->op_key, "POST", "/v1/tenants", "{\"id\":\"halfway\",\"name\":\"H\"}", 201);
    pf_conn_put("halfway", "hc1", "tsrc", "{}", 60, 1);
    CHECK(ch_tenant_mark_deleting("halfway") == C360_OK);
    CHECK(ch_tenant_exists("halfway") == 0);
    CHECK(ch_tenant_state("halfway") == CH_TENANT_DELETING);
    DO(e->op_key, "GET", "/v1/tenants/halfway", NULL, 404);
    DO(e->op_key, "PATCH", "/v1/tenants/halfway", "{\"name\":\"x\"}", 404);
    DO(e->op_key, "PUT", "/v1/tenants/halfway/plugins/tsrc", "{\"enabled\":true}", 404);
    json_t *j = REQ(e->op_key, "POST", "/v1/tenants", "{\"id\":\"halfway\",\"name\":\"H\"}", 409);
    CHECK_STR(at_code(j), "exists");
    json_decref(j);
    j = REQ(e->op_key, "DELETE", "/v1/tenants/halfway", NULL, 200);
    CHECK(at_int(j, "connections_deleted") == 1);
    json_decref(j);
    CHECK(ch_tenant_state("halfway") == CH_TENANT_ABSENT);
    CHECK(pf_int("EXISTS c360:{t:halfway}:conn:hc1") == 0);
    CHECK(pf_int("EXISTS c360:{t:halfway}:tenant") == 0);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenant-registry halfway") == 0);
    DO(e->op_key, "DELETE", "/v1/tenants/halfway", NULL, 404);
    DO(e->op_key, "DELETE", "/v1/tenants/bad%7Bid", NULL, 400);
}

/* Many connections: disconnected in parallel, all of them purged. */
static void test_delete_many(af_env *e)
{
    DO(e->op_key, "POST", "/v1/tenants", "{\"id\":\"crowd\",\"name\":\"C\"}", 201);
    enum { N = 24 };
    for (int i = 0; i < N; i++) {
        char id[32], b[64];
        snprintf(id, sizeof id, "crowd-c%02d", i);
        pf_conn_put("crowd", id, i % 2 ? "tdst" : "tsrc", "{}", 60, i % 2 == 0);
        snprintf(b, sizeof b, "v%d", i);
        CHECK(ch_state_set("crowd", id, "k", b, strlen(b), 0, NULL) == C360_OK);
        if (i > 0 && i % 2)
            CHECK(ch_conn_route_add("crowd", "crowd-c00", id, "system", NULL) == C360_OK);
    }
    int64_t t0 = ch_monotonic_ms();
    json_t *j = REQ(e->op_key, "DELETE", "/v1/tenants/crowd", NULL, 200);
    int64_t took = ch_monotonic_ms() - t0;
    CHECK(at_int(j, "connections_deleted") == N);
    json_decref(j);
    CHECK(took < 15000); /* not N times the 1.5 s settle of one disconnect */
    size_t n;
    char **keys = all_keys(&n);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], "c360:{t:crowd}:audit:", 21) == 0) continue;
        if (strstr(keys[i], "crowd")) fprintf(stderr, "left behind: key %s\n", keys[i]);
        CHECK(!strstr(keys[i], "crowd"));
    }
    free_keys(keys, n);
    CHECK(pf_int("SISMEMBER c360:{idx}:tenants crowd") == 0);
}

int main(void)
{
    static const char *const plugins[] = {"tsrc", "tdst", NULL};
    af_env env;
    af_start(&env, plugins);
    pf_raw_connect(env.redis_port);
    test_create_get_list(&env);
    test_update(&env);
    test_plugins(&env);
    test_delete(&env);
    test_delete_resumes(&env);
    test_delete_many(&env);
    redisFree(pf_raw);
    af_stop(&env);
    CHECK_DONE();
}
