/* main.c -- c360-plugin-check: loads one connector plugin exactly as c360d
 * does (the host's own loader, from c360core) and runs each of its callbacks
 * once against a recording fake host (fakehost.c), so that a plugin author
 * sees what the host would see, without Redis, a network or a provider.
 *
 *   c360-plugin-check [--config JSON | --config-file FILE] [--json]
 *                     [--http-status N] [--secret NAME=VALUE]...
 *                     [--verbose] PATH.so
 *
 * The fake host offers the whole host table (ABI 1.3 and 1.4 added no
 * service to 1.2's): state and secrets in memory (--secret seeds them),
 * rate limits that always allow, audit, HTTP that never touches the network
 * (a canned 200 with body "{}", or status N with --http-status, to run a
 * plugin's error paths), OAuth with a fake token, the host's own crypto
 * helpers, and the pipeline services (dedup key, routing of app-level
 * webhooks, routing keys, records, connection status). Each call is checked
 * as c360d checks it and shown in the trace (never a secret's value, a
 * header's value or a record's content). After each callback the tool says
 * what it did for the pipeline: the records it emitted (count, types, ids),
 * the routing keys it registered or routed to, the dedup key it named. An
 * app-level webhook that webhook_verify accepts is handed to webhook_route,
 * as c360d does. A plugin with oauth_connect (ABI 1.3) has it called right
 * after instance_open, and its answer checked and copied as c360d's admin
 * API does (host_secret released as c360d releases it). A destination with
 * deliver_batch (ABI 1.4) gets a batch of three records after deliver, and
 * what c360d would do with each record's status is said per record. A
 * webhook source with event_prefetch (ABI 1.7) is shown two events before
 * the event step, as a worker shows a turn's events; a record it emits
 * is a problem and a write it stages a warning (c360d refuses both).
 * Besides the ABI 1.0 rules, these count as problems:
 *   - a blocking service called from init, fini, validate_config,
 *     webhook_verify or webhook_route (c360d refuses it with C360_EDENIED;
 *     so does the tool);
 *   - host->route_event outside webhook_route, host->record_emit outside
 *     event and tick (C360_EUNSUPPORTED);
 *   - a record that host->record_emit refuses (type or id not 1..200
 *     printable ASCII, JSON that is not an object, over 1 MiB): a plugin
 *     that ignores the status returns ok, and c360d commits the callback's
 *     work (acknowledges its event) without the record;
 *   - a host buffer released with the wrong function (a secret with
 *     host->free, ...), or with a pointer the host never handed out;
 *   - host buffers still held once fini has run ("plugin leaked N host
 *     buffers: state_get x1 (tick, ...)");
 *   - an oauth_connect answer c360d refuses (no https authorize_url or
 *     token_url, no client_id, extra_params that repeat a parameter the
 *     host sets...), or a host_secret that is not a secret the host handed
 *     out;
 *   - a deliver_batch that leaves a record's status unset, or sets one the
 *     host does not know (c360d dead-letters that record as a permanent
 *     error).
 *
 * Warnings ("warning:") point at likely mistakes that c360d tolerates, e.g.
 * an accepted app-level webhook that webhook_route routes to no connection
 * (c360d refuses it as unrouted). Info lines ("info:") say how c360d will
 * treat the plugin, e.g. that without webhook_route its app-level URL
 * answers 404. Neither changes the exit status.
 *
 * Exit status: 0 no problem found; 1 refused by the loader, or at least one
 * problem (one "problem:" line each); 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "call.h"
#include "connector_api.h"
#include "err.h"
#include "fakehost.h"
#include "loader.h"
#include "log.h"

/* Deadlines given to the calls. webhook_verify and validate_config run on
 * the event loop in c360d, where a second is already far too long; worker
 * callbacks get the order of a real tick. */
#define PC_LOOP_TIMEOUT_MS 1000
#define PC_WORKER_TIMEOUT_MS 30000
/* Above this, a callback that must not block is reported (as a warning: a
 * loaded machine or a sanitizer build can be slow on its own). */
#define PC_LOOP_SLOW_MS 50
/* A retry delay above a day is a unit mistake (seconds as ms * 1000, or
 * an expiry time instead of a delay), not a plan. */
#define PC_RETRY_MAX_MS (24u * 60u * 60u * 1000u)
/* --config-file is read whole; a connection config is a few KiB. */
#define PC_CONFIG_MAX (1024 * 1024)

static const char pc_usage[] =
    "usage: c360-plugin-check [--config JSON | --config-file FILE] [--json]\n"
    "                         [--http-status N] [--secret NAME=VALUE]...\n"
    "                         [--verbose] PATH.so\n"
    "\n"
    "Loads a connector plugin as c360d does, prints its descriptor and config\n"
    "schema, and runs each callback once against a recording fake host that\n"
    "offers every host service: state and secrets in memory, rate limits\n"
    "that always allow, audit, HTTP without a network (a canned response),\n"
    "OAuth with a fake token, the host's crypto helpers, and the pipeline\n"
    "(dedup keys, routing of app-level webhooks through webhook_route,\n"
    "routing keys, records, connection status). The records each callback\n"
    "emits are listed by type, id and size. A plugin's oauth_connect\n"
    "(ABI 1.3) runs after instance_open; its answer is checked as c360d does.\n"
    "A destination's deliver_batch (ABI 1.4) gets three records after\n"
    "deliver; each record's status is checked. A webhook source's\n"
    "event_prefetch (ABI 1.7) is shown two events before event.\n"
    "\n"
    "  --config JSON       connection config to validate and open with\n"
    "                      (default {})\n"
    "  --config-file FILE  the same, read from FILE\n"
    "  --json              print one JSON document instead of text\n"
    "  --http-status N     answer every host->http call with status N\n"
    "                      (100..599; default 200, body \"{}\"), to run the\n"
    "                      plugin's error paths\n"
    "  --secret NAME=VALUE a secret of the connection, stored before the run\n"
    "                      (as the connect flow would); repeatable. Test\n"
    "                      values only: argv is visible on the machine\n"
    "  --verbose           show the host's own log lines (stderr)\n"
    "\n"
    "Problems include blocking services called from init, fini,\n"
    "validate_config, webhook_verify or webhook_route (refused with\n"
    "C360_EDENIED, as c360d does), route_event outside webhook_route,\n"
    "record_emit outside event and tick, records the host refuses (not a\n"
    "JSON object, over 1 MiB, bad type or id), host buffers released with\n"
    "the wrong function, host buffers still held when the plugin is\n"
    "unloaded, an oauth_connect answer c360d would refuse, and a\n"
    "deliver_batch that leaves a record without a (known) status.\n"
    "\n"
    "Exit status: 0 no problems, 1 refused or problems found, 2 usage error.\n";

/* One run of the tool: where the findings go and how to print. */
typedef struct pc_run {
    bool json;
    json_t *steps;    /* array of step objects (--json) */
    json_t *problems; /* array of strings */
    json_t *warnings; /* array of strings */
    json_t *notes;    /* array of strings: "info:" lines */
    bool has_route;   /* the plugin offers webhook_route */
    bool noted_route_keys; /* the info line about routing keys is out */
} pc_run;

/* The tool aborts on allocation failure, like the host. */
static _Noreturn void pc_oom(void)
{
    fputs("c360-plugin-check: out of memory\n", stderr);
    abort();
}

static json_t *pc_need(json_t *v)
{
    if (v == NULL) pc_oom();
    return v;
}

static void pc_finding(json_t *list, const char *label, const char *fmt,
                       va_list ap)
{
    char buf[512];
    int off = snprintf(buf, sizeof(buf), "%s: ", label);
    if (off < 0 || (size_t)off >= sizeof(buf))
        off = 0;
    if (vsnprintf(buf + off, sizeof(buf) - (size_t)off, fmt, ap) < 0)
        snprintf(buf, sizeof(buf), "%s: (unprintable finding)", label);
    json_array_append_new(list, fh_json_text(buf));
}

static void pc_problem(pc_run *r, const char *label, const char *fmt, ...)
    C360_PRINTF(3, 4);
static void pc_problem(pc_run *r, const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_finding(r->problems, label, fmt, ap);
    va_end(ap);
}

static void pc_warning(pc_run *r, const char *label, const char *fmt, ...)
    C360_PRINTF(3, 4);
static void pc_warning(pc_run *r, const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_finding(r->warnings, label, fmt, ap);
    va_end(ap);
}

/* Not a finding: how c360d will treat the plugin, which its author may not
 * expect (an app-level URL that answers 404, say). */
static void pc_info(pc_run *r, const char *label, const char *fmt, ...)
    C360_PRINTF(3, 4);
static void pc_info(pc_run *r, const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_finding(r->notes, label, fmt, ap);
    va_end(ap);
}

/* Copies (at most 4 KiB of) a buffer that need not be NUL-terminated into a
 * string, for printing. */
static void pc_bytes_text(char *out, size_t cap, const void *p, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n > 0)
        memcpy(out, p, n);
    out[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Steps: one callback invocation each                                       */
/* ------------------------------------------------------------------------ */

/* Starts a step: the header line in text mode, the trace in the fake host. */
static json_t *pc_step_begin(pc_run *r, const char *label,
                             const char *callback, c360_call *call,
                             unsigned flags)
{
    json_t *step = pc_need(json_object());
    json_object_set_new(step, "callback", pc_need(json_string(callback)));
    if (strcmp(label, callback) != 0)
        json_object_set_new(step, "label", fh_json_text(label));
    if (!r->json) {
        printf("\n%s:\n", label);
        fflush(stdout);
    }
    fh_begin(label, callback, call, flags);
    return step;
}

/* Ends a step: keeps its trace and the fake host's findings. */
static void pc_step_end(pc_run *r, json_t *step)
{
    json_object_set_new(step, "trace", fh_end());
    fh_take_findings(r->problems, r->warnings);
    json_array_append_new(r->steps, step);
}

static void pc_step_skip(pc_run *r, const char *callback, const char *why)
{
    if (!r->json) {
        printf("\n%s: skipped (%s)\n", callback, why);
        return;
    }
    json_t *step = pc_need(json_object());
    json_object_set_new(step, "callback", pc_need(json_string(callback)));
    json_object_set_new(step, "skipped", fh_json_text(why));
    json_array_append_new(r->steps, step);
}

/* Records and checks what an int32_t callback returned. */
/* batch: the status is deliver_batch's return value, which c360d ignores
 * unless it is C360_ENOMEM; retry delays belong to the records. */
static void pc_status_ex(pc_run *r, json_t *step, const char *label,
                         int32_t st, const c360_call *call, int64_t elapsed_ms,
                         bool want_reason, bool batch)
{
    bool known = st >= 0 && st < C360_STATUS__COUNT;

    json_object_set_new(step, "status", pc_need(json_integer(st)));
    json_object_set_new(step, "status_text",
                        pc_need(json_string(c360_strstatus(st))));
    json_object_set_new(step, "elapsed_ms", pc_need(json_integer(elapsed_ms)));
    if (call->error[0] != '\0')
        json_object_set_new(step, "error", fh_json_text(call->error));
    if (call->retry_set)
        json_object_set_new(step, "retry_after_ms",
                            pc_need(json_integer(call->retry_after_ms)));
    if (!r->json) {
        printf("  -> %s (%" PRId32 ")", c360_strstatus(st), st);
        if (call->retry_set)
            printf(", retry after %" PRIu32 " ms", call->retry_after_ms);
        printf(", %" PRId64 " ms\n", elapsed_ms);
        if (call->error[0] != '\0') {
            fputs("  error: ", stdout);
            fh_print_line_text(stdout, call->error, CH_CALL_ERROR_MAX);
            fputc('\n', stdout);
        }
    }

    if (!known && !batch)
        pc_problem(r, label, "returned unknown status %" PRId32 " (the host "
                   "treats it as a permanent error)", st);
    bool deferral = st == C360_RETRY || st == C360_THROTTLED;
    bool delivery = strcmp(label, "deliver") == 0 || strcmp(label, "deliver_batch") == 0;
    if (st == C360_THROTTLED && !delivery)
        pc_warning(r, label, "returned \"%s\": only a delivery can be put off "
                   "unattempted; c360d counts it as \"%s\" here",
                   c360_strstatus(st), c360_strstatus(C360_RETRY));
    if (deferral && call->retry_set &&
        call->retry_after_ms > PC_RETRY_MAX_MS)
        pc_problem(r, label, "RETRY after %" PRIu32 " ms (%.1f h): more than "
                   "24 h, a unit mistake?", call->retry_after_ms,
                   call->retry_after_ms / 3600000.0);
    if (call->retry_set && !deferral && !batch)
        pc_warning(r, label, "call_retry_after was set, but the status is "
                   "\"%s\", so the delay is ignored", c360_strstatus(st));
    if (want_reason && known && st != C360_OK && !deferral &&
        call->error[0] == '\0')
        pc_warning(r, label, "failed (\"%s\") without a reason: operators "
                   "see nothing but the status (use host->call_error)",
                   c360_strstatus(st));
}

static void pc_status(pc_run *r, json_t *step, const char *label,
                      int32_t st, const c360_call *call, int64_t elapsed_ms,
                      bool want_reason)
{
    pc_status_ex(r, step, label, st, call, elapsed_ms, want_reason, false);
}

/* A member of a pipeline summary as an integer (0 when absent). */
static json_int_t pc_pl_int(const json_t *pl, const char *name)
{
    return json_integer_value(json_object_get(pl, name));
}

static void pc_print_quoted(const char *s)
{
    putchar('"');
    fh_print_line_text(stdout, s, 200);
    putchar('"');
}

/* Keeps (as "pipeline" in the step) and prints what the step `label` just
 * ended did with the ABI 1.2 pipeline services: the dedup key it named, the
 * routing keys it routed to or registered, the records it emitted and the
 * status it reported. `committed`: whether c360d would keep the records,
 * i.e. the callback returned ok. Returns the summary (owned by the step),
 * or NULL if the step used none of these services. */
static json_t *pc_pipeline_report(pc_run *r, json_t *step,
                                  const char *label, bool committed)
{
    json_t *pl = fh_step_pipeline();
    if (json_object_size(pl) == 0) {
        json_decref(pl);
        return NULL;
    }
    json_object_set_new(step, "pipeline", pl);
    /* Routing keys serve app-level webhooks, which reach a plugin only
     * through webhook_route: without it they are dead weight in c360d's
     * index. Said once, not per tick. */
    if (json_object_get(pl, "route_keys") != NULL && !r->has_route &&
        !r->noted_route_keys) {
        pc_info(r, label, "registered routing keys, but the plugin has no "
                "webhook_route: c360d routes no app-level webhook by them");
        r->noted_route_keys = true;
    }
    if (r->json)
        return pl;

    json_t *v = json_object_get(pl, "dedup_key");
    if (v != NULL) {
        fputs("  dedup key: ", stdout);
        pc_print_quoted(json_string_value(v));
        putchar('\n');
    }

    json_int_t nroutes = pc_pl_int(pl, "route_count");
    json_int_t ncalls = pc_pl_int(pl, "route_calls");
    if (nroutes > 0) {
        printf("  routed: %" JSON_INTEGER_FORMAT " routing key%s", nroutes,
               nroutes == 1 ? "" : "s");
        if (ncalls != nroutes)
            printf(" (%" JSON_INTEGER_FORMAT " route_event calls)", ncalls);
        putchar('\n');
        size_t i;
        json_t *rt;
        json_array_foreach(json_object_get(pl, "routes"), i, rt) {
            const json_t *dd = json_object_get(rt, "dedup_key");
            const json_t *conn = json_object_get(rt, "connection");
            fputs("    ", stdout);
            pc_print_quoted(json_string_value(json_object_get(rt,
                                                              "routing_key")));
            if (json_is_string(dd)) {
                fputs(" (dedup key ", stdout);
                pc_print_quoted(json_string_value(dd));
                putchar(')');
            }
            if (json_is_string(conn))
                printf(" -> %s\n", json_string_value(conn));
            else
                fputs(" -> no connection here registered it\n", stdout);
        }
        if (pc_pl_int(pl, "routes_not_listed") > 0)
            printf("    ... %" JSON_INTEGER_FORMAT " more\n",
                   pc_pl_int(pl, "routes_not_listed"));
    }

    json_int_t nrec = pc_pl_int(pl, "record_count");
    json_int_t nrefused = pc_pl_int(pl, "records_refused");
    if (nrec == 0 && nrefused > 0)
        printf("  records: none emitted, %" JSON_INTEGER_FORMAT " refused\n",
               nrefused);
    if (nrec > 0) {
        printf("  records: %" JSON_INTEGER_FORMAT " emitted", nrec);
        if (nrefused > 0)
            printf(" (and %" JSON_INTEGER_FORMAT " refused)", nrefused);
        printf(", %" JSON_INTEGER_FORMAT " bytes (", pc_pl_int(pl,
                                                             "record_bytes"));
        const char *type;
        json_t *count;
        bool first = true;
        json_object_foreach(json_object_get(pl, "record_types"), type, count) {
            printf("%s", first ? "" : ", ");
            fh_print_line_text(stdout, type, 200);
            printf(" x%" JSON_INTEGER_FORMAT, json_integer_value(count));
            first = false;
        }
        fputs(")\n", stdout);
        size_t i;
        json_t *rec;
        json_array_foreach(json_object_get(pl, "records"), i, rec) {
            fputs("    ", stdout);
            fh_print_line_text(stdout,
                               json_string_value(json_object_get(rec, "type")),
                               200);
            putchar(' ');
            fh_print_line_text(stdout,
                               json_string_value(json_object_get(rec, "id")),
                               200);
            printf(" (%" JSON_INTEGER_FORMAT " bytes)\n",
                   json_integer_value(json_object_get(rec, "size")));
        }
        if (pc_pl_int(pl, "records_not_listed") > 0)
            printf("    ... %" JSON_INTEGER_FORMAT " more\n",
                   pc_pl_int(pl, "records_not_listed"));
        if (!committed)
            puts("  (not committed: the callback did not return ok, so c360d "
                 "drops them and a retry emits them again)");
    }

    json_int_t nstaged = pc_pl_int(pl, "state_staged");
    if (nstaged > 0)
        printf("  state writes staged: %" JSON_INTEGER_FORMAT " (%s)\n", nstaged,
               committed ? "applied, as c360d applies them with the records"
                         : "dropped: the callback did not return ok");

    v = json_object_get(pl, "route_keys");
    if (v != NULL) {
        json_int_t n = pc_pl_int(v, "count");
        printf("  routing keys registered: %" JSON_INTEGER_FORMAT, n);
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(v, "keys"), i, k) {
            fputs(i == 0 ? ": " : ", ", stdout);
            fh_print_line_text(stdout, json_string_value(k), 200);
        }
        if ((size_t)n > json_array_size(json_object_get(v, "keys")))
            fputs(", ...", stdout);
        putchar('\n');
    }

    v = json_object_get(pl, "connection_status");
    if (v != NULL) {
        printf("  connection status: %s",
               json_string_value(json_object_get(v, "state")));
        const char *cause = json_string_value(json_object_get(v, "cause"));
        if (cause != NULL && cause[0] != '\0') {
            fputs(" (", stdout);
            pc_print_quoted(cause);
            putchar(')');
        }
        putchar('\n');
    }
    return pl;
}

/* validate_config on the sample config. Returns whether it passed. */
static bool pc_validate(pc_run *r, const char *plugin,
                        const ch_plugin_ops *ops, void *pdata,
                        const char *config, size_t config_len)
{
    const char *label = "validate_config";
    c360_call call;
    ch_call_init(&call, plugin, NULL, NULL, PC_LOOP_TIMEOUT_MS);
    json_t *step = pc_step_begin(r, label, label, &call,
                                 FH_VALIDATING | FH_EVENT_LOOP);
    int64_t t0 = ch_monotonic_ms();
    int32_t st = ops->validate_config(&call, pdata, config, config_len);
    int64_t elapsed = ch_monotonic_ms() - t0;
    json_object_set_new(step, "trace", fh_end());
    fh_take_findings(r->problems, r->warnings);
    /* No "failed without a reason" warning here: config errors are the
     * reason. */
    pc_status(r, step, label, st, &call, elapsed, false);

    json_t *errs = pc_need(json_array());
    for (size_t i = 0; i < call.cfgerr_count; i++) {
        json_t *e = pc_need(json_object());
        json_object_set_new(e, "pointer", fh_json_text(call.cfgerr[i].pointer));
        json_object_set_new(e, "message", fh_json_text(call.cfgerr[i].message));
        json_array_append_new(errs, e);
        if (!r->json) {
            fputs("  config error: ", stdout);
            fh_print_line_text(stdout, call.cfgerr[i].pointer, 200);
            fputs(": ", stdout);
            fh_print_line_text(stdout, call.cfgerr[i].message, 400);
            fputc('\n', stdout);
        }
        /* The pointer goes into the problem line too: that is the line a
         * script or a CI log shows. */
        pc_problem(r, label, "config %s: %s",
                   call.cfgerr[i].pointer[0] != '\0' ? call.cfgerr[i].pointer
                                                     : "(document)",
                   call.cfgerr[i].message);
    }
    json_object_set_new(step, "config_errors", errs);
    if (call.cfgerr_dropped > 0) {
        json_object_set_new(step, "config_errors_dropped",
                            pc_need(json_integer((json_int_t)call.cfgerr_dropped)));
        if (!r->json)
            printf("  (%zu more config errors not kept)\n", call.cfgerr_dropped);
    }

    if (st == C360_OK && call.cfgerr_count > 0)
        pc_problem(r, label, "returned ok but reported %zu config errors",
                   call.cfgerr_count);
    else if (st == C360_EINVAL && call.cfgerr_count == 0)
        pc_problem(r, label, "rejected the config without saying where (no "
                   "host->config_error): the admin UI cannot mark a field");
    else if (st != C360_OK && st != C360_EINVAL)
        pc_problem(r, label, "returned \"%s\"; a config check should return "
                   "ok or \"%s\"", c360_strstatus(st),
                   c360_strstatus(C360_EINVAL));
    if (elapsed > PC_LOOP_SLOW_MS)
        pc_warning(r, label, "took %" PRId64 " ms; it may run on the event "
                   "loop and must not block", elapsed);

    ch_call_done(&call);
    json_array_append_new(r->steps, step);
    return st == C360_OK && call.cfgerr_count == 0;
}

/* One kind of instance callback: tick, event, deliver or disconnect. The
 * tool calls through this so that every one is checked the same way. */
typedef int32_t (*pc_inst_fn)(const ch_plugin_ops *ops, c360_call *call,
                              void *pdata, void *idata, const void *arg);

static int32_t pc_do_tick(const ch_plugin_ops *ops, c360_call *call,
                          void *pdata, void *idata, const void *arg)
{
    (void)arg;
    return ops->tick(call, pdata, idata);
}

static int32_t pc_do_event(const ch_plugin_ops *ops, c360_call *call,
                           void *pdata, void *idata, const void *arg)
{
    return ops->event(call, pdata, idata, arg);
}

/* ABI 1.7: arg is a pc_prefetch_arg. */
typedef struct pc_prefetch_arg {
    const c360_event *const *evs;
    size_t n;
} pc_prefetch_arg;

static int32_t pc_do_prefetch(const ch_plugin_ops *ops, c360_call *call,
                              void *pdata, void *idata, const void *arg)
{
    const pc_prefetch_arg *a = arg;
    return ops->event_prefetch(call, pdata, idata, a->evs, a->n);
}

static int32_t pc_do_deliver(const ch_plugin_ops *ops, c360_call *call,
                             void *pdata, void *idata, const void *arg)
{
    return ops->deliver(call, pdata, idata, arg);
}

/* What c360d does with a delivery status, for the info lines. */
static const char *pc_delivery_fate(int32_t st)
{
    switch (ch_status_normalise_deliver(st)) {
    case C360_OK: return "delivered";
    case C360_THROTTLED: return "held without counting an attempt, tried again after "
                                "call_retry_after (at least 250 ms); an attempt once the "
                                "record was first queued over 24 h ago";
    case C360_RETRY:
    case C360_EIO:
    case C360_ENOMEM:
    case C360_ETIMEOUT:
    case C360_EAUTH: return "retried with backoff (a dead letter after max_attempts)";
    case C360_EGONE: return "a dead letter (why gone); c360d stops the route it came by "
                            "and marks the connection failing, which tells the customer";
    default: return "a dead letter (a permanent error)";
    }
}

static int32_t pc_do_disconnect(const ch_plugin_ops *ops, c360_call *call,
                                void *pdata, void *idata, const void *arg)
{
    (void)arg;
    return ops->disconnect(call, pdata, idata);
}

static void pc_inst_step(pc_run *r, const char *plugin, const char *label,
                         const ch_plugin_ops *ops, void *pdata, void *idata,
                         pc_inst_fn fn, const void *arg)
{
    c360_call call;
    ch_call_init(&call, plugin, fh_instance(), NULL, PC_WORKER_TIMEOUT_MS);
    json_t *step = pc_step_begin(r, label, label, &call, 0);
    int64_t t0 = ch_monotonic_ms();
    int32_t st = fn(ops, &call, pdata, idata, arg);
    int64_t elapsed = ch_monotonic_ms() - t0;
    json_object_set_new(step, "trace", fh_end());
    /* As c360d commits them with the records: the next step sees them. */
    fh_state_commit_staged(st == C360_OK);
    fh_take_findings(r->problems, r->warnings);
    pc_status(r, step, label, st, &call, elapsed, true);
    if (strcmp(label, "deliver") == 0 && st == C360_EGONE)
        pc_info(r, label, "gone: %s", pc_delivery_fate(st));
    pc_pipeline_report(r, step, label, st == C360_OK);
    ch_call_done(&call);
    json_array_append_new(r->steps, step);
}

/* ABI 1.4 deliver_batch, as a worker runs it: n records of one connection,
 * a status array the host presets to a value no plugin can mean, and each
 * record's status judged on its own. */
#define PC_BATCH_N 3
#define PC_STATUS_UNSET INT32_MIN

static void pc_deliver_batch(pc_run *r, const char *plugin,
                             const ch_plugin_ops *ops, void *pdata,
                             void *idata)
{
    const char *label = "deliver_batch";
    static const char *const ids[PC_BATCH_N] = {
        "rec_plugin_check_2", "rec_plugin_check_3", "rec_plugin_check_4"};
    static const char *const json[PC_BATCH_N] = {
        "{\"name\":\"Grace Hopper\",\"email\":\"grace@example.com\"}",
        "{\"name\":\"Alan Turing\"}",
        "{\"name\":\"Edsger Dijkstra\",\"phone\":\"+31 20 000 0000\"}"};
    c360_record recs[PC_BATCH_N];
    const c360_record *ptrs[PC_BATCH_N];
    int32_t statuses[PC_BATCH_N];
    for (size_t i = 0; i < PC_BATCH_N; i++) {
        recs[i] = (c360_record){
            .struct_size = (uint32_t)sizeof(c360_record),
            .attempt = 1,
            .type = "lead",
            .id = ids[i],
            .source_plugin = "plugin_check",
            .json = json[i],
            .json_len = strlen(json[i]),
            .created_at_ms = ch_now_ms(),
        };
        ptrs[i] = &recs[i];
        statuses[i] = PC_STATUS_UNSET;
    }
    c360_call call;
    ch_call_init(&call, plugin, fh_instance(), NULL, PC_WORKER_TIMEOUT_MS);
    json_t *step = pc_step_begin(r, label, label, &call, 0);
    int64_t t0 = ch_monotonic_ms();
    int32_t ret = ops->deliver_batch(&call, pdata, idata, ptrs, PC_BATCH_N,
                                     statuses);
    int64_t elapsed = ch_monotonic_ms() - t0;
    json_object_set_new(step, "trace", fh_end());
    fh_take_findings(r->problems, r->warnings);
    /* The return value: only "out of memory" means something. */
    pc_status_ex(r, step, label, ret, &call, elapsed, false, true);
    if (ret != C360_OK && ret != C360_ENOMEM)
        pc_warning(r, label, "returned \"%s\"; c360d ignores deliver_batch's "
                   "return value unless it is \"%s\" (all records retried): "
                   "set each record's status instead", c360_strstatus(ret),
                   c360_strstatus(C360_ENOMEM));
    json_t *jst = pc_need(json_array());
    bool any_retry = false, any_fail = false;
    size_t ngone = 0;
    for (size_t i = 0; i < PC_BATCH_N; i++) {
        int32_t st = ret == C360_ENOMEM ? C360_ENOMEM : statuses[i];
        json_t *e = pc_need(json_object());
        json_object_set_new(e, "id", pc_need(json_string(ids[i])));
        if (st == PC_STATUS_UNSET) {
            json_object_set_new(e, "status", json_null());
            pc_problem(r, label, "left the status of record %zu (%s) unset: "
                       "c360d dead-letters it as a permanent error", i, ids[i]);
        } else {
            json_object_set_new(e, "status", pc_need(json_integer(st)));
            json_object_set_new(e, "status_text",
                                pc_need(json_string(c360_strstatus(st))));
            if (st < 0 || st >= C360_STATUS__COUNT)
                pc_problem(r, label, "record %zu (%s): unknown status %" PRId32
                           " (c360d treats it as a permanent error)", i,
                           ids[i], st);
            if (ch_status_normalise(st) == C360_RETRY)
                any_retry = true;
            if (st != C360_OK && st != C360_THROTTLED)
                any_fail = true;
            if (st == C360_EGONE)
                ngone++;
        }
        json_object_set_new(e, "fate", pc_need(json_string(
            st == PC_STATUS_UNSET ? pc_delivery_fate(C360_ERROR)
                                  : pc_delivery_fate(st))));
        json_array_append_new(jst, e);
        if (!r->json)
            printf("  record %zu %s: %s -> %s\n", i, ids[i],
                   st == PC_STATUS_UNSET ? "(no status)" : c360_strstatus(st),
                   st == PC_STATUS_UNSET ? pc_delivery_fate(C360_ERROR)
                                         : pc_delivery_fate(st));
    }
    json_object_set_new(step, "statuses", jst);
    if (ngone > 0)
        pc_info(r, label, "%zu of %d records gone: %s", ngone, PC_BATCH_N,
                pc_delivery_fate(C360_EGONE));
    if (call.retry_set && !any_retry && ret != C360_ENOMEM)
        pc_warning(r, label, "call_retry_after was set, but no record's status "
                   "is \"%s\", so the delay is ignored",
                   c360_strstatus(C360_RETRY));
    if (any_fail && call.error[0] == '\0' && ret != C360_ENOMEM)
        pc_warning(r, label, "records failed without a reason: operators see "
                   "nothing but the status (use host->call_error)");
    pc_pipeline_report(r, step, label, ret == C360_OK);
    ch_call_done(&call);
    json_array_append_new(r->steps, step);
}

/* ABI 1.3 oauth_connect, as c360d's admin API runs it (on an admin thread,
 * which counts as a worker): a zeroed out struct of the host's size, then
 * the host's copy of the answer and the release of host_secret. */
static void pc_oauth_connect(pc_run *r, const char *plugin,
                             const ch_plugin_ops *ops, void *pdata,
                             void *idata)
{
    const char *label = "oauth_connect";
    c360_call call;
    ch_call_init(&call, plugin, fh_instance(), NULL, PC_WORKER_TIMEOUT_MS);
    json_t *step = pc_step_begin(r, label, label, &call, 0);
    c360_oauth_connect o;
    memset(&o, 0, sizeof(o));
    o.struct_size = (uint32_t)sizeof(o);
    int64_t t0 = ch_monotonic_ms();
    int32_t st = ops->oauth_connect(&call, pdata, idata, &o);
    int64_t elapsed = ch_monotonic_ms() - t0;
    /* What c360d does at once, in the same step: copy, check, release. */
    json_t *ans = fh_oauth_connect_answer(&o, ch_status_normalise(st));
    json_object_set_new(step, "trace", fh_end());
    fh_take_findings(r->problems, r->warnings);
    pc_status(r, step, label, st, &call, elapsed, st != C360_EUNSUPPORTED);
    if (st == C360_OK) {
        if (!r->json) {
            static const char *const keys[] = {
                "authorize_url", "client_id", "scope", "extra_params",
                "token_url", "auth", "token_name"};
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                const json_t *v = json_object_get(ans, keys[i]);
                if (v == NULL)
                    continue;
                printf("  %s: ", keys[i]);
                pc_print_quoted(json_string_value(v));
                putchar('\n');
            }
            printf("  pkce: %s\n  client_secret: %s\n",
                   json_is_true(json_object_get(ans, "pkce")) ? "yes" : "no",
                   json_is_true(json_object_get(ans, "client_secret"))
                       ? "given (not shown)" : "none (a public client)");
        }
        json_object_set_new(step, "oauth_connect", ans);
    } else {
        json_decref(ans);
        if (st == C360_EUNSUPPORTED)
            pc_info(r, label, "declined for this config: the admin API "
                    "answers 422 oauth_not_supported");
    }
    ch_call_done(&call);
    json_array_append_new(r->steps, step);
}

/* ------------------------------------------------------------------------ */
/* webhook_verify                                                            */
/* ------------------------------------------------------------------------ */

typedef struct pc_hook_case {
    const char *label;
    const char *method;
    const char *query;
    const c360_header *headers;
    uint32_t header_count;
    const char *body;
    bool unsigned_post; /* accepting this is suspicious */
} pc_hook_case;

static const c360_header pc_get_headers[] = {
    {"accept", "*/*"},
    {"user-agent", "c360-plugin-check"},
};
static const c360_header pc_post_headers[] = {
    {"content-type", "application/json"},
    {"user-agent", "c360-plugin-check"},
};

/* (a) a subscription handshake as Meta and others send it; (b) a POST that
 * carries no signature at all: an authentic-looking body is not enough. */
static const pc_hook_case pc_hook_get = {
    "GET handshake", "GET", "hub.mode=subscribe&hub.challenge=123",
    pc_get_headers, 2, "", false};
static const pc_hook_case pc_hook_post = {
    "POST without signature", "POST", "", pc_post_headers, 2, "{}", true};

static const char *pc_verdict_name(int32_t v)
{
    switch (v) {
    case C360_VERDICT_ACCEPT: return "accept";
    case C360_VERDICT_REPLIED: return "replied";
    case C360_VERDICT_REJECT: return "reject";
    default: return NULL;
    }
}

/* webhook_route on the request webhook_verify just accepted on the
 * app-level URL, as c360d's ingress calls it: on the event loop, with a
 * call that acts for no connection (routing decides which ones). */
static void pc_route(pc_run *r, const char *plugin, const ch_plugin_ops *ops,
                     void *pdata, const c360_webhook *req)
{
    const char *label = "webhook_route (app-level URL)";
    c360_call call;
    ch_call_init(&call, plugin, NULL, NULL, PC_LOOP_TIMEOUT_MS);
    json_t *step = pc_step_begin(r, label, "webhook_route", &call,
                                 FH_EVENT_LOOP);
    int64_t t0 = ch_monotonic_ms();
    int32_t st = ops->webhook_route(&call, pdata, req);
    int64_t elapsed = ch_monotonic_ms() - t0;
    json_object_set_new(step, "trace", fh_end());
    fh_take_findings(r->problems, r->warnings);
    pc_status(r, step, label, st, &call, elapsed, true);
    json_t *pl = pc_pipeline_report(r, step, label, st == C360_OK);
    json_int_t routes = pc_pl_int(pl, "route_count");
    if (!r->json && routes == 0)
        puts("  routed: no routing key");
    /* ok but no key: c360d has nowhere to store the event. There is never
     * a default tenant, so it is refused (and counted), and the provider
     * sees an error for a webhook the plugin found authentic. */
    if (st == C360_OK && routes == 0)
        pc_warning(r, label, "accepted on the app-level URL but routed to no "
                   "connection (no successful host->route_event): c360d "
                   "refuses such a webhook as unrouted");
    if (elapsed > PC_LOOP_SLOW_MS)
        pc_warning(r, label, "took %" PRId64 " ms on the event loop, which "
                   "serves every tenant's webhooks", elapsed);
    ch_call_done(&call);
    json_array_append_new(r->steps, step);
}

static void pc_webhook(pc_run *r, const char *plugin, const ch_plugin_ops *ops,
                       void *pdata, void *idata, bool app_level,
                       const pc_hook_case *hc)
{
    char label[160];
    snprintf(label, sizeof(label), "webhook_verify (%s, %s)", hc->label,
             app_level ? "app-level URL" : "connection URL");
    char path[160];
    if (app_level)
        snprintf(path, sizeof(path), "/hooks/%s", plugin);
    else
        snprintf(path, sizeof(path), "/hooks/%s/%s", plugin,
                 fh_instance_connection_id());

    /* The body is "raw bytes, exactly as received": not NUL-terminated.
     * It gets a heap block of exactly its length, so that a plugin reading
     * past body_len (strlen on the body, say) trips AddressSanitizer here
     * rather than leaking memory contents in production. */
    size_t body_len = strlen(hc->body);
    uint8_t *body = malloc(body_len > 0 ? body_len : 1);
    if (body == NULL)
        pc_oom();
    memcpy(body, hc->body, body_len);

    c360_webhook req = {
        .struct_size = (uint32_t)sizeof(c360_webhook),
        .header_count = hc->header_count,
        .method = hc->method,
        .path = path,
        .query = hc->query,
        .headers = hc->headers,
        .body = body,
        .body_len = body_len,
        .received_at_ms = ch_now_ms(),
    };
    /* Preset as the host does: 200, text/plain, empty. */
    c360_webhook_reply *reply = calloc(1, sizeof(*reply));
    if (reply == NULL)
        pc_oom();
    reply->struct_size = (uint32_t)sizeof(*reply);
    reply->status = 200;
    snprintf(reply->content_type, sizeof(reply->content_type), "text/plain");

    c360_call call;
    ch_call_init(&call, plugin, app_level ? NULL : fh_instance(), NULL,
                 PC_LOOP_TIMEOUT_MS);
    json_t *step = pc_step_begin(r, label, "webhook_verify", &call,
                                 FH_EVENT_LOOP);
    json_t *jreq = pc_need(json_object());
    json_object_set_new(jreq, "method", pc_need(json_string(hc->method)));
    json_object_set_new(jreq, "path", fh_json_text(path));
    json_object_set_new(jreq, "query", pc_need(json_string(hc->query)));
    json_object_set_new(jreq, "body", pc_need(json_string(hc->body)));
    json_object_set_new(step, "request", jreq);
    if (!r->json)
        printf("  request: %s %s%s%s, %zu byte body, no signature\n",
               hc->method, path, hc->query[0] != '\0' ? "?" : "", hc->query,
               body_len);

    int64_t t0 = ch_monotonic_ms();
    int32_t v = ops->webhook_verify(&call, pdata, app_level ? NULL : idata,
                                    &req, reply);
    int64_t elapsed = ch_monotonic_ms() - t0;
    json_object_set_new(step, "trace", fh_end());
    fh_take_findings(r->problems, r->warnings);

    const char *vname = pc_verdict_name(v);
    json_object_set_new(step, "verdict", pc_need(json_integer(v)));
    json_object_set_new(step, "verdict_text",
                        pc_need(json_string(vname != NULL ? vname : "unknown")));
    json_object_set_new(step, "elapsed_ms", pc_need(json_integer(elapsed)));
    if (call.error[0] != '\0')
        json_object_set_new(step, "error", fh_json_text(call.error));

    bool ct_ok = memchr(reply->content_type, '\0',
                        sizeof(reply->content_type)) != NULL;
    bool body_ok = reply->body_len <= C360_REPLY_BODY_MAX;
    char body_text[C360_REPLY_BODY_MAX + 1];
    pc_bytes_text(body_text, sizeof(body_text), reply->body_buf,
                  body_ok ? reply->body_len : 0);
    if (v == C360_VERDICT_REPLIED || v == C360_VERDICT_REJECT) {
        json_t *jr = pc_need(json_object());
        json_object_set_new(jr, "status", pc_need(json_integer(reply->status)));
        if (ct_ok)
            json_object_set_new(jr, "content_type",
                                fh_json_text(reply->content_type));
        json_object_set_new(jr, "body_len",
                            pc_need(json_integer((json_int_t)reply->body_len)));
        if (body_ok)
            json_object_set_new(jr, "body", fh_json_text(body_text));
        json_object_set_new(step, "reply", jr);
    }
    if (!r->json) {
        printf("  -> %s (%" PRId32 ")", vname != NULL ? vname : "unknown", v);
        if (v == C360_VERDICT_REPLIED || v == C360_VERDICT_REJECT) {
            printf(": %" PRId32 " %s, %zu bytes", reply->status,
                   ct_ok ? reply->content_type : "(bad content type)",
                   reply->body_len);
            if (body_ok && reply->body_len > 0) {
                fputs(": ", stdout);
                fh_print_line_text(stdout, body_text, 200);
            }
        }
        printf(", %" PRId64 " ms\n", elapsed);
        if (call.error[0] != '\0') {
            fputs("  error: ", stdout);
            fh_print_line_text(stdout, call.error, CH_CALL_ERROR_MAX);
            fputc('\n', stdout);
        }
    }
    /* The dedup key (or misplaced pipeline calls, already findings). */
    pc_pipeline_report(r, step, label, v == C360_VERDICT_ACCEPT);

    if (vname == NULL)
        pc_problem(r, label, "returned %" PRId32 ", which is not a "
                   "c360_verdict (the host treats it as reject)", v);
    if (reply->struct_size != sizeof(*reply))
        pc_problem(r, label, "changed reply->struct_size (to %" PRIu32 ")",
                   reply->struct_size);
    if (!ct_ok)
        pc_problem(r, label, "left reply->content_type without a NUL in its "
                   "%zu bytes", sizeof(reply->content_type));
    if (!body_ok)
        pc_problem(r, label, "reply->body_len %zu is over "
                   "C360_REPLY_BODY_MAX (%d)", reply->body_len,
                   C360_REPLY_BODY_MAX);
    if (v == C360_VERDICT_REPLIED &&
        (reply->status < 100 || reply->status > 599))
        pc_problem(r, label, "replied with HTTP status %" PRId32 ", not "
                   "100..599", reply->status);
    if (v == C360_VERDICT_REJECT && reply->status != 401 &&
        reply->status != 403)
        pc_problem(r, label, "rejected with HTTP status %" PRId32 "; the ABI "
                   "says 401 or 403", reply->status);
    if (v == C360_VERDICT_ACCEPT && hc->unsigned_post)
        pc_warning(r, label, "accepted a POST that carries no signature or "
                   "token: are webhooks authenticated at all?");
    if (elapsed > PC_LOOP_SLOW_MS)
        pc_warning(r, label, "took %" PRId64 " ms on the event loop, which "
                   "serves every tenant's webhooks", elapsed);

    ch_call_done(&call);
    json_array_append_new(r->steps, step);

    /* c360d hands an accepted app-level webhook to webhook_route, with the
     * same request, before it stores anything. */
    if (app_level && ops->webhook_route) {
        if (v == C360_VERDICT_ACCEPT)
            pc_route(r, plugin, ops, pdata, &req);
        else
            pc_step_skip(r, "webhook_route",
                         v == C360_VERDICT_REPLIED
                             ? "webhook_verify answered a handshake: "
                               "nothing to route"
                             : "webhook_verify did not accept the sample "
                               "request, which carries no signature");
    }
    free(reply);
    free(body);
}

/* ------------------------------------------------------------------------ */
/* The plugin                                                                */
/* ------------------------------------------------------------------------ */

/* Prints the descriptor (text) or returns it as JSON. Only members inside
 * the plugin's struct_size are read, as the host does. */
static json_t *pc_describe(pc_run *r, const char *path,
                           const c360_plugin_desc *d)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } caps[] = {
        {C360_CAP_SOURCE_TICK, "source_tick"},
        {C360_CAP_SOURCE_WEBHOOK, "source_webhook"},
        {C360_CAP_DESTINATION, "destination"},
    };
    const char *name = C360_DESC_HAS(d, name) ? d->name : NULL;
    const char *version = C360_DESC_HAS(d, version) ? d->version : NULL;
    const char *descr = C360_DESC_HAS(d, description) ? d->description : NULL;
    const char *schema_text =
        C360_DESC_HAS(d, config_schema) ? d->config_schema : NULL;

    json_t *j = pc_need(json_object());
    json_object_set_new(j, "file", fh_json_text(path));
    json_object_set_new(j, "name", fh_json_text(name));
    json_object_set_new(j, "version", fh_json_text(version));
    json_object_set_new(j, "description", fh_json_text(descr));
    json_object_set_new(j, "abi", pc_need(json_sprintf("%u.%u",
                                                       (unsigned)d->abi_major,
                                                       (unsigned)d->abi_minor)));
    json_object_set_new(j, "struct_size", pc_need(json_integer(d->struct_size)));
    json_t *jcaps = pc_need(json_array());
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        if (d->capabilities & caps[i].bit)
            json_array_append_new(jcaps, pc_need(json_string(caps[i].name)));
    json_object_set_new(j, "capabilities", jcaps);
    json_object_set_new(j, "capabilities_mask",
                        pc_need(json_integer(d->capabilities)));
    /* 1.3: read only when struct_size covers it, as the loader does. */
    bool oauth = C360_DESC_HAS(d, oauth_connect) && d->oauth_connect != NULL;
    json_object_set_new(j, "oauth_connect", json_boolean(oauth));
    /* 1.4: the same rule; and the loader takes it only from a destination. */
    bool batch = C360_DESC_HAS(d, deliver_batch) && d->deliver_batch != NULL;
    json_object_set_new(j, "deliver_batch", json_boolean(batch));
    /* 1.7: the same rule; the loader takes it only from a webhook source. */
    bool prefetch = C360_DESC_HAS(d, event_prefetch) && d->event_prefetch != NULL;
    json_object_set_new(j, "event_prefetch", json_boolean(prefetch));

    json_error_t jerr;
    json_t *schema = schema_text != NULL ? json_loads(schema_text, 0, &jerr)
                                         : NULL;
    if (schema != NULL)
        json_object_set_new(j, "config_schema", schema);
    else
        json_object_set_new(j, "config_schema", json_null());

    if (!r->json) {
        printf("file: %s\n", path);
        fputs("name: ", stdout);
        fh_print_line_text(stdout, name, 64);
        fputs("\nversion: ", stdout);
        fh_print_line_text(stdout, version, 64);
        fputs("\ndescription: ", stdout);
        fh_print_line_text(stdout, descr, 400);
        printf("\nabi: %u.%u\n", (unsigned)d->abi_major,
               (unsigned)d->abi_minor);
        printf("struct_size: %" PRIu32 "\n", d->struct_size);
        printf("capabilities: 0x%" PRIx32 " (", d->capabilities);
        size_t i;
        json_t *c;
        json_array_foreach(jcaps, i, c)
            printf("%s%s", i > 0 ? ", " : "", json_string_value(c));
        printf(")\noauth_connect: %s\ndeliver_batch: %s\nconfig_schema:\n",
               oauth ? "yes (ABI 1.3)" : "no", batch ? "yes (ABI 1.4)" : "no");
        char *dump = schema != NULL
            ? json_dumps(schema, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
            : NULL;
        if (dump != NULL)
            printf("%s\n", dump);
        else
            printf("(not a JSON document)\n");
        free(dump);
    }
    /* The loader refuses a schema that does not parse; seeing it here means
     * the loader and this tool disagree, which is worth knowing. */
    if (schema == NULL)
        pc_problem(r, "descriptor", "config_schema is not valid JSON");
    return j;
}

/* Runs every callback the plugin offers, in the order the host would. */
static void pc_exercise(pc_run *r, const ch_plugin *p, const char *config,
                        size_t config_len)
{
    const c360_plugin_desc *d = ch_plugin_desc(p);
    const ch_plugin_ops *ops = ch_plugin_ops_get(p);
    void *pdata = ch_plugin_data(p);
    const char *plugin = ch_plugin_name(p);
    uint32_t caps = d->capabilities;
    bool webhooks = (caps & C360_CAP_SOURCE_WEBHOOK) && ops->webhook_verify;
    r->has_route = ops->webhook_route != NULL;
    if (webhooks && !ops->webhook_route)
        /* webhook_verify still gets the app-level request below: the ABI
         * has asked every webhook_verify to cope with NULL instance_data
         * since 1.0, and that is worth checking whatever this host does. */
        pc_info(r, "webhook_route", "not offered: c360d answers 404 on the "
                "app-level URL /hooks/%s without calling the plugin; its "
                "webhooks arrive on connection URLs only "
                "(/hooks/%s/{connection})", plugin, plugin);
    else if (ops->webhook_route && !(caps & C360_CAP_SOURCE_WEBHOOK))
        pc_warning(r, "webhook_route", "set, but the plugin does not declare "
                   "source_webhook: c360d never calls it");

    bool valid = pc_validate(r, plugin, ops, pdata, config, config_len);

    void *idata = NULL;
    bool open = false;
    if (!valid) {
        pc_step_skip(r, "instance_open", "the config did not validate");
    } else {
        c360_call call;
        ch_call_init(&call, plugin, fh_instance(), NULL, PC_WORKER_TIMEOUT_MS);
        json_t *step = pc_step_begin(r, "instance_open", "instance_open",
                                     &call, 0);
        int64_t t0 = ch_monotonic_ms();
        int32_t st = ops->instance_open(&call, pdata, fh_instance(), config,
                                        config_len, &idata);
        int64_t elapsed = ch_monotonic_ms() - t0;
        json_object_set_new(step, "trace", fh_end());
        fh_take_findings(r->problems, r->warnings);
        pc_status(r, step, "instance_open", st, &call, elapsed, true);
        pc_pipeline_report(r, step, "instance_open", st == C360_OK);
        ch_call_done(&call);
        json_array_append_new(r->steps, step);
        open = st == C360_OK;
        if (!open && idata != NULL)
            pc_warning(r, "instance_open", "failed but set instance_data; "
                       "the host drops it without instance_close (a leak?)");
    }

    const char *no_inst = open ? NULL : "no open connection";
    /* A customer connects right after creating the connection. */
    if (ops->oauth_connect) {
        if (open)
            pc_oauth_connect(r, plugin, ops, pdata, idata);
        else
            pc_step_skip(r, "oauth_connect", no_inst);
    }
    if (caps & C360_CAP_SOURCE_TICK) {
        if (open)
            pc_inst_step(r, plugin, "tick", ops, pdata, idata, pc_do_tick,
                         NULL);
        else
            pc_step_skip(r, "tick", no_inst);
    }

    if (webhooks) {
        if (open) {
            pc_webhook(r, plugin, ops, pdata, idata, false, &pc_hook_get);
            pc_webhook(r, plugin, ops, pdata, idata, false, &pc_hook_post);
        } else {
            pc_webhook(r, plugin, ops, pdata, NULL, true, &pc_hook_get);
        }
        /* The app-level URL (/hooks/{plugin}) gets NULL instance_data:
         * every plugin must cope with it, even one that serves none. */
        pc_webhook(r, plugin, ops, pdata, NULL, true, &pc_hook_post);
    }

    if (webhooks && ops->event) {
        if (open) {
            static const c360_header ev_headers[] = {
                {"content-type", "application/json"},
            };
            static const char ev_json[] =
                "{\"object\":\"page\",\"entry\":[{\"id\":\"1\","
                "\"changes\":[{\"field\":\"leadgen\"}]}]}";
            /* Exact-length heap copy, as for webhook bodies. */
            size_t n = sizeof(ev_json) - 1;
            uint8_t *body = malloc(n);
            if (body == NULL)
                pc_oom();
            memcpy(body, ev_json, n);
            c360_event ev = {
                .struct_size = (uint32_t)sizeof(c360_event),
                .header_count = 1,
                .event_id = "evt_plugin_check_1",
                .headers = ev_headers,
                .body = body,
                .body_len = n,
                .received_at_ms = ch_now_ms(),
                .attempt = 1,
            };
            /* ABI 1.7: as a worker does with a turn's events of one
             * connection, the look ahead first (the same body twice, two
             * event ids), then each event. */
            if (ops->event_prefetch) {
                c360_event ev0 = ev;
                ev0.event_id = "evt_plugin_check_0";
                const c360_event *evs[2] = {&ev0, &ev};
                pc_prefetch_arg pa = {evs, 2};
                pc_inst_step(r, plugin, "event_prefetch", ops, pdata, idata,
                             pc_do_prefetch, &pa);
            }
            pc_inst_step(r, plugin, "event", ops, pdata, idata, pc_do_event,
                         &ev);
            free(body);
        } else {
            pc_step_skip(r, "event", no_inst);
        }
    }

    if ((caps & C360_CAP_DESTINATION) && ops->deliver) {
        if (open) {
            static const char rec_json[] =
                "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}";
            c360_record rec = {
                .struct_size = (uint32_t)sizeof(c360_record),
                .attempt = 1,
                .type = "lead",
                .id = "rec_plugin_check_1",
                .source_plugin = "plugin_check",
                .json = rec_json,
                .json_len = sizeof(rec_json) - 1,
                .created_at_ms = ch_now_ms(),
            };
            pc_inst_step(r, plugin, "deliver", ops, pdata, idata,
                         pc_do_deliver, &rec);
        } else {
            pc_step_skip(r, "deliver", no_inst);
        }
        if (ops->deliver_batch) {
            if (open)
                pc_deliver_batch(r, plugin, ops, pdata, idata);
            else
                pc_step_skip(r, "deliver_batch", no_inst);
        }
    }
    if (C360_DESC_HAS(d, event_prefetch) && d->event_prefetch != NULL &&
        !(caps & C360_CAP_SOURCE_WEBHOOK))
        pc_warning(r, "event_prefetch", "set, but the plugin does not declare "
                   "source_webhook: c360d never calls it");
    if (C360_DESC_HAS(d, deliver_batch) && d->deliver_batch != NULL &&
        !(caps & C360_CAP_DESTINATION))
        pc_warning(r, "deliver_batch", "set, but the plugin does not declare "
                   "destination: c360d never calls it");

    if (ops->disconnect && open)
        pc_inst_step(r, plugin, "disconnect", ops, pdata, idata,
                     pc_do_disconnect, NULL);

    if (open && ops->instance_close) {
        json_t *step = pc_step_begin(r, "instance_close", "instance_close",
                                     NULL, 0);
        ops->instance_close(pdata, idata);
        if (!r->json)
            printf("  -> done\n");
        pc_step_end(r, step);
    } else if (open && idata != NULL) {
        pc_warning(r, "instance_close", "instance_data is set but there is "
                   "no instance_close to free it");
    }
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

/* Reads a whole file of at most PC_CONFIG_MAX bytes; NUL-terminated. */
static char *pc_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(PC_CONFIG_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, PC_CONFIG_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > PC_CONFIG_MAX) {
        free(buf);
        errno = bad ? EIO : EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int pc_usage_error(const char *fmt, const char *arg) C360_PRINTF(1, 0);
static int pc_usage_error(const char *fmt, const char *arg)
{
    fputs("c360-plugin-check: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(pc_usage, stderr);
    return 2;
}

static void pc_print_trace(const json_t *trace)
{
    size_t i;
    json_t *e;
    json_array_foreach(trace, i, e)
        fh_print_entry(stdout, e);
}

int main(int argc, char **argv)
{
    enum {
        OPT_CONFIG = 256,
        OPT_CONFIG_FILE,
        OPT_JSON,
        OPT_HTTP_STATUS,
        OPT_VERBOSE,
        OPT_SECRET
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"config-file", required_argument, NULL, OPT_CONFIG_FILE},
        {"json", no_argument, NULL, OPT_JSON},
        {"http-status", required_argument, NULL, OPT_HTTP_STATUS},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_arg = NULL;
    const char *config_file = NULL;
    const char *http_status_arg = NULL;
    bool json_out = false;
    bool verbose = false;
    int c;

    opterr = 0; /* our own messages, with the usage */
    while ((c = getopt_long(argc, argv, ":hv", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG: config_arg = optarg; break;
        case OPT_CONFIG_FILE: config_file = optarg; break;
        case OPT_JSON: json_out = true; break;
        case OPT_HTTP_STATUS: http_status_arg = optarg; break;
        case 'v':
        case OPT_VERBOSE: verbose = true; break;
        case OPT_SECRET: {
            /* NAME=VALUE: a test value (argv is visible to the machine's
             * other users), stored as the connect flow would have. */
            const char *eq = strchr(optarg, '=');
            char name[256];
            if (eq == NULL || eq == optarg || (size_t)(eq - optarg) >= sizeof(name))
                return pc_usage_error("--secret %s: not NAME=VALUE", optarg);
            snprintf(name, sizeof(name), "%.*s", (int)(eq - optarg), optarg);
            if (fh_secret_seed(name, eq + 1, strlen(eq + 1)) != 0)
                return pc_usage_error("--secret %s: the host refuses this name "
                                      "(1..200 printable ASCII, not oauth:...)",
                                      name);
            break;
        }
        case 'h': fputs(pc_usage, stdout); return 0;
        case ':':
            return pc_usage_error("option %s needs an argument",
                                  argv[optind - 1]);
        default:
            return pc_usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (config_arg != NULL && config_file != NULL)
        return pc_usage_error("%s", "give --config or --config-file, not both");
    if (optind != argc - 1)
        return pc_usage_error("%s", optind >= argc ? "no plugin file given"
                                                   : "more than one plugin file");
    int http_status = 200;
    if (http_status_arg != NULL) {
        /* A status line needs three digits; anything else is a typo that
         * would test nothing. */
        char *end = NULL;
        errno = 0;
        long v = strtol(http_status_arg, &end, 10);
        if (errno != 0 || end == http_status_arg || *end != '\0' || v < 100 ||
            v > 599)
            return pc_usage_error("--http-status %s: not an HTTP status "
                                  "(100..599)", http_status_arg);
        http_status = (int)v;
    }
    fh_set_http_status(http_status);

    /* The config: the host only ever hands plugins a JSON object (the
     * schema has been applied), so anything else is a mistake of the
     * caller, not something to test the plugin with. */
    char *config_buf = NULL;
    const char *config = "{}";
    size_t config_len = 2;
    if (config_arg != NULL) {
        config = config_arg;
        config_len = strlen(config_arg);
    } else if (config_file != NULL) {
        config_buf = pc_read_file(config_file, &config_len);
        if (config_buf == NULL) {
            fprintf(stderr, "c360-plugin-check: %s: %s\n", config_file,
                    strerror(errno));
            return 2;
        }
        config = config_buf;
    }
    json_error_t jerr;
    json_t *config_doc = json_loadb(config, config_len, 0, &jerr);
    if (config_doc == NULL || !json_is_object(config_doc)) {
        fprintf(stderr, "c360-plugin-check: config: %s\n",
                config_doc == NULL ? jerr.text : "not a JSON object");
        json_decref(config_doc);
        free(config_buf);
        return 2;
    }

    /* dlopen() searches the library path for a name without a slash, which
     * would find some other hello.so (or none) instead of the one in the
     * current directory that the user meant. */
    const char *arg = argv[optind];
    char *path = malloc(strlen(arg) + 3);
    if (path == NULL)
        pc_oom();
    snprintf(path, strlen(arg) + 3, "%s%s", strchr(arg, '/') ? "" : "./", arg);

    /* The loader's own log lines (JSON on stderr) repeat what this tool
     * prints; keep only its errors unless asked. */
    ch_log_set_level(verbose ? CH_LOG_DEBUG : CH_LOG_ERROR);

    pc_run run = {
        .json = json_out,
        .steps = pc_need(json_array()),
        .problems = pc_need(json_array()),
        .warnings = pc_need(json_array()),
        .notes = pc_need(json_array()),
    };
    pc_run *r = &run;
    json_t *doc = pc_need(json_object());
    json_object_set_new(doc, "file", fh_json_text(path));
    json_object_set_new(doc, "config", config_doc);
    json_object_set_new(doc, "http_status", pc_need(json_integer(http_status)));

    ch_loader *ld = ch_loader_new(fh_table());
    if (ld == NULL)
        pc_oom();

    /* Loading calls init; its host calls are recorded, and printed after
     * the descriptor (which is only known once loaded). */
    fh_begin("init", "init", NULL, FH_LOADER_CALL | FH_MAIN_THREAD);
    ch_err err = ch_loader_load_file(ld, path);
    json_t *init_trace = fh_end();
    fh_take_findings(r->problems, r->warnings);

    int status;
    if (err != CH_OK) {
        size_t nref = ch_loader_refused_count(ld);
        json_t *refused = pc_need(json_object());
        if (nref > 0) {
            ch_refusal code = ch_loader_refused_code(ld, nref - 1);
            const char *reason = ch_loader_refused_reason(ld, nref - 1);
            json_object_set_new(refused, "code",
                                fh_json_text(ch_refusal_code(code)));
            json_object_set_new(refused, "reason", fh_json_text(reason));
            if (!r->json) {
                if (json_array_size(init_trace) > 0) {
                    puts("init:");
                    pc_print_trace(init_trace);
                }
                printf("refused: %s: ", ch_refusal_code(code));
                fh_print_line_text(stdout, reason, 1000);
                fputc('\n', stdout);
            }
        } else {
            /* Not a refusal (out of memory, say): still no plugin. */
            json_object_set_new(refused, "code", pc_need(json_string("error")));
            json_object_set_new(refused, "reason",
                                pc_need(json_string(ch_strerror(err))));
            if (!r->json)
                printf("refused: error: %s\n", ch_strerror(err));
        }
        json_t *istep = pc_need(json_object());
        json_object_set_new(istep, "callback", pc_need(json_string("init")));
        json_object_set_new(istep, "trace", init_trace);
        json_array_append_new(r->steps, istep);
        json_object_set_new(doc, "refused", refused);
        status = 1;
    } else {
        const ch_plugin *p = ch_loader_get(ld, ch_loader_count(ld) - 1);
        json_object_set_new(doc, "refused", json_null());
        json_object_set_new(doc, "plugin", pc_describe(r, path,
                                                       ch_plugin_desc(p)));
        if (!r->json) {
            printf("\ninit:\n");
            pc_print_trace(init_trace);
            printf("  -> ok\n");
            /* From here on host calls are printed as they happen: if the
             * plugin crashes, its last host calls are on screen. */
            fh_set_echo(stdout);
        }
        json_t *istep = pc_need(json_object());
        json_object_set_new(istep, "callback", pc_need(json_string("init")));
        json_object_set_new(istep, "status", pc_need(json_integer(C360_OK)));
        json_object_set_new(istep, "trace", init_trace);
        json_array_append_new(r->steps, istep);

        pc_exercise(r, p, config, config_len);
        status = 0;
    }

    if (err == CH_OK) {
        /* fini runs inside ch_loader_free (and dlclose after it). */
        json_t *fstep = pc_step_begin(r, "fini", "fini", NULL, FH_MAIN_THREAD);
        ch_loader_free(ld);
        if (!r->json)
            printf("  -> done\n");
        pc_step_end(r, fstep);
        fh_set_echo(NULL);
    } else {
        /* A refused plugin is never called again: no fini. */
        ch_loader_free(ld);
    }
    /* The plugin is gone: whatever host memory it still held is leaked. */
    fh_finish();
    fh_take_findings(r->problems, r->warnings);

    size_t nprob = json_array_size(r->problems);
    if (nprob > 0)
        status = 1;
    if (r->json) {
        json_object_set_new(doc, "steps", r->steps);
        json_object_set_new(doc, "info", r->notes);
        json_object_set_new(doc, "warnings", r->warnings);
        json_object_set_new(doc, "problems", r->problems);
        json_object_set_new(doc, "ok", json_boolean(status == 0));
        if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            status = 1;
        fputc('\n', stdout);
    } else {
        size_t i;
        json_t *s;
        putchar('\n');
        json_array_foreach(r->notes, i, s) {
            fputs("info: ", stdout);
            fh_print_line_text(stdout, json_string_value(s), 600);
            fputc('\n', stdout);
        }
        json_array_foreach(r->warnings, i, s) {
            fputs("warning: ", stdout);
            fh_print_line_text(stdout, json_string_value(s), 600);
            fputc('\n', stdout);
        }
        json_array_foreach(r->problems, i, s) {
            fputs("problem: ", stdout);
            fh_print_line_text(stdout, json_string_value(s), 600);
            fputc('\n', stdout);
        }
        if (status == 0)
            printf("result: ok, %zu warning%s\n", json_array_size(r->warnings),
                   json_array_size(r->warnings) == 1 ? "" : "s");
        else if (nprob > 0)
            printf("result: %zu problem%s\n", nprob, nprob == 1 ? "" : "s");
        else
            printf("result: refused\n");
        json_decref(r->steps);
        json_decref(r->warnings);
        json_decref(r->notes);
        json_decref(r->problems);
    }
    json_decref(doc);
    free(path);
    free(config_buf);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
