/* audit.h -- the per-tenant, append-only, tamper-evident audit log
 * (docs/audit.md).
 *
 * Each entry records who (actor) did what (action) to what (target) with
 * which outcome, for a tenant and optionally a connection, with the request
 * id and the time. Entries form a hash chain per tenant: entry n stores
 * SHA-256 over a canonical serialisation of (n, hash of entry n-1, its
 * fields), so editing, removing or reordering an entry is found by
 * ch_audit_verify (and `c360-audit verify`).
 *
 * Redis keys (all in the tenant's hash slot):
 *   c360:{t:T}:audit:log     LIST of entries, oldest first, JSON text
 *   c360:{t:T}:audit:head    HASH seq, hash of the newest entry
 *   c360:{t:T}:audit:anchor  HASH seq, hash of the newest entry trimmed away
 *
 * Ids only: an entry never holds a secret or personal data (no names,
 * e-mail addresses, tokens, message text). Callers pass ids; fields are
 * refused unless they are 1..200 bytes of printable ASCII without '@'.
 * That catches accidents (an e-mail address, a pasted body with newlines),
 * not a caller determined to log what it must not. */
#ifndef CH_AUDIT_H
#define CH_AUDIT_H

#include <stdint.h>

#include <jansson.h>

#include "connector_api.h" /* the status codes returned */

#define CH_AUDIT_FIELD_MAX 200

typedef struct ch_audit_entry {
    int64_t ts_ms;          /* Unix ms; 0 = now (the host's wall clock) */
    const char *tenant;     /* required: a tenant id */
    const char *actor;      /* required: "apikey:<id>", "plugin:<name>",
                               "admin:<id>", "system" */
    const char *connection; /* a connection id, or NULL/"" for none */
    const char *action;     /* required: "connection.create", "token.refresh" */
    const char *target;     /* required: the id of what was acted on */
    const char *outcome;    /* required: "ok", "denied", "error:<code>" */
    const char *request_id; /* NULL/"" for none */
} ch_audit_entry;

typedef struct ch_audit_settings {
    unsigned retention_days; /* 0 = keep for ever (ch_audit_trim_retention) */
    const char *file;        /* JSON Lines sink (copied); NULL = none */
} ch_audit_settings;

/* Replaces the settings; any thread, any time. */
void ch_audit_configure(const ch_audit_settings *s);

/* 1 if s is a valid field: 1..200 printable ASCII bytes (0x20..0x7e),
 * no '@'. Empty is valid only when may_be_empty. */
int ch_audit_field_valid(const char *s, int may_be_empty);

/* Appends one entry to its tenant's chain. Safe from any number of threads
 * and hosts at once: the append is a compare-and-set on the head, retried
 * on conflict, so the chain never forks. On C360_OK, *seq_out (may be NULL)
 * is the entry's sequence number (1, 2, ...). C360_EINVAL for an invalid
 * field, C360_EIO if Redis fails, C360_ECONFLICT if the head kept moving
 * through every retry (thousands of appends per second to one tenant).
 * With a file configured, the entry is also written to it as one line; a
 * file error is logged and does not fail the append. */
int32_t ch_audit_append(const ch_audit_entry *e, uint64_t *seq_out);

/* The plugin path (host->audit): the actor is "plugin:<plugin>" and time
 * is now. */
int32_t ch_audit_plugin(const char *plugin, const char *tenant,
                        const char *conn, const char *request_id,
                        const char *action, const char *target,
                        const char *outcome);

typedef struct ch_audit_verify_result {
    int intact;          /* 1: every entry checks and the head agrees */
    uint64_t checked;    /* entries checked */
    uint64_t first_seq;  /* the oldest kept entry's seq (0 when empty) */
    uint64_t last_seq;   /* the newest entry's seq (0 when empty) */
    uint64_t bad_seq;    /* when !intact: the first broken entry's seq (the
                            seq expected where one is missing) */
    char problem[256];   /* when !intact: what mismatched */
} ch_audit_verify_result;

/* Walks the tenant's chain from the anchor to the head. C360_OK when the
 * walk ran (see res->intact), C360_EINVAL for a bad tenant, C360_EIO if
 * Redis fails. */
int32_t ch_audit_verify(const char *tenant, ch_audit_verify_result *res);

/* Removes the oldest entries with ts < older_than_ms, from the front,
 * stopping at the first newer one, and keeps the chain verifiable: the
 * last removed entry's seq and hash become the anchor that the first kept
 * entry must link to. Refuses to remove a broken entry (that would destroy
 * the evidence): trims up to it and returns C360_ERROR. *removed may be
 * NULL. */
int32_t ch_audit_trim(const char *tenant, int64_t older_than_ms,
                      uint64_t *removed);
/* ch_audit_trim with the configured retention (nothing if it is 0). */
int32_t ch_audit_trim_retention(const char *tenant, uint64_t *removed);

typedef struct ch_audit_query {
    const char *actor;   /* exact match; NULL = any */
    const char *action;  /* exact match; NULL = any */
    int64_t since_ms;    /* ts >= since_ms; 0 = any */
    int64_t until_ms;    /* ts < until_ms; 0 = any */
    uint64_t cursor;     /* 0 = from the newest; else entries with seq <
                            cursor (the next_cursor of the previous page) */
    uint32_t limit;      /* 1..1000; 0 = 100 */
} ch_audit_query;

/* Entries matching q, newest first, as a JSON array of objects (the
 * stored entries: seq, ts, tenant, actor, connection, action, target,
 * outcome, request_id, prev_hash, hash). *next_cursor is 0 when nothing
 * older is left, else the cursor for the next page (a page may hold fewer
 * than limit entries: one call scans at most 10 000 entries). */
int32_t ch_audit_list(const char *tenant, const ch_audit_query *q,
                      json_t **entries, uint64_t *next_cursor);

#endif
