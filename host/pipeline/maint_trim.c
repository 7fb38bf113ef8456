/* maint_trim.c -- retention of raw events and finished deliveries. */
#include "maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "sched_lua.h"

/* KEYS: one stream. ARGV: cutoff ms. The trim bound is the cutoff, lowered
 * to the oldest entry any consumer group still needs: its oldest pending
 * entry (being worked on, or waiting for a retry) and its first entry not
 * yet read. XTRIM MINID removes only ids below the bound, so those
 * entries and everything after them stay. A stream without groups is left
 * alone: nobody has read it, so nothing in it is done. Replies the number
 * of entries removed. */
static ch_script trim_script = CH_SCRIPT(
    CH_LUA_ID_LT
    "local gs = redis.pcall('XINFO', 'GROUPS', KEYS[1])\n"
    "if type(gs) ~= 'table' or gs.err or #gs == 0 then return 0 end\n"
    "local bound = ARGV[1] .. '-0'\n"
    "for _, x in ipairs(gs) do\n"
    "  local f = {}\n"
    "  for i = 1, #x, 2 do f[x[i]] = x[i + 1] end\n"
    "  if (tonumber(f['pending']) or 0) > 0 then\n"
    "    local s = redis.call('XPENDING', KEYS[1], f['name'])\n"
    "    if s[2] and id_lt(s[2], bound) then bound = s[2] end\n"
    "  end\n"
    "  local nxt = redis.call('XRANGE', KEYS[1], '(' .. f['last-delivered-id'], '+', 'COUNT', 1)\n"
    "  if #nxt > 0 and id_lt(nxt[1][1], bound) then bound = nxt[1][1] end\n"
    "end\n"
    "return redis.call('XTRIM', KEYS[1], 'MINID', '~', bound)\n");

int32_t ch_maint_trim_tenant(const char *tenant, int64_t older_than_ms, uint64_t *removed)
{
    if (removed) *removed = 0;
    if (!ch_id_valid(tenant) || older_than_ms < 0) return C360_EINVAL;
    char cutoff[24];
    snprintf(cutoff, sizeof cutoff, "%" PRId64, older_than_ms);
    static const char *const streams[] = {"ev", "dl"};
    for (size_t i = 0; i < 2; i++) {
        char *key = ch_key_tenant(tenant, "%s", streams[i]);
        const char *argv[] = {key, cutoff};
        redisReply *r = ch_rconn_eval(&trim_script, 1, 2, argv, NULL);
        free(key);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
            else if (r->type == REDIS_REPLY_ERROR)
                ch_log(CH_LOG_WARN, "maint: trim failed", "tenant", tenant, "error", r->str, NULL);
            if (r) freeReplyObject(r);
            return C360_EIO;
        }
        if (removed && r->integer > 0) *removed += (uint64_t)r->integer;
        freeReplyObject(r);
    }
    return C360_OK;
}
