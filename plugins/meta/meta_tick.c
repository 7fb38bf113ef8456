/* meta_tick.c -- the scheduled work of a Meta connection, in one tick:
 *
 *  1. tokens: a new OAuth login, or pages without a token
 *     (meta_tokens_refresh); then the proof of access to the configured
 *     pages and Instagram accounts (meta_verify.c), which (re)registers
 *     the routing keys. Only proven pages are polled and checked;
 *  2. the catch-up poll: each subscribed form's leads in a time window
 *     (GET /{form}/leads, time_created filters, cursor paging); leads
 *     that no webhook delivered are emitted ("via":"poll") and counted in
 *     state "missed_webhooks", a health signal;
 *  3. ads insights: yesterday's campaign rows of each configured ad
 *     account (and up to 6 earlier days it missed), as metric records;
 *  4. the page subscription check, at most hourly: a page that no longer
 *     sends this app its webhooks makes the connection "failing", and it
 *     is "active" again once that is mended.
 *
 * The poll's window of a form is (cursor - 60 s, now - 30 s] when it
 * starts (state "cursor:<form>", the first time an hour back), kept in
 * state "win:<form>" with Graph's paging cursor while it takes more than
 * one tick. Graph returns a window newest first, so the time cursor moves
 * to the window's end only once its paging ended without "next" and every
 * lead in it was emitted or seen before; until then the next tick resumes
 * the window at the page it stopped in. A tick emits at most
 * poll_budget leads (C360_META_POLL_BUDGET) and META_CALL_RECORDS_MAX
 * records in all, below the host's per-call limit: a backlog takes
 * several ticks, and nothing is skipped.
 *
 * Records of a tick are committed only if it returns C360_OK, so every
 * state write that says "done" (seen marks, cursors, windows, insights
 * days, missed_webhooks) is kept back in a meta_pend and, just before
 * returning C360_OK, staged with the call (a 1.6 host writes them with the
 * records, meta_pend_apply) or written. Once a tick has emitted anything it returns
 * C360_OK, whatever fails after: a failure then only shows in the log and
 * the call's error, and the next tick picks up where this one stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define INITIAL_LOOKBACK_S 3600  /* the first poll of a form looks back 1 h */
#define OVERLAP_S 60             /* each poll re-reads a minute before the cursor */
#define GRACE_S 30               /* leads younger than this are the webhook's */
#define MAX_PAGES_PER_TICK 200   /* lead result pages per tick (resumed after) */
#define AFTER_MAX 2048           /* a paging cursor kept to resume */
#define MAX_FORM_LIST_PAGES 10
#define SUBCHECK_MS (3600 * 1000)
#define INSIGHT_DAYS 7
#define RESERVE_MS 5000          /* deadline reserve */

typedef struct tick_run {
    meta_ctx *x;
    int32_t first_err;           /* the first failure, if nothing was emitted */
    size_t emitted;              /* records of this call */
    size_t missed;
    struct {                     /* per form, audited with C360_OK */
        meta_id form;
        size_t n;
    } mf[16];
    size_t nmf;
    size_t budget;               /* leads the poll may still emit */
    int pages_left;              /* lead result pages the poll may still read */
    bool incomplete;             /* a window is left for the next tick */
    meta_pend pend;              /* written only with C360_OK */
    char cause[200];             /* health: why the connection is failing */
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

static void pend_num(tick_run *t, const char *key, int64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    meta_pend_set(&t->pend, key, b, strlen(b), 0);
}

/* ---- the catch-up poll ------------------------------------------------ */

static bool seen(tick_run *t, const char *lead_id)
{
    char key[64];
    uint8_t *b = NULL;
    size_t len;
    meta_key(key, sizeof key, "lead:", lead_id);
    if (meta_pend_has(&t->pend, key)) return true; /* emitted by this tick */
    if (t->x->host->state_get(t->x->call, key, &b, &len, NULL) != C360_OK) return false;
    t->x->host->free(b);
    return true;
}

static bool after_ok(const char *a)
{
    size_t n = a != NULL ? strlen(a) : 0;
    if (n == 0 || n >= AFTER_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (a[i] <= 0x20 || a[i] >= 0x7f) return false;
    return true;
}

/* A form's window: (lo, hi] and where its paging stands ("" = start). */
typedef struct window {
    int64_t lo, hi;
    char after[AFTER_MAX];
} window;

static bool window_load(meta_ctx *x, const char *key, window *w)
{
    uint8_t *b = NULL;
    size_t len = 0;
    if (x->host->state_get(x->call, key, &b, &len, NULL) != C360_OK) return false;
    long long lo, hi;
    int off = 0;
    bool ok = len < AFTER_MAX + 64 && sscanf((const char *)b, "%lld %lld %n", &lo, &hi, &off) == 2 &&
              lo >= 0 && hi > lo;
    if (ok) {
        w->lo = lo;
        w->hi = hi;
        snprintf(w->after, sizeof w->after, "%s", (const char *)b + off);
        ok = w->after[0] == '\0' || after_ok(w->after);
    }
    x->host->free(b);
    return ok;
}

static void window_keep(tick_run *t, const char *key, const window *w, const char *after)
{
    char b[AFTER_MAX + 64];
    int n = snprintf(b, sizeof b, "%lld %lld %s", (long long)w->lo, (long long)w->hi, after);
    if (n > 0 && (size_t)n < sizeof b) meta_pend_set(&t->pend, key, b, (size_t)n, 0);
    t->incomplete = true;
}

/* Polls one form; false when it had to stop on an error or the deadline
 * (the window is kept, to resume). */
static bool poll_form(tick_run *t, const char *page, const char *tok, const char *form)
{
    meta_ctx *x = t->x;
    const c360_host_api *h = x->host;
    char ckey[64], wkey[64], filt[256], path[64];
    int64_t now_s = h->now_ms() / 1000, cursor;
    window w;
    meta_key(ckey, sizeof ckey, "cursor:", form);
    meta_key(wkey, sizeof wkey, "win:", form);
    if (!window_load(x, wkey, &w)) {
        if (!state_num(x, ckey, &cursor, NULL)) cursor = now_s - INITIAL_LOOKBACK_S;
        w.lo = cursor - OVERLAP_S;
        w.hi = now_s - GRACE_S;
        w.after[0] = '\0';
        if (w.hi <= cursor) return true; /* polled less than a moment ago */
    }
    if (t->budget == 0 || t->pages_left <= 0) {
        if (w.after[0] != '\0') window_keep(t, wkey, &w, w.after);
        t->incomplete = true;
        return true;
    }
    /* The window's bounds in the query: new leads do not move its pages. */
    snprintf(filt, sizeof filt,
             "[{\"field\":\"time_created\",\"operator\":\"GREATER_THAN\",\"value\":%lld},"
             "{\"field\":\"time_created\",\"operator\":\"LESS_THAN\",\"value\":%lld}]",
             (long long)w.lo, (long long)w.hi + 1);
    snprintf(path, sizeof path, "%s/leads", form);
    size_t missed = 0;
    char *query = malloc(3 * AFTER_MAX + 1024);
    char *after = malloc(AFTER_MAX);
    bool done = false, fine = true;
    if (query == NULL || after == NULL) {
        free(query);
        free(after);
        note(t, C360_ENOMEM);
        return false;
    }
    snprintf(after, AFTER_MAX, "%s", w.after);
    for (;;) {
        /* `after` is where this page starts: kept to resume at it. */
        if (time_short(t) || t->pages_left <= 0) {
            window_keep(t, wkey, &w, after);
            fine = !time_short(t);
            break;
        }
        t->pages_left--;
        size_t cap = 3 * AFTER_MAX + 1024;
        snprintf(query, cap, "fields=" META_LEAD_FIELDS "&limit=100&filtering=");
        bool ok = meta_urlenc_cat(query, cap, filt);
        if (ok && after[0] != '\0') {
            strncat(query, "&after=", cap - strlen(query) - 1);
            ok = meta_urlenc_cat(query, cap, after);
        }
        json_t *out = NULL;
        meta_gr r = {.path = path, .query = query, .token = tok, .object = page};
        int32_t st = ok ? meta_graph(x, &r, &out, NULL) : C360_ERROR;
        if (st != C360_OK) {
            note(t, st);
            window_keep(t, wkey, &w, after);
            fine = false;
            break;
        }
        const json_t *data = json_object_get(out, "data");
        bool stop = false;
        for (size_t i = 0; i < json_array_size(data) && !stop; i++) {
            const json_t *lead = json_array_get(data, i);
            meta_id lid;
            int64_t ct = meta_time_from_json(json_object_get(lead, "created_time"));
            if (ct < 0 || !meta_id_from_json(json_object_get(lead, "id"), false, lid)) continue;
            if (ct <= w.lo || ct > w.hi) continue; /* outside the window */
            if (seen(t, lid)) continue;
            if (t->budget == 0) {
                stop = true;
                break;
            }
            meta_lead src;
            meta_lead_of_tree(&src, lead);
            st = meta_lead_emit(x, &src, page, tok, NULL, "poll", &t->pend, t->emitted);
            if (st == C360_ETOOBIG) {
                stop = true;
                break;
            }
            if (st != C360_OK) {
                note(t, st);
                stop = true;
                fine = false;
                break;
            }
            t->emitted++;
            t->budget--;
            missed++;
        }
        if (stop) {
            /* This page again next time: those emitted now are then seen. */
            json_decref(out);
            window_keep(t, wkey, &w, after);
            break;
        }
        const json_t *paging = json_object_get(out, "paging");
        const char *next_after = meta_str(json_object_get(paging, "cursors"), "after");
        bool more = json_object_get(paging, "next") != NULL && json_array_size(data) > 0;
        if (more && !after_ok(next_after)) {
            /* Cannot page on: the window stays where it is, said loudly. */
            json_decref(out);
            h->log(x->call, C360_LOG_WARN, "catch-up poll of form %s: unusable paging cursor; "
                   "the window is read again next tick", form);
            window_keep(t, wkey, &w, after);
            break;
        }
        if (more) snprintf(after, AFTER_MAX, "%s", next_after);
        json_decref(out);
        if (!more) {
            done = true;
            break;
        }
    }
    free(query);
    free(after);
    if (done) {
        /* The whole window was read and every lead in it emitted or seen. */
        pend_num(t, ckey, w.hi);
        meta_pend_del(&t->pend, wkey);
    }
    if (missed > 0) {
        t->missed += missed;
        size_t k = 0;
        while (k < t->nmf && strcmp(t->mf[k].form, form) != 0) k++;
        if (k == t->nmf && t->nmf < sizeof t->mf / sizeof t->mf[0]) {
            snprintf(t->mf[k].form, sizeof t->mf[k].form, "%s", form);
            t->mf[k].n = 0;
            t->nmf++;
        }
        if (k < t->nmf) t->mf[k].n += missed;
        h->log(x->call, C360_LOG_WARN,
               "catch-up poll: %zu lead(s) of form %s had not arrived by webhook", missed, form);
    }
    return fine;
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
        /* A page holds up to 100 rows: the day is left for the next tick
         * unless they fit in this call. */
        if (time_short(t) || t->emitted + 100 > META_CALL_RECORDS_MAX) return false;
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
            meta_pend_set(&t->pend, key, day, strlen(day), 0);
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

static int32_t tick_body(c360_call *call, void *pd, void *id, meta_sent *sent)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, false, sent};
    const c360_host_api *h = x.host;
    const meta_cfg *cfg = &x.c->cfg;
    tick_run t = {.x = &x, .first_err = C360_OK, .budget = x.p->poll_budget,
                  .pages_left = MAX_PAGES_PER_TICK};

    int32_t st = meta_tokens_refresh(&x);
    if (st == C360_EAUTH) return st;
    note(&t, st);
    /* Proof of access (new tokens, expired proofs), routing keys again if
     * the proven set changed; what is not proven is the health cause. */
    note(&t, meta_verify(&x, true, true, t.cause, sizeof t.cause));

    int64_t now = h->now_ms(), last_poll = 0, last_check = 0, soon = 0;
    /* "poll_soon": an event left leads to this poll. */
    bool poll_soon = state_num(&x, "poll_soon", &soon, NULL);
    bool poll_due = cfg->poll_interval_s == 0 || poll_soon ||
                    !state_num(&x, "last_poll", &last_poll, NULL) ||
                    now - last_poll >= cfg->poll_interval_s * 1000;
    bool check_due = !state_num(&x, "subcheck", &last_check, NULL) || now - last_check >= SUBCHECK_MS;
    bool polled_all = true, checked_all = true;
    char unsubscribed[128] = "";

    for (size_t i = 0; i < cfg->npages; i++) {
        const char *page = cfg->pages[i];
        if (!meta_page_ok(x.c, page)) continue; /* not proven: t.cause says so */
        char *tok = NULL;
        st = meta_page_token(&x, page, &tok);
        if (st == C360_ENOTFOUND) continue;
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
    if (poll_due && polled_all && !t.incomplete && t.first_err == C360_OK) {
        pend_num(&t, "last_poll", now);
        if (poll_soon) meta_pend_del(&t.pend, "poll_soon");
    }
    if (t.incomplete && !poll_soon) /* a backlog: the next tick polls again */
        meta_pend_set(&t.pend, "poll_soon", "1", 1, 0);
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
        /* The records are committed with C360_OK: now their marks. */
        meta_pend_apply(&x, &t.pend);
        if (t.missed > 0) {
            char target[64], outcome[32];
            size_t listed = 0;
            h->state_incr(call, "missed_webhooks", (int64_t)t.missed, NULL);
            for (size_t k = 0; k < t.nmf; k++) {
                meta_key(target, sizeof target, "form:", t.mf[k].form);
                snprintf(outcome, sizeof outcome, "count:%zu", t.mf[k].n);
                h->audit(call, "meta.missed_webhooks", target, outcome);
                listed += t.mf[k].n;
            }
            if (listed < t.missed) { /* more forms than the list holds */
                snprintf(outcome, sizeof outcome, "count:%zu", t.missed - listed);
                h->audit(call, "meta.missed_webhooks", "forms", outcome);
            }
        }
        return C360_OK;
    }
    meta_pend_free(&t.pend);
    return t.first_err;
}

int32_t meta_tick(c360_call *call, void *pd, void *id)
{
    meta_sent sent = {.n = 0};
    int32_t st = tick_body(call, pd, id, &sent);
    meta_sent_free(&sent);
    return st;
}
