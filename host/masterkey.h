/* masterkey.h -- where the master key comes from.
 *
 * Order: master_key_file (config or --master-key-file), then the
 * C360_MASTER_KEY environment variable, then -- in the development default
 * only -- data_dir/master.key, created with mode 0600 if absent. A key file
 * readable by group or others is refused. A key is 32 bytes written as 64
 * hex characters. The secrets service (sealing) builds on this. */
#ifndef CH_MASTERKEY_H
#define CH_MASTERKEY_H

#include <stddef.h>

#include "err.h"

#define CH_MASTER_KEY_BYTES 32

typedef enum { CH_KEY_FROM_FILE, CH_KEY_FROM_ENV, CH_KEY_DEV_GENERATED, CH_KEY_DEV_FILE } ch_key_origin;

/* key must point at CH_MASTER_KEY_BYTES of (preferably locked) memory. */
ch_err ch_master_key_load(const char *file, const char *data_dir, int dev,
                          unsigned char *key, ch_key_origin *origin,
                          char *err, size_t errcap);

#endif
