/* slots.h -- what every worker thread is doing, in memory the master reads.
 *
 * The master maps one anonymous MAP_SHARED region BEFORE it forks the
 * workers (docs/pipeline.md, "Processes and threads"), so that when a
 * worker process dies (a plugin's SIGSEGV) or stops answering (a callback
 * past its deadline) the master still knows, without asking the dead, which
 * work item it was executing: that is how an event that crashes workers is
 * found and, after poison_threshold crashes, dead-lettered.
 *
 * One slot per worker thread (worker index w, thread index i). A slot is
 * written only by its thread and read by the master (and by the thread that
 * replaces it after a restart). The item fields are guarded by a seqlock:
 * the writer bumps `seq` to odd, writes, bumps it to even; a reader copies
 * and retries until it saw the same even number before and after. No lock
 * can be held by a process that dies, so a crash never wedges the master.
 *
 * Times are CLOCK_MONOTONIC milliseconds (ch_monotonic_ms), which is one
 * clock for every process of the machine. */
#ifndef CH_SLOTS_H
#define CH_SLOTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys.h"

#define CH_SLOT_CONSUMER_MAX 128 /* "<host>-<pid>-<thread>" + NUL */
#define CH_SLOT_KEY_MAX 160      /* a stream key + NUL */
#define CH_SLOT_ENTRY_MAX 48     /* a stream entry id "<ms>-<seq>" + NUL */
#define CH_SLOT_PLUGIN_MAX 33

/* Which plugin callback a busy slot runs (for logs and metrics). */
typedef enum ch_slot_cb {
    CH_SLOT_CB_NONE = 0,
    CH_SLOT_CB_EVENT,
    CH_SLOT_CB_TICK,
    CH_SLOT_CB_DELIVER,
    CH_SLOT_CB_OPEN,      /* instance_open, reached through an acquire */
    CH_SLOT_CB_PREFETCH   /* event_prefetch (ABI 1.7): named by the first
                             event it looks at */
} ch_slot_cb;

const char *ch_slot_cb_name(int cb);

/* The work item of a busy slot: enough to find the entry in Redis. */
typedef struct ch_slot_item {
    char tenant[CH_ID_MAX + 1];
    char conn[CH_ID_MAX + 1];      /* source (ev) or destination (dl) */
    char stream[CH_SLOT_KEY_MAX];  /* c360:{t:T}:ev or :dl */
    char entry[CH_SLOT_ENTRY_MAX];
    char plugin[CH_SLOT_PLUGIN_MAX];
    int32_t kind;                  /* 0 = ev, 1 = dl (queue_work.h) */
    int32_t callback;              /* ch_slot_cb */
    int64_t start_ms;
    int64_t deadline_ms;
} ch_slot_item;

/* Everything a reader may want of one slot, copied consistently. */
typedef struct ch_slot_view {
    int busy;                      /* executing `item` */
    int crashed;                   /* signal number the thread died of, or 0 */
    int64_t heartbeat_ms;
    char consumer[CH_SLOT_CONSUMER_MAX];
    /* The tenant whose stream entries this thread holds pending (read but
     * not yet acknowledged or handed on), "" when none: the replacement of
     * a dead worker claims exactly those at once. */
    char held_tenant[CH_ID_MAX + 1];
    ch_slot_item item;
} ch_slot_view;

typedef struct ch_slot {
    _Atomic uint32_t seq;
    _Atomic int32_t busy;
    _Atomic int32_t crashed;
    _Atomic int64_t heartbeat_ms;
    char consumer[CH_SLOT_CONSUMER_MAX];
    char held_tenant[CH_ID_MAX + 1];
    ch_slot_item item;
} ch_slot;

/* Per worker process. */
typedef struct ch_slot_proc {
    _Atomic int32_t pid;           /* 0 = not running */
    _Atomic int64_t started_ms;
    /* Set by the supervisor before it starts a replacement whose
     * predecessor died without saying which of several busy items killed
     * it: the replacement then runs the inherited items one at a time, so
     * that a second death names its item (slots of the other threads
     * idle). */
    _Atomic int32_t isolate;
} ch_slot_proc;

/* `crashed` value for a thread that called exit() or was stopped by a
 * sanitizer's report (no signal). */
#define CH_SLOT_CRASH_EXIT 256

typedef struct ch_slots ch_slots;

/* Maps the region for `workers` processes of `threads` threads each
 * (workers 0 = the threads run in the master: one process entry). Returns
 * NULL (errno set) if mmap fails. Call before forking. */
ch_slots *ch_slots_create(int workers, int threads);
void ch_slots_destroy(ch_slots *s);

int ch_slots_workers(const ch_slots *s);
int ch_slots_threads(const ch_slots *s);
ch_slot *ch_slots_get(ch_slots *s, int worker, int thread);
ch_slot_proc *ch_slots_proc(ch_slots *s, int worker);

/* Writer side (the slot's own thread). */
/* Starts the slot for a new consumer: copies the predecessor's consumer
 * name and held tenant into prev (may be NULL) before overwriting them, and
 * clears busy/crashed. */
void ch_slot_claim(ch_slot *s, const char *consumer, ch_slot_view *prev);
void ch_slot_hold(ch_slot *s, const char *tenant);  /* "" or NULL: none */
void ch_slot_begin(ch_slot *s, const ch_slot_item *item);
void ch_slot_end(ch_slot *s);
void ch_slot_beat(ch_slot *s);

/* Reader side (any process). Always succeeds (retries the seqlock). */
void ch_slot_read(const ch_slot *s, ch_slot_view *out);

/* The crash marker: the worker's fatal-signal handler stores the signal in
 * the slot of the thread that received it. Async-signal-safe. */
void ch_slot_mark_crashed(ch_slot *s, int sig);

/* The slot of the calling thread, for the crash handler (thread-local;
 * NULL outside worker threads). */
void ch_slot_set_current(ch_slot *s);
ch_slot *ch_slot_current(void);

#endif
