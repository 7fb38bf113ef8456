/* crm.h -- the crm_generic destination's internal interface.
 *
 * crm_generic delivers normalised records (docs/records.md) to a customer's
 * own HTTP endpoint: one JSON request per record, or per batch of records
 * for endpoints that take arrays, authenticated by a bearer token, HTTP
 * Basic, an API-key header or Standard Webhooks signatures. The customer's
 * guide is docs/connectors/crm_generic.md.
 *
 * The files, one concern each:
 *
 *   crm_config.c   the config: JSON Schema, parse, per-field checks (pure)
 *   crm_body.c     request bodies, envelopes, the batch id, RFC 3339 (pure
 *                  but for the host's sha256/hex helpers)
 *   crm_sign.c     Standard Webhooks: whsec_ secrets and v1 signatures
 *   crm_result.c   what an HTTP answer means: status, Retry-After, the
 *                  response excerpt shown to the customer; whether a
 *                  rate-budget wait is slept or handed back (pure)
 *   crm_secrets.c  the connection's secrets: read once per instance and
 *                  kept (host guarded memory), what each call derives
 *   crm_send.c     one request per group of records
 *   crm_generic.c  the descriptor and the callbacks
 *
 * "Pure" parts touch no host service that blocks. The unit test
 * tests/unit/test_crm_generic_parts.c runs them, and whole deliver and
 * deliver_batch calls, against a fake host table. */
#ifndef CRM_H
#define CRM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Everything crm_generic calls exists since ABI 1.2 (connection_status is
 * the newest); deliver_batch (1.4) is only read by hosts that know it, and
 * C360_EGONE reaches an older host as an unknown status, which it treats
 * as a permanent error -- the right fallback. C360_THROTTLED (1.5) would
 * be one too, so it is returned only to a host of minor 5 or newer
 * (crm_defer_status). */
#define C360_PLUGIN_REQUIRES_MINOR 2
#include "connector_api.h"

#define CRM_VERSION "1.0.0"
#define CRM_USER_AGENT "c360-crm_generic/" CRM_VERSION

/* Config limits: named once, used by the schema and by the checks. */
#define CRM_URL_MAX 2048
#define CRM_HEADERS_MAX 20
#define CRM_HEADER_NAME_MAX 64
#define CRM_HEADER_VALUE_MAX 1024
#define CRM_BATCH_MAX 100
#define CRM_TIMEOUT_MIN 1000
#define CRM_TIMEOUT_MAX 60000
#define CRM_TIMEOUT_DEFAULT 15000
#define CRM_RPS_MAX 1000
#define CRM_RPS_DEFAULT 50

/* The operator's switch for plain http:// URLs (an environment variable of
 * c360d, read once at load): a plugin has no other operator setting, and a
 * customer must not be able to send its bearer token in clear text by
 * typing "http". */
#define CRM_ALLOW_HTTP_ENV "C360_CRM_GENERIC_ALLOW_HTTP"

/* Excerpts of a refusing endpoint's answer, in errors and the delivery
 * log. */
#define CRM_EXCERPT_MAX 200

/* webhook-id values: a record id (1..200 printable bytes, the host's rule)
 * or "batch_" + 32 hex digits. */
#define CRM_ID_MAX 200
/* Bytes kept free in front of a body for "<webhook-id>.<timestamp>.", so
 * the signed message is the body's own buffer, never a copy (a batch body
 * may be many megabytes). */
#define CRM_SIGN_HEADROOM (CRM_ID_MAX + 32)

typedef enum crm_auth {
    CRM_AUTH_NONE = 0,
    CRM_AUTH_BEARER,
    CRM_AUTH_BASIC,
    CRM_AUTH_HEADER,
    CRM_AUTH_STANDARD_WEBHOOKS
} crm_auth;

typedef enum crm_body_kind {
    CRM_BODY_RECORD = 0,  /* the record JSON, as the host hands it over */
    CRM_BODY_ENVELOPE     /* {"type","timestamp","data": record} */
} crm_body_kind;

typedef struct crm_kv {
    char *name;  /* lower-case */
    char *value;
} crm_kv;

/* One connection's config, owned (copied out of the JSON). */
typedef struct crm_cfg {
    char *url;
    const char *method;      /* "POST" or "PUT": static */
    crm_body_kind body;
    crm_auth auth;
    char *auth_header;       /* CRM_AUTH_HEADER: the header name, lower-case */
    uint32_t max_records;    /* 1: no batching */
    bool array_body;         /* batches: [..] (true) or {"records":[..]} */
    uint32_t timeout_ms;
    uint32_t max_rps;
    size_t nheaders;
    crm_kv *headers;         /* extra static headers */
} crm_cfg;

/* --- crm_config.c ----------------------------------------------------- */

extern const char crm_config_schema[];

/* Called for each problem: a JSON Pointer into the config and a message. */
typedef void (*crm_report_fn)(void *ctx, const char *pointer, const char *msg);

/* Parses and checks a config; every problem goes to report (may be NULL).
 * allow_http: the operator lets plain http:// URLs through. On C360_OK
 * *out is filled (crm_cfg_free releases it); C360_EINVAL or C360_ENOMEM
 * otherwise, with *out empty. */
int32_t crm_cfg_parse(const char *json, size_t len, bool allow_http,
                      crm_report_fn report, void *ctx, crm_cfg *out);
void crm_cfg_free(crm_cfg *cfg);

/* True for header names that look like they carry a credential ("token",
 * "key", "secret", ...): refused as static headers and query parameters,
 * because config is shown in clear. Case-insensitive. */
bool crm_name_looks_secret(const char *name, size_t len);

/* --- crm_body.c ------------------------------------------------------- */

/* A growable body with CRM_SIGN_HEADROOM bytes free in front. */
typedef struct crm_buf {
    char *mem;
    size_t cap;
    size_t len;    /* body bytes, from mem + CRM_SIGN_HEADROOM */
    bool oom;
} crm_buf;

void crm_buf_init(crm_buf *b);
void crm_buf_add(crm_buf *b, const void *p, size_t n);
void crm_buf_adds(crm_buf *b, const char *s);
static inline char *crm_buf_body(const crm_buf *b)
{
    return b->mem + CRM_SIGN_HEADROOM;
}
void crm_buf_free(crm_buf *b);

/* Writes "2026-11-29T09:15:00.123Z" (24 bytes + NUL) for a Unix ms time. */
void crm_rfc3339(int64_t ms, char out[32]);

/* The envelope's "type": the record type + ".created", or the record type
 * as is when it already names what happened ("lead.deleted"). */
void crm_event_type(const char *record_type, char *out, size_t cap);

/* True if json looks like one JSON object (first and last non-space bytes
 * are braces, no NUL): the host checked it at emit time; this only keeps a
 * broken record from being wrapped into a body that is not JSON. */
bool crm_json_object_shape(const char *json, size_t len);

/* Builds the body for recs[0..n) (n >= 1) per the config: a single
 * record (n == 1 and batching off), or a batch array. C360_OK, C360_EINVAL
 * (a record that is not a JSON object; *bad its index), C360_ENOMEM. */
int32_t crm_body_build(const crm_cfg *cfg, const c360_record *const *recs,
                       size_t n, crm_buf *out, size_t *bad);

/* The webhook-id of a request for recs[0..n): the record's id for one
 * record, else "batch_" + the first 32 hex digits of SHA-256 over the
 * sorted record ids joined by "\n" (the same set of records gives the same
 * id, in whatever order they came). out: at least CRM_ID_MAX + 1. */
int32_t crm_request_id(const c360_host_api *host,
                       const c360_record *const *recs, size_t n, char *out,
                       size_t cap);

/* --- crm_sign.c ------------------------------------------------------- */

/* Decoded Standard Webhooks key sizes accepted (the spec: 24..64 random
 * bytes; a little room either way for other generators). */
#define CRM_WHSEC_MIN 16
#define CRM_WHSEC_MAX 128
/* "v1," + base64 of 32 bytes: 3 + 44 */
#define CRM_SIG_LEN 47

/* Decodes "whsec_<base64>" into key (CRM_WHSEC_MAX bytes). C360_OK or
 * C360_EINVAL (with a reason that never quotes the secret). */
int32_t crm_whsec_decode(const c360_host_api *host, const char *secret,
                         size_t len, uint8_t *key, size_t *key_len,
                         const char **why);

/* Signs a body whose buffer has the headroom: writes "<id>.<ts>." just in
 * front of the body and puts "v1,<base64>" for each key, space-separated,
 * into out (nkeys * (CRM_SIG_LEN + 1) bytes). C360_OK or C360_ENOMEM. */
int32_t crm_sign(const c360_host_api *host, crm_buf *body, const char *id,
                 int64_t ts_s, const uint8_t *const *keys,
                 const size_t *key_lens, size_t nkeys, char *out, size_t cap);

/* --- crm_result.c ----------------------------------------------------- */

/* What an HTTP status means for the records of the request. */
typedef enum crm_verdict {
    CRM_V_OK = 0,      /* 2xx */
    CRM_V_RETRY,       /* 408, 429, 5xx */
    CRM_V_GONE,        /* 410 */
    CRM_V_AUTH,        /* 401, 403, 407: credentials refused (permanent) */
    CRM_V_REDIRECT,    /* 3xx: not followed (permanent) */
    CRM_V_SPLIT,       /* 400, 409, 413, 422: the payload was refused; a
                          batch is tried again record by record to find the
                          one at fault */
    CRM_V_ERROR        /* every other status (permanent) */
} crm_verdict;

crm_verdict crm_classify(int32_t http_status);

/* The status of records put off unsent because the endpoint throttles the
 * connection (HTTP 429, its Retry-After, the budget it slowed) or the
 * connection's own rate budget has no room: C360_THROTTLED (no delivery
 * attempt counted) on a host of ABI minor >= 5, else C360_RETRY, which an
 * older host knows. */
int32_t crm_defer_status(uint16_t host_abi_minor);

/* Reads a Retry-After value: delta seconds or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime form). *ms is the wait from now_ms, at most one day
 * (0 for a date in the past). False for anything else. */
bool crm_retry_after(const char *value, int64_t now_ms, uint32_t *ms);

/* Unix seconds of an HTTP-date; false if it is not one. */
bool crm_http_date(const char *s, int64_t *epoch_s);

/* The excerpt of a response body shown to the customer: at most
 * CRM_EXCERPT_MAX bytes (cut on a UTF-8 boundary), control characters
 * and invalid UTF-8 replaced by spaces, runs of spaces squeezed, and every
 * occurrence of each given secret (>= 4 bytes) replaced by "[redacted]"
 * first. out: at least CRM_EXCERPT_MAX + 1 bytes. */
void crm_excerpt(const uint8_t *body, size_t len, const char *const *secrets,
                 const size_t *secret_lens, size_t nsecrets, char *out,
                 size_t cap);

/* What to do when the connection's rate budget has no unit now
 * (crm_rl_plan; the policy is crm_send.c's crm_take). */
typedef enum crm_rl_step {
    CRM_RL_SLEEP = 0,       /* sleep the wait in the call, then take again */
    CRM_RL_DEFER_THROTTLED, /* hand the records back: the endpoint slowed or
                               paused the budget (429, Retry-After) */
    CRM_RL_DEFER_TIME       /* hand them back: the call's time is used up */
} crm_rl_step;

/* Sleeping through waits caused by an endpoint's throttling is bounded by
 * this much per call (in all): a throttled endpoint must not hold worker
 * threads that other connections' deliveries need. */
#define CRM_RL_THROTTLED_SLEEP_MS 100

/* One request's share of the budget when nothing slows it: ceil(1000 /
 * max_rps) ms. */
uint32_t crm_rl_pace_ms(uint32_t max_rps);

/* Decides about one refused take. wait_ms: the wait the host named;
 * room_ms: how long the call may still wait (its time left minus what the
 * request needs); throttled_slept_ms: what this call already slept on
 * waits of the throttled kind. A wait no longer than the budget's own
 * pace (with a little slack) is the connection's own pacing -- workers
 * competing for max_requests_per_s -- and is slept as long as the call
 * has room; anything longer can only come from the endpoint's answers (a
 * Retry-After pause, the slowdown after a 429) and is slept only up to
 * CRM_RL_THROTTLED_SLEEP_MS in all. *paced (may be NULL) tells which. */
crm_rl_step crm_rl_plan(uint32_t wait_ms, uint32_t max_rps, int64_t room_ms,
                        uint32_t throttled_slept_ms, bool *paced);

/* --- the plugin, one connection, one call ----------------------------- */

typedef struct crm_plugin {
    const c360_host_api *host;
    bool allow_http;
} crm_plugin;

typedef struct crm_secret_vals crm_secret_vals; /* crm_secrets.c */

/* One connection, fixed after instance_open but for the status memo and
 * the kept secrets. */
typedef struct crm_conn {
    crm_cfg cfg;
    const c360_instance *inst;
    /* The secrets read for this instance, shared by its calls (which run
     * on several worker threads at once); NULL until a call has read every
     * secret the config needs and found them usable. sec_lock guards the
     * pointer and the set's reference count. See crm_secrets.c. */
    pthread_mutex_t sec_lock;
    crm_secret_vals *sec_cache;
    /* The last connection state this instance reported (-1: none), when
     * (monotonic ms) and a hash of its cause: see crm_finish for when a
     * state is reported, so that a delivery does not cost a status read
     * each. */
    atomic_int reported;
    atomic_int_fast64_t reported_ms;
    atomic_uint_fast64_t reported_cause;
} crm_conn;

/* What one deliver / deliver_batch call learnt, applied when it returns. */
typedef struct crm_call_out {
    uint32_t retry_ms;      /* the longest wait asked for */
    bool any_ok;
    bool conn_failing;      /* report the connection failing with cause */
    bool creds_refused;     /* the endpoint refused the credentials */
    char cause[256];
    char error[512];        /* the call's error text */
} crm_call_out;

/* --- crm_secrets.c ---------------------------------------------------- */

/* Secrets are at most 64 KiB each (the admin API's limit): a longer value
 * is refused as unusable. */
#define CRM_SECRET_MAX 65536

enum { CRM_S_TOKEN, CRM_S_USER, CRM_S_PASS, CRM_S_APIKEY, CRM_S_SIGN, CRM_S_SIGN_NEXT, CRM_S_N };

/* What one call sends and must hide, made from the connection's kept
 * secrets. Owned by the call: crm_secrets_free wipes it. */
typedef struct crm_secrets {
    const c360_host_api *host;
    crm_secret_vals *vals;      /* one reference, the call's (NULL: none) */
    char *auth_value;           /* the auth header's value (plugin heap) */
    size_t auth_len;
    uint8_t key[2][CRM_WHSEC_MAX];
    size_t key_len[2];
    size_t nkeys;
    /* Values that must never appear in an excerpt: point into vals and
     * auth_value. */
    const char *redact[CRM_S_N + 1];
    size_t redact_len[CRM_S_N + 1];
    size_t nredact;
} crm_secrets;

/* instance_open / instance_close: the kept secrets' lock, and their
 * release. init: C360_OK or C360_ENOMEM. */
int32_t crm_conn_secrets_init(crm_conn *c);
void crm_conn_secrets_fini(crm_conn *c);

/* The secrets the config needs for this call into *s: the kept ones, or
 * read (and kept if every one is there and usable). C360_OK; else the
 * status for every record (C360_RETRY with out saying which secret is
 * missing or unusable, or why it could not be read; C360_ENOMEM), and
 * nothing is kept. Either way crm_secrets_free(c, s) follows. */
int32_t crm_secrets_load(const c360_host_api *host, crm_conn *c, c360_call *call,
                         crm_secrets *s, crm_call_out *out);
/* The endpoint refused the credentials s holds: the next call reads the
 * stored ones again (s stays usable until crm_secrets_free). */
void crm_secrets_forget(crm_conn *c, const crm_secrets *s);
void crm_secrets_free(crm_conn *c, crm_secrets *s);

/* --- crm_send.c ------------------------------------------------------- */

/* Delivers recs[0..n) in requests as the config says, writing each
 * record's status. Never fails as a whole but for C360_ENOMEM. */
int32_t crm_deliver_records(const crm_plugin *p, crm_conn *c, c360_call *call,
                            const c360_record *const *recs, size_t n,
                            int32_t *statuses, crm_call_out *out);

#endif
