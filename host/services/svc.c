#include "svc.h"

#include "call.h"
#include "instance.h"

ch_svc_limits ch_svc_limits_current = {
    .state_max_value = 1024 * 1024,
    .secret_max_value = 64 * 1024,
};

int32_t ch_svc_scope(c360_call *call, ch_scope *out)
{
    if (!ch_call_valid(call)) return C360_EINVAL;
    const c360_instance *inst = call->inst;
    if (!inst || inst->magic != CH_INSTANCE_MAGIC) return C360_EINVAL;
    out->tenant = inst->tenant;
    out->connection = inst->connection;
    out->plugin = inst->plugin;
    out->request_id = call->request_id;
    return C360_OK;
}
