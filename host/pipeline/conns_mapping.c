/* conns_mapping.c -- see conns_mapping.h. */
#include "conns_mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(json_t *details, const char *prefix, const char *target, const char *suffix,
                const char *msg)
{
    /* The target as one JSON Pointer segment (~ and / escaped), bounded. */
    char seg[2 * CH_MAPPING_TARGET_MAX + 1];
    size_t j = 0;
    for (const char *p = target; *p && j + 2 < sizeof seg && p - target < CH_MAPPING_TARGET_MAX;
         p++) {
        if (*p == '~' || *p == '/') {
            seg[j++] = '~';
            seg[j++] = *p == '~' ? '0' : '1';
        } else {
            seg[j++] = (unsigned char)*p < 0x20 ? '?' : *p;
        }
    }
    seg[j] = '\0';
    char path[sizeof seg + 64];
    snprintf(path, sizeof path, "%s/%s%s", prefix, seg, suffix);
    json_t *s = json_string(path);
    if (!s) s = json_string(prefix); /* cut inside a UTF-8 sequence */
    json_array_append_new(details, json_pack("{s:o, s:s}", "path", s, "message", msg));
}

static int target_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > CH_MAPPING_TARGET_MAX || t[0] == '.' || t[n - 1] == '.' || strstr(t, ".."))
        return 0;
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

static int pointer_ok(const char *p, size_t len)
{
    if (len > CH_MAPPING_POINTER_MAX || strlen(p) != len) return 0;
    if (len && p[0] != '/') return 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '~' && (i + 1 >= len || (p[i + 1] != '0' && p[i + 1] != '1'))) return 0;
    return 1;
}

/* "a" is a prefix target of "a.b": a value and an object at once. */
static int prefix_of(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && b[n] == '.';
}

size_t ch_mapping_check(const json_t *m, const char *prefix, json_t *details)
{
    size_t before = json_array_size(details);
    if (!json_is_object(m)) {
        json_array_append_new(details, json_pack("{s:s, s:s}", "path", prefix, "message",
                                                 "must be an object of target -> rule"));
        return 1;
    }
    if (json_object_size(m) > CH_MAPPING_TARGETS_MAX) {
        json_array_append_new(details, json_pack("{s:s, s:s}", "path", prefix, "message",
                                                 "has more than 200 targets"));
        return 1;
    }
    const char *t;
    json_t *rule;
    json_object_foreach((json_t *)m, t, rule) {
        if (!target_ok(t)) {
            add(details, prefix, t, "",
                "target must be 1..200 bytes, dotted segments, no control characters");
            continue;
        }
        const char *t2;
        json_t *r2;
        json_object_foreach((json_t *)m, t2, r2) {
            (void)r2;
            if (prefix_of(t, t2)) {
                add(details, prefix, t, "", "is also the parent of another target");
                break;
            }
        }
        if (!json_is_object(rule) || json_object_size(rule) != 1) {
            add(details, prefix, t, "", "must be {\"from\": \"/pointer\"} or {\"const\": value}");
            continue;
        }
        json_t *from = json_object_get(rule, "from");
        if (from) {
            if (!json_is_string(from) ||
                !pointer_ok(json_string_value(from), json_string_length(from)))
                add(details, prefix, t, "/from",
                    "must be a JSON Pointer (\"\" or starting with '/', ~0 ~1 escapes, <= 1024 "
                    "bytes)");
        } else if (!json_object_get(rule, "const")) {
            add(details, prefix, t, "", "must be {\"from\": \"/pointer\"} or {\"const\": value}");
        }
    }
    return json_array_size(details) - before;
}

/* RFC 6901 over jansson values. */
static const json_t *resolve(const json_t *doc, const char *p)
{
    const json_t *cur = doc;
    char seg[CH_MAPPING_POINTER_MAX + 1];
    while (*p == '/' && cur) {
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~') {
                c = *p == '1' ? '/' : '~';
                if (*p) p++;
            }
            seg[n++] = c;
        }
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            cur = n && !*end && (n == 1 || seg[0] != '0') ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

/* Sets out[a][b][c] = v for target "a.b.c" (v stolen). */
static void set_path(json_t *out, const char *target, json_t *v)
{
    char buf[CH_MAPPING_TARGET_MAX + 1];
    snprintf(buf, sizeof buf, "%s", target);
    json_t *cur = out;
    char *seg = buf;
    for (char *dot; (dot = strchr(seg, '.')); seg = dot + 1) {
        *dot = '\0';
        json_t *next = json_object_get(cur, seg);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, seg, next);
        }
        cur = next;
    }
    json_object_set_new(cur, seg, v);
}

json_t *ch_mapping_apply(const json_t *mapping, const json_t *record)
{
    if (!json_is_object(record)) return NULL;
    json_t *details = json_array();
    size_t bad = ch_mapping_check(mapping, "", details);
    json_decref(details);
    if (bad) return NULL;
    json_t *out = json_object();
    const char *t;
    json_t *rule;
    json_object_foreach((json_t *)mapping, t, rule) {
        json_t *from = json_object_get(rule, "from");
        const json_t *v = from ? resolve(record, json_string_value(from))
                               : json_object_get(rule, "const");
        if (v) set_path(out, t, json_deep_copy(v));
    }
    return out;
}
