/* api_dlq.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_dlq_routes[] = {
    {0},
};
