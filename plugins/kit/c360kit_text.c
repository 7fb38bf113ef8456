/* c360kit_text.c -- query strings, percent-encoding, hex, excerpts, JSON
 * strings and state keys. Bounded; never trusts its input. */
#include <stdio.h>
#include <string.h>

#include "c360kit.h"

bool c360kit_query_get(const char *query, const char *name, char *out,
                       size_t cap, size_t *len_out)
{
    size_t nlen = strlen(name);
    const char *s = query;
    while (s != NULL && *s != '\0') {
        const char *end = strchr(s, '&');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        if (len >= nlen && strncmp(s, name, nlen) == 0 &&
            (len == nlen || s[nlen] == '=')) {
            const char *v = len == nlen ? s + len : s + nlen + 1;
            const char *vend = s + len;
            size_t n = 0;
            for (const char *c = v; c < vend; c++) {
                int ch = (unsigned char)*c;
                if (ch == '+') {
                    ch = ' ';
                } else if (ch == '%') {
                    if (vend - c < 3) return false;
                    int hi = c360kit_hexval(c[1]), lo = c360kit_hexval(c[2]);
                    if (hi < 0 || lo < 0) return false;
                    ch = hi * 16 + lo;
                    c += 2;
                }
                /* A decoded NUL would silently shorten the value. */
                if (ch == 0 || n + 1 >= cap) return false;
                out[n++] = (char)ch;
            }
            out[n] = '\0';
            if (len_out != NULL) *len_out = n;
            return true;
        }
        s = end != NULL ? end + 1 : NULL;
    }
    return false;
}

size_t c360kit_urlenc_n(const char *s, size_t n, char *out)
{
    static const char hx[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    if (out == NULL) {
        size_t k = n;
        for (size_t i = 0; i < n; i++) k += c360kit_unreserved(u[i]) ? 0 : 2;
        return k;
    }
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        if (c360kit_unreserved(u[i])) {
            *o++ = (char)u[i];
        } else {
            o[0] = '%';
            o[1] = hx[u[i] >> 4];
            o[2] = hx[u[i] & 15];
            o += 3;
        }
    }
    return (size_t)(o - out);
}

bool c360kit_urlenc_cat(char *out, size_t cap, const char *s)
{
    size_t start = strlen(out), n = strlen(s);
    /* All or nothing: a half-encoded value would be a wrong one. */
    if (start + c360kit_urlenc_n(s, n, NULL) >= cap) return false;
    out[start + c360kit_urlenc_n(s, n, out + start)] = '\0';
    return true;
}

void c360kit_hex(const uint8_t *bin, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[bin[i] >> 4];
        out[2 * i + 1] = hx[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Each hex digit's value plus one; 0 for anything else. The webhook
 * signature of every request (64 digits) is decoded with it, on the event
 * loop. */
static const uint8_t k_hexval1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
    ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int c360kit_hexval(char c) { return (int)k_hexval1[(unsigned char)c] - 1; }

bool c360kit_hex_decode(const char *s, size_t hexlen, uint8_t *out)
{
    if (hexlen % 2 != 0) return false;
    for (size_t i = 0; i < hexlen / 2; i++) {
        unsigned hi = k_hexval1[(unsigned char)s[2 * i]];
        unsigned lo = k_hexval1[(unsigned char)s[2 * i + 1]];
        if (hi == 0 || lo == 0) return false;
        out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    return true;
}

/* Short cuts are ignored: they would eat ordinary words. A longer cut
 * counts in pieces of this length too, so that a text echoing only a part
 * of a token (a provider cutting it short in its message, or quoting its
 * tail) is caught as well. */
#define CUT_MIN 8

/* true if s holds any CUT_MIN bytes in a row of any of the cuts. Only
 * error paths call this, on short texts: a strstr per piece is cheap. */
static bool holds_cut(const char *s, const char *const *cuts, size_t n)
{
    size_t sl = strlen(s);
    if (sl < CUT_MIN) return false;
    for (size_t i = 0; i < n; i++) {
        size_t cl = cuts[i] != NULL ? strlen(cuts[i]) : 0;
        if (cl < CUT_MIN) continue;
        char piece[CUT_MIN + 1];
        for (size_t at = 0; at + CUT_MIN <= cl; at++) {
            memcpy(piece, cuts[i] + at, CUT_MIN);
            piece[CUT_MIN] = '\0';
            if (strstr(s, piece) != NULL) return true;
        }
    }
    return false;
}

/* The excerpt of in, which holds no cut. */
static void excerpt_plain(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in != NULL ? in : ""; *p != '\0' && n + 1 < cap;) {
        unsigned char ch = (unsigned char)*p++;
        out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    /* Do not end inside a UTF-8 sequence that was cut short. */
    size_t k = n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0 && (unsigned char)out[k - 1] >= 0xC0) {
        unsigned char lead = (unsigned char)out[k - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (n - (k - 1) < need) n = k - 1;
    }
    out[n] = '\0';
}

void c360kit_excerpt_cuts(const char *in, const char *const *cuts, size_t n, char *out,
                          size_t cap)
{
    if (cap == 0) return;
    /* A text that holds a token we sent is not shown at all: cutting the
     * token out could join what is around it into another secret (a text
     * made to do so), and what is left says little anyway. */
    if (in != NULL && holds_cut(in, cuts, n)) {
        snprintf(out, cap, "(message not shown: it held a credential)");
        return;
    }
    excerpt_plain(in, out, cap);
}

void c360kit_excerpt(const char *in, const char *cut, char *out, size_t cap)
{
    c360kit_excerpt_cuts(in, &cut, 1, out, cap);
}

const char *c360kit_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void c360kit_key(char *buf, size_t cap, const char *prefix, const char *id)
{
    snprintf(buf, cap, "%s%s", prefix, id);
}
