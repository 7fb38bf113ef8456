/* secrets_load.c -- c360-secrets-load: a load generator and checker for the
 * secrets service, used by tests/integration/secrets_rotation.sh.
 *
 *   fill   --count N                      writes secrets 0..N-1 (generation 0)
 *   run    --count N --threads K --state F [--stop-file P] [--ready-file R]
 *          [--max-seconds S] [--write-pct W]
 *          reads and overwrites secrets until P exists (or S seconds pass),
 *          checking every read against the latest value written; then
 *          writes each secret's latest generation to F
 *   verify --count N [--state F]          every secret opens with its latest value
 *
 * Common: --redis URL, and the keyring from --keyring FILE or
 * C360_MASTER_KEY. Secret i lives at tenant lt<i%4>, connection c<(i/4)%10>,
 * name s<i>; its value is a function of (i, generation) -- a text head
 * "v|s<i>|gen=<g>|" and a binary tail with NUL bytes -- so a checker knows
 * what each must hold. Thread t owns the secrets i with i % K == t, so it
 * alone knows their latest generation and can check every read exactly.
 * Prints one summary line "<mode>: key=value ..."; exit 0 if no failure. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keyring.h"
#include "log.h"
#include "rconn.h"
#include "redis_url.h"
#include "secrets.h"
#include "util.h"

#define MAX_COUNT 1000000
#define MAX_THREADS 32
#define VALUE_MAX 256

typedef struct opts {
    const char *redis, *keyring, *state, *stop_file, *ready_file;
    unsigned count, threads, max_seconds, write_pct;
} opts;

static opts g_o = {.threads = 4, .max_seconds = 120, .write_pct = 30};
static unsigned *g_gen;                    /* latest generation per secret */
static atomic_ulong g_reads, g_writes, g_failures, g_ops;
static atomic_int g_stop;

static void scope(unsigned i, char *t, char *c, char *n)
{
    snprintf(t, 16, "lt%u", i % 4);
    snprintf(c, 16, "c%u", (i / 4) % 10);
    snprintf(n, 24, "s%u", i);
}

static size_t make_value(unsigned i, unsigned gen, unsigned char *out)
{
    int n = snprintf((char *)out, 64, "v|s%u|gen=%u|", i, gen);
    size_t tail = (i * 31u + gen * 17u) % 150;
    for (size_t k = 0; k < tail; k++) out[(size_t)n + k] = (unsigned char)((i + gen + k) * 13u);
    return (size_t)n + tail;
}

static void fail(const char *what, unsigned i, const char *err)
{
    unsigned long f = atomic_fetch_add(&g_failures, 1);
    if (f < 20) fprintf(stderr, "secrets-load: %s s%u: %s\n", what, i, err);
}

static int do_put(unsigned i, unsigned gen)
{
    char t[16], c[16], n[24], err[256];
    unsigned char v[VALUE_MAX];
    scope(i, t, c, n);
    size_t len = make_value(i, gen, v);
    int32_t rc = ch_secret_put(t, c, n, v, len, err, sizeof err);
    sodium_memzero(v, sizeof v);
    if (rc != C360_OK) {
        fail("put", i, err);
        return -1;
    }
    atomic_fetch_add(&g_writes, 1);
    return 0;
}

static int do_check(unsigned i, unsigned gen)
{
    char t[16], c[16], n[24], err[256];
    unsigned char want[VALUE_MAX];
    scope(i, t, c, n);
    size_t wlen = make_value(i, gen, want);
    uint8_t *v = NULL;
    size_t len = 0;
    int32_t rc = ch_secret_get(t, c, n, &v, &len, err, sizeof err);
    int ok = rc == C360_OK && len == wlen && memcmp(v, want, len) == 0;
    ch_secret_value_free(v);
    sodium_memzero(want, sizeof want);
    if (!ok) {
        char why[300];
        snprintf(why, sizeof why, "%s (status %d)",
                 rc == C360_OK ? "value is not the latest written" : err, rc);
        fail("get", i, why);
        return -1;
    }
    atomic_fetch_add(&g_reads, 1);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct worker {
    unsigned id;
    pthread_t th;
} worker;

static void *run_worker(void *p)
{
    worker *w = p;
    uint32_t owned = w->id < g_o.count ? (g_o.count - w->id + g_o.threads - 1) / g_o.threads : 0;
    while (!atomic_load(&g_stop) && owned) {
        unsigned i = w->id + randombytes_uniform(owned) * g_o.threads;
        if (randombytes_uniform(100) < g_o.write_pct) {
            if (do_put(i, g_gen[i] + 1) == 0) g_gen[i]++;
        } else {
            do_check(i, g_gen[i]);
        }
        atomic_fetch_add(&g_ops, 1);
    }
    ch_rconn_thread_close();
    return NULL;
}

static int write_state(void)
{
    FILE *f = fopen(g_o.state, "w");
    if (!f) return -1;
    for (unsigned i = 0; i < g_o.count; i++) fprintf(f, "%u %u\n", i, g_gen[i]);
    return fclose(f);
}

static int read_state(void)
{
    FILE *f = fopen(g_o.state, "r");
    if (!f) return -1;
    unsigned i, g;
    while (fscanf(f, "%u %u", &i, &g) == 2)
        if (i < g_o.count) g_gen[i] = g;
    fclose(f);
    return 0;
}

static int mode_run(void)
{
    worker w[MAX_THREADS];
    double t0 = now_s();
    for (unsigned t = 0; t < g_o.threads; t++) {
        w[t].id = t;
        pthread_create(&w[t].th, NULL, run_worker, &w[t]);
    }
    int ready = 0;
    while (!atomic_load(&g_stop)) {
        usleep(20000);
        if (!ready && g_o.ready_file && atomic_load(&g_ops) >= 200) {
            FILE *f = fopen(g_o.ready_file, "w");
            if (f) fclose(f);
            ready = 1;
        }
        if ((g_o.stop_file && access(g_o.stop_file, F_OK) == 0) ||
            now_s() - t0 > g_o.max_seconds)
            atomic_store(&g_stop, 1);
    }
    for (unsigned t = 0; t < g_o.threads; t++) pthread_join(w[t].th, NULL);
    double secs = now_s() - t0;
    if (write_state() != 0) {
        fprintf(stderr, "secrets-load: cannot write %s: %s\n", g_o.state, strerror(errno));
        return 1;
    }
    printf("run: reads=%lu writes=%lu failures=%lu seconds=%.2f threads=%u\n",
           atomic_load(&g_reads), atomic_load(&g_writes), atomic_load(&g_failures), secs,
           g_o.threads);
    return atomic_load(&g_failures) ? 1 : 0;
}

static int mode_fill(void)
{
    for (unsigned i = 0; i < g_o.count; i++) do_put(i, 0);
    printf("fill: writes=%lu failures=%lu\n", atomic_load(&g_writes), atomic_load(&g_failures));
    return atomic_load(&g_failures) ? 1 : 0;
}

static int mode_verify(void)
{
    if (g_o.state && read_state() != 0) {
        fprintf(stderr, "secrets-load: cannot read %s: %s\n", g_o.state, strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < g_o.count; i++) do_check(i, g_gen[i]);
    printf("verify: verified=%lu failures=%lu\n", atomic_load(&g_reads),
           atomic_load(&g_failures));
    return atomic_load(&g_failures) ? 1 : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: c360-secrets-load fill|run|verify --redis URL [--keyring FILE] "
                    "--count N [--threads K] [--state FILE] [--stop-file P] [--ready-file R] "
                    "[--max-seconds S] [--write-pct W]\n");
    return 2;
}

static int num(const char *v, long long max, unsigned *out)
{
    long long x;
    if (ch_parse_ll(v, 0, max, &x) < 0) return -1;
    *out = (unsigned)x;
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0 || argc < 2) return usage();
    const char *mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (!strcmp(a, "--redis")) g_o.redis = v;
        else if (!strcmp(a, "--keyring")) g_o.keyring = v;
        else if (!strcmp(a, "--state")) g_o.state = v;
        else if (!strcmp(a, "--stop-file")) g_o.stop_file = v;
        else if (!strcmp(a, "--ready-file")) g_o.ready_file = v;
        else if (!strcmp(a, "--count")) bad = num(v, MAX_COUNT, &g_o.count);
        else if (!strcmp(a, "--threads")) bad = num(v, MAX_THREADS, &g_o.threads);
        else if (!strcmp(a, "--max-seconds")) bad = num(v, 3600, &g_o.max_seconds);
        else if (!strcmp(a, "--write-pct")) bad = num(v, 100, &g_o.write_pct);
        else bad = 1;
        if (bad) return usage();
    }
    if (!g_o.redis || !g_o.count || !g_o.threads || (!strcmp(mode, "run") && !g_o.state))
        return usage();

    ch_log_set_level(CH_LOG_WARN);
    ch_redis_url url;
    char err[512];
    if (ch_redis_url_parse(g_o.redis, &url, err, sizeof err) < 0) {
        fprintf(stderr, "secrets-load: %s\n", err);
        return 2;
    }
    ch_rconn_configure(&url, NULL, NULL, 5000);
    ch_keyring *kr = NULL;
    if (ch_keyring_load(g_o.keyring, NULL, 0, &kr, NULL, err, sizeof err) != CH_OK) {
        fprintf(stderr, "secrets-load: %s\n", err);
        return 1;
    }
    ch_secrets_init(kr);
    g_gen = ch_calloc(g_o.count, sizeof *g_gen);

    int rc;
    if (!strcmp(mode, "fill")) rc = mode_fill();
    else if (!strcmp(mode, "run")) rc = mode_run();
    else if (!strcmp(mode, "verify")) rc = mode_verify();
    else rc = usage();

    free(g_gen);
    ch_secrets_init(NULL);
    ch_keyring_free(kr);
    ch_rconn_shutdown();
    return rc;
}
