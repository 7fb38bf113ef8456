/* tenants.c -- the tenant registry and per-tenant plugin settings (see
 * tenants.h). Every write to a tenant's keys is one script that first
 * checks the tenant is live (its hash exists without the `deleting` mark),
 * so a purge that set the mark cannot be outrun by a late write. */
#include "tenants.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "connector_api.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

/* Returns 0 no hash, 1 live, 2 marked for deletion. KEYS[1] the hash. */
#define LUA_LIVE                                                        \
    "local function live(k)\n"                                          \
    "  if redis.call('EXISTS', k) == 0 then return 0 end\n"             \
    "  if redis.call('HEXISTS', k, 'deleting') == 1 then return 2 end\n" \
    "  return 1\n"                                                      \
    "end\n"

static ch_script s_state = CH_SCRIPT(LUA_LIVE "return live(KEYS[1])\n");

/* KEYS[1] hash, KEYS[2] the tenant's audit head (a deleted tenant of the
 * same id left its chain: the new one starts reading after it, audit_from).
 * ARGV: name, limits, retention_days, now. Returns 0 when
 * created, else live() of the existing one (1 or 2). */
static ch_script s_create = CH_SCRIPT(
    LUA_LIVE
    "local l = live(KEYS[1])\n"
    "if l ~= 0 then return l end\n"
    "local from = redis.call('HGET', KEYS[2], 'seq') or '0'\n"
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'limits', ARGV[2], 'retention_days', ARGV[3],\n"
    "           'version', 1, 'created_ms', ARGV[4], 'updated_ms', ARGV[4], 'audit_from', from)\n"
    "return 0\n");

/* KEYS[1] hash. ARGV: expected version (decimal text, '' = any), now,
 * name, retention_days, limits patch (JSON object: a member sets that
 * limit, null removes it) -- '' = unchanged for each. One script, so
 * concurrent unconditional updates never lose one another's changes.
 * Returns {new version}, {-1} (absent or deleting) or {-2, stored
 * version text}. */
static ch_script s_update = CH_SCRIPT(
    LUA_LIVE
    "if live(KEYS[1]) ~= 1 then return {-1} end\n"
    "local v = redis.call('HGET', KEYS[1], 'version') or '0'\n"
    "if ARGV[1] ~= '' and v ~= ARGV[1] then return {-2, v} end\n"
    "if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[3]) end\n"
    "if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'retention_days', ARGV[4]) end\n"
    "if ARGV[5] ~= '' then\n"
    "  local cur = {}\n"
    "  local s = redis.call('HGET', KEYS[1], 'limits')\n"
    "  if s then\n"
    "    local ok, d = pcall(cjson.decode, s)\n"
    "    if ok and type(d) == 'table' then cur = d end\n"
    "  end\n"
    "  for k, x in pairs(cjson.decode(ARGV[5])) do\n"
    "    if x == cjson.null then cur[k] = nil else cur[k] = x end\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], 'limits', cjson.encode(cur))\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'updated_ms', ARGV[2])\n"
    "return {redis.call('HINCRBY', KEYS[1], 'version', 1)}\n");

/* KEYS[1] tenant hash, KEYS[2] plugins hash. ARGV: plugin, entry JSON. */
static ch_script s_plugin_set = CH_SCRIPT(
    LUA_LIVE
    "if live(KEYS[1]) ~= 1 then return 0 end\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "return 1\n");

/* KEYS[1] hash. Returns 0 when there is no hash, else 1. */
static ch_script s_mark = CH_SCRIPT(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'deleting', '1')\n"
    "return 1\n");

static int32_t io(const char *op, const redisReply *r)
{
    ch_log(CH_LOG_WARN, "tenants: redis step failed", "op", op, "error",
           !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
           NULL);
    return C360_EIO;
}

static int32_t int_reply(const char *op, redisReply *r, long long *out)
{
    int32_t st = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : io(op, r);
    if (st == C360_OK && out) *out = r->integer;
    if (r) freeReplyObject(r);
    return st;
}

void ch_tenant_free(ch_tenant *t)
{
    if (!t) return;
    json_decref(t->limits);
    free(t);
}

int ch_tenant_name_valid(const char *name)
{
    if (!name) return 0;
    size_t n = strnlen(name, CH_TENANT_NAME_MAX + 1);
    if (n == 0 || n > CH_TENANT_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

int ch_tenant_state(const char *id)
{
    if (!ch_id_valid(id)) return CH_TENANT_ABSENT;
    char *k = ch_key_tenant(id, "tenant");
    const char *argv[] = {k};
    long long v = -1;
    int32_t st = int_reply("state", ch_rconn_eval(&s_state, 1, 1, argv, NULL), &v);
    free(k);
    return st == C360_OK ? (int)v : -1;
}

int ch_tenant_exists(const char *id)
{
    int s = ch_tenant_state(id);
    return s < 0 ? -1 : s == CH_TENANT_LIVE;
}

static int64_t parse_i64(const char *s)
{
    long long v;
    return s && ch_parse_ll(s, 0, INT64_MAX, &v) == 0 ? (int64_t)v : 0;
}

/* A tenant from an HGETALL reply; NULL when it is empty or marked. */
static ch_tenant *from_hash(const char *id, const redisReply *r)
{
    if (r->elements == 0) return NULL;
    ch_tenant *t = ch_calloc(1, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (!f || !v) continue;
        if (strcmp(f, "deleting") == 0) {
            ch_tenant_free(t);
            return NULL;
        } else if (strcmp(f, "name") == 0) {
            snprintf(t->name, sizeof t->name, "%s", v);
        } else if (strcmp(f, "limits") == 0) {
            json_t *l = json_loads(v, 0, NULL);
            if (json_is_object(l)) t->limits = l;
            else json_decref(l);
        } else if (strcmp(f, "retention_days") == 0) {
            t->retention_days = (uint32_t)parse_i64(v);
        } else if (strcmp(f, "audit_from") == 0) {
            t->audit_from = (uint64_t)parse_i64(v);
        } else if (strcmp(f, "version") == 0) {
            t->version = (uint64_t)parse_i64(v);
        } else if (strcmp(f, "created_ms") == 0) {
            t->created_ms = parse_i64(v);
        } else if (strcmp(f, "updated_ms") == 0) {
            t->updated_ms = parse_i64(v);
        }
    }
    if (!t->limits) t->limits = json_object();
    return t;
}

int32_t ch_tenant_get(const char *id, ch_tenant **out)
{
    *out = NULL;
    if (!ch_id_valid(id)) return C360_ENOTFOUND;
    char *k = ch_key_tenant(id, "tenant");
    redisReply *r = ch_rconn_command("HGETALL %s", k);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        int32_t st = io("get", r);
        if (r) freeReplyObject(r);
        return st;
    }
    *out = from_hash(id, r);
    freeReplyObject(r);
    return *out ? C360_OK : C360_ENOTFOUND;
}

json_t *ch_tenant_to_json(const ch_tenant *t)
{
    return json_pack("{s:s, s:s, s:O, s:I, s:I, s:I, s:I}", "id", t->id, "name", t->name,
                     "limits", t->limits, "retention_days", (json_int_t)t->retention_days,
                     "version", (json_int_t)t->version, "created_ms", (json_int_t)t->created_ms,
                     "updated_ms", (json_int_t)t->updated_ms);
}

/* "/limits/<key>" with the key escaped as a JSON Pointer token (and cut:
 * a detail never grows with the caller's input). */
static json_t *limit_detail(const char *key, const char *msg)
{
    char path[160] = "/limits/";
    size_t j = strlen(path);
    for (const char *p = key; *p && j + 3 < sizeof path; p++) {
        if (*p == '~' || *p == '/') {
            path[j++] = '~';
            path[j++] = *p == '~' ? '0' : '1';
        } else {
            path[j++] = *p;
        }
    }
    path[j] = '\0';
    return json_pack("{s:s, s:s}", "path", path, "message", msg);
}

size_t ch_tenant_limits_check(const json_t *limits, int allow_null, json_t *details)
{
    size_t bad = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)limits, key, v) {
        const char *why = NULL;
        if (strcmp(key, "max_connections") != 0) why = "unknown limit";
        else if (json_is_null(v) && allow_null) why = NULL;
        else if (!json_is_integer(v)) why = "must be an integer";
        else if (json_integer_value(v) < 0 || json_integer_value(v) > CH_TENANT_LIMIT_MAX)
            why = "must be between 0 and 1000000000";
        if (why) {
            json_array_append_new(details, limit_detail(key, why));
            bad++;
        }
    }
    return bad;
}

int32_t ch_tenant_create(const char *id, const char *name, const json_t *limits,
                         uint32_t retention_days, ch_tenant **out)
{
    if (out) *out = NULL;
    if (!ch_id_valid(id) || !ch_tenant_name_valid(name) ||
        retention_days > CH_TENANT_RETENTION_MAX || (limits && !json_is_object(limits)))
        return C360_EINVAL;
    char *lim = limits ? json_dumps(limits, JSON_COMPACT | JSON_SORT_KEYS) : ch_strdup("{}");
    char ret[16], now[24];
    snprintf(ret, sizeof ret, "%" PRIu32, retention_days);
    snprintf(now, sizeof now, "%" PRId64, ch_now_ms());
    char *k = ch_key_tenant(id, "tenant");
    char *kh = ch_key_tenant(id, "audit:head");
    const char *argv[] = {k, kh, name, lim, ret, now};
    long long res = 0;
    int32_t st = int_reply("create", ch_rconn_eval(&s_create, 2, 6, argv, NULL), &res);
    free(k);
    free(kh);
    free(lim);
    if (st != C360_OK) return st;
    if (res == CH_TENANT_DELETING) return C360_ECONFLICT;
    /* A live tenant (new, or one a crash left out of the registry): listed. */
    st = int_reply("register", ch_rconn_command("SADD %s %s", CH_TENANT_REGISTRY, id), NULL);
    if (st != C360_OK) return st;
    if (res != 0) return C360_ECONFLICT;
    if (out && ch_tenant_get(id, out) != C360_OK) return C360_EIO;
    return C360_OK;
}

int32_t ch_tenant_update(const char *id, const ch_tenant_patch *p, uint64_t expected,
                         uint64_t *current, ch_tenant **out)
{
    if (out) *out = NULL;
    if (!ch_id_valid(id)) return C360_ENOTFOUND;
    if ((p->name && !ch_tenant_name_valid(p->name)) ||
        (p->set_retention && p->retention_days > CH_TENANT_RETENTION_MAX) ||
        (p->limits && !json_is_object(p->limits)))
        return C360_EINVAL;
    char ver[24] = "", now[24], ret[16] = "";
    if (expected) snprintf(ver, sizeof ver, "%" PRIu64, expected);
    snprintf(now, sizeof now, "%" PRId64, ch_now_ms());
    if (p->set_retention) snprintf(ret, sizeof ret, "%" PRIu32, p->retention_days);
    char *lim = p->limits ? json_dumps(p->limits, JSON_COMPACT) : ch_strdup("");
    char *k = ch_key_tenant(id, "tenant");
    const char *argv[] = {k, ver, now, p->name ? p->name : "", ret, lim};
    redisReply *r = ch_rconn_eval(&s_update, 1, 6, argv, NULL);
    free(k);
    free(lim);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        int32_t st = io("update", r);
        if (r) freeReplyObject(r);
        return st;
    }
    long long res = r->element[0]->integer;
    if (current) {
        if (res == -2 && r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING)
            *current = (uint64_t)parse_i64(r->element[1]->str);
        else if (res > 0)
            *current = (uint64_t)res;
    }
    freeReplyObject(r);
    if (res == -1) return C360_ENOTFOUND;
    if (res == -2) return C360_ECONFLICT;
    if (out && ch_tenant_get(id, out) != C360_OK) return C360_EIO;
    return C360_OK;
}

/* One stored plugin entry; 0 when it does not parse. */
static int parse_entry(const char *text, int *enabled, uint32_t *max, int64_t *updated)
{
    json_t *j = json_loads(text, 0, NULL);
    json_t *e = json_object_get(j, "enabled"), *m = json_object_get(j, "max_connections"),
           *u = json_object_get(j, "updated_ms");
    int ok = json_is_boolean(e) && (!m || json_is_integer(m)) && (!u || json_is_integer(u));
    if (ok) {
        *enabled = json_is_true(e);
        json_int_t mv = m ? json_integer_value(m) : 0;
        *max = mv < 0 || mv > CH_TENANT_LIMIT_MAX ? 0 : (uint32_t)mv;
        *updated = u ? (int64_t)json_integer_value(u) : 0;
    }
    json_decref(j);
    return ok;
}

static json_t *entry_json(int enabled, uint32_t max, int64_t updated)
{
    return json_pack("{s:b, s:I, s:I}", "enabled", enabled, "max_connections", (json_int_t)max,
                     "updated_ms", (json_int_t)updated);
}

int32_t ch_tenant_plugin(const char *tenant, const char *plugin, int *enabled,
                         uint32_t *max_connections)
{
    *enabled = 0;
    if (max_connections) *max_connections = 0;
    if (!ch_id_valid(tenant) || !plugin || !*plugin || strlen(plugin) > CH_ID_MAX)
        return C360_EINVAL;
    char *k = ch_key_tenant(tenant, "plugins");
    redisReply *r = ch_rconn_command("HGET %s %s", k, plugin);
    free(k);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        int32_t st = io("plugin", r);
        if (r) freeReplyObject(r);
        return st;
    }
    int en = 0;
    uint32_t max = 0;
    int64_t upd;
    if (r->type == REDIS_REPLY_STRING && !parse_entry(r->str, &en, &max, &upd)) en = 0;
    freeReplyObject(r);
    *enabled = en;
    if (max_connections) *max_connections = en ? max : 0;
    return C360_OK;
}

int32_t ch_tenant_plugins(const char *tenant, json_t **out)
{
    *out = NULL;
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    char *k = ch_key_tenant(tenant, "plugins");
    redisReply *r = ch_rconn_command("HGETALL %s", k);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        int32_t st = io("plugins", r);
        if (r) freeReplyObject(r);
        return st;
    }
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        int en;
        uint32_t max;
        int64_t upd;
        if (r->element[i]->str && r->element[i + 1]->str &&
            parse_entry(r->element[i + 1]->str, &en, &max, &upd))
            json_object_set_new(o, r->element[i]->str, entry_json(en, max, upd));
    }
    freeReplyObject(r);
    *out = o;
    return C360_OK;
}

int32_t ch_tenant_plugin_set(const char *tenant, const char *plugin, int enabled,
                             const uint32_t *max_connections, json_t **entry)
{
    if (entry) *entry = NULL;
    if (!ch_id_valid(tenant) || !ch_id_valid(plugin) ||
        (max_connections && *max_connections > CH_TENANT_LIMIT_MAX))
        return C360_EINVAL;
    uint32_t max = 0;
    if (max_connections) {
        max = *max_connections;
    } else {
        /* the stored cap, whether or not the plugin is enabled now */
        char *k = ch_key_tenant(tenant, "plugins");
        redisReply *r = ch_rconn_command("HGET %s %s", k, plugin);
        free(k);
        if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
            int32_t st = io("plugin-get", r);
            if (r) freeReplyObject(r);
            return st;
        }
        int en;
        int64_t upd;
        if (r->type == REDIS_REPLY_STRING && !parse_entry(r->str, &en, &max, &upd)) max = 0;
        freeReplyObject(r);
    }
    json_t *e = entry_json(enabled, max, ch_now_ms());
    char *text = json_dumps(e, JSON_COMPACT);
    char *kt = ch_key_tenant(tenant, "tenant"), *kp = ch_key_tenant(tenant, "plugins");
    const char *argv[] = {kt, kp, plugin, text};
    long long ok = 0;
    int32_t st = int_reply("plugin-set", ch_rconn_eval(&s_plugin_set, 2, 4, argv, NULL), &ok);
    free(kt);
    free(kp);
    free(text);
    if (st == C360_OK && !ok) st = C360_ENOTFOUND;
    if (st == C360_OK && entry) *entry = e;
    else json_decref(e);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int32_t ch_tenant_list(char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    redisReply *r = ch_rconn_command("SMEMBERS %s", CH_TENANT_REGISTRY);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        int32_t st = io("list", r);
        if (r) freeReplyObject(r);
        return st;
    }
    char **v = ch_calloc(r->elements ? r->elements : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING && ch_id_valid(r->element[i]->str))
            v[k++] = ch_strdup(r->element[i]->str);
    freeReplyObject(r);
    qsort(v, k, sizeof *v, cmp_str);
    *ids = v;
    *n = k;
    return C360_OK;
}

int32_t ch_tenant_mark_deleting(const char *id)
{
    if (!ch_id_valid(id)) return C360_EINVAL;
    char *k = ch_key_tenant(id, "tenant");
    const char *argv[] = {k};
    long long ok = 0;
    int32_t st = int_reply("mark", ch_rconn_eval(&s_mark, 1, 1, argv, NULL), &ok);
    free(k);
    return st == C360_OK && !ok ? C360_ENOTFOUND : st;
}

int32_t ch_tenant_forget(const char *id)
{
    if (!ch_id_valid(id)) return C360_EINVAL;
    int32_t st =
        int_reply("forget-registry", ch_rconn_command("SREM %s %s", CH_TENANT_REGISTRY, id), NULL);
    if (st != C360_OK) return st;
    char *k = ch_key_tenant(id, "tenant");
    st = int_reply("forget-hash", ch_rconn_command("DEL %s", k), NULL);
    free(k);
    return st;
}
