/* li.h -- internals of the "linkedin" connector plugin (Lead Gen Forms /
 * Lead Sync). docs/connectors/linkedin.md says what it does; this header
 * says how the files share the work (the structure of plugins/meta):
 *
 *   (c360kit)      times, query strings, hex, excerpts            (pure)
 *   li_config.c    the config schema and its checks               (pure)
 *   li_apps.c      the plugin-wide map client id -> secret,        (pure +
 *                  X-LI-Signature, challenge answer, fingerprint    pthread)
 *   li_payload.c   lead notifications, URNs, routing keys, dedup  (pure)
 *   li_records.c   lead / lead.deleted records, forms, backoff    (pure)
 *   li_api.c       one REST call: versioned headers, budgets, 429 (host)
 *   li_tokens.c    OAuth token, connect, expiry warning,          (host)
 *                  subscriptions, disconnect
 *   li_event.c     webhook events: responses fetched, deletions   (host)
 *   li_tick.c      catch-up poll, subscriptions, token health     (host)
 *   li_proof.c     proof of access per owner, routing keys        (host)
 *   li_plugin.c    the descriptor and the callbacks' glue         (host)
 *
 * "Pure" files use only libc and Jansson (crypto through li_crypto), so
 * tests/test_li_parts.c compiles them without a host. */
#ifndef LI_H
#define LI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ABI 1.3 (oauth_connect) is the newest thing used. Before the SDK header. */
#define C360_PLUGIN_REQUIRES_MINOR 3
#include "c360kit.h"
#include "connector_api.h"

#define LI_VERSION "1.0.0"

#define LI_ID_MAX 64            /* characters of an id (digits, or a response id) */
#define LI_CLIENT_ID_MAX 64
#define LI_MAX_OWNERS 50        /* sponsored accounts + organizations */
#define LI_DEFAULT_API_VERSION "202506"
#define LI_URL_MAX 512
#define LI_FP_LEN 16
#define LI_DEDUP_MAX 160
#define LI_ROUTE_KEY_MAX 200
#define LI_CHALLENGE_MAX 64
/* A lead emitted by a webhook or the poll is remembered this long: the
 * catch-up poll then knows which leads the webhooks missed. */
#define LI_SEEN_TTL_MS (3u * 86400u * 1000u)
/* Refresh tokens live 365 days from consent (not extended by refreshing);
 * the customer is warned this long before. */
#define LI_REFRESH_TTL_MS (365LL * 86400 * 1000)
#define LI_REFRESH_WARN_MS (14LL * 86400 * 1000)
/* Consecutive 429 answers after which the daily limit is assumed spent:
 * the connection then waits for the next UTC midnight. */
#define LI_PERSISTENT_429 4
/* A proof of access to an owner (li_proof.c) is cached this long in state
 * "proof:<sa|org>:<id>", bound to a fingerprint of the access token. */
#define LI_PROOF_TTL_MS (3600u * 1000u)

typedef char li_id[LI_ID_MAX + 1];

typedef struct li_crypto {
    void (*hmac_sha256)(const void *key, size_t key_len, const void *msg,
                        size_t msg_len, uint8_t out[32]);
    int (*ct_equal)(const void *a, const void *b, size_t len);
} li_crypto;

/* ---- shared helpers (plugins/kit/c360kit.h) --------------------------- */

static inline void li_rfc3339(int64_t t, char out[32]) { c360kit_rfc3339(t, out); }
static inline bool li_query_get(const char *q, const char *name, char *o, size_t cap, size_t *len)
{ return c360kit_query_get(q, name, o, cap, len); }
static inline bool li_urlenc_cat(char *o, size_t cap, const char *s)
{ return c360kit_urlenc_cat(o, cap, s); }
static inline void li_hex(const uint8_t *b, size_t n, char *o) { c360kit_hex(b, n, o); }
static inline bool li_hex_decode(const char *s, size_t n, uint8_t *o)
{ return c360kit_hex_decode(s, n, o); }
static inline void li_excerpt(const char *in, const char *cut, char *o, size_t cap)
{ c360kit_excerpt(in, cut, o, cap); }
static inline const char *li_str(const json_t *o, const char *k) { return c360kit_str(o, k); }
static inline void li_key(char *b, size_t cap, const char *pre, const char *id)
{ c360kit_key(b, cap, pre, id); }

/* ---- li_config.c ------------------------------------------------------ */

enum li_owner_kind { LI_SPONSORED = 1, LI_ORGANIZATION = 2 };

typedef struct li_owner {
    int kind;
    li_id id;                  /* digits */
} li_owner;

typedef struct li_cfg {
    char client_id[LI_CLIENT_ID_MAX + 1];
    li_owner owners[LI_MAX_OWNERS];
    size_t nowners;
    int64_t poll_interval_s;   /* 0: poll on every tick */
    char api_version[8];       /* "YYYYMM" */
    char webhook_url[LI_URL_MAX]; /* "" : no subscription management */
} li_cfg;

extern const char li_config_schema[];
typedef void (*li_cfg_err_fn)(void *arg, const char *pointer, const char *message);
int li_config_parse(const char *json, size_t len, li_cfg *cfg, li_cfg_err_fn err,
                    void *arg);
bool li_owns(const li_cfg *cfg, int kind, const char *id);
bool li_digits(const char *s, size_t max);
/* "sponsoredAccount" / "organization" */
const char *li_owner_field(int kind);
/* "urn:li:sponsoredAccount:<id>" */
void li_owner_urn(const li_owner *o, char *out, size_t cap);

/* ---- li_apps.c -------------------------------------------------------- */

typedef struct li_app {
    char client_id[LI_CLIENT_ID_MAX + 1];
    char fp[LI_FP_LEN + 1];
    uint8_t *secret;           /* NUL-terminated too */
    size_t secret_len;
    unsigned refs;
    _Atomic int proven;        /* a token was obtained with this client id
                                  and secret: the pair is genuine, and may
                                  answer LinkedIn's challenge */
    struct li_app *next;
} li_app;

typedef struct li_apps {
    pthread_rwlock_t lock;
    li_app *head;
} li_apps;

typedef struct li_match {
    char client_id[LI_CLIENT_ID_MAX + 1];
    char fp[LI_FP_LEN + 1];
} li_match;

void li_apps_init(li_apps *m);
void li_apps_destroy(li_apps *m);
li_app *li_apps_get(li_apps *m, const li_crypto *cr, const char *client_id,
                    const uint8_t *secret, size_t secret_len);
void li_apps_put(li_apps *m, li_app *a);
/* X-LI-Signature: hex HMAC-SHA256(secret, "hmacsha256=" + body); the
 * header value may carry an "hmacsha256=" prefix itself. */
bool li_sig_ok(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
               const char *sig, const uint8_t *body, size_t len);
size_t li_apps_match(li_apps *m, const li_crypto *cr, const char *sig,
                     const uint8_t *body, size_t len, li_match *out, size_t max);
/* A challengeCode LinkedIn may send: 1..64 of [A-Za-z0-9-] (UUIDs). Never
 * anything with '=', so the answer is no signature oracle. */
bool li_challenge_ok(const char *s, size_t n);
/* {"challengeCode":..,"challengeResponse":"<hex>"} into out. */
bool li_challenge_answer(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
                         const char *code, char *out, size_t cap);
/* The app answering a challenge on the app-level URL: the one whose client
 * id is applicationId when given, else the only app known. Its secret is
 * copied to out (cap bytes); length, or 0 (none / ambiguous). */
size_t li_apps_challenge(li_apps *m, const li_crypto *cr, const char *app_id,
                         const char *code, char *out, size_t cap);
void li_route_fp(const li_crypto *cr, const uint8_t *secret, size_t secret_len,
                 char out[LI_FP_LEN + 1]);
/* "app:<client id>:<fp>:sa:<id>" or ":org:<id>" */
bool li_route_key(const char *client_id, const char *fp, int kind, const char *owner,
                  char *out, size_t cap);

/* ---- li_payload.c ----------------------------------------------------- */

enum li_action { LI_CREATED = 1, LI_DELETED = 2 };

typedef struct li_note {
    int action;
    li_owner owner;
    li_id response_id;         /* of urn:li:leadGenFormResponse:<id> */
    li_id form_id;             /* of the versioned form URN; "" if none */
    li_id form_version;
    int64_t occurred_ms;       /* -1 if absent */
    char dedup[LI_DEDUP_MAX];  /* "lead:<id>:<action>:<occurredAt>" */
} li_note;

/* A parsed notification body. false (with *why) when it is not a lead
 * notification this plugin handles. */
bool li_note_parse(const json_t *root, li_note *n, const char **why);
/* The id after "urn:li:<type>:" (a response id: [A-Za-z0-9_-], 1..64). */
bool li_urn_id(const char *urn, const char *type, li_id out);
/* (form id, version) of "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:1,1)" */
bool li_form_urn(const char *urn, li_id form, li_id version);
bool li_owner_from_json(const json_t *owner, li_owner *o);

/* ---- li_records.c ----------------------------------------------------- */

typedef struct li_rec_ctx {
    const char *connection;
    const char *via;           /* "webhook" or "poll" */
    int64_t received_at_ms;
} li_rec_ctx;

/* c360.lead.v1 from a leadFormResponse element and the cached compact form
 * (may be NULL). id gets "linkedin:lead:<response id>". */
json_t *li_lead_record(const json_t *resp, const json_t *form, const li_note *hint,
                       const li_rec_ctx *x, char *id, size_t idcap, const char **why);
/* c360.lead_deletion.v1 for a DELETED notification. */
json_t *li_deletion_record(const li_note *n, const li_rec_ctx *x, char *id, size_t idcap);
/* What is kept of a form: {"id","name","questions":[{"id","name","field","label"}]}. */
json_t *li_form_compact(const json_t *form);
/* The response's id ("id", or the id of "leadGenFormResponse"/"$URN" URNs). */
bool li_response_id(const json_t *resp, li_id out);
/* Backoff after the n-th consecutive 429 (n >= 1): min_ms doubling, capped
 * at 15 min; from LI_PERSISTENT_429 on, until the next UTC midnight. jitter
 * is 0..999 (spread). */
uint32_t li_backoff_ms(int64_t n, int64_t now_ms, uint32_t min_ms, uint32_t jitter);

/* ---- the plugin (host-side files) ------------------------------------- */

typedef struct li_plugin {
    const c360_host_api *host;
    li_crypto crypto;
    li_apps apps;
    char api_url[LI_URL_MAX];        /* C360_LINKEDIN_API_URL */
    char oauth_url[LI_URL_MAX];      /* C360_LINKEDIN_OAUTH_URL */
    uint32_t throttle_min_ms;        /* C360_LINKEDIN_THROTTLE_MIN_MS */
    uint32_t page_size;              /* C360_LINKEDIN_PAGE_SIZE */
} li_plugin;

typedef struct li_conn {
    const c360_instance *inst;
    li_cfg cfg;
    li_app *app;
    char authorize_url[LI_URL_MAX + 64];
    char token_url[LI_URL_MAX + 64];
    char revoke_url[LI_URL_MAX + 64];
    /* Proof of access (li_proof.c), under proof_lock: proven[i] for
     * cfg.owners[i]; registered[] the owners whose routing keys are
     * registered (reg_known: a set was registered at all). */
    pthread_mutex_t proof_lock;
    uint8_t proven[LI_MAX_OWNERS];
    uint8_t registered[LI_MAX_OWNERS];
    bool reg_known;
} li_conn;

typedef struct li_ctx {
    li_plugin *p;
    li_conn *c;
    c360_call *call;
    const c360_host_api *host;
} li_ctx;

/* li_api.c */
typedef struct li_req {
    const char *method;        /* NULL: GET */
    const char *path;          /* under /rest/, no '/' first */
    const char *query;         /* already encoded; may be NULL */
    const char *json;          /* POST body; may be NULL */
    bool quiet_auth;           /* 401: just C360_EAUTH (disconnect) */
    const char *token;         /* NULL: the connection's OAuth token */
} li_req;
/* C360_OK with *out (a JSON object; NULL for an empty 2xx body) and, when
 * restli_id is given, the x-restli-id header (cap bytes). Otherwise the
 * status to return, with call_error / call_retry_after set. */
int32_t li_api(li_ctx *x, const li_req *r, json_t **out, char *restli_id, size_t cap);

/* li_tokens.c */
/* The OAuth access token: C360_OK with *tok (li_token_free), C360_ENOTFOUND
 * (not connected; call_error set), C360_EAUTH (needs re-authorisation,
 * status reported), or another failure. */
int32_t li_token(li_ctx *x, char **tok);
void li_token_free(li_ctx *x, char *tok);
/* LinkedIn refused the token (401): a newer one, or re-authorisation. */
int32_t li_token_rejected(li_ctx *x, int http_status);
/* Refresh-token expiry: the warning cause, "" if none is due. */
void li_refresh_warning(li_ctx *x, char *cause, size_t cap);
int32_t li_oauth_connect(c360_call *call, void *pd, void *id, c360_oauth_connect *out);
int32_t li_disconnect(c360_call *call, void *pd, void *id);
/* Subscribes each owner's lead notifications to webhook_url (once). */
void li_subscribe(li_ctx *x);

/* li_event.c */
/* The Rest.li owner parameter "(sponsoredAccount:urn%3Ali%3A...)". */
bool li_owner_query(const li_owner *o, char *out, size_t cap);
int32_t li_event(c360_call *call, void *pd, void *id, const c360_event *ev);
/* Emits a lead from a leadFormResponse element; marks it seen. */
int32_t li_lead_emit(li_ctx *x, const json_t *resp, const li_owner *owner,
                     const li_note *hint, const char *via);

/* li_proof.c */
/* Proves each owner of the config with the connection's own token (GET
 * /rest/leadForms?q=owner&owner=..&count=1: 2xx proves, 4xx refutes),
 * cached in state; network false: cached proofs only. Registers the
 * routing keys of the proven owners (when the set changed). cause gets
 * "LinkedIn owner <id>: access not proven ..." naming the unproven ones
 * ("" when all are proven). C360_OK, or li_token's failure (C360_ENOTFOUND
 * not connected, C360_EAUTH, ...), or C360_EAUTH from a refused token. */
int32_t li_prove(li_ctx *x, bool network, char *cause, size_t cap);
/* The owner is one of the config's and proven (known to this instance,
 * or by a proof cached in state for the current token). */
bool li_owner_proven(li_ctx *x, const li_owner *o);

/* li_tick.c */
int32_t li_tick(c360_call *call, void *pd, void *id);

#endif
