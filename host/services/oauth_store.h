/* oauth_store.h -- where a connection's OAuth tokens live, and the Redis
 * primitives of single-flight refresh (used by oauth.c).
 *
 * Per token (tenant T, connection C, token name N; N is [A-Za-z0-9_-]):
 *
 *   secret  oauth:N:<sid>       (secrets service, sealed) one JSON blob
 *           {access_token, refresh_token, token_type, scope,
 *            expires_at_ms, refresh_expires_at_ms, obtained_at_ms}
 *           -- the access token and a rotated refresh token are one
 *           value, so they are written together or not at all
 *   hash    c360:{t:T}:oauth:C:N   unsealed metadata: version, sid,
 *           expires_at_ms, obtained_at_ms, refresh_expires_at_ms, and
 *           dead, dead_cause, dead_at_ms (needs re-authorisation) and
 *           fail_at_ms, fail_rc (the last refresh failed transiently)
 *   string  c360:{t:T}:oauth:C:N:lease   the refresh lease: a random owner
 *           token, SET NX PX, deleted only by its owner (Lua)
 *
 * A write seals the new blob under a fresh random sid first, then flips
 * the hash to it with a Lua compare-and-set on `version`; the blob the
 * hash no longer points to is deleted. So a reader that follows the hash
 * always finds a complete blob (or, in a narrow race, none: it re-reads
 * the hash), and two writers can never interleave halves. */
#ifndef CH_OAUTH_STORE_H
#define CH_OAUTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "oauth_grant.h"

#define CH_OAUTH_NAME_MAX 64
#define CH_OAUTH_SID_LEN 32
#define CH_OAUTH_CAUSE_MAX 256

typedef struct ch_oauth_meta {
    uint64_t version;               /* 0: no token stored */
    char sid[CH_OAUTH_SID_LEN + 1];
    int64_t expires_at_ms;          /* 0: does not expire on a clock */
    int64_t obtained_at_ms;
    int64_t refresh_expires_at_ms;  /* 0: unknown */
    int dead;
    char dead_cause[CH_OAUTH_CAUSE_MAX];
    int64_t fail_at_ms;             /* 0: none since the last write */
    int32_t fail_rc;
} ch_oauth_meta;

/* A stored token set; strings are sodium_malloc'd. */
typedef struct ch_oauth_record {
    char *access_token;
    char *refresh_token;            /* NULL: none */
    char token_type[32];
    char scope[CH_OAUTH_SCOPE_MAX];
    int64_t expires_at_ms, refresh_expires_at_ms, obtained_at_ms;
} ch_oauth_record;

void ch_oauth_record_clear(ch_oauth_record *r);

/* 1 if name is a valid token name (1..64 of [A-Za-z0-9_-]). */
int ch_oauth_name_valid(const char *name);

/* C360_OK (an absent hash reads as version 0, not dead) or C360_EIO. */
int32_t ch_oauth_meta_read(const char *tenant, const char *conn, const char *name,
                           ch_oauth_meta *m);

/* Opens the blob `sid`. C360_ENOTFOUND when it is gone (superseded: read
 * the metadata again), or errors of ch_secret_get. */
int32_t ch_oauth_blob_read(const char *tenant, const char *conn, const char *name,
                           const char *sid, ch_oauth_record *out, char *err, size_t errcap);

/* Seals rec and makes it the current token if the stored version is still
 * `expected` (-1: whatever it is: a new exchange). Clears dead and fail.
 * On C360_OK *after holds the new metadata and *was_dead (may be NULL)
 * whether a dead mark was cleared. C360_ECONFLICT if the version moved
 * (nothing changed then), C360_EIO/C360_EUNSUPPORTED from Redis or the
 * secrets service. */
int32_t ch_oauth_commit(const char *tenant, const char *conn, const char *name,
                        int64_t expected, const ch_oauth_record *rec, ch_oauth_meta *after,
                        int *was_dead, char *err, size_t errcap);

/* Marks the token dead (needs re-authorisation) if the version is still
 * `expected`. C360_OK, C360_ECONFLICT (a newer token arrived), C360_EIO. */
int32_t ch_oauth_mark_dead(const char *tenant, const char *conn, const char *name,
                           uint64_t expected, const char *cause);

/* Records a transient refresh failure (rc) against version `expected`, so
 * that hosts waiting on the same refresh give up instead of each calling
 * the endpoint in turn. Best effort. */
void ch_oauth_mark_failed(const char *tenant, const char *conn, const char *name,
                          uint64_t expected, int32_t rc);

/* The lease: 1 taken, 0 held by someone else, -1 Redis failed. */
int ch_oauth_lease_take(const char *tenant, const char *conn, const char *name,
                        const char *owner, uint32_t lease_ms);
/* Deletes the lease only if `owner` still holds it. */
void ch_oauth_lease_release(const char *tenant, const char *conn, const char *name,
                            const char *owner);
/* The lease's Redis key (free it): for tests and operators. */
char *ch_oauth_lease_key(const char *tenant, const char *conn, const char *name);

/* Removes the metadata, the lease and the current blob. */
int32_t ch_oauth_store_delete(const char *tenant, const char *conn, const char *name);
/* The same for every token of a connection (SCAN); *deleted (may be NULL)
 * counts the tokens removed. */
int32_t ch_oauth_store_delete_connection(const char *tenant, const char *conn, size_t *deleted);

#endif
