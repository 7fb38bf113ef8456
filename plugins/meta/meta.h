/* meta.h -- internals of the "meta" connector plugin (Facebook Pages,
 * Lead Ads, Instagram comments, ads insights). docs/connectors/meta.md
 * says what it does; this header says how the files share the work:
 *
 *   meta_util.c     ids, times, query strings, hex, excerpts      (pure)
 *   meta_config.c   the config schema and its checks              (pure)
 *   meta_apps.c     the plugin-wide map app id -> secret, verify  (pure +
 *                   token, routing fingerprint, under an rwlock    pthread)
 *   meta_payload.c  webhook bodies: changes of interest, routing, (pure)
 *                   the event's choice of bytes or tree
 *   meta_scan.c     the same read from the bytes, without a parse  (pure)
 *   meta_records.c  lead / comment / metric records (records.md)  (pure)
 *   meta_lead_src.c a lead as the records read it: a tree, or the  (pure)
 *                   bytes of a lead read ahead, without a tree
 *   meta_usage.c    usage headers, Graph error classes, the rate  (pure)
 *                   budget reports an answer calls for
 *   meta_graph.c    one Graph API call: budgets, usage, errors    (host)
 *   meta_tokens.c   page tokens, OAuth connect and exchange,      (host)
 *                   token errors, disconnect, secrets as text
 *   meta_verify.c   proof that the connection's tokens reach its  (host)
 *                   pages and IG accounts; its routing keys
 *   meta_event.c    webhook events: leads fetched, comments       (host)
 *   meta_batch.c    a Graph batch request of lead reads: its form  (pure)
 *                   body, its answer checked op by op (lead, usage
 *                   headers, error class), its split into requests
 *   meta_batch_scan.c  that answer read from its bytes, without  (pure)
 *                   Jansson's tree of the whole answer
 *   meta_prefetch.c event_prefetch (ABI 1.7): the leads of several (host)
 *                   events read ahead in batch requests
 *   meta_tick.c     catch-up poll, insights, subscription check   (host)
 *   meta_plugin.c   the descriptor and the callbacks' glue        (host)
 *
 * "Pure" files use only libc and Jansson (crypto through meta_crypto), so
 * tests/test_meta_parts.c compiles them without a host. */
#ifndef META_H
#define META_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Nothing newer than ABI 1.3 (oauth_connect) is required: hosts of 1.3
 * load the plugin too (event_prefetch, 1.7, is optional: an older host
 * never reads it). Before the SDK header. */
#define C360_PLUGIN_REQUIRES_MINOR 3
#include "c360kit.h"
#include "connector_api.h"

#define META_VERSION "1.0.0"

#define META_ID_MAX 32          /* characters of a Meta object id */
#define META_TOKEN_MAX 4096     /* bytes of an access token read, kept or sent */
#define META_MAX_PAGES 50
#define META_MAX_IG 50
#define META_MAX_FORMS 200
#define META_MAX_ACCOUNTS 50
#define META_DEFAULT_VERSION "v25.0"
#define META_URL_MAX 512        /* a base URL (environment) */
#define META_FP_LEN 16          /* hex characters of a routing fingerprint */
#define META_DEDUP_MAX 160
#define META_ROUTE_KEY_MAX 200
/* A lead the webhook or the poll emitted is remembered this long, longer
 * than Meta's webhook retries (about 36 hours): the catch-up poll then
 * knows which leads the webhooks missed. */
#define META_SEEN_TTL_MS (3u * 86400u * 1000u)
/* The largest Unix time a record carries (9999-12-31T23:59:59Z): keeps
 * created_at_ms (seconds * 1000) far from overflowing. */
#define META_TIME_MAX 253402300799LL
/* Records one tick may emit: below the host's 1000 per call. The catch-up
 * poll's lead budget (C360_META_POLL_BUDGET, default 500) is within it. */
#define META_CALL_RECORDS_MAX 900
#define META_POLL_BUDGET_DEFAULT 500
/* Lead changes one webhook event handles; the rest are left to the
 * catch-up poll (meta_event.c says why). */
#define META_EVENT_LEADS_MAX 50

/* The fields asked for every lead (webhook fetch and catch-up poll). */
#define META_LEAD_FIELDS                                                     \
    "created_time,id,ad_id,ad_name,adset_id,adset_name,campaign_id,"        \
    "campaign_name,form_id,field_data,custom_disclaimer_responses,"         \
    "is_organic,platform"

typedef char meta_id[META_ID_MAX + 1];

/* The crypto the pure parts need: the host's helpers in the plugin,
 * libsodium in the unit test. */
typedef struct meta_crypto {
    void (*hmac_sha256)(const void *key, size_t key_len, const void *msg,
                        size_t msg_len, uint8_t out[32]);
    void (*sha256)(const void *msg, size_t len, uint8_t out[32]);
    int (*ct_equal)(const void *a, const void *b, size_t len);
    /* Optional, all three or none (NULL): prepared keys (ABI 1.8), so a
     * secret's HMAC state is derived once per app entry instead of once
     * per body. Without them hmac_sha256 takes the secret each time. */
    c360_hmac_key *(*hmac_key_new)(const void *key, size_t key_len);
    void (*hmac_keyed)(const c360_hmac_key *k, const void *msg,
                       size_t msg_len, uint8_t out[32]);
    void (*hmac_key_free)(c360_hmac_key *k);
} meta_crypto;

/* ---- meta_util.c ------------------------------------------------------ */

/* A Meta id from JSON: a string of 1..32 digits (with '_' too when
 * `compound`, as in post and comment ids "123_456"), or a non-negative
 * integer. Numbers are converted: ids arrive either way. */
bool meta_id_from_json(const json_t *v, bool compound, meta_id out);
bool meta_id_valid(const char *s, bool compound);
/* Unix seconds from an integer, a numeric string, or ISO 8601
 * ("2015-02-28T08:49:14+0000", "...Z", "...+01:00"); -1 if none. */
int64_t meta_time_from_json(const json_t *v);
int64_t meta_time_parse(const char *s);
static inline void meta_rfc3339(int64_t t, char out[32]) { c360kit_rfc3339(t, out); }
/* "YYYY-MM-DD" of a Unix time (UTC), and back (-1 if malformed). */
void meta_date(int64_t unix_s, char out[11]);
int64_t meta_date_parse(const char *d);
/* A query parameter, percent-decoded ('+' is a space) into out (NUL
 * terminated). false when absent, malformed, or longer than cap - 1. */
static inline bool meta_query_get(const char *q, const char *name, char *o, size_t cap, size_t *len)
{ return c360kit_query_get(q, name, o, cap, len); }
/* Appends s percent-encoded (RFC 3986 unreserved kept) to out; false if
 * it did not fit (out is then unchanged). */
static inline bool meta_urlenc_cat(char *o, size_t cap, const char *s)
{ return c360kit_urlenc_cat(o, cap, s); }
static inline void meta_hex(const uint8_t *b, size_t n, char *o)
{ c360kit_hex(b, n, o); } /* 2n + 1 bytes */
static inline bool meta_hex_decode(const char *s, size_t n, uint8_t *o)
{ return c360kit_hex_decode(s, n, o); }
/* A short, printable excerpt of provider text for errors: control bytes
 * flattened, every occurrence of `cut` (a token we sent) removed. */
static inline void meta_excerpt(const char *in, const char *cut, char *o, size_t cap)
{ c360kit_excerpt(in, cut, o, cap); }
/* A string member of an object, or NULL. */
static inline const char *meta_str(const json_t *o, const char *k) { return c360kit_str(o, k); }
/* Trims whitespace (a pasted newline, spaces, tabs) at both ends of a
 * secret's bytes in place and NUL-terminates it; returns the new length.
 * v must have room for len + 1 bytes (host secrets do). */
size_t meta_trim(uint8_t *v, size_t len);

/* State writes kept back until a callback is about to return C360_OK, so
 * that a "seen" mark or a cursor never outlives records that were not
 * committed (the host commits a call's records only with C360_OK). */
typedef struct meta_pend_item {
    char *key, *val;           /* val NULL: a delete */
    size_t len;
    uint32_t ttl_ms;
} meta_pend_item;
typedef struct meta_pend {
    meta_pend_item *v;
    size_t n, cap;
} meta_pend;
/* Replaces an earlier write of the same key. false when out of memory. */
bool meta_pend_set(meta_pend *p, const char *key, const char *val, size_t len,
                   uint32_t ttl_ms);
bool meta_pend_del(meta_pend *p, const char *key);
/* true if a write (not a delete) of key is pending. */
bool meta_pend_has(const meta_pend *p, const char *key);
void meta_pend_free(meta_pend *p);

/* ---- meta_config.c ---------------------------------------------------- */

typedef struct meta_cfg {
    meta_id app_id;
    meta_id pages[META_MAX_PAGES];
    size_t npages;
    meta_id ig[META_MAX_IG];
    size_t nig;
    meta_id forms[META_MAX_FORMS];
    size_t nforms;
    meta_id accounts[META_MAX_ACCOUNTS]; /* digits, without "act_" */
    size_t naccounts;
    bool insights;
    int64_t poll_interval_s;            /* 0: poll on every tick */
    char version[16];                   /* "v25.0" */
} meta_cfg;

extern const char meta_config_schema[];
typedef void (*meta_cfg_err_fn)(void *arg, const char *pointer,
                                const char *message);
/* Checks a config and fills *cfg. Returns the number of problems, each
 * reported through err (which may be NULL). */
int meta_config_parse(const char *json, size_t len, meta_cfg *cfg,
                      meta_cfg_err_fn err, void *arg);
bool meta_in(const meta_id *list, size_t n, const char *id);

/* ---- meta_apps.c ------------------------------------------------------ */

/* One provider app as a connection knows it. Immutable after creation
 * except refs (under the map's write lock), so a holder reads it without
 * the lock. */
typedef struct meta_app {
    meta_id app_id;
    char fp[META_FP_LEN + 1];  /* routing fingerprint of the secret */
    uint8_t *secret;           /* NUL-terminated too */
    size_t secret_len;
    /* The secret prepared for HMAC (meta_crypto.hmac_key_new), freed with
     * the entry by key_free; NULL without the service (or when it was out
     * of memory): the secret is used as it is. */
    c360_hmac_key *key;
    void (*key_free)(c360_hmac_key *k);
    uint8_t vt_hash[32];       /* SHA-256 of the verify token */
    unsigned refs;
    struct meta_app *next;
} meta_app;

/* The plugin-wide map: filled by instance_open (worker or opener thread),
 * read by webhook_verify / webhook_route on the event loop. */
typedef struct meta_apps {
    pthread_rwlock_t lock;
    meta_app *head;
    /* The fingerprint of the secret that signed the last authentic body:
     * tried first, so webhook_route (which follows webhook_verify on the
     * same body) pays one HMAC. Under hint_lock. */
    pthread_mutex_t hint_lock;
    char hint[META_FP_LEN + 1];
    /* Bumped whenever an entry is added or removed: webhook_route trusts
     * the match webhook_verify computed only if the map is unchanged
     * since (meta_plugin.c). */
    _Atomic unsigned long gen;
} meta_apps;

typedef struct meta_match {
    meta_id app_id;
    char fp[META_FP_LEN + 1];
} meta_match;

void meta_apps_init(meta_apps *m);
void meta_apps_destroy(meta_apps *m);
/* The entry for (app id, secret, verify token), made if need be, with one
 * more reference. NULL if out of memory. */
meta_app *meta_apps_get(meta_apps *m, const meta_crypto *cr, const char *app_id,
                        const uint8_t *secret, size_t secret_len,
                        const char *vt, size_t vt_len);
void meta_apps_put(meta_apps *m, meta_app *a);
/* true if tok equals the verify token of some known app (constant time
 * per entry: hashes are compared). */
bool meta_apps_verify_token(meta_apps *m, const meta_crypto *cr,
                            const char *tok, size_t len);
/* The apps whose secret signed body ("sha256=<hex>"), distinct, at most
 * max. 0: none (or a malformed header). The body is hashed once per
 * distinct secret, and no more after the first match (the last matching
 * secret first): every app that holds that secret is then named. */
size_t meta_apps_match(meta_apps *m, const meta_crypto *cr, const char *sig,
                       const uint8_t *body, size_t len, meta_match *out,
                       size_t max);
/* HMAC-SHA256 of msg with a's secret: through its prepared key (ABI 1.8)
 * when it has one, the same MAC either way. The webhook signatures and
 * every request's appsecret_proof go through it. */
void meta_app_mac(const meta_crypto *cr, const meta_app *a, const void *msg, size_t len,
                  uint8_t mac[32]);
/* true if sig ("sha256=<hex>") is app a's signature of body. */
bool meta_sig_ok(const meta_crypto *cr, const meta_app *a, const char *sig,
                 const uint8_t *body, size_t len);
void meta_route_fp(const meta_crypto *cr, const uint8_t *secret,
                   size_t secret_len, char out[META_FP_LEN + 1]);
/* "app:<app_id>:<fp>:page:<id>" or "...:ig:<id>"; false if too long. */
bool meta_route_key(const char *app_id, const char *fp, bool instagram,
                    const char *owner, char *out, size_t cap);

/* ---- meta_payload.c --------------------------------------------------- */

enum meta_kind { META_LEAD = 1, META_COMMENT = 2, META_IG_COMMENT = 3 };

/* One change of interest in a webhook body. */
typedef struct meta_change {
    int kind;
    bool instagram;            /* an entry of object "instagram" */
    meta_id owner;             /* the entry's id: page or IG user */
    int64_t entry_time;        /* entry.time, Unix s (-1 if absent) */
    const json_t *value;       /* the change's value (in the parsed body);
                                * NULL from meta_payload_scan */
    const uint8_t *value_b, *value_e; /* meta_payload_scan only: the value's
                                * bytes in the body (an object), else NULL */
    char dedup[META_DEDUP_MAX]; /* "lead:<id>", "comment:<id>:<verb>:<t>",
                                 * Instagram "comment:<id>:add" */
} meta_change;

/* Called per change; a non-zero return stops the walk. */
typedef int (*meta_change_fn)(void *arg, const meta_change *c);
/* Bounds on hostile bodies: entries and changes looked at. */
#define META_MAX_ENTRIES 1000
#define META_MAX_CHANGES 2000
/* Walks a parsed webhook body. Returns the number of changes of interest
 * (after fn stopped, those seen so far), or -1 when the body is not a
 * page/instagram webhook at all. */
int meta_payload_walk(const json_t *root, meta_change_fn fn, void *arg);

/* meta_scan.c: meta_payload_walk over json_loadb(body, len, 0, NULL)
 * without building the tree (webhook_verify's hot path). META_SCAN_OK:
 * Jansson accepts the body, fn was called with exactly the changes the
 * walk gives, in its order (c->value is NULL), and *found is the walk's
 * result. META_SCAN_INVALID: Jansson refuses the body, fn was not called.
 * META_SCAN_UNSURE: nothing is known; fn may have been called: the caller
 * forgets what it gathered and parses with Jansson. */
enum { META_SCAN_OK = 0, META_SCAN_INVALID = 1, META_SCAN_UNSURE = 2 };
int meta_payload_scan(const uint8_t *body, size_t len, meta_change_fn fn, void *arg,
                      int *found);
/* Its pass 1 alone, for other readers of proven bytes (meta_batch_scan.c):
 * META_SCAN_OK when json_loadb(b, len, 0, NULL) accepts them,
 * META_SCAN_INVALID when it refuses them, META_SCAN_UNSURE when the
 * validator cannot tell (a NUL outside a string, nesting past 64, a real
 * that might overflow, an escaped key of a root object). */
int meta_json_check(const uint8_t *b, size_t len);
/* Its readers of one proven value b..e: meta_id_from_json's result (1
 * with out, 0 none, -1 unsure: an escaped string, a real) and
 * meta_time_from_json's (>= 0, -1 none, -2 unsure). */
int meta_scan_id_of(const uint8_t *b, const uint8_t *e, bool compound, meta_id out);
int64_t meta_scan_time_of(const uint8_t *b, const uint8_t *e);

/* What the lead record reads of a leadgen change's value (the `hint`):
 * each id as meta_id_from_json(json_object_get(value, key), false) gives
 * it, and meta_time_from_json of its "created_time". Read once, from the
 * tree or from the bytes, so that the writer does not care which. */
enum { META_HINT_FORM, META_HINT_AD, META_HINT_ADSET, META_HINT_CAMPAIGN, META_HINT_IDS };
typedef struct meta_hint {
    bool has[META_HINT_IDS];
    meta_id id[META_HINT_IDS];
    int64_t created_time;      /* -1: none */
} meta_hint;
/* From a change's value in Jansson's tree (NULL: nothing); meta_records.c. */
void meta_hint_of_tree(meta_hint *h, const json_t *value);
/* From the bytes of a change's value meta_payload_scan gave (value_b,
 * value_e): true when they give exactly what meta_hint_of_tree gives of
 * their tree; false (unsure: an escaped key, an escaped id or time, a
 * real) when only Jansson's tree can tell. */
bool meta_scan_hint(const uint8_t *b, const uint8_t *e, meta_hint *h);

/* meta_payload.c: how event_run reads a body. META_EVENT_BYTES when
 * meta_payload_scan is sure of it, it is a page/instagram webhook, all its
 * changes of interest are leads and every lead's hint reads sure
 * (meta_scan_hint): the scan's walk then gives exactly the tree walk's
 * changes and hints, and comments (which read the value's tree) never
 * come. META_EVENT_TREE otherwise: json_loadb and meta_payload_walk. */
enum { META_EVENT_TREE = 0, META_EVENT_BYTES = 1 };
/* keep (cap entries, may be NULL with cap 0): on META_EVENT_BYTES, the
 * scan's changes in order when *nkept <= cap, so that the caller need not
 * scan again (the scan is deterministic: a second one gives these, and
 * value_b/value_e point into body); *nkept > cap: scan again. */
int meta_event_plan(const uint8_t *body, size_t len, meta_change *keep, size_t cap,
                    size_t *nkept);

typedef struct meta_pair {
    char key[META_ROUTE_KEY_MAX];
    char dedup[META_DEDUP_MAX];
} meta_pair;
/* The distinct (routing key, dedup key) pairs of a body for the apps that
 * signed it, at most max; *more is set when there were more. Without
 * with_dedup the dedup keys stay "": the distinct routing keys. *changes
 * (may be NULL) gets meta_payload_walk's result: the changes of interest
 * (those seen before the walk stopped when *more), -1 for a body that is
 * no page/instagram webhook. One walk serves webhook_verify's question
 * (anything of interest?) and webhook_route's answer. */
size_t meta_route_pairs(const json_t *root, const meta_match *apps,
                        size_t napps, bool with_dedup, meta_pair *out,
                        size_t max, bool *more, int *changes);
/* The same from the raw body: meta_payload_scan, or Jansson's parse when
 * the scanner is not sure. *n gets the pairs. false (nothing else set)
 * when the body is not JSON as json_loadb(body, len, 0) reads it. */
bool meta_route_pairs_body(const uint8_t *body, size_t len, const meta_match *apps,
                           size_t napps, bool with_dedup, meta_pair *out, size_t max,
                           size_t *n, bool *more, int *changes);

/* ---- meta_jw.c (pure) ------------------------------------------------- */

/* A JSON writer into a growing buffer, printing what json_dumps(tree,
 * JSON_COMPACT) of Jansson 2.14 prints for the same tree (meta_jw.c says
 * which rules). Commas are its business: values and keys are written in
 * order, keys only inside objects. Out of memory makes it fail for good:
 * later writes do nothing, meta_jw_failed tells (checked once, at the
 * end). buf[0..len) is the text, not NUL-terminated. */
#define META_JW_STACK 4096      /* bytes of a first buffer on the stack */
typedef struct meta_jw {
    char *buf;
    size_t len, cap;
    bool heap;                 /* buf is malloc'd, else the caller's */
    bool comma;                /* a value came before at this level */
    bool failed;
} meta_jw;
/* Starts empty in first[0..cap) (may be NULL), which is used until it is
 * full; the writer then moves to the heap. */
void meta_jw_init(meta_jw *w, char *first, size_t cap);
/* Frees what the writer allocated (never `first`). */
void meta_jw_free(meta_jw *w);
static inline bool meta_jw_failed(const meta_jw *w) { return w->failed; }
void meta_jw_obj(meta_jw *w);
void meta_jw_obj_end(meta_jw *w);
void meta_jw_arr(meta_jw *w);
void meta_jw_arr_end(meta_jw *w);
/* A member's key (a literal), then exactly one value. */
void meta_jw_key(meta_jw *w, const char *key);
/* A string value s[0..n). When s is not valid UTF-8 nothing is written
 * and false returned, as json_stringn gives no value for it. */
bool meta_jw_str(meta_jw *w, const char *s, size_t n);
/* The member key: s (NUL-terminated), or nothing at all when s is NULL or
 * not valid UTF-8 (json_object_set_new(o, key, json_string(s)) adds none). */
bool meta_jw_kstr(meta_jw *w, const char *key, const char *s);
void meta_jw_int(meta_jw *w, int64_t v);
void meta_jw_bool(meta_jw *w, bool v);
void meta_jw_null(meta_jw *w);
/* Whether s[0..n) is UTF-8 that Jansson takes (utf8_check_string). */
bool meta_jw_utf8_ok(const char *s, size_t n);

/* ---- meta_lead_src.c (pure) ------------------------------------------- */

/* A lead as the record writer reads it: a Jansson tree (the single fetch,
 * the poll) or the bytes of a lead body read ahead (meta_batch_scan.c),
 * which meta_json_check proved Jansson accepts. On bytes the accessors
 * give what the same accessor gives on json_loadb(bytes)'s tree (the last
 * of duplicate keys, strings decoded as Jansson decodes them, integers as
 * "%lld" prints Jansson's value); where they cannot be sure of that (a
 * real's value, an escaped id or time or nested key, too many root
 * members, strings past the arena) they set `unsure` and the caller
 * parses the bytes with Jansson after all (meta_lead_fallback). */
typedef struct meta_lv {
    const json_t *j;           /* the tree's value (tree leads) */
    const uint8_t *b, *e;      /* its bytes (bytes leads); absent: both NULL */
} meta_lv;
#define META_LEAD_ROOT_MAX 64  /* a Graph lead has about 12 members */
#define META_LEAD_ARENA 4096   /* decoded strings of one record */
typedef struct meta_lead {
    const json_t *tree;        /* the lead's tree, else NULL: bytes */
    const uint8_t *b, *end;    /* the bytes */
    const uint8_t *rb;         /* the root object's '{' */
    json_t *parsed;            /* the bytes' tree after a fallback (owned) */
    size_t nroot;
    struct {
        const uint8_t *k;      /* the key's bytes, unescaped (meta_json_check) */
        size_t kl;
        const uint8_t *vb, *ve;
    } root[META_LEAD_ROOT_MAX];
    size_t used;               /* of arena */
    bool unsure;
    char arena[META_LEAD_ARENA];
} meta_lead;
/* A tree lead (a borrowed reference). */
void meta_lead_of_tree(meta_lead *L, const json_t *lead);
/* A bytes lead: b[0..len), which meta_json_check accepted (META_SCAN_OK)
 * and which stays valid while L is used. false (L->unsure) when the root
 * is no object or has more members than L indexes. */
bool meta_lead_of_bytes(meta_lead *L, const uint8_t *b, size_t len);
/* A bytes lead turned into a tree lead: json_loadb of its bytes, kept in
 * L->parsed. false when Jansson could not (out of memory). */
bool meta_lead_fallback(meta_lead *L);
/* Frees L->parsed. */
void meta_lead_done(meta_lead *L);
/* The lead itself; a member of an object value (absent unless obj is an
 * object that has key). */
meta_lv meta_lead_root(const meta_lead *L);
meta_lv meta_lead_get(meta_lead *L, meta_lv obj, const char *key);
/* The value's json_type; -1 when absent. */
int meta_lead_type(meta_lv v);
/* Iteration over an array value: it = meta_lead_iter(arr); then
 * meta_lead_next(L, &it, &v) while true. */
typedef struct meta_lv_it {
    meta_lv a;
    size_t i;
    const uint8_t *p;
} meta_lv_it;
meta_lv_it meta_lead_iter(meta_lv arr);
bool meta_lead_next(meta_lead *L, meta_lv_it *it, meta_lv *out);
/* A string value: NUL-terminated, *n its length (json_string_length);
 * NULL when v is none. On bytes it is decoded into L's arena, which
 * meta_lead_mark / meta_lead_release give back in stack order. */
const char *meta_lead_str(meta_lead *L, meta_lv v, size_t *n);
static inline size_t meta_lead_mark(const meta_lead *L) { return L->used; }
static inline void meta_lead_release(meta_lead *L, size_t mark) { L->used = mark; }
/* A number's text as scalar_text printed Jansson's value ("%lld" of an
 * integer, "%.17g" of a real) into buf; false when v is no number. */
bool meta_lead_num_text(meta_lead *L, meta_lv v, char buf[64]);
/* meta_id_from_json and meta_time_from_json of a value. */
bool meta_lead_id(meta_lead *L, meta_lv v, bool compound, meta_id out);
int64_t meta_lead_time(meta_lead *L, meta_lv v);

/* ---- meta_records.c --------------------------------------------------- */

typedef struct meta_rec_ctx {
    const char *connection;
    const char *via;           /* "webhook" or "poll" */
    const char *page_id;       /* the page the lead or comment came through */
    int64_t received_at_ms;
} meta_rec_ctx;

/* A c360.lead.v1 record from a Graph lead, the cached form (meta_form_compact
 * output, may be NULL) and the webhook's change value (hint, may be NULL),
 * written to *out as one JSON object (a value at out's level; out may have
 * failed meanwhile: meta_jw_failed). id gets "meta:lead:<leadgen id>".
 * false with *why, nothing written, on an unusable lead. */
bool meta_lead_record(const json_t *lead, const json_t *form,
                      const json_t *hint, const meta_rec_ctx *x, meta_jw *out,
                      char *id, size_t idcap, const char **why);
/* The same from either kind of lead. A bytes lead the accessors are
 * unsure of is parsed with Jansson (meta_lead_fallback) and written from
 * that tree: the record is the same either way. Out of memory there
 * fails *out. */
bool meta_lead_record_of(meta_lead *lead, const json_t *form,
                         const json_t *hint, const meta_rec_ctx *x, meta_jw *out,
                         char *id, size_t idcap, const char **why);
/* meta_lead_record_of with the hint already read (meta_hint_of_tree or
 * meta_scan_hint; may be NULL). */
bool meta_lead_record_h(meta_lead *lead, const json_t *form,
                        const meta_hint *hint, const meta_rec_ctx *x, meta_jw *out,
                        char *id, size_t idcap, const char **why);
/* What is kept of a Graph form: {"id","name","questions":[{"key","label"}],
 * "checkboxes":[{"key","text"}]}. */
json_t *meta_form_compact(const json_t *graph_form);
/* A c360.comment.v1 record from a feed or Instagram change and the comment
 * as the Graph API returned it (`got`): text, author and times come from
 * Graph, never from the webhook. got may be NULL only for a Facebook
 * "remove" (the comment is gone): a removal with the payload's ids only.
 * Ids: "meta:comment:<id>:<verb>:<t>" (Facebook: t is the change's time),
 * "meta:comment:<id>:add" (Instagram: comments are only ever added). */
json_t *meta_comment_record(const meta_change *c, const json_t *got,
                            const meta_rec_ctx *x, char *id, size_t idcap,
                            const char **why);
/* The Graph fields asked for a comment. */
#define META_FB_COMMENT_FIELDS "id,message,from,created_time,parent{id}"
#define META_IG_COMMENT_FIELDS                                              \
    "id,text,username,from,timestamp,parent_id,media{id,media_product_type}"
/* A c360.metric.v1 record from one campaign-level insights row. */
json_t *meta_metric_record(const json_t *row, const char *account,
                           const meta_rec_ctx *x, char *id, size_t idcap,
                           const char **why);

/* ---- meta_usage.c ----------------------------------------------------- */

#define META_USAGE_BUC_MAX 16
typedef struct meta_usage {
    int app_pct;               /* X-App-Usage: highest of its numbers; -1 none */
    int page_pct;              /* X-Page-Usage; -1 none */
    struct {
        meta_id id;            /* the object the usage is for */
        int pct;
        uint32_t regain_ms;    /* estimated_time_to_regain_access */
    } buc[META_USAGE_BUC_MAX];
    size_t nbuc;
    int ad_pct;                /* X-Ad-Account-Usage acc_id_util_pct; -1 */
    uint32_t ad_regain_ms;     /* reset_time_duration at 100 % */
} meta_usage;
void meta_usage_parse(const c360_header *h, size_t n, meta_usage *u);

enum meta_errclass {
    META_ERR_NONE = 0,         /* 2xx */
    META_ERR_THROTTLE,         /* 4, 17, 32, 613, 80000-80008, HTTP 429 */
    META_ERR_AUTH,             /* 190: the token is dead */
    META_ERR_TRANSIENT,        /* 5xx, is_transient, codes 1 and 2 */
    META_ERR_PROOF,            /* 100 "invalid appsecret_proof": the app
                                * secret was rotated (retried) */
    META_ERR_PERMANENT         /* everything else */
};
typedef struct meta_err {
    int cls;
    int http_status;
    int64_t code, subcode;     /* 0 when absent */
    char msg[200];             /* the provider's message, printable */
} meta_err;
/* Classifies an answer. `cut` (may be NULL) is removed from the message. */
void meta_err_classify(int http_status, const char *body, size_t len,
                       const char *cut, meta_err *e);
/* The same on a body already parsed (j may be NULL: not JSON). */
void meta_err_classify_json(int http_status, const json_t *j, const char *cut, meta_err *e);
/* The same with every one of cuts[0..n) removed from the message (a batch
 * request carries several pages' tokens). */
void meta_err_classify_cuts(int http_status, const json_t *j, const char *const *cuts,
                            size_t n, meta_err *e);
bool meta_throttle_code(int64_t code);

/* One rate-limit report: to the app's bucket, or to "obj:<id>" (a page's
 * or an ad account's). pct -1: no usage figure (a pause only). */
typedef struct meta_report {
    bool app;
    meta_id id;
    int pct;
    uint32_t pause_ms;
} meta_report;
#define META_ANSWER_REPORTS (2 + META_USAGE_BUC_MAX)
/* The reports one Graph answer calls for, one per bucket (its highest
 * usage, its longest pause), into out (room for META_ANSWER_REPORTS); the
 * number written. The answer was about `object` (a page or an ad account
 * id; NULL: neither): X-App-Usage goes to the app, X-Page-Usage and
 * X-Ad-Account-Usage (with its reset time as a pause) to the object, each
 * X-Business-Use-Case-Usage entry to its own id (its regain time as a
 * pause). A throttling error (e may be NULL) adds usage 100 and a pause of
 * the answer's longest regain time, at least min_pause_ms, to the app
 * (code 4, or no object) or to the object; *wait (may be NULL) gets that
 * pause, 0 for anything else. A single call and each operation of a batch
 * are reported alike through this. */
size_t meta_answer_reports(const meta_usage *u, const meta_err *e, const char *object,
                           uint32_t min_pause_ms, meta_report *out, uint32_t *wait);
/* Reports of several answers (a batch request's and its operations'),
 * merged per bucket (highest usage, longest pause): a bucket is then
 * reported once, one Redis round trip, however many answers spoke of it. */
#define META_REPORTS_MAX 64
typedef struct meta_reports {
    meta_report v[META_REPORTS_MAX];
    size_t n;
} meta_reports;
/* Merges r into a; false (a unchanged) when r names a new bucket and a is
 * full. */
bool meta_reports_merge(meta_reports *a, const meta_report *r);

/* ---- meta_batch.c ----------------------------------------------------- */

/* Graph's batch API: POST {graph}/{version}/ with the form fields
 * batch=[{"method":"GET","relative_url":..},..], include_headers=true and
 * a top-level access_token; the answer is a JSON array, one element per
 * operation in order: {"code":<HTTP status>,"headers":[{"name":..,
 * "value":..},..],"body":"<the answer as a JSON string>"}, or null for an
 * operation Meta did not finish. Each operation carries its own token
 * (any page's), counts as one call against the app's and its page's
 * limits, and its headers are its own answer's: usage is read, and
 * reported to its page, per operation. */
#define META_BATCH_MAX 50            /* operations per request (Meta's limit) */
#define META_BATCH_FORM_MAX (1u << 20) /* a request's form body */
/* One operation's lead body: far above a real lead (a few KiB); a larger
 * one is not kept (its event reads it alone, up to 1 MiB), which bounds
 * the lead cache at META_LEAD_CACHE_N of these. */
#define META_BATCH_BODY_MAX (64u << 10)
/* An operation's headers: the first META_BATCH_HDRS_MAX entries are read
 * (Meta sends about a dozen), a name longer than META_BATCH_HDR_NAME_MAX
 * or a value longer than META_BATCH_HDR_VALUE_MAX (meta_usage_parse reads
 * none longer) is skipped. */
#define META_BATCH_HDRS_MAX 32
#define META_BATCH_HDR_NAME_MAX 64
#define META_BATCH_HDR_VALUE_MAX 8192

/* One lead read: GET <lead_id>?fields=META_LEAD_FIELDS with its page's
 * token and its appsecret_proof (hex HMAC-SHA256 of the token). */
typedef struct meta_batch_op {
    const char *lead_id;
    const char *token;
    const char *proof;
} meta_batch_op;
/* The form body of one batch request of ops[0..n) (the top-level token
 * and proof are ops[0]'s), malloc'd, NUL-terminated, *len its length;
 * NULL when n is 0 or over META_BATCH_MAX, an id or token is unusable, the
 * body would exceed META_BATCH_FORM_MAX, or out of memory. It holds
 * tokens: wipe it before freeing (meta_batch_form_free). */
char *meta_batch_form(const meta_batch_op *ops, size_t n, size_t *len);
void meta_batch_form_free(char *form);
/* One operation's outcome. */
typedef struct meta_batch_res {
    json_t *lead;              /* a JSON object whose id is the op's lead id
                                * (a new reference), else NULL */
    char *body;                /* or its bytes, when meta_batch_scan proved
                                * the same of them (malloc'd, NUL-terminated;
                                * meta_lead_of_bytes reads them) */
    size_t body_len;
    int code;                  /* its HTTP status; 0: null, or no status */
    meta_usage usage;          /* its usage headers (meta_usage_parse) */
    meta_err err;              /* its class, as a single GET's answer would
                                * be classified (its own token cut from the
                                * message); null: META_ERR_TRANSIENT */
} meta_batch_res;
/* Reads a batch answer for ops[0..n) into res[0..n). Returns the number of
 * leads, or -1 (nothing set) when the answer is not an array of exactly n
 * elements. An operation's body over META_BATCH_BODY_MAX, not a JSON
 * object, or naming another id gives no lead. */
int meta_batch_parse(const json_t *answer, const meta_batch_op *ops, size_t n,
                     meta_batch_res *res);
/* The same from the answer's bytes (meta_batch_scan.c): the result of
 * json_loadb(b, len, 0) and meta_batch_parse for every input, without
 * Jansson's tree of the whole answer; -2 (nothing set) when json_loadb
 * refuses the bytes. */
int meta_batch_read(const uint8_t *b, size_t len, const meta_batch_op *ops, size_t n,
                    meta_batch_res *res);
/* Its fast path alone: META_SCAN_OK with *got as meta_batch_read's (-1:
 * not an array of n, nothing set), META_SCAN_INVALID (json_loadb refuses
 * the bytes) or META_SCAN_UNSURE (Jansson must read it); nothing is set
 * unless META_SCAN_OK. */
int meta_batch_scan(const uint8_t *b, size_t len, const meta_batch_op *ops, size_t n,
                    meta_batch_res *res, int *got);
/* The steps both readers share. An operation's header name s[0..nl)
 * lowercased into out when usable (1..META_BATCH_HDR_NAME_MAX bytes, no
 * control, space, DEL, ':' or byte >= 0x80); */
bool meta_batch_hdr_name(const char *s, size_t nl, char out[META_BATCH_HDR_NAME_MAX + 1]);
/* and its outcome once r->code (0: none) and r->usage are set: body[0..len)
 * (NULL: no string, or over META_BATCH_BODY_MAX) parsed, classified, kept
 * in r->lead when it is the op's lead. Returns 1 for a lead, else 0. */
int meta_batch_op_end(meta_batch_res *r, const meta_batch_op *op, const char *body, size_t len);
/* The same, keeping the body's bytes in r->body instead of a tree when
 * they are proven to be the op's lead (code 200, an object Jansson
 * accepts, no "error", the op's id), else as meta_batch_op_end. */
int meta_batch_op_end_bytes(meta_batch_res *r, const meta_batch_op *op, const char *body,
                            size_t len);
/* meta_batch_scan.c's readers of proven bytes, for meta_lead_src.c:
 * whitespace skipped, the end of the value at p, and the string b..e
 * (quotes included) decoded as Jansson decodes it into dst (room for its
 * escaped length; NULL: only counted), its decoded length returned. */
const uint8_t *meta_jb_ws(const uint8_t *p, const uint8_t *end);
const uint8_t *meta_jb_skip(const uint8_t *p, const uint8_t *end);
size_t meta_jb_decode(const uint8_t *b, const uint8_t *e, char *dst);
/* Sizes of the requests that carry n operations: as few as can (at most
 * META_BATCH_MAX each), as even as can be, so that none is left with a
 * lone operation when n >= 2. Returns the number of requests (0 when n is
 * 0), sizes into size[] (room for n / META_BATCH_MAX + 1). */
size_t meta_batch_split(size_t n, size_t *size);

/* ---- the plugin (host-side files) ------------------------------------- */

typedef struct meta_plugin {
    const c360_host_api *host;
    meta_crypto crypto;
    meta_apps apps;
    char graph_url[META_URL_MAX];    /* C360_META_GRAPH_URL */
    char www_url[META_URL_MAX];      /* C360_META_WWW_URL */
    uint32_t throttle_min_ms;        /* C360_META_THROTTLE_MIN_MS */
    uint32_t poll_budget;            /* C360_META_POLL_BUDGET */
    uint32_t budget_scale;           /* C360_META_BUDGET_SCALE */
} meta_plugin;

/* meta_cache.c: what a connection keeps in memory, per worker process,
 * between callbacks, so that a lead costs fewer Redis round trips. Never
 * shared between connections (so never between tenants); gone with the
 * instance, which the host reopens whenever the connection's config or
 * secrets change. */
#define META_TOKEN_CACHE_MS 10000u   /* page tokens, "no re-login pending" */
#define META_FORM_CACHE_MS 300000u   /* compact forms (state keeps them a day) */
#define META_FORM_CACHE_N 16
#define META_RESV_MS 500u            /* a budget reservation's life */
#define META_RESV_MAX 32u            /* units reserved at most at once */
#define META_RESV_KEEP_PCT 75        /* a usage report from this ends them */
/* Leads read ahead by event_prefetch (meta_prefetch.c), until their event
 * takes them: few, and briefly (the events run right after the look
 * ahead; a lead is read again rather than kept long). */
#define META_LEAD_CACHE_N 64
#define META_LEAD_CACHE_MS 30000u
typedef struct meta_resv {
    uint32_t left;             /* units reserved in Redis, not yet used */
    uint32_t want;             /* units the next reservation asks for */
    int64_t until;             /* monotonic ms: unused units then lapse */
} meta_resv;
typedef struct meta_cache {
    pthread_mutex_t lock;
    int64_t oauth_ok_until;    /* no "need_oauth" seen, until (monotonic) */
    char *tok[META_MAX_PAGES]; /* page tokens by cfg.pages index (malloc) */
    int64_t tok_until[META_MAX_PAGES];
    struct {
        meta_id id;
        json_t *form;          /* meta_form_compact output; NULL: free slot */
        int64_t until;
    } form[META_FORM_CACHE_N];
    meta_resv app;             /* the app bucket */
    meta_resv obj[META_MAX_PAGES]; /* obj:<page> buckets, by cfg.pages index */
    struct {
        meta_id id;            /* the lead */
        meta_id page;          /* the page whose token read it */
        json_t *lead;          /* Graph's lead object, */
        char *body;            /* or its proven bytes (meta_batch_res.body);
                                * both NULL: free slot */
        size_t body_len;
        int64_t until;
    } lead[META_LEAD_CACHE_N];
} meta_cache;

typedef struct meta_conn {
    const c360_instance *inst;
    meta_cfg cfg;
    meta_app *app;                   /* secret, fingerprint */
    char app_bucket[64];             /* "app:<app id>:<fp>" rate budget */
    char authorize_url[META_URL_MAX + 64];
    char token_url[META_URL_MAX + 64];
    /* Proven access (meta_verify.c): bit i of pages_ok is cfg.pages[i],
     * bit j of ig_ok is cfg.ig[j], whose linked page is ig_page[j]. Only
     * these are routed to the connection, polled, or processed. Read by
     * events while a tick updates them: atomics. */
    _Atomic uint64_t pages_ok, ig_ok;
    _Atomic int ig_page[META_MAX_IG];
    uint64_t reg_pages, reg_ig;      /* the sets last registered */
    bool registered;
    pthread_mutex_t reg_lock;
    meta_cache cache;
} meta_conn;

/* One callback's context. */
/* Copies of the tokens a call sent Meta so far (meta_graph records them),
 * so that each later answer of the same call is cut of all of them, also
 * of those the connection's cache does not hold (a call that refreshed
 * its tokens does not cache them). Freed, wiped, when the call ends. */
#define META_SENT_MAX (META_MAX_PAGES + 2)
typedef struct meta_sent {
    char *tok[META_SENT_MAX];
    size_t n;
} meta_sent;
void meta_sent_free(meta_sent *s);

typedef struct meta_ctx {
    meta_plugin *p;
    meta_conn *c;
    c360_call *call;
    const c360_host_api *host;
    bool refreshed;            /* meta_tokens_refresh ran in this call */
    meta_sent *sent;           /* NULL: this callback keeps no list */
} meta_ctx;

/* meta_graph.c */
typedef struct meta_gr {
    const char *method;        /* NULL: GET */
    const char *path;          /* "123", "act_1/insights" (no '/' first) */
    const char *query;         /* percent-encoded, without '?'; may be NULL */
    const char *token;         /* access token (Authorization: Bearer) */
    const char *object;        /* page / account id for its budget; NULL */
    const char *form;          /* form body (POST); may be NULL */
    bool no_version;           /* path is not under /<version>/ */
    bool quiet_auth;           /* 190: just C360_EAUTH (disconnect) */
    bool token_in_form;        /* the form carries access_token and its
                                * appsecret_proof (a batch): no header, no
                                * proof in the URL; token is still cut
                                * from Meta's messages */
    bool any_json;             /* the answer may be any JSON value (a
                                * batch's array), not only an object */
    uint32_t units;            /* calls it counts as in the app's and the
                                * object's budgets (a batch: its
                                * operations, at most META_BATCH_MAX); 0: 1 */
    bool prepaid;              /* the budgets were taken before
                                * (meta_graph_batch_budget): none here */
    const char *const *cuts;   /* more tokens cut from Meta's messages (a
                                * batch's other pages'); ncuts of them */
    size_t ncuts;
    meta_reports *reports;     /* not NULL: the answer's usage and
                                * throttling reports are merged here, for
                                * the caller to send (meta_graph_reports),
                                * rather than sent */
    uint32_t max_bytes;        /* 0: 4 MiB */
    uint32_t timeout_ms;       /* 0: 30 s (the host cuts it to the deadline) */
    c360_http_response **raw;  /* not NULL: a 2xx answer whose body opens
                                * with '[' (a batch's array) is not parsed:
                                * C360_OK with *raw the response (the
                                * caller reads it, then host->http_free),
                                * *out NULL; its usage is accounted and it
                                * is classified as the parse would have
                                * (no error). When its bytes are no JSON,
                                * the caller answers meta_graph_not_json.
                                * Any other answer: as without raw. */
} meta_gr;
/* One call. C360_OK with *out (a JSON object: json_decref it), or *r->raw
 * (above). Otherwise the status to return, with call_error (and
 * call_retry_after) set; *err (may be NULL) tells the caller what Meta
 * said. */
int32_t meta_graph(meta_ctx *x, const meta_gr *r, json_t **out, meta_err *err);
/* What meta_graph answers for a 2xx answer that is no JSON (document or
 * object, as r->any_json): call_error, no wait, C360_RETRY. */
int32_t meta_graph_not_json(meta_ctx *x, const meta_gr *r);
/* The appsecret_proof of tok: hex HMAC-SHA256 of it with the app secret. */
void meta_proof(meta_ctx *x, const char *tok, char hex[65]);
/* The budgets of one batch request over several pages, before it is
 * written: each pages[i] takes units[i] from its own bucket (from this
 * process's reservation, else in one take; a page whose bucket has no
 * room now is left out, granted[i] false, nothing slept), then the app
 * takes the granted pages' units in one take (a short wait slept, as
 * meta_graph does) -- only when they are at least min_units; *total gets
 * them (0: nothing may be sent; the pages' units then lapse). C360_OK, or
 * the failure of a take (call_error set). At most 1 + n Redis round trips. */
int32_t meta_graph_batch_budget(meta_ctx *x, const char *const *pages, const uint32_t *units,
                                size_t n, uint32_t min_units, bool *granted, uint32_t *total);
/* Merges r[0..n) into *a, sending what no longer fits; then (flush) or
 * later, meta_graph_reports sends each merged bucket once. */
void meta_graph_gather(meta_ctx *x, meta_reports *a, const meta_report *r, size_t n);
void meta_graph_reports(meta_ctx *x, meta_reports *a);

/* meta_cache.c */
bool meta_cache_init(meta_cache *k);
void meta_cache_destroy(meta_cache *k);
/* The page token cached for cfg.pages[i] as a malloc'd copy (free with
 * meta_token_free), or NULL if none is fresh. */
char *meta_cache_token(meta_conn *c, size_t i, int64_t now);
void meta_cache_token_put(meta_conn *c, size_t i, const char *tok, int64_t now);
/* Forgets every token and the "no re-login pending" mark (after a
 * refresh, a rejected token, or a token written by this process). */
void meta_cache_tokens_drop(meta_conn *c);
bool meta_cache_oauth_ok(meta_conn *c, int64_t now);
void meta_cache_oauth_ok_set(meta_conn *c, int64_t now);
/* The cached compact form (a new reference: json_decref it), or NULL. */
json_t *meta_cache_form(meta_conn *c, const char *form_id, int64_t now);
void meta_cache_form_put(meta_conn *c, const char *form_id, json_t *form, int64_t now);
/* A lead read ahead for page_id, as a tree or as its bytes (one of them):
 * put takes over the reference and the malloc'd body (the oldest entry
 * makes room; freed at once when the ids are unusable); take hands them
 * over and forgets them, false (both NULL) when there is none for that
 * page that is fresh; has tells whether one is cached and fresh. */
void meta_cache_lead_put(meta_conn *c, const char *lead_id, const char *page_id, json_t *lead,
                         char *body, size_t body_len, int64_t now);
bool meta_cache_lead_take(meta_conn *c, const char *lead_id, const char *page_id,
                          int64_t now, json_t **lead, char **body, size_t *body_len);
bool meta_cache_lead_has(meta_conn *c, const char *lead_id, int64_t now);
/* The reservation of a budget bucket: the app's (object NULL), a
 * configured page's, or NULL (not cached: every take goes to Redis). */
meta_resv *meta_cache_resv(meta_conn *c, const char *object);

/* meta_tokens.c */
/* A connection secret as text, trimmed (meta_trim); freed with
 * host->secret_free. C360_ENOTFOUND also when it is empty. */
int32_t meta_secret_text(const c360_host_api *h, c360_call *call, const char *name,
                         uint8_t **v, size_t *len);
/* A token secret (printable, at most 4096 bytes), or C360_ENOTFOUND. The
 * token is a malloc'd copy (the guarded original is freed at once), so
 * that cached and read tokens are freed alike: meta_token_free wipes it. */
int32_t meta_token_secret(meta_ctx *x, const char *name, char **tok);
/* The page's access token (secret "page_token:<id>"): C360_OK with *tok
 * (free with meta_token_free), C360_ENOTFOUND when there is none even
 * after trying the stored user token and OAuth. */
int32_t meta_page_token(meta_ctx *x, const char *page_id, char **tok);
/* The long-lived user token (secret "user_token"), or C360_ENOTFOUND. */
int32_t meta_user_token(meta_ctx *x, char **tok);
void meta_token_free(meta_ctx *x, char *tok);
/* After OAuth connect (a new token under "user"): long-lived user token,
 * page tokens, page subscriptions. C360_OK also when nothing was to do. */
int32_t meta_tokens_refresh(meta_ctx *x);
/* Meta rejected a token (code 190): re-authorisation, or retry with a
 * token stored meanwhile. Returns C360_EAUTH or C360_RETRY. */
int32_t meta_token_rejected(meta_ctx *x, const meta_err *e);
int32_t meta_oauth_connect(c360_call *call, void *pd, void *id,
                           c360_oauth_connect *out);
int32_t meta_disconnect(c360_call *call, void *pd, void *id);

/* meta_verify.c */
/* Proves access to the configured pages and IG accounts with the
 * connection's own tokens (cached in state for META_PROOF_TTL_MS per
 * token; Graph is asked only when `network`), updates pages_ok / ig_ok,
 * and (with `reg`: instance_open and tick only) registers the routing
 * keys of what is proven when that changed.
 * cause (may be NULL) gets why the first unproven one is not. Returns a
 * transient failure (RETRY...) of Graph, else C360_OK. */
#define META_PROOF_TTL_MS (12u * 3600u * 1000u)
int32_t meta_verify(meta_ctx *x, bool network, bool reg, char *cause, size_t cap);
bool meta_page_ok(const meta_conn *c, const char *page_id);
/* The index in cfg.ig of a proven IG account, or -1. */
int meta_ig_ok(const meta_conn *c, const char *ig_id);

/* meta_event.c */
int32_t meta_event(c360_call *call, void *pd, void *id, const c360_event *ev);
/* Emits the lead (a Graph lead object, as a tree or bytes) found `via`; `hint` is what the
 * lead record reads of the webhook change's value (may be NULL). Its "seen" mark is added to *seen, to be written
 * once the call's records are committed. `emitted` is the number of
 * records the call emitted before. C360_OK: emitted, or skipped for good
 * (a lead that can never make a record); C360_ETOOBIG: the call holds all
 * the records it can, stop here (nothing was added); else a failure. */
int32_t meta_lead_emit(meta_ctx *x, meta_lead *lead, const char *page_id,
                       const char *page_token, const meta_hint *hint,
                       const char *via, meta_pend *seen, size_t emitted);
/* Writes the pending state writes (just before returning C360_OK). */
void meta_pend_apply(meta_ctx *x, meta_pend *p);

/* meta_prefetch.c: the descriptor's event_prefetch (ABI 1.7). */
int32_t meta_event_prefetch(c360_call *call, void *pd, void *id,
                            const c360_event *const *evs, size_t n);

/* meta_tick.c */
int32_t meta_tick(c360_call *call, void *pd, void *id);

/* A state key "<prefix><id>" into buf. */
static inline void meta_key(char *b, size_t cap, const char *pre, const char *id)
{ c360kit_key(b, cap, pre, id); }

#endif
