/* api_meta.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_meta_routes[] = {
    {0},
};
