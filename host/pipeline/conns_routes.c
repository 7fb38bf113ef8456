/* conns_routes.c -- routes (source -> destination) and routing keys (see
 * conns.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conns.h"
#include "conns_int.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

/* KEYS[1] source hash, KEYS[2] destination hash, KEYS[3] routes set,
 * KEYS[4] the source's mappings, KEYS[5] the destination's stopped routes
 * (c360:{t:T}:rgone:<dst>). ARGV: destination id, "add"/"put"/"rm"/"stop",
 * max routes, mapping ('' = none), source id, stop mark TTL ms. add keeps
 * a stored mapping; put sets or clears it; rm drops both; stop (the
 * destination answered 410 Gone) removes the route but keeps its mapping,
 * so that adding the route again restores it, and marks the route stopped
 * (add and put clear the mark). Returns 1 added, 0 already there (put: the
 * mapping was written anyway), -1 a connection is missing, -2 too many
 * routes; rm and stop: 1 removed, 0 absent. */
static ch_script s_route = CH_SCRIPT(
    "if ARGV[2] == 'rm' then\n"
    "  redis.call('HDEL', KEYS[4], ARGV[1])\n"
    "  return redis.call('SREM', KEYS[3], ARGV[1])\n"
    "end\n"
    "if ARGV[2] == 'stop' then\n"
    "  local n = redis.call('SREM', KEYS[3], ARGV[1])\n"
    "  redis.call('SADD', KEYS[5], ARGV[5])\n"
    "  redis.call('PEXPIRE', KEYS[5], ARGV[6])\n"
    "  return n\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end\n"
    "redis.call('SREM', KEYS[5], ARGV[5])\n"
    "local added = 0\n"
    "if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then\n"
    "  if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then return -2 end\n"
    "  added = redis.call('SADD', KEYS[3], ARGV[1])\n"
    "end\n"
    "if ARGV[2] == 'put' then\n"
    "  if ARGV[4] == '' then redis.call('HDEL', KEYS[4], ARGV[1])\n"
    "  else redis.call('HSET', KEYS[4], ARGV[1], ARGV[4]) end\n"
    "end\n"
    "return added\n");

/* KEYS[1] c360:{idx}:rk:<plugin>. ARGV[1] member "T/c", ARGV[2] how many
 * keys to remove it from, then those keys, then the keys to add it to.
 * Each value is a JSON array of members; a key left with none is deleted.
 * Per-key read-modify-write inside one script, so connections of other
 * tenants sharing a key are never lost to a concurrent update. */
static ch_script s_rk_index = CH_SCRIPT(
    "local m = ARGV[1]\n"
    "local nrm = tonumber(ARGV[2])\n"
    "for i = 3, 2 + nrm do\n"
    "  local v = redis.call('HGET', KEYS[1], ARGV[i])\n"
    "  if v then\n"
    "    local out = {}\n"
    "    for _, x in ipairs(cjson.decode(v)) do if x ~= m then out[#out + 1] = x end end\n"
    "    if #out == 0 then redis.call('HDEL', KEYS[1], ARGV[i])\n"
    "    else redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(out)) end\n"
    "  end\n"
    "end\n"
    "for i = 3 + nrm, #ARGV do\n"
    "  local v = redis.call('HGET', KEYS[1], ARGV[i])\n"
    "  local arr = {}\n"
    "  if v then arr = cjson.decode(v) end\n"
    "  local found = false\n"
    "  for _, x in ipairs(arr) do if x == m then found = true break end end\n"
    "  if not found then\n"
    "    arr[#arr + 1] = m\n"
    "    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(arr))\n"
    "  end\n"
    "end\n"
    "return 1\n");

/* KEYS[1] conn hash, KEYS[2] its rk set. ARGV: the new keys. Replaces the
 * remembered set unless the connection is gone (-1). */
static ch_script s_rk_store = CH_SCRIPT(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
    "redis.call('DEL', KEYS[2])\n"
    "for i = 1, #ARGV, 500 do\n"
    "  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 499, #ARGV)))\n"
    "end\n"
    "return 1\n");

/* mode: 'a' add, 'p' put (with mapping), 'r' remove, 's' stop. */
static int32_t route_change(const char *tenant, const char *src, const char *dst,
                            const char *mapping, const char *actor, const char *rid, char mode)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(src) || !ch_id_valid(dst) ||
        !ch_conns_actor_valid(actor) || (mapping && strlen(mapping) > CH_CONN_MAPPING_MAX))
        return C360_EINVAL;
    char *ks = ch_key_tenant(tenant, "conn:%s", src);
    char *kd = ch_key_tenant(tenant, "conn:%s", dst);
    char *kr = ch_key_tenant(tenant, "routes:%s", src);
    char *km = ch_key_tenant(tenant, "rmap:%s", src);
    char *kg = ch_key_tenant(tenant, "rgone:%s", dst);
    char max[16], ttl[24];
    snprintf(max, sizeof max, "%d", CH_CONN_ROUTES_MAX);
    snprintf(ttl, sizeof ttl, "%lld", (long long)CH_CONN_ROUTE_STOP_TTL_MS);
    const char *argv[11] = {ks, kd, kr, km, kg, dst,
                            mode == 'a' ? "add" : mode == 'p' ? "put" : mode == 's' ? "stop" : "rm",
                            max, mapping ? mapping : "", src, ttl};
    redisReply *r = ch_rconn_eval(&s_route, 5, 11, argv, NULL);
    free(ks);
    free(kd);
    free(kr);
    free(km);
    free(kg);
    int32_t st;
    long long res = 0;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        res = r->integer;
        st = res == -1 ? C360_ENOTFOUND : res == -2 ? C360_ETOOBIG : C360_OK;
    } else {
        st = ch_conns_io("route", r);
    }
    if (r) freeReplyObject(r);
    if (mode == 's' && st == C360_OK) st = res == 1 ? C360_OK : C360_ENOTFOUND;
    if (st != C360_OK || (res == 0 && mode != 'p')) return st;
    st = ch_conn_publish_changed(tenant, src);
    ch_conns_audit(tenant, src, actor,
                   mode == 'r' || mode == 's' ? "connection.route.remove"
                   : res == 1  ? "connection.route.add"
                               : "connection.route.update",
                   dst, st == C360_OK ? "ok" : "error:io", rid);
    return st;
}

int32_t ch_conn_route_add(const char *tenant, const char *src, const char *dst,
                          const char *actor, const char *request_id)
{
    return route_change(tenant, src, dst, NULL, actor, request_id, 'a');
}

int32_t ch_conn_route_put(const char *tenant, const char *src, const char *dst,
                          const char *mapping, const char *actor, const char *request_id)
{
    return route_change(tenant, src, dst, mapping, actor, request_id, 'p');
}

int32_t ch_conn_route_remove(const char *tenant, const char *src, const char *dst,
                             const char *actor, const char *request_id)
{
    return route_change(tenant, src, dst, NULL, actor, request_id, 'r');
}

int32_t ch_conn_route_stop(const char *tenant, const char *src, const char *dst,
                           const char *request_id)
{
    return route_change(tenant, src, dst, NULL, "system", request_id, 's');
}

int32_t ch_conn_route_stopped(const char *tenant, const char *src, const char *dst,
                              int *stopped)
{
    *stopped = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(src) || !ch_id_valid(dst)) return C360_EINVAL;
    char *kg = ch_key_tenant(tenant, "rgone:%s", dst);
    redisReply *r = ch_rconn_command("SISMEMBER %s %s", kg, src);
    free(kg);
    int32_t st = C360_OK;
    if (r && r->type == REDIS_REPLY_INTEGER) *stopped = r->integer == 1;
    else st = ch_conns_io("route-stopped", r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_route_mapping(const char *tenant, const char *src, const char *dst,
                              char **mapping)
{
    *mapping = NULL;
    if (!ch_id_valid(tenant) || !ch_id_valid(src) || !ch_id_valid(dst)) return C360_EINVAL;
    char *km = ch_key_tenant(tenant, "rmap:%s", src);
    redisReply *r = ch_rconn_command("HGET %s %s", km, dst);
    free(km);
    int32_t st = C360_OK;
    if (r && r->type == REDIS_REPLY_STRING) *mapping = ch_strndup(r->str, r->len);
    else if (!r || r->type != REDIS_REPLY_NIL) st = ch_conns_io("route-mapping", r);
    if (r) freeReplyObject(r);
    return st;
}

/* The members of the set at key k as strings (the caller frees them). */
static int32_t set_members(char *k, const char *what, char ***out, size_t *n)
{
    redisReply *r = ch_rconn_command("SMEMBERS %s", k);
    free(k);
    int32_t st = ch_conns_strings(r, out, n);
    if (st != C360_OK) ch_conns_io(what, r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_route_list(const char *tenant, const char *src, char ***dsts, size_t *n)
{
    *dsts = NULL;
    *n = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(src)) return C360_EINVAL;
    return set_members(ch_key_tenant(tenant, "routes:%s", src), "route-list", dsts, n);
}

int32_t ch_conn_route_keys_get(const char *tenant, const char *id, char ***keys, size_t *n)
{
    *keys = NULL;
    *n = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(id)) return C360_EINVAL;
    return set_members(ch_key_tenant(tenant, "conn:%s:rk", id), "rk-get", keys, n);
}

int32_t ch_conns_rk_index(const char *plugin, const char *member, char *const *rm, size_t nrm,
                          const char *const *add, size_t nadd)
{
    if (nrm == 0 && nadd == 0) return C360_OK;
    size_t argc = 3 + nrm + nadd;
    const char **argv = ch_calloc(argc, sizeof *argv);
    char *key = ch_asprintf("c360:{idx}:rk:%s", plugin);
    char nbuf[24];
    snprintf(nbuf, sizeof nbuf, "%zu", nrm);
    argv[0] = key;
    argv[1] = member;
    argv[2] = nbuf;
    for (size_t i = 0; i < nrm; i++) argv[3 + i] = rm[i];
    for (size_t i = 0; i < nadd; i++) argv[3 + nrm + i] = add[i];
    redisReply *r = ch_rconn_eval(&s_rk_index, 1, (int)argc, argv, NULL);
    free(argv);
    free(key);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("rk-index", r);
    if (r) freeReplyObject(r);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int sorted_has(char *const *v, size_t n, const char *s)
{
    return bsearch(&s, v, n, sizeof *v, cmp_str) != NULL;
}

int32_t ch_conn_route_keys_set(const char *tenant, const char *id, const char *plugin,
                               const char *const *keys, size_t n)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(id) || !ch_conns_plugin_valid(plugin) ||
        n > CH_CONN_ROUTE_KEYS_MAX || (n && !keys))
        return C360_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!ch_name_valid(keys[i])) return C360_EINVAL; /* 1..200 printable */

    /* The new set, sorted and without duplicates (pointers into keys). */
    const char **nw = ch_calloc(n ? n : 1, sizeof *nw);
    size_t nn = 0;
    memcpy(nw, keys, n * sizeof *nw);
    qsort(nw, n, sizeof *nw, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (nn == 0 || strcmp(nw[nn - 1], nw[i]) != 0) nw[nn++] = nw[i];

    char **old = NULL;
    size_t nold = 0;
    int32_t st = ch_conn_route_keys_get(tenant, id, &old, &nold);
    if (st != C360_OK) {
        free(nw);
        return st;
    }
    /* Index first, remembered set second: if we die in between, the next
     * call still knows the old keys and removes them then. Additions are
     * re-applied every time (idempotent) so an index lost mid-way heals. */
    char **gone = ch_calloc(nold ? nold : 1, sizeof *gone);
    size_t ngone = 0, nadded = 0;
    for (size_t i = 0; i < nold; i++)
        if (!sorted_has((char *const *)nw, nn, old[i])) gone[ngone++] = old[i];
    for (size_t i = 0; i < nn; i++)
        if (!sorted_has(old, nold, nw[i])) nadded++;
    char m[2 * CH_ID_MAX + 2];
    ch_conns_member(tenant, id, m, sizeof m);
    st = ch_conns_rk_index(plugin, m, gone, ngone, nw, nn);
    if (st == C360_OK) {
        char *kc = ch_key_tenant(tenant, "conn:%s", id);
        char *kr = ch_key_tenant(tenant, "conn:%s:rk", id);
        const char **argv = ch_calloc(2 + nn, sizeof *argv);
        argv[0] = kc;
        argv[1] = kr;
        memcpy(argv + 2, nw, nn * sizeof *argv);
        redisReply *r = ch_rconn_eval(&s_rk_store, 2, (int)(2 + nn), argv, NULL);
        free(argv);
        free(kc);
        free(kr);
        if (r && r->type == REDIS_REPLY_INTEGER) st = r->integer < 0 ? C360_ENOTFOUND : C360_OK;
        else st = ch_conns_io("rk-store", r);
        if (r) freeReplyObject(r);
        /* Purged meanwhile: take back what we just added to the index. */
        if (st == C360_ENOTFOUND) ch_conns_rk_index(plugin, m, (char *const *)nw, nn, NULL, 0);
    }
    if (st == C360_OK && (ngone || nadded)) {
        char what[64];
        snprintf(what, sizeof what, "+%zu -%zu", nadded, ngone);
        char actor[48];
        snprintf(actor, sizeof actor, "plugin:%s", plugin);
        st = ch_conn_publish_changed(tenant, id);
        ch_conns_audit(tenant, id, actor, "connection.route_keys", what,
                       st == C360_OK ? "ok" : "error:io", NULL);
    }
    ch_conn_ids_free(old, nold);
    free(gone);
    free(nw);
    return st;
}
