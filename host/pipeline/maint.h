/* maint.h -- the master's maintenance thread: the scheduler's claims, the
 * queue gauges of /metrics, and retention.
 *
 *   every 100 ms   ch_sched_claim (repeated at once while a claim comes back
 *                  full, up to 20 rounds, so a backlog drains quickly)
 *   every 10 s     ch_maint_sample -> ch_metrics_set_gauges
 *   every hour     ch_maint_trim_tenant for every tenant (raw events past
 *                  pipeline.retention_days) and ch_audit_trim_retention
 *                  (audit.retention_days); the first pass 60 s after start
 *
 * Tenants come from c360:{idx}:tenants (SSCAN, so a large set is read in
 * pieces). Every host runs this thread: claims are exactly-once by
 * construction (scheduler.h), and sampling and trimming are idempotent.
 *
 * The thread blocks on its own Redis connection (rconn.h), never on the
 * event loop. Redis failures are logged once per outage (not every 100 ms)
 * and retried on the next period. */
#ifndef CH_MAINT_H
#define CH_MAINT_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "metrics.h"

typedef struct ch_maint_settings {
    int claim_period_ms;   /* 0 = no scheduler claims on this host */
    int sample_period_ms;  /* 0 = no gauge sampling */
    int trim_period_ms;    /* 0 = no retention trims */
    int trim_first_ms;     /* delay of the first trim pass after start */
    int retention_days;    /* raw events kept (pipeline.retention_days) */
} ch_maint_settings;

/* Starts the thread with the documented periods and the config's
 * retention; also applies the config to the scheduler (ch_sched_configure:
 * tick_floor_s, callback_timeout_ms). CH_OK, or CH_EIO if the thread cannot
 * be created (logged). Call once, after ch_rconn_configure and
 * ch_audit_configure. */
ch_err ch_maint_start(const ch_config *cfg);
/* The same with explicit periods (tests; a second host with claims off). */
ch_err ch_maint_start_with(const ch_maint_settings *s);
/* Wakes the thread and joins it (returns within one Redis command's
 * timeout at worst); closes its Redis connection. Safe without a start and
 * twice. */
void ch_maint_stop(void);

/* Sums the queue gauges over every tenant (see metrics.h). C360_OK, or
 * C360_EIO if the tenant set cannot be read; tenants whose sample failed are
 * skipped. sampled_at_ms is set to now. */
int32_t ch_maint_sample(ch_metrics_gauges *out);

/* Trims the tenant's raw events (c360:{t:T}:ev) and done deliveries
 * (c360:{t:T}:dl) older than older_than_ms, with XTRIM MINID ~, but never
 * past the oldest entry that is still pending in group w or not yet
 * delivered to it: the bound is min(older_than_ms-0, oldest pending id,
 * first undelivered id). *removed (may be NULL) gets the entries removed.
 * C360_OK, C360_EINVAL, C360_EIO. */
int32_t ch_maint_trim_tenant(const char *tenant, int64_t older_than_ms,
                             uint64_t *removed);

#endif
