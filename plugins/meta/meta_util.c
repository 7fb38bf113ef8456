/* meta_util.c -- small pure helpers of the meta plugin: ids, times, query
 * strings, hex, excerpts. Everything here is bounded and never trusts its
 * input: webhook bodies and Graph answers come through these. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

bool meta_id_valid(const char *s, bool compound)
{
    size_t n = 0;
    if (s == NULL) return false;
    for (; s[n] != '\0'; n++) {
        if (n >= META_ID_MAX) return false;
        char ch = s[n];
        if (!(ch >= '0' && ch <= '9') && !(compound && ch == '_')) return false;
    }
    /* A compound id is digits on both sides of each '_'. */
    return n > 0 && (!compound || (s[0] != '_' && s[n - 1] != '_'));
}

bool meta_id_from_json(const json_t *v, bool compound, meta_id out)
{
    out[0] = '\0';
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (json_string_length(v) > META_ID_MAX || !meta_id_valid(s, compound))
            return false;
        memcpy(out, s, json_string_length(v) + 1);
        return true;
    }
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) return false;
        snprintf(out, sizeof(meta_id), "%lld", (long long)i);
        return true;
    }
    if (json_is_real(v)) {
        /* A very large id may have been written as a float by a sender's
         * JSON library: accept it only if it is exact. */
        double d = json_real_value(v);
        if (!(d >= 0 && d < 9007199254740992.0) || floor(d) != d) return false;
        snprintf(out, sizeof(meta_id), "%.0f", d);
        return true;
    }
    return false;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01, proleptic
     * Gregorian, no time zone or locale involved. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp + (mp < 10 ? 3 : -9);
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int64_t meta_time_parse(const char *s)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (s == NULL || strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (strlen(p) < 9 || !digits(p + 1, 2, &h) || p[3] != ':' ||
            !digits(p + 4, 2, &mi) || p[6] != ':' || !digits(p + 7, 2, &se))
            return -1;
        p += 9;
        if (*p == '.') /* fractions of a second: dropped */
            for (p++; *p >= '0' && *p <= '9'; p++) {}
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(p, 2, &oh)) return -1;
        p += 2;
        if (*p == ':') p++;
        if (!digits(p, 2, &om)) return -1;
        p += 2;
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || se > 60 || y < 1970)
        return -1;
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
}

int64_t meta_time_from_json(const json_t *v)
{
    /* Bounded (META_TIME_MAX): a record's created_at_ms is seconds * 1000. */
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 && json_integer_value(v) <= META_TIME_MAX
                   ? (int64_t)json_integer_value(v) : -1;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d >= 0 && d <= (double)META_TIME_MAX ? (int64_t)d : -1;
    }
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int64_t t = -1;
    if (n > 0 && n <= 12 && strspn(s, "0123456789") == n)
        t = strtoll(s, NULL, 10);
    else if (n <= 40)
        t = meta_time_parse(s);
    return t <= META_TIME_MAX ? t : -1;
}

void meta_rfc3339(int64_t t, char out[32])
{
    int y, m, d;
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t rem = t - days * 86400;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

void meta_date(int64_t t, char out[11])
{
    int y, m, d;
    civil_from_days(t >= 0 ? t / 86400 : (t - 86399) / 86400, &y, &m, &d);
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

int64_t meta_date_parse(const char *s)
{
    int y, m, d;
    if (s == NULL || strlen(s) != 10 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &m) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    return days_from_civil(y, m, d) * 86400;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool meta_query_get(const char *query, const char *name, char *out,
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
                    int hi = hexval(c[1]), lo = hexval(c[2]);
                    if (hi < 0 || lo < 0) return false;
                    ch = hi * 16 + lo;
                    c += 2;
                }
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

bool meta_urlenc_cat(char *out, size_t cap, const char *s)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t start = strlen(out), n = start;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' ||
                     *c == '_' || *c == '~';
        if (n + (plain ? 1 : 3) >= cap) {
            out[start] = '\0';
            return false;
        }
        if (plain) {
            out[n++] = (char)*c;
        } else {
            out[n++] = '%';
            out[n++] = hx[*c >> 4];
            out[n++] = hx[*c & 15];
        }
    }
    out[n] = '\0';
    return true;
}

void meta_hex(const uint8_t *bin, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[bin[i] >> 4];
        out[2 * i + 1] = hx[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

bool meta_hex_decode(const char *s, size_t hexlen, uint8_t *out)
{
    if (hexlen % 2 != 0) return false;
    for (size_t i = 0; i < hexlen / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

void meta_excerpt(const char *in, const char *cut, char *out, size_t cap)
{
    size_t n = 0, cutlen = cut != NULL ? strlen(cut) : 0;
    if (cap == 0) return;
    for (const char *p = in != NULL ? in : ""; *p != '\0' && n + 1 < cap;) {
        if (cutlen >= 8 && strncmp(p, cut, cutlen) == 0) {
            p += cutlen;
            continue;
        }
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

const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void meta_key(char *buf, size_t cap, const char *prefix, const char *id)
{
    snprintf(buf, cap, "%s%s", prefix, id);
}

/* ---- secrets as text -------------------------------------------------- */

static bool blank(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

size_t meta_trim(uint8_t *v, size_t len)
{
    size_t a = 0;
    while (len > 0 && blank(v[len - 1])) len--;
    while (a < len && blank(v[a])) a++;
    if (a > 0) memmove(v, v + a, len - a);
    len -= a;
    v[len] = '\0';
    return len;
}

/* ---- pending state writes --------------------------------------------- */

static meta_pend_item *pend_slot(meta_pend *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, key) == 0) {
            free(p->v[i].val);
            p->v[i].val = NULL;
            return &p->v[i];
        }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        meta_pend_item *v = realloc(p->v, cap * sizeof *v);
        if (v == NULL) return NULL;
        p->v = v;
        p->cap = cap;
    }
    meta_pend_item *it = &p->v[p->n];
    it->key = strdup(key);
    it->val = NULL;
    if (it->key == NULL) return NULL;
    p->n++;
    return it;
}

bool meta_pend_set(meta_pend *p, const char *key, const char *val, size_t len,
                   uint32_t ttl_ms)
{
    meta_pend_item *it = pend_slot(p, key);
    if (it == NULL) return false;
    it->val = malloc(len + 1);
    if (it->val == NULL) return false; /* stays a delete: harmless */
    memcpy(it->val, val, len);
    it->val[len] = '\0';
    it->len = len;
    it->ttl_ms = ttl_ms;
    return true;
}

bool meta_pend_del(meta_pend *p, const char *key)
{
    meta_pend_item *it = pend_slot(p, key);
    if (it == NULL) return false;
    it->len = 0;
    it->ttl_ms = 0;
    return true;
}

bool meta_pend_has(const meta_pend *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].val != NULL && strcmp(p->v[i].key, key) == 0) return true;
    return false;
}

void meta_pend_free(meta_pend *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].val);
    }
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}
