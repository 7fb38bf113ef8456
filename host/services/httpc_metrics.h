/* httpc_metrics.h -- the counters behind ch_httpc_metrics_get(); private to
 * httpc.c (the public read side is declared in httpc.h). */
#ifndef CH_HTTPC_METRICS_H
#define CH_HTTPC_METRICS_H

#include <stdint.h>

/* Counts one finished call: rc is its c360 status, http_status the HTTP
 * status when rc is C360_OK, elapsed_ms its latency (< 0 = not timed:
 * refused before any I/O). Lock-free. */
void ch_httpc_metrics_record(int32_t rc, int http_status, int64_t elapsed_ms);

#endif
