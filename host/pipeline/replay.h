/* replay.h -- raw-event replay (docs/pipeline.md, Events): after a plugin
 * bug is fixed, webhooks a tenant received in a time range are processed
 * again.
 *
 * The tenant's event stream c360:{t:T}:ev is also the raw-event store:
 * acknowledged entries stay until the retention trim (maint.h). Replay
 * scans it with XRANGE over the entry ids (the id's milliseconds are the
 * time Redis stored the event, i.e. its receipt), keeps entries with k=wh
 * (optionally of one connection), and re-adds each as a new work item with
 * k=replay, a=1 and the original c, p, t, h, b and rid (dedup does not
 * apply: a replay is deliberate). Entries with k=replay or k=tick are never
 * replayed, so a range that reaches past now does not feed on itself.
 *
 * Work is bounded per call: at most `limit` items re-added and
 * CH_REPLAY_SCAN_MAX entries examined; the caller continues with the
 * returned cursor. Blocking (rconn.h): never on the event loop. */
#ifndef CH_REPLAY_H
#define CH_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "dlq.h" /* CH_DLQ_ID_MAX */

#define CH_REPLAY_LIMIT_MAX 10000  /* items re-added per call */
#define CH_REPLAY_SCAN_MAX 100000  /* entries examined per call */

typedef struct ch_replay_range {
    const char *conn;   /* NULL = every connection of the tenant */
    int64_t from_ms;    /* received at >= from_ms */
    int64_t to_ms;      /* received at < to_ms; 0 = no upper bound */
    const char *cursor; /* NULL: start at from_ms; else the next_cursor of
                           the previous call (continue after it) */
} ch_replay_range;

/* Re-adds up to limit (1..CH_REPLAY_LIMIT_MAX; 0 = 1000) webhooks of the
 * range. *replayed gets the count; next_cursor (CH_DLQ_ID_MAX bytes) gets
 * the id to continue after, or "" when the range is exhausted. C360_OK,
 * C360_EINVAL (bad tenant, connection, cursor or range), C360_EIO. Counts
 * CH_M_REPLAYED and wakes a worker (c360:{idx}:wake). */
int32_t ch_replay_raw(const char *tenant, const ch_replay_range *range,
                      uint32_t limit, size_t *replayed, char *next_cursor);

#endif
