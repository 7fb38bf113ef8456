/* tool_common.h -- what the test tools that race several processes share
 * (rl_hammer.c, oauth_hammer.c): a wall-clock start every process waits
 * for, numeric arguments, and the host's Redis connections from a --redis
 * URL. Define TOOL_PROG (the program's name, for messages) first.
 * Header-only so each tool stays one .c file. */
#ifndef C360_TOOL_COMMON_H
#define C360_TOOL_COMMON_H

#ifndef TOOL_PROG
#error "define TOOL_PROG before including tool_common.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rconn.h"
#include "redis_url.h"
#include "util.h"

/* Wall-clock milliseconds: comparable across processes, unlike the
 * monotonic clock of the host. */
static inline int64_t tool_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tool_sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The integer argument v of option name, in [min, max]; exits with status
 * 2 otherwise. */
static inline long long tool_arg_num(const char *name, const char *v, long long min,
                                     long long max)
{
    long long n;
    if (!v || ch_parse_ll(v, min, max, &n) != 0) {
        fprintf(stderr, TOOL_PROG ": %s wants an integer in [%lld, %lld]\n", name, min, max);
        exit(2);
    }
    return n;
}

/* Points the host's blocking Redis connections at the URL redis,
 * timeout_ms per command; exits with status 2 when it does not parse. */
static inline void tool_rconn(const char *redis, int timeout_ms)
{
    ch_redis_url url;
    char err[256];
    if (ch_redis_url_parse(redis, &url, err, sizeof err) != 0) {
        fprintf(stderr, TOOL_PROG ": %s\n", err);
        exit(2);
    }
    ch_rconn_configure(&url, NULL, NULL, timeout_ms);
}

#endif
