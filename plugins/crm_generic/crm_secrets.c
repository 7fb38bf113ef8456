/* crm_secrets.c -- a connection's secrets: read from the host once per
 * instance and kept, and what each call derives from them (the auth
 * header's value, the Standard Webhooks keys, the values an excerpt must
 * never show).
 *
 * Reading a secret costs a Redis round trip, unsealing, and a guarded
 * allocation (mmap, mprotect, mlock) in the host; done on every delivery
 * it was ~5 % of a worker's CPU. So the values host->secret_get returns
 * are kept, in that guarded memory, by the connection's instance
 * (crm_conn.sec_cache) and shared by its calls, which run on several
 * worker threads at once: the kept set never changes once made, and each
 * call holds a reference to it (counted under crm_conn.sec_lock), so a set
 * that is forgotten or closed is freed only after its last call is done
 * with it.
 *
 * Why a kept value is never stale for long -- the host API has no version
 * of a secret to check: every successful put or delete of a connection's
 * secret through the admin API bumps the connection's version
 * (host/admin/api_secrets.c), and the host then retires the instance --
 * at once in the admin's own process, and in the processes that run
 * deliveries when a worker next takes the connection at least a second
 * (their version recheck) after the last check -- and opens a new one,
 * whose first call reads the secrets again; calls already running finish
 * with the values they started with. crm_generic never writes its own
 * secrets. (Should the version bump itself fail after the put, the host
 * ignores it: the kept values then last until the next change of the
 * connection, or until the endpoint refuses them, below.) Two cases do
 * not wait for a reopen:
 *
 *  - nothing is kept unless every secret the config needs was read and is
 *    usable: a missing or unusable secret, or a failed read, is read again
 *    on the next call;
 *  - credentials the endpoint refused (401, 403, 407) are forgotten
 *    (crm_secrets_forget), so the call after reads the stored values again
 *    even if this process has not seen the change yet.
 *
 * The derived values (the "Bearer ..." or "Basic ..." header, decoded
 * keys) are made per call on the plugin's heap or stack and wiped at its
 * end, as before the values were kept: only the host's guarded memory
 * holds a secret between calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"

/* How long a delivery waits when a secret it needs is missing or
 * unusable: the customer has to act, so no need to ask every second. */
#define CRM_SECRET_RETRY_MS 60000

static const char *const crm_secret_names[CRM_S_N] = {
    "token", "username", "password", "api_key", "signing_secret", "signing_secret_next"};

struct crm_secret_vals {
    const c360_host_api *host;
    unsigned refs;          /* under the crm_conn's sec_lock */
    uint8_t *val[CRM_S_N];  /* secret_get values (guarded memory); NULL:
                               not needed, or an optional one absent */
    size_t len[CRM_S_N];    /* without a trailing newline */
};

static void crm_wipe(void *p, size_t n)
{
    volatile uint8_t *w = p;
    for (size_t i = 0; i < n; i++)
        w[i] = 0;
}

static void crm_vals_free(crm_secret_vals *v)
{
    if (!v)
        return;
    for (int i = 0; i < CRM_S_N; i++)
        if (v->val[i])
            v->host->secret_free(v->val[i]);
    free(v);
}

/* Drops one reference; the last one frees the set (outside the lock:
 * secret_free unmaps). */
static void crm_vals_release(crm_conn *c, crm_secret_vals *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&c->sec_lock);
    bool last = --v->refs == 0;
    pthread_mutex_unlock(&c->sec_lock);
    if (last)
        crm_vals_free(v);
}

int32_t crm_conn_secrets_init(crm_conn *c)
{
    c->sec_cache = NULL;
    return pthread_mutex_init(&c->sec_lock, NULL) == 0 ? C360_OK : C360_ENOMEM;
}

void crm_conn_secrets_fini(crm_conn *c)
{
    /* instance_close: no call of the instance runs any more, so the
     * cache's reference is the last one. */
    crm_secret_vals *v = c->sec_cache;
    c->sec_cache = NULL;
    crm_vals_release(c, v);
    pthread_mutex_destroy(&c->sec_lock);
}

/* A secret the config needs is missing or unusable: every record of the
 * call waits, and the connection shows why until the customer fixes it. */
static int32_t crm_secret_problem(crm_call_out *out, const char *name, const char *what)
{
    snprintf(out->cause, sizeof out->cause, "secret \"%s\" %s", name, what);
    snprintf(out->error, sizeof out->error, "secret \"%s\" %s", name, what);
    out->conn_failing = true;
    if (out->retry_ms < CRM_SECRET_RETRY_MS)
        out->retry_ms = CRM_SECRET_RETRY_MS;
    return C360_RETRY;
}

/* Reads one secret into v. C360_OK, C360_ENOTFOUND (absent), or a status
 * to return for every record (RETRY, ENOMEM), with out filled. */
static int32_t crm_secret_get(crm_secret_vals *v, c360_call *call, int which,
                              crm_call_out *out)
{
    const c360_host_api *host = v->host;
    uint8_t *val = NULL;
    size_t len = 0;
    int32_t st = host->secret_get(call, crm_secret_names[which], &val, &len);
    if (st == C360_ENOTFOUND)
        return C360_ENOTFOUND;
    if (st == C360_ENOMEM)
        return C360_ENOMEM;
    if (st != C360_OK) {
        snprintf(out->error, sizeof out->error, "reading secret \"%s\": %s",
                 crm_secret_names[which], c360_strstatus(st));
        return C360_RETRY;
    }
    v->val[which] = val;
    /* A value pasted with its newline: the newline is no part of it. */
    while (len > 0 && (val[len - 1] == '\n' || val[len - 1] == '\r'))
        len--;
    v->len[which] = len;
    /* The API's limit; it also keeps the sums made of lengths below from
     * wrapping, and bounds what an instance keeps. */
    if (len > CRM_SECRET_MAX)
        return crm_secret_problem(out, crm_secret_names[which], "must be at most 64 KiB");
    return C360_OK;
}

/* Reads every secret the config needs into a new set (one reference, the
 * caller's). C360_OK, or the call's status with out filled and *out_v
 * NULL. */
static int32_t crm_vals_read(const c360_host_api *host, const crm_cfg *cfg, c360_call *call,
                             crm_call_out *out, crm_secret_vals **out_v)
{
    *out_v = NULL;
    int need[3], nneed = 0, optional = -1;
    switch (cfg->auth) {
    case CRM_AUTH_NONE:
        break;
    case CRM_AUTH_BEARER:
        need[nneed++] = CRM_S_TOKEN;
        break;
    case CRM_AUTH_HEADER:
        need[nneed++] = CRM_S_APIKEY;
        break;
    case CRM_AUTH_BASIC:
        need[nneed++] = CRM_S_USER;
        need[nneed++] = CRM_S_PASS;
        break;
    case CRM_AUTH_STANDARD_WEBHOOKS:
        need[nneed++] = CRM_S_SIGN;
        optional = CRM_S_SIGN_NEXT;
        break;
    }
    crm_secret_vals *v = calloc(1, sizeof *v);
    if (!v)
        return C360_ENOMEM;
    v->host = host;
    v->refs = 1;
    int32_t st = C360_OK;
    for (int i = 0; i < nneed && st == C360_OK; i++) {
        st = crm_secret_get(v, call, need[i], out);
        if (st == C360_ENOTFOUND)
            st = crm_secret_problem(out, crm_secret_names[need[i]],
                                    "is not set (put it with the connection's secrets)");
    }
    if (st == C360_OK && optional >= 0) {
        st = crm_secret_get(v, call, optional, out);
        if (st == C360_ENOTFOUND)
            st = C360_OK;
    }
    if (st != C360_OK) {
        crm_vals_free(v);
        return st;
    }
    *out_v = v;
    return C360_OK;
}

/* A header value: printable ASCII, no CR/LF (which the host would refuse,
 * and which could split headers elsewhere). */
static bool crm_header_safe(const uint8_t *v, size_t len, bool allow_space)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (v[i] < 0x20 || v[i] >= 0x7f || (!allow_space && v[i] == ' '))
            return false;
    return true;
}

static int32_t crm_set_auth(crm_secrets *s, const char *prefix, const uint8_t *v, size_t len)
{
    size_t pl = strlen(prefix);
    s->auth_value = malloc(pl + len + 1);
    if (!s->auth_value)
        return C360_ENOMEM;
    memcpy(s->auth_value, prefix, pl);
    memcpy(s->auth_value + pl, v, len);
    s->auth_len = pl + len;
    s->auth_value[s->auth_len] = '\0';
    return C360_OK;
}

/* Checks the values and makes what the call sends from them. */
static int32_t crm_derive(const crm_cfg *cfg, crm_secrets *s, crm_call_out *out)
{
    const c360_host_api *host = s->host;
    const crm_secret_vals *v = s->vals;
    /* Every value read goes on the redaction list (those of 4 bytes and
     * more: shorter ones would blot out ordinary text). */
    for (int i = 0; i < CRM_S_N; i++) {
        if (v->val[i] && v->len[i] >= 4) {
            s->redact[s->nredact] = (const char *)v->val[i];
            s->redact_len[s->nredact++] = v->len[i];
        }
    }
    switch (cfg->auth) {
    case CRM_AUTH_NONE:
        return C360_OK;
    case CRM_AUTH_BEARER:
        if (!crm_header_safe(v->val[CRM_S_TOKEN], v->len[CRM_S_TOKEN], false))
            return crm_secret_problem(out, "token", "must be printable ASCII "
                                      "without spaces");
        return crm_set_auth(s, "Bearer ", v->val[CRM_S_TOKEN], v->len[CRM_S_TOKEN]);
    case CRM_AUTH_HEADER:
        if (!crm_header_safe(v->val[CRM_S_APIKEY], v->len[CRM_S_APIKEY], true))
            return crm_secret_problem(out, "api_key", "must be printable ASCII");
        return crm_set_auth(s, "", v->val[CRM_S_APIKEY], v->len[CRM_S_APIKEY]);
    case CRM_AUTH_BASIC: {
        const uint8_t *u = v->val[CRM_S_USER], *pw = v->val[CRM_S_PASS];
        size_t ul = v->len[CRM_S_USER], pwl = v->len[CRM_S_PASS];
        if (ul == 0 || memchr(u, ':', ul))
            return crm_secret_problem(out, "username", "must be non-empty and "
                                      "hold no ':' (RFC 7617)");
        for (size_t i = 0; i < ul + pwl; i++) {
            uint8_t ch = i < ul ? u[i] : pw[i - ul];
            if (ch < 0x20 || ch == 0x7f)
                return crm_secret_problem(out, i < ul ? "username" : "password",
                                          "must not hold control characters");
        }
        /* Both at most CRM_SECRET_MAX (crm_secret_get); said again here,
         * where the sum is made, so that it visibly cannot wrap. */
        if (ul > CRM_SECRET_MAX || pwl > CRM_SECRET_MAX)
            return crm_secret_problem(out, "username", "and password must be at most 64 KiB each");
        size_t plen = ul + 1 + pwl;
        uint8_t *pair = malloc(plen);
        if (!pair)
            return C360_ENOMEM;
        memcpy(pair, u, ul);
        memcpy(pair + ul, ":", 1);
        memcpy(pair + ul + 1, pw, pwl);
        char *b64 = host->base64_encode(pair, plen, C360_B64_STANDARD);
        crm_wipe(pair, plen);
        free(pair);
        if (!b64)
            return C360_ENOMEM;
        size_t bl = strlen(b64);
        int32_t st = crm_set_auth(s, "Basic ", (const uint8_t *)b64, bl);
        /* The encoded pair is the credential on the wire: redact it too. */
        if (st == C360_OK) {
            s->redact[s->nredact] = s->auth_value + 6;
            s->redact_len[s->nredact++] = bl;
        }
        crm_wipe(b64, bl);
        host->free(b64);
        return st;
    }
    case CRM_AUTH_STANDARD_WEBHOOKS:
        for (int w = CRM_S_SIGN; w <= CRM_S_SIGN_NEXT; w++) {
            if (!v->val[w])
                continue;
            const char *why = NULL;
            if (crm_whsec_decode(host, (const char *)v->val[w], v->len[w],
                                 s->key[s->nkeys], &s->key_len[s->nkeys],
                                 &why) != C360_OK)
                return crm_secret_problem(out, crm_secret_names[w], why);
            s->nkeys++;
        }
        return C360_OK;
    }
    return C360_OK;
}

int32_t crm_secrets_load(const c360_host_api *host, crm_conn *c, c360_call *call,
                         crm_secrets *s, crm_call_out *out)
{
    memset(s, 0, sizeof *s);
    s->host = host;
    if (c->cfg.auth == CRM_AUTH_NONE)
        return C360_OK;
    pthread_mutex_lock(&c->sec_lock);
    crm_secret_vals *v = c->sec_cache;
    if (v)
        v->refs++;
    pthread_mutex_unlock(&c->sec_lock);
    bool fresh = v == NULL;
    if (fresh) {
        /* Read without the lock held: the other calls of the connection
         * do not wait on this one's Redis round trips. Calls that find the
         * cache empty at once each read; the first usable set is kept. */
        int32_t st = crm_vals_read(host, &c->cfg, call, out, &v);
        if (st != C360_OK)
            return st;
    }
    s->vals = v;
    int32_t st = crm_derive(&c->cfg, s, out);
    if (st != C360_OK) {
        /* Not kept (fresh), or no longer (a kept set that fails here can
         * only have hit ENOMEM; forgetting it costs one read). */
        if (!fresh)
            crm_secrets_forget(c, s);
        return st;
    }
    if (fresh) {
        pthread_mutex_lock(&c->sec_lock);
        if (!c->sec_cache) {
            c->sec_cache = v;
            v->refs++;
        }
        pthread_mutex_unlock(&c->sec_lock);
    }
    return C360_OK;
}

void crm_secrets_forget(crm_conn *c, const crm_secrets *s)
{
    crm_secret_vals *drop = NULL;
    pthread_mutex_lock(&c->sec_lock);
    /* Only the set this call used: one a later call read may already be
     * the fixed one. */
    if (s->vals && c->sec_cache == s->vals) {
        drop = c->sec_cache;
        c->sec_cache = NULL;
    }
    pthread_mutex_unlock(&c->sec_lock);
    /* The call's own reference keeps the set alive until crm_secrets_free. */
    if (drop)
        crm_vals_release(c, drop);
}

void crm_secrets_free(crm_conn *c, crm_secrets *s)
{
    if (s->auth_value) {
        crm_wipe(s->auth_value, s->auth_len);
        free(s->auth_value);
    }
    crm_wipe(s->key, sizeof s->key);
    crm_vals_release(c, s->vals);
    memset(s, 0, sizeof *s);
}
