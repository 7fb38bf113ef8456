/* test_api_notify -- the notification resources (host/admin/api_notify.c)
 * through the full dispatcher: PUT creates the endpoint and answers the
 * signing secret once (never again: not on a second PUT, not on GET, not
 * in the audit), If-Match, validation of url and events, GET/DELETE, the
 * test send to an in-process receiver (signature checked), the log with
 * paging, roles, other tenants and a missing tenant. */
#include <stdlib.h>
#include <string.h>

#define AT_ENV (&E)
#include "api_test_util.h"
#include "check.h"
#include "connstatus.h"
#include "crypto.h"
#include "httpc.h"
#include "notify.h"
#include "notify_receiver.h"
#include "pipeline_fixture.h"

static af_env E;
static nr_server g_rx;
static char k_admin[CH_APIKEY_TEXT_MAX], k_view[CH_APIKEY_TEXT_MAX], k_other[CH_APIKEY_TEXT_MAX];

static void test_crud(void)
{
    int st;
    char body[256];
    json_t *r = GET(k_admin, "/v1/tenants/ta/notifications", &st);
    CHECK(st == 404);
    json_decref(r);
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d/n\"}", g_rx.port);
    r = af_req(&E, k_admin, "PUT", "/v1/tenants/ta/notifications", body, &st);
    CHECK(st == 200);
    const char *secret = json_string_value(json_object_get(r, "secret"));
    CHECK(secret && strncmp(secret, "whsec_", 6) == 0 && strlen(secret) == 50);
    char saved[64] = "";
    if (secret) snprintf(saved, sizeof saved, "%s", secret);
    CHECK(json_array_size(json_object_get(r, "events")) == 5);
    CHECK(json_integer_value(json_object_get(r, "version")) == 1);
    json_decref(r);

    /* Viewers read it, without the secret. */
    r = GET(k_view, "/v1/tenants/ta/notifications", &st);
    CHECK(st == 200);
    char *dump = json_dumps(r, JSON_COMPACT);
    CHECK(!strstr(dump, "whsec_") && !strstr(dump, "secret"));
    free(dump);
    json_decref(r);

    /* A second PUT: new events, no secret. With a stale If-Match: 409. */
    snprintf(body, sizeof body,
             "{\"url\":\"http://127.0.0.1:%d/n2\",\"events\":[\"connection.failing\","
             "\"dead_letters.growing\"]}",
             g_rx.port);
    r = af_req_full(&E, k_admin, "PUT", "/v1/tenants/ta/notifications", body, NULL, "\"7\"", &st);
    CHECK(st == 409 && at_code(r) && strcmp(at_code(r), "version_conflict") == 0);
    json_decref(r);
    r = af_req_full(&E, k_admin, "PUT", "/v1/tenants/ta/notifications", body, NULL, "\"1\"", &st);
    CHECK(st == 200);
    CHECK(json_object_get(r, "secret") == NULL);
    CHECK(json_integer_value(json_object_get(r, "version")) == 2);
    CHECK(json_array_size(json_object_get(r, "events")) == 2);
    json_decref(r);

    /* Validation. */
    r = af_req(&E, k_admin, "PUT", "/v1/tenants/ta/notifications", "{\"url\":\"ftp://x/\"}", &st);
    CHECK(st == 422 && at_detail_path(r, 0) && strcmp(at_detail_path(r, 0), "/url") == 0);
    json_decref(r);
    WANT(k_admin, "PUT", "/v1/tenants/ta/notifications",
         "{\"url\":\"https://u:p@x.example/\"}", 422, NULL);
    r = af_req(&E, k_admin, "PUT", "/v1/tenants/ta/notifications",
            "{\"url\":\"https://x.example/\",\"events\":[\"connection.exploded\"]}", &st);
    CHECK(st == 422 && at_detail_path(r, 0) && strcmp(at_detail_path(r, 0), "/events/0") == 0);
    json_decref(r);
    WANT(k_admin, "PUT", "/v1/tenants/ta/notifications",
         "{\"url\":\"https://x.example/\",\"events\":[]}", 422, NULL);
    WANT(k_admin, "PUT", "/v1/tenants/ta/notifications",
         "{\"url\":\"https://x.example/\",\"secret\":\"mine\"}", 422, NULL);
    WANT(k_admin, "PUT", "/v1/tenants/ta/notifications", "{\"url\":5}", 422, NULL);
    WANT(k_admin, "PUT", "/v1/tenants/ta/notifications", "{\"url\":", 400, NULL);

    /* Roles and tenants. */
    WANT(k_view, "PUT", "/v1/tenants/ta/notifications",
         "{\"url\":\"https://x.example/\"}", 403, NULL);
    r = GET(k_other, "/v1/tenants/ta/notifications", &st);
    CHECK(st == 403 && at_code(r) && strcmp(at_code(r), "forbidden_tenant") == 0);
    json_decref(r);
    WANT(E.op_key, "PUT", "/v1/tenants/nosuch/notifications",
         "{\"url\":\"https://x.example/\"}", 404, NULL);
    WANT(k_view, "DELETE", "/v1/tenants/ta/notifications", NULL, 403, NULL);

    /* The secret is never in Redis in the clear, nor in the audit. */
    redisReply *a = pf_cmd("LRANGE c360:{t:ta}:audit:log 0 -1");
    int puts = 0, leak = 0;
    for (size_t i = 0; i < a->elements; i++) {
        if (strstr(a->element[i]->str, "notification.put")) puts++;
        if (saved[0] && strstr(a->element[i]->str, saved + 6)) leak++;
    }
    freeReplyObject(a);
    CHECK(puts == 2);
    CHECK(leak == 0);
    CHECK(strstr(pf_str("HGETALL c360:{t:ta}:notify"), "whsec_") == NULL);
}

static int signature_ok(const nr_req *q, const char *secret)
{
    uint8_t *key = NULL;
    size_t kl = 0;
    if (ch_base64_decode(secret + 6, strlen(secret) - 6, C360_B64_STANDARD, &key, &kl) != C360_OK)
        return 0;
    char sig[128];
    ch_notify_sign(key, kl, q->id, atoll(q->ts), q->body, strlen(q->body), sig, sizeof sig);
    free(key);
    return strcmp(sig, q->sig) == 0;
}

static void test_send_and_log(void)
{
    int st;
    /* A fresh endpoint, to know its secret. */
    json_decref(af_req(&E, k_admin, "DELETE", "/v1/tenants/ta/notifications", NULL, &st));
    CHECK(st == 204);
    json_t *r = af_req(&E, k_admin, "DELETE", "/v1/tenants/ta/notifications", NULL, &st);
    CHECK(st == 404);
    json_decref(r);
    WANT(k_admin, "POST", "/v1/tenants/ta/notifications/test", NULL, 404, NULL);
    char body[256], secret[64] = "";
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:%d/n\"}", g_rx.port);
    r = af_req(&E, k_admin, "PUT", "/v1/tenants/ta/notifications", body, &st);
    CHECK(st == 200);
    if (json_is_string(json_object_get(r, "secret")))
        snprintf(secret, sizeof secret, "%s", json_string_value(json_object_get(r, "secret")));
    json_decref(r);

    nr_reset(&g_rx);
    r = af_req(&E, k_admin, "POST", "/v1/tenants/ta/notifications/test", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(r, "outcome")), "delivered");
    CHECK(json_integer_value(json_object_get(r, "status_code")) == 200);
    json_decref(r);
    CHECK(nr_count(&g_rx) == 1);
    if (nr_count(&g_rx) == 1 && secret[0]) CHECK(signature_ok(&g_rx.reqs[0], secret));

    /* A failing receiver: the outcome says so (200: the request worked). */
    int fail[] = {503};
    nr_script(&g_rx, fail, 1);
    r = af_req(&E, k_admin, "POST", "/v1/tenants/ta/notifications/test", NULL, &st);
    CHECK(st == 200);
    CHECK_STR(json_string_value(json_object_get(r, "outcome")), "failed");
    CHECK(json_integer_value(json_object_get(r, "status_code")) == 503);
    json_decref(r);

    /* A real notification through the sender. */
    CHECK(ch_connstatus_set("ta", "c1", "needs_reauth", "revoked") == C360_OK);
    ch_notify_settings s;
    ch_notify_settings_default(&s);
    size_t sent = 0;
    CHECK(ch_notify_send_due(&s, &sent) == C360_OK && sent == 1);

    r = GET(k_view, "/v1/tenants/ta/notifications/log?limit=2", &st);
    CHECK(st == 200);
    json_t *items = json_object_get(r, "items");
    CHECK(json_array_size(items) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "event")),
              "connection.needs_reauth");
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "connection")), "c1");
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 1), "outcome")), "failed");
    const char *next = json_string_value(json_object_get(r, "next_cursor"));
    CHECK(next != NULL);
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/ta/notifications/log?limit=2&cursor=%s", next ? next : "");
    json_decref(r);
    r = GET(k_view, path, &st);
    CHECK(st == 200 && json_array_size(json_object_get(r, "items")) == 1);
    CHECK(json_is_null(json_object_get(r, "next_cursor")));
    json_decref(r);
    WANT(k_view, "GET", "/v1/tenants/ta/notifications/log?cursor=zzz", NULL, 400, NULL);
    WANT(k_view, "GET", "/v1/tenants/ta/notifications/log?limit=0", NULL, 400, NULL);
    WANT(k_view, "POST", "/v1/tenants/ta/notifications/test", NULL, 403, NULL);
}

int main(void)
{
    af_start(&E, NULL);
    pf_raw_connect(E.redis_port);
    at_two_tenants(&E, k_admin, k_view, k_other);
    nr_start(&g_rx);
    char rule[64], err[256];
    snprintf(rule, sizeof rule, "127.0.0.1/32:%d", g_rx.port);
    const char *allow[] = {rule};
    ch_httpc_settings hs;
    ch_httpc_settings_default(&hs);
    hs.allow = allow;
    hs.allow_count = 1;
    CHECK(ch_httpc_configure(&hs, err, sizeof err) == C360_OK);

    test_crud();
    test_send_and_log();

    nr_stop(&g_rx);
    ch_httpc_configure(NULL, err, sizeof err);
    ch_httpc_thread_close();
    redisFree(pf_raw);
    af_stop(&E);
    CHECK_DONE();
}
