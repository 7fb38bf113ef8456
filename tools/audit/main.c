/* c360-audit -- the operator's view of the tenants' audit logs.
 *
 *   c360-audit [connection options] verify --tenant T [--json]
 *   c360-audit [connection options] list   --tenant T [--actor A] [--action A]
 *                                  [--since TIME] [--until TIME] [--limit N] [--json]
 *   c360-audit [connection options] trim   --tenant T [--older-than-days N]
 *
 * Connection: --config FILE (c360d's configuration: redis.url, username,
 * password_file, audit.retention_days), or --redis URL, --redis-user U,
 * --redis-password-file F (else C360_REDIS_PASSWORD). Flags win.
 * TIME: Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).
 *
 * Exit status: 0 done (verify: the chain is intact), 1 verify found a
 * broken chain, 2 bad usage or configuration, 3 Redis failed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "config.h"
#include "connector_api.h"
#include "keys.h"
#include "rconn.h"
#include "redis_url.h"
#include "util.h"

#define EXIT_BROKEN 1
#define EXIT_USAGE 2
#define EXIT_IO 3
#define DAY_MS 86400000LL

typedef struct opts {
    const char *cmd, *tenant, *config, *redis, *user, *password_file;
    const char *actor, *action, *since, *until;
    long long limit, older_than_days;
    int json;
} opts;

static void usage(FILE *f)
{
    fputs("usage: c360-audit [--config FILE | --redis URL [--redis-user U] [--redis-password-file F]]\n"
          "                  verify --tenant T [--json]\n"
          "                | list --tenant T [--actor A] [--action A] [--since TIME] [--until TIME]\n"
          "                       [--limit N] [--json]\n"
          "                | trim --tenant T [--older-than-days N]\n"
          "TIME: Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).\n"
          "Exit: 0 ok/intact, 1 chain broken, 2 usage or config error, 3 Redis error.\n",
          f);
}

static int die(const char *msg, const char *detail)
{
    fprintf(stderr, "c360-audit: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
    return EXIT_USAGE;
}

static int parse_time(const char *s, int64_t *out)
{
    long long ms;
    if (ch_parse_ll(s, 0, INT64_MAX / 2, &ms) == 0) {
        *out = ms;
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, n = -1;
    struct tm tm = {0};
    if (!(sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == (int)strlen(s))) {
        n = -1;
        if (!(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6 &&
              n == (int)strlen(s)))
            return -1;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) return -1;
    *out = (int64_t)t * 1000;
    return 0;
}

static void iso(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static int connect_redis(const opts *o, unsigned *retention_days)
{
    ch_redis_url url;
    char err[256];
    char *user = NULL, *pwfile = NULL;
    *retention_days = 0;
    int have_url = 0;
    if (o->config) {
        ch_config *cfg = NULL;
        if (ch_config_load(o->config, NULL, "/nonexistent", &cfg, err, sizeof err) != CH_OK)
            return die("configuration refused", err);
        if (!cfg->redis_dev) {
            url = cfg->redis;
            have_url = 1;
        }
        user = cfg->redis_username ? ch_strdup(cfg->redis_username) : NULL;
        pwfile = cfg->redis_password_file ? ch_strdup(cfg->redis_password_file) : NULL;
        *retention_days = (unsigned)cfg->audit_retention_days;
        ch_config_free(cfg);
    }
    if (o->redis) {
        if (ch_redis_url_parse(o->redis, &url, err, sizeof err) != 0) return die("--redis", err);
        have_url = 1;
    }
    if (o->user) { free(user); user = ch_strdup(o->user); }
    if (o->password_file) { free(pwfile); pwfile = ch_strdup(o->password_file); }
    if (!have_url) {
        /* c360d's development default runs a private Redis whose socket
         * only it knows: the operator has to say where Redis is. */
        free(user);
        free(pwfile);
        return die("no Redis to talk to: pass --redis URL or a --config with redis.url", NULL);
    }
    char *pw = NULL;
    if (pwfile) {
        size_t len;
        pw = ch_read_file(pwfile, 4096, &len);
        if (!pw) {
            free(user);
            free(pwfile);
            return die("cannot read the Redis password file", NULL);
        }
        while (len && (pw[len - 1] == '\n' || pw[len - 1] == '\r')) pw[--len] = '\0';
    } else if (getenv("C360_REDIS_PASSWORD") && *getenv("C360_REDIS_PASSWORD")) {
        pw = ch_strdup(getenv("C360_REDIS_PASSWORD"));
    }
    ch_rconn_configure(&url, user, pw, 5000);
    if (pw) {
        sodium_memzero(pw, strlen(pw));
        free(pw);
    }
    free(user);
    free(pwfile);
    return 0;
}

static int cmd_verify(const opts *o)
{
    ch_audit_verify_result res;
    int32_t st = ch_audit_verify(o->tenant, &res);
    if (st != C360_OK) {
        fprintf(stderr, "c360-audit: verify failed: %s (%s)\n", c360_strstatus(st), ch_rconn_error());
        return st == C360_EINVAL ? EXIT_USAGE : EXIT_IO;
    }
    if (o->json) {
        json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:I}", "tenant", o->tenant, "intact", res.intact,
                              "checked", (json_int_t)res.checked, "first_seq", (json_int_t)res.first_seq,
                              "last_seq", (json_int_t)res.last_seq);
        if (!res.intact) {
            json_object_set_new(j, "bad_seq", json_integer((json_int_t)res.bad_seq));
            json_object_set_new(j, "problem", json_string(res.problem));
        }
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(j);
    } else if (res.intact) {
        printf("intact: tenant %s, %" PRIu64 " entries (seq %" PRIu64 "..%" PRIu64 ")\n", o->tenant,
               res.checked, res.first_seq, res.last_seq);
    } else {
        printf("BROKEN: tenant %s, first broken entry seq %" PRIu64 ": %s\n", o->tenant, res.bad_seq,
               res.problem);
    }
    return res.intact ? 0 : EXIT_BROKEN;
}

static int cmd_list(const opts *o)
{
    ch_audit_query q = {.actor = o->actor, .action = o->action};
    if (o->since && parse_time(o->since, &q.since_ms) < 0) return die("--since: not a time", o->since);
    if (o->until && parse_time(o->until, &q.until_ms) < 0) return die("--until: not a time", o->until);
    long long left = o->limit;
    do {
        q.limit = left > 1000 ? 1000 : (uint32_t)left;
        json_t *arr;
        uint64_t next;
        int32_t st = ch_audit_list(o->tenant, &q, &arr, &next);
        if (st != C360_OK) {
            fprintf(stderr, "c360-audit: list failed: %s\n", c360_strstatus(st));
            return st == C360_EINVAL ? EXIT_USAGE : EXIT_IO;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e) {
            if (o->json) {
                char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
                puts(s);
                free(s);
            } else {
                char when[32];
                iso(json_integer_value(json_object_get(e, "ts")), when);
                const char *conn = json_string_value(json_object_get(e, "connection"));
                const char *req = json_string_value(json_object_get(e, "request_id"));
                printf("%" JSON_INTEGER_FORMAT "  %s  %s  %s  %s  %s%s%s%s%s\n",
                       json_integer_value(json_object_get(e, "seq")), when,
                       json_string_value(json_object_get(e, "actor")),
                       json_string_value(json_object_get(e, "action")),
                       json_string_value(json_object_get(e, "target")),
                       json_string_value(json_object_get(e, "outcome")), conn && *conn ? "  conn=" : "",
                       conn && *conn ? conn : "", req && *req ? "  req=" : "", req && *req ? req : "");
            }
        }
        left -= (long long)json_array_size(arr);
        json_decref(arr);
        q.cursor = next;
    } while (q.cursor && left > 0);
    return 0;
}

static int cmd_trim(const opts *o, unsigned retention_days)
{
    long long days = o->older_than_days >= 0 ? o->older_than_days : (long long)retention_days;
    if (days <= 0) return die("trim needs --older-than-days N (or audit.retention_days via --config)", NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    uint64_t removed = 0;
    int32_t st = ch_audit_trim(o->tenant, now - days * DAY_MS, &removed);
    printf("removed %" PRIu64 " entries older than %lld days from tenant %s\n", removed, days, o->tenant);
    if (st == C360_ERROR) {
        fprintf(stderr, "c360-audit: stopped at a broken entry; run c360-audit verify --tenant %s\n",
                o->tenant);
        return EXIT_BROKEN;
    }
    if (st != C360_OK) {
        fprintf(stderr, "c360-audit: trim failed: %s\n", c360_strstatus(st));
        return EXIT_IO;
    }
    return 0;
}

static int num(const char *flag, const char *v, long long min, long long max, long long *out)
{
    if (!v || ch_parse_ll(v, min, max, out) != 0) {
        fprintf(stderr, "c360-audit: %s wants an integer in [%lld, %lld]\n", flag, min, max);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {.limit = 100, .older_than_days = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(a, "--json") == 0) { o.json = 1; continue; }
        if (strcmp(a, "--tenant") == 0) slot = &o.tenant;
        else if (strcmp(a, "--config") == 0) slot = &o.config;
        else if (strcmp(a, "--redis") == 0) slot = &o.redis;
        else if (strcmp(a, "--redis-user") == 0) slot = &o.user;
        else if (strcmp(a, "--redis-password-file") == 0) slot = &o.password_file;
        else if (strcmp(a, "--actor") == 0) slot = &o.actor;
        else if (strcmp(a, "--action") == 0) slot = &o.action;
        else if (strcmp(a, "--since") == 0) slot = &o.since;
        else if (strcmp(a, "--until") == 0) slot = &o.until;
        else if (strcmp(a, "--limit") == 0) {
            if (num(a, v, 1, 1000000, &o.limit) < 0) return EXIT_USAGE;
            i++;
            continue;
        } else if (strcmp(a, "--older-than-days") == 0) {
            if (num(a, v, 1, 36500, &o.older_than_days) < 0) return EXIT_USAGE;
            i++;
            continue;
        } else if (a[0] != '-' && !o.cmd) {
            o.cmd = a;
            continue;
        } else {
            fprintf(stderr, "c360-audit: unknown argument %s\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
        if (!v) return die("missing value for", a);
        *slot = v;
        i++;
    }
    if (!o.cmd) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!ch_id_valid(o.tenant)) return die("--tenant wants a tenant id ([A-Za-z0-9_-], 1..64)", o.tenant);
    if (strcmp(o.cmd, "verify") != 0 && strcmp(o.cmd, "list") != 0 && strcmp(o.cmd, "trim") != 0)
        return die("unknown command", o.cmd);
    if (sodium_init() < 0) return die("libsodium failed to initialise", NULL);
    unsigned retention;
    int rc = connect_redis(&o, &retention);
    if (rc) return rc;
    if (strcmp(o.cmd, "verify") == 0) rc = cmd_verify(&o);
    else if (strcmp(o.cmd, "list") == 0) rc = cmd_list(&o);
    else rc = cmd_trim(&o, retention);
    ch_rconn_shutdown();
    return rc;
}
