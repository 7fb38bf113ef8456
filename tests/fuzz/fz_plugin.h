/* fz_plugin.h -- drives one bundled connector, compiled into the target,
 * through its descriptor as c360d would, against fz_host.h's host.
 *
 * Webhook targets (fz_webhook_one): the input is
 *     flags byte, then   query\n name: value\n ... \n body
 * flags: 1 bypass signature/token checks (fz_host.h), 2 GET (else POST),
 * 4 the app-level URL (instance_data NULL, then webhook_route), 8 run the
 * event callback on an accepted request (provider answers: 503).
 *
 * API targets (fz_api_one): the input is
 *     flags byte, then   provider responses cut at "\n@@@\n"
 * which answer, in order, every outbound request of instance_open and
 * then of: flags 1 a tick, 2 an event (the spec's canned event number
 * (flags >> 2) & 3), 16 (destinations) a deliver and 32 a deliver_batch
 * of the spec's records.
 *
 * Any API input may end with the rate limiter's answers: "\n@@@rl\n" then
 * one byte per ratelimit_take (fz_host.h fz_rl_split); the rest of the
 * input is what precedes the mark. Without the mark every take is granted.
 *
 * The look ahead (flags & 64, a spec with pf_config[0] and a plugin with
 * event_prefetch, ABI 1.7; otherwise the bit means nothing): the input is
 *     flags byte, pf byte, [event body "\n@@@\n"] provider responses
 * The spec's pf_state is preset (what earlier calls left: proofs, forms)
 * so that the responses answer the look ahead rather than instance_open.
 * pf bits 0-5 pick the spec's pf_events[0..5], bit 6 adds one more event
 * whose body is the input's, cut at the first "\n@@@\n"; bit 7 opens
 * pf_config[1] (when set) instead of pf_config[0]. event_prefetch is
 * called once with those events in that order (flags 4: with a 1 ms
 * deadline), then (flags 2) event on each of them in turn; every one of
 * those calls takes its answers from the one script. Tick and deliver
 * are not run. */
#ifndef FZ_PLUGIN_H
#define FZ_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct fz_spec {
    const char *config;        /* the connection's config JSON */
    const char *secrets[12];   /* name, value, ..., NULL */
    const char *events[4];     /* canned webhook bodies (API targets) */
    const char *event_headers; /* "name: value\n..." of those, or NULL */
    const char *records[4];    /* type, id and JSON as "type\nid\njson" */
    /* The look ahead (flags & 64), all optional: */
    const char *pf_config[2];  /* the config opened instead of config */
    const char *pf_secrets[12];/* name, value, ..., NULL: besides secrets */
    const char *pf_state[12];  /* key, value, ..., NULL: state preset */
    const char *pf_events[6];  /* webhook bodies of the connection */
} fz_spec;

int fz_webhook_one(const fz_spec *spec, const uint8_t *data, size_t size);
int fz_api_one(const fz_spec *spec, const uint8_t *data, size_t size);

#endif
