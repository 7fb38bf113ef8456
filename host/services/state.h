/* state.h -- per-connection key/value state for plugins.
 *
 * Each key is a Redis hash  c360:{t:<tenant>}:state:<connection>:<key>
 * holding the value (binary-safe) and its version. Versions come from one
 * counter per connection (c360:{t:<tenant>}:statever:<connection>), so a
 * key deleted and written again never reuses a version: a compare-and-set
 * holding a version from before the delete fails as it should (no ABA).
 * The namespace is chosen by the host from the call's instance; plugins
 * name only the key. Polling cursors are just state. */
#ifndef CH_STATE_H
#define CH_STATE_H

#include <stddef.h>
#include <stdint.h>

/* *value: ch_malloc'd, NUL-terminated (not counted in *len); free().
 * version may be NULL. C360_ENOTFOUND if absent. */
int32_t ch_state_get(const char *tenant, const char *conn, const char *key,
                     uint8_t **value, size_t *len, uint64_t *version);
/* ttl_ms 0 = no expiry. new_version may be NULL. */
int32_t ch_state_set(const char *tenant, const char *conn, const char *key,
                     const void *value, size_t len, uint32_t ttl_ms,
                     uint64_t *new_version);
/* expected 0 = the key must not exist. C360_ECONFLICT on mismatch. */
int32_t ch_state_cas(const char *tenant, const char *conn, const char *key,
                     const void *value, size_t len, uint64_t expected,
                     uint32_t ttl_ms, uint64_t *new_version);
int32_t ch_state_delete(const char *tenant, const char *conn, const char *key);
/* At-least-once: see rconn.c on retries after a cut connection. */
int32_t ch_state_incr(const char *tenant, const char *conn, const char *key,
                      int64_t delta, int64_t *result);
/* Removes every state key of a connection (disconnect); *removed may be
 * NULL. */
int32_t ch_state_delete_connection(const char *tenant, const char *conn,
                                   size_t *removed);

#endif
