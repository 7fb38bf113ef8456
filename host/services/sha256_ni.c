/* sha256_ni.c -- SHA-256 blocks on the x86-64 SHA extensions (sha256_ni.h).
 *
 * The block function follows the layout of Intel's SHA extensions paper:
 * the eight state words live in two registers as ABEF and CDGH, each
 * _mm_sha256rnds2_epu32 does two rounds, and the message schedule keeps
 * four registers of four words, the next four words made by msg1 + the
 * words seven back + msg2 (W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) +
 * W[t-16]). Padding, buffering and HMAC are plain C. */
#include "sha256_ni.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CH_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CH_HAVE_VALGRIND_H 1
#endif
#endif
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static int g_avail;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
#ifdef CH_SHA_NI
#ifdef CH_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND) return;
#endif
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1)) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 29))) return; /* SHA */
    g_avail = 1;
#endif
}

int ch_sha256_ni_available(void)
{
    pthread_once(&g_once, detect);
    return g_avail;
}

#ifdef CH_SHA_NI
/* Four rounds with the four message words M (big-endian already). */
#define QROUND(M, k)                                                                      \
    do {                                                                                  \
        __m128i t_ = _mm_add_epi32((M), _mm_loadu_si128((const __m128i *)&K256[k]));       \
        s1 = _mm_sha256rnds2_epu32(s1, s0, t_);                                           \
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(t_, 0x0E));                  \
    } while (0)
/* The next four words into A, which held the four of sixteen words back;
 * B, C, D are the three groups after it. */
#define SCHED(A, B, C, D)                                                                 \
    (A) = _mm_sha256msg2_epu32(                                                           \
        _mm_add_epi32(_mm_sha256msg1_epu32((A), (B)), _mm_alignr_epi8((D), (C), 4)), (D))

__attribute__((target("sha,sse4.1,ssse3"))) static void blocks(uint32_t h[8], const uint8_t *p,
                                                               size_t n)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* EFGH */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                        /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                                             /* CDGH */
    for (; n > 0; n--, p += 64) {
        __m128i a0 = s0, a1 = s1;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), swap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), swap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), swap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), swap);
        /* Rounds 0-47 schedule the words of rounds 16-63 as they go; the
         * four registers take turns, so sixteen rounds are one pass. */
        for (int k = 0; k < 48; k += 16) {
            QROUND(m0, k);      SCHED(m0, m1, m2, m3);
            QROUND(m1, k + 4);  SCHED(m1, m2, m3, m0);
            QROUND(m2, k + 8);  SCHED(m2, m3, m0, m1);
            QROUND(m3, k + 12); SCHED(m3, m0, m1, m2);
        }
        QROUND(m0, 48);
        QROUND(m1, 52);
        QROUND(m2, 56);
        QROUND(m3, 60);
        s0 = _mm_add_epi32(s0, a0);
        s1 = _mm_add_epi32(s1, a1);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);       /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);      /* DCHG */
    s0 = _mm_blend_epi16(t, s1, 0xF0);     /* DCBA */
    s1 = _mm_alignr_epi8(s1, t, 8);        /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}
#else
static void blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
    (void)h;
    (void)p;
    (void)n; /* never called: ch_sha256_ni_available() is 0 here */
}
#endif

void ch_sha256_ni_init(ch_sha256_ni *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->n = 0;
    s->total = 0;
}

void ch_sha256_ni_update(ch_sha256_ni *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->total += len;
    if (s->n > 0) {
        size_t take = 64 - s->n < len ? 64 - s->n : len;
        memcpy(s->buf + s->n, p, take);
        s->n += take;
        p += take;
        len -= take;
        if (s->n < 64) return;
        blocks(s->h, s->buf, 1);
        s->n = 0;
    }
    if (len >= 64) {
        blocks(s->h, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    if (len > 0) {
        memcpy(s->buf, p, len);
        s->n = len;
    }
}

void ch_sha256_ni_final(ch_sha256_ni *s, uint8_t out[32])
{
    uint64_t bits = s->total * 8;
    s->buf[s->n++] = 0x80;
    if (s->n > 56) {
        memset(s->buf + s->n, 0, 64 - s->n);
        blocks(s->h, s->buf, 1);
        s->n = 0;
    }
    memset(s->buf + s->n, 0, 56 - s->n);
    for (int i = 0; i < 8; i++) s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    blocks(s->h, s->buf, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
    sodium_memzero(s, sizeof *s);
}

void ch_sha256_ni_once(const void *msg, size_t len, uint8_t out[32])
{
    ch_sha256_ni s;
    ch_sha256_ni_init(&s);
    ch_sha256_ni_update(&s, msg, len);
    ch_sha256_ni_final(&s, out); /* wipes s */
}

void ch_hmac_ni_init(ch_hmac_ni *k, const void *key, size_t key_len)
{
    uint8_t kb[64], pad[64];
    memset(kb, 0, sizeof kb);
    if (key_len > 64) { /* RFC 2104: a long key is hashed first */
        ch_sha256_ni_once(key, key_len, kb);
    } else if (key_len > 0) {
        memcpy(kb, key, key_len);
    }
    for (int i = 0; i < 64; i++) pad[i] = kb[i] ^ 0x36;
    ch_sha256_ni_init(&k->inner);
    ch_sha256_ni_update(&k->inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = kb[i] ^ 0x5c;
    ch_sha256_ni_init(&k->outer);
    ch_sha256_ni_update(&k->outer, pad, 64);
    sodium_memzero(kb, sizeof kb);
    sodium_memzero(pad, sizeof pad);
}

void ch_hmac_ni_mac(const ch_hmac_ni *k, const void *msg, size_t len, uint8_t out[32])
{
    uint8_t ih[32];
    ch_sha256_ni s = k->inner;
    ch_sha256_ni_update(&s, msg, len);
    ch_sha256_ni_final(&s, ih); /* wipes s */
    s = k->outer;
    ch_sha256_ni_update(&s, ih, sizeof ih);
    ch_sha256_ni_final(&s, out);
    sodium_memzero(ih, sizeof ih);
}
