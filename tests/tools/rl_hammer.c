/* rl_hammer.c -- hammers one rate-limit bucket from several threads, for
 * tests/integration/ratelimit_two_process.sh, which runs two of these at
 * once against one redis-server: the bucket must hold the combined rate.
 *
 *   c360-rl-hammer --redis redis://127.0.0.1:PORT --start-ms EPOCH_MS
 *       --duration-ms 5000 --threads 4 --limit 200 --period-ms 1000
 *       --burst 20 [--bucket NAME] [--tenant T]
 *
 * Every thread waits for the same wall-clock start (so two processes begin
 * together), then takes one unit at a time and sleeps the wait it is told,
 * until start + duration. Prints "allowed=N refused=N errors=N". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "ratelimit.h"
#include "rconn.h"
#include "util.h"

#define TOOL_PROG "c360-rl-hammer"
#include "tool_common.h"

typedef struct worker {
    pthread_t th;
    const c360_rl_limit *lim;
    const char *bucket, *tenant;
    int64_t start_ms, end_ms;
    long allowed, refused, errors;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    tool_sleep_ms(w->start_ms - tool_wall_ms());
    int64_t now;
    while ((now = tool_wall_ms()) < w->end_ms) {
        uint32_t wait = 0;
        int32_t st = ch_ratelimit_take("hammer", w->tenant, NULL, C360_RL_TENANT, w->bucket,
                                       w->lim, 1, &wait);
        if (st == C360_OK) {
            w->allowed++;
        } else if (st == C360_RETRY) {
            w->refused++;
            int64_t left = w->end_ms - now;
            tool_sleep_ms((int64_t)wait < left ? (int64_t)wait : left);
        } else {
            w->errors++;
            tool_sleep_ms(10);
        }
    }
    ch_rconn_thread_close();
    return NULL;
}

int main(int argc, char **argv)
{
    const char *redis = "redis://127.0.0.1:6379", *bucket = "hammer", *tenant = "hammer";
    long long start = 0, duration = 5000, threads = 4, limit = 200, period = 1000, burst = 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--redis") == 0 && v) redis = v;
        else if (strcmp(a, "--bucket") == 0 && v) bucket = v;
        else if (strcmp(a, "--tenant") == 0 && v) tenant = v;
        else if (strcmp(a, "--start-ms") == 0) start = tool_arg_num(a, v, 0, INT64_MAX / 2);
        else if (strcmp(a, "--duration-ms") == 0) duration = tool_arg_num(a, v, 1, 600000);
        else if (strcmp(a, "--threads") == 0) threads = tool_arg_num(a, v, 1, 64);
        else if (strcmp(a, "--limit") == 0) limit = tool_arg_num(a, v, 1, UINT32_MAX);
        else if (strcmp(a, "--period-ms") == 0) period = tool_arg_num(a, v, 1, CH_RL_MAX_PERIOD_MS);
        else if (strcmp(a, "--burst") == 0) burst = tool_arg_num(a, v, 0, UINT32_MAX);
        else {
            fprintf(stderr, TOOL_PROG ": unknown or incomplete argument %s\n", a);
            return 2;
        }
        i++;
    }
    tool_rconn(redis, 2000);
    if (!start) start = tool_wall_ms();
    c360_rl_limit lim = {sizeof lim, (uint32_t)limit, (uint32_t)period, (uint32_t)burst};
    worker *ws = ch_calloc((size_t)threads, sizeof *ws);
    for (long long i = 0; i < threads; i++) {
        ws[i] = (worker){.lim = &lim, .bucket = bucket, .tenant = tenant,
                         .start_ms = start, .end_ms = start + duration};
        if (pthread_create(&ws[i].th, NULL, run, &ws[i]) != 0) {
            fprintf(stderr, TOOL_PROG ": pthread_create failed\n");
            return 1;
        }
    }
    long allowed = 0, refused = 0, errors = 0;
    for (long long i = 0; i < threads; i++) {
        pthread_join(ws[i].th, NULL);
        allowed += ws[i].allowed;
        refused += ws[i].refused;
        errors += ws[i].errors;
    }
    free(ws);
    ch_rconn_shutdown();
    printf("allowed=%ld refused=%ld errors=%ld\n", allowed, refused, errors);
    return errors ? 1 : 0;
}
