/* test_zoom_parts.c -- the zoom plugin's pure parts without a host:
 * config checks, x-zm-signature (v0, timestamp window), the
 * url_validation answer, routing keys, webhook payloads and dedup keys,
 * registrant / attendance records (no join_url), Retry-After. Crypto
 * from libsodium (the host's helpers are libsodium too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "zoom.h"

static void t_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}

static int t_eq(const void *a, const void *b, size_t len) { return sodium_memcmp(a, b, len) == 0; }

static const zoom_crypto CR = {t_hmac, t_eq};

static void sign(const char *secret, const char *ts, const char *body, char out[80])
{
    char msg[4096];
    uint8_t mac[32];
    char hex[65];
    snprintf(msg, sizeof msg, "v0:%s:%s", ts, body);
    t_hmac(secret, strlen(secret), msg, strlen(msg), mac);
    zoom_hex(mac, 32, hex);
    snprintf(out, 80, "v0=%s", hex);
}

static int cfg_errors;
static void on_cfg_err(void *arg, const char *ptr, const char *msg)
{
    (void)arg; (void)ptr; (void)msg;
    cfg_errors++;
}

static void test_config(void)
{
    zoom_cfg c;
    const char *ok = "{\"account_id\":\"AbC-123_x\",\"client_id\":\"cid.1\",\"meeting_ids\":[\"81\"],"
                     "\"webinar_ids\":[\"92\",\"93\"],\"attendance\":false,\"poll_interval_s\":300}";
    CHECK(zoom_config_parse(ok, strlen(ok), &c, on_cfg_err, NULL) == 0);
    CHECK_STR(c.account_id, "AbC-123_x");
    CHECK(c.nmeetings == 1 && c.nwebinars == 2 && !c.attendance && c.poll_interval_s == 300);
    cfg_errors = 0;
    const char *bad = "{\"account_id\":\"a b\",\"meeting_ids\":[\"x\",\"81\",\"81\"],\"poll_interval_s\":5,\"zz\":1}";
    CHECK(zoom_config_parse(bad, strlen(bad), &c, on_cfg_err, NULL) == 6);
    CHECK(cfg_errors == 6);
    CHECK(zoom_config_parse("[]", 2, &c, NULL, NULL) == 1);
}

static void test_signature(void)
{
    zoom_apps m;
    zoom_apps_init(&m);
    const char *s1 = "secret-token-one", *s2 = "secret-token-two";
    zoom_app *a = zoom_apps_get(&m, &CR, (const uint8_t *)s1, strlen(s1));
    zoom_app *b = zoom_apps_get(&m, &CR, (const uint8_t *)s2, strlen(s2));
    zoom_app *a2 = zoom_apps_get(&m, &CR, (const uint8_t *)s1, strlen(s1));
    CHECK(a == a2 && a != b && a->refs == 2);
    CHECK(strcmp(a->fp, b->fp) != 0 && strlen(a->fp) == ZOOM_FP_LEN);
    const char *body = "{\"event\":\"x\"}";
    char sig[80];
    sign(s2, "1700000000", body, sig);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), sig, "1700000000",
                         (const uint8_t *)body, strlen(body), 1700000100) == ZOOM_SIG_OK);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s1, strlen(s1), sig, "1700000000",
                         (const uint8_t *)body, strlen(body), 1700000100) == ZOOM_SIG_BAD);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), sig, "1700000000",
                         (const uint8_t *)body, strlen(body), 1700000301) == ZOOM_SIG_STALE);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), sig, "1700000000",
                         (const uint8_t *)body, strlen(body), 1699999699) == ZOOM_SIG_STALE);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), NULL, "1700000000",
                         (const uint8_t *)body, strlen(body), 1700000000) == ZOOM_SIG_MISSING);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), "v0=zz", "1700000000",
                         (const uint8_t *)body, strlen(body), 1700000000) == ZOOM_SIG_MALFORMED);
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), sig, "17e8",
                         (const uint8_t *)body, strlen(body), 1700000000) == ZOOM_SIG_MALFORMED);
    /* a body changed by one byte */
    CHECK(zoom_sig_check(&CR, (const uint8_t *)s2, strlen(s2), sig, "1700000000",
                         (const uint8_t *)"{\"event\":\"y\"}", strlen(body), 1700000000) == ZOOM_SIG_BAD);
    char fps[4][ZOOM_FP_LEN + 1];
    size_t n = 9;
    CHECK(zoom_apps_match(&m, &CR, sig, "1700000000", (const uint8_t *)body, strlen(body),
                          1700000000, fps, 4, &n) == ZOOM_SIG_OK);
    CHECK(n == 1 && strcmp(fps[0], b->fp) == 0);
    char bad[80];
    sign("other", "1700000000", body, bad);
    CHECK(zoom_apps_match(&m, &CR, bad, "1700000000", (const uint8_t *)body, strlen(body),
                          1700000000, fps, 4, &n) == ZOOM_SIG_BAD && n == 0);

    /* url_validation: encryptedToken = hex HMAC(secret, plainToken) */
    char out[256], want[65];
    size_t ol = 0;
    uint8_t mac[32];
    t_hmac(s1, strlen(s1), "qgg8vlvZRS6UYooatFL8Aw", 22, mac);
    zoom_hex(mac, 32, want);
    CHECK(zoom_validation_reply(&CR, (const uint8_t *)s1, strlen(s1), "qgg8vlvZRS6UYooatFL8Aw",
                                out, sizeof out, &ol));
    CHECK_CONTAINS(out, "{\"plainToken\":\"qgg8vlvZRS6UYooatFL8Aw\",\"encryptedToken\":\"");
    CHECK_CONTAINS(out, want);
    CHECK(ol == strlen(out));
    CHECK(!zoom_validation_reply(&CR, (const uint8_t *)s1, strlen(s1), "a\"b", out, sizeof out, &ol));
    CHECK(!zoom_validation_reply(&CR, (const uint8_t *)s1, strlen(s1), "", out, sizeof out, &ol));
    char key[ZOOM_KEY_MAX];
    CHECK(zoom_route_key("ACC1", a->fp, key, sizeof key));
    CHECK(strncmp(key, "acct:ACC1:", 10) == 0);
    zoom_apps_put(&m, a);
    zoom_apps_put(&m, a2);
    zoom_apps_put(&m, b);
    CHECK(m.head == NULL);
    zoom_apps_destroy(&m);
}

static void test_payloads(void)
{
    const char *reg =
        "{\"event\":\"webinar.registration_created\",\"event_ts\":1626230691572,\"payload\":{"
        "\"account_id\":\"ACC1\",\"object\":{\"uuid\":\"u==\",\"id\":85746065432,\"topic\":\"Launch\","
        "\"start_time\":\"2021-07-15T10:00:00Z\",\"registrant\":{\"id\":\"R-1_a\",\"first_name\":\" Jill \","
        "\"last_name\":\"Chill\",\"email\":\"jill@example.com\",\"org\":\"ACME\",\"job_title\":\"CTO\","
        "\"custom_questions\":[{\"title\":\"Budget?\",\"value\":\"10k\"},{\"value\":\"x\"}],"
        "\"status\":\"approved\",\"join_url\":\"https://zoom.us/w/secret-join\"}}}}";
    json_t *root = json_loads(reg, 0, NULL);
    zoom_ev ev;
    CHECK(zoom_ev_parse(root, &ev) == 0);
    CHECK(ev.kind == ZOOM_EV_REGISTRATION && ev.webinar);
    CHECK_STR(ev.account_id, "ACC1");
    CHECK_STR(ev.object_id, "85746065432");
    CHECK_STR(ev.dedup, "registration:w:85746065432:R-1_a");
    zoom_rec_ctx x = {"zoom-a", "webhook", 1700000000000, ev.event_ms};
    char id[160];
    const char *why = NULL;
    json_t *r = zoom_registrant_record(ev.item, ev.webinar, ev.object_id, "Launch", &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "zoom:registrant:85746065432:R-1_a");
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(s, "\"schema\":\"c360.registrant.v1\"");
    CHECK_CONTAINS(s, "\"email\":\"jill@example.com\"");
    CHECK_CONTAINS(s, "\"first_name\":\"Jill\"");
    CHECK_CONTAINS(s, "\"full_name\":\"Jill Chill\"");
    CHECK_CONTAINS(s, "\"company\":\"ACME\"");
    CHECK_CONTAINS(s, "{\"key\":\"Budget?\",\"label\":\"Budget?\",\"values\":[\"10k\"]}");
    CHECK_CONTAINS(s, "\"webinar\":{\"id\":\"85746065432\",\"topic\":\"Launch\"}");
    CHECK_CONTAINS(s, "\"created_at\":\"2021-07-14T02:44:51Z\"");
    CHECK(strstr(s, "join") == NULL && strstr(s, "secret-join") == NULL);
    free(s);
    json_decref(r);
    json_decref(root);

    const char *joined =
        "{\"event\":\"meeting.participant_joined\",\"event_ts\":1,\"payload\":{\"account_id\":\"ACC1\","
        "\"object\":{\"id\":\"81\",\"uuid\":\"mu\",\"topic\":\"Demo\",\"participant\":{\"user_id\":\"16778240\","
        "\"user_name\":\"Jill Chill\",\"id\":\"p1\",\"participant_uuid\":\"PU-1\",\"join_time\":\"2024-01-02T03:04:05Z\","
        "\"email\":\"jill@example.com\",\"registrant_id\":\"R-1_a\"}}}}";
    root = json_loads(joined, 0, NULL);
    CHECK(zoom_ev_parse(root, &ev) == 0 && ev.kind == ZOOM_EV_JOINED && !ev.webinar);
    CHECK_STR(ev.dedup, "joined:m:81:PU-1:1704164645");
    r = zoom_attendance_record(&ev, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "zoom:attendance:81:PU-1:1704164645");
    s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(s, "\"schema\":\"c360.attendance.v1\"");
    CHECK_CONTAINS(s, "\"joined_at\":\"2024-01-02T03:04:05Z\"");
    CHECK_CONTAINS(s, "\"registrant_id\":\"R-1_a\"");
    CHECK_CONTAINS(s, "\"meeting\":{\"id\":\"81\",\"topic\":\"Demo\"}");
    free(s);
    json_decref(r);
    json_decref(root);

    /* hostile and uninteresting bodies */
    const char *cases[] = {
        "{\"event\":\"meeting.started\",\"payload\":{\"account_id\":\"A\",\"object\":{\"id\":1}}}",
        "{\"event\":\"meeting.registration_created\",\"payload\":{\"account_id\":\"A\",\"object\":{\"id\":\"x\"}}}",
        "{\"event\":\"meeting.registration_created\",\"payload\":{\"object\":{\"id\":1,\"registrant\":{\"id\":\"r\"}}}}",
        "{\"event\":\"meeting.participant_joined\",\"payload\":{\"account_id\":\"A\",\"object\":{\"id\":1,\"participant\":{\"id\":\"p\"}}}}",
        "{\"event\":\"meeting.registration_created\",\"payload\":{\"account_id\":\"A\",\"object\":{\"id\":1,\"registrant\":{\"id\":\"a b\"}}}}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        root = json_loads(cases[i], 0, NULL);
        CHECK(zoom_ev_parse(root, &ev) == 0 && ev.kind == ZOOM_EV_NONE);
        json_decref(root);
    }
    root = json_loads("[1]", 0, NULL);
    CHECK(zoom_ev_parse(root, &ev) < 0);
    json_decref(root);
    root = json_loads("{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":\"abc\"}}", 0, NULL);
    CHECK(zoom_ev_parse(root, &ev) == 0 && ev.kind == ZOOM_EV_VALIDATION);
    CHECK_STR(ev.plain_token, "abc");
    json_decref(root);
}

static void test_times(void)
{
    int64_t now = 1700000000000;
    CHECK(zoom_retry_after_ms("3", now) == 3000);
    CHECK(zoom_retry_after_ms(" 0 ", now) == 0);
    CHECK(zoom_retry_after_ms("2023-11-14T22:13:30Z", now) == 10000);
    CHECK(zoom_retry_after_ms("Tue, 14 Nov 2023 22:13:30 GMT", now) == 10000);
    CHECK(zoom_retry_after_ms("2000-01-01T00:00:00Z", now) == 0);
    CHECK(zoom_retry_after_ms("soon", now) == -1);
    CHECK(zoom_retry_after_ms(NULL, now) == -1);
    CHECK(zoom_retry_after_ms("99999999999", now) == 48LL * 3600 * 1000);
    CHECK(zoom_ms_to_midnight(86400000LL * 5 + 1000) == 86400000LL - 1000);
    CHECK(zoom_time_parse("2021-07-14T02:44:51.572Z") == 1626230691);
    CHECK(zoom_time_parse("2021-07-14T04:44:51+02:00") == 1626230691);
    CHECK(zoom_time_parse("garbage") == -1);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    test_config();
    test_signature();
    test_payloads();
    test_times();
    CHECK_DONE();
}
