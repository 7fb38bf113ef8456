/* google_plugin.c -- the "google" connector (Gmail): descriptor, init,
 * config, instances, the Pub/Sub push check on the event loop, event,
 * tick, OAuth connect and disconnect.
 *
 * Pushes come to each connection's own URL, /hooks/google/<conn>?token=..
 * (the push subscription's endpoint). webhook_verify compares the token
 * with the connection's secret push_token (SHA-256 of both, compared in
 * constant time) and, when the config has "oidc", checks the OIDC JWT in
 * Authorization: Bearer against Google's keys, which instance_open
 * fetched into the instance (and tick refreshes every 6 hours). The
 * Pub/Sub messageId is the event's dedup key. The event then reads the
 * mailbox's history (google_sync.c).
 *
 * Base URLs, read once at init (operator and test overrides):
 * C360_GOOGLE_GMAIL_URL (https://gmail.googleapis.com),
 * C360_GOOGLE_OAUTH_URL (https://oauth2.googleapis.com: /token, /revoke),
 * C360_GOOGLE_ACCOUNTS_URL (https://accounts.google.com: the consent page),
 * C360_GOOGLE_CERTS_URL (https://www.googleapis.com/oauth2/v3/certs);
 * C360_GOOGLE_THROTTLE_MIN_MS (5000) is the least backoff after a
 * rate-limit answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google.h"

#define BODY_MAX (64 * 1024)
#define SCOPE "https://www.googleapis.com/auth/gmail.readonly"

static int32_t g_init(c360_call *call, const c360_host_api *host, void **pd)
{
    if (!C360_HOST_HAS(host, connection_status) || !C360_HOST_HAS(host, record_emit) ||
        !C360_HOST_HAS(host, call_dedup_key) || !C360_HOST_HAS(host, oauth_token)) {
        host->call_error(call, "the google plugin needs a host with the ABI 1.2 pipeline services");
        return C360_EUNSUPPORTED;
    }
    g_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) return C360_ENOMEM;
    p->host = host;
    if (!c360kit_env_url("C360_GOOGLE_GMAIL_URL", "https://gmail.googleapis.com", p->gmail_url, G_URL_MAX - 64, call, host) ||
        !c360kit_env_url("C360_GOOGLE_OAUTH_URL", "https://oauth2.googleapis.com", p->oauth_url, G_URL_MAX - 64, call, host) ||
        !c360kit_env_url("C360_GOOGLE_ACCOUNTS_URL", "https://accounts.google.com", p->accounts_url, G_URL_MAX - 64, call, host) ||
        !c360kit_env_url("C360_GOOGLE_CERTS_URL", "https://www.googleapis.com/oauth2/v3/certs", p->certs_url, G_URL_MAX - 64, call, host)) {
        free(p);
        return C360_EINVAL;
    }
    if (!c360kit_env_num("C360_GOOGLE_THROTTLE_MIN_MS", 5000, 100, 3600000, &p->throttle_min_ms,
                         call, host)) {
        free(p);
        return C360_EINVAL;
    }
    *pd = p;
    return C360_OK;
}

static void g_fini(void *pd)
{
    free(pd);
}

static int32_t g_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    g_plugin *p = pd;
    g_cfg *cfg = malloc(sizeof *cfg);
    if (cfg == NULL) return C360_ENOMEM;
    c360kit_cfg_sink s = {p->host, call};
    int n = g_config_parse(json, len, cfg, c360kit_cfg_error, &s);
    free(cfg);
    return n == 0 ? C360_OK : C360_EINVAL;
}

static void g_close(void *pd, void *id)
{
    (void)pd;
    g_conn *c = id;
    if (c == NULL) return;
    if (c->has_re) regfree(&c->subject_re);
    g_jwks_free(c->keys);
    pthread_rwlock_destroy(&c->klock);
    free(c);
}

static int32_t g_open(c360_call *call, void *pd, c360_instance *inst, const char *json, size_t len,
                      void **idp)
{
    g_plugin *p = pd;
    const c360_host_api *h = p->host;
    g_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return C360_ENOMEM;
    c->inst = inst;
    pthread_rwlock_init(&c->klock, NULL);
    if (g_config_parse(json, len, &c->cfg, NULL, NULL) != 0) {
        g_close(pd, c);
        h->call_error(call, "the connection's config is not valid: run validation");
        return C360_EINVAL;
    }
    if (c->cfg.f_subject[0] != '\0') {
        if (regcomp(&c->subject_re, c->cfg.f_subject, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
            g_close(pd, c);
            h->call_error(call, "filters.subject_regex does not compile");
            return C360_EINVAL;
        }
        c->has_re = true;
    }
    uint8_t *tok = NULL;
    size_t tlen = 0;
    int32_t st = h->secret_get(call, "push_token", &tok, &tlen);
    if (st == C360_OK) {
        while (tlen > 0 && (tok[tlen - 1] == '\n' || tok[tlen - 1] == '\r' || tok[tlen - 1] == ' '))
            tok[--tlen] = '\0';
        if (tlen < 16) st = C360_ENOTFOUND;
        else h->sha256(tok, tlen, c->push_hash);
        h->secret_free(tok);
    }
    if (st != C360_OK) {
        g_close(pd, c);
        if (st != C360_ENOTFOUND) return st;
        h->call_error(call, "store the connection secret push_token (at least 16 characters)");
        return C360_RETRY;
    }
    snprintf(c->token_url, sizeof c->token_url, "%s/token", p->oauth_url);
    snprintf(c->revoke_url, sizeof c->revoke_url, "%s/revoke", p->oauth_url);
    snprintf(c->authorize_url, sizeof c->authorize_url, "%s/o/oauth2/v2/auth", p->accounts_url);
    if (c->cfg.oidc && g_keys_fetch(p, c, call) != C360_OK)
        h->log(call, C360_LOG_WARN,
               "Google's OIDC keys could not be loaded; pushes are refused until a tick loads them");
    *idp = c;
    return C360_OK;
}

/* ---- the push (event loop: no I/O, no blocking) ------------------------- */

static const char *header(const c360_webhook *req, const char *name)
{
    for (uint32_t i = 0; i < req->header_count; i++)
        if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static void reply(c360_webhook_reply *rp, int32_t status, const char *body)
{
    size_t len = strlen(body);
    rp->status = status;
    snprintf(rp->content_type, sizeof rp->content_type, "application/json");
    if (len > sizeof rp->body_buf) len = sizeof rp->body_buf;
    memcpy(rp->body_buf, body, len);
    rp->body_len = len;
}

static int32_t g_verify(c360_call *call, void *pd, void *id, const c360_webhook *req,
                        c360_webhook_reply *rp)
{
    g_plugin *p = pd;
    g_conn *c = id;
    const c360_host_api *h = p->host;
    if (c == NULL) {
        h->call_error(call, "Gmail pushes go to the connection's own URL /hooks/google/<connection>");
        rp->status = 404;
        return C360_VERDICT_REJECT;
    }
    if (strcmp(req->method, "POST") != 0) {
        reply(rp, 405, "{\"error\":\"Pub/Sub pushes are POSTs\"}");
        return C360_VERDICT_REPLIED;
    }
    char tok[512];
    size_t tlen = 0;
    uint8_t dig[32];
    bool ok = g_query_get(req->query, "token", tok, sizeof tok, &tlen) && tlen > 0;
    if (ok) {
        h->sha256(tok, tlen, dig);
        ok = h->ct_equal(dig, c->push_hash, sizeof dig) == 1;
    }
    memset(tok, 0, sizeof tok);
    if (!ok) {
        h->call_error(call, "push token missing or wrong (?token= of the push endpoint)");
        rp->status = 401;
        return C360_VERDICT_REJECT;
    }
    if (c->cfg.oidc) {
        const char *a = header(req, "authorization");
        const char *why = "no Authorization: Bearer token";
        bool jok = false;
        if (a != NULL && strncmp(a, "Bearer ", 7) == 0) {
            pthread_rwlock_rdlock(&c->klock);
            jok = g_jwt_verify(c->keys, a + 7, strlen(a + 7), c->cfg.oidc_audience,
                               c->cfg.oidc_email, h->now_ms() / 1000, &why);
            pthread_rwlock_unlock(&c->klock);
        }
        if (!jok) {
            h->call_error(call, "push OIDC token refused: %s", why);
            rp->status = 401;
            return C360_VERDICT_REJECT;
        }
    }
    if (req->body_len > BODY_MAX) {
        reply(rp, 413, "{\"error\":\"body too large\"}");
        return C360_VERDICT_REPLIED;
    }
    g_push push;
    const char *why = NULL;
    if (!g_push_parse(req->body, req->body_len, &push, &why)) {
        /* Authentic but unusable: acknowledged (no redelivery loop). */
        h->call_error(call, "push ignored: %s", why);
        reply(rp, 200, "{\"ok\":true,\"ignored\":true}");
        return C360_VERDICT_REPLIED;
    }
    char dk[160];
    snprintf(dk, sizeof dk, "push:%s", push.message_id);
    h->call_dedup_key(call, dk);
    return C360_VERDICT_ACCEPT;
}

/* ---- event and tick --------------------------------------------------- */

static int32_t g_event(c360_call *call, void *pd, void *id, const c360_event *ev)
{
    g_ctx x = {pd, id, call, ((g_plugin *)pd)->host, NULL, false};
    g_push push;
    const char *why = NULL;
    if (!g_push_parse(ev->body, ev->body_len, &push, &why)) {
        x.host->call_error(call, "event %s: %s", ev->event_id, why);
        return C360_ERROR;
    }
    int32_t st = g_sync(&x, "webhook", push.history_id, push.email);
    g_ctx_done(&x);
    return st;
}

static void body_notice(g_ctx *x)
{
    const c360_host_api *h = x->host;
    const char *want = x->c->cfg.include_body ? "full" : "metadata";
    uint8_t *v = NULL, *f = NULL;
    size_t len = 0, fl = 0;
    bool same = false;
    if (h->state_get(x->call, "content_mode", &v, &len, NULL) == C360_OK) {
        same = len == strlen(want) && memcmp(v, want, len) == 0;
        h->free(v);
    }
    if (same) return;
    if (h->state_get(x->call, "watch_failing", &f, &fl, NULL) == C360_OK) {
        h->free(f);
        return; /* that cause is shown first */
    }
    h->state_set(x->call, "content_mode", want, strlen(want), 0, NULL);
    h->connection_status(x->call, C360_CONN_ACTIVE,
                         x->c->cfg.include_body
                             ? "include_body is on: full message content (bodies) is read and delivered"
                             : "metadata only: headers, labels and snippet (no message bodies)");
}

static int32_t g_tick(c360_call *call, void *pd, void *id)
{
    g_plugin *p = pd;
    g_conn *c = id;
    g_ctx x = {p, c, call, p->host, NULL, false};
    if (c->cfg.oidc && g_keys_stale(c, p->host->now_ms())) g_keys_fetch(p, c, call);
    int32_t wst = g_watch(&x);
    if (wst == C360_EAUTH) {
        g_ctx_done(&x);
        return wst;
    }
    body_notice(&x);
    int32_t st = g_sync(&x, "poll", NULL, NULL);
    g_ctx_done(&x);
    if (st == C360_OK && wst != C360_OK)
        p->host->log(call, C360_LOG_WARN, "the catch-up read worked, the watch renewal did not: %s",
                     c360_strstatus(wst));
    return st;
}

/* ---- OAuth connect and disconnect -------------------------------------- */

static int32_t g_oauth_connect(c360_call *call, void *pd, void *id, c360_oauth_connect *out)
{
    g_plugin *p = pd;
    g_conn *c = id;
    const c360_host_api *h = p->host;
    if (out->struct_size < offsetof(c360_oauth_connect, host_secret) + sizeof out->host_secret) {
        h->call_error(call, "this host is too old for Google OAuth connect");
        return C360_EUNSUPPORTED;
    }
    uint8_t *secret = NULL;
    size_t len = 0;
    int32_t st = h->secret_get(call, "client_secret", &secret, &len);
    if (st == C360_ENOTFOUND) {
        h->call_error(call, "store the secret client_secret first");
        return C360_EINVAL;
    }
    if (st != C360_OK) return st;
    while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r' || secret[len - 1] == ' '))
        secret[--len] = '\0';
    out->pkce = 1;
    out->authorize_url = c->authorize_url;
    out->client_id = c->cfg.client_id;
    out->scope = SCOPE;
    out->extra_params = "access_type=offline&prompt=consent";
    out->token_url = c->token_url;
    out->client_secret = (const char *)secret;
    out->auth = C360_OAUTH_AUTH_BODY;
    out->host_secret = secret;
    return C360_OK;
}

static int32_t g_disconnect(c360_call *call, void *pd, void *id)
{
    g_plugin *p = pd;
    g_ctx x = {p, id, call, p->host, NULL, true};
    const c360_host_api *h = p->host;
    const char *stopped = "watch not stopped", *revoked = "token not revoked";
    json_t *out = NULL;
    g_req r = {.method = "POST", .path = "stop", .cost = 1};
    int32_t st = g_api(&x, &r, &out, NULL);
    json_decref(out);
    if (st == C360_OK) stopped = "watch stopped";
    if (x.token != NULL || g_token(&x) == C360_OK) {
        size_t cap = strlen(x.token) * 3 + 16;
        char *form = calloc(1, cap);
        if (form != NULL) {
            strcpy(form, "token=");
            g_urlenc_cat(form, cap, x.token);
            c360_header hdr[1] = {{"content-type", "application/x-www-form-urlencoded"}};
            c360_http_request req = {.struct_size = sizeof req, .header_count = 1,
                                     .method = "POST", .url = x.c->revoke_url, .headers = hdr,
                                     .body = (const uint8_t *)form, .body_len = strlen(form),
                                     .timeout_ms = 15000};
            c360_http_response *resp = NULL;
            if (h->http(call, &req, &resp) == C360_OK) {
                /* 400 invalid_token: already revoked or expired, fine. */
                if (resp->status == 200 || resp->status == 400) revoked = "token revoked";
                h->http_free(resp);
            }
            volatile char *w = form;
            for (size_t i = 0; i < cap; i++) w[i] = 0;
            free(form);
        }
    }
    g_ctx_done(&x);
    bool fine = strcmp(stopped, "watch stopped") == 0 && strcmp(revoked, "token revoked") == 0;
    h->call_error(call, "%s; %s", stopped, revoked);
    h->log(call, fine ? C360_LOG_INFO : C360_LOG_WARN, "disconnect: %s; %s", stopped, revoked);
    return fine ? C360_OK : C360_ERROR;
}

static const c360_plugin_desc g_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "google",
    .version = G_VERSION,
    .description = "Gmail: new messages through Pub/Sub push as email records",
    .config_schema = g_config_schema,
    .init = g_init,
    .fini = g_fini,
    .validate_config = g_validate,
    .instance_open = g_open,
    .instance_close = g_close,
    .tick = g_tick,
    .webhook_verify = g_verify,
    .event = g_event,
    .disconnect = g_disconnect,
    .oauth_connect = g_oauth_connect,
};

C360_PLUGIN_ENTRY
{
    return &g_desc;
}
