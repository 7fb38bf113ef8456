/* ctl_cmds_notify.c -- c360ctl notify get|set|delete|test|log --tenant T:
 * the tenant's notification endpoint (connection state changes pushed to
 * the customer, signed like deliveries). set answers the signing secret
 * once, when it is new: printed once, or written with --secret-file. */
#include <string.h>

#include "ctl.h"

static const ctl_col log_cols[] = {
    {"time", "time_ms"},
    {"event", "event"},
    {"connection", "connection"},
    {"outcome", "outcome"},
    {"http", "status_code"},
    {"attempts", "attempts"},
    {"duration_ms", "duration_ms"},
    {"error", "error"},
    {NULL, NULL},
};

static int notify_path(const ctl_args *a, ctl_str *p, const char *suffix)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    ctl_path_tenant(p, tenant);
    ctl_str_add(p, "/notifications");
    if (suffix) ctl_str_add(p, suffix);
    return CTL_OK;
}

static int simple(ctl_ctx *c, const ctl_args *a, const char *method, const char *suffix,
                  const char *done)
{
    ctl_str p = {0};
    int rc = notify_path(a, &p, suffix);
    json_t *r = NULL;
    if (rc == CTL_OK) rc = ctl_call(c, method, p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    return ctl_finish(c, rc, r, done);
}

static int get(ctl_ctx *c, const ctl_args *a) { return simple(c, a, "GET", NULL, NULL); }
static int del(ctl_ctx *c, const ctl_args *a)
{
    return simple(c, a, "DELETE", NULL, "notification endpoint removed");
}
static int test(ctl_ctx *c, const ctl_args *a)
{
    return simple(c, a, "POST", "/test", "test notification sent");
}

static int log_(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    int rc = notify_path(a, &p, "/log");
    if (rc == CTL_OK) rc = ctl_list(c, &p, log_cols, "notifications");
    ctl_str_free(&p);
    return rc;
}

static int set(ctl_ctx *c, const ctl_args *a)
{
    const char *url = ctl_need(a, "endpoint");
    if (!url) return CTL_USAGE;
    json_t *body = json_pack("{s:s}", "url", url);
    const char *events = ctl_opt(a, "events");
    if (events) {
        json_t *arr = json_array();
        for (const char *p = events; *p;) {
            size_t n = strcspn(p, ",");
            if (n) json_array_append_new(arr, json_stringn(p, n));
            p += n;
            if (*p == ',') p++;
        }
        json_object_set_new(body, "events", arr);
    }
    ctl_str p = {0};
    int rc = notify_path(a, &p, NULL);
    json_t *r = NULL;
    if (rc == CTL_OK) rc = ctl_call(c, "PUT", p.s, body, NULL, ctl_opt(a, "version"), &r, NULL);
    ctl_str_free(&p);
    json_decref(body);
    if (rc != CTL_OK) return rc;

    const char *member = json_object_get(r, "secret") ? "secret" : NULL;
    const char *file = ctl_opt(a, "secret-file");
    if (member && file) {
        rc = ctl_write_private(file, json_string_value(json_object_get(r, member)));
        json_object_del(r, member);
        if (rc == CTL_OK && !c->json) fprintf(stderr, "the signing secret is in %s\n", file);
    } else if (member) {
        fputs("Store the signing secret now: it is shown only once.\n", stderr);
    } else if (file && !c->json) {
        fputs("(the endpoint already had a signing secret: it is not shown again)\n", stderr);
    }
    ctl_print_object(c, r);
    json_decref(r);
    return rc;
}

const ctl_cmd ctl_cmds_notify[] = {
    {"notify", "get", "tenant=", 0, 0, "notify get --tenant T",
     "Shows the tenant's notification endpoint.\n", get},
    {"notify", "set", "tenant=,endpoint=,events=,secret-file=,version=", 0, 0,
     "notify set --tenant T --endpoint URL [--events E1,E2] [--secret-file PATH] [--version V]",
     "Registers the tenant's notification endpoint.\n"
     "It receives the connections' state changes: every event, or those of\n"
     "--events. The first time, the answer carries the signing secret, shown once\n"
     "(or written to a new mode-0600 file with --secret-file). With --version V\n"
     "the change applies only if the endpoint is still at version V.\n",
     set},
    {"notify", "delete", "tenant=", 0, 0, "notify delete --tenant T",
     "Removes the notification endpoint.\n", del},
    {"notify", "test", "tenant=", 0, 0, "notify test --tenant T",
     "Sends a test notification to the endpoint.\n", test},
    {"notify", "log", "tenant=," CTL_LIST_OPTS, 0, 0, "notify log --tenant T [--all]",
     "Lists notifications sent and their outcome.\n", log_},
    {NULL},
};
