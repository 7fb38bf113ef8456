/* call_overhead.c -- c360-bench-call: what the host adds around one plugin
 * callback (issue 8 scenario 4), against a direct call of the same no-op
 * through a function pointer, in the same process and run.
 *
 *   c360-bench-call --plugin PATH/bnop.so [--reps R] [--calls N] [--smoke]
 *
 * The plugin is loaded by the host's own loader (ch_loader_load_file: dlopen,
 * descriptor checks, init with the real host table) and its instance opened
 * through its descriptor, as the worker's instance set does. Then, per
 * repetition, N calls of each variant:
 *
 *   direct  ops->tick through a volatile function pointer with a call
 *           object prepared once: the floor any host pays (an indirect call
 *           into the shared object);
 *   tick    what a worker thread does around a tick callback, step for step
 *           as host/pipeline/worker_exec.c (ch_wexec_event) does it between
 *           having the instance and writing the outcome: ch_call_init with
 *           the item's request id and the callback deadline, the records
 *           and staged-state buffers reset and hung on the call (ABI 1.6:
 *           the thread's state barrier (registered once) run for a tick; no
 *           outcome is held here, so it returns at once), the slot entry the master's
 *           hang and crash detection reads (slot_item + ch_slot_begin, a
 *           seqlock write into the shared slots region), the monotonic clock
 *           before and after, ch_slot_end, the callback duration histogram
 *           (ch_metrics_observe_callback with ch_plugin_index, in the real
 *           shared metrics region), ch_status_normalise, ch_status_text,
 *           ch_call_done, and the records and staged writes packed and
 *           reset for a successful item;
 *   event   the same for an event callback, plus what only events do: the
 *           stored headers parsed into the SDK's array (Jansson, two
 *           headers as a webhook has) and the c360_event filled.
 *
 * Left out on purpose, because they are Redis round trips and not call
 * overhead (the scheduler benchmark's CPU per 1 000 ticks covers them):
 * reading the item, the connection cache lookup, ch_instance_acquire /
 * release (a version re-check in Redis at most once a second), the outcome
 * script, ch_sched_tick_done.
 *
 * Output: one JSON line per repetition and variant (ns per call, and
 * instructions per call when perf_event_open allows counting this process's
 * user-space instructions), then a summary line of medians:
 *   {"summary":true,"direct_ns":..,"tick_ns":..,"event_ns":..,
 *    "tick_ratio":..,"tick_added_ns":..,"event_ratio":..,"event_added_ns":..,
 *    "direct_insn":..,"tick_insn":..,"event_insn":..}
 * and a table on stderr. --smoke: few calls, checks that every variant ran
 * and returned OK. Exit 0, 1 on failure, 2 on usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "call.h"
#include "hostapi.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "records.h"
#include "state_staged.h"
#include "slots.h"
#include "worker_int.h"

#define REPS_MAX 101
#define CALLBACK_TIMEOUT_MS 60000

typedef enum { V_DIRECT, V_TICK, V_EVENT, V__COUNT } variant;
static const char *const k_variant[V__COUNT] = {"direct", "tick", "event"};

typedef struct bench {
    ch_loader *ld;
    const ch_plugin *pl;
    const ch_plugin_ops *ops;
    c360_instance inst;
    void *idata;
    ch_slots *slots;
    ch_slot *slot;
    ch_records recs;
    ch_staged staged;
    ch_qitem item;         /* the work item: its id, connection, stored "h" */
    const char *body;
    int failures;          /* calls that did not return C360_OK */
} bench;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* User-space instructions of this thread, or -1 where the kernel (or a
 * container's seccomp policy) does not allow it. */
static int insn_open(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_HARDWARE;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    return fd < 0 ? -1 : (int)fd;
}

static int64_t insn_read(int fd)
{
    uint64_t v = 0;
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) return -1;
    return (int64_t)v;
}

/* The worker's barrier hook holds nothing here (worker_exec.c's checks its
 * held outcomes): the call to it is what is measured. */
static void no_barrier(void *arg, const char *tenant, const char *conn)
{
    (void)arg;
    (void)tenant;
    (void)conn;
}

/* One tick or event item's callback, wrapped as ch_wexec_event wraps it. */
static void wrapped(bench *b, int tick)
{
    static const char rid[] = "tick-0123456789abcdef";
    c360_header hdrs[CH_WEXEC_HEADERS_MAX];
    uint32_t nh = 0;
    ch_whdrs hkeep = {NULL, NULL};
    if (!tick) ch_wexec_headers(&b->item, hdrs, &nh, &hkeep);
    c360_call call;
    ch_call_init(&call, ch_plugin_name(b->pl), &b->inst, rid, CALLBACK_TIMEOUT_MS);
    ch_records_reset(&b->recs);
    ch_staged_reset(&b->staged);
    call.records = &b->recs;
    call.staged = &b->staged;
    /* The hook itself is registered once per thread (setup), as
     * ch_wthread_begin does. */
    if (tick) ch_staged_barrier("bench", "c1");
    ch_slot_item si;
    ch_wexec_slot_item(&si, "bench", &b->item, ch_plugin_name(b->pl),
                       tick ? CH_SLOT_CB_TICK : CH_SLOT_CB_EVENT, CALLBACK_TIMEOUT_MS);
    ch_slot_begin(b->slot, &si);
    int64_t t0 = ch_monotonic_ms();
    int32_t st;
    if (tick) {
        st = b->ops->tick(&call, ch_plugin_data(b->pl), b->idata);
    } else {
        c360_event ev = {
            .struct_size = sizeof ev,
            .header_count = nh,
            .event_id = b->item.id,
            .headers = hdrs,
            .body = (const uint8_t *)b->body,
            .body_len = strlen(b->body),
            .received_at_ms = 1767225600000,
            .attempt = 1,
        };
        st = b->ops->event(&call, ch_plugin_data(b->pl), b->idata, &ev);
    }
    int64_t took = ch_monotonic_ms() - t0;
    ch_slot_end(b->slot);
    call.records = NULL;
    call.staged = NULL;
    ch_wexec_headers_free(&hkeep);
    ch_metrics_observe_callback(ch_plugin_index(b->ld, b->pl), tick ? CH_CB_TICK : CH_CB_EVENT,
                                took);
    st = ch_status_normalise(st);
    char text[CH_CALL_ERROR_MAX + 96];
    ch_status_text(text, sizeof text, st, call.error);
    ch_call_done(&call);
    if (st != C360_OK) {
        ch_staged_reset(&b->staged);
        b->failures++;
        return;
    }
    size_t blen = 0, slen = 0, nkeys = 0;
    char **keys = NULL;
    (void)ch_records_count(&b->recs);
    char *blob = ch_records_pack(&b->recs, &blen);
    char *sblob = ch_staged_pack(&b->staged, &slen, &keys, &nkeys);
    ch_staged_reset(&b->staged);
    free(blob);
    free(sblob);
    free(keys);
    ch_records_reset(&b->recs);
}

typedef struct sample {
    double ns;     /* per call */
    double insn;   /* per call; < 0: not counted */
} sample;

static sample run_variant(bench *b, variant v, long calls, int insn_fd)
{
    int32_t (*volatile tick_fn)(c360_call *, void *, void *) = b->ops->tick;
    c360_call call;
    ch_call_init(&call, ch_plugin_name(b->pl), &b->inst, "direct", 0);
    void *pdata = ch_plugin_data(b->pl);
    if (insn_fd >= 0) {
        ioctl(insn_fd, PERF_EVENT_IOC_RESET, 0);
        ioctl(insn_fd, PERF_EVENT_IOC_ENABLE, 0);
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < calls; i++) {
        switch (v) {
        case V_DIRECT:
            if (tick_fn(&call, pdata, b->idata) != C360_OK) b->failures++;
            break;
        case V_TICK: wrapped(b, 1); break;
        case V_EVENT: wrapped(b, 0); break;
        case V__COUNT: break;
        }
    }
    int64_t t1 = now_ns();
    int64_t insn = -1;
    if (insn_fd >= 0) {
        ioctl(insn_fd, PERF_EVENT_IOC_DISABLE, 0);
        insn = insn_read(insn_fd);
    }
    ch_call_done(&call);
    sample s = {.ns = (double)(t1 - t0) / (double)calls,
                .insn = insn >= 0 ? (double)insn / (double)calls : -1};
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long parse_long(const char *what, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "c360-bench-call: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static int setup(bench *b, const char *path)
{
    b->ld = ch_loader_new(ch_host_api());
    if (!b->ld || ch_loader_load_file(b->ld, path) != CH_OK || ch_loader_count(b->ld) != 1) {
        fprintf(stderr, "c360-bench-call: cannot load %s%s%s\n", path,
                b->ld && ch_loader_refused_count(b->ld) ? ": " : "",
                b->ld && ch_loader_refused_count(b->ld) ? ch_loader_refused_reason(b->ld, 0) : "");
        return -1;
    }
    b->pl = ch_loader_get(b->ld, 0);
    b->ops = ch_plugin_ops_get(b->pl);
    if (!b->ops->tick || !b->ops->event || !b->ops->instance_open) {
        fprintf(stderr, "c360-bench-call: %s needs tick, event and instance_open\n", path);
        return -1;
    }
    /* The metrics region the workers write into (a no-op before init). */
    if (ch_metrics_init(1) != 0) {
        fprintf(stderr, "c360-bench-call: ch_metrics_init: %s\n", strerror(errno));
        return -1;
    }
    b->slots = ch_slots_create(1, 1);
    if (!b->slots) {
        fprintf(stderr, "c360-bench-call: ch_slots_create: %s\n", strerror(errno));
        return -1;
    }
    b->slot = ch_slots_get(b->slots, 0, 0);
    ch_staged_set_barrier(no_barrier, b);
    ch_slot_claim(b->slot, "bench-0-0", NULL);
    ch_slot_set_current(b->slot);
    ch_records_init(&b->recs);
    ch_staged_init(&b->staged);
    b->inst = (c360_instance){.magic = CH_INSTANCE_MAGIC, .tenant = "bench", .connection = "c1",
                              .plugin = ch_plugin_name(b->pl)};
    c360_call call;
    ch_call_init(&call, ch_plugin_name(b->pl), &b->inst, NULL, CALLBACK_TIMEOUT_MS);
    int32_t st = b->ops->instance_open(&call, ch_plugin_data(b->pl), &b->inst, "{}", 2, &b->idata);
    ch_call_done(&call);
    if (st != C360_OK) {
        fprintf(stderr, "c360-bench-call: instance_open: %s\n", c360_strstatus(st));
        return -1;
    }
    b->inst.data = b->idata;
    static const char headers[] =
        "{\"content-type\":\"application/json\","
        "\"x-tsrc-signature\":\"sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}";
    b->item = (ch_qitem){.kind = CH_Q_EV, .c = "c1", .h = headers, .h_len = sizeof headers - 1};
    snprintf(b->item.id, sizeof b->item.id, "%s", "1767225600000-0");
    b->body = "{\"id\":\"ev-1\",\"n\":1,\"sent_ms\":1767225600000,\"group\":\"a\"}";
    return 0;
}

static void teardown(bench *b)
{
    if (b->ops && b->ops->instance_close && b->idata)
        b->ops->instance_close(ch_plugin_data(b->pl), b->idata);
    ch_records_free(&b->recs);
    ch_staged_free(&b->staged);
    if (b->slots) {
        ch_slot_set_current(NULL);
        ch_slots_destroy(b->slots);
    }
    ch_metrics_shutdown();
    ch_loader_free(b->ld);
}

int main(int argc, char **argv)
{
    const char *plugin = NULL;
    long reps = 7, calls = 1000000;
    int smoke = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--plugin") == 0 && v) { plugin = v; i++; }
        else if (strcmp(a, "--reps") == 0 && v) { reps = parse_long("reps", v, 1, REPS_MAX); i++; }
        else if (strcmp(a, "--calls") == 0 && v) { calls = parse_long("calls", v, 1, 1000000000L); i++; }
        else if (strcmp(a, "--smoke") == 0) smoke = 1;
        else {
            fprintf(stderr, "usage: c360-bench-call --plugin PATH/bnop.so [--reps R] [--calls N] [--smoke]\n");
            return 2;
        }
    }
    if (!plugin) {
        fprintf(stderr, "c360-bench-call: --plugin is required\n");
        return 2;
    }
    if (smoke) { reps = 3; calls = 2000; }
    ch_log_set_level(CH_LOG_WARN);

    bench b;
    memset(&b, 0, sizeof b);
    if (setup(&b, plugin) != 0) {
        teardown(&b);
        return 1;
    }
    int insn_fd = insn_open();
    /* Warm-up: caches, branch predictors, the first page faults. */
    for (int v = 0; v < V__COUNT; v++) (void)run_variant(&b, (variant)v, calls / 10 + 1, -1);

    double ns[V__COUNT][REPS_MAX], in[V__COUNT][REPS_MAX];
    for (long r = 0; r < reps; r++) {
        /* Variants in rotation within each repetition, so that a slow
         * phase of a shared machine hits all of them. */
        for (int v = 0; v < V__COUNT; v++) {
            sample s = run_variant(&b, (variant)v, calls, insn_fd);
            ns[v][r] = s.ns;
            in[v][r] = s.insn;
            printf("{\"variant\":\"%s\",\"rep\":%ld,\"calls\":%ld,\"ns_per_call\":%.2f", k_variant[v],
                   r + 1, calls, s.ns);
            if (s.insn >= 0) printf(",\"insn_per_call\":%.1f", s.insn);
            printf("}\n");
        }
    }
    double med[V__COUNT], imed[V__COUNT];
    for (int v = 0; v < V__COUNT; v++) {
        med[v] = median(ns[v], (int)reps);
        imed[v] = median(in[v], (int)reps);
    }
    printf("{\"summary\":true,\"reps\":%ld,\"calls\":%ld,\"direct_ns\":%.2f,\"tick_ns\":%.2f,"
           "\"event_ns\":%.2f,\"tick_ratio\":%.1f,\"tick_added_ns\":%.1f,\"event_ratio\":%.1f,"
           "\"event_added_ns\":%.1f",
           reps, calls, med[V_DIRECT], med[V_TICK], med[V_EVENT], med[V_TICK] / med[V_DIRECT],
           med[V_TICK] - med[V_DIRECT], med[V_EVENT] / med[V_DIRECT], med[V_EVENT] - med[V_DIRECT]);
    if (insn_fd >= 0)
        printf(",\"direct_insn\":%.1f,\"tick_insn\":%.1f,\"event_insn\":%.1f", imed[V_DIRECT],
               imed[V_TICK], imed[V_EVENT]);
    else
        printf(",\"insn\":null");
    printf("}\n");
    fflush(stdout);
    fprintf(stderr, "%-8s %12s %10s %12s %14s\n", "variant", "ns/call", "x direct", "+ns/call",
            "insn/call");
    for (int v = 0; v < V__COUNT; v++) {
        char ib[32] = "-";
        if (insn_fd >= 0) snprintf(ib, sizeof ib, "%.0f", imed[v]);
        fprintf(stderr, "%-8s %12.1f %10.1f %12.1f %14s\n", k_variant[v], med[v],
                med[v] / med[V_DIRECT], med[v] - med[V_DIRECT], ib);
    }
    if (insn_fd >= 0) close(insn_fd);
    int failures = b.failures;
    teardown(&b);
    if (failures) {
        fprintf(stderr, "c360-bench-call: %d calls did not return OK\n", failures);
        return 1;
    }
    return 0;
}
