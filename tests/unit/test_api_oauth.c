/* test_api_oauth -- OAuth connect end to end through the admin API's full
 * dispatcher (admin_fixture.h), a real redis-server, the oauth_tp test
 * plugin (ABI 1.3 oauth_connect) and tests/fakes/fake_oauth as the
 * provider: POST .../oauth/start -> GET the authorisation URL on the fake
 * (which "consents" and redirects; the redirect is followed by hand) ->
 * GET /oauth/callback -> the tokens are stored (ch_oauth_token hands them
 * out) and the connection is active again.
 *
 * Also: the state is single-use, expires, and does not survive tampering;
 * the provider's refusal (?error=) leaves the connection unchanged; PKCE
 * is checked by the fake (a wrong verifier fails the exchange); return_url
 * redirects; plugins without oauth_connect (or a 1.2 descriptor), that
 * decline, lack their secret or answer nonsense; a failed exchange; a
 * revoked key; roles; and no answer ever carries the client secret, the
 * code or a token. */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../fakes/fake_client.h"
#include "api_test_util.h"
#include "audit.h"
#include "call.h"
#include "check.h"
#include "conns.h"
#include "oauth.h"
#include "oauth_connect.h"
#include "secrets.h"

#define T1 "t1"
#define T2 "t2"
#define PUBLIC "https://c360.test"
#define SECRET "csecret"

static af_env E;
static fake_proc F;
static char g_admin[CH_APIKEY_TEXT_MAX], g_viewer[CH_APIKEY_TEXT_MAX], g_other[CH_APIKEY_TEXT_MAX];

/* ---- requests ------------------------------------------------------------- */

typedef struct resp {
    int status;
    json_t *json;        /* NULL if the body is not JSON */
    char *raw;           /* the body as sent (JSON dumped, or raw) */
    char location[4096]; /* the Location header, "" if none */
} resp;

static void resp_clear(resp *r)
{
    json_decref(r->json);
    free(r->raw);
    memset(r, 0, sizeof *r);
}

/* One request through the dispatcher, keeping the headers (af_req does
 * not show them). */
static void req(resp *out, const char *key, const char *method, const char *target,
                const char *body)
{
    memset(out, 0, sizeof *out);
    af_call c;
    af_call_run(&E, &c, key, method, target, body, NULL, NULL);
    ch_actx *x = &c.x;
    out->status = x->status;
    if (x->resp) {
        out->json = json_incref(x->resp);
        out->raw = json_dumps(x->resp, JSON_COMPACT);
    } else if (x->raw) {
        out->raw = strndup(x->raw, x->raw_len);
        out->json = json_loadb(x->raw, x->raw_len, 0, NULL);
    } else {
        out->raw = strdup("");
    }
    for (size_t i = 0; i < x->nheaders; i++)
        if (strcasecmp(x->hname[i], "Location") == 0)
            snprintf(out->location, sizeof out->location, "%s", x->hval[i]);
    ch_actx_clear(x);
}

static const char *err_code(const resp *r) { return at_code(r->json); }

/* Raw HTTP/1.0 to the fake (long targets, bodies, the Location header). */
static int fake_http(const char *method, const char *target, const char *body, char *loc,
                     size_t loccap, char *out, size_t outcap)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    char *rq = NULL;
    size_t bl = body ? strlen(body) : 0;
    int n = asprintf(&rq, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: "
                          "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
                     method, target, bl, body ? body : "");
    if (n < 0 || write(s, rq, (size_t)n) != n) {
        free(rq);
        close(s);
        return -1;
    }
    free(rq);
    static char buf[1 << 16];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(s, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(s);
    buf[got] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1) return -1;
    if (loc && loccap) {
        loc[0] = '\0';
        const char *h = strcasestr(buf, "\r\nLocation: ");
        if (h) {
            h += 12;
            size_t l = strcspn(h, "\r\n");
            snprintf(loc, loccap, "%.*s", (int)l, h);
        }
    }
    if (out && outcap) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(out, outcap, "%s", b ? b + 4 : "");
    }
    return status;
}

static void control(const char *q)
{
    char t[128];
    snprintf(t, sizeof t, "/control?%s", q);
    CHECK(fake_http("POST", t, NULL, NULL, 0, NULL, 0) == 200);
}

/* ---- fixtures ------------------------------------------------------------- */

static void conn_put(const char *tenant, const char *id, const char *plugin, const char *extra,
                     const char *state)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"authorize_url\":\"http://127.0.0.1:%d/authorize\","
             "\"token_url\":\"http://127.0.0.1:%d/token\",\"client_id\":\"cid\"%s%s}",
             F.port, F.port, extra && extra[0] ? "," : "", extra ? extra : "");
    ch_conn_spec s = {.tenant = tenant, .id = id, .plugin = plugin, .config = cfg,
                      .config_len = strlen(cfg), .state = state, .ticks = 1};
    CHECK(ch_conn_put(&s, "system", NULL, NULL, NULL) == C360_OK);
}

static void secret(const char *tenant, const char *conn)
{
    CHECK(ch_secret_put(tenant, conn, "client_secret", SECRET, strlen(SECRET), NULL, 0) == C360_OK);
}

static c360_oauth_params token_params(void)
{
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/token", F.port);
    c360_oauth_params p = {.struct_size = sizeof p, .grant = C360_GRANT_AUTHORIZATION_CODE,
                           .auth = C360_OAUTH_AUTH_BODY, .token_url = url, .client_id = "cid",
                           .client_secret = SECRET};
    return p;
}

/* The access token stored for the connection, into out ("" if none). */
static int32_t stored_token(const char *tenant, const char *conn, char *out, size_t cap)
{
    c360_oauth_params p = token_params();
    char *tok = NULL;
    char err[300];
    int32_t rc = ch_oauth_token(tenant, conn, "oauth_tp", &p, &tok, NULL, err, sizeof err);
    snprintf(out, cap, "%s", tok ? tok : "");
    if (tok) ch_secret_value_free(tok);
    return rc;
}

static void conn_state(const char *tenant, const char *id, char *out, size_t cap)
{
    ch_conn *c = NULL;
    out[0] = '\0';
    if (ch_conn_get(tenant, id, &c) == C360_OK) snprintf(out, cap, "%s", c->state);
    ch_conn_free(c);
}

/* A query parameter of a URL (not decoded), into out. */
static int url_param(const char *url, const char *name, char *out, size_t cap)
{
    const char *q = strchr(url, '?');
    size_t nl = strlen(name);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        size_t len = strcspn(p, "&");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - nl - 1), p + nl + 1);
            return 1;
        }
        p += len;
        if (*p) p++;
    }
    out[0] = '\0';
    return 0;
}

/* POST .../oauth/start; the authorisation URL into url. Returns the
 * status. */
static int start(const char *key, const char *tenant, const char *conn, const char *body,
                 char *url, size_t cap, resp *keep)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/%s/connections/%s/oauth/start", tenant, conn);
    resp r;
    req(&r, key, "POST", path, body);
    if (url && cap) {
        const char *u = json_string_value(json_object_get(r.json, "authorize_url"));
        snprintf(url, cap, "%s", u ? u : "");
    }
    int st = r.status;
    if (keep) *keep = r;
    else resp_clear(&r);
    return st;
}

/* Follows the authorisation URL on the fake; the callback target
 * ("/oauth/callback?...") into cb. Returns the fake's status. */
static int authorize(const char *url, char *cb, size_t cap)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d", F.port);
    CHECK(strncmp(url, prefix, strlen(prefix)) == 0);
    char loc[4096];
    int st = fake_http("GET", url + strlen(prefix), NULL, loc, sizeof loc, NULL, 0);
    cb[0] = '\0';
    if (st == 302) {
        CHECK(strncmp(loc, PUBLIC "/oauth/callback?", strlen(PUBLIC "/oauth/callback?")) == 0);
        snprintf(cb, cap, "%s", loc + strlen(PUBLIC));
    }
    return st;
}

/* Nothing secret in an answer: the client secret, the code, a token. */
static void no_secrets(const resp *r, const char *code)
{
    char at[128], rt[128];
    fake_stat_str(F.port, "last_access_token", at, sizeof at);
    fake_stat_str(F.port, "last_refresh_token", rt, sizeof rt);
    CHECK(strstr(r->raw, SECRET) == NULL);
    CHECK(!code || !code[0] || strstr(r->raw, code) == NULL);
    CHECK(!at[0] || strstr(r->raw, at) == NULL);
    CHECK(!rt[0] || strstr(r->raw, rt) == NULL);
    CHECK(strstr(r->location, SECRET) == NULL);
}

static int audit_has(const char *tenant, const char *action, const char *outcome)
{
    ch_audit_query q = {.action = action, .limit = 100};
    json_t *items = NULL;
    uint64_t next = 0;
    if (ch_audit_list(tenant, &q, &items, &next) != C360_OK) return 0;
    int found = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *o = json_string_value(json_object_get(it, "outcome"));
        if (o && strcmp(o, outcome) == 0) found = 1;
    }
    json_decref(items);
    return found;
}

/* ---- the cases ------------------------------------------------------------ */

static void test_connect(void)
{
    conn_put(T1, "c1", "oauth_tp",
             "\"pkce\":true,\"scope\":\"leads read\","
             "\"extra\":\"access_type=offline&prompt=consent\"",
             CH_CONN_STATE_NEEDS_REAUTH);
    secret(T1, "c1");
    char before[64];
    CHECK(stored_token(T1, "c1", before, sizeof before) == C360_ENOTFOUND);

    resp r;
    int64_t t0 = ch_now_ms();
    CHECK(start(g_admin, T1, "c1", NULL, NULL, 0, &r) == 200);
    const char *url = json_string_value(json_object_get(r.json, "authorize_url"));
    int64_t exp = json_integer_value(json_object_get(r.json, "state_expires_ms"));
    CHECK(exp >= t0 + CH_OC_STATE_TTL_MS_DEFAULT - 1000 &&
          exp <= ch_now_ms() + CH_OC_STATE_TTL_MS_DEFAULT);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d/authorize?response_type=code&", F.port);
    CHECK(url && strncmp(url, prefix, strlen(prefix)) == 0);
    CHECK_CONTAINS(url, "&client_id=cid&");
    CHECK_CONTAINS(url, "&redirect_uri=https%3A%2F%2Fc360.test%2Foauth%2Fcallback&");
    CHECK_CONTAINS(url, "&scope=leads%20read&");
    CHECK_CONTAINS(url, "&code_challenge_method=S256&access_type=offline&prompt=consent");
    char ch[64], state[CH_OC_STATE_MAX + 1];
    CHECK(url_param(url, "code_challenge", ch, sizeof ch) && strlen(ch) == 43);
    CHECK(url_param(url, "state", state, sizeof state) && strlen(state) > 40);
    no_secrets(&r, NULL);
    char aurl[4096];
    snprintf(aurl, sizeof aurl, "%s", url ? url : "");
    resp_clear(&r);
    CHECK(audit_has(T1, "oauth.start", "ok"));

    /* The provider consents and sends the browser back. */
    char cb[4096];
    CHECK(authorize(aurl, cb, sizeof cb) == 302);
    char code[128], st2[CH_OC_STATE_MAX + 1];
    CHECK(url_param(cb, "code", code, sizeof code) && strncmp(code, "ac-", 3) == 0);
    CHECK(url_param(cb, "state", st2, sizeof st2));
    CHECK_STR(st2, state);

    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 200);
    CHECK(json_is_true(json_object_get(r.json, "connected")));
    CHECK_STR(json_string_value(json_object_get(r.json, "tenant")), T1);
    CHECK_STR(json_string_value(json_object_get(r.json, "connection")), "c1");
    no_secrets(&r, code);
    resp_clear(&r);

    /* The fake checked the PKCE verifier and redirect_uri; the tokens are
     * stored (sealed: the service's own tests check that) and handed out. */
    CHECK(fake_stat(F.port, "code_refused") == 0);
    char v[128], ru[256], at[128], tok[128];
    fake_stat_str(F.port, "last_code_verifier", v, sizeof v);
    CHECK(strlen(v) == 43);
    fake_stat_str(F.port, "last_redirect_uri", ru, sizeof ru);
    CHECK_STR(ru, PUBLIC "/oauth/callback");
    fake_stat_str(F.port, "last_access_token", at, sizeof at);
    CHECK(stored_token(T1, "c1", tok, sizeof tok) == C360_OK);
    CHECK(at[0] && strcmp(tok, at) == 0);
    char s[32];
    conn_state(T1, "c1", s, sizeof s);
    CHECK_STR(s, "active");
    CHECK(audit_has(T1, "oauth.connect", "ok"));

    /* Single use: the same callback again. */
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 400);
    CHECK_STR(err_code(&r), "state_used");
    no_secrets(&r, code);
    resp_clear(&r);
    CHECK(audit_has(T1, "oauth.connect", "error:state_used"));
    CHECK(fake_stat(F.port, "authorization_code") == 1); /* no second exchange */
}

static void test_bad_states(void)
{
    char url[4096], cb[4096], state[CH_OC_STATE_MAX + 1], t[5000];
    resp r;
    conn_put(T1, "c2", "oauth_tp", "\"pkce\":true", NULL);
    secret(T1, "c2");

    /* Tampered: one character of the signed part changed. */
    CHECK(start(g_admin, T1, "c2", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    url_param(cb, "state", state, sizeof state);
    char code[128];
    url_param(cb, "code", code, sizeof code);
    char forged[CH_OC_STATE_MAX + 1];
    snprintf(forged, sizeof forged, "%s", state);
    forged[3] = forged[3] == 'A' ? 'B' : 'A';
    snprintf(t, sizeof t, "/oauth/callback?code=%s&state=%s", code, forged);
    req(&r, NULL, "GET", t, NULL);
    CHECK(r.status == 400);
    CHECK_STR(err_code(&r), "invalid_state");
    resp_clear(&r);
    /* The signature alone cut off, and garbage. */
    *strrchr(forged, '.') = '\0';
    snprintf(t, sizeof t, "/oauth/callback?code=%s&state=%s", code, forged);
    req(&r, NULL, "GET", t, NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "invalid_state") == 0);
    resp_clear(&r);
    req(&r, NULL, "GET", "/oauth/callback?code=x&state=not-a-state", NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "invalid_state") == 0);
    resp_clear(&r);
    req(&r, NULL, "GET", "/oauth/callback?code=x", NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "invalid_state") == 0);
    resp_clear(&r);
    /* The tampering did not use up the real state: it still works. */
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 200);
    resp_clear(&r);

    /* Expired. */
    ch_oauth_connect_set_state_ttl_ms(1000);
    CHECK(start(g_admin, T1, "c2", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    fx_sleep_ms(1200);
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 400);
    CHECK_STR(err_code(&r), "state_expired");
    resp_clear(&r);
    ch_oauth_connect_set_state_ttl_ms(0);
    CHECK(ch_oauth_connect_state_ttl_ms() == CH_OC_STATE_TTL_MS_DEFAULT);

    /* A valid state without a code: used up, nothing exchanged. */
    CHECK(start(g_admin, T1, "c2", NULL, url, sizeof url, NULL) == 200);
    url_param(url, "state", state, sizeof state);
    snprintf(t, sizeof t, "/oauth/callback?state=%s", state);
    req(&r, NULL, "GET", t, NULL);
    CHECK(r.status == 400);
    CHECK_STR(err_code(&r), "missing_code");
    resp_clear(&r);
    req(&r, NULL, "GET", t, NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "state_used") == 0);
    resp_clear(&r);

    /* Badly encoded query. */
    req(&r, NULL, "GET", "/oauth/callback?state=%zz", NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "bad_query") == 0);
    resp_clear(&r);
}

static void test_provider_error(void)
{
    char url[4096], cb[4096], tok[128], s[32];
    resp r;
    conn_put(T1, "c3", "oauth_tp", "\"pkce\":true", CH_CONN_STATE_NEEDS_REAUTH);
    secret(T1, "c3");
    control("authorize=deny");
    CHECK(start(g_admin, T1, "c3", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    CHECK_CONTAINS(cb, "error=access_denied");
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 400);
    CHECK_STR(err_code(&r), "oauth_denied");
    CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
                   "access_denied");
    resp_clear(&r);
    control("authorize=consent");
    /* Unchanged: no token, still waiting for authorisation. */
    CHECK(stored_token(T1, "c3", tok, sizeof tok) == C360_ENOTFOUND);
    conn_state(T1, "c3", s, sizeof s);
    CHECK_STR(s, "needs_reauth");
    CHECK(audit_has(T1, "oauth.connect", "error:access_denied"));
    /* The state went with the refusal. */
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "state_used") == 0);
    resp_clear(&r);
    /* An error with no state at all. */
    req(&r, NULL, "GET", "/oauth/callback?error=access_denied", NULL);
    CHECK(r.status == 400 && err_code(&r) && strcmp(err_code(&r), "oauth_denied") == 0);
    resp_clear(&r);
}

/* Single use under a race: the same callback from several threads at once
 * (several admin threads, or hosts): one exchange, one success. */
typedef struct racer {
    const char *target;
    int status;
    char code[32];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    resp x;
    req(&x, NULL, "GET", r->target, NULL);
    r->status = x.status;
    snprintf(r->code, sizeof r->code, "%s", err_code(&x) ? err_code(&x) : "");
    resp_clear(&x);
    ch_rconn_thread_close();
    return NULL;
}

static void test_race(void)
{
    char url[4096], cb[4096];
    conn_put(T1, "r1", "oauth_tp", "\"pkce\":true", NULL);
    secret(T1, "r1");
    CHECK(start(g_admin, T1, "r1", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    long before = fake_stat(F.port, "authorization_code");
    enum { N = 6 };
    racer rs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (racer){.target = cb};
        CHECK(pthread_create(&th[i], NULL, race, &rs[i]) == 0);
    }
    int ok = 0, used = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (rs[i].status == 200) ok++;
        else if (rs[i].status == 400 && strcmp(rs[i].code, "state_used") == 0) used++;
    }
    CHECK(ok == 1);
    CHECK(used == N - 1);
    CHECK(fake_stat(F.port, "authorization_code") == before + 1);
}

/* The fake checks PKCE: a verifier that does not match the challenge the
 * code was issued for fails the exchange (and changes nothing). */
static void test_pkce_checked(void)
{
    char url[4096], cb[4096], state[CH_OC_STATE_MAX + 1], tok[128];
    resp r;
    conn_put(T1, "c4", "oauth_tp", "\"pkce\":true", NULL);
    secret(T1, "c4");
    CHECK(start(g_admin, T1, "c4", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    url_param(cb, "state", state, sizeof state);
    ch_oc_state st;
    CHECK(ch_oc_state_check(state, &st) == CH_OC_OK);
    CHECK_STR(st.tenant, T1);
    CHECK_STR(st.conn, "c4");
    /* Swap the stored verifier for another well-formed one. */
    char key[256];
    snprintf(key, sizeof key, "c360:{t:%s}:oauth-state:%s", T1, st.nonce);
    redisReply *g = ch_rconn_command("GET %s", key);
    CHECK(g && g->type == REDIS_REPLY_STRING);
    json_t *rec = g && g->type == REDIS_REPLY_STRING ? json_loads(g->str, 0, NULL) : NULL;
    if (g) freeReplyObject(g);
    CHECK(json_string_length(json_object_get(rec, "v")) == 43);
    json_object_set_new(rec, "v", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    char *txt = json_dumps(rec, JSON_COMPACT);
    redisReply *w = ch_rconn_command("SET %s %s KEEPTTL", key, txt);
    if (w) freeReplyObject(w);
    free(txt);
    json_decref(rec);
    long refused = fake_stat(F.port, "code_refused");
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 502);
    CHECK_STR(err_code(&r), "oauth_exchange_failed");
    no_secrets(&r, NULL);
    resp_clear(&r);
    CHECK(fake_stat(F.port, "code_refused") == refused + 1);
    char why[100];
    fake_stat_str(F.port, "last_code_refusal", why, sizeof why);
    CHECK_STR(why, "PKCE verification failed");
    CHECK(stored_token(T1, "c4", tok, sizeof tok) == C360_ENOTFOUND);
    CHECK(audit_has(T1, "oauth.connect", "error:exchange_refused"));

    /* Without PKCE the URL has no challenge, and the record no verifier. */
    conn_put(T1, "c5", "oauth_tp", "", NULL);
    secret(T1, "c5");
    CHECK(start(g_admin, T1, "c5", NULL, url, sizeof url, NULL) == 200);
    CHECK(strstr(url, "code_challenge") == NULL);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 200);
    resp_clear(&r);
    CHECK(stored_token(T1, "c5", tok, sizeof tok) == C360_OK);
}

/* The fake's token endpoint on its own: a code is good once, and only for
 * its redirect_uri. */
static void test_fake_rules(void)
{
    char loc[4096], code[128], body[512], out[1024];
    snprintf(body, sizeof body, "/authorize?response_type=code&client_id=cid&"
                                "redirect_uri=https%%3A%%2F%%2Fapp.test%%2Fcb&state=s1");
    CHECK(fake_http("GET", body, NULL, loc, sizeof loc, NULL, 0) == 302);
    CHECK(url_param(loc, "code", code, sizeof code));
    CHECK_CONTAINS(loc, "state=s1");
    snprintf(body, sizeof body, "grant_type=authorization_code&code=%s&redirect_uri="
                                "https%%3A%%2F%%2Fother.test%%2Fcb&client_id=cid&client_secret=csecret", code);
    CHECK(fake_http("POST", "/token", body, NULL, 0, out, sizeof out) == 400);
    CHECK_CONTAINS(out, "invalid_grant");
    /* Used up by the failed attempt too. */
    snprintf(body, sizeof body, "grant_type=authorization_code&code=%s&redirect_uri="
                                "https%%3A%%2F%%2Fapp.test%%2Fcb&client_id=cid&client_secret=csecret", code);
    CHECK(fake_http("POST", "/token", body, NULL, 0, out, sizeof out) == 400);
    char why[100];
    fake_stat_str(F.port, "last_code_refusal", why, sizeof why);
    CHECK_STR(why, "authorization code already used");
    /* A wrong client is a page, not a redirect. */
    CHECK(fake_http("GET", "/authorize?response_type=code&client_id=nope&redirect_uri=x", NULL,
                    loc, sizeof loc, NULL, 0) == 400);
}

static void test_return_url(void)
{
    char url[4096], cb[4096];
    resp r;
    conn_put(T1, "c6", "oauth_tp", "\"pkce\":true", NULL);
    secret(T1, "c6");
    CHECK(start(g_admin, T1, "c6", "{\"return_url\":\"https://app.example/done?x=1\"}", url,
                sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 303);
    CHECK_STR(r.location, "https://app.example/done?x=1&status=connected&connection=c6");
    no_secrets(&r, NULL);
    resp_clear(&r);

    control("authorize=deny");
    CHECK(start(g_admin, T1, "c6", "{\"return_url\":\"http://intranet.example/oauth\"}", url,
                sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    control("authorize=consent");
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 303);
    CHECK_STR(r.location,
              "http://intranet.example/oauth?status=error&connection=c6&error=access_denied");
    resp_clear(&r);

    /* Refused return URLs. */
    static const char *const bad[] = {
        "{\"return_url\":\"javascript:alert(1)\"}",
        "{\"return_url\":\"https://app.example/x#frag\"}",
        "{\"return_url\":\"https://user@app.example/\"}",
        "{\"return_url\":\"/relative\"}",
        "{\"return_url\":\"https://app.example/a b\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(start(g_admin, T1, "c6", bad[i], NULL, 0, &r) == 422);
        CHECK_STR(err_code(&r), "validation");
        CHECK_STR(at_detail_path(r.json, 0), "/return_url");
        resp_clear(&r);
    }
    CHECK(start(g_admin, T1, "c6", "{\"return_url\":1}", NULL, 0, NULL) == 422);
    CHECK(start(g_admin, T1, "c6", "{\"nope\":1}", NULL, 0, NULL) == 422);
    CHECK(start(g_admin, T1, "c6", "{", NULL, 0, NULL) == 400);
}

static void test_plugins(void)
{
    resp r;
    /* No client secret stored. */
    conn_put(T1, "p1", "oauth_tp", "", NULL);
    CHECK(start(g_admin, T1, "p1", NULL, NULL, 0, &r) == 422);
    CHECK_STR(err_code(&r), "oauth_not_ready");
    CHECK_CONTAINS(r.raw, "client_secret first");
    resp_clear(&r);
    /* The plugin declines for this connection. */
    conn_put(T1, "p2", "oauth_tp", "\"mode\":\"decline\"", NULL);
    CHECK(start(g_admin, T1, "p2", NULL, NULL, 0, &r) == 422);
    CHECK_STR(err_code(&r), "oauth_not_supported");
    resp_clear(&r);
    /* A 1.2 descriptor: the member past its struct_size is never read. */
    conn_put(T1, "p3", "oauth_tp12", "", NULL);
    secret(T1, "p3");
    CHECK(start(g_admin, T1, "p3", NULL, NULL, 0, &r) == 422);
    CHECK_STR(err_code(&r), "oauth_not_supported");
    resp_clear(&r);
    /* An answer the host refuses, and a plugin failure. */
    conn_put(T1, "p4", "oauth_tp", "\"mode\":\"bad_answer\"", NULL);
    secret(T1, "p4");
    CHECK(start(g_admin, T1, "p4", NULL, NULL, 0, &r) == 500);
    CHECK_STR(err_code(&r), "plugin_error");
    CHECK_CONTAINS(r.raw, "authorize_url");
    no_secrets(&r, NULL);
    resp_clear(&r);
    conn_put(T1, "p5", "oauth_tp", "\"mode\":\"fail\"", NULL);
    CHECK(start(g_admin, T1, "p5", NULL, NULL, 0, &r) == 500);
    CHECK_STR(err_code(&r), "plugin_error");
    CHECK_CONTAINS(r.raw, "misconfigured");
    resp_clear(&r);
    /* A plugin that is not loaded here. */
    ch_conn_spec s = {.tenant = T1, .id = "p6", .plugin = "gone", .config = "{}", .config_len = 2};
    CHECK(ch_conn_put(&s, "system", NULL, NULL, NULL) == C360_OK);
    CHECK(start(g_admin, T1, "p6", NULL, NULL, 0, &r) == 503);
    CHECK_STR(err_code(&r), "plugin_unavailable");
    resp_clear(&r);

    /* A public client (no secret): the fake wants one, so the exchange
     * fails with the provider's refusal, and the connection is unchanged. */
    char url[4096], cb[4096], tok[128];
    conn_put(T1, "p7", "oauth_tp", "\"mode\":\"public\",\"pkce\":true", NULL);
    CHECK(start(g_admin, T1, "p7", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 502);
    CHECK_STR(err_code(&r), "oauth_exchange_failed");
    CHECK_CONTAINS(r.raw, "invalid_client");
    resp_clear(&r);
    CHECK(stored_token(T1, "p7", tok, sizeof tok) == C360_ENOTFOUND);
}

static void test_access(void)
{
    resp r;
    conn_put(T1, "a1", "oauth_tp", "", NULL);
    secret(T1, "a1");
    CHECK(start(g_viewer, T1, "a1", NULL, NULL, 0, &r) == 403);
    CHECK_STR(err_code(&r), "forbidden");
    resp_clear(&r);
    CHECK(start(g_other, T1, "a1", NULL, NULL, 0, &r) == 403);
    CHECK_STR(err_code(&r), "forbidden_tenant");
    resp_clear(&r);
    CHECK(start(NULL, T1, "a1", NULL, NULL, 0, NULL) == 401);
    /* Connections are read through the tenant: another tenant's is 404. */
    conn_put(T2, "b1", "oauth_tp", "", NULL);
    CHECK(start(g_admin, T1, "b1", NULL, NULL, 0, &r) == 404);
    resp_clear(&r);
    CHECK(start(g_admin, T1, "nope", NULL, NULL, 0, NULL) == 404);
    CHECK(start(E.op_key, T1, "a1", NULL, NULL, 0, NULL) == 200);

    /* A key revoked between start and callback: the flow does not end. */
    char k[CH_APIKEY_TEXT_MAX], url[4096], cb[4096], tok[128];
    af_key(&E, CH_ROLE_TENANT_ADMIN, T1, k);
    CHECK(start(k, T1, "a1", NULL, url, sizeof url, NULL) == 200);
    CHECK(authorize(url, cb, sizeof cb) == 302);
    char id[CH_ID_MAX + 1];
    snprintf(id, sizeof id, "%.16s", k + 6);
    CHECK(ch_apikey_revoke(id) == C360_OK);
    req(&r, NULL, "GET", cb, NULL);
    CHECK(r.status == 403);
    resp_clear(&r);
    CHECK(stored_token(T1, "a1", tok, sizeof tok) == C360_ENOTFOUND);
}

/* The loader's descriptor checks of ABI 1.3: a descriptor is at least as
 * long as the minor it declares; a shorter one (1.2-sized) of a plugin
 * that declares 1.2 is fine, and its oauth_connect never read. */
static int32_t d_init(c360_call *c, const c360_host_api *h, void **pd)
{
    (void)c, (void)h, (void)pd;
    return C360_OK;
}
static int32_t d_validate(c360_call *c, void *pd, const char *j, size_t n)
{
    (void)c, (void)pd, (void)j, (void)n;
    return C360_OK;
}
static int32_t d_open(c360_call *c, void *pd, c360_instance *i, const char *j, size_t n,
                      void **id)
{
    (void)c, (void)pd, (void)i, (void)j, (void)n, (void)id;
    return C360_OK;
}
static int32_t d_tick(c360_call *c, void *pd, void *id)
{
    (void)c, (void)pd, (void)id;
    return C360_OK;
}

static void test_descriptor(void)
{
    static const c360_plugin_desc base = {
        C360_DESC_HEADER(C360_CAP_SOURCE_TICK), .name = "d", .version = "1",
        .config_schema = "{}", .init = d_init, .validate_config = d_validate,
        .instance_open = d_open, .tick = d_tick};
    c360_plugin_desc d = base;
    char why[512];
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_NONE);
    d.abi_minor = 3;
    d.struct_size = (uint32_t)offsetof(c360_plugin_desc, oauth_connect);
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_STRUCT_SIZE);
    CHECK_CONTAINS(why, "ABI 1.3 descriptor");
    d.abi_minor = 2;
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_NONE);
    d.struct_size = (uint32_t)offsetof(c360_plugin_desc, webhook_route);
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_STRUCT_SIZE);
    d.abi_minor = 0;
    CHECK(ch_loader_check_desc(&d, why, sizeof why) == CH_REFUSE_NONE);
    /* The loaded 1.2 plugin: no oauth_connect, in ops or in /v1/plugins. */
    const ch_plugin *p12 = ch_loader_find(E.loader, "oauth_tp12");
    const ch_plugin *p13 = ch_loader_find(E.loader, "oauth_tp");
    CHECK(p12 && !ch_plugin_ops_get(p12)->oauth_connect);
    CHECK(p13 && ch_plugin_ops_get(p13)->oauth_connect);
    json_t *j = p12 ? ch_plugin_to_json(p12) : NULL;
    CHECK(json_is_false(json_object_get(j, "oauth_connect")));
    json_decref(j);
    j = p13 ? ch_plugin_to_json(p13) : NULL;
    CHECK(json_is_true(json_object_get(j, "oauth_connect")));
    json_decref(j);
}

int main(void)
{
    static const char *const plugins[] = {"tests/oauth-plugins/oauth_tp.so",
                                          "tests/oauth-plugins/oauth_tp12.so", NULL};
    af_start(&E, plugins);
    ch_oauth_connect_init(E.keyring);
    static const char *const fargs[] = {"--port", "0", "--client-id", "cid", "--client-secret",
                                        SECRET, NULL};
    fake_start(&F, "fake_oauth", fargs);
    af_tenant(&E, T1);
    af_tenant(&E, T2);
    af_key(&E, CH_ROLE_TENANT_ADMIN, T1, g_admin);
    af_key(&E, CH_ROLE_TENANT_VIEWER, T1, g_viewer);
    af_key(&E, CH_ROLE_TENANT_ADMIN, T2, g_other);

    test_descriptor();
    test_connect();
    test_bad_states();
    test_provider_error();
    test_pkce_checked();
    test_race();
    test_fake_rules();
    test_return_url();
    test_plugins();
    test_access();

    fake_stop(&F);
    ch_oauth_connect_init(NULL);
    af_stop(&E);
    CHECK_DONE();
}
