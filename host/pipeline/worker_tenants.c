/* worker_tenants.c -- the process's cached tenant list (worker_int.h).
 *
 * One SMEMBERS c360:{idx}:tenants per process per refresh period instead of
 * one per thread: the set can hold many tenants, and every thread of the
 * process walks the same list. */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

#define TENANTS_KEY "c360:{idx}:tenants"
/* Bounded: a runaway set must not make every worker allocate without
 * limit. Beyond this many tenants the round robin sees the first ones in
 * sort order and logs it. */
#define TENANTS_MAX 1000000

static ch_tsnap *snap_new(size_t n)
{
    ch_tsnap *s = ch_calloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->n = n;
    s->names = n ? ch_calloc(n, sizeof *s->names) : NULL;
    s->sweep_at = n ? ch_calloc(n, sizeof *s->sweep_at) : NULL;
    s->loaded_ms = ch_monotonic_ms();
    return s;
}

void ch_tsnap_release(ch_tsnap *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (size_t i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    free((void *)s->sweep_at);
    free(s);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long ch_tsnap_find(const ch_tsnap *s, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->names[mid], name);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

void ch_tenants_init(ch_tenants *t, int refresh_ms)
{
    pthread_mutex_init(&t->lock, NULL);
    t->cur = snap_new(0);
    t->cur->loaded_ms = 0; /* stale at once */
    t->refreshing = 0;
    t->refresh_ms = refresh_ms > 0 ? refresh_ms : 1000;
}

void ch_tenants_destroy(ch_tenants *t)
{
    ch_tsnap_release(t->cur);
    t->cur = NULL;
    pthread_mutex_destroy(&t->lock);
}

/* Reads the set; NULL when Redis fails (the old snapshot stays). */
static ch_tsnap *load(const ch_tsnap *old)
{
    redisReply *r = ch_rconn_command("SMEMBERS %s", TENANTS_KEY);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        ch_log(CH_LOG_WARN, "workers: cannot read the tenant list", "error",
               !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", NULL);
        if (r) freeReplyObject(r);
        return NULL;
    }
    size_t n = r->elements > TENANTS_MAX ? TENANTS_MAX : r->elements;
    if (r->elements > TENANTS_MAX)
        ch_log(CH_LOG_ERROR, "workers: tenant list over its bound; serving the first ones", NULL);
    ch_tsnap *s = snap_new(n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        /* Only well-formed ids: a foreign member must never become a key. */
        if (e->type == REDIS_REPLY_STRING && ch_id_valid(e->str)) s->names[k++] = ch_strdup(e->str);
    }
    s->n = k;
    freeReplyObject(r);
    if (s->n) qsort(s->names, s->n, sizeof *s->names, cmp);
    for (size_t i = 0; i < s->n; i++) {
        long j = ch_tsnap_find(old, s->names[i]);
        if (j >= 0) atomic_store(&s->sweep_at[i], atomic_load(&old->sweep_at[j]));
    }
    return s;
}

ch_tsnap *ch_tenants_get(ch_tenants *t)
{
    pthread_mutex_lock(&t->lock);
    ch_tsnap *cur = t->cur;
    atomic_fetch_add(&cur->refs, 1);
    int stale = ch_monotonic_ms() - cur->loaded_ms >= t->refresh_ms;
    int mine = stale && !t->refreshing;
    if (mine) t->refreshing = 1;
    pthread_mutex_unlock(&t->lock);
    if (!mine) return cur;

    ch_tsnap *next = load(cur);
    pthread_mutex_lock(&t->lock);
    t->refreshing = 0;
    if (next) {
        ch_tsnap *old = t->cur;
        t->cur = next;
        atomic_fetch_add(&next->refs, 1);
        pthread_mutex_unlock(&t->lock);
        ch_tsnap_release(old);
        ch_tsnap_release(cur);
        return next;
    }
    /* Redis failed: keep the old list, and try again after a period. */
    t->cur->loaded_ms = ch_monotonic_ms();
    pthread_mutex_unlock(&t->lock);
    return cur;
}
