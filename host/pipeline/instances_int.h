/* instances_int.h -- shared by instances.c (the set, acquire/release) and
 * instances_opener.c (the master's opener thread). Not an API. */
#ifndef CH_INSTANCES_INT_H
#define CH_INSTANCES_INT_H

#include <pthread.h>
#include <stdint.h>

#include "instances.h"
#include "strmap.h"

struct ch_inst {
    ch_instances *set;
    int refs;              /* under set->lock; the table holds one while
                              the instance is current */
    int retired;           /* superseded or invalidated: no new users */
    c360_instance ci;      /* tenant/connection owned; data from open */
    const ch_plugin *plugin;
    ch_conn *conn;
    int64_t checked_ms;    /* monotonic: last version check */
    int64_t used_ms;       /* monotonic: last acquire (ch_instances_sweep) */
};

/* One connection id in the table. */
typedef struct inst_slot {
    ch_inst *cur;          /* current instance, or NULL */
    int opening;           /* an open is running: others wait */
} inst_slot;

typedef struct opener_item {
    char tenant[CH_ID_MAX + 1];
    int64_t due_ms;        /* monotonic; 0 = now */
    int backoff_ms;
} opener_item;

struct ch_instances {
    const ch_loader *ld;
    int recheck_ms;
    int open_timeout_ms;

    pthread_mutex_t lock;
    pthread_cond_t opened;     /* broadcast when an open finishes */
    ch_strmap *slots;          /* connection id -> inst_slot */

    /* The opener (master only). */
    int opener_on;
    int opener_stop;
    pthread_t opener;
    pthread_t loop;            /* the thread that started the opener */
    pthread_cond_t opener_wake;
    ch_strmap *todo;           /* connection id -> opener_item */
    int scan_all;              /* after a full cache load */
    ch_inst **closeq;          /* closes handed over by the loop */
    size_t ncloseq, capcloseq;
    struct ch_conncache *cache;

    ch_instances_stats stats;  /* under lock */
};

/* Drops the table's reference of s->cur (caller holds the lock); returns
 * the instance if that was the last reference, to be closed by the caller
 * after unlocking (ch_inst_close_or_defer). */
ch_inst *inst_retire_locked(ch_instances *set, inst_slot *s);
/* Closes an instance nobody references, or hands it to the opener when
 * called on the loop thread. Without the lock. */
void inst_close_or_defer(ch_instances *set, ch_inst *i);
/* Runs instance_close and frees (without the lock). */
void inst_close_now(ch_instances *set, ch_inst *i);
/* Acquire with a forced version check (the opener's path). */
int32_t inst_acquire(ch_instances *set, const char *tenant, const char *conn, int force_check,
                     ch_inst **out, char *err, size_t errcap);
/* Queues work for the opener; caller holds the lock. */
void opener_enqueue_locked(ch_instances *set, const char *tenant, const char *conn);

#endif
