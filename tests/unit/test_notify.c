/* test_notify.c -- notifications: the endpoint's config and its secret,
 * emission on connection status changes (through connstatus), the signed
 * POST with Standard Webhooks headers checked by an in-process receiver,
 * retry after a 500, giving up, the log, the test send, the SSRF policy,
 * one sender per tenant at a time, the dead-letter watch and the
 * refresh-token warning. Real redis-server. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "call.h"
#include "check.h"
#include "connector_api.h"
#include "connstatus.h"
#include "crypto.h"
#include "httpc.h"
#include "keyring.h"
#include "notify.h"
#include "notify_receiver.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "secrets.h"

static nr_server g_rx;
static char g_url[128];

static long long xlen(const char *key) { return pf_int("XLEN %s", key); }

static void allow_receiver(int on)
{
    char rule[64], err[256];
    snprintf(rule, sizeof rule, "127.0.0.1/32:%d", g_rx.port);
    const char *allow[] = {rule};
    ch_httpc_settings s;
    ch_httpc_settings_default(&s);
    if (on) {
        s.allow = allow;
        s.allow_count = 1;
    }
    CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_OK);
}

static ch_notify_settings fast(void)
{
    ch_notify_settings s;
    ch_notify_settings_default(&s);
    s.retry_base_ms = 50;
    s.timeout_ms = 3000;
    return s;
}

/* Sends due work until nothing is sent for `quiet_ms`, at most max_ms. */
static void drain(const ch_notify_settings *s, int quiet_ms, int max_ms)
{
    int64_t end = ch_monotonic_ms() + max_ms, last = ch_monotonic_ms();
    while (ch_monotonic_ms() < end && ch_monotonic_ms() - last < quiet_ms) {
        size_t sent = 0;
        ch_notify_send_due(s, &sent);
        if (sent) last = ch_monotonic_ms();
        fx_sleep_ms(20);
    }
}

static void test_config(void)
{
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    uint64_t cur = 0;
    CHECK(ch_notify_get("tA", &c) == C360_ENOTFOUND);
    CHECK(ch_notify_put("tA", g_url, CH_NEV_ALL, 0, &cur, &c, secret) == C360_OK);
    CHECK(strncmp(secret, "whsec_", 6) == 0);
    CHECK(strlen(secret) == 6 + 44);
    uint8_t *bin = NULL;
    size_t bl = 0;
    CHECK(ch_base64_decode(secret + 6, strlen(secret) - 6, C360_B64_STANDARD, &bin, &bl) == C360_OK);
    CHECK(bl == 32);
    free(bin);
    CHECK(c.version == 1 && c.events == CH_NEV_ALL && c.created_ms > 0);
    /* The secret is sealed by the secrets service, not in the config. */
    CHECK(strstr(pf_str("HGET c360:{t:tA}:notify url"), "127.0.0.1") != NULL);
    CHECK(pf_int("HEXISTS c360:{t:tA}:secret:_notify:signing ct") == 1);
    CHECK(pf_int("SISMEMBER c360:{idx}:notify-tenants tA") == 1);

    /* A second PUT keeps the secret and never shows it again. */
    char secret2[CH_NOTIFY_SECRET_MAX];
    CHECK(ch_notify_put("tA", g_url, CH_NEV_FAILING | CH_NEV_NEEDS_REAUTH, 1, &cur, &c, secret2) ==
          C360_OK);
    CHECK(secret2[0] == '\0');
    CHECK(c.version == 2);
    CHECK(ch_notify_put("tA", g_url, CH_NEV_ALL, 1, &cur, &c, secret2) == C360_ECONFLICT);
    CHECK(cur == 2);
    CHECK(ch_notify_get("tA", &c) == C360_OK);
    CHECK(c.events == (CH_NEV_FAILING | CH_NEV_NEEDS_REAUTH));
    json_t *j = ch_notify_config_json(&c);
    char *js = json_dumps(j, JSON_COMPACT);
    CHECK_CONTAINS(js, "\"events\":[\"connection.needs_reauth\",\"connection.failing\"]");
    CHECK(strstr(js, "whsec") == NULL && strstr(js, "secret") == NULL);
    free(js);
    json_decref(j);

    /* Bad input. */
    char why[128];
    CHECK(!ch_notify_url_valid("ftp://x/", why, sizeof why));
    CHECK_CONTAINS(why, "http");
    CHECK(!ch_notify_url_valid("https://user:pw@host/", why, sizeof why));
    CHECK(!ch_notify_url_valid("https:///x", why, sizeof why));
    CHECK(!ch_notify_url_valid("https://h:99999/", why, sizeof why));
    CHECK(!ch_notify_url_valid("https://h/a b", why, sizeof why));
    CHECK(ch_notify_url_valid("https://[::1]:8443/x?y=1", why, sizeof why));
    CHECK(ch_notify_url_valid("http://hooks.example.com", why, sizeof why));
    CHECK(ch_notify_put("tA", "ftp://x/", CH_NEV_ALL, 0, NULL, &c, secret2) == C360_EINVAL);
    CHECK(ch_notify_put("tA", g_url, 0, 0, NULL, &c, secret2) == C360_EINVAL);

    /* Delete removes config, secret and indexes; a new PUT makes a new
     * secret. */
    CHECK(ch_notify_delete("tA") == C360_OK);
    CHECK(ch_notify_delete("tA") == C360_ENOTFOUND);
    CHECK(pf_int("EXISTS c360:{t:tA}:secret:_notify:signing") == 0);
    CHECK(pf_int("SISMEMBER c360:{idx}:notify-tenants tA") == 0);
    CHECK(ch_notify_put("tA", g_url, CH_NEV_ALL, 0, NULL, &c, secret2) == C360_OK);
    CHECK(secret2[0] && strcmp(secret, secret2) != 0);
    CHECK(c.version == 1);
    CHECK(ch_notify_delete("tA") == C360_OK);
}

static void test_emission(void)
{
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    /* No endpoint: nothing queued, and connstatus works as before. */
    CHECK(ch_notify_emit("tB", CH_NEV_FAILING, "c1", "failing", "x", NULL) == 0);
    CHECK(ch_connstatus_set("tB", "c1", "failing", "provider down") == C360_OK);
    CHECK(xlen("c360:{t:tB}:notify:q") == 0);

    CHECK(ch_notify_put("tB", g_url, CH_NEV_NEEDS_REAUTH | CH_NEV_RECOVERED, 0, NULL, &c, secret) ==
          C360_OK);
    /* failing -> failing: no change; failing is not subscribed anyway. */
    CHECK(ch_connstatus_set("tB", "c2", "failing", "boom") == C360_OK);
    CHECK(xlen("c360:{t:tB}:notify:q") == 0);
    /* failing -> active: recovered. */
    CHECK(ch_connstatus_set("tB", "c2", "active", "ok again") == C360_OK);
    CHECK(xlen("c360:{t:tB}:notify:q") == 1);
    /* active -> active: nothing. */
    CHECK(ch_connstatus_set("tB", "c2", "active", "") == C360_OK);
    /* active -> needs_reauth via a transition. */
    int changed = 0;
    CHECK(ch_connstatus_transition("tB", "c2", "active", "needs_reauth", "token revoked",
                                   &changed) == C360_OK);
    CHECK(changed == 1);
    CHECK(xlen("c360:{t:tB}:notify:q") == 2);
    /* A transition whose compare fails emits nothing. */
    CHECK(ch_connstatus_transition("tB", "c2", "active", "failing", "x", &changed) == C360_OK);
    CHECK(changed == 0);
    /* paused -> active is not a recovery. */
    CHECK(ch_connstatus_set("tB", "c3", "paused", "") == C360_OK);
    CHECK(ch_connstatus_set("tB", "c3", "active", "") == C360_OK);
    CHECK(xlen("c360:{t:tB}:notify:q") == 2);

    redisReply *r = pf_cmd("XRANGE c360:{t:tB}:notify:q - +");
    CHECK(r->elements == 2);
    if (r->elements == 2) {
        CHECK_STR(pf_entry_field(r->element[0], "type")->str, "connection.recovered");
        CHECK_STR(pf_entry_field(r->element[0], "c")->str, "c2");
        CHECK_STR(pf_entry_field(r->element[0], "cause")->str, "ok again");
        CHECK_CONTAINS(pf_entry_field(r->element[0], "data")->str, "\"previous_state\":\"failing\"");
        CHECK_STR(pf_entry_field(r->element[1], "type")->str, "connection.needs_reauth");
    }
    freeReplyObject(r);
    CHECK(strcmp(pf_str("ZSCORE c360:{idx}:notify-due tB"), "(nil)") != 0);
    CHECK(ch_notify_delete("tB") == C360_OK);
    CHECK(strcmp(pf_str("ZSCORE c360:{idx}:notify-due tB"), "(nil)") == 0);
}

/* Checks a received request's signature against the secret. */
static int signature_ok(const nr_req *q, const char *secret)
{
    uint8_t *key = NULL;
    size_t kl = 0;
    if (ch_base64_decode(secret + 6, strlen(secret) - 6, C360_B64_STANDARD, &key, &kl) != C360_OK)
        return 0;
    char msg[65536];
    int n = snprintf(msg, sizeof msg, "%s.%s.%s", q->id, q->ts, q->body);
    uint8_t mac[32];
    ch_hmac_sha256(key, kl, msg, (size_t)n, mac);
    free(key);
    char *b64 = ch_base64_encode(mac, sizeof mac, C360_B64_STANDARD);
    char want[128];
    snprintf(want, sizeof want, "v1,%s", b64);
    free(b64);
    return strcmp(q->sig, want) == 0;
}

static void test_send_retry_log(void)
{
    ch_notify_settings s = fast();
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    allow_receiver(1);
    nr_reset(&g_rx);
    CHECK(ch_notify_put("tC", g_url, CH_NEV_ALL, 0, NULL, &c, secret) == C360_OK);
    int script[] = {500};
    nr_script(&g_rx, script, 1);
    CHECK(ch_notify_emit("tC", CH_NEV_FAILING, "c9", "failing", "provider answers 503",
                         json_pack("{s:i}", "n", 7)) == 1);
    size_t sent = 0;
    CHECK(ch_notify_send_due(&s, &sent) == C360_OK);
    CHECK(sent == 1);
    CHECK(nr_count(&g_rx) == 1);
    /* The retry waits for its backoff (50 ms here). */
    drain(&s, 300, 5000);
    CHECK(nr_count(&g_rx) == 2);
    if (nr_count(&g_rx) == 2) {
        nr_req *a = &g_rx.reqs[0], *b = &g_rx.reqs[1];
        CHECK(a->status == 500 && b->status == 200);
        CHECK(strncmp(a->id, "ntf_", 4) == 0);
        CHECK_STR(a->id, b->id); /* the same webhook-id on every retry */
        CHECK(signature_ok(a, secret));
        CHECK(signature_ok(b, secret));
        json_t *body = json_loads(b->body, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(body, "id")), b->id);
        CHECK_STR(json_string_value(json_object_get(body, "type")), "connection.failing");
        CHECK_STR(json_string_value(json_object_get(body, "tenant")), "tC");
        CHECK_STR(json_string_value(json_object_get(body, "connection")), "c9");
        CHECK_STR(json_string_value(json_object_get(body, "state")), "failing");
        CHECK_STR(json_string_value(json_object_get(body, "cause")), "provider answers 503");
        CHECK(json_integer_value(json_object_get(body, "time_ms")) > 0);
        CHECK(json_integer_value(json_object_get(json_object_get(body, "data"), "n")) == 7);
        json_decref(body);
        /* A tampered body does not verify. */
        nr_req t = *b;
        char bad[4096];
        snprintf(bad, sizeof bad, "%s ", b->body);
        t.body = bad;
        CHECK(!signature_ok(&t, secret));
    }
    /* The log, newest first. */
    json_t *items = NULL;
    char next[64];
    CHECK(ch_notify_log_list("tC", NULL, 10, &items, next) == C360_OK);
    CHECK(json_array_size(items) == 2);
    json_t *d = json_array_get(items, 0), *f = json_array_get(items, 1);
    CHECK_STR(json_string_value(json_object_get(d, "outcome")), "delivered");
    CHECK(json_integer_value(json_object_get(d, "status_code")) == 200);
    CHECK(json_integer_value(json_object_get(d, "attempts")) == 2);
    CHECK_STR(json_string_value(json_object_get(d, "event")), "connection.failing");
    CHECK_STR(json_string_value(json_object_get(d, "connection")), "c9");
    CHECK(json_integer_value(json_object_get(d, "time_ms")) > 0);
    CHECK_STR(json_string_value(json_object_get(f, "outcome")), "retrying");
    CHECK(json_integer_value(json_object_get(f, "status_code")) == 500);
    CHECK(json_integer_value(json_object_get(f, "attempts")) == 1);
    CHECK_STR(json_string_value(json_object_get(f, "error")), "HTTP 500");
    CHECK(next[0] == '\0');
    json_decref(items);
    /* Paging. */
    CHECK(ch_notify_log_list("tC", NULL, 1, &items, next) == C360_OK);
    CHECK(json_array_size(items) == 1 && next[0]);
    json_decref(items);
    CHECK(ch_notify_log_list("tC", next, 1, &items, next) == C360_OK);
    CHECK(json_array_size(items) == 1 && next[0] == '\0');
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "outcome")), "retrying");
    json_decref(items);
    CHECK(ch_notify_log_list("tC", "nope", 1, &items, next) == C360_EINVAL);
    /* Nothing left to do: the tenant left the due set, the retry set is
     * empty. */
    CHECK(pf_int("ZCARD c360:{t:tC}:notify:retry") == 0);
    CHECK(strcmp(pf_str("ZSCORE c360:{idx}:notify-due tC"), "(nil)") == 0);

    /* Always failing: given up after max_attempts. */
    nr_reset(&g_rx);
    int fails[] = {500, 502, 503};
    nr_script(&g_rx, fails, 3);
    s.max_attempts = 3;
    CHECK(ch_notify_emit("tC", CH_NEV_NEEDS_REAUTH, "c9", "needs_reauth", "", NULL) == 1);
    drain(&s, 500, 8000);
    CHECK(nr_count(&g_rx) == 3);
    CHECK(ch_notify_log_list("tC", NULL, 1, &items, next) == C360_OK);
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "outcome")), "failed");
    CHECK(json_integer_value(json_object_get(json_array_get(items, 0), "attempts")) == 3);
    json_decref(items);
    CHECK(pf_int("ZCARD c360:{t:tC}:notify:retry") == 0);

    /* The test send: once, now, logged. */
    nr_reset(&g_rx);
    json_t *res = NULL;
    CHECK(ch_notify_test("tC", 3000, &res) == C360_OK);
    CHECK_STR(json_string_value(json_object_get(res, "outcome")), "delivered");
    CHECK(json_integer_value(json_object_get(res, "status_code")) == 200);
    json_decref(res);
    CHECK(nr_count(&g_rx) == 1);
    if (nr_count(&g_rx) == 1) {
        CHECK(signature_ok(&g_rx.reqs[0], secret));
        CHECK_CONTAINS(g_rx.reqs[0].body, "\"type\":\"notification.test\"");
    }
    CHECK(ch_notify_log_list("tC", NULL, 1, &items, next) == C360_OK);
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "event")),
              "notification.test");
    json_decref(items);
    CHECK(ch_notify_test("nobody", 1000, &res) == C360_ENOTFOUND);

    /* The SSRF policy: loopback is refused without the allowlist. */
    allow_receiver(0);
    nr_reset(&g_rx);
    CHECK(ch_notify_test("tC", 3000, &res) == C360_OK);
    CHECK_STR(json_string_value(json_object_get(res, "outcome")), "failed");
    CHECK(json_is_null(json_object_get(res, "status_code")));
    CHECK_CONTAINS(json_string_value(json_object_get(res, "error")), "loopback");
    CHECK(strstr(json_string_value(json_object_get(res, "error")), "127.0.0.1:") != NULL);
    json_decref(res);
    CHECK(nr_count(&g_rx) == 0);
    allow_receiver(1);
    CHECK(ch_notify_delete("tC") == C360_OK);
}

/* Two "hosts" run the sender at once over many tenants: every
 * notification arrives exactly once (claims are exclusive). */
static void *sender_thread(void *arg)
{
    ch_notify_settings *s = arg;
    drain(s, 400, 10000);
    ch_rconn_thread_close();
    ch_httpc_thread_close();
    return NULL;
}

static void test_two_senders(void)
{
    nr_reset(&g_rx);
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX], t[16];
    for (int i = 0; i < 8; i++) {
        snprintf(t, sizeof t, "tm%d", i);
        CHECK(ch_notify_put(t, g_url, CH_NEV_ALL, 0, NULL, &c, secret) == C360_OK);
        for (int k = 0; k < 4; k++)
            CHECK(ch_notify_emit(t, CH_NEV_FAILING, "c1", "failing", "x", NULL) == 1);
    }
    ch_notify_settings s1 = fast(), s2 = fast();
    s1.sends_per_tenant = s2.sends_per_tenant = 2;
    s1.tenants_per_claim = s2.tenants_per_claim = 3;
    pthread_t a, b;
    pthread_create(&a, NULL, sender_thread, &s1);
    pthread_create(&b, NULL, sender_thread, &s2);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(nr_count(&g_rx) == 32);
    int dups = 0;
    for (int i = 0; i < g_rx.n; i++)
        for (int j = i + 1; j < g_rx.n; j++)
            if (strcmp(g_rx.reqs[i].id, g_rx.reqs[j].id) == 0) dups++;
    CHECK(dups == 0);
    for (int i = 0; i < 8; i++) {
        snprintf(t, sizeof t, "tm%d", i);
        CHECK(ch_notify_delete(t) == C360_OK);
    }
}

static void add_dlq(const char *tenant, const char *kind, const char *conn)
{
    if (strcmp(kind, "dl") == 0)
        pf_do("XADD c360:{t:%s}:dlq * kind dl why attempts err x d %s s src ri r1 r {} a 8 t 1",
              tenant, conn);
    else
        pf_do("XADD c360:{t:%s}:dlq * kind ev why error err x k wh c %s p p1 t 1 a 1 b x", tenant,
              conn);
}

static const char *last_type(const char *tenant)
{
    static char buf[64];
    redisReply *r = pf_cmd("XREVRANGE c360:{t:%s}:notify:q + - COUNT 1", tenant);
    snprintf(buf, sizeof buf, "%s",
             r->elements == 1 ? pf_entry_field(r->element[0], "type")->str : "");
    freeReplyObject(r);
    return buf;
}

static void test_dlq_watch(void)
{
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    size_t n = 0;
    /* Not subscribed: nothing. */
    CHECK(ch_notify_put("tD", g_url, CH_NEV_FAILING, 0, NULL, &c, secret) == C360_OK);
    add_dlq("tD", "ev", "c1");
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 0);
    CHECK(ch_notify_put("tD", g_url, CH_NEV_DLQ_GROWING, 0, NULL, &c, secret) == C360_OK);
    /* The first look counts what is there: 1 for c1. */
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 1);
    CHECK_STR(last_type("tD"), "dead_letters.growing");
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 0);
    /* 9 in all: no new threshold; the delivery kind counts its destination. */
    for (int i = 0; i < 7; i++) add_dlq("tD", "ev", "c1");
    add_dlq("tD", "dl", "c1");
    add_dlq("tD", "dl", "c2");
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 1); /* c2 reached 1 */
    CHECK(atoi(pf_str("HGET c360:{t:tD}:notify:dlc n:c1")) == 9);
    add_dlq("tD", "ev", "c1");
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 1); /* c1 reached 10 */
    redisReply *r = pf_cmd("XREVRANGE c360:{t:tD}:notify:q + - COUNT 1");
    CHECK_CONTAINS(pf_entry_field(r->element[0], "data")->str, "\"threshold\":10");
    CHECK_STR(pf_entry_field(r->element[0], "c")->str, "c1");
    freeReplyObject(r);
    /* Discarding (any removal) recounts: c1 falls to 5, level 1, quietly;
     * growing back to 10 notifies again. */
    r = pf_cmd("XRANGE c360:{t:tD}:dlq - + COUNT 5");
    for (size_t i = 0; i < r->elements; i++) pf_do("XDEL c360:{t:tD}:dlq %s", r->element[i]->element[0]->str);
    freeReplyObject(r);
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 0);
    CHECK(atoi(pf_str("HGET c360:{t:tD}:notify:dlc n:c1")) == 5);
    CHECK(atoi(pf_str("HGET c360:{t:tD}:notify:dlc l:c1")) == 1);
    for (int i = 0; i < 5; i++) add_dlq("tD", "ev", "c1");
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK && n == 1);
    /* A lost due mark is repaired by the watch. */
    pf_do("ZREM c360:{idx}:notify-due tD");
    CHECK(ch_notify_watch_tenant("tD", &n) == C360_OK);
    CHECK(strcmp(pf_str("ZSCORE c360:{idx}:notify-due tD"), "(nil)") != 0);
    CHECK(ch_notify_delete("tD") == C360_OK);
}

static void test_refresh_expiry(void)
{
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    long long now = (long long)ch_now_ms();
    CHECK(ch_notify_put("tE", g_url, CH_NEV_RT_EXPIRING, 0, NULL, &c, secret) == C360_OK);
    pf_do("HSET c360:{t:tE}:oauth:c1:main version 1 sid %032d refresh_expires_at_ms %lld", 0,
          now + 2 * 86400000LL);
    pf_do("HSET c360:{t:tE}:oauth:c2:main version 1 sid %032d refresh_expires_at_ms %lld", 0,
          now + 30 * 86400000LL); /* far away */
    pf_do("HSET c360:{t:tE}:oauth:c3:main version 1 sid %032d refresh_expires_at_ms %lld dead 1",
          0, now + 86400000LL); /* dead: needs_reauth already said it */
    pf_do("SET c360:{t:tE}:oauth:c1:main:lease x");
    /* Another tenant, not subscribed. */
    pf_do("HSET c360:{t:tF}:oauth:c1:main version 1 sid %032d refresh_expires_at_ms %lld", 0,
          now + 86400000LL);
    size_t n = 0;
    CHECK(ch_notify_expiry_pass(7LL * 86400000LL, &n) == C360_OK);
    CHECK(n == 1);
    redisReply *r = pf_cmd("XRANGE c360:{t:tE}:notify:q - +");
    CHECK(r->elements == 1);
    if (r->elements == 1) {
        CHECK_STR(pf_entry_field(r->element[0], "type")->str, "refresh_token.expiring");
        CHECK_STR(pf_entry_field(r->element[0], "c")->str, "c1");
        CHECK_CONTAINS(pf_entry_field(r->element[0], "data")->str, "\"token\":\"main\"");
    }
    freeReplyObject(r);
    /* Once per expiry. */
    CHECK(ch_notify_expiry_pass(7LL * 86400000LL, &n) == C360_OK && n == 0);
    /* A new refresh token with another expiry in the window warns again. */
    pf_do("HSET c360:{t:tE}:oauth:c1:main refresh_expires_at_ms %lld", now + 3 * 86400000LL);
    CHECK(ch_notify_expiry_pass(7LL * 86400000LL, &n) == C360_OK && n == 1);
    CHECK(xlen("c360:{t:tF}:notify:q") == 0);
    CHECK(ch_notify_delete("tE") == C360_OK);
}

/* The thread sends on its own. */
static void test_thread(void)
{
    nr_reset(&g_rx);
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    CHECK(ch_notify_put("tG", g_url, CH_NEV_ALL, 0, NULL, &c, secret) == C360_OK);
    ch_notify_settings s = fast();
    s.period_ms = 50;
    CHECK(ch_notify_start(&s) == CH_OK);
    CHECK(ch_connstatus_set("tG", "c1", "needs_reauth", "revoked") == C360_OK);
    for (int i = 0; i < 200 && nr_count(&g_rx) < 1; i++) fx_sleep_ms(20);
    CHECK(nr_count(&g_rx) == 1);
    ch_notify_stop();
    ch_notify_stop();
    CHECK(ch_notify_delete("tG") == C360_OK);
}

int main(void)
{
    int port = fx_rconn_start(2000);
    pf_raw_connect(port);
    char err[256];
    ch_keyring *kr = NULL;
    const char *ktext = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    if (ch_keyring_parse(ktext, strlen(ktext), 0, "test", &kr, err, sizeof err) != CH_OK) return 1;
    ch_secrets_init(kr);
    nr_start(&g_rx);
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d/hooks/c360", g_rx.port);

    test_config();
    test_emission();
    test_send_retry_log();
    test_two_senders();
    test_dlq_watch();
    test_refresh_expiry();
    test_thread();

    nr_stop(&g_rx);
    ch_httpc_configure(NULL, err, sizeof err);
    ch_httpc_thread_close();
    ch_secrets_init(NULL);
    ch_keyring_free(kr);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    CHECK_DONE();
}
