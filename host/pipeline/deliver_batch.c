/* deliver_batch.c -- several delivery items of one destination connection
 * in one deliver_batch call (ABI 1.4; docs/pipeline.md, "Deliveries").
 *
 * The work loop (worker_loop.c) groups the delivery items of one fetch
 * that go to the same destination, up to pipeline.delivery_batch_max, when
 * that destination's plugin has deliver_batch. Everything around the call
 * is what a single delivery gets, per record: the state checks, attempts
 * (each record its own), the dead letter of an item past max_attempts or
 * of a route stopped by a 410, the route's field mapping (read once per
 * source in the group), and afterwards each record's own outcome -- OK,
 * retry with backoff and the call's Retry-After, dead letter, a delivery
 * log entry each, or for C360_THROTTLED (ABI 1.5) a hold without an
 * attempt -- through the same code as deliver.c. The call itself
 * takes one place under the destination's concurrency cap (one lease, one
 * token, released by the first outcome written), shows its first item in
 * the thread's slot, and runs under one deadline.
 *
 * A crash or hang in deliver_batch charges the first item (the one the
 * slot shows). The items a dead worker held are taken over and run one at
 * a time (worker_loop.c groups only freshly fetched items), so the record
 * that really crashes the plugin is the one charged next; a charged item
 * that then succeeds has its count cleared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "call.h"
#include "conns.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

/* A status deliver_batch never set (an unknown value, like any other). */
#define STATUS_UNSET INT32_MIN

int ch_wdel_batchable(ch_wthread *t, const char *tenant, const char *dest)
{
    if (t->conf->delivery_batch_max < 2 || !t->conf->loader || !ch_id_valid(dest)) return 0;
    ch_wconn wc;
    if (ch_wconn_get(&t->conns, tenant, dest, &wc) != C360_OK || !wc.exists) return 0;
    const ch_plugin *p = ch_loader_find(t->conf->loader, wc.plugin);
    return p && ch_plugin_ops_get(p)->deliver_batch != NULL;
}

/* The lease back without an outcome (the group falls apart into single
 * deliveries, which take their own). */
static void lease_drop(const char *tenant, const char *dest, const char *token)
{
    char *key = ch_key_tenant(tenant, "lease:%s", dest);
    redisReply *r = ch_rconn_command("ZREM %s %s", key, token);
    free(key);
    if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
    if (r) freeReplyObject(r);
}

static void each(ch_wthread *t, const char *tenant, ch_qitem **its, size_t n, ch_qmode mode,
                 const char *why, int64_t base_delay, const char *token)
{
    for (size_t i = 0; i < n; i++)
        ch_wdel_simple(t, tenant, its[i], mode, why, NULL, base_delay ? ch_hold_delay(base_delay) : 0,
                       token);
}

void ch_wexec_deliver_group(ch_wthread *t, const char *tenant, ch_qitem **its, size_t n)
{
    const char *dest = its[0]->d;
    ch_wconn wc;
    if (ch_wconn_get(&t->conns, tenant, dest, &wc) != C360_OK) return; /* all stay pending */
    if (!wc.exists || strcmp(wc.state, "disabled") == 0) {
        each(t, tenant, its, n, CH_QM_DROP, wc.exists ? "disabled" : NULL, 0, NULL);
        return;
    }
    if (strcmp(wc.state, "paused") == 0 || strcmp(wc.state, "needs_reauth") == 0) {
        each(t, tenant, its, n, CH_QM_HOLD, NULL, t->conf->hold_ms, NULL);
        return;
    }
    const ch_plugin *lp = t->conf->loader ? ch_loader_find(t->conf->loader, wc.plugin) : NULL;
    if (!lp || !ch_plugin_ops_get(lp)->deliver_batch) {
        /* Not (or no longer) a batching destination: one at a time. */
        for (size_t i = 0; i < n; i++) ch_wexec_deliver(t, tenant, its[i]);
        return;
    }

    /* Per record: what a single delivery checks before it runs. */
    ch_qitem **live = ch_calloc(n, sizeof *live);
    size_t nl = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ch_wdel_item_valid(its[i]))
            ch_wdel_simple(t, tenant, its[i], CH_QM_DLQ, "error", "malformed delivery item", 0, NULL);
        else if (ch_wdel_precheck(t, tenant, its[i], &wc))
            live[nl++] = its[i];
    }
    if (nl < 2) {
        if (nl == 1) ch_wexec_deliver(t, tenant, live[0]);
        free(live);
        return;
    }

    char token[CH_WDEL_TOKEN_MAX];
    snprintf(token, sizeof token, "%s:%s", t->consumer, live[0]->id);
    int l = ch_wdel_lease(t, tenant, dest, token);
    if (l <= 0) {
        /* Redis away: all stay pending. Over the cap: held, unattempted. */
        if (l == 0) each(t, tenant, live, nl, CH_QM_HOLD, NULL, t->conf->cap_hold_ms, NULL);
        free(live);
        return;
    }

    char err[CH_CALL_ERROR_MAX + 64] = "";
    char text[CH_CALL_ERROR_MAX + 96];
    ch_inst *inst = NULL;
    int32_t st = ch_wexec_acquire(t, tenant, live[0], dest, wc.plugin, &inst, err, sizeof err);
    if (st == C360_ENOTFOUND) {
        ch_wconn_forget(&t->conns, tenant, dest);
        each(t, tenant, live, nl, CH_QM_HOLD, NULL, t->conf->hold_ms, token);
        free(live);
        return;
    }
    if (st != C360_OK) {
        ch_status_text(text, sizeof text, st, err[0] ? err : "instance_open failed");
        for (size_t i = 0; i < nl; i++) ch_wdel_finish(t, tenant, live[i], st, text, 0, 0, token);
        free(live);
        return;
    }
    const ch_plugin *pl = ch_inst_plugin(inst);
    const ch_plugin_ops *ops = ch_plugin_ops_get(pl);
    if (!ops->deliver_batch) {
        ch_instance_release(inst);
        lease_drop(tenant, dest, token);
        for (size_t i = 0; i < nl; i++) ch_wexec_deliver(t, tenant, live[i]);
        free(live);
        return;
    }

    /* The records, each shaped by its route's mapping. A record whose
     * mapping cannot be applied is a permanent error of its own; the
     * others go on. */
    c360_record *recs = ch_calloc(nl, sizeof *recs);
    const c360_record **ptrs = ch_calloc(nl, sizeof *ptrs);
    char **shaped = ch_calloc(nl, sizeof *shaped);
    int32_t *statuses = ch_calloc(nl, sizeof *statuses);
    size_t *slot = ch_calloc(nl, sizeof *slot); /* record k -> live index */
    int32_t *pre = ch_calloc(nl, sizeof *pre);  /* C360_OK: in the call */
    size_t k = 0;
    int away = 0;
    for (size_t i = 0; i < nl && !away; i++) {
        ch_qitem *it = live[i];
        json_t *m = NULL;
        int32_t ms = ch_wdel_mapping(t, tenant, it, &m);
        if (ms == C360_EIO) {
            away = 1;
            break;
        }
        size_t slen = 0;
        if (m) shaped[i] = ch_wdel_shape(m, it, &slen);
        int unshaped = m && !shaped[i];
        json_decref(m);
        if (ms == C360_ERROR || unshaped) {
            pre[i] = C360_ERROR;
            continue;
        }
        long long attempt = ch_qitem_attempt(it);
        recs[k] = (c360_record){
            .struct_size = sizeof recs[k],
            .attempt = attempt > UINT32_MAX ? UINT32_MAX : (uint32_t)attempt,
            .type = it->rt,
            .id = it->ri,
            .source_plugin = it->sp,
            .json = shaped[i] ? shaped[i] : it->r,
            .json_len = shaped[i] ? slen : it->r_len,
            .created_at_ms = it->t,
        };
        ptrs[k] = &recs[k];
        statuses[k] = STATUS_UNSET;
        slot[k] = i;
        k++;
    }

    if (away) {
        /* A mapping could not be read (Redis away): like a single
         * delivery, everything is held briefly and tried again. */
        ch_instance_release(inst);
        each(t, tenant, live, nl, CH_QM_HOLD, NULL, t->conf->cap_hold_ms, token);
    } else {
        uint32_t ra = 0;
        int64_t took = 0;
        if (k > 0) {
            c360_call call;
            ch_call_init(&call, ch_plugin_name(pl), ch_inst_instance(inst), NULL,
                         t->conf->callback_timeout_ms);
            ch_wexec_slot_begin(t, tenant, live[slot[0]], ch_plugin_name(pl), CH_SLOT_CB_DELIVER);
            int64_t t0 = ch_monotonic_ms();
            int32_t ret = ops->deliver_batch(&call, ch_plugin_data(pl), ch_inst_data(inst), ptrs, k,
                                             statuses);
            took = ch_monotonic_ms() - t0;
            ch_slot_end(t->slot);
            ch_metrics_observe_callback(ch_plugin_index(t->conf->loader, pl), CH_CB_DELIVER, took);
            ra = call.retry_set ? call.retry_after_ms : 0;
            /* The return value counts only as "out of memory: all of it
             * again"; each record's own status says the rest. */
            int oom = ret == C360_ENOMEM;
            snprintf(err, sizeof err, "%s", call.error);
            ch_call_done(&call);
            for (size_t j = 0; j < k; j++) statuses[j] = oom ? C360_ENOMEM : statuses[j];
        }
        ch_instance_release(inst);

        /* Each record's outcome, on its own. */
        const char **gone = ch_calloc(nl, sizeof *gone);
        size_t ngone = 0;
        for (size_t i = 0; i < nl; i++) {
            if (pre[i] != C360_OK) {
                ch_status_text(text, sizeof text, C360_ERROR,
                               "the route's field mapping cannot be applied to this record");
                ch_wdel_finish(t, tenant, live[i], C360_ERROR, text, 0, 0, token);
            }
        }
        /* The accepted records first, in one script; then each other
         * record's own outcome. */
        ch_qitem **okd = ch_calloc(k ? k : 1, sizeof *okd);
        size_t nok = 0;
        for (size_t j = 0; j < k; j++)
            if (statuses[j] == C360_OK) okd[nok++] = live[slot[j]];
        ch_wdel_finish_ok(t, tenant, okd, nok, took, token);
        free(okd);
        for (size_t j = 0; j < k; j++) {
            ch_qitem *it = live[slot[j]];
            int32_t s = statuses[j];
            if (s == C360_OK) continue;
            if (s == STATUS_UNSET) {
                s = C360_ERROR;
                ch_status_text(text, sizeof text, s, "deliver_batch set no status for this record");
            } else {
                s = ch_status_normalise_deliver(s);
                ch_status_text(text, sizeof text, s, err);
            }
            if (ch_wdel_finish(t, tenant, it, s, text, ra, took, token) && s == C360_EGONE)
                gone[ngone++] = ch_id_valid(it->s) ? it->s : NULL;
        }
        if (ngone) ch_wdel_gone(t, tenant, dest, gone, ngone);
        free(gone);
    }

    for (size_t i = 0; i < nl; i++) free(shaped[i]);
    free(recs);
    free(ptrs);
    free(shaped);
    free(statuses);
    free(slot);
    free(pre);
    free(live);
}
