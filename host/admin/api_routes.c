/* api_routes.c -- /v1/tenants/{tenant}/connections/{conn}/routes
 * (docs/api/connections.md, "Routes"): which destination connections
 * receive the records of source {conn}, each with an optional field
 * mapping (conns_mapping.h). Stored by conns.h (ch_conn_route_put), which
 * also audits every change (connection.route.add / .update / .remove). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "connector_api.h"
#include "conns.h"
#include "conns_mapping.h"
#include "loader.h"
#include "tenants.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

/* The destinations of source connection src (free with
 * ch_conn_ids_free): 0, or -1 after answering (no such source, or the
 * list cannot be read). */
static int route_dsts(ch_actx *x, const char *src, char ***dsts, size_t *n)
{
    ch_conn *c = ch_aconn_get(x, src, "source");
    if (!c) return -1;
    ch_conn_free(c);
    int32_t st = ch_conn_route_list(x->tenant, src, dsts, n);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "routes");
        return -1;
    }
    return 0;
}

static json_t *route_json(const char *src, const char *dst, const char *mapping)
{
    json_t *m = mapping ? json_loads(mapping, 0, NULL) : NULL;
    return json_pack("{s:s, s:s, s:o}", "source", src, "destination", dst, "mapping",
                     m ? m : json_null());
}

static void h_list(ch_actx *x)
{
    ch_apage pg;
    if (ch_apage_parse(x, LIST_DEFAULT, LIST_MAX, &pg) != 0) return;
    const char *src = ch_aparam(x, "conn");
    char **dsts;
    size_t n;
    if (route_dsts(x, src, &dsts, &n) != 0) return;
    int32_t st = C360_OK;
    json_t *page;
    char next[CH_ID_MAX + 1];
    ch_apage_ids(dsts, n, &pg, &page, next, sizeof next);
    ch_conn_ids_free(dsts, n);
    json_t *items = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(page, i, v) {
        char *mapping = NULL;
        st = ch_conn_route_mapping(x->tenant, src, json_string_value(v), &mapping);
        if (st != C360_OK) break;
        json_array_append_new(items, route_json(src, json_string_value(v), mapping));
        free(mapping);
    }
    json_decref(page);
    if (st != C360_OK) {
        json_decref(items);
        ch_aerr_status(x, st, "routes");
        return;
    }
    ch_areply(x, 200, ch_alist(items, next));
}

/* A plugin's capabilities, or 0 when it is not loaded here. */
static uint32_t caps_of(ch_actx *x, const char *plugin)
{
    const ch_loader *ld = ch_admin_loader(x->admin);
    const ch_plugin *p = ld ? ch_loader_find(ld, plugin) : NULL;
    return p ? ch_plugin_desc(p)->capabilities : 0;
}

static void h_put(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"mapping", CH_AF_OBJECT, 0, 0},
        {NULL},
    };
    json_t *body = NULL;
    if (x->body_len) { /* PUT without a body: a route without a mapping */
        body = ch_abody(x, fields);
        if (!body) return;
    }
    const char *src = ch_aparam(x, "conn"), *dst = ch_aparam(x, "dst");
    ch_conn *s = NULL, *d = NULL;
    char *text = NULL;
    json_t *mapping = body ? json_object_get(body, "mapping") : NULL;
    if (mapping) {
        json_t *details = json_array();
        if (ch_mapping_check(mapping, "/mapping", details)) {
            ch_aerr_details(x, 422, "validation", "the mapping is not valid", details);
            goto out;
        }
        json_decref(details);
        text = json_dumps(mapping, JSON_COMPACT);
        if (!text || strlen(text) > CH_CONN_MAPPING_MAX) {
            ch_aerr(x, 413, "too_large", "the mapping is larger than %d bytes",
                    CH_CONN_MAPPING_MAX);
            goto out;
        }
    }
    if (!(s = ch_aconn_get(x, src, "source")) || !(d = ch_aconn_get(x, dst, "destination"))) goto out;
    if (strcmp(src, dst) == 0) {
        ch_aerr(x, 422, "invalid_route", "a connection cannot be its own destination");
        goto out;
    }
    uint32_t sc = caps_of(x, s->plugin), dc = caps_of(x, d->plugin);
    if (!(sc & (C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK))) {
        ch_aerr(x, 422, "invalid_route", "connection %s (plugin %s) is not a source", src,
                s->plugin);
        goto out;
    }
    if (!(dc & C360_CAP_DESTINATION)) {
        ch_aerr(x, 422, "invalid_route", "connection %s (plugin %s) is not a destination", dst,
                d->plugin);
        goto out;
    }
    int32_t st = ch_conn_route_put(x->tenant, src, dst, text, x->who.actor, x->request_id);
    if (st == C360_ETOOBIG) {
        ch_aerr(x, 409, "limit_reached", "connection %s has %d destinations already", src,
                CH_CONN_ROUTES_MAX);
    } else if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "not_found", "a connection of the route was deleted meanwhile");
    } else if (st != C360_OK) {
        ch_aerr_status(x, st, "route");
    } else {
        ch_areply(x, 200, route_json(src, dst, text));
    }
out:
    ch_conn_free(s);
    ch_conn_free(d);
    free(text);
    json_decref(body);
}

static void h_delete(ch_actx *x)
{
    const char *src = ch_aparam(x, "conn"), *dst = ch_aparam(x, "dst");
    char **dsts;
    size_t n;
    if (route_dsts(x, src, &dsts, &n) != 0) return;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) found = strcmp(dsts[i], dst) == 0;
    ch_conn_ids_free(dsts, n);
    if (!found) {
        ch_aerr(x, 404, "not_found", "connection %s has no route to %s", src, dst);
        return;
    }
    int32_t st = ch_conn_route_remove(x->tenant, src, dst, x->who.actor, x->request_id);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "route");
        return;
    }
    ch_areply(x, 204, NULL);
}

const ch_aroute ch_api_routes_routes[] = {
    {"GET", "/v1/tenants/{tenant}/connections/{conn}/routes", CH_ROLE_TENANT_VIEWER, h_list, 0,
     "List the destinations of a source connection"},
    {"PUT", "/v1/tenants/{tenant}/connections/{conn}/routes/{dst}", CH_ROLE_TENANT_ADMIN, h_put,
     0, "Route a source's records to a destination, with an optional field mapping"},
    {"DELETE", "/v1/tenants/{tenant}/connections/{conn}/routes/{dst}", CH_ROLE_TENANT_ADMIN,
     h_delete, 0, "Remove a route"},
    {0},
};
