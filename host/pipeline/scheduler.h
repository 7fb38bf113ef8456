/* scheduler.h -- the distributed tick scheduler (docs/pipeline.md, Scheduler).
 *
 * One sorted set for every host:  c360:{sched}:due  member "T/c" (tenant /
 * connection), score = next due time in Unix ms. One member per connection,
 * so ticks missed while everything was down coalesce into one.
 *
 * Claim (ch_sched_claim, every 100 ms on the maintenance thread of every
 * host): one Lua script takes up to CH_SCHED_BATCH members with score <= now
 * and re-scores them to now + lease_ms. The script is atomic, so exactly one
 * host gets each due member. The claimed members are grouped by tenant; a
 * second script, in the tenant's slot, handles up to 64 of them per call
 * (the calls of one round are pipelined: one round trip), and for each
 * reads the connection hash and either
 *   - enqueues a tick work item: XADD c360:{t:T}:ev  k=tick c=<c> p=<plugin>
 *     t=<now ms> a=1 rid=<request id>  and remembers the entry id in
 *     c360:{t:T}:conn:<c>:stat field tick_q (so a claim that is retaken
 *     while that tick still waits or runs enqueues nothing: no double tick)
 *     and the claimed score (the due time) in field tick_due, then
 *     LPUSH/LTRIM c360:{idx}:wake <T> to wake an idle worker;
 *   - or, the first time a connection that never ticked is claimed (no
 *     stat field last_tick_ms; marked once with stat field spread_ms),
 *     moves it to claim time + a random offset in [0, interval): spread,
 *     so that 100k connections created together (an import) do not fire
 *     together. "Sync now" skips the spread;
 *   - or drops the member from the due set when the connection is gone,
 *     does not tick (hash field ticks != "1"), or its state is paused,
 *     disabled or needs_reauth. conns (P1) puts it back (ZADD NX, score
 *     now) when the state returns to active. "failing" keeps ticking.
 * A claim whose host died before enqueueing is retaken after lease_ms.
 *
 * Interval: the connection's interval_s; 0 or absent = the default
 * (ch_sched_settings.default_interval_s); never below tick_floor_s.
 *
 * Times: every score is computed from the Redis server clock (TIME inside
 * the scripts), so hosts with skewed clocks agree on what is due.
 *
 * Done (ch_sched_tick_done, by the worker after the tick callback, whatever
 * its status): clears tick_q, then re-scores the member (ZADD XX: a member
 * that conns removed meanwhile -- paused, deleted -- stays removed)
 *   OK:      tick_due + interval + j, j random in [0, interval/10]
 *            (anchored: lateness does not carry over), if that is at least
 *            now + interval (two runs never closer than one interval);
 *            else, or without tick_due, now + interval + j (a tick that
 *            ran later than j, or over an interval behind: no burst)
 *   failure: now + max(retry_after_ms, min(5 s * 2^(fails-1), interval))
 * where fails counts consecutive failures (stat field tick_fails; reset by
 * OK). A "sync now" that arrived while the tick was queued or running
 * (stat field tick_again) makes the next due time now. The stat hash
 * also gets last_tick_ms, and last_ok_ms on OK (last_err/last_err_ms are
 * the worker's: it has the error text).
 *
 * Worker contract (P2): a k=tick entry gets no RETRY/dead-letter handling of
 * its own: run the tick, XACK it, call ch_sched_tick_done with the
 * callback's status and retry_after. A tick that crashes workers until it
 * is poison is dead-lettered without tick_done; its lease then expires and
 * the next claim enqueues a fresh tick (tick_q names an entry that is no
 * longer queued or pending).
 *
 * All functions block on this thread's Redis connection (rconn.h): call them
 * from worker threads or the maintenance thread, never the event loop. They
 * return C360_OK, C360_EINVAL (bad ids or arguments), C360_ENOTFOUND (no
 * such member / connection, where documented) or C360_EIO (Redis failed). */
#ifndef CH_SCHEDULER_H
#define CH_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#define CH_SCHED_DUE_KEY "c360:{sched}:due"
#define CH_SCHED_WAKE_KEY "c360:{idx}:wake"
#define CH_SCHED_WAKE_MAX 1000      /* LTRIM bound of the wake list */
#define CH_SCHED_BATCH 500          /* members per claim */
#define CH_SCHED_PERIOD_MS 100      /* claim period of the maintenance thread */
#define CH_SCHED_BACKOFF_BASE_MS 5000

typedef struct ch_sched_settings {
    int tick_floor_s;   /* shortest interval (config pipeline.tick_floor_s);
                           >= 1 */
    int lease_ms;       /* a claim not enqueued is retaken after this;
                           0 = default (max(2 * callback_timeout_ms, 120 s)) */
    int callback_timeout_ms; /* only used for the default lease */
    int default_interval_s;  /* for interval_s 0/absent; 0 = 300 s */
} ch_sched_settings;

/* Replaces the settings (any thread; read at each call). Defaults before
 * the first call: floor 10 s, lease 120 s, default interval 300 s. */
void ch_sched_configure(const ch_sched_settings *s);

/* --- for conns (P1) ------------------------------------------------------ */

/* Adds a connection to the due set if it is not there yet (ZADD NX, score
 * now: an existing schedule is kept; the first claim spreads a connection
 * that never ticked). The same as conns.c's own ZADD NX; for callers other
 * than conns. */
int32_t ch_sched_add(const char *tenant, const char *conn);
/* Removes the member (delete, pause, disable, needs_reauth). C360_OK even if
 * absent. */
int32_t ch_sched_remove(const char *tenant, const char *conn);

/* --- for the admin API ---------------------------------------------------- */

/* "Sync now": score 0, so the next claim (<= 100 ms) enqueues a tick.
 * C360_ENOTFOUND if the connection is not scheduled (not active or does not
 * tick); a member currently claimed is also reset (the tick_q check keeps a
 * tick that is still queued from being doubled). */
int32_t ch_sched_sync_now(const char *tenant, const char *conn);
/* The member's score in *due_ms; C360_ENOTFOUND if not scheduled. */
int32_t ch_sched_due(const char *tenant, const char *conn, int64_t *due_ms);

/* --- for workers (P2) ----------------------------------------------------- */

/* The tick of tenant/conn finished with callback status `status` (a
 * c360_status; unknown = failure) and the plugin's retry_after (0 = none).
 * Re-scores the member as described above (read it back with
 * ch_sched_due); counts CH_M_TICKS_RUN. C360_OK also when conns removed
 * the member during the tick (paused...): it stays out. C360_ENOTFOUND when
 * the connection no longer exists or no longer ticks (the member is then
 * removed). C360_EIO: the member keeps its lease and is retaken after it. */
int32_t ch_sched_tick_done(const char *tenant, const char *conn,
                           int32_t status, uint32_t retry_after_ms);

/* --- for the maintenance thread ------------------------------------------ */

typedef struct ch_sched_claim_stats {
    uint32_t claimed;   /* members taken from the due set */
    uint32_t enqueued;  /* tick items added (counted as CH_M_TICKS_DUE) */
    uint32_t skipped;   /* a tick of that connection was still queued */
    uint32_t spread;    /* first claim of a new connection: moved */
    uint32_t dropped;   /* removed: gone, inactive or not ticking */
    uint32_t failed;    /* Redis failed for that member (retaken after the
                           lease) */
} ch_sched_claim_stats;

/* One claim round (up to CH_SCHED_BATCH members). stats may be NULL.
 * C360_EIO if the claim script itself failed. */
int32_t ch_sched_claim(ch_sched_claim_stats *stats);

#endif
