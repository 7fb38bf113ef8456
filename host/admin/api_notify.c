/* api_notify.c -- a tenant's notification endpoint (notify.h;
 * docs/api/notifications.md): GET / PUT / DELETE the endpoint, a test send,
 * the delivery log. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "connector_api.h"
#include "httpc_conf.h"
#include "notify.h"
#include "ssrf.h"
#include "tenants.h"

#define EVENT_NAME_MAX 64

/* Answers a failed read of the tenant's endpoint (none set is a 404 of
 * its own) and returns 1; 0 when st is C360_OK. */
static int endpoint_failed(ch_actx *x, int32_t st)
{
    if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "not_found", "the tenant has no notification endpoint");
        return 1;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "notification endpoint");
        return 1;
    }
    return 0;
}

static void get_cfg(ch_actx *x)
{
    ch_notify_config c;
    int32_t st = ch_notify_get(x->tenant, &c);
    if (endpoint_failed(x, st)) return;
    ch_aetag(x, c.version);
    ch_areply(x, 200, ch_notify_config_json(&c));
}

/* The events array: known names, at least one; absent = all. Appends
 * details on problems and returns 0 then. */
static unsigned parse_events(json_t *arr, json_t *details)
{
    if (!arr) return CH_NEV_ALL;
    unsigned ev = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char path[32];
        snprintf(path, sizeof path, "/events/%zu", i);
        unsigned bit = json_is_string(v) && json_string_length(v) <= EVENT_NAME_MAX
                           ? ch_notify_event_bit(json_string_value(v))
                           : 0;
        if (!bit) {
            json_array_append_new(details,
                                  json_pack("{s:s,s:s}", "path", path, "message",
                                            "must be one of connection.needs_reauth, "
                                            "connection.failing, connection.recovered, "
                                            "dead_letters.growing, refresh_token.expiring"));
            continue;
        }
        ev |= bit;
    }
    if (json_array_size(arr) == 0)
        json_array_append_new(details, json_pack("{s:s,s:s}", "path", "/events", "message",
                                                 "must name at least one event (omit it for all)"));
    return json_array_size(details) ? 0 : ev;
}

static void put_cfg(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"url", CH_AF_STRING, 1, CH_NOTIFY_URL_MAX},
        {"events", CH_AF_ARRAY, 0, 16},
        {NULL},
    };
    json_t *b = ch_abody(x, fields);
    if (!b) return;
    uint64_t expected = 0;
    if (ch_aexpected_version(x, NULL, &expected) < 0) {
        json_decref(b);
        return;
    }
    json_t *details = json_array();
    const char *url = json_string_value(json_object_get(b, "url"));
    char why[128];
    if (!ch_notify_url_valid(url, why, sizeof why)) {
        char m[160];
        snprintf(m, sizeof m, "the URL %s", why);
        json_array_append_new(details, json_pack("{s:s,s:s}", "path", "/url", "message", m));
    } else {
        /* An address the SSRF policy refuses is refused now, not at the
         * first notification (names are judged when they are resolved). */
        ch_httpc_conf *hc = ch_httpc_conf_acquire();
        char deny[200];
        if (ch_ssrf_check_url(hc->deny_private, hc->allow, hc->allow_count, url, deny,
                              sizeof deny) == C360_EDENIED)
            json_array_append_new(details, json_pack("{s:s,s:s}", "path", "/url", "message", deny));
        ch_httpc_conf_release(hc);
    }
    unsigned ev = parse_events(json_object_get(b, "events"), details);
    if (json_array_size(details)) {
        json_decref(b);
        ch_aerr_details(x, 422, "validation", "the body has invalid fields", details);
        return;
    }
    json_decref(details);
    int ex = ch_tenant_exists(x->tenant);
    if (ex != 1) {
        json_decref(b);
        if (ex == 0) ch_aerr(x, 404, "not_found", "no such tenant");
        else ch_aerr_status(x, C360_EIO, "tenant");
        return;
    }
    ch_notify_config c;
    char secret[CH_NOTIFY_SECRET_MAX];
    uint64_t current = 0;
    int32_t st = ch_notify_put(x->tenant, url, ev, expected, &current, &c, secret);
    json_decref(b);
    if (st == C360_ECONFLICT) {
        ch_aerr(x, 409, "version_conflict", "the endpoint is at version %llu",
                (unsigned long long)current);
        return;
    }
    if (st != C360_OK) {
        ch_aaudit(x, x->tenant, NULL, "notification.put", "notifications", "error:io");
        ch_aerr_status(x, st, "notification endpoint");
        return;
    }
    json_t *o = ch_notify_config_json(&c);
    if (secret[0]) {
        /* Shown this once; the response is the only copy outside the
         * secrets service. */
        json_object_set_new(o, "secret", json_string(secret));
        sodium_memzero(secret, sizeof secret);
    }
    ch_aaudit(x, x->tenant, NULL, "notification.put", "notifications", "ok");
    ch_aetag(x, c.version);
    ch_areply(x, 200, o);
}

static void delete_cfg(ch_actx *x)
{
    int32_t st = ch_notify_delete(x->tenant);
    if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "not_found", "the tenant has no notification endpoint");
        return;
    }
    ch_aaudit(x, x->tenant, NULL, "notification.delete", "notifications",
              st == C360_OK ? "ok" : "error:io");
    if (st != C360_OK) {
        ch_aerr_status(x, st, "notification endpoint");
        return;
    }
    ch_areply(x, 204, NULL);
}

static void test_send(ch_actx *x)
{
    json_t *res = NULL;
    int32_t st = ch_notify_test(x->tenant, 10000, &res);
    if (endpoint_failed(x, st)) return;
    const char *out = json_string_value(json_object_get(res, "outcome"));
    ch_aaudit(x, x->tenant, NULL, "notification.test", "notifications",
              out && strcmp(out, "delivered") == 0 ? "ok" : "error:delivery");
    ch_areply(x, 200, res);
}

static void log_list(ch_actx *x)
{
    ch_apage pg;
    if (ch_apage_parse(x, 50, CH_NOTIFY_LOG_PAGE_MAX, &pg) != 0) return;
    json_t *items = NULL;
    char next[64];
    int32_t st = ch_notify_log_list(x->tenant, pg.cursor, (uint32_t)pg.limit, &items, next);
    if (st == C360_EINVAL) {
        ch_aerr(x, 400, "bad_cursor", "cursor is malformed");
        return;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "notification log");
        return;
    }
    ch_areply(x, 200, ch_alist(items, next));
}

const ch_aroute ch_api_notify_routes[] = {
    {"GET", "/v1/tenants/{tenant}/notifications", CH_ROLE_TENANT_VIEWER, get_cfg, 0,
     "The tenant's notification endpoint (never its secret)"},
    {"PUT", "/v1/tenants/{tenant}/notifications", CH_ROLE_TENANT_ADMIN, put_cfg, 0,
     "Register or replace the notification endpoint; the signing secret is answered once, "
     "when it is created"},
    {"DELETE", "/v1/tenants/{tenant}/notifications", CH_ROLE_TENANT_ADMIN, delete_cfg, 0,
     "Remove the notification endpoint and its secret"},
    {"POST", "/v1/tenants/{tenant}/notifications/test", CH_ROLE_TENANT_ADMIN, test_send, 0,
     "Send a test notification now and answer the outcome"},
    {"GET", "/v1/tenants/{tenant}/notifications/log", CH_ROLE_TENANT_VIEWER, log_list, 0,
     "Recent notification deliveries, newest first"},
    {0},
};
