/* meta_apps.c -- the plugin-wide map of the Meta apps the open connections
 * use. One app-level URL (/hooks/meta) serves every tenant, so
 * webhook_verify runs without a connection and must find the app secret
 * and the verify token without I/O: instance_open (which may read secrets)
 * puts them here, instance_close takes them out again (refcounted), and
 * the event loop reads them under a read lock. Each process has its own
 * copy; the master's is filled by its opener thread.
 *
 * Entries are keyed by (app id, secret, verify token): two connections of
 * one app normally share one entry, and a connection whose secret was
 * rotated gets its own until the old one is closed.
 *
 * The routing fingerprint binds routing keys to the secret: an event is
 * routed with keys "app:<id>:<fp>:page:<page>", where fp is derived from
 * the secret that signed it. A tenant that configures someone else's app
 * id with a secret of its own can therefore never sign its way into
 * another tenant's page: its signature only reaches keys with its own
 * fingerprint. fp = the first 16 hex characters of HMAC-SHA256(secret,
 * "c360/meta/route"): it says nothing about the secret.
 *
 * With a host of ABI 1.8 each entry also holds its secret prepared for
 * HMAC (host guarded memory, freed with the entry): a body then costs its
 * own blocks only, not the key's two extra SHA-256 compressions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "meta.h"

#define FP_LABEL "c360/meta/route"
#define SIG_PREFIX "sha256="

void meta_apps_init(meta_apps *m)
{
    pthread_rwlock_init(&m->lock, NULL);
    pthread_mutex_init(&m->hint_lock, NULL);
    m->head = NULL;
    m->hint[0] = '\0';
    atomic_init(&m->gen, 0);
}

static void app_free(meta_app *a)
{
    if (a->key != NULL) a->key_free(a->key); /* wipes */
    if (a->secret != NULL) {
        volatile uint8_t *s = a->secret;
        for (size_t i = 0; i < a->secret_len; i++) s[i] = 0;
        free(a->secret);
    }
    free(a);
}

void meta_apps_destroy(meta_apps *m)
{
    for (meta_app *a = m->head, *n; a != NULL; a = n) {
        n = a->next;
        app_free(a);
    }
    m->head = NULL;
    pthread_rwlock_destroy(&m->lock);
    pthread_mutex_destroy(&m->hint_lock);
}

void meta_route_fp(const meta_crypto *cr, const uint8_t *secret,
                   size_t secret_len, char out[META_FP_LEN + 1])
{
    uint8_t mac[32];
    char hex[65];
    cr->hmac_sha256(secret, secret_len, FP_LABEL, sizeof FP_LABEL - 1, mac);
    meta_hex(mac, sizeof mac, hex);
    memcpy(out, hex, META_FP_LEN);
    out[META_FP_LEN] = '\0';
}

/* Appends s at *at if it fits before cap - 1 (room for the NUL). */
static bool put(char *out, size_t cap, size_t *at, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap - *at) return false;
    memcpy(out + *at, s, n);
    *at += n;
    return true;
}

/* Once per routing key of every webhook on the event loop: plain copies,
 * not snprintf (which costs several times more). */
bool meta_route_key(const char *app_id, const char *fp, bool instagram,
                    const char *owner, char *out, size_t cap)
{
    size_t at = 0;
    if (cap == 0) return false;
    bool ok = put(out, cap, &at, "app:") && put(out, cap, &at, app_id) &&
              put(out, cap, &at, ":") && put(out, cap, &at, fp) &&
              put(out, cap, &at, instagram ? ":ig:" : ":page:") &&
              put(out, cap, &at, owner);
    out[ok ? at : 0] = '\0';
    return ok;
}

meta_app *meta_apps_get(meta_apps *m, const meta_crypto *cr, const char *app_id,
                        const uint8_t *secret, size_t secret_len,
                        const char *vt, size_t vt_len)
{
    uint8_t vh[32];
    cr->sha256(vt, vt_len, vh);
    pthread_rwlock_wrlock(&m->lock);
    for (meta_app *a = m->head; a != NULL; a = a->next) {
        if (strcmp(a->app_id, app_id) == 0 && a->secret_len == secret_len &&
            memcmp(a->secret, secret, secret_len) == 0 &&
            memcmp(a->vt_hash, vh, sizeof vh) == 0) {
            a->refs++;
            pthread_rwlock_unlock(&m->lock);
            return a;
        }
    }
    meta_app *a = calloc(1, sizeof *a);
    if (a != NULL) a->secret = malloc(secret_len + 1);
    if (a == NULL || a->secret == NULL) {
        pthread_rwlock_unlock(&m->lock);
        free(a);
        return NULL;
    }
    snprintf(a->app_id, sizeof a->app_id, "%s", app_id);
    memcpy(a->secret, secret, secret_len);
    a->secret[secret_len] = 0; /* handed to the host as a C string (OAuth) */
    a->secret_len = secret_len;
    memcpy(a->vt_hash, vh, sizeof vh);
    meta_route_fp(cr, secret, secret_len, a->fp);
    /* Prepared once here (off the event loop, under the write lock), used
     * by every match and signature check of the entry's life. NULL from
     * hmac_key_new (out of memory) only costs speed: the secret is used
     * as it is. */
    if (cr->hmac_key_new != NULL && cr->hmac_keyed != NULL && cr->hmac_key_free != NULL) {
        a->key = cr->hmac_key_new(secret, secret_len);
        a->key_free = cr->hmac_key_free;
    }
    a->refs = 1;
    a->next = m->head;
    m->head = a;
    atomic_fetch_add(&m->gen, 1);
    pthread_rwlock_unlock(&m->lock);
    return a;
}

void meta_apps_put(meta_apps *m, meta_app *a)
{
    if (a == NULL) return;
    pthread_rwlock_wrlock(&m->lock);
    if (--a->refs == 0) {
        for (meta_app **pp = &m->head; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == a) {
                *pp = a->next;
                break;
            }
        }
        app_free(a);
        atomic_fetch_add(&m->gen, 1);
    }
    pthread_rwlock_unlock(&m->lock);
}

bool meta_apps_verify_token(meta_apps *m, const meta_crypto *cr,
                            const char *tok, size_t len)
{
    uint8_t h[32];
    bool found = false;
    if (len == 0) return false;
    /* Hashes of equal length are compared, so the time taken says nothing
     * about how much of a token was right, nor about the tokens' lengths.
     * Every entry is compared, found or not. */
    cr->sha256(tok, len, h);
    pthread_rwlock_rdlock(&m->lock);
    for (meta_app *a = m->head; a != NULL; a = a->next)
        found |= cr->ct_equal(a->vt_hash, h, sizeof h) == 1;
    pthread_rwlock_unlock(&m->lock);
    return found;
}

/* The 32 bytes of "sha256=<64 hex>" (case-insensitive prefix and hex). */
static bool sig_decode(const char *sig, uint8_t out[32])
{
    size_t pl = sizeof SIG_PREFIX - 1;
    if (sig == NULL || strlen(sig) != pl + 64 || strncasecmp(sig, SIG_PREFIX, pl) != 0)
        return false;
    return meta_hex_decode(sig + pl, 64, out);
}

void meta_app_mac(const meta_crypto *cr, const meta_app *a, const void *msg, size_t len,
                  uint8_t mac[32])
{
    if (a->key != NULL && cr->hmac_keyed != NULL)
        cr->hmac_keyed(a->key, msg, len, mac);
    else
        cr->hmac_sha256(a->secret, a->secret_len, msg, len, mac);
}

bool meta_sig_ok(const meta_crypto *cr, const meta_app *a, const char *sig,
                 const uint8_t *body, size_t len)
{
    uint8_t want[32], mac[32];
    if (!sig_decode(sig, want)) return false;
    meta_app_mac(cr, a, body, len, mac);
    return cr->ct_equal(mac, want, sizeof mac) == 1;
}

static bool same_secret(const meta_app *a, const meta_app *b)
{
    return a->secret_len == b->secret_len &&
           memcmp(a->secret, b->secret, a->secret_len) == 0;
}

/* Every app holding the secret of `hit`, distinct (app id, fp), into out. */
static size_t name_apps(const meta_apps *m, const meta_app *hit, meta_match *out,
                        size_t max)
{
    size_t n = 0;
    for (const meta_app *a = m->head; a != NULL && n < max; a = a->next) {
        if (!same_secret(a, hit)) continue;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(out[i].app_id, a->app_id) == 0;
        if (dup) continue;
        memcpy(out[n].app_id, a->app_id, sizeof out[n].app_id);
        memcpy(out[n].fp, a->fp, sizeof out[n].fp);
        n++;
    }
    return n;
}

size_t meta_apps_match(meta_apps *m, const meta_crypto *cr, const char *sig,
                       const uint8_t *body, size_t len, meta_match *out,
                       size_t max)
{
    uint8_t want[32], mac[32];
    char hint[META_FP_LEN + 1];
    const meta_app *hit = NULL, *tried = NULL;
    if (max == 0 || !sig_decode(sig, want)) return 0;
    pthread_mutex_lock(&m->hint_lock);
    memcpy(hint, m->hint, sizeof hint);
    pthread_mutex_unlock(&m->hint_lock);
    pthread_rwlock_rdlock(&m->lock);
    /* The secret that signed the last authentic body first: most bodies
     * come from the one app most connections use. */
    for (const meta_app *a = m->head; a != NULL && hint[0] != '\0'; a = a->next) {
        if (strcmp(a->fp, hint) != 0) continue;
        meta_app_mac(cr, a, body, len, mac);
        if (cr->ct_equal(mac, want, sizeof mac) == 1) hit = a;
        tried = a;
        break;
    }
    /* Then each distinct secret once, until one matches (two secrets
     * cannot both sign a body). */
    for (const meta_app *a = m->head; a != NULL && hit == NULL; a = a->next) {
        bool done = tried != NULL && same_secret(a, tried);
        for (const meta_app *b = m->head; b != a && !done; b = b->next) done = same_secret(a, b);
        if (done) continue;
        meta_app_mac(cr, a, body, len, mac);
        if (cr->ct_equal(mac, want, sizeof mac) == 1) hit = a;
    }
    size_t n = 0;
    if (hit != NULL) {
        n = name_apps(m, hit, out, max);
        if (strcmp(hint, hit->fp) != 0) {
            pthread_mutex_lock(&m->hint_lock);
            memcpy(m->hint, hit->fp, sizeof m->hint);
            pthread_mutex_unlock(&m->hint_lock);
        }
    }
    pthread_rwlock_unlock(&m->lock);
    return n;
}
