/* meta_batch_scan.c -- a Graph batch answer read from its bytes, without
 * Jansson's tree of the whole answer (meta.h, "meta_batch_scan.c").
 *
 * The look ahead reads up to META_BATCH_MAX leads per answer, each the
 * escaped JSON string of an operation's "body". Parsing the whole answer
 * with Jansson allocated and unescaped every body inside a tree, only for
 * meta_batch_parse to parse each body once more (perf: 5.6 % and 6.3 % of
 * c360d's samples). Here:
 *
 *   pass 1  meta_json_check (meta_scan.c's validator) proves that
 *           json_loadb(.., 0, ..) of Jansson 2.14 accepts the answer;
 *   pass 2  walks the top-level array on those proven bytes, takes each
 *           operation's last "code", "headers" and "body" (Jansson keeps
 *           the last of duplicate keys; an escaped key is decoded before it
 *           is compared), decodes the strings it needs exactly as Jansson
 *           decodes them, and hands them to the same per-operation steps as
 *           meta_batch_parse (meta_batch_hdr_name, meta_usage_parse,
 *           meta_batch_op_end_bytes), which keeps each lead's body as
 *           bytes once meta_json_check proved them: no parse at all here
 *           (meta_lead_src.c reads them for the record).
 *
 * Where pass 1 is unsure (a NUL outside a string, deep nesting, a real
 * that might overflow) the answer is META_SCAN_UNSURE before anything is
 * allocated, and meta_batch_read parses with Jansson instead: the result
 * is the same for every input. Bounded: each byte is read by pass 1, once
 * by the walk, and once more when a string it needs is decoded; one
 * scratch buffer of the answer's length holds an operation's decoded
 * strings (each is no longer than its escaped form). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

typedef struct span {
    const uint8_t *b, *e; /* a value's bytes, quotes included; b NULL: absent */
} span;

const uint8_t *meta_jb_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Past the string whose opening quote is at s (pass 1 saw it closed).
 * Bodies are long: memchr finds each quote, and a quote after an odd run
 * of backslashes is escaped (the opening quote ends any run). */
static const uint8_t *skip_string(const uint8_t *s, const uint8_t *end)
{
    const uint8_t *p = s + 1;
    while (p < end) {
        const uint8_t *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL) break;
        size_t bs = 0;
        while (q[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if (bs % 2 == 0) return q + 1;
        p = q + 1;
    }
    return end;
}

/* Past the value at p, on bytes pass 1 accepted. */
const uint8_t *meta_jb_skip(const uint8_t *p, const uint8_t *end)
{
    if (*p == '"') return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
               *p != '\n' && *p != '\r')
            p++;
        return p;
    }
    size_t depth = 0;
    while (p < end) {
        uint8_t c = *p;
        if (c == '"') {
            p = skip_string(p, end);
            continue;
        }
        p++;
        if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && --depth == 0) break;
    }
    return p;
}

static unsigned hex4(const uint8_t *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) v = v << 4 | (unsigned)c360kit_hexval((char)p[i]);
    return v;
}

/* The string s (quotes included; pass 1 proved its escapes: no \u0000, no
 * lone surrogate) decoded as Jansson decodes it, into dst (room for its
 * escaped length; NULL: only counted). Returns the decoded length. */
size_t meta_jb_decode(const uint8_t *b, const uint8_t *e, char *dst)
{
    const uint8_t *p = b + 1, *end = e - 1;
    size_t n = 0;
    while (p < end) {
        const uint8_t *q = p;
        while (q < end && *q != '\\') q++;
        if (dst != NULL) memcpy(dst + n, p, (size_t)(q - p));
        n += (size_t)(q - p);
        if (q == end) break;
        uint8_t c = q[1];
        p = q + 2;
        if (c != 'u') {
            char d = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r'
                   : c == 't' ? '\t' : (char)c; /* " \ / */
            if (dst != NULL) dst[n] = d;
            n++;
            continue;
        }
        uint32_t cp = hex4(p);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
            p += 6;
        }
        uint8_t u[4];
        size_t k;
        if (cp < 0x80) {
            u[0] = (uint8_t)cp, k = 1;
        } else if (cp < 0x800) {
            u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), k = 2;
        } else if (cp < 0x10000) {
            u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            u[2] = (uint8_t)(0x80 | (cp & 0x3F)), k = 3;
        } else {
            u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
            u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F));
            k = 4;
        }
        if (dst != NULL) memcpy(dst + n, u, k);
        n += k;
    }
    return n;
}

/* An escaped key can only decode to one of the names read here (at most 7
 * bytes, each from at most 6 escaped ones: \u0041) when it is this short. */
#define KEY_RAW_MAX 48

/* The last value of each of names[0..nn) in the object at p ('{'), as
 * Jansson keeps the last duplicate. Returns the end of the object. */
static const uint8_t *members(const uint8_t *p, const uint8_t *end, const char *const *names,
                              size_t nn, span *out)
{
    for (size_t i = 0; i < nn; i++) out[i].b = NULL;
    p = meta_jb_ws(p + 1, end);
    if (*p == '}') return p + 1;
    for (;;) {
        span k = {p, skip_string(p, end)};
        const uint8_t *kb = k.b + 1;
        size_t kl = (size_t)(k.e - k.b - 2);
        char dec[KEY_RAW_MAX];
        if (memchr(kb, '\\', kl) != NULL) {
            /* Compared decoded: "co\u0064e" is "code" to Jansson. */
            if (kl > KEY_RAW_MAX) kl = 0, kb = NULL;
            else kl = meta_jb_decode(k.b, k.e, dec), kb = (const uint8_t *)dec;
        }
        p = meta_jb_ws(meta_jb_ws(k.e, end) + 1, end); /* the ':' */
        const uint8_t *v = p;
        p = meta_jb_skip(p, end);
        for (size_t i = 0; i < nn && kb != NULL; i++)
            if (strlen(names[i]) == kl && memcmp(kb, names[i], kl) == 0) {
                out[i] = (span){v, p};
                break;
            }
        p = meta_jb_ws(p, end);
        if (*p == '}') return p + 1;
        p = meta_jb_ws(p + 1, end); /* the ',' */
    }
}

/* json_is_integer(code) && 100 <= value <= 599, on a value pass 1 proved:
 * an integer has no '.', 'e' or 'E' and no leading zero. 0: none. */
static int code_of(span s)
{
    if (s.b == NULL || s.e - s.b != 3) return 0;
    for (int i = 0; i < 3; i++)
        if (s.b[i] < '0' || s.b[i] > '9') return 0;
    int v = (s.b[0] - '0') * 100 + (s.b[1] - '0') * 10 + (s.b[2] - '0');
    return v >= 100 && v <= 599 ? v : 0;
}

static const char *const OP_KEYS[] = {"code", "headers", "body"};
static const char *const HDR_KEYS[] = {"name", "value"};

/* An operation's "headers" as meta_batch.c's op_usage reads the tree:
 * the first META_BATCH_HDRS_MAX entries, string names and values within
 * their bounds; values decoded into buf (room for the answer). */
static void op_usage(span hs, const uint8_t *end, char *buf, meta_usage *u)
{
    c360_header h[META_BATCH_HDRS_MAX];
    char names[META_BATCH_HDRS_MAX][META_BATCH_HDR_NAME_MAX + 1];
    size_t n = 0, at = 0;
    if (hs.b != NULL && *hs.b == '[') {
        const uint8_t *p = meta_jb_ws(hs.b + 1, end);
        for (size_t i = 0; i < META_BATCH_HDRS_MAX && *p != ']'; i++) {
            span f[2] = {{NULL, NULL}, {NULL, NULL}};
            const uint8_t *next = *p == '{' ? members(p, end, HDR_KEYS, 2, f)
                                            : meta_jb_skip(p, end);
            if (f[0].b != NULL && *f[0].b == '"' && f[1].b != NULL && *f[1].b == '"') {
                /* A name is decoded only when it may fit: each decoded
                 * byte comes from at most 6 escaped ones. */
                size_t nl = (size_t)(f[0].e - f[0].b - 2), vl = 0;
                if (nl <= 6 * META_BATCH_HDR_NAME_MAX)
                    nl = meta_jb_decode(f[0].b, f[0].e, buf + at);
                if (meta_batch_hdr_name(buf + at, nl, names[n]) &&
                    (vl = meta_jb_decode(f[1].b, f[1].e, NULL)) <= META_BATCH_HDR_VALUE_MAX) {
                    meta_jb_decode(f[1].b, f[1].e, buf + at);
                    buf[at + vl] = '\0';
                    h[n] = (c360_header){names[n], buf + at};
                    at += vl + 1;
                    n++;
                }
            }
            p = meta_jb_ws(next, end);
            if (*p == ',') p = meta_jb_ws(p + 1, end);
        }
    }
    meta_usage_parse(h, n, u);
}

int meta_batch_scan(const uint8_t *b, size_t len, const meta_batch_op *ops, size_t n,
                    meta_batch_res *res, int *got)
{
    *got = -1;
    int rc = meta_json_check(b, len);
    if (rc != META_SCAN_OK) return rc;
    const uint8_t *end = b + len, *p = meta_jb_ws(b, end);
    if (n > META_BATCH_MAX || *p != '[') return META_SCAN_OK; /* not an array of n */
    /* Each element's members first: nothing is set unless there are
     * exactly n. null and anything but an object have none, as
     * json_object_get gives NULL. */
    span f[META_BATCH_MAX][3];
    size_t count = 0;
    p = meta_jb_ws(p + 1, end);
    while (*p != ']') {
        if (count == n) return META_SCAN_OK;
        span *m = f[count++];
        m[0].b = m[1].b = m[2].b = NULL;
        p = meta_jb_ws(*p == '{' ? members(p, end, OP_KEYS, 3, m) : meta_jb_skip(p, end), end);
        if (*p == ',') p = meta_jb_ws(p + 1, end);
    }
    if (count != n) return META_SCAN_OK;
    char *buf = malloc(len + 1);
    if (buf == NULL) return META_SCAN_UNSURE; /* Jansson's path says what it can */
    *got = 0;
    for (size_t i = 0; i < n; i++) {
        meta_batch_res *r = &res[i];
        memset(r, 0, sizeof *r);
        r->code = code_of(f[i][0]);
        op_usage(f[i][1], end, buf, &r->usage);
        size_t bl = 0;
        bool body = f[i][2].b != NULL && *f[i][2].b == '"';
        if (body && r->code != 0) bl = meta_jb_decode(f[i][2].b, f[i][2].e, buf);
        *got += meta_batch_op_end_bytes(r, &ops[i], body && bl <= META_BATCH_BODY_MAX ? buf : NULL,
                                  bl);
    }
    free(buf);
    return META_SCAN_OK;
}

int meta_batch_read(const uint8_t *b, size_t len, const meta_batch_op *ops, size_t n,
                    meta_batch_res *res)
{
    int got;
    int rc = meta_batch_scan(b, len, ops, n, res, &got);
    if (rc == META_SCAN_OK) return got;
    if (rc == META_SCAN_INVALID) return -2;
    json_t *j = json_loadb((const char *)b, len, 0, NULL);
    if (j == NULL) return -2;
    got = meta_batch_parse(j, ops, n, res);
    json_decref(j);
    return got;
}
