/* worker_prefetch.c -- the look ahead of ABI 1.7 (event_prefetch): before a
 * thread runs a turn's fresh webhook events, each connection whose plugin
 * offers event_prefetch and that has two or more of them in the turn is
 * shown those events together, once, so that the plugin can read what
 * their event calls will need in fewer provider requests (Meta: many leads
 * in one Graph batch request instead of one GET each).
 *
 * Advisory, by the ABI's contract: the call emits no records and stages no
 * writes (call.records and call.staged stay NULL, so record_emit and
 * state_set_on_commit refuse), its duration is observed and a failure
 * logged, and every event still goes to the plugin's event callback
 * afterwards, whatever happened here. Only events that will reach that
 * callback in this turn are shown: webhooks on their first attempt (not
 * replays, not retries, not what a dead worker left -- those run one by
 * one, so that a crash names its entry), not found duplicates by the
 * turn's dedup step, of a connection that exists and runs (not paused,
 * disabled or waiting for re-authorisation). The others simply get no look
 * ahead. So a look ahead that crashes is charged (supervisor_jobs.c) to an
 * event at most once: the event then runs alone, and if it fails it is
 * never shown again -- a crash loop of the look ahead cannot poison it.
 *
 * Time. The turn's items wait while the look ahead runs, and a turn that
 * has not started an item claim_idle_ms/4 after its fetch hands the rest
 * back (worker_loop.c run_batch). So the look ahead gets at most half of
 * that budget, as the deadline of its calls (never more than
 * callback_timeout_ms), and no further call once it is spent; the time it
 * took counts in the thread's callback time, which sizes the next turns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "worker_int.h"

/* Events shown in one call: a plugin batches what it can (Meta: 50 Graph
 * operations per request) and the rest of a large turn gets another call. */
#define PREFETCH_MAX 64
/* A call with less time than this left is not worth making. */
#define PREFETCH_MIN_MS 20

/* 1 when it would reach the plugin's event callback in this turn; then
 * *wc is the state of its connection that said so (left alone on 0). */
static int eligible(ch_wthread *t, const char *tenant, const ch_qitem *it, ch_wconn *wc)
{
    if (it->kind != CH_Q_EV || !it->valid || it->dd_done == 2 || !it->k ||
        strcmp(it->k, "wh") != 0 || !ch_id_valid(it->c))
        return 0;
    if (ch_qitem_attempt(it) != 1) return 0;
    ch_wconn got;
    if (ch_wconn_get(&t->conns, tenant, it->c, &got) != C360_OK || !got.exists) return 0;
    if (strcmp(got.state, "active") != 0 && strcmp(got.state, "failing") != 0) return 0;
    *wc = got;
    return 1;
}

/* One call of the plugin with its[0..n) (n >= 2, one connection), with a
 * deadline of timeout_ms; wc is that connection as eligible() last read
 * it (no second read for the same answer). */
static void prefetch_call(ch_wthread *t, const char *tenant, const ch_wconn *wc, ch_qitem **its,
                          size_t n, int timeout_ms)
{
    /* The plugin first: no instance is opened for a look ahead it lacks. */
    const ch_plugin *named = ch_loader_find(t->conf->loader, wc->plugin);
    if (!named || !ch_plugin_ops_get(named)->event_prefetch) return;
    char err[CH_CALL_ERROR_MAX + 64] = "";
    ch_inst *inst = NULL;
    if (ch_wexec_acquire(t, tenant, its[0], its[0]->c, wc->plugin, &inst, err, sizeof err) != C360_OK)
        return; /* the event calls meet (and report) the same failure */
    const ch_plugin *pl = ch_inst_plugin(inst);
    const ch_plugin_ops *ops = ch_plugin_ops_get(pl);
    /* event_prefetch was checked above for the plugin the connection names,
     * which is the instance's -- unless the connection was re-created under
     * another plugin since that instance was opened: only then ask again. */
    if ((pl != named && !ops->event_prefetch) || !ops->event) {
        ch_instance_release(inst);
        return;
    }
    c360_event *evs = ch_calloc(n, sizeof *evs);
    const c360_event **pev = ch_calloc(n, sizeof *pev);
    c360_header *hdrs = ch_calloc(n * CH_WEXEC_HEADERS_MAX, sizeof *hdrs);
    ch_whdrs *hkeep = ch_calloc(n, sizeof *hkeep);
    for (size_t i = 0; i < n; i++) {
        const ch_qitem *it = its[i];
        uint32_t nh = 0;
        ch_wexec_headers(it, hdrs + i * CH_WEXEC_HEADERS_MAX, &nh, &hkeep[i]);
        long long attempt = ch_qitem_attempt(it);
        evs[i] = (c360_event){
            .struct_size = sizeof evs[i],
            .header_count = nh,
            .event_id = it->id,
            .headers = hdrs + i * CH_WEXEC_HEADERS_MAX,
            .body = (const uint8_t *)it->b,
            .body_len = it->b_len,
            .received_at_ms = it->t,
            .attempt = attempt > UINT32_MAX ? UINT32_MAX : (uint32_t)attempt,
        };
        pev[i] = &evs[i];
    }
    c360_call call;
    ch_call_init(&call, ch_plugin_name(pl), ch_inst_instance(inst), its[0]->rid, timeout_ms);
    /* No records, no staged writes: the refusals tell the plugin so. Its
     * direct state access finds this connection's held outcomes written
     * first, as from event. */
    call.records = NULL;
    call.staged = NULL;
    /* The slot's deadline (the watchdog's) is the callback's, as for any
     * call; the call's own deadline above is what the plugin sees. */
    ch_wexec_slot_begin(t, tenant, its[0], ch_plugin_name(pl), CH_SLOT_CB_PREFETCH);
    int64_t t0 = ch_monotonic_ms();
    int32_t st = ops->event_prefetch(&call, ch_plugin_data(pl), ch_inst_data(inst), pev, n);
    int64_t took = ch_monotonic_ms() - t0;
    ch_slot_end(t->slot);
    ch_slot_beat(t->slot);
    ch_metrics_observe_callback(ch_plugin_index(t->conf->loader, pl), CH_CB_EVENT_PREFETCH, took);
    st = ch_status_normalise(st);
    if (st != C360_OK) {
        char text[CH_CALL_ERROR_MAX + 96], nb[24];
        ch_status_text(text, sizeof text, st, call.error);
        snprintf(nb, sizeof nb, "%zu", n);
        ch_log(CH_LOG_DEBUG, "workers: event_prefetch failed; the events run without it", "tenant",
               tenant, "connection", its[0]->c, "plugin", ch_plugin_name(pl), "events", nb,
               "error", text, NULL);
    }
    ch_call_done(&call);
    ch_instance_release(inst);
    for (size_t i = 0; i < n; i++) ch_wexec_headers_free(&hkeep[i]);
    free(hkeep);
    free(hdrs);
    free(pev);
    free(evs);
}

/* The deadline the next call gets: what is left of the look ahead's share
 * of the turn's time, at most callback_timeout_ms; 0 when too little. */
static int next_timeout(const ch_wthread *t, int64_t until)
{
    int64_t left = until - ch_monotonic_ms();
    if (left > t->conf->callback_timeout_ms) left = t->conf->callback_timeout_ms;
    return left < PREFETCH_MIN_MS ? 0 : (int)left;
}

/* One call with grp[0..k) if the time left before `until` allows it:
 * 0, or 1 when it is spent (no call made). */
static int call_within(ch_wthread *t, const char *tenant, const ch_wconn *wc, ch_qitem **grp,
                       size_t k, int64_t until)
{
    int ms = next_timeout(t, until);
    if (ms == 0) return 1;
    prefetch_call(t, tenant, wc, grp, k, ms);
    return 0;
}

int64_t ch_wexec_prefetch(ch_wthread *t, const char *tenant, ch_qbatch *b)
{
    if (!t->prefetching || b->n < 2) return 0;
    int64_t t0 = ch_monotonic_ms();
    /* Half of what is left before run_batch would hand the turn back. */
    int64_t until = t0 + (b->items[0].fetched_ms + t->conf->claim_idle_ms / 4 - t0) / 2;
    /* Connections in the order of their first event; each one's events in
     * turn order, which is the order event sees them in. */
    unsigned char *seen = ch_calloc(b->n, 1);
    ch_qitem **grp = ch_calloc(b->n < PREFETCH_MAX ? b->n : PREFETCH_MAX, sizeof *grp);
    int spent = 0;
    for (size_t i = 0; i < b->n && !spent && !ch_wthread_stopping(t); i++) {
        if (seen[i]) continue;
        seen[i] = 1;
        ch_qitem *it = &b->items[i];
        /* The group's connection as its latest eligible() read found it. */
        ch_wconn wc;
        if (!eligible(t, tenant, it, &wc)) continue;
        size_t k = 0;
        grp[k++] = it;
        for (size_t j = i + 1; j < b->n && !spent; j++) {
            ch_qitem *o = &b->items[j];
            if (seen[j] || o->kind != CH_Q_EV || !o->valid || !o->c || strcmp(o->c, it->c) != 0)
                continue;
            seen[j] = 1;
            if (!eligible(t, tenant, o, &wc)) continue;
            grp[k++] = o;
            if (k == PREFETCH_MAX) {
                spent = call_within(t, tenant, &wc, grp, k, until);
                k = 0;
            }
        }
        if (k >= 2 && !spent) spent = call_within(t, tenant, &wc, grp, k, until);
    }
    free(grp);
    free(seen);
    return ch_monotonic_ms() - t0;
}
