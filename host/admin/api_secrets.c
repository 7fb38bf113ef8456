/* api_secrets.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_secrets_routes[] = {
    {0},
};
