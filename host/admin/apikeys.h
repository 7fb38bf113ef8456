/* apikeys.h -- API keys of the admin API (apikeys.c).
 *
 * A key is shown once, at creation: "c360k_<id>_<secret>", id 16 hex
 * characters, secret 43 characters of base64url (256 random bits). Only a
 * keyed hash of the secret is stored: HMAC-SHA256 under a key derived from
 * the keyring's current key (crypto_kdf, context "c360apik"), with that
 * key's id, so a stolen Redis dump does not yield usable keys.
 *
 *   c360:{auth}:key:<id>        hash: name, role, tenant, hash, kid,
 *                               created_ms, created_by, last_used_ms,
 *                               revoked_ms (absent while valid)
 *   c360:{auth}:keys            set of every key id
 *   c360:{auth}:tkeys:<tenant>  set of the tenant's key ids
 *
 * Functions BLOCK on Redis: admin threads (and c360d's start-up) only. */
#ifndef CH_APIKEYS_H
#define CH_APIKEYS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"

struct ch_keyring;

#define CH_APIKEY_TEXT_MAX 80   /* "c360k_" + 16 + "_" + 43 + NUL fits */
#define CH_APIKEY_NAME_MAX 100

/* Makes the keyring available (c360d start-up; NULL detaches). */
void ch_apikeys_init(const struct ch_keyring *kr);
/* A 32-byte key for the admin API's own keyed hashes, derived from the
 * keyring's active key under an 8-character context (crypto_kdf). -1 when
 * no keyring is set. */
int ch_admin_derive_key(const char ctx[8], unsigned char out[32]);

typedef struct ch_apikey_info {
    char id[CH_ID_MAX + 1];
    char name[CH_APIKEY_NAME_MAX + 1];
    ch_role role;
    char tenant[CH_ID_MAX + 1];     /* "" for operator keys */
    char created_by[CH_ID_MAX + 8];
    int64_t created_ms;
    int64_t last_used_ms;           /* 0 = never */
    int64_t revoked_ms;             /* 0 = valid */
} ch_apikey_info;

/* Creates a key; text[CH_APIKEY_TEXT_MAX] receives the only copy of the
 * secret key text. tenant must be "" for CH_ROLE_OPERATOR and a tenant id
 * otherwise (the caller checked it exists). */
int32_t ch_apikey_create(const char *name, ch_role role, const char *tenant,
                         const char *created_by, ch_apikey_info *info,
                         char *text);
/* Checks a presented key text. C360_OK with *who filled (and last-used
 * updated at most once a minute); C360_EAUTH for an unknown, malformed or
 * revoked key; C360_EIO when Redis failed. Constant-time in the secret. */
int32_t ch_apikey_verify(const char *text, ch_principal *who);
int32_t ch_apikey_get(const char *id, ch_apikey_info *out);
/* Keys of one tenant ("" = operator keys), sorted by id, as JSON objects
 * (ch_apikey_to_json). */
int32_t ch_apikey_list(const char *tenant, json_t **items);
json_t *ch_apikey_to_json(const ch_apikey_info *k);
/* Revokes (kept for audit, never valid again). */
int32_t ch_apikey_revoke(const char *id);
/* Deletes every key of a tenant (tenant deletion). */
int32_t ch_apikey_delete_tenant(const char *tenant);
/* Start-up: when no valid operator key exists, creates one and writes its
 * text to path (mode 0600, written to a temporary file and renamed over
 * whatever was there: it only happens when no valid operator key exists,
 * so an older file holds nothing usable). *created is 1 when it did. */
int32_t ch_apikey_bootstrap(const char *path, int *created);

#endif
