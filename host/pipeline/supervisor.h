/* supervisor.h -- the master's side of the workers (docs/pipeline.md,
 * "Processes and threads", "Poison events").
 *
 * Forks `workers` worker processes (worker.h) after the plugins are loaded
 * (workers 0: runs the worker threads inside the master, for debugging --
 * then a crash takes the master with it and a hang can only be reported),
 * and keeps them running while the event loop goes on answering webhooks:
 *
 *  - Workers are forked by a single-threaded "zygote" process, itself
 *    forked at start while the master has no other thread
 *    (supervisor_zygote.h: forking a multi-threaded process can leave the
 *    child a lock held forever). The zygote reaps them and reports each
 *    exit over a socket the loop watches.
 *  - A dead worker's slots (slots.h) tell what it was running: the thread
 *    whose crash handler (or atexit / sanitizer death hook) marked its
 *    slot; when the process died without saying (SIGKILL from outside),
 *    the busy item if there was one only -- with several, nobody is
 *    charged and the replacement takes them over one at a time, so that a
 *    second death names its item. Each charged item gets a crash counted
 *    (HINCRBY c360:{t:T}:crash <member>) and, at poison_threshold, goes to
 *    the dead letters with why=poison (queue_work.h ch_qw_poison). That
 *    Redis work blocks, so it runs on the supervisor's own thread, never
 *    on the loop.
 *  - The worker is restarted once its crash accounting is written (or after
 *    5 s without Redis), after a crash-loop backoff: 100 ms doubling to
 *    30 s, back to 100 ms after 60 s of health. The new process takes over
 *    its predecessor's pending entries at once (worker.h).
 *  - Hang: a busy slot past its deadline (callback_timeout_ms) plus grace
 *    gets its process SIGKILLed; the item that hung is the suspect.
 *  - Heartbeat: a thread that is not in a callback beats at least every
 *    second; one silent for heartbeat_timeout_ms (10 s) is reported (log,
 *    counted as a restart) and its process replaced. No item is blamed.
 *
 * SIGTERM (ch_supervisor_drain): no more restarts; SIGTERM to every
 * worker, which finishes its in-flight callbacks within shutdown_timeout_ms
 * and leaves the rest pending. ch_supervisor_free kills what is left.
 *
 * Threads: every function runs on the event-loop thread. ORDER: call
 * ch_supervisor_start before any other thread of the master starts (the
 * instance opener, the connection cache, maintenance...), after the plugins
 * are loaded and the shared metrics mapped: the zygote is forked there. */
#ifndef CH_SUPERVISOR_H
#define CH_SUPERVISOR_H

#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "loader.h"
#include "worker.h"

typedef struct ch_supervisor_conf {
    ch_worker_conf worker;     /* what each worker process runs */
    int workers;               /* processes; 0 = threads in the master */
    int poison_threshold;      /* crashes/hangs before an item is poison */
    int hang_grace_ms;         /* past the deadline; 0 = max(1 s, timeout/10) */
    int heartbeat_timeout_ms;  /* 0 = 10 000 */
    int backoff_min_ms;        /* 0 = 100 */
    int backoff_max_ms;        /* 0 = 30 000 */
    int healthy_reset_ms;      /* 0 = 60 000 */
} ch_supervisor_conf;

/* From the configuration (pipeline.*, shutdown_timeout_ms) and the loaded
 * plugins. */
void ch_supervisor_conf_from_config(ch_supervisor_conf *sc, const ch_config *cfg,
                                    const ch_loader *ld);

typedef struct ch_supervisor ch_supervisor;

/* Maps the slots (before any fork) and prepares the events on base. NULL
 * if the slots cannot be mapped (logged). */
ch_supervisor *ch_supervisor_new(struct event_base *base,
                                 const ch_supervisor_conf *conf);
/* Forks the zygote, starts the supervisor thread and the workers. 0, or
 * -1 (logged). See ORDER above. */
int ch_supervisor_start(ch_supervisor *s);
/* Stop signal: graceful stop of every worker, no restarts. */
void ch_supervisor_drain(ch_supervisor *s);
/* Worker processes (or in-master threads) still running: the daemon's
 * drain waits for 0 (or its deadline). */
int ch_supervisor_active(ch_supervisor *s);
/* Kills what still runs (SIGKILL), reaps, joins the supervisor thread,
 * unmaps the slots. NULL is accepted. */
void ch_supervisor_free(ch_supervisor *s);

/* For tests and the admin API. */
typedef struct ch_supervisor_stats {
    uint64_t spawned;      /* worker processes started (restarts included) */
    uint64_t restarts;     /* of them, replacements of a dead worker */
    uint64_t crashes;      /* workers that died unexpectedly */
    uint64_t hangs;        /* workers killed for a callback past deadline */
    uint64_t stalls;       /* workers killed for a silent heartbeat */
    uint64_t suspects;     /* items charged with a crash */
    uint64_t poisoned;     /* of them, dead-lettered as poison */
} ch_supervisor_stats;
void ch_supervisor_get_stats(ch_supervisor *s, ch_supervisor_stats *out);
/* The pid of worker w (0 if not running). */
pid_t ch_supervisor_worker_pid(ch_supervisor *s, int w);

#endif
