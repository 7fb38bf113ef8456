/* test_metrics.c -- shared-memory counters and the Prometheus text: every
 * line must be valid exposition format, counters must grow, and counts
 * made in a forked child must be seen by the parent. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "httpc.h"
#include "httpc_metrics.h"
#include "metrics.h"

/* --- a strict reader of the text format (0.0.4) -------------------------- */

#define MAX_FAMILIES 128

typedef struct family {
    char name[128];
    char type[16];
    int help;
} family;

static family fams[MAX_FAMILIES];
static int nfams;

static family *fam_find(const char *name)
{
    for (int i = 0; i < nfams; i++)
        if (strcmp(fams[i].name, name) == 0) return &fams[i];
    return NULL;
}

static int name_char(int c, int first)
{
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* Parses a metric or label name at *p; returns its length (0 = invalid). */
static size_t parse_name(const char *p, int allow_colon)
{
    size_t n = 0;
    while (p[n] && name_char((unsigned char)p[n], n == 0) && (allow_colon || p[n] != ':')) n++;
    return n;
}

static int parse_value(const char *s)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) return 1;
    char *end;
    strtod(s, &end);
    return end != s && *end == '\0';
}

/* The family a sample belongs to: histograms expose name_bucket/_sum/_count. */
static family *family_of(const char *name)
{
    family *f = fam_find(name);
    if (f) return f;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t nl = strlen(name), sl = strlen(sfx[i]);
        if (nl > sl && strcmp(name + nl - sl, sfx[i]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(nl - sl), name);
            f = fam_find(base);
            if (f && strcmp(f->type, "histogram") == 0) return f;
        }
    }
    return NULL;
}

/* Returns the number of invalid lines (printing each). */
static int validate(const char *text)
{
    nfams = 0;
    int bad = 0, lineno = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl) { fprintf(stderr, "no final newline\n"); return bad + 1; }
        char line[1024];
        size_t len = (size_t)(nl - p);
        lineno++;
        if (len >= sizeof line) { bad++; p = nl + 1; continue; }
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        int ok = 1;
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            const char *n = line + 7;
            size_t nlen = parse_name(n, 1);
            ok = nlen > 0 && n[nlen] == ' ' && n[nlen + 1] != '\0';
            if (ok) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)nlen, n);
                family *f = fam_find(name);
                if (!f && nfams < MAX_FAMILIES) {
                    f = &fams[nfams++];
                    memset(f, 0, sizeof *f);
                    snprintf(f->name, sizeof f->name, "%s", name);
                }
                if (line[2] == 'H') {
                    ok = f && !f->help;
                    if (f) f->help = 1;
                } else {
                    const char *t = n + nlen + 1;
                    ok = f && !f->type[0] &&
                         (strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                          strcmp(t, "histogram") == 0 || strcmp(t, "summary") == 0 ||
                          strcmp(t, "untyped") == 0);
                    if (ok) snprintf(f->type, sizeof f->type, "%s", t);
                }
            }
        } else if (line[0] == '#') {
            ok = 1; /* other comments are allowed */
        } else {
            size_t nlen = parse_name(line, 1);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)nlen, line);
            const char *q = line + nlen;
            ok = nlen > 0;
            if (ok && *q == '{') {
                q++;
                while (ok && *q != '}') {
                    size_t ll = parse_name(q, 0);
                    ok = ll > 0 && q[ll] == '=' && q[ll + 1] == '"';
                    if (!ok) break;
                    q += ll + 2;
                    while (*q && *q != '"') {
                        if (*q == '\\') {
                            ok = q[1] == '\\' || q[1] == '"' || q[1] == 'n';
                            q++;
                        }
                        q++;
                    }
                    ok = ok && *q == '"';
                    q++;
                    if (*q == ',') q++;
                }
                if (ok) q++;
            }
            ok = ok && *q == ' ';
            if (ok) ok = parse_value(q + 1);
            family *f = ok ? family_of(name) : NULL;
            /* Every sample after its family's HELP and TYPE. */
            ok = ok && f && f->help && f->type[0];
        }
        if (!ok) {
            bad++;
            fprintf(stderr, "invalid exposition line %d: %s\n", lineno, line);
        }
    }
    return bad;
}

/* The value of the first sample line that starts with `prefix ` (name and
 * labels exactly), or -1. */
static double sample(const char *text, const char *series)
{
    size_t sl = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, sl) == 0 && p[sl] == ' ') return strtod(p + sl + 1, NULL);
    }
    return -1;
}

int main(void)
{
    /* Before init: everything is a harmless no-op. */
    ch_metrics_inc(CH_M_EVENTS_ACCEPTED, 5);
    ch_metrics_observe_delivery(10);
    CHECK(ch_metrics_get(CH_M_EVENTS_ACCEPTED) == 0);

    /* The reader itself refuses what Prometheus would refuse. */
    CHECK(validate("# HELP x h\n# TYPE x counter\nx 1\n") == 0);
    CHECK(validate("x 1\n") == 1);                                       /* no TYPE */
    CHECK(validate("# HELP x h\n# TYPE x counter\nx{a=\"b} 1\n") == 1);   /* open quote */
    CHECK(validate("# HELP x h\n# TYPE x counter\nx one\n") == 1);       /* not a number */
    CHECK(validate("# HELP x h\n# TYPE x countr\nx 1\n") == 2);          /* bad type */
    CHECK(validate("# HELP x h\n# TYPE x gauge\n# TYPE x gauge\nx 1\n") == 1); /* twice */
    CHECK(validate("# HELP 1x h\n") == 1);                               /* bad name */

    CHECK(ch_metrics_init(2) == 0);
    CHECK(ch_metrics_init(2) == 0); /* second call keeps the region */

    char *t0 = ch_metrics_render(NULL, NULL);
    CHECK(validate(t0) == 0);
    CHECK(sample(t0, "c360_events_accepted_total") == 0);
    CHECK(sample(t0, "c360_delivery_latency_ms_count") == 0);
    CHECK(sample(t0, "c360_queue_depth{stream=\"ev\"}") == 0);
    CHECK(sample(t0, "c360_http_out_calls_total") >= 0);
    /* HELP and TYPE present for the families the issue names. */
    CHECK_CONTAINS(t0, "# TYPE c360_events_rejected_total counter");
    CHECK_CONTAINS(t0, "# TYPE c360_events_duplicate_total counter");
    CHECK_CONTAINS(t0, "# TYPE c360_retries_total counter");
    CHECK_CONTAINS(t0, "# TYPE c360_dead_letters_total counter");
    CHECK_CONTAINS(t0, "# TYPE c360_worker_restarts_total counter");
    CHECK_CONTAINS(t0, "# TYPE c360_queue_lag_seconds gauge");
    CHECK_CONTAINS(t0, "# TYPE c360_callback_duration_ms histogram");
    CHECK_CONTAINS(t0, "# HELP c360_delivery_latency_ms ");

    ch_metrics_inc(CH_M_EVENTS_ACCEPTED, 3);
    ch_metrics_inc(CH_M_EVENTS_ACCEPTED, 1);
    ch_metrics_inc(CH_M__COUNT, 1); /* out of range: ignored */
    ch_metrics_observe_delivery(7);    /* <= 10 */
    ch_metrics_observe_delivery(700);  /* <= 1000 */
    ch_metrics_observe_delivery(-5);   /* clamps to 0 */
    ch_metrics_observe_callback(0, CH_CB_TICK, 3);
    ch_metrics_observe_callback(0, CH_CB_TICK, 40000);
    ch_metrics_observe_callback(1, CH_CB_DELIVER, 12);
    ch_metrics_observe_callback(2, CH_CB_TICK, 1); /* beyond n_plugins: dropped */
    ch_metrics_gauges gz = {.ev_depth = 12, .ev_pending = 2, .ev_lag_ms = 1500, .dl_depth = 1,
                            .dlq_len = 4, .tenants = 3, .sampled_at_ms = 1700000000000};
    ch_metrics_set_gauges(&gz);

    /* Fork: the child counts, the parent sees it. Outbound HTTP made in
     * the child reaches the parent only through a published slot. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 1000; i++) ch_metrics_inc(CH_M_DELIVERIES_OK, 1);
        ch_metrics_inc(CH_M_WORKER_RESTARTS, 2);
        ch_metrics_observe_callback(1, CH_CB_DELIVER, 99999);
        ch_metrics_publish_httpc(3);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(ch_metrics_get(CH_M_DELIVERIES_OK) == 1000);
    CHECK(ch_metrics_get(CH_M_WORKER_RESTARTS) == 2);

    /* Concurrent children: no lost updates without locks. */
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            for (int i = 0; i < 50000; i++) ch_metrics_inc(CH_M_RETRIES, 1);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++) waitpid(kids[k], NULL, 0);
    CHECK(ch_metrics_get(CH_M_RETRIES) == 200000);

    char *t1 = ch_metrics_render(NULL, NULL);
    CHECK(validate(t1) == 0);
    CHECK(sample(t1, "c360_events_accepted_total") == 4);
    CHECK(sample(t1, "c360_deliveries_ok_total") == 1000);
    CHECK(sample(t1, "c360_retries_total") == 200000);
    CHECK(sample(t1, "c360_delivery_latency_ms_count") == 3);
    CHECK(sample(t1, "c360_delivery_latency_ms_sum") == 707);
    CHECK(sample(t1, "c360_delivery_latency_ms_bucket{le=\"10\"}") == 2);
    CHECK(sample(t1, "c360_delivery_latency_ms_bucket{le=\"500\"}") == 2);
    CHECK(sample(t1, "c360_delivery_latency_ms_bucket{le=\"1000\"}") == 3);
    CHECK(sample(t1, "c360_delivery_latency_ms_bucket{le=\"+Inf\"}") == 3);
    CHECK(sample(t1, "c360_callback_duration_ms_count{plugin=\"plugin_0\",callback=\"tick\"}") == 2);
    CHECK(sample(t1, "c360_callback_duration_ms_bucket{plugin=\"plugin_0\",callback=\"tick\",le=\"5\"}") == 1);
    CHECK(sample(t1, "c360_callback_duration_ms_bucket{plugin=\"plugin_0\",callback=\"tick\",le=\"60000\"}") == 2);
    CHECK(sample(t1, "c360_callback_duration_ms_count{plugin=\"plugin_1\",callback=\"deliver\"}") == 2);
    CHECK(sample(t1, "c360_callback_duration_ms_bucket{plugin=\"plugin_1\",callback=\"deliver\",le=\"60000\"}") == 1);
    CHECK(sample(t1, "c360_callback_duration_ms_bucket{plugin=\"plugin_1\",callback=\"deliver\",le=\"+Inf\"}") == 2);
    CHECK(strstr(t1, "callback=\"event\"") == NULL); /* never ran: no series */
    CHECK(sample(t1, "c360_metrics_dropped_total") == 1);
    CHECK(sample(t1, "c360_queue_depth{stream=\"ev\"}") == 12);
    CHECK(sample(t1, "c360_queue_lag_seconds{stream=\"ev\"}") == 1.5);
    CHECK(sample(t1, "c360_dead_letters_stored") == 4);
    CHECK(sample(t1, "c360_tenants") == 3);
    /* Counters never go down between scrapes. */
    CHECK(sample(t1, "c360_events_accepted_total") > sample(t0, "c360_events_accepted_total"));

    /* Outbound HTTP: httpc counts per process. A worker in slot 3 makes 5
     * calls and publishes; its replacement (another process, same slot)
     * makes 2: the 5 must stay counted. The master's own call is read
     * directly. */
    pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 5; i++) ch_httpc_metrics_record(C360_OK, 200, 30);
        ch_metrics_publish_httpc(3);
        ch_metrics_publish_httpc(3); /* publishing again does not double */
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0) {
        ch_httpc_metrics_record(C360_OK, 503, 20);
        ch_httpc_metrics_record(C360_ETIMEOUT, 0, 30000);
        ch_metrics_publish_httpc(3);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    ch_httpc_metrics_record(C360_OK, 404, 5);
    char *t2 = ch_metrics_render(NULL, NULL);
    CHECK(validate(t2) == 0);
    CHECK(sample(t2, "c360_http_out_calls_total") == 8);
    CHECK(sample(t2, "c360_http_out_responses_total{class=\"2xx\"}") == 5);
    CHECK(sample(t2, "c360_http_out_responses_total{class=\"5xx\"}") == 1);
    CHECK(sample(t2, "c360_http_out_responses_total{class=\"4xx\"}") == 1);
    CHECK(sample(t2, "c360_http_out_errors_total{kind=\"timeout\"}") == 1);
    CHECK(sample(t2, "c360_http_out_latency_ms_count") == 8);
    CHECK(sample(t2, "c360_http_out_latency_ms_sum") == 5 * 30 + 20 + 30000 + 5);
    free(t2);

    ch_metrics_publish_httpc(0); /* in the master: a no-op */
    ch_metrics_publish_httpc(CH_METRICS_MAX_WORKERS); /* out of range: no-op */

    free(t0);
    free(t1);
    ch_metrics_shutdown();
    CHECK(ch_metrics_get(CH_M_EVENTS_ACCEPTED) == 0);
    ch_metrics_inc(CH_M_EVENTS_ACCEPTED, 1); /* after shutdown: no crash */
    CHECK_DONE();
}
