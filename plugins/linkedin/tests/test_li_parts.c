/* test_li_parts.c -- the linkedin plugin's pure parts without a host:
 * config checks, X-LI-Signature (with and without the hmacsha256= prefix),
 * the challenge answer and its input rules, the app map and routing keys,
 * lead notifications, lead and deletion records, the 429 backoff.
 * Crypto from libsodium (the host's helpers are libsodium too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "li.h"

static void t_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}

static int t_eq(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

static const li_crypto CR = {t_hmac, t_eq};

/* hex HMAC(secret, "hmacsha256=" + body) */
static void sign(const char *secret, const char *body, char out[65])
{
    uint8_t mac[32];
    size_t n = strlen(body);
    char *m = malloc(n + 12);
    memcpy(m, "hmacsha256=", 11);
    memcpy(m + 11, body, n);
    t_hmac(secret, strlen(secret), m, n + 11, mac);
    free(m);
    li_hex(mac, 32, out);
}

static int nerr;
static char lasterr[256];
static void on_err(void *arg, const char *ptr, const char *msg)
{
    (void)arg;
    nerr++;
    snprintf(lasterr, sizeof lasterr, "%s %s", ptr, msg);
}

static void test_config(void)
{
    li_cfg c;
    const char *ok = "{\"client_id\":\"77abc\",\"sponsored_account_ids\":[\"123\"],"
                     "\"organization_ids\":[\"456\"],\"poll_interval_s\":300,\"api_version\":\"202506\"}";
    CHECK(li_config_parse(ok, strlen(ok), &c, on_err, NULL) == 0);
    CHECK_STR(c.client_id, "77abc");
    CHECK(c.nowners == 2 && c.owners[0].kind == LI_SPONSORED && c.owners[1].kind == LI_ORGANIZATION);
    CHECK(li_owns(&c, LI_SPONSORED, "123") && !li_owns(&c, LI_ORGANIZATION, "123"));
    const char *bad[] = {
        "{\"client_id\":\"77abc\"}",
        "{\"client_id\":\"a b\",\"sponsored_account_ids\":[\"1\"]}",
        "{\"client_id\":\"x\",\"sponsored_account_ids\":[\"1x\"]}",
        "{\"client_id\":\"x\",\"sponsored_account_ids\":[\"1\",\"1\"]}",
        "{\"client_id\":\"x\",\"sponsored_account_ids\":[\"1\"],\"api_version\":\"202513\"}",
        "{\"client_id\":\"x\",\"sponsored_account_ids\":[\"1\"],\"poll_interval_s\":5}",
        "{\"client_id\":\"x\",\"sponsored_account_ids\":[\"1\"],\"webhook_url\":\"ftp://x\"}",
        "{\"client_id\":\"x\",\"sponsored_account_ids\":[\"1\"],\"other\":1}",
        "[1]", "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nerr = 0;
        CHECK(li_config_parse(bad[i], strlen(bad[i]), &c, on_err, NULL) > 0);
        CHECK(nerr > 0);
    }
    json_t *schema = json_loads(li_config_schema, 0, NULL);
    CHECK(json_is_object(schema));
    json_decref(schema);
}

static void test_signature(void)
{
    const char *secret = "s3cret";
    const char *body = "{\"type\":\"LEAD_ACTION\"}";
    char hex[65], pref[80];
    sign(secret, body, hex);
    snprintf(pref, sizeof pref, "hmacsha256=%s", hex);
    const uint8_t *s = (const uint8_t *)secret;
    const uint8_t *b = (const uint8_t *)body;
    CHECK(li_sig_ok(&CR, s, 6, hex, b, strlen(body)));
    CHECK(li_sig_ok(&CR, s, 6, pref, b, strlen(body)));
    CHECK(!li_sig_ok(&CR, s, 6, NULL, b, strlen(body)));
    CHECK(!li_sig_ok(&CR, s, 6, "", b, strlen(body)));
    CHECK(!li_sig_ok(&CR, s, 6, "hmacsha256=", b, strlen(body)));
    CHECK(!li_sig_ok(&CR, (const uint8_t *)"other!", 6, hex, b, strlen(body)));
    CHECK(!li_sig_ok(&CR, s, 6, hex, b, strlen(body) - 1));
    hex[5] = hex[5] == 'a' ? 'b' : 'a';
    CHECK(!li_sig_ok(&CR, s, 6, hex, b, strlen(body)));
    /* The plain HMAC of the body (without the prefix) is not accepted. */
    uint8_t mac[32];
    char plain[65];
    t_hmac(secret, 6, body, strlen(body), mac);
    li_hex(mac, 32, plain);
    CHECK(!li_sig_ok(&CR, s, 6, plain, b, strlen(body)));
}

static void test_challenge(void)
{
    char out[256], want[65];
    uint8_t mac[32];
    const char *code = "0f2c3a5e-1234-4bcd-9abc-0123456789ab";
    CHECK(li_challenge_answer(&CR, (const uint8_t *)"sec", 3, code, out, sizeof out));
    t_hmac("sec", 3, code, strlen(code), mac);
    li_hex(mac, 32, want);
    char exp[256];
    snprintf(exp, sizeof exp, "{\"challengeCode\":\"%s\",\"challengeResponse\":\"%s\"}", code, want);
    CHECK_STR(out, exp);
    /* No oracle: nothing with '=' or quotes, nothing long. */
    CHECK(!li_challenge_ok("hmacsha256={}", 13));
    CHECK(!li_challenge_ok("a\"b", 3));
    CHECK(!li_challenge_ok("", 0));
    char longc[80];
    memset(longc, 'a', 70);
    longc[70] = 0;
    CHECK(!li_challenge_ok(longc, 70));

    li_apps m;
    li_apps_init(&m);
    CHECK(li_apps_challenge(&m, &CR, NULL, code, out, sizeof out) == 0);
    li_app *a = li_apps_get(&m, &CR, "appA", (const uint8_t *)"sec", 3);
    li_app *a2 = li_apps_get(&m, &CR, "appA", (const uint8_t *)"sec", 3);
    CHECK(a == a2 && a->refs == 2);
    CHECK(li_apps_challenge(&m, &CR, NULL, code, out, sizeof out) > 0);
    CHECK_STR(out, exp);
    li_app *b = li_apps_get(&m, &CR, "appB", (const uint8_t *)"other", 5);
    CHECK(li_apps_challenge(&m, &CR, NULL, code, out, sizeof out) == 0); /* ambiguous */
    CHECK(li_apps_challenge(&m, &CR, "appA", code, out, sizeof out) > 0);
    CHECK_STR(out, exp);
    CHECK(li_apps_challenge(&m, &CR, "nobody", code, out, sizeof out) == 0);
    /* A second, wrong secret for appA (someone else's connection naming
     * the public client id): unproven pairs become ambiguous; once the
     * genuine pair obtained a token it answers, whatever else is known. */
    li_app *evil = li_apps_get(&m, &CR, "appA", (const uint8_t *)"wrong", 5);
    CHECK(li_apps_challenge(&m, &CR, "appA", code, out, sizeof out) == 0);
    atomic_store(&a->proven, 1);
    CHECK(li_apps_challenge(&m, &CR, "appA", code, out, sizeof out) > 0);
    CHECK_STR(out, exp);
    li_apps_put(&m, evil);
    /* Signature matching and routing keys by fingerprint. */
    const char *body = "{\"x\":1}";
    char hex[65];
    sign("other", body, hex);
    li_match mm[4];
    CHECK(li_apps_match(&m, &CR, hex, (const uint8_t *)body, strlen(body), mm, 4) == 1);
    CHECK_STR(mm[0].client_id, "appB");
    CHECK_STR(mm[0].fp, b->fp);
    CHECK(strcmp(a->fp, b->fp) != 0 && strlen(a->fp) == LI_FP_LEN);
    char key[LI_ROUTE_KEY_MAX];
    CHECK(li_route_key("appB", b->fp, LI_SPONSORED, "123", key, sizeof key));
    CHECK(strncmp(key, "app:appB:", 9) == 0 && strstr(key, ":sa:123") != NULL);
    CHECK(li_route_key("appB", b->fp, LI_ORGANIZATION, "9", key, sizeof key) && strstr(key, ":org:9"));
    li_apps_put(&m, a);
    li_apps_put(&m, a2);
    li_apps_put(&m, b);
    CHECK(m.head == NULL);
    li_apps_destroy(&m);
}

static void test_note(void)
{
    const char *body =
        "{\"type\":\"LEAD_ACTION\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:abc-1\","
        "\"leadGenForm\":\"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:77,3)\","
        "\"owner\":{\"sponsoredAccount\":\"urn:li:sponsoredAccount:123\"},"
        "\"associatedEntity\":{\"sponsoredCreative\":\"urn:li:sponsoredCreative:456\"},"
        "\"leadType\":\"SPONSORED\",\"leadAction\":\"CREATED\",\"occurredAt\":1686182358881}";
    json_t *j = json_loads(body, 0, NULL);
    li_note n;
    const char *why = NULL;
    CHECK(li_note_parse(j, &n, &why));
    CHECK(n.action == LI_CREATED && n.owner.kind == LI_SPONSORED);
    CHECK_STR(n.owner.id, "123");
    CHECK_STR(n.response_id, "abc-1");
    CHECK_STR(n.form_id, "77");
    CHECK_STR(n.form_version, "3");
    CHECK(n.occurred_ms == 1686182358881LL);
    CHECK_STR(n.dedup, "lead:abc-1:CREATED:1686182358881");
    json_decref(j);
    const char *bad[] = {
        "{\"type\":\"OTHER\",\"leadAction\":\"CREATED\"}",
        "{\"leadAction\":\"UPDATED\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:1\",\"owner\":{\"organization\":\"urn:li:organization:5\"}}",
        "{\"leadAction\":\"CREATED\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:a/b\",\"owner\":{\"organization\":\"urn:li:organization:5\"}}",
        "{\"leadAction\":\"CREATED\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:1\",\"owner\":{\"organization\":\"urn:li:organization:x\"}}",
        "{\"leadAction\":\"CREATED\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:1\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_loads(bad[i], 0, NULL);
        CHECK(!li_note_parse(j, &n, &why));
        json_decref(j);
    }
    j = json_loads("{\"leadAction\":\"DELETED\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:9\","
                   "\"owner\":{\"organization\":\"urn:li:organization:5\"}}", 0, NULL);
    CHECK(li_note_parse(j, &n, &why) && n.action == LI_DELETED && n.owner.kind == LI_ORGANIZATION);
    CHECK(n.occurred_ms == -1);
    json_decref(j);
    li_id f, v;
    CHECK(!li_form_urn("urn:li:versionedLeadGenForm:(urn:li:leadGenForm:1,1)x", f, v));
    CHECK(li_form_urn("urn:li:leadGenForm:42", f, v) && strcmp(f, "42") == 0 && v[0] == 0);
}

static void test_records(void)
{
    const char *form_json =
        "{\"id\":77,\"name\":\"Spring\",\"content\":{\"questions\":["
        "{\"questionId\":1,\"name\":\"email\",\"predefinedField\":\"EMAIL\",\"question\":{\"localized\":{\"en_US\":\"Email\"}}},"
        "{\"questionId\":2,\"name\":\"first\",\"predefinedField\":\"FIRST_NAME\"},"
        "{\"questionId\":3,\"name\":\"budget\",\"question\":{\"localized\":{\"en_US\":\"Your budget?\"}}},"
        "{\"questionId\":4,\"name\":\"size\",\"questionDetails\":{\"multipleChoiceQuestionDetails\":{\"options\":[{\"id\":1,\"text\":{\"localized\":{\"en_US\":\"Small\"}}}]}}}"
        "],\"consents\":[{\"consentId\":9,\"consent\":{\"localized\":{\"en_US\":\"Offers ok\"}}}]}}";
    json_t *fj = json_loads(form_json, 0, NULL);
    json_t *form = li_form_compact(fj);
    json_decref(fj);
    CHECK_STR(li_str(form, "id"), "77");
    const char *resp_json =
        "{\"id\":\"abc-1\",\"submittedAt\":1706741502694,\"testLead\":false,"
        "\"versionedLeadGenFormUrn\":\"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:77,3)\","
        "\"owner\":{\"sponsoredAccount\":\"urn:li:sponsoredAccount:123\"},"
        "\"associatedEntity\":{\"sponsoredCreative\":\"urn:li:sponsoredCreative:456\"},"
        "\"formResponse\":{\"answers\":["
        "{\"questionId\":1,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\" a@b.com \"}}},"
        "{\"questionId\":2,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\"Ann\"}}},"
        "{\"questionId\":3,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\"10k\"}}},"
        "{\"questionId\":4,\"answerDetails\":{\"multipleChoiceAnswer\":{\"options\":[1,2]}}},"
        "{\"questionId\":5,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\"x\"}}}"
        "],\"consentResponses\":[{\"consentId\":9,\"accepted\":true}]}}";
    json_t *resp = json_loads(resp_json, 0, NULL);
    li_rec_ctx x = {"li-a", "webhook", 1706741503000LL};
    char id[128];
    const char *why = NULL;
    json_t *rec = li_lead_record(resp, form, NULL, &x, id, sizeof id, &why);
    CHECK(rec != NULL);
    CHECK_STR(id, "linkedin:lead:abc-1");
    char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(s, "\"schema\":\"c360.lead.v1\"");
    CHECK_CONTAINS(s, "\"provider\":\"linkedin\"");
    CHECK_CONTAINS(s, "\"source\":{\"connection\":\"li-a\",\"plugin\":\"linkedin\"}");
    CHECK_CONTAINS(s, "\"contact\":{\"email\":\"a@b.com\",\"first_name\":\"Ann\"}");
    CHECK_CONTAINS(s, "{\"key\":\"budget\",\"label\":\"Your budget?\",\"values\":[\"10k\"]}");
    CHECK_CONTAINS(s, "{\"key\":\"size\",\"values\":[\"Small\",\"2\"]}");
    CHECK_CONTAINS(s, "{\"key\":\"5\",\"values\":[\"x\"]}");
    CHECK_CONTAINS(s, "\"consents\":[{\"accepted\":true,\"key\":\"9\",\"text\":\"Offers ok\"}]");
    CHECK_CONTAINS(s, "\"form\":{\"id\":\"77\",\"name\":\"Spring\"}");
    CHECK_CONTAINS(s, "\"ad\":{\"id\":\"456\"}");
    CHECK_CONTAINS(s, "\"created_at\":\"2024-01-31T22:51:42Z\"");
    CHECK_CONTAINS(s, "\"created_at_ms\":1706741502694");
    CHECK_CONTAINS(s, "\"sponsored_account_id\":\"123\"");
    CHECK_CONTAINS(s, "\"form_version\":\"3\"");
    free(s);
    json_decref(rec);
    /* Without the form: answers by question id. */
    rec = li_lead_record(resp, NULL, NULL, &x, id, sizeof id, &why);
    s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(s, "{\"key\":\"1\",\"values\":[\"a@b.com\"]}");
    CHECK(strstr(s, "\"contact\"") == NULL);
    free(s);
    json_decref(rec);
    json_decref(resp);
    json_decref(form);
    resp = json_loads("{\"submittedAt\":1}", 0, NULL);
    CHECK(li_lead_record(resp, NULL, NULL, &x, id, sizeof id, &why) == NULL);
    json_decref(resp);

    li_note n;
    json_t *j = json_loads("{\"leadAction\":\"DELETED\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:abc-1\","
                           "\"owner\":{\"organization\":\"urn:li:organization:5\"},\"occurredAt\":1706741502694}", 0, NULL);
    CHECK(li_note_parse(j, &n, &why));
    json_decref(j);
    rec = li_deletion_record(&n, &x, id, sizeof id);
    CHECK_STR(id, "linkedin:lead.deleted:abc-1");
    s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(s, "\"schema\":\"c360.lead_deletion.v1\"");
    CHECK_CONTAINS(s, "\"type\":\"lead.deleted\"");
    CHECK_CONTAINS(s, "\"lead_record_id\":\"linkedin:lead:abc-1\"");
    CHECK_CONTAINS(s, "\"provider_ids\":{\"lead_id\":\"abc-1\",\"organization_id\":\"5\"}");
    free(s);
    json_decref(rec);
}

static void test_backoff(void)
{
    int64_t now = 1706741502694LL; /* 22:51:42.694 UTC */
    CHECK(li_backoff_ms(1, now, 1000, 0) == 1000);
    CHECK(li_backoff_ms(2, now, 1000, 0) == 2000);
    CHECK(li_backoff_ms(3, now, 1000, 0) == 4000);
    CHECK(li_backoff_ms(3, now, 1000, 999) <= 5000);
    CHECK(li_backoff_ms(3, now, 600000, 0) == 900000); /* capped at 15 min */
    uint32_t mid = li_backoff_ms(LI_PERSISTENT_429, now, 1000, 0);
    CHECK(mid == (uint32_t)(86400000LL - now % 86400000LL));
    CHECK(li_backoff_ms(LI_PERSISTENT_429 + 5, now, 1000, 999) <= mid + 60000);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    test_config();
    test_signature();
    test_challenge();
    test_note();
    test_records();
    test_backoff();
    CHECK_DONE();
}
