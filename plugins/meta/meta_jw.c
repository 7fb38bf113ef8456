/* meta_jw.c -- a JSON writer into a growing byte buffer: the lead record
 * (meta_records.c) is written straight as text, byte for byte what
 * json_dumps(tree, JSON_COMPACT) printed of the Jansson tree it used to
 * build (no tree, no per-member malloc, no second walk to dump it).
 *
 * Jansson's rules kept here (dump.c and utf8.c, 2.14):
 *  - strings: '"' and '\\' as \" and \\, \b \f \n \r \t, every other byte
 *    below 0x20 as \u00XX with upper-case hex; DEL (0x7f), '/' (no
 *    JSON_ESCAPE_SLASH) and UTF-8 sequences pass as they are;
 *  - a string that is not valid UTF-8 (overlong forms, surrogates, past
 *    U+10FFFF, truncated sequences) makes no json_t at all: json_string()
 *    gives NULL and json_object_set_new / json_array_append_new then add
 *    nothing. meta_jw_str and meta_jw_kstr write nothing for it either;
 *  - integers as %lld; compact separators "," and ":".
 *
 * Failures are sticky: once out of memory the writer writes nothing more
 * and the caller checks meta_jw_failed once at the end. */
#include <stdlib.h>
#include <string.h>

#include "meta.h"

void meta_jw_init(meta_jw *w, char *first, size_t cap)
{
    *w = (meta_jw){.buf = first, .cap = first != NULL ? cap : 0};
}

void meta_jw_free(meta_jw *w)
{
    if (w->heap) free(w->buf);
    *w = (meta_jw){.failed = true};
}

/* Grows the buffer for n more bytes; false (and failed) when it cannot. */
static bool grow(meta_jw *w, size_t n)
{
    if (n > SIZE_MAX / 2 - w->len) {
        w->failed = true;
        return false;
    }
    size_t want = w->len + n, cap = w->cap < 256 ? 256 : w->cap;
    while (cap < want) cap *= 2;
    char *b = w->heap ? realloc(w->buf, cap) : malloc(cap);
    if (b == NULL) {
        w->failed = true;
        return false;
    }
    /* The caller's first buffer is left as it is: copied once, then the
     * heap buffer grows in place. */
    if (!w->heap && w->len > 0) memcpy(b, w->buf, w->len);
    w->buf = b;
    w->cap = cap;
    w->heap = true;
    return true;
}

/* Room for n more bytes; false once failed. */
static inline bool reserve(meta_jw *w, size_t n)
{
    if (w->failed) return false;
    return w->cap - w->len >= n || grow(w, n);
}

static inline void put(meta_jw *w, const char *s, size_t n)
{
    if (!reserve(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* The ',' a value or key needs after an earlier one at the same level. */
static void sep(meta_jw *w)
{
    if (w->comma) put(w, ",", 1);
}

/* The length of the valid UTF-8 sequence of more than one byte at s
 * (s[0] >= 0x80), at most `left` bytes long; 0 if it is not one. The
 * checks of Jansson's utf8_check_first and utf8_check_full. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    size_t n;
    uint32_t cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) n = 2, cp = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) n = 3, cp = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) n = 4, cp = s[0] & 0x07u;
    else return 0; /* a continuation byte, 0xC0/0xC1, or 0xF5.. */
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) return 0;
    if ((n == 3 && cp < 0x800u) || (n == 4 && cp < 0x10000u)) return 0;
    return n;
}

bool meta_jw_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

/* s[0..n) quoted and escaped. false, with the buffer as it was, when s
 * is not valid UTF-8 (or out of memory). */
/* The bytes copied as they are without a look at what follows: printable
 * ASCII but '"' and '\\'. */
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char plain[256] = {
    [0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22 '"' */
    P16, P16, /* 0x30 .. 0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c '\\' */
    P16, P16, /* 0x60 .. 0x7f: DEL is not escaped */
};
#undef P16

static bool quoted(meta_jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = w->len;
    /* Most strings need no escape: room for them as they are and the
     * quotes, and more only when an escape comes. */
    if (!reserve(w, n + 2)) return false;
    w->buf[w->len++] = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain[p[run]]) run++;
        if (run > i) {
            memcpy(w->buf + w->len, s + i, run - i);
            w->len += run - i;
            i = run;
            continue;
        }
        if (p[i] >= 0x80) {
            size_t k = utf8_seq(p + i, n - i);
            if (k == 0) {
                w->len = start;
                return false;
            }
            memcpy(w->buf + w->len, s + i, k);
            w->len += k;
            i += k;
            continue;
        }
        /* An escape: up to 6 bytes for one input byte. Room is kept for
         * what is left of s as it is and the closing quote. */
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (p[i]) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u', e[2] = '0', e[3] = '0';
            e[4] = hex[p[i] >> 4], e[5] = hex[p[i] & 0xF];
            el = 6;
        }
        if (!reserve(w, el + (n - i))) {
            w->len = start;
            return false;
        }
        memcpy(w->buf + w->len, e, el);
        w->len += el;
        i++;
    }
    w->buf[w->len++] = '"';
    return true;
}

/* A container's opening ('{', '[') after its separator, and its closing:
 * the next member or element needs a comma then. */
static void open_c(meta_jw *w, const char *c)
{
    sep(w);
    put(w, c, 1);
    w->comma = false;
}

static void close_c(meta_jw *w, const char *c)
{
    put(w, c, 1);
    w->comma = true;
}

void meta_jw_obj(meta_jw *w) { open_c(w, "{"); }
void meta_jw_obj_end(meta_jw *w) { close_c(w, "}"); }
void meta_jw_arr(meta_jw *w) { open_c(w, "["); }
void meta_jw_arr_end(meta_jw *w) { close_c(w, "]"); }

void meta_jw_key(meta_jw *w, const char *key)
{
    sep(w);
    (void)quoted(w, key, strlen(key));
    put(w, ":", 1);
    w->comma = false;
}

bool meta_jw_str(meta_jw *w, const char *s, size_t n)
{
    size_t len = w->len;
    bool comma = w->comma;
    sep(w);
    if (!quoted(w, s, n)) {
        w->len = len;
        w->comma = comma;
        return false;
    }
    w->comma = true;
    return true;
}

bool meta_jw_kstr(meta_jw *w, const char *key, const char *s)
{
    if (s == NULL) return false; /* json_string(NULL) is NULL too */
    size_t len = w->len;
    bool comma = w->comma;
    meta_jw_key(w, key);
    if (!meta_jw_str(w, s, strlen(s))) {
        w->len = len;
        w->comma = comma;
        return false;
    }
    return true;
}

void meta_jw_int(meta_jw *w, int64_t v)
{
    char d[24];
    size_t i = sizeof d;
    /* Through the unsigned magnitude: INT64_MIN has no positive twin. */
    uint64_t u = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    do d[--i] = (char)('0' + u % 10u); while ((u /= 10u) != 0);
    if (v < 0) d[--i] = '-';
    sep(w);
    put(w, d + i, sizeof d - i);
    w->comma = true;
}

void meta_jw_bool(meta_jw *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
    w->comma = true;
}

void meta_jw_null(meta_jw *w)
{
    sep(w);
    put(w, "null", 4);
    w->comma = true;
}
