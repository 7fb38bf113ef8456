/* hostapi.h -- the c360_host_api table the daemon hands to plugins. */
#ifndef CH_HOSTAPI_H
#define CH_HOSTAPI_H

#include "connector_api.h"

/* The process-wide table (static storage, never freed). */
const c360_host_api *ch_host_api(void);

#endif
