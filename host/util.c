#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

static void oom(size_t n)
{
    /* No logging machinery here: it may itself need memory. */
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
    abort();
}

void *ch_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *ch_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *ch_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *ch_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ch_malloc(n);
    memcpy(p, s, n);
    return p;
}

char *ch_strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = ch_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ch_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *p = ch_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void ch_seterr(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

int ch_parse_ll(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s) return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

char *ch_read_file(const char *path, size_t max, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) { int e = errno; close(fd); errno = e; return NULL; }
    if (!S_ISREG(st.st_mode)) { close(fd); errno = EINVAL; return NULL; }
    if ((size_t)st.st_size > max) { close(fd); errno = EFBIG; return NULL; }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = ch_malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max + 1) { free(buf); close(fd); errno = EFBIG; return NULL; }
            cap *= 2;
            buf = ch_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno; free(buf); close(fd); errno = e; return NULL;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (len > max) { free(buf); errno = EFBIG; return NULL; }
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}
