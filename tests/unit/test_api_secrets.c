/* test_api_secrets.c -- the secrets resource (api_secrets.c) through the
 * full dispatcher: write-only values, names and update times in the list,
 * reserved names, refusals -- and that the value never appears in any
 * response, log line (the log is captured at debug level) or audit entry,
 * whatever went wrong with the request that carried it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_test_util.h"
#include "check.h"
#include "conns.h"
#include "log.h"
#include "secrets.h"
#include "tenants.h"

#define SECRET "Zq9-very-secret-token-7Hc"

static af_env E;
static char g_admin[CH_APIKEY_TEXT_MAX], g_viewer[CH_APIKEY_TEXT_MAX], g_other[CH_APIKEY_TEXT_MAX];
static int g_leaks;

/* Every answer is searched for the secret. */
static json_t *req_ct(const char *key, const char *method, const char *path, const char *body,
                      const char *ctype, int *status)
{
    json_t *j = af_req_full(&E, key, method, path, body, ctype, NULL, status);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    if (text && (strstr(text, SECRET) || strstr(text, "very-secret"))) {
        fprintf(stderr, "LEAK in the answer to %s %s: %s\n", method, path, text);
        g_leaks++;
    }
    free(text);
    return j;
}

static json_t *req(const char *key, const char *method, const char *path, const char *body,
                   int *status)
{
    return req_ct(key, method, path, body, NULL, status);
}

static void expect(const char *key, const char *method, const char *path, const char *body,
                   const char *ctype, int want)
{
    int st;
    json_t *j = req_ct(key, method, path, body, ctype, &st);
    if (st != want) fprintf(stderr, "%s %s: got %d, want %d\n", method, path, st, want);
    CHECK(st == want);
    json_decref(j);
}

static void test_put_list_delete(void)
{
    const char *p = "/v1/tenants/t1/connections/c1/secrets/api_key";
    expect(g_admin, "PUT", p, "{\"value\":\"" SECRET "\"}", NULL, 204);
    char err[128];
    uint8_t *v = NULL;
    size_t len = 0;
    CHECK(ch_secret_get("t1", "c1", "api_key", &v, &len, err, sizeof err) == C360_OK);
    CHECK(v && len == strlen(SECRET) && memcmp(v, SECRET, len) == 0);
    ch_secret_value_free(v);
    expect(g_admin, "PUT", "/v1/tenants/t1/connections/c1/secrets/other.name", "{\"value\":\"x\"}",
           NULL, 204);

    int st;
    json_t *j = req(g_viewer, "GET", "/v1/tenants/t1/connections/c1/secrets", NULL, &st);
    CHECK(st == 200);
    json_t *items = json_object_get(j, "items");
    CHECK(json_array_size(items) == 2);
    json_t *first = json_array_get(items, 0);
    CHECK_STR(json_string_value(json_object_get(first, "name")), "api_key");
    CHECK(json_integer_value(json_object_get(first, "updated_ms")) > 0);
    CHECK(json_object_size(first) == 2); /* name and updated_ms only */
    json_decref(j);
    j = req(g_viewer, "GET", "/v1/tenants/t1/connections/c1/secrets?limit=1", NULL, &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "items")) == 1);
    CHECK_STR(json_string_value(json_object_get(j, "next_cursor")), "api_key");
    json_decref(j);
    j = req(g_viewer, "GET", "/v1/tenants/t1/connections/c1/secrets?limit=1&cursor=api_key", NULL,
            &st);
    CHECK(st == 200 && json_array_size(json_object_get(j, "items")) == 1);
    CHECK(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);

    expect(g_admin, "DELETE", p, NULL, NULL, 204);
    CHECK(ch_secret_get("t1", "c1", "api_key", &v, &len, err, sizeof err) == C360_ENOTFOUND);
    j = req(g_viewer, "GET", "/v1/tenants/t1/connections/c1/secrets", NULL, &st);
    CHECK(json_array_size(json_object_get(j, "items")) == 1);
    json_decref(j);
}

static void test_refusals(void)
{
    const char *p = "/v1/tenants/t1/connections/c1/secrets/api_key";
    /* roles and tenants */
    expect(g_viewer, "PUT", p, "{\"value\":\"" SECRET "\"}", NULL, 403);
    expect(g_other, "PUT", p, "{\"value\":\"" SECRET "\"}", NULL, 403);
    expect(g_other, "GET", "/v1/tenants/t1/connections/c1/secrets", NULL, NULL, 403);
    expect(NULL, "PUT", p, "{\"value\":\"" SECRET "\"}", NULL, 401);
    /* reserved names */
    int st;
    json_t *j = req(g_admin, "PUT", "/v1/tenants/t1/connections/c1/secrets/oauth:access",
                    "{\"value\":\"" SECRET "\"}", &st);
    CHECK(st == 403);
    CHECK_STR(at_code(j), "reserved_name");
    json_decref(j);
    expect(g_admin, "DELETE", "/v1/tenants/t1/connections/c1/secrets/oauth:access", NULL, NULL,
           403);
    /* unknown connection, another tenant's connection, unknown tenant */
    expect(g_admin, "PUT", "/v1/tenants/t1/connections/nosuch/secrets/k", "{\"value\":\"" SECRET "\"}",
           NULL, 404);
    expect(g_admin, "PUT", "/v1/tenants/t1/connections/c2/secrets/k", "{\"value\":\"" SECRET "\"}",
           NULL, 404);
    expect(E.op_key, "GET", "/v1/tenants/nope/connections/c1/secrets", NULL, NULL, 404);
    /* bodies that carry the secret but are wrong: never quoted back */
    static const char *const bad[] = {
        "{\"value\":\"" SECRET "\"",                 /* truncated */
        "{\"value\":\"" SECRET "\n\"}",              /* raw control character */
        "{\"value\":\"" SECRET "\",\"value\":\"x\"}", /* duplicate */
        "{\"value\":\"" SECRET "\",\"extra\":1}",    /* unknown field */
        "[\"" SECRET "\"]",                          /* not an object */
        "{\"value\":[\"" SECRET "\"]}",              /* not a string */
        "{\"value\":\"\"}",                          /* empty */
        "{\"valu\":\"" SECRET "\"}",                 /* misspelt */
        "\"" SECRET "\"",
        SECRET,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = req(g_admin, "PUT", p, bad[i], &st);
        CHECK(st == 400 || st == 422);
        json_decref(j);
    }
    expect(g_admin, "PUT", p, "{\"value\":\"" SECRET "\"}", "text/plain", 415);
    /* too long: 64 KiB + 1 */
    size_t big = 64 * 1024 + 1;
    char *body = malloc(big + 32);
    strcpy(body, "{\"value\":\"" SECRET);
    size_t off = strlen(body);
    memset(body + off, 'a', big - strlen(SECRET));
    strcpy(body + off + big - strlen(SECRET), "\"}");
    j = req(g_admin, "PUT", p, body, &st);
    CHECK(st == 422);
    json_decref(j);
    /* exactly 64 KiB is fine */
    strcpy(body + off + big - strlen(SECRET) - 1, "\"}");
    j = req(g_admin, "PUT", "/v1/tenants/t1/connections/c1/secrets/big", body, &st);
    CHECK(st == 204);
    json_decref(j);
    free(body);
    /* a bad name (the dispatcher's check) */
    expect(g_admin, "PUT", "/v1/tenants/t1/connections/c1/secrets/bad%20name",
           "{\"value\":\"" SECRET "\"}", NULL, 400);
}

/* The value in the audit log, the captured log, and the raw Redis values
 * of every key but the sealed secrets themselves. */
static void test_no_leaks(const char *logpath)
{
    CHECK(g_leaks == 0);
    redisReply *r = ch_rconn_command("LRANGE c360:{t:t1}:audit:log 0 -1");
    int puts = 0, dels = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        CHECK(!strstr(r->element[i]->str, "very-secret"));
        if (strstr(r->element[i]->str, "secret.put")) puts++;
        if (strstr(r->element[i]->str, "secret.delete")) dels++;
    }
    if (r) freeReplyObject(r);
    CHECK(puts >= 2 && dels >= 1);
    FILE *f = fopen(logpath, "r");
    CHECK(f != NULL);
    char line[8192];
    size_t lines = 0;
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        if (strstr(line, "very-secret")) {
            fprintf(stderr, "LEAK in the log: %s", line);
            CHECK(0);
        }
    }
    if (f) fclose(f);
    CHECK(lines > 0); /* the capture worked (at least our marker) */
}

int main(void)
{
    char logpath[] = "/tmp/c360-api-secrets-log-XXXXXX";
    int fd = mkstemp(logpath);
    CHECK(fd >= 0);
    static const char *const plugins[] = {"tconn", NULL};
    af_start(&E, plugins);
    ch_log_set_fd(fd);
    ch_log_set_level(CH_LOG_DEBUG);
    ch_log(CH_LOG_INFO, "test_api_secrets: log capture starts", NULL);
    af_tenant(&E, "t1");
    af_tenant(&E, "t2");
    CHECK(ch_tenant_plugin_set("t1", "tconn", 1, NULL, NULL) == C360_OK);
    CHECK(ch_tenant_plugin_set("t2", "tconn", 1, NULL, NULL) == C360_OK);
    ch_conn_spec s1 = {.tenant = "t1", .id = "c1", .plugin = "tconn", .config = "{\"region\":\"eu\"}",
                       .config_len = 15, .name = "one"};
    ch_conn_spec s2 = {.tenant = "t2", .id = "c2", .plugin = "tconn", .config = "{\"region\":\"eu\"}",
                       .config_len = 15, .name = "two"};
    CHECK(ch_conn_put(&s1, "system", NULL, NULL, NULL) == C360_OK);
    CHECK(ch_conn_put(&s2, "system", NULL, NULL, NULL) == C360_OK);
    af_key(&E, CH_ROLE_TENANT_ADMIN, "t1", g_admin);
    af_key(&E, CH_ROLE_TENANT_VIEWER, "t1", g_viewer);
    af_key(&E, CH_ROLE_TENANT_ADMIN, "t2", g_other);

    test_put_list_delete();
    test_refusals();
    test_no_leaks(logpath);

    ch_log_set_fd(-1);
    close(fd);
    unlink(logpath);
    af_stop(&E);
    CHECK_DONE();
}
