/* rotate.c -- `c360-keys rotate`: re-wraps every secret's data key with the
 * keyring's active master key while hosts keep serving.
 *
 * One SCAN pass over every tenant's secrets. For each secret not under the
 * active key: read it, unwrap its DEK with the key it names, wrap it with
 * the active key, write back only if the stored wrap is unchanged (a Lua
 * compare-and-set in ch_secret_rewrap) -- so a put landing meanwhile is
 * never overwritten. SCAN returns every key present for the whole walk at
 * least once; secrets written meanwhile are written by hosts with their
 * own active key. A second, read-only pass then counts what is still under
 * another key (a host still running an old keyring writes those). Pauses
 * between batches keep the load on Redis gentle. Safe to interrupt and to
 * run again: each write-back is atomic and idempotent. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keys_tool.h"
#include "rconn.h"
#include "secrets.h"

#define MAX_REPORTED_FAILURES 100

typedef struct run {
    const keys_opts *o;
    const char *active;
    size_t scanned, rotated, current, superseded, gone, failed;
    size_t remaining;
    double last_progress;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && !keys_stop) {}
}

static int visit(const char *tenant, const char *conn, const char *name, void *arg)
{
    run *r = arg;
    char err[512];
    ch_rewrap_outcome out = CH_REWRAP_CURRENT;
    int32_t rc = ch_secret_rewrap(tenant, conn, name, &out, err, sizeof err);
    r->scanned++;
    if (rc != C360_OK) {
        if (++r->failed <= MAX_REPORTED_FAILURES)
            fprintf(stderr, "c360-keys: secret %s/%s/%s not re-wrapped: %s\n", tenant, conn,
                    name, err);
    } else if (out == CH_REWRAP_DONE) r->rotated++;
    else if (out == CH_REWRAP_CURRENT) r->current++;
    else if (out == CH_REWRAP_SUPERSEDED) r->superseded++;
    else r->gone++;
    if (r->scanned % r->o->batch == 0) {
        double t = now_s();
        if (t - r->last_progress >= 5) {
            fprintf(stderr, "rotate: %zu scanned, %zu re-wrapped, %zu failed\n", r->scanned,
                    r->rotated, r->failed);
            r->last_progress = t;
        }
        if (r->o->pause_ms) sleep_ms(r->o->pause_ms);
    }
    return keys_stop;
}

static int count_remaining(const char *tenant, const char *conn, const char *name, void *arg)
{
    run *r = arg;
    char kid[CH_KEYRING_ID_MAX + 1], err[256];
    if (ch_secret_kid(tenant, conn, name, kid, sizeof kid, err, sizeof err) == C360_OK &&
        strcmp(kid, r->active) != 0)
        r->remaining++;
    return keys_stop;
}

int keys_cmd_rotate(const keys_opts *o)
{
    ch_keyring *kr = keys_load_keyring(o);
    if (!kr) return KEYS_ERROR;
    int rc = keys_connect(o);
    if (rc != KEYS_OK) {
        ch_keyring_free(kr);
        return rc;
    }
    ch_secrets_init(kr);
    run r = {.o = o, .active = ch_keyring_active_id(kr)};
    fprintf(stderr, "rotate: re-wrapping every secret with the active key %s (%zu keys in the "
                    "keyring), %u per batch, %u ms between batches\n",
            r.active, ch_keyring_count(kr), o->batch, o->pause_ms);
    double t0 = now_s();
    r.last_progress = t0;
    char err[256];
    size_t foreign = 0;
    int32_t src = ch_secrets_foreach(NULL, NULL, o->batch, visit, &r, &foreign, err, sizeof err);
    if (src != C360_OK) fprintf(stderr, "c360-keys: scan failed: %s\n", err);
    double secs = now_s() - t0;
    int32_t vrc = C360_OK;
    if (src == C360_OK && !keys_stop)
        vrc = ch_secrets_foreach(NULL, NULL, 500, count_remaining, &r, NULL, err, sizeof err);
    if (vrc != C360_OK) fprintf(stderr, "c360-keys: verification scan failed: %s\n", err);
    if (r.failed > MAX_REPORTED_FAILURES)
        fprintf(stderr, "c360-keys: ... and %zu more failures\n",
                r.failed - MAX_REPORTED_FAILURES);

    char remaining[32] = "unknown";
    if (!keys_stop && src == C360_OK && vrc == C360_OK)
        snprintf(remaining, sizeof remaining, "%zu", r.remaining);
    printf("rotate: active=%s scanned=%zu rotated=%zu current=%zu superseded=%zu gone=%zu "
           "failed=%zu foreign=%zu remaining=%s seconds=%.2f%s\n",
           r.active, r.scanned, r.rotated, r.current, r.superseded, r.gone, r.failed, foreign,
           remaining, secs, keys_stop ? " (interrupted: run it again)" : "");
    if (r.remaining && !keys_stop)
        fprintf(stderr, "rotate: %zu secrets are still under other keys: some host still "
                        "writes with an older keyring; update it and run rotate again\n",
                r.remaining);
    rc = src != C360_OK || vrc != C360_OK || r.failed || keys_stop ? KEYS_ERROR : KEYS_OK;
    ch_secrets_init(NULL);
    ch_rconn_shutdown();
    ch_keyring_free(kr);
    return rc;
}
