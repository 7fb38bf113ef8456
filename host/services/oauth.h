/* oauth.h -- OAuth 2.0 tokens of connections: exchange, cached access
 * tokens, single-flight refresh across every host, and "needs
 * re-authorisation" when a grant is dead. The backend of the host table's
 * oauth_token / oauth_exchange / oauth_token_rejected (docs/http-and-oauth.md).
 *
 * Storage is oauth_store.h (tokens sealed by the secrets service, a small
 * unsealed metadata hash, a lease). The token endpoint call is
 * oauth_grant.h (over httpc).
 *
 * Refresh, across hosts: a caller that finds the token within the refresh
 * margin of expiry tries to take the lease (SET NX PX, random owner). The
 * owner re-reads the metadata (someone may have just refreshed), calls the
 * endpoint once, and commits the new tokens only if the version is still
 * the one it read (Lua compare-and-set); then it releases the lease (only
 * its own: Lua compare-and-delete). Everyone else polls the version with a
 * bounded backoff until it moves (then reads the new token), the lease
 * frees up (the owner died or failed: one of them takes it), a failure is
 * recorded (they return it), or wait_ms passes (C360_RETRY).
 *
 * Dead grants: invalid_grant (and, for the client/account credentials
 * grants, invalid_client / unauthorized_client / access_denied) is first
 * checked against the store -- another host may have rotated the refresh
 * token a moment ago, and its new token is used -- then, if the version
 * stays put for invalid_grant_grace_ms, the token is marked dead, the
 * connection's status becomes "needs_reauth" (connstatus.h) and an audit
 * entry is written. From then on ch_oauth_token answers C360_EAUTH at once,
 * without calling the endpoint, until ch_oauth_exchange or ch_oauth_store
 * stores a new token.
 *
 * Every function blocks (Redis, HTTP): worker threads only. Token strings
 * handed out are in guarded memory: free them with ch_secret_value_free
 * (the plugin's host->secret_free). err (may be NULL) never holds a
 * secret. */
#ifndef CH_OAUTH_H
#define CH_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"

typedef struct ch_oauth_settings {
    uint32_t refresh_margin_s;     /* default 300; params->refresh_margin_s
                                      overrides per call. Never more than
                                      half the token's lifetime, so a short-
                                      lived token is not refreshed on every
                                      call. */
    uint32_t lease_ms;             /* default 45000: longer than
                                      endpoint_timeout_ms, so a live owner
                                      never loses its lease */
    uint32_t wait_ms;              /* how long a caller waits for another's
                                      refresh; default 50000 */
    uint32_t invalid_grant_grace_ms; /* default 2000 */
    uint32_t endpoint_timeout_ms;  /* token endpoint, total; default 30000 */
    uint32_t max_token_response;   /* bytes; default 64 KiB */
} ch_oauth_settings;

void ch_oauth_settings_default(ch_oauth_settings *s);
/* NULL = defaults; zero fields = their defaults. */
void ch_oauth_configure(const ch_oauth_settings *s);

/* A valid access token for (tenant, conn, params->token_name), refreshed
 * with params->grant when within the margin of expiry (refresh_token and
 * authorization_code: the stored refresh token; client_credentials and
 * account_credentials: that grant again; also when nothing is stored yet).
 * *token: guarded memory, free with ch_secret_value_free. *expires_at_ms
 * (may be NULL): Unix ms, 0 if the token has no known expiry.
 *   C360_OK, C360_EAUTH (dead: needs re-authorisation), C360_ENOTFOUND (no
 *   token stored and the grant cannot get one: connect first),
 *   C360_RETRY / C360_EIO / C360_ETIMEOUT (try later; the current token is
 *   returned instead while it has not actually expired), C360_ERROR (the
 *   endpoint refused the app: see err), C360_EINVAL. */
int32_t ch_oauth_token(const char *tenant, const char *conn, const char *plugin,
                       const c360_oauth_params *params, char **token,
                       int64_t *expires_at_ms, char *err, size_t errcap);

/* Runs params->grant now -- authorization_code (code, redirect_uri,
 * optional code_verifier), client_credentials or account_credentials --
 * and stores the tokens sealed, replacing whatever was stored and clearing
 * a dead mark (the connection's needs_reauth status goes back to active).
 * refresh_token is not a grant to exchange: C360_EINVAL. On failure
 * nothing stored changes: C360_EAUTH (the provider refused the code or
 * credentials), other codes as ch_oauth_token. */
int32_t ch_oauth_exchange(const char *tenant, const char *conn, const char *plugin,
                          const c360_oauth_params *params, char *err, size_t errcap);

/* Stores tokens obtained elsewhere (an admin import, Meta's
 * fb_exchange_token): like a successful exchange. expires_in_s /
 * refresh_expires_in_s < 0: unknown (no expiry). refresh may be NULL. */
int32_t ch_oauth_store(const char *tenant, const char *conn, const char *token_name,
                       const char *access_token, const char *refresh_token,
                       int64_t expires_in_s, int64_t refresh_expires_in_s,
                       char *err, size_t errcap);

/* The provider rejected an access token in an API call. If a newer token
 * than the one this thread last got from ch_oauth_token (for the same
 * tenant, connection and token name; with no such record, than the one
 * stored now) is stored, returns C360_OK: retry with it. Otherwise marks
 * the token dead (status needs_reauth, audit entry) and returns C360_EAUTH.
 * reason: short, no secrets (e.g. "meta code 190"). C360_ENOTFOUND if no
 * token is stored. */
int32_t ch_oauth_token_rejected(const char *tenant, const char *conn, const char *plugin,
                                const char *token_name, const char *reason,
                                char *err, size_t errcap);

/* Forgets a connection's token (disconnect): metadata, lease, sealed
 * blob. C360_OK if there was none. */
int32_t ch_oauth_forget(const char *tenant, const char *conn, const char *token_name);
/* Every token of the connection (the disconnect path; the secrets service's
 * ch_secret_delete_connection removes the sealed blobs too, this removes
 * the metadata and leases). */
int32_t ch_oauth_forget_connection(const char *tenant, const char *conn);

#endif
