/* worker.h -- worker threads: the loop that runs plugin callbacks
 * (docs/pipeline.md, "Work loop", "Deliveries").
 *
 * Each thread, with its own blocking Redis connection (rconn.h), repeats:
 * take the next tenant of the round robin over c360:{idx}:tenants (cached
 * per process, refreshed every tenants_refresh_ms); fetch at most `share`
 * event items and `share` delivery items of it (due retries first:
 * queue_work.h); run each one -- the source's event or tick callback, or
 * the destination's deliver -- and write its outcome; when a whole round
 * found nothing, wait on BLPOP c360:{idx}:wake (0.1 s doubling to
 * idle_max_ms) so that new work is picked up at once without polling.
 *
 * What the states of a connection mean for its work items:
 *   gone (purged)      acknowledged and dropped (nothing to run it with)
 *   disabled           acknowledged and dropped, counted in its stats
 *                      (`dropped`)
 *   paused,            events and deliveries are held: handed to the
 *   needs_reauth       `retry` consumer and looked at again after hold_ms,
 *                      without counting an attempt, so nothing is lost and
 *                      nothing burns its attempts while the customer
 *                      reconnects; ticks are dropped (the scheduler stops
 *                      ticking such connections)
 *   active, failing    run
 * A connection whose plugin is not loaded on this host is held too (another
 * host, or this one after an upgrade, has it).
 *
 * Outcome of a callback (c360_status):
 *   OK                          ack; an event's records become deliveries
 *   RETRY, EIO, ENOMEM,         retry after ch_qw_backoff_ms (from
 *   ETIMEOUT, EAUTH             retry_base_ms, capped at retry_cap_ms, at
 *                               least the plugin's retry_after), or a dead
 *                               letter (why=attempts) once the attempt
 *                               number reached max_attempts. EAUTH is
 *                               retried because the credentials are fixed by
 *                               reconnecting, after which the event is still
 *                               wanted (the connection is then needs_reauth
 *                               and its items are held, not tried).
 *   anything else               dead letter, why=error
 * Ticks are different (sched.h): acknowledged whatever happened, and the
 * status goes to ch_sched_tick_done, which reschedules.
 *
 * Consumers are named <host>-<pid>-<thread>. A thread that starts in a
 * slot whose previous owner died takes over that owner's pending entries
 * of the tenant it was working on, before anything else. In addition, the
 * first visit of a tenant and then one visit every sweep_ms looks at the
 * consumers of its streams: entries of dead processes of this host are
 * claimed at once; entries of any other consumer (another host, or a live
 * pid that may be a recycled one) once idle for ch_worker_claim_idle_ms;
 * never those of `retry`; and this thread's own leftovers (an outcome that
 * could not be written) are run again. A thread whose batch has taken
 * longer than claim_idle_ms/4 hands the items it has not started back
 * (to `retry`, due at once, no attempt counted), so that no entry waits in
 * a local batch long enough to look abandoned. */
#ifndef CH_WORKER_H
#define CH_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "instances.h"
#include "loader.h"
#include "slots.h"

/* The most records one deliver_batch call gets (pipeline.delivery_batch_max
 * is 1..this). */
#define CH_DELIVERY_BATCH_MAX 500

typedef struct ch_worker_conf {
    const ch_loader *loader;
    int threads;              /* threads per process (>= 1) */
    int share;                /* items per tenant per turn, per stream */
    int max_attempts;
    int callback_timeout_ms;  /* the c360_call deadline */
    int claim_idle_ms;        /* pending entries of consumers not known to be
                                 dead are claimed once idle this long (at
                                 least ch_worker_claim_idle_ms) */
    int hang_grace_ms;        /* past the deadline before a kill; 0 =
                                 max(1 s, callback_timeout_ms / 10) */
    int delivery_concurrency; /* deliveries in flight per destination */
    int delivery_batch_max;   /* records per deliver_batch call (ABI 1.4,
                                 1..500; 1 = never batch) */
    int shutdown_timeout_ms;  /* SIGTERM: in-flight callbacks get this long */
    int64_t retry_base_ms;    /* backoff floor (1 s) */
    int64_t retry_cap_ms;     /* backoff cap (10 min) */
    int64_t hold_ms;          /* paused / needs_reauth: look again after */
    int64_t cap_hold_ms;      /* over the delivery cap: look again after */
    int cap_wait_ms;          /* over the delivery cap: ask again for a
                                 place for this long first (deliver.c) */
    int tenants_refresh_ms;   /* the tenant list is this fresh */
    int conn_cache_ms;        /* a connection's state is this fresh */
    int sweep_ms;             /* consumer sweep per tenant; 0 = claim_idle/2 */
    int idle_max_ms;          /* longest BLPOP wait */
    int due_every_ms;         /* a busy tenant's turns on a thread read only
                                 new entries for this long after the thread
                                 last claimed its due retries (0: every turn
                                 claims them); like cap_hold_ms, 250 */
    char host[65];            /* consumer host part; "" = gethostname */
} ch_worker_conf;

/* The grace after a callback's deadline before its worker is killed. */
int ch_worker_hang_grace_ms(const ch_worker_conf *c);
/* The idle time after which another consumer's pending entries are taken:
 * claim_idle_ms, but never less than a live worker can leave an entry idle
 * (a batch is handed back after claim_idle_ms/4, plus one callback up to
 * its deadline and grace, plus 1 s), so that a slow callback is never run
 * twice because its entry looked abandoned. */
int64_t ch_worker_claim_idle_ms(const ch_worker_conf *c);

/* Defaults of everything (docs/pipeline.md), loader NULL. */
void ch_worker_conf_defaults(ch_worker_conf *c);
/* Defaults, then the pipeline.* keys of the configuration. */
void ch_worker_conf_from_config(ch_worker_conf *c, const ch_config *cfg,
                                const ch_loader *ld);

typedef struct ch_workers ch_workers;

/* The threads of one process (worker index widx, using its slots) over the
 * instance set `set` (owned by the caller, freed after the threads). Not
 * started yet. */
ch_workers *ch_workers_new(const ch_worker_conf *c, ch_slots *slots,
                           int widx, ch_instances *set);
/* Starts the threads. 0, or -1 if a thread could not start (logged; the
 * ones started keep running). */
int ch_workers_start(ch_workers *w);
/* Asks every thread to stop after its current item (never blocks).
 * Async-signal-safe. */
void ch_workers_stop(ch_workers *w);
/* Threads still running. */
int ch_workers_running(ch_workers *w);
/* Waits up to timeout_ms for the threads to end and joins them: 0, or -1
 * if some are still running (then they are left alone; do not free). */
int ch_workers_join(ch_workers *w, int timeout_ms);
void ch_workers_free(ch_workers *w);

/* The body of a forked worker process: installs the fatal-signal handlers
 * that mark the crashing thread's slot, opens its own instance set, runs
 * the threads until SIGTERM/SIGINT or the master's death, then stops them
 * (in-flight callbacks get shutdown_timeout_ms; whatever was not started
 * stays pending for the next worker or another host). Publishes its
 * outbound-HTTP counters for /metrics every second (metrics.h). Returns the
 * exit status for _exit. parent: the pid of the parent process (it stops
 * when that one is gone). */
int ch_worker_process_main(const ch_worker_conf *c, ch_slots *slots,
                           int widx, pid_t parent);

/* Counters of one process's threads (tests, logs). */
typedef struct ch_workers_stats {
    uint64_t items;        /* items run to an outcome */
    uint64_t ok, retried, held, dead, dropped;
    uint64_t claimed;      /* taken over from other consumers */
    uint64_t capwaits;     /* delivery leases got by waiting at the cap */
    uint64_t turns;        /* tenant visits */
} ch_workers_stats;
void ch_workers_get_stats(ch_workers *w, ch_workers_stats *out);

#endif
