/* tenants.h -- the tenant registry (tenants.c, tenant_purge.c).
 *
 *   c360:{t:T}:tenant         hash: name, limits (JSON object text),
 *                             retention_days, version, created_ms,
 *                             updated_ms
 *   c360:{t:T}:plugins        hash: plugin -> JSON {"enabled":bool,
 *                             "max_connections":n (0 = no limit),
 *                             "updated_ms":n}
 *   c360:{idx}:tenant-registry  set of tenant ids
 *
 * Functions BLOCK on Redis (rconn.h): admin threads only. Status codes are
 * the SDK's (C360_OK, C360_EINVAL, C360_ENOTFOUND, C360_ECONFLICT,
 * C360_EIO). */
#ifndef CH_TENANTS_H
#define CH_TENANTS_H

#include <stdint.h>

#include <jansson.h>

#include "keys.h"

#define CH_TENANT_NAME_MAX 200

typedef struct ch_tenant {
    char id[CH_ID_MAX + 1];
    char name[CH_TENANT_NAME_MAX + 1];
    json_t *limits;           /* owned object, never NULL */
    uint32_t retention_days;  /* 0 = keep (the operator's default applies) */
    uint64_t version;
    int64_t created_ms;
    int64_t updated_ms;
} ch_tenant;

void ch_tenant_free(ch_tenant *t);

/* C360_OK with *out, or C360_ENOTFOUND. */
int32_t ch_tenant_get(const char *id, ch_tenant **out);
/* 1 exists, 0 not, -1 Redis failed. */
int ch_tenant_exists(const char *id);

/* Whether `plugin` is enabled for the tenant, and its connection cap
 * (0 = none). C360_OK with *enabled set (0 when never enabled). */
int32_t ch_tenant_plugin(const char *tenant, const char *plugin, int *enabled,
                         uint32_t *max_connections);

/* Every tenant id (sorted); release with ch_conn_ids_free (conns.h). */
int32_t ch_tenant_list(char ***ids, size_t *n);

#endif
