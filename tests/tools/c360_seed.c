/* c360_seed.c -- c360-seed: creates tenants' connections and routes for the
 * pipeline tests and benchmarks, through the connection registry itself
 * (host/pipeline/conns.h), so what it writes is exactly what the admin API
 * would write: the same hash fields, indexes, schedule membership, change
 * notifications and audit entries.
 *
 *   c360-seed [--redis URL] conn   TENANT ID PLUGIN CONFIG [--interval S]
 *                                  [--state STATE] [--ticks 0|1]
 *   c360-seed [--redis URL] bulk   TENANT PREFIX COUNT PLUGIN CONFIG
 *                                  [--interval S] [--ticks 0|1]
 *                                  (connections PREFIX0 .. PREFIX<COUNT-1>)
 *   c360-seed [--redis URL] route  TENANT SRC DST [--remove]
 *   c360-seed [--redis URL] state  TENANT ID STATE [--cause TEXT]
 *   c360-seed [--redis URL] get    TENANT ID       (prints the connection
 *                                                   as one JSON line)
 *   c360-seed [--redis URL] rm     TENANT ID       (purges the connection)
 *   c360-seed [--redis URL] dlq    TENANT [--conn C] [--kind ev|dl]
 *                                  [--why W]       (lists dead letters: the
 *                                                   first page, one JSON line)
 *   c360-seed [--redis URL] dlq-replay TENANT [--id ID | --conn C --kind K
 *                                  --why W]        (replays dead letters
 *                                                   through dlq.h; prints
 *                                                   "replayed N")
 *
 * CONFIG is JSON text, or @FILE. It is checked to be a JSON object, not
 * validated against the plugin: the tool loads no plugin (that is what
 * validate_config in the admin API is for; tests give configs they know to
 * be valid). --ticks says whether the plugin ticks (C360_CAP_SOURCE_TICK),
 * which decides schedule membership; without it, a connection ticks when
 * --interval is above 0. The Redis password, if any, comes from
 * C360_REDIS_PASSWORD (never from the command line). Exit 0 on success,
 * 1 when the registry refused or failed (the status is printed), 2 on
 * usage errors. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connector_api.h"
#include "conns.h"
#include "dlq.h"
#include "log.h"
#include "rconn.h"
#include "redis_url.h"

#define SEED_ACTOR "admin:c360-seed"
#define SEED_BULK_MAX 1000000

static void usage(void)
{
    fputs("usage: c360-seed [--redis URL] conn TENANT ID PLUGIN CONFIG [--interval S] [--state STATE] [--ticks 0|1]\n"
          "       c360-seed [--redis URL] bulk TENANT PREFIX COUNT PLUGIN CONFIG [--interval S] [--ticks 0|1]\n"
          "       c360-seed [--redis URL] route TENANT SRC DST [--remove]\n"
          "       c360-seed [--redis URL] state TENANT ID STATE [--cause TEXT]\n"
          "       c360-seed [--redis URL] get TENANT ID\n"
          "       c360-seed [--redis URL] rm TENANT ID\n"
          "       c360-seed [--redis URL] dlq TENANT [--conn C] [--kind ev|dl] [--why W]\n"
          "       c360-seed [--redis URL] dlq-replay TENANT [--id ID | --conn C --kind K --why W]\n"
          "CONFIG: JSON text or @FILE\n",
          stderr);
    exit(2);
}

static long parse_long(const char *what, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "c360-seed: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

/* The config text: checked to be a JSON object, re-serialised compactly so
 * the stored text does not depend on the caller's quoting or whitespace. */
static char *load_config(const char *arg)
{
    json_error_t jerr;
    json_t *doc = arg[0] == '@' ? json_load_file(arg + 1, JSON_REJECT_DUPLICATES, &jerr)
                                : json_loads(arg, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        fprintf(stderr, "c360-seed: config is not a JSON object: %s\n",
                doc ? "another JSON value" : jerr.text);
        json_decref(doc);
        exit(2);
    }
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!s) abort();
    return s;
}

static int report(const char *what, int32_t st)
{
    if (st == C360_OK) return 0;
    fprintf(stderr, "c360-seed: %s: %s\n", what, c360_strstatus(st));
    return 1;
}

typedef struct opts {
    long interval_s;
    int ticks;          /* -1: interval_s > 0 */
    const char *state, *cause;
    int remove;
    const char *dlq_id;
    ch_dlq_filter f;
} opts;

/* Options after the positional arguments of a command. */
static void parse_opts(int argc, char **argv, int i, opts *o)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--interval") == 0 && v) { o->interval_s = parse_long("interval", v, 0, 86400 * 365); i++; }
        else if (strcmp(a, "--ticks") == 0 && v) { o->ticks = (int)parse_long("ticks", v, 0, 1); i++; }
        else if (strcmp(a, "--state") == 0 && v) { o->state = v; i++; }
        else if (strcmp(a, "--cause") == 0 && v) { o->cause = v; i++; }
        else if (strcmp(a, "--remove") == 0) o->remove = 1;
        else if (strcmp(a, "--conn") == 0 && v) { o->f.conn = v; i++; }
        else if (strcmp(a, "--kind") == 0 && v) { o->f.kind = v; i++; }
        else if (strcmp(a, "--why") == 0 && v) { o->f.why = v; i++; }
        else if (strcmp(a, "--id") == 0 && v) { o->dlq_id = v; i++; }
        else { fprintf(stderr, "c360-seed: unknown option %s\n", a); usage(); }
    }
}

static int32_t put_conn(const char *tenant, const char *id, const char *plugin,
                        const char *config, const opts *o, uint64_t *version, int *created)
{
    ch_conn_spec spec = {
        .tenant = tenant,
        .id = id,
        .plugin = plugin,
        .config = config,
        .config_len = strlen(config),
        .interval_s = (uint32_t)o->interval_s,
        .state = o->state,
        .cause = o->cause,
        .ticks = o->ticks >= 0 ? o->ticks : o->interval_s > 0,
    };
    return ch_conn_put(&spec, SEED_ACTOR, NULL, version, created);
}

static int cmd_get(const char *tenant, const char *id)
{
    ch_conn *c = NULL;
    int32_t st = ch_conn_get(tenant, id, &c);
    if (st != C360_OK) return report("get", st);
    json_t *cfg = json_loads(c->config, 0, NULL);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:b,s:I,s:I,s:I}",
                          "tenant", c->tenant, "id", c->id, "plugin", c->plugin,
                          "state", c->state, "cause", c->cause,
                          "config", cfg ? cfg : json_string(c->config),
                          "interval_s", (json_int_t)c->interval_s, "ticks", c->ticks,
                          "version", (json_int_t)c->version,
                          "created_ms", (json_int_t)c->created_ms,
                          "updated_ms", (json_int_t)c->updated_ms);
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(j);
    ch_conn_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *redis = "redis://127.0.0.1:6379";
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--redis") == 0) { redis = argv[i + 1]; i += 2; }
    if (i >= argc) usage();
    const char *cmd = argv[i++];

    ch_redis_url url;
    char err[256];
    if (ch_redis_url_parse(redis, &url, err, sizeof err) != 0) {
        fprintf(stderr, "c360-seed: --redis: %s\n", err);
        return 2;
    }
    /* The registry logs its own failures; the tool's output is its exit
     * status and the one line per failure below. */
    ch_log_set_level(CH_LOG_WARN);
    if (ch_rconn_configure(&url, NULL, getenv("C360_REDIS_PASSWORD"), 5000) != CH_OK) {
        fprintf(stderr, "c360-seed: cannot configure redis\n");
        return 1;
    }

    opts o = {.ticks = -1};
    int rc;
    if (strcmp(cmd, "conn") == 0) {
        if (argc - i < 4) usage();
        parse_opts(argc, argv, i + 4, &o);
        if (o.state && !ch_conn_state_valid(o.state)) {
            fprintf(stderr, "c360-seed: unknown state %s\n", o.state);
            return 2;
        }
        char *config = load_config(argv[i + 3]);
        uint64_t ver = 0;
        int created = 0;
        rc = report("conn", put_conn(argv[i], argv[i + 1], argv[i + 2], config, &o, &ver, &created));
        if (!rc) printf("%s %s/%s version %" PRIu64 "\n", created ? "created" : "updated",
                        argv[i], argv[i + 1], ver);
        free(config);
    } else if (strcmp(cmd, "bulk") == 0) {
        if (argc - i < 5) usage();
        parse_opts(argc, argv, i + 5, &o);
        long n = parse_long("count", argv[i + 2], 1, SEED_BULK_MAX);
        char *config = load_config(argv[i + 4]);
        rc = 0;
        for (long k = 0; k < n && !rc; k++) {
            char id[CH_ID_MAX + 1];
            if (snprintf(id, sizeof id, "%s%ld", argv[i + 1], k) >= (int)sizeof id) {
                fprintf(stderr, "c360-seed: prefix too long\n");
                free(config);
                return 2;
            }
            rc = report(id, put_conn(argv[i], id, argv[i + 3], config, &o, NULL, NULL));
        }
        if (!rc) printf("put %ld connections %s/%s0..%s%ld\n", n, argv[i], argv[i + 1],
                        argv[i + 1], n - 1);
        free(config);
    } else if (strcmp(cmd, "route") == 0) {
        if (argc - i < 3) usage();
        parse_opts(argc, argv, i + 3, &o);
        rc = report("route", o.remove ? ch_conn_route_remove(argv[i], argv[i + 1], argv[i + 2],
                                                             SEED_ACTOR, NULL)
                                      : ch_conn_route_add(argv[i], argv[i + 1], argv[i + 2],
                                                          SEED_ACTOR, NULL));
    } else if (strcmp(cmd, "state") == 0) {
        if (argc - i < 3) usage();
        parse_opts(argc, argv, i + 3, &o);
        if (!ch_conn_state_valid(argv[i + 2])) {
            fprintf(stderr, "c360-seed: unknown state %s\n", argv[i + 2]);
            return 2;
        }
        rc = report("state", ch_conn_set_state(argv[i], argv[i + 1], argv[i + 2], o.cause,
                                               SEED_ACTOR, NULL));
    } else if (strcmp(cmd, "get") == 0) {
        if (argc - i != 2) usage();
        rc = cmd_get(argv[i], argv[i + 1]);
    } else if (strcmp(cmd, "rm") == 0) {
        if (argc - i != 2) usage();
        rc = report("rm", ch_conn_purge(argv[i], argv[i + 1], SEED_ACTOR, NULL));
    } else if (strcmp(cmd, "dlq") == 0) {
        if (argc - i < 1) usage();
        parse_opts(argc, argv, i + 1, &o);
        json_t *page = NULL;
        rc = report("dlq", ch_dlq_list(argv[i], &o.f, NULL, CH_DLQ_LIMIT_MAX, &page));
        if (!rc) {
            char *s = json_dumps(page, JSON_COMPACT);
            printf("%s\n", s);
            free(s);
        }
        json_decref(page);
    } else if (strcmp(cmd, "dlq-replay") == 0) {
        if (argc - i < 1) usage();
        parse_opts(argc, argv, i + 1, &o);
        size_t n = 0;
        if (o.dlq_id) {
            rc = report("dlq-replay", ch_dlq_replay(argv[i], o.dlq_id));
            n = rc ? 0 : 1;
        } else {
            /* Bounded per call: go on while the module says more may
             * match. */
            int more = 1;
            rc = 0;
            while (more && !rc) {
                size_t k = 0;
                more = 0;
                rc = report("dlq-replay", ch_dlq_replay_filter(argv[i], &o.f, 0, &k, &more));
                n += k;
                if (k == 0) break;
            }
        }
        if (!rc) printf("replayed %zu\n", n);
    } else {
        usage();
    }
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    return rc;
}
