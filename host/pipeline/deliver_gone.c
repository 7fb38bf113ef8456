/* deliver_gone.c -- what a 410 from a destination does (C360_EGONE, ABI
 * 1.4; docs/pipeline.md, "Deliveries"). The record itself has already been
 * dead-lettered with why "gone" by its outcome. Here:
 *
 *   - each route the gone records came by (source -> destination) is
 *     stopped (conns.h ch_conn_route_stop: removed, actor "system",
 *     audited, its mapping kept for when the customer adds it back, and
 *     marked so that what is still queued for it is dead-lettered unsent);
 *   - the destination connection becomes `failing` with a cause that names
 *     the stopped routes, which the connection registry mirrors for the
 *     admin API and turns into a customer notification (connstatus.h ->
 *     notify.h).
 *
 * Only a call that actually stopped a route changes the state: the
 * records that were queued behind it and hit the 410 too find the route
 * gone already and change nothing, so the customer is told once. An
 * operator's state (paused, disabled) and needs_reauth are left alone, and
 * an unchanged state and cause writes nothing. Everything here is
 * idempotent: a failed step is redone by the next 410. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "conns.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

#define GONE_CAUSE "the endpoint answered 410 Gone"

/* Sets dest failing with cause unless an operator's or a more pressing
 * state holds, or it is failing with that cause already. */
static void mark_failing(const char *tenant, const char *dest, const char *cause)
{
    char *k = ch_key_tenant(tenant, "conn:%s", dest);
    redisReply *r = ch_rconn_command("HMGET %s state cause", k);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        if (r) freeReplyObject(r);
        return;
    }
    const redisReply *s = r->element[0], *c = r->element[1];
    const char *state = s->type == REDIS_REPLY_STRING ? s->str : NULL;
    int act = state && (strcmp(state, CH_CONN_STATE_ACTIVE) == 0 ||
                        strcmp(state, CH_CONN_STATE_FAILING) == 0);
    int same = state && strcmp(state, CH_CONN_STATE_FAILING) == 0 &&
               c->type == REDIS_REPLY_STRING && strncmp(c->str, cause, CH_CONN_CAUSE_MAX - 1) == 0;
    freeReplyObject(r);
    if (!act || same) return;
    int32_t st = ch_conn_set_state(tenant, dest, CH_CONN_STATE_FAILING, cause, "system", NULL);
    if (st == C360_OK)
        ch_log(CH_LOG_WARN, "destination gone (410): connection marked failing", "tenant", tenant,
               "connection", dest, NULL);
}

void ch_wdel_gone(ch_wthread *t, const char *tenant, const char *dest, const char *const *srcs,
                  size_t n)
{
    const char **done = ch_calloc(n ? n : 1, sizeof *done);
    size_t stopped = 0;
    int any_src = 0;
    for (size_t i = 0; i < n; i++) {
        if (!srcs[i] || !ch_id_valid(srcs[i])) continue;
        any_src = 1;
        /* The same source may come several times in a batch. */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = srcs[j] && strcmp(srcs[j], srcs[i]) == 0;
        if (seen || ch_conn_route_stop(tenant, srcs[i], dest, NULL) != C360_OK) continue;
        ch_log(CH_LOG_WARN, "destination gone (410): route stopped", "tenant", tenant,
               "source", srcs[i], "destination", dest, NULL);
        done[stopped++] = srcs[i];
    }
    /* "...; the route from a was stopped", "...; the routes from a, b were
     * stopped" (cut at the cause's size by the registry). */
    char cause[CH_CONN_CAUSE_MAX + 8];
    size_t len = (size_t)snprintf(cause, sizeof cause, "%s", GONE_CAUSE);
    if (stopped > 0)
        len += (size_t)snprintf(cause + len, sizeof cause - len, "; the route%s from ",
                                stopped > 1 ? "s" : "");
    for (size_t i = 0; i < stopped && len < sizeof cause; i++)
        len += (size_t)snprintf(cause + len, sizeof cause - len, "%s%s", i ? ", " : "", done[i]);
    if (stopped > 0 && len < sizeof cause)
        snprintf(cause + len, sizeof cause - len, " %s stopped", stopped > 1 ? "were" : "was");
    /* Told once: records of a route stopped before (queued behind the
     * first 410) change nothing; one without a source has no route to
     * stop, only the state to report. */
    if (stopped > 0 || !any_src) mark_failing(tenant, dest, cause);
    ch_wconn_forget(&t->conns, tenant, dest);
    free(done);
}
