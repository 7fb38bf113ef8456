/* ingress_tp.c -- "ingress_tp", the test plugin of the ingress, connection
 * registry and instance unit tests (tests/unit/test_ingress.c,
 * test_instances.c). Small and explicit, so a failing test points at the
 * host, not at the plugin:
 *
 *  config          {"token": "...", "route_keys": ["page:1", ...],
 *                   "open_fail": false}
 *  instance_open   keeps the token and "tag", registers route_keys with
 *                  host->instance_route_keys (when given);
 *                  "open_fail": true -> C360_RETRY.
 *  webhook_verify  GET with query "challenge=<x>" -> REPLIED with <x>;
 *                  header x-itp-forbid present -> REJECT with 403;
 *                  header x-itp-token must equal the instance's token
 *                  (per-connection URL) or "app-secret" (app-level URL),
 *                  else REJECT (status left at 200: the host must send
 *                  401); header x-itp-dedup -> call_dedup_key.
 *  webhook_route   header x-itp-route: "k1,k2,..." -> route_event(k, dedup
 *                  from x-itp-dedup).
 *  event           C360_OK (the ingress tests do not run workers).
 *
 * Built twice: ITP_NO_WEBHOOK gives "ingress_tp_nowh", a destination-only
 * plugin whose hooks must be 404. The tests read the instance data
 * (tests/unit/pipeline_fixture.h has the same layout). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connector_api.h"

#ifdef ITP_NO_WEBHOOK
#define ITP_NAME "ingress_tp_nowh"
#define ITP_CAPS C360_CAP_DESTINATION
#else
#define ITP_NAME "ingress_tp"
#define ITP_CAPS C360_CAP_SOURCE_WEBHOOK
#endif

static const c360_host_api *host;

/* The instance data; the unit tests read it (same layout there). */
typedef struct itp_inst {
    char token[128];
    char config_tag[64]; /* config "tag": tells versions apart */
} itp_inst;

static int32_t itp_init(c360_call *call, const c360_host_api *h, void **data)
{
    (void)call;
    host = h;
    *data = NULL;
    return C360_OK;
}

static int32_t itp_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    (void)call;
    (void)pd;
    json_t *j = json_loadb(json, len, 0, NULL);
    int ok = j && json_is_object(j);
    json_decref(j);
    return ok ? C360_OK : C360_EINVAL;
}

static int32_t itp_open(c360_call *call, void *pd, c360_instance *inst, const char *json,
                        size_t len, void **data)
{
    (void)pd;
    (void)inst;
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!j) return C360_EINVAL;
    if (json_is_true(json_object_get(j, "open_fail"))) {
        host->call_error(call, "open_fail set in config");
        json_decref(j);
        return C360_RETRY;
    }
    itp_inst *d = calloc(1, sizeof *d);
    if (!d) {
        json_decref(j);
        return C360_ENOMEM;
    }
    const char *tok = json_string_value(json_object_get(j, "token"));
    const char *tag = json_string_value(json_object_get(j, "tag"));
    strncpy(d->token, tok ? tok : "", sizeof d->token - 1);
    strncpy(d->config_tag, tag ? tag : "", sizeof d->config_tag - 1);
    json_t *rk = json_object_get(j, "route_keys");
    int32_t st = C360_OK;
    if (json_is_array(rk) && C360_HOST_HAS(host, instance_route_keys)) {
        size_t n = json_array_size(rk);
        const char **keys = calloc(n ? n : 1, sizeof *keys);
        for (size_t i = 0; keys && i < n; i++) keys[i] = json_string_value(json_array_get(rk, i));
        st = keys ? host->instance_route_keys(call, keys, (uint32_t)n) : C360_ENOMEM;
        free(keys);
    }
    json_decref(j);
    if (st != C360_OK) {
        free(d);
        return st;
    }
    *data = d;
    return C360_OK;
}

static void itp_close(void *pd, void *data)
{
    (void)pd;
    free(data);
}

#ifndef ITP_NO_WEBHOOK
static const char *header(const c360_webhook *req, const char *name)
{
    for (uint32_t i = 0; i < req->header_count; i++)
        if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static int32_t itp_verify(c360_call *call, void *pd, void *data, const c360_webhook *req,
                          c360_webhook_reply *reply)
{
    (void)pd;
    if (strcmp(req->method, "GET") == 0 && strncmp(req->query, "challenge=", 10) == 0) {
        size_t n = strlen(req->query + 10);
        if (n > sizeof reply->body_buf) n = sizeof reply->body_buf;
        memcpy(reply->body_buf, req->query + 10, n);
        reply->body_len = n;
        strcpy(reply->content_type, "text/plain");
        return C360_VERDICT_REPLIED;
    }
    if (header(req, "x-itp-forbid")) {
        reply->status = 403;
        return C360_VERDICT_REJECT;
    }
    const char *want = data ? ((itp_inst *)data)->token : "app-secret";
    const char *tok = header(req, "x-itp-token");
    if (!tok || !*want || strcmp(tok, want) != 0) return C360_VERDICT_REJECT;
    const char *dd = header(req, "x-itp-dedup");
    if (dd && C360_HOST_HAS(host, call_dedup_key)) host->call_dedup_key(call, dd);
    return C360_VERDICT_ACCEPT;
}

static int32_t itp_route(c360_call *call, void *pd, const c360_webhook *req)
{
    (void)pd;
    const char *r = header(req, "x-itp-route");
    if (!r) return C360_EINVAL;
    const char *dd = header(req, "x-itp-dedup");
    /* "k1,k2": each non-empty item is one routing key. */
    while (*r) {
        const char *end = strchr(r, ',');
        size_t n = end ? (size_t)(end - r) : strlen(r);
        char key[256];
        if (n > 0 && n < sizeof key) {
            memcpy(key, r, n);
            key[n] = '\0';
            host->route_event(call, key, dd);
        }
        r += n;
        if (*r == ',') r++;
    }
    return C360_OK;
}

static int32_t itp_event(c360_call *call, void *pd, void *data, const c360_event *ev)
{
    (void)call;
    (void)pd;
    (void)data;
    (void)ev;
    return C360_OK;
}

#else
static int32_t itp_deliver(c360_call *call, void *pd, void *data, const c360_record *rec)
{
    (void)call;
    (void)pd;
    (void)data;
    (void)rec;
    return C360_OK;
}
#endif

static const c360_plugin_desc desc = {
    C360_DESC_HEADER(ITP_CAPS),
    .name = ITP_NAME,
    .version = "1.0.0",
    .description = "ingress unit-test plugin",
    .config_schema = "{\"type\":\"object\"}",
    .init = itp_init,
    .validate_config = itp_validate,
    .instance_open = itp_open,
    .instance_close = itp_close,
#ifndef ITP_NO_WEBHOOK
    .webhook_verify = itp_verify,
    .event = itp_event,
    .webhook_route = itp_route,
#else
    .deliver = itp_deliver,
#endif
};

C360_PLUGIN_ENTRY { return &desc; }
