/* util.h -- small allocation and string helpers. The host's out-of-memory
 * policy lives here: allocation failure aborts (as in Redis), so callers
 * never test for NULL from these. */
#ifndef CH_UTIL_H
#define CH_UTIL_H

#include <stddef.h>

void *ch_malloc(size_t n);
void *ch_calloc(size_t n, size_t size);
void *ch_realloc(void *p, size_t n);
char *ch_strdup(const char *s);
/* Copies at most max bytes of s (NUL-terminated result). */
char *ch_strndup(const char *s, size_t max);
/* printf into a fresh allocation. */
char *ch_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf into a caller's optional error buffer: nothing when err is NULL
 * or errcap 0. */
void ch_seterr(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a base-10 integer in [min, max]; the whole string must be a number.
 * Returns 0 on success, -1 otherwise. */
int ch_parse_ll(const char *s, long long min, long long max, long long *out);

/* Reads a whole file of at most max bytes (NUL-terminated). Returns NULL and
 * sets errno on failure (EFBIG if larger than max). */
char *ch_read_file(const char *path, size_t max, size_t *len_out);

#endif
