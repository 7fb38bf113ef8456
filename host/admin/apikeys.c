/* apikeys.c -- API keys: creation, verification, listing, revocation and
 * the first operator key (apikeys.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "apikeys.h"
#include "call.h"
#include "connector_api.h"
#include "crypto.h"
#include "keyring.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

#define PREFIX "c360k_"
#define ID_HEX 16
#define SECRET_B64 43
#define LAST_USED_EVERY_MS 60000

static const ch_keyring *g_kr;

void ch_apikeys_init(const ch_keyring *kr) { g_kr = kr; }

int ch_admin_derive_key(const char ctx[8], unsigned char out[32])
{
    const char *kid = g_kr ? ch_keyring_active_id(g_kr) : NULL;
    const unsigned char *k = kid ? ch_keyring_key(g_kr, kid) : NULL;
    if (!k) return -1;
    crypto_kdf_derive_from_key(out, 32, 2, ctx, k);
    return 0;
}

/* The hashing key for keyring key `kid`: derived, so the keyring key itself
 * never meets API-key material. */
static int hash_key(const char *kid, unsigned char out[32])
{
    const unsigned char *k = g_kr ? ch_keyring_key(g_kr, kid) : NULL;
    if (!k) return -1;
    crypto_kdf_derive_from_key(out, 32, 1, "c360apik", k);
    return 0;
}

static int secret_hash(const char *kid, const char *secret, char hex[65])
{
    unsigned char hk[32], mac[32];
    if (hash_key(kid, hk) != 0) return -1;
    ch_hmac_sha256(hk, sizeof hk, secret, strlen(secret), mac);
    sodium_memzero(hk, sizeof hk);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
    return 0;
}

static char *key_of(const char *id) { return ch_asprintf("c360:{auth}:key:%s", id); }

static char *set_of(const char *tenant)
{
    return *tenant ? ch_asprintf("c360:{auth}:tkeys:%s", tenant) : ch_strdup("c360:{auth}:okeys");
}

static int64_t now_ms(void) { return ch_now_ms(); }

int32_t ch_apikey_create(const char *name, ch_role role, const char *tenant,
                         const char *created_by, ch_apikey_info *info, char *text)
{
    if (!name || !*name || strlen(name) > CH_APIKEY_NAME_MAX || role == CH_ROLE_NONE)
        return C360_EINVAL;
    if (role == CH_ROLE_OPERATOR ? (tenant && *tenant) : !(tenant && ch_id_valid(tenant)))
        return C360_EINVAL;
    if (!tenant) tenant = "";
    const char *kid = g_kr ? ch_keyring_active_id(g_kr) : NULL;
    if (!kid) return C360_EIO;
    unsigned char idb[ID_HEX / 2], sec[32];
    ch_random_bytes(idb, sizeof idb);
    ch_random_bytes(sec, sizeof sec);
    char id[ID_HEX + 1];
    sodium_bin2hex(id, sizeof id, idb, sizeof idb);
    char *s64 = ch_base64_encode(sec, sizeof sec, C360_B64_URLSAFE_NOPAD);
    sodium_memzero(sec, sizeof sec);
    char hex[65];
    if (secret_hash(kid, s64, hex) != 0) {
        sodium_memzero(s64, strlen(s64));
        free(s64);
        return C360_EIO;
    }
    int64_t now = now_ms();
    char created[24];
    snprintf(created, sizeof created, "%lld", (long long)now);
    char *k = key_of(id), *set = set_of(tenant);
    const char *by = created_by && *created_by ? created_by : "system";
    redisReply *r = ch_rconn_command(
        "HSET %s name %s role %s tenant %s hash %s kid %s created_ms %s created_by %s", k, name,
        ch_role_name(role), tenant, hex, kid, created, by);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r) freeReplyObject(r);
    if (ok) {
        r = ch_rconn_command("SADD %s %s", set, id);
        ok = r && r->type == REDIS_REPLY_INTEGER;
        if (r) freeReplyObject(r);
    }
    free(k);
    free(set);
    if (!ok) {
        sodium_memzero(s64, strlen(s64));
        free(s64);
        return C360_EIO;
    }
    snprintf(text, CH_APIKEY_TEXT_MAX, PREFIX "%s_%s", id, s64);
    sodium_memzero(s64, strlen(s64));
    free(s64);
    if (info) {
        memset(info, 0, sizeof *info);
        snprintf(info->id, sizeof info->id, "%s", id);
        snprintf(info->name, sizeof info->name, "%s", name);
        info->role = role;
        snprintf(info->tenant, sizeof info->tenant, "%s", tenant);
        snprintf(info->created_by, sizeof info->created_by, "%s", by);
        info->created_ms = now;
    }
    return C360_OK;
}

/* Reads the hash into info (+ hash and kid); C360_ENOTFOUND if absent. */
static int32_t load(const char *id, ch_apikey_info *info, char *hash, char *kid)
{
    char *k = key_of(id);
    redisReply *r = ch_rconn_command("HGETALL %s", k);
    free(k);
    if (!r) return C360_EIO;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return C360_EIO;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        return C360_ENOTFOUND;
    }
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", id);
    if (hash) hash[0] = '\0';
    if (kid) kid[0] = '\0';
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        long long n = 0;
        if (strcmp(f->str, "name") == 0) snprintf(info->name, sizeof info->name, "%s", v->str);
        else if (strcmp(f->str, "role") == 0) info->role = ch_role_parse(v->str);
        else if (strcmp(f->str, "tenant") == 0)
            snprintf(info->tenant, sizeof info->tenant, "%s", v->str);
        else if (strcmp(f->str, "created_by") == 0)
            snprintf(info->created_by, sizeof info->created_by, "%s", v->str);
        else if (strcmp(f->str, "hash") == 0 && hash && v->len == 64) memcpy(hash, v->str, 65);
        else if (strcmp(f->str, "kid") == 0 && kid && v->len <= CH_KEYRING_ID_MAX)
            memcpy(kid, v->str, v->len + 1);
        else if (ch_parse_ll(v->str, 0, INT64_MAX, &n) == 0) {
            if (strcmp(f->str, "created_ms") == 0) info->created_ms = n;
            else if (strcmp(f->str, "last_used_ms") == 0) info->last_used_ms = n;
            else if (strcmp(f->str, "revoked_ms") == 0) info->revoked_ms = n;
        }
    }
    freeReplyObject(r);
    return C360_OK;
}

int32_t ch_apikey_verify(const char *text, ch_principal *who)
{
    memset(who, 0, sizeof *who);
    size_t pl = strlen(PREFIX);
    if (!text || strlen(text) != pl + ID_HEX + 1 + SECRET_B64 || strncmp(text, PREFIX, pl) != 0 ||
        text[pl + ID_HEX] != '_')
        return C360_EAUTH;
    char id[ID_HEX + 1];
    memcpy(id, text + pl, ID_HEX);
    id[ID_HEX] = '\0';
    for (size_t i = 0; i < ID_HEX; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return C360_EAUTH;
    const char *secret = text + pl + ID_HEX + 1;
    ch_apikey_info info;
    char stored[65], kid[CH_KEYRING_ID_MAX + 1], hex[65];
    int32_t st = load(id, &info, stored, kid);
    if (st == C360_ENOTFOUND) return C360_EAUTH;
    if (st != C360_OK) return st;
    if (info.revoked_ms || info.role == CH_ROLE_NONE || strlen(stored) != 64) return C360_EAUTH;
    if (secret_hash(kid, secret, hex) != 0) {
        /* The key was hashed under a keyring key that is gone: invalid. */
        return C360_EAUTH;
    }
    if (!ch_ct_equal(hex, stored, 64)) return C360_EAUTH;
    snprintf(who->key_id, sizeof who->key_id, "%s", id);
    who->role = info.role;
    snprintf(who->tenant, sizeof who->tenant, "%s", info.tenant);
    snprintf(who->actor, sizeof who->actor, "apikey:%s", id);
    int64_t now = now_ms();
    if (now - info.last_used_ms >= LAST_USED_EVERY_MS) {
        char *k = key_of(id);
        char ts[24];
        snprintf(ts, sizeof ts, "%lld", (long long)now);
        /* Only while the hash exists: a racing revoke/delete is not undone. */
        redisReply *r = ch_rconn_command("EVAL %s 1 %s %s",
                                         "if redis.call('EXISTS', KEYS[1]) == 1 then "
                                         "redis.call('HSET', KEYS[1], 'last_used_ms', ARGV[1]) end",
                                         k, ts);
        if (r) freeReplyObject(r);
        free(k);
    }
    return C360_OK;
}

int32_t ch_apikey_get(const char *id, ch_apikey_info *out)
{
    if (!ch_id_valid(id)) return C360_ENOTFOUND;
    return load(id, out, NULL, NULL);
}

json_t *ch_apikey_to_json(const ch_apikey_info *k)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", k->id, "name", k->name, "role",
                          ch_role_name(k->role), "created_by", k->created_by, "created_ms",
                          (json_int_t)k->created_ms);
    json_object_set_new(o, "tenant", k->tenant[0] ? json_string(k->tenant) : json_null());
    json_object_set_new(o, "last_used_ms",
                        k->last_used_ms ? json_integer(k->last_used_ms) : json_null());
    json_object_set_new(o, "revoked_ms", k->revoked_ms ? json_integer(k->revoked_ms) : json_null());
    return o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int32_t ch_apikey_list(const char *tenant, json_t **items)
{
    *items = NULL;
    char *set = set_of(tenant ? tenant : "");
    redisReply *r = ch_rconn_command("SMEMBERS %s", set);
    free(set);
    if (!r || (r->type != REDIS_REPLY_ARRAY)) {
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    size_t n = r->elements;
    char **ids = ch_calloc(n ? n : 1, sizeof *ids);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING && ch_id_valid(r->element[i]->str))
            ids[m++] = ch_strdup(r->element[i]->str);
    freeReplyObject(r);
    qsort(ids, m, sizeof *ids, cmp_str);
    json_t *a = json_array();
    int32_t st = C360_OK;
    for (size_t i = 0; i < m; i++) {
        ch_apikey_info info;
        int32_t s = load(ids[i], &info, NULL, NULL);
        if (s == C360_OK) json_array_append_new(a, ch_apikey_to_json(&info));
        else if (s != C360_ENOTFOUND) st = s;
        free(ids[i]);
    }
    free(ids);
    if (st != C360_OK) {
        json_decref(a);
        return st;
    }
    *items = a;
    return C360_OK;
}

int32_t ch_apikey_revoke(const char *id)
{
    if (!ch_id_valid(id)) return C360_ENOTFOUND;
    char *k = key_of(id);
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)now_ms());
    /* The hash is kept (who had it, when it was used); its hash field goes,
     * so nothing can ever verify against it again. */
    redisReply *r = ch_rconn_command(
        "EVAL %s 1 %s %s",
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
        "if redis.call('HEXISTS', KEYS[1], 'revoked_ms') == 0 then "
        "redis.call('HSET', KEYS[1], 'revoked_ms', ARGV[1]) end "
        "redis.call('HDEL', KEYS[1], 'hash') return 1",
        k, ts);
    free(k);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    int found = r->integer == 1;
    freeReplyObject(r);
    return found ? C360_OK : C360_ENOTFOUND;
}

int32_t ch_apikey_delete_tenant(const char *tenant)
{
    if (!tenant || !ch_id_valid(tenant)) return C360_EINVAL;
    char *set = set_of(tenant);
    redisReply *r = ch_rconn_command("SMEMBERS %s", set);
    if (!r || (r->type != REDIS_REPLY_ARRAY)) {
        if (r) freeReplyObject(r);
        free(set);
        return C360_EIO;
    }
    int32_t st = C360_OK;
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING || !ch_id_valid(r->element[i]->str))
            continue;
        char *k = key_of(r->element[i]->str);
        redisReply *d = ch_rconn_command("DEL %s", k);
        if (!d || d->type != REDIS_REPLY_INTEGER) st = C360_EIO;
        if (d) freeReplyObject(d);
        free(k);
    }
    freeReplyObject(r);
    if (st == C360_OK) {
        r = ch_rconn_command("DEL %s", set);
        if (!r || r->type != REDIS_REPLY_INTEGER) st = C360_EIO;
        if (r) freeReplyObject(r);
    }
    free(set);
    return st;
}

/* 1 if a valid (unrevoked) operator key exists, 0 if not, -1 on error. */
static int operator_key_exists(void)
{
    json_t *items = NULL;
    if (ch_apikey_list("", &items) != C360_OK) return -1;
    size_t i;
    json_t *k;
    int found = 0;
    json_array_foreach(items, i, k) {
        if (json_is_null(json_object_get(k, "revoked_ms"))) found = 1;
    }
    json_decref(items);
    return found;
}

static int write_key_file(const char *path, const char *text)
{
    char *tmp = ch_asprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

int32_t ch_apikey_bootstrap(const char *path, int *created)
{
    *created = 0;
    int have = operator_key_exists();
    if (have < 0) return C360_EIO;
    if (have) return C360_OK;
    /* Hosts sharing a Redis may start together: one creates the key. */
    redisReply *r = ch_rconn_command("SET c360:{auth}:bootstrap 1 NX PX 30000");
    int mine = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (!mine) return C360_OK;
    have = operator_key_exists();
    if (have != 0) return have < 0 ? C360_EIO : C360_OK;
    char text[CH_APIKEY_TEXT_MAX];
    ch_apikey_info info;
    int32_t st = ch_apikey_create("bootstrap operator key", CH_ROLE_OPERATOR, "", "system", &info,
                                  text);
    if (st != C360_OK) return st;
    if (write_key_file(path, text) != 0) {
        int e = errno;
        sodium_memzero(text, sizeof text);
        ch_apikey_revoke(info.id);
        ch_log(CH_LOG_ERROR, "cannot write the operator key file", "path", path, "error",
               strerror(e), NULL);
        return C360_EIO;
    }
    sodium_memzero(text, sizeof text);
    *created = 1;
    return C360_OK;
}
