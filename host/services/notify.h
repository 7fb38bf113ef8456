/* notify.h -- a tenant's notification endpoint: connection problems reach
 * the customer without polling (docs/api/notifications.md).
 *
 * A tenant registers one URL and the events it wants. Emitters (connstatus
 * transitions, the dead-letter watch, the refresh-token watch) append a
 * notification to the tenant's outbox, only when the endpoint is
 * subscribed to that event; a sender thread POSTs it, signed the Standard
 * Webhooks way, retries with backoff and records every attempt in the
 * tenant's notification log.
 *
 * Keys (all but the two indexes in the tenant's slot):
 *   c360:{t:T}:notify          hash: url, events (comma-separated names),
 *                              version, created_ms, updated_ms,
 *                              has_secret (1 once the signing secret is
 *                              stored), sec_claim (ms: a PUT is creating it)
 *   secret  _notify/signing    (secrets service, sealed) "whsec_<base64>"
 *   c360:{t:T}:notify:q        stream, MAXLEN ~ 1000: the outbox: nid, type,
 *                              c, state, cause, t (ms), data (JSON)
 *   c360:{t:T}:notify:cur      hash: last = the last outbox id taken up
 *   c360:{t:T}:notify:retry    sorted set: outbox id -> when it is due (ms,
 *                              Redis clock); an entry being sent is in it
 *                              with a lease score, so a sender that dies
 *                              mid-send leaves it due again (at least once)
 *   c360:{t:T}:notify:att      hash: outbox id -> attempts so far
 *   c360:{t:T}:notify:log      stream, MAXLEN ~ 1000: one entry per
 *                              attempt: nid, type, c, code, att, out, t, ms,
 *                              err
 *   c360:{t:T}:notify:dlc      hash: the dead-letter watch's counts
 *   c360:{t:T}:notify:rtx:<c>:<name>  string, EX: the refresh expiry last
 *                              warned about for that token (once per expiry)
 *   c360:{idx}:notify-tenants  set: tenants with an endpoint
 *   c360:{idx}:notify-due      sorted set: tenant -> when its outbox needs
 *                              the sender (ms, Redis clock); a sender
 *                              claims a tenant by moving its score past a
 *                              lease, so hosts share the tenants; each
 *                              entry it takes is leased in notify:retry,
 *                              so one host at a time sends a notification
 *
 * Blocking (rconn.h, httpc.h): worker, admin or the sender's own thread;
 * never the event loop. Status codes are the SDK's. */
#ifndef CH_NOTIFY_H
#define CH_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* Events, as bits of a subscription. */
#define CH_NEV_NEEDS_REAUTH 0x01u  /* "connection.needs_reauth" */
#define CH_NEV_FAILING 0x02u       /* "connection.failing" */
#define CH_NEV_RECOVERED 0x04u     /* "connection.recovered" */
#define CH_NEV_DLQ_GROWING 0x08u   /* "dead_letters.growing" */
#define CH_NEV_RT_EXPIRING 0x10u   /* "refresh_token.expiring" */
#define CH_NEV_ALL 0x1fu
#define CH_NEV_COUNT 5
/* The type of the notification POST .../test sends (never subscribed). */
#define CH_NOTIFY_TEST_TYPE "notification.test"

#define CH_NOTIFY_URL_MAX 2048
/* "whsec_" + base64 of 32 bytes + NUL */
#define CH_NOTIFY_SECRET_MAX 64
#define CH_NOTIFY_ID_MAX 40        /* "ntf_" + 32 hex + NUL */
#define CH_NOTIFY_OUTBOX_MAX 1000  /* XADD MAXLEN ~ */
#define CH_NOTIFY_LOG_MAX 1000
#define CH_NOTIFY_LOG_PAGE_MAX 200
#define CH_NOTIFY_CAUSE_MAX 256

/* Name of one event bit, or NULL. */
const char *ch_notify_event_name(unsigned bit);
/* Bit of an event name, or 0 if unknown. */
unsigned ch_notify_event_bit(const char *name);

/* Whether url is acceptable as an endpoint: http:// or https://, a host,
 * no user info, no whitespace or control characters, at most
 * CH_NOTIFY_URL_MAX bytes. On 0, why (may be NULL) says what is wrong
 * (never quoting the URL). The outbound SSRF policy applies when sending,
 * to the address the name resolves to then. */
int ch_notify_url_valid(const char *url, char *why, size_t whycap);

typedef struct ch_notify_config {
    char url[CH_NOTIFY_URL_MAX + 1];
    unsigned events;
    uint64_t version;
    int64_t created_ms;
    int64_t updated_ms;
} ch_notify_config;

/* The tenant's endpoint. C360_OK, C360_ENOTFOUND (none), C360_EINVAL,
 * C360_EIO. */
int32_t ch_notify_get(const char *tenant, ch_notify_config *out);

/* Creates or replaces the endpoint. expected: 0 = unconditional, else the
 * version the caller read (C360_ECONFLICT when it moved; *current, may be
 * NULL, gets the stored version). On C360_OK *out holds the stored config
 * and secret (CH_NOTIFY_SECRET_MAX bytes) the signing secret when this
 * call created it -- the only time it is ever shown -- else "". If the
 * config was written but the secret could not be stored, C360_EIO (a later
 * PUT creates it). C360_EINVAL for a bad url or events == 0. */
int32_t ch_notify_put(const char *tenant, const char *url, unsigned events,
                      uint64_t expected, uint64_t *current,
                      ch_notify_config *out, char *secret);

/* Removes the endpoint, its secret, outbox and watch state (the log stays
 * until retention or the tenant's deletion). C360_ENOTFOUND if none. */
int32_t ch_notify_delete(const char *tenant);

/* The config as the API shows it: {url, events:[...], version, created_ms,
 * updated_ms}. Never the secret. */
json_t *ch_notify_config_json(const ch_notify_config *c);

/* ---- emission ------------------------------------------------------------- */

/* Appends a notification of `event` (one CH_NEV_* bit) to the tenant's
 * outbox if its endpoint is subscribed to it, and marks the tenant due for
 * the sender. conn, state, cause may be NULL; data (stolen, may be NULL)
 * is a JSON object. Fire and forget: never fails the caller; problems are
 * logged. Returns 1 when queued, 0 when not subscribed (or no endpoint),
 * -1 on a Redis failure (logged). */
int ch_notify_emit(const char *tenant, unsigned event, const char *conn,
                   const char *state, const char *cause, json_t *data);

/* connstatus.c's hook: a connection's state moved from prev (NULL or "" =
 * active) to state. Emits connection.needs_reauth, connection.failing, or
 * connection.recovered (back to active from failing or needs_reauth). */
void ch_notify_conn_state(const char *tenant, const char *conn,
                          const char *prev, const char *state,
                          const char *cause);

/* ---- sending ---------------------------------------------------------------- */

typedef struct ch_notify_settings {
    int period_ms;          /* how often the sender looks for due outboxes
                               (default 1000) */
    int watch_period_ms;    /* dead-letter watch (default 30000; <0 off) */
    int expiry_period_ms;   /* refresh-token pass (default 3600000; <0 off) */
    int64_t expiry_warn_ms; /* warn this long before a refresh token's
                               expiry (default 7 days) */
    int retry_base_ms;      /* attempts go at +1, 6, 24, 120, 360 units
                               after the previous (default 5000: 5 s, 30 s,
                               2 min, 10 min, 30 min) */
    int max_attempts;       /* default 6 (1..6) */
    uint32_t timeout_ms;    /* per POST (default 10000) */
    int lease_ms;           /* a claimed tenant / an entry in flight
                               (default 300000) */
    int tenants_per_claim;  /* default 20 */
    int sends_per_tenant;   /* per claim (default 10) */
} ch_notify_settings;

void ch_notify_settings_default(ch_notify_settings *s);

/* Starts the sender thread (s NULL = defaults): it sends due
 * notifications, runs the dead-letter watch and the refresh-token pass.
 * Every host may run one: tenants are claimed one host at a time. Call
 * after ch_rconn_configure, the secrets keyring and ch_httpc_configure.
 * CH_OK or CH_EIO (thread not created, logged). */
ch_err ch_notify_start(const ch_notify_settings *s);
/* Stops and joins it (within one POST's timeout at worst). Safe without a
 * start and twice. */
void ch_notify_stop(void);

/* One turn of the sender on the calling thread (tests): claims due tenants
 * and sends what is due. *sent (may be NULL) counts attempts made.
 * C360_OK or C360_EIO. */
int32_t ch_notify_send_due(const ch_notify_settings *s, size_t *sent);

/* The dead-letter watch for one tenant (tests; the thread runs it for every
 * tenant with an endpoint): emits dead_letters.growing for each connection
 * whose dead-letter count reached the next power of ten (1, 10, 100...).
 * *emitted (may be NULL) counts them. */
int32_t ch_notify_watch_tenant(const char *tenant, size_t *emitted);

/* One whole refresh-token pass (tests; the thread spreads it over turns):
 * warns about tokens whose refresh expiry is within warn_ms of now. */
int32_t ch_notify_expiry_pass(int64_t warn_ms, size_t *emitted);

/* Sends a test notification to the tenant's endpoint now, once, and logs
 * it. C360_OK with *result {"id","event","status_code"|null,"outcome":
 * "delivered"|"failed","duration_ms","error"?}; C360_ENOTFOUND (no
 * endpoint); C360_EIO. */
int32_t ch_notify_test(const char *tenant, uint32_t timeout_ms,
                       json_t **result);

/* A page of the delivery log, newest first: items as
 * {"id","event","connection","status_code","attempts","outcome",
 *  "time_ms","duration_ms","error"?}. cursor NULL/"" = newest; next
 * (CH_NOTIFY_ID_MAX + 8 bytes) gets the next page's cursor or "".
 * C360_EINVAL for a bad cursor or limit (1..CH_NOTIFY_LOG_PAGE_MAX). */
int32_t ch_notify_log_list(const char *tenant, const char *cursor,
                           uint32_t limit, json_t **items, char *next);

/* The Standard Webhooks signature of a message: "v1," + base64 of
 * HMAC-SHA256(key, "<id>.<ts>.<body>") into out (>= 64 bytes). key is the
 * decoded secret. Exposed for tests and receivers' examples. */
void ch_notify_sign(const uint8_t *key, size_t key_len, const char *id,
                    long long ts, const char *body, size_t body_len,
                    char *out, size_t cap);

#endif
