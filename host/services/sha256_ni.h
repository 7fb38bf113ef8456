/* sha256_ni.h -- SHA-256 and HMAC-SHA256 on the x86-64 SHA extensions
 * (private to crypto.c and its tests). libsodium's SHA-256 is portable C;
 * where the CPU has the SHA instructions they do a block about five times
 * faster, and every webhook's signature check and every signed delivery
 * hashes its whole body. crypto.c uses this when ch_sha256_ni_available()
 * says so and libsodium otherwise; both give the same bytes (the tests
 * compare them).
 *
 * The states hold no pointers and may be copied; wipe them when done
 * (they are derived from keys). */
#ifndef CH_SHA256_NI_H
#define CH_SHA256_NI_H

#include <stddef.h>
#include <stdint.h>

typedef struct ch_sha256_ni {
    uint32_t h[8];
    uint8_t buf[64];
    size_t n;       /* bytes in buf */
    uint64_t total; /* bytes hashed so far */
} ch_sha256_ni;

/* The inner and outer hashes after the key blocks (RFC 2104). */
typedef struct ch_hmac_ni {
    ch_sha256_ni inner, outer;
} ch_hmac_ni;

/* 1 when this CPU runs the SHA extensions (and SSSE3, SSE4.1), and this
 * process is not under valgrind, whose CPU reports them but cannot run
 * them. Decided once; thread-safe. */
int ch_sha256_ni_available(void);

/* Only when ch_sha256_ni_available(). */
void ch_sha256_ni_init(ch_sha256_ni *s);
void ch_sha256_ni_update(ch_sha256_ni *s, const void *p, size_t n);
void ch_sha256_ni_final(ch_sha256_ni *s, uint8_t out[32]);
/* The three above on one message. */
void ch_sha256_ni_once(const void *msg, size_t len, uint8_t out[32]);
void ch_hmac_ni_init(ch_hmac_ni *k, const void *key, size_t key_len);
void ch_hmac_ni_mac(const ch_hmac_ni *k, const void *msg, size_t len, uint8_t out[32]);

#endif
