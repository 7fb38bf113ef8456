/* li_tick.c -- the scheduled work of a LinkedIn connection, in one tick:
 *
 *  1. the token: not connected -> "failing" with the cause; dead ->
 *     needs re-authorisation (li_token); the refresh token's end near ->
 *     a warning cause on the (still active) status;
 *  2. proof of access per owner (li_proof.c): unproven owners -> "failing"
 *     with a cause naming them; lead notification subscriptions (when
 *     webhook_url is set) and the poll only for proven owners;
 *  3. the catch-up poll: each owner's responses submitted since the stored
 *     cursor (GET /rest/leadFormResponses?q=owner&submittedAtTimeRange=
 *     (start:..,end:..)&count=N&start=K, offset paging until start >=
 *     paging.total). Responses no webhook delivered are emitted
 *     ("via":"poll") and counted in state "missed_webhooks" (and audited).
 *
 * As in meta, once a tick has emitted anything it returns C360_OK (the
 * records are committed only then); the cursors are written as it goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li.h"

#define INITIAL_LOOKBACK_MS (3600 * 1000LL)
#define OVERLAP_MS (60 * 1000LL)
#define GRACE_MS (30 * 1000LL)
#define MAX_PAGES 50
#define RESERVE_MS 5000

typedef struct tick_run {
    li_ctx *x;
    int32_t first_err;
    size_t emitted, missed;
    char cause[400];
} tick_run;

static void note(tick_run *t, int32_t st)
{
    if (st != C360_OK && t->first_err == C360_OK) t->first_err = st;
}

static bool state_num(li_ctx *x, const char *key, int64_t *v, uint64_t *ver)
{
    uint8_t *b = NULL;
    size_t len = 0;
    *v = 0;
    if (ver != NULL) *ver = 0;
    if (x->host->state_get(x->call, key, &b, &len, ver) != C360_OK) return false;
    *v = strtoll((const char *)b, NULL, 10);
    x->host->free(b);
    return true;
}

static bool seen(li_ctx *x, const char *rid)
{
    char key[96];
    uint8_t *b = NULL;
    size_t len;
    li_key(key, sizeof key, "lead:", rid);
    if (x->host->state_get(x->call, key, &b, &len, NULL) != C360_OK) return false;
    x->host->free(b);
    return true;
}

static bool poll_owner(tick_run *t, const li_owner *o)
{
    li_ctx *x = t->x;
    const c360_host_api *h = x->host;
    char ckey[96], owner[200], query[700];
    int64_t now = h->now_ms(), cursor;
    uint64_t ver;
    snprintf(ckey, sizeof ckey, "cursor:%s:%s", o->kind == LI_SPONSORED ? "sa" : "org", o->id);
    if (!state_num(x, ckey, &cursor, &ver)) cursor = now - INITIAL_LOOKBACK_MS;
    int64_t start_ms = cursor - OVERLAP_MS, end_ms = now - GRACE_MS;
    if (end_ms <= start_ms) return true;
    if (!li_owner_query(o, owner, sizeof owner)) return false;
    size_t missed = 0;
    uint32_t count = x->p->page_size;
    int64_t off = 0;
    bool done = false;
    for (int pg = 0; pg < MAX_PAGES; pg++) {
        if (h->call_time_left_ms(x->call) < RESERVE_MS) break;
        snprintf(query, sizeof query,
                 "q=owner&owner=%s&leadType=(leadType:%s)"
                 "&submittedAtTimeRange=(start:%lld,end:%lld)&count=%u&start=%lld",
                 owner, o->kind == LI_SPONSORED ? "SPONSORED" : "COMPANY",
                 (long long)start_ms, (long long)end_ms, count, (long long)off);
        json_t *out = NULL;
        li_req r = {.path = "leadFormResponses", .query = query};
        int32_t st = li_api(x, &r, &out, NULL, 0);
        if (st != C360_OK) {
            note(t, st);
            break;
        }
        const json_t *els = json_object_get(out, "elements");
        size_t nel = json_array_size(els);
        for (size_t i = 0; i < nel; i++) {
            const json_t *resp = json_array_get(els, i);
            li_id rid;
            if (!li_response_id(resp, rid)) continue;
            if (seen(x, rid)) continue;
            st = li_lead_emit(x, resp, o, NULL, "poll");
            if (st != C360_OK) {
                note(t, st);
                json_decref(out);
                goto counted;
            }
            t->emitted++;
            missed++;
        }
        json_int_t total = json_integer_value(json_object_get(json_object_get(out, "paging"), "total"));
        json_decref(out);
        off += (int64_t)count;
        if (nel == 0 || off >= total) {
            done = true;
            break;
        }
    }
counted:
    if (missed > 0) {
        char target[96], outcome[32];
        t->missed += missed;
        h->state_incr(x->call, "missed_webhooks", (int64_t)missed, NULL);
        snprintf(target, sizeof target, "owner:%s", o->id);
        snprintf(outcome, sizeof outcome, "count:%zu", missed);
        h->audit(x->call, "linkedin.missed_webhooks", target, outcome);
        h->log(x->call, C360_LOG_WARN,
               "catch-up poll: %zu lead(s) of owner %s had not arrived by webhook", missed, o->id);
    }
    if (done) {
        char b[24];
        snprintf(b, sizeof b, "%lld", (long long)end_ms);
        h->state_cas(x->call, ckey, b, strlen(b), ver, 0, NULL);
    }
    return done;
}

static void health(tick_run *t, const char *warning)
{
    li_ctx *x = t->x;
    const c360_host_api *h = x->host;
    uint8_t *b = NULL;
    size_t len = 0;
    bool had = h->state_get(x->call, "health", &b, &len, NULL) == C360_OK;
    h->free(b);
    if (t->cause[0] != '\0') {
        h->connection_status(x->call, C360_CONN_FAILING, t->cause);
        h->state_set(x->call, "health", "1", 1, 0, NULL);
    } else if (warning[0] != '\0') {
        /* Still working: active, with the warning as the cause. */
        h->connection_status(x->call, C360_CONN_ACTIVE, warning);
        h->state_set(x->call, "health", "w", 1, 0, NULL);
    } else if (had) {
        h->connection_status(x->call, C360_CONN_ACTIVE, "");
        h->state_delete(x->call, "health");
    }
}

int32_t li_tick(c360_call *call, void *pd, void *id)
{
    li_ctx x = {pd, id, call, ((li_plugin *)pd)->host};
    const c360_host_api *h = x.host;
    const li_cfg *cfg = &x.c->cfg;
    tick_run t = {&x, C360_OK, 0, 0, ""};
    char warning[200] = "";

    char *tok = NULL;
    int32_t st = li_token(&x, &tok);
    li_token_free(&x, tok);
    if (st == C360_EAUTH) return st;
    if (st == C360_ENOTFOUND) {
        snprintf(t.cause, sizeof t.cause, "not connected to LinkedIn: connect with OAuth");
        health(&t, warning);
        return C360_OK;
    }
    if (st != C360_OK) return st;
    li_refresh_warning(&x, warning, sizeof warning);
    /* Proof of access per owner (li_proof.c): routing keys, polling and
     * subscriptions only for proven owners; unproven ones -> failing. */
    st = li_prove(&x, true, t.cause, sizeof t.cause);
    if (st == C360_EAUTH) return st;
    li_subscribe(&x);

    int64_t now = h->now_ms(), last = 0;
    bool due = cfg->poll_interval_s == 0 || !state_num(&x, "last_poll", &last, NULL) ||
               now - last >= cfg->poll_interval_s * 1000;
    if (due) {
        bool all = true;
        for (size_t i = 0; i < cfg->nowners && t.first_err != C360_EAUTH; i++)
            if (li_owner_proven(&x, &cfg->owners[i])) all &= poll_owner(&t, &cfg->owners[i]);
        if (all && t.first_err == C360_OK) {
            char b[24];
            snprintf(b, sizeof b, "%lld", (long long)now);
            h->state_set(call, "last_poll", b, strlen(b), 0, NULL);
        }
    }
    if (t.first_err == C360_EAUTH) return t.emitted > 0 ? C360_OK : C360_EAUTH;
    health(&t, warning);
    if (t.emitted > 0 || t.first_err == C360_OK) {
        if (t.first_err != C360_OK)
            h->log(call, C360_LOG_WARN, "tick: %zu records emitted, then: %s", t.emitted,
                   c360_strstatus(t.first_err));
        return C360_OK;
    }
    return t.first_err;
}
