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
 * The leads of all the connection's pages share requests: as few as can
 * carry them (meta_batch_split), each operation with its own page's token
 * and proof. The accounting stays per page, as a single GET's would be:
 * before a request is written each page takes its operations from its own
 * budget and the app their sum (meta_graph_batch_budget; a page without
 * room leaves its leads to their events), and after it each operation's
 * own headers and error (include_headers=true) are reported to its page
 * (meta_answer_reports), merged so that a bucket costs one report per
 * request. The request's own answer is reported as before, for the page
 * whose token is its top-level one. A request of a single operation is not
 * sent: that lead's event reads it alone at the same cost.
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
    size_t got, requests, op_failed, throttled, no_room;
    int first_code;            /* the first failed operation's status */
} pf_tally;

/* A page with leads in the turn: its token and proof while they are sent. */
typedef struct pf_page {
    size_t page;               /* index in cfg.pages */
    char *tok;                 /* NULL: none (its leads are left out) */
    char proof[65];
} pf_page;

/* One request's operations, each with its page (index in pf_page). */
typedef struct pf_req {
    meta_batch_op ops[META_BATCH_MAX];
    size_t pg[META_BATCH_MAX];
    size_t n;
    meta_batch_res res[META_BATCH_MAX];
    meta_reports reports;
} pf_req;

/* One batch request of q->ops[0..n), whose budgets are taken; the leads it
 * got go to the cache, each operation's usage and error to its page's
 * budget. C360_OK also when operations failed; otherwise the request's
 * failure (call_error set). */
static int32_t batch(meta_ctx *x, const pf_page *pages, pf_req *q, pf_tally *t)
{
    const c360_host_api *h = x->host;
    const meta_cfg *cfg = &x->c->cfg;
    size_t len = 0;
    char *form = meta_batch_form(q->ops, q->n, &len);
    if (form == NULL) {
        h->call_error(x->call, "a batch of %zu lead reads could not be written", q->n);
        return C360_ERROR;
    }
    /* The tokens of this request's other operations, cut from Meta's
     * messages as the top-level one is: each distinct one (a page's token
     * is one pointer), at most n - 1 of them, so never more than fit. */
    const char *cuts[META_BATCH_MAX];
    size_t ncuts = 0;
    for (size_t i = 1; i < q->n; i++) {
        const char *tok = q->ops[i].token;
        bool seen = tok == NULL || tok == q->ops[0].token;
        for (size_t k = 0; k < ncuts && !seen; k++) seen = cuts[k] == tok;
        if (!seen) cuts[ncuts++] = tok;
    }
    json_t *ans = NULL;
    c360_http_response *raw = NULL;
    q->reports.n = 0;
    /* The request's own answer is about the page of its top-level token. */
    meta_gr g = {.method = "POST", .path = "", .token = q->ops[0].token,
                 .object = cfg->pages[pages[q->pg[0]].page], .form = form,
                 .token_in_form = true, .any_json = true, .quiet_auth = true,
                 .units = (uint32_t)q->n, .max_bytes = ANSWER_MAX, .prepaid = true,
                 .cuts = cuts, .ncuts = ncuts, .reports = &q->reports, .raw = &raw};
    int32_t st = meta_graph(x, &g, &ans, NULL);
    meta_batch_form_free(form);
    t->requests++;
    int got = 0;
    if (st == C360_OK && raw != NULL) {
        /* The array read from its bytes: only the leads are parsed. */
        got = meta_batch_read(raw->body, raw->body_len, q->ops, q->n, q->res);
        h->http_free(raw);
        if (got == -2) st = meta_graph_not_json(x, &g);
    } else if (st == C360_OK) {
        got = meta_batch_parse(ans, q->ops, q->n, q->res);
    }
    json_decref(ans);
    if (st == C360_OK && got < 0) {
        h->call_error(x->call, "Graph answered a batch of %zu without an array of %zu", q->n, q->n);
        st = C360_ERROR;
    }
    if (st != C360_OK) {
        meta_graph_reports(x, &q->reports);
        return st;
    }
    int64_t now = h->monotonic_ms();
    for (size_t i = 0; i < q->n; i++) {
        meta_batch_res *r = &q->res[i];
        const char *page = cfg->pages[pages[q->pg[i]].page];
        /* As a single GET of that page would be accounted. */
        meta_report rep[META_ANSWER_REPORTS];
        size_t nr = meta_answer_reports(&r->usage, &r->err, page, x->p->throttle_min_ms, rep,
                                        NULL);
        meta_graph_gather(x, &q->reports, rep, nr);
        if (r->err.cls == META_ERR_THROTTLE) t->throttled++;
        if (r->lead == NULL && r->body == NULL) {
            if (t->op_failed++ == 0) t->first_code = r->code;
            continue;
        }
        /* The cache takes the tree or the bytes over. */
        meta_cache_lead_put(x->c, q->ops[i].lead_id, page, r->lead, r->body, r->body_len, now);
        r->lead = NULL;
        r->body = NULL;
    }
    meta_graph_reports(x, &q->reports);
    t->got += (size_t)got;
    return C360_OK;
}

/* One request of the leads want[0..n) (in page order), whose pages are
 * pages[]: each page takes its units, the app their sum, and what got room
 * is sent when that is two operations or more. */
static int32_t request(meta_ctx *x, const pf_lead *const *want, size_t n, const pf_page *pages,
                       size_t npages, pf_req *q, pf_tally *t)
{
    const char *names[META_BATCH_MAX];
    uint32_t units[META_BATCH_MAX];
    size_t grp[META_BATCH_MAX]; /* pf_page index of each group */
    size_t of[META_BATCH_MAX];  /* the group of each lead */
    bool granted[META_BATCH_MAX];
    size_t ng = 0;
    /* want is grouped by page: a group per run of one page. */
    for (size_t i = 0; i < n; i++) {
        size_t pi = 0;
        while (pi + 1 < npages && pages[pi].page != want[i]->page) pi++;
        if (ng == 0 || grp[ng - 1] != pi) {
            grp[ng] = pi;
            names[ng] = x->c->cfg.pages[pages[pi].page];
            units[ng++] = 0;
        }
        units[ng - 1]++;
        of[i] = ng - 1;
    }
    uint32_t total = 0;
    int32_t st = meta_graph_batch_budget(x, names, units, ng, 2, granted, &total);
    if (st != C360_OK) return st;
    for (size_t g = 0; g < ng; g++)
        if (!granted[g]) t->no_room += units[g];
    if (total < 2) return C360_OK; /* left to their events */
    q->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (!granted[of[i]]) continue;
        const pf_page *pg = &pages[grp[of[i]]];
        q->pg[q->n] = grp[of[i]];
        q->ops[q->n++] = (meta_batch_op){want[i]->id, pg->tok, pg->proof};
    }
    return batch(x, pages, q, t);
}

static int32_t prefetch_run(c360_call *call, void *pd, void *id, const c360_event *const *evs,
                            size_t n, meta_sent *sent)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, false, sent};
    const c360_host_api *h = x.host;
    pf_run *r = calloc(1, sizeof *r);
    pf_req *q = calloc(1, sizeof *q);
    if (r == NULL || q == NULL) {
        free(r);
        free(q);
        return C360_ENOMEM;
    }
    r->x = &x;
    r->now = h->monotonic_ms();
    for (size_t i = 0; i < n && r->n < META_LEAD_CACHE_N; i++)
        if (evs[i] != NULL && evs[i]->body != NULL) collect(r, evs[i]);

    /* The pages, in the order the events name them, each with its token
     * (as event gets it: a page without one leaves its leads to their
     * events, which say so). */
    pf_page pages[META_LEAD_CACHE_N];
    size_t npages = 0;
    int32_t st = C360_OK;
    for (size_t i = 0; i < r->n && st == C360_OK; i++) {
        size_t k = 0;
        while (k < npages && pages[k].page != r->want[i].page) k++;
        if (k < npages) continue;
        pf_page *p = &pages[npages++];
        p->page = r->want[i].page;
        p->tok = NULL;
        st = meta_page_token(&x, x.c->cfg.pages[p->page], &p->tok);
        if (st == C360_ENOTFOUND) st = C360_OK;
        if (p->tok == NULL) continue;
        meta_proof(&x, p->tok, p->proof);
    }
    /* The leads that can be read, grouped by page in that order. */
    const pf_lead *order[META_LEAD_CACHE_N];
    size_t m = 0;
    for (size_t k = 0; k < npages && st == C360_OK; k++) {
        if (pages[k].tok == NULL) continue;
        for (size_t i = 0; i < r->n; i++)
            if (r->want[i].page == pages[k].page) order[m++] = &r->want[i];
    }
    pf_tally t = {0};
    size_t size[META_LEAD_CACHE_N / META_BATCH_MAX + 1];
    size_t nreq = m >= 2 ? meta_batch_split(m, size) : 0;
    for (size_t i = 0, at = 0; i < nreq && st == C360_OK; at += size[i++]) {
        if (h->call_time_left_ms(call) < PREFETCH_RESERVE_MS) {
            h->call_error(call, "the deadline is near: leads left to their events");
            st = C360_ETIMEOUT;
            break;
        }
        st = request(&x, order + at, size[i], pages, npages, q, &t);
    }
    for (size_t k = 0; k < npages; k++) meta_token_free(&x, pages[k].tok);
    if (t.op_failed > 0)
        h->log(call, C360_LOG_DEBUG, "look ahead: %zu lead(s) not read (the first: status %d, "
               "%zu throttled); their events fetch them", t.op_failed, t.first_code, t.throttled);
    if (t.no_room > 0)
        h->log(call, C360_LOG_DEBUG, "look ahead: %zu lead(s) left out: their page's budget "
               "had no room", t.no_room);
    h->log(call, C360_LOG_DEBUG, "look ahead: %zu of %zu lead(s) of %zu event(s) of %zu page(s) "
           "read in %zu batch request(s)", t.got, r->n, n, npages, t.requests);
    free(q);
    free(r);
    return st;
}

int32_t meta_event_prefetch(c360_call *call, void *pd, void *id, const c360_event *const *evs,
                            size_t n)
{
    meta_sent sent = {.n = 0};
    int32_t st = prefetch_run(call, pd, id, evs, n, &sent);
    meta_sent_free(&sent);
    return st;
}
