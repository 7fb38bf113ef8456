#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "connector_api.h"
#include "sha256_ni.h"
#include "util.h"

/* SHA-256 and its HMACs run on the CPU's SHA extensions where it has them
 * (sha256_ni.c: every webhook's signature check and every signed delivery
 * hashes a whole body), else on libsodium. Same bytes either way. */

void ch_hmac_sha256(const void *key, size_t key_len, const void *msg,
                    size_t msg_len, uint8_t out[32])
{
    if (ch_sha256_ni_available()) {
        ch_hmac_ni k;
        ch_hmac_ni_init(&k, key, key_len);
        ch_hmac_ni_mac(&k, msg, msg_len, out);
        sodium_memzero(&k, sizeof k);
        return;
    }
    /* The streaming API takes keys of any length (RFC 2104 hashing of long
     * keys included), unlike crypto_auth_hmacsha256 with its fixed key. */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, msg, msg_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* The state after absorbing the key: inner hash fed key ^ ipad, outer
 * key ^ opad. Read-only once made, so threads share it without a lock. */
struct c360_hmac_key {
    int ni; /* which of the two states was made */
    union {
        crypto_auth_hmacsha256_state st;
        ch_hmac_ni nst;
    };
};

struct c360_hmac_key *ch_hmac_key_new(const void *key, size_t key_len)
{
    if (sodium_init() < 0) abort(); /* idempotent; plugin-check and tests
                                       may come here before the daemon's */
    /* sodium_malloc puts the block against a guard page at its END, so
     * the start is only as aligned as the size: round it up. */
    size_t size = (sizeof(struct c360_hmac_key) + 15) & ~(size_t)15;
    struct c360_hmac_key *k = sodium_malloc(size);
    if (k == NULL) return NULL; /* the ABI's documented out-of-memory */
    /* libsodium declares the key nonnull even for 0 bytes; the ABI lets
     * an empty key be NULL. */
    static const uint8_t empty[1];
    k->ni = ch_sha256_ni_available();
    if (k->ni) ch_hmac_ni_init(&k->nst, key_len == 0 ? empty : key, key_len);
    else crypto_auth_hmacsha256_init(&k->st, key_len == 0 ? empty : key, key_len);
    /* Read-only from here: a stray write faults instead of corrupting
     * every later MAC. sodium_free makes it writable again to wipe it. */
    sodium_mprotect_readonly(k);
    return k;
}

void ch_hmac_sha256_keyed(const struct c360_hmac_key *k, const void *msg,
                          size_t msg_len, uint8_t out[32])
{
    if (k->ni) {
        ch_hmac_ni_mac(&k->nst, msg, msg_len, out);
        return;
    }
    /* A copy per computation: update and final write into the state. */
    crypto_auth_hmacsha256_state st = k->st;
    crypto_auth_hmacsha256_update(&st, msg, msg_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void ch_hmac_key_free(struct c360_hmac_key *k)
{
    if (k == NULL) return;
    sodium_free(k); /* writable again, wiped, then unmapped */
}

void ch_sha256(const void *msg, size_t len, uint8_t out[32])
{
    if (ch_sha256_ni_available()) ch_sha256_ni_once(msg, len, out);
    else crypto_hash_sha256(out, msg, len);
}

int ch_ct_equal(const void *a, const void *b, size_t len)
{
    if (len == 0) return 1;
    return sodium_memcmp(a, b, len) == 0;
}

static int sodium_variant(int32_t v)
{
    switch (v) {
    case C360_B64_STANDARD: return sodium_base64_VARIANT_ORIGINAL;
    case C360_B64_URLSAFE: return sodium_base64_VARIANT_URLSAFE;
    case C360_B64_URLSAFE_NOPAD: return sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    }
    return -1;
}

char *ch_base64_encode(const void *bin, size_t len, int32_t variant)
{
    int v = sodium_variant(variant);
    if (v < 0) return NULL;
    size_t cap = sodium_base64_encoded_len(len, v);
    char *out = ch_malloc(cap);
    sodium_bin2base64(out, cap, bin, len, v);
    return out;
}

int32_t ch_base64_decode(const char *text, size_t text_len, int32_t variant,
                         uint8_t **bin, size_t *len)
{
    *bin = NULL;
    *len = 0;
    int v = sodium_variant(variant);
    if (v < 0 || !text) return C360_EINVAL;
    size_t cap = text_len / 4 * 3 + 3;
    uint8_t *out = ch_malloc(cap + 1);
    const char *end = NULL;
    size_t n = 0;
    if (sodium_base642bin(out, cap, text, text_len, NULL, &n, &end, v) != 0 ||
        end != text + text_len) {
        free(out);
        return C360_EINVAL;
    }
    out[n] = '\0';
    *bin = out;
    *len = n;
    return C360_OK;
}

char *ch_hex_encode(const void *bin, size_t len)
{
    char *out = ch_malloc(len * 2 + 1);
    sodium_bin2hex(out, len * 2 + 1, bin, len);
    return out;
}

void ch_random_bytes(void *buf, size_t len) { randombytes_buf(buf, len); }
