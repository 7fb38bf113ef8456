/* ctl_cmds_tenants.c -- c360ctl tenants list|get|create|update|delete
 * (operator; get also for a tenant's own keys). */
#include <string.h>

#include "ctl.h"

static const ctl_col cols[] = {
    {"id", "id"},
    {"name", "name"},
    {"retention_days", "retention_days"},
    {"version", "version"},
    {"created", "created_ms"},
    {"updated", "updated_ms"},
    {NULL, NULL},
};

static int list(ctl_ctx *c, const ctl_args *a)
{
    (void)a;
    ctl_str p = {0};
    ctl_str_add(&p, "/v1/tenants");
    int rc = ctl_list(c, &p, cols, "tenants");
    ctl_str_free(&p);
    return rc;
}

static int get(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    ctl_path_tenant(&p, a->pos[0]);
    json_t *r;
    int rc = ctl_call(c, "GET", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    return ctl_finish(c, rc, r, NULL);
}

/* The members create and update share: name, retention_days, limits. */
static int fields(const ctl_args *a, json_t *body)
{
    const char *name = ctl_opt(a, "name");
    if (name) json_object_set_new(body, "name", json_string(name));
    long long days;
    int rc = ctl_opt_int(a, "retention-days", 0, 3650, -1, &days);
    if (rc != CTL_OK) return rc;
    if (days >= 0) json_object_set_new(body, "retention_days", json_integer(days));
    json_t *limits = ctl_opt_json(a, "limits", &rc);
    if (rc != CTL_OK) return rc;
    if (limits) {
        if (!json_is_object(limits)) {
            json_decref(limits);
            return ctl_usage_err(a, "--limits must be a JSON object");
        }
        json_object_set_new(body, "limits", limits);
    }
    return CTL_OK;
}

static int create(ctl_ctx *c, const ctl_args *a)
{
    if (!ctl_need(a, "name")) return CTL_USAGE;
    json_t *body = json_pack("{s:s}", "id", a->pos[0]);
    int rc = fields(a, body);
    json_t *r = NULL;
    if (rc == CTL_OK) rc = ctl_call(c, "POST", "/v1/tenants", body, NULL, NULL, &r, NULL);
    json_decref(body);
    return ctl_finish(c, rc, r, NULL);
}

static int update(ctl_ctx *c, const ctl_args *a)
{
    json_t *body = json_object();
    int rc = fields(a, body);
    if (rc == CTL_OK && json_object_size(body) == 0)
        rc = ctl_usage_err(a, "nothing to change: give --name, --retention-days or --limits");
    json_t *r = NULL;
    if (rc == CTL_OK) {
        ctl_str p = {0};
        ctl_path_tenant(&p, a->pos[0]);
        rc = ctl_call(c, "PATCH", p.s, body, NULL, ctl_opt(a, "version"), &r, NULL);
        ctl_str_free(&p);
    }
    json_decref(body);
    return ctl_finish(c, rc, r, NULL);
}

static int del(ctl_ctx *c, const ctl_args *a)
{
    char what[128];
    snprintf(what, sizeof what, "Deleting tenant %s and everything it holds", a->pos[0]);
    int rc = ctl_confirm(a, what, a->pos[0]);
    if (rc != CTL_OK) return rc;
    ctl_str p = {0};
    ctl_path_tenant(&p, a->pos[0]);
    json_t *r;
    rc = ctl_call(c, "DELETE", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    char done[128];
    snprintf(done, sizeof done, "tenant %s deleted", a->pos[0]);
    return ctl_finish(c, rc, r, done);
}

const ctl_cmd ctl_cmds_tenants[] = {
    {"tenants", "list", CTL_LIST_OPTS, 0, 0, "tenants list [--limit N] [--cursor C] [--all]",
     "Lists tenants (operator).\n", list},
    {"tenants", "get", "", 1, 1, "tenants get TENANT", "Shows one tenant.\n", get},
    {"tenants", "create", "name=,retention-days=,limits=,limits-file=", 1, 1,
     "tenants create TENANT --name NAME [--retention-days N] [--limits JSON | --limits-file F]",
     "Creates a tenant (operator).\n"
     "TENANT is its id: 1..64 of [A-Za-z0-9_-].\n"
     "  --retention-days N   days raw events and logs are kept (0 = the host's default)\n"
     "  --limits JSON        the tenant's limits, a JSON object\n",
     create},
    {"tenants", "update", "name=,retention-days=,limits=,limits-file=,version=", 1, 1,
     "tenants update TENANT [--name NAME] [--retention-days N] [--limits JSON] [--version V]",
     "Changes a tenant's name, retention or limits (operator).\n"
     "With --version V the change applies only if the tenant is still at version V\n"
     "(else error 409 version_conflict).\n",
     update},
    {"tenants", "delete", "yes", 1, 1, "tenants delete TENANT --yes",
     "Deletes a tenant and everything it holds (operator; cannot be undone).\n"
     "Connections, secrets, state, events, records, logs, dead letters and keys are\n"
     "purged; the audit chain stays. Asks for confirmation on a terminal; --yes\n"
     "confirms in scripts.\n",
     del},
    {NULL},
};
