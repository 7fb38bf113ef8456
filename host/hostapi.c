/* hostapi.c -- the host services of ABI 1.0: logging, clocks, call outcome,
 * config errors, instance identity. Every entry point checks the handles it
 * is given (magic numbers): a plugin passing a stale or foreign pointer gets
 * a refusal in the log, not a crash in the host. */
#include "hostapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "call.h"
#include "instance.h"
#include "log.h"

#define PLUGIN_LOG_MAX 2048

static void api_log(c360_call *call, int32_t level, const char *fmt, ...)
{
    if (level < C360_LOG_DEBUG || level > C360_LOG_ERROR) level = C360_LOG_ERROR;
    if (level < ch_log_get_level()) return;
    char msg[PLUGIN_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    va_end(ap);
    if (!ch_call_valid(call)) {
        ch_log(level, msg, "plugin", "?", NULL);
        return;
    }
    const c360_instance *inst = call->inst;
    int has_inst = inst && inst->magic == CH_INSTANCE_MAGIC;
    ch_log(level, msg, "plugin", call->plugin, "req", call->request_id,
           "tenant", has_inst ? inst->tenant : "",
           "connection", has_inst ? inst->connection : "", NULL);
}

static void api_free(void *p) { free(p); }

static void api_retry_after(c360_call *call, uint32_t ms)
{
    if (!ch_call_valid(call)) return;
    call->retry_after_ms = ms;
    call->retry_set = 1;
}

static void api_call_error(c360_call *call, const char *fmt, ...)
{
    if (!ch_call_valid(call) || !fmt) return;
    va_list ap;
    va_start(ap, fmt);
    ch_call_set_error(call, fmt, ap);
    va_end(ap);
}

static int64_t api_time_left(c360_call *call)
{
    if (!ch_call_valid(call) || call->deadline_ms == 0) return INT64_MAX;
    return call->deadline_ms - ch_monotonic_ms();
}

static const char *api_request_id(c360_call *call)
{
    return ch_call_valid(call) ? call->request_id : "";
}

static void api_config_error(c360_call *call, const char *ptr, const char *msg)
{
    if (!ch_call_valid(call)) return;
    ch_call_add_cfgerr(call, ptr, msg);
}

static const char *api_tenant(const c360_instance *inst)
{
    return inst && inst->magic == CH_INSTANCE_MAGIC ? inst->tenant : "";
}

static const char *api_connection(const c360_instance *inst)
{
    return inst && inst->magic == CH_INSTANCE_MAGIC ? inst->connection : "";
}

static const c360_host_api g_api = {
    .struct_size = sizeof(c360_host_api),
    .abi_major = C360_ABI_MAJOR,
    .abi_minor = C360_ABI_MINOR,
    .log = api_log,
    .now_ms = ch_now_ms,
    .monotonic_ms = ch_monotonic_ms,
    .free = api_free,
    .call_retry_after = api_retry_after,
    .call_error = api_call_error,
    .call_time_left_ms = api_time_left,
    .call_request_id = api_request_id,
    .config_error = api_config_error,
    .instance_tenant = api_tenant,
    .instance_connection = api_connection,
};

const c360_host_api *ch_host_api(void) { return &g_api; }
