/* fakehost.h -- a recording c360_host_api for c360-plugin-check.
 *
 * The table offers every ABI 1.0 service with the host's semantics (clocks,
 * call outcome, config errors go into the real c360_call of call.h), and
 * records each call as one trace entry: {"fn": name, "args": [...],
 * "result": ...}, or {"fn":"log","level":...,"msg":...} for log lines. It also
 * notices uses the ABI forbids (a call handle from another callback, a
 * config error outside validate_config, an unknown log level, ...) and
 * records them as problems.
 *
 * It offers every ABI 1.1 service too, as in-memory fakes that keep the
 * real services' contracts (argument checks, versions, limits, status
 * codes) without Redis or a network: state and secrets live in memory, rate
 * limits always allow, HTTP answers a canned response, OAuth hands out a fake
 * token, the crypto helpers are the host's own. Their entries have named
 * args: {"fn", "args": {...}, "status", "status_text", "detail"}; secret
 * values and header values are never recorded. A blocking service called
 * from a callback that must not block is refused with C360_EDENIED, as c360d
 * refuses it, and is a problem. Every buffer handed to the plugin is
 * accounted for (fh_mem.h): one released with the wrong function, or never
 * released by fh_finish, is a problem.
 *
 * It offers the ABI 1.2 pipeline services as well (fh_pipeline.c): the
 * dedup key of a webhook, routing of app-level webhooks, the connection's
 * routing keys, records, and the connection's status, each allowed only in
 * the callbacks the ABI names and checked against its limits. A record is
 * recorded by type, id and size, never by content.
 *
 * Everything between fh_begin and fh_end belongs to one plugin callback.
 * The functions are safe to call from any thread, as the ABI promises, but
 * fh_begin/fh_end are for the tool's main thread. */
#ifndef PC_FAKEHOST_H
#define PC_FAKEHOST_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "connector_api.h"

/* The table to hand to ch_loader_new(). Static: valid for the whole run. */
const c360_host_api *fh_table(void);

/* The one fake connection the tool opens. Its tenant and connection ids are
 * what instance_tenant and instance_connection return. */
c360_instance *fh_instance(void);
const char *fh_instance_tenant_id(void);
const char *fh_instance_connection_id(void);

/* If out is not NULL, every trace entry is also printed to it as a line,
 * indented, as it happens ("  host.log[info] msg"), so that a plugin that
 * crashes still leaves its last host calls on screen. */
void fh_set_echo(FILE *out);

/* What fh_begin needs to know about a callback. */
enum {
    FH_VALIDATING = 1 << 0, /* validate_config: config_error is allowed */
    FH_EVENT_LOOP = 1 << 1, /* runs on the event loop: must not block */
    FH_LOADER_CALL = 1 << 2, /* the loader made the call (init): the tool
                                does not know its address */
    FH_MAIN_THREAD = 1 << 3  /* runs on c360d's main thread (init, fini):
                                blocking services are refused there too */
};

/* Starts recording the host calls of one step: callback `callback`
 * ("webhook_verify"), run as `label` ("webhook_verify (GET handshake, ...)";
 * both kept by pointer until fh_end; findings are prefixed with the label).
 * `call` is the call the tool passes to the callback: any other handle
 * counts as a problem. NULL means the callback gets no call (fini,
 * instance_close), so any handle is wrong -- unless FH_LOADER_CALL says the
 * loader made one the tool cannot see. */
void fh_begin(const char *label, const char *callback, c360_call *call,
              unsigned flags);
/* Stops recording; returns the trace (a new JSON array). */
json_t *fh_end(void);

/* What the last step (between fh_begin and fh_end) did with the pipeline
 * services, as a new JSON object; only the members that happened are set:
 *   "dedup_key": the key call_dedup_key named last
 *   "routes": [{"routing_key", "dedup_key" (or null), "connection" (the
 *       fake connection's id if it registered the key, else null)}],
 *       one per distinct key; "route_count" distinct keys, "route_calls"
 *       accepted calls (and "routes_not_listed" past 100)
 *   "records": [{"type", "id", "size"}], "record_count", "record_bytes",
 *   "record_types": {type: count} (and "records_not_listed" past 100),
 *   "records_refused": records the host refused (each also a problem)
 *   "route_keys": {"count", "keys": [the first 20]}
 *   "connection_status": {"state", "cause"}
 *   "state_staged": state writes staged with state_set_on_commit (ABI 1.6)
 * Only accepted calls count, but for records_refused. Call after fh_end,
 * before the next fh_begin. */
json_t *fh_step_pipeline(void);

/* After event or tick returned: applies the state writes the step staged
 * with state_set_on_commit (ABI 1.6) when ok, as c360d does with the
 * records, else drops them. Returns how many there were. */
size_t fh_state_commit_staged(bool ok);

/* Moves the problems and warnings recorded since the last take into the
 * given arrays (of strings). */
void fh_take_findings(json_t *problems, json_t *warnings);

/* The HTTP status of the fake host's canned response (default 200), so that
 * a plugin's error paths can be run: 100..599. */
void fh_set_http_status(int status);

/* Stores a secret of the fake connection before the run (--secret), as
 * the connect flow would have stored it in c360d. 0, or -1 for a name the
 * host refuses (not 1..200 printable ASCII, or "oauth:...") or a value over
 * the host's limit. */
int fh_secret_seed(const char *name, const void *value, size_t len);

/* After oauth_connect (ABI 1.3) returned st with *o filled, and before
 * fh_end: checks the answer as c360d's admin API does (ch_oc_answer_check,
 * a problem if it would be refused), and releases o->host_secret as c360d
 * does (secret_free, recorded in the trace; a problem if it is not a
 * secret the host handed out). Returns a summary (new JSON object):
 * authorize_url, client_id, scope, extra_params, pkce, token_url, auth,
 * token_name, and whether a client secret was given -- never its value. */
json_t *fh_oauth_connect_answer(const c360_oauth_connect *o, int32_t st);

/* Ends the run, after fini: host buffers the plugin still holds are
 * reported as one problem (take it with fh_take_findings) and released;
 * the in-memory state and secrets are dropped. */
void fh_finish(void);

/* A JSON string of s, even if s is not valid UTF-8 (bytes that are not are
 * replaced by '?'); "(null)" for NULL. New reference, never NULL. */
json_t *fh_json_text(const char *s);

/* Prints one trace entry as fh_set_echo does. */
void fh_print_entry(FILE *out, const json_t *entry);

/* Prints s to out on one line: control characters are escaped (\n, \xNN),
 * and at most max bytes are printed (then "..."). */
void fh_print_line_text(FILE *out, const char *s, size_t max);

#endif
