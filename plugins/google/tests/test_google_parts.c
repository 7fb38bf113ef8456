/* test_google_parts.c -- the google plugin's pure parts without a host:
 * query strings and base64, Pub/Sub push bodies, the OIDC token check
 * (with an RSA key made here), email records, filters, API error classes
 * and config checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "check.h"
#include "google.h"

static char *b64url(const uint8_t *in, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = malloc(n * 4 / 3 + 4), *p = o;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = al[v >> 18]; *p++ = al[(v >> 12) & 63]; *p++ = al[(v >> 6) & 63]; *p++ = al[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = al[v >> 18]; *p++ = al[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *p++ = al[v >> 18]; *p++ = al[(v >> 12) & 63]; *p++ = al[(v >> 6) & 63];
    }
    *p = '\0';
    return o;
}

static char *s64(const char *s) { return b64url((const uint8_t *)s, strlen(s)); }

static char *jwks_of(EVP_PKEY *k, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
    uint8_t nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = b64url(nb, (size_t)nl), *e64 = b64url(eb, (size_t)el);
    char *out = malloc(strlen(n64) + 200);
    sprintf(out, "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS256\",\"use\":\"sig\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}]}",
            kid, n64, e64);
    free(n64); free(e64); BN_free(n); BN_free(e);
    return out;
}

static char *jwt(EVP_PKEY *k, const char *kid, const char *payload)
{
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
    char *h = s64(hdr), *p = s64(payload);
    size_t sl = strlen(h) + strlen(p) + 2;
    char *signing = malloc(sl);
    snprintf(signing, sl, "%s.%s", h, p);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t sig[512];
    size_t siglen = sizeof sig;
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)signing, strlen(signing));
    EVP_MD_CTX_free(md);
    char *s = b64url(sig, siglen);
    char *out = malloc(sl + strlen(s) + 2);
    sprintf(out, "%s.%s", signing, s);
    free(h); free(p); free(s); free(signing);
    return out;
}

static void t_util(void)
{
    char out[64];
    size_t n;
    CHECK(g_query_get("a=1&token=ab%2Fc+d&x=", "token", out, sizeof out, &n));
    CHECK_STR(out, "ab/c d");
    CHECK(!g_query_get("token=%zz", "token", out, sizeof out, &n));
    CHECK(!g_query_get("token=%4", "token", out, sizeof out, &n));
    CHECK(!g_query_get("tokens=1", "token", out, sizeof out, &n));
    CHECK(!g_query_get("token=%00", "token", out, sizeof out, &n));
    uint8_t *d = g_b64_decode("aGVsbG8_Pw", 10, 100, &n);
    CHECK(d != NULL && n == 7 && memcmp(d, "hello?\x3f", 7) == 0);
    free(d);
    d = g_b64_decode("aGVsbG8/Pw==", 12, 100, &n);
    CHECK(d != NULL && n == 7);
    free(d);
    CHECK(g_b64_decode("a", 1, 100, &n) == NULL);
    CHECK(g_b64_decode("aGV*", 4, 100, &n) == NULL);
    CHECK(g_b64_decode("aGVsbG8", 7, 3, &n) == NULL);
    CHECK(g_id_ok("18c5f0a1b2") && !g_id_ok("a/b") && !g_id_ok(""));
    CHECK(g_digits_ok("123") && !g_digits_ok("12a") && !g_digits_ok(""));
    char ts[32];
    g_rfc3339_ms(1795943700000LL, ts);
    CHECK_STR(ts, "2026-11-29T09:15:00Z");
}

static void t_push(void)
{
    g_push p;
    const char *why;
    char *data = s64("{\"emailAddress\":\"user@example.com\",\"historyId\":9876543210}");
    char body[512];
    snprintf(body, sizeof body, "{\"message\":{\"data\":\"%s\",\"messageId\":\"2070443601311540\","
             "\"publishTime\":\"2021-02-26T19:13:55.749Z\"},\"subscription\":\"projects/p/subscriptions/s\"}", data);
    CHECK(g_push_parse((const uint8_t *)body, strlen(body), &p, &why));
    CHECK_STR(p.message_id, "2070443601311540");
    CHECK_STR(p.email, "user@example.com");
    CHECK_STR(p.history_id, "9876543210");
    free(data);
    data = s64("{\"emailAddress\":\"user@example.com\",\"historyId\":\"x1\"}");
    snprintf(body, sizeof body, "{\"message\":{\"data\":\"%s\",\"messageId\":\"1\"}}", data);
    CHECK(!g_push_parse((const uint8_t *)body, strlen(body), &p, &why));
    free(data);
    CHECK(!g_push_parse((const uint8_t *)"{\"message\":{\"data\":\"!!\",\"messageId\":\"1\"}}", 41, &p, &why));
    CHECK(!g_push_parse((const uint8_t *)"[]", 2, &p, &why));
    CHECK(!g_push_parse((const uint8_t *)"{\"message\":{\"data\":\"e30\",\"messageId\":\"a b\"}}", 44, &p, &why));
}

static void t_jwt(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
    CHECK(k != NULL && other != NULL);
    char *jw = jwks_of(k, "k1");
    size_t nk = 0;
    g_jwks *ks = g_jwks_parse(jw, strlen(jw), &nk);
    CHECK(ks != NULL && nk == 1);
    CHECK(g_jwks_parse("{\"keys\":[{\"kty\":\"EC\"}]}", 24, &nk) == NULL);
    CHECK(g_jwks_parse("nope", 4, &nk) == NULL);
    const char *why = NULL;
    int64_t now = 1800000000;
    char pl[512];
    const char *aud = "https://c360.example/hooks/google/gm", *em = "push@p.iam.gserviceaccount.com";
#define PL(iss, a, e, ver, exp)                                                              \
    snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\",\"email\":\"%s\",\"email_verified\":%s," \
             "\"exp\":%lld,\"iat\":%lld}", iss, a, e, ver, (long long)(exp), (long long)(now - 10))
    PL("https://accounts.google.com", aud, em, "true", now + 3600);
    char *t = jwt(k, "k1", pl);
    CHECK(g_jwt_verify(ks, t, strlen(t), aud, em, now, &why));
    CHECK(!g_jwt_verify(ks, t, strlen(t), "https://other", em, now, &why));
    CHECK(!g_jwt_verify(ks, t, strlen(t), aud, "evil@x.com", now, &why));
    CHECK(!g_jwt_verify(ks, t, strlen(t), aud, em, now + 3600 + G_JWT_SKEW_S + 1, &why));
    CHECK(g_jwt_verify(ks, t, strlen(t), aud, em, now + 3600 + G_JWT_SKEW_S - 1, &why));
    CHECK(!g_jwt_verify(NULL, t, strlen(t), aud, em, now, &why));
    /* a flipped signature byte */
    char *bad = strdup(t);
    bad[strlen(bad) - 5] = bad[strlen(bad) - 5] == 'A' ? 'B' : 'A';
    CHECK(!g_jwt_verify(ks, bad, strlen(bad), aud, em, now, &why));
    free(bad);
    free(t);
    PL("accounts.google.com", aud, em, "true", now + 3600);
    t = jwt(k, "k1", pl);
    CHECK(g_jwt_verify(ks, t, strlen(t), aud, em, now, &why));
    free(t);
    PL("https://evil.example", aud, em, "true", now + 3600);
    t = jwt(k, "k1", pl);
    CHECK(!g_jwt_verify(ks, t, strlen(t), aud, em, now, &why));
    free(t);
    PL("accounts.google.com", aud, em, "false", now + 3600);
    t = jwt(k, "k1", pl);
    CHECK(!g_jwt_verify(ks, t, strlen(t), aud, em, now, &why));
    free(t);
    PL("accounts.google.com", aud, em, "true", now + 3600);
    t = jwt(other, "k1", pl); /* another key under the same kid */
    CHECK(!g_jwt_verify(ks, t, strlen(t), aud, em, now, &why));
    free(t);
    t = jwt(k, "k2", pl);
    CHECK(!g_jwt_verify(ks, t, strlen(t), aud, em, now, &why));
    free(t);
    /* alg none */
    char *h = s64("{\"alg\":\"none\",\"kid\":\"k1\"}"), *p = s64(pl), none[2048];
    snprintf(none, sizeof none, "%s.%s.", h, p);
    CHECK(!g_jwt_verify(ks, none, strlen(none), aud, em, now, &why));
    free(h); free(p);
    CHECK(!g_jwt_verify(ks, "a.b", 3, aud, em, now, &why));
    CHECK(!g_jwt_verify(ks, "a.b.c.d", 7, aud, em, now, &why));
    g_jwks_free(ks);
    free(jw);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static const char MSG[] =
    "{\"id\":\"18c5f0a1b2\",\"threadId\":\"18c5f0a1b0\",\"labelIds\":[\"INBOX\",\"UNREAD\"],"
    "\"snippet\":\"New lead from the site\",\"historyId\":\"4321\",\"internalDate\":\"1795943700000\","
    "\"payload\":{\"mimeType\":\"multipart/alternative\",\"headers\":["
    "{\"name\":\"From\",\"value\":\"\\\"Web Forms, Inc\\\" <forms@leads.example.com>\"},"
    "{\"name\":\"To\",\"value\":\"Sales <sales@acme.example>, bob@acme.example\"},"
    "{\"name\":\"Subject\",\"value\":\"New lead: Joe\"},"
    "{\"name\":\"Date\",\"value\":\"Sun, 29 Nov 2026 09:15:00 +0000\"}],"
    "\"parts\":[{\"mimeType\":\"text/plain\",\"body\":{\"data\":\"SGVsbG8gSm9l\"}},"
    "{\"mimeType\":\"text/html\",\"body\":{\"data\":\"PGI-SGk8L2I-\"}}]}}";

static void t_records(void)
{
    json_t *m = json_loads(MSG, 0, NULL);
    g_rec_ctx x = {"gm-a", "webhook", "user@example.com", false, 1795943702113LL};
    char id[96];
    const char *why;
    json_t *r = g_email_record(m, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "google:email:18c5f0a1b2");
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_CONTAINS(s, "\"schema\":\"c360.email.v1\"");
    CHECK_CONTAINS(s, "\"from\":{\"address\":\"forms@leads.example.com\",\"name\":\"Web Forms, Inc\"}");
    CHECK_CONTAINS(s, "\"to\":[{\"address\":\"sales@acme.example\",\"name\":\"Sales\"},{\"address\":\"bob@acme.example\"}]");
    CHECK_CONTAINS(s, "\"subject\":\"New lead: Joe\"");
    CHECK_CONTAINS(s, "\"labels\":[\"INBOX\",\"UNREAD\"]");
    CHECK_CONTAINS(s, "\"thread_id\":\"18c5f0a1b0\"");
    CHECK_CONTAINS(s, "\"created_at\":\"2026-11-29T09:15:00Z\"");
    CHECK(strstr(s, "\"body\"") == NULL);
    free(s);

    g_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    CHECK(g_filter_match(&cfg, NULL, r));
    strcpy(cfg.f_domains[0], "example.com");
    cfg.nf_domains = 1;
    CHECK(g_filter_match(&cfg, NULL, r)); /* subdomain */
    strcpy(cfg.f_domains[0], "ample.com");
    CHECK(!g_filter_match(&cfg, NULL, r));
    cfg.nf_domains = 0;
    strcpy(cfg.f_labels[0], "SPAM");
    cfg.nf_labels = 1;
    CHECK(!g_filter_match(&cfg, NULL, r));
    strcpy(cfg.f_labels[1], "INBOX");
    cfg.nf_labels = 2;
    CHECK(g_filter_match(&cfg, NULL, r));
    regex_t re;
    regcomp(&re, "^new lead", REG_EXTENDED | REG_ICASE | REG_NOSUB);
    CHECK(g_filter_match(&cfg, &re, r));
    regfree(&re);
    regcomp(&re, "invoice", REG_EXTENDED | REG_ICASE | REG_NOSUB);
    CHECK(!g_filter_match(&cfg, &re, r));
    regfree(&re);
    json_decref(r);

    x.include_body = true;
    r = g_email_record(m, &x, id, sizeof id, &why);
    s = json_dumps(r, JSON_COMPACT);
    CHECK_CONTAINS(s, "\"body\":{\"text\":\"Hello Joe\",\"html\":\"<b>Hi</b>\"}");
    free(s);
    json_decref(r);
    json_decref(m);
    m = json_loads("{\"id\":\"../x\"}", 0, NULL);
    CHECK(g_email_record(m, &x, id, sizeof id, &why) == NULL);
    json_decref(m);
    char a[64];
    CHECK(g_addr_of("Ann <ann@x.org>", a, sizeof a) && strcmp(a, "ann@x.org") == 0);
}

static void t_errors(void)
{
    g_err e;
    const char *b = "{\"error\":{\"code\":403,\"errors\":[{\"domain\":\"usageLimits\",\"reason\":\"userRateLimitExceeded\"}],\"message\":\"User-rate limit exceeded\"}}";
    g_err_classify(403, b, strlen(b), &e);
    CHECK(e.cls == G_ERR_THROTTLE);
    CHECK_STR(e.reason, "userRateLimitExceeded");
    const char *f = "{\"error\":{\"code\":403,\"errors\":[{\"reason\":\"forbidden\"}],\"message\":\"no\"}}";
    g_err_classify(403, f, strlen(f), &e);
    CHECK(e.cls == G_ERR_PERMANENT);
    g_err_classify(429, "", 0, &e);
    CHECK(e.cls == G_ERR_THROTTLE);
    g_err_classify(404, "{}", 2, &e);
    CHECK(e.cls == G_ERR_NOTFOUND);
    g_err_classify(503, "<html>", 6, &e);
    CHECK(e.cls == G_ERR_TRANSIENT);
    g_err_classify(401, "{}", 2, &e);
    CHECK(e.cls == G_ERR_AUTH);
    g_err_classify(200, "{}", 2, &e);
    CHECK(e.cls == G_ERR_NONE);
}

static int nerr;
static char lasterr[256];
static void cerr(void *arg, const char *ptr, const char *msg)
{
    (void)arg;
    nerr++;
    snprintf(lasterr, sizeof lasterr, "%s %s", ptr, msg);
}

static void t_config(void)
{
    g_cfg c;
    const char *ok = "{\"client_id\":\"123.apps.googleusercontent.com\",\"topic_name\":\"projects/my-proj/topics/gmail\","
                     "\"include_body\":true,\"resync_days\":3,\"filters\":{\"label_ids\":[\"INBOX\"],"
                     "\"sender_domains\":[\"@leads.example.com\"],\"subject_regex\":\"^New (lead|enquiry)\"},"
                     "\"oidc\":{\"audience\":\"a\",\"service_account_email\":\"p@x.iam.gserviceaccount.com\"}}";
    CHECK(g_config_parse(ok, strlen(ok), &c, cerr, NULL) == 0);
    CHECK(c.include_body && c.resync_days == 3 && c.oidc && c.nwatch == 1);
    CHECK_STR(c.f_domains[0], "leads.example.com");
    CHECK_STR(c.watch_labels[0], "INBOX");
    nerr = 0;
    const char *bad = "{\"client_id\":\"x\",\"topic_name\":\"t\",\"resync_days\":99,\"filters\":{\"subject_regex\":\"(\"},\"x\":1}";
    CHECK(g_config_parse(bad, strlen(bad), &c, cerr, NULL) == 4);
    CHECK(nerr == 4);
}

int main(void)
{
    t_util();
    t_push();
    t_jwt();
    t_records();
    t_errors();
    t_config();
    CHECK_DONE();
}
