/* tp_util.h -- small helpers shared by the pipeline test plugins (tsrc,
 * tdst, tnop). Header-only (static functions) so that each plugin stays one
 * .so with nothing shared at run time.
 *
 * The JSON scanner exists because webhook_verify and webhook_route run on the
 * host's event loop, which serves every tenant's webhooks: they must not
 * block, and they are on the ingress benchmark's hot path, where a full
 * parse with allocation (Jansson) per request would be measurable. It reads
 * one top-level string member of an object without allocating, bounded in
 * nesting; it is no validator (the worker-side event callback parses the
 * body properly with Jansson). */
#ifndef TP_UTIL_H
#define TP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"

#define TP_JSON_MAX_DEPTH 32

typedef struct tp_scan {
    const unsigned char *p, *end;
} tp_scan;

static inline void tp_ws(tp_scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Skips a string starting at '"'. Sets *start and *len to its raw contents and
 * *escaped when it holds a backslash. */
static inline bool tp_skip_string(tp_scan *s, const unsigned char **start,
                           size_t *len, bool *escaped)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    s->p++;
    const unsigned char *b = s->p;
    bool esc = false;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\') {
            esc = true;
            s->p++;
            if (s->p >= s->end)
                return false;
        }
        s->p++;
    }
    if (s->p >= s->end)
        return false;
    if (start)
        *start = b;
    if (len)
        *len = (size_t)(s->p - b);
    if (escaped)
        *escaped = esc;
    s->p++;
    return true;
}

/* Skips one value of any kind; nesting deeper than TP_JSON_MAX_DEPTH is
 * refused so a hostile body cannot make the scan costly in any dimension
 * but its (host-bounded) length. */
static inline bool tp_skip_value(tp_scan *s)
{
    tp_ws(s);
    if (s->p >= s->end)
        return false;
    if (*s->p == '"')
        return tp_skip_string(s, NULL, NULL, NULL);
    if (*s->p == '{' || *s->p == '[') {
        int depth = 0;
        while (s->p < s->end) {
            unsigned char c = *s->p;
            if (c == '"') {
                if (!tp_skip_string(s, NULL, NULL, NULL))
                    return false;
                continue;
            }
            if (c == '{' || c == '[') {
                if (++depth > TP_JSON_MAX_DEPTH)
                    return false;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    s->p++;
                    return true;
                }
            }
            s->p++;
        }
        return false;
    }
    /* number, true, false, null */
    const unsigned char *b = s->p;
    while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ']' &&
           *s->p != ' ' && *s->p != '\t' && *s->p != '\n' && *s->p != '\r')
        s->p++;
    return s->p > b;
}

/* Finds the top-level member `key` of the JSON object in body[0..len) and
 * copies its value into out (NUL-terminated) when it is a string without
 * escapes of at most cap-1 bytes. Returns 1 if copied, 0 if absent, -1 if
 * present but not such a string, or if the body is not a scannable object. */
static inline int tp_json_str(const uint8_t *body, size_t len, const char *key,
                       char *out, size_t cap)
{
    tp_scan s = {body, body + len};
    size_t klen = strlen(key);
    tp_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return -1;
    s.p++;
    for (;;) {
        tp_ws(&s);
        if (s.p < s.end && *s.p == '}')
            return 0;
        const unsigned char *k;
        size_t kl;
        bool kesc;
        if (!tp_skip_string(&s, &k, &kl, &kesc))
            return -1;
        tp_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return -1;
        s.p++;
        tp_ws(&s);
        if (!kesc && kl == klen && memcmp(k, key, klen) == 0) {
            const unsigned char *v;
            size_t vl;
            bool vesc;
            if (s.p >= s.end || *s.p != '"')
                return -1;
            if (!tp_skip_string(&s, &v, &vl, &vesc) || vesc || vl >= cap)
                return -1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        if (!tp_skip_value(&s))
            return -1;
        tp_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (s.p < s.end && *s.p == '}')
            return 0;
        return -1;
    }
}

/* Printable ASCII without space, as the host wants dedup and routing keys
 * (1..200 bytes). */
static inline bool tp_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 200)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= 0x20 || k[i] >= 0x7f)
            return false;
    return true;
}

static inline int tp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes exactly 2*n hex digits into out[n]; false on any other input. */
static inline bool tp_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = tp_hexval(hex[2 * i]), lo = tp_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* The value of `name` in a raw query string ("a=1&challenge=x"), not
 * decoded: *val points into query. */
static inline bool tp_query_param(const char *query, const char *name,
                           const char **val, size_t *val_len)
{
    size_t nlen = strlen(name);
    const char *s = query;
    while (s != NULL && *s != '\0') {
        const char *amp = strchr(s, '&');
        size_t len = amp != NULL ? (size_t)(amp - s) : strlen(s);
        if (len > nlen && strncmp(s, name, nlen) == 0 && s[nlen] == '=') {
            *val = s + nlen + 1;
            *val_len = len - nlen - 1;
            return true;
        }
        s = amp != NULL ? amp + 1 : NULL;
    }
    return false;
}

/* The value of header `name` (lower-case, as the host passes them). */
static inline const char *tp_header(const c360_header *h, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* One problem in a config: counted in *errors, and reported through
 * config_error at JSON pointer ptr when validating (call set). */
static inline void tp_config_bad(const c360_host_api *host, c360_call *call, int *errors,
                                 const char *ptr, const char *msg)
{
    (*errors)++;
    if (call != NULL)
        host->config_error(call, ptr, msg);
}

/* A member the schema does not know: additionalProperties:false, checked
 * here too, since a typo must not be ignored silently. */
static inline void tp_config_unknown(const c360_host_api *host, c360_call *call, int *errors,
                                     const char *key)
{
    char ptr[80];
    snprintf(ptr, sizeof ptr, "/%s", key);
    tp_config_bad(host, call, errors, ptr, "unknown setting");
}

static inline char *tp_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

#endif
