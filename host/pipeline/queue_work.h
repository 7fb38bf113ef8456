/* queue_work.h -- the worker side of a tenant's work streams
 * (docs/pipeline.md: "Events", "Work loop", "Deliveries", "Dead letters").
 *
 * Every operation is one Lua script on the calling thread's blocking Redis
 * connection (rconn.h), touching only keys of one tenant (declared), so it
 * is atomic and legal in a cluster (the fetch's reads of new entries
 * excepted: plain XREADGROUPs after its script):
 *
 *   fetch     due retries (ZRANGEBYSCORE retry -inf now: ZREM + XCLAIM to
 *             the caller), then XREADGROUP ... > of the event and delivery
 *             streams, creating the group `w` (at id 0) on NOGROUP when the
 *             stream exists; each item comes with its attempts so far.
 *             Two round trips: the retries' script, then the two reads
 *             pipelined, as plain commands (read by a script, the entries
 *             cost Redis three times as much: queue_work_lua.h).
 *   outcome   after a callback: OK (records -> deliveries + XACK + stats
 *             + the state writes the callback staged, ABI 1.6),
 *             retry (XCLAIM to the pseudo-consumer `retry` + HINCRBY att +
 *             ZADD retry), hold (the same without counting an attempt:
 *             paused connection, concurrency cap), dead letter (XADD dlq
 *             with the original fields + XACK), drop (XACK only: the
 *             connection is gone), fail (XACK + last_err: a failed tick,
 *             which the scheduler re-runs). The OK outcomes of the
 *             event items of one turn go in one call (ch_qw_outcome_ok_events):
 *             Redis pays per redis.call, so what they share is done once.
 *   claim     take over pending entries of another consumer (a dead
 *             worker's, or a dead host's after claim_idle_ms), or re-read
 *             the caller's own leftovers.
 *   poison    count a crash of an entry (HINCRBY crash) and dead-letter it
 *             at the threshold (the supervisor).
 *   dedup     a webhook entry's dedup keys, before it runs: SET NX EX with
 *             the entry's first id; a duplicate is acknowledged and
 *             counted.
 *
 * The retry set, the attempts hash and the crash hash name an item by its
 * "member": the entry id for the event stream, "dl:<id>" for the delivery
 * stream (two streams may hand out the same id). All times in the scripts
 * are Redis server time (TIME), like the scheduler's, so hosts with skewed
 * clocks agree on what is due.
 *
 * Functions return C360_OK, C360_EIO (Redis unreachable or an unexpected
 * reply: logged, CH_M_REDIS_ERRORS counted) or C360_EINVAL. */
#ifndef CH_QUEUE_WORK_H
#define CH_QUEUE_WORK_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "keys.h"
#include "rconn.h"

#define CH_QW_GROUP "w"
#define CH_QW_RETRY_CONSUMER "retry"
#define CH_QW_ID_MAX 48          /* "<ms>-<seq>" */
#define CH_QW_MEMBER_MAX 52      /* "dl:" + id */
#define CH_QW_ERR_MAX 512        /* error text kept in dlq / stats */
#define CH_QW_DLOG_ERR_MAX 200   /* error excerpt in the delivery log */
#define CH_QW_DLOG_MAXLEN 1000   /* XADD dlog MAXLEN ~ */
#define CH_QW_SYNCLOG_MAXLEN 1000 /* XADD synclog MAXLEN ~ */
#define CH_QW_DEDUP_MAX 64       /* dedup keys read from an entry's dk (the
                                    ingress writes no more) */
#define CH_QW_DEDUP_WINDOW_S (7 * 86400) /* an entry without a usable dw */

typedef enum ch_qkind { CH_Q_EV = 0, CH_Q_DL = 1 } ch_qkind;

/* One work item. String pointers point into the batch's replies (hiredis
 * strings are NUL-terminated); absent fields are "" / 0. */
typedef struct ch_qitem {
    ch_qkind kind;
    char id[CH_QW_ID_MAX];
    char member[CH_QW_MEMBER_MAX];
    long long att;             /* failed attempts counted so far */
    int valid;                 /* the id and the fields parsed */
    /* event stream */
    const char *k, *c, *p, *rid;
    const char *h; size_t h_len;
    const char *b; size_t b_len;
    const char *dk;            /* webhook: dedup keys, space-separated */
    long long dw;              /* webhook: dedup window (s), 0 = absent */
    const char *orig;          /* the id of the entry this item first was
                                  (dead letters and the entries replayed
                                  from them); "" = this is the first */
    /* delivery stream */
    const char *d, *s, *sp, *rt, *ri;
    const char *r; size_t r_len;
    long long a;               /* field `a` (first attempt number, >= 1) */
    int64_t t;                 /* field `t` */
    int64_t et;                /* delivery: receive time of its event */
    int64_t fetched_ms;        /* monotonic, when this thread got it */
    /* The worker's own mark: its dedup step was done ahead, for the whole
     * turn (worker_loop.c): 0 = not yet, 1 = decided "run", 2 = finished
     * there (a duplicate, acknowledged). */
    int dd_done;
} ch_qitem;

typedef struct ch_qbatch {
    redisReply *reply;
    ch_rarena *arena;          /* a fetch's XREADGROUP replies (rconn.h):
                                  the items' strings point into them */
    ch_qitem *items;
    size_t n;
    size_t fresh[2];           /* of them, new entries read (ev, dl) */
    unsigned gone;             /* bit k: a read found stream k (0 ev, 1 dl)
                                  missing (fetch2 leaves a stream the script
                                  found missing unread and says nothing) */
    int due_found;             /* fetch2: retries were due (some may be left
                                  for the next turn) */
} ch_qbatch;

void ch_qbatch_free(ch_qbatch *b);

/* The attempt number of this try: a + att (a defaults to 1). */
long long ch_qitem_attempt(const ch_qitem *it);

/* Fetches up to `share` event items and `share` delivery items of the
 * tenant for consumer (due retries first, counted in those shares). *out is
 * empty (n = 0) when there is nothing. */
int32_t ch_qw_fetch(const char *tenant, const char *consumer, int share,
                    ch_qbatch *out);
/* The same with a share per stream: up to ev_share event items and
 * dl_share delivery items (the work loop fetches more deliveries for a
 * tenant whose destinations take batches). Due retries: at most
 * max(ev_share, dl_share), each kind within its share. */
int32_t ch_qw_fetch2(const char *tenant, const char *consumer, int ev_share,
                     int dl_share, ch_qbatch *out);
/* Only the new entries: up to ev_share event items and dl_share delivery
 * items (0: that stream is not read; not both), in one round trip, with
 * no due retries and no check for an idle stream -- for a tenant whose
 * streams are known to be busy (the work loop: a read of its last turn
 * found entries), where fetch2's script was one more round trip and about
 * 30 us of Redis per turn for nothing. The retries wait for the next
 * ch_qw_fetch2. */
int32_t ch_qw_fetch_new(const char *tenant, const char *consumer, int ev_share, int dl_share,
                        ch_qbatch *out);

/* Takes over up to `count` pending entries of consumer `from` in the
 * tenant's stream `kind` that are idle at least min_idle_ms, for consumer
 * `to`. from == to re-reads the caller's own pending entries (leftovers of
 * an outcome that could not be written). When from's pending list ends up
 * empty, `from` is deleted from the group (XGROUP DELCONSUMER), so dead
 * consumers do not pile up. */
int32_t ch_qw_claim(const char *tenant, ch_qkind kind, const char *from,
                    const char *to, int64_t min_idle_ms, int count,
                    ch_qbatch *out);

/* One consumer of a group, from XINFO CONSUMERS. */
typedef struct ch_qconsumer {
    char name[128];
    long long pending;
    long long idle_ms;
} ch_qconsumer;

/* The consumers of the tenant's stream `kind` (at most cap; *n set).
 * A stream or group that does not exist gives *n = 0. */
int32_t ch_qw_consumers(const char *tenant, ch_qkind kind, ch_qconsumer *out,
                        size_t cap, size_t *n);
/* Deletes a consumer that has nothing pending (never one that has). */
int32_t ch_qw_forget_consumer(const char *tenant, ch_qkind kind,
                              const char *name);

/* --- outcomes ------------------------------------------------------------ */

typedef enum ch_qmode {
    CH_QM_OK = 0,  /* done: ack (+ records for events) */
    CH_QM_RETRY,   /* another attempt after delay_ms, attempt counted */
    CH_QM_HOLD,    /* another look after delay_ms, no attempt counted */
    CH_QM_DLQ,     /* dead letter */
    CH_QM_DROP,    /* ack without processing (connection gone/disabled) */
    CH_QM_FAIL     /* ack with last_err (a failed tick) */
} ch_qmode;

const char *ch_qmode_name(ch_qmode m);

typedef struct ch_qoutcome {
    ch_qmode mode;
    int64_t delay_ms;          /* RETRY / HOLD */
    const char *err;           /* RETRY / DLQ / FAIL: error text ("" none) */
    const char *why;           /* DLQ: "error", "attempts", "poison",
                                  "gone" (a delivery's endpoint answered
                                  410, or its route was stopped by one);
                                  DROP: the connection's state when it still
                                  exists (counted as `dropped`), else NULL */
    /* OK of an event: the records to route (ch_records_pack) */
    const char *records; size_t records_len; size_t nrec;
    /* OK of an event or a tick: the state writes its callback staged
     * (ch_staged_pack: the blob, and the key name of each of the nstate
     * writes), applied after the XACK in the same script, in order; none
     * when the entry was no longer pending. */
    const char *state; size_t state_len;
    const char *const *state_keys; size_t nstate;
    int tick;                  /* the event item is a tick */
    /* deliveries: the attempt log and the concurrency lease to release */
    int64_t latency_ms;
    int32_t status;            /* callback status for the log */
    const char *lease_token;   /* NULL = none */
    /* events and ticks: the entry of the connection's sync log
     * (c360:{t:T}:synclog:<c>, XADD MAXLEN ~ CH_QW_SYNCLOG_MAXLEN), written
     * by the outcome script only when the outcome applied: kind (tick or
     * event), status = log_status, error (err, cut to CH_QW_DLOG_ERR_MAX),
     * records (nrec of an OK), duration_ms = latency_ms, request_id (rid),
     * entry (the item's id), attempt. NULL = no entry. */
    const char *log_status;    /* "ok", "retry", "dead_letter", "error" */
} ch_qoutcome;

/* Writes the outcome of `it` (a tenant's item). *result (may be NULL):
 * OK of an event: deliveries enqueued (-1 if the entry was no longer
 * pending: someone else finished it, nothing enqueued); RETRY/HOLD: 1, or
 * 0 if the entry was no longer pending; otherwise 1. */
int32_t ch_qw_outcome(const char *tenant, const ch_qitem *it,
                      const ch_qoutcome *o, long long *result);

/* One event item (not a tick) whose callback succeeded, for
 * ch_qw_outcome_ok_events: its records (ch_records_pack), its staged state
 * writes (ch_staged_pack, as in ch_qoutcome) and the callback's
 * duration. */
typedef struct ch_qok {
    const ch_qitem *it;
    const char *records; size_t records_len; size_t nrec;
    const char *state; size_t state_len;
    const char *const *state_keys; size_t nstate;
    int64_t latency_ms;
} ch_qok;

/* The OK outcomes of n event items of the tenant, each exactly as
 * ch_qw_outcome with mode CH_QM_OK, tick 0 and log_status "ok" writes it
 * (results[i] as its *result: deliveries enqueued, -1 if the entry was no
 * longer pending), in one script call: the work loop writes the items of a
 * turn that succeeded together (worker_exec.c). Every item must be a
 * valid event item naming a valid connection (C360_EINVAL otherwise,
 * nothing written). results may be NULL. */
int32_t ch_qw_outcome_ok_events(const char *tenant, const ch_qok *oks, size_t n,
                                long long *results);

/* The supervisor's crash accounting: HINCRBY crash <member>; at
 * `threshold` the entry is dead-lettered with why=poison and err. *crashes
 * gets the count (0 if the entry was no longer pending: nothing done), and
 * *poisoned 1 when it went to the dead letters. conn names the stats hash
 * ("" = none). */
int32_t ch_qw_poison(const char *tenant, ch_qkind kind, const char *entry,
                     const char *conn, const char *err, int threshold,
                     long long *crashes, int *poisoned);

/* --- dedup ----------------------------------------------------------------- */

typedef enum ch_qdedup {
    CH_QD_RUN = 0,   /* not a duplicate (or nothing to check): run it */
    CH_QD_DUP,       /* a duplicate: acknowledged, counted in the stat */
    CH_QD_GONE       /* a duplicate no longer pending (another consumer
                        finished it): nothing done */
} ch_qdedup;

/* The dedup step of an event item, before anything runs it
 * (docs/pipeline.md, "Work loop"). Only a webhook entry (k = wh) with
 * dedup keys (dk) is checked; anything else -- a replay (k = replay: a
 * replay is asked for, so it bypasses dedup), a tick, an entry without
 * keys -- is CH_QD_RUN without a Redis call.
 *
 * Each key c360:{t:T}:dd:<c>:<key> is SET NX EX <dw> to the entry's first
 * id (orig, else its id). The entry runs when any SET succeeded, or a key
 * already holds that id: a retry, a takeover after a crash or a replayed
 * dead letter of the same entry is never its own duplicate. Otherwise it
 * is a duplicate: in the same script it is acknowledged (XACK; its att,
 * crash and retry members dropped) and `dup` is counted in the
 * connection's stat hash. Atomic per entry: of two copies checked at the
 * same instant by two workers exactly one runs. One plain SET for the
 * usual single key; the script only when that SET finds the key taken or
 * there are several keys.
 *
 * C360_OK with *out set, C360_EIO (Redis; the item stays pending and is
 * run again later), C360_EINVAL. */
int32_t ch_qw_dedup(const char *tenant, const ch_qitem *it, ch_qdedup *out);

/* The dedup step of n items of the tenant at once (its[i] may be NULL:
 * skipped), each decided exactly as ch_qw_dedup decides it (out[i],
 * st[i] its status), but the plain SETs of the single-key items go in one
 * pipelined round trip; a key already there, or several keys, take the
 * script, item by item. A reply lost on the way gives C360_EIO for that
 * item (its SET may have run: the item's own later step then finds its
 * own mark and runs). */
void ch_qw_dedup_many(const char *tenant, const ch_qitem *const *its, size_t n,
                      ch_qdedup *out, int32_t *st);

/* --- helpers ------------------------------------------------------------- */

/* Retry delay for a failed attempt number `attempt` (>= 1): exponential
 * with full jitter, uniform in [base, min(cap, base * 2^(attempt-1))], and
 * at least retry_after_ms (the plugin's wish, not capped). */
int64_t ch_qw_backoff_ms(long long attempt, uint32_t retry_after_ms,
                         int64_t base_ms, int64_t cap_ms);

/* The stream key of a tenant's kind (fresh string). */
char *ch_qw_stream_key(const char *tenant, ch_qkind kind);

/* "<host>-<pid>-<thread>". Host: characters outside [A-Za-z0-9_.] become
 * '_' (the '-' separates the parts). */
void ch_qw_consumer_name(char *out, size_t cap, const char *host, long pid,
                         int thread);
/* Splits a consumer name: 0 and host/pid filled, or -1 if it is not one
 * of ours (e.g. "retry"). */
int ch_qw_consumer_parse(const char *name, char *host, size_t hostcap,
                         long *pid);
/* This machine's host part for consumer names (gethostname, sanitised). */
void ch_qw_host_id(char *out, size_t cap);

#endif
