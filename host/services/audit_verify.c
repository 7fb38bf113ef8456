/* audit_verify.c -- walking a tenant's audit chain (verify) and removing
 * its oldest entries without breaking it (trim). See audit.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_entry.h"
#include "call.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"

/* Entries fetched per LRANGE: bounds the reply held in memory. */
#define PAGE 256
/* A trim or verify that keeps meeting a concurrent trim gives up. */
#define RACE_ATTEMPTS 5

#define DAY_MS 86400000LL

/* KEYS[1] anchor, KEYS[2] log; ARGV[1] expected anchor seq ("0" = none),
 * ARGV[2] expected anchor hash ("" = none), ARGV[3] how many entries to
 * remove, ARGV[4] the exact text of the last of them, ARGV[5]/ARGV[6] its
 * seq and hash (the new anchor). 0 if another trim got there first. */
static ch_script trim_script = CH_SCRIPT(
    "local a = redis.call('HMGET', KEYS[1], 'seq', 'hash')\n"
    "if (a[1] or '0') ~= ARGV[1] or (a[2] or '') ~= ARGV[2] then return 0 end\n"
    "local n = tonumber(ARGV[3])\n"
    "if redis.call('LINDEX', KEYS[2], n - 1) ~= ARGV[4] then return 0 end\n"
    "redis.call('LTRIM', KEYS[2], n, -1)\n"
    "redis.call('HSET', KEYS[1], 'seq', ARGV[5], 'hash', ARGV[6])\n"
    "return 1\n");

typedef struct walk {
    uint64_t expect_seq;                /* the seq the next entry must have */
    char prev[CH_AUDIT_HASH_HEX + 1];   /* the hash it must link to */
} walk;

/* Checks one stored entry against the walk; on success advances it and
 * fills *rec. On failure fills res (bad_seq, problem) and returns -2 if
 * the entry could not be read at all, -1 if it was read (*rec filled) but
 * does not belong where it is. */
static int check_entry(walk *w, const char *tenant, const redisReply *el, ch_audit_rec *rec,
                       ch_audit_verify_result *res)
{
    char why[160];
    if (el->type != REDIS_REPLY_STRING) {
        res->bad_seq = w->expect_seq;
        snprintf(res->problem, sizeof res->problem, "seq %" PRIu64 ": the stored entry is not a string",
                 w->expect_seq);
        return -2;
    }
    if (ch_audit_rec_parse(el->str, el->len, rec, why, sizeof why) < 0) {
        res->bad_seq = w->expect_seq;
        snprintf(res->problem, sizeof res->problem, "seq %" PRIu64 ": malformed entry: %s",
                 w->expect_seq, why);
        return -2;
    }
    if (rec->seq != w->expect_seq) {
        res->bad_seq = w->expect_seq;
        if (rec->seq > w->expect_seq)
            snprintf(res->problem, sizeof res->problem,
                     "seq %" PRIu64 " is missing: found seq %" PRIu64 " in its place (entries removed)",
                     w->expect_seq, rec->seq);
        else
            snprintf(res->problem, sizeof res->problem,
                     "seq %" PRIu64 ": found seq %" PRIu64 " in its place (entries duplicated or reordered)",
                     w->expect_seq, rec->seq);
        return -1;
    }
    char want[CH_AUDIT_HASH_HEX + 1];
    ch_audit_rec_hash(rec, want);
    res->bad_seq = rec->seq;
    if (strcmp(rec->prev, w->prev) != 0) {
        snprintf(res->problem, sizeof res->problem,
                 "seq %" PRIu64 ": prev_hash does not match the hash of the entry before it", rec->seq);
        return -1;
    }
    if (strcmp(rec->hash, want) != 0) {
        snprintf(res->problem, sizeof res->problem,
                 "seq %" PRIu64 ": hash mismatch: the entry's content was altered", rec->seq);
        return -1;
    }
    if (strcmp(rec->tenant, tenant) != 0) {
        snprintf(res->problem, sizeof res->problem,
                 "seq %" PRIu64 ": the entry belongs to another tenant", rec->seq);
        return -1;
    }
    res->bad_seq = 0;
    memcpy(w->prev, rec->hash, sizeof w->prev);
    w->expect_seq++;
    return 0;
}

static void broken(ch_audit_verify_result *res, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void broken(ch_audit_verify_result *res, uint64_t seq, const char *fmt, ...)
{
    res->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->problem, sizeof res->problem, fmt, ap);
    va_end(ap);
}

/* Starts a walk at the anchor (or the genesis). -2 Redis failed, -1 the
 * anchor is damaged (res filled), 0 fine. */
static int start_walk(const char *kanchor, walk *w, uint64_t *anchor_seq, ch_audit_verify_result *res)
{
    char h[CH_AUDIT_HASH_HEX + 1];
    int rc = ch_audit_read_mark(kanchor, anchor_seq, h);
    if (rc == -1) broken(res, 0, "the anchor (audit:anchor) is malformed");
    if (rc < 0) return rc;
    w->expect_seq = *anchor_seq + 1;
    memcpy(w->prev, *anchor_seq ? h : ch_audit_genesis, sizeof w->prev);
    return 0;
}

/* One walk from anchor to head. Returns C360_OK (res filled) or C360_EIO;
 * *anchor_moved says whether a trim ran meanwhile (then a break may be an
 * artefact of the walk, not of the log). */
static int32_t walk_once(const char *tenant, ch_audit_verify_result *res, int *anchor_moved)
{
    char *kanchor = ch_audit_key(tenant, "anchor");
    char *khead = ch_audit_key(tenant, "head");
    char *klog = ch_audit_key(tenant, "log");
    int32_t st = C360_EIO;
    walk w;
    uint64_t anchor_seq, head_seq, idx = 0;
    char head_hash[CH_AUDIT_HASH_HEX + 1];
    *anchor_moved = 0;
    memset(res, 0, sizeof *res);

    int rc = start_walk(kanchor, &w, &anchor_seq, res);
    if (rc == -2) goto out;
    st = C360_OK;
    if (rc != 0) goto out; /* -1: the anchor is damaged (res filled) */
    /* The head is read before the entries: entries appended after it are
     * beyond the walk's end, so concurrent appends never look broken. */
    rc = ch_audit_read_mark(khead, &head_seq, head_hash);
    if (rc == -2) { st = C360_EIO; goto out; }
    if (rc == -1) { broken(res, 0, "the head (audit:head) is malformed"); goto out; }
    if (head_seq == 0 && anchor_seq == 0) {
        /* Nothing was ever appended -- unless the head was deleted. */
        redisReply *r = ch_rconn_command("LLEN %s", klog);
        if (!r) { st = C360_EIO; goto out; }
        long long len = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (len != 0) {
            broken(res, 1, "the log holds entries but the head (audit:head) is missing");
            goto out;
        }
    }
    if (head_seq < anchor_seq) {
        broken(res, anchor_seq, "the head (seq %" PRIu64 ") is older than the anchor (seq %" PRIu64 ")",
               head_seq, anchor_seq);
        goto out;
    }
    while (w.expect_seq <= head_seq) {
        redisReply *r = ch_rconn_command("LRANGE %s %" PRIu64 " %" PRIu64, klog, idx, idx + PAGE - 1);
        if (!r) { st = C360_EIO; goto out; }
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            broken(res, w.expect_seq, "the log (audit:log) is not a list");
            goto out;
        }
        size_t n = r->elements;
        int bad = 0;
        for (size_t i = 0; i < n && w.expect_seq <= head_seq; i++) {
            ch_audit_rec rec;
            if (check_entry(&w, tenant, r->element[i], &rec, res) != 0) { bad = 1; break; }
            if (!res->first_seq) res->first_seq = rec.seq;
            res->last_seq = rec.seq;
            res->checked++;
        }
        freeReplyObject(r);
        if (bad) goto moved;
        if (n < PAGE) break;
        idx += n;
    }
    if (w.expect_seq <= head_seq) {
        broken(res, w.expect_seq,
               "seq %" PRIu64 " is missing: the log ends at seq %" PRIu64 " but the head says seq %" PRIu64
               " (entries removed from the end)",
               w.expect_seq, w.expect_seq - 1, head_seq);
        goto moved;
    }
    if (head_seq && head_seq > anchor_seq && strcmp(w.prev, head_hash) != 0) {
        broken(res, head_seq, "seq %" PRIu64 ": hash differs from the head's (audit:head)", head_seq);
        goto out;
    }
    if (head_seq && head_seq == anchor_seq && strcmp(w.prev, head_hash) != 0) {
        broken(res, head_seq, "the head and the anchor disagree on seq %" PRIu64, head_seq);
        goto out;
    }
    res->intact = 1;
    goto out;
moved: {
        uint64_t now_seq;
        char h[CH_AUDIT_HASH_HEX + 1];
        rc = ch_audit_read_mark(kanchor, &now_seq, h);
        if (rc == -2) st = C360_EIO;
        else *anchor_moved = rc == 0 && now_seq != anchor_seq;
    }
out:
    free(kanchor);
    free(khead);
    free(klog);
    return st;
}

int32_t ch_audit_verify(const char *tenant, ch_audit_verify_result *res)
{
    memset(res, 0, sizeof *res);
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    int32_t st = C360_OK;
    for (int attempt = 0; attempt < RACE_ATTEMPTS; attempt++) {
        int moved;
        st = walk_once(tenant, res, &moved);
        if (st != C360_OK || res->intact || !moved) break;
    }
    if (st == C360_EIO)
        ch_log(CH_LOG_WARN, "audit: redis unavailable", "op", "verify", "error", ch_rconn_error(), NULL);
    else if (!res->intact)
        ch_log(CH_LOG_ERROR, "audit: chain broken", "tenant", tenant, "problem", res->problem, NULL);
    return st;
}

/* One round of trim: at most PAGE entries. *more says whether another
 * round may find more to remove. */
static int32_t trim_round(const char *tenant, int64_t older_than_ms, uint64_t *removed, int *more)
{
    char *kanchor = ch_audit_key(tenant, "anchor");
    char *klog = ch_audit_key(tenant, "log");
    int32_t st = C360_EIO;
    redisReply *r = NULL;
    walk w;
    uint64_t anchor_seq;
    char anchor_hash[CH_AUDIT_HASH_HEX + 1];
    ch_audit_verify_result res = {0};
    *more = 0;

    int rc = ch_audit_read_mark(kanchor, &anchor_seq, anchor_hash);
    if (rc == -2) goto out;
    if (rc == -1) {
        st = C360_ERROR;
        ch_log(CH_LOG_ERROR, "audit: not trimming: the anchor is malformed", "tenant", tenant, NULL);
        goto out;
    }
    w.expect_seq = anchor_seq + 1;
    memcpy(w.prev, anchor_seq ? anchor_hash : ch_audit_genesis, sizeof w.prev);
    r = ch_rconn_command("LRANGE %s 0 %d", klog, PAGE - 1);
    if (!r) goto out;
    if (r->type != REDIS_REPLY_ARRAY) {
        st = C360_ERROR;
        goto out;
    }
    size_t k = 0;
    int bad = 0;
    ch_audit_rec rec, last = {0};
    for (; k < r->elements; k++) {
        int c = check_entry(&w, tenant, r->element[k], &rec, &res);
        /* A broken entry that is kept anyway destroys no evidence: trim
         * stops before it without complaint; verify will name it. */
        if (c != -2 && rec.ts >= older_than_ms) break;
        if (c != 0) { bad = 1; break; }
        last = rec;
    }
    st = C360_OK;
    if (k > 0) {
        char exp_seq[24], n[24], new_seq[24];
        snprintf(exp_seq, sizeof exp_seq, "%" PRIu64, anchor_seq);
        snprintf(n, sizeof n, "%zu", k);
        snprintf(new_seq, sizeof new_seq, "%" PRIu64, last.seq);
        const redisReply *lastel = r->element[k - 1];
        const char *argv[8] = {kanchor, klog, exp_seq, anchor_seq ? anchor_hash : "", n,
                               lastel->str, new_seq, last.hash};
        size_t lens[8] = {strlen(kanchor), strlen(klog), strlen(exp_seq),
                          anchor_seq ? CH_AUDIT_HASH_HEX : 0, strlen(n), lastel->len,
                          strlen(new_seq), CH_AUDIT_HASH_HEX};
        redisReply *t = ch_rconn_eval(&trim_script, 2, 8, argv, lens);
        if (!t) { st = C360_EIO; goto out; }
        long long v = t->type == REDIS_REPLY_INTEGER ? t->integer : -1;
        freeReplyObject(t);
        if (v == 1) {
            *removed += k;
            /* A full page of old entries: there may be more. */
            *more = !bad && k == r->elements && k == PAGE;
        } else if (v == 0) {
            *more = 2; /* raced another trim: read again */
        } else {
            st = C360_EIO;
        }
        if (v != 1) goto out;
    }
    if (bad) {
        /* The walk may have started from an anchor another trim has moved
         * since: then this is no break, just a stale view. */
        uint64_t now_seq;
        char h[CH_AUDIT_HASH_HEX + 1];
        if (ch_audit_read_mark(kanchor, &now_seq, h) == 0 && now_seq != last.seq &&
            now_seq != anchor_seq) {
            *more = 2;
            goto out;
        }
        st = C360_ERROR;
        ch_log(CH_LOG_ERROR, "audit: not trimming past a broken entry", "tenant", tenant, "problem",
               res.problem, NULL);
    }
out:
    if (r) freeReplyObject(r);
    free(kanchor);
    free(klog);
    return st;
}

int32_t ch_audit_trim(const char *tenant, int64_t older_than_ms, uint64_t *removed)
{
    uint64_t n = 0;
    if (removed) *removed = 0;
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    int32_t st;
    int more, races = 0;
    do {
        st = trim_round(tenant, older_than_ms, &n, &more);
        if (more == 2 && ++races >= RACE_ATTEMPTS) st = C360_ECONFLICT;
    } while (st == C360_OK && more);
    if (st == C360_EIO)
        ch_log(CH_LOG_WARN, "audit: redis unavailable", "op", "trim", "error", ch_rconn_error(), NULL);
    if (removed) *removed = n;
    if (n) {
        char c[24];
        snprintf(c, sizeof c, "%" PRIu64, n);
        ch_log(CH_LOG_INFO, "audit: trimmed", "tenant", tenant, "removed", c, NULL);
    }
    return st;
}

int32_t ch_audit_trim_retention(const char *tenant, uint64_t *removed)
{
    if (removed) *removed = 0;
    unsigned days = ch_audit_retention_days();
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    if (!days) return C360_OK;
    return ch_audit_trim(tenant, ch_now_ms() - (int64_t)days * DAY_MS, removed);
}
