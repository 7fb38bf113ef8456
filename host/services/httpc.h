/* httpc.h -- outbound HTTP for plugins and host services (OAuth).
 *
 * Blocking, called from worker threads. Each thread keeps its own libcurl
 * easy handles (created on first use, freed when the thread ends), so
 * connections to a provider are kept alive between the calls of one worker.
 * A thread has two handles: one for provider URLs and one only for
 * customer-supplied URLs (C360_HTTP_CUSTOMER_URL), so a customer request
 * can never reuse a connection that was opened without the SSRF check.
 *
 * Fixed rules (not settings): TLS peer and host verification always on;
 * only http:// and https:// (also for redirects); redirects only with
 * C360_HTTP_FOLLOW_REDIRECTS, at most 5; response headers bounded in count
 * and size; the response body bounded (C360_ETOOBIG). Provider requests use
 * the proxy from the environment (http_proxy, https_proxy, no_proxy: curl's
 * defaults). Customer requests never use a proxy: the SSRF check has to see
 * the address of the destination itself, not the proxy's.
 *
 * Error texts never contain the URL's path, query or user info, request
 * headers or bodies (tokens travel in those). */
#ifndef CH_HTTPC_H
#define CH_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "connector_api.h"

#define CH_HTTPC_MAX_ALLOW 64          /* allowlist entries */
#define CH_HTTPC_MAX_REQ_HEADERS 100   /* request headers per call */
#define CH_HTTPC_MAX_HEADER_LINE 8192  /* one request header, name + value */
#define CH_HTTPC_MAX_URL 8192

typedef struct ch_httpc_settings {
    /* Refuse customer URLs that reach non-public addresses (ssrf.h).
     * Default 1. Provider URLs are never checked: plugins name their own
     * provider endpoints, and tests run fakes on loopback. */
    int deny_private;
    /* CIDR[/prefix[:port]] rules (ssrf.h) allowed even when private; for
     * tests and for operators whose customers' systems are on-premises.
     * Copied. At most CH_HTTPC_MAX_ALLOW. */
    const char *const *allow;
    size_t allow_count;
    uint32_t connect_timeout_ms;   /* default 10000 */
    uint32_t timeout_ms;           /* total, default 30000 */
    uint32_t max_response_bytes;   /* body, default 8 MiB; also the ceiling
                                      of a request's own max_response_bytes */
    uint32_t max_header_count;     /* response headers, default 100 */
    uint32_t max_header_bytes;     /* response headers in total, default 64 KiB */
    const char *ca_file;           /* CA bundle; NULL = the system's. Copied. */
} ch_httpc_settings;

/* The defaults above. */
void ch_httpc_settings_default(ch_httpc_settings *s);

/* Replaces the settings (any time; requests in flight finish with the old
 * ones). NULL = defaults. C360_EINVAL with the reason in err for a bad
 * allowlist rule or too many of them. */
int32_t ch_httpc_configure(const ch_httpc_settings *s, char *err, size_t errcap);

/* Sends req and waits for the whole response. C360_OK when a response
 * arrived, whatever its HTTP status, with *resp set (free it with
 * ch_http_response_free); otherwise C360_ETIMEOUT, C360_EIO (DNS, connect,
 * TLS, protocol), C360_ETOOBIG (response body or headers over the limit),
 * C360_EDENIED (SSRF policy) or C360_EINVAL (bad URL, scheme, method,
 * header) with the reason in err (may be NULL). req fields beyond its
 * struct_size are taken as 0 (defaults). */
int32_t ch_httpc_request(const c360_http_request *req,
                         c360_http_response **resp, char *err, size_t errcap);

/* The response is one allocation (struct, header array, strings, body), so
 * plain free() releases it as well; this is the documented way. NULL ok. */
void ch_http_response_free(c360_http_response *resp);

/* Frees this thread's curl handles now (also done when the thread ends). */
void ch_httpc_thread_close(void);

/* --- metrics ------------------------------------------------------------ */

/* Latency histogram upper bounds in ms; the last bucket is +Inf. */
#define CH_HTTPC_LAT_BUCKETS 12
extern const uint32_t ch_httpc_lat_bounds_ms[CH_HTTPC_LAT_BUCKETS - 1];

typedef struct ch_httpc_metrics {
    uint64_t calls;               /* every ch_httpc_request */
    uint64_t status_class[6];     /* [1]..[5]: 1xx..5xx responses; [0] other */
    uint64_t err_timeout;
    uint64_t err_io;
    uint64_t err_toobig;
    uint64_t err_denied;
    uint64_t err_inval;
    /* Non-cumulative counts: lat_bucket[i] counts calls with latency <=
     * bounds[i] and > bounds[i-1]; the last one is everything above. Calls
     * refused before any I/O (EINVAL) are not timed. */
    uint64_t lat_bucket[CH_HTTPC_LAT_BUCKETS];
    uint64_t lat_sum_ms;
} ch_httpc_metrics;

/* A consistent-enough snapshot (each counter read atomically). */
void ch_httpc_metrics_get(ch_httpc_metrics *out);
/* The same as a JSON object for /metrics:
 * {"calls":N,"status":{"1xx":..,"5xx":..,"other":..},
 *  "errors":{"timeout":..,"io":..,"toobig":..,"denied":..,"inval":..},
 *  "latency_ms":{"buckets":[{"le":10,"count":..},...,{"le":"+Inf",..}],
 *                "sum":..}}  (cumulative "le" counts, Prometheus-style). */
json_t *ch_httpc_metrics_json(void);

#endif
