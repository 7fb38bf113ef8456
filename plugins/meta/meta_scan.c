/* meta_scan.c -- a webhook body read without building a tree.
 *
 * webhook_verify runs on the event loop for every POST, and parsing the
 * whole body with Jansson only to walk a few fields (meta_payload_walk)
 * was its largest cost (callgrind: ~65k of ~150k instructions per lead
 * webhook). meta_payload_scan gives the same answers from the bytes:
 *
 *   pass 1  checks the whole document exactly as json_loadb(.., 0, ..)
 *           of Jansson 2.14 accepts it (grammar, strings, UTF-8, escapes,
 *           integer range), and notes the last value of the root's
 *           "object" and "entry" (Jansson keeps the last of duplicates);
 *   pass 2  walks the entries and changes as meta_payload_walk does, on
 *           bytes pass 1 proved well formed, so it only skips values.
 *
 * Where matching Jansson would take more than a few lines, it answers
 * META_SCAN_UNSURE and the caller parses with Jansson: a NUL byte outside
 * a string (Jansson's stream reads it oddly), nesting past SCAN_DEPTH, a
 * real that might overflow, an object key with an escape in an object the
 * walk reads (it might decode to a key of interest), and an escaped string
 * or a real where the walk reads a value. No allocation, no recursion,
 * O(len): each byte is looked at a bounded number of times (pass 1, and
 * once per nesting level of the walk, at most four). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define SCAN_DEPTH 64 /* containers; Jansson's own limit is 2048 values */

enum { W_GO, W_STOP, W_UNSURE }; /* what the walk does next */

typedef struct span {
    const uint8_t *b, *e; /* a value's bytes, quotes included; b NULL: absent */
} span;

static const uint8_t *ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Four hex digits at p (before end) as a number, or -1. */
static long hex4(const uint8_t *p, const uint8_t *end)
{
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = c360kit_hexval((char)p[i]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

/* ---- pass 1: Jansson's acceptance -------------------------------------- */

/* The length of the UTF-8 sequence at p (its first byte >= 0x80) as
 * Jansson's utf8_check_first / utf8_check_full accept it: the shortest
 * form, no surrogates, at most U+10FFFF. 0: rejected. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* The string whose opening quote is at *pp: *pp past its closing quote.
 * Jansson's rules: no byte below 0x20, valid UTF-8, the escapes \" \\ \/
 * \b \f \n \r \t \uXXXX; a \u high surrogate directly followed by a \u
 * low one, no lone low surrogate, no \u0000 (keys: "NUL byte in object
 * key"; values: no JSON_ALLOW_NUL). *esc: it had a backslash. Every
 * rejection here is certain: a raw NUL in a string is read as a control
 * character like any other. */
static int v_string(const uint8_t **pp, const uint8_t *end, bool *esc)
{
    const uint8_t *p = *pp + 1;
    for (;;) {
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p == end) return META_SCAN_INVALID; /* premature end of input */
        uint8_t c = *p;
        if (c == '"') {
            *pp = p + 1;
            return META_SCAN_OK;
        }
        if (c < 0x20) return META_SCAN_INVALID;
        if (c >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (n == 0) return META_SCAN_INVALID;
            p += n;
            continue;
        }
        *esc = true;
        if (end - p < 2) return META_SCAN_INVALID;
        c = p[1];
        if (c != 'u') {
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                c != 'r' && c != 't')
                return META_SCAN_INVALID;
            p += 2;
            continue;
        }
        long u = hex4(p + 2, end);
        if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF)) return META_SCAN_INVALID;
        p += 6;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return META_SCAN_INVALID;
            long lo = hex4(p + 2, end);
            if (lo < 0xDC00 || lo > 0xDFFF) return META_SCAN_INVALID;
            p += 6;
        }
    }
}

/* The number at *pp ('-' or a digit): *pp past it. Integers must fit
 * json_int_t (strtoll, "too big integer"); a real is *unsure when it
 * might overflow a double ("real number overflow"): its magnitude is
 * below 10^(integer digits + exponent), safe up to 10^300. */
static int v_number(const uint8_t **pp, const uint8_t *end, bool *unsure)
{
    const uint8_t *p = *pp;
    bool neg = *p == '-';
    if (neg) p++;
    const uint8_t *d0 = p;
    if (p == end || !is_digit(*p)) return META_SCAN_INVALID;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return META_SCAN_INVALID;
    } else {
        while (p < end && is_digit(*p)) p++;
    }
    size_t nint = (size_t)(p - d0);
    if (p == end || (*p != '.' && *p != 'e' && *p != 'E')) {
        if (nint > 19 || (nint == 19 && memcmp(d0, neg ? "9223372036854775808"
                                                        : "9223372036854775807", 19) > 0))
            return META_SCAN_INVALID;
        *pp = p;
        return META_SCAN_OK;
    }
    if (*p == '.') {
        p++;
        if (p == end || !is_digit(*p)) return META_SCAN_INVALID;
        while (p < end && is_digit(*p)) p++;
    }
    size_t exp = 0;
    bool eneg = false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == end || !is_digit(*p)) return META_SCAN_INVALID;
        for (; p < end && is_digit(*p); p++)
            if (exp < 100000) exp = exp * 10 + (size_t)(*p - '0');
    }
    if (nint + (eneg ? 0 : exp) > 300) *unsure = true;
    *pp = p;
    return META_SCAN_OK;
}

/* What pass 1 leaves pass 2: the last value of each of the root's members
 * the walk reads ("object", "entry"), as Jansson keeps the last, and where
 * the first SCAN_MARKS containers (in document order) open and close, so
 * that pass 2 skips those without reading them again. */
#define SCAN_MARKS 32
#define NO_MARK 0xFF
typedef struct doc {
    span object, entry;
    const uint8_t *end;
    size_t nmarks;
    const uint8_t *open[SCAN_MARKS], *close[SCAN_MARKS];
} doc;

enum { S_VALUE, S_KEY, S_AFTER };

/* Pass 1: META_SCAN_OK when json_loadb(b, len, 0) accepts the body
 * (*unsure: unless a real overflows, or a root key has an escape),
 * META_SCAN_INVALID when it refuses it, META_SCAN_UNSURE when this cannot
 * tell. Certain rejections may follow unsure parts: Jansson refuses the
 * body at that point if not before. */
static int validate(const uint8_t *b, size_t len, doc *r, bool *unsure)
{
    const uint8_t *p = b, *end = b + len;
    uint8_t stack[SCAN_DEPTH]; /* '{' or '[' per open container */
    uint8_t mark[SCAN_DEPTH];  /* its index in r->open, or NO_MARK */
    size_t depth = 0;
    span *cur = NULL;          /* the root member whose value is being read */
    const uint8_t *vstart = NULL;
    int state = S_VALUE;
    p = ws(p, end);
    if (p == end) return META_SCAN_INVALID;
    if (*p != '{' && *p != '[') return *p == 0 ? META_SCAN_UNSURE : META_SCAN_INVALID;
    for (;;) {
        p = ws(p, end);
        if (p == end) return state == S_AFTER && depth == 0 ? META_SCAN_OK : META_SCAN_INVALID;
        uint8_t c = *p;
        /* Jansson's stream drops a NUL it has to unread (after a number or
         * a word): not worth matching. */
        if (c == 0) return META_SCAN_UNSURE;
        int rc = META_SCAN_OK;
        if (state == S_KEY) {
            if (c != '"') return META_SCAN_INVALID;
            const uint8_t *k = p;
            bool esc = false;
            if ((rc = v_string(&p, end, &esc)) != META_SCAN_OK) return rc;
            if (depth == 1 && stack[0] == '{') {
                size_t n = (size_t)(p - k);
                cur = n == 8 && memcmp(k, "\"object\"", 8) == 0  ? &r->object
                      : n == 7 && memcmp(k, "\"entry\"", 7) == 0 ? &r->entry
                                                                 : NULL;
                if (esc) *unsure = true; /* it might decode to one of those */
            }
            p = ws(p, end);
            if (p == end || *p != ':') return META_SCAN_INVALID;
            p++;
            state = S_VALUE;
            continue;
        }
        if (state == S_AFTER) {
            if (depth == 0) return META_SCAN_INVALID; /* end of file expected */
            uint8_t top = stack[depth - 1];
            if (c == ',') {
                state = top == '{' ? S_KEY : S_VALUE;
                p++;
                continue;
            }
            if (c != (top == '{' ? '}' : ']')) return META_SCAN_INVALID;
            p++;
            if (mark[--depth] != NO_MARK) r->close[mark[depth]] = p;
        } else {
            if (depth == 1) vstart = p;
            if (c == '{' || c == '[') {
                if (depth == SCAN_DEPTH) return META_SCAN_UNSURE;
                mark[depth] = NO_MARK;
                if (r->nmarks < SCAN_MARKS) {
                    mark[depth] = (uint8_t)r->nmarks;
                    r->open[r->nmarks] = p;
                    r->close[r->nmarks++] = NULL;
                }
                stack[depth++] = c;
                p = ws(p + 1, end);
                if (p < end && *p == (c == '{' ? '}' : ']')) {
                    p++;
                    if (mark[--depth] != NO_MARK) r->close[mark[depth]] = p;
                } else {
                    state = c == '{' ? S_KEY : S_VALUE;
                    continue;
                }
            } else if (c == '"') {
                bool esc = false;
                rc = v_string(&p, end, &esc);
            } else if (c == '-' || is_digit(c)) {
                rc = v_number(&p, end, unsure);
            } else if (c == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
                p += 4; /* a longer word is refused by S_AFTER, as by Jansson */
            } else if (c == 'f' && end - p >= 5 && memcmp(p, "false", 5) == 0) {
                p += 5;
            } else if (c == 'n' && end - p >= 4 && memcmp(p, "null", 4) == 0) {
                p += 4;
            } else {
                return META_SCAN_INVALID;
            }
            if (rc != META_SCAN_OK) return rc;
        }
        /* A value ended at p, at the nesting `depth`. */
        if (depth == 1 && cur != NULL) {
            cur->b = vstart;
            cur->e = p;
            cur = NULL;
        }
        state = S_AFTER;
    }
}

/* ---- pass 2: the walk, over bytes pass 1 accepted ---------------------- */

/* Past the string whose opening quote is at p; *esc set if it has an
 * escape. */
static const uint8_t *skip_string(const uint8_t *p, const uint8_t *end, bool *esc)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            *esc = true;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return end; /* not reached: pass 1 saw it closed */
}

static bool has_backslash(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) /* short strings: cheaper than memchr's call */
        if (b[i] == '\\') return true;
    return false;
}

/* Past the value at p. */
static const uint8_t *skip_value(const doc *d, const uint8_t *p)
{
    const uint8_t *end = d->end;
    bool esc;
    if (*p == '"') return skip_string(p, end, &esc);
    if (*p == '{' || *p == '[') {
        /* A container pass 1 marked: its end is known. */
        size_t lo = 0, hi = d->nmarks;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (d->open[mid] < p) lo = mid + 1;
            else hi = mid;
        }
        if (lo < d->nmarks && d->open[lo] == p) return d->close[lo];
    } else {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
               *p != '\n' && *p != '\r')
            p++;
        return p;
    }
    size_t depth = 0; /* not marked: read through */
    while (p < end) {
        uint8_t c = *p;
        if (c == '"') {
            p = skip_string(p, end, &esc);
            continue;
        }
        p++;
        if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && --depth == 0) break;
    }
    return p;
}

typedef struct want {
    const char *name;
    size_t len;
} want;

/* The last value of each wanted key of the object at p ('{'), as Jansson
 * keeps the last duplicate. Returns the end of the object, or NULL when a
 * key has an escape (it might decode to a wanted one). */
static const uint8_t *members(const doc *d, const uint8_t *p, const want *w, size_t nw,
                              span *out)
{
    const uint8_t *end = d->end;
    for (size_t i = 0; i < nw; i++) out[i].b = NULL;
    p = ws(p + 1, end);
    if (*p == '}') return p + 1;
    for (;;) {
        const uint8_t *k = p + 1;
        bool esc = false;
        p = skip_string(p, end, &esc);
        if (esc) return NULL;
        size_t klen = (size_t)(p - 1 - k);
        p = ws(ws(p, end) + 1, end); /* the ':' */
        const uint8_t *v = p;
        p = skip_value(d, p);
        for (size_t i = 0; i < nw; i++)
            if (klen == w[i].len && memcmp(k, w[i].name, klen) == 0) {
                out[i].b = v;
                out[i].e = p;
                break;
            }
        p = ws(p, end);
        if (*p == '}') return p + 1;
        p = ws(p + 1, end); /* the ',' */
    }
}

/* A string value's content (between the quotes) when it has no escape:
 * 1; 0 when s is absent or no string; -1 when it has an escape. */
static int str_of(span s, const uint8_t **b, size_t *n)
{
    if (s.b == NULL || *s.b != '"') return 0;
    *b = s.b + 1;
    *n = (size_t)(s.e - s.b - 2);
    return has_backslash(*b, *n) ? -1 : 1;
}

static bool str_is(const uint8_t *b, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(b, lit, n) == 0;
}

/* A number's kind: 'i' integer, 'r' real (Jansson's rule: '.', 'e' or 'E'). */
static char num_kind(span s)
{
    for (const uint8_t *p = s.b; p < s.e; p++)
        if (*p == '.' || *p == 'e' || *p == 'E') return 'r';
    return 'i';
}

/* meta_id_from_json on a value: 1 (out filled), 0 no id, -1 unsure (an
 * escaped string, a real). */
static int id_of(span s, bool compound, meta_id out)
{
    out[0] = '\0';
    if (s.b == NULL) return 0;
    uint8_t c = *s.b;
    if (c == '"') {
        const uint8_t *b;
        size_t n;
        int k = str_of(s, &b, &n);
        if (k <= 0) return k;
        if (n > META_ID_MAX) return 0;
        memcpy(out, b, n);
        out[n] = '\0';
        if (meta_id_valid(out, compound)) return 1;
        out[0] = '\0';
        return 0;
    }
    if (c != '-' && !is_digit(c)) return 0; /* null, true, false, {}, [] */
    if (num_kind(s) == 'r') return -1;
    /* An integer: pass 1 proved it fits json_int_t and has no leading
     * zero, so "%lld" of it is its digits ("-0" is 0). */
    if (c == '-') {
        if (s.e - s.b != 2 || s.b[1] != '0') return 0; /* negative */
        memcpy(out, "0", 2);
        return 1;
    }
    size_t n = (size_t)(s.e - s.b);
    memcpy(out, s.b, n);
    out[n] = '\0';
    return 1;
}

/* meta_time_from_json on a value: >= 0, -1 none, -2 unsure (an escaped
 * string, a real). */
static int64_t time_of(span s)
{
    if (s.b == NULL) return -1;
    uint8_t c = *s.b;
    if (c == '"') {
        const uint8_t *b;
        size_t n;
        int k = str_of(s, &b, &n);
        if (k < 0) return -2;
        char buf[41];
        if (n > 40) return -1;
        memcpy(buf, b, n);
        buf[n] = '\0';
        int64_t t = -1;
        if (n > 0 && n <= 12 && strspn(buf, "0123456789") == n)
            t = strtoll(buf, NULL, 10);
        else
            t = meta_time_parse(buf);
        return t <= META_TIME_MAX ? t : -1;
    }
    if (c != '-' && !is_digit(c)) return -1;
    if (num_kind(s) == 'r') return -2;
    if (c == '-') return s.e - s.b == 2 && s.b[1] == '0' ? 0 : -1;
    if (s.e - s.b > 12) return -1; /* past META_TIME_MAX (12 digits) */
    int64_t t = 0;
    for (const uint8_t *p = s.b; p < s.e; p++) t = t * 10 + (*p - '0');
    return t <= META_TIME_MAX ? t : -1;
}

static const want CHANGE_KEYS[] = {{"field", 5}, {"value", 5}};
enum { V_LEADGEN_ID, V_ITEM, V_VERB, V_COMMENT_ID, V_CREATED_TIME, V_ID, V_N };
static const want VALUE_KEYS[] = {{"leadgen_id", 10}, {"item", 4}, {"verb", 4},
                                  {"comment_id", 10}, {"created_time", 12}, {"id", 2}};

/* classify() of meta_payload.c: 1 of interest (c->kind, c->dedup), 0 not,
 * -1 unsure. Reads what classify reads, in its order, so that it is
 * unsure only where classify would look. c->entry_time -2: unsure. */
static int classify_scan(const doc *d, bool instagram, span field, span value,
                         meta_change *c)
{
    if (value.b == NULL || *value.b != '{') return 0;
    const uint8_t *f;
    size_t fn;
    int k = str_of(field, &f, &fn);
    if (k <= 0) return k;
    bool lead = !instagram && str_is(f, fn, "leadgen");
    bool feed = !instagram && str_is(f, fn, "feed");
    bool igc = instagram && str_is(f, fn, "comments");
    if (!lead && !feed && !igc) return 0;
    span v[V_N];
    if (members(d, value.b, VALUE_KEYS, V_N, v) == NULL) return -1;
    /* Set for a change of interest only (the caller's fn sees no other). */
    c->value_b = value.b;
    c->value_e = value.e;
    meta_id id;
    if (lead) {
        if ((k = id_of(v[V_LEADGEN_ID], false, id)) <= 0) return k;
        c->kind = META_LEAD;
        memcpy(c->dedup, "lead:", 5);
        memcpy(c->dedup + 5, id, strlen(id) + 1);
        return 1;
    }
    if (igc) {
        if ((k = id_of(v[V_ID], true, id)) <= 0) return k;
        c->kind = META_IG_COMMENT;
        snprintf(c->dedup, sizeof c->dedup, "comment:%s:add", id);
        return 1;
    }
    const uint8_t *item, *verb;
    size_t ni, nv;
    if ((k = str_of(v[V_ITEM], &item, &ni)) <= 0) return k;
    if (!str_is(item, ni, "comment")) return 0;
    if ((k = str_of(v[V_VERB], &verb, &nv)) <= 0) return k;
    const char *vb = str_is(verb, nv, "add")      ? "add"
                     : str_is(verb, nv, "edited") ? "edited"
                     : str_is(verb, nv, "remove") ? "remove"
                     : str_is(verb, nv, "hide")   ? "hide"
                                                  : NULL;
    if (vb == NULL) return 0;
    if ((k = id_of(v[V_COMMENT_ID], true, id)) <= 0) return k;
    int64_t t = time_of(v[V_CREATED_TIME]);
    if (t == -2) return -1;
    if (t < 0) t = c->entry_time;
    if (t == -2) return -1;
    if (t < 0) return 0;
    c->kind = META_COMMENT;
    snprintf(c->dedup, sizeof c->dedup, "comment:%s:%s:%lld", id, vb, (long long)t);
    return 1;
}

typedef struct walk {
    const doc *d;
    bool instagram;
    meta_change_fn fn;
    void *arg;
    int found;
    size_t seen;
} walk;

static const want ENTRY_KEYS[] = {{"id", 2}, {"time", 4}, {"changes", 7}};

/* One entry (the object's members ENTRY_KEYS in f) as meta_payload_walk
 * reads it. */
static int walk_entry(walk *w, const span *f)
{
    meta_change c;
    memset(&c, 0, sizeof c);
    int k = id_of(f[0], false, c.owner);
    if (k < 0) return W_UNSURE;
    if (k == 0) return W_GO;
    c.instagram = w->instagram;
    /* -2 (a real, an escape) is unsure only once it is used. */
    c.entry_time = time_of(f[1]);
    if (f[2].b == NULL || *f[2].b != '[') return W_GO;
    const doc *d = w->d;
    const uint8_t *end = d->end, *p = ws(f[2].b + 1, end);
    if (*p == ']') return W_GO;
    for (;;) {
        if (w->seen++ >= META_MAX_CHANGES) return W_STOP;
        span cf[2] = {{NULL, NULL}, {NULL, NULL}};
        const uint8_t *next;
        if (*p == '{') {
            if ((next = members(d, p, CHANGE_KEYS, 2, cf)) == NULL) return W_UNSURE;
        } else {
            next = skip_value(d, p);
        }
        k = classify_scan(d, w->instagram, cf[0], cf[1], &c);
        if (k < 0) return W_UNSURE;
        if (k > 0) {
            if (c.entry_time == -2) return W_UNSURE;
            w->found++;
            if (w->fn != NULL && w->fn(w->arg, &c) != 0) return W_STOP;
        }
        p = ws(next, end);
        if (*p == ']') return W_GO;
        p = ws(p + 1, end);
    }
}

static void doc_init(doc *d, const uint8_t *end)
{
    d->object.b = d->entry.b = NULL;
    d->end = end;
    d->nmarks = 0;
}

/* Pass 1 over [b, b + len) into r: META_SCAN_OK, _INVALID or _UNSURE. */
static int doc_check(doc *r, const uint8_t *b, size_t len)
{
    doc_init(r, b + len);
    bool unsure = false;
    int rc = validate(b, len, r, &unsure);
    return rc == META_SCAN_OK && unsure ? META_SCAN_UNSURE : rc;
}

int meta_payload_scan(const uint8_t *body, size_t len, meta_change_fn fn, void *arg,
                      int *found)
{
    doc r;
    *found = 0;
    int rc = doc_check(&r, body, len);
    if (rc != META_SCAN_OK) return rc;
    const uint8_t *o;
    size_t on;
    int k = str_of(r.object, &o, &on);
    if (k < 0) return META_SCAN_UNSURE;
    walk w = {&r, false, fn, arg, 0, 0};
    if (k > 0 && str_is(o, on, "page")) {
        w.instagram = false;
    } else if (k > 0 && str_is(o, on, "instagram")) {
        w.instagram = true;
    } else {
        *found = -1;
        return META_SCAN_OK;
    }
    if (r.entry.b == NULL || *r.entry.b != '[') return META_SCAN_OK;
    const uint8_t *end = r.end, *p = ws(r.entry.b + 1, end);
    if (*p != ']') {
        for (size_t i = 0; i < META_MAX_ENTRIES; i++) {
            const uint8_t *next;
            int st = W_GO;
            if (*p == '{') {
                span f[3];
                if ((next = members(&r, p, ENTRY_KEYS, 3, f)) == NULL) return META_SCAN_UNSURE;
                st = walk_entry(&w, f);
            } else {
                next = skip_value(&r, p);
            }
            if (st == W_UNSURE) return META_SCAN_UNSURE;
            if (st == W_STOP) break;
            p = ws(next, end);
            if (*p == ']') break;
            p = ws(p + 1, end);
        }
    }
    *found = w.found;
    return META_SCAN_OK;
}

int meta_json_check(const uint8_t *b, size_t len)
{
    doc r;
    return doc_check(&r, b, len);
}

int meta_scan_id_of(const uint8_t *b, const uint8_t *e, bool compound, meta_id out)
{
    return id_of((span){b, e}, compound, out);
}

int64_t meta_scan_time_of(const uint8_t *b, const uint8_t *e) { return time_of((span){b, e}); }

static const want HINT_KEYS[] = {{"form_id", 7}, {"ad_id", 5}, {"adset_id", 8},
                                 {"campaign_id", 11}, {"created_time", 12}};

bool meta_scan_hint(const uint8_t *b, const uint8_t *e, meta_hint *h)
{
    /* A value of a body pass 1 proved: no marks, so skip_value reads
     * nested containers through (values are small). */
    doc d;
    doc_init(&d, e);
    span v[META_HINT_IDS + 1];
    memset(h, 0, sizeof *h);
    if (b == NULL || b == e || *b != '{' || members(&d, b, HINT_KEYS, META_HINT_IDS + 1, v) == NULL)
        return false; /* an escaped key might decode to one of those */
    for (int i = 0; i < META_HINT_IDS; i++) {
        int k = id_of(v[i], false, h->id[i]);
        if (k < 0) return false;
        h->has[i] = k == 1;
    }
    h->created_time = time_of(v[META_HINT_IDS]);
    return h->created_time != -2;
}
