/* scale_sched.c -- c360-bench-sched: the tools of the scheduler benchmark
 * (bench/run_scheduler.sh, issue 8 scenario 3).
 *
 *   c360-bench-sched seed --redis HOST:PORT --count N --tenants T
 *                         --plugin P --interval S [--skip K]
 *       N ticking connections of plugin P (config "{}", interval S),
 *       spread over tenants bt0..bt<T-1>, ids c<i> (i = K..N-1: the
 *       benchmark makes connection 0 with c360-seed, as the admin API would,
 *       and compares). Pipelined: 100 000 connections take seconds, where
 *       the registry's one connection at a time (audit entry, change
 *       notification, several round trips each) takes minutes. Writes what
 *       ch_conn_put writes for a new active connection that the scheduler
 *       and the workers read: the connection hash, the tenant's connection
 *       set, the global id index, the tenant index and the due set member
 *       (score now: the first claim spreads it, as after an import).
 *
 *   c360-bench-sched watch --redis HOST:PORT --out FILE
 *                          [--lookahead-ms L] [--every-ms E]
 *       Until SIGTERM: every E ms (default 200) appends to FILE the members
 *       of the due set whose score became due-soon since the last look,
 *       "member score" (ZRANGEBYSCORE (last, now + L], L default 3000, now
 *       from Redis TIME like the scores). Every due time the scheduler sets
 *       at least L ahead -- a tick's next due time is its interval ahead --
 *       is seen exactly once, while the member still waits for it.
 *
 *   c360-bench-sched analyze --dues FILE --runs FILE --from MS --to MS
 *                            --interval-ms I [--lateness-out FILE]
 *       Holds the runs (btick's log: "member unix-ms") against the due
 *       times (watch's file). Each run belongs to the member's latest due
 *       time at or before it. For the due times in [from, to): due (how
 *       many), run (runs that belong to them), missed (due times without
 *       a run), duplicate (runs beyond the first), unattributed (runs in
 *       [from, to) with no due time seen before them); lateness = first run
 *       - due time, p50/p99/max; min_gap_ms, the shortest time between two
 *       runs of one member in the window (at least the interval, else a
 *       connection ticked twice). One JSON line. Exit 0 when due == run and
 *       missed, duplicate and unattributed are 0 and min_gap_ms >= the
 *       interval (less 1 ms of clock rounding), else 1.
 *
 * Exit 2 on usage errors. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "conns_int.h"
#include "keys.h"
#include "scheduler.h"

#define PIPE_BATCH 2000 /* commands in flight per round trip */
#define MEMBER_MAX (2 * CH_ID_MAX + 2)

static void usage(void)
{
    fputs("usage: c360-bench-sched seed --redis HOST:PORT --count N --tenants T --plugin P --interval S [--skip K]\n"
          "       c360-bench-sched watch --redis HOST:PORT --out FILE [--lookahead-ms L] [--every-ms E]\n"
          "       c360-bench-sched analyze --dues FILE --runs FILE --from MS --to MS --interval-ms I\n"
          "                                [--lateness-out FILE]\n",
          stderr);
    exit(2);
}

static long long parse_ll(const char *what, const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "c360-bench-sched: bad %s '%s'\n", what, s ? s : "");
        exit(2);
    }
    return v;
}

static redisContext *connect_redis(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) usage();
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    int port = (int)parse_ll("port", colon + 1, 1, 65535);
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "c360-bench-sched: redis %s: %s\n", hostport, c ? c->errstr : "no memory");
        exit(1);
    }
    return c;
}

/* Redis TIME in ms: the clock of every score. */
static long long redis_now_ms(redisContext *c)
{
    redisReply *r = redisCommand(c, "TIME");
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        fprintf(stderr, "c360-bench-sched: TIME failed\n");
        exit(1);
    }
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

/* Reads the replies of n pipelined commands; counts the errors. */
static long drain(redisContext *c, long n)
{
    long errors = 0;
    for (long i = 0; i < n; i++) {
        void *rp = NULL;
        if (redisGetReply(c, &rp) != REDIS_OK) {
            fprintf(stderr, "c360-bench-sched: redis: %s\n", c->errstr);
            exit(1);
        }
        redisReply *r = rp;
        if (r->type == REDIS_REPLY_ERROR) {
            if (errors++ == 0) fprintf(stderr, "c360-bench-sched: redis error: %s\n", r->str);
        }
        freeReplyObject(r);
    }
    return errors;
}

static int cmd_seed(int argc, char **argv)
{
    const char *redis = NULL, *plugin = NULL;
    long long count = 0, tenants = 1, interval = 0, skip = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--redis") == 0) redis = v;
        else if (strcmp(a, "--count") == 0) count = parse_ll("count", v, 1, 10000000);
        else if (strcmp(a, "--tenants") == 0) tenants = parse_ll("tenants", v, 1, 100000);
        else if (strcmp(a, "--plugin") == 0) plugin = v;
        else if (strcmp(a, "--interval") == 0) interval = parse_ll("interval", v, 1, 86400);
        else if (strcmp(a, "--skip") == 0) skip = parse_ll("skip", v, 0, 10000000);
        else usage();
        i++;
    }
    if (!redis || !plugin || !count || !interval) usage();
    redisContext *c = connect_redis(redis);
    long long now = redis_now_ms(c);
    char nows[24], ivs[24];
    snprintf(nows, sizeof nows, "%lld", now);
    snprintf(ivs, sizeof ivs, "%lld", interval);
    long pending = 0, errors = 0;
    for (long long t = 0; t < tenants; t++) {
        char tenant[CH_ID_MAX + 1];
        snprintf(tenant, sizeof tenant, "bt%lld", t);
        char *ks = ch_key_tenant(tenant, "conns");
        redisAppendCommand(c, "SADD %s %s", CH_IDX_TENANTS, tenant);
        pending++;
        /* Connection i goes to tenant i % T. */
        for (long long i = t; i < count; i += tenants) {
            if (i < skip) continue;
            char id[CH_ID_MAX + 1], member[MEMBER_MAX];
            snprintf(id, sizeof id, "c%lld", i);
            snprintf(member, sizeof member, "%s/%s", tenant, id);
            char *kc = ch_key_tenant(tenant, "conn:%s", id);
            redisAppendCommand(c, "HSETNX %s %s %s", CH_IDX_CONN, id, tenant);
            redisAppendCommand(c,
                               "HSET %s created_ms %s state active cause %s name %s version 1 "
                               "plugin %s config {} interval_s %s ticks 1 updated_ms %s",
                               kc, nows, "", "", plugin, ivs, nows);
            redisAppendCommand(c, "SADD %s %s", ks, id);
            redisAppendCommand(c, "ZADD %s NX %s %s", CH_SCHED_DUE_KEY, nows, member);
            pending += 4;
            free(kc);
            if (pending >= PIPE_BATCH) {
                errors += drain(c, pending);
                pending = 0;
            }
        }
        free(ks);
    }
    errors += drain(c, pending);
    redisFree(c);
    if (errors) {
        fprintf(stderr, "c360-bench-sched: %ld redis errors while seeding\n", errors);
        return 1;
    }
    printf("seeded %lld connections over %lld tenants\n", count - skip, tenants);
    return 0;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int cmd_watch(int argc, char **argv)
{
    const char *redis = NULL, *out = NULL;
    long long ahead = 3000, every = 200;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--redis") == 0) redis = v;
        else if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--lookahead-ms") == 0) ahead = parse_ll("lookahead", v, 100, 3600000);
        else if (strcmp(a, "--every-ms") == 0) every = parse_ll("every", v, 10, 60000);
        else usage();
        i++;
    }
    if (!redis || !out) usage();
    if (every * 3 > ahead) {
        fprintf(stderr, "c360-bench-sched: --every-ms must be at most a third of --lookahead-ms\n");
        return 2;
    }
    FILE *f = fopen(out, "a");
    if (!f) {
        fprintf(stderr, "c360-bench-sched: %s: %s\n", out, strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    redisContext *c = connect_redis(redis);
    long long hi = redis_now_ms(c), seen = 0, late = 0;
    for (int first = 1; !g_stop; first = 0) {
        long long now = redis_now_ms(c);
        /* A look that comes later than the previous one's lookahead could
         * miss a due time (claimed before it was seen): counted, and the
         * benchmark then fails. (The first look has no previous one.) */
        if (now > hi && !first) late++;
        long long to = now + ahead;
        redisReply *r = redisCommand(c, "ZRANGEBYSCORE %s (%lld %lld WITHSCORES", CH_SCHED_DUE_KEY,
                                     hi, to);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "c360-bench-sched: ZRANGEBYSCORE failed\n");
            return 1;
        }
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            fprintf(f, "%s %s\n", r->element[i]->str, r->element[i + 1]->str);
        seen += (long long)r->elements / 2;
        freeReplyObject(r);
        hi = to;
        fflush(f);
        struct timespec ts = {every / 1000, (every % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    fclose(f);
    redisFree(c);
    fprintf(stderr, "watch: %lld due times, %lld late looks\n", seen, late);
    return late ? 1 : 0;
}

/* --- analyze --------------------------------------------------------------- */

typedef struct ev {
    char *member;
    double t;   /* unix ms */
    int run;    /* 0: due time, 1: run */
} ev;

typedef struct evs {
    ev *v;
    size_t n, cap;
} evs;

static void load(evs *e, const char *path, int run)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "c360-bench-sched: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = '\0';
        char *end;
        double t = strtod(sp + 1, &end);
        if (end == sp + 1) continue;
        if (e->n == e->cap) {
            e->cap = e->cap ? 2 * e->cap : 65536;
            e->v = realloc(e->v, e->cap * sizeof *e->v);
            if (!e->v) abort();
        }
        e->v[e->n].member = strdup(line);
        if (!e->v[e->n].member) abort();
        e->v[e->n].t = t;
        e->v[e->n].run = run;
        e->n++;
    }
    fclose(f);
}

static int cmp_ev(const void *a, const void *b)
{
    const ev *x = a, *y = b;
    int c = strcmp(x->member, y->member);
    if (c) return c;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->run - y->run; /* a due time before a run at the same time */
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n) return 0;
    size_t k = (size_t)(p * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

typedef struct tally {
    long long due, run, missed, dup, unattributed, runs_in_window;
    double min_gap;
    double *late;
    size_t nlate, latecap;
} tally;

static void settle_due(tally *t, int in_window, long long runs)
{
    if (!in_window) return;
    t->due++;
    t->run += runs;
    if (runs == 0) t->missed++;
    if (runs > 1) t->dup += runs - 1;
}

static int cmd_analyze(int argc, char **argv)
{
    const char *dues = NULL, *runs = NULL, *late_out = NULL;
    long long from = -1, to = -1, ivms = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--dues") == 0) dues = v;
        else if (strcmp(a, "--runs") == 0) runs = v;
        else if (strcmp(a, "--from") == 0) from = parse_ll("from", v, 0, INT64_MAX);
        else if (strcmp(a, "--to") == 0) to = parse_ll("to", v, 0, INT64_MAX);
        else if (strcmp(a, "--interval-ms") == 0) ivms = parse_ll("interval", v, 1, INT64_MAX);
        else if (strcmp(a, "--lateness-out") == 0) late_out = v;
        else usage();
        i++;
    }
    if (!dues || !runs || from < 0 || to <= from || !ivms) usage();
    evs e = {0};
    load(&e, dues, 0);
    load(&e, runs, 1);
    qsort(e.v, e.n, sizeof *e.v, cmp_ev);

    tally t = {.min_gap = -1};
    size_t members = 0;
    for (size_t i = 0; i < e.n;) {
        size_t j = i;
        members++;
        double cur = -1, last_run = -1;
        long long cur_runs = 0;
        for (; j < e.n && strcmp(e.v[j].member, e.v[i].member) == 0; j++) {
            const ev *x = &e.v[j];
            int in = x->t >= (double)from && x->t < (double)to;
            if (!x->run) {
                if (x->t == cur) continue; /* the same due time seen twice */
                settle_due(&t, cur >= (double)from && cur < (double)to, cur_runs);
                cur = x->t;
                cur_runs = 0;
                continue;
            }
            if (in) t.runs_in_window++;
            if (in && last_run >= 0) {
                double gap = x->t - last_run;
                if (t.min_gap < 0 || gap < t.min_gap) t.min_gap = gap;
            }
            last_run = x->t;
            if (cur < 0) {
                if (in) t.unattributed++;
                continue;
            }
            if (cur_runs++ == 0 && cur >= (double)from && cur < (double)to) {
                if (t.nlate == t.latecap) {
                    t.latecap = t.latecap ? 2 * t.latecap : 65536;
                    t.late = realloc(t.late, t.latecap * sizeof *t.late);
                    if (!t.late) abort();
                }
                t.late[t.nlate++] = x->t - cur;
            }
        }
        settle_due(&t, cur >= (double)from && cur < (double)to, cur_runs);
        i = j;
    }
    qsort(t.late, t.nlate, sizeof *t.late, cmp_d);
    if (late_out) {
        FILE *f = fopen(late_out, "w");
        if (f) {
            for (size_t k = 0; k < t.nlate; k++) fprintf(f, "%.3f\n", t.late[k]);
            fclose(f);
        }
    }
    int exact = t.due == t.run && !t.missed && !t.dup && !t.unattributed &&
                (t.min_gap < 0 || t.min_gap >= (double)ivms - 1.0);
    printf("{\"due\":%lld,\"run\":%lld,\"missed\":%lld,\"duplicate\":%lld,\"unattributed\":%lld,"
           "\"runs_in_window\":%lld,\"members\":%zu,\"lateness_p50_ms\":%.1f,"
           "\"lateness_p99_ms\":%.1f,\"lateness_max_ms\":%.1f,\"min_gap_ms\":%.1f,\"exact\":%s}\n",
           t.due, t.run, t.missed, t.dup, t.unattributed, t.runs_in_window, members,
           pct(t.late, t.nlate, 0.50), pct(t.late, t.nlate, 0.99),
           t.nlate ? t.late[t.nlate - 1] : 0.0, t.min_gap, exact ? "true" : "false");
    for (size_t k = 0; k < e.n; k++) free(e.v[k].member);
    free(e.v);
    free(t.late);
    return exact && t.due > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    if (strcmp(argv[1], "seed") == 0) return cmd_seed(argc - 2, argv + 2);
    if (strcmp(argv[1], "watch") == 0) return cmd_watch(argc - 2, argv + 2);
    if (strcmp(argv[1], "analyze") == 0) return cmd_analyze(argc - 2, argv + 2);
    usage();
    return 2;
}
