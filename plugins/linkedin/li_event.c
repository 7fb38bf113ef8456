/* li_event.c -- one stored lead notification of a connection. CREATED: the
 * form response is read (GET /rest/leadFormResponses/{id}), its answers
 * named by the form's questions (GET /rest/leadForms?q=owner, cached a
 * day in state "form:<id>"), and emitted as a lead. DELETED: a
 * lead.deleted record, no API call. Both only for an owner proven with this
 * connection's token (li_proof.c); a fetched response must be that
 * owner's. Records have stable ids, so a retried
 * event emits the same records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "li.h"

#define FORM_TTL_MS (24u * 3600u * 1000u)
#define FORM_LIST_PAGES 5

bool li_owner_query(const li_owner *o, char *out, size_t cap)
{
    char urn[96];
    li_owner_urn(o, urn, sizeof urn);
    int n = snprintf(out, cap, "(%s:", li_owner_field(o->kind));
    if (n <= 0 || (size_t)n >= cap || !li_urlenc_cat(out, cap, urn)) return false;
    if (strlen(out) + 2 > cap) return false;
    strcat(out, ")");
    return true;
}

/* The compact form for form_id, from the cache or the owner's form list.
 * *form stays NULL when it cannot be found (a lead without labels). */
static int32_t form_get(li_ctx *x, const li_owner *o, const char *form_id, json_t **form)
{
    const c360_host_api *h = x->host;
    char key[96];
    uint8_t *v = NULL;
    size_t len = 0;
    *form = NULL;
    li_key(key, sizeof key, "form:", form_id);
    if (h->state_get(x->call, key, &v, &len, NULL) == C360_OK) {
        *form = json_loadb((const char *)v, len, 0, NULL);
        h->free(v);
        if (json_is_object(*form)) return C360_OK;
        json_decref(*form);
        *form = NULL;
    }
    char owner[200], query[400];
    if (!li_owner_query(o, owner, sizeof owner)) return C360_OK;
    for (int pg = 0; pg < FORM_LIST_PAGES && *form == NULL; pg++) {
        snprintf(query, sizeof query, "q=owner&owner=%s&count=100&start=%d", owner, pg * 100);
        json_t *out = NULL;
        li_req r = {.path = "leadForms", .query = query};
        int32_t st = li_api(x, &r, &out, NULL, 0);
        if (st == C360_RETRY || st == C360_EAUTH || st == C360_ENOMEM) return st;
        if (st != C360_OK) {
            h->log(x->call, C360_LOG_WARN, "forms of %s unreadable: leads without labels",
                   o->id);
            return C360_OK;
        }
        const json_t *els = json_object_get(out, "elements");
        for (size_t i = 0; i < json_array_size(els); i++) {
            json_t *c = li_form_compact(json_array_get(els, i));
            const char *id = li_str(c, "id");
            if (id != NULL) {
                char k[96];
                char *s = json_dumps(c, JSON_COMPACT);
                li_key(k, sizeof k, "form:", id);
                if (s != NULL) h->state_set(x->call, k, s, strlen(s), FORM_TTL_MS, NULL);
                free(s);
                if (strcmp(id, form_id) == 0 && *form == NULL) {
                    *form = c;
                    continue;
                }
            }
            json_decref(c);
        }
        const json_t *paging = json_object_get(out, "paging");
        json_int_t total = json_integer_value(json_object_get(paging, "total"));
        size_t got = json_array_size(els);
        json_decref(out);
        if (got == 0 || (pg + 1) * 100 >= total) break;
    }
    return C360_OK;
}

int32_t li_lead_emit(li_ctx *x, const json_t *resp, const li_owner *owner, const li_note *hint,
                     const char *via)
{
    const c360_host_api *h = x->host;
    li_id fid, fver;
    json_t *form = NULL;
    bool has_form = li_form_urn(li_str(resp, "versionedLeadGenFormUrn"), fid, fver);
    if (!has_form && hint != NULL && hint->form_id[0] != '\0') {
        memcpy(fid, hint->form_id, sizeof fid);
        has_form = true;
    }
    if (has_form) {
        int32_t st = form_get(x, owner, fid, &form);
        if (st != C360_OK) return st;
    }
    li_rec_ctx rc = {h->instance_connection(x->c->inst), via, h->now_ms()};
    char id[128];
    const char *why = NULL;
    json_t *rec = li_lead_record(resp, form, hint, &rc, id, sizeof id, &why);
    json_decref(form);
    if (rec == NULL) {
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
    char key[96];
    li_key(key, sizeof key, "lead:", id + sizeof "linkedin:lead:" - 1);
    h->state_set(x->call, key, via[0] == 'w' ? "w" : "p", 1, LI_SEEN_TTL_MS, NULL);
    return C360_OK;
}

static int32_t created(li_ctx *x, const li_note *n)
{
    char path[128];
    snprintf(path, sizeof path, "leadFormResponses/%s", n->response_id);
    json_t *resp = NULL;
    li_req r = {.path = path};
    int32_t st = li_api(x, &r, &resp, NULL, 0);
    if (st == C360_ENOTFOUND) {
        /* Deleted meanwhile, or past LinkedIn's 365 days: nothing to emit. */
        x->host->log(x->call, C360_LOG_WARN, "lead form response %s not found; skipped",
                     n->response_id);
        return C360_OK;
    }
    if (st != C360_OK) return st;
    /* The response must be the notification's owner's: a response id of
     * another owner (which this token happens to read) is not emitted. */
    li_owner ro;
    if (!li_owner_from_json(json_object_get(resp, "owner"), &ro) || ro.kind != n->owner.kind ||
        strcmp(ro.id, n->owner.id) != 0) {
        x->host->log(x->call, C360_LOG_WARN,
                     "lead form response %s does not belong to owner %s; skipped", n->response_id,
                     n->owner.id);
        json_decref(resp);
        return C360_OK;
    }
    st = li_lead_emit(x, resp, &n->owner, n, "webhook");
    json_decref(resp);
    return st;
}

static int32_t deleted(li_ctx *x, const li_note *n)
{
    const c360_host_api *h = x->host;
    li_rec_ctx rc = {h->instance_connection(x->c->inst), "webhook", h->now_ms()};
    char id[128];
    json_t *rec = li_deletion_record(n, &rc, id, sizeof id);
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (s == NULL) return C360_ENOMEM;
    int32_t st = h->record_emit(x->call, "lead.deleted", id, s, strlen(s));
    free(s);
    return st == C360_ETOOBIG || st == C360_EINVAL ? C360_OK : st;
}

int32_t li_event(c360_call *call, void *pd, void *id, const c360_event *ev)
{
    li_ctx x = {pd, id, call, ((li_plugin *)pd)->host};
    const c360_host_api *h = x.host;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)ev->body, ev->body_len, 0, &jerr);
    if (root == NULL) {
        h->call_error(call, "event %s: the body is not JSON (line %d)", ev->event_id, jerr.line);
        return json_error_code(&jerr) == json_error_out_of_memory ? C360_ENOMEM : C360_ERROR;
    }
    li_note n;
    const char *why = NULL;
    bool ok = li_note_parse(root, &n, &why);
    json_decref(root);
    if (!ok) {
        h->log(call, C360_LOG_INFO, "event %s ignored: %s", ev->event_id, why);
        return C360_OK;
    }
    if (!li_owns(&x.c->cfg, n.owner.kind, n.owner.id)) {
        h->log(call, C360_LOG_INFO, "event %s: owner %s is not this connection's; ignored",
               ev->event_id, n.owner.id);
        return C360_OK;
    }
    if (!li_owner_proven(&x, &n.owner)) {
        h->log(call, C360_LOG_WARN,
               "event %s: LinkedIn owner %s: access not proven for this connection; ignored",
               ev->event_id, n.owner.id);
        return C360_OK;
    }
    return n.action == LI_CREATED ? created(&x, &n) : deleted(&x, &n);
}
