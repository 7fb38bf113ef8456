/* fake_zoom -- the Zoom API and OAuth server on 127.0.0.1, for the zoom
 * plugin's tests (tests/integration/zoom.sh). It speaks the wire format of
 * /work/shared/reference/providers.md (Zoom). It never sends webhooks
 * itself: the test signs and sends them (see --sign).
 *
 *   fake_zoom [--port N] [--client-id ID] [--client-secret S] [--expires-in S]
 *             [--accounts A,B]         the accounts the default app is
 *                                      installed in (default: any)
 *   fake_zoom --sign SECRET TIMESTAMP  reads a body on stdin, prints
 *                                      "v0=<hex HMAC-SHA256(SECRET,
 *                                      "v0:TIMESTAMP:" + body)>" and exits
 *   fake_zoom --hmac SECRET TEXT       prints hex HMAC-SHA256(SECRET, TEXT)
 *                                      (the url_validation encryptedToken)
 *
 * prints "port N" once listening.
 *
 *   POST /oauth/token     Authorization: Basic base64(client_id:client_secret),
 *                         form grant_type=account_credentials&account_id=A ->
 *                         {"access_token":"AT-<n>","token_type":"bearer",
 *                         "expires_in":<--expires-in, default 3600>,"scope"};
 *                         wrong credentials (or control invalid_client=1) ->
 *                         401 {"reason":"Invalid client_id or client_secret",
 *                         "error":"invalid_client"}; an account the app is
 *                         not installed in (--accounts, /control/app) ->
 *                         400 {"reason":"Invalid request : account_id",
 *                         "error":"invalid_request"}
 *   POST /oauth/revoke    Basic auth, form token=T -> {"status":"success"};
 *                         the token stops working
 *   GET  /v2/meetings/{id}/registrants, /v2/webinars/{id}/registrants
 *        ?status=approved&page_size=N&next_page_token=T
 *                         Bearer token of the same account (401 code 124
 *                         otherwise); at most TWO registrants per page (to
 *                         exercise paging), next_page_token "" at the end:
 *                         {"page_size","total_records","next_page_token",
 *                         "registrants":[{"id","email","first_name",
 *                         "last_name","custom_questions","status",
 *                         "create_time","join_url"}]}
 *
 * Control (no token needed):
 *   POST /control/app {"client_id","client_secret","account_id"}  another
 *        Server-to-Server app, installed in that one account
 *   POST /control/registrant {"kind":"meetings"|"webinars","object_id":"81",
 *        "account_id":"A","registrant":{"id",...}} (create_time default
 *        now - 120 s; status default approved)
 *   POST /control?throttle=qps|daily&count=N[&retry_after=V]
 *                         the next N API calls answer 429 with
 *                         X-RateLimit-Type QPS / Daily-limit and Retry-After V
 *                         (seconds or an ISO time; default 1)
 *   POST /control?invalid_client=1|0   the token endpoint refuses (or not)
 *   POST /control?expire=1             every token issued so far expires
 *   POST /control?reset=1
 *   GET  /stats            counters: token, token_bad, revoke, registrants,
 *                          throttled, unauthorized */
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "fake_common.h"

#define MAX_ITEMS 4096
#define PAGE_MAX 2

static struct {
    const char *client_id, *client_secret;
    long expires_in;
    const char *accounts; /* comma-separated, NULL: any */
} opt = {"zoom-client", "zoom-client-secret", 3600, NULL};

static json_t *g_apps;    /* [{"client_id","client_secret","account_id"}] */

static json_t *g_regs;    /* [{"kind","object_id","account_id","registrant"}] */
static json_t *g_tokens;  /* token -> {"account","exp","dead"} */
static long g_next_token;
static struct {
    int throttle_daily;
    long throttle_left;
    char retry_after[64];
    int invalid_client;
} g_mode;

#define COUNTERS(X) X(token) X(token_bad) X(revoke) X(registrants) X(throttled) X(unauthorized)
#define DECL(n) long n;
static struct { COUNTERS(DECL) } g_st;

static long now_s(void) { return (long)time(NULL); }

static void iso_time(long t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

static int form(struct evhttp_request *req, struct evkeyvalq *kv)
{
    char *body = fake_body(req, NULL);
    TAILQ_INIT(kv);
    int r = evhttp_parse_query_str(body, kv);
    free(body);
    return r;
}

static int basic_is(const char *a, const char *id, const char *secret)
{
    char want[512], b64[1024];
    snprintf(want, sizeof want, "%s:%s", id, secret);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)want, strlen(want),
                      sodium_base64_VARIANT_ORIGINAL);
    return strcmp(a + 6, b64) == 0;
}

/* 0: no app; 1: an app installed in acct (or acct NULL); 2: an app, not
 * installed in acct. */
static int basic_ok(struct evhttp_request *req, const char *acct)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!a || strncasecmp(a, "Basic ", 6) != 0) return 0;
    if (basic_is(a, opt.client_id, opt.client_secret)) {
        if (!acct || !opt.accounts) return 1;
        size_t n = strlen(acct);
        for (const char *p = opt.accounts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
            if (strncmp(p, acct, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
        return 2;
    }
    size_t i;
    json_t *e;
    json_array_foreach(g_apps, i, e) {
        if (basic_is(a, json_string_value(json_object_get(e, "client_id")),
                     json_string_value(json_object_get(e, "client_secret"))))
            return !acct || strcmp(acct, json_string_value(json_object_get(e, "account_id"))) == 0 ? 1 : 2;
    }
    return 0;
}

static void oauth_token(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    form(req, &kv);
    const char *gt = evhttp_find_header(&kv, "grant_type");
    const char *acct = evhttp_find_header(&kv, "account_id");
    int app = basic_ok(req, acct && *acct ? acct : NULL);
    if (g_mode.invalid_client || app == 0) {
        g_st.token_bad++;
        send_json(req, 401, json_pack("{s:s,s:s}", "reason", "Invalid client_id or client_secret",
                                      "error", "invalid_client"));
    } else if (!gt || strcmp(gt, "account_credentials") != 0) {
        send_json(req, 400, json_pack("{s:s,s:s}", "reason", "Unsupported grant type", "error",
                                      "unsupported_grant_type"));
    } else if (!acct || !*acct || app == 2) {
        send_json(req, 400, json_pack("{s:s,s:s}", "reason", "Invalid request : account_id",
                                      "error", "invalid_request"));
    } else {
        char tok[64];
        snprintf(tok, sizeof tok, "AT-%ld", ++g_next_token);
        json_object_set_new(g_tokens, tok, json_pack("{s:s,s:I,s:b}", "account", acct, "exp",
                                                     (json_int_t)(now_s() + opt.expires_in), "dead", 0));
        g_st.token++;
        send_json(req, 200, json_pack("{s:s,s:s,s:I,s:s,s:s}", "access_token", tok, "token_type",
                                      "bearer", "expires_in", (json_int_t)opt.expires_in, "scope",
                                      "meeting:read:admin webinar:read:admin", "api_url",
                                      "https://api.zoom.us"));
    }
    evhttp_clear_headers(&kv);
}

static void oauth_revoke(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    form(req, &kv);
    const char *t = evhttp_find_header(&kv, "token");
    json_t *e = t ? json_object_get(g_tokens, t) : NULL;
    if (!basic_ok(req, NULL)) {
        send_json(req, 401, json_pack("{s:s,s:s}", "reason", "Invalid client_id or client_secret",
                                      "error", "invalid_client"));
    } else {
        if (e) json_object_set_new(e, "dead", json_true());
        g_st.revoke++;
        send_json(req, 200, json_pack("{s:s}", "status", "success"));
    }
    evhttp_clear_headers(&kv);
}

/* The account of a valid bearer token, or NULL. */
static const char *token_account(struct evhttp_request *req)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) return NULL;
    json_t *e = json_object_get(g_tokens, a + 7);
    if (!e || json_is_true(json_object_get(e, "dead")) ||
        json_integer_value(json_object_get(e, "exp")) <= now_s())
        return NULL;
    return json_string_value(json_object_get(e, "account"));
}

static void registrants(struct evhttp_request *req, const char *kind, const char *object_id)
{
    const char *acct = token_account(req);
    if (!acct) {
        g_st.unauthorized++;
        send_json(req, 401, json_pack("{s:i,s:s}", "code", 124, "message", "Invalid access token."));
        return;
    }
    if (g_mode.throttle_left > 0) {
        g_mode.throttle_left--;
        g_st.throttled++;
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "X-RateLimit-Category", "Medium");
        evhttp_add_header(h, "X-RateLimit-Type", g_mode.throttle_daily ? "Daily-limit" : "QPS");
        evhttp_add_header(h, "X-RateLimit-Limit", g_mode.throttle_daily ? "2000" : "20");
        evhttp_add_header(h, "X-RateLimit-Remaining", "0");
        evhttp_add_header(h, "Retry-After", g_mode.retry_after[0] ? g_mode.retry_after : "1");
        send_json(req, 429, json_pack("{s:i,s:s}", "code", 429, "message",
                                      g_mode.throttle_daily
                                          ? "You have reached the maximum daily rate limit for this API."
                                          : "You have reached the maximum per-second rate limit for this API. Try again later."));
        return;
    }
    g_st.registrants++;
    char *status = fake_query_param(req, "status");
    char *ps = fake_query_param(req, "page_size");
    char *npt = fake_query_param(req, "next_page_token");
    long page_size = ps ? atol(ps) : 30;
    if (page_size < 1) page_size = 30;
    if (page_size > 300) page_size = 300;
    long offset = npt && strncmp(npt, "np-", 3) == 0 ? atol(npt + 3) : 0;
    json_t *all = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(g_regs, i, v) {
        json_t *r = json_object_get(v, "registrant");
        const char *st = json_string_value(json_object_get(r, "status"));
        if (strcmp(json_string_value(json_object_get(v, "kind")), kind) != 0 ||
            strcmp(json_string_value(json_object_get(v, "object_id")), object_id) != 0 ||
            strcmp(json_string_value(json_object_get(v, "account_id")), acct) != 0)
            continue;
        if (st && strcmp(st, status ? status : "approved") != 0) continue;
        json_array_append(all, r);
    }
    long n = page_size < PAGE_MAX ? page_size : PAGE_MAX;
    json_t *page = json_array();
    for (long k = offset; k < offset + n && k < (long)json_array_size(all); k++)
        json_array_append(page, json_array_get(all, (size_t)k));
    char next[32] = "";
    if (offset + n < (long)json_array_size(all)) snprintf(next, sizeof next, "np-%ld", offset + n);
    send_json(req, 200, json_pack("{s:I,s:I,s:s,s:o}", "page_size", (json_int_t)page_size,
                                  "total_records", (json_int_t)json_array_size(all),
                                  "next_page_token", next, "registrants", page));
    json_decref(all);
    free(status);
    free(ps);
    free(npt);
}

static void control_registrant(struct evhttp_request *req)
{
    char *body = fake_body(req, NULL);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    json_t *r = json_object_get(j, "registrant");
    if (!kind || (strcmp(kind, "meetings") != 0 && strcmp(kind, "webinars") != 0) ||
        !json_string_value(json_object_get(j, "object_id")) ||
        !json_string_value(json_object_get(j, "account_id")) || !json_is_object(r) ||
        !json_string_value(json_object_get(r, "id")) || json_array_size(g_regs) >= MAX_ITEMS) {
        json_decref(j);
        fake_reply(req, 400, "text/plain", "need kind, object_id, account_id, registrant.id\n");
        return;
    }
    if (!json_object_get(r, "create_time")) {
        char t[32];
        iso_time(now_s() - 120, t);
        json_object_set_new(r, "create_time", json_string(t));
    }
    if (!json_object_get(r, "status")) json_object_set_new(r, "status", json_string("approved"));
    if (!json_object_get(r, "join_url"))
        json_object_set_new(r, "join_url", json_string("https://zoom.us/w/123?tk=join-credential"));
    json_array_append(g_regs, j);
    json_decref(j);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void control_app(struct evhttp_request *req)
{
    char *body = fake_body(req, NULL);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    if (!json_string_value(json_object_get(j, "client_id")) ||
        !json_string_value(json_object_get(j, "client_secret")) ||
        !json_string_value(json_object_get(j, "account_id")) || json_array_size(g_apps) >= 64) {
        json_decref(j);
        fake_reply(req, 400, "text/plain", "need client_id, client_secret, account_id\n");
        return;
    }
    json_array_append_new(g_apps, j);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void control(struct evhttp_request *req)
{
    char *v;
    if ((v = fake_query_param(req, "throttle"))) {
        g_mode.throttle_daily = strcasecmp(v, "daily") == 0;
        free(v);
        char *c = fake_query_param(req, "count");
        char *ra = fake_query_param(req, "retry_after");
        g_mode.throttle_left = c ? atol(c) : 1;
        snprintf(g_mode.retry_after, sizeof g_mode.retry_after, "%s", ra ? ra : "1");
        free(c);
        free(ra);
    }
    if ((v = fake_query_param(req, "invalid_client"))) {
        g_mode.invalid_client = atoi(v) != 0;
        free(v);
    }
    if ((v = fake_query_param(req, "expire"))) {
        const char *k;
        json_t *e;
        json_object_foreach(g_tokens, k, e) json_object_set_new(e, "exp", json_integer(0));
        free(v);
    }
    if ((v = fake_query_param(req, "reset"))) {
        memset(&g_st, 0, sizeof g_st);
        memset(&g_mode, 0, sizeof g_mode);
        free(v);
    }
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void stats(struct evhttp_request *req)
{
    json_t *j = json_object();
#define PUT(n) json_object_set_new(j, #n, json_integer(g_st.n));
    COUNTERS(PUT)
#undef PUT
    send_json(req, 200, j);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char kind[16], obj[32], tail[32];
    if (strcmp(path, "/control/registrant") == 0 && cmd == EVHTTP_REQ_POST) control_registrant(req);
    else if (strcmp(path, "/control/app") == 0 && cmd == EVHTTP_REQ_POST) control_app(req);
    else if (strcmp(path, "/control") == 0 && cmd == EVHTTP_REQ_POST) control(req);
    else if (strcmp(path, "/stats") == 0) stats(req);
    else if (strcmp(path, "/oauth/token") == 0 && cmd == EVHTTP_REQ_POST) oauth_token(req);
    else if (strcmp(path, "/oauth/revoke") == 0 && cmd == EVHTTP_REQ_POST) oauth_revoke(req);
    else if (cmd == EVHTTP_REQ_GET && strlen(path) < 100 &&
             sscanf(path, "/v2/%15[a-z]/%31[0-9]/%31s", kind, obj, tail) == 3 &&
             strcmp(tail, "registrants") == 0 &&
             (strcmp(kind, "meetings") == 0 || strcmp(kind, "webinars") == 0))
        registrants(req, kind, obj);
    else
        send_json(req, 404, json_pack("{s:i,s:s}", "code", 3001, "message", "Not found."));
}

static int sign_mode(const char *secret, const char *ts)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES], buf[65536];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"v0:", 3);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)":", 1);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) crypto_auth_hmacsha256_update(&st, buf, n);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    printf("v0=%s\n", hex);
    return 0;
}

static int hmac_mode(const char *secret, const char *text)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)text, strlen(text));
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    printf("%s\n", hex);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return 1;
    (void)fake_reply_later;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--sign") == 0 && v && i + 2 < argc) return sign_mode(v, argv[i + 2]);
        if (strcmp(a, "--hmac") == 0 && v && i + 2 < argc) return hmac_mode(v, argv[i + 2]);
        if (!v) { fprintf(stderr, "missing value for %s\n", a); return 2; }
        if (strcmp(a, "--port") == 0) port = fake_parse_port(v);
        else if (strcmp(a, "--client-id") == 0) opt.client_id = v;
        else if (strcmp(a, "--client-secret") == 0) opt.client_secret = v;
        else if (strcmp(a, "--accounts") == 0) opt.accounts = v;
        else if (strcmp(a, "--expires-in") == 0) opt.expires_in = fake_parse_long("expires-in", v, 1, 86400);
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
        i++;
    }
    g_regs = json_array();
    g_tokens = json_object();
    g_apps = json_array();
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_request);
    json_decref(g_regs);
    json_decref(g_tokens);
    json_decref(g_apps);
    return 0;
}
