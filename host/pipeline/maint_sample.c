/* maint_sample.c -- the queue gauges of /metrics: depth, pending and lag of
 * every tenant's work streams, summed (lags: the maximum). */
#include "maint.h"

#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "maint_int.h"
#include "rconn.h"
#include "util.h"

#define TENANTS_KEY "c360:{idx}:tenants"

int32_t ch_maint_tenants_page(char *cursor, char ***tenants, size_t *n, int *done)
{
    *tenants = NULL;
    *n = 0;
    *done = 0;
    redisReply *r = ch_rconn_command("SSCAN %s %s COUNT %d", TENANTS_KEY, cursor, CH_MAINT_PAGE);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->len >= CH_MAINT_CURSOR_MAX) {
        if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
    *done = strcmp(cursor, "0") == 0;
    redisReply *m = r->element[1];
    char **out = ch_calloc(m->elements ? m->elements : 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < m->elements; i++) {
        /* Only ids that can name keys: a stray member must not make us
         * build a key outside its tenant's slot. */
        if (m->element[i]->type == REDIS_REPLY_STRING && ch_id_valid(m->element[i]->str))
            out[k++] = ch_strdup(m->element[i]->str);
    }
    freeReplyObject(r);
    *tenants = out;
    *n = k;
    return C360_OK;
}

void ch_maint_tenants_free(char **tenants, size_t n)
{
    for (size_t i = 0; i < n; i++) free(tenants[i]);
    free(tenants);
}

/* KEYS: ev, dl, dlq. Replies {ev depth, ev pending, ev lag ms, dl depth,
 * dl pending, dl lag ms, dlq length}. Depth = entries the group has not
 * read (its lag; counted by hand, bounded, when Redis cannot tell) plus
 * pending ones. Lag ms = the Redis clock minus the time of the oldest
 * pending or unread entry. */
static ch_script sample_script = CH_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function ms(id) return tonumber(string.match(id, '^(%d+)')) end\n"
    "local function stats(key)\n"
    "  local gs = redis.pcall('XINFO', 'GROUPS', key)\n"
    "  if type(gs) ~= 'table' or gs.err then return 0, 0, 0 end\n"
    "  local g = nil\n"
    "  for _, x in ipairs(gs) do\n"
    "    local f = {}\n"
    "    for i = 1, #x, 2 do f[x[i]] = x[i + 1] end\n"
    "    if f['name'] == 'w' then g = f end\n"
    "  end\n"
    "  local oldest = nil\n"
    "  if not g then\n"
    "    local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)\n"
    "    if #first > 0 then oldest = ms(first[1][1]) end\n"
    "    return redis.call('XLEN', key), 0, oldest and (now - oldest) or 0\n"
    "  end\n"
    "  local pending = tonumber(g['pending']) or 0\n"
    "  if pending > 0 then\n"
    "    local s = redis.call('XPENDING', key, 'w')\n"
    "    if s[2] then oldest = ms(s[2]) end\n"
    "  end\n"
    "  local last = g['last-delivered-id']\n"
    "  local nxt = redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', 1)\n"
    "  if #nxt > 0 then\n"
    "    local m = ms(nxt[1][1])\n"
    "    if not oldest or m < oldest then oldest = m end\n"
    "  end\n"
    "  local lag = tonumber(g['lag'] or '')\n"
    "  if not lag then\n"
    /* Redis cannot tell after deletions; count up to 1000 by hand. */
    "    lag = #redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', 1000)\n"
    "  end\n"
    "  local age = 0\n"
    "  if oldest and now > oldest then age = now - oldest end\n"
    "  return lag + pending, pending, age\n"
    "end\n"
    "local a, b, c = stats(KEYS[1])\n"
    "local d, e, f = stats(KEYS[2])\n"
    "local q = redis.pcall('XLEN', KEYS[3])\n"
    "if type(q) ~= 'number' then q = 0 end\n"
    "return {a, b, c, d, e, f, q}\n");

int32_t ch_maint_sample_tenant(const char *tenant, ch_metrics_gauges *acc)
{
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    char *kev = ch_key_tenant(tenant, "ev");
    char *kdl = ch_key_tenant(tenant, "dl");
    char *kdlq = ch_key_tenant(tenant, "dlq");
    const char *argv[] = {kev, kdl, kdlq};
    redisReply *r = ch_rconn_eval(&sample_script, 3, 3, argv, NULL);
    free(kev);
    free(kdl);
    free(kdlq);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 7;
    for (size_t i = 0; ok && i < 7; i++) ok = r->element[i]->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        else if (r->type == REDIS_REPLY_ERROR)
            ch_log(CH_LOG_WARN, "maint: sample failed", "tenant", tenant, "error", r->str, NULL);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    long long v[7];
    for (int i = 0; i < 7; i++) v[i] = r->element[i]->integer;
    freeReplyObject(r);
    acc->ev_depth += v[0];
    acc->ev_pending += v[1];
    if (v[2] > acc->ev_lag_ms) acc->ev_lag_ms = v[2];
    acc->dl_depth += v[3];
    acc->dl_pending += v[4];
    if (v[5] > acc->dl_lag_ms) acc->dl_lag_ms = v[5];
    acc->dlq_len += v[6];
    acc->tenants++;
    return C360_OK;
}

int32_t ch_maint_sample(ch_metrics_gauges *out)
{
    memset(out, 0, sizeof *out);
    char cursor[CH_MAINT_CURSOR_MAX] = "0";
    int done = 0;
    while (!done) {
        char **ts;
        size_t n;
        if (ch_maint_tenants_page(cursor, &ts, &n, &done) != C360_OK) return C360_EIO;
        for (size_t i = 0; i < n; i++) ch_maint_sample_tenant(ts[i], out);
        ch_maint_tenants_free(ts, n);
    }
    out->sampled_at_ms = ch_now_ms();
    return C360_OK;
}
