/* fake_gmail -- Google's side of the google plugin (tests/integration/
 * google.sh): the Gmail API, the OAuth token, revoke and consent
 * endpoints, Google's OIDC keys, and helpers to build Pub/Sub pushes.
 * Mailboxes are per user (by email); each OAuth login is the user that
 * /control?login= named, and every access token reads its user's mailbox.
 *
 *   GET  /gmail/v1/users/me/history     startHistoryId, historyTypes, labelId,
 *                                       maxResults (capped by --page-size),
 *                                       pageToken; 404 notFound when the start
 *                                       id is older than the user's history
 *   GET  /gmail/v1/users/me/messages    q=newer_than:Nd, labelIds, pageToken
 *   GET  /gmail/v1/users/me/messages/ID format=metadata (metadataHeaders) | full
 *   POST /gmail/v1/users/me/watch       {topicName,labelIds} -> {historyId,expiration}
 *   POST /gmail/v1/users/me/stop        204
 *   POST /token                         refresh_token | authorization_code (form)
 *   POST /revoke                        token=...
 *   GET  /o/oauth2/v2/auth              consent at once: 302 redirect_uri?code&state
 *                                       (needs access_type=offline, prompt=consent,
 *                                       scope gmail.readonly)
 *   GET  /oauth2/v3/certs               JWKS of the key made at start
 *
 * Control: POST /control/message {"user","id","threadId","labelIds","from",
 * "to","subject","snippet","body","date_ms"} -> {"id","historyId"};
 * POST /control?login=EMAIL | throttle=429|403&count=N |
 * invalid_grant=EMAIL | expire_history=EMAIL | watch_fail=0|1 |
 * watch_ttl_s=N; GET /control/jwt?aud=&email=&exp=&iss= -> a signed OIDC
 * token; GET /stats. `fake_gmail --push-body EMAIL HISTORY_ID MESSAGE_ID`
 * prints a Pub/Sub push body and exits. */
#include <stdint.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "fake_common.h"

#define MAX_USERS 16
#define MAX_TOKENS 4096

static struct {
    const char *client_id, *client_secret;
    long expires_in, page_size;
} opt = {"gclient", NULL, 3599, 100};

typedef struct user {
    char email[128];
    long min_hid;
    long long watch_exp;
    int invalid_grant;
    json_t *history; /* [{id, message}] */
} user;
static user g_users[MAX_USERS];
static int g_nusers, g_login = -1;
static json_t *g_msgs; /* id -> message (with "_user") */
static long g_hid = 1000, g_seq;
static struct { char tok[80]; int user; int refresh; } g_toks[MAX_TOKENS];
static int g_ntoks;
static struct { int code, count; } g_throttle;
static int g_watch_fail;
static long g_watch_ttl_s = 7 * 86400;
static EVP_PKEY *g_key;

#define COUNTERS(X)                                                                 \
    X(history) X(history_404) X(list) X(get_metadata) X(get_full) X(watch)         \
    X(watch_failed) X(stop) X(token_refresh) X(token_code) X(invalid_grant)        \
    X(revoke) X(throttled) X(dialog) X(certs) X(unauthorized)
#define DECL(n) long n;
static struct { COUNTERS(DECL) } g_st;
static char g_last_q[256];

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int user_of(const char *email, int create)
{
    for (int i = 0; i < g_nusers; i++)
        if (strcmp(g_users[i].email, email) == 0) return i;
    if (!create || g_nusers == MAX_USERS) return -1;
    user *u = &g_users[g_nusers];
    snprintf(u->email, sizeof u->email, "%s", email);
    u->history = json_array();
    return g_nusers++;
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

static void gerr(struct evhttp_request *req, int code, const char *reason, const char *status,
                 const char *msg)
{
    send_json(req, code, json_pack("{s:{s:i,s:s,s:[{s:s,s:s,s:s}],s:s}}", "error", "code", code,
                                   "message", msg, "errors", "domain",
                                   code == 403 || code == 429 ? "usageLimits" : "global",
                                   "reason", reason, "message", msg, "status", status));
}

static int params(struct evhttp_request *req, struct evkeyvalq *kv, int with_body)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    TAILQ_INIT(kv);
    if (q && evhttp_parse_query_str(q, kv) != 0) return -1;
    if (with_body) {
        char *body = fake_body(req, NULL);
        struct evkeyvalq f;
        if (*body && evhttp_parse_query_str(body, &f) == 0) {
            struct evkeyval *e;
            TAILQ_FOREACH(e, &f, next) evhttp_add_header(kv, e->key, e->value);
            evhttp_clear_headers(&f);
        }
        free(body);
    }
    return 0;
}

static char *b64(const void *bin, size_t n, int variant)
{
    size_t cap = sodium_base64_encoded_len(n, variant);
    char *o = malloc(cap);
    sodium_bin2base64(o, cap, bin, n, variant);
    return o;
}

static const char *new_token(int uidx, int refresh)
{
    int i = g_ntoks < MAX_TOKENS ? g_ntoks++ : (int)(g_seq % MAX_TOKENS);
    snprintf(g_toks[i].tok, sizeof g_toks[i].tok, refresh ? "1//rt-%d-%ld" : "ya29.fake-%d-%ld",
             uidx, ++g_seq);
    g_toks[i].user = uidx;
    g_toks[i].refresh = refresh;
    return g_toks[i].tok;
}

static int token_user(const char *tok, int refresh)
{
    for (int i = 0; tok && i < g_ntoks; i++)
        if (g_toks[i].refresh == refresh && strcmp(g_toks[i].tok, tok) == 0) return g_toks[i].user;
    return -1;
}

/* ---- OAuth ------------------------------------------------------------- */

static void token_ep(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    params(req, &kv, 1);
    const char *grant = evhttp_find_header(&kv, "grant_type");
    const char *cid = evhttp_find_header(&kv, "client_id");
    const char *sec = evhttp_find_header(&kv, "client_secret");
    if (!cid || strcmp(cid, opt.client_id) != 0 ||
        (opt.client_secret && (!sec || strcmp(sec, opt.client_secret) != 0))) {
        send_json(req, 401, json_pack("{s:s,s:s}", "error", "invalid_client", "error_description",
                                      "The OAuth client was not found."));
    } else if (grant && strcmp(grant, "refresh_token") == 0) {
        g_st.token_refresh++;
        int u = token_user(evhttp_find_header(&kv, "refresh_token"), 1);
        if (u < 0 || g_users[u].invalid_grant) {
            g_st.invalid_grant++;
            send_json(req, 400, json_pack("{s:s,s:s}", "error", "invalid_grant", "error_description",
                                          "Token has been expired or revoked."));
        } else {
            send_json(req, 200, json_pack("{s:s,s:i,s:s,s:s}", "access_token", new_token(u, 0),
                                          "expires_in", (json_int_t)opt.expires_in, "scope",
                                          "https://www.googleapis.com/auth/gmail.readonly",
                                          "token_type", "Bearer"));
        }
    } else if (grant && strcmp(grant, "authorization_code") == 0) {
        g_st.token_code++;
        const char *code = evhttp_find_header(&kv, "code");
        int u = -1;
        if (code && sscanf(code, "gcode-%d-", &u) != 1) u = -1;
        if (u < 0 || u >= g_nusers) {
            send_json(req, 400, json_pack("{s:s}", "error", "invalid_grant"));
        } else {
            char rt[80];
            snprintf(rt, sizeof rt, "%s", new_token(u, 1));
            send_json(req, 200, json_pack("{s:s,s:s,s:i,s:s,s:s}", "access_token", new_token(u, 0),
                                          "refresh_token", rt, "expires_in",
                                          (json_int_t)opt.expires_in, "scope",
                                          "https://www.googleapis.com/auth/gmail.readonly",
                                          "token_type", "Bearer"));
        }
    } else {
        send_json(req, 400, json_pack("{s:s}", "error", "unsupported_grant_type"));
    }
    evhttp_clear_headers(&kv);
}

static void revoke_ep(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    params(req, &kv, 1);
    const char *t = evhttp_find_header(&kv, "token");
    int found = 0;
    for (int i = 0; t && i < g_ntoks; i++)
        if (strcmp(g_toks[i].tok, t) == 0) {
            g_toks[i].tok[0] = '\0';
            found = 1;
        }
    g_st.revoke += found;
    if (found) send_json(req, 200, json_object());
    else send_json(req, 400, json_pack("{s:s}", "error", "invalid_token"));
    evhttp_clear_headers(&kv);
}

static void dialog(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    g_st.dialog++;
    params(req, &kv, 0);
    const char *ru = evhttp_find_header(&kv, "redirect_uri");
    const char *state = evhttp_find_header(&kv, "state");
    const char *cid = evhttp_find_header(&kv, "client_id");
    const char *at = evhttp_find_header(&kv, "access_type");
    const char *pr = evhttp_find_header(&kv, "prompt");
    const char *sc = evhttp_find_header(&kv, "scope");
    if (!ru || !state || !cid || strcmp(cid, opt.client_id) != 0 || !at ||
        strcmp(at, "offline") != 0 || !pr || strcmp(pr, "consent") != 0 || !sc ||
        !strstr(sc, "gmail.readonly") || g_login < 0) {
        fake_reply(req, 400, "text/plain", "bad consent request\n");
    } else {
        char *es = evhttp_encode_uri(state);
        size_t cap = strlen(ru) + strlen(es) + 64;
        char *loc = malloc(cap);
        snprintf(loc, cap, "%s%scode=gcode-%d-%ld&state=%s", ru, strchr(ru, '?') ? "&" : "?",
                 g_login, ++g_seq, es);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
        evhttp_send_reply(req, 302, "Found", NULL);
        free(loc);
        free(es);
    }
    evhttp_clear_headers(&kv);
}

/* ---- OIDC keys and tokens ---------------------------------------------- */

static char *bn_b64(const char *param)
{
    BIGNUM *b = NULL;
    EVP_PKEY_get_bn_param(g_key, param, &b);
    unsigned char buf[1024];
    int n = BN_bn2bin(b, buf);
    BN_free(b);
    return b64(buf, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void certs(struct evhttp_request *req)
{
    g_st.certs++;
    char *n = bn_b64(OSSL_PKEY_PARAM_RSA_N), *e = bn_b64(OSSL_PKEY_PARAM_RSA_E);
    send_json(req, 200, json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "RSA", "alg",
                                  "RS256", "use", "sig", "kid", "fake-kid-1", "n", n, "e", e));
    free(n);
    free(e);
}

static void jwt(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    params(req, &kv, 0);
    const char *aud = evhttp_find_header(&kv, "aud"), *em = evhttp_find_header(&kv, "email");
    const char *exp = evhttp_find_header(&kv, "exp"), *iss = evhttp_find_header(&kv, "iss");
    long long now = now_ms() / 1000;
    json_t *pl = json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:s}", "iss",
                           iss ? iss : "https://accounts.google.com", "aud", aud ? aud : "",
                           "email", em ? em : "", "email_verified", 1, "iat", (json_int_t)now - 5,
                           "exp", (json_int_t)(exp ? now + atol(exp) : now + 3600), "sub", "1234");
    char *ps = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    const char *hs = "{\"alg\":\"RS256\",\"kid\":\"fake-kid-1\",\"typ\":\"JWT\"}";
    char *h64 = b64(hs, strlen(hs), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *p64 = b64(ps, strlen(ps), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t sl = strlen(h64) + strlen(p64) + 2;
    char *signing = malloc(sl);
    snprintf(signing, sl, "%s.%s", h64, p64);
    unsigned char sig[512];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g_key);
    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)signing, strlen(signing));
    EVP_MD_CTX_free(md);
    char *s64 = b64(sig, siglen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t tl = sl + strlen(s64) + 2;
    char *tok = malloc(tl);
    snprintf(tok, tl, "%s.%s", signing, s64);
    fake_reply(req, 200, "text/plain", tok);
    free(tok); free(s64); free(signing); free(h64); free(p64); free(ps);
    evhttp_clear_headers(&kv);
}

/* ---- Gmail ------------------------------------------------------------- */

static int has_label(json_t *m, const char *label)
{
    json_t *l;
    size_t i;
    if (!label) return 1;
    json_array_foreach(json_object_get(m, "labelIds"), i, l)
        if (strcmp(json_string_value(l), label) == 0) return 1;
    return 0;
}

static json_t *msg_ref(json_t *m, int with_labels)
{
    json_t *r = json_pack("{s:O,s:O}", "id", json_object_get(m, "id"), "threadId",
                          json_object_get(m, "threadId"));
    if (with_labels) json_object_set(r, "labelIds", json_object_get(m, "labelIds"));
    return r;
}

static void history(struct evhttp_request *req, int u, struct evkeyvalq *kv)
{
    g_st.history++;
    const char *start = evhttp_find_header(kv, "startHistoryId");
    const char *label = evhttp_find_header(kv, "labelId");
    const char *pt = evhttp_find_header(kv, "pageToken");
    const char *mr = evhttp_find_header(kv, "maxResults");
    long s = start ? atol(start) : 0, max = mr ? atol(mr) : 100;
    if (max <= 0 || max > opt.page_size) max = opt.page_size;
    if (!start || s <= 0) {
        gerr(req, 400, "invalidArgument", "INVALID_ARGUMENT", "Invalid startHistoryId");
        return;
    }
    if (s < g_users[u].min_hid) {
        g_st.history_404++;
        gerr(req, 404, "notFound", "NOT_FOUND", "Requested entity was not found.");
        return;
    }
    long off = pt ? atol(pt + 1) : 0;
    json_t *out = json_array(), *h;
    size_t i;
    long seen = 0, n = 0;
    int more = 0;
    json_array_foreach(g_users[u].history, i, h) {
        long id = atol(json_string_value(json_object_get(h, "id")));
        json_t *m = json_object_get(g_msgs, json_string_value(json_object_get(h, "message")));
        if (id <= s || !m || !has_label(m, label)) continue;
        if (seen++ < off) continue;
        if (n == max) { more = 1; break; }
        n++;
        json_array_append_new(out, json_pack("{s:O,s:[o],s:[{s:o}]}", "id", json_object_get(h, "id"),
                                             "messages", msg_ref(m, 0), "messagesAdded",
                                             "message", msg_ref(m, 1)));
    }
    char hid[24], next[24];
    snprintf(hid, sizeof hid, "%ld", g_hid);
    json_t *r = json_pack("{s:s}", "historyId", hid);
    if (json_array_size(out)) json_object_set(r, "history", out);
    json_decref(out);
    if (more) {
        snprintf(next, sizeof next, "p%ld", off + n);
        json_object_set_new(r, "nextPageToken", json_string(next));
    }
    send_json(req, 200, r);
}

static void list(struct evhttp_request *req, int u, struct evkeyvalq *kv)
{
    g_st.list++;
    const char *q = evhttp_find_header(kv, "q");
    const char *label = evhttp_find_header(kv, "labelIds");
    const char *pt = evhttp_find_header(kv, "pageToken");
    snprintf(g_last_q, sizeof g_last_q, "%s", q ? q : "");
    long days = 0;
    if (q && sscanf(q, "newer_than:%ldd", &days) != 1) days = 0;
    long long since = days > 0 ? now_ms() - days * 86400000LL : 0;
    long off = pt ? atol(pt + 1) : 0, seen = 0, n = 0;
    json_t *out = json_array();
    int more = 0;
    /* newest first: walk the user's history backwards */
    for (size_t i = json_array_size(g_users[u].history); i-- > 0;) {
        json_t *h = json_array_get(g_users[u].history, i);
        json_t *m = json_object_get(g_msgs, json_string_value(json_object_get(h, "message")));
        if (!m || !has_label(m, label) ||
            atoll(json_string_value(json_object_get(m, "internalDate"))) < since)
            continue;
        if (seen++ < off) continue;
        if (n == opt.page_size) { more = 1; break; }
        n++;
        json_array_append_new(out, msg_ref(m, 0));
    }
    json_t *r = json_pack("{s:o,s:i}", "messages", out, "resultSizeEstimate", (json_int_t)n);
    if (more) {
        char next[24];
        snprintf(next, sizeof next, "p%ld", off + n);
        json_object_set_new(r, "nextPageToken", json_string(next));
    }
    send_json(req, 200, r);
}

static void get(struct evhttp_request *req, int u, const char *id, struct evkeyvalq *kv)
{
    json_t *m = json_object_get(g_msgs, id);
    if (!m || json_integer_value(json_object_get(m, "_user")) != u) {
        gerr(req, 404, "notFound", "NOT_FOUND", "Requested entity was not found.");
        return;
    }
    const char *fmt = evhttp_find_header(kv, "format");
    int full = fmt && strcmp(fmt, "full") == 0;
    if (full) g_st.get_full++;
    else g_st.get_metadata++;
    json_t *hdrs = json_array(), *wanted = json_object();
    struct evkeyval *e;
    TAILQ_FOREACH(e, kv, next)
        if (strcmp(e->key, "metadataHeaders") == 0) json_object_set_new(wanted, e->value, json_true());
    static const char *const names[][2] = {{"From", "from"}, {"To", "to"}, {"Subject", "subject"},
                                           {"Date", "date"}, {"Message-ID", "rfc_id"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = json_string_value(json_object_get(m, names[i][1]));
        if (v && (full || json_object_size(wanted) == 0 || json_object_get(wanted, names[i][0])))
            json_array_append_new(hdrs, json_pack("{s:s,s:s}", "name", names[i][0], "value", v));
    }
    json_decref(wanted);
    json_t *payload = json_pack("{s:s,s:o}", "mimeType", full ? "multipart/alternative" : "text/plain",
                                "headers", hdrs);
    if (full) {
        const char *b = json_string_value(json_object_get(m, "body"));
        char *enc = b64(b ? b : "", b ? strlen(b) : 0, sodium_base64_VARIANT_URLSAFE);
        json_object_set_new(payload, "parts",
                            json_pack("[{s:s,s:s,s:{s:s,s:i}}]", "mimeType", "text/plain", "filename",
                                      "", "body", "data", enc, "size",
                                      (json_int_t)(b ? strlen(b) : 0)));
        free(enc);
    }
    send_json(req, 200, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:i,s:o}", "id", json_object_get(m, "id"),
                                  "threadId", json_object_get(m, "threadId"), "labelIds",
                                  json_object_get(m, "labelIds"), "snippet",
                                  json_object_get(m, "snippet"), "historyId",
                                  json_object_get(m, "historyId"), "internalDate",
                                  json_object_get(m, "internalDate"), "sizeEstimate", 1234,
                                  "payload", payload));
}

static void watch(struct evhttp_request *req, int u)
{
    g_st.watch++;
    char *body = fake_body(req, NULL);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    const char *topic = json_string_value(json_object_get(j, "topicName"));
    if (!topic || strncmp(topic, "projects/", 9) != 0) {
        gerr(req, 400, "invalidArgument", "INVALID_ARGUMENT", "Invalid topicName");
    } else if (g_watch_fail) {
        g_st.watch_failed++;
        gerr(req, 403, "forbidden", "PERMISSION_DENIED",
             "Error sending test message to Cloud PubSub: User not authorized to perform this action.");
    } else {
        char hid[24], exp[24];
        g_users[u].watch_exp = now_ms() + g_watch_ttl_s * 1000;
        snprintf(hid, sizeof hid, "%ld", g_hid);
        snprintf(exp, sizeof exp, "%lld", g_users[u].watch_exp);
        send_json(req, 200, json_pack("{s:s,s:s}", "historyId", hid, "expiration", exp));
    }
    json_decref(j);
}

static void gmail(struct evhttp_request *req, const char *p)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    int u = a && strncmp(a, "Bearer ", 7) == 0 ? token_user(a + 7, 0) : -1;
    if (u < 0) {
        g_st.unauthorized++;
        gerr(req, 401, "authError", "UNAUTHENTICATED", "Invalid Credentials");
        return;
    }
    if (g_throttle.count > 0) {
        g_throttle.count--;
        g_st.throttled++;
        if (g_throttle.code == 429)
            gerr(req, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED",
                 "Too many concurrent requests for user");
        else
            gerr(req, 403, "userRateLimitExceeded", "PERMISSION_DENIED", "User-rate limit exceeded");
        return;
    }
    struct evkeyvalq kv;
    params(req, &kv, 0);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (strcmp(p, "history") == 0 && cmd == EVHTTP_REQ_GET) history(req, u, &kv);
    else if (strcmp(p, "messages") == 0 && cmd == EVHTTP_REQ_GET) list(req, u, &kv);
    else if (strncmp(p, "messages/", 9) == 0 && cmd == EVHTTP_REQ_GET) get(req, u, p + 9, &kv);
    else if (strcmp(p, "watch") == 0 && cmd == EVHTTP_REQ_POST) watch(req, u);
    else if (strcmp(p, "stop") == 0 && cmd == EVHTTP_REQ_POST) {
        g_st.stop++;
        g_users[u].watch_exp = 0;
        evhttp_send_reply(req, 204, "No Content", NULL);
    } else gerr(req, 404, "notFound", "NOT_FOUND", "Not Found");
    evhttp_clear_headers(&kv);
}

/* ---- control ----------------------------------------------------------- */

static void add_message(struct evhttp_request *req)
{
    char *body = fake_body(req, NULL);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    const char *email = json_string_value(json_object_get(j, "user"));
    int u = email ? user_of(email, 1) : -1;
    if (!j || u < 0) {
        fake_reply(req, 400, "text/plain", "bad message\n");
        json_decref(j);
        return;
    }
    char id[40], hid[24], date[24];
    const char *given = json_string_value(json_object_get(j, "id"));
    if (given) snprintf(id, sizeof id, "%s", given);
    else snprintf(id, sizeof id, "18c%013ld", ++g_seq);
    snprintf(hid, sizeof hid, "%ld", ++g_hid);
    json_t *dm = json_object_get(j, "date_ms");
    snprintf(date, sizeof date, "%lld", dm ? (long long)json_integer_value(dm) : now_ms());
    json_object_set_new(j, "id", json_string(id));
    if (!json_object_get(j, "threadId")) json_object_set_new(j, "threadId", json_string(id));
    if (!json_object_get(j, "labelIds")) json_object_set_new(j, "labelIds", json_pack("[s,s]", "INBOX", "UNREAD"));
    if (!json_object_get(j, "snippet")) json_object_set_new(j, "snippet", json_string("..."));
    json_object_set_new(j, "historyId", json_string(hid));
    json_object_set_new(j, "internalDate", json_string(date));
    json_object_set_new(j, "_user", json_integer(u));
    json_object_set(g_msgs, id, j);
    json_array_append_new(g_users[u].history, json_pack("{s:s,s:s}", "id", hid, "message", id));
    send_json(req, 200, json_pack("{s:s,s:s}", "id", id, "historyId", hid));
    json_decref(j);
}

static void control(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    params(req, &kv, 0);
    const char *v;
    if ((v = evhttp_find_header(&kv, "login"))) g_login = user_of(v, 1);
    if ((v = evhttp_find_header(&kv, "throttle"))) {
        g_throttle.code = atoi(v);
        const char *c = evhttp_find_header(&kv, "count");
        g_throttle.count = c ? atoi(c) : 1;
    }
    if ((v = evhttp_find_header(&kv, "invalid_grant")) && user_of(v, 0) >= 0)
        g_users[user_of(v, 0)].invalid_grant = 1;
    if ((v = evhttp_find_header(&kv, "expire_history")) && user_of(v, 0) >= 0)
        g_users[user_of(v, 0)].min_hid = g_hid + 1;
    if ((v = evhttp_find_header(&kv, "watch_fail"))) g_watch_fail = atoi(v);
    if ((v = evhttp_find_header(&kv, "watch_ttl_s"))) g_watch_ttl_s = atol(v);
    evhttp_clear_headers(&kv);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void stats(struct evhttp_request *req)
{
    json_t *j = json_object();
#define PUT(n) json_object_set_new(j, #n, json_integer(g_st.n));
    COUNTERS(PUT)
#undef PUT
    json_object_set_new(j, "last_q", json_string(g_last_q));
    json_object_set_new(j, "history_id", json_integer(g_hid));
    json_t *w = json_object();
    for (int i = 0; i < g_nusers; i++)
        json_object_set_new(w, g_users[i].email, json_integer(g_users[i].watch_exp));
    json_object_set_new(j, "watch_expiration", w);
    send_json(req, 200, j);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (strcmp(path, "/control/message") == 0 && cmd == EVHTTP_REQ_POST) add_message(req);
    else if (strcmp(path, "/control/jwt") == 0) jwt(req);
    else if (strcmp(path, "/control") == 0 && cmd == EVHTTP_REQ_POST) control(req);
    else if (strcmp(path, "/stats") == 0) stats(req);
    else if (strncmp(path, "/gmail/v1/users/me/", 19) == 0) gmail(req, path + 19);
    else if (strcmp(path, "/token") == 0 && cmd == EVHTTP_REQ_POST) token_ep(req);
    else if (strcmp(path, "/revoke") == 0 && cmd == EVHTTP_REQ_POST) revoke_ep(req);
    else if (strcmp(path, "/o/oauth2/v2/auth") == 0) dialog(req);
    else if (strcmp(path, "/oauth2/v3/certs") == 0) certs(req);
    else fake_reply(req, 404, "text/plain", "not found\n");
}

/* --push-body EMAIL HISTORY_ID MESSAGE_ID: a Pub/Sub push body. */
static int push_body(const char *email, const char *hid, const char *mid)
{
    char inner[512];
    snprintf(inner, sizeof inner, "{\"emailAddress\":\"%s\",\"historyId\":\"%s\"}", email, hid);
    char *d = b64(inner, strlen(inner), sodium_base64_VARIANT_ORIGINAL);
    printf("{\"message\":{\"data\":\"%s\",\"messageId\":\"%s\",\"message_id\":\"%s\","
           "\"publishTime\":\"2026-11-29T09:15:00.749Z\"},"
           "\"subscription\":\"projects/myproject/subscriptions/gmail-push\"}\n", d, mid, mid);
    free(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return 1;
    (void)fake_query_param;
    (void)fake_reply_later;
    (void)fake_parse_long;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--push-body") == 0 && i + 3 < argc)
            return push_body(argv[i + 1], argv[i + 2], argv[i + 3]);
        if (!v) { fprintf(stderr, "missing value for %s\n", a); return 2; }
        if (strcmp(a, "--port") == 0) port = fake_parse_port(v);
        else if (strcmp(a, "--client-id") == 0) opt.client_id = v;
        else if (strcmp(a, "--client-secret") == 0) opt.client_secret = v;
        else if (strcmp(a, "--expires-in") == 0) opt.expires_in = fake_parse_long("expires-in", v, 1, 86400);
        else if (strcmp(a, "--page-size") == 0) opt.page_size = fake_parse_long("page-size", v, 1, 500);
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
        i++;
    }
    g_key = EVP_RSA_gen(2048);
    if (!g_key) { fprintf(stderr, "no RSA key\n"); return 1; }
    g_msgs = json_object();
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_request);
    json_decref(g_msgs);
    for (int i = 0; i < g_nusers; i++) json_decref(g_users[i].history);
    EVP_PKEY_free(g_key);
    return 0;
}
