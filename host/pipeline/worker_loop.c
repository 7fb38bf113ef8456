/* worker_loop.c -- a worker thread's loop: the round robin over tenants,
 * one tenant's turn, the idle wait, and taking over entries of dead
 * consumers (see worker.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "scheduler.h"
#include "util.h"
#include "worker_int.h"

#define IDLE_MIN_MS 100
#define CONSUMERS_MAX 256  /* per stream and sweep: the rest next sweep */
#define TAKEOVER_ROUNDS 64 /* batches of a dead predecessor taken at start */

int ch_wthread_stopping(const ch_wthread *t) { return atomic_load(&t->w->stop) != 0; }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ch_wthread_again(ch_wthread *t, int32_t st, int i, int tries)
{
    if (st != C360_EIO || ch_wthread_stopping(t) || i + 1 >= tries) return 0;
    ch_slot_beat(t->slot);
    sleep_ms(200 << i);
    return 1;
}

void ch_wthread_nap(ch_wthread *t, int ms)
{
    ch_slot_beat(t->slot);
    sleep_ms(ms);
}

static void count(ch_wthread *t, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&t->w->stats_lock);
    *field += n;
    pthread_mutex_unlock(&t->w->stats_lock);
}

void ch_wthread_capwait(ch_wthread *t) { count(t, &t->w->stats.capwaits, 1); }

ch_wthread *ch_wthread_new(ch_workers *w, int index)
{
    ch_wthread *t = ch_calloc(1, sizeof *t);
    t->w = w;
    t->conf = &w->conf;
    t->index = index;
    t->slot = ch_slots_get(w->slots, w->widx, index);
    t->pid = (long)getpid();
    if (w->conf.host[0]) snprintf(t->host, sizeof t->host, "%s", w->conf.host);
    else ch_qw_host_id(t->host, sizeof t->host);
    ch_qw_consumer_name(t->consumer, sizeof t->consumer, t->host, t->pid, index);
    /* Threads start their rounds at different tenants, so that several
     * threads do not all queue behind the same one. */
    t->start = (size_t)(w->widx * w->conf.threads + index);
    t->idle_ms = IDLE_MIN_MS;
    t->conns.ttl_ms = w->conf.conn_cache_ms;
    ch_records_init(&t->recs);
    ch_staged_init(&t->staged);
    /* Batching and the look ahead cost nothing where no loaded plugin
     * takes part. */
    const ch_loader *ld = w->conf.loader;
    for (size_t i = 0; ld && i < ch_loader_count(ld); i++) {
        const ch_plugin_ops *o = ch_plugin_ops_get(ch_loader_get(ld, i));
        if (o->deliver_batch && w->conf.delivery_batch_max > 1) t->batching = 1;
        if (o->event_prefetch) t->prefetching = 1;
    }
    return t;
}

void ch_wthread_free(ch_wthread *t)
{
    if (!t) return;
    /* Its threads are joined; a test may have run it on this one. */
    ch_staged_clear_barrier(t);
    ch_wdel_maps_clear(t);
    ch_records_free(&t->recs);
    ch_staged_free(&t->staged);
    free(t);
}

/* --- outcomes ----------------------------------------------------------- */

int ch_status_retryable(int32_t st)
{
    return st == C360_RETRY || st == C360_EIO || st == C360_ENOMEM || st == C360_ETIMEOUT ||
           st == C360_EAUTH;
}

void ch_status_text(char *buf, size_t cap, int32_t st, const char *err)
{
    if (err && *err) snprintf(buf, cap, "%s: %s", c360_strstatus(st), err);
    else snprintf(buf, cap, "%s", c360_strstatus(st));
}

int32_t ch_wthread_outcome(ch_wthread *t, const char *tenant, const ch_qitem *it,
                           const ch_qoutcome *o, long long *result)
{
    int32_t st = C360_EIO;
    /* Redis away: a few tries (the callback already ran; writing its
     * outcome is worth a short wait), then the item stays pending under
     * this consumer and is run again from the leftovers. */
    for (int i = 0;; i++) {
        st = ch_qw_outcome(tenant, it, o, result);
        if (!ch_wthread_again(t, st, i, CH_WOUTCOME_TRIES)) break;
    }
    ch_workers_stats *s = &t->w->stats;
    uint64_t *f = NULL;
    if (st == C360_OK) {
        switch (o->mode) {
        case CH_QM_OK: f = &s->ok; break;
        case CH_QM_RETRY: f = &s->retried; ch_metrics_inc(CH_M_RETRIES, 1); break;
        case CH_QM_HOLD: f = &s->held; break;
        case CH_QM_DLQ: f = &s->dead; ch_metrics_inc(CH_M_DEAD_LETTERS, 1); break;
        case CH_QM_DROP: f = &s->dropped; break;
        case CH_QM_FAIL: f = &s->ok; break;
        }
        pthread_mutex_lock(&t->w->stats_lock);
        s->items++;
        (*f)++;
        pthread_mutex_unlock(&t->w->stats_lock);
    } else {
        ch_log(CH_LOG_ERROR, "workers: outcome not written; the item stays pending and runs again",
               "tenant", tenant, "entry", it->id, "outcome", ch_qmode_name(o->mode), NULL);
    }
    if (o->mode == CH_QM_DLQ && st == C360_OK)
        ch_log(CH_LOG_WARN, "dead letter", "tenant", tenant, "entry", it->id,
               "stream", it->kind == CH_Q_DL ? "dl" : "ev", "why", o->why ? o->why : "",
               "error", o->err ? o->err : "", NULL);
    return st;
}

void ch_worker_wake(const char *tenant)
{
    redisReply *r = ch_rconn_command("LPUSH %s %s", CH_SCHED_WAKE_KEY, tenant);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (ok && r->integer > CH_SCHED_WAKE_MAX) {
        freeReplyObject(r);
        r = ch_rconn_command("LTRIM %s 0 %d", CH_SCHED_WAKE_KEY, CH_SCHED_WAKE_MAX - 1);
        ok = r && r->type == REDIS_REPLY_STATUS;
    }
    if (!ok) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
    if (r) freeReplyObject(r);
}

/* --- items -------------------------------------------------------------- */

void ch_wthread_run_item(ch_wthread *t, const char *tenant, ch_qitem *it)
{
    if (it->kind == CH_Q_DL) ch_wexec_deliver(t, tenant, it);
    else ch_wexec_event(t, tenant, it);
    ch_slot_beat(t->slot);
}

/* --- batched deliveries (ABI 1.4) ----------------------------------------- */

static ch_wbhint *bhint(ch_wthread *t, const char *tenant)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = tenant; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    ch_wbhint *e = &t->bhint[h % CH_WBHINT_SLOTS];
    if (strcmp(e->tenant, tenant) != 0) {
        snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
        e->frac = 0.0f;
    }
    return e;
}

/* Notes one delivery item of the tenant: whether its destination takes
 * batches. Returns that. */
static int note_dl(ch_wthread *t, const char *tenant, const ch_qitem *it)
{
    int can = it->valid && ch_wdel_batchable(t, tenant, it->d);
    ch_wbhint *e = bhint(t, tenant);
    e->frac = e->frac * 0.9f + (can ? 0.1f : 0.0f);
    return can;
}

/* Delivery items to fetch in a turn of n calls: n, and up to
 * delivery_batch_max as far as the tenant's deliveries go to destinations
 * that take batches (a batch call counts as one item of the turn). */
static size_t dl_share(ch_wthread *t, const char *tenant, size_t n)
{
    size_t max = (size_t)t->conf->delivery_batch_max;
    if (!t->batching || max <= n) return n;
    return n + (size_t)(bhint(t, tenant)->frac * (float)(max - n) + 0.5f);
}

/* The dedup steps of a turn's webhook items in one round trip
 * (ch_qw_dedup_many) instead of one each: only the items that would reach
 * the step in ch_wexec_event -- a webhook with dedup keys of a connection
 * that exists and is not disabled (the state from the same per-thread
 * cache) -- and each decided exactly as there; the run then takes the
 * verdict (ch_qitem.dd_done). An item whose step failed is left to its own
 * step. Returns the duplicates finished here. */
static int dedup_ahead(ch_wthread *t, const char *tenant, ch_qbatch *b)
{
    const ch_qitem **its = ch_calloc(b->n, sizeof *its);
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ch_qitem *it = &b->items[i];
        if (it->kind != CH_Q_EV || !it->valid || !it->k || strcmp(it->k, "wh") != 0 || !it->dk ||
            !it->dk[0] || !ch_id_valid(it->c))
            continue;
        ch_wconn wc;
        if (ch_wconn_get(&t->conns, tenant, it->c, &wc) != C360_OK || !wc.exists ||
            strcmp(wc.state, "disabled") == 0)
            continue;
        its[m++] = it;
    }
    int dups = 0;
    /* One item: its own step costs the same round trip. */
    if (m >= 2) {
        ch_qdedup *d = ch_calloc(m, sizeof *d);
        int32_t *st = ch_calloc(m, sizeof *st);
        ch_qw_dedup_many(tenant, its, m, d, st);
        for (size_t j = 0; j < m; j++) {
            if (st[j] != C360_OK) continue;
            ch_qitem *it = (ch_qitem *)its[j];
            it->dd_done = d[j] == CH_QD_RUN ? 1 : 2;
            if (d[j] == CH_QD_DUP) ch_wexec_count_dup(t);
            if (d[j] != CH_QD_RUN) dups++;
        }
        free(st);
        free(d);
    }
    free(its);
    return dups;
}

/* group: items of the same destination may go in one deliver_batch call
 * (freshly fetched items only: what a dead worker left runs one by one, so
 * that a crash names its record). */
static int run_batch(ch_wthread *t, const char *tenant, ch_qbatch *b, int group)
{
    int n = 0;
    size_t max = (size_t)t->conf->delivery_batch_max;
    unsigned char *done = t->batching && group && b->n > 1 ? ch_calloc(b->n, 1) : NULL;
    /* Fresh items that succeed are acknowledged together at the end of
     * the batch (one script call, ch_wexec_flush); what a dead worker left
     * is written item by item, like everything it does. */
    t->defer_ok = group;
    /* Fresh items only, like the batched acknowledgement. */
    if (group) n += dedup_ahead(t, tenant, b);
    /* ABI 1.7: fresh events only, after dedup (duplicates are not shown).
     * Its time is shared out over the turn's items in their callback
     * times, so that a slow look ahead shrinks the next turns (turn_size),
     * which then have too few events to be shown; and the first item runs
     * even if the look ahead overran the turn's budget, so a turn always
     * moves. */
    int64_t pf_ms = group ? ch_wexec_prefetch(t, tenant, b) : 0;
    double pf_share = b->n ? (double)pf_ms / (double)b->n : 0.0;
    int started = 0;
    ch_qitem **grp = done ? ch_calloc(max, sizeof *grp) : NULL;
    for (size_t i = 0; i < b->n; i++) {
        if ((done && done[i]) || b->items[i].dd_done == 2) continue;
        /* Stopping: the rest stays pending, for the next worker or host. */
        if (ch_wthread_stopping(t)) break;
        /* Slow callbacks: what has not started goes back (to `retry`, due
         * at once) for any thread, before it waits long enough here to
         * look abandoned to another consumer's sweep. */
        if ((started || !pf_ms) &&
            ch_monotonic_ms() - b->items[i].fetched_ms > t->conf->claim_idle_ms / 4) {
            for (; i < b->n && !ch_wthread_stopping(t); i++) {
                if ((done && done[i]) || b->items[i].dd_done == 2) continue;
                ch_qoutcome o = {.mode = CH_QM_HOLD, .delay_ms = 0};
                ch_wthread_outcome(t, tenant, &b->items[i], &o, NULL);
            }
            break;
        }
        ch_qitem *it = &b->items[i];
        size_t k = 1;
        if (t->batching && it->kind == CH_Q_DL && note_dl(t, tenant, it) && done) {
            grp[0] = it;
            for (size_t j = i + 1; j < b->n && k < max; j++) {
                ch_qitem *o = &b->items[j];
                if (done[j] || o->kind != CH_Q_DL || !o->valid || strcmp(o->d, it->d) != 0) continue;
                done[j] = 1;
                grp[k++] = o;
                note_dl(t, tenant, o);
            }
        }
        int64_t t0 = ch_monotonic_ms();
        if (k > 1) {
            ch_wexec_deliver_group(t, tenant, grp, k);
            ch_slot_beat(t->slot);
        } else {
            ch_wthread_run_item(t, tenant, it);
        }
        /* One call, one item of the turn's time budget, however many
         * records it carried. */
        double took = (double)(ch_monotonic_ms() - t0) + pf_share * (double)k;
        t->avg_item_ms = t->avg_item_ms * 0.8 + took * 0.2;
        started = 1;
        n += (int)k;
    }
    t->defer_ok = 0;
    ch_wexec_flush(t);
    free(grp);
    free(done);
    return n;
}

/* A tenant's turn is worth about TURN_BUDGET_MS of callbacks: with items that
 * take 20 ms, one item per turn, so a flooding tenant's batch never makes
 * another tenant wait more than one item per thread; with sub-millisecond
 * items, the full share (fewer Redis round trips). */
#define TURN_BUDGET_MS 10.0

static size_t turn_size(const ch_wthread *t)
{
    size_t share = (size_t)t->conf->share;
    if (t->avg_item_ms <= TURN_BUDGET_MS / (double)share) return share;
    double n = TURN_BUDGET_MS / t->avg_item_ms;
    return n < 1.0 ? 1 : (size_t)n;
}

/* --- taking over -------------------------------------------------------- */

static int pid_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Runs every entry `from` holds in the tenant's stream `kind`. */
static int drain_consumer(ch_wthread *t, const char *tenant, ch_qkind kind, const char *from,
                          int64_t min_idle, int rounds, int batch)
{
    int n = 0;
    for (int i = 0; i < rounds && !ch_wthread_stopping(t); i++) {
        ch_qbatch b;
        if (ch_qw_claim(tenant, kind, from, t->consumer, min_idle, batch, &b) != C360_OK) break;
        size_t got = b.n;
        if (got && strcmp(from, t->consumer) != 0) {
            count(t, &t->w->stats.claimed, got);
            char nb[24];
            snprintf(nb, sizeof nb, "%zu", got);
            ch_log(CH_LOG_INFO, "workers: took over pending entries", "tenant", tenant,
                   "from", from, "stream", kind == CH_Q_DL ? "dl" : "ev", "entries", nb, NULL);
        }
        n += run_batch(t, tenant, &b, 0);
        ch_qbatch_free(&b);
        if (got < (size_t)batch) break;
    }
    return n;
}

/* Looks at the consumers of one stream of the tenant (see worker.h). */
static int sweep_stream(ch_wthread *t, const char *tenant, ch_qkind kind)
{
    ch_qconsumer *cs = ch_malloc(CONSUMERS_MAX * sizeof *cs);
    size_t nc = 0;
    int n = 0;
    int64_t idle = ch_worker_claim_idle_ms(t->conf);
    if (ch_qw_consumers(tenant, kind, cs, CONSUMERS_MAX, &nc) != C360_OK) nc = 0;
    for (size_t i = 0; i < nc && !ch_wthread_stopping(t); i++) {
        const ch_qconsumer *c = &cs[i];
        char host[128];
        long pid;
        if (strcmp(c->name, CH_QW_RETRY_CONSUMER) == 0) continue;
        if (strcmp(c->name, t->consumer) == 0) {
            if (c->pending > 0) n += drain_consumer(t, tenant, kind, c->name, 0, 1, t->conf->share);
            continue;
        }
        if (ch_qw_consumer_parse(c->name, host, sizeof host, &pid) != 0) continue;
        if (strcmp(host, t->host) == 0 && pid != t->pid && !pid_alive(pid)) {
            /* A dead process of this machine: its entries are ours now. */
            if (c->pending > 0) n += drain_consumer(t, tenant, kind, c->name, 0, 1, t->conf->share);
            else ch_qw_forget_consumer(tenant, kind, c->name);
        } else if (c->pending > 0) {
            /* Another host, or a live pid (which may be a recycled one):
             * only what is idle longer than any live worker leaves it. */
            n += drain_consumer(t, tenant, kind, c->name, idle, 1, t->conf->share);
        } else if (c->idle_ms > idle && !(strcmp(host, t->host) == 0 && pid == t->pid)) {
            ch_qw_forget_consumer(tenant, kind, c->name);
        }
    }
    free(cs);
    return n;
}

static int sweep_due(ch_wthread *t, const char *tenant, ch_tsnap *s)
{
    long i = s ? ch_tsnap_find(s, tenant) : -1;
    if (i < 0) return 0;
    int period = t->conf->sweep_ms > 0 ? t->conf->sweep_ms : t->conf->claim_idle_ms / 2;
    int64_t now = ch_monotonic_ms(), last = atomic_load(&s->sweep_at[i]);
    if (last && now - last < period) return 0;
    /* One thread of the process sweeps a tenant per period. */
    return atomic_compare_exchange_strong(&s->sweep_at[i], &last, now);
}

/* batch: entries claimed at a time (1 in isolation: nothing waits in a
 * local batch while a suspect runs). */
static void take_over(ch_wthread *t, const ch_slot_view *prev, int batch)
{
    if (!prev->consumer[0] || strcmp(prev->consumer, t->consumer) == 0 || !ch_id_valid(prev->held_tenant))
        return;
    /* The predecessor died holding entries of this tenant: they are ours
     * before anything else. */
    ch_slot_hold(t->slot, prev->held_tenant);
    int rounds = TAKEOVER_ROUNDS * (t->conf->share / batch);
    drain_consumer(t, prev->held_tenant, CH_Q_EV, prev->consumer, 0, rounds, batch);
    drain_consumer(t, prev->held_tenant, CH_Q_DL, prev->consumer, 0, rounds, batch);
    ch_slot_hold(t->slot, "");
}

void ch_wthread_take_over(ch_wthread *t, const ch_slot_view *prev)
{
    take_over(t, prev, t->conf->share);
}

void ch_wthread_begin(ch_wthread *t)
{
    ch_workers *w = t->w;
    /* Once, for every call this thread makes from now on (the take-over's
     * too): the hook and its argument never change, and nothing on this
     * thread disarms it (ch_wthread_free clears it on the thread that
     * frees t, after the join). Before it, no outcome can be held: the
     * barrier would have had nothing to write. */
    ch_wexec_barrier_arm(t);
    ch_slot_view own;
    ch_slot_claim(t->slot, t->consumer, &own);
    /* The process read every slot before any thread started (w->prev);
     * without that (tests driving threads by hand) the own view serves. */
    const ch_slot_view *prev = w->prev ? &w->prev[t->index] : &own;
    if (!w->isolate) {
        ch_wthread_take_over(t, prev);
        return;
    }
    if (t->index == 0) {
        /* One at a time: with the other threads waiting, a crash now has a
         * single suspect. */
        for (int i = 0; i < w->conf.threads && !ch_wthread_stopping(t); i++) take_over(t, &w->prev[i], 1);
        pthread_mutex_lock(&w->join_lock);
        atomic_store(&w->takeover_done, 1);
        pthread_cond_broadcast(&w->join_cond);
        pthread_mutex_unlock(&w->join_lock);
        return;
    }
    pthread_mutex_lock(&w->join_lock);
    while (!atomic_load(&w->takeover_done) && !ch_wthread_stopping(t)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&w->join_cond, &w->join_lock, &until);
        ch_slot_beat(t->slot);
    }
    pthread_mutex_unlock(&w->join_lock);
}

/* --- the round robin ---------------------------------------------------- */

/* A turn's items. A tenant whose last read on this thread found new
 * entries is busy: its turns read the new entries alone (one round trip,
 * no script) until due_every_ms after this thread last ran fetch2's
 * script for it, which claims the due retries and checks which streams
 * are idle -- and only while that script found nothing due: a tenant with
 * due retries or held items runs it every turn, as before, so new entries
 * never crowd them out (a held delivery would otherwise be held again
 * behind the new ones, with no bound). Under load every thread runs it at
 * least that often per tenant; each skipped script saved a round trip and
 * about 30 us of Redis (the lead benchmark: one per ~10 leads). */
static int32_t fetch(ch_wthread *t, const char *tenant, size_t ns, size_t nd, ch_qbatch *b)
{
    int64_t now = ch_monotonic_ms();
    int same = strcmp(t->due_tenant, tenant) == 0;
    int32_t st;
    if (same && t->busy && !t->due_seen && now - t->due_ms < t->conf->due_every_ms &&
        t->gone != 3) {
        st = ch_qw_fetch_new(tenant, t->consumer, t->gone & 1 ? 0 : (int)ns,
                             t->gone & 2 ? 0 : (int)nd, b);
        if (st == C360_OK) t->gone |= b->gone;
    } else {
        st = ch_qw_fetch2(tenant, t->consumer, (int)ns, (int)nd, b);
        if (st == C360_OK) {
            snprintf(t->due_tenant, sizeof t->due_tenant, "%s", tenant);
            t->due_ms = now;
            /* Not b->gone: a stream missing now is often created by this
             * very turn (a new tenant's first deliveries), and must be read
             * at the next one. */
            t->gone = 0;
            t->due_seen = b->due_found;
        }
    }
    t->busy = st == C360_OK && b->fresh[0] + b->fresh[1] > 0;
    return st;
}

static int turn_with(ch_wthread *t, const char *tenant, ch_tsnap *s)
{
    int n = 0;
    ch_slot_beat(t->slot);
    ch_slot_hold(t->slot, tenant);
    if (sweep_due(t, tenant, s)) {
        n += sweep_stream(t, tenant, CH_Q_EV);
        n += sweep_stream(t, tenant, CH_Q_DL);
    }
    ch_qbatch b;
    size_t ns = turn_size(t), nd = dl_share(t, tenant, ns);
    if (!ch_wthread_stopping(t) && fetch(t, tenant, ns, nd, &b) == C360_OK) {
        n += run_batch(t, tenant, &b, 1);
        ch_qbatch_free(&b);
    }
    ch_slot_hold(t->slot, "");
    count(t, &t->w->stats.turns, 1);
    return n;
}

int ch_wthread_turn(ch_wthread *t, const char *tenant)
{
    ch_tsnap *s = ch_tenants_get(&t->w->tenants);
    int n = turn_with(t, tenant, s);
    ch_tsnap_release(s);
    return n;
}

/* Waits for a wake-up (a tenant id pushed by the ingress or the scheduler)
 * or the timeout; runs the woken tenant's turn at once. */
static void idle_wait(ch_wthread *t, ch_tsnap *s)
{
    char to[16];
    snprintf(to, sizeof to, "%d.%03d", t->idle_ms / 1000, t->idle_ms % 1000);
    ch_slot_beat(t->slot);
    redisReply *r = ch_rconn_command("BLPOP %s %s", CH_SCHED_WAKE_KEY, to);
    ch_slot_beat(t->slot);
    char tenant[CH_ID_MAX + 1] = "";
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING && ch_id_valid(r->element[1]->str))
        snprintf(tenant, sizeof tenant, "%s", r->element[1]->str);
    else if (!r || (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_ARRAY)) {
        ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        /* BLPOP failed at once (Redis away): do not spin on it. */
        sleep_ms(t->idle_ms);
    }
    if (r) freeReplyObject(r);
    if (tenant[0] && !ch_wthread_stopping(t) && turn_with(t, tenant, s) > 0) {
        t->idle_ms = IDLE_MIN_MS;
        return;
    }
    t->idle_ms = t->idle_ms * 2 > t->conf->idle_max_ms ? t->conf->idle_max_ms : t->idle_ms * 2;
}

void ch_wthread_step(ch_wthread *t)
{
    if (t->index == 0 && t->w->set) {
        int64_t now = ch_monotonic_ms();
        if (now - t->swept_ms >= CH_WINST_SWEEP_MS) {
            t->swept_ms = now;
            ch_instances_sweep(t->w->set, CH_WINST_CHECK_MS, CH_WINST_IDLE_MAX_MS);
        }
    }
    ch_tsnap *s = ch_tenants_get(&t->w->tenants);
    if (s->n == 0 || t->visited >= s->n) {
        if (s->n == 0 || !t->pass_work) idle_wait(t, s);
        t->visited = 0;
        t->pass_work = 0;
        ch_tsnap_release(s);
        return;
    }
    const char *tenant = s->names[(t->start + t->visited) % s->n];
    t->visited++;
    if (turn_with(t, tenant, s) > 0) {
        t->pass_work = 1;
        t->idle_ms = IDLE_MIN_MS;
    }
    ch_tsnap_release(s);
}
