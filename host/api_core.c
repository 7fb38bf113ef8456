/* api_core.c -- liveness and readiness (the plugin list is an admin API
 * route now: api_meta.c). */
#include <stdio.h>

#include <jansson.h>

#include "connector_api.h"
#include "daemon.h"
#include "http.h"

/* Alive: the loop answers. Nothing else is checked, on purpose: a liveness
 * probe that fails when Redis is down would get a healthy host restarted. */
static void healthz(ch_req *r, void *arg)
{
    (void)arg;
    ch_req_json(r, 200, json_pack("{s:s}", "status", "alive"));
}

/* Ready: Redis answers and plugins are loaded. 503 lists every reason. */
static void readyz(ch_req *r, void *arg)
{
    ch_daemon *d = arg;
    json_t *reasons = json_array();
    ch_redis *redis = ch_daemon_redis(d);
    if (!ch_redis_ready(redis)) {
        json_array_append_new(reasons, json_pack("{s:s, s:s}", "component", "redis",
                                                 "reason", ch_redis_status(redis)));
    }
    if (ch_loader_count(ch_daemon_loader(d)) == 0) {
        json_array_append_new(reasons, json_pack("{s:s, s:s}", "component", "plugins",
                                                 "reason", "no plugin loaded (see GET /v1/plugins for refusals)"));
    }
    if (!ch_daemon_conns_loaded(d)) {
        json_array_append_new(reasons, json_pack("{s:s, s:s}", "component", "connections",
                                                 "reason", "connection cache not loaded yet"));
    }
    if (ch_daemon_draining(d)) {
        json_array_append_new(reasons, json_pack("{s:s, s:s}", "component", "host",
                                                 "reason", "shutting down"));
    }
    if (json_array_size(reasons) == 0) {
        json_decref(reasons);
        ch_req_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    ch_req_json(r, 503, json_pack("{s:s, s:o}", "status", "not_ready", "reasons", reasons));
}

void ch_api_core_register(ch_http *h, ch_daemon *d)
{
    ch_http_route(h, "GET", "/healthz", healthz, d);
    ch_http_route(h, "GET", "/readyz", readyz, d);
}
