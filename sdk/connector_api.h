/*
 * connector_api.h -- the Connector 360 plugin ABI.
 *
 * This is the one header a connector plugin includes. A plugin links nothing
 * from the host: every host service reaches it through the function table
 * (c360_host_api) handed to its init callback, and every host object is an
 * opaque handle. The header compiles warning-free as C99, C11 and C++.
 *
 * ABI rules (the full text, with the changelog, is docs/plugin-abi.md):
 *
 *  - The plugin exports exactly one symbol, C360_ENTRY_SYMBOL. It returns a
 *    pointer to a const c360_plugin_desc that begins with C360_PLUGIN_MAGIC,
 *    abi_major, abi_minor and struct_size.
 *  - The host refuses a plugin whose abi_major differs from its own or whose
 *    abi_minor is newer than its own. An older minor is fine: the host reads
 *    only the descriptor fields that the plugin's struct_size covers.
 *  - Structs that cross the boundary begin with a size field and only ever
 *    grow at the end. Enums and status codes are append-only and never
 *    renumbered. A status value a reader does not know counts as C360_ERROR.
 *  - The host table (c360_host_api) is append-only too. abi_minor in the
 *    descriptor is the oldest host minor the plugin needs: C360_ABI_MINOR by
 *    default, or C360_PLUGIN_REQUIRES_MINOR if the plugin defines it before
 *    including this header. A plugin that asks for less than the SDK it was
 *    built with tests each newer service with C360_HOST_HAS(host, member)
 *    before calling it, and so runs (with less) on older 1.x hosts.
 *
 * Ownership: whoever allocates frees. Memory the host hands to a plugin
 * (documented per function) is released with host->free(). Pointers the host
 * passes into a callback (requests, events, records, config text) are valid
 * only until that callback returns; copy what you keep. Strings a plugin
 * passes to the host are copied by the host before the call returns.
 *
 * Out of memory: the host aborts on allocation failure (as Redis does); a
 * plugin that cannot allocate returns C360_ENOMEM and the work is retried.
 *
 * Threads: see the comment on each callback. In short, init and fini run on
 * the main thread; webhook_verify and validate_config run on the event loop
 * thread and must never block; tick, event, deliver, disconnect,
 * oauth_connect and the instance callbacks run on worker threads (the
 * admin API's threads count as workers) and may block on host services
 * (which are refused, with C360_EDENIED, on the main/event-loop thread).
 * One plugin serves many
 * connections of many tenants concurrently: keep per-connection state in the
 * instance data, and make plugin-wide data safe for concurrent readers.
 */
#ifndef C360_CONNECTOR_API_H
#define C360_CONNECTOR_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                  */
/* ------------------------------------------------------------------------ */

/* Bumped when an existing layout or meaning changes: old plugins break. */
#define C360_ABI_MAJOR 1
/* Bumped when something is appended: old plugins keep working. */
#define C360_ABI_MINOR 8

/* "C360" in ASCII: the first four bytes of every plugin descriptor. */
#define C360_PLUGIN_MAGIC 0x43333630u

/* The one symbol a plugin exports. */
#define C360_ENTRY_SYMBOL "c360_plugin_entry"

/* Marks the entry function for export even when the plugin is compiled with
 * -fvisibility=hidden (which it should be). */
#if defined(_WIN32)
#define C360_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define C360_EXPORT __attribute__((visibility("default")))
#else
#define C360_EXPORT
#endif

#if defined(__GNUC__) || defined(__clang__)
#define C360_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define C360_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------ */
/* Status codes (append-only)                                                */
/* ------------------------------------------------------------------------ */

/* Every callback and host function that can fail returns one of these as an
 * int32_t. Values are fixed forever; new codes are only ever added at the end.
 * A receiver that meets a value it does not know treats it as C360_ERROR. */
enum c360_status {
    C360_OK = 0,           /* done */
    C360_RETRY = 1,        /* transient: try again later; the delay is set
                              with host->call_retry_after() (0 = host backoff) */
    C360_ERROR = 2,        /* permanent failure: do not retry this work */
    C360_EINVAL = 3,       /* a bad argument or bad input */
    C360_ENOMEM = 4,       /* out of memory (retried) */
    C360_ENOTFOUND = 5,    /* no such key / object */
    C360_EUNSUPPORTED = 6, /* the operation is not offered here */
    C360_ETOOBIG = 7,      /* a size limit was exceeded */
    C360_ECONFLICT = 8,    /* a compare-and-set or version check failed */
    C360_EAUTH = 9,        /* credentials rejected: needs re-authorisation */
    C360_ETIMEOUT = 10,    /* a deadline passed */
    C360_EIO = 11,         /* the host's store or network failed (retried) */
    /* ABI 1.1 */
    C360_EDENIED = 12,     /* refused by operator policy (e.g. SSRF rules) */
    /* ABI 1.4 */
    C360_EGONE = 13,       /* the other side is gone for good (HTTP 410): a
                              destination returns it from deliver (or as a
                              deliver_batch status); the record is not
                              retried (a dead letter, why "gone"), the
                              route it came by is stopped and the
                              connection marked failing, which tells the
                              customer */
    /* ABI 1.5 */
    C360_THROTTLED = 14,   /* not attempted: the destination puts the work
                              off because the other side throttles it (HTTP
                              429, Retry-After) or its own rate budget has
                              no room; call again after call_retry_after ms
                              (the host applies a floor). Valid only from
                              deliver and as a deliver_batch status: the
                              record is held and its attempt not counted,
                              until it has been put off too long (the
                              host's bound, docs/plugin-abi.md), after which
                              it counts as C360_RETRY. From any other
                              callback it counts as C360_RETRY. A host older
                              than 1.5 treats it as an unknown status (a
                              permanent error): return it only when
                              host->abi_minor >= 5 */
    C360_STATUS__COUNT     /* not a status: the number of known codes */
};

/* Text for a status code; never NULL, stable, safe from any thread. Unknown
 * values are described as such. Static inline so that a plugin needs no host
 * symbol to call it; the host uses the same function. */
static inline const char *c360_strstatus(int32_t status)
{
    switch (status) {
    case C360_OK: return "ok";
    case C360_RETRY: return "retry later";
    case C360_ERROR: return "permanent error";
    case C360_EINVAL: return "invalid argument";
    case C360_ENOMEM: return "out of memory";
    case C360_ENOTFOUND: return "not found";
    case C360_EUNSUPPORTED: return "not supported";
    case C360_ETOOBIG: return "too big";
    case C360_ECONFLICT: return "conflict";
    case C360_EAUTH: return "authorisation rejected";
    case C360_ETIMEOUT: return "timed out";
    case C360_EIO: return "i/o error";
    case C360_EDENIED: return "denied by policy";
    case C360_EGONE: return "gone";
    case C360_THROTTLED: return "throttled";
    default: return "unknown status (treated as permanent error)";
    }
}

/* Log levels for host->log (append-only). */
enum c360_log_level {
    C360_LOG_DEBUG = 0,
    C360_LOG_INFO = 1,
    C360_LOG_WARN = 2,
    C360_LOG_ERROR = 3
};

/* Capabilities a plugin declares in its descriptor (bit flags, append-only).
 * Each one makes some callbacks required; the loader refuses a plugin that
 * declares a capability without them. */
#define C360_CAP_SOURCE_TICK    (1u << 0) /* scheduled polling: tick */
#define C360_CAP_SOURCE_WEBHOOK (1u << 1) /* webhooks: webhook_verify, event */
#define C360_CAP_DESTINATION    (1u << 2) /* deliveries: deliver */
#define C360_CAP__KNOWN_V1_0    0x7u      /* every bit defined in ABI 1.0 */

/* What webhook_verify decided (append-only). */
enum c360_verdict {
    C360_VERDICT_ACCEPT = 0, /* authentic: the host stores it as an event */
    C360_VERDICT_REPLIED = 1, /* a handshake: the plugin filled the reply and
                                 the host sends it; nothing is stored */
    C360_VERDICT_REJECT = 2  /* not authentic: the host answers with
                                reply->status (401 or 403) and stores nothing */
};

/* Connection states a plugin may report (ABI 1.2, append-only). */
enum c360_conn_state {
    C360_CONN_ACTIVE = 0,       /* healthy again */
    C360_CONN_FAILING = 1,      /* keeps failing; work continues with backoff */
    C360_CONN_NEEDS_REAUTH = 2  /* credentials dead: the host stops its
                                   scheduled work until the customer
                                   reconnects */
};

/* ------------------------------------------------------------------------ */
/* Opaque host handles                                                       */
/* ------------------------------------------------------------------------ */

/* The loaded plugin itself. Valid from init until fini returns. */
typedef struct c360_plugin c360_plugin;
/* One connection (tenant + connection id) served by this plugin. Valid from
 * instance_open until instance_close returns. */
typedef struct c360_instance c360_instance;
/* One invocation of one callback: carries the request id for logs, the
 * deadline, and the outcome (retry delay, error text). Valid only during the
 * callback it was passed to; never keep it. */
typedef struct c360_call c360_call;
/* A key prepared for HMAC-SHA256 (ABI 1.8): host-owned guarded memory,
 * made by host->hmac_sha256_key_new, released by hmac_sha256_key_free. */
typedef struct c360_hmac_key c360_hmac_key;

/* ------------------------------------------------------------------------ */
/* Data passed into callbacks (host-owned, valid during the callback only)   */
/* ------------------------------------------------------------------------ */

typedef struct c360_header {
    const char *name;   /* lower-case, NUL-terminated */
    const char *value;  /* NUL-terminated */
} c360_header;

/* An incoming webhook request, as received. */
typedef struct c360_webhook {
    uint32_t struct_size;      /* sizeof(c360_webhook) of the host */
    uint32_t header_count;
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* path without the query string */
    const char *query;         /* raw query string, "" if none */
    const c360_header *headers;
    const uint8_t *body;       /* raw bytes, exactly as received */
    size_t body_len;
    int64_t received_at_ms;    /* wall clock, Unix milliseconds */
} c360_webhook;

/* A reply the plugin fills in webhook_verify. The host preset status to 200
 * and content_type to "text/plain". body points into body_buf. */
#define C360_REPLY_BODY_MAX 4096
typedef struct c360_webhook_reply {
    uint32_t struct_size;      /* sizeof(c360_webhook_reply) of the host */
    int32_t status;            /* HTTP status to send */
    char content_type[64];     /* NUL-terminated */
    size_t body_len;           /* bytes used in body_buf */
    char body_buf[C360_REPLY_BODY_MAX];
} c360_webhook_reply;

/* A stored event handed back to the source plugin for processing. */
typedef struct c360_event {
    uint32_t struct_size;      /* sizeof(c360_event) of the host */
    uint32_t header_count;
    const char *event_id;      /* the host's id for this event */
    const c360_header *headers; /* the headers stored with the event */
    const uint8_t *body;
    size_t body_len;
    int64_t received_at_ms;
    uint32_t attempt;          /* 1 on the first try */
    uint32_t reserved0;
} c360_event;

/* A normalised record handed to a destination plugin for delivery. */
typedef struct c360_record {
    uint32_t struct_size;      /* sizeof(c360_record) of the host */
    uint32_t attempt;          /* 1 on the first try */
    const char *type;          /* "lead", "comment", "registrant", ... */
    const char *id;            /* stable id: the same on every retry/replay */
    const char *source_plugin; /* name of the plugin that emitted it */
    const char *json;          /* the record, a JSON object */
    size_t json_len;
    int64_t created_at_ms;
} c360_record;

/* ------------------------------------------------------------------------ */
/* Host services                                                             */
/* ------------------------------------------------------------------------ */

/* --- ABI 1.1 service types ------------------------------------------------ */

/* Who shares a rate-limit bucket (append-only). */
enum c360_rl_scope {
    C360_RL_APP = 0,        /* every tenant of this plugin: a provider app's
                               own budget (e.g. Meta app-level calls) */
    C360_RL_TENANT = 1,     /* one tenant, all its connections of this plugin */
    C360_RL_CONNECTION = 2  /* one connection (a user token, an ad account) */
};

/* A bucket's budget: `limit` units per `period_ms`, with up to `burst` units
 * usable at once (burst 0 = limit). */
typedef struct c360_rl_limit {
    uint32_t struct_size;   /* sizeof(c360_rl_limit) of the plugin */
    uint32_t limit;
    uint32_t period_ms;
    uint32_t burst;
} c360_rl_limit;

/* Flags of an outbound HTTP request (bit flags, append-only). */
#define C360_HTTP_FOLLOW_REDIRECTS (1u << 0) /* off by default */
#define C360_HTTP_CUSTOMER_URL     (1u << 1) /* the URL came from a customer:
                                                apply the SSRF policy */

/* An outbound HTTP request. Header names and values are copied. */
typedef struct c360_http_request {
    uint32_t struct_size;       /* sizeof(c360_http_request) of the plugin */
    uint32_t header_count;
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* http:// or https:// only */
    const c360_header *headers;
    const uint8_t *body;        /* may be NULL */
    size_t body_len;
    uint32_t timeout_ms;        /* total; 0 = host default (30 s) */
    uint32_t connect_timeout_ms;/* 0 = host default (10 s) */
    uint32_t max_response_bytes;/* 0 = host default (8 MiB) */
    uint32_t flags;             /* C360_HTTP_* */
} c360_http_request;

/* A response, allocated by the host: release it with host->http_free. The
 * body is NUL-terminated (not counted in body_len) for convenience. */
typedef struct c360_http_response {
    uint32_t struct_size;       /* sizeof(c360_http_response) of the host */
    int32_t status;             /* HTTP status code */
    uint32_t header_count;
    uint32_t reserved0;
    const c360_header *headers; /* names lower-cased */
    const uint8_t *body;
    size_t body_len;
    int64_t elapsed_ms;
} c360_http_response;

/* OAuth 2.0 grants (append-only). */
enum c360_oauth_grant {
    C360_GRANT_AUTHORIZATION_CODE = 0, /* exchange `code` (OAuth connect) */
    C360_GRANT_REFRESH_TOKEN = 1,      /* refresh with the stored token */
    C360_GRANT_CLIENT_CREDENTIALS = 2,
    C360_GRANT_ACCOUNT_CREDENTIALS = 3 /* Zoom Server-to-Server */
};

/* How client credentials reach the token endpoint (append-only). */
enum c360_oauth_auth {
    C360_OAUTH_AUTH_BODY = 0,   /* client_id/client_secret form fields */
    C360_OAUTH_AUTH_BASIC = 1   /* HTTP Basic (Zoom) */
};

/* What the plugin tells the host about its provider's token endpoint. The
 * host copies what it needs; strings may be freed after the call. */
typedef struct c360_oauth_params {
    uint32_t struct_size;       /* sizeof(c360_oauth_params) of the plugin */
    int32_t grant;              /* c360_oauth_grant */
    int32_t auth;               /* c360_oauth_auth */
    uint32_t refresh_margin_s;  /* refresh this long before expiry; 0 = host
                                   default (300 s) */
    const char *token_url;
    const char *client_id;
    const char *client_secret;
    const char *scope;          /* optional */
    const char *code;           /* authorization_code */
    const char *redirect_uri;   /* authorization_code */
    const char *code_verifier;  /* authorization_code with PKCE; optional */
    const char *account_id;     /* account_credentials */
    const char *token_name;     /* which token of the connection; NULL =
                                   "default" */
} c360_oauth_params;

/* Base64 alphabets (append-only). */
enum c360_b64 {
    C360_B64_STANDARD = 0,       /* +/ with = padding */
    C360_B64_URLSAFE = 1,        /* -_ with = padding */
    C360_B64_URLSAFE_NOPAD = 2   /* -_ without padding (JWT, Standard Webhooks
                                    ids) */
};


/* Tests whether the host table has a member (i.e. the host is new enough to
 * offer it) and that the host filled it in. Use before every service that is
 * newer than ABI 1.0. */
#define C360_HOST_HAS(host, member)                                         \
    ((host) != NULL &&                                                      \
     (host)->struct_size >= offsetof(c360_host_api, member) +               \
                                sizeof((host)->member) &&                   \
     (host)->member != NULL)

/* The host function table. Append-only: new services go at the end, with a
 * minor ABI bump and a changelog line in docs/plugin-abi.md. The table is
 * owned by the host and valid from init until fini returns; every function in
 * it is safe to call from any thread unless its comment says otherwise. */
typedef struct c360_host_api {
    uint32_t struct_size;  /* sizeof(c360_host_api) of the host */
    uint16_t abi_major;    /* the host's ABI version */
    uint16_t abi_minor;

    /* --- ABI 1.0 ------------------------------------------------------- */

    /* Writes a structured log line tagged with the plugin, the connection and
     * the request id of the call. `call` may be NULL in callbacks that get
     * none (fini, instance_close): the line then carries no tags. Never pass
     * secrets or personal data. The message is truncated at 2 KiB. Never
     * blocks for long. */
    void (*log)(c360_call *call, int32_t level, const char *fmt, ...)
        C360_PRINTF(3, 4);

    /* Wall clock, Unix milliseconds. */
    int64_t (*now_ms)(void);
    /* Monotonic clock, milliseconds from an arbitrary origin. */
    int64_t (*monotonic_ms)(void);

    /* Releases memory the host allocated for the plugin (documented per
     * function). NULL is accepted. */
    void (*free)(void *ptr);

    /* For a callback about to return C360_RETRY (or C360_THROTTLED, ABI
     * 1.5): the delay before the host tries again, in ms (0 = let the host
     * choose its backoff, or its floor for C360_THROTTLED). */
    void (*call_retry_after)(c360_call *call, uint32_t delay_ms);
    /* A short human-readable reason for the outcome of this call, shown to
     * operators and customers. Copied; truncated at 512 bytes. No secrets. */
    void (*call_error)(c360_call *call, const char *fmt, ...) C360_PRINTF(2, 3);
    /* Milliseconds left before the call's deadline (negative when past). */
    int64_t (*call_time_left_ms)(c360_call *call);
    /* The request id of this call (for correlating plugin and host logs). */
    const char *(*call_request_id)(c360_call *call);

    /* From validate_config only: reports one error in the configuration at a
     * JSON Pointer path ("/page_ids/0"). Both strings are copied. */
    void (*config_error)(c360_call *call, const char *json_pointer,
                         const char *message);

    /* Identity of a connection. The strings live as long as the instance. */
    const char *(*instance_tenant)(const c360_instance *inst);
    const char *(*instance_connection)(const c360_instance *inst);

    /* --- ABI 1.1: host services ---------------------------------------- */
    /* Everything below may block (Redis, network): call it from worker
     * callbacks only, never from webhook_verify or validate_config -- except
     * the crypto helpers at the end, which are pure and safe anywhere. Each
     * worker thread has its own Redis connection and HTTP handle. The
     * connection a call acts for is taken from `call` (its instance): a
     * plugin can never name another connection's or tenant's data. On the
     * main or event-loop thread (init, fini, webhook_verify,
     * validate_config) they return C360_EDENIED; a call without a
     * connection gets C360_EINVAL. */

    /* State: per-connection key/value, binary-safe. Keys: 1..200 bytes of
     * printable ASCII. Values: up to the operator's limit (default 1 MiB;
     * C360_ETOOBIG above it). Every write bumps the key's version (>= 1). */
    /* *value (NUL-terminated, not counted in *len) is freed with host->free.
     * C360_ENOTFOUND if absent. version may be NULL. */
    int32_t (*state_get)(c360_call *call, const char *key, uint8_t **value,
                         size_t *len, uint64_t *version);
    /* ttl_ms 0 = no expiry. new_version may be NULL. */
    int32_t (*state_set)(c360_call *call, const char *key, const void *value,
                         size_t len, uint32_t ttl_ms, uint64_t *new_version);
    /* Writes only if the stored version is `expected` (0 = the key must not
     * exist); C360_ECONFLICT otherwise. */
    int32_t (*state_cas)(c360_call *call, const char *key, const void *value,
                         size_t len, uint64_t expected, uint32_t ttl_ms,
                         uint64_t *new_version);
    /* C360_OK even if the key did not exist. */
    int32_t (*state_delete)(c360_call *call, const char *key);
    /* Adds delta to an integer value (absent = 0); C360_EINVAL if the stored
     * value is not an integer. */
    int32_t (*state_incr)(c360_call *call, const char *key, int64_t delta,
                          int64_t *result);

    /* Secrets of the connection, sealed at rest. Names as state keys.
     * *value (NUL-terminated) lives in guarded memory: release it with
     * host->secret_free, which wipes it. Never log a secret. */
    int32_t (*secret_get)(c360_call *call, const char *name, uint8_t **value,
                          size_t *len);
    int32_t (*secret_put)(c360_call *call, const char *name,
                          const void *value, size_t len);
    int32_t (*secret_delete)(c360_call *call, const char *name);
    void (*secret_free)(void *value);

    /* Rate-limit budgets shared by every host. Takes `cost` units from the
     * bucket: C360_OK if allowed now, else C360_RETRY with *wait_ms set to
     * the delay after which it would be. Bucket names: as state keys. */
    int32_t (*ratelimit_take)(c360_call *call, int32_t scope,
                              const char *bucket, const c360_rl_limit *limit,
                              uint32_t cost, uint32_t *wait_ms);
    /* Feeds a provider's usage report so the bucket slows down before the
     * provider's hard limit: usage_pct is the highest usage the provider
     * reports (0..100+), pause_ms an explicit wait (Retry-After; 0 = none). */
    int32_t (*ratelimit_report)(c360_call *call, int32_t scope,
                                const char *bucket, uint32_t usage_pct,
                                uint32_t pause_ms);
    /* Reads the usage headers the host knows (X-App-Usage,
     * X-Business-Use-Case-Usage, X-Ad-Account-Usage, Retry-After,
     * X-RateLimit-*) from a response and reports them to the bucket. */
    int32_t (*ratelimit_feed_response)(c360_call *call, int32_t scope,
                                       const char *bucket,
                                       const c360_http_response *resp);

    /* Appends to the tenant's tamper-evident audit log, with this plugin as
     * the actor. Ids only: never secrets or personal data. */
    int32_t (*audit)(c360_call *call, const char *action, const char *target,
                     const char *outcome);

    /* Outbound HTTP (blocking). Returns C360_OK when a response arrived,
     * whatever its status, and sets *resp (free with http_free); otherwise
     * C360_ETIMEOUT, C360_EIO (network, TLS), C360_ETOOBIG (response over
     * the limit), C360_EDENIED (policy) or C360_EINVAL, with the reason in
     * the call's error. */
    int32_t (*http)(c360_call *call, const c360_http_request *req,
                    c360_http_response **resp);
    void (*http_free)(c360_http_response *resp);

    /* OAuth 2.0. oauth_token returns a valid access token for the
     * connection (token_name), refreshing it ahead of expiry with the grant
     * in params; across every host only one refresh runs per expiry.
     * *token is freed with secret_free. C360_EAUTH: the grant is dead (e.g.
     * invalid_grant); the connection is marked "needs re-authorisation". */
    int32_t (*oauth_token)(c360_call *call, const c360_oauth_params *params,
                           char **token, int64_t *expires_at_ms);
    /* Runs the grant in params now (authorization_code at connect time,
     * client/account credentials) and stores the tokens sealed. */
    int32_t (*oauth_exchange)(c360_call *call, const c360_oauth_params *params);
    /* The provider rejected the token in an API call (e.g. Meta code 190):
     * the host re-checks the store (another host may have refreshed) and
     * otherwise marks the connection as needing re-authorisation.
     * Returns C360_OK if a newer token is already stored (retry with it). */
    int32_t (*oauth_token_rejected)(c360_call *call, const char *token_name,
                                    const char *reason);

    /* Crypto helpers (pure, thread-safe, never block). */
    void (*hmac_sha256)(const void *key, size_t key_len, const void *msg,
                        size_t msg_len, uint8_t out[32]);
    void (*sha256)(const void *msg, size_t len, uint8_t out[32]);
    /* 1 if equal, in time that depends only on len. */
    int (*ct_equal)(const void *a, const void *b, size_t len);
    /* Encodes into a host-allocated NUL-terminated string (host->free). */
    char *(*base64_encode)(const void *bin, size_t len, int32_t variant);
    /* Decodes into host->free'd memory; C360_EINVAL on bad input. */
    int32_t (*base64_decode)(const char *text, size_t text_len,
                             int32_t variant, uint8_t **bin, size_t *len);
    char *(*hex_encode)(const void *bin, size_t len);
    void (*random_bytes)(void *buf, size_t len);

    /* --- ABI 1.2: the pipeline ------------------------------------------ */

    /* From webhook_verify on a per-connection URL, before accepting: names
     * the event's deduplication key (leadgen id, message id...); the host
     * drops repeats within its dedup window. Copied; at most 200 bytes of
     * printable ASCII. Never blocks. */
    void (*call_dedup_key)(c360_call *call, const char *key);

    /* From webhook_route only (app-level URLs): this event belongs to the
     * connections that registered routing_key (see instance_route_keys);
     * dedup_key as above (may be NULL or ""). Call once per key the
     * payload touches (a batch may name several pages); at most 64 per
     * webhook, the rest are refused and counted. Never blocks. */
    int32_t (*route_event)(c360_call *call, const char *routing_key,
                           const char *dedup_key);

    /* From instance_open or tick: the routing keys this connection owns
     * (e.g. "page:123456"), replacing the ones it registered before. An
     * app-level webhook is routed only to the owners of its keys, never to
     * anyone else. At most 1000 keys of 1..200 printable ASCII bytes. May
     * block (worker threads and the host's opener thread). */
    int32_t (*instance_route_keys)(c360_call *call, const char *const *keys,
                                   uint32_t count);

    /* From event or tick: emits one normalised record (a JSON object) with
     * its type ("lead", "comment", ...) and a stable id (the same on every
     * retry and replay: destinations use it as an idempotency key). The host
     * keeps the records of a call and commits them, routed to the
     * connection's destinations, only if the callback returns C360_OK: a
     * retried call emits them again. Copied. type and id: 1..200 printable
     * ASCII bytes without spaces. C360_ETOOBIG for a record over 1 MiB, or
     * past 1000 records or 16 MiB in one call. */
    int32_t (*record_emit)(c360_call *call, const char *type, const char *id,
                           const char *json, size_t json_len);

    /* Reports the connection's state with a short cause shown to the
     * customer (no secrets, no personal data). NEEDS_REAUTH stops its
     * scheduled work until it is reconnected. May block. */
    int32_t (*connection_status)(c360_call *call, int32_t state,
                                 const char *cause);

    /* --- ABI 1.6: state committed with the call ------------------------- */

    /* From event or tick: stages a write of the connection's state that the
     * host applies only if the callback returns C360_OK, in the same atomic
     * step that commits the call's records and acknowledges its work: a
     * "seen" mark or a cursor never outlives records that were not
     * committed, and costs no round trip of its own. value NULL with len 0
     * deletes the key (as state_delete); otherwise it is state_set's write
     * (the version is bumped; ttl_ms 0 = no expiry). Staged writes apply in
     * the order staged, so a later write of a key wins. state_get does not
     * see them before the commit; any other status (or work another worker
     * finished meanwhile) drops them all, and a retried call stages them
     * again. The commit may be held back a few milliseconds to be written
     * with the next calls' (other workers see the writes from then on);
     * later calls of the same connection on the same worker thread that
     * touch its state, and its ticks, find them committed first. Copied;
     * never blocks; may be called from helper threads while
     * the callback runs. Keys and values as state_set (C360_EINVAL,
     * C360_ETOOBIG); C360_ETOOBIG past 1000 writes or 16 MiB (keys and
     * values together) in one call, the writes staged before kept.
     * C360_EDENIED outside event and tick (deliver, instance_open,
     * webhook_verify...): write with state_set there. */
    int32_t (*state_set_on_commit)(c360_call *call, const char *key,
                                   const void *value, size_t len,
                                   uint32_t ttl_ms);

    /* --- ABI 1.8: prepared HMAC keys ------------------------------------ */

    /* HMAC-SHA256 with a key used again and again (a webhook's app
     * secret): hmac_sha256_key_new derives the key's inner and outer
     * SHA-256 states once, and each hmac_sha256_keyed then costs only the
     * message, not the key's two extra compressions. hmac_sha256_keyed's
     * MAC is exactly hmac_sha256's with the same key (any length, 0
     * included; keys over 64 bytes are hashed first, RFC 2104).
     *  - Thread-safe: a prepared key is read-only once made; each
     *    computation works on a copy of its state, so any number of
     *    threads may use one key at once. Never blocks; allowed in every
     *    callback, webhook_verify and webhook_route included.
     *  - Secret: the states are key-equivalent (they forge MACs), so the
     *    host keeps them in guarded memory (sodium_malloc) and wipes them
     *    on free; the key bytes passed in are not kept.
     *  - Ownership: the plugin frees every key it made with
     *    hmac_sha256_key_free (NULL accepted), at the latest before the
     *    instance_close or fini that ends its use returns. The host never
     *    frees them for it.
     * In hmac_sha256_key_new, key may be NULL when key_len is 0; it
     * returns NULL when out of memory (the plugin may then fall back to
     * hmac_sha256). A plugin that also runs on older hosts
     * tests C360_HOST_HAS(host, hmac_sha256_key_new) and falls back to
     * hmac_sha256 without it. */
    c360_hmac_key *(*hmac_sha256_key_new)(const void *key, size_t key_len);
    void (*hmac_sha256_keyed)(const c360_hmac_key *k, const void *msg,
                              size_t msg_len, uint8_t out[32]);
    void (*hmac_sha256_key_free)(c360_hmac_key *k);
} c360_host_api;

/* ------------------------------------------------------------------------ */
/* OAuth connect (ABI 1.3)                                                   */
/* ------------------------------------------------------------------------ */

/* What a plugin's oauth_connect callback tells the host about its
 * provider (RFC 6749 section 4.1, with PKCE, RFC 7636): where to send the
 * customer to authorise the app, and the token endpoint to exchange the
 * code the provider sends back. The host allocates it zeroed, per call,
 * with struct_size set to its own sizeof; the plugin fills the members
 * that struct_size covers (a plugin built against a newer SDK checks
 * before it writes a member this struct gains later).
 *
 * Ownership: the host copies every string as soon as the callback returns,
 * on the same thread and before any other callback of the instance can
 * run. So the strings may point into static storage, plugin_data or
 * instance_data -- never into the callback's stack frame, nor into memory
 * the plugin frees before returning. A value the plugin got from
 * host->secret_get for this (typically the client secret) cannot be freed
 * before returning, so it is handed back: point client_secret into it, set
 * host_secret to it, and the host releases it with secret_free once it has
 * copied, whatever the callback returned. Never put anything but a
 * secret_get value in host_secret.
 *
 * The token endpoint members mean what they mean in c360_oauth_params; the
 * host runs the exchange itself (grant authorization_code, with the code,
 * its redirect URI and the PKCE verifier) and stores the tokens sealed
 * under token_name, where host->oauth_token finds them later. */
typedef struct c360_oauth_connect {
    uint32_t struct_size;       /* sizeof(c360_oauth_connect) of the host */
    uint32_t pkce;              /* 1: PKCE with S256 (the host makes the
                                   verifier and the challenge); 0: none */
    const char *authorize_url;  /* the authorisation endpoint: https://, or
                                   http:// on a loopback host only (tests);
                                   may carry a query of its own; no
                                   fragment. Required. */
    const char *client_id;      /* the app's client id, sent to both
                                   endpoints. Required. */
    const char *scope;          /* optional: the scope parameter as the
                                   provider wants it ("a b", "a,b") */
    const char *extra_params;   /* optional: more query parameters, already
                                   percent-encoded, e.g.
                                   "access_type=offline&prompt=consent"; none
                                   of them may be one the host sets
                                   (response_type, client_id, redirect_uri,
                                   scope, state, code_challenge,
                                   code_challenge_method) */
    const char *token_url;      /* the token endpoint. Required. */
    const char *client_secret;  /* NULL: a public client (PKCE alone) */
    int32_t auth;               /* c360_oauth_auth: how client_id and
                                   client_secret reach the token endpoint */
    uint32_t refresh_margin_s;  /* as in c360_oauth_params; 0 = default */
    const char *token_name;     /* the connection's token to store; NULL =
                                   "default" (1..64 of [A-Za-z0-9_-]) */
    void *host_secret;          /* optional: a value from host->secret_get
                                   that client_secret points into; the host
                                   frees it (secret_free) after copying */
} c360_oauth_connect;

/* ------------------------------------------------------------------------ */
/* The plugin descriptor                                                     */
/* ------------------------------------------------------------------------ */

/* Tests whether a descriptor (of a plugin built against some minor) covers a
 * member. The host uses this before it reads any member added after 1.0. */
#define C360_DESC_HAS(desc, member)                                         \
    ((desc)->struct_size >= offsetof(c360_plugin_desc, member) +            \
                                sizeof((desc)->member))

typedef struct c360_plugin_desc {
    /* --- header: fixed for all ABI versions -------------------------------- */
    uint32_t magic;        /* C360_PLUGIN_MAGIC */
    uint16_t abi_major;    /* C360_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;    /* oldest host minor the plugin needs (see top) */
    uint32_t struct_size;  /* sizeof(c360_plugin_desc) as the plugin saw it */
    uint32_t capabilities; /* C360_CAP_* bits */

    /* --- ABI 1.0 ------------------------------------------------------- */
    const char *name;      /* unique, [a-z0-9_], 1..32 chars; used in URLs */
    const char *version;   /* the plugin's own version, e.g. "1.2.0" */
    const char *description; /* one line for operators */
    /* JSON Schema (a JSON object, draft 2020-12) of a connection's config.
     * Served by the admin API to build forms; checked before validate_config.
     * Secrets never go in config: they are stored with the secrets service. */
    const char *config_schema;

    /* Called once after load, before anything else. Keep `host`: it stays
     * valid until fini. Set *plugin_data to plugin-wide state (or NULL).
     * Thread: main thread, before the event loop runs. May block briefly,
     * but blocking host services (state, secrets, HTTP...) are not
     * available here: they return C360_EDENIED.
     * Required. Return C360_OK, or an error and call host->call_error(): the
     * plugin is then refused and never called again. */
    int32_t (*init)(c360_call *call, const c360_host_api *host,
                    void **plugin_data);

    /* Called once before unload; free plugin-wide state. No other callback
     * of this plugin runs during or after it. Thread: main thread. Optional. */
    void (*fini)(void *plugin_data);

    /* Checks a connection's config (a JSON object; the schema has already
     * been applied). Report each problem with host->config_error() and return
     * C360_EINVAL; return C360_OK if the config is usable. Pure: no I/O.
     * Thread: any (the event loop for the admin API's dry run): must not
     * block. Required. */
    int32_t (*validate_config)(c360_call *call, void *plugin_data,
                               const char *config_json, size_t config_len);

    /* Opens one connection with its validated config. Set *instance_data to
     * the per-connection state passed to the callbacks below.
     * Thread: worker; may block. Required. */
    int32_t (*instance_open)(c360_call *call, void *plugin_data,
                             c360_instance *inst, const char *config_json,
                             size_t config_len, void **instance_data);

    /* Closes a connection (config change, pause, shutdown): free
     * instance_data. Not a disconnect: credentials stay. No other callback of
     * this instance runs during or after it. Thread: worker. Optional. */
    void (*instance_close)(void *plugin_data, void *instance_data);

    /* C360_CAP_SOURCE_TICK: one scheduled poll of a connection. Return
     * C360_OK, C360_RETRY (with call_retry_after) or an error.
     * Thread: worker; may block on host services until the call's deadline. */
    int32_t (*tick)(c360_call *call, void *plugin_data, void *instance_data);

    /* C360_CAP_SOURCE_WEBHOOK: decides whether a raw webhook request is
     * authentic (signature over the raw bytes) or a handshake to answer.
     * instance_data is NULL for app-level URLs (/hooks/{plugin}), where one
     * URL serves every tenant. Returns a c360_verdict; anything else counts as
     * REJECT. Thread: the event loop. MUST NOT BLOCK: no host service that
     * does I/O may be called here. */
    int32_t (*webhook_verify)(c360_call *call, void *plugin_data,
                              void *instance_data, const c360_webhook *req,
                              c360_webhook_reply *reply);

    /* C360_CAP_SOURCE_WEBHOOK: processes one stored event of a connection
     * (fetch details from the provider, emit records). Called at least once
     * per event: make it idempotent. Thread: worker; may block. */
    int32_t (*event)(c360_call *call, void *plugin_data, void *instance_data,
                     const c360_event *ev);

    /* C360_CAP_DESTINATION: delivers one record to the customer's system.
     * Called at least once per record: pass record->id on as an idempotency
     * key. Thread: worker; may block. */
    int32_t (*deliver)(c360_call *call, void *plugin_data,
                       void *instance_data, const c360_record *rec);

    /* The customer disconnected this connection: remove provider
     * subscriptions and revoke tokens where the provider allows. The host
     * deletes the connection's secrets and state afterwards, whatever this
     * returns. instance_close follows. Thread: worker; may block. Optional. */
    int32_t (*disconnect)(c360_call *call, void *plugin_data,
                          void *instance_data);

    /* --- ABI 1.2 ------------------------------------------------------- */

    /* C360_CAP_SOURCE_WEBHOOK with app-level URLs (/hooks/{plugin}, one URL
     * for every tenant, e.g. Meta): after webhook_verify accepted a request
     * on the app-level URL, maps it to connections by calling
     * host->route_event() with the routing keys the payload names. An event
     * routed to no connection is refused and counted; there is never a
     * default tenant. Optional (without it the app-level URL answers 404).
     * Thread: the event loop. MUST NOT BLOCK. */
    int32_t (*webhook_route)(c360_call *call, void *plugin_data,
                             const c360_webhook *req);

    /* --- ABI 1.3 ------------------------------------------------------- */

    /* OAuth connect: describes the provider's authorisation endpoint for
     * one connection by filling *out (see c360_oauth_connect, and its
     * ownership rule). The admin API calls it when a customer starts
     * connecting (POST .../oauth/start), and again when the provider sends
     * the customer back (GET /oauth/callback) to get the token endpoint
     * for the code exchange; both answers must describe the same provider
     * app. Return C360_OK; C360_EUNSUPPORTED if this connection does not
     * connect by OAuth (its config says otherwise); C360_EINVAL, with
     * call_error, if the connection lacks something it needs (a client
     * secret not stored yet). Optional: without it no connection of the
     * plugin can be connected by OAuth. A host reads it only when the
     * plugin's struct_size covers it (C360_DESC_HAS).
     * Thread: worker (an admin thread); may block (e.g. to read secrets). */
    int32_t (*oauth_connect)(c360_call *call, void *plugin_data,
                             void *instance_data, c360_oauth_connect *out);

    /* --- ABI 1.4 ------------------------------------------------------- */

    /* C360_CAP_DESTINATION, optional: delivers n >= 1 records of this
     * connection in one call, for systems that take several per request.
     * The host calls it instead of deliver whenever it has more than one
     * record ready for the connection (at most its pipeline batch size;
     * the plugin groups them into requests as its config says); a single
     * record still goes to deliver, which stays required. Each record is
     * shaped by its own route and keeps its own id, type and attempt. Set
     * statuses[i] to the outcome of recs[i] (C360_OK, C360_RETRY -- the
     * call_retry_after delay holds for every retried one --, C360_EGONE,
     * C360_THROTTLED (1.5 hosts; the same delay), an error with
     * call_error, ...); the host presets every entry to a
     * value that is no status, and one left so counts as a permanent
     * error. Each record is then retried, dead-lettered or done on its
     * own. The return value is ignored unless it is C360_ENOMEM
     * (everything retried). The call has one deadline for all n records.
     * Called at least once per record: pass each record->id on as its
     * idempotency key. Thread: worker; may block. A host reads it only
     * when the plugin's struct_size covers it (C360_DESC_HAS). */
    int32_t (*deliver_batch)(c360_call *call, void *plugin_data,
                             void *instance_data,
                             const c360_record *const *recs, size_t n,
                             int32_t *statuses);

    /* --- ABI 1.7 ------------------------------------------------------- */

    /* C360_CAP_SOURCE_WEBHOOK, optional: a look ahead at n >= 2 stored
     * events of this connection that the host took together and is about
     * to pass to event, one call each, in this order, on this thread. The
     * plugin may read ahead what those calls will need in fewer provider
     * requests (several objects in one request) and keep it, briefly and
     * bounded, for them in instance_data (which other threads share: lock).
     * Advisory only:
     *  - it emits no records and stages no writes (record_emit gives
     *    C360_EUNSUPPORTED and state_set_on_commit C360_EDENIED, as in
     *    deliver); other host services work as in event (state_get and
     *    state_set, secrets, http, rate limits, log);
     *  - each event is still passed to event, whatever happened here, and
     *    event must work alone: an event may be run by another thread or
     *    worker instead, retried, or replayed, without a look ahead;
     *  - the return value is only logged (an error status at debug level);
     *  - the call has a deadline of its own, like any callback.
     * Thread: worker; may block. A host reads it only when the plugin's
     * struct_size covers it (C360_DESC_HAS). */
    int32_t (*event_prefetch)(c360_call *call, void *plugin_data,
                              void *instance_data,
                              const c360_event *const *evs, size_t n);
} c360_plugin_desc;

/* The entry function every plugin defines, exactly once:
 *
 *     C360_PLUGIN_ENTRY { return &my_descriptor; }
 *
 * It must return a pointer to a descriptor with static storage duration and
 * do nothing else (no allocation, no threads): the host may call it more than
 * once, and calls it before deciding whether to accept the plugin. */
typedef const c360_plugin_desc *(*c360_entry_fn)(void);

#ifdef __cplusplus
#define C360_EXTERN_C extern "C"
#else
#define C360_EXTERN_C
#endif
/* extern "C" so that a plugin written in C++ exports the unmangled name. */
#define C360_PLUGIN_ENTRY                                                   \
    C360_EXTERN_C C360_EXPORT const c360_plugin_desc *c360_plugin_entry(void); \
    C360_EXTERN_C C360_EXPORT const c360_plugin_desc *c360_plugin_entry(void)

/* Fills the fixed header of a descriptor in an initialiser:
 *     static const c360_plugin_desc desc = { C360_DESC_HEADER(caps), ... };
 */
#ifndef C360_PLUGIN_REQUIRES_MINOR
#define C360_PLUGIN_REQUIRES_MINOR C360_ABI_MINOR
#endif
#define C360_DESC_HEADER(caps)                                              \
    C360_PLUGIN_MAGIC, C360_ABI_MAJOR, C360_PLUGIN_REQUIRES_MINOR,          \
        (uint32_t)sizeof(c360_plugin_desc), (uint32_t)(caps)

#ifdef __cplusplus
}
#endif

#endif /* C360_CONNECTOR_API_H */
