/* maint_retention.c -- per-tenant retention (see maint_retention.h). */
#include "maint_retention.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "sched_lua.h"

#define DAY_MS 86400000LL
#define REGISTRY "c360:{idx}:tenant-registry"
/* Entries of the node that straddles the cutoff, at most: the exact trim
 * runs only when the approximate one stopped this far short of the budget
 * (Redis's stream-node-max-entries is 100 by default). */
#define NODE_MAX 1000

/* KEYS: stream. ARGV: cutoff ms, budget, keep-needed (1: a work stream),
 * NODE_MAX.
 * For a work stream the bound is lowered to the oldest entry any group
 * still needs (its oldest pending one, its first unread one), and a stream
 * no group reads is left alone, exactly as maint_trim.c. Replies
 * {removed, more}. */
static ch_script s_trim = CH_SCRIPT(
    CH_LUA_ID_LT
    "local bound = ARGV[1] .. '-0'\n"
    "local budget = tonumber(ARGV[2])\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end\n"
    "if ARGV[3] == '1' then\n"
    "  local gs = redis.pcall('XINFO', 'GROUPS', KEYS[1])\n"
    "  if type(gs) ~= 'table' or gs.err or #gs == 0 then return {0, 0} end\n"
    "  for _, x in ipairs(gs) do\n"
    "    local f = {}\n"
    "    for i = 1, #x, 2 do f[x[i]] = x[i + 1] end\n"
    "    if (tonumber(f['pending']) or 0) > 0 then\n"
    "      local s = redis.call('XPENDING', KEYS[1], f['name'])\n"
    "      if s[2] and id_lt(s[2], bound) then bound = s[2] end\n"
    "    end\n"
    "    local nxt = redis.call('XRANGE', KEYS[1], '(' .. f['last-delivered-id'], '+', 'COUNT', 1)\n"
    "    if #nxt > 0 and id_lt(nxt[1][1], bound) then bound = nxt[1][1] end\n"
    "  end\n"
    "end\n"
    "local n = redis.call('XTRIM', KEYS[1], 'MINID', '~', bound, 'LIMIT', budget)\n"
    "if n + tonumber(ARGV[4]) > budget then\n"
    "  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)\n"
    "  if #first > 0 and id_lt(first[1][1], bound) then return {n, 1} end\n"
    "  return {n, 0}\n"
    "end\n"
    /* The approximate trim was not cut short: what is left below the
     * bound is in the one node that straddles it. */
    "n = n + redis.call('XTRIM', KEYS[1], 'MINID', bound)\n"
    "return {n, 0}\n");

long ch_retention_days(const char *tenant)
{
    if (!ch_id_valid(tenant)) return 0;
    char *k = ch_key_tenant(tenant, "tenant");
    redisReply *r = ch_rconn_command("HMGET %s retention_days deleting", k);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        if (r) freeReplyObject(r);
        return -1;
    }
    long days = 0;
    if (r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type != REDIS_REPLY_STRING) {
        char *end;
        long v = strtol(r->element[0]->str, &end, 10);
        if (!*end && v > 0 && v <= 36500) days = v;
    }
    freeReplyObject(r);
    return days;
}

int64_t ch_retention_cutoff(const char *tenant, int64_t now_ms, int64_t dflt_cutoff)
{
    long days = ch_retention_days(tenant);
    return days > 0 ? now_ms - (int64_t)days * DAY_MS : dflt_cutoff;
}

typedef struct sweep {
    const char *tenant;
    char cutoff[24], budget[24], node[16];
    uint64_t removed;
    int more;
    int failed;
} sweep;

static void trim(sweep *s, const char *key, int work)
{
    const char *argv[] = {key, s->cutoff, s->budget, work ? "1" : "0", s->node};
    redisReply *r = ch_rconn_eval(&s_trim, 1, 5, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        else if (r->type == REDIS_REPLY_ERROR)
            ch_log(CH_LOG_WARN, "retention: trim failed", "tenant", s->tenant, "error", r->str,
                   NULL);
        s->failed = 1;
    } else {
        if (r->element[0]->integer > 0) s->removed += (uint64_t)r->element[0]->integer;
        if (r->element[1]->integer) s->more = 1;
    }
    if (r) freeReplyObject(r);
}

static void trim_suffix(sweep *s, const char *suffix, int work)
{
    char *k = ch_key_tenant(s->tenant, "%s", suffix);
    trim(s, k, work);
    free(k);
}

int32_t ch_retention_sweep_tenant(const char *tenant, int64_t cutoff_ms, size_t budget,
                                  uint64_t *removed, int *more)
{
    if (removed) *removed = 0;
    if (more) *more = 0;
    if (!ch_id_valid(tenant) || cutoff_ms <= 0) return C360_EINVAL;
    sweep s = {.tenant = tenant};
    snprintf(s.cutoff, sizeof s.cutoff, "%" PRId64, cutoff_ms);
    /* Below two nodes' worth the exact step could never run. */
    if (!budget) budget = CH_RETENTION_BUDGET;
    if (budget < 2 * NODE_MAX) budget = 2 * NODE_MAX;
    snprintf(s.budget, sizeof s.budget, "%zu", budget);
    snprintf(s.node, sizeof s.node, "%d", NODE_MAX);
    trim_suffix(&s, "ev", 1);
    trim_suffix(&s, "dl", 1);
    trim_suffix(&s, "dlq", 0);
    trim_suffix(&s, "notify:log", 0);
    trim_suffix(&s, "notify:q", 0);
    /* Per connection: the tenant's set, a page at a time. */
    char *set = ch_key_tenant(tenant, "conns");
    char cursor[24] = "0";
    do {
        redisReply *r = ch_rconn_command("SSCAN %s %s COUNT 200", set, cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor) {
            if (r) freeReplyObject(r);
            s.failed = 1;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *m = r->element[1];
        for (size_t i = 0; i < m->elements; i++) {
            const char *c = m->element[i]->str;
            if (m->element[i]->type != REDIS_REPLY_STRING || !ch_id_valid(c)) continue;
            char *k = ch_key_tenant(tenant, "dlog:%s", c);
            trim(&s, k, 0);
            free(k);
            k = ch_key_tenant(tenant, "synclog:%s", c);
            trim(&s, k, 0);
            free(k);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(set);
    if (removed) *removed = s.removed;
    if (more) *more = s.more;
    return s.failed ? C360_EIO : C360_OK;
}

void ch_retention_pass_start(ch_retention_pass *p)
{
    memset(p, 0, sizeof *p);
    p->active = 1;
    snprintf(p->cursor, sizeof p->cursor, "0");
}

void ch_retention_pass_page(ch_retention_pass *p, int64_t now_ms)
{
    redisReply *r = ch_rconn_command("SSCAN %s %s COUNT 100", REGISTRY, p->cursor);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof p->cursor) {
        if (r) freeReplyObject(r);
        p->active = 0;
        return;
    }
    snprintf(p->cursor, sizeof p->cursor, "%s", r->element[0]->str);
    const redisReply *m = r->element[1];
    for (size_t i = 0; i < m->elements; i++) {
        const char *t = m->element[i]->str;
        if (m->element[i]->type != REDIS_REPLY_STRING || !ch_id_valid(t)) continue;
        long days = ch_retention_days(t);
        if (days <= 0) continue;
        uint64_t n = 0;
        if (ch_retention_sweep_tenant(t, now_ms - (int64_t)days * DAY_MS, 0, &n, NULL) == C360_OK)
            p->swept++;
        p->removed += n;
    }
    freeReplyObject(r);
    if (strcmp(p->cursor, "0") == 0) {
        p->active = 0;
        char buf[24], sw[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)p->removed);
        snprintf(sw, sizeof sw, "%zu", p->swept);
        ch_log(CH_LOG_INFO, "maint: tenant retention sweep done", "tenants", sw, "entries_removed",
               buf, NULL);
    }
}
