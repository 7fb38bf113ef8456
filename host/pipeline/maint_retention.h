/* maint_retention.h -- per-tenant retention: a tenant's retention_days
 * (tenants.h; 0 = the operator's pipeline.retention_days applies) decides
 * how long its retained items live. The maintenance thread (maint.c) runs
 * a sweep over the tenant registry in the same period as the trim pass,
 * one SSCAN page per turn, and for each tenant with retention_days > 0
 * removes what is older than that from:
 *
 *   c360:{t:T}:ev, :dl          raw events and finished deliveries -- never
 *                               past the oldest entry a group still needs
 *                               (pending or unread), as maint_trim.c
 *   c360:{t:T}:dlq              dead letters (by the time they became one)
 *   c360:{t:T}:dlog:<c>         delivery logs   } of every connection in
 *   c360:{t:T}:synclog:<c>      sync logs       } c360:{t:T}:conns
 *   c360:{t:T}:notify:log, :q   notification log and outbox
 *
 * Stream entry ids are their times, so "older" is exact: each stream is
 * trimmed with XTRIM MINID ~ <cutoff> LIMIT <budget> (whole nodes, cheap),
 * then -- when that was not cut short by the budget -- XTRIM MINID =
 * <cutoff>, which then only has the one node left that straddles the
 * cutoff. A stream with more to remove than the budget says so and is
 * finished by the following passes: the work of one pass is bounded.
 *
 * The trim pass (maint.c) also reads a tenant's retention_days, so that
 * the operator's default never cuts a tenant's events earlier than the
 * tenant's own setting allows (ch_retention_cutoff). Blocking (rconn.h):
 * the maintenance thread, or tests. */
#ifndef CH_MAINT_RETENTION_H
#define CH_MAINT_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#define CH_RETENTION_BUDGET 10000  /* entries per stream per tenant per pass */

/* The tenant's retention_days: > 0 when set, 0 when not (or the tenant is
 * unknown or being deleted), -1 when Redis failed. */
long ch_retention_days(const char *tenant);

/* The trim cutoff for the tenant: now - its retention_days when it has
 * one, else dflt_cutoff (also when Redis fails: the default is safe). */
int64_t ch_retention_cutoff(const char *tenant, int64_t now_ms, int64_t dflt_cutoff);

/* Removes the tenant's retained items older than cutoff_ms (see the top),
 * at most about `budget` entries per stream (0 = CH_RETENTION_BUDGET; at
 * least 2000).
 * *removed (may be NULL) counts them; *more (may be NULL) is 1 when some
 * stream had more to remove. C360_OK, C360_EINVAL, C360_EIO. */
int32_t ch_retention_sweep_tenant(const char *tenant, int64_t cutoff_ms, size_t budget,
                                  uint64_t *removed, int *more);

/* A pass over c360:{idx}:tenant-registry, one page per call. */
typedef struct ch_retention_pass {
    int active;
    char cursor[24];
    uint64_t removed;
    size_t swept;          /* tenants with a retention swept this pass */
} ch_retention_pass;

void ch_retention_pass_start(ch_retention_pass *p);
/* One SSCAN page: sweeps its tenants that have retention_days > 0 with
 * cutoff now_ms - days. Clears p->active when the pass is complete (or
 * Redis failed: the next period starts over). */
void ch_retention_pass_page(ch_retention_pass *p, int64_t now_ms);

#endif
