/* li_records.c -- LinkedIn lead form responses turned into the normalised
 * records of docs/records.md: c360.lead.v1 ("lead") and
 * c360.lead_deletion.v1 ("lead.deleted"). Pure: API answers in, a JSON
 * object out; absent values left out; every list bounded.
 *
 * A response (GET /rest/leadFormResponses/{id}, or an element of the
 * owner finder) holds answers by questionId only:
 *   {"id","submittedAt":<ms>,"testLead":false,"versionedLeadGenFormUrn":..,
 *    "owner":{..},"associatedEntity":{"sponsoredCreative":"urn:li:sponsoredCreative:456"},
 *    "formResponse":{"answers":[{"questionId":205,"answerDetails":
 *       {"textQuestionAnswer":{"answer":"a@b.com"}}}],"consentResponses":[..]}}
 * so the form's questions (GET /rest/leadForms, content.questions[] with
 * questionId, name, predefinedField, question.localized) name them: a
 * predefinedField of the contact kind goes to "contact", every other
 * answer to "answers" under the question's name. The mapping is in
 * docs/connectors/linkedin.md. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "li.h"

#define MAX_ANSWERS 200
#define MAX_QUESTIONS 200
#define MAX_OPTIONS 100
#define MAX_CONSENTS 50

static const struct {
    const char *field, *key;
} contact_map[] = {
    {"FIRST_NAME", "first_name"},   {"LAST_NAME", "last_name"},
    {"FULL_NAME", "full_name"},     {"EMAIL", "email"},
    {"WORK_EMAIL", "email"},        {"PHONE_NUMBER", "phone"},
    {"WORK_PHONE_NUMBER", "phone"}, {"COMPANY_NAME", "company"},
    {"JOB_TITLE", "job_title"},     {"CITY", "city"},
    {"STATE", "state"},             {"COUNTRY", "country"},
    {"ZIP_CODE", "zip"},            {"POSTAL_CODE", "zip"},
    {"ADDRESS", "street"},
};

static const char *contact_key(const char *field)
{
    if (field == NULL) return NULL;
    for (size_t i = 0; i < sizeof contact_map / sizeof contact_map[0]; i++)
        if (strcmp(contact_map[i].field, field) == 0) return contact_map[i].key;
    return NULL;
}

static void set_str(json_t *obj, const char *key, const char *s)
{
    if (s != NULL && *s != '\0') json_object_set_new(obj, key, json_string(s));
}

/* A trimmed, non-empty string value of a scalar; NULL otherwise. */
static json_t *scalar(const json_t *v)
{
    char buf[64];
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        while (n > 0 && isspace((unsigned char)*s)) s++, n--;
        while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
        return n > 0 ? json_stringn(s, n) : NULL;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.0f", json_real_value(v));
        return json_string(buf);
    }
    if (json_is_boolean(v)) return json_string(json_is_true(v) ? "true" : "false");
    return NULL;
}

/* A question / option / consent id as a string ("205"), or false. */
static bool id_str(const json_t *v, char out[40])
{
    json_t *s = scalar(v);
    bool ok = s != NULL && json_string_length(s) < 40 &&
              strspn(json_string_value(s), "0123456789") == json_string_length(s);
    if (ok) snprintf(out, 40, "%s", json_string_value(s));
    json_decref(s);
    return ok;
}

/* The first text of {"localized":{"en_US":"..."}}, or a plain string. */
static const char *localized(const json_t *v)
{
    if (json_is_string(v)) return json_string_value(v);
    const json_t *loc = json_object_get(v, "localized");
    const char *k;
    const json_t *t;
    json_object_foreach((json_t *)loc, k, t) {
        if (json_is_string(t)) return json_string_value(t);
    }
    return NULL;
}

json_t *li_form_compact(const json_t *f)
{
    json_t *out = json_object();
    char id[40];
    if (id_str(json_object_get(f, "id"), id)) json_object_set_new(out, "id", json_string(id));
    set_str(out, "name", json_is_string(json_object_get(f, "name"))
                             ? li_str(f, "name") : localized(json_object_get(f, "name")));
    const json_t *content = json_object_get(f, "content");
    const json_t *qs = json_object_get(content, "questions");
    json_t *oq = json_array();
    for (size_t i = 0; i < json_array_size(qs) && i < MAX_QUESTIONS; i++) {
        const json_t *q = json_array_get(qs, i);
        char qid[40];
        if (!id_str(json_object_get(q, "questionId"), qid)) continue;
        json_t *e = json_pack("{s:s}", "id", qid);
        const char *name = li_str(q, "name");
        if (name != NULL && strlen(name) <= 200) set_str(e, "name", name);
        const char *pf = li_str(q, "predefinedField");
        if (pf != NULL && strlen(pf) <= 64) set_str(e, "field", pf);
        const char *label = localized(json_object_get(q, "question"));
        if (label == NULL) label = li_str(q, "label");
        set_str(e, "label", label);
        /* Multiple-choice options: id -> text. */
        const json_t *opts = json_object_get(
            json_object_get(json_object_get(q, "questionDetails"), "multipleChoiceQuestionDetails"),
            "options");
        if (json_array_size(opts) > 0) {
            json_t *o = json_object();
            for (size_t k = 0; k < json_array_size(opts) && k < MAX_OPTIONS; k++) {
                const json_t *op = json_array_get(opts, k);
                char oid[40];
                const char *text = localized(json_object_get(op, "text"));
                if (id_str(json_object_get(op, "id"), oid) && text != NULL)
                    json_object_set_new(o, oid, json_string(text));
            }
            json_object_set_new(e, "options", o);
        }
        json_array_append_new(oq, e);
    }
    json_object_set_new(out, "questions", oq);
    const json_t *cs = json_object_get(content, "consents");
    json_t *oc = json_object();
    for (size_t i = 0; i < json_array_size(cs) && i < MAX_CONSENTS; i++) {
        const json_t *c = json_array_get(cs, i);
        char cid[40];
        const char *text = localized(json_object_get(c, "consent"));
        if (id_str(json_object_get(c, "consentId"), cid) && text != NULL)
            json_object_set_new(oc, cid, json_string(text));
    }
    json_object_set_new(out, "consents", oc);
    return out;
}

static const json_t *question(const json_t *form, const char *qid)
{
    const json_t *qs = json_object_get(form, "questions");
    for (size_t i = 0; i < json_array_size(qs) && i < MAX_QUESTIONS; i++) {
        const json_t *q = json_array_get(qs, i);
        const char *id = li_str(q, "id");
        if (id != NULL && strcmp(id, qid) == 0) return q;
    }
    return NULL;
}

/* The answer's values, as strings; an empty array when none. */
static json_t *answer_values(const json_t *details, const json_t *q)
{
    json_t *vals = json_array();
    const json_t *text = json_object_get(json_object_get(details, "textQuestionAnswer"), "answer");
    json_t *s = scalar(text);
    if (s != NULL) {
        json_array_append_new(vals, s);
        return vals;
    }
    const json_t *opts = json_object_get(json_object_get(details, "multipleChoiceAnswer"), "options");
    const json_t *names = json_object_get(q, "options");
    for (size_t i = 0; i < json_array_size(opts) && i < MAX_OPTIONS; i++) {
        char oid[40];
        if (!id_str(json_array_get(opts, i), oid)) continue;
        const char *t = li_str(names, oid);
        json_array_append_new(vals, json_string(t != NULL ? t : oid));
    }
    return vals;
}

static void lower_key(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < cap; i++) out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static void answers(json_t *rec, const json_t *resp, const json_t *form)
{
    const json_t *fr = json_object_get(resp, "formResponse");
    const json_t *as = json_object_get(fr, "answers");
    json_t *contact = json_object(), *other = json_array(), *consents = json_array();
    for (size_t i = 0; i < json_array_size(as) && i < MAX_ANSWERS; i++) {
        const json_t *a = json_array_get(as, i);
        char qid[40], key[80];
        if (!id_str(json_object_get(a, "questionId"), qid)) continue;
        const json_t *q = question(form, qid);
        json_t *vals = answer_values(json_object_get(a, "answerDetails"), q);
        if (json_array_size(vals) == 0) {
            json_decref(vals);
            continue;
        }
        const char *field = li_str(q, "field");
        const char *ck = contact_key(field);
        if (ck != NULL && json_object_get(contact, ck) == NULL) {
            json_object_set(contact, ck, json_array_get(vals, 0));
            json_decref(vals);
            continue;
        }
        const char *name = li_str(q, "name");
        if (name != NULL)
            snprintf(key, sizeof key, "%s", name);
        else if (field != NULL)
            lower_key(field, key, sizeof key);
        else
            snprintf(key, sizeof key, "%s", qid);
        json_t *e = json_pack("{s:s}", "key", key);
        set_str(e, "label", li_str(q, "label"));
        json_object_set_new(e, "values", vals);
        json_array_append_new(other, e);
    }
    const json_t *cr = json_object_get(fr, "consentResponses");
    for (size_t i = 0; i < json_array_size(cr) && i < MAX_CONSENTS; i++) {
        const json_t *c = json_array_get(cr, i);
        char cid[40];
        const json_t *acc = json_object_get(c, "accepted");
        if (!id_str(json_object_get(c, "consentId"), cid) || !json_is_boolean(acc)) continue;
        json_t *e = json_pack("{s:s}", "key", cid);
        set_str(e, "text", li_str(json_object_get(form, "consents"), cid));
        json_object_set_new(e, "accepted", json_boolean(json_is_true(acc)));
        json_array_append_new(consents, e);
    }
    if (json_object_size(contact) > 0) json_object_set_new(rec, "contact", contact);
    else json_decref(contact);
    if (json_array_size(other) > 0) json_object_set_new(rec, "answers", other);
    else json_decref(other);
    if (json_array_size(consents) > 0) json_object_set_new(rec, "consents", consents);
    else json_decref(consents);
}

static json_t *record_base(const char *schema, const char *id, const char *type,
                           const li_rec_ctx *x, int64_t created_ms)
{
    char ts[32];
    json_t *r = json_object();
    json_object_set_new(r, "schema", json_string(schema));
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "type", json_string(type));
    json_object_set_new(r, "provider", json_string("linkedin"));
    json_object_set_new(r, "source", json_pack("{s:s,s:s}", "plugin", "linkedin", "connection",
                                               x->connection));
    json_object_set_new(r, "via", json_string(x->via));
    li_rfc3339(created_ms / 1000, ts);
    json_object_set_new(r, "created_at", json_string(ts));
    json_object_set_new(r, "created_at_ms", json_integer((json_int_t)created_ms));
    json_object_set_new(r, "received_at_ms", json_integer((json_int_t)x->received_at_ms));
    return r;
}

bool li_response_id(const json_t *resp, li_id out)
{
    const json_t *id = json_object_get(resp, "id");
    const char *s = json_string_value(id);
    out[0] = '\0';
    if (s != NULL && strncmp(s, "urn:", 4) == 0) return li_urn_id(s, "leadGenFormResponse", out);
    if (s != NULL) {
        size_t n = strlen(s);
        if (n == 0 || n > LI_ID_MAX) return false;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return false;
        memcpy(out, s, n + 1);
        return true;
    }
    char tmp[40];
    if (id_str(id, tmp) && strlen(tmp) <= LI_ID_MAX) {
        snprintf(out, LI_ID_MAX + 1, "%s", tmp);
        return true;
    }
    return false;
}

json_t *li_lead_record(const json_t *resp, const json_t *form, const li_note *hint,
                       const li_rec_ctx *x, char *id, size_t idcap, const char **why)
{
    li_id rid, fid, fver;
    if (!json_is_object(resp) || !li_response_id(resp, rid)) {
        *why = "the response has no id";
        return NULL;
    }
    const json_t *sa = json_object_get(resp, "submittedAt");
    int64_t created = json_is_integer(sa) && json_integer_value(sa) > 0
                          ? (int64_t)json_integer_value(sa) : -1;
    if (created < 0 && hint != NULL) created = hint->occurred_ms;
    if (created < 0) {
        *why = "the response has no submittedAt";
        return NULL;
    }
    snprintf(id, idcap, "linkedin:lead:%s", rid);
    json_t *rec = record_base("c360.lead.v1", id, "lead", x, created);
    answers(rec, resp, form);

    bool has_form = li_form_urn(li_str(resp, "versionedLeadGenFormUrn"), fid, fver);
    if (!has_form && hint != NULL && hint->form_id[0] != '\0') {
        memcpy(fid, hint->form_id, sizeof fid);
        memcpy(fver, hint->form_version, sizeof fver);
        has_form = true;
    }
    if (has_form) {
        json_t *f = json_pack("{s:s}", "id", fid);
        set_str(f, "name", li_str(form, "name"));
        json_object_set_new(rec, "form", f);
    }
    li_id creative;
    const json_t *ae = json_object_get(resp, "associatedEntity");
    bool has_ad = li_urn_id(li_str(ae, "sponsoredCreative"), "sponsoredCreative", creative);
    if (has_ad) json_object_set_new(rec, "ad", json_pack("{s:s}", "id", creative));
    li_id campaign;
    const json_t *meta = json_object_get(json_object_get(resp, "leadMetadata"), "sponsoredLeadMetadata");
    bool has_campaign = li_urn_id(li_str(meta, "campaign"), "sponsoredCampaign", campaign);
    if (has_campaign) json_object_set_new(rec, "campaign", json_pack("{s:s}", "id", campaign));

    json_t *pids = json_pack("{s:s}", "lead_id", rid);
    if (has_form) {
        json_object_set_new(pids, "form_id", json_string(fid));
        if (fver[0] != '\0') json_object_set_new(pids, "form_version", json_string(fver));
    }
    if (has_ad) json_object_set_new(pids, "creative_id", json_string(creative));
    if (has_campaign) json_object_set_new(pids, "campaign_id", json_string(campaign));
    li_owner o;
    if (li_owner_from_json(json_object_get(resp, "owner"), &o) || (hint != NULL && (o = hint->owner, 1)))
        json_object_set_new(pids, o.kind == LI_SPONSORED ? "sponsored_account_id" : "organization_id",
                            json_string(o.id));
    json_object_set_new(rec, "provider_ids", pids);
    return rec;
}

json_t *li_deletion_record(const li_note *n, const li_rec_ctx *x, char *id, size_t idcap)
{
    char lead[LI_ID_MAX + 32];
    snprintf(id, idcap, "linkedin:lead.deleted:%s", n->response_id);
    snprintf(lead, sizeof lead, "linkedin:lead:%s", n->response_id);
    json_t *r = record_base("c360.lead_deletion.v1", id, "lead.deleted", x,
                            n->occurred_ms >= 0 ? n->occurred_ms : x->received_at_ms);
    json_object_set_new(r, "lead_record_id", json_string(lead));
    json_t *pids = json_pack("{s:s}", "lead_id", n->response_id);
    if (n->form_id[0] != '\0') json_object_set_new(pids, "form_id", json_string(n->form_id));
    json_object_set_new(pids, n->owner.kind == LI_SPONSORED ? "sponsored_account_id" : "organization_id",
                        json_string(n->owner.id));
    json_object_set_new(r, "provider_ids", pids);
    return r;
}

uint32_t li_backoff_ms(int64_t n, int64_t now_ms, uint32_t min_ms, uint32_t jitter)
{
    if (n < 1) n = 1;
    if (jitter > 999) jitter = 999;
    if (n >= LI_PERSISTENT_429) {
        /* The daily limit: LinkedIn resets it at midnight UTC. A minute's
         * spread keeps every connection from calling at the same instant. */
        int64_t day = 86400000;
        int64_t wait = (now_ms / day + 1) * day - now_ms;
        return (uint32_t)(wait + (int64_t)jitter * 60);
    }
    uint64_t w = min_ms;
    for (int64_t i = 1; i < n && w < 900000; i++) w *= 2;
    if (w > 900000) w = 900000;
    w += w * jitter / 4000; /* up to +25 % */
    return (uint32_t)w;
}
