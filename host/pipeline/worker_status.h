/* worker_status.h -- what a plugin reports about its connection
 * (host->connection_status, ABI 1.2), applied to the connection registry.
 *
 * A plugin knows when its credentials died (needs_reauth), when the
 * provider keeps failing (failing) and when it works again (active). The
 * operator's own states win: a paused or disabled connection stays so
 * whatever the plugin says. A report that changes nothing (the same state
 * and cause, e.g. "active" after every successful tick) writes nothing, so
 * it costs one read and no publish or audit entry. Changes go through
 * conns.h ch_conn_set_state, which mirrors the state for the admin API
 * (connstatus.h), fixes the schedule (needs_reauth stops ticks) and audits
 * with the actor "plugin:<plugin>". Blocks on Redis. */
#ifndef CH_WORKER_STATUS_H
#define CH_WORKER_STATUS_H

#include <stdint.h>

/* state: enum c360_conn_state. C360_OK, C360_EINVAL (unknown state, bad
 * ids), C360_ENOTFOUND (connection gone), C360_EIO. */
int32_t ch_worker_conn_status(const char *tenant, const char *conn,
                              const char *plugin, int32_t state,
                              const char *cause, const char *request_id);

#endif
