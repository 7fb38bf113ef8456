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
    return c360kit_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
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

void meta_date(int64_t t, char out[11])
{
    int y, m, d;
    c360kit_civil_from_days(t >= 0 ? t / 86400 : (t - 86399) / 86400, &y, &m, &d);
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

int64_t meta_date_parse(const char *s)
{
    int y, m, d;
    if (s == NULL || strlen(s) != 10 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &m) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    return c360kit_days_from_civil(y, m, d) * 86400;
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
