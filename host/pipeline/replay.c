/* replay.c -- raw-event replay by time range (see replay.h). */
#include "replay.h"

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
#include "sched_lua.h"

/* Entries per script call: raw bodies reach 1 MiB, and one script holds
 * its whole batch in Lua memory and blocks Redis while it runs. */
#define BATCH 50

/* KEYS: ev. ARGV: start (inclusive id or "(id"), end, connection ('' =
 * any), count to examine, most to re-add. Re-adds the k=wh entries as
 * k=replay items. Replies {re-added, examined, last examined id or ''}. */
static ch_script raw_script = CH_SCRIPT(
    CH_LUA_ENSURE_GROUP
    "local es = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[4]))\n"
    "local budget = tonumber(ARGV[5])\n"
    "local n, seen, last = 0, 0, ''\n"
    "local keep = {c = true, p = true, t = true, h = true, b = true, rid = true}\n"
    "for _, e in ipairs(es) do\n"
    "  if n >= budget then break end\n"
    "  seen = seen + 1\n"
    "  last = e[1]\n"
    "  local f = e[2]\n"
    "  local v = {}\n"
    "  for i = 1, #f, 2 do v[f[i]] = f[i + 1] end\n"
    "  if v['k'] == 'wh' and (ARGV[3] == '' or v['c'] == ARGV[3]) then\n"
    "    local args = {'k', 'replay'}\n"
    "    for i = 1, #f, 2 do\n"
    "      if keep[f[i]] then\n"
    "        args[#args + 1] = f[i]\n"
    "        args[#args + 1] = f[i + 1]\n"
    "      end\n"
    "    end\n"
    "    args[#args + 1] = 'a'\n"
    "    args[#args + 1] = '1'\n"
    "    if n == 0 then ensure_group(KEYS[1]) end\n"
    "    redis.call('XADD', KEYS[1], '*', unpack(args))\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return {n, seen, last}\n");

int32_t ch_replay_raw(const char *tenant, const ch_replay_range *rg, uint32_t limit,
                      size_t *replayed, char *next_cursor)
{
    *replayed = 0;
    next_cursor[0] = '\0';
    if (!ch_id_valid(tenant) || !rg || (rg->conn && !ch_id_valid(rg->conn)) ||
        rg->from_ms < 0 || rg->to_ms < 0 || (rg->to_ms && rg->from_ms >= rg->to_ms) ||
        (rg->cursor && !ch_stream_id_valid(rg->cursor)) || limit > CH_REPLAY_LIMIT_MAX)
        return C360_EINVAL;
    if (!limit) limit = 1000;
    char lo[48], hi[48];
    if (rg->cursor) snprintf(lo, sizeof lo, "(%s", rg->cursor);
    else snprintf(lo, sizeof lo, "%" PRId64 "-0", rg->from_ms);
    if (rg->to_ms) snprintf(hi, sizeof hi, "(%" PRId64 "-0", rg->to_ms);
    else snprintf(hi, sizeof hi, "+");
    char *key = ch_key_tenant(tenant, "ev");
    char count[16];
    snprintf(count, sizeof count, "%d", BATCH);
    size_t scanned = 0;
    int32_t st = C360_OK;
    int exhausted = 0;
    char last[CH_DLQ_ID_MAX] = "";
    while (*replayed < limit && scanned < CH_REPLAY_SCAN_MAX) {
        char budget[24];
        snprintf(budget, sizeof budget, "%zu", (size_t)limit - *replayed);
        const char *argv[] = {key, lo, hi, rg->conn ? rg->conn : "", count, budget};
        redisReply *r = ch_rconn_eval(&raw_script, 1, 6, argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER ||
            r->element[2]->type != REDIS_REPLY_STRING || r->element[2]->len >= CH_DLQ_ID_MAX) {
            if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
            ch_log(CH_LOG_WARN, "replay: redis step failed", "error",
                   !r ? ch_rconn_error()
                      : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                   NULL);
            if (r) freeReplyObject(r);
            st = C360_EIO;
            break;
        }
        size_t n = (size_t)r->element[0]->integer, seen = (size_t)r->element[1]->integer;
        *replayed += n;
        scanned += seen;
        if (seen) {
            memcpy(last, r->element[2]->str, r->element[2]->len + 1);
            snprintf(lo, sizeof lo, "(%s", last);
        }
        /* A short batch that the budget did not cut: the range is done. */
        int done = seen < BATCH && *replayed < limit;
        freeReplyObject(r);
        if (done) {
            exhausted = 1;
            break;
        }
    }
    free(key);
    if (*replayed) {
        ch_metrics_inc(CH_M_REPLAYED, *replayed);
        ch_sched_wake(&tenant, 1);
    }
    if (st == C360_OK && !exhausted) snprintf(next_cursor, CH_DLQ_ID_MAX, "%s", last);
    return st;
}
