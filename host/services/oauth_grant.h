/* oauth_grant.h -- one call to an OAuth 2.0 token endpoint (RFC 6749
 * section 4.1.3, 4.4, 6, and Zoom's account_credentials), and the parsed
 * answer. No storage, no single-flight: oauth.c does those.
 *
 * The request is application/x-www-form-urlencoded over httpc (a provider
 * URL: no SSRF check, environment proxy honoured). Client credentials go in
 * the body or as HTTP Basic (RFC 6749 2.3.1: each part form-urlencoded,
 * then base64). Buffers holding secrets (the form body, the Basic header,
 * the tokens) are sodium_malloc'd and wiped; the JSON parse goes through
 * jansson's heap, which is freed unwiped (best effort, documented). */
#ifndef CH_OAUTH_GRANT_H
#define CH_OAUTH_GRANT_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"

#define CH_OAUTH_TOKEN_MAX 8192     /* one token's length */
#define CH_OAUTH_SCOPE_MAX 1024
#define CH_OAUTH_ERRCODE_MAX 64

/* What a grant call needs. Strings are borrowed. */
typedef struct ch_oauth_grant_req {
    int32_t grant;              /* enum c360_oauth_grant */
    int32_t auth;               /* enum c360_oauth_auth */
    const char *token_url;
    const char *client_id;
    const char *client_secret;  /* may be NULL (public client) */
    const char *scope;          /* refresh / client_credentials; optional */
    const char *code;           /* authorization_code */
    const char *redirect_uri;   /* authorization_code */
    const char *code_verifier;  /* authorization_code, optional */
    const char *account_id;     /* account_credentials */
    const char *refresh_token;  /* refresh_token */
    uint32_t timeout_ms;        /* 0 = httpc default */
    uint32_t max_response;      /* bytes, 0 = 64 KiB */
} ch_oauth_grant_req;

/* A token response. Token strings are sodium_malloc'd (free with
 * ch_oauth_tokens_clear). */
typedef struct ch_oauth_tokens {
    char *access_token;
    char *refresh_token;        /* NULL if none was given */
    char token_type[32];
    char scope[CH_OAUTH_SCOPE_MAX];
    int64_t expires_in_s;       /* -1: not given */
    int64_t refresh_expires_in_s; /* -1: not given (LinkedIn sends it) */
} ch_oauth_tokens;

void ch_oauth_tokens_clear(ch_oauth_tokens *t);

/* A guarded copy of s (NULL for NULL); abort on out-of-memory. */
char *ch_oauth_strdup_guarded(const char *s);

/* 1 if s is 1..CH_OAUTH_TOKEN_MAX bytes of VSCHAR (0x20..0x7e, RFC 6749
 * appendix A): what a token may hold. */
int ch_oauth_token_valid(const char *s, size_t len);

/* Calls the endpoint. Returns
 *   C360_OK       *out filled
 *   C360_EAUTH    the grant is dead: invalid_grant (any grant), or for the
 *                 client/account credentials grants invalid_client,
 *                 unauthorized_client, access_denied (those credentials
 *                 are the connection's own); oauth_error holds the code
 *   C360_ERROR    refused for a reason no retry fixes that is not the
 *                 connection's fault (invalid_client on a refresh: the
 *                 app's secret is wrong; invalid_request, invalid_scope,
 *                 unsupported_grant_type; other 4xx)
 *   C360_RETRY    5xx, 429, temporarily_unavailable, a malformed answer
 *   C360_ETIMEOUT, C360_EIO, C360_EDENIED, C360_EINVAL  from httpc
 * err gets a message without secrets; oauth_error (CH_OAUTH_ERRCODE_MAX,
 * may be NULL) the provider's "error" code when there was one, else "". */
int32_t ch_oauth_grant_call(const ch_oauth_grant_req *g, ch_oauth_tokens *out,
                            char *oauth_error, char *err, size_t errcap);

#endif
