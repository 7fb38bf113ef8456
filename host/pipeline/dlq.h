/* dlq.h -- a tenant's dead letters: list, replay, discard (docs/pipeline.md,
 * Dead letters). Workers and the supervisor (P2) write them; this module is
 * what the admin API calls.
 *
 * c360:{t:T}:dlq is a stream. An entry holds the failed item's original
 * fields (an event: k c p t a h b rid [orig]; a delivery: d s rt ri r a t)
 * plus kind (ev | dl), why (error | attempts | poison | gone) and err (the last
 * error). `t` keeps the original item's time; the time the item became a
 * dead letter is the dlq entry id (its milliseconds part), and that is
 * what the time-range filters compare.
 *
 * Replay moves an entry back to its work stream (kind ev -> c360:{t:T}:ev,
 * dl -> c360:{t:T}:dl), atomically (one script in the tenant's slot: XADD
 * then XDEL): every original field is kept -- a delivery keeps its record
 * id `ri`, so the destination sees the same idempotency key; `orig` (the
 * first entry id, which workers add) stays for tracing -- except that `a`
 * restarts at 1 and kind/why/err are dropped. The tenant is then pushed
 * on c360:{idx}:wake so an idle worker picks it up at once.
 *
 * Blocking (rconn.h): worker, admin or background threads only, never the
 * event loop. Status codes: C360_OK, C360_EINVAL (bad tenant, id or
 * filter), C360_ENOTFOUND (no such entry, for the one-entry calls),
 * C360_EIO (Redis failed). */
#ifndef CH_DLQ_H
#define CH_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CH_DLQ_LIMIT_MAX 1000    /* entries per page / per bulk call */
#define CH_DLQ_SCAN_MAX 10000    /* entries examined per call at most */
#define CH_DLQ_ID_MAX 41         /* a stream id "ms-seq" + NUL */
#define CH_DLQ_TEXT_MAX 4096     /* listed text fields (err, r, h) are cut */

/* Which dead letters: every field that is set must match. */
typedef struct ch_dlq_filter {
    const char *conn;   /* the connection: field c of an ev item, d (the
                           destination) of a dl item; NULL = any */
    const char *kind;   /* "ev" or "dl"; NULL = any */
    const char *why;    /* "error", "attempts", "poison" or "gone"; NULL = any */
    int64_t from_ms;    /* dead-lettered at >= from_ms; 0 = any */
    int64_t to_ms;      /* dead-lettered at < to_ms; 0 = any */
} ch_dlq_filter;

/* A page of matching dead letters, newest first, as a new JSON object:
 *   {"items":[{"id":"<dlq id>","at_ms":N,"kind":"ev","why":"attempts",
 *              "err":"...","fields":{"c":"..","p":"..","t":"..", ...},
 *              "body_bytes":N}, ...],
 *    "next_cursor":"<id>" | null}
 * Field values that are not valid UTF-8 (raw bodies often are not) are
 * left out of "fields"; the raw body `b` is never listed, only its size;
 * text over CH_DLQ_TEXT_MAX bytes is cut and flagged "truncated":true.
 * cursor: NULL for the first page, else the next_cursor of the previous
 * page (entries older than it). limit: 1..CH_DLQ_LIMIT_MAX (0 = 100). A page
 * may hold fewer than limit items: one call examines at most
 * CH_DLQ_SCAN_MAX entries; next_cursor is null when nothing is left. */
int32_t ch_dlq_list(const char *tenant, const ch_dlq_filter *f,
                    const char *cursor, uint32_t limit, json_t **out);

/* One dead letter by id, formatted like an item of ch_dlq_list (a new
 * object). C360_ENOTFOUND if absent. */
int32_t ch_dlq_get(const char *tenant, const char *id, json_t **out);

/* Replays one dead letter by id. */
int32_t ch_dlq_replay(const char *tenant, const char *id);
/* Where a replayed dead letter went. */
typedef struct ch_dlq_replayed {
    char kind[3];                  /* "ev" or "dl" */
    char queue_id[CH_DLQ_ID_MAX];  /* its new entry id in that work stream */
} ch_dlq_replayed;
/* ch_dlq_replay, telling where the item went (out may be NULL). */
int32_t ch_dlq_replay_one(const char *tenant, const char *id, ch_dlq_replayed *out);
/* Replays up to `limit` (1..CH_DLQ_LIMIT_MAX; 0 = the max) matching dead
 * letters, oldest first, examining at most CH_DLQ_SCAN_MAX entries.
 * *replayed gets the count; *more (may be NULL) is 1 when matching entries
 * may remain (call again). */
int32_t ch_dlq_replay_filter(const char *tenant, const ch_dlq_filter *f,
                             uint32_t limit, size_t *replayed, int *more);

/* Deletes one dead letter (C360_ENOTFOUND if absent). */
int32_t ch_dlq_discard(const char *tenant, const char *id);
/* Deletes up to `limit` matching dead letters, like ch_dlq_replay_filter. */
int32_t ch_dlq_discard_filter(const char *tenant, const ch_dlq_filter *f,
                              uint32_t limit, size_t *discarded, int *more);

#endif
