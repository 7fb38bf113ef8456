/* jsonscan.c -- see jsonscan.h. An explicit stack of container kinds keeps
 * it iterative (no recursion on hostile nesting); every failure is
 * CH_JSONSCAN_UNSURE, never a verdict. */
#include "jsonscan.h"

#include <stdint.h>
#include <string.h>

typedef struct scan {
    const unsigned char *p, *end;
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* One UTF-8 sequence starting at s->p (a byte >= 0x80): the shortest form,
 * no surrogates, at most U+10FFFF -- what Jansson's utf8 check accepts. */
static int utf8_seq(scan *s)
{
    const unsigned char *p = s->p;
    unsigned c = p[0], n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return 0;
    if ((size_t)(s->end - p) <= n) return 0;
    for (unsigned i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    s->p += n + 1;
    return 1;
}

static int string(scan *s)
{
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        unsigned c = *s->p;
        if (c == '"') {
            s->p++;
            return 1;
        }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (s->end - s->p < 2) return 0;
            switch (s->p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                s->p += 2;
                continue;
            default: /* \u (NUL and surrogate rules) and bad escapes: unsure */
                return 0;
            }
        }
        if (c >= 0x80) {
            if (!utf8_seq(s)) return 0;
            continue;
        }
        s->p++;
    }
    return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 15 digits: fits an int64 and a
 * double exactly, so Jansson neither overflows nor rounds it away. */
static int number(scan *s)
{
    int digits = 0;
    if (*s->p == '-') s->p++;
    if (s->p >= s->end) return 0;
    if (*s->p == '0') {
        s->p++, digits++;
    } else if (*s->p >= '1' && *s->p <= '9') {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++, digits++;
    } else {
        return 0;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        int frac = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++, frac++;
        if (frac == 0) return 0;
        digits += frac;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) return 0;
    return digits <= 15;
}

static int literal(scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n) return 0;
    for (size_t i = 0; i < n; i++)
        if (s->p[i] != (unsigned char)word[i]) return 0;
    s->p += n;
    return 1;
}

/* A scalar or the opening of a container (pushed on the stack). */
static int value(scan *s, char *stack, int *depth)
{
    if (s->p >= s->end) return 0;
    switch (*s->p) {
    case '"': return string(s);
    case '{': case '[':
        if (*depth >= CH_JSONSCAN_DEPTH) return 0;
        stack[(*depth)++] = (char)*s->p++;
        return 1;
    case 't': return literal(s, "true", 4);
    case 'f': return literal(s, "false", 5);
    case 'n': return literal(s, "null", 4);
    default: return number(s);
    }
}

ch_jsonscan_result ch_jsonscan_object(const char *buf, size_t len)
{
    if (buf == NULL) return CH_JSONSCAN_UNSURE;
    scan s = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    char stack[CH_JSONSCAN_DEPTH];
    int depth = 0;

    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') return CH_JSONSCAN_UNSURE;
    stack[depth++] = '{';
    s.p++;
    int first = 1; /* just after an opening bracket: a member or the close */
    while (depth > 0) {
        skip_ws(&s);
        if (s.p >= s.end) return CH_JSONSCAN_UNSURE;
        char kind = stack[depth - 1];
        unsigned char close = kind == '{' ? '}' : ']';
        if (*s.p == close) {
            s.p++, depth--, first = 0;
            continue;
        }
        if (!first) {
            if (*s.p != ',') return CH_JSONSCAN_UNSURE;
            s.p++;
            skip_ws(&s);
            if (s.p >= s.end) return CH_JSONSCAN_UNSURE;
        }
        if (kind == '{') {
            if (*s.p != '"' || !string(&s)) return CH_JSONSCAN_UNSURE;
            skip_ws(&s);
            if (s.p >= s.end || *s.p != ':') return CH_JSONSCAN_UNSURE;
            s.p++;
            skip_ws(&s);
        }
        int before = depth;
        if (!value(&s, stack, &depth)) return CH_JSONSCAN_UNSURE;
        first = depth > before; /* a new container starts empty-or-first */
    }
    skip_ws(&s);
    return s.p == s.end ? CH_JSONSCAN_OBJECT : CH_JSONSCAN_UNSURE;
}

/* One plain string at s->p (after its opening quote): bytes 0x20..0x7E but
 * '"' and '\\', up to the closing quote, which is made the string's NUL in
 * the copy. The string's start in the copy, or NULL. */
static const char *flat_string(scan *s, const unsigned char *base, char *copy)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p < 0x20 || *s->p > 0x7E || *s->p == '\\') return NULL;
        s->p++;
    }
    if (s->p >= s->end) return NULL;
    copy[s->p - base] = '\0';
    s->p++;
    return copy + (start - base);
}

ch_jsonscan_result ch_jsonscan_flat(const char *buf, size_t len, char *copy, const char **names,
                                    const char **values, size_t max, size_t *n)
{
    *n = 0;
    scan s = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    const unsigned char *base = s.p;
    if (len < 2 || buf[0] != '{' || buf[len - 1] != '}') return CH_JSONSCAN_UNSURE;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    s.p++;
    s.end--; /* the closing brace */
    while (s.p < s.end) {
        if (*n == max) return CH_JSONSCAN_UNSURE;
        if (*n > 0 && *s.p++ != ',') return CH_JSONSCAN_UNSURE;
        if (s.p >= s.end || *s.p++ != '"') return CH_JSONSCAN_UNSURE;
        const char *k = flat_string(&s, base, copy);
        if (k == NULL || s.p + 1 >= s.end || s.p[0] != ':' || s.p[1] != '"') return CH_JSONSCAN_UNSURE;
        s.p += 2;
        const char *v = flat_string(&s, base, copy);
        if (v == NULL) return CH_JSONSCAN_UNSURE;
        /* A repeated name: Jansson keeps the first's place and the last's
         * value; the full parser says so. */
        for (size_t i = 0; i < *n; i++)
            if (strcmp(names[i], k) == 0) return CH_JSONSCAN_UNSURE;
        names[*n] = k;
        values[*n] = v;
        (*n)++;
    }
    return CH_JSONSCAN_OBJECT;
}
