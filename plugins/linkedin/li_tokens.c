/* li_tokens.c -- the OAuth side of a LinkedIn connection:
 *
 *  - OAuth connect (ABI 1.3): LinkedIn's authorization and token
 *    endpoints; the host exchanges the code and keeps the tokens (name
 *    "user", sealed). The consent time is remembered (state
 *    "consent_at_ms"): LinkedIn's refresh tokens expire 365 days after it,
 *    refreshing does not extend them.
 *  - li_token: host->oauth_token with the refresh_token grant (access
 *    tokens last 60 days; refreshed a week ahead, the host capping that at
 *    half the lifetime). C360_EAUTH (invalid_grant, refresh token past its
 *    365 days) -> needs re-authorisation, with a cause.
 *  - li_refresh_warning: within 14 days of the refresh token's end, a cause
 *    for the connection's status, so the customer reconnects in time.
 *  - subscriptions (POST /rest/leadNotifications) when webhook_url is set,
 *    and disconnect: the subscriptions deleted, the token revoked
 *    (POST {oauth}/oauth/v2/revoke). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li.h"

#define SCOPES "r_ads r_marketing_leadgen_automation r_organization_admin"
#define REFRESH_MARGIN_S (7 * 86400)
#define TOKEN_NAME "user"
#define CAUSE_DEAD "LinkedIn authorisation expired or was revoked: connect again with OAuth"

static void fill_params(li_ctx *x, c360_oauth_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->grant = C360_GRANT_REFRESH_TOKEN;
    p->auth = C360_OAUTH_AUTH_BODY;
    p->refresh_margin_s = REFRESH_MARGIN_S;
    p->token_url = x->c->token_url;
    p->client_id = x->c->cfg.client_id;
    p->client_secret = (const char *)x->c->app->secret;
    p->token_name = TOKEN_NAME;
}

void li_token_free(li_ctx *x, char *tok)
{
    if (tok != NULL) x->host->secret_free(tok);
}

static int32_t dead(li_ctx *x, const char *cause)
{
    const c360_host_api *h = x->host;
    h->connection_status(x->call, C360_CONN_NEEDS_REAUTH, cause);
    h->call_error(x->call, "%s", cause);
    return C360_EAUTH;
}

int32_t li_token(li_ctx *x, char **tok)
{
    const c360_host_api *h = x->host;
    c360_oauth_params p;
    int64_t exp = 0;
    *tok = NULL;
    fill_params(x, &p);
    int32_t st = h->oauth_token(x->call, &p, tok, &exp);
    if (st == C360_OK) return C360_OK;
    if (st == C360_ENOTFOUND) {
        h->call_error(x->call, "not connected to LinkedIn: connect the connection with OAuth");
        return C360_ENOTFOUND;
    }
    if (st == C360_EAUTH) return dead(x, CAUSE_DEAD);
    /* host->oauth_token set the reason (RETRY, EIO, ...). */
    return st;
}

int32_t li_token_rejected(li_ctx *x, int http_status)
{
    const c360_host_api *h = x->host;
    char cause[96];
    snprintf(cause, sizeof cause, "LinkedIn refused the access token (HTTP %d)", http_status);
    if (h->oauth_token_rejected(x->call, TOKEN_NAME, cause) == C360_OK) {
        h->call_retry_after(x->call, 1000);
        h->call_error(x->call, "a newer LinkedIn token is stored; retrying");
        return C360_RETRY;
    }
    return dead(x, CAUSE_DEAD);
}

void li_refresh_warning(li_ctx *x, char *cause, size_t cap)
{
    const c360_host_api *h = x->host;
    uint8_t *v = NULL;
    size_t len = 0;
    int64_t now = h->now_ms(), consent;
    cause[0] = '\0';
    if (h->state_get(x->call, "consent_at_ms", &v, &len, NULL) == C360_OK) {
        consent = strtoll((const char *)v, NULL, 10);
        h->free(v);
    } else {
        /* Connected before this was recorded: counted from now, the latest
         * it can be. */
        char b[24];
        consent = now;
        snprintf(b, sizeof b, "%lld", (long long)now);
        h->state_set(x->call, "consent_at_ms", b, strlen(b), 0, NULL);
    }
    int64_t end = consent + LI_REFRESH_TTL_MS;
    if (consent <= 0 || now < end - LI_REFRESH_WARN_MS) return;
    char day[32];
    li_rfc3339(end / 1000, day);
    day[10] = '\0';
    snprintf(cause, cap, "LinkedIn authorisation expires on %s (365 days after consent): "
             "connect again with OAuth before then", day);
    h->log(x->call, C360_LOG_WARN, "the LinkedIn refresh token expires on %s", day);
}

int32_t li_oauth_connect(c360_call *call, void *pd, void *id, c360_oauth_connect *out)
{
    li_plugin *p = pd;
    li_conn *c = id;
    const c360_host_api *h = p->host;
    if (out->struct_size < offsetof(c360_oauth_connect, host_secret) + sizeof out->host_secret) {
        h->call_error(call, "this host is too old for LinkedIn OAuth connect");
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
    /* Called when the flow starts and again when LinkedIn sends the
     * customer back: the second write is the consent's time. */
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)h->now_ms());
    h->state_set(call, "consent_at_ms", b, strlen(b), 0, NULL);
    out->pkce = 0;
    out->authorize_url = c->authorize_url;
    out->client_id = c->cfg.client_id;
    out->scope = SCOPES;
    out->token_url = c->token_url;
    out->client_secret = (const char *)secret;
    out->auth = C360_OAUTH_AUTH_BODY;
    out->refresh_margin_s = REFRESH_MARGIN_S;
    out->token_name = TOKEN_NAME;
    out->host_secret = secret;
    return C360_OK;
}

static const char *lead_type(int kind)
{
    return kind == LI_SPONSORED ? "SPONSORED" : "COMPANY";
}

void li_subscribe(li_ctx *x)
{
    const c360_host_api *h = x->host;
    const li_cfg *cfg = &x->c->cfg;
    if (cfg->webhook_url[0] == '\0') return;
    for (size_t i = 0; i < cfg->nowners; i++) {
        const li_owner *o = &cfg->owners[i];
        char key[96], urn[96], body[1024], rid[128];
        uint8_t *v = NULL;
        size_t len = 0;
        if (!li_owner_proven(x, o)) continue; /* li_proof.c */
        snprintf(key, sizeof key, "sub:%s:%s", o->kind == LI_SPONSORED ? "sa" : "org", o->id);
        if (h->state_get(x->call, key, &v, &len, NULL) == C360_OK) {
            h->free(v);
            continue;
        }
        li_owner_urn(o, urn, sizeof urn);
        snprintf(body, sizeof body,
                 "{\"webhook\":\"%s\",\"owner\":{\"%s\":\"%s\"},\"leadType\":\"%s\"}",
                 cfg->webhook_url, li_owner_field(o->kind), urn, lead_type(o->kind));
        json_t *out = NULL;
        li_req r = {.method = "POST", .path = "leadNotifications", .json = body};
        int32_t st = li_api(x, &r, &out, rid, sizeof rid);
        if (st == C360_OK && rid[0] == '\0') {
            const json_t *idv = json_object_get(out, "id");
            if (json_is_string(idv)) snprintf(rid, sizeof rid, "%s", json_string_value(idv));
            else if (json_is_integer(idv)) snprintf(rid, sizeof rid, "%lld", (long long)json_integer_value(idv));
        }
        json_decref(out);
        bool ok = st == C360_OK && rid[0] != '\0' && strlen(rid) < 100 &&
                  strspn(rid, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_:") == strlen(rid);
        if (ok) h->state_set(x->call, key, rid, strlen(rid), 0, NULL);
        h->log(x->call, ok ? C360_LOG_INFO : C360_LOG_WARN, "lead notifications of %s %s", urn,
               ok ? "subscribed" : "could not be subscribed");
        if (st == C360_EAUTH) return;
    }
}

/* POST {oauth}/oauth/v2/revoke: client_id, client_secret, token. */
static bool revoke(li_ctx *x)
{
    const c360_host_api *h = x->host;
    char *tok = NULL;
    c360_oauth_params p;
    int64_t exp = 0;
    fill_params(x, &p);
    if (h->oauth_token(x->call, &p, &tok, &exp) != C360_OK) return false;
    size_t cap = strlen(tok) * 3 + x->c->app->secret_len * 3 + 256;
    char *form = calloc(1, cap);
    bool ok = form != NULL;
    if (ok) {
        snprintf(form, cap, "client_id=%s&client_secret=", x->c->cfg.client_id);
        ok = li_urlenc_cat(form, cap, (const char *)x->c->app->secret);
        if (ok) strncat(form, "&token=", cap - strlen(form) - 1);
        ok = ok && li_urlenc_cat(form, cap, tok);
    }
    h->secret_free(tok);
    if (!ok) {
        free(form);
        return false;
    }
    c360_header hdr[2] = {{"content-type", "application/x-www-form-urlencoded"},
                          {"accept", "application/json"}};
    c360_http_request req = {.struct_size = sizeof req, .header_count = 2, .method = "POST",
                             .url = x->c->revoke_url, .headers = hdr,
                             .body = (const uint8_t *)form, .body_len = strlen(form),
                             .timeout_ms = 15000, .max_response_bytes = 65536};
    c360_http_response *resp = NULL;
    int32_t st = h->http(x->call, &req, &resp);
    volatile char *w = form;
    for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    free(form);
    if (st != C360_OK) return false;
    ok = resp->status >= 200 && resp->status < 300;
    h->http_free(resp);
    return ok;
}

int32_t li_disconnect(c360_call *call, void *pd, void *id)
{
    li_ctx x = {pd, id, call, ((li_plugin *)pd)->host};
    const c360_host_api *h = x.host;
    const li_cfg *cfg = &x.c->cfg;
    size_t ok = 0, tried = 0;
    for (size_t i = 0; i < cfg->nowners; i++) {
        const li_owner *o = &cfg->owners[i];
        char key[96], path[160];
        uint8_t *v = NULL;
        size_t len = 0;
        snprintf(key, sizeof key, "sub:%s:%s", o->kind == LI_SPONSORED ? "sa" : "org", o->id);
        if (h->state_get(call, key, &v, &len, NULL) != C360_OK) continue;
        tried++;
        snprintf(path, sizeof path, "leadNotifications/");
        bool fits = li_urlenc_cat(path, sizeof path, (const char *)v);
        h->free(v);
        json_t *out = NULL;
        li_req r = {.method = "DELETE", .path = path, .quiet_auth = true};
        int32_t st = fits ? li_api(&x, &r, &out, NULL, 0) : C360_ERROR;
        json_decref(out);
        if (st == C360_OK || st == C360_ENOTFOUND) {
            ok++;
            h->state_delete(call, key);
        }
    }
    bool revoked = revoke(&x);
    bool fine = ok == tried && revoked;
    h->call_error(call, "removed %zu of %zu lead notification subscriptions; token %s", ok,
                  tried, revoked ? "revoked" : "not revoked");
    h->log(call, fine ? C360_LOG_INFO : C360_LOG_WARN,
           "disconnect: removed %zu of %zu lead notification subscriptions; token %s", ok, tried,
           revoked ? "revoked" : "not revoked");
    return fine ? C360_OK : C360_ERROR;
}
