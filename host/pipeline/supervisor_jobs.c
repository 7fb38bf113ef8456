/* supervisor_jobs.c -- see supervisor_jobs.h. */
#include "supervisor_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connector_api.h"
#include "log.h"
#include "metrics.h"
#include "queue_work.h"
#include "rconn.h"
#include "util.h"

#define JOB_TRIES 8 /* 0.2 s doubling: about 50 s of Redis outage */

struct ch_supjob {
    ch_supjob *next;
    int widx;
    ch_slot_item item;
    char err[256];
};

void ch_supjobs_init(ch_supjobs *q, int nworkers, int threshold)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->threshold = threshold > 0 ? threshold : 3;
    q->nworkers = nworkers > 0 ? nworkers : 1;
    q->open = ch_calloc((size_t)q->nworkers, sizeof *q->open);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One job: count the crash, maybe dead-letter. `tries` 1 at shutdown. */
static void run(ch_supjobs *q, ch_supjob *j, int tries)
{
    const ch_slot_item *it = &j->item;
    long long crashes = 0;
    int poisoned = 0;
    int32_t st = C360_EIO;
    for (int i = 0; i < tries; i++) {
        st = ch_qw_poison(it->tenant, it->kind == CH_Q_DL ? CH_Q_DL : CH_Q_EV, it->entry, it->conn,
                          j->err, q->threshold, &crashes, &poisoned);
        if (st != C360_EIO) break;
        if (i + 1 < tries) sleep_ms(200 << i);
    }
    char n[24];
    snprintf(n, sizeof n, "%lld", crashes);
    if (st != C360_OK) {
        ch_log(CH_LOG_ERROR, "supervisor: crash of an item not counted (redis)", "tenant", it->tenant,
               "entry", it->entry, NULL);
    } else if (crashes == 0) {
        ch_log(CH_LOG_INFO, "supervisor: the crashed item was already finished", "tenant", it->tenant,
               "entry", it->entry, NULL);
    } else {
        atomic_fetch_add(&q->suspects, 1);
        if (poisoned) {
            atomic_fetch_add(&q->poisoned, 1);
            ch_metrics_inc(CH_M_DEAD_LETTERS, 1);
        }
        ch_log(poisoned ? CH_LOG_ERROR : CH_LOG_WARN,
               poisoned ? "supervisor: poison item dead-lettered" : "supervisor: crash counted against an item",
               "tenant", it->tenant, "connection", it->conn, "entry", it->entry,
               "stream", it->kind == CH_Q_DL ? "dl" : "ev", "plugin", it->plugin,
               "callback", ch_slot_cb_name(it->callback), "crashes", n, "error", j->err, NULL);
    }
    atomic_fetch_sub(&q->open[j->widx], 1);
}

static void *thread_main(void *arg)
{
    ch_supjobs *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stop) pthread_cond_wait(&q->cond, &q->lock);
        ch_supjob *j = q->head;
        if (!j) break; /* stopping and nothing left */
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        int stopping = q->stop;
        pthread_mutex_unlock(&q->lock);
        run(q, j, stopping ? 1 : JOB_TRIES);
        free(j);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    ch_rconn_thread_close();
    return NULL;
}

int ch_supjobs_start(ch_supjobs *q)
{
    int e = pthread_create(&q->th, NULL, thread_main, q);
    if (e != 0) {
        ch_log(CH_LOG_ERROR, "supervisor: cannot start its thread", "error", strerror(e), NULL);
        return -1;
    }
    q->started = 1;
    return 0;
}

void ch_supjobs_push(ch_supjobs *q, int widx, const ch_slot_item *item, const char *err)
{
    if (widx < 0 || widx >= q->nworkers) return;
    ch_supjob *j = ch_calloc(1, sizeof *j);
    j->widx = widx;
    j->item = *item;
    snprintf(j->err, sizeof j->err, "%s", err ? err : "");
    atomic_fetch_add(&q->open[widx], 1);
    pthread_mutex_lock(&q->lock);
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

int ch_supjobs_open(ch_supjobs *q, int widx)
{
    return widx >= 0 && widx < q->nworkers ? atomic_load(&q->open[widx]) : 0;
}

void ch_supjobs_stop(ch_supjobs *q)
{
    if (!q->started) return;
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->th, NULL);
    q->started = 0;
}

void ch_supjobs_destroy(ch_supjobs *q)
{
    ch_supjobs_stop(q);
    for (ch_supjob *j = q->head, *n; j; j = n) {
        n = j->next;
        free(j);
    }
    q->head = q->tail = NULL;
    free(q->open);
    q->open = NULL;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
}
