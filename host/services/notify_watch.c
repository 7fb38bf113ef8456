/* notify_watch.c -- the two emitters that poll: dead letters growing (per
 * tenant with an endpoint) and refresh tokens nearing their expiry (one
 * SCAN pass over the OAuth metadata). See notify.h. */
#include "notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

#define INCR_MAX "5000"      /* new dead letters counted per look */
#define RECOUNT_MAX "20000"  /* entries a full recount examines */

/* KEYS: config, dlq, dlc. ARGV: max new, max recount.
 *
 * Counts dead letters per connection (c of an event, d -- the destination
 * -- of a delivery), incrementally: the entries after the last one counted
 * are added, and as long as the stream's length is the last length plus
 * those, nothing was removed. Anything else (a replay, a discard, a trim,
 * the first look) means a full recount of the newest entries. A
 * connection whose count reached a new power of ten (1, 10, 100, ...) is
 * replied, flat {conn, count, level, ...}; a count that went down lowers
 * its level silently, so growing again notifies again. Nothing is done for
 * an endpoint not subscribed to dead_letters.growing. */
static ch_script s_watch = CH_SCRIPT(
    CH_NOTIFY_LUA_COMMON
    "if not has_event(redis.call('HGET', KEYS[1], 'events'), 'dead_letters.growing') then\n"
    "  return {}\n"
    "end\n"
    "local function conn_of(f)\n"
    "  local kind, c, d\n"
    "  for i = 1, #f, 2 do\n"
    "    local n = f[i]\n"
    "    if n == 'kind' then kind = f[i + 1] elseif n == 'c' then c = f[i + 1]\n"
    "    elseif n == 'd' then d = f[i + 1] end\n"
    "  end\n"
    "  if kind == 'dl' then return d end\n"
    "  return c\n"
    "end\n"
    "local function level(n)\n"
    "  if n < 1 then return 0 end\n"
    "  local l = 1\n"
    "  while l * 10 <= n do l = l * 10 end\n"
    "  return l\n"
    "end\n"
    "local len = redis.call('XLEN', KEYS[2])\n"
    "local last = redis.call('HGET', KEYS[3], '_last')\n"
    "local plen = tonumber(redis.call('HGET', KEYS[3], '_len') or '0')\n"
    "local maxi, maxr = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local full = not last\n"
    "local cursor = last or '0-0'\n"
    "local delta, new = {}, 0\n"
    "if not full then\n"
    "  while new < maxi do\n"
    "    local b = redis.call('XRANGE', KEYS[2], '(' .. cursor, '+', 'COUNT', 500)\n"
    "    for _, e in ipairs(b) do\n"
    "      local c = conn_of(e[2])\n"
    "      if c then delta[c] = (delta[c] or 0) + 1 end\n"
    "      new = new + 1\n"
    "      cursor = e[1]\n"
    "    end\n"
    "    if #b < 500 then break end\n"
    "  end\n"
    "  if new < maxi and plen + new ~= len then full = true end\n"
    "end\n"
    "local counts = {}\n"
    "if full then\n"
    "  local hi, seen, newest = '+', 0, nil\n"
    "  while seen < maxr do\n"
    "    local b = redis.call('XREVRANGE', KEYS[2], hi, '-', 'COUNT', 500)\n"
    "    for _, e in ipairs(b) do\n"
    "      if not newest then newest = e[1] end\n"
    "      local c = conn_of(e[2])\n"
    "      if c then counts[c] = (counts[c] or 0) + 1 end\n"
    "      seen = seen + 1\n"
    "      hi = '(' .. e[1]\n"
    "    end\n"
    "    if #b < 500 then break end\n"
    "  end\n"
    "  local old = redis.call('HGETALL', KEYS[3])\n"
    "  for i = 1, #old, 2 do\n"
    "    if string.sub(old[i], 1, 2) == 'n:' then\n"
    "      local c = string.sub(old[i], 3)\n"
    "      if not counts[c] then counts[c] = 0 end\n"
    "    end\n"
    "  end\n"
    "  cursor = newest or '0-0'\n"
    "  plen = len\n"
    "else\n"
    "  for c, d in pairs(delta) do\n"
    "    counts[c] = tonumber(redis.call('HGET', KEYS[3], 'n:' .. c) or '0') + d\n"
    "  end\n"
    "  plen = plen + new\n"
    "end\n"
    "local out = {}\n"
    "for c, n in pairs(counts) do\n"
    "  local lv = level(n)\n"
    "  local was = tonumber(redis.call('HGET', KEYS[3], 'l:' .. c) or '0')\n"
    "  if n == 0 then\n"
    "    redis.call('HDEL', KEYS[3], 'n:' .. c, 'l:' .. c)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[3], 'n:' .. c, n, 'l:' .. c, lv)\n"
    "  end\n"
    "  if lv > was then\n"
    "    out[#out + 1] = c\n"
    "    out[#out + 1] = n\n"
    "    out[#out + 1] = lv\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[3], '_last', cursor, '_len', plen)\n"
    "return out\n");

/* KEYS: retry, q, cur (as notify_send.c's). Whether the outbox has
 * anything to send (unread entries or retries): 1/0. */
static ch_script s_pending = CH_SCRIPT(
    "local last = redis.call('HGET', KEYS[3], 'last') or '0-0'\n"
    "if #redis.call('XRANGE', KEYS[2], '(' .. last, '+', 'COUNT', 1) > 0 then return 1 end\n"
    "if redis.call('ZCARD', KEYS[1]) > 0 then return 1 end\n"
    "return 0\n");

/* An outbox with work whose tenant is not in the due set (a lost mark:
 * the emitter's second step failed) is marked due: ZADD NX never moves a
 * tenant another host has claimed. */
static void ensure_due(const char *tenant)
{
    char *retry = ch_key_tenant(tenant, "notify:retry"), *q = ch_key_tenant(tenant, "notify:q");
    char *cur = ch_key_tenant(tenant, "notify:cur");
    const char *argv[] = {retry, q, cur};
    redisReply *r = ch_rconn_eval(&s_pending, 3, 3, argv, NULL);
    int pending = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r) freeReplyObject(r);
    free(retry);
    free(q);
    free(cur);
    if (!pending) return;
    r = ch_rconn_command("ZADD %s NX 0 %s", CH_NOTIFY_DUE, tenant);
    if (r) freeReplyObject(r);
}

int32_t ch_notify_watch_tenant(const char *tenant, size_t *emitted)
{
    if (emitted) *emitted = 0;
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    /* A tenant whose endpoint is gone (deleted with its tenant, say)
     * leaves the index. */
    char *ck = ch_key_tenant(tenant, "notify");
    redisReply *er = ch_rconn_command("EXISTS %s", ck);
    free(ck);
    int exists = !er || er->type != REDIS_REPLY_INTEGER || er->integer == 1;
    if (er) freeReplyObject(er);
    if (!exists) {
        er = ch_rconn_command("SREM %s %s", CH_NOTIFY_TENANTS, tenant);
        if (er) freeReplyObject(er);
        return C360_OK;
    }
    ensure_due(tenant);
    char *cfg = ch_key_tenant(tenant, "notify"), *dlq = ch_key_tenant(tenant, "dlq");
    char *dlc = ch_key_tenant(tenant, "notify:dlc");
    const char *argv[] = {cfg, dlq, dlc, INCR_MAX, RECOUNT_MAX};
    redisReply *r = ch_rconn_eval(&s_watch, 3, 5, argv, NULL);
    free(cfg);
    free(dlq);
    free(dlc);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        ch_log(CH_LOG_WARN, "notify: dead-letter watch failed", "tenant", tenant, "error",
               r && r->type == REDIS_REPLY_ERROR ? r->str : ch_rconn_error(), NULL);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    for (size_t i = 0; i + 2 < r->elements; i += 3) {
        const redisReply *c = r->element[i];
        if (c->type != REDIS_REPLY_STRING || !ch_id_valid(c->str)) continue;
        long long n = r->element[i + 1]->integer, lv = r->element[i + 2]->integer;
        char cause[96];
        snprintf(cause, sizeof cause, "%lld dead letter%s (threshold %lld)", n, n == 1 ? "" : "s",
                 lv);
        if (ch_notify_emit(tenant, CH_NEV_DLQ_GROWING, c->str, NULL, cause,
                           json_pack("{s:I,s:I}", "count", (json_int_t)n, "threshold",
                                     (json_int_t)lv)) == 1 &&
            emitted)
            (*emitted)++;
    }
    freeReplyObject(r);
    return C360_OK;
}

/* ---- refresh tokens --------------------------------------------------------------- */

/* Splits "c360:{t:T}:oauth:C:N" (N without ':', so lease keys are not
 * metadata). Returns 0 or -1. */
static int parse_meta_key(const char *k, char *t, char *c, char *n)
{
    static const char pre[] = "c360:{t:";
    if (strncmp(k, pre, sizeof pre - 1) != 0) return -1;
    const char *p = k + sizeof pre - 1;
    const char *e = strstr(p, "}:oauth:");
    if (!e || e == p || (size_t)(e - p) > CH_ID_MAX) return -1;
    memcpy(t, p, (size_t)(e - p));
    t[e - p] = '\0';
    p = e + strlen("}:oauth:");
    const char *colon = strchr(p, ':');
    if (!colon || colon == p || (size_t)(colon - p) > CH_ID_MAX) return -1;
    memcpy(c, p, (size_t)(colon - p));
    c[colon - p] = '\0';
    p = colon + 1;
    if (strchr(p, ':') || strlen(p) > CH_ID_MAX) return -1;
    strcpy(n, p);
    return ch_id_valid(t) && ch_id_valid(c) && ch_id_valid(n) ? 0 : -1;
}

static int subscribed(const char *tenant, unsigned ev)
{
    char *k = ch_key_tenant(tenant, "notify");
    redisReply *r = ch_rconn_command("HGET %s events", k);
    free(k);
    int yes = r && r->type == REDIS_REPLY_STRING && (ch_notify_events_from_text(r->str) & ev);
    if (r) freeReplyObject(r);
    return yes;
}

static void expiry_check(const char *key, int64_t now, int64_t warn_ms, size_t *emitted)
{
    char t[CH_ID_MAX + 1], c[CH_ID_MAX + 1], n[CH_ID_MAX + 1];
    if (parse_meta_key(key, t, c, n) != 0 || !subscribed(t, CH_NEV_RT_EXPIRING)) return;
    redisReply *r = ch_rconn_command("HMGET %s refresh_expires_at_ms dead", key);
    long long rexp = 0;
    int dead = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING) rexp = strtoll(r->element[0]->str, NULL, 10);
        dead = r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, "1") == 0;
    }
    if (r) freeReplyObject(r);
    /* Past expiry the grant is dead, and that is needs_reauth's news. */
    if (rexp <= now || rexp - now > warn_ms || dead) return;
    char *mk = ch_key_tenant(t, "notify:rtx:%s:%s", c, n);
    char v[24], ttl[24];
    snprintf(v, sizeof v, "%lld", rexp);
    snprintf(ttl, sizeof ttl, "%lld", (long long)((rexp - now) / 1000 + 86400));
    /* Once per expiry value: SET ... GET answers the one warned before. */
    r = ch_rconn_command("SET %s %s EX %s GET", mk, v, ttl);
    free(mk);
    int fresh = r && (r->type == REDIS_REPLY_NIL ||
                      (r->type == REDIS_REPLY_STRING && strcmp(r->str, v) != 0));
    if (r) freeReplyObject(r);
    if (!fresh) return;
    char cause[128];
    long long days = (rexp - now) / 86400000LL;
    snprintf(cause, sizeof cause, "refresh token %s expires in %lld day%s", n, days,
             days == 1 ? "" : "s");
    if (ch_notify_emit(t, CH_NEV_RT_EXPIRING, c, NULL, cause,
                       json_pack("{s:s,s:I}", "token", n, "refresh_expires_at_ms",
                                 (json_int_t)rexp)) == 1 &&
        emitted)
        (*emitted)++;
}

int32_t ch_notify_expiry_page(char *cursor, size_t cap, int64_t warn_ms, size_t *emitted,
                              int *done)
{
    *done = 0;
    redisReply *r = ch_rconn_command("SCAN %s MATCH c360:{t:*}:oauth:* COUNT 500", cursor);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    snprintf(cursor, cap, "%s", r->element[0]->str);
    int64_t now = ch_now_ms();
    const redisReply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            expiry_check(keys->element[i]->str, now, warn_ms, emitted);
    freeReplyObject(r);
    *done = strcmp(cursor, "0") == 0;
    return C360_OK;
}

int32_t ch_notify_expiry_pass(int64_t warn_ms, size_t *emitted)
{
    size_t n = 0;
    char cursor[32] = "0";
    int done = 0;
    int32_t st = C360_OK;
    while (!done && st == C360_OK) st = ch_notify_expiry_page(cursor, sizeof cursor, warn_ms, &n, &done);
    if (emitted) *emitted = n;
    return st;
}
