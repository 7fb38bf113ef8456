/* httpc_conf.h -- private to the httpc module: the settings snapshot and
 * each thread's curl handles.
 *
 * Settings are an immutable, reference-counted snapshot: a reconfigure
 * swaps the pointer, and a request in flight keeps the rules it started
 * with. Each worker thread owns two easy handles (provider, customer);
 * see httpc.h for why customer URLs get their own. */
#ifndef CH_HTTPC_CONF_H
#define CH_HTTPC_CONF_H

#include <stdatomic.h>
#include <stdint.h>

#include <curl/curl.h>

#include "httpc.h"
#include "ssrf.h"

typedef struct ch_httpc_conf ch_httpc_conf;
struct ch_httpc_conf {
    atomic_int refs;
    uint64_t gen;                 /* bumped on every configure */
    int deny_private;
    ch_ssrf_rule allow[CH_HTTPC_MAX_ALLOW];
    size_t allow_count;
    uint32_t connect_timeout_ms, timeout_ms, max_response_bytes;
    uint32_t max_header_count, max_header_bytes;
    char *ca_file;
};

/* The current settings (defaults if never configured), referenced. */
ch_httpc_conf *ch_httpc_conf_acquire(void);
void ch_httpc_conf_release(ch_httpc_conf *c);

/* curl_global_init, once per process. */
void ch_httpc_curl_init(void);

/* This thread's handle for a request; a customer handle whose kept-alive
 * connections were vetted under an older settings generation is replaced
 * first. */
CURL *ch_httpc_handle(int customer, const ch_httpc_conf *c);

#endif
