/* crm_sign.c -- Standard Webhooks signatures (standard-webhooks v1.0.0,
 * ../shared/reference/providers.md): the secret is "whsec_" + base64 of
 * random bytes and the HMAC key is those bytes; the signature of a request
 * is "v1," + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))
 * over the exact body bytes sent. During a rotation the header carries one
 * signature per secret, space-separated, so receivers on the old or the new
 * secret both accept the request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"

#define CRM_WHSEC_PREFIX "whsec_"

int32_t crm_whsec_decode(const c360_host_api *host, const char *secret,
                         size_t len, uint8_t *key, size_t *key_len,
                         const char **why)
{
    static const size_t plen = sizeof CRM_WHSEC_PREFIX - 1;
    *key_len = 0;
    /* A pasted secret often ends in a newline: tolerated, nothing else. */
    while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r'))
        len--;
    if (len <= plen || memcmp(secret, CRM_WHSEC_PREFIX, plen) != 0) {
        *why = "does not start with whsec_";
        return C360_EINVAL;
    }
    uint8_t *bin = NULL;
    size_t n = 0;
    if (host->base64_decode(secret + plen, len - plen, C360_B64_STANDARD, &bin,
                            &n) != C360_OK) {
        *why = "is not whsec_ followed by standard base64";
        return C360_EINVAL;
    }
    int32_t st = C360_OK;
    if (n < CRM_WHSEC_MIN || n > CRM_WHSEC_MAX) {
        *why = "must decode to 16..128 bytes (24..64 recommended)";
        st = C360_EINVAL;
    } else {
        memcpy(key, bin, n);
        *key_len = n;
    }
    /* The decoded key is as secret as the text: wipe the host's copy. */
    volatile uint8_t *w = bin;
    for (size_t i = 0; i < n; i++)
        w[i] = 0;
    host->free(bin);
    return st;
}

int32_t crm_sign(const c360_host_api *host, crm_buf *body, const char *id,
                 int64_t ts_s, const uint8_t *const *keys,
                 const size_t *key_lens, size_t nkeys, char *out, size_t cap)
{
    char prefix[CRM_SIGN_HEADROOM];
    int plen = snprintf(prefix, sizeof prefix, "%s.%lld.", id, (long long)ts_s);
    if (plen < 0 || (size_t)plen >= sizeof prefix || cap < nkeys * (CRM_SIG_LEN + 1))
        return C360_EINVAL;
    /* An empty body still needs its buffer for the headroom. */
    if (!body->mem) {
        body->mem = calloc(1, CRM_SIGN_HEADROOM + 1);
        if (!body->mem)
            return C360_ENOMEM;
    }
    char *msg = crm_buf_body(body) - plen;
    memcpy(msg, prefix, (size_t)plen);
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nkeys; i++) {
        uint8_t mac[32];
        host->hmac_sha256(keys[i], key_lens[i], msg, (size_t)plen + body->len, mac);
        char *b64 = host->base64_encode(mac, sizeof mac, C360_B64_STANDARD);
        if (!b64)
            return C360_ENOMEM;
        off += (size_t)snprintf(out + off, cap - off, "%sv1,%s", i ? " " : "", b64);
        host->free(b64);
    }
    return C360_OK;
}
