/* conn_config.h -- checking a connection's config for its plugin: the
 * plugin's config_schema (jsonschema.h, the supported subset of draft
 * 2020-12), then the plugin's validate_config callback. Shared by create,
 * update and the dry run of the connections resource (api_conns.c). */
#ifndef CH_CONN_CONFIG_H
#define CH_CONN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "loader.h"

/* Outcomes of ch_conn_config_check. */
#define CH_CFG_OK 0
#define CH_CFG_INVALID 1        /* details hold the problems */
#define CH_CFG_SCHEMA_BROKEN 2  /* the plugin's schema cannot be applied:
                                   details hold one entry at /config naming
                                   the plugin's schema (and it is logged) */

/* Checks config (any JSON value; the schema decides) for plugin p.
 * Appends {"path": "/config<pointer>", "message"} to details (an array)
 * for each problem: first the schema's; only when the schema accepts the
 * config, the plugin's validate_config (run here, on the calling thread,
 * with a c360_call of its own whose deadline is timeout_ms, 0 = none;
 * plugin-reported pointers are re-rooted under /config, at most
 * CH_CALL_CFGERR_MAX of them, messages cut to 300 bytes). */
int ch_conn_config_check(const ch_plugin *p, const json_t *config, const char *request_id,
                         int64_t timeout_ms, json_t *details);

#endif
