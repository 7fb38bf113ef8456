/* conn_ops.h -- what the admin API does to connections beyond storing them
 * (conn_ops.c): disconnecting. Shared by DELETE .../connections/{conn} and
 * tenant deletion. */
#ifndef CH_CONN_OPS_H
#define CH_CONN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* How long after a connection is disabled every worker has seen it (they
 * cache connection states for a second): only then are its events
 * deleted, so none is processed after the disconnect answered. */
#define CH_DISCONNECT_SETTLE_MS 1500

/* Disconnects a connection for good: its ticks stop and its webhooks are
 * refused from now on (410), the plugin's disconnect callback runs (to
 * unsubscribe and revoke tokens at the provider; its outcome is written to
 * outcome[cap], e.g. "ok" or "plugin: C360_EIO: revoke failed"), then the
 * connection, its secrets, state, OAuth tokens and pending events are
 * purged (ch_conn_purge) and the deletion is audited with that outcome.
 * The callback's failure never keeps the data: the customer asked for it to
 * be gone. BLOCKS: admin threads only. C360_ENOTFOUND if the tenant has no
 * such connection. */
int32_t ch_conn_disconnect(ch_admin *a, const char *tenant, const char *conn,
                           const char *actor, const char *request_id,
                           char *outcome, size_t cap);

/* Waits up to timeout_ms for every disconnect callback still running on
 * its helper thread (one that overran its deadline) to return; returns how
 * many still run. c360d calls it before it closes instances and unloads
 * plugins, and skips the unloading if any still run. */
unsigned ch_conn_ops_wait_idle(int64_t timeout_ms);

#endif
