/* api_audit.c -- admin API routes (placeholder table until the resource lands). */
#include "api.h"

const ch_aroute ch_api_audit_routes[] = {
    {0},
};
