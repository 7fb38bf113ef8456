/* keyring.h -- the master keys that seal secrets (see docs/secrets.md).
 *
 * A keyring is an ordered list of named 32-byte keys. The LAST key is the
 * active one: new secrets are wrapped with it. Older keys stay listed only to
 * open what they wrapped until `c360-keys rotate` has re-wrapped it; an
 * operator retires a key by deleting its line once `c360-keys status`
 * counts 0 secrets under it.
 *
 * Text format (a file, or C360_MASTER_KEY):
 *
 *     # comment lines and blank lines are ignored
 *     <key-id>:<64 hex characters>      one key per line
 *
 *   - key ids are 1..32 of [A-Za-z0-9_-], unique within the keyring;
 *   - a bare 64-hex line (the format of the first development keys) is the
 *     key "k0";
 *   - spaces and tabs around a line, and a trailing '\r', are ignored;
 *   - in C360_MASTER_KEY, entries are separated by commas (or newlines),
 *     and a bare 64-hex value is again "k0".
 *
 * Where the keyring comes from (ch_keyring_load): master_key_file, else
 * C360_MASTER_KEY, else -- development default only -- data_dir/master.key,
 * created mode 0600 with one generated key if absent. A key file that group
 * or others may read is refused.
 *
 * Keys and ids live in one sodium_malloc'd block (guard pages, mlock'd,
 * wiped on free) that is read-only once built, so a stray write cannot
 * corrupt a key. Parse errors name the line and never quote key material.
 * A keyring is immutable after load and safe to share between threads. */
#ifndef CH_KEYRING_H
#define CH_KEYRING_H

#include <stddef.h>

#include "err.h"

#define CH_KEYRING_KEY_BYTES 32
#define CH_KEYRING_ID_MAX 32
#define CH_KEYRING_MAX_KEYS 256
#define CH_KEYRING_TEXT_MAX (64 * 1024) /* bounded input: a file or env value */
/* "<id>:<64 hex>\n" plus NUL: the size of a buffer for ch_keyring_line. */
#define CH_KEYRING_LINE_MAX (CH_KEYRING_ID_MAX + 1 + 2 * CH_KEYRING_KEY_BYTES + 2)

typedef struct ch_keyring ch_keyring;

typedef enum {
    CH_KEY_FROM_FILE,      /* master_key_file */
    CH_KEY_FROM_ENV,       /* C360_MASTER_KEY */
    CH_KEY_DEV_GENERATED,  /* development default: data_dir/master.key created now */
    CH_KEY_DEV_FILE        /* development default: data_dir/master.key existed */
} ch_key_origin;

/* 1 if id is 1..32 of [A-Za-z0-9_-]. */
int ch_keyring_id_valid(const char *id);

/* Parses keyring text of len bytes (need not be NUL-terminated). env_form
 * allows ',' as a separator as well as '\n'. `what` names the source in
 * messages ("master key file /x", "C360_MASTER_KEY"). Returns CH_OK and a
 * keyring, or CH_ECONFIG with a reason in err. */
ch_err ch_keyring_parse(const char *text, size_t len, int env_form, const char *what,
                        ch_keyring **out, char *err, size_t errcap);

/* Reads a keyring file: a regular file of mode 0600 or stricter (a file
 * readable or writable by group or others is refused), at most
 * CH_KEYRING_TEXT_MAX bytes. */
ch_err ch_keyring_load_file(const char *path, ch_keyring **out, char *err, size_t errcap);

/* The daemon's (and the tools') order: file if non-NULL, else
 * C360_MASTER_KEY, else if dev: data_dir/master.key (created if absent).
 * origin may be NULL. */
ch_err ch_keyring_load(const char *file, const char *data_dir, int dev, ch_keyring **out,
                       ch_key_origin *origin, char *err, size_t errcap);

void ch_keyring_free(ch_keyring *kr);

size_t ch_keyring_count(const ch_keyring *kr);
/* The id of the i-th key in file order (i < count). */
const char *ch_keyring_id_at(const ch_keyring *kr, size_t i);
/* The active (last) key's id. */
const char *ch_keyring_active_id(const ch_keyring *kr);
/* The key with this id (CH_KEYRING_KEY_BYTES bytes of read-only guarded
 * memory, valid until ch_keyring_free), or NULL if the keyring lacks it. */
const unsigned char *ch_keyring_key(const ch_keyring *kr, const char *id);

/* A fresh random key as a keyring line "<id>:<hex>\n" in out (at least
 * CH_KEYRING_LINE_MAX bytes; the caller wipes it). id NULL: "k" followed by
 * the UTC time, e.g. k20250301T101500Z. Returns 0, or -1 on a bad id. */
int ch_keyring_generate_line(const char *id, char *out, size_t outcap);

#endif
