/* meta_lead_src.c -- a lead read by the record writer either from its
 * Jansson tree or from its bytes (meta.h, "meta_lead_src.c").
 *
 * Leads read ahead in a batch answer (meta_batch_scan.c) used to be parsed
 * with json_loadb into a tree only for meta_lead_record to read a dozen
 * members of it (perf: 8 % of c360d's samples, mostly malloc). They are
 * now kept as bytes that meta_json_check proved Jansson accepts, and read
 * here on demand: the root's members are indexed once (keys there carry
 * no escape: meta_json_check is unsure of a root key with one), arrays
 * and nested objects are walked as they are read, strings are decoded by
 * meta_batch_scan.c's decoder (Jansson's rules) into a stack arena, and
 * ids, times and integers go through meta_scan.c's readers of proven
 * values. Duplicate keys: the last one counts, as json_object_get of
 * Jansson's tree gives (json_object_set replaces).
 *
 * Whatever is not matched exactly here (a real's value: strtod's rounding
 * is Jansson's business; an escaped id, time or nested key; more root
 * members than indexed; strings past the arena) sets `unsure`: the writer
 * then starts again from json_loadb's tree (meta_lead_fallback). Graph's
 * leads (bench/lead_graph.c, tests/fakes/fake_graph.c) never need that. */
#include <stdio.h>
#include <string.h>

#include "meta.h"

void meta_lead_of_tree(meta_lead *L, const json_t *lead)
{
    L->tree = lead;
    L->b = L->end = L->rb = NULL;
    L->parsed = NULL;
    L->nroot = 0;
    L->used = 0;
    L->unsure = false;
}

bool meta_lead_of_bytes(meta_lead *L, const uint8_t *b, size_t len)
{
    meta_lead_of_tree(L, NULL);
    L->b = b;
    L->end = b + len;
    const uint8_t *p = meta_jb_ws(b, L->end);
    L->rb = p;
    if (p == L->end || *p != '{') {
        L->unsure = true;
        return false;
    }
    p = meta_jb_ws(p + 1, L->end);
    while (*p != '}') {
        if (L->nroot == META_LEAD_ROOT_MAX) {
            L->unsure = true;
            return false;
        }
        const uint8_t *k = p;
        p = meta_jb_skip(p, L->end);
        L->root[L->nroot].k = k + 1;
        L->root[L->nroot].kl = (size_t)(p - k - 2);
        p = meta_jb_ws(meta_jb_ws(p, L->end) + 1, L->end); /* the ':' */
        L->root[L->nroot].vb = p;
        p = meta_jb_skip(p, L->end);
        L->root[L->nroot].ve = p;
        L->nroot++;
        p = meta_jb_ws(p, L->end);
        if (*p == ',') p = meta_jb_ws(p + 1, L->end);
    }
    return true;
}

bool meta_lead_fallback(meta_lead *L)
{
    json_t *j = json_loadb((const char *)L->b, (size_t)(L->end - L->b), 0, NULL);
    if (j == NULL) return false;
    meta_lead_of_tree(L, j);
    L->parsed = j;
    return true;
}

void meta_lead_done(meta_lead *L)
{
    json_decref(L->parsed);
    L->parsed = NULL;
}

meta_lv meta_lead_root(const meta_lead *L)
{
    if (L->tree != NULL) return (meta_lv){L->tree, NULL, NULL};
    return (meta_lv){NULL, L->rb != L->end ? L->rb : NULL, L->end};
}

meta_lv meta_lead_get(meta_lead *L, meta_lv obj, const char *key)
{
    meta_lv none = {NULL, NULL, NULL};
    if (L->tree != NULL) {
        none.j = json_object_get(obj.j, key);
        return none;
    }
    if (obj.b == NULL || *obj.b != '{') return none;
    size_t kl = strlen(key);
    if (obj.b == L->rb) {
        /* The root: indexed; the last duplicate counts. */
        for (size_t i = L->nroot; i-- > 0;)
            if (L->root[i].kl == kl && memcmp(L->root[i].k, key, kl) == 0)
                return (meta_lv){NULL, L->root[i].vb, L->root[i].ve};
        return none;
    }
    const uint8_t *p = meta_jb_ws(obj.b + 1, L->end);
    while (*p != '}') {
        const uint8_t *k = p;
        p = meta_jb_skip(p, L->end);
        size_t n = (size_t)(p - k - 2);
        if (memchr(k + 1, '\\', n) != NULL) {
            /* It might decode to key: Jansson's tree knows. */
            L->unsure = true;
            return (meta_lv){NULL, NULL, NULL};
        }
        p = meta_jb_ws(meta_jb_ws(p, L->end) + 1, L->end);
        const uint8_t *v = p;
        p = meta_jb_skip(p, L->end);
        if (n == kl && memcmp(k + 1, key, kl) == 0) none = (meta_lv){NULL, v, p};
        p = meta_jb_ws(p, L->end);
        if (*p == ',') p = meta_jb_ws(p + 1, L->end);
    }
    return none;
}

int meta_lead_type(meta_lv v)
{
    if (v.j != NULL) return (int)json_typeof(v.j);
    if (v.b == NULL) return -1;
    switch (*v.b) {
    case '"': return JSON_STRING;
    case '{': return JSON_OBJECT;
    case '[': return JSON_ARRAY;
    case 't': return JSON_TRUE;
    case 'f': return JSON_FALSE;
    case 'n': return JSON_NULL;
    default:
        /* Jansson's rule: '.', 'e' or 'E' makes a real. */
        for (const uint8_t *p = v.b; p < v.e; p++)
            if (*p == '.' || *p == 'e' || *p == 'E') return JSON_REAL;
        return JSON_INTEGER;
    }
}

meta_lv_it meta_lead_iter(meta_lv arr)
{
    meta_lv_it it = {arr, 0, NULL};
    if (arr.b != NULL && *arr.b == '[') it.p = arr.b + 1;
    return it;
}

bool meta_lead_next(meta_lead *L, meta_lv_it *it, meta_lv *out)
{
    if (L->tree != NULL) {
        if (!json_is_array(it->a.j) || it->i >= json_array_size(it->a.j)) return false;
        *out = (meta_lv){json_array_get(it->a.j, it->i++), NULL, NULL};
        return true;
    }
    if (it->p == NULL) return false;
    const uint8_t *p = meta_jb_ws(it->p, L->end);
    if (*p == ',') p = meta_jb_ws(p + 1, L->end);
    if (*p == ']') {
        it->p = NULL;
        return false;
    }
    it->p = meta_jb_skip(p, L->end);
    *out = (meta_lv){NULL, p, it->p};
    it->i++;
    return true;
}

const char *meta_lead_str(meta_lead *L, meta_lv v, size_t *n)
{
    if (L->tree != NULL) {
        if (!json_is_string(v.j)) return NULL;
        *n = json_string_length(v.j);
        return json_string_value(v.j);
    }
    if (v.b == NULL || *v.b != '"') return NULL;
    /* Decoded, no longer than escaped; its NUL after it. */
    size_t raw = (size_t)(v.e - v.b - 2);
    if (raw >= sizeof L->arena - L->used) {
        L->unsure = true;
        return NULL;
    }
    char *s = L->arena + L->used;
    *n = memchr(v.b + 1, '\\', raw) != NULL ? meta_jb_decode(v.b, v.e, s)
                                            : (memcpy(s, v.b + 1, raw), raw);
    s[*n] = '\0';
    L->used += *n + 1;
    return s;
}

bool meta_lead_num_text(meta_lead *L, meta_lv v, char buf[64])
{
    int t = meta_lead_type(v);
    if (t != JSON_INTEGER && t != JSON_REAL) return false;
    if (L->tree != NULL) {
        if (t == JSON_INTEGER)
            snprintf(buf, 64, "%lld", (long long)json_integer_value(v.j));
        else
            snprintf(buf, 64, "%.17g", json_real_value(v.j));
        return true;
    }
    if (t == JSON_REAL || v.e - v.b > 20) {
        /* strtod's value is Jansson's to give (and an integer is at most
         * 20 bytes: meta_json_check proved it fits json_int_t). */
        L->unsure = true;
        return false;
    }
    /* A proven integer has no leading zero: "%lld" prints its digits,
     * except that "-0" is 0. */
    size_t n = (size_t)(v.e - v.b);
    if (n == 2 && v.b[0] == '-' && v.b[1] == '0') n = 1, v.b++;
    memcpy(buf, v.b, n);
    buf[n] = '\0';
    return true;
}

bool meta_lead_id(meta_lead *L, meta_lv v, bool compound, meta_id out)
{
    if (L->tree != NULL) return meta_id_from_json(v.j, compound, out);
    if (v.b == NULL) {
        out[0] = '\0';
        return false;
    }
    int k = meta_scan_id_of(v.b, v.e, compound, out);
    if (k < 0) L->unsure = true;
    return k == 1;
}

int64_t meta_lead_time(meta_lead *L, meta_lv v)
{
    if (L->tree != NULL) return meta_time_from_json(v.j);
    if (v.b == NULL) return -1;
    int64_t t = meta_scan_time_of(v.b, v.e);
    if (t == -2) {
        L->unsure = true;
        return -1;
    }
    return t;
}
