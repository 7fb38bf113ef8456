/* test_oauth -- the OAuth service (oauth.h) against a real redis-server
 * (redis_fixture.h) and the fake token endpoint (tests/fakes/fake_oauth),
 * which counts calls per grant and rotates refresh tokens.
 *
 * Expired tokens are made with ch_oauth_store(..., expires_in 0) around a
 * refresh token the fake really issued, so no case waits for a clock
 * except the ones that are about time (the margin window, lease expiry). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <sodium.h>

#include "../fakes/fake_client.h"
#include "audit.h"
#include "call.h"
#include "check.h"
#include "connstatus.h"
#include "keyring.h"
#include "oauth.h"
#include "oauth_store.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "secrets.h"

#define T "tn1"

static int g_redis;
static fake_proc g_fake;
static char g_token_url[128];

static redisContext *raw(void)
{
    static redisContext *c;
    if (!c) c = redisConnect("127.0.0.1", g_redis);
    return c;
}

static c360_oauth_params params(int32_t grant, const char *name)
{
    c360_oauth_params p = {.struct_size = sizeof p, .grant = grant, .auth = C360_OAUTH_AUTH_BODY,
                           .token_url = g_token_url, .client_id = "cid",
                           .client_secret = "csecret", .token_name = name};
    return p;
}

static void control(const char *q)
{
    char path[256], out[64];
    snprintf(path, sizeof path, "/control?%s", q);
    CHECK(fake_call(g_fake.port, "POST", path, out, sizeof out) == 200);
}

static long calls(const char *f) { return fake_stat(g_fake.port, f); }

static void settings(uint32_t lease_ms, uint32_t wait_ms, uint32_t grace_ms)
{
    ch_oauth_settings s;
    ch_oauth_settings_default(&s);
    s.lease_ms = lease_ms;
    s.wait_ms = wait_ms;
    s.invalid_grant_grace_ms = grace_ms;
    ch_oauth_configure(&s);
}

/* A fresh authorisation for conn (authorization_code at the fake). */
static void connect_conn(const char *conn, const char *name)
{
    c360_oauth_params p = params(C360_GRANT_AUTHORIZATION_CODE, name);
    p.code = "good-code";
    p.redirect_uri = "https://app.example/cb";
    char err[256];
    int32_t rc = ch_oauth_exchange(T, conn, "tp", &p, err, sizeof err);
    CHECK(rc == C360_OK);
    if (rc != C360_OK) fprintf(stderr, "exchange: %s\n", err);
}

/* Makes the stored token expired, keeping its (valid) refresh token. */
static void expire_now(const char *conn, const char *name)
{
    ch_oauth_meta m;
    CHECK(ch_oauth_meta_read(T, conn, name, &m) == C360_OK);
    ch_oauth_record r;
    CHECK(ch_oauth_blob_read(T, conn, name, m.sid, &r, NULL, 0) == C360_OK);
    CHECK(ch_oauth_store(T, conn, name, r.access_token, r.refresh_token, 0, -1, NULL, 0) == C360_OK);
    ch_oauth_record_clear(&r);
}

static int32_t get(const char *conn, int32_t grant, const char *name, char *out, size_t cap)
{
    c360_oauth_params p = params(grant, name);
    char *tok = NULL, err[256] = "";
    int64_t exp = -1;
    int32_t rc = ch_oauth_token(T, conn, "tp", &p, &tok, &exp, err, sizeof err);
    if (out) snprintf(out, cap, "%s", rc == C360_OK && tok ? tok : err);
    ch_secret_value_free(tok);
    return rc;
}

static int status_is(const char *conn, const char *state)
{
    ch_connstatus s;
    int32_t rc = ch_connstatus_get(T, conn, &s);
    if (rc == C360_ENOTFOUND) return strcmp(state, CH_CONN_ACTIVE) == 0;
    return rc == C360_OK && strcmp(s.state, state) == 0;
}

/* --- cases --------------------------------------------------------------- */

static void test_exchange_sealed_and_cached(void)
{
    control("reset=1");
    c360_oauth_params p = params(C360_GRANT_AUTHORIZATION_CODE, NULL);
    p.code = "code-1";
    p.redirect_uri = "https://app.example/cb?x=1&y=2";
    p.code_verifier = "pkce-verifier-0123456789";
    char err[256];
    CHECK(ch_oauth_exchange(T, "c1", "tp", &p, err, sizeof err) == C360_OK);
    CHECK(calls("authorization_code") == 1);
    char buf[256];
    fake_stat_str(g_fake.port, "last_code_verifier", buf, sizeof buf);
    CHECK_STR(buf, "pkce-verifier-0123456789");
    fake_stat_str(g_fake.port, "last_redirect_uri", buf, sizeof buf);
    CHECK_STR(buf, "https://app.example/cb?x=1&y=2"); /* form-encoded and back */
    char at[128], rt[128];
    fake_stat_str(g_fake.port, "last_access_token", at, sizeof at);
    fake_stat_str(g_fake.port, "last_refresh_token", rt, sizeof rt);
    CHECK(at[0] && rt[0]);

    /* Cached: five calls, no endpoint call, the same token. */
    for (int i = 0; i < 5; i++) {
        CHECK(get("c1", C360_GRANT_REFRESH_TOKEN, NULL, buf, sizeof buf) == C360_OK);
        CHECK_STR(buf, at);
    }
    CHECK(calls("refresh_token") == 0);
    c360_oauth_params q = params(C360_GRANT_REFRESH_TOKEN, NULL);
    char *tok = NULL;
    int64_t exp = 0;
    CHECK(ch_oauth_token(T, "c1", "tp", &q, &tok, &exp, err, sizeof err) == C360_OK);
    CHECK(exp > ch_now_ms() + 3500 * 1000LL && exp <= ch_now_ms() + 3600 * 1000LL);
    ch_secret_value_free(tok);

    /* Sealed: neither token appears in any key or value in Redis. */
    redisReply *keys = redisCommand(raw(), "KEYS *");
    CHECK(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements > 0);
    int found = 0, scanned = 0;
    for (size_t i = 0; keys && i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        if (strstr(k, at) || strstr(k, rt)) found++;
        redisReply *d = redisCommand(raw(), "DUMP %s", k);
        if (d && d->type == REDIS_REPLY_STRING &&
            (memmem(d->str, d->len, at, strlen(at)) || memmem(d->str, d->len, rt, strlen(rt))))
            found++;
        freeReplyObject(d);
        redisReply *ty = redisCommand(raw(), "TYPE %s", k);
        if (ty && strcmp(ty->str, "hash") == 0) {
            redisReply *h = redisCommand(raw(), "HGETALL %s", k);
            for (size_t j = 0; h && j < h->elements; j++)
                if (memmem(h->element[j]->str, h->element[j]->len, at, strlen(at)) ||
                    memmem(h->element[j]->str, h->element[j]->len, rt, strlen(rt)))
                    found++;
            freeReplyObject(h);
        } else if (ty && strcmp(ty->str, "string") == 0) {
            redisReply *g = redisCommand(raw(), "GET %s", k);
            if (g && g->type == REDIS_REPLY_STRING &&
                (memmem(g->str, g->len, at, strlen(at)) || memmem(g->str, g->len, rt, strlen(rt))))
                found++;
            freeReplyObject(g);
        }
        freeReplyObject(ty);
        scanned++;
    }
    freeReplyObject(keys);
    CHECK(scanned >= 2); /* at least the metadata hash and the sealed blob */
    CHECK(found == 0);
    /* ...while the metadata is readable without a key. */
    redisReply *m = redisCommand(raw(), "HGET c360:{t:" T "}:oauth:c1:default version");
    CHECK(m && m->type == REDIS_REPLY_STRING && strcmp(m->str, "1") == 0);
    freeReplyObject(m);
}

static void test_refresh_on_expiry(void)
{
    connect_conn("c2", NULL);
    control("reset=1");
    char old_rt[128];
    fake_stat_str(g_fake.port, "last_refresh_token", old_rt, sizeof old_rt); /* "" after reset */
    expire_now("c2", "default");
    char tok[256], at[128];
    CHECK(get("c2", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    CHECK(calls("refresh_token") == 1);
    fake_stat_str(g_fake.port, "last_access_token", at, sizeof at);
    CHECK_STR(tok, at);
    /* The rotated refresh token was stored with it: a second expiry
     * refreshes fine (the old one is dead at the fake). */
    expire_now("c2", "default");
    CHECK(get("c2", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    CHECK(calls("refresh_token") == 2);
    CHECK(calls("invalid_grant") == 0);
    /* And the new token is cached. */
    CHECK(get("c2", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    CHECK(calls("refresh_token") == 2);
}

static void test_margin_window_and_500(void)
{
    /* Inside the margin but not expired: a 500 leaves the current token in
     * use; expired: C360_RETRY. Neither marks the connection. */
    connect_conn("c3", NULL);
    ch_oauth_meta m;
    CHECK(ch_oauth_meta_read(T, "c3", "default", &m) == C360_OK);
    ch_oauth_record r;
    CHECK(ch_oauth_blob_read(T, "c3", "default", m.sid, &r, NULL, 0) == C360_OK);
    char cur_at[128];
    snprintf(cur_at, sizeof cur_at, "%s", r.access_token);
    /* Lifetime 2 s: margin capped to 1 s, so after 1.1 s it is in the window. */
    CHECK(ch_oauth_store(T, "c3", "default", r.access_token, r.refresh_token, 2, -1, NULL, 0) == C360_OK);
    ch_oauth_record_clear(&r);
    char tok[256];
    CHECK(get("c3", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    control("reset=1");
    CHECK_STR(tok, cur_at); /* fresh: no call */
    fx_sleep_ms(1100);
    control("fail=500&count=1");
    CHECK(get("c3", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    CHECK_STR(tok, cur_at); /* the refresh failed, the old token still works */
    CHECK(calls("refresh_token") == 1);
    CHECK(status_is("c3", CH_CONN_ACTIVE));

    expire_now("c3", "default");
    control("fail=500&count=1");
    CHECK(get("c3", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_RETRY);
    CHECK_CONTAINS(tok, "500");
    CHECK(calls("refresh_token") == 2);
    CHECK(status_is("c3", CH_CONN_ACTIVE));
    CHECK(ch_oauth_meta_read(T, "c3", "default", &m) == C360_OK && !m.dead);
    /* The endpoint is back: the same refresh token works. */
    CHECK(get("c3", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    CHECK(calls("refresh_token") == 3);
    CHECK(calls("invalid_grant") == 0);
}

static void test_invalid_grant_dead(void)
{
    settings(5000, 10000, 200);
    connect_conn("c4", NULL);
    ch_oauth_store(T, "c4", "default", "at-old", "rt-unknown-to-the-fake", 0, -1, NULL, 0);
    control("reset=1");
    char tok[256];
    int64_t t0 = ch_monotonic_ms();
    CHECK(get("c4", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_EAUTH);
    CHECK(ch_monotonic_ms() - t0 >= 150); /* the grace period was waited */
    CHECK_CONTAINS(tok, "invalid_grant");
    CHECK(strstr(tok, "rt-unknown") == NULL && strstr(tok, "csecret") == NULL);
    CHECK(calls("refresh_token") == 1);
    ch_connstatus s;
    CHECK(ch_connstatus_get(T, "c4", &s) == C360_OK);
    CHECK_STR(s.state, CH_CONN_NEEDS_REAUTH);
    CHECK_CONTAINS(s.cause, "invalid_grant");
    CHECK(s.since_ms > 0);

    /* Audited. */
    ch_audit_query q = {.action = "oauth.needs_reauth"};
    json_t *entries = NULL;
    uint64_t next = 0;
    CHECK(ch_audit_list(T, &q, &entries, &next) == C360_OK);
    int hit = 0;
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        if (strcmp(json_string_value(json_object_get(e, "connection")), "c4") == 0 &&
            strcmp(json_string_value(json_object_get(e, "outcome")), "error:invalid_grant") == 0 &&
            strcmp(json_string_value(json_object_get(e, "target")), "oauth:default") == 0)
            hit++;
    }
    CHECK(hit == 1);
    json_decref(entries);

    /* Refresh outcomes are audited too (earlier tests refreshed; one failed). */
    ch_audit_query qr = {.action = "oauth.refresh"};
    entries = NULL;
    CHECK(ch_audit_list(T, &qr, &entries, &next) == C360_OK);
    int ok_refresh = 0;
    for (size_t i = 0; i < json_array_size(entries); i++)
        ok_refresh += strcmp(json_string_value(json_object_get(json_array_get(entries, i), "outcome")), "ok") == 0;
    CHECK(ok_refresh >= 1);
    json_decref(entries);

    /* Never again: no endpoint call while dead. */
    for (int i = 0; i < 5; i++) CHECK(get("c4", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_EAUTH);
    CHECK(calls("refresh_token") == 1);

    /* A new authorisation clears it. */
    connect_conn("c4", NULL);
    CHECK(status_is("c4", CH_CONN_ACTIVE));
    CHECK(get("c4", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);

    /* A refresh token past refresh_token_expires_in (LinkedIn): dead
     * without asking the endpoint. */
    ch_oauth_store(T, "c4", "default", "at-x", "rt-y", 0, 0, NULL, 0);
    long before = calls("refresh_token");
    CHECK(get("c4", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_EAUTH);
    CHECK_CONTAINS(tok, "refresh token expired");
    CHECK(calls("refresh_token") == before);
    settings(5000, 10000, 2000);
}

/* Another host refreshed while we were calling the endpoint: its call
 * rotated the refresh token, ours got invalid_grant; we must take its new
 * token, not declare the connection dead. Two threads play two hosts: A's
 * endpoint answer is slow, its lease (300 ms) runs out, B takes over. */
typedef struct racer {
    const char *conn;
    int64_t start_delay_ms;
    int32_t rc;
    char tok[256];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    fx_sleep_ms((int)r->start_delay_ms);
    r->rc = get(r->conn, C360_GRANT_REFRESH_TOKEN, NULL, r->tok, sizeof r->tok);
    ch_rconn_thread_close();
    return NULL;
}

static void test_invalid_grant_after_other_refreshed(void)
{
    settings(300, 10000, 3000);
    connect_conn("c5", NULL);
    expire_now("c5", "default");
    control("reset=1");
    control("fail=slow&count=1"); /* A's call: rotated at once, answered after 1.5 s */
    racer a = {"c5", 0, -1, ""}, b = {"c5", 600, -1, ""};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race, &a);
    pthread_create(&tb, NULL, race, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.rc == C360_OK && b.rc == C360_OK);
    CHECK_STR(b.tok, a.tok);
    char at[128];
    fake_stat_str(g_fake.port, "last_access_token", at, sizeof at);
    CHECK_STR(a.tok, at);
    CHECK(calls("refresh_token") == 2);  /* A's, then B's with the rotated token */
    CHECK(calls("invalid_grant") == 1);
    CHECK(status_is("c5", CH_CONN_ACTIVE));
    settings(5000, 10000, 2000);
}

static void test_lease_holder_died(void)
{
    settings(5000, 10000, 2000);
    connect_conn("c6", NULL);
    expire_now("c6", "default");
    control("reset=1");
    /* What a host that died mid-refresh leaves behind: its lease. */
    char *lk = ch_oauth_lease_key(T, "c6", "default");
    redisReply *r = redisCommand(raw(), "SET %s dead-host-owner PX 800", lk);
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    int64_t t0 = ch_monotonic_ms();
    char tok[256];
    CHECK(get("c6", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    int64_t el = ch_monotonic_ms() - t0;
    CHECK(el >= 600 && el < 3000);
    CHECK(calls("refresh_token") == 1);
    /* Released by its new owner afterwards. */
    r = redisCommand(raw(), "EXISTS %s", lk);
    CHECK(r && r->integer == 0);
    freeReplyObject(r);
    free(lk);
}

static void *refresher(void *arg)
{
    racer *r = arg;
    r->rc = get(r->conn, C360_GRANT_REFRESH_TOKEN, NULL, r->tok, sizeof r->tok);
    ch_rconn_thread_close();
    return NULL;
}

static void test_single_flight_threads(void)
{
    connect_conn("c7", NULL);
    expire_now("c7", "default");
    control("reset=1");
    racer rs[10];
    pthread_t th[10];
    for (int i = 0; i < 10; i++) {
        rs[i] = (racer){"c7", 0, -1, ""};
        pthread_create(&th[i], NULL, refresher, &rs[i]);
    }
    for (int i = 0; i < 10; i++) pthread_join(th[i], NULL);
    char at[128];
    fake_stat_str(g_fake.port, "last_access_token", at, sizeof at);
    int same = 0;
    for (int i = 0; i < 10; i++) same += rs[i].rc == C360_OK && strcmp(rs[i].tok, at) == 0;
    CHECK(same == 10);
    CHECK(calls("refresh_token") == 1);
}

static void test_credentials_grants(void)
{
    settings(5000, 10000, 200);
    control("reset=1");
    char tok[256], at[128];
    /* client_credentials: nothing stored -> fetched, then cached. */
    CHECK(get("c8", C360_GRANT_CLIENT_CREDENTIALS, "app", tok, sizeof tok) == C360_OK);
    fake_stat_str(g_fake.port, "last_access_token", at, sizeof at);
    CHECK_STR(tok, at);
    CHECK(get("c8", C360_GRANT_CLIENT_CREDENTIALS, "app", tok, sizeof tok) == C360_OK);
    CHECK(calls("client_credentials") == 1);

    /* account_credentials (Zoom): HTTP Basic, account_id in the body. */
    c360_oauth_params p = params(C360_GRANT_ACCOUNT_CREDENTIALS, "zoom");
    p.auth = C360_OAUTH_AUTH_BASIC;
    p.account_id = "acct-42";
    char err[256];
    CHECK(ch_oauth_exchange(T, "c8", "tp", &p, err, sizeof err) == C360_OK);
    CHECK(calls("account_credentials") == 1);
    char acct[64];
    fake_stat_str(g_fake.port, "last_account_id", acct, sizeof acct);
    CHECK_STR(acct, "acct-42");
    /* The fake insists on Basic for this grant: body credentials are
     * refused as invalid_client, which for a credentials grant is dead. */
    p.auth = C360_OAUTH_AUTH_BODY;
    CHECK(ch_oauth_exchange(T, "c8", "tp", &p, err, sizeof err) == C360_EAUTH);
    CHECK_CONTAINS(err, "invalid_client");
    /* ...but a failed exchange changes nothing stored. */
    char *t2 = NULL;
    p.auth = C360_OAUTH_AUTH_BASIC;
    CHECK(ch_oauth_token(T, "c8", "tp", &p, &t2, NULL, err, sizeof err) == C360_OK);
    ch_secret_value_free(t2);
    CHECK(calls("account_credentials") == 2);

    /* A wrong client secret on a credentials grant: dead, needs_reauth. */
    c360_oauth_params bad = params(C360_GRANT_CLIENT_CREDENTIALS, "other");
    bad.client_secret = "wrong";
    t2 = NULL;
    CHECK(ch_oauth_token(T, "c9", "tp", &bad, &t2, NULL, err, sizeof err) == C360_EAUTH);
    CHECK(status_is("c9", CH_CONN_NEEDS_REAUTH));
    CHECK(strstr(err, "wrong") == NULL);
    long cc = calls("client_credentials");
    CHECK(ch_oauth_token(T, "c9", "tp", &bad, &t2, NULL, err, sizeof err) == C360_EAUTH);
    CHECK(calls("client_credentials") == cc);
    /* Fixed credentials, exchanged: alive again. */
    bad.client_secret = "csecret";
    CHECK(ch_oauth_exchange(T, "c9", "tp", &bad, err, sizeof err) == C360_OK);
    CHECK(status_is("c9", CH_CONN_ACTIVE));
    CHECK(ch_oauth_token(T, "c9", "tp", &bad, &t2, NULL, err, sizeof err) == C360_OK);
    ch_secret_value_free(t2);

    /* invalid_client on a REFRESH is the app's fault: not the connection's. */
    connect_conn("c10", NULL);
    expire_now("c10", "default");
    c360_oauth_params rp = params(C360_GRANT_REFRESH_TOKEN, NULL);
    rp.client_secret = "app-secret-rotated";
    t2 = NULL;
    CHECK(ch_oauth_token(T, "c10", "tp", &rp, &t2, NULL, err, sizeof err) == C360_ERROR);
    CHECK_CONTAINS(err, "invalid_client");
    CHECK(status_is("c10", CH_CONN_ACTIVE));
    settings(5000, 10000, 2000);
}

static void *other_host_exchange(void *arg)
{
    connect_conn(arg, NULL);
    ch_rconn_thread_close();
    return NULL;
}

static void test_rejected(void)
{
    char tok[256], err[256];
    connect_conn("c11", NULL);
    CHECK(get("c11", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    /* Another host (a thread) stores a newer token after this thread got
     * its own: the rejection is of the old one; retry with the new. */
    pthread_t th;
    pthread_create(&th, NULL, other_host_exchange, "c11");
    pthread_join(th, NULL);
    CHECK(ch_oauth_token_rejected(T, "c11", "tp", NULL, "meta code 190", err, sizeof err) == C360_OK);
    CHECK(status_is("c11", CH_CONN_ACTIVE));
    /* The newest token rejected too: dead. */
    CHECK(get("c11", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);
    CHECK(ch_oauth_token_rejected(T, "c11", "tp", NULL, "meta code 190", err, sizeof err) == C360_EAUTH);
    CHECK(status_is("c11", CH_CONN_NEEDS_REAUTH));
    CHECK(get("c11", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_EAUTH);
    CHECK_CONTAINS(tok, "meta code 190");
    CHECK(ch_oauth_token_rejected(T, "c-none", "tp", NULL, "x", err, sizeof err) == C360_ENOTFOUND);
}

static void test_args_and_forget(void)
{
    char tok[256], err[256];
    c360_oauth_params p = params(C360_GRANT_REFRESH_TOKEN, NULL);
    char *t = NULL;
    CHECK(ch_oauth_token("bad:tenant", "c1", "tp", &p, &t, NULL, err, sizeof err) == C360_EINVAL);
    CHECK(ch_oauth_token(T, "c1", "tp", NULL, &t, NULL, err, sizeof err) == C360_EINVAL);
    p.token_name = "bad name";
    CHECK(ch_oauth_token(T, "c1", "tp", &p, &t, NULL, err, sizeof err) == C360_EINVAL);
    p = params(7, NULL);
    CHECK(ch_oauth_token(T, "c1", "tp", &p, &t, NULL, err, sizeof err) == C360_EINVAL);
    p = params(C360_GRANT_REFRESH_TOKEN, NULL);
    p.struct_size = 8;
    CHECK(ch_oauth_token(T, "c1", "tp", &p, &t, NULL, err, sizeof err) == C360_EINVAL);
    p = params(C360_GRANT_REFRESH_TOKEN, NULL);
    p.token_url = NULL;
    CHECK(ch_oauth_token(T, "c1", "tp", &p, &t, NULL, err, sizeof err) == C360_EINVAL);
    CHECK(t == NULL);
    CHECK(get("never-connected", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_ENOTFOUND);
    p = params(C360_GRANT_REFRESH_TOKEN, NULL);
    CHECK(ch_oauth_exchange(T, "c1", "tp", &p, err, sizeof err) == C360_EINVAL);
    p = params(C360_GRANT_AUTHORIZATION_CODE, NULL);
    CHECK(ch_oauth_exchange(T, "c1", "tp", &p, err, sizeof err) == C360_EINVAL); /* no code */
    CHECK(ch_oauth_store(T, "c1", NULL, "bad\ntoken", NULL, 10, -1, err, sizeof err) == C360_EINVAL);
    /* A refused code changes nothing. */
    p.code = "bad";
    p.redirect_uri = "https://app.example/cb";
    CHECK(ch_oauth_exchange(T, "c1", "tp", &p, err, sizeof err) == C360_EAUTH);
    CHECK(get("c1", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_OK);

    /* Forget removes every key of the token. */
    connect_conn("c12", NULL);
    redisReply *r = redisCommand(raw(), "KEYS *:c12:*");
    CHECK(r && r->elements == 2); /* metadata + sealed blob */
    freeReplyObject(r);
    CHECK(ch_oauth_forget(T, "c12", NULL) == C360_OK);
    r = redisCommand(raw(), "KEYS *:c12:*");
    CHECK(r && r->elements == 0);
    freeReplyObject(r);
    CHECK(get("c12", C360_GRANT_REFRESH_TOKEN, NULL, tok, sizeof tok) == C360_ENOTFOUND);

    /* Forget a whole connection: every token name, nothing of others. */
    connect_conn("c14", "a");
    connect_conn("c14", "b-2");
    connect_conn("c140", NULL);
    CHECK(ch_oauth_forget_connection(T, "c14") == C360_OK);
    r = redisCommand(raw(), "KEYS *:c14:*");
    CHECK(r && r->elements == 0);
    freeReplyObject(r);
    r = redisCommand(raw(), "KEYS *:c140:*");
    CHECK(r && r->elements == 2);
    freeReplyObject(r);
    CHECK(ch_oauth_forget_connection("bad:t", "c14") == C360_EINVAL);
}

/* A provider that does not rotate (Google): the old refresh token stays
 * stored and keeps working. */
static void test_no_rotate(void)
{
    fake_proc f2;
    const char *a[] = {"--no-rotate", NULL};
    fake_start(&f2, "fake_oauth", a);
    char url2[128], err[256];
    snprintf(url2, sizeof url2, "http://127.0.0.1:%d/token", f2.port);
    c360_oauth_params p = params(C360_GRANT_AUTHORIZATION_CODE, "g");
    p.token_url = url2;
    p.code = "code";
    p.redirect_uri = "https://app.example/cb";
    CHECK(ch_oauth_exchange(T, "c13", "tp", &p, err, sizeof err) == C360_OK);
    char rt[128];
    fake_stat_str(f2.port, "last_refresh_token", rt, sizeof rt);
    p.grant = C360_GRANT_REFRESH_TOKEN;
    for (int i = 0; i < 2; i++) {
        expire_now("c13", "g");
        char *t = NULL;
        CHECK(ch_oauth_token(T, "c13", "tp", &p, &t, NULL, err, sizeof err) == C360_OK);
        ch_secret_value_free(t);
        ch_oauth_meta m;
        ch_oauth_record r;
        CHECK(ch_oauth_meta_read(T, "c13", "g", &m) == C360_OK);
        CHECK(ch_oauth_blob_read(T, "c13", "g", m.sid, &r, NULL, 0) == C360_OK);
        CHECK_STR(r.refresh_token, rt);
        ch_oauth_record_clear(&r);
    }
    CHECK(fake_stat(f2.port, "refresh_token") == 2);
    CHECK(fake_stat(f2.port, "invalid_grant") == 0);
    fake_stop(&f2);
}

int main(void)
{
    g_redis = fx_rconn_start(2000);
    char err[256];
    ch_keyring *kr = NULL;
    const char *ktext = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    if (ch_keyring_parse(ktext, strlen(ktext), 0, "test", &kr, err, sizeof err) != CH_OK) {
        fprintf(stderr, "keyring: %s\n", err);
        return 1;
    }
    ch_secrets_init(kr);
    const char *fargs[] = {"--slow-ms", "1500", NULL};
    fake_start(&g_fake, "fake_oauth", fargs);
    snprintf(g_token_url, sizeof g_token_url, "http://127.0.0.1:%d/token", g_fake.port);
    settings(5000, 10000, 2000);

    test_exchange_sealed_and_cached();
    test_refresh_on_expiry();
    test_margin_window_and_500();
    test_invalid_grant_dead();
    test_invalid_grant_after_other_refreshed();
    test_lease_holder_died();
    test_single_flight_threads();
    test_credentials_grants();
    test_rejected();
    test_args_and_forget();
    test_no_rotate();

    fake_stop(&g_fake);
    ch_secrets_init(NULL);
    ch_keyring_free(kr);
    ch_rconn_shutdown();
    CHECK_DONE();
}
