/* secrets_seal.c -- see secrets_seal.h. */
#include "secrets_seal.h"

#include <string.h>

#include <sodium.h>

#include "keyring.h"
#include "keys.h"

/* Domain label, then NUL-separated parts. Largest: 20 + 4 separators +
 * 2 ids + a name + a key id. */
#define AD_MAX (32 + 2 * CH_ID_MAX + CH_NAME_MAX + CH_KEYRING_ID_MAX + 8)

static size_t put_part(unsigned char *ad, size_t n, const char *s, size_t max)
{
    size_t l = strnlen(s, max);
    memcpy(ad + n, s, l);
    n += l;
    ad[n++] = '\0';
    return n;
}

/* kid NULL: the value's AD; otherwise the DEK's. */
static size_t build_ad(unsigned char *ad, const ch_seal_ctx *c, const char *kid)
{
    size_t n = put_part(ad, 0, kid ? "c360/secret/v1/dek" : "c360/secret/v1/value", 32);
    n = put_part(ad, n, c->tenant, CH_ID_MAX);
    n = put_part(ad, n, c->conn, CH_ID_MAX);
    if (!kid) return put_part(ad, n, c->name, CH_NAME_MAX) - 1; /* no trailing NUL */
    n = put_part(ad, n, c->name, CH_NAME_MAX);
    return put_part(ad, n, kid, CH_KEYRING_ID_MAX) - 1;
}

void ch_seal_wrap(const ch_seal_ctx *c, const char *kid, const unsigned char *mk,
                  const unsigned char *dek, unsigned char *wdek)
{
    unsigned char ad[AD_MAX];
    size_t adlen = build_ad(ad, c, kid);
    randombytes_buf(wdek, CH_SEAL_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wdek + CH_SEAL_NONCE, NULL, dek, CH_SEAL_DEK,
                                               ad, adlen, NULL, wdek, mk);
}

void ch_seal(const ch_seal_ctx *c, const char *kid, const unsigned char *mk,
             const void *value, size_t len, unsigned char *ct, unsigned char *wdek)
{
    unsigned char dek[CH_SEAL_DEK];
    crypto_aead_xchacha20poly1305_ietf_keygen(dek);
    unsigned char ad[AD_MAX];
    size_t adlen = build_ad(ad, c, NULL);
    randombytes_buf(ct, CH_SEAL_NONCE);
    /* libsodium accepts a NULL message pointer for an empty message only
     * in some versions: hand it a valid address either way. */
    static const unsigned char empty[1];
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct + CH_SEAL_NONCE, NULL,
                                               len ? value : empty, len, ad, adlen, NULL,
                                               ct, dek);
    ch_seal_wrap(c, kid, mk, dek, wdek);
    sodium_memzero(dek, sizeof dek);
}

int ch_seal_unwrap(const ch_seal_ctx *c, const char *kid, const unsigned char *mk,
                   const unsigned char *wdek, unsigned char *dek)
{
    unsigned char ad[AD_MAX];
    size_t adlen = build_ad(ad, c, kid);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL, wdek + CH_SEAL_NONCE,
                                                   CH_SEAL_DEK + CH_SEAL_TAG, ad, adlen,
                                                   wdek, mk) != 0) {
        sodium_memzero(dek, CH_SEAL_DEK);
        return -1;
    }
    return 0;
}

int ch_seal_open(const ch_seal_ctx *c, const unsigned char *dek, const unsigned char *ct,
                 size_t ctlen, unsigned char *out)
{
    if (ctlen < CH_SEAL_CT_OVERHEAD) return -1;
    unsigned char ad[AD_MAX];
    size_t adlen = build_ad(ad, c, NULL);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, ct + CH_SEAL_NONCE,
                                                   ctlen - CH_SEAL_NONCE, ad, adlen, ct,
                                                   dek) != 0) {
        sodium_memzero(out, ctlen - CH_SEAL_CT_OVERHEAD);
        return -1;
    }
    return 0;
}
