/* ctl_cmds_routes.c -- c360ctl routes list|add|remove --tenant T --conn SRC:
 * which destination connections receive the records of a source, with an
 * optional field mapping. */
#include <string.h>

#include "ctl.h"

static const ctl_col cols[] = {
    {"source", "source"},
    {"destination", "destination"},
    {"mapping", "mapping"},
    {NULL, NULL},
};

static int routes_path(const ctl_args *a, ctl_str *p)
{
    const char *tenant = ctl_need(a, "tenant"), *conn = tenant ? ctl_need(a, "conn") : NULL;
    if (!conn) return CTL_USAGE;
    ctl_path_conn(p, tenant, conn);
    ctl_str_add(p, "/routes");
    return CTL_OK;
}

static int list(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    int rc = routes_path(a, &p);
    if (rc == CTL_OK) rc = ctl_list(c, &p, cols, "routes");
    ctl_str_free(&p);
    return rc;
}

static int add(ctl_ctx *c, const ctl_args *a)
{
    int rc;
    json_t *mapping = ctl_opt_json(a, "mapping", &rc);
    if (rc != CTL_OK) return rc;
    if (mapping && !json_is_object(mapping)) {
        json_decref(mapping);
        return ctl_usage_err(a, "--mapping must be a JSON object");
    }
    ctl_str p = {0};
    rc = routes_path(a, &p);
    json_t *r = NULL, *body = json_object();
    if (mapping) json_object_set_new(body, "mapping", mapping);
    if (rc == CTL_OK) {
        ctl_str_seg(&p, a->pos[0]);
        rc = ctl_call(c, "PUT", p.s, body, NULL, NULL, &r, NULL);
    }
    json_decref(body);
    ctl_str_free(&p);
    char done[200];
    snprintf(done, sizeof done, "route to %s added", a->pos[0]);
    return ctl_finish(c, rc, r, done);
}

static int remove_(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    int rc = routes_path(a, &p);
    json_t *r = NULL;
    if (rc == CTL_OK) {
        ctl_str_seg(&p, a->pos[0]);
        rc = ctl_call(c, "DELETE", p.s, NULL, NULL, NULL, &r, NULL);
    }
    ctl_str_free(&p);
    char done[200];
    snprintf(done, sizeof done, "route to %s removed", a->pos[0]);
    return ctl_finish(c, rc, r, done);
}

const ctl_cmd ctl_cmds_routes[] = {
    {"routes", "list", "tenant=,conn=," CTL_LIST_OPTS, 0, 0, "routes list --tenant T --conn SRC",
     "Lists the destinations that receive the records of connection SRC.\n", list},
    {"routes", "add", "tenant=,conn=,mapping=,mapping-file=", 1, 1,
     "routes add DST --tenant T --conn SRC [--mapping JSON | --mapping-file F]",
     "Routes the records of SRC to the destination connection DST.\n"
     "Optionally with a field mapping, a JSON object such as\n"
     "{\"email\":{\"from\":\"/contact/email\"},\"source\":{\"const\":\"web\"}}.\n"
     "Adding an existing route replaces it.\n",
     add},
    {"routes", "remove", "tenant=,conn=", 1, 1, "routes remove DST --tenant T --conn SRC",
     "Stops routing the records of SRC to DST.\n", remove_},
    {NULL},
};
