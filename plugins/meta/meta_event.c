/* meta_event.c -- one stored webhook of a connection: its changes for the
 * connection's own pages and Instagram accounts (an app-level body may
 * carry other tenants' pages: those are skipped here, they were routed to
 * their own connections). A lead is fetched from the Graph API with the
 * page's token and emitted with its form's question labels; a comment is
 * emitted from the payload itself. Called at least once per event: every
 * record has a stable id, so a retried event emits the same records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define FORM_TTL_MS (24u * 3600u * 1000u)
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
    *form = NULL;
    meta_key(key, sizeof key, "form:", form_id);
    if (h->state_get(x->call, key, &v, &len, NULL) == C360_OK) {
        *form = json_loadb((const char *)v, len, 0, NULL);
        h->free(v);
        if (json_is_object(*form)) return C360_OK;
        json_decref(*form);
        *form = NULL;
    }
    json_t *out = NULL;
    meta_err e;
    meta_gr r = {.path = form_id, .query = "fields=id%2Cname%2Cquestions",
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
    char *s = json_dumps(*form, JSON_COMPACT);
    if (s != NULL) {
        h->state_set(x->call, key, s, strlen(s), FORM_TTL_MS, NULL);
        free(s);
    }
    return C360_OK;
}

int32_t meta_lead_emit(meta_ctx *x, const json_t *lead, const char *page_id,
                       const char *page_token, const json_t *hint, const char *via)
{
    const c360_host_api *h = x->host;
    meta_id form_id;
    json_t *form = NULL;
    if (meta_id_from_json(json_object_get(lead, "form_id"), false, form_id) ||
        (hint != NULL && meta_id_from_json(json_object_get(hint, "form_id"), false, form_id))) {
        int32_t st = form_get(x, form_id, page_token, page_id, &form);
        if (st != C360_OK) return st;
    }
    meta_rec_ctx rc = {h->instance_connection(x->c->inst), via, page_id, h->now_ms()};
    char id[128];
    const char *why = NULL;
    json_t *rec = meta_lead_record(lead, form, hint, &rc, id, sizeof id, &why);
    json_decref(form);
    if (rec == NULL) {
        /* The same answer will never make a record: skipped, said once. */
        h->log(x->call, C360_LOG_WARN, "a lead was skipped: %s", why);
        return C360_OK;
    }
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (s == NULL) return C360_ENOMEM;
    int32_t st = h->record_emit(x->call, "lead", id, s, strlen(s));
    free(s);
    if (st == C360_ETOOBIG || st == C360_EINVAL) {
        h->log(x->call, C360_LOG_WARN, "lead record %s refused by the host: %s", id,
               c360_strstatus(st));
        return C360_OK;
    }
    if (st != C360_OK) return st;
    /* Remembered for the catch-up poll, which then does not count it as
     * missed ("w": seen by a webhook, "p": found by the poll). */
    char key[80];
    meta_key(key, sizeof key, "lead:", id + sizeof "meta:lead:" - 1);
    h->state_set(x->call, key, via[0] == 'w' ? "w" : "p", 1, META_SEEN_TTL_MS, NULL);
    return C360_OK;
}

static int32_t lead_from_webhook(meta_ctx *x, const meta_change *c)
{
    const c360_host_api *h = x->host;
    const meta_cfg *cfg = &x->c->cfg;
    meta_id lead_id, form_id;
    meta_id_from_json(json_object_get(c->value, "leadgen_id"), false, lead_id);
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
    json_t *lead = NULL;
    meta_gr r = {.path = lead_id, .query = "fields=" META_LEAD_FIELDS, .token = tok,
                 .object = c->owner, .max_bytes = 1u << 20};
    st = meta_graph(x, &r, &lead, NULL);
    if (st == C360_OK) st = meta_lead_emit(x, lead, c->owner, tok, c->value, "webhook");
    json_decref(lead);
    meta_token_free(x, tok);
    return st;
}

static int32_t comment(meta_ctx *x, const meta_change *c)
{
    const c360_host_api *h = x->host;
    meta_rec_ctx rc = {h->instance_connection(x->c->inst), "webhook",
                       c->instagram ? NULL : c->owner, h->now_ms()};
    char id[160];
    const char *why = NULL;
    json_t *rec = meta_comment_record(c, &rc, id, sizeof id, &why);
    if (rec == NULL) {
        h->log(x->call, C360_LOG_WARN, "a comment was skipped: %s", why);
        return C360_OK;
    }
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (s == NULL) return C360_ENOMEM;
    int32_t st = h->record_emit(x->call, "comment", id, s, strlen(s));
    free(s);
    return st == C360_ETOOBIG || st == C360_EINVAL ? C360_OK : st;
}

typedef struct ev_run {
    meta_ctx *x;
    int32_t st;
    size_t mine, others;
} ev_run;

static int on_change(void *arg, const meta_change *c)
{
    ev_run *r = arg;
    const meta_cfg *cfg = &r->x->c->cfg;
    bool mine = c->instagram ? meta_in(cfg->ig, cfg->nig, c->owner)
                             : meta_in(cfg->pages, cfg->npages, c->owner);
    if (!mine) {
        r->others++;
        return 0;
    }
    r->mine++;
    if (r->x->host->call_time_left_ms(r->x->call) < DEADLINE_RESERVE_MS) {
        /* Rather given back than cut off: the retry does it all again. */
        r->x->host->call_retry_after(r->x->call, 0);
        r->x->host->call_error(r->x->call, "the event's deadline is near; retrying");
        r->st = C360_RETRY;
        return 1;
    }
    r->st = c->kind == META_LEAD ? lead_from_webhook(r->x, c) : comment(r->x, c);
    return r->st != C360_OK;
}

int32_t meta_event(c360_call *call, void *pd, void *id, const c360_event *ev)
{
    meta_ctx x = {pd, id, call, ((meta_plugin *)pd)->host, false};
    json_error_t jerr;
    json_t *root = json_loadb((const char *)ev->body, ev->body_len, 0, &jerr);
    if (root == NULL) {
        /* Verified but not JSON: retrying cannot help. */
        x.host->call_error(call, "event %s: the body is not JSON (line %d)", ev->event_id,
                           jerr.line);
        return json_error_code(&jerr) == json_error_out_of_memory ? C360_ENOMEM : C360_ERROR;
    }
    ev_run r = {&x, C360_OK, 0, 0};
    int n = meta_payload_walk(root, on_change, &r);
    json_decref(root);
    if (n < 0) {
        x.host->log(call, C360_LOG_INFO, "event %s: not a page or instagram webhook; ignored",
                    ev->event_id);
        return C360_OK;
    }
    if (r.st == C360_OK)
        x.host->log(call, C360_LOG_DEBUG, "event %s: %zu changes processed, %zu of other owners",
                    ev->event_id, r.mine, r.others);
    return r.st;
}
