/* svc.h -- what every host service shares: who a call acts for, and the
 * operator's limits. The services are plain C modules with a ch_<service>_
 * API that takes explicit (tenant, connection) scopes -- tests and the admin
 * API call them directly -- and hostapi.c adapts the plugin-facing table
 * onto them, taking the scope from the call's instance (never from the
 * plugin). */
#ifndef CH_SVC_H
#define CH_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"

/* Who a call acts for. Filled by ch_svc_scope from a call. */
typedef struct ch_scope {
    const char *tenant;
    const char *connection;
    const char *plugin;
    const char *request_id;
} ch_scope;

/* C360_OK with *out filled, or C360_EINVAL if the call has no valid
 * instance (plugin-wide callbacks such as init cannot use per-connection
 * services). */
int32_t ch_svc_scope(c360_call *call, ch_scope *out);

/* Operator limits shared by the services (set from the config at start). */
typedef struct ch_svc_limits {
    size_t state_max_value;      /* default 1 MiB */
    size_t secret_max_value;     /* default 64 KiB */
} ch_svc_limits;

extern ch_svc_limits ch_svc_limits_current;

#endif
