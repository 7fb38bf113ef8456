/* check.h -- the unit tests' assertions. A failed CHECK prints where and
 * what, counts, and the test goes on so one run shows every failure;
 * CHECK_DONE() ends main with the verdict. */
#ifndef C360_TEST_CHECK_H
#define C360_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                          \
    do {                                                                     \
        check_count++;                                                       \
        if (!(cond)) {                                                       \
            check_failures++;                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                      \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        check_count++;                                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                             \
            check_failures++;                                                \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", want \"%s\"\n", \
                    __FILE__, __LINE__, #a, a_ ? a_ : "(null)",              \
                    b_ ? b_ : "(null)");                                     \
        }                                                                    \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                          \
    do {                                                                     \
        const char *h_ = (hay), *n_ = (needle);                              \
        check_count++;                                                       \
        if (!h_ || !strstr(h_, n_)) {                                        \
            check_failures++;                                                \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n",       \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);             \
        }                                                                    \
    } while (0)

#define CHECK_DONE()                                                         \
    do {                                                                     \
        printf("%d checks, %d failed\n", check_count, check_failures);      \
        return check_failures ? 1 : 0;                                       \
    } while (0)

#endif
