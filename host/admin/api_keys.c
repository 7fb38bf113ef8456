/* api_keys.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_keys_routes[] = {
    {0},
};
