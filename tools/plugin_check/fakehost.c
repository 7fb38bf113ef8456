/* fakehost.c -- the recording host table of c360-plugin-check: the
 * recording itself, the checks every blocking ABI 1.1 service shares, and
 * the table. The services live in fh_abi10.c and fh_<service>.c.
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
#include "fh_internal.h"
#include "fh_mem.h"

/* Keeps one runaway plugin (a log call in a loop) from eating the memory of
 * the tool: past this many entries per callback only a count is kept. */
#define FH_TRACE_MAX 1000

/* The fake connection. Its address is the c360_instance handle: the type is
 * opaque to plugins, and the tool only ever compares the pointer. */
static struct {
    const char *tenant;
    const char *connection;
} fh_inst = {"plugin-check-tenant", "plugin-check-conn"};

pthread_mutex_t fh_lock = PTHREAD_MUTEX_INITIALIZER;
/* All below guarded by fh_lock. */
static FILE *fh_echo;
static const char *fh_cb;          /* the running step's label, NULL between */
static const char *fh_cb_name;     /* its callback ("webhook_verify") */
static c360_call *fh_cb_call;      /* the call given to it, or NULL */
static unsigned fh_cb_flags;        /* FH_* */
static json_t *fh_trace;
static size_t fh_trace_dropped;
static json_t *fh_problems;
static json_t *fh_warnings;

/* The tool aborts on allocation failure, as the host does: there is nothing
 * useful to report about a plugin once the checker itself is out of memory. */
json_t *fh_need(json_t *v)
{
    if (v == NULL) {
        fputs("c360-plugin-check: out of memory\n", stderr);
        abort();
    }
    return v;
}

void *fh_xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    if (p == NULL)
        fh_need(NULL);
    return p;
}

char *fh_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = fh_xmalloc(n);
    memcpy(p, s, n);
    return p;
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
    for (; i < max && s[i] != '\0'; i++) {
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

/* Called with fh_lock held. */
static void fh_finding_locked(json_t *list, bool prefix, const char *fmt,
                              va_list ap)
{
    char buf[512];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n < 0)
        snprintf(buf, sizeof(buf), "(unprintable finding)");
    json_t *text = fh_json_text(buf);
    if (prefix && fh_cb != NULL) {
        /* Prefix with the callback, so a line in a list stands alone. */
        json_t *pre = fh_need(json_sprintf("%s: %s", fh_cb,
                                           json_string_value(text)));
        json_decref(text);
        text = pre;
    }
    json_array_append_new(list, text);
}

static void fh_lists_locked(void)
{
    if (fh_problems == NULL)
        fh_problems = fh_need(json_array());
    if (fh_warnings == NULL)
        fh_warnings = fh_need(json_array());
}

void fh_problem_locked(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fh_lists_locked();
    fh_finding_locked(fh_problems, true, fmt, ap);
    va_end(ap);
}

void fh_problem_bare_locked(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fh_lists_locked();
    fh_finding_locked(fh_problems, false, fmt, ap);
    va_end(ap);
}

void fh_warning_locked(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fh_lists_locked();
    fh_finding_locked(fh_warnings, true, fmt, ap);
    va_end(ap);
}

/* One argument value: strings quoted, numbers, lists in brackets. */
static void fh_print_value(FILE *out, const json_t *v)
{
    if (json_is_string(v)) {
        fputc('"', out);
        fh_print_line_text(out, json_string_value(v), 600);
        fputc('"', out);
    } else if (json_is_integer(v)) {
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        fputc('[', out);
        json_array_foreach(v, i, item) {
            if (i > 0)
                fputs(", ", out);
            fh_print_value(out, item);
        }
        fputc(']', out);
    } else {
        fputs("null", out);
    }
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
    json_t *args = json_object_get(e, "args");
    if (json_is_object(args)) {
        /* Named (ABI 1.1): key=value, in the order they were recorded. */
        const char *name;
        json_t *arg;
        bool first = true;
        json_object_foreach(args, name, arg) {
            fprintf(out, "%s%s=", first ? "" : ", ", name);
            fh_print_value(out, arg);
            first = false;
        }
    } else {
        size_t i;
        json_t *arg;
        json_array_foreach(args, i, arg) {
            if (i > 0)
                fputs(", ", out);
            fh_print_value(out, arg);
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
    const char *st = json_string_value(json_object_get(e, "status_text"));
    const char *detail = json_string_value(json_object_get(e, "detail"));
    if (st != NULL)
        fprintf(out, " -> %s", st);
    if (detail != NULL) {
        fputs(st != NULL ? ": " : " -> ", out);
        fh_print_line_text(out, detail, 600);
    }
    fputc('\n', out);
}

/* Takes ownership of e. Called with fh_lock held. */
void fh_record_locked(json_t *e)
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

json_t *fh_entry(const char *fn)
{
    json_t *e = fh_need(json_object());
    json_object_set_new(e, "fn", fh_need(json_string(fn)));
    json_object_set_new(e, "args", fh_need(json_array()));
    return e;
}

void fh_arg_str(json_t *e, const char *s)
{
    json_array_append_new(json_object_get(e, "args"), fh_json_text(s));
}

void fh_arg_int(json_t *e, json_int_t v)
{
    json_array_append_new(json_object_get(e, "args"),
                          fh_need(json_integer(v)));
}

json_t *fh_entry_named(const char *fn)
{
    json_t *e = fh_need(json_object());
    json_object_set_new(e, "fn", fh_need(json_string(fn)));
    json_object_set_new(e, "args", fh_need(json_object()));
    return e;
}

void fh_named_new(json_t *e, const char *name, json_t *v)
{
    json_object_set_new(json_object_get(e, "args"), name, fh_need(v));
}

void fh_named_str(json_t *e, const char *name, const char *s)
{
    fh_named_new(e, name, fh_json_text(s));
}

void fh_named_int(json_t *e, const char *name, json_int_t v)
{
    fh_named_new(e, name, json_integer(v));
}

void fh_detail(json_t *e, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
        snprintf(buf, sizeof(buf), "(unprintable)");
    va_end(ap);
    json_object_set_new(e, "detail", fh_json_text(buf));
}

int32_t fh_status(json_t *e, int32_t st)
{
    json_object_set_new(e, "status", fh_need(json_integer(st)));
    json_object_set_new(e, "status_text",
                        fh_need(json_string(c360_strstatus(st))));
    return st;
}

const char *fh_step_locked(void)
{
    return fh_cb != NULL ? fh_cb : "(no callback)";
}

bool fh_in_step_locked(void)
{
    return fh_cb != NULL;
}

const char *fh_callback_locked(void)
{
    if (fh_cb == NULL)
        return NULL;
    return fh_cb_name != NULL ? fh_cb_name : fh_cb;
}

unsigned fh_flags_locked(void)
{
    return fh_cb_flags;
}

bool fh_step_has_call_locked(void)
{
    return fh_cb_call != NULL || (fh_cb_flags & FH_LOADER_CALL);
}

/* Checks the call handle a plugin passed to service fn. Returns whether it
 * may be used (dereferenced). Called with fh_lock held.
 *
 * The pointer is compared with the call the tool handed out before anything
 * reads through it: a handle kept from an earlier callback points at a dead
 * stack frame, and reading its magic would be undefined (and could even
 * happen to look valid). Only when the tool does not know the call (init,
 * whose call the loader makes) does ch_call_valid judge by the magic. */
bool fh_call_ok_locked(const char *fn, c360_call *call)
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
/* What every blocking ABI 1.1 service checks first                          */
/* ------------------------------------------------------------------------ */

int32_t fh_gate_locked(json_t *e, const char *fn, c360_call *call)
{
    /* The thread first, as in hostapi.c: a blocking call from the event
     * loop or the main thread is refused whatever its arguments. */
    if (fh_cb_flags & (FH_EVENT_LOOP | FH_MAIN_THREAD)) {
        const char *cb = fh_cb_name != NULL ? fh_cb_name : fh_cb;
        bool same = strcmp(cb, fh_cb) == 0;
        fh_problem_bare_locked(
            "%s called blocking service %s%s%s%s: c360d refuses it there "
            "(C360_EDENIED), since the callback runs on the %s; use it from "
            "a worker callback (instance_open, tick, event, deliver, "
            "disconnect)", cb, fn, same ? "" : " (in ", same ? "" : fh_cb,
            same ? "" : ")",
            (fh_cb_flags & FH_EVENT_LOOP)
                ? "event loop, where one wait stalls every tenant's webhooks"
                : "main thread");
        fh_detail(e, "refused: %s must not block", cb);
        return fh_status(e, C360_EDENIED);
    }
    if (!fh_call_ok_locked(fn, call)) {
        fh_detail(e, "refused: not the call handle of this callback");
        return fh_status(e, C360_EINVAL);
    }
    /* Per-connection services take the connection from the call, never
     * from the plugin: a call without one (init's) gets nothing. */
    if ((const void *)call->inst != (const void *)&fh_inst) {
        fh_problem_locked("host.%s needs a connection, but this callback's "
                          "call acts for none (C360_EINVAL)", fn);
        fh_detail(e, "refused: the call acts for no connection");
        return fh_status(e, C360_EINVAL);
    }
    return C360_OK;
}

int32_t fh_invalid_locked(json_t *e, const char *fn, const char *why)
{
    fh_detail(e, "%s", why);
    fh_warning_locked("host.%s: %s (C360_EINVAL)", fn, why);
    return fh_status(e, C360_EINVAL);
}

void fh_call_reason_locked(c360_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ch_call_set_error(call, fmt, ap);
    va_end(ap);
}

const char *fh_call_connection(const c360_call *call)
{
    /* fh_gate_locked admits only calls for the tool's one connection. */
    (void)call;
    return fh_inst.connection;
}

/* Every member up to ABI 1.8: the table claims sizeof(c360_host_api), so
 * a plugin's C360_HOST_HAS finds each service, and each one must be there.
 * The 1.2 pipeline services (fh_pipeline.c) are faked with the contract of
 * connector_api.h and docs/pipeline.md, so that a plugin written for the
 * pipeline can be checked before (and independently of) c360d's own
 * implementation in host/pipeline/. */
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
    /* ABI 1.1 */
    .state_get = fh_state_get,
    .state_set = fh_state_set,
    .state_cas = fh_state_cas,
    .state_delete = fh_state_delete,
    .state_incr = fh_state_incr,
    .secret_get = fh_secret_get,
    .secret_put = fh_secret_put,
    .secret_delete = fh_secret_delete,
    .secret_free = fh_secret_free,
    .ratelimit_take = fh_ratelimit_take,
    .ratelimit_report = fh_ratelimit_report,
    .ratelimit_feed_response = fh_ratelimit_feed_response,
    .audit = fh_audit,
    .http = fh_http,
    .http_free = fh_http_free,
    .oauth_token = fh_oauth_token,
    .oauth_exchange = fh_oauth_exchange,
    .oauth_token_rejected = fh_oauth_token_rejected,
    .hmac_sha256 = fh_hmac_sha256,
    .sha256 = fh_sha256,
    .ct_equal = fh_ct_equal,
    .base64_encode = fh_base64_encode,
    .base64_decode = fh_base64_decode,
    .hex_encode = fh_hex_encode,
    .random_bytes = fh_random_bytes,
    /* ABI 1.2 */
    .call_dedup_key = fh_call_dedup_key,
    .route_event = fh_route_event,
    .instance_route_keys = fh_instance_route_keys,
    .record_emit = fh_record_emit,
    .connection_status = fh_connection_status,
    /* ABI 1.6 */
    .state_set_on_commit = fh_state_set_on_commit,
    /* ABI 1.8 */
    .hmac_sha256_key_new = fh_hmac_sha256_key_new,
    .hmac_sha256_keyed = fh_hmac_sha256_keyed,
    .hmac_sha256_key_free = fh_hmac_sha256_key_free,
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

void fh_begin(const char *label, const char *callback, c360_call *call,
              unsigned flags)
{
    pthread_mutex_lock(&fh_lock);
    fh_lists_locked();
    json_decref(fh_trace);
    fh_trace = fh_need(json_array());
    fh_trace_dropped = 0;
    fh_cb = label;
    fh_cb_name = callback;
    fh_cb_call = call;
    fh_cb_flags = flags;
    fh_pipeline_begin_locked();
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
    fh_cb_name = NULL;
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

void fh_finish(void)
{
    pthread_mutex_lock(&fh_lock);
    fh_mem_finish_locked();
    fh_state_reset_locked();
    fh_secrets_reset_locked();
    fh_pipeline_reset_locked();
    pthread_mutex_unlock(&fh_lock);
}
