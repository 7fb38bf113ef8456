/* li_proof.c -- proof of access per owner. A connection's config lists
 * sponsored accounts and organizations; listing one proves nothing (any
 * tenant can type another's account id). Each owner is proven with the
 * connection's OWN token: GET /rest/leadForms?q=owner&owner=(..)&count=1
 * answers 2xx only when the token's member may read that owner's lead
 * forms; 401/403 (any 4xx) refutes. A proof is cached in state
 * "proof:<sa|org>:<id>" for LI_PROOF_TTL_MS, its value the fingerprint of
 * the access token it was made with (a new token, or another member's,
 * proves again). Only proven owners get routing keys (instance_route_keys
 * replaces the set, so a set that changes is registered again), only their
 * events are processed (li_event) and polled (li_tick); unproven ones make
 * the connection "failing" with a cause naming them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li.h"

#define FP_LABEL "c360/linkedin/proof\n"
#define PROOF_RESERVE_MS 5000

static void token_fp(li_ctx *x, const char *tok, char out[LI_FP_LEN + 1])
{
    size_t a = sizeof FP_LABEL - 1, b = strlen(x->c->cfg.client_id), t = strlen(tok);
    uint8_t *m = malloc(a + b + 1 + t);
    uint8_t dig[32];
    char hex[65];
    out[0] = '\0';
    if (m == NULL) return;
    memcpy(m, FP_LABEL, a);
    memcpy(m + a, x->c->cfg.client_id, b);
    m[a + b] = '\n';
    memcpy(m + a + b + 1, tok, t);
    x->host->sha256(m, a + b + 1 + t, dig);
    memset(m, 0, a + b + 1 + t);
    free(m);
    li_hex(dig, sizeof dig, hex);
    memcpy(out, hex, LI_FP_LEN);
    out[LI_FP_LEN] = '\0';
}

static void proof_key(const li_owner *o, char *key, size_t cap)
{
    snprintf(key, cap, "proof:%s:%s", o->kind == LI_SPONSORED ? "sa" : "org", o->id);
}

static bool cached(li_ctx *x, const li_owner *o, const char *fp)
{
    char key[96];
    uint8_t *v = NULL;
    size_t len = 0;
    if (fp[0] == '\0') return false;
    proof_key(o, key, sizeof key);
    if (x->host->state_get(x->call, key, &v, &len, NULL) != C360_OK) return false;
    bool ok = len == strlen(fp) && memcmp(v, fp, len) == 0;
    x->host->free(v);
    return ok;
}

/* Under proof_lock. */
static void register_keys(li_ctx *x)
{
    li_conn *c = x->c;
    const c360_host_api *h = x->host;
    size_t no = c->cfg.nowners;
    if (c->reg_known && memcmp(c->registered, c->proven, no) == 0) return;
    char (*kb)[LI_ROUTE_KEY_MAX] = calloc(LI_MAX_OWNERS, LI_ROUTE_KEY_MAX); /* 10 KB */
    if (kb == NULL) return;
    const char *kp[LI_MAX_OWNERS];
    uint32_t n = 0;
    for (size_t i = 0; i < no; i++)
        if (c->proven[i] &&
            li_route_key(c->cfg.client_id, c->app->fp, c->cfg.owners[i].kind, c->cfg.owners[i].id,
                         kb[n], LI_ROUTE_KEY_MAX))
            kp[n] = kb[n], n++;
    int32_t st = h->instance_route_keys(x->call, kp, n);
    free(kb);
    if (st == C360_OK) {
        memcpy(c->registered, c->proven, no);
        c->reg_known = true;
        h->log(x->call, C360_LOG_INFO, "routing keys registered for %u of %zu owner(s) (proven)",
               n, no);
    } else {
        h->log(x->call, C360_LOG_WARN, "routing keys not registered: %s", c360_strstatus(st));
    }
}

int32_t li_prove(li_ctx *x, bool network, char *cause, size_t cap)
{
    li_conn *c = x->c;
    const c360_host_api *h = x->host;
    const li_cfg *cfg = &c->cfg;
    size_t no = cfg->nowners;
    if (cause != NULL && cap > 0) cause[0] = '\0';
    char *tok = NULL, fp[LI_FP_LEN + 1];
    int32_t st = li_token(x, &tok);
    /* A token obtained with this client id and secret proves the pair is
     * genuine: it may answer LinkedIn's challenge (li_apps_challenge). */
    if (st == C360_OK && c->app != NULL) atomic_store(&c->app->proven, 1);
    if (st != C360_OK) {
        pthread_mutex_lock(&c->proof_lock);
        if (!c->reg_known) register_keys(x); /* an empty set: nothing proven */
        pthread_mutex_unlock(&c->proof_lock);
        return st;
    }
    token_fp(x, tok, fp);
    li_token_free(x, tok);
    uint8_t now[LI_MAX_OWNERS];
    pthread_mutex_lock(&c->proof_lock);
    memcpy(now, c->proven, no);
    pthread_mutex_unlock(&c->proof_lock);
    int32_t res = C360_OK;
    for (size_t i = 0; i < no; i++) {
        const li_owner *o = &cfg->owners[i];
        if (cached(x, o, fp)) {
            now[i] = 1;
            continue;
        }
        if (!network || res != C360_OK || fp[0] == '\0' ||
            h->call_time_left_ms(x->call) < PROOF_RESERVE_MS)
            continue; /* keeps what this instance knew */
        char owner[200], query[300];
        if (!li_owner_query(o, owner, sizeof owner)) {
            now[i] = 0;
            continue;
        }
        snprintf(query, sizeof query, "q=owner&owner=%s&count=1", owner);
        json_t *out = NULL;
        li_req r = {.path = "leadForms", .query = query};
        st = li_api(x, &r, &out, NULL, 0);
        json_decref(out);
        if (st == C360_OK) {
            char key[96];
            now[i] = 1;
            proof_key(o, key, sizeof key);
            h->state_set(x->call, key, fp, strlen(fp), LI_PROOF_TTL_MS, NULL);
        } else if (st == C360_ERROR || st == C360_ENOTFOUND) {
            /* 403 (or another 4xx): this member may not read the owner. */
            if (now[i]) h->log(x->call, C360_LOG_WARN, "LinkedIn owner %s: access no longer proven", o->id);
            now[i] = 0;
        } else {
            res = st; /* EAUTH, RETRY, ...: decided later */
        }
    }
    pthread_mutex_lock(&c->proof_lock);
    memcpy(c->proven, now, no);
    register_keys(x);
    pthread_mutex_unlock(&c->proof_lock);
    if (res == C360_EAUTH) return res;
    if (cause != NULL && cap > 0) {
        size_t bad = 0;
        char ids[160] = "";
        for (size_t i = 0; i < no; i++) {
            if (now[i]) continue;
            if (bad < 4) {
                size_t l = strlen(ids);
                snprintf(ids + l, sizeof ids - l, "%s%s", bad ? ", " : "", cfg->owners[i].id);
            }
            bad++;
        }
        if (bad > 0)
            snprintf(cause, cap,
                     "LinkedIn owner%s %s%s: access not proven (the connected LinkedIn member "
                     "cannot read its lead forms); its leads are not received",
                     bad > 1 ? "s" : "", ids, bad > 4 ? ", ..." : "");
    }
    return C360_OK;
}

bool li_owner_proven(li_ctx *x, const li_owner *o)
{
    li_conn *c = x->c;
    size_t i;
    for (i = 0; i < c->cfg.nowners; i++)
        if (c->cfg.owners[i].kind == o->kind && strcmp(c->cfg.owners[i].id, o->id) == 0) break;
    if (i == c->cfg.nowners) return false;
    pthread_mutex_lock(&c->proof_lock);
    bool p = c->proven[i] != 0;
    pthread_mutex_unlock(&c->proof_lock);
    if (p) return true;
    /* Another process may have proven it: the cached proof, for the
     * current token. */
    char *tok = NULL, fp[LI_FP_LEN + 1];
    if (li_token(x, &tok) != C360_OK) return false;
    token_fp(x, tok, fp);
    li_token_free(x, tok);
    if (!cached(x, o, fp)) return false;
    pthread_mutex_lock(&c->proof_lock);
    c->proven[i] = 1;
    pthread_mutex_unlock(&c->proof_lock);
    return true;
}
