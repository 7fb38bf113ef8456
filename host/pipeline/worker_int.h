/* worker_int.h -- what worker*.c and deliver*.c share, and what the unit
 * tests drive directly (a thread object stepped by hand, without its
 * pthread, so that tests are deterministic). Not for other modules. */
#ifndef CH_WORKER_INT_H
#define CH_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "queue_work.h"
#include "records.h"
#include "state_staged.h"
#include "worker.h"

/* --- the process's tenant list (worker_tenants.c) ------------------------- */

/* An immutable sorted snapshot of c360:{idx}:tenants, shared by the
 * threads of a process and reference-counted; sweep_at is the only
 * mutable part (when each tenant's consumers were last swept). */
typedef struct ch_tsnap {
    atomic_int refs;
    size_t n;
    char **names;
    _Atomic int64_t *sweep_at;
    int64_t loaded_ms;
} ch_tsnap;

typedef struct ch_tenants {
    pthread_mutex_t lock;
    ch_tsnap *cur;
    int refreshing;
    int refresh_ms;
} ch_tenants;

void ch_tenants_init(ch_tenants *t, int refresh_ms);
void ch_tenants_destroy(ch_tenants *t);
/* The current snapshot (one reference), refreshed first when stale -- by
 * one thread at a time; the others keep using the old one meanwhile. Never
 * NULL (an empty snapshot when Redis is unreachable). */
ch_tsnap *ch_tenants_get(ch_tenants *t);
void ch_tsnap_release(ch_tsnap *s);
/* Index of name in the snapshot, or -1. */
long ch_tsnap_find(const ch_tsnap *s, const char *name);

/* --- connection states (worker_conn.c) ------------------------------------ */

typedef struct ch_wconn {
    char tenant[CH_ID_MAX + 1];
    char id[CH_ID_MAX + 1];
    char state[16];           /* "" when the connection does not exist */
    char plugin[33];
    int exists;
    int64_t at_ms;            /* monotonic, when read */
} ch_wconn;

#define CH_WCONN_CACHE 64
typedef struct ch_wconn_cache {
    ch_wconn e[CH_WCONN_CACHE];
    int ttl_ms;
} ch_wconn_cache;

/* Route field mappings (deliver.c ch_wdel_mapping), parsed and kept per
 * thread for the connection cache's ttl, beside it. */
typedef struct ch_wmap {
    char tenant[CH_ID_MAX + 1];
    char src[CH_ID_MAX + 1];
    char dst[CH_ID_MAX + 1];
    json_t *m;                /* a reference; NULL: the route has no mapping */
    int32_t st;               /* C360_OK or C360_ERROR */
    int64_t at_ms;            /* monotonic, when read; 0 = empty */
} ch_wmap;

#define CH_WMAP_CACHE 32

/* The connection's state and plugin, from the per-thread cache or Redis
 * (HMGET c360:{t:T}:conn:<c> state plugin). C360_OK (out->exists tells
 * whether it exists), C360_EIO. */
int32_t ch_wconn_get(ch_wconn_cache *c, const char *tenant, const char *id,
                     ch_wconn *out);
void ch_wconn_forget(ch_wconn_cache *c, const char *tenant, const char *id);

/* --- threads ---------------------------------------------------------------- */

typedef struct ch_wthread ch_wthread;

/* Batched deliveries (ABI 1.4): per tenant, the share of its recent
 * delivery items whose destination takes batches (a moving average, 0..1).
 * It decides how many delivery items a turn fetches: a tenant whose
 * destinations take batches gets up to delivery_batch_max of them per
 * turn, one that has none the same number as before. A small direct-mapped
 * table per thread: a tenant that loses its place starts again from 0. */
#define CH_WBHINT_SLOTS 64
/* OK outcomes of event items written in one script call at most. */
#define CH_WOK_MAX 32
/* ... and at most about this much callback time: what a crash makes the
 * thread's successor run again (at least once) stays a few items of slow
 * callbacks, while sub-millisecond items still share one script call. */
#define CH_WOK_WINDOW_MS 10
/* ... and at most about this many bytes of records and staged state
 * writes (one script call's arguments: Redis bounds a client's query
 * buffer). */
#define CH_WOK_BYTES_MAX (4u * 1024 * 1024)
typedef struct ch_wbhint {
    char tenant[CH_ID_MAX + 1];
    float frac;
} ch_wbhint;

struct ch_workers {
    ch_worker_conf conf;
    ch_slots *slots;
    int widx;
    ch_instances *set;
    ch_tenants tenants;
    atomic_int stop;
    atomic_int running;
    int started;
    ch_wthread **threads;
    pthread_mutex_t stats_lock;
    ch_workers_stats stats;
    pthread_mutex_t join_lock;
    pthread_cond_t join_cond;
    /* Isolated takeover (slots.h ch_slot_proc.isolate): thread 0 runs every
     * predecessor's inherited entries alone; the others wait for it. */
    int isolate;
    ch_slot_view *prev;        /* per thread: the slot before this process */
    atomic_int takeover_done;
};

struct ch_wthread {
    ch_workers *w;
    const ch_worker_conf *conf;
    int index;                 /* in the process */
    ch_slot *slot;
    char consumer[CH_SLOT_CONSUMER_MAX];
    char host[65];
    long pid;
    pthread_t th;
    int th_started;
    atomic_int done;
    /* round robin */
    size_t start, visited;
    int pass_work;
    int idle_ms;
    /* Fairness: the average callback time (ms, moving average) decides how
     * many items one tenant's turn takes -- enough to fill a short time
     * budget, never more than `share`. Slow callbacks then rotate tenants
     * item by item; fast ones still batch. */
    double avg_item_ms;
    ch_wconn_cache conns;
    ch_wmap maps[CH_WMAP_CACHE]; /* route mappings, for conns.ttl_ms */
    ch_records recs;
    ch_staged staged;          /* state_set_on_commit, beside recs */
    /* 1 when a loaded plugin has deliver_batch and delivery_batch_max > 1:
     * otherwise nothing of batching runs at all. */
    int batching;
    /* 1 when a loaded plugin has event_prefetch (ABI 1.7): otherwise no
     * turn looks for events to show it. */
    int prefetching;
    ch_wbhint bhint[CH_WBHINT_SLOTS];
    /* OK outcomes of event items waiting to be written together
     * (worker_exec.c): only while run_batch sets defer_ok, and written
     * before it returns, so an item is never acknowledged later than its
     * turn. Until then the items stay pending under this consumer: a
     * crash meanwhile has them taken over and run again (at least once). */
    int defer_ok;
    size_t nok;
    int64_t ok_ms;             /* callback time of the items in ok[] */
    size_t ok_bytes;           /* their records and staged writes */
    ch_qok ok[CH_WOK_MAX];
    char ok_tenant[CH_ID_MAX + 1];
    int64_t swept_ms;          /* thread 0: the last instance sweep */
    /* A busy tenant's turns skip fetch2's script (ch_qw_fetch_new) for up
     * to conf->due_every_ms after this thread last ran it for that tenant,
     * while the last read found new entries and that script found nothing
     * due (due_seen 0); `gone`: streams a read found missing, not read
     * again until the script runs. */
    char due_tenant[CH_ID_MAX + 1];
    int64_t due_ms;
    int busy;
    int due_seen;
    unsigned gone;
};


/* Thread 0 of each worker process sweeps its instances every
 * CH_WINST_SWEEP_MS (ch_instances_sweep): one unused for CH_WINST_CHECK_MS
 * whose connection is gone, disabled or changed is closed -- a
 * disconnected connection's credentials and caches leave the process
 * within about a minute -- and one unused for CH_WINST_IDLE_MAX_MS is
 * closed anyway (memory), longer than any usual tick interval, so that a
 * quiet but live connection is not reopened for every tick. */
#define CH_WINST_SWEEP_MS 10000
#define CH_WINST_CHECK_MS 60000
#define CH_WINST_IDLE_MAX_MS (3600 * 1000)

ch_wthread *ch_wthread_new(ch_workers *w, int index);
void ch_wthread_free(ch_wthread *t);
/* Arms the staged-state barrier (ch_wexec_barrier_arm) and claims the
 * slot (takes over a dead predecessor's entries) -- what a thread does
 * once at start, on the OS thread that runs it from then on (a test that
 * steps several threads by hand on one begins each before stepping it). In
 * an isolated start, thread 0 takes over every slot's predecessor, one
 * item at a time, and the others wait. */
void ch_wthread_begin(ch_wthread *t);
/* Takes over the pending entries a predecessor held (its consumer name
 * and held tenant from its slot view). */
void ch_wthread_take_over(ch_wthread *t, const ch_slot_view *prev);
/* One tenant's turn: sweep when due, fetch, run. Returns the items run. */
int ch_wthread_turn(ch_wthread *t, const char *tenant);
/* One step of the loop: the next tenant of the round robin, or the idle
 * wait after a round that found nothing. */
void ch_wthread_step(ch_wthread *t);
/* Runs one item to its outcome (dispatches on its kind). */
void ch_wthread_run_item(ch_wthread *t, const char *tenant, ch_qitem *it);

int ch_wthread_stopping(const ch_wthread *t);

/* Writes the deferred OK outcomes (t->ok) in one script call, retrying a
 * few times while Redis is away like ch_wthread_outcome (the items stay
 * pending if it never succeeds), and counts them. */
void ch_wexec_flush(ch_wthread *t);

/* Counts a duplicate found by the dedup step (metric and worker stats). */
void ch_wexec_count_dup(ch_wthread *t);

/* Makes this thread's direct state access of a connection write the held
 * OK outcomes that carry staged writes of it first (ch_staged_barrier):
 * armed once, by ch_wthread_begin, for every plugin call of the thread (a
 * thread-local hook that only ch_wthread_free clears). */
void ch_wexec_barrier_arm(ch_wthread *t);

/* ABI 1.7 (worker_prefetch.c): shows each connection's webhook events of
 * the turn b that are on their first attempt, two or more, to its plugin's
 * event_prefetch, before they run, within half of the turn's time before
 * its hand-back. Advisory: nothing of the items changes. Returns the
 * milliseconds it took. */
int64_t ch_wexec_prefetch(ch_wthread *t, const char *tenant, ch_qbatch *b);

/* Execution (worker_exec.c, deliver.c). */
void ch_wexec_event(ch_wthread *t, const char *tenant, ch_qitem *it);
void ch_wexec_deliver(ch_wthread *t, const char *tenant, ch_qitem *it);
/* Several delivery items of one destination (its[0..n), n >= 2, all with
 * the same valid `d`) in one deliver_batch call, each with its own outcome
 * (deliver_batch.c); one at a time through ch_wexec_deliver when the
 * destination's plugin has no deliver_batch. */
void ch_wexec_deliver_group(ch_wthread *t, const char *tenant, ch_qitem **its,
                            size_t n);

/* --- what deliver.c, deliver_batch.c and deliver_gone.c share ------------- */

#define CH_WDEL_TOKEN_MAX (CH_SLOT_CONSUMER_MAX + CH_QW_ID_MAX + 2)

/* 1 when the destination connection dest exists and its plugin has
 * deliver_batch (and batching is on): from the connection cache and the
 * loader, no Redis round trip on a cache hit. */
int ch_wdel_batchable(ch_wthread *t, const char *tenant, const char *dest);
/* 1 when a delivery item names what a delivery needs. */
int ch_wdel_item_valid(const ch_qitem *it);
/* A place under the destination's concurrency cap for token: 1 leased,
 * 0 over the cap, -1 Redis failed. */
int ch_wdel_lease(ch_wthread *t, const char *tenant, const char *dest,
                  const char *token);
/* An outcome without a callback status (drop, hold, a dead letter found
 * before running). */
void ch_wdel_simple(ch_wthread *t, const char *tenant, ch_qitem *it,
                    ch_qmode mode, const char *why, const char *err,
                    int64_t delay, const char *token);
/* What an item of an existing, runnable destination (state wc) is checked
 * for before it runs: past max_attempts, or its route stopped by a 410
 * (looked up only while the destination is failing): its dead letter is
 * written here and 0 returned; 1 = run it. */
int ch_wdel_precheck(ch_wthread *t, const char *tenant, ch_qitem *it,
                     const ch_wconn *wc);
/* The parsed field mapping of the item's route (s -> d; a reference, put
 * it back): C360_OK (*out NULL when none), C360_ERROR (stored but not
 * JSON), C360_EIO. Kept in t->maps for t->conns.ttl_ms (0 = always read). */
int32_t ch_wdel_mapping(ch_wthread *t, const char *tenant, const ch_qitem *it, json_t **out);
/* Drops the mappings t keeps (at the thread's end). */
void ch_wdel_maps_clear(ch_wthread *t);
/* The item's record as mapping shapes it (free), or NULL when the mapping
 * cannot be applied to it. */
char *ch_wdel_shape(const json_t *mapping, const ch_qitem *it, size_t *len);
/* Writes the outcome of a delivery whose callback gave st: OK;
 * C360_THROTTLED a hold (see ch_wdel_throttle_delay below); C360_EGONE
 * a dead letter with why "gone"; a retryable status a retry (backoff, at
 * least retry_after ms) until max_attempts; else a dead letter. The
 * attempt is logged with took ms and the lease token released. Counts the
 * metrics. 1 when the outcome was written. */
int ch_wdel_finish(ch_wthread *t, const char *tenant, ch_qitem *it,
                   int32_t st, const char *text, uint32_t retry_after,
                   int64_t took, const char *token);
/* The outcomes of its[0..n) (one destination, its[0]->d), all accepted
 * by one deliver_batch call that took took ms under lease token: what
 * ch_wdel_finish writes for C360_OK, for all of them in one script
 * (deliver_ok.c). Counts the metrics; returns n when written, 0 when
 * Redis was away (the items stay pending and run again). */
size_t ch_wdel_finish_ok(ch_wthread *t, const char *tenant, ch_qitem *const *its, size_t n,
                         int64_t took, const char *token);
/* C360_THROTTLED (ABI 1.5, deliver.c): a record is held, unattempted, for
 * the call's Retry-After but at least the floor (at most the cap), unless
 * it was first enqueued longer ago than the bound: then its deferral is a
 * C360_RETRY (an attempt), so that no record is put off forever. */
#define CH_WDEL_THROTTLE_FLOOR_MS 250
#define CH_WDEL_THROTTLE_DELAY_MAX_MS (3600LL * 1000)
#define CH_WDEL_THROTTLE_MAX_AGE_MS (24LL * 3600 * 1000)
#define CH_WDEL_THROTTLE_GROW_MAX_MS (300LL * 1000)
/* The hold of a throttled record: max(retry_after, floor, a tenth of the
 * time it has waited (at most GROW_MAX)), capped, plus up to half of it as
 * jitter (never sooner than asked). */
int64_t ch_wdel_throttle_delay(uint32_t retry_after, int64_t waited_ms);
/* 1 when item it (enqueued at it->t, wall ms) may no longer be put off. */
int ch_wdel_throttle_expired(const ch_qitem *it, int64_t now_ms);
/* After dead-lettering records of destination dest with C360_EGONE
 * (deliver_gone.c): stops the routes srcs[0..n) -> dest (NULL or invalid
 * entries skipped, duplicates once) and marks dest failing with a cause
 * naming them, once. */
void ch_wdel_gone(ch_wthread *t, const char *tenant, const char *dest,
                  const char *const *srcs, size_t n);

/* Acquires the instance of connection conn with the slot showing the item
 * (instance_open is plugin code: a crash or hang in it makes this item the
 * suspect). ch_instance_acquire's status. */
int32_t ch_wexec_acquire(ch_wthread *t, const char *tenant, const ch_qitem *it,
                         const char *conn, const char *plugin, ch_inst **inst,
                         char *err, size_t errcap);
/* After try i (from 0) of `tries` of an outcome script gave st: 1 when
 * another try is due -- Redis was away (C360_EIO), the worker is not
 * stopping, and this was not the last try -- after the slot's heartbeat and
 * 200 << i ms of sleep; else 0, at once (nothing follows the last try to
 * wait for). The loop of every outcome writer:
 *     for (int i = 0;; i++) { st = write(); if (!ch_wthread_again(t, st, i, n)) break; } */
int ch_wthread_again(ch_wthread *t, int32_t st, int i, int tries);
/* Sleeps ms (a short wait inside a turn), the slot's heartbeat beaten. */
void ch_wthread_nap(ch_wthread *t, int ms);
/* Counts a delivery lease got by waiting at the cap (stats.capwaits). */
void ch_wthread_capwait(ch_wthread *t);
/* How many times an outcome script is tried while Redis is away
 * (ch_wthread_outcome, ch_wdel_finish_ok, ch_wexec_flush). */
#define CH_WOUTCOME_TRIES 5
/* The stored headers of an event item ("h": a JSON object of strings) as
 * the SDK's array, at most CH_WEXEC_HEADERS_MAX; non-string values are skipped.
 * The strings live in *keep until ch_wexec_headers_free(keep), after the
 * callback: the usual flat object decoded in place in a copy
 * (ch_jsonscan_flat), anything else by Jansson. */
#define CH_WEXEC_HEADERS_MAX 100
typedef struct ch_whdrs {
    char *copy;  /* the fast decoder's copy, or NULL */
    json_t *doc; /* Jansson's document, or NULL */
} ch_whdrs;
void ch_wexec_headers(const ch_qitem *it, c360_header *out, uint32_t *n, ch_whdrs *keep);
void ch_wexec_headers_free(ch_whdrs *keep);
/* The slot entry of callback cb on the item, its deadline timeout_ms from
 * now. */
void ch_wexec_slot_item(ch_slot_item *si, const char *tenant, const ch_qitem *it, const char *plugin,
                        int cb, int timeout_ms);
/* Marks the slot busy with callback cb on the item (ch_slot_end clears). */
void ch_wexec_slot_begin(ch_wthread *t, const char *tenant, const ch_qitem *it,
                         const char *plugin, int cb);
/* +-25 % around base, so that held items do not all come back together. */
int64_t ch_hold_delay(int64_t base);

/* Shared by both: write an outcome, retrying a few times while Redis is
 * away (the item stays pending if it never succeeds, and is run again from
 * this consumer's leftovers). Counts the outcome in the stats. */
int32_t ch_wthread_outcome(ch_wthread *t, const char *tenant,
                           const ch_qitem *it, const ch_qoutcome *o,
                           long long *result);
/* 1 for the statuses that are retried (see worker.h). */
int ch_status_retryable(int32_t st);
/* "status: call error" into buf. */
void ch_status_text(char *buf, size_t cap, int32_t st, const char *err);
/* The index of a plugin in the loader (metrics slot), or SIZE_MAX. */
size_t ch_plugin_index(const ch_loader *ld, const ch_plugin *p);
/* Pushes the tenant on c360:{idx}:wake (capped) so an idle thread looks. */
void ch_worker_wake(const char *tenant);

#endif
