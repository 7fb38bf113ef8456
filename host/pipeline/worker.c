/* worker.c -- the threads of a worker process, and the process itself
 * (see worker.h). */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

#define ALTSTACK_BYTES (64 * 1024)

void ch_worker_conf_defaults(ch_worker_conf *c)
{
    memset(c, 0, sizeof *c);
    c->threads = 4;
    c->share = 16;
    c->max_attempts = 8;
    c->callback_timeout_ms = 60000;
    c->claim_idle_ms = 60000;
    c->delivery_concurrency = 4;
    c->delivery_batch_max = 20;
    c->shutdown_timeout_ms = 10000;
    c->retry_base_ms = 1000;
    c->retry_cap_ms = 600000;
    c->hold_ms = 30000;
    c->cap_hold_ms = 250;
    c->cap_wait_ms = 50;
    c->tenants_refresh_ms = 1000;
    c->conn_cache_ms = 1000;
    c->sweep_ms = 0;
    c->idle_max_ms = 1000;
    c->due_every_ms = 250;
}

int ch_worker_hang_grace_ms(const ch_worker_conf *c)
{
    if (c->hang_grace_ms > 0) return c->hang_grace_ms;
    int g = c->callback_timeout_ms / 10;
    return g < 1000 ? 1000 : g;
}

int64_t ch_worker_claim_idle_ms(const ch_worker_conf *c)
{
    int64_t floor = (int64_t)c->claim_idle_ms / 4 + c->callback_timeout_ms + ch_worker_hang_grace_ms(c) + 1000;
    return c->claim_idle_ms > floor ? c->claim_idle_ms : floor;
}

void ch_worker_conf_from_config(ch_worker_conf *c, const ch_config *cfg, const ch_loader *ld)
{
    ch_worker_conf_defaults(c);
    c->loader = ld;
    c->threads = cfg->worker_threads;
    c->share = cfg->share;
    c->max_attempts = cfg->max_attempts;
    c->callback_timeout_ms = cfg->callback_timeout_ms;
    c->claim_idle_ms = cfg->claim_idle_ms;
    c->delivery_concurrency = cfg->delivery_concurrency;
    c->delivery_batch_max = cfg->delivery_batch_max;
    c->cap_wait_ms = cfg->delivery_cap_wait_ms;
    c->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
}

/* --- the group of threads ------------------------------------------------ */

ch_workers *ch_workers_new(const ch_worker_conf *c, ch_slots *slots, int widx, ch_instances *set)
{
    ch_workers *w = ch_calloc(1, sizeof *w);
    w->conf = *c;
    if (w->conf.threads < 1) w->conf.threads = 1;
    if (w->conf.threads > ch_slots_threads(slots)) w->conf.threads = ch_slots_threads(slots);
    if (w->conf.share < 1) w->conf.share = 1;
    if (w->conf.delivery_batch_max < 1) w->conf.delivery_batch_max = 1;
    if (w->conf.delivery_batch_max > CH_DELIVERY_BATCH_MAX) w->conf.delivery_batch_max = CH_DELIVERY_BATCH_MAX;
    if (w->conf.idle_max_ms < 100) w->conf.idle_max_ms = 100;
    w->slots = slots;
    w->widx = widx;
    w->set = set;
    ch_tenants_init(&w->tenants, w->conf.tenants_refresh_ms);
    pthread_mutex_init(&w->stats_lock, NULL);
    pthread_mutex_init(&w->join_lock, NULL);
    pthread_cond_init(&w->join_cond, NULL);
    w->threads = ch_calloc((size_t)w->conf.threads, sizeof *w->threads);
    for (int i = 0; i < w->conf.threads; i++) w->threads[i] = ch_wthread_new(w, i);
    return w;
}

/* A thread's own signal stack: a plugin that overflows its stack still
 * gets its slot marked by the crash handler. */
static void *altstack_on(void)
{
    stack_t ss = {.ss_sp = ch_malloc(ALTSTACK_BYTES), .ss_size = ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        free(ss.ss_sp);
        return NULL;
    }
    return ss.ss_sp;
}

static void altstack_off(void *mem)
{
    if (!mem) return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(mem);
}

static void *thread_main(void *arg)
{
    ch_wthread *t = arg;
    void *alt = altstack_on();
    ch_slot_set_current(t->slot);
    ch_wthread_begin(t);
    while (!ch_wthread_stopping(t)) ch_wthread_step(t);
    ch_slot_set_current(NULL);
    ch_rconn_thread_close();
    altstack_off(alt);
    pthread_mutex_lock(&t->w->join_lock);
    atomic_store(&t->done, 1);
    atomic_fetch_sub(&t->w->running, 1);
    pthread_cond_broadcast(&t->w->join_cond);
    pthread_mutex_unlock(&t->w->join_lock);
    return NULL;
}

int ch_workers_start(ch_workers *w)
{
    int rc = 0;
    for (int i = 0; i < w->conf.threads; i++) {
        ch_wthread *t = w->threads[i];
        atomic_fetch_add(&w->running, 1);
        int e = pthread_create(&t->th, NULL, thread_main, t);
        if (e != 0) {
            atomic_fetch_sub(&w->running, 1);
            ch_log(CH_LOG_ERROR, "workers: cannot start a thread", "error", strerror(e), NULL);
            rc = -1;
            continue;
        }
        t->th_started = 1;
    }
    w->started = 1;
    return rc;
}

void ch_workers_stop(ch_workers *w) { atomic_store(&w->stop, 1); }

int ch_workers_running(ch_workers *w) { return atomic_load(&w->running); }

int ch_workers_join(ch_workers *w, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&w->join_lock);
    while (atomic_load(&w->running) > 0) {
        if (pthread_cond_timedwait(&w->join_cond, &w->join_lock, &until) == ETIMEDOUT) break;
    }
    int left = atomic_load(&w->running);
    pthread_mutex_unlock(&w->join_lock);
    if (left > 0) return -1;
    for (int i = 0; i < w->conf.threads; i++) {
        ch_wthread *t = w->threads[i];
        if (t->th_started) {
            pthread_join(t->th, NULL);
            t->th_started = 0;
        }
    }
    return 0;
}

void ch_workers_free(ch_workers *w)
{
    if (!w) return;
    for (int i = 0; i < w->conf.threads; i++) ch_wthread_free(w->threads[i]);
    free(w->threads);
    free(w->prev);
    ch_tenants_destroy(&w->tenants);
    pthread_mutex_destroy(&w->stats_lock);
    pthread_mutex_destroy(&w->join_lock);
    pthread_cond_destroy(&w->join_cond);
    free(w);
}

void ch_workers_get_stats(ch_workers *w, ch_workers_stats *out)
{
    pthread_mutex_lock(&w->stats_lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->stats_lock);
}

/* --- the worker process --------------------------------------------------- */

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP};

/* Marks the slot of the thread that died, then lets the signal kill the
 * process as it would have (SA_RESETHAND restored the default): the
 * supervisor then knows exactly which item crashed, not merely which were
 * running. Async-signal-safe: an atomic store and raise(). */
static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    (void)si; (void)uc;
    ch_slot_mark_crashed(ch_slot_current(), sig);
    raise(sig);
}

/* A thread that ends the process without a signal: exit() in plugin code
 * (atexit runs in the calling thread), or a sanitizer's report (its death
 * callback runs in the reporting thread). Only a busy slot is marked: the
 * worker's own clean exit uses _exit and never gets here. */
static void mark_exit(void)
{
    ch_slot *s = ch_slot_current();
    if (s && atomic_load(&s->busy)) ch_slot_mark_crashed(s, CH_SLOT_CRASH_EXIT);
}

/* Present only in sanitizer builds (weak: NULL otherwise). */
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the sanitizer runtime's own name */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void install_crash_handlers(void)
{
    atexit(mark_exit);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(mark_exit);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

int ch_worker_process_main(const ch_worker_conf *c, ch_slots *slots, int widx, pid_t parent)
{
    install_crash_handlers();
    /* SIGTERM/SIGINT/SIGHUP are taken with sigtimedwait by this thread
     * only; the worker threads inherit the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    ch_instances_opts io = {.recheck_ms = 1000, .open_timeout_ms = c->callback_timeout_ms};
    ch_instances *set = ch_instances_new(c->loader, &io);
    ch_workers *w = ch_workers_new(c, slots, widx, set);
    ch_slot_proc *proc = ch_slots_proc(slots, widx);
    /* What the predecessor left in every slot, read before any thread
     * claims its own; and whether to take it over in isolation. */
    w->prev = ch_calloc((size_t)w->conf.threads, sizeof *w->prev);
    for (int i = 0; i < w->conf.threads; i++) ch_slot_read(ch_slots_get(slots, widx, i), &w->prev[i]);
    w->isolate = atomic_exchange(&proc->isolate, 0) != 0;
    if (w->isolate)
        ch_log(CH_LOG_WARN, "worker: taking over the predecessor's items one at a time "
                            "(it died with several busy and none named)", NULL);
    atomic_store(&proc->pid, (int32_t)getpid());
    atomic_store(&proc->started_ms, ch_monotonic_ms());
    char ws[16], ts[16];
    snprintf(ws, sizeof ws, "%d", widx);
    snprintf(ts, sizeof ts, "%d", w->conf.threads);
    ch_log(CH_LOG_INFO, "worker process started", "worker", ws, "threads", ts, NULL);
    ch_workers_start(w);

    struct timespec tick = {0, 250 * 1000000L};
    for (int n = 0;; n++) {
        int sig = sigtimedwait(&stop, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) break;
        /* The parent is gone (PR_SET_PDEATHSIG normally kills us first). */
        if (parent > 0 && getppid() != parent) break;
        /* Outbound HTTP counters live in this process: hand them to the
         * master's /metrics about every second. */
        if (n % 4 == 3) ch_metrics_publish_httpc((size_t)widx);
    }
    ch_workers_stop(w);
    if (ch_workers_join(w, c->shutdown_timeout_ms) != 0) {
        ch_log(CH_LOG_WARN, "worker: callbacks still running at the shutdown deadline; "
                            "their items stay pending", "worker", ws, NULL);
        return 0;
    }
    ch_metrics_publish_httpc((size_t)widx);
    ch_workers_free(w);
    ch_instances_free(set);
    ch_rconn_thread_close();
    ch_log(CH_LOG_INFO, "worker process stopped", "worker", ws, NULL);
    return 0;
}
