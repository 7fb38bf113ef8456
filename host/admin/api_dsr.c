/* api_dsr.c -- data-subject requests (dsr.h; docs/api/data-subject.md):
 * export and erase what a tenant holds about one person. Both are audited
 * with counts and a hash reference of the subject only -- never the
 * address or number itself. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "connector_api.h"
#include "dsr.h"
#include "tenants.h"

static void run(ch_actx *x, int erase)
{
    static const ch_afield fields[] = {
        {"email", CH_AF_STRING, 0, CH_DSR_EMAIL_MAX},
        {"phone", CH_AF_STRING, 0, CH_DSR_PHONE_MAX},
        {"cursor", CH_AF_STRING, 0, CH_DSR_CURSOR_MAX - 1},
        {NULL},
    };
    json_t *b = ch_abody(x, fields);
    if (!b) return;
    ch_dsr_subject s;
    const char *field = NULL;
    char why[128];
    if (ch_dsr_subject_parse(json_string_value(json_object_get(b, "email")),
                             json_string_value(json_object_get(b, "phone")), &s, &field, why,
                             sizeof why) != 0) {
        json_decref(b);
        char path[16];
        snprintf(path, sizeof path, "%s%s", field && *field ? "/" : "", field ? field : "");
        ch_aerr_details(x, 422, "validation", "the body has invalid fields",
                        json_pack("[{s:s,s:s}]", "path", path, "message", why));
        return;
    }
    int ex = ch_tenant_exists(x->tenant);
    if (ex != 1) {
        json_decref(b);
        if (ex == 0) ch_aerr(x, 404, "not_found", "no such tenant");
        else ch_aerr_status(x, C360_EIO, "tenant");
        return;
    }
    ch_dsr_opts o = {.erase = erase, .cursor = json_string_value(json_object_get(b, "cursor"))};
    json_t *report = NULL;
    int32_t st = ch_dsr_run(x->tenant, &s, &o, &report);
    json_decref(b);
    char ref[40];
    ch_dsr_subject_ref(&s, ref, sizeof ref);
    const char *action = erase ? "dsr.erase" : "dsr.export";
    if (st == C360_EINVAL) {
        ch_aerr_details(x, 422, "validation", "the body has invalid fields",
                        json_pack("[{s:s,s:s}]", "path", "/cursor", "message",
                                  "is not a cursor this API returned"));
        return;
    }
    if (st != C360_OK) {
        /* An erase may have removed part of what it found before failing:
         * that is worth an entry too. */
        ch_aaudit(x, x->tenant, NULL, action, ref, "error:io");
        ch_aerr_status(x, st, "data-subject request");
        return;
    }
    json_t *c = json_object_get(report, "counts");
    char outcome[200];
#define N(k) (long long)json_integer_value(json_object_get(c, k))
    snprintf(outcome, sizeof outcome,
             "ok records=%lld raw_events=%lld dead_letters=%lld delivery_log=%lld sync_log=%lld "
             "errors=%lld state=%lld truncated=%d",
             N("records"), N("raw_events"), N("dead_letters"), N("delivery_log"), N("sync_log"),
             N("errors"), N("state"), json_is_true(json_object_get(report, "truncated")) ? 1 : 0);
#undef N
    ch_aaudit(x, x->tenant, NULL, action, ref, outcome);
    ch_areply(x, 200, report);
}

static void export_(ch_actx *x) { run(x, 0); }
static void erase(ch_actx *x) { run(x, 1); }

const ch_aroute ch_api_dsr_routes[] = {
    {"POST", "/v1/tenants/{tenant}/data-subject/export", CH_ROLE_TENANT_ADMIN, export_, 0,
     "Everything the tenant's retained data holds about one person (by e-mail and/or phone)"},
    {"POST", "/v1/tenants/{tenant}/data-subject/erase", CH_ROLE_TENANT_ADMIN, erase, 0,
     "Erase everything the tenant's retained data holds about one person; answers what was "
     "removed"},
    {0},
};
