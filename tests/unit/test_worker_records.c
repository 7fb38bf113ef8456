/* test_worker_records -- the per-call record buffer behind record_emit
 * (records.h): validation of type, id and JSON, the per-record, per-call
 * and total bounds (refusals leave the buffer as it was), the packing the
 * commit script parses (binary-safe, colons and NULs inside), reset, and
 * concurrent emits from several threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "connector_api.h"
#include "records.h"

static ch_records g_shared;

static void *emitter(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < 100; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%ld-%d", k, i);
        ch_records_add(&g_shared, "lead", id, "{}", 2);
    }
    return NULL;
}

/* Parses "<len>:<bytes>" at *p (as the commit script does). */
static size_t take(const char **p, const char **val)
{
    char *colon;
    size_t n = strtoul(*p, &colon, 10);
    *val = colon + 1;
    *p = colon + 1 + n;
    return n;
}

int main(void)
{
    ch_records r;
    ch_records_init(&r);
    size_t len = 0;
    CHECK(ch_records_pack(&r, &len) == NULL && len == 0);

    CHECK(ch_records_add(&r, "lead", "id-1", "{\"a\":1}", 7) == C360_OK);
    CHECK(ch_records_add(&r, "comment.v2", "x:y/z", " { \"b\" : [1,2] } ", 17) == C360_OK);
    CHECK(ch_records_add(&r, "", "id", "{}", 2) == C360_EINVAL);
    CHECK(ch_records_add(&r, "Bad Type", "id", "{}", 2) == C360_EINVAL);
    CHECK(ch_records_add(&r, NULL, "id", "{}", 2) == C360_EINVAL);
    char longtype[202];
    memset(longtype, 'a', sizeof longtype - 1);
    longtype[sizeof longtype - 1] = '\0';
    CHECK(ch_records_add(&r, longtype, "id", "{}", 2) == C360_EINVAL);
    CHECK(ch_records_add(&r, "lead", "", "{}", 2) == C360_EINVAL);
    CHECK(ch_records_add(&r, "lead", "has space", "{}", 2) == C360_EINVAL);
    CHECK(ch_records_add(&r, "lead", "id", NULL, 0) == C360_EINVAL);
    CHECK(ch_records_add(&r, "lead", "id", "[1]", 3) == C360_EINVAL);
    CHECK(ch_records_add(&r, "lead", "id", "{", 1) == C360_EINVAL);
    CHECK(ch_records_add(&r, "lead", "id", "{} x", 4) == C360_EINVAL);
    CHECK(ch_records_count(&r) == 2);
    CHECK(r.refused == 10);
    /* Any printable type is fine (case, punctuation). */
    CHECK(ch_records_add(&r, "Lead/v2", "id-2", "{}", 2) == C360_OK);
    CHECK(ch_records_count(&r) == 3);

    /* Over 1 MiB of JSON: too big, refused before parsing. */
    size_t big = CH_RECORD_JSON_MAX + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    CHECK(ch_records_add(&r, "lead", "big", huge, big) == C360_ETOOBIG);
    /* Exactly 1 MiB is fine. */
    huge[CH_RECORD_JSON_MAX - 1] = '}';
    CHECK(ch_records_add(&r, "lead", "big", huge, CH_RECORD_JSON_MAX) == C360_OK);
    CHECK(ch_records_count(&r) == 4);

    /* Packing: lengths first, bytes verbatim. */
    char *blob = ch_records_pack(&r, &len);
    CHECK(blob != NULL);
    const char *p = blob, *v;
    size_t n = take(&p, &v);
    CHECK(n == 4 && memcmp(v, "lead", 4) == 0);
    n = take(&p, &v);
    CHECK(n == 4 && memcmp(v, "id-1", 4) == 0);
    n = take(&p, &v);
    CHECK(n == 7 && memcmp(v, "{\"a\":1}", 7) == 0);
    n = take(&p, &v);
    CHECK(n == 10 && memcmp(v, "comment.v2", 10) == 0);
    n = take(&p, &v);
    CHECK(n == 5 && memcmp(v, "x:y/z", 5) == 0);
    n = take(&p, &v);
    CHECK(n == 17);
    n = take(&p, &v);
    CHECK(n == 7 && memcmp(v, "Lead/v2", 7) == 0);
    take(&p, &v);
    take(&p, &v);
    take(&p, &v);
    take(&p, &v);
    n = take(&p, &v);
    CHECK(n == CH_RECORD_JSON_MAX);
    CHECK((size_t)(p - blob) == len);
    free(blob);

    /* Per-call bounds: the total (16 MiB) ... */
    ch_records_reset(&r);
    CHECK(ch_records_count(&r) == 0);
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        if (ch_records_add(&r, "lead", id, huge, CH_RECORD_JSON_MAX) == C360_OK) ok++;
    }
    CHECK(ok == 15); /* 15 MiB + names fit; the 16th would pass 16 MiB */
    CHECK(r.bytes <= CH_RECORDS_BYTES_MAX);
    free(huge);
    /* ... and the count (1000). */
    ch_records_reset(&r);
    int added = 0;
    for (int i = 0; i < CH_RECORDS_MAX + 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        int32_t st = ch_records_add(&r, "lead", id, "{}", 2);
        if (st == C360_OK) added++;
        else CHECK(st == C360_ETOOBIG);
    }
    CHECK(added == CH_RECORDS_MAX);
    CHECK(ch_records_count(&r) == CH_RECORDS_MAX);
    ch_records_free(&r);

    /* Emits from several threads of one callback. */
    ch_records_init(&g_shared);
    pthread_t th[4];
    for (long i = 0; i < 4; i++) pthread_create(&th[i], NULL, emitter, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(ch_records_count(&g_shared) == 400);
    ch_records_free(&g_shared);
    CHECK_DONE();
}
