/* ctl_cmds_audit.c -- c360ctl audit list|verify [--tenant T]: a tenant's
 * audit chain, or without --tenant the "_system" chain (operator). */
#include <string.h>

#include "ctl.h"

static const ctl_col cols[] = {
    {"seq", "seq"},
    {"time", "ts_ms"},
    {"actor", "actor"},
    {"action", "action"},
    {"connection", "connection"},
    {"target", "target"},
    {"outcome", "outcome"},
    {"request_id", "request_id"},
    {NULL, NULL},
};

static void audit_path(ctl_str *p, const char *tenant)
{
    if (tenant) {
        ctl_path_tenant(p, tenant);
        ctl_str_add(p, "/audit");
    } else {
        ctl_str_add(p, "/v1/audit");
    }
}

static int list(ctl_ctx *c, const ctl_args *a)
{
    char since[32], until[32];
    int rc = ctl_opt_time(a, "since", since, sizeof since);
    if (rc == CTL_OK) rc = ctl_opt_time(a, "until", until, sizeof until);
    if (rc != CTL_OK) return rc;
    ctl_str p = {0};
    audit_path(&p, ctl_opt(a, "tenant"));
    ctl_str_query(&p, "actor", ctl_opt(a, "actor"));
    ctl_str_query(&p, "action", ctl_opt(a, "action"));
    ctl_str_query(&p, "since_ms", since[0] ? since : NULL);
    ctl_str_query(&p, "until_ms", until[0] ? until : NULL);
    rc = ctl_list(c, &p, cols, "audit entries");
    ctl_str_free(&p);
    return rc;
}

/* The verdict of a verify answer ({"intact":bool,...}): 1 verified, 0
 * broken, -1 not said. */
static int verdict(json_t *r)
{
    static const char *const names[] = {"intact", "ok", "valid", "verified", NULL};
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(r, names[i]);
        if (json_is_boolean(v)) return json_is_true(v);
    }
    const char *s = json_string_value(json_object_get(r, "status"));
    if (s) return strcmp(s, "ok") == 0 || strcmp(s, "valid") == 0 || strcmp(s, "verified") == 0;
    return -1;
}

static int verify(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_opt(a, "tenant");
    ctl_str p = {0};
    audit_path(&p, tenant);
    ctl_str_add(&p, "/verify");
    json_t *r;
    int rc = ctl_call(c, "GET", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    if (rc != CTL_OK) return rc;
    ctl_print_object(c, r);
    int v = verdict(r);
    json_decref(r);
    if (v == 0) {
        fprintf(stderr, "c360ctl: the audit chain of %s does NOT verify\n",
                tenant ? tenant : "_system");
        return CTL_API;
    }
    return CTL_OK;
}

const ctl_cmd ctl_cmds_audit[] = {
    {"audit", "list", "tenant=,actor=,action=,since=,until=," CTL_LIST_OPTS, 0, 0,
     "audit list [--tenant T] [--actor A] [--action X] [--since TIME] [--until TIME] [--all]",
     "Lists audit entries, newest first.\n"
     "Those of a tenant, or without --tenant those of the \"_system\" chain\n"
     "(operator). Actors look like apikey:<key id>. Times: milliseconds, RFC 3339\n"
     "or relative (-1h).\n",
     list},
    {"audit", "verify", "tenant=", 0, 0, "audit verify [--tenant T]",
     "Verifies the hash chain of a tenant's audit log (or the \"_system\" chain).\n"
     "Exits 1 when the chain does not verify.\n",
     verify},
    {NULL},
};
