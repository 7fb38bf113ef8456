/* metrics.h -- the pipeline's process-shared counters, gauges and
 * histograms, served as Prometheus text at GET /metrics.
 *
 * Why shared memory: plugin callbacks and deliveries run in worker
 * processes, /metrics is answered by the master. The master maps one
 * anonymous MAP_SHARED region (ch_metrics_init) BEFORE it forks the workers,
 * so every process inherits the same physical pages and writes to them with
 * relaxed atomic adds: no locks, no system calls, no Redis on the hot path.
 * The layout is fixed (no pointers inside), so it means the same in every
 * process. Counters only grow; a worker that dies loses nothing it counted.
 *
 * Every function below is safe from any thread of any process once
 * ch_metrics_init has run, and a harmless no-op before it (unit tests of
 * other modules, tools), so callers never test whether metrics exist.
 *
 * Exposition (all names prefixed c360_, each with # HELP and # TYPE):
 *   c360_events_accepted_total ... c360_ticks_due_total   counters (ch_metric)
 *   c360_queue_depth{stream="ev"|"dl"}                     gauge: entries not
 *       yet acknowledged (group lag + pending), summed over tenants
 *   c360_queue_pending{stream}                              gauge: pending
 *   c360_queue_lag_seconds{stream}                          gauge: age of the
 *       oldest unacknowledged entry, the maximum over tenants
 *   c360_dead_letters_stored                                gauge: XLEN dlq sum
 *   c360_tenants                                            gauge
 *   c360_gauges_sampled_timestamp_seconds                   gauge
 *   c360_callback_duration_ms{plugin,callback}              histogram
 *   c360_delivery_latency_ms                                histogram
 *   c360_http_out_calls_total, c360_http_out_responses_total{class},
 *   c360_http_out_errors_total{kind}, c360_http_out_latency_ms (histogram)
 *       -- outbound HTTP (httpc.h) of every process: the master's own
 *       ch_httpc_metrics_get() plus what each worker process published
 *       with ch_metrics_publish_httpc (httpc keeps its counters in
 *       process-private memory, so workers must hand them over)
 *   c360_redis_reconnects_total                             the master's
 *       async connection (ch_redis_reconnects)
 *   c360_plugins_loaded                                     gauge */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "loader.h"
#include "redis.h"

/* Counters (append-only: the index is the slot in shared memory). */
typedef enum ch_metric {
    CH_M_EVENTS_ACCEPTED = 0, /* ingress: stored in the ev stream, 200 sent */
    CH_M_EVENTS_REJECTED,     /* ingress: verify said REJECT, or refused
                                 (401/403/404/410/503; a 413 is refused by evhttp before routing) */
    CH_M_EVENTS_DUPLICATE,    /* ingress: dedup key seen within the window */
    CH_M_EVENTS_UNROUTED,     /* ingress: app-level event mapped to nothing */
    CH_M_RECORDS_EMITTED,     /* workers: records emitted by source plugins */
    CH_M_DELIVERIES_OK,       /* workers: deliver returned OK */
    CH_M_DELIVERIES_FAILED,   /* workers: deliver returned anything else */
    CH_M_RETRIES,             /* workers: items scheduled for another attempt */
    CH_M_DEAD_LETTERS,        /* workers/supervisor: items written to a dlq */
    CH_M_WORKER_RESTARTS,     /* supervisor: worker processes restarted */
    CH_M_TICKS_RUN,           /* ch_sched_tick_done: ticks finished */
    CH_M_TICKS_DUE,           /* scheduler: tick items enqueued by claims */
    CH_M_REPLAYED,            /* dlq/raw replay: items re-added to a stream */
    CH_M_REDIS_ERRORS,        /* pipeline code: a blocking Redis call failed
                                 (ch_rconn_* returned NULL) */
    CH_M__COUNT
} ch_metric;

/* Plugin callbacks with a duration histogram (append-only). */
typedef enum ch_metric_cb {
    CH_CB_TICK = 0,
    CH_CB_EVENT,
    CH_CB_DELIVER,
    CH_CB_INSTANCE_OPEN,
    CH_CB_WEBHOOK_VERIFY,
    CH_CB_WEBHOOK_ROUTE,
    CH_CB_EVENT_PREFETCH,     /* ABI 1.7 */
    CH_CB__COUNT
} ch_metric_cb;

/* Fixed plugin slots: the plugin's index in the loader (ch_loader_get).
 * Observations for an index >= CH_METRICS_MAX_PLUGINS (or >= the n_plugins
 * given to init) are counted in c360_metrics_dropped_total instead. */
#define CH_METRICS_MAX_PLUGINS 64

/* Worker process slots for ch_metrics_publish_httpc (config allows at most
 * 64 worker processes). */
#define CH_METRICS_MAX_WORKERS 64

/* Histogram upper bounds in ms (the +Inf bucket is implicit). */
#define CH_METRICS_CB_BUCKETS 14
#define CH_METRICS_DL_BUCKETS 14
extern const uint32_t ch_metrics_cb_bounds_ms[CH_METRICS_CB_BUCKETS];
extern const uint32_t ch_metrics_dl_bounds_ms[CH_METRICS_DL_BUCKETS];

/* Gauges sampled by the maintenance thread (maint.h) and set whole. */
typedef struct ch_metrics_gauges {
    int64_t ev_depth, ev_pending, ev_lag_ms;  /* lag: oldest unacked age */
    int64_t dl_depth, dl_pending, dl_lag_ms;
    int64_t dlq_len;                          /* stored dead letters */
    int64_t tenants;
    int64_t sampled_at_ms;                    /* wall clock of the sample */
} ch_metrics_gauges;

/* Maps the shared region for n_plugins plugin slots (clamped to
 * CH_METRICS_MAX_PLUGINS). Call in the master after loading plugins and
 * BEFORE forking workers; a second call is a no-op returning 0 (the
 * counters survive). Returns 0, or -1 (errno set) if mmap fails. */
int ch_metrics_init(size_t n_plugins);
/* Unmaps the region (at exit, after the workers are gone). Counting after
 * it is a no-op again. */
void ch_metrics_shutdown(void);

/* Adds n to a counter. Lock-free (one relaxed atomic add). */
void ch_metrics_inc(ch_metric m, uint64_t n);
/* Reads a counter (tests, the admin API). 0 before init. */
uint64_t ch_metrics_get(ch_metric m);
/* One callback of plugin plugin_idx took ms milliseconds (< 0 counts as 0). */
void ch_metrics_observe_callback(size_t plugin_idx, ch_metric_cb cb, int64_t ms);
/* One delivery succeeded ms milliseconds after its event was received. */
void ch_metrics_observe_delivery(int64_t ms);
/* Replaces the sampled gauges (maintenance thread). */
void ch_metrics_set_gauges(const ch_metrics_gauges *g);
void ch_metrics_get_gauges(ch_metrics_gauges *out);

/* Worker processes: copies this process's outbound-HTTP counters
 * (ch_httpc_metrics_get) into slot worker_idx (the supervisor's index of the
 * worker, < CH_METRICS_MAX_WORKERS). Call from ONE thread of the worker,
 * periodically (e.g. with the heartbeat, every second) and before a clean
 * exit. When a new process takes over a slot (a restarted worker), the
 * previous process's last published numbers are kept, so the exposed
 * counters never go backwards; a crashed worker loses only what it counted
 * since its last publish. A no-op in the master (its own numbers are read
 * directly) and before init. */
void ch_metrics_publish_httpc(size_t worker_idx);

/* The whole exposition as text (malloc'd, NUL-terminated; free it). The
 * loader names the plugin slots (may be NULL: labels become the index);
 * redis (may be NULL) gives the reconnect count. */
char *ch_metrics_render(const ch_loader *ld, const ch_redis *redis);

/* Registers GET /metrics on h (handler runs on the event loop: it only
 * reads memory). ld must outlive h. */
void ch_metrics_register_http(ch_http *h, const ch_loader *ld);
/* The master's async Redis connection, for c360_redis_reconnects_total
 * (set once after ch_redis_new; NULL = not reported). Read on the event
 * loop only, where the connection lives. */
void ch_metrics_set_redis(const ch_redis *redis);

#endif
