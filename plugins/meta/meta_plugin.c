/* meta_plugin.c -- the "meta" connector: descriptor, init, config, the
 * instances, and the webhook callbacks that run on the event loop.
 *
 * Webhooks come to ONE app-level URL, /hooks/meta, for every tenant
 * (Meta has one callback URL per app). webhook_verify runs there without a
 * connection: it answers the subscription handshake against the verify
 * tokens, and checks X-Hub-Signature-256 against the app secrets, both
 * from the plugin-wide map that instance_open fills (meta_apps.c). Then
 * webhook_route names the routing keys the body touches,
 * "app:<app id>:<fp>:page:<page id>" (":ig:<ig user id>" for Instagram),
 * which the connections owning those pages registered in instance_open:
 * an event only ever reaches connections of the app whose secret signed
 * it and that own the page. Per-connection URLs (/hooks/meta/<conn>) work
 * too, checked against that connection's own secret.
 *
 * Base URLs: C360_META_GRAPH_URL (default https://graph.facebook.com) and
 * C360_META_WWW_URL (default https://www.facebook.com), read once at
 * init; C360_META_THROTTLE_MIN_MS (default 60000) is the least backoff
 * after a throttling error; C360_META_POLL_BUDGET (default 500, at most
 * 800) the leads one tick's catch-up poll emits. Operator and test
 * overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define CHALLENGE_MAX 128
#define ROUTE_APPS_MAX 8
#define ROUTE_PAIRS_MAX 64 /* the host's limit of (key, dedup) pairs */
#define HANDOFF_PAIRS 8    /* pairs webhook_verify hands to webhook_route */

/* ---- init ------------------------------------------------------------- */

static int32_t meta_init(c360_call *call, const c360_host_api *host, void **pd)
{
    if (!C360_HOST_HAS(host, connection_status) || !C360_HOST_HAS(host, record_emit) ||
        !C360_HOST_HAS(host, instance_route_keys) || !C360_HOST_HAS(host, route_event)) {
        host->call_error(call, "the meta plugin needs a host with the ABI 1.2 pipeline services");
        return C360_EUNSUPPORTED;
    }
    meta_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) return C360_ENOMEM;
    p->host = host;
    p->crypto.hmac_sha256 = host->hmac_sha256;
    p->crypto.sha256 = host->sha256;
    p->crypto.ct_equal = host->ct_equal;
    /* ABI 1.8, optional: each app's secret prepared once (meta_apps.c);
     * older hosts leave the three NULL and the secret is used as it is.
     * The keys go with their app entries, all by meta_fini at the latest. */
    /* The three were appended together: the last one's presence says the
     * table is long enough for all three. */
    if (C360_HOST_HAS(host, hmac_sha256_key_free) && host->hmac_sha256_key_new != NULL &&
        host->hmac_sha256_keyed != NULL) {
        p->crypto.hmac_key_new = host->hmac_sha256_key_new;
        p->crypto.hmac_keyed = host->hmac_sha256_keyed;
        p->crypto.hmac_key_free = host->hmac_sha256_key_free;
    }
    if (!c360kit_env_url("C360_META_GRAPH_URL", "https://graph.facebook.com", p->graph_url, META_URL_MAX, call, host) ||
        !c360kit_env_url("C360_META_WWW_URL", "https://www.facebook.com", p->www_url, META_URL_MAX, call, host)) {
        free(p);
        return C360_EINVAL;
    }
    /* C360_META_POLL_BUDGET: leads one tick's catch-up poll emits at most
     * (a test override). C360_META_BUDGET_SCALE: a multiplier of the local
     * Graph budgets (meta_graph.c), for an operator whose app Meta allows
     * more, and for the lead benchmark, which measures the pipeline rather
     * than these guards. */
    if (!c360kit_env_num("C360_META_THROTTLE_MIN_MS", 60000, 100, 3600000, &p->throttle_min_ms,
                         call, host) ||
        !c360kit_env_num("C360_META_POLL_BUDGET", META_POLL_BUDGET_DEFAULT, 1,
                         META_CALL_RECORDS_MAX - 100, &p->poll_budget, call, host) ||
        !c360kit_env_num("C360_META_BUDGET_SCALE", 1, 1, 1000, &p->budget_scale, call, host)) {
        free(p);
        return C360_EINVAL;
    }
    meta_apps_init(&p->apps);
    *pd = p;
    return C360_OK;
}

static void meta_fini(void *pd)
{
    meta_plugin *p = pd;
    if (p == NULL) return;
    meta_apps_destroy(&p->apps);
    free(p);
}

/* ---- config and instances --------------------------------------------- */

static int32_t meta_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    meta_plugin *p = pd;
    meta_cfg cfg;
    c360kit_cfg_sink s = {p->host, call};
    return meta_config_parse(json, len, &cfg, c360kit_cfg_error, &s) == 0 ? C360_OK : C360_EINVAL;
}

static void meta_close(void *pd, void *id)
{
    meta_plugin *p = pd;
    meta_conn *c = id;
    if (c == NULL) return;
    meta_apps_put(&p->apps, c->app);
    meta_cache_destroy(&c->cache);
    pthread_mutex_destroy(&c->reg_lock);
    free(c);
}

static int32_t meta_open(c360_call *call, void *pd, c360_instance *inst, const char *json,
                         size_t len, void **idp)
{
    meta_plugin *p = pd;
    const c360_host_api *h = p->host;
    meta_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return C360_ENOMEM;
    c->inst = inst;
    if (meta_config_parse(json, len, &c->cfg, NULL, NULL) != 0 ||
        pthread_mutex_init(&c->reg_lock, NULL) != 0) {
        free(c);
        h->call_error(call, "the connection's config is not valid: run validation");
        return C360_EINVAL;
    }
    if (!meta_cache_init(&c->cache)) {
        pthread_mutex_destroy(&c->reg_lock);
        free(c);
        return C360_ENOMEM;
    }
    uint8_t *secret = NULL, *vt = NULL;
    size_t slen = 0, vlen = 0;
    int32_t st = meta_secret_text(h, call, "app_secret", &secret, &slen);
    if (st == C360_OK) st = meta_secret_text(h, call, "verify_token", &vt, &vlen);
    if (st != C360_OK) {
        if (secret != NULL) h->secret_free(secret);
        meta_cache_destroy(&c->cache);
        pthread_mutex_destroy(&c->reg_lock);
        free(c);
        if (st != C360_ENOTFOUND) return st;
        /* Retried with backoff by the host; the secrets are usually stored
         * just after the connection is created. */
        h->call_error(call, "store the connection secrets app_secret and verify_token");
        return C360_RETRY;
    }
    c->app = meta_apps_get(&p->apps, &p->crypto, c->cfg.app_id, secret, slen,
                           (const char *)vt, vlen);
    h->secret_free(secret);
    h->secret_free(vt);
    if (c->app == NULL) {
        meta_cache_destroy(&c->cache);
        pthread_mutex_destroy(&c->reg_lock);
        free(c);
        return C360_ENOMEM;
    }
    snprintf(c->app_bucket, sizeof c->app_bucket, "app:%s:%s", c->cfg.app_id, c->app->fp);
    for (size_t j = 0; j < META_MAX_IG; j++) atomic_store(&c->ig_page[j], -1);
    snprintf(c->authorize_url, sizeof c->authorize_url, "%s/%s/dialog/oauth", p->www_url,
             c->cfg.version);
    snprintf(c->token_url, sizeof c->token_url, "%s/%s/oauth/access_token", p->graph_url,
             c->cfg.version);

    /* The routing keys this connection owns: its pages and IG accounts
     * that its own tokens prove access to (meta_verify.c), under its app
     * and secret. What cannot be proven now is proven again by the ticks. */
    meta_ctx x = {p, c, call, h, true};
    char cause[200];
    st = meta_verify(&x, true, true, cause, sizeof cause);
    if (!c->registered) {
        h->call_error(call, "routing keys not registered");
        meta_close(pd, c);
        return C360_RETRY;
    }
    if (cause[0] != '\0') h->log(call, C360_LOG_WARN, "%s", cause);
    (void)st;
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

static bool challenge_ok(const char *s, size_t n)
{
    if (n == 0 || n > CHALLENGE_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_' || ch == '.' || ch == '~'))
            return false;
    }
    return true;
}

static int32_t handshake(meta_plugin *p, meta_conn *c, c360_call *call, const c360_webhook *req,
                         c360_webhook_reply *rp)
{
    const c360_host_api *h = p->host;
    char mode[32], tok[512], ch[CHALLENGE_MAX + 1];
    size_t tlen = 0, clen = 0;
    if (!meta_query_get(req->query, "hub.mode", mode, sizeof mode, NULL) ||
        strcmp(mode, "subscribe") != 0 ||
        !meta_query_get(req->query, "hub.verify_token", tok, sizeof tok, &tlen)) {
        h->call_error(call, "not a subscription handshake (hub.mode=subscribe, hub.verify_token)");
        rp->status = 403;
        return C360_VERDICT_REJECT;
    }
    bool ok;
    if (c != NULL) {
        uint8_t dig[32];
        p->crypto.sha256(tok, tlen, dig);
        ok = p->crypto.ct_equal(dig, c->app->vt_hash, sizeof dig) == 1;
    } else {
        ok = meta_apps_verify_token(&p->apps, &p->crypto, tok, tlen);
    }
    memset(tok, 0, sizeof tok);
    if (!ok) {
        h->call_error(call, "hub.verify_token matches no connection's verify_token");
        rp->status = 403;
        return C360_VERDICT_REJECT;
    }
    if (!meta_query_get(req->query, "hub.challenge", ch, sizeof ch, &clen) || !challenge_ok(ch, clen)) {
        static const char bad[] = "hub.challenge missing or malformed\n";
        reply(rp, 400, "text/plain", bad, sizeof bad - 1);
        return C360_VERDICT_REPLIED;
    }
    reply(rp, 200, "text/plain", ch, clen);
    return C360_VERDICT_REPLIED;
}

typedef struct one_dedup {
    const meta_conn *c;        /* per-connection URL: count only its own */
    int n;
    char dedup[META_DEDUP_MAX];
} one_dedup;

static int count_change(void *arg, const meta_change *ch)
{
    one_dedup *d = arg;
    /* A body signed with a shared app's secret may name another tenant's
     * page: on a connection's own URL only changes of the pages and
     * accounts in this connection's config count, so an event of a page
     * it never named is not stored in its stream. Proof of access is
     * checked where the event is processed (meta_event.c): this process
     * may not have seen a proof a worker's tick made since. */
    if (d->c != NULL && !(ch->instagram ? meta_in(d->c->cfg.ig, d->c->cfg.nig, ch->owner)
                                        : meta_in(d->c->cfg.pages, d->c->cfg.npages, ch->owner)))
        return 0;
    if (d->n++ == 0) snprintf(d->dedup, sizeof d->dedup, "%s", ch->dedup);
    return 0;
}

/* The changes of a body that count on a connection's own URL, into *d:
 * the scanner first (meta_scan.c: no tree built on the event loop),
 * Jansson when it is not sure. false when the body is not JSON. */
static bool count_changes(const uint8_t *body, size_t len, one_dedup *d)
{
    int found;
    int sc = meta_payload_scan(body, len, count_change, d, &found);
    if (sc != META_SCAN_UNSURE) return sc == META_SCAN_OK;
    d->n = 0;
    d->dedup[0] = '\0';
    json_t *root = json_loadb((const char *)body, len, 0, NULL);
    if (root == NULL) return false;
    meta_payload_walk(root, count_change, d);
    json_decref(root);
    return true;
}

/* ---- verify -> route handoff ----------------------------------------
 * On the app-level URL the host calls webhook_verify and, when it
 * accepted, webhook_route for the same request, on the same event-loop
 * thread, with the same c360_webhook (connector_api.h). Verify has then
 * already matched the signature (one HMAC per secret tried) and parsed
 * and walked the body: it leaves the apps that signed it and the routing
 * pairs here, so that route does neither again.
 *
 * Per thread, so any number of event-loop threads is safe without a lock.
 * Route trusts an entry only for the very request verify computed it for:
 * the same plugin, request and body pointers, the same length, the same
 * 64-bit hash of the body bytes, and an app map unchanged since (its
 * generation, meta_apps.c). Every verify clears the entry first and only
 * an accepted app-level POST fills it; route clears it, hit or miss. On a
 * miss route does the whole work itself, signature check included: it
 * never routes with a match that was not computed for these bytes. */
typedef struct handoff {
    const void *pd;                  /* NULL: empty */
    const c360_webhook *req;
    const uint8_t *body;
    size_t len;
    uint64_t hash;
    unsigned long gen;               /* meta_apps.gen before the match */
    size_t napps;
    meta_match apps[ROUTE_APPS_MAX];
    bool pairs_ok;                   /* pairs holds every pair of the body */
    size_t npairs;
    meta_pair pairs[HANDOFF_PAIRS];
} handoff;

static _Thread_local handoff tl_handoff;

/* A cheap 64-bit hash of the body, 8 bytes a step: not a MAC (the HMAC
 * was checked), it only tells another body at the same address apart. */
static uint64_t body_hash(const uint8_t *b, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, sizeof w);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    if (i < len) memcpy(&w, b + i, len - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 29);
}

static void handoff_clear(handoff *t)
{
    t->pd = NULL;
    t->req = NULL;
    t->body = NULL;
    t->napps = 0;
    t->npairs = 0;
}

/* The entry, if it was made for exactly this request; NULL otherwise. */
static handoff *handoff_take(meta_plugin *p, const c360_webhook *req)
{
    handoff *t = &tl_handoff;
    if (t->pd != p || t->req != req || t->body != req->body || t->len != req->body_len ||
        t->gen != atomic_load(&p->apps.gen) || t->hash != body_hash(req->body, req->body_len))
        return NULL;
    return t;
}

static int32_t meta_hook_verify(c360_call *call, void *pd, void *id, const c360_webhook *req,
                           c360_webhook_reply *rp)
{
    meta_plugin *p = pd;
    meta_conn *c = id;
    const c360_host_api *h = p->host;
    handoff *t = &tl_handoff;
    handoff_clear(t);
    if (strcmp(req->method, "GET") == 0) return handshake(p, c, call, req, rp);
    if (strcmp(req->method, "POST") != 0) {
        static const char allow[] = "GET for the handshake, POST for events\n";
        reply(rp, 405, "text/plain", allow, sizeof allow - 1);
        return C360_VERDICT_REPLIED;
    }
    const char *sig = header(req, "x-hub-signature-256");
    /* The generation first: a map changed during the match voids it. */
    unsigned long gen = atomic_load(&p->apps.gen);
    size_t na = 0;
    bool ok;
    if (c != NULL) {
        ok = meta_sig_ok(&p->crypto, c->app, sig, req->body, req->body_len);
    } else {
        na = meta_apps_match(&p->apps, &p->crypto, sig, req->body, req->body_len, t->apps,
                             ROUTE_APPS_MAX);
        ok = na > 0;
    }
    if (!ok) {
        h->call_error(call, sig == NULL ? "no X-Hub-Signature-256 header"
                                        : "X-Hub-Signature-256 matches no known app secret");
        rp->status = 401;
        return C360_VERDICT_REJECT;
    }
    /* Authentic. Bodies with nothing of interest (reactions, posts, other
     * objects) are answered here and not stored: Meta needs its 200, and
     * an app-level event that no connection owns would be refused. */
    int n;
    one_dedup d = {c, 0, ""};
    bool more = false;
    size_t np = 0;
    bool json;
    if (c != NULL) {
        json = count_changes(req->body, req->body_len, &d);
        n = d.n; /* the changes of this connection's pages */
    } else {
        /* The one walk: is there anything of interest, and where to. */
        json = meta_route_pairs_body(req->body, req->body_len, t->apps, na, true, t->pairs,
                                     HANDOFF_PAIRS, &np, &more, &n);
    }
    if (!json) {
        static const char bad[] = "{\"error\":\"the body is not JSON\"}";
        reply(rp, 400, "application/json", bad, sizeof bad - 1);
        return C360_VERDICT_REPLIED;
    }
    if (n <= 0) {
        static const char ign[] = "{\"ok\":true,\"ignored\":true}";
        reply(rp, 200, "application/json", ign, sizeof ign - 1);
        return C360_VERDICT_REPLIED;
    }
    /* Per-connection URL: one dedup key per event, so only a body with a
     * single change can name one. App-level URLs pass theirs in route. */
    if (c != NULL && n == 1) h->call_dedup_key(call, d.dedup);
    if (c == NULL) {
        t->napps = na;
        t->pairs_ok = !more;
        t->npairs = np;
        t->gen = gen;
        t->len = req->body_len;
        t->hash = body_hash(req->body, req->body_len);
        t->body = req->body;
        t->req = req;
        t->pd = p;
    }
    return C360_VERDICT_ACCEPT;
}

static int32_t meta_route(c360_call *call, void *pd, const c360_webhook *req)
{
    meta_plugin *p = pd;
    const c360_host_api *h = p->host;
    handoff *t = handoff_take(p, req);
    if (t != NULL && t->pairs_ok) {
        for (size_t i = 0; i < t->npairs; i++)
            h->route_event(call, t->pairs[i].key,
                           t->pairs[i].dedup[0] != '\0' ? t->pairs[i].dedup : NULL);
        handoff_clear(t);
        return C360_OK;
    }
    /* More pairs than the handoff holds (the apps are still good), or no
     * handoff for this request: the whole work, signature check included. */
    meta_match apps[ROUTE_APPS_MAX];
    size_t na;
    if (t != NULL) {
        na = t->napps;
        memcpy(apps, t->apps, na * sizeof apps[0]);
    } else {
        na = meta_apps_match(&p->apps, &p->crypto, header(req, "x-hub-signature-256"),
                             req->body, req->body_len, apps, ROUTE_APPS_MAX);
    }
    handoff_clear(&tl_handoff);
    if (na == 0) {
        h->call_error(call, "no app secret matches any more");
        return C360_EINVAL;
    }
    meta_pair *pairs = malloc(ROUTE_PAIRS_MAX * sizeof *pairs);
    if (pairs == NULL) return C360_ENOMEM;
    bool more = false;
    size_t n = 0;
    if (!meta_route_pairs_body(req->body, req->body_len, apps, na, true, pairs,
                               ROUTE_PAIRS_MAX, &n, &more, NULL)) {
        free(pairs);
        return C360_EINVAL;
    }
    /* More (page, change) pairs than the host takes: route each page once
     * without dedup keys rather than lose changes (record ids keep a
     * repeat harmless). Pages past 64 are refused by the host, and their
     * leads left to the catch-up poll. The body was read once: only an
     * allocation in Jansson's fallback can fail the second reading. */
    if (more && !meta_route_pairs_body(req->body, req->body_len, apps, na, false, pairs,
                                       ROUTE_PAIRS_MAX, &n, &more, NULL)) {
        free(pairs);
        return C360_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        h->route_event(call, pairs[i].key, pairs[i].dedup[0] != '\0' ? pairs[i].dedup : NULL);
    free(pairs);
    return C360_OK;
}

/* ---- descriptor ------------------------------------------------------- */

static const c360_plugin_desc meta_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "meta",
    .version = META_VERSION,
    .description = "Facebook Pages lead ads and comments, Instagram comments, ads insights",
    .config_schema = meta_config_schema,
    .init = meta_init,
    .fini = meta_fini,
    .validate_config = meta_validate,
    .instance_open = meta_open,
    .instance_close = meta_close,
    .tick = meta_tick,
    .webhook_verify = meta_hook_verify,
    .event = meta_event,
    .disconnect = meta_disconnect,
    .webhook_route = meta_route,
    .oauth_connect = meta_oauth_connect,
    /* ABI 1.7, optional: a 1.3 to 1.6 host never reads it
     * (C360_PLUGIN_REQUIRES_MINOR stays 3). */
    .event_prefetch = meta_event_prefetch,
};

C360_PLUGIN_ENTRY
{
    return &meta_desc;
}
