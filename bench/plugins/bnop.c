/* bnop.c -- "bnop", the plugin call overhead benchmark's no-op source
 * (bench/call_overhead.c, issue 8 scenario 4).
 *
 * tick and event return C360_OK and do nothing else, so that what the
 * benchmark measures around them is the host's own cost per call. The
 * other callbacks are the least a loadable source needs. Config: any JSON
 * object (not looked at). */
#include <stdlib.h>

#include "connector_api.h"

static const char bnop_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"bnop (no-op benchmark source)\",\"type\":\"object\"}";

static int bnop_instance_token; /* instance_data: any non-NULL pointer */

static int32_t bnop_init(c360_call *call, const c360_host_api *host, void **plugin_data)
{
    (void)call;
    *plugin_data = (void *)host;
    return C360_OK;
}

static void bnop_fini(void *plugin_data)
{
    (void)plugin_data;
}

static int32_t bnop_validate_config(c360_call *call, void *plugin_data, const char *json,
                                    size_t len)
{
    (void)call; (void)plugin_data; (void)json; (void)len;
    return C360_OK;
}

static int32_t bnop_instance_open(c360_call *call, void *plugin_data, c360_instance *inst,
                                  const char *json, size_t len, void **instance_data)
{
    (void)call; (void)plugin_data; (void)inst; (void)json; (void)len;
    *instance_data = &bnop_instance_token;
    return C360_OK;
}

static void bnop_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data; (void)instance_data;
}

static int32_t bnop_tick(c360_call *call, void *plugin_data, void *instance_data)
{
    (void)call; (void)plugin_data; (void)instance_data;
    return C360_OK;
}

static int32_t bnop_event(c360_call *call, void *plugin_data, void *instance_data,
                          const c360_event *ev)
{
    (void)call; (void)plugin_data; (void)instance_data; (void)ev;
    return C360_OK;
}

static int32_t bnop_webhook_verify(c360_call *call, void *plugin_data, void *instance_data,
                                   const c360_webhook *req, c360_webhook_reply *reply)
{
    (void)call; (void)plugin_data; (void)instance_data; (void)req; (void)reply;
    return C360_VERDICT_ACCEPT;
}

static const c360_plugin_desc bnop_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "bnop",
    .version = "1.0.0",
    .description = "benchmark source whose callbacks do nothing (call overhead)",
    .config_schema = bnop_schema,
    .init = bnop_init,
    .fini = bnop_fini,
    .validate_config = bnop_validate_config,
    .instance_open = bnop_instance_open,
    .instance_close = bnop_instance_close,
    .tick = bnop_tick,
    .webhook_verify = bnop_webhook_verify,
    .event = bnop_event,
};

C360_PLUGIN_ENTRY
{
    return &bnop_desc;
}
