/* zoom.h -- internals of the "zoom" connector plugin (meetings and
 * webinars: registrants and attendance). docs/connectors/zoom.md says
 * what it does; this header says how the files share the work:
 *
 *   zoom_util.c     hex, times, Retry-After, ids, strings         (pure)
 *   zoom_config.c   the config schema and its checks              (pure)
 *   zoom_apps.c     the plugin-wide map of webhook secret tokens, (pure +
 *                   x-zm-signature, routing fingerprint, rwlock    pthread)
 *   zoom_records.c  webhook bodies, registrant / attendance       (pure)
 *                   records (c360.registrant.v1, .attendance.v1)
 *   zoom_api.c      the S2S token and one REST call: budgets,     (host)
 *                   429 (QPS / daily), 401, errors; disconnect
 *   zoom_event.c    webhook events -> records                     (host)
 *   zoom_tick.c     the catch-up poll of registrants              (host)
 *   zoom_plugin.c   descriptor, instances, webhook callbacks      (host)
 *
 * "Pure" files use only libc, pthread and Jansson (crypto through
 * zoom_crypto), so tests/test_zoom_parts.c compiles them without a host. */
#ifndef ZOOM_H
#define ZOOM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Nothing newer than ABI 1.2 (pipeline services) is used. */
#define C360_PLUGIN_REQUIRES_MINOR 2
#include "c360kit.h"
#include "connector_api.h"

#define ZOOM_VERSION "1.0.0"

#define ZOOM_ID_MAX 64            /* a Zoom account / registrant id */
#define ZOOM_NUM_MAX 20           /* a meeting or webinar id (digits) */
#define ZOOM_MAX_OBJECTS 100      /* configured meetings + webinars, each */
#define ZOOM_URL_MAX 512
#define ZOOM_BODY_MAX (256u * 1024u) /* largest webhook body verified */
#define ZOOM_FP_LEN 16
#define ZOOM_KEY_MAX 200
#define ZOOM_SKEW_S 300           /* x-zm-request-timestamp window */
#define ZOOM_PLAIN_MAX 128        /* url_validation plainToken */
/* A registrant seen by a webhook or the poll is remembered this long,
 * longer than Zoom's retries (+5, +20, +60 min). */
#define ZOOM_SEEN_TTL_MS (3u * 86400u * 1000u)

typedef char zoom_id[ZOOM_ID_MAX + 1];
typedef char zoom_num[ZOOM_NUM_MAX + 1];

typedef struct zoom_crypto {
    void (*hmac_sha256)(const void *key, size_t key_len, const void *msg,
                        size_t msg_len, uint8_t out[32]);
    int (*ct_equal)(const void *a, const void *b, size_t len);
} zoom_crypto;

/* ---- zoom_util.c ------------------------------------------------------ */

static inline void zoom_hex(const uint8_t *b, size_t n, char *o)
{ c360kit_hex(b, n, o); } /* 2n + 1 bytes */
static inline bool zoom_hex_decode(const char *s, size_t n, uint8_t *o)
{ return c360kit_hex_decode(s, n, o); }
/* A string member, or NULL. */
static inline const char *zoom_str(const json_t *o, const char *k) { return c360kit_str(o, k); }
/* An id from JSON: a string of 1..ZOOM_ID_MAX of [A-Za-z0-9_.=+/-], or a
 * non-negative integer. */
bool zoom_id_from_json(const json_t *v, zoom_id out);
bool zoom_id_valid(const char *s);
/* A meeting / webinar id: 1..20 digits as a string or an integer. */
bool zoom_num_from_json(const json_t *v, zoom_num out);
bool zoom_num_valid(const char *s);
/* Unix seconds of ISO 8601 ("2021-07-14T02:44:51Z", offsets, fractions);
 * -1 if malformed. */
int64_t zoom_time_parse(const char *s);
static inline void zoom_rfc3339(int64_t t, char out[32]) { c360kit_rfc3339(t, out); }
/* Retry-After: delta seconds or an ISO / HTTP-date time; the wait in ms
 * from now_ms, or -1 if absent or malformed. Capped at 48 h. */
int64_t zoom_retry_after_ms(const char *v, int64_t now_ms);
/* ms from now_ms to the next UTC midnight. */
int64_t zoom_ms_to_midnight(int64_t now_ms);
/* A short printable excerpt (control bytes flattened). */
static inline void zoom_excerpt(const char *in, char *o, size_t cap)
{ c360kit_excerpt(in, NULL, o, cap); }
/* Appends s percent-encoded; false if it did not fit. */
static inline bool zoom_urlenc_cat(char *o, size_t cap, const char *s)
{ return c360kit_urlenc_cat(o, cap, s); }

/* ---- zoom_config.c ---------------------------------------------------- */

typedef struct zoom_cfg {
    zoom_id account_id;
    char client_id[129];
    zoom_num meetings[ZOOM_MAX_OBJECTS];
    size_t nmeetings;
    zoom_num webinars[ZOOM_MAX_OBJECTS];
    size_t nwebinars;
    int64_t poll_interval_s;          /* 0: every tick */
    bool attendance;                  /* participant_joined -> records */
} zoom_cfg;

extern const char zoom_config_schema[];
typedef void (*zoom_cfg_err_fn)(void *arg, const char *pointer, const char *message);
int zoom_config_parse(const char *json, size_t len, zoom_cfg *cfg,
                      zoom_cfg_err_fn err, void *arg);
bool zoom_in(const zoom_num *list, size_t n, const char *id);

/* ---- zoom_apps.c ------------------------------------------------------ */

/* One webhook secret token as the open connections know it (refcounted;
 * immutable but refs). */
typedef struct zoom_app {
    char fp[ZOOM_FP_LEN + 1];
    uint8_t *secret;
    size_t secret_len;
    unsigned refs;
    struct zoom_app *next;
} zoom_app;

typedef struct zoom_apps {
    pthread_rwlock_t lock;
    zoom_app *head;
} zoom_apps;

void zoom_apps_init(zoom_apps *m);
void zoom_apps_destroy(zoom_apps *m);
zoom_app *zoom_apps_get(zoom_apps *m, const zoom_crypto *cr, const uint8_t *secret,
                        size_t len);
void zoom_apps_put(zoom_apps *m, zoom_app *a);
void zoom_route_fp(const zoom_crypto *cr, const uint8_t *secret, size_t len,
                   char out[ZOOM_FP_LEN + 1]);
/* "acct:<account id>:<fp>"; false if too long. */
bool zoom_route_key(const char *account_id, const char *fp, char *out, size_t cap);

enum zoom_sig_result {
    ZOOM_SIG_OK = 0,
    ZOOM_SIG_MISSING,      /* no signature or timestamp header */
    ZOOM_SIG_MALFORMED,    /* not "v0=<64 hex>", or a bad timestamp */
    ZOOM_SIG_STALE,        /* timestamp more than ZOOM_SKEW_S off */
    ZOOM_SIG_BAD           /* no secret signed it */
};
/* Checks the header values against one secret. */
int zoom_sig_check(const zoom_crypto *cr, const uint8_t *secret, size_t slen,
                   const char *sig, const char *ts, const uint8_t *body, size_t len,
                   int64_t now_s);
/* Against every known secret: the fingerprints of those that signed it
 * (distinct, at most max) in fps; the result code; *n the count. When
 * `secret_out` is not NULL, the first matching secret is copied there
 * (cap bytes, NUL-terminated; *secret_len set) for the handshake. */
int zoom_apps_match(zoom_apps *m, const zoom_crypto *cr, const char *sig, const char *ts,
                    const uint8_t *body, size_t len, int64_t now_s,
                    char (*fps)[ZOOM_FP_LEN + 1], size_t max, size_t *n);
/* The url_validation answer {"plainToken","encryptedToken"} into out;
 * false if the plain token is unusable or it does not fit. */
bool zoom_validation_reply(const zoom_crypto *cr, const uint8_t *secret, size_t slen,
                           const char *plain, char *out, size_t cap, size_t *outlen);
bool zoom_plain_token_ok(const char *s);
/* Runs fn with the secret of the app with fingerprint fp (under the read
 * lock). false if there is none. */
bool zoom_apps_with(zoom_apps *m, const char *fp,
                    void (*fn)(void *arg, const uint8_t *secret, size_t len), void *arg);

/* ---- zoom_records.c --------------------------------------------------- */

enum zoom_kind {
    ZOOM_EV_NONE = 0,        /* authentic but nothing of interest */
    ZOOM_EV_VALIDATION,      /* endpoint.url_validation */
    ZOOM_EV_REGISTRATION,    /* meeting./webinar.registration_created */
    ZOOM_EV_JOINED           /* meeting./webinar.participant_joined */
};

/* What a webhook body says, pointers into the parsed body. */
typedef struct zoom_ev {
    int kind;
    bool webinar;
    const char *event;
    zoom_id account_id;      /* payload.account_id ("" if absent) */
    zoom_num object_id;      /* payload.object.id */
    const json_t *object;    /* payload.object */
    const json_t *item;      /* registrant or participant */
    const char *plain_token; /* url_validation */
    int64_t event_ms;        /* event_ts, Unix ms (-1 if absent) */
    int64_t join_s;          /* participant join_time, Unix s (-1) */
    zoom_id participant;     /* participant_uuid, id or user_id */
    char dedup[ZOOM_KEY_MAX];
} zoom_ev;
/* Parses a webhook body; -1 if it is not a Zoom event at all. */
int zoom_ev_parse(const json_t *root, zoom_ev *ev);

typedef struct zoom_rec_ctx {
    const char *connection;
    const char *via;         /* "webhook" or "poll" */
    int64_t received_at_ms;
    int64_t event_ms;        /* when no create_time: the event's time; -1 */
} zoom_rec_ctx;
/* A c360.registrant.v1 record from a registrant (webhook or the REST
 * list), the meeting or webinar id, its topic (may be NULL). The join_url
 * is never copied. id gets "zoom:registrant:<object>:<registrant>". */
json_t *zoom_registrant_record(const json_t *reg, bool webinar, const char *object_id,
                               const char *topic, const zoom_rec_ctx *x, char *id,
                               size_t idcap, const char **why);
/* A c360.attendance.v1 record from a participant_joined event. */
json_t *zoom_attendance_record(const zoom_ev *ev, const zoom_rec_ctx *x, char *id,
                               size_t idcap, const char **why);

/* ---- the plugin (host-side files) ------------------------------------- */

typedef struct zoom_plugin {
    const c360_host_api *host;
    zoom_crypto crypto;
    zoom_apps apps;
    char api_url[ZOOM_URL_MAX];      /* C360_ZOOM_API_URL */
    char oauth_url[ZOOM_URL_MAX];    /* C360_ZOOM_OAUTH_URL */
} zoom_plugin;

typedef struct zoom_conn {
    const c360_instance *inst;
    zoom_cfg cfg;
    zoom_app *app;
    char route_key[ZOOM_KEY_MAX];
    /* The account is proven (zoom_prove): only then is route_key
     * registered, events processed and registrants polled. */
    _Atomic int proven;          /* read by event threads, set by the tick */
    int registered;            /* -1 none yet; 0 no key; 1 route_key */
    pthread_mutex_t reg_lock;
} zoom_conn;

/* A proof of the account is kept this long (state "proof:acct"). */
#define ZOOM_PROOF_TTL_MS (12u * 3600u * 1000u)

typedef struct zoom_ctx {
    zoom_plugin *p;
    zoom_conn *c;
    c360_call *call;
    const c360_host_api *host;
} zoom_ctx;

/* zoom_api.c */
/* The S2S access token (host->oauth_token, account_credentials): C360_OK
 * with *tok (secret_free), C360_EAUTH (dead: needs re-authorisation),
 * C360_RETRY... with call_error set. */
int32_t zoom_token(zoom_ctx *x, char **tok);
/* GET {api}/{path}?{query}: C360_OK with *out (a JSON object), C360_ENOTFOUND
 * (404: no such meeting), or the status to return with call_error and
 * call_retry_after set. */
int32_t zoom_get(zoom_ctx *x, const char *path, const char *query, json_t **out);
int32_t zoom_disconnect(c360_call *call, void *pd, void *id);
/* Proof of access to cfg.account_id: this connection's own client id and
 * secret got a token FOR that account (account_credentials succeeds only
 * for an app installed in it). Cached in state "proof:acct"; without
 * `network` only the cache is read. Sets c->proven, registers (or drops)
 * the routing key when `reg`; *cause (cap) says why it is not proven.
 * C360_OK, or the status the token endpoint gave (EAUTH: dead creds). */
int32_t zoom_prove(zoom_ctx *x, bool network, bool reg, char *cause, size_t cap);

/* zoom_event.c */
int32_t zoom_event(c360_call *call, void *pd, void *id, const c360_event *ev);
/* Emits a registrant record and marks it seen. */
int32_t zoom_registrant_emit(zoom_ctx *x, const json_t *reg, bool webinar,
                             const char *object_id, const char *topic, const char *via);
void zoom_seen_key(char *out, size_t cap, bool webinar, const char *object_id,
                   const char *reg_id);

/* zoom_tick.c */
int32_t zoom_tick(c360_call *call, void *pd, void *id);

#endif
