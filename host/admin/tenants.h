/* tenants.h -- the tenant registry (tenants.c, tenant_purge.c).
 *
 *   c360:{t:T}:tenant         hash: name, limits (JSON object text),
 *                             retention_days, version, created_ms,
 *                             updated_ms, audit_from; `deleting` (= 1) while the
 *                             tenant is being purged (tenant_purge.h)
 *   c360:{t:T}:plugins        hash: plugin -> JSON {"enabled":bool,
 *                             "max_connections":n (0 = no limit),
 *                             "updated_ms":n}
 *   c360:{idx}:tenant-registry  set of tenant ids
 *
 * A tenant exists while its hash exists without `deleting`: a tenant being
 * deleted is already gone for every reader (ch_tenant_get, _exists, the
 * list), and writes through this module are refused from the moment the
 * mark is set (they check it in the same script), so nothing written here
 * can outlive the purge's sweep.
 *
 * The hash is written before the registry (two slots, two steps): a crash
 * in between leaves a tenant missing from the list, which the next create
 * of the same id repairs (it answers "exists" and re-adds it).
 *
 * Functions BLOCK on Redis (rconn.h): admin threads only. Status codes are
 * the SDK's (C360_OK, C360_EINVAL, C360_ENOTFOUND, C360_ECONFLICT,
 * C360_EIO). */
#ifndef CH_TENANTS_H
#define CH_TENANTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "keys.h"

#define CH_TENANT_NAME_MAX 200
#define CH_TENANT_RETENTION_MAX 3650   /* days */
#define CH_TENANT_LIMIT_MAX 1000000000 /* any numeric limit */
#define CH_TENANT_REGISTRY "c360:{idx}:tenant-registry"

typedef struct ch_tenant {
    char id[CH_ID_MAX + 1];
    char name[CH_TENANT_NAME_MAX + 1];
    json_t *limits;           /* owned object, never NULL */
    uint32_t retention_days;  /* 0 = keep (the operator's default applies) */
    uint64_t audit_from;      /* the audit chain's seq when the tenant was
                                 created: entries up to it belong to a
                                 deleted tenant of the same id, which the
                                 new tenant's keys never see */
    uint64_t version;
    int64_t created_ms;
    int64_t updated_ms;
} ch_tenant;

void ch_tenant_free(ch_tenant *t);

/* A tenant's display name: 1..CH_TENANT_NAME_MAX bytes of UTF-8 without
 * control characters (the caller's JSON parser checked the UTF-8). */
int ch_tenant_name_valid(const char *name);

/* C360_OK with *out, or C360_ENOTFOUND (also while it is being deleted). */
int32_t ch_tenant_get(const char *id, ch_tenant **out);
/* 1 exists, 0 not (or being deleted), -1 Redis failed. */
int ch_tenant_exists(const char *id);
/* What tenant_purge needs to tell apart: CH_TENANT_ABSENT, _LIVE,
 * _DELETING (a purge started and did not finish), or -1 (Redis failed). */
enum { CH_TENANT_ABSENT = 0, CH_TENANT_LIVE = 1, CH_TENANT_DELETING = 2 };
int ch_tenant_state(const char *id);

/* The API representation: {id,name,limits,retention_days,version,
 * created_ms,updated_ms}. */
json_t *ch_tenant_to_json(const ch_tenant *t);

/* Checks a limits object; the only limit so far is "max_connections", an
 * integer 0..CH_TENANT_LIMIT_MAX (0 = none). With allow_null a member may
 * be null (PATCH: remove that limit). Appends one {"path":"/limits/<key>",
 * "message"} to details (an array) per problem; returns how many. */
size_t ch_tenant_limits_check(const json_t *limits, int allow_null,
                              json_t *details);

/* Creates a tenant (version 1). limits may be NULL ({}); it must have
 * passed ch_tenant_limits_check without nulls. C360_ECONFLICT if the id
 * exists (or is being deleted); C360_EINVAL for a bad id, name or
 * retention. *out (may be NULL) receives the new tenant. */
int32_t ch_tenant_create(const char *id, const char *name,
                         const json_t *limits, uint32_t retention_days,
                         ch_tenant **out);

/* What an update changes; NULL/0 members are left as they are. limits is
 * merged into the stored object: a member replaces that limit, a null
 * member removes it. */
typedef struct ch_tenant_patch {
    const char *name;
    const json_t *limits;
    int set_retention;
    uint32_t retention_days;
} ch_tenant_patch;

/* Applies p and bumps the version. expected 0 = unconditional, else the
 * version the caller read: C360_ECONFLICT when it moved on (*current, may
 * be NULL, receives the stored version). C360_ENOTFOUND if absent. *out
 * (may be NULL) receives the updated tenant. */
int32_t ch_tenant_update(const char *id, const ch_tenant_patch *p,
                         uint64_t expected, uint64_t *current,
                         ch_tenant **out);

/* Whether `plugin` is enabled for the tenant, and its connection cap
 * (0 = none). C360_OK with *enabled set (0 when never enabled). */
int32_t ch_tenant_plugin(const char *tenant, const char *plugin, int *enabled,
                         uint32_t *max_connections);
/* Every stored plugin setting of the tenant, as a new object plugin ->
 * {"enabled","max_connections","updated_ms"} (entries that do not parse
 * are left out). */
int32_t ch_tenant_plugins(const char *tenant, json_t **out);
/* Writes the setting of `plugin` (the caller checked that it is loaded);
 * max_connections NULL keeps the stored cap (0 when none). *entry (may be
 * NULL) receives the stored {"enabled","max_connections","updated_ms"}.
 * C360_ENOTFOUND if the tenant does not exist. */
int32_t ch_tenant_plugin_set(const char *tenant, const char *plugin,
                             int enabled, const uint32_t *max_connections,
                             json_t **entry);

/* Every tenant id (sorted); release with ch_conn_ids_free (conns.h). */
int32_t ch_tenant_list(char ***ids, size_t *n);

/* ---- for tenant_purge.c ------------------------------------------------ */
/* Sets the `deleting` mark. C360_ENOTFOUND if there is no hash. */
int32_t ch_tenant_mark_deleting(const char *id);
/* The purge's last step: removes the id from the registry, then the hash. */
int32_t ch_tenant_forget(const char *id);

#endif
