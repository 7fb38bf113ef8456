/* dlq.c -- replay and discard of dead letters (see dlq.h); listing is in
 * dlq_list.c, the filtered walk in dlq_scan.c. */
#include "dlq_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "sched_int.h"
#include "sched_lua.h"
#include "util.h"

/* ids per script call: ch_rconn_eval takes at most 29 arguments (3 keys
 * + 25 ids), which also keeps each script short. */
#define CHUNK 25

/* KEYS: dlq, ev, dl. ARGV: dlq ids. Each existing entry goes back to its
 * work stream with its original fields (a = 1; kind, why, err dropped;
 * orig kept, so the item still names the entry it first was -- attempts
 * and crash counts are keyed by the new entry id and start afresh) and
 * leaves the dlq, in one step: never in both, never in neither. Replies
 * {kind, new entry id} per entry moved, flat (the admin API answers a
 * replay with the id the item now has in its work stream). */
static ch_script replay_script = CH_SCRIPT(
    CH_LUA_ENSURE_GROUP
    "local drop = {kind = true, why = true, err = true, a = true}\n"
    "local out = {}\n"
    "for _, id in ipairs(ARGV) do\n"
    "  local e = redis.call('XRANGE', KEYS[1], id, id)\n"
    "  if #e == 1 then\n"
    "    local f = e[1][2]\n"
    "    local kind\n"
    "    local args = {}\n"
    "    for i = 1, #f, 2 do\n"
    "      if f[i] == 'kind' then kind = f[i + 1] end\n"
    "      if not drop[f[i]] then\n"
    "        args[#args + 1] = f[i]\n"
    "        args[#args + 1] = f[i + 1]\n"
    "      end\n"
    "    end\n"
    "    local target = nil\n"
    "    if kind == 'ev' then target = KEYS[2] elseif kind == 'dl' then target = KEYS[3] end\n"
    /* An entry of unknown kind stays: there is nowhere right to send it,
     * and discard can still remove it. */
    "    if target then\n"
    "      ensure_group(target)\n"
    "      args[#args + 1] = 'a'\n"
    "      args[#args + 1] = '1'\n"
    "      local nid = redis.call('XADD', target, '*', unpack(args))\n"
    "      redis.call('XDEL', KEYS[1], id)\n"
    "      out[#out + 1] = kind\n"
    "      out[#out + 1] = nid\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n");

static int32_t io_error(const char *op, redisReply *r)
{
    if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
    ch_log(CH_LOG_WARN, "dlq: redis step failed", "op", op, "error",
           !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
           NULL);
    return C360_EIO;
}

/* Moves (replay) or deletes (discard) the given ids; *done gets how many.
 * first (may be NULL): where the first entry replayed went. */
static int32_t apply(const char *tenant, int replay, const char **ids, size_t n, size_t *done,
                     ch_dlq_replayed *first)
{
    *done = 0;
    if (!n) return C360_OK;
    char *kdlq = ch_key_tenant(tenant, "dlq");
    redisReply *r;
    if (replay) {
        char *kev = ch_key_tenant(tenant, "ev");
        char *kdl = ch_key_tenant(tenant, "dl");
        const char **argv = ch_calloc(n + 3, sizeof *argv);
        argv[0] = kdlq;
        argv[1] = kev;
        argv[2] = kdl;
        memcpy(argv + 3, ids, n * sizeof *ids);
        r = ch_rconn_eval(&replay_script, 3, (int)(n + 3), argv, NULL);
        free(argv);
        free(kev);
        free(kdl);
    } else {
        const char **argv = ch_calloc(n + 2, sizeof *argv);
        argv[0] = "XDEL";
        argv[1] = kdlq;
        memcpy(argv + 2, ids, n * sizeof *ids);
        r = ch_rconn_argv((int)(n + 2), argv, NULL);
        free(argv);
    }
    free(kdlq);
    int ok = r && (replay ? r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0
                          : r->type == REDIS_REPLY_INTEGER);
    for (size_t i = 0; ok && replay && i < r->elements; i++)
        ok = r->element[i]->type == REDIS_REPLY_STRING && r->element[i]->len < CH_DLQ_ID_MAX;
    if (!ok) {
        int32_t st = io_error(replay ? "replay" : "discard", r);
        if (r) freeReplyObject(r);
        return st;
    }
    if (replay) {
        *done = r->elements / 2;
        if (first && *done) {
            snprintf(first->kind, sizeof first->kind, "%s", r->element[0]->str);
            snprintf(first->queue_id, sizeof first->queue_id, "%s", r->element[1]->str);
        }
    } else {
        *done = (size_t)(r->integer > 0 ? r->integer : 0);
    }
    freeReplyObject(r);
    if (replay && *done) {
        ch_metrics_inc(CH_M_REPLAYED, *done);
        ch_sched_wake(&tenant, 1);
    }
    return C360_OK;
}

static int32_t one(const char *tenant, const char *id, int replay, ch_dlq_replayed *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!ch_id_valid(tenant) || !id || !ch_stream_id_valid(id)) return C360_EINVAL;
    size_t done;
    int32_t st = apply(tenant, replay, &id, 1, &done, out);
    if (st == C360_OK && done == 0) st = C360_ENOTFOUND;
    return st;
}

int32_t ch_dlq_replay(const char *tenant, const char *id) { return one(tenant, id, 1, NULL); }
int32_t ch_dlq_replay_one(const char *tenant, const char *id, ch_dlq_replayed *out)
{
    return one(tenant, id, 1, out);
}
int32_t ch_dlq_discard(const char *tenant, const char *id) { return one(tenant, id, 0, NULL); }

typedef struct collect {
    char (*ids)[CH_DLQ_ID_MAX];
    size_t n, limit;
} collect;

static int collect_id(const char *id, const redisReply *fields, void *arg)
{
    (void)fields;
    collect *c = arg;
    snprintf(c->ids[c->n++], CH_DLQ_ID_MAX, "%s", id);
    return c->n >= c->limit;
}

/* Oldest first: a replay of "everything" re-adds items in the order they
 * failed. The ids are gathered first, then moved in chunks: the scan never
 * walks entries that a chunk already removed. */
static int32_t by_filter(const char *tenant, const ch_dlq_filter *f, uint32_t limit, int replay,
                         size_t *count, int *more)
{
    *count = 0;
    if (more) *more = 0;
    if (limit > CH_DLQ_LIMIT_MAX) return C360_EINVAL;
    collect c = {ch_calloc(CH_DLQ_LIMIT_MAX, CH_DLQ_ID_MAX), 0, limit ? limit : CH_DLQ_LIMIT_MAX};
    char last[CH_DLQ_ID_MAX];
    int exhausted;
    int32_t st = ch_dlq_scan(tenant, f, 0, NULL, collect_id, &c, last, &exhausted);
    for (size_t i = 0; st == C360_OK && i < c.n; i += CHUNK) {
        const char *ids[CHUNK];
        size_t k = 0;
        for (; k < CHUNK && i + k < c.n; k++) ids[k] = c.ids[i + k];
        size_t done;
        st = apply(tenant, replay, ids, k, &done, NULL);
        *count += done;
    }
    free(c.ids);
    if (more) *more = st == C360_OK && !exhausted;
    return st;
}

int32_t ch_dlq_replay_filter(const char *tenant, const ch_dlq_filter *f, uint32_t limit,
                             size_t *replayed, int *more)
{
    return by_filter(tenant, f, limit, 1, replayed, more);
}

int32_t ch_dlq_discard_filter(const char *tenant, const ch_dlq_filter *f, uint32_t limit,
                              size_t *discarded, int *more)
{
    return by_filter(tenant, f, limit, 0, discarded, more);
}
