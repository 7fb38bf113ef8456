/* state.c -- see state.h. Mutations are Lua scripts so that value, version
 * and TTL change together; both keys a script touches carry the tenant's
 * hash tag, so the scripts stay legal on Redis Cluster. */
#include "state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "svc.h"
#include "util.h"

/* KEYS[1] state hash, KEYS[2] version counter;
 * ARGV[1] value, ARGV[2] ttl ms, ARGV[3] expected version ("" = any). */
static ch_script write_script = CH_SCRIPT(
    "if ARGV[3] ~= '' then\n"
    "  local cur = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')\n"
    "  if cur ~= tonumber(ARGV[3]) then return -1 end\n"
    "end\n"
    "local ver = redis.call('INCR', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'ver', ver)\n"
    "local ttl = tonumber(ARGV[2])\n"
    "if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end\n"
    "return ver\n");

/* KEYS as above; ARGV[1] delta. Returns {new value, version} or an error
 * when the stored value is not an integer. */
static ch_script incr_script = CH_SCRIPT(
    "local cur = redis.call('HGET', KEYS[1], 'v')\n"
    "local n = 0\n"
    "if cur then\n"
    "  if not string.match(cur, '^-?%d+$') or #cur > 19 then return redis.error_reply('C360NOTINT') end\n"
    "  n = tonumber(cur)\n"
    "end\n"
    "n = n + tonumber(ARGV[1])\n"
    "local s = string.format('%d', n)\n"
    "local ver = redis.call('INCR', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], 'v', s, 'ver', ver)\n"
    "return {s, ver}\n");

static int32_t check_args(const char *tenant, const char *conn, const char *key)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(conn) || !ch_name_valid(key)) return C360_EINVAL;
    return C360_OK;
}

static void keys_for(const char *tenant, const char *conn, const char *key,
                     char **k_state, char **k_ver)
{
    *k_state = ch_key_tenant(tenant, "state:%s:%s", conn, key);
    *k_ver = ch_key_tenant(tenant, "statever:%s", conn);
}

static int32_t io_error(const char *what)
{
    ch_log(CH_LOG_WARN, "state: redis unavailable", "op", what, "error", ch_rconn_error(), NULL);
    return C360_EIO;
}

int32_t ch_state_get(const char *tenant, const char *conn, const char *key,
                     uint8_t **value, size_t *len, uint64_t *version)
{
    *value = NULL;
    *len = 0;
    int32_t st = check_args(tenant, conn, key);
    if (st != C360_OK) return st;
    char *k = ch_key_tenant(tenant, "state:%s:%s", conn, key);
    redisReply *r = ch_rconn_command("HMGET %s v ver", k);
    free(k);
    if (!r) return io_error("get");
    st = C360_EIO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *v = r->element[0], *ver = r->element[1];
        if (v->type == REDIS_REPLY_NIL) {
            st = C360_ENOTFOUND;
        } else if (v->type == REDIS_REPLY_STRING && ver->type == REDIS_REPLY_STRING) {
            *value = ch_malloc(v->len + 1);
            memcpy(*value, v->str, v->len);
            (*value)[v->len] = '\0';
            *len = v->len;
            if (version) *version = strtoull(ver->str, NULL, 10);
            st = C360_OK;
        }
    }
    freeReplyObject(r);
    return st;
}

static int32_t write_value(const char *tenant, const char *conn, const char *key,
                           const void *value, size_t len, uint32_t ttl_ms,
                           const char *expected, uint64_t *new_version)
{
    int32_t st = check_args(tenant, conn, key);
    if (st != C360_OK) return st;
    if (!value && len) return C360_EINVAL;
    if (len > ch_svc_limits_current.state_max_value) return C360_ETOOBIG;
    char *ks, *kv;
    keys_for(tenant, conn, key, &ks, &kv);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%" PRIu32, ttl_ms);
    const char *argv[5] = {ks, kv, value ? (const char *)value : "", ttl, expected};
    size_t lens[5] = {strlen(ks), strlen(kv), len, strlen(ttl), strlen(expected)};
    redisReply *r = ch_rconn_eval(&write_script, 2, 5, argv, lens);
    free(ks);
    free(kv);
    if (!r) return io_error("set");
    st = C360_EIO;
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < 0) st = C360_ECONFLICT;
        else {
            if (new_version) *new_version = (uint64_t)r->integer;
            st = C360_OK;
        }
    }
    freeReplyObject(r);
    return st;
}

int32_t ch_state_set(const char *tenant, const char *conn, const char *key,
                     const void *value, size_t len, uint32_t ttl_ms,
                     uint64_t *new_version)
{
    return write_value(tenant, conn, key, value, len, ttl_ms, "", new_version);
}

int32_t ch_state_cas(const char *tenant, const char *conn, const char *key,
                     const void *value, size_t len, uint64_t expected,
                     uint32_t ttl_ms, uint64_t *new_version)
{
    char exp[24];
    snprintf(exp, sizeof exp, "%" PRIu64, expected);
    return write_value(tenant, conn, key, value, len, ttl_ms, exp, new_version);
}

int32_t ch_state_delete(const char *tenant, const char *conn, const char *key)
{
    int32_t st = check_args(tenant, conn, key);
    if (st != C360_OK) return st;
    char *k = ch_key_tenant(tenant, "state:%s:%s", conn, key);
    redisReply *r = ch_rconn_command("UNLINK %s", k);
    free(k);
    if (!r) return io_error("delete");
    st = r->type == REDIS_REPLY_INTEGER ? C360_OK : C360_EIO;
    freeReplyObject(r);
    return st;
}

int32_t ch_state_incr(const char *tenant, const char *conn, const char *key,
                      int64_t delta, int64_t *result)
{
    int32_t st = check_args(tenant, conn, key);
    if (st != C360_OK) return st;
    char *ks, *kv;
    keys_for(tenant, conn, key, &ks, &kv);
    char d[24];
    snprintf(d, sizeof d, "%" PRId64, delta);
    const char *argv[3] = {ks, kv, d};
    redisReply *r = ch_rconn_eval(&incr_script, 2, 3, argv, NULL);
    free(ks);
    free(kv);
    if (!r) return io_error("incr");
    st = C360_EIO;
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "C360NOTINT")) st = C360_EINVAL;
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_STRING) {
        long long v;
        /* Lua numbers are doubles: refuse results it could not hold exactly. */
        if (ch_parse_ll(r->element[0]->str, -(1LL << 53), 1LL << 53, &v) == 0) {
            if (result) *result = v;
            st = C360_OK;
        } else {
            st = C360_EINVAL;
        }
    }
    freeReplyObject(r);
    return st;
}

int32_t ch_state_delete_connection(const char *tenant, const char *conn, size_t *removed)
{
    if (removed) *removed = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) return C360_EINVAL;
    char *pattern = ch_key_tenant(tenant, "state:%s:*", conn);
    /* The hash tag braces are glob metacharacters in MATCH: escape them. */
    char esc[512];
    size_t j = 0;
    for (const char *p = pattern; *p && j + 2 < sizeof esc; p++) {
        if (*p == '{' || *p == '}' || *p == '[' || *p == ']' || *p == '?' || *p == '\\') esc[j++] = '\\';
        esc[j++] = *p;
    }
    esc[j] = '\0';
    free(pattern);
    char cursor[32] = "0";
    int32_t st = C360_OK;
    do {
        redisReply *r = ch_rconn_command("SCAN %s MATCH %s COUNT 500", cursor, esc);
        if (!r) return io_error("delete_connection");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return C360_EIO;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING) continue;
            redisReply *d = ch_rconn_command("UNLINK %b", keys->element[i]->str, keys->element[i]->len);
            if (!d) { st = C360_EIO; continue; }
            if (d->type == REDIS_REPLY_INTEGER && removed) *removed += (size_t)d->integer;
            freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    char *kv = ch_key_tenant(tenant, "statever:%s", conn);
    redisReply *d = ch_rconn_command("UNLINK %s", kv);
    free(kv);
    if (d) freeReplyObject(d);
    return st;
}
