/* ingress_headers.c -- request headers for webhook_verify (all of them,
 * names lower-cased, as the SDK promises) and the bounded subset kept with
 * a stored event. */
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

/* JSON string body of s (no quotes) into out; returns the length, or
 * (size_t)-1 when it does not fit. Bytes >= 0x80 are escaped as \u00XX
 * (read as Latin-1): header values are not promised to be UTF-8, and the
 * stored object must stay valid JSON. */
static size_t escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            if (j + 2 > cap) return (size_t)-1;
            out[j++] = '\\';
            out[j++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            if (j + 6 > cap) return (size_t)-1;
            out[j++] = '\\';
            out[j++] = 'u';
            out[j++] = '0';
            out[j++] = '0';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        } else {
            if (j + 1 > cap) return (size_t)-1;
            out[j++] = (char)c;
        }
    }
    return j;
}

void ing_kept_headers_json(ch_ingress *ing)
{
    char *o = ing->hjson;
    const size_t cap = CH_INGRESS_KEEP_BYTES;
    size_t len = 1, nkept = 0;
    o[0] = '{';
    for (size_t i = 0; i < ing->nhv && nkept < CH_INGRESS_KEEP_HEADERS; i++) {
        if (!kept(ing->hv[i].name) || secret_bearing(ing->hv[i].name)) continue;
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
