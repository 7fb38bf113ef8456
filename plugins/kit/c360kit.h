/* c360kit.h -- small pure helpers shared by the bundled connector plugins:
 * civil dates, RFC 3339, query strings, percent-encoding, hex, excerpts,
 * JSON string members, state keys.
 *
 * Why a static kit and not a shared library: each plugin is a separate .so
 * built against the SDK only (c360::sdk, Jansson, libc), loaded by the host
 * with nothing else guaranteed to be there. A shared helper library would be
 * one more file to install and find at dlopen() time, and one more ABI to
 * keep. So the kit is a STATIC library, compiled position-independent and
 * with hidden visibility, and linked PRIVATE into each plugin: every plugin
 * carries its own copy, and exports nothing from it (c360_plugin_entry stays
 * the only exported symbol; tests/integration/exports.sh checks that).
 *
 * Only helpers whose behaviour is the same in every plugin belong here; a
 * plugin whose version differs on purpose keeps its own. Everything is
 * bounded and never trusts its input: webhook bodies and provider answers
 * come through these. */
#ifndef C360KIT_H
#define C360KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "connector_api.h"

/* ---- c360kit_time.c ---------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's algorithms): no timegm(), no time zone, no locale. */
int64_t c360kit_days_from_civil(int64_t y, int64_t m, int64_t d);
void c360kit_civil_from_days(int64_t z, int *y, int *m, int *d);
/* "YYYY-MM-DDTHH:MM:SSZ" of a Unix time in seconds (UTC). */
void c360kit_rfc3339(int64_t unix_s, char out[32]);

/* ---- c360kit_text.c ---------------------------------------------------- */

/* The value of a hex digit (either case), or -1. */
int c360kit_hexval(char c);
/* A query parameter, percent-decoded ('+' is a space) into out (NUL
 * terminated); a bare "name" reads as empty. false when absent, malformed,
 * holding a NUL, or longer than cap - 1. */
bool c360kit_query_get(const char *query, const char *name, char *out,
                       size_t cap, size_t *len);
/* true for an RFC 3986 unreserved character (ALPHA DIGIT - . _ ~), which
 * percent-encoding keeps as it is. Inline: encoders call it per byte (the
 * meta plugin's batch forms, tens of KB each). */
static inline bool c360kit_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}
/* s[0..n) percent-encoded (RFC 3986 unreserved kept) into out, which has
 * room for it; out NULL: only the length. Returns the encoded length (no
 * NUL is written). */
size_t c360kit_urlenc_n(const char *s, size_t n, char *out);
/* Appends s percent-encoded (RFC 3986 unreserved kept) to out; false if
 * it did not fit (out is then unchanged). */
bool c360kit_urlenc_cat(char *out, size_t cap, const char *s);
void c360kit_hex(const uint8_t *bin, size_t n, char *out); /* 2n + 1 bytes */
bool c360kit_hex_decode(const char *s, size_t hexlen, uint8_t *out);
/* A short, printable excerpt of provider text for errors: control bytes
 * flattened, never ending inside a UTF-8 sequence. A text that holds `cut`
 * (a token we sent, 8 bytes or more; NULL for none), or any 8 bytes in a
 * row of it, anywhere is not shown at all ("(message not shown: it held a
 * credential)"): cutting the token out could join the text around it into
 * another secret. Pass the whole token: a part of it is caught, not a
 * token of which only a part was passed. */
void c360kit_excerpt(const char *in, const char *cut, char *out, size_t cap);
/* The same with n cuts (a text that holds any of them is not shown). */
void c360kit_excerpt_cuts(const char *in, const char *const *cuts, size_t n, char *out,
                          size_t cap);
/* A string member of an object, or NULL. */
const char *c360kit_str(const json_t *obj, const char *key);
/* A state key "<prefix><id>" into buf. */
void c360kit_key(char *buf, size_t cap, const char *prefix, const char *id);

/* validate_config's sink: each plugin's config parser reports problems
 * through an (arg, JSON Pointer, message) callback, which this forwards to
 * host->config_error of the call:
 *     c360kit_cfg_sink s = {host, call};
 *     parse(json, len, &cfg, c360kit_cfg_error, &s); */
typedef struct c360kit_cfg_sink {
    const c360_host_api *host;
    c360_call *call;
} c360kit_cfg_sink;
void c360kit_cfg_error(void *sink, const char *json_pointer, const char *message);

/* Operator settings from the environment, read once in init. A bad value
 * is the plugin's init error (host->call_error naming the variable), never
 * a silent default. */
/* env's http(s) base URL, or def when unset or empty; trailing slashes cut,
 * no query or fragment, printable ASCII, shorter than max_len (out holds
 * max_len bytes). */
bool c360kit_env_url(const char *env, const char *def, char *out, size_t max_len,
                     c360_call *call, const c360_host_api *h);
/* env's decimal integer in [min, max], or def when unset or empty. */
bool c360kit_env_num(const char *env, long def, long min, long max, uint32_t *out,
                     c360_call *call, const c360_host_api *h);

#endif
