/* keys_tool.h -- shared parts of c360-keys (options, Redis, keyring). */
#ifndef C360_KEYS_TOOL_H
#define C360_KEYS_TOOL_H

#include <signal.h>

#include "keyring.h"

/* Exit codes (documented in the usage text). */
enum { KEYS_OK = 0, KEYS_ERROR = 1, KEYS_USAGE = 2 };

typedef struct keys_opts {
    const char *redis;               /* redis://host:port[/db] or unix:///path */
    const char *redis_user;
    const char *redis_password_file; /* else C360_REDIS_PASSWORD, else none */
    const char *keyring;             /* else C360_MASTER_KEY */
    const char *id;                  /* generate --id */
    unsigned batch;                  /* secrets per SCAN page and per pause */
    unsigned pause_ms;               /* sleep between batches (rotate) */
} keys_opts;

/* Set by SIGINT/SIGTERM: long walks stop after the secret in hand. */
extern volatile sig_atomic_t keys_stop;

/* Parses argv[first..] into o. `allowed` lists the options the command
 * takes, e.g. "redis,keyring,batch". Returns KEYS_OK or KEYS_USAGE (with a
 * message on stderr). */
int keys_parse_opts(int argc, char **argv, int first, const char *allowed, keys_opts *o);

/* Points the service connections at o->redis and checks it answers.
 * Returns KEYS_OK, KEYS_USAGE (bad URL) or KEYS_ERROR. */
int keys_connect(const keys_opts *o);

/* The keyring from --keyring, else C360_MASTER_KEY; NULL (message on
 * stderr) if neither works. */
ch_keyring *keys_load_keyring(const keys_opts *o);

int keys_cmd_status(const keys_opts *o);
int keys_cmd_rotate(const keys_opts *o);

#endif
