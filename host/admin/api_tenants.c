/* api_tenants.c -- /v1/tenants: create, list, get, update, delete
 * (docs/api/tenants.md). The registry is tenants.h; deletion is
 * tenant_purge.h. Every change is audited twice: in the tenant's own chain
 * (its history) and in the "_system" chain (which tenants came and went,
 * readable after the tenant is gone). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "connector_api.h"
#include "conns.h"
#include "tenant_purge.h"
#include "tenants.h"

static void audit_both(ch_actx *x, const char *tenant, const char *action, const char *outcome)
{
    ch_aaudit(x, tenant, NULL, action, tenant, outcome);
    ch_aaudit(x, "", NULL, action, tenant, outcome);
}

static json_t *detail(const char *path, const char *msg)
{
    return json_pack("{s:s, s:s}", "path", path, "message", msg);
}

/* Ids starting with '_' are the host's ("_system" is the chain of events
 * that concern no tenant). */
static int tenant_id_ok(const char *id)
{
    return ch_id_valid(id) && id[0] != '_';
}

/* Checks name / limits / retention_days of a create or update body into
 * details; the typed values go out through the pointers. */
static void check_common(json_t *body, int patch, json_t *details, const char **name,
                         json_t **limits, int *has_ret, uint32_t *ret)
{
    json_t *n = json_object_get(body, "name");
    if (n) {
        *name = json_string_value(n);
        if (!ch_tenant_name_valid(*name))
            json_array_append_new(
                details, detail("/name", "must be 1..200 bytes without control characters"));
    }
    json_t *l = json_object_get(body, "limits");
    if (l) {
        *limits = l;
        ch_tenant_limits_check(l, patch, details);
    }
    json_t *r = json_object_get(body, "retention_days");
    if (r) {
        json_int_t v = json_integer_value(r);
        if (v < 0 || v > CH_TENANT_RETENTION_MAX) {
            json_array_append_new(details, detail("/retention_days", "must be between 0 and 3650"));
        } else {
            *has_ret = 1;
            *ret = (uint32_t)v;
        }
    }
}

static void reply_tenant(ch_actx *x, int status, ch_tenant *t)
{
    ch_aetag(x, t->version);
    ch_areply(x, status, ch_tenant_to_json(t));
}

static void h_create(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"id", CH_AF_STRING, 1, CH_ID_MAX},
        {"name", CH_AF_STRING, 1, CH_TENANT_NAME_MAX},
        {"limits", CH_AF_OBJECT, 0, 0},
        {"retention_days", CH_AF_INT, 0, 0},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    json_t *details = json_array();
    const char *id = json_string_value(json_object_get(body, "id"));
    if (!tenant_id_ok(id))
        json_array_append_new(
            details, detail("/id", "must be 1..64 of [A-Za-z0-9_-], not starting with '_'"));
    const char *name = NULL;
    json_t *limits = NULL;
    int has_ret = 0;
    uint32_t ret = 0;
    check_common(body, 0, details, &name, &limits, &has_ret, &ret);
    if (json_array_size(details)) {
        ch_aerr_details(x, 422, "validation", "the tenant is not valid", details);
        json_decref(body);
        return;
    }
    json_decref(details);
    ch_tenant *t;
    int32_t st = ch_tenant_create(id, name, limits, ret, &t);
    if (st == C360_ECONFLICT) {
        ch_aerr(x, 409, "exists", "tenant %s already exists", id);
    } else if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant");
    } else {
        audit_both(x, id, "tenant.create", "ok");
        char loc[CH_ID_MAX + 16];
        snprintf(loc, sizeof loc, "/v1/tenants/%s", id);
        ch_aheader(x, "Location", loc);
        reply_tenant(x, 201, t);
        ch_tenant_free(t);
    }
    json_decref(body);
}

static void h_list(ch_actx *x)
{
    ch_apage pg;
    if (ch_apage_parse(x, 100, 1000, &pg) < 0) return;
    char **ids;
    size_t n;
    int32_t st = ch_tenant_list(&ids, &n);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant list");
        return;
    }
    json_t *page = NULL;
    char next[CH_ID_MAX + 1] = "";
    ch_apage_ids(ids, n, &pg, &page, next, sizeof next);
    ch_conn_ids_free(ids, n);
    json_t *items = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(page, i, v) {
        ch_tenant *t;
        st = ch_tenant_get(json_string_value(v), &t);
        if (st == C360_ENOTFOUND) continue; /* deleted meanwhile */
        if (st != C360_OK) break;
        json_array_append_new(items, ch_tenant_to_json(t));
        ch_tenant_free(t);
    }
    json_decref(page);
    if (st != C360_OK && st != C360_ENOTFOUND) {
        json_decref(items);
        ch_aerr_status(x, st, "tenant list");
        return;
    }
    ch_areply(x, 200, ch_alist(items, next[0] ? next : NULL));
}

static void h_get(ch_actx *x)
{
    ch_tenant *t;
    int32_t st = ch_tenant_get(x->tenant, &t);
    if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant);
        return;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant");
        return;
    }
    reply_tenant(x, 200, t);
    ch_tenant_free(t);
}

static void h_update(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"name", CH_AF_STRING, 0, CH_TENANT_NAME_MAX},
        {"limits", CH_AF_OBJECT, 0, 0},
        {"retention_days", CH_AF_INT, 0, 0},
        {"version", CH_AF_INT, 0, 0},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    uint64_t expected = 0;
    int ev = ch_aexpected_version(x, body, &expected);
    if (ev < 0) {
        json_decref(body);
        return;
    }
    json_t *details = json_array();
    ch_tenant_patch p = {0};
    json_t *limits = NULL;
    check_common(body, 1, details, &p.name, &limits, &p.set_retention, &p.retention_days);
    p.limits = limits;
    if (!json_array_size(details) && !p.name && !p.limits && !p.set_retention)
        json_array_append_new(details, detail("", "nothing to change: give name, limits or "
                                                  "retention_days"));
    if (json_array_size(details)) {
        ch_aerr_details(x, 422, "validation", "the update is not valid", details);
        json_decref(body);
        return;
    }
    json_decref(details);
    ch_tenant *t = NULL;
    uint64_t current = 0;
    /* ch_aexpected_version only accepts versions >= 1: 0 stays "none" */
    int32_t st = ch_tenant_update(x->tenant, &p, ev == 1 ? expected : 0, &current, &t);
    if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant);
    } else if (st == C360_ECONFLICT) {
        ch_aerr(x, 409, "version_conflict",
                "tenant %s is at version %" PRIu64 ": read it again and retry", x->tenant, current);
    } else if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant");
    } else {
        audit_both(x, x->tenant, "tenant.update", "ok");
        reply_tenant(x, 200, t);
        ch_tenant_free(t);
    }
    json_decref(body);
}

static void h_delete(ch_actx *x)
{
    int s = ch_tenant_state(x->tenant);
    if (s < 0) {
        ch_aerr_status(x, C360_EIO, "tenant");
        return;
    }
    if (s == CH_TENANT_ABSENT) {
        ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant);
        return;
    }
    ch_tenant_purge_report rep;
    int32_t st = ch_tenant_purge(x->admin, x->tenant, x->who.actor, x->request_id, &rep);
    if (st == C360_ENOTFOUND) { /* another delete finished first */
        ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant);
        return;
    }
    if (st != C360_OK) {
        char outcome[64]; /* "error:" + the longest status name */
        snprintf(outcome, sizeof outcome, "error:%s", c360_strstatus(st));
        audit_both(x, x->tenant, "tenant.delete", outcome);
        ch_aerr_status(x, st, "tenant deletion (run it again to finish)");
        return;
    }
    /* ids and counts only */
    char outcome[160];
    snprintf(outcome, sizeof outcome, "ok connections=%zu keys=%zu api_keys=%zu", rep.connections,
             rep.keys, rep.api_keys);
    audit_both(x, x->tenant, "tenant.delete", outcome);
    ch_areply(x, 200,
              json_pack("{s:s, s:I, s:I, s:I}", "tenant", x->tenant, "connections_deleted",
                        (json_int_t)rep.connections, "keys_deleted", (json_int_t)rep.keys,
                        "api_keys_deleted", (json_int_t)rep.api_keys));
}

/* A DELETE must reach a tenant marked `deleting` (a purge cut short) to
 * finish it, so the dispatcher's "the tenant exists" check must let it
 * through; h_delete checks itself. */
#define DELETE_FLAGS CH_AR_ANY_TENANT

const ch_aroute ch_api_tenants_routes[] = {
    {"GET", "/v1/tenants", CH_ROLE_OPERATOR, h_list, 0, "List tenants"},
    {"POST", "/v1/tenants", CH_ROLE_OPERATOR, h_create, 0, "Create a tenant"},
    {"GET", "/v1/tenants/{tenant}", CH_ROLE_TENANT_VIEWER, h_get, 0, "Get a tenant"},
    {"PATCH", "/v1/tenants/{tenant}", CH_ROLE_OPERATOR, h_update, 0, "Update a tenant"},
    {"DELETE", "/v1/tenants/{tenant}", CH_ROLE_OPERATOR, h_delete, DELETE_FLAGS,
     "Delete a tenant and everything it has"},
    {0},
};
