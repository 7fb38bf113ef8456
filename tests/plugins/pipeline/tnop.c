/* tnop.c -- "tnop", a source plugin that does nothing, as fast as it can.
 *
 * For what the pipeline itself costs, without a plugin's own work in the
 * figures: the scheduler at scale (thousands of connections ticking), and
 * the per-call overhead of the host (event and tick dispatch). tick and
 * event return OK at once; webhook_verify accepts every request unsigned
 * (a test plugin only: anyone can post to a tnop URL) and names no dedup
 * key. With config {"emit": true} event and tick emit one small record each
 * (id: the host's event id, or "tnop-tick-<connection>-<n>" with a
 * per-process counter), to measure record and delivery overhead. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ABI 1.2 (record_emit) only for "emit", tested before use. */
#define C360_PLUGIN_REQUIRES_MINOR 1

#include "connector_api.h"
#include "tp_util.h"

static const char tnop_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"tnop (no-op source)\",\"type\":\"object\","
    "\"additionalProperties\":false,"
    "\"properties\":{\"emit\":{\"type\":\"boolean\",\"default\":false}}}";

typedef struct tnop_plugin {
    const c360_host_api *host;
} tnop_plugin;

typedef struct tnop_conn {
    const c360_instance *inst;
    bool emit;
    atomic_uint_fast64_t ticks;
} tnop_conn;

static int32_t tnop_parse(const c360_host_api *host, c360_call *call,
                          const char *json, size_t len, bool *emit)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    int errors = 0;
    if (!json_is_object(doc)) {
        if (call)
            host->config_error(call, "", "must be a JSON object");
        json_decref(doc);
        return C360_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "emit") == 0 && json_is_boolean(v)) {
            if (emit)
                *emit = json_is_true(v);
        } else if (strcmp(key, "emit") == 0) {
            tp_config_bad(host, call, &errors, "/emit", "must be a boolean");
        } else {
            tp_config_unknown(host, call, &errors, key);
        }
    }
    json_decref(doc);
    return errors ? C360_EINVAL : C360_OK;
}

static int32_t tnop_init(c360_call *call, const c360_host_api *host,
                         void **plugin_data)
{
    /* Only "emit" needs ABI 1.2 (record_emit): checked where it is used,
     * so tnop's no-op paths run on any 1.x host. */
    if (!C360_HOST_HAS(host, instance_connection)) {
        if (host != NULL && host->call_error != NULL)
            host->call_error(call, "tnop needs a 1.x host table");
        return C360_EUNSUPPORTED;
    }
    tnop_plugin *p = calloc(1, sizeof *p);
    if (p == NULL)
        return C360_ENOMEM;
    p->host = host;
    *plugin_data = p;
    return C360_OK;
}

static void tnop_fini(void *plugin_data)
{
    free(plugin_data);
}

static int32_t tnop_validate_config(c360_call *call, void *plugin_data,
                                    const char *json, size_t len)
{
    tnop_plugin *p = plugin_data;
    return tnop_parse(p->host, call, json, len, NULL);
}

static int32_t tnop_instance_open(c360_call *call, void *plugin_data,
                                  c360_instance *inst, const char *json,
                                  size_t len, void **instance_data)
{
    tnop_plugin *p = plugin_data;
    bool emit = false;
    int32_t st = tnop_parse(p->host, NULL, json, len, &emit);
    if (st != C360_OK) {
        p->host->call_error(call, "config not valid");
        return st;
    }
    tnop_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return C360_ENOMEM;
    c->inst = inst;
    c->emit = emit;
    atomic_init(&c->ticks, 0);
    *instance_data = c;
    return C360_OK;
}

static void tnop_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    free(instance_data);
}

static int32_t tnop_webhook_verify(c360_call *call, void *plugin_data,
                                   void *instance_data, const c360_webhook *req,
                                   c360_webhook_reply *reply)
{
    (void)call; (void)plugin_data; (void)instance_data; (void)req; (void)reply;
    return C360_VERDICT_ACCEPT;
}

static int32_t tnop_event(c360_call *call, void *plugin_data, void *instance_data,
                          const c360_event *ev)
{
    tnop_plugin *p = plugin_data;
    tnop_conn *c = instance_data;
    if (c == NULL || !c->emit)
        return C360_OK;
    if (!C360_HOST_HAS(p->host, record_emit))
        return C360_EUNSUPPORTED;
    return p->host->record_emit(call, "nop", ev->event_id, "{}", 2);
}

static int32_t tnop_tick(c360_call *call, void *plugin_data, void *instance_data)
{
    tnop_plugin *p = plugin_data;
    tnop_conn *c = instance_data;
    if (!c->emit)
        return C360_OK;
    if (!C360_HOST_HAS(p->host, record_emit))
        return C360_EUNSUPPORTED;
    char id[160];
    snprintf(id, sizeof id, "tnop-tick-%s-%" PRIuFAST64,
             p->host->instance_connection(c->inst),
             (uint_fast64_t)atomic_fetch_add(&c->ticks, 1) + 1);
    return p->host->record_emit(call, "nop", id, "{}", 2);
}

static const c360_plugin_desc tnop_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "tnop",
    .version = "1.0.0",
    .description = "pipeline test source that does nothing (overhead benchmarks)",
    .config_schema = tnop_schema,
    .init = tnop_init,
    .fini = tnop_fini,
    .validate_config = tnop_validate_config,
    .instance_open = tnop_instance_open,
    .instance_close = tnop_instance_close,
    .tick = tnop_tick,
    .webhook_verify = tnop_webhook_verify,
    .event = tnop_event,
};

C360_PLUGIN_ENTRY
{
    return &tnop_desc;
}
