/* ctl_str.c -- growable strings and the encodings c360ctl needs: URL path
 * segments and query values, JSON string literals (for bodies built by
 * hand so a secret value lives only in memory we wipe), UTF-8 checks and
 * bounded file reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static void grow(ctl_str *b, size_t more)
{
    if (b->s && b->len + more < b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap <= b->len + more) cap *= 2;
    /* Not realloc: the old block may hold a secret, and realloc would free
     * it without wiping. */
    char *s = malloc(cap);
    if (!s) {
        fputs("c360ctl: out of memory\n", stderr);
        exit(CTL_LOCAL);
    }
    if (b->s) {
        memcpy(s, b->s, b->len);
        ctl_wipe(b->s, b->cap);
        free(b->s);
    }
    s[b->len] = '\0';
    b->s = s;
    b->cap = cap;
}

void ctl_str_addn(ctl_str *b, const char *s, size_t n)
{
    grow(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void ctl_str_add(ctl_str *b, const char *s)
{
    ctl_str_addn(b, s, strlen(s));
}

void ctl_str_addf(ctl_str *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static void pct(ctl_str *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            ctl_str_addn(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            ctl_str_addn(b, e, 3);
        }
    }
}

void ctl_str_seg(ctl_str *b, const char *s)
{
    ctl_str_add(b, "/");
    pct(b, s);
}

void ctl_str_query(ctl_str *b, const char *name, const char *value)
{
    if (!value) return;
    ctl_str_add(b, b->s && strchr(b->s, '?') ? "&" : "?");
    pct(b, name);
    ctl_str_add(b, "=");
    pct(b, value);
}

void ctl_str_json(ctl_str *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ctl_str_add(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ctl_str_addn(b, e, 2);
        } else if (c == '\n') {
            ctl_str_add(b, "\\n");
        } else if (c == '\t') {
            ctl_str_add(b, "\\t");
        } else if (c == '\r') {
            ctl_str_add(b, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ctl_str_addn(b, e, 6);
        } else {
            ctl_str_addn(b, (const char *)&c, 1);
        }
    }
    ctl_str_add(b, "\"");
}

void ctl_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--) *v++ = 0;
}

void ctl_str_wipe(ctl_str *b)
{
    if (b->s) ctl_wipe(b->s, b->cap);
    ctl_str_free(b);
}

void ctl_str_free(ctl_str *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

int ctl_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        size_t more;
        unsigned min;
        if (c == 0) return 0;
        if (c < 0x80) continue;
        if ((c & 0xe0) == 0xc0) more = 1, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0) more = 2, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0) more = 3, min = 0x10000, c &= 0x07;
        else return 0;
        if ((size_t)(end - p) < more) return 0;
        for (size_t i = 0; i < more; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            c = (c << 6) | (p[i] & 0x3f);
        }
        p += more;
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    }
    return 1;
}

int ctl_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t cap)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "%s", strerror(errno));
        return -1;
    }
    /* read(2) into our own buffer, grown by copy-and-wipe: the file may be
     * a secret, and no stdio buffer or freed block should keep it. */
    ctl_str b = {0};
    grow(&b, 4096);
    int rc = 0;
    for (;;) {
        grow(&b, 4096);
        ssize_t r = read(fd, b.s + b.len, b.cap - b.len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, cap, "%s", strerror(errno));
            rc = -1;
            break;
        }
        if (r == 0) break;
        b.len += (size_t)r;
        if (b.len > max) {
            snprintf(err, cap, "larger than %zu bytes", max);
            rc = -1;
            break;
        }
    }
    if (fd != STDIN_FILENO) close(fd);
    if (rc < 0) {
        ctl_str_wipe(&b);
        return -1;
    }
    b.s[b.len] = '\0';
    *out = b.s;
    *len = b.len;
    return 0;
}

void ctl_str_safe(ctl_str *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c < 0x20 || c == 0x7f) {
            ctl_str_add(b, "?");
        } else if (c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
            ctl_str_add(b, "?"); /* U+0080..U+009F, the C1 controls */
            i++;
        } else {
            ctl_str_addn(b, (const char *)&c, 1);
        }
    }
}
