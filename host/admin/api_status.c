/* api_status.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_status_routes[] = {
    {0},
};
