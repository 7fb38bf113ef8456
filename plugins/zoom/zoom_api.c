/* zoom_api.c -- the Server-to-Server OAuth token and one REST call, the
 * way every call of the plugin is made:
 *
 *  1. the token: host->oauth_token with grant account_credentials (HTTP
 *     Basic client_id:client_secret, account_id): the host fetches one
 *     when none is stored or when under 60 s (refresh_margin_s) remain,
 *     once across every host. invalid_client and the like are dead
 *     grants: C360_EAUTH, the connection needs re-authorisation.
 *  2. the budget: the account's bucket (C360_RL_TENANT, "acct:<id>"): a
 *     local guard; Zoom's real limits arrive as 429s.
 *  3. the request: {api}/{path}?{query}, the token in the Authorization
 *     header (never in a URL or a log line).
 *  4. the outcome: 429 with X-RateLimit-Type QPS -> short backoff
 *     (Retry-After, at least 1 s); Daily-limit -> Retry-After or the next
 *     UTC midnight; either is reported to the bucket so every host waits.
 *     401 -> host->oauth_token_rejected (a newer token: retry; else needs
 *     re-authorisation). 5xx -> retry. 404 -> C360_ENOTFOUND. The rest is
 *     permanent, with an excerpt of Zoom's message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "zoom.h"

#define URL_MAX 2048
#define MAX_BYTES (4u << 20)
#define QPS_MIN_MS 1000
#define DEAD_RETRY_MS 5000     /* least time between new grants of a dead one */

static const c360_rl_limit acct_budget = {sizeof(c360_rl_limit), 20, 1000, 20};

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int32_t client_secret(zoom_ctx *x, uint8_t **v, size_t *len)
{
    int32_t st = x->host->secret_get(x->call, "client_secret", v, len);
    if (st != C360_OK) return st;
    while (*len > 0 && ((*v)[*len - 1] == '\n' || (*v)[*len - 1] == '\r' || (*v)[*len - 1] == ' '))
        (*v)[--*len] = '\0';
    if (*len == 0) {
        x->host->secret_free(*v);
        *v = NULL;
        return C360_ENOTFOUND;
    }
    return C360_OK;
}

int32_t zoom_token(zoom_ctx *x, char **tok)
{
    const c360_host_api *h = x->host;
    uint8_t *cs = NULL;
    size_t cl = 0;
    *tok = NULL;
    int32_t st = client_secret(x, &cs, &cl);
    if (st == C360_ENOTFOUND) {
        h->call_retry_after(x->call, 60000);
        h->call_error(x->call, "store the connection secret client_secret");
        return C360_RETRY;
    }
    if (st != C360_OK) return st;
    char url[ZOOM_URL_MAX + 32];
    snprintf(url, sizeof url, "%s/oauth/token", x->p->oauth_url);
    c360_oauth_params prm = {
        .struct_size = sizeof prm,
        .grant = C360_GRANT_ACCOUNT_CREDENTIALS,
        .auth = C360_OAUTH_AUTH_BASIC,
        .refresh_margin_s = 60,
        .token_url = url,
        .client_id = x->c->cfg.client_id,
        .client_secret = (const char *)cs,
        .account_id = x->c->cfg.account_id,
    };
    int64_t exp = 0;
    st = h->oauth_token(x->call, &prm, tok, &exp);
    if (st == C360_EAUTH) {
        /* The grant is dead (the host makes no endpoint call for it any
         * more). Work of a needs_reauth connection is held, so this runs
         * again only once the customer resumed the connection (after
         * storing a new client_secret or mending the app) or asked for a
         * sync: then one new grant is tried, at most every
         * DEAD_RETRY_MS; a successful exchange clears the dead mark. */
        uint8_t *v = NULL;
        size_t vl = 0;
        int64_t now = h->now_ms(), last = 0;
        if (h->state_get(x->call, "dead_try_ms", &v, &vl, NULL) == C360_OK) {
            last = strtoll((const char *)v, NULL, 10);
            h->free(v);
        } else {
            last = now; /* oauth_token has just been refused by the endpoint */
        }
        char nb[24];
        snprintf(nb, sizeof nb, "%lld", (long long)now);
        if (now - last >= DEAD_RETRY_MS) {
            h->state_set(x->call, "dead_try_ms", nb, strlen(nb), 0, NULL);
            if (h->oauth_exchange(x->call, &prm) == C360_OK)
                st = h->oauth_token(x->call, &prm, tok, &exp);
        } else if (last == now) {
            h->state_set(x->call, "dead_try_ms", nb, strlen(nb), 0, NULL);
        }
    }
    h->secret_free(cs);
    if (st == C360_OK) {
        h->state_set(x->call, "token_used", "1", 1, 0, NULL);
        h->state_delete(x->call, "dead_try_ms");
        return C360_OK;
    }
    /* The host set the call's error (no secret in it). */
    if (st == C360_EAUTH) {
        static const char cause[] =
            "Zoom refused the app credentials (client id or secret invalid, or the app "
            "deactivated): store the app's current client_secret and resume the connection";
        h->connection_status(x->call, C360_CONN_NEEDS_REAUTH, cause);
        h->call_error(x->call, "%s", cause);
        h->log(x->call, C360_LOG_WARN, "Zoom refused the app credentials: needs re-authorisation");
        return C360_EAUTH;
    }
    if (st == C360_EIO || st == C360_ETIMEOUT || st == C360_RETRY) {
        h->call_retry_after(x->call, 0);
        return C360_RETRY;
    }
    return st;
}

static void proof_fp(zoom_ctx *x, const uint8_t *cs, size_t cl, char out[ZOOM_FP_LEN + 1])
{
    const zoom_cfg *cfg = &x->c->cfg;
    size_t a = strlen(cfg->account_id), b = strlen(cfg->client_id);
    uint8_t *m = malloc(a + b + cl + 3);
    uint8_t dig[32];
    char hex[65];
    out[0] = '\0';
    if (m == NULL) return;
    memcpy(m, cfg->account_id, a);
    m[a] = '\n';
    memcpy(m + a + 1, cfg->client_id, b);
    m[a + 1 + b] = '\n';
    memcpy(m + a + b + 2, cs, cl);
    x->host->sha256(m, a + b + 2 + cl, dig);
    memset(m, 0, a + b + cl + 2);
    free(m);
    zoom_hex(dig, sizeof dig, hex);
    memcpy(out, hex, ZOOM_FP_LEN);
    out[ZOOM_FP_LEN] = '\0';
}

static void register_key(zoom_ctx *x, bool on)
{
    zoom_conn *c = x->c;
    const c360_host_api *h = x->host;
    pthread_mutex_lock(&c->reg_lock);
    if (c->registered != (on ? 1 : 0)) {
        const char *kp[1] = {c->route_key};
        int32_t st = h->instance_route_keys(x->call, kp, on ? 1 : 0);
        if (st == C360_OK) {
            c->registered = on ? 1 : 0;
            h->log(x->call, C360_LOG_INFO, "routing key %s", on ? "registered: account proven"
                                                                : "dropped: account not proven");
        } else {
            h->log(x->call, C360_LOG_WARN, "routing keys not registered: %s", c360_strstatus(st));
        }
    }
    pthread_mutex_unlock(&c->reg_lock);
}

int32_t zoom_prove(zoom_ctx *x, bool network, bool reg, char *cause, size_t cap)
{
    const c360_host_api *h = x->host;
    zoom_conn *c = x->c;
    uint8_t *cs = NULL, *v = NULL;
    size_t cl = 0, vl = 0;
    int32_t st = client_secret(x, &cs, &cl), res = C360_OK;
    if (cause != NULL && cap > 0) cause[0] = '\0';
    int proven = 0;
    if (st == C360_ENOTFOUND) {
        if (cause != NULL) snprintf(cause, cap, "store the connection secret client_secret");
    } else if (st != C360_OK) {
        res = st;
        proven = c->proven; /* the store failed: keep what was known */
    } else {
        char fp[ZOOM_FP_LEN + 1];
        proof_fp(x, cs, cl, fp);
        if (fp[0] != '\0' && h->state_get(x->call, "proof:acct", &v, &vl, NULL) == C360_OK) {
            proven = vl == strlen(fp) && memcmp(v, fp, vl) == 0;
            h->free(v);
        }
        if (!proven && network && fp[0] != '\0' && h->call_time_left_ms(x->call) >= 10000) {
            /* A grant now, with this connection's credentials and account:
             * a token stored earlier (another account id, other
             * credentials) proves nothing. */
            char url[ZOOM_URL_MAX + 32];
            snprintf(url, sizeof url, "%s/oauth/token", x->p->oauth_url);
            c360_oauth_params prm = {
                .struct_size = sizeof prm,
                .grant = C360_GRANT_ACCOUNT_CREDENTIALS,
                .auth = C360_OAUTH_AUTH_BASIC,
                .refresh_margin_s = 60,
                .token_url = url,
                .client_id = c->cfg.client_id,
                .client_secret = (const char *)cs,
                .account_id = c->cfg.account_id,
            };
            st = h->oauth_exchange(x->call, &prm);
            if (st == C360_OK) {
                proven = 1;
                h->state_set(x->call, "proof:acct", fp, strlen(fp), ZOOM_PROOF_TTL_MS, NULL);
            } else if (st == C360_EAUTH) {
                res = C360_EAUTH; /* dead credentials: zoom_token says so */
            } else if (st == C360_ERROR || st == C360_EINVAL) {
                if (cause != NULL)
                    snprintf(cause, cap,
                             "Zoom account %s: access not proven (this connection's "
                             "Server-to-Server app got no token for that account: is the app "
                             "installed in it?); its events are not received",
                             c->cfg.account_id);
            } else {
                res = st;
                proven = c->proven;
            }
        }
        if (!proven && cause != NULL && cap > 0 && cause[0] == '\0' && res != C360_EAUTH)
            snprintf(cause, cap, "Zoom account %s: access not proven yet", c->cfg.account_id);
    }
    if (cs != NULL) h->secret_free(cs);
    c->proven = proven;
    if (reg) register_key(x, proven != 0);
    return res;
}

static const char *header(const c360_http_response *r, const char *name)
{
    for (uint32_t i = 0; i < r->header_count; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

static int32_t take(zoom_ctx *x, const char *bucket)
{
    const c360_host_api *h = x->host;
    for (int tries = 0;; tries++) {
        uint32_t wait = 0;
        int32_t st = h->ratelimit_take(x->call, C360_RL_TENANT, bucket, &acct_budget, 1, &wait);
        if (st != C360_RETRY) return st;
        if (tries < 3 && wait <= 1500 && h->call_time_left_ms(x->call) > wait + 5000) {
            sleep_ms(wait);
            continue;
        }
        h->call_retry_after(x->call, wait);
        h->call_error(x->call, "waiting %u ms for the Zoom rate budget", wait);
        return C360_RETRY;
    }
}

/* Zoom's {"code":N,"message":"..."} as an excerpt. */
static void zoom_message(const c360_http_response *r, long long *code, char *msg, size_t cap)
{
    json_t *j = json_loadb((const char *)r->body, r->body_len, 0, NULL);
    *code = json_is_integer(json_object_get(j, "code")) ? json_integer_value(json_object_get(j, "code")) : 0;
    zoom_excerpt(zoom_str(j, "message") != NULL ? zoom_str(j, "message") : "", msg, cap);
    json_decref(j);
}

int32_t zoom_get(zoom_ctx *x, const char *path, const char *query, json_t **out)
{
    const c360_host_api *h = x->host;
    char bucket[ZOOM_ID_MAX + 8];
    *out = NULL;
    snprintf(bucket, sizeof bucket, "acct:%s", x->c->cfg.account_id);
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t st = take(x, bucket);
        if (st != C360_OK) return st;
        char *tok = NULL;
        if ((st = zoom_token(x, &tok)) != C360_OK) return st;
        char url[URL_MAX];
        int n = snprintf(url, sizeof url, "%s/%s%s%s", x->p->api_url, path,
                         query != NULL ? "?" : "", query != NULL ? query : "");
        size_t al = strlen(tok) + sizeof "Bearer ";
        char *auth = malloc(al);
        if (auth == NULL || n <= 0 || (size_t)n >= sizeof url) {
            free(auth);
            h->secret_free(tok);
            if (auth == NULL) return C360_ENOMEM;
            h->call_error(x->call, "Zoom API URL too long");
            return C360_ERROR;
        }
        snprintf(auth, al, "Bearer %s", tok);
        h->secret_free(tok);
        c360_header hdr[2] = {{"accept", "application/json"}, {"authorization", auth}};
        c360_http_request req = {.struct_size = sizeof req, .header_count = 2, .method = "GET",
                                 .url = url, .headers = hdr, .timeout_ms = 30000,
                                 .max_response_bytes = MAX_BYTES};
        c360_http_response *resp = NULL;
        st = h->http(x->call, &req, &resp);
        volatile char *w = auth;
        for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
        free(auth);
        if (st != C360_OK)
            return st == C360_ETOOBIG || st == C360_EDENIED || st == C360_EINVAL ? C360_ERROR : st;

        int status = resp->status;
        if (status >= 200 && status < 300) {
            *out = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
            h->http_free(resp);
            if (json_is_object(*out)) return C360_OK;
            json_decref(*out);
            *out = NULL;
            h->call_error(x->call, "Zoom answered %s without a JSON object", path);
            h->call_retry_after(x->call, 0);
            return C360_RETRY;
        }
        long long code;
        char msg[160];
        zoom_message(resp, &code, msg, sizeof msg);
        if (status == 429) {
            const char *type = header(resp, "x-ratelimit-type");
            int64_t ra = zoom_retry_after_ms(header(resp, "retry-after"), h->now_ms());
            bool daily = type != NULL && strncasecmp(type, "daily", 5) == 0;
            int64_t wait = ra >= 0 ? ra : daily ? zoom_ms_to_midnight(h->now_ms()) : QPS_MIN_MS;
            if (!daily && wait < QPS_MIN_MS) wait = QPS_MIN_MS;
            if (wait > 48LL * 3600 * 1000) wait = 48LL * 3600 * 1000;
            h->http_free(resp);
            h->ratelimit_report(x->call, C360_RL_TENANT, bucket, 100, (uint32_t)wait);
            h->call_retry_after(x->call, (uint32_t)wait);
            h->call_error(x->call, "Zoom rate limit (%s): retrying in %lld s",
                          daily ? "daily limit" : "QPS", (long long)((wait + 999) / 1000));
            return C360_RETRY;
        }
        h->http_free(resp);
        if (status == 401) {
            /* Token invalid or expired (code 124): a newer token may be
             * stored already (retried once here); otherwise the host marks
             * the connection as needing re-authorisation. */
            char why[256];
            snprintf(why, sizeof why, "Zoom answered 401 (code %lld): %.120s", code, msg);
            st = h->oauth_token_rejected(x->call, NULL, why);
            if (st == C360_OK && attempt == 0) continue;
            snprintf(why, sizeof why, "Zoom rejected the access token (code %lld): %.120s", code, msg);
            h->connection_status(x->call, C360_CONN_NEEDS_REAUTH, why);
            h->call_error(x->call, "%s", why);
            return C360_EAUTH;
        }
        if (status == 404) {
            h->call_error(x->call, "Zoom: %s not found (code %lld): %s", path, code, msg);
            return C360_ENOTFOUND;
        }
        if (status >= 500) {
            h->call_retry_after(x->call, 0);
            h->call_error(x->call, "Zoom API temporarily unavailable (HTTP %d)", status);
            return C360_RETRY;
        }
        h->call_error(x->call, "Zoom API error (HTTP %d, code %lld): %s", status, code, msg);
        return C360_ERROR;
    }
    return C360_RETRY;
}

/* Disconnect. Server-to-Server webhooks are configured in the Zoom app
 * (Marketplace), not subscribed through the API: there is nothing to
 * unsubscribe. The access token is revoked (POST {oauth}/oauth/revoke,
 * token=..., HTTP Basic), best effort, if this connection ever got one. */
int32_t zoom_disconnect(c360_call *call, void *pd, void *id)
{
    zoom_ctx x = {pd, id, call, ((zoom_plugin *)pd)->host};
    const c360_host_api *h = x.host;
    uint8_t *used = NULL;
    size_t ulen = 0;
    if (h->state_get(call, "token_used", &used, &ulen, NULL) != C360_OK) {
        h->call_error(call, "nothing to unsubscribe (webhooks belong to the Zoom app); no token to revoke");
        return C360_OK;
    }
    h->free(used);
    char *tok = NULL;
    uint8_t *cs = NULL;
    size_t cl = 0;
    if (zoom_token(&x, &tok) != C360_OK || client_secret(&x, &cs, &cl) != C360_OK) {
        if (tok != NULL) h->secret_free(tok);
        h->call_error(call, "nothing to unsubscribe (webhooks belong to the Zoom app); token not revoked");
        return C360_OK;
    }
    /* Basic client_id:client_secret */
    size_t il = strlen(x.c->cfg.client_id);
    char *pair = malloc(il + 1 + cl + 1);
    char *b64 = NULL;
    if (pair != NULL) {
        memcpy(pair, x.c->cfg.client_id, il);
        pair[il] = ':';
        memcpy(pair + il + 1, cs, cl);
        b64 = h->base64_encode(pair, il + 1 + cl, C360_B64_STANDARD);
        volatile char *w = pair;
        for (size_t i = 0; i < il + 1 + cl; i++) w[i] = 0;
        free(pair);
    }
    h->secret_free(cs);
    char *form = NULL, *auth = NULL;
    size_t fl = strlen(tok) * 3 + 8;
    if (b64 != NULL) {
        form = calloc(1, fl);
        auth = malloc(strlen(b64) + 8);
    }
    const char *outcome = "token not revoked";
    if (form != NULL && auth != NULL) {
        snprintf(form, fl, "token=");
        zoom_urlenc_cat(form, fl, tok);
        snprintf(auth, strlen(b64) + 8, "Basic %s", b64);
        char url[ZOOM_URL_MAX + 32];
        snprintf(url, sizeof url, "%s/oauth/revoke", x.p->oauth_url);
        c360_header hdr[3] = {{"accept", "application/json"},
                              {"content-type", "application/x-www-form-urlencoded"},
                              {"authorization", auth}};
        c360_http_request req = {.struct_size = sizeof req, .header_count = 3, .method = "POST",
                                 .url = url, .headers = hdr, .body = (const uint8_t *)form,
                                 .body_len = strlen(form), .timeout_ms = 15000,
                                 .max_response_bytes = 65536};
        c360_http_response *resp = NULL;
        if (h->http(call, &req, &resp) == C360_OK) {
            if (resp->status >= 200 && resp->status < 300) outcome = "token revoked";
            h->http_free(resp);
        }
    }
    if (form != NULL) {
        volatile char *w = form;
        for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    }
    if (auth != NULL) {
        volatile char *w = auth;
        for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    }
    free(form);
    free(auth);
    if (b64 != NULL) {
        volatile char *w = b64;
        for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
        h->free(b64);
    }
    h->secret_free(tok);
    h->call_error(call, "nothing to unsubscribe (webhooks belong to the Zoom app); %s", outcome);
    h->log(call, C360_LOG_INFO, "disconnect: %s", outcome);
    return C360_OK;
}
