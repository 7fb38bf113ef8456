/* test_state_staged -- the per-call buffer behind state_set_on_commit
 * (state_staged.h, ABI 1.6): key and value checks (refusals leave the
 * buffer as it was), the value limit, the per-call count and byte bounds,
 * the packing the outcome scripts parse (order kept, a later write of a
 * key after an earlier one, deletes, binary-safe values with colons and
 * NULs, the key names in one allocation), reset, and concurrent staging
 * from several threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "connector_api.h"
#include "state_staged.h"

#define LIMIT (1024 * 1024)

static ch_staged g_shared;

static void *stager(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof key, "t%ld-%d", k, i);
        ch_staged_add(&g_shared, key, "v", 1, 0, LIMIT);
    }
    return NULL;
}

/* Parses "<len>:<bytes>" at *p (as queue_work_outcome.c's unpack_fields does before the scripts get the fields). */
static size_t take(const char **p, const char **val)
{
    char *colon;
    size_t n = strtoul(*p, &colon, 10);
    *val = colon + 1;
    *p = colon + 1 + n;
    return n;
}

/* The next write of a blob: op, ttl, value. */
static void next_write(const char **p, char *op, unsigned long *ttl, const char **val,
                       size_t *len)
{
    const char *v;
    CHECK(take(p, &v) == 1);
    *op = v[0];
    char num[16] = "";
    size_t n = take(p, &v);
    CHECK(n > 0 && n < sizeof num);
    if (n < sizeof num) memcpy(num, v, n);
    *ttl = strtoul(num, NULL, 10);
    *len = take(p, val);
}

int main(void)
{
    ch_staged s;
    ch_staged_init(&s);
    size_t len = 1, n = 1;
    char **keys = (char **)&s; /* anything non-NULL: must come back NULL */
    CHECK(ch_staged_pack(&s, &len, &keys, &n) == NULL && len == 0 && keys == NULL && n == 0);

    /* Refused: bad keys (the state key rule), a NULL value with a length,
     * a value over the limit. Nothing is kept. */
    CHECK(ch_staged_add(&s, NULL, "v", 1, 0, LIMIT) == C360_EINVAL);
    CHECK(ch_staged_add(&s, "", "v", 1, 0, LIMIT) == C360_EINVAL);
    CHECK(ch_staged_add(&s, "has space", "v", 1, 0, LIMIT) == C360_EINVAL);
    char longkey[202];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    CHECK(ch_staged_add(&s, longkey, "v", 1, 0, LIMIT) == C360_EINVAL);
    longkey[200] = '\0';
    CHECK(ch_staged_add(&s, "k", NULL, 2, 0, LIMIT) == C360_EINVAL);
    CHECK(ch_staged_add(&s, "k", "12345", 5, 0, 4) == C360_ETOOBIG);
    CHECK(ch_staged_count(&s) == 0);
    CHECK(s.refused == 6);

    /* Kept, in order: a write with a TTL, an empty value (a write, not a
     * delete), a delete (its TTL ignored), a binary value, the same key
     * again (the later one wins when applied in order), a 200-byte key. */
    CHECK(ch_staged_add(&s, "lead:1", "w", 1, 86400000, LIMIT) == C360_OK);
    CHECK(ch_staged_add(&s, "empty", "", 0, 0, LIMIT) == C360_OK);
    CHECK(ch_staged_add(&s, "cursor", NULL, 0, 5000, LIMIT) == C360_OK);
    CHECK(ch_staged_add(&s, "bin", "a:1\0b", 5, 7, LIMIT) == C360_OK);
    CHECK(ch_staged_add(&s, "lead:1", "p", 1, 0, LIMIT) == C360_OK);
    CHECK(ch_staged_add(&s, longkey, "x", 1, 0, 4) == C360_OK);
    CHECK(ch_staged_count(&s) == 6);

    char *blob = ch_staged_pack(&s, &len, &keys, &n);
    CHECK(blob != NULL && keys != NULL && n == 6);
    const char *p = blob, *v;
    char op;
    unsigned long ttl;
    size_t vl;
    next_write(&p, &op, &ttl, &v, &vl);
    CHECK(op == 's' && ttl == 86400000 && vl == 1 && v[0] == 'w');
    next_write(&p, &op, &ttl, &v, &vl);
    CHECK(op == 's' && ttl == 0 && vl == 0);
    next_write(&p, &op, &ttl, &v, &vl);
    CHECK(op == 'd' && ttl == 0 && vl == 0);
    next_write(&p, &op, &ttl, &v, &vl);
    CHECK(op == 's' && ttl == 7 && vl == 5 && memcmp(v, "a:1\0b", 5) == 0);
    next_write(&p, &op, &ttl, &v, &vl);
    CHECK(op == 's' && vl == 1 && v[0] == 'p');
    next_write(&p, &op, &ttl, &v, &vl);
    CHECK(op == 's' && vl == 1 && v[0] == 'x');
    CHECK((size_t)(p - blob) == len);
    if (keys && n == 6) {
        CHECK_STR(keys[0], "lead:1");
        CHECK_STR(keys[1], "empty");
        CHECK_STR(keys[2], "cursor");
        CHECK_STR(keys[3], "bin");
        CHECK_STR(keys[4], "lead:1");
        CHECK_STR(keys[5], longkey);
    }
    free(blob);
    free(keys); /* the names live in the same allocation */

    /* The buffer is reusable. */
    ch_staged_reset(&s);
    CHECK(ch_staged_count(&s) == 0 && s.bytes == 0 && s.refused == 0);
    CHECK(ch_staged_pack(&s, &len, &keys, &n) == NULL && n == 0);

    /* Per-call bounds: the count (1000) ... */
    int added = 0;
    for (int i = 0; i < CH_STAGED_MAX + 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        int32_t st = ch_staged_add(&s, key, "v", 1, 0, LIMIT);
        if (st == C360_OK) added++;
        else CHECK(st == C360_ETOOBIG);
    }
    CHECK(added == CH_STAGED_MAX);
    CHECK(ch_staged_count(&s) == CH_STAGED_MAX);
    /* ... and the bytes (16 MiB of keys and values). */
    ch_staged_reset(&s);
    char *big = calloc(1, LIMIT);
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof key, "b%d", i);
        if (ch_staged_add(&s, key, big, LIMIT, 0, LIMIT) == C360_OK) ok++;
        else CHECK(ch_staged_count(&s) == (size_t)ok);
    }
    CHECK(ok == 15); /* 15 MiB + keys fit; the 16th would pass 16 MiB */
    CHECK(s.bytes <= CH_STAGED_BYTES_MAX);
    blob = ch_staged_pack(&s, &len, &keys, &n);
    CHECK(blob && n == 15 && len > 15u * LIMIT);
    free(blob);
    free(keys);
    free(big);
    ch_staged_free(&s);

    /* Staged from several threads of one callback. */
    ch_staged_init(&g_shared);
    pthread_t th[4];
    for (long i = 0; i < 4; i++) pthread_create(&th[i], NULL, stager, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(ch_staged_count(&g_shared) == 400);
    ch_staged_free(&g_shared);
    CHECK_DONE();
}
