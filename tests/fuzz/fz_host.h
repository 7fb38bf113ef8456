/* fz_host.h -- the in-process host the connector fuzz targets hand to a
 * plugin: c360d's own host table (hostapi.c: calls, logging, crypto,
 * dedup keys, route_event) with every service that would need Redis or
 * the network replaced by an in-memory stand-in:
 *
 *   state_* and secret_*  a small key/value list, emptied per input
 *                         (secrets and some state preset by the target);
 *   ratelimit_take        the host's argument checks, then the next
 *                         answer of the input's limiter section
 *                         (fz_rl_split): granted, a wait (C360_RETRY with
 *                         *wait_ms) or C360_EIO; granted past its end. A
 *                         limit or cost the host always refuses aborts;
 *   ratelimit_report,     the host's argument checks, then C360_OK (the
 *   ratelimit_feed_response  feed reads the usage headers as the host);
 *   audit,                always C360_OK;
 *   instance_route_keys,
 *   connection_status
 *   oauth_token           a fixed token (copied: freed with secret_free);
 *   http                  the next scripted response of the input (a
 *                         provider answer), 503 when the script is spent;
 *   record_emit           checks what the plugin emits: a JSON object and
 *                         printable ids -- anything else aborts (a bug);
 *   call_error, log       the host's, after a check: the text holds no
 *                         secret the target preset (8 bytes or more;
 *                         one the plugin stored is any word; one never
 *                         sent that the answers hold is the fuzzer's
 *                         echo) -- else abort (a leak);
 *   state_set_on_commit   applied at once (as if the call returned OK);
 *   now_ms                a fixed clock (signature freshness windows).
 *
 * With fz_bypass_sig set, ct_equal answers "equal" (after reading both
 * buffers, so ASan still checks them): the fuzzer cannot forge an HMAC,
 * and this lets it reach the payload parsing behind every signature and
 * token check. Single-threaded, not reentrant: one input at a time. */
#ifndef FZ_HOST_H
#define FZ_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"

#define FZ_NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

extern int fz_bypass_sig;

/* The table (built on first use). */
const c360_host_api *fz_host(void);

/* Empties state and secrets and the HTTP script. */
void fz_host_reset(void);
/* A plugin callback begins: what went out before no longer counts as sent
 * for the text oracle (see fz_host.c check_text). */
void fz_host_call_begin(void);
/* Presets a secret (copied) of the connection. */
void fz_secret_set(const char *name, const char *value);
/* Presets a state key (copied): what earlier calls of the connection
 * would have left (proofs, cached forms), so that the input's answers go
 * to the callback under test rather than to the set-up. */
void fz_state_set(const char *key, const char *value);

/* Scripted HTTP: the responses are cut from `data` (not copied: keep it
 * alive) at lines "@@@". Each one is
 *     STATUS\n
 *     name: value\n ...     (optional headers)
 *     \n
 *     body
 * A response without the blank line is a status line and a body-less
 * answer. */
void fz_http_script(const uint8_t *data, size_t len);
/* Answers a plugin got so far (for the targets' own checks). */
size_t fz_http_calls(void);

/* The rate limiter's answers: the part of an input after its first
 * FZ_RL_MARK, one byte per ratelimit_take in call order (fz_host.c
 * rl_take: 2 low bits granted / short wait / long wait / C360_EIO, the
 * others pick the wait), at most the first 64; every take past them is
 * granted. A separate section rather than bytes in the HTTP script:
 * interleaved, every input without them (the committed corpora) would
 * have its answers shifted by one byte per take; with the section, an
 * input without the mark replays as before (everything granted). Sets the
 * section (not copied: keep data alive; fz_host_reset drops it) and
 * returns the length of what precedes the mark (len without one). */
#define FZ_RL_MARK "\n@@@rl\n"
size_t fz_rl_split(const uint8_t *data, size_t len);

/* Cuts input into the pieces of a webhook request:
 *     query\n name: value\n ... \n body
 * Header names are lower-cased (as the host promises). Returns the
 * number of headers (at most max). Pointers go into buf (a copy of
 * data, NUL-terminated pieces, owned by the caller: free()). */
typedef struct fz_request {
    char *buf;
    const char *query;
    c360_header headers[32];
    uint32_t nheaders;
    const uint8_t *body;
    size_t body_len;
} fz_request;
void fz_request_parse(const uint8_t *data, size_t len, fz_request *out);
void fz_request_free(fz_request *r);

/* Records emitted since the last reset. */
size_t fz_records(void);

#endif
