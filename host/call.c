/* call.c -- per-invocation call objects handed to plugin callbacks. */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

/* Request ids need to be unique, not secret: a random 64-bit prefix per
 * process (drawn once, and again after a fork) and a counter. That keeps a
 * syscall for fresh randomness off every webhook's path. */
static _Atomic uint64_t g_rid_counter;
static uint64_t g_rid_prefix;
static pid_t g_rid_pid;
static pthread_mutex_t g_rid_lock = PTHREAD_MUTEX_INITIALIZER;

static __thread pid_t tl_rid_pid;
static pthread_once_t g_rid_once = PTHREAD_ONCE_INIT;

static void rid_child_after_fork(void) { tl_rid_pid = 0; }
static void rid_register_atfork(void) { pthread_atfork(NULL, NULL, rid_child_after_fork); }

void ch_request_id(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    /* getpid() once per thread: a fork resets the forking thread's cache
     * (the only thread the child has), so a child draws its own prefix. */
    pthread_once(&g_rid_once, rid_register_atfork);
    if (!tl_rid_pid) tl_rid_pid = getpid();
    pid_t pid = tl_rid_pid;
    if (__atomic_load_n(&g_rid_pid, __ATOMIC_ACQUIRE) != pid) {
        pthread_mutex_lock(&g_rid_lock);
        if (g_rid_pid != pid) {
            randombytes_buf(&g_rid_prefix, sizeof g_rid_prefix);
            __atomic_store_n(&g_rid_pid, pid, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&g_rid_lock);
    }
    uint64_t parts[2] = {g_rid_prefix, atomic_fetch_add(&g_rid_counter, 1)};
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 16; i++)
            out[p * 16 + i] = hex[(parts[p] >> (60 - 4 * i)) & 15];
    out[32] = '\0';
}

void ch_call_init(c360_call *call, const char *plugin,
                  const c360_instance *inst, const char *request_id,
                  int64_t timeout_ms)
{
    memset(call, 0, sizeof *call);
    call->magic = CH_CALL_MAGIC;
    call->plugin = plugin;
    call->inst = inst;
    if (request_id && *request_id) {
        /* A bounded copy without printf: this runs once per webhook. */
        size_t n = strnlen(request_id, sizeof call->request_id - 1);
        memcpy(call->request_id, request_id, n);
        call->request_id[n] = '\0';
    } else
        ch_request_id(call->request_id);
    call->deadline_ms = timeout_ms > 0 ? ch_monotonic_ms() + timeout_ms : 0;
}

void ch_call_done(c360_call *call)
{
    for (size_t i = 0; i < call->cfgerr_count; i++) {
        free(call->cfgerr[i].pointer);
        free(call->cfgerr[i].message);
    }
    call->cfgerr_count = 0;
    call->magic = 0; /* a kept pointer now fails ch_call_valid */
}

int ch_call_valid(const c360_call *call)
{
    return call != NULL && call->magic == CH_CALL_MAGIC;
}

void ch_call_set_error(c360_call *call, const char *fmt, va_list ap)
{
    vsnprintf(call->error, sizeof call->error, fmt, ap);
}

void ch_call_add_cfgerr(c360_call *call, const char *pointer,
                        const char *message)
{
    if (call->cfgerr_count == CH_CALL_CFGERR_MAX) {
        call->cfgerr_dropped++;
        return;
    }
    ch_cfgerr *e = &call->cfgerr[call->cfgerr_count++];
    /* Bounded copies: a plugin's strings are not trusted to be short. */
    e->pointer = ch_strndup(pointer ? pointer : "", 256);
    e->message = ch_strndup(message ? message : "invalid", 512);
}

/* C360_THROTTLED is taken from any plugin, whatever minor it declares:
 * the declared minor is the oldest host a plugin needs, not the SDK it was
 * built with (crm_generic declares 1.2 and returns it only when
 * host->abi_minor >= 5), and a value is never renumbered, so 14 can only
 * mean "throttled". Only a delivery can be put off unattempted; from any
 * other callback it is a plain retry. */
int32_t ch_status_normalise_deliver(int32_t status)
{
    if (status < 0 || status >= C360_STATUS__COUNT)
        return C360_ERROR;
    return status;
}

int32_t ch_status_normalise(int32_t status)
{
    int32_t st = ch_status_normalise_deliver(status);
    return st == C360_THROTTLED ? C360_RETRY : st;
}

int64_t ch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ch_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
