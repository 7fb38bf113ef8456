/* test_kit_excerpt -- provider text shown in errors (c360kit_excerpt,
 * c360kit_excerpt_cuts): a text that holds a token we sent, anywhere and
 * however it is made -- the token whole, a part of it (8 bytes in a row or
 * more), inside a copy of itself, one token hidden inside another, in any
 * order of the cuts -- is not shown at all,
 * so that no cut can join the rest into another secret; short cuts count
 * for nothing; control bytes are flattened; the excerpt never ends inside
 * a UTF-8 sequence. */
#include <stdio.h>
#include <string.h>

#include "c360kit.h"
#include "check.h"

#define HIDDEN "(message not shown: it held a credential)"

int main(void)
{
    char out[256];
    const char *A = "EAAB-page-101-token", *B = "EAAB-page-202-token";

    c360kit_excerpt("Invalid OAuth access token EAAB-page-101-token.", A, out, sizeof out);
    CHECK_STR(out, HIDDEN);
    c360kit_excerpt("bad EAAB-page-101-tEAAB-page-101-tokenoken here", A, out, sizeof out);
    CHECK_STR(out, HIDDEN);

    /* B inside A: cutting B would make A; the text is not shown, whichever
     * order the cuts come in, and whichever of the two is known. */
    char nested[128];
    snprintf(nested, sizeof nested, "x EAAB-page-1%s01-token y", B);
    const char *ab[2] = {A, B}, *ba[2] = {B, A};
    c360kit_excerpt_cuts(nested, ab, 2, out, sizeof out);
    CHECK_STR(out, HIDDEN);
    c360kit_excerpt_cuts(nested, ba, 2, out, sizeof out);
    CHECK_STR(out, HIDDEN);
    c360kit_excerpt(nested, B, out, sizeof out);
    CHECK_STR(out, HIDDEN);

    /* A part of a token, 8 bytes in a row or more, anywhere in it: not
     * shown either (a provider may quote a token cut short, or its tail). */
    c360kit_excerpt("token ending -101-tok is invalid", A, out, sizeof out);
    CHECK_STR(out, HIDDEN);
    c360kit_excerpt("Invalid token: ...ge-101-token", A, out, sizeof out);
    CHECK_STR(out, HIDDEN);
    c360kit_excerpt_cuts("bad e-202-t", ab, 2, out, sizeof out); /* 7: too short */
    CHECK_STR(out, "bad e-202-t");

    /* Text without any of them is shown as it is. */
    c360kit_excerpt_cuts("(#100) Invalid parameter", ab, 2, out, sizeof out);
    CHECK_STR(out, "(#100) Invalid parameter");

    /* A short cut counts for nothing; no cut at all. */
    c360kit_excerpt("the code is 1234567", "1234567", out, sizeof out);
    CHECK_STR(out, "the code is 1234567");
    c360kit_excerpt("line\none\ttab", NULL, out, sizeof out);
    CHECK_STR(out, "line one tab");

    /* Cut short: never inside a UTF-8 sequence ("é" is 2 bytes). */
    c360kit_excerpt("ab\xc3\xa9", NULL, out, 4);
    CHECK_STR(out, "ab");
    c360kit_excerpt_cuts(NULL, ab, 2, out, sizeof out);
    CHECK_STR(out, "");
    CHECK_DONE();
}
