/* meta_test_util.h -- what the meta tests' differential runs share: a
 * seeded xorshift generator (define META_TEST_SEED before the include for
 * another sequence) and how a body the two paths disagree on is shown.
 * Header-only, static: each test stays one file. */
#ifndef META_TEST_UTIL_H
#define META_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef META_TEST_SEED
#define META_TEST_SEED 0x9e3779b97f4a7c15u
#endif

static uint64_t rng = META_TEST_SEED;

static inline uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* 0 .. n-1 (0 for n 0). */
static inline size_t rn(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* The first 400 bytes of a body, non-printable bytes as '?', after why;
 * at most 10 per run (*shown counts them). */
static inline void show_body(int *shown, const char *why, const uint8_t *b, size_t len)
{
    if ((*shown)++ >= 10) return;
    fprintf(stderr, "  %s: body (%zu bytes): ", why, len);
    for (size_t i = 0; i < len && i < 400; i++)
        fputc(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '?', stderr);
    fputc('\n', stderr);
}

#endif
