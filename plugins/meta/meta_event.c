/* meta_event.c -- one stored webhook of a connection: its changes for the
 * connection's own pages and Instagram accounts, those whose access it
 * proved (meta_verify.c; an app-level body may carry other tenants'
 * pages, and a per-connection URL any page: those are skipped here). A
 * lead is fetched from the Graph API with the page's token (or taken from
 * what event_prefetch read ahead for this page, meta_prefetch.c) and emitted
 * with its form's question labels and consent texts; a comment is fetched
 * too (text, author, times: the webhook only names it). Called at least
 * once per event: every record has a stable id, so a retried event emits
 * the same records.
 *
 * Leads' "seen" marks (which keep the catch-up poll from emitting them
 * again) are written only when the event returns C360_OK, i.e. with its
 * records committed: on a 1.6 host staged with state_set_on_commit, which
 * the host writes in the very script that commits the records (no round
 * trip of their own), else written just before returning. An event handles at most META_EVENT_LEADS_MAX leads,
 * and stops early when its deadline is near: it then returns C360_OK with
 * the leads done so far (a bounded prefix) and leaves the rest to the
 * catch-up poll, made due at the next tick (state "poll_soon"): every lead
 * can be read back from its form, so nothing is lost, and a batch too big
 * for one call never retries forever. Comments cannot be read back that
 * way: an event whose comments do not all fit is retried whole (RETRY,
 * nothing marked).
 *
 * The body is read from its bytes (meta_payload_scan, no Jansson tree:
 * json_loadb was the largest Jansson cost left per lead webhook) when
 * meta_event_plan proves that gives exactly the tree walk's changes and
 * hints: leads only, each value's hint read sure, and no form filter on
 * the connection (it reads the value's tree). Anything else, comments
 * included, takes the tree path for the whole event: the choice is made
 * before the first change, never half way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define FORM_TTL_MS (24u * 3600u * 1000u)
/* The form fields read: legal_content holds the consent checkboxes' texts
 * (custom_disclaimer.checkboxes[].text). */
#define FORM_FIELDS "fields=id%2Cname%2Cquestions%2Clegal_content"
/* The cache key's prefix: bumped when FORM_FIELDS changes, so that forms
 * cached without the new fields are read again. */
#define FORM_KEY "form2:"
/* Leave this much of the deadline for the outcome and a last request. */
#define DEADLINE_RESERVE_MS 3000

/* The form's metadata (question labels), cached in state for a day. A
 * form that cannot be read (permissions) gives a lead without labels
 * rather than no lead; throttling and token errors are passed on. */
static int32_t form_get(meta_ctx *x, const char *form_id, const char *tok,
                        const char *page_id, json_t **form)
{
    const c360_host_api *h = x->host;
    char key[64];
    uint8_t *v = NULL;
    size_t len = 0;
    int64_t now = h->monotonic_ms();
    /* This process's copy first (meta_cache.c), then state's. */
    if ((*form = meta_cache_form(x->c, form_id, now)) != NULL) return C360_OK;
    meta_key(key, sizeof key, FORM_KEY, form_id);
    if (h->state_get(x->call, key, &v, &len, NULL) == C360_OK) {
        *form = json_loadb((const char *)v, len, 0, NULL);
        h->free(v);
        if (json_is_object(*form)) {
            meta_cache_form_put(x->c, form_id, *form, now);
            return C360_OK;
        }
        json_decref(*form);
        *form = NULL;
    }
    json_t *out = NULL;
    meta_err e;
    meta_gr r = {.path = form_id, .query = FORM_FIELDS,
                 .token = tok, .object = page_id, .max_bytes = 1u << 20};
    int32_t st = meta_graph(x, &r, &out, &e);
    if (st == C360_ERROR) {
        h->log(x->call, C360_LOG_WARN, "form %s unreadable (code %lld): leads without labels",
               form_id, (long long)e.code);
        return C360_OK;
    }
    if (st != C360_OK) return st;
    *form = meta_form_compact(out);
    json_decref(out);
    meta_cache_form_put(x->c, form_id, *form, now);
    char *s = json_dumps(*form, JSON_COMPACT);
    if (s != NULL) {
        h->state_set(x->call, key, s, strlen(s), FORM_TTL_MS, NULL);
        free(s);
    }
    return C360_OK;
}

/* A 1.6 host stages each write with the call (state_set_on_commit): it
 * lands atomically with the records and the acknowledgement, or not at
 * all. On an older host, or for a write the host will not stage (past its
 * per-call bound), it is written now, as the callback is about to return
 * C360_OK; the keys are distinct (meta_pend_set replaces), so the two
 * kinds of write never race for one key. */
void meta_pend_apply(meta_ctx *x, meta_pend *p)
{
    const c360_host_api *h = x->host;
    bool stage = C360_HOST_HAS(h, state_set_on_commit);
    for (size_t i = 0; i < p->n; i++) {
        const meta_pend_item *it = &p->v[i];
        if (stage && h->state_set_on_commit(x->call, it->key, it->val,
                                            it->val != NULL ? it->len : 0,
                                            it->ttl_ms) == C360_OK)
            continue;
        if (it->val != NULL)
            h->state_set(x->call, it->key, it->val, it->len, it->ttl_ms, NULL);
        else
            h->state_delete(x->call, it->key);
    }
    meta_pend_free(p);
}

/* The lead's form id (else the hint's); a bytes lead its reader is unsure
 * of is read from Jansson's tree instead. false: none; C360_ENOMEM in *st
 * when that tree could not be made. */
static bool lead_form_id(meta_lead *lead, const meta_hint *hint, meta_id form_id, int32_t *st)
{
    bool has = meta_lead_id(lead, meta_lead_get(lead, meta_lead_root(lead), "form_id"), false,
                            form_id);
    if (lead->unsure) {
        if (!meta_lead_fallback(lead)) {
            *st = C360_ENOMEM;
            return false;
        }
        has = meta_lead_id(lead, meta_lead_get(lead, meta_lead_root(lead), "form_id"), false,
                           form_id);
    }
    if (has || hint == NULL || !hint->has[META_HINT_FORM]) return has;
    memcpy(form_id, hint->id[META_HINT_FORM], sizeof(meta_id));
    return true;
}

int32_t meta_lead_emit(meta_ctx *x, meta_lead *lead, const char *page_id,
                       const char *page_token, const meta_hint *hint, const char *via,
                       meta_pend *seen, size_t emitted)
{
    const c360_host_api *h = x->host;
    meta_id form_id;
    json_t *form = NULL;
    int32_t fst = C360_OK;
    bool has_form = lead_form_id(lead, hint, form_id, &fst);
    if (fst != C360_OK) return fst;
    if (has_form) {
        int32_t st = form_get(x, form_id, page_token, page_id, &form);
        if (st != C360_OK) return st;
    }
    meta_rec_ctx rc = {h->instance_connection(x->c->inst), via, page_id, h->now_ms()};
    char id[128];
    const char *why = NULL;
    /* Written as text (meta_jw.c), on the stack unless it is a big one:
     * no tree to build, dump and free per lead. */
    char first[META_JW_STACK];
    meta_jw w;
    meta_jw_init(&w, first, sizeof first);
    bool made = meta_lead_record_h(lead, form, hint, &rc, &w, id, sizeof id, &why);
    json_decref(form);
    if (!made) {
        /* (A lead read from its bytes and then from Jansson's tree may
         * have moved the writer to the heap before it was skipped; out of
         * memory for that tree fails the writer.) */
        bool oom = meta_jw_failed(&w);
        meta_jw_free(&w);
        if (oom) return C360_ENOMEM;
        /* The same answer will never make a record: skipped, said once. */
        h->log(x->call, C360_LOG_WARN, "a lead was skipped: %s", why);
        return C360_OK;
    }
    if (meta_jw_failed(&w)) {
        meta_jw_free(&w);
        return C360_ENOMEM;
    }
    int32_t st = h->record_emit(x->call, "lead", id, w.buf, w.len);
    meta_jw_free(&w);
    if (st == C360_ETOOBIG && emitted > 0) {
        /* The call holds all it can: stop here; the lead is not marked,
         * so it comes again. */
        return C360_ETOOBIG;
    }
    if (st == C360_ETOOBIG || st == C360_EINVAL) {
        /* Refused alone (over 1 MiB): it never will fit. Marked seen so
         * that the poll does not stop at it on every tick. */
        h->log(x->call, C360_LOG_WARN, "lead record %s refused by the host: %s", id,
               c360_strstatus(st));
    } else if (st != C360_OK) {
        return st;
    }
    /* Remembered for the catch-up poll, which then does not count it as
     * missed ("w": seen by a webhook, "p": found by the poll) -- written
     * only once the call's records are committed. */
    char key[80];
    meta_key(key, sizeof key, "lead:", id + sizeof "meta:lead:" - 1);
    if (!meta_pend_set(seen, key, via[0] == 'w' ? "w" : "p", 1, META_SEEN_TTL_MS))
        return C360_ENOMEM;
    return C360_OK;
}

typedef struct ev_run {
    meta_ctx *x;
    int32_t st;
    size_t mine, others, leads, emitted;
    int phase;                 /* 0: comments, 1: leads */
    bool stopped;              /* deadline near, or the call is full */
    bool reread;               /* proofs read again from state */
    size_t leads_left, comments_left;
    meta_pend seen;
} ev_run;

static int32_t lead_from_webhook(ev_run *r, const meta_change *c)
{
    meta_ctx *x = r->x;
    const c360_host_api *h = x->host;
    const meta_cfg *cfg = &x->c->cfg;
    meta_id lead_id, form_id;
    /* classify() / classify_scan() wrote it there: "lead:<leadgen_id>". */
    snprintf(lead_id, sizeof lead_id, "%s", c->dedup + 5);
    /* (Only the tree path comes here with a form filter: meta_event_plan
     * is not asked then.) */
    if (cfg->nforms > 0 &&
        (!meta_id_from_json(json_object_get(c->value, "form_id"), false, form_id) ||
         !meta_in(cfg->forms, cfg->nforms, form_id))) {
        /* Not one of the connection's forms: counted, not emitted. */
        h->state_incr(x->call, "leads_filtered", 1, NULL);
        return C360_OK;
    }
    char *tok = NULL;
    int32_t st = meta_page_token(x, c->owner, &tok);
    if (st == C360_ENOTFOUND) {
        h->call_retry_after(x->call, 60000);
        h->call_error(x->call, "no access token for page %s: connect with OAuth or store "
                      "the secret page_token:%s", c->owner, c->owner);
        return C360_RETRY;
    }
    if (st != C360_OK) return st;
    /* Read ahead in a batch request (meta_prefetch.c)? Otherwise, or when
     * that read failed, fetched here, as ever. */
    json_t *lead = NULL;
    char *body = NULL;
    size_t body_len = 0;
    if (!meta_cache_lead_take(x->c, lead_id, c->owner, h->monotonic_ms(), &lead, &body,
                              &body_len)) {
        meta_gr g = {.path = lead_id, .query = "fields=" META_LEAD_FIELDS, .token = tok,
                     .object = c->owner, .max_bytes = 1u << 20};
        st = meta_graph(x, &g, &lead, NULL);
    }
    if (st == C360_OK) {
        /* Read ahead as bytes (meta_batch_op_end_bytes proved them), or a
         * tree. */
        meta_lead src;
        if (body != NULL) meta_lead_of_bytes(&src, (const uint8_t *)body, body_len);
        else meta_lead_of_tree(&src, lead);
        /* The hint from the value's tree, or from its bytes on the byte
         * path (meta_event_plan proved them sure, and reading them is
         * deterministic). */
        meta_hint hint;
        if (c->value != NULL) meta_hint_of_tree(&hint, c->value);
        else if (!meta_scan_hint(c->value_b, c->value_e, &hint)) {
            h->call_error(x->call, "lead %s: its webhook change cannot be read", lead_id);
            st = C360_ERROR;
        }
        if (st == C360_OK)
            st = meta_lead_emit(x, &src, c->owner, tok, &hint, "webhook", &r->seen, r->emitted);
        meta_lead_done(&src);
    }
    if (st == C360_OK) r->emitted++;
    json_decref(lead);
    free(body);
    meta_token_free(x, tok);
    return st;
}

/* The token to read a comment with: the page's, or for Instagram the
 * token of the proven page linked to the account (else the user token). */
static int32_t comment_token(meta_ctx *x, const meta_change *c, char **tok)
{
    if (!c->instagram) return meta_page_token(x, c->owner, tok);
    int j = meta_ig_ok(x->c, c->owner);
    int via = j >= 0 ? atomic_load(&x->c->ig_page[j]) : -1;
    if (via >= 0 && (size_t)via < x->c->cfg.npages) {
        int32_t st = meta_page_token(x, x->c->cfg.pages[via], tok);
        if (st != C360_ENOTFOUND) return st;
    }
    return meta_user_token(x, tok);
}

static int32_t comment(ev_run *run, const meta_change *c)
{
    meta_ctx *x = run->x;
    const c360_host_api *h = x->host;
    meta_id cid;
    const char *verb = c->instagram ? "add" : meta_str(c->value, "verb");
    meta_id_from_json(json_object_get(c->value, c->instagram ? "id" : "comment_id"), true, cid);
    char *tok = NULL;
    int32_t st = comment_token(x, c, &tok);
    if (st == C360_ENOTFOUND) {
        h->call_retry_after(x->call, 60000);
        h->call_error(x->call, "no access token to read comments of %s %s", c->instagram ?
                      "Instagram account" : "page", c->owner);
        return C360_RETRY;
    }
    if (st != C360_OK) return st;
    /* The comment as Graph has it: the webhook only says which. */
    char query[160] = "fields=";
    meta_urlenc_cat(query, sizeof query, c->instagram ? META_IG_COMMENT_FIELDS
                                                      : META_FB_COMMENT_FIELDS);
    json_t *got = NULL;
    meta_err e;
    meta_gr g = {.path = cid, .query = query, .token = tok,
                 .object = c->instagram ? NULL : c->owner, .max_bytes = 1u << 20};
    st = meta_graph(x, &g, &got, &e);
    meta_token_free(x, tok);
    if (st == C360_ERROR) {
        /* Gone or unreadable: a removal is still a removal (ids only);
         * anything else cannot be told from the payload alone. */
        if (verb == NULL || strcmp(verb, "remove") != 0) {
            h->log(x->call, C360_LOG_WARN, "comment %s can no longer be read (code %lld): "
                   "skipped", cid, (long long)e.code);
            return C360_OK;
        }
        got = NULL;
    } else if (st != C360_OK) {
        return st;
    }
    meta_rec_ctx rc = {h->instance_connection(x->c->inst), "webhook",
                       c->instagram ? NULL : c->owner, h->now_ms()};
    char id[160];
    const char *why = NULL;
    json_t *rec = meta_comment_record(c, got, &rc, id, sizeof id, &why);
    json_decref(got);
    if (rec == NULL) {
        h->log(x->call, C360_LOG_WARN, "a comment was skipped: %s", why);
        return C360_OK;
    }
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (s == NULL) return C360_ENOMEM;
    st = h->record_emit(x->call, "comment", id, s, strlen(s));
    free(s);
    if (st == C360_ETOOBIG && run->emitted > 0) {
        /* The call is full: the event is done again, whole. */
        h->call_retry_after(x->call, 0);
        h->call_error(x->call, "the event's records exceed one call; retrying");
        return C360_RETRY;
    }
    if (st == C360_OK) run->emitted++;
    return st == C360_ETOOBIG || st == C360_EINVAL ? C360_OK : st;
}

static bool mine(const meta_conn *c, const meta_change *ch)
{
    return ch->instagram ? meta_ig_ok(c, ch->owner) >= 0 : meta_page_ok(c, ch->owner);
}

/* Two passes over the body: comments first (only webhooks bring them),
 * then leads (the catch-up poll can bring back any left over). */
static int on_change(void *arg, const meta_change *c)
{
    ev_run *r = arg;
    bool lead = c->kind == META_LEAD;
    if (lead != (r->phase == 1)) return 0;
    const meta_cfg *cfg = &r->x->c->cfg;
    bool listed = c->instagram ? meta_in(cfg->ig, cfg->nig, c->owner)
                               : meta_in(cfg->pages, cfg->npages, c->owner);
    if (listed && !r->reread && !mine(r->x->c, c)) {
        /* Proven meanwhile by a tick of another process? (Its proof is in
         * state; no network here.) Once per event. */
        r->reread = true;
        meta_verify(r->x, false, false, NULL, 0);
    }
    if (!mine(r->x->c, c)) {
        r->others++;
        return 0;
    }
    r->mine++;
    if (r->stopped) { /* the deadline, or the call is full */
        if (lead) r->leads_left++;
        else r->comments_left++;
        return 0;
    }
    if (lead && r->leads >= META_EVENT_LEADS_MAX) {
        r->leads_left++;
        return 0;
    }
    if (r->x->host->call_time_left_ms(r->x->call) < DEADLINE_RESERVE_MS) {
        r->stopped = true;
    } else {
        r->st = lead ? lead_from_webhook(r, c) : comment(r, c);
        if (r->st == C360_ETOOBIG) { /* the call holds all it can */
            r->st = C360_OK;
            r->stopped = true;
        } else if (lead) {
            r->leads++;
        }
    }
    if (r->stopped) {
        if (lead) r->leads_left++;
        else r->comments_left++;
        return 0;
    }
    return r->st != C360_OK;
}

/* The event's outcome once its changes were walked (either path). */
static int32_t event_end(meta_ctx *x, const c360_event *ev, ev_run *r)
{
    const c360_host_api *h = x->host;
    c360_call *call = x->call;
    if (r->st == C360_OK && (r->comments_left > 0 || (r->stopped && r->emitted == 0))) {
        /* Comments cannot be read back later, and a prefix of nothing is
         * no progress: the event is done again, whole, nothing marked. */
        h->call_retry_after(call, 0);
        h->call_error(call, "event %s: the deadline is near with %zu change(s) left; retrying",
                      ev->event_id, r->comments_left + r->leads_left);
        r->st = C360_RETRY;
    }
    if (r->st != C360_OK) {
        meta_pend_free(&r->seen); /* nothing committed: nothing marked */
        return r->st;
    }
    if (r->leads_left > 0) {
        /* The next tick's catch-up poll emits them (due at once). */
        h->state_set(call, "poll_soon", "1", 1, 0, NULL);
        h->log(call, C360_LOG_WARN, "event %s: %zu lead(s) left to the catch-up poll (at most "
               "%d per event, or the deadline)", ev->event_id, r->leads_left,
               META_EVENT_LEADS_MAX);
    }
    meta_pend_apply(x, &r->seen);
    h->log(call, C360_LOG_DEBUG, "event %s: %zu changes processed, %zu of other owners",
           ev->event_id, r->mine, r->others);
    return C360_OK;
}

static int32_t event_run(c360_call *call, void *pd, void *id, const c360_event *ev,
                         meta_sent *sent)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, false, sent};
    const c360_host_api *h = x.host;
    ev_run r = {.x = &x, .st = C360_OK};
    /* The changes of a small body, kept by the plan's scan. */
    meta_change kept[8];
    size_t nkept = 0;
    if (x.c->cfg.nforms == 0 &&
        meta_event_plan(ev->body, ev->body_len, kept, sizeof kept / sizeof kept[0], &nkept) ==
            META_EVENT_BYTES) {
        /* Leads only, each read sure from the bytes: the scan walks the
         * tree walk's changes (value NULL, value_b/value_e set). Phase 0
         * would see no comment, so only phase 1 runs, over the changes the
         * plan kept, or a scan again (the same, in the same order) when
         * they were too many to keep. The plan's scan was sure and saw
         * every change, so this one is too: it never stops half way for
         * the tree to take over. A form filter reads the value's tree
         * (lead_from_webhook): such connections, and bodies with a
         * comment, stay on the tree path below. */
        r.phase = 1;
        if (nkept <= sizeof kept / sizeof kept[0]) {
            for (size_t i = 0; i < nkept; i++)
                if (on_change(&r, &kept[i]) != 0) break; /* as the scan stops */
        } else {
            int n = 0;
            meta_payload_scan(ev->body, ev->body_len, on_change, &r, &n);
        }
        return event_end(&x, ev, &r);
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)ev->body, ev->body_len, 0, &jerr);
    if (root == NULL) {
        /* Verified but not JSON: retrying cannot help. */
        h->call_error(call, "event %s: the body is not JSON (line %d)", ev->event_id, jerr.line);
        return json_error_code(&jerr) == json_error_out_of_memory ? C360_ENOMEM : C360_ERROR;
    }
    int n = meta_payload_walk(root, on_change, &r);
    if (n >= 0 && r.st == C360_OK) {
        r.phase = 1;
        meta_payload_walk(root, on_change, &r);
    }
    json_decref(root);
    if (n < 0) {
        h->log(call, C360_LOG_INFO, "event %s: not a page or instagram webhook; ignored",
               ev->event_id);
        return C360_OK;
    }
    return event_end(&x, ev, &r);
}

int32_t meta_event(c360_call *call, void *pd, void *id, const c360_event *ev)
{
    meta_sent sent = {.n = 0};
    int32_t st = event_run(call, pd, id, ev, &sent);
    meta_sent_free(&sent);
    return st;
}
