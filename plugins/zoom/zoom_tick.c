/* zoom_tick.c -- the scheduled work of a Zoom connection: the catch-up
 * poll of the registrants of each configured meeting and webinar
 * (GET /meetings/{id}/registrants, /webinars/{id}/registrants,
 * status=approved, page_size=300, next_page_token paging). A registrant
 * that no webhook delivered is emitted ("via":"poll") and counted in
 * state "missed_webhooks" (and the audit log), a health signal.
 *
 * Records of a tick are committed only if it returns C360_OK, while the
 * "seen" marks are written as it goes: once a tick has emitted anything
 * it returns C360_OK, whatever fails after; the failure shows in the log
 * and the next tick picks up. Throttling and a dead token with nothing
 * emitted are returned as they are (retry later / needs re-auth). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoom.h"

#define GRACE_S 30          /* registrants younger than this are the webhook's */
#define MAX_PAGES 50        /* result pages per meeting and tick */
#define RESERVE_MS 5000

typedef struct tick_run {
    zoom_ctx *x;
    int32_t first_err;
    size_t emitted, missed;
} tick_run;

static void note(tick_run *t, int32_t st)
{
    if (st != C360_OK && t->first_err == C360_OK) t->first_err = st;
}

static bool seen(zoom_ctx *x, bool webinar, const char *obj, const char *rid)
{
    char key[160];
    uint8_t *b = NULL;
    size_t len;
    zoom_seen_key(key, sizeof key, webinar, obj, rid);
    if (x->host->state_get(x->call, key, &b, &len, NULL) != C360_OK) return false;
    x->host->free(b);
    return true;
}

static bool poll_object(tick_run *t, bool webinar, const char *obj)
{
    zoom_ctx *x = t->x;
    const c360_host_api *h = x->host;
    char path[64], query[1024], next[512] = "", topic[301] = "", tkey[64];
    uint8_t *b = NULL;
    size_t len = 0, missed = 0;
    int64_t now_s = h->now_ms() / 1000;
    snprintf(tkey, sizeof tkey, "topic:%c:%s", webinar ? 'w' : 'm', obj);
    if (h->state_get(x->call, tkey, &b, &len, NULL) == C360_OK) {
        snprintf(topic, sizeof topic, "%.*s", (int)(len < 300 ? len : 300), (const char *)b);
        h->free(b);
    }
    snprintf(path, sizeof path, "%s/%s/registrants", webinar ? "webinars" : "meetings", obj);
    for (int pg = 0; pg < MAX_PAGES; pg++) {
        if (h->call_time_left_ms(x->call) < RESERVE_MS) return false;
        snprintf(query, sizeof query, "status=approved&page_size=300");
        if (next[0] != '\0') {
            strncat(query, "&next_page_token=", sizeof query - strlen(query) - 1);
            if (!zoom_urlenc_cat(query, sizeof query, next)) return false;
        }
        json_t *out = NULL;
        int32_t st = zoom_get(x, path, query, &out);
        if (st == C360_ENOTFOUND) {
            h->log(x->call, C360_LOG_WARN, "%s %s not found at Zoom: not polled",
                   webinar ? "webinar" : "meeting", obj);
            return true;
        }
        if (st != C360_OK) {
            note(t, st);
            return false;
        }
        const json_t *regs = json_object_get(out, "registrants");
        for (size_t i = 0; i < json_array_size(regs); i++) {
            const json_t *r = json_array_get(regs, i);
            zoom_id rid;
            if (!zoom_id_from_json(json_object_get(r, "id"), rid)) continue;
            int64_t ct = zoom_time_parse(zoom_str(r, "create_time"));
            if (ct > now_s - GRACE_S) continue; /* its webhook may be on its way */
            if (seen(x, webinar, obj, rid)) continue;
            st = zoom_registrant_emit(x, r, webinar, obj, topic[0] != '\0' ? topic : NULL, "poll");
            if (st != C360_OK) {
                json_decref(out);
                note(t, st);
                return false;
            }
            t->emitted++;
            missed++;
        }
        const char *np = zoom_str(out, "next_page_token");
        bool more = np != NULL && np[0] != '\0' && strlen(np) < sizeof next &&
                    json_array_size(regs) > 0 && strcmp(np, next) != 0;
        if (more) snprintf(next, sizeof next, "%s", np);
        json_decref(out);
        if (!more) break;
    }
    if (missed > 0) {
        char target[64], outcome[32];
        t->missed += missed;
        h->state_incr(x->call, "missed_webhooks", (int64_t)missed, NULL);
        snprintf(target, sizeof target, "%s:%s", webinar ? "webinar" : "meeting", obj);
        snprintf(outcome, sizeof outcome, "count:%zu", missed);
        h->audit(x->call, "zoom.missed_webhooks", target, outcome);
        h->log(x->call, C360_LOG_WARN,
               "catch-up poll: %zu registrant(s) of %s %s had not arrived by webhook", missed,
               webinar ? "webinar" : "meeting", obj);
    }
    return true;
}

int32_t zoom_tick(c360_call *call, void *pd, void *id)
{
    zoom_ctx x = {pd, id, call, ((zoom_plugin *)pd)->host};
    const c360_host_api *h = x.host;
    const zoom_cfg *cfg = &x.c->cfg;
    tick_run t = {&x, C360_OK, 0, 0};
    int64_t now = h->now_ms(), last = 0;
    uint8_t *b = NULL;
    size_t len = 0;
    /* Proof of the account first: its routing key, and the health. */
    char cause[256];
    int32_t pst = zoom_prove(&x, true, true, cause, sizeof cause);
    if (pst == C360_EAUTH) {
        char *tok = NULL;
        int32_t st = zoom_token(&x, &tok); /* reports needs_reauth */
        if (tok != NULL) h->secret_free(tok);
        return st == C360_OK ? C360_RETRY : st;
    }
    if (!x.c->proven) {
        h->connection_status(call, C360_CONN_FAILING, cause);
        h->state_set(call, "health", "1", 1, 0, NULL);
        return pst != C360_OK ? pst : C360_OK;
    }
    if (h->state_get(call, "health", &b, &len, NULL) == C360_OK) {
        h->free(b);
        h->state_delete(call, "health");
        h->connection_status(call, C360_CONN_ACTIVE, "");
    }
    b = NULL;
    if (cfg->poll_interval_s > 0 && h->state_get(call, "last_poll", &b, &len, NULL) == C360_OK) {
        last = strtoll((const char *)b, NULL, 10);
        h->free(b);
        if (now - last < cfg->poll_interval_s * 1000) return C360_OK;
    }
    if (cfg->nmeetings + cfg->nwebinars == 0) {
        /* Nothing to poll; the token is still checked, so that dead
         * credentials show before a webhook needs them. */
        char *tok = NULL;
        int32_t st = zoom_token(&x, &tok);
        if (tok != NULL) h->secret_free(tok);
        return st;
    }
    bool all = true;
    for (size_t i = 0; i < cfg->nmeetings && t.first_err == C360_OK; i++)
        all &= poll_object(&t, false, cfg->meetings[i]);
    for (size_t i = 0; i < cfg->nwebinars && t.first_err == C360_OK; i++)
        all &= poll_object(&t, true, cfg->webinars[i]);
    if (all && t.first_err == C360_OK) {
        char nb[24];
        snprintf(nb, sizeof nb, "%lld", (long long)now);
        h->state_set(call, "last_poll", nb, strlen(nb), 0, NULL);
    }
    if (t.emitted > 0 || t.first_err == C360_OK) {
        if (t.first_err != C360_OK)
            h->log(call, C360_LOG_WARN, "tick: %zu records emitted, then: %s", t.emitted,
                   c360_strstatus(t.first_err));
        return C360_OK;
    }
    return t.first_err;
}
