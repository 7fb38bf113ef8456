/* test_state.c -- the state service against a real redis-server. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "connector_api.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "state.h"
#include "svc.h"

#define THREADS 4
#define INCRS 250

static void *incr_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCRS; i++) {
        int64_t v;
        if (ch_state_incr("tA", "c1", "counter", 1, &v) != C360_OK) return (void *)1;
    }
    ch_rconn_thread_close();
    return NULL;
}

int main(void)
{
    fx_rconn_start(2000);

    uint8_t *v;
    size_t n;
    uint64_t ver = 0, ver2 = 0;

    CHECK(ch_state_get("tA", "c1", "cursor", &v, &n, &ver) == C360_ENOTFOUND);
    CHECK(ch_state_set("tA", "c1", "cursor", "abc", 3, 0, &ver) == C360_OK);
    CHECK(ver >= 1);
    CHECK(ch_state_get("tA", "c1", "cursor", &v, &n, &ver2) == C360_OK);
    CHECK(n == 3 && memcmp(v, "abc", 3) == 0 && v[3] == '\0' && ver2 == ver);
    free(v);

    /* Binary-safe: NUL bytes and high bytes survive. */
    const uint8_t bin[] = {0, 1, 2, 0xff, 0, 'x'};
    CHECK(ch_state_set("tA", "c1", "bin", bin, sizeof bin, 0, NULL) == C360_OK);
    CHECK(ch_state_get("tA", "c1", "bin", &v, &n, NULL) == C360_OK);
    CHECK(n == sizeof bin && memcmp(v, bin, n) == 0);
    free(v);

    /* Empty values are values. */
    CHECK(ch_state_set("tA", "c1", "empty", "", 0, 0, NULL) == C360_OK);
    CHECK(ch_state_get("tA", "c1", "empty", &v, &n, NULL) == C360_OK && n == 0);
    free(v);

    /* Isolation: another connection and another tenant see nothing. */
    CHECK(ch_state_get("tA", "c2", "cursor", &v, &n, NULL) == C360_ENOTFOUND);
    CHECK(ch_state_get("tB", "c1", "cursor", &v, &n, NULL) == C360_ENOTFOUND);

    /* Compare-and-set. */
    CHECK(ch_state_cas("tA", "c1", "cursor", "def", 3, ver, 0, &ver2) == C360_OK);
    CHECK(ver2 > ver);
    CHECK(ch_state_cas("tA", "c1", "cursor", "zzz", 3, ver, 0, NULL) == C360_ECONFLICT);
    CHECK(ch_state_get("tA", "c1", "cursor", &v, &n, NULL) == C360_OK && memcmp(v, "def", 3) == 0);
    free(v);
    CHECK(ch_state_cas("tA", "c1", "new", "1", 1, 0, 0, NULL) == C360_OK);
    CHECK(ch_state_cas("tA", "c1", "new", "2", 1, 0, 0, NULL) == C360_ECONFLICT);
    /* No ABA: delete and recreate, the old version no longer matches. */
    uint64_t old;
    CHECK(ch_state_get("tA", "c1", "new", &v, &n, &old) == C360_OK);
    free(v);
    CHECK(ch_state_delete("tA", "c1", "new") == C360_OK);
    CHECK(ch_state_set("tA", "c1", "new", "3", 1, 0, NULL) == C360_OK);
    CHECK(ch_state_cas("tA", "c1", "new", "4", 1, old, 0, NULL) == C360_ECONFLICT);

    /* TTL. */
    CHECK(ch_state_set("tA", "c1", "short", "x", 1, 150, NULL) == C360_OK);
    CHECK(ch_state_get("tA", "c1", "short", &v, &n, NULL) == C360_OK);
    free(v);
    fx_sleep_ms(400);
    CHECK(ch_state_get("tA", "c1", "short", &v, &n, NULL) == C360_ENOTFOUND);
    /* A write without TTL clears an earlier one. */
    CHECK(ch_state_set("tA", "c1", "keep", "x", 1, 150, NULL) == C360_OK);
    CHECK(ch_state_set("tA", "c1", "keep", "y", 1, 0, NULL) == C360_OK);
    fx_sleep_ms(300);
    CHECK(ch_state_get("tA", "c1", "keep", &v, &n, NULL) == C360_OK);
    free(v);

    /* Increment, including concurrent threads (each its own connection). */
    int64_t r;
    CHECK(ch_state_incr("tA", "c1", "n", 5, &r) == C360_OK && r == 5);
    CHECK(ch_state_incr("tA", "c1", "n", -7, &r) == C360_OK && r == -2);
    CHECK(ch_state_incr("tA", "c1", "cursor", 1, &r) == C360_EINVAL); /* "def" */
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, incr_worker, NULL);
    int bad = 0;
    for (int i = 0; i < THREADS; i++) { void *ret; pthread_join(th[i], &ret); bad += ret != NULL; }
    CHECK(bad == 0);
    CHECK(ch_state_incr("tA", "c1", "counter", 0, &r) == C360_OK && r == THREADS * INCRS);

    /* Limits and validation. */
    size_t big = ch_svc_limits_current.state_max_value + 1;
    char *huge = calloc(1, big);
    CHECK(ch_state_set("tA", "c1", "huge", huge, big, 0, NULL) == C360_ETOOBIG);
    CHECK(ch_state_set("tA", "c1", "huge", huge, big - 1, 0, NULL) == C360_OK);
    free(huge);
    CHECK(ch_state_set("tA", "c1", "", "x", 1, 0, NULL) == C360_EINVAL);
    CHECK(ch_state_set("tA", "c1", "has space", "x", 1, 0, NULL) == C360_EINVAL);
    CHECK(ch_state_set("t:A", "c1", "k", "x", 1, 0, NULL) == C360_EINVAL);
    CHECK(ch_state_set("tA", "c}1", "k", "x", 1, 0, NULL) == C360_EINVAL);
    CHECK(ch_state_set("tA", NULL, "k", "x", 1, 0, NULL) == C360_EINVAL);

    /* Disconnect removes one connection's state and nothing else. */
    CHECK(ch_state_set("tA", "c2", "other", "x", 1, 0, NULL) == C360_OK);
    size_t removed = 0;
    CHECK(ch_state_delete_connection("tA", "c1", &removed) == C360_OK);
    CHECK(removed >= 6);
    CHECK(ch_state_get("tA", "c1", "bin", &v, &n, NULL) == C360_ENOTFOUND);
    CHECK(ch_state_get("tA", "c2", "other", &v, &n, NULL) == C360_OK);
    free(v);

    /* Redis restarted under us: the next call reconnects by itself; while it
     * is down calls fail with C360_EIO, not a crash. */
    fx_redis_kill();
    CHECK(ch_state_set("tA", "c2", "k", "x", 1, 0, NULL) == C360_EIO);
    fx_redis_start();
    CHECK(ch_state_set("tA", "c2", "k", "x", 1, 0, NULL) == C360_OK);

    ch_rconn_shutdown();
    CHECK_DONE();
}
