/* ctl_cmds_dsr.c -- c360ctl dsr export|erase --tenant T (--email E | --phone P):
 * data-subject requests. export prints (or writes with --out) everything
 * the tenant's retained data holds about the person; erase removes it and
 * prints the report of what was found and removed. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int run(ctl_ctx *c, const ctl_args *a, const char *what)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    const char *email = ctl_opt(a, "email"), *phone = ctl_opt(a, "phone");
    if (!email && !phone) return ctl_usage_err(a, "give --email or --phone (or both)");
    int rc;
    if (strcmp(what, "erase") == 0) {
        char msg[320];
        snprintf(msg, sizeof msg, "Erasing the data of %.120s%s%.120s", email ? email : "",
                 email && phone ? " / " : "", phone ? phone : "");
        if ((rc = ctl_confirm(a, msg, "erase")) != CTL_OK) return rc;
    }
    json_t *body = json_object();
    if (email) json_object_set_new(body, "email", json_string(email));
    if (phone) json_object_set_new(body, "phone", json_string(phone));
    const char *cursor = ctl_opt(a, "cursor");
    if (cursor) json_object_set_new(body, "cursor", json_string(cursor));
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/data-subject/");
    ctl_str_add(&p, what);
    json_t *r;
    rc = ctl_call(c, "POST", p.s, body, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    json_decref(body);
    if (rc != CTL_OK) return rc;

    /* One call scans a bounded amount; the rest is one cursor away. */
    const char *next = json_string_value(json_object_get(r, "next_cursor"));
    char hint[400] = "";
    if (json_is_true(json_object_get(r, "truncated")) && next)
        snprintf(hint, sizeof hint, "the search stopped early: run the same command with "
                                    "--cursor '%.160s' to go on\n", next);
    const char *out = ctl_opt(a, "out");
    if (out) {
        /* Personal data: a new private file, never overwriting. */
        char *s = json_dumps(r, JSON_INDENT(2));
        rc = s ? ctl_write_private(out, s) : CTL_LOCAL;
        free(s);
        if (rc == CTL_OK) fprintf(stderr, "written to %s (mode 0600)\n", out);
    } else if (strcmp(what, "export") == 0) {
        /* An export is a document: JSON either way. */
        ctl_print_json(c, r);
    } else {
        ctl_print_object(c, r);
    }
    if (hint[0]) fputs(hint, stderr);
    json_decref(r);
    return rc;
}

static int export_(ctl_ctx *c, const ctl_args *a) { return run(c, a, "export"); }
static int erase(ctl_ctx *c, const ctl_args *a) { return run(c, a, "erase"); }

const ctl_cmd ctl_cmds_dsr[] = {
    {"dsr", "export", "tenant=,email=,phone=,out=,cursor=", 0, 0,
     "dsr export --tenant T (--email E | --phone P) [--out FILE] [--cursor C]",
     "Exports what the tenant's data holds about a person, as JSON.\n"
     "--out writes it to a new mode-0600 file. One call searches a bounded amount;\n"
     "when it stops early it says so, with the --cursor to go on from.\n",
     export_},
    {"dsr", "erase", "tenant=,email=,phone=,out=,cursor=,yes", 0, 0,
     "dsr erase --tenant T (--email E | --phone P) --yes [--out FILE] [--cursor C]",
     "Erases a person's data and prints what was removed (cannot be undone).\n"
     "Records, raw events, dead letters and logs that hold the e-mail address or\n"
     "phone number. --yes confirms. A stopped search says which --cursor goes on.\n",
     erase},
    {NULL},
};
