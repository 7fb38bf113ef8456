/* test_kit_hex -- the kit's hex table (c360kit_hexval, c360kit_hex_decode:
 * every webhook signature is decoded with it) against a reference written
 * here, for every byte and every pair of bytes, plus lengths: odd lengths
 * and any non-digit refused, upper and lower case. */
#include <stdio.h>
#include <string.h>

#include "c360kit.h"
#include "check.h"

static int ref_hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(void)
{
    int wrong = 0;
    for (int c = 0; c < 256; c++)
        if (c360kit_hexval((char)c) != ref_hexval(c)) wrong++;
    CHECK(wrong == 0);
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            char s[2] = {(char)a, (char)b};
            uint8_t out = 0xAA;
            int ha = ref_hexval(a), hb = ref_hexval(b);
            bool want = ha >= 0 && hb >= 0;
            bool ok = c360kit_hex_decode(s, 2, &out);
            if (ok != want || (ok && out != (uint8_t)(ha * 16 + hb))) {
                if (wrong++ < 5) fprintf(stderr, "pair %02x %02x decoded wrong\n", a, b);
            }
        }
    }
    CHECK(wrong == 0);
    uint8_t buf[32];
    const char *sig = "0123456789abcdefABCDEF00ff7f80e1d2c3b4a5968778695a4b3c2d1e0f1234";
    CHECK(c360kit_hex_decode(sig, 64, buf));
    CHECK(buf[0] == 0x01 && buf[7] == 0xef && buf[8] == 0xAB && buf[10] == 0xEF && buf[31] == 0x34);
    CHECK(!c360kit_hex_decode(sig, 63, buf));
    CHECK(c360kit_hex_decode("", 0, buf));
    CHECK(!c360kit_hex_decode("0g", 2, buf));
    CHECK(!c360kit_hex_decode("00 1", 4, buf));
    CHECK_DONE();
}
