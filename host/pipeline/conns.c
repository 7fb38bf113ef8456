/* conns.c -- see conns.h: create/update, read, list, state. Routes and
 * routing keys are in conns_routes.c, deletion in conns_purge.c. */
#include "conns.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "call.h"
#include "connstatus.h"
#include "conns_int.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

/* KEYS[1] conn hash, KEYS[2] tenant's conns set. ARGV: id, plugin, config,
 * interval_s, state ('' = keep; 'active' when new), cause, ticks, now,
 * name given ('1'/'0'), name, expected version ('0' = any), must create
 * ('1'/'0'). The plugin of a connection never changes: its instances,
 * routing keys and stored events all assume one plugin. Returns {version,
 * created, state}; the errors C360EXISTS, C360PLUGIN and C360VERSION change
 * nothing. */
static ch_script s_put = CH_SCRIPT(
    "local cur = redis.call('HGET', KEYS[1], 'plugin')\n"
    "if cur and ARGV[12] == '1' then return redis.error_reply('C360EXISTS') end\n"
    "if cur and cur ~= ARGV[2] then return redis.error_reply('C360PLUGIN') end\n"
    "if ARGV[11] ~= '0' and (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[11] then\n"
    "  return redis.error_reply('C360VERSION')\n"
    "end\n"
    "local created = 0\n"
    "if not cur then\n"
    "  created = 1\n"
    "  redis.call('HSET', KEYS[1], 'created_ms', ARGV[8], 'state', 'active', 'cause', '', 'name', '')\n"
    "end\n"
    "if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'state', ARGV[5], 'cause', ARGV[6]) end\n"
    "if ARGV[9] == '1' then redis.call('HSET', KEYS[1], 'name', ARGV[10]) end\n"
    "local ver = redis.call('HINCRBY', KEYS[1], 'version', 1)\n"
    "redis.call('HSET', KEYS[1], 'plugin', ARGV[2], 'config', ARGV[3], 'interval_s', ARGV[4],\n"
    "           'ticks', ARGV[7], 'updated_ms', ARGV[8])\n"
    "redis.call('SADD', KEYS[2], ARGV[1])\n"
    "return {ver, created, redis.call('HGET', KEYS[1], 'state')}\n");

/* KEYS[1] conn hash. ARGV: state, cause, now, close ("1": the connection
 * is being disconnected; it is marked `closing` and no later state change
 * may take it out of `disabled`). Returns the ticks flag, -1 when the
 * connection does not exist, -2 when it is closing. */
static ch_script s_state = CH_SCRIPT(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
    "if ARGV[4] ~= '1' and redis.call('HGET', KEYS[1], 'closing') == '1' then return -2 end\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[1], 'cause', ARGV[2], 'updated_ms', ARGV[3])\n"
    "if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'closing', '1') end\n"
    "return tonumber(redis.call('HGET', KEYS[1], 'ticks') or '0')\n");

static const char *const k_states[] = {
    CH_CONN_STATE_ACTIVE, CH_CONN_STATE_PAUSED, CH_CONN_STATE_DISABLED,
    CH_CONN_STATE_NEEDS_REAUTH, CH_CONN_STATE_FAILING};

int ch_conn_state_valid(const char *state)
{
    if (!state) return 0;
    for (size_t i = 0; i < sizeof k_states / sizeof k_states[0]; i++)
        if (strcmp(state, k_states[i]) == 0) return 1;
    return 0;
}

/* Scheduled work runs for these states; the others stop it. */
static int state_schedules(const char *state)
{
    return strcmp(state, CH_CONN_STATE_ACTIVE) == 0 ||
           strcmp(state, CH_CONN_STATE_FAILING) == 0;
}

int32_t ch_conns_io(const char *op, const redisReply *r)
{
    ch_log(CH_LOG_WARN, "conns: redis step failed", "op", op, "error",
           !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
           NULL);
    return C360_EIO;
}

int ch_conns_plugin_valid(const char *p)
{
    if (!p) return 0;
    size_t n = strnlen(p, CH_CONN_PLUGIN_MAX);
    if (n == 0 || n >= CH_CONN_PLUGIN_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
            return 0;
    return 1;
}

void ch_conns_member(const char *tenant, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tenant, id);
}

int ch_conns_actor_valid(const char *actor) { return ch_audit_field_valid(actor, 0); }

void ch_conns_audit(const char *tenant, const char *id, const char *actor,
                    const char *action, const char *target, const char *outcome,
                    const char *request_id)
{
    ch_audit_entry e = {.tenant = tenant, .actor = actor, .connection = id,
                        .action = action, .target = target, .outcome = outcome,
                        .request_id = request_id};
    int32_t st = ch_audit_append(&e, NULL);
    if (st != C360_OK)
        ch_log(CH_LOG_WARN, "conns: audit append failed", "tenant", tenant, "connection", id,
               "action", action, "status", c360_strstatus(st), NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int32_t ch_conns_strings(const redisReply *r, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) return C360_EIO;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING) return C360_EIO;
    char **v = ch_calloc(r->elements ? r->elements : 1, sizeof *v);
    for (size_t i = 0; i < r->elements; i++)
        v[i] = ch_strndup(r->element[i]->str, r->element[i]->len);
    qsort(v, r->elements, sizeof *v, cmp_str);
    *out = v;
    *n = r->elements;
    return C360_OK;
}

void ch_conn_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

int32_t ch_conns_sched(const char *tenant, const char *id, int in)
{
    char m[2 * CH_ID_MAX + 2];
    ch_conns_member(tenant, id, m, sizeof m);
    redisReply *r = in ? ch_rconn_command("ZADD %s NX %lld %s", CH_SCHED_DUE,
                                          (long long)ch_now_ms(), m)
                       : ch_rconn_command("ZREM %s %s", CH_SCHED_DUE, m);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("sched", r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_publish_changed(const char *tenant, const char *id)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(id)) return C360_EINVAL;
    char m[2 * CH_ID_MAX + 2];
    ch_conns_member(tenant, id, m, sizeof m);
    redisReply *r = ch_rconn_command("PUBLISH %s %s", CH_CONN_CHANNEL, m);
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : ch_conns_io("publish", r);
    if (r) freeReplyObject(r);
    return st;
}

/* Claims the global id for the tenant: HSETNX, then a read to tell "ours
 * already" from "another tenant's". */
static int32_t claim_id(const char *tenant, const char *id)
{
    redisReply *r = ch_rconn_command("HSETNX %s %s %s", CH_IDX_CONN, id, tenant);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        int32_t st = ch_conns_io("claim", r);
        if (r) freeReplyObject(r);
        return st;
    }
    int fresh = r->integer == 1;
    freeReplyObject(r);
    if (fresh) return C360_OK;
    r = ch_rconn_command("HGET %s %s", CH_IDX_CONN, id);
    int32_t st;
    if (r && r->type == REDIS_REPLY_STRING)
        st = strcmp(r->str, tenant) == 0 ? C360_OK : C360_ECONFLICT;
    else if (r && r->type == REDIS_REPLY_NIL)
        st = C360_ECONFLICT; /* purged between the two steps: retry later */
    else
        st = ch_conns_io("claim-check", r);
    if (r) freeReplyObject(r);
    return st;
}

/* A display name: bounded, no control characters (it is shown in tables
 * and logs of the CLI). UTF-8 is the admin API's to check. */
static int name_valid(const char *name)
{
    if (!name) return 1;
    size_t n = strnlen(name, CH_CONN_NAME_MAX + 1);
    if (n > CH_CONN_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
    return 1;
}

static void clean_cause(const char *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s", in ? in : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

int32_t ch_conn_put(const ch_conn_spec *s, const char *actor, const char *request_id,
                    uint64_t *version_out, int *created)
{
    if (version_out) *version_out = 0;
    if (created) *created = 0;
    if (!s || !ch_id_valid(s->tenant) || !ch_id_valid(s->id) ||
        !ch_conns_plugin_valid(s->plugin) || (s->state && !ch_conn_state_valid(s->state)) ||
        !ch_conns_actor_valid(actor) || s->config_len > CH_CONN_CONFIG_MAX ||
        (!s->config && s->config_len) || !name_valid(s->name))
        return C360_EINVAL;
    /* A disconnected id stays its owner's while its mark lives. */
    int other = 0;
    int32_t st = ch_conn_gone_other_owner(s->tenant, s->id, &other);
    if (st != C360_OK) return st;
    if (other) return C360_ECONFLICT;
    st = claim_id(s->tenant, s->id);
    if (st != C360_OK) return st;

    char *kc = ch_key_tenant(s->tenant, "conn:%s", s->id);
    char *ks = ch_key_tenant(s->tenant, "conns");
    char interval[16], now[24], cause[CH_CONN_CAUSE_MAX], expect[24];
    snprintf(interval, sizeof interval, "%" PRIu32, s->interval_s);
    snprintf(expect, sizeof expect, "%" PRIu64, s->expect_version);
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    clean_cause(s->cause, cause, sizeof cause);
    const char *cfg = s->config ? s->config : "{}";
    size_t cfg_len = s->config ? s->config_len : 2;
    const char *argv[14] = {kc, ks, s->id, s->plugin, cfg, interval,
                            s->state ? s->state : "", cause, s->ticks ? "1" : "0", now,
                            s->name ? "1" : "0", s->name ? s->name : "", expect,
                            s->must_create ? "1" : "0"};
    size_t lens[14];
    for (int i = 0; i < 14; i++) lens[i] = strlen(argv[i]);
    lens[4] = cfg_len;
    redisReply *r = ch_rconn_eval(&s_put, 2, 14, argv, lens);
    free(kc);
    free(ks);
    uint64_t ver = 0;
    int is_new = 0;
    char state[CH_CONN_STATE_MAX] = "";
    if (r && r->type == REDIS_REPLY_ERROR &&
        (strstr(r->str, "C360PLUGIN") || strstr(r->str, "C360VERSION") ||
         strstr(r->str, "C360EXISTS"))) {
        st = C360_ECONFLICT;
    } else if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
               r->element[0]->type == REDIS_REPLY_INTEGER &&
               r->element[1]->type == REDIS_REPLY_INTEGER &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        ver = (uint64_t)r->element[0]->integer;
        is_new = r->element[1]->integer == 1;
        snprintf(state, sizeof state, "%s", r->element[2]->str);
        st = C360_OK;
    } else {
        st = ch_conns_io("put", r);
    }
    if (r) freeReplyObject(r);
    if (st != C360_OK) return st;

    r = ch_rconn_command("SADD %s %s", CH_IDX_TENANTS, s->tenant);
    if (!r || r->type != REDIS_REPLY_INTEGER) st = ch_conns_io("tenants", r);
    if (r) freeReplyObject(r);
    if (st == C360_OK) st = ch_conns_sched(s->tenant, s->id, s->ticks && state_schedules(state));
    /* The admin API shows connstatus: keep it in step when a state is
     * named (a new connection without one is "active", which an absent
     * status means already). */
    if (st == C360_OK && s->state) {
        st = ch_connstatus_set(s->tenant, s->id, s->state, cause);
        if (st != C360_OK) ch_conns_io("connstatus", NULL);
    }
    /* A new connection re-using a disconnected one's id takes its URL
     * back: the tombstone goes (a failure only leaves a mark that the
     * live connection outranks in conncache). */
    if (st == C360_OK && is_new) (void)ch_conn_gone_clear(s->id);
    if (st == C360_OK) st = ch_conn_publish_changed(s->tenant, s->id);
    ch_conns_audit(s->tenant, s->id, actor, is_new ? "connection.create" : "connection.update",
                   s->id, st == C360_OK ? "ok" : "error:io", request_id);
    if (st != C360_OK) return st;
    if (version_out) *version_out = ver;
    if (created) *created = is_new;
    return C360_OK;
}

void ch_conn_free(ch_conn *c)
{
    if (!c) return;
    free(c->config);
    free(c);
}

static int64_t field_ll(const redisReply *v)
{
    long long x = 0;
    if (v->type == REDIS_REPLY_STRING && ch_parse_ll(v->str, 0, INT64_MAX, &x) == 0) return x;
    return 0;
}

int32_t ch_conn_get(const char *tenant, const char *id, ch_conn **out)
{
    *out = NULL;
    if (!ch_id_valid(tenant) || !ch_id_valid(id)) return C360_EINVAL;
    char *k = ch_key_tenant(tenant, "conn:%s", id);
    redisReply *r = ch_rconn_command(
        "HMGET %s plugin state cause config interval_s ticks version created_ms updated_ms name",
        k);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 10) {
        int32_t st = ch_conns_io("get", r);
        if (r) freeReplyObject(r);
        return st;
    }
    redisReply **e = r->element;
    if (e[0]->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return C360_ENOTFOUND;
    }
    /* plugin, state, config and version are written together by s_put:
     * one missing means a hash this module did not write. */
    if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING ||
        e[3]->type != REDIS_REPLY_STRING || e[6]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return ch_conns_io("get-fields", NULL);
    }
    ch_conn *c = ch_calloc(1, sizeof *c);
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->plugin, sizeof c->plugin, "%s", e[0]->str);
    snprintf(c->state, sizeof c->state, "%s", e[1]->str);
    if (e[2]->type == REDIS_REPLY_STRING) snprintf(c->cause, sizeof c->cause, "%s", e[2]->str);
    c->config = ch_malloc(e[3]->len + 1);
    memcpy(c->config, e[3]->str, e[3]->len);
    c->config[e[3]->len] = '\0';
    c->config_len = e[3]->len;
    int64_t iv = field_ll(e[4]);
    c->interval_s = iv > UINT32_MAX ? UINT32_MAX : (uint32_t)iv;
    c->ticks = field_ll(e[5]) == 1;
    c->version = (uint64_t)field_ll(e[6]);
    c->created_ms = field_ll(e[7]);
    c->updated_ms = field_ll(e[8]);
    if (e[9]->type == REDIS_REPLY_STRING) snprintf(c->name, sizeof c->name, "%s", e[9]->str);
    freeReplyObject(r);
    *out = c;
    return C360_OK;
}

int32_t ch_conn_tenant_of(const char *id, char *tenant)
{
    tenant[0] = '\0';
    if (!ch_id_valid(id)) return C360_EINVAL;
    redisReply *r = ch_rconn_command("HGET %s %s", CH_IDX_CONN, id);
    int32_t st;
    if (r && r->type == REDIS_REPLY_NIL) st = C360_ENOTFOUND;
    else if (r && r->type == REDIS_REPLY_STRING && ch_id_valid(r->str)) {
        snprintf(tenant, CH_ID_MAX + 1, "%s", r->str);
        st = C360_OK;
    } else st = ch_conns_io("tenant-of", r);
    if (r) freeReplyObject(r);
    return st;
}

int32_t ch_conn_list(const char *tenant, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    char *k = ch_key_tenant(tenant, "conns");
    redisReply *r = ch_rconn_command("SMEMBERS %s", k);
    free(k);
    int32_t st = ch_conns_strings(r, ids, n);
    if (st != C360_OK) ch_conns_io("list", r);
    if (r) freeReplyObject(r);
    return st;
}

static int32_t set_state(const char *tenant, const char *id, const char *state,
                         const char *cause, const char *actor, const char *request_id,
                         int close)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(id) || !ch_conn_state_valid(state) ||
        !ch_conns_actor_valid(actor))
        return C360_EINVAL;
    char c[CH_CONN_CAUSE_MAX], now[24];
    clean_cause(cause, c, sizeof c);
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    char *k = ch_key_tenant(tenant, "conn:%s", id);
    const char *argv[5] = {k, state, c, now, close ? "1" : "0"};
    redisReply *r = ch_rconn_eval(&s_state, 1, 5, argv, NULL);
    free(k);
    int32_t st;
    long long ticks = 0;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        ticks = r->integer;
        st = ticks == -1 ? C360_ENOTFOUND : ticks == -2 ? C360_ECONFLICT : C360_OK;
    } else {
        st = ch_conns_io("set-state", r);
    }
    if (r) freeReplyObject(r);
    if (st != C360_OK) return st;
    st = ch_connstatus_set(tenant, id, state, c);
    if (st != C360_OK) st = ch_conns_io("connstatus", NULL);
    if (st == C360_OK) st = ch_conns_sched(tenant, id, ticks == 1 && state_schedules(state));
    if (st == C360_OK) st = ch_conn_publish_changed(tenant, id);
    ch_conns_audit(tenant, id, actor, close ? "connection.close" : "connection.state", state,
                   st == C360_OK ? "ok" : "error:io", request_id);
    return st;
}

/* KEYS[1] conn hash. ARGV: now. The new version, or -1 if absent. */
static ch_script s_touch = CH_SCRIPT(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
    "redis.call('HSET', KEYS[1], 'updated_ms', ARGV[1])\n"
    "return redis.call('HINCRBY', KEYS[1], 'version', 1)\n");

int32_t ch_conn_touch(const char *tenant, const char *id)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(id)) return C360_EINVAL;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    char *k = ch_key_tenant(tenant, "conn:%s", id);
    const char *argv[2] = {k, now};
    redisReply *r = ch_rconn_eval(&s_touch, 1, 2, argv, NULL);
    free(k);
    int32_t st;
    if (r && r->type == REDIS_REPLY_INTEGER) st = r->integer < 0 ? C360_ENOTFOUND : C360_OK;
    else st = ch_conns_io("touch", r);
    if (r) freeReplyObject(r);
    /* The version is what counts: worker processes re-check it, and the
     * masters' connection caches reload on their own as well; the notice
     * only makes the masters see it at once. Its failure is logged, not
     * the caller's. */
    if (st == C360_OK && ch_conn_publish_changed(tenant, id) != C360_OK)
        ch_log(CH_LOG_WARN, "connections: version bumped but the change notice not published; "
               "other hosts see it at their next reload", "tenant", tenant, "connection", id, NULL);
    return st;
}

int32_t ch_conn_set_state(const char *tenant, const char *id, const char *state,
                          const char *cause, const char *actor, const char *request_id)
{
    return set_state(tenant, id, state, cause, actor, request_id, 0);
}

int32_t ch_conn_close(const char *tenant, const char *id, const char *cause, const char *actor,
                      const char *request_id)
{
    return set_state(tenant, id, CH_CONN_STATE_DISABLED, cause, actor, request_id, 1);
}
