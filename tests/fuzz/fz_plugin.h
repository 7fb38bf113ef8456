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
 * of the spec's records. */
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
} fz_spec;

int fz_webhook_one(const fz_spec *spec, const uint8_t *data, size_t size);
int fz_api_one(const fz_spec *spec, const uint8_t *data, size_t size);

#endif
