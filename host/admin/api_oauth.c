/* api_oauth.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_oauth_routes[] = {
    {0},
};
