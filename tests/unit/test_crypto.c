/* test_crypto.c -- the plugin crypto helpers against published vectors. */
#include <stdlib.h>

#include <sodium.h>

#include "check.h"
#include "connector_api.h"
#include "crypto.h"

static char *hex(const uint8_t *b, size_t n) { return ch_hex_encode(b, n); }

int main(void)
{
    if (sodium_init() < 0) return 1;
    uint8_t out[32];
    char *h;

    /* RFC 4231 test case 2. */
    ch_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out);
    h = hex(out, 32);
    CHECK_STR(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    free(h);
    /* RFC 4231 test case 6: a key longer than the block size. */
    uint8_t longkey[131];
    memset(longkey, 0xaa, sizeof longkey);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ch_hmac_sha256(longkey, sizeof longkey, m6, strlen(m6), out);
    h = hex(out, 32);
    CHECK_STR(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    free(h);

    ch_sha256("abc", 3, out);
    h = hex(out, 32);
    CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(h);

    CHECK(ch_ct_equal("abc", "abc", 3));
    CHECK(!ch_ct_equal("abc", "abd", 3));
    CHECK(ch_ct_equal("", "", 0));

    /* Base64 variants (RFC 4648 vectors, and bytes that differ by alphabet). */
    char *b = ch_base64_encode("foobar", 6, C360_B64_STANDARD);
    CHECK_STR(b, "Zm9vYmFy");
    free(b);
    b = ch_base64_encode("fo", 2, C360_B64_STANDARD);
    CHECK_STR(b, "Zm8=");
    free(b);
    const uint8_t odd[] = {0xfb, 0xff};
    b = ch_base64_encode(odd, 2, C360_B64_STANDARD);
    CHECK_STR(b, "+/8=");
    free(b);
    b = ch_base64_encode(odd, 2, C360_B64_URLSAFE);
    CHECK_STR(b, "-_8=");
    free(b);
    b = ch_base64_encode(odd, 2, C360_B64_URLSAFE_NOPAD);
    CHECK_STR(b, "-_8");
    free(b);
    CHECK(ch_base64_encode("x", 1, 99) == NULL);

    uint8_t *bin;
    size_t n;
    CHECK(ch_base64_decode("Zm9vYmFy", 8, C360_B64_STANDARD, &bin, &n) == C360_OK);
    CHECK(n == 6 && memcmp(bin, "foobar", 6) == 0 && bin[6] == '\0');
    free(bin);
    CHECK(ch_base64_decode("-_8", 3, C360_B64_URLSAFE_NOPAD, &bin, &n) == C360_OK);
    CHECK(n == 2 && bin[0] == 0xfb && bin[1] == 0xff);
    free(bin);
    CHECK(ch_base64_decode("Zm9v!mFy", 8, C360_B64_STANDARD, &bin, &n) == C360_EINVAL);
    CHECK(bin == NULL);
    CHECK(ch_base64_decode("-_8=", 4, C360_B64_STANDARD, &bin, &n) == C360_EINVAL);
    CHECK(ch_base64_decode("Zg", 2, 42, &bin, &n) == C360_EINVAL);
    /* Trailing garbage after valid text is refused, not ignored. */
    CHECK(ch_base64_decode("Zm8=Zm8=", 8, C360_B64_STANDARD, &bin, &n) == C360_EINVAL);
    free(bin);

    uint8_t r1[32] = {0}, r2[32] = {0};
    ch_random_bytes(r1, sizeof r1);
    ch_random_bytes(r2, sizeof r2);
    CHECK(memcmp(r1, r2, 32) != 0);
    CHECK_DONE();
}
