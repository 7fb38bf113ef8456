/* route_sink.c -- see route_sink.h. */
#include "route_sink.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

void ch_route_sink_reset(ch_route_sink *s)
{
    s->n = 0;
    s->dropped = 0;
}

int32_t ch_route_sink_add(ch_route_sink *s, const char *key, const char *dedup)
{
    if (!ch_name_valid(key)) return C360_EINVAL;
    if (dedup && *dedup && !ch_name_valid(dedup)) return C360_EINVAL;
    if (!dedup) dedup = "";
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->item[i].key, key) == 0 && strcmp(s->item[i].dedup, dedup) == 0)
            return C360_OK;
    if (s->n == CH_ROUTE_SINK_MAX) {
        s->dropped++;
        return C360_ETOOBIG;
    }
    snprintf(s->item[s->n].key, sizeof s->item[s->n].key, "%s", key);
    snprintf(s->item[s->n].dedup, sizeof s->item[s->n].dedup, "%s", dedup);
    s->n++;
    return C360_OK;
}
