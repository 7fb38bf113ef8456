/* oauth_state.c -- the signed, expiring, single-use state of OAuth connect
 * (oauth_connect.h has the format and the Redis record). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "call.h"
#include "crypto.h"
#include "keyring.h"
#include "log.h"
#include "oauth_connect.h"
#include "rconn.h"
#include "util.h"

#define STATE_VERSION "1"
#define KDF_CONTEXT "c360oast" /* crypto_kdf: exactly 8 bytes */
#define RECORD_SLACK_MS 5000   /* the record outlives the state a little, so
                                  an expired state reads as expired, not as
                                  used, even across host clocks */
#define PAYLOAD_MAX 512

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static const ch_keyring *g_kr;
static int64_t g_ttl_ms = CH_OC_STATE_TTL_MS_DEFAULT;

void ch_oauth_connect_init(const ch_keyring *kr)
{
    pthread_mutex_lock(&g_mu);
    g_kr = kr;
    pthread_mutex_unlock(&g_mu);
}

void ch_oauth_connect_set_state_ttl_ms(int64_t ms)
{
    if (ms == 0) ms = CH_OC_STATE_TTL_MS_DEFAULT;
    if (ms < 1000) ms = 1000;
    if (ms > 3600000) ms = 3600000;
    pthread_mutex_lock(&g_mu);
    g_ttl_ms = ms;
    pthread_mutex_unlock(&g_mu);
}

int64_t ch_oauth_connect_state_ttl_ms(void)
{
    pthread_mutex_lock(&g_mu);
    int64_t v = g_ttl_ms;
    pthread_mutex_unlock(&g_mu);
    return v;
}

/* The MAC key for keyring key `kid` (the active one when kid is NULL; its
 * id into kid_out). Derived, so the keyring key itself never signs
 * anything a browser carries. -1 without a keyring or such a key. */
static int mac_key(const char *kid, unsigned char out[32], char *kid_out, size_t kcap)
{
    /* Under the lock: once ch_oauth_connect_init has replaced the keyring,
     * no derivation uses the old one, and its owner may free it. */
    int rc = -1;
    pthread_mutex_lock(&g_mu);
    if (g_kr) {
        if (!kid) kid = ch_keyring_active_id(g_kr);
        const unsigned char *k = kid ? ch_keyring_key(g_kr, kid) : NULL;
        if (k) {
            crypto_kdf_derive_from_key(out, 32, 1, KDF_CONTEXT, k);
            if (kid_out) snprintf(kid_out, kcap, "%s", kid);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

static void b64url(const void *bin, size_t len, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* An audit actor ("apikey:<id>"): printable, no '.', no space. */
static int actor_ok(const char *a)
{
    size_t n = a ? strnlen(a, CH_ID_MAX + 8) : 0;
    if (n == 0 || n > CH_ID_MAX + 7) return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] <= 0x20 || a[i] >= 0x7f || a[i] == '.') return 0;
    return 1;
}

static char *record_key(const char *tenant, const char *nonce)
{
    return ch_key_tenant(tenant, "oauth-state:%s", nonce);
}

/* A PKCE verifier (43 base64url characters: RFC 7636 asks for 43..128 of
 * the unreserved set) and its S256 challenge. */
static void pkce_pair(char *verifier, char *challenge)
{
    unsigned char r[32], h[32];
    randombytes_buf(r, sizeof r);
    b64url(r, sizeof r, verifier, CH_OC_VERIFIER_LEN + 1);
    sodium_memzero(r, sizeof r);
    ch_sha256(verifier, strlen(verifier), h);
    b64url(h, sizeof h, challenge, CH_OC_VERIFIER_LEN + 1);
}

int32_t ch_oc_state_new(const char *tenant, const char *conn, const char *actor, int pkce,
                        const char *return_url, char *text, size_t cap, char *challenge,
                        size_t chcap, int64_t *expires_ms)
{
    text[0] = '\0';
    if (challenge && chcap) challenge[0] = '\0';
    if (!ch_id_valid(tenant) || !ch_id_valid(conn) || !actor_ok(actor) || cap < CH_OC_STATE_MAX + 1 ||
        (pkce && (!challenge || chcap < CH_OC_VERIFIER_LEN + 1)))
        return C360_EINVAL;
    unsigned char key[32];
    char kid[CH_KEYRING_ID_MAX + 1];
    if (mac_key(NULL, key, kid, sizeof kid) != 0) return C360_EUNSUPPORTED;

    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    char nonce[CH_OC_NONCE_LEN + 1];
    b64url(rnd, sizeof rnd, nonce, sizeof nonce);
    int64_t ttl = ch_oauth_connect_state_ttl_ms();
    int64_t exp = ch_now_ms() + ttl;

    char payload[PAYLOAD_MAX];
    int pn = snprintf(payload, sizeof payload, STATE_VERSION ".%s.%lld.%s.%s.%s.%s", kid,
                      (long long)exp, nonce, tenant, conn, actor);
    if (pn < 0 || (size_t)pn >= sizeof payload) {
        sodium_memzero(key, sizeof key);
        return C360_EINVAL;
    }
    unsigned char mac[32];
    ch_hmac_sha256(key, sizeof key, payload, (size_t)pn, mac);
    sodium_memzero(key, sizeof key);

    /* The single-use record, written before the state is handed out. */
    char verifier[CH_OC_VERIFIER_LEN + 1] = "";
    if (pkce) pkce_pair(verifier, challenge);
    json_t *rec = json_pack("{s:s, s:s}", "c", conn, "a", actor);
    if (verifier[0]) json_object_set_new(rec, "v", json_string(verifier));
    if (return_url && return_url[0]) json_object_set_new(rec, "r", json_string(return_url));
    char *val = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    sodium_memzero(verifier, sizeof verifier);
    if (!val) abort(); /* only out of memory: the strings were checked */
    char *k = record_key(tenant, nonce);
    char px[24];
    snprintf(px, sizeof px, "%lld", (long long)(ttl + RECORD_SLACK_MS));
    const char *argv[] = {"SET", k, val, "PX", px, "NX"};
    redisReply *r = ch_rconn_argv(6, argv, NULL);
    sodium_memzero(val, strlen(val));
    free(val);
    free(k);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (!ok) {
        ch_log(CH_LOG_ERROR, "oauth connect: cannot store the state", "tenant", tenant,
               "connection", conn, "error", r ? "unexpected reply" : ch_rconn_error(), NULL);
        return C360_EIO;
    }

    char p64[PAYLOAD_MAX * 4 / 3 + 4], m64[48];
    b64url(payload, (size_t)pn, p64, sizeof p64);
    b64url(mac, sizeof mac, m64, sizeof m64);
    snprintf(text, cap, "%s.%s", p64, m64);
    if (expires_ms) *expires_ms = exp;
    return C360_OK;
}

/* Splits the payload into its 7 fields (in place). */
static int split_payload(char *p, char **f)
{
    int n = 0;
    f[n++] = p;
    for (char *c = p; *c; c++) {
        if (*c != '.') continue;
        if (n == 7) return -1;
        *c = '\0';
        f[n++] = c + 1;
    }
    return n == 7 ? 0 : -1;
}

static int b64url_decode(const char *s, size_t slen, unsigned char *out, size_t cap, size_t *len)
{
    const char *end = NULL;
    if (sodium_base642bin(out, cap, s, slen, NULL, len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    return end == s + slen ? 0 : -1;
}

ch_oc_verdict ch_oc_state_check(const char *text, ch_oc_state *out)
{
    memset(out, 0, sizeof *out);
    if (!text) return CH_OC_BAD;
    size_t tl = strnlen(text, CH_OC_STATE_MAX + 1);
    if (tl == 0 || tl > CH_OC_STATE_MAX) return CH_OC_BAD;
    const char *dot = strrchr(text, '.');
    if (!dot || dot == text) return CH_OC_BAD;
    char payload[PAYLOAD_MAX + 1];
    unsigned char mac[33];
    size_t plen = 0, mlen = 0;
    if (b64url_decode(text, (size_t)(dot - text), (unsigned char *)payload, PAYLOAD_MAX, &plen) != 0 ||
        b64url_decode(dot + 1, tl - (size_t)(dot - text) - 1, mac, sizeof mac, &mlen) != 0 ||
        mlen != 32)
        return CH_OC_BAD;
    payload[plen] = '\0';
    if (strlen(payload) != plen) return CH_OC_BAD; /* an embedded NUL */

    /* The key id is needed to find the key: read it, then trust nothing
     * until the MAC checks. */
    char kid[CH_KEYRING_ID_MAX + 1];
    const char *k0 = strchr(payload, '.');
    const char *k1 = k0 ? strchr(k0 + 1, '.') : NULL;
    if (!k0 || !k1 || (size_t)(k1 - k0 - 1) > CH_KEYRING_ID_MAX) return CH_OC_BAD;
    snprintf(kid, sizeof kid, "%.*s", (int)(k1 - k0 - 1), k0 + 1);
    if (!ch_keyring_id_valid(kid)) return CH_OC_BAD;
    unsigned char key[32], want[32];
    if (mac_key(kid, key, NULL, 0) != 0) {
        /* Not ours, or the key was retired: either way it cannot be
         * honoured. A missing keyring is an outage, not a bad state. */
        pthread_mutex_lock(&g_mu);
        int have = g_kr != NULL;
        pthread_mutex_unlock(&g_mu);
        return have ? CH_OC_BAD : CH_OC_UNAVAILABLE;
    }
    ch_hmac_sha256(key, sizeof key, payload, plen, want);
    sodium_memzero(key, sizeof key);
    if (!ch_ct_equal(want, mac, 32)) return CH_OC_BAD;

    char *f[7];
    if (split_payload(payload, f) != 0 || strcmp(f[0], STATE_VERSION) != 0) return CH_OC_BAD;
    long long exp;
    if (ch_parse_ll(f[2], 1, INT64_MAX, &exp) != 0 || strlen(f[3]) != CH_OC_NONCE_LEN ||
        !ch_id_valid(f[3]) || !ch_id_valid(f[4]) || !ch_id_valid(f[5]) || !actor_ok(f[6]))
        return CH_OC_BAD;
    snprintf(out->nonce, sizeof out->nonce, "%s", f[3]);
    snprintf(out->tenant, sizeof out->tenant, "%s", f[4]);
    snprintf(out->conn, sizeof out->conn, "%s", f[5]);
    snprintf(out->actor, sizeof out->actor, "%s", f[6]);
    out->expires_ms = exp;
    return ch_now_ms() >= exp ? CH_OC_EXPIRED : CH_OC_OK;
}

ch_oc_verdict ch_oc_state_take(const ch_oc_state *st, char *verifier, size_t vcap,
                               char *return_url, size_t rcap)
{
    if (vcap) verifier[0] = '\0';
    if (rcap) return_url[0] = '\0';
    char *k = record_key(st->tenant, st->nonce);
    const char *argv[] = {"GETDEL", k};
    redisReply *r = ch_rconn_argv(2, argv, NULL);
    free(k);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        ch_log(CH_LOG_ERROR, "oauth connect: cannot read the state record", "tenant", st->tenant,
               "connection", st->conn, "error",
               r && r->type == REDIS_REPLY_ERROR ? r->str : ch_rconn_error(), NULL);
        if (r) freeReplyObject(r);
        return CH_OC_UNAVAILABLE;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return CH_OC_USED;
    }
    json_t *j = json_loadb(r->str, r->len, JSON_REJECT_DUPLICATES, NULL);
    sodium_memzero(r->str, r->len);
    freeReplyObject(r);
    ch_oc_verdict v = CH_OC_BAD;
    const char *c = json_string_value(json_object_get(j, "c"));
    const char *a = json_string_value(json_object_get(j, "a"));
    json_t *vv = json_object_get(j, "v"), *rr = json_object_get(j, "r");
    /* The record is ours, but it is checked against the signed state all
     * the same: a state can only ever use its own record. */
    if (c && a && strcmp(c, st->conn) == 0 && strcmp(a, st->actor) == 0 &&
        (!vv || (json_is_string(vv) && json_string_length(vv) < vcap)) &&
        (!rr || (json_is_string(rr) && json_string_length(rr) < rcap))) {
        if (vv) memcpy(verifier, json_string_value(vv), json_string_length(vv) + 1);
        if (rr) memcpy(return_url, json_string_value(rr), json_string_length(rr) + 1);
        v = CH_OC_OK;
    }
    if (json_is_string(vv)) sodium_memzero((void *)json_string_value(vv), json_string_length(vv));
    json_decref(j);
    return v;
}
