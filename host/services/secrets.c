/* secrets.c -- put, get, delete and re-wrap of sealed secrets; see
 * secrets.h. Scanning lives in secrets_scan.c, cryptography in
 * secrets_seal.c. */
#include "secrets.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "call.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "secrets_seal.h"
#include "svc.h"
#include "util.h"

/* The keyring in use. Readers hold the lock only around the cryptography
 * (never across Redis I/O), so swapping in a reloaded keyring waits for at
 * most a few microseconds of work; writer preference keeps a busy host
 * from starving the swap. */
static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static const ch_keyring *g_kr;

#define SECRET_FORMAT "1"
#define MSG_TAMPERED "secret was sealed for another connection or was tampered with"

const ch_keyring *ch_secrets_init(const ch_keyring *kr)
{
    pthread_rwlock_wrlock(&g_lock);
    const ch_keyring *old = g_kr;
    g_kr = kr;
    pthread_rwlock_unlock(&g_lock);
    return old;
}

static int32_t check_scope(const char *tenant, const char *conn, const char *name, char *err,
                           size_t errcap)
{
    if (!ch_id_valid(tenant)) {
        ch_seterr(err, errcap, "invalid tenant id");
        return C360_EINVAL;
    }
    if (!ch_id_valid(conn)) {
        ch_seterr(err, errcap, "invalid connection id");
        return C360_EINVAL;
    }
    if (!ch_name_valid(name)) {
        ch_seterr(err, errcap, "invalid secret name: 1..%d bytes of printable ASCII", CH_NAME_MAX);
        return C360_EINVAL;
    }
    return C360_OK;
}

static char *secret_key(const char *tenant, const char *conn, const char *name)
{
    return ch_key_tenant(tenant, "secret:%s:%s", conn, name);
}

/* The connection's index: name -> update time (ms). Not under "secret:",
 * so secret scans never mistake it for a secret. */
static char *index_key(const char *tenant, const char *conn)
{
    return ch_key_tenant(tenant, "secretidx:%s", conn);
}

/* KEYS[1] secret, KEYS[2] index. ARGV: format, kid, wdek, ct, now, name.
 * The record and its index entry change together. */
static ch_script g_put = CH_SCRIPT(
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'kid', ARGV[2], 'wdek', ARGV[3], 'ct', ARGV[4])\n"
    "redis.call('HSET', KEYS[2], ARGV[6], ARGV[5])\n"
    "return 1\n");

/* KEYS[1] secret, KEYS[2] index. ARGV[1] name. */
static ch_script g_del = CH_SCRIPT(
    "redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "return redis.call('DEL', KEYS[1])\n");

/* Maps a failed or error reply to C360_EIO with a reason. Redis error
 * texts name commands and types, never arguments; still only a prefix is
 * kept. */
static int32_t redis_failure(const redisReply *r, char *err, size_t errcap)
{
    if (!r)
        ch_seterr(err, errcap, "redis: %s", ch_rconn_error());
    else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0)
        ch_seterr(err, errcap, "the secret's Redis key holds another type");
    else if (r->type == REDIS_REPLY_ERROR)
        ch_seterr(err, errcap, "redis: %.120s", r->str);
    else
        ch_seterr(err, errcap, "redis: unexpected reply type %d", r->type);
    return C360_EIO;
}

int32_t ch_secret_put(const char *tenant, const char *conn, const char *name,
                      const void *value, size_t len, char *err, size_t errcap)
{
    int32_t rc = check_scope(tenant, conn, name, err, errcap);
    if (rc != C360_OK) return rc;
    if (!value && len) {
        ch_seterr(err, errcap, "no value");
        return C360_EINVAL;
    }
    if (len > ch_svc_limits_current.secret_max_value) {
        ch_seterr(err, errcap, "secret of %zu bytes is over the limit of %zu", len,
                  ch_svc_limits_current.secret_max_value);
        return C360_ETOOBIG;
    }
    size_t ctlen = len + CH_SEAL_CT_OVERHEAD;
    unsigned char *ct = ch_malloc(ctlen);
    unsigned char wdek[CH_SEAL_WDEK_LEN];
    char kid[CH_KEYRING_ID_MAX + 1];
    ch_seal_ctx sc = {tenant, conn, name};

    pthread_rwlock_rdlock(&g_lock);
    const char *active = ch_keyring_active_id(g_kr);
    if (active) {
        snprintf(kid, sizeof kid, "%s", active);
        ch_seal(&sc, kid, ch_keyring_key(g_kr, kid), value, len, ct, wdek);
    }
    pthread_rwlock_unlock(&g_lock);
    if (!active) {
        free(ct);
        ch_seterr(err, errcap, "the secrets service has no master keyring");
        return C360_EUNSUPPORTED;
    }

    char *key = secret_key(tenant, conn, name);
    char *idx = index_key(tenant, conn);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    const char *argv[] = {key, idx, SECRET_FORMAT, kid, (const char *)wdek, (const char *)ct,
                          now, name};
    size_t lens[] = {strlen(key), strlen(idx), strlen(SECRET_FORMAT), strlen(kid), sizeof wdek,
                     ctlen, strlen(now), strlen(name)};
    redisReply *r = ch_rconn_eval(&g_put, 2, 8, argv, lens);
    rc = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : redis_failure(r, err, errcap);
    if (r) freeReplyObject(r);
    free(key);
    free(idx);
    free(ct);
    return rc;
}

/* A stored record, pointing into the reply that holds it. */
typedef struct record {
    redisReply *reply;
    char kid[CH_KEYRING_ID_MAX + 1];
    const unsigned char *wdek;
    const unsigned char *ct; /* NULL unless asked for */
    size_t ctlen;
} record;

static int is_str(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING;
}

/* HMGET of the record's fields, every reply element checked. C360_OK with
 * rec filled (free rec->reply), or an error with err set. */
static int32_t read_record(const char *key, int with_ct, record *rec, char *err, size_t errcap)
{
    memset(rec, 0, sizeof *rec);
    const char *argv[] = {"HMGET", key, "v", "kid", "wdek", "ct"};
    int argc = with_ct ? 6 : 5;
    redisReply *r = ch_rconn_argv(argc, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(argc - 2)) {
        int32_t rc = redis_failure(r, err, errcap);
        if (r) freeReplyObject(r);
        return rc;
    }
    size_t nil = 0;
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_NIL) nil++;
        else if (!is_str(r->element[i])) nil = (size_t)-1;
    }
    if (nil == r->elements) {
        freeReplyObject(r);
        ch_seterr(err, errcap, "no such secret");
        return C360_ENOTFOUND;
    }
    const redisReply *v = r->element[0], *kid = r->element[1], *wdek = r->element[2];
    int32_t rc = C360_OK;
    if (nil != 0) {
        ch_seterr(err, errcap, "secret record is incomplete or malformed (tampered with?)");
        rc = C360_EAUTH;
    } else if (!(v->len == 1 && v->str[0] == SECRET_FORMAT[0])) {
        /* A newer host may have written a newer format: not tampering. */
        long long ver;
        if (v->len < 20 && ch_parse_ll(v->str, 2, 1000000, &ver) == 0) {
            ch_seterr(err, errcap, "secret has format version %lld; this host reads version %s",
                   ver, SECRET_FORMAT);
            rc = C360_EIO;
        } else {
            ch_seterr(err, errcap, "secret record has a malformed version (tampered with?)");
            rc = C360_EAUTH;
        }
    } else if (kid->len > CH_KEYRING_ID_MAX || memchr(kid->str, '\0', kid->len)) {
        ch_seterr(err, errcap, "secret record has a malformed key id (tampered with?)");
        rc = C360_EAUTH;
    } else {
        memcpy(rec->kid, kid->str, kid->len);
        rec->kid[kid->len] = '\0';
        if (!ch_keyring_id_valid(rec->kid)) {
            ch_seterr(err, errcap, "secret record has a malformed key id (tampered with?)");
            rc = C360_EAUTH;
        } else if (wdek->len != CH_SEAL_WDEK_LEN ||
                   (with_ct && r->element[3]->len < CH_SEAL_CT_OVERHEAD)) {
            ch_seterr(err, errcap, "secret record is malformed (tampered with?)");
            rc = C360_EAUTH;
        }
    }
    if (rc != C360_OK) {
        freeReplyObject(r);
        return rc;
    }
    rec->reply = r;
    rec->wdek = (const unsigned char *)wdek->str;
    if (with_ct) {
        rec->ct = (const unsigned char *)r->element[3]->str;
        rec->ctlen = r->element[3]->len;
    }
    return C360_OK;
}

static void log_unopenable(const char *tenant, const char *conn, const char *name,
                           const char *why)
{
    ch_log(CH_LOG_WARN, "secret does not open", "tenant", tenant, "connection", conn, "name",
           name, "reason", why, NULL);
}

/* Unwraps rec's DEK with the key it names; the caller holds g_lock. */
static int32_t unwrap_locked(const ch_seal_ctx *sc, const record *rec, unsigned char *dek,
                             char *err, size_t errcap)
{
    if (!g_kr) {
        ch_seterr(err, errcap, "the secrets service has no master keyring");
        return C360_EUNSUPPORTED;
    }
    const unsigned char *mk = ch_keyring_key(g_kr, rec->kid);
    if (!mk) {
        ch_seterr(err, errcap,
                  "secret was sealed with master key '%s', which is not in this host's keyring "
                  "(retired before `c360-keys status` showed 0 secrets under it, or not deployed "
                  "here yet)", rec->kid);
        return C360_EIO;
    }
    if (ch_seal_unwrap(sc, rec->kid, mk, rec->wdek, dek) < 0) {
        ch_seterr(err, errcap, MSG_TAMPERED);
        return C360_EAUTH;
    }
    return C360_OK;
}

int32_t ch_secret_get(const char *tenant, const char *conn, const char *name,
                      uint8_t **value, size_t *len, char *err, size_t errcap)
{
    if (!value || !len) {
        ch_seterr(err, errcap, "no place for the value");
        return C360_EINVAL;
    }
    *value = NULL;
    *len = 0;
    int32_t rc = check_scope(tenant, conn, name, err, errcap);
    if (rc != C360_OK) return rc;
    char *key = secret_key(tenant, conn, name);
    record rec;
    rc = read_record(key, 1, &rec, err, errcap);
    free(key);
    if (rc != C360_OK) {
        if (rc == C360_EAUTH) log_unopenable(tenant, conn, name, "malformed record");
        return rc;
    }
    ch_seal_ctx sc = {tenant, conn, name};
    unsigned char dek[CH_SEAL_DEK];
    pthread_rwlock_rdlock(&g_lock);
    rc = unwrap_locked(&sc, &rec, dek, err, errcap);
    pthread_rwlock_unlock(&g_lock);
    if (rc == C360_OK) {
        size_t plen = rec.ctlen - CH_SEAL_CT_OVERHEAD;
        uint8_t *out = sodium_malloc(plen + 1);
        if (!out) abort();
        if (ch_seal_open(&sc, dek, rec.ct, rec.ctlen, out) < 0) {
            sodium_free(out);
            ch_seterr(err, errcap, MSG_TAMPERED);
            rc = C360_EAUTH;
        } else {
            out[plen] = '\0';
            *value = out;
            *len = plen;
        }
    }
    sodium_memzero(dek, sizeof dek);
    if (rc == C360_EAUTH) log_unopenable(tenant, conn, name, "authentication failed");
    else if (rc == C360_EIO)
        ch_log(CH_LOG_ERROR, "secret wrapped with a master key this host lacks", "tenant",
               tenant, "connection", conn, "name", name, "kid", rec.kid, NULL);
    freeReplyObject(rec.reply);
    return rc;
}

void ch_secret_value_free(void *value)
{
    if (value) sodium_free(value); /* wipes */
}

int32_t ch_secret_delete(const char *tenant, const char *conn, const char *name, char *err,
                         size_t errcap)
{
    int32_t rc = check_scope(tenant, conn, name, err, errcap);
    if (rc != C360_OK) return rc;
    char *key = secret_key(tenant, conn, name);
    char *idx = index_key(tenant, conn);
    const char *argv[] = {key, idx, name};
    redisReply *r = ch_rconn_eval(&g_del, 2, 3, argv, NULL);
    rc = r && r->type == REDIS_REPLY_INTEGER ? C360_OK : redis_failure(r, err, errcap);
    if (r) freeReplyObject(r);
    free(key);
    free(idx);
    return rc;
}

int32_t ch_secret_kid(const char *tenant, const char *conn, const char *name, char *kid,
                      size_t kidcap, char *err, size_t errcap)
{
    int32_t rc = check_scope(tenant, conn, name, err, errcap);
    if (rc != C360_OK) return rc;
    char *key = secret_key(tenant, conn, name);
    record rec;
    rc = read_record(key, 0, &rec, err, errcap);
    free(key);
    if (rc != C360_OK) return rc;
    snprintf(kid, kidcap, "%s", rec.kid);
    freeReplyObject(rec.reply);
    return C360_OK;
}

/* Writes the new wrap only if the stored wdek is still the one that was
 * read: a put that landed in between (a new DEK, a new nonce) always
 * differs, and wins. */
static ch_script g_rewrap_cas = CH_SCRIPT(
    "local cur = redis.call('HGET', KEYS[1], 'wdek')\n"
    "if cur ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'kid', ARGV[2], 'wdek', ARGV[3])\n"
    "return 1\n");

int32_t ch_secret_rewrap_cas(const char *key, const unsigned char *old_wdek, const char *kid,
                             const unsigned char *new_wdek, int *written, char *err,
                             size_t errcap)
{
    const char *argv[] = {key, (const char *)old_wdek, kid, (const char *)new_wdek};
    size_t lens[] = {strlen(key), CH_SEAL_WDEK_LEN, strlen(kid), CH_SEAL_WDEK_LEN};
    redisReply *r = ch_rconn_eval(&g_rewrap_cas, 1, 4, argv, lens);
    int32_t rc = C360_OK;
    *written = 0;
    if (!r || r->type != REDIS_REPLY_INTEGER) rc = redis_failure(r, err, errcap);
    else *written = r->integer == 1;
    if (r) freeReplyObject(r);
    return rc;
}

#define REWRAP_ATTEMPTS 5

int32_t ch_secret_rewrap(const char *tenant, const char *conn, const char *name,
                         ch_rewrap_outcome *outcome, char *err, size_t errcap)
{
    ch_rewrap_outcome dummy;
    if (!outcome) outcome = &dummy;
    int32_t rc = check_scope(tenant, conn, name, err, errcap);
    if (rc != C360_OK) return rc;
    char *key = secret_key(tenant, conn, name);
    ch_seal_ctx sc = {tenant, conn, name};
    int raced = 0;
    for (int attempt = 0; attempt < REWRAP_ATTEMPTS; attempt++) {
        record rec;
        rc = read_record(key, 0, &rec, err, errcap);
        if (rc == C360_ENOTFOUND) {
            *outcome = raced ? CH_REWRAP_SUPERSEDED : CH_REWRAP_GONE;
            rc = C360_OK;
            break;
        }
        if (rc != C360_OK) break;
        unsigned char dek[CH_SEAL_DEK];
        unsigned char wdek[CH_SEAL_WDEK_LEN];
        char active[CH_KEYRING_ID_MAX + 1] = "";
        pthread_rwlock_rdlock(&g_lock);
        const char *a = ch_keyring_active_id(g_kr);
        if (a) snprintf(active, sizeof active, "%s", a);
        int current = a && strcmp(a, rec.kid) == 0;
        if (!current) rc = unwrap_locked(&sc, &rec, dek, err, errcap);
        if (!current && rc == C360_OK) ch_seal_wrap(&sc, active, ch_keyring_key(g_kr, active),
                                                    dek, wdek);
        pthread_rwlock_unlock(&g_lock);
        sodium_memzero(dek, sizeof dek);
        if (current || rc != C360_OK) {
            freeReplyObject(rec.reply);
            if (current) *outcome = raced ? CH_REWRAP_SUPERSEDED : CH_REWRAP_CURRENT;
            break;
        }
        int won = 0;
        rc = ch_secret_rewrap_cas(key, rec.wdek, active, wdek, &won, err, errcap);
        freeReplyObject(rec.reply);
        if (rc != C360_OK) break;
        if (won) {
            *outcome = CH_REWRAP_DONE;
            break;
        }
        raced = 1;
        rc = C360_ECONFLICT; /* changed under us: read it again */
        ch_seterr(err, errcap, "the secret kept changing during %d re-wrap attempts",
                  REWRAP_ATTEMPTS);
    }
    free(key);
    return rc;
}

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const ch_secret_info *)a)->name, ((const ch_secret_info *)b)->name);
}

int32_t ch_secret_list(const char *tenant, const char *conn, ch_secret_info **out, size_t *n,
                       char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) {
        ch_seterr(err, errcap, "invalid tenant or connection id");
        return C360_EINVAL;
    }
    char *idx = index_key(tenant, conn);
    const char *argv[] = {"HGETALL", idx};
    redisReply *r = ch_rconn_argv(2, argv, NULL);
    free(idx);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        int32_t rc = redis_failure(r, err, errcap);
        if (r) freeReplyObject(r);
        return rc;
    }
    size_t m = r->elements / 2;
    ch_secret_info *v = ch_calloc(m ? m : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        const redisReply *nm = r->element[2 * i], *t = r->element[2 * i + 1];
        if (nm->type != REDIS_REPLY_STRING || t->type != REDIS_REPLY_STRING ||
            nm->len > CH_NAME_MAX || !ch_name_valid(nm->str))
            continue;
        snprintf(v[k].name, sizeof v[k].name, "%s", nm->str);
        long long ms = 0;
        if (ch_parse_ll(t->str, 0, INT64_MAX, &ms) != 0) ms = 0;
        v[k].updated_ms = ms;
        k++;
    }
    freeReplyObject(r);
    qsort(v, k, sizeof *v, cmp_info);
    *out = v;
    *n = k;
    return C360_OK;
}
