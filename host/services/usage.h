/* usage.h -- reads providers' rate-limit signals from an HTTP response.
 *
 * Providers tell how close a caller is to being throttled in headers of
 * their own (docs/ratelimits.md lists them). This module turns them into
 * the two numbers the rate-limit service acts on: the highest usage in
 * percent, and an explicit wait. Parsing is pure (no I/O, no clock: the
 * caller passes "now"), bounded, and tolerant: a malformed header is
 * ignored (logged at debug), never an error and never a crash, because a
 * provider's odd header must not fail a plugin's otherwise good call. */
#ifndef CH_USAGE_H
#define CH_USAGE_H

#include <stdint.h>

#include "connector_api.h"

/* Header values longer than this are ignored (the JSON ones are a few
 * hundred bytes in practice). */
#define CH_USAGE_MAX_VALUE 8192
/* Usage is clamped here: a provider may report more than 100 %. */
#define CH_USAGE_MAX_PCT 1000u
/* A wait longer than a day is not believed; it is cut to a day. */
#define CH_USAGE_MAX_PAUSE_MS 86400000u

typedef struct ch_usage {
    uint32_t usage_pct; /* highest usage reported (0 when none) */
    uint32_t pause_ms;  /* an explicit wait the provider asked for (0 none) */
} ch_usage;

/* Reads every signal in resp (see docs/ratelimits.md for the headers and
 * how each maps). Returns 1 if the response carried at least one signal
 * (then *out holds the combined reading), 0 if none (then *out is zero). A
 * NULL or too-small resp reads as no signal. */
int ch_usage_parse(const c360_http_response *resp, int64_t now_ms,
                   ch_usage *out);

/* Parses a Retry-After value -- delta seconds, an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime form) or an ISO 8601 timestamp (Zoom) -- into a wait
 * from now_ms (0 if the date has passed), capped at CH_USAGE_MAX_PAUSE_MS.
 * Returns 0, or -1 if the value is none of those. Exposed for tests. */
int ch_usage_retry_after(const char *value, int64_t now_ms,
                         uint32_t *pause_ms);

#endif
