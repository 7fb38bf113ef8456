/* test_meta_parts.c -- the meta plugin's pure parts without a host:
 * config checks, ids and times, query strings, the app map (verify
 * tokens, X-Hub-Signature-256, routing fingerprints), webhook payloads
 * and their routing pairs, lead / comment / metric records, usage
 * headers and Graph error classes. Crypto comes from libsodium here (the
 * plugin uses the host's helpers, which are libsodium too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "meta.h"

static void t_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}

static void t_sha(const void *msg, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, msg, len);
}

static int t_eq(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

static const meta_crypto CR = {t_hmac, t_sha, t_eq};

/* Counts the HMACs over a body (meta_apps_match's cost). */
static int hmac_calls;
static void c_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    hmac_calls++;
    t_hmac(key, klen, msg, mlen, out);
}
static const meta_crypto CRC = {c_hmac, t_sha, t_eq};

/* ABI 1.8's prepared keys, as the host makes them (libsodium's state
 * after the key), counted: every key made must be freed with its entry,
 * and a body's HMAC through a key counts in keyed_calls. */
struct c360_hmac_key {
    crypto_auth_hmacsha256_state st;
};
static int live_keys, keyed_calls;
static c360_hmac_key *k_new(const void *key, size_t klen)
{
    c360_hmac_key *k = malloc(sizeof *k);
    if (k == NULL) return NULL;
    crypto_auth_hmacsha256_init(&k->st, key, klen);
    live_keys++;
    return k;
}
static void k_mac(const c360_hmac_key *k, const void *msg, size_t mlen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st = k->st;
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}
static void kc_mac(const c360_hmac_key *k, const void *msg, size_t mlen, uint8_t out[32])
{
    keyed_calls++;
    k_mac(k, msg, mlen, out);
}
static void k_free(c360_hmac_key *k)
{
    if (k == NULL) return;
    live_keys--;
    free(k);
}
static const meta_crypto CRK = {t_hmac, t_sha, t_eq, k_new, k_mac, k_free};
static const meta_crypto CRKC = {c_hmac, t_sha, t_eq, k_new, kc_mac, k_free};
/* A host whose hmac_key_new is out of memory: the secret is used as is. */
static c360_hmac_key *k_new_oom(const void *key, size_t klen)
{
    (void)key;
    (void)klen;
    return NULL;
}
static const meta_crypto CRKO = {t_hmac, t_sha, t_eq, k_new_oom, k_mac, k_free};

static void sign(const char *secret, const char *body, char out[80])
{
    uint8_t mac[32];
    char hex[65];
    t_hmac(secret, strlen(secret), body, strlen(body), mac);
    meta_hex(mac, 32, hex);
    snprintf(out, 80, "sha256=%s", hex);
}

/* ---- config ----------------------------------------------------------- */

static int cfg_errors;
static char cfg_last[128];
static void on_cfg_err(void *arg, const char *ptr, const char *msg)
{
    (void)arg;
    cfg_errors++;
    snprintf(cfg_last, sizeof cfg_last, "%s %s", ptr, msg);
}

static int parse_cfg(const char *json, meta_cfg *cfg)
{
    cfg_errors = 0;
    cfg_last[0] = '\0';
    return meta_config_parse(json, strlen(json), cfg, on_cfg_err, NULL);
}

static void test_config(void)
{
    meta_cfg cfg;
    CHECK(parse_cfg("{\"app_id\":\"1111\",\"page_ids\":[\"101\",\"102\"],"
                    "\"ig_user_ids\":[\"17841400000000001\"],\"form_ids\":[\"555\"],"
                    "\"poll_interval_s\":120,\"insights\":{\"enabled\":true,"
                    "\"ad_account_ids\":[\"act_42\",\"43\"]},\"graph_version\":\"v24.0\"}",
                    &cfg) == 0);
    CHECK_STR(cfg.app_id, "1111");
    CHECK(cfg.npages == 2 && strcmp(cfg.pages[1], "102") == 0);
    CHECK(cfg.nig == 1 && cfg.nforms == 1);
    CHECK(cfg.poll_interval_s == 120);
    CHECK(cfg.insights && cfg.naccounts == 2);
    CHECK_STR(cfg.accounts[0], "42"); /* act_ stripped */
    CHECK_STR(cfg.version, "v24.0");

    CHECK(parse_cfg("{\"app_id\":\"1\",\"page_ids\":[\"9\"]}", &cfg) == 0);
    CHECK_STR(cfg.version, META_DEFAULT_VERSION);
    CHECK(cfg.poll_interval_s == 0 && !cfg.insights);

    CHECK(parse_cfg("{\"page_ids\":[]}", &cfg) == 2); /* app_id missing, page_ids empty */
    CHECK(parse_cfg("{\"app_id\":\"x1\",\"page_ids\":[\"12a\",7],\"poll_interval_s\":5,"
                    "\"graph_version\":\"25\",\"bogus\":1}", &cfg) == 6);
    CHECK(parse_cfg("{\"app_id\":\"1\",\"page_ids\":[\"9\",\"9\"]}", &cfg) == 1);
    CHECK_CONTAINS(cfg_last, "/page_ids/1");
    CHECK(parse_cfg("{\"app_id\":\"1\",\"page_ids\":[\"9\"],\"insights\":{\"enabled\":true}}",
                    &cfg) == 1);
    CHECK_CONTAINS(cfg_last, "/insights/ad_account_ids");
    CHECK(parse_cfg("{\"app_id\":\"1\",\"app_id\":\"2\",\"page_ids\":[\"9\"]}", &cfg) == 1);
    CHECK(parse_cfg("[1]", &cfg) == 1);
    /* The schema itself is JSON. */
    json_t *s = json_loads(meta_config_schema, JSON_REJECT_DUPLICATES, NULL);
    CHECK(json_is_object(s));
    json_decref(s);
}

/* ---- ids, times, queries ---------------------------------------------- */

static void test_util(void)
{
    meta_id id;
    json_t *j = json_loads("[\"123\",123123123123,\"12_34\",-1,\"1a\",1.5,1e3,\"\"]", 0, NULL);
    CHECK(meta_id_from_json(json_array_get(j, 0), false, id) && strcmp(id, "123") == 0);
    CHECK(meta_id_from_json(json_array_get(j, 1), false, id) && strcmp(id, "123123123123") == 0);
    CHECK(!meta_id_from_json(json_array_get(j, 2), false, id));
    CHECK(meta_id_from_json(json_array_get(j, 2), true, id) && strcmp(id, "12_34") == 0);
    CHECK(!meta_id_from_json(json_array_get(j, 3), false, id));
    CHECK(!meta_id_from_json(json_array_get(j, 4), false, id));
    CHECK(!meta_id_from_json(json_array_get(j, 5), false, id));
    CHECK(meta_id_from_json(json_array_get(j, 6), false, id) && strcmp(id, "1000") == 0);
    CHECK(!meta_id_from_json(json_array_get(j, 7), false, id));
    CHECK(!meta_id_valid("123456789012345678901234567890123", false)); /* 33 digits */
    CHECK(!meta_id_valid("_1", true) && !meta_id_valid("1_", true));
    json_decref(j);

    CHECK(meta_time_parse("2015-02-28T08:49:14+0000") == 1425113354);
    CHECK(meta_time_parse("2015-02-28T08:49:14Z") == 1425113354);
    CHECK(meta_time_parse("2015-02-28T09:49:14+01:00") == 1425113354);
    CHECK(meta_time_parse("2015-02-28T08:49:14.123Z") == 1425113354);
    CHECK(meta_time_parse("2015-02-30T08:49") == -1);
    CHECK(meta_time_parse("yesterday") == -1);
    json_t *t = json_loads("[1440120384,\"1440120384\",\"2015-08-21T01:26:24+0000\",null]", 0, NULL);
    CHECK(meta_time_from_json(json_array_get(t, 0)) == 1440120384);
    CHECK(meta_time_from_json(json_array_get(t, 1)) == 1440120384);
    CHECK(meta_time_from_json(json_array_get(t, 2)) == 1440120384);
    CHECK(meta_time_from_json(json_array_get(t, 3)) == -1);
    json_decref(t);
    char ts[32], day[11];
    meta_rfc3339(1795943700, ts);
    CHECK_STR(ts, "2026-11-29T09:15:00Z");
    meta_date(1795943700, day);
    CHECK_STR(day, "2026-11-29");
    CHECK(meta_date_parse("2026-11-29") == 1795910400);
    CHECK(meta_date_parse("2026-13-01") == -1);

    char v[64];
    size_t n;
    CHECK(meta_query_get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=a%20b+c",
                         "hub.verify_token", v, sizeof v, &n));
    CHECK_STR(v, "a b c");
    CHECK(n == 5);
    CHECK(meta_query_get("hub.mode=subscribe", "hub.mode", v, sizeof v, NULL));
    CHECK_STR(v, "subscribe");
    CHECK(!meta_query_get("hub.modex=1", "hub.mode", v, sizeof v, NULL));
    CHECK(!meta_query_get("a=%zz", "a", v, sizeof v, NULL));
    CHECK(!meta_query_get("a=%00", "a", v, sizeof v, NULL));
    CHECK(!meta_query_get("a=0123456789", "a", v, 5, NULL));

    char q[22] = "x=";
    CHECK(meta_urlenc_cat(q, sizeof q, "[{a b}]"));
    CHECK_STR(q, "x=%5B%7Ba%20b%7D%5D");
    CHECK(!meta_urlenc_cat(q, sizeof q, "more"));
    CHECK_STR(q, "x=%5B%7Ba%20b%7D%5D");

    char ex[64];
    /* A text that holds the token is not shown at all (kit). */
    meta_excerpt("bad token EAAB1234567890 here\n", "EAAB1234567890", ex, sizeof ex);
    CHECK_STR(ex, "(message not shown: it held a credential)");
    meta_excerpt("bad token here\n", "EAAB1234567890", ex, sizeof ex);
    CHECK_STR(ex, "bad token here ");
    meta_excerpt("\xc3\xa9\xc3\xa9\xc3\xa9", NULL, ex, 6); /* cut inside a UTF-8 sequence */
    CHECK_STR(ex, "\xc3\xa9\xc3\xa9");
}

/* ---- the app map and signatures --------------------------------------- */

/* cr makes the entries, crc (the same, counting) matches bodies: one-shot
 * HMACs (CR, CRC), or prepared keys (CRK, CRKC), whose MACs must be the
 * same; with keys no body is hashed with the bare secret. */
static void test_apps_with(const meta_crypto *cr, const meta_crypto *crc)
{
    bool keyed = cr->hmac_key_new == k_new;
    meta_apps m;
    meta_apps_init(&m);
    live_keys = keyed_calls = 0;
    const char *s1 = "0123456789abcdef0123456789abcdef", *s2 = "another-app-secret-value";
    meta_app *a = meta_apps_get(&m, cr, "1111", (const uint8_t *)s1, strlen(s1), "vt-one", 6);
    meta_app *b = meta_apps_get(&m, cr, "1111", (const uint8_t *)s1, strlen(s1), "vt-one", 6);
    meta_app *c = meta_apps_get(&m, cr, "2222", (const uint8_t *)s2, strlen(s2), "vt-two", 6);
    CHECK(a != NULL && a == b && a->refs == 2);
    CHECK(c != NULL && c != a);
    CHECK(strlen(a->fp) == META_FP_LEN && strcmp(a->fp, c->fp) != 0);
    CHECK(a->secret[a->secret_len] == 0);

    CHECK(meta_apps_verify_token(&m, cr, "vt-one", 6));
    CHECK(meta_apps_verify_token(&m, cr, "vt-two", 6));
    CHECK(!meta_apps_verify_token(&m, cr, "vt-on", 5));
    CHECK(!meta_apps_verify_token(&m, cr, "", 0));

    const char *body = "{\"object\":\"page\",\"entry\":[]}";
    char sig[80];
    meta_match mm[4];
    sign(s1, body, sig);
    CHECK((a->key != NULL) == keyed && (c->key != NULL) == keyed);
    CHECK(live_keys == (keyed ? 2 : 0)); /* a (= b) and c */
    CHECK(meta_sig_ok(cr, a, sig, (const uint8_t *)body, strlen(body)));
    CHECK(!meta_sig_ok(cr, c, sig, (const uint8_t *)body, strlen(body)));
    CHECK(!meta_sig_ok(cr, a, sig, (const uint8_t *)body, strlen(body) - 1));
    CHECK(meta_apps_match(&m, cr, sig, (const uint8_t *)body, strlen(body), mm, 4) == 1);
    CHECK_STR(mm[0].app_id, "1111");
    CHECK_STR(mm[0].fp, a->fp);
    /* Upper-case hex and prefix are the same signature. */
    for (char *p = sig; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    memcpy(sig, "SHA256", 6);
    CHECK(meta_apps_match(&m, cr, sig, (const uint8_t *)body, strlen(body), mm, 4) == 1);
    sign(s2, body, sig);
    CHECK(meta_apps_match(&m, cr, sig, (const uint8_t *)body, strlen(body), mm, 4) == 1);
    CHECK_STR(mm[0].app_id, "2222");
    /* One byte of the body changed, a wrong secret, malformed headers. */
    CHECK(meta_apps_match(&m, cr, sig, (const uint8_t *)"{\"object\":\"page\",\"entry\":[] }",
                          strlen(body) + 1, mm, 4) == 0);
    sign("wrong", body, sig);
    CHECK(meta_apps_match(&m, cr, sig, (const uint8_t *)body, strlen(body), mm, 4) == 0);
    CHECK(meta_apps_match(&m, cr, NULL, (const uint8_t *)body, strlen(body), mm, 4) == 0);
    CHECK(meta_apps_match(&m, cr, "sha256=zz", (const uint8_t *)body, strlen(body), mm, 4) == 0);
    CHECK(meta_apps_match(&m, cr, "sha1=0000000000000000000000000000000000000000",
                          (const uint8_t *)body, strlen(body), mm, 4) == 0);

    char key[META_ROUTE_KEY_MAX];
    CHECK(meta_route_key("1111", a->fp, false, "101", key, sizeof key));
    char want[128];
    snprintf(want, sizeof want, "app:1111:%s:page:101", a->fp);
    CHECK_STR(key, want);
    CHECK(!meta_route_key("1111", a->fp, true, "101", key, 10));

    /* The cost of a match: one HMAC per distinct secret, none after the
     * first match, and the last matching secret first. Entries d, e hold
     * s1 again (another verify token, another app id). */
    meta_app *d = meta_apps_get(&m, cr, "1111", (const uint8_t *)s1, strlen(s1), "vt-three", 8);
    meta_app *e = meta_apps_get(&m, cr, "3333", (const uint8_t *)s1, strlen(s1), "vt-four", 7);
    CHECK(d != a && e != a && strcmp(d->fp, a->fp) == 0);
    m.hint[0] = '\0';
    sign(s1, body, sig);
    hmac_calls = keyed_calls = 0;
    size_t nm = meta_apps_match(&m, crc, sig, (const uint8_t *)body, strlen(body), mm, 4);
    CHECK(nm == 2); /* apps 1111 and 3333, both holding s1 */
    CHECK(hmac_calls + keyed_calls == 1); /* e (s1) is the head: matched at once */
    CHECK(keyed ? hmac_calls == 0 : keyed_calls == 0);
    CHECK((strcmp(mm[0].app_id, "3333") == 0 && strcmp(mm[1].app_id, "1111") == 0) ||
          (strcmp(mm[0].app_id, "1111") == 0 && strcmp(mm[1].app_id, "3333") == 0));
    sign(s2, body, sig);
    hmac_calls = keyed_calls = 0;
    CHECK(meta_apps_match(&m, crc, sig, (const uint8_t *)body, strlen(body), mm, 4) == 1);
    CHECK(hmac_calls + keyed_calls == 2); /* the hint (s1), then s2: not s1 three times */
    CHECK(keyed ? hmac_calls == 0 : keyed_calls == 0);
    hmac_calls = keyed_calls = 0;
    CHECK(meta_apps_match(&m, crc, sig, (const uint8_t *)body, strlen(body), mm, 4) == 1);
    CHECK(hmac_calls + keyed_calls == 1); /* the route after the verify: the hint */
    CHECK(keyed ? hmac_calls == 0 : keyed_calls == 0);
    sign("wrong", body, sig);
    hmac_calls = keyed_calls = 0;
    CHECK(meta_apps_match(&m, crc, sig, (const uint8_t *)body, strlen(body), mm, 4) == 0);
    CHECK(hmac_calls + keyed_calls == 2); /* no match: each distinct secret once */
    CHECK(keyed ? hmac_calls == 0 : keyed_calls == 0);
    meta_apps_put(&m, d);
    meta_apps_put(&m, e);

    meta_apps_put(&m, b);
    CHECK(a->refs == 1);
    meta_apps_put(&m, a);
    CHECK(!meta_apps_verify_token(&m, cr, "vt-one", 6)); /* gone with its last holder */
    CHECK(meta_apps_verify_token(&m, cr, "vt-two", 6));
    meta_apps_put(&m, c);
    CHECK(m.head == NULL);
    CHECK(live_keys == 0); /* each entry's key went with it */
    /* meta_apps_destroy (the plugin's fini) frees what is still held. */
    CHECK(meta_apps_get(&m, cr, "4444", (const uint8_t *)s2, strlen(s2), "vt-x", 4) != NULL);
    CHECK(live_keys == (keyed ? 1 : 0));
    meta_apps_destroy(&m);
    CHECK(live_keys == 0);
}

static void test_apps(void)
{
    test_apps_with(&CR, &CRC);
    test_apps_with(&CRK, &CRKC);
    /* hmac_key_new out of memory: the entry works with the bare secret. */
    meta_apps m;
    meta_apps_init(&m);
    const char *s = "0123456789abcdef0123456789abcdef", *body = "{}";
    char sig[80];
    meta_match mm[2];
    meta_app *a = meta_apps_get(&m, &CRKO, "1111", (const uint8_t *)s, strlen(s), "vt", 2);
    CHECK(a != NULL && a->key == NULL);
    sign(s, body, sig);
    CHECK(meta_sig_ok(&CRKO, a, sig, (const uint8_t *)body, strlen(body)));
    CHECK(meta_apps_match(&m, &CRKO, sig, (const uint8_t *)body, strlen(body), mm, 2) == 1);
    meta_apps_put(&m, a);
    meta_apps_destroy(&m);
}

/* ---- payloads --------------------------------------------------------- */

static const char batch[] =
    "{\"object\":\"page\",\"entry\":["
    " {\"id\":101,\"time\":1438292065,\"changes\":["
    "  {\"field\":\"leadgen\",\"value\":{\"leadgen_id\":444000000001,\"page_id\":101,"
    "   \"form_id\":\"555\",\"adgroup_id\":\"66\",\"ad_id\":\"66\",\"created_time\":1440120384}},"
    "  {\"field\":\"feed\",\"value\":{\"item\":\"reaction\",\"verb\":\"add\",\"post_id\":\"101_9\"}},"
    "  {\"field\":\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"edited\",\"comment_id\":\"9_77\","
    "   \"post_id\":\"101_9\",\"parent_id\":\"101_9\",\"message\":\"Nice!\","
    "   \"from\":{\"id\":\"31\",\"name\":\"Ann\"},\"created_time\":1440120999}}]},"
    " {\"id\":\"202\",\"time\":1438292065,\"changes\":["
    "  {\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"444000000002\",\"form_id\":7}},"
    "  {\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"not-an-id\"}}]},"
    " {\"id\":\"bad id\",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":1}}]},"
    " 42]}";

typedef struct seen_changes {
    int n;
    char dedup[8][META_DEDUP_MAX];
    char owner[8][META_ID_MAX + 1];
    int kind[8];
} seen_changes;

static int collect(void *arg, const meta_change *c)
{
    seen_changes *s = arg;
    if (s->n < 8) {
        snprintf(s->dedup[s->n], META_DEDUP_MAX, "%s", c->dedup);
        snprintf(s->owner[s->n], sizeof s->owner[0], "%s", c->owner);
        s->kind[s->n] = c->kind;
    }
    s->n++;
    return 0;
}

static void test_payload(void)
{
    json_t *root = json_loads(batch, 0, NULL);
    CHECK(root != NULL);
    seen_changes s = {0};
    CHECK(meta_payload_walk(root, collect, &s) == 3);
    CHECK_STR(s.dedup[0], "lead:444000000001");
    CHECK_STR(s.owner[0], "101");
    CHECK(s.kind[0] == META_LEAD);
    CHECK_STR(s.dedup[1], "comment:9_77:edited:1440120999");
    CHECK(s.kind[1] == META_COMMENT);
    CHECK_STR(s.dedup[2], "lead:444000000002");
    CHECK_STR(s.owner[2], "202");

    char key[40];
    CHECK(meta_route_key("1111", "aaaaaaaaaaaaaaaa", false, "101", key, sizeof key));
    CHECK_STR(key, "app:1111:aaaaaaaaaaaaaaaa:page:101");
    CHECK(meta_route_key("1111", "aaaaaaaaaaaaaaaa", true, "17841", key, sizeof key));
    CHECK_STR(key, "app:1111:aaaaaaaaaaaaaaaa:ig:17841");
    /* 34 characters and the NUL fit 35 bytes, not 34. */
    CHECK(meta_route_key("1111", "aaaaaaaaaaaaaaaa", false, "101", key, 35));
    CHECK(!meta_route_key("1111", "aaaaaaaaaaaaaaaa", false, "101", key, 34));
    CHECK_STR(key, "");

    meta_match apps[2] = {{"1111", "aaaaaaaaaaaaaaaa"}, {"2222", "bbbbbbbbbbbbbbbb"}};
    meta_pair pairs[8];
    bool more = true;
    int changes = 0;
    size_t n = meta_route_pairs(root, apps, 1, true, pairs, 8, &more, &changes);
    CHECK(n == 3 && !more && changes == 3);
    CHECK_STR(pairs[0].key, "app:1111:aaaaaaaaaaaaaaaa:page:101");
    CHECK_STR(pairs[0].dedup, "lead:444000000001");
    CHECK_STR(pairs[2].key, "app:1111:aaaaaaaaaaaaaaaa:page:202");
    n = meta_route_pairs(root, apps, 2, true, pairs, 8, &more, NULL);
    CHECK(n == 6 && !more);
    n = meta_route_pairs(root, apps, 2, true, pairs, 4, &more, NULL);
    CHECK(n == 4 && more);
    n = meta_route_pairs(root, apps, 1, false, pairs, 8, &more, NULL);
    CHECK(n == 2 && !more); /* distinct keys: pages 101 and 202 */
    CHECK_STR(pairs[1].dedup, "");
    json_decref(root);

    /* Instagram, not of interest, not a webhook at all. */
    root = json_loads("{\"object\":\"instagram\",\"entry\":[{\"id\":\"17841400000000001\","
                      "\"time\":1700000000,\"changes\":[{\"field\":\"comments\",\"value\":"
                      "{\"id\":\"17900000000000001\",\"text\":\"hi\"}},"
                      "{\"field\":\"mentions\",\"value\":{}}]}]}", 0, NULL);
    memset(&s, 0, sizeof s);
    CHECK(meta_payload_walk(root, collect, &s) == 1);
    CHECK_STR(s.dedup[0], "comment:17900000000000001:add"); /* no entry.time */
    CHECK(s.kind[0] == META_IG_COMMENT);
    n = meta_route_pairs(root, apps, 1, true, pairs, 8, &more, NULL);
    CHECK(n == 1);
    CHECK_STR(pairs[0].key, "app:1111:aaaaaaaaaaaaaaaa:ig:17841400000000001");
    json_decref(root);
    root = json_loads("{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"changes\":"
                      "[{\"field\":\"feed\",\"value\":{\"item\":\"status\",\"verb\":\"add\"}}]}]}",
                      0, NULL);
    CHECK(meta_payload_walk(root, NULL, NULL) == 0);
    json_decref(root);
    root = json_loads("{\"object\":\"user\",\"entry\":[]}", 0, NULL);
    CHECK(meta_payload_walk(root, NULL, NULL) == -1);
    CHECK(meta_route_pairs(root, apps, 1, true, pairs, 8, &more, &changes) == 0);
    CHECK(changes == -1 && !more); /* webhook_verify answers "ignored" */
    json_decref(root);
    root = json_loads("{\"object\":\"page\",\"entry\":{}}", 0, NULL);
    CHECK(meta_payload_walk(root, NULL, NULL) == 0);
    json_decref(root);

    /* A hostile batch: 3000 changes in one entry; the walk stops at the
     * bound. */
    json_t *big = json_pack("{s:s,s:[{s:s,s:i,s:[]}]}", "object", "page", "entry", "id", "5",
                            "time", 1, "changes");
    json_t *arr = json_object_get(json_array_get(json_object_get(big, "entry"), 0), "changes");
    for (int i = 0; i < 3000; i++)
        json_array_append_new(arr, json_pack("{s:s,s:{s:i}}", "field", "leadgen", "value",
                                             "leadgen_id", i + 1));
    CHECK(meta_payload_walk(big, NULL, NULL) == META_MAX_CHANGES);
    n = meta_route_pairs(big, apps, 1, true, pairs, 8, &more, &changes);
    CHECK(n == 8 && more && changes >= 1); /* stopped when full */
    n = meta_route_pairs(big, apps, 1, false, pairs, 8, &more, NULL);
    CHECK(n == 1 && !more);
    json_decref(big);
}

/* ---- records ---------------------------------------------------------- */

static const char lead_json[] =
    "{\"created_time\":\"2026-11-29T09:15:00+0000\",\"id\":\"123123123123\","
    "\"ad_id\":\"12312312312\",\"ad_name\":\"Ad 1\",\"adset_id\":5555,\"adset_name\":\"Set 1\","
    "\"campaign_id\":\"7777\",\"campaign_name\":\"Spring\",\"form_id\":\"12312312312\","
    "\"is_organic\":false,\"platform\":\"fb\","
    "\"field_data\":["
    " {\"name\":\"email\",\"values\":[\"  joe@example.com \"]},"
    " {\"name\":\"phone_number\",\"values\":[\"+15550100000\"]},"
    " {\"name\":\"full_name\",\"values\":[\"Joe Example\"]},"
    " {\"name\":\"company_name\",\"values\":[\"Acme\"]},"
    " {\"name\":\"post_code\",\"values\":[\"12345\"]},"
    " {\"name\":\"budget\",\"values\":[\"10k-50k\"]},"
    " {\"name\":\"size\",\"values\":[12, true]},"
    " {\"name\":\"empty\",\"values\":[]},"
    " {\"values\":[\"no name\"]}],"
    "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"marketing_optin\",\"is_checked\":\"1\"},"
    " {\"checkbox_key\":\"terms\",\"is_checked\":\"\"}]}";

static const char form_json[] =
    "{\"id\":\"12312312312\",\"name\":\"Spring offer\",\"questions\":["
    "{\"key\":\"email\",\"label\":\"Email\",\"type\":\"EMAIL\"},"
    "{\"key\":\"budget\",\"label\":\"What is your budget?\",\"type\":\"CUSTOM\"}],"
    "\"legal_content\":{\"custom_disclaimer\":{\"checkboxes\":["
    "{\"key\":\"marketing_optin\",\"text\":\"I agree to receive offers\"}]}}}";

/* meta_lead_record's text read back as a tree (NULL: no record). */
static json_t *lead_tree(const json_t *lead, const json_t *form, const json_t *hint,
                         const meta_rec_ctx *x, char *id, size_t idcap, const char **why)
{
    meta_jw w;
    meta_jw_init(&w, NULL, 0);
    json_t *r = NULL;
    if (meta_lead_record(lead, form, hint, x, &w, id, idcap, why)) {
        CHECK(!meta_jw_failed(&w));
        r = json_loadb(w.buf, w.len, 0, NULL);
        CHECK(json_is_object(r));
    }
    meta_jw_free(&w);
    return r;
}

static void test_lead(void)
{
    json_t *lead = json_loads(lead_json, 0, NULL), *gf = json_loads(form_json, 0, NULL);
    json_t *form = meta_form_compact(gf);
    CHECK_STR(meta_str(form, "name"), "Spring offer");
    CHECK(json_array_size(json_object_get(form, "questions")) == 2);
    CHECK(json_array_size(json_object_get(form, "checkboxes")) == 1);
    meta_rec_ctx x = {"fb-acme", "webhook", "123123123", 1795943702113};
    json_t *hint = json_loads("{\"leadgen_id\":123123123123,\"page_id\":123123123}", 0, NULL);
    char id[128];
    const char *why = NULL;
    json_t *r = lead_tree(lead, form, hint, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "meta:lead:123123123123");
    CHECK_STR(meta_str(r, "schema"), "c360.lead.v1");
    CHECK_STR(meta_str(r, "id"), id);
    CHECK_STR(meta_str(r, "type"), "lead");
    CHECK_STR(meta_str(r, "provider"), "facebook");
    CHECK_STR(meta_str(r, "via"), "webhook");
    CHECK_STR(meta_str(json_object_get(r, "source"), "plugin"), "meta");
    CHECK_STR(meta_str(json_object_get(r, "source"), "connection"), "fb-acme");
    CHECK_STR(meta_str(r, "created_at"), "2026-11-29T09:15:00Z");
    CHECK(json_integer_value(json_object_get(r, "created_at_ms")) == 1795943700000);
    CHECK(json_integer_value(json_object_get(r, "received_at_ms")) == 1795943702113);
    json_t *ct = json_object_get(r, "contact");
    CHECK_STR(meta_str(ct, "email"), "joe@example.com");
    CHECK_STR(meta_str(ct, "phone"), "+15550100000");
    CHECK_STR(meta_str(ct, "full_name"), "Joe Example");
    CHECK(json_object_get(ct, "first_name") == NULL); /* never guessed */
    CHECK_STR(meta_str(ct, "company"), "Acme");
    CHECK_STR(meta_str(ct, "zip"), "12345");
    json_t *ans = json_object_get(r, "answers");
    CHECK(json_array_size(ans) == 3);
    CHECK_STR(meta_str(json_array_get(ans, 0), "key"), "budget");
    CHECK_STR(meta_str(json_array_get(ans, 0), "label"), "What is your budget?");
    CHECK_STR(json_string_value(json_array_get(json_object_get(json_array_get(ans, 0), "values"), 0)),
              "10k-50k");
    json_t *sz = json_object_get(json_array_get(ans, 1), "values");
    CHECK(json_array_size(sz) == 2);
    CHECK_STR(json_string_value(json_array_get(sz, 0)), "12");
    CHECK(json_object_get(json_array_get(ans, 1), "label") == NULL);
    CHECK(json_array_size(json_object_get(json_array_get(ans, 2), "values")) == 0);
    json_t *cs = json_object_get(r, "consents");
    CHECK(json_array_size(cs) == 2);
    CHECK_STR(meta_str(json_array_get(cs, 0), "text"), "I agree to receive offers");
    CHECK(json_is_true(json_object_get(json_array_get(cs, 0), "accepted")));
    CHECK(json_is_false(json_object_get(json_array_get(cs, 1), "accepted")));
    CHECK_STR(meta_str(json_object_get(r, "form"), "name"), "Spring offer");
    CHECK_STR(meta_str(json_object_get(r, "ad"), "name"), "Ad 1");
    CHECK_STR(meta_str(json_object_get(r, "ad_set"), "id"), "5555"); /* a number made a string */
    CHECK_STR(meta_str(json_object_get(r, "campaign"), "name"), "Spring");
    CHECK_STR(meta_str(json_object_get(r, "page"), "id"), "123123123");
    json_t *pids = json_object_get(r, "provider_ids");
    CHECK_STR(meta_str(pids, "lead_id"), "123123123123");
    CHECK_STR(meta_str(pids, "form_id"), "12312312312");
    CHECK_STR(meta_str(pids, "adset_id"), "5555");
    CHECK_STR(meta_str(pids, "page_id"), "123123123");
    /* Nothing null or empty anywhere at the top level. */
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) {
        CHECK(!json_is_null(v));
        CHECK(!json_is_string(v) || json_string_length(v) > 0);
    }
    json_decref(r);

    /* Without the form (no labels), from the poll, Instagram, the form id
     * from the webhook's hint. */
    json_object_del(lead, "form_id");
    json_object_set_new(lead, "platform", json_string("ig"));
    json_t *h2 = json_loads("{\"form_id\":999}", 0, NULL);
    x.via = "poll";
    r = lead_tree(lead, NULL, h2, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(meta_str(r, "provider"), "instagram");
    CHECK_STR(meta_str(r, "via"), "poll");
    CHECK_STR(meta_str(json_object_get(r, "form"), "id"), "999");
    CHECK(json_object_get(json_object_get(r, "form"), "name") == NULL);
    CHECK(json_object_get(json_array_get(json_object_get(r, "answers"), 0), "label") == NULL);
    json_decref(r);
    json_decref(h2);

    /* Unusable leads. */
    json_t *bad = json_loads("{\"id\":\"1\"}", 0, NULL);
    CHECK(lead_tree(bad, NULL, NULL, &x, id, sizeof id, &why) == NULL && why != NULL);
    json_decref(bad);
    bad = json_loads("{\"created_time\":\"2026-11-29T09:15:00+0000\"}", 0, NULL);
    CHECK(lead_tree(bad, NULL, NULL, &x, id, sizeof id, &why) == NULL);
    json_decref(bad);
    /* created_time only in the webhook's hint. */
    bad = json_loads("{\"id\":\"77\"}", 0, NULL);
    json_t *h3 = json_loads("{\"created_time\":1440120384}", 0, NULL);
    r = lead_tree(bad, NULL, h3, &x, id, sizeof id, &why);
    CHECK(r != NULL && json_integer_value(json_object_get(r, "created_at_ms")) == 1440120384000);
    json_decref(r);
    json_decref(bad);
    json_decref(h3);

    json_decref(hint);
    json_decref(form);
    json_decref(gf);
    json_decref(lead);
}

typedef struct first_change {
    meta_change c;
    int got;
} first_change;

static int keep_first(void *arg, const meta_change *c)
{
    first_change *f = arg;
    if (!f->got++) f->c = *c;
    return 1;
}

static void test_comment_metric(void)
{
    json_t *root = json_loads(batch, 0, NULL);
    json_t *entry = json_array_get(json_object_get(root, "entry"), 0);
    /* Only the comment change of the first entry. */
    json_array_remove(json_object_get(entry, "changes"), 0);
    first_change f = {0};
    meta_payload_walk(root, keep_first, &f);
    CHECK(f.got == 1 && f.c.kind == META_COMMENT);
    meta_rec_ctx x = {"fb-acme", "webhook", "101", 5};
    char id[160];
    const char *why = NULL;
    /* The payload says "Nice!" from Ann; Graph (the truth) says otherwise:
     * text, author and times come from Graph, ids from the change. */
    json_t *got = json_loads("{\"id\":\"9_77\",\"message\":\"Graph text\",\"from\":"
                             "{\"id\":\"32\",\"name\":\"Bob\"},\"created_time\":"
                             "\"2015-08-21T01:30:00+0000\",\"parent\":{\"id\":\"101_9\"}}",
                             0, NULL);
    json_t *r = meta_comment_record(&f.c, got, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "meta:comment:9_77:edited:1440120999");
    CHECK_STR(meta_str(r, "schema"), "c360.comment.v1");
    CHECK_STR(meta_str(r, "verb"), "edited");
    CHECK_STR(meta_str(r, "message"), "Graph text");
    CHECK_STR(meta_str(json_object_get(r, "author"), "name"), "Bob");
    CHECK_STR(meta_str(json_object_get(r, "author"), "id"), "32");
    CHECK_STR(meta_str(r, "post_id"), "101_9");
    CHECK_STR(meta_str(r, "parent_id"), "101_9");
    CHECK_STR(meta_str(json_object_get(r, "page"), "id"), "101");
    CHECK_STR(meta_str(json_object_get(r, "provider_ids"), "comment_id"), "9_77");
    CHECK_STR(meta_str(r, "created_at"), "2015-08-21T01:30:00Z");
    json_decref(r);
    /* Without Graph's answer an "edited" makes no record (never the
     * payload's text); Graph answering another comment neither. */
    CHECK(meta_comment_record(&f.c, NULL, &x, id, sizeof id, &why) == NULL);
    json_object_set_new(got, "id", json_string("9_99"));
    CHECK(meta_comment_record(&f.c, got, &x, id, sizeof id, &why) == NULL);
    CHECK_CONTAINS(why, "another comment");
    json_decref(got);
    json_decref(root);

    root = json_loads("{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"time\":1700000000,"
                      "\"changes\":[{\"field\":\"feed\",\"value\":{\"item\":\"comment\","
                      "\"verb\":\"remove\",\"comment_id\":\"9_78\",\"post_id\":\"101_9\","
                      "\"message\":\"gone\",\"from\":{\"id\":\"31\",\"name\":\"Ann\"}}}]}]}",
                      0, NULL);
    memset(&f, 0, sizeof f);
    meta_payload_walk(root, keep_first, &f);
    /* A removal Graph cannot read any more: the payload's ids only. */
    r = meta_comment_record(&f.c, NULL, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "meta:comment:9_78:remove:1700000000"); /* entry time when none given */
    CHECK(json_object_get(r, "message") == NULL);
    CHECK(json_object_get(r, "author") == NULL);
    CHECK_STR(meta_str(r, "parent_id"), "101_9"); /* top level: parent = post */
    json_decref(r);
    json_decref(root);

    root = json_loads("{\"object\":\"instagram\",\"entry\":[{\"id\":\"17841400000000001\","
                      "\"time\":1700000001,\"changes\":[{\"field\":\"comments\",\"value\":"
                      "{\"id\":\"17900000000000001\",\"text\":\"payload text\"}}]}]}", 0, NULL);
    got = json_loads("{\"id\":\"17900000000000001\",\"text\":\"Love it\",\"username\":"
                     "\"ann.ig\",\"from\":{\"id\":\"17800000000000009\",\"username\":\"ann.ig\"},"
                     "\"timestamp\":\"2023-11-14T22:13:20+0000\",\"media\":{\"id\":"
                     "\"17950000000000002\",\"media_product_type\":\"REELS\"}}", 0, NULL);
    memset(&f, 0, sizeof f);
    meta_payload_walk(root, keep_first, &f);
    x.page_id = NULL;
    r = meta_comment_record(&f.c, got, &x, id, sizeof id, &why);
    CHECK(r != NULL);
    CHECK_STR(id, "meta:comment:17900000000000001:add"); /* whatever entry.time says */
    CHECK_STR(meta_str(r, "provider"), "instagram");
    CHECK_STR(meta_str(r, "verb"), "add");
    CHECK_STR(meta_str(r, "message"), "Love it");
    CHECK_STR(meta_str(json_object_get(r, "author"), "name"), "ann.ig");
    CHECK_STR(meta_str(json_object_get(r, "author"), "id"), "17800000000000009");
    CHECK_STR(meta_str(json_object_get(r, "media"), "product_type"), "REELS");
    CHECK_STR(meta_str(json_object_get(r, "provider_ids"), "media_id"), "17950000000000002");
    CHECK_STR(meta_str(r, "created_at"), "2023-11-14T22:13:20Z");
    CHECK(json_object_get(r, "page") == NULL);
    json_decref(r);
    CHECK(meta_comment_record(&f.c, NULL, &x, id, sizeof id, &why) == NULL);
    json_decref(got);
    json_decref(root);

    json_t *row = json_loads("{\"account_id\":\"1\",\"campaign_id\":\"7777\",\"campaign_name\":"
                             "\"Spring\",\"impressions\":\"361324\",\"clicks\":\"2104\","
                             "\"spend\":\"5339.5\",\"ctr\":0.58,\"date_start\":\"2026-11-28\","
                             "\"date_stop\":\"2026-11-28\"}", 0, NULL);
    x.via = "poll";
    r = meta_metric_record(row, "1", &x, id, sizeof id, &why);
    CHECK_STR(id, "meta:metric:ads_insights:act_1:7777:2026-11-28");
    CHECK_STR(meta_str(r, "schema"), "c360.metric.v1");
    CHECK_STR(meta_str(r, "name"), "ads_insights");
    CHECK_STR(meta_str(r, "level"), "campaign");
    CHECK_STR(meta_str(r, "date"), "2026-11-28");
    CHECK_STR(meta_str(json_object_get(r, "values"), "spend"), "5339.5");
    CHECK_STR(meta_str(json_object_get(r, "values"), "ctr"), "0.57999999999999996");
    CHECK(json_object_get(json_object_get(r, "values"), "reach") == NULL);
    CHECK_STR(meta_str(json_object_get(r, "dimensions"), "campaign_name"), "Spring");
    CHECK_STR(meta_str(r, "created_at"), "2026-11-28T00:00:00Z");
    json_decref(r);
    json_object_del(row, "campaign_id");
    CHECK(meta_metric_record(row, "1", &x, id, sizeof id, &why) == NULL);
    json_decref(row);
}

/* ---- usage and errors ------------------------------------------------- */

static void test_usage(void)
{
    c360_header h[] = {
        {"content-type", "application/json"},
        {"x-app-usage", "{\"call_count\":28,\"total_cputime\":95.2,\"total_time\":25}"},
        {"x-business-use-case-usage",
         "{\"101\":[{\"type\":\"pages\",\"call_count\":12,\"total_cputime\":3,\"total_time\":4,"
         "\"estimated_time_to_regain_access\":0},{\"type\":\"leads\",\"call_count\":100,"
         "\"estimated_time_to_regain_access\":5}],\"x\":[],\"42\":[{\"call_count\":3}]}"},
        {"x-ad-account-usage", "{\"acc_id_util_pct\":100.0,\"reset_time_duration\":120}"},
        {"x-page-usage", "not json"},
    };
    meta_usage u;
    meta_usage_parse(h, 5, &u);
    CHECK(u.app_pct == 96);
    CHECK(u.page_pct == -1);
    CHECK(u.nbuc == 2);
    CHECK_STR(u.buc[0].id, "101");
    CHECK(u.buc[0].pct == 100 && u.buc[0].regain_ms == 300000);
    CHECK(u.buc[1].pct == 3 && u.buc[1].regain_ms == 0);
    CHECK(u.ad_pct == 100 && u.ad_regain_ms == 120000);
    c360_header h2[] = {{"x-ad-account-usage", "{\"acc_id_util_pct\":9.67,\"reset_time_duration\":50}"},
                        {"x-app-usage", "{\"call_count\":-5,\"total_time\":\"7\"}"}};
    meta_usage_parse(h2, 2, &u);
    CHECK(u.ad_pct == 10 && u.ad_regain_ms == 0);
    CHECK(u.app_pct == 7);
    meta_usage_parse(NULL, 0, &u);
    CHECK(u.app_pct == -1 && u.nbuc == 0 && u.ad_pct == -1);

    meta_err e;
    const char *b613 = "{\"error\":{\"message\":\"Calls to this api have exceeded the rate limit.\","
                       "\"type\":\"OAuthException\",\"code\":613,\"fbtrace_id\":\"x\"}}";
    meta_err_classify(400, b613, strlen(b613), NULL, &e);
    CHECK(e.cls == META_ERR_THROTTLE && e.code == 613);
    const char *b80001 = "{\"error\":{\"message\":\"There have been too many calls to this Page\","
                         "\"code\":80001,\"error_subcode\":2446079}}";
    meta_err_classify(400, b80001, strlen(b80001), NULL, &e);
    CHECK(e.cls == META_ERR_THROTTLE && e.subcode == 2446079);
    const char *b4 = "{\"error\":{\"message\":\"Application request limit reached\",\"code\":\"4\"}}";
    meta_err_classify(403, b4, strlen(b4), NULL, &e);
    CHECK(e.cls == META_ERR_THROTTLE && e.code == 4);
    const char *b190 = "{\"error\":{\"message\":\"Error validating access token: The session has "
                       "been invalidated because the user changed their password. EAAB123456789\","
                       "\"type\":\"OAuthException\",\"code\":190,\"error_subcode\":460}}";
    meta_err_classify(401, b190, strlen(b190), "EAAB123456789", &e);
    CHECK(e.cls == META_ERR_AUTH && e.code == 190 && e.subcode == 460);
    /* A message that holds the token is not shown at all (the kit). */
    CHECK(strstr(e.msg, "EAAB123456789") == NULL);
    CHECK_CONTAINS(e.msg, "not shown");
    const char *b2 = "{\"error\":{\"message\":\"An unexpected error has occurred.\",\"code\":2,"
                     "\"is_transient\":true}}";
    meta_err_classify(500, b2, strlen(b2), NULL, &e);
    CHECK(e.cls == META_ERR_TRANSIENT);
    const char *b100 = "{\"error\":{\"message\":\"Unsupported get request.\",\"code\":100,"
                       "\"error_subcode\":33}}";
    meta_err_classify(400, b100, strlen(b100), NULL, &e);
    CHECK(e.cls == META_ERR_PERMANENT && e.code == 100 && e.subcode == 33);
    meta_err_classify(429, "", 0, NULL, &e);
    CHECK(e.cls == META_ERR_THROTTLE);
    meta_err_classify(502, "<html>bad gateway</html>", 24, NULL, &e);
    CHECK(e.cls == META_ERR_TRANSIENT);
    CHECK_STR(e.msg, "HTTP 502");
    meta_err_classify(200, "{\"data\":[]}", 11, NULL, &e);
    CHECK(e.cls == META_ERR_NONE);
    meta_err_classify(200, "{\"error\":{\"code\":190}}", 22, NULL, &e);
    CHECK(e.cls == META_ERR_AUTH);
    for (int64_t c = 80000; c <= 80008; c++) CHECK(meta_throttle_code(c));
    CHECK(!meta_throttle_code(80009) && !meta_throttle_code(190) && meta_throttle_code(17) &&
          meta_throttle_code(32));
}

/* ---- review fixes: trim, pending writes, times, appsecret_proof ------- */

static void test_fixes(void)
{
    uint8_t b1[] = " \tsecret-value\r\n";
    size_t n = meta_trim(b1, sizeof b1 - 1);
    CHECK(n == 12 && strcmp((char *)b1, "secret-value") == 0);
    uint8_t b2[] = " \n ";
    CHECK(meta_trim(b2, 3) == 0 && b2[0] == 0);
    uint8_t b3[] = "x";
    CHECK(meta_trim(b3, 1) == 1 && strcmp((char *)b3, "x") == 0);

    meta_pend p = {0};
    CHECK(meta_pend_set(&p, "lead:1", "w", 1, 5));
    CHECK(meta_pend_set(&p, "cursor:9", "100", 3, 0));
    CHECK(meta_pend_set(&p, "cursor:9", "200", 3, 0)); /* replaces */
    CHECK(meta_pend_del(&p, "win:9"));
    CHECK(p.n == 3);
    CHECK(meta_pend_has(&p, "lead:1") && !meta_pend_has(&p, "lead:2"));
    CHECK(!meta_pend_has(&p, "win:9")); /* a delete is not a write */
    CHECK_STR(p.v[1].val, "200");
    CHECK(meta_pend_del(&p, "lead:1") && !meta_pend_has(&p, "lead:1"));
    meta_pend_free(&p);
    CHECK(p.n == 0 && p.v == NULL);

    /* Times past year 9999 are no time: created_at_ms cannot overflow. */
    json_t *v = json_integer(9223372036854775807LL);
    CHECK(meta_time_from_json(v) == -1);
    json_decref(v);
    v = json_integer(META_TIME_MAX);
    CHECK(meta_time_from_json(v) == META_TIME_MAX);
    json_decref(v);
    v = json_real(1e300);
    CHECK(meta_time_from_json(v) == -1);
    json_decref(v);
    json_t *lead = json_loads("{\"id\":\"1\",\"created_time\":9223372036854775}", 0, NULL);
    meta_rec_ctx x = {"c", "poll", "101", 5};
    char id[64];
    const char *why = NULL;
    CHECK(lead_tree(lead, NULL, NULL, &x, id, sizeof id, &why) == NULL);
    json_decref(lead);

    meta_err e;
    const char *bp = "{\"error\":{\"message\":\"Invalid appsecret_proof provided in the API "
                     "argument\",\"type\":\"GraphMethodException\",\"code\":100}}";
    meta_err_classify(400, bp, strlen(bp), NULL, &e);
    CHECK(e.cls == META_ERR_PROOF && e.code == 100);
    const char *b100 = "{\"error\":{\"message\":\"(#100) Invalid parameter\",\"code\":100}}";
    meta_err_classify(400, b100, strlen(b100), NULL, &e);
    CHECK(e.cls == META_ERR_PERMANENT);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    test_config();
    test_util();
    test_apps();
    test_payload();
    test_lead();
    test_comment_metric();
    test_usage();
    test_fixes();
    CHECK_DONE();
}
