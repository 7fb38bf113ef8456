/* c360-keys -- master keyring operations for operators (docs/secrets.md).
 *
 *   generate [--id ID]        print a new key line "<id>:<64 hex>"
 *   list     [--keyring F]    the keyring's ids, active one marked
 *   status   --redis URL ...  secrets per master key id
 *   rotate   --redis URL ...  re-wrap every secret with the active key
 *
 * Exit codes: 0 ok, 1 errors, 2 usage. Key material is printed only by
 * `generate` (that is its job) and never appears in any other output. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "keys_tool.h"
#include "log.h"

static const char usage[] =
    "usage: c360-keys COMMAND [options]\n"
    "\n"
    "  generate [--id ID]\n"
    "      Prints a new random master key line <id>:<64 hex> to add to a keyring\n"
    "      file (id: 1..32 of [A-Za-z0-9_-]; default k<UTC time>, e.g. k20250301T101500Z).\n"
    "  list [--keyring FILE]\n"
    "      Checks a keyring and prints its key ids in order; the last is active.\n"
    "  status --redis URL [--redis-user U] [--redis-password-file F] [--keyring FILE]\n"
    "         [--batch N]\n"
    "      Counts stored secrets per master key id. A key whose count is 0 may be\n"
    "      retired (its line deleted from every keyring).\n"
    "  rotate --redis URL [--redis-user U] [--redis-password-file F] [--keyring FILE]\n"
    "         [--batch N] [--pause-ms M]\n"
    "      Re-wraps every secret not under the active key with it, N secrets per\n"
    "      batch (default 100) with M ms between batches (default 10), while hosts\n"
    "      keep serving: a secret written concurrently is never overwritten.\n"
    "      Safe to interrupt and to run again.\n"
    "\n"
    "The keyring comes from --keyring FILE (mode 0600) or C360_MASTER_KEY; the Redis\n"
    "password from --redis-password-file or C360_REDIS_PASSWORD.\n"
    "Exit codes: 0 ok, 1 errors (some secret not re-wrapped, Redis failed), 2 usage.\n";

static int cmd_generate(const keys_opts *o)
{
    char line[CH_KEYRING_LINE_MAX];
    if (ch_keyring_generate_line(o->id, line, sizeof line) < 0) {
        fprintf(stderr, "c360-keys: --id must be 1..%d of [A-Za-z0-9_-]\n", CH_KEYRING_ID_MAX);
        return KEYS_USAGE;
    }
    fputs(line, stdout);
    sodium_memzero(line, sizeof line);
    return fflush(stdout) == 0 ? KEYS_OK : KEYS_ERROR;
}

static int cmd_list(const keys_opts *o)
{
    ch_keyring *kr = keys_load_keyring(o);
    if (!kr) return KEYS_ERROR;
    for (size_t i = 0; i < ch_keyring_count(kr); i++)
        printf("%s%s\n", ch_keyring_id_at(kr, i),
               i + 1 == ch_keyring_count(kr) ? " (active)" : "");
    ch_keyring_free(kr);
    return KEYS_OK;
}

static void on_signal(int sig)
{
    (void)sig;
    keys_stop = 1;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return KEYS_ERROR;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? KEYS_USAGE : KEYS_OK;
    }
    /* The service logs (a secret that does not open, say) go to stderr as
     * JSON lines; warnings and up are what an operator needs here. */
    ch_log_set_level(CH_LOG_WARN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    keys_opts o = {.batch = 100, .pause_ms = 10};
    const char *cmd = argv[1];
    const char *allowed;
    int (*run)(const keys_opts *);
    if (strcmp(cmd, "generate") == 0) {
        allowed = "id";
        run = cmd_generate;
    } else if (strcmp(cmd, "list") == 0) {
        allowed = "keyring";
        run = cmd_list;
    } else if (strcmp(cmd, "status") == 0) {
        allowed = "redis,redis-user,redis-password-file,keyring,batch";
        run = keys_cmd_status;
    } else if (strcmp(cmd, "rotate") == 0) {
        allowed = "redis,redis-user,redis-password-file,keyring,batch,pause-ms";
        run = keys_cmd_rotate;
    } else {
        fprintf(stderr, "c360-keys: unknown command '%s'\n%s", cmd, usage);
        return KEYS_USAGE;
    }
    int rc = keys_parse_opts(argc, argv, 2, allowed, &o);
    if (rc != KEYS_OK) return rc;
    return run(&o);
}
