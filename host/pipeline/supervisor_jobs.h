/* supervisor_jobs.h -- the supervisor's own thread for the Redis work a
 * dead worker leaves behind (private to supervisor*.c).
 *
 * Counting a crash against an item and dead-lettering a poison one are
 * blocking Redis calls (queue_work.h ch_qw_poison); the event loop must
 * never wait on them, so the loop queues a job per suspect item and this
 * thread runs them, retrying while Redis is away. The loop asks how many
 * jobs of a worker are still open before it restarts that worker, so that
 * the replacement does not take over (and run again) an item that is about
 * to be dead-lettered. */
#ifndef CH_SUPERVISOR_JOBS_H
#define CH_SUPERVISOR_JOBS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "slots.h"

typedef struct ch_supjob ch_supjob;

typedef struct ch_supjobs {
    pthread_t th;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ch_supjob *head, *tail;
    int stop;
    int threshold;
    int nworkers;
    atomic_int *open;          /* per worker: jobs queued or running */
    _Atomic uint64_t suspects; /* crashes counted */
    _Atomic uint64_t poisoned; /* items dead-lettered */
} ch_supjobs;

void ch_supjobs_init(ch_supjobs *q, int nworkers, int threshold);
/* Starts the thread: 0, or -1 (logged). */
int ch_supjobs_start(ch_supjobs *q);
/* Queues the crash of `item` (run by worker widx); err says what happened. */
void ch_supjobs_push(ch_supjobs *q, int widx, const ch_slot_item *item,
                     const char *err);
int ch_supjobs_open(ch_supjobs *q, int widx);
/* Runs what is queued (one try each), then joins the thread. */
void ch_supjobs_stop(ch_supjobs *q);
void ch_supjobs_destroy(ch_supjobs *q);

#endif
