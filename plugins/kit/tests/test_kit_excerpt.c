/* test_kit_excerpt -- provider text shown in errors (c360kit_excerpt,
 * c360kit_excerpt_cuts): every token we sent is gone from it, however the
 * text is made -- a token inside a copy of itself, one token hidden inside
 * another, in any order of the cuts --; short cuts eat nothing; control
 * bytes are flattened; the excerpt never ends inside a UTF-8 sequence; text
 * crafted to need more rounds than the kit gives is not shown at all. */
#include <stdio.h>
#include <string.h>

#include "c360kit.h"
#include "check.h"

static int holds(const char *s, const char *tok) { return strstr(s, tok) != NULL; }

int main(void)
{
    char out[256];
    const char *A = "EAAB-page-101-token", *B = "EAAB-page-202-token";

    c360kit_excerpt("Invalid OAuth access token EAAB-page-101-token.", A, out, sizeof out);
    CHECK_STR(out, "Invalid OAuth access token .");

    /* The inner copy out, the outer one joins: cut again. */
    c360kit_excerpt("bad EAAB-page-101-tEAAB-page-101-tokenoken here", A, out, sizeof out);
    CHECK(!holds(out, A));
    CHECK_STR(out, "bad  here");

    /* B hidden inside A: whichever order the cuts come in. */
    char nested[128];
    snprintf(nested, sizeof nested, "x EAAB-page-1%s01-token y", B);
    const char *ab[2] = {A, B}, *ba[2] = {B, A};
    c360kit_excerpt_cuts(nested, ab, 2, out, sizeof out);
    CHECK(!holds(out, A) && !holds(out, B));
    c360kit_excerpt_cuts(nested, ba, 2, out, sizeof out);
    CHECK(!holds(out, A) && !holds(out, B));
    CHECK_STR(out, "x  y");

    /* Nested five deep: more rounds than the kit gives: not shown. */
    char deep[512] = "EAAB-page-101-token";
    for (int i = 0; i < 5; i++) {
        char next[600];
        snprintf(next, sizeof next, "EAAB-page-10%.400s1-token", deep);
        memcpy(deep, next, strlen(next) + 1);
    }
    c360kit_excerpt(deep, A, out, sizeof out);
    CHECK_STR(out, "(message not shown)");

    /* A short cut eats nothing; no cut at all. */
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
