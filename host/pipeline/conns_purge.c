/* conns_purge.c -- ch_conn_purge: a disconnected connection leaves nothing
 * behind (see conns.h). Each step is idempotent, so a purge interrupted by
 * a crash or a Redis outage is finished by running it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connstatus.h"
#include "conns.h"
#include "conns_int.h"
#include "log.h"
#include "oauth.h"
#include "rconn.h"
#include "secrets.h"
#include "state.h"
#include "util.h"

/* KEYS[1] conn hash, [2] tenant's conns set, [3] routes of the connection,
 * [4] its rk set, [5] stat hash, [6] delivery log, [7] its route mappings,
 * [8] its sync log, [9] its stopped routes (410), [10 .. 9+n] routes of
 * every other connection of the tenant, [10+n .. 9+2n] their route
 * mappings. ARGV[1] the id, ARGV[2] n. Returns how many
 * connections the tenant has left. */
static ch_script s_purge = CH_SCRIPT(
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "local n = tonumber(ARGV[2])\n"
    "for i = 10, 9 + n do redis.call('SREM', KEYS[i], ARGV[1]) end\n"
    "for i = 10 + n, 9 + 2 * n do redis.call('HDEL', KEYS[i], ARGV[1]) end\n"
    "redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9])\n"
    "return redis.call('SCARD', KEYS[2])\n");

/* KEYS[1] c360:{idx}:conn. ARGV: id, tenant. Only the owner's claim goes. */
static ch_script s_unclaim = CH_SCRIPT(
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then\n"
    "  return redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "end\n"
    "return 0\n");

static int32_t int_reply(const char *op, redisReply *r, long long *out)
{
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        int32_t st = ch_conns_io(op, r); /* always C360_EIO */
        if (r) freeReplyObject(r);
        return st;
    }
    if (out) *out = r->integer;
    freeReplyObject(r);
    return C360_OK;
}

/* Removes the connection from the routing-key index, using the keys it
 * remembers; needs its plugin (from the hash, if still there). */
static int32_t purge_route_keys(const char *tenant, const char *id)
{
    char *kc = ch_key_tenant(tenant, "conn:%s", id);
    redisReply *r = ch_rconn_command("HGET %s plugin", kc);
    free(kc);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        int32_t st = ch_conns_io("purge-plugin", r);
        if (r) freeReplyObject(r);
        return st;
    }
    char plugin[CH_CONN_PLUGIN_MAX] = "";
    if (r->type == REDIS_REPLY_STRING) snprintf(plugin, sizeof plugin, "%s", r->str);
    freeReplyObject(r);
    /* The hash goes last among the tenant's keys, so a purge re-run after a
     * crash still finds the plugin while the rk set exists. */
    if (!ch_conns_plugin_valid(plugin)) return C360_OK;
    char **keys;
    size_t n;
    int32_t st = ch_conn_route_keys_get(tenant, id, &keys, &n);
    if (st != C360_OK) return st;
    char m[2 * CH_ID_MAX + 2];
    ch_conns_member(tenant, id, m, sizeof m);
    st = ch_conns_rk_index(plugin, m, keys, n, NULL, 0);
    ch_conn_ids_free(keys, n);
    return st;
}

/* The tenant's keys in one script (one slot). */
static int32_t purge_tenant_keys(const char *tenant, const char *id, long long *left)
{
    char **ids;
    size_t n;
    int32_t st = ch_conn_list(tenant, &ids, &n);
    if (st != C360_OK) return st;
    size_t nkeys = 9 + 2 * n;
    char **keys = ch_calloc(nkeys, sizeof *keys);
    keys[0] = ch_key_tenant(tenant, "conn:%s", id);
    keys[1] = ch_key_tenant(tenant, "conns");
    keys[2] = ch_key_tenant(tenant, "routes:%s", id);
    keys[3] = ch_key_tenant(tenant, "conn:%s:rk", id);
    keys[4] = ch_key_tenant(tenant, "conn:%s:stat", id);
    keys[5] = ch_key_tenant(tenant, "dlog:%s", id);
    keys[6] = ch_key_tenant(tenant, "rmap:%s", id);
    keys[7] = ch_key_tenant(tenant, "synclog:%s", id);
    keys[8] = ch_key_tenant(tenant, "rgone:%s", id);
    for (size_t i = 0; i < n; i++) {
        keys[9 + i] = ch_key_tenant(tenant, "routes:%s", ids[i]);
        keys[9 + n + i] = ch_key_tenant(tenant, "rmap:%s", ids[i]);
    }
    char nbuf[24];
    snprintf(nbuf, sizeof nbuf, "%zu", n);
    const char **argv = ch_calloc(nkeys + 2, sizeof *argv);
    for (size_t i = 0; i < nkeys; i++) argv[i] = keys[i];
    argv[nkeys] = id;
    argv[nkeys + 1] = nbuf;
    st = int_reply("purge-tenant", ch_rconn_eval(&s_purge, (int)nkeys, (int)nkeys + 2, argv, NULL),
                   left);
    for (size_t i = 0; i < nkeys; i++) free(keys[i]);
    free(keys);
    free(argv);
    ch_conn_ids_free(ids, n);
    return st;
}

/* Drops the tenant from the workers' round robin when it has no
 * connection left. A put racing with us adds the connection to the
 * tenant's set before it adds the tenant: re-checking after the SREM and
 * putting the tenant back closes that window. */
static int32_t purge_tenant_index(const char *tenant)
{
    long long left = 0;
    int32_t st = int_reply("purge-tenants", ch_rconn_command("SREM %s %s", CH_IDX_TENANTS, tenant),
                           NULL);
    if (st != C360_OK) return st;
    char *k = ch_key_tenant(tenant, "conns");
    st = int_reply("purge-recheck", ch_rconn_command("SCARD %s", k), &left);
    free(k);
    if (st == C360_OK && left > 0)
        st = int_reply("purge-readd", ch_rconn_command("SADD %s %s", CH_IDX_TENANTS, tenant), NULL);
    return st;
}

/* SCAN MATCH pattern with glob metacharacters of the literal part escaped
 * (the hash tag's braces); then UNLINK page by page. */
static int32_t delete_matching(const char *literal_prefix)
{
    char pat[512];
    size_t j = 0;
    for (const char *p = literal_prefix; *p && j + 3 < sizeof pat; p++) {
        if (strchr("{}[]?*\\", *p)) pat[j++] = '\\';
        pat[j++] = *p;
    }
    pat[j++] = '*';
    pat[j] = '\0';
    char cursor[32] = "0";
    do {
        redisReply *r = ch_rconn_command("SCAN %s MATCH %s COUNT 1000", cursor, pat);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            int32_t st = ch_conns_io("purge-scan", r);
            if (r) freeReplyObject(r);
            return st;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *page = r->element[1];
        if (page->elements) {
            const char **argv = ch_calloc(page->elements + 1, sizeof *argv);
            size_t *lens = ch_calloc(page->elements + 1, sizeof *lens);
            argv[0] = "UNLINK";
            lens[0] = 6;
            size_t n = 1;
            for (size_t i = 0; i < page->elements; i++) {
                if (page->element[i]->type != REDIS_REPLY_STRING) continue;
                argv[n] = page->element[i]->str;
                lens[n++] = page->element[i]->len;
            }
            redisReply *d = ch_rconn_argv((int)n, argv, lens);
            free(argv);
            free(lens);
            int32_t st = int_reply("purge-unlink", d, NULL);
            if (st != C360_OK) {
                freeReplyObject(r);
                return st;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return C360_OK;
}

int32_t ch_conn_purge(const char *tenant, const char *id, const char *actor,
                      const char *request_id)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(id) || !ch_conns_actor_valid(actor))
        return C360_EINVAL;
    /* Refuse to purge a connection id another tenant owns: the tenant
     * keys named here would not exist anyway, but the global index entry
     * and the schedule member are shared ground. */
    char owner[CH_ID_MAX + 1];
    int32_t st = ch_conn_tenant_of(id, owner);
    if (st == C360_OK && strcmp(owner, tenant) != 0) return C360_ENOTFOUND;
    if (st != C360_OK && st != C360_ENOTFOUND) return st;

    st = purge_route_keys(tenant, id);
    if (st == C360_OK) st = ch_conns_sched(tenant, id, 0);
    long long left = 0;
    if (st == C360_OK) st = purge_tenant_keys(tenant, id, &left);
    if (st == C360_OK && left == 0) st = purge_tenant_index(tenant);
    if (st == C360_OK) {
        const char *argv[3] = {CH_IDX_CONN, id, tenant};
        st = int_reply("purge-unclaim", ch_rconn_eval(&s_unclaim, 1, 3, argv, NULL), NULL);
    }
    char err[256] = "";
    if (st == C360_OK && ch_state_delete_connection(tenant, id, NULL) != C360_OK)
        st = ch_conns_io("purge-state", NULL);
    if (st == C360_OK && ch_secret_delete_connection(tenant, id, NULL, err, sizeof err) != C360_OK) {
        ch_log(CH_LOG_WARN, "conns: purging secrets failed", "tenant", tenant, "connection", id,
               "error", err, NULL);
        st = C360_EIO;
    }
    if (st == C360_OK && ch_oauth_forget_connection(tenant, id) != C360_OK)
        st = ch_conns_io("purge-oauth", NULL);
    if (st == C360_OK && ch_connstatus_delete(tenant, id) != C360_OK)
        st = ch_conns_io("purge-status", NULL);
    if (st == C360_OK) {
        char *prefix = ch_key_tenant(tenant, "dd:%s:", id);
        st = delete_matching(prefix);
        free(prefix);
    }
    if (st == C360_OK) st = ch_conn_publish_changed(tenant, id);
    ch_conns_audit(tenant, id, actor, "connection.delete", id, st == C360_OK ? "ok" : "error:io",
                   request_id);
    return st;
}
