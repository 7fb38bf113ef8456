/* meta_verify.c -- which of its configured pages and Instagram accounts a
 * connection may receive events of.
 *
 * A config is only the tenant's claim: any tenant can list any page id.
 * Webhooks of a page are therefore routed to a connection only once its
 * OWN token proved access to that page:
 *
 *  - page P: the stored secret page_token:P, asked GET /me?fields=id,
 *    must answer id P. A page access token's "/me" is its page; a user
 *    token (or another page's token) answers another id. (GET /P?fields=id
 *    would not do: public pages answer it to any token.)
 *  - Instagram account I: some proven page P of the connection, asked with
 *    P's token GET /P?fields=instagram_business_account, must be linked to
 *    I; I's comments are then read with P's token.
 *
 * A proof is cached in state ("proof:page:<P>" = fingerprint of the token
 * that proved it, "proof:ig:<I>" = "<P>:<fingerprint>") for
 * META_PROOF_TTL_MS: a new token, or an expired proof, is proven again.
 * instance_open proves what it can (and registers the routing keys of what
 * is proven); every tick proves again what is not proven or expired, and
 * registers the keys again when the proven set changed. Each process has
 * its own instance: an event naming a page its instance does not know as
 * proven reads the proofs again from state (no network) before skipping
 * it, so a proof made by another process's tick counts at once. Unproven ones are
 * neither routed, polled nor processed, and make the connection "failing"
 * with a cause naming them (meta_tick.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

static uint64_t bit(size_t i)
{
    return (uint64_t)1 << i;
}

static int index_of(const meta_id *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id) == 0) return (int)i;
    return -1;
}

bool meta_page_ok(const meta_conn *c, const char *page_id)
{
    int i = index_of(c->cfg.pages, c->cfg.npages, page_id);
    return i >= 0 && (atomic_load(&c->pages_ok) & bit((size_t)i)) != 0;
}

int meta_ig_ok(const meta_conn *c, const char *ig_id)
{
    int j = index_of(c->cfg.ig, c->cfg.nig, ig_id);
    return j >= 0 && (atomic_load(&c->ig_ok) & bit((size_t)j)) != 0 ? j : -1;
}

static void token_fp(meta_ctx *x, const char *tok, char out[META_FP_LEN + 1])
{
    uint8_t dig[32];
    char hex[65];
    x->host->sha256(tok, strlen(tok), dig);
    meta_hex(dig, sizeof dig, hex);
    memcpy(out, hex, META_FP_LEN);
    out[META_FP_LEN] = '\0';
}

/* Proofs are asked for with the time the call actually has: each Graph
 * request at most half of what is left (and at most
 * META_PROVE_TIMEOUT_MS), so that an unreachable Graph API leaves the
 * other half to the rest of the call (an open must not hang on it); with
 * less than META_PROVE_MIN_MS left, nothing is asked and the next tick
 * proves it. It used to need 10 s left, which a callback_timeout_ms under
 * ~10 s never had: nothing was ever proven and every webhook was
 * unrouted. 0 = no time to ask. */
#define META_PROVE_MIN_MS 1000
#define META_PROVE_TIMEOUT_MS 10000

static uint32_t prove_timeout(meta_ctx *x)
{
    int64_t left = x->host->call_time_left_ms(x->call);
    if (left < META_PROVE_MIN_MS) return 0;
    return left / 2 > META_PROVE_TIMEOUT_MS ? META_PROVE_TIMEOUT_MS : (uint32_t)(left / 2);
}

static bool cached(meta_ctx *x, const char *key, const char *want)
{
    uint8_t *v = NULL;
    size_t len = 0;
    if (x->host->state_get(x->call, key, &v, &len, NULL) != C360_OK) return false;
    bool same = len == strlen(want) && memcmp(v, want, len) == 0;
    x->host->free(v);
    return same;
}

/* 1 proven, 0 refuted, -1 unknown (no network, or Graph failed for now:
 * *st gets why). */
static int prove_page(meta_ctx *x, const char *page, const char *tok, const char *fp,
                      bool network, int32_t *st)
{
    char key[64];
    meta_key(key, sizeof key, "proof:page:", page);
    if (cached(x, key, fp)) return 1;
    if (!network) return -1;
    uint32_t tmo = prove_timeout(x);
    if (tmo == 0) {
        *st = C360_ETIMEOUT;
        return -1;
    }
    json_t *me = NULL;
    meta_gr r = {.path = "me", .query = "fields=id", .token = tok, .object = page,
                 .quiet_auth = true, .max_bytes = 1u << 16, .timeout_ms = tmo};
    int32_t rc = meta_graph(x, &r, &me, NULL);
    if (rc == C360_ERROR || rc == C360_EAUTH) return 0; /* refused: not this page's */
    if (rc != C360_OK) {
        *st = rc;
        return -1;
    }
    meta_id id;
    bool ok = meta_id_from_json(json_object_get(me, "id"), false, id) && strcmp(id, page) == 0;
    json_decref(me);
    if (ok) x->host->state_set(x->call, key, fp, strlen(fp), META_PROOF_TTL_MS, NULL);
    return ok ? 1 : 0;
}

/* The Instagram account linked to a proven page, "" if none; false when
 * Graph could not tell now. */
static bool linked_ig(meta_ctx *x, const char *page, const char *tok, meta_id out,
                      int32_t *st)
{
    json_t *o = NULL;
    out[0] = '\0';
    uint32_t tmo = prove_timeout(x);
    if (tmo == 0) {
        *st = C360_RETRY;
        return false;
    }
    meta_gr r = {.path = page, .query = "fields=instagram_business_account", .token = tok,
                 .object = page, .quiet_auth = true, .max_bytes = 1u << 16, .timeout_ms = tmo};
    int32_t rc = meta_graph(x, &r, &o, NULL);
    if (rc == C360_ERROR || rc == C360_EAUTH) return true;
    if (rc != C360_OK) {
        *st = rc;
        return false;
    }
    if (!meta_id_from_json(json_object_get(json_object_get(o, "instagram_business_account"), "id"),
                           false, out))
        out[0] = '\0';
    json_decref(o);
    return true;
}

static void register_keys(meta_ctx *x, uint64_t pages, uint64_t igs)
{
    meta_conn *c = x->c;
    const c360_host_api *h = x->host;
    pthread_mutex_lock(&c->reg_lock);
    if (c->registered && c->reg_pages == pages && c->reg_ig == igs) {
        pthread_mutex_unlock(&c->reg_lock);
        return;
    }
    char (*keys)[META_ROUTE_KEY_MAX] = malloc((META_MAX_PAGES + META_MAX_IG) * sizeof *keys);
    const char *kp[META_MAX_PAGES + META_MAX_IG];
    uint32_t n = 0;
    if (keys == NULL) {
        pthread_mutex_unlock(&c->reg_lock);
        return;
    }
    for (size_t i = 0; i < c->cfg.npages; i++)
        if ((pages & bit(i)) &&
            meta_route_key(c->cfg.app_id, c->app->fp, false, c->cfg.pages[i], keys[n], sizeof keys[n]))
            kp[n] = keys[n], n++;
    for (size_t j = 0; j < c->cfg.nig; j++)
        if ((igs & bit(j)) &&
            meta_route_key(c->cfg.app_id, c->app->fp, true, c->cfg.ig[j], keys[n], sizeof keys[n]))
            kp[n] = keys[n], n++;
    int32_t st = h->instance_route_keys(x->call, kp, n);
    if (st == C360_OK) {
        c->reg_pages = pages;
        c->reg_ig = igs;
        c->registered = true;
        h->log(x->call, C360_LOG_INFO, "routing keys: %u page(s) and Instagram account(s) proven",
               n);
    } else {
        h->log(x->call, C360_LOG_WARN, "routing keys not registered: %s", c360_strstatus(st));
    }
    free(keys);
    pthread_mutex_unlock(&c->reg_lock);
}

int32_t meta_verify(meta_ctx *x, bool network, bool reg, char *cause, size_t cap)
{
    meta_conn *c = x->c;
    const meta_cfg *cfg = &c->cfg;
    const c360_host_api *h = x->host;
    int32_t st = C360_OK;
    uint64_t pages = atomic_load(&c->pages_ok), igs = atomic_load(&c->ig_ok);
    char *toks[META_MAX_PAGES] = {0};
    char fps[META_MAX_PAGES][META_FP_LEN + 1];
    if (cause != NULL && cap > 0) cause[0] = '\0';
#define CAUSE(...)                                                              \
    do {                                                                        \
        if (cause != NULL && cap > 0 && cause[0] == '\0') snprintf(cause, cap, __VA_ARGS__); \
    } while (0)

    for (size_t i = 0; i < cfg->npages; i++) {
        const char *page = cfg->pages[i];
        char name[64];
        meta_key(name, sizeof name, "page_token:", page);
        int32_t rc = meta_token_secret(x, name, &toks[i]);
        if (rc == C360_ENOTFOUND) {
            pages &= ~bit(i);
            CAUSE("no access token for page %s: connect with OAuth or store the secret "
                  "page_token:%s", page, page);
            continue;
        }
        if (rc != C360_OK) { /* the store failed: keep what was known */
            if (st == C360_OK) st = rc;
            continue;
        }
        token_fp(x, toks[i], fps[i]);
        int32_t pst = C360_OK;
        int v = prove_page(x, page, toks[i], fps[i], network, &pst);
        if (pst == C360_ETIMEOUT && !(pages & bit(i)))
            CAUSE("page %s: access not proven yet (under %d ms of the call left to ask the Graph "
                  "API: callback_timeout_ms is too short, or the call was slow)", page,
                  META_PROVE_MIN_MS);
        if (pst != C360_OK && pst != C360_ETIMEOUT) st = pst;
        if (v == 1) {
            pages |= bit(i);
        } else if (v == 0) {
            pages &= ~bit(i);
            CAUSE("page %s: access not proven (the stored page token is not that page's); "
                  "its events are not received", page);
        } else if (!(pages & bit(i))) {
            CAUSE("page %s: access not proven yet (the Graph API could not be asked)", page);
        }
    }

    /* Instagram accounts: through a proven page linked to them. */
    meta_id linked[META_MAX_PAGES];
    bool asked[META_MAX_PAGES] = {0};
    for (size_t j = 0; j < cfg->nig; j++) {
        const char *ig = cfg->ig[j];
        char key[64];
        meta_key(key, sizeof key, "proof:ig:", ig);
        int via = -1;
        bool unknown = false;
        for (size_t i = 0; i < cfg->npages && via < 0; i++) {
            if (!(pages & bit(i)) || toks[i] == NULL) continue;
            char want[META_ID_MAX + META_FP_LEN + 2];
            snprintf(want, sizeof want, "%s:%s", cfg->pages[i], fps[i]);
            if (cached(x, key, want)) via = (int)i;
        }
        for (size_t i = 0; i < cfg->npages && via < 0 && network; i++) {
            if (!(pages & bit(i)) || toks[i] == NULL) continue;
            if (!asked[i]) {
                if (!linked_ig(x, cfg->pages[i], toks[i], linked[i], &st)) {
                    unknown = true;
                    continue;
                }
                asked[i] = true;
            }
            if (strcmp(linked[i], ig) == 0) {
                char val[META_ID_MAX + META_FP_LEN + 2];
                snprintf(val, sizeof val, "%s:%s", cfg->pages[i], fps[i]);
                h->state_set(x->call, key, val, strlen(val), META_PROOF_TTL_MS, NULL);
                via = (int)i;
            }
        }
        if (via >= 0) {
            atomic_store(&c->ig_page[j], via);
            igs |= bit(j);
        } else if (network && !unknown) {
            igs &= ~bit(j);
            CAUSE("Instagram account %s: access not proven (no page of this connection with "
                  "a page token is linked to it)", ig);
        } else if (!(igs & bit(j))) {
            CAUSE("Instagram account %s: access not proven yet", ig);
        }
    }
#undef CAUSE
    for (size_t i = 0; i < cfg->npages; i++) meta_token_free(x, toks[i]);
    atomic_store(&c->pages_ok, pages);
    atomic_store(&c->ig_ok, igs);
    if (reg) register_keys(x, pages, igs);
    return st;
}
