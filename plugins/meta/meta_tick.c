/* meta_tick.c -- the scheduled work of a Meta connection, in one tick:
 *
 *  1. tokens: a new OAuth login, or pages without a token
 *     (meta_tokens_refresh);
 *  2. the catch-up poll: each subscribed form's leads since the stored
 *     cursor (GET /{form}/leads, time_created filter, cursor paging);
 *     leads that no webhook delivered are emitted ("via":"poll") and
 *     counted in state "missed_webhooks", a health signal;
 *  3. ads insights: yesterday's campaign rows of each configured ad
 *     account (and up to 6 earlier days it missed), as metric records;
 *  4. the page subscription check, at most hourly: a page that no longer
 *     sends this app its webhooks makes the connection "failing", and it
 *     is "active" again once that is mended.
 *
 * Records of a tick are committed only if it returns C360_OK, while the
 * cursors and "seen" marks are written as it goes. So once a tick has
 * emitted anything it returns C360_OK, whatever fails after: a failure
 * then only shows in the log and the call's error, and the next tick
 * picks up where this one stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define INITIAL_LOOKBACK_S 3600  /* the first poll of a form looks back 1 h */
#define OVERLAP_S 60             /* each poll re-reads a minute before the cursor */
#define GRACE_S 30               /* leads younger than this are the webhook's */
#define MAX_PAGES_PER_FORM 50    /* result pages per form and tick */
#define MAX_FORM_LIST_PAGES 10
#define SUBCHECK_MS (3600 * 1000)
#define INSIGHT_DAYS 7
#define RESERVE_MS 5000          /* deadline reserve */

typedef struct tick_run {
    meta_ctx *x;
    int32_t first_err;           /* the first failure, if nothing was emitted */
    size_t emitted;
    size_t missed;
    char cause[160];             /* health: why the connection is failing */
} tick_run;

static void note(tick_run *t, int32_t st)
{
    if (st != C360_OK && t->first_err == C360_OK) t->first_err = st;
}

static bool time_short(tick_run *t)
{
    return t->x->host->call_time_left_ms(t->x->call) < RESERVE_MS;
}

static bool state_num(meta_ctx *x, const char *key, int64_t *v, uint64_t *ver)
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

static void state_num_set(meta_ctx *x, const char *key, int64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    x->host->state_set(x->call, key, b, strlen(b), 0, NULL);
}

/* ---- the catch-up poll ------------------------------------------------ */

static bool seen(meta_ctx *x, const char *lead_id)
{
    char key[64];
    uint8_t *b = NULL;
    size_t len;
    meta_key(key, sizeof key, "lead:", lead_id);
    if (x->host->state_get(x->call, key, &b, &len, NULL) != C360_OK) return false;
    x->host->free(b);
    return true;
}

/* Polls one form; false when it had to stop early (error or deadline). */
static bool poll_form(tick_run *t, const char *page, const char *tok, const char *form)
{
    meta_ctx *x = t->x;
    const c360_host_api *h = x->host;
    char ckey[64], filt[160], path[64], query[1024];
    int64_t now_s = h->now_ms() / 1000, cursor;
    uint64_t ver;
    meta_key(ckey, sizeof ckey, "cursor:", form);
    if (!state_num(x, ckey, &cursor, &ver)) cursor = now_s - INITIAL_LOOKBACK_S;
    snprintf(filt, sizeof filt,
             "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":%lld}]",
             (long long)(cursor - OVERLAP_S));
    snprintf(path, sizeof path, "%s/leads", form);
    int64_t max_t = cursor;
    size_t missed = 0;
    char after[512] = "";
    for (int pg = 0; pg < MAX_PAGES_PER_FORM; pg++) {
        if (time_short(t)) return false;
        snprintf(query, sizeof query, "fields=" META_LEAD_FIELDS "&limit=100&filtering=");
        bool ok = meta_urlenc_cat(query, sizeof query, filt);
        if (ok && after[0] != '\0') {
            strncat(query, "&after=", sizeof query - strlen(query) - 1);
            ok = meta_urlenc_cat(query, sizeof query, after);
        }
        if (!ok) return false;
        json_t *out = NULL;
        meta_gr r = {.path = path, .query = query, .token = tok, .object = page};
        int32_t st = meta_graph(x, &r, &out, NULL);
        if (st != C360_OK) {
            note(t, st);
            return false;
        }
        const json_t *data = json_object_get(out, "data");
        for (size_t i = 0; i < json_array_size(data); i++) {
            const json_t *lead = json_array_get(data, i);
            meta_id lid;
            int64_t ct = meta_time_from_json(json_object_get(lead, "created_time"));
            if (ct < 0 || !meta_id_from_json(json_object_get(lead, "id"), false, lid)) continue;
            if (ct > now_s - GRACE_S) continue; /* its webhook may be on its way */
            if (ct > max_t) max_t = ct;
            if (seen(x, lid)) continue;
            st = meta_lead_emit(x, lead, page, tok, NULL, "poll");
            if (st != C360_OK) {
                json_decref(out);
                note(t, st);
                return false;
            }
            t->emitted++;
            missed++;
        }
        const json_t *paging = json_object_get(out, "paging");
        const char *next_after = meta_str(json_object_get(paging, "cursors"), "after");
        bool more = json_object_get(paging, "next") != NULL && next_after != NULL &&
                    strlen(next_after) < sizeof after && json_array_size(data) > 0;
        if (more) snprintf(after, sizeof after, "%s", next_after);
        json_decref(out);
        if (!more) break;
    }
    if (missed > 0) {
        char target[64], outcome[32];
        t->missed += missed;
        h->state_incr(x->call, "missed_webhooks", (int64_t)missed, NULL);
        meta_key(target, sizeof target, "form:", form);
        snprintf(outcome, sizeof outcome, "count:%zu", missed);
        h->audit(x->call, "meta.missed_webhooks", target, outcome);
        h->log(x->call, C360_LOG_WARN,
               "catch-up poll: %zu lead(s) of form %s had not arrived by webhook", missed, form);
    }
    if (max_t > cursor) {
        char b[24];
        snprintf(b, sizeof b, "%lld", (long long)max_t);
        /* A concurrent tick that wrote first wins: it read the same leads. */
        h->state_cas(x->call, ckey, b, strlen(b), ver, 0, NULL);
    }
    return true;
}

/* The page's lead forms to poll: its active forms, filtered by form_ids. */
static bool poll_page(tick_run *t, const char *page, const char *tok)
{
    meta_ctx *x = t->x;
    const meta_cfg *cfg = &x->c->cfg;
    char path[64], query[512] = "fields=id%2Cstatus&limit=100";
    snprintf(path, sizeof path, "%s/leadgen_forms", page);
    for (int pg = 0; pg < MAX_FORM_LIST_PAGES; pg++) {
        json_t *out = NULL;
        meta_gr r = {.path = path, .query = query, .token = tok, .object = page};
        int32_t st = meta_graph(x, &r, &out, NULL);
        if (st != C360_OK) {
            note(t, st);
            return false;
        }
        const json_t *data = json_object_get(out, "data");
        for (size_t i = 0; i < json_array_size(data); i++) {
            const json_t *f = json_array_get(data, i);
            meta_id fid;
            const char *status = meta_str(f, "status");
            if (!meta_id_from_json(json_object_get(f, "id"), false, fid)) continue;
            if (status != NULL && strcmp(status, "ACTIVE") != 0) continue;
            if (cfg->nforms > 0 && !meta_in(cfg->forms, cfg->nforms, fid)) continue;
            if (!poll_form(t, page, tok, fid)) {
                json_decref(out);
                return false;
            }
        }
        const json_t *paging = json_object_get(out, "paging");
        const char *after = meta_str(json_object_get(paging, "cursors"), "after");
        bool more = json_object_get(paging, "next") != NULL && after != NULL;
        if (more) {
            snprintf(query, sizeof query, "fields=id%%2Cstatus&limit=100&after=");
            more = meta_urlenc_cat(query, sizeof query, after);
        }
        json_decref(out);
        if (!more) break;
    }
    return true;
}

/* ---- the subscription check ------------------------------------------- */

/* 1: subscribed, 0: not, -1: could not tell. */
static int subscribed(tick_run *t, const char *page, const char *tok)
{
    char path[64];
    json_t *out = NULL;
    snprintf(path, sizeof path, "%s/subscribed_apps", page);
    meta_gr r = {.path = path, .token = tok, .object = page};
    int32_t st = meta_graph(t->x, &r, &out, NULL);
    if (st != C360_OK) {
        note(t, st);
        return -1;
    }
    int found = 0;
    const json_t *data = json_object_get(out, "data");
    for (size_t i = 0; i < json_array_size(data) && !found; i++) {
        meta_id id;
        found = meta_id_from_json(json_object_get(json_array_get(data, i), "id"), false, id) &&
                strcmp(id, t->x->c->cfg.app_id) == 0;
    }
    json_decref(out);
    return found;
}

/* ---- insights --------------------------------------------------------- */

static bool insights_day(tick_run *t, const char *acct, const char *tok, const char *day)
{
    meta_ctx *x = t->x;
    const c360_host_api *h = x->host;
    char path[64], range[96], query[1024], after[512] = "";
    snprintf(path, sizeof path, "act_%s/insights", acct);
    snprintf(range, sizeof range, "{\"since\":\"%s\",\"until\":\"%s\"}", day, day);
    for (int pg = 0; pg < 20; pg++) {
        if (time_short(t)) return false;
        snprintf(query, sizeof query,
                 "fields=account_id%%2Ccampaign_id%%2Ccampaign_name%%2Cimpressions%%2Cclicks"
                 "%%2Cspend%%2Creach%%2Ccpc%%2Cctr&level=campaign&time_increment=1&limit=100"
                 "&time_range=");
        bool ok = meta_urlenc_cat(query, sizeof query, range);
        if (ok && after[0] != '\0') {
            strncat(query, "&after=", sizeof query - strlen(query) - 1);
            ok = meta_urlenc_cat(query, sizeof query, after);
        }
        if (!ok) return false;
        json_t *out = NULL;
        meta_gr r = {.path = path, .query = query, .token = tok, .object = acct};
        int32_t st = meta_graph(x, &r, &out, NULL);
        if (st != C360_OK) {
            note(t, st);
            return false;
        }
        const json_t *data = json_object_get(out, "data");
        meta_rec_ctx rc = {h->instance_connection(x->c->inst), "poll", NULL, h->now_ms()};
        for (size_t i = 0; i < json_array_size(data); i++) {
            char id[200];
            const char *why = NULL;
            json_t *rec = meta_metric_record(json_array_get(data, i), acct, &rc, id, sizeof id, &why);
            if (rec == NULL) {
                h->log(x->call, C360_LOG_WARN, "an insights row was skipped: %s", why);
                continue;
            }
            char *s = json_dumps(rec, JSON_COMPACT);
            json_decref(rec);
            if (s == NULL) {
                json_decref(out);
                note(t, C360_ENOMEM);
                return false;
            }
            st = h->record_emit(x->call, "metric", id, s, strlen(s));
            free(s);
            if (st == C360_OK) {
                t->emitted++;
            } else if (st != C360_EINVAL) {
                json_decref(out);
                note(t, st);
                return false;
            }
        }
        const json_t *paging = json_object_get(out, "paging");
        const char *na = meta_str(json_object_get(paging, "cursors"), "after");
        bool more = json_object_get(paging, "next") != NULL && na != NULL &&
                    strlen(na) < sizeof after && json_array_size(data) > 0;
        if (more) snprintf(after, sizeof after, "%s", na);
        json_decref(out);
        if (!more) break;
    }
    return true;
}

static void insights(tick_run *t)
{
    meta_ctx *x = t->x;
    const c360_host_api *h = x->host;
    const meta_cfg *cfg = &x->c->cfg;
    if (!cfg->insights || cfg->naccounts == 0) return;
    char *tok = NULL;
    if (meta_user_token(x, &tok) != C360_OK) {
        h->log(x->call, C360_LOG_WARN,
               "ads insights need a user token: connect with OAuth or store the secret user_token");
        return;
    }
    int64_t yesterday = (h->now_ms() / 1000 / 86400 - 1) * 86400;
    for (size_t a = 0; a < cfg->naccounts; a++) {
        const char *acct = cfg->accounts[a];
        char key[64], last[16] = "";
        uint8_t *b = NULL;
        size_t len = 0;
        meta_key(key, sizeof key, "insights:", acct);
        if (h->state_get(x->call, key, &b, &len, NULL) == C360_OK) {
            snprintf(last, sizeof last, "%.*s", (int)(len < 15 ? len : 15), (const char *)b);
            h->free(b);
        }
        int64_t d = meta_date_parse(last);
        d = d >= 0 ? d + 86400 : yesterday;
        if (d < yesterday - (INSIGHT_DAYS - 1) * 86400) d = yesterday - (INSIGHT_DAYS - 1) * 86400;
        for (; d <= yesterday; d += 86400) {
            char day[11];
            meta_date(d, day);
            if (!insights_day(t, acct, tok, day)) {
                meta_token_free(x, tok);
                return;
            }
            h->state_set(x->call, key, day, strlen(day), 0, NULL);
        }
    }
    meta_token_free(x, tok);
}

/* ---- the tick --------------------------------------------------------- */

static void health(tick_run *t)
{
    meta_ctx *x = t->x;
    const c360_host_api *h = x->host;
    uint8_t *b = NULL;
    size_t len = 0;
    bool had = h->state_get(x->call, "health", &b, &len, NULL) == C360_OK;
    h->free(b);
    if (t->cause[0] != '\0') {
        /* Reported every time: a report that changes nothing writes nothing. */
        h->connection_status(x->call, C360_CONN_FAILING, t->cause);
        h->state_set(x->call, "health", "1", 1, 0, NULL);
    } else if (had) {
        h->connection_status(x->call, C360_CONN_ACTIVE, "");
        h->state_delete(x->call, "health");
    }
}

int32_t meta_tick(c360_call *call, void *pd, void *id)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, false};
    const c360_host_api *h = x.host;
    const meta_cfg *cfg = &x.c->cfg;
    tick_run t = {&x, C360_OK, 0, 0, ""};

    int32_t st = meta_tokens_refresh(&x);
    if (st == C360_EAUTH) return st;
    note(&t, st);

    int64_t now = h->now_ms(), last_poll = 0, last_check = 0;
    bool poll_due = cfg->poll_interval_s == 0 || !state_num(&x, "last_poll", &last_poll, NULL) ||
                    now - last_poll >= cfg->poll_interval_s * 1000;
    bool check_due = !state_num(&x, "subcheck", &last_check, NULL) || now - last_check >= SUBCHECK_MS;
    bool polled_all = true, checked_all = true;
    char unsubscribed[128] = "";

    for (size_t i = 0; i < cfg->npages; i++) {
        const char *page = cfg->pages[i];
        char *tok = NULL;
        st = meta_page_token(&x, page, &tok);
        if (st == C360_ENOTFOUND) {
            if (t.cause[0] == '\0')
                snprintf(t.cause, sizeof t.cause,
                         "no access token for page %s: connect with OAuth or store the "
                         "secret page_token:%s", page, page);
            continue;
        }
        if (st != C360_OK) {
            note(&t, st);
            if (st == C360_EAUTH) break;
            continue;
        }
        if (poll_due && !time_short(&t)) polled_all &= poll_page(&t, page, tok);
        if (check_due && !time_short(&t)) {
            int s = subscribed(&t, page, tok);
            if (s == 0 && unsubscribed[0] == '\0')
                snprintf(unsubscribed, sizeof unsubscribed,
                         "page %s is not subscribed to the app", page);
            checked_all &= s >= 0;
        }
        meta_token_free(&x, tok);
        if (t.first_err == C360_EAUTH) break;
    }
    if (poll_due && polled_all && t.first_err == C360_OK) state_num_set(&x, "last_poll", now);
    if (check_due && checked_all) {
        state_num_set(&x, "subcheck", now);
        if (unsubscribed[0] != '\0')
            h->state_set(call, "sub_cause", unsubscribed, strlen(unsubscribed), 0, NULL);
        else
            h->state_delete(call, "sub_cause");
    }
    if (t.first_err != C360_EAUTH && !time_short(&t)) insights(&t);

    if (t.cause[0] == '\0') {
        uint8_t *b = NULL;
        size_t len = 0;
        if (h->state_get(call, "sub_cause", &b, &len, NULL) == C360_OK) {
            snprintf(t.cause, sizeof t.cause, "%.*s", (int)(len < 159 ? len : 159), (const char *)b);
            h->free(b);
        }
    }
    if (t.first_err != C360_EAUTH) health(&t);

    if (t.emitted > 0 || t.first_err == C360_OK) {
        if (t.first_err != C360_OK)
            h->log(call, C360_LOG_WARN, "tick: %zu records emitted, then: %s", t.emitted,
                   c360_strstatus(t.first_err));
        return C360_OK;
    }
    return t.first_err;
}
