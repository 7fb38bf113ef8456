/* li_plugin.c -- the "linkedin" connector: descriptor, init, config, the
 * instances, and the webhook callbacks that run on the event loop.
 *
 * Webhooks come to ONE app-level URL, /hooks/linkedin, for every tenant
 * (a LinkedIn app registers its webhook URLs once). webhook_verify runs
 * there without a connection: it answers LinkedIn's challenge (GET
 * ?challengeCode=..) with the HMAC of the code under the app's client
 * secret, and checks X-LI-Signature against the client secrets of the
 * plugin-wide map that instance_open fills (li_apps.c). webhook_route then
 * names the routing key of the notification's owner,
 * "app:<client id>:<fp>:sa:<account>" (":org:<organization>"), registered
 * by the connections owning it: an event only reaches connections of the
 * app whose secret signed it and that own the account. Per-connection URLs
 * (/hooks/linkedin/<conn>) work too, checked against that connection's own
 * secret.
 *
 * Environment, read once at init (operators and tests):
 *   C360_LINKEDIN_API_URL          default https://api.linkedin.com (REST under /rest)
 *   C360_LINKEDIN_OAUTH_URL        default https://www.linkedin.com (/oauth/v2/...)
 *   C360_LINKEDIN_THROTTLE_MIN_MS  default 60000: the first backoff after a 429
 *   C360_LINKEDIN_PAGE_SIZE        default 100: count= of the catch-up poll */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li.h"

#define ROUTE_APPS_MAX 8

static int32_t li_init(c360_call *call, const c360_host_api *host, void **pd)
{
    if (!C360_HOST_HAS(host, connection_status) || !C360_HOST_HAS(host, record_emit) ||
        !C360_HOST_HAS(host, instance_route_keys) || !C360_HOST_HAS(host, route_event)) {
        host->call_error(call, "the linkedin plugin needs a host with the ABI 1.2 pipeline services");
        return C360_EUNSUPPORTED;
    }
    li_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) return C360_ENOMEM;
    p->host = host;
    p->crypto.hmac_sha256 = host->hmac_sha256;
    p->crypto.ct_equal = host->ct_equal;
    if (!c360kit_env_url("C360_LINKEDIN_API_URL", "https://api.linkedin.com", p->api_url, LI_URL_MAX, call, host) ||
        !c360kit_env_url("C360_LINKEDIN_OAUTH_URL", "https://www.linkedin.com", p->oauth_url, LI_URL_MAX, call, host) ||
        !c360kit_env_num("C360_LINKEDIN_THROTTLE_MIN_MS", 60000, 100, 3600000, &p->throttle_min_ms, call, host) ||
        !c360kit_env_num("C360_LINKEDIN_PAGE_SIZE", 100, 1, 1000, &p->page_size, call, host)) {
        free(p);
        return C360_EINVAL;
    }
    li_apps_init(&p->apps);
    *pd = p;
    return C360_OK;
}

static void li_fini(void *pd)
{
    li_plugin *p = pd;
    if (p == NULL) return;
    li_apps_destroy(&p->apps);
    free(p);
}

static int32_t li_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    li_plugin *p = pd;
    li_cfg cfg;
    c360kit_cfg_sink s = {p->host, call};
    return li_config_parse(json, len, &cfg, c360kit_cfg_error, &s) == 0 ? C360_OK : C360_EINVAL;
}

static void li_close(void *pd, void *id)
{
    li_plugin *p = pd;
    li_conn *c = id;
    if (c == NULL) return;
    li_apps_put(&p->apps, c->app);
    pthread_mutex_destroy(&c->proof_lock);
    free(c);
}

static int32_t li_open(c360_call *call, void *pd, c360_instance *inst, const char *json,
                       size_t len, void **idp)
{
    li_plugin *p = pd;
    const c360_host_api *h = p->host;
    li_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return C360_ENOMEM;
    c->inst = inst;
    if (li_config_parse(json, len, &c->cfg, NULL, NULL) != 0) {
        free(c);
        h->call_error(call, "the connection's config is not valid: run validation");
        return C360_EINVAL;
    }
    uint8_t *secret = NULL;
    size_t slen = 0;
    int32_t st = h->secret_get(call, "client_secret", &secret, &slen);
    if (st == C360_OK) {
        while (slen > 0 && (secret[slen - 1] == '\n' || secret[slen - 1] == '\r' || secret[slen - 1] == ' '))
            secret[--slen] = '\0';
        if (slen == 0) {
            h->secret_free(secret);
            st = C360_ENOTFOUND;
        }
    }
    if (st != C360_OK) {
        free(c);
        if (st != C360_ENOTFOUND) return st;
        h->call_error(call, "store the connection secret client_secret");
        return C360_RETRY;
    }
    c->app = li_apps_get(&p->apps, &p->crypto, c->cfg.client_id, secret, slen);
    h->secret_free(secret);
    if (c->app == NULL) {
        free(c);
        return C360_ENOMEM;
    }
    snprintf(c->authorize_url, sizeof c->authorize_url, "%s/oauth/v2/authorization", p->oauth_url);
    snprintf(c->token_url, sizeof c->token_url, "%s/oauth/v2/accessToken", p->oauth_url);
    snprintf(c->revoke_url, sizeof c->revoke_url, "%s/oauth/v2/revoke", p->oauth_url);

    pthread_mutex_init(&c->proof_lock, NULL);
    /* Routing keys only for owners proven with this connection's token
     * (li_proof.c): the proofs cached in state when a token exists (no
     * call to LinkedIn here; the tick proves the rest), else none. */
    li_ctx x = {p, c, call, h};
    char cause[256];
    st = li_prove(&x, false, cause, sizeof cause);
    if (st != C360_OK)
        h->log(call, C360_LOG_INFO, "no owner proven yet (%s): the tick proves them",
               c360_strstatus(st));
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

static int32_t challenge(li_plugin *p, li_conn *c, c360_call *call, const c360_webhook *req,
                         c360_webhook_reply *rp)
{
    const c360_host_api *h = p->host;
    char code[LI_CHALLENGE_MAX + 1], app[LI_CLIENT_ID_MAX + 1], out[256];
    size_t clen = 0;
    if (!li_query_get(req->query, "challengeCode", code, sizeof code, &clen) ||
        !li_challenge_ok(code, clen)) {
        static const char bad[] = "{\"error\":\"challengeCode missing or malformed\"}";
        reply(rp, 400, "application/json", bad, sizeof bad - 1);
        return C360_VERDICT_REPLIED;
    }
    if (!li_query_get(req->query, "applicationId", app, sizeof app, NULL)) app[0] = '\0';
    size_t n = 0;
    if (c != NULL) {
        if (li_challenge_answer(&p->crypto, c->app->secret, c->app->secret_len, code, out, sizeof out))
            n = strlen(out);
    } else {
        n = li_apps_challenge(&p->apps, &p->crypto, app, code, out, sizeof out);
    }
    if (n == 0) {
        h->call_error(call, app[0] != '\0' ? "no connection uses this applicationId"
                                           : "no single LinkedIn app to answer for: use the "
                                             "connection's own webhook URL");
        rp->status = 404;
        return C360_VERDICT_REJECT;
    }
    reply(rp, 200, "application/json", out, n);
    return C360_VERDICT_REPLIED;
}

static int32_t li_verify(c360_call *call, void *pd, void *id, const c360_webhook *req,
                         c360_webhook_reply *rp)
{
    li_plugin *p = pd;
    li_conn *c = id;
    const c360_host_api *h = p->host;
    if (strcmp(req->method, "GET") == 0) return challenge(p, c, call, req, rp);
    if (strcmp(req->method, "POST") != 0) {
        static const char allow[] = "GET for the challenge, POST for notifications\n";
        reply(rp, 405, "text/plain", allow, sizeof allow - 1);
        return C360_VERDICT_REPLIED;
    }
    const char *sig = header(req, "x-li-signature");
    li_match m[1];
    bool ok = c != NULL ? li_sig_ok(&p->crypto, c->app->secret, c->app->secret_len, sig,
                                    req->body, req->body_len)
                        : li_apps_match(&p->apps, &p->crypto, sig, req->body, req->body_len, m, 1) > 0;
    if (!ok) {
        h->call_error(call, sig == NULL ? "no X-LI-Signature header"
                                        : "X-LI-Signature matches no known client secret");
        rp->status = 401;
        return C360_VERDICT_REJECT;
    }
    json_t *root = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    if (root == NULL) {
        static const char bad[] = "{\"error\":\"the body is not JSON\"}";
        reply(rp, 400, "application/json", bad, sizeof bad - 1);
        return C360_VERDICT_REPLIED;
    }
    li_note n;
    const char *why = NULL;
    bool mine = li_note_parse(root, &n, &why);
    json_decref(root);
    if (!mine) {
        /* Authentic but nothing this plugin handles: answered, not stored. */
        static const char ign[] = "{\"ok\":true,\"ignored\":true}";
        reply(rp, 200, "application/json", ign, sizeof ign - 1);
        return C360_VERDICT_REPLIED;
    }
    if (c != NULL) h->call_dedup_key(call, n.dedup);
    return C360_VERDICT_ACCEPT;
}

static int32_t li_route(c360_call *call, void *pd, const c360_webhook *req)
{
    li_plugin *p = pd;
    const c360_host_api *h = p->host;
    li_match apps[ROUTE_APPS_MAX];
    size_t na = li_apps_match(&p->apps, &p->crypto, header(req, "x-li-signature"), req->body,
                              req->body_len, apps, ROUTE_APPS_MAX);
    if (na == 0) {
        h->call_error(call, "no client secret matches any more");
        return C360_EINVAL;
    }
    json_t *root = json_loadb((const char *)req->body, req->body_len, 0, NULL);
    li_note n;
    const char *why = NULL;
    bool ok = li_note_parse(root, &n, &why);
    json_decref(root);
    if (!ok) return C360_EINVAL;
    for (size_t i = 0; i < na; i++) {
        char key[LI_ROUTE_KEY_MAX];
        if (li_route_key(apps[i].client_id, apps[i].fp, n.owner.kind, n.owner.id, key, sizeof key))
            h->route_event(call, key, n.dedup);
    }
    return C360_OK;
}

static const c360_plugin_desc li_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "linkedin",
    .version = LI_VERSION,
    .description = "LinkedIn Lead Gen Forms: leads by webhook and catch-up poll",
    .config_schema = li_config_schema,
    .init = li_init,
    .fini = li_fini,
    .validate_config = li_validate,
    .instance_open = li_open,
    .instance_close = li_close,
    .tick = li_tick,
    .webhook_verify = li_verify,
    .event = li_event,
    .disconnect = li_disconnect,
    .webhook_route = li_route,
    .oauth_connect = li_oauth_connect,
};

C360_PLUGIN_ENTRY
{
    return &li_desc;
}
