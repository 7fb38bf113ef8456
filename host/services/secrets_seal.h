/* secrets_seal.h -- the envelope cryptography of the secrets service, with
 * no I/O (internal to secrets.c and its tests).
 *
 * XChaCha20-Poly1305-IETF throughout: 24-byte random nonces are safe to
 * draw at random for every message, so no nonce state is kept anywhere.
 *
 * Associated data (never stored, rebuilt from where the record is found):
 *   value: "c360/secret/v1/value" NUL tenant NUL connection NUL name
 *   DEK:   "c360/secret/v1/dek"   NUL tenant NUL connection NUL name NUL kid
 * Ids and names never contain NUL (keys.h), so the encoding is unambiguous.
 * The value's AD leaves out the master key id on purpose: rotation
 * re-wraps only the DEK and never touches the value's ciphertext. */
#ifndef CH_SECRETS_SEAL_H
#define CH_SECRETS_SEAL_H

#include <stddef.h>

#define CH_SEAL_NONCE 24
#define CH_SEAL_TAG 16
#define CH_SEAL_DEK 32
#define CH_SEAL_WDEK_LEN (CH_SEAL_NONCE + CH_SEAL_DEK + CH_SEAL_TAG)
#define CH_SEAL_CT_OVERHEAD (CH_SEAL_NONCE + CH_SEAL_TAG)

typedef struct ch_seal_ctx {
    const char *tenant;
    const char *conn;
    const char *name;
} ch_seal_ctx;

/* Draws a fresh DEK, seals value into ct (len + CH_SEAL_CT_OVERHEAD bytes)
 * and wraps the DEK with master key mk (id kid) into wdek
 * (CH_SEAL_WDEK_LEN bytes). The DEK is wiped before returning. */
void ch_seal(const ch_seal_ctx *c, const char *kid, const unsigned char *mk,
             const void *value, size_t len, unsigned char *ct, unsigned char *wdek);

/* Wraps dek with mk (id kid) into wdek (CH_SEAL_WDEK_LEN bytes). */
void ch_seal_wrap(const ch_seal_ctx *c, const char *kid, const unsigned char *mk,
                  const unsigned char *dek, unsigned char *wdek);

/* Unwraps wdek (CH_SEAL_WDEK_LEN bytes) into dek (CH_SEAL_DEK bytes).
 * Returns 0, or -1 if it does not authenticate (wrong key, wrong scope,
 * edited kid, tampering); dek is then zeroed. */
int ch_seal_unwrap(const ch_seal_ctx *c, const char *kid, const unsigned char *mk,
                   const unsigned char *wdek, unsigned char *dek);

/* Opens ct (ctlen >= CH_SEAL_CT_OVERHEAD) with dek into out
 * (ctlen - CH_SEAL_CT_OVERHEAD bytes). Returns 0, or -1 (out wiped). */
int ch_seal_open(const ch_seal_ctx *c, const unsigned char *dek, const unsigned char *ct,
                 size_t ctlen, unsigned char *out);

#endif
