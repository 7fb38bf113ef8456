/* tenant_purge.c -- a deleted tenant leaves nothing but its audit chain
 * (see tenant_purge.h for the order of the steps and why). */
#include "tenant_purge.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apikeys.h"
#include "conn_ops.h"
#include "conns.h"
#include "connector_api.h"
#include "log.h"
#include "rconn.h"
#include "tenants.h"
#include "util.h"

#define IDX_TENANTS "c360:{idx}:tenants"
#define IDX_WAKE "c360:{idx}:wake"
#define IDX_CONN "c360:{idx}:conn"
#define SCHED_DUE "c360:{sched}:due"
/* notify.h's indexes: tenants with an endpoint, outboxes due */
#define NOTIFY_TENANTS "c360:{idx}:notify-tenants"
#define NOTIFY_DUE "c360:{idx}:notify-due"
#define ROUNDS_MAX 3

/* KEYS[1] c360:{idx}:conn. ARGV[1] the tenant, ARGV[2..] connection ids:
 * each claim goes only if the tenant still holds it. */
static ch_script s_unclaim = CH_SCRIPT(
    "local n = 0\n"
    "for i = 2, #ARGV do\n"
    "  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then\n"
    "    n = n + redis.call('HDEL', KEYS[1], ARGV[i])\n"
    "  end\n"
    "end\n"
    "return n\n");

/* KEYS[1] a c360:{idx}:rk:<plugin> hash. ARGV[1] the prefix "T/",
 * ARGV[2..] routing keys: their members of the tenant go (a key left with
 * none is deleted), in one read-modify-write per key so that another
 * tenant's concurrent change is never lost. */
static ch_script s_rk_drop = CH_SCRIPT(
    "local p = ARGV[1]\n"
    "local n = 0\n"
    "for i = 2, #ARGV do\n"
    "  local v = redis.call('HGET', KEYS[1], ARGV[i])\n"
    "  if v then\n"
    "    local ok, arr = pcall(cjson.decode, v)\n"
    "    if ok and type(arr) == 'table' then\n"
    "      local out = {}\n"
    "      for _, x in ipairs(arr) do\n"
    "        if type(x) == 'string' and string.sub(x, 1, #p) == p then n = n + 1\n"
    "        else out[#out + 1] = x end\n"
    "      end\n"
    "      if #out == 0 then redis.call('HDEL', KEYS[1], ARGV[i])\n"
    "      elseif #out < #arr then redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(out)) end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n");

static int32_t io(const char *op, const redisReply *r)
{
    ch_log(CH_LOG_WARN, "tenant purge: redis step failed", "op", op, "error",
           !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
           NULL);
    return C360_EIO;
}

static int32_t int_reply(const char *op, redisReply *r, size_t *add)
{
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : io(op, r);
    if (st == C360_OK && add && r->integer > 0) *add += (size_t)r->integer;
    if (r) freeReplyObject(r);
    return st;
}

/* Runs script (KEYS[1] key, ARGV[1] arg, then items) over items[0..n) in
 * batches: ch_rconn_eval takes a few dozen arguments at most. */
#define EVAL_BATCH 24
static int32_t eval_batched(ch_script *s, const char *op, const char *key, const char *arg,
                            const char *const *items, size_t n, size_t *add)
{
    int32_t st = C360_OK;
    for (size_t i = 0; i < n && st == C360_OK; i += EVAL_BATCH) {
        const char *argv[EVAL_BATCH + 2] = {key, arg};
        size_t k = n - i < EVAL_BATCH ? n - i : EVAL_BATCH;
        for (size_t j = 0; j < k; j++) argv[2 + j] = items[i + j];
        st = int_reply(op, ch_rconn_eval(s, 1, (int)k + 2, argv, NULL), add);
    }
    return st;
}

/* A SCAN-family page: {cursor, [items]}; the cursor is copied out. */
static int scan_page(const redisReply *r, char *cursor, size_t cap)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *items = r->element[1];
    for (size_t i = 0; i < items->elements; i++)
        if (items->element[i]->type != REDIS_REPLY_STRING) return 0;
    snprintf(cursor, cap, "%s", r->element[0]->str);
    return 1;
}

/* A literal for MATCH: glob metacharacters escaped (ids have none, the
 * hash tags' braces are escaped out of caution). */
static void glob_literal(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (; *s && j + 3 < cap; s++) {
        if (strchr("{}[]?*\\", *s)) out[j++] = '\\';
        out[j++] = *s;
    }
    out[j] = '\0';
}

/* Step 4: every key of the tenant but its audit chain and its hash. */
static int32_t sweep_keys(const char *tenant, size_t *deleted)
{
    char *prefix = ch_key_tenant_prefix(tenant);
    char *audit = ch_key_tenant(tenant, "audit:");
    char *hash = ch_key_tenant(tenant, "tenant");
    char pat[256];
    glob_literal(prefix, pat, sizeof pat - 1);
    strcat(pat, "*");
    size_t alen = strlen(audit);
    char cursor[32] = "0";
    int32_t st = C360_OK;
    do {
        redisReply *r = ch_rconn_command("SCAN %s MATCH %s COUNT 1000", cursor, pat);
        if (!scan_page(r, cursor, sizeof cursor)) {
            st = io("sweep-scan", r);
            if (r) freeReplyObject(r);
            break;
        }
        const redisReply *page = r->element[1];
        const char **argv = ch_calloc(page->elements + 1, sizeof *argv);
        size_t *lens = ch_calloc(page->elements + 1, sizeof *lens);
        argv[0] = "UNLINK";
        lens[0] = 6;
        size_t n = 1;
        for (size_t i = 0; i < page->elements; i++) {
            const redisReply *k = page->element[i];
            if (k->len >= alen && memcmp(k->str, audit, alen) == 0) continue;
            if (strcmp(k->str, hash) == 0) continue;
            argv[n] = k->str;
            lens[n++] = k->len;
        }
        if (n > 1) st = int_reply("sweep-unlink", ch_rconn_argv((int)n, argv, lens), deleted);
        free(argv);
        free(lens);
        freeReplyObject(r);
    } while (st == C360_OK && strcmp(cursor, "0") != 0);
    free(prefix);
    free(audit);
    free(hash);
    return st;
}

/* c360:{idx}:conn: the connections the tenant still holds. */
static int32_t purge_conn_index(const char *tenant, size_t *removed)
{
    char cursor[32] = "0";
    int32_t st = C360_OK;
    do {
        redisReply *r = ch_rconn_command("HSCAN %s %s COUNT 1000", IDX_CONN, cursor);
        if (!scan_page(r, cursor, sizeof cursor)) {
            st = io("idx-conn-scan", r);
            if (r) freeReplyObject(r);
            break;
        }
        const redisReply *page = r->element[1];
        const char **ids = ch_calloc(page->elements / 2 + 1, sizeof *ids);
        size_t n = 0;
        for (size_t i = 0; i + 1 < page->elements; i += 2)
            if (strcmp(page->element[i + 1]->str, tenant) == 0) ids[n++] = page->element[i]->str;
        st = eval_batched(&s_unclaim, "idx-conn-del", IDX_CONN, tenant, ids, n, removed);
        free(ids);
        freeReplyObject(r);
    } while (st == C360_OK && strcmp(cursor, "0") != 0);
    return st;
}

/* c360:{sched}:due: members "T/<conn>". */
static int32_t purge_sched(const char *tenant, size_t *removed)
{
    char pat[2 * CH_ID_MAX + 8], lit[2 * CH_ID_MAX + 4];
    char member_prefix[CH_ID_MAX + 2];
    snprintf(member_prefix, sizeof member_prefix, "%s/", tenant);
    glob_literal(member_prefix, lit, sizeof lit);
    snprintf(pat, sizeof pat, "%s*", lit);
    char cursor[32] = "0";
    int32_t st = C360_OK;
    do {
        redisReply *r =
            ch_rconn_command("ZSCAN %s %s MATCH %s COUNT 1000", SCHED_DUE, cursor, pat);
        if (!scan_page(r, cursor, sizeof cursor)) {
            st = io("sched-scan", r);
            if (r) freeReplyObject(r);
            break;
        }
        const redisReply *page = r->element[1];
        const char **argv = ch_calloc(page->elements / 2 + 2, sizeof *argv);
        argv[0] = "ZREM";
        argv[1] = SCHED_DUE;
        size_t n = 2;
        for (size_t i = 0; i + 1 < page->elements; i += 2) argv[n++] = page->element[i]->str;
        if (n > 2) st = int_reply("sched-rem", ch_rconn_argv((int)n, argv, NULL), removed);
        free(argv);
        freeReplyObject(r);
    } while (st == C360_OK && strcmp(cursor, "0") != 0);
    return st;
}

/* 1 if the JSON array text holds a member starting with prefix. */
static int holds_member(const char *json, const char *prefix)
{
    json_t *a = json_loads(json, 0, NULL);
    size_t i, plen = strlen(prefix);
    json_t *v;
    int found = 0;
    json_array_foreach(a, i, v) {
        if (json_is_string(v) && strncmp(json_string_value(v), prefix, plen) == 0) {
            found = 1;
            break;
        }
    }
    json_decref(a);
    return found;
}

/* One c360:{idx}:rk:<plugin> hash. */
static int32_t purge_rk_hash(const char *key, const char *member_prefix, size_t *removed)
{
    char cursor[32] = "0";
    int32_t st = C360_OK;
    do {
        redisReply *r = ch_rconn_command("HSCAN %s %s COUNT 1000", key, cursor);
        if (!scan_page(r, cursor, sizeof cursor)) {
            st = io("rk-hscan", r);
            if (r) freeReplyObject(r);
            break;
        }
        const redisReply *page = r->element[1];
        const char **fields = ch_calloc(page->elements / 2 + 1, sizeof *fields);
        size_t n = 0;
        for (size_t i = 0; i + 1 < page->elements; i += 2)
            if (holds_member(page->element[i + 1]->str, member_prefix))
                fields[n++] = page->element[i]->str;
        st = eval_batched(&s_rk_drop, "rk-drop", key, member_prefix, fields, n, removed);
        free(fields);
        freeReplyObject(r);
    } while (st == C360_OK && strcmp(cursor, "0") != 0);
    return st;
}

/* Every c360:{idx}:rk:<plugin> hash (plugins loaded or not: the index
 * outlives a plugin that was removed from the host). */
static int32_t purge_rk(const char *tenant, size_t *removed)
{
    char member_prefix[CH_ID_MAX + 2];
    snprintf(member_prefix, sizeof member_prefix, "%s/", tenant);
    char pat[64];
    glob_literal("c360:{idx}:rk:", pat, sizeof pat - 1);
    strcat(pat, "*");
    char cursor[32] = "0";
    int32_t st = C360_OK;
    do {
        redisReply *r = ch_rconn_command("SCAN %s MATCH %s COUNT 1000", cursor, pat);
        if (!scan_page(r, cursor, sizeof cursor)) {
            st = io("rk-scan", r);
            if (r) freeReplyObject(r);
            break;
        }
        const redisReply *page = r->element[1];
        for (size_t i = 0; st == C360_OK && i < page->elements; i++)
            st = purge_rk_hash(page->element[i]->str, member_prefix, removed);
        freeReplyObject(r);
    } while (st == C360_OK && strcmp(cursor, "0") != 0);
    return st;
}

int32_t ch_tenant_purge_indexes(const char *tenant, size_t *removed)
{
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    size_t n = 0;
    int32_t st = int_reply("idx-tenants", ch_rconn_command("SREM %s %s", IDX_TENANTS, tenant), &n);
    if (st == C360_OK)
        st = int_reply("idx-wake", ch_rconn_command("LREM %s 0 %s", IDX_WAKE, tenant), &n);
    if (st == C360_OK)
        st = int_reply("notify-tenants", ch_rconn_command("SREM %s %s", NOTIFY_TENANTS, tenant),
                       &n);
    if (st == C360_OK)
        st = int_reply("notify-due", ch_rconn_command("ZREM %s %s", NOTIFY_DUE, tenant), &n);
    if (st == C360_OK) st = purge_conn_index(tenant, &n);
    if (st == C360_OK) st = purge_sched(tenant, &n);
    if (st == C360_OK) st = purge_rk(tenant, &n);
    if (removed) *removed = n;
    return st;
}

/* Step 3: every connection, through the disconnect path. Each disconnect
 * waits for the workers to settle (conn_ops.c) and for the plugin's
 * callback, so they run DISCONNECT_THREADS at a time: a tenant with a
 * hundred connections is deleted in seconds, not minutes. */
#define DISCONNECT_THREADS 8

typedef struct dc_job {
    ch_admin *a;
    const char *tenant, *actor, *rid;
    char **ids;
    size_t n, next, done;
    int32_t err;
    pthread_mutex_t mu;
} dc_job;

static void *dc_worker(void *arg)
{
    dc_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next < j->n && j->err == C360_OK ? j->next++ : j->n;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n) break;
        char outcome[256] = "";
        int32_t d = ch_conn_disconnect(j->a, j->tenant, j->ids[i], j->actor, j->rid, outcome,
                                       sizeof outcome);
        if (d != C360_OK && d != C360_ENOTFOUND)
            ch_log(CH_LOG_WARN, "tenant purge: disconnect failed", "tenant", j->tenant,
                   "connection", j->ids[i], "status", c360_strstatus(d), NULL);
        pthread_mutex_lock(&j->mu);
        if (d == C360_OK) j->done++;
        else if (d != C360_ENOTFOUND && j->err == C360_OK) j->err = d;
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

static void *dc_thread(void *arg)
{
    dc_worker(arg);
    ch_rconn_thread_close();
    return NULL;
}

static int32_t disconnect_all(ch_admin *a, const char *tenant, const char *actor,
                              const char *rid, size_t *count, size_t *found)
{
    dc_job j = {.a = a, .tenant = tenant, .actor = actor, .rid = rid, .err = C360_OK};
    int32_t st = ch_conn_list(tenant, &j.ids, &j.n);
    if (st != C360_OK) return st;
    *found = j.n;
    /* Disable them all first and let the workers' one-second cache of
     * connection states run out once, rather than once per connection in
     * ch_conn_disconnect (which skips the wait for a disabled one): a tenant
     * with a thousand connections takes seconds, not half an hour. */
    int disabled = 0;
    for (size_t i = 0; i < j.n; i++) {
        int32_t s = ch_conn_close(tenant, j.ids[i], "tenant deleted",
                                      actor, rid);
        if (s == C360_OK) disabled++;
    }
    if (disabled) {
        struct timespec ts = {CH_DISCONNECT_SETTLE_MS / 1000,
                              (CH_DISCONNECT_SETTLE_MS % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    pthread_mutex_init(&j.mu, NULL);
    pthread_t th[DISCONNECT_THREADS];
    size_t nth = 0;
    while (nth + 1 < DISCONNECT_THREADS && nth + 1 < j.n &&
           pthread_create(&th[nth], NULL, dc_thread, &j) == 0)
        nth++;
    dc_worker(&j); /* this thread works too (alone if no thread started) */
    for (size_t i = 0; i < nth; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
    *count += j.done;
    ch_conn_ids_free(j.ids, j.n);
    return j.err;
}

int32_t ch_tenant_purge(ch_admin *a, const char *tenant, const char *actor,
                        const char *request_id, ch_tenant_purge_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    int32_t st = ch_tenant_mark_deleting(tenant);
    if (st != C360_OK) return st;

    json_t *keys = NULL;
    st = ch_apikey_list(tenant, &keys);
    if (st != C360_OK) return st;
    size_t nkeys = json_array_size(keys);
    json_decref(keys);
    st = ch_apikey_delete_tenant(tenant);
    if (st != C360_OK) return st;
    rep->api_keys = nkeys;

    for (int round = 0; round < ROUNDS_MAX; round++) {
        size_t found = 0;
        st = disconnect_all(a, tenant, actor, request_id, &rep->connections, &found);
        if (st != C360_OK) return st;
        if (round > 0 && found == 0) break;
        st = sweep_keys(tenant, &rep->keys);
        if (st == C360_OK) st = ch_tenant_purge_indexes(tenant, &rep->index_entries);
        if (st != C360_OK) return st;
    }
    char **left;
    size_t nleft;
    st = ch_conn_list(tenant, &left, &nleft);
    if (st != C360_OK) return st;
    ch_conn_ids_free(left, nleft);
    if (nleft) {
        /* connections keep being created: leave the mark, let a re-run finish */
        ch_log(CH_LOG_WARN, "tenant purge: connections keep appearing", "tenant", tenant, NULL);
        return C360_EIO;
    }
    st = ch_tenant_forget(tenant);
    if (st == C360_OK) rep->keys++;
    if (st == C360_OK)
        ch_log(CH_LOG_INFO, "tenant deleted", "tenant", tenant, "actor", actor, NULL);
    return st;
}
