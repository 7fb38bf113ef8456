/* zoom_plugin.c -- the "zoom" connector: descriptor, init, config, the
 * instances, and the webhook callbacks that run on the event loop.
 *
 * Webhooks come to ONE app-level URL, /hooks/zoom, for every tenant (a
 * Zoom app has one event notification endpoint). webhook_verify checks
 * x-zm-signature (v0, over the timestamp and the raw body, +-300 s)
 * against the secret tokens of the open connections (zoom_apps.c) and
 * answers endpoint.url_validation itself; webhook_route then routes by
 * payload.account_id to "acct:<account id>:<fp>", the key the
 * connections of that account registered under the secret token that
 * signed the event. Per-connection URLs (/hooks/zoom/<conn>) work too,
 * checked against that connection's own secret token.
 *
 * Base URLs: C360_ZOOM_API_URL (default https://api.zoom.us/v2) and
 * C360_ZOOM_OAUTH_URL (default https://zoom.us), read once at init. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoom.h"

#define ROUTE_APPS_MAX 8

static int32_t zoom_init(c360_call *call, const c360_host_api *host, void **pd)
{
    if (!C360_HOST_HAS(host, connection_status) || !C360_HOST_HAS(host, record_emit) ||
        !C360_HOST_HAS(host, instance_route_keys) || !C360_HOST_HAS(host, route_event)) {
        host->call_error(call, "the zoom plugin needs a host with the ABI 1.2 pipeline services");
        return C360_EUNSUPPORTED;
    }
    zoom_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) return C360_ENOMEM;
    p->host = host;
    p->crypto.hmac_sha256 = host->hmac_sha256;
    p->crypto.ct_equal = host->ct_equal;
    if (!c360kit_env_url("C360_ZOOM_API_URL", "https://api.zoom.us/v2", p->api_url, ZOOM_URL_MAX, call, host) ||
        !c360kit_env_url("C360_ZOOM_OAUTH_URL", "https://zoom.us", p->oauth_url, ZOOM_URL_MAX, call, host)) {
        free(p);
        return C360_EINVAL;
    }
    zoom_apps_init(&p->apps);
    *pd = p;
    return C360_OK;
}

static void zoom_fini(void *pd)
{
    zoom_plugin *p = pd;
    if (p == NULL) return;
    zoom_apps_destroy(&p->apps);
    free(p);
}

static int32_t zoom_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    zoom_plugin *p = pd;
    zoom_cfg cfg;
    c360kit_cfg_sink s = {p->host, call};
    return zoom_config_parse(json, len, &cfg, c360kit_cfg_error, &s) == 0 ? C360_OK : C360_EINVAL;
}

static void zoom_close(void *pd, void *id)
{
    zoom_plugin *p = pd;
    zoom_conn *c = id;
    if (c == NULL) return;
    zoom_apps_put(&p->apps, c->app);
    pthread_mutex_destroy(&c->reg_lock);
    free(c);
}

static int32_t zoom_open(c360_call *call, void *pd, c360_instance *inst, const char *json,
                         size_t len, void **idp)
{
    zoom_plugin *p = pd;
    const c360_host_api *h = p->host;
    zoom_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return C360_ENOMEM;
    c->inst = inst;
    c->registered = -1;
    pthread_mutex_init(&c->reg_lock, NULL);
    if (zoom_config_parse(json, len, &c->cfg, NULL, NULL) != 0) {
        pthread_mutex_destroy(&c->reg_lock);
        free(c);
        h->call_error(call, "the connection's config is not valid: run validation");
        return C360_EINVAL;
    }
    uint8_t *secret = NULL;
    size_t slen = 0;
    int32_t st = h->secret_get(call, "webhook_secret_token", &secret, &slen);
    if (st == C360_OK) {
        while (slen > 0 && (secret[slen - 1] == '\n' || secret[slen - 1] == '\r' || secret[slen - 1] == ' '))
            secret[--slen] = '\0';
        if (slen == 0) {
            h->secret_free(secret);
            st = C360_ENOTFOUND;
        }
    }
    if (st != C360_OK) {
        pthread_mutex_destroy(&c->reg_lock);
        free(c);
        if (st != C360_ENOTFOUND) return st;
        h->call_error(call, "store the connection secrets webhook_secret_token and client_secret");
        return C360_RETRY;
    }
    c->app = zoom_apps_get(&p->apps, &p->crypto, secret, slen);
    h->secret_free(secret);
    if (c->app == NULL) {
        pthread_mutex_destroy(&c->reg_lock);
        free(c);
        return C360_ENOMEM;
    }
    if (!zoom_route_key(c->cfg.account_id, c->app->fp, c->route_key, sizeof c->route_key)) {
        zoom_close(pd, c);
        return C360_EINVAL;
    }
    /* The account's routing key only once this connection's own
     * credentials proved the account (zoom_prove); else the ticks prove
     * it again. */
    zoom_ctx x = {p, c, call, h};
    char cause[256];
    zoom_prove(&x, true, true, cause, sizeof cause);
    if (c->registered < 0) {
        h->call_error(call, "routing keys not registered");
        zoom_close(pd, c);
        return C360_RETRY;
    }
    if (cause[0] != '\0') h->log(call, C360_LOG_WARN, "%s", cause);
    *idp = c;
    return C360_OK;
}

/* ---- webhooks (event loop: no I/O, no blocking) ----------------------- */

static const char *header(const c360_webhook *req, const char *name)
{
    for (uint32_t i = 0; i < req->header_count; i++)
        if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static void reply(c360_webhook_reply *rp, int32_t status, const char *ctype, const char *body,
                  size_t len)
{
    rp->status = status;
    snprintf(rp->content_type, sizeof rp->content_type, "%s", ctype);
    if (len > sizeof rp->body_buf) len = sizeof rp->body_buf;
    memcpy(rp->body_buf, body, len);
    rp->body_len = len;
}

static const char *sig_why(int r)
{
    switch (r) {
    case ZOOM_SIG_MISSING: return "no x-zm-signature or x-zm-request-timestamp header";
    case ZOOM_SIG_MALFORMED: return "x-zm-signature or x-zm-request-timestamp malformed";
    case ZOOM_SIG_STALE: return "x-zm-request-timestamp more than 300 s off";
    default: return "x-zm-signature matches no known webhook secret token";
    }
}

typedef struct val_ctx {
    const zoom_crypto *cr;
    const char *plain;
    c360_webhook_reply *rp;
    bool ok;
} val_ctx;

static void val_answer(void *arg, const uint8_t *secret, size_t len)
{
    val_ctx *v = arg;
    char out[256];
    size_t n = 0;
    v->ok = zoom_validation_reply(v->cr, secret, len, v->plain, out, sizeof out, &n);
    if (v->ok) reply(v->rp, 200, "application/json", out, n);
}

static int32_t zoom_verify(c360_call *call, void *pd, void *id, const c360_webhook *req,
                           c360_webhook_reply *rp)
{
    zoom_plugin *p = pd;
    zoom_conn *c = id;
    const c360_host_api *h = p->host;
    if (strcmp(req->method, "POST") != 0) {
        static const char allow[] = "POST only\n";
        reply(rp, 405, "text/plain", allow, sizeof allow - 1);
        return C360_VERDICT_REPLIED;
    }
    const char *sig = header(req, "x-zm-signature"), *ts = header(req, "x-zm-request-timestamp");
    int64_t now_s = req->received_at_ms / 1000;
    char fps[1][ZOOM_FP_LEN + 1];
    size_t nfp = 0;
    int r = c != NULL ? zoom_sig_check(&p->crypto, c->app->secret, c->app->secret_len, sig, ts,
                                       req->body, req->body_len, now_s)
                      : zoom_apps_match(&p->apps, &p->crypto, sig, ts, req->body, req->body_len,
                                        now_s, fps, 1, &nfp);
    if (r != ZOOM_SIG_OK) {
        h->call_error(call, "%s", sig_why(r));
        rp->status = 401;
        return C360_VERDICT_REJECT;
    }
    json_t *root = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    if (root == NULL) {
        static const char bad[] = "{\"error\":\"the body is not JSON\"}";
        reply(rp, 400, "application/json", bad, sizeof bad - 1);
        return C360_VERDICT_REPLIED;
    }
    zoom_ev ev;
    int pr = zoom_ev_parse(root, &ev);
    if (pr == 0 && ev.kind == ZOOM_EV_VALIDATION) {
        val_ctx v = {&p->crypto, ev.plain_token, rp, false};
        if (c != NULL)
            val_answer(&v, c->app->secret, c->app->secret_len);
        else
            zoom_apps_with(&p->apps, fps[0], val_answer, &v);
        json_decref(root);
        if (!v.ok) {
            static const char bad[] = "{\"error\":\"plainToken missing or malformed\"}";
            reply(rp, 400, "application/json", bad, sizeof bad - 1);
        }
        return C360_VERDICT_REPLIED;
    }
    if (pr < 0 || ev.kind == ZOOM_EV_NONE) {
        json_decref(root);
        static const char ign[] = "{\"ok\":true,\"ignored\":true}";
        reply(rp, 200, "application/json", ign, sizeof ign - 1);
        return C360_VERDICT_REPLIED;
    }
    if (c != NULL) h->call_dedup_key(call, ev.dedup);
    json_decref(root);
    return C360_VERDICT_ACCEPT;
}

static int32_t zoom_route(c360_call *call, void *pd, const c360_webhook *req)
{
    zoom_plugin *p = pd;
    const c360_host_api *h = p->host;
    char fps[ROUTE_APPS_MAX][ZOOM_FP_LEN + 1];
    size_t nfp = 0;
    zoom_apps_match(&p->apps, &p->crypto, header(req, "x-zm-signature"),
                    header(req, "x-zm-request-timestamp"), req->body, req->body_len,
                    req->received_at_ms / 1000, fps, ROUTE_APPS_MAX, &nfp);
    if (nfp == 0) {
        h->call_error(call, "no webhook secret token matches any more");
        return C360_EINVAL;
    }
    json_t *root = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    zoom_ev ev;
    if (root == NULL || zoom_ev_parse(root, &ev) < 0 || ev.account_id[0] == '\0') {
        json_decref(root);
        return C360_EINVAL;
    }
    for (size_t i = 0; i < nfp; i++) {
        char key[ZOOM_KEY_MAX];
        if (zoom_route_key(ev.account_id, fps[i], key, sizeof key))
            h->route_event(call, key, ev.dedup[0] != '\0' ? ev.dedup : NULL);
    }
    json_decref(root);
    return C360_OK;
}

static const c360_plugin_desc zoom_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "zoom",
    .version = ZOOM_VERSION,
    .description = "Zoom meeting and webinar registrants and attendance",
    .config_schema = zoom_config_schema,
    .init = zoom_init,
    .fini = zoom_fini,
    .validate_config = zoom_validate,
    .instance_open = zoom_open,
    .instance_close = zoom_close,
    .tick = zoom_tick,
    .webhook_verify = zoom_verify,
    .event = zoom_event,
    .disconnect = zoom_disconnect,
    .webhook_route = zoom_route,
};

C360_PLUGIN_ENTRY
{
    return &zoom_desc;
}
