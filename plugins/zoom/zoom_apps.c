/* zoom_apps.c -- the plugin-wide map of the webhook secret tokens the open
 * connections use, and the x-zm-signature check.
 *
 * One app-level URL (/hooks/zoom) serves every tenant, so webhook_verify
 * runs without a connection: instance_open puts each connection's secret
 * token here (refcounted; connections of one Zoom app share an entry),
 * instance_close takes it out, the event loop reads under a read lock.
 *
 * x-zm-signature = "v0=" + hex HMAC-SHA256(secret token,
 * "v0:" + x-zm-request-timestamp + ":" + raw body); the timestamp (Unix
 * seconds) must be within ZOOM_SKEW_S of now, so a captured request
 * cannot be replayed later. Compared in constant time.
 *
 * Routing keys are "acct:<account id>:<fp>", fp = the first 16 hex of
 * HMAC-SHA256(secret token, "c360/zoom/route"): a tenant that configures
 * someone else's account id with a secret token of its own never
 * receives that account's events (they are signed with another secret). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zoom.h"

#define FP_LABEL "c360/zoom/route"

void zoom_apps_init(zoom_apps *m)
{
    pthread_rwlock_init(&m->lock, NULL);
    m->head = NULL;
}

static void app_free(zoom_app *a)
{
    if (a->secret != NULL) {
        volatile uint8_t *s = a->secret;
        for (size_t i = 0; i < a->secret_len; i++) s[i] = 0;
        free(a->secret);
    }
    free(a);
}

void zoom_apps_destroy(zoom_apps *m)
{
    for (zoom_app *a = m->head, *n; a != NULL; a = n) {
        n = a->next;
        app_free(a);
    }
    m->head = NULL;
    pthread_rwlock_destroy(&m->lock);
}

void zoom_route_fp(const zoom_crypto *cr, const uint8_t *secret, size_t len,
                   char out[ZOOM_FP_LEN + 1])
{
    uint8_t mac[32];
    char hex[65];
    cr->hmac_sha256(secret, len, FP_LABEL, sizeof FP_LABEL - 1, mac);
    zoom_hex(mac, sizeof mac, hex);
    memcpy(out, hex, ZOOM_FP_LEN);
    out[ZOOM_FP_LEN] = '\0';
}

bool zoom_route_key(const char *account_id, const char *fp, char *out, size_t cap)
{
    int n = snprintf(out, cap, "acct:%s:%s", account_id, fp);
    return n > 0 && (size_t)n < cap;
}

zoom_app *zoom_apps_get(zoom_apps *m, const zoom_crypto *cr, const uint8_t *secret, size_t len)
{
    pthread_rwlock_wrlock(&m->lock);
    for (zoom_app *a = m->head; a != NULL; a = a->next) {
        if (a->secret_len == len && memcmp(a->secret, secret, len) == 0) {
            a->refs++;
            pthread_rwlock_unlock(&m->lock);
            return a;
        }
    }
    zoom_app *a = calloc(1, sizeof *a);
    if (a != NULL) a->secret = malloc(len + 1);
    if (a == NULL || a->secret == NULL) {
        pthread_rwlock_unlock(&m->lock);
        free(a);
        return NULL;
    }
    memcpy(a->secret, secret, len);
    a->secret[len] = 0;
    a->secret_len = len;
    zoom_route_fp(cr, secret, len, a->fp);
    a->refs = 1;
    a->next = m->head;
    m->head = a;
    pthread_rwlock_unlock(&m->lock);
    return a;
}

void zoom_apps_put(zoom_apps *m, zoom_app *a)
{
    if (a == NULL) return;
    pthread_rwlock_wrlock(&m->lock);
    if (--a->refs == 0) {
        for (zoom_app **pp = &m->head; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == a) {
                *pp = a->next;
                break;
            }
        }
        app_free(a);
    }
    pthread_rwlock_unlock(&m->lock);
}

/* The header values decoded: the 32 signature bytes and the timestamp.
 * Returns a zoom_sig_result (OK, MISSING, MALFORMED or STALE). */
static int sig_prepare(const char *sig, const char *ts, int64_t now_s, uint8_t want[32],
                       char tsbuf[16])
{
    if (sig == NULL || ts == NULL) return ZOOM_SIG_MISSING;
    size_t tl = strlen(ts);
    if (strlen(sig) != 3 + 64 || strncasecmp(sig, "v0=", 3) != 0 ||
        !zoom_hex_decode(sig + 3, 64, want) || tl == 0 || tl > 13 ||
        strspn(ts, "0123456789") != tl)
        return ZOOM_SIG_MALFORMED;
    int64_t t = strtoll(ts, NULL, 10);
    /* Some senders use milliseconds: accepted (UNCONFIRMED either way). */
    if (tl >= 13) t /= 1000;
    if (t < now_s - ZOOM_SKEW_S || t > now_s + ZOOM_SKEW_S) return ZOOM_SIG_STALE;
    memcpy(tsbuf, ts, tl + 1);
    return ZOOM_SIG_OK;
}

static void sig_mac(const zoom_crypto *cr, const uint8_t *secret, size_t slen, const char *ts,
                    const uint8_t *body, size_t len, uint8_t mac[32], uint8_t *buf)
{
    size_t tl = strlen(ts);
    memcpy(buf, "v0:", 3);
    memcpy(buf + 3, ts, tl);
    buf[3 + tl] = ':';
    if (len > 0) memcpy(buf + 4 + tl, body, len);
    cr->hmac_sha256(secret, slen, buf, 4 + tl + len, mac);
}

int zoom_sig_check(const zoom_crypto *cr, const uint8_t *secret, size_t slen, const char *sig,
                   const char *ts, const uint8_t *body, size_t len, int64_t now_s)
{
    uint8_t want[32], mac[32];
    char tsb[16];
    int r = sig_prepare(sig, ts, now_s, want, tsb);
    if (r != ZOOM_SIG_OK) return r;
    if (len > ZOOM_BODY_MAX) return ZOOM_SIG_BAD;
    uint8_t *buf = malloc(len + 20);
    if (buf == NULL) return ZOOM_SIG_BAD;
    sig_mac(cr, secret, slen, tsb, body, len, mac, buf);
    free(buf);
    return cr->ct_equal(mac, want, sizeof mac) == 1 ? ZOOM_SIG_OK : ZOOM_SIG_BAD;
}

int zoom_apps_match(zoom_apps *m, const zoom_crypto *cr, const char *sig, const char *ts,
                    const uint8_t *body, size_t len, int64_t now_s,
                    char (*fps)[ZOOM_FP_LEN + 1], size_t max, size_t *n)
{
    uint8_t want[32], mac[32];
    char tsb[16];
    *n = 0;
    int r = sig_prepare(sig, ts, now_s, want, tsb);
    if (r != ZOOM_SIG_OK) return r;
    /* Zoom events are small: a larger body is refused before any HMAC, so
     * an unauthenticated POST cannot make the event loop hash megabytes
     * once per known app. */
    if (len > ZOOM_BODY_MAX) return ZOOM_SIG_BAD;
    uint8_t *buf = malloc(len + 20);
    if (buf == NULL) return ZOOM_SIG_BAD;
    pthread_rwlock_rdlock(&m->lock);
    for (zoom_app *a = m->head; a != NULL; a = a->next) {
        sig_mac(cr, a->secret, a->secret_len, tsb, body, len, mac, buf);
        if (cr->ct_equal(mac, want, sizeof mac) != 1 || *n == max) continue;
        memcpy(fps[*n], a->fp, sizeof fps[0]);
        (*n)++;
    }
    pthread_rwlock_unlock(&m->lock);
    free(buf);
    return *n > 0 ? ZOOM_SIG_OK : ZOOM_SIG_BAD;
}

bool zoom_apps_with(zoom_apps *m, const char *fp,
                    void (*fn)(void *arg, const uint8_t *secret, size_t len), void *arg)
{
    bool found = false;
    pthread_rwlock_rdlock(&m->lock);
    for (zoom_app *a = m->head; a != NULL && !found; a = a->next) {
        if (strcmp(a->fp, fp) == 0) {
            fn(arg, a->secret, a->secret_len);
            found = true;
        }
    }
    pthread_rwlock_unlock(&m->lock);
    return found;
}

bool zoom_plain_token_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > ZOOM_PLAIN_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

bool zoom_validation_reply(const zoom_crypto *cr, const uint8_t *secret, size_t slen,
                           const char *plain, char *out, size_t cap, size_t *outlen)
{
    if (!zoom_plain_token_ok(plain)) return false;
    uint8_t mac[32];
    char hex[65];
    cr->hmac_sha256(secret, slen, plain, strlen(plain), mac);
    zoom_hex(mac, sizeof mac, hex);
    /* The plain token's characters need no JSON escaping. */
    int n = snprintf(out, cap, "{\"plainToken\":\"%s\",\"encryptedToken\":\"%s\"}", plain, hex);
    if (n <= 0 || (size_t)n >= cap) return false;
    *outlen = (size_t)n;
    return true;
}
