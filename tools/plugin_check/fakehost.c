/* fakehost.c -- the recording host table of c360-plugin-check.
 *
 * The point of the tool is to run a plugin as the host would, so the call
 * object is the host's own (call.h): call_error and config_error store into
 * it exactly as in c360d, and the tool reads the outcome from there. What
 * this file adds is a record of every host call, and checks of the rules a
 * real host would only notice as a crash or a silently dropped call. */
#include "fakehost.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

/* The host truncates log lines at 2 KiB (connector_api.h); so does the fake,
 * so that a plugin sees the same behaviour here as in production. */
#define FH_LOG_MAX 2048
/* Keeps one runaway plugin (a log call in a loop) from eating the memory of
 * the tool: past this many entries per callback only a count is kept. */
#define FH_TRACE_MAX 1000

/* The fake connection. Its address is the c360_instance handle: the type is
 * opaque to plugins, and the tool only ever compares the pointer. */
static struct {
    const char *tenant;
    const char *connection;
} fh_inst = {"plugin-check-tenant", "plugin-check-conn"};

static pthread_mutex_t fh_lock = PTHREAD_MUTEX_INITIALIZER;
/* All below guarded by fh_lock. */
static FILE *fh_echo;
static const char *fh_cb;          /* the running callback, NULL between */
static c360_call *fh_cb_call;      /* the call given to it, or NULL */
static unsigned fh_cb_flags;        /* FH_* */
static json_t *fh_trace;
static size_t fh_trace_dropped;
static json_t *fh_problems;
static json_t *fh_warnings;

/* The tool aborts on allocation failure, as the host does: there is nothing
 * useful to report about a plugin once the checker itself is out of memory. */
static json_t *fh_need(json_t *v)
{
    if (v == NULL) {
        fputs("c360-plugin-check: out of memory\n", stderr);
        abort();
    }
    return v;
}

json_t *fh_json_text(const char *s)
{
    if (s == NULL)
        return fh_need(json_string("(null)"));
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    /* Not valid UTF-8 (json_string refuses it): keep ASCII, mark the rest. */
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        fh_need(NULL);
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[n] = '\0';
    j = fh_need(json_string(copy));
    free(copy);
    return j;
}

void fh_print_line_text(FILE *out, const char *s, size_t max)
{
    if (s == NULL) {
        fputs("(null)", out);
        return;
    }
    size_t i = 0;
    for (; s[i] != '\0' && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    if (s[i] != '\0')
        fputs("...", out);
}

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

/* Called with fh_lock held. */
static void fh_finding_locked(json_t *list, const char *fmt, va_list ap)
{
    char buf[512];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n < 0)
        snprintf(buf, sizeof(buf), "(unprintable finding)");
    json_t *text = fh_json_text(buf);
    if (fh_cb != NULL) {
        /* Prefix with the callback, so a line in a list stands alone. */
        json_t *pre = fh_need(json_sprintf("%s: %s", fh_cb,
                                           json_string_value(text)));
        json_decref(text);
        text = pre;
    }
    json_array_append_new(list, text);
}

static void fh_problem_locked(const char *fmt, ...) C360_PRINTF(1, 2);
static void fh_problem_locked(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fh_finding_locked(fh_problems, fmt, ap);
    va_end(ap);
}

static void fh_warning_locked(const char *fmt, ...) C360_PRINTF(1, 2);
static void fh_warning_locked(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fh_finding_locked(fh_warnings, fmt, ap);
    va_end(ap);
}

void fh_print_entry(FILE *out, const json_t *e)
{
    const char *fn = json_string_value(json_object_get(e, "fn"));
    fputs("  host.", out);
    if (strcmp(fn, "log") == 0) {
        fprintf(out, "log[%s] ",
                json_string_value(json_object_get(e, "level")));
        fh_print_line_text(out, json_string_value(json_object_get(e, "msg")),
                           FH_LOG_MAX);
        fputc('\n', out);
        return;
    }
    fprintf(out, "%s(", fn);
    size_t i;
    json_t *arg;
    json_array_foreach(json_object_get(e, "args"), i, arg) {
        if (i > 0)
            fputs(", ", out);
        if (json_is_string(arg)) {
            fputc('"', out);
            fh_print_line_text(out, json_string_value(arg), 600);
            fputc('"', out);
        } else if (json_is_integer(arg)) {
            fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(arg));
        } else {
            fputs("null", out);
        }
    }
    fputc(')', out);
    json_t *res = json_object_get(e, "result");
    if (json_is_string(res)) {
        fputs(" = \"", out);
        fh_print_line_text(out, json_string_value(res), 600);
        fputc('"', out);
    } else if (json_is_integer(res)) {
        fprintf(out, " = %" JSON_INTEGER_FORMAT, json_integer_value(res));
    }
    fputc('\n', out);
}

/* Takes ownership of e. Called with fh_lock held. */
static void fh_record_locked(json_t *e)
{
    if (fh_trace == NULL) {
        /* Outside any callback (a thread of the plugin that outlived one,
         * or a call from a destructor): the entry has no home, but the use
         * itself is worth a problem. */
        fh_problem_locked("host.%s called outside any plugin callback",
                          json_string_value(json_object_get(e, "fn")));
        json_decref(e);
        return;
    }
    if (json_array_size(fh_trace) >= FH_TRACE_MAX) {
        fh_trace_dropped++;
        json_decref(e);
        return;
    }
    if (fh_echo != NULL) {
        fh_print_entry(fh_echo, e);
        /* Flushed per line: if the plugin crashes next, this is the last
         * thing it did, and it must not die in a stdio buffer. */
        fflush(fh_echo);
    }
    json_array_append_new(fh_trace, e);
}

static json_t *fh_entry(const char *fn)
{
    json_t *e = fh_need(json_object());
    json_object_set_new(e, "fn", fh_need(json_string(fn)));
    json_object_set_new(e, "args", fh_need(json_array()));
    return e;
}

static void fh_arg_str(json_t *e, const char *s)
{
    json_array_append_new(json_object_get(e, "args"), fh_json_text(s));
}

static void fh_arg_int(json_t *e, json_int_t v)
{
    json_array_append_new(json_object_get(e, "args"),
                          fh_need(json_integer(v)));
}

/* Checks the call handle a plugin passed to service fn. Returns whether it
 * may be used (dereferenced). Called with fh_lock held.
 *
 * The pointer is compared with the call the tool handed out before anything
 * reads through it: a handle kept from an earlier callback points at a dead
 * stack frame, and reading its magic would be undefined (and could even
 * happen to look valid). Only when the tool does not know the call (init,
 * whose call the loader makes) does ch_call_valid judge by the magic. */
static bool fh_call_ok_locked(const char *fn, c360_call *call)
{
    if (call == NULL) {
        fh_problem_locked("host.%s called with a NULL c360_call", fn);
        return false;
    }
    if (fh_cb == NULL)
        return false; /* reported by fh_record_locked */
    if (fh_cb_call != NULL) {
        if (call != fh_cb_call) {
            fh_problem_locked("host.%s called with a c360_call that is not "
                              "the one of this callback (kept from an "
                              "earlier one?)", fn);
            return false;
        }
        return true;
    }
    if (!(fh_cb_flags & FH_LOADER_CALL)) {
        fh_problem_locked("host.%s called with a c360_call, but this "
                          "callback is given none (kept from an earlier "
                          "one?)", fn);
        return false;
    }
    if (!ch_call_valid(call)) {
        fh_problem_locked("host.%s called with an invalid c360_call", fn);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* The services                                                              */
/* ------------------------------------------------------------------------ */

static void fh_log(c360_call *call, int32_t level, const char *fmt, ...)
    C360_PRINTF(3, 4);
static void fh_log(c360_call *call, int32_t level, const char *fmt, ...)
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
    fh_call_ok_locked("log", call);
    const char *name = fh_level_name(level);
    char unknown[32];
    if (name == NULL) {
        fh_problem_locked("host.log with unknown level %" PRId32, level);
        snprintf(unknown, sizeof(unknown), "level %" PRId32, level);
        name = unknown;
    }
    if (fmt == NULL)
        fh_problem_locked("host.log with a NULL format");
    if (fh_cb_flags & FH_EVENT_LOOP)
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

static int64_t fh_now_ms(void)
{
    int64_t t = ch_now_ms();
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("now_ms");
    json_object_set_new(e, "result", fh_need(json_integer(t)));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return t;
}

static int64_t fh_monotonic_ms(void)
{
    int64_t t = ch_monotonic_ms();
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("monotonic_ms");
    json_object_set_new(e, "result", fh_need(json_integer(t)));
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return t;
}

static void fh_free(void *ptr)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("free");
    char addr[32];
    snprintf(addr, sizeof(addr), "%p", ptr);
    fh_arg_str(e, ptr == NULL ? "NULL" : addr);
    /* In ABI 1.0 no service hands memory to the plugin, so any pointer
     * other than NULL is one the host never allocated: freeing it in the
     * real host would corrupt its heap. Not freed here either. */
    if (ptr != NULL)
        fh_problem_locked("host.free(%p): the host never allocated it (no "
                          "ABI 1.0 service hands out memory)", ptr);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

static void fh_call_retry_after(c360_call *call, uint32_t delay_ms)
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

static void fh_call_error(c360_call *call, const char *fmt, ...)
    C360_PRINTF(2, 3);
static void fh_call_error(c360_call *call, const char *fmt, ...)
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

static int64_t fh_call_time_left_ms(c360_call *call)
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

static const char *fh_call_request_id(c360_call *call)
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

static void fh_config_error(c360_call *call, const char *json_pointer,
                            const char *message)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry("config_error");
    fh_arg_str(e, json_pointer);
    fh_arg_str(e, message);
    bool ok = fh_call_ok_locked("config_error", call);
    if (fh_cb != NULL && !(fh_cb_flags & FH_VALIDATING)) {
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
    if ((const void *)inst != (const void *)&fh_inst) {
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

static const char *fh_instance_tenant(const c360_instance *inst)
{
    return fh_instance_id("instance_tenant", inst, fh_inst.tenant);
}

static const char *fh_instance_connection(const c360_instance *inst)
{
    return fh_instance_id("instance_connection", inst, fh_inst.connection);
}

static const c360_host_api fh_api = {
    .struct_size = (uint32_t)sizeof(c360_host_api),
    .abi_major = C360_ABI_MAJOR,
    .abi_minor = C360_ABI_MINOR,
    .log = fh_log,
    .now_ms = fh_now_ms,
    .monotonic_ms = fh_monotonic_ms,
    .free = fh_free,
    .call_retry_after = fh_call_retry_after,
    .call_error = fh_call_error,
    .call_time_left_ms = fh_call_time_left_ms,
    .call_request_id = fh_call_request_id,
    .config_error = fh_config_error,
    .instance_tenant = fh_instance_tenant,
    .instance_connection = fh_instance_connection,
};

/* ------------------------------------------------------------------------ */
/* Control by the tool                                                       */
/* ------------------------------------------------------------------------ */

const c360_host_api *fh_table(void)
{
    return &fh_api;
}

c360_instance *fh_instance(void)
{
    /* Never dereferenced as a c360_instance: the type is incomplete here
     * and in the plugin; the address is the identity. */
    return (c360_instance *)(void *)&fh_inst;
}

const char *fh_instance_tenant_id(void)
{
    return fh_inst.tenant;
}

const char *fh_instance_connection_id(void)
{
    return fh_inst.connection;
}

void fh_set_echo(FILE *out)
{
    pthread_mutex_lock(&fh_lock);
    fh_echo = out;
    pthread_mutex_unlock(&fh_lock);
}

static void fh_lists_locked(void)
{
    if (fh_problems == NULL)
        fh_problems = fh_need(json_array());
    if (fh_warnings == NULL)
        fh_warnings = fh_need(json_array());
}

void fh_begin(const char *label, c360_call *call, unsigned flags)
{
    pthread_mutex_lock(&fh_lock);
    fh_lists_locked();
    json_decref(fh_trace);
    fh_trace = fh_need(json_array());
    fh_trace_dropped = 0;
    fh_cb = label;
    fh_cb_call = call;
    fh_cb_flags = flags;
    pthread_mutex_unlock(&fh_lock);
}

json_t *fh_end(void)
{
    pthread_mutex_lock(&fh_lock);
    json_t *t = fh_trace;
    if (fh_trace_dropped > 0) {
        json_t *e = fh_entry("(trace truncated)");
        fh_arg_int(e, (json_int_t)fh_trace_dropped);
        if (fh_echo != NULL)
            fprintf(fh_echo, "  ... %zu more host calls not shown\n",
                    fh_trace_dropped);
        json_array_append_new(t, e);
    }
    fh_trace = NULL;
    fh_cb = NULL;
    fh_cb_call = NULL;
    fh_cb_flags = 0;
    pthread_mutex_unlock(&fh_lock);
    return t != NULL ? t : fh_need(json_array());
}

void fh_take_findings(json_t *problems, json_t *warnings)
{
    pthread_mutex_lock(&fh_lock);
    fh_lists_locked();
    json_array_extend(problems, fh_problems);
    json_array_extend(warnings, fh_warnings);
    json_array_clear(fh_problems);
    json_array_clear(fh_warnings);
    pthread_mutex_unlock(&fh_lock);
}
