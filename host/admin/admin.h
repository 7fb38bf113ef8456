/* admin.h -- the admin API (/v1 and /oauth/callback) as c360d uses it.
 *
 * The event loop accepts requests and hands each to a small pool of admin
 * threads, which authenticate it, check role and tenant scope and run the
 * handler (api.h); the answer goes back to the loop to be sent. A handler
 * may therefore block on Redis or a provider without stalling webhooks. */
#ifndef CH_ADMIN_H
#define CH_ADMIN_H

#include <stdint.h>

#include <event2/event.h>

#include "api.h"

struct ch_http;

typedef struct ch_admin_settings {
    unsigned threads;           /* admin threads; default 4 */
    unsigned queue_max;         /* queued requests before 503; default 256 */
    const char *public_url;     /* base URL seen from outside; no trailing
                                   slash. Copied. */
    int64_t callback_timeout_ms;/* deadline of plugin callbacks */
    uint32_t key_rate_per_s;    /* per-key request budget; 0 = unlimited */
    uint32_t key_burst;         /* default = key_rate_per_s */
    uint32_t auth_fail_per_min; /* failed authentications per address per
                                   minute before it is refused with 429;
                                   default 10 */
    const char *operator_key_file; /* when set, an admin thread creates the
                                   first operator key (apikeys.h) and
                                   writes it here, retrying while Redis is
                                   unreachable. Copied. */
} ch_admin_settings;

void ch_admin_settings_default(ch_admin_settings *s);

/* ld and inst must outlive the admin object (inst may be NULL in tests
 * that do not touch instances). */
ch_admin *ch_admin_new(const ch_admin_settings *s, const struct ch_loader *ld,
                       struct ch_instances *inst);
/* Registers the routes on the listener and starts the admin threads,
 * answering on `base` (the listener's loop). */
int ch_admin_attach(ch_admin *a, struct event_base *base, struct ch_http *h);
/* Stops the threads (after the current requests) and drops queued ones;
 * safe without attach. Then frees. */
void ch_admin_free(ch_admin *a);

/* Runs one request on the calling thread: routing, authentication (from
 * `authorization`, the Authorization header, may be NULL), role, tenant
 * scope, rate limit, then the handler. Inputs in x are set by the caller
 * (method, path, query, request_id, remote_ip, content_type, if_match,
 * body); x->status/resp/raw are the answer. Release what the answer holds
 * with ch_actx_clear. Used by the admin threads and by tests. */
void ch_admin_dispatch(ch_admin *a, ch_actx *x, const char *authorization);
void ch_actx_clear(ch_actx *x);

/* For the OpenAPI test: calls fn for every (method, pattern). */
void ch_admin_routes_foreach(void (*fn)(const ch_aroute *r, void *arg),
                             void *arg);
/* The merged OpenAPI document (new reference), from docs/openapi/. */
json_t *ch_admin_openapi(void);

#endif
