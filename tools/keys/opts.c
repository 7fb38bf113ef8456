/* opts.c -- option parsing, the Redis connection and the keyring of
 * c360-keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "keys_tool.h"
#include "rconn.h"
#include "redis_url.h"
#include "util.h"

volatile sig_atomic_t keys_stop;

static int allowed_has(const char *allowed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = allowed; (p = strstr(p, name)) != NULL; p += n)
        if ((p == allowed || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

static int parse_uint(const char *opt, const char *v, long long min, long long max,
                      unsigned *out)
{
    long long x;
    if (ch_parse_ll(v, min, max, &x) < 0) {
        fprintf(stderr, "c360-keys: %s must be an integer in %lld..%lld\n", opt, min, max);
        return KEYS_USAGE;
    }
    *out = (unsigned)x;
    return KEYS_OK;
}

int keys_parse_opts(int argc, char **argv, int first, const char *allowed, keys_opts *o)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !allowed_has(allowed, a + 2)) {
            fprintf(stderr, "c360-keys: unknown option '%s' here (see c360-keys --help)\n", a);
            return KEYS_USAGE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "c360-keys: %s needs a value\n", a);
            return KEYS_USAGE;
        }
        const char *v = argv[++i];
        int rc = KEYS_OK;
        if (strcmp(a, "--redis") == 0) o->redis = v;
        else if (strcmp(a, "--redis-user") == 0) o->redis_user = v;
        else if (strcmp(a, "--redis-password-file") == 0) o->redis_password_file = v;
        else if (strcmp(a, "--keyring") == 0) o->keyring = v;
        else if (strcmp(a, "--id") == 0) o->id = v;
        else if (strcmp(a, "--batch") == 0) rc = parse_uint(a, v, 1, 10000, &o->batch);
        else if (strcmp(a, "--pause-ms") == 0) rc = parse_uint(a, v, 0, 60000, &o->pause_ms);
        if (rc != KEYS_OK) return rc;
    }
    if (allowed_has(allowed, "redis") && !o->redis) {
        fprintf(stderr, "c360-keys: --redis URL is required\n");
        return KEYS_USAGE;
    }
    return KEYS_OK;
}

/* The password in guarded memory (wiped on free), trailing newline cut. */
static char *load_password(const keys_opts *o, int *failed)
{
    *failed = 0;
    const char *env = getenv("C360_REDIS_PASSWORD");
    if (!o->redis_password_file && !(env && *env)) return NULL;
    char *pw = sodium_malloc(4097);
    if (!pw) abort();
    size_t n = 0;
    if (o->redis_password_file) {
        /* read(2) straight into guarded memory: no stdio buffer keeps a
         * copy of the password after we are done. */
        int fd = open(o->redis_password_file, O_RDONLY | O_CLOEXEC);
        ssize_t r = 0;
        while (fd >= 0 && n < 4097 && (r = read(fd, pw + n, 4097 - n)) > 0) n += (size_t)r;
        int e = errno;
        if (fd >= 0) close(fd);
        if (fd < 0 || r < 0 || n > 4096) {
            fprintf(stderr, "c360-keys: %s: %s\n", o->redis_password_file,
                    n > 4096 ? "longer than 4096 bytes" : strerror(e));
            sodium_free(pw);
            *failed = 1;
            return NULL;
        }
    } else {
        n = strnlen(env, 4096);
        memcpy(pw, env, n);
    }
    while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r')) n--;
    pw[n] = '\0';
    return pw;
}

int keys_connect(const keys_opts *o)
{
    ch_redis_url url;
    char err[256];
    if (ch_redis_url_parse(o->redis, &url, err, sizeof err) < 0) {
        fprintf(stderr, "c360-keys: --redis: %s\n", err);
        return KEYS_USAGE;
    }
    int failed;
    char *pw = load_password(o, &failed);
    if (failed) return KEYS_ERROR;
    ch_rconn_configure(&url, o->redis_user, pw, 10000);
    if (pw) sodium_free(pw);
    redisReply *r = ch_rconn_command("PING");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        fprintf(stderr, "c360-keys: redis %s: %s\n", o->redis,
                !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r) freeReplyObject(r);
    return ok ? KEYS_OK : KEYS_ERROR;
}

ch_keyring *keys_load_keyring(const keys_opts *o)
{
    ch_keyring *kr = NULL;
    char err[512];
    if (ch_keyring_load(o->keyring, NULL, 0, &kr, NULL, err, sizeof err) != CH_OK) {
        fprintf(stderr, "c360-keys: %s\n", o->keyring || getenv("C360_MASTER_KEY")
                                              ? err : "no keyring: give --keyring FILE or set C360_MASTER_KEY");
        return NULL;
    }
    return kr;
}
