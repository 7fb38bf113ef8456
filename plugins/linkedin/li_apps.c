/* li_apps.c -- the plugin-wide map of the LinkedIn apps (client id, client
 * secret) the open connections use. One app-level URL (/hooks/linkedin)
 * serves every tenant, so webhook_verify runs without a connection and
 * must find the client secret without I/O: instance_open puts it here,
 * instance_close takes it out again (refcounted), the event loop reads it
 * under a read lock.
 *
 * The routing fingerprint binds routing keys to the secret, as in meta: an
 * event is routed with keys "app:<client id>:<fp>:sa:<account>" (or
 * ":org:<organization>"), fp derived from the secret that signed it, so a
 * tenant configuring someone else's client id with a secret of its own can
 * never sign its way into another tenant's owners. fp = the first 16 hex
 * characters of HMAC-SHA256(secret, "c360/linkedin/route").
 *
 * Signatures (providers.md, LinkedIn): X-LI-Signature is the hex
 * HMAC-SHA256 keyed with the client secret over "hmacsha256=" + raw body;
 * the header value may or may not carry the "hmacsha256=" prefix itself.
 * The challenge answer is the hex HMAC-SHA256 of the challengeCode with the
 * same key: challengeCode is held to [A-Za-z0-9-] (a UUID) so that nobody
 * can have us sign "hmacsha256=<body>" through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "li.h"

#define FP_LABEL "c360/linkedin/route"
#define SIG_PREFIX "hmacsha256="
/* Lead notifications are a few hundred bytes: a larger body is refused
 * before any HMAC, so an unauthenticated POST cannot make the event loop
 * hash megabytes once per known app. */
#define BODY_MAX (64u * 1024u)

void li_apps_init(li_apps *m)
{
    pthread_rwlock_init(&m->lock, NULL);
    m->head = NULL;
}

static void app_free(li_app *a)
{
    if (a->secret != NULL) {
        volatile uint8_t *s = a->secret;
        for (size_t i = 0; i < a->secret_len; i++) s[i] = 0;
        free(a->secret);
    }
    free(a);
}

void li_apps_destroy(li_apps *m)
{
    for (li_app *a = m->head, *n; a != NULL; a = n) {
        n = a->next;
        app_free(a);
    }
    m->head = NULL;
    pthread_rwlock_destroy(&m->lock);
}

void li_route_fp(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
                 char out[LI_FP_LEN + 1])
{
    uint8_t mac[32];
    char hex[65];
    cr->hmac_sha256(secret, secret_len, FP_LABEL, sizeof FP_LABEL - 1, mac);
    li_hex(mac, sizeof mac, hex);
    memcpy(out, hex, LI_FP_LEN);
    out[LI_FP_LEN] = '\0';
}

bool li_route_key(const char *client_id, const char *fp, int kind, const char *owner,
                  char *out, size_t cap)
{
    int n = snprintf(out, cap, "app:%s:%s:%s:%s", client_id, fp,
                     kind == LI_SPONSORED ? "sa" : "org", owner);
    return n > 0 && (size_t)n < cap;
}

li_app *li_apps_get(li_apps *m, const li_crypto *cr, const char *client_id,
                    const uint8_t *secret, size_t secret_len)
{
    pthread_rwlock_wrlock(&m->lock);
    for (li_app *a = m->head; a != NULL; a = a->next) {
        if (strcmp(a->client_id, client_id) == 0 && a->secret_len == secret_len &&
            memcmp(a->secret, secret, secret_len) == 0) {
            a->refs++;
            pthread_rwlock_unlock(&m->lock);
            return a;
        }
    }
    li_app *a = calloc(1, sizeof *a);
    if (a != NULL) a->secret = malloc(secret_len + 1);
    if (a == NULL || a->secret == NULL) {
        pthread_rwlock_unlock(&m->lock);
        free(a);
        return NULL;
    }
    snprintf(a->client_id, sizeof a->client_id, "%s", client_id);
    memcpy(a->secret, secret, secret_len);
    a->secret[secret_len] = 0;
    a->secret_len = secret_len;
    li_route_fp(cr, secret, secret_len, a->fp);
    a->refs = 1;
    a->next = m->head;
    m->head = a;
    pthread_rwlock_unlock(&m->lock);
    return a;
}

void li_apps_put(li_apps *m, li_app *a)
{
    if (a == NULL) return;
    pthread_rwlock_wrlock(&m->lock);
    if (--a->refs == 0) {
        for (li_app **pp = &m->head; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == a) {
                *pp = a->next;
                break;
            }
        }
        app_free(a);
    }
    pthread_rwlock_unlock(&m->lock);
}

/* The 32 bytes of "<64 hex>" or "hmacsha256=<64 hex>". */
static bool sig_decode(const char *sig, uint8_t out[32])
{
    size_t pl = sizeof SIG_PREFIX - 1;
    if (sig == NULL) return false;
    while (*sig == ' ') sig++;
    if (strncasecmp(sig, SIG_PREFIX, pl) == 0) sig += pl;
    size_t n = strlen(sig);
    while (n > 0 && sig[n - 1] == ' ') n--;
    return n == 64 && li_hex_decode(sig, 64, out);
}

static void mac_of(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
                   const uint8_t *body, size_t len, uint8_t mac[32])
{
    /* HMAC over "hmacsha256=" + body without a copy: the prefix is the
     * message's start, so the body is appended to it in a bounded buffer. */
    size_t pl = sizeof SIG_PREFIX - 1;
    uint8_t *msg = malloc(pl + len + 1);
    if (msg == NULL) {
        memset(mac, 0xff, 32);
        return;
    }
    memcpy(msg, SIG_PREFIX, pl);
    if (len > 0) memcpy(msg + pl, body, len);
    cr->hmac_sha256(secret, secret_len, msg, pl + len, mac);
    free(msg);
}

bool li_sig_ok(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
               const char *sig, const uint8_t *body, size_t len)
{
    uint8_t want[32], mac[32];
    if (len > BODY_MAX || !sig_decode(sig, want)) return false;
    mac_of(cr, secret, secret_len, body, len, mac);
    return cr->ct_equal(mac, want, sizeof mac) == 1;
}

size_t li_apps_match(li_apps *m, const li_crypto *cr, const char *sig,
                     const uint8_t *body, size_t len, li_match *out, size_t max)
{
    uint8_t want[32], mac[32];
    size_t n = 0;
    if (len > BODY_MAX || !sig_decode(sig, want)) return 0;
    /* "hmacsha256=" + body, built once for every app. */
    size_t pl = sizeof SIG_PREFIX - 1;
    uint8_t *msg = malloc(pl + len + 1);
    if (msg == NULL) return 0;
    memcpy(msg, SIG_PREFIX, pl);
    if (len > 0) memcpy(msg + pl, body, len);
    pthread_rwlock_rdlock(&m->lock);
    for (li_app *a = m->head; a != NULL; a = a->next) {
        cr->hmac_sha256(a->secret, a->secret_len, msg, pl + len, mac);
        if (cr->ct_equal(mac, want, sizeof mac) != 1) continue;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(out[i].client_id, a->client_id) == 0 && strcmp(out[i].fp, a->fp) == 0;
        if (dup || n == max) continue;
        memcpy(out[n].client_id, a->client_id, sizeof out[n].client_id);
        memcpy(out[n].fp, a->fp, sizeof out[n].fp);
        n++;
    }
    pthread_rwlock_unlock(&m->lock);
    free(msg);
    return n;
}

bool li_challenge_ok(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > LI_CHALLENGE_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-'))
            return false;
    }
    return true;
}

bool li_challenge_answer(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
                         const char *code, char *out, size_t cap)
{
    uint8_t mac[32];
    char hex[65];
    size_t n = strlen(code);
    if (!li_challenge_ok(code, n)) return false;
    cr->hmac_sha256(secret, secret_len, code, n, mac);
    li_hex(mac, sizeof mac, hex);
    int w = snprintf(out, cap, "{\"challengeCode\":\"%s\",\"challengeResponse\":\"%s\"}", code, hex);
    return w > 0 && (size_t)w < cap;
}

size_t li_apps_challenge(li_apps *m, const li_crypto *cr, const char *app_id,
                         const char *code, char *out, size_t cap)
{
    size_t n = 0;
    const li_app *pick = NULL;
    bool ambiguous = false;
    /* A pair proven genuine (a token was obtained with it) answers first:
     * anyone can configure a connection with another tenant's public
     * client id and a wrong secret, and a wrong answer gets the app's
     * webhook blocked by LinkedIn. Among proven pairs of one client id the
     * newest (the list's head) answers. With none proven (the app's
     * webhook registered before any connection was authorised) only an
     * unambiguous candidate answers: one client id with one secret. Two
     * client ids without an applicationId to choose are ambiguous. */
    pthread_rwlock_rdlock(&m->lock);
    for (int pass = 0; pass < 2 && pick == NULL && !ambiguous; pass++) {
        for (li_app *a = m->head; a != NULL; a = a->next) {
            if (pass == 0 && !atomic_load(&a->proven)) continue;
            if (app_id != NULL && app_id[0] != '\0' && strcmp(a->client_id, app_id) != 0) continue;
            if (pick == NULL) {
                pick = a;
                continue;
            }
            if (strcmp(pick->client_id, a->client_id) != 0) ambiguous = true;
            /* unproven: a second secret for the client id is ambiguous too */
            else if (pass == 1 && strcmp(pick->fp, a->fp) != 0) ambiguous = true;
        }
        if (ambiguous) pick = NULL;
    }
    if (pick != NULL && !ambiguous && li_challenge_answer(cr, pick->secret, pick->secret_len,
                                                          code, out, cap))
        n = strlen(out);
    pthread_rwlock_unlock(&m->lock);
    return n;
}
