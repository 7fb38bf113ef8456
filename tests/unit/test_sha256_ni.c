/* test_sha256_ni -- SHA-256 and HMAC-SHA256 on the SHA extensions
 * (host/services/sha256_ni.c) against published vectors and, byte for
 * byte, against libsodium: every message length from 0 to 300 and longer
 * ones fed in random pieces, keys of every length from 0 to 200 (the
 * 64-byte block edge and hashed long keys), and the public helpers of
 * crypto.h (which take this path when the CPU has it). On a CPU without
 * the extensions the helpers are still compared (libsodium both sides)
 * and the direct calls are skipped, said so on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "crypto.h"
#include "sha256_ni.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static void fill(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd();
}

/* libsodium's HMAC-SHA256, the reference. */
static void sodium_hmac(const uint8_t *key, size_t kl, const uint8_t *msg, size_t len, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, kl);
    crypto_auth_hmacsha256_update(&st, msg, len);
    crypto_auth_hmacsha256_final(&st, out);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Direct SHA-256 of msg, fed in random pieces. */
static void ni_sha(const uint8_t *msg, size_t len, uint8_t out[32])
{
    ch_sha256_ni s;
    ch_sha256_ni_init(&s);
    size_t at = 0;
    while (at < len) {
        size_t k = (size_t)(rnd() % 150);
        if (k > len - at) k = len - at;
        ch_sha256_ni_update(&s, msg + at, k);
        at += k;
    }
    ch_sha256_ni_final(&s, out);
}

static void vectors(void)
{
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char h[65];
    uint8_t out[32];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        ni_sha((const uint8_t *)v[i].msg, strlen(v[i].msg), out);
        hex(out, 32, h);
        CHECK_STR(h, v[i].hex);
    }
    /* A million 'a's. */
    size_t n = 1000000;
    uint8_t *m = malloc(n);
    memset(m, 'a', n);
    ni_sha(m, n, out);
    hex(out, 32, h);
    CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(m);
    /* RFC 4231 test case 2, and 6 (a key longer than the block). */
    ch_hmac_ni k;
    ch_hmac_ni_init(&k, "Jefe", 4);
    ch_hmac_ni_mac(&k, "what do ya want for nothing?", 28, out);
    hex(out, 32, h);
    CHECK_STR(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    uint8_t longkey[131];
    memset(longkey, 0xaa, sizeof longkey);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ch_hmac_ni_init(&k, longkey, sizeof longkey);
    ch_hmac_ni_mac(&k, m6, strlen(m6), out);
    hex(out, 32, h);
    CHECK_STR(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void against_sodium(void)
{
    static uint8_t msg[20000], key[200];
    fill(msg, sizeof msg);
    fill(key, sizeof key);
    uint8_t a[32], b[32];
    int bad = 0;
    /* Every length to 300 (each padding case), then 300 random ones. */
    for (size_t i = 0; i <= 600; i++) {
        size_t len = i <= 300 ? i : (size_t)(rnd() % sizeof msg);
        ni_sha(msg, len, a);
        crypto_hash_sha256(b, msg, len);
        bad += memcmp(a, b, 32) != 0;
    }
    CHECK(bad == 0);
    for (size_t kl = 0; kl <= sizeof key; kl++) {
        size_t len = (size_t)(rnd() % 3000);
        ch_hmac_ni k;
        ch_hmac_ni_init(&k, key, kl);
        ch_hmac_ni_mac(&k, msg, len, a);
        /* The same prepared key again: the state is not consumed. */
        uint8_t a2[32];
        ch_hmac_ni_mac(&k, msg, len, a2);
        sodium_hmac(key, kl, msg, len, b);
        bad += memcmp(a, b, 32) != 0 || memcmp(a2, b, 32) != 0;
    }
    CHECK(bad == 0);
}

/* crypto.h's helpers: whichever path they take, libsodium's bytes. */
static void helpers(void)
{
    static uint8_t msg[5000], key[100];
    fill(msg, sizeof msg);
    fill(key, sizeof key);
    uint8_t a[32], b[32];
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        size_t len = (size_t)(rnd() % sizeof msg), kl = (size_t)(rnd() % sizeof key);
        ch_sha256(msg, len, a);
        crypto_hash_sha256(b, msg, len);
        bad += memcmp(a, b, 32) != 0;
        ch_hmac_sha256(key, kl, msg, len, a);
        sodium_hmac(key, kl, msg, len, b);
        bad += memcmp(a, b, 32) != 0;
        struct c360_hmac_key *k = ch_hmac_key_new(key, kl);
        CHECK(k != NULL);
        if (k) {
            ch_hmac_sha256_keyed(k, msg, len, a);
            bad += memcmp(a, b, 32) != 0;
            ch_hmac_key_free(k);
        }
    }
    CHECK(bad == 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    helpers();
    if (!ch_sha256_ni_available()) {
        printf("no SHA extensions on this CPU (or under valgrind): the helpers use libsodium; "
               "direct checks skipped\n");
        CHECK_DONE();
    }
    printf("SHA extensions in use\n");
    vectors();
    against_sodium();
    CHECK_DONE();
}
