/* hostapi.h -- the c360_host_api table the daemon hands to plugins. */
#ifndef CH_HOSTAPI_H
#define CH_HOSTAPI_H

#include "connector_api.h"

/* The process-wide table (static storage, never freed). */
const c360_host_api *ch_host_api(void);

/* Records the calling thread as the event loop's: blocking services called
 * from it are refused (C360_EDENIED) instead of stalling every webhook. */
void ch_hostapi_set_loop_thread(void);

#endif
