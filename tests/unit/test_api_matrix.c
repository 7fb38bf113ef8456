/* test_api_matrix.c -- tenant isolation and roles, for every route the
 * router has (so a new route is covered the day it is added): each route
 * is called by a tenant viewer and a tenant admin of tenant "ta" (own
 * tenant), by a viewer and an admin of tenant "tb" on ta's paths (other
 * tenant), by an operator, and with no key, and each cell's status is
 * asserted: 401 without a key; 403 "forbidden" when the role is below the
 * route's; 403 "forbidden_tenant" for another tenant's path; otherwise the
 * request reaches its handler (whatever it answers for the made-up ids, it
 * is not 401 or 403-for-authorisation). The table is printed. Then every
 * route that takes a body gets hostile ones (malformed, 5000-deep,
 * invalid UTF-8, 900 KiB, an array, an escaped NUL): always a 4xx. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_test_util.h"
#include "check.h"

typedef struct cell {
    const char *name;
    ch_role role;
    const char *tenant; /* the key's tenant ("" for the operator) */
    char key[CH_APIKEY_TEXT_MAX];
} cell;

static cell g_cells[] = {
    {"ta viewer", CH_ROLE_TENANT_VIEWER, "ta", ""},
    {"ta admin", CH_ROLE_TENANT_ADMIN, "ta", ""},
    {"tb viewer", CH_ROLE_TENANT_VIEWER, "tb", ""},
    {"tb admin", CH_ROLE_TENANT_ADMIN, "tb", ""},
    {"operator", CH_ROLE_OPERATOR, "", ""},
    {"no key", CH_ROLE_NONE, "", ""},
};
#define NCELLS (sizeof g_cells / sizeof *g_cells)

static af_env g_env;
static int g_rows;

/* Made-up values for every parameter name the routes use. Tenant paths
 * name "ta"; the operator's cell uses a tenant that does not exist, so
 * that destructive routes (DELETE /v1/tenants/{tenant}) run for real
 * without removing the tenant the other cells need. */
static void fill(const char *pattern, const cell *c, char *out, size_t cap)
{
    size_t w = 0;
    for (const char *p = pattern; *p && w + 1 < cap;) {
        if (*p != '{') {
            out[w++] = *p++;
            continue;
        }
        const char *e = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
        const char *v = "m1";
        if (strcmp(name, "tenant") == 0) v = c->role == CH_ROLE_OPERATOR ? "tz" : "ta";
        else if (strcmp(name, "plugin") == 0) v = "tsrc";
        else if (strcmp(name, "key") == 0) v = "00000000000000ff";
        else if (strcmp(name, "name") == 0) v = "s1";
        else if (strcmp(name, "dst") == 0) v = "m2";
        else if (strcmp(name, "dl") == 0) v = "1-1";
        w += (size_t)snprintf(out + w, cap - w, "%s", v);
        p = e + 1;
    }
    out[w < cap ? w : cap - 1] = '\0';
}

/* The error code, "" if none: printed and compared as a string. */
static const char *code_of(json_t *j)
{
    const char *c = at_code(j);
    return c ? c : "";
}

static void row(const ch_aroute *r, void *arg)
{
    (void)arg;
    if (r->flags & CH_AR_PUBLIC) return;
    g_rows++;
    char line[512];
    int w = snprintf(line, sizeof line, "%-6s %-58s", r->method, r->pattern);
    int has_tenant = strstr(r->pattern, "{tenant}") != NULL;
    for (size_t i = 0; i < NCELLS; i++) {
        const cell *c = &g_cells[i];
        char path[512];
        fill(r->pattern, c, path, sizeof path);
        int body = strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
                   strcmp(r->method, "PATCH") == 0;
        int st;
        json_t *j = af_req(&g_env, c->role == CH_ROLE_NONE ? NULL : c->key, r->method, path,
                           body ? "{}" : NULL, &st);
        const char *code = code_of(j);
        int ok;
        const char *want;
        if (c->role == CH_ROLE_NONE) {
            want = "401";
            ok = st == 401;
        } else if (c->role < r->role) {
            want = "403 forbidden";
            ok = st == 403 && strcmp(code, "forbidden") == 0;
        } else if (has_tenant && c->role != CH_ROLE_OPERATOR && strcmp(c->tenant, "ta") != 0) {
            want = "403 forbidden_tenant";
            ok = st == 403 && strcmp(code, "forbidden_tenant") == 0;
        } else {
            want = "handler";
            ok = st != 401 && st != 0 && strcmp(code, "forbidden") != 0 &&
                 strcmp(code, "forbidden_tenant") != 0 && st != 500;
        }
        if (!ok)
            fprintf(stderr, "%s %s as %s: got %d %s, wanted %s\n", r->method, path, c->name, st,
                    code, want);
        CHECK(ok);
        w += snprintf(line + w, sizeof line - (size_t)w, " %3d", st);
        json_decref(j);
    }
    printf("%s\n", line);
}

/* Hostile bodies on every route, as the operator on an existing tenant:
 * never a 500, never a success for a body that is not a JSON object. */
static char *g_hostile[6];
static const char *const g_hostile_name[] = {"malformed", "deep", "bad utf-8", "huge", "array",
                                             "nul"};

static void hostile(const ch_aroute *r, void *arg)
{
    (void)arg;
    if (r->flags & CH_AR_PUBLIC) return;
    if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "PUT") != 0 &&
        strcmp(r->method, "PATCH") != 0)
        return;
    cell op = {"operator", CH_ROLE_OPERATOR, "", ""};
    char path[512];
    fill(r->pattern, &op, path, sizeof path);
    /* ta exists: the handlers run, not the dispatcher's 404. */
    char *tz = strstr(path, "/tz");
    if (tz) tz[2] = 'a';
    for (size_t i = 0; i < sizeof g_hostile / sizeof *g_hostile; i++) {
        int st;
        json_t *j = af_req(&g_env, g_cells[4].key, r->method, path, g_hostile[i], &st);
        int ok = st >= 400 && st < 500;
        if (!ok)
            fprintf(stderr, "%s %s with a %s body: %d %s\n", r->method, path, g_hostile_name[i],
                    st, code_of(j));
        CHECK(ok);
        json_decref(j);
    }
}

static void make_hostile(void)
{
    g_hostile[0] = strdup("{\"a\":");
    size_t depth = 5000;
    char *d = malloc(depth * 2 + 1);
    for (size_t i = 0; i < depth; i++) d[i] = '[';
    for (size_t i = 0; i < depth; i++) d[depth + i] = ']';
    d[depth * 2] = '\0';
    g_hostile[1] = d;
    g_hostile[2] = strdup("{\"name\":\"\xff\xfe\"}");
    size_t big = 900 * 1024;
    char *h = malloc(big + 16);
    strcpy(h, "{\"name\":\"");
    memset(h + 9, 'a', big);
    strcpy(h + 9 + big, "\"}");
    g_hostile[3] = h;
    g_hostile[4] = strdup("[1,2,3]");
    g_hostile[5] = strdup("{\"name\":\"a\\u0000b\"}");
}

int main(void)
{
    static const char *const plugins[] = {"tsrc", "tdst", NULL};
    af_start(&g_env, plugins);
    af_tenant(&g_env, "ta");
    af_tenant(&g_env, "tb");
    for (size_t i = 0; i < NCELLS; i++)
        if (g_cells[i].role != CH_ROLE_NONE)
            af_key(&g_env, g_cells[i].role, g_cells[i].tenant, g_cells[i].key);
    printf("%-6s %-58s", "method", "route");
    for (size_t i = 0; i < NCELLS; i++) printf(" %s", g_cells[i].name);
    printf("\n");
    ch_admin_routes_foreach(row, NULL);
    printf("%d routes x %zu callers\n", g_rows, NCELLS);
    CHECK(g_rows > 0);
    make_hostile();
    ch_admin_routes_foreach(hostile, NULL);
    for (size_t i = 0; i < sizeof g_hostile / sizeof *g_hostile; i++) free(g_hostile[i]);
    af_stop(&g_env);
    CHECK_DONE();
}
