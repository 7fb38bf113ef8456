/* fh_abi10.c -- the ABI 1.0 services of the fake host: logging, clocks,
 * the call's outcome (retry delay, error, config errors), the connection's
 * identity. They act on the host's own c360_call (call.h), exactly as in
 * c360d; what the fake adds is a trace entry per call and the checks of
 * rules that c360d would only notice as a crash or a dropped call (a stale
 * call handle, a config error outside validate_config, ...). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "fh_internal.h"

static const char *fh_level_name(int32_t level)
{
    switch (level) {
    case C360_LOG_DEBUG: return "debug";
    case C360_LOG_INFO: return "info";
    case C360_LOG_WARN: return "warn";
    case C360_LOG_ERROR: return "error";
    default: return NULL;
    }
}

void fh_log(c360_call *call, int32_t level, const char *fmt, ...)
{
    char msg[FH_LOG_MAX + 1];
    if (fmt == NULL) {
        snprintf(msg, sizeof(msg), "(null format)");
    } else {
        va_list ap;
        va_start(ap, fmt);
        /* Truncation is the documented behaviour, not an error. */
        if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
            snprintf(msg, sizeof(msg), "(unprintable message)");
        va_end(ap);
    }

    pthread_mutex_lock(&fh_lock);
    if (call != NULL) {
        fh_call_ok_locked("log", call);
    } else if (fh_in_step_locked() && fh_step_has_call_locked()) {
        /* NULL is the ABI's own answer where a callback gets no call (fini,
         * instance_close); where it has one, NULL only loses the tags. */
        fh_warning_locked("host.log with a NULL call although this callback "
                          "has one: the line carries no plugin, connection "
                          "or request id");
    }
    const char *name = fh_level_name(level);
    char unknown[32];
    if (name == NULL) {
        fh_problem_locked("host.log with unknown level %" PRId32, level);
        snprintf(unknown, sizeof(unknown), "level %" PRId32, level);
        name = unknown;
    }
    if (fmt == NULL)
        fh_problem_locked("host.log with a NULL format");
    if (fh_flags_locked() & FH_EVENT_LOOP)
        fh_warning_locked("host.log from a callback that runs on the event "
                          "loop: logging writes, and this callback must not "
                          "block (host->call_error only copies)");
    json_t *e = fh_need(json_object());
    json_object_set_new(e, "fn", fh_need(json_string("log")));
    json_object_set_new(e, "level", fh_need(json_string(name)));
    json_object_set_new(e, "msg", fh_json_text(msg));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

int64_t fh_now_ms(void)
{
    int64_t t = ch_now_ms();
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("now_ms");
    json_object_set_new(e, "result", fh_need(json_integer(t)));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return t;
}

int64_t fh_monotonic_ms(void)
{
    int64_t t = ch_monotonic_ms();
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("monotonic_ms");
    json_object_set_new(e, "result", fh_need(json_integer(t)));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return t;
}

void fh_call_retry_after(c360_call *call, uint32_t delay_ms)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("call_retry_after");
    fh_arg_int(e, delay_ms);
    if (fh_call_ok_locked("call_retry_after", call)) {
        call->retry_after_ms = delay_ms;
        call->retry_set = 1;
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

void fh_call_error(c360_call *call, const char *fmt, ...)
{
    char msg[CH_CALL_ERROR_MAX];
    va_list ap;
    if (fmt == NULL) {
        snprintf(msg, sizeof(msg), "(null format)");
    } else {
        va_start(ap, fmt);
        if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
            snprintf(msg, sizeof(msg), "(unprintable message)");
        va_end(ap);
    }

    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("call_error");
    fh_arg_str(e, msg);
    if (fmt == NULL)
        fh_problem_locked("host.call_error with a NULL format");
    if (fh_call_ok_locked("call_error", call) && fmt != NULL) {
        /* Through the host's own setter, so truncation and storage are
         * exactly c360d's. It takes a va_list; start a fresh one. */
        va_start(ap, fmt);
        ch_call_set_error(call, fmt, ap);
        va_end(ap);
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

int64_t fh_call_time_left_ms(c360_call *call)
{
    int64_t left = INT64_MAX;
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("call_time_left_ms");
    if (fh_call_ok_locked("call_time_left_ms", call) && call->deadline_ms != 0)
        left = call->deadline_ms - ch_monotonic_ms();
    json_object_set_new(e, "result", fh_need(json_integer(left)));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return left;
}

const char *fh_call_request_id(c360_call *call)
{
    /* A valid string even for a bad handle: the problem is recorded, and
     * the plugin should not crash on top of it. */
    const char *id = "";
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("call_request_id");
    if (fh_call_ok_locked("call_request_id", call))
        id = call->request_id;
    json_object_set_new(e, "result", fh_json_text(id));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return id;
}

void fh_config_error(c360_call *call, const char *json_pointer,
                            const char *message)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("config_error");
    fh_arg_str(e, json_pointer);
    fh_arg_str(e, message);
    bool ok = fh_call_ok_locked("config_error", call);
    if (fh_in_step_locked() && !(fh_flags_locked() & FH_VALIDATING)) {
        fh_problem_locked("host.config_error outside validate_config");
        ok = false;
    }
    if (json_pointer == NULL || message == NULL) {
        fh_problem_locked("host.config_error with a NULL %s",
                          json_pointer == NULL ? "pointer" : "message");
        ok = false;
    } else if (json_pointer[0] != '\0' && json_pointer[0] != '/') {
        /* RFC 6901: "" (the whole document) or "/" followed by tokens. */
        fh_problem_locked("host.config_error pointer \"%.80s\" is not a "
                          "JSON Pointer (must be \"\" or start with '/')",
                          json_pointer);
    }
    if (ok)
        ch_call_add_cfgerr(call, json_pointer, message);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

/* Both identity services: the same checks, a different field. */
static const char *fh_instance_id(const char *fn, const c360_instance *inst,
                                  const char *value)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry(fn);
    if ((const void *)inst != (const void *)fh_instance()) {
        char addr[48];
        snprintf(addr, sizeof(addr), "bad handle %p", (const void *)inst);
        fh_arg_str(e, addr);
        fh_problem_locked("host.%s(%p): not an instance handle the host "
                          "gave out", fn, (const void *)inst);
        value = "";
    } else {
        fh_arg_str(e, "inst");
    }
    json_object_set_new(e, "result", fh_json_text(value));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return value;
}

const char *fh_instance_tenant(const c360_instance *inst)
{
    return fh_instance_id("instance_tenant", inst, fh_instance_tenant_id());
}

const char *fh_instance_connection(const c360_instance *inst)
{
    return fh_instance_id("instance_connection", inst,
                          fh_instance_connection_id());
}
