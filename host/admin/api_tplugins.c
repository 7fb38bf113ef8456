/* api_tplugins.c -- /v1/tenants/{tenant}/plugins: which loaded plugins a
 * tenant may use, and how many connections of each (docs/api/tenants.md).
 * Stored per tenants.h; the connections resource enforces it. Only plugins
 * this host loaded can be listed or enabled: a setting for a plugin that
 * is not loaded could not be checked against anything. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "connector_api.h"
#include "loader.h"
#include "tenants.h"

static const ch_plugin *loaded(ch_actx *x, const char *name)
{
    const ch_loader *ld = ch_admin_loader(x->admin);
    return ld && name ? ch_loader_find(ld, name) : NULL;
}

/* {"plugin","enabled","max_connections","updated_ms"}; stored may be NULL
 * (never configured: disabled, updated_ms null). */
static json_t *item(const char *plugin, const json_t *stored)
{
    json_t *o =
        json_pack("{s:s, s:b, s:I}", "plugin", plugin, "enabled",
                  json_is_true(json_object_get(stored, "enabled")), "max_connections",
                  (json_int_t)json_integer_value(json_object_get(stored, "max_connections")));
    json_t *u = json_object_get(stored, "updated_ms");
    json_object_set_new(o, "updated_ms", u ? json_integer(json_integer_value(u)) : json_null());
    return o;
}

static void h_list(ch_actx *x)
{
    json_t *stored; /* the dispatcher checked that the tenant exists */
    int32_t st = ch_tenant_plugins(x->tenant, &stored);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant plugins");
        return;
    }
    json_t *items = json_array();
    const ch_loader *ld = ch_admin_loader(x->admin);
    size_t n = ld ? ch_loader_count(ld) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = ch_plugin_name(ch_loader_get(ld, i));
        json_array_append_new(items, item(name, json_object_get(stored, name)));
    }
    json_decref(stored);
    ch_areply(x, 200, ch_alist(items, NULL));
}

/* PUT (enable = 1, with the body) and DELETE (enable = 0, cap kept). */
static void set(ch_actx *x, int from_body)
{
    const char *plugin = ch_aparam(x, "plugin");
    if (!loaded(x, plugin)) {
        ch_aerr(x, 404, "not_found", "no plugin %s is loaded", plugin ? plugin : "");
        return;
    }
    int enabled = 0;
    uint32_t max = 0;
    const uint32_t *maxp = NULL;
    if (from_body) {
        static const ch_afield fields[] = {
            {"enabled", CH_AF_BOOL, 1, 0},
            {"max_connections", CH_AF_INT, 0, 0},
            {NULL},
        };
        json_t *body = ch_abody(x, fields);
        if (!body) return;
        enabled = json_is_true(json_object_get(body, "enabled"));
        json_t *m = json_object_get(body, "max_connections");
        json_int_t mv = m ? json_integer_value(m) : 0;
        json_decref(body);
        if (mv < 0 || mv > CH_TENANT_LIMIT_MAX) {
            ch_aerr_details(x, 422, "validation", "the plugin setting is not valid",
                            json_pack("[{s:s, s:s}]", "path", "/max_connections", "message",
                                      "must be between 0 and 1000000000"));
            return;
        }
        max = (uint32_t)mv; /* PUT replaces: absent = no cap */
        maxp = &max;
    }
    json_t *entry;
    int32_t st = ch_tenant_plugin_set(x->tenant, plugin, enabled, maxp, &entry);
    if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant); /* deleted meanwhile */
        return;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant plugin");
        return;
    }
    ch_aaudit(x, x->tenant, NULL, enabled ? "tenant.plugin.enable" : "tenant.plugin.disable",
              plugin, "ok");
    ch_areply(x, 200, item(plugin, entry));
    json_decref(entry);
}

static void h_put(ch_actx *x)
{
    set(x, 1);
}

static void h_delete(ch_actx *x)
{
    set(x, 0);
}

const ch_aroute ch_api_tplugins_routes[] = {
    {"GET", "/v1/tenants/{tenant}/plugins", CH_ROLE_TENANT_VIEWER, h_list, 0,
     "List the loaded plugins and whether the tenant may use them"},
    {"PUT", "/v1/tenants/{tenant}/plugins/{plugin}", CH_ROLE_OPERATOR, h_put, 0,
     "Enable or disable a plugin for a tenant, with an optional connection cap"},
    {"DELETE", "/v1/tenants/{tenant}/plugins/{plugin}", CH_ROLE_OPERATOR, h_delete, 0,
     "Disable a plugin for a tenant"},
    {0},
};
