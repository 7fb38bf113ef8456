/* metrics_text.c -- the Prometheus text exposition (format 0.0.4) of the
 * shared metrics, and the GET /metrics route. Rendering only reads memory
 * (the shared region, httpc's counters, the async Redis handle), so it is
 * safe on the event loop. */
#include "metrics_shm.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return; /* only on an invalid format: never here */
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 1;
        b->p = ch_realloc(b->p, b->cap);
    }
}

static void family(sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped (the only
 * escapes the format has); bounded, since plugin names are short. */
static void label_value(char *out, size_t cap, const char *s)
{
    size_t j = 0;
    for (; *s && j + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') { out[j++] = '\\'; out[j++] = *s; }
        else if (*s == '\n') { out[j++] = '\\'; out[j++] = 'n'; }
        else out[j++] = *s;
    }
    out[j] = '\0';
}

/* _bucket (cumulative), _sum and _count lines of one series; labels is
 * either "" or `a="b",` (with the trailing comma). */
static void hist_lines(sbuf *b, const char *name, const char *labels, const uint64_t *bucket,
                       const uint32_t *bounds, size_t nb, uint64_t sum, uint64_t count)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += bucket[i];
        sb_printf(b, "%s_bucket{%sle=\"%" PRIu32 "\"} %" PRIu64 "\n", name, labels, bounds[i], cum);
    }
    cum += bucket[nb];
    /* count is read separately from the buckets: take the larger so that
     * +Inf == _count holds even when an observation lands mid-render. */
    if (count < cum) count = cum;
    sb_printf(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, count);
    size_t ll = strlen(labels);
    if (ll) {
        /* Labels without the trailing comma for _sum/_count. */
        sb_printf(b, "%s_sum{%.*s} %" PRIu64 "\n%s_count{%.*s} %" PRIu64 "\n", name, (int)(ll - 1),
                  labels, sum, name, (int)(ll - 1), labels, count);
    } else {
        sb_printf(b, "%s_sum %" PRIu64 "\n%s_count %" PRIu64 "\n", name, sum, name, count);
    }
}

static void hist_load(ch_mhist *h, size_t nb, uint64_t *bucket, uint64_t *sum, uint64_t *count)
{
    /* Count first: every bucket increment it covers is then visible too,
     * so buckets never sum to less than an older count. */
    *count = atomic_load_explicit(&h->count, memory_order_relaxed);
    for (size_t i = 0; i <= nb; i++) bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    *sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

static const struct {
    const char *name, *help;
} k_counters[CH_M__COUNT] = {
    [CH_M_EVENTS_ACCEPTED] = {"c360_events_accepted_total", "Webhook events stored and answered 200."},
    [CH_M_EVENTS_REJECTED] = {"c360_events_rejected_total", "Webhook requests refused by the host (verification failed, unknown, disabled, Redis down); bodies over the limit are refused by the HTTP layer before routing and not counted."},
    [CH_M_EVENTS_DUPLICATE] = {"c360_events_duplicate_total", "Webhook events dropped as duplicates within the dedup window."},
    [CH_M_EVENTS_UNROUTED] = {"c360_events_unrouted_total", "App-level webhook events that mapped to no connection."},
    [CH_M_RECORDS_EMITTED] = {"c360_records_emitted_total", "Normalised records emitted by source plugins."},
    [CH_M_DELIVERIES_OK] = {"c360_deliveries_ok_total", "Deliveries the destination accepted."},
    [CH_M_DELIVERIES_FAILED] = {"c360_deliveries_failed_total", "Delivery attempts that failed."},
    [CH_M_RETRIES] = {"c360_retries_total", "Work items scheduled for another attempt."},
    [CH_M_DEAD_LETTERS] = {"c360_dead_letters_total", "Work items moved to a dead-letter queue."},
    [CH_M_WORKER_RESTARTS] = {"c360_worker_restarts_total", "Worker processes restarted by the supervisor."},
    [CH_M_TICKS_RUN] = {"c360_ticks_run_total", "Scheduled ticks finished."},
    [CH_M_TICKS_DUE] = {"c360_ticks_due_total", "Scheduled ticks enqueued by this host's scheduler."},
    [CH_M_REPLAYED] = {"c360_replayed_total", "Dead letters and raw events re-added to a work stream."},
    [CH_M_REDIS_ERRORS] = {"c360_redis_errors_total", "Blocking Redis calls of the pipeline that failed."},
};

static void render_counters(sbuf *b, ch_mregion *r)
{
    for (int i = 0; i < CH_M__COUNT; i++) {
        family(b, k_counters[i].name, "counter", k_counters[i].help);
        uint64_t v = r ? atomic_load_explicit(&r->counters[i], memory_order_relaxed) : 0;
        sb_printf(b, "%s %" PRIu64 "\n", k_counters[i].name, v);
    }
}

static void render_gauges(sbuf *b, ch_mregion *r)
{
    ch_metrics_gauges g;
    ch_metrics_get_gauges(&g);
    family(b, "c360_queue_depth", "gauge", "Work items not yet acknowledged (group lag plus pending), all tenants.");
    sb_printf(b, "c360_queue_depth{stream=\"ev\"} %" PRId64 "\nc360_queue_depth{stream=\"dl\"} %" PRId64 "\n",
              g.ev_depth, g.dl_depth);
    family(b, "c360_queue_pending", "gauge", "Work items delivered to a consumer and not yet acknowledged, all tenants.");
    sb_printf(b, "c360_queue_pending{stream=\"ev\"} %" PRId64 "\nc360_queue_pending{stream=\"dl\"} %" PRId64 "\n",
              g.ev_pending, g.dl_pending);
    family(b, "c360_queue_lag_seconds", "gauge", "Age of the oldest unacknowledged work item, the maximum over tenants.");
    sb_printf(b, "c360_queue_lag_seconds{stream=\"ev\"} %" PRId64 ".%03d\n", g.ev_lag_ms / 1000,
              (int)(g.ev_lag_ms % 1000));
    sb_printf(b, "c360_queue_lag_seconds{stream=\"dl\"} %" PRId64 ".%03d\n", g.dl_lag_ms / 1000,
              (int)(g.dl_lag_ms % 1000));
    family(b, "c360_dead_letters_stored", "gauge", "Dead letters waiting for replay or discard, all tenants.");
    sb_printf(b, "c360_dead_letters_stored %" PRId64 "\n", g.dlq_len);
    family(b, "c360_tenants", "gauge", "Tenants with at least one connection.");
    sb_printf(b, "c360_tenants %" PRId64 "\n", g.tenants);
    family(b, "c360_gauges_sampled_timestamp_seconds", "gauge", "When the queue gauges were sampled (0 = never).");
    sb_printf(b, "c360_gauges_sampled_timestamp_seconds %" PRId64 "\n", g.sampled_at_ms / 1000);
    family(b, "c360_metrics_dropped_total", "counter", "Callback observations for plugin slots out of range.");
    sb_printf(b, "c360_metrics_dropped_total %" PRIu64 "\n",
              r ? atomic_load_explicit(&r->dropped, memory_order_relaxed) : 0);
}

static const char *const k_cb_names[CH_CB__COUNT] = {
    [CH_CB_TICK] = "tick", [CH_CB_EVENT] = "event", [CH_CB_DELIVER] = "deliver",
    [CH_CB_INSTANCE_OPEN] = "instance_open", [CH_CB_WEBHOOK_VERIFY] = "webhook_verify",
    [CH_CB_WEBHOOK_ROUTE] = "webhook_route", [CH_CB_EVENT_PREFETCH] = "event_prefetch"};

static void render_histograms(sbuf *b, ch_mregion *r, const ch_loader *ld)
{
    uint64_t bucket[CH_MHIST_MAX + 1], sum, count;
    family(b, "c360_delivery_latency_ms", "histogram", "From event receipt to successful delivery, in milliseconds.");
    if (r) hist_load(&r->delivery, CH_METRICS_DL_BUCKETS, bucket, &sum, &count);
    else { memset(bucket, 0, sizeof bucket); sum = count = 0; }
    hist_lines(b, "c360_delivery_latency_ms", "", bucket, ch_metrics_dl_bounds_ms,
               CH_METRICS_DL_BUCKETS, sum, count);

    family(b, "c360_callback_duration_ms", "histogram", "Plugin callback durations, in milliseconds.");
    size_t np = r ? r->n_plugins : 0;
    for (size_t p = 0; p < np; p++) {
        char name[100], labels[256];
        const ch_plugin *pl = ld && p < ch_loader_count(ld) ? ch_loader_get(ld, p) : NULL;
        if (pl) label_value(name, sizeof name, ch_plugin_name(pl));
        else snprintf(name, sizeof name, "plugin_%zu", p);
        for (int c = 0; c < CH_CB__COUNT; c++) {
            hist_load(&r->cb[p][c], CH_METRICS_CB_BUCKETS, bucket, &sum, &count);
            /* Only callbacks that ran: a plugin has no series for the
             * callbacks it lacks. */
            if (!count) continue;
            snprintf(labels, sizeof labels, "plugin=\"%s\",callback=\"%s\",", name, k_cb_names[c]);
            hist_lines(b, "c360_callback_duration_ms", labels, bucket, ch_metrics_cb_bounds_ms,
                       CH_METRICS_CB_BUCKETS, sum, count);
        }
    }
}

/* Outbound HTTP of every process: the master's own counters plus each
 * worker slot's (see ch_metrics_publish_httpc). */
static void render_httpc(sbuf *b, ch_mregion *r)
{
    ch_httpc_metrics m;
    ch_httpc_metrics_get(&m);
    uint64_t tot[CH_MHTTPC_N];
    memcpy(tot, &m, sizeof tot);
    for (size_t w = 0; r && w < CH_METRICS_MAX_WORKERS; w++) {
        uint64_t s[CH_MHTTPC_N];
        ch_metrics_httpc_slot_read(&r->httpc[w], s);
        for (size_t i = 0; i < CH_MHTTPC_N; i++) tot[i] += s[i];
    }
    memcpy(&m, tot, sizeof m);

    family(b, "c360_http_out_calls_total", "counter", "Outbound HTTP calls made for plugins.");
    sb_printf(b, "c360_http_out_calls_total %" PRIu64 "\n", m.calls);
    family(b, "c360_http_out_responses_total", "counter", "Outbound HTTP responses by status class.");
    static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 1; i <= 6; i++)
        sb_printf(b, "c360_http_out_responses_total{class=\"%s\"} %" PRIu64 "\n", cls[i % 6],
                  m.status_class[i % 6]);
    family(b, "c360_http_out_errors_total", "counter", "Outbound HTTP calls that failed without a response.");
    sb_printf(b,
              "c360_http_out_errors_total{kind=\"timeout\"} %" PRIu64 "\n"
              "c360_http_out_errors_total{kind=\"io\"} %" PRIu64 "\n"
              "c360_http_out_errors_total{kind=\"toobig\"} %" PRIu64 "\n"
              "c360_http_out_errors_total{kind=\"denied\"} %" PRIu64 "\n"
              "c360_http_out_errors_total{kind=\"inval\"} %" PRIu64 "\n",
              m.err_timeout, m.err_io, m.err_toobig, m.err_denied, m.err_inval);
    family(b, "c360_http_out_latency_ms", "histogram", "Outbound HTTP call latency, in milliseconds.");
    uint64_t count = 0;
    for (int i = 0; i < CH_HTTPC_LAT_BUCKETS; i++) count += m.lat_bucket[i];
    hist_lines(b, "c360_http_out_latency_ms", "", m.lat_bucket, ch_httpc_lat_bounds_ms,
               CH_HTTPC_LAT_BUCKETS - 1, m.lat_sum_ms, count);
}

char *ch_metrics_render(const ch_loader *ld, const ch_redis *redis)
{
    sbuf b = {ch_malloc(16384), 0, 16384};
    b.p[0] = '\0';
    ch_mregion *r = ch_metrics_region();
    render_counters(&b, r);
    render_gauges(&b, r);
    render_histograms(&b, r, ld);
    render_httpc(&b, r);
    if (redis) {
        family(&b, "c360_redis_reconnects_total", "counter", "Times the master's Redis connection was lost and re-established.");
        sb_printf(&b, "c360_redis_reconnects_total %lu\n", ch_redis_reconnects(redis));
    }
    family(&b, "c360_plugins_loaded", "gauge", "Plugins loaded by this host.");
    sb_printf(&b, "c360_plugins_loaded %zu\n", ld ? ch_loader_count(ld) : (size_t)0);
    return b.p;
}

/* Read and written on the event loop only. */
static const ch_redis *g_redis;

void ch_metrics_set_redis(const ch_redis *redis) { g_redis = redis; }

static void on_metrics(ch_req *req, void *arg)
{
    char *text = ch_metrics_render(arg, g_redis);
    ch_req_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

void ch_metrics_register_http(ch_http *h, const ch_loader *ld)
{
    ch_http_route(h, "GET", "/metrics", on_metrics, (void *)ld);
}
