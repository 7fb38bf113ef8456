/* tenant_purge.h -- deleting a tenant and everything it has
 * (tenant_purge.c; DELETE /v1/tenants/{tenant}).
 *
 * Order, each step idempotent so that a purge cut short (crash, Redis
 * outage) is finished by running it again -- the tenant stays marked
 * `deleting` (tenants.h) until the very end, which makes it invisible to
 * every reader and refuses writes through tenants.h meanwhile:
 *   1. mark the tenant `deleting`;
 *   2. delete its API keys (ch_apikey_delete_tenant): nobody acts for it
 *      any more;
 *   3. disconnect every connection (ch_conn_disconnect, conn_ops.h: the
 *      plugin revokes at the provider, the registry purges, audited);
 *   4. sweep c360:{t:T}:* (SCAN) and delete every key except the audit
 *      chain (c360:{t:T}:audit:*) and the tenant hash;
 *   5. remove the tenant from every shared index, including entries a
 *      crashed connection purge left behind: c360:{idx}:tenants,
 *      c360:{idx}:wake, c360:{idx}:conn (connections it owns),
 *      c360:{idx}:rk:* (its "T/c" members), c360:{sched}:due,
 *      c360:{idx}:notify-tenants and c360:{idx}:notify-due (notify.h);
 *   6. if a connection appeared meanwhile (a create that checked the tenant
 *      just before the mark), go round again from 3 (a few times at most);
 *   7. drop the tenant from c360:{idx}:tenant-registry and delete its hash.
 * The caller audits the deletion (ids and counts only). The audit chain
 * stays: it is the record that the tenant existed and was deleted.
 *
 * BLOCKS (Redis, plugin disconnect callbacks): admin threads only. */
#ifndef CH_TENANT_PURGE_H
#define CH_TENANT_PURGE_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

typedef struct ch_tenant_purge_report {
    size_t connections;    /* disconnected (step 3) */
    size_t keys;           /* tenant keys deleted by the sweep (step 4 and
                              the tenant hash; those ch_conn_disconnect
                              deleted itself are not counted) */
    size_t api_keys;       /* API keys deleted (step 2) */
    size_t index_entries;  /* stale shared-index entries removed (step 5) */
} ch_tenant_purge_report;

/* C360_OK with *rep filled; C360_ENOTFOUND when there is no such tenant
 * (live or marked); C360_EINVAL for a bad id; C360_EIO when Redis (or a
 * disconnect) failed -- run it again. actor and request_id go to the
 * audit entries of the disconnects. */
int32_t ch_tenant_purge(ch_admin *a, const char *tenant, const char *actor,
                        const char *request_id, ch_tenant_purge_report *rep);

/* Removes every trace of the tenant from the shared indexes (step 5);
 * *removed (may be NULL) counts the entries. For the purge and its test. */
int32_t ch_tenant_purge_indexes(const char *tenant, size_t *removed);

#endif
