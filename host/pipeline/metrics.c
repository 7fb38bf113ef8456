/* metrics.c -- the shared counters and histograms (see metrics.h); the text
 * exposition is in metrics_text.c. */
#include "metrics_shm.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Millisecond bounds. Callbacks: from sub-millisecond state reads to the
 * 60 s default callback timeout. Delivery latency (receive -> delivered)
 * includes queueing and retries, so it reaches further, to an hour. */
const uint32_t ch_metrics_cb_bounds_ms[CH_METRICS_CB_BUCKETS] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
const uint32_t ch_metrics_dl_bounds_ms[CH_METRICS_DL_BUCKETS] = {
    10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    900000, 3600000};

_Static_assert(CH_METRICS_CB_BUCKETS <= CH_MHIST_MAX, "histogram too wide");
_Static_assert(CH_METRICS_DL_BUCKETS <= CH_MHIST_MAX, "histogram too wide");
_Static_assert(sizeof(ch_httpc_metrics) % sizeof(uint64_t) == 0,
               "ch_httpc_metrics must hold only uint64_t");
/* Address-free atomics are what makes them valid across processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/* Written by the master before any other thread or process exists; an
 * atomic pointer anyway so that shutdown (at exit) is not a data race with
 * a straggling reader. */
static ch_mregion *_Atomic g_region;

#define RELAXED memory_order_relaxed

ch_mregion *ch_metrics_region(void)
{
    return atomic_load_explicit(&g_region, memory_order_acquire);
}

int ch_metrics_init(size_t n_plugins)
{
    if (ch_metrics_region()) return 0;
    /* MAP_SHARED | MAP_ANONYMOUS: no file, zero-filled, and shared with
     * every child forked later (a private mapping would be copied on
     * write and the master would never see a worker's counts). */
    void *p = mmap(NULL, sizeof(ch_mregion), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    ch_mregion *r = p;
    r->n_plugins = (uint32_t)(n_plugins < CH_METRICS_MAX_PLUGINS ? n_plugins
                                                                 : CH_METRICS_MAX_PLUGINS);
    r->master_pid = getpid();
    atomic_store_explicit(&g_region, r, memory_order_release);
    return 0;
}

void ch_metrics_shutdown(void)
{
    ch_mregion *r = atomic_exchange(&g_region, NULL);
    if (r) munmap(r, sizeof *r);
}

void ch_metrics_inc(ch_metric m, uint64_t n)
{
    ch_mregion *r = ch_metrics_region();
    if (!r || (unsigned)m >= CH_M__COUNT) return;
    atomic_fetch_add_explicit(&r->counters[m], n, RELAXED);
}

uint64_t ch_metrics_get(ch_metric m)
{
    ch_mregion *r = ch_metrics_region();
    if (!r || (unsigned)m >= CH_M__COUNT) return 0;
    return atomic_load_explicit(&r->counters[m], RELAXED);
}

static void observe(ch_mhist *h, const uint32_t *bounds, size_t nb, int64_t ms)
{
    uint64_t v = ms < 0 ? 0 : (uint64_t)ms;
    size_t b = 0;
    while (b < nb && v > bounds[b]) b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, RELAXED);
    atomic_fetch_add_explicit(&h->sum, v, RELAXED);
    atomic_fetch_add_explicit(&h->count, 1, RELAXED);
}

void ch_metrics_observe_callback(size_t plugin_idx, ch_metric_cb cb, int64_t ms)
{
    ch_mregion *r = ch_metrics_region();
    if (!r) return;
    if (plugin_idx >= r->n_plugins || (unsigned)cb >= CH_CB__COUNT) {
        atomic_fetch_add_explicit(&r->dropped, 1, RELAXED);
        return;
    }
    observe(&r->cb[plugin_idx][cb], ch_metrics_cb_bounds_ms, CH_METRICS_CB_BUCKETS, ms);
}

void ch_metrics_observe_delivery(int64_t ms)
{
    ch_mregion *r = ch_metrics_region();
    if (r) observe(&r->delivery, ch_metrics_dl_bounds_ms, CH_METRICS_DL_BUCKETS, ms);
}

void ch_metrics_set_gauges(const ch_metrics_gauges *g)
{
    ch_mregion *r = ch_metrics_region();
    if (!r) return;
    const int64_t v[CH_MG__COUNT] = {
        [CH_MG_EV_DEPTH] = g->ev_depth, [CH_MG_EV_PENDING] = g->ev_pending,
        [CH_MG_EV_LAG] = g->ev_lag_ms, [CH_MG_DL_DEPTH] = g->dl_depth,
        [CH_MG_DL_PENDING] = g->dl_pending, [CH_MG_DL_LAG] = g->dl_lag_ms,
        [CH_MG_DLQ_LEN] = g->dlq_len, [CH_MG_TENANTS] = g->tenants,
        [CH_MG_SAMPLED_AT] = g->sampled_at_ms};
    for (int i = 0; i < CH_MG__COUNT; i++) atomic_store_explicit(&r->gauges[i], v[i], RELAXED);
}

void ch_metrics_get_gauges(ch_metrics_gauges *out)
{
    memset(out, 0, sizeof *out);
    ch_mregion *r = ch_metrics_region();
    if (!r) return;
    int64_t v[CH_MG__COUNT];
    for (int i = 0; i < CH_MG__COUNT; i++) v[i] = atomic_load_explicit(&r->gauges[i], RELAXED);
    out->ev_depth = v[CH_MG_EV_DEPTH];
    out->ev_pending = v[CH_MG_EV_PENDING];
    out->ev_lag_ms = v[CH_MG_EV_LAG];
    out->dl_depth = v[CH_MG_DL_DEPTH];
    out->dl_pending = v[CH_MG_DL_PENDING];
    out->dl_lag_ms = v[CH_MG_DL_LAG];
    out->dlq_len = v[CH_MG_DLQ_LEN];
    out->tenants = v[CH_MG_TENANTS];
    out->sampled_at_ms = v[CH_MG_SAMPLED_AT];
}

void ch_metrics_publish_httpc(size_t worker_idx)
{
    ch_mregion *r = ch_metrics_region();
    if (!r || worker_idx >= CH_METRICS_MAX_WORKERS) return;
    pid_t me = getpid();
    if (me == r->master_pid) return;
    ch_httpc_metrics m;
    ch_httpc_metrics_get(&m);
    uint64_t now[CH_MHTTPC_N];
    memcpy(now, &m, sizeof now);

    ch_mhttpc *s = &r->httpc[worker_idx];
    /* Odd sequence: readers retry until we are done. Only this slot's
     * owner writes it (one worker process per slot, one thread in it). */
    uint64_t seq = atomic_load_explicit(&s->seq, RELAXED);
    atomic_store_explicit(&s->seq, seq + 1, RELAXED);
    atomic_thread_fence(memory_order_release);
    if (atomic_load_explicit(&s->pid, RELAXED) != me) {
        /* A new process in this slot: its predecessor's last numbers stay
         * counted, so totals never go backwards. */
        for (size_t i = 0; i < CH_MHTTPC_N; i++) {
            uint64_t old = atomic_load_explicit(&s->cur[i], RELAXED);
            atomic_fetch_add_explicit(&s->retired[i], old, RELAXED);
        }
        atomic_store_explicit(&s->pid, me, RELAXED);
    }
    for (size_t i = 0; i < CH_MHTTPC_N; i++) atomic_store_explicit(&s->cur[i], now[i], RELAXED);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void ch_metrics_httpc_slot_read(ch_mhttpc *s, uint64_t out[CH_MHTTPC_N])
{
    /* Bounded: a writer that died mid-update (odd sequence for ever) must
     * not hang /metrics; after the spins we take what is there. */
    for (int spin = 0; spin < 1000; spin++) {
        uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (s1 & 1) continue;
        for (size_t i = 0; i < CH_MHTTPC_N; i++)
            out[i] = atomic_load_explicit(&s->cur[i], RELAXED) +
                     atomic_load_explicit(&s->retired[i], RELAXED);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, RELAXED) == s1) return;
    }
    for (size_t i = 0; i < CH_MHTTPC_N; i++)
        out[i] = atomic_load_explicit(&s->cur[i], RELAXED) +
                 atomic_load_explicit(&s->retired[i], RELAXED);
}
