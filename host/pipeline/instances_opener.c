/* instances_opener.c -- the master's opener thread (see instances.h):
 * keeps the instances of webhook connections open so that the event
 * loop's ch_instance_peek finds them, and runs the instance_close calls
 * the loop must not run itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "cond.h"
#include "conncache.h"
#include "instances_int.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

#define OPEN_BACKOFF_MIN_MS 1000
#define OPEN_BACKOFF_MAX_MS 60000
#define OPENER_BATCH 64

void opener_enqueue_locked(ch_instances *set, const char *tenant, const char *conn)
{
    opener_item *it = ch_strmap_get(set->todo, conn);
    if (it) return; /* queued already (maybe backing off: keep its delay) */
    it = ch_calloc(1, sizeof *it);
    /* Bounded copy (tenant ids are validated <= CH_ID_MAX elsewhere). */
    size_t tl = strnlen(tenant, sizeof it->tenant - 1);
    memcpy(it->tenant, tenant, tl);
    it->tenant[tl] = '\0';
    ch_strmap_put(set->todo, conn, it);
    pthread_cond_signal(&set->opener_wake);
}

/* Retires conn's instance without queueing it again. */
static void retire(ch_instances *set, const char *conn)
{
    pthread_mutex_lock(&set->lock);
    inst_slot *s = ch_strmap_get(set->slots, conn);
    ch_inst *dead = s ? inst_retire_locked(set, s) : NULL;
    pthread_mutex_unlock(&set->lock);
    if (dead) inst_close_now(set, dead);
}

static int webhook_plugin(ch_instances *set, const char *plugin)
{
    const ch_plugin *p = ch_loader_find(set->ld, plugin);
    return p && (ch_plugin_desc(p)->capabilities & C360_CAP_SOURCE_WEBHOOK);
}

/* Brings one connection's instance in line with the cache. Returns 0 when
 * done, -1 when the open failed (retry with backoff). */
static int process(ch_instances *set, const char *tenant, const char *conn)
{
    ch_cc_entry e;
    if (!ch_conncache_get(set->cache, conn, &e) || strcmp(e.tenant, tenant) != 0 ||
        strcmp(e.state, CH_CONN_STATE_DISABLED) == 0) {
        retire(set, conn);
        return 0;
    }
    if (!webhook_plugin(set, e.plugin)) return 0;
    pthread_mutex_lock(&set->lock);
    inst_slot *s = ch_strmap_get(set->slots, conn);
    int current = s && s->cur && s->cur->conn->version == e.version &&
                  strcmp(s->cur->ci.tenant, tenant) == 0;
    pthread_mutex_unlock(&set->lock);
    if (current) return 0;
    ch_inst *i = NULL;
    char err[256];
    int32_t st = inst_acquire(set, tenant, conn, 1, &i, err, sizeof err);
    if (st == C360_OK) {
        ch_instance_release(i); /* the table keeps its own reference */
        return 0;
    }
    return st == C360_ENOTFOUND ? 0 : -1;
}

typedef struct scan_list {
    ch_cc_entry *v;
    size_t n, cap;
} scan_list;

static void scan_collect(const ch_cc_entry *e, void *arg)
{
    scan_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = ch_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = *e;
}

static void scan_all(ch_instances *set)
{
    scan_list l = {0};
    ch_conncache_foreach(set->cache, scan_collect, &l);
    for (size_t i = 0; i < l.n; i++) {
        pthread_mutex_lock(&set->lock);
        int stop = set->opener_stop;
        pthread_mutex_unlock(&set->lock);
        if (stop) break;
        if (process(set, l.v[i].tenant, l.v[i].id) != 0) {
            pthread_mutex_lock(&set->lock);
            opener_enqueue_locked(set, l.v[i].tenant, l.v[i].id);
            opener_item *it = ch_strmap_get(set->todo, l.v[i].id);
            it->backoff_ms = OPEN_BACKOFF_MIN_MS;
            it->due_ms = ch_monotonic_ms() + it->backoff_ms;
            pthread_mutex_unlock(&set->lock);
        }
    }
    free(l.v);
}

typedef struct due_pick {
    int64_t now, next;
    char ids[OPENER_BATCH][CH_ID_MAX + 1];
    size_t n;
} due_pick;

static void pick_due(const char *key, void *value, void *arg)
{
    due_pick *p = arg;
    opener_item *it = value;
    if (it->due_ms <= p->now) {
        if (p->n < OPENER_BATCH) snprintf(p->ids[p->n++], CH_ID_MAX + 1, "%s", key);
        else p->next = p->now;
    } else if (it->due_ms < p->next) {
        p->next = it->due_ms;
    }
}

static void *opener_main(void *arg)
{
    ch_instances *set = arg;
    due_pick *pick = ch_malloc(sizeof *pick);
    pthread_mutex_lock(&set->lock);
    while (!set->opener_stop) {
        if (set->ncloseq) {
            ch_inst *i = set->closeq[--set->ncloseq];
            pthread_mutex_unlock(&set->lock);
            inst_close_now(set, i);
            pthread_mutex_lock(&set->lock);
            continue;
        }
        if (set->scan_all) {
            set->scan_all = 0;
            pthread_mutex_unlock(&set->lock);
            scan_all(set);
            pthread_mutex_lock(&set->lock);
            continue;
        }
        pick->now = ch_monotonic_ms();
        pick->next = pick->now + 3600 * 1000;
        pick->n = 0;
        ch_strmap_foreach(set->todo, pick_due, pick);
        if (pick->n) {
            opener_item items[OPENER_BATCH];
            for (size_t k = 0; k < pick->n; k++) {
                opener_item *it = ch_strmap_del(set->todo, pick->ids[k]);
                items[k] = *it;
                free(it);
            }
            pthread_mutex_unlock(&set->lock);
            for (size_t k = 0; k < pick->n; k++) {
                if (process(set, items[k].tenant, pick->ids[k]) == 0) continue;
                int b = items[k].backoff_ms ? items[k].backoff_ms * 2 : OPEN_BACKOFF_MIN_MS;
                if (b > OPEN_BACKOFF_MAX_MS) b = OPEN_BACKOFF_MAX_MS;
                pthread_mutex_lock(&set->lock);
                opener_enqueue_locked(set, items[k].tenant, pick->ids[k]);
                opener_item *it = ch_strmap_get(set->todo, pick->ids[k]);
                it->backoff_ms = b;
                it->due_ms = ch_monotonic_ms() + b;
                pthread_mutex_unlock(&set->lock);
            }
            pthread_mutex_lock(&set->lock);
            continue;
        }
        ch_cond_wait_ms(&set->opener_wake, &set->lock, pick->next - pick->now);
    }
    pthread_mutex_unlock(&set->lock);
    free(pick);
    ch_rconn_thread_close();
    return NULL;
}

static void on_change(const char *tenant, const char *conn, void *arg)
{
    ch_instances *set = arg;
    pthread_mutex_lock(&set->lock);
    opener_enqueue_locked(set, tenant, conn);
    /* A change is worth acting on now, even for an item backing off. */
    opener_item *it = ch_strmap_get(set->todo, conn);
    /* Bounded copy (tenant ids are validated <= CH_ID_MAX elsewhere). */
    size_t tl = strnlen(tenant, sizeof it->tenant - 1);
    memcpy(it->tenant, tenant, tl);
    it->tenant[tl] = '\0';
    it->due_ms = 0;
    pthread_cond_signal(&set->opener_wake);
    pthread_mutex_unlock(&set->lock);
}

static void on_reload(void *arg)
{
    ch_instances *set = arg;
    pthread_mutex_lock(&set->lock);
    set->scan_all = 1;
    pthread_cond_signal(&set->opener_wake);
    pthread_mutex_unlock(&set->lock);
}

int ch_instances_opener_start(ch_instances *set, struct ch_conncache *cache)
{
    pthread_mutex_lock(&set->lock);
    if (set->opener_on) {
        pthread_mutex_unlock(&set->lock);
        return 0;
    }
    /* The caller is the event loop: closes released there are deferred. */
    set->loop = pthread_self();
    set->cache = cache;
    set->opener_stop = 0;
    set->scan_all = ch_conncache_loaded(cache);
    set->opener_on = 1;
    int rc = pthread_create(&set->opener, NULL, opener_main, set);
    if (rc != 0) set->opener_on = 0;
    pthread_mutex_unlock(&set->lock);
    if (rc != 0) {
        ch_log(CH_LOG_ERROR, "instances: cannot start the opener thread", "error", strerror(rc),
               NULL);
        return -1;
    }
    ch_conncache_set_listener(cache, on_change, on_reload, set);
    return 0;
}

void ch_instances_opener_stop(ch_instances *set)
{
    pthread_mutex_lock(&set->lock);
    if (!set->opener_on) {
        pthread_mutex_unlock(&set->lock);
        return;
    }
    set->opener_stop = 1;
    pthread_cond_signal(&set->opener_wake);
    pthread_mutex_unlock(&set->lock);
    ch_conncache_set_listener(set->cache, NULL, NULL, NULL);
    pthread_join(set->opener, NULL);
    pthread_mutex_lock(&set->lock);
    set->opener_on = 0;
    size_t n = set->ncloseq;
    ch_inst **q = set->closeq;
    set->closeq = NULL;
    set->ncloseq = set->capcloseq = 0;
    pthread_mutex_unlock(&set->lock);
    /* Closes the loop handed over after the opener's last pass. */
    for (size_t i = 0; i < n; i++) inst_close_now(set, q[i]);
    free(q);
}
