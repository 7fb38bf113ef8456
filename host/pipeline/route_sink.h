/* route_sink.h -- what a plugin's webhook_route names (ABI 1.2
 * route_event): the routing keys an app-level webhook touches, each with
 * its dedup key. The ingress owns one sink, hangs it on the call
 * (c360_call.route) for the duration of webhook_route, then resolves the
 * keys to connections (conncache.h). Fixed size: a payload naming more
 * keys than CH_ROUTE_SINK_MAX has the rest refused and counted, so a
 * hostile batch cannot make the loop allocate without bound. */
#ifndef CH_ROUTE_SINK_H
#define CH_ROUTE_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "call.h"

#define CH_ROUTE_SINK_MAX 64

typedef struct ch_route_item {
    char key[CH_CALL_DEDUP_MAX + 1];   /* routing key, 1..200 printable */
    char dedup[CH_CALL_DEDUP_MAX + 1]; /* "" = none */
} ch_route_item;

typedef struct ch_route_sink {
    size_t n;
    size_t dropped;                    /* over CH_ROUTE_SINK_MAX */
    ch_route_item item[CH_ROUTE_SINK_MAX];
} ch_route_sink;

void ch_route_sink_reset(ch_route_sink *s);
/* Records one (key, dedup) pair; an identical pair again is a no-op.
 * C360_EINVAL for an invalid key or dedup key (dedup may be NULL or ""),
 * C360_ETOOBIG when full. */
int32_t ch_route_sink_add(ch_route_sink *s, const char *key, const char *dedup);

#endif
