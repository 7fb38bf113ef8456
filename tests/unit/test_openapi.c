/* test_openapi.c -- the OpenAPI document (the fragments in docs/openapi, compiled
 * in) and the router agree: every route the server has is documented with
 * the same method and path, every documented operation exists, and each
 * operation has a summary, responses and, unless public, the error shape
 * for 401 and 403. Parameters named in a path are declared. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "check.h"

static json_t *g_doc;
static int g_routes;

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static void check_route(const ch_aroute *r, void *arg)
{
    (void)arg;
    g_routes++;
    char m[16];
    lower(r->method, m, sizeof m);
    json_t *item = json_object_get(json_object_get(g_doc, "paths"), r->pattern);
    json_t *op = json_object_get(item, m);
    if (!op) {
        fprintf(stderr, "route not documented: %s %s\n", r->method, r->pattern);
        CHECK(op != NULL);
        return;
    }
    CHECK(json_is_string(json_object_get(op, "summary")));
    json_t *resp = json_object_get(op, "responses");
    CHECK(json_is_object(resp) && json_object_size(resp) > 0);
    if (!(r->flags & CH_AR_PUBLIC)) {
        if (!json_object_get(resp, "401") || !json_object_get(resp, "403"))
            fprintf(stderr, "%s %s: no 401/403 response documented\n", r->method, r->pattern);
        CHECK(json_object_get(resp, "401") && json_object_get(resp, "403"));
    }
    /* Every {param} of the path is declared, on the path item or the op. */
    const char *p = r->pattern;
    while ((p = strchr(p, '{'))) {
        const char *e = strchr(p, '}');
        if (!e) break;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
        int found = 0;
        json_t *lists[2] = {json_object_get(item, "parameters"), json_object_get(op, "parameters")};
        for (int l = 0; l < 2; l++) {
            size_t i;
            json_t *prm;
            json_array_foreach(lists[l], i, prm) {
                json_t *ref = json_object_get(prm, "$ref");
                if (ref) {
                    /* "#/components/parameters/X" */
                    const char *rs = json_string_value(ref);
                    const char *last = rs ? strrchr(rs, '/') : NULL;
                    prm = last ? json_object_get(json_object_get(json_object_get(g_doc, "components"),
                                                                 "parameters"),
                                                 last + 1)
                               : NULL;
                }
                const char *n = json_string_value(json_object_get(prm, "name"));
                const char *in = json_string_value(json_object_get(prm, "in"));
                if (n && in && strcmp(n, name) == 0 && strcmp(in, "path") == 0) found = 1;
            }
        }
        if (!found) fprintf(stderr, "%s %s: path parameter {%s} not declared\n", r->method,
                            r->pattern, name);
        CHECK(found);
        p = e;
    }
}

typedef struct seen {
    const char *method;
    const char *path;
    int hit;
} seen;

static void mark(const ch_aroute *r, void *arg)
{
    seen *s = arg;
    char m[16];
    lower(r->method, m, sizeof m);
    if (strcmp(m, s->method) == 0 && strcmp(r->pattern, s->path) == 0) s->hit = 1;
}

int main(void)
{
    g_doc = ch_admin_openapi();
    CHECK(g_doc != NULL);
    CHECK_STR(json_string_value(json_object_get(g_doc, "openapi")), "3.0.3");
    ch_admin_routes_foreach(check_route, NULL);
    CHECK(g_routes > 0);
    /* The other way round: nothing documented that the router lacks. */
    const char *path;
    json_t *item;
    int ops = 0;
    json_object_foreach(json_object_get(g_doc, "paths"), path, item) {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op) {
            if (strcmp(m, "parameters") == 0 || strcmp(m, "summary") == 0 ||
                strcmp(m, "description") == 0)
                continue;
            ops++;
            seen s = {m, path, 0};
            ch_admin_routes_foreach(mark, &s);
            if (!s.hit) fprintf(stderr, "documented but not routed: %s %s\n", m, path);
            CHECK(s.hit);
        }
    }
    CHECK(ops == g_routes);
    printf("%d routes, %d documented operations\n", g_routes, ops);
    json_decref(g_doc);
    CHECK_DONE();
}
