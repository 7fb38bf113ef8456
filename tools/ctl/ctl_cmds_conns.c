/* ctl_cmds_conns.c -- c360ctl conns list|get|create|validate|update|
 * pause|resume|sync|delete --tenant T.
 *
 * A connection is described by a JSON file ("-" = stdin):
 *   {"id":"shop1","plugin":"hello","name":"Shop","config":{...},"interval_s":60}
 * create sends it (flags --id, --plugin, --name override its members);
 * validate sends only its plugin and config (a dry run); update sends the
 * file as the change ({name?, config?, interval_s?}). The file is read
 * into memory that is wiped after use: configs may carry credentials. */
#include <string.h>

#include "ctl.h"

static const ctl_col cols[] = {
    {"id", "id"},
    {"plugin", "plugin"},
    {"name", "name"},
    {"state", "state"},
    {"cause", "cause"},
    {"interval_s", "interval_s"},
    {"version", "version"},
    {"updated", "updated_ms"},
    {NULL, NULL},
};

static int list(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/connections");
    int rc = ctl_list(c, &p, cols, "connections");
    ctl_str_free(&p);
    return rc;
}

/* METHOD /v1/tenants/T/connections/C[/suffix] with an optional body. */
static int one(ctl_ctx *c, const ctl_args *a, const char *method, const char *suffix,
               json_t *body, const char *done_fmt)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    ctl_str p = {0};
    ctl_path_conn(&p, tenant, a->pos[0]);
    if (suffix) ctl_str_add(&p, suffix);
    json_t *r;
    int rc = ctl_call(c, method, p.s, body, NULL, ctl_opt(a, "version"), &r, NULL);
    ctl_str_free(&p);
    char done[160] = "";
    if (done_fmt) snprintf(done, sizeof done, done_fmt, a->pos[0]);
    /* An action's answer is the connection: a line says more than it. */
    if (rc == CTL_OK && r && done_fmt && !c->json && suffix) {
        json_decref(r);
        r = NULL;
    }
    return ctl_finish(c, rc, r, done_fmt ? done : NULL);
}

static int get(ctl_ctx *c, const ctl_args *a) { return one(c, a, "GET", NULL, NULL, NULL); }
static int pause_(ctl_ctx *c, const ctl_args *a)
{
    return one(c, a, "POST", "/pause", NULL, "connection %s paused");
}
static int resume(ctl_ctx *c, const ctl_args *a)
{
    return one(c, a, "POST", "/resume", NULL, "connection %s resumed");
}
static int sync_(ctl_ctx *c, const ctl_args *a)
{
    return one(c, a, "POST", "/sync", NULL, "sync of connection %s requested");
}

static json_t *file_body(const ctl_args *a, int *rc)
{
    const char *file = ctl_need(a, "file");
    if (!file) {
        *rc = CTL_USAGE;
        return NULL;
    }
    json_t *j = ctl_load_json_file(file, rc);
    if (j && !json_is_object(j)) {
        fprintf(stderr, "c360ctl: %s: must be a JSON object\n", file);
        json_decref(j);
        *rc = CTL_LOCAL;
        return NULL;
    }
    return j;
}

static int create(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    int rc;
    json_t *body = file_body(a, &rc);
    if (!body) return rc;
    static const char *const over[] = {"id", "plugin", "name", NULL};
    for (size_t i = 0; over[i]; i++) {
        const char *v = ctl_opt(a, over[i]);
        if (v) json_object_set_new(body, over[i], json_string(v));
    }
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/connections");
    json_t *r;
    rc = ctl_call(c, "POST", p.s, body, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    json_decref(body);
    return ctl_finish(c, rc, r, NULL);
}

static int validate(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    int rc;
    json_t *file = file_body(a, &rc);
    if (!file) return rc;
    json_t *body = json_object();
    const char *plugin = ctl_opt(a, "plugin");
    if (plugin) json_object_set_new(body, "plugin", json_string(plugin));
    else if (json_object_get(file, "plugin"))
        json_object_set(body, "plugin", json_object_get(file, "plugin"));
    if (json_object_get(file, "config")) json_object_set(body, "config", json_object_get(file, "config"));
    json_decref(file);
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/connections/validate");
    json_t *r;
    rc = ctl_call(c, "POST", p.s, body, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    json_decref(body);
    if (rc == CTL_OK && !c->json) {
        json_decref(r);
        r = NULL;
    }
    return ctl_finish(c, rc, r, "the configuration is valid");
}

static int update(ctl_ctx *c, const ctl_args *a)
{
    int rc;
    json_t *body = file_body(a, &rc);
    if (!body) return rc;
    const char *name = ctl_opt(a, "name");
    if (name) json_object_set_new(body, "name", json_string(name));
    rc = one(c, a, "PATCH", NULL, body, NULL);
    json_decref(body);
    return rc;
}

static int del(ctl_ctx *c, const ctl_args *a)
{
    char what[160];
    snprintf(what, sizeof what, "Disconnecting %s (its secrets, state and pending events are "
                                "deleted)", a->pos[0]);
    int rc = ctl_confirm(a, what, a->pos[0]);
    if (rc != CTL_OK) return rc;
    return one(c, a, "DELETE", NULL, NULL, "connection %s deleted");
}

const ctl_cmd ctl_cmds_conns[] = {
    {"conns", "list", "tenant=," CTL_LIST_OPTS, 0, 0, "conns list --tenant T [--all]",
     "Lists a tenant's connections.\n", list},
    {"conns", "get", "tenant=", 1, 1, "conns get CONN --tenant T",
     "Shows a connection, with its state and webhook URL.\n", get},
    {"conns", "create", "tenant=,file=,id=,plugin=,name=", 0, 0,
     "conns create --tenant T --file CONN.json [--id ID] [--plugin P] [--name NAME]",
     "Creates a connection from a JSON file ('-' reads stdin).\n"
     "The file:\n"
     "  {\"id\":\"shop1\",\"plugin\":\"hello\",\"name\":\"Shop\",\"config\":{...},\"interval_s\":60}\n"
     "id is optional (the server picks one). The config is checked against the\n"
     "plugin's schema and its validate_config; errors come back field by field.\n",
     create},
    {"conns", "validate", "tenant=,file=,plugin=", 0, 0,
     "conns validate --tenant T --file CONN.json [--plugin P]",
     "Checks a connection file's plugin and config without creating anything.\n"
     "Exit 0 when valid, 1 with the errors field by field when not.\n",
     validate},
    {"conns", "update", "tenant=,file=,name=,version=", 1, 1,
     "conns update CONN --tenant T --file CHANGE.json [--version V]",
     "Changes a connection's name, config or interval from a JSON file.\n"
     "The file holds the members to change: {\"name\"?, \"config\"?, \"interval_s\"?}.\n"
     "With --version V the change applies only if the connection is still at\n"
     "version V (else error 409).\n",
     update},
    {"conns", "pause", "tenant=", 1, 1, "conns pause CONN --tenant T",
     "Pauses a connection: no ticks, deliveries wait; webhooks are still stored.\n", pause_},
    {"conns", "resume", "tenant=", 1, 1, "conns resume CONN --tenant T",
     "Resumes a paused connection.\n", resume},
    {"conns", "sync", "tenant=", 1, 1, "conns sync CONN --tenant T",
     "Asks for a sync (a tick) of the connection now.\n", sync_},
    {"conns", "delete", "tenant=,yes", 1, 1, "conns delete CONN --tenant T --yes",
     "Disconnects and deletes a connection (cannot be undone).\n"
     "Its ticks stop, its webhooks answer 410, the plugin unsubscribes and revokes\n"
     "its tokens where the provider allows it, and its secrets, state and pending\n"
     "events are deleted; the answer has the outcome. --yes confirms.\n",
     del},
    {NULL},
};
