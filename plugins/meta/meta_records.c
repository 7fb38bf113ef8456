/* meta_records.c -- Meta objects turned into the normalised records of
 * docs/records.md (c360.lead.v1, c360.comment.v1, c360.metric.v1). Pure:
 * Graph answers and webhook values in, a JSON object out: comments and
 * metrics as Jansson trees, leads (every lead goes through here) written
 * straight as text (meta_jw.c) -- the same bytes json_dumps(JSON_COMPACT)
 * printed of the tree they were built as before, which
 * tests/test_meta_record.c keeps as its oracle. A lead is read through
 * meta_lead_src.c's accessors: from its tree, or from the bytes of a lead
 * read ahead (no tree at all; the same record). Absent values
 * are left out, never null or "". Every list is bounded, so a hostile or
 * broken answer cannot make a record without limit (the host refuses
 * records over 1 MiB anyway). docs/connectors/meta.md lists the mapping. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "meta.h"

#define MAX_FIELDS 500
#define MAX_VALUES 100
#define MAX_QUESTIONS 500

/* Standard lead form field names -> contact keys (records.md). */
static const struct {
    const char *field, *key;
} contact_map[] = {
    {"email", "email"},          {"phone_number", "phone"},
    {"full_name", "full_name"},  {"first_name", "first_name"},
    {"last_name", "last_name"},  {"company_name", "company"},
    {"job_title", "job_title"},  {"city", "city"},
    {"state", "state"},          {"country", "country"},
    {"zip_code", "zip"},         {"post_code", "zip"},
    {"street_address", "street"},
};

static const char *contact_key(const char *field)
{
    for (size_t i = 0; i < sizeof contact_map / sizeof contact_map[0]; i++)
        if (strcmp(contact_map[i].field, field) == 0) return contact_map[i].key;
    return NULL;
}

/* A JSON scalar as text: a string trimmed (with `trim`), a number or a
 * boolean printed into buf; NULL for anything else or an empty result.
 * *n gets its length (a string may hold NULs). */
static const char *scalar_text(meta_lead *L, meta_lv v, bool trim, char buf[64], size_t *n)
{
    const char *s = meta_lead_str(L, v, n);
    if (s != NULL) {
        size_t k = *n;
        if (trim) {
            while (k > 0 && isspace((unsigned char)*s)) s++, k--;
            while (k > 0 && isspace((unsigned char)s[k - 1])) k--;
        }
        *n = k;
        return k > 0 ? s : NULL;
    }
    int t = meta_lead_type(v);
    if (t == JSON_TRUE || t == JSON_FALSE)
        snprintf(buf, 64, "%s", t == JSON_TRUE ? "true" : "false");
    else if (!meta_lead_num_text(L, v, buf))
        return NULL;
    *n = strlen(buf);
    return buf;
}

/* The same as a JSON string (NULL when it is none). */
static json_t *scalar_string(const json_t *v, bool trim)
{
    if (v == NULL) return NULL;
    meta_lead L;
    meta_lead_of_tree(&L, v);
    char buf[64];
    size_t n;
    const char *s = scalar_text(&L, meta_lead_root(&L), trim, buf, &n);
    return s != NULL ? json_stringn(s, n) : NULL;
}

/* obj[key] = a non-empty string, when s is one. */
static void set_str(json_t *obj, const char *key, const char *s)
{
    if (s != NULL && *s != '\0') json_object_set_new(obj, key, json_string(s));
}

/* obj[key] = the id found in src[srckey] (string or number), converted. */
static bool set_id(json_t *obj, const char *key, const json_t *src,
                   const char *srckey, bool compound, meta_id out)
{
    meta_id tmp;
    char *o = out != NULL ? out : tmp;
    if (!meta_id_from_json(json_object_get(src, srckey), compound, o)) return false;
    json_object_set_new(obj, key, json_string(o));
    return true;
}

/* {"id", "name"} when the id is known. */
static void set_ref(json_t *rec, const char *key, const char *id, const char *name)
{
    if (id == NULL || *id == '\0') return;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    set_str(o, "name", name);
    json_object_set_new(rec, key, o);
}

/* The fields every record has (records.md "Rules for every record"). */
static json_t *record_base(const char *schema, const char *id, const char *type,
                           const char *provider, const meta_rec_ctx *x,
                           int64_t created_s)
{
    char ts[32];
    /* Times come bounded (meta_time_from_json); clamped again so that
     * created_at_ms cannot overflow whatever the caller passed. */
    if (created_s < 0) created_s = 0;
    if (created_s > META_TIME_MAX) created_s = META_TIME_MAX;
    json_t *r = json_object();
    json_object_set_new(r, "schema", json_string(schema));
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "type", json_string(type));
    json_object_set_new(r, "provider", json_string(provider));
    json_t *src = json_object();
    json_object_set_new(src, "plugin", json_string("meta"));
    json_object_set_new(src, "connection", json_string(x->connection));
    json_object_set_new(r, "source", src);
    json_object_set_new(r, "via", json_string(x->via));
    meta_rfc3339(created_s, ts);
    json_object_set_new(r, "created_at", json_string(ts));
    json_object_set_new(r, "created_at_ms", json_integer((json_int_t)created_s * 1000));
    json_object_set_new(r, "received_at_ms", json_integer((json_int_t)x->received_at_ms));
    return r;
}

void meta_hint_of_tree(meta_hint *h, const json_t *value)
{
    static const char *const keys[META_HINT_IDS] = {"form_id", "ad_id", "adset_id",
                                                    "campaign_id"};
    memset(h, 0, sizeof *h); /* an id not there is read as "" by no one, but defined */
    for (int i = 0; i < META_HINT_IDS; i++)
        h->has[i] = meta_id_from_json(json_object_get(value, keys[i]), false, h->id[i]);
    h->created_time = meta_time_from_json(json_object_get(value, "created_time"));
}

/* The id of the lead's member key, or the hint's (hint->id[which]) when
 * it lacks one. */
static bool id_of(meta_lead *L, const meta_hint *hint, int which, const char *key,
                  meta_id out)
{
    if (meta_lead_id(L, meta_lead_get(L, meta_lead_root(L), key), false, out)) return true;
    if (hint == NULL || which < 0 || !hint->has[which]) return false;
    memcpy(out, hint->id[which], sizeof(meta_id));
    return true;
}

/* The lead's member key as meta_str reads it: a string, else NULL. */
static const char *lead_str(meta_lead *L, meta_lv obj, const char *key)
{
    size_t n;
    return meta_lead_str(L, meta_lead_get(L, obj, key), &n);
}

static const char *question_label(const json_t *form, const char *key)
{
    const json_t *qs = json_object_get(form, "questions");
    for (size_t i = 0; i < json_array_size(qs) && i < MAX_QUESTIONS; i++) {
        const json_t *q = json_array_get(qs, i);
        const char *k = meta_str(q, "key");
        if (k != NULL && strcmp(k, key) == 0) return meta_str(q, "label");
    }
    return NULL;
}

static const char *checkbox_text(const json_t *form, const char *key)
{
    const json_t *cb = json_object_get(form, "checkboxes");
    for (size_t i = 0; i < json_array_size(cb) && i < MAX_QUESTIONS; i++) {
        const json_t *c = json_array_get(cb, i);
        const char *k = meta_str(c, "key");
        if (k != NULL && strcmp(k, key) == 0) return meta_str(c, "text");
    }
    return NULL;
}

static bool checked(meta_lead *L, meta_lv v)
{
    int t = meta_lead_type(v);
    if (t == JSON_TRUE || t == JSON_FALSE) return t == JSON_TRUE;
    char num[64];
    if (t == JSON_INTEGER) return meta_lead_num_text(L, v, num) && strcmp(num, "0") != 0;
    size_t n;
    const char *s = meta_lead_str(L, v, &n);
    return s != NULL && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0);
}

/* A contact key's value: the first answer of the first field of that name
 * that has one (records.md), kept until the record's "contact" is written,
 * in the order the keys were first found. */
typedef struct contact_val {
    const char *key;
    const char *s;             /* into the lead's string, or num */
    size_t n;
    char num[64];
} contact_val;
#define CONTACT_KEYS (sizeof contact_map / sizeof contact_map[0])

/* The lead's "contact", "answers" and "consents". Answers and consents are
 * written as the fields come; contact values are gathered first, since the
 * contact object comes before the answers. A bytes lead's strings are
 * decoded into its arena: a contact value's stays there until written,
 * the rest is given back field by field. */
static void lead_fields(meta_jw *w, meta_lead *L, const json_t *form)
{
    contact_val cv[CONTACT_KEYS];
    size_t ncv = 0;
    meta_lv fd = meta_lead_get(L, meta_lead_root(L), "field_data"), f, v = {NULL, NULL, NULL};
    meta_lv_it it = meta_lead_iter(fd);
    for (size_t i = 0; i < MAX_FIELDS && meta_lead_next(L, &it, &f); i++) {
        size_t mark = meta_lead_mark(L);
        const char *name = lead_str(L, f, "name");
        const char *ck = name != NULL && *name != '\0' && strlen(name) <= 200
                             ? contact_key(name) : NULL;
        size_t k = 0;
        while (ck != NULL && k < ncv && strcmp(cv[k].key, ck) != 0) k++;
        if (ck == NULL || k < ncv) { /* not a contact, or taken by an earlier field */
            meta_lead_release(L, mark);
            continue;
        }
        /* Its first value that makes a string (json_stringn takes valid
         * UTF-8 only). */
        meta_lv vals = meta_lead_get(L, f, "values");
        bool arr = meta_lead_type(vals) == JSON_ARRAY;
        meta_lv_it vi = meta_lead_iter(vals);
        contact_val *c = &cv[ncv];
        bool found = false;
        for (size_t j = 0; j < MAX_VALUES && (arr ? meta_lead_next(L, &vi, &v) : j == 0); j++) {
            c->s = scalar_text(L, arr ? v : vals, true, c->num, &c->n);
            if (c->s != NULL && meta_jw_utf8_ok(c->s, c->n)) {
                c->key = ck;
                ncv++;
                found = true;
                break;
            }
        }
        if (!found) meta_lead_release(L, mark); /* else its value stays */
    }
    meta_jw_key(w, "contact");
    meta_jw_obj(w);
    for (size_t k = 0; k < ncv; k++) {
        meta_jw_key(w, cv[k].key);
        meta_jw_str(w, cv[k].s, cv[k].n); /* checked above */
    }
    meta_jw_obj_end(w);

    meta_jw_key(w, "answers");
    meta_jw_arr(w);
    it = meta_lead_iter(fd);
    for (size_t i = 0; i < MAX_FIELDS && meta_lead_next(L, &it, &f); i++) {
        size_t mark = meta_lead_mark(L);
        const char *name = lead_str(L, f, "name");
        if (name == NULL || *name == '\0' || strlen(name) > 200 || contact_key(name) != NULL) {
            meta_lead_release(L, mark);
            continue;
        }
        meta_jw_obj(w);
        meta_jw_kstr(w, "key", name);
        const char *label = question_label(form, name);
        if (label != NULL && *label != '\0') meta_jw_kstr(w, "label", label);
        meta_jw_key(w, "values");
        meta_jw_arr(w);
        meta_lv vals = meta_lead_get(L, f, "values");
        bool arr = meta_lead_type(vals) == JSON_ARRAY;
        meta_lv_it vi = meta_lead_iter(vals);
        for (size_t k = 0; k < MAX_VALUES && (arr ? meta_lead_next(L, &vi, &v) : k == 0); k++) {
            char num[64];
            size_t n, vmark = meta_lead_mark(L);
            const char *s = scalar_text(L, arr ? v : vals, true, num, &n);
            if (s != NULL) meta_jw_str(w, s, n);
            meta_lead_release(L, vmark);
        }
        meta_jw_arr_end(w);
        meta_jw_obj_end(w);
        meta_lead_release(L, mark);
    }
    meta_jw_arr_end(w);

    meta_jw_key(w, "consents");
    meta_jw_arr(w);
    it = meta_lead_iter(meta_lead_get(L, meta_lead_root(L), "custom_disclaimer_responses"));
    for (size_t i = 0; i < MAX_FIELDS && meta_lead_next(L, &it, &f); i++) {
        size_t mark = meta_lead_mark(L);
        const char *key = lead_str(L, f, "checkbox_key");
        if (key != NULL && *key != '\0' && strlen(key) <= 200) {
            meta_jw_obj(w);
            meta_jw_kstr(w, "key", key);
            const char *text = checkbox_text(form, key);
            if (text != NULL && *text != '\0') meta_jw_kstr(w, "text", text);
            meta_jw_key(w, "accepted");
            meta_jw_bool(w, checked(L, meta_lead_get(L, f, "is_checked")));
            meta_jw_obj_end(w);
        }
        meta_lead_release(L, mark);
    }
    meta_jw_arr_end(w);
}

/* "key": {"id", "name"} when the id is known (set_ref's rule). */
static void lead_ref(meta_jw *w, const char *key, const char *id, const char *name)
{
    if (id == NULL || *id == '\0') return;
    meta_jw_key(w, key);
    meta_jw_obj(w);
    meta_jw_kstr(w, "id", id);
    if (name != NULL && *name != '\0') meta_jw_kstr(w, "name", name);
    meta_jw_obj_end(w);
}

/* meta_lead_record's writing, from either kind of lead (on bytes, only
 * right when L is not unsure afterwards). */
static bool lead_record(meta_lead *L, const json_t *form, const meta_hint *hint,
                        const meta_rec_ctx *x, meta_jw *w, char *id, size_t idcap,
                        const char **why)
{
    meta_id lead_id, form_id, ad_id, adset_id, campaign_id;
    meta_lv lead = meta_lead_root(L);
    if (meta_lead_type(lead) != JSON_OBJECT || !id_of(L, NULL, -1, "id", lead_id)) {
        *why = "the lead has no id";
        return false;
    }
    int64_t created = meta_lead_time(L, meta_lead_get(L, lead, "created_time"));
    if (created < 0 && hint != NULL) created = hint->created_time;
    if (created < 0) {
        *why = "the lead has no creation time";
        return false;
    }
    snprintf(id, idcap, "meta:lead:%s", lead_id);
    const char *platform = lead_str(L, lead, "platform");
    bool ig = platform != NULL && strcmp(platform, "ig") == 0;

    /* record_base's fields, in its order. */
    char ts[32];
    if (created > META_TIME_MAX) created = META_TIME_MAX;
    meta_jw_obj(w);
    meta_jw_kstr(w, "schema", "c360.lead.v1");
    meta_jw_kstr(w, "id", id);
    meta_jw_kstr(w, "type", "lead");
    meta_jw_kstr(w, "provider", ig ? "instagram" : "facebook");
    meta_jw_key(w, "source");
    meta_jw_obj(w);
    meta_jw_kstr(w, "plugin", "meta");
    meta_jw_kstr(w, "connection", x->connection);
    meta_jw_obj_end(w);
    meta_jw_kstr(w, "via", x->via);
    meta_rfc3339(created, ts);
    meta_jw_kstr(w, "created_at", ts);
    meta_jw_key(w, "created_at_ms");
    meta_jw_int(w, created * 1000);
    meta_jw_key(w, "received_at_ms");
    meta_jw_int(w, x->received_at_ms);

    lead_fields(w, L, form);

    bool has_form = id_of(L, hint, META_HINT_FORM, "form_id", form_id);
    bool has_ad = id_of(L, hint, META_HINT_AD, "ad_id", ad_id);
    bool has_adset = id_of(L, hint, META_HINT_ADSET, "adset_id", adset_id);
    bool has_campaign = id_of(L, hint, META_HINT_CAMPAIGN, "campaign_id", campaign_id);
    lead_ref(w, "form", has_form ? form_id : NULL, meta_str(form, "name"));
    lead_ref(w, "ad", has_ad ? ad_id : NULL, lead_str(L, lead, "ad_name"));
    lead_ref(w, "ad_set", has_adset ? adset_id : NULL, lead_str(L, lead, "adset_name"));
    lead_ref(w, "campaign", has_campaign ? campaign_id : NULL, lead_str(L, lead, "campaign_name"));
    lead_ref(w, "page", x->page_id, NULL);

    meta_jw_key(w, "provider_ids");
    meta_jw_obj(w);
    meta_jw_kstr(w, "lead_id", lead_id);
    if (has_form) meta_jw_kstr(w, "form_id", form_id);
    if (has_ad) meta_jw_kstr(w, "ad_id", ad_id);
    if (has_adset) meta_jw_kstr(w, "adset_id", adset_id);
    if (has_campaign) meta_jw_kstr(w, "campaign_id", campaign_id);
    if (x->page_id != NULL && *x->page_id != '\0') meta_jw_kstr(w, "page_id", x->page_id);
    meta_jw_obj_end(w);
    meta_jw_obj_end(w);
    return true;
}

bool meta_lead_record_of(meta_lead *L, const json_t *form, const json_t *hint,
                         const meta_rec_ctx *x, meta_jw *w, char *id, size_t idcap,
                         const char **why)
{
    meta_hint h;
    if (hint != NULL) meta_hint_of_tree(&h, hint);
    return meta_lead_record_h(L, form, hint != NULL ? &h : NULL, x, w, id, idcap, why);
}

bool meta_lead_record_h(meta_lead *L, const json_t *form, const meta_hint *hint,
                        const meta_rec_ctx *x, meta_jw *w, char *id, size_t idcap,
                        const char **why)
{
    size_t len = w->len;
    bool comma = w->comma;
    L->used = 0;
    bool made = lead_record(L, form, hint, x, w, id, idcap, why);
    if (!L->unsure) return made;
    /* What was written is dropped, and the lead read from Jansson's tree
     * of the same bytes. */
    w->len = len;
    w->comma = comma;
    if (!meta_lead_fallback(L)) {
        *why = "out of memory";
        w->failed = true;
        return false;
    }
    return lead_record(L, form, hint, x, w, id, idcap, why);
}

bool meta_lead_record(const json_t *lead, const json_t *form, const json_t *hint,
                      const meta_rec_ctx *x, meta_jw *w, char *id, size_t idcap,
                      const char **why)
{
    if (!json_is_object(lead)) {
        *why = "the lead has no id";
        return false;
    }
    meta_lead L;
    meta_lead_of_tree(&L, lead);
    meta_hint h;
    if (hint != NULL) meta_hint_of_tree(&h, hint);
    return lead_record(&L, form, hint != NULL ? &h : NULL, x, w, id, idcap, why);
}

json_t *meta_form_compact(const json_t *f)
{
    json_t *out = json_object();
    meta_id fid;
    if (meta_id_from_json(json_object_get(f, "id"), false, fid))
        json_object_set_new(out, "id", json_string(fid));
    set_str(out, "name", meta_str(f, "name"));
    json_t *qs = json_array();
    const json_t *q = json_object_get(f, "questions");
    for (size_t i = 0; i < json_array_size(q) && i < MAX_QUESTIONS; i++) {
        const json_t *e = json_array_get(q, i);
        const char *k = meta_str(e, "key"), *l = meta_str(e, "label");
        if (k == NULL || l == NULL) continue;
        json_array_append_new(qs, json_pack("{s:s,s:s}", "key", k, "label", l));
    }
    json_object_set_new(out, "questions", qs);
    json_t *cbs = json_array();
    const json_t *cb = json_object_get(
        json_object_get(json_object_get(f, "legal_content"), "custom_disclaimer"),
        "checkboxes");
    for (size_t i = 0; i < json_array_size(cb) && i < MAX_QUESTIONS; i++) {
        const json_t *e = json_array_get(cb, i);
        const char *k = meta_str(e, "key"), *t = meta_str(e, "text");
        if (k == NULL) continue;
        json_t *o = json_pack("{s:s}", "key", k);
        set_str(o, "text", t);
        json_array_append_new(cbs, o);
    }
    json_object_set_new(out, "checkboxes", cbs);
    return out;
}

/* {"id", "name"} of a comment's author, when Graph named one. */
static void set_author(json_t *r, const json_t *from, const char *name)
{
    json_t *a = json_object();
    if (json_is_object(from)) set_id(a, "id", from, "id", false, NULL);
    if (name == NULL && json_is_object(from)) name = meta_str(from, "name");
    set_str(a, "name", name);
    if (json_object_size(a) > 0)
        json_object_set_new(r, "author", a);
    else
        json_decref(a);
}

json_t *meta_comment_record(const meta_change *c, const json_t *got,
                            const meta_rec_ctx *x, char *id, size_t idcap,
                            const char **why)
{
    const json_t *v = c->value;
    meta_id cid, gid, tmp;
    if (got != NULL && !json_is_object(got)) got = NULL;
    if (!meta_id_from_json(json_object_get(v, c->kind == META_COMMENT ? "comment_id" : "id"),
                           true, cid)) {
        *why = "the comment has no id";
        return NULL;
    }
    /* What Graph answered must be the comment the webhook named. */
    if (got != NULL &&
        (!meta_id_from_json(json_object_get(got, "id"), true, gid) || strcmp(gid, cid) != 0)) {
        *why = "the Graph API answered another comment";
        return NULL;
    }
    int64_t now_s = x->received_at_ms / 1000;
    if (c->kind == META_COMMENT) {
        const char *verb = meta_str(v, "verb");
        int64_t t = meta_time_from_json(json_object_get(v, "created_time"));
        if (t < 0) t = c->entry_time;
        if (verb == NULL || t < 0) {
            *why = "the comment change has no verb or time";
            return NULL;
        }
        bool removed = strcmp(verb, "remove") == 0;
        if (got == NULL && !removed) {
            *why = "the comment could not be read from the Graph API";
            return NULL;
        }
        int64_t created = got != NULL ? meta_time_from_json(json_object_get(got, "created_time")) : -1;
        snprintf(id, idcap, "meta:comment:%s:%s:%lld", cid, verb, (long long)t);
        json_t *r = record_base("c360.comment.v1", id, "comment", "facebook", x,
                                created >= 0 ? created : t);
        json_object_set_new(r, "verb", json_string(verb));
        if (got != NULL) {
            if (!removed) set_str(r, "message", meta_str(got, "message"));
            set_author(r, json_object_get(got, "from"), NULL);
        }
        json_t *pids = json_object();
        json_object_set_new(pids, "comment_id", json_string(cid));
        meta_id post;
        /* Ids only from the change: the post is named there, not in Graph's
         * comment. */
        bool has_post = set_id(r, "post_id", v, "post_id", true, post);
        if (has_post) json_object_set_new(pids, "post_id", json_string(post));
        bool has_parent = got != NULL &&
                          set_id(r, "parent_id", json_object_get(got, "parent"), "id", true, tmp);
        if (!has_parent && got == NULL)
            has_parent = set_id(r, "parent_id", v, "parent_id", true, tmp);
        if (!has_parent && has_post) json_object_set_new(r, "parent_id", json_string(post));
        set_ref(r, "page", c->owner, NULL);
        json_object_set_new(pids, "page_id", json_string(c->owner));
        json_object_set_new(r, "provider_ids", pids);
        return r;
    }
    /* Instagram: only ever "add". */
    if (got == NULL) {
        *why = "the Instagram comment could not be read from the Graph API";
        return NULL;
    }
    int64_t t = meta_time_from_json(json_object_get(got, "timestamp"));
    if (t < 0) t = c->entry_time;
    if (t < 0) t = now_s;
    snprintf(id, idcap, "meta:comment:%s:add", cid);
    json_t *r = record_base("c360.comment.v1", id, "comment", "instagram", x, t);
    json_object_set_new(r, "verb", json_string("add"));
    set_str(r, "message", meta_str(got, "text"));
    const json_t *from = json_object_get(got, "from");
    const char *uname = meta_str(got, "username");
    if (uname == NULL && json_is_object(from)) uname = meta_str(from, "username");
    set_author(r, from, uname);
    json_t *pids = json_object();
    json_object_set_new(pids, "comment_id", json_string(cid));
    const json_t *media = json_object_get(got, "media");
    meta_id mid;
    if (json_is_object(media) && meta_id_from_json(json_object_get(media, "id"), false, mid)) {
        json_t *m = json_object();
        json_object_set_new(m, "id", json_string(mid));
        set_str(m, "product_type", meta_str(media, "media_product_type"));
        json_object_set_new(r, "media", m);
        json_object_set_new(pids, "media_id", json_string(mid));
    }
    set_id(r, "parent_id", got, "parent_id", true, NULL);
    json_object_set_new(pids, "ig_user_id", json_string(c->owner));
    json_object_set_new(r, "provider_ids", pids);
    return r;
}

static const char *const metric_fields[] = {"impressions", "clicks", "spend",
                                            "reach", "cpc", "ctr"};

json_t *meta_metric_record(const json_t *row, const char *account,
                           const meta_rec_ctx *x, char *id, size_t idcap,
                           const char **why)
{
    meta_id campaign;
    const char *date = meta_str(row, "date_start");
    int64_t day = meta_date_parse(date);
    if (!json_is_object(row) || day < 0 ||
        !meta_id_from_json(json_object_get(row, "campaign_id"), false, campaign)) {
        *why = "an insights row without campaign_id or date_start";
        return NULL;
    }
    snprintf(id, idcap, "meta:metric:ads_insights:act_%s:%s:%s", account, campaign, date);
    json_t *r = record_base("c360.metric.v1", id, "metric", "facebook", x, day);
    json_object_set_new(r, "name", json_string("ads_insights"));
    json_object_set_new(r, "level", json_string("campaign"));
    json_object_set_new(r, "date", json_string(date));
    json_t *dims = json_object();
    json_object_set_new(dims, "account_id", json_string(account));
    json_object_set_new(dims, "campaign_id", json_string(campaign));
    set_str(dims, "campaign_name", meta_str(row, "campaign_name"));
    json_object_set_new(r, "dimensions", dims);
    json_t *vals = json_object();
    for (size_t i = 0; i < sizeof metric_fields / sizeof metric_fields[0]; i++) {
        /* Meta sends decimal strings; kept as they are (records.md). */
        json_t *s = scalar_string(json_object_get(row, metric_fields[i]), false);
        if (s != NULL) json_object_set_new(vals, metric_fields[i], s);
    }
    json_object_set_new(r, "values", vals);
    json_object_set_new(r, "provider_ids",
                        json_pack("{s:s,s:s}", "account_id", account, "campaign_id", campaign));
    return r;
}
