/* google.h -- internals of the "google" connector plugin (Gmail through
 * Pub/Sub push). docs/connectors/google.md says what it does; this header
 * says how the files share the work:
 *
 *   google_util.c     query strings, base64, times, push bodies   (pure)
 *   google_config.c   the config schema and its checks            (pure)
 *   google_jwt.c      JWKS keys and the OIDC JWT check (libcrypto) (pure)
 *   google_records.c  c360.email.v1 records, filters, API errors  (pure)
 *   google_api.c      one Gmail API call: token, budget, errors   (host)
 *   google_sync.c     history.list / resync / messages.get, watch (host)
 *   google_plugin.c   descriptor, instances, push verification,   (host)
 *                     event, tick, OAuth connect, disconnect
 *
 * "Pure" files use only libc, Jansson and libcrypto, so
 * tests/test_google_parts.c compiles them without a host. */
#ifndef GOOGLE_H
#define GOOGLE_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Nothing newer than ABI 1.3 (oauth_connect) is used. */
#define C360_PLUGIN_REQUIRES_MINOR 3
#include "c360kit.h"
#include "connector_api.h"

#define G_VERSION "1.0.0"
#define G_URL_MAX 512
#define G_MAX_LABELS 20
#define G_MAX_DOMAINS 50
#define G_LABEL_MAX 64
#define G_DOMAIN_MAX 253
#define G_REGEX_MAX 512
#define G_ID_MAX 64            /* a Gmail message / thread id, a history id */
#define G_TOKEN_MAX 4096       /* a JWT on the push */
#define G_MAX_KEYS 16          /* JWKS keys kept */
#define G_JWT_SKEW_S 60
#define G_DEFAULT_RESYNC_DAYS 7
#define G_SEEN_TTL_MS (8u * 86400u * 1000u)

typedef char g_label[G_LABEL_MAX + 1];

/* ---- google_util.c ---------------------------------------------------- */

/* A query parameter, percent-decoded ('+' is a space); false when absent,
 * malformed or longer than cap - 1. */
bool g_query_get(const char *query, const char *name, char *out, size_t cap,
                 size_t *len);
/* Appends s percent-encoded to out; false if it did not fit. */
static inline bool g_urlenc_cat(char *o, size_t cap, const char *s)
{ return c360kit_urlenc_cat(o, cap, s); }
/* Base64, standard or URL-safe alphabet, padding optional, whitespace not
 * allowed. malloc'd output, NUL-terminated (not counted). NULL when bad or
 * longer than max bytes decoded. */
uint8_t *g_b64_decode(const char *in, size_t len, size_t max, size_t *out_len);
void g_rfc3339_ms(int64_t ms, char out[32]);
static inline const char *g_str(const json_t *o, const char *k) { return c360kit_str(o, k); }
/* A printable excerpt of provider text (control bytes flattened). */
void g_excerpt(const char *in, size_t len, char *out, size_t cap);
/* Gmail ids: 1..64 of [A-Za-z0-9_-]; history ids: decimal digits. */
bool g_id_ok(const char *s);
bool g_digits_ok(const char *s);

/* A Pub/Sub push body: message.messageId, and in message.data (base64 of
 * JSON) emailAddress and historyId. false with *why when unusable. */
typedef struct g_push {
    char message_id[128];
    char email[256];
    char history_id[32];
} g_push;
bool g_push_parse(const uint8_t *body, size_t len, g_push *out, const char **why);

/* ---- google_config.c -------------------------------------------------- */

typedef struct g_cfg {
    char client_id[256];
    char topic[256];                 /* projects/<p>/topics/<t> */
    g_label watch_labels[G_MAX_LABELS];
    size_t nwatch;
    bool include_body;
    int resync_days;                 /* 1..30 */
    g_label f_labels[G_MAX_LABELS];  /* filters: any of these labels */
    size_t nf_labels;
    char f_domains[G_MAX_DOMAINS][G_DOMAIN_MAX + 1]; /* sender domains */
    size_t nf_domains;
    char f_subject[G_REGEX_MAX + 1]; /* POSIX ERE, "" = none */
    bool oidc;
    char oidc_audience[256];
    char oidc_email[256];
} g_cfg;

extern const char g_config_schema[];
typedef void (*g_cfg_err_fn)(void *arg, const char *pointer, const char *message);
int g_config_parse(const char *json, size_t len, g_cfg *cfg, g_cfg_err_fn err, void *arg);

/* ---- google_jwt.c ----------------------------------------------------- */

typedef struct g_jwks g_jwks;       /* parsed RSA keys (opaque) */
/* The RS256 keys of a JWKS document; NULL when none is usable. */
g_jwks *g_jwks_parse(const char *json, size_t len, size_t *nkeys);
void g_jwks_free(g_jwks *k);
/* Checks a Google OIDC token: RS256 signature by a key of ks, iss
 * accounts.google.com (with or without https://), aud, email (and
 * email_verified when present), exp/iat with G_JWT_SKEW_S. false with *why. */
bool g_jwt_verify(const g_jwks *ks, const char *jwt, size_t len, const char *audience,
                  const char *email, int64_t now_s, const char **why);

/* ---- google_records.c ------------------------------------------------- */

typedef struct g_rec_ctx {
    const char *connection;
    const char *via;                 /* "webhook" or "poll" */
    const char *mailbox;             /* may be NULL */
    bool include_body;
    int64_t received_at_ms;
} g_rec_ctx;

/* A c360.email.v1 record from a messages.get answer; id gets
 * "google:email:<message id>". NULL with *why when unusable. */
json_t *g_email_record(const json_t *msg, const g_rec_ctx *x, char *id, size_t idcap,
                       const char **why);
/* Whether a record passes the connection's filters (re: the compiled
 * subject pattern or NULL). */
bool g_filter_match(const g_cfg *cfg, const regex_t *re, const json_t *rec);
/* The address of a From value: "Ann <a@x.org>" -> "a@x.org". */
bool g_addr_of(const char *in, char *out, size_t cap);

enum g_errclass {
    G_ERR_NONE = 0,                  /* 2xx */
    G_ERR_THROTTLE,                  /* 429, 403 (user)rateLimitExceeded */
    G_ERR_AUTH,                      /* 401 */
    G_ERR_NOTFOUND,                  /* 404 (history too old, message gone) */
    G_ERR_TRANSIENT,                 /* 5xx, 408 */
    G_ERR_PERMANENT
};
typedef struct g_err {
    int cls;
    int http_status;
    char reason[64];                 /* errors[0].reason or status */
    char msg[200];
} g_err;
void g_err_classify(int http_status, const char *body, size_t len, g_err *e);

/* ---- the plugin (host-side files) -------------------------------------- */

typedef struct g_plugin {
    const c360_host_api *host;
    char gmail_url[G_URL_MAX];       /* C360_GOOGLE_GMAIL_URL */
    char oauth_url[G_URL_MAX];       /* C360_GOOGLE_OAUTH_URL (token, revoke) */
    char accounts_url[G_URL_MAX];    /* C360_GOOGLE_ACCOUNTS_URL (authorize) */
    char certs_url[G_URL_MAX];       /* C360_GOOGLE_CERTS_URL (JWKS) */
    uint32_t throttle_min_ms;        /* C360_GOOGLE_THROTTLE_MIN_MS */
} g_plugin;

typedef struct g_conn {
    const c360_instance *inst;
    g_cfg cfg;
    regex_t subject_re;
    bool has_re;
    uint8_t push_hash[32];           /* SHA-256 of the push token */
    pthread_rwlock_t klock;          /* guards keys, keys_at_ms */
    g_jwks *keys;
    int64_t keys_at_ms;
    char token_url[G_URL_MAX + 16];
    char authorize_url[G_URL_MAX + 32];
    char revoke_url[G_URL_MAX + 16];
} g_conn;

typedef struct g_ctx {
    g_plugin *p;
    g_conn *c;
    c360_call *call;
    const c360_host_api *host;
    char *token;                     /* access token of this call (secret_free) */
    bool quiet;                      /* disconnect: no status changes */
} g_ctx;

/* google_api.c */
typedef struct g_req {
    const char *method;              /* NULL: GET */
    const char *path;                /* under /gmail/v1/users/me/ */
    const char *query;               /* percent-encoded, may be NULL */
    const char *json;                /* POST body, may be NULL */
    uint32_t cost;                   /* quota units */
} g_req;
/* C360_OK with *out (JSON object, may be NULL for an empty 2xx);
 * C360_ENOTFOUND on 404; otherwise the status to return, with call_error
 * and call_retry_after set. */
int32_t g_api(g_ctx *x, const g_req *r, json_t **out, g_err *err);
/* The access token (x->token), refreshed by the host when due. */
int32_t g_token(g_ctx *x);
void g_ctx_done(g_ctx *x);
static inline void g_key(char *b, size_t cap, const char *pre, const char *id)
{ c360kit_key(b, cap, pre, id); }

/* google_sync.c */
/* Reads what changed since the stored history id and emits the new
 * messages; hint_hid is the notification's history id (may be NULL). */
int32_t g_sync(g_ctx *x, const char *via, const char *hint_hid, const char *mailbox);
/* Renews the watch when under 2 days are left (or none is known). */
int32_t g_watch(g_ctx *x);
/* Fetches the JWKS into the connection (when OIDC is configured). */
int32_t g_keys_fetch(g_plugin *p, g_conn *c, c360_call *call);
bool g_keys_stale(g_conn *c, int64_t now_ms);

#endif
