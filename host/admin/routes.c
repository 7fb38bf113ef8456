/* routes.c -- every admin API route table, in the order the router tries
 * them (literal segments beat {params} whatever the order; see admin.c). */
#include "api.h"

const ch_aroute *const ch_api_tables[] = {
    ch_api_meta_routes,    ch_api_tenants_routes, ch_api_tplugins_routes,
    ch_api_keys_routes,    ch_api_conns_routes,   ch_api_secrets_routes,
    ch_api_routes_routes,  ch_api_status_routes,  ch_api_oauth_routes,
    ch_api_dlq_routes,     ch_api_audit_routes,   ch_api_notify_routes,
    ch_api_dsr_routes,     NULL,
};
