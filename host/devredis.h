/* devredis.h -- the development default: a private redis-server.
 *
 * With no redis.url configured, c360d starts its own redis-server on a Unix
 * socket under the data directory, with AOF on, so that `scripts/run` works
 * on a machine with nothing set up. The child dies with c360d (it is sent
 * SIGTERM when the parent exits, even on kill -9). Not for production. */
#ifndef CH_DEVREDIS_H
#define CH_DEVREDIS_H

#include <sys/types.h>

#include "err.h"

typedef struct ch_devredis ch_devredis;

/* Starts `bin` with its files in data_dir/redis and waits (up to 5 s) for
 * the socket to appear. The socket path is data_dir/redis/redis.sock. */
ch_err ch_devredis_start(const char *bin, const char *data_dir,
                         ch_devredis **out, char *err, size_t errcap);
const char *ch_devredis_socket(const ch_devredis *d);
pid_t ch_devredis_pid(const ch_devredis *d);
/* Non-blocking: 1 if the child has exited (and was reaped), else 0. */
int ch_devredis_reap(ch_devredis *d);
/* Starts the server again after it exited (same files, same socket). */
ch_err ch_devredis_restart(ch_devredis *d, char *err, size_t errcap);
/* Sends SIGTERM, waits up to 5 s (AOF fsync), then SIGKILL; frees. */
void ch_devredis_stop(ch_devredis *d);

#endif
