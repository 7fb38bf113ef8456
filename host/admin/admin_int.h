/* admin_int.h -- the admin object, shared by admin.c (dispatch) and
 * admin_loop.c (threads and the event-loop hand-off). */
#ifndef CH_ADMIN_INT_H
#define CH_ADMIN_INT_H

#include <pthread.h>

#include <event2/event.h>

#include "admin.h"

#define CH_ADMIN_THREADS_MAX 32

struct ch_req;
typedef struct ch_ajob ch_ajob;

struct ch_admin {
    ch_admin_settings set;
    char *public_url;
    char *operator_key_file;
    const struct ch_loader *loader;
    struct ch_instances *instances;

    /* the hand-off (admin_loop.c) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ch_ajob *todo_head, *todo_tail;  /* waiting for a thread */
    size_t todo_n;
    ch_ajob *done_head, *done_tail;  /* answered, waiting for the loop */
    struct event *done_ev;           /* activated when done gains a job */
    pthread_t thr[CH_ADMIN_THREADS_MAX];
    unsigned nthr;
    pthread_t boot;                  /* the first operator key (bootstrap) */
    int boot_started;
    int stopping;
};

#endif
