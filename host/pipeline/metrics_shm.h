/* metrics_shm.h -- the layout of the shared metrics region; private to
 * metrics.c (the writers) and metrics_text.c (the renderer).
 *
 * Fixed size, no pointers: the region is mapped once by the master and
 * inherited by every forked worker, so the same offsets mean the same
 * counters in every process. Every field a process writes while others
 * read is an atomic, which makes cross-process access well defined (the
 * atomics are lock-free, hence address-free, as C11 requires for shared
 * memory between processes). */
#ifndef CH_METRICS_SHM_H
#define CH_METRICS_SHM_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "httpc.h"
#include "metrics.h"

#define CH_MHIST_MAX 14 /* the largest bucket count of any histogram */

/* Non-cumulative buckets: bucket[i] counts observations <= bounds[i] and
 * > bounds[i-1]; bucket[nbounds] is everything above (+Inf). */
typedef struct ch_mhist {
    _Atomic uint64_t bucket[CH_MHIST_MAX + 1];
    _Atomic uint64_t sum;
    _Atomic uint64_t count;
} ch_mhist;

/* ch_httpc_metrics is a struct of uint64_t only: handled as an array. */
#define CH_MHTTPC_N (sizeof(ch_httpc_metrics) / sizeof(uint64_t))

/* One worker process's outbound-HTTP counters. A sequence lock (odd while
 * the owner writes) lets the master read cur + retired consistently: a
 * takeover moves cur into retired, and a reader must never see both. */
typedef struct ch_mhttpc {
    _Atomic uint64_t seq;
    _Atomic int32_t pid;      /* the process that last published; 0 = none */
    _Atomic uint64_t cur[CH_MHTTPC_N];
    _Atomic uint64_t retired[CH_MHTTPC_N];
} ch_mhttpc;

enum { CH_MG_EV_DEPTH, CH_MG_EV_PENDING, CH_MG_EV_LAG, CH_MG_DL_DEPTH,
       CH_MG_DL_PENDING, CH_MG_DL_LAG, CH_MG_DLQ_LEN, CH_MG_TENANTS,
       CH_MG_SAMPLED_AT, CH_MG__COUNT };

typedef struct ch_mregion {
    uint32_t n_plugins;       /* slots in use (written before fork) */
    pid_t master_pid;         /* written before fork */
    _Atomic uint64_t counters[CH_M__COUNT];
    _Atomic uint64_t dropped; /* observations for plugin slots out of range */
    _Atomic int64_t gauges[CH_MG__COUNT];
    ch_mhist delivery;
    ch_mhttpc httpc[CH_METRICS_MAX_WORKERS];
    ch_mhist cb[CH_METRICS_MAX_PLUGINS][CH_CB__COUNT];
} ch_mregion;

/* The mapped region, or NULL before init / after shutdown. */
ch_mregion *ch_metrics_region(void);

/* Reads a worker slot consistently into cur + retired summed. */
void ch_metrics_httpc_slot_read(ch_mhttpc *slot, uint64_t out[CH_MHTTPC_N]);

#endif
