/* audit_list.c -- queries over a tenant's audit log, newest first, in
 * pages with a cursor (for `c360-audit list` and the admin API). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "audit_entry.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"

#define PAGE 200
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000
/* Entries one call may look at, matching or not: bounds its cost. */
#define SCAN_BUDGET 10000
/* Entries are in append order, and their times come from several hosts'
 * clocks. Once an entry is this much older than `since`, nothing further
 * back can match. */
#define SKEW_MS (10 * 60 * 1000)

static int matches(const ch_audit_rec *r, const ch_audit_query *q)
{
    if (q->actor && strcmp(r->actor, q->actor) != 0) return 0;
    if (q->action && strcmp(r->action, q->action) != 0) return 0;
    if (q->since_ms && r->ts < q->since_ms) return 0;
    if (q->until_ms && r->ts >= q->until_ms) return 0;
    return 1;
}

static long long llen(const char *klog)
{
    redisReply *r = ch_rconn_command("LLEN %s", klog);
    if (!r) return -2;
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* The seq of the oldest kept entry (0 if it cannot be read). */
static int first_seq(const char *klog, uint64_t *seq)
{
    redisReply *r = ch_rconn_command("LINDEX %s 0", klog);
    if (!r) return -2;
    *seq = 0;
    if (r->type == REDIS_REPLY_STRING) {
        ch_audit_rec rec;
        char why[128];
        if (ch_audit_rec_parse(r->str, r->len, &rec, why, sizeof why) == 0) *seq = rec.seq;
    }
    freeReplyObject(r);
    return 0;
}

int32_t ch_audit_list(const char *tenant, const ch_audit_query *q, json_t **entries,
                      uint64_t *next_cursor)
{
    *entries = NULL;
    *next_cursor = 0;
    ch_audit_query dq = {0};
    if (!q) q = &dq;
    if (!ch_id_valid(tenant) || (q->actor && !ch_audit_field_valid(q->actor, 0)) ||
        (q->action && !ch_audit_field_valid(q->action, 0)) || q->limit > MAX_LIMIT)
        return C360_EINVAL;
    uint32_t limit = q->limit ? q->limit : DEFAULT_LIMIT;
    char *klog = ch_audit_key(tenant, "log");
    int32_t st = C360_EIO;
    json_t *out = json_array();

    long long len = llen(klog);
    if (len < 0) goto done;
    st = C360_OK;
    if (len == 0) goto done;
    /* Where to start: entries are stored oldest first with contiguous
     * seqs, so the cursor maps to an index. A damaged log may break that;
     * the seq check below keeps the page right, only the start may be a
     * little further back than needed. */
    long long hi = len - 1;
    if (q->cursor) {
        uint64_t first;
        if (first_seq(klog, &first) < 0) { st = C360_EIO; goto done; }
        if (first && q->cursor <= first) goto done;
        if (first && q->cursor - first - 1 < (uint64_t)hi) hi = (long long)(q->cursor - first - 1);
    }
    uint64_t scanned = 0;
    int finished = 0;
    while (hi >= 0 && !finished) {
        long long lo = hi - PAGE + 1 < 0 ? 0 : hi - PAGE + 1;
        redisReply *r = ch_rconn_command("LRANGE %s %lld %lld", klog, lo, hi);
        if (!r) { st = C360_EIO; goto done; }
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            st = C360_ERROR;
            goto done;
        }
        for (size_t i = r->elements; i-- > 0;) {
            redisReply *el = r->element[i];
            ch_audit_rec rec;
            char why[128];
            if (el->type != REDIS_REPLY_STRING ||
                ch_audit_rec_parse(el->str, el->len, &rec, why, sizeof why) < 0)
                continue; /* verify names damaged entries; a listing skips them */
            if (q->cursor && rec.seq >= q->cursor) continue;
            if (q->since_ms && rec.ts < q->since_ms - SKEW_MS) {
                /* Everything further back is older still. */
                finished = 1;
                break;
            }
            if (matches(&rec, q)) {
                json_array_append_new(out, ch_audit_rec_json(&rec));
                if (json_array_size(out) >= limit) {
                    *next_cursor = rec.seq;
                    finished = 1;
                    break;
                }
            }
            if (++scanned >= SCAN_BUDGET) {
                *next_cursor = rec.seq;
                finished = 1;
                break;
            }
        }
        freeReplyObject(r);
        hi = lo - 1;
    }
done:
    free(klog);
    if (st != C360_OK) {
        json_decref(out);
        if (st == C360_EIO)
            ch_log(CH_LOG_WARN, "audit: redis unavailable", "op", "list", "error", ch_rconn_error(), NULL);
        return st;
    }
    *entries = out;
    return C360_OK;
}
