/* ctl_table.c -- the human output of c360ctl: aligned tables for lists
 * and indented "key: value" views for single resources. Everything shown
 * comes from the server, so every character is made safe for a terminal
 * first (a tenant named "\e]0;..." must not retitle the operator's
 * window): C0 and C1 controls and DEL become '?'. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define CELL_JSON_MAX 80   /* code points of a nested value in a cell */
#define MAX_AUTO_COLS 8
#define MAX_DEPTH 6

static size_t width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) w++;
    return w;
}

/* Cuts s to at most max code points, ending in "...". */
static void cut(ctl_str *b, size_t from, size_t max)
{
    size_t w = 0;
    for (size_t i = from; i < b->len; i++) {
        if (((unsigned char)b->s[i] & 0xc0) == 0x80) continue;
        if (++w > max - 3) {
            b->len = i;
            b->s[i] = '\0';
            ctl_str_add(b, "...");
            return;
        }
    }
}

/* The API names timestamps *_ms (milliseconds since the epoch), and a
 * few durations too (duration_ms): those are left as numbers. */
static int is_time_field(const char *field)
{
    size_t n = field ? strlen(field) : 0;
    if (n < 3 || strcmp(field + n - 3, "_ms") != 0) return 0;
    static const char *const durations[] = {"duration", "timeout", "interval", "delay", "age",
                                            "elapsed", "span", NULL};
    for (size_t i = 0; durations[i]; i++)
        if (strstr(field, durations[i])) return 0;
    return 1;
}

static void scalar_text(ctl_str *b, const char *field, json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        ctl_str_safe(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        if (is_time_field(field)) {
            if (json_integer_value(v) <= 0) {
                ctl_str_add(b, "-");
            } else {
                ctl_time_format(json_integer_value(v), buf, sizeof buf);
                ctl_str_add(b, buf);
            }
        } else {
            ctl_str_addf(b, "%lld", (long long)json_integer_value(v));
        }
        break;
    case JSON_REAL:
        ctl_str_addf(b, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        ctl_str_add(b, "true");
        break;
    case JSON_FALSE:
        ctl_str_add(b, "false");
        break;
    case JSON_NULL:
        ctl_str_add(b, "-");
        break;
    default:
        break;
    }
}

static int is_scalar(json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static int all_scalars(json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (!is_scalar(v)) return 0;
    return 1;
}

static void compact_json(ctl_str *b, json_t *v, size_t max)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t from = b->len;
    if (s) ctl_str_safe(b, s, strlen(s));
    free(s);
    if (max) cut(b, from, max);
}

/* An array of scalars as "a,b,c", cut at max code points (0: whole). */
static void join_scalars(ctl_str *b, const char *field, json_t *arr, size_t max)
{
    if (json_array_size(arr) == 0) ctl_str_add(b, "-");
    size_t i, from = b->len;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (i) ctl_str_add(b, ",");
        scalar_text(b, field, e);
    }
    if (max) cut(b, from, max);
}

void ctl_cell_text(ctl_str *b, const char *field, json_t *v)
{
    if (!v) {
        ctl_str_add(b, "-");
    } else if (json_is_array(v) && all_scalars(v)) {
        join_scalars(b, field, v, CELL_JSON_MAX);
    } else if (!is_scalar(v)) {
        compact_json(b, v, CELL_JSON_MAX);
    } else {
        scalar_text(b, field, v);
    }
}

json_t *ctl_json_path(json_t *obj, const char *path)
{
    char part[128];
    const char *p = path;
    while (obj && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        obj = json_is_object(obj) ? json_object_get(obj, part) : NULL;
        p += n;
        if (*p == '.') p++;
    }
    return obj;
}

void ctl_table_print(FILE *f, const ctl_col *cols, json_t *items)
{
    size_t nrows = json_array_size(items);
    if (nrows == 0) return;

    /* The columns: given ones some item has, else the first item's
     * scalar members. */
    ctl_col use[32];
    size_t ncols = 0;
    for (size_t c = 0; cols && cols[c].title && ncols < 32; c++) {
        for (size_t r = 0; r < nrows; r++) {
            if (ctl_json_path(json_array_get(items, r), cols[c].field)) {
                use[ncols++] = cols[c];
                break;
            }
        }
    }
    if (ncols == 0) {
        json_t *first = json_array_get(items, 0);
        const char *k;
        json_t *v;
        json_object_foreach(first, k, v) {
            if (ncols == MAX_AUTO_COLS) break;
            if (!is_scalar(v) && !(json_is_array(v) && all_scalars(v))) continue;
            use[ncols].title = k;
            use[ncols].field = k;
            ncols++;
        }
        if (ncols == 0) { /* nothing tabular: one JSON line per item */
            for (size_t r = 0; r < nrows; r++) {
                ctl_str b = {0};
                compact_json(&b, json_array_get(items, r), 0);
                fprintf(f, "%s\n", b.s ? b.s : "");
                ctl_str_free(&b);
            }
            return;
        }
    }

    /* Cells, row 0 the titles (upper case). */
    ctl_str *cell = calloc((nrows + 1) * ncols, sizeof *cell);
    size_t *w = calloc(ncols, sizeof *w);
    if (!cell || !w) {
        free(cell);
        free(w);
        fputs("c360ctl: out of memory\n", stderr);
        return;
    }
    for (size_t c = 0; c < ncols; c++) {
        ctl_str *t = &cell[c];
        for (const char *p = use[c].title; *p; p++) {
            char ch = *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p == '_' ? ' ' : *p;
            ctl_str_addn(t, &ch, 1);
        }
        w[c] = width(t->s);
    }
    for (size_t r = 0; r < nrows; r++) {
        json_t *item = json_array_get(items, r);
        for (size_t c = 0; c < ncols; c++) {
            ctl_str *t = &cell[(r + 1) * ncols + c];
            ctl_cell_text(t, use[c].field, ctl_json_path(item, use[c].field));
            if (!t->s) ctl_str_add(t, "");
            size_t cw = width(t->s);
            if (cw > w[c]) w[c] = cw;
        }
    }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cell[r * ncols + c].s;
            if (c + 1 == ncols) {
                fprintf(f, "%s\n", s);
            } else {
                fputs(s, f);
                for (size_t pad = width(s); pad < w[c] + 2; pad++) fputc(' ', f);
            }
        }
    }
    for (size_t i = 0; i < (nrows + 1) * ncols; i++) ctl_str_free(&cell[i]);
    free(cell);
    free(w);
}

static void indent(FILE *f, int n)
{
    for (int i = 0; i < n; i++) fputc(' ', f);
}

static void print_members(FILE *f, json_t *obj, int ind, int depth);

/* key: value (or key: and the nested members below). */
static void print_value(FILE *f, const char *key, json_t *v, int ind, int pad, int depth)
{
    int nested_obj = json_is_object(v) && json_object_size(v) > 0 && depth < MAX_DEPTH;
    int nested_arr = json_is_array(v) && !all_scalars(v) && depth < MAX_DEPTH;
    ctl_str val = {0};
    if (!nested_obj && !nested_arr) {
        if (json_is_object(v) || json_is_array(v)) {
            if (json_is_array(v) && all_scalars(v) && json_array_size(v)) join_scalars(&val, key, v, 0);
            else compact_json(&val, v, 0);
        } else {
            ctl_cell_text(&val, key, v);
        }
    }
    indent(f, ind);
    if (key) {
        ctl_str k = {0};
        ctl_str_safe(&k, key, strlen(key));
        fprintf(f, "%s:", k.s ? k.s : "");
        if (val.len) {
            for (int i = (int)width(k.s ? k.s : ""); i < pad; i++) fputc(' ', f);
            fputc(' ', f);
        }
        ctl_str_free(&k);
    }
    if (val.len) fputs(val.s, f);
    fputc('\n', f);
    ctl_str_free(&val);
    if (nested_obj) {
        print_members(f, v, ind + 2, depth + 1);
    } else if (nested_arr) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            indent(f, ind + 2);
            if (json_is_object(e) && json_object_size(e) > 0) {
                /* "-" then the item's members indented below it */
                fputs("-\n", f);
                print_members(f, e, ind + 4, depth + 1);
            } else {
                ctl_str t = {0};
                if (json_is_object(e) || json_is_array(e)) compact_json(&t, e, 0);
                else ctl_cell_text(&t, key, e);
                fprintf(f, "- %s\n", t.s ? t.s : "");
                ctl_str_free(&t);
            }
        }
    }
}

static void print_members(FILE *f, json_t *obj, int ind, int depth)
{
    int pad = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int kw = (int)width(k);
        if (kw > pad && kw <= 24) pad = kw;
    }
    json_object_foreach(obj, k, v) print_value(f, k, v, ind, pad, depth);
}

void ctl_object_print(FILE *f, json_t *obj)
{
    if (json_is_object(obj)) print_members(f, obj, 0, 0);
    else if (obj) print_value(f, NULL, obj, 0, 0, 0);
}
