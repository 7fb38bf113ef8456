/* test_meta_record.c -- the lead record as meta_lead_record writes it
 * (meta_jw.c, straight into a buffer) against what it replaces: the
 * Jansson tree the plugin built before, printed by json_dumps(tree,
 * JSON_COMPACT). The bytes must be the same for every lead: the writer's
 * own rules first (escapes, UTF-8, integers, commas, growth), a table of
 * leads, then a differential run over generated and mutated leads, forms
 * and contexts with a fixed seed. Then leads read ahead and kept as bytes
 * (meta_lead_src.c): each body's record written from its bytes must be
 * the record of json_loadb's tree of them, byte for byte (or the same
 * reason to skip it), and meta_batch_op_end_bytes must keep exactly what
 * meta_batch_op_end keeps: a table of bodies, then generated bodies
 * (compact, indented, \u escapes, \/, duplicate keys) and mutated ones.
 *
 *   test_meta_record            the checks (argument: generated leads)
 *   test_meta_record bench N    N records of the lead bench's lead shape
 *                               (bench/lead_graph.c), written, then as
 *                               tree + json_dumps (for callgrind)
 *   test_meta_record tree N     N x 50 leads of that shape from their
 *   test_meta_record bytes N    decoded batch body to the record text:
 *                               through a tree (json_loadb), or kept as
 *                               bytes (for callgrind) */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "meta.h"
#include "meta_test_util.h"

/* ---- the oracle: the tree builder meta_records.c had ------------------ */
/* Kept verbatim (names prefixed ref_): the record the writer must print. */

#define MAX_FIELDS 500
#define MAX_VALUES 100
#define MAX_QUESTIONS 500

/* Standard lead form field names -> contact keys (records.md). */
static const struct {
    const char *field, *key;
} ref_contact_map[] = {
    {"email", "email"},          {"phone_number", "phone"},
    {"full_name", "full_name"},  {"first_name", "first_name"},
    {"last_name", "last_name"},  {"company_name", "company"},
    {"job_title", "job_title"},  {"city", "city"},
    {"state", "state"},          {"country", "country"},
    {"zip_code", "zip"},         {"post_code", "zip"},
    {"street_address", "street"},
};

static const char *ref_contact_key(const char *field)
{
    for (size_t i = 0; i < sizeof ref_contact_map / sizeof ref_contact_map[0]; i++)
        if (strcmp(ref_contact_map[i].field, field) == 0) return ref_contact_map[i].key;
    return NULL;
}

/* A JSON scalar as a trimmed string value; NULL for anything else or an
 * empty result. */
static json_t *ref_scalar_string(const json_t *v, bool trim)
{
    char buf[64];
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (trim) {
            while (n > 0 && isspace((unsigned char)*s)) s++, n--;
            while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
        }
        return n > 0 ? json_stringn(s, n) : NULL;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        return json_string(buf);
    }
    if (json_is_boolean(v)) return json_string(json_is_true(v) ? "true" : "false");
    return NULL;
}

/* obj[key] = a non-empty string, when s is one. */
static void ref_set_str(json_t *obj, const char *key, const char *s)
{
    if (s != NULL && *s != '\0') json_object_set_new(obj, key, json_string(s));
}

/* {"id", "name"} when the id is known. */
static void ref_set_ref(json_t *rec, const char *key, const char *id, const char *name)
{
    if (id == NULL || *id == '\0') return;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    ref_set_str(o, "name", name);
    json_object_set_new(rec, key, o);
}

/* The fields every record has (records.md "Rules for every record"). */
static json_t *ref_record_base(const char *schema, const char *id, const char *type,
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

/* The id of src[key], or of hint[key] when src lacks it. */
static bool ref_id_of(const json_t *src, const json_t *hint, const char *key, meta_id out)
{
    return meta_id_from_json(json_object_get(src, key), false, out) ||
           (hint != NULL && meta_id_from_json(json_object_get(hint, key), false, out));
}

static const char *ref_question_label(const json_t *form, const char *key)
{
    const json_t *qs = json_object_get(form, "questions");
    for (size_t i = 0; i < json_array_size(qs) && i < MAX_QUESTIONS; i++) {
        const json_t *q = json_array_get(qs, i);
        const char *k = meta_str(q, "key");
        if (k != NULL && strcmp(k, key) == 0) return meta_str(q, "label");
    }
    return NULL;
}

static const char *ref_checkbox_text(const json_t *form, const char *key)
{
    const json_t *cb = json_object_get(form, "checkboxes");
    for (size_t i = 0; i < json_array_size(cb) && i < MAX_QUESTIONS; i++) {
        const json_t *c = json_array_get(cb, i);
        const char *k = meta_str(c, "key");
        if (k != NULL && strcmp(k, key) == 0) return meta_str(c, "text");
    }
    return NULL;
}

static bool ref_checked(const json_t *v)
{
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    const char *s = json_string_value(v);
    return s != NULL && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0);
}

static void ref_lead_fields(json_t *rec, const json_t *lead, const json_t *form)
{
    json_t *contact = json_object(), *answers = json_array();
    const json_t *fd = json_object_get(lead, "field_data");
    for (size_t i = 0; i < json_array_size(fd) && i < MAX_FIELDS; i++) {
        const json_t *f = json_array_get(fd, i);
        const char *name = meta_str(f, "name");
        const json_t *vals = json_object_get(f, "values");
        if (name == NULL || *name == '\0' || strlen(name) > 200) continue;
        json_t *values = json_array();
        if (json_is_array(vals)) {
            for (size_t k = 0; k < json_array_size(vals) && k < MAX_VALUES; k++) {
                json_t *s = ref_scalar_string(json_array_get(vals, k), true);
                if (s != NULL) json_array_append_new(values, s);
            }
        } else {
            json_t *s = ref_scalar_string(vals, true);
            if (s != NULL) json_array_append_new(values, s);
        }
        const char *ck = ref_contact_key(name);
        if (ck != NULL) {
            /* The first answer of the first field of that name. */
            if (json_array_size(values) > 0 && json_object_get(contact, ck) == NULL)
                json_object_set(contact, ck, json_array_get(values, 0));
            json_decref(values);
            continue;
        }
        json_t *a = json_object();
        json_object_set_new(a, "key", json_string(name));
        ref_set_str(a, "label", ref_question_label(form, name));
        json_object_set_new(a, "values", values);
        json_array_append_new(answers, a);
    }
    json_object_set_new(rec, "contact", contact);
    json_object_set_new(rec, "answers", answers);

    json_t *consents = json_array();
    const json_t *cd = json_object_get(lead, "custom_disclaimer_responses");
    for (size_t i = 0; i < json_array_size(cd) && i < MAX_FIELDS; i++) {
        const json_t *r = json_array_get(cd, i);
        const char *key = meta_str(r, "checkbox_key");
        if (key == NULL || *key == '\0' || strlen(key) > 200) continue;
        json_t *c = json_object();
        json_object_set_new(c, "key", json_string(key));
        ref_set_str(c, "text", ref_checkbox_text(form, key));
        json_object_set_new(c, "accepted",
                            json_boolean(ref_checked(json_object_get(r, "is_checked"))));
        json_array_append_new(consents, c);
    }
    json_object_set_new(rec, "consents", consents);
}

static json_t *ref_lead_record(const json_t *lead, const json_t *form,
                         const json_t *hint, const meta_rec_ctx *x,
                         char *id, size_t idcap, const char **why)
{
    meta_id lead_id, form_id, ad_id, adset_id, campaign_id;
    if (!json_is_object(lead) || !ref_id_of(lead, NULL, "id", lead_id)) {
        *why = "the lead has no id";
        return NULL;
    }
    int64_t created = meta_time_from_json(json_object_get(lead, "created_time"));
    if (created < 0 && hint != NULL)
        created = meta_time_from_json(json_object_get(hint, "created_time"));
    if (created < 0) {
        *why = "the lead has no creation time";
        return NULL;
    }
    snprintf(id, idcap, "meta:lead:%s", lead_id);
    const char *platform = meta_str(lead, "platform");
    bool ig = platform != NULL && strcmp(platform, "ig") == 0;
    json_t *rec = ref_record_base("c360.lead.v1", id, "lead", ig ? "instagram" : "facebook",
                              x, created);
    ref_lead_fields(rec, lead, form);

    bool has_form = ref_id_of(lead, hint, "form_id", form_id);
    bool has_ad = ref_id_of(lead, hint, "ad_id", ad_id);
    bool has_adset = ref_id_of(lead, hint, "adset_id", adset_id);
    bool has_campaign = ref_id_of(lead, hint, "campaign_id", campaign_id);
    ref_set_ref(rec, "form", has_form ? form_id : NULL, meta_str(form, "name"));
    ref_set_ref(rec, "ad", has_ad ? ad_id : NULL, meta_str(lead, "ad_name"));
    ref_set_ref(rec, "ad_set", has_adset ? adset_id : NULL, meta_str(lead, "adset_name"));
    ref_set_ref(rec, "campaign", has_campaign ? campaign_id : NULL,
            meta_str(lead, "campaign_name"));
    ref_set_ref(rec, "page", x->page_id, NULL);

    json_t *pids = json_object();
    json_object_set_new(pids, "lead_id", json_string(lead_id));
    if (has_form) json_object_set_new(pids, "form_id", json_string(form_id));
    if (has_ad) json_object_set_new(pids, "ad_id", json_string(ad_id));
    if (has_adset) json_object_set_new(pids, "adset_id", json_string(adset_id));
    if (has_campaign) json_object_set_new(pids, "campaign_id", json_string(campaign_id));
    ref_set_str(pids, "page_id", x->page_id);
    json_object_set_new(rec, "provider_ids", pids);
    return rec;
}


/* ---- one lead both ways ----------------------------------------------- */

static int shown;

/* The writer starts in a first buffer of `first` bytes (0: none), so that
 * its move to the heap is crossed at every point. */
static bool same(const json_t *lead, const json_t *form, const json_t *hint,
                 const meta_rec_ctx *x, size_t first)
{
    char id1[128] = "", id2[128] = "";
    const char *why1 = NULL, *why2 = NULL;
    json_t *r = ref_lead_record(lead, form, hint, x, id1, sizeof id1, &why1);
    char *want = r != NULL ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
    char *buf = first > 0 ? malloc(first) : NULL;
    meta_jw w;
    meta_jw_init(&w, buf, first);
    bool made = meta_lead_record(lead, form, hint, x, &w, id2, sizeof id2, &why2);
    bool ok = made == (r != NULL) && !meta_jw_failed(&w);
    if (ok && made)
        ok = want != NULL && w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0 &&
             strcmp(id1, id2) == 0;
    if (ok && !made) ok = w.len == 0 && why1 != NULL && why2 != NULL && strcmp(why1, why2) == 0;
    CHECK(ok);
    if (!ok && shown++ < 5) {
        char *in = json_dumps(lead, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "lead  %s\nwant  %s\ngot   %.*s\n", in ? in : "?",
                want ? want : why1, made ? (int)w.len : 0, made ? w.buf : "");
        free(in);
    }
    meta_jw_free(&w);
    free(buf);
    free(want);
    return ok;
}

/* ---- the writer alone ------------------------------------------------- */

/* json_dumps of [s[0..n)] when json_stringn takes s, else NULL. */
static char *dump_str(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v == NULL) return NULL;
    json_t *a = json_array();
    json_array_append_new(a, v);
    char *d = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return d;
}

/* The writer's [s[0..n)] equals dump_str's, or both refuse s. */
static bool same_str(const char *s, size_t n)
{
    char *want = dump_str(s, n);
    meta_jw w;
    meta_jw_init(&w, NULL, 0);
    meta_jw_arr(&w);
    bool took = meta_jw_str(&w, s, n);
    meta_jw_arr_end(&w);
    bool ok = took == (want != NULL) && meta_jw_utf8_ok(s, n) == took;
    if (ok && took) ok = w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0;
    if (ok && !took) ok = w.len == 2 && memcmp(w.buf, "[]", 2) == 0;
    if (!ok && shown++ < 5) {
        fprintf(stderr, "string of %zu bytes:", n);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", (unsigned char)s[i]);
        fprintf(stderr, "\nwant %s\ngot  %.*s\n", want ? want : "(refused)", (int)w.len, w.buf);
    }
    meta_jw_free(&w);
    free(want);
    return ok;
}

/* A Jansson tree written through the writer, member by member. */
static void write_tree(meta_jw *w, const json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        meta_jw_obj(w);
        json_object_foreach((json_t *)v, k, m) {
            meta_jw_key(w, k);
            write_tree(w, m);
        }
        meta_jw_obj_end(w);
        break;
    case JSON_ARRAY:
        meta_jw_arr(w);
        json_array_foreach(v, i, m) write_tree(w, m);
        meta_jw_arr_end(w);
        break;
    case JSON_STRING: meta_jw_str(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: meta_jw_int(w, json_integer_value(v)); break;
    case JSON_TRUE: meta_jw_bool(w, true); break;
    case JSON_FALSE: meta_jw_bool(w, false); break;
    default: meta_jw_null(w); break;
    }
}

static bool same_tree(const json_t *v, size_t first)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *buf = first > 0 ? malloc(first) : NULL;
    meta_jw w;
    meta_jw_init(&w, buf, first);
    write_tree(&w, v);
    bool ok = want != NULL && !meta_jw_failed(&w) && w.len == strlen(want) &&
              memcmp(w.buf, want, w.len) == 0;
    if (!ok && shown++ < 5)
        fprintf(stderr, "want %s\ngot  %.*s\n", want ? want : "?", (int)w.len, w.buf);
    meta_jw_free(&w);
    free(buf);
    free(want);
    return ok;
}


static json_t *rand_tree(int depth)
{
    switch (rn(depth > 3 ? 4 : 7)) {
    case 0: {
        char s[8];
        size_t n = rn(sizeof s);
        for (size_t i = 0; i < n; i++) s[i] = (char)(rn(2) ? 'a' + rn(26) : rn(0x80));
        return json_stringn(s, n);
    }
    case 1: return json_integer((json_int_t)rnd());
    case 2: return json_boolean(rn(2));
    case 3: return json_null();
    case 4: case 5: {
        json_t *a = json_array();
        for (size_t i = rn(4); i > 0; i--) json_array_append_new(a, rand_tree(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (size_t i = rn(4); i > 0; i--) {
            char k[4] = {(char)('a' + rn(4)), rn(2) ? '"' : 'k', (char)('0' + rn(3)), 0};
            json_object_set_new(o, k, rand_tree(depth + 1));
        }
        return o;
    }
    }
}

static void test_writer(void)
{
    /* Every single byte, NUL included: the escapes. */
    for (int c = 0; c < 256; c++) {
        char s[3] = {'x', (char)c, 'y'};
        CHECK(same_str(s + 1, 1));
        CHECK(same_str(s, 3));
    }
    CHECK(same_str("", 0));
    CHECK(same_str("a/b \"q\" \\ \x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 24));
    /* Every pair of bytes, and sequences around UTF-8's edges: overlong
     * forms, surrogates, past U+10FFFF, truncations. */
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            char s[2] = {(char)a, (char)b};
            if (!same_str(s, 2)) CHECK(false);
        }
    static const unsigned char edge[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                         0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
                                         0xf4, 0xf5, 0xff, 'a'};
    size_t ne = sizeof edge;
    for (size_t a = 0; a < ne; a++)
        for (size_t b = 0; b < ne; b++)
            for (size_t c = 0; c < ne; c++)
                for (size_t d = 0; d < ne; d++) {
                    char s[4] = {(char)edge[a], (char)edge[b], (char)edge[c], (char)edge[d]};
                    if (!same_str(s, 3) || !same_str(s, 4)) CHECK(false);
                }
    /* Long strings, escapes at the buffer's growth points. */
    for (int i = 0; i < 2000; i++) {
        char s[300];
        size_t n = rn(sizeof s);
        for (size_t k = 0; k < n; k++) s[k] = (char)(rn(4) ? ' ' + rn(95) : rn(256));
        if (!same_str(s, n)) CHECK(false);
    }

    /* Integers. */
    static const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 1795943702113, INT64_MAX, INT64_MIN,
                                      INT64_MIN + 1};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_integer(ints[i]);
        CHECK(same_tree(v, 0));
        json_decref(v);
    }
    /* Commas at every level, empty containers, keys that need escapes,
     * every first buffer size. */
    for (int i = 0; i < 3000; i++) {
        json_t *t = rand_tree(0);
        if (!same_tree(t, rn(3) ? rn(64) : 0)) CHECK(false);
        json_decref(t);
    }

    /* A refused string leaves no trace: no key, no comma. */
    meta_jw w;
    meta_jw_init(&w, NULL, 0);
    meta_jw_obj(&w);
    CHECK(meta_jw_kstr(&w, "a", "1"));
    CHECK(!meta_jw_kstr(&w, "b", "\xff"));
    CHECK(!meta_jw_kstr(&w, "c", NULL));
    meta_jw_key(&w, "d");
    meta_jw_arr(&w);
    CHECK(!meta_jw_str(&w, "\xc0\x80", 2));
    CHECK(meta_jw_str(&w, "\0", 1));
    CHECK(!meta_jw_str(&w, "\xed\xa0\x80", 3));
    meta_jw_null(&w);
    meta_jw_arr_end(&w);
    CHECK(!meta_jw_kstr(&w, "e", "x\xf4\x90\x80\x80"));
    meta_jw_obj_end(&w);
    static const char want[] = "{\"a\":\"1\",\"d\":[\"\\u0000\",null]}";
    CHECK(!meta_jw_failed(&w) && w.len == sizeof want - 1 && memcmp(w.buf, want, w.len) == 0);
    /* Failed for good: nothing more is written. */
    meta_jw_free(&w);
    CHECK(meta_jw_failed(&w));
    meta_jw_obj(&w);
    CHECK(!meta_jw_kstr(&w, "a", "1"));
    CHECK(w.len == 0 && w.buf == NULL);
    meta_jw_free(&w);
}

/* ---- a table of leads ------------------------------------------------- */

static const char lead_json[] =
    "{\"id\":\"123123123123\",\"created_time\":\"2026-11-29T09:15:00+0000\","
    "\"ad_id\":\"777\",\"ad_name\":\"Ad 1\",\"adset_id\":5555,\"adset_name\":\"Set\","
    "\"campaign_id\":\"888\",\"campaign_name\":\"Spring\",\"form_id\":\"12312312312\","
    "\"is_organic\":false,\"platform\":\"fb\",\"field_data\":["
    " {\"name\":\"email\",\"values\":[\" joe@example.com \"]},"
    " {\"name\":\"phone_number\",\"values\":[\"+15550100000\"]},"
    " {\"name\":\"full_name\",\"values\":[\"Joe Example\"]},"
    " {\"name\":\"email\",\"values\":[\"second@example.com\"]},"
    " {\"name\":\"company_name\",\"values\":\"Acme\"},"
    " {\"name\":\"zip_code\",\"values\":[\"  \", 12345]},"
    " {\"name\":\"post_code\",\"values\":[\"99999\"]},"
    " {\"name\":\"budget\",\"values\":[\"10k-50k\"]},"
    " {\"name\":\"size\",\"values\":[12, true, 1.5, null, {}, []]},"
    " {\"name\":\"empty\",\"values\":[]},"
    " {\"name\":\"q \\\"quoted\\\" \\u00e9\\n\\t/\\u007f\\u0001\",\"values\":[\"\\u2028 x \"]},"
    " {\"values\":[\"no name\"]}],"
    "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"marketing_optin\",\"is_checked\":\"1\"},"
    " {\"checkbox_key\":\"terms\",\"is_checked\":\"\"}, {\"checkbox_key\":\"x\",\"is_checked\":1},"
    " {\"is_checked\":true}, 5]}";

static const char form_json[] =
    "{\"id\":\"12312312312\",\"name\":\"Spring offer\",\"questions\":["
    "{\"key\":\"email\",\"label\":\"Email\"},{\"key\":\"budget\",\"label\":\"What is your budget?\"},"
    "{\"key\":\"size\",\"label\":\"\"}],"
    "\"checkboxes\":[{\"key\":\"marketing_optin\",\"text\":\"I agree \\\"now\\\"\"},"
    "{\"key\":\"terms\"}]}";

/* The lead bench's lead and form (bench/lead_graph.c). */
static const char bench_lead[] =
    "{\"id\":\"1234567890123\",\"created_time\":\"2026-11-29T09:15:00+0000\",\"ad_id\":\"31\","
    "\"ad_name\":\"Ad 31\",\"adset_id\":\"21\",\"adset_name\":\"Set 21\",\"campaign_id\":\"41\","
    "\"campaign_name\":\"Spring\",\"form_id\":\"900\",\"is_organic\":false,\"platform\":\"fb\","
    "\"field_data\":[{\"name\":\"email\",\"values\":[\"lead1234567890123@example.com\"]},"
    "{\"name\":\"full_name\",\"values\":[\"Lead 1234567890123\"]},"
    "{\"name\":\"budget\",\"values\":[\"10k-50k\"]}],"
    "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"optin\",\"is_checked\":\"1\"}]}";
static const char bench_form[] =
    "{\"id\":\"900\",\"name\":\"Bench form\",\"questions\":[{\"key\":\"email\",\"label\":\"Email\"},"
    "{\"key\":\"budget\",\"label\":\"What is your budget?\"}],\"checkboxes\":[{\"key\":\"optin\","
    "\"text\":\"Send me offers\"}]}";

/* Field data of every odd shape: no name, a number for a name, no
 * values, values not an array, blank, a negative zero, big and small
 * numbers. */
static const char odd_fields[] =
    "{\"id\":\"1\",\"created_time\":1,\"field_data\":[{\"name\":\"\",\"values\":[\"a\"]},"
    "{\"name\":5,\"values\":[\"a\"]},{\"name\":\"email\"},{\"name\":\"email\",\"values\":7},"
    "{\"name\":\"x\",\"values\":\"  \"},{\"name\":\"y\",\"values\":-0.0},"
    "{\"name\":\"z\",\"values\":[1e300, -9223372036854775808, 0.1]}]}";

static void test_table(void)
{
    static const char *const leads[] = {
        lead_json, bench_lead, "{\"id\":\"1\"}", "{\"created_time\":1440120384}",
        "{\"id\":\"77\"}", "{\"id\":77,\"created_time\":1440120384}",
        "{\"id\":\"1\",\"created_time\":9223372036854775}",
        "{\"id\":\"1\",\"created_time\":\"9999-12-31T23:59:59Z\",\"platform\":\"ig\"}",
        "{\"id\":\"abc\",\"created_time\":1}", "{\"id\":\"\",\"created_time\":1}",
        "{\"id\":\"1\",\"created_time\":0,\"field_data\":{},\"custom_disclaimer_responses\":{}}",
        odd_fields,
        "[1]", "null", "{\"id\":\"1\",\"created_time\":1,\"form_id\":\"\",\"ad_id\":1.5}",
    };
    static const char *const hints[] = {
        NULL, "{\"leadgen_id\":123,\"page_id\":1}", "{\"created_time\":1440120384,\"form_id\":999}",
        "{\"form_id\":\"42\",\"ad_id\":\"43\",\"adset_id\":44,\"campaign_id\":\"45\"}",
    };
    static const char *const forms[] = {NULL, form_json, bench_form, "{}",
                                        "{\"name\":\"\",\"questions\":5,\"checkboxes\":[1,{}]}"};
    meta_rec_ctx ctxs[] = {
        {"fb-acme", "webhook", "123123123", 1795943702113},
        {"c", "poll", NULL, 5},
        {"", "poll", "", -1},
        {"fb-\"q\"\n", "webhook", "\xff" "12", INT64_MIN},
        {NULL, NULL, "12", INT64_MAX},
        {"bad \xc3", "poll", "1", 0},
    };
    for (size_t l = 0; l < sizeof leads / sizeof leads[0]; l++)
        for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++)
            for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
                for (size_t c = 0; c < sizeof ctxs / sizeof ctxs[0]; c++) {
                    json_t *lead = json_loads(leads[l], JSON_DECODE_ANY, NULL);
                    json_t *hint = hints[h] ? json_loads(hints[h], 0, NULL) : NULL;
                    json_t *form = forms[f] ? json_loads(forms[f], 0, NULL) : NULL;
                    CHECK(lead != NULL && (hints[h] == NULL || hint != NULL) &&
                          (forms[f] == NULL || form != NULL));
                    CHECK(same(lead, form, hint, &ctxs[c], c * 37 % 700));
                    json_decref(lead);
                    json_decref(hint);
                    json_decref(form);
                }

    /* The bench lead's record, spelled out once. */
    json_t *lead = json_loads(bench_lead, 0, NULL), *form = json_loads(bench_form, 0, NULL);
    meta_rec_ctx x = {"fb-bench", "webhook", "123123123", 1795943702113};
    char id[128], first[META_JW_STACK];
    const char *why = NULL;
    meta_jw w;
    meta_jw_init(&w, first, sizeof first);
    CHECK(meta_lead_record(lead, form, NULL, &x, &w, id, sizeof id, &why));
    static const char want[] =
        "{\"schema\":\"c360.lead.v1\",\"id\":\"meta:lead:1234567890123\",\"type\":\"lead\","
        "\"provider\":\"facebook\",\"source\":{\"plugin\":\"meta\",\"connection\":\"fb-bench\"},"
        "\"via\":\"webhook\",\"created_at\":\"2026-11-29T09:15:00Z\",\"created_at_ms\":1795943700000,"
        "\"received_at_ms\":1795943702113,\"contact\":{\"email\":\"lead1234567890123@example.com\","
        "\"full_name\":\"Lead 1234567890123\"},\"answers\":[{\"key\":\"budget\",\"label\":"
        "\"What is your budget?\",\"values\":[\"10k-50k\"]}],\"consents\":[{\"key\":\"optin\","
        "\"text\":\"Send me offers\",\"accepted\":true}],\"form\":{\"id\":\"900\",\"name\":"
        "\"Bench form\"},\"ad\":{\"id\":\"31\",\"name\":\"Ad 31\"},\"ad_set\":{\"id\":\"21\","
        "\"name\":\"Set 21\"},\"campaign\":{\"id\":\"41\",\"name\":\"Spring\"},\"page\":{\"id\":"
        "\"123123123\"},\"provider_ids\":{\"lead_id\":\"1234567890123\",\"form_id\":\"900\","
        "\"ad_id\":\"31\",\"adset_id\":\"21\",\"campaign_id\":\"41\",\"page_id\":\"123123123\"}}";
    CHECK(!meta_jw_failed(&w) && !w.heap && w.len == sizeof want - 1 &&
          memcmp(w.buf, want, w.len) == 0);
    CHECK_STR(id, "meta:lead:1234567890123");
    meta_jw_free(&w);
    json_decref(lead);
    json_decref(form);
}

/* ---- generated and mutated leads -------------------------------------- */

/* Pieces of generated text: plain, spaces (trimmed at the ends), escapes,
 * DEL, UTF-8 of 2 to 4 bytes, NUL; bad UTF-8 only where `bad`. */
static const char *const PIECES[] = {
    "a", "Joe", "lead@example.com", "12345", " ", "\t", "\n", "\r", "\v", "\f", "\"", "\\", "/",
    "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
    "email", "phone_number", "\xef\xbb\xbf",
};
static const char *const BAD[] = {
    "\xc3", "\xc0\x80", "\xc1\xbf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\x80",
    "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82",
};

static size_t rand_text(char *s, size_t cap, bool bad)
{
    size_t n = 0;
    for (size_t k = rn(6); k > 0; k--) {
        const char *p;
        size_t pl;
        if (bad && rn(5) == 0) p = BAD[rn(sizeof BAD / sizeof BAD[0])], pl = strlen(p);
        else if (rn(12) == 0) p = "", pl = 1; /* a NUL */
        else p = PIECES[rn(sizeof PIECES / sizeof PIECES[0])], pl = strlen(p);
        if (n + pl >= cap) break;
        memcpy(s + n, p, pl);
        n += pl;
    }
    s[n] = '\0';
    return n;
}

/* A JSON string of generated text; not valid UTF-8 at times (Jansson
 * would not make it, but a value must never get through because of it). */
static json_t *rand_jstr(void)
{
    char s[128];
    size_t n = rand_text(s, sizeof s, rn(8) == 0);
    json_t *v = json_stringn(s, n);
    return v != NULL ? v : json_stringn_nocheck(s, n);
}

static const char *const FIELD_NAMES[] = {
    "email", "phone_number", "full_name", "first_name", "last_name", "company_name",
    "job_title", "city", "state", "country", "zip_code", "post_code", "street_address",
    "budget", "size", "q1", "Email", "email ",
};
static const char *const CB_KEYS[] = {"optin", "terms", "marketing_optin", "x"};

static json_t *rand_name(const char *const *pool, size_t n)
{
    switch (rn(10)) {
    case 0: return rand_jstr();
    case 1: {
        char s[202];
        size_t len = 200 + rn(2);
        memset(s, 'n', len);
        return json_stringn(s, len);
    }
    case 2: return rn(2) ? json_string("") : json_integer(7);
    default: return json_string(pool[rn(n)]);
    }
}

static json_t *rand_scalar(void)
{
    static const double reals[] = {1.5, -0.0, 1e300, 0.1, 3.141592653589793, 1e-300, 12.0};
    static const json_int_t ints[] = {0, -1, 12, INT64_MAX, INT64_MIN, 1795943700000};
    switch (rn(12)) {
    case 0: return json_integer(ints[rn(sizeof ints / sizeof ints[0])]);
    case 1: return json_real(reals[rn(sizeof reals / sizeof reals[0])]);
    case 2: return json_boolean(rn(2));
    case 3: return json_null();
    case 4: return rn(2) ? json_object() : json_array();
    default: return rand_jstr();
    }
}

static json_t *rand_id(void)
{
    static const char *const ids[] = {"123", "0", "12345678901234567890123456789012",
                                      "123456789012345678901234567890123", "12_34", "abc",
                                      "", " 1", "5555"};
    switch (rn(6)) {
    case 0: return json_integer(rn(3) ? (json_int_t)rn(1000000) : -1);
    case 1: return rn(2) ? json_real(1.0) : json_null();
    default: return json_string(ids[rn(sizeof ids / sizeof ids[0])]);
    }
}

static json_t *rand_time(void)
{
    static const char *const ts[] = {"2026-11-29T09:15:00+0000", "2026-11-29T09:15:00Z",
                                     "1440120384", "9999-12-31T23:59:59Z", "junk",
                                     "2015-02-28T08:49:14+01:00"};
    switch (rn(5)) {
    case 0: return json_integer(rn(2) ? 1440120384 : -5);
    case 1: return json_integer(9223372036854775);
    default: return json_string(ts[rn(sizeof ts / sizeof ts[0])]);
    }
}

/* Sets o[k] = v with probability 1 - 1/miss. */
static void maybe(json_t *o, const char *k, json_t *v, size_t miss)
{
    if (rn(miss) == 0) json_decref(v);
    else json_object_set_new(o, k, v);
}

static json_t *rand_lead(void)
{
    json_t *l = json_object();
    maybe(l, "id", rn(4) ? json_string("123123123123") : rand_id(), 20);
    maybe(l, "created_time", rand_time(), 5);
    static const char *const idk[] = {"form_id", "ad_id", "adset_id", "campaign_id"};
    for (size_t i = 0; i < 4; i++) maybe(l, idk[i], rand_id(), 3);
    static const char *const nk[] = {"ad_name", "adset_name", "campaign_name"};
    for (size_t i = 0; i < 3; i++) maybe(l, nk[i], rn(4) ? rand_jstr() : rand_scalar(), 3);
    maybe(l, "platform", json_string(rn(2) ? "ig" : "fb"), 3);
    json_t *fd = json_array();
    size_t nf = rn(20) == 0 ? MAX_FIELDS + 3 : rn(10);
    for (size_t i = 0; i < nf; i++) {
        if (rn(25) == 0) {
            json_array_append_new(fd, rand_scalar());
            continue;
        }
        json_t *f = json_object();
        maybe(f, "name", rand_name(FIELD_NAMES, sizeof FIELD_NAMES / sizeof FIELD_NAMES[0]), 20);
        if (rn(6) == 0) {
            maybe(f, "values", rand_scalar(), 4);
        } else {
            json_t *vs = json_array();
            size_t nv = rn(30) == 0 ? MAX_VALUES + 2 : rn(4);
            for (size_t k = 0; k < nv; k++) json_array_append_new(vs, rand_scalar());
            json_object_set_new(f, "values", vs);
        }
        json_array_append_new(fd, f);
    }
    maybe(l, "field_data", rn(20) ? fd : (json_decref(fd), rand_scalar()), 10);
    json_t *cd = json_array();
    for (size_t i = rn(5); i > 0; i--) {
        json_t *r = json_object();
        maybe(r, "checkbox_key", rand_name(CB_KEYS, sizeof CB_KEYS / sizeof CB_KEYS[0]), 10);
        static const char *const ch[] = {"1", "true", "0", "", "yes"};
        json_t *v = rn(2) ? json_string(ch[rn(5)]) : rand_scalar();
        maybe(r, "is_checked", v, 6);
        json_array_append_new(cd, r);
    }
    maybe(l, "custom_disclaimer_responses", cd, 5);
    return l;
}

static json_t *rand_form(void)
{
    if (rn(4) == 0) return NULL;
    json_t *f = json_object();
    maybe(f, "name", rn(3) ? rand_jstr() : rand_scalar(), 4);
    json_t *qs = json_array();
    for (size_t i = rn(6); i > 0; i--) {
        json_t *q = json_object();
        maybe(q, "key", rand_name(FIELD_NAMES, sizeof FIELD_NAMES / sizeof FIELD_NAMES[0]), 10);
        maybe(q, "label", rn(4) ? rand_jstr() : rand_scalar(), 5);
        json_array_append_new(qs, rn(15) ? q : (json_decref(q), rand_scalar()));
    }
    maybe(f, "questions", qs, 6);
    json_t *cbs = json_array();
    for (size_t i = rn(4); i > 0; i--) {
        json_t *c = json_object();
        maybe(c, "key", rand_name(CB_KEYS, sizeof CB_KEYS / sizeof CB_KEYS[0]), 10);
        maybe(c, "text", rand_jstr(), 4);
        json_array_append_new(cbs, c);
    }
    maybe(f, "checkboxes", cbs, 6);
    return f;
}

static json_t *rand_hint(void)
{
    if (rn(2) == 0) return NULL;
    json_t *h = json_object();
    static const char *const k[] = {"form_id", "ad_id", "adset_id", "campaign_id"};
    for (size_t i = 0; i < 4; i++) maybe(h, k[i], rand_id(), 2);
    maybe(h, "created_time", rand_time(), 2);
    return h;
}

static void rand_ctx(meta_rec_ctx *x, char *conn, size_t cap)
{
    static const char *const pages[] = {"123123123", "", "1", "\3771", "12\xc3"}; /* \377: 0xff */
    static const int64_t times[] = {1795943702113, 0, -1, INT64_MAX, INT64_MIN};
    rand_text(conn, cap, rn(6) == 0);
    x->connection = rn(20) ? conn : NULL;
    x->via = rn(20) ? (rn(2) ? "webhook" : "poll") : NULL;
    x->page_id = rn(6) ? pages[rn(sizeof pages / sizeof pages[0])] : NULL;
    x->received_at_ms = rn(3) ? times[0] - (int64_t)rn(1000000) : times[rn(5)];
}

/* A JSON text with a few of its bytes replaced, cut or doubled. */
static size_t mutate(char *b, size_t len, size_t cap)
{
    static const char *const TOK[] = {"\"", "\\", "\\u0000", "\\u00e9", "\\ud83d\\ude00", "1",
                                      "-", " ", "null", "[]", "{}", "true", "\\n", "ig",
                                      "\"email\"", "\"zip_code\"", "1e5", "\xc3\xa9"};
    for (size_t m = 1 + rn(3); m > 0 && len > 0; m--) {
        size_t at = rn(len);
        switch (rn(3)) {
        case 0: { /* replace one byte with a token */
            const char *t = TOK[rn(sizeof TOK / sizeof TOK[0])];
            size_t tl = strlen(t);
            if (len - 1 + tl >= cap) break;
            memmove(b + at + tl, b + at + 1, len - at - 1);
            memcpy(b + at, t, tl);
            len = len - 1 + tl;
            break;
        }
        case 1: { /* cut */
            size_t n = rn(len - at) % 12;
            memmove(b + at, b + at + n, len - at - n);
            len -= n;
            break;
        }
        default: { /* double a span */
            size_t n = rn(len - at) % 24;
            if (len + n >= cap) break;
            memmove(b + at + n, b + at, len - at);
            len += n;
        }
        }
    }
    b[len] = '\0';
    return len;
}

static void test_differential(long n)
{
    long mism = 0;
    for (long i = 0; i < n; i++) {
        json_t *lead = rand_lead(), *form = rand_form(), *hint = rand_hint();
        meta_rec_ctx x;
        char conn[128];
        rand_ctx(&x, conn, sizeof conn);
        if (!same(lead, form, hint, &x, rn(3) ? rn(2048) : 0)) mism++;
        json_decref(lead);
        json_decref(form);
        json_decref(hint);
    }
    /* Mutated texts of the table's leads and forms, read by Jansson. */
    static const char *const src[] = {lead_json, bench_lead, form_json, bench_form};
    long parsed = 0;
    for (long i = 0; i < n; i++) {
        char b[4096];
        const char *s = src[rn(2)];
        size_t len = strlen(s);
        memcpy(b, s, len + 1);
        len = mutate(b, len, sizeof b);
        json_t *lead = json_loadb(b, len, 0, NULL);
        s = src[2 + rn(2)];
        len = strlen(s);
        memcpy(b, s, len + 1);
        len = mutate(b, len, sizeof b);
        json_t *form = rn(4) ? json_loadb(b, len, 0, NULL) : NULL;
        if (lead == NULL) {
            json_decref(form);
            continue;
        }
        parsed++;
        meta_rec_ctx x = {"fb-acme", rn(2) ? "webhook" : "poll", rn(2) ? "123123123" : NULL,
                          1795943702113};
        json_t *hint = rand_hint();
        if (!same(lead, form, hint, &x, rn(2) ? rn(1024) : 0)) mism++;
        json_decref(lead);
        json_decref(form);
        json_decref(hint);
    }
    printf("differential: %ld generated and %ld mutated leads, %ld mismatches\n", n, parsed,
           mism);
}

/* ---- leads kept as bytes (meta_lead_src.c) ---------------------------- */

static long bytes_compared, bytes_fast, bytes_skipped;

/* b[0..len) as a lead body read ahead: when meta_json_check proves it,
 * meta_batch_op_end_bytes must decide as meta_batch_op_end does (code
 * 200, the lead's own id), and the record written from the bytes
 * (meta_lead_record_of) must be the record of json_loadb's tree, byte for
 * byte, or the same reason to skip it. */
static bool same_bytes(const char *b, size_t len, const json_t *form, const json_t *hint,
                       const meta_rec_ctx *x, size_t first)
{
    if (meta_json_check((const uint8_t *)b, len) != META_SCAN_OK) {
        bytes_skipped++;
        return true;
    }
    json_t *tree = json_loadb(b, len, 0, NULL);
    CHECK(tree != NULL);
    if (tree == NULL) return false;
    bytes_compared++;
    /* The batch step: the lead's id, or another. */
    meta_id lid;
    if (!meta_id_from_json(json_object_get(tree, "id"), false, lid) || rn(8) == 0)
        snprintf(lid, sizeof lid, "%s", "123123123123");
    meta_batch_op op = {lid, "EAAB-token", "0"};
    meta_batch_res ra = {.code = rn(10) ? 200 : 404}, rb = ra;
    int ga = meta_batch_op_end_bytes(&ra, &op, b, len), gb = meta_batch_op_end(&rb, &op, b, len);
    json_t *kept = ra.body != NULL ? json_loadb(ra.body, ra.body_len, 0, NULL)
                                   : json_incref(ra.lead);
    bool ok = ga == gb && memcmp(&ra.err, &rb.err, sizeof ra.err) == 0 &&
              (kept == NULL) == (rb.lead == NULL) && (kept == NULL || json_equal(kept, rb.lead));
    CHECK(ok);
    json_decref(kept);
    json_decref(ra.lead);
    json_decref(rb.lead);
    free(ra.body);

    char id1[128] = "", id2[128] = "";
    const char *why1 = NULL, *why2 = NULL;
    char *buf1 = first > 0 ? malloc(first) : NULL, *buf2 = first > 0 ? malloc(first) : NULL;
    meta_jw w1, w2;
    meta_jw_init(&w1, buf1, first);
    meta_jw_init(&w2, buf2, first);
    meta_lead L;
    meta_lead_of_bytes(&L, (const uint8_t *)b, len);
    bool m1 = meta_lead_record_of(&L, form, hint, x, &w1, id1, sizeof id1, &why1);
    if (L.parsed == NULL) bytes_fast++;
    meta_lead_done(&L);
    bool m2 = meta_lead_record(tree, form, hint, x, &w2, id2, sizeof id2, &why2);
    bool same_rec = m1 == m2 && !meta_jw_failed(&w1) && !meta_jw_failed(&w2) &&
                    w1.len == w2.len && (w1.len == 0 || memcmp(w1.buf, w2.buf, w1.len) == 0) &&
                    (m1 ? strcmp(id1, id2) == 0
                        : why1 != NULL && why2 != NULL && strcmp(why1, why2) == 0);
    CHECK(same_rec);
    if (!same_rec && shown++ < 5)
        fprintf(stderr, "body  %.*s\nbytes %.*s (%s)\ntree  %.*s (%s)\n", (int)len, b,
                (int)w1.len, w1.buf, m1 ? "made" : why1, (int)w2.len, w2.buf,
                m2 ? "made" : why2);
    meta_jw_free(&w1);
    meta_jw_free(&w2);
    free(buf1);
    free(buf2);
    json_decref(tree);
    return ok && same_rec;
}

/* Fixed bodies: Graph's shape, and whatever the byte reader must get
 * right or leave to Jansson. */
static void test_bytes_table(void)
{
    static const char *const bodies[] = {
        lead_json, bench_lead, "{\"id\":\"1\"}", "{\"created_time\":1440120384}",
        " \t{\"id\":\"5\",\"created_time\":\"2026-11-29T09:15:00Z\"} \n",
        /* escapes, \u with surrogate pairs, \/, unicode as it is */
        "{\"id\":\"7\",\"created_time\":1440120384,\"ad_id\":\"1\",\"ad_name\":"
        "\"\\u00e9\\ud83d\\ude00 \\/x\\\\ \\\" \\b\\f\\n\\r\\t \xc3\xa9\xf0\x9f\x98\x80\","
        "\"field_data\":[{\"name\":\"full_name\","
        "\"values\":[\"  \\u0041nn\\u00e9 \\ud834\\udd1e \"]},{\"name\":\"q\\/\\u00e9\",\"values\":"
        "[\"\\u2028\",\"\\u007f\\u0001\"]}],\"custom_disclaimer_responses\":[{\"checkbox_key\":"
        "\"opt\\u0069n\",\"is_checked\":\"tru\\u0065\"}]}",
        /* duplicate keys: the last counts, at the root and inside */
        "{\"id\":\"1\",\"id\":\"7\",\"created_time\":\"junk\",\"created_time\":1440120384,"
        "\"platform\":\"ig\",\"platform\":\"fb\",\"field_data\":[],\"field_data\":[{\"name\":\"x\","
        "\"name\":\"email\",\"values\":[\"a@b\"],\"values\":[\"c@d\"]}],"
        "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"a\",\"is_checked\":1,"
        "\"is_checked\":0}]}",
        /* numbers, booleans, null and nested values in fields */
        "{\"id\":7,\"created_time\":1440120384,\"adset_id\":-0,\"ad_id\":9223372036854775807,"
        "\"field_data\":[{\"name\":\"n\",\"values\":[0,-0,-12,9223372036854775807,"
        "-9223372036854775808,true,false,null,{\"a\":1},[1,[2]],\"\"]},{\"name\":\"zip_code\","
        "\"values\":[-0]},{\"name\":\"city\",\"values\":true}],\"custom_disclaimer_responses\":["
        "{\"checkbox_key\":\"a\",\"is_checked\":-0},{\"checkbox_key\":\"b\",\"is_checked\":7},"
        "{\"checkbox_key\":\"c\",\"is_checked\":false},"
        "{\"checkbox_key\":\"d\",\"is_checked\":null}]}",
        /* reals: left to Jansson */
        "{\"id\":\"7\",\"created_time\":1440120384.5,\"field_data\":[{\"name\":\"n\",\"values\":"
        "[1.5,-0.0,1e5,0.1,1E-300,12.0]}]}",
        "{\"id\":7.0,\"created_time\":1440120384}",
        /* escaped ids and nested keys: left to Jansson */
        "{\"id\":\"\\u0037\",\"created_time\":1440120384}",
        "{\"id\":\"7\",\"created_time\":1440120384,\"field_data\":[{\"n\\u0061me\":\"email\","
        "\"values\":[\"x\"]}]}",
        /* missing and mistyped members */
        "{\"id\":\"7\",\"created_time\":1440120384,\"field_data\":{},"
        "\"custom_disclaimer_responses\":7}",
        "{\"id\":\"7\",\"created_time\":1440120384,\"field_data\":[1,\"a\",null,[],{}]}",
        "{\"id\":\"\",\"created_time\":1440120384}", "{\"id\":\"-1\",\"created_time\":1}",
        "{\"id\":-1,\"created_time\":1}", "{}", "[]", "{\"error\":{\"code\":1},\"id\":\"7\"}",
    };
    json_t *form = json_loads(form_json, 0, NULL);
    json_t *hint = json_loads("{\"form_id\":\"12\",\"created_time\":1440120384}", 0, NULL);
    meta_rec_ctx x = {"fb-acme", "webhook", "123123123", 1795943702113};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        CHECK(same_bytes(bodies[i], strlen(bodies[i]), form, NULL, &x, 0));
        CHECK(same_bytes(bodies[i], strlen(bodies[i]), form, hint, &x, 64));
    }
    /* Graph's lead is read without Jansson. */
    long fast = bytes_fast;
    CHECK(same_bytes(bench_lead, strlen(bench_lead), form, hint, &x, 0) && bytes_fast == fast + 1);

    /* Sizes: names of 200 and 201 bytes (escaped or not), more fields than
     * MAX_FIELDS and values than MAX_VALUES, more root members than are
     * indexed, strings longer than the arena. */
    size_t cap = 1u << 20;
    char *b = malloc(cap);
    for (int k = 0; k < 8; k++) {
        size_t n = (size_t)snprintf(b, cap, "{\"id\":\"7\",\"created_time\":1440120384,");
        if (k == 0 || k == 1) {
            n += (size_t)snprintf(b + n, cap - n, "\"field_data\":[");
            for (int f = 0; f < 2; f++) {
                n += (size_t)snprintf(b + n, cap - n, "%s{\"name\":\"", f ? "," : "");
                for (int c = 0; c < 199 + f; c++)
                    n += (size_t)snprintf(b + n, cap - n, "%s",
                                          k == 1 && c % 3 == 0 ? "\\u006e" : "n");
                n += (size_t)snprintf(b + n, cap - n, "%s\",\"values\":[\"v\"]}",
                                      k == 1 ? "\\/" : "n");
            }
            n += (size_t)snprintf(b + n, cap - n, "]}");
        } else if (k == 2 || k == 3) {
            n += (size_t)snprintf(b + n, cap - n, "\"field_data\":[");
            for (int f = 0; f < (k == 2 ? MAX_FIELDS + 5 : 3); f++) {
                n += (size_t)snprintf(b + n, cap - n, "%s{\"name\":\"%s%d\",\"values\":[",
                                      f ? "," : "", f % 7 == 0 ? "email" : "q", f);
                for (int v = 0; v < (k == 3 ? MAX_VALUES + 5 : 2); v++)
                    n += (size_t)snprintf(b + n, cap - n, "%s\"v%d\"", v ? "," : "", v);
                n += (size_t)snprintf(b + n, cap - n, "]}");
            }
            n += (size_t)snprintf(b + n, cap - n, "],\"custom_disclaimer_responses\":[");
            for (int f = 0; f < MAX_FIELDS + 5; f++)
                n += (size_t)snprintf(b + n, cap - n, "%s{\"checkbox_key\":\"k%d\"}",
                                      f ? "," : "", f);
            n += (size_t)snprintf(b + n, cap - n, "]}");
        } else if (k == 4 || k == 5) {
            for (int f = 0; f < META_LEAD_ROOT_MAX + (k == 4 ? -3 : 1); f++)
                n += (size_t)snprintf(b + n, cap - n, "\"x%d\":%d,", f, f);
            n += (size_t)snprintf(b + n, cap - n, "\"ad_id\":\"5\"}");
        } else {
            /* a value (k 6) or names (k 7) past the arena */
            n += (size_t)snprintf(b + n, cap - n, "\"field_data\":[");
            for (int f = 0; f < (k == 6 ? 1 : 20); f++) {
                n += (size_t)snprintf(b + n, cap - n, "%s{\"name\":\"%s\",\"values\":[\"",
                                      f ? "," : "", k == 6 ? "email" : "city");
                for (int c = 0; c < (k == 6 ? META_LEAD_ARENA + 10 : 300); c++)
                    n += (size_t)snprintf(b + n, cap - n, "%s", c % 50 == 0 ? "\\u00e9" : "x");
                n += (size_t)snprintf(b + n, cap - n, "\"]}");
            }
            n += (size_t)snprintf(b + n, cap - n, "]}");
        }
        CHECK(n < cap);
        CHECK(meta_json_check((const uint8_t *)b, n) == META_SCAN_OK);
        CHECK(same_bytes(b, n, form, hint, &x, 0));
    }
    free(b);
    json_decref(form);
    json_decref(hint);
}

/* A generated lead's text as a sender might write it: compact or
 * indented, \u escapes for all but ASCII (surrogate pairs too), \/ for
 * '/', another lead's members before its own (duplicate keys: its own
 * count) or a duplicate "name" inside its fields. */
static char *lead_text(const json_t *lead, size_t *len)
{
    size_t fl = rn(2) ? JSON_COMPACT : JSON_INDENT(rn(3));
    if (rn(3) == 0) fl |= JSON_ENSURE_ASCII;
    if (rn(4) == 0) fl |= JSON_ESCAPE_SLASH;
    char *s = json_dumps(lead, fl);
    if (s == NULL) return NULL;
    size_t n = strlen(s);
    if (rn(5) == 0 && n > 2) {
        json_t *o = rand_lead();
        char *d = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        size_t dl = d != NULL ? strlen(d) : 0;
        char *t = d != NULL && dl > 2 ? malloc(n + dl + 2) : NULL;
        if (t != NULL) {
            memcpy(t, d, dl - 1); /* "{...members" */
            t[dl - 1] = ',';
            memcpy(t + dl, s + 1, n); /* members..."}" and its NUL */
            free(s);
            s = t;
            n = n + dl - 1;
        }
        free(d);
    }
    if (rn(6) == 0 && (fl & JSON_INDENT(3)) == 0) {
        /* {"name": -> {"name":"x","values":["dup"],"name": (once) */
        char *at = strstr(s, "{\"name\":");
        static const char ins[] = "\"name\":\"email\",\"values\":[\"dup\"],";
        char *t = at != NULL ? malloc(n + sizeof ins) : NULL;
        if (t != NULL) {
            size_t off = (size_t)(at - s) + 1;
            memcpy(t, s, off);
            memcpy(t + off, ins, sizeof ins - 1);
            memcpy(t + off + sizeof ins - 1, s + off, n - off + 1);
            free(s);
            s = t;
            n += sizeof ins - 1;
        }
    }
    /* Most generated leads hold a NUL somewhere, which Jansson refuses
     * as \u0000: most of them get a space instead. */
    for (char *u = s; rn(4) != 0 && (u = strstr(u, "\\u0000")) != NULL; u += 6) u[5] = '9';
    *len = n;
    return s;
}

static void test_bytes_differential(long n)
{
    long mism = 0;
    /* n generated leads, more until n bodies were compared (about half
     * are refused by Jansson: bad UTF-8, a NUL, a mutation). */
    for (long i = 0; i < 4 * n && (i < n || bytes_compared < n); i++) {
        json_t *lead = rand_lead(), *form = rand_form(), *hint = rand_hint();
        meta_rec_ctx x;
        char conn[128];
        rand_ctx(&x, conn, sizeof conn);
        size_t len;
        char *s = lead_text(lead, &len);
        if (s != NULL) {
            if (!same_bytes(s, len, form, hint, &x, rn(3) ? rn(2048) : 0)) mism++;
            /* and mutated */
            size_t cap = len + 256;
            char *m = malloc(cap);
            memcpy(m, s, len + 1);
            size_t ml = mutate(m, len, cap);
            if (!same_bytes(m, ml, form, hint, &x, 0)) mism++;
            free(m);
        }
        free(s);
        json_decref(lead);
        json_decref(form);
        json_decref(hint);
    }
    /* Mutated texts of the table's leads. */
    json_t *form = json_loads(form_json, 0, NULL);
    meta_rec_ctx x = {"fb-acme", "webhook", "123123123", 1795943702113};
    for (long i = 0; i < n; i++) {
        char b[4096];
        const char *s = rn(2) ? lead_json : bench_lead;
        size_t len = strlen(s);
        memcpy(b, s, len + 1);
        len = mutate(b, len, sizeof b);
        if (!same_bytes(b, len, rn(2) ? form : NULL, NULL, &x, 0)) mism++;
    }
    json_decref(form);
    printf("bytes: %ld bodies compared (%ld without Jansson), %ld not proven, %ld mismatches\n",
           bytes_compared, bytes_fast, bytes_skipped, mism);
    CHECK(bytes_compared >= n);
}

/* ---- bench ------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(long n)
{
    json_t *lead = json_loads(bench_lead, 0, NULL), *form = json_loads(bench_form, 0, NULL);
    json_t *hint = json_loads("{\"leadgen_id\":1234567890123,\"page_id\":123123123}", 0, NULL);
    meta_rec_ctx x = {"fb-bench", "webhook", "123123123", 1795943702113};
    char id[128];
    const char *why;
    size_t a = 0, b = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        char first[META_JW_STACK];
        meta_jw w;
        meta_jw_init(&w, first, sizeof first);
        if (meta_lead_record(lead, form, hint, &x, &w, id, sizeof id, &why) &&
            !meta_jw_failed(&w))
            a += w.len;
        meta_jw_free(&w);
    }
    double t1 = now_s();
    for (long i = 0; i < n; i++) {
        json_t *r = ref_lead_record(lead, form, hint, &x, id, sizeof id, &why);
        char *s = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        b += s != NULL ? strlen(s) : 0;
        free(s);
    }
    double t2 = now_s();
    printf("%ld lead records: written %.0f ns, tree + json_dumps %.0f ns (%zu %zu bytes)\n", n,
           (t1 - t0) / (double)n * 1e9, (t2 - t1) / (double)n * 1e9, a, b);
    json_decref(lead);
    json_decref(form);
    json_decref(hint);
    return a == b ? 0 : 1;
}

/* The look ahead's step per lead, from the operation's decoded body to
 * the record text: meta_batch_op_end (json_loadb) and meta_lead_record of
 * the tree ("tree", before), or meta_batch_op_end_bytes and
 * meta_lead_record_of the kept bytes ("bytes"): reps x 50 leads of the
 * lead bench's shape (for callgrind). */
static int bench_leads(const char *how, long reps)
{
    enum { N = 50 };
    static char bodies[N][1024];
    static char ids[N][16];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "%lld", 1234567890123LL + i);
        lens[i] = (size_t)snprintf(bodies[i], sizeof bodies[i],
            "{\"id\":\"%s\",\"created_time\":\"2026-11-29T09:15:00+0000\",\"ad_id\":\"31\","
            "\"ad_name\":\"Ad 31\",\"adset_id\":\"21\",\"adset_name\":\"Set 21\","
            "\"campaign_id\":\"41\",\"campaign_name\":\"Spring\",\"form_id\":\"900\","
            "\"is_organic\":false,\"platform\":\"fb\",\"field_data\":[{\"name\":\"email\","
            "\"values\":[\"lead%s@example.com\"]},{\"name\":\"full_name\",\"values\":"
            "[\"Lead %s\"]},{\"name\":\"budget\",\"values\":[\"10k-50k\"]}],"
            "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"optin\",\"is_checked\":\"1\"}]}",
            ids[i], ids[i], ids[i]);
    }
    json_t *form = json_loads(bench_form, 0, NULL);
    json_t *hint = json_loads("{\"leadgen_id\":1234567890123,\"page_id\":123123123}", 0, NULL);
    meta_rec_ctx x = {"fb-bench", "webhook", "123123123", 1795943702113};
    bool bytes = strcmp(how, "bytes") == 0;
    size_t total = 0;
    long made = 0;
    for (long r = 0; r < reps; r++) {
        for (int i = 0; i < N; i++) {
            meta_batch_op op = {ids[i], "EAAB-token", "0"};
            meta_batch_res res = {.code = 200};
            char id[128];
            const char *why;
            char first[META_JW_STACK];
            meta_jw w;
            meta_jw_init(&w, first, sizeof first);
            bool ok;
            if (bytes) {
                if (meta_batch_op_end_bytes(&res, &op, bodies[i], lens[i]) != 1 || res.body == NULL)
                    return 1;
                meta_lead L;
                meta_lead_of_bytes(&L, (const uint8_t *)res.body, res.body_len);
                ok = meta_lead_record_of(&L, form, hint, &x, &w, id, sizeof id, &why);
                if (L.parsed != NULL) return 1;
                meta_lead_done(&L);
                free(res.body);
            } else {
                if (meta_batch_op_end(&res, &op, bodies[i], lens[i]) != 1) return 1;
                ok = meta_lead_record(res.lead, form, hint, &x, &w, id, sizeof id, &why);
                json_decref(res.lead);
            }
            made += ok;
            total += w.len;
            meta_jw_free(&w);
        }
    }
    printf("%s: %ld records of %ld x %d leads, %zu bytes\n", how, made, reps, N, total);
    json_decref(form);
    json_decref(hint);
    return made == reps * N ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "bench") == 0) return bench(atol(argv[2]));
    if (argc == 3 && (strcmp(argv[1], "bytes") == 0 || strcmp(argv[1], "tree") == 0))
        return bench_leads(argv[1], atol(argv[2]));
    /* 6 000 generated leads per differential run keep the suite's ASan
     * run to a few seconds on a busy machine; `test_meta_record N` runs
     * N (20 000 and more were run clean), and fuzz_meta_batch compares
     * the two paths on every lead it makes. */
    long n = argc == 2 ? atol(argv[1]) : 6000;
    test_writer();
    test_table();
    test_differential(n);
    test_bytes_table();
    test_bytes_differential(n);
    CHECK_DONE();
}
