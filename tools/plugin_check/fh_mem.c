/* fh_mem.c -- see fh_mem.h. Also the three release functions of the host
 * table (free, secret_free, http_free), which are nothing but this. */
#include "fh_mem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "fh_internal.h"

/* One buffer the plugin holds. The step is copied: labels of webhook steps
 * live in a stack buffer of main.c that is gone by the leak report. */
typedef struct fh_buf {
    void *p;
    fh_mem_kind kind;
    const char *producer;
    char step[96];
} fh_buf;

/* A plugin gets a handful of buffers per callback: a linear search is
 * simpler than a hash and never the slow part. */
static fh_buf *fh_bufs;
static size_t fh_nbufs;
static size_t fh_capbufs;

/* Addresses released lately, so that a second release can be named as
 * such instead of "never handed out". Bounded (a ring); an address the
 * allocator hands out again is removed, since it is live again. */
#define FH_RELEASED_MAX 256
static void *fh_released[FH_RELEASED_MAX];
static size_t fh_released_next;

static const char *const fh_release_fn[] = {
    [FH_MEM_HEAP] = "free",
    [FH_MEM_SECRET] = "secret_free",
    [FH_MEM_HTTP] = "http_free",
    [FH_MEM_HMAC_KEY] = "hmac_sha256_key_free",
};

static const char *const fh_kind_name[] = {
    [FH_MEM_HEAP] = "heap buffer",
    [FH_MEM_SECRET] = "secret (guarded memory)",
    [FH_MEM_HTTP] = "HTTP response",
    [FH_MEM_HMAC_KEY] = "prepared HMAC key",
};

static void fh_released_forget(const void *p)
{
    for (size_t i = 0; i < FH_RELEASED_MAX; i++)
        if (fh_released[i] == p)
            fh_released[i] = NULL;
}

static bool fh_released_has(const void *p)
{
    for (size_t i = 0; i < FH_RELEASED_MAX; i++)
        if (fh_released[i] == p)
            return true;
    return false;
}

void fh_mem_adopt_locked(void *p, fh_mem_kind kind, const char *producer)
{
    if (p == NULL)
        return;
    if (fh_nbufs == fh_capbufs) {
        size_t cap = fh_capbufs != 0 ? fh_capbufs * 2 : 16;
        fh_buf *grown = realloc(fh_bufs, cap * sizeof(*grown));
        if (grown == NULL)
            fh_need(NULL);
        fh_bufs = grown;
        fh_capbufs = cap;
    }
    fh_buf *b = &fh_bufs[fh_nbufs++];
    b->p = p;
    b->kind = kind;
    b->producer = producer;
    snprintf(b->step, sizeof(b->step), "%s", fh_step_locked());
    fh_released_forget(p);
}

void *fh_mem_alloc_locked(fh_mem_kind kind, size_t size, const char *producer)
{
    void *p;
    if (kind == FH_MEM_SECRET) {
        /* Idempotent and thread-safe; sodium_malloc needs it first. */
        if (sodium_init() < 0) {
            fputs("c360-plugin-check: libsodium failed to initialise\n", stderr);
            abort();
        }
        p = sodium_malloc(size != 0 ? size : 1);
    } else {
        p = malloc(size != 0 ? size : 1);
    }
    if (p == NULL)
        fh_need(NULL);
    fh_mem_adopt_locked(p, kind, producer);
    return p;
}

/* With the allocator that made p, whatever the plugin called. */
static void fh_mem_really_free(void *p, fh_mem_kind kind)
{
    if (kind == FH_MEM_SECRET)
        sodium_free(p); /* wipes */
    else if (kind == FH_MEM_HMAC_KEY)
        ch_hmac_key_free(p); /* wipes */
    else
        free(p);
}

void fh_mem_release_locked(void *p, fh_mem_kind via, json_t *e)
{
    const char *fn = fh_release_fn[via];
    if (p == NULL) {
        fh_named_str(e, "ptr", "NULL");
        return;
    }
    for (size_t i = 0; i < fh_nbufs; i++) {
        if (fh_bufs[i].p != p)
            continue;
        fh_buf b = fh_bufs[i];
        fh_bufs[i] = fh_bufs[--fh_nbufs];
        char what[160];
        snprintf(what, sizeof(what), "%s from %s (%s)", fh_kind_name[b.kind],
                 b.producer, b.step);
        fh_named_str(e, "ptr", what);
        if (b.kind != via)
            fh_problem_locked("host.%s was given a %s from %s (handed out in "
                              "%s); release it with host->%s -- in c360d "
                              "the wrong one corrupts the heap or aborts",
                              fn, fh_kind_name[b.kind], b.producer, b.step,
                              fh_release_fn[b.kind]);
        fh_mem_really_free(p, b.kind);
        fh_released[fh_released_next] = p;
        fh_released_next = (fh_released_next + 1) % FH_RELEASED_MAX;
        return;
    }
    char addr[48];
    snprintf(addr, sizeof(addr), "%p (unknown)", p);
    fh_named_str(e, "ptr", addr);
    /* Not freed: it is not ours, and freeing it is what would crash. */
    if (fh_released_has(p))
        fh_problem_locked("host.%s(%p): released twice (the host already "
                          "took it back)", fn, p);
    else
        fh_problem_locked("host.%s(%p): not a buffer the host handed out "
                          "(the plugin's own memory, or a pointer into a "
                          "host buffer?)", fn, p);
}

void fh_free(void *ptr)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("free");
    fh_mem_release_locked(ptr, FH_MEM_HEAP, e);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

void fh_secret_free(void *value)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("secret_free");
    fh_mem_release_locked(value, FH_MEM_SECRET, e);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

void fh_http_free(c360_http_response *resp)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("http_free");
    fh_mem_release_locked(resp, FH_MEM_HTTP, e);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

/* Appends printf output to buf (of cap bytes, holding *len), truncating
 * with "..." once full. */
static void fh_append(char *buf, size_t cap, size_t *len, const char *fmt,
                      ...) C360_PRINTF(4, 5);
static void fh_append(char *buf, size_t cap, size_t *len, const char *fmt,
                      ...)
{
    if (*len + 1 >= cap)
        return; /* already full (and marked) */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < cap - *len) {
        *len += (size_t)n;
        return;
    }
    memcpy(buf + cap - 4, "...", 4);
    *len = cap - 1;
}

void fh_mem_finish_locked(void)
{
    if (fh_nbufs > 0) {
        /* One group per (service, callback, kind): "state_get x2 (tick,
         * host->free)" says what to look for and where. */
        char list[400];
        size_t len = 0;
        list[0] = '\0';
        bool *done = calloc(fh_nbufs, sizeof(*done));
        if (done == NULL)
            fh_need(NULL);
        for (size_t i = 0; i < fh_nbufs; i++) {
            if (done[i])
                continue;
            size_t count = 0;
            for (size_t j = i; j < fh_nbufs; j++) {
                if (!done[j] && fh_bufs[j].kind == fh_bufs[i].kind &&
                    strcmp(fh_bufs[j].producer, fh_bufs[i].producer) == 0 &&
                    strcmp(fh_bufs[j].step, fh_bufs[i].step) == 0) {
                    done[j] = true;
                    count++;
                }
            }
            fh_append(list, sizeof(list), &len, "%s%s x%zu (%s, release "
                      "with host->%s)", i > 0 ? ", " : "",
                      fh_bufs[i].producer, count, fh_bufs[i].step,
                      fh_release_fn[fh_bufs[i].kind]);
        }
        free(done);
        fh_problem_bare_locked("plugin leaked %zu host buffer%s: %s", fh_nbufs,
                               fh_nbufs == 1 ? "" : "s", list);
        for (size_t i = 0; i < fh_nbufs; i++)
            fh_mem_really_free(fh_bufs[i].p, fh_bufs[i].kind);
    }
    free(fh_bufs);
    fh_bufs = NULL;
    fh_nbufs = 0;
    fh_capbufs = 0;
    memset(fh_released, 0, sizeof(fh_released));
    fh_released_next = 0;
}
