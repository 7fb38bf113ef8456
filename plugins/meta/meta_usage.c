/* meta_usage.c -- what a Graph API answer says about limits and errors.
 *
 * Usage headers (providers.md, Meta; JSON in a header, percentages,
 * throttled at 100):
 *   X-App-Usage                {"call_count":28,"total_cputime":25,"total_time":25}
 *   X-Page-Usage               the same shape, for a page token
 *   X-Business-Use-Case-Usage  {"<object id>":[{"type":..,"call_count":..,
 *                               "total_cputime":..,"total_time":..,
 *                               "estimated_time_to_regain_access":<minutes>}]}
 *   X-Ad-Account-Usage         {"acc_id_util_pct":9.67,"reset_time_duration":<s>}
 * The plugin reads them itself (rather than host->ratelimit_feed_response
 * on one bucket) so that each goes to the budget it is about: the app's,
 * or the page's / ad account's (meta_graph.c).
 *
 * Errors: {"error":{"message","type","code","error_subcode","is_transient",
 * "fbtrace_id"}}. Throttling: 4 (app), 17 (user), 32 (page), 613 (custom),
 * 80000-80008 (business use cases); 190: the token is dead; 100 with
 * "Invalid appsecret_proof": the app secret was rotated. Pure and
 * bounded: a malformed header or body is ignored, never an error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define HEADER_MAX 8192

static int pct_of(const json_t *v)
{
    double d = -1;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else if (!json_is_string(v) || json_string_length(v) >= 16 ||
             sscanf(json_string_value(v), "%lf", &d) != 1)
        return -1;
    if (!(d >= 0) || !isfinite(d)) return -1;
    if (d > 1000) d = 1000;
    return (int)ceil(d);
}

/* The highest of call_count, total_cputime, total_time; -1 if none. */
static int usage_max(const json_t *o)
{
    static const char *const k[] = {"call_count", "total_cputime", "total_time"};
    int best = -1;
    for (size_t i = 0; i < 3; i++) {
        int p = pct_of(json_object_get(o, k[i]));
        if (p > best) best = p;
    }
    return best;
}

static json_t *header_json(const char *value)
{
    if (value == NULL || strlen(value) > HEADER_MAX) return NULL;
    json_t *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static uint32_t minutes_ms(const json_t *v)
{
    int m = pct_of(v); /* the same reading: a non-negative number */
    if (m <= 0) return 0;
    if (m > 1440) m = 1440;
    return (uint32_t)m * 60000u;
}

void meta_usage_parse(const c360_header *h, size_t n, meta_usage *u)
{
    memset(u, 0, sizeof *u);
    u->app_pct = u->page_pct = u->ad_pct = -1;
    for (size_t i = 0; i < n && i < 1024; i++) {
        const char *name = h[i].name;
        if (name == NULL) continue;
        if (strcmp(name, "x-app-usage") == 0 || strcmp(name, "x-page-usage") == 0) {
            json_t *j = header_json(h[i].value);
            int p = j != NULL ? usage_max(j) : -1;
            int *slot = name[2] == 'a' ? &u->app_pct : &u->page_pct;
            if (p > *slot) *slot = p;
            json_decref(j);
        } else if (strcmp(name, "x-business-use-case-usage") == 0) {
            json_t *j = header_json(h[i].value);
            const char *id;
            json_t *arr;
            json_object_foreach(j, id, arr) {
                if (u->nbuc == META_USAGE_BUC_MAX) break;
                if (!meta_id_valid(id, false) || !json_is_array(arr)) continue;
                int best = -1;
                uint32_t regain = 0;
                for (size_t k = 0; k < json_array_size(arr) && k < 64; k++) {
                    const json_t *e = json_array_get(arr, k);
                    int p = usage_max(e);
                    if (p > best) best = p;
                    uint32_t r = minutes_ms(json_object_get(e, "estimated_time_to_regain_access"));
                    if (r > regain) regain = r;
                }
                if (best < 0 && regain == 0) continue;
                snprintf(u->buc[u->nbuc].id, sizeof(meta_id), "%s", id);
                u->buc[u->nbuc].pct = best;
                u->buc[u->nbuc].regain_ms = regain;
                u->nbuc++;
            }
            json_decref(j);
        } else if (strcmp(name, "x-ad-account-usage") == 0) {
            json_t *j = header_json(h[i].value);
            int p = pct_of(json_object_get(j, "acc_id_util_pct"));
            if (p > u->ad_pct) u->ad_pct = p;
            if (p >= 100) {
                int s = pct_of(json_object_get(j, "reset_time_duration"));
                if (s > 86400) s = 86400;
                if (s > 0 && (uint32_t)s * 1000u > u->ad_regain_ms)
                    u->ad_regain_ms = (uint32_t)s * 1000u;
            }
            json_decref(j);
        }
    }
}

bool meta_throttle_code(int64_t code)
{
    return code == 4 || code == 17 || code == 32 || code == 613 ||
           (code >= 80000 && code <= 80008);
}

static int64_t int_of(const json_t *v)
{
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    const char *s = json_string_value(v);
    long long x;
    if (s != NULL && strlen(s) < 20 && sscanf(s, "%lld", &x) == 1) return x;
    return 0;
}

/* Case-insensitive substring, ASCII. */
static bool has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (; *s != '\0'; s++) {
        size_t i = 0;
        while (i < n && s[i] != '\0' &&
               (s[i] | 0x20) == (w[i] | 0x20))
            i++;
        if (i == n) return true;
    }
    return false;
}

void meta_err_classify(int http_status, const char *body, size_t len,
                       const char *cut, meta_err *e)
{
    json_t *j = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    meta_err_classify_json(http_status, j, cut, e);
    json_decref(j);
}

void meta_err_classify_json(int http_status, const json_t *j, const char *cut, meta_err *e)
{
    meta_err_classify_cuts(http_status, j, &cut, cut != NULL ? 1 : 0, e);
}

void meta_err_classify_cuts(int http_status, const json_t *j, const char *const *cuts,
                            size_t ncuts, meta_err *e)
{
    memset(e, 0, sizeof *e);
    e->http_status = http_status;
    const json_t *err = json_object_get(j, "error");
    if (http_status >= 200 && http_status < 300 && !json_is_object(err)) {
        e->cls = META_ERR_NONE;
        return;
    }
    bool transient = false;
    if (json_is_object(err)) {
        e->code = int_of(json_object_get(err, "code"));
        e->subcode = int_of(json_object_get(err, "error_subcode"));
        transient = json_is_true(json_object_get(err, "is_transient"));
        c360kit_excerpt_cuts(meta_str(err, "message"), cuts, ncuts, e->msg, sizeof e->msg);
    } else if (json_is_string(err)) {
        c360kit_excerpt_cuts(json_string_value(err), cuts, ncuts, e->msg, sizeof e->msg);
    }
    if (e->msg[0] == '\0') snprintf(e->msg, sizeof e->msg, "HTTP %d", http_status);
    if (meta_throttle_code(e->code) || http_status == 429)
        e->cls = META_ERR_THROTTLE;
    else if (e->code == 190)
        e->cls = META_ERR_AUTH;
    else if (e->code == 100 && has_word(e->msg, "appsecret_proof"))
        /* Signed with a secret Meta no longer has: the operator rotated
         * it and this connection still holds the old one until it is
         * reopened. Not the request's fault: retried. */
        e->cls = META_ERR_PROOF;
    else if (transient || e->code == 1 || e->code == 2 || http_status >= 500 ||
             http_status == 408)
        e->cls = META_ERR_TRANSIENT;
    else
        e->cls = META_ERR_PERMANENT;
}

/* ---- the reports an answer calls for -------------------------------------- */

/* r merged into the entry of its bucket in v[0..*n), or added when there
 * is room for cap; false if not. */
static bool merge_into(meta_report *v, size_t *n, size_t cap, const meta_report *r)
{
    for (size_t i = 0; i < *n; i++) {
        if (v[i].app != r->app || (!r->app && strcmp(v[i].id, r->id) != 0)) continue;
        if (r->pct > v[i].pct) v[i].pct = r->pct;
        if (r->pause_ms > v[i].pause_ms) v[i].pause_ms = r->pause_ms;
        return true;
    }
    if (*n == cap) return false;
    v[(*n)++] = *r;
    return true;
}

static void add(meta_report *out, size_t *n, bool app, const char *id, int pct, uint32_t pause)
{
    /* Nothing said about the bucket: no report (as no header). */
    if (pct < 0 && pause == 0) return;
    if (!app && (id == NULL || id[0] == '\0' || strlen(id) > META_ID_MAX)) return;
    meta_report r = {.app = app, .pct = pct, .pause_ms = pause};
    if (!app) snprintf(r.id, sizeof r.id, "%s", id);
    /* Never full: an answer names at most META_ANSWER_REPORTS buckets. */
    merge_into(out, n, META_ANSWER_REPORTS, &r);
}

size_t meta_answer_reports(const meta_usage *u, const meta_err *e, const char *object,
                           uint32_t min_pause_ms, meta_report *out, uint32_t *wait)
{
    size_t n = 0;
    uint32_t regain = u->ad_regain_ms;
    if (wait != NULL) *wait = 0;
    add(out, &n, true, NULL, u->app_pct, 0);
    if (object != NULL)
        add(out, &n, false, object, u->page_pct > u->ad_pct ? u->page_pct : u->ad_pct,
            u->ad_regain_ms);
    for (size_t i = 0; i < u->nbuc && i < META_USAGE_BUC_MAX; i++) {
        add(out, &n, false, u->buc[i].id, u->buc[i].pct, u->buc[i].regain_ms);
        if (u->buc[i].regain_ms > regain) regain = u->buc[i].regain_ms;
    }
    if (e != NULL && e->cls == META_ERR_THROTTLE) {
        uint32_t w = regain > min_pause_ms ? regain : min_pause_ms;
        /* Code 4 is the app's own limit; the others are the page's, the
         * user's or a business use case's. */
        bool app = e->code == 4 || object == NULL;
        add(out, &n, app, object, 100, w);
        if (wait != NULL) *wait = w;
    }
    return n;
}

bool meta_reports_merge(meta_reports *a, const meta_report *r)
{
    return merge_into(a->v, &a->n, META_REPORTS_MAX, r);
}
