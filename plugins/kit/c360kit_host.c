/* c360kit_host.c -- small adapters between the plugins' pure parts and the
 * host table (c360kit.h). */
#include "c360kit.h"

void c360kit_cfg_error(void *sink, const char *json_pointer, const char *message)
{
    c360kit_cfg_sink *s = sink;
    s->host->config_error(s->call, json_pointer, message);
}
