/* fake_graph -- the Meta Graph API (and the Facebook Login dialog) on
 * 127.0.0.1, for the meta plugin's tests (tests/integration/meta.sh). It
 * speaks the wire format of /work/shared/reference/providers.md (Meta):
 * JSON answers, {"error":{"message","type","code","error_subcode"}} with
 * HTTP 400 for errors, usage headers on every Graph answer. It never sends
 * webhooks itself: the test signs and sends them (see --sign).
 *
 *   fake_graph [--port N] [--app-id ID] [--app-secret S] [--user-id ID]
 *              [--usage PCT]
 *   fake_graph --sign SECRET      reads a body on stdin, prints
 *                                 "sha256=<hex HMAC-SHA256>" (the
 *                                 X-Hub-Signature-256 value) and exits
 *
 * prints "port N" once listening (N = 0: a free port). Graph paths may
 * carry a version prefix (/v25.0/...). Every Graph call needs
 * "Authorization: Bearer <token>" (code 104 otherwise); with --app-secret
 * it must carry appsecret_proof = hex HMAC-SHA256(app secret, token)
 * (code 100 otherwise), as Meta does when an app requires it.
 *
 *   GET  /{lead_id}?fields=..     a lead (created_time as "...+0000"); only
 *                                 the fields asked for; code 100/33 if none
 *   GET  /{form_id}?fields=..     a form: id, name, status, questions,
 *                                 legal_content (as stored)
 *   GET  /{page_id}?fields=..     the page (id, name,
 *                                 instagram_business_account{id}); only
 *                                 with that page's token (code 10 else)
 *   GET  /{comment_id}?fields=..  a comment (Facebook: message, from,
 *                                 created_time, parent; Instagram: text,
 *                                 username, from, timestamp, media); only
 *                                 with the token of its page, or of the
 *                                 page linked to its IG account (100/33)
 *   GET  /{form_id}/leads?filtering=[{"field":"time_created",
 *        "operator":"GREATER_THAN","value":T}, and LESS_THAN]&after=C
 *                                 the form's leads newest first, TWO per
 *                                 page (to exercise paging): paging.cursors
 *                                 and paging.next while more remain
 *   GET  /{page_id}/leadgen_forms the page's forms (id, name, status)
 *   GET|POST|DELETE /{page_id}/subscribed_apps
 *                                 {"data":[{"id":<app>,"name":..,
 *                                 "subscribed_fields":[..]}]} / subscribe
 *                                 (subscribed_fields=...) / unsubscribe
 *   GET  /act_{id}/insights?time_range={"since":D,"until":D}&level=campaign
 *                                 two campaign rows per day (7001, 7002),
 *                                 values as decimal strings
 *   GET|POST /oauth/access_token  grant_type=fb_exchange_token (client_id,
 *                                 client_secret, fb_exchange_token) ->
 *                                 a long-lived "LL-n" token (expires_in 60 d);
 *                                 a code (grant_type=authorization_code or
 *                                 Meta's plain code=...) -> "SU-n" (1 h)
 *   GET  /dialog/oauth            the login dialog: consents at once, 302 to
 *                                 redirect_uri?code=..&state=..
 *   GET  /me, /me/accounts        the user (--user-id) and every known page
 *                                 with its page token "PT-<page id>"; with
 *                                 a page token, /me is that page"
 *   DELETE /{user_id}/permissions {"success":true}
 *   POST /{version}/ (or /)       Graph's batch API: form fields
 *                                 batch=[{"method":"GET","relative_url":
 *                                 "<path>?<query>"},..] (1 to 50),
 *                                 include_headers, access_token and its
 *                                 appsecret_proof (or a Bearer header).
 *                                 Each operation is answered as the single
 *                                 GET would be, with its own access_token /
 *                                 appsecret_proof when its relative_url
 *                                 has them: [{"code":..,"body":"<JSON as
 *                                 a string>"[,"headers":[..]]},..]; the
 *                                 throttle, invalidate and fault modes
 *                                 apply per operation (null when a fault
 *                                 never answers). Faults see the request
 *                                 itself as path "/{version}/batch".
 *                                 Unless include_headers=false, each
 *                                 element's "headers" are those of its
 *                                 GET's answer (Content-Type and the usage
 *                                 headers below), and the request's own
 *                                 carry X-App-Usage only; with it, the
 *                                 request's carry the operations' highest
 *                                 usage for the first one's object.
 *
 * Usage headers on every Graph answer: X-App-Usage, X-Business-Use-Case-
 * Usage (for the page or form's page the call is about), X-Ad-Account-Usage
 * (insights), all at the current usage percentage.
 *
 * Control (no token needed):
 *   POST /control/page  {"id","name"?,"subscribed"?:true}  a page (subscribed
 *                       to --app-id unless "subscribed":false)
 *   POST /control/form  {"id","page_id","name","status"?,"questions"?,..}
 *   POST /control/page also takes "instagram_business_account":"<ig id>"
 *                       and "access_token" (the page's token, instead
 *                       of "PT-<id>"; /me/accounts hands it out)
 *   POST /control/comment {"id","page_id" | "ig_user_id","message" | "text",
 *                       "from"?,"created_time"? (Unix s),..} served as given
 *   POST /control/lead  {"id","form_id","page_id","created_time"? (Unix s,
 *                       default now-120),"field_data",..} (any other
 *                       member is served as given)
 *   POST /control?throttle=CODE&count=N[&usage=P][&regain=MIN][&object=ID]
 *                       the next N Graph calls answer error CODE (4, 17,
 *                       32, 613, 80000-80008) with usage headers at P
 *                       (default 100) and regain time MIN (default 0);
 *                       with object, only calls about ID (a page, or a
 *                       lead or form of that page) are throttled
 *   POST /control?usage=P            usage of normal answers (default 0)
 *   POST /control?invalidate=1|0     every token invalid (code 190,
 *                                    subcode 460) until invalidate=0
 *   POST /control?subscribe=PAGE | unsubscribe=PAGE
 *   POST /control?reset=1            counters to zero, throttle and
 *                                    invalidation off
 *   POST /__fault?mode=..  provider faults before any Graph or OAuth answer
 *                    (timeout, 5xx, 429 with X-App-Usage at 100 %, malformed,
 *                    huge, trickle; count=N, path=SUB): see fake_fault.h
 *   GET  /stats   {"graph":n,"throttled":n,"invalid":n,"no_token":n,
 *                  "bad_proof":n,"lead_get":n,"form_get":n,"leads_list":n,
 *                  "forms_list":n,"sub_get":n,"sub_post":n,"sub_delete":n,
 *                  "insights":n,"exchange":n,"code":n,"dialog":n,"me":n,
 *                  "accounts":n,"perm_delete":n,"me_page":n,"page_get":n,
 *                  "comment_get":n,"wrong_token":n,"batch":n (batch requests),
 *                  "batch_ops":n (their operations, each also counted
 *                  as a Graph call), "batch_max":n (the most operations
 *                  in one), "batch_tokens_max":n (the most distinct
 *                  operation tokens in one), "last_insights_range":..,
 *                  "last_token":..}
 */
#include <stdint.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fake_common.h"
#include "fake_fault.h"

#define MAX_ITEMS 4096
#define PAGE_SIZE 2

static struct {
    const char *app_id, *app_secret, *user_id;
    long usage;
} opt = {"1111", NULL, "900001", 0};

static json_t *g_leads, *g_forms, *g_pages, *g_comments; /* arrays of objects */

static struct {
    long throttle_code, throttle_left, throttle_usage, throttle_regain;
    char throttle_object[64]; /* "": every call; else only calls about it */
    int invalid;
} g_mode;

#define COUNTERS(X)                                                          \
    X(graph) X(throttled) X(invalid) X(no_token) X(bad_proof) X(lead_get)    \
    X(form_get) X(leads_list) X(forms_list) X(sub_get) X(sub_post)           \
    X(sub_delete) X(insights) X(exchange) X(code) X(dialog) X(me)            \
    X(accounts) X(perm_delete) X(me_page) X(page_get) X(comment_get)         \
    X(wrong_token) X(batch) X(batch_ops) X(batch_max) X(batch_tokens_max)
#define DECL(n) long n;
static struct { COUNTERS(DECL) } g_st;
static char g_last_range[128], g_last_token[128];

/* ---- helpers ----------------------------------------------------------- */

static long now_s(void) { return (long)time(NULL); }

static void iso_time(long t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S+0000", &tm);
}

static json_t *find(json_t *arr, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *x = json_string_value(json_object_get(v, "id"));
        if (x && strcmp(x, id) == 0) return v;
    }
    return NULL;
}

/* The usage headers of an answer, each given to add(arg, name, value):
 * into a reply's headers, or into a batch operation's "headers". */
typedef void (*header_fn)(void *arg, const char *name, const char *value);

static void usage_headers(header_fn add, void *arg, long pct, long regain_min,
                          const char *object, int ad_account)
{
    char b[512];
    snprintf(b, sizeof b, "{\"call_count\":%ld,\"total_cputime\":%ld,\"total_time\":%ld}", pct,
             pct / 2, pct / 2);
    add(arg, "X-App-Usage", b);
    if (object && *object) {
        snprintf(b, sizeof b,
                 "{\"%s\":[{\"type\":\"%s\",\"call_count\":%ld,\"total_cputime\":%ld,"
                 "\"total_time\":%ld,\"estimated_time_to_regain_access\":%ld}]}",
                 object, ad_account ? "ads_insights" : "pages", pct, pct / 2, pct / 2, regain_min);
        add(arg, "X-Business-Use-Case-Usage", b);
    }
    if (ad_account) {
        snprintf(b, sizeof b, "{\"acc_id_util_pct\":%ld,\"reset_time_duration\":%ld}", pct,
                 regain_min * 60);
        add(arg, "X-Ad-Account-Usage", b);
    }
}

static void reply_header(void *arg, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(arg), name, value);
}

static void json_header(void *arg, const char *name, const char *value)
{
    json_array_append_new(arg, json_pack("{s:s,s:s}", "name", name, "value", value));
}

static void add_usage_headers(struct evhttp_request *req, long pct, long regain_min,
                              const char *object, int ad_account)
{
    usage_headers(reply_header, req, pct, regain_min, object, ad_account);
}

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

/* Where a Graph answer goes: to the request at once, or (req NULL) into
 * a batch operation's element: its status and body (JSON, or raw text
 * for a fault), and the usage its headers would have reported, which the
 * batch's own headers then carry. */
typedef struct gout {
    struct evhttp_request *req;
    int code;
    json_t *body;
    char *raw;                 /* malloc'd; instead of body */
    int null_op;               /* the operation never finished */
    long pct, regain;          /* -1: no usage reported */
    int ad;
    char object[64];
} gout;

static void g_usage(gout *o, long pct, long regain_min, const char *object, int ad)
{
    if (o->req) {
        add_usage_headers(o->req, pct, regain_min, object, ad);
        return;
    }
    o->pct = pct;
    o->regain = regain_min;
    o->ad = ad;
    snprintf(o->object, sizeof o->object, "%.63s", object ? object : "");
}

static void g_send(gout *o, int code, json_t *j)
{
    if (o->req) {
        send_json(o->req, code, j);
        return;
    }
    o->code = code;
    o->body = j;
}

static json_t *graph_error(const char *msg, long code, long subcode)
{
    json_t *e = json_pack("{s:s,s:s,s:i,s:s}", "message", msg, "type", "OAuthException", "code",
                          (json_int_t)code, "fbtrace_id", "AfakeTrace");
    if (subcode) json_object_set_new(e, "error_subcode", json_integer(subcode));
    return json_pack("{s:o}", "error", e);
}

/* Query parameters of the request (decoded), or of a form body. */
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

/* The bearer token of the request, or NULL. */
static const char *bearer(struct evhttp_request *req)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0 || !a[7]) return NULL;
    return a + 7;
}

static int proof_ok(const char *token, const char *proof)
{
    if (!opt.app_secret) return 1;
    if (!proof) return 0;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)opt.app_secret, strlen(opt.app_secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, strlen(token));
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    return strcmp(hex, proof) == 0;
}

/* Only the members named in fields= (all when absent). A field with
 * sub-fields, "media{id,media_product_type}", gives the whole member. */
static json_t *pick(json_t *obj, const char *fields)
{
    if (!fields) return json_deep_copy(obj);
    json_t *out = json_object();
    const char *p = fields;
    while (*p) {
        const char *q = p;
        while (*q && *q != ',' && *q != '{') q++;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(q - p), p);
        if (*q == '{') { /* skip the sub-field list */
            int depth = 0;
            do {
                if (*q == '{') depth++;
                else if (*q == '}') depth--;
                q++;
            } while (*q && depth > 0);
        }
        json_t *v = json_object_get(obj, name);
        if (v && name[0]) json_object_set(out, name, v);
        p = *q == ',' ? q + 1 : q;
    }
    return out;
}

/* The page whose page token is tok: its "access_token" when the test
 * gave one, else "PT-<page id>". NULL if none. */
static json_t *page_of_token(const char *tok)
{
    size_t i;
    json_t *p;
    json_array_foreach(g_pages, i, p) {
        const char *t = json_string_value(json_object_get(p, "access_token"));
        if (t && strcmp(t, tok) == 0) return p;
    }
    p = strncmp(tok, "PT-", 3) == 0 ? find(g_pages, tok + 3) : NULL;
    return p && !json_object_get(p, "access_token") ? p : NULL;
}

/* The page linked to an Instagram account, or NULL. */
static json_t *page_of_ig(const char *ig)
{
    size_t i;
    json_t *p;
    json_array_foreach(g_pages, i, p) {
        const char *x = json_string_value(json_object_get(p, "instagram_business_account"));
        if (x && strcmp(x, ig) == 0) return p;
    }
    return NULL;
}

static json_t *render_lead(json_t *l, const char *fields)
{
    json_t *c = json_deep_copy(l);
    char ts[32];
    iso_time((long)json_integer_value(json_object_get(l, "created_time")), ts);
    json_object_set_new(c, "created_time", json_string(ts));
    json_object_del(c, "page_id"); /* not a lead field at Meta */
    json_t *out = pick(c, fields);
    json_decref(c);
    return out;
}

static int sub_has(json_t *page)
{
    return json_is_true(json_object_get(page, "subscribed"));
}

/* ---- Graph endpoints --------------------------------------------------- */

static void leads_list(gout *o, struct evkeyvalq *kv, json_t *form, long pct)
{
    const char *form_id = json_string_value(json_object_get(form, "id"));
    long gt = -1, lt = -1;
    const char *filt = evhttp_find_header(kv, "filtering");
    if (filt) {
        json_t *f = json_loads(filt, 0, NULL);
        size_t i;
        json_t *c;
        json_array_foreach(f, i, c) {
            const char *field = json_string_value(json_object_get(c, "field"));
            const char *op = json_string_value(json_object_get(c, "operator"));
            json_t *v = json_object_get(c, "value");
            long n = json_is_integer(v) ? (long)json_integer_value(v)
                                        : json_is_string(v) ? atol(json_string_value(v)) : -1;
            if (field && op && strcmp(field, "time_created") == 0 && strcmp(op, "GREATER_THAN") == 0)
                gt = n;
            if (field && op && strcmp(field, "time_created") == 0 && strcmp(op, "LESS_THAN") == 0)
                lt = n;
        }
        json_decref(f);
        if (gt < 0) {
            g_send(o, 400, graph_error("Invalid filtering", 100, 0));
            return;
        }
    }
    /* The form's leads, newest first. */
    json_t *sel = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(g_leads, i, l) {
        const char *f = json_string_value(json_object_get(l, "form_id"));
        long t = (long)json_integer_value(json_object_get(l, "created_time"));
        if (f && strcmp(f, form_id) == 0 && t > gt && (lt < 0 || t < lt)) json_array_append(sel, l);
    }
    size_t n = json_array_size(sel);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(sel, b - 1), *y = json_array_get(sel, b);
            if (json_integer_value(json_object_get(x, "created_time")) >=
                json_integer_value(json_object_get(y, "created_time")))
                break;
            json_incref(x);
            json_array_set(sel, b - 1, y);
            json_array_set_new(sel, b, x);
        }
    const char *after = evhttp_find_header(kv, "after");
    size_t off = after && after[0] == 'o' ? (size_t)atol(after + 1) : 0;
    json_t *data = json_array();
    for (size_t k = off; k < n && k < off + PAGE_SIZE; k++)
        json_array_append_new(data, render_lead(json_array_get(sel, k),
                                                evhttp_find_header(kv, "fields")));
    json_t *body = json_pack("{s:o}", "data", data);
    if (off + PAGE_SIZE < n) {
        char cur[32], next[256];
        snprintf(cur, sizeof cur, "o%zu", off + PAGE_SIZE);
        /* Meta's next URL carries the token; a client rebuilds it from
         * the cursor rather than following it. */
        snprintf(next, sizeof next, "https://graph.facebook.com/v25.0/%s/leads?after=%s",
                 form_id, cur);
        json_object_set_new(body, "paging",
                            json_pack("{s:{s:s,s:s},s:s}", "cursors", "before", "o0", "after",
                                      cur, "next", next));
    } else if (n > 0) {
        json_object_set_new(body, "paging", json_pack("{s:{s:s,s:s}}", "cursors", "before",
                                                      "o0", "after", "end"));
    }
    json_decref(sel);
    g_usage(o, pct, 0, json_string_value(json_object_get(form, "page_id")), 0);
    g_send(o, 200, body);
}

static void insights(gout *o, struct evkeyvalq *kv, const char *acct, long pct)
{
    g_st.insights++;
    const char *tr = evhttp_find_header(kv, "time_range");
    json_t *r = tr ? json_loads(tr, 0, NULL) : NULL;
    const char *since = json_string_value(json_object_get(r, "since"));
    const char *until = json_string_value(json_object_get(r, "until"));
    if (!since || !until || strcmp(since, until) != 0) {
        json_decref(r);
        g_send(o, 400, graph_error("time_range since/until (one day) required", 100, 0));
        return;
    }
    snprintf(g_last_range, sizeof g_last_range, "%s", tr);
    json_t *data = json_array();
    static const struct { const char *id, *name; long base; } camp[] = {
        {"7001", "Spring", 1000}, {"7002", "Summer", 2000}};
    for (size_t i = 0; i < 2; i++) {
        char imp[32], clk[32], sp[32];
        snprintf(imp, sizeof imp, "%ld", camp[i].base * 10 + 7);
        snprintf(clk, sizeof clk, "%ld", camp[i].base / 10);
        snprintf(sp, sizeof sp, "%ld.5", camp[i].base / 4);
        json_array_append_new(data, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                                              "account_id", acct, "campaign_id", camp[i].id,
                                              "campaign_name", camp[i].name, "impressions", imp,
                                              "clicks", clk, "spend", sp, "ctr", "1.25",
                                              "date_start", since, "date_stop", until));
    }
    json_decref(r);
    g_usage(o, pct, 0, acct, 1);
    g_send(o, 200, json_pack("{s:o}", "data", data));
}

static const char *g_token_prefix = ""; /* --token-prefix: tests search for it */

static void oauth_token(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    params(req, &kv, evhttp_request_get_command(req) == EVHTTP_REQ_POST);
    const char *grant = evhttp_find_header(&kv, "grant_type");
    const char *cid = evhttp_find_header(&kv, "client_id");
    const char *sec = evhttp_find_header(&kv, "client_secret");
    static long seq;
    char tok[64];
    if (!cid || strcmp(cid, opt.app_id) != 0 ||
        (opt.app_secret && (!sec || strcmp(sec, opt.app_secret) != 0))) {
        send_json(req, 400, graph_error("Error validating client secret.", 1, 0));
    } else if (grant && strcmp(grant, "fb_exchange_token") == 0) {
        g_st.exchange++;
        const char *t = evhttp_find_header(&kv, "fb_exchange_token");
        if (!t || !*t || g_mode.invalid) {
            send_json(req, 400, graph_error("Invalid OAuth access token.", 190, 0));
        } else {
            snprintf(tok, sizeof tok, "%sLL-%ld", g_token_prefix, ++seq);
            send_json(req, 200, json_pack("{s:s,s:s,s:i}", "access_token", tok, "token_type",
                                          "bearer", "expires_in", 5183944));
        }
    } else if (evhttp_find_header(&kv, "code")) {
        g_st.code++;
        snprintf(tok, sizeof tok, "%sSU-%ld", g_token_prefix, ++seq);
        send_json(req, 200, json_pack("{s:s,s:s,s:i}", "access_token", tok, "token_type",
                                      "bearer", "expires_in", 3600));
    } else {
        send_json(req, 400, graph_error("Missing grant", 100, 0));
    }
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
    if (!ru || !state || !cid || strcmp(cid, opt.app_id) != 0) {
        fake_reply(req, 400, "text/plain", "bad login request\n");
    } else {
        static long n;
        char *es = evhttp_encode_uri(state);
        size_t cap = strlen(ru) + strlen(es) + 64;
        char *loc = malloc(cap);
        snprintf(loc, cap, "%s%scode=fbcode-%ld&state=%s", ru, strchr(ru, '?') ? "&" : "?", ++n, es);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
        evhttp_send_reply(req, 302, "Found", NULL);
        free(loc);
        free(es);
    }
    evhttp_clear_headers(&kv);
}

/* One Graph call: cmd on path (without the version) with the decoded
 * query kv, the token tok (NULL: none) and the appsecret_proof given for
 * it; the answer goes to o. */
static void graph_do(gout *o, enum evhttp_cmd_type cmd, const char *path, struct evkeyvalq *kv,
                     const char *tok, const char *proof)
{
    g_st.graph++;
    long pct = opt.usage;
    char seg1[128] = "", seg2[64] = "";
    const char *slash = strchr(path, '/');
    snprintf(seg1, sizeof seg1, "%.*s", (int)(slash ? (size_t)(slash - path) : strlen(path)), path);
    if (slash) snprintf(seg2, sizeof seg2, "%s", slash + 1);

    if (!tok) {
        g_st.no_token++;
        g_send(o, 400, graph_error("An access token is required to request this resource.", 104, 0));
        return;
    }
    snprintf(g_last_token, sizeof g_last_token, "%s", tok);
    if (g_mode.invalid) {
        g_st.invalid++;
        g_send(o, 400, graph_error("Error validating access token: The session has been "
                                        "invalidated because the user changed their password.",
                                        190, 460));
        return;
    }
    if (!proof_ok(tok, proof)) {
        g_st.bad_proof++;
        g_send(o, 400, graph_error("Invalid appsecret_proof provided in the API argument", 100, 0));
        return;
    }
    /* The object the call is about, for the usage headers. */
    const char *object = seg1;
    int ad = strncmp(seg1, "act_", 4) == 0;
    json_t *form = find(g_forms, seg1), *lead = find(g_leads, seg1);
    json_t *comment = find(g_comments, seg1), *page = find(g_pages, seg1);
    if (form) object = json_string_value(json_object_get(form, "page_id"));
    if (lead) object = json_string_value(json_object_get(lead, "page_id"));
    if (ad) object = seg1 + 4;
    if (g_mode.throttle_left > 0 &&
        (!g_mode.throttle_object[0] || (object && strcmp(object, g_mode.throttle_object) == 0))) {
        g_mode.throttle_left--;
        g_st.throttled++;
        g_usage(o, g_mode.throttle_usage, g_mode.throttle_regain, object, ad);
        g_send(o, 400, graph_error("(#613) Calls to this api have exceeded the rate limit.",
                                        g_mode.throttle_code, 0));
        return;
    }
    const char *fields = evhttp_find_header(kv, "fields");
    if (strcmp(seg1, "me") == 0 && !*seg2 && cmd == EVHTTP_REQ_GET && page_of_token(tok)) {
        /* A page token's /me is its page. */
        g_st.me_page++;
        json_t *p = page_of_token(tok);
        g_usage(o, pct, 0, NULL, 0);
        g_send(o, 200, json_pack("{s:O,s:s}", "id", json_object_get(p, "id"), "name",
                                      "A page"));
    } else if (!*seg2 && page && cmd == EVHTTP_REQ_GET) {
        /* A page's own fields: only with that page's token. */
        g_st.page_get++;
        g_usage(o, pct, 0, seg1, 0);
        if (page_of_token(tok) != page) {
            g_st.wrong_token++;
            g_send(o, 400, graph_error("(#10) This endpoint requires the page's access token",
                                            10, 0));
        } else {
            json_t *c = json_deep_copy(page);
            const char *ig = json_string_value(json_object_get(c, "instagram_business_account"));
            if (ig) json_object_set_new(c, "instagram_business_account", json_pack("{s:s}", "id", ig));
            json_object_del(c, "subscribed");
            json_object_del(c, "access_token");
            g_send(o, 200, pick(c, fields));
            json_decref(c);
        }
    } else if (!*seg2 && comment && cmd == EVHTTP_REQ_GET) {
        /* A comment: with the token of its page (Instagram: of the page
         * linked to its account). */
        g_st.comment_get++;
        const char *pid = json_string_value(json_object_get(comment, "page_id"));
        const char *ig = json_string_value(json_object_get(comment, "ig_user_id"));
        json_t *owner = pid ? find(g_pages, pid) : ig ? page_of_ig(ig) : NULL;
        g_usage(o, pct, 0, pid, 0);
        if (!owner || page_of_token(tok) != owner) {
            g_st.wrong_token++;
            g_send(o, 400, graph_error("Unsupported get request. Object does not exist, "
                                            "cannot be loaded due to missing permissions, or "
                                            "does not support this operation.", 100, 33));
        } else {
            json_t *c = json_deep_copy(comment);
            json_object_del(c, "page_id");
            json_object_del(c, "ig_user_id");
            long ct = (long)json_integer_value(json_object_get(c, "created_time"));
            if (ct > 0) {
                char ts[32];
                iso_time(ct, ts);
                json_object_set_new(c, ig ? "timestamp" : "created_time", json_string(ts));
                if (ig) json_object_del(c, "created_time");
            }
            g_send(o, 200, pick(c, fields));
            json_decref(c);
        }
    } else if (strcmp(seg1, "me") == 0 && !*seg2 && cmd == EVHTTP_REQ_GET) {
        g_st.me++;
        g_usage(o, pct, 0, NULL, 0);
        g_send(o, 200, json_pack("{s:s,s:s}", "id", opt.user_id, "name", "Test User"));
    } else if (strcmp(seg1, "me") == 0 && strcmp(seg2, "accounts") == 0) {
        g_st.accounts++;
        json_t *data = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(g_pages, i, p) {
            const char *id = json_string_value(json_object_get(p, "id"));
            char pt[256];
            const char *own = json_string_value(json_object_get(p, "access_token"));
            snprintf(pt, sizeof pt, "%s%s", own ? "" : "PT-", own ? own : id);
            json_array_append_new(data, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name",
                                                  "A page", "access_token", pt, "category",
                                                  "Business"));
        }
        g_usage(o, pct, 0, NULL, 0);
        g_send(o, 200, json_pack("{s:o}", "data", data));
    } else if (strcmp(seg2, "permissions") == 0 && cmd == EVHTTP_REQ_DELETE) {
        g_st.perm_delete++;
        g_usage(o, pct, 0, NULL, 0);
        g_send(o, 200, json_pack("{s:b}", "success", 1));
    } else if (ad && strcmp(seg2, "insights") == 0) {
        insights(o, kv, seg1 + 4, pct);
    } else if (form && strcmp(seg2, "leads") == 0) {
        g_st.leads_list++;
        leads_list(o, kv, form, pct);
    } else if (strcmp(seg2, "leadgen_forms") == 0 && find(g_pages, seg1)) {
        g_st.forms_list++;
        json_t *data = json_array();
        size_t i;
        json_t *f;
        json_array_foreach(g_forms, i, f) {
            const char *pid = json_string_value(json_object_get(f, "page_id"));
            if (pid && strcmp(pid, seg1) == 0) json_array_append_new(data, pick(f, "id,name,status"));
        }
        g_usage(o, pct, 0, seg1, 0);
        g_send(o, 200, json_pack("{s:o}", "data", data));
    } else if (strcmp(seg2, "subscribed_apps") == 0 && find(g_pages, seg1)) {
        json_t *p = find(g_pages, seg1);
        g_usage(o, pct, 0, seg1, 0);
        if (cmd == EVHTTP_REQ_GET) {
            g_st.sub_get++;
            json_t *data = json_array();
            if (sub_has(p))
                json_array_append_new(data, json_pack("{s:s,s:s,s:[s,s]}", "id", opt.app_id,
                                                      "name", "Connector 360",
                                                      "subscribed_fields", "leadgen", "feed"));
            g_send(o, 200, json_pack("{s:o}", "data", data));
        } else {
            if (cmd == EVHTTP_REQ_POST) g_st.sub_post++;
            else g_st.sub_delete++;
            json_object_set_new(p, "subscribed", json_boolean(cmd == EVHTTP_REQ_POST));
            g_send(o, 200, json_pack("{s:b}", "success", 1));
        }
    } else if (!*seg2 && lead && cmd == EVHTTP_REQ_GET) {
        g_st.lead_get++;
        g_usage(o, pct, 0, object, 0);
        g_send(o, 200, render_lead(lead, fields));
    } else if (!*seg2 && form && cmd == EVHTTP_REQ_GET) {
        g_st.form_get++;
        g_usage(o, pct, 0, object, 0);
        json_t *c = json_deep_copy(form);
        json_object_del(c, "page_id");
        g_send(o, 200, pick(c, fields));
        json_decref(c);
    } else {
        g_usage(o, pct, 0, NULL, 0);
        g_send(o, 400, graph_error("Unsupported get request. Object does not exist, cannot "
                                        "be loaded due to missing permissions, or does not "
                                        "support this operation.", 100, 33));
    }
}

static void graph(struct evhttp_request *req, const char *path)
{
    struct evkeyvalq kv;
    params(req, &kv, 0);
    gout o = {.req = req};
    graph_do(&o, evhttp_request_get_command(req), path, &kv, bearer(req),
             evhttp_find_header(&kv, "appsecret_proof"));
    evhttp_clear_headers(&kv);
}

/* A fault armed for one batch operation's path (see batch): the element
 * it would have made of the single request's answer. 1 if one was. */
static int op_fault(gout *o, const char *fpath)
{
    fake_fault_slot *f = NULL;
    for (int i = 0; i < FAKE_FAULT_SLOTS && !f; i++) {
        fake_fault_slot *c = &fake_fault.slot[i];
        if (c->mode != FF_OFF && (!c->path[0] || strstr(fpath, c->path))) f = c;
    }
    if (!f) return 0;
    enum fake_fault_mode m = f->mode;
    fake_fault.hits++;
    if (f->left > 0 && --f->left == 0) f->mode = FF_OFF;
    switch (m) {
    case FF_TIMEOUT:
    case FF_TRICKLE:
        o->null_op = 1; /* Meta gives up on the operation: null */
        break;
    case FF_5XX:
        o->code = f->status;
        o->raw = strdup(f->status == 500
                            ? "{\"error\":{\"message\":\"An unexpected error has occurred. Please "
                              "retry your request later.\",\"type\":\"OAuthException\","
                              "\"is_transient\":true,\"code\":2,\"fbtrace_id\":\"AfaultTrace\"}}"
                            : "<html><body><h1>Service Unavailable</h1></body></html>\n");
        break;
    case FF_429:
        o->code = 429;
        o->pct = 100;
        o->raw = strdup("{\"error\":{\"message\":\"Too many requests\",\"code\":4}}");
        break;
    case FF_MALFORMED:
        o->code = 200;
        o->raw = strdup("{\"id\":\"malformed\",\"field_data\":[{\"name\":\"email\",\"values\":[\"x@");
        break;
    case FF_HUGE: {
        static const char head[] = "{\"id\":\"huge\",\"pad\":\"", tail[] = "\"}";
        size_t n = (size_t)f->bytes;
        o->code = 200;
        o->raw = malloc(n + 1);
        if (!o->raw) abort();
        memset(o->raw, 'x', n);
        memcpy(o->raw, head, sizeof head - 1);
        memcpy(o->raw + n - (sizeof tail - 1), tail, sizeof tail - 1);
        o->raw[n] = '\0';
        break;
    }
    case FF_OFF:
        return 0;
    }
    return 1;
}

/* POST /{version}/ with a batch field: Graph's batch API. Each operation
 * is answered as the single request would be -- its own token and proof
 * (access_token and appsecret_proof in its relative_url, else the
 * request's), throttling, invalidation and faults per operation (a fault
 * whose path matches "/<version>/<operation path>") -- into one element
 * {"code":..,"body":"<the answer as a JSON string>"} (plus "headers"
 * unless include_headers=false: its GET's headers, usage included; null
 * when a fault never answers). The request itself needs a token (form
 * access_token or Bearer) and, with --app-secret, its proof; at most 50
 * operations, whose tokens may be different pages'. The batch's own usage
 * headers carry the highest usage of its operations (only X-App-Usage
 * when the operations carry their own). */
static void batch(struct evhttp_request *req, const char *version)
{
    struct evkeyvalq kv;
    params(req, &kv, 1);
    g_st.batch++;
    const char *top = evhttp_find_header(&kv, "access_token");
    if (!top) top = bearer(req);
    const char *top_proof = evhttp_find_header(&kv, "appsecret_proof");
    const char *b = evhttp_find_header(&kv, "batch");
    const char *ih = evhttp_find_header(&kv, "include_headers");
    int headers = !ih || strcmp(ih, "false") != 0;
    json_t *ops = b ? json_loads(b, 0, NULL) : NULL;
    if (!top) {
        g_st.no_token++;
        send_json(req, 400, graph_error("An access token is required to request this resource.", 104, 0));
    } else if (!proof_ok(top, top_proof)) {
        g_st.bad_proof++;
        send_json(req, 400, graph_error("Invalid appsecret_proof provided in the API argument", 100, 0));
    } else if (!json_is_array(ops) || json_array_size(ops) == 0 || json_array_size(ops) > 50) {
        send_json(req, 400, graph_error("(#100) The batch parameter must be a JSON array of 1 to "
                                        "50 requests", 100, 0));
    } else {
        json_t *out = json_array();
        json_t *tokens = json_object(); /* the distinct tokens of the operations */
        long pct = -1, regain = 0;
        int ad = 0;
        char object[64] = "";
        size_t i;
        json_t *op;
        if ((long)json_array_size(ops) > g_st.batch_max) g_st.batch_max = (long)json_array_size(ops);
        json_array_foreach(ops, i, op) {
            g_st.batch_ops++;
            gout o = {.pct = -1};
            const char *method = json_string_value(json_object_get(op, "method"));
            const char *rel = json_string_value(json_object_get(op, "relative_url"));
            if (!rel || (method && strcmp(method, "GET") != 0)) {
                g_send(&o, 400, graph_error("(#100) this fake's batch takes GET operations with a "
                                            "relative_url", 100, 0));
            } else {
                /* "<path>?<query>", the path with or without a version. */
                char opath[256];
                const char *q = strchr(rel, '?');
                size_t pl = q ? (size_t)(q - rel) : strlen(rel);
                const char *pp = rel;
                if (*pp == '/') pp++, pl--;
                if (pp[0] == 'v' && pp[1] >= '0' && pp[1] <= '9' && memchr(pp, '/', pl)) {
                    const char *sl = memchr(pp, '/', pl);
                    pl -= (size_t)(sl + 1 - pp);
                    pp = sl + 1;
                }
                snprintf(opath, sizeof opath, "%.*s", (int)pl, pp);
                struct evkeyvalq okv;
                TAILQ_INIT(&okv);
                if (q) evhttp_parse_query_str(q + 1, &okv);
                const char *otok = evhttp_find_header(&okv, "access_token");
                const char *oproof = otok ? evhttp_find_header(&okv, "appsecret_proof") : top_proof;
                char fpath[300];
                snprintf(fpath, sizeof fpath, "/%s%s%s", version, *version ? "/" : "", opath);
                json_object_set_new(tokens, otok ? otok : top, json_true());
                if (!op_fault(&o, fpath))
                    graph_do(&o, EVHTTP_REQ_GET, opath, &okv, otok ? otok : top, oproof);
                evhttp_clear_headers(&okv);
            }
            if (o.null_op) {
                json_array_append_new(out, json_null());
            } else {
                char *body = o.raw ? o.raw : json_dumps(o.body, JSON_COMPACT);
                json_t *el = json_pack("{s:i,s:s}", "code", o.code, "body", body ? body : "{}");
                if (headers) {
                    /* The operation's own headers: those its GET's answer
                     * would carry, its usage headers included. */
                    json_t *hs = json_pack("[{s:s,s:s}]", "name", "Content-Type", "value",
                                           "application/json; charset=UTF-8");
                    if (o.pct >= 0) usage_headers(json_header, hs, o.pct, o.regain, o.object, o.ad);
                    json_object_set_new(el, "headers", hs);
                }
                json_array_append_new(out, el);
                if (body != o.raw) free(body);
            }
            free(o.raw);
            json_decref(o.body);
            if (o.pct > pct) pct = o.pct;
            if (o.regain > regain) regain = o.regain;
            if (!object[0] && o.object[0]) {
                snprintf(object, sizeof object, "%s", o.object);
                ad = o.ad;
            }
        }
        if ((long)json_object_size(tokens) > g_st.batch_tokens_max)
            g_st.batch_tokens_max = (long)json_object_size(tokens);
        json_decref(tokens);
        /* With the operations' own headers, the request's carry the app's
         * usage only (each object's is in its operations'); without them,
         * the highest usage of the operations and the first one's object. */
        if (headers) add_usage_headers(req, pct < 0 ? opt.usage : pct, 0, NULL, 0);
        else add_usage_headers(req, pct < 0 ? opt.usage : pct, regain, object, ad);
        send_json(req, 200, out);
    }
    json_decref(ops);
    evhttp_clear_headers(&kv);
}

/* The rate-limit headers of a 429 fault: the app at its limit. */
static void fault_rate_headers(struct evhttp_request *req)
{
    add_usage_headers(req, 100, 0, NULL, 0);
}

/* ---- control ----------------------------------------------------------- */

static void control_add(struct evhttp_request *req, const char *what)
{
    char *body = fake_body(req, NULL);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *arr = strcmp(what, "lead") == 0 ? g_leads : strcmp(what, "form") == 0 ? g_forms
                : strcmp(what, "page") == 0 ? g_pages
                : strcmp(what, "comment") == 0 ? g_comments : NULL;
    if (!json_is_object(j) || !id || !arr || json_array_size(arr) >= MAX_ITEMS ||
        (arr != g_pages && !json_string_value(json_object_get(j, "page_id")) &&
         !(arr == g_comments && json_string_value(json_object_get(j, "ig_user_id"))))) {
        json_decref(j);
        fake_reply(req, 400, "text/plain", "need a JSON object with id (and page_id)\n");
        return;
    }
    if (arr == g_leads && !json_is_integer(json_object_get(j, "created_time")))
        json_object_set_new(j, "created_time", json_integer(now_s() - 120));
    if (arr == g_pages && !json_object_get(j, "subscribed"))
        json_object_set_new(j, "subscribed", json_true());
    if (arr == g_forms && !json_object_get(j, "status"))
        json_object_set_new(j, "status", json_string("ACTIVE"));
    json_t *old = find(arr, id);
    if (old) json_object_update(old, j);
    else json_array_append(arr, j);
    json_decref(j);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void control(struct evhttp_request *req)
{
    struct evkeyvalq kv;
    params(req, &kv, 0);
    const char *v;
    if ((v = evhttp_find_header(&kv, "throttle"))) {
        g_mode.throttle_code = atol(v);
        const char *c = evhttp_find_header(&kv, "count");
        const char *u = evhttp_find_header(&kv, "usage");
        const char *r = evhttp_find_header(&kv, "regain");
        g_mode.throttle_left = c ? atol(c) : 1;
        g_mode.throttle_usage = u ? atol(u) : 100;
        g_mode.throttle_regain = r ? atol(r) : 0;
        const char *ob = evhttp_find_header(&kv, "object");
        snprintf(g_mode.throttle_object, sizeof g_mode.throttle_object, "%s", ob ? ob : "");
    }
    if ((v = evhttp_find_header(&kv, "usage")) && !evhttp_find_header(&kv, "throttle"))
        opt.usage = atol(v);
    if ((v = evhttp_find_header(&kv, "invalidate"))) g_mode.invalid = atoi(v) != 0;
    if ((v = evhttp_find_header(&kv, "subscribe")) && find(g_pages, v))
        json_object_set_new(find(g_pages, v), "subscribed", json_true());
    if ((v = evhttp_find_header(&kv, "unsubscribe")) && find(g_pages, v))
        json_object_set_new(find(g_pages, v), "subscribed", json_false());
    if (evhttp_find_header(&kv, "reset")) {
        memset(&g_st, 0, sizeof g_st);
        memset(&g_mode, 0, sizeof g_mode);
    }
    evhttp_clear_headers(&kv);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void stats(struct evhttp_request *req)
{
    json_t *j = json_object();
#define PUT(n) json_object_set_new(j, #n, json_integer(g_st.n));
    COUNTERS(PUT)
#undef PUT
    json_object_set_new(j, "last_insights_range", json_string(g_last_range));
    json_object_set_new(j, "last_token", json_string(g_last_token));
    json_object_set_new(j, "leads", json_integer((json_int_t)json_array_size(g_leads)));
    send_json(req, 200, j);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (strncmp(path, "/control/", 9) == 0 && cmd == EVHTTP_REQ_POST) {
        control_add(req, path + 9);
        return;
    }
    if (strcmp(path, "/control") == 0 && cmd == EVHTTP_REQ_POST) {
        control(req);
        return;
    }
    if (strcmp(path, "/stats") == 0) {
        stats(req);
        return;
    }
    if (fake_fault_control(req, path)) return;
    /* An optional version prefix: /v25.0/... */
    const char *p = path + 1;
    char version[32] = "";
    if (p[0] == 'v' && p[1] >= '0' && p[1] <= '9') {
        const char *s = strchr(p, '/');
        snprintf(version, sizeof version, "%.*s", (int)(s ? (size_t)(s - p) : strlen(p)), p);
        p = s ? s + 1 : p + strlen(p);
    }
    /* A batch request meets the faults as "<path>batch" (/v25.0/batch):
     * path=batch fails it alone; its operations meet them one by one. */
    int is_batch = !*p && cmd == EVHTTP_REQ_POST;
    char fpath[64];
    snprintf(fpath, sizeof fpath, "%s%s", path, is_batch ? "batch" : "");
    if (fake_fault_take(req, is_batch ? fpath : path)) return;
    if (is_batch) batch(req, version);
    else if (strcmp(p, "oauth/access_token") == 0) oauth_token(req);
    else if (strcmp(p, "dialog/oauth") == 0) dialog(req);
    else if (*p) graph(req, p);
    else fake_reply(req, 404, "text/plain", "not found\n");
}

static int sign_mode(const char *secret)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES], buf[65536];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) crypto_auth_hmacsha256_update(&st, buf, n);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    printf("sha256=%s\n", hex);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return 1;
    (void)fake_query_param; /* fake_common.h helpers this fake does not need */
    (void)fake_reply_later;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--sign") == 0 && v) return sign_mode(v);
        if (!v) { fprintf(stderr, "missing value for %s\n", a); return 2; }
        if (strcmp(a, "--port") == 0) port = fake_parse_port(v);
        else if (strcmp(a, "--app-id") == 0) opt.app_id = v;
        else if (strcmp(a, "--app-secret") == 0) opt.app_secret = v;
        else if (strcmp(a, "--user-id") == 0) opt.user_id = v;
        else if (strcmp(a, "--token-prefix") == 0) g_token_prefix = v;
        else if (strcmp(a, "--usage") == 0) opt.usage = fake_parse_long("usage", v, 0, 1000);
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
        i++;
    }
    g_leads = json_array();
    g_forms = json_array();
    g_pages = json_array();
    g_comments = json_array();
    fake_fault.rate_headers = fault_rate_headers;
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE, on_request);
    json_decref(g_leads);
    json_decref(g_forms);
    json_decref(g_pages);
    json_decref(g_comments);
    return 0;
}
