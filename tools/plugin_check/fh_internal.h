/* fh_internal.h -- what the parts of the fake host share; main.c uses
 * fakehost.h only.
 *
 * fakehost.c owns the recording (one lock, the trace, the findings), the
 * gate every blocking service shares, and the table; fh_abi10.c has the
 * ABI 1.0 services; each ABI 1.1 service family has a file of its own
 * (fh_state.c, fh_secrets.c, fh_ratelimit.c, fh_audit.c, fh_http.c,
 * fh_oauth.c, fh_crypto.c), fh_pipeline.c has the ABI 1.2 pipeline services,
 * and fh_mem.c accounts for every buffer the fake hands to the plugin. Every service takes fh_lock for its whole run: the
 * plugin may call from any thread, and a checker has no need for speed.
 *
 * A 1.1 (and 1.2) trace entry is {"fn", "args": {name: value, ...}, "status",
 * "status_text", "detail"}: named arguments, because "state_cas(k, 3, 7, 0)"
 * says nothing about which number is which. ABI 1.0 entries keep their
 * positional "args" array and "result". */
#ifndef PC_FH_INTERNAL_H
#define PC_FH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "connector_api.h"
#include "fakehost.h" /* fh_json_text */

extern pthread_mutex_t fh_lock;

/* The host truncates log lines at 2 KiB (connector_api.h); so does the fake,
 * so that a plugin sees the same behaviour here as in production. */
#define FH_LOG_MAX 2048

/* Aborts on allocation failure, as the host does. */
json_t *fh_need(json_t *v);
void *fh_xmalloc(size_t n);
char *fh_xstrdup(const char *s);

/* --- recording (all *_locked: called with fh_lock held) ------------------ */

/* A new entry with positional args (ABI 1.0 style). */
json_t *fh_entry(const char *fn);
void fh_arg_str(json_t *e, const char *s);
void fh_arg_int(json_t *e, json_int_t v);
/* A new entry with named args (ABI 1.1 style). */
json_t *fh_entry_named(const char *fn);
void fh_named_str(json_t *e, const char *name, const char *s);
void fh_named_int(json_t *e, const char *name, json_int_t v);
/* Takes ownership of v. */
void fh_named_new(json_t *e, const char *name, json_t *v);
/* Sets "detail" (printf-style; replaces an earlier one). */
void fh_detail(json_t *e, const char *fmt, ...) C360_PRINTF(2, 3);
/* Sets the entry's status and returns it, so that a service can end with
 * `return fh_status(e, st);`. */
int32_t fh_status(json_t *e, int32_t st);
/* Takes ownership of e. */
void fh_record_locked(json_t *e);

/* Findings, prefixed with the running callback's label. */
void fh_problem_locked(const char *fmt, ...) C360_PRINTF(1, 2);
void fh_warning_locked(const char *fmt, ...) C360_PRINTF(1, 2);
/* A problem line without the prefix, for findings that name the callback
 * themselves (or belong to no callback: the leak report). */
void fh_problem_bare_locked(const char *fmt, ...) C360_PRINTF(1, 2);

/* The running callback's label ("(no callback)" between callbacks): where a
 * host buffer was handed out, for the leak report. */
const char *fh_step_locked(void);
/* Whether a callback is running; its FH_* flags (0 between); whether it
 * was given a call (or the loader made one the tool cannot see). */
bool fh_in_step_locked(void);
/* The running callback's name ("webhook_verify", as given to fh_begin),
 * NULL between callbacks: the pipeline services belong to one callback
 * each. */
const char *fh_callback_locked(void);
unsigned fh_flags_locked(void);
bool fh_step_has_call_locked(void);

/* Whether the plugin may use `call` with service fn (problems recorded). */
bool fh_call_ok_locked(const char *fn, c360_call *call);

/* --- the contract every blocking ABI 1.1 service shares ------------------ */

/* What the real host checks before any blocking service runs (hostapi.c):
 * the calling callback may block (else C360_EDENIED, and a problem: the
 * plugin would stall c360d's event loop or main thread); the call handle is
 * the callback's; the call acts for a connection (else C360_EINVAL). Sets
 * e's status on refusal. */
int32_t fh_gate_locked(json_t *e, const char *fn, c360_call *call);

/* C360_EINVAL for a bad argument: the reason goes into the entry and, as a
 * warning, into the findings (the host answers the same, but says nothing;
 * here the author learns why). */
int32_t fh_invalid_locked(json_t *e, const char *fn, const char *why);

/* The reason of a failed service call, into the call's error, as the real
 * host does for the services that document it (secrets, HTTP, OAuth).
 * Never holds secret data. */
void fh_call_reason_locked(c360_call *call, const char *fmt, ...)
    C360_PRINTF(2, 3);

/* The connection the (gated) call acts for. */
const char *fh_call_connection(const c360_call *call);

/* --- the services, for the table in fakehost.c --------------------------- */

/* fh_abi10.c */
void fh_log(c360_call *call, int32_t level, const char *fmt, ...)
    C360_PRINTF(3, 4);
int64_t fh_now_ms(void);
int64_t fh_monotonic_ms(void);
void fh_call_retry_after(c360_call *call, uint32_t delay_ms);
void fh_call_error(c360_call *call, const char *fmt, ...) C360_PRINTF(2, 3);
int64_t fh_call_time_left_ms(c360_call *call);
const char *fh_call_request_id(c360_call *call);
void fh_config_error(c360_call *call, const char *json_pointer,
                     const char *message);
const char *fh_instance_tenant(const c360_instance *inst);
const char *fh_instance_connection(const c360_instance *inst);

/* fh_mem.c */
void fh_free(void *ptr);
void fh_secret_free(void *value);
void fh_http_free(c360_http_response *resp);

/* fh_state.c */
int32_t fh_state_get(c360_call *call, const char *key, uint8_t **value,
                     size_t *len, uint64_t *version);
int32_t fh_state_set(c360_call *call, const char *key, const void *value,
                     size_t len, uint32_t ttl_ms, uint64_t *new_version);
int32_t fh_state_cas(c360_call *call, const char *key, const void *value,
                     size_t len, uint64_t expected, uint32_t ttl_ms,
                     uint64_t *new_version);
int32_t fh_state_delete(c360_call *call, const char *key);
int32_t fh_state_incr(c360_call *call, const char *key, int64_t delta,
                      int64_t *result);
int32_t fh_state_set_on_commit(c360_call *call, const char *key,
                               const void *value, size_t len, uint32_t ttl_ms);
void fh_state_reset_locked(void);

/* fh_secrets.c */
int32_t fh_secret_get(c360_call *call, const char *name, uint8_t **value,
                      size_t *len);
int32_t fh_secret_put(c360_call *call, const char *name, const void *value,
                      size_t len);
int32_t fh_secret_delete(c360_call *call, const char *name);
void fh_secrets_reset_locked(void);

/* fh_ratelimit.c */
int32_t fh_ratelimit_take(c360_call *call, int32_t scope, const char *bucket,
                          const c360_rl_limit *limit, uint32_t cost,
                          uint32_t *wait_ms);
int32_t fh_ratelimit_report(c360_call *call, int32_t scope,
                            const char *bucket, uint32_t usage_pct,
                            uint32_t pause_ms);
int32_t fh_ratelimit_feed_response(c360_call *call, int32_t scope,
                                   const char *bucket,
                                   const c360_http_response *resp);

/* fh_audit.c */
int32_t fh_audit(c360_call *call, const char *action, const char *target,
                 const char *outcome);

/* fh_http.c */
int32_t fh_http(c360_call *call, const c360_http_request *req,
                c360_http_response **resp);
/* 1 if url is an absolute http:// or https:// URL with a host (as the
 * real HTTP client parses it). Also used for OAuth token URLs. */
int fh_http_url_ok(const char *url);

/* fh_oauth.c */
int32_t fh_oauth_token(c360_call *call, const c360_oauth_params *params,
                       char **token, int64_t *expires_at_ms);
int32_t fh_oauth_exchange(c360_call *call, const c360_oauth_params *params);
int32_t fh_oauth_token_rejected(c360_call *call, const char *token_name,
                                const char *reason);

/* fh_crypto.c */
void fh_hmac_sha256(const void *key, size_t key_len, const void *msg,
                    size_t msg_len, uint8_t out[32]);
void fh_sha256(const void *msg, size_t len, uint8_t out[32]);
int fh_ct_equal(const void *a, const void *b, size_t len);
char *fh_base64_encode(const void *bin, size_t len, int32_t variant);
int32_t fh_base64_decode(const char *text, size_t text_len, int32_t variant,
                         uint8_t **bin, size_t *len);
char *fh_hex_encode(const void *bin, size_t len);
void fh_random_bytes(void *buf, size_t len);
/* ABI 1.8 prepared HMAC keys */
c360_hmac_key *fh_hmac_sha256_key_new(const void *key, size_t key_len);
void fh_hmac_sha256_keyed(const c360_hmac_key *k, const void *msg,
                          size_t msg_len, uint8_t out[32]);
void fh_hmac_sha256_key_free(c360_hmac_key *k);

/* fh_pipeline.c (ABI 1.2) */
void fh_call_dedup_key(c360_call *call, const char *key);
int32_t fh_route_event(c360_call *call, const char *routing_key,
                       const char *dedup_key);
int32_t fh_instance_route_keys(c360_call *call, const char *const *keys,
                               uint32_t count);
int32_t fh_record_emit(c360_call *call, const char *type, const char *id,
                       const char *json, size_t json_len);
int32_t fh_connection_status(c360_call *call, int32_t state,
                             const char *cause);
/* A step begins: its pipeline summary starts empty (fh_begin). */
void fh_pipeline_begin_locked(void);
/* Adds to a count of the running step's summary (fh_step_pipeline), for
 * services kept elsewhere (state_set_on_commit: "state_staged"). */
void fh_pipeline_count_locked(const char *name, json_int_t by);
/* The run ends: the summary and the connection's routing keys go. */
void fh_pipeline_reset_locked(void);

#endif
