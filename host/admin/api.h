/* api.h -- the contract between the admin API's dispatcher (admin.c,
 * auth.c) and its resource handlers (api_*.c). docs/admin-api.md is the
 * user's view of the same rules.
 *
 * Threads. The event loop never runs a handler: the dispatcher copies the
 * request (method, path, query, headers it needs, body) into a ch_actx,
 * hands it to one of the admin threads, and answers on the loop when the
 * handler returned. A handler therefore MAY BLOCK: Redis through rconn.h
 * (the admin thread's own connection), plugin callbacks that run on worker
 * threads (instances.h), outbound HTTP. It must be thread-safe: several
 * admin threads run handlers at once.
 *
 * Before a handler runs, the dispatcher has
 *   - matched the route (404 / 405 otherwise),
 *   - authenticated the caller (401) unless the route is CH_AR_PUBLIC,
 *   - checked the role (403 "forbidden") and the tenant scope: a {tenant}
 *     in the pattern must equal the key's tenant unless the key is an
 *     operator's (403 "forbidden_tenant", never 404, so a key cannot probe
 *     which tenants exist). This is the ONE place isolation is enforced;
 *     handlers then act only inside x->tenant (ids of connections are
 *     global, so a handler always reads them through the tenant, e.g.
 *     ch_conn_get(x->tenant, id)).
 *   - checked that the {tenant} of the path exists (404
 *     "tenant_not_found"; not for CH_AR_ANY_TENANT routes),
 *   - validated every path parameter with ch_id_valid, except {name}
 *     (ch_name_valid) (400 "bad_id"),
 *   - charged the key's request budget (429 with Retry-After).
 * A handler answers exactly once with ch_areply / ch_aerr*. Not answering
 * is a bug the dispatcher turns into 500.
 *
 * Errors: {"error":{"code":"...","message":"...","details":[...],
 * "request_id":"..."}}; details (optional) are {"path":"/json/pointer",
 * "message":"..."} objects. Messages never contain a secret value. */
#ifndef CH_ADMIN_API_H
#define CH_ADMIN_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "keys.h"

struct ch_loader;
struct ch_instances;
struct ch_conn;
typedef struct ch_admin ch_admin;

/* Roles, ordered: each includes the ones below it (inside its tenant). */
typedef enum ch_role {
    CH_ROLE_NONE = 0,
    CH_ROLE_TENANT_VIEWER = 1, /* read-only, own tenant */
    CH_ROLE_TENANT_ADMIN = 2,  /* own tenant: connections, routes, secrets,
                                  keys up to its own role */
    CH_ROLE_OPERATOR = 3       /* everything, every tenant */
} ch_role;

const char *ch_role_name(ch_role r);        /* "tenant_viewer", ... */
ch_role ch_role_parse(const char *name);    /* CH_ROLE_NONE if unknown */

/* Who is calling (an API key). */
typedef struct ch_principal {
    char key_id[CH_ID_MAX + 1];
    ch_role role;
    char tenant[CH_ID_MAX + 1];  /* "" for an operator key */
    char actor[CH_ID_MAX + 8];   /* "apikey:<key_id>": the audit actor */
} ch_principal;

#define CH_APARAMS_MAX 4
#define CH_AHEADERS_MAX 6

/* One admin request on an admin thread. Inputs are read-only for
 * handlers; outputs are set through the functions below. */
typedef struct ch_actx {
    ch_admin *admin;
    const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;         /* without the query */
    const char *query;        /* raw, "" if none */
    const char *request_id;
    const char *remote_ip;
    const char *content_type; /* NULL if absent */
    const char *if_match;     /* NULL if absent */
    const char *accept;       /* the Accept header, NULL if absent */
    const uint8_t *body;      /* copy of the body, NUL-terminated */
    size_t body_len;
    /* path parameters by name ({tenant} is also in x->tenant) */
    const char *pname[CH_APARAMS_MAX];
    const char *pval[CH_APARAMS_MAX];
    size_t nparams;
    const char *tenant;       /* the {tenant} of the path, or NULL */
    ch_principal who;         /* zeroed for CH_AR_PUBLIC routes */

    /* outputs (set through ch_areply & co.) */
    int status;               /* 0 = not answered yet */
    json_t *resp;             /* JSON body, or NULL with raw */
    char *raw;                /* non-JSON body (malloc'd), e.g. HTML */
    size_t raw_len;
    const char *raw_type;     /* static content type of raw */
    char *hname[CH_AHEADERS_MAX];
    char *hval[CH_AHEADERS_MAX];
    size_t nheaders;
} ch_actx;

typedef void (*ch_ahandler)(ch_actx *x);

/* Route flags. */
#define CH_AR_PUBLIC 1u   /* no API key (OAuth callback, OpenAPI document) */
#define CH_AR_ANY_TENANT 2u /* the dispatcher does not check that {tenant}
                               exists (the handler does: DELETE of a tenant
                               whose purge was interrupted) */

typedef struct ch_aroute {
    const char *method;   /* NULL ends a table */
    const char *pattern;  /* "/v1/tenants/{tenant}/connections/{conn}":
                             literal segments and whole-segment {params} */
    ch_role role;         /* least role allowed */
    ch_ahandler fn;
    unsigned flags;
    const char *summary;  /* one line, also the OpenAPI summary */
} ch_aroute;

/* Route tables, one per resource file, each ended by {0}. routes.c joins
 * them; the OpenAPI test checks the joined table against docs/openapi/. */
extern const ch_aroute ch_api_meta_routes[];     /* api_meta.c: /v1/me,
                                                    /v1/plugins, openapi */
extern const ch_aroute ch_api_tenants_routes[];  /* api_tenants.c */
extern const ch_aroute ch_api_tplugins_routes[]; /* api_tplugins.c: plugins
                                                    enabled per tenant */
extern const ch_aroute ch_api_keys_routes[];     /* api_keys.c: API keys */
extern const ch_aroute ch_api_conns_routes[];    /* api_conns.c */
extern const ch_aroute ch_api_secrets_routes[];  /* api_secrets.c */
extern const ch_aroute ch_api_routes_routes[];   /* api_routes.c: record
                                                    routes src -> dst */
extern const ch_aroute ch_api_status_routes[];   /* api_status.c: status,
                                                    sync log, deliveries */
extern const ch_aroute ch_api_oauth_routes[];    /* api_oauth.c */
extern const ch_aroute ch_api_dlq_routes[];      /* api_dlq.c: dead letters,
                                                    raw replay */
extern const ch_aroute ch_api_audit_routes[];    /* api_audit.c */
extern const ch_aroute ch_api_notify_routes[];   /* api_notify.c */
extern const ch_aroute ch_api_dsr_routes[];      /* api_dsr.c */

/* All tables, NULL-terminated (routes.c). */
extern const ch_aroute *const ch_api_tables[];

/* ---- what handlers may use from the daemon ---------------------------- */
const struct ch_loader *ch_admin_loader(const ch_admin *a);
struct ch_instances *ch_admin_instances(const ch_admin *a);
/* The externally visible base URL, no trailing slash ("https://c360.example"):
 * webhook URLs and the OAuth redirect URI are built from it. */
const char *ch_admin_public_url(const ch_admin *a);
/* Milliseconds a plugin callback may run (config callback_timeout_ms). */
int64_t ch_admin_callback_timeout_ms(const ch_admin *a);

/* ---- answering ---------------------------------------------------------- */
/* JSON answer; steals body (may be NULL for 204). */
void ch_areply(ch_actx *x, int status, json_t *body);
/* Non-JSON answer (copied). */
void ch_areply_raw(ch_actx *x, int status, const char *content_type,
                   const void *body, size_t len);
/* Error answer; message printf-formatted, never with a secret value. */
void ch_aerr(ch_actx *x, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Error with details (stolen): an array of {"path","message"}. */
void ch_aerr_details(ch_actx *x, int status, const char *code,
                     const char *message, json_t *details);
/* Maps an SDK status code of a failed service call to an answer:
 * EINVAL 422 "invalid", ENOTFOUND 404 "not_found", ECONFLICT 409
 * "conflict", ETOOBIG 413 "too_large", EDENIED 403 "forbidden",
 * EUNSUPPORTED 422 "unsupported", EAUTH 502 "provider_auth",
 * EIO/ETIMEOUT/RETRY 503 "unavailable" (Retry-After: 1), else 500
 * "internal". `what` names the thing ("connection c1"). */
void ch_aerr_status(ch_actx *x, int32_t status, const char *what);
/* Adds a response header (both copied). */
void ch_aheader(ch_actx *x, const char *name, const char *value);
/* ETag: "<version>" (quoted decimal). */
void ch_aetag(ch_actx *x, uint64_t version);

/* ---- reading the request ------------------------------------------------ */
/* A path parameter by name, or NULL. */
const char *ch_aparam(const ch_actx *x, const char *name);
/* A query parameter, URL-decoded, into buf. 1 found, 0 absent, -1 too long
 * or badly encoded (the caller answers 400). */
int ch_aquery(const ch_actx *x, const char *name, char *buf, size_t cap);
/* Integer query parameter within [min,max]; absent -> *out = dflt.
 * Returns 0, or -1 after answering 400 "bad_query". */
int ch_aquery_int(ch_actx *x, const char *name, int64_t min, int64_t max,
                  int64_t dflt, int64_t *out);

/* Body fields the handler accepts (table ended by {NULL}). */
typedef enum ch_aftype {
    CH_AF_STRING, CH_AF_INT, CH_AF_BOOL, CH_AF_OBJECT, CH_AF_ARRAY,
    CH_AF_ANY
} ch_aftype;
typedef struct ch_afield {
    const char *name;
    ch_aftype type;
    int required;
    size_t max_len;   /* strings: bytes; arrays: items; 0 = no limit */
} ch_afield;

/* The JSON body as an object whose members are all in `fields`, with the
 * right types and lengths. On failure answers (415 without a JSON content
 * type, 400 "malformed_json", 422 "validation" with one detail per bad,
 * missing or unknown field) and returns NULL. Owned by the caller. */
json_t *ch_abody(ch_actx *x, const ch_afield *fields);

/* Optimistic concurrency: the version the caller expects, from If-Match
 * ("<n>" or W/"<n>") or, when body_version is non-NULL, from the body's
 * "version" member. Returns 1 with *expected set, 0 when neither is given
 * (the update is unconditional), -1 after answering 400 (malformed). */
int ch_aexpected_version(ch_actx *x, json_t *body, uint64_t *expected);

/* Pagination: lists answer {"items":[...],"next_cursor":"..."|null}.
 * ch_apage_parse reads ?limit (1..max, default dflt) and ?cursor (opaque string,
 * <= 256 bytes). Returns 0, or -1 after answering 400. */
typedef struct ch_apage {
    int64_t limit;
    char cursor[257];   /* "" = first page */
} ch_apage;
int ch_apage_parse(ch_actx *x, int64_t dflt, int64_t max, ch_apage *out);
/* Pages a sorted array of ids (strings) by "after this id" cursors:
 * returns the slice as new references into *page and sets next (cap >=
 * CH_ID_MAX + 1; "" when no more). Handy for sets read whole. */
void ch_apage_ids(char **ids, size_t n, const ch_apage *pg, json_t **page,
                  char *next, size_t cap);
/* {"items": items, "next_cursor": next or null}; steals items. */
json_t *ch_alist(json_t *items, const char *next);

/* ---- the tenant and connection of the path ------------------------------ */
/* 1 if x->tenant is registered; else answers (404 "tenant_not_found", or
 * 503 when it cannot be read) and returns 0. */
int ch_atenant_found(ch_actx *x);
/* Connection `id` of x->tenant (free with ch_conn_free), or NULL after
 * answering: 404 "not_found" ("no <what> connection <id>", what may be
 * NULL) when the tenant exists but the connection does not, 404
 * "tenant_not_found" when the tenant does not, else ch_aerr_status. */
struct ch_conn *ch_aconn_get(ch_actx *x, const char *id, const char *what);

/* Audits an admin action in the tenant's chain (tenant "" = the "_system"
 * chain): actor = x->who.actor (or "public" for CH_AR_PUBLIC routes),
 * request id = x->request_id. Failures are logged, not fatal. */
void ch_aaudit(ch_actx *x, const char *tenant, const char *conn,
               const char *action, const char *target, const char *outcome);

#endif
