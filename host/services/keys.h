/* keys.h -- the Redis key scheme (documented in docs/redis-keys.md).
 *
 * Every key that belongs to a tenant starts with  c360:{t:<tenant>}:  so
 * that Redis Cluster, which hashes only the part in braces, keeps all of a
 * tenant's keys in one slot: multi-key scripts and transactions on one
 * tenant's data stay legal, and tenants spread across the cluster. Keys
 * shared by every tenant of a plugin (a provider app's rate budget) use the
 * tag {p:<plugin>} instead. Ids never contain ':' or braces, so no crafted
 * id can reach into another tenant's key space. */
#ifndef CH_KEYS_H
#define CH_KEYS_H

#include <stddef.h>

#define CH_ID_MAX 64     /* tenant and connection ids */
#define CH_NAME_MAX 200  /* state keys, secret names, bucket names */

/* Tenant, connection and plugin ids: 1..64 of [A-Za-z0-9_-]. */
int ch_id_valid(const char *id);
/* Names chosen by plugins: 1..200 printable ASCII bytes (0x21..0x7e). */
int ch_name_valid(const char *name);

/* "c360:{t:<tenant>}:<suffix>" -- suffix printf-formatted. Returns a fresh
 * string (free it). The caller has validated the parts. */
char *ch_key_tenant(const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "c360:{p:<plugin>}:<suffix>" */
char *ch_key_plugin(const char *plugin, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "c360:{t:<tenant>}:" -- the prefix of every key of the tenant. */
char *ch_key_tenant_prefix(const char *tenant);

#endif
