/* fh_state.c -- host->state_* in memory, with the contract of
 * host/services/state.h: keys checked as the host checks them (keys.h),
 * versions from one counter so that none is ever handed out twice (a key
 * deleted and written again cannot satisfy a stale compare-and-set), CAS
 * with expected 0 meaning "must not exist", incr on integer text only, the
 * host's value limit, TTLs that really expire. Values go to the plugin in
 * host-allocated memory (fh_mem.h) that it must release with host->free.
 * ABI 1.6's state_set_on_commit stages writes that the end of event or
 * tick applies or drops (at the bottom). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "fh_internal.h"
#include "fh_mem.h"
#include "keys.h"
#include "svc.h"

#define FH_KEY_RULE "key must be 1..200 bytes of printable ASCII (0x21..0x7e)"
/* state.c runs incr in Lua, whose numbers are doubles: it refuses results
 * beyond 2^53 rather than round them, and so does the fake. */
#define FH_INCR_MAX (1LL << 53)

typedef struct fh_kv {
    struct fh_kv *next;
    char *conn;
    char *key;
    uint8_t *value; /* len bytes + NUL */
    size_t len;
    uint64_t version;
    int64_t expires_ms; /* monotonic; 0 = never */
} fh_kv;

/* Guarded by fh_lock. A list: a checker run holds a handful of keys. */
static fh_kv *fh_kvs;
static uint64_t fh_version_counter;

static void fh_kv_free(fh_kv *kv)
{
    free(kv->conn);
    free(kv->key);
    free(kv->value);
    free(kv);
}

/* The link that points at (conn, key), or NULL. Expired keys are dropped on
 * the way, as Redis does lazily. */
static fh_kv **fh_kv_find(const char *conn, const char *key)
{
    int64_t now = ch_monotonic_ms();
    fh_kv **pp = &fh_kvs;
    while (*pp != NULL) {
        fh_kv *kv = *pp;
        if (kv->expires_ms != 0 && now >= kv->expires_ms) {
            *pp = kv->next;
            fh_kv_free(kv);
            continue;
        }
        if (strcmp(kv->conn, conn) == 0 && strcmp(kv->key, key) == 0)
            return pp;
        pp = &kv->next;
    }
    return NULL;
}

/* Replaces (or creates) the value; every write takes a fresh version. */
static fh_kv *fh_kv_write(fh_kv **pp, const char *conn, const char *key,
                          const void *value, size_t len)
{
    fh_kv *kv = pp != NULL ? *pp : NULL;
    if (kv == NULL) {
        kv = fh_xmalloc(sizeof(*kv));
        kv->conn = fh_xstrdup(conn);
        kv->key = fh_xstrdup(key);
        kv->value = NULL;
        kv->expires_ms = 0;
        kv->next = fh_kvs;
        fh_kvs = kv;
    }
    uint8_t *copy = fh_xmalloc(len + 1);
    if (len > 0)
        memcpy(copy, value, len);
    copy[len] = '\0';
    free(kv->value);
    kv->value = copy;
    kv->len = len;
    kv->version = ++fh_version_counter;
    return kv;
}

static int32_t fh_get_locked(json_t *e, c360_call *call, const char *key,
                             uint8_t **value, size_t *len, uint64_t *version)
{
    /* Before the gate, as hostapi.c checks them. */
    if (value == NULL || len == NULL)
        return fh_invalid_locked(e, "state_get", "value and len are required");
    int32_t st = fh_gate_locked(e, "state_get", call);
    if (st != C360_OK)
        return st;
    *value = NULL;
    *len = 0;
    if (!ch_name_valid(key))
        return fh_invalid_locked(e, "state_get", FH_KEY_RULE);
    fh_kv **pp = fh_kv_find(fh_call_connection(call), key);
    if (pp == NULL) {
        fh_detail(e, "no such key");
        return fh_status(e, C360_ENOTFOUND);
    }
    fh_kv *kv = *pp;
    uint8_t *out = fh_mem_alloc_locked(FH_MEM_HEAP, kv->len + 1, "state_get");
    memcpy(out, kv->value, kv->len + 1);
    *value = out;
    *len = kv->len;
    if (version != NULL)
        *version = kv->version;
    fh_detail(e, "%zu bytes, version %" PRIu64, kv->len, kv->version);
    return fh_status(e, C360_OK);
}

int32_t fh_state_get(c360_call *call, const char *key, uint8_t **value,
                     size_t *len, uint64_t *version)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("state_get");
    fh_named_str(e, "key", key);
    int32_t st = fh_get_locked(e, call, key, value, len, version);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

/* The key and value rules of a write, as c360d's state.c applies them
 * (set, cas and staged writes alike): C360_OK, or the status with e
 * filled. */
static int32_t fh_value_check_locked(json_t *e, const char *fn, const char *key,
                                     const void *value, size_t len)
{
    if (!ch_name_valid(key))
        return fh_invalid_locked(e, fn, FH_KEY_RULE);
    if (value == NULL && len != 0)
        return fh_invalid_locked(e, fn, "value is NULL but len is not 0");
    if (len > ch_svc_limits_current.state_max_value) {
        fh_detail(e, "%zu bytes is over the host's limit of %zu", len,
                  ch_svc_limits_current.state_max_value);
        return fh_status(e, C360_ETOOBIG);
    }
    return C360_OK;
}

/* set and cas: cas says whether `expected` applies. */
static int32_t fh_write_locked(json_t *e, const char *fn, c360_call *call,
                               const char *key, const void *value, size_t len,
                               bool cas, uint64_t expected, uint32_t ttl_ms,
                               uint64_t *new_version)
{
    int32_t st = fh_gate_locked(e, fn, call);
    if (st != C360_OK)
        return st;
    st = fh_value_check_locked(e, fn, key, value, len);
    if (st != C360_OK)
        return st;
    const char *conn = fh_call_connection(call);
    fh_kv **pp = fh_kv_find(conn, key);
    uint64_t current = pp != NULL ? (*pp)->version : 0;
    if (cas && current != expected) {
        if (pp == NULL)
            fh_detail(e, "the key does not exist (expected version %" PRIu64
                      ")", expected);
        else if (expected == 0)
            fh_detail(e, "the key exists (version %" PRIu64 "); expected 0 "
                      "means it must not", current);
        else
            fh_detail(e, "stored version is %" PRIu64 ", not %" PRIu64,
                      current, expected);
        return fh_status(e, C360_ECONFLICT);
    }
    fh_kv *kv = fh_kv_write(pp, conn, key, value, len);
    /* As the real script: a TTL sets the expiry, 0 removes it. */
    kv->expires_ms = ttl_ms != 0 ? ch_monotonic_ms() + ttl_ms : 0;
    if (new_version != NULL)
        *new_version = kv->version;
    if (ttl_ms != 0)
        fh_detail(e, "version %" PRIu64 ", expires in %" PRIu32 " ms",
                  kv->version, ttl_ms);
    else
        fh_detail(e, "version %" PRIu64, kv->version);
    return fh_status(e, C360_OK);
}

int32_t fh_state_set(c360_call *call, const char *key, const void *value,
                     size_t len, uint32_t ttl_ms, uint64_t *new_version)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("state_set");
    fh_named_str(e, "key", key);
    fh_named_int(e, "len", (json_int_t)len);
    fh_named_int(e, "ttl_ms", ttl_ms);
    int32_t st = fh_write_locked(e, "state_set", call, key, value, len, false,
                                 0, ttl_ms, new_version);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int32_t fh_state_cas(c360_call *call, const char *key, const void *value,
                     size_t len, uint64_t expected, uint32_t ttl_ms,
                     uint64_t *new_version)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("state_cas");
    fh_named_str(e, "key", key);
    fh_named_int(e, "len", (json_int_t)len);
    /* Versions are counters far below 2^63 in any real run. */
    fh_named_int(e, "expected", (json_int_t)expected);
    fh_named_int(e, "ttl_ms", ttl_ms);
    int32_t st = fh_write_locked(e, "state_cas", call, key, value, len, true,
                                 expected, ttl_ms, new_version);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int32_t fh_state_delete(c360_call *call, const char *key)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("state_delete");
    fh_named_str(e, "key", key);
    int32_t st = fh_gate_locked(e, "state_delete", call);
    if (st == C360_OK && !ch_name_valid(key)) {
        st = fh_invalid_locked(e, "state_delete", FH_KEY_RULE);
    } else if (st == C360_OK) {
        fh_kv **pp = fh_kv_find(fh_call_connection(call), key);
        if (pp != NULL) {
            fh_kv *kv = *pp;
            *pp = kv->next;
            fh_kv_free(kv);
            fh_detail(e, "deleted");
        } else {
            /* The contract: ok even if it did not exist. */
            fh_detail(e, "there was no such key");
        }
        st = fh_status(e, C360_OK);
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

/* Whether v (NUL-terminated, len bytes) is integer text as state.c's
 * script accepts it: -?[0-9]+, at most 19 bytes; into *out. */
static bool fh_parse_int(const uint8_t *v, size_t len, long long *out)
{
    if (len == 0 || len > 19)
        return false;
    size_t i = v[0] == '-' ? 1 : 0;
    if (i == len)
        return false;
    for (; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    errno = 0;
    *out = strtoll((const char *)v, NULL, 10);
    return errno == 0;
}

static int32_t fh_incr_locked(json_t *e, c360_call *call, const char *key,
                              int64_t delta, int64_t *result)
{
    int32_t st = fh_gate_locked(e, "state_incr", call);
    if (st != C360_OK)
        return st;
    if (!ch_name_valid(key))
        return fh_invalid_locked(e, "state_incr", FH_KEY_RULE);
    const char *conn = fh_call_connection(call);
    fh_kv **pp = fh_kv_find(conn, key);
    long long cur = 0; /* absent counts as 0 */
    if (pp != NULL && !fh_parse_int((*pp)->value, (*pp)->len, &cur)) {
        fh_detail(e, "the stored value (%zu bytes) is not an integer",
                  (*pp)->len);
        return fh_status(e, C360_EINVAL);
    }
    long long sum;
    if (__builtin_add_overflow(cur, (long long)delta, &sum) ||
        sum > FH_INCR_MAX || sum < -FH_INCR_MAX) {
        fh_detail(e, "%lld + %" PRId64 " is beyond +-2^53, which the host "
                  "cannot hold exactly", cur, delta);
        return fh_status(e, C360_EINVAL);
    }
    char text[24];
    int n = snprintf(text, sizeof(text), "%lld", sum);
    /* The expiry is kept: the real script only rewrites the fields. */
    fh_kv *kv = fh_kv_write(pp, conn, key, text, (size_t)n);
    if (result != NULL)
        *result = sum;
    fh_detail(e, "%lld, version %" PRIu64, sum, kv->version);
    return fh_status(e, C360_OK);
}

int32_t fh_state_incr(c360_call *call, const char *key, int64_t delta,
                      int64_t *result)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("state_incr");
    fh_named_str(e, "key", key);
    fh_named_int(e, "delta", delta);
    int32_t st = fh_incr_locked(e, call, key, delta, result);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

static void fh_stage_drop_locked(void);

void fh_state_reset_locked(void)
{
    fh_stage_drop_locked();
    while (fh_kvs != NULL) {
        fh_kv *kv = fh_kvs;
        fh_kvs = kv->next;
        fh_kv_free(kv);
    }
}

/* ------------------------------------------------------------------------ */
/* ABI 1.6: state_set_on_commit                                              */
/* ------------------------------------------------------------------------ */

/* As c360d (host/pipeline/state_staged.h): writes staged during event or
 * tick, applied in the order staged when the callback returns ok
 * (fh_state_commit_staged, which main.c calls after each of them), dropped
 * otherwise; state_get does not see them before. Outside event and tick
 * c360d has no records to commit them with and answers C360_EDENIED: a
 * warning, not a problem, since a plugin may try and fall back to
 * state_set. */
#define FH_STAGED_MAX 1000u
#define FH_STAGED_BYTES_MAX ((size_t)16 * 1024 * 1024)

typedef struct fh_staged {
    struct fh_staged *next;
    char *key;
    uint8_t *value; /* NULL: a delete */
    size_t len;
    uint32_t ttl_ms;
} fh_staged;

/* Guarded by fh_lock: the running step's writes, in order. */
static fh_staged *fh_stage_head;
static fh_staged **fh_stage_tail = &fh_stage_head;
static size_t fh_stage_n, fh_stage_bytes;

static int32_t fh_stage_locked(json_t *e, c360_call *call, const char *key,
                               const void *value, size_t len, uint32_t ttl_ms)
{
    const char *fn = "state_set_on_commit";
    if (!fh_call_ok_locked(fn, call)) {
        fh_detail(e, "refused: not the call handle of this callback");
        return fh_status(e, C360_EINVAL);
    }
    const char *cb = fh_callback_locked();
    if (cb == NULL || (strcmp(cb, "event") != 0 && strcmp(cb, "tick") != 0)) {
        fh_warning_locked("host.state_set_on_commit outside event and tick: "
                          "c360d stages state writes only with a source's "
                          "records, which those callbacks commit "
                          "(C360_EDENIED); write with state_set here");
        fh_detail(e, "refused: staged writes commit with event or tick");
        return fh_status(e, C360_EDENIED);
    }
    int32_t vst = fh_value_check_locked(e, fn, key, value, len);
    if (vst != C360_OK)
        return vst;
    size_t add = strlen(key) + len;
    if (fh_stage_n >= FH_STAGED_MAX || fh_stage_bytes + add > FH_STAGED_BYTES_MAX) {
        fh_detail(e, "past the host's bound of %u staged writes or 16 MiB in "
                  "one call", FH_STAGED_MAX);
        return fh_status(e, C360_ETOOBIG);
    }
    fh_staged *s = fh_xmalloc(sizeof(*s));
    s->next = NULL;
    s->key = fh_xstrdup(key);
    s->value = NULL;
    s->len = len;
    s->ttl_ms = value != NULL ? ttl_ms : 0;
    if (value != NULL) {
        s->value = fh_xmalloc(len + 1);
        if (len > 0)
            memcpy(s->value, value, len);
        s->value[len] = '\0';
    }
    *fh_stage_tail = s;
    fh_stage_tail = &s->next;
    fh_stage_n++;
    fh_stage_bytes += add;
    fh_pipeline_count_locked("state_staged", 1);
    fh_detail(e, "%s %zu of this call, applied only if the callback returns "
              "ok", value != NULL ? "write" : "delete", fh_stage_n);
    return fh_status(e, C360_OK);
}

int32_t fh_state_set_on_commit(c360_call *call, const char *key,
                               const void *value, size_t len, uint32_t ttl_ms)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("state_set_on_commit");
    fh_named_str(e, "key", key);
    fh_named_int(e, "len", (json_int_t)len);
    fh_named_int(e, "ttl_ms", ttl_ms);
    int32_t st = fh_stage_locked(e, call, key, value, len, ttl_ms);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

static void fh_stage_drop_locked(void)
{
    while (fh_stage_head != NULL) {
        fh_staged *s = fh_stage_head;
        fh_stage_head = s->next;
        free(s->key);
        free(s->value);
        free(s);
    }
    fh_stage_tail = &fh_stage_head;
    fh_stage_n = 0;
    fh_stage_bytes = 0;
}

size_t fh_state_commit_staged(bool ok)
{
    pthread_mutex_lock(&fh_lock);
    size_t n = fh_stage_n;
    const char *conn = fh_call_connection(NULL);
    for (fh_staged *s = ok ? fh_stage_head : NULL; s != NULL; s = s->next) {
        fh_kv **pp = fh_kv_find(conn, s->key);
        if (s->value == NULL) {
            if (pp != NULL) {
                fh_kv *kv = *pp;
                *pp = kv->next;
                fh_kv_free(kv);
            }
            continue;
        }
        fh_kv *kv = fh_kv_write(pp, conn, s->key, s->value, s->len);
        kv->expires_ms = s->ttl_ms != 0 ? ch_monotonic_ms() + s->ttl_ms : 0;
    }
    fh_stage_drop_locked();
    pthread_mutex_unlock(&fh_lock);
    return n;
}
