/* audit_entry.h -- one audit entry as stored, and its hash (internal to the
 * audit service: audit.c, audit_verify.c, audit_list.c).
 *
 * The hash of entry n is SHA-256 over this canonical text, every line
 * ended by '\n':
 *     c360-audit-v1
 *     <seq>  <prev_hash>  <ts>  <tenant>  <actor>  <connection>
 *     <action>  <target>  <outcome>  <request_id>  <nonce>
 * (one per line, in that order; numbers in decimal, hashes and the nonce
 * in lower-case hex). The nonce (16 random bytes) makes every entry
 * unique, so an append can tell its own entry, already written by an
 * attempt whose reply was lost, from an identical event someone else
 * wrote in the same millisecond. Fields never contain '\n' (they are printable ASCII), so the text
 * is unambiguous. It is what a verifier in another language must rebuild;
 * the stored JSON is only a container for the same values. */
#ifndef CH_AUDIT_ENTRY_H
#define CH_AUDIT_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit.h"

#define CH_AUDIT_HASH_HEX 64
#define CH_AUDIT_NONCE_HEX 32
/* No valid entry comes near this; longer stored text is refused unread. */
#define CH_AUDIT_ENTRY_MAX 8192

typedef struct ch_audit_rec {
    uint64_t seq;
    int64_t ts;
    char tenant[CH_AUDIT_FIELD_MAX + 1];
    char actor[CH_AUDIT_FIELD_MAX + 1];
    char connection[CH_AUDIT_FIELD_MAX + 1];
    char action[CH_AUDIT_FIELD_MAX + 1];
    char target[CH_AUDIT_FIELD_MAX + 1];
    char outcome[CH_AUDIT_FIELD_MAX + 1];
    char request_id[CH_AUDIT_FIELD_MAX + 1];
    char nonce[CH_AUDIT_NONCE_HEX + 1];
    char prev[CH_AUDIT_HASH_HEX + 1];
    char hash[CH_AUDIT_HASH_HEX + 1];
} ch_audit_rec;

/* The prev_hash of seq 1: 64 zeros. */
extern const char ch_audit_genesis[CH_AUDIT_HASH_HEX + 1];

/* The configured retention (audit.c). */
unsigned ch_audit_retention_days(void);

/* "c360:{t:<tenant>}:audit:<what>" (free it). */
char *ch_audit_key(const char *tenant, const char *what);
/* Reads a {seq, hash} mark (the head or the anchor): *seq 0 and hash ""
 * when the key is absent. Returns 0, -1 if the key holds something an
 * intact mark never does, -2 if Redis failed. */
int ch_audit_read_mark(const char *key, uint64_t *seq, char hash[CH_AUDIT_HASH_HEX + 1]);
/* want lower-case hex digits, exactly. */
int ch_audit_hex_valid(const char *s, size_t len, size_t want);
/* The hash the entry should carry (from its seq, prev and fields). */
void ch_audit_rec_hash(const ch_audit_rec *r, char out[CH_AUDIT_HASH_HEX + 1]);
/* The entry as a JSON object (new reference), stored hash included. */
json_t *ch_audit_rec_json(const ch_audit_rec *r);
/* The stored text: compact JSON, keys in a fixed order (free it). */
char *ch_audit_rec_text(const ch_audit_rec *r);
/* Reads stored text back, checking every field as an append would have.
 * Returns 0, or -1 with the reason in why. */
int ch_audit_rec_parse(const char *text, size_t len, ch_audit_rec *r,
                       char *why, size_t cap);

#endif
