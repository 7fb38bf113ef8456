/* secrets.h -- a connection's secrets, sealed at rest (docs/secrets.md).
 *
 * Envelope encryption with XChaCha20-Poly1305-IETF (libsodium):
 *   - every write draws a fresh random 32-byte data key (DEK) and seals the
 *     value with it;
 *   - the DEK is sealed ("wrapped") with the keyring's active master key,
 *     and the master key's id is stored next to it;
 *   - the associated data binds the value to (tenant, connection, name), and
 *     the wrapped DEK to (tenant, connection, name, master key id): a sealed
 *     record copied to another connection's or name's key, or with its key id
 *     edited, does not open.
 *
 * Storage: one Redis hash per secret,
 *     c360:{t:<tenant>}:secret:<connection>:<name>
 * with fields  v    format version ("1")
 *              kid  id of the master key that wrapped the DEK
 *              wdek nonce(24) || sealed DEK (32 + 16)
 *              ct   nonce(24) || sealed value (len + 16)
 * and per connection an index of its secrets' names and write times,
 *     c360:{t:<tenant>}:secretidx:<connection>   hash name -> last write
 *                                                (Unix ms)
 * (what the admin API lists: names and times, never values), both written
 * by one script (atomic), read with one HMGET.
 *
 * Rotation: ch_secret_rewrap re-wraps a secret's DEK with the active key
 * (the value's ciphertext is untouched) and writes it back only if the
 * stored wdek is still the one it read (a Lua compare-and-set), so a
 * concurrent put always wins. c360-keys rotate drives it over every secret.
 *
 * Plaintext (values and DEKs) is never logged, never put in an error
 * message, and wiped as soon as a call is done with it; values handed out
 * live in guarded memory (sodium_malloc) until ch_secret_value_free.
 *
 * All calls block on Redis (rconn.h) and are thread-safe. err (may be
 * NULL) receives a reason fit for operators; it never holds secret data. */
#ifndef CH_SECRETS_H
#define CH_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"
#include "keyring.h"
#include "keys.h"

/* Sets the keyring the service seals and opens with (NULL: none; calls then
 * fail with C360_EUNSUPPORTED). Returns the previous keyring: once this
 * returns no call uses it any more, so the caller may free it -- this is
 * how a reloaded keyring is swapped in while the host keeps serving. The
 * caller keeps kr alive until it is replaced. */
const ch_keyring *ch_secrets_init(const ch_keyring *kr);

/* Seals and stores value (len bytes, binary; 0 allowed: an empty secret is
 * a legitimate value). C360_EINVAL for a bad tenant/connection id or name,
 * C360_ETOOBIG above ch_svc_limits_current.secret_max_value, C360_EIO when
 * Redis fails. */
int32_t ch_secret_put(const char *tenant, const char *conn, const char *name,
                      const void *value, size_t len, char *err, size_t errcap);

/* Opens a secret. On C360_OK *value is guarded memory (release it with
 * ch_secret_value_free), NUL-terminated, *len bytes not counting the NUL.
 *   C360_ENOTFOUND  no such secret
 *   C360_EAUTH      it does not open: sealed for another tenant, connection
 *                   or name, or tampered with (or a malformed record)
 *   C360_EIO        Redis failed, the key holds another type, the record has
 *                   a newer format version, or it was wrapped with a master
 *                   key not in this host's keyring (the message names the
 *                   key id: an operator retired it too early, or this host
 *                   has not been given it yet) -- all retryable once fixed
 *   C360_EINVAL     bad tenant, connection or name */
int32_t ch_secret_get(const char *tenant, const char *conn, const char *name,
                      uint8_t **value, size_t *len, char *err, size_t errcap);

/* Wipes and frees a value from ch_secret_get (NULL is fine). */
void ch_secret_value_free(void *value);

/* C360_OK whether or not the secret existed. */
int32_t ch_secret_delete(const char *tenant, const char *conn, const char *name,
                         char *err, size_t errcap);

/* The connection's secrets, from its index: names and update times, sorted
 * by name. *out (release with free) holds *n entries. Never a value. */
typedef struct ch_secret_info {
    char name[CH_NAME_MAX + 1];
    int64_t updated_ms;
} ch_secret_info;
int32_t ch_secret_list(const char *tenant, const char *conn, ch_secret_info **out, size_t *n,
                       char *err, size_t errcap);

/* Deletes every secret of one connection (SCAN MATCH on its key prefix,
 * then DEL page by page); used when a connection is disconnected.
 * *deleted (may be NULL) counts the keys removed. */
int32_t ch_secret_delete_connection(const char *tenant, const char *conn, size_t *deleted,
                                    char *err, size_t errcap);

/* The id of the master key that wrapped a secret, into kid (at least
 * CH_KEYRING_ID_MAX + 1 bytes). C360_ENOTFOUND if absent, C360_EAUTH if the
 * stored id is malformed. */
int32_t ch_secret_kid(const char *tenant, const char *conn, const char *name, char *kid,
                      size_t kidcap, char *err, size_t errcap);

typedef enum {
    CH_REWRAP_DONE = 0,    /* re-wrapped with the active key */
    CH_REWRAP_CURRENT = 1, /* already under the active key: nothing to do */
    CH_REWRAP_GONE = 2,    /* no such secret: nothing to do */
    CH_REWRAP_SUPERSEDED = 3 /* a concurrent write replaced (or deleted) it
                                between read and write-back; the write-back
                                was refused and the new version needs none */
} ch_rewrap_outcome;

/* Re-wraps one secret's DEK with the active master key. Retries a few
 * times when a concurrent write changed the secret between read and
 * write-back (that write already used the writer's active key); returns
 * C360_ECONFLICT if it kept changing. Other errors as ch_secret_get. */
int32_t ch_secret_rewrap(const char *tenant, const char *conn, const char *name,
                         ch_rewrap_outcome *outcome, char *err, size_t errcap);

/* The write-back step of ch_secret_rewrap, exposed for tests: sets the
 * secret at Redis key `key` to (kid, new_wdek) only if its stored wdek is
 * still old_wdek (both CH_SEAL_WDEK_LEN = 72 bytes). *written = 1 if it
 * was written, 0 if refused. C360_EIO on a Redis failure or a key of
 * another type. */
int32_t ch_secret_rewrap_cas(const char *key, const unsigned char *old_wdek, const char *kid,
                             const unsigned char *new_wdek, int *written, char *err,
                             size_t errcap);

/* Calls fn for each stored secret, in SCAN order (a secret written during
 * the walk may or may not be visited; one present throughout is visited at
 * least once). tenant/conn NULL: every tenant / connection. batch is the
 * SCAN COUNT hint (0: 100). fn returns 0 to go on, non-zero to stop.
 * Redis keys under the pattern that are not well-formed secret keys (a
 * state key named to look like one, say) are skipped and counted in
 * *foreign (may be NULL). */
typedef int (*ch_secret_visit_fn)(const char *tenant, const char *conn, const char *name,
                                  void *arg);
int32_t ch_secrets_foreach(const char *tenant, const char *conn, unsigned batch,
                           ch_secret_visit_fn fn, void *arg, size_t *foreign, char *err,
                           size_t errcap);

/* Splits a secret's Redis key into its parts (buffers of CH_ID_MAX + 1,
 * CH_ID_MAX + 1 and CH_NAME_MAX + 1 bytes). Returns 0, or -1 if key is not
 * a well-formed secret key. */
int ch_secret_key_parse(const char *key, size_t len, char *tenant, char *conn, char *name);

#endif
