/* daemon.h -- c360d's master process: owns the event loop, the Redis
 * connection, the loaded plugins and the HTTP listener, and handles signals
 * (SIGTERM/SIGINT: drain and exit 0; SIGHUP: re-read the configuration). */
#ifndef CH_DAEMON_H
#define CH_DAEMON_H

#include <jansson.h>

#include "config.h"
#include "loader.h"
#include "redis.h"

typedef struct ch_daemon ch_daemon;

/* Runs until a shutdown signal. config_file may be NULL; overrides (from
 * flags, may be NULL) are re-applied on every SIGHUP. Returns the process
 * exit status: 0 after a clean shutdown, 1 on a start-up failure, 2 on a
 * configuration error. */
int ch_daemon_run(const char *config_file, json_t *overrides,
                  const char *default_plugin_dir);

/* For route handlers. */
const ch_loader *ch_daemon_loader(const ch_daemon *d);
ch_redis *ch_daemon_redis(const ch_daemon *d);
int ch_daemon_draining(const ch_daemon *d);
/* The connection cache has completed its first load (webhooks can route). */
int ch_daemon_conns_loaded(const ch_daemon *d);

/* Registers /healthz and /readyz (api_core.c). */
struct ch_http;
void ch_api_core_register(struct ch_http *h, ch_daemon *d);

#endif
