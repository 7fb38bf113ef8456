/* oauth_connect.h -- the machinery of OAuth connect (RFC 6749 section 4.1,
 * PKCE per RFC 7636) behind POST .../oauth/start and GET /oauth/callback
 * (api_oauth.c, docs/api/oauth.md):
 *
 *   - the plugin's answer: runs the plugin's oauth_connect callback (ABI
 *     1.3) on the connection's instance and copies what it said, so that
 *     nothing of the plugin's memory is used after the callback returned;
 *   - the state: signed, expiring, single-use, bound to tenant, connection
 *     and the API key that started the flow;
 *   - the authorisation URL and the redirect URI.
 *
 * The state text is  base64url(P) "." base64url(HMAC-SHA256(K, P))  with
 *   P = "1.<kid>.<expires_ms>.<nonce>.<tenant>.<connection>.<actor>"
 * where K is derived (crypto_kdf, context "c360oast") from the keyring key
 * <kid> -- the active key when the state was made, so a state survives a
 * key rotation while its key is still listed -- and nonce is 16 random
 * bytes (base64url). The signature makes the state unforgeable and binds
 * its fields; the expiry bounds its life (10 minutes by default); the
 * single use is a Redis record
 *
 *   c360:{t:T}:oauth-state:<nonce>   string (JSON): connection, actor, the
 *                                    PKCE code_verifier and the return_url;
 *                                    PX = the state's life + 5 s
 *
 * which the callback takes with GETDEL (atomic: of two concurrent uses one
 * gets it, the other finds nothing). The verifier never leaves the host:
 * only its S256 challenge goes into the authorisation URL.
 *
 * Everything here BLOCKS (Redis, the plugin's callback): admin threads. */
#ifndef CH_OAUTH_CONNECT_H
#define CH_OAUTH_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "connector_api.h"
#include "keys.h"

struct ch_keyring;
struct ch_conn;

#define CH_OC_STATE_TTL_MS_DEFAULT (10 * 60 * 1000)
#define CH_OC_STATE_MAX 1024          /* longest state text accepted */
#define CH_OC_RETURN_URL_MAX 2048
#define CH_OC_URL_MAX 2048            /* authorize_url, token_url */
#define CH_OC_VERIFIER_LEN 43         /* base64url of 32 random bytes */
#define CH_OC_NONCE_LEN 22            /* base64url of 16 random bytes */
#define CH_OC_CALLBACK_PATH "/oauth/callback"

/* Makes the keyring available (c360d start-up, like ch_apikeys_init; NULL
 * detaches: starts then fail with C360_EUNSUPPORTED, callbacks with 503).
 * Once it returns no call uses the previous keyring any more, so its owner
 * may free it (a reloaded keyring is swapped in this way). */
void ch_oauth_connect_init(const struct ch_keyring *kr);
/* How long a state is valid; 0 = the default (10 min). Bounded to
 * 1 s .. 1 h. */
void ch_oauth_connect_set_state_ttl_ms(int64_t ms);
int64_t ch_oauth_connect_state_ttl_ms(void);

/* ---- the plugin's answer ---------------------------------------------- */

/* What oauth_connect said, copied. Strings are malloc'd, except
 * token.client_secret, which is in guarded memory (sodium_malloc). */
typedef struct ch_oc_conf {
    char *authorize_url;
    char *client_id;        /* never NULL once filled */
    char *scope;            /* NULL: none */
    char *extra;            /* NULL: none */
    int pkce;
    /* The token endpoint: token_url, client_id, client_secret (may be
     * NULL), auth, token_name (NULL = "default"), refresh_margin_s; grant
     * authorization_code. code, redirect_uri and code_verifier are left
     * for the exchange. */
    c360_oauth_params token;
} ch_oc_conf;

void ch_oc_conf_clear(ch_oc_conf *c);
/* The token name the connection's tokens are stored under ("default"). */
const char *ch_oc_conf_token_name(const ch_oc_conf *c);

/* Checks an answer of oauth_connect the way ch_oc_conf_get does (also
 * c360-plugin-check's check): authorize_url and token_url absolute
 * https:// URLs (http:// for loopback hosts) without fragment or user
 * information, client_id 1..512 printable bytes, scope printable,
 * extra_params percent-encoded pairs that repeat no parameter the host
 * sets, a known auth, a valid token_name. 0 if usable, else -1 with the
 * reason in err (never a secret). */
int ch_oc_answer_check(const c360_oauth_connect *o, char *err, size_t cap);

/* Acquires the connection's instance and runs the plugin's oauth_connect
 * with a deadline of the admin's callback timeout, then copies and checks
 * its answer (and frees the host_secret it handed back). Returns
 *   C360_OK            *out filled (ch_oc_conf_clear it)
 *   C360_EUNSUPPORTED  the plugin has no oauth_connect (it is not loaded
 *                      with ABI 1.3), or it declined for this connection
 *   C360_ENOTFOUND     the plugin is not loaded here, or the connection
 *                      is gone
 *   C360_EINVAL        the plugin says the connection lacks something (its
 *                      reason in err)
 *   C360_ERROR         the plugin's answer is unusable (what is wrong in
 *                      err: a plugin bug), or the plugin failed for good
 *   C360_RETRY/EIO/ETIMEOUT  try again later
 * err never holds a secret (it may hold the plugin's call_error text, which
 * the ABI forbids to hold one). */
int32_t ch_oc_conf_get(ch_admin *a, const struct ch_conn *conn, const char *request_id,
                       ch_oc_conf *out, char *err, size_t errcap);

/* ---- the state ---------------------------------------------------------- */

typedef struct ch_oc_state {
    char tenant[CH_ID_MAX + 1];
    char conn[CH_ID_MAX + 1];
    char actor[CH_ID_MAX + 8];
    char nonce[CH_OC_NONCE_LEN + 1];
    int64_t expires_ms;
} ch_oc_state;

/* Makes a state for (tenant, conn, actor) and stores its single-use record
 * (with a fresh PKCE verifier when pkce, and return_url, which may be NULL).
 * text receives the state (cap >= CH_OC_STATE_MAX + 1); challenge (cap >=
 * 44) the S256 code challenge, or "" without pkce; *expires_ms when it
 * stops being valid. C360_OK; C360_EUNSUPPORTED without a keyring;
 * C360_EIO when Redis failed; C360_EINVAL for bad ids. */
int32_t ch_oc_state_new(const char *tenant, const char *conn, const char *actor, int pkce,
                        const char *return_url, char *text, size_t cap, char *challenge,
                        size_t chcap, int64_t *expires_ms);

typedef enum ch_oc_verdict {
    CH_OC_OK = 0,
    CH_OC_BAD,          /* malformed, forged, tampered, or signed with a key
                           this host does not have */
    CH_OC_EXPIRED,      /* signed by us, but past its expiry */
    CH_OC_USED,         /* signed and fresh, but already used */
    CH_OC_UNAVAILABLE   /* Redis failed, or no keyring */
} ch_oc_verdict;

/* Checks a state's signature, then its expiry (no Redis). On CH_OC_OK and
 * CH_OC_EXPIRED *out holds its fields (they are authentic). */
ch_oc_verdict ch_oc_state_check(const char *text, ch_oc_state *out);

/* Uses up a checked state: takes its record (GETDEL). On CH_OC_OK,
 * verifier receives the PKCE code_verifier ("" if none; cap >= 44) and
 * return_url the return URL ("" if none; cap >= CH_OC_RETURN_URL_MAX + 1).
 * CH_OC_USED when the record is gone (used, or expired in Redis),
 * CH_OC_BAD when it does not match the state. */
ch_oc_verdict ch_oc_state_take(const ch_oc_state *st, char *verifier, size_t vcap,
                               char *return_url, size_t rcap);

/* ---- URLs --------------------------------------------------------------- */

/* ch_admin_public_url + CH_OC_CALLBACK_PATH (malloc'd). */
char *ch_oc_redirect_uri(const ch_admin *a);

/* authorize_url ? response_type=code & client_id & redirect_uri [& scope]
 * & state [& code_challenge & code_challenge_method=S256] [& extra], each
 * value percent-encoded (RFC 3986 unreserved characters kept). malloc'd. */
char *ch_oc_authorize_url(const ch_oc_conf *c, const char *redirect_uri, const char *state,
                          const char *challenge);

/* 1 if u is an absolute http:// or https:// URL with a host, of at most
 * CH_OC_RETURN_URL_MAX bytes of printable ASCII without spaces, and
 * without a fragment (the callback appends a query); else 0 with the
 * reason in *why. */
int ch_oc_return_url_valid(const char *u, const char **why);

/* u with "status=<status>&connection=<conn>[&error=<error>]" appended to
 * its query (malloc'd). */
char *ch_oc_return_url_with(const char *u, const char *status, const char *conn,
                            const char *error);

/* Appends s percent-encoded (unreserved characters kept) to the malloc'd
 * string *buf of length *len (grows it). */
void ch_oc_url_append_enc(char **buf, size_t *len, const char *s);

#endif
