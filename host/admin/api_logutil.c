/* api_logutil.c -- see api_logutil.h. */
#include "api_logutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "sched_int.h" /* ch_stream_id_valid, ch_stream_id_ms */

#define BATCH 200

void ch_alog_invalid(ch_actx *x, const char *path, const char *msg)
{
    ch_aerr_details(x, 422, "validation", msg,
                    json_pack("[{s:s, s:s}]", "path", path, "message", msg));
}

int ch_alog_query_range(ch_actx *x, int64_t *since_ms, int64_t *until_ms)
{
    if (ch_aquery_int(x, "since_ms", 0, INT64_MAX / 2, 0, since_ms) != 0) return -1;
    if (ch_aquery_int(x, "until_ms", 0, INT64_MAX / 2, 0, until_ms) != 0) return -1;
    if (*since_ms && *until_ms && *since_ms >= *until_ms) {
        ch_alog_invalid(x, "/until_ms", "until_ms must be greater than since_ms");
        return -1;
    }
    return 0;
}

int ch_alog_check_range(ch_actx *x, int64_t since_ms, int64_t until_ms, int64_t max_span_ms)
{
    if (since_ms < 0) {
        ch_alog_invalid(x, "/since_ms", "since_ms must be >= 0");
        return -1;
    }
    if (until_ms < 0) {
        ch_alog_invalid(x, "/until_ms", "until_ms must be >= 0");
        return -1;
    }
    if (since_ms && until_ms && since_ms >= until_ms) {
        ch_alog_invalid(x, "/until_ms", "until_ms must be greater than since_ms");
        return -1;
    }
    if (max_span_ms > 0 && until_ms - since_ms > max_span_ms) {
        char m[96];
        snprintf(m, sizeof m, "the range is longer than %lld days",
                 (long long)(max_span_ms / 86400000));
        ch_alog_invalid(x, "/until_ms", m);
        return -1;
    }
    return 0;
}

int ch_alog_body_int(ch_actx *x, json_t *body, const char *name, int64_t min, int64_t max,
                     int64_t dflt, int64_t *out)
{
    json_t *v = json_object_get(body, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    json_int_t n = json_integer_value(v);
    if (!json_is_integer(v) || n < min || n > max) {
        char path[80], m[96];
        snprintf(path, sizeof path, "/%s", name);
        snprintf(m, sizeof m, "must be an integer in [%lld, %lld]", (long long)min, (long long)max);
        ch_alog_invalid(x, path, m);
        return -1;
    }
    *out = n;
    return 0;
}

int ch_alog_stream_id_valid(const char *s)
{
    return s && strlen(s) < CH_ALOG_ID_MAX && ch_stream_id_valid(s);
}

int ch_alog_cursor(ch_actx *x, const char *cursor)
{
    if (!cursor[0] || ch_alog_stream_id_valid(cursor)) return 0;
    ch_aerr(x, 400, "bad_cursor", "cursor is not one this list handed out");
    return -1;
}

int ch_alog_conn(ch_actx *x, const char *conn)
{
    if (!x->tenant || !conn || !ch_id_valid(conn)) {
        ch_aerr(x, 404, "not_found", "connection not found");
        return -1;
    }
    char *key = ch_key_tenant(x->tenant, "conn:%s", conn);
    redisReply *r = ch_rconn_command("EXISTS %s", key);
    free(key);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (r) freeReplyObject(r);
        ch_aerr_status(x, C360_EIO, "connection");
        return -1;
    }
    long long n = r->integer;
    freeReplyObject(r);
    if (n != 1) {
        ch_aerr(x, 404, "not_found", "connection %s not found", conn);
        return -1;
    }
    return 0;
}

const redisReply *ch_alog_field(const redisReply *fields, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == nl && memcmp(k->str, name, nl) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1] : NULL;
    }
    return NULL;
}

int32_t ch_alog_stream_page(const char *key, int64_t since_ms, int64_t until_ms,
                            const char *cursor, size_t limit, ch_alog_item_fn fn, void *arg,
                            json_t **items, char *next)
{
    char hi[64], lo[64];
    next[0] = '\0';
    *items = NULL;
    if (cursor && cursor[0]) snprintf(hi, sizeof hi, "(%s", cursor);
    else if (until_ms) snprintf(hi, sizeof hi, "(%" PRId64 "-0", until_ms);
    else snprintf(hi, sizeof hi, "+");
    if (since_ms) snprintf(lo, sizeof lo, "%" PRId64 "-0", since_ms);
    else snprintf(lo, sizeof lo, "-");
    json_t *out = json_array();
    size_t scanned = 0;
    char last[CH_ALOG_ID_MAX] = "";
    int done = 0;
    while (!done) {
        size_t want = CH_ALOG_SCAN_MAX - scanned < BATCH ? CH_ALOG_SCAN_MAX - scanned : BATCH;
        redisReply *r = ch_rconn_command("XREVRANGE %s %s %s COUNT %d", key, hi, lo, (int)want);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
            ch_log(CH_LOG_WARN, "admin: stream read failed", "error",
                   !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                   NULL);
            if (r) freeReplyObject(r);
            json_decref(out);
            return C360_EIO;
        }
        size_t i = 0;
        for (; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[1]->type != REDIS_REPLY_ARRAY || e->element[0]->len >= CH_ALOG_ID_MAX)
                continue;
            const char *id = e->element[0]->str;
            memcpy(last, id, e->element[0]->len + 1);
            scanned++;
            /* A cursor from a page read with another until_ms: the range
             * still holds. */
            if (until_ms && ch_stream_id_ms(id) >= until_ms) continue;
            json_t *item = fn(id, e->element[1], arg);
            if (item) json_array_append_new(out, item);
            if (json_array_size(out) >= limit) {
                i++;
                break;
            }
        }
        int short_batch = r->elements < want;
        int rest_in_batch = i < r->elements;
        freeReplyObject(r);
        if (json_array_size(out) >= limit) {
            /* More may follow unless this was the very end of the range. */
            if (rest_in_batch || !short_batch) snprintf(next, CH_ALOG_ID_MAX, "%s", last);
            done = 1;
        } else if (short_batch) {
            done = 1; /* the range is exhausted */
        } else if (scanned >= CH_ALOG_SCAN_MAX) {
            snprintf(next, CH_ALOG_ID_MAX, "%s", last);
            done = 1;
        } else {
            snprintf(hi, sizeof hi, "(%s", last);
        }
    }
    *items = out;
    return C360_OK;
}

int ch_alog_query_words(ch_actx *x, const char *name, const char *const *words, unsigned *set)
{
    char buf[256];
    *set = 0;
    int r = ch_aquery(x, name, buf, sizeof buf);
    if (r == 0) return 0;
    if (r < 0) {
        ch_aerr(x, 400, "bad_query", "query parameter %s is malformed or too long", name);
        return -1;
    }
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        unsigned i = 0;
        while (words[i] && strcmp(words[i], w) != 0) i++;
        if (!words[i]) {
            char list[160] = "";
            for (unsigned k = 0; words[k]; k++) {
                if (k) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, words[k], sizeof list - strlen(list) - 1);
            }
            ch_aerr(x, 400, "bad_query", "query parameter %s: each value must be one of %s", name,
                    list);
            return -1;
        }
        *set |= 1u << i;
    }
    if (!*set) {
        ch_aerr(x, 400, "bad_query", "query parameter %s is empty", name);
        return -1;
    }
    return 0;
}
