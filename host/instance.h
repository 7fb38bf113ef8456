/* instance.h -- the host side of c360_instance: one connection of one
 * tenant served by one plugin. The scheduler and pipeline (later) own these;
 * the host API reads them. */
#ifndef CH_INSTANCE_H
#define CH_INSTANCE_H

#include <stdint.h>

#include "connector_api.h"

#define CH_INSTANCE_MAGIC 0x696e7374u /* "inst" */

struct c360_instance {
    uint32_t magic;
    char *tenant;       /* owned */
    char *connection;   /* owned */
    const char *plugin; /* the plugin's name, owned by the loader */
    void *data;         /* from instance_open */
};

#endif
