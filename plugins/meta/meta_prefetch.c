/* meta_prefetch.c -- event_prefetch (ABI 1.7): before a worker thread runs
 * several stored webhooks of this connection, one call each to event, the
 * host shows them here together. Each lead event costs one Graph GET (one
 * HTTPS round trip, about half of a worker's CPU per lead); here the leads
 * those events will fetch are read in Graph batch requests instead, up to
 * META_BATCH_MAX per request, and kept briefly in the connection's cache
 * (meta_cache.c) for lead_from_webhook (meta_event.c) to take.
 *
 * Exactly the leads event would fetch: the bodies are read as event reads
 * them (meta_payload_scan, or Jansson's parse and meta_payload_walk when
 * the scanner is unsure or the form filter needs the change's value), with
 * its ownership filter -- pages of this connection whose access it proved
 * (proofs read again from state once, as event does), the first
 * META_EVENT_LEADS_MAX lead changes of each event, the connection's
 * forms -- and each page's token from meta_page_token, as event gets it.
 *
 * One batch request per page (and per META_BATCH_MAX of its leads), never
 * one mixing pages: it then counts against the app's budget and that
 * page's, one unit per operation, its usage headers and errors are about
 * that page as a single GET's would be, and its one token is the one
 * meta_graph cuts from Meta's messages.
 *
 * Advisory: whatever fails here caches nothing for the leads concerned,
 * and their events fetch them alone and handle the error as ever. A token
 * error (190) is not acted on here (quiet_auth): the event that meets it
 * does that. A throttling answer is reported to the budget, as any call's,
 * so the events wait for the budget rather than spend calls on a throttled
 * API. After the first failed request no other is made. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

/* A batch request is not started with less of the call's deadline left.
 * The look ahead's deadline is short by design (the host gives it at most
 * half of the turn's time before a hand-back: claim_idle_ms/8 at best),
 * and the request itself is bounded by it; a look ahead cut short costs
 * nothing but the events' own reads. */
#define PREFETCH_RESERVE_MS 100
/* A batch's answer: META_BATCH_MAX leads as JSON strings (a few KiB each)
 * are far below this; a larger answer fails the batch (its leads are read
 * by their events). */
#define ANSWER_MAX (4u << 20)

typedef struct pf_lead {
    meta_id id;
    size_t page;               /* index in cfg.pages */
    bool done;
} pf_lead;

typedef struct pf_run {
    meta_ctx *x;
    pf_lead want[META_LEAD_CACHE_N];
    size_t n;
    size_t ev_leads;           /* the current event's lead changes of its own */
    bool reread;               /* proofs read again from state */
    int64_t now;
} pf_run;

static int page_index(const meta_cfg *cfg, const char *page)
{
    for (size_t i = 0; i < cfg->npages; i++)
        if (strcmp(cfg->pages[i], page) == 0) return (int)i;
    return -1;
}

/* meta_event.c's on_change for leads, without fetching: what its
 * lead_from_webhook would fetch is added to r->want. */
static int on_change(void *arg, const meta_change *c)
{
    pf_run *r = arg;
    if (c->kind != META_LEAD) return 0;
    meta_conn *conn = r->x->c;
    const meta_cfg *cfg = &conn->cfg;
    bool listed = meta_in(cfg->pages, cfg->npages, c->owner);
    if (listed && !r->reread && !meta_page_ok(conn, c->owner)) {
        /* Proven meanwhile by another process's tick? As event does it,
         * from state, once (here: once for all the events). */
        r->reread = true;
        meta_verify(r->x, false, false, NULL, 0);
    }
    if (!meta_page_ok(conn, c->owner)) return 0;
    /* event handles this many lead changes of its own, filtered ones
     * included; the rest go to the catch-up poll. */
    if (r->ev_leads++ >= META_EVENT_LEADS_MAX) return 0;
    meta_id form_id;
    if (cfg->nforms > 0 &&
        (!meta_id_from_json(json_object_get(c->value, "form_id"), false, form_id) ||
         !meta_in(cfg->forms, cfg->nforms, form_id)))
        return 0; /* not fetched: counted as filtered by event */
    /* The walk's dedup key is "lead:<leadgen_id>" (meta_payload.c). */
    const char *id = c->dedup + sizeof "lead:" - 1;
    int page = page_index(cfg, c->owner);
    if (strncmp(c->dedup, "lead:", 5) != 0 || !meta_id_valid(id, false) || page < 0) return 0;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->want[i].id, id) == 0) return 0; /* twice in the turn: read once */
    if (meta_cache_lead_has(conn, id, r->now)) return 0;
    if (r->n == META_LEAD_CACHE_N) return 1; /* as many as the cache keeps */
    pf_lead *w = &r->want[r->n++];
    memcpy(w->id, id, strlen(id) + 1);
    w->page = (size_t)page;
    w->done = false;
    return 0;
}

/* The leads of one event body into r->want. */
static void collect(pf_run *r, const c360_event *ev)
{
    size_t mark = r->n;
    bool parse = r->x->c->cfg.nforms > 0; /* the filter reads the value */
    r->ev_leads = 0;
    if (!parse) {
        int found;
        int sc = meta_payload_scan(ev->body, ev->body_len, on_change, r, &found);
        if (sc == META_SCAN_INVALID) return; /* event reports it */
        if (sc == META_SCAN_UNSURE) {
            /* What the scanner gathered is forgotten: Jansson decides. */
            r->n = mark;
            r->ev_leads = 0;
            parse = true;
        }
    }
    if (parse) {
        json_t *root = json_loadb((const char *)ev->body, ev->body_len, 0, NULL);
        if (root == NULL) return;
        meta_payload_walk(root, on_change, r);
        json_decref(root);
    }
}

typedef struct pf_tally {
    size_t got, requests, op_failed;
    int first_code;            /* the first failed operation's status */
} pf_tally;

/* One batch request of ops[0..k) (one page, one token); the leads it got
 * go to the cache. C360_OK also when operations failed; otherwise the
 * request's failure (call_error set). */
static int32_t batch(meta_ctx *x, const char *page, const meta_batch_op *ops, size_t k,
                     pf_tally *t)
{
    const c360_host_api *h = x->host;
    size_t len = 0;
    char *form = meta_batch_form(ops, k, &len);
    if (form == NULL) {
        h->call_error(x->call, "a batch of %zu lead reads could not be written", k);
        return C360_ERROR;
    }
    json_t *ans = NULL;
    meta_gr g = {.method = "POST", .path = "", .token = ops[0].token, .object = page,
                 .form = form, .token_in_form = true, .any_json = true, .quiet_auth = true,
                 .units = (uint32_t)k, .max_bytes = ANSWER_MAX};
    int32_t st = meta_graph(x, &g, &ans, NULL);
    meta_batch_form_free(form);
    t->requests++;
    if (st != C360_OK) return st;
    json_t *leads[META_BATCH_MAX];
    int codes[META_BATCH_MAX];
    int got = meta_batch_parse(ans, ops, k, leads, codes);
    json_decref(ans);
    if (got < 0) {
        h->call_error(x->call, "Graph answered a batch of %zu without an array of %zu", k, k);
        return C360_ERROR;
    }
    int64_t now = h->monotonic_ms();
    for (size_t i = 0; i < k; i++) {
        if (leads[i] == NULL) {
            if (t->op_failed++ == 0) t->first_code = codes[i];
            continue;
        }
        meta_cache_lead_put(x->c, ops[i].lead_id, page, leads[i], now);
        json_decref(leads[i]);
    }
    t->got += (size_t)got;
    return C360_OK;
}

/* Every wanted lead of cfg.pages[p], in batches of META_BATCH_MAX. */
static int32_t page_leads(meta_ctx *x, pf_run *r, size_t p, pf_tally *t)
{
    const c360_host_api *h = x->host;
    const char *page = x->c->cfg.pages[p];
    char *tok = NULL;
    int32_t st = meta_page_token(x, page, &tok);
    if (st != C360_OK) {
        /* event meets the same and says so (no token: RETRY with advice). */
        for (size_t i = 0; i < r->n; i++)
            if (r->want[i].page == p) r->want[i].done = true;
        return st == C360_ENOTFOUND ? C360_OK : st;
    }
    uint8_t mac[32];
    char proof[65];
    h->hmac_sha256(x->c->app->secret, x->c->app->secret_len, tok, strlen(tok), mac);
    meta_hex(mac, sizeof mac, proof);
    meta_batch_op ops[META_BATCH_MAX];
    size_t k = 0;
    for (size_t i = 0; i <= r->n && st == C360_OK; i++) {
        if (i < r->n && (r->want[i].done || r->want[i].page != p)) continue;
        if (i < r->n) {
            r->want[i].done = true;
            ops[k++] = (meta_batch_op){r->want[i].id, tok, proof};
        }
        if (k == META_BATCH_MAX || (i == r->n && k > 0)) {
            if (h->call_time_left_ms(x->call) < PREFETCH_RESERVE_MS) {
                h->call_error(x->call, "the deadline is near: leads left to their events");
                st = C360_ETIMEOUT;
                break;
            }
            /* Only one lead: its event's own GET costs the same. */
            if (k > 1) st = batch(x, page, ops, k, t);
            k = 0;
        }
    }
    meta_token_free(x, tok);
    return st;
}

int32_t meta_event_prefetch(c360_call *call, void *pd, void *id, const c360_event *const *evs,
                            size_t n)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, false};
    const c360_host_api *h = x.host;
    pf_run *r = calloc(1, sizeof *r);
    if (r == NULL) return C360_ENOMEM;
    r->x = &x;
    r->now = h->monotonic_ms();
    for (size_t i = 0; i < n && r->n < META_LEAD_CACHE_N; i++)
        if (evs[i] != NULL && evs[i]->body != NULL) collect(r, evs[i]);
    pf_tally t = {0};
    int32_t st = C360_OK;
    /* Page by page, in the order the events name them. */
    for (size_t i = 0; i < r->n && st == C360_OK; i++)
        if (!r->want[i].done) st = page_leads(&x, r, r->want[i].page, &t);
    if (t.op_failed > 0)
        h->log(call, C360_LOG_DEBUG, "look ahead: %zu lead(s) not read (the first: status %d); "
               "their events fetch them", t.op_failed, t.first_code);
    h->log(call, C360_LOG_DEBUG, "look ahead: %zu of %zu lead(s) of %zu event(s) read in %zu "
           "batch request(s)", t.got, r->n, n, t.requests);
    free(r);
    return st;
}
