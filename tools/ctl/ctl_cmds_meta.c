/* ctl_cmds_meta.c -- c360ctl me; plugins list|get (loaded plugins) and
 * plugins list|enable|disable --tenant T (plugins per tenant). */
#include <string.h>

#include "ctl.h"

static const ctl_col plugin_cols[] = {
    {"name", "name"},
    {"version", "version"},
    {"abi", "abi"},
    {"capabilities", "capabilities"},
    {"description", "description"},
    {NULL, NULL},
};

static const ctl_col refused_cols[] = {
    {"refused_file", "file"},
    {"code", "code"},
    {"reason", "reason"},
    {NULL, NULL},
};

static const ctl_col tplugin_cols[] = {
    {"plugin", "plugin"},
    {"name", "name"},
    {"enabled", "enabled"},
    {"max_connections", "max_connections"},
    {"updated", "updated_ms"},
    {NULL, NULL},
};

static int me(ctl_ctx *c, const ctl_args *a)
{
    (void)a;
    json_t *r;
    int rc = ctl_call(c, "GET", "/v1/me", NULL, NULL, NULL, &r, NULL);
    return ctl_finish(c, rc, r, NULL);
}

static int loaded(ctl_ctx *c)
{
    json_t *r;
    int rc = ctl_call(c, "GET", "/v1/plugins", NULL, NULL, NULL, &r, NULL);
    if (rc != CTL_OK) return rc;
    if (c->json) {
        ctl_print_json(c, r);
    } else {
        json_t *items = json_object_get(r, "items");
        if (!items) items = json_object_get(r, "plugins");
        if (json_array_size(items)) ctl_table_print(stdout, plugin_cols, items);
        else fputs("(no plugins loaded)\n", stderr);
        json_t *refused = json_object_get(r, "refused");
        if (json_array_size(refused)) {
            printf("\n");
            ctl_table_print(stdout, refused_cols, refused);
        }
    }
    json_decref(r);
    return CTL_OK;
}

static int list(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_opt(a, "tenant");
    if (!tenant) return loaded(c);
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/plugins");
    int rc = ctl_list(c, &p, tplugin_cols, "plugins enabled");
    ctl_str_free(&p);
    return rc;
}

static int get(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    ctl_str_add(&p, "/v1/plugins");
    ctl_str_seg(&p, a->pos[0]);
    json_t *r;
    int rc = ctl_call(c, "GET", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    return ctl_finish(c, rc, r, NULL);
}

static int set(ctl_ctx *c, const ctl_args *a, const char *method, int enabled)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    long long maxc;
    int rc = ctl_opt_int(a, "max-connections", 0, 1000000, -1, &maxc);
    if (rc != CTL_OK) return rc;
    json_t *body = NULL;
    if (strcmp(method, "PUT") == 0) {
        body = json_pack("{s:b}", "enabled", enabled);
        if (maxc >= 0) json_object_set_new(body, "max_connections", json_integer(maxc));
    }
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/plugins");
    ctl_str_seg(&p, a->pos[0]);
    json_t *r;
    rc = ctl_call(c, method, p.s, body, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    char done[160];
    snprintf(done, sizeof done, "plugin %s %s for tenant %s", a->pos[0],
             enabled ? "enabled" : "disabled", tenant);
    json_decref(body);
    return ctl_finish(c, rc, r, done);
}

static int enable(ctl_ctx *c, const ctl_args *a) { return set(c, a, "PUT", 1); }
static int disable(ctl_ctx *c, const ctl_args *a) { return set(c, a, "DELETE", 0); }

const ctl_cmd ctl_cmds_meta[] = {
    {"me", NULL, "", 0, 0, "me", "Shows who the key is: its id, role and tenant.\n", me},
    {"plugins", "list", "tenant=," CTL_LIST_OPTS, 0, 0, "plugins list [--tenant T]",
     "Lists the loaded plugins, or with --tenant the plugins of a tenant.\n"
     "Without --tenant: the plugins c360d loaded, and the plugin files it refused.\n"
     "With --tenant: whether the tenant may use each, with its connection cap.\n",
     list},
    {"plugins", "get", "", 1, 1, "plugins get PLUGIN",
     "Shows a loaded plugin, with its config schema.\n", get},
    {"plugins", "enable", "tenant=,max-connections=", 1, 1,
     "plugins enable PLUGIN --tenant T [--max-connections N]",
     "Lets a tenant create connections of PLUGIN (operator).\n"
     "  --max-connections N   at most N connections of it (0 = no limit)\n",
     enable},
    {"plugins", "disable", "tenant=", 1, 1, "plugins disable PLUGIN --tenant T",
     "Stops a tenant from creating new connections of PLUGIN (operator).\n", disable},
    {NULL},
};
