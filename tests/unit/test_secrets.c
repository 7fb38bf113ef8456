/* test_secrets.c -- the sealed secrets service against a real
 * redis-server: round trips (text, binary with NULs, empty), validation,
 * the size limit, records copied to another connection, name or tenant,
 * tampered fields, a retired master key named in the error, re-wrapping,
 * re-wrap racing a put, delete and delete_connection, and the SCAN walk. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "keyring.h"
#include "log.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "secrets.h"
#include "svc.h"

#define HEX_A "a0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HEX_B "b0eeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static redisContext *g_raw; /* the test's own view of Redis, for tampering */

static ch_keyring *ring(const char *text)
{
    ch_keyring *kr = NULL;
    char err[256];
    if (ch_keyring_parse(text, strlen(text), 0, "test", &kr, err, sizeof err) != CH_OK) {
        fprintf(stderr, "keyring: %s\n", err);
        exit(1);
    }
    return kr;
}

static redisReply *raw(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g_raw, fmt, ap);
    va_end(ap);
    if (!r) { fprintf(stderr, "raw redis: %s\n", g_raw->errstr); exit(1); }
    return r;
}

static void raw_do(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g_raw, fmt, ap);
    va_end(ap);
    CHECK(r && r->type != REDIS_REPLY_ERROR);
    if (r) freeReplyObject(r);
}

/* Copies the stored fields of one secret key to another, byte for byte. */
static void raw_copy(const char *from, const char *to)
{
    redisReply *r = raw("HGETALL %s", from);
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 8);
    raw_do("DEL %s", to);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        raw_do("HSET %s %b %b", to, r->element[i]->str, r->element[i]->len,
               r->element[i + 1]->str, r->element[i + 1]->len);
    freeReplyObject(r);
}

/* Flips one bit of a field at byte offset off. */
static void raw_flip(const char *key, const char *field, size_t off)
{
    redisReply *r = raw("HGET %s %s", key, field);
    CHECK(r->type == REDIS_REPLY_STRING && r->len > off);
    if (r->type == REDIS_REPLY_STRING && r->len > off) {
        r->str[off] ^= 0x01;
        raw_do("HSET %s %s %b", key, field, r->str, r->len);
    }
    freeReplyObject(r);
}

static int32_t get_str(const char *t, const char *c, const char *n, char *out, size_t cap,
                       char *err, size_t errcap)
{
    uint8_t *v = NULL;
    size_t len = 0;
    err[0] = '\0';
    int32_t rc = ch_secret_get(t, c, n, &v, &len, err, errcap);
    out[0] = '\0';
    if (rc == C360_OK) {
        CHECK(v != NULL && v[len] == '\0');
        snprintf(out, cap, "%.*s", (int)len, (const char *)v);
        ch_secret_value_free(v);
    } else {
        CHECK(v == NULL && len == 0);
    }
    return rc;
}

static void test_round_trips(void)
{
    char got[256], err[256];
    CHECK(ch_secret_put("t1", "c1", "api_token", "hunter2", 7, err, sizeof err) == C360_OK);
    CHECK(get_str("t1", "c1", "api_token", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "hunter2");
    /* Overwrite: the latest value wins. */
    CHECK(ch_secret_put("t1", "c1", "api_token", "hunter3!", 8, err, sizeof err) == C360_OK);
    CHECK(get_str("t1", "c1", "api_token", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "hunter3!");

    /* The stored record holds no plaintext and names the key. */
    redisReply *r = raw("HGETALL c360:{t:t1}:secret:c1:api_token");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 8);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        CHECK(memmem(r->element[i]->str, r->element[i]->len, "hunter3", 7) == NULL);
    freeReplyObject(r);
    r = raw("HGET c360:{t:t1}:secret:c1:api_token kid");
    CHECK(r->type == REDIS_REPLY_STRING && strcmp(r->str, "kA") == 0);
    freeReplyObject(r);
    r = raw("HGET c360:{t:t1}:secret:c1:api_token ct");
    CHECK(r->type == REDIS_REPLY_STRING && r->len == 24 + 8 + 16);
    freeReplyObject(r);

    /* Binary: every byte value, NULs included. */
    unsigned char bin[512];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)(i * 7);
    CHECK(ch_secret_put("t1", "c1", "bin", bin, sizeof bin, err, sizeof err) == C360_OK);
    uint8_t *v = NULL;
    size_t len = 0;
    CHECK(ch_secret_get("t1", "c1", "bin", &v, &len, err, sizeof err) == C360_OK);
    CHECK(len == sizeof bin && v && memcmp(v, bin, sizeof bin) == 0 && v[len] == 0);
    ch_secret_value_free(v);

    /* Empty values are allowed (an empty password is a value). */
    CHECK(ch_secret_put("t1", "c1", "empty", "", 0, err, sizeof err) == C360_OK);
    CHECK(ch_secret_put("t1", "c1", "empty2", NULL, 0, err, sizeof err) == C360_OK);
    v = NULL;
    CHECK(ch_secret_get("t1", "c1", "empty", &v, &len, err, sizeof err) == C360_OK);
    CHECK(v != NULL && len == 0 && v[0] == '\0');
    ch_secret_value_free(v);
    CHECK(get_str("t1", "c1", "empty2", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "");

    /* Names may hold any printable ASCII, ':' and glob characters too. */
    const char *odd = "oauth:refresh*[x]?{y}";
    CHECK(ch_secret_put("t1", "c1", odd, "r", 1, err, sizeof err) == C360_OK);
    CHECK(get_str("t1", "c1", odd, got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "r");

    size_t l2;
    uint8_t *v2;
    CHECK(ch_secret_get("t1", "c1", "bin", NULL, &l2, err, sizeof err) == C360_EINVAL);
    CHECK(ch_secret_get("t1", "c1", "bin", &v2, NULL, err, sizeof err) == C360_EINVAL);
    CHECK(ch_secret_get("t1", "c1", "absent", &v2, &l2, NULL, 0) == C360_ENOTFOUND); /* err optional */
    CHECK(get_str("t1", "c1", "absent", got, sizeof got, err, sizeof err) == C360_ENOTFOUND);
    CHECK_CONTAINS(err, "no such secret");
    ch_secret_value_free(NULL);
}

static void test_validation_and_limits(void)
{
    char err[256], got[64];
    char longid[80], longname[210];
    memset(longid, 'a', 65); longid[65] = '\0';
    memset(longname, 'n', 201); longname[201] = '\0';
    struct { const char *t, *c, *n; } bad[] = {
        {"", "c1", "x"}, {"t:1", "c1", "x"}, {"t}", "c1", "x"}, {longid, "c1", "x"},
        {NULL, "c1", "x"}, {"t1", "", "x"}, {"t1", "c*", "x"}, {"t1", "c:1", "x"},
        {"t1", longid, "x"}, {"t1", "c1", ""}, {"t1", "c1", "a b"}, {"t1", "c1", "tab\t"},
        {"t1", "c1", longname}, {"t1", "c1", "\xc3\xa9"}, {"t1", "c1", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(ch_secret_put(bad[i].t, bad[i].c, bad[i].n, "v", 1, err, sizeof err) == C360_EINVAL);
        CHECK(get_str(bad[i].t, bad[i].c, bad[i].n, got, sizeof got, err, sizeof err) == C360_EINVAL);
        CHECK(ch_secret_delete(bad[i].t, bad[i].c, bad[i].n, err, sizeof err) == C360_EINVAL);
    }
    longname[200] = '\0'; /* exactly 200 is fine */
    CHECK(ch_secret_put("t1", "c1", longname, "v", 1, err, sizeof err) == C360_OK);
    longid[64] = '\0';
    CHECK(ch_secret_put(longid, longid, "x", "v", 1, err, sizeof err) == C360_OK);
    CHECK(ch_secret_put("t1", "c1", "x", NULL, 3, err, sizeof err) == C360_EINVAL);

    /* Size limit: the operator's, inclusive. */
    size_t lim = ch_svc_limits_current.secret_max_value;
    CHECK(lim == 64 * 1024);
    unsigned char *big = calloc(1, lim + 1);
    CHECK(ch_secret_put("t1", "c1", "big", big, lim, err, sizeof err) == C360_OK);
    uint8_t *v = NULL;
    size_t len = 0;
    CHECK(ch_secret_get("t1", "c1", "big", &v, &len, err, sizeof err) == C360_OK && len == lim);
    ch_secret_value_free(v);
    CHECK(ch_secret_put("t1", "c1", "big", big, lim + 1, err, sizeof err) == C360_ETOOBIG);
    CHECK_CONTAINS(err, "over the limit of 65536");
    ch_svc_limits_current.secret_max_value = 10;
    CHECK(ch_secret_put("t1", "c1", "small", big, 11, err, sizeof err) == C360_ETOOBIG);
    CHECK(ch_secret_put("t1", "c1", "small", big, 10, err, sizeof err) == C360_OK);
    /* A value stored under a higher limit still opens after it is lowered. */
    CHECK(ch_secret_get("t1", "c1", "big", &v, &len, err, sizeof err) == C360_OK && len == lim);
    ch_secret_value_free(v);
    ch_svc_limits_current.secret_max_value = lim;
    free(big);
}

static void test_copies_and_tampering(void)
{
    char err[256], got[64];
    const char *src = "c360:{t:t1}:secret:c1:pw";
    CHECK(ch_secret_put("t1", "c1", "pw", "s3cr3t-value", 12, err, sizeof err) == C360_OK);

    /* The same record under another connection, name or tenant. */
    const char *dst[][4] = {{"c360:{t:t1}:secret:c2:pw", "t1", "c2", "pw"},
                            {"c360:{t:t1}:secret:c1:pw2", "t1", "c1", "pw2"},
                            {"c360:{t:t2}:secret:c1:pw", "t2", "c1", "pw"}};
    for (size_t i = 0; i < 3; i++) {
        raw_copy(src, dst[i][0]);
        CHECK(get_str(dst[i][1], dst[i][2], dst[i][3], got, sizeof got, err, sizeof err) ==
              C360_EAUTH);
        CHECK_STR(err, "secret was sealed for another connection or was tampered with");
        CHECK(strstr(got, "s3cr3t") == NULL);
    }
    /* The original is unharmed. */
    CHECK(get_str("t1", "c1", "pw", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "s3cr3t-value");

    /* Bit flips anywhere in ct or wdek (nonce, body, tag). */
    const char *fields[] = {"ct", "wdek"};
    size_t offs[] = {0, 23, 24, 30, 35};
    for (size_t f = 0; f < 2; f++) {
        for (size_t o = 0; o < sizeof offs / sizeof *offs; o++) {
            CHECK(ch_secret_put("t1", "c1", "tam", "s3cr3t-value", 12, err, sizeof err) == C360_OK);
            raw_flip("c360:{t:t1}:secret:c1:tam", fields[f], offs[o]);
            CHECK(get_str("t1", "c1", "tam", got, sizeof got, err, sizeof err) == C360_EAUTH);
            CHECK_CONTAINS(err, "tampered with");
        }
    }

    /* Editing kid to another key of the keyring does not open either. */
    CHECK(ch_secret_put("t1", "c1", "tam", "s3cr3t-value", 12, err, sizeof err) == C360_OK);
    raw_do("HSET c360:{t:t1}:secret:c1:tam kid kB");
    CHECK(get_str("t1", "c1", "tam", got, sizeof got, err, sizeof err) == C360_EAUTH);

    /* Malformed records: truncated ct, short wdek, a missing field, a bad
     * kid, a bad version -- errors, never crashes. */
    struct { const char *cmd; int32_t want; const char *msg; } mal[] = {
        {"HSET c360:{t:t1}:secret:c1:tam ct short", C360_EAUTH, "malformed"},
        {"HSET c360:{t:t1}:secret:c1:tam wdek short", C360_EAUTH, "malformed"},
        {"HDEL c360:{t:t1}:secret:c1:tam ct", C360_EAUTH, "incomplete"},
        {"HSET c360:{t:t1}:secret:c1:tam kid bad:id", C360_EAUTH, "malformed key id"},
        {"HSET c360:{t:t1}:secret:c1:tam kid abcdefghijklmnopqrstuvwxyz0123456789", C360_EAUTH,
         "malformed key id"},
        {"HSET c360:{t:t1}:secret:c1:tam v x", C360_EAUTH, "malformed version"},
        {"HSET c360:{t:t1}:secret:c1:tam v 2", C360_EIO, "format version 2"},
    };
    for (size_t i = 0; i < sizeof mal / sizeof *mal; i++) {
        CHECK(ch_secret_put("t1", "c1", "tam", "s3cr3t-value", 12, err, sizeof err) == C360_OK);
        raw_do(mal[i].cmd);
        CHECK(get_str("t1", "c1", "tam", got, sizeof got, err, sizeof err) == mal[i].want);
        CHECK_CONTAINS(err, mal[i].msg);
    }
    /* Only some fields present at all. */
    raw_do("DEL c360:{t:t1}:secret:c1:tam");
    raw_do("HSET c360:{t:t1}:secret:c1:tam kid kA");
    CHECK(get_str("t1", "c1", "tam", got, sizeof got, err, sizeof err) == C360_EAUTH);
    /* The key holds another type. */
    raw_do("DEL c360:{t:t1}:secret:c1:tam");
    raw_do("SET c360:{t:t1}:secret:c1:tam plain");
    CHECK(get_str("t1", "c1", "tam", got, sizeof got, err, sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "holds another type");
    CHECK(ch_secret_put("t1", "c1", "tam", "x", 1, err, sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "holds another type");
    raw_do("DEL c360:{t:t1}:secret:c1:tam");
    raw_do("RPUSH c360:{t:t1}:secret:c1:tam x");
    CHECK(get_str("t1", "c1", "tam", got, sizeof got, err, sizeof err) == C360_EIO);
    raw_do("DEL c360:{t:t1}:secret:c1:tam");
}

static void test_rotation(void)
{
    char err[256], got[64], kid[40];
    ch_keyring *a = ring("kA:" HEX_A "\n");
    ch_keyring *ab = ring("kA:" HEX_A "\nkB:" HEX_B "\n");
    ch_keyring *b = ring("kB:" HEX_B "\n");
    ch_keyring *ba = ring("kB:" HEX_B "\nkA:" HEX_A "\n");

    ch_secrets_init(a);
    CHECK(ch_secret_put("t3", "c1", "one", "first", 5, err, sizeof err) == C360_OK);
    CHECK(ch_secret_put("t3", "c1", "two", "second", 6, err, sizeof err) == C360_OK);
    CHECK(ch_secret_kid("t3", "c1", "one", kid, sizeof kid, err, sizeof err) == C360_OK);
    CHECK_STR(kid, "kA");

    /* Retiring kA too early: the error names it. */
    CHECK(ch_secrets_init(b) == a);
    CHECK(get_str("t3", "c1", "one", got, sizeof got, err, sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "master key 'kA', which is not in this host's keyring");
    ch_rewrap_outcome out = CH_REWRAP_GONE;
    CHECK(ch_secret_rewrap("t3", "c1", "one", &out, err, sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "'kA'");

    /* B known but not active yet (step 1 of the procedure): kA still
     * wraps new secrets; both open. */
    ch_secrets_init(ba);
    CHECK(ch_secret_put("t3", "c1", "three", "third", 5, err, sizeof err) == C360_OK);
    CHECK(ch_secret_kid("t3", "c1", "three", kid, sizeof kid, err, sizeof err) == C360_OK);
    CHECK_STR(kid, "kA");

    /* kB active: new writes use it, old ones still open. */
    ch_secrets_init(ab);
    CHECK(ch_secret_put("t3", "c1", "four", "fourth", 6, err, sizeof err) == C360_OK);
    CHECK(ch_secret_kid("t3", "c1", "four", kid, sizeof kid, err, sizeof err) == C360_OK);
    CHECK_STR(kid, "kB");
    CHECK(get_str("t3", "c1", "one", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "first");

    redisReply *before = raw("HGET c360:{t:t3}:secret:c1:one ct");
    CHECK(ch_secret_rewrap("t3", "c1", "one", &out, err, sizeof err) == C360_OK);
    CHECK(out == CH_REWRAP_DONE);
    CHECK(ch_secret_kid("t3", "c1", "one", kid, sizeof kid, err, sizeof err) == C360_OK);
    CHECK_STR(kid, "kB");
    /* Only the DEK's wrap changed: the value's ciphertext is untouched. */
    redisReply *after = raw("HGET c360:{t:t3}:secret:c1:one ct");
    CHECK(before->len == after->len && memcmp(before->str, after->str, before->len) == 0);
    freeReplyObject(before);
    freeReplyObject(after);
    CHECK(ch_secret_rewrap("t3", "c1", "one", &out, err, sizeof err) == C360_OK);
    CHECK(out == CH_REWRAP_CURRENT);
    CHECK(ch_secret_rewrap("t3", "c1", "gone", &out, err, sizeof err) == C360_OK);
    CHECK(out == CH_REWRAP_GONE);
    CHECK(ch_secret_rewrap("t3", "c1", "two", &out, err, sizeof err) == C360_OK);
    CHECK(ch_secret_rewrap("t3", "c1", "three", &out, err, sizeof err) == C360_OK);
    /* A tampered record is reported, not re-wrapped. */
    raw_copy("c360:{t:t3}:secret:c1:two", "c360:{t:t3}:secret:c1:copied");
    raw_do("HSET c360:{t:t3}:secret:c1:copied kid kA");
    CHECK(ch_secret_rewrap("t3", "c1", "copied", &out, err, sizeof err) == C360_EAUTH);
    raw_do("DEL c360:{t:t3}:secret:c1:copied");

    /* kA retired: everything opens with kB alone. */
    ch_secrets_init(b);
    const char *names[] = {"one", "two", "three", "four"};
    const char *vals[] = {"first", "second", "third", "fourth"};
    for (int i = 0; i < 4; i++) {
        CHECK(get_str("t3", "c1", names[i], got, sizeof got, err, sizeof err) == C360_OK);
        CHECK_STR(got, vals[i]);
    }

    /* Without a keyring the service refuses. */
    CHECK(ch_secrets_init(NULL) == b);
    CHECK(ch_secret_put("t3", "c1", "x", "v", 1, err, sizeof err) == C360_EUNSUPPORTED);
    CHECK(get_str("t3", "c1", "one", got, sizeof got, err, sizeof err) == C360_EUNSUPPORTED);
    ch_secrets_init(a);
    ch_keyring_free(ab);
    ch_keyring_free(b);
    ch_keyring_free(ba);
    ch_secrets_init(NULL);
    ch_keyring_free(a);
}

/* Re-wrap racing a put on the same secret: whatever the interleaving, the
 * put's value must survive (write-back only if unchanged). */
typedef struct race {
    pthread_barrier_t *bar;
    int i;
    int32_t rc;
    ch_rewrap_outcome out;
} race;

static void *race_put(void *p)
{
    race *r = p;
    char v[32], err[128];
    int n = snprintf(v, sizeof v, "new-%d", r->i);
    pthread_barrier_wait(r->bar);
    r->rc = ch_secret_put("t4", "c1", "raced", v, (size_t)n, err, sizeof err);
    ch_rconn_thread_close();
    return NULL;
}

static void *race_rewrap(void *p)
{
    race *r = p;
    char err[128];
    pthread_barrier_wait(r->bar);
    r->rc = ch_secret_rewrap("t4", "c1", "raced", &r->out, err, sizeof err);
    ch_rconn_thread_close();
    return NULL;
}

static void test_rewrap_race(void)
{
    char err[256], got[64];
    ch_keyring *a = ring("kA:" HEX_A "\n");
    ch_keyring *ab = ring("kA:" HEX_A "\nkB:" HEX_B "\n");
    ch_secrets_init(a);
    CHECK(ch_secret_put("t4", "c1", "raced", "old", 3, err, sizeof err) == C360_OK);
    raw_copy("c360:{t:t4}:secret:c1:raced", "c360:{t:t4}:snapshot");
    ch_secrets_init(ab);
    int done = 0, current = 0, superseded = 0, lost = 0;
    for (int i = 0; i < 200; i++) {
        raw_copy("c360:{t:t4}:snapshot", "c360:{t:t4}:secret:c1:raced"); /* back under kA */
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        race rp = {&bar, i, -1, 0}, rw = {&bar, i, -1, 0};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, race_put, &rp);
        pthread_create(&t2, NULL, race_rewrap, &rw);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&bar);
        CHECK(rp.rc == C360_OK);
        CHECK(rw.rc == C360_OK);
        if (rw.out == CH_REWRAP_DONE) done++;
        if (rw.out == CH_REWRAP_CURRENT) current++;
        if (rw.out == CH_REWRAP_SUPERSEDED) superseded++;
        char want[32];
        snprintf(want, sizeof want, "new-%d", i);
        if (get_str("t4", "c1", "raced", got, sizeof got, err, sizeof err) != C360_OK ||
            strcmp(got, want) != 0)
            lost++;
    }
    CHECK(lost == 0);
    CHECK(done + current + superseded == 200);
    printf("rewrap race: 200 rounds: re-wrapped first %d, put first %d, put between read "
           "and write-back %d, lost puts %d\n", done, current, superseded, lost);
    /* Deterministically: a write-back based on a stale read is refused and
     * leaves the newer put alone; one based on the current wdek lands. */
    raw_copy("c360:{t:t4}:snapshot", "c360:{t:t4}:secret:c1:raced");
    redisReply *stale = raw("HGET c360:{t:t4}:secret:c1:raced wdek");
    CHECK(stale->type == REDIS_REPLY_STRING && stale->len == 72);
    CHECK(ch_secret_put("t4", "c1", "raced", "newest", 6, err, sizeof err) == C360_OK);
    unsigned char junk[72] = {0};
    int written = -1;
    CHECK(ch_secret_rewrap_cas("c360:{t:t4}:secret:c1:raced", (const unsigned char *)stale->str,
                               "kA", junk, &written, err, sizeof err) == C360_OK);
    CHECK(written == 0);
    CHECK(get_str("t4", "c1", "raced", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK_STR(got, "newest");
    redisReply *cur = raw("HGET c360:{t:t4}:secret:c1:raced wdek");
    CHECK(ch_secret_rewrap_cas("c360:{t:t4}:secret:c1:raced", (const unsigned char *)cur->str,
                               "kA", junk, &written, err, sizeof err) == C360_OK);
    CHECK(written == 1);
    /* ... and what it wrote is exactly what it was given (junk: no longer
     * opens, proving the write happened). */
    CHECK(get_str("t4", "c1", "raced", got, sizeof got, err, sizeof err) == C360_EAUTH);
    freeReplyObject(stale);
    freeReplyObject(cur);
    raw_do("SET c360:{t:t4}:str x");
    CHECK(ch_secret_rewrap_cas("c360:{t:t4}:str", junk, "kA", junk, &written, err,
                               sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "holds another type");
    raw_do("DEL c360:{t:t4}:snapshot c360:{t:t4}:str");
    ch_secrets_init(NULL);
    ch_keyring_free(ab);
    ch_keyring_free(a);
}

typedef struct tally { size_t n; size_t t5; } tally;

static int count_visit(const char *t, const char *c, const char *n, void *arg)
{
    tally *ty = arg;
    (void)c; (void)n;
    ty->n++;
    if (strcmp(t, "t5") == 0) ty->t5++;
    return 0;
}

static void test_delete_and_scan(void)
{
    char err[256], got[64];
    ch_keyring *a = ring("kA:" HEX_A "\n");
    ch_secrets_init(a);
    raw_do("FLUSHALL");
    CHECK(ch_secret_put("t5", "c1", "gone", "v", 1, err, sizeof err) == C360_OK);
    CHECK(ch_secret_delete("t5", "c1", "gone", err, sizeof err) == C360_OK);
    CHECK(get_str("t5", "c1", "gone", got, sizeof got, err, sizeof err) == C360_ENOTFOUND);
    CHECK(ch_secret_delete("t5", "c1", "gone", err, sizeof err) == C360_OK);

    /* c1 has 1200 secrets (several SCAN pages); c10 (an id that starts
     * with c1), c1 of another tenant, and a state key named to match the
     * secret pattern must all survive c1's deletion. */
    char name[64];
    for (int i = 0; i < 1200; i++) {
        snprintf(name, sizeof name, "s%d:x*", i);
        CHECK(ch_secret_put("t5", "c1", name, "v", 1, err, sizeof err) == C360_OK);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "s%d", i);
        CHECK(ch_secret_put("t5", "c10", name, "w", 1, err, sizeof err) == C360_OK);
        CHECK(ch_secret_put("t6", "c1", name, "x", 1, err, sizeof err) == C360_OK);
    }
    raw_do("SET %s v", "c360:{t:t5}:state:c1:}:secret:c1:fake");

    tally ty = {0, 0};
    size_t foreign = 99;
    CHECK(ch_secrets_foreach(NULL, NULL, 50, count_visit, &ty, &foreign, err, sizeof err) ==
          C360_OK);
    CHECK(ty.n == 1206 && ty.t5 == 1203);
    CHECK(foreign == 1);
    ty = (tally){0, 0};
    CHECK(ch_secrets_foreach("t5", "c10", 0, count_visit, &ty, NULL, err, sizeof err) ==
          C360_OK);
    CHECK(ty.n == 3);
    CHECK(ch_secrets_foreach("t5", "c1*", 0, count_visit, &ty, NULL, err, sizeof err) ==
          C360_EINVAL);

    size_t deleted = 0;
    CHECK(ch_secret_delete_connection("t5", "c1", &deleted, err, sizeof err) == C360_OK);
    CHECK(deleted == 1200);
    ty = (tally){0, 0};
    CHECK(ch_secrets_foreach(NULL, NULL, 0, count_visit, &ty, NULL, err, sizeof err) == C360_OK);
    CHECK(ty.n == 6 && ty.t5 == 3);
    CHECK(get_str("t5", "c10", "s0", got, sizeof got, err, sizeof err) == C360_OK);
    CHECK(get_str("t6", "c1", "s2", got, sizeof got, err, sizeof err) == C360_OK);
    redisReply *r = raw("EXISTS c360:{t:t5}:state:c1:}:secret:c1:fake");
    CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    CHECK(ch_secret_delete_connection("t5", "c1", &deleted, err, sizeof err) == C360_OK);
    CHECK(deleted == 0);
    CHECK(ch_secret_delete_connection("t5", "c*", &deleted, err, sizeof err) == C360_EINVAL);

    /* Key parsing. */
    char t[80], c[80], n[256];
    const char *k = "c360:{t:ten}:secret:con:a:b}:c";
    CHECK(ch_secret_key_parse(k, strlen(k), t, c, n) == 0);
    CHECK_STR(t, "ten"); CHECK_STR(c, "con"); CHECK_STR(n, "a:b}:c");
    const char *badk[] = {"c360:{t:ten}:secret:con:", "c360:{t:ten}:secret:con",
                          "c360:{t:ten}:state:con:x", "c360:{t:}:secret:con:x",
                          "c360:{p:ten}:secret:con:x", "c360:{t:te n}:secret:con:x",
                          "c360:{t:ten}:secret::x", "c360:{t:ten}:secret:con:a b"};
    for (size_t i = 0; i < sizeof badk / sizeof *badk; i++)
        CHECK(ch_secret_key_parse(badk[i], strlen(badk[i]), t, c, n) == -1);
    char withnul[] = "c360:{t:ten}:secret:con:ab";
    withnul[sizeof withnul - 2] = '\0';
    CHECK(ch_secret_key_parse(withnul, sizeof withnul - 1, t, c, n) == -1);

    ch_secrets_init(NULL);
    ch_keyring_free(a);
}

static void test_redis_down(void)
{
    char err[256], got[64];
    ch_keyring *a = ring("kA:" HEX_A "\n");
    ch_secrets_init(a);
    fx_redis_kill();
    CHECK(ch_secret_put("t7", "c1", "x", "v", 1, err, sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "redis:");
    CHECK(get_str("t7", "c1", "x", got, sizeof got, err, sizeof err) == C360_EIO);
    CHECK(ch_secrets_foreach(NULL, NULL, 0, count_visit, &(tally){0, 0}, NULL, err,
                             sizeof err) == C360_EIO);
    fx_redis_start();
    CHECK(ch_secret_put("t7", "c1", "x", "v", 1, err, sizeof err) == C360_OK);
    CHECK(get_str("t7", "c1", "x", got, sizeof got, err, sizeof err) == C360_OK);
    ch_secrets_init(NULL);
    ch_keyring_free(a);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    /* The service warns about every record that does not open; this test
     * provokes dozens (test_secrets_leak reads the log itself). */
    int devnull = open("/dev/null", O_WRONLY);
    ch_log_set_fd(devnull);
    int port = fx_rconn_start(5000);
    g_raw = redisConnect("127.0.0.1", port);
    if (!g_raw || g_raw->err) return 1;

    ch_keyring *a = ring("kA:" HEX_A "\n");
    ch_secrets_init(a);
    test_round_trips();
    test_validation_and_limits();
    /* kB known (for the edited-kid case) with kA still active. */
    ch_keyring *ba = ring("kB:" HEX_B "\nkA:" HEX_A "\n");
    ch_secrets_init(ba);
    test_copies_and_tampering();
    ch_secrets_init(NULL);
    ch_keyring_free(ba);
    ch_keyring_free(a);
    test_rotation();
    test_rewrap_race();
    test_delete_and_scan();
    redisFree(g_raw);
    test_redis_down();
    ch_rconn_shutdown();
    ch_log_set_fd(-1);
    close(devnull);
    CHECK_DONE();
}
