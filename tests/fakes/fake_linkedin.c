/* fake_linkedin -- LinkedIn's Lead Sync REST API and OAuth endpoints on
 * 127.0.0.1, for the linkedin plugin's tests (tests/integration/linkedin.sh).
 * Wire format: /work/shared/reference/providers.md (LinkedIn). It never
 * sends webhooks itself: the test signs and sends them (--sign).
 *
 *   fake_linkedin [--port N] [--client-id ID] [--client-secret S]
 *                 [--expires-in S]      access token lifetime (default 3600)
 *   fake_linkedin --sign SECRET   reads a body on stdin, prints the bare hex
 *                                 HMAC-SHA256(SECRET, "hmacsha256=" + body):
 *                                 the X-LI-Signature value
 *   fake_linkedin --hmac SECRET   prints hex HMAC-SHA256(SECRET, stdin): the
 *                                 expected challengeResponse
 *
 * REST (under /rest): every call needs "Authorization: Bearer <token>" of
 * a live token (401 {"status":401,"serviceErrorCode":65600,"message":..}
 * otherwise), "LinkedIn-Version: YYYYMM" and "X-Restli-Protocol-Version:
 * 2.0.0" (400 and counted in bad_headers otherwise).
 *   GET  /rest/leadFormResponses/{id}   one response (404 if unknown)
 *   GET  /rest/leadFormResponses?q=owner&owner=(sponsoredAccount:urn..)
 *        &leadType=(leadType:..)&submittedAtTimeRange=(start:MS,end:MS)
 *        &count=N&start=K                 {"paging":{"start","count","total"},
 *                                          "elements":[..]} (offset paging)
 *   GET  /rest/leadForms?q=owner&owner=(..)   the owner's forms
 *   POST /rest/leadNotifications {"webhook","owner","leadType"}
 *                                         201, x-restli-id: sub-N
 *   DELETE /rest/leadNotifications/{id}   204
 * OAuth (under /oauth/v2):
 *   GET  /authorization   consents at once: 302 redirect_uri?code=..&state=..
 *   POST /accessToken     authorization_code / refresh_token (form, client
 *                         id and secret in the body): {"access_token",
 *                         "expires_in","refresh_token",
 *                         "refresh_token_expires_in","scope"}; refresh
 *                         tokens rotate (the old one dies); a bad or used
 *                         refresh token, or fail mode: 400 invalid_grant
 *   POST /revoke          token=..: the token dies; 200
 * Control (no token):
 *   POST /control/response  a leadFormResponse element, served as given;
 *                           needs "id", "owner", "submittedAt"
 *   POST /control/form      a form element with "owner":"<urn>" added
 *   POST /control?throttle=N     the next N REST calls answer 429
 *   POST /control?fail_refresh=invalid_grant|none
 *   POST /control?expires_in=S   lifetime of tokens issued from now on
 *   POST /control?member=M       the LinkedIn member of the next consents
 *                                (default "m0"): tokens issued by a code
 *                                belong to that member, refreshed ones keep it
 *   POST /control/admin {"owner":"urn:li:sponsoredAccount:1","member":"M"}
 *                           M administers that owner. An owner with no
 *                           admin registered is open to every member (old
 *                           tests); once it has one, owner-scoped calls
 *                           (leadForms and leadFormResponses searches with
 *                           q=owner, leadFormResponses/{id} of its
 *                           responses, leadNotifications for it) answer
 *                           403 to tokens of other members
 *   GET  /stats   counters (get, search, forms, throttled, code, refresh,
 *                 refresh_failed, revoke, sub_post, sub_delete, bad_headers,
 *                 unauthorized, rest, forbidden) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <jansson.h>
#include <sodium.h>

#include "fake_common.h"

static struct {
    const char *client_id, *client_secret;
    long expires_in;
} opt = {"li-client", NULL, 3600};

static struct {
    long get, search, forms, throttled, code, refresh, refresh_failed, revoke, sub_post,
        sub_delete, bad_headers, unauthorized, rest, forbidden;
} st;

static json_t *responses, *forms, *access_ok, *refresh_ok; /* arrays / objects */
static json_t *admins;          /* owner urn -> {member: true} */
static char next_member[64] = "m0";
static long throttle_n, seq;
static int fail_refresh;

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
    json_decref(j);
}

static json_t *li_error(int status, long svc, const char *msg)
{
    return json_pack("{s:i,s:i,s:s}", "status", status, "serviceErrorCode", (json_int_t)svc,
                     "message", msg);
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

/* "(sponsoredAccount:urn:li:sponsoredAccount:1)" of an owner object. */
static void owner_param(const json_t *owner, char *out, size_t cap)
{
    const char *k;
    const json_t *v;
    out[0] = 0;
    json_object_foreach((json_t *)owner, k, v) {
        if (json_is_string(v)) snprintf(out, cap, "(%s:%s)", k, json_string_value(v));
        return;
    }
}

/* The member of a token may act for owner urn ("(kind:urn)" accepted). */
static int member_may(const char *member, const char *owner)
{
    char urn[256];
    if (!owner) return 0;
    if (owner[0] == '(') {
        const char *c = strchr(owner, ':');
        snprintf(urn, sizeof urn, "%s", c ? c + 1 : "");
        size_t n = strlen(urn);
        if (n > 0 && urn[n - 1] == ')') urn[n - 1] = 0;
    } else {
        snprintf(urn, sizeof urn, "%s", owner);
    }
    const json_t *a = json_object_get(admins, urn);
    if (!json_is_object(a) || json_object_size(a) == 0) return 1;
    return member && json_object_get(a, member) != NULL;
}

static void forbidden(struct evhttp_request *req)
{
    send_json(req, 403, li_error(403, 100, "Not enough permissions to access this owner"));
}

static void issue(struct evhttp_request *req, const char *member)
{
    char at[64], rt[64];
    seq++;
    snprintf(at, sizeof at, "LI-AT-%ld-%08x", seq, randombytes_random());
    snprintf(rt, sizeof rt, "LI-RT-%ld-%08x", seq, randombytes_random());
    json_object_set_new(access_ok, at, json_string(member));
    json_object_set_new(refresh_ok, rt, json_string(member));
    send_json(req, 200, json_pack("{s:s,s:i,s:s,s:i,s:s}", "access_token", at, "expires_in",
                                  (json_int_t)opt.expires_in, "refresh_token", rt,
                                  "refresh_token_expires_in", (json_int_t)31536000, "scope",
                                  "r_ads,r_marketing_leadgen_automation"));
}

static void oauth(struct evhttp_request *req, const char *p)
{
    struct evkeyvalq kv;
    params(req, &kv, evhttp_request_get_command(req) == EVHTTP_REQ_POST);
    if (strcmp(p, "authorization") == 0) {
        const char *ru = evhttp_find_header(&kv, "redirect_uri");
        const char *state = evhttp_find_header(&kv, "state");
        const char *cid = evhttp_find_header(&kv, "client_id");
        if (!ru || !state || !cid || strcmp(cid, opt.client_id) != 0) {
            fake_reply(req, 400, "text/plain", "bad authorization request\n");
        } else {
            char *es = evhttp_encode_uri(state);
            size_t cap = strlen(ru) + strlen(es) + 64;
            char *loc = malloc(cap);
            snprintf(loc, cap, "%s%scode=licode-%ld&state=%s", ru, strchr(ru, '?') ? "&" : "?",
                     ++seq, es);
            evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
            evhttp_send_reply(req, 302, "Found", NULL);
            free(loc);
            free(es);
        }
    } else if (strcmp(p, "accessToken") == 0) {
        const char *gt = evhttp_find_header(&kv, "grant_type");
        const char *cid = evhttp_find_header(&kv, "client_id");
        const char *cs = evhttp_find_header(&kv, "client_secret");
        if (!cid || strcmp(cid, opt.client_id) != 0 || !cs ||
            (opt.client_secret && strcmp(cs, opt.client_secret) != 0)) {
            send_json(req, 401, json_pack("{s:s,s:s}", "error", "invalid_client",
                                          "error_description", "Client authentication failed"));
        } else if (gt && strcmp(gt, "authorization_code") == 0 && evhttp_find_header(&kv, "code")) {
            st.code++;
            issue(req, next_member);
        } else if (gt && strcmp(gt, "refresh_token") == 0) {
            const char *rt = evhttp_find_header(&kv, "refresh_token");
            if (fail_refresh || !rt || !json_object_get(refresh_ok, rt)) {
                st.refresh_failed++;
                send_json(req, 400, json_pack("{s:s,s:s}", "error", "invalid_grant",
                                              "error_description",
                                              "The provided authorization grant or refresh token is invalid, expired or revoked"));
            } else {
                char m[64];
                st.refresh++;
                snprintf(m, sizeof m, "%s", json_string_value(json_object_get(refresh_ok, rt)));
                json_object_del(refresh_ok, rt); /* rotation */
                issue(req, m);
            }
        } else {
            send_json(req, 400, json_pack("{s:s}", "error", "unsupported_grant_type"));
        }
    } else if (strcmp(p, "revoke") == 0) {
        const char *t = evhttp_find_header(&kv, "token");
        st.revoke++;
        if (t) json_object_del(access_ok, t);
        fake_reply(req, 200, "application/json", "{}");
    } else {
        fake_reply(req, 404, "text/plain", "no such OAuth endpoint\n");
    }
    evhttp_clear_headers(&kv);
}

static const json_t *find_response(const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(responses, i, e) {
        const char *s = json_string_value(json_object_get(e, "id"));
        if (s && strcmp(s, id) == 0) return e;
    }
    return NULL;
}

static void search(struct evhttp_request *req, struct evkeyvalq *kv, const char *member)
{
    const char *owner = evhttp_find_header(kv, "owner");
    const char *range = evhttp_find_header(kv, "submittedAtTimeRange");
    const char *cs = evhttp_find_header(kv, "count"), *ss = evhttp_find_header(kv, "start");
    const char *q = evhttp_find_header(kv, "q");
    long long a = 0, b = 0;
    if (!q || strcmp(q, "owner") != 0 || !owner || !range ||
        sscanf(range, "(start:%lld,end:%lld)", &a, &b) != 2) {
        send_json(req, 400, li_error(400, 100, "q=owner, owner and submittedAtTimeRange are required"));
        return;
    }
    long count = cs ? atol(cs) : 10, start = ss ? atol(ss) : 0;
    if (count < 1 || count > 1000 || start < 0) {
        send_json(req, 400, li_error(400, 100, "bad paging"));
        return;
    }
    if (!member_may(member, owner)) {
        st.forbidden++;
        forbidden(req);
        return;
    }
    st.search++;
    json_t *match = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(responses, i, e) {
        char op[256];
        owner_param(json_object_get(e, "owner"), op, sizeof op);
        long long t = json_integer_value(json_object_get(e, "submittedAt"));
        if (strcmp(op, owner) == 0 && t >= a && t <= b) json_array_append(match, e);
    }
    json_t *els = json_array();
    for (long k = start; k < start + count && (size_t)k < json_array_size(match); k++)
        json_array_append(els, json_array_get(match, (size_t)k));
    json_t *out = json_pack("{s:{s:i,s:i,s:i},s:o}", "paging", "start", (json_int_t)start, "count",
                            (json_int_t)count, "total", (json_int_t)json_array_size(match),
                            "elements", els);
    json_decref(match);
    send_json(req, 200, out);
}

static void rest(struct evhttp_request *req, const char *p)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *auth = evhttp_find_header(in, "Authorization");
    const char *ver = evhttp_find_header(in, "LinkedIn-Version");
    const char *rl = evhttp_find_header(in, "X-Restli-Protocol-Version");
    st.rest++;
    if (!ver || strlen(ver) != 6 || strspn(ver, "0123456789") != 6 || !rl || strcmp(rl, "2.0.0") != 0) {
        st.bad_headers++;
        send_json(req, 400, li_error(400, 100, "LinkedIn-Version and X-Restli-Protocol-Version are required"));
        return;
    }
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !json_object_get(access_ok, auth + 7)) {
        st.unauthorized++;
        send_json(req, 401, li_error(401, 65600, "Invalid access token"));
        return;
    }
    if (throttle_n > 0) {
        throttle_n--;
        st.throttled++;
        send_json(req, 429, li_error(429, 101, "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."));
        return;
    }
    const char *member = json_string_value(json_object_get(access_ok, auth + 7));
    struct evkeyvalq kv;
    params(req, &kv, 0);
    if (cmd == EVHTTP_REQ_GET && strncmp(p, "leadFormResponses/", 18) == 0) {
        char *id = evhttp_uridecode(p + 18, 0, NULL);
        const json_t *e = find_response(id);
        char op[256];
        if (e) owner_param(json_object_get(e, "owner"), op, sizeof op);
        st.get++;
        if (e && !member_may(member, op)) {
            st.forbidden++;
            forbidden(req);
        } else if (e) send_json(req, 200, json_deep_copy(e));
        else send_json(req, 404, li_error(404, 100, "Not found"));
        free(id);
    } else if (cmd == EVHTTP_REQ_GET && strcmp(p, "leadFormResponses") == 0) {
        search(req, &kv, member);
    } else if (cmd == EVHTTP_REQ_GET && strcmp(p, "leadForms") == 0) {
        const char *owner = evhttp_find_header(&kv, "owner");
        if (!member_may(member, owner)) {
            st.forbidden++;
            forbidden(req);
            evhttp_clear_headers(&kv);
            return;
        }
        json_t *els = json_array();
        size_t i;
        json_t *e;
        st.forms++;
        json_array_foreach(forms, i, e) {
            char op[256];
            const char *urn = json_string_value(json_object_get(e, "owner"));
            snprintf(op, sizeof op, "(%s:%s)",
                     urn && strstr(urn, "organization") ? "organization" : "sponsoredAccount",
                     urn ? urn : "");
            if (owner && strcmp(op, owner) == 0) json_array_append(els, e);
        }
        send_json(req, 200, json_pack("{s:{s:i,s:i,s:i},s:o}", "paging", "start", 0, "count", 100,
                                      "total", (json_int_t)json_array_size(els), "elements", els));
    } else if (cmd == EVHTTP_REQ_POST && strcmp(p, "leadNotifications") == 0) {
        char *body = fake_body(req, NULL);
        json_t *j = json_loads(body, 0, NULL);
        free(body);
        char op[256] = "";
        if (json_is_object(json_object_get(j, "owner"))) owner_param(json_object_get(j, "owner"), op, sizeof op);
        if (!json_is_string(json_object_get(j, "webhook")) || !json_is_object(json_object_get(j, "owner"))) {
            send_json(req, 400, li_error(400, 100, "webhook and owner are required"));
        } else if (!member_may(member, op)) {
            st.forbidden++;
            forbidden(req);
        } else {
            char id[32];
            snprintf(id, sizeof id, "sub-%ld", ++seq);
            st.sub_post++;
            evhttp_add_header(evhttp_request_get_output_headers(req), "x-restli-id", id);
            fake_reply(req, 201, "application/json", "{}");
        }
        json_decref(j);
    } else if (cmd == EVHTTP_REQ_DELETE && strncmp(p, "leadNotifications/", 18) == 0) {
        st.sub_delete++;
        evhttp_send_reply(req, 204, "No Content", NULL);
    } else {
        send_json(req, 404, li_error(404, 100, "no such resource"));
    }
    evhttp_clear_headers(&kv);
}

static void control(struct evhttp_request *req, const char *p)
{
    if (*p == '/') {
        char *body = fake_body(req, NULL);
        json_t *j = json_loads(body, 0, NULL);
        free(body);
        if (!json_is_object(j)) {
            fake_reply(req, 400, "text/plain", "a JSON object please\n");
        } else if (strcmp(p, "/response") == 0 && json_is_string(json_object_get(j, "id"))) {
            json_array_append(responses, j);
            fake_reply(req, 200, "application/json", "{\"ok\":true}");
        } else if (strcmp(p, "/admin") == 0 && json_is_string(json_object_get(j, "owner")) &&
                   json_is_string(json_object_get(j, "member"))) {
            const char *o = json_string_value(json_object_get(j, "owner"));
            json_t *a = json_object_get(admins, o);
            if (!a) json_object_set_new(admins, o, a = json_object());
            json_object_set_new(a, json_string_value(json_object_get(j, "member")), json_true());
            fake_reply(req, 200, "application/json", "{\"ok\":true}");
        } else if (strcmp(p, "/form") == 0) {
            json_array_append(forms, j);
            fake_reply(req, 200, "application/json", "{\"ok\":true}");
        } else {
            fake_reply(req, 400, "text/plain", "unknown control\n");
        }
        json_decref(j);
        return;
    }
    struct evkeyvalq kv;
    params(req, &kv, 0);
    const char *v;
    if ((v = evhttp_find_header(&kv, "throttle"))) throttle_n = atol(v);
    if ((v = evhttp_find_header(&kv, "fail_refresh"))) fail_refresh = strcmp(v, "invalid_grant") == 0;
    if ((v = evhttp_find_header(&kv, "expires_in"))) opt.expires_in = atol(v);
    if ((v = evhttp_find_header(&kv, "member"))) snprintf(next_member, sizeof next_member, "%s", v);
    evhttp_clear_headers(&kv);
    fake_reply(req, 200, "application/json", "{\"ok\":true}");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path) path = "/";
    if (strncmp(path, "/rest/", 6) == 0) rest(req, path + 6);
    else if (strncmp(path, "/oauth/v2/", 10) == 0) oauth(req, path + 10);
    else if (strncmp(path, "/control", 8) == 0) control(req, path + 8);
    else if (strcmp(path, "/stats") == 0) {
        send_json(req, 200, json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
                                      "forbidden", (json_int_t)st.forbidden,
                                      "get", (json_int_t)st.get, "search", (json_int_t)st.search,
                                      "forms", (json_int_t)st.forms, "throttled", (json_int_t)st.throttled,
                                      "code", (json_int_t)st.code, "refresh", (json_int_t)st.refresh,
                                      "refresh_failed", (json_int_t)st.refresh_failed,
                                      "revoke", (json_int_t)st.revoke, "sub_post", (json_int_t)st.sub_post,
                                      "sub_delete", (json_int_t)st.sub_delete,
                                      "bad_headers", (json_int_t)st.bad_headers,
                                      "unauthorized", (json_int_t)st.unauthorized, "rest", (json_int_t)st.rest));
    } else {
        fake_reply(req, 404, "text/plain", "not found\n");
    }
}

static int mac_mode(const char *secret, int prefixed)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES], buf[65536];
    crypto_auth_hmacsha256_state s;
    crypto_auth_hmacsha256_init(&s, (const unsigned char *)secret, strlen(secret));
    if (prefixed) crypto_auth_hmacsha256_update(&s, (const unsigned char *)"hmacsha256=", 11);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) crypto_auth_hmacsha256_update(&s, buf, n);
    crypto_auth_hmacsha256_final(&s, mac);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    printf("%s\n", hex);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return 1;
    (void)fake_query_param;
    (void)fake_reply_later;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--sign") == 0 && v) return mac_mode(v, 1);
        if (strcmp(a, "--hmac") == 0 && v) return mac_mode(v, 0);
        if (!v) { fprintf(stderr, "missing value for %s\n", a); return 2; }
        if (strcmp(a, "--port") == 0) port = fake_parse_port(v);
        else if (strcmp(a, "--client-id") == 0) opt.client_id = v;
        else if (strcmp(a, "--client-secret") == 0) opt.client_secret = v;
        else if (strcmp(a, "--expires-in") == 0) opt.expires_in = fake_parse_long("expires-in", v, 1, 31536000);
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
        i++;
    }
    responses = json_array();
    forms = json_array();
    access_ok = json_object();
    refresh_ok = json_object();
    admins = json_object();
    fake_serve(port, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE, on_request);
    json_decref(responses);
    json_decref(forms);
    json_decref(access_ok);
    json_decref(refresh_ok);
    json_decref(admins);
    return 0;
}
