/* supervisor.c -- forks, watches and restarts the worker processes (see
 * supervisor.h). Everything here runs on the event loop and never blocks
 * on Redis: the crash accounting is queued to supervisor_jobs.c. */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "slots.h"
#include "supervisor_jobs.h"
#include "supervisor_zygote.h"
#include "util.h"

#define TIMER_MS 100
#define RESTART_WAIT_MAX_MS 5000 /* restart even if the crash is not counted yet */
#define SPAWN_TIMEOUT_MS 10000   /* a zygote that does not answer is replaced */

enum { KILL_NONE = 0, KILL_HANG, KILL_STALL };

typedef struct wentry {
    pid_t pid;            /* 0 = not running */
    int spawning;         /* asked the zygote, no answer yet */
    int64_t spawn_sent_ms;
    int64_t started_ms;
    int64_t died_ms;
    int64_t restart_at;   /* 0 = none scheduled */
    int backoff_ms;
    int kill_reason;
} wentry;

struct ch_supervisor {
    struct event_base *base;
    ch_supervisor_conf conf;
    ch_slots *slots;
    int nproc;              /* process entries (1 for in-master threads) */
    int threads;
    wentry *w;
    struct event *timer;
    ch_zygote *zy;
    struct event *zev;      /* the zygote's messages */
    ch_supjobs jobs;
    int started, draining;
    ch_supervisor_stats stats;
    /* workers == 0 */
    ch_instances *inproc_set;
    ch_workers *inproc;
    char (*hang_reported)[CH_SLOT_ENTRY_MAX]; /* per thread, in-master mode */
};

void ch_supervisor_conf_from_config(ch_supervisor_conf *sc, const ch_config *cfg, const ch_loader *ld)
{
    memset(sc, 0, sizeof *sc);
    ch_worker_conf_from_config(&sc->worker, cfg, ld);
    sc->workers = cfg->workers;
    sc->poison_threshold = cfg->poison_threshold;
}

static int grace_ms(const ch_supervisor *s)
{
    return ch_worker_hang_grace_ms(&s->conf.worker);
}

static int hb_timeout_ms(const ch_supervisor *s)
{
    return s->conf.heartbeat_timeout_ms > 0 ? s->conf.heartbeat_timeout_ms : 10000;
}

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_zygote(evutil_socket_t fd, short what, void *arg);

ch_supervisor *ch_supervisor_new(struct event_base *base, const ch_supervisor_conf *conf)
{
    ch_supervisor *s = ch_calloc(1, sizeof *s);
    s->base = base;
    s->conf = *conf;
    if (s->conf.workers < 0) s->conf.workers = 0;
    if (s->conf.worker.threads < 1) s->conf.worker.threads = 1;
    if (s->conf.backoff_min_ms <= 0) s->conf.backoff_min_ms = 100;
    if (s->conf.backoff_max_ms <= 0) s->conf.backoff_max_ms = 30000;
    if (s->conf.healthy_reset_ms <= 0) s->conf.healthy_reset_ms = 60000;
    /* The workers size their claim-idle floor by the same grace. */
    if (s->conf.hang_grace_ms > 0) s->conf.worker.hang_grace_ms = s->conf.hang_grace_ms;
    s->nproc = s->conf.workers ? s->conf.workers : 1;
    s->threads = s->conf.worker.threads;
    s->slots = ch_slots_create(s->conf.workers, s->threads);
    if (!s->slots) {
        ch_log(CH_LOG_ERROR, "supervisor: cannot map the worker slots", "error", strerror(errno), NULL);
        free(s);
        return NULL;
    }
    s->w = ch_calloc((size_t)s->nproc, sizeof *s->w);
    s->hang_reported = ch_calloc((size_t)s->threads, sizeof *s->hang_reported);
    ch_supjobs_init(&s->jobs, s->nproc, s->conf.poison_threshold);
    s->timer = event_new(base, -1, EV_PERSIST, on_timer, s);
    return s;
}

/* --- processes ------------------------------------------------------------ */

/* In a worker process (a child of the zygote). */
static int worker_entry(int widx, pid_t zygote, void *arg)
{
    ch_supervisor *s = arg;
    return ch_worker_process_main(&s->conf.worker, s->slots, widx, zygote);
}

static int zygote_up(ch_supervisor *s)
{
    s->zy = ch_zygote_start(worker_entry, s);
    if (!s->zy) return -1;
    s->zev = event_new(s->base, ch_zygote_fd(s->zy), EV_READ | EV_PERSIST, on_zygote, s);
    event_add(s->zev, NULL);
    return 0;
}

static void spawn(ch_supervisor *s, int i)
{
    wentry *e = &s->w[i];
    int64_t now = ch_monotonic_ms();
    if (!s->zy || ch_zygote_spawn(s->zy, i) != 0) {
        /* The zygote is gone: the timer replaces it, then retries. */
        e->restart_at = now + s->conf.backoff_min_ms;
        return;
    }
    /* The new threads have not beaten yet: start their clocks now. */
    for (int j = 0; j < s->threads; j++) ch_slot_beat(ch_slots_get(s->slots, i, j));
    e->spawning = 1;
    e->spawn_sent_ms = now;
    e->restart_at = 0;
}

static void started(ch_supervisor *s, int i, pid_t pid)
{
    wentry *e = &s->w[i];
    e->spawning = 0;
    e->pid = pid;
    e->started_ms = ch_monotonic_ms();
    e->kill_reason = KILL_NONE;
    atomic_store(&ch_slots_proc(s->slots, i)->pid, (int32_t)pid);
    s->stats.spawned++;
    char ws[16], ps[16];
    snprintf(ws, sizeof ws, "%d", i);
    snprintf(ps, sizeof ps, "%d", (int)pid);
    ch_log(CH_LOG_INFO, "supervisor: worker started", "worker", ws, "pid", ps, NULL);
    if (s->draining) kill(pid, SIGTERM); /* answered after the drain began */
}

static void describe(int status, char *buf, size_t cap)
{
    if (WIFSIGNALED(status))
        snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Charges the items the dead worker was running:
 *  - a hang: the items past their deadline;
 *  - a thread that said it was dying (crash handler, exit(), sanitizer):
 *    its item;
 *  - otherwise (SIGKILL from outside -- the OOM killer --, ...): the busy
 *    item if it was the only one. With several busy and none named,
 *    nobody is charged -- an innocent item that happened to run next to
 *    the culprit must not be poisoned -- and the replacement takes the
 *    items over one at a time (ch_slot_proc.isolate), so that a second
 *    death names its item. */
static void blame(ch_supervisor *s, int i, int status, const char *how)
{
    wentry *e = &s->w[i];
    int64_t now = ch_monotonic_ms();
    ch_slot_view v[64];
    int n = s->threads < 64 ? s->threads : 64, marked = 0, busy = 0;
    for (int j = 0; j < n; j++) {
        ch_slot_read(ch_slots_get(s->slots, i, j), &v[j]);
        if (!v[j].busy || !ch_id_valid(v[j].item.tenant) || !v[j].item.entry[0]) {
            v[j].busy = 0;
            continue;
        }
        busy++;
        if (v[j].crashed) marked++;
    }
    int killed = e->kill_reason == KILL_HANG || e->kill_reason == KILL_STALL;
    int died_badly = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
    if (!killed && !marked && busy > 1 && died_badly) {
        atomic_store(&ch_slots_proc(s->slots, i)->isolate, 1);
        char ws[16], bs[16];
        snprintf(ws, sizeof ws, "%d", i);
        snprintf(bs, sizeof bs, "%d", busy);
        ch_log(CH_LOG_WARN, "supervisor: worker died with several busy items and none named; "
                            "its replacement runs them one at a time", "worker", ws, "busy", bs,
               "status", how, NULL);
        return;
    }
    for (int j = 0; j < n; j++) {
        const ch_slot_view *x = &v[j];
        if (!x->busy) continue;
        int suspect = killed ? now > x->item.deadline_ms : marked ? x->crashed != 0 : died_badly;
        if (!suspect) continue;
        char err[256], sig[48];
        if (x->crashed == CH_SLOT_CRASH_EXIT) snprintf(sig, sizeof sig, "exit or sanitizer report");
        else if (x->crashed) snprintf(sig, sizeof sig, "signal %d (%s)", x->crashed, strsignal(x->crashed));
        else snprintf(sig, sizeof sig, "%s", how);
        if (killed)
            snprintf(err, sizeof err, "%s callback of plugin %s hung past its deadline (%d ms); worker killed",
                     ch_slot_cb_name(x->item.callback), x->item.plugin, s->conf.worker.callback_timeout_ms);
        else
            snprintf(err, sizeof err, "worker crashed (%s) in the %s callback of plugin %s",
                     sig, ch_slot_cb_name(x->item.callback), x->item.plugin);
        ch_supjobs_push(&s->jobs, i, &x->item, err);
    }
}

static void worker_exited(ch_supervisor *s, int i, int status)
{
    wentry *e = &s->w[i];
    int64_t now = ch_monotonic_ms();
    char ws[16], ps[16], how[96];
    snprintf(ws, sizeof ws, "%d", i);
    snprintf(ps, sizeof ps, "%d", (int)e->pid);
    describe(status, how, sizeof how);
    e->pid = 0;
    e->died_ms = now;
    atomic_store(&ch_slots_proc(s->slots, i)->pid, 0);
    if (s->draining) {
        ch_log(CH_LOG_INFO, "supervisor: worker stopped", "worker", ws, "pid", ps, "status", how, NULL);
        return;
    }
    if (e->kill_reason == KILL_NONE) s->stats.crashes++;
    blame(s, i, status, how);
    int healthy = now - e->started_ms >= s->conf.healthy_reset_ms;
    if (!e->backoff_ms || healthy) e->backoff_ms = s->conf.backoff_min_ms;
    else e->backoff_ms = e->backoff_ms * 2 > s->conf.backoff_max_ms ? s->conf.backoff_max_ms : e->backoff_ms * 2;
    e->restart_at = now + e->backoff_ms;
    e->kill_reason = KILL_NONE;
    char bs[16];
    snprintf(bs, sizeof bs, "%d", e->backoff_ms);
    ch_log(CH_LOG_ERROR, "supervisor: worker died; restarting", "worker", ws, "pid", ps,
           "status", how, "backoff_ms", bs, NULL);
}

static void worker_exited(ch_supervisor *s, int i, int status);

/* The zygote died (or stopped answering): its workers died with it
 * (PR_SET_PDEATHSIG). Nothing they ran is blamed: they were killed from
 * outside. A new zygote is forked -- from a master that now runs threads,
 * the hazard the zygote exists to avoid; a worker that inherits a held
 * lock is caught by the heartbeat check and replaced. */
static void zygote_lost(ch_supervisor *s, const char *why)
{
    ch_log(CH_LOG_ERROR, "supervisor: the zygote is gone; replacing it and its workers", "why", why, NULL);
    if (s->zev) { event_free(s->zev); s->zev = NULL; }
    ch_zygote_stop(s->zy);
    s->zy = NULL;
    int64_t now = ch_monotonic_ms();
    for (int i = 0; i < s->conf.workers; i++) {
        wentry *e = &s->w[i];
        if (e->pid > 0) kill(e->pid, SIGKILL);
        if (e->pid > 0 || e->spawning) {
            e->pid = 0;
            e->spawning = 0;
            e->died_ms = now;
            e->kill_reason = KILL_NONE;
            atomic_store(&ch_slots_proc(s->slots, i)->pid, 0);
            if (!s->draining) e->restart_at = now + s->conf.backoff_min_ms;
        }
    }
    if (!s->draining && zygote_up(s) != 0) {
        /* Tried again on the next timer tick. */
        ch_log(CH_LOG_ERROR, "supervisor: no zygote; workers stay down until one starts", NULL);
    }
}

static void on_zygote(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ch_supervisor *s = arg;
    ch_zmsg m;
    int r;
    while (s->zy && (r = ch_zygote_read(s->zy, &m)) != 0) {
        if (r < 0) {
            zygote_lost(s, "its socket closed");
            return;
        }
        if (m.widx < 0 || m.widx >= s->conf.workers) continue;
        wentry *e = &s->w[m.widx];
        if (m.op == CH_Z_STARTED) {
            started(s, m.widx, (pid_t)m.pid);
        } else if (m.op == CH_Z_FAILED) {
            char ws[16];
            snprintf(ws, sizeof ws, "%d", m.widx);
            ch_log(CH_LOG_ERROR, "supervisor: fork of a worker failed; retrying", "worker", ws,
                   "error", strerror(m.status), NULL);
            e->spawning = 0;
            e->restart_at = ch_monotonic_ms() + s->conf.backoff_max_ms / 10;
        } else if (m.op == CH_Z_EXITED && e->pid == (pid_t)m.pid) {
            worker_exited(s, m.widx, m.status);
        }
    }
}

/* Hangs and silent heartbeats of one running worker process. */
static void watch(ch_supervisor *s, int i, int64_t now)
{
    wentry *e = &s->w[i];
    if (e->pid <= 0 || e->kill_reason != KILL_NONE) return;
    char ws[16], ps[16];
    snprintf(ws, sizeof ws, "%d", i);
    snprintf(ps, sizeof ps, "%d", (int)e->pid);
    for (int j = 0; j < s->threads; j++) {
        ch_slot_view v;
        ch_slot_read(ch_slots_get(s->slots, i, j), &v);
        if (v.busy && now > v.item.deadline_ms + grace_ms(s)) {
            ch_log(CH_LOG_ERROR, "supervisor: callback past its deadline; killing the worker",
                   "worker", ws, "pid", ps, "tenant", v.item.tenant, "connection", v.item.conn,
                   "entry", v.item.entry, "plugin", v.item.plugin,
                   "callback", ch_slot_cb_name(v.item.callback), NULL);
            e->kill_reason = KILL_HANG;
            s->stats.hangs++;
            kill(e->pid, SIGKILL);
            return;
        }
        if (!v.busy && v.heartbeat_ms && now - v.heartbeat_ms > hb_timeout_ms(s) &&
            now - e->started_ms > hb_timeout_ms(s)) {
            char th[16];
            snprintf(th, sizeof th, "%d", j);
            ch_log(CH_LOG_ERROR, "supervisor: worker thread stopped beating; replacing the worker",
                   "worker", ws, "pid", ps, "thread", th, NULL);
            e->kill_reason = KILL_STALL;
            s->stats.stalls++;
            kill(e->pid, SIGKILL);
            return;
        }
    }
}

/* In-master threads cannot be killed: a hang is reported, once per item. */
static void watch_inproc(ch_supervisor *s, int64_t now)
{
    for (int j = 0; j < s->threads; j++) {
        ch_slot_view v;
        ch_slot_read(ch_slots_get(s->slots, 0, j), &v);
        if (!v.busy || now <= v.item.deadline_ms + grace_ms(s)) continue;
        if (strcmp(s->hang_reported[j], v.item.entry) == 0) continue;
        snprintf(s->hang_reported[j], sizeof s->hang_reported[j], "%s", v.item.entry);
        ch_log(CH_LOG_ERROR, "supervisor: callback past its deadline in an in-master worker thread "
                             "(workers=0 cannot kill it)", "tenant", v.item.tenant, "entry", v.item.entry,
               "plugin", v.item.plugin, "callback", ch_slot_cb_name(v.item.callback), NULL);
        s->stats.hangs++;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ch_supervisor *s = arg;
    int64_t now = ch_monotonic_ms();
    if (!s->conf.workers) {
        watch_inproc(s, now);
        return;
    }
    if (s->zy && ch_zygote_reap(s->zy, NULL)) zygote_lost(s, "it exited");
    if (!s->zy && !s->draining && zygote_up(s) != 0) return;
    for (int i = 0; i < s->conf.workers; i++) {
        wentry *e = &s->w[i];
        if (e->pid > 0) {
            watch(s, i, now);
            continue;
        }
        if (e->spawning) {
            if (now - e->spawn_sent_ms > SPAWN_TIMEOUT_MS && s->zy) {
                kill(ch_zygote_pid(s->zy), SIGKILL);
                zygote_lost(s, "it did not answer a spawn request");
                return;
            }
            continue;
        }
        if (s->draining || !e->restart_at || now < e->restart_at) continue;
        if (ch_supjobs_open(&s->jobs, i) > 0 && now - e->died_ms < RESTART_WAIT_MAX_MS) continue;
        spawn(s, i);
        s->stats.restarts++;
        ch_metrics_inc(CH_M_WORKER_RESTARTS, 1);
    }
}

int ch_supervisor_start(ch_supervisor *s)
{
    if (s->started) return 0;
    /* The zygote first, while this process has no other thread of ours. */
    if (s->conf.workers && zygote_up(s) != 0) return -1;
    if (ch_supjobs_start(&s->jobs) != 0) return -1;
    s->started = 1;
    if (s->conf.workers) {
        for (int i = 0; i < s->conf.workers; i++) spawn(s, i);
    } else {
        ch_instances_opts io = {.recheck_ms = 1000, .open_timeout_ms = s->conf.worker.callback_timeout_ms};
        s->inproc_set = ch_instances_new(s->conf.worker.loader, &io);
        s->inproc = ch_workers_new(&s->conf.worker, s->slots, 0, s->inproc_set);
        ch_log(CH_LOG_WARN, "pipeline.workers = 0: worker threads run inside the master "
                            "(debugging only: a plugin crash takes the master down)", NULL);
        if (ch_workers_start(s->inproc) != 0) return -1;
    }
    struct timeval tv = {0, TIMER_MS * 1000};
    evtimer_add(s->timer, &tv);
    return 0;
}

void ch_supervisor_drain(ch_supervisor *s)
{
    if (!s || s->draining) return;
    s->draining = 1;
    if (s->inproc) ch_workers_stop(s->inproc);
    for (int i = 0; i < s->conf.workers; i++)
        if (s->w[i].pid > 0) kill(s->w[i].pid, SIGTERM);
}

int ch_supervisor_active(ch_supervisor *s)
{
    if (!s) return 0;
    if (s->inproc) return ch_workers_running(s->inproc);
    if (s->zy) on_zygote(-1, 0, s); /* exits not yet read */
    int n = 0;
    for (int i = 0; i < s->conf.workers; i++) n += s->w[i].pid > 0 || s->w[i].spawning;
    return n;
}

void ch_supervisor_free(ch_supervisor *s)
{
    if (!s) return;
    int leak_slots = 0;
    if (s->inproc) {
        ch_workers_stop(s->inproc);
        if (ch_workers_join(s->inproc, 0) == 0) {
            ch_workers_free(s->inproc);
            ch_instances_free(s->inproc_set);
        } else {
            /* Threads stuck in plugin callbacks still use the slots and
             * instances: leave them (the process is exiting). */
            ch_log(CH_LOG_WARN, "supervisor: in-master worker threads still running at exit", NULL);
            leak_slots = 1;
        }
    }
    /* The workers are the zygote's children: it reaps them; killing it
     * takes them along (PR_SET_PDEATHSIG), and they are killed here too in
     * case they are between fork and prctl. */
    for (int i = 0; i < s->conf.workers; i++)
        if (s->w[i].pid > 0) kill(s->w[i].pid, SIGKILL);
    if (s->zev) event_free(s->zev);
    ch_zygote_stop(s->zy);
    ch_supjobs_destroy(&s->jobs);
    if (s->timer) event_free(s->timer);
    if (!leak_slots) ch_slots_destroy(s->slots);
    free(s->hang_reported);
    free(s->w);
    free(s);
}

void ch_supervisor_get_stats(ch_supervisor *s, ch_supervisor_stats *out)
{
    *out = s->stats;
    out->suspects = atomic_load(&s->jobs.suspects);
    out->poisoned = atomic_load(&s->jobs.poisoned);
}

pid_t ch_supervisor_worker_pid(ch_supervisor *s, int w)
{
    return w >= 0 && w < s->conf.workers ? s->w[w].pid : 0;
}
