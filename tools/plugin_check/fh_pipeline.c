/* fh_pipeline.c -- the ABI 1.2 pipeline services of the fake host:
 * call_dedup_key, route_event, instance_route_keys, record_emit and
 * connection_status, with the contracts of connector_api.h and
 * docs/pipeline.md, and without Redis.
 *
 * What each checks, and why it matters more here than in c360d:
 *
 *  - Where it is called from. Each of these services belongs to one moment
 *    of the pipeline (the dedup key to the webhook being verified, routing
 *    to webhook_route, records to event and tick, whose outcome commits
 *    them). Called anywhere else, c360d has nothing to attach it to, and
 *    the plugin's author sees at most a status code that is easy to ignore.
 *    route_event and record_emit outside their callbacks are problems
 *    (C360_EUNSUPPORTED: "not offered here"); a stray dedup key is a
 *    warning, since dropping it loses nothing but deduplication.
 *  - The arguments, as the host's key rule (ch_name_valid: 1..200 bytes of
 *    printable ASCII, 0x21..0x7e) and limits (1000 routing keys, 1 MiB per
 *    record) say. A bad routing key or state is C360_EINVAL with a warning,
 *    as for every ABI 1.1 service. A record that fails validation is a
 *    PROBLEM instead: the callback usually returns ok anyway, its event is
 *    acknowledged, and the record is gone for good without anyone noticing.
 *  - instance_route_keys and connection_status may block (Redis): they pass
 *    the same gate as the 1.1 services (fh_gate_locked), so a call from the
 *    event loop or the main thread is refused with C360_EDENIED and is a
 *    problem.
 *
 * Each call is a trace entry with named args; record JSON is never
 * recorded (it is customer data), only its size. Besides the trace, the
 * running step gets a summary (fh_step_pipeline) that main.c prints: the
 * dedup key, the routing keys routed to, the records emitted, the routing
 * keys registered and the status reported. The routing keys the one fake
 * connection registered outlive the step, as in c360d's index, so that
 * route_event can say whether a key would reach it. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "connstatus.h"
#include "fh_internal.h"
#include "keys.h"

#define FH_NAME_RULE "1..200 bytes of printable ASCII (0x21..0x7e)"
/* The ABI's limits. */
#define FH_ROUTE_KEYS_MAX 1000u
#define FH_RECORD_MAX ((size_t)1024 * 1024)
/* What the summary of one step lists by name; the counts stay exact. A
 * plugin that emits more is not wrong, but its list says nothing more. */
#define FH_PL_LIST_MAX 100
/* Routing keys shown in one trace entry, and in the summary. */
#define FH_PL_KEYS_SHOWN 10
#define FH_PL_KEYS_SUMMARY 20
/* Record ids remembered per step to spot an id emitted twice: bounded so
 * that a runaway emitter cannot eat the tool's memory. */
#define FH_PL_SEEN_MAX 10000

/* All guarded by fh_lock. */
static json_t *fh_pl_step;  /* the summary of the running (or last) step */
static json_t *fh_pl_seen;  /* "type\nid" -> true: this step's records */
static json_t *fh_pl_keys;  /* the routing keys the connection registered */

/* ------------------------------------------------------------------------ */
/* The step's summary                                                        */
/* ------------------------------------------------------------------------ */

void fh_pipeline_begin_locked(void)
{
    json_decref(fh_pl_step);
    json_decref(fh_pl_seen);
    fh_pl_step = fh_need(json_object());
    fh_pl_seen = fh_need(json_object());
}

void fh_pipeline_reset_locked(void)
{
    json_decref(fh_pl_step);
    json_decref(fh_pl_seen);
    json_decref(fh_pl_keys);
    fh_pl_step = NULL;
    fh_pl_seen = NULL;
    fh_pl_keys = NULL;
}

json_t *fh_step_pipeline(void)
{
    pthread_mutex_lock(&fh_lock);
    /* A copy: the plugin may still call from a thread of its own while
     * main.c prints, and those calls must not change what it reads. */
    json_t *copy = fh_pl_step != NULL ? json_deep_copy(fh_pl_step)
                                      : json_object();
    pthread_mutex_unlock(&fh_lock);
    return fh_need(copy);
}

/* The summary's member `name`, created empty (array or object) if absent.
 * Only called inside a step (fh_pipeline_begin_locked has run). */
static json_t *fh_pl_member(const char *name, bool array)
{
    json_t *v = json_object_get(fh_pl_step, name);
    if (v == NULL) {
        v = fh_need(array ? json_array() : json_object());
        json_object_set_new(fh_pl_step, name, v);
    }
    return v;
}

static void fh_pl_count(const char *name, json_int_t by)
{
    json_t *v = json_object_get(fh_pl_step, name);
    json_int_t n = (v != NULL ? json_integer_value(v) : 0) + by;
    json_object_set_new(fh_pl_step, name, fh_need(json_integer(n)));
}

void fh_pipeline_count_locked(const char *name, json_int_t by)
{
    if (fh_pl_step != NULL)
        fh_pl_count(name, by);
}

/* Whether the running callback is `a` or `b` (b may be NULL). */
static bool fh_pl_in(const char *a, const char *b)
{
    const char *cb = fh_callback_locked();
    return cb != NULL && (strcmp(cb, a) == 0 || (b != NULL && strcmp(cb, b) == 0));
}

/* Why a name (routing key, dedup key, record type or id) breaks the host's
 * rule, or NULL if it keeps it. ch_name_valid decides, so the tool refuses
 * exactly what c360d refuses; the rest only says why. */
static const char *fh_pl_name_problem(const char *s, char *buf, size_t cap)
{
    if (ch_name_valid(s))
        return NULL;
    if (s == NULL)
        return "is NULL";
    size_t n = strnlen(s, CH_NAME_MAX + 1);
    if (n == 0)
        return "is empty";
    if (n > CH_NAME_MAX)
        return "is longer than 200 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e) {
            snprintf(buf, cap, "has byte 0x%02x at offset %zu (spaces, "
                     "control characters and non-ASCII are refused)", c, i);
            return buf;
        }
    }
    return "is not " FH_NAME_RULE; /* not reached: ch_name_valid agrees */
}

/* C360_EINVAL for argument `what` of fn, which breaks the name rule. */
static int32_t fh_pl_bad_name(json_t *e, const char *fn, const char *what,
                              const char *s)
{
    char buf[128], why[256];
    snprintf(why, sizeof(why), "%s %s; it must be " FH_NAME_RULE, what,
             fh_pl_name_problem(s, buf, sizeof(buf)));
    return fh_invalid_locked(e, fn, why);
}

/* ------------------------------------------------------------------------ */
/* call_dedup_key                                                            */
/* ------------------------------------------------------------------------ */

static void fh_dedup_locked(json_t *e, c360_call *call, const char *key)
{
    if (!fh_call_ok_locked("call_dedup_key", call)) {
        fh_detail(e, "ignored: not the call handle of this callback");
        return;
    }
    if (fh_pl_in("webhook_route", NULL)) {
        fh_warning_locked("host.call_dedup_key in webhook_route: the ABI "
                          "takes it from webhook_verify on a connection URL "
                          "only; an app-level event names its dedup key in "
                          "host->route_event(call, routing_key, dedup_key)");
        fh_detail(e, "ignored: pass it to route_event");
        return;
    }
    if (!fh_pl_in("webhook_verify", NULL)) {
        /* Any other callback works on an event already stored (or on no
         * event at all): deduplication happened, or never will. */
        fh_warning_locked("host.call_dedup_key outside webhook_verify: "
                          "deduplication happens when a webhook arrives, so "
                          "the key is ignored here");
        fh_detail(e, "ignored: not in webhook_verify");
        return;
    }
    if (call->inst == NULL) {
        /* The dedup window is per connection (dd:<c>:<key>), and on the
         * app-level URL no connection is known until webhook_route. */
        fh_warning_locked("host.call_dedup_key on the app-level URL: dedup "
                          "keys are kept per connection, which only "
                          "webhook_route decides; pass the key to "
                          "host->route_event instead");
        fh_detail(e, "ignored: app-level URL");
        return;
    }
    char buf[128];
    const char *bad = fh_pl_name_problem(key, buf, sizeof(buf));
    if (bad != NULL) {
        /* No status to return: the plugin cannot learn of it but here. */
        fh_warning_locked("host.call_dedup_key: the key %s; it must be "
                          FH_NAME_RULE ", so the event is stored without "
                          "deduplication", bad);
        fh_detail(e, "ignored: the key %s", bad);
        return;
    }
    json_t *prev = json_object_get(fh_pl_step, "dedup_key");
    if (prev != NULL)
        fh_detail(e, "replaces \"%s\": the last key named counts",
                  json_string_value(prev));
    else
        fh_detail(e, "the host drops a repeat of this key for this "
                  "connection within its dedup window (7 days)");
    json_object_set_new(fh_pl_step, "dedup_key", fh_json_text(key));
}

void fh_call_dedup_key(c360_call *call, const char *key)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("call_dedup_key");
    fh_named_str(e, "key", key);
    if (fh_in_step_locked()) /* else fh_record_locked reports the call */
        fh_dedup_locked(e, call, key);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

/* ------------------------------------------------------------------------ */
/* route_event                                                               */
/* ------------------------------------------------------------------------ */

static bool fh_pl_key_registered(const char *key)
{
    size_t i;
    json_t *k;
    json_array_foreach(fh_pl_keys, i, k)
        if (strcmp(json_string_value(k), key) == 0)
            return true;
    return false;
}

static int32_t fh_route_locked(json_t *e, c360_call *call,
                               const char *routing_key, const char *dedup_key)
{
    if (!fh_call_ok_locked("route_event", call)) {
        fh_detail(e, "refused: not the call handle of this callback");
        return fh_status(e, C360_EINVAL);
    }
    if (!fh_pl_in("webhook_route", NULL)) {
        fh_problem_locked("host.route_event outside webhook_route: c360d "
                          "routes an event only while webhook_route maps an "
                          "app-level webhook to connections "
                          "(C360_EUNSUPPORTED)");
        fh_detail(e, "refused: only webhook_route routes");
        return fh_status(e, C360_EUNSUPPORTED);
    }
    if (!ch_name_valid(routing_key))
        return fh_pl_bad_name(e, "route_event", "routing_key", routing_key);
    /* "" means none, as NULL does: c360d's route sink reads it so. */
    if (dedup_key != NULL && dedup_key[0] == '\0')
        dedup_key = NULL;
    if (dedup_key != NULL && !ch_name_valid(dedup_key))
        return fh_pl_bad_name(e, "route_event", "dedup_key (may be NULL)",
                              dedup_key);

    json_t *routes = fh_pl_member("routes", true);
    bool again = false;
    size_t i;
    json_t *rt;
    json_array_foreach(routes, i, rt) {
        const char *k = json_string_value(json_object_get(rt, "routing_key"));
        if (strcmp(k, routing_key) == 0)
            again = true;
    }
    bool ours = fh_pl_key_registered(routing_key);
    fh_pl_count("route_calls", 1);
    if (again) {
        fh_detail(e, "this key was routed before in this call: the event "
                  "still reaches each connection once");
        return fh_status(e, C360_OK);
    }
    if (json_array_size(routes) < FH_PL_LIST_MAX) {
        json_t *j = fh_need(json_object());
        json_object_set_new(j, "routing_key", fh_json_text(routing_key));
        json_object_set_new(j, "dedup_key", dedup_key != NULL
                                                ? fh_json_text(dedup_key)
                                                : json_null());
        json_object_set_new(j, "connection",
                            ours ? fh_json_text(fh_instance_connection_id())
                                 : json_null());
        json_array_append_new(routes, j);
    } else {
        fh_pl_count("routes_not_listed", 1);
    }
    fh_pl_count("route_count", 1);
    if (ours)
        fh_detail(e, "routed to %s, which registered this key",
                  fh_instance_connection_id());
    else
        fh_detail(e, "routed to the connections that registered this key "
                  "(here none did: %s registered %zu)",
                  fh_instance_connection_id(),
                  json_array_size(fh_pl_keys));
    return fh_status(e, C360_OK);
}

int32_t fh_route_event(c360_call *call, const char *routing_key,
                       const char *dedup_key)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("route_event");
    fh_named_str(e, "routing_key", routing_key);
    fh_named_new(e, "dedup_key", dedup_key != NULL ? fh_json_text(dedup_key)
                                                   : json_null());
    int32_t st = fh_in_step_locked()
                     ? fh_route_locked(e, call, routing_key, dedup_key)
                     : fh_status(e, C360_EUNSUPPORTED);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

/* ------------------------------------------------------------------------ */
/* instance_route_keys                                                       */
/* ------------------------------------------------------------------------ */

static int32_t fh_route_keys_locked(json_t *e, c360_call *call,
                                    const char *const *keys, uint32_t count)
{
    int32_t st = fh_gate_locked(e, "instance_route_keys", call);
    if (st != C360_OK)
        return st;
    if (!fh_pl_in("instance_open", "tick"))
        /* c360d would store them all the same; but keys registered from
         * event or deliver change only when traffic happens to come. */
        fh_warning_locked("host.instance_route_keys from %s: the ABI takes "
                          "a connection's routing keys from instance_open "
                          "or tick, which run whether or not events arrive",
                          fh_callback_locked());
    if (count > FH_ROUTE_KEYS_MAX) {
        char why[96];
        snprintf(why, sizeof(why), "%u keys; at most %u are allowed",
                 (unsigned)count, FH_ROUTE_KEYS_MAX);
        return fh_invalid_locked(e, "instance_route_keys", why);
    }
    if (count > 0 && keys == NULL)
        return fh_invalid_locked(e, "instance_route_keys",
                                 "keys is NULL but count is not 0");
    for (uint32_t i = 0; i < count; i++) {
        if (!ch_name_valid(keys[i])) {
            char what[32];
            snprintf(what, sizeof(what), "keys[%u]", (unsigned)i);
            return fh_pl_bad_name(e, "instance_route_keys", what, keys[i]);
        }
    }

    /* Replaces the set, duplicates ignored, as ch_conn_route_keys_set
     * does. Quadratic, but 1000 keys is the limit. */
    json_t *set = fh_need(json_array());
    for (uint32_t i = 0; i < count; i++) {
        bool dup = false;
        size_t k;
        json_t *have;
        json_array_foreach(set, k, have)
            if (strcmp(json_string_value(have), keys[i]) == 0)
                dup = true;
        if (!dup)
            json_array_append_new(set, fh_json_text(keys[i]));
    }
    size_t before = fh_pl_keys != NULL ? json_array_size(fh_pl_keys) : 0;
    size_t n = json_array_size(set);
    json_decref(fh_pl_keys);
    fh_pl_keys = set;

    json_t *sum = fh_need(json_object());
    json_object_set_new(sum, "count", fh_need(json_integer((json_int_t)n)));
    json_t *shown = fh_need(json_array());
    for (size_t i = 0; i < n && i < FH_PL_KEYS_SUMMARY; i++)
        json_array_append(shown, json_array_get(set, i));
    json_object_set_new(sum, "keys", shown);
    json_object_set_new(fh_pl_step, "route_keys", sum);

    if (n < count)
        fh_detail(e, "%zu keys registered for %s (%u duplicate%s ignored), "
                  "replacing %zu", n, fh_call_connection(call),
                  (unsigned)(count - n), count - n == 1 ? "" : "s", before);
    else
        fh_detail(e, "%zu keys registered for %s, replacing %zu", n,
                  fh_call_connection(call), before);
    return fh_status(e, C360_OK);
}

int32_t fh_instance_route_keys(c360_call *call, const char *const *keys,
                               uint32_t count)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("instance_route_keys");
    fh_named_int(e, "count", count);
    /* The first few keys, read only as far as count says, and not at all
     * when count is over the limit: the host refuses that before it reads
     * a key, and a count that large may well be garbage. */
    if (keys != NULL && count <= FH_ROUTE_KEYS_MAX) {
        json_t *shown = fh_need(json_array());
        for (uint32_t i = 0; i < count && i < FH_PL_KEYS_SHOWN; i++)
            json_array_append_new(shown, fh_json_text(keys[i]));
        if (count > FH_PL_KEYS_SHOWN)
            json_array_append_new(shown, fh_need(json_sprintf(
                "... %u more", (unsigned)(count - FH_PL_KEYS_SHOWN))));
        fh_named_new(e, "keys", shown);
    }
    int32_t st = fh_in_step_locked()
                     ? fh_route_keys_locked(e, call, keys, count)
                     : fh_status(e, C360_EINVAL);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

/* ------------------------------------------------------------------------ */
/* record_emit                                                               */
/* ------------------------------------------------------------------------ */

static const char *fh_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* What kind of parse error jerr is, in words that quote nothing. */
static const char *fh_json_error_name(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8: return "invalid UTF-8";
    case json_error_premature_end_of_input: return "the text ends early";
    case json_error_end_of_input_expected:
        return "more text after the JSON value";
    case json_error_invalid_syntax: return "a syntax error";
    case json_error_null_character: return "a NUL byte";
    case json_error_null_byte_in_key: return "a \\u0000 in a key";
    case json_error_numeric_overflow: return "a number out of range";
    case json_error_stack_overflow: return "nesting too deep";
    default: return "a parse error";
    }
}

/* A record the host refuses: status st, and a problem (see the top). */
static int32_t fh_bad_record(json_t *e, int32_t st, const char *why)
{
    fh_detail(e, "%s", why);
    fh_problem_locked("host.record_emit: %s (%s); the record is never "
                      "delivered, and if the callback still returns ok, "
                      "c360d commits its work without it", why,
                      st == C360_ETOOBIG ? "C360_ETOOBIG" : "C360_EINVAL");
    fh_pl_count("records_refused", 1);
    return fh_status(e, st);
}

static int32_t fh_emit_locked(json_t *e, c360_call *call, const char *type,
                              const char *id, const char *json,
                              size_t json_len)
{
    if (!fh_call_ok_locked("record_emit", call)) {
        fh_detail(e, "refused: not the call handle of this callback");
        return fh_status(e, C360_EINVAL);
    }
    /* event and tick exist only for source plugins (the loader requires
     * them with the source capabilities, and the tool calls them only
     * then): the callback alone says whether this is a source at work. */
    if (!fh_pl_in("event", "tick")) {
        fh_problem_locked("host.record_emit outside event and tick: c360d "
                          "takes records only from a source plugin's event "
                          "or tick, whose outcome commits them "
                          "(C360_EUNSUPPORTED)");
        fh_detail(e, "refused: records come from event or tick");
        return fh_status(e, C360_EUNSUPPORTED);
    }
    char buf[128], why[300];
    const char *bad = fh_pl_name_problem(type, buf, sizeof(buf));
    if (bad != NULL) {
        snprintf(why, sizeof(why), "type %s; it must be " FH_NAME_RULE, bad);
        return fh_bad_record(e, C360_EINVAL, why);
    }
    bad = fh_pl_name_problem(id, buf, sizeof(buf));
    if (bad != NULL) {
        snprintf(why, sizeof(why), "id %s; it must be " FH_NAME_RULE, bad);
        return fh_bad_record(e, C360_EINVAL, why);
    }
    if (json == NULL)
        return fh_bad_record(e, C360_EINVAL, "json is NULL");
    if (json_len > FH_RECORD_MAX) {
        snprintf(why, sizeof(why), "json is %zu bytes, over the limit of "
                 "1 MiB (%zu bytes)", json_len, FH_RECORD_MAX);
        return fh_bad_record(e, C360_ETOOBIG, why);
    }
    json_error_t jerr;
    json_t *doc = json_loadb(json, json_len, 0, &jerr);
    if (doc == NULL) {
        /* Jansson's own text quotes the token near the error, i.e. a piece
         * of the record: customer data, which must not reach the output.
         * Its error code and position say enough. */
        snprintf(why, sizeof(why), "json does not parse: %s at byte %d "
                 "(line %d, column %d)", fh_json_error_name(&jerr),
                 jerr.position, jerr.line, jerr.column);
        return fh_bad_record(e, C360_EINVAL, why);
    }
    if (!json_is_object(doc)) {
        snprintf(why, sizeof(why), "json must be a JSON object, not %s",
                 fh_json_type_name(doc));
        json_decref(doc);
        return fh_bad_record(e, C360_EINVAL, why);
    }
    json_decref(doc);

    /* Type and id are printable ASCII now: safe as an object key. */
    char seen_key[2 * CH_NAME_MAX + 2];
    snprintf(seen_key, sizeof(seen_key), "%s\n%s", type, id);
    if (json_object_get(fh_pl_seen, seen_key) != NULL)
        fh_warning_locked("host.record_emit: record %s %s emitted twice in "
                          "one call: destinations take the id as an "
                          "idempotency key, so one of the two is dropped as "
                          "a repeat", type, id);
    else if (json_object_size(fh_pl_seen) < FH_PL_SEEN_MAX)
        json_object_set_new(fh_pl_seen, seen_key, json_true());

    json_t *list = fh_pl_member("records", true);
    if (json_array_size(list) < FH_PL_LIST_MAX) {
        json_t *j = fh_need(json_object());
        json_object_set_new(j, "type", fh_json_text(type));
        json_object_set_new(j, "id", fh_json_text(id));
        json_object_set_new(j, "size",
                            fh_need(json_integer((json_int_t)json_len)));
        json_array_append_new(list, j);
    } else {
        fh_pl_count("records_not_listed", 1);
    }
    json_t *types = fh_pl_member("record_types", false);
    json_t *nt = json_object_get(types, type);
    if (nt != NULL || json_object_size(types) < FH_PL_LIST_MAX)
        json_object_set_new(types, type, fh_need(json_integer(
            (nt != NULL ? json_integer_value(nt) : 0) + 1)));
    fh_pl_count("record_count", 1);
    fh_pl_count("record_bytes", (json_int_t)json_len);
    fh_detail(e, "record %" JSON_INTEGER_FORMAT " of this call, a JSON "
              "object; committed only if the callback returns ok",
              json_integer_value(json_object_get(fh_pl_step,
                                                 "record_count")));
    return fh_status(e, C360_OK);
}

int32_t fh_record_emit(c360_call *call, const char *type, const char *id,
                       const char *json, size_t json_len)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("record_emit");
    fh_named_str(e, "type", type);
    fh_named_str(e, "id", id);
    /* The size, never the content: a record is customer data. */
    fh_named_int(e, "json_len", (json_int_t)json_len);
    int32_t st = fh_in_step_locked()
                     ? fh_emit_locked(e, call, type, id, json, json_len)
                     : fh_status(e, C360_EUNSUPPORTED);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

/* ------------------------------------------------------------------------ */
/* connection_status                                                         */
/* ------------------------------------------------------------------------ */

static const char *fh_conn_state_name(int32_t state)
{
    switch (state) {
    case C360_CONN_ACTIVE: return "active";
    case C360_CONN_FAILING: return "failing";
    case C360_CONN_NEEDS_REAUTH: return "needs_reauth";
    default: return NULL;
    }
}

static int32_t fh_status_locked(json_t *e, c360_call *call, int32_t state,
                                const char *cause)
{
    int32_t st = fh_gate_locked(e, "connection_status", call);
    if (st != C360_OK)
        return st;
    const char *name = fh_conn_state_name(state);
    if (name == NULL) {
        char why[160];
        snprintf(why, sizeof(why), "state %d is not a c360_conn_state "
                 "(active 0, failing 1, needs_reauth 2)", (int)state);
        return fh_invalid_locked(e, "connection_status", why);
    }
    /* The cause is shown to the customer as c360d stores it
     * (connstatus.h): NULL is "", control characters become spaces, and
     * it is cut to fit. The host accepts all of it; the author should know
     * that the customer sees something else than was written. */
    const char *c = cause != NULL ? cause : "";
    size_t n = strlen(c);
    if (n >= CH_CONNSTATUS_CAUSE_MAX)
        fh_warning_locked("host.connection_status: the cause is %zu bytes; "
                          "the customer sees only the first %d", n,
                          CH_CONNSTATUS_CAUSE_MAX - 1);
    bool ctl = false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
            ctl = true;
    if (ctl)
        fh_warning_locked("host.connection_status: the cause has control "
                          "characters, which the customer sees as spaces");
    json_t *utf8 = json_string(c);
    if (utf8 == NULL)
        fh_warning_locked("host.connection_status: the cause is not valid "
                          "UTF-8, which the admin API cannot show as text");
    json_decref(utf8);

    json_t *sum = fh_need(json_object());
    json_object_set_new(sum, "state", fh_need(json_string(name)));
    json_object_set_new(sum, "cause", fh_json_text(c));
    json_object_set_new(fh_pl_step, "connection_status", sum);
    if (state == C360_CONN_NEEDS_REAUTH)
        fh_detail(e, "%s is now needs_reauth: c360d stops its scheduled "
                  "work until the customer reconnects",
                  fh_call_connection(call));
    else
        fh_detail(e, "%s is now %s", fh_call_connection(call), name);
    return fh_status(e, C360_OK);
}

int32_t fh_connection_status(c360_call *call, int32_t state,
                             const char *cause)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("connection_status");
    const char *name = fh_conn_state_name(state);
    if (name != NULL)
        fh_named_str(e, "state", name);
    else
        fh_named_int(e, "state", state);
    fh_named_new(e, "cause", cause != NULL ? fh_json_text(cause)
                                           : json_null());
    int32_t st = fh_in_step_locked()
                     ? fh_status_locked(e, call, state, cause)
                     : fh_status(e, C360_EINVAL);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}
