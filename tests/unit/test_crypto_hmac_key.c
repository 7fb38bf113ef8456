/* test_crypto_hmac_key.c -- ABI 1.8's prepared HMAC keys (crypto.c), through
 * the host table as a plugin reaches them: the MAC of every key length
 * that takes another path in RFC 2104 (empty, short, exactly one block,
 * one byte over, several blocks: hashed first) equals the one-shot
 * hmac_sha256's for messages of 0 bytes to several blocks; one key used
 * by several threads at once gives every thread the right MAC (each
 * computation works on its own copy of the state); free takes NULL. */
#include <pthread.h>
#include <stdlib.h>

#include <sodium.h>

#include "check.h"
#include "connector_api.h"
#include "crypto.h"
#include "hostapi.h"

static const c360_host_api *H;

static const size_t key_lens[] = {0, 1, 32, 64, 65, 200};
static const size_t msg_lens[] = {0, 1, 55, 56, 63, 64, 65, 128, 1000, 70000};

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(seed + i * 131u + (i >> 8));
}

static void test_same_mac(void)
{
    static uint8_t key[200], msg[70000];
    fill(msg, sizeof msg, 7);
    for (size_t ki = 0; ki < sizeof key_lens / sizeof key_lens[0]; ki++) {
        size_t kl = key_lens[ki];
        fill(key, kl, (uint8_t)(ki + 1));
        c360_hmac_key *k = H->hmac_sha256_key_new(kl ? key : NULL, kl);
        CHECK(k != NULL);
        if (k == NULL) continue;
        for (size_t mi = 0; mi < sizeof msg_lens / sizeof msg_lens[0]; mi++) {
            size_t ml = msg_lens[mi];
            uint8_t want[32], got[32], again[32];
            H->hmac_sha256(key, kl, msg, ml, want);
            H->hmac_sha256_keyed(k, msg, ml, got);
            /* A second use of the key: the first did not consume it. */
            H->hmac_sha256_keyed(k, msg, ml, again);
            if (memcmp(want, got, 32) != 0 || memcmp(want, again, 32) != 0)
                fprintf(stderr, "key %zu bytes, message %zu bytes\n", kl, ml);
            CHECK(memcmp(want, got, 32) == 0);
            CHECK(memcmp(want, again, 32) == 0);
        }
        H->hmac_sha256_key_free(k);
    }

    /* RFC 4231 test case 2, through a prepared key. */
    uint8_t out[32];
    c360_hmac_key *k = H->hmac_sha256_key_new("Jefe", 4);
    H->hmac_sha256_keyed(k, "what do ya want for nothing?", 28, out);
    char *h = ch_hex_encode(out, 32);
    CHECK_STR(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    free(h);
    /* Another key of the same length gives another MAC. */
    c360_hmac_key *k2 = H->hmac_sha256_key_new("Jeff", 4);
    uint8_t out2[32];
    H->hmac_sha256_keyed(k2, "what do ya want for nothing?", 28, out2);
    CHECK(memcmp(out, out2, 32) != 0);
    H->hmac_sha256_key_free(k2);
    H->hmac_sha256_key_free(k);
    H->hmac_sha256_key_free(NULL);
}

/* ---- one key, four threads -------------------------------------------- */

#define THREADS 4
#define ROUNDS 2000

typedef struct worker {
    const c360_hmac_key *k;
    const uint8_t *key;
    size_t key_len;
    uint8_t seed;
    int wrong;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    uint8_t msg[300], want[32], got[32];
    for (int r = 0; r < ROUNDS; r++) {
        size_t ml = (size_t)(r * 7 + w->seed) % sizeof msg;
        fill(msg, ml, (uint8_t)(w->seed + r));
        H->hmac_sha256_keyed(w->k, msg, ml, got);
        H->hmac_sha256(w->key, w->key_len, msg, ml, want);
        if (memcmp(want, got, 32) != 0) w->wrong++;
    }
    return NULL;
}

static void test_threads(void)
{
    uint8_t key[65];
    fill(key, sizeof key, 99);
    c360_hmac_key *k = H->hmac_sha256_key_new(key, sizeof key);
    CHECK(k != NULL);
    if (k == NULL) return;
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){k, key, sizeof key, (uint8_t)(i * 37 + 1), 0};
        CHECK(pthread_create(&t[i], NULL, run, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK(w[i].wrong == 0);
    }
    H->hmac_sha256_key_free(k);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    H = ch_host_api();
    CHECK(H->abi_minor >= 8);
    CHECK(C360_HOST_HAS(H, hmac_sha256_key_new));
    CHECK(C360_HOST_HAS(H, hmac_sha256_keyed));
    CHECK(C360_HOST_HAS(H, hmac_sha256_key_free));
    /* A host table of 1.7 (shorter) has none of them. */
    c360_host_api old = *H;
    old.struct_size = (uint32_t)offsetof(c360_host_api, hmac_sha256_key_new);
    CHECK(!C360_HOST_HAS(&old, hmac_sha256_key_new));
    CHECK(!C360_HOST_HAS(&old, hmac_sha256_key_free));
    test_same_mac();
    test_threads();
    CHECK_DONE();
}
