/* worker_exec.c -- running one item of a tenant's event stream: a webhook
 * (after its dedup step) or replayed event (the source's event callback)
 * or a tick (its tick callback), and writing what became of it (see
 * worker.h).
 *
 * The sync log. Every outcome of an item that was run or given up on --
 * not a hold, a drop or a duplicate, which ran nothing -- also appends an
 * entry to the connection's capped stream c360:{t:T}:synclog:<c>, in the
 * outcome script itself (queue_work.h, ch_qoutcome.log_status): no round
 * trip of its own, and only when the outcome applied. Its status is ok,
 * retry, dead_letter, or error (a failed tick, which the scheduler
 * re-runs). The admin API's GET .../sync-log reads it
 * (host/admin/api_status.c).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "call.h"
#include "jsonscan.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"
#include "util.h"
#include "worker_int.h"


size_t ch_plugin_index(const ch_loader *ld, const ch_plugin *p)
{
    if (!ld) return SIZE_MAX;
    size_t n = ch_loader_count(ld);
    for (size_t i = 0; i < n; i++)
        if (ch_loader_get(ld, i) == p) return i;
    return SIZE_MAX;
}

void ch_wexec_headers(const ch_qitem *it, c360_header *out, uint32_t *n, ch_whdrs *keep)
{
    *n = 0;
    keep->copy = NULL;
    keep->doc = NULL;
    if (!it->h_len) return;
    const char *names[CH_WEXEC_HEADERS_MAX], *values[CH_WEXEC_HEADERS_MAX];
    size_t got = 0;
    /* The copy only for what can be the flat object. */
    if (it->h_len >= 2 && it->h[0] == '{' && it->h[it->h_len - 1] == '}')
        keep->copy = ch_malloc(it->h_len + 1);
    if (keep->copy &&
        ch_jsonscan_flat(it->h, it->h_len, keep->copy, names, values, CH_WEXEC_HEADERS_MAX, &got) ==
            CH_JSONSCAN_OBJECT) {
        for (size_t i = 0; i < got; i++) out[i] = (c360_header){names[i], values[i]};
        *n = (uint32_t)got;
        return;
    }
    free(keep->copy);
    keep->copy = NULL;
    json_error_t e;
    json_t *j = json_loadb(it->h, it->h_len, 0, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (*n >= CH_WEXEC_HEADERS_MAX) break;
        if (!json_is_string(v)) continue;
        out[*n].name = k;
        out[*n].value = json_string_value(v);
        (*n)++;
    }
    keep->doc = j;
}

void ch_wexec_headers_free(ch_whdrs *keep)
{
    free(keep->copy);
    json_decref(keep->doc);
    keep->copy = NULL;
    keep->doc = NULL;
}

void ch_wexec_slot_item(ch_slot_item *si, const char *tenant, const ch_qitem *it, const char *plugin,
                        int cb, int timeout_ms)
{
    memset(si, 0, sizeof *si);
    snprintf(si->tenant, sizeof si->tenant, "%s", tenant);
    snprintf(si->conn, sizeof si->conn, "%s", it->kind == CH_Q_DL ? it->d : it->c);
    snprintf(si->stream, sizeof si->stream, "c360:{t:%s}:%s", tenant, it->kind == CH_Q_DL ? "dl" : "ev");
    snprintf(si->entry, sizeof si->entry, "%s", it->id);
    snprintf(si->plugin, sizeof si->plugin, "%s", plugin ? plugin : "");
    si->kind = it->kind;
    si->callback = cb;
    si->start_ms = ch_monotonic_ms();
    si->deadline_ms = si->start_ms + timeout_ms;
}

int32_t ch_wexec_acquire(ch_wthread *t, const char *tenant, const ch_qitem *it, const char *conn,
                         const char *plugin, ch_inst **inst, char *err, size_t errcap)
{
    ch_slot_item si;
    ch_wexec_slot_item(&si, tenant, it, plugin, CH_SLOT_CB_OPEN, t->conf->callback_timeout_ms);
    ch_slot_begin(t->slot, &si);
    int32_t st = ch_instance_acquire(t->w->set, tenant, conn, inst, err, errcap);
    ch_slot_end(t->slot);
    return st;
}

void ch_wexec_slot_begin(ch_wthread *t, const char *tenant, const ch_qitem *it, const char *plugin,
                         int cb)
{
    ch_slot_item si;
    ch_wexec_slot_item(&si, tenant, it, plugin, cb, t->conf->callback_timeout_ms);
    ch_slot_begin(t->slot, &si);
}

static void tick_done(const char *tenant, const char *conn, int32_t st, uint32_t retry_after)
{
    int32_t rc = ch_sched_tick_done(tenant, conn, st, retry_after);
    if (rc != C360_OK && rc != C360_ENOTFOUND)
        ch_log(CH_LOG_WARN, "workers: tick not rescheduled (the scheduler retakes it after its lease)",
               "tenant", tenant, "connection", conn, NULL);
}

static void outcome_simple(ch_wthread *t, const char *tenant, ch_qitem *it, ch_qmode mode,
                           const char *why, const char *err, int64_t delay, int tick)
{
    ch_qoutcome o = {.mode = mode, .why = why, .err = err, .delay_ms = delay, .tick = tick};
    ch_wthread_outcome(t, tenant, it, &o, NULL);
}

/* An outcome that goes into the sync log with status log and the
 * callback's duration took_ms (0: it never ran). */
static void outcome_logged(ch_wthread *t, const char *tenant, ch_qitem *it, ch_qmode mode,
                           const char *why, const char *err, int64_t delay, int tick,
                           const char *log, int64_t took_ms)
{
    ch_qoutcome o = {.mode = mode, .why = why, .err = err, .delay_ms = delay, .tick = tick,
                     .log_status = log, .latency_ms = took_ms};
    ch_wthread_outcome(t, tenant, it, &o, NULL);
}

/* A tick that did not run: acknowledged (the scheduler owns its retry). */
static void tick_failed(ch_wthread *t, const char *tenant, ch_qitem *it, int32_t st, uint32_t ra,
                        const char *err, int64_t took_ms)
{
    outcome_logged(t, tenant, it, CH_QM_FAIL, NULL, err, 0, 1, "error", took_ms);
    tick_done(tenant, it->c, st, ra);
}

/* The item could not run, or its callback failed: a retryable status
 * retries, others are dead letters; a tick reports to the scheduler. */
static void failed(ch_wthread *t, const char *tenant, ch_qitem *it, int tick, int32_t st,
                   uint32_t retry_after, const char *err, int64_t took_ms)
{
    if (tick) {
        tick_failed(t, tenant, it, st, retry_after, err, took_ms);
        return;
    }
    long long attempt = ch_qitem_attempt(it);
    if (ch_status_retryable(st) && attempt < t->conf->max_attempts) {
        int64_t d = ch_qw_backoff_ms(attempt, retry_after, t->conf->retry_base_ms, t->conf->retry_cap_ms);
        outcome_logged(t, tenant, it, CH_QM_RETRY, NULL, err, d, 0, "retry", took_ms);
    } else {
        outcome_logged(t, tenant, it, CH_QM_DLQ, ch_status_retryable(st) ? "attempts" : "error", err,
                       0, 0, "dead_letter", took_ms);
    }
}

int64_t ch_hold_delay(int64_t base)
{
    int64_t j = base / 4;
    return base - j + (j > 0 ? (int64_t)randombytes_uniform((uint32_t)(2 * j + 1)) : 0);
}

/* The dedup step (queue_work.h, ch_qw_dedup): a webhook entry whose dedup
 * keys another entry already holds is acknowledged without running and
 * counted. Returns 1 when the item should go on, 0 when it is finished
 * here (a duplicate) or must wait (Redis away: it stays pending under this
 * consumer and runs again from the leftovers, like any unwritten step). */
void ch_wexec_count_dup(ch_wthread *t)
{
    /* Counted where the duplicate is found: the ingress stores every copy
     * and cannot tell. In the worker stats it is an item acknowledged
     * without running, like a drop. */
    ch_metrics_inc(CH_M_EVENTS_DUPLICATE, 1);
    pthread_mutex_lock(&t->w->stats_lock);
    t->w->stats.items++;
    t->w->stats.dropped++;
    pthread_mutex_unlock(&t->w->stats_lock);
}

static int dedup_step(ch_wthread *t, const char *tenant, ch_qitem *it)
{
    /* Decided ahead with the rest of the turn (worker_loop.c). */
    if (it->dd_done) return it->dd_done == 1;
    ch_qdedup d;
    if (ch_qw_dedup(tenant, it, &d) != C360_OK) return 0;
    if (d == CH_QD_RUN) return 1;
    if (d == CH_QD_DUP) ch_wexec_count_dup(t);
    return 0;
}

/* tries: how many times the script is tried while Redis is away (with a
 * growing sleep between). */
static void flush_tries(ch_wthread *t, int tries)
{
    size_t n = t->nok;
    if (n == 0) return;
    long long res[CH_WOK_MAX];
    int32_t st = C360_EIO;
    /* As ch_wthread_outcome: Redis away, a few tries, then the items stay
     * pending under this consumer and run again from the leftovers. */
    for (int i = 0;; i++) {
        st = ch_qw_outcome_ok_events(t->ok_tenant, t->ok, n, res);
        if (!ch_wthread_again(t, st, i, tries)) break;
    }
    if (st == C360_OK) {
        size_t nrec = 0;
        long long enq = 0;
        for (size_t i = 0; i < n; i++) {
            nrec += t->ok[i].nrec;
            if (res[i] > 0) enq += res[i];
        }
        pthread_mutex_lock(&t->w->stats_lock);
        t->w->stats.items += n;
        t->w->stats.ok += n;
        pthread_mutex_unlock(&t->w->stats_lock);
        if (nrec) ch_metrics_inc(CH_M_RECORDS_EMITTED, nrec);
        /* More deliveries than this thread takes in its next turn: let an
         * idle thread help. */
        if (enq > t->conf->share) ch_worker_wake(t->ok_tenant);
    } else {
        char nb[24];
        snprintf(nb, sizeof nb, "%zu", n);
        ch_log(CH_LOG_ERROR, "workers: outcomes not written; the items stay pending and run again",
               "tenant", t->ok_tenant, "entries", nb, "outcome", "ok", NULL);
    }
    for (size_t i = 0; i < n; i++) {
        free((char *)t->ok[i].records);
        free((char *)t->ok[i].state);
        free((void *)t->ok[i].state_keys);
    }
    t->nok = 0;
    t->ok_ms = 0;
    t->ok_bytes = 0;
}

void ch_wexec_flush(ch_wthread *t) { flush_tries(t, CH_WOUTCOME_TRIES); }

/* ch_staged_barrier's hook (state_staged.h): the held outcomes are written
 * now when one of them carries staged writes of connection conn. */
static void staged_barrier(void *arg, const char *tenant, const char *conn)
{
    ch_wthread *t = arg;
    if (!t->nok || strcmp(t->ok_tenant, tenant) != 0) return;
    for (size_t i = 0; i < t->nok; i++)
        if (t->ok[i].nstate && strcmp(t->ok[i].it->c, conn) == 0) {
            /* Inside a plugin's callback: one try, no sleeps that would
             * count against its deadline. Redis away: the held items stay
             * pending and run again, as from any failed flush. */
            flush_tries(t, 1);
            return;
        }
}

void ch_wexec_barrier_arm(ch_wthread *t) { ch_staged_set_barrier(staged_barrier, t); }

/* The state writes a call staged (state_set_on_commit), packed for the
 * outcome script (ch_staged_pack): the blob and the key names, owned. */
typedef struct staged_pack {
    char *blob;
    size_t len;
    char **keys;
    size_t n;
} staged_pack;

/* Keeps the OK outcome of an event item for ch_wexec_flush (blob and sp's
 * buffers are taken). */
static void defer_ok(ch_wthread *t, const char *tenant, const ch_qitem *it, char *blob, size_t blen,
                     size_t nrec, const staged_pack *sp, int64_t took)
{
    if (t->nok && (t->nok == CH_WOK_MAX || strcmp(t->ok_tenant, tenant) != 0)) ch_wexec_flush(t);
    if (!t->nok) snprintf(t->ok_tenant, sizeof t->ok_tenant, "%s", tenant);
    t->ok[t->nok++] = (ch_qok){.it = it, .records = blob, .records_len = blen,
                               .nrec = blob ? nrec : 0, .state = sp->blob, .state_len = sp->len,
                               .state_keys = (const char *const *)sp->keys, .nstate = sp->n,
                               .latency_ms = took};
    t->ok_ms += took > 0 ? took : 0;
    t->ok_bytes += blen + sp->len;
    if (t->ok_ms >= CH_WOK_WINDOW_MS || t->ok_bytes >= CH_WOK_BYTES_MAX) ch_wexec_flush(t);
}

void ch_wexec_event(ch_wthread *t, const char *tenant, ch_qitem *it)
{
    int tick = strcmp(it->k, "tick") == 0;
    int event = strcmp(it->k, "wh") == 0 || strcmp(it->k, "replay") == 0;
    if (!it->valid || !ch_id_valid(it->c) || (!tick && !event)) {
        outcome_simple(t, tenant, it, CH_QM_DLQ, "error", "malformed work item (kind or connection)", 0, 0);
        return;
    }
    ch_wconn wc;
    if (ch_wconn_get(&t->conns, tenant, it->c, &wc) != C360_OK) return; /* stays pending */
    if (!wc.exists) {
        outcome_simple(t, tenant, it, CH_QM_DROP, NULL, NULL, 0, tick);
        return;
    }
    /* Dropped work of an existing connection is counted in its stats
     * (why = its state). */
    if (strcmp(wc.state, "disabled") == 0 || (tick && strcmp(wc.state, "active") != 0 &&
                                               strcmp(wc.state, "failing") != 0)) {
        outcome_simple(t, tenant, it, CH_QM_DROP, wc.state, NULL, 0, tick);
        return;
    }
    /* Dedup before anything else is decided, so that a duplicate of a
     * paused connection is not held and looked at again for nothing. A
     * gone or disabled connection's items were dropped above without it:
     * no dedup key or stat of a purged connection is written back. */
    if (!tick && !dedup_step(t, tenant, it)) return;
    if (strcmp(wc.state, "paused") == 0 || strcmp(wc.state, "needs_reauth") == 0) {
        outcome_simple(t, tenant, it, CH_QM_HOLD, NULL, NULL, ch_hold_delay(t->conf->hold_ms), 0);
        return;
    }
    long long attempt = ch_qitem_attempt(it);
    if (!tick && attempt > t->conf->max_attempts) {
        outcome_logged(t, tenant, it, CH_QM_DLQ, "attempts", "attempts exhausted", 0, 0, "dead_letter", 0);
        return;
    }

    char err[CH_CALL_ERROR_MAX + 64] = "";
    ch_inst *inst = NULL;
    int32_t st = ch_wexec_acquire(t, tenant, it, it->c, wc.plugin, &inst, err, sizeof err);
    if (st == C360_ENOTFOUND) {
        /* The connection exists (just read): its plugin is not loaded on
         * this host. Another host, or this one upgraded, will have it. */
        ch_wconn_forget(&t->conns, tenant, it->c);
        if (tick) tick_failed(t, tenant, it, C360_RETRY, 0, "plugin not loaded on this host", 0);
        else outcome_simple(t, tenant, it, CH_QM_HOLD, NULL, NULL, ch_hold_delay(t->conf->hold_ms), 0);
        return;
    }
    if (st != C360_OK) {
        char text[CH_CALL_ERROR_MAX + 96];
        ch_status_text(text, sizeof text, st, err[0] ? err : "instance_open failed");
        failed(t, tenant, it, tick, st, 0, text, 0);
        return;
    }
    const ch_plugin *pl = ch_inst_plugin(inst);
    const ch_plugin_ops *ops = ch_plugin_ops_get(pl);
    if ((tick && !ops->tick) || (!tick && !ops->event)) {
        ch_instance_release(inst);
        failed(t, tenant, it, tick, C360_ERROR, 0,
               tick ? "the plugin has no tick callback" : "the plugin has no event callback", 0);
        return;
    }

    c360_header hdrs[CH_WEXEC_HEADERS_MAX];
    uint32_t nh = 0;
    ch_whdrs hkeep = {NULL, NULL};
    if (!tick) ch_wexec_headers(it, hdrs, &nh, &hkeep);
    c360_call call;
    ch_call_init(&call, ch_plugin_name(pl), ch_inst_instance(inst), it->rid, t->conf->callback_timeout_ms);
    ch_records_reset(&t->recs);
    ch_staged_reset(&t->staged);
    call.records = &t->recs;
    call.staged = &t->staged;
    /* Held staged writes of this connection land before its callback
     * reads or writes state directly (the hook ch_wthread_begin armed),
     * and before a tick's own commit. */
    if (tick) staged_barrier(t, tenant, it->c);
    ch_wexec_slot_begin(t, tenant, it, ch_plugin_name(pl), tick ? CH_SLOT_CB_TICK : CH_SLOT_CB_EVENT);
    int64_t t0 = ch_monotonic_ms();
    if (tick) {
        st = ops->tick(&call, ch_plugin_data(pl), ch_inst_data(inst));
    } else {
        c360_event ev = {
            .struct_size = sizeof ev,
            .header_count = nh,
            .event_id = it->id,
            .headers = hdrs,
            .body = (const uint8_t *)it->b,
            .body_len = it->b_len,
            .received_at_ms = it->t,
            .attempt = attempt > UINT32_MAX ? UINT32_MAX : (uint32_t)attempt,
        };
        st = ops->event(&call, ch_plugin_data(pl), ch_inst_data(inst), &ev);
    }
    int64_t took = ch_monotonic_ms() - t0;
    ch_slot_end(t->slot);
    call.records = NULL;
    call.staged = NULL;
    ch_wexec_headers_free(&hkeep);
    ch_metrics_observe_callback(ch_plugin_index(t->conf->loader, pl), tick ? CH_CB_TICK : CH_CB_EVENT, took);
    st = ch_status_normalise(st);
    uint32_t ra = call.retry_set ? call.retry_after_ms : 0;
    char text[CH_CALL_ERROR_MAX + 96];
    ch_status_text(text, sizeof text, st, call.error);
    ch_call_done(&call);
    ch_instance_release(inst);

    if (st != C360_OK) {
        ch_staged_reset(&t->staged); /* staged writes die with the call */
        failed(t, tenant, it, tick, st, ra, text, took);
        return;
    }
    size_t blen = 0, nrec = ch_records_count(&t->recs);
    char *blob = ch_records_pack(&t->recs, &blen);
    staged_pack sp = {0};
    sp.blob = ch_staged_pack(&t->staged, &sp.len, &sp.keys, &sp.n);
    ch_staged_reset(&t->staged);
    if (!tick && t->defer_ok) {
        defer_ok(t, tenant, it, blob, blen, nrec, &sp, took);
        ch_records_reset(&t->recs);
        return;
    }
    ch_qoutcome o = {.mode = CH_QM_OK, .records = blob, .records_len = blen, .nrec = nrec, .tick = tick,
                     .state = sp.blob, .state_len = sp.len,
                     .state_keys = (const char *const *)sp.keys, .nstate = sp.n,
                     .log_status = "ok", .latency_ms = took};
    long long enq = 0;
    if (ch_wthread_outcome(t, tenant, it, &o, &enq) == C360_OK) {
        if (nrec) ch_metrics_inc(CH_M_RECORDS_EMITTED, nrec);
        /* More deliveries than this thread takes in its next turn: let an
         * idle thread help. */
        if (enq > t->conf->share) ch_worker_wake(tenant);
    }
    free(blob);
    free(sp.blob);
    free(sp.keys);
    ch_records_reset(&t->recs);
    if (tick) tick_done(tenant, it->c, C360_OK, 0);
}
