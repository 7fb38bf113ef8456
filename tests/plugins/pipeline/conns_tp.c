/* conns_tp.c -- test plugins of the admin API's connection resources (see
 * conns_tp.cmake). One source, four plugins by compile definition:
 *
 *   tconn      tick + per-connection webhooks. Config schema: region
 *              ("eu"|"us", required), page_ids (array of digit strings),
 *              fail_disconnect (bool), slow_disconnect_ms (int).
 *              validate_config adds what a schema cannot say: page_ids
 *              must not be empty, and "us" needs page_ids.
 *              disconnect writes "<dir>/<tenant>.<conn>" (dir from the
 *              environment variable TCONN_MARK_DIR) holding "ok" or
 *              "failed", so a test can see that it ran and on which
 *              connection; fail_disconnect makes it fail with C360_EIO
 *              "revoke failed", slow_disconnect_ms sleeps first.
 *   tconn_app  the same, with webhook_route (app-level URL).
 *   tconn_dst  a destination (deliver accepts everything).
 *   tconn_bad  a schema with a broken regular expression. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "connector_api.h"

#if defined(TCONN_DST)
#define TC_NAME "tconn_dst"
#define TC_CAPS C360_CAP_DESTINATION
#elif defined(TCONN_APP)
#define TC_NAME "tconn_app"
#define TC_CAPS (C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK)
#elif defined(TCONN_BAD)
#define TC_NAME "tconn_bad"
#define TC_CAPS C360_CAP_SOURCE_TICK
#else
#define TC_NAME "tconn"
#define TC_CAPS (C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK)
#endif

#if defined(TCONN_BAD)
static const char tc_schema[] =
    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"pattern\":\"([a-z\"}}}";
#elif defined(TCONN_DST)
static const char tc_schema[] = "{\"type\":\"object\"}";
#else
static const char tc_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
    "\"additionalProperties\":false,\"required\":[\"region\"],"
    "\"properties\":{\"region\":{\"enum\":[\"eu\",\"us\"]},"
    "\"page_ids\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"}},"
    "\"fail_disconnect\":{\"type\":\"boolean\"},"
    "\"slow_disconnect_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":60000}}}";
#endif

static const c360_host_api *g_host;

typedef struct tc_conn {
    const c360_instance *inst;
    int fail_disconnect;
    long slow_ms;
} tc_conn;

static int32_t tc_init(c360_call *call, const c360_host_api *host, void **pd)
{
    (void)call;
    g_host = host;
    *pd = NULL;
    return C360_OK;
}

static int32_t tc_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    (void)pd;
    json_t *doc = json_loadb(json, len, 0, NULL);
    if (!json_is_object(doc)) {
        g_host->config_error(call, "", "must be an object");
        json_decref(doc);
        return C360_EINVAL;
    }
    int bad = 0;
    json_t *ids = json_object_get(doc, "page_ids");
    if (json_is_array(ids) && json_array_size(ids) == 0) {
        g_host->config_error(call, "/page_ids", "must name at least one page");
        bad = 1;
    }
    const char *region = json_string_value(json_object_get(doc, "region"));
    if (region && strcmp(region, "us") == 0 && !ids) {
        g_host->config_error(call, "/page_ids", "is required in region us");
        bad = 1;
    }
    json_decref(doc);
    return bad ? C360_EINVAL : C360_OK;
}

static int32_t tc_open(c360_call *call, void *pd, c360_instance *inst, const char *json,
                       size_t len, void **idata)
{
    (void)call;
    (void)pd;
    tc_conn *c = calloc(1, sizeof *c);
    if (!c) return C360_ENOMEM;
    c->inst = inst;
    json_t *doc = json_loadb(json, len, 0, NULL);
    c->fail_disconnect = json_is_true(json_object_get(doc, "fail_disconnect"));
    c->slow_ms = (long)json_integer_value(json_object_get(doc, "slow_disconnect_ms"));
    json_decref(doc);
    *idata = c;
    return C360_OK;
}

static void tc_close(void *pd, void *idata)
{
    (void)pd;
    free(idata);
}

__attribute__((unused)) static int32_t tc_tick(c360_call *call, void *pd, void *idata)
{
    (void)call;
    (void)pd;
    (void)idata;
    return C360_OK;
}

__attribute__((unused)) static int32_t tc_verify(c360_call *call, void *pd, void *idata, const c360_webhook *req,
                         c360_webhook_reply *reply)
{
    (void)call;
    (void)pd;
    (void)idata;
    (void)req;
    (void)reply;
    return C360_VERDICT_ACCEPT;
}

__attribute__((unused)) static int32_t tc_event(c360_call *call, void *pd, void *idata, const c360_event *ev)
{
    (void)call;
    (void)pd;
    (void)idata;
    (void)ev;
    return C360_OK;
}

__attribute__((unused)) static int32_t tc_deliver(c360_call *call, void *pd, void *idata, const c360_record *rec)
{
    (void)call;
    (void)pd;
    (void)idata;
    (void)rec;
    return C360_OK;
}

static int32_t tc_disconnect(c360_call *call, void *pd, void *idata)
{
    (void)pd;
    tc_conn *c = idata;
    if (c->slow_ms > 0) {
        struct timespec ts = {c->slow_ms / 1000, (c->slow_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *dir = getenv("TCONN_MARK_DIR");
    if (dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.%s", dir, g_host->instance_tenant(c->inst),
                 g_host->instance_connection(c->inst));
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(c->fail_disconnect ? "failed" : "ok", f);
            fclose(f);
        }
    }
    if (c->fail_disconnect) {
        g_host->call_error(call, "revoke failed");
        return C360_EIO;
    }
    return C360_OK;
}

#ifdef TCONN_APP
static int32_t tc_route(c360_call *call, void *pd, const c360_webhook *req)
{
    (void)call;
    (void)pd;
    (void)req;
    return C360_OK;
}
#endif

static const c360_plugin_desc tc_desc = {
    C360_DESC_HEADER(TC_CAPS),
    .name = TC_NAME,
    .version = "1.0.0",
    .description = "admin API test plugin",
    .config_schema = tc_schema,
    .init = tc_init,
    .validate_config = tc_validate,
    .instance_open = tc_open,
    .instance_close = tc_close,
#if TC_CAPS & C360_CAP_SOURCE_TICK
    .tick = tc_tick,
#endif
#if TC_CAPS & C360_CAP_SOURCE_WEBHOOK
    .webhook_verify = tc_verify,
    .event = tc_event,
#endif
#if TC_CAPS & C360_CAP_DESTINATION
    .deliver = tc_deliver,
#endif
    .disconnect = tc_disconnect,
#ifdef TCONN_APP
    .webhook_route = tc_route,
#endif
};

C360_PLUGIN_ENTRY
{
    return &tc_desc;
}
