/* meta_tokens.c -- the tokens of a Meta connection:
 *
 *  - page tokens, secrets "page_token:<page id>": pasted by the customer,
 *    or read from GET /me/accounts with the user token;
 *  - the long-lived user token, secret "user_token": pasted, or made from
 *    the OAuth connect token (token name "user", kept by the host) with
 *    grant_type=fb_exchange_token. It reads page tokens, ads insights, and
 *    revokes the permissions at disconnect;
 *  - OAuth connect (ABI 1.3): the Facebook Login dialog and token endpoint.
 *
 * After OAuth connect the plugin notices a new "user" token (its SHA-256
 * fingerprint differs from state "oauth_fp") on the next tick or event
 * that needs a token, exchanges it, stores the page tokens of the
 * configured pages and subscribes those pages to the app (leadgen, feed).
 * The host's copy of the OAuth token has no refresh token and expires
 * (Meta gives none), so the plugin asks the host for it only while it may
 * still be alive ("oauth_exp") or when it needs a new one (a page without
 * a token, or state "need_oauth" after a code 190): asking for an expired
 * one would mark the connection for re-authorisation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define SCOPES                                                              \
    "pages_show_list,pages_read_engagement,pages_manage_metadata,"          \
    "leads_retrieval,ads_read,instagram_basic,instagram_manage_comments"
#define ACCOUNT_PAGES_MAX 20

void meta_token_free(meta_ctx *x, char *tok)
{
    (void)x;
    if (tok == NULL) return;
    volatile char *w = tok;
    for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    free(tok);
}

int32_t meta_secret_text(const c360_host_api *h, c360_call *call, const char *name,
                         uint8_t **v, size_t *len)
{
    int32_t st = h->secret_get(call, name, v, len);
    if (st != C360_OK) return st;
    /* The one trim of every secret read as text (app secret, tokens): a
     * secret pasted with a newline must sign, prove and exchange alike. */
    *len = meta_trim(*v, *len);
    if (*len == 0) {
        h->secret_free(*v);
        *v = NULL;
        return C360_ENOTFOUND;
    }
    return C360_OK;
}

/* A token secret, trimmed. C360_ENOTFOUND also for an empty or unusable
 * value. */
int32_t meta_token_secret(meta_ctx *x, const char *name, char **tok)
{
    uint8_t *v = NULL;
    size_t len = 0;
    *tok = NULL;
    int32_t st = meta_secret_text(x->host, x->call, name, &v, &len);
    if (st != C360_OK) return st;
    bool ok = len <= META_TOKEN_MAX;
    for (size_t i = 0; ok && i < len; i++) ok = v[i] > 0x20 && v[i] < 0x7f;
    if (!ok) {
        x->host->secret_free(v);
        x->host->log(x->call, C360_LOG_WARN, "secret %s is not a usable token", name);
        return C360_ENOTFOUND;
    }
    /* A plain copy (meta.h says why); secret_get NUL-terminated it. */
    *tok = strdup((const char *)v);
    x->host->secret_free(v);
    return *tok != NULL ? C360_OK : C360_ENOMEM;
}

int32_t meta_user_token(meta_ctx *x, char **tok)
{
    return meta_token_secret(x, "user_token", tok);
}

static int32_t state_str(meta_ctx *x, const char *key, char *out, size_t cap)
{
    uint8_t *v = NULL;
    size_t len = 0;
    out[0] = '\0';
    int32_t st = x->host->state_get(x->call, key, &v, &len, NULL);
    if (st != C360_OK) return st;
    snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), (const char *)v);
    x->host->free(v);
    return C360_OK;
}

static void state_put(meta_ctx *x, const char *key, const char *val, uint32_t ttl_ms)
{
    x->host->state_set(x->call, key, val, strlen(val), ttl_ms, NULL);
}

/* Subscribes the app to the page's leadgen and feed webhooks. */
static int32_t subscribe(meta_ctx *x, const char *page, const char *tok)
{
    char path[64];
    json_t *out = NULL;
    snprintf(path, sizeof path, "%s/subscribed_apps", page);
    meta_gr r = {.method = "POST", .path = path, .token = tok, .object = page,
                 .query = "subscribed_fields=leadgen%2Cfeed"};
    int32_t st = meta_graph(x, &r, &out, NULL);
    json_decref(out);
    x->host->log(x->call, st == C360_OK ? C360_LOG_INFO : C360_LOG_WARN,
                 "page %s %s to the app's leadgen and feed webhooks", page,
                 st == C360_OK ? "subscribed" : "could not be subscribed");
    return st;
}

/* Page tokens of the configured pages from GET /me/accounts. */
static int32_t read_accounts(meta_ctx *x, const char *user_tok, size_t *stored)
{
    char query[512] = "fields=id%2Caccess_token&limit=100";
    *stored = 0;
    for (int page = 0; page < ACCOUNT_PAGES_MAX; page++) {
        json_t *out = NULL;
        meta_gr r = {.path = "me/accounts", .query = query, .token = user_tok};
        int32_t st = meta_graph(x, &r, &out, NULL);
        if (st != C360_OK) return st;
        const json_t *data = json_object_get(out, "data");
        for (size_t i = 0; i < json_array_size(data); i++) {
            const json_t *a = json_array_get(data, i);
            meta_id pid;
            const char *tok = meta_str(a, "access_token");
            if (!meta_id_from_json(json_object_get(a, "id"), false, pid) || tok == NULL ||
                strlen(tok) > META_TOKEN_MAX || !meta_in(x->c->cfg.pages, x->c->cfg.npages, pid))
                continue;
            char name[64];
            meta_key(name, sizeof name, "page_token:", pid);
            st = x->host->secret_put(x->call, name, tok, strlen(tok));
            if (st != C360_OK) {
                json_decref(out);
                return st;
            }
            (*stored)++;
            subscribe(x, pid, tok);
        }
        const json_t *paging = json_object_get(out, "paging");
        const char *after = meta_str(json_object_get(paging, "cursors"), "after");
        bool more = json_object_get(paging, "next") != NULL && after != NULL;
        if (more) {
            snprintf(query, sizeof query, "fields=id%%2Caccess_token&limit=100&after=");
            more = meta_urlenc_cat(query, sizeof query, after);
        }
        json_decref(out);
        if (!more) return C360_OK;
    }
    return C360_OK;
}

/* The OAuth token -> long-lived user token, user id, page tokens. */
static int32_t process_oauth(meta_ctx *x, const char *tok, const char *fp, int64_t exp_ms)
{
    const c360_host_api *h = x->host;
    uint8_t *secret = NULL;
    size_t slen = 0;
    int32_t st = meta_secret_text(h, x->call, "app_secret", &secret, &slen);
    if (st != C360_OK) {
        h->call_error(x->call, "the secret app_secret is missing");
        return st == C360_ENOTFOUND ? C360_ERROR : st;
    }
    /* POST, so that the secret and the token travel in the body, not in a
     * URL that a proxy might log. */
    size_t cap = strlen(tok) * 3 + slen * 3 + 256;
    char *form = calloc(1, cap);
    if (form == NULL) {
        h->secret_free(secret);
        return C360_ENOMEM;
    }
    snprintf(form, cap, "grant_type=fb_exchange_token&client_id=%s&client_secret=",
             x->c->cfg.app_id);
    bool fits = meta_urlenc_cat(form, cap, (const char *)secret);
    fits = fits && strlen(form) + sizeof "&fb_exchange_token=" < cap;
    if (fits) {
        strcat(form, "&fb_exchange_token=");
        fits = meta_urlenc_cat(form, cap, tok);
    }
    json_t *out = NULL;
    /* Both secrets the form carries are cut from whatever Meta answers. */
    const char *cuts[2] = {(const char *)secret, tok};
    meta_gr r = {.method = "POST", .path = "oauth/access_token", .form = form,
                 .cuts = cuts, .ncuts = 2};
    st = fits ? meta_graph(x, &r, &out, NULL) : C360_ERROR;
    h->secret_free(secret);
    volatile char *w = form;
    for (size_t i = 0; i < cap; i++) w[i] = 0;
    free(form);
    if (st != C360_OK) return st;
    const char *ll = meta_str(out, "access_token");
    if (ll == NULL || strlen(ll) > META_TOKEN_MAX) {
        json_decref(out);
        h->call_error(x->call, "the token exchange answered without an access token");
        return C360_RETRY;
    }
    st = h->secret_put(x->call, "user_token", ll, strlen(ll));
    if (st != C360_OK) {
        json_decref(out);
        return st;
    }

    json_t *me = NULL;
    meta_gr mr = {.path = "me", .query = "fields=id", .token = ll};
    meta_id uid;
    if (meta_graph(x, &mr, &me, NULL) == C360_OK &&
        meta_id_from_json(json_object_get(me, "id"), false, uid))
        state_put(x, "user_id", uid, 0);
    json_decref(me);

    size_t stored = 0;
    st = read_accounts(x, ll, &stored);
    json_decref(out);
    if (st != C360_OK) return st;
    char expbuf[24];
    snprintf(expbuf, sizeof expbuf, "%lld", exp_ms > 0 ? (long long)exp_ms : -1LL);
    state_put(x, "oauth_fp", fp, 0);
    state_put(x, "oauth_exp", expbuf, 0);
    h->state_delete(x->call, "need_oauth");
    char outcome[32];
    snprintf(outcome, sizeof outcome, "ok:%zu", stored);
    h->audit(x->call, "meta.connect_pages", "page_tokens", outcome);
    h->log(x->call, C360_LOG_INFO,
           "OAuth login processed: long-lived user token and %zu of %zu page tokens stored",
           stored, x->c->cfg.npages);
    return C360_OK;
}

static bool pages_missing(meta_ctx *x)
{
    for (size_t i = 0; i < x->c->cfg.npages; i++) {
        char name[64], *tok = NULL;
        meta_key(name, sizeof name, "page_token:", x->c->cfg.pages[i]);
        int32_t st = meta_token_secret(x, name, &tok);
        meta_token_free(x, tok);
        if (st == C360_ENOTFOUND) return true;
    }
    return false;
}

/* The OAuth step of a refresh. *oauth: 1 a login is stored, 0 none. */
static int32_t from_oauth(meta_ctx *x, bool missing, bool need, int *oauth)
{
    const c360_host_api *h = x->host;
    c360_oauth_params pr = {
        .struct_size = sizeof pr, .grant = C360_GRANT_REFRESH_TOKEN,
        .auth = C360_OAUTH_AUTH_BODY, .refresh_margin_s = 1,
        .token_url = x->c->token_url, .client_id = x->c->cfg.app_id,
        .client_secret = (const char *)x->c->app->secret, .token_name = "user"};
    char *tok = NULL;
    int64_t texp = 0;
    int32_t st = h->oauth_token(x->call, &pr, &tok, &texp);
    *oauth = st != C360_ENOTFOUND;
    if (st == C360_OK) {
        uint8_t dig[32];
        char hex[65], old[META_FP_LEN + 1];
        h->sha256(tok, strlen(tok), dig);
        meta_hex(dig, sizeof dig, hex);
        hex[META_FP_LEN] = '\0';
        bool known = state_str(x, "oauth_fp", old, sizeof old) == C360_OK &&
                     strcmp(old, hex) == 0;
        /* A login already processed is not processed again for a page it
         * did not grant: that page stays without a token (and failing). */
        if (!known || need) st = process_oauth(x, tok, hex, texp);
        h->secret_free(tok);
        return st;
    }
    if (st == C360_EAUTH) {
        if (!missing && !need) return C360_OK; /* the page tokens still work */
        h->connection_status(x->call, C360_CONN_NEEDS_REAUTH,
                             "Meta login expired: connect again with OAuth");
        h->call_error(x->call, "Meta login expired: connect again with OAuth");
        return C360_EAUTH;
    }
    if (st == C360_ENOTFOUND) {
        /* Not connected by OAuth: new tokens come as secrets, so there is
         * no login to wait for. */
        if (need) h->state_delete(x->call, "need_oauth");
        return C360_OK;
    }
    return st; /* transient: retried */
}

int32_t meta_tokens_refresh(meta_ctx *x)
{
    const c360_host_api *h = x->host;
    char buf[80];
    x->refreshed = true;
    meta_cache_tokens_drop(x->c);
    bool missing = pages_missing(x);
    bool need = state_str(x, "need_oauth", buf, sizeof buf) == C360_OK;
    /* oauth_exp: when the last processed OAuth token expires (-1: never).
     * Asking the host for an expired one would mark the connection for
     * re-authorisation, so it is asked only while it may be alive, or
     * when a new login is needed. */
    int64_t exp = state_str(x, "oauth_exp", buf, sizeof buf) == C360_OK ? strtoll(buf, NULL, 10) : 0;
    bool alive = exp == -1 || exp > h->now_ms() + 60000;
    if (!missing && !need && !alive) return C360_OK;

    /* One refresh per connection at a time, across processes. */
    if (h->state_cas(x->call, "token_lock", "1", 1, 0, 60000, NULL) == C360_ECONFLICT) {
        h->call_retry_after(x->call, 5000);
        h->call_error(x->call, "page tokens are being fetched; retrying");
        return C360_RETRY;
    }
    int oauth = 0;
    int32_t st = from_oauth(x, missing, need, &oauth);
    if (st == C360_OK && !oauth && missing) {
        /* No OAuth login: a pasted long-lived user token still gives the
         * page tokens. */
        char *user = NULL;
        if (meta_user_token(x, &user) == C360_OK) {
            size_t stored = 0;
            st = read_accounts(x, user, &stored);
            meta_token_free(x, user);
        }
    }
    h->state_delete(x->call, "token_lock");
    return st;
}

int32_t meta_page_token(meta_ctx *x, const char *page_id, char **tok)
{
    char name[64], buf[8];
    int32_t st;
    *tok = NULL;
    /* After a code 190 the stored page tokens are suspect: a new login
     * (OAuth connect again) replaces them before any is used, so that an
     * old one cannot mark the fresh login dead. */
    meta_conn *c = x->c;
    int64_t now = x->host->monotonic_ms();
    size_t pi = META_MAX_PAGES;
    for (size_t i = 0; i < c->cfg.npages; i++)
        if (strcmp(c->cfg.pages[i], page_id) == 0) pi = i;
    /* This process's copies (meta_cache.c): fresh while no re-login was
     * pending a moment ago. */
    if (!x->refreshed && meta_cache_oauth_ok(c, now) &&
        (*tok = meta_cache_token(c, pi, now)) != NULL)
        return C360_OK;
    if (!x->refreshed) {
        if (state_str(x, "need_oauth", buf, sizeof buf) == C360_OK) {
            if ((st = meta_tokens_refresh(x)) != C360_OK) return st;
        } else {
            meta_cache_oauth_ok_set(c, now);
        }
    }
    meta_key(name, sizeof name, "page_token:", page_id);
    st = meta_token_secret(x, name, tok);
    if (st == C360_OK && !x->refreshed) meta_cache_token_put(c, pi, *tok, now);
    if (st != C360_ENOTFOUND || x->refreshed) return st;
    if ((st = meta_tokens_refresh(x)) != C360_OK) return st;
    return meta_token_secret(x, name, tok);
}

int32_t meta_token_rejected(meta_ctx *x, const meta_err *e)
{
    const c360_host_api *h = x->host;
    char cause[96], fp[META_FP_LEN + 1];
    snprintf(cause, sizeof cause, "Meta token invalid (code 190/%lld)", (long long)e->subcode);
    meta_cache_tokens_drop(x->c);
    state_put(x, "need_oauth", "1", 0);
    if (state_str(x, "oauth_fp", fp, sizeof fp) == C360_OK &&
        h->oauth_token_rejected(x->call, "user", cause) == C360_OK) {
        /* The customer connected again meanwhile: fetch the new tokens. */
        h->call_retry_after(x->call, 1000);
        h->call_error(x->call, "a newer Meta login is stored; retrying");
        return C360_RETRY;
    }
    h->connection_status(x->call, C360_CONN_NEEDS_REAUTH, cause);
    h->audit(x->call, "meta.token_rejected", "token", "error:190");
    h->call_error(x->call, "%s: connect again with OAuth, or store new tokens and "
                  "pause and resume the connection", cause);
    return C360_EAUTH;
}

int32_t meta_oauth_connect(c360_call *call, void *pd, void *id, c360_oauth_connect *out)
{
    meta_plugin *p = pd;
    meta_conn *c = id;
    const c360_host_api *h = p->host;
    if (out->struct_size < offsetof(c360_oauth_connect, host_secret) + sizeof out->host_secret) {
        h->call_error(call, "this host is too old for Meta OAuth connect");
        return C360_EUNSUPPORTED;
    }
    uint8_t *secret = NULL;
    size_t len = 0;
    int32_t st = meta_secret_text(h, call, "app_secret", &secret, &len);
    if (st == C360_ENOTFOUND) {
        h->call_error(call, "store the secret app_secret first");
        return C360_EINVAL;
    }
    if (st != C360_OK) return st;
    out->authorize_url = c->authorize_url;
    out->client_id = c->cfg.app_id;
    out->scope = SCOPES;
    out->token_url = c->token_url;
    out->client_secret = (const char *)secret;
    out->auth = C360_OAUTH_AUTH_BODY;
    out->refresh_margin_s = 1;
    out->token_name = "user";
    out->host_secret = secret; /* the host frees it after copying */
    return C360_OK;
}

int32_t meta_disconnect(c360_call *call, void *pd, void *id)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, true};
    const c360_host_api *h = x.host;
    size_t ok = 0, tried = 0;
    for (size_t i = 0; i < x.c->cfg.npages; i++) {
        char name[64], path[64], *tok = NULL;
        const char *page = x.c->cfg.pages[i];
        meta_key(name, sizeof name, "page_token:", page);
        if (meta_token_secret(&x, name, &tok) != C360_OK) continue;
        tried++;
        snprintf(path, sizeof path, "%s/subscribed_apps", page);
        json_t *out = NULL;
        meta_gr r = {.method = "DELETE", .path = path, .token = tok, .object = page,
                     .quiet_auth = true};
        if (meta_graph(&x, &r, &out, NULL) == C360_OK) ok++;
        json_decref(out);
        meta_token_free(&x, tok);
    }
    const char *revoked = "no user token to revoke";
    char *user = NULL;
    if (meta_user_token(&x, &user) == C360_OK) {
        char uid[META_ID_MAX + 1], path[64];
        json_t *out = NULL;
        if (state_str(&x, "user_id", uid, sizeof uid) != C360_OK) {
            meta_gr mr = {.path = "me", .query = "fields=id", .token = user, .quiet_auth = true};
            if (meta_graph(&x, &mr, &out, NULL) != C360_OK ||
                !meta_id_from_json(json_object_get(out, "id"), false, uid))
                uid[0] = '\0';
            json_decref(out);
            out = NULL;
        }
        revoked = "permissions not revoked";
        if (uid[0] != '\0') {
            snprintf(path, sizeof path, "%s/permissions", uid);
            meta_gr r = {.method = "DELETE", .path = path, .token = user, .quiet_auth = true};
            if (meta_graph(&x, &r, &out, NULL) == C360_OK) revoked = "permissions revoked";
            json_decref(out);
        }
        meta_token_free(&x, user);
    }
    bool fine = ok == tried && strcmp(revoked, "permissions not revoked") != 0;
    h->call_error(call, "unsubscribed %zu of %zu pages with a token; %s", ok, tried, revoked);
    h->log(call, fine ? C360_LOG_INFO : C360_LOG_WARN,
           "disconnect: unsubscribed %zu of %zu pages with a token; %s", ok, tried, revoked);
    return fine ? C360_OK : C360_ERROR;
}
