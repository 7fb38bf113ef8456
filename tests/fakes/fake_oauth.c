/* fake_oauth -- an OAuth 2.0 provider on 127.0.0.1: a token endpoint for
 * the OAuth service's tests (tests/unit/test_oauth.c, tests/integration/
 * oauth_refresh.sh), and an authorisation endpoint for OAuth connect's
 * (tests/unit/test_api_oauth.c). It behaves like the providers in
 * /work/shared/reference/providers.md: form-encoded POST, JSON answers,
 * {"error":"invalid_grant",...} with 400 for a dead grant.
 *
 *   fake_oauth [--port N] [--expires-in S] [--refresh-expires-in S]
 *              [--client-id ID] [--client-secret SECRET] [--slow-ms MS]
 *              [--no-rotate]
 *
 * prints "port N" once listening (N = 0: a free port).
 *
 *   GET  /authorize  the authorisation endpoint of OAuth connect:
 *                    response_type=code, client_id (must be --client-id),
 *                    redirect_uri, state[, scope, code_challenge,
 *                    code_challenge_method=S256|plain, anything else]. It
 *                    "consents" at once: 302 to redirect_uri with
 *                    ?code=ac-...&state=<state> (the state returned as
 *                    given), or with ?error=access_denied&state=<state>
 *                    after /control?authorize=deny. A bad request (wrong
 *                    client, no redirect_uri) is a 400 page, not a
 *                    redirect, as providers do.
 *   POST /token      grant_type=
 *       authorization_code  code, redirect_uri[, code_verifier]. A code
 *                           /authorize issued ("ac-...") is accepted ONCE,
 *                           with the redirect_uri it was issued for, and,
 *                           if it was issued with a code_challenge, with
 *                           the code_verifier that matches it (S256 or
 *                           plain); a verifier for a code issued without
 *                           a challenge is refused too. Every failure is
 *                           invalid_grant. Other codes: "bad" is refused
 *                           with invalid_grant, anything else accepted
 *                           (test_oauth's exchanges)
 *       refresh_token       refresh_token: must be the current one of its
 *                           chain. Every refresh ROTATES it (unless
 *                           --no-rotate): the old one is dead from then on
 *                           (invalid_grant)
 *       client_credentials  client auth only
 *       account_credentials account_id; client auth by HTTP Basic only
 *     Client auth: client_id/client_secret form fields or HTTP Basic,
 *     compared with --client-id/--client-secret (401 invalid_client).
 *   GET  /stats      {"authorize":n,"code_refused":n,
 *                     "authorization_code":n,"refresh_token":n,
 *                     "client_credentials":n,"account_credentials":n,
 *                     "invalid_grant":n,"issued":n,"last_access_token":..,
 *                     "last_refresh_token":..,
 *                     "last_code_verifier":..,"last_redirect_uri":..,
 *                     "last_scope":..,"last_account_id":..,
 *                     "last_authorize_query":..,"last_code_refusal":..}
 *                    (code_refused: codes of /authorize the token
 *                    endpoint refused; last_code_refusal says why)
 *                    (calls are counted per grant_type as they arrive,
 *                    whatever the answer)
 *   POST /control?fail=invalid_grant|500|slow|none[&count=N]
 *                    the next N token calls (default: all until
 *                    fail=none) fail that way; slow answers normally
 *                    after --slow-ms
 *   POST /control?authorize=deny|consent   how /authorize answers from now
 *                    on (default consent)
 *   POST /control?reset=1    zero the counters, fail=none, authorize=consent
 *   POST /control?revoke=1   kill every refresh token
 */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fake_common.h"

#define MAX_LIVE_RT 4096

static struct {
    long expires_in, refresh_expires_in, slow_ms;
    const char *client_id, *client_secret;
    int rotate;
} opt = {3600, 0, 5000, "cid", "csecret", 1};

static struct {
    long by_grant[4];
    long invalid_grant, issued, authorize, code_refused;
    char last_at[80], last_rt[80];
    char last_verifier[200], last_redirect[300], last_scope[200], last_account[100];
    char last_auth_query[2048], last_code_refusal[100];
} st;

/* Codes issued by /authorize: each usable once, for its redirect_uri and
 * PKCE challenge. */
#define MAX_CODES 1024
typedef struct auth_code {
    char code[48];
    char *redirect_uri;
    char challenge[200];
    int s256;       /* challenge method: 1 S256, 0 plain */
    int used;
} auth_code;
static auth_code codes[MAX_CODES];
static int codes_n;
static int deny_authorize;

static const char *const grant_names[4] = {"authorization_code", "refresh_token",
                                           "client_credentials", "account_credentials"};

static char *live_rt[MAX_LIVE_RT];
static long seq;

static enum { FAIL_NONE, FAIL_INVALID_GRANT, FAIL_500, FAIL_SLOW } fail_mode;
static long fail_left = -1; /* -1: until fail=none */

static void new_token(const char *prefix, char *out, size_t cap)
{
    unsigned char r[8];
    randombytes_buf(r, sizeof r);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(out, cap, "%s-%ld-%s", prefix, ++seq, hex);
}

static int rt_find(const char *t)
{
    for (int i = 0; i < MAX_LIVE_RT; i++)
        if (live_rt[i] && strcmp(live_rt[i], t) == 0) return i;
    return -1;
}

static void rt_add(const char *t)
{
    for (int i = 0; i < MAX_LIVE_RT; i++)
        if (!live_rt[i]) { live_rt[i] = strdup(t); return; }
    /* Full: forget the oldest slot (tests never get near this). */
    free(live_rt[0]);
    live_rt[0] = strdup(t);
}

static void rt_revoke_all(void)
{
    for (int i = 0; i < MAX_LIVE_RT; i++) { free(live_rt[i]); live_rt[i] = NULL; }
}

/* Appends s percent-encoded (unreserved kept) to out (cap bytes). */
static void url_enc_cat(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (const unsigned char *c = (const unsigned char *)s; *c && n + 4 < cap; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            out[n++] = (char)*c;
        } else {
            out[n++] = '%';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 15];
        }
    }
    out[n] = '\0';
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

static json_t *oauth_error(const char *err, const char *desc)
{
    return json_pack("{s:s,s:s}", "error", err, "error_description", desc);
}

/* HTTP Basic credentials into id/secret; 0 if present and well-formed. */
static int basic_auth(struct evhttp_request *req, char *id, size_t idcap, char *sec, size_t seccap)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0) return -1;
    unsigned char dec[512];
    size_t n;
    if (sodium_base642bin(dec, sizeof dec - 1, h + 6, strlen(h + 6), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    dec[n] = '\0';
    char *colon = strchr((char *)dec, ':');
    if (!colon) return -1;
    *colon = '\0';
    /* RFC 6749 2.3.1: both parts are form-urlencoded before encoding. */
    char *i = evhttp_uridecode((char *)dec, 1, NULL), *s = evhttp_uridecode(colon + 1, 1, NULL);
    snprintf(id, idcap, "%s", i ? i : "");
    snprintf(sec, seccap, "%s", s ? s : "");
    free(i);
    free(s);
    return 0;
}

/* A slow answer's content, until it is sent. */
typedef struct later_json {
    int code;
    json_t *body;
} later_json;

static void later_send(struct evhttp_request *req, void *arg)
{
    later_json *l = arg;
    send_json(req, l->code, l->body);
    l->body = NULL; /* send_json took it */
}

static void later_release(void *arg)
{
    later_json *l = arg;
    json_decref(l->body);
    free(l);
}

static void answer(struct evhttp_request *req, int code, json_t *body, int slow)
{
    if (!slow) {
        send_json(req, code, body);
        return;
    }
    later_json *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->code = code;
    l->body = body;
    fake_reply_later(req, opt.slow_ms, later_send, later_release, l);
}

static json_t *issue(int with_refresh, const char *scope)
{
    char at[80], rt[80];
    new_token("at", at, sizeof at);
    snprintf(st.last_at, sizeof st.last_at, "%s", at);
    st.issued++;
    json_t *j = json_pack("{s:s,s:s,s:I}", "access_token", at, "token_type", "bearer",
                          "expires_in", (json_int_t)opt.expires_in);
    if (with_refresh) {
        new_token("rt", rt, sizeof rt);
        rt_add(rt);
        snprintf(st.last_rt, sizeof st.last_rt, "%s", rt);
        json_object_set_new(j, "refresh_token", json_string(rt));
        if (opt.refresh_expires_in)
            json_object_set_new(j, "refresh_token_expires_in",
                                json_integer(opt.refresh_expires_in));
    }
    if (scope && *scope) json_object_set_new(j, "scope", json_string(scope));
    return j;
}

static auth_code *code_find(const char *c)
{
    for (int i = 0; i < codes_n; i++)
        if (strcmp(codes[i].code, c) == 0) return &codes[i];
    return NULL;
}

static void codes_reset(void)
{
    for (int i = 0; i < codes_n; i++) free(codes[i].redirect_uri);
    memset(codes, 0, sizeof codes);
    codes_n = 0;
}

static void do_authorize(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        fake_reply(req, 405, "text/plain", "GET only\n");
        return;
    }
    st.authorize++;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    snprintf(st.last_auth_query, sizeof st.last_auth_query, "%s", q ? q : "");
    struct evkeyvalq kv;
    if (!q || evhttp_parse_query_str(q, &kv) != 0) {
        fake_reply(req, 400, "text/html", "<p>malformed authorisation request</p>\n");
        return;
    }
    const char *rt = evhttp_find_header(&kv, "response_type");
    const char *cid = evhttp_find_header(&kv, "client_id");
    const char *ru = evhttp_find_header(&kv, "redirect_uri");
    const char *state = evhttp_find_header(&kv, "state");
    const char *ch = evhttp_find_header(&kv, "code_challenge");
    const char *chm = evhttp_find_header(&kv, "code_challenge_method");
    const char *why = NULL;
    if (!rt || strcmp(rt, "code") != 0) why = "response_type must be code";
    else if (!cid || strcmp(cid, opt.client_id) != 0) why = "unknown client_id";
    else if (!ru || (strncmp(ru, "http://", 7) != 0 && strncmp(ru, "https://", 8) != 0))
        why = "redirect_uri missing or not absolute";
    else if (ch && chm && strcmp(chm, "S256") != 0 && strcmp(chm, "plain") != 0)
        why = "unsupported code_challenge_method";
    else if (codes_n >= MAX_CODES) why = "too many codes";
    if (why) {
        char page[200];
        snprintf(page, sizeof page, "<p>bad authorisation request: %s</p>\n", why);
        evhttp_clear_headers(&kv);
        fake_reply(req, 400, "text/html", page);
        return;
    }
    char loc[4096];
    snprintf(loc, sizeof loc, "%s%s", ru, strchr(ru, '?') ? "&" : "?");
    if (deny_authorize) {
        snprintf(loc + strlen(loc), sizeof loc - strlen(loc), "error=access_denied");
    } else {
        auth_code *c = &codes[codes_n++];
        new_token("ac", c->code, sizeof c->code);
        c->redirect_uri = strdup(ru);
        snprintf(c->challenge, sizeof c->challenge, "%s", ch ? ch : "");
        c->s256 = !chm || strcmp(chm, "S256") == 0;
        snprintf(loc + strlen(loc), sizeof loc - strlen(loc), "code=");
        url_enc_cat(loc, sizeof loc, c->code);
    }
    if (state) {
        snprintf(loc + strlen(loc), sizeof loc - strlen(loc), "&state=");
        url_enc_cat(loc, sizeof loc, state);
    }
    evhttp_clear_headers(&kv);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    fake_reply(req, 302, "text/plain", "redirecting\n");
}

/* Checks a code /authorize issued: once, its redirect_uri, its PKCE
 * challenge. NULL if it is good (and now used), else why not. */
static const char *code_problem(const char *code_, const char *ru, const char *cv)
{
    auth_code *c = code_find(code_);
    if (!c) return "unknown authorization code";
    if (c->used) return "authorization code already used";
    c->used = 1;
    if (!ru || strcmp(ru, c->redirect_uri) != 0) return "redirect_uri does not match";
    if (!c->challenge[0]) return cv ? "code_verifier without a code_challenge" : NULL;
    if (!cv) return "code_verifier missing";
    if (!c->s256) return strcmp(cv, c->challenge) == 0 ? NULL : "PKCE verification failed";
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)cv, strlen(cv));
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strcmp(b64, c->challenge) == 0 ? NULL : "PKCE verification failed";
}

static void do_token(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        fake_reply(req, 405, "text/plain", "POST only\n");
        return;
    }
    size_t blen;
    char *body = fake_body(req, &blen);
    struct evkeyvalq f;
    if (evhttp_parse_query_str(body, &f) != 0) {
        free(body);
        send_json(req, 400, oauth_error("invalid_request", "malformed form body"));
        return;
    }
    free(body);
    const char *grant = evhttp_find_header(&f, "grant_type");
    int g = -1;
    for (int i = 0; grant && i < 4; i++)
        if (strcmp(grant, grant_names[i]) == 0) g = i;
    if (g < 0) {
        evhttp_clear_headers(&f);
        send_json(req, 400, oauth_error("unsupported_grant_type", "unknown grant_type"));
        return;
    }
    st.by_grant[g]++;
    const char *scope = evhttp_find_header(&f, "scope");
    if (scope) snprintf(st.last_scope, sizeof st.last_scope, "%s", scope);

    int slow = 0;
    if (fail_mode != FAIL_NONE && fail_left != 0) {
        if (fail_left > 0) fail_left--;
        if (fail_mode == FAIL_500) {
            evhttp_clear_headers(&f);
            fake_reply(req, 500, "text/plain", "internal error\n");
            return;
        }
        if (fail_mode == FAIL_INVALID_GRANT) {
            evhttp_clear_headers(&f);
            st.invalid_grant++;
            send_json(req, 400, oauth_error("invalid_grant", "told to fail"));
            return;
        }
        slow = 1;
    }

    char id[256] = "", sec[256] = "";
    int basic = basic_auth(req, id, sizeof id, sec, sizeof sec) == 0;
    if (!basic) {
        const char *i = evhttp_find_header(&f, "client_id"), *s = evhttp_find_header(&f, "client_secret");
        snprintf(id, sizeof id, "%s", i ? i : "");
        snprintf(sec, sizeof sec, "%s", s ? s : "");
    }
    if (strcmp(id, opt.client_id) != 0 || strcmp(sec, opt.client_secret) != 0 ||
        (g == 3 && !basic)) {
        evhttp_clear_headers(&f);
        answer(req, 401, oauth_error("invalid_client", "client authentication failed"), slow);
        return;
    }

    json_t *out = NULL;
    int code = 200;
    if (g == 0) { /* authorization_code */
        const char *code_ = evhttp_find_header(&f, "code");
        const char *ru = evhttp_find_header(&f, "redirect_uri");
        const char *cv = evhttp_find_header(&f, "code_verifier");
        snprintf(st.last_redirect, sizeof st.last_redirect, "%s", ru ? ru : "");
        snprintf(st.last_verifier, sizeof st.last_verifier, "%s", cv ? cv : "");
        const char *why = NULL;
        if (code_ && strncmp(code_, "ac-", 3) == 0 && (why = code_problem(code_, ru, cv))) {
            st.code_refused++;
            snprintf(st.last_code_refusal, sizeof st.last_code_refusal, "%s", why);
        }
        if (why || !code_ || !*code_ || strcmp(code_, "bad") == 0 || !ru) {
            st.invalid_grant++;
            code = 400;
            out = oauth_error("invalid_grant", why ? why : "authorization code is invalid");
        } else {
            out = issue(1, scope);
        }
    } else if (g == 1) { /* refresh_token */
        const char *rt = evhttp_find_header(&f, "refresh_token");
        int at = rt ? rt_find(rt) : -1;
        if (at < 0) {
            st.invalid_grant++;
            code = 400;
            out = oauth_error("invalid_grant", "refresh token is invalid, expired or revoked");
        } else if (opt.rotate) {
            free(live_rt[at]);
            live_rt[at] = NULL;
            out = issue(1, scope);
        } else {
            out = issue(0, scope);
        }
    } else if (g == 2) {
        out = issue(0, scope);
    } else {
        const char *acct = evhttp_find_header(&f, "account_id");
        snprintf(st.last_account, sizeof st.last_account, "%s", acct ? acct : "");
        if (!acct || !*acct) {
            code = 400;
            out = oauth_error("invalid_request", "account_id is required");
        } else {
            out = issue(0, scope);
        }
    }
    evhttp_clear_headers(&f);
    answer(req, code, out, slow);
}

static void do_stats(struct evhttp_request *req)
{
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                          "authorize", (json_int_t)st.authorize,
                          "code_refused", (json_int_t)st.code_refused,
                          grant_names[0], (json_int_t)st.by_grant[0],
                          grant_names[1], (json_int_t)st.by_grant[1],
                          grant_names[2], (json_int_t)st.by_grant[2],
                          grant_names[3], (json_int_t)st.by_grant[3],
                          "invalid_grant", (json_int_t)st.invalid_grant,
                          "issued", (json_int_t)st.issued,
                          "last_access_token", st.last_at,
                          "last_refresh_token", st.last_rt,
                          "last_code_verifier", st.last_verifier,
                          "last_redirect_uri", st.last_redirect,
                          "last_scope", st.last_scope,
                          "last_account_id", st.last_account,
                          "last_authorize_query", st.last_auth_query,
                          "last_code_refusal", st.last_code_refusal);
    send_json(req, 200, j);
}

static void do_control(struct evhttp_request *req)
{
    char *fail = fake_query_param(req, "fail");
    char *count = fake_query_param(req, "count");
    char *reset = fake_query_param(req, "reset");
    char *revoke = fake_query_param(req, "revoke");
    char *authz = fake_query_param(req, "authorize");
    int ok = 1;
    if (authz) {
        if (strcmp(authz, "deny") == 0) deny_authorize = 1;
        else if (strcmp(authz, "consent") == 0) deny_authorize = 0;
        else ok = 0;
    }
    if (fail) {
        if (strcmp(fail, "none") == 0) fail_mode = FAIL_NONE;
        else if (strcmp(fail, "invalid_grant") == 0) fail_mode = FAIL_INVALID_GRANT;
        else if (strcmp(fail, "500") == 0) fail_mode = FAIL_500;
        else if (strcmp(fail, "slow") == 0) fail_mode = FAIL_SLOW;
        else ok = 0;
        fail_left = count ? fake_parse_long("count", count, 0, 1000000) : -1;
    }
    if (reset) {
        memset(&st, 0, sizeof st);
        fail_mode = FAIL_NONE;
        fail_left = -1;
        deny_authorize = 0;
    }
    if (revoke) rt_revoke_all();
    free(authz);
    free(fail);
    free(count);
    free(reset);
    free(revoke);
    fake_reply(req, ok ? 200 : 400, "text/plain", ok ? "ok\n" : "bad fail mode\n");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    if (strcmp(path, "/token") == 0) do_token(req);
    else if (strcmp(path, "/authorize") == 0) do_authorize(req);
    else if (strcmp(path, "/stats") == 0) do_stats(req);
    else if (strcmp(path, "/control") == 0) do_control(req);
    else fake_reply(req, 404, "text/plain", "no such endpoint\n");
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-rotate") == 0) { opt.rotate = 0; continue; }
        if (!v) goto usage;
        i++;
        if (strcmp(a, "--port") == 0) port = fake_parse_port(v);
        else if (strcmp(a, "--expires-in") == 0) opt.expires_in = fake_parse_long(a, v, 1, 100000000);
        else if (strcmp(a, "--refresh-expires-in") == 0) opt.refresh_expires_in = fake_parse_long(a, v, 0, 100000000);
        else if (strcmp(a, "--slow-ms") == 0) opt.slow_ms = fake_parse_long(a, v, 0, 600000);
        else if (strcmp(a, "--client-id") == 0) opt.client_id = v;
        else if (strcmp(a, "--client-secret") == 0) opt.client_secret = v;
        else goto usage;
    }
    if (sodium_init() < 0) return 1;
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_request);
    rt_revoke_all();
    codes_reset();
    return 0;
usage:
    fprintf(stderr, "usage: fake_oauth [--port N] [--expires-in S] [--refresh-expires-in S] "
                    "[--client-id ID] [--client-secret S] [--slow-ms MS] [--no-rotate]\n");
    return 2;
}
