/* jsonschema.c -- see jsonschema.h: the checker of a schema (js_check) and
 * the validator of an instance (js_validate). The validator trusts nothing
 * the checker saw: every keyword it uses is type-checked again, and a
 * surprise marks the run "broken" instead of crashing. */
#include "jsonschema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_VISITED_MAX 1024

/* Without libm (c360core does not link it): what floor / round / fabs
 * would give for the magnitudes that matter here. Any double at or above
 * 2^53 is integral. */
static double js_abs(double d) { return d < 0 ? -d : d; }
static int js_integral(double d)
{
    if (!isfinite(d)) return 0;
    if (js_abs(d) >= 9007199254740992.0) return 1;
    return (double)(long long)d == d;
}
static double js_round(double d)
{
    if (js_abs(d) >= 9007199254740992.0) return d;
    return d >= 0 ? (double)(long long)(d + 0.5) : -(double)(long long)(-d + 0.5);
}

/* ---- shared helpers -------------------------------------------------------- */

static int js_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b)) return 0;
        for (size_t i = 0; i < n; i++)
            if (!js_equal(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            const json_t *w = json_object_get(b, k);
            if (!w || !js_equal(v, w)) return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static int is_integral(const json_t *j)
{
    if (json_is_integer(j)) return 1;
    if (!json_is_real(j)) return 0;
    return js_integral(json_real_value(j));
}

/* A non-negative integer keyword value (5 or 5.0). */
static int count_value(const json_t *j, size_t *out)
{
    if (!is_integral(j) || json_number_value(j) < 0 || json_number_value(j) > 1e15) return 0;
    *out = (size_t)json_number_value(j);
    return 1;
}

static const char *const k_types[] = {"null", "boolean", "object", "array",
                                      "number", "string", "integer"};

static int type_known(const char *t)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (strcmp(t, k_types[i]) == 0) return 1;
    return 0;
}

static int type_is(const char *t, const json_t *i)
{
    if (strcmp(t, "null") == 0) return json_is_null(i);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(i);
    if (strcmp(t, "object") == 0) return json_is_object(i);
    if (strcmp(t, "array") == 0) return json_is_array(i);
    if (strcmp(t, "string") == 0) return json_is_string(i);
    if (strcmp(t, "number") == 0) return json_is_number(i);
    if (strcmp(t, "integer") == 0) return is_integral(i);
    return 0;
}

static const char *type_name(const json_t *i)
{
    switch (json_typeof(i)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static size_t utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

/* Resolves a local $ref ("#" or "#/json/pointer") against root. */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
    if (!ref || ref[0] != '#') return NULL;
    const json_t *cur = root;
    const char *p = ref + 1;
    if (!*p) return root;
    if (*p != '/') return NULL;
    char seg[256];
    while (*p == '/' && cur) {
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~') {
                if (*p == '0') c = '~';
                else if (*p == '1') c = '/';
                else return NULL;
                p++;
            }
            if (n + 1 >= sizeof seg) return NULL;
            seg[n++] = c;
        }
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            if (!n || *end) return NULL;
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
    }
    return cur;
}

static int is_schema(const json_t *s) { return json_is_object(s) || json_is_boolean(s); }

/* Keywords this subset refuses rather than silently skipping them. */
static const char *const k_unsupported[] = {
    "prefixItems", "patternProperties", "propertyNames", "contains", "minContains",
    "maxContains", "if", "then", "else", "dependentRequired", "dependentSchemas",
    "dependencies", "unevaluatedItems", "unevaluatedProperties", "$dynamicRef",
    "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor", "additionalItems"};

static int unsupported(const char *k)
{
    for (size_t i = 0; i < sizeof k_unsupported / sizeof k_unsupported[0]; i++)
        if (strcmp(k, k_unsupported[i]) == 0) return 1;
    return 0;
}

/* ---- the schema checker ------------------------------------------------- */

typedef struct js_check_ctx {
    const json_t *root;
    char *err;
    size_t cap;
    int failed;
    const json_t *visited[REF_VISITED_MAX];
    size_t nvisited;
} js_check_ctx;

static void check_fail(js_check_ctx *c, const char *spath, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check_fail(js_check_ctx *c, const char *spath, const char *fmt, ...)
{
    if (c->failed) return;
    c->failed = 1;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->cap, "%s: %s", *spath ? spath : "(root)", msg);
}

static void check_schema(js_check_ctx *c, const json_t *s, const char *spath, int depth);

static void check_sub(js_check_ctx *c, const json_t *s, const char *spath, const char *kw,
                      const char *member, int depth)
{
    char p[CH_JS_PATH_MAX];
    if (member) snprintf(p, sizeof p, "%s/%s/%s", spath, kw, member);
    else snprintf(p, sizeof p, "%s/%s", spath, kw);
    check_schema(c, s, p, depth + 1);
}

static void check_schema_array(js_check_ctx *c, const json_t *v, const char *spath, const char *k,
                               int depth)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        check_fail(c, spath, "\"%s\" must be a non-empty array of schemas", k);
        return;
    }
    for (size_t i = 0; i < json_array_size(v) && !c->failed; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        check_sub(c, json_array_get(v, i), spath, k, idx, depth);
    }
}

static void check_keyword(js_check_ctx *c, const char *k, const json_t *v, const char *spath,
                          int depth)
{
    size_t n;
    if (unsupported(k)) {
        check_fail(c, spath, "keyword \"%s\" is not supported by this validator", k);
    } else if (strcmp(k, "type") == 0) {
        if (json_is_string(v)) {
            if (!type_known(json_string_value(v)))
                check_fail(c, spath, "unknown type \"%s\"", json_string_value(v));
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            for (size_t i = 0; i < json_array_size(v); i++) {
                const json_t *t = json_array_get(v, i);
                if (!json_is_string(t) || !type_known(json_string_value(t))) {
                    check_fail(c, spath, "\"type\" lists an unknown type");
                    break;
                }
            }
        } else {
            check_fail(c, spath, "\"type\" must be a type name or a non-empty array of them");
        }
    } else if (strcmp(k, "enum") == 0) {
        if (!json_is_array(v)) check_fail(c, spath, "\"enum\" must be an array");
    } else if (strcmp(k, "properties") == 0 || strcmp(k, "$defs") == 0 ||
               strcmp(k, "definitions") == 0) {
        if (!json_is_object(v)) {
            check_fail(c, spath, "\"%s\" must be an object of schemas", k);
            return;
        }
        const char *m;
        json_t *sub;
        json_object_foreach((json_t *)v, m, sub) {
            if (c->failed) break;
            check_sub(c, sub, spath, k, m, depth);
        }
    } else if (strcmp(k, "additionalProperties") == 0 || strcmp(k, "not") == 0) {
        check_sub(c, v, spath, k, NULL, depth);
    } else if (strcmp(k, "items") == 0) {
        if (json_is_array(v))
            check_fail(c, spath, "an array \"items\" (tuple) is not supported; use one schema");
        else check_sub(c, v, spath, k, NULL, depth);
    } else if (strcmp(k, "required") == 0) {
        if (!json_is_array(v)) {
            check_fail(c, spath, "\"required\" must be an array of strings");
            return;
        }
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i))) {
                check_fail(c, spath, "\"required\" must be an array of strings");
                break;
            }
    } else if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0 ||
               strcmp(k, "minItems") == 0 || strcmp(k, "maxItems") == 0 ||
               strcmp(k, "minProperties") == 0 || strcmp(k, "maxProperties") == 0) {
        if (!count_value(v, &n)) check_fail(c, spath, "\"%s\" must be a non-negative integer", k);
    } else if (strcmp(k, "pattern") == 0) {
        if (!json_is_string(v)) {
            check_fail(c, spath, "\"pattern\" must be a string");
            return;
        }
        regex_t re;
        int rc = regcomp(&re, json_string_value(v), REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &re, why, sizeof why);
            check_fail(c, spath, "\"pattern\" is not a POSIX extended regular expression (%s)", why);
            return;
        }
        regfree(&re);
    } else if (strcmp(k, "format") == 0) {
        if (!json_is_string(v)) check_fail(c, spath, "\"format\" must be a string");
    } else if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0 ||
               strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0) {
        if (!json_is_number(v)) check_fail(c, spath, "\"%s\" must be a number (draft 2020-12)", k);
    } else if (strcmp(k, "multipleOf") == 0) {
        if (!json_is_number(v) || !(json_number_value(v) > 0))
            check_fail(c, spath, "\"multipleOf\" must be a number above 0");
    } else if (strcmp(k, "uniqueItems") == 0) {
        if (!json_is_boolean(v)) check_fail(c, spath, "\"uniqueItems\" must be a boolean");
    } else if (strcmp(k, "allOf") == 0 || strcmp(k, "anyOf") == 0 || strcmp(k, "oneOf") == 0) {
        check_schema_array(c, v, spath, k, depth);
    } else if (strcmp(k, "$ref") == 0) {
        if (!json_is_string(v) || json_string_value(v)[0] != '#') {
            check_fail(c, spath, "only local \"$ref\" values (\"#/$defs/...\") are supported");
            return;
        }
        const json_t *t = resolve_ref(c->root, json_string_value(v));
        if (!t) {
            check_fail(c, spath, "\"$ref\" %s resolves to nothing", json_string_value(v));
            return;
        }
        for (size_t i = 0; i < c->nvisited; i++)
            if (c->visited[i] == t) return;
        if (c->nvisited == REF_VISITED_MAX) {
            check_fail(c, spath, "too many \"$ref\" targets");
            return;
        }
        c->visited[c->nvisited++] = t;
        char p[CH_JS_PATH_MAX];
        snprintf(p, sizeof p, "%s", json_string_value(v) + 1);
        check_schema(c, t, p, depth + 1);
    }
    /* const, default, title, description, examples, $schema, $id,
     * $comment, deprecated, readOnly, writeOnly and unknown keywords are
     * annotations. */
}

static void check_schema(js_check_ctx *c, const json_t *s, const char *spath, int depth)
{
    if (c->failed) return;
    if (depth > 2 * CH_JS_MAX_DEPTH) {
        check_fail(c, spath, "the schema nests more than %d levels", 2 * CH_JS_MAX_DEPTH);
        return;
    }
    if (json_is_boolean(s)) return;
    if (!json_is_object(s)) {
        check_fail(c, spath, "a schema must be an object or a boolean");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (c->failed) break;
        check_keyword(c, k, v, spath, depth);
    }
}

int ch_jschema_check(const json_t *schema, char *err, size_t cap)
{
    js_check_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    c->root = schema;
    c->err = err;
    c->cap = cap;
    if (cap) err[0] = '\0';
    if (!schema) check_fail(c, "", "no schema");
    else check_schema(c, schema, "", 0);
    int rc = c->failed ? -1 : 0;
    free(c);
    return rc;
}

/* ---- the validator ------------------------------------------------------- */

typedef struct js_run {
    const json_t *root;
    long steps;
    int exhausted;   /* CH_JS_MAX_STEPS reached */
    int broken;      /* the schema turned out unusable */
    char *err;
    size_t cap;
} js_run;

typedef struct js_sink {
    json_t *errors;  /* NULL: count only (anyOf / oneOf / not probes) */
    size_t n;
    size_t max;      /* stop after this many */
    size_t keep;     /* append only the first `keep` to errors */
    const char *prefix;
} js_sink;

typedef struct js_path {
    char buf[CH_JS_PATH_MAX];
    size_t len;
} js_path;

static void run_broken(js_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_broken(js_run *r, const char *fmt, ...)
{
    if (r->broken) return;
    r->broken = 1;
    va_list ap;
    va_start(ap, fmt);
    if (r->cap) vsnprintf(r->err, r->cap, fmt, ap);
    va_end(ap);
}

static int stop(const js_run *r, const js_sink *s)
{
    return r->broken || r->exhausted || s->n >= s->max;
}

/* Removes an incomplete UTF-8 sequence at the end of s (from a cut). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && n - i < 3) i--;
    if (i == 0) return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0x80 && (n - (i - 1)) < want) s[i - 1] = '\0';
}

static void fail(js_sink *s, const js_path *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(js_sink *s, const js_path *p, const char *fmt, ...)
{
    if (s->n >= s->max) return;
    s->n++;
    if (!s->errors || s->n > s->keep) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char path[CH_JS_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s%.*s", s->prefix, (int)p->len, p->buf);
    /* A cut (long path, quoted pattern) may split a UTF-8 sequence, which
     * Jansson refuses: back off to a character boundary, never drop the
     * error. */
    utf8_trim(path);
    utf8_trim(msg);
    json_array_append_new(s->errors, json_pack("{s:s,s:s}", "path", path, "message", msg));
}

/* Appends "/<escaped key>"; returns the length to restore. A path that
 * would not fit is cut (the error stays, less precisely placed). */
static size_t path_push_key(js_path *p, const char *key)
{
    size_t old = p->len;
    if (p->len + 2 >= sizeof p->buf) return old;
    p->buf[p->len++] = '/';
    for (const char *k = key; *k; k++) {
        const char *esc = *k == '~' ? "~0" : *k == '/' ? "~1" : NULL;
        size_t need = esc ? 2 : 1;
        if (p->len + need >= sizeof p->buf) break;
        if (esc) {
            memcpy(p->buf + p->len, esc, 2);
            p->len += 2;
        } else {
            p->buf[p->len++] = *k;
        }
    }
    p->buf[p->len] = '\0';
    return old;
}

static size_t path_push_index(js_path *p, size_t i)
{
    char b[24];
    snprintf(b, sizeof b, "%zu", i);
    return path_push_key(p, b);
}

static void path_pop(js_path *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

static void validate(js_run *r, js_sink *s, const json_t *sch, const json_t *in, js_path *p,
                     int depth, int hops);

/* Whether `in` matches `sch` (no errors reported): a probe. */
static int matches(js_run *r, const json_t *sch, const json_t *in, js_path *p, int depth, int hops)
{
    js_sink probe = {.errors = NULL, .n = 0, .max = 1, .prefix = ""};
    validate(r, &probe, sch, in, p, depth, hops + 1);
    return probe.n == 0;
}

/* Descends into a member or an item. */
static void descend(js_run *r, js_sink *s, const json_t *sch, const json_t *in, js_path *p,
                    int depth)
{
    if (depth + 1 > CH_JS_MAX_DEPTH) {
        fail(s, p, "nested more than %d levels deep", CH_JS_MAX_DEPTH);
        return;
    }
    validate(r, s, sch, in, p, depth + 1, 0);
}

static void v_type(js_run *r, js_sink *s, const json_t *t, const json_t *in, const js_path *p)
{
    if (json_is_string(t)) {
        const char *name = json_string_value(t);
        if (!type_known(name)) run_broken(r, "unknown type \"%s\"", name);
        else if (!type_is(name, in)) fail(s, p, "must be of type %s, not %s", name, type_name(in));
        return;
    }
    if (!json_is_array(t)) {
        run_broken(r, "\"type\" is neither a name nor an array");
        return;
    }
    char names[160] = "";
    size_t off = 0;
    for (size_t i = 0; i < json_array_size(t); i++) {
        const json_t *x = json_array_get(t, i);
        if (!json_is_string(x) || !type_known(json_string_value(x))) {
            run_broken(r, "\"type\" lists an unknown type");
            return;
        }
        if (type_is(json_string_value(x), in)) return;
        int w = snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "",
                         json_string_value(x));
        if (w > 0 && off + (size_t)w < sizeof names) off += (size_t)w;
    }
    fail(s, p, "must be one of the types %s, not %s", names, type_name(in));
}

static int uri_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return 0;
    const char *c = s;
    while ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
           *c == '+' || *c == '-' || *c == '.')
        c++;
    if (*c != ':' || !c[1]) return 0;
    for (const char *x = s; *x; x++)
        if ((unsigned char)*x <= 0x20 || *x == 0x7f || *x == '"' || *x == '<' || *x == '>' ||
            *x == '\\' || *x == '{' || *x == '}' || *x == '|' || *x == '^' || *x == '`')
            return 0;
    return 1;
}

static int email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@')) return 0;
    for (const char *x = s; *x; x++)
        if ((unsigned char)*x <= 0x20 || *x == 0x7f) return 0;
    const char *dom = at + 1;
    const char *dot = strchr(dom, '.');
    size_t dl = strlen(dom);
    return dl >= 3 && dot && dot != dom && dom[dl - 1] != '.' && !strstr(dom, "..");
}

static void v_string(js_run *r, js_sink *s, const json_t *sch, const json_t *in, const js_path *p)
{
    const char *str = json_string_value(in);
    size_t bytes = json_string_length(in);
    size_t n;
    const json_t *v;
    if ((v = json_object_get(sch, "minLength"))) {
        if (!count_value(v, &n)) run_broken(r, "bad \"minLength\"");
        else if (utf8_len(str, bytes) < n) fail(s, p, "must be at least %zu characters long", n);
    }
    if ((v = json_object_get(sch, "maxLength"))) {
        if (!count_value(v, &n)) run_broken(r, "bad \"maxLength\"");
        else if (utf8_len(str, bytes) > n) fail(s, p, "must be at most %zu characters long", n);
    }
    if ((v = json_object_get(sch, "pattern")) && !stop(r, s)) {
        regex_t re;
        if (!json_is_string(v) ||
            regcomp(&re, json_string_value(v), REG_EXTENDED | REG_NOSUB) != 0) {
            run_broken(r, "\"pattern\" is not a POSIX extended regular expression");
        } else {
            if (regexec(&re, str, 0, NULL, 0) != 0)
                fail(s, p, "must match the pattern %.150s", json_string_value(v));
            regfree(&re);
        }
    }
    if ((v = json_object_get(sch, "format")) && json_is_string(v)) {
        const char *f = json_string_value(v);
        if (strcmp(f, "uri") == 0 && !uri_ok(str)) fail(s, p, "must be a URI");
        else if (strcmp(f, "email") == 0 && !email_ok(str)) fail(s, p, "must be an e-mail address");
    }
}

static int below(const json_t *a, const json_t *b)  /* a < b */
{
    if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) < json_integer_value(b);
    return json_number_value(a) < json_number_value(b);
}

static void v_number(js_run *r, js_sink *s, const json_t *sch, const json_t *in, const js_path *p)
{
    static const char *const kw[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    for (int i = 0; i < 4; i++) {
        const json_t *v = json_object_get(sch, kw[i]);
        if (!v) continue;
        if (!json_is_number(v)) {
            run_broken(r, "\"%s\" is not a number", kw[i]);
            return;
        }
        double lim = json_number_value(v);
        int bad = i == 0 ? below(in, v) : i == 1 ? below(v, in)
                : i == 2 ? !below(v, in) : !below(in, v);
        if (bad)
            fail(s, p, "must be %s %.17g", i == 0 ? "at least" : i == 1 ? "at most"
                                           : i == 2 ? "greater than" : "less than", lim);
    }
    const json_t *m = json_object_get(sch, "multipleOf");
    if (m) {
        if (!json_is_number(m) || !(json_number_value(m) > 0)) {
            run_broken(r, "\"multipleOf\" is not a number above 0");
            return;
        }
        int ok;
        if (json_is_integer(in) && json_is_integer(m)) {
            ok = json_integer_value(in) % json_integer_value(m) == 0;
        } else {
            double q = json_number_value(in) / json_number_value(m);
            ok = isfinite(q) && js_abs(q - js_round(q)) <= 1e-9 * (js_abs(q) > 1 ? js_abs(q) : 1);
        }
        if (!ok) fail(s, p, "must be a multiple of %.17g", json_number_value(m));
    }
}

static void v_array(js_run *r, js_sink *s, const json_t *sch, const json_t *in, js_path *p,
                    int depth)
{
    size_t n, len = json_array_size(in);
    const json_t *v;
    if ((v = json_object_get(sch, "minItems"))) {
        if (!count_value(v, &n)) run_broken(r, "bad \"minItems\"");
        else if (len < n) fail(s, p, "must have at least %zu items", n);
    }
    if ((v = json_object_get(sch, "maxItems"))) {
        if (!count_value(v, &n)) run_broken(r, "bad \"maxItems\"");
        else if (len > n) fail(s, p, "must have at most %zu items", n);
    }
    if ((v = json_object_get(sch, "uniqueItems")) && json_is_true(v)) {
        for (size_t i = 0; i < len && !stop(r, s); i++)
            for (size_t j = i + 1; j < len; j++) {
                if (++r->steps > CH_JS_MAX_STEPS) {
                    r->exhausted = 1;
                    return;
                }
                if (js_equal(json_array_get(in, i), json_array_get(in, j))) {
                    size_t old = path_push_index(p, j);
                    fail(s, p, "duplicates item %zu (items must be unique)", i);
                    path_pop(p, old);
                    break;
                }
            }
    }
    const json_t *items = json_object_get(sch, "items");
    if (items) {
        if (!is_schema(items)) {
            run_broken(r, "\"items\" is not a schema");
            return;
        }
        for (size_t i = 0; i < len && !stop(r, s); i++) {
            size_t old = path_push_index(p, i);
            descend(r, s, items, json_array_get(in, i), p, depth);
            path_pop(p, old);
        }
    }
}

static void v_object(js_run *r, js_sink *s, const json_t *sch, const json_t *in, js_path *p,
                     int depth)
{
    size_t n, cnt = json_object_size(in);
    const json_t *v;
    if ((v = json_object_get(sch, "minProperties"))) {
        if (!count_value(v, &n)) run_broken(r, "bad \"minProperties\"");
        else if (cnt < n) fail(s, p, "must have at least %zu members", n);
    }
    if ((v = json_object_get(sch, "maxProperties"))) {
        if (!count_value(v, &n)) run_broken(r, "bad \"maxProperties\"");
        else if (cnt > n) fail(s, p, "must have at most %zu members", n);
    }
    const json_t *req = json_object_get(sch, "required");
    if (req) {
        if (!json_is_array(req)) {
            run_broken(r, "\"required\" is not an array");
            return;
        }
        for (size_t i = 0; i < json_array_size(req) && !stop(r, s); i++) {
            const json_t *name = json_array_get(req, i);
            if (!json_is_string(name)) {
                run_broken(r, "\"required\" holds a non-string");
                return;
            }
            if (!json_object_get(in, json_string_value(name))) {
                size_t old = path_push_key(p, json_string_value(name));
                fail(s, p, "is required");
                path_pop(p, old);
            }
        }
    }
    const json_t *props = json_object_get(sch, "properties");
    if (props && !json_is_object(props)) {
        run_broken(r, "\"properties\" is not an object");
        return;
    }
    const json_t *addl = json_object_get(sch, "additionalProperties");
    if (addl && !is_schema(addl)) {
        run_broken(r, "\"additionalProperties\" is not a schema");
        return;
    }
    const char *k;
    json_t *mv;
    json_object_foreach((json_t *)in, k, mv) {
        if (stop(r, s)) break;
        const json_t *sub = props ? json_object_get(props, k) : NULL;
        size_t old = path_push_key(p, k);
        if (sub) {
            if (!is_schema(sub)) run_broken(r, "property schema of \"%.100s\" is not a schema", k);
            else descend(r, s, sub, mv, p, depth);
        } else if (addl) {
            if (json_is_false(addl)) fail(s, p, "is not allowed (unknown field)");
            else descend(r, s, addl, mv, p, depth);
        }
        path_pop(p, old);
    }
}

static void v_composition(js_run *r, js_sink *s, const json_t *sch, const json_t *in, js_path *p,
                          int depth, int hops)
{
    const json_t *v;
    if ((v = json_object_get(sch, "allOf"))) {
        if (!json_is_array(v)) {
            run_broken(r, "\"allOf\" is not an array");
            return;
        }
        for (size_t i = 0; i < json_array_size(v) && !stop(r, s); i++)
            validate(r, s, json_array_get(v, i), in, p, depth, hops + 1);
    }
    if ((v = json_object_get(sch, "anyOf")) && !stop(r, s)) {
        if (!json_is_array(v)) {
            run_broken(r, "\"anyOf\" is not an array");
            return;
        }
        int any = 0;
        for (size_t i = 0; i < json_array_size(v) && !any && !r->broken && !r->exhausted; i++)
            any = matches(r, json_array_get(v, i), in, p, depth, hops);
        if (!any && !r->broken && !r->exhausted)
            fail(s, p, "does not match any of the allowed alternatives (anyOf)");
    }
    if ((v = json_object_get(sch, "oneOf")) && !stop(r, s)) {
        if (!json_is_array(v)) {
            run_broken(r, "\"oneOf\" is not an array");
            return;
        }
        size_t hits = 0;
        for (size_t i = 0; i < json_array_size(v) && hits < 2 && !r->broken && !r->exhausted; i++)
            hits += (size_t)matches(r, json_array_get(v, i), in, p, depth, hops);
        if (!r->broken && !r->exhausted) {
            if (hits == 0) fail(s, p, "does not match any of the alternatives (oneOf)");
            else if (hits > 1) fail(s, p, "matches more than one alternative (oneOf)");
        }
    }
    if ((v = json_object_get(sch, "not")) && !stop(r, s)) {
        int m = matches(r, v, in, p, depth, hops);
        if (m && !r->broken && !r->exhausted) fail(s, p, "must not match the schema in \"not\"");
    }
}

static void validate(js_run *r, js_sink *s, const json_t *sch, const json_t *in, js_path *p,
                     int depth, int hops)
{
    if (stop(r, s)) return;
    if (++r->steps > CH_JS_MAX_STEPS) {
        r->exhausted = 1;
        return;
    }
    if (hops > CH_JS_MAX_DEPTH) {
        run_broken(r, "the schema nests more than %d levels at one place of the config "
                      "(a $ref cycle?)", CH_JS_MAX_DEPTH);
        return;
    }
    if (json_is_true(sch)) return;
    if (json_is_false(sch)) {
        fail(s, p, "no value is allowed here");
        return;
    }
    if (!json_is_object(sch)) {
        run_broken(r, "a schema is neither an object nor a boolean");
        return;
    }
    const json_t *v;
    if ((v = json_object_get(sch, "$ref"))) {
        const json_t *t = json_is_string(v) ? resolve_ref(r->root, json_string_value(v)) : NULL;
        if (!t) {
            run_broken(r, "\"$ref\" does not resolve");
            return;
        }
        validate(r, s, t, in, p, depth, hops + 1);
        if (stop(r, s)) return;
    }
    if ((v = json_object_get(sch, "type"))) v_type(r, s, v, in, p);
    if ((v = json_object_get(sch, "enum")) && !stop(r, s)) {
        if (!json_is_array(v)) {
            run_broken(r, "\"enum\" is not an array");
            return;
        }
        int hit = 0;
        for (size_t i = 0; i < json_array_size(v) && !hit; i++)
            hit = js_equal(json_array_get(v, i), in);
        if (!hit) fail(s, p, "must be one of the allowed values");
    }
    if ((v = json_object_get(sch, "const")) && !js_equal(v, in))
        fail(s, p, "must be the constant value of the schema");
    if (stop(r, s)) return;
    if (json_is_string(in)) v_string(r, s, sch, in, p);
    else if (json_is_number(in)) v_number(r, s, sch, in, p);
    else if (json_is_array(in)) v_array(r, s, sch, in, p, depth);
    else if (json_is_object(in)) v_object(r, s, sch, in, p, depth);
    if (stop(r, s)) return;
    v_composition(r, s, sch, in, p, depth, hops);
}

int ch_jschema_validate(const json_t *schema, const json_t *instance, const char *prefix,
                        json_t *errors, char *err, size_t cap)
{
    if (cap) err[0] = '\0';
    js_run r = {.root = schema, .err = err, .cap = cap};
    /* One more than kept: tells "exactly 50" from "more than 50". */
    js_sink s = {.errors = errors, .max = CH_JS_MAX_ERRORS + 1, .keep = CH_JS_MAX_ERRORS,
                 .prefix = prefix ? prefix : ""};
    js_path *p = calloc(1, sizeof *p);
    if (!p || !schema || !instance) {
        free(p);
        snprintf(err, cap, "no schema or no instance");
        return -1;
    }
    validate(&r, &s, schema, instance, p, 0, 0);
    free(p);
    if (r.broken) return -1;
    size_t n = s.n > s.keep ? s.keep : s.n;
    if (r.exhausted) {
        json_array_append_new(errors, json_pack("{s:s,s:s}", "path", s.prefix,
                                                "message", "too complex to validate"));
        n++;
    } else if (s.n > s.keep) {
        json_array_append_new(errors, json_pack("{s:s,s:s}", "path", s.prefix, "message",
                                                "more errors were found and left out"));
        n++;
    }
    return (int)n;
}
