/* hostapi.c -- the host services of ABI 1.0: logging, clocks, call outcome,
 * config errors, instance identity. Every entry point checks the handles it
 * is given (magic numbers): a plugin passing a stale or foreign pointer gets
 * a refusal in the log, not a crash in the host. */
#include "hostapi.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "call.h"
#include "audit.h"
#include "conns.h"
#include "keys.h"
#include "route_sink.h"
#include "records.h"
#include "state_staged.h"
#include "worker_status.h"
#include "conns.h"
#include "connstatus.h"
#include "crypto.h"
#include "httpc.h"
#include "oauth.h"
#include "ratelimit.h"
#include "secrets.h"
#include "instance.h"
#include "log.h"
#include "state.h"
#include "svc.h"

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

/* --- ABI 1.1 services ---------------------------------------------------
 * Every blocking service first resolves the call's scope (its instance:
 * tenant and connection come from the host, never from the plugin), and is
 * refused on the event-loop thread, where blocking would stall every
 * webhook of every tenant. */

static pthread_t g_loop_thread;
static int g_loop_thread_set;

void ch_hostapi_set_loop_thread(void)
{
    g_loop_thread = pthread_self();
    g_loop_thread_set = 1;
}

static int32_t scope_for_blocking(c360_call *call, const char *service, ch_scope *s)
{
    if (g_loop_thread_set && pthread_equal(pthread_self(), g_loop_thread)) {
        ch_log(CH_LOG_ERROR, "plugin called a blocking host service on the event loop; refused",
               "plugin", ch_call_valid(call) ? call->plugin : "?", "service", service, NULL);
        return C360_EDENIED;
    }
    int32_t st = ch_svc_scope(call, s);
    if (st != C360_OK && ch_call_valid(call))
        ch_log(CH_LOG_WARN, "host service needs a connection; called outside one",
               "plugin", call->plugin, "service", service, NULL);
    return st;
}

static int32_t api_state_get(c360_call *call, const char *key, uint8_t **value,
                             size_t *len, uint64_t *version)
{
    ch_scope s;
    if (!value || !len) return C360_EINVAL;
    int32_t st = scope_for_blocking(call, "state_get", &s);
    if (st != C360_OK) return st;
    ch_staged_barrier(s.tenant, s.connection);
    return ch_state_get(s.tenant, s.connection, key, value, len, version);
}

static int32_t api_state_set(c360_call *call, const char *key, const void *value,
                             size_t len, uint32_t ttl_ms, uint64_t *new_version)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "state_set", &s);
    if (st != C360_OK) return st;
    ch_staged_barrier(s.tenant, s.connection);
    return ch_state_set(s.tenant, s.connection, key, value, len, ttl_ms, new_version);
}

static int32_t api_state_cas(c360_call *call, const char *key, const void *value,
                             size_t len, uint64_t expected, uint32_t ttl_ms,
                             uint64_t *new_version)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "state_cas", &s);
    if (st != C360_OK) return st;
    ch_staged_barrier(s.tenant, s.connection);
    return ch_state_cas(s.tenant, s.connection, key, value, len, expected, ttl_ms, new_version);
}

static int32_t api_state_delete(c360_call *call, const char *key)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "state_delete", &s);
    if (st != C360_OK) return st;
    ch_staged_barrier(s.tenant, s.connection);
    return ch_state_delete(s.tenant, s.connection, key);
}

static int32_t api_state_incr(c360_call *call, const char *key, int64_t delta, int64_t *result)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "state_incr", &s);
    if (st != C360_OK) return st;
    ch_staged_barrier(s.tenant, s.connection);
    return ch_state_incr(s.tenant, s.connection, key, delta, result);
}

/* Errors of the secrets service name what went wrong, never the value;
 * they become the call's error for operators to see. */
static int32_t secret_result(c360_call *call, int32_t st, const char *err)
{
    if (st != C360_OK && st != C360_ENOTFOUND && err[0] && ch_call_valid(call))
        snprintf(call->error, sizeof call->error, "%s", err);
    return st;
}

/* The host keeps OAuth tokens among the connection's secrets under names
 * starting with "oauth:"; plugins reach them only through oauth_token. */
static int reserved_secret_name(const char *name)
{
    return name && strncmp(name, "oauth:", 6) == 0;
}

static int32_t api_secret_get(c360_call *call, const char *name, uint8_t **value, size_t *len)
{
    if (reserved_secret_name(name)) return C360_EDENIED;
    ch_scope s;
    char err[256] = "";
    if (!value || !len) return C360_EINVAL;
    *value = NULL;
    int32_t st = scope_for_blocking(call, "secret_get", &s);
    if (st != C360_OK) return st;
    return secret_result(call, ch_secret_get(s.tenant, s.connection, name, value, len, err, sizeof err), err);
}

static int32_t api_secret_put(c360_call *call, const char *name, const void *value, size_t len)
{
    if (reserved_secret_name(name)) return C360_EDENIED;
    ch_scope s;
    char err[256] = "";
    int32_t st = scope_for_blocking(call, "secret_put", &s);
    if (st != C360_OK) return st;
    st = ch_secret_put(s.tenant, s.connection, name, value, len, err, sizeof err);
    /* Every secret write is audited (ids only: the name, never the value). */
    ch_audit_plugin(s.plugin, s.tenant, s.connection, s.request_id, "secret.put", name,
                    st == C360_OK ? "ok" : c360_strstatus(st));
    return secret_result(call, st, err);
}

static int32_t api_secret_delete(c360_call *call, const char *name)
{
    if (reserved_secret_name(name)) return C360_EDENIED;
    ch_scope s;
    char err[256] = "";
    int32_t st = scope_for_blocking(call, "secret_delete", &s);
    if (st != C360_OK) return st;
    st = ch_secret_delete(s.tenant, s.connection, name, err, sizeof err);
    ch_audit_plugin(s.plugin, s.tenant, s.connection, s.request_id, "secret.delete", name,
                    st == C360_OK ? "ok" : c360_strstatus(st));
    return secret_result(call, st, err);
}

static int32_t api_rl_take(c360_call *call, int32_t scope, const char *bucket,
                           const c360_rl_limit *limit, uint32_t cost, uint32_t *wait_ms)
{
    ch_scope s;
    uint32_t dummy;
    if (!wait_ms) wait_ms = &dummy;
    *wait_ms = 0;
    int32_t st = scope_for_blocking(call, "ratelimit_take", &s);
    if (st != C360_OK) return st;
    return ch_ratelimit_take(s.plugin, s.tenant, s.connection, scope, bucket, limit, cost, wait_ms);
}

static int32_t api_rl_report(c360_call *call, int32_t scope, const char *bucket,
                             uint32_t usage_pct, uint32_t pause_ms)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "ratelimit_report", &s);
    if (st != C360_OK) return st;
    return ch_ratelimit_report(s.plugin, s.tenant, s.connection, scope, bucket, usage_pct, pause_ms);
}

static int32_t api_rl_feed(c360_call *call, int32_t scope, const char *bucket,
                           const c360_http_response *resp)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "ratelimit_feed_response", &s);
    if (st != C360_OK) return st;
    return ch_ratelimit_feed_response(s.plugin, s.tenant, s.connection, scope, bucket, resp);
}

static int32_t api_audit(c360_call *call, const char *action, const char *target, const char *outcome)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "audit", &s);
    if (st != C360_OK) return st;
    return ch_audit_plugin(s.plugin, s.tenant, s.connection, s.request_id, action, target, outcome);
}

static int32_t api_http(c360_call *call, const c360_http_request *req, c360_http_response **resp)
{
    ch_scope s;
    if (!resp) return C360_EINVAL;
    *resp = NULL;
    int32_t st = scope_for_blocking(call, "http", &s);
    if (st != C360_OK) return st;
    if (!req || req->struct_size < sizeof(c360_http_request)) return C360_EINVAL;
    /* A request never outlives the callback's deadline. */
    c360_http_request r = *req;
    int64_t left = ch_call_valid(call) && call->deadline_ms ? call->deadline_ms - ch_monotonic_ms() : 0;
    if (call->deadline_ms && left <= 0) return C360_ETIMEOUT;
    if (left > 0 && (r.timeout_ms == 0 || (int64_t)r.timeout_ms > left)) r.timeout_ms = (uint32_t)left;
    char err[256] = "";
    st = ch_httpc_request(&r, resp, err, sizeof err);
    if (st != C360_OK && err[0]) snprintf(call->error, sizeof call->error, "%s", err);
    return st;
}

/* A dead grant stops the connection's scheduled work: the OAuth service
 * records the cause in the connection's status; the registry state is what
 * the scheduler and the workers read, so it changes too. */
static void mark_needs_reauth(const ch_scope *s, const char *err)
{
    ch_connstatus cs;
    if (ch_connstatus_get(s->tenant, s->connection, &cs) != C360_OK ||
        strcmp(cs.state, CH_CONN_NEEDS_REAUTH) != 0)
        return;
    ch_conn_set_state(s->tenant, s->connection, "needs_reauth",
                      cs.cause[0] ? cs.cause : (err && err[0] ? err : "token rejected"),
                      "system", s->request_id);
}

static int32_t api_oauth_token(c360_call *call, const c360_oauth_params *p, char **token,
                               int64_t *expires_at_ms)
{
    ch_scope s;
    char err[256] = "";
    int64_t exp = 0;
    if (!token) return C360_EINVAL;
    *token = NULL;
    int32_t st = scope_for_blocking(call, "oauth_token", &s);
    if (st != C360_OK) return st;
    st = ch_oauth_token(s.tenant, s.connection, s.plugin, p, token, &exp, err, sizeof err);
    if (expires_at_ms) *expires_at_ms = exp;
    if (st == C360_EAUTH) mark_needs_reauth(&s, err);
    if (st != C360_OK && err[0]) snprintf(call->error, sizeof call->error, "%s", err);
    return st;
}

static int32_t api_oauth_exchange(c360_call *call, const c360_oauth_params *p)
{
    ch_scope s;
    char err[256] = "";
    int32_t st = scope_for_blocking(call, "oauth_exchange", &s);
    if (st != C360_OK) return st;
    st = ch_oauth_exchange(s.tenant, s.connection, s.plugin, p, err, sizeof err);
    if (st != C360_OK && err[0]) snprintf(call->error, sizeof call->error, "%s", err);
    return st;
}

static int32_t api_oauth_rejected(c360_call *call, const char *token_name, const char *reason)
{
    ch_scope s;
    char err[256] = "";
    int32_t st = scope_for_blocking(call, "oauth_token_rejected", &s);
    if (st != C360_OK) return st;
    st = ch_oauth_token_rejected(s.tenant, s.connection, s.plugin, token_name, reason, err, sizeof err);
    if (st == C360_EAUTH) mark_needs_reauth(&s, err);
    if (st != C360_OK && err[0]) snprintf(call->error, sizeof call->error, "%s", err);
    return st;
}

static int32_t api_base64_decode(const char *text, size_t text_len, int32_t variant,
                                 uint8_t **bin, size_t *len)
{
    if (!bin || !len) return C360_EINVAL;
    return ch_base64_decode(text, text_len, variant, bin, len);
}

/* --- ABI 1.2: pipeline adapters (ingress, routing keys) -----------------
 * call_dedup_key and route_event run inside webhook_verify/webhook_route on
 * the event loop: they only record into the call (never block); the
 * ingress reads what they recorded. instance_route_keys blocks (Redis) and
 * is refused on the loop like every blocking service. */

static void api_call_dedup_key(c360_call *call, const char *key)
{
    if (!ch_call_valid(call)) return;
    if (!ch_name_valid(key)) {
        /* No status to return: drop the key (the event is then stored
         * without dedup, i.e. at least once) and say why once. */
        static atomic_int warned;
        if (!atomic_exchange(&warned, 1))
            ch_log(CH_LOG_WARN, "call_dedup_key: key refused (1..200 printable ASCII bytes)",
                   "plugin", call->plugin, NULL);
        return;
    }
    size_t n = strnlen(key, sizeof call->dedup_key - 1); /* no printf: once per webhook */
    memcpy(call->dedup_key, key, n);
    call->dedup_key[n] = '\0';
}

static int32_t api_route_event(c360_call *call, const char *routing_key, const char *dedup_key)
{
    if (!ch_call_valid(call)) return C360_EINVAL;
    if (!call->route) return C360_EUNSUPPORTED; /* only from webhook_route */
    return ch_route_sink_add(call->route, routing_key, dedup_key);
}

static int32_t api_instance_route_keys(c360_call *call, const char *const *keys, uint32_t count)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "instance_route_keys", &s);
    if (st != C360_OK) return st;
    if (count && !keys) return C360_EINVAL;
    return ch_conn_route_keys_set(s.tenant, s.connection, s.plugin, keys, count);
}

/* --- ABI 1.2: pipeline adapters (workers: records, connection status) ---
 * record_emit only buffers into the call (records.h): the worker commits
 * the buffer with the event's acknowledgement when the callback returns
 * OK, so it never blocks and works wherever the worker hung a buffer (event
 * and tick callbacks of a source), and nowhere else. connection_status
 * blocks (Redis) and is refused on the loop. */

static int32_t api_record_emit(c360_call *call, const char *type, const char *id,
                               const char *json, size_t json_len)
{
    if (!ch_call_valid(call)) return C360_EINVAL;
    if (!call->records) return C360_EUNSUPPORTED;
    return ch_records_add(call->records, type, id, json, json_len);
}

static int32_t api_connection_status(c360_call *call, int32_t state, const char *cause)
{
    ch_scope s;
    int32_t st = scope_for_blocking(call, "connection_status", &s);
    if (st != C360_OK) return st;
    return ch_worker_conn_status(s.tenant, s.connection, s.plugin, state, cause, s.request_id);
}

/* --- ABI 1.6: state committed with the call ------------------------------
 * state_set_on_commit only buffers into the call (state_staged.h), next to
 * the records: the worker applies the writes in the script that commits
 * the records and acknowledges the item, only when the callback returned
 * OK. Where the worker hung no buffer (any callback but a source's event
 * or tick) there is nothing to commit with: C360_EDENIED, which a plugin
 * can tell from a bad argument and answer with a plain state_set. */

static int32_t api_state_set_on_commit(c360_call *call, const char *key, const void *value,
                                       size_t len, uint32_t ttl_ms)
{
    if (!ch_call_valid(call)) return C360_EINVAL;
    if (!call->staged) return C360_EDENIED;
    return ch_staged_add(call->staged, key, value, len, ttl_ms,
                         ch_svc_limits_current.state_max_value);
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
    .state_get = api_state_get,
    .state_set = api_state_set,
    .state_cas = api_state_cas,
    .state_delete = api_state_delete,
    .state_incr = api_state_incr,
    .secret_get = api_secret_get,
    .secret_put = api_secret_put,
    .secret_delete = api_secret_delete,
    .secret_free = ch_secret_value_free,
    .ratelimit_take = api_rl_take,
    .ratelimit_report = api_rl_report,
    .ratelimit_feed_response = api_rl_feed,
    .audit = api_audit,
    .http = api_http,
    .http_free = ch_http_response_free,
    .oauth_token = api_oauth_token,
    .oauth_exchange = api_oauth_exchange,
    .oauth_token_rejected = api_oauth_rejected,
    .hmac_sha256 = ch_hmac_sha256,
    .sha256 = ch_sha256,
    .ct_equal = ch_ct_equal,
    .base64_encode = ch_base64_encode,
    .base64_decode = api_base64_decode,
    .hex_encode = ch_hex_encode,
    .random_bytes = ch_random_bytes,
    /* ABI 1.2: pipeline */
    .call_dedup_key = api_call_dedup_key,
    .route_event = api_route_event,
    .instance_route_keys = api_instance_route_keys,
    .record_emit = api_record_emit,
    .connection_status = api_connection_status,
    /* ABI 1.6 */
    .state_set_on_commit = api_state_set_on_commit,
    /* ABI 1.8 */
    .hmac_sha256_key_new = ch_hmac_key_new,
    .hmac_sha256_keyed = ch_hmac_sha256_keyed,
    .hmac_sha256_key_free = ch_hmac_key_free,
};

const c360_host_api *ch_host_api(void) { return &g_api; }
