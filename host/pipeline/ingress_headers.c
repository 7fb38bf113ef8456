/* ingress_headers.c -- request headers for webhook_verify (all of them,
 * names lower-cased, as the SDK promises) and the bounded subset kept with
 * a stored event. */
#include <stdint.h>
#include <string.h>

#include "ingress_int.h"
#include "util.h"

typedef struct hscan {
    ch_ingress *ing;
    size_t count;
    size_t used;         /* bytes of the name arena */
} hscan;

static int on_header(const char *name, const char *value, void *arg)
{
    hscan *h = arg;
    ch_ingress *ing = h->ing;
    if (++h->count > CH_INGRESS_MAX_HEADERS) return 1;
    size_t n = strlen(name);
    if (h->used + n + 1 > ing->names_cap) {
        ing->names_cap = (h->used + n + 1) * 2;
        ing->names = ch_realloc(ing->names, ing->names_cap);
    }
    char *dst = ing->names + h->used;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    dst[n] = '\0';
    /* The arena may still move while it grows: offsets now, pointers
     * once the pass is over. */
    ing->name_off[ing->nhv] = h->used;
    ing->hv[ing->nhv].value = value;
    ing->nhv++;
    h->used += n + 1;
    return 0;
}

int ing_collect_headers(ch_ingress *ing, const ch_req *req)
{
    hscan h = {.ing = ing};
    ing->nhv = 0;
    /* One pass over evhttp's list; the arena is reused by every request,
     * so it stops growing once it fits the largest header block seen. */
    ch_req_headers_foreach(req, on_header, &h);
    if (h.count > CH_INGRESS_MAX_HEADERS) return -1;
    for (size_t i = 0; i < ing->nhv; i++) ing->hv[i].name = ing->names + ing->name_off[i];
    return 0;
}

static int kept(const char *name)
{
    return strcmp(name, "content-type") == 0 || strcmp(name, "user-agent") == 0 ||
           strncmp(name, "x-", 2) == 0 || strncmp(name, "webhook-", 8) == 0;
}

/* Headers that carry a shared secret in clear (X-Gitlab-Token, X-Api-Key,
 * X-Auth-Token, ...) are verified on arrival and never stored: stored
 * headers come back in dead letters, replays and data-subject exports,
 * which tenant viewers may read. Signatures (HMAC outputs) are kept. */
static int secret_bearing(const char *name)
{
    static const char *const words[] = {"token", "secret", "key", "auth", "password",
                                        "passwd", "cookie", "credential", "session"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(name, words[i])) return 1;
    return 0;
}

/* kept() and not secret_bearing(), through the memo: a hit costs one
 * pass over the name (its hash) and a memcmp. */
static int keep_name(ch_ingress *ing, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t n = 0;
    for (; name[n]; n++) h = (h ^ (unsigned char)name[n]) * 16777619u;
    /* Two slots per name, so that two names of one request that share a
     * slot do not evict each other on every request. */
    ing_memo *m = &ing->memo[h % CH_INGRESS_MEMO];
    ing_memo *m2 = &ing->memo[(h + 1) % CH_INGRESS_MEMO];
    if (m->len == n && m->hash == h && memcmp(m->name, name, n) == 0) return m->keep;
    if (m2->len == n && m2->hash == h && memcmp(m2->name, name, n) == 0) return m2->keep;
    int keep = kept(name) && !secret_bearing(name);
    if (n && n <= CH_INGRESS_MEMO_NAME) {
        if (m->len && !m2->len) m = m2;
        m->hash = h;
        m->len = (uint8_t)n;
        m->keep = (uint8_t)keep;
        memcpy(m->name, name, n);
        m->name[n] = '\0';
    }
    return keep;
}

/* 1 for the bytes a JSON string holds as they are: printable ASCII but
 * the quote and the backslash (NUL is 0: it ends a run). */
static const unsigned char k_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* JSON string body of s (no quotes) into out; returns the length, or
 * (size_t)-1 when it does not fit. Bytes >= 0x80 are escaped as \u00XX
 * (read as Latin-1): header values are not promised to be UTF-8, and the
 * stored object must stay valid JSON. Runs of bytes that need no escape
 * (nearly all of a header) are copied whole. */
static size_t escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (;;) {
        const unsigned char *q = p;
        while (k_plain[*q]) q++;
        size_t run = (size_t)(q - p);
        if (run) {
            if (run > cap - j) return (size_t)-1;
            memcpy(out + j, p, run);
            j += run;
        }
        unsigned char c = *q;
        if (!c) return j;
        if (c == '"' || c == '\\') {
            if (j + 2 > cap) return (size_t)-1;
            out[j++] = '\\';
            out[j++] = (char)c;
        } else {
            if (j + 6 > cap) return (size_t)-1;
            out[j++] = '\\';
            out[j++] = 'u';
            out[j++] = '0';
            out[j++] = '0';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
        p = q + 1;
    }
}

void ing_kept_headers_json(ch_ingress *ing)
{
    char *o = ing->hjson;
    const size_t cap = CH_INGRESS_KEEP_BYTES;
    size_t len = 1, nkept = 0;
    o[0] = '{';
    for (size_t i = 0; i < ing->nhv && nkept < CH_INGRESS_KEEP_HEADERS; i++) {
        if (!keep_name(ing, ing->hv[i].name)) continue;
        /* "name":"value" plus a comma and the closing brace must fit;
         * a header that does not is left out whole. */
        size_t start = len;
        size_t room = cap - len;
        if (room < 8) break;
        char *p = o + len;
        size_t k = 0;
        if (nkept) p[k++] = ',';
        p[k++] = '"';
        size_t e = escape(p + k, room - k - 4, ing->hv[i].name);
        if (e == (size_t)-1) { len = start; continue; }
        k += e;
        p[k++] = '"';
        p[k++] = ':';
        p[k++] = '"';
        if (k + 2 > room) { len = start; continue; }
        e = escape(p + k, room - k - 2, ing->hv[i].value);
        if (e == (size_t)-1) { len = start; continue; }
        k += e;
        p[k++] = '"';
        len += k;
        nkept++;
    }
    o[len++] = '}';
    o[len] = '\0';
    ing->hjson_len = len;
}
