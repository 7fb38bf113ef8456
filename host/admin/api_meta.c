/* api_meta.c -- who am I, which plugins this host runs, and the OpenAPI
 * document. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "connector_api.h"
#include "loader.h"

static void me(ch_actx *x)
{
    json_t *o = json_pack("{s:s, s:s}", "key_id", x->who.key_id, "role",
                          ch_role_name(x->who.role));
    json_object_set_new(o, "tenant", x->who.tenant[0] ? json_string(x->who.tenant) : json_null());
    ch_areply(x, 200, o);
}

/* Operators see where plugins come from and which files were refused;
 * tenants see what they can connect. */
static json_t *plugin_json(const ch_actx *x, const ch_plugin *p)
{
    json_t *o = ch_plugin_to_json(p);
    if (x->who.role != CH_ROLE_OPERATOR) json_object_del(o, "file");
    return o;
}

static void plugins(ch_actx *x)
{
    const ch_loader *ld = ch_admin_loader(x->admin);
    json_t *items = json_array();
    for (size_t i = 0; ld && i < ch_loader_count(ld); i++)
        json_array_append_new(items, plugin_json(x, ch_loader_get(ld, i)));
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", C360_ABI_MAJOR, C360_ABI_MINOR);
    json_t *o = json_pack("{s:o, s:s}", "plugins", items, "host_abi", abi);
    if (x->who.role == CH_ROLE_OPERATOR && ld) {
        json_t *all = ch_loader_to_json(ld);
        json_object_set(o, "refused", json_object_get(all, "refused"));
        json_decref(all);
    }
    ch_areply(x, 200, o);
}

static void plugin_one(ch_actx *x)
{
    const ch_loader *ld = ch_admin_loader(x->admin);
    const ch_plugin *p = ld ? ch_loader_find(ld, ch_aparam(x, "plugin")) : NULL;
    if (!p) {
        ch_aerr(x, 404, "plugin_not_found", "no plugin of that name is loaded");
        return;
    }
    ch_areply(x, 200, plugin_json(x, p));
}

static void openapi(ch_actx *x)
{
    ch_areply(x, 200, ch_admin_openapi());
}

const ch_aroute ch_api_meta_routes[] = {
    {"GET", "/v1/me", CH_ROLE_TENANT_VIEWER, me, 0, "The calling key: id, role, tenant"},
    {"GET", "/v1/plugins", CH_ROLE_TENANT_VIEWER, plugins, 0, "Loaded plugins"},
    {"GET", "/v1/plugins/{plugin}", CH_ROLE_TENANT_VIEWER, plugin_one, 0,
     "One loaded plugin with its config schema"},
    {"GET", "/v1/openapi.json", CH_ROLE_NONE, openapi, CH_AR_PUBLIC, "This API's OpenAPI document"},
    {0},
};
