/* dlq_scan.c -- the bounded, filtered walk over a tenant's dead letters
 * (see dlq_int.h). */
#include "dlq_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "sched_int.h"

#define BATCH 200

const redisReply *ch_dlq_field(const redisReply *fields, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == nl && memcmp(k->str, name, nl) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1] : NULL;
    }
    return NULL;
}

static int field_is(const redisReply *fields, const char *name, const char *want)
{
    const redisReply *v = ch_dlq_field(fields, name);
    return v && strlen(want) == v->len && memcmp(v->str, want, v->len) == 0;
}

static int filter_valid(const ch_dlq_filter *f)
{
    if (f->conn && !ch_id_valid(f->conn)) return 0;
    if (f->kind && strcmp(f->kind, "ev") != 0 && strcmp(f->kind, "dl") != 0) return 0;
    if (f->why && strcmp(f->why, "error") != 0 && strcmp(f->why, "attempts") != 0 &&
        strcmp(f->why, "poison") != 0 && strcmp(f->why, "gone") != 0)
        return 0;
    if (f->from_ms < 0 || f->to_ms < 0 || (f->to_ms && f->from_ms >= f->to_ms)) return 0;
    return 1;
}

static int matches(const ch_dlq_filter *f, const char *id, const redisReply *fields)
{
    int64_t ms = ch_stream_id_ms(id);
    if (f->from_ms && ms < f->from_ms) return 0;
    if (f->to_ms && ms >= f->to_ms) return 0;
    if (f->kind && !field_is(fields, "kind", f->kind)) return 0;
    if (f->why && !field_is(fields, "why", f->why)) return 0;
    if (f->conn) {
        /* A delivery's connection is its destination: that is what
         * failed, and where a replay sends it. */
        const char *cf = field_is(fields, "kind", "dl") ? "d" : "c";
        if (!field_is(fields, cf, f->conn)) return 0;
    }
    return 1;
}

int32_t ch_dlq_scan(const char *tenant, const ch_dlq_filter *f, int newest_first,
                    const char *cursor, ch_dlq_visit_fn visit, void *arg, char *last_id,
                    int *exhausted)
{
    static const ch_dlq_filter any = {0};
    if (!f) f = &any;
    last_id[0] = '\0';
    *exhausted = 0;
    if (!ch_id_valid(tenant) || !filter_valid(f) || (cursor && !ch_stream_id_valid(cursor)))
        return C360_EINVAL;
    char lo[48], hi[48];
    if (f->from_ms) snprintf(lo, sizeof lo, "%" PRId64 "-0", f->from_ms);
    else snprintf(lo, sizeof lo, "-");
    if (f->to_ms) snprintf(hi, sizeof hi, "(%" PRId64 "-0", f->to_ms);
    else snprintf(hi, sizeof hi, "+");
    /* The moving end: after the cursor (exclusive). */
    if (cursor) snprintf(newest_first ? hi : lo, sizeof hi, "(%s", cursor);

    char *key = ch_key_tenant(tenant, "dlq");
    int32_t st = C360_OK;
    size_t scanned = 0;
    int stop = 0;
    while (!stop && scanned < CH_DLQ_SCAN_MAX) {
        size_t want = CH_DLQ_SCAN_MAX - scanned < BATCH ? CH_DLQ_SCAN_MAX - scanned : BATCH;
        redisReply *r = newest_first
                            ? ch_rconn_command("XREVRANGE %s %s %s COUNT %d", key, hi, lo, (int)want)
                            : ch_rconn_command("XRANGE %s %s %s COUNT %d", key, lo, hi, (int)want);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
            ch_log(CH_LOG_WARN, "dlq: scan failed", "error",
                   !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                   NULL);
            if (r) freeReplyObject(r);
            st = C360_EIO;
            break;
        }
        size_t i = 0;
        for (; i < r->elements && !stop; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[1]->type != REDIS_REPLY_ARRAY || e->element[0]->len >= CH_DLQ_ID_MAX) {
                st = C360_EIO;
                stop = 1;
                break;
            }
            const char *id = e->element[0]->str;
            memcpy(last_id, id, e->element[0]->len + 1);
            scanned++;
            if (matches(f, id, e->element[1]) && visit(id, e->element[1], arg)) stop = 1;
        }
        if (st == C360_OK && !stop && r->elements < want) *exhausted = 1;
        /* Everything examined was examined to the end, and nothing is
         * after it: also exhausted when the visitor stopped on the very
         * last entry of a short batch. */
        if (st == C360_OK && stop && i == r->elements && r->elements < want) *exhausted = 1;
        freeReplyObject(r);
        if (*exhausted) break;
        if (last_id[0]) snprintf(newest_first ? hi : lo, sizeof hi, "(%s", last_id);
    }
    free(key);
    return st;
}
