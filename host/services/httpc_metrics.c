/* httpc_metrics.c -- per-call counters of outbound HTTP (see httpc.h).
 * Plain relaxed atomics: every worker thread bumps them on every call, and
 * a reader (the /metrics endpoint) only needs each counter to be exact, not
 * a snapshot consistent across counters. */
#include "httpc_metrics.h"

#include <stdatomic.h>

#include "connector_api.h"
#include "httpc.h"

const uint32_t ch_httpc_lat_bounds_ms[CH_HTTPC_LAT_BUCKETS - 1] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};

static struct {
    _Atomic uint64_t calls;
    _Atomic uint64_t status_class[6];
    _Atomic uint64_t err_timeout, err_io, err_toobig, err_denied, err_inval;
    _Atomic uint64_t lat_bucket[CH_HTTPC_LAT_BUCKETS];
    _Atomic uint64_t lat_sum_ms;
} g_m;

#define BUMP(field) atomic_fetch_add_explicit(&(field), 1, memory_order_relaxed)

void ch_httpc_metrics_record(int32_t rc, int http_status, int64_t elapsed_ms)
{
    BUMP(g_m.calls);
    switch (rc) {
    case C360_OK: {
        int cls = http_status >= 100 && http_status <= 599 ? http_status / 100 : 0;
        BUMP(g_m.status_class[cls]);
        break;
    }
    case C360_ETIMEOUT: BUMP(g_m.err_timeout); break;
    case C360_ETOOBIG: BUMP(g_m.err_toobig); break;
    case C360_EDENIED: BUMP(g_m.err_denied); break;
    case C360_EINVAL: BUMP(g_m.err_inval); break;
    default: BUMP(g_m.err_io); break; /* EIO, ENOMEM: the call failed below us */
    }
    if (elapsed_ms < 0) return;
    size_t b = 0;
    while (b < CH_HTTPC_LAT_BUCKETS - 1 && (uint64_t)elapsed_ms > ch_httpc_lat_bounds_ms[b]) b++;
    BUMP(g_m.lat_bucket[b]);
    atomic_fetch_add_explicit(&g_m.lat_sum_ms, (uint64_t)elapsed_ms, memory_order_relaxed);
}

#define LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

void ch_httpc_metrics_get(ch_httpc_metrics *out)
{
    out->calls = LOAD(g_m.calls);
    for (int i = 0; i < 6; i++) out->status_class[i] = LOAD(g_m.status_class[i]);
    out->err_timeout = LOAD(g_m.err_timeout);
    out->err_io = LOAD(g_m.err_io);
    out->err_toobig = LOAD(g_m.err_toobig);
    out->err_denied = LOAD(g_m.err_denied);
    out->err_inval = LOAD(g_m.err_inval);
    for (int i = 0; i < CH_HTTPC_LAT_BUCKETS; i++) out->lat_bucket[i] = LOAD(g_m.lat_bucket[i]);
    out->lat_sum_ms = LOAD(g_m.lat_sum_ms);
}

json_t *ch_httpc_metrics_json(void)
{
    ch_httpc_metrics m;
    ch_httpc_metrics_get(&m);
    json_t *buckets = json_array();
    uint64_t cum = 0;
    for (int i = 0; i < CH_HTTPC_LAT_BUCKETS; i++) {
        cum += m.lat_bucket[i];
        json_t *le = i < CH_HTTPC_LAT_BUCKETS - 1 ? json_integer(ch_httpc_lat_bounds_ms[i])
                                                  : json_string("+Inf");
        json_array_append_new(buckets, json_pack("{s:o,s:I}", "le", le, "count", (json_int_t)cum));
    }
    return json_pack("{s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I},s:{s:o,s:I}}",
                     "calls", (json_int_t)m.calls,
                     "status", "1xx", (json_int_t)m.status_class[1], "2xx",
                     (json_int_t)m.status_class[2], "3xx", (json_int_t)m.status_class[3],
                     "4xx", (json_int_t)m.status_class[4], "5xx",
                     (json_int_t)m.status_class[5], "other", (json_int_t)m.status_class[0],
                     "errors", "timeout", (json_int_t)m.err_timeout, "io",
                     (json_int_t)m.err_io, "toobig", (json_int_t)m.err_toobig, "denied",
                     (json_int_t)m.err_denied, "inval", (json_int_t)m.err_inval,
                     "latency_ms", "buckets", buckets, "sum", (json_int_t)m.lat_sum_ms);
}
