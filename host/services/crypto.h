/* crypto.h -- the crypto helpers plugins get through the host table, so a
 * connector needs no crypto library of its own (libsodium underneath).
 * Pure functions: thread-safe, never block. */
#ifndef CH_CRYPTO_H
#define CH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

void ch_hmac_sha256(const void *key, size_t key_len, const void *msg,
                    size_t msg_len, uint8_t out[32]);
/* Prepared keys (ABI 1.8): the HMAC state after the key, derived once.
 * ch_hmac_key_new returns NULL only when guarded memory is exhausted;
 * ch_hmac_sha256_keyed gives ch_hmac_sha256's MAC for that key; free
 * accepts NULL and wipes. The type is the ABI's opaque c360_hmac_key. */
struct c360_hmac_key;
struct c360_hmac_key *ch_hmac_key_new(const void *key, size_t key_len);
void ch_hmac_sha256_keyed(const struct c360_hmac_key *k, const void *msg,
                          size_t msg_len, uint8_t out[32]);
void ch_hmac_key_free(struct c360_hmac_key *k);
void ch_sha256(const void *msg, size_t len, uint8_t out[32]);
int ch_ct_equal(const void *a, const void *b, size_t len);
/* variant: enum c360_b64. NULL for an unknown variant. free() the result. */
char *ch_base64_encode(const void *bin, size_t len, int32_t variant);
/* C360_OK, or C360_EINVAL for bad input or an unknown variant. *bin is
 * NUL-terminated (not counted), free() it. */
int32_t ch_base64_decode(const char *text, size_t text_len, int32_t variant,
                         uint8_t **bin, size_t *len);
char *ch_hex_encode(const void *bin, size_t len);
void ch_random_bytes(void *buf, size_t len);

#endif
