/* crm_generic.c -- the crm_generic plugin: a destination that POSTs (or
 * PUTs) normalised records to the customer's own HTTP endpoint. The
 * descriptor and its callbacks; the work is in crm_send.c. See crm.h for
 * the map of the files and docs/connectors/crm_generic.md for the
 * customer's guide.
 *
 * What the host does around it (docs/pipeline.md, "Deliveries"): it applies
 * the route's field mapping before deliver, so the record JSON handed over
 * is what the customer wants sent; it retries RETRY with the delay asked
 * for, holds THROTTLED (ABI 1.5: a 429 or the connection's own budget put
 * the record off unsent) without counting an attempt, dead-letters ERROR
 * with the call's error text, and on C360_EGONE
 * (HTTP 410) removes the route and sets the connection failing. A record's
 * id is the same on every retry and replay, so webhook-id is too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm.h"

/* A failing state with an unchanged cause is reported again at most this
 * often (each report is a Redis read on the host's side). */
#define CRM_REPORT_EVERY_MS 60000

static int32_t crm_init(c360_call *call, const c360_host_api *host, void **plugin_data)
{
    /* Everything below is used on every delivery: refuse a host without
     * it at load, rather than fail each delivery later. */
    if (!C360_HOST_HAS(host, http) || !C360_HOST_HAS(host, http_free) ||
        !C360_HOST_HAS(host, secret_get) || !C360_HOST_HAS(host, secret_free) ||
        !C360_HOST_HAS(host, ratelimit_take) ||
        !C360_HOST_HAS(host, ratelimit_feed_response) ||
        !C360_HOST_HAS(host, hmac_sha256) || !C360_HOST_HAS(host, sha256) ||
        !C360_HOST_HAS(host, base64_encode) || !C360_HOST_HAS(host, base64_decode) ||
        !C360_HOST_HAS(host, hex_encode) || !C360_HOST_HAS(host, connection_status)) {
        if (host && host->call_error)
            host->call_error(call, "crm_generic needs a host with ABI 1.2 services");
        return C360_EUNSUPPORTED;
    }
    crm_plugin *p = calloc(1, sizeof *p);
    if (!p)
        return C360_ENOMEM;
    p->host = host;
    const char *h = getenv(CRM_ALLOW_HTTP_ENV);
    p->allow_http = h && (strcmp(h, "1") == 0 || strcasecmp(h, "true") == 0 ||
                          strcasecmp(h, "yes") == 0);
    if (p->allow_http)
        host->log(call, C360_LOG_WARN,
                  "crm_generic: plain http:// endpoint URLs allowed (%s is set)",
                  CRM_ALLOW_HTTP_ENV);
    *plugin_data = p;
    return C360_OK;
}

static void crm_fini(void *plugin_data)
{
    free(plugin_data);
}

typedef struct crm_report_ctx {
    const c360_host_api *host;
    c360_call *call;
} crm_report_ctx;

static void crm_config_report(void *ctx, const char *pointer, const char *msg)
{
    crm_report_ctx *r = ctx;
    r->host->config_error(r->call, pointer, msg);
}

static int32_t crm_validate_config(c360_call *call, void *plugin_data, const char *json,
                                   size_t len)
{
    crm_plugin *p = plugin_data;
    crm_report_ctx r = {p->host, call};
    crm_cfg cfg;
    int32_t st = crm_cfg_parse(json, len, p->allow_http, crm_config_report, &r, &cfg);
    crm_cfg_free(&cfg);
    return st;
}

static int32_t crm_instance_open(c360_call *call, void *plugin_data, c360_instance *inst,
                                 const char *json, size_t len, void **instance_data)
{
    crm_plugin *p = plugin_data;
    crm_conn *c = calloc(1, sizeof *c);
    if (!c)
        return C360_ENOMEM;
    int32_t st = crm_cfg_parse(json, len, p->allow_http, NULL, NULL, &c->cfg);
    if (st != C360_OK) {
        free(c);
        /* Validated when stored: either the operator withdrew plain http
         * since, or the config predates a check. Saying which field needs
         * the validate endpoint; here only that it must be looked at. */
        if (st == C360_EINVAL)
            p->host->call_error(call, "config no longer valid (an http:// URL "
                                      "needs the operator's permission); "
                                      "validate and update it");
        return st;
    }
    if (crm_conn_secrets_init(c) != C360_OK) {
        crm_cfg_free(&c->cfg);
        free(c);
        return C360_ENOMEM;
    }
    c->inst = inst;
    atomic_init(&c->reported, -1);
    atomic_init(&c->reported_ms, 0);
    atomic_init(&c->reported_cause, 0);
    *instance_data = c;
    return C360_OK;
}

static void crm_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    crm_conn *c = instance_data;
    if (!c)
        return;
    /* The kept secrets are wiped and released here: a put or delete of a
     * secret reopens the instance (crm_secrets.c). */
    crm_conn_secrets_fini(c);
    crm_cfg_free(&c->cfg);
    free(c);
}

static uint64_t crm_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* What the call learnt, told to the host: the wait for retried records,
 * the error text (delivery log, dead letter), and the connection's state
 * when this instance has something new to say:
 *
 *  - failing, with a cause the customer can act on (a secret missing or
 *    unusable, credentials refused, a redirect, an address the operator's
 *    policy refuses), when this instance has not reported it, the cause
 *    changed, or a minute passed;
 *  - active after a success, only on the instance's first success (a
 *    config change opens a new instance: the fix of a URL clears what the
 *    old one reported) or after this instance reported failing. Never on
 *    every success: the host sets a destination failing itself when it
 *    answers 410 Gone, and a success on another route of the connection
 *    must not wipe that cause off the customer's screen at once. */
static void crm_finish(const crm_plugin *p, crm_conn *c, c360_call *call,
                       const int32_t *statuses, size_t n, const crm_call_out *out)
{
    const c360_host_api *host = p->host;
    bool retried = false;
    for (size_t i = 0; i < n; i++)
        retried |= statuses[i] == C360_RETRY || statuses[i] == C360_THROTTLED;
    if (retried)
        host->call_retry_after(call, out->retry_ms);
    if (out->error[0])
        host->call_error(call, "%s", out->error);

    int prev = atomic_load(&c->reported);
    int64_t now = host->monotonic_ms();
    if (out->conn_failing) {
        uint64_t h = crm_hash(out->cause);
        if (prev == C360_CONN_FAILING && atomic_load(&c->reported_cause) == h &&
            now - atomic_load(&c->reported_ms) < CRM_REPORT_EVERY_MS)
            return;
        if (host->connection_status(call, C360_CONN_FAILING, out->cause) == C360_OK) {
            atomic_store(&c->reported, C360_CONN_FAILING);
            atomic_store(&c->reported_cause, h);
            atomic_store(&c->reported_ms, now);
        }
    } else if (out->any_ok && (prev != C360_CONN_ACTIVE || now - atomic_load(&c->reported_ms) >=
                                                               CRM_REPORT_EVERY_MS)) {
        /* Re-asserted now and then: the host may hold the connection
         * failing for a reason of its own (a route stopped by a 410) and
         * ignores this until the customer has dealt with it; after that the
         * next success within a report period brings it back. */
        if (host->connection_status(call, C360_CONN_ACTIVE, "") == C360_OK) {
            atomic_store(&c->reported, C360_CONN_ACTIVE);
            atomic_store(&c->reported_ms, now);
        }
    }
}

static int32_t crm_deliver(c360_call *call, void *plugin_data, void *instance_data,
                           const c360_record *rec)
{
    crm_plugin *p = plugin_data;
    crm_conn *c = instance_data;
    const c360_record *recs[1] = {rec};
    int32_t status = C360_RETRY;
    crm_call_out out;
    if (crm_deliver_records(p, c, call, recs, 1, &status, &out) == C360_ENOMEM)
        return C360_ENOMEM;
    crm_finish(p, c, call, &status, 1, &out);
    return status;
}

static int32_t crm_deliver_batch(c360_call *call, void *plugin_data, void *instance_data,
                                 const c360_record *const *recs, size_t n,
                                 int32_t *statuses)
{
    crm_plugin *p = plugin_data;
    crm_conn *c = instance_data;
    crm_call_out out;
    if (n == 0)
        return C360_OK;
    int32_t st = crm_deliver_records(p, c, call, recs, n, statuses, &out);
    if (st == C360_ENOMEM)
        return C360_ENOMEM;
    crm_finish(p, c, call, statuses, n, &out);
    return C360_OK;
}

static int32_t crm_disconnect(c360_call *call, void *plugin_data, void *instance_data)
{
    crm_plugin *p = plugin_data;
    (void)instance_data;
    /* crm_generic registered nothing at the endpoint and holds no token
     * it could revoke there: the customer's endpoint keeps whatever
     * credentials it issued, and the host deletes the copies it kept (the
     * connection's secrets) after this returns. */
    p->host->log(call, C360_LOG_INFO, "disconnected: nothing to revoke at the endpoint");
    return C360_OK;
}

static const c360_plugin_desc crm_desc = {
    C360_DESC_HEADER(C360_CAP_DESTINATION),
    .name = "crm_generic",
    .version = CRM_VERSION,
    .description = "Delivers records to your HTTP endpoint (CRM, webhook "
                   "receiver): bearer, basic, API-key header or Standard "
                   "Webhooks signatures; optional batching",
    .config_schema = crm_config_schema,
    .init = crm_init,
    .fini = crm_fini,
    .validate_config = crm_validate_config,
    .instance_open = crm_instance_open,
    .instance_close = crm_instance_close,
    .deliver = crm_deliver,
    .disconnect = crm_disconnect,
    .deliver_batch = crm_deliver_batch,
};

C360_PLUGIN_ENTRY
{
    return &crm_desc;
}
