/* oauth_store.c -- see oauth_store.h. */
#include "oauth_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "call.h"
#include "keys.h"
#include "rconn.h"
#include "secrets.h"
#include "util.h"

/* KEYS[1] meta. ARGV: expected version ("*" = any), sid, expires_at,
 * obtained_at, refresh_expires_at. Returns {1, new version, old sid,
 * was dead} or {0, current version, "", 0}. */
static ch_script s_commit = CH_SCRIPT(
    "local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')\n"
    "if ARGV[1] ~= '*' and v ~= tonumber(ARGV[1]) then return {0, tostring(v), '', 0} end\n"
    "local old = redis.call('HGET', KEYS[1], 'sid') or ''\n"
    "local dead = redis.call('HGET', KEYS[1], 'dead') == '1' and 1 or 0\n"
    "redis.call('HSET', KEYS[1], 'version', v + 1, 'sid', ARGV[2], 'expires_at_ms', ARGV[3],\n"
    "           'obtained_at_ms', ARGV[4], 'refresh_expires_at_ms', ARGV[5])\n"
    "redis.call('HDEL', KEYS[1], 'dead', 'dead_cause', 'dead_at_ms', 'fail_at_ms', 'fail_rc')\n"
    "return {1, tostring(v + 1), old, dead}\n");

/* KEYS[1] meta. ARGV: expected version, then field/value pairs to set. */
static ch_script s_mark = CH_SCRIPT(
    "local v = redis.call('HGET', KEYS[1], 'version') or '0'\n"
    "if v ~= ARGV[1] then return 0 end\n"
    "for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "return 1\n");

static ch_script s_release = CH_SCRIPT(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n");

int ch_oauth_name_valid(const char *name) { return ch_id_valid(name); }

void ch_oauth_record_clear(ch_oauth_record *r)
{
    if (!r) return;
    if (r->access_token) sodium_free(r->access_token);
    if (r->refresh_token) sodium_free(r->refresh_token);
    memset(r, 0, sizeof *r);
}

static char *meta_key(const char *t, const char *c, const char *n)
{
    return ch_key_tenant(t, "oauth:%s:%s", c, n);
}

char *ch_oauth_lease_key(const char *t, const char *c, const char *n)
{
    return ch_key_tenant(t, "oauth:%s:%s:lease", c, n);
}

static char *secret_name(const char *n, const char *sid)
{
    return ch_asprintf("oauth:%s:%s", n, sid);
}

static int64_t to_i64(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING) return 0;
    return strtoll(r->str, NULL, 10);
}

int32_t ch_oauth_meta_read(const char *tenant, const char *conn, const char *name,
                           ch_oauth_meta *m)
{
    memset(m, 0, sizeof *m);
    char *k = meta_key(tenant, conn, name);
    redisReply *r = ch_rconn_command(
        "HMGET %s version sid expires_at_ms obtained_at_ms refresh_expires_at_ms dead "
        "dead_cause fail_at_ms fail_rc", k);
    free(k);
    if (!r) return C360_EIO;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 9) {
        freeReplyObject(r);
        return C360_EIO;
    }
    redisReply **e = r->element;
    m->version = (uint64_t)to_i64(e[0]);
    if (e[1]->type == REDIS_REPLY_STRING && e[1]->len == CH_OAUTH_SID_LEN)
        memcpy(m->sid, e[1]->str, CH_OAUTH_SID_LEN + 1);
    m->expires_at_ms = to_i64(e[2]);
    m->obtained_at_ms = to_i64(e[3]);
    m->refresh_expires_at_ms = to_i64(e[4]);
    m->dead = e[5]->type == REDIS_REPLY_STRING && strcmp(e[5]->str, "1") == 0;
    if (e[6]->type == REDIS_REPLY_STRING)
        snprintf(m->dead_cause, sizeof m->dead_cause, "%.*s", (int)e[6]->len, e[6]->str);
    m->fail_at_ms = to_i64(e[7]);
    m->fail_rc = (int32_t)to_i64(e[8]);
    if (m->version && !m->sid[0]) m->version = 0; /* a half-written hash: treat as none */
    freeReplyObject(r);
    return C360_OK;
}

static int64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int32_t ch_oauth_blob_read(const char *tenant, const char *conn, const char *name,
                           const char *sid, ch_oauth_record *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    char *sn = secret_name(name, sid);
    uint8_t *v = NULL;
    size_t len = 0;
    int32_t rc = ch_secret_get(tenant, conn, sn, &v, &len, err, errcap);
    free(sn);
    if (rc != C360_OK) return rc;
    json_t *j = json_loadb((const char *)v, len, 0, NULL);
    ch_secret_value_free(v);
    json_t *at = json_object_get(j, "access_token");
    json_t *rt = json_object_get(j, "refresh_token");
    if (!json_is_string(at)) {
        json_decref(j);
        if (err) snprintf(err, errcap, "stored token record is malformed");
        return C360_EIO;
    }
    out->access_token = ch_oauth_strdup_guarded(json_string_value(at));
    if (json_is_string(rt)) out->refresh_token = ch_oauth_strdup_guarded(json_string_value(rt));
    json_t *tt = json_object_get(j, "token_type"), *sc = json_object_get(j, "scope");
    snprintf(out->token_type, sizeof out->token_type, "%s", json_is_string(tt) ? json_string_value(tt) : "");
    snprintf(out->scope, sizeof out->scope, "%s", json_is_string(sc) ? json_string_value(sc) : "");
    out->expires_at_ms = jint(j, "expires_at_ms");
    out->refresh_expires_at_ms = jint(j, "refresh_expires_at_ms");
    out->obtained_at_ms = jint(j, "obtained_at_ms");
    json_decref(j);
    return C360_OK;
}

/* The blob as JSON text in guarded memory (*len without the NUL). */
static char *blob_encode(const ch_oauth_record *rec, size_t *len)
{
    json_t *j = json_pack("{s:s,s:s?,s:s,s:s,s:I,s:I,s:I}", "access_token", rec->access_token,
                          "refresh_token", rec->refresh_token, "token_type", rec->token_type,
                          "scope", rec->scope, "expires_at_ms", (json_int_t)rec->expires_at_ms,
                          "refresh_expires_at_ms", (json_int_t)rec->refresh_expires_at_ms,
                          "obtained_at_ms", (json_int_t)rec->obtained_at_ms);
    if (!j) abort(); /* only out of memory: the strings were validated */
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    char *buf = sodium_malloc(n + 1);
    if (!buf) abort();
    json_dumpb(j, buf, n, JSON_COMPACT);
    buf[n] = '\0';
    json_decref(j);
    *len = n;
    return buf;
}

static void secret_drop(const char *tenant, const char *conn, const char *name, const char *sid)
{
    if (!sid || !sid[0]) return;
    char *sn = secret_name(name, sid);
    ch_secret_delete(tenant, conn, sn, NULL, 0);
    free(sn);
}

int32_t ch_oauth_commit(const char *tenant, const char *conn, const char *name,
                        int64_t expected, const ch_oauth_record *rec, ch_oauth_meta *after,
                        int *was_dead, char *err, size_t errcap)
{
    if (was_dead) *was_dead = 0;
    unsigned char rnd[CH_OAUTH_SID_LEN / 2];
    randombytes_buf(rnd, sizeof rnd);
    char sid[CH_OAUTH_SID_LEN + 1];
    sodium_bin2hex(sid, sizeof sid, rnd, sizeof rnd);

    size_t blen;
    char *blob = blob_encode(rec, &blen);
    char *sn = secret_name(name, sid);
    int32_t rc = ch_secret_put(tenant, conn, sn, blob, blen, err, errcap);
    free(sn);
    sodium_free(blob);
    if (rc != C360_OK) return rc;

    char exp[24], ea[24], oa[24], rea[24];
    if (expected < 0) snprintf(exp, sizeof exp, "*");
    else snprintf(exp, sizeof exp, "%lld", (long long)expected);
    snprintf(ea, sizeof ea, "%lld", (long long)rec->expires_at_ms);
    snprintf(oa, sizeof oa, "%lld", (long long)rec->obtained_at_ms);
    snprintf(rea, sizeof rea, "%lld", (long long)rec->refresh_expires_at_ms);
    char *k = meta_key(tenant, conn, name);
    const char *argv[] = {k, exp, sid, ea, oa, rea};
    redisReply *r = ch_rconn_eval(&s_commit, 1, 6, argv, NULL);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        if (err) snprintf(err, errcap, "token metadata write failed: %s",
                          r && r->type == REDIS_REPLY_ERROR ? r->str : ch_rconn_error());
        if (r) freeReplyObject(r);
        /* Whether the flip happened is unknown: the blob stays, so the
         * hash never points at a missing one (an orphan at worst). */
        return C360_EIO;
    }
    int ok = r->element[0]->integer == 1;
    if (!ok) {
        freeReplyObject(r);
        secret_drop(tenant, conn, name, sid);
        return C360_ECONFLICT;
    }
    char old[CH_OAUTH_SID_LEN + 1] = "";
    if (r->element[2]->type == REDIS_REPLY_STRING && r->element[2]->len == CH_OAUTH_SID_LEN)
        memcpy(old, r->element[2]->str, CH_OAUTH_SID_LEN + 1);
    if (was_dead) *was_dead = r->element[3]->integer == 1;
    if (after) {
        memset(after, 0, sizeof *after);
        after->version = strtoull(r->element[1]->str, NULL, 10);
        memcpy(after->sid, sid, sizeof sid);
        after->expires_at_ms = rec->expires_at_ms;
        after->obtained_at_ms = rec->obtained_at_ms;
        after->refresh_expires_at_ms = rec->refresh_expires_at_ms;
    }
    freeReplyObject(r);
    secret_drop(tenant, conn, name, old);
    return C360_OK;
}

static int32_t mark(const char *tenant, const char *conn, const char *name, uint64_t expected,
                    int nfields, const char **fields)
{
    char exp[24];
    snprintf(exp, sizeof exp, "%llu", (unsigned long long)expected);
    char *k = meta_key(tenant, conn, name);
    const char *argv[12] = {k, exp};
    for (int i = 0; i < nfields && i < 10; i++) argv[2 + i] = fields[i];
    redisReply *r = ch_rconn_eval(&s_mark, 1, 2 + nfields, argv, NULL);
    free(k);
    if (!r) return C360_EIO;
    int32_t rc = r->type != REDIS_REPLY_INTEGER ? C360_EIO
                 : r->integer == 1              ? C360_OK
                                                : C360_ECONFLICT;
    freeReplyObject(r);
    return rc;
}

int32_t ch_oauth_mark_dead(const char *tenant, const char *conn, const char *name,
                           uint64_t expected, const char *cause)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    const char *f[] = {"dead", "1", "dead_cause", cause ? cause : "", "dead_at_ms", now};
    return mark(tenant, conn, name, expected, 6, f);
}

void ch_oauth_mark_failed(const char *tenant, const char *conn, const char *name,
                          uint64_t expected, int32_t rc)
{
    char now[24], rcs[16];
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    snprintf(rcs, sizeof rcs, "%d", (int)rc);
    const char *f[] = {"fail_at_ms", now, "fail_rc", rcs};
    mark(tenant, conn, name, expected, 4, f);
}

int ch_oauth_lease_take(const char *tenant, const char *conn, const char *name,
                        const char *owner, uint32_t lease_ms)
{
    char *k = ch_oauth_lease_key(tenant, conn, name);
    redisReply *r = ch_rconn_command("SET %s %s NX PX %u", k, owner, (unsigned)lease_ms);
    free(k);
    if (!r) return -1;
    int got = r->type == REDIS_REPLY_STATUS ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
    freeReplyObject(r);
    return got;
}

void ch_oauth_lease_release(const char *tenant, const char *conn, const char *name,
                            const char *owner)
{
    char *k = ch_oauth_lease_key(tenant, conn, name);
    const char *argv[] = {k, owner};
    redisReply *r = ch_rconn_eval(&s_release, 1, 2, argv, NULL);
    free(k);
    if (r) freeReplyObject(r);
    /* On failure the lease simply expires after lease_ms. */
}

int32_t ch_oauth_store_delete(const char *tenant, const char *conn, const char *name)
{
    ch_oauth_meta m;
    int32_t rc = ch_oauth_meta_read(tenant, conn, name, &m);
    if (rc != C360_OK) return rc;
    char *k = meta_key(tenant, conn, name);
    char *l = ch_oauth_lease_key(tenant, conn, name);
    redisReply *r = ch_rconn_command("DEL %s %s", k, l);
    free(k);
    free(l);
    if (!r) return C360_EIO;
    freeReplyObject(r);
    secret_drop(tenant, conn, name, m.sid);
    return C360_OK;
}

int32_t ch_oauth_store_delete_connection(const char *tenant, const char *conn, size_t *deleted)
{
    if (deleted) *deleted = 0;
    char *pattern = ch_key_tenant(tenant, "oauth:%s:*", conn);
    size_t plen = strlen(pattern) - 1; /* the prefix before '*' */
    char cursor[32] = "0";
    int32_t rc = C360_OK;
    do {
        redisReply *r = ch_rconn_command("SCAN %s MATCH %s COUNT 200", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r) freeReplyObject(r);
            rc = C360_EIO;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            const char *name = k + plen;
            /* Metadata keys are <prefix><name>; leases <prefix><name>:lease
             * go with them. */
            if (strchr(name, ':') || !ch_oauth_name_valid(name)) continue;
            if (ch_oauth_store_delete(tenant, conn, name) != C360_OK) rc = C360_EIO;
            else if (deleted) (*deleted)++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    /* Stray leases (a token whose metadata is already gone) expire by
     * themselves within lease_ms. */
    free(pattern);
    return rc;
}
